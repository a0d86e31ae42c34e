/* kiln/judge.h - an LLM judge's score of each record, through the teacher
 * engine (kiln/teacher.h: the store, the cache, retries, resume).
 *
 * Each record (a solution with its task's prompt and tests) is rendered
 * into the judge template (data/templates/judge.txt, or the user's) and
 * sent once; the reply is read by kiln_judge_parse (kiln/reward.h) and the
 * record written with
 *
 *   "judge": {"score": 8, "scaled": 0.778, "model": "...", "reason": "..."}
 *
 * or, when the reply cannot be read or the request failed,
 *
 *   "judge": {"score": null, "error": "...", "model": "..."}
 *
 * A missing score is never replaced by a default (docs/CURATE.md).
 */
#ifndef KILN_JUDGE_H
#define KILN_JUDGE_H

#include <jansson.h>

#include "kiln/generate.h"
#include "kiln/jsonl.h"
#include "kiln/store.h"
#include "kiln/teacher.h"

typedef struct kiln_judge_stats {
	kiln_teacher_stats req;
	long records;
	long scored;      /* a readable verdict in range */
	long unreadable;  /* an answer, but no verdict in it */
	long failed;      /* no answer (the request failed) */
} kiln_judge_stats;

typedef struct kiln_judge_opts {
	/* The request options are generate's (model, temperature, max
	 * tokens, seed, the client's limits): one table, one meaning. */
	kiln_generate_opts g;
	const char *rubric;   /* template text; NULL: the built-in "judge" */
	double lo, hi;        /* the rubric's scale (default 1..10) */
	void (*progress)(void *ctx, const kiln_judge_stats *st);
	void *ctx;
} kiln_judge_opts;

void kiln_judge_opts_default(kiln_judge_opts *o);

/* records: a JSON array of records (each with "solution"; the prompt and
 * tests are rendered when present). Sets each record's "judge" field and,
 * when out is not NULL, writes the records to it in order. Refused before
 * anything is sent: a record without a string solution, a bad template or
 * scale. */
int kiln_judge(json_t *records, kiln_store *store, kiln_out *out,
	       const kiln_judge_opts *o, kiln_judge_stats *st,
	       kiln_error *err);

#endif
