#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kiln/evalplus.h"
#include "kiln/jsonl.h"
#include "kiln/task.h"

struct import_args {
	const char *format, *output, *source, *license;
	int skip, quiet;
	kiln_verify_opts v;     /* evalplus: the sandbox for the references */
};

#define A struct import_args

static const kiln_opt import_opts[] = {
	KILN_OPT_ROW_STRING("format", 'f', A, format, "NAME",
		"humaneval, mbpp, humaneval-x, mbpp-sanitized or evalplus "
		"(required)"),
	KILN_OPT_ROW_PATH("output", 'o', A, output, "FILE",
		"write here (atomically) instead of stdout; after an "
		"error, the tasks before it go to FILE.partial"),
	KILN_OPT_ROW_STRING("source", 0, A, source, "NAME",
		"the tasks' source (default: the format's: humaneval, mbpp, "
		"humaneval-x, mbpp-sanitized, humanevalplus)"),
	KILN_OPT_ROW_STRING("license", 0, A, license, "SPDX",
		"the tasks' licence (default: the publisher's: HumanEval "
		"MIT, MBPP CC-BY-4.0, HumanEval-X and HumanEval+ "
		"Apache-2.0)"),
	CLI_OPT_ON_ERROR(A, skip),
	CLI_OPT_QUIET(A, quiet, "evalplus: no progress and no dropped "
		      "inputs listed"),
	KILN_OPT_ROW_GROUP("evalplus: the sandbox for the canonical solutions "
			   "(--timeout 60s)"),
	KILN_OPT_ROW_INCLUDE(A, v, cli_sandbox_opts),
	KILN_OPT_ROW_END,
};
#undef A

/* Stamps --source and --license over the format's defaults. */
static int stamp(json_t *task, const struct import_args *a, kiln_error *err)
{
	if ((a->source && json_object_set_new(task, "source",
					      json_string(a->source))) ||
	    (a->license && json_object_set_new(task, "license",
					       json_string(a->license))))
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	return 0;
}

/* The tasks of one input, for the formats read whole before writing. */
struct tasks {
	json_t **v;
	size_t n, cap;
};

static int tasks_add(struct tasks *t, json_t *task, kiln_error *err)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		json_t **p = realloc(t->v, cap * sizeof(*p));
		if (!p) {
			json_decref(task);
			return kiln_error_set(err, KILN_ENOMEM,
					      "out of memory");
		}
		t->v = p;
		t->cap = cap;
	}
	t->v[t->n++] = task;
	return 0;
}

static void tasks_free(struct tasks *t)
{
	for (size_t i = 0; i < t->n; i++)
		json_decref(t->v[i]);
	free(t->v);
}

/* The whole input as one JSON value (sanitized MBPP is one array, maybe
 * pretty-printed): its lines, rejoined, through jansson. */
static int read_whole(kiln_jsonl_reader *in, json_t **val, kiln_error *err)
{
	char *all = NULL;
	size_t len = 0, cap = 0;
	const char *line;
	size_t n;
	json_error_t jerr;
	int rc;

	*val = NULL;
	while ((rc = kiln_jsonl_next_line(in, &line, &n, err)) == 0) {
		if (len + n + 2 > cap) {
			size_t ncap = cap ? cap : 1 << 16;
			char *p;
			while (ncap < len + n + 2)
				ncap *= 2;
			if (ncap > (size_t)KILN_JSONL_MAX_LINE_DEFAULT * 4) {
				free(all);
				return kiln_error_set(err, KILN_ELIMIT,
					"%s: larger than %u MiB",
					kiln_jsonl_path(in),
					KILN_JSONL_MAX_LINE_DEFAULT >> 18);
			}
			if (!(p = realloc(all, ncap))) {
				free(all);
				return kiln_error_set(err, KILN_ENOMEM,
						      "out of memory");
			}
			all = p;
			cap = ncap;
		}
		memcpy(all + len, line, n);
		len += n;
		all[len++] = '\n';
	}
	if (rc != KILN_EEOF) {
		free(all);
		return rc;
	}
	*val = json_loadb(all ? all : "", len, JSON_REJECT_DUPLICATES, &jerr);
	free(all);
	if (!*val)
		return kiln_error_set(err, KILN_EPARSE, "%s:%d:%d: %s",
				      kiln_jsonl_path(in), jerr.line,
				      jerr.column, jerr.text);
	if (!json_is_array(*val)) {
		json_decref(*val);
		*val = NULL;
		return kiln_error_set(err, KILN_EPARSE, "%s: expected one JSON "
				      "array of records",
				      kiln_jsonl_path(in));
	}
	return 0;
}

static void on_dropped(void *ctx, const char *id, size_t index,
		       const char *call, const char *why)
{
	const struct import_args *a = ctx;

	if (!a->quiet)
		cli_error("import", "%s: input %zu (%.80s%s) dropped: %s", id,
			  index,
			  call ? call : "", call && strlen(call) > 80 ? "..."
			  : "", why);
}

static void on_progress(void *ctx, size_t done, size_t total)
{
	const struct import_args *a = ctx;

	if (!a->quiet && (done == total || done % 16 == 0))
		fprintf(stderr, "kiln import: expected outputs: %zu/%zu "
			"jobs\n", done, total);
}

/* evalplus: read every record, then run the canonical solutions. */
static int import_evalplus(kiln_jsonl_reader *in, struct import_args *a,
			   struct tasks *out, long *skipped, kiln_error *err)
{
	kiln_evalplus_opts eo;
	kiln_evalplus_stats st;
	const char *line;
	size_t n;
	int rc;

	while ((rc = kiln_jsonl_next_line(in, &line, &n, err)) == 0) {
		json_t *task;

		rc = kiln_evalplus_parse_line(line, n, &task, err);
		if (rc) {
			kiln_error_prefix(err, "%s:%ld: ", kiln_jsonl_path(in),
					  kiln_jsonl_lineno(in));
			if (a->skip && rc == KILN_EPARSE) {
				cli_error("import", "%s (skipped)", err->msg);
				(*skipped)++;
				continue;
			}
			return rc;
		}
		if ((rc = stamp(task, a, err)) ||
		    (rc = tasks_add(out, task, err))) {
			json_decref(task);
			return rc;
		}
	}
	if (rc != KILN_EEOF)
		return rc;
	if (kiln_sandbox_check(&a->v.box, err))
		return KILN_ESANDBOX;
	kiln_evalplus_opts_default(&eo);
	eo.verify = a->v;
	eo.dropped = on_dropped;
	eo.progress = on_progress;
	eo.ctx = a;
	if ((rc = kiln_evalplus_expect(out->v, out->n, &eo, &st, err)))
		return rc;
	fprintf(stderr, "kiln import: %ld inputs: %ld expected outputs from "
		"the canonical solutions (%ld fetched in pieces), %ld dropped; "
		"%ld tasks given atol 1e-6 for float outputs; %.1f s\n",
		st.inputs, st.expected, st.pieces, st.dropped, st.float_atol,
		st.seconds);
	return 0;
}

static int run_import(int argc, char **argv)
{
	struct import_args a;
	const char *format, *output;
	kiln_import_format fmt;
	kiln_jsonl_reader *in = NULL;
	kiln_out *out = NULL;
	struct tasks whole = { 0 };
	kiln_error err;
	long n = 0, skipped = 0;
	int skip, rc, npos;

	memset(&a, 0, sizeof(a));
	kiln_verify_opts_default(&a.v);
	a.v.box.limits.timeout_ms = 60000;
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
	if (fmt == KILN_IMPORT_EVALPLUS) {
		rc = import_evalplus(in, &a, &whole, &skipped, &err);
	} else if (fmt == KILN_IMPORT_MBPP_SANITIZED) {
		json_t *arr = NULL, *rec;
		size_t i;

		rc = read_whole(in, &arr, &err);
		json_array_foreach(arr, i, rec) {
			json_t *task;

			rc = kiln_import_record(fmt, rec, &task, &err);
			if (rc) {
				kiln_error_prefix(&err, "%s: record %zu: ",
						  kiln_jsonl_path(in), i + 1);
				if (skip && rc == KILN_EPARSE) {
					cli_error("import", "%s (skipped)",
						  err.msg);
					skipped++;
					rc = 0;
					continue;
				}
				break;
			}
			if ((rc = stamp(task, &a, &err)) ||
			    (rc = tasks_add(&whole, task, &err))) {
				json_decref(task);
				break;
			}
		}
		json_decref(arr);
	} else {
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
				else if ((rc = stamp(task, &a, &err)))
					json_decref(task);
			}
			if (rc) {
				if (skip && (rc == KILN_EPARSE ||
					     rc == KILN_ELIMIT)) {
					cli_error("import", "%s (skipped)",
						  err.msg);
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
	}
	for (size_t i = 0; rc == 0 && i < whole.n; i++) {
		if ((rc = kiln_out_write(out, whole.v[i], &err)))
			break;
		n++;
	}
	tasks_free(&whole);
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
	.summary = "a published benchmark (HumanEval(-X, +), MBPP) to tasks",
	.synopsis = "usage: kiln import --format FORMAT [options] FILE",
	.about =
"Converts a benchmark file, as its authors publish it (gzip or plain),\n"
"into kiln task records: id, prompt, language, entry_point, solution (the\n"
"reference), tests, origin, source, license (docs/FORMATS.md).\n"
"  humaneval       HumanEval.jsonl(.gz): the test program gets a final\n"
"                  check(<entry_point>) call; MIT\n"
"  mbpp            mbpp.jsonl: each assert becomes an independent test;\n"
"                  setup code is kept; CC-BY-4.0\n"
"  mbpp-sanitized  sanitized-mbpp.json (one JSON array): as mbpp, with\n"
"                  test_imports as the test set-up; CC-BY-4.0\n"
"  humaneval-x     any of HumanEval-X's six files: the language from the\n"
"                  task id (python, cpp, go, java, javascript, rust), the\n"
"                  entry point derived, the test as published; Apache-2.0\n"
"  evalplus        HumanEval+ native (HumanEvalPlus.jsonl.gz): base and plus\n"
"                  inputs become I/O tests whose expected outputs come from\n"
"                  running the canonical solution in the sandbox (integers\n"
"                  of any size exact; atol kept); Apache-2.0\n"
"Verify HumanEval+ with evalplus's relative timeouts:\n"
"  kiln verify --tasks T --timeout-factor 4 --timeout-floor 1s T\n",
};
