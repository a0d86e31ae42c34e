/* mkmodel: a checkpoint with random weights and the byte tokenizer, for
 * tests and benchmarks of kiln sample and kiln serve that need a model but
 * not a trained one.
 *
 *   mkmodel OUT.bin [--layers N] [--heads N] [--d-model N] [--ctx N]
 *                   [--seed N] [--scale X] [--poison inf|nan]
 *
 * --scale multiplies the token embedding (which is also the output
 * projection): GPT-2's initialisation gives nearly flat logits, and a
 * larger scale gives a peakier, more text-like distribution. --poison
 * sets one weight, wte[65][3] (the row of 'A'), to +inf or NaN: a damaged
 * checkpoint that kiln must refuse. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/model.h"
#include "kiln/tokenizer.h"

int main(int argc, char **argv)
{
	kiln_gpt_config cfg = { .n_layer = 2, .n_head = 2, .d_model = 64,
				.n_ctx = 256, .vocab = 0 };
	unsigned long long seed = 1;
	double scale = 1;
	const char *out = NULL, *poison = NULL;
	kiln_error err = { 0, "" };
	kiln_tok *tok = NULL;
	kiln_gpt *m = NULL;
	kiln_blob blob = { 0 };
	unsigned char *buf = NULL;
	int rc = 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (a[0] != '-') {
			out = a;
			continue;
		}
		if (!v) {
			fprintf(stderr, "mkmodel: %s needs a value\n", a);
			return 2;
		}
		i++;
		if (!strcmp(a, "--layers"))
			cfg.n_layer = atoi(v);
		else if (!strcmp(a, "--heads"))
			cfg.n_head = atoi(v);
		else if (!strcmp(a, "--d-model"))
			cfg.d_model = atoi(v);
		else if (!strcmp(a, "--ctx"))
			cfg.n_ctx = atoi(v);
		else if (!strcmp(a, "--seed"))
			seed = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--scale"))
			scale = atof(v);
		else if (!strcmp(a, "--poison"))
			poison = v;
		else {
			fprintf(stderr, "mkmodel: unknown option %s\n", a);
			return 2;
		}
	}
	if (!out) {
		fprintf(stderr, "usage: mkmodel OUT.bin [--layers N] [--heads N] "
			"[--d-model N] [--ctx N] [--seed N] [--scale X] "
			"[--poison inf|nan]\n");
		return 2;
	}
	if (kiln_tok_bytes(&tok, &err))
		goto fail;
	cfg.vocab = kiln_tok_vocab(tok);
	if (kiln_gpt_new(&m, &cfg, seed, &err))
		goto fail;
	for (size_t i = 0; i < (size_t)cfg.vocab * cfg.d_model; i++)
		m->w.wte[i] *= (float)scale;
	if (poison)
		m->w.wte[65 * cfg.d_model + 3] =
			!strcmp(poison, "nan") ? NAN : INFINITY;
	if (kiln_tok_serialize(tok, &buf, &blob.len, &err))
		goto fail;
	blob.data = buf;
	if (kiln_gpt_save(out, m, &blob, NULL, &err))
		goto fail;
	rc = 0;
	goto done;
fail:
	fprintf(stderr, "mkmodel: %s\n", err.msg);
done:
	free(buf);
	kiln_gpt_free(m);
	kiln_tok_free(tok);
	return rc;
}
