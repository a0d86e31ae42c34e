/* kiln/generate.h - candidates from a teacher, through the job store.
 *
 * For every task: k requests for a solution and t requests for unit tests
 * (written from the task alone, without seeing any solution, as in CodeT).
 * With joint set, each of the k requests asks for a solution and its tests
 * in one answer (template "joint"); every candidate gets the tests of all
 * k answers (and of any test requests), pooled.
 * With n > 1, each solution request asks for n choices; an answer with
 * fewer (matched to candidates by each choice's "index") gets a follow-up
 * request for the rest.
 * The asking is the teacher engine's (kiln/teacher.h): every request goes
 * into the store first; pending ones are sent (or answered from the
 * store's cache when an identical request was answered before); answers
 * are committed in batches as they arrive. Killed at any moment and run
 * again, it sends only what was never answered. Candidates are written in
 * task order, index order, each task's as soon as it is complete. Threads:
 * the caller's runs the HTTP loop; kiln_generate starts and joins the
 * others (docs/GENERATE.md).
 */
#ifndef KILN_GENERATE_H
#define KILN_GENERATE_H

#include <jansson.h>

#include "kiln/error.h"
#include "kiln/jsonl.h"
#include "kiln/llm.h"
#include "kiln/store.h"
#include "kiln/teacher.h"
#include "kiln/template.h"

typedef struct kiln_generate_stats {
	kiln_teacher_stats req; /* the requests: sent, failed, tokens, time */
	long candidates;      /* records written */
	long missing;         /* candidates not written: their request failed,
			       * or the server left their choice out */
	long extract_errors;  /* answers with no usable code */
	long short_answers;   /* answers with fewer choices than asked */
	long followups;       /* requests for the choices an answer left out */
	long repeats;         /* tasks with the id of an earlier task (they
			       * get its candidates) */
} kiln_generate_stats;

typedef struct kiln_generate_opts {
	kiln_llm_config llm;
	const char *model;
	int completions;       /* use /completions instead of chat */
	int k;                 /* solutions per task (default 1) */
	int n;                 /* choices per request, the API's n (default
				  1): ceil(k / n) solution requests, request
				  i with seed + i; test requests ask for 1 */
	int joint;             /* solution + tests in one answer (not with
				  completions) */
	int test_sets;         /* test requests per task (default 1; 0: none) */
	int tests_agree;       /* keep a test only where at least this many
				  of the task's test answers (test sets, and
				  joint answers) wrote it, compared by tokens
				  (kiln_code_digest); 0 or 1: every test,
				  pooled (default) */
	int best_of;           /* each answer the best of this many samples
				  by mean token log-probability (the API's
				  best_of = best_of x n); 0 or 1: off */
	double temperature;    /* default 0.8 */
	double top_p;          /* default 0.95 */
	int max_tokens;        /* default 1024 */
	const char *stop;      /* one stop sequence, or NULL */
	long seed;             /* request i of a task is sent seed + i;
				  kiln_generate refuses a seed so large
				  that seed + i would overflow */
	const char *tmpl_solution, *tmpl_tests, *tmpl_joint;
				/* texts; NULL: built-in */
	int no_cache;
	int retry_failed;
	void (*progress)(void *ctx, const kiln_generate_stats *st);
	void *ctx;
} kiln_generate_opts;

void kiln_generate_opts_default(kiln_generate_opts *o);

/* tasks: a JSON array of task records. Refused before anything is sent:
 * a task without a string id, a task in a language kiln cannot run, an
 * empty or malformed template, a seed that could overflow. Returns
 * KILN_EIO when every request the run needed failed (kiln/teacher.h). */
int kiln_generate(const json_t *tasks, kiln_store *store, kiln_out *out,
		  const kiln_generate_opts *o, kiln_generate_stats *st,
		  kiln_error *err);

#endif
