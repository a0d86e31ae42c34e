#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "kiln/output.h"
#include "kiln/eval.h"
#include "kiln/jsonl.h"
#include "kiln/store.h"
#include "kiln/task.h"

struct eval_args {
	kiln_eval_opts e;
	struct cli_teacher t;
	int ks[16], nks;
	const char *bench, *data_dir, *output, *store;
	int limit, quiet;
};

#define A struct eval_args
static const kiln_opt eval_opts[] = {
	KILN_OPT_ROW_STRING("benchmark", 0, A, bench, "B",
		"humaneval, mbpp (published files, found in --data-dir) or a "
		"kiln task file (required)"),
	{ .name = "data-dir", .kind = KILN_OPT_PATH, .arg = "DIR",
	  KILN_OPT_F_(A, data_dir),
	  .def = "$KILN_DATA_DIR, else shared/data beside the repository",
	  .help = "where HumanEval.jsonl.gz and mbpp.jsonl are" },
	KILN_OPT_ROW_INT("samples", 'n', A, e.gen.k, 1, 100000, "N",
		"samples per task"),
	KILN_OPT_ROW_LIST("pass-at", 'k', A, ks, nks, 1, 100000, "LIST",
		"the k of pass@k, e.g. 1,10; each k <= n"),
	{ .name = "limit", .kind = KILN_OPT_INT, .arg = "N",
	  KILN_OPT_F_(A, limit), .lo = 1, .hi = 1000000000, .def = "all",
	  .help = "only the first N tasks" },
	KILN_OPT_ROW_INCLUDE(A, e.gen, cli_teacher_opts),
	KILN_OPT_ROW_INCLUDE(A, t, cli_teacher_cli_opts),
	KILN_OPT_ROW_INCLUDE(A, e.verify, cli_sandbox_opts),
	KILN_OPT_ROW_PATH("output", 'o', A, output, "FILE",
		"per-sample verdicts"),
	{ .name = "store", .kind = KILN_OPT_PATH, .arg = "FILE",
	  KILN_OPT_F_(A, store), .def = "OUTPUT.store",
	  .help = "the job store" },
	CLI_OPT_QUIET(A, quiet, "no table"),
	KILN_OPT_ROW_END,
};
#undef A

/* The published benchmark files: $KILN_DATA_DIR, ./shared/data,
 * ../shared/data, then shared/data beside the repository the binary was
 * built in (build/kiln -> ../../shared/data). */
static int find_data(const char *dir, const char *file, char *out,
		     size_t outlen)
{
	char exe[PATH_MAX];
	const char *cands[4] = { dir ? dir : getenv("KILN_DATA_DIR"),
				 "shared/data", "../shared/data", NULL };
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 32);

	if (n > 0) {
		char *slash;
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			strcpy(slash, "/../../shared/data");
			cands[3] = exe;
		}
	}
	for (int i = 0; i < 4; i++) {
		if (!cands[i])
			continue;
		snprintf(out, outlen, "%s/%s", cands[i], file);
		if (access(out, R_OK) == 0)
			return 0;
		if (dir)
			break;
	}
	return -1;
}

/* The tasks of the benchmark; path: the file they are read from. */
static json_t *load_tasks(const char *bench, const char *data_dir, long limit,
			  char *path, size_t pathlen)
{
	kiln_import_format fmt;
	int import = 0;
	kiln_jsonl_reader *in;
	kiln_error err;
	json_t *tasks = json_array(), *rec, *t;
	int rc;

	if (strcmp(bench, "humaneval") == 0 || strcmp(bench, "mbpp") == 0) {
		const char *file = bench[0] == 'h' ? "HumanEval.jsonl.gz"
						   : "mbpp.jsonl";
		kiln_import_format_parse(bench, &fmt, NULL);
		import = 1;
		if (find_data(data_dir, file, path, pathlen)) {
			cli_error("eval", "cannot find %s (give --data-dir, "
				  "or set KILN_DATA_DIR)", file);
			json_decref(tasks);
			return NULL;
		}
	} else {
		snprintf(path, pathlen, "%s", bench);
	}
	if (kiln_jsonl_open(&in, path, 0, &err)) {
		cli_error("eval", "%s", err.msg);
		json_decref(tasks);
		return NULL;
	}
	while ((limit <= 0 || (long)json_array_size(tasks) < limit) &&
	       (rc = kiln_jsonl_next(in, &rec, &err)) == 0) {
		if (import) {
			rc = kiln_import_record(fmt, rec, &t, &err);
			json_decref(rec);
			if (rc) {
				cli_error("eval", "%s:%ld: %s", path,
					  kiln_jsonl_lineno(in), err.msg);
				goto fail;
			}
			rec = t;
		}
		json_array_append_new(tasks, rec);
	}
	if ((limit <= 0 || (long)json_array_size(tasks) < limit) &&
	    rc != KILN_EEOF) {
		cli_error("eval", "%s", err.msg);
		goto fail;
	}
	kiln_jsonl_close(in);
	return tasks;
fail:
	kiln_jsonl_close(in);
	json_decref(tasks);
	return NULL;
}

static int run_eval(int argc, char **argv)
{
	struct eval_args a;
	kiln_eval_opts *o = &a.e;
	int *ks = a.ks, quiet, rc, npos;
	const char *bench, *data_dir, *output, *store_path;
	char store_buf[4096], cand_buf[4096], *tmpl = NULL;
	char path[PATH_MAX + 64];
	kiln_generate_stats gst = { 0 };
	long limit;
	json_t *tasks = NULL, *summary = NULL;
	kiln_store *store = NULL;
	kiln_error err;

	memset(&a, 0, sizeof(a));
	kiln_generate_opts_default(&a.e.gen);
	a.e.gen.test_sets = 0;          /* the benchmark's own tests judge */
	kiln_verify_opts_default(&a.e.verify);
	a.ks[0] = 1;
	a.nks = 1;
	a.output = "eval.samples.jsonl";
	if ((rc = cli_parse(&cli_eval, argc, argv, &a, sizeof a, &npos)) !=
	    CLI_GO)
		return rc;
	rc = 1;
	bench = a.bench, data_dir = a.data_dir, output = a.output;
	store_path = a.store, quiet = a.quiet, limit = a.limit;
	o->ks = a.ks;
	o->nks = (size_t)a.nks;
	if (!o->gen.llm.base_url || !bench || npos != 0) {
		cli_error("eval", "%s", npos ? "unexpected arguments (the "
			  "benchmark is --benchmark B)" :
			  "--backend and --benchmark are required");
		fputs("Run 'kiln eval --help' for the options.\n", stderr);
		return 2;
	}
	for (size_t i = 0; i < o->nks; i++)
		if (ks[i] > o->gen.k) {
			cli_error("eval", "pass@%d needs -n %d or more samples",
				  ks[i], ks[i]);
			return 2;
		}
	if ((rc = cli_teacher_key("eval", &a.t, &o->gen.llm.api_key)))
		return rc;
	rc = 1;
	if (a.t.tmpl_solution &&
	    cli_read_option_file("eval", "template-solution",
				 a.t.tmpl_solution, &tmpl))
		goto out;
	o->gen.tmpl_solution = tmpl;
	tasks = load_tasks(bench, data_dir, limit, path, sizeof(path));
	if (!tasks)
		goto out;
	/* before anything is sent, and naming the user's file */
	if (kiln_eval_check_tasks(tasks, &err)) {
		cli_error("eval", "%s: %s", path, err.msg);
		goto out;
	}
	if (!store_path) {
		snprintf(store_buf, sizeof(store_buf), "%s.store", output);
		store_path = store_buf;
	}
	if (kiln_output_check_distinct(output, path, "the benchmark", &err) ||
	    kiln_output_check_distinct(output, store_path, "the store",
				       &err)) {
		cli_error("eval", "%s", err.msg);
		rc = 2;
		goto out;
	}
	snprintf(cand_buf, sizeof(cand_buf), "%s.candidates", output);
	o->candidates_path = cand_buf;
	o->samples_path = output;
	o->verify.skip_bad = 0;
	o->gen_stats = &gst;
	if (kiln_store_open(&store, store_path, &err)) {
		cli_error("eval", "%s", err.msg);
		goto out;
	}
	if (kiln_eval(tasks, store, o, &summary, &err)) {
		if (gst.req.resumable)
			cli_error("eval", "%s (answers so far are kept in %s; "
				  "run again to resume)", err.msg, store_path);
		else if (gst.req.failed || gst.req.failed_before)
			cli_error("eval", "%s (the errors are in %s%s)",
				  err.msg, store_path, gst.req.failed ? "" :
				  "; eval does not send failed requests again: "
				  "give it another --store to try again");
		else
			cli_error("eval", "%s", err.msg);
		goto out;
	}
	if (!quiet) {
		fprintf(stderr, "kiln eval: %s, %zu tasks, n = %d\n", bench,
			json_array_size(tasks), o->gen.k);
		for (size_t i = 0; i < o->nks; i++) {
			char key[32];
			snprintf(key, sizeof(key), "pass@%d", ks[i]);
			fprintf(stderr, "  %-10s %6.2f%%\n", key, 100.0 *
				json_real_value(json_object_get(summary, key)));
		}
	}
	/* said even with --quiet: the numbers above are lower bounds */
	if (gst.missing)
		fprintf(stderr, "kiln eval: %ld of %ld samples are missing "
			"(%ld requests failed, the first: %s; errors in %s); "
			"each counts as a failed sample\n", gst.missing,
			(long)json_array_size(tasks) * o->gen.k,
			gst.req.failed + gst.req.failed_before,
			gst.req.first_error[0] ? gst.req.first_error
			: "in an earlier run", store_path);
	if (gst.short_answers && !quiet)
		fprintf(stderr, "kiln eval: %ld answers had fewer choices "
			"than asked (--choices %d); %ld more requests asked "
			"for the rest\n", gst.short_answers, o->gen.n,
			gst.followups);
	/* a full stdout is an error, not a lost summary */
	rc = cli_print_json("eval", summary, JSON_COMPACT |
			    JSON_PRESERVE_ORDER) ? 1 : 0;
out:
	json_decref(summary);
	json_decref(tasks);
	kiln_store_close(store);
	free(tmpl);
	return rc;
}

const cli_cmd cli_eval = {
	.name = "eval", .run = run_eval, .opts = eval_opts,
	.summary = "a model's pass@k on a benchmark, verified in the sandbox",
	.synopsis = "usage: kiln eval --backend URL --benchmark "
		    "humaneval|mbpp|FILE [options]",
	.about =
"Measures a model's pass@k: n completions per task, each verified in the\n"
"sandbox against the benchmark's own tests, and the unbiased estimator of\n"
"Chen et al. (2021), per task and overall. A table goes to stderr, a JSON\n"
"summary ({\"pass@1\": ..., \"per_task\": [...]}) to stdout. --timeout is\n"
"the sandbox's, per test (as in kiln verify); --request-timeout the\n"
"teacher's, per attempt (as in kiln generate).\n",
};
