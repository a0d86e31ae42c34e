/* kiln/rewrite.h - a teacher revises each record against a constitution;
 * kiln keeps a revision only when it re-verifies.
 *
 * For each principle of the constitution, in order, and each record whose
 * solution passes its own tests (kiln runs them first):
 *
 *   1. critique  the teacher critiques the current solution against the
 *                principle (template "critique");
 *   2. revise    once the critique is there, the teacher revises the
 *                solution from it (template "revise");
 *   3. check     the code is extracted from the answer (kiln_extract_code)
 *                and runs in the sandbox against the record's own tests
 *                (never tests from the answer); then its mutation score
 *                is computed; with a judge, the judge scores both versions.
 *
 * The revision replaces the current solution only when every test passes,
 * its mutation score is not below the current one's, and (with a judge)
 * the judge scores it strictly higher; otherwise it is rolled back. The
 * principles are applied in sequence: an accepted revision is what the
 * next principle critiques, so the result has every principle that
 * could be applied, and a rollback is charged to exactly one principle.
 *
 * Each record is written with
 *
 *   "rewrite": {"accepted": B, "unit": "<id>#rewrite<i>",
 *               "principles": [{"name", "outcome", "reason",
 *                               "mutation_score"?, "critique"?}, ...],
 *               "original": {"solution", "verdict", "mutation_score"},
 *               "mutation_score": S}
 *
 * outcome: "accepted", "rolled_back", "no_change" (the revision is the
 * solution again), "failed" (a request failed, or the answer had no
 * code), "skipped" (the original does not pass its tests). When accepted,
 * "solution", "verdict" and "mutation" are the final revision's (kiln ran
 * them) and stale "judge" and "reward" fields are removed.
 *
 * Requests go through the teacher engine (kiln/teacher.h): a killed run
 * resumes and sends only what was never answered; the sandbox work is done
 * again.
 */
#ifndef KILN_REWRITE_H
#define KILN_REWRITE_H

#include <jansson.h>

#include "kiln/error.h"
#include "kiln/generate.h"
#include "kiln/judge.h"
#include "kiln/jsonl.h"
#include "kiln/mutation.h"
#include "kiln/store.h"
#include "kiln/teacher.h"

#define KILN_REWRITE_MAX_PRINCIPLES 64
#define KILN_REWRITE_NAME_MAX 64

/* A constitution: blocks, each a line "[name]" (letters, digits, '-',
 * '_'; at most KILN_REWRITE_NAME_MAX - 1) and the principle's text (the
 * lines up to the next "[name]" line, blank lines at both ends removed).
 * Text before the first block is a comment. */
typedef struct kiln_principle {
	char name[KILN_REWRITE_NAME_MAX];
	char *text;
} kiln_principle;

/* The built-in constitution (data/constitution.txt). */
const char *kiln_constitution_default(void);

/* Parses text into *out (n principles; free with kiln_constitution_free).
 * KILN_EPARSE with the line for: no principle, an empty text, a bad or
 * repeated name, more than KILN_REWRITE_MAX_PRINCIPLES. */
int kiln_constitution_parse(const char *text, kiln_principle **out,
			    size_t *n, kiln_error *err);
void kiln_constitution_free(kiln_principle *p, size_t n);

typedef struct kiln_rewrite_principle_stats {
	char name[KILN_REWRITE_NAME_MAX];
	long attempted;     /* records it was applied to */
	long accepted, rolled_back, no_change, failed;
} kiln_rewrite_principle_stats;

typedef struct kiln_rewrite_stats {
	kiln_teacher_stats req;     /* the critiques and revisions, summed
				     * over the principles */
	kiln_teacher_stats judge;   /* the judge's requests, likewise */
	long records;
	long skipped;               /* originals that fail their tests */
	long accepted;              /* records with a revision kept */
	long revisions;             /* revisions run in the sandbox */
	size_t nprinciples;
	kiln_rewrite_principle_stats per[KILN_REWRITE_MAX_PRINCIPLES];
	double seconds;
	double sandbox_seconds;     /* of which tests and mutants */
} kiln_rewrite_stats;

typedef struct kiln_rewrite_opts {
	/* The teacher's request options are generate's (model, temperature,
	 * max tokens, seed, the client's limits): one table, one meaning. */
	kiln_generate_opts g;
	const char *constitution;   /* its text; NULL: the built-in one */
	const char *tmpl_critique;  /* template texts; NULL: built-in */
	const char *tmpl_revise;
	/* The sandbox (m.verify: boxes, limits, jobs) and the mutation
	 * score's options (mutants, seed, timeouts). */
	kiln_mutation_opts m;
	/* With j.g.llm.base_url set, a judge must score the revision
	 * strictly higher than the current solution. */
	kiln_judge_opts j;
	/* Called after each phase ("verify originals", "critique
	 * clear-names", ...). */
	void (*progress)(void *ctx, const char *phase,
			 const kiln_rewrite_stats *st);
	void *ctx;
} kiln_rewrite_opts;

/* The teacher's defaults are generate's with temperature 0.2 (a revision
 * should stay close to the solution). */
void kiln_rewrite_opts_default(kiln_rewrite_opts *o);

/* records: a JSON array (each with a string "solution"; "tests",
 * "prompt", "language", "entry_point" are used when present; kiln verify
 * --carry output as it is). Writes every record, in input order, to out.
 * Refused before anything is sent or run: a record without a string
 * solution, a bad constitution or template. Returns KILN_EIO when every
 * request of a principle's round failed (kiln/teacher.h); st.req.resumable
 * says whether running again resumes. */
int kiln_rewrite(const json_t *records, kiln_store *store, kiln_out *out,
		 const kiln_rewrite_opts *o, kiln_rewrite_stats *st,
		 kiln_error *err);

#endif
