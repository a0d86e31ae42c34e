#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "kiln/jsonl.h"
#include "kiln/task.h"

static const char usage[] =
"usage: kiln import --format humaneval|mbpp [options] FILE\n"
"\n"
"Converts a benchmark file, as its authors publish it (gzip or plain JSON\n"
"Lines), into kiln task records: id, prompt, language, entry_point,\n"
"solution (the reference), tests, origin, source, license.\n"
"  humaneval  the test program gets a final check(<entry_point>) call\n"
"  mbpp       each assert becomes an independent test; setup code is kept\n"
"\n"
"options:\n"
"  -f, --format NAME     humaneval or mbpp (required)\n"
"  -o, --output FILE     write here (atomically) instead of stdout\n"
"      --on-error MODE   stop (default) or skip a bad input line\n"
"  -h, --help            this text\n";

int cmd_import(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "on-error", required_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *format = NULL, *output = NULL;
	kiln_import_format fmt;
	kiln_jsonl_reader *in = NULL;
	kiln_out *out = NULL;
	kiln_error err;
	long n = 0, skipped = 0;
	int skip = 0, c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "f:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': format = optarg; break;
		case 'o': output = optarg; break;
		case 'E':
			if (strcmp(optarg, "skip") == 0)
				skip = 1;
			else if (strcmp(optarg, "stop") != 0) {
				cli_error("import", "--on-error: expected stop "
					  "or skip, got '%s'", optarg);
				return 2;
			}
			break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (!format || optind != argc - 1) {
		cli_error("import", "%s", !format ? "--format is required"
			  : "expected exactly one input FILE");
		fputs(usage, stderr);
		return 2;
	}
	if (kiln_import_format_parse(format, &fmt, &err)) {
		cli_error("import", "%s", err.msg);
		return 2;
	}
	if (kiln_jsonl_open(&in, argv[optind], 0, &err) ||
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
		cli_error("import", "%s", err.msg);
		kiln_out_abort(out);
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
