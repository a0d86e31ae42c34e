/* kiln_model_open: a checkpoint, its tokenizer and the checks that they can
 * be used together (kiln/model.h). The one way kiln sample, kiln serve,
 * kiln train --resume and in-process users open a model. */
#include "kiln/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* The name of parameter `i` of cfg's layout (kiln/model.h), with its
 * indices: "wte[3][17]", "layer 1 fc_w[5][0]", "lnf_b[2]". */
static void param_name(const kiln_gpt_config *c, size_t i, char *buf,
		       size_t n)
{
	size_t d = (size_t)c->d_model;
	struct { const char *name; size_t rows, cols; } t[] = {
		{ "ln1_w", 1, d }, { "ln1_b", 1, d },
		{ "qkv_w", 3 * d, d }, { "qkv_b", 1, 3 * d },
		{ "proj_w", d, d }, { "proj_b", 1, d },
		{ "ln2_w", 1, d }, { "ln2_b", 1, d },
		{ "fc_w", 4 * d, d }, { "fc_b", 1, 4 * d },
		{ "fcproj_w", d, 4 * d }, { "fcproj_b", 1, d },
	};
	size_t per_layer = 0, k;

	if (i < (size_t)c->vocab * d) {
		snprintf(buf, n, "wte[%zu][%zu]", i / d, i % d);
		return;
	}
	i -= (size_t)c->vocab * d;
	if (i < (size_t)c->n_ctx * d) {
		snprintf(buf, n, "wpe[%zu][%zu]", i / d, i % d);
		return;
	}
	i -= (size_t)c->n_ctx * d;
	for (k = 0; k < sizeof(t) / sizeof(t[0]); k++)
		per_layer += t[k].rows * t[k].cols;
	if (i < (size_t)c->n_layer * per_layer) {
		size_t l = i / per_layer;

		i %= per_layer;
		for (k = 0; i >= t[k].rows * t[k].cols; k++)
			i -= t[k].rows * t[k].cols;
		if (t[k].rows == 1)
			snprintf(buf, n, "layer %zu %s[%zu]", l, t[k].name, i);
		else
			snprintf(buf, n, "layer %zu %s[%zu][%zu]", l, t[k].name,
				 i / t[k].cols, i % t[k].cols);
		return;
	}
	i -= (size_t)c->n_layer * per_layer;
	snprintf(buf, n, "%s[%zu]", i < d ? "lnf_w" : "lnf_b", i % d);
}

int kiln_gpt_check_finite(const kiln_gpt *m, kiln_error *err)
{
	size_t bad = m->n_params, count = 0;
	char name[96];

	for (size_t i = 0; i < m->n_params; i++)
		if (!isfinite(m->params[i])) {
			if (bad == m->n_params)
				bad = i;
			count++;
		}
	if (!count)
		return 0;
	param_name(&m->cfg, bad, name, sizeof(name));
	return kiln_error_set(err, KILN_EPARSE,
		"weight %s is %s (%zu of %zu weights are not finite: the "
		"training diverged or the file was damaged)", name,
		isnan(m->params[bad]) ? "NaN" : m->params[bad] > 0 ? "+inf"
					   : "-inf", count, m->n_params);
}

int kiln_model_open(const char *path, kiln_gpt **m, kiln_tok **tok,
		    kiln_blob *tok_blob, kiln_blob *train, kiln_error *err)
{
	kiln_blob tb = { 0 };
	int rc;

	*m = NULL;
	*tok = NULL;
	if (tok_blob)
		tok_blob->data = NULL, tok_blob->len = 0;
	if ((rc = kiln_gpt_load(path, m, &tb, train, err)))
		goto out;
	if (!tb.len) {
		rc = kiln_error_set(err, KILN_EPARSE,
			"%s: the checkpoint holds no tokenizer", path);
		goto out;
	}
	if ((rc = kiln_tok_deserialize(tok, tb.data, tb.len, err))) {
		kiln_error_prefix(err, "%s: tokenizer: ", path);
		goto out;
	}
	if (kiln_tok_vocab(*tok) != (*m)->cfg.vocab) {
		rc = kiln_error_set(err, KILN_EPARSE,
			"%s: the tokenizer has %d ids, the model %d", path,
			kiln_tok_vocab(*tok), (*m)->cfg.vocab);
		goto out;
	}
	if ((rc = kiln_gpt_check_finite(*m, err))) {
		kiln_error_prefix(err, "%s: ", path);
		goto out;
	}
out:
	if (rc) {
		kiln_tok_free(*tok);
		kiln_gpt_free(*m);
		*tok = NULL;
		*m = NULL;
		if (train) {
			free(train->data);
			train->data = NULL, train->len = 0;
		}
		free(tb.data);
	} else if (tok_blob) {
		*tok_blob = tb;
	} else {
		free(tb.data);
	}
	return rc;
}
