#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kiln/jsonl.h"
#include "kiln/task.h"

struct import_args {
	const char *format, *output;
	int skip;
};

#define A struct import_args

static const kiln_opt import_opts[] = {
	KILN_OPT_ROW_STRING("format", 'f', A, format, "NAME",
		"humaneval or mbpp (required)"),
	KILN_OPT_ROW_PATH("output", 'o', A, output, "FILE",
		"write here (atomically) instead of stdout; after an "
		"error, the tasks before it go to FILE.partial"),
	CLI_OPT_ON_ERROR(A, skip),
	KILN_OPT_ROW_END,
};
#undef A

static int run_import(int argc, char **argv)
{
	struct import_args a = { 0 };
	const char *format, *output;
	kiln_import_format fmt;
	kiln_jsonl_reader *in = NULL;
	kiln_out *out = NULL;
	kiln_error err;
	long n = 0, skipped = 0;
	int skip, rc, npos;

	if ((rc = cli_parse(&cli_import, argc, argv, &a, sizeof a, &npos)) !=
	    CLI_GO)
		return rc;
	format = a.format, output = a.output, skip = a.skip;
	if (!format || npos != 1) {
		cli_error("import", "%s", !format ? "--format is required"
			  : "expected exactly one input FILE");
		cli_usage(&cli_import, &a, stderr);
		return 2;
	}
	if (kiln_import_format_parse(format, &fmt, &err)) {
		cli_error("import", "%s", err.msg);
		return 2;
	}
	if (kiln_output_check_distinct(output, argv[1], "the input", &err)) {
		cli_error("import", "%s", err.msg);
		return 2;
	}
	if (kiln_jsonl_open(&in, argv[1], 0, &err) ||
	    kiln_out_open(&out, output, &err)) {
		cli_error("import", "%s", err.msg);
		kiln_jsonl_close(in);
		return 1;
	}
	for (;;) {
		json_t *rec, *task;
		rc = kiln_jsonl_next(in, &rec, &err);
		if (rc == KILN_EEOF) {
			rc = 0;
			break;
		}
		if (rc == 0) {
			rc = kiln_import_record(fmt, rec, &task, &err);
			json_decref(rec);
			if (rc)
				kiln_error_prefix(&err, "%s:%ld: ",
						  kiln_jsonl_path(in),
						  kiln_jsonl_lineno(in));
		}
		if (rc) {
			if (skip && (rc == KILN_EPARSE || rc == KILN_ELIMIT)) {
				cli_error("import", "%s (skipped)", err.msg);
				skipped++;
				continue;
			}
			break;
		}
		rc = kiln_out_write(out, task, &err);
		json_decref(task);
		if (rc)
			break;
		n++;
	}
	kiln_jsonl_close(in);
	if (rc) {
		/* the rule for outputs: OUT complete or untouched, the tasks
		 * written before the error in OUT.partial */
		char *kept = NULL;
		long k = 0;

		cli_error("import", "%s", err.msg);
		if (kiln_out_keep_partial(out, &kept, &k, &err))
			cli_error("import", "%s", err.msg);
		else if (kept)
			cli_error("import", "stopped; the %ld tasks before it "
				  "are in %s (%s is unchanged)", k, kept,
				  output);
		free(kept);
		return 1;
	}
	if (kiln_out_commit(out, &err)) {
		cli_error("import", "%s", err.msg);
		return 1;
	}
	fprintf(stderr, "kiln import: %ld tasks written%s", n,
		skipped ? "" : "\n");
	if (skipped)
		fprintf(stderr, ", %ld bad lines skipped\n", skipped);
	return 0;
}

const cli_cmd cli_import = {
	.name = "import", .run = run_import, .opts = import_opts,
	.summary = "convert a published benchmark (HumanEval, MBPP) to kiln "
		   "tasks",
	.synopsis = "usage: kiln import --format humaneval|mbpp [options] FILE",
	.about =
"Converts a benchmark file, as its authors publish it (gzip or plain JSON\n"
"Lines), into kiln task records: id, prompt, language, entry_point,\n"
"solution (the reference), tests, origin, source, license.\n"
"  humaneval  the test program gets a final check(<entry_point>) call\n"
"  mbpp       each assert becomes an independent test; setup code is kept\n",
};
