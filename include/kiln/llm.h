/* kiln/llm.h - talking to teacher models over the OpenAI-compatible API.
 *
 * Any server that speaks /v1/chat/completions or /v1/completions (llama.cpp,
 * vLLM, SGLang, Ollama, TGI, hosted APIs). Many requests are in flight from
 * one thread (libcurl's multi interface). Requests that fail for a reason
 * that may pass (429, 5xx, a timeout, a dropped connection, an answer that
 * is not an OpenAI response) are retried with exponential back-off and
 * jitter, honouring Retry-After; separate token buckets limit requests,
 * input tokens and output tokens per minute.
 */
#ifndef KILN_LLM_H
#define KILN_LLM_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln/error.h"

typedef struct kiln_llm_config {
	const char *base_url;    /* e.g. http://127.0.0.1:8080/v1 */
	const char *api_key;     /* sent as a bearer token; never logged */
	int concurrency;         /* requests in flight (default 16) */
	long timeout_ms;         /* per attempt (default 120000) */
	int max_attempts;        /* per request (default 6) */
	long backoff_ms;         /* first back-off (default 500) */
	long backoff_max_ms;     /* cap (default 60000) */
	double max_rpm;          /* requests per minute; 0 = no limit */
	double max_input_tpm;    /* prompt tokens per minute; 0 = no limit */
	double max_output_tpm;   /* completion tokens per minute; 0 = none */
	size_t max_answer;       /* bytes of one answer (default 16 MiB) */
} kiln_llm_config;

void kiln_llm_config_default(kiln_llm_config *c);

typedef struct kiln_llm_request {
	int64_t id;              /* the caller's, handed back */
	const char *path;        /* "/chat/completions" or "/completions" */
	const char *body;        /* the JSON request */
	long est_input_tokens;   /* for the input-token bucket (0: bytes/4) */
} kiln_llm_request;

typedef struct kiln_llm_result {
	int64_t id;
	int ok;                  /* 1: body is a well-formed OpenAI answer */
	long http_status;        /* last attempt's, 0 if no response */
	const char *body;        /* the answer's JSON text (ok), or NULL */
	const char *error;       /* why it failed (after all attempts) */
	int attempts;
	double ms;               /* from first send to result */
	long input_tokens;       /* from "usage"; -1 when the answer did not
				  * say (no usage, or not that count) */
	long output_tokens;      /* likewise */
	json_t *json;            /* the parsed answer (ok): the callback may
				  * keep it by taking it (r->json = NULL;
				  * it then owns the reference), else it is
				  * released after the call. Taking, not
				  * json_incref, is how to hand it to
				  * another thread: jansson's reference
				  * counts are not for sharing. */
} kiln_llm_result;

/* Called once per request, in the calling thread, as results arrive, and
 * with r == NULL after each batch of results that finished together (a
 * place to commit them in one transaction). Returning nonzero stops the
 * run (in-flight requests are abandoned). */
typedef int (*kiln_llm_done_fn)(void *ctx, kiln_llm_result *r);

typedef struct kiln_llm kiln_llm;

/* Loads libcurl (kiln_llm_open does it when first called; its ~30
 * libraries take several milliseconds): a caller with other work to do
 * first may call this on another thread beforehand. Thread-safe. */
void kiln_llm_preload(void);

int kiln_llm_open(kiln_llm **out, const kiln_llm_config *cfg,
		  kiln_error *err);
/* Sends every request, concurrency at a time, and reports each one. */
int kiln_llm_run(kiln_llm *l, const kiln_llm_request *reqs, size_t n,
		 kiln_llm_done_fn done, void *ctx, kiln_error *err);

/* Where kiln_llm_run_stream takes its requests from, one at a time, when a
 * slot is free: returns 1 with *out filled (its body must stay valid until
 * its result is reported), 0 when it has none just now (call
 * kiln_llm_wakeup when it has), -1 when it will have no more. Called on
 * the run's thread. */
typedef int (*kiln_llm_source_fn)(void *ctx, kiln_llm_request *out);

/* kiln_llm_run over requests that another thread produces while the run
 * goes on. Ends when the source has ended and every request is reported. */
int kiln_llm_run_stream(kiln_llm *l, kiln_llm_source_fn next, void *src,
			kiln_llm_done_fn done, void *ctx, kiln_error *err);

/* From any thread: the source has more; a run waiting for it goes on at
 * once. Does nothing when no run is on. */
void kiln_llm_wakeup(kiln_llm *l);
void kiln_llm_close(kiln_llm *l);

/* What names the backend in a request's cache key (kiln/teacher.h): the
 * base URL itself, but for local:PATH the checkpoint's content
 * ("local:xxh3-128:HEX" of the file's bytes), so that a checkpoint that
 * changes under the same path is another teacher, and the same file under
 * another path is the same one. KILN_EIO when the file cannot be read. */
int kiln_llm_backend_key(const char *base_url, char *out, size_t n,
			 kiln_error *err);

/* Checks an answer: a JSON object with a non-empty "choices" array. On
 * success fills the usage counts (-1 when absent: unknown, not 0). Used by the client; public
 * for tests and for answers read back from the store. */
int kiln_llm_check_answer(const char *body, size_t len, long *in_tokens,
			  long *out_tokens, kiln_error *err);

#endif
