/* kiln sample: generate text from a checkpoint, streaming to stdout. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kiln/model.h"
#include "kiln/sample.h"
#include "kiln/tokenizer.h"

static const char help[] =
"usage: kiln sample --model MODEL.bin --prompt TEXT [options]\n"
"\n"
"Continues TEXT with the model and prints the completion (not the prompt) on\n"
"stdout as it is decoded. The prompt runs through the model in one batch,\n"
"then each new token reuses the keys and values cached for the ones before.\n"
"Generation ends at the tokenizer's end-of-text token, a stop sequence (not\n"
"printed), --max-tokens, or the end of the model's context.\n"
"\n"
"options:\n"
"  -m, --model FILE         a checkpoint from 'kiln train' (required)\n"
"  -p, --prompt TEXT        the text to continue (required; may be empty)\n"
"      --prompt-file FILE   read the prompt from FILE instead\n"
"  -t, --temperature T      0 = greedy (default 0.8)\n"
"      --top-k K            sample among the K most likely tokens (0 = all;\n"
"                           default 0)\n"
"      --top-p P            sample among the most likely tokens that together\n"
"                           reach P (default 0.95; 1 = all)\n"
"  -n, --max-tokens N       tokens to generate at most (default 256)\n"
"      --stop S             stop before S (repeatable, at most 16)\n"
"  -s, --seed N             the same seed gives the same text (default 1)\n"
"  -h, --help               this text\n"
"\n"
"Usage figures (tokens, finish reason) go to stderr.\n";

struct out {
	int failed;
};

static int on_text(void *ctx, const char *text, size_t n)
{
	struct out *o = ctx;

	if (fwrite(text, 1, n, stdout) != n || fflush(stdout)) {
		o->failed = 1;
		return 1;
	}
	return 0;
}

static int parse_double(const char *s, double lo, double hi, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	return errno || end == s || *end || !(*v >= lo && *v <= hi) ? -1 : 0;
}

static int parse_long(const char *s, long long lo, long long hi, long long *v)
{
	char *end;

	errno = 0;
	*v = strtoll(s, &end, 10);
	return errno || end == s || *end || *v < lo || *v > hi ? -1 : 0;
}

int cmd_sample(int argc, char **argv)
{
	enum { O_TOPK = 256, O_TOPP, O_STOP, O_PROMPT_FILE };
	static const struct option opts[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "prompt", required_argument, NULL, 'p' },
		{ "prompt-file", required_argument, NULL, O_PROMPT_FILE },
		{ "temperature", required_argument, NULL, 't' },
		{ "top-k", required_argument, NULL, O_TOPK },
		{ "top-p", required_argument, NULL, O_TOPP },
		{ "max-tokens", required_argument, NULL, 'n' },
		{ "stop", required_argument, NULL, O_STOP },
		{ "seed", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *model = NULL, *prompt = NULL, *prompt_file = NULL;
	const char *stops[KILN_SAMPLE_MAX_STOP];
	char *file_text = NULL;
	kiln_sample_params p;
	kiln_sample_result res;
	kiln_error err = { 0, "" };
	kiln_gpt *m = NULL;
	kiln_tok *tok = NULL;
	kiln_kv *kv = NULL;
	kiln_blob blob = { 0 };
	struct out o = { 0 };
	int *ids = NULL, rc = 1, c;
	int nids = 0;
	double d;
	long long ll;

	kiln_sample_params_default(&p);
	p.temperature = 0.8;
	p.top_p = 0.95;
	p.seed = 1;
	p.stop = stops;
	optind = 1;
	while ((c = getopt_long(argc, argv, "m:p:t:n:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model = optarg; break;
		case 'p': prompt = optarg; break;
		case O_PROMPT_FILE: prompt_file = optarg; break;
		case 't':
			if (parse_double(optarg, 0, 100, &d)) {
				cli_error("sample", "--temperature %s: expected a "
					  "number in 0..100", optarg);
				return 2;
			}
			p.temperature = d;
			break;
		case O_TOPK:
			if (parse_long(optarg, 0, 1 << 30, &ll)) {
				cli_error("sample", "--top-k %s: expected an "
					  "integer >= 0", optarg);
				return 2;
			}
			p.top_k = (int)ll;
			break;
		case O_TOPP:
			if (parse_double(optarg, 1e-9, 1, &d)) {
				cli_error("sample", "--top-p %s: expected a "
					  "number in (0, 1]", optarg);
				return 2;
			}
			p.top_p = d;
			break;
		case 'n':
			if (parse_long(optarg, 1, 1 << 20, &ll)) {
				cli_error("sample", "--max-tokens %s: expected an "
					  "integer >= 1", optarg);
				return 2;
			}
			p.max_tokens = (int)ll;
			break;
		case O_STOP:
			if (p.n_stop == KILN_SAMPLE_MAX_STOP || !*optarg) {
				cli_error("sample", "--stop: at most %d non-empty "
					  "stop sequences", KILN_SAMPLE_MAX_STOP);
				return 2;
			}
			stops[p.n_stop++] = optarg;
			break;
		case 's':
			if (parse_long(optarg, 0, INT64_MAX, &ll)) {
				cli_error("sample", "--seed %s: expected an "
					  "integer >= 0", optarg);
				return 2;
			}
			p.seed = (uint64_t)ll;
			break;
		case 'h':
			fputs(help, stdout);
			return 0;
		default:
			fputs(help, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		cli_error("sample", "unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (!model || (!prompt && !prompt_file)) {
		cli_error("sample", "give --model FILE and --prompt TEXT "
			  "(see --help)");
		return 2;
	}
	if (prompt_file) {
		if (!(file_text = cli_read_file(prompt_file))) {
			cli_error("sample", "%s: cannot read (or over 16 MiB)",
				  prompt_file);
			return 1;
		}
		prompt = file_text;
	}
	if (kiln_sample_params_check(&p, &err) ||
	    kiln_gpt_load(model, &m, &blob, NULL, &err) ||
	    kiln_tok_deserialize(&tok, blob.data, blob.len, &err))
		goto fail;
	if (kiln_tok_vocab(tok) != m->cfg.vocab) {
		cli_error("sample", "%s: the tokenizer has %d ids, the model %d",
			  model, kiln_tok_vocab(tok), m->cfg.vocab);
		goto out;
	}
	if (kiln_sample_prompt(tok, prompt, strlen(prompt), m->cfg.n_ctx,
			       &ids, &nids, &err))
		goto fail;
	if (kiln_kv_new(&kv, m, 1, &err) ||
	    kiln_sample_run(m, kv, 0, tok, ids, nids, &p, on_text, &o,
			    &res, &err))
		goto fail;
	if (o.failed) {
		cli_error("sample", "writing to stdout: %s", strerror(errno));
		goto out;
	}
	fprintf(stderr, "kiln sample: prompt %d tokens, completion %d tokens, "
		"finish %s\n", res.prompt_tokens, res.completion_tokens,
		res.finish == KILN_FINISH_LENGTH ? "length" : "stop");
	rc = 0;
	goto out;
fail:
	cli_error("sample", "%s", err.msg);
out:
	free(ids);
	free(file_text);
	free(blob.data);
	kiln_kv_free(kv);
	kiln_tok_free(tok);
	kiln_gpt_free(m);
	return rc;
}
