/* kiln score: test strength (the mutation score) of each record. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kiln/judge.h"
#include "kiln/jsonl.h"
#include "kiln/mutation.h"
#include "kiln/output.h"
#include "kiln/progress.h"
#include "kiln/reward.h"
#include "kiln/store.h"

struct score_args {
	kiln_mutation_opts m;
	kiln_judge_opts j;
	kiln_reward_opts r;
	const char *output, *dropped, *stats, *mutants;
	const char *rubric, *store, *key_env;
	int mutation, reward, quiet;
};

#define A struct score_args

static const kiln_opt score_opts[] = {
	KILN_OPT_ROW_PATH("output", 'o', A, output, "FILE",
		"write the scored records here (atomically)"),
	KILN_OPT_ROW_FLAG("mutation", 0, A, mutation,
		"score test strength: mutate each solution, run its tests on "
		"every mutant"),
	{ .name = "min-mutation-score", .kind = KILN_OPT_DOUBLE, .arg = "X",
	  KILN_OPT_F_(A, m.min_score), .dlo = 0, .dhi = 1,
	  .def = "keep all", .help = "drop records scoring below X (and "
	  "those that cannot be scored)" },
	KILN_OPT_ROW_INCLUDE(A, m, cli_mutation_opts),
	KILN_OPT_ROW_GROUP("the LLM judge (--judge URL)"),
	KILN_OPT_ROW_INCLUDE(A, j, cli_judge_opts),
	KILN_OPT_ROW_PATH("rubric", 0, A, rubric, "FILE",
		"the judge's prompt template; variables {prompt}, {solution}, "
		"{tests}, {language}, {language_tag} (default: "
		"data/templates/judge.txt)"),
	KILN_OPT_ROW_STRING("judge-api-key-env", 0, A, key_env, "VAR",
		"read the judge's API key from this environment variable"),
	{ .name = "store", .kind = KILN_OPT_PATH, .arg = "FILE",
	  KILN_OPT_F_(A, store), .def = "OUTPUT.store, or kiln.store",
	  .help = "the job store of the judge's requests (resume, cache)" },
	KILN_OPT_ROW_GROUP("the reward (--reward)"),
	KILN_OPT_ROW_FLAG("reward", 0, A, reward,
		"add each record's reward: the weighted mean of its pass "
		"fraction, mutation score, static checks and judge score"),
	KILN_OPT_ROW_DOUBLE("w-pass", 0, A, r.w_pass, 0, 1e6, "W",
		"weight of the pass fraction"),
	KILN_OPT_ROW_DOUBLE("w-mutation", 0, A, r.w_mutation, 0, 1e6, "W",
		"weight of the mutation score"),
	KILN_OPT_ROW_DOUBLE("w-static", 0, A, r.w_static, 0, 1e6, "W",
		"weight of the static checks"),
	KILN_OPT_ROW_DOUBLE("w-judge", 0, A, r.w_judge, 0, 1e6, "W",
		"weight of the judge's score"),
	KILN_OPT_ROW_STRING("banned-imports", 0, A, r.banned, "LIST",
		"modules a Python solution must not import (comma-"
		"separated; \"\" for none)"),
	KILN_OPT_ROW_INT("max-chars", 0, A, r.max_chars, 1, 1L << 30, "N",
		"static check: the solution's length at most"),
	{ .name = "min-reward", .kind = KILN_OPT_DOUBLE, .arg = "X",
	  KILN_OPT_F_(A, r.min_reward), .dlo = 0, .dhi = 1,
	  .def = "keep all", .help = "drop records whose reward is below X" },
	KILN_OPT_ROW_INT("top-k-per-task", 0, A, r.top_k, 0, 1 << 30, "K",
		"keep the K best records of each task (id); 0 = all"),
	KILN_OPT_ROW_GROUP("every mode"),
	KILN_OPT_ROW_PATH("dropped", 0, A, dropped, "FILE",
		"write dropped records here, each with its reason"),
	KILN_OPT_ROW_PATH("mutants-out", 0, A, mutants, "FILE",
		"write every mutant run here: its solution, operator, site, "
		"timeout and verdict"),
	KILN_OPT_ROW_PATH("stats", 0, A, stats, "FILE",
		"write the stage's counts here (JSON; docs/CURATE.md)"),
	KILN_OPT_ROW_INCLUDE(A, m.verify, cli_sandbox_opts),
	CLI_OPT_QUIET(A, quiet, "no progress bar and no summary"),
	KILN_OPT_ROW_END,
};
#undef A

static void on_progress(void *ctx, long records, long mutants, long done,
			double seconds)
{
	kiln_progress *p = ctx;

	if (!kiln_progress_due(p, seconds, 0))
		return;
	kiln_progress_show(p, "%ld records  mutants %ld/%ld  %.0f/s", records,
			   done, mutants, seconds > 0 ? done / seconds : 0.0);
}

static void summary(const kiln_mutation_stats *st)
{
	char line[512];

	fprintf(stderr, "kiln: score: %ld records, %ld scored: %ld mutants, "
		"%ld killed (score %.3f), %ld timed out, %ld equivalent "
		"(%ld by C object file) and %ld invalid dropped; %.1fs, "
		"%.1f mutants/s\n", st->records,
		st->scored, st->mutants, st->killed, st->mutants ?
		(double)st->killed / (double)st->mutants : 0.0, st->timeouts,
		st->equivalent, st->equivalent_objects, st->invalid,
		st->seconds,
		st->mutant_seconds > 0 ? st->mutants / st->mutant_seconds : 0);
	fprintf(stderr, "  %-16s %8s %8s %6s\n", "operator", "mutants",
		"killed", "score");
	for (int k = 0; k < KILN_MUT_OPS; k++)
		fprintf(stderr, "  %-16s %8ld %8ld %6.3f\n",
			kiln_mutation_ops[k], st->by_op[k][0], st->by_op[k][1],
			st->by_op[k][0] ? (double)st->by_op[k][1] /
			(double)st->by_op[k][0] : 0.0);
	kiln_stage_summary(&st->stage, line, sizeof line);
	fprintf(stderr, "kiln: score: %s\n", line);
}

/* The per-operator counts and totals go with the stage's stats. */
static json_t *extra_stats(const kiln_mutation_stats *st)
{
	json_t *by = json_object();

	for (int k = 0; by && k < KILN_MUT_OPS; k++)
		json_object_set_new(by, kiln_mutation_ops[k], json_pack(
			"[I, I]", (json_int_t)st->by_op[k][0],
			(json_int_t)st->by_op[k][1]));
	return json_pack("{s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:f}}",
			 "mutation", "scored", (json_int_t)st->scored,
			 "mutants", (json_int_t)st->mutants,
			 "killed", (json_int_t)st->killed,
			 "timeouts", (json_int_t)st->timeouts,
			 "equivalent", (json_int_t)st->equivalent,
			 "equivalent_objects",
			 (json_int_t)st->equivalent_objects,
			 "invalid", (json_int_t)st->invalid, "by_op", by,
			 "mutants_per_s", st->mutant_seconds > 0 ?
			 st->mutants / st->mutant_seconds : 0.0);
}

static int finish(kiln_out *out, kiln_out *dropped, kiln_out *mutants,
		  int ok, kiln_error *err)
{
	int rc = 0;

	if (ok) {
		rc = kiln_out_commit(out, err);
		if (!rc && dropped)
			rc = kiln_out_commit(dropped, err);
		else if (dropped)
			kiln_out_abort(dropped);
		if (!rc && mutants)
			rc = kiln_out_commit(mutants, err);
		else if (mutants)
			kiln_out_abort(mutants);
	} else {
		if (mutants)
			kiln_out_abort(mutants);
		char *kept = NULL;
		long n = 0;

		if (kiln_out_keep_partial(out, &kept, &n, err) == 0 && kept)
			cli_error("score", "the %ld record%s scored before "
				  "are in %s", n, n == 1 ? "" : "s", kept);
		free(kept);
		if (dropped)
			kiln_out_abort(dropped);
	}
	return rc;
}

/* --judge and/or --reward: over all records at once (the judge's
 * requests go through the store; the reward ranks within tasks). */
static int judge_and_reward(struct score_args *a, const char *input)
{
	kiln_judge_stats jst;
	kiln_stage_stats stage;
	kiln_store *store = NULL;
	kiln_out *out = NULL, *dropped = NULL;
	kiln_error err;
	json_t *recs;
	char defstore[4096], *rubric = NULL, line[512];
	const char *store_path = a->store;
	int judge = a->j.g.llm.base_url != NULL, status = 1;

	memset(&stage, 0, sizeof(stage));
	if (judge && a->key_env) {
		a->j.g.llm.api_key = getenv(a->key_env);
		if (!a->j.g.llm.api_key) {
			cli_error("score", "--judge-api-key-env: %s is not set",
				  a->key_env);
			return 2;
		}
	}
	if (judge && a->rubric &&
	    cli_read_option_file("score", "--rubric", a->rubric, &rubric))
		return 1;
	a->j.rubric = rubric;
	if (judge && !store_path) {
		snprintf(defstore, sizeof(defstore), "%s.store", a->output &&
			 strcmp(a->output, "-") ? a->output : "kiln");
		store_path = defstore;
	}
	if (judge && a->output && kiln_output_check_distinct(
		    a->output, store_path, "the store", &err)) {
		cli_error("score", "%s", err.msg);
		free(rubric);
		return 2;
	}
	if (!(recs = cli_load_solutions("score", input))) {
		free(rubric);
		return 1;
	}
	if ((judge && kiln_store_open(&store, store_path, &err)) ||
	    kiln_out_open(&out, a->output, &err) ||
	    (a->dropped && kiln_out_open(&dropped, a->dropped, &err))) {
		cli_error("score", "%s", err.msg);
		goto out;
	}
	if (judge && kiln_judge(recs, store, a->reward ? NULL : out, &a->j,
				&jst, &err)) {
		cli_error("score", "judge: %s%s", err.msg, jst.req.resumable ?
			  " (run again to resume)" : "");
		goto out;
	}
	if (a->reward) {
		a->r.python = a->m.verify.box.python;
		if (kiln_reward(recs, &a->r, out, dropped, &stage, &err)) {
			cli_error("score", "%s", err.msg);
			goto out;
		}
	} else {
		kiln_stage_stats_init(&stage, "judge", NULL);
		stage.entered = stage.kept = json_array_size(recs);
	}
	if (judge)
		stage.extra = json_pack("{s:{s:I, s:I, s:I, s:I, s:f}}",
			"judge", "records", (json_int_t)jst.records,
			"scored", (json_int_t)jst.scored,
			"unreadable", (json_int_t)jst.unreadable,
			"failed", (json_int_t)jst.failed,
			"failure_rate", jst.records ? (double)(jst.unreadable +
			jst.failed) / (double)jst.records : 0.0);
	if (kiln_out_commit(out, &err) ||
	    (dropped && kiln_out_commit(dropped, &err))) {
		out = dropped = NULL;
		cli_error("score", "%s", err.msg);
		goto out;
	}
	out = dropped = NULL;
	if (a->stats && kiln_stage_stats_save(&stage, a->stats, &err)) {
		cli_error("score", "%s", err.msg);
		goto out;
	}
	if (!a->quiet && judge)
		fprintf(stderr, "kiln: score: judge: %ld records, %ld scored, "
			"%ld unreadable, %ld failed: failure rate %.1f%%\n",
			jst.records, jst.scored, jst.unreadable, jst.failed,
			jst.records ? 100.0 * (double)(jst.unreadable +
			jst.failed) / (double)jst.records : 0.0);
	if (!a->quiet && a->reward) {
		kiln_stage_summary(&stage, line, sizeof line);
		fprintf(stderr, "kiln: score: reward: %s\n", line);
	}
	status = 0;
out:
	if (out)
		kiln_out_abort(out);
	if (dropped)
		kiln_out_abort(dropped);
	kiln_store_close(store);
	kiln_stage_stats_free(&stage);
	json_decref(recs);
	free(rubric);
	return status;
}

static int run_score(int argc, char **argv)
{
	struct score_args a;
	kiln_mutation_stats st;
	kiln_jsonl_reader *in = NULL;
	kiln_out *out = NULL, *dropped = NULL, *mutants = NULL;
	kiln_progress prog;
	kiln_error err;
	const char *input = "-";
	int rc, npos;

	memset(&a, 0, sizeof(a));
	kiln_mutation_opts_default(&a.m);
	kiln_judge_opts_default(&a.j);
	kiln_reward_opts_default(&a.r);
	if ((rc = cli_parse(&cli_score, argc, argv, &a, sizeof a, &npos)) !=
	    CLI_GO)
		return rc;
	if (!a.mutation && !a.reward && !a.j.g.llm.base_url) {
		cli_error("score", "nothing to score: give --mutation, "
			  "--judge URL or --reward");
		return 2;
	}
	if (a.mutation && (a.reward || a.j.g.llm.base_url)) {
		cli_error("score", "--mutation runs on its own: pipe its "
			  "output into kiln score --judge URL --reward");
		return 2;
	}
	if (!(a.j.lo < a.j.hi)) {
		cli_error("score", "--judge-min %g must be below --judge-max "
			  "%g", a.j.lo, a.j.hi);
		return 2;
	}
	if (npos > 1) {
		cli_error("score", "expected at most one input FILE");
		return 2;
	}
	if (npos == 1)
		input = argv[1];
	if (!a.mutation) {
		if (kiln_output_check_distinct(a.output, input, "the input",
					       &err) ||
		    kiln_output_check_distinct(a.dropped, input, "the input",
					       &err)) {
			cli_error("score", "%s", err.msg);
			return 2;
		}
		return judge_and_reward(&a, input);
	}
	if (kiln_output_check_distinct(a.output, input, "the input", &err) ||
	    kiln_output_check_distinct(a.dropped, input, "the input", &err) ||
	    kiln_output_check_distinct(a.mutants, input, "the input", &err)) {
		cli_error("score", "%s", err.msg);
		return 2;
	}
	if (kiln_sandbox_check(&a.m.verify.box, &err)) {
		cli_error("score", "%s", err.msg);
		return 1;
	}
	a.m.python = a.m.verify.box.python;
	if (kiln_jsonl_open(&in, input, 0, &err) ||
	    kiln_out_open(&out, a.output, &err) ||
	    (a.dropped && kiln_out_open(&dropped, a.dropped, &err)) ||
	    (a.mutants && kiln_out_open(&mutants, a.mutants, &err))) {
		cli_error("score", "%s", err.msg);
		kiln_jsonl_close(in);
		if (out)
			kiln_out_abort(out);
		if (dropped)
			kiln_out_abort(dropped);
		return 1;
	}
	a.m.mutants_out = mutants;
	cli_catch_stop();
	kiln_progress_init(&prog, stderr, a.quiet, 0.1, 0);
	a.m.stop = &cli_stop_sig;
	a.m.progress = on_progress;
	a.m.ctx = &prog;
	kiln_jsonl_set_stop(in, &cli_stop_sig);
	rc = kiln_mutation_score(in, out, dropped, &a.m, &st, &err);
	kiln_jsonl_close(in);
	kiln_progress_clear(&prog);
	if (rc) {
		cli_error("score", "%s", err.msg);
		finish(out, dropped, mutants, 0, &err);
		kiln_stage_stats_free(&st.stage);
		return 1;
	}
	if (st.stopped) {
		cli_error("score", "stopped by a signal");
		finish(out, dropped, mutants, 0, &err);
		kiln_stage_stats_free(&st.stage);
		return 128 + cli_stop_sig;
	}
	if (finish(out, dropped, mutants, 1, &err)) {
		cli_error("score", "%s", err.msg);
		kiln_stage_stats_free(&st.stage);
		return 1;
	}
	st.stage.extra = extra_stats(&st);
	if (a.stats && kiln_stage_stats_save(&st.stage, a.stats, &err)) {
		cli_error("score", "%s", err.msg);
		kiln_stage_stats_free(&st.stage);
		return 1;
	}
	if (!a.quiet)
		summary(&st);
	kiln_stage_stats_free(&st.stage);
	return 0;
}

const cli_cmd cli_score = {
	.name = "score",
	.summary = "score records: mutation (test strength), LLM judge, "
		   "reward",
	.run = run_score,
	.opts = score_opts,
	.synopsis = "usage: kiln score --mutation [options] [FILE|-] [-o FILE]\n"
		    "       kiln score [--judge URL] [--reward] [options] "
		    "[FILE|-] [-o FILE]",
	.about =
"Scores how strong each record's tests are. With --mutation, kiln runs the\n"
"record's solution once in the sandbox, makes single-site mutants of it\n"
"(Python: on the AST; C: on tokens; ten operator families: cmp, arith,\n"
"bool, const, negate, drop_not, drop_neg, return_none, break_continue,\n"
"delete), runs the record's tests on every mutant in the sandbox, and adds\n"
"\"mutation\": {mutants, killed, score, by_op, survivors, ...}. A mutant is\n"
"killed when its tests do not all pass. Input: any records with \"solution\"\n"
"and \"tests\" (tasks, candidates, kiln verify --carry output).\n"
"\n"
"With --judge URL, an LLM judge rates each record (data/templates/judge.txt,\n"
"or --rubric): its reply must end with a line {\"score\": N}; a reply that\n"
"cannot be read is a missing score, never a default, and the failure rate\n"
"is printed. With --reward, each record gets \"reward\": the weighted mean\n"
"of the components it has (pass fraction, mutation score, static checks,\n"
"the judge's score scaled to 0..1); --min-reward and --top-k-per-task\n"
"select by it. --mutation runs on its own: pipe it into the others.\n",
	.after =
"The mutator only parses the code (it never runs it); every mutant runs in\n"
"the sandbox. Formats and the stage's conventions: docs/CURATE.md.\n",
};
