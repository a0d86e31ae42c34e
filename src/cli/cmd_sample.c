/* kiln sample: generate text from a checkpoint, streaming to stdout. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kiln/model.h"
#include "kiln/sample.h"
#include "kiln/tokenizer.h"

struct sample_args {
	kiln_sample_params p;
	const char *stops[KILN_SAMPLE_MAX_STOP];
	const char *model, *prompt, *prompt_file;
};

#define A struct sample_args
static const kiln_opt sample_opts[] = {
	KILN_OPT_ROW_PATH("model", 'm', A, model, "FILE",
		"a checkpoint from 'kiln train' (required)"),
	KILN_OPT_ROW_STRING("prompt", 'p', A, prompt, "TEXT",
		"the text to continue (required; may be empty)"),
	KILN_OPT_ROW_PATH("prompt-file", 0, A, prompt_file, "FILE",
		"read the prompt from FILE instead"),
	KILN_OPT_ROW_DOUBLE("temperature", 't', A, p.temperature, 0, 2, "T",
		"sampling temperature, 0 = greedy"),
	{ .name = "top-k", .kind = KILN_OPT_INT, .arg = "K",
	  KILN_OPT_F_(A, p.top_k), .lo = 0, .hi = 1 << 30,
	  .help = "sample among the K most likely tokens; 0 = all" },
	{ .name = "top-p", .kind = KILN_OPT_DOUBLE, KILN_OPT_F_(A, p.top_p),
	  .dlo = 0, .dhi = 1, .flags = KILN_OPT_LO_OPEN, .arg = "P",
	  .help = "sample among the most likely tokens that together reach "
		  "P; 1 = all" },
	KILN_OPT_ROW_INT("max-tokens", 'n', A, p.max_tokens, 1, CLI_MAX_TOKENS,
		"N", "tokens to generate at most"),
	KILN_OPT_ROW_STRINGS("stop", 0, A, stops, p.n_stop, "S",
		"stop before S (repeatable, at most 16)"),
	KILN_OPT_ROW_INT("seed", 's', A, p.seed, 0, CLI_MAX_SEED, "N",
		"the same seed gives the same text"),
	KILN_OPT_ROW_END,
};
#undef A

struct out {
	int failed;    /* errno of the failed write (kept: later calls may
			  change errno before it is reported) */
};

static int on_text(void *ctx, const char *text, size_t n)
{
	struct out *o = ctx;

	if (fwrite(text, 1, n, stdout) != n || fflush(stdout)) {
		o->failed = errno ? errno : EIO;
		return 1;
	}
	return 0;
}

static int run_sample(int argc, char **argv)
{
	struct sample_args a;
	kiln_sample_params *pp = &a.p;
	const char *model, *prompt, *prompt_file;
	char *file_text = NULL;
	kiln_sample_result res;
	kiln_error err = { 0, "" };
	kiln_gpt *m = NULL;
	kiln_tok *tok = NULL;
	kiln_kv *kv = NULL;
	struct out o = { 0 };
	int *ids = NULL, rc, npos;
	int nids = 0;

	memset(&a, 0, sizeof(a));
	kiln_sample_params_default(&a.p);
	a.p.temperature = 0.8;
	a.p.top_p = 0.95;
	a.p.seed = 1;
	a.p.stop = a.stops;
	if ((rc = cli_parse(&cli_sample, argc, argv, &a, sizeof a, &npos)) !=
	    CLI_GO)
		return rc;
	rc = 1;
	model = a.model, prompt = a.prompt, prompt_file = a.prompt_file;
	if (npos > 0) {
		cli_error("sample", "unexpected argument '%s'", argv[1]);
		return 2;
	}
	if (!model || (!prompt && !prompt_file)) {
		cli_error("sample", "give --model FILE and --prompt TEXT "
			  "(see --help)");
		return 2;
	}
	if (prompt_file) {
		if (cli_read_option_file("sample", "prompt-file", prompt_file,
					 &file_text))
			return 1;
		prompt = file_text;
	}
	if (kiln_sample_params_check(pp, &err) ||
	    kiln_model_open(model, &m, &tok, NULL, NULL, &err))
		goto fail;
	if (kiln_sample_prompt(tok, prompt, strlen(prompt), m->cfg.n_ctx,
			       &ids, &nids, &err))
		goto fail;
	if (kiln_kv_new(&kv, m, 1, &err) ||
	    kiln_sample_run(m, kv, 0, tok, ids, nids, pp, on_text, &o,
			    &res, &err))
		goto fail;
	if (o.failed) {
		cli_error("sample", "writing to stdout: %s",
			  strerror(o.failed));
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
	kiln_kv_free(kv);
	kiln_tok_free(tok);
	kiln_gpt_free(m);
	return rc;
}

const cli_cmd cli_sample = {
	.name = "sample", .run = run_sample, .opts = sample_opts,
	.summary = "continue a prompt with a trained model (streams to stdout)",
	.omp = CLI_OMP_SPIN,
	.synopsis = "usage: kiln sample --model MODEL.bin --prompt TEXT "
		    "[options]",
	.about =
"Continues TEXT with the model and prints the completion (not the prompt) on\n"
"stdout as it is decoded. The prompt runs through the model in one batch,\n"
"then each new token reuses the keys and values cached for the ones before.\n"
"Generation ends at the tokenizer's end-of-text token, a stop sequence (not\n"
"printed), --max-tokens, or the end of the model's context.\n",
	.after = "Usage figures (tokens, finish reason) go to stderr.\n",
};
