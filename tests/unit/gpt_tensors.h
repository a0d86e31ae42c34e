/* The named tensors of a kiln_gpt parameter array, for the model tests
 * (test_gpt_ref.c, test_gpt_grad.c). The offsets are computed here from the
 * layout documented in kiln/model.h, independently of the library, and
 * gpt_tensors_check_map() holds kiln_gpt_tensors_map to them. */
#ifndef KILN_TEST_GPT_TENSORS_H
#define KILN_TEST_GPT_TENSORS_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kiln/model.h"
#include "kiln/rng.h"

#define GPT_MAX_TENSORS (4 + 12 * 16)

typedef struct gpt_tensor {
	char name[24];  /* "wte", "l1.fc_w", ... */
	size_t off, len; /* in floats, into the parameter array */
	int decay;       /* AdamW weight decay applies (train.h) */
	int key_bias;    /* qkv_b: rows d..2d-1 (the keys) are [d, 2d) */
} gpt_tensor;

/* Fills t (GPT_MAX_TENSORS entries) in model.h's order; returns the count,
 * or -1 if cfg has more layers than the table holds. */
static inline int gpt_tensor_list(const kiln_gpt_config *c, gpt_tensor *t)
{
	static const char *const lname[12] = {
		"ln1_w", "ln1_b", "qkv_w", "qkv_b", "proj_w", "proj_b",
		"ln2_w", "ln2_b", "fc_w", "fc_b", "fcproj_w", "fcproj_b",
	};
	const size_t d = (size_t)c->d_model;
	const size_t llen[12] = { d, d, 3 * d * d, 3 * d, d * d, d,
				  d, d, 4 * d * d, 4 * d, 4 * d * d, d };
	static const int ldecay[12] = { 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 1, 0 };
	size_t off = 0;
	int n = 0;

	if (c->n_layer < 0 || c->n_layer > 16)
		return -1;
#define ADD(nm, ln, dec, kb)                                              \
	do {                                                              \
		memset(&t[n], 0, sizeof(t[n]));                           \
		snprintf(t[n].name, sizeof(t[n].name), "%s", nm);         \
		t[n].off = off;                                           \
		t[n].len = (ln);                                          \
		t[n].decay = (dec);                                       \
		t[n].key_bias = (kb);                                     \
		off += (ln);                                              \
		n++;                                                      \
	} while (0)
	ADD("wte", (size_t)c->vocab * d, 1, 0);
	ADD("wpe", (size_t)c->n_ctx * d, 1, 0);
	for (int l = 0; l < c->n_layer; l++)
		for (int j = 0; j < 12; j++) {
			char nm[24];
			snprintf(nm, sizeof(nm), "l%d.%s", l, lname[j]);
			ADD(nm, llen[j], ldecay[j], j == 3);
		}
	ADD("lnf_w", d, 0, 0);
	ADD("lnf_b", d, 0, 0);
#undef ADD
	return n;
}

/* 1 if kiln_gpt_tensors_map puts every tensor where model.h says. */
static inline int gpt_tensors_check_map(const kiln_gpt_config *c, float *base,
				 const gpt_tensor *t, int nt)
{
	kiln_gpt_tensors v;
	float *p[GPT_MAX_TENSORS];
	int n = 0, ok = 1;

	if (kiln_gpt_tensors_map(&v, c, base) != 0)
		return 0;
	p[n++] = v.wte;
	p[n++] = v.wpe;
	for (int l = 0; l < c->n_layer; l++) {
		const kiln_gpt_layer *L = &v.layer[l];
		float *q[12] = { L->ln1_w, L->ln1_b, L->qkv_w, L->qkv_b,
				 L->proj_w, L->proj_b, L->ln2_w, L->ln2_b,
				 L->fc_w, L->fc_b, L->fcproj_w, L->fcproj_b };
		for (int j = 0; j < 12; j++)
			p[n++] = q[j];
	}
	p[n++] = v.lnf_w;
	p[n++] = v.lnf_b;
	for (int i = 0; i < nt && i < n; i++)
		if (p[i] != base + t[i].off) {
			fprintf(stderr, "tensor %s mapped at offset %td, "
				"model.h says %zu\n", t[i].name, p[i] - base,
				t[i].off);
			ok = 0;
		}
	kiln_gpt_tensors_free(&v);
	return ok && n == nt;
}

/* splitmix64 (kiln/rng.h): a small deterministic generator for test
 * weights. */
static inline uint64_t gpt_rng_next(uint64_t *s)
{
	return kiln_rng_split(s);
}

/* Uniform in [0, 1). */
static inline double gpt_rng_uniform(uint64_t *s)
{
	return (double)(gpt_rng_next(s) >> 11) * 0x1.0p-53;
}

/* An integer in [0, n). */
static inline int gpt_rng_int(uint64_t *s, int n)
{
	return (int)(gpt_rng_next(s) % (uint64_t)n);
}

/* Every weight random, not GPT-2's init (uniform +-0.5, biases non-zero,
 * LayerNorm weights 1 +-0.35), so that every path of the backward carries
 * signal. t, nt: gpt_tensor_list's. */
static inline void gpt_randomise(float *params, const gpt_tensor *t, int nt,
				 uint64_t s)
{
	for (int i = 0; i < nt; i++) {
		const char *base = strchr(t[i].name, '.');
		int ln_w;

		base = base ? base + 1 : t[i].name;
		ln_w = strncmp(base, "ln", 2) == 0 &&
		       strcmp(base + strlen(base) - 2, "_w") == 0;
		for (size_t j = 0; j < t[i].len; j++) {
			double u = gpt_rng_uniform(&s) - 0.5;

			params[t[i].off + j] = (float)(ln_w ? 1.0 + 0.7 * u : u);
		}
	}
}

#endif
