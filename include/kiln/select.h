/* kiln/select.h - keep the verified candidates worth training on (kiln
 * select; docs/CURATE.md, "kiln select").
 *
 * Input: verdict records (kiln verify's, with the candidate's fields
 * joined in as needed): id, candidate, status, tests_passed, tests_total,
 * tests[i].status, judge, solution. A task's candidates are its records
 * with the same id; they may arrive interleaved.
 *
 * Per task, in this order:
 *  1. judge: with require_judge isolated, a verdict (and each of its
 *     tests) must be judged outside the candidate's process ("isolated"
 *     or "io"); with io, by kiln's comparison ("io"). Else reason "judge".
 *  2. pass: the pass fraction tests_passed / tests_total (a verdict with
 *     no tests: 1 if its status is pass, else 0) must reach min_pass
 *     (strict: 1; relaxed: e.g. 0.8). Else "below_min_pass".
 *  3. CodeT dual agreement (codet): candidates are grouped by the set of
 *     tests they pass; a group scores (candidates in it) x (tests it
 *     passes); the codet_groups best groups are kept (ties: more tests
 *     passed, then the group seen first), a group passing no test never.
 *     Else "codet_group".
 *  4. per_task M (> 0): the task's survivors, best first (pass fraction,
 *     then CodeT score, then input order), are kept while they are
 *     distinct (kiln_code_digest: code that differs only in white space,
 *     layout and comments is the same) and fewer than M: else
 *     "duplicate" or "per_task".
 *
 * Kept records get "select": {"pass_fraction", and with codet "group"
 * (its rank, 0 the best), "group_size", "group_tests", "score"}.
 */
#ifndef KILN_SELECT_H
#define KILN_SELECT_H

#include <stddef.h>

#include "kiln/curate.h"
#include "kiln/error.h"
#include "kiln/jsonl.h"

enum { KILN_JUDGE_ANY, KILN_JUDGE_ISOLATED, KILN_JUDGE_IO };

typedef struct kiln_select_opts {
	double min_pass;      /* [0, 1]; < 0: 1 (strict), 0 with codet */
	int codet;            /* CodeT dual agreement */
	int codet_groups;     /* best groups kept; default 1 */
	int per_task;         /* distinct solutions kept a task; 0: all */
	int require_judge;    /* KILN_JUDGE_* */
	/* The input comes task by task (kiln verify's order): each task is
	 * decided and written when the next begins, so memory holds one
	 * task; an id that comes back after another began is an error.
	 * Otherwise every record is held until the input ends. */
	int grouped;
	int skip_bad;         /* go on after a bad input line */
	void (*bad_line)(void *ctx, const kiln_error *err);
	void *ctx;
} kiln_select_opts;

void kiln_select_opts_default(kiln_select_opts *o);

/* The stage: reads the inputs in turn, writes kept records to out and
 * dropped ones (marked) to dropped (may be NULL), in input order. st is
 * initialised here (kiln_stage_stats_free it). */
int kiln_select(kiln_jsonl_reader *const *inputs, size_t ninputs,
		kiln_out *out, kiln_out *dropped, const kiln_select_opts *o,
		kiln_stage_stats *st, kiln_error *err);

#endif
