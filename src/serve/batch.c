/* The decode thread of kiln serve: continuous batching over one KV cache
 * (serve_int.h).
 *
 * Each step: under the lock, drop cancelled sequences and admit queued
 * choices into free slots; without the lock, build one kiln_gpt_infer call
 * (prompt rows of sequences still prefilling, at most prefill_chunk of them
 * a step, and one row per decoding sequence), run it and sample; under the
 * lock again, publish the text each sequence released and retire the ones
 * that finished. Sampling depends only on a row's own logits and its
 * sequence's rng, so a sequence's tokens do not depend on what it was
 * batched with (as far as the model's arithmetic does not).
 */
#include "serve/serve_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHOICE_TEXT_MAX ((size_t)1 << 30)

struct seq {
	struct kiln__job *job; /* NULL: the slot is free */
	int choice;
	kiln_gen *gen;
	int fed;               /* prompt tokens fed so far */
	int pos;               /* position of the next row */
	int next;              /* token of the next decode row */
	size_t sent;           /* released bytes published to the job */
	int row;               /* this step's logits row, or -1 */
	int done;              /* finished this step */
};

struct kiln__batch {
	const kiln_gpt *m;
	const kiln_tok *tok;
	kiln_kv *kv;
	int max_batch, queue_max, prefill_chunk;

	pthread_mutex_t lock;
	pthread_cond_t work;          /* a job was queued, or stopping */
	struct kiln__job *head, *tail;/* jobs with choices not yet admitted */
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

struct kiln__job *kiln__job_new(int n)
{
	struct kiln__job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->n = n;
	j->out = calloc((size_t)n, sizeof(*j->out));
	if (!j->out || pthread_cond_init(&j->cond, NULL)) {
		free(j->out);
		free(j);
		return NULL;
	}
	for (int i = 0; i < n; i++)
		j->out[i].text.max = CHOICE_TEXT_MAX;
	j->refs = 1;
	return j;
}

static void job_free(struct kiln__job *j)
{
	free(j->prompt);
	if (j->stop)
		for (int i = 0; i < j->params.n_stop; i++)
			free(j->stop[i]);
	free(j->stop);
	for (int i = 0; i < j->n; i++)
		free(j->out[i].text.p);
	free(j->out);
	pthread_cond_destroy(&j->cond);
	free(j);
}

static void put_locked(struct kiln__job *j)
{
	if (--j->refs == 0)
		job_free(j);
}

void kiln__job_put(struct kiln__batch *b, struct kiln__job *j)
{
	if (!j)
		return;
	pthread_mutex_lock(&b->lock);
	put_locked(j);
	pthread_mutex_unlock(&b->lock);
}

/* `count` more choices of j are over; when all are, the batcher lets go. */
static void choices_over(struct kiln__job *j, int count)
{
	j->finished += count;
	pthread_cond_broadcast(&j->cond);
	if (j->finished == j->n)
		put_locked(j);
}

static void fail_locked(struct kiln__job *j, const char *msg)
{
	if (!j->failed) {
		j->failed = 1;
		snprintf(j->errmsg, sizeof(j->errmsg), "%s", msg);
	}
}

static void unlink_head(struct kiln__batch *b)
{
	b->head = b->head->next;
	if (!b->head)
		b->tail = NULL;
	b->queued--;
}

static void release_slot(struct kiln__batch *b, struct seq *s)
{
	kiln_gen_free(s->gen);
	memset(s, 0, sizeof(*s));
	s->row = -1;
	b->active--;
}

/* Fills free slots from the queue (under the lock). */
static void admit(struct kiln__batch *b)
{
	for (int i = 0; i < b->max_batch && b->head; i++) {
		struct seq *s = &b->seq[i];
		struct kiln__job *j = b->head;
		kiln_sample_params p;
		kiln_error err;

		if (s->job)
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
		if (kiln_gen_new(&s->gen, b->tok, b->m->cfg.vocab, &p, &err)) {
			fail_locked(j, err.msg);
			unlink_head(b);
			choices_over(j, j->n - j->admitted);
			i--;
			continue;
		}
		s->job = j;
		s->choice = j->admitted++;
		b->active++;
		if (j->admitted == j->n)
			unlink_head(b);
	}
}

/* Drops the sequences of cancelled or failed jobs (under the lock). */
static void drop_cancelled(struct kiln__batch *b)
{
	for (int i = 0; i < b->max_batch; i++) {
		struct seq *s = &b->seq[i];
		struct kiln__job *j = s->job;

		if (j && (j->cancelled || j->failed)) {
			release_slot(b, s);
			choices_over(j, 1);
		}
	}
}

/* Rows of one step (no lock: the inputs of admitted jobs are read-only and
 * the sequences belong to this thread). Returns the number of rows. */
static int build_rows(struct kiln__batch *b, int *nwant)
{
	int n = 0, budget = b->prefill_chunk, w = 0;

	for (int i = 0; i < b->max_batch; i++) {
		struct seq *s = &b->seq[i];
		const struct kiln__job *j = s->job;

		s->row = -1;
		s->done = 0;
		if (!j)
			continue;
		if (s->fed < j->n_prompt) {
			int k = j->n_prompt - s->fed;

			if (k > budget)
				k = budget;
			for (int r = 0; r < k; r++, n++) {
				b->slot[n] = i;
				b->pos[n] = s->fed + r;
				b->tok_ids[n] = j->prompt[s->fed + r];
				b->want[n] = 0;
			}
			budget -= k;
			s->fed += k;
			if (s->fed == j->n_prompt && k > 0) {
				b->want[n - 1] = 1;
				s->row = w++;
				s->pos = j->n_prompt;
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
static int sample_rows(struct kiln__batch *b, kiln_error *err)
{
	int V = b->m->cfg.vocab;

	for (int i = 0; i < b->max_batch; i++) {
		struct seq *s = &b->seq[i];
		int rc;

		if (!s->job || s->row < 0)
			continue;
		rc = kiln_gen_step(s->gen, b->logits + (size_t)s->row * V,
				   &s->next, err);
		if (rc < 0)
			return rc;
		s->done = rc == 1;
	}
	return 0;
}

/* Publishes released text and retires finished sequences (under the lock). */
static void publish(struct kiln__batch *b)
{
	for (int i = 0; i < b->max_batch; i++) {
		struct seq *s = &b->seq[i];
		struct kiln__job *j = s->job;
		struct kiln__choice *c;
		const char *text;
		size_t len;

		if (!j || s->row < 0)
			continue;
		c = &j->out[s->choice];
		text = kiln_gen_text(s->gen, &len);
		if (len > s->sent) {
			if (kiln__buf_add(&c->text, text + s->sent, len - s->sent))
				fail_locked(j, "out of memory for the answer");
			s->sent = len;
			if (j->stream)
				pthread_cond_broadcast(&j->cond);
		}
		if (s->done) {
			c->finish = kiln_gen_finish(s->gen);
			c->tokens = kiln_gen_tokens(s->gen);
			release_slot(b, s);
			choices_over(j, 1);
		}
	}
}

/* Every running sequence's job fails with msg (under the lock). */
static void fail_running(struct kiln__batch *b, const char *msg)
{
	for (int i = 0; i < b->max_batch; i++)
		if (b->seq[i].job)
			fail_locked(b->seq[i].job, msg);
	drop_cancelled(b);
}

static void *decode_main(void *arg)
{
	struct kiln__batch *b = arg;
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
			fail_running(b, err.msg);
		else
			publish(b);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

int kiln__batch_start(struct kiln__batch **out, const kiln_gpt *m,
		      const kiln_tok *tok, int max_batch, int queue,
		      int prefill_chunk, kiln_error *err)
{
	struct kiln__batch *b;
	int rc;

	*out = NULL;
	if (max_batch < 1 || queue < 0 || prefill_chunk < 1)
		return kiln_error_set(err, KILN_EINVAL,
			"serve: max_batch and prefill_chunk must be >= 1, queue >= 0");
	b = calloc(1, sizeof(*b));
	if (!b)
		return kiln_error_set(err, KILN_ENOMEM, "serve: out of memory");
	b->m = m;
	b->tok = tok;
	b->max_batch = max_batch;
	b->queue_max = queue;
	b->prefill_chunk = prefill_chunk;
	b->cap = max_batch + prefill_chunk;
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->work, NULL);
	if ((rc = kiln_kv_new(&b->kv, m, max_batch, err)))
		goto fail;
	b->seq = calloc((size_t)max_batch, sizeof(*b->seq));
	b->slot = malloc((size_t)b->cap * sizeof(int));
	b->pos = malloc((size_t)b->cap * sizeof(int));
	b->tok_ids = malloc((size_t)b->cap * sizeof(int));
	b->want = malloc((size_t)b->cap);
	b->logits = malloc((size_t)max_batch * (size_t)m->cfg.vocab *
			   sizeof(float));
	if (!b->seq || !b->slot || !b->pos || !b->tok_ids || !b->want ||
	    !b->logits) {
		rc = kiln_error_set(err, KILN_ENOMEM, "serve: out of memory");
		goto fail;
	}
	if (pthread_create(&b->thread, NULL, decode_main, b)) {
		rc = kiln_error_set(err, KILN_ENOMEM,
				    "serve: cannot start the decode thread");
		goto fail;
	}
	b->started = 1;
	*out = b;
	return 0;
fail:
	kiln__batch_stop(b);
	kiln__batch_free(b);
	return rc;
}

/* How many queued jobs would still wait once the free slots are handed
 * out in queue order (under the lock). */
static int still_waiting(const struct kiln__batch *b, int *free_after)
{
	int free_slots = b->max_batch - b->active, waiting = 0;

	for (const struct kiln__job *j = b->head; j; j = j->next) {
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

int kiln__batch_submit(struct kiln__batch *b, struct kiln__job *j)
{
	int free_after, waiting;

	pthread_mutex_lock(&b->lock);
	if (b->stopping) {
		pthread_mutex_unlock(&b->lock);
		return KILN_EINVAL;
	}
	waiting = still_waiting(b, &free_after);
	if (j->n > free_after && waiting + 1 > b->queue_max) {
		pthread_mutex_unlock(&b->lock);
		return KILN_ELIMIT;
	}
	j->refs++;
	j->next = NULL;
	if (b->tail)
		b->tail->next = j;
	else
		b->head = j;
	b->tail = j;
	b->queued++;
	pthread_cond_signal(&b->work);
	pthread_mutex_unlock(&b->lock);
	return 0;
}

void kiln__batch_cancel(struct kiln__batch *b, struct kiln__job *j)
{
	pthread_mutex_lock(&b->lock);
	j->cancelled = 1;
	pthread_cond_signal(&b->work);
	pthread_mutex_unlock(&b->lock);
}

pthread_mutex_t *kiln__batch_lock(struct kiln__batch *b)
{
	return &b->lock;
}

void kiln__batch_stats(struct kiln__batch *b, int *active, int *queued)
{
	pthread_mutex_lock(&b->lock);
	*active = b->active;
	*queued = b->queued;
	pthread_mutex_unlock(&b->lock);
}

void kiln__batch_stop(struct kiln__batch *b)
{
	if (!b)
		return;
	if (b->started) {
		pthread_mutex_lock(&b->lock);
		b->stopping = 1;
		pthread_cond_signal(&b->work);
		pthread_mutex_unlock(&b->lock);
		pthread_join(b->thread, NULL);
		b->started = 0;
	}
	pthread_mutex_lock(&b->lock);
	if (b->seq)
		fail_running(b, "server stopping");
	while (b->head) {
		struct kiln__job *j = b->head;

		fail_locked(j, "server stopping");
		unlink_head(b);
		choices_over(j, j->n - j->admitted);
	}
	pthread_mutex_unlock(&b->lock);
}

void kiln__batch_free(struct kiln__batch *b)
{
	if (!b)
		return;
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
