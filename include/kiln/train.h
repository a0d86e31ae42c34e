/* kiln/train.h - training a kiln_gpt: forward with saved activations,
 * backward, gradient clipping and AdamW.
 *
 * One kiln_trainer holds gradients, the two Adam moments and the activations
 * for a fixed batch shape B x T (T <= n_ctx). A step is
 *
 *   loss = kiln_train_forward(tr, inputs, targets);
 *   kiln_train_backward(tr);
 *   norm = kiln_train_adamw(tr, &hp, lr);
 *
 * Targets of -1 are ignored (padding, or prompt tokens of a chat sample);
 * the loss is the mean cross-entropy over the other positions. Results are
 * deterministic for a given thread count.
 */
#ifndef KILN_TRAIN_H
#define KILN_TRAIN_H

#include <stdint.h>

#include "kiln/error.h"
#include "kiln/model.h"

typedef struct kiln_trainer kiln_trainer;

typedef struct kiln_adamw {
	float beta1, beta2, eps;
	float weight_decay; /* applied to matrices and embeddings only, not
			       to biases or LayerNorm parameters */
	float grad_clip;    /* clip the global L2 norm to this; 0 = none */
} kiln_adamw;

/* beta1 0.9, beta2 0.95, eps 1e-8, weight decay 0.1, clip 1.0. */
kiln_adamw kiln_adamw_defaults(void);

int kiln_trainer_new(kiln_trainer **out, kiln_gpt *m, int B, int T,
		     kiln_error *err);
void kiln_trainer_free(kiln_trainer *tr);

/* inputs and targets are B*T token ids (row-major [B][T]); targets may be
 * NULL (no loss: returns 0). Returns the mean loss over counted targets. */
float kiln_train_forward(kiln_trainer *tr, const int *inputs,
			 const int *targets);
/* Gradients of the last forward's loss with respect to every parameter
 * (overwrites, does not accumulate). Needs a forward with targets. */
void kiln_train_backward(kiln_trainer *tr);
/* One AdamW update with learning rate lr; returns the gradient norm before
 * clipping. The step counter (for bias correction) advances by one. */
float kiln_train_adamw(kiln_trainer *tr, const kiln_adamw *hp, float lr);

/* The parameter-shaped gradient array (n_params floats) and logits of the
 * last forward (B*T*vocab floats). */
float *kiln_train_grads(kiln_trainer *tr);
const float *kiln_train_logits(const kiln_trainer *tr);

/* Optimizer state for checkpoints: the step count and both moments. */
uint64_t kiln_train_step(const kiln_trainer *tr);
float *kiln_train_moment(kiln_trainer *tr, int which /* 1 = m, 2 = v */);
void kiln_train_set_step(kiln_trainer *tr, uint64_t step);

/* Warm-up then cosine decay: lr rises linearly over warmup steps to max_lr,
 * then follows a half cosine down to min_lr at total steps. */
float kiln_lr_schedule(uint64_t step, uint64_t warmup, uint64_t total,
		       float max_lr, float min_lr);

#endif
