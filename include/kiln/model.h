/* kiln/model.h - a small GPT-2 style decoder: weights, checkpoints and
 * inference with a KV cache.
 *
 * The model: token + learned position embeddings, n_layer pre-LayerNorm
 * blocks (causal self-attention, then a GELU MLP of width 4*d_model), a final
 * LayerNorm, and an output projection tied to the token embedding. float32
 * throughout. Training (backward, AdamW) lives in kiln/train.h and stands on
 * this header; inference never needs it.
 *
 * Parameter layout. All weights are one contiguous float array, in this order
 * (d = d_model, V = vocab, T = n_ctx; a matrix W[out][in] is stored row-major
 * as PyTorch's nn.Linear stores it, so y = x W^T + b):
 *
 *   wte [V][d]   wpe [T][d]
 *   for each layer l = 0 .. n_layer-1:
 *     ln1_w [d]  ln1_b [d]
 *     qkv_w [3d][d]  qkv_b [3d]        rows 0..d-1 = q, d..2d-1 = k, 2d.. = v
 *     proj_w [d][d]  proj_b [d]
 *     ln2_w [d]  ln2_b [d]
 *     fc_w [4d][d]  fc_b [4d]
 *     fcproj_w [d][4d]  fcproj_b [d]
 *   lnf_w [d]  lnf_b [d]
 *
 * LayerNorm eps is 1e-5; GELU is the tanh approximation; attention scores are
 * scaled by 1/sqrt(d/n_head); head h uses columns h*hs .. (h+1)*hs-1 of q, k
 * and v (hs = d/n_head). Logits are lnf(x) wte^T.
 */
#ifndef KILN_MODEL_H
#define KILN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/error.h"
#include "kiln/tokenizer.h"

typedef struct kiln_gpt_config {
	int n_layer;
	int n_head;
	int d_model; /* a multiple of n_head */
	int n_ctx;   /* maximum sequence length */
	int vocab;
} kiln_gpt_config;

/* Pointers into the parameter array for one block. */
typedef struct kiln_gpt_layer {
	float *ln1_w, *ln1_b;
	float *qkv_w, *qkv_b;
	float *proj_w, *proj_b;
	float *ln2_w, *ln2_b;
	float *fc_w, *fc_b;
	float *fcproj_w, *fcproj_b;
} kiln_gpt_layer;

/* A view of a parameter-shaped array (weights, gradients, Adam moments). */
typedef struct kiln_gpt_tensors {
	float *wte, *wpe;
	kiln_gpt_layer *layer; /* n_layer entries, owned by the view */
	float *lnf_w, *lnf_b;
} kiln_gpt_tensors;

typedef struct kiln_gpt {
	kiln_gpt_config cfg;
	size_t n_params;
	float *params;      /* n_params floats, 64-byte aligned */
	kiln_gpt_tensors w; /* views into params */
} kiln_gpt;

/* Checks a configuration: positive sizes, d_model % n_head == 0, sizes small
 * enough that every array fits in memory indexes. */
int kiln_gpt_config_check(const kiln_gpt_config *cfg, kiln_error *err);

/* Number of floats in the parameter array of cfg. */
size_t kiln_gpt_param_count(const kiln_gpt_config *cfg);

/* Points view at the tensors of a parameter-shaped array base. */
int kiln_gpt_tensors_map(kiln_gpt_tensors *view, const kiln_gpt_config *cfg,
			 float *base);
void kiln_gpt_tensors_free(kiln_gpt_tensors *view);

/* A new model with GPT-2's initialisation from seed: weights N(0, 0.02),
 * residual projections (proj_w, fcproj_w) N(0, 0.02/sqrt(2*n_layer)), biases
 * 0, LayerNorm weights 1. The same seed gives the same weights. */
int kiln_gpt_new(kiln_gpt **out, const kiln_gpt_config *cfg, uint64_t seed,
		 kiln_error *err);
void kiln_gpt_free(kiln_gpt *m);

/* Threads for the model's OpenMP loops and BLAS calls (0: one per core).
 * Results are deterministic for a given count. */
void kiln_model_threads(int n);
int kiln_model_threads_get(void);

/* --- checkpoints ---------------------------------------------------------
 *
 * A checkpoint file (docs/FORMATS.md) holds the configuration, the weights,
 * the tokenizer as an opaque blob and, for training checkpoints, an opaque
 * training-state blob (optimizer moments, step, data position). Every size is
 * checked against the file before anything is read: a truncated, foreign or
 * corrupted file is a clear error. Writes are atomic (temp file, fsync,
 * rename). */
typedef struct kiln_blob {
	void *data;
	size_t len;
} kiln_blob;

int kiln_gpt_save(const char *path, const kiln_gpt *m, const kiln_blob *tok,
		  const kiln_blob *train, kiln_error *err);
/* tok and train may be NULL when the caller does not want them; blobs the
 * caller receives are malloc'd and freed by the caller. */
int kiln_gpt_load(const char *path, kiln_gpt **out, kiln_blob *tok,
		  kiln_blob *train, kiln_error *err);

/* --- opening a checkpoint for use ----------------------------------------
 *
 * kiln_model_open is how every user of a trained model opens one (kiln
 * sample, kiln serve, kiln train --resume, the in-process teacher): the
 * checkpoint (kiln_gpt_load's checks), its tokenizer, and the checks that
 * they work together: the tokenizer's vocabulary is the model's, and every
 * weight is finite (a NaN or an infinity is refused with its tensor and
 * index: "m.bin: weight layer 1 fc_w[5][7] is +inf ..."). The context
 * length was checked by the load (1 .. 65536, with a position table of
 * that many rows); a prompt that leaves no room in it is refused later, by
 * kiln_sample_prompt. On success *m and *tok are the caller's to free;
 * tok_blob (the tokenizer as stored, to write it back unchanged) and train
 * (the training state) may be NULL. On failure nothing is left to free. */
int kiln_model_open(const char *path, kiln_gpt **m, kiln_tok **tok,
		    kiln_blob *tok_blob, kiln_blob *train, kiln_error *err);

/* KILN_EPARSE naming the first weight that is NaN or infinite, and how many
 * there are; 0 when all are finite. */
int kiln_gpt_check_finite(const kiln_gpt *m, kiln_error *err);

/* --- inference with a KV cache ------------------------------------------- */

/* Keys and values for `slots` independent sequences of up to n_ctx tokens. */
typedef struct kiln_kv kiln_kv;

int kiln_kv_new(kiln_kv **out, const kiln_gpt *m, int slots, kiln_error *err);
void kiln_kv_free(kiln_kv *kv);

/* Runs n rows through the model. Row i is token tok[i] at position pos[i] of
 * sequence slot[i]; its keys and values are written to the cache, and it
 * attends to positions 0 .. pos[i] of its slot, which earlier calls or earlier
 * rows of this call must have filled. Rows of different slots may be mixed
 * freely (batched decoding); a prompt is n rows of one slot (prefill).
 * When want is NULL, logits receives n x vocab floats; otherwise only the rows
 * with want[i] != 0, packed in row order. Returns 0 or KILN_EINVAL for a
 * slot, position or token out of range. Not thread-safe for one kv; it uses
 * OpenMP and BLAS threads itself. */
int kiln_gpt_infer(const kiln_gpt *m, kiln_kv *kv, int n, const int *slot,
		   const int *pos, const int *tok, const unsigned char *want,
		   float *logits, kiln_error *err);

#endif
