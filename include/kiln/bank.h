/* kiln/bank.h - the procedural task bank (docs/BANK.md).
 *
 * Function-synthesis tasks composed from templates of primitives over
 * integers, lists and strings: each task a pipeline of 1..depth stages,
 * with a phrasing, reference solutions in Python, C or Lua, hidden tests
 * whose answers kiln's own interpreter computes (edge cases first, then
 * random inputs), and at least five planted wrong variants, each failing
 * at least one hidden test. The stream of tasks is a function of the seed
 * and the depth alone: the same options give byte-identical records on
 * every machine, and -n N is a prefix of -n M > N.
 */
#ifndef KILN_BANK_H
#define KILN_BANK_H

#include <stddef.h>

#include <jansson.h>

#include "kiln/error.h"
#include "kiln/jsonl.h"

/* Splits (docs/BANK.md, "Splits"): TRAIN/HELDOUT by held-out parameter
 * values and compositions (a template with a constant, or two templates
 * composed, never seen in training); _TEMPLATE by held-out templates (the
 * stricter measure: operations never seen). */
enum { KILN_BANK_ALL, KILN_BANK_TRAIN, KILN_BANK_HELDOUT,
       KILN_BANK_TRAIN_TEMPLATE, KILN_BANK_HELDOUT_TEMPLATE };
enum { KILN_BANK_PYTHON, KILN_BANK_C, KILN_BANK_LUA };

#define KILN_BANK_MAX_DEPTH 6
#define KILN_BANK_MIN_VARIANTS 5

typedef struct kiln_bank_opts {
	long long n;            /* tasks to write */
	long long seed;
	int depth;              /* the most stages a task has (1..6) */
	int split;              /* KILN_BANK_ALL, _TRAIN, _HELDOUT, ... */
	int language;           /* KILN_BANK_PYTHON, _C, _LUA */
	int param_scale;        /* draw numeric parameters from ranges this
				 * many times as wide (1: the bank's own);
				 * held-out values stay held out */
} kiln_bank_opts;

kiln_bank_opts kiln_bank_opts_default(void);

typedef struct kiln_bank_stats {
	long long tasks;        /* written */
	long long drawn;        /* compositions drawn */
	long long duplicate;    /* same behaviour as an earlier task */
	long long trivial;      /* constant, identity, too few tests */
	long long few_variants; /* fewer than 5 wrong variants fail a test */
	long long other_split;  /* a task of the other split (skipped) */
	long long variants;     /* wrong variants written */
	long long per_kind[8];  /* by kind (kiln_bank_kind_name) */
	long long per_depth[KILN_BANK_MAX_DEPTH + 1];
	long long tests;        /* hidden tests written */
} kiln_bank_stats;

typedef struct kiln_bank kiln_bank;

int kiln_bank_open(kiln_bank **b, const kiln_bank_opts *o, kiln_error *err);
/* The next task of the split as a new record (KILN_ELIMIT when the
 * templates have no distinct task left at this depth). */
int kiln_bank_next(kiln_bank *b, json_t **task, kiln_error *err);
const kiln_bank_stats *kiln_bank_get_stats(const kiln_bank *b);
void kiln_bank_close(kiln_bank *b);

/* Writes o->n tasks to out (the driver of 'kiln bank'). */
int kiln_bank_write(const kiln_bank_opts *o, kiln_out *out,
		    kiln_bank_stats *st, kiln_error *err);

/* The name of variant kind i, or NULL past the last. */
const char *kiln_bank_kind_name(int i);

/* The templates tasks are drawn from, one object each: name, input,
 * output, params (count), group, heldout. */
int kiln_bank_templates(json_t **list, kiln_error *err);

/* Runs a composition ("filter_gt(3) | map_add(2) | sum") on an input
 * given as a Python literal ("[1, 5, 7]", "'abc'", "-4") with kiln's
 * reference interpreter: *output is the result as a Python literal
 * (malloc'd), or "out of bounds" when a value leaves the bank's bounds.
 * KILN_EINVAL for text that does not parse. */
int kiln_bank_eval(const char *composition, const char *input,
		   char **output, kiln_error *err);

#endif
