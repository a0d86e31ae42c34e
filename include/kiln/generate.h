/* kiln/generate.h - candidates from a teacher, through the job store.
 *
 * For every task: k requests for a solution and t requests for unit tests
 * (written from the task alone, without seeing any solution, as in CodeT).
 * With joint set, each of the k requests asks for a solution and its tests
 * in one answer (template "joint"); every candidate gets the tests of all
 * k answers (and of any test requests), pooled.
 * With n > 1, each solution request asks for n choices.
 * Every request goes into the store first; pending ones are sent (or
 * answered from the store's cache when an identical request was answered
 * before); answers are committed in batches as they arrive. Killed at any
 * moment and run again, it sends only what was never answered. Candidates
 * are written in task order, index order, each task's as soon as it is
 * complete. Threads: the caller's runs the HTTP loop; kiln_generate starts
 * and joins the others (docs/GENERATE.md).
 */
#ifndef KILN_GENERATE_H
#define KILN_GENERATE_H

#include <jansson.h>

#include "kiln/error.h"
#include "kiln/jsonl.h"
#include "kiln/llm.h"
#include "kiln/store.h"

typedef struct kiln_generate_stats {
	long jobs;            /* requests the run needs in all */
	long already;         /* settled (answered or failed) before */
	long cached;          /* answered from an identical earlier request */
	long sent;            /* answered by the server in this run */
	long failed;          /* gave up (recorded in the store) */
	long input_tokens, output_tokens;
	long candidates;      /* records written */
	long extract_errors;  /* answers with no usable code */
	double seconds;
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
	double temperature;    /* default 0.8 */
	double top_p;          /* default 0.95 */
	int max_tokens;        /* default 1024 */
	const char *stop;      /* one stop sequence, or NULL */
	long seed;             /* candidate i is sent seed + i */
	const char *tmpl_solution, *tmpl_tests, *tmpl_joint;
				/* texts; NULL: built-in */
	int no_cache;
	int retry_failed;
	void (*progress)(void *ctx, const kiln_generate_stats *st);
	void *ctx;
} kiln_generate_opts;

void kiln_generate_opts_default(kiln_generate_opts *o);

/* tasks: a JSON array of task records. */
int kiln_generate(const json_t *tasks, kiln_store *store, kiln_out *out,
		  const kiln_generate_opts *o, kiln_generate_stats *st,
		  kiln_error *err);

/* Renders a template: {prompt}, {entry_point}, {language} from the task,
 * "{{" and "}}" for braces. Returns a malloc'd string or NULL. */
char *kiln_template_render(const char *tmpl, const json_t *task,
			   kiln_error *err);

/* The built-in templates (data/templates/, embedded at build time):
 * "solution", "tests", "joint"; NULL for another name. */
const char *kiln_template_default(const char *name);

#endif
