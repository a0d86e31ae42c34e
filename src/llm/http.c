/* The OpenAI-compatible HTTP client: libcurl's multi interface, one thread.
 *
 * Each request is an entry with its own attempt count and a time before
 * which it may not be sent (back-off). The loop starts transfers while
 * fewer than `concurrency` are in flight and the token buckets allow,
 * lets curl move data, and classifies each finished attempt:
 *
 *   ok         HTTP 200 and a well-formed answer (JSON object, non-empty
 *              "choices"), whatever the content type says
 *   retry      429, 408, 5xx, a timeout, a refused/reset/truncated
 *              connection, a 200 whose body is not an answer
 *   permanent  other 4xx, a bad URL, an answer over the size cap
 *
 * Back-off is exponential with full jitter, at least what Retry-After
 * asks, at most backoff_max_ms.
 */
/* libcurl is loaded when a client is opened, not at start-up: it pulls in
 * some thirty libraries (TLS, HTTP/2, LDAP, ...) whose loading would
 * cost every kiln command several milliseconds. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln/llm.h"
#include "llm/llm_int.h"
#include "kiln/rng.h"
#include "util/buf.h"
#include "util/dl.h"

static struct {
	CURLcode (*global_init)(long);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_cleanup)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	time_t (*getdate)(const char *, const time_t *);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
	CURLMcode (*multi_add_handle)(CURLM *, CURL *);
	CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode (*multi_perform)(CURLM *, int *);
	CURLMsg *(*multi_info_read)(CURLM *, int *);
	CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd *, unsigned, int,
				int *);
	CURLMcode (*multi_cleanup)(CURLM *);
	CURLMcode (*multi_wakeup)(CURLM *);
} api;

static const char *const curl_files[] = { "libcurl.so.4", NULL };

static const kiln__dl_sym curl_syms[] = {
#define SYM(f) { "curl_" #f, (void **)&api.f }
	SYM(global_init), SYM(slist_append), SYM(slist_free_all),
	SYM(easy_init), SYM(easy_setopt), SYM(easy_getinfo),
	SYM(easy_cleanup), SYM(easy_strerror), SYM(getdate),
	SYM(multi_init), SYM(multi_setopt), SYM(multi_add_handle),
	SYM(multi_remove_handle), SYM(multi_perform),
	SYM(multi_info_read), SYM(multi_poll), SYM(multi_cleanup),
	SYM(multi_wakeup),
#undef SYM
};

static const char *curl_init(void)
{
	return api.global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? NULL
		: "curl_global_init failed";
}

static kiln__dl_lib curl_lib = {
	.name = "libcurl", .files = curl_files, .install = "libcurl4",
	.version = "7.68 or later", .syms = curl_syms,
	.nsyms = sizeof(curl_syms) / sizeof(curl_syms[0]), .init = curl_init,
};

void kiln_llm_preload(void)
{
	kiln__dl_load(&curl_lib);
}

void kiln_llm_config_default(kiln_llm_config *c)
{
	memset(c, 0, sizeof(*c));
	c->concurrency = 16;
	c->timeout_ms = 120000;
	c->max_attempts = 6;
	c->backoff_ms = 500;
	c->backoff_max_ms = 60000;
	c->max_answer = 16u << 20;
}

struct kiln_llm {
	kiln_llm_config cfg;
	char *base;               /* base URL without a trailing slash */
	struct curl_slist *headers;
	kiln_rng rng;             /* retry jitter */
	pthread_mutex_t mu;       /* guards multi for kiln_llm_wakeup */
	CURLM *multi;             /* while a run is on */
	struct kiln__local *local; /* local:MODEL.bin: in-process (local.c) */
};

/* A token bucket: capacity = the per-minute limit, refilled continuously.
 * A level below zero (a big answer) delays later sends until repaid. */
struct bucket {
	double per_min, level;
	double t;                 /* ms of the last refill */
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void bucket_init(struct bucket *b, double per_min)
{
	b->per_min = per_min;
	b->level = per_min;
	b->t = now_ms();
}

static void bucket_refill(struct bucket *b, double now)
{
	if (b->per_min <= 0)
		return;
	b->level += (now - b->t) * b->per_min / 60000.0;
	if (b->level > b->per_min)
		b->level = b->per_min;
	b->t = now;
}

/* ms until `amount` may be taken (0: now). A request larger than the whole
 * bucket waits for a full bucket rather than forever. */
static double bucket_wait(struct bucket *b, double amount, double now)
{
	double need;

	if (b->per_min <= 0)
		return 0;
	bucket_refill(b, now);
	need = amount < b->per_min ? amount : b->per_min;
	if (b->level >= need)
		return 0;
	return (need - b->level) * 60000.0 / b->per_min;
}

static void bucket_take(struct bucket *b, double amount)
{
	if (b->per_min > 0)
		b->level -= amount;
}

/* kiln_llm_check_answer, keeping the parsed answer in *parsed (NULL on
 * error) when parsed is not NULL. */
static int check_answer(const char *body, size_t len, long *in_tokens,
			long *out_tokens, json_t **parsed, kiln_error *err)
{
	json_error_t jerr;
	/* \u0000 is valid JSON, and a model may well say it: the answer
	 * parses, and what reads its text sees the NUL (generate.c). */
	json_t *v = json_loadb(body, len, JSON_ALLOW_NUL, &jerr), *choices,
	       *usage;
	int rc = 0;

	if (parsed)
		*parsed = NULL;
	*in_tokens = *out_tokens = -1; /* unknown */
	if (!v)
		return kiln_error_set(err, KILN_EPARSE,
				      "answer is not JSON (%s)", jerr.text);
	choices = json_object_get(v, "choices");
	if (!json_is_object(v)) {
		rc = kiln_error_set(err, KILN_EPARSE,
				    "answer is not a JSON object");
	} else if (!json_is_array(choices) || json_array_size(choices) == 0) {
		const char *msg = json_string_value(json_object_get(
			json_object_get(v, "error"), "message"));
		rc = kiln_error_set(err, KILN_EPARSE, "answer has no choices%s%s",
				    msg ? ": " : "", msg ? msg : "");
	} else {
		/* A count the server did not give is unknown, not 0. */
		const json_t *in, *out;

		usage = json_object_get(v, "usage");
		in = json_object_get(usage, "prompt_tokens");
		out = json_object_get(usage, "completion_tokens");
		if (json_is_integer(in) && json_integer_value(in) >= 0)
			*in_tokens = (long)json_integer_value(in);
		if (json_is_integer(out) && json_integer_value(out) >= 0)
			*out_tokens = (long)json_integer_value(out);
	}
	if (!rc && parsed)
		*parsed = v;
	else
		json_decref(v);
	return rc;
}

int kiln_llm_check_answer(const char *body, size_t len, long *in_tokens,
			  long *out_tokens, kiln_error *err)
{
	return check_answer(body, len, in_tokens, out_tokens, NULL, err);
}

int kiln_llm_open(kiln_llm **out, const kiln_llm_config *cfg,
		  kiln_error *err)
{
	const char *e;
	kiln_llm *l;
	size_t n;

	*out = NULL;
	if (cfg->base_url && !strncmp(cfg->base_url, KILN_LLM_LOCAL_PREFIX,
				      strlen(KILN_LLM_LOCAL_PREFIX))) {
		int rc;

		if (!(l = calloc(1, sizeof(*l))))
			return kiln_error_set(err, KILN_ENOMEM,
					      "out of memory");
		l->cfg = *cfg;
		if (l->cfg.concurrency <= 0)
			l->cfg.concurrency = 16;
		if ((rc = kiln__local_open(cfg->base_url +
					   strlen(KILN_LLM_LOCAL_PREFIX),
					   &l->cfg, &l->local, err))) {
			free(l);
			return rc;
		}
		pthread_mutex_init(&l->mu, NULL);
		*out = l;
		return 0;
	}
	if (!cfg->base_url || strncmp(cfg->base_url, "http", 4) != 0)
		return kiln_error_set(err, KILN_EINVAL,
				      "backend URL '%s' must start with http:// "
				      "or https://, or be local:MODEL.bin (a "
				      "kiln train checkpoint, in-process)",
				      cfg->base_url ? cfg->base_url : "");
	if ((e = kiln__dl_load(&curl_lib)))
		return kiln_error_set(err, KILN_EINVAL, "%s", e);
	l = calloc(1, sizeof(*l));
	if (!l || !(l->base = strdup(cfg->base_url))) {
		free(l);
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	}
	l->cfg = *cfg;
	if (l->cfg.concurrency <= 0)
		l->cfg.concurrency = 16;
	if (l->cfg.max_attempts <= 0)
		l->cfg.max_attempts = 1;
	if (!l->cfg.max_answer)
		l->cfg.max_answer = 16u << 20;
	n = strlen(l->base);
	while (n && l->base[n - 1] == '/')
		l->base[--n] = '\0';
	l->headers = api.slist_append(NULL, "Content-Type: application/json");
	l->headers = api.slist_append(l->headers, "Accept: application/json");
	if (cfg->api_key && *cfg->api_key) {
		char *h = malloc(strlen(cfg->api_key) + 32);
		if (h) {
			sprintf(h, "Authorization: Bearer %s", cfg->api_key);
			l->headers = api.slist_append(l->headers, h);
			memset(h, 0, strlen(h));
			free(h);
		}
	}
	kiln_rng_seed(&l->rng, (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)l);
	pthread_mutex_init(&l->mu, NULL);
	*out = l;
	return 0;
}

void kiln_llm_close(kiln_llm *l)
{
	if (!l)
		return;
	kiln__local_close(l->local);
	if (l->headers)
		api.slist_free_all(l->headers);
	pthread_mutex_destroy(&l->mu);
	free(l->base);
	free(l);
}

/* One request's state across its attempts. */
struct entry {
	int attempts;
	double first;        /* ms of the first send; 0 = not sent yet */
	double not_before;
	int done;
};

/* One slot for an attempt in flight. Its easy handle lives as long as the
 * run: made for the slot's first attempt and reused by the next ones
 * (a fresh handle per attempt cost a tenth of the client's time and
 * memory faults: buffers allocated anew each time). */
struct xfer {
	size_t req;
	int busy;
	CURL *easy;
	kiln_buf body;             /* the answer, capped at max_answer */
	int too_big;
	double retry_after_ms;
	char errbuf[CURL_ERROR_SIZE];
	char url[1024];
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;

	int rc = kiln__buf_add(&x->body, p, n);

	if (rc == KILN_ELIMIT)
		x->too_big = 1;
	return rc ? 0 : n; /* 0 makes curl fail with CURLE_WRITE_ERROR */
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;
	char line[256];

	if (n < sizeof(line) && n > 12 && strncasecmp(p, "retry-after:", 12) == 0) {
		char *v;
		memcpy(line, p + 12, n - 12);
		line[n - 12] = '\0';
		v = line + strspn(line, " \t");
		v[strcspn(v, "\r\n")] = '\0';
		if (*v >= '0' && *v <= '9') {
			x->retry_after_ms = atof(v) * 1000.0;
		} else {
			time_t when = api.getdate(v, NULL);
			if (when > 0)
				x->retry_after_ms = difftime(when, time(NULL)) * 1e3;
		}
	}
	return n;
}

static int curl_retryable(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

/* Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))], at least
 * what the server asked for. */
static double backoff(kiln_llm *l, int attempt, double retry_after)
{
	double ceil_ms = l->cfg.backoff_ms * pow(2.0, attempt - 1);
	double d;

	if (ceil_ms > l->cfg.backoff_max_ms)
		ceil_ms = (double)l->cfg.backoff_max_ms;
	d = ceil_ms * kiln_rng_double(&l->rng);
	if (retry_after > d)
		d = retry_after < l->cfg.backoff_max_ms ? retry_after
			: (double)l->cfg.backoff_max_ms;
	return d;
}

static int start(kiln_llm *l, CURLM *multi, struct xfer *x,
		 const kiln_llm_request *r)
{
	CURL *e = x->easy;

	if (!e) {
		/* what stays the same for every attempt on this slot (an easy
		 * handle keeps its options from one transfer to the next) */
		if (!(e = api.easy_init()))
			return -1;
		api.easy_setopt(e, CURLOPT_POST, 1L);
		api.easy_setopt(e, CURLOPT_HTTPHEADER, l->headers);
		api.easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
		api.easy_setopt(e, CURLOPT_WRITEDATA, x);
		api.easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
		api.easy_setopt(e, CURLOPT_HEADERDATA, x);
		api.easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
		api.easy_setopt(e, CURLOPT_TIMEOUT_MS, l->cfg.timeout_ms);
		api.easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
				l->cfg.timeout_ms < 30000 ? l->cfg.timeout_ms
				: 30000L);
		api.easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		api.easy_setopt(e, CURLOPT_PRIVATE, x);
		api.easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
		api.easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
		x->easy = e;
	}
	snprintf(x->url, sizeof(x->url), "%s%s", l->base, r->path);
	x->body.len = 0;
	x->too_big = 0;
	x->retry_after_ms = 0;
	x->errbuf[0] = '\0';
	x->body.max = l->cfg.max_answer;
	api.easy_setopt(e, CURLOPT_URL, x->url);
	api.easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
	api.easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(r->body));
	if (api.multi_add_handle(multi, e) != CURLM_OK) {
		api.easy_cleanup(e);
		x->easy = NULL;
		return -1;
	}
	x->busy = 1;
	return 0;
}

/* An answer (HTTP 200) on its way through the checker: parsing it is the
 * largest part of the loop's own work, so it happens on a thread of its
 * own while the loop goes on sending. The verdict comes back to the loop,
 * which retries or reports the request as it would have inline. */
struct check {
	struct check *next;
	size_t req;
	kiln_buf body;
	long status;
	int ok;
	json_t *parsed;
	long in_t, out_t;
	char why[600];
};

struct checker {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct check *todo, **todo_tail, *done, **done_tail;
	int stop, running;
	CURLM *multi;
};

static void checks_free(struct check *c)
{
	while (c) {
		struct check *next = c->next;
		json_decref(c->parsed);
		free(c->body.p);
		free(c);
		c = next;
	}
}

/* Parses and checks body into c (ok, usage, parsed; why if not ok). */
static void run_check(struct check *c, const kiln_buf *body)
{
	kiln_error aerr;

	c->ok = check_answer(body->p ? body->p : "", body->len, &c->in_t,
			     &c->out_t, &c->parsed, &aerr) == 0;
	if (!c->ok)
		snprintf(c->why, sizeof(c->why), "%s", aerr.msg);
}

static void *checker_main(void *arg)
{
	struct checker *k = arg;

	pthread_mutex_lock(&k->mu);
	for (;;) {
		struct check *list, *c, **last;

		while (!k->todo && !k->stop)
			pthread_cond_wait(&k->cv, &k->mu);
		if (!k->todo)
			break;
		list = k->todo;
		k->todo = NULL;
		k->todo_tail = &k->todo;
		pthread_mutex_unlock(&k->mu);
		for (c = list, last = &list; c; last = &c->next, c = c->next)
			run_check(c, &c->body);
		pthread_mutex_lock(&k->mu);
		*k->done_tail = list;
		k->done_tail = last;
		api.multi_wakeup(k->multi);
	}
	pthread_mutex_unlock(&k->mu);
	return NULL;
}

/* threaded 0: no thread; answers are checked inline. */
static void checker_start(struct checker *k, CURLM *multi, int threaded)
{
	memset(k, 0, sizeof(*k));
	k->todo_tail = &k->todo;
	k->done_tail = &k->done;
	k->multi = multi;
	pthread_mutex_init(&k->mu, NULL);
	pthread_cond_init(&k->cv, NULL);
	k->running = threaded &&
		     pthread_create(&k->thread, NULL, checker_main, k) == 0;
}

/* Hands x's answer to the checker (the slot keeps a fresh buffer). */
static int checker_push(struct checker *k, struct xfer *x, long status)
{
	struct check *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	c->req = x->req;
	c->status = status;
	c->body = x->body;
	x->body = (kiln_buf){ .max = x->body.max };
	pthread_mutex_lock(&k->mu);
	if (!k->todo) /* the checker waits only for an empty queue */
		pthread_cond_signal(&k->cv);
	*k->todo_tail = c;
	k->todo_tail = &c->next;
	pthread_mutex_unlock(&k->mu);
	return 0;
}

static struct check *checker_take(struct checker *k)
{
	struct check *list;

	pthread_mutex_lock(&k->mu);
	list = k->done;
	k->done = NULL;
	k->done_tail = &k->done;
	pthread_mutex_unlock(&k->mu);
	return list;
}

static void checker_stop(struct checker *k)
{
	if (k->running) {
		pthread_mutex_lock(&k->mu);
		k->stop = 1;
		pthread_cond_signal(&k->cv);
		pthread_mutex_unlock(&k->mu);
		pthread_join(k->thread, NULL);
	}
	checks_free(k->todo);
	checks_free(k->done);
	pthread_cond_destroy(&k->cv);
	pthread_mutex_destroy(&k->mu);
}

void kiln_llm_wakeup(kiln_llm *l)
{
	if (l->local) {
		kiln__local_wakeup(l->local);
		return;
	}
	pthread_mutex_lock(&l->mu);
	if (l->multi)
		api.multi_wakeup(l->multi);
	pthread_mutex_unlock(&l->mu);
}

/* kiln_llm_run's source: the array. */
struct array_src {
	const kiln_llm_request *reqs;
	size_t n, next;
};

static int array_next(void *ctx, kiln_llm_request *out)
{
	struct array_src *a = ctx;

	if (a->next == a->n)
		return -1;
	*out = a->reqs[a->next++];
	return 1;
}

int kiln_llm_run(kiln_llm *l, const kiln_llm_request *reqs, size_t n,
		 kiln_llm_done_fn done_fn, void *ctx, kiln_error *err)
{
	struct array_src a = { reqs, n, 0 };

	return kiln_llm_run_stream(l, array_next, &a, done_fn, ctx, err);
}

/* Grows the per-request arrays to hold at least n + 1. */
static int grow(kiln_llm_request **reqs, struct entry **ent, size_t **retry,
		size_t *cap, size_t n)
{
	size_t c = *cap ? *cap * 2 : 1024;
	kiln_llm_request *r;
	struct entry *e;
	size_t *q;

	if (n < *cap)
		return 0;
	if (!(r = realloc(*reqs, c * sizeof(*r))))
		return -1;
	*reqs = r;
	if (!(e = realloc(*ent, c * sizeof(*e))))
		return -1;
	*ent = e;
	if (!(q = realloc(*retry, c * sizeof(*q))))
		return -1;
	*retry = q;
	memset(e + *cap, 0, (c - *cap) * sizeof(*e));
	*cap = c;
	return 0;
}

/* One attempt's outcome: a retry after a back-off, or the request's result
 * reported to done_fn. body: the answer (ok), why: the error. Returns
 * nonzero when done_fn asks to stop. */
static int settle(kiln_llm *l, struct check *c, const char *body,
		  const char *why, int retryable, double retry_after,
		  const kiln_llm_request *reqs, struct entry *ent,
		  size_t *retry, size_t *nretry, struct bucket *otpm,
		  size_t *finished, kiln_llm_done_fn done_fn, void *ctx)
{
	struct entry *e = &ent[c->req];
	kiln_llm_result res;
	int rc;

	if (!c->ok && retryable && e->attempts < l->cfg.max_attempts) {
		e->not_before = now_ms() + backoff(l, e->attempts, retry_after);
		retry[(*nretry)++] = c->req;
		return 0;
	}
	/* an answer without usage is charged nothing: its size is not
	 * known in tokens */
	if (c->out_t > 0)
		bucket_take(otpm, (double)c->out_t);
	memset(&res, 0, sizeof(res));
	res.id = reqs[c->req].id;
	res.ok = c->ok;
	res.http_status = c->status;
	res.body = c->ok ? body : NULL;
	res.error = c->ok ? NULL : why;
	res.attempts = e->attempts;
	res.ms = now_ms() - e->first;
	res.input_tokens = c->in_t;
	res.output_tokens = c->out_t;
	res.json = c->parsed;
	e->done = 1;
	(*finished)++;
	rc = done_fn ? done_fn(ctx, &res) : 0;
	c->parsed = res.json; /* NULL if the callback took it */
	return rc;
}

static int http_run_stream(kiln_llm *l, kiln_llm_source_fn next, void *src,
			   kiln_llm_done_fn done_fn, void *ctx,
			   kiln_error *err);

int kiln_llm_run_stream(kiln_llm *l, kiln_llm_source_fn next, void *src,
			kiln_llm_done_fn done_fn, void *ctx, kiln_error *err)
{
	if (l->local)
		return kiln__local_run(l->local, l->cfg.concurrency, next, src,
				       done_fn, ctx, err);
	return http_run_stream(l, next, src, done_fn, ctx, err);
}

/* kiln_llm_run_stream over HTTP (libcurl's multi interface). */
static int http_run_stream(kiln_llm *l, kiln_llm_source_fn next, void *src,
			   kiln_llm_done_fn done_fn, void *ctx,
			   kiln_error *err)
{
	int conc = l->cfg.concurrency;
	kiln_llm_request *reqs = NULL;   /* what the source gave, in order */
	struct entry *ent = NULL;
	size_t *retry = NULL;
	size_t n = 0, cap = 0, nretry = 0, next_new = 0, finished = 0;
	struct xfer *xf = calloc((size_t)conc, sizeof(*xf));
	struct bucket rpm, itpm, otpm;
	CURLM *multi = api.multi_init();
	int inflight = 0, throttled = 0, rc = 0, ended = 0;
	size_t checking = 0;        /* answers at the checker */
	struct checker chk;

	/* With an output-token limit, each answer's usage must be counted
	 * before the next send: checks then stay inline. */
	checker_start(&chk, multi, l->cfg.max_output_tpm <= 0);
	if (!xf || !multi) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		goto out;
	}
	/* Keep a connection per slot alive between requests (the default
	 * cache size follows the number of easy handles added, which is
	 * below conc while the run ramps up or winds down). */
	api.multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)conc);
	api.multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conc);
	bucket_init(&rpm, l->cfg.max_rpm);
	bucket_init(&itpm, l->cfg.max_input_tpm);
	bucket_init(&otpm, l->cfg.max_output_tpm);
	pthread_mutex_lock(&l->mu);
	l->multi = multi;
	pthread_mutex_unlock(&l->mu);

	for (;;) {
		double now = now_ms(), wait = 100;
		CURLMsg *msg;
		int left, running, starved = 0;

		/* Start what may start. */
		throttled = 0;
		while (inflight < conc) {
			size_t pick = (size_t)-1, ri = 0;
			double in_est, w;
			struct xfer *x = NULL;

			for (size_t k = 0; k < nretry; k++)
				if (ent[retry[k]].not_before <= now &&
				    (pick == (size_t)-1 || retry[k] < pick)) {
					pick = retry[k];
					ri = k;
				}
			if (pick == (size_t)-1 && next_new == n && !ended) {
				/* ask the source for one more */
				if (grow(&reqs, &ent, &retry, &cap, n)) {
					rc = kiln_error_set(err, KILN_ENOMEM,
							    "out of memory");
					goto out;
				}
				int got = next(src, &reqs[n]);
				if (got > 0)
					n++;
				else if (got < 0)
					ended = 1;
				else
					starved = 1;
			}
			if (pick == (size_t)-1 && next_new < n)
				pick = next_new;
			if (pick == (size_t)-1)
				break;
			in_est = reqs[pick].est_input_tokens > 0
				? (double)reqs[pick].est_input_tokens
				: strlen(reqs[pick].body) / 4.0;
			w = bucket_wait(&rpm, 1, now);
			if (bucket_wait(&itpm, in_est, now) > w)
				w = bucket_wait(&itpm, in_est, now);
			if (bucket_wait(&otpm, 1, now) > w)
				w = bucket_wait(&otpm, 1, now);
			if (w > 0) {
				if (w < wait)
					wait = w;
				throttled = 1;
				break;
			}
			for (int k = 0; k < conc; k++)
				if (!xf[k].busy) {
					x = &xf[k];
					break;
				}
			x->req = pick;
			if (start(l, multi, x, &reqs[pick]) != 0) {
				rc = kiln_error_set(err, KILN_ENOMEM,
						    "cannot start a request");
				goto out;
			}
			bucket_take(&rpm, 1);
			bucket_take(&itpm, in_est);
			if (!ent[pick].first)
				ent[pick].first = now;
			ent[pick].attempts++;
			if (pick == next_new)
				next_new++;
			else
				retry[ri] = retry[--nretry];
			inflight++;
		}
		api.multi_perform(multi, &running);
		while ((msg = api.multi_info_read(multi, &left))) {
			struct xfer *x;
			CURLcode code = msg->data.result;
			long status = 0;
			int retryable = 0;
			char why[600];

			if (msg->msg != CURLMSG_DONE)
				continue;
			api.easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
					  (char **)&x);
			api.easy_getinfo(msg->easy_handle,
					  CURLINFO_RESPONSE_CODE, &status);
			api.multi_remove_handle(multi, x->easy);
			x->busy = 0;
			inflight--;
			why[0] = '\0';
			if (code != CURLE_OK) {
				retryable = curl_retryable(code);
				snprintf(why, sizeof(why), "%s",
					 x->too_big ? "answer larger than the cap"
					 : x->errbuf[0] ? x->errbuf
					 : api.easy_strerror(code));
			} else if (status == 429 || status == 408 ||
				   status >= 500) {
				retryable = 1;
				/* the body too: a 429 may say "quota" */
				snprintf(why, sizeof(why), "HTTP %ld%s%.400s",
					 status, x->body.len ? ": " : "",
					 x->body.len ? x->body.p : "");
			} else if (status != 200) {
				snprintf(why, sizeof(why), "HTTP %ld: %.400s",
					 status, x->body.p ? x->body.p : "");
			} else if (chk.running && checker_push(&chk, x, status)
				   == 0) {
				checking++;
				continue; /* settled when its check is back */
			} else {
				/* no checker: the check, here */
				struct check c = { .req = x->req,
						   .status = status };

				run_check(&c, &x->body);
				rc = settle(l, &c, c.ok ? x->body.p : NULL,
					    c.why, 1, 0, reqs, ent, retry,
					    &nretry, &otpm, &finished, done_fn,
					    ctx);
				json_decref(c.parsed);
				if (rc)
					goto stopped;
				continue;
			}
			{
				struct check c = { .req = x->req,
						   .status = status };
				rc = settle(l, &c, NULL, why, retryable,
					    x->retry_after_ms, reqs, ent, retry,
					    &nretry, &otpm, &finished, done_fn,
					    ctx);
				if (rc)
					goto stopped;
			}
		}
		/* Verdicts of the checker. */
		for (struct check *c = checker_take(&chk), *cn; c; c = cn) {
			cn = c->next;
			checking--;
			if (!rc)
				rc = settle(l, c, c->ok ? c->body.p : NULL,
					    c->why, 1, 0, reqs,
					    ent, retry, &nretry, &otpm,
					    &finished, done_fn, ctx);
			c->next = NULL;
			checks_free(c);
		}
		if (rc)
			goto stopped;
		if (done_fn && done_fn(ctx, NULL) != 0)
			goto stopped;
		if (ended && finished == n && !checking)
			break;
		for (size_t k = 0; k < nretry; k++) {
			double w = ent[retry[k]].not_before - now_ms();
			if (w < wait)
				wait = w;
		}
		/* Free slots and work to start that no bucket holds back: go
		 * round at once instead of sleeping. A starved source wakes
		 * the poll with kiln_llm_wakeup when it has more. */
		if (inflight < conc && !throttled && !starved &&
		    (next_new < n || !ended))
			continue;
		if (wait < 1)
			wait = 1;
		api.multi_poll(multi, NULL, 0, (int)ceil(wait), NULL);
	}
	goto out;
stopped:
	rc = kiln_error_set(err, KILN_EINVAL, "stopped by the caller");
out:
	checker_stop(&chk);
	pthread_mutex_lock(&l->mu);
	l->multi = NULL;
	pthread_mutex_unlock(&l->mu);
	for (int k = 0; xf && k < conc; k++) {
		if (xf[k].busy)
			api.multi_remove_handle(multi, xf[k].easy);
		if (xf[k].easy)
			api.easy_cleanup(xf[k].easy);
		free(xf[k].body.p);
	}
	if (multi)
		api.multi_cleanup(multi);
	free(reqs);
	free(ent);
	free(xf);
	free(retry);
	return rc;
}
