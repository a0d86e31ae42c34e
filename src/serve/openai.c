/* kiln serve's OpenAI protocol (serve_int.h): request bodies to checked
 * parameters, and answers, streamed chunks and errors as JSON. Nothing here
 * knows HTTP connections or threads; serve.c sends what this makes.
 *
 * Errors are OpenAI's shape {"error": {"message", "type", "param",
 * "code"}}; parameters follow OpenAI's names and ranges (docs/SERVE.md).
 */
#include "serve/serve_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/chat.h"
#include "kiln/utf8.h"
#include "util/buf.h"

#define MAX_TOKENS_CAP (1 << 20)
#define HTTP_BAD_REQUEST 400

int kiln__apierr_set(struct kiln__apierr *e, unsigned status,
		     const char *type, const char *code, const char *param,
		     const char *fmt, ...)
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
	kiln__apierr_set(e, HTTP_BAD_REQUEST, "invalid_request_error", code, \
			 param, __VA_ARGS__)
#define OOM(e) \
	kiln__apierr_set(e, 500, "server_error", "internal_error", NULL, \
			 "out of memory")

/* ------------------------------------------------------------- UTF-8 */

/* A JSON string of p[0..n) with each invalid part replaced by U+FFFD (a
 * byte-level model may emit any bytes). */
json_t *kiln__json_text(const char *p, size_t n)
{
	kiln_buf b = { .max = (size_t)4 << 30 };
	json_t *j;

	for (size_t i = 0; i < n;) {
		size_t bad;
		int l = kiln_utf8_decode(p + i, n - i, NULL, &bad);

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

/* The message may hold invalid UTF-8: jansson's "near '...'" cuts the
 * body's text at a byte, and so may the cap of e->msg. */
json_t *kiln__openai_error(const struct kiln__apierr *e)
{
	return json_pack("{s{so ss ss? ss?}}", "error", "message",
			 kiln__json_text(e->msg, strlen(e->msg)), "type", e->type,
			 "param", e->param, "code", e->code);
}

/* -------------------------------------------------- request parameters */

/* A number field: 1 and *out when present, 0 when absent or null. */
static int get_number(json_t *o, const char *key, double *out,
		      struct kiln__apierr *e)
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
		   struct kiln__apierr *e)
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
		     int open_lo, double *dst, struct kiln__apierr *e)
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
		     long long *dst, int *given, struct kiln__apierr *e)
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

static int get_bool(json_t *o, const char *key, int *out, struct kiln__apierr *e)
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

static int get_stop(json_t *o, struct kiln__ask *a, struct kiln__apierr *e)
{
	json_t *v = json_object_get(o, "stop"), *x;
	size_t i;

	if (!v || json_is_null(v))
		return 0;
	if (json_is_string(v)) {
		a->stop = calloc(1, sizeof(char *));
		if (!a->stop || !(a->stop[0] = strdup(json_string_value(v))))
			return OOM(e);
		a->n_stop = 1;
	} else if (json_is_array(v)) {
		if (json_array_size(v) > KILN_SAMPLE_MAX_STOP)
			return BAD(e, "invalid_value", "stop",
				   "'stop' holds at most %d strings",
				   KILN_SAMPLE_MAX_STOP);
		a->stop = calloc(json_array_size(v) + 1, sizeof(char *));
		if (!a->stop)
			return OOM(e);
		json_array_foreach(v, i, x) {
			if (!json_is_string(x))
				return BAD(e, "invalid_type", "stop",
					   "'stop' must be a string or an array of strings");
			if (!(a->stop[a->n_stop] = strdup(json_string_value(x))))
				return OOM(e);
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

void kiln__ask_free(struct kiln__ask *a)
{
	free(a->prompt);
	for (int i = 0; i < a->n_stop; i++)
		free(a->stop[i]);
	free(a->stop);
}

int kiln__openai_parse(int chat, const char *body, size_t len,
		       struct kiln__ask *a, struct kiln__apierr *e)
{
	json_error_t jerr;
	json_t *o, *v;
	long long top_k, max_tokens, n, seed = 0;
	int rc = -1;

	memset(a, 0, sizeof(*a));
	a->chat = chat;
	kiln_sample_params_default(&a->p);
	a->n = 1;
	o = json_loadb(body ? body : "", len, 0, &jerr);
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
			OOM(e);
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
	    int_param(o, "n", 1, KILN__SERVE_MAX_CHOICES, &n, NULL, e) ||
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

/* The parser on a body alone: for tests/fuzz/fuzz_serve.c. */
int kiln__serve_parse_request(int chat, const char *body, size_t len,
			      json_t **view)
{
	struct kiln__ask a;
	struct kiln__apierr e;
	json_t *stop;

	memset(&e, 0, sizeof(e));
	if (kiln__openai_parse(chat, body, len, &a, &e)) {
		kiln__ask_free(&a);
		*view = kiln__openai_error(&e);
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
	kiln__ask_free(&a);
	return 0;
}
/* ------------------------------------------------- generation answers */

const char *kiln__openai_finish(enum kiln_finish f)
{
	return f == KILN_FINISH_LENGTH ? "length" : "stop";
}

json_t *kiln__openai_usage(int prompt_tokens, int completion_tokens)
{
	return json_pack("{si si si}", "prompt_tokens", prompt_tokens,
			 "completion_tokens", completion_tokens,
			 "total_tokens", prompt_tokens + completion_tokens);
}

json_t *kiln__openai_head(const struct kiln__answer *a, int chunk)
{
	const char *object = !a->chat ? "text_completion"
			   : chunk ? "chat.completion.chunk" : "chat.completion";

	return json_pack("{ss ss sI ss}", "id", a->id, "object", object,
			 "created", (json_int_t)a->created, "model", a->model);
}

json_t *kiln__openai_choice(int chat, int i, json_t *text,
			    enum kiln_finish f)
{
	if (!text)
		return NULL;
	if (chat)
		return json_pack("{si s{ss so} ss sn}", "index", i, "message",
				 "role", "assistant", "content", text,
				 "finish_reason", kiln__openai_finish(f),
				 "logprobs");
	return json_pack("{si so ss sn}", "index", i, "text", text,
			 "finish_reason", kiln__openai_finish(f), "logprobs");
}

json_t *kiln__openai_chunk(const struct kiln__answer *a, int i, json_t *text,
			   const char *finish, int role)
{
	json_t *head = kiln__openai_head(a, 1), *ch;

	if (a->chat) {
		json_t *delta = json_object();

		if (delta && role)
			json_object_set_new(delta, "role",
					    json_string("assistant"));
		if (delta && text)
			json_object_set_new(delta, "content", text);
		else
			json_decref(text);
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
	if (!head || !ch ||
	    json_object_set_new(head, "choices", json_pack("[o]", ch))) {
		json_decref(head);
		return NULL;
	}
	return head;
}
