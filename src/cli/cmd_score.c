/* kiln score: test strength (the mutation score) of each record. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kiln/jsonl.h"
#include "kiln/mutation.h"
#include "kiln/progress.h"

struct score_args {
	kiln_mutation_opts m;
	const char *output, *dropped, *stats, *mutants;
	int mutation, quiet;
};

#define A struct score_args

static const kiln_opt score_opts[] = {
	KILN_OPT_ROW_PATH("output", 'o', A, output, "FILE",
		"write the scored records here (atomically)"),
	KILN_OPT_ROW_FLAG("mutation", 0, A, mutation,
		"score test strength: mutate each solution, run its tests on "
		"every mutant"),
	KILN_OPT_ROW_INT("max-mutants", 0, A, m.max_mutants, 0, 1000000, "N",
		"mutants per record at most (a seeded sample); 0 = all"),
	{ .name = "seed", .short_name = 's', .kind = KILN_OPT_INT, .arg = "S",
	  KILN_OPT_F_(A, m.seed), .lo = 0, .hi = 1LL << 53,
	  .help = "seed of the sample of mutants" },
	KILN_OPT_ROW_DOUBLE("mutant-timeout-factor", 0, A, m.timeout_factor,
		0.001, 1e6, "K",
		"a mutant's test times out after K x the original's slowest "
		"test"),
	KILN_OPT_ROW_DURATION("mutant-timeout-floor", 0, A,
		m.timeout_floor_ms, 1, 24L * 3600 * 1000,
		"... but never sooner than this"),
	{ .name = "min-mutation-score", .kind = KILN_OPT_DOUBLE, .arg = "X",
	  KILN_OPT_F_(A, m.min_score), .dlo = 0, .dhi = 1,
	  .def = "keep all", .help = "drop records scoring below X (and "
	  "those that cannot be scored)" },
	KILN_OPT_ROW_INT("batch", 0, A, m.batch, 1, 1 << 20, "N",
		"records per round (memory: their mutants)"),
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

static volatile int stop_sig;

static void on_signal(int sig)
{
	stop_sig = sig;
}

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
		"%ld killed (score %.3f), %ld timed out, %ld equivalent and "
		"%ld invalid dropped; %.1fs, %.1f mutants/s\n", st->records,
		st->scored, st->mutants, st->killed, st->mutants ?
		(double)st->killed / (double)st->mutants : 0.0, st->timeouts,
		st->equivalent, st->invalid, st->seconds,
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
	return json_pack("{s:{s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:f}}",
			 "mutation", "scored", (json_int_t)st->scored,
			 "mutants", (json_int_t)st->mutants,
			 "killed", (json_int_t)st->killed,
			 "timeouts", (json_int_t)st->timeouts,
			 "equivalent", (json_int_t)st->equivalent,
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
	if ((rc = cli_parse(&cli_score, argc, argv, &a, sizeof a, &npos)) !=
	    CLI_GO)
		return rc;
	if (!a.mutation) {
		cli_error("score", "nothing to score: give --mutation");
		return 2;
	}
	if (npos > 1) {
		cli_error("score", "expected at most one input FILE");
		return 2;
	}
	if (npos == 1)
		input = argv[1];
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
	{
		struct sigaction sa = { .sa_handler = on_signal };

		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	kiln_progress_init(&prog, stderr, a.quiet, 0.1, 0);
	a.m.stop = &stop_sig;
	a.m.progress = on_progress;
	a.m.ctx = &prog;
	kiln_jsonl_set_stop(in, &stop_sig);
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
		return 128 + stop_sig;
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
	.summary = "score records: test strength by mutation",
	.run = run_score,
	.opts = score_opts,
	.synopsis = "usage: kiln score --mutation [options] [FILE|-] "
		    "[-o FILE]",
	.about =
"Scores how strong each record's tests are. With --mutation, kiln runs the\n"
"record's solution once in the sandbox, makes single-site mutants of it\n"
"(Python: on the AST; C: on tokens; ten operator families: cmp, arith,\n"
"bool, const, negate, drop_not, drop_neg, return_none, break_continue,\n"
"delete), runs the record's tests on every mutant in the sandbox, and adds\n"
"\"mutation\": {mutants, killed, score, by_op, survivors, ...}. A mutant is\n"
"killed when its tests do not all pass. Input: any records with \"solution\"\n"
"and \"tests\" (tasks, candidates, kiln verify --carry output).\n",
	.after =
"The mutator only parses the code (it never runs it); every mutant runs in\n"
"the sandbox. Formats and the stage's conventions: docs/CURATE.md.\n",
};
