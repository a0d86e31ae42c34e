/* kiln report: the HTML report of a kiln run folder. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "kiln/report.h"

struct report_args {
	const char *output;
	int quiet;
};

#define A struct report_args
static const kiln_opt report_opts[] = {
	KILN_OPT_ROW_PATH("output", 'o', A, output, "FILE",
		"write the report here (default RUN_DIR/report.html)"),
	CLI_OPT_QUIET(A, quiet, "say nothing on success"),
	KILN_OPT_ROW_END,
};
#undef A

static int run_report(int argc, char **argv)
{
	struct report_args a;
	kiln_error err;
	char path[4096];
	int rc, npos;

	memset(&a, 0, sizeof(a));
	if ((rc = cli_parse(&cli_report, argc, argv, &a, sizeof a, &npos)) !=
	    CLI_GO)
		return rc;
	if (npos != 1) {
		cli_error("report", "expected one RUN_DIR (a kiln run folder)");
		return 2;
	}
	snprintf(path, sizeof path, "%s/report.html", argv[1]);
	if (kiln_report_write(argv[1], a.output ? a.output : path, &err)) {
		cli_error("report", "%s", err.msg);
		return 1;
	}
	if (!a.quiet)
		fprintf(stderr, "kiln report: %s\n", a.output ? a.output : path);
	return 0;
}

const cli_cmd cli_report = {
	.name = "report",
	.summary = "the HTML report of a kiln run folder",
	.run = run_report,
	.opts = report_opts,
	.synopsis = "usage: kiln report [options] RUN_DIR",
	.about =
"Writes one self-contained HTML file (no external requests) about a kiln\n"
"run folder: the funnel per stage and reason, the verdicts, the pass-rate,\n"
"mutation-score and reward distributions, kept and dropped examples with\n"
"the reason, each stage's options and the kiln version. kiln run writes\n"
"it at the end of every run.\n",
};
