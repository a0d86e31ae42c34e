/* kiln/mutation.h - test strength: the mutation score of each record.
 *
 * For every record with a solution and tests (a task with its reference
 * solution, a candidate, a carried verdict), kiln runs the solution once
 * in the sandbox, makes single-site mutants of it (src/curate/mutate.py:
 * AST-level for Python, token-level for C; ten operator families), runs
 * the record's tests on every mutant in the sandbox, and adds
 *
 *   "mutation": {"mutants": N, "killed": K, "score": K/N,
 *                "equivalent": E, "invalid": I, "timeouts": T,
 *                "by_op": {"cmp": [n, killed], ...},
 *                "survivors": [{"op", "line", "from", "to"}, ...]}
 *
 * or, when it cannot be scored (the solution fails its own tests, does
 * not parse, has no mutation site), {"mutants": 0, "score": null,
 * "error": "..."}. A mutant is killed when its verdict is not a pass (a
 * fail, an error, a timeout ...). "equivalent" counts the mutants dropped
 * before they ran: duplicates, Python mutants compiled to the original's
 * code, C mutants compiled (in the sandbox, -O2) to the original's object
 * file; they are not in N. Each mutant's tests get
 * max(floor, factor x the original's slowest test) each.
 */
#ifndef KILN_MUTATION_H
#define KILN_MUTATION_H

#include <stdint.h>

#include "kiln/curate.h"
#include "kiln/jsonl.h"
#include "kiln/verify.h"

#define KILN_MUT_OPS 10

/* The families, in the order of kiln_mutation_stats.by_op. */
extern const char *const kiln_mutation_ops[KILN_MUT_OPS];

typedef struct kiln_mutation_opts {
	kiln_verify_opts verify;  /* boxes, limits, jobs (no carry) */
	int max_mutants;          /* per record, a seeded sample; 0: all */
	uint64_t seed;
	double timeout_factor;    /* x the original's slowest test */
	long timeout_floor_ms;
	int batch;                /* records per round */
	double min_score;         /* drop records below it; < 0: keep all */
	const char *python;       /* the mutator's interpreter */
	/* Optional: every mutant run, as a record (the job's fields with
	 * the mutant's solution, and mutant: {op, line, from, to,
	 * timeout_ms, status, killed}), in input order. */
	kiln_out *mutants_out;
	volatile int *stop;
	void (*progress)(void *ctx, long records, long mutants, long done,
			 double seconds);
	void *ctx;
} kiln_mutation_opts;

typedef struct kiln_mutation_stats {
	long records;         /* read */
	long scored;          /* with a score */
	long mutants, killed, equivalent, invalid, timeouts;
	long equivalent_objects;   /* of equivalent: C object files equal */
	long by_op[KILN_MUT_OPS][2];   /* mutants, killed */
	double seconds;
	double mutant_seconds;        /* time spent running mutants */
	int stopped;
	kiln_stage_stats stage;       /* kept / dropped (low_score,
				       * not_scored) */
} kiln_mutation_stats;

void kiln_mutation_opts_default(kiln_mutation_opts *o);

/* Scores every record of in and writes it, with its "mutation" field, to
 * out (kept) or dropped (with "dropped"; may be NULL). Returns 0 or an
 * error; records written before an error stay written. */
int kiln_mutation_score(kiln_jsonl_reader *in, kiln_out *out,
			kiln_out *dropped, const kiln_mutation_opts *o,
			kiln_mutation_stats *st, kiln_error *err);

/* The same over records in memory (a JSON array; each with a string
 * "solution"): every record gets its "mutation" field, in place; nothing
 * is dropped (min_score is not used). For a stage that
 * compares scores (kiln rewrite: an original and its revision). */
int kiln_mutation_score_records(json_t *records, const kiln_mutation_opts *o,
				kiln_mutation_stats *st, kiln_error *err);

/* Runs the mutator on n sources (language each "python" or "c"): *replies
 * gets a JSON array of n reply objects (mutate.py's format). */
int kiln_mutants(const char *const *sources, const char *const *languages,
		 size_t n, int max_mutants, uint64_t seed, const char *python,
		 json_t **replies, kiln_error *err);

#endif
