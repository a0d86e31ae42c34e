/* kiln rewrite: a teacher revises each record against a constitution;
 * kiln keeps a revision only when its tests pass and its mutation score
 * does not drop (kiln/rewrite.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kiln/curate.h"
#include "kiln/jsonl.h"
#include "kiln/output.h"
#include "kiln/rewrite.h"
#include "kiln/store.h"

struct rewrite_args {
	kiln_rewrite_opts w;
	const char *output, *store, *stats, *key_env, *judge_key_env;
	const char *constitution, *tmpl_critique, *tmpl_revise, *rubric;
	int quiet;
};

#define A struct rewrite_args
static const kiln_opt rewrite_opts[] = {
	KILN_OPT_ROW_PATH("constitution", 0, A, constitution, "FILE",
		"the principles: blocks of a line \"[name]\" and the "
		"principle's text (default: data/constitution.txt)"),
	KILN_OPT_ROW_PATH("output", 'o', A, output, "FILE",
		"write every record here (atomically); default stdout"),
	{ .name = "store", .kind = KILN_OPT_PATH, .arg = "FILE",
	  KILN_OPT_F_(A, store), .def = "OUTPUT.store, or kiln.store",
	  .help = "the job store of the requests (resume, cache)" },
	KILN_OPT_ROW_PATH("stats", 0, A, stats, "FILE",
		"write the stage's counts here (JSON; per principle: "
		"acceptance and rollback rates)"),
	KILN_OPT_ROW_GROUP("the teacher"),
	KILN_OPT_ROW_INCLUDE(A, w.g, cli_teacher_opts),
	KILN_OPT_ROW_STRING("api-key-env", 0, A, key_env, "VAR",
		"read the teacher's API key from this environment variable"),
	KILN_OPT_ROW_PATH("template-critique", 0, A, tmpl_critique, "FILE",
		"the critique prompt's template; variables {principle}, "
		"{prompt}, {solution}, {tests}, {language}, {language_tag}, "
		"{entry_point}"),
	KILN_OPT_ROW_PATH("template-revise", 0, A, tmpl_revise, "FILE",
		"the revision prompt's template; {critique} too"),
	KILN_OPT_ROW_FLAG("no-cache", 0, A, w.g.no_cache,
		"send even when an identical request was answered"),
	KILN_OPT_ROW_FLAG("retry-failed", 0, A, w.g.retry_failed,
		"send again the requests that ended in an error"),
	KILN_OPT_ROW_GROUP("the mutation score (a revision's may not drop)"),
	KILN_OPT_ROW_INCLUDE(A, w.m, cli_mutation_opts),
	KILN_OPT_ROW_GROUP("the LLM judge (optional: it must prefer the "
			   "revision)"),
	KILN_OPT_ROW_INCLUDE(A, w.j, cli_judge_opts),
	KILN_OPT_ROW_PATH("rubric", 0, A, rubric, "FILE",
		"the judge's prompt template (default: "
		"data/templates/judge.txt)"),
	KILN_OPT_ROW_STRING("judge-api-key-env", 0, A, judge_key_env, "VAR",
		"read the judge's API key from this environment variable"),
	KILN_OPT_ROW_GROUP("the sandbox"),
	KILN_OPT_ROW_INCLUDE(A, w.m.verify, cli_sandbox_opts),
	CLI_OPT_QUIET(A, quiet, "no progress and no summary"),
	KILN_OPT_ROW_END,
};
#undef A

static void on_phase(void *ctx, const char *phase,
		     const kiln_rewrite_stats *st)
{
	(void)st;
	if (!*(int *)ctx)
		fprintf(stderr, "kiln: rewrite: %s\n", phase);
}

static double rate(long k, long n)
{
	return n ? (double)k / (double)n : 0.0;
}

/* Per principle: the counts and the rates (of the records it was
 * applied to). */
static json_t *extra_stats(const kiln_rewrite_stats *st)
{
	json_t *per = json_array();

	for (size_t i = 0; per && i < st->nprinciples; i++) {
		const kiln_rewrite_principle_stats *p = &st->per[i];

		json_array_append_new(per, json_pack(
			"{s:s, s:I, s:I, s:I, s:I, s:I, s:f, s:f}",
			"name", p->name, "attempted", (json_int_t)p->attempted,
			"accepted", (json_int_t)p->accepted,
			"rolled_back", (json_int_t)p->rolled_back,
			"no_change", (json_int_t)p->no_change,
			"failed", (json_int_t)p->failed,
			"acceptance_rate", rate(p->accepted, p->attempted),
			"rollback_rate", rate(p->rolled_back, p->attempted)));
	}
	return json_pack("{s:{s:I, s:I, s:I, s:I, s:o, s:{s:I, s:I, s:I, "
			 "s:I, s:I, s:I}, s:f}}", "rewrite",
			 "records", (json_int_t)st->records,
			 "skipped", (json_int_t)st->skipped,
			 "accepted", (json_int_t)st->accepted,
			 "revisions", (json_int_t)st->revisions,
			 "principles", per,
			 "requests", "needed", (json_int_t)st->req.jobs,
			 "settled_before", (json_int_t)st->req.already,
			 "cached", (json_int_t)st->req.cached,
			 "sent", (json_int_t)st->req.sent,
			 "failed", (json_int_t)st->req.failed,
			 "judge_sent", (json_int_t)st->judge.sent,
			 "sandbox_seconds", st->sandbox_seconds);
}

static void summary(const kiln_rewrite_stats *st)
{
	fprintf(stderr, "kiln: rewrite: %ld records, %ld rewritten, %ld "
		"skipped (their tests fail); %ld revisions run; requests: "
		"%ld needed, %ld settled before, %ld from cache, %ld sent, "
		"%ld failed; %.1fs (sandbox %.1fs)\n", st->records,
		st->accepted, st->skipped, st->revisions, st->req.jobs,
		st->req.already, st->req.cached, st->req.sent, st->req.failed,
		st->seconds, st->sandbox_seconds);
	fprintf(stderr, "  %-20s %9s %8s %11s %9s %6s %8s %8s\n", "principle",
		"attempted", "accepted", "rolled_back", "no_change", "failed",
		"accept%", "rollbk%");
	for (size_t i = 0; i < st->nprinciples; i++) {
		const kiln_rewrite_principle_stats *p = &st->per[i];

		fprintf(stderr, "  %-20s %9ld %8ld %11ld %9ld %6ld %7.1f%% "
			"%7.1f%%\n", p->name, p->attempted, p->accepted,
			p->rolled_back, p->no_change, p->failed,
			100 * rate(p->accepted, p->attempted),
			100 * rate(p->rolled_back, p->attempted));
	}
	if (st->req.failed)
		fprintf(stderr, "  %ld requests failed (the first: %s); "
			"--retry-failed sends them again\n", st->req.failed,
			st->req.first_error);
}

static int read_texts(struct rewrite_args *a, char **text)
{
	const char *path[4] = { a->constitution, a->tmpl_critique,
				a->tmpl_revise, a->rubric };
	const char *opt[4] = { "--constitution", "--template-critique",
			       "--template-revise", "--rubric" };

	for (int i = 0; i < 4; i++)
		if (path[i] && cli_read_option_file("rewrite", opt[i], path[i],
						    &text[i]))
			return 1;
	a->w.constitution = text[0];
	a->w.tmpl_critique = text[1];
	a->w.tmpl_revise = text[2];
	a->w.j.rubric = text[3];
	return 0;
}

static int run_rewrite(int argc, char **argv)
{
	struct rewrite_args a;
	kiln_rewrite_stats st;
	kiln_stage_stats stage;
	kiln_store *store = NULL;
	kiln_out *out = NULL;
	kiln_error err;
	json_t *recs = NULL;
	char *text[4] = { NULL, NULL, NULL, NULL }, defstore[4096];
	const char *input = "-", *store_path;
	int rc, npos, status = 1;

	memset(&a, 0, sizeof(a));
	kiln_rewrite_opts_default(&a.w);
	if ((rc = cli_parse(&cli_rewrite, argc, argv, &a, sizeof a, &npos)) !=
	    CLI_GO)
		return rc;
	if (!a.w.g.llm.base_url || npos > 1) {
		cli_error("rewrite", "%s", !a.w.g.llm.base_url ?
			  "--backend URL is required" :
			  "expected at most one input FILE");
		fputs("Run 'kiln rewrite --help' for the options.\n", stderr);
		return 2;
	}
	if (npos == 1)
		input = argv[1];
	if (a.key_env && !(a.w.g.llm.api_key = getenv(a.key_env))) {
		cli_error("rewrite", "--api-key-env: %s is not set", a.key_env);
		return 2;
	}
	if (a.judge_key_env && !(a.w.j.g.llm.api_key =
				 getenv(a.judge_key_env))) {
		cli_error("rewrite", "--judge-api-key-env: %s is not set",
			  a.judge_key_env);
		return 2;
	}
	if (!(a.w.j.lo < a.w.j.hi)) {
		cli_error("rewrite", "--judge-min %g must be below --judge-max "
			  "%g", a.w.j.lo, a.w.j.hi);
		return 2;
	}
	store_path = a.store;
	if (!store_path) {
		snprintf(defstore, sizeof(defstore), "%s.store", a.output &&
			 strcmp(a.output, "-") ? a.output : "kiln");
		store_path = defstore;
	}
	if (kiln_output_check_distinct(a.output, input, "the input", &err) ||
	    kiln_output_check_distinct(a.output, store_path, "the store",
				       &err) ||
	    kiln_output_check_distinct(a.stats, input, "the input", &err)) {
		cli_error("rewrite", "%s", err.msg);
		return 2;
	}
	if (read_texts(&a, text))
		goto out;
	if (kiln_sandbox_check(&a.w.m.verify.box, &err)) {
		cli_error("rewrite", "%s", err.msg);
		goto out;
	}
	if (!(recs = cli_load_solutions("rewrite", input)))
		goto out;
	if (kiln_store_open(&store, store_path, &err) ||
	    kiln_out_open(&out, a.output, &err)) {
		cli_error("rewrite", "%s", err.msg);
		goto out;
	}
	a.w.progress = on_phase;
	a.w.ctx = &a.quiet;
	if (kiln_rewrite(recs, store, out, &a.w, &st, &err)) {
		cli_error("rewrite", "%s%s", err.msg, st.req.resumable ?
			  " (the answers so far are in the store; run again "
			  "to resume)" : "");
		goto out;
	}
	if (kiln_out_commit(out, &err)) {
		out = NULL;
		cli_error("rewrite", "%s", err.msg);
		goto out;
	}
	out = NULL;
	kiln_stage_stats_init(&stage, "rewrite", NULL);
	stage.entered = stage.kept = (size_t)st.records;
	stage.seconds = st.seconds;
	stage.params = json_pack("{s:s?, s:s?, s:i, s:I, s:s?}", "backend",
				 a.w.g.llm.base_url, "model", a.w.g.model,
				 "max_mutants", a.w.m.max_mutants,
				 "mutant_seed", (json_int_t)a.w.m.seed,
				 "judge", a.w.j.g.llm.base_url);
	stage.extra = extra_stats(&st);
	if (a.stats && kiln_stage_stats_save(&stage, a.stats, &err)) {
		cli_error("rewrite", "--stats: %s", err.msg);
		kiln_stage_stats_free(&stage);
		goto out;
	}
	kiln_stage_stats_free(&stage);
	if (!a.quiet)
		summary(&st);
	status = 0;
out:
	if (out)
		kiln_out_abort(out);
	kiln_store_close(store);
	json_decref(recs);
	for (int i = 0; i < 4; i++)
		free(text[i]);
	return status;
}

const cli_cmd cli_rewrite = {
	.name = "rewrite",
	.summary = "revise records against a constitution; keep what "
		   "re-verifies",
	.run = run_rewrite,
	.opts = rewrite_opts,
	.synopsis = "usage: kiln rewrite --backend URL [--constitution FILE] "
		    "[options] [FILE|-] [-o FILE]",
	.about =
"For each principle of a constitution (default: clear names, a docstring,\n"
"edge cases handled, edge-case tests, no needless global state), in order,\n"
"the teacher critiques each record's solution against it, then revises the\n"
"solution from the critique. kiln extracts the revised code and runs the\n"
"record's own tests on it in the sandbox (never tests from the answer),\n"
"then its mutation score. The revision replaces the solution only if every\n"
"test passes and the mutation score does not drop (and, with --judge, the\n"
"judge scores it higher); otherwise it is rolled back. The next principle\n"
"critiques what the last one left. Records whose original fails its tests\n"
"are passed through. Every record is written, with \"rewrite\": {accepted,\n"
"principles: [{name, outcome, reason, critique}], original: {solution,\n"
"verdict, mutation_score}, mutation_score}.\n",
	.after =
"Every request is kept in the store: a run that is killed resumes without\n"
"sending again what was answered (the sandbox work is done again).\n"
"Formats and conventions: docs/CURATE.md.\n",
};
