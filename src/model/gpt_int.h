/* Kernels shared by inference (src/model/gpt.c) and training
 * (src/train/train.c). Internal to the library. */
#ifndef KILN_MODEL_GPT_INT_H
#define KILN_MODEL_GPT_INT_H

#include <stddef.h>

/* n floats, 64-byte aligned, freed with free(). */
float *kiln__falloc(size_t n);

/* out (M,N) = inp (M,K) @ w^T + bias; w is (N,K); bias may be NULL. */
void kiln__matmul(float *out, const float *inp, const float *w,
		  const float *bias, int M, int N, int K);

/* out (N,C) = LayerNorm(inp) * w + b (eps 1e-5); mean/rstd (N) may be NULL. */
void kiln__layernorm(float *out, float *mean, float *rstd, const float *inp,
		     const float *w, const float *b, int N, int C);

/* out[i] = GELU(inp[i]), tanh approximation; out may equal inp. */
void kiln__gelu(float *out, const float *inp, size_t n);

#endif
