/* Continuous batching over one KV cache (kiln/batch.h).
 *
 * Each step: under the lock, drop cancelled sequences and admit queued
 * choices into free slots; without the lock, build one kiln_gpt_infer call
 * (prompt rows of sequences still prefilling, at most prefill_chunk of them
 * a step, and one row per decoding sequence), run it and sample; under the
 * lock again, publish the text each sequence released and retire the ones
 * that finished.
 *
 * A request (struct kiln_batch_req) holds its inputs, written before it is
 * queued and read-only afterwards, and its outputs, under the batcher's
 * lock: the decode thread appends released text to each choice and
 * broadcasts the request's cond; readers copy out under the same lock.
 * Ownership: a request has a reference count (the caller's handle, and the
 * batcher's while the request is queued or running); the last put frees it.
 */
#include "kiln/batch.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/buf.h"

#define CHOICE_TEXT_MAX ((size_t)1 << 30)

struct choice {
	kiln_buf text;            /* released so far */
	kiln_token_logprob *lp;   /* with params.logprobs: released tokens */
	size_t n_lp, cap_lp;
	enum kiln_finish finish;  /* KILN_FINISH_NONE while running */
	int tokens;               /* completion tokens */
};

struct kiln_batch_req {
	struct kiln_batcher *b;
	/* inputs: written before submit, read-only afterwards */
	int **prompt;             /* n_prompts prompts of n_prompt[k] token
				     ids (owned) */
	int *n_prompt;
	int n_prompts, per;       /* choice i continues prompt i / per */
	int prompt_tokens;        /* all prompts together */
	int n;                    /* choices: n_prompts * per */
	kiln_sample_params params;/* choice i uses seed params.seed + i;
				     max_tokens is capped by its prompt's
				     room in the context at admission */
	char **stop;              /* params.stop points here (owned) */

	/* outputs and state: under the batcher's lock */
	struct choice *out;       /* n */
	int admitted;             /* choices given a slot so far */
	int finished;             /* choices over */
	int cancelled;            /* stop decoding */
	int failed;               /* 0, or the code that ended it */
	char errmsg[512];
	uint64_t version;         /* bumped at each change of out/finished */
	int watchers;             /* threads waiting for any change */
	pthread_cond_t cond;      /* broadcast when version changes */
	int refs;
	struct kiln_batch_req *next; /* queue link */
};

struct seq {
	struct kiln_batch_req *req; /* NULL: the slot is free */
	int choice;
	kiln_gen *gen;
	const int *prompt;     /* its request's prompt for this choice */
	int n_prompt;
	int fed;               /* prompt tokens fed so far */
	int pos;               /* position of the next row */
	int next;              /* token of the next decode row */
	size_t sent;           /* released bytes published to the request */
	size_t lp_sent;        /* released logprobs published */
	int row;               /* this step's logits row, or -1 */
	int done;              /* finished this step */
};

struct kiln_batcher {
	const kiln_gpt *m;
	const kiln_tok *tok;
	kiln_kv *kv;
	int max_batch, queue_max, prefill_chunk;

	pthread_mutex_t lock;
	pthread_cond_t work;          /* a request was queued, or stopping */
	struct kiln_batch_req *head, *tail;/* requests with choices not yet admitted */
	int queued;
	int active;                   /* slots in use */
	int stopping;
	int started;
	pthread_t thread;
	struct seq *seq;              /* max_batch */

	/* one step's rows: owned by the decode thread */
	int cap;
	int *slot, *pos, *tok_ids;
	unsigned char *want;
	float *logits;                /* max_batch x vocab */
};

static void req_free(struct kiln_batch_req *j)
{
	for (int k = 0; j->prompt && k < j->n_prompts; k++)
		free(j->prompt[k]);
	free(j->prompt);
	free(j->n_prompt);
	if (j->stop)
		for (int i = 0; i < j->params.n_stop; i++)
			free(j->stop[i]);
	free(j->stop);
	for (int i = 0; j->out && i < j->n; i++) {
		free(j->out[i].text.p);
		free(j->out[i].lp);
	}
	free(j->out);
	pthread_cond_destroy(&j->cond);
	free(j);
}

static void put_locked(struct kiln_batch_req *j)
{
	if (--j->refs == 0)
		req_free(j);
}

/* Something about j changed: wake whoever waits for it (under the lock).
 * Waiters for the end alone are woken only when a choice ends. */
static void changed(struct kiln_batch_req *j, int ended)
{
	j->version++;
	if (ended || j->watchers)
		pthread_cond_broadcast(&j->cond);
}

/* `count` more choices of j are over; when all are, the batcher lets go. */
static void choices_over(struct kiln_batch_req *j, int count)
{
	j->finished += count;
	changed(j, 1);
	if (j->finished == j->n)
		put_locked(j);
}

/* Never KILN_EINVAL, which means "stopped" to the caller (batch.h). */
static void fail_locked(struct kiln_batch_req *j, int code, const char *msg)
{
	if (!j->failed) {
		j->failed = code == KILN_EINVAL ? KILN_EIO : code;
		snprintf(j->errmsg, sizeof(j->errmsg), "%s", msg);
		changed(j, 1);
	}
}

static void stop_locked(struct kiln_batch_req *j)
{
	if (!j->failed) {
		j->failed = KILN_EINVAL;
		snprintf(j->errmsg, sizeof(j->errmsg), "stopping");
		changed(j, 1);
	}
}

static void unlink_head(struct kiln_batcher *b)
{
	b->head = b->head->next;
	if (!b->head)
		b->tail = NULL;
	b->queued--;
}

static void release_slot(struct kiln_batcher *b, struct seq *s)
{
	kiln_gen_free(s->gen);
	memset(s, 0, sizeof(*s));
	s->row = -1;
	b->active--;
}

/* Fills free slots from the queue (under the lock). */
static void admit(struct kiln_batcher *b)
{
	for (int i = 0; i < b->max_batch && b->head; i++) {
		struct seq *s = &b->seq[i];
		struct kiln_batch_req *j = b->head;
		kiln_sample_params p;
		kiln_error err;

		if (s->req)
			continue;
		if (j->cancelled || j->failed) {
			unlink_head(b);
			choices_over(j, j->n - j->admitted);
			i--;
			continue;
		}
		p = j->params;
		p.seed += (uint64_t)j->admitted;
		memset(s, 0, sizeof(*s));
		s->row = -1;
		s->prompt = j->prompt[j->admitted / j->per];
		s->n_prompt = j->n_prompt[j->admitted / j->per];
		if (p.max_tokens > b->m->cfg.n_ctx - s->n_prompt)
			p.max_tokens = b->m->cfg.n_ctx - s->n_prompt;
		if (kiln_gen_new(&s->gen, b->tok, b->m->cfg.vocab, &p, &err)) {
			fail_locked(j, KILN_ENOMEM, err.msg);
			unlink_head(b);
			choices_over(j, j->n - j->admitted);
			i--;
			continue;
		}
		s->req = j;
		s->choice = j->admitted++;
		b->active++;
		if (j->admitted == j->n)
			unlink_head(b);
	}
}

/* Drops the sequences of cancelled or failed requests (under the lock). */
static void drop_cancelled(struct kiln_batcher *b)
{
	for (int i = 0; i < b->max_batch; i++) {
		struct seq *s = &b->seq[i];
		struct kiln_batch_req *j = s->req;

		if (j && (j->cancelled || j->failed)) {
			release_slot(b, s);
			choices_over(j, 1);
		}
	}
}

/* Rows of one step (no lock: the inputs of admitted requests are read-only and
 * the sequences belong to this thread). Returns the number of rows. */
static int build_rows(struct kiln_batcher *b, int *nwant)
{
	int n = 0, budget = b->prefill_chunk, w = 0;

	for (int i = 0; i < b->max_batch; i++) {
		struct seq *s = &b->seq[i];
		const struct kiln_batch_req *j = s->req;

		s->row = -1;
		s->done = 0;
		if (!j)
			continue;
		if (s->fed < s->n_prompt) {
			int k = s->n_prompt - s->fed;

			if (k > budget)
				k = budget;
			for (int r = 0; r < k; r++, n++) {
				b->slot[n] = i;
				b->pos[n] = s->fed + r;
				b->tok_ids[n] = s->prompt[s->fed + r];
				b->want[n] = 0;
			}
			budget -= k;
			s->fed += k;
			if (s->fed == s->n_prompt && k > 0) {
				b->want[n - 1] = 1;
				s->row = w++;
				s->pos = s->n_prompt;
			}
		} else {
			b->slot[n] = i;
			b->pos[n] = s->pos++;
			b->tok_ids[n] = s->next;
			b->want[n] = 1;
			s->row = w++;
			n++;
		}
	}
	*nwant = w;
	return n;
}

/* Samples every sequence that has logits this step (no lock). */
static int sample_rows(struct kiln_batcher *b, kiln_error *err)
{
	int V = b->m->cfg.vocab;

	for (int i = 0; i < b->max_batch; i++) {
		struct seq *s = &b->seq[i];
		int rc;

		if (!s->req || s->row < 0)
			continue;
		rc = kiln_gen_step(s->gen, b->logits + (size_t)s->row * V,
				   &s->next, err);
		if (rc < 0)
			return rc;
		s->done = rc == 1;
	}
	return 0;
}

/* Appends the logprobs s released since the last step to c (under the
 * lock); they come with text, so changed() was called for them. */
static int publish_logprobs(struct seq *s, struct choice *c)
{
	size_t n;
	const kiln_token_logprob *lp = kiln_gen_logprobs(s->gen, &n);

	if (n <= s->lp_sent)
		return 0;
	if (c->n_lp + (n - s->lp_sent) > c->cap_lp) {
		size_t cap = c->n_lp + (n - s->lp_sent) + 64;
		kiln_token_logprob *q = realloc(c->lp, cap * sizeof(*q));

		if (!q)
			return -1;
		c->lp = q;
		c->cap_lp = cap;
	}
	memcpy(c->lp + c->n_lp, lp + s->lp_sent,
	       (n - s->lp_sent) * sizeof(*lp));
	c->n_lp += n - s->lp_sent;
	s->lp_sent = n;
	return 0;
}

/* Publishes released text and retires finished sequences (under the lock). */
static void publish(struct kiln_batcher *b)
{
	for (int i = 0; i < b->max_batch; i++) {
		struct seq *s = &b->seq[i];
		struct kiln_batch_req *j = s->req;
		struct choice *c;
		const char *text;
		size_t len;

		if (!j || s->row < 0)
			continue;
		c = &j->out[s->choice];
		text = kiln_gen_text(s->gen, &len);
		if (len > s->sent) {
			if (kiln__buf_add(&c->text, text + s->sent, len - s->sent))
				fail_locked(j, KILN_ENOMEM,
					    "out of memory for the answer");
			s->sent = len;
			changed(j, 0);
		}
		if (j->params.logprobs && publish_logprobs(s, c))
			fail_locked(j, KILN_ENOMEM,
				    "out of memory for the logprobs");
		if (s->done) {
			c->finish = kiln_gen_finish(s->gen);
			c->tokens = kiln_gen_tokens(s->gen);
			release_slot(b, s);
			choices_over(j, 1);
		}
	}
}

/* Every running sequence's request fails with code and msg (under the
 * lock); code 0: they stop (the batcher is stopping). */
static void fail_running(struct kiln_batcher *b, int code, const char *msg)
{
	for (int i = 0; i < b->max_batch; i++)
		if (b->seq[i].req) {
			if (code)
				fail_locked(b->seq[i].req, code, msg);
			else
				stop_locked(b->seq[i].req);
		}
	drop_cancelled(b);
}

static void *decode_main(void *arg)
{
	struct kiln_batcher *b = arg;
	kiln_error err;

	pthread_mutex_lock(&b->lock);
	for (;;) {
		int n, nwant, rc;

		while (!b->stopping && b->active == 0 && !b->head)
			pthread_cond_wait(&b->work, &b->lock);
		if (b->stopping)
			break;
		drop_cancelled(b);
		admit(b);
		if (b->active == 0)
			continue;
		pthread_mutex_unlock(&b->lock);

		n = build_rows(b, &nwant);
		rc = kiln_gpt_infer(b->m, b->kv, n, b->slot, b->pos, b->tok_ids,
				    b->want, b->logits, &err);
		if (!rc)
			rc = sample_rows(b, &err);

		pthread_mutex_lock(&b->lock);
		if (rc)
			fail_running(b, rc, err.msg);
		else
			publish(b);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

void kiln_batcher_config_default(kiln_batcher_config *c)
{
	c->max_batch = 8;
	c->queue = 64;
	c->prefill_chunk = 256;
}

int kiln_batcher_new(kiln_batcher **out, const kiln_gpt *m,
		     const kiln_tok *tok, const kiln_batcher_config *c,
		     kiln_error *err)
{
	struct kiln_batcher *b;
	int rc;

	*out = NULL;
	if (c->max_batch < 1 || c->queue < 0 || c->prefill_chunk < 1 ||
	    c->max_batch > (1 << 20) || c->prefill_chunk > (1 << 20))
		return kiln_error_set(err, KILN_EINVAL,
			"batcher: max_batch and prefill_chunk must be 1 .. "
			"1048576, queue >= 0");
	if (kiln_tok_vocab(tok) != m->cfg.vocab)
		return kiln_error_set(err, KILN_EINVAL,
			"batcher: the tokenizer has %d ids, the model %d",
			kiln_tok_vocab(tok), m->cfg.vocab);
	b = calloc(1, sizeof(*b));
	if (!b)
		return kiln_error_set(err, KILN_ENOMEM, "batcher: out of memory");
	b->m = m;
	b->tok = tok;
	b->max_batch = c->max_batch;
	b->queue_max = c->queue;
	b->prefill_chunk = c->prefill_chunk;
	b->cap = c->max_batch + c->prefill_chunk;
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->work, NULL);
	if ((rc = kiln_kv_new(&b->kv, m, c->max_batch, err)))
		goto fail;
	b->seq = calloc((size_t)c->max_batch, sizeof(*b->seq));
	b->slot = malloc((size_t)b->cap * sizeof(int));
	b->pos = malloc((size_t)b->cap * sizeof(int));
	b->tok_ids = malloc((size_t)b->cap * sizeof(int));
	b->want = malloc((size_t)b->cap);
	b->logits = malloc((size_t)c->max_batch * (size_t)m->cfg.vocab *
			   sizeof(float));
	if (!b->seq || !b->slot || !b->pos || !b->tok_ids || !b->want ||
	    !b->logits) {
		rc = kiln_error_set(err, KILN_ENOMEM, "batcher: out of memory");
		goto fail;
	}
	if (pthread_create(&b->thread, NULL, decode_main, b)) {
		rc = kiln_error_set(err, KILN_ENOMEM,
				    "batcher: cannot start the decode thread");
		goto fail;
	}
	b->started = 1;
	*out = b;
	return 0;
fail:
	kiln_batcher_free(b);
	return rc;
}

/* How many queued requests would still wait once the free slots are
 * handed out in queue order (under the lock). */
static int still_waiting(const struct kiln_batcher *b, int *free_after)
{
	int free_slots = b->max_batch - b->active, waiting = 0;

	for (const struct kiln_batch_req *j = b->head; j; j = j->next) {
		int need = j->n - j->admitted;

		if (need <= free_slots)
			free_slots -= need;
		else {
			free_slots = 0;
			waiting++;
		}
	}
	*free_after = free_slots;
	return waiting;
}

/* A request for n choices of each of n_prompts prompts (copied), with the
 * caller's reference and the batcher's (refs = 2), not yet queued. */
static int req_new(struct kiln_batcher *b, const int *const *prompts,
		   const int *n_prompt, int n_prompts, int n,
		   const kiln_sample_params *p, struct kiln_batch_req **out,
		   kiln_error *err)
{
	struct kiln_batch_req *j;
	int T = b->m->cfg.n_ctx, V = b->m->cfg.vocab, rc;

	*out = NULL;
	if (n_prompts < 1 || n < 1 || n > KILN_BATCH_MAX_CHOICES / n_prompts)
		return kiln_error_set(err, KILN_EINVAL,
			"batcher: %d choices of %d prompts: expected 1 .. %d "
			"in all", n, n_prompts, KILN_BATCH_MAX_CHOICES);
	for (int k = 0; k < n_prompts; k++) {
		if (n_prompt[k] < 1 || n_prompt[k] > T - 1)
			return kiln_error_set(err, KILN_EINVAL,
				"batcher: a prompt of %d tokens: expected 1 .. "
				"%d (the context is %d tokens and the answer "
				"needs one)", n_prompt[k], T - 1, T);
		for (int i = 0; i < n_prompt[k]; i++)
			if (prompts[k][i] < 0 || prompts[k][i] >= V)
				return kiln_error_set(err, KILN_EINVAL,
					"batcher: prompt token %d is %d: "
					"expected 0 .. %d", i, prompts[k][i],
					V - 1);
	}
	if ((rc = kiln_sample_params_check(p, err)))
		return rc;
	j = calloc(1, sizeof(*j));
	if (!j)
		return kiln_error_set(err, KILN_ENOMEM, "batcher: out of memory");
	if (pthread_cond_init(&j->cond, NULL)) {
		free(j);
		return kiln_error_set(err, KILN_ENOMEM, "batcher: out of memory");
	}
	j->b = b;
	j->per = n;
	j->n = n * n_prompts;
	j->refs = 2;
	j->version = 1; /* a first wait with *seen = 0 returns at once */
	j->params = *p;
	j->params.stop = NULL;
	j->params.n_stop = 0;
	j->prompt = calloc((size_t)n_prompts, sizeof(*j->prompt));
	j->n_prompt = malloc((size_t)n_prompts * sizeof(int));
	j->out = calloc((size_t)j->n, sizeof(*j->out));
	j->stop = p->n_stop ? calloc((size_t)p->n_stop, sizeof(char *)) : NULL;
	if (!j->prompt || !j->n_prompt || !j->out || (p->n_stop && !j->stop))
		goto nomem;
	for (int k = 0; k < n_prompts; k++) {
		if (!(j->prompt[k] = malloc((size_t)n_prompt[k] * sizeof(int))))
			goto nomem;
		j->n_prompts = k + 1;
		memcpy(j->prompt[k], prompts[k], (size_t)n_prompt[k] * sizeof(int));
		j->n_prompt[k] = n_prompt[k];
		j->prompt_tokens += n_prompt[k];
	}
	for (int i = 0; i < j->n; i++)
		j->out[i].text.max = CHOICE_TEXT_MAX;
	for (int i = 0; i < p->n_stop; i++) {
		if (!(j->stop[i] = strdup(p->stop[i])))
			goto nomem;
		j->params.n_stop = i + 1;
	}
	j->params.stop = (const char *const *)j->stop;
	*out = j;
	return 0;
nomem:
	req_free(j);
	return kiln_error_set(err, KILN_ENOMEM, "batcher: out of memory");
}

int kiln_batch_submit(kiln_batcher *b, const int *prompt, int n_prompt,
		      int n, const kiln_sample_params *p,
		      kiln_batch_req **out, kiln_error *err)
{
	return kiln_batch_submit_many(b, &prompt, &n_prompt, 1, n, p, out,
				      err);
}

int kiln_batch_submit_many(kiln_batcher *b, const int *const *prompts,
			   const int *n_prompt, int n_prompts, int n,
			   const kiln_sample_params *p, kiln_batch_req **out,
			   kiln_error *err)
{
	struct kiln_batch_req *j;
	int free_after, waiting, rc;

	*out = NULL;
	if ((rc = req_new(b, prompts, n_prompt, n_prompts, n, p, &j, err)))
		return rc;
	pthread_mutex_lock(&b->lock);
	if (b->stopping) {
		rc = kiln_error_set(err, KILN_EINVAL, "batcher: stopping");
		goto refused;
	}
	waiting = still_waiting(b, &free_after);
	if (j->n > free_after && waiting + 1 > b->queue_max) {
		rc = kiln_error_set(err, KILN_ELIMIT, "batcher: busy: %d "
				    "requests are waiting already", waiting);
		goto refused;
	}
	if (b->tail)
		b->tail->next = j;
	else
		b->head = j;
	b->tail = j;
	b->queued++;
	pthread_cond_signal(&b->work);
	pthread_mutex_unlock(&b->lock);
	*out = j;
	return 0;
refused:
	pthread_mutex_unlock(&b->lock);
	req_free(j);
	return rc;
}

int kiln_batch_submit_text(kiln_batcher *b, const char *text, size_t len,
			   int n, const kiln_sample_params *p,
			   kiln_batch_req **out, kiln_error *err)
{
	int *ids = NULL, nids = 0, rc;

	*out = NULL;
	rc = kiln_sample_prompt(b->tok, text, len, b->m->cfg.n_ctx, &ids,
				&nids, err);
	if (rc == KILN_ELIMIT)
		return kiln_error_set(err, KILN_EINVAL,
			"batcher: the prompt is %d tokens; the context is %d "
			"(at most %d leave room for an answer)", nids,
			b->m->cfg.n_ctx, b->m->cfg.n_ctx - 1);
	if (rc)
		return rc;
	rc = kiln_batch_submit(b, ids, nids, n, p, out, err);
	free(ids);
	return rc;
}

int kiln_batch_prompt_tokens(const kiln_batch_req *r)
{
	return r->prompt_tokens;
}

int kiln_batch_choices(const kiln_batch_req *r)
{
	return r->n;
}

static int over(const struct kiln_batch_req *r)
{
	return r->finished == r->n;
}

int kiln_batch_wait(kiln_batch_req *r, uint64_t *seen, long timeout_ms)
{
	pthread_mutex_t *lock = &r->b->lock;
	struct timespec until;
	int rc = 0;

	if (timeout_ms >= 0) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += timeout_ms / 1000;
		until.tv_nsec += (timeout_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(lock);
	if (seen)
		r->watchers++;
	while (!over(r) && (!seen || r->version == *seen) && !rc) {
		if (timeout_ms < 0)
			pthread_cond_wait(&r->cond, lock);
		else if (pthread_cond_timedwait(&r->cond, lock, &until) ==
			 ETIMEDOUT)
			rc = KILN_ELIMIT;
	}
	if (seen) {
		r->watchers--;
		*seen = r->version;
	}
	if (!rc)
		rc = over(r);
	pthread_mutex_unlock(lock);
	return rc;
}

int kiln_batch_read(kiln_batch_req *r, int i, size_t from, char **text,
		    size_t *len, enum kiln_finish *finish, int *tokens,
		    kiln_error *err)
{
	const struct choice *c;
	size_t n;
	int rc = 0;

	*text = NULL;
	*len = 0;
	if (i < 0 || i >= r->n)
		return kiln_error_set(err, KILN_EINVAL,
			"batcher: choice %d of %d", i, r->n);
	pthread_mutex_lock(&r->b->lock);
	c = &r->out[i];
	n = from < c->text.len ? c->text.len - from : 0;
	*text = malloc(n + 1);
	if (!*text) {
		rc = kiln_error_set(err, KILN_ENOMEM, "batcher: out of memory");
		goto out;
	}
	if (n)
		memcpy(*text, c->text.p + from, n);
	(*text)[n] = '\0';
	*len = n;
	if (finish)
		*finish = c->finish;
	if (tokens)
		*tokens = c->tokens;
out:
	pthread_mutex_unlock(&r->b->lock);
	return rc;
}

int kiln_batch_read_logprobs(kiln_batch_req *r, int i, size_t from,
			     kiln_token_logprob **lp, size_t *n,
			     kiln_error *err)
{
	const struct choice *c;
	size_t k;
	int rc = 0;

	*lp = NULL;
	*n = 0;
	if (i < 0 || i >= r->n)
		return kiln_error_set(err, KILN_EINVAL,
			"batcher: choice %d of %d", i, r->n);
	pthread_mutex_lock(&r->b->lock);
	c = &r->out[i];
	k = from < c->n_lp ? c->n_lp - from : 0;
	if (k) {
		*lp = malloc(k * sizeof(**lp));
		if (!*lp) {
			rc = kiln_error_set(err, KILN_ENOMEM,
					    "batcher: out of memory");
			goto out;
		}
		memcpy(*lp, c->lp + from, k * sizeof(**lp));
		*n = k;
	}
out:
	pthread_mutex_unlock(&r->b->lock);
	return rc;
}

int kiln_batch_status(kiln_batch_req *r, kiln_error *err)
{
	int rc;

	pthread_mutex_lock(&r->b->lock);
	if (r->failed)
		rc = kiln_error_set(err, r->failed, "%s", r->errmsg);
	else
		rc = over(r);
	pthread_mutex_unlock(&r->b->lock);
	return rc;
}

void kiln_batch_cancel(kiln_batch_req *r)
{
	pthread_mutex_lock(&r->b->lock);
	if (!over(r)) {
		r->cancelled = 1;
		pthread_cond_signal(&r->b->work);
	}
	pthread_mutex_unlock(&r->b->lock);
}

void kiln_batch_release(kiln_batch_req *r)
{
	struct kiln_batcher *b;

	if (!r)
		return;
	b = r->b;
	pthread_mutex_lock(&b->lock);
	if (!over(r)) {
		r->cancelled = 1;
		pthread_cond_signal(&b->work);
	}
	put_locked(r);
	pthread_mutex_unlock(&b->lock);
}

void kiln_batcher_stats(kiln_batcher *b, int *active, int *queued)
{
	pthread_mutex_lock(&b->lock);
	*active = b->active;
	*queued = b->queued;
	pthread_mutex_unlock(&b->lock);
}

void kiln_batcher_stop(kiln_batcher *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	b->stopping = 1;
	pthread_cond_signal(&b->work);
	pthread_mutex_unlock(&b->lock);
	if (b->started) {
		pthread_join(b->thread, NULL);
		b->started = 0;
	}
	pthread_mutex_lock(&b->lock);
	if (b->seq)
		fail_running(b, 0, NULL);
	while (b->head) {
		struct kiln_batch_req *j = b->head;

		stop_locked(j);
		unlink_head(b);
		choices_over(j, j->n - j->admitted);
	}
	pthread_mutex_unlock(&b->lock);
}

void kiln_batcher_free(kiln_batcher *b)
{
	if (!b)
		return;
	kiln_batcher_stop(b);
	for (int i = 0; b->seq && i < b->max_batch; i++)
		kiln_gen_free(b->seq[i].gen);
	kiln_kv_free(b->kv);
	free(b->seq);
	free(b->slot);
	free(b->pos);
	free(b->tok_ids);
	free(b->want);
	free(b->logits);
	pthread_cond_destroy(&b->work);
	pthread_mutex_destroy(&b->lock);
	free(b);
}
