/* kiln/reward.h - a record's reward, and reading an LLM judge's reply.
 *
 * The reward of a record is a weighted mean of the components it has
 * (docs/CURATE.md, "kiln score --reward"):
 *
 *   pass      the share of its tests passed (its verdict)
 *   mutation  its mutation score (kiln score --mutation)
 *   static    1 when the static checks pass, else 0: the code parses
 *             (Python: ast.parse and compile; C: its verdict is not a
 *             compile error), its length is within bounds, and it
 *             imports nothing banned
 *   judge     an LLM judge's score scaled to 0..1 (kiln score --judge)
 *
 * A component a record does not have (no mutation score, a judge reply
 * that could not be read) is missing, never a default: the mean is taken
 * over the others and the record says which were missing.
 */
#ifndef KILN_REWARD_H
#define KILN_REWARD_H

#include <stddef.h>

#include <jansson.h>

#include "kiln/curate.h"
#include "kiln/error.h"
#include "kiln/jsonl.h"

/* Reads a judge's reply: the verdict is the LAST JSON object that starts
 * a line (leading blanks, or inside a ```json fence) and has a top-level
 * "score" that is a number; an object whose line also appears in the
 * judged code (a marker the judge quoted from the code) is not a verdict.
 * Returns 0 with *score set, or KILN_EPARSE with why filled in: no
 * verdict, a score that is not a number, out of [lo, hi], duplicate keys.
 * judged may be NULL. */
int kiln_judge_parse(const char *reply, size_t len, const char *judged,
		     double lo, double hi, double *score, kiln_error *why);

typedef struct kiln_reward_opts {
	/* weights of the components (>= 0; 0 leaves one out) */
	double w_pass, w_mutation, w_static, w_judge;
	long min_chars, max_chars;   /* static: the solution's length */
	const char *banned;          /* static: modules, comma-separated */
	double min_reward;           /* drop below it; < 0: keep all */
	int top_k;                   /* per task (id), best first; 0: all */
	const char *python;          /* for the Python static checks */
} kiln_reward_opts;

void kiln_reward_opts_default(kiln_reward_opts *o);

/* Sets each record's "reward" field:
 *   {"score": R | null, "components": {"pass": .., "mutation": ..,
 *    "static": .., "judge": ..}, "missing": [...],
 *    "static": {"parses": B, "chars": N, "banned": [...]}}
 * then writes the records, in input order, to out (kept) or dropped
 * (reasons: low_reward, top_k, no_reward; dropped may be NULL). st is
 * the stage's counts (initialised here). */
int kiln_reward(json_t *records, const kiln_reward_opts *o, kiln_out *out,
		kiln_out *dropped, kiln_stage_stats *st, kiln_error *err);

#endif
