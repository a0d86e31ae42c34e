#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "kiln/jsonl.h"
#include "kiln/progress.h"
#include "kiln/sandbox.h"
#include "kiln/task.h"
#include "kiln/verify.h"

/* What 'kiln verify' is given: the library's options and the CLI's. */
struct verify_args {
	kiln_verify_opts v;
	const char *output, *tasks;
	int quiet;
};

#define A struct verify_args

static const kiln_opt verify_opts[] = {
	KILN_OPT_ROW_PATH("output", 'o', A, output, "FILE",
		"write verdicts here (atomically; a run that stops keeps "
		"its verdicts in FILE.partial)"),
	KILN_OPT_ROW_INCLUDE(A, v, cli_sandbox_opts),
	KILN_OPT_ROW_PATH("tasks", 0, A, tasks, "FILE",
		"task records with reference solutions, for relative timeouts"),
	{ .name = "timeout-factor", .kind = KILN_OPT_DOUBLE, .arg = "K",
	  KILN_OPT_F_(A, v.timeout_factor), .dlo = 0, .dhi = 1000,
	  .flags = KILN_OPT_LO_OPEN, .def = "",
	  .help = "with --tasks: each test's timeout is K x the reference's "
		  "slowest test, at least the floor" },
	KILN_OPT_ROW_DURATION("timeout-floor", 0, A, v.timeout_floor_ms, 1,
		CLI_MAX_DURATION_MS, "the floor"),
	KILN_OPT_ROW_FLAG("no-batch", 0, A, v.no_batch,
		"Python I/O tests one call at a time, so that each test's "
		"deadline is its own (a batch shows the candidate later "
		"inputs early; slower); implied by --timeout-factor"),
	KILN_OPT_ROW_FLAG("carry", 0, A, v.carry,
		"write each record with its verdict in a \"verdict\" field "
		"(what the curation stages read) instead of the verdict "
		"alone"),
	CLI_OPT_ON_ERROR(A, v.skip_bad),
	CLI_OPT_QUIET(A, quiet, "no progress bar and no summary"),
	KILN_OPT_ROW_END,
};
#undef A

struct progress {
	kiln_progress line;
	long total;   /* lines in the input, if it could be counted */
};

static void on_progress(void *ctx, const kiln_verify_stats *st)
{
	struct progress *p = ctx;
	char bar[41];
	int fill;
	double rate;

	if (!kiln_progress_due(&p->line, st->seconds,
			       st->verdicts == p->total))
		return;
	rate = st->seconds > 0 ? st->verdicts / st->seconds : 0;
	if (p->total > 0) {
		fill = (int)(40.0 * st->verdicts / p->total);
		if (fill > 40)
			fill = 40;
		memset(bar, '#', (size_t)fill);
		memset(bar + fill, '.', (size_t)(40 - fill));
		bar[40] = '\0';
		kiln_progress_show(&p->line, "[%s] %ld/%ld  %.0f/s  pass %ld  "
				   "ETA %.0fs", bar, st->verdicts, p->total,
				   rate, st->status[KILN_PASS], rate > 0 ?
				   (p->total - st->verdicts) / rate : 0.0);
	} else {
		kiln_progress_show(&p->line, "%ld verified  %.0f/s  pass %ld",
				   st->verdicts, rate, st->status[KILN_PASS]);
	}
}

static void on_bad_line(void *ctx, const kiln_error *err)
{
	struct progress *p = ctx;
	kiln_progress_clear(&p->line); /* the bar's line first */
	cli_error("verify", "%s (skipped)", err->msg);
}

/* Counts records so the progress bar has a total (plain files only). */
static long count_lines(const char *path)
{
	kiln_jsonl_reader *r;
	json_t *o;
	long n = 0;
	int rc;

	if (strcmp(path, "-") == 0 || kiln_jsonl_open(&r, path, 0, NULL))
		return -1;
	while ((rc = kiln_jsonl_next(r, &o, NULL)) != KILN_EEOF) {
		if (rc == KILN_EIO)
			break;
		json_decref(o);
		n++;
	}
	kiln_jsonl_close(r);
	return n;
}

/* Loads task records into an object keyed by id. */
static int load_tasks(const char *path, json_t **out)
{
	kiln_jsonl_reader *r;
	kiln_error err;
	json_t *map = json_object(), *o;
	int rc;

	if (kiln_jsonl_open(&r, path, 0, &err)) {
		cli_error("verify", "%s", err.msg);
		json_decref(map);
		return 1;
	}
	while ((rc = kiln_jsonl_next(r, &o, &err)) != KILN_EEOF) {
		const char *id;
		if (rc) {
			cli_error("verify", "--tasks: %s", err.msg);
			kiln_jsonl_close(r);
			json_decref(map);
			return 1;
		}
		id = json_string_value(json_object_get(o, "id"));
		if (id && json_is_string(json_object_get(o, "solution")))
			json_object_set(map, id, o);
		json_decref(o);
	}
	kiln_jsonl_close(r);
	*out = map;
	return 0;
}

/* After a run that stopped early: says where its verdicts are. Returns the
 * exit status. */
static int keep_partial(kiln_out *out, const char *output, int status)
{
	kiln_error err;
	char *kept = NULL;
	long n = 0;
	int stream = kiln_out_is_stream(out);
	const char *name = output ? output : "standard output";

	if (kiln_out_keep_partial(out, &kept, &n, &err)) {
		cli_error("verify", "%s; no verdicts kept", err.msg);
		return status;
	}
	if (stream) {
		if (n)
			cli_error("verify", "stopped; %ld verdict%s went to %s "
				  "before it", n, n == 1 ? "" : "s", name);
	}
	else if (kept)
		cli_error("verify", "stopped; the %ld verdict%s made before it "
			  "%s in %s (%s is unchanged)", n, n == 1 ? "" : "s",
			  n == 1 ? "is" : "are", kept, output);
	else
		cli_error("verify", "stopped before any verdict; %s is "
			  "unchanged", output);
	free(kept);
	return status;
}

static int run_verify(int argc, char **argv)
{
	struct verify_args a;
	kiln_verify_opts *o = &a.v;
	kiln_verify_stats st;
	struct progress prog = { 0 };
	const char *output, *input = "-", *tasks;
	json_t *refs = NULL;
	kiln_jsonl_reader *in = NULL;
	kiln_out *out = NULL;
	kiln_error err;
	int rc, npos;

	memset(&a, 0, sizeof(a));
	kiln_verify_opts_default(&a.v);
	if ((rc = cli_parse(&cli_verify, argc, argv, &a, sizeof a, &npos)) !=
	    CLI_GO)
		return rc;
	output = a.output, tasks = a.tasks;
	if (npos > 1) {
		cli_error("verify", "expected at most one input FILE");
		return 2;
	}
	if (npos == 1)
		input = argv[1];
	if (kiln_output_check_distinct(output, input, "the input", &err) ||
	    kiln_output_check_distinct(output, tasks, "--tasks", &err)) {
		cli_error("verify", "%s", err.msg);
		return 2;
	}
	if (o->timeout_factor > 0 && !tasks) {
		cli_error("verify", "--timeout-factor needs --tasks FILE with "
			  "reference solutions");
		return 2;
	}
	if (kiln_sandbox_check(&o->box, &err)) {
		cli_error("verify", "%s", err.msg);
		return 1;
	}
	if (tasks && load_tasks(tasks, &refs))
		return 1;
	o->references = refs;
	kiln_progress_init(&prog.line, stderr, a.quiet, 0.1, 0);
	if (prog.line.tty && !a.quiet)
		prog.total = count_lines(input);
	o->progress = on_progress;
	o->bad_line = on_bad_line;
	o->ctx = &prog;

	if (kiln_jsonl_open(&in, input, 0, &err) ||
	    kiln_out_open(&out, output, &err)) {
		cli_error("verify", "%s", err.msg);
		kiln_jsonl_close(in);
		json_decref(refs);
		return 1;
	}
	/* SIGINT, SIGTERM: stop reading, finish the runs in flight, keep
	 * every verdict */
	cli_catch_stop();
	o->stop = &cli_stop_sig;
	kiln_jsonl_set_stop(in, &cli_stop_sig); /* a quiet pipe too */
	rc = kiln_verify_stream(in, out, o, &st, &err);
	kiln_jsonl_close(in);
	json_decref(refs);
	kiln_progress_keep(&prog.line);
	if (rc) {
		cli_error("verify", "%s", err.msg);
		return keep_partial(out, output, 1);
	}
	if (st.stopped) {
		cli_error("verify", "interrupted (%s)",
			  cli_stop_sig == SIGINT ? "SIGINT" : "SIGTERM");
		return keep_partial(out, output, 128 + cli_stop_sig);
	}
	if (kiln_out_commit(out, &err)) {
		if (output && strcmp(output, "-"))
			cli_error("verify", "%s; %s is unchanged", err.msg,
				  output);
		else
			cli_error("verify", "%s", err.msg);
		return 1;
	}
	if (!a.quiet) {
		fprintf(stderr, "kiln verify: %ld verdicts in %.2fs: %.1f "
			"programs/s, %.1f tests/s\n", st.verdicts, st.seconds,
			st.seconds > 0 ? st.verdicts / st.seconds : 0.0,
			st.seconds > 0 ? st.tests / st.seconds : 0.0);
		for (int s = 0; s < KILN_NSTATUS; s++)
			fprintf(stderr, "%s%s %ld", s ? "  " : "  ",
				kiln_status_name((kiln_status)s), st.status[s]);
		fputc('\n', stderr);
		if (st.bad_lines)
			fprintf(stderr, "  %ld bad input lines skipped\n",
				st.bad_lines);
	}
	return 0;
}

const cli_cmd cli_verify = {
	.name = "verify", .run = run_verify, .opts = verify_opts,
	.summary = "run solutions against their tests in the sandbox",
	.synopsis = "usage: kiln verify [options] [FILE|-]",
	.about =
"Runs every record's solution against its tests in the sandbox and writes\n"
"one verdict a record (JSON Lines, input order) to stdout or -o FILE. Input\n"
"is task records (the reference solution is verified) or candidate records;\n"
"each needs 'solution' and 'tests' (a list of independent snippets, judged\n"
"one by one, or one test program). A summary goes to stderr.\n"
"\n"
"Statuses: pass, fail (assertion), error (exception, compile error),\n"
"timeout, memory, output_limit, killed (signal), sandbox_error (kiln's fault).\n",
	.after = "Languages: python, c (field 'language'; default python).\n"
"A run that stops early (a bad line, an error, SIGINT or SIGTERM, after\n"
"which the runs in flight finish) leaves FILE as it was and keeps the\n"
"verdicts it made in FILE.partial; it exits non-zero.\n",
};
