/* kiln generate: tasks -> requests in the store -> answers -> candidates.
 *
 * The store is the source of truth. For each task a run (1) adds the
 * requests it needs (adding is idempotent, keyed by request hash, task,
 * index and kind), (2) answers pending requests from the cache when an
 * identical request (same hash of backend, path and rendered body) was
 * answered before, (3) sends the rest and commits the answers in batches
 * as they arrive, and (4) writes the task's candidates once all its
 * requests are settled, in task order and index order, so a run killed and
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

#include "kiln/code.h"
#include "kiln/generate.h"
#include "util/buf.h"

extern const char kiln__tmpl_solution[], kiln__tmpl_tests[],
	kiln__tmpl_joint[];

const char *kiln_template_default(const char *name)
{
	if (strcmp(name, "solution") == 0)
		return kiln__tmpl_solution;
	if (strcmp(name, "tests") == 0)
		return kiln__tmpl_tests;
	if (strcmp(name, "joint") == 0)
		return kiln__tmpl_joint;
	return NULL;
}

void kiln_generate_opts_default(kiln_generate_opts *o)
{
	memset(o, 0, sizeof(*o));
	kiln_llm_config_default(&o->llm);
	o->k = 1;
	o->n = 1;
	o->test_sets = 1;
	o->temperature = 0.8;
	o->top_p = 0.95;
	o->max_tokens = 1024;
	o->seed = 1234;
}

char *kiln_template_render(const char *tmpl, const json_t *task,
			   kiln_error *err)
{
	kiln_buf b = { .max = (size_t)-1 / 2 };
	const char *p = tmpl;
	int rc = 0;

	while (*p && !rc) {
		/* the run of plain text up to the next brace, in one go */
		size_t run = strcspn(p, "{}");

		if (run) {
			rc = kiln__buf_add(&b, p, run);
			p += run;
		} else if ((p[0] == '{' && p[1] == '{') ||
			   (p[0] == '}' && p[1] == '}')) {
			rc = kiln__buf_add(&b, p, 1);
			p += 2;
		} else if (*p == '}') {
			rc = kiln__buf_add(&b, p++, 1);
		} else {
			const char *end = strchr(p, '}');
			char name[64];
			const char *v = NULL;
			size_t n = end ? (size_t)(end - p - 1) : 0;
			if (!end || n == 0 || n >= sizeof(name)) {
				free(b.p);
				kiln_error_set(err, KILN_EPARSE, "template: "
					       "unclosed or empty '{' at byte "
					       "%ld", (long)(p - tmpl));
				return NULL;
			}
			memcpy(name, p + 1, n);
			name[n] = '\0';
			if (strcmp(name, "prompt") == 0 ||
			    strcmp(name, "entry_point") == 0 ||
			    strcmp(name, "language") == 0) {
				v = json_string_value(json_object_get(task,
								      name));
				if (!v && strcmp(name, "language") == 0)
					v = "python";
				if (!v)
					v = "";
			} else {
				free(b.p);
				kiln_error_set(err, KILN_EPARSE, "template: "
					       "unknown variable {%s} (known: "
					       "prompt, entry_point, language)",
					       name);
				return NULL;
			}
			rc = kiln__buf_add(&b, v, strlen(v));
			p = end + 1;
		}
	}
	if (!rc && !b.p)
		rc = kiln__buf_add(&b, "", 0);
	if (rc) {
		free(b.p);
		kiln_error_set(err, KILN_ENOMEM, "out of memory");
		return NULL;
	}
	return b.p;
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

/* The JSON body of one request. Keys in a fixed order: the hash of the
 * text is the cache key. */
static char *request_body(const kiln_generate_opts *o, const char *prompt,
			  long seed, int n)
{
	json_t *r = json_object();
	char *text;

	json_object_set_new(r, "model", json_string(o->model ? o->model
							      : "default"));
	if (o->completions)
		json_object_set_new(r, "prompt", json_string(prompt));
	else
		json_object_set_new(r, "messages", json_pack("[{ss ss}]",
			"role", "user", "content", prompt));
	json_object_set_new(r, "temperature", json_real(o->temperature));
	json_object_set_new(r, "top_p", json_real(o->top_p));
	json_object_set_new(r, "max_tokens", json_integer(o->max_tokens));
	json_object_set_new(r, "seed", json_integer(seed));
	json_object_set_new(r, "n", json_integer(n));
	if (o->stop)
		json_object_set_new(r, "stop", json_pack("[s]", o->stop));
	text = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(r);
	return text;
}

/* request_body() for many prompts at the speed of string copies: the body
 * is cut, once, around a marker prompt and a marker seed into three
 * constant pieces; a body is then piece 0, the prompt as jansson escapes
 * it, piece 1, the seed as jansson prints it, piece 2. The text is
 * request_body()'s byte for byte, so request hashes (cache keys) do not
 * depend on which of the two made it. */
struct body_tmpl {
	char *text;          /* request_body() of the markers */
	const char *piece[3];
	size_t len[3];
};

#define MARK_SEED 7316498250137LL

static int body_tmpl_init(struct body_tmpl *bt, const kiln_generate_opts *o)
{
	static const char mark_prompt[] = "\x01kiln-prompt\x01";
	static const char esc_prompt[] = "\"\\u0001kiln-prompt\\u0001\"";
	char seed[32], *p, *q;

	memset(bt, 0, sizeof(*bt));
	bt->text = request_body(o, mark_prompt, MARK_SEED, o->n);
	snprintf(seed, sizeof(seed), ":%" JSON_INTEGER_FORMAT ",",
		 (json_int_t)MARK_SEED);
	if (!bt->text || !(p = strstr(bt->text, esc_prompt)) ||
	    strstr(p + 1, esc_prompt) || !(q = strstr(p, seed)))
		return -1; /* cannot happen; the caller falls back */
	bt->piece[0] = bt->text;
	bt->len[0] = (size_t)(p - bt->text);
	bt->piece[1] = p + strlen(esc_prompt);
	bt->len[1] = (size_t)(q + 1 - bt->piece[1]);
	bt->piece[2] = q + strlen(seed) - 1;
	bt->len[2] = strlen(bt->piece[2]);
	return 0;
}

static char *body_from_tmpl(const struct body_tmpl *bt, const char *prompt,
			    long seed)
{
	json_t *js = json_string(prompt);
	char *esc = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL, num[32];
	kiln_buf b = { .max = (size_t)-1 / 2 };
	int rc;

	json_decref(js);
	if (!esc)
		return NULL;
	snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, (json_int_t)seed);
	rc = kiln__buf_add(&b, bt->piece[0], bt->len[0]) ||
	     kiln__buf_add(&b, esc, strlen(esc)) ||
	     kiln__buf_add(&b, bt->piece[1], bt->len[1]) ||
	     kiln__buf_add(&b, num, strlen(num)) ||
	     kiln__buf_add(&b, bt->piece[2], bt->len[2]);
	free(esc);
	if (rc) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* The pieces must give what request_body() gives (they would not if, say,
 * the model name held the marker): checked on a probe. */
static int body_tmpl_check(const struct body_tmpl *bt,
			   const kiln_generate_opts *o)
{
	static const char probe[] = "a \"quoted\"\n\tprompt \\ {x} \xc3\xa9";
	char *want = request_body(o, probe, -42, o->n);
	char *got = body_from_tmpl(bt, probe, -42);
	int same = want && got && strcmp(want, got) == 0;

	free(want);
	free(got);
	return same ? 0 : -1;
}

/* This run's unanswered jobs. */
struct pending {
	int64_t *ids;            /* the store's */
	char **bodies;
	size_t *slot;            /* where the answer goes: run_ctx.answers */
	size_t *task;            /* index into the run's tasks */
	size_t n, cap;
};

/* Takes body. */
static int pending_push(struct pending *p, int64_t id, char *body,
			size_t slot, size_t task)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 256;
		int64_t *ids = realloc(p->ids, cap * sizeof(*ids));
		char **b;
		size_t *sl, *t;
		if (ids)
			p->ids = ids;
		b = realloc(p->bodies, cap * sizeof(*b));
		if (b)
			p->bodies = b;
		sl = realloc(p->slot, cap * sizeof(*sl));
		if (sl)
			p->slot = sl;
		t = realloc(p->task, cap * sizeof(*t));
		if (t)
			p->task = t;
		if (!ids || !b || !sl || !t) {
			free(body);
			return KILN_ENOMEM;
		}
		p->cap = cap;
	}
	p->ids[p->n] = id;
	p->bodies[p->n] = body;
	p->slot[p->n] = slot;
	p->task[p->n] = task;
	p->n++;
	return 0;
}

static void pending_free(struct pending *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->bodies[i]);
	free(p->ids);
	free(p->bodies);
	free(p->slot);
	free(p->task);
}

/* One finished request, handed from the HTTP thread to the writer. */
struct answer {
	struct answer *next;
	size_t k;                /* index into the pending jobs */
	int ok, attempts;
	double ms;
	long input_tokens, output_tokens;
	json_t *json;            /* the parsed answer (a reference) */
	char *text;              /* the answer's body, or the error */
};

/* A run has two threads here (and the client's checker, src/llm/http.c,
 * which parses answers). The calling thread runs the HTTP loop
 * (kiln_llm_run_stream) and does nothing else: it takes requests from the
 * outgoing queue and puts each finished one on the answer queue. The store
 * thread owns everything else: it adds the tasks' jobs to the store (a few
 * tasks at a time, so that the first requests go out at once), answers
 * what it can from the cache, queues the rest for sending, stores the
 * answers as they come back (one transaction per batch) and writes the
 * candidates of each task once it is complete. Against a server that
 * answers at once, this bookkeeping is most of kiln's time; on two cores
 * it no longer holds the requests back. */
struct run_ctx {
	kiln_store *store;
	const kiln_generate_opts *o;
	kiln_generate_stats *st;
	double t0;
	kiln_error err;
	int rc;
	int in_tx;      /* a transaction is open for the current batch */
	double last_commit;
	/* adding the jobs (store thread) */
	const char *path, *tmpl_tests, *kind0;
	struct body_tmpl bt;
	int bt_ok;
	size_t next_put;       /* tasks before it have all their jobs */
	struct pending p;
	/* Streaming out: a task's candidates go out once none of its jobs
	 * is outstanding and every task before it has gone out. */
	const json_t *tasks;
	/* Each task's answers, kept parsed until its candidates are out:
	 * answers[task * per_task + slot], slot i < k the solution (or joint)
	 * requests, k + j the test requests. */
	size_t per_task;
	int nreq0;             /* solution (or joint) requests per task */
	json_t **answers;
	size_t *first;         /* per task: the first task with its id */
	unsigned char *keep;   /* per task: a later one has the same id */
	json_t *ids;           /* task id -> its first index */
	size_t *outstanding;   /* per task */
	size_t next_task;
	kiln_out *out;
	const char *tmpl_solution;
	/* the queues between the threads, under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;     /* an answer came, or the run closed */
	struct answer *head, **tail;
	kiln_llm_request *outq;
	size_t outq_head, outq_n, outq_cap;
	int outq_end;          /* every job is added: no more requests */
	int closed;            /* the HTTP loop is over */
	size_t unstored;       /* answers queued, not yet in the store */
	size_t max_unstored;   /* more: the loop sends nothing new */
	kiln_llm *llm;         /* for kiln_llm_wakeup, once open */
	atomic_int failed;     /* the store thread stopped on an error */
	atomic_int oom;        /* on_result could not queue an answer */
};

static int emit_ready(struct run_ctx *c, kiln_error *err);

#define COMMIT_EVERY_S 0.02
#define PUT_CHUNK 16           /* tasks added between looks at answers */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Commits the open batch and writes the tasks it completed. */
static int flush_batch(struct run_ctx *c)
{
	int rc;

	if (!c->in_tx)
		return emit_ready(c, &c->err);
	c->in_tx = 0;
	c->last_commit = now_s();
	if ((rc = kiln_store_commit(c->store, &c->err)))
		return rc;
	return emit_ready(c, &c->err);
}

static int open_batch(struct run_ctx *c)
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
	struct run_ctx *c = ctx;
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
	struct run_ctx *c = ctx;
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

/* Store thread: hands pending job k to the HTTP thread. */
static int queue_request(struct run_ctx *c, size_t k)
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
			.id = (int64_t)k, .path = c->path,
			.body = c->p.bodies[k] };
		c->outstanding[c->p.task[k]]++;
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

static void wake_http(struct run_ctx *c)
{
	pthread_mutex_lock(&c->mu);
	if (c->llm)
		kiln_llm_wakeup(c->llm);
	pthread_mutex_unlock(&c->mu);
}

/* Choices that solution request i of a task asks for. */
static int choices_of(const kiln_generate_opts *o, int i)
{
	int left = o->k - i * o->n;

	return left < o->n ? left : o->n;
}

/* Store thread: the jobs of task ti into the store. Each comes back with
 * where it stands: pending (answered from the cache when an identical
 * request was answered before, else queued for sending), done in an
 * earlier run (its answer is kept for the candidates) or failed. A task
 * whose id came before is the same jobs: its candidates are the first
 * one's. */
static int put_task(struct run_ctx *c, size_t ti)
{
	const kiln_generate_opts *o = c->o;
	const json_t *task = json_array_get(c->tasks, ti);
	const char *id = json_string_value(json_object_get(task, "id"));
	kiln_error *err = &c->err;
	int rc = 0;

	if (c->first[ti] != ti) {
		/* a repeat (index_ids): the first one's jobs */
		c->st->jobs += (long)c->per_task;
		c->st->already += (long)c->per_task;
		return 0;
	}
	for (int kind = 0; kind < 2 && !rc; kind++) {
		int count = kind == 0 ? c->nreq0 : o->test_sets;
		const char *kname = kind == 0 ? c->kind0 : "tests";
		char *prompt;

		if (count <= 0)
			continue;
		prompt = kiln_template_render(kind == 0 ? c->tmpl_solution
					      : c->tmpl_tests, task, err);
		if (!prompt)
			return kiln_error_prefix(err, "task %s: ", id);
		for (int i = 0; i < count && !rc; i++) {
			size_t slot = ti * c->per_task +
				      (size_t)(kind == 0 ? i : c->nreq0 + i);
			/* request i of a task's solutions asks for choices
			 * i*n .. i*n+n-1 (the last one for what is left);
			 * a test request for one */
			int n = kind == 0 ? choices_of(o, i) : 1;
			char *body = c->bt_ok && n == o->n
				? body_from_tmpl(&c->bt, prompt, o->seed + i)
				: request_body(o, prompt, o->seed + i, n);
			char hex[33], *ans = NULL;
			kiln_store_slot job;

			if (!body) {
				rc = kiln_error_set(err, KILN_ENOMEM,
						    "out of memory");
				break;
			}
			c->st->jobs++;
			request_hash(o->llm.base_url, c->path, body, hex);
			rc = kiln_store_put(c->store, id, i, kname, body, hex,
					    &job, err);
			/* --retry-failed: this run's failures, not those of
			 * other configurations in the same store */
			if (!rc && job.state == KILN_ITEM_FAILED &&
			    o->retry_failed &&
			    !(rc = kiln_store_retry(c->store, job.id, err)))
				job.state = KILN_ITEM_PENDING;
			if (!rc && job.state == KILN_ITEM_PENDING &&
			    !o->no_cache)
				rc = kiln_store_cached(c->store, hex, &ans, err);
			if (rc) {
				free(body);
				break;
			}
			if (job.state == KILN_ITEM_PENDING && ans) {
				rc = kiln_store_finish(c->store, job.id, ans,
						       0, 0, err);
				c->st->cached++;
			} else if (job.state == KILN_ITEM_PENDING) {
				rc = pending_push(&c->p, job.id, body, slot, ti);
				body = NULL;
				if (rc)
					kiln_error_set(err, rc, "out of memory");
				else
					rc = queue_request(c, c->p.n - 1);
			} else {
				c->st->already++;
				ans = job.answer;
				job.answer = NULL;
			}
			/* Answers are kept parsed; one that no longer parses
			 * is as good as missing (written as failed). */
			if (!rc && ans)
				c->answers[slot] = json_loads(ans, 0, NULL);
			free(ans);
			free(job.answer);
			free(body);
		}
		free(prompt);
	}
	return rc;
}

/* Store thread: one answer into the store, in the open batch. */
static int store_answer(struct run_ctx *c, struct answer *a)
{
	int rc;

	if ((rc = open_batch(c)))
		return rc;
	c->outstanding[c->p.task[a->k]]--;
	if (a->ok) {
		json_decref(c->answers[c->p.slot[a->k]]);
		c->answers[c->p.slot[a->k]] = a->json;
		a->json = NULL;
		rc = kiln_store_finish(c->store, c->p.ids[a->k], a->text,
				       a->ms, a->attempts, &c->err);
		c->st->sent++;
		c->st->input_tokens += a->input_tokens;
		c->st->output_tokens += a->output_tokens;
	} else {
		char msg[700];
		snprintf(msg, sizeof(msg), "%s (after %d attempt%s)", a->text,
			 a->attempts, a->attempts == 1 ? "" : "s");
		rc = kiln_store_fail(c->store, c->p.ids[a->k], msg,
				     a->attempts, &c->err);
		c->st->failed++;
	}
	c->st->seconds = now_s() - c->t0;
	if (c->o->progress)
		c->o->progress(c->o->ctx, c->st);
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
static void wait_for_work(struct run_ctx *c)
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
 * apart (a commit per answer cost a tenth of kiln's time), then the tasks
 * they completed go out. A kill loses at most that much time's work: the
 * next run adds those jobs again and sends what has no answer. */
static void *store_thread(void *arg)
{
	struct run_ctx *c = arg;
	size_t ntasks = json_array_size(c->tasks);
	int rc = 0, ended = 0;

	c->last_commit = now_s();
	for (;;) {
		struct answer *batch, *a;
		int closed, adding = c->next_put < ntasks;

		if (!adding && !ended) {
			/* every job is in: the loop's source ends (at once
			 * when there are no tasks) */
			pthread_mutex_lock(&c->mu);
			c->outq_end = 1;
			pthread_mutex_unlock(&c->mu);
			wake_http(c);
			ended = 1;
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
			size_t nb = 0, was;

			for (a = batch; a && !rc; a = a->next, nb++)
				rc = store_answer(c, a);
			answers_free(batch);
			pthread_mutex_lock(&c->mu);
			was = c->unstored;
			c->unstored -= nb;
			pthread_mutex_unlock(&c->mu);
			if (nb && was >= c->max_unstored)
				wake_http(c); /* it may be waiting for us */
		}
		if (!rc && adding && !closed) {
			size_t end = c->next_put + PUT_CHUNK;
			size_t queued = c->p.n;

			if (end > ntasks)
				end = ntasks;
			rc = open_batch(c);
			while (!rc && c->next_put < end)
				if (!(rc = put_task(c, c->next_put)))
					c->next_put++;
			if (c->p.n > queued)
				wake_http(c);
		}
		if (!rc && c->in_tx && (closed ||
		    now_s() - c->last_commit >= COMMIT_EVERY_S))
			rc = flush_batch(c);
		else if (!rc && !c->in_tx)
			rc = emit_ready(c, &c->err);
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

/* The text of an answer's choice i (NULL when it has none). */
static const char *answer_choice(const json_t *v, size_t i)
{
	const json_t *c0;
	const char *t;

	c0 = json_array_get(json_object_get(v, "choices"), i);
	t = json_string_value(json_object_get(json_object_get(c0, "message"),
					      "content"));
	if (!t)
		t = json_string_value(json_object_get(c0, "text"));
	return t;
}

static json_t *answer_usage(const json_t *answer)
{
	const json_t *u = json_object_get(answer, "usage");
	return json_pack("{sI sI}", "prompt_tokens",
		json_integer_value(json_object_get(u, "prompt_tokens")),
		"completion_tokens",
		json_integer_value(json_object_get(u, "completion_tokens")));
}

/* Writes the candidates of one task. */
/* Removes, in place, every top-level Python definition of `name` (def,
 * async def or class, with its indented body and decorators) from test
 * set-up code. A teacher that repeats the solution beside its tests would
 * otherwise replace the candidate's solution: set-up runs after it. */
static void drop_definition(char *code, const char *name)
{
	size_t nlen = name ? strlen(name) : 0;
	char *r = code, *w = code, *deco = NULL;
	int skipping = 0;

	if (!nlen)
		return;
	while (*r) {
		char *eol = strchr(r, '\n');
		size_t len = eol ? (size_t)(eol - r) + 1 : strlen(r);
		int top = len > 0 && *r != ' ' && *r != '\t' && *r != '\n' &&
			  *r != '\r' && *r != '#';
		const char *p = r;

		if (top) {
			skipping = 0;
			if (strncmp(p, "async ", 6) == 0)
				p += 6;
			if (strncmp(p, "def ", 4) == 0)
				p += 4;
			else if (strncmp(p, "class ", 6) == 0)
				p += 6;
			else
				p = NULL;
			if (p && strncmp(p, name, nlen) == 0 &&
			    (p[nlen] == '(' || p[nlen] == ':' ||
			     p[nlen] == ' ')) {
				skipping = 1;
				if (deco)
					w = deco; /* its decorators go too */
			}
			deco = *r == '@' ? (deco ? deco : w) : NULL;
		}
		if (!skipping) {
			memmove(w, r, len);
			w += len;
		}
		r += len;
	}
	*w = '\0';
}

static int has_string(const json_t *array, const char *s)
{
	size_t i;
	const json_t *v;

	json_array_foreach(array, i, v)
		if (strcmp(json_string_value(v), s) == 0)
			return 1;
	return 0;
}

/* Appends the test snippets of one answer that are not there already
 * (k answers often repeat the same assert) to `tests`; the first non-empty
 * set-up code, less any definition of the entry point, becomes *preamble.
 * Only the blocks that hold tests are read: an answer may repeat the
 * solution in a block of its own. An answer without tests adds nothing. */
static void pool_tests(const json_t *answer, size_t choice,
		       const char *lang, const char *entry, json_t *tests,
		       json_t **preamble)
{
	const char *text = answer ? answer_choice(answer, choice) : NULL;
	char *pre = NULL, **ts = NULL;
	size_t nts = 0;
	kiln_extracted ex;
	kiln_error e2;

	if (!text || kiln_extract_tests(text, strlen(text), lang, &ex, &e2))
		return;
	if (kiln_split_tests(ex.code, strlen(ex.code), lang, &pre, &ts, &nts,
			     &e2) == 0) {
		for (size_t i = 0; i < nts; i++)
			if (!has_string(tests, ts[i]))
				json_array_append_new(tests, json_string(ts[i]));
		if (!*preamble && pre && *pre) {
			drop_definition(pre, entry);
			*preamble = json_string(pre);
		}
		kiln_tests_free(ts, nts);
		free(pre);
	}
	free(ex.code);
}

/* answers: the task's row of run_ctx.answers. */
static int emit_task(const json_t *task, json_t *const *answers, int nreq0,
		     kiln_out *out, const kiln_generate_opts *o,
		     const char *tmpl_solution, kiln_generate_stats *st,
		     kiln_error *err)
{
	const char *id = json_string_value(json_object_get(task, "id"));
	const char *lang = json_string_value(json_object_get(task, "language"));
	const char *entry = json_string_value(json_object_get(task,
							      "entry_point"));
	json_t *tests = json_array(), *preamble = NULL;
	const char *tests_source = "none";
	int rc = 0;

	if (!lang)
		lang = "python";
	/* The teacher's tests, all sets pooled; with joint prompts, also the
	 * tests of every joint answer (each candidate then meets the tests
	 * written beside the other candidates too, as CodeT pools them). */
	for (int j = 0; j < o->test_sets; j++)
		pool_tests(answers[nreq0 + j], 0, lang, entry,
			   tests, &preamble);
	for (int j = 0; o->joint && j < o->k; j++)
		pool_tests(answers[j / o->n], (size_t)(j % o->n), lang, entry,
			   tests, &preamble);
	if (json_array_size(tests) > 0) {
		tests_source = "teacher";
	} else if (json_object_get(task, "tests")) {
		json_decref(tests);
		tests = json_deep_copy(json_object_get(task, "tests"));
		tests_source = "task";
	}
	for (int i = 0; i < o->k && !rc; i++) {
		json_t *c;
		const char *text;
		kiln_extracted ex;
		kiln_error e2;

		const json_t *ans = answers[i / o->n];
		if (!ans)
			continue; /* failed: the store says why */
		text = answer_choice(ans, (size_t)(i % o->n));
		if (!text && json_array_size(json_object_get(ans, "choices"))
		    <= (size_t)(i % o->n))
			continue; /* the server gave fewer choices */
		c = json_pack("{ss si ss}", "id", id, "candidate", i,
			      "language", lang);
		json_object_set(c, "entry_point",
				json_object_get(task, "entry_point"));
		if (!json_object_get(c, "entry_point"))
			json_object_del(c, "entry_point");
		if (text && o->completions) {
			/* A completion continues the prompt: the program is
			 * both together (as HumanEval is scored). */
			char *prompt = kiln_template_render(tmpl_solution, task,
							    NULL);
			size_t np = prompt ? strlen(prompt) : 0;
			char *code = malloc(np + strlen(text) + 1);
			if (code) {
				memcpy(code, prompt ? prompt : "", np);
				strcpy(code + np, text);
				json_object_set_new(c, "solution",
						    json_string(code));
			}
			json_object_set_new(c, "extraction", json_pack(
				"{ss}", "how", "completion"));
			free(code);
			free(prompt);
		} else if (text && kiln_extract_code(text, strlen(text), lang,
						     &ex, &e2) == 0) {
			json_object_set_new(c, "solution", json_string(ex.code));
			json_object_set_new(c, "extraction", json_pack(
				"{ss si sb}", "how", ex.how, "blocks",
				ex.blocks, "truncated", ex.truncated));
			free(ex.code);
		} else {
			json_object_set_new(c, "solution", json_string(""));
			json_object_set_new(c, "extraction", json_pack(
				"{ss}", "error", text ? e2.msg
				: "the answer has no text"));
			st->extract_errors++;
		}
		json_object_set(c, "tests", tests);
		if (preamble && strcmp(tests_source, "teacher") == 0)
			json_object_set(c, "test_setup", preamble);
		else if (strcmp(tests_source, "task") == 0 &&
			 json_object_get(task, "test_setup"))
			json_object_set(c, "test_setup",
					json_object_get(task, "test_setup"));
		json_object_set_new(c, "tests_source",
				    json_string(tests_source));
		json_object_set_new(c, "teacher", json_pack(
			"{ss ss ss sf sf si sI}", "backend", "openai",
			"url", o->llm.base_url, "model",
			o->model ? o->model : "default",
			"temperature", o->temperature, "top_p", o->top_p,
			"max_tokens", o->max_tokens,
			"seed", (json_int_t)(o->seed + i / o->n)));
		if (o->n > 1)
			json_object_set_new(json_object_get(c, "teacher"),
					    "choice", json_integer(i % o->n));
		if (o->joint)
			json_object_set_new(json_object_get(c, "teacher"),
					    "prompt", json_string("joint"));
		json_object_set_new(c, "usage", answer_usage(ans));
		json_object_set_new(c, "origin", json_string("synthetic"));
		json_object_set(c, "task_source", json_object_get(task,
								  "source"));
		if (json_is_null(json_object_get(c, "task_source")) ||
		    !json_object_get(c, "task_source"))
			json_object_del(c, "task_source");
		rc = kiln_out_write(out, c, err);
		st->candidates++;
		json_decref(c);
	}
	json_decref(tests);
	json_decref(preamble);
	return rc;
}

/* Which tasks repeat an earlier id, all of them before anything runs: a
 * repeat's candidates are the first one's, so the first one's answers must
 * be kept (keep) even if it is written long before the repeat is reached. */
static int index_ids(struct run_ctx *c, kiln_error *err)
{
	size_t ti;
	const json_t *task;

	json_array_foreach(c->tasks, ti, task) {
		const char *id = json_string_value(json_object_get(task, "id"));
		const json_t *seen;

		if (!id)
			return kiln_error_set(err, KILN_EPARSE, "task %zu: "
					      "field 'id' must be a string",
					      ti + 1);
		c->first[ti] = ti;
		if ((seen = json_object_get(c->ids, id))) {
			c->first[ti] = (size_t)json_integer_value(seen);
			c->keep[c->first[ti]] = 1;
		} else if (json_object_set_new(c->ids, id,
					       json_integer((json_int_t)ti))) {
			return kiln_error_set(err, KILN_ENOMEM,
					      "out of memory");
		}
	}
	return 0;
}

int kiln_generate(const json_t *tasks, kiln_store *store, kiln_out *out,
		  const kiln_generate_opts *o, kiln_generate_stats *st,
		  kiln_error *err)
{
	struct run_ctx c = { 0 };
	kiln_llm *llm = NULL;
	pthread_t thread;
	int rc = 0;

	memset(st, 0, sizeof(*st));
	c.t0 = now_s();
	if (o->joint && o->completions)
		return kiln_error_set(err, KILN_EINVAL, "joint prompts need "
				      "chat completions, not --completions");
	if (o->n < 1)
		return kiln_error_set(err, KILN_EINVAL, "n must be at least 1");
	c.store = store;
	c.o = o;
	c.st = st;
	c.tasks = tasks;
	c.out = out;
	c.path = o->completions ? "/completions" : "/chat/completions";
	/* A completion model continues the task's prompt as it is. */
	c.tmpl_solution = o->joint ? (o->tmpl_joint ? o->tmpl_joint
				      : kiln_template_default("joint"))
		: o->tmpl_solution ? o->tmpl_solution
		: o->completions ? "{prompt}"
		: kiln_template_default("solution");
	c.tmpl_tests = o->tmpl_tests ? o->tmpl_tests
		: kiln_template_default("tests");
	/* Joint: one answer holds a solution and its tests. */
	c.kind0 = o->joint ? "joint" : "solution";
	c.bt_ok = body_tmpl_init(&c.bt, o) == 0 &&
		  body_tmpl_check(&c.bt, o) == 0;
	c.nreq0 = o->k > 0 ? (o->k + o->n - 1) / o->n : 0;
	c.per_task = (size_t)c.nreq0 +
		     (size_t)(o->test_sets > 0 ? o->test_sets : 0);
	c.answers = calloc(json_array_size(tasks) * c.per_task + 1,
			   sizeof(*c.answers));
	c.first = calloc(json_array_size(tasks) + 1, sizeof(*c.first));
	c.keep = calloc(json_array_size(tasks) + 1, 1);
	c.ids = json_object();
	c.outstanding = calloc(json_array_size(tasks) + 1,
			       sizeof(*c.outstanding));
	c.tail = &c.head;
	c.max_unstored = 4 * (size_t)(o->llm.concurrency > 0
				      ? o->llm.concurrency : 16);
	if (c.max_unstored < 256)
		c.max_unstored = 256;
	pthread_mutex_init(&c.mu, NULL);
	pthread_cond_init(&c.cv, NULL);
	if (!c.answers || !c.first || !c.keep || !c.ids || !c.outstanding) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = index_ids(&c, err)))
		goto out;

	/* The store thread starts adding jobs while libcurl loads here. */
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
	if (!rc)
		rc = emit_ready(&c, err);
out:
	st->seconds = now_s() - c.t0;
	answers_free(c.head); /* left when the store thread stopped early */
	pthread_cond_destroy(&c.cv);
	pthread_mutex_destroy(&c.mu);
	free(c.bt.text);
	kiln_llm_close(llm);
	for (size_t i = 0; c.answers && i < json_array_size(tasks) * c.per_task;
	     i++)
		json_decref(c.answers[i]);
	free(c.answers);
	free(c.first);
	free(c.keep);
	json_decref(c.ids);
	free(c.outstanding);
	free(c.outq);
	pending_free(&c.p);
	return rc;
}

/* Drops a task's parsed answers (the largest part of a run's memory) once
 * its candidates are out, unless a later task with its id needs them. */
static void forget_task(struct run_ctx *c, size_t ti)
{
	json_t **row = c->answers + ti * c->per_task;

	if (c->keep[ti])
		return;
	for (size_t s = 0; s < c->per_task; s++) {
		json_decref(row[s]);
		row[s] = NULL;
	}
}

static int emit_ready(struct run_ctx *c, kiln_error *err)
{
	int rc;

	while (c->next_task < c->next_put &&
	       c->outstanding[c->next_task] == 0) {
		const json_t *task = json_array_get(c->tasks, c->next_task);
		size_t row = c->first[c->next_task] * c->per_task;

		rc = emit_task(task, c->answers + row, c->nreq0, c->out, c->o,
			       c->tmpl_solution, c->st, err);
		if (rc)
			return rc;
		forget_task(c, c->next_task);
		c->next_task++;
	}
	return 0;
}
