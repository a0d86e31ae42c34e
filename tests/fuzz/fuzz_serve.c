/* fuzz_serve - a request body through kiln serve's request parser.
 *
 * The input is the JSON body of a request; it goes through the parser
 * and checks of both routes (/v1/chat/completions and /v1/completions,
 * kiln__serve_parse_request: openai.c's parser without a server). Each
 * result is compared with ref_request(), the rules of docs/SERVE.md
 * written again here on the body as jansson reads it:
 *   - a request the rules accept must be accepted, with exactly the
 *     values asked for (or the defaults), the prompts as given (or as
 *     kiln_chat_render renders the messages once OpenAI's shapes are
 *     mapped onto kiln's: the developer role is system, text parts are
 *     joined), the stop list and the logprobs asked for;
 *   - a parameter kiln does not honour is refused unless its value asks
 *     for nothing (tools: [], echo: false, ...);
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
#define REF_MAX_PROMPTS 64
#define REF_MAX_TOKENS (1 << 20)
#define REF_MAX_TOP 20

struct want {
	json_t *prompts; /* array of strings or arrays of ids */
	double temperature, top_p;
	long long top_k, max_tokens, n, seed, top_logprobs;
	int seed_given, max_given, stream, include_usage, logprobs;
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

/* messages with OpenAI's shapes as kiln's template takes them: 1 and
 * *out, or 0 refused. */
static int ref_messages(const json_t *v, json_t *out)
{
	const json_t *m, *part;
	size_t i, k;

	json_array_foreach(v, i, m) {
		const char *role = json_string_value(json_object_get(m, "role"));
		const json_t *c = json_object_get(m, "content");
		const json_t *tc = json_object_get(m, "tool_calls");
		const json_t *fc = json_object_get(m, "function_call");
		json_t *text;

		if (!json_is_object(m) || !role)
			return 0;
		if (!strcmp(role, "developer"))
			role = "system";
		if (strcmp(role, "system") && strcmp(role, "user") &&
		    strcmp(role, "assistant"))
			return 0;
		if ((tc && !json_is_null(tc) &&
		     !(json_is_array(tc) && json_array_size(tc) == 0)) ||
		    (fc && !json_is_null(fc)))
			return 0;
		if (json_is_array(c)) {
			char *joined = strdup("");
			size_t len = 0;

			if (!joined)
				FAIL("out of memory");
			json_array_foreach(c, k, part) {
				const json_t *t = json_object_get(part, "text");
				const char *type = json_string_value(
					json_object_get(part, "type"));
				char *more;

				if (!type || strcmp(type, "text") ||
				    !json_is_string(t)) {
					free(joined);
					return 0;
				}
				more = realloc(joined, len +
					       json_string_length(t) + 1);
				if (!more)
					FAIL("out of memory");
				joined = more;
				memcpy(joined + len, json_string_value(t),
				       json_string_length(t));
				len += json_string_length(t);
				joined[len] = '\0';
			}
			text = json_stringn(joined, len);
			free(joined);
		} else if (json_is_string(c)) {
			text = json_copy((json_t *)c);
		} else {
			return 0;
		}
		if (json_array_append_new(out, json_pack("{ss so}", "role",
							 role, "content", text)))
			FAIL("out of memory");
	}
	return 1;
}

/* A prompt of token ids: 1 when v is a non-empty array of integers
 * 0 .. INT32_MAX. */
static int ref_ids(const json_t *v)
{
	const json_t *x;
	size_t i;

	if (!json_is_array(v) || json_array_size(v) == 0)
		return 0;
	json_array_foreach(v, i, x)
		if (!json_is_integer(x) || json_integer_value(x) < 0 ||
		    json_integer_value(x) > INT32_MAX)
			return 0;
	return 1;
}

static int ref_prompts(const json_t *v, json_t *out)
{
	const json_t *x;
	size_t i;

	if (json_is_string(v))
		return !json_array_append(out, (json_t *)v);
	if (!json_is_array(v) || json_array_size(v) == 0)
		return 0;
	if (json_is_integer(json_array_get(v, 0)))
		return ref_ids(v) && !json_array_append(out, (json_t *)v);
	if (json_array_size(v) > REF_MAX_PROMPTS)
		return 0;
	json_array_foreach(v, i, x) {
		if (json_is_string(json_array_get(v, 0)) ? !json_is_string(x)
							 : !ref_ids(x))
			return 0;
		if (json_array_append(out, (json_t *)x))
			FAIL("out of memory");
	}
	return 1;
}

/* The parameters kiln does not honour, and the values that ask for
 * nothing (docs/SERVE.md). 1: fine. */
static int ref_unsupported_ok(const json_t *o, int chat)
{
	static const char *const chat_never[] = {
		"audio", "prediction", "reasoning_effort", "web_search_options",
		NULL
	};
	static const char *const any_never[] = {
		"guided_json", "guided_regex", "guided_choice",
		"guided_grammar", NULL
	};
	const json_t *v;
	const char *str;

#define PRESENT(k) ((v = json_object_get(o, k)) && !json_is_null(v))
	for (int i = 0; chat && chat_never[i]; i++)
		if (PRESENT(chat_never[i]))
			return 0;
	for (int i = 0; any_never[i]; i++)
		if (PRESENT(any_never[i]))
			return 0;
	if (chat) {
		if ((PRESENT("tools") && !(json_is_array(v) &&
					   json_array_size(v) == 0)) ||
		    (PRESENT("functions") && !(json_is_array(v) &&
					       json_array_size(v) == 0)) ||
		    (PRESENT("parallel_tool_calls") && !json_is_boolean(v)) ||
		    (PRESENT("store") && !json_is_false(v)))
			return 0;
		if (PRESENT("tool_choice") &&
		    (!(str = json_string_value(v)) ||
		     (strcmp(str, "none") && strcmp(str, "auto"))))
			return 0;
		if (PRESENT("function_call") &&
		    (!(str = json_string_value(v)) ||
		     (strcmp(str, "none") && strcmp(str, "auto"))))
			return 0;
		if (PRESENT("modalities") &&
		    !(json_array_size(v) == 1 &&
		      (str = json_string_value(json_array_get(v, 0))) &&
		      !strcmp(str, "text")))
			return 0;
	} else {
		const json_t *n = json_object_get(o, "n");

		if ((PRESENT("echo") && !json_is_false(v)) ||
		    (PRESENT("suffix") && !(json_is_string(v) &&
					    json_string_length(v) == 0)) ||
		    (PRESENT("best_of") && !(json_is_number(v) &&
			json_number_value(v) == (json_is_number(n) ?
						 json_number_value(n) : 1))))
			return 0;
	}
	if (PRESENT("response_format") &&
	    !((str = json_string_value(json_object_get(v, "type"))) &&
	      !strcmp(str, "text")))
		return 0;
	if (PRESENT("logit_bias") && !(json_is_object(v) &&
				       json_object_size(v) == 0))
		return 0;
	if ((PRESENT("presence_penalty") && !(json_is_number(v) &&
					      json_number_value(v) == 0)) ||
	    (PRESENT("frequency_penalty") && !(json_is_number(v) &&
					       json_number_value(v) == 0)) ||
	    (PRESENT("min_p") && !(json_is_number(v) &&
				   json_number_value(v) == 0)) ||
	    (PRESENT("min_tokens") && !(json_is_number(v) &&
					json_number_value(v) == 0)) ||
	    (PRESENT("repetition_penalty") && !(json_is_number(v) &&
						json_number_value(v) == 1)) ||
	    (PRESENT("ignore_eos") && !json_is_false(v)))
		return 0;
#undef PRESENT
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
	w->prompts = json_array();
	if (!w->stop || !w->prompts)
		FAIL("out of memory");
	if (!json_is_object(o))
		goto out;
	v = json_object_get(o, "model");
	if (v && !json_is_null(v) && !json_is_string(v))
		goto out;
	if (chat) {
		kiln_error err;
		json_t *msgs = json_array();
		char *prompt = NULL;
		int good;

		if (!msgs)
			FAIL("out of memory");
		v = json_object_get(o, "messages");
		good = json_is_array(v) && json_array_size(v) > 0 &&
		       ref_messages(v, msgs) &&
		       !kiln_chat_render(msgs, 1, &prompt, &err);
		json_decref(msgs);
		if (!good)
			goto out;
		if (json_array_append_new(w->prompts, json_string(prompt)))
			FAIL("out of memory");
		free(prompt);
	} else if (!ref_prompts(json_object_get(o, "prompt"), w->prompts)) {
		goto out;
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
	if (w->n * (long long)json_array_size(w->prompts) > REF_MAX_PROMPTS)
		goto out;
	if (chat) {
		int given = 0;

		if (!ref_bool(o, "logprobs", &w->logprobs) ||
		    !ref_range(o, "top_logprobs", 0, REF_MAX_TOP,
			       &w->top_logprobs, &given) ||
		    (given && !w->logprobs))
			goto out;
	} else if (!ref_range(o, "logprobs", 0, REF_MAX_TOP, &w->top_logprobs,
			      &w->logprobs)) {
		goto out;
	}
	if (!ref_unsupported_ok(o, chat))
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
		"include_usage", "stop", "stream_options", "logprobs",
		"top_logprobs", "best_of", "logit_bias", "user", "metadata",
		"tools", "tool_choice", "functions", "function_call",
		"parallel_tool_calls", "response_format", "presence_penalty",
		"frequency_penalty", "echo", "suffix", "audio", "modalities",
		"prediction", "store", "reasoning_effort",
		"web_search_options", "min_p", "repetition_penalty",
		"min_tokens", "ignore_eos", "guided_json", "guided_regex",
		"guided_choice", "guided_grammar", NULL
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
	if (bool_of(view, "chat") != chat)
		FAIL("%s: chat flag", route);
	if (!json_equal(json_object_get(view, "prompts"), w->prompts))
		FAIL("%s: prompts are not what was asked", route);
	if (bool_of(view, "logprobs") != w->logprobs ||
	    int_of(view, "top_logprobs") != w->top_logprobs)
		FAIL("%s: logprobs %d/%d, top_logprobs %lld/%lld", route,
		     bool_of(view, "logprobs"), w->logprobs,
		     int_of(view, "top_logprobs"), w->top_logprobs);
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
		json_decref(w.prompts);
	}
	return 0;
}
