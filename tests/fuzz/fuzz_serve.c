/* fuzz_serve - a request body through kiln serve's request parser.
 *
 * The input is the JSON body of a request; it goes through the parser
 * and checks of both routes (/v1/chat/completions and /v1/completions,
 * kiln__serve_parse_request: openai.c's parser without a server). Each
 * result is compared with ref_request(), the rules of docs/SERVE.md
 * written again here on the body as jansson reads it:
 *   - a request the rules accept must be accepted, with exactly the
 *     values asked for (or the defaults), the prompt as given (or as
 *     kiln_chat_render renders the messages) and the stop list as given;
 *   - a request they refuse must be refused with 400, and every refusal
 *     must be the error body clients read: {"error": {"message": non-empty,
 *     "type", "code", "param": one of the request's fields or absent}}.
 * Any disagreement calls abort(), so libFuzzer and the replay test see it.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kiln/chat.h"
#include "kiln/sample.h"
#include "serve/serve_int.h"
#include "fuzz.h"

#define REF_MAX_CHOICES 16
#define REF_MAX_TOKENS (1 << 20)

struct want {
	char *prompt;
	double temperature, top_p;
	long long top_k, max_tokens, n, seed;
	int seed_given, max_given, stream, include_usage;
	json_t *stop; /* array of strings */
};

/* An integer field: 0 absent or null, 1 *out set, -1 not an integer (an
 * integral real below 9e15 in magnitude counts as one). */
static int ref_int(const json_t *o, const char *key, long long *out)
{
	const json_t *v = json_object_get(o, key);
	double d;

	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 1;
	}
	if (!json_is_real(v))
		return -1;
	d = json_real_value(v);
	if (!isfinite(d) || fabs(d) >= 9e15 || d != floor(d))
		return -1;
	*out = (long long)d;
	return 1;
}

/* A number field in [lo, hi] ((lo, hi] when open_lo): 1 valid. */
static int ref_num(const json_t *o, const char *key, double lo, double hi,
		   int open_lo, double *out)
{
	const json_t *v = json_object_get(o, key);
	double d;

	if (!v || json_is_null(v))
		return 1;
	if (!json_is_number(v))
		return 0;
	d = json_number_value(v);
	if (open_lo ? !(d > lo) : !(d >= lo))
		return 0;
	if (!(d <= hi))
		return 0;
	*out = d;
	return 1;
}

static int ref_range(const json_t *o, const char *key, long long lo,
		     long long hi, long long *out, int *given)
{
	long long v;
	int rc = ref_int(o, key, &v);

	if (rc < 0 || (rc == 1 && (v < lo || v > hi)))
		return 0;
	if (rc == 1) {
		*out = v;
		if (given)
			*given = 1;
	}
	return 1;
}

static int ref_bool(const json_t *o, const char *key, int *out)
{
	const json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return 1;
	if (!json_is_boolean(v))
		return 0;
	*out = json_is_true(v);
	return 1;
}

static int ref_stop(const json_t *o, json_t *stop)
{
	const json_t *v = json_object_get(o, "stop"), *x;
	size_t i;

	if (!v || json_is_null(v))
		return 1;
	if (json_is_string(v))
		return json_string_length(v) >= 1 &&
		       json_string_length(v) <= KILN_SAMPLE_MAX_STOP_LEN &&
		       !json_array_append(stop, (json_t *)v);
	if (!json_is_array(v) || json_array_size(v) > KILN_SAMPLE_MAX_STOP)
		return 0;
	json_array_foreach(v, i, x) {
		if (!json_is_string(x) || json_string_length(x) < 1 ||
		    json_string_length(x) > KILN_SAMPLE_MAX_STOP_LEN ||
		    json_array_append(stop, (json_t *)x))
			return 0;
	}
	return 1;
}

/* 1 when the rules accept the body as a request for the route, with *w
 * what it asks for. */
static int ref_request(const char *body, size_t len, int chat,
		       struct want *w)
{
	kiln_sample_params d;
	const json_t *v, *so;
	json_t *o = json_loadb(body, len, 0, NULL);
	int ok = 0;

	kiln_sample_params_default(&d);
	memset(w, 0, sizeof(*w));
	w->temperature = d.temperature;
	w->top_p = d.top_p;
	w->top_k = d.top_k;
	w->max_tokens = d.max_tokens;
	w->n = 1;
	w->stop = json_array();
	if (!w->stop)
		FAIL("out of memory");
	if (!json_is_object(o))
		goto out;
	v = json_object_get(o, "model");
	if (v && !json_is_null(v) && !json_is_string(v))
		goto out;
	if (chat) {
		kiln_error err;

		v = json_object_get(o, "messages");
		if (!json_is_array(v) || json_array_size(v) == 0 ||
		    kiln_chat_render(v, 1, &w->prompt, &err))
			goto out;
	} else {
		v = json_object_get(o, "prompt");
		if (json_is_array(v) && json_array_size(v) == 1)
			v = json_array_get(v, 0);
		if (!json_is_string(v))
			goto out;
		w->prompt = strdup(json_string_value(v));
		if (!w->prompt)
			FAIL("out of memory");
	}
	if (!ref_num(o, "temperature", 0, 2, 0, &w->temperature) ||
	    !ref_num(o, "top_p", 0, 1, 1, &w->top_p) ||
	    !ref_range(o, "top_k", -1, INT32_MAX, &w->top_k, NULL) ||
	    !ref_range(o, chat && json_object_get(o, "max_completion_tokens") ?
		       "max_completion_tokens" : "max_tokens", 1,
		       REF_MAX_TOKENS, &w->max_tokens, &w->max_given) ||
	    !ref_range(o, "n", 1, REF_MAX_CHOICES, &w->n, NULL) ||
	    !ref_range(o, "seed", INT64_MIN, INT64_MAX, &w->seed,
		       &w->seed_given) ||
	    !ref_bool(o, "stream", &w->stream))
		goto out;
	so = json_object_get(o, "stream_options");
	if (json_is_object(so) && !ref_bool(so, "include_usage",
					    &w->include_usage))
		goto out;
	if (!ref_stop(o, w->stop))
		goto out;
	if (w->top_k < 0)
		w->top_k = 0;
	ok = 1;
out:
	json_decref(o);
	return ok;
}

static void check_error(const json_t *view, int status, const char *route)
{
	static const char *const params[] = {
		"model", "messages", "prompt", "temperature", "top_p", "top_k",
		"max_tokens", "max_completion_tokens", "n", "seed", "stream",
		"include_usage", "stop", NULL
	};
	const json_t *e = json_object_get(view, "error");
	const json_t *msg = json_object_get(e, "message");
	const json_t *param = json_object_get(e, "param");
	size_t i;

	if (status != 400)
		FAIL("%s: status %d", route, status);
	if (!json_is_object(e) || json_object_size(view) != 1)
		FAIL("%s: no error object", route);
	if (!json_is_string(msg) || json_string_length(msg) == 0)
		FAIL("%s: error without a message", route);
	if (!json_is_string(json_object_get(e, "code")) ||
	    strcmp(json_string_value(json_object_get(e, "type")),
		   "invalid_request_error"))
		FAIL("%s: error without its code or type", route);
	if (param && !json_is_null(param)) {
		for (i = 0; params[i]; i++)
			if (json_is_string(param) &&
			    !strcmp(json_string_value(param), params[i]))
				break;
		if (!params[i])
			FAIL("%s: error names param '%s'", route,
			     json_is_string(param) ? json_string_value(param) :
			     "(not a string)");
	}
}

static long long int_of(const json_t *view, const char *key)
{
	const json_t *v = json_object_get(view, key);

	if (!json_is_integer(v))
		FAIL("view lacks '%s'", key);
	return json_integer_value(v);
}

static int bool_of(const json_t *view, const char *key)
{
	const json_t *v = json_object_get(view, key);

	if (!json_is_boolean(v))
		FAIL("view lacks '%s'", key);
	return json_is_true(v);
}

static void check_request(const json_t *view, const struct want *w,
			  int chat, const char *route)
{
	const json_t *p = json_object_get(view, "prompt");

	if (bool_of(view, "chat") != chat)
		FAIL("%s: chat flag", route);
	if (!json_is_string(p) || strcmp(json_string_value(p), w->prompt))
		FAIL("%s: prompt is not what was asked", route);
	if (json_real_value(json_object_get(view, "temperature")) !=
	    w->temperature ||
	    json_real_value(json_object_get(view, "top_p")) != w->top_p)
		FAIL("%s: temperature or top_p", route);
	if (int_of(view, "top_k") != w->top_k ||
	    int_of(view, "max_tokens") != w->max_tokens ||
	    int_of(view, "n") != w->n ||
	    (w->seed_given && int_of(view, "seed") != w->seed) ||
	    bool_of(view, "seed_given") != w->seed_given ||
	    bool_of(view, "max_given") != w->max_given)
		FAIL("%s: top_k %lld/%lld, max_tokens %lld/%lld, n %lld/%lld, "
		     "seed %lld/%lld", route, int_of(view, "top_k"), w->top_k,
		     int_of(view, "max_tokens"), w->max_tokens,
		     int_of(view, "n"), w->n, int_of(view, "seed"), w->seed);
	if (bool_of(view, "stream") != w->stream ||
	    bool_of(view, "include_usage") != w->include_usage)
		FAIL("%s: stream or include_usage", route);
	if (!json_equal(json_object_get(view, "stop"), w->stop))
		FAIL("%s: stop list is not what was asked", route);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int chat = 0; chat < 2; chat++) {
		const char *route = chat ? "chat" : "completions";
		json_t *view = NULL;
		struct want w;
		int ok = ref_request((const char *)data, size, chat, &w);
		int status = kiln__serve_parse_request(chat, (const char *)data,
						       size, &view);

		if (!view)
			FAIL("%s: no %s body (status %d)", route,
			     status ? "error" : "request", status);
		if (status) {
			if (ok)
				FAIL("%s: refused (%d: %s), the rules accept it",
				     route, status, json_string_value(
					     json_object_get(json_object_get(
						     view, "error"), "message")));
			check_error(view, status, route);
		} else {
			if (!ok)
				FAIL("%s: accepted, the rules refuse it", route);
			check_request(view, &w, chat, route);
		}
		json_decref(view);
		json_decref(w.stop);
		free(w.prompt);
	}
	return 0;
}
