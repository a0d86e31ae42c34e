/* kiln/sample.h - picking tokens from a model's logits, and turning a
 * stream of sampled tokens into text with stop sequences.
 *
 * Three layers, each usable alone:
 *
 *   kiln_rng      a seeded generator (kiln/rng.h, included here): the
 *                 same seed gives the same draws.
 *   kiln_sampler  one token from one row of logits: temperature (0 =
 *                 greedy), top-k, top-p (nucleus), using a kiln_rng.
 *   kiln_gen      one sequence being generated: a sampler, the decoded text,
 *                 stop sequences matched on that text (across token
 *                 boundaries, never included in the output), the
 *                 tokenizer's end-of-text id and a token budget. It does not
 *                 run the model: the caller feeds it the logits of each
 *                 step, so one decode loop can drive many kiln_gens in one
 *                 batched kiln_gpt_infer call (kiln serve).
 *
 * kiln_sample_run drives one kiln_gen over one KV-cache slot: the prompt in
 * one kiln_gpt_infer call (prefill), then one row per generated token.
 *
 * Determinism: for the same logits, parameters and seed every function here
 * gives the same tokens. Ties between equal logits go to the lower token id.
 */
#ifndef KILN_SAMPLE_H
#define KILN_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/error.h"
#include "kiln/model.h"
#include "kiln/rng.h"
#include "kiln/tokenizer.h"

/* --- sampling parameters ------------------------------------------------- */

#define KILN_SAMPLE_MAX_STOP 16      /* stop sequences per generation */
#define KILN_SAMPLE_MAX_STOP_LEN 256 /* bytes of one stop sequence */
#define KILN_SAMPLE_MAX_TOP_LOGPROBS 20 /* alternatives per token */

typedef struct kiln_sample_params {
	double temperature;  /* 0 = greedy (argmax) */
	int top_k;           /* keep the k most likely tokens; 0 = all */
	double top_p;        /* keep the smallest set of most likely tokens
				whose probability reaches top_p; 1 = all */
	uint64_t seed;
	int max_tokens;      /* tokens to generate at most (>= 1) */
	const char *const *stop; /* n_stop non-empty strings, not copied:
				    they must outlive the kiln_gen */
	int n_stop;
	int logprobs;        /* 1: a kiln_gen records each token's
				log-probability (kiln_gen_logprobs) */
	int top_logprobs;    /* with it, the top_logprobs most likely
				tokens' (0 .. KILN_SAMPLE_MAX_TOP_LOGPROBS) */
} kiln_sample_params;

/* temperature 1, top_k 0, top_p 1, seed 0, max_tokens 256, no stops, no
 * log-probabilities. */
void kiln_sample_params_default(kiln_sample_params *p);

/* Checks ranges: temperature >= 0 and finite, top_k >= 0, 0 < top_p <= 1,
 * max_tokens >= 1, at most KILN_SAMPLE_MAX_STOP stop sequences, each
 * non-empty and at most KILN_SAMPLE_MAX_STOP_LEN bytes, top_logprobs
 * 0 .. KILN_SAMPLE_MAX_TOP_LOGPROBS. */
int kiln_sample_params_check(const kiln_sample_params *p, kiln_error *err);

/* --- one token from logits ----------------------------------------------- */

typedef struct kiln_sampler kiln_sampler;

/* A sampler for a vocabulary of `vocab` logits; p->stop and max_tokens are
 * not used here. It owns its rng (seeded from p->seed) and scratch space. */
int kiln_sampler_new(kiln_sampler **out, int vocab,
		     const kiln_sample_params *p, kiln_error *err);
void kiln_sampler_free(kiln_sampler *s);

/* The next token for logits[vocab]: always a valid id, 0 .. vocab-1. NaN
 * logits count as -infinity; if every logit is -infinity or NaN the answer
 * is token 0. If some logits are +infinity, the first of them is the
 * answer (whatever the temperature, top-k and top-p). */
int kiln_sampler_pick(kiln_sampler *s, const float *logits);

/* --- log-probabilities -------------------------------------------------- */

/* Log-probabilities are the model's: log_softmax of the raw logits, before
 * temperature, top-k and top-p (as OpenAI reports them), so they do not
 * depend on the sampling parameters. NaN logits count as -infinity; a
 * log-probability of -infinity is reported as KILN_LOGPROB_MIN. */
#define KILN_LOGPROB_MIN (-9999.0f)

typedef struct kiln_logprob {
	int id;
	float logprob;
} kiln_logprob;

/* One sampled token. */
typedef struct kiln_token_logprob {
	int id;
	float logprob;
	size_t offset;       /* where its text begins in the completion's */
	int n_top;           /* the n_top most likely tokens, most likely
				first (ties: the lower id first) */
	kiln_logprob top[KILN_SAMPLE_MAX_TOP_LOGPROBS];
} kiln_token_logprob;

/* Fills out->id, ->logprob (of token id) and ->top (the n_top most likely
 * of logits[vocab], n_top 0 .. KILN_SAMPLE_MAX_TOP_LOGPROBS, at most
 * vocab); offset is left alone. */
void kiln_logprobs(const float *logits, int vocab, int id, int n_top,
		   kiln_token_logprob *out);

/* --- stop sequences on decoded text -------------------------------------- */

/* Looks for the first stop sequence in text[0..len) that ends after byte
 * `from` (the bytes before it were scanned already; a match may begin
 * before it). Returns the offset where the earliest such match begins, or
 * -1. When there is none, *safe is how many leading bytes can be shown:
 * everything except the longest tail that is a proper prefix of some stop
 * sequence (it may still become one). */
long kiln_stop_find(const char *text, size_t len, size_t from,
		    const char *const *stop, int n_stop, size_t *safe);

/* --- one sequence -------------------------------------------------------- */

enum kiln_finish {
	KILN_FINISH_NONE = 0, /* still generating */
	KILN_FINISH_STOP,     /* end-of-text token or a stop sequence */
	KILN_FINISH_LENGTH,   /* max_tokens (or the context) ran out */
};

typedef struct kiln_gen kiln_gen;

/* tok must outlive the kiln_gen; so must p->stop. max_tokens is also capped
 * by the caller (kiln serve caps it by the room left in the context). */
int kiln_gen_new(kiln_gen **out, const kiln_tok *tok, int vocab,
		 const kiln_sample_params *p, kiln_error *err);
void kiln_gen_free(kiln_gen *g);

/* Takes the logits that follow the last fed token and samples a token.
 * Returns 0 when *next is to be fed to the model at the next position, 1
 * when generation has finished (*next is then -1), or a negative KILN_E*
 * (out of memory). */
int kiln_gen_step(kiln_gen *g, const float *logits, int *next,
		  kiln_error *err);

/* The text released so far: it never contains a stop sequence nor the
 * beginning of one that may still complete; once finished it is the whole
 * completion. Bytes, as decoded: not necessarily valid UTF-8. */
const char *kiln_gen_text(const kiln_gen *g, size_t *len);
enum kiln_finish kiln_gen_finish(const kiln_gen *g);
/* Tokens sampled so far, the end-of-text token included. */
int kiln_gen_tokens(const kiln_gen *g);

/* With p->logprobs: the sampled tokens of the released text, in order,
 * *n of them: those whose text begins before the end of kiln_gen_text's
 * (a token cut by a stop sequence is included, whole; one that begins at
 * or after the cut is not), never the end-of-text token. Once finished,
 * every such token (a last token with an empty text too). Without
 * p->logprobs: NULL and *n = 0. The array may move at the next step. */
const kiln_token_logprob *kiln_gen_logprobs(const kiln_gen *g, size_t *n);

/* --- one sequence on one slot of a KV cache ------------------------------ */

/* Encodes a prompt for generation into *ids (malloc'd): an empty prompt
 * becomes the end-of-text token alone (the model needs something to
 * condition on). *n is the count. KILN_ELIMIT (with *ids NULL and *n set)
 * when the prompt leaves no room for an answer in a context of n_ctx
 * tokens, i.e. has more than n_ctx - 1 tokens. */
int kiln_sample_prompt(const kiln_tok *tok, const char *text, size_t len,
		       int n_ctx, int **ids, int *n, kiln_error *err);

/* Called with each newly released piece of text (n >= 1 bytes); a nonzero
 * return stops generation early (reported as KILN_FINISH_STOP). */
typedef int (*kiln_sample_text_fn)(void *ctx, const char *text, size_t n);

typedef struct kiln_sample_result {
	enum kiln_finish finish;
	int prompt_tokens;
	int completion_tokens;
} kiln_sample_result;

/* Generates from prompt[0..n_prompt) on slot `slot` of kv: the prompt in
 * one kiln_gpt_infer call, then one row per token, streaming released text
 * to on_text (may be NULL). max_tokens is capped by the room left in the
 * context (finish KILN_FINISH_LENGTH). n_prompt must be 1 .. n_ctx - 1. */
int kiln_sample_run(const kiln_gpt *m, kiln_kv *kv, int slot,
		    const kiln_tok *tok, const int *prompt, int n_prompt,
		    const kiln_sample_params *p, kiln_sample_text_fn on_text,
		    void *ctx, kiln_sample_result *res, kiln_error *err);

#endif
