#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "kiln/jsonl.h"
#include "kiln/sandbox.h"
#include "kiln/task.h"
#include "kiln/verify.h"

static const char usage[] =
"usage: kiln verify [options] [FILE|-]\n"
"\n"
"Runs every record's solution against its tests in the sandbox and writes\n"
"one verdict a record (JSON Lines, input order) to stdout or -o FILE. Input\n"
"is task records (the reference solution is verified) or candidate records;\n"
"each needs 'solution' and 'tests' (a list of independent snippets, judged\n"
"one by one, or one test program). A summary goes to stderr.\n"
"\n"
"Statuses: pass, fail (assertion), error (exception, compile error),\n"
"timeout, memory, output_limit, killed (signal), sandbox_error (kiln's fault).\n"
"\n"
"options:\n"
"  -o, --output FILE        write verdicts here (atomically)\n"
"  -j, --jobs N             parallel sandboxes (default: number of cores)\n"
"      --timeout DUR        wall clock per test, e.g. 5s, 500ms (default 5s)\n"
"      --memory SIZE        address space per process, e.g. 512M (default)\n"
"      --output-limit SIZE  stdout+stderr bytes per run (default 1M)\n"
"      --cpu DUR            CPU time per process (default (tests+1) x timeout)\n"
"      --nproc N            processes per sandbox (default 64)\n"
"      --tmpfs SIZE         size of the sandbox's writable /tmp (default 64M)\n"
"      --tasks FILE         task records with reference solutions, for\n"
"                           relative timeouts\n"
"      --timeout-factor K   with --tasks: per-test timeout is\n"
"                           max(floor, K x the reference's slowest test)\n"
"      --timeout-floor DUR  the floor (default 1s)\n"
"      --cold               start a fresh interpreter per run (slow; for\n"
"                           checking that the warm zygote agrees)\n"
"      --python PATH        interpreter inside the sandbox (/usr/bin/python3)\n"
"      --on-error MODE      stop (default) or skip a bad input line\n"
"  -q, --quiet              no progress bar and no summary\n"
"  -h, --help               this text\n"
"\n"
"Languages: python, c (field 'language'; default python).\n";

struct progress {
	int tty;
	int quiet;
	long total;   /* lines in the input, if it could be counted */
	double last;
};

static void on_progress(void *ctx, const kiln_verify_stats *st)
{
	struct progress *p = ctx;
	char bar[41];
	int fill;
	double rate;

	if (!p->tty || p->quiet)
		return;
	if (st->seconds - p->last < 0.1 && st->verdicts != p->total)
		return;
	p->last = st->seconds;
	rate = st->seconds > 0 ? st->verdicts / st->seconds : 0;
	if (p->total > 0) {
		fill = (int)(40.0 * st->verdicts / p->total);
		if (fill > 40)
			fill = 40;
		memset(bar, '#', (size_t)fill);
		memset(bar + fill, '.', (size_t)(40 - fill));
		bar[40] = '\0';
		fprintf(stderr, "\r[%s] %ld/%ld  %.0f/s  pass %ld  ETA %.0fs  ",
			bar, st->verdicts, p->total, rate,
			st->status[KILN_PASS],
			rate > 0 ? (p->total - st->verdicts) / rate : 0.0);
	} else {
		fprintf(stderr, "\r%ld verified  %.0f/s  pass %ld  ",
			st->verdicts, rate, st->status[KILN_PASS]);
	}
}

static void on_bad_line(void *ctx, const kiln_error *err)
{
	struct progress *p = ctx;
	if (p->tty && !p->quiet)
		fputs("\r\033[K", stderr); /* clear the bar's line first */
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

int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "memory", required_argument, NULL, 'm' },
		{ "output-limit", required_argument, NULL, 'O' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "nproc", required_argument, NULL, 'n' },
		{ "tmpfs", required_argument, NULL, 'T' },
		{ "tasks", required_argument, NULL, 'R' },
		{ "timeout-factor", required_argument, NULL, 'F' },
		{ "timeout-floor", required_argument, NULL, 'L' },
		{ "cold", no_argument, NULL, 'C' },
		{ "python", required_argument, NULL, 'P' },
		{ "on-error", required_argument, NULL, 'E' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	kiln_verify_opts o;
	kiln_verify_stats st;
	struct progress prog = { 0 };
	const char *output = NULL, *input = "-", *tasks = NULL;
	json_t *refs = NULL;
	kiln_jsonl_reader *in = NULL;
	kiln_out *out = NULL;
	kiln_error err;
	char *end;
	int c, rc;

	memset(&o, 0, sizeof(o));
	kiln_limits_default(&o.box.limits);
	o.timeout_floor_ms = 1000;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:j:qh", opts, NULL)) != -1) {
		long long v = 0;
		switch (c) {
		case 'o': output = optarg; break;
		case 'j':
			v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > 1024)
				goto bad;
			o.jobs = (int)v;
			break;
		case 't': case 'c': case 'L':
			v = cli_parse_duration_ms(optarg);
			if (v <= 0)
				goto bad;
			if (c == 't')
				o.box.limits.timeout_ms = (long)v;
			else if (c == 'c')
				o.box.limits.cpu_ms = (long)v;
			else
				o.timeout_floor_ms = (long)v;
			break;
		case 'm': case 'O': case 'T':
			v = cli_parse_size(optarg);
			if (v < 0 || (v == 0 && c != 'm'))
				goto bad;
			if (c == 'm')
				o.box.limits.memory = v;
			else if (c == 'O')
				o.box.limits.output = v;
			else
				o.box.limits.tmpfs = v;
			break;
		case 'n':
			v = strtol(optarg, &end, 10);
			if (*end || v < 2 || v > 100000)
				goto bad;
			o.box.limits.nproc = (int)v;
			break;
		case 'R': tasks = optarg; break;
		case 'F':
			o.timeout_factor = strtod(optarg, &end);
			if (*end || o.timeout_factor <= 0)
				goto bad;
			break;
		case 'C': o.box.cold = 1; break;
		case 'P': o.box.python = optarg; break;
		case 'E':
			if (strcmp(optarg, "skip") == 0)
				o.skip_bad = 1;
			else if (strcmp(optarg, "stop") != 0)
				goto bad;
			break;
		case 'q': prog.quiet = 1; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
		continue;
bad:
		cli_error("verify", "invalid value '%s' for --%s", optarg,
			  opts[0].name ? (c == 'j' ? "jobs" : c == 't' ? "timeout"
			  : c == 'c' ? "cpu" : c == 'L' ? "timeout-floor"
			  : c == 'm' ? "memory" : c == 'O' ? "output-limit"
			  : c == 'T' ? "tmpfs" : c == 'n' ? "nproc"
			  : c == 'F' ? "timeout-factor" : "on-error") : "?");
		return 2;
	}
	if (optind < argc - 1) {
		cli_error("verify", "expected at most one input FILE");
		return 2;
	}
	if (optind == argc - 1)
		input = argv[optind];
	if (o.timeout_factor > 0 && !tasks) {
		cli_error("verify", "--timeout-factor needs --tasks FILE with "
			  "reference solutions");
		return 2;
	}
	if (kiln_sandbox_check(&o.box, &err)) {
		cli_error("verify", "%s", err.msg);
		return 1;
	}
	if (tasks && load_tasks(tasks, &refs))
		return 1;
	o.references = refs;
	prog.tty = isatty(STDERR_FILENO);
	if (prog.tty && !prog.quiet)
		prog.total = count_lines(input);
	o.progress = on_progress;
	o.bad_line = on_bad_line;
	o.ctx = &prog;

	if (kiln_jsonl_open(&in, input, 0, &err) ||
	    kiln_out_open(&out, output, &err)) {
		cli_error("verify", "%s", err.msg);
		kiln_jsonl_close(in);
		json_decref(refs);
		return 1;
	}
	rc = kiln_verify_stream(in, out, &o, &st, &err);
	kiln_jsonl_close(in);
	json_decref(refs);
	if (prog.tty && !prog.quiet)
		fputc('\n', stderr);
	if (rc) {
		cli_error("verify", "%s", err.msg);
		/* Keep the verdicts already made: they cost sandbox time. */
		if (st.verdicts > 0) {
			kiln_error e2;
			if (kiln_out_commit(out, &e2) == 0 && output)
				cli_error("verify", "stopped; the %ld verdicts "
					  "before the error are in %s",
					  st.verdicts, output);
		} else {
			kiln_out_abort(out);
		}
		return 1;
	}
	if (kiln_out_commit(out, &err)) {
		cli_error("verify", "%s", err.msg);
		return 1;
	}
	if (!prog.quiet) {
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
