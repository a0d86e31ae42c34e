/* kiln/batch.h - continuous batching: many sequences decoded together over
 * one model, in-process, from any thread.
 *
 * A kiln_batcher owns a decode thread and a KV cache of max_batch slots
 * over a borrowed model and tokenizer. Any thread submits requests
 * (kiln_batch_submit): a prompt, sampling parameters and n choices, each
 * choice one sequence in a slot of its own. Each step the decode thread
 * admits queued choices into free slots, runs one kiln_gpt_infer call with
 * the prompt rows of sequences still prefilling (at most prefill_chunk rows
 * a step, all of them together) and one row per decoding sequence, samples
 * every sequence that has logits with its own kiln_gen (kiln/sample.h),
 * and publishes the text each released. Sampling depends only on a row's
 * logits and its sequence's rng, so a choice's tokens do not depend on what
 * it was batched with (as far as the model's arithmetic does not).
 *
 * A kiln_batch_req is the caller's handle on one request: wait for news or
 * for the end, read each choice's text and finish, cancel, release. Every
 * function may be called from any thread. kiln serve is an HTTP front end
 * over this (kiln/serve.h); the in-process teacher and the lab call it
 * directly:
 *
 *     kiln_batch_submit_text(b, prompt, strlen(prompt), 4, &p, &r, &err);
 *     kiln_batch_wait(r, NULL, -1);              (all 4 choices are over)
 *     if ((rc = kiln_batch_status(r, &err)) < 0) ...failed...
 *     for (i = 0; i < 4; i++) kiln_batch_read(r, i, 0, &text, &len, ...);
 *     kiln_batch_release(r);
 *
 * Seeds: choice i samples with seed p->seed + i, modulo 2^64 (seed
 * UINT64_MAX's choice 1 uses seed 0). The n choices of one request always
 * have n different seeds; as documented for kiln serve, choice 1 of seed s
 * is choice 0 of seed s + 1, so two requests whose seed ranges overlap
 * share those samples, on purpose.
 */
#ifndef KILN_BATCH_H
#define KILN_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/error.h"
#include "kiln/model.h"
#include "kiln/sample.h"
#include "kiln/tokenizer.h"

#define KILN_BATCH_MAX_CHOICES 1024 /* n of one request */

typedef struct kiln_batcher_config {
	int max_batch;     /* sequences decoded together (default 8) */
	int queue;         /* requests waiting for a slot; more are refused
			      with KILN_ELIMIT (default 64) */
	int prefill_chunk; /* prompt rows per step, all sequences together
			      (default 256) */
} kiln_batcher_config;

void kiln_batcher_config_default(kiln_batcher_config *c);

typedef struct kiln_batcher kiln_batcher;
typedef struct kiln_batch_req kiln_batch_req;

/* Starts the decode thread. m and tok are borrowed and must outlive the
 * batcher; nothing else may run m's inference through this KV cache (m
 * itself is only read). */
int kiln_batcher_new(kiln_batcher **out, const kiln_gpt *m,
		     const kiln_tok *tok, const kiln_batcher_config *c,
		     kiln_error *err);

/* Stops the decode thread: requests queued or running end as failed
 * (KILN_EINVAL, "stopping") and their waiters wake; later submits are
 * refused. Requests stay readable until released. */
void kiln_batcher_stop(kiln_batcher *b);

/* Stops (if not yet) and frees. Every request must have been released. */
void kiln_batcher_free(kiln_batcher *b);

/* Sequences decoding now, requests waiting for a slot. */
void kiln_batcher_stats(kiln_batcher *b, int *active, int *queued);

/* Submits prompt[0..n_prompt) (token ids, copied; 1 .. n_ctx - 1 of them,
 * each < vocab) for n choices (1 .. KILN_BATCH_MAX_CHOICES) sampled with p
 * (checked with kiln_sample_params_check; the stop strings are copied).
 * p->max_tokens is capped by the room left in the context (finish
 * KILN_FINISH_LENGTH). *out is the caller's handle, to release.
 * KILN_ELIMIT: the queue is full (try again later); KILN_EINVAL: bad
 * arguments, or the batcher is stopping. */
int kiln_batch_submit(kiln_batcher *b, const int *prompt, int n_prompt,
		      int n, const kiln_sample_params *p,
		      kiln_batch_req **out, kiln_error *err);

/* n choices of each of n_prompts prompts (prompts[k] of n_prompt[k]
 * token ids, checked as above), n_prompts * n <= KILN_BATCH_MAX_CHOICES
 * in all, as one request: choice i continues prompt i / n and samples
 * with seed p->seed + i; each choice's max_tokens is capped by the room
 * its prompt leaves. kiln_batch_submit is this with one prompt. */
int kiln_batch_submit_many(kiln_batcher *b, const int *const *prompts,
			   const int *n_prompt, int n_prompts, int n,
			   const kiln_sample_params *p, kiln_batch_req **out,
			   kiln_error *err);

/* The same for a text prompt, encoded with kiln_sample_prompt (an empty
 * prompt is the end-of-text token alone). A prompt that leaves no room for
 * an answer is KILN_EINVAL, with its length in the message. */
int kiln_batch_submit_text(kiln_batcher *b, const char *text, size_t len,
			   int n, const kiln_sample_params *p,
			   kiln_batch_req **out, kiln_error *err);

/* Prompt tokens, all prompts together. */
int kiln_batch_prompt_tokens(const kiln_batch_req *r);
int kiln_batch_choices(const kiln_batch_req *r);

/* Waits. With seen == NULL: until every choice is over (finished, or the
 * request failed or was cancelled). Otherwise until the request changed
 * (a choice's text grew, a choice finished, the request failed) since
 * *seen, which then receives the current version: start with *seen = 0
 * (the first call returns at once), and read after each return; nothing
 * is missed. timeout_ms < 0 waits without limit. Returns 1 when every
 * choice is over, 0 when some still run, KILN_ELIMIT on timeout. */
int kiln_batch_wait(kiln_batch_req *r, uint64_t *seen, long timeout_ms);

/* Choice i's text from byte `from` on (the bytes released so far: never a
 * stop sequence, nor the beginning of one that may still complete; not
 * necessarily valid UTF-8), copied to *text (malloc'd, NUL-terminated;
 * empty when from is past the end), with its finish (KILN_FINISH_NONE
 * while running) and tokens sampled so far. finish and tokens may be NULL.
 * KILN_EINVAL for i out of range; KILN_ENOMEM. */
int kiln_batch_read(kiln_batch_req *r, int i, size_t from, char **text,
		    size_t *len, enum kiln_finish *finish, int *tokens,
		    kiln_error *err);

/* With p->logprobs: choice i's token log-probabilities from the
 * from-th on (those of its released text, kiln_gen_logprobs), copied to
 * *lp (malloc'd; NULL when none), *n of them. Read them after the text:
 * they may run ahead of a text read before them, never behind. */
int kiln_batch_read_logprobs(kiln_batch_req *r, int i, size_t from,
			     kiln_token_logprob **lp, size_t *n,
			     kiln_error *err);

/* 0 while some choice runs, 1 when all finished, or the failure's code
 * with its message in err: KILN_EINVAL when the batcher stopped first,
 * KILN_ENOMEM (or another code) for an internal failure. */
int kiln_batch_status(kiln_batch_req *r, kiln_error *err);

/* Stops decoding r's choices at the next step (they finish as they are;
 * a cancelled request's status is 1 once they are all over). */
void kiln_batch_cancel(kiln_batch_req *r);

/* Cancels r if it still runs and lets go of the handle. NULL is ignored. */
void kiln_batch_release(kiln_batch_req *r);

#endif
