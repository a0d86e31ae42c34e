/* Internals of kiln serve: jobs and the decode thread (batch.c), shared
 * with the HTTP front end (serve.c).
 *
 * A job is one HTTP request: one prompt and n choices, each choice one
 * sequence decoded in its own KV-cache slot. The HTTP thread fills the
 * job's inputs, submits it, then only reads its outputs under the batcher's
 * lock, waiting on job->cond. The decode thread owns every sequence's
 * kiln_gen and the KV cache; it publishes released text into job->out
 * under the lock and broadcasts job->cond.
 *
 * Ownership: a job has a reference count (the HTTP request's, and the
 * batcher's while the job is queued or running); the last put frees it.
 */
#ifndef KILN_SERVE_INT_H
#define KILN_SERVE_INT_H

#include <pthread.h>

#include <jansson.h>

#include "kiln/model.h"
#include "kiln/sample.h"
#include "kiln/tokenizer.h"
#include "util/buf.h"

struct kiln__choice {
	kiln_buf text;            /* released so far */
	enum kiln_finish finish;  /* KILN_FINISH_NONE while running */
	int tokens;               /* completion tokens */
};

struct kiln__job {
	/* inputs: written before submit, read-only afterwards */
	int *prompt;              /* n_prompt token ids (owned) */
	int n_prompt;
	int n;                    /* choices */
	kiln_sample_params params;/* max_tokens already capped by the context;
				     choice i uses seed params.seed + i */
	char **stop;              /* params.stop points here (owned) */
	int stream;               /* wake the waiter at each new piece of
				     text, not only when a choice ends */

	/* outputs and state: under the batcher's lock */
	struct kiln__choice *out; /* n */
	int admitted;             /* choices given a slot so far */
	int finished;             /* choices finished */
	int cancelled;            /* the client went away: stop decoding */
	int failed;               /* an internal error ended it */
	char errmsg[512];
	pthread_cond_t cond;      /* broadcast when out or finished change */
	int refs;
	struct kiln__job *next;   /* queue link */
};

struct kiln__batch;

/* A job for n choices with a reference for the caller (refs = 1). */
struct kiln__job *kiln__job_new(int n);
/* Drops a reference (under no lock); the last frees the job. */
void kiln__job_put(struct kiln__batch *b, struct kiln__job *j);

int kiln__batch_start(struct kiln__batch **out, const kiln_gpt *m,
		      const kiln_tok *tok, int max_batch, int queue,
		      int prefill_chunk, kiln_error *err);
/* Queues j (taking a reference of its own). KILN_ELIMIT: the queue is
 * full; KILN_EINVAL: the batcher is stopping. */
int kiln__batch_submit(struct kiln__batch *b, struct kiln__job *j);
/* Marks j cancelled: its sequences are dropped at the next step. */
void kiln__batch_cancel(struct kiln__batch *b, struct kiln__job *j);
/* The batcher's lock, for reading job outputs and waiting on job->cond. */
pthread_mutex_t *kiln__batch_lock(struct kiln__batch *b);
/* Figures for /health: sequences decoding, requests waiting. */
void kiln__batch_stats(struct kiln__batch *b, int *active, int *queued);
/* Stops the decode thread: queued and running jobs end as failed
 * ("server stopping") and their waiters are woken. */
void kiln__batch_stop(struct kiln__batch *b);
/* Frees a stopped batcher; no thread may wait on its lock any more. */
void kiln__batch_free(struct kiln__batch *b);

/* serve.c's request parser and checks on a body alone (chat: the body of
 * /v1/chat/completions, else of /v1/completions), for tests/fuzz/. Returns
 * 0 and *view = what was asked ({chat, prompt, temperature, top_p, top_k,
 * max_tokens, n, seed, seed_given, max_given, stream, include_usage,
 * stop}), or the HTTP status and *view = the error body the server sends.
 * *view is NULL when it could not be made. */
int kiln__serve_parse_request(int chat, const char *body, size_t len,
			      json_t **view);

#endif
