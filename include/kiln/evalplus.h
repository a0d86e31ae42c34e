/* kiln/evalplus.h - HumanEval+ (evalplus) as kiln tasks.
 *
 * evalplus publishes inputs, not expected outputs: each record has
 * base_input and plus_input (lists of argument lists, as JSON, with
 * integers of any size) and atol; evalplus gets the expected outputs by
 * running the canonical solution. kiln does the same, in its sandbox:
 *
 *   1. kiln_evalplus_parse_line reads one record from its JSON text (the
 *      inputs are converted to Python source text number for number, so
 *      no integer passes through a double or an int64) into a task whose
 *      tests are I/O tests {"call": "f(ARGS)"} without "expect", the base
 *      inputs first ("tests_base" counts them). HumanEval/32 (find_zero),
 *      which evalplus checks by |poly(xs, x)| <= atol rather than against
 *      an output, gets that check as code tests instead.
 *   2. kiln_evalplus_expect runs each task's solution (the canonical one)
 *      on its inputs in the sandbox and writes the repr of every output
 *      as the test's "expect" (a Python literal: integers of any size,
 *      tuples and sets exact). As evalplus, a task whose atol is 0 gets
 *      atol 1e-6 when an output is a float or a list/tuple of floats. An
 *      input the solution does not answer (an exception, a timeout, an
 *      output with no literal) is dropped and reported.
 *
 * The outputs come back through the verdict's per-test detail (at most
 * 300 characters a test): a long output is fetched again in pieces.
 */
#ifndef KILN_EVALPLUS_H
#define KILN_EVALPLUS_H

#include <jansson.h>
#include <stddef.h>

#include "kiln/error.h"
#include "kiln/verify.h"

/* One record's JSON text (no line end needed) into a new task (see 1.
 * above). Returns 0, KILN_EPARSE (a bad record), KILN_ELIMIT or
 * KILN_ENOMEM. */
int kiln_evalplus_parse_line(const char *line, size_t len, json_t **task,
			     kiln_error *err);

typedef struct kiln_evalplus_opts {
	/* The sandbox (box limits, jobs): timeout_factor, references,
	 * carry, progress and bad_line are not used. box.limits.timeout_ms
	 * is the time one input may take. */
	kiln_verify_opts verify;
	/* Called for every input dropped: the task id, the input's index
	 * among the task's tests, its call, and why. May be NULL. */
	void (*dropped)(void *ctx, const char *id, size_t index,
			const char *call, const char *why);
	/* Called after each task's outputs are in (done of total). */
	void (*progress)(void *ctx, size_t done, size_t total);
	void *ctx;
} kiln_evalplus_opts;

typedef struct kiln_evalplus_stats {
	long inputs;        /* I/O tests that needed an expected output */
	long expected;      /* ... and got one */
	long dropped;       /* ... and were dropped */
	long pieces;        /* outputs too long for one detail, fetched again */
	long float_atol;    /* tasks given atol 1e-6 for float outputs */
	double seconds;
} kiln_evalplus_stats;

void kiln_evalplus_opts_default(kiln_evalplus_opts *o);

/* Fills the "expect" of every I/O test without one in tasks[0..n), in
 * place (see 2. above). Returns 0 or an error (the sandbox could not
 * start, out of memory); dropped inputs are not errors. */
int kiln_evalplus_expect(json_t *const *tasks, size_t n,
			 const kiln_evalplus_opts *o, kiln_evalplus_stats *st,
			 kiln_error *err);

#endif
