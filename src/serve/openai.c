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
	for (int i = 0; a->prompts && i < a->n_prompts; i++) {
		free(a->prompts[i].text);
		free(a->prompts[i].ids);
	}
	free(a->prompts);
	for (int i = 0; i < a->n_stop; i++)
		free(a->stop[i]);
	free(a->stop);
}

/* ------------------------------------------- what kiln does not do */

/* A parameter kiln does not honour: fine() says whether v (present, not
 * null) asks for nothing (tools: [], echo: false, ...), which is accepted
 * as a no-op; anything else is refused with unsupported_parameter rather
 * than answered as if it were honoured. */
struct unsupported {
	const char *name;
	unsigned routes;        /* 1 chat, 2 completions */
	int (*fine)(const json_t *v, const json_t *o);
	const char *what;       /* "kiln serve does not ..." */
};

static int empty_array(const json_t *v, const json_t *o)
{
	(void)o;
	return json_is_array(v) && json_array_size(v) == 0;
}

static int empty_object(const json_t *v, const json_t *o)
{
	(void)o;
	return json_is_object(v) && json_object_size(v) == 0;
}

static int is_false(const json_t *v, const json_t *o)
{
	(void)o;
	return json_is_false(v);
}

static int is_bool(const json_t *v, const json_t *o)
{
	(void)o;
	return json_is_boolean(v);
}

static int is_zero(const json_t *v, const json_t *o)
{
	(void)o;
	return json_is_number(v) && json_number_value(v) == 0;
}

static int is_one(const json_t *v, const json_t *o)
{
	(void)o;
	return json_is_number(v) && json_number_value(v) == 1;
}

static int empty_string(const json_t *v, const json_t *o)
{
	(void)o;
	return json_is_string(v) && json_string_length(v) == 0;
}

static int never(const json_t *v, const json_t *o)
{
	(void)v;
	(void)o;
	return 0;
}

/* "none", or "auto" with no tools to call (tools: [] or absent is
 * checked first). */
static int no_tool_choice(const json_t *v, const json_t *o)
{
	(void)o;
	return json_is_string(v) && (!strcmp(json_string_value(v), "none") ||
				     !strcmp(json_string_value(v), "auto"));
}

static int text_format(const json_t *v, const json_t *o)
{
	const json_t *t = json_object_get(v, "type");

	(void)o;
	return json_is_object(v) && json_is_string(t) &&
	       !strcmp(json_string_value(t), "text");
}

static int text_modality(const json_t *v, const json_t *o)
{
	const json_t *t = json_array_get(v, 0);

	(void)o;
	return json_is_array(v) && json_array_size(v) == 1 &&
	       json_is_string(t) && !strcmp(json_string_value(t), "text");
}

static const struct unsupported unsupported[] = {
	{ "tools", 1, empty_array, "call tools" },
	{ "tool_choice", 1, no_tool_choice, "call tools" },
	{ "functions", 1, empty_array, "call functions" },
	{ "function_call", 1, no_tool_choice, "call functions" },
	{ "parallel_tool_calls", 1, is_bool, "call tools" },
	{ "response_format", 3, text_format,
	  "constrain the answer's format (only {\"type\": \"text\"})" },
	{ "logit_bias", 3, empty_object, "bias logits" },
	{ "presence_penalty", 3, is_zero, "apply penalties (only 0)" },
	{ "frequency_penalty", 3, is_zero, "apply penalties (only 0)" },
	{ "echo", 2, is_false, "echo the prompt" },
	{ "suffix", 2, empty_string, "insert text (suffix)" },
	{ "audio", 1, never, "produce audio" },
	{ "modalities", 1, text_modality, "produce anything but text" },
	{ "prediction", 1, never, "use predicted outputs" },
	{ "store", 1, is_false, "store completions" },
	{ "reasoning_effort", 1, never, "reason (no reasoning model)" },
	{ "web_search_options", 1, never, "search the web" },
	{ "min_p", 3, is_zero, "apply min_p (only 0)" },
	{ "repetition_penalty", 3, is_one, "apply penalties (only 1)" },
	{ "min_tokens", 3, is_zero, "force a minimum length (only 0)" },
	{ "ignore_eos", 3, is_false, "ignore the end-of-text token" },
	{ "guided_json", 3, never, "constrain the answer (guided decoding)" },
	{ "guided_regex", 3, never, "constrain the answer (guided decoding)" },
	{ "guided_choice", 3, never, "constrain the answer (guided decoding)" },
	{ "guided_grammar", 3, never, "constrain the answer (guided decoding)" },
	{ NULL, 0, NULL, NULL }
};

static int check_unsupported(const json_t *o, int chat,
			     struct kiln__apierr *e)
{
	for (const struct unsupported *u = unsupported; u->name; u++) {
		const json_t *v = json_object_get(o, u->name);

		if (!(u->routes & (chat ? 1u : 2u)) || !v || json_is_null(v) ||
		    u->fine(v, o))
			continue;
		return BAD(e, "unsupported_parameter", u->name,
			   "'%s' is not supported: kiln serve does not %s",
			   u->name, u->what);
	}
	return 0;
}

/* ------------------------------------------------------------ JSON */

/* 1 when v holds (at any depth) a real equal to d (overflow) or a string
 * with a NUL (d NaN). */
static int holds(const json_t *v, double d)
{
	const char *k;
	json_t *x;
	size_t i;

	if (json_is_real(v))
		return d == json_real_value(v);
	if (json_is_string(v))
		return isnan(d) && strlen(json_string_value(v)) !=
				   json_string_length(v);
	if (json_is_array(v)) {
		json_array_foreach((json_t *)v, i, x)
			if (holds(x, d))
				return 1;
	} else if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, x)
			if (holds(x, d))
				return 1;
	}
	return 0;
}

/* The top-level field of body whose value holds the bad value, or NULL:
 * body parsed again with flags that let it through. The name points into
 * a static list when it is a field kiln knows (the error's param must
 * outlive the tree), else it is not named. */
static const char *field_holding(const char *body, size_t len, size_t flags,
				 double d)
{
	static const char *const known[] = {
		"model", "messages", "prompt", "temperature", "top_p", "top_k",
		"max_tokens", "max_completion_tokens", "n", "seed", "stream",
		"stream_options", "stop", "logprobs", "top_logprobs", "best_of",
		"logit_bias", "user", "metadata", "tools", NULL
	};
	json_t *o = json_loadb(body, len, flags, NULL), *x;
	const char *k, *found = NULL;

	json_object_foreach(o, k, x)
		if (holds(x, d)) {
			for (int i = 0; known[i] && !found; i++)
				if (!strcmp(known[i], k))
					found = known[i];
			break;
		}
	json_decref(o);
	return found;
}

/* A body jansson refused: JSON that kiln cannot represent (an integer
 * beyond 64 bits, \u0000 in a string) is named precisely; the rest is
 * invalid_json. */
static int json_refused(const char *body, size_t len, const json_error_t *je,
			struct kiln__apierr *e)
{
	enum json_error_code code = json_error_code(je);

	if (code == json_error_numeric_overflow) {
		/* position: just after the number */
		size_t end = je->position > 0 && (size_t)je->position <= len ?
			     (size_t)je->position : 0, at = end;
		const char *param;

		while (at > 0 && (body[at - 1] == '-' ||
				  (body[at - 1] >= '0' && body[at - 1] <= '9')))
			at--;
		if (at == end)
			return BAD(e, "invalid_value", NULL,
				   "an integer (line %d, column %d) is beyond "
				   "64 bits: kiln reads integers as -2^63 .. "
				   "2^63-1", je->line, je->column);
		{
			char num[64];
			size_t n = end - at < sizeof(num) - 1 ? end - at
							      : sizeof(num) - 1;

			memcpy(num, body + at, n);
			num[n] = '\0';
			param = field_holding(body, len, JSON_DECODE_INT_AS_REAL,
					      strtod(num, NULL));
			return BAD(e, "invalid_value", param,
				   "%s%s%s%.40s%s (line %d, column %d) is "
				   "beyond 64 bits: kiln reads integers as "
				   "-2^63 .. 2^63-1", param ? "'" : "",
				   param ? param : "", param ? "': " : "",
				   num, n < end - at ? "..." : "", je->line,
				   je->column);
		}
	}
	if (code == json_error_null_character ||
	    code == json_error_null_byte_in_key) {
		const char *param = code == json_error_null_character ?
			field_holding(body, len, JSON_ALLOW_NUL, NAN) : NULL;

		return BAD(e, "unsupported_value", param,
			   "%s%s%sa string holds \\u0000 (line %d, column %d): "
			   "kiln's text cannot hold NUL characters",
			   param ? "'" : "", param ? param : "",
			   param ? "': " : "", je->line, je->column);
	}
	return BAD(e, "invalid_json", NULL,
		   "request body is not valid JSON: %s (line %d, column %d)",
		   je->text, je->line, je->column);
}

/* ---------------------------------------------------------- messages */

/* OpenAI's messages to kiln's chat template: the developer role is the
 * system role; content is a string or an array of text parts (joined as
 * they are). Roles and parts kiln cannot answer (tool, images, audio) are
 * refused with unsupported_value; the rest is kiln_chat_render's. */
static int render_messages(const json_t *v, char **out,
			   struct kiln__apierr *e)
{
	json_t *msgs = json_array(), *m;
	kiln_error err;
	size_t i;
	int rc = -1;

	if (!msgs)
		return OOM(e);
	json_array_foreach((json_t *)v, i, m) {
		const char *role = json_string_value(json_object_get(m, "role"));
		json_t *c = json_object_get(m, "content"), *tc, *x, *part;
		kiln_buf b = { .max = (size_t)1 << 30 };
		size_t k;

		if (!json_is_object(m)) {
			BAD(e, "invalid_type", "messages",
			    "messages[%zu] must be an object", i);
			goto out;
		}
		if (role && (!strcmp(role, "tool") ||
			     !strcmp(role, "function"))) {
			BAD(e, "unsupported_value", "messages",
			    "messages[%zu]: role '%s' is not supported: kiln "
			    "serve does not call tools", i, role);
			goto out;
		}
		if (role && !strcmp(role, "developer"))
			role = "system";
		if (!role || (strcmp(role, "system") && strcmp(role, "user") &&
			      strcmp(role, "assistant"))) {
			BAD(e, "invalid_value", "messages",
			    "messages[%zu]: role must be system, developer, "
			    "user or assistant", i);
			goto out;
		}
		tc = json_object_get(m, "tool_calls");
		x = json_object_get(m, "function_call");
		if ((tc && !json_is_null(tc) && !empty_array(tc, NULL)) ||
		    (x && !json_is_null(x))) {
			BAD(e, "unsupported_value", "messages",
			    "messages[%zu]: tool calls are not supported: kiln "
			    "serve does not call tools", i);
			goto out;
		}
		if (json_is_array(c)) {
			json_array_foreach(c, k, part) {
				const char *type = json_string_value(
					json_object_get(part, "type"));
				json_t *t = json_object_get(part, "text");

				if (!json_is_object(part) || !type) {
					BAD(e, "invalid_type", "messages",
					    "messages[%zu].content[%zu] must be "
					    "an object with a type", i, k);
					goto part_fail;
				}
				if (strcmp(type, "text")) {
					BAD(e, "unsupported_value", "messages",
					    "messages[%zu].content[%zu]: "
					    "content of type '%.40s' is not "
					    "supported: kiln serve reads text "
					    "parts only", i, k, type);
					goto part_fail;
				}
				if (!json_is_string(t)) {
					BAD(e, "invalid_type", "messages",
					    "messages[%zu].content[%zu].text "
					    "must be a string", i, k);
					goto part_fail;
				}
				if (kiln__buf_add(&b, json_string_value(t),
						  json_string_length(t))) {
					OOM(e);
					goto part_fail;
				}
			}
			c = json_stringn(b.p ? b.p : "", b.len);
			free(b.p);
			if (!c) {
				OOM(e);
				goto out;
			}
		} else {
			json_incref(c);
		}
		if (json_array_append_new(msgs, json_pack("{ss so*}", "role",
							  role, "content", c))) {
			OOM(e);
			goto out;
		}
		continue;
part_fail:
		free(b.p);
		goto out;
	}
	if (kiln_chat_render(msgs, 1, out, &err)) {
		BAD(e, "invalid_value", "messages", "%s", err.msg);
		goto out;
	}
	rc = 0;
out:
	json_decref(msgs);
	return rc;
}

/* ----------------------------------------------------------- prompts */

/* A prompt of token ids: a non-empty array of integers 0 .. INT32_MAX
 * (the vocabulary is checked by the server). */
static int token_prompt(const json_t *v, struct kiln__prompt *p,
			struct kiln__apierr *e)
{
	json_t *x;
	size_t i;

	if (json_array_size(v) == 0)
		return BAD(e, "invalid_value", "prompt",
			   "a prompt of token ids must not be empty");
	p->ids = malloc(json_array_size(v) * sizeof(int));
	if (!p->ids)
		return OOM(e);
	json_array_foreach((json_t *)v, i, x) {
		if (!json_is_integer(x))
			return BAD(e, "invalid_type", "prompt",
				   "'prompt' must be a string, an array of "
				   "strings, an array of token ids or an array "
				   "of arrays of token ids");
		if (json_integer_value(x) < 0 ||
		    json_integer_value(x) > INT32_MAX)
			return BAD(e, "invalid_value", "prompt",
				   "token id %" JSON_INTEGER_FORMAT " is out of "
				   "range", json_integer_value(x));
		p->ids[p->n_ids++] = (int)json_integer_value(x);
	}
	return 0;
}

/* prompt: a string, an array of strings, an array of token ids, or an
 * array of arrays of token ids. */
static int get_prompts(const json_t *v, struct kiln__ask *a,
		       struct kiln__apierr *e)
{
	size_t n = 1;
	json_t *first;

	if (!v)
		return BAD(e, "missing_field", "prompt", "'prompt' is required");
	if (json_is_array(v)) {
		n = json_array_size(v);
		if (n == 0)
			return BAD(e, "invalid_value", "prompt",
				   "'prompt' must not be an empty array");
		first = json_array_get(v, 0);
		if (json_is_integer(first))
			n = 1; /* one prompt of token ids */
		if (n > KILN__SERVE_MAX_PROMPTS)
			return BAD(e, "invalid_value", "prompt",
				   "'prompt' holds at most %d prompts",
				   KILN__SERVE_MAX_PROMPTS);
	} else if (!json_is_string(v)) {
		goto bad_type;
	}
	a->prompts = calloc(n, sizeof(*a->prompts));
	if (!a->prompts)
		return OOM(e);
	if (json_is_string(v)) {
		a->n_prompts = 1;
		if (!(a->prompts[0].text = strdup(json_string_value(v))))
			return OOM(e);
		return 0;
	}
	if (json_is_integer(json_array_get(v, 0))) {
		a->n_prompts = 1;
		return token_prompt(v, &a->prompts[0], e);
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *x = json_array_get(v, i);
		struct kiln__prompt *p = &a->prompts[i];

		a->n_prompts = (int)i + 1;
		if (json_is_string(x) &&
		    json_is_string(json_array_get(v, 0))) {
			if (!(p->text = strdup(json_string_value(x))))
				return OOM(e);
		} else if (json_is_array(x) &&
			   json_is_array(json_array_get(v, 0))) {
			if (token_prompt(x, p, e))
				return -1;
		} else {
			goto bad_type;
		}
	}
	return 0;
bad_type:
	return BAD(e, "invalid_type", "prompt",
		   "'prompt' must be a string, an array of strings, an array "
		   "of token ids or an array of arrays of token ids");
}

/* ---------------------------------------------------------- logprobs */

/* chat: logprobs (boolean) and top_logprobs (0..20, only with logprobs:
 * true); completions: logprobs (0..20: the alternatives). */
static int get_logprobs(const json_t *o, int chat, kiln_sample_params *p,
			struct kiln__apierr *e)
{
	long long top = 0;
	int given = 0, on = 0;

	if (!chat) {
		if (int_param((json_t *)o, "logprobs", 0,
			      KILN_SAMPLE_MAX_TOP_LOGPROBS, &top, &given, e))
			return -1;
		p->logprobs = given;
		p->top_logprobs = (int)top;
		return 0;
	}
	if (get_bool((json_t *)o, "logprobs", &on, e) < 0 ||
	    int_param((json_t *)o, "top_logprobs", 0,
		      KILN_SAMPLE_MAX_TOP_LOGPROBS, &top, &given, e))
		return -1;
	if (given && !on)
		return BAD(e, "invalid_value", "top_logprobs",
			   "'top_logprobs' needs 'logprobs': true");
	p->logprobs = on;
	p->top_logprobs = (int)top;
	return 0;
}

int kiln__openai_parse(int chat, const char *body, size_t len,
		       struct kiln__ask *a, struct kiln__apierr *e)
{
	json_error_t jerr;
	json_t *o, *v;
	long long top_k, max_tokens, n, seed = 0, best_of = 0;
	int best_given = 0;
	int rc = -1;

	memset(a, 0, sizeof(*a));
	a->chat = chat;
	kiln_sample_params_default(&a->p);
	a->n = 1;
	o = json_loadb(body ? body : "", len, 0, &jerr);
	if (!o)
		return json_refused(body ? body : "", len, &jerr, e);
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
		if (!(a->prompts = calloc(1, sizeof(*a->prompts)))) {
			OOM(e);
			goto out;
		}
		a->n_prompts = 1;
		if (render_messages(v, &a->prompts[0].text, e))
			goto out;
	} else if (get_prompts(json_object_get(o, "prompt"), a, e)) {
		goto out;
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
	    int_param(o, "best_of", 1, KILN__SERVE_MAX_CHOICES, &best_of,
		      &best_given, e) ||
	    int_param(o, "seed", INT64_MIN, INT64_MAX, &seed, &a->seed_given, e))
		goto out;
	if (!best_given)
		best_of = n;
	if (best_of < n) {
		BAD(e, "invalid_value", "best_of", "best_of (%lld) must be at "
		    "least n (%lld)", best_of, n);
		goto out;
	}
	if (best_of * a->n_prompts > KILN__SERVE_MAX_PROMPTS) {
		BAD(e, "invalid_value", best_given ? "best_of" : "n",
		    "%d prompts of %lld choices: at most %d choices in all",
		    a->n_prompts, best_of, KILN__SERVE_MAX_PROMPTS);
		goto out;
	}
	a->best_of = (int)best_of;
	a->p.top_k = top_k < 0 ? 0 : (int)top_k; /* -1: no limit, as vLLM */
	a->p.max_tokens = (int)max_tokens;
	a->n = (int)n;
	a->p.seed = (uint64_t)seed;
	if (get_bool(o, "stream", &a->stream, e) < 0)
		goto out;
	if (a->stream && a->best_of > a->n) {
		BAD(e, "invalid_value", "best_of", "best_of greater than n "
		    "cannot be streamed (the best are known at the end)");
		goto out;
	}
	v = json_object_get(o, "stream_options");
	if (json_is_object(v) &&
	    get_bool(v, "include_usage", &a->include_usage, e) < 0)
		goto out;
	if (get_stop(o, a, e) < 0 || get_logprobs(o, chat, &a->p, e) ||
	    check_unsupported(o, chat, e))
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
	json_t *stop, *prompts;

	memset(&e, 0, sizeof(e));
	if (kiln__openai_parse(chat, body, len, &a, &e)) {
		kiln__ask_free(&a);
		*view = kiln__openai_error(&e);
		return (int)e.status;
	}
	stop = json_array();
	prompts = json_array();
	for (int i = 0; stop && i < a.n_stop; i++)
		if (json_array_append_new(stop, json_string(a.stop[i]))) {
			json_decref(stop);
			stop = NULL;
		}
	for (int i = 0; prompts && i < a.n_prompts; i++) {
		const struct kiln__prompt *p = &a.prompts[i];
		json_t *x = p->text ? json_string(p->text) : json_array();

		for (int k = 0; x && !p->text && k < p->n_ids; k++)
			if (json_array_append_new(x, json_integer(p->ids[k]))) {
				json_decref(x);
				x = NULL;
			}
		if (json_array_append_new(prompts, x)) {
			json_decref(prompts);
			prompts = NULL;
		}
	}
	*view = stop && prompts ?
		json_pack("{sb so sf sf si si si si sI sb sb sb sb so sb si}",
			  "chat", a.chat, "prompts", prompts,
			  "temperature", a.p.temperature,
			  "top_p", a.p.top_p, "top_k", a.p.top_k,
			  "max_tokens", a.p.max_tokens, "n", a.n,
			  "best_of", a.best_of,
			  "seed", (json_int_t)a.p.seed,
			  "seed_given", a.seed_given,
			  "max_given", a.max_given, "stream", a.stream,
			  "include_usage", a.include_usage,
			  "stop", stop, "logprobs", a.p.logprobs,
			  "top_logprobs", a.p.top_logprobs) : NULL;
	if (!*view) {
		json_decref(stop);
		json_decref(prompts);
	}
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
			    enum kiln_finish f, json_t *logprobs)
{
	if (!text) {
		json_decref(logprobs);
		return NULL;
	}
	if (chat)
		return json_pack("{si s{ss so} ss so}", "index", i, "message",
				 "role", "assistant", "content", text,
				 "finish_reason", kiln__openai_finish(f),
				 "logprobs", logprobs ? logprobs : json_null());
	return json_pack("{si so ss so}", "index", i, "text", text,
			 "finish_reason", kiln__openai_finish(f), "logprobs",
			 logprobs ? logprobs : json_null());
}

json_t *kiln__openai_chunk(const struct kiln__answer *a, int i, json_t *text,
			   const char *finish, int role, json_t *logprobs)
{
	json_t *head = kiln__openai_head(a, 1), *ch;

	if (!logprobs)
		logprobs = json_null();
	if (a->chat) {
		json_t *delta = json_object();

		if (delta && role)
			json_object_set_new(delta, "role",
					    json_string("assistant"));
		if (delta && text)
			json_object_set_new(delta, "content", text);
		else
			json_decref(text);
		ch = json_pack("{si so so so}", "index", i, "delta", delta,
			       "finish_reason", finish ? json_string(finish)
						       : json_null(),
			       "logprobs", logprobs);
	} else {
		ch = json_pack("{si so so so}", "index", i, "text",
			       text ? text : json_string(""), "finish_reason",
			       finish ? json_string(finish) : json_null(),
			       "logprobs", logprobs);
	}
	if (!head || !ch ||
	    json_object_set_new(head, "choices", json_pack("[o]", ch))) {
		json_decref(head);
		return NULL;
	}
	return head;
}

/* The bytes of a token as a JSON array of numbers. */
static json_t *token_bytes(const unsigned char *p, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_integer(p[i]))) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* {token, logprob, bytes} of one token (chat's shape). */
static json_t *chat_token(const kiln_tok *tok, int id, float logprob)
{
	size_t n;
	const unsigned char *p = kiln_tok_piece(tok, id, &n);

	return json_pack("{so sf so}", "token",
			 kiln__json_text((const char *)p, n), "logprob",
			 (double)logprob, "bytes", token_bytes(p, n));
}

static json_t *chat_logprobs(const kiln_tok *tok,
			     const kiln_token_logprob *lp, size_t n, int top)
{
	json_t *content = json_array();

	for (size_t i = 0; content && i < n; i++) {
		json_t *t = chat_token(tok, lp[i].id, lp[i].logprob);
		json_t *alts = json_array();

		for (int k = 0; alts && k < lp[i].n_top && k < top; k++)
			if (json_array_append_new(alts, chat_token(tok,
					lp[i].top[k].id, lp[i].top[k].logprob))) {
				json_decref(alts);
				alts = NULL;
			}
		if (!t || !alts ||
		    json_object_set_new(t, "top_logprobs", alts) ||
		    json_array_append_new(content, t)) {
			if (!t)
				json_decref(alts);
			json_decref(t);
			json_decref(content);
			return NULL;
		}
	}
	return json_pack("{so sn}", "content", content, "refusal");
}

/* The text of a token as a JSON object key (a C string: U+FFFD for bytes
 * that are not UTF-8; NUL cannot occur: such a key is cut there). */
static char *token_key(const kiln_tok *tok, int id)
{
	size_t n;
	const unsigned char *p = kiln_tok_piece(tok, id, &n);
	json_t *s = kiln__json_text((const char *)p, n);
	char *k = s ? strdup(json_string_value(s)) : NULL;

	json_decref(s);
	return k;
}

static json_t *completion_logprobs(const kiln_tok *tok,
				   const kiln_token_logprob *lp, size_t n,
				   int top)
{
	json_t *tokens = json_array(), *lps = json_array(),
	       *tops = json_array(), *offs = json_array();

	if (!tokens || !lps || !tops || !offs)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		size_t len;
		const unsigned char *p = kiln_tok_piece(tok, lp[i].id, &len);
		json_t *d = json_object();
		int chosen = 0;

		if (!d || json_array_append_new(tops, d) ||
		    json_array_append_new(tokens, kiln__json_text(
				(const char *)p, len)) ||
		    json_array_append_new(lps, json_real(lp[i].logprob)) ||
		    json_array_append_new(offs, json_integer(
				(json_int_t)lp[i].offset)))
			goto fail;
		/* the top alternatives, and the sampled token (OpenAI: up to
		 * logprobs + 1 entries); two tokens with the same text keep
		 * the likelier one's */
		for (int k = 0; k <= top && k <= lp[i].n_top; k++) {
			int alt = k < top && k < lp[i].n_top;
			int id = alt ? lp[i].top[k].id : lp[i].id;
			float l = alt ? lp[i].top[k].logprob : lp[i].logprob;
			char *key;

			if (!alt && chosen)
				break;
			chosen |= id == lp[i].id;
			if (!(key = token_key(tok, id)))
				goto fail;
			if (!json_object_get(d, key) &&
			    json_object_set_new(d, key, json_real(l))) {
				free(key);
				goto fail;
			}
			free(key);
			if (!alt)
				break;
		}
	}
	return json_pack("{so so so so}", "tokens", tokens, "token_logprobs",
			 lps, "top_logprobs", tops, "text_offset", offs);
fail:
	json_decref(tokens);
	json_decref(lps);
	json_decref(tops);
	json_decref(offs);
	return NULL;
}

json_t *kiln__openai_logprobs(int chat, const kiln_tok *tok,
			      const kiln_token_logprob *lp, size_t n, int top)
{
	return chat ? chat_logprobs(tok, lp, n, top)
		    : completion_logprobs(tok, lp, n, top);
}
