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

#include "kiln/data.h"
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
/* The same, with several samples packed in a row: pos ([B][T]) is each
 * token's position in its own sample, so a row is cut into segments where
 * pos restarts at 0 (a row's first entry is 0; each other entry is 0 or one
 * more than the one before). A token takes the position embedding of
 * pos[t] and attends only to the tokens of its own segment (a
 * block-diagonal causal mask), so each segment computes what it would
 * alone at the start of a row. pos NULL: pos[t] = t, one segment a row, as
 * kiln_train_forward. NaN for an invalid pos. kiln_data_batch fills pos. */
float kiln_train_forward_pos(kiln_trainer *tr, const int *inputs,
			     const int *targets, const int *pos);
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

/* --- a whole training run ------------------------------------------------
 *
 * kiln_train_run loads data (kiln/data.h), makes or resumes a model, trains
 * for `steps` AdamW steps with warm-up + cosine learning rate, measures the
 * validation loss every eval_every steps, and writes checkpoints (atomic)
 * every save_every steps, when *stop becomes non-zero, and at the end. A
 * checkpoint holds the weights, the tokenizer and the training state
 * (moments, step, data cursor, every hyperparameter, a fingerprint of the
 * token stream), so a run resumed from it continues exactly: the same
 * batches, the same weights as an uninterrupted run (same thread count).
 */
enum { KILN_TRAIN_DATA = 1, KILN_TRAIN_STEP, KILN_TRAIN_EVAL,
       KILN_TRAIN_SAVE };

typedef struct kiln_train_progress {
	int event;               /* KILN_TRAIN_* */
	uint64_t step, steps;    /* steps done, total */
	float loss, val_loss;    /* last training / validation loss; NaN if
				    none yet */
	float lr, grad_norm;
	double tokens_per_s;     /* training tokens per second, this run */
	double counted_per_s;    /* of them, targets the loss counts (the
				    answers of chat samples) */
	double seconds;          /* since the run started */
	uint64_t files, bytes;   /* while reading data */
	const char *path;        /* KILN_TRAIN_SAVE: the checkpoint */
} kiln_train_progress;

typedef struct kiln_train_opts {
	const char *const *data;  /* files or directories (kiln/data.h) */
	int ndata;
	const char *ext;          /* in directories, only names ending so */
	double val_fraction;      /* 0: 0.05 */
	uint64_t max_bytes;       /* 0: 1 GiB */
	const char *tokenizer;    /* tokenizer file; NULL or "bytes": bytes */
	kiln_gpt_config cfg;      /* vocab comes from the tokenizer */
	const char *out;          /* checkpoint path (required; kiln/output.h:
				     a device or FIFO gets only the last
				     checkpoint, streamed) */
	const char *resume;       /* checkpoint to continue, or NULL */
	int batch, seq;           /* B, T (T 0: n_ctx) */
	uint64_t steps;           /* total steps, counting resumed ones */
	uint64_t warmup;
	float lr, min_lr;
	kiln_adamw hp;
	uint64_t seed;
	uint64_t eval_every;      /* 0: never (but once at the end if
				     eval_batches > 0) */
	int eval_batches;
	uint64_t save_every;      /* 0: only at the end */
	int threads;              /* 0: one per core */
	int no_pack;              /* chat samples in windows of their own, not
				     packed (kiln/data.h); with resume the
				     checkpoint's choice holds */
	volatile int *stop;       /* set asynchronously: save and return */
	double time_limit_s;      /* 0: none; else training also ends this
				     many seconds after the call, and the
				     learning rate follows whichever of steps
				     and time is further along (so a run the
				     clock ends has decayed it; its result
				     depends on the machine's speed) */
	void (*progress)(void *ctx, const kiln_train_progress *p);
	void *progress_ctx;
} kiln_train_opts;

typedef struct kiln_train_result {
	uint64_t step;           /* steps done in all */
	uint64_t steps_this_run;
	float train_loss;        /* mean of the last 10 steps' losses */
	float val_loss;          /* last validation loss; NaN if none */
	double unigram_entropy;  /* of the training tokens, nats */
	double tokens_per_s;     /* B*T*steps / training seconds, this run */
	uint64_t counted;        /* targets the loss counted, this run */
	double counted_per_s;    /* counted / training seconds, this run */
	int packed;              /* chat samples were packed */
	double seconds;
	size_t n_params;
	int interrupted;         /* *stop or the time limit ended it early */
	int time_limited;        /* the time limit ended it */
	kiln_gpt_config cfg;
	int batch, seq;
	kiln_data_stats data;
} kiln_train_result;

int kiln_train_run(const kiln_train_opts *o, kiln_train_result *res,
		   kiln_error *err);

#endif
