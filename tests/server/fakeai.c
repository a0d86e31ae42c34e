/* fakeai: an OpenAI-compatible HTTP server for kiln's tests.
 *
 * It answers POST /v1/chat/completions, POST /v1/completions,
 * GET /v1/models and GET /health on loopback, from a JSON script of canned
 * answers, and injects faults (delays, error statuses, broken bodies,
 * dropped connections) on chosen requests. Every request is logged as one
 * JSON line. Usage, script format and examples: tests/server/README.md.
 *
 * Threads: libmicrohttpd's pool (--threads) runs the request handler; one
 * timer thread wakes connections that are waiting out a delay ("slow",
 * "hang", any fault with delay_ms), which are suspended rather than
 * sleeping in a pool thread, so a hanging request never blocks the others.
 * The main thread only waits for SIGTERM/SIGINT (through a signalfd) or for
 * stdin to close (--stdin-lifeline), then stops everything in order.
 *
 * Ownership: a request's state (struct req) is allocated on the first
 * handler call and freed by the "request completed" callback. The script's
 * JSON tree lives for the whole run and is only read after start-up. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#define MAX_BODY (8u << 20)     /* request bodies above this get 413 */
#define MAX_CHOICES 128         /* largest accepted "n" */
#define MAX_STOP 16             /* most "stop" strings accepted */
#define LOG_PROMPT_CHARS 200    /* prompt prefix written to the log */
#define STREAM_PIECE 16         /* content bytes per streamed chunk */
#define DEFAULT_HANG_MS 30000
#define CONN_TIMEOUT_S 300      /* idle connections are closed after this */
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static const char default_text[] =
	"```python\n"
	"import sys\n"
	"\n"
	"\n"
	"def main():\n"
	"    data = sys.stdin.read()\n"
	"    sys.stdout.write(data)\n"
	"\n"
	"\n"
	"if __name__ == \"__main__\":\n"
	"    main()\n"
	"```\n";

/* ---- script ---------------------------------------------------------- */

enum fault_kind {
	F_SLOW, F_429, F_500, F_503, F_MALFORMED, F_TRUNCATED, F_RESET,
	F_CONTENT_TYPE, F_EMPTY_CHOICES, F_HANG, F_FEW_CHOICES,
	F_SHUFFLED_CHOICES, F_NO_USAGE, F_COUNT
};

static const char *const fault_names[F_COUNT] = {
	"slow", "429", "500", "503", "malformed", "truncated", "reset",
	"content_type", "empty_choices", "hang", "few_choices",
	"shuffled_choices", "no_usage"
};

enum when_kind { W_NTH, W_EVERY, W_MATCH, W_ALL };

struct fault {
	enum fault_kind kind;
	enum when_kind when;
	long long k;            /* W_NTH, W_EVERY */
	const char *match;      /* W_MATCH; borrowed from the script tree */
	long long times;        /* most times this fault fires; -1: no limit */
	long long fired;        /* guarded by server.fault_lock */
	long long delay_ms;     /* wait before acting; 0: none */
	long long retry_after;  /* Retry-After seconds; -1: no header */
	int rst;                /* reset: abortive close (RST), not FIN */
	long long choices;      /* few_choices: at most this many (default 1) */
};

struct answer {
	const char *match;      /* NULL: any prompt */
	const char *text;       /* NULL when only texts is given */
	json_t *texts;          /* array of strings, or NULL */
	int by_seed;            /* choice i of a request with seed s gets
				   texts[(s + i) % len] */
};

struct script {
	json_t *root;           /* owns every borrowed string below */
	struct answer *answers;
	size_t nanswers;
	struct fault *faults;
	size_t nfaults;
	const char *deftext;
	const char *model;
};

/* ---- server and request state ---------------------------------------- */

struct req;

struct server {
	struct script sc;
	struct MHD_Daemon *daemon;
	int verbose;

	FILE *log;
	pthread_mutex_t log_lock;
	int log_failed;                 /* guarded by log_lock */
	atomic_llong seq;               /* requests received, for "n" */

	pthread_mutex_t fault_lock;
	long long gen_count;            /* generation requests seen */

	pthread_mutex_t sleep_lock;     /* guards the four fields below */
	pthread_cond_t sleep_cond;
	struct req *sleepers;           /* suspended, waiting for wake_ms */
	int stopping;
	int timer_started;
	pthread_t timer;
};

enum req_state { RQ_READING, RQ_SLEEPING, RQ_DONE };

struct req {
	struct server *srv;
	struct MHD_Connection *conn;
	char *body;
	size_t len, cap;
	uint64_t hash;                  /* FNV-1a of every body byte seen */
	int too_large;                  /* body over MAX_BODY: rest discarded */
	int early;                      /* answered before reading the body */
	long long n;                    /* sequence number, once received */
	int rst;                        /* close with a TCP reset */
	enum req_state state;
	/* what to do when a delay ends: queue delayed (status delayed_status),
	 * or close without a response when delayed is NULL */
	struct MHD_Response *delayed;
	unsigned delayed_status;
	uint64_t wake_ms;
	int sleeping;                   /* on srv->sleepers; sleep_lock */
	struct req *next_sleeper;
};

/* A growable byte buffer; its users keep it far below MAX_BODY. */
struct buf {
	char *p;
	size_t len, cap;
};

static int buf_add(struct buf *b, const char *s, size_t n)
{
	if (n > SIZE_MAX / 2 - b->len - 1)
		return -1;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p)
			return -1;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

/* ---- small helpers --------------------------------------------------- */

static uint64_t fnv1a(uint64_t h, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= FNV_PRIME;
	}
	return h;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Largest n <= max that does not split a UTF-8 sequence of s[0..len). */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
	size_t n = max < len ? max : len;

	while (n > 0 && n < len && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

/* Byte length of the first `chars` code points of s[0..len). */
static size_t utf8_prefix(const char *s, size_t len, size_t chars)
{
	size_t i = 0, seen = 0;

	for (; i < len; i++) {
		if (((unsigned char)s[i] & 0xC0) != 0x80) {
			if (seen == chars)
				break;
			seen++;
		}
	}
	return i;
}

static long long tokens(size_t bytes)
{
	return (long long)((bytes + 3) / 4);
}

__attribute__((format(printf, 1, 2)))
static void warnx_(const char *fmt, ...)
{
	va_list ap;

	fputs("fakeai: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- script loading -------------------------------------------------- */

/* Every key of obj must be in the NULL-terminated list `keys`. */
static int only_keys(json_t *obj, const char *const *keys, const char *what)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		size_t i;

		for (i = 0; keys[i]; i++)
			if (strcmp(key, keys[i]) == 0)
				break;
		if (!keys[i]) {
			warnx_("script: unknown key \"%s\" in %s", key, what);
			return -1;
		}
	}
	return 0;
}

/* Optional integer member >= min: *out keeps its default when absent. */
static int opt_int(json_t *obj, const char *key, long long min,
		   long long *out, const char *what)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min) {
		warnx_("script: %s: \"%s\" must be an integer >= %lld", what,
		       key, min);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

static int load_answer(json_t *a, struct answer *out, size_t i)
{
	static const char *const keys[] = { "match", "text", "texts",
					    "by_seed", NULL };
	char what[48];
	json_t *m = json_object_get(a, "match");
	json_t *t = json_object_get(a, "text");
	json_t *ts = json_object_get(a, "texts");
	json_t *bs = json_object_get(a, "by_seed");

	snprintf(what, sizeof(what), "answers[%zu]", i);
	if (!json_is_object(a)) {
		warnx_("script: %s must be an object", what);
		return -1;
	}
	if (only_keys(a, keys, what) < 0)
		return -1;
	if ((m && !json_is_string(m)) || (t && !json_is_string(t))) {
		warnx_("script: %s: \"match\" and \"text\" must be strings",
		       what);
		return -1;
	}
	if (ts) {
		size_t j;
		json_t *x;

		if (!json_is_array(ts) || json_array_size(ts) == 0) {
			warnx_("script: %s: \"texts\" must be a non-empty array",
			       what);
			return -1;
		}
		json_array_foreach(ts, j, x) {
			if (!json_is_string(x)) {
				warnx_("script: %s: texts[%zu] is not a string",
				       what, j);
				return -1;
			}
		}
	}
	if (!t && !ts) {
		warnx_("script: %s needs \"text\" or \"texts\"", what);
		return -1;
	}
	if (bs && (!json_is_boolean(bs) || (json_is_true(bs) && (!ts || t)))) {
		warnx_("script: %s: \"by_seed\" must be a boolean, and true "
		       "only with \"texts\" and no \"text\"", what);
		return -1;
	}
	out->by_seed = json_is_true(bs);
	out->match = m ? json_string_value(m) : NULL;
	out->text = t ? json_string_value(t) : NULL;
	out->texts = ts;
	return 0;
}

static int load_when(json_t *w, struct fault *f, const char *what)
{
	static const char *const keys[] = { "nth", "every", "match", "all",
					    "times", NULL };
	int kinds = 0;
	json_t *v;

	if (!json_is_object(w)) {
		warnx_("script: %s: \"when\" must be an object", what);
		return -1;
	}
	if (only_keys(w, keys, what) < 0)
		return -1;
	if ((v = json_object_get(w, "nth"))) {
		kinds++;
		f->when = W_NTH;
		if (opt_int(w, "nth", 1, &f->k, what) < 0)
			return -1;
	}
	if ((v = json_object_get(w, "every"))) {
		kinds++;
		f->when = W_EVERY;
		if (opt_int(w, "every", 1, &f->k, what) < 0)
			return -1;
	}
	if ((v = json_object_get(w, "match"))) {
		kinds++;
		f->when = W_MATCH;
		if (!json_is_string(v)) {
			warnx_("script: %s: \"match\" must be a string", what);
			return -1;
		}
		f->match = json_string_value(v);
	}
	if ((v = json_object_get(w, "all"))) {
		kinds++;
		f->when = W_ALL;
		if (!json_is_true(v)) {
			warnx_("script: %s: \"all\" must be true", what);
			return -1;
		}
	}
	if (kinds != 1) {
		warnx_("script: %s: \"when\" needs exactly one of nth, every, "
		       "match, all", what);
		return -1;
	}
	return opt_int(w, "times", 0, &f->times, what);
}

static int load_fault(json_t *j, struct fault *f, size_t i)
{
	static const char *const keys[] = { "kind", "when", "delay_ms",
					    "retry_after", "rst", "choices",
					    NULL };
	char what[48];
	json_t *kind = json_object_get(j, "kind");
	json_t *rst = json_object_get(j, "rst");
	int k;

	snprintf(what, sizeof(what), "faults[%zu]", i);
	if (!json_is_object(j)) {
		warnx_("script: %s must be an object", what);
		return -1;
	}
	if (only_keys(j, keys, what) < 0)
		return -1;
	if (!json_is_string(kind)) {
		warnx_("script: %s: \"kind\" must be a string", what);
		return -1;
	}
	for (k = 0; k < F_COUNT; k++)
		if (strcmp(json_string_value(kind), fault_names[k]) == 0)
			break;
	if (k == F_COUNT) {
		warnx_("script: %s: unknown kind \"%s\"", what,
		       json_string_value(kind));
		return -1;
	}
	f->kind = (enum fault_kind)k;
	f->times = -1;
	f->retry_after = -1;
	f->delay_ms = f->kind == F_HANG ? DEFAULT_HANG_MS : 0;
	f->choices = 1;
	if (!json_object_get(j, "when")) {
		warnx_("script: %s: \"when\" is required", what);
		return -1;
	}
	if (load_when(json_object_get(j, "when"), f, what) < 0 ||
	    opt_int(j, "delay_ms", 0, &f->delay_ms, what) < 0 ||
	    opt_int(j, "retry_after", 0, &f->retry_after, what) < 0 ||
	    opt_int(j, "choices", 1, &f->choices, what) < 0)
		return -1;
	if (rst && !json_is_boolean(rst)) {
		warnx_("script: %s: \"rst\" must be a boolean", what);
		return -1;
	}
	f->rst = json_is_true(rst);
	return 0;
}

static void script_free(struct script *sc)
{
	free(sc->answers);
	free(sc->faults);
	json_decref(sc->root);
	memset(sc, 0, sizeof(*sc));
}

/* path NULL: an empty script (default answer, no faults). */
static int script_load(struct script *sc, const char *path)
{
	static const char *const keys[] = { "answers", "default", "faults",
					    "model", NULL };
	json_error_t jerr;
	json_t *answers, *faults, *def, *model, *x;
	size_t i;

	memset(sc, 0, sizeof(*sc));
	sc->deftext = default_text;
	sc->model = "fakeai";
	if (!path)
		return 0;
	sc->root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!sc->root) {
		if (jerr.line < 1)
			warnx_("%s", jerr.text);
		else
			warnx_("%s:%d:%d: %s", path, jerr.line, jerr.column,
			       jerr.text);
		return -1;
	}
	if (!json_is_object(sc->root)) {
		warnx_("%s: the script must be a JSON object", path);
		goto fail;
	}
	if (only_keys(sc->root, keys, "the script") < 0)
		goto fail;
	answers = json_object_get(sc->root, "answers");
	faults = json_object_get(sc->root, "faults");
	def = json_object_get(sc->root, "default");
	model = json_object_get(sc->root, "model");
	if ((answers && !json_is_array(answers)) ||
	    (faults && !json_is_array(faults)) ||
	    (def && !json_is_string(def)) || (model && !json_is_string(model))) {
		warnx_("%s: \"answers\" and \"faults\" must be arrays, "
		       "\"default\" and \"model\" strings", path);
		goto fail;
	}
	if (def)
		sc->deftext = json_string_value(def);
	if (model)
		sc->model = json_string_value(model);
	if (answers && json_array_size(answers)) {
		sc->answers = calloc(json_array_size(answers),
				     sizeof(*sc->answers));
		if (!sc->answers) {
			warnx_("out of memory");
			goto fail;
		}
		json_array_foreach(answers, i, x)
			if (load_answer(x, &sc->answers[i], i) < 0)
				goto fail;
		sc->nanswers = json_array_size(answers);
	}
	if (faults && json_array_size(faults)) {
		sc->faults = calloc(json_array_size(faults), sizeof(*sc->faults));
		if (!sc->faults) {
			warnx_("out of memory");
			goto fail;
		}
		json_array_foreach(faults, i, x)
			if (load_fault(x, &sc->faults[i], i) < 0)
				goto fail;
		sc->nfaults = json_array_size(faults);
	}
	return 0;
fail:
	script_free(sc);
	return -1;
}

/* The first fault whose condition holds for this generation request, or
 * NULL. Counters change under one lock so that "nth" and "times" hold
 * exactly under concurrency. */
static const struct fault *fault_pick(struct server *s, const char *prompt)
{
	const struct fault *hit = NULL;
	long long n;

	pthread_mutex_lock(&s->fault_lock);
	n = ++s->gen_count;
	for (size_t i = 0; i < s->sc.nfaults && !hit; i++) {
		struct fault *f = &s->sc.faults[i];
		int ok = 0;

		if (f->times >= 0 && f->fired >= f->times)
			continue;
		switch (f->when) {
		case W_NTH:
			ok = n == f->k;
			break;
		case W_EVERY:
			ok = n % f->k == 0;
			break;
		case W_MATCH:
			ok = strstr(prompt, f->match) != NULL;
			break;
		case W_ALL:
			ok = 1;
			break;
		}
		if (ok) {
			f->fired++;
			hit = f;
		}
	}
	pthread_mutex_unlock(&s->fault_lock);
	return hit;
}

/* Text of choice i for this prompt (see README: answers). */
static const char *answer_text(const struct script *sc, const char *prompt,
			       size_t i, long long seed)
{
	for (size_t a = 0; a < sc->nanswers; a++) {
		const struct answer *an = &sc->answers[a];
		size_t nt;

		if (an->match && !strstr(prompt, an->match))
			continue;
		nt = an->texts ? json_array_size(an->texts) : 0;
		if (an->by_seed)
			return json_string_value(json_array_get(an->texts,
				(size_t)(((unsigned long long)seed + i) % nt)));
		if (i < nt)
			return json_string_value(json_array_get(an->texts, i));
		if (an->text)
			return an->text;
		return json_string_value(json_array_get(an->texts, i % nt));
	}
	return sc->deftext;
}

/* ---- request log ----------------------------------------------------- */

static void log_request(struct server *s, const char *method, const char *url,
			const struct req *r, int hashed, const char *prompt,
			const char *fault, unsigned status)
{
	char hex[17];
	json_t *line;
	char *text;
	long long n = r->n;

	if (!s->log)
		return;
	snprintf(hex, sizeof(hex), "%016" PRIx64, r->hash);
	line = json_pack("{s:I, s:s, s:s, s:s?, s:o, s:s?, s:o}",
			 "n", (json_int_t)n, "method", method, "path", url,
			 "hash", hashed ? hex : NULL,
			 "prompt", prompt ? json_stringn(prompt,
				utf8_prefix(prompt, strlen(prompt),
					    LOG_PROMPT_CHARS)) : json_null(),
			 "fault", fault,
			 "status", status ? json_integer(status) : json_null());
	text = line ? json_dumps(line, JSON_COMPACT) : NULL;
	json_decref(line);
	pthread_mutex_lock(&s->log_lock);
	if (!text || fprintf(s->log, "%s\n", text) < 0 || fflush(s->log) != 0) {
		if (!s->log_failed)
			warnx_("cannot write the log line for request %lld", n);
		s->log_failed = 1;
	}
	pthread_mutex_unlock(&s->log_lock);
	free(text);
}

/* ---- responses ------------------------------------------------------- */

static struct MHD_Response *resp_bytes(const char *p, size_t n,
				       const char *ctype)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		n, (void *)p, MHD_RESPMEM_MUST_COPY);

	if (resp && MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					    ctype) != MHD_YES) {
		MHD_destroy_response(resp);
		resp = NULL;
	}
	return resp;
}

/* Takes the reference to j. */
static struct MHD_Response *resp_json(json_t *j, const char *ctype)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	struct MHD_Response *resp = NULL;

	json_decref(j);
	if (text)
		resp = resp_bytes(text, strlen(text), ctype);
	free(text);
	return resp;
}

static struct MHD_Response *resp_error(const char *message, const char *type,
				       const char *code)
{
	return resp_json(json_pack("{s:{s:s, s:s, s:n, s:s?}}", "error",
				   "message", message, "type", type, "param",
				   "code", code), "application/json");
}

/* "truncated": the body's first half is sent while Content-Length claims
 * the whole of it, then the connection is closed. */
struct trunc {
	char *p;
	size_t send;
};

static ssize_t trunc_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct trunc *t = cls;
	size_t n;

	if (pos >= t->send)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	n = t->send - (size_t)pos;
	if (n > max)
		n = max;
	memcpy(out, t->p + pos, n);
	return (ssize_t)n;
}

static void trunc_free(void *cls)
{
	struct trunc *t = cls;

	free(t->p);
	free(t);
}

static struct MHD_Response *resp_truncated(const char *p, size_t n,
					   const char *ctype)
{
	struct trunc *t = malloc(sizeof(*t));
	struct MHD_Response *resp;

	if (!t)
		return NULL;
	t->p = malloc(n ? n : 1);
	if (!t->p) {
		free(t);
		return NULL;
	}
	memcpy(t->p, p, n);
	t->send = n / 2;
	resp = MHD_create_response_from_callback(n, 4096, trunc_read, t,
						 trunc_free);
	if (!resp) {
		trunc_free(t);
		return NULL;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				    ctype) != MHD_YES) {
		MHD_destroy_response(resp);
		return NULL;
	}
	return resp;
}

/* ---- delays: suspended connections and the timer thread -------------- */

static void *timer_main(void *arg)
{
	struct server *s = arg;

	pthread_mutex_lock(&s->sleep_lock);
	for (;;) {
		uint64_t now = now_ms(), next = UINT64_MAX;
		struct req **pp = &s->sleepers, *due = NULL;

		/* Unlink every request whose time has come (all of them when
		 * stopping: MHD_stop_daemon() must find none suspended). */
		while (*pp) {
			struct req *r = *pp;

			if (s->stopping || r->wake_ms <= now) {
				*pp = r->next_sleeper;
				r->sleeping = 0;
				r->next_sleeper = due;
				due = r;
			} else {
				if (r->wake_ms < next)
					next = r->wake_ms;
				pp = &r->next_sleeper;
			}
		}
		if (due) {
			/* Resume outside the lock; the request may complete
			 * and be freed as soon as it is resumed. */
			pthread_mutex_unlock(&s->sleep_lock);
			while (due) {
				struct req *r = due;

				due = r->next_sleeper;
				MHD_resume_connection(r->conn);
			}
			pthread_mutex_lock(&s->sleep_lock);
			continue;
		}
		if (s->stopping)
			break;
		if (next == UINT64_MAX) {
			pthread_cond_wait(&s->sleep_cond, &s->sleep_lock);
		} else {
			struct timespec ts = {
				.tv_sec = (time_t)(next / 1000),
				.tv_nsec = (long)(next % 1000) * 1000000L,
			};

			pthread_cond_timedwait(&s->sleep_cond, &s->sleep_lock,
					       &ts);
		}
	}
	pthread_mutex_unlock(&s->sleep_lock);
	return NULL;
}

/* Suspend r until delay_ms from now, then act on (resp, status). Returns
 * MHD_NO (close) when the server is stopping. Takes resp. */
static enum MHD_Result sleep_then(struct req *r, long long delay_ms,
				  struct MHD_Response *resp, unsigned status)
{
	struct server *s = r->srv;

	pthread_mutex_lock(&s->sleep_lock);
	if (s->stopping) {
		pthread_mutex_unlock(&s->sleep_lock);
		if (resp)
			MHD_destroy_response(resp);
		return MHD_NO;
	}
	MHD_suspend_connection(r->conn);
	r->delayed = resp;
	r->delayed_status = status;
	r->state = RQ_SLEEPING;
	r->wake_ms = now_ms() + (uint64_t)delay_ms;
	r->sleeping = 1;
	r->next_sleeper = s->sleepers;
	s->sleepers = r;
	pthread_cond_signal(&s->sleep_cond);
	pthread_mutex_unlock(&s->sleep_lock);
	return MHD_YES;
}

static enum MHD_Result send_now(struct MHD_Connection *c, unsigned status,
				struct MHD_Response *resp)
{
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* ---- generation requests --------------------------------------------- */

struct gen {
	int chat;
	json_t *root;           /* the parsed body; owns model and stop */
	const char *model;
	char *prompt;           /* last user message / prompt; owned */
	size_t prompt_bytes;    /* for usage.prompt_tokens */
	int n;
	long long max_tokens;   /* 0: no limit */
	const char *stop[MAX_STOP];
	size_t nstop;
	int stream;
	long long seed;         /* 0 when absent or null */
};

static void gen_free(struct gen *g)
{
	json_decref(g->root);
	free(g->prompt);
}

/* Appends the text of a message content (string, null, or an array of
 * {"type":"text","text":...} parts) to out (when non-NULL); returns its
 * byte length, or -1 when content has another shape. */
static long long content_text(json_t *content, struct buf *out, int *oom)
{
	long long n = 0;
	size_t i;
	json_t *part;

	if (json_is_null(content))
		return 0;
	if (json_is_string(content)) {
		if (out && buf_add(out, json_string_value(content),
				   json_string_length(content)) < 0)
			*oom = 1;
		return (long long)json_string_length(content);
	}
	if (!json_is_array(content))
		return -1;
	json_array_foreach(content, i, part) {
		json_t *t = json_object_get(part, "text");

		if (!json_is_object(part))
			return -1;
		if (!t)
			continue;       /* images and other parts */
		if (!json_is_string(t))
			return -1;
		if (out && buf_add(out, json_string_value(t),
				   json_string_length(t)) < 0)
			*oom = 1;
		n += (long long)json_string_length(t);
	}
	return n;
}

/* 0: ok; -1: bad request, message in msg; -2: out of memory. */
static int gen_parse(struct gen *g, const struct req *r, int chat,
		     char *msg, size_t msgsz)
{
	json_error_t jerr;
	json_t *v;
	struct buf pb = { 0 };
	int oom = 0;

	memset(g, 0, sizeof(*g));
	g->chat = chat;
	g->n = 1;
	if (!r->body || r->len == 0) {
		snprintf(msg, msgsz, "request body is empty");
		return -1;
	}
	g->root = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &jerr);
	if (!g->root && json_error_code(&jerr) == json_error_out_of_memory)
		return -2;
	if (!g->root) {
		snprintf(msg, msgsz, "invalid JSON in request body: %s "
			 "(line %d, column %d)", jerr.text, jerr.line,
			 jerr.column);
		return -1;
	}
	if (!json_is_object(g->root)) {
		snprintf(msg, msgsz, "request body must be a JSON object");
		return -1;
	}

	v = json_object_get(g->root, "model");
	if (v && !json_is_null(v) && !json_is_string(v)) {
		snprintf(msg, msgsz, "'model' must be a string");
		return -1;
	}
	g->model = json_is_string(v) ? json_string_value(v) : NULL;

	v = json_object_get(g->root, "n");
	if (v && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > MAX_CHOICES) {
			snprintf(msg, msgsz, "'n' must be an integer from 1 to %d",
				 MAX_CHOICES);
			return -1;
		}
		g->n = (int)json_integer_value(v);
	}

	v = json_object_get(g->root, "max_tokens");
	if (chat && (!v || json_is_null(v)))
		v = json_object_get(g->root, "max_completion_tokens");
	if (v && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 1) {
			snprintf(msg, msgsz, "'max_tokens' must be an integer >= 1");
			return -1;
		}
		g->max_tokens = json_integer_value(v);
	}

	static const char *const numbers[] = { "temperature", "top_p",
		"presence_penalty", "frequency_penalty", NULL };
	for (size_t i = 0; numbers[i]; i++) {
		v = json_object_get(g->root, numbers[i]);
		if (v && !json_is_null(v) && !json_is_number(v)) {
			snprintf(msg, msgsz, "'%s' must be a number", numbers[i]);
			return -1;
		}
	}
	v = json_object_get(g->root, "seed");
	if (v && !json_is_null(v) && !json_is_integer(v)) {
		snprintf(msg, msgsz, "'seed' must be an integer");
		return -1;
	}
	g->seed = json_is_integer(v) ? json_integer_value(v) : 0;
	v = json_object_get(g->root, "stream");
	if (v && !json_is_null(v) && !json_is_boolean(v)) {
		snprintf(msg, msgsz, "'stream' must be a boolean");
		return -1;
	}
	g->stream = json_is_true(v);

	v = json_object_get(g->root, "stop");
	if (json_is_string(v)) {
		g->stop[g->nstop++] = json_string_value(v);
	} else if (json_is_array(v)) {
		size_t i;
		json_t *x;

		if (json_array_size(v) > MAX_STOP) {
			snprintf(msg, msgsz, "'stop' has more than %d strings",
				 MAX_STOP);
			return -1;
		}
		json_array_foreach(v, i, x) {
			if (!json_is_string(x)) {
				snprintf(msg, msgsz, "'stop' must be a string or "
					 "an array of strings");
				return -1;
			}
			g->stop[g->nstop++] = json_string_value(x);
		}
	} else if (v && !json_is_null(v)) {
		snprintf(msg, msgsz, "'stop' must be a string or an array of "
			 "strings");
		return -1;
	}

	if (chat) {
		json_t *msgs = json_object_get(g->root, "messages"), *m;
		size_t i, last_user = SIZE_MAX;

		if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
			snprintf(msg, msgsz, "'messages' is required and must "
				 "be a non-empty array");
			return -1;
		}
		json_array_foreach(msgs, i, m) {
			json_t *role = json_object_get(m, "role");
			long long len;

			if (!json_is_object(m) || !json_is_string(role)) {
				snprintf(msg, msgsz, "messages[%zu] must be an "
					 "object with a string 'role'", i);
				return -1;
			}
			len = content_text(json_object_get(m, "content"), NULL,
					   &oom);
			if (len < 0) {
				snprintf(msg, msgsz, "messages[%zu].content must "
					 "be a string or an array of parts", i);
				return -1;
			}
			g->prompt_bytes += (size_t)len;
			if (strcmp(json_string_value(role), "user") == 0)
				last_user = i;
		}
		if (last_user != SIZE_MAX)
			content_text(json_object_get(json_array_get(msgs,
					last_user), "content"), &pb, &oom);
	} else {
		v = json_object_get(g->root, "prompt");
		if (json_is_array(v) && json_array_size(v) == 1)
			v = json_array_get(v, 0);
		if (!json_is_string(v)) {
			snprintf(msg, msgsz, "'prompt' is required and must be "
				 "a string");
			return -1;
		}
		g->prompt_bytes = json_string_length(v);
		if (buf_add(&pb, json_string_value(v), json_string_length(v)) < 0)
			oom = 1;
	}
	if (!oom && !pb.p && buf_add(&pb, "", 0) < 0)
		oom = 1;
	if (oom) {
		free(pb.p);
		return -2;
	}
	g->prompt = pb.p;
	return 0;
}

/* One generated choice, after "stop" and "max_tokens" are applied. */
struct choice {
	const char *text;
	size_t len;
	const char *finish;
};

static void make_choice(const struct gen *g, const char *text,
			struct choice *c)
{
	c->text = text;
	c->len = strlen(text);
	c->finish = "stop";
	for (size_t i = 0; i < g->nstop; i++) {
		const char *hit;

		if (!g->stop[i][0])
			continue;
		hit = strstr(text, g->stop[i]);
		if (hit && (size_t)(hit - text) < c->len)
			c->len = (size_t)(hit - text);
	}
	if (g->max_tokens && tokens(c->len) > g->max_tokens) {
		c->len = utf8_cut(text, c->len, (size_t)g->max_tokens * 4);
		c->finish = "length";
	}
}

/* Tokens of the first n choices (none when cs is NULL). */
static json_t *usage_json(const struct gen *g, const struct choice *cs, int n)
{
	long long ct = 0, pt = tokens(g->prompt_bytes);

	for (int i = 0; i < n && cs; i++)
		ct += tokens(cs[i].len);
	return json_pack("{s:I, s:I, s:I}", "prompt_tokens", (json_int_t)pt,
			 "completion_tokens", (json_int_t)ct, "total_tokens",
			 (json_int_t)(pt + ct));
}

/* The response object, as fault f (NULL: none) shapes it: empty_choices
 * "choices": [] (and 0 completion tokens), few_choices the first
 * f->choices of them, shuffled_choices the choices in reverse order (each
 * with its own index), no_usage no "usage" member. */
static json_t *gen_json(const struct gen *g, const struct choice *cs,
			const char *id, const struct fault *f)
{
	json_t *choices = json_array(), *r;
	enum fault_kind k = f ? f->kind : F_SLOW;
	int empty = k == F_EMPTY_CHOICES;
	int n = k == F_FEW_CHOICES && f->choices < g->n ? (int)f->choices
							 : g->n;

	if (!choices)
		return NULL;
	for (int j = 0; j < n && !empty; j++) {
		int i = k == F_SHUFFLED_CHOICES ? n - 1 - j : j;
		json_t *c;

		if (g->chat)
			c = json_pack("{s:i, s:{s:s, s:s%}, s:n, s:s}", "index",
				      i, "message", "role", "assistant",
				      "content", cs[i].text, cs[i].len,
				      "logprobs", "finish_reason", cs[i].finish);
		else
			c = json_pack("{s:i, s:s%, s:n, s:s}", "index", i, "text",
				      cs[i].text, cs[i].len, "logprobs",
				      "finish_reason", cs[i].finish);
		if (json_array_append_new(choices, c) < 0) {
			json_decref(choices);
			return NULL;
		}
	}
	r = json_pack("{s:s, s:s, s:I, s:s, s:o}", "id", id, "object",
		      g->chat ? "chat.completion" : "text_completion",
		      "created", (json_int_t)time(NULL),
		      "model", g->model, "choices", choices);
	if (r && k != F_NO_USAGE &&
	    json_object_set_new(r, "usage", usage_json(g, empty ? NULL : cs, n))) {
		json_decref(r);
		return NULL;
	}
	return r;
}

/* Appends "data: <chunk>\n\n"; takes the reference to chunk. */
static int sse_add(struct buf *b, json_t *chunk)
{
	char *text = chunk ? json_dumps(chunk, JSON_COMPACT) : NULL;
	int rc = -1;

	json_decref(chunk);
	if (text && buf_adds(b, "data: ") == 0 && buf_adds(b, text) == 0 &&
	    buf_adds(b, "\n\n") == 0)
		rc = 0;
	free(text);
	return rc;
}

static json_t *sse_chunk(const struct gen *g, const char *id, int i,
			 json_t *delta_or_text, const char *finish)
{
	json_t *choice;

	if (g->chat)
		choice = json_pack("{s:i, s:o, s:n, s:s?}", "index", i, "delta",
				   delta_or_text, "logprobs", "finish_reason",
				   finish);
	else
		choice = json_pack("{s:i, s:o, s:n, s:s?}", "index", i, "text",
				   delta_or_text, "logprobs", "finish_reason",
				   finish);
	return json_pack("{s:s, s:s, s:I, s:s, s:[o]}", "id", id, "object",
			 g->chat ? "chat.completion.chunk" : "text_completion",
			 "created", (json_int_t)time(NULL), "model", g->model,
			 "choices", choice);
}

/* The whole event stream of a "stream": true request, in memory. */
static int gen_sse(const struct gen *g, const struct choice *cs,
		   const char *id, struct buf *b)
{
	for (int i = 0; i < g->n; i++) {
		const struct choice *c = &cs[i];
		size_t pos = 0;

		if (g->chat && sse_add(b, sse_chunk(g, id, i,
				json_pack("{s:s, s:s}", "role", "assistant",
					  "content", ""), NULL)) < 0)
			return -1;
		while (pos < c->len) {
			size_t n = utf8_cut(c->text + pos, c->len - pos,
					    STREAM_PIECE);
			json_t *piece;

			if (n == 0)     /* a sequence longer than a piece */
				n = c->len - pos < 4 ? c->len - pos : 4;
			piece = json_stringn(c->text + pos, n);
			if (g->chat)
				piece = json_pack("{s:o}", "content", piece);
			if (sse_add(b, sse_chunk(g, id, i, piece, NULL)) < 0)
				return -1;
			pos += n;
		}
		if (sse_add(b, sse_chunk(g, id, i, g->chat ? json_object() :
					 json_string(""), c->finish)) < 0)
			return -1;
	}
	return buf_adds(b, "data: [DONE]\n\n");
}

/* What a request gets: a response now or after delay_ms, or a closed
 * connection (resp NULL, status 0). */
struct outcome {
	unsigned status;
	struct MHD_Response *resp;
	const char *fault;
	long long delay_ms;
	int rst;
};

static void outcome_error(struct outcome *o, unsigned status,
			  const char *message, const char *type,
			  const char *code)
{
	o->status = status;
	o->resp = resp_error(message, type, code);
}

/* Builds the normal answer (200), then lets fault f (or none) change it. */
static int gen_outcome(struct server *s, const struct gen *g, long long n,
		       const struct fault *f, struct outcome *o)
{
	static const char malformed[] =
		"{\"id\": \"chatcmpl-fakeai\", \"choices\": [{\"index\": 0, "
		"this is not JSON <html>";
	struct choice *cs = calloc((size_t)g->n, sizeof(*cs));
	struct gen gm = *g;
	struct buf body = { 0 };
	char id[48];
	const char *ctype = g->stream ? "text/event-stream" :
		"application/json";
	int rc = -1;

	if (!cs)
		return -1;
	if (!gm.model)
		gm.model = s->sc.model;
	snprintf(id, sizeof(id), "%s-fakeai-%lld", g->chat ? "chatcmpl" : "cmpl",
		 n);
	for (int i = 0; i < g->n; i++)
		make_choice(g, answer_text(&s->sc, g->prompt, (size_t)i,
					   g->seed), &cs[i]);

	o->status = MHD_HTTP_OK;
	o->fault = f ? fault_names[f->kind] : NULL;
	o->delay_ms = f ? f->delay_ms : 0;
	o->rst = f ? f->rst : 0;
	if (f && f->kind == F_EMPTY_CHOICES) {
		o->resp = resp_json(gen_json(&gm, cs, id, f), "application/json");
		rc = o->resp ? 0 : -1;
		goto out;
	}
	if (g->stream) {
		if (gen_sse(&gm, cs, id, &body) < 0)
			goto out;
	} else {
		json_t *j = gen_json(&gm, cs, id, f);
		char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

		json_decref(j);
		if (!text || buf_adds(&body, text) < 0) {
			free(text);
			goto out;
		}
		free(text);
	}
	switch (f ? f->kind : F_SLOW) {
	case F_SLOW:
	case F_FEW_CHOICES:
	case F_SHUFFLED_CHOICES:
	case F_NO_USAGE:
		o->resp = resp_bytes(body.p, body.len, ctype);
		break;
	case F_CONTENT_TYPE:
		o->resp = resp_bytes(body.p, body.len, "text/html");
		break;
	case F_TRUNCATED:
		o->resp = resp_truncated(body.p, body.len, ctype);
		break;
	case F_MALFORMED:
		o->resp = resp_bytes(malformed, sizeof(malformed) - 1, ctype);
		break;
	case F_429:
		outcome_error(o, 429, "Rate limit reached (fakeai fault)",
			      "requests", "rate_limit_exceeded");
		break;
	case F_500:
		outcome_error(o, 500, "Internal server error (fakeai fault)",
			      "server_error", NULL);
		break;
	case F_503:
		outcome_error(o, 503, "The server is overloaded (fakeai fault)",
			      "server_error", NULL);
		break;
	case F_RESET:
	case F_HANG:
		o->status = 0;
		rc = 0;
		goto out;
	case F_EMPTY_CHOICES:
	case F_COUNT:
		break;
	}
	if (o->resp && f && f->retry_after >= 0) {
		char v[24];

		snprintf(v, sizeof(v), "%lld", f->retry_after);
		if (MHD_add_response_header(o->resp, MHD_HTTP_HEADER_RETRY_AFTER,
					    v) != MHD_YES) {
			MHD_destroy_response(o->resp);
			o->resp = NULL;
		}
	}
	rc = o->resp ? 0 : -1;
out:
	free(body.p);
	free(cs);
	return rc;
}

/* ---- dispatch -------------------------------------------------------- */

enum route { R_NONE, R_CHAT, R_COMPL, R_MODELS, R_HEALTH };

static enum route route_of(const char *url, const char **method_wanted)
{
	static const struct {
		const char *path, *method;
		enum route r;
	} routes[] = {
		{ "/v1/chat/completions", "POST", R_CHAT },
		{ "/v1/completions", "POST", R_COMPL },
		{ "/v1/models", "GET", R_MODELS },
		{ "/health", "GET", R_HEALTH },
	};

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(url, routes[i].path) == 0) {
			*method_wanted = routes[i].method;
			return routes[i].r;
		}
	}
	return R_NONE;
}

/* Sends a TCP RST now. libmicrohttpd owns the socket and would send a FIN
 * (shutdown) before closing it, so the socket is disconnected in place:
 * on Linux, connect() with AF_UNSPEC aborts a TCP connection with a reset
 * and leaves the descriptor open for libmicrohttpd to close. */
static void reset_conn(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c,
		MHD_CONNECTION_INFO_CONNECTION_FD);
	struct sockaddr sa = { .sa_family = AF_UNSPEC };

	if (ci)
		(void)connect(ci->connect_fd, &sa, sizeof(sa));
}

static enum MHD_Result finish(struct req *r, const char *method,
			      const char *url, const char *prompt,
			      struct outcome *o)
{
	log_request(r->srv, method, url, r, !r->early, prompt, o->fault,
		    o->status);
	r->state = RQ_DONE;
	r->rst = o->rst;
	if (o->delay_ms > 0)
		return sleep_then(r, o->delay_ms, o->resp, o->status);
	if (!o->resp && r->rst)
		reset_conn(r->conn);
	return send_now(r->conn, o->status, o->resp);
}

static enum MHD_Result dispatch(struct req *r, const char *url,
				const char *method)
{
	struct server *s = r->srv;
	struct outcome o = { 0 };
	const char *want = NULL;
	enum route rt = route_of(url, &want);
	char msg[512];
	struct gen g;
	const struct fault *f;
	enum MHD_Result ret;
	int rc;

	r->n = atomic_fetch_add(&s->seq, 1) + 1;
	if (rt == R_NONE || strcmp(method, want) != 0) {
		snprintf(msg, sizeof(msg), "%s (%s %.200s)", rt == R_NONE ?
			 "Invalid URL" : "Method not allowed", method, url);
		outcome_error(&o, rt == R_NONE ? 404 : 405, msg,
			      "invalid_request_error", NULL);
		return finish(r, method, url, NULL, &o);
	}
	if (r->too_large) {
		outcome_error(&o, 413, "request body is larger than 8 MiB",
			      "invalid_request_error", NULL);
		return finish(r, method, url, NULL, &o);
	}
	if (rt == R_HEALTH) {
		o.status = 200;
		o.resp = resp_json(json_pack("{s:s}", "status", "ok"),
				   "application/json");
		return finish(r, method, url, NULL, &o);
	}
	if (rt == R_MODELS) {
		o.status = 200;
		o.resp = resp_json(json_pack("{s:s, s:[{s:s, s:s, s:I, s:s}]}",
				   "object", "list", "data", "id", s->sc.model,
				   "object", "model", "created", (json_int_t)0,
				   "owned_by", "fakeai"), "application/json");
		return finish(r, method, url, NULL, &o);
	}

	rc = gen_parse(&g, r, rt == R_CHAT, msg, sizeof(msg));
	if (rc == 0) {
		f = fault_pick(s, g.prompt);
		rc = gen_outcome(s, &g, r->n, f, &o);
		if (rc < 0)
			rc = -2;
	}
	if (rc == -1)
		outcome_error(&o, 400, msg, "invalid_request_error", NULL);
	else if (rc == -2)
		outcome_error(&o, 500, "fakeai: out of memory", "server_error",
			      NULL);
	ret = finish(r, method, url, g.prompt, &o);
	gen_free(&g);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *data,
				  size_t *size, void **ctx)
{
	struct server *s = cls;
	struct req *r = *ctx;

	(void)version;
	if (!r) {
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
				MHD_HTTP_HEADER_CONTENT_LENGTH);

		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->srv = s;
		r->conn = c;
		r->hash = FNV_OFFSET;
		*ctx = r;
		if (cl) {
			char *end;
			unsigned long long n;

			errno = 0;
			n = strtoull(cl, &end, 10);
			if (errno == 0 && end != cl && n > MAX_BODY) {
				/* Refuse before reading (or 100-continue). */
				r->too_large = 1;
				r->early = 1;
				return dispatch(r, url, method);
			}
		}
		return MHD_YES;
	}
	if (r->state == RQ_SLEEPING) {
		/* Resumed by the timer thread. */
		struct MHD_Response *resp = r->delayed;
		int stopping;

		r->delayed = NULL;
		r->state = RQ_DONE;
		pthread_mutex_lock(&s->sleep_lock);
		stopping = s->stopping;
		pthread_mutex_unlock(&s->sleep_lock);
		if (stopping && resp) {
			MHD_destroy_response(resp);
			return MHD_NO;
		}
		if (!resp && r->rst)
			reset_conn(c);
		return send_now(c, r->delayed_status, resp);
	}
	if (r->state == RQ_DONE) {
		*size = 0;      /* a body after an early answer: drop it */
		return MHD_YES;
	}
	if (*size) {
		r->hash = fnv1a(r->hash, data, *size);
		if (!r->too_large && r->len + *size > MAX_BODY) {
			r->too_large = 1;
			free(r->body);
			r->body = NULL;
			r->len = r->cap = 0;
		}
		if (!r->too_large) {
			if (r->len + *size > r->cap) {
				size_t cap = r->cap ? r->cap : 4096;
				char *p;

				while (cap < r->len + *size)
					cap *= 2;
				p = realloc(r->body, cap);
				if (!p)
					return MHD_NO;
				r->body = p;
				r->cap = cap;
			}
			memcpy(r->body + r->len, data, *size);
			r->len += *size;
		}
		*size = 0;
		return MHD_YES;
	}
	return dispatch(r, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ctx,
			 enum MHD_RequestTerminationCode code)
{
	struct server *s = cls;
	struct req *r = *ctx;

	(void)c;
	(void)code;
	if (!r)
		return;
	pthread_mutex_lock(&s->sleep_lock);
	if (r->sleeping) {      /* not expected: suspended ones don't time out */
		struct req **pp = &s->sleepers;

		while (*pp && *pp != r)
			pp = &(*pp)->next_sleeper;
		if (*pp)
			*pp = r->next_sleeper;
		r->sleeping = 0;
	}
	pthread_mutex_unlock(&s->sleep_lock);
	if (r->delayed)
		MHD_destroy_response(r->delayed);
	free(r->body);
	free(r);
	*ctx = NULL;
}

/* ---- main ------------------------------------------------------------ */

static int write_port_file(const char *path, unsigned port)
{
	char tmp[4096];
	FILE *f;
	int bad, n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
			      (long)getpid());

	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		warnx_("%s: path too long", path);
		return -1;
	}
	f = fopen(tmp, "w");
	if (!f) {
		warnx_("%s: %s", tmp, strerror(errno));
		return -1;
	}
	bad = fprintf(f, "%u\n", port) < 0;
	if (fclose(f) != 0 || bad) {
		warnx_("%s: write failed", tmp);
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, path) != 0) {
		warnx_("%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void usage(FILE *out)
{
	fputs("usage: fakeai [--port N] [--port-file FILE] [--script FILE]\n"
	      "              [--log FILE] [--threads N] [--host ADDR]\n"
	      "              [--stdin-lifeline] [--verbose]\n"
	      "An OpenAI-compatible test server with fault injection; "
	      "see tests/server/README.md.\n", out);
}

static int parse_num(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	fputs("fakeai: libmicrohttpd: ", stderr);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	vfprintf(stderr, fmt, ap);
#pragma GCC diagnostic pop
}

/* Blocks until SIGTERM/SIGINT, or until stdin closes when lifeline. */
static int wait_for_end(int sfd, int lifeline)
{
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = STDIN_FILENO, .events = POLLIN },
		};
		int n = poll(p, lifeline ? 2 : 1, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			warnx_("poll: %s", strerror(errno));
			return -1;
		}
		if (p[0].revents) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si) &&
			    (int)si.ssi_signo != SIGTERM && (int)si.ssi_signo != SIGINT)
				continue;
			return 0;
		}
		if (lifeline && p[1].revents) {
			char b[4096];
			ssize_t k = read(STDIN_FILENO, b, sizeof(b));

			if (k > 0 || (k < 0 && (errno == EINTR || errno == EAGAIN)))
				continue;
			return 0;       /* end of file, error or closed fd */
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "port-file", required_argument, NULL, 'P' },
		{ "script", required_argument, NULL, 's' },
		{ "log", required_argument, NULL, 'l' },
		{ "threads", required_argument, NULL, 't' },
		{ "host", required_argument, NULL, 'H' },
		{ "stdin-lifeline", no_argument, NULL, 'L' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct server srv;   /* static: zeroed, and outlives threads */
	struct server *s = &srv;
	const char *port_file = NULL, *script = NULL, *log_path = NULL;
	const char *host = "127.0.0.1";
	long port = 0, threads = 4;
	int lifeline = 0, opt, sfd = -1, rc = 1, locks = 0;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	pthread_condattr_t ca;
	sigset_t sigs;
	unsigned flags;
	const union MHD_DaemonInfo *info;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			if (parse_num(optarg, 0, 65535, &port) < 0) {
				warnx_("--port: expected 0..65535");
				return 2;
			}
			break;
		case 'P': port_file = optarg; break;
		case 's': script = optarg; break;
		case 'l': log_path = optarg; break;
		case 't':
			if (parse_num(optarg, 1, 256, &threads) < 0) {
				warnx_("--threads: expected 1..256");
				return 2;
			}
			break;
		case 'H': host = optarg; break;
		case 'L': lifeline = 1; break;
		case 'v': s->verbose = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		warnx_("--host: not an IPv4 address: %s", host);
		return 2;
	}
	sa.sin_port = htons((uint16_t)port);
	json_object_seed(0);    /* before any thread touches jansson */
	if (script_load(&s->sc, script) < 0)
		return 2;

	/* Signals arrive through a signalfd; SIGPIPE must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &sigs, NULL) != 0 ||
	    (sfd = signalfd(-1, &sigs, SFD_CLOEXEC)) < 0) {
		warnx_("signalfd: %s", strerror(errno));
		goto out;
	}

	if (log_path) {
		s->log = fopen(log_path, "a");
		if (!s->log) {
			warnx_("%s: %s", log_path, strerror(errno));
			goto out;
		}
	}
	if (pthread_mutex_init(&s->log_lock, NULL) != 0 ||
	    pthread_mutex_init(&s->fault_lock, NULL) != 0 ||
	    pthread_mutex_init(&s->sleep_lock, NULL) != 0 ||
	    pthread_condattr_init(&ca) != 0 ||
	    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&s->sleep_cond, &ca) != 0) {
		warnx_("cannot create locks");
		goto out;
	}
	pthread_condattr_destroy(&ca);
	locks = 1;
	if (pthread_create(&s->timer, NULL, timer_main, s) != 0) {
		warnx_("cannot start the timer thread");
		goto out;
	}
	s->timer_started = 1;

	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
		MHD_ALLOW_SUSPEND_RESUME | (s->verbose ? MHD_USE_ERROR_LOG : 0);
	s->daemon = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL,
		on_request, s,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(threads > 1 ? threads : 0),
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
		MHD_OPTION_END);
	if (!s->daemon) {
		warnx_("cannot listen on %s:%ld: %s", host, port,
		       strerror(errno));
		goto out;
	}
	info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (!info || !info->port) {
		warnx_("cannot tell which port we listen on");
		goto out;
	}
	if (port_file) {
		if (write_port_file(port_file, info->port) < 0)
			goto out;
	} else {
		printf("%u\n", (unsigned)info->port);
		fflush(stdout);
	}
	if (s->verbose)
		warnx_("listening on %s:%u, %ld threads", host,
		       (unsigned)info->port, threads);

	if (wait_for_end(sfd, lifeline) == 0)
		rc = 0;
out:
	if (s->timer_started) {
		/* Wake every delayed request (they close) and stop the timer
		 * before the daemon: it must find no suspended connection. */
		pthread_mutex_lock(&s->sleep_lock);
		s->stopping = 1;
		pthread_cond_signal(&s->sleep_cond);
		pthread_mutex_unlock(&s->sleep_lock);
		pthread_join(s->timer, NULL);
	}
	if (s->daemon)
		MHD_stop_daemon(s->daemon);
	if (locks) {
		pthread_cond_destroy(&s->sleep_cond);
		pthread_mutex_destroy(&s->sleep_lock);
		pthread_mutex_destroy(&s->fault_lock);
		pthread_mutex_destroy(&s->log_lock);
	}
	if (s->log && fclose(s->log) != 0) {
		warnx_("%s: %s", log_path, strerror(errno));
		rc = 1;
	}
	if (sfd >= 0)
		close(sfd);
	script_free(&s->sc);
	return rc;
}
