#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "kiln/eval.h"
#include "kiln/jsonl.h"
#include "kiln/store.h"
#include "kiln/task.h"

static const char usage[] =
"usage: kiln eval --backend URL --benchmark humaneval|mbpp|FILE [options]\n"
"\n"
"Measures a model's pass@k: n completions per task, each verified in the\n"
"sandbox against the benchmark's own tests, and the unbiased estimator of\n"
"Chen et al. (2021), per task and overall. A table goes to stderr, a JSON\n"
"summary ({\"pass@1\": ..., \"per_task\": [...]}) to stdout.\n"
"\n"
"options:\n"
"  -b, --backend URL        base URL ending in /v1 (required)\n"
"  -m, --model NAME         model name\n"
"      --api-key-env VAR    API key from this environment variable\n"
"      --benchmark B        humaneval, mbpp (published files, found in\n"
"                           --data-dir) or a kiln task file\n"
"      --data-dir DIR       where HumanEval.jsonl.gz and mbpp.jsonl are\n"
"                           (default: $KILN_DATA_DIR, else shared/data\n"
"                           beside the repository)\n"
"  -n N                     samples per task (default 1)\n"
"      --choices N          samples per request, the API's n (default 1):\n"
"                           n samples take ceil(n/N) requests\n"
"  -k LIST                  e.g. 1,10 (default 1); each k <= n\n"
"      --limit N            only the first N tasks\n"
"      --temperature T      (default 0.8; 0 for greedy)\n"
"      --top-p P, --max-tokens N, --seed S, --completions,\n"
"      --template-solution FILE      as for kiln generate\n"
"  -c, --concurrency N      requests in flight (default 16)\n"
"  -j, --jobs N             parallel sandboxes (default: cores)\n"
"      --timeout DUR        per test in the sandbox (default 5s)\n"
"  -o, --output FILE        per-sample verdicts (default: eval.samples.jsonl)\n"
"      --store FILE         job store (default: OUTPUT.store)\n"
"  -q, --quiet              no table\n"
"  -h, --help               this text\n";

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

static json_t *load_tasks(const char *bench, const char *data_dir, long limit)
{
	kiln_import_format fmt;
	int import = 0;
	char path[PATH_MAX + 64];
	kiln_jsonl_reader *in;
	kiln_error err;
	json_t *tasks = json_array(), *rec, *t;
	int rc;

	if (strcmp(bench, "humaneval") == 0 || strcmp(bench, "mbpp") == 0) {
		const char *file = bench[0] == 'h' ? "HumanEval.jsonl.gz"
						   : "mbpp.jsonl";
		kiln_import_format_parse(bench, &fmt, NULL);
		import = 1;
		if (find_data(data_dir, file, path, sizeof(path))) {
			cli_error("eval", "cannot find %s (give --data-dir, "
				  "or set KILN_DATA_DIR)", file);
			json_decref(tasks);
			return NULL;
		}
	} else {
		snprintf(path, sizeof(path), "%s", bench);
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

int cmd_eval(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "model", required_argument, NULL, 'm' },
		{ "api-key-env", required_argument, NULL, 'K' },
		{ "benchmark", required_argument, NULL, 'B' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "limit", required_argument, NULL, 'l' },
		{ "choices", required_argument, NULL, 'N' },
		{ "temperature", required_argument, NULL, 't' },
		{ "top-p", required_argument, NULL, 'p' },
		{ "max-tokens", required_argument, NULL, 'M' },
		{ "seed", required_argument, NULL, 's' },
		{ "completions", no_argument, NULL, 'C' },
		{ "template-solution", required_argument, NULL, '1' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "output", required_argument, NULL, 'o' },
		{ "store", required_argument, NULL, 'D' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	kiln_eval_opts o;
	int ks[16], quiet = 0, c, rc = 1;
	const char *bench = NULL, *data_dir = NULL, *keyenv = NULL;
	const char *output = "eval.samples.jsonl", *store_path = NULL;
	char store_buf[4096], cand_buf[4096], *tmpl = NULL, *end;
	long limit = 0;
	json_t *tasks = NULL, *summary = NULL;
	kiln_store *store = NULL;
	kiln_error err;

	memset(&o, 0, sizeof(o));
	kiln_generate_opts_default(&o.gen);
	o.gen.test_sets = 0;          /* the benchmark's own tests judge */
	kiln_limits_default(&o.verify.box.limits);
	ks[0] = 1;
	o.ks = ks;
	o.nks = 1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "b:m:n:k:c:j:o:qh", opts,
				NULL)) != -1) {
		long v;
		switch (c) {
		case 'b': o.gen.llm.base_url = optarg; break;
		case 'm': o.gen.model = optarg; break;
		case 'K': keyenv = optarg; break;
		case 'B': bench = optarg; break;
		case 'd': data_dir = optarg; break;
		case 'n': case 'c': case 'j': case 'M': case 'l': case 'N':
			v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > 100000 || (c == 'N' && v > 128))
				goto bad;
			if (c == 'n') o.gen.k = (int)v;
			else if (c == 'N') o.gen.n = (int)v;
			else if (c == 'c') o.gen.llm.concurrency = (int)v;
			else if (c == 'j') o.verify.jobs = (int)v;
			else if (c == 'M') o.gen.max_tokens = (int)v;
			else limit = v;
			break;
		case 'k': {
			char *s = optarg;
			o.nks = 0;
			while (*s && o.nks < 16) {
				v = strtol(s, &end, 10);
				if (end == s || v < 1)
					goto bad;
				ks[o.nks++] = (int)v;
				s = *end == ',' ? end + 1 : end;
				if (*end && *end != ',')
					goto bad;
			}
			break;
		}
		case 't': o.gen.temperature = strtod(optarg, &end);
			if (*end) goto bad;
			break;
		case 'p': o.gen.top_p = strtod(optarg, &end);
			if (*end) goto bad;
			break;
		case 's': o.gen.seed = strtol(optarg, &end, 10);
			if (*end) goto bad;
			break;
		case 'C': o.gen.completions = 1; break;
		case '1':
			free(tmpl);
			tmpl = cli_read_file(optarg);
			if (!tmpl) {
				cli_error("eval", "%s: cannot read the template",
					  optarg);
				goto out;
			}
			o.gen.tmpl_solution = tmpl;
			break;
		case 'T':
			v = cli_parse_duration_ms(optarg);
			if (v <= 0)
				goto bad;
			o.verify.box.limits.timeout_ms = v;
			break;
		case 'o': output = optarg; break;
		case 'D': store_path = optarg; break;
		case 'q': quiet = 1; break;
		case 'h': fputs(usage, stdout); rc = 0; goto out;
		default: fputs(usage, stderr); rc = 2; goto out;
		}
		continue;
bad:
		cli_error("eval", "invalid value '%s' for an option", optarg);
		rc = 2;
		goto out;
	}
	if (!o.gen.llm.base_url || !bench || optind != argc) {
		cli_error("eval", "--backend and --benchmark are required");
		fputs(usage, stderr);
		rc = 2;
		goto out;
	}
	for (size_t i = 0; i < o.nks; i++)
		if (ks[i] > o.gen.k) {
			cli_error("eval", "pass@%d needs -n %d or more samples",
				  ks[i], ks[i]);
			rc = 2;
			goto out;
		}
	if (keyenv && !(o.gen.llm.api_key = getenv(keyenv))) {
		cli_error("eval", "--api-key-env: %s is not set", keyenv);
		rc = 2;
		goto out;
	}
	tasks = load_tasks(bench, data_dir, limit);
	if (!tasks)
		goto out;
	if (!store_path) {
		snprintf(store_buf, sizeof(store_buf), "%s.store", output);
		store_path = store_buf;
	}
	snprintf(cand_buf, sizeof(cand_buf), "%s.candidates", output);
	o.candidates_path = cand_buf;
	o.samples_path = output;
	o.verify.skip_bad = 0;
	if (kiln_store_open(&store, store_path, &err) ||
	    kiln_eval(tasks, store, &o, &summary, &err)) {
		cli_error("eval", "%s", err.msg);
		goto out;
	}
	if (!quiet) {
		fprintf(stderr, "kiln eval: %s, %zu tasks, n = %d\n", bench,
			json_array_size(tasks), o.gen.k);
		for (size_t i = 0; i < o.nks; i++) {
			char key[32];
			snprintf(key, sizeof(key), "pass@%d", ks[i]);
			fprintf(stderr, "  %-10s %6.2f%%\n", key, 100.0 *
				json_real_value(json_object_get(summary, key)));
		}
	}
	json_dumpf(summary, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	rc = 0;
out:
	json_decref(summary);
	json_decref(tasks);
	kiln_store_close(store);
	free(tmpl);
	return rc;
}
