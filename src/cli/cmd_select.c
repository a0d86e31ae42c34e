#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "kiln/select.h"

struct select_args {
	kiln_select_opts s;
	struct cli_curate io;
};

static const char *const judge_levels[] = { "any", "isolated", "io", NULL };

#define A struct select_args

static const kiln_opt select_opts[] = {
	CLI_CURATE_OPTS(A, io),
	KILN_OPT_ROW_GROUP("what passes"),
	{ .name = "min-pass", .kind = KILN_OPT_DOUBLE, .arg = "F",
	  KILN_OPT_F_(A, s.min_pass), .dlo = 0, .dhi = 1,
	  .def = "1 (strict: every test passes); 0 with --codet",
	  .help = "keep a candidate that passes at least this share of its "
		  "tests (relaxed: 0.8)" },
	KILN_OPT_ROW_FLAG("codet", 0, A, s.codet,
		"CodeT dual agreement: group a task's candidates by the set "
		"of tests they pass, score a group by (candidates in it) x "
		"(tests passed), keep the best group(s)"),
	KILN_OPT_ROW_INT("codet-groups", 0, A, s.codet_groups, 1, 1000000,
		"K", "with --codet: keep the K best groups"),
	KILN_OPT_ROW_INT("per-task", 'm', A, s.per_task, 0, 1000000, "M",
		"keep at most M distinct solutions a task (best first; code "
		"that differs only in layout and comments is the same); 0: "
		"no limit, duplicates kept"),
	KILN_OPT_ROW_ENUM("require-judge", 0, A, s.require_judge,
		judge_levels, "LEVEL",
		"isolated: keep only verdicts judged outside the candidate's "
		"process (judge isolated or io, every test too); io: only "
		"kiln's own comparison"),
	KILN_OPT_ROW_GROUP("input"),
	KILN_OPT_ROW_FLAG("grouped", 0, A, s.grouped,
		"the input comes task by task (as kiln verify writes it): "
		"memory holds one task, and an id that comes back later is "
		"an error; without it every record is held to the end"),
	CLI_OPT_ON_ERROR(A, s.skip_bad),
	KILN_OPT_ROW_END,
};
#undef A

static void on_bad_line(void *ctx, const kiln_error *err)
{
	(void)ctx;
	cli_error("select", "%s (skipped)", err->msg);
}

static int run_select(int argc, char **argv)
{
	struct select_args a;
	kiln_stage_stats st;
	kiln_error err;
	int rc, npos;

	memset(&a, 0, sizeof a);
	kiln_select_opts_default(&a.s);
	if ((rc = cli_parse(&cli_select, argc, argv, &a, sizeof a, &npos)) !=
	    CLI_GO)
		return rc;
	a.s.bad_line = on_bad_line;
	if ((rc = cli_curate_open("select", &a.io, npos, argv + 1)))
		return rc;
	rc = kiln_select(a.io.in, a.io.nin, a.io.out, a.io.dropped, &a.s, &st,
			 &err);
	rc = cli_curate_finish("select", &a.io, rc, &err, &st);
	kiln_stage_stats_free(&st);
	return rc;
}

const cli_cmd cli_select = {
	.name = "select", .run = run_select, .opts = select_opts,
	.summary = "keep the candidates worth training on (threshold, CodeT)",
	.synopsis = "usage: kiln select [options] [FILE...|-]",
	.about =
"Reads verdict records (kiln verify's, with the candidates' fields joined\n"
"in as needed: id, candidate, status, tests_passed, tests_total, tests[i].\n"
"status, judge, solution) and keeps, task by task (records with the same\n"
"id, in any order), the candidates that pass. In this order:\n"
"  judge           --require-judge: how the verdict was judged\n"
"  below_min_pass  the share of tests passed is under --min-pass\n"
"  codet_group     --codet: not in the best group(s) of dual agreement\n"
"  duplicate       --per-task: the same code as a better kept candidate\n"
"  per_task        --per-task: the task already has M\n"
"Kept records get \"select\": {\"pass_fraction\", and with --codet \"group\"\n"
"(rank, 0 the best), \"group_size\", \"group_tests\", \"score\"}; dropped ones\n"
"(--dropped) \"dropped\": {\"stage\": \"select\", \"reason\", ...the figures}.\n",
	.after =
"Examples:\n"
"  kiln select verdicts.jsonl -o kept.jsonl                 (strict)\n"
"  kiln select --min-pass 0.8 --per-task 4 verdicts.jsonl   (relaxed)\n"
"  kiln select --codet --dropped why.jsonl --stats select.json verdicts.jsonl\n"
"Output is in input order. docs/CURATE.md has the rules.\n",
};
