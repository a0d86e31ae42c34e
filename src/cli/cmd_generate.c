#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "kiln/generate.h"
#include "kiln/jsonl.h"
#include "kiln/store.h"

static const char usage[] =
"usage: kiln generate --backend URL [options] TASKS.jsonl\n"
"\n"
"Asks a teacher model (any OpenAI-compatible server: llama.cpp, vLLM,\n"
"SGLang, Ollama, TGI, hosted APIs) for k candidate solutions per task and,\n"
"separately, for unit tests written from the task alone. Every request and\n"
"answer is kept in a job store (SQLite): a run that is killed resumes where\n"
"it stopped, and never re-sends a request that was answered. Candidates\n"
"(JSON Lines) are written in task order as tasks complete.\n"
"\n"
"options:\n"
"  -b, --backend URL        base URL ending in /v1 (required)\n"
"  -m, --model NAME         model name sent with each request\n"
"      --api-key-env VAR    read the API key from this environment variable\n"
"  -k N                     solutions per task (default 1)\n"
"      --n N                choices per request, the API's n (default 1):\n"
"                           k solutions take ceil(k/N) requests\n"
"      --test-sets N        test requests per task (default 1, 0 with\n"
"                           --joint; 0 = none: the task's own tests)\n"
"      --joint              each of the k requests asks for a solution and\n"
"                           its tests together (template joint); every\n"
"                           candidate gets all k answers' tests, pooled\n"
"      --temperature T      (default 0.8)\n"
"      --top-p P            (default 0.95)\n"
"      --max-tokens N       (default 1024)\n"
"      --stop S             a stop sequence\n"
"      --seed S             candidate i is sent seed S+i (default 1234)\n"
"      --completions        use /completions instead of /chat/completions\n"
"      --template-solution FILE, --template-tests FILE,\n"
"      --template-joint FILE\n"
"                           prompt templates; variables {prompt},\n"
"                           {entry_point}, {language} (defaults: data/templates)\n"
"  -o, --output FILE        candidates here (atomically); default stdout\n"
"      --store FILE         job store (default: OUTPUT.store, or kiln.store)\n"
"      --no-cache           send even when an identical request was answered\n"
"      --retry-failed       send again this run's requests that ended in an\n"
"                           error\n"
"  -c, --concurrency N      requests in flight (default 16)\n"
"      --timeout DUR        per attempt (default 120s)\n"
"      --attempts N         per request (default 6)\n"
"      --max-rpm N, --max-input-tpm N, --max-output-tpm N\n"
"                           per-minute limits on requests and tokens\n"
"      --price-in USD, --price-out USD\n"
"                           price per million input/output tokens: shows cost\n"
"  -q, --quiet              no progress and no summary\n"
"  -h, --help               this text\n";

static void *preload_llm(void *arg)
{
	(void)arg;
	kiln_llm_preload();
	return NULL;
}

struct gprog {
	int tty, quiet;
	double price_in, price_out;
	double last;
};

static void on_progress(void *ctx, const kiln_generate_stats *st)
{
	struct gprog *p = ctx;
	long todo = st->jobs - st->already - st->cached;
	long got = st->sent + st->failed;
	double rate;

	if (!p->tty || p->quiet || (st->seconds - p->last < 0.1 && got < todo))
		return;
	p->last = st->seconds;
	rate = st->seconds > 0 ? got / st->seconds : 0;
	fprintf(stderr, "\r%ld/%ld requests  %.1f/s  ETA %.0fs  tokens %ld in "
		"%ld out  errors %ld", got, todo, rate,
		rate > 0 ? (todo - got) / rate : 0.0, st->input_tokens,
		st->output_tokens, st->failed);
	if (p->price_in > 0 || p->price_out > 0) {
		double cost = (st->input_tokens * p->price_in +
			       st->output_tokens * p->price_out) / 1e6;
		fprintf(stderr, "  $%.4f (projected $%.4f)", cost,
			got ? cost * todo / got : 0.0);
	}
	fputs("  ", stderr);
}

int cmd_generate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "model", required_argument, NULL, 'm' },
		{ "api-key-env", required_argument, NULL, 'K' },
		{ "test-sets", required_argument, NULL, 'T' },
		{ "temperature", required_argument, NULL, 't' },
		{ "top-p", required_argument, NULL, 'p' },
		{ "max-tokens", required_argument, NULL, 'M' },
		{ "stop", required_argument, NULL, 'S' },
		{ "seed", required_argument, NULL, 's' },
		{ "completions", no_argument, NULL, 'C' },
		{ "template-solution", required_argument, NULL, '1' },
		{ "template-tests", required_argument, NULL, '2' },
		{ "template-joint", required_argument, NULL, '8' },
		{ "joint", no_argument, NULL, 'J' },
		{ "n", required_argument, NULL, 'n' },
		{ "output", required_argument, NULL, 'o' },
		{ "store", required_argument, NULL, 'D' },
		{ "no-cache", no_argument, NULL, 'N' },
		{ "retry-failed", no_argument, NULL, 'R' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 'W' },
		{ "attempts", required_argument, NULL, 'A' },
		{ "max-rpm", required_argument, NULL, '3' },
		{ "max-input-tpm", required_argument, NULL, '4' },
		{ "max-output-tpm", required_argument, NULL, '5' },
		{ "price-in", required_argument, NULL, '6' },
		{ "price-out", required_argument, NULL, '7' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	kiln_generate_opts o;
	kiln_generate_stats st;
	struct gprog prog = { 0 };
	const char *output = NULL, *store_path = NULL, *keyenv = NULL;
	char *tmpl[3] = { NULL, NULL, NULL }, defstore[4096];
	pthread_t preload;
	int preloading = 0;
	int test_sets_given = 0;
	json_t *tasks = NULL, *rec;
	kiln_jsonl_reader *in = NULL;
	kiln_store *store = NULL;
	kiln_out *out = NULL;
	kiln_error err;
	char *end;
	int c, rc = 1;

	/* A run allocates and frees many small blocks on two threads; glibc
	 * returns the store thread's freed memory to the system (madvise)
	 * as soon as 128 KiB are free at the top of its heap, and takes it
	 * back page fault by page fault: a tenth of the run's time against a
	 * fast server. Keep up to 64 MiB instead. */
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	kiln_generate_opts_default(&o);
	optind = 1;
	while ((c = getopt_long(argc, argv, "b:m:k:o:c:qh", opts, NULL)) != -1) {
		long v;
		double d;
		switch (c) {
		case 'b': o.llm.base_url = optarg; break;
		case 'm': o.model = optarg; break;
		case 'K': keyenv = optarg; break;
		case 'k': case 'T': case 'M': case 'c': case 'A': case 'n':
			v = strtol(optarg, &end, 10);
			if (*end || v < (c == 'T' ? 0 : 1) || v > 100000 ||
			    (c == 'n' && v > 128))
				goto bad;
			if (c == 'k') o.k = (int)v;
			else if (c == 'n') o.n = (int)v;
			else if (c == 'T') o.test_sets = (int)v,
				test_sets_given = 1;
			else if (c == 'M') o.max_tokens = (int)v;
			else if (c == 'c') o.llm.concurrency = (int)v;
			else o.llm.max_attempts = (int)v;
			break;
		case 't': case 'p': case '3': case '4': case '5': case '6':
		case '7':
			d = strtod(optarg, &end);
			if (*end || d < 0)
				goto bad;
			if (c == 't') o.temperature = d;
			else if (c == 'p') o.top_p = d;
			else if (c == '3') o.llm.max_rpm = d;
			else if (c == '4') o.llm.max_input_tpm = d;
			else if (c == '5') o.llm.max_output_tpm = d;
			else if (c == '6') prog.price_in = d;
			else prog.price_out = d;
			break;
		case 'S': o.stop = optarg; break;
		case 's':
			o.seed = strtol(optarg, &end, 10);
			if (*end)
				goto bad;
			break;
		case 'C': o.completions = 1; break;
		case 'J': o.joint = 1; break;
		case '1': case '2': case '8':
			v = c == '8' ? 2 : c - '1';
			free(tmpl[v]);
			tmpl[v] = cli_read_file(optarg);
			if (!tmpl[v]) {
				cli_error("generate", "%s: cannot read the "
					  "template", optarg);
				goto out;
			}
			break;
		case 'o': output = optarg; break;
		case 'D': store_path = optarg; break;
		case 'N': o.no_cache = 1; break;
		case 'R': o.retry_failed = 1; break;
		case 'W':
			v = cli_parse_duration_ms(optarg);
			if (v <= 0)
				goto bad;
			o.llm.timeout_ms = v;
			break;
		case 'q': prog.quiet = 1; break;
		case 'h': fputs(usage, stdout); rc = 0; goto out;
		default: fputs(usage, stderr); rc = 2; goto out;
		}
		continue;
bad:
		cli_error("generate", "invalid value '%s' for an option", optarg);
		rc = 2;
		goto out;
	}
	if (!o.llm.base_url || optind != argc - 1) {
		cli_error("generate", "%s", !o.llm.base_url
			  ? "--backend URL is required"
			  : "expected exactly one TASKS file");
		fputs(usage, stderr);
		rc = 2;
		goto out;
	}
	if (keyenv) {
		o.llm.api_key = getenv(keyenv);
		if (!o.llm.api_key) {
			cli_error("generate", "--api-key-env: %s is not set",
				  keyenv);
			rc = 2;
			goto out;
		}
	}
	if (o.joint && o.completions) {
		cli_error("generate", "--joint needs chat completions; it "
			  "cannot go with --completions");
		rc = 2;
		goto out;
	}
	if (o.joint && !test_sets_given)
		o.test_sets = 0; /* the joint answers hold the tests */
	o.tmpl_solution = tmpl[0];
	o.tmpl_tests = tmpl[1];
	o.tmpl_joint = tmpl[2];
	if (!store_path) {
		snprintf(defstore, sizeof(defstore), "%s.store",
			 output && strcmp(output, "-") ? output : "kiln");
		store_path = defstore;
	}

	/* libcurl and its ~30 libraries load while the tasks are read */
	preloading = pthread_create(&preload, NULL, preload_llm, NULL) == 0;
	/* The tasks, all of them: candidates are written in their order. */
	tasks = json_array();
	if (kiln_jsonl_open(&in, argv[optind], 0, &err)) {
		cli_error("generate", "%s", err.msg);
		goto out;
	}
	while ((c = kiln_jsonl_next(in, &rec, &err)) == 0) {
		if (!json_is_string(json_object_get(rec, "id")) ||
		    !json_is_string(json_object_get(rec, "prompt"))) {
			cli_error("generate", "%s:%ld: a task needs string "
				  "fields 'id' and 'prompt'", argv[optind],
				  kiln_jsonl_lineno(in));
			json_decref(rec);
			goto out;
		}
		json_array_append_new(tasks, rec);
	}
	if (c != KILN_EEOF) {
		cli_error("generate", "%s", err.msg);
		goto out;
	}
	if (kiln_store_open(&store, store_path, &err) ||
	    kiln_out_open(&out, output, &err)) {
		cli_error("generate", "%s", err.msg);
		goto out;
	}
	prog.tty = isatty(STDERR_FILENO);
	o.progress = on_progress;
	o.ctx = &prog;
	if (kiln_generate(tasks, store, out, &o, &st, &err)) {
		if (prog.tty && !prog.quiet)
			fputc('\n', stderr);
		cli_error("generate", "%s (answers so far are kept in %s; run "
			  "again to resume)", err.msg, store_path);
		kiln_out_abort(out);
		out = NULL;
		goto out;
	}
	if (prog.tty && !prog.quiet)
		fputc('\n', stderr);
	if (kiln_out_commit(out, &err)) {
		out = NULL;
		cli_error("generate", "%s", err.msg);
		goto out;
	}
	out = NULL;
	if (!prog.quiet) {
		fprintf(stderr, "kiln generate: %ld candidates from %zu tasks in "
			"%.1fs; requests: %ld needed, %ld settled before, %ld "
			"from cache, %ld sent, %ld failed; tokens %ld in, %ld "
			"out", st.candidates, json_array_size(tasks), st.seconds,
			st.jobs, st.already, st.cached, st.sent, st.failed,
			st.input_tokens, st.output_tokens);
		if (prog.price_in > 0 || prog.price_out > 0)
			fprintf(stderr, "; cost $%.4f",
				(st.input_tokens * prog.price_in +
				 st.output_tokens * prog.price_out) / 1e6);
		fputc('\n', stderr);
		if (st.extract_errors)
			fprintf(stderr, "  %ld answers had no usable code "
				"(see 'extraction' in the records)\n",
				st.extract_errors);
		if (st.failed)
			fprintf(stderr, "  %ld requests failed; their errors "
				"are in %s; --retry-failed sends them again\n",
				st.failed, store_path);
	}
	rc = 0;
out:
	if (preloading)
		pthread_join(preload, NULL);
	kiln_out_abort(out);
	kiln_store_close(store);
	kiln_jsonl_close(in);
	json_decref(tasks);
	for (int i = 0; i < 3; i++)
		free(tmpl[i]);
	return rc;
}
