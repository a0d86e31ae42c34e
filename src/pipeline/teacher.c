/* The teacher engine (kiln/teacher.h): units -> requests in the store ->
 * answers -> the stage's output.
 *
 * The store is the source of truth. For each unit a run (1) has the stage
 * add the requests it needs (adding is idempotent, keyed by request hash,
 * unit id, index and kind), (2) answers pending requests from the cache
 * when an identical request (same hash of backend, path and rendered body)
 * was answered before, (3) sends the rest and commits the answers in
 * batches as they arrive, and (4) once a unit's requests are settled, lets
 * the stage add more or complete it, in unit order, so a run killed and
 * resumed writes exactly what an uninterrupted run would. The steps
 * overlap: see "A run has two threads here" below.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "kiln/teacher.h"
#include "kiln/utf8.h"

void kiln_teacher_opts_default(kiln_teacher_opts *o)
{
	memset(o, 0, sizeof(*o));
	kiln_llm_config_default(&o->llm);
	o->path = "/chat/completions";
}

/* Hex digest of everything that decides the answer. */
static void request_hash(const char *base, const char *path, const char *body,
			 char hex[33])
{
	XXH3_state_t *s = XXH3_createState();
	XXH128_hash_t h;

	XXH3_128bits_reset(s);
	XXH3_128bits_update(s, base, strlen(base));
	XXH3_128bits_update(s, "\n", 1);
	XXH3_128bits_update(s, path, strlen(path));
	XXH3_128bits_update(s, "\n", 1);
	XXH3_128bits_update(s, body, strlen(body));
	h = XXH3_128bits_digest(s);
	XXH3_freeState(s);
	snprintf(hex, 33, "%016llx%016llx", (unsigned long long)h.high64,
		 (unsigned long long)h.low64);
}

/* This run's unanswered items. */
struct pending {
	int64_t *ids;            /* the store's */
	char **bodies;
	size_t *unit;            /* whose */
	size_t *slot;            /* which of its slots */
	size_t n, cap;
};

/* Takes body. */
static int pending_push(struct pending *p, int64_t id, char *body,
			size_t unit, size_t slot)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 256;
		int64_t *ids = realloc(p->ids, cap * sizeof(*ids));
		char **b;
		size_t *u, *sl;
		if (ids)
			p->ids = ids;
		b = realloc(p->bodies, cap * sizeof(*b));
		if (b)
			p->bodies = b;
		u = realloc(p->unit, cap * sizeof(*u));
		if (u)
			p->unit = u;
		sl = realloc(p->slot, cap * sizeof(*sl));
		if (sl)
			p->slot = sl;
		if (!ids || !b || !u || !sl) {
			free(body);
			return KILN_ENOMEM;
		}
		p->cap = cap;
	}
	p->ids[p->n] = id;
	p->bodies[p->n] = body;
	p->unit[p->n] = unit;
	p->slot[p->n] = slot;
	p->n++;
	return 0;
}

static void pending_free(struct pending *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->bodies[i]);
	free(p->ids);
	free(p->bodies);
	free(p->unit);
	free(p->slot);
}

/* One finished request, handed from the HTTP thread to the store thread. */
struct answer {
	struct answer *next;
	size_t k;                /* index into the pending items */
	int ok, attempts;
	double ms;
	long input_tokens, output_tokens;  /* -1: unknown */
	json_t *json;            /* the parsed answer (a reference) */
	char *text;              /* the answer's body, or the error */
};

/* A unit's requests, in the order they were added. */
struct unit {
	kiln_teacher_slot *slots;
	size_t n, cap;
	size_t outstanding;      /* sent, no outcome yet */
	size_t first;            /* the first unit with its id */
	unsigned char keep;      /* a later unit has its id: keep the answers */
	unsigned char ready;     /* settled, and the stage added nothing more */
};

/* A run has two threads here (and the client's checker, src/llm/http.c,
 * which parses answers). The calling thread runs the HTTP loop
 * (kiln_llm_run_stream) and does nothing else: it takes requests from the
 * outgoing queue and puts each finished one on the answer queue. The store
 * thread owns everything else: it has the stage add the units' requests to
 * the store (a few units at a time, so that the first requests go out at
 * once), answers what it can from the cache, queues the rest for sending,
 * stores the answers as they come back (one transaction per batch), and
 * calls the stage's settled and complete. Against a server that answers at
 * once, this bookkeeping is most of kiln's time; on two cores it no longer
 * holds the requests back. */
struct kiln_teacher {
	kiln_store *store;
	const kiln_teacher_opts *o;
	kiln_teacher_stats *st;
	double t0;
	kiln_error err;
	int rc;
	int in_tx;      /* a transaction is open for the current batch */
	double last_commit;
	long done_before;      /* answered in an earlier run */
	int stored;            /* the store took an item of this run */
	int stage_failed;      /* a callback of the stage returned an error */
	size_t nunits;
	struct unit *units;
	json_t *ids;           /* unit id -> its first index */
	size_t next_put;       /* units before it have begun */
	size_t next_unit;      /* units before it are complete */
	size_t unready;        /* first units not ready yet */
	struct pending p;
	/* the queues between the threads, under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;     /* an answer came, or the run closed */
	struct answer *head, **tail;
	kiln_llm_request *outq;
	size_t outq_head, outq_n, outq_cap;
	int outq_end;          /* every unit has begun: no more requests */
	int closed;            /* the HTTP loop is over */
	size_t unstored;       /* answers queued, not yet in the store */
	size_t max_unstored;   /* more: the loop sends nothing new */
	kiln_llm *llm;         /* for kiln_llm_wakeup, once open */
	char backend[2200];    /* the backend in cache keys
				  (kiln_llm_backend_key) */
	atomic_int failed;     /* the store thread stopped on an error */
	atomic_int oom;        /* on_result could not queue an answer */
};

static int complete_ready(kiln_teacher *c);

#define COMMIT_EVERY_S 0.02
#define PUT_CHUNK 16           /* units begun between looks at answers */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Commits the open batch and completes the units it settled. */
static int flush_batch(kiln_teacher *c)
{
	int rc;

	if (!c->in_tx)
		return complete_ready(c);
	c->in_tx = 0;
	c->last_commit = now_s();
	if ((rc = kiln_store_commit(c->store, &c->err)))
		return rc;
	return complete_ready(c);
}

static int open_batch(kiln_teacher *c)
{
	int rc;

	if (c->in_tx)
		return 0;
	if ((rc = kiln_store_begin(c->store, &c->err)))
		return rc;
	c->in_tx = 1;
	return 0;
}

/* HTTP thread: the next request to send. */
static int next_request(void *ctx, kiln_llm_request *out)
{
	kiln_teacher *c = ctx;
	int got;

	pthread_mutex_lock(&c->mu);
	if (atomic_load(&c->failed)) {
		got = -1;
	} else if (c->unstored >= c->max_unstored) {
		/* The store is behind (a lock held elsewhere, a slow disk):
		 * answers only in memory would be lost to a kill, so wait. */
		got = 0;
	} else if (c->outq_head < c->outq_n) {
		*out = c->outq[c->outq_head++];
		got = 1;
	} else {
		got = c->outq_end ? -1 : 0;
	}
	pthread_mutex_unlock(&c->mu);
	return got;
}

/* HTTP thread: queue a finished request for the store thread. */
static int on_result(void *ctx, kiln_llm_result *r)
{
	kiln_teacher *c = ctx;
	struct answer *a;
	const char *text;

	if (atomic_load(&c->failed))
		return 1; /* a store that cannot write stops the run */
	if (!r)
		return 0;
	text = r->ok ? r->body : r->error;
	a = calloc(1, sizeof(*a));
	if (!a || !(a->text = strdup(text ? text : ""))) {
		free(a);
		atomic_store(&c->oom, 1);
		return 1;
	}
	a->k = (size_t)r->id;
	a->ok = r->ok;
	a->attempts = r->attempts;
	a->ms = r->ms;
	a->input_tokens = r->input_tokens;
	a->output_tokens = r->output_tokens;
	a->json = r->ok ? r->json : NULL; /* ours now: the store thread's */
	if (r->ok)
		r->json = NULL;
	pthread_mutex_lock(&c->mu);
	/* the store thread waits only for an empty queue */
	if (!c->head)
		pthread_cond_signal(&c->cv);
	*c->tail = a;
	c->tail = &a->next;
	c->unstored++;
	pthread_mutex_unlock(&c->mu);
	return 0;
}

/* Store thread: hands pending item k to the HTTP thread. */
static int queue_request(kiln_teacher *c, size_t k)
{
	int rc = 0;

	pthread_mutex_lock(&c->mu);
	if (c->outq_n == c->outq_cap) {
		size_t cap = c->outq_cap ? c->outq_cap * 2 : 1024;
		kiln_llm_request *q = realloc(c->outq, cap * sizeof(*q));
		if (q) {
			c->outq = q;
			c->outq_cap = cap;
		} else {
			rc = kiln_error_set(&c->err, KILN_ENOMEM,
					    "out of memory");
		}
	}
	if (!rc) {
		c->outq[c->outq_n++] = (kiln_llm_request){
			.id = (int64_t)k, .path = c->o->path,
			.body = c->p.bodies[k] };
		c->units[c->p.unit[k]].outstanding++;
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

static void wake_http(kiln_teacher *c)
{
	pthread_mutex_lock(&c->mu);
	if (c->llm)
		kiln_llm_wakeup(c->llm);
	pthread_mutex_unlock(&c->mu);
}

/* A new slot at the end of unit u's. */
static int new_slot(struct unit *un, long tag, size_t *slot)
{
	if (un->n == un->cap) {
		size_t cap = un->cap ? un->cap * 2 : 4;
		kiln_teacher_slot *s = realloc(un->slots, cap * sizeof(*s));
		if (!s)
			return KILN_ENOMEM;
		un->slots = s;
		un->cap = cap;
	}
	un->slots[un->n] = (kiln_teacher_slot){ .tag = tag };
	*slot = un->n++;
	return 0;
}

int kiln_teacher_add(kiln_teacher *c, size_t unit, const char *kind,
		     int index, char *body, long tag, kiln_error *err)
{
	const char *id = c->o->unit_id(c->o->ctx, unit);
	struct unit *un = &c->units[unit];
	char hex[33], *ans = NULL;
	kiln_store_slot job = { 0 };
	size_t slot;
	int rc;

	if (!body)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	if (new_slot(un, tag, &slot)) {
		free(body);
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	}
	c->st->jobs++;
	request_hash(c->backend, c->o->path, body, hex);
	rc = kiln_store_put(c->store, id, index, kind, body, hex, &job, err);
	if (!rc)
		c->stored = 1;
	/* retry_failed: this run's failures, not those of other
	 * configurations in the same store */
	if (!rc && job.state == KILN_ITEM_FAILED && c->o->retry_failed &&
	    !(rc = kiln_store_retry(c->store, job.id, err)))
		job.state = KILN_ITEM_PENDING;
	if (!rc && job.state == KILN_ITEM_PENDING && !c->o->no_cache)
		rc = kiln_store_cached(c->store, hex, &ans, err);
	if (rc) {
		free(body);
		return rc;
	}
	if (job.state == KILN_ITEM_PENDING && ans) {
		rc = kiln_store_finish(c->store, job.id, ans, 0, 0, err);
		c->st->cached++;
	} else if (job.state == KILN_ITEM_PENDING) {
		rc = pending_push(&c->p, job.id, body, unit, slot);
		body = NULL;
		if (rc)
			kiln_error_set(err, rc, "out of memory");
		else
			rc = queue_request(c, c->p.n - 1);
	} else {
		c->st->already++;
		if (job.state == KILN_ITEM_FAILED) {
			c->st->failed_before++;
			un->slots[slot].failed = 1;
		} else {
			c->done_before++;
		}
		ans = job.answer;
		job.answer = NULL;
	}
	/* Answers are kept parsed; one that no longer parses is as good as
	 * missing. */
	if (!rc && ans)
		un->slots[slot].answer = json_loads(ans, JSON_ALLOW_NUL, NULL);
	free(ans);
	free(job.answer);
	free(body);
	return rc;
}

/* Store thread: unit u has nothing outstanding; the stage may add more
 * (it is asked again once those settle) or nothing (u is ready). */
static int settle(kiln_teacher *c, size_t u)
{
	struct unit *un = &c->units[u];
	int rc;

	while (!un->ready && un->outstanding == 0) {
		size_t before = un->n;

		if (c->o->settled &&
		    (rc = c->o->settled(c->o->ctx, c, u, un->slots, un->n,
					&c->err))) {
			c->stage_failed = 1;
			return rc;
		}
		if (un->n == before) {
			un->ready = 1;
			c->unready--;
		}
	}
	return 0;
}

/* Store thread: unit u's requests into the store. A unit whose id came
 * before is the same requests: its output is the first one's. */
static int begin_unit(kiln_teacher *c, size_t u)
{
	int rc;

	if (c->units[u].first != u) {
		/* a repeat (index_ids): the first one's requests */
		size_t n = c->units[c->units[u].first].n;
		c->st->jobs += (long)n;
		c->st->already += (long)n;
		return 0;
	}
	if ((rc = c->o->begin(c->o->ctx, c, u, &c->err))) {
		c->stage_failed = 1;
		return rc;
	}
	return settle(c, u);
}

/* Store thread: one answer into the store, in the open batch. */
static int store_answer(kiln_teacher *c, struct answer *a)
{
	size_t u = c->p.unit[a->k];
	kiln_teacher_slot *s = &c->units[u].slots[c->p.slot[a->k]];
	int rc;

	if ((rc = open_batch(c)))
		return rc;
	c->units[u].outstanding--;
	if (a->ok) {
		json_decref(s->answer);
		s->answer = a->json;
		a->json = NULL;
		rc = kiln_store_finish(c->store, c->p.ids[a->k], a->text,
				       a->ms, a->attempts, &c->err);
		c->st->sent++;
		if (a->input_tokens < 0 || a->output_tokens < 0)
			c->st->usage_unknown++;
		if (a->input_tokens > 0)
			c->st->input_tokens += a->input_tokens;
		if (a->output_tokens > 0)
			c->st->output_tokens += a->output_tokens;
	} else {
		char msg[700];
		snprintf(msg, sizeof(msg), "%s (after %d attempt%s)", a->text,
			 a->attempts, a->attempts == 1 ? "" : "s");
		rc = kiln_store_fail(c->store, c->p.ids[a->k], msg,
				     a->attempts, &c->err);
		if (!c->st->failed) {
			/* cut to fit, at a character's start */
			size_t n = kiln_utf8_cut(msg, strlen(msg),
						 sizeof(c->st->first_error) - 1);
			memcpy(c->st->first_error, msg, n);
			c->st->first_error[n] = '\0';
		}
		c->st->failed++;
		s->failed = 1;
	}
	c->st->seconds = now_s() - c->t0;
	if (c->o->progress)
		c->o->progress(c->o->ctx, c->st);
	if (!rc && c->units[u].outstanding == 0)
		rc = settle(c, u);
	return rc;
}

static void answers_free(struct answer *a)
{
	while (a) {
		struct answer *next = a->next;
		json_decref(a->json);
		free(a->text);
		free(a);
		a = next;
	}
}

/* Waits, with mu held, for an answer or the end of the run, or until the
 * open batch is due for its commit. */
static void wait_for_work(kiln_teacher *c)
{
	while (!c->head && !c->closed) {
		struct timespec ts;
		double left;

		if (!c->in_tx) {
			pthread_cond_wait(&c->cv, &c->mu);
			continue;
		}
		left = c->last_commit + COMMIT_EVERY_S - now_s();
		if (left <= 0)
			return;
		clock_gettime(CLOCK_REALTIME, &ts);
		left += ts.tv_nsec / 1e9;
		ts.tv_sec += (time_t)left;
		ts.tv_nsec = (long)((left - (double)(time_t)left) * 1e9);
		if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) != 0)
			return;
	}
}

/* Store thread. Answers become durable together, at most COMMIT_EVERY_S
 * apart (a commit per answer cost a tenth of kiln's time), then the units
 * they completed go out. A kill loses at most that much time's work: the
 * next run adds those items again and sends what has no answer. */
static void *store_thread(void *arg)
{
	kiln_teacher *c = arg;
	int rc = 0, ended = 0;

	c->last_commit = now_s();
	for (;;) {
		struct answer *batch, *a;
		int closed, adding = c->next_put < c->nunits;

		if (!adding && !ended) {
			/* every unit has begun: the loop's source ends (at
			 * once when there are no units) once no unit can
			 * add more */
			if (c->unready == 0) {
				pthread_mutex_lock(&c->mu);
				c->outq_end = 1;
				pthread_mutex_unlock(&c->mu);
				wake_http(c);
				ended = 1;
			}
		}
		pthread_mutex_lock(&c->mu);
		if (!adding)
			wait_for_work(c);
		batch = c->head;
		c->head = NULL;
		c->tail = &c->head;
		closed = c->closed;
		pthread_mutex_unlock(&c->mu);

		{
			size_t nb = 0, was, queued = c->p.n;

			for (a = batch; a && !rc; a = a->next, nb++)
				rc = store_answer(c, a);
			answers_free(batch);
			pthread_mutex_lock(&c->mu);
			was = c->unstored;
			c->unstored -= nb;
			pthread_mutex_unlock(&c->mu);
			if ((nb && was >= c->max_unstored) || c->p.n > queued)
				wake_http(c); /* it may be waiting for us */
		}
		if (!rc && adding && !closed) {
			size_t end = c->next_put + PUT_CHUNK;
			size_t queued = c->p.n;

			if (end > c->nunits)
				end = c->nunits;
			rc = open_batch(c);
			while (!rc && c->next_put < end)
				if (!(rc = begin_unit(c, c->next_put)))
					c->next_put++;
			if (c->p.n > queued)
				wake_http(c);
		}
		if (!rc && c->in_tx && (closed ||
		    now_s() - c->last_commit >= COMMIT_EVERY_S))
			rc = flush_batch(c);
		else if (!rc && !c->in_tx)
			rc = complete_ready(c);
		if (rc || (closed && !batch))
			break;
	}
	if (!rc && c->in_tx)
		rc = flush_batch(c);
	if (rc) {
		if (c->in_tx)
			kiln_store_commit(c->store, NULL); /* keep what is in */
		c->rc = rc;
		atomic_store(&c->failed, 1);
		wake_http(c);
	}
	return NULL;
}

/* Which units repeat an earlier id, all of them before anything runs: a
 * repeat's output is the first one's, so the first one's answers must be
 * kept (keep) even if it completes long before the repeat is reached. */
static int index_ids(kiln_teacher *c, kiln_error *err)
{
	for (size_t u = 0; u < c->nunits; u++) {
		const char *id = c->o->unit_id(c->o->ctx, u);
		const json_t *seen;

		if (!id)
			return kiln_error_set(err, KILN_EINVAL, "unit %zu has "
					      "no id", u + 1);
		c->units[u].first = u;
		c->unready++;
		if ((seen = json_object_get(c->ids, id))) {
			c->units[u].first = (size_t)json_integer_value(seen);
			c->units[c->units[u].first].keep = 1;
			c->unready--;
		} else if (json_object_set_new(c->ids, id,
					       json_integer((json_int_t)u))) {
			return kiln_error_set(err, KILN_ENOMEM,
					      "out of memory");
		}
	}
	return 0;
}

/* Drops a unit's parsed answers (the largest part of a run's memory) once
 * it is complete, unless a later unit with its id needs them. */
static void forget_unit(kiln_teacher *c, size_t u)
{
	struct unit *un = &c->units[u];

	if (un->keep)
		return;
	for (size_t s = 0; s < un->n; s++) {
		json_decref(un->slots[s].answer);
		un->slots[s].answer = NULL;
	}
}

static int complete_ready(kiln_teacher *c)
{
	int rc;

	while (c->next_unit < c->next_put &&
	       c->units[c->units[c->next_unit].first].ready) {
		struct unit *un = &c->units[c->units[c->next_unit].first];

		rc = c->o->complete(c->o->ctx, c->next_unit, un->slots, un->n,
				    &c->err);
		if (rc)
			return rc;
		forget_unit(c, c->next_unit);
		c->next_unit++;
	}
	return 0;
}

/* Every request the run needed failed: nothing to build on. */
static int all_failed(kiln_teacher *c, kiln_error *err)
{
	kiln_teacher_stats *st = c->st;

	if (st->sent + st->cached + c->done_before > 0 ||
	    st->failed + st->failed_before == 0)
		return 0;
	if (st->failed)
		return kiln_error_set(err, KILN_EIO, "every request failed "
				      "(%ld of %ld); the first error: %s",
				      st->failed, st->failed + st->failed_before,
				      st->first_error);
	return kiln_error_set(err, KILN_EIO, "every request had failed in an "
			      "earlier run (%ld); none was sent again",
			      st->failed_before);
}

int kiln_teacher_run(const kiln_teacher_opts *o, kiln_store *store,
		     kiln_teacher_stats *st, kiln_error *err)
{
	kiln_teacher c = { 0 };
	kiln_llm *llm = NULL;
	pthread_t thread;
	int rc = 0;

	memset(st, 0, sizeof(*st));
	c.t0 = now_s();
	if (!o->unit_id || !o->begin || !o->complete || !o->path ||
	    !o->llm.base_url)
		return kiln_error_set(err, KILN_EINVAL, "the teacher engine "
				      "needs unit_id, begin, complete, a path "
				      "and a base URL");
	c.store = store;
	c.o = o;
	c.st = st;
	c.nunits = o->units;
	c.units = calloc(o->units + 1, sizeof(*c.units));
	c.ids = json_object();
	c.tail = &c.head;
	c.max_unstored = 4 * (size_t)(o->llm.concurrency > 0
				      ? o->llm.concurrency : 16);
	if (c.max_unstored < 256)
		c.max_unstored = 256;
	pthread_mutex_init(&c.mu, NULL);
	pthread_cond_init(&c.cv, NULL);
	if (!c.units || !c.ids) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = index_ids(&c, err)))
		goto out;
	/* before any item is keyed: a local checkpoint by its content */
	if ((rc = kiln_llm_backend_key(o->llm.base_url, c.backend,
				       sizeof c.backend, err)))
		goto out;

	/* The store thread starts adding items while libcurl loads here. */
	if (pthread_create(&thread, NULL, store_thread, &c) != 0) {
		rc = kiln_error_set(err, KILN_ENOMEM, "cannot start a thread");
		goto out;
	}
	if ((rc = kiln_llm_open(&llm, &o->llm, err)) == 0) {
		pthread_mutex_lock(&c.mu);
		c.llm = llm;
		pthread_mutex_unlock(&c.mu);
		rc = kiln_llm_run_stream(llm, next_request, &c, on_result, &c,
					 err);
	}
	pthread_mutex_lock(&c.mu);
	c.closed = 1;
	c.llm = NULL;
	pthread_cond_signal(&c.cv);
	pthread_mutex_unlock(&c.mu);
	pthread_join(thread, NULL);
	if (c.rc) {
		/* the store thread's error, not "stopped by the caller" */
		rc = c.rc;
		if (err)
			*err = c.err;
	} else if (atomic_load(&c.oom)) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
	}
	/* Whatever is left (nothing, unless the run stopped). */
	if (!rc && (rc = complete_ready(&c)) && err)
		*err = c.err;
	if (!rc && c.next_unit < c.nunits)
		rc = kiln_error_set(err, KILN_EINVAL, "the run ended with "
				    "%zu units incomplete", c.nunits -
				    c.next_unit);
	if (!rc)
		rc = all_failed(&c, err);
	else
		st->resumable = c.stored && !c.stage_failed &&
				rc != KILN_EINVAL && rc != KILN_EPARSE;
out:
	st->seconds = now_s() - c.t0;
	answers_free(c.head); /* left when the store thread stopped early */
	pthread_cond_destroy(&c.cv);
	pthread_mutex_destroy(&c.mu);
	kiln_llm_close(llm);
	for (size_t u = 0; c.units && u < c.nunits; u++) {
		for (size_t s = 0; s < c.units[u].n; s++)
			json_decref(c.units[u].slots[s].answer);
		free(c.units[u].slots);
	}
	free(c.units);
	json_decref(c.ids);
	free(c.outq);
	pending_free(&c.p);
	return rc;
}
