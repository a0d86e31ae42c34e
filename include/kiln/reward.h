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

#include "kiln/error.h"

/* Reads a judge's reply: the verdict is the LAST JSON object that starts
 * a line (leading blanks, or inside a ```json fence) and has a top-level
 * "score" that is a number; an object whose line also appears in the
 * judged code (a marker the judge quoted from the code) is not a verdict.
 * Returns 0 with *score set, or KILN_EPARSE with why filled in: no
 * verdict, a score that is not a number, out of [lo, hi], duplicate keys.
 * judged may be NULL. */
int kiln_judge_parse(const char *reply, size_t len, const char *judged,
		     double lo, double hi, double *score, kiln_error *why);

#endif
