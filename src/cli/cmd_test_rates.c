#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kiln/output.h"
#include "kiln/progress.h"
#include "kiln/test_rates.h"

/* What 'kiln test-rates' is given: the library's options and the CLI's. */
struct rates_args {
	kiln_test_rates_opts t;
	const char *output, *tasks;
	int quiet;
};

#define A struct rates_args

static const kiln_opt rates_opts[] = {
	KILN_OPT_ROW_PATH("tasks", 0, A, tasks, "FILE",
		"the tasks, with ground truth: kiln bank's records, each "
		"with a reference solution and wrong_variants (required)"),
	KILN_OPT_ROW_PATH("output", 'o', A, output, "FILE",
		"write the counts here, one JSON object (atomically); "
		"default: standard output"),
	KILN_OPT_ROW_INCLUDE(A, t.verify, cli_sandbox_opts),
	CLI_OPT_QUIET(A, quiet, "no progress line and no summary"),
	KILN_OPT_ROW_END,
};
#undef A

static void on_progress(void *ctx, long done, long planned, double seconds)
{
	kiln_progress *p = ctx;

	if (kiln_progress_due(p, seconds, done == planned))
		kiln_progress_show(p, "test-rates: %ld/%ld runs  %.0f/s", done,
				   planned, seconds > 0 ? done / seconds : 0.0);
}

static int run_test_rates(int argc, char **argv)
{
	struct rates_args a;
	kiln_test_rates r;
	kiln_progress prog;
	kiln_error err;
	json_t *j;
	int rc, npos;

	memset(&a, 0, sizeof a);
	kiln_test_rates_opts_default(&a.t);
	if ((rc = cli_parse(&cli_test_rates, argc, argv, &a, sizeof a,
			    &npos)) != CLI_GO)
		return rc;
	if (!a.tasks) {
		cli_error("test-rates", "--tasks FILE is required (the tasks "
			  "with ground truth: kiln bank's)");
		return 2;
	}
	if (npos < 1) {
		cli_error("test-rates", "expected CANDIDATES (kiln generate's "
			  "records on those tasks; - for standard input)");
		return 2;
	}
	{
		/* standard input is read once: one of the files at most */
		int stdin_uses = a.tasks && !strcmp(a.tasks, "-");

		for (int i = 1; i <= npos; i++)
			stdin_uses += !strcmp(argv[i], "-");
		if (stdin_uses > 1) {
			cli_error("test-rates", "- (standard input) is given "
				  "%d times: it can be read once", stdin_uses);
			return 2;
		}
	}
	if (kiln_output_check_distinct(a.output, a.tasks, "--tasks", &err)) {
		cli_error("test-rates", "%s", err.msg);
		return 2;
	}
	for (int i = 1; i <= npos; i++)
		if (kiln_output_check_distinct(a.output, argv[i], "an input",
					       &err)) {
			cli_error("test-rates", "%s", err.msg);
			return 2;
		}
	if (a.output && kiln_output_check(a.output, &err)) {
		cli_error("test-rates", "%s", err.msg);
		return 1;
	}
	cli_catch_stop();   /* the runs in flight finish, nothing is written */
	kiln_progress_init(&prog, stderr, a.quiet, 0.1, 0);
	a.t.progress = on_progress;
	a.t.ctx = &prog;
	a.t.verify.stop = &cli_stop_sig;
	rc = kiln_test_rates_run(a.tasks, (const char *const *)argv + 1,
				 (size_t)npos, &a.t, &r, &err);
	kiln_progress_clear(&prog);
	if (rc) {
		cli_error("test-rates", "%s", err.msg);
		return 1;
	}
	if (r.stopped) {
		cli_error("test-rates", "interrupted (%s); nothing written",
			  cli_stop_sig == SIGINT ? "SIGINT" : "SIGTERM");
		return 128 + cli_stop_sig;
	}
	if (!(j = kiln_test_rates_json(&r))) {
		cli_error("test-rates", "out of memory");
		return 1;
	}
	if (a.output && strcmp(a.output, "-")) {
		rc = kiln_output_save_json(a.output, j, JSON_INDENT(1) |
					   JSON_PRESERVE_ORDER, &err);
		if (rc)
			cli_error("test-rates", "%s", err.msg);
	} else {
		rc = cli_print_json("test-rates", j, JSON_PRESERVE_ORDER);
	}
	json_decref(j);
	if (rc)
		return 1;
	if (!a.quiet) {
		fprintf(stderr, "kiln test-rates: %ld task%s, %ld tests: %ld "
			"valid, %ld discriminating; %ld of %ld wrong variants "
			"killed; %ld runs (%ld of whole pools, %ld pool%s run "
			"test by test) in %.2fs\n", r.tasks,
			r.tasks == 1 ? "" : "s", r.tests, r.valid,
			r.discriminating, r.variants_killed, r.variants,
			r.runs, r.batch_runs, r.fallbacks,
			r.fallbacks == 1 ? "" : "s", r.seconds);
		if (!r.tasks)
			fprintf(stderr, "kiln test-rates: no task with ground "
				"truth (a reference solution and "
				"wrong_variants) has teacher tests: nothing "
				"to measure\n");
	}
	return 0;
}

const cli_cmd cli_test_rates = {
	.name = "test-rates", .run = run_test_rates, .opts = rates_opts,
	.summary = "how valid and discriminating a teacher's tests are",
	.synopsis = "usage: kiln test-rates --tasks TASKS [options] "
		    "CANDIDATES...",
	.about =
"Measures the tests a teacher wrote (kiln generate's candidates with\n"
"tests_source \"teacher\") on tasks with ground truth (kiln bank's: a\n"
"reference solution and planted wrong_variants). Each distinct test of a\n"
"task is run in the sandbox against the reference and each wrong variant:\n"
"  valid           the reference passes it\n"
"  discriminating  it is valid and at least one wrong variant fails it\n"
"and a wrong variant is killed when a valid test fails it. Writes one JSON\n"
"object: tasks, tests, valid, discriminating, validity_rate,\n"
"discrimination_rate, variants, variants_killed, kill_rate, runs, seconds\n"
"(a rate is null when nothing is under it; tasks 0 when no task carries\n"
"ground truth). The counts are scripts/bank-test-rates.py's for one\n"
"teacher; a task's tests run as one record per solution where that\n"
"cannot change a result, else one record per test (docs/BANK.md).\n",
	.after =
"Example:\n"
"  kiln test-rates --tasks tasks.jsonl candidates.jsonl -o tests.json\n"
"A task id given twice, or candidates of two teachers, is an error.\n",
};
