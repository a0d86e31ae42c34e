/* kiln serve: the HTTP front end (kiln/serve.h).
 *
 * libmicrohttpd with a thread per connection: a request's handler parses
 * and checks the body, encodes the prompt, submits a job to the decode
 * thread (batch.c) and waits on the job's condition variable; a streamed
 * answer (stream: true) is a chunked response whose reader waits the same
 * way for each new piece of text. Every answer and every error is JSON;
 * errors are OpenAI's shape {"error": {"message", "type", "param", "code"}}.
 *
 * Ownership: a request's state (struct req) is made on the handler's first
 * call and freed by the "request completed" callback, which also logs the
 * request's line and, if the client left early, cancels its job.
 */
#include "kiln/serve.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "kiln/chat.h"
#include "serve/mhd.h"
#include "serve/serve_int.h"

#define MAX_CHOICES 16         /* largest "n" */
#define MAX_TOKENS_CAP (1 << 20)
#define CONN_TIMEOUT_S 300     /* idle connections are closed after this */
#define DEFAULT_COMPLETION_TOKENS 16 /* OpenAI's default for /completions */
#define HTTP_TOO_LARGE 413     /* its MHD name changed across versions */

enum route { R_NONE, R_CHAT, R_COMPLETIONS, R_MODELS, R_HEALTH };

struct kiln_server {
	struct MHD_Daemon *d;
	struct kiln__batch *b;
	const kiln_gpt *m;
	const kiln_tok *tok;
	kiln_serve_config cfg;
	char *host, *model_name;
	int port;
	MHD_socket listen_fd;   /* after quiesce: closed after stop */
	time_t started;
	atomic_uint_fast64_t ids;

	pthread_mutex_t lock;   /* open, draining */
	pthread_cond_t idle;    /* open dropped to 0 */
	int open;               /* requests between first call and completion */
	int draining;
};

/* What one request asks for, once checked. */
struct ask {
	int chat;
	char *prompt;           /* rendered (chat) or given */
	kiln_sample_params p;
	int seed_given, max_given;
	int n, stream, include_usage;
	char **stop;            /* owned until handed to the job */
	int n_stop;
};

struct req {
	struct kiln_server *s;
	struct MHD_Connection *conn;
	enum route route;
	char method[8];
	char path[64];
	struct timespec t0;
	kiln_buf body;
	int too_large, answered, late;
	unsigned status;
	/* a generation request */
	struct kiln__job *job;
	int chat, include_usage;
	char id[48];
	time_t created;
	int prompt_tokens, completion_tokens;
	const char *finish;
	/* streaming */
	kiln_buf ev;            /* events not yet handed to MHD */
	size_t ev_off;
	size_t *sent;           /* per choice: bytes of text streamed */
	unsigned char *flags;   /* per choice: 1 role sent, 2 finish sent */
	int ev_done;
};

/* An error to answer with. */
struct apierr {
	unsigned status;
	const char *type, *code, *param;
	char msg[600];
};

static int apierr_set(struct apierr *e, unsigned status, const char *type,
		      const char *code, const char *param, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static int apierr_set(struct apierr *e, unsigned status, const char *type,
		      const char *code, const char *param, const char *fmt, ...)
{
	va_list ap;

	e->status = status;
	e->type = type;
	e->code = code;
	e->param = param;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

#define BAD(e, code, param, ...) \
	apierr_set(e, MHD_HTTP_BAD_REQUEST, "invalid_request_error", code, \
		   param, __VA_ARGS__)

/* ------------------------------------------------------------- UTF-8 */

/* Length of the valid UTF-8 sequence at p[0..n) (n >= 1); 0 if it is
 * invalid, with *bad = the bytes of its maximal valid beginning (at least
 * 1: they become one U+FFFD, as Unicode recommends and Python does); -1 if
 * it is a valid beginning cut short by the end of the input. */
static int utf8_seq(const unsigned char *p, size_t n, size_t *bad)
{
	unsigned c = p[0];
	int len;
	unsigned lo = 0x80, hi = 0xBF;

	*bad = 1;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else
		return 0;
	for (int i = 1; i < len; i++) {
		if ((size_t)i >= n) {
			*bad = (size_t)i;
			return -1;
		}
		if (p[i] < lo || p[i] > hi) {
			*bad = (size_t)i;
			return 0;
		}
		lo = 0x80;
		hi = 0xBF;
	}
	return len;
}

/* How much of p[0..n) to show now: all of it but a tail that may still
 * become a valid character. */
static size_t utf8_ready(const char *p, size_t n)
{
	size_t bad;

	for (size_t back = 1; back <= 3 && back <= n; back++)
		if (utf8_seq((const unsigned char *)p + n - back, back, &bad) == -1)
			return n - back;
	return n;
}

/* A JSON string of p[0..n) with each invalid part replaced by U+FFFD (a
 * byte-level model may emit any bytes). */
static json_t *json_text(const char *p, size_t n)
{
	kiln_buf b = { .max = (size_t)4 << 30 };
	json_t *j;

	for (size_t i = 0; i < n;) {
		size_t bad;
		int l = utf8_seq((const unsigned char *)p + i, n - i, &bad);

		if (l > 0) {
			if (kiln__buf_add(&b, p + i, (size_t)l))
				goto fail;
			i += (size_t)l;
		} else {
			if (kiln__buf_add(&b, "\xEF\xBF\xBD", 3))
				goto fail;
			i += bad;
		}
	}
	j = json_stringn(b.p ? b.p : "", b.len);
	free(b.p);
	return j;
fail:
	free(b.p);
	return NULL;
}

/* ---------------------------------------------------------- answers */

static enum MHD_Result send_body(struct req *r, unsigned status, char *text,
				 const char *ctype, const char *hname,
				 const char *hval)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (!text)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(text), text,
					       MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				    ctype) != MHD_YES ||
	    (hname && MHD_add_response_header(resp, hname, hval) != MHD_YES)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	r->status = status;
	r->answered = 1;
	ret = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Sends j (taken) as the answer. */
static enum MHD_Result send_json(struct req *r, unsigned status, json_t *j,
				 const char *hname, const char *hval)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return send_body(r, status, text, "application/json", hname, hval);
}

/* The message may hold invalid UTF-8: jansson's "near '...'" cuts the
 * body's text at a byte, and so may the cap of e->msg. */
static json_t *error_json(const struct apierr *e)
{
	return json_pack("{s{so ss ss? ss?}}", "error", "message",
			 json_text(e->msg, strlen(e->msg)), "type", e->type,
			 "param", e->param, "code", e->code);
}

static enum MHD_Result send_error(struct req *r, const struct apierr *e)
{
	const char *hname = NULL, *hval = NULL;

	if (e->status == MHD_HTTP_SERVICE_UNAVAILABLE) {
		hname = MHD_HTTP_HEADER_RETRY_AFTER;
		hval = "1";
	} else if (e->status == MHD_HTTP_METHOD_NOT_ALLOWED) {
		hname = MHD_HTTP_HEADER_ALLOW;
		hval = r->route == R_CHAT || r->route == R_COMPLETIONS ?
			"POST" : "GET, HEAD";
	}
	return send_json(r, e->status, error_json(e), hname, hval);
}

/* -------------------------------------------------- request parameters */

/* A number field: 1 and *out when present, 0 when absent or null. */
static int get_number(json_t *o, const char *key, double *out,
		      struct apierr *e)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v))
		return BAD(e, "invalid_type", key, "'%s' must be a number", key);
	*out = json_number_value(v);
	return 1;
}

static int get_int(json_t *o, const char *key, long long *out,
		   struct apierr *e)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return 0;
	/* The range first: casting 1e300 to long long is undefined. */
	if (json_is_real(v) && fabs(json_real_value(v)) < 9e15 &&
	    json_real_value(v) == (double)(long long)json_real_value(v)) {
		*out = (long long)json_real_value(v);
		return 1;
	}
	if (!json_is_integer(v))
		return BAD(e, "invalid_type", key, "'%s' must be an integer",
			   key);
	*out = json_integer_value(v);
	return 1;
}

/* A number field in [lo, hi] ((lo, hi] when open_lo) into *dst. */
static int num_param(json_t *o, const char *key, double lo, double hi,
		     int open_lo, double *dst, struct apierr *e)
{
	double d = 0;
	int rc = get_number(o, key, &d, e);

	if (rc <= 0)
		return rc;
	if (!(open_lo ? d > lo : d >= lo) || !(d <= hi))
		return BAD(e, "invalid_value", key, "'%s' must be in %s%g, %g]",
			   key, open_lo ? "(" : "[", lo, hi);
	*dst = d;
	return 0;
}

/* An integer field in [lo, hi] into *dst; *given = 1 if present. */
static int int_param(json_t *o, const char *key, long long lo, long long hi,
		     long long *dst, int *given, struct apierr *e)
{
	long long v = 0;
	int rc = get_int(o, key, &v, e);

	if (rc <= 0)
		return rc;
	if (v < lo || v > hi)
		return BAD(e, "invalid_value", key, "'%s' must be %lld to %lld",
			   key, lo, hi);
	*dst = v;
	if (given)
		*given = 1;
	return 0;
}

static int get_bool(json_t *o, const char *key, int *out, struct apierr *e)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return BAD(e, "invalid_type", key, "'%s' must be a boolean",
			   key);
	*out = json_is_true(v);
	return 1;
}

static int get_stop(json_t *o, struct ask *a, struct apierr *e)
{
	json_t *v = json_object_get(o, "stop"), *x;
	size_t i;

	if (!v || json_is_null(v))
		return 0;
	if (json_is_string(v)) {
		a->stop = calloc(1, sizeof(char *));
		if (!a->stop || !(a->stop[0] = strdup(json_string_value(v))))
			return apierr_set(e, 500, "server_error", "internal_error",
					  NULL, "out of memory");
		a->n_stop = 1;
	} else if (json_is_array(v)) {
		if (json_array_size(v) > KILN_SAMPLE_MAX_STOP)
			return BAD(e, "invalid_value", "stop",
				   "'stop' holds at most %d strings",
				   KILN_SAMPLE_MAX_STOP);
		a->stop = calloc(json_array_size(v) + 1, sizeof(char *));
		if (!a->stop)
			return apierr_set(e, 500, "server_error", "internal_error",
					  NULL, "out of memory");
		json_array_foreach(v, i, x) {
			if (!json_is_string(x))
				return BAD(e, "invalid_type", "stop",
					   "'stop' must be a string or an array of strings");
			if (!(a->stop[a->n_stop] = strdup(json_string_value(x))))
				return apierr_set(e, 500, "server_error",
						  "internal_error", NULL,
						  "out of memory");
			a->n_stop++;
		}
	} else {
		return BAD(e, "invalid_type", "stop",
			   "'stop' must be a string or an array of strings");
	}
	for (int k = 0; k < a->n_stop; k++) {
		size_t n = strlen(a->stop[k]);

		if (n == 0 || n > KILN_SAMPLE_MAX_STOP_LEN)
			return BAD(e, "invalid_value", "stop",
				   "each stop sequence must be 1 to %d bytes",
				   KILN_SAMPLE_MAX_STOP_LEN);
	}
	return 0;
}

static void ask_free(struct ask *a)
{
	free(a->prompt);
	for (int i = 0; i < a->n_stop; i++)
		free(a->stop[i]);
	free(a->stop);
}

/* Reads and checks the parameters of a generation request. */
static int parse_ask(struct req *r, struct ask *a, struct apierr *e)
{
	json_error_t jerr;
	json_t *o, *v;
	long long top_k, max_tokens, n, seed = 0;
	int rc = -1;

	memset(a, 0, sizeof(*a));
	a->chat = r->route == R_CHAT;
	kiln_sample_params_default(&a->p);
	a->n = 1;
	o = json_loadb(r->body.p ? r->body.p : "", r->body.len, 0, &jerr);
	if (!o)
		return BAD(e, "invalid_json", NULL,
			   "request body is not valid JSON: %s (line %d, "
			   "column %d)", jerr.text, jerr.line, jerr.column);
	if (!json_is_object(o)) {
		BAD(e, "invalid_json", NULL,
		    "request body must be a JSON object");
		goto out;
	}
	v = json_object_get(o, "model");
	if (v && !json_is_null(v) && !json_is_string(v)) {
		BAD(e, "invalid_type", "model", "'model' must be a string");
		goto out;
	}
	if (a->chat) {
		kiln_error err;

		v = json_object_get(o, "messages");
		if (!v) {
			BAD(e, "missing_field", "messages",
			    "'messages' is required");
			goto out;
		}
		if (!json_is_array(v) || json_array_size(v) == 0) {
			BAD(e, "invalid_type", "messages",
			    "'messages' must be a non-empty array");
			goto out;
		}
		if (kiln_chat_render(v, 1, &a->prompt, &err)) {
			BAD(e, "invalid_value", "messages", "%s", err.msg);
			goto out;
		}
	} else {
		v = json_object_get(o, "prompt");
		if (json_is_array(v) && json_array_size(v) == 1 &&
		    json_is_string(json_array_get(v, 0)))
			v = json_array_get(v, 0);
		if (!v) {
			BAD(e, "missing_field", "prompt", "'prompt' is required");
			goto out;
		}
		if (!json_is_string(v)) {
			BAD(e, "invalid_type", "prompt",
			    "'prompt' must be a string (or an array of one string)");
			goto out;
		}
		a->prompt = strdup(json_string_value(v));
		if (!a->prompt) {
			apierr_set(e, 500, "server_error", "internal_error", NULL,
				   "out of memory");
			goto out;
		}
	}
	top_k = a->p.top_k;
	max_tokens = a->p.max_tokens;
	n = a->n;
	if (num_param(o, "temperature", 0, 2, 0, &a->p.temperature, e) ||
	    num_param(o, "top_p", 0, 1, 1, &a->p.top_p, e) ||
	    int_param(o, "top_k", -1, INT32_MAX, &top_k, NULL, e) ||
	    int_param(o, a->chat && json_object_get(o, "max_completion_tokens")
		      ? "max_completion_tokens" : "max_tokens", 1,
		      MAX_TOKENS_CAP, &max_tokens, &a->max_given, e) ||
	    int_param(o, "n", 1, MAX_CHOICES, &n, NULL, e) ||
	    int_param(o, "seed", INT64_MIN, INT64_MAX, &seed, &a->seed_given, e))
		goto out;
	a->p.top_k = top_k < 0 ? 0 : (int)top_k; /* -1: no limit, as vLLM */
	a->p.max_tokens = (int)max_tokens;
	a->n = (int)n;
	a->p.seed = (uint64_t)seed;
	if (get_bool(o, "stream", &a->stream, e) < 0)
		goto out;
	v = json_object_get(o, "stream_options");
	if (json_is_object(v) &&
	    get_bool(v, "include_usage", &a->include_usage, e) < 0)
		goto out;
	if (get_stop(o, a, e) < 0)
		goto out;
	a->p.stop = (const char *const *)a->stop;
	a->p.n_stop = a->n_stop;
	rc = 0;
out:
	json_decref(o);
	return rc;
}

/* parse_ask() on a body alone, without a server or a connection: for
 * tests/fuzz/fuzz_serve.c (serve_int.h). */
int kiln__serve_parse_request(int chat, const char *body, size_t len,
			      json_t **view)
{
	struct req r;
	struct ask a;
	struct apierr e;
	json_t *stop;

	memset(&r, 0, sizeof(r));
	memset(&e, 0, sizeof(e));
	r.route = chat ? R_CHAT : R_COMPLETIONS;
	r.body.p = (char *)body; /* only read */
	r.body.len = len;
	if (parse_ask(&r, &a, &e)) {
		ask_free(&a);
		*view = error_json(&e);
		return (int)e.status;
	}
	stop = json_array();
	for (int i = 0; stop && i < a.n_stop; i++)
		if (json_array_append_new(stop, json_string(a.stop[i]))) {
			json_decref(stop);
			stop = NULL;
		}
	*view = stop ? json_pack("{sb ss sf sf si si si sI sb sb sb sb so}",
				 "chat", a.chat, "prompt", a.prompt,
				 "temperature", a.p.temperature,
				 "top_p", a.p.top_p, "top_k", a.p.top_k,
				 "max_tokens", a.p.max_tokens, "n", a.n,
				 "seed", (json_int_t)a.p.seed,
				 "seed_given", a.seed_given,
				 "max_given", a.max_given, "stream", a.stream,
				 "include_usage", a.include_usage,
				 "stop", stop) : NULL;
	ask_free(&a);
	return 0;
}

/* ------------------------------------------------- generation answers */

static const char *finish_name(enum kiln_finish f)
{
	return f == KILN_FINISH_LENGTH ? "length" : "stop";
}

static json_t *usage_json(const struct req *r)
{
	return json_pack("{si si si}", "prompt_tokens", r->prompt_tokens,
			 "completion_tokens", r->completion_tokens,
			 "total_tokens", r->prompt_tokens + r->completion_tokens);
}

static json_t *answer_head(const struct req *r, const char *object)
{
	return json_pack("{ss ss sI ss}", "id", r->id, "object", object,
			 "created", (json_int_t)r->created, "model",
			 r->s->model_name);
}

/* The whole answer of a finished job (under the batcher's lock). */
static json_t *answer_json(struct req *r)
{
	struct kiln__job *j = r->job;
	json_t *a = answer_head(r, r->chat ? "chat.completion"
					   : "text_completion");
	json_t *choices = json_array();

	if (!a || !choices)
		goto fail;
	r->completion_tokens = 0;
	for (int i = 0; i < j->n; i++) {
		const struct kiln__choice *c = &j->out[i];
		json_t *text = json_text(c->text.p, c->text.len), *ch;

		if (!text)
			goto fail;
		if (r->chat)
			ch = json_pack("{si s{ss so} ss sn}", "index", i,
				       "message", "role", "assistant",
				       "content", text, "finish_reason",
				       finish_name(c->finish), "logprobs");
		else
			ch = json_pack("{si so ss sn}", "index", i, "text", text,
				       "finish_reason", finish_name(c->finish),
				       "logprobs");
		if (!ch || json_array_append_new(choices, ch))
			goto fail;
		r->completion_tokens += c->tokens;
		r->finish = finish_name(c->finish);
	}
	if (json_object_set_new(a, "choices", choices) ||
	    json_object_set_new(a, "usage", usage_json(r)))
		goto fail_a;
	return a;
fail:
	json_decref(choices);
fail_a:
	json_decref(a);
	return NULL;
}

/* Appends "data: JSON\n\n" (j taken). */
static int ev_add(struct req *r, json_t *j)
{
	char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
	int rc = -1;

	json_decref(j);
	if (t && !kiln__buf_add(&r->ev, "data: ", 6) &&
	    !kiln__buf_add(&r->ev, t, strlen(t)) &&
	    !kiln__buf_add(&r->ev, "\n\n", 2))
		rc = 0;
	free(t);
	return rc;
}

/* One streamed chunk for choice i: text (may be NULL), finish (may be
 * NULL), role (chat's first chunk). */
static int ev_choice(struct req *r, int i, json_t *text, const char *finish,
		     int role)
{
	json_t *a = answer_head(r, r->chat ? "chat.completion.chunk"
					   : "text_completion");
	json_t *ch;

	if (r->chat) {
		json_t *delta = json_object();

		if (role)
			json_object_set_new(delta, "role",
					    json_string("assistant"));
		if (text)
			json_object_set_new(delta, "content", text);
		ch = json_pack("{si so so sn}", "index", i, "delta", delta,
			       "finish_reason", finish ? json_string(finish)
						       : json_null(),
			       "logprobs");
	} else {
		ch = json_pack("{si so so sn}", "index", i, "text",
			       text ? text : json_string(""), "finish_reason",
			       finish ? json_string(finish) : json_null(),
			       "logprobs");
	}
	if (!a || !ch) {
		json_decref(a);
		json_decref(ch);
		return -1;
	}
	json_object_set_new(a, "choices", json_pack("[o]", ch));
	return ev_add(r, a);
}

/* True when choice i of j has something to stream (under the lock). */
static int choice_news(const struct req *r, int i)
{
	const struct kiln__choice *c = &r->job->out[i];
	size_t ready = c->finish ? c->text.len
				 : utf8_ready(c->text.p, c->text.len);

	return ready > r->sent[i] || (c->finish && !(r->flags[i] & 2)) ||
	       (r->chat && !(r->flags[i] & 1));
}

/* Waits for news and turns it into events (under no lock). */
static int ev_fill(struct req *r)
{
	struct kiln__job *j = r->job;
	pthread_mutex_t *lock = kiln__batch_lock(r->s->b);
	int rc = 0, news = 0;

	pthread_mutex_lock(lock);
	for (;;) {
		for (int i = 0; i < j->n && !news; i++)
			news = choice_news(r, i);
		if (news || j->failed || j->finished == j->n)
			break;
		pthread_cond_wait(&j->cond, lock);
	}
	if (j->failed) {
		struct apierr e;

		apierr_set(&e, 500, "server_error", "internal_error", NULL,
			   "%s", j->errmsg);
		rc = ev_add(r, error_json(&e));
		goto done;
	}
	for (int i = 0; i < j->n && !rc; i++) {
		const struct kiln__choice *c = &j->out[i];
		size_t ready = c->finish ? c->text.len
					 : utf8_ready(c->text.p, c->text.len);
		json_t *text = NULL;
		const char *fin = NULL;
		int role = r->chat && !(r->flags[i] & 1);

		if (ready > r->sent[i]) {
			text = json_text(c->text.p + r->sent[i],
					 ready - r->sent[i]);
			if (!text) {
				rc = -1;
				break;
			}
			r->sent[i] = ready;
		}
		if (c->finish && !(r->flags[i] & 2)) {
			fin = finish_name(c->finish);
			r->finish = fin;
			r->completion_tokens += c->tokens;
			r->flags[i] |= 2;
		}
		if (text || fin || role) {
			r->flags[i] |= 1;
			rc = ev_choice(r, i, text, fin, role);
		}
	}
	if (rc || j->finished < j->n)
		goto out;
	if (r->include_usage) {
		json_t *a = answer_head(r, r->chat ? "chat.completion.chunk"
						   : "text_completion");

		if (!a || json_object_set_new(a, "choices", json_array()) ||
		    json_object_set_new(a, "usage", usage_json(r)))
			rc = -1;
		if (!rc)
			rc = ev_add(r, a);
		else
			json_decref(a);
	}
done:
	if (!rc)
		rc = kiln__buf_add(&r->ev, "data: [DONE]\n\n", 14);
	r->ev_done = 1;
out:
	pthread_mutex_unlock(lock);
	return rc;
}

static ssize_t ev_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct req *r = cls;
	size_t n;

	(void)pos;
	while (r->ev_off == r->ev.len) {
		if (r->ev_done)
			return MHD_CONTENT_READER_END_OF_STREAM;
		r->ev.len = 0;
		r->ev_off = 0;
		if (ev_fill(r))
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	n = r->ev.len - r->ev_off;
	if (n > max)
		n = max;
	memcpy(buf, r->ev.p + r->ev_off, n);
	r->ev_off += n;
	return (ssize_t)n;
}

static enum MHD_Result send_stream(struct req *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	r->sent = calloc((size_t)r->job->n, sizeof(*r->sent));
	r->flags = calloc((size_t)r->job->n, 1);
	r->ev.max = (size_t)1 << 30;
	if (!r->sent || !r->flags)
		return MHD_NO;
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384,
						 ev_read, r, NULL);
	if (!resp)
		return MHD_NO;
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				    "text/event-stream") != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				    "no-cache") != MHD_YES) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	r->status = MHD_HTTP_OK;
	r->answered = 1;
	ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* A random seed for requests that name none. */
static uint64_t fresh_seed(struct kiln_server *s)
{
	struct timespec ts;
	uint64_t x;

	clock_gettime(CLOCK_REALTIME, &ts);
	x = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^
	    (atomic_fetch_add(&s->ids, 1) << 32);
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	return x ^ (x >> 29);
}

static enum MHD_Result handle_generate(struct req *r)
{
	struct kiln_server *s = r->s;
	int T = s->m->cfg.n_ctx;
	struct apierr e;
	struct ask a;
	kiln_error err;
	int *ids = NULL, nids, rc;
	struct kiln__job *j;
	json_t *ans;

	if (parse_ask(r, &a, &e)) {
		ask_free(&a);
		return send_error(r, &e);
	}
	r->chat = a.chat;
	r->include_usage = a.include_usage;
	rc = kiln_sample_prompt(s->tok, a.prompt, strlen(a.prompt), T, &ids,
				&r->prompt_tokens, &err);
	if (rc == KILN_ELIMIT) {
		ask_free(&a);
		BAD(&e, "context_length_exceeded", r->chat ? "messages" : "prompt",
		    "This model's maximum context length is %d tokens; the "
		    "prompt is %d tokens (at most %d leave room for an answer)",
		    T, r->prompt_tokens, T - 1);
		return send_error(r, &e);
	}
	if (rc) {
		ask_free(&a);
		apierr_set(&e, 500, "server_error", "internal_error", NULL,
			   "%s", err.msg);
		return send_error(r, &e);
	}
	nids = r->prompt_tokens;
	if (!a.max_given)
		a.p.max_tokens = a.chat ? T : DEFAULT_COMPLETION_TOKENS;
	if (a.p.max_tokens > T - nids)
		a.p.max_tokens = T - nids;
	if (!a.seed_given)
		a.p.seed = fresh_seed(s);
	j = kiln__job_new(a.n);
	if (!j) {
		free(ids);
		ask_free(&a);
		apierr_set(&e, 500, "server_error", "internal_error", NULL,
			   "out of memory");
		return send_error(r, &e);
	}
	j->prompt = ids;
	j->n_prompt = nids;
	j->params = a.p;
	j->stream = a.stream;
	j->stop = a.stop;       /* the job owns the stop strings now */
	a.stop = NULL;
	a.n_stop = 0;
	ask_free(&a);
	snprintf(r->id, sizeof(r->id), "%s-%016" PRIxFAST64 "%08lx",
		 r->chat ? "chatcmpl" : "cmpl", atomic_fetch_add(&s->ids, 1),
		 (unsigned long)s->started & 0xfffffffful);
	r->created = time(NULL);
	rc = kiln__batch_submit(s->b, j);
	if (rc) {
		kiln__job_put(s->b, j);
		if (rc == KILN_ELIMIT)
			apierr_set(&e, 503, "server_error", "queue_full", NULL,
				   "the server is busy: %d requests are "
				   "waiting already; try again later",
				   s->cfg.queue);
		else
			apierr_set(&e, 503, "server_error", "shutting_down",
				   NULL, "the server is shutting down");
		return send_error(r, &e);
	}
	r->job = j;
	if (a.stream)
		return send_stream(r);
	pthread_mutex_lock(kiln__batch_lock(s->b));
	while (j->finished < j->n)
		pthread_cond_wait(&j->cond, kiln__batch_lock(s->b));
	if (j->failed) {
		if (!strcmp(j->errmsg, "server stopping"))
			apierr_set(&e, 503, "server_error", "shutting_down",
				   NULL, "the server is shutting down");
		else
			apierr_set(&e, 500, "server_error", "internal_error",
				   NULL, "%s", j->errmsg);
		ans = NULL;
	} else {
		ans = answer_json(r);
		if (!ans)
			apierr_set(&e, 500, "server_error", "internal_error",
				   NULL, "out of memory for the answer");
	}
	pthread_mutex_unlock(kiln__batch_lock(s->b));
	if (!ans)
		return send_error(r, &e);
	return send_json(r, MHD_HTTP_OK, ans, NULL, NULL);
}

/* ------------------------------------------------------------ routes */

static enum MHD_Result handle_models(struct req *r)
{
	const kiln_gpt_config *c = &r->s->m->cfg;
	json_t *model = json_pack("{ss ss sI ss si s{si si si si si sI}}",
		"id", r->s->model_name, "object", "model",
		"created", (json_int_t)r->s->started, "owned_by", "kiln",
		"max_model_len", c->n_ctx, "config",
		"n_layer", c->n_layer, "n_head", c->n_head,
		"d_model", c->d_model, "n_ctx", c->n_ctx, "vocab", c->vocab,
		"n_params", (json_int_t)r->s->m->n_params);

	return send_json(r, MHD_HTTP_OK, json_pack("{ss s[o]}", "object",
			 "list", "data", model), NULL, NULL);
}

static enum MHD_Result handle_health(struct req *r)
{
	int active, queued;

	kiln__batch_stats(r->s->b, &active, &queued);
	return send_json(r, MHD_HTTP_OK, json_pack("{ss ss si si si}",
			 "status", "ok", "model", r->s->model_name,
			 "active", active, "queued", queued, "max_batch",
			 r->s->cfg.max_batch), NULL, NULL);
}

static enum route route_of(const char *url)
{
	if (!strcmp(url, "/v1/chat/completions"))
		return R_CHAT;
	if (!strcmp(url, "/v1/completions"))
		return R_COMPLETIONS;
	if (!strcmp(url, "/v1/models"))
		return R_MODELS;
	if (!strcmp(url, "/health"))
		return R_HEALTH;
	return R_NONE;
}

/* Answers that need no body: 404, 405, 413 (by Content-Length), 503 when
 * draining. Returns 1 when r was answered. */
static int answer_early(struct req *r, const char *method, const char *url,
			enum MHD_Result *ret)
{
	int post = r->route == R_CHAT || r->route == R_COMPLETIONS;
	const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
			MHD_HTTP_HEADER_CONTENT_LENGTH);
	struct apierr e;

	if (r->route == R_NONE)
		apierr_set(&e, MHD_HTTP_NOT_FOUND, "invalid_request_error",
			   "not_found", NULL, "no route for %.16s %.200s",
			   method, url);
	else if (post ? strcmp(method, "POST") != 0
		      : strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		apierr_set(&e, MHD_HTTP_METHOD_NOT_ALLOWED,
			   "invalid_request_error", "method_not_allowed", NULL,
			   "%.16s is not allowed on %s (use %s)", method, url,
			   post ? "POST" : "GET");
	else if (r->late)
		apierr_set(&e, MHD_HTTP_SERVICE_UNAVAILABLE, "server_error",
			   "shutting_down", NULL, "the server is shutting down");
	else if (cl && strtoull(cl, NULL, 10) > r->s->cfg.max_body)
		apierr_set(&e, HTTP_TOO_LARGE,
			   "invalid_request_error", "request_too_large", NULL,
			   "the request body is larger than %zu bytes",
			   r->s->cfg.max_body);
	else
		return 0;
	*ret = send_error(r, &e);
	return 1;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *data,
				  size_t *size, void **ctx)
{
	struct kiln_server *s = cls;
	struct req *r = *ctx;
	enum MHD_Result ret;
	struct apierr e;

	(void)version;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->s = s;
		r->conn = c;
		r->route = route_of(url);
		r->body.max = s->cfg.max_body;
		snprintf(r->method, sizeof(r->method), "%s", method);
		snprintf(r->path, sizeof(r->path), "%s", url);
		clock_gettime(CLOCK_MONOTONIC, &r->t0);
		*ctx = r;
		pthread_mutex_lock(&s->lock);
		s->open++;
		r->late = s->draining;
		pthread_mutex_unlock(&s->lock);
		if (answer_early(r, method, url, &ret))
			return ret;
		return MHD_YES;
	}
	if (r->answered) {
		*size = 0;      /* a body after an early answer: dropped */
		return MHD_YES;
	}
	if (*size) {
		if (!r->too_large && kiln__buf_add(&r->body, data, *size)) {
			r->too_large = 1;
			free(r->body.p);
			r->body.p = NULL;
			r->body.len = r->body.cap = 0;
		}
		*size = 0;
		return MHD_YES;
	}
	if (r->too_large) {
		apierr_set(&e, HTTP_TOO_LARGE, "invalid_request_error",
			   "request_too_large", NULL,
			   "the request body is larger than %zu bytes",
			   s->cfg.max_body);
		return send_error(r, &e);
	}
	switch (r->route) {
	case R_CHAT:
	case R_COMPLETIONS:
		return handle_generate(r);
	case R_MODELS:
		return handle_models(r);
	default:
		return handle_health(r);
	}
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 +
	       (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ctx,
			 enum MHD_RequestTerminationCode code)
{
	struct kiln_server *s = cls;
	struct req *r = *ctx;

	(void)c;
	if (!r)
		return;
	*ctx = NULL;
	if (r->job) {
		int running;

		pthread_mutex_lock(kiln__batch_lock(s->b));
		running = r->job->finished < r->job->n;
		pthread_mutex_unlock(kiln__batch_lock(s->b));
		if (running)    /* the client left: stop decoding for it */
			kiln__batch_cancel(s->b, r->job);
		kiln__job_put(s->b, r->job);
	}
	if (s->cfg.log) {
		char line[400];

		if (r->job)
			snprintf(line, sizeof(line),
				 "%s %s %u %.1f ms prompt=%d completion=%d "
				 "finish=%s%s", r->method, r->path, r->status,
				 ms_since(&r->t0), r->prompt_tokens,
				 r->completion_tokens,
				 r->finish ? r->finish : "-",
				 code == MHD_REQUEST_TERMINATED_COMPLETED_OK ?
				 "" : " (connection closed early)");
		else
			snprintf(line, sizeof(line), "%s %s %u %.1f ms%s",
				 r->method, r->path, r->status,
				 ms_since(&r->t0),
				 code == MHD_REQUEST_TERMINATED_COMPLETED_OK ?
				 "" : " (connection closed early)");
		s->cfg.log(s->cfg.log_ctx, line);
	}
	free(r->body.p);
	free(r->ev.p);
	free(r->sent);
	free(r->flags);
	free(r);
	pthread_mutex_lock(&s->lock);
	if (--s->open == 0)
		pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
}

/* libmicrohttpd's log callback: fmt is its own printf format. */
__attribute__((format(printf, 2, 0)))
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct kiln_server *s = cls;
	char line[400];
	size_t n;

	if (!s->cfg.log)
		return;
	memcpy(line, "microhttpd: ", 12);
	vsnprintf(line + 12, sizeof(line) - 12, fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	s->cfg.log(s->cfg.log_ctx, line);
}

/* ------------------------------------------------------ the server */

void kiln_serve_config_default(kiln_serve_config *c)
{
	memset(c, 0, sizeof(*c));
	c->host = "127.0.0.1";
	c->port = 8080;
	c->max_batch = 8;
	c->queue = 64;
	c->model_name = "kiln";
	c->max_body = (size_t)4 << 20;
	c->max_connections = 512;
	c->prefill_chunk = 256;
}

int kiln_serve_start(kiln_server **out, const kiln_gpt *m,
		     const kiln_tok *tok, const kiln_serve_config *cfg,
		     kiln_error *err)
{
	struct addrinfo hints = { 0 }, *ai = NULL;
	char portstr[16];
	const union MHD_DaemonInfo *info;
	kiln_server *s;
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ITC;
	int rc, gai;

	*out = NULL;
	if ((rc = kiln__mhd_load(err)))
		return rc;
	if (cfg->port < 0 || cfg->port > 65535 || cfg->max_connections < 1 ||
	    cfg->max_body < 1)
		return kiln_error_set(err, KILN_EINVAL,
			"serve: port must be 0..65535, max_connections and "
			"max_body >= 1");
	if (kiln_tok_vocab(tok) != m->cfg.vocab)
		return kiln_error_set(err, KILN_EINVAL,
			"serve: the tokenizer has %d ids, the model %d",
			kiln_tok_vocab(tok), m->cfg.vocab);
	s = calloc(1, sizeof(*s));
	if (!s)
		return kiln_error_set(err, KILN_ENOMEM, "serve: out of memory");
	s->m = m;
	s->tok = tok;
	s->cfg = *cfg;
	s->listen_fd = MHD_INVALID_SOCKET;
	s->started = time(NULL);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->idle, NULL);
	s->host = strdup(cfg->host ? cfg->host : "127.0.0.1");
	s->model_name = strdup(cfg->model_name ? cfg->model_name : "kiln");
	if (!s->host || !s->model_name) {
		rc = kiln_error_set(err, KILN_ENOMEM, "serve: out of memory");
		goto fail;
	}
	s->cfg.host = s->host;
	s->cfg.model_name = s->model_name;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(portstr, sizeof(portstr), "%d", cfg->port);
	if ((gai = getaddrinfo(s->host, portstr, &hints, &ai))) {
		rc = kiln_error_set(err, KILN_EINVAL, "serve: host %s: %s",
				    s->host, gai_strerror(gai));
		goto fail;
	}
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if ((rc = kiln__batch_start(&s->b, m, tok, cfg->max_batch, cfg->queue,
				    cfg->prefill_chunk, err)))
		goto fail;
	s->d = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL,
		on_request, s,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
		MHD_OPTION_SOCK_ADDR, ai->ai_addr,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
		MHD_OPTION_END);
	if (!s->d) {
		rc = kiln_error_set(err, KILN_EIO,
				    "serve: cannot listen on %s port %d: %s",
				    s->host, cfg->port, strerror(errno));
		goto fail;
	}
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : cfg->port;
	freeaddrinfo(ai);
	*out = s;
	return 0;
fail:
	if (ai)
		freeaddrinfo(ai);
	kiln_serve_free(s);
	return rc;
}

int kiln_serve_port(const kiln_server *s)
{
	return s->port;
}

int kiln_serve_drain(kiln_server *s, long timeout_ms, kiln_error *err)
{
	struct timespec until;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	s->draining = 1;
	pthread_mutex_unlock(&s->lock);
	if (s->d && s->listen_fd == MHD_INVALID_SOCKET) {
		s->listen_fd = MHD_quiesce_daemon(s->d);
		/* Refuse new connections now (the socket itself may be
		 * closed only after MHD_stop_daemon). */
		if (s->listen_fd != MHD_INVALID_SOCKET)
			shutdown(s->listen_fd, SHUT_RDWR);
	}
	clock_gettime(CLOCK_REALTIME, &until);
	if (timeout_ms >= 0) {
		until.tv_sec += timeout_ms / 1000;
		until.tv_nsec += (timeout_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&s->lock);
	while (s->open > 0 && !rc) {
		if (timeout_ms < 0)
			pthread_cond_wait(&s->idle, &s->lock);
		else if (pthread_cond_timedwait(&s->idle, &s->lock, &until) ==
			 ETIMEDOUT)
			rc = kiln_error_set(err, KILN_ELIMIT,
				"serve: %d requests still open after %ld ms",
				s->open, timeout_ms);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void kiln_serve_free(kiln_server *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->draining = 1;
	pthread_mutex_unlock(&s->lock);
	/* Wake every waiting handler (their jobs fail), then join the
	 * connection threads, and only then free what they use. */
	kiln__batch_stop(s->b);
	if (s->d)
		MHD_stop_daemon(s->d);
	if (s->listen_fd != MHD_INVALID_SOCKET)
		close(s->listen_fd);
	kiln__batch_free(s->b);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->lock);
	free(s->host);
	free(s->model_name);
	free(s);
}
