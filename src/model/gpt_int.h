/* Kernels shared by inference (src/model/gpt.c) and training
 * (src/train/train.c). Internal to the library. */
#ifndef KILN_MODEL_GPT_INT_H
#define KILN_MODEL_GPT_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* exp(x) for float, written so that loops over it vectorize (libm's expf
 * is a call per element): x = n ln2 + r with |r| <= ln2/2, a degree-6
 * polynomial for exp(r) (Cephes' expf coefficients), times 2^n built in
 * the exponent bits. Relative error about 2 ulp over the clamped range
 * [-87.3, 88.3]; below it the result is ~1e-38 rather than 0. */
static inline float kiln__expf(float x)
{
	const float magic = 12582912.0f; /* 1.5 * 2^23: rounds to an integer */
	float t, n, r, p, scale;
	uint32_t bits, ni;

	x = x < -87.3f ? -87.3f : x > 88.3f ? 88.3f : x;
	t = x * 1.44269504088896341f + magic;
	memcpy(&bits, &t, 4);
	/* the integer n, from the mantissa; unsigned, so that a NaN input
	 * (whose bits are no such integer) is no undefined shift: the
	 * polynomial carries the NaN through to the result */
	ni = bits - 0x4b400000u;
	n = t - magic;
	r = x - n * 0.693359375f;
	r = r - n * -2.12194440e-4f;
	p = 1.9875691500e-4f;
	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * r * r + r + 1.0f;
	bits = (ni + 127u) << 23;
	memcpy(&scale, &bits, 4);
	return p * scale;
}

/* tanh(x) = 1 - 2 / (exp(2x) + 1), vectorizable; absolute error ~1e-7. */
static inline float kiln__tanhf(float x)
{
	return 1.0f - 2.0f / (kiln__expf(2.0f * x) + 1.0f);
}

#include "kiln/model.h"

/* A checkpoint already in memory (what kiln_gpt_load does after reading the
 * file; path only names it in messages). For the fuzz target. */
int kiln__gpt_parse(const unsigned char *buf, size_t size, const char *path,
		    kiln_gpt **out, kiln_blob *tok, kiln_blob *train,
		    kiln_error *err);

/* n floats, 64-byte aligned, freed with free(). */
float *kiln__falloc(size_t n);

/* out (M,N) = inp (M,K) @ w^T + bias; w is (N,K); bias may be NULL. */
void kiln__matmul(float *out, const float *inp, const float *w,
		  const float *bias, int M, int N, int K);

/* The same for a few rows (M up to ~16), read once per weight row; a row's
 * result does not depend on M. */
void kiln__matmul_rows(float *out, const float *inp, const float *w,
		       const float *bias, int M, int N, int K);

/* out (N,C) = LayerNorm(inp) * w + b (eps 1e-5); mean/rstd (N) may be NULL. */
void kiln__layernorm(float *out, float *mean, float *rstd, const float *inp,
		     const float *w, const float *b, int N, int C);

/* out[i] = GELU(inp[i]), tanh approximation; out may equal inp. */
void kiln__gelu(float *out, const float *inp, size_t n);

#endif
