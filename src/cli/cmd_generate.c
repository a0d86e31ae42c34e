#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "kiln/generate.h"
#include "kiln/jsonl.h"
#include "kiln/output.h"
#include "kiln/progress.h"
#include "kiln/store.h"

struct generate_args {
	kiln_generate_opts g;
	struct cli_teacher t;
	const char *output, *store, *tmpl_tests, *tmpl_joint;
	const char *stop[1];
	int nstop;
	double price_in, price_out;
	int quiet;
};

#define A struct generate_args
static const kiln_opt generate_opts[] = {
	KILN_OPT_ROW_INCLUDE(A, g, cli_teacher_opts),
	KILN_OPT_ROW_INCLUDE(A, t, cli_teacher_cli_opts),
	KILN_OPT_ROW_INT("samples", 'k', A, g.k, 1, 100000, "N",
		"solutions per task"),
	{ .name = "test-sets", .kind = KILN_OPT_INT, .arg = "N",
	  KILN_OPT_F_(A, g.test_sets), .lo = 0, .hi = 100000,
	  .def = "1, or 0 with --joint",
	  .help = "test requests per task; 0 = none: the task's own tests" },
	KILN_OPT_ROW_INT("tests-agree", 0, A, g.tests_agree, 0, 100000, "M",
		"keep a test only where at least M of a task's test "
		"answers wrote it (compared by tokens: layout and comments "
		"do not count); M above half the answers keeps at most one "
		"expected value a call; 0 or 1 = every test, pooled"),
	KILN_OPT_ROW_FLAG("joint", 0, A, g.joint,
		"each of the k requests asks for a solution and its tests "
		"together (template joint); every candidate gets all k "
		"answers' tests, pooled"),
	KILN_OPT_ROW_STRINGS("stop", 0, A, stop, nstop, "S",
		"a stop sequence (one; given twice is an error, not a "
		"silent choice)"),
	KILN_OPT_ROW_PATH("template-tests", 0, A, tmpl_tests, "FILE",
		"the tests prompt's template"),
	KILN_OPT_ROW_PATH("template-joint", 0, A, tmpl_joint, "FILE",
		"the joint prompt's template"),
	KILN_OPT_ROW_PATH("output", 'o', A, output, "FILE",
		"candidates here (atomically); default stdout"),
	{ .name = "store", .kind = KILN_OPT_PATH, .arg = "FILE",
	  KILN_OPT_F_(A, store), .def = "OUTPUT.store, or kiln.store",
	  .help = "the job store" },
	KILN_OPT_ROW_FLAG("no-cache", 0, A, g.no_cache,
		"send even when an identical request was answered"),
	KILN_OPT_ROW_FLAG("retry-failed", 0, A, g.retry_failed,
		"send again this run's requests that ended in an error"),
	{ .name = "price-in", .kind = KILN_OPT_DOUBLE, .arg = "USD",
	  KILN_OPT_F_(A, price_in), .dlo = 0, .dhi = 1e6, .def = "",
	  .help = "price per million input tokens: shows the cost" },
	{ .name = "price-out", .kind = KILN_OPT_DOUBLE, .arg = "USD",
	  KILN_OPT_F_(A, price_out), .dlo = 0, .dhi = 1e6, .def = "",
	  .help = "price per million output tokens" },
	CLI_OPT_QUIET(A, quiet, "no progress and no summary"),
	/* the names of earlier releases */
	{ .name = "n", .kind = KILN_OPT_INT, .flags = KILN_OPT_HIDDEN,
	  KILN_OPT_F_(A, g.n), .lo = 1, .hi = 128, .arg = "N",
	  .help = "--choices" },
	{ .name = "timeout", .kind = KILN_OPT_DURATION,
	  .flags = KILN_OPT_HIDDEN, KILN_OPT_F_(A, g.llm.timeout_ms), .lo = 1,
	  .hi = CLI_MAX_DURATION_MS, .arg = "DUR",
	  .help = "--request-timeout" },
	KILN_OPT_ROW_END,
};
#undef A

static void *preload_llm(void *arg)
{
	(void)arg;
	kiln_llm_preload();
	return NULL;
}

struct gprog {
	kiln_progress line;
	double price_in, price_out;
};

static void on_progress(void *ctx, const kiln_generate_stats *gst)
{
	struct gprog *p = ctx;
	const kiln_teacher_stats *st = &gst->req;
	long todo = st->jobs - st->already - st->cached;
	long got = st->sent + st->failed;
	double rate;

	char money[64] = "";

	if (!kiln_progress_due(&p->line, st->seconds, got >= todo))
		return;
	rate = st->seconds > 0 ? got / st->seconds : 0;
	if (p->price_in > 0 || p->price_out > 0) {
		double cost = (st->input_tokens * p->price_in +
			       st->output_tokens * p->price_out) / 1e6;
		snprintf(money, sizeof(money), "  $%.4f (projected $%.4f)",
			 cost, got ? cost * todo / got : 0.0);
	}
	kiln_progress_show(&p->line, "%ld/%ld requests  %.1f/s  ETA %.0fs  "
			   "tokens %ld in %ld out  errors %ld%s", got, todo,
			   rate, rate > 0 ? (todo - got) / rate : 0.0,
			   st->input_tokens, st->output_tokens, st->failed,
			   money);
}

static int run_generate(int argc, char **argv)
{
	struct generate_args a;
	kiln_generate_opts *o = &a.g;
	kiln_generate_stats st;
	struct gprog prog = { 0 };
	const char *output, *store_path;
	char *tmpl[3] = { NULL, NULL, NULL }, defstore[4096];
	const char *tmpl_path[3], *tmpl_opt[3] = { "template-solution",
		"template-tests", "template-joint" };
	pthread_t preload;
	int preloading = 0;
	json_t *tasks = NULL, *rec;
	kiln_jsonl_reader *in = NULL;
	kiln_store *store = NULL;
	kiln_out *out = NULL;
	kiln_error err;
	int c, rc, npos;

	/* A run allocates and frees many small blocks on two threads; glibc
	 * returns the store thread's freed memory to the system (madvise)
	 * as soon as 128 KiB are free at the top of its heap, and takes it
	 * back page fault by page fault: a tenth of the run's time against a
	 * fast server. Keep up to 64 MiB instead. */
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	memset(&a, 0, sizeof(a));
	kiln_generate_opts_default(&a.g);
	a.g.test_sets = -1; /* 1, or 0 with --joint */
	if ((rc = cli_parse(&cli_generate, argc, argv, &a, sizeof a, &npos)) !=
	    CLI_GO)
		return rc;
	rc = 1;
	output = a.output, store_path = a.store;
	prog.price_in = a.price_in, prog.price_out = a.price_out;
	if (!o->llm.base_url || npos != 1) {
		cli_error("generate", "%s", !o->llm.base_url
			  ? "--backend URL is required"
			  : "expected exactly one TASKS file");
		fputs("Run 'kiln generate --help' for the options.\n", stderr);
		return 2;
	}
	if ((rc = cli_teacher_key("generate", &a.t, &o->llm.api_key)))
		return rc;
	rc = 1;
	if (o->joint && o->completions) {
		cli_error("generate", "--joint needs chat completions; it "
			  "cannot go with --completions");
		return 2;
	}
	if (a.nstop)
		o->stop = a.stop[0];
	if (o->test_sets < 0) /* the joint answers hold the tests */
		o->test_sets = o->joint ? 0 : 1;
	tmpl_path[0] = a.t.tmpl_solution;
	tmpl_path[1] = a.tmpl_tests;
	tmpl_path[2] = a.tmpl_joint;
	for (int i = 0; i < 3; i++)
		if (tmpl_path[i] && cli_read_option_file("generate",
				tmpl_opt[i], tmpl_path[i], &tmpl[i]))
			goto out;
	o->tmpl_solution = tmpl[0];
	o->tmpl_tests = tmpl[1];
	o->tmpl_joint = tmpl[2];
	if (!store_path) {
		snprintf(defstore, sizeof(defstore), "%s.store",
			 output && strcmp(output, "-") ? output : "kiln");
		store_path = defstore;
	}

	/* Before anything is read or sent: the output must not be the
	 * tasks or the store (docs/ARCHITECTURE.md, "Outputs"). */
	if (output && (kiln_output_check_distinct(output, argv[1],
						  "the input", &err) ||
		       kiln_output_check_distinct(output, store_path,
						  "the store", &err))) {
		cli_error("generate", "%s", err.msg);
		rc = 2;
		goto out;
	}
	/* libcurl and its ~30 libraries load while the tasks are read */
	preloading = pthread_create(&preload, NULL, preload_llm, NULL) == 0;
	/* The tasks, all of them: candidates are written in their order. */
	tasks = json_array();
	if (kiln_jsonl_open(&in, argv[1], 0, &err)) {
		cli_error("generate", "%s", err.msg);
		goto out;
	}
	while ((c = kiln_jsonl_next(in, &rec, &err)) == 0) {
		if (!json_is_string(json_object_get(rec, "id")) ||
		    !json_is_string(json_object_get(rec, "prompt"))) {
			cli_error("generate", "%s:%ld: a task needs string "
				  "fields 'id' and 'prompt'", argv[1],
				  kiln_jsonl_lineno(in));
			json_decref(rec);
			goto out;
		}
		json_array_append_new(tasks, rec);
	}
	if (c != KILN_EEOF) {
		cli_error("generate", "%s", err.msg);
		goto out;
	}
	if (kiln_store_open(&store, store_path, &err) ||
	    kiln_out_open(&out, output, &err)) {
		cli_error("generate", "%s", err.msg);
		goto out;
	}
	kiln_progress_init(&prog.line, stderr, a.quiet, 0.1, 0);
	o->progress = on_progress;
	o->ctx = &prog;
	if (kiln_generate(tasks, store, out, o, &st, &err)) {
		kiln_progress_keep(&prog.line);
		if (st.req.resumable)
			cli_error("generate", "%s (answers so far are kept in "
				  "%s; run again to resume)", err.msg,
				  store_path);
		else if (st.req.failed || st.req.failed_before)
			cli_error("generate", "%s (the errors are in %s%s)",
				  err.msg, store_path, st.req.failed ? "" :
				  "; --retry-failed sends them again");
		else
			cli_error("generate", "%s", err.msg);
		kiln_out_abort(out);
		out = NULL;
		goto out;
	}
	kiln_progress_keep(&prog.line);
	if (kiln_out_commit(out, &err)) {
		out = NULL;
		cli_error("generate", "%s", err.msg);
		goto out;
	}
	out = NULL;
	if (!a.quiet) {
		const kiln_teacher_stats *r = &st.req;

		fprintf(stderr, "kiln generate: %ld candidates from %zu tasks in "
			"%.1fs; requests: %ld needed, %ld settled before, %ld "
			"from cache, %ld sent, %ld failed; tokens %ld in, %ld "
			"out", st.candidates, json_array_size(tasks), r->seconds,
			r->jobs, r->already, r->cached, r->sent, r->failed,
			r->input_tokens, r->output_tokens);
		if (prog.price_in > 0 || prog.price_out > 0)
			fprintf(stderr, "; cost $%.4f",
				(r->input_tokens * prog.price_in +
				 r->output_tokens * prog.price_out) / 1e6);
		fputc('\n', stderr);
		if (r->usage_unknown)
			fprintf(stderr, "  %ld answers did not say how many "
				"tokens they used (not in the counts; 'usage' "
				"is null in their records)\n", r->usage_unknown);
		if (st.short_answers)
			fprintf(stderr, "  %ld answers had fewer choices than "
				"asked (--choices %d); %ld more requests asked "
				"for the rest\n", st.short_answers, o->n,
				st.followups);
		if (st.repeats)
			fprintf(stderr, "  %ld tasks repeat the id of an earlier "
				"task and get its candidates\n", st.repeats);
		if (st.extract_errors)
			fprintf(stderr, "  %ld answers had no usable code "
				"(see 'extraction' in the records)\n",
				st.extract_errors);
		if (r->failed)
			fprintf(stderr, "  %ld requests failed (the first: "
				"%s); their errors are in %s; --retry-failed "
				"sends them again\n", r->failed,
				r->first_error, store_path);
		if (st.missing)
			fprintf(stderr, "  %ld candidates of %ld are missing "
				"(their requests failed, or the server left "
				"them out)\n", st.missing,
				st.missing + st.candidates);
	}
	rc = 0;
out:
	if (preloading)
		pthread_join(preload, NULL);
	kiln_out_abort(out);
	kiln_store_close(store);
	kiln_jsonl_close(in);
	json_decref(tasks);
	for (int i = 0; i < 3; i++)
		free(tmpl[i]);
	return rc;
}

const cli_cmd cli_generate = {
	.name = "generate", .run = run_generate, .opts = generate_opts,
	.summary = "ask a teacher model (OpenAI API) for solutions and tests",
	.synopsis = "usage: kiln generate --backend URL [options] TASKS.jsonl",
	.about =
"Asks a teacher model (any OpenAI-compatible server: llama.cpp, vLLM,\n"
"SGLang, Ollama, TGI, hosted APIs) for k candidate solutions per task and,\n"
"separately, for unit tests written from the task alone. Every request and\n"
"answer is kept in a job store (SQLite): a run that is killed resumes where\n"
"it stopped, and never re-sends a request that was answered. Candidates\n"
"(JSON Lines) are written in task order as tasks complete.\n",
	.after =
"A server that answers fewer choices than --choices is asked for the\n"
"rest. Exit status: 0 when the run did its work (failed requests are\n"
"counted in the summary and kept in the store); 1 when every request\n"
"failed, or on an error; 2 for a bad command line.\n"
"--n and --timeout, the names of earlier releases, still work for\n"
"--choices and --request-timeout.\n",
};
