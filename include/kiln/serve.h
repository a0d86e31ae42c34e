/* kiln/serve.h - an OpenAI-compatible HTTP server over a kiln_gpt.
 *
 * Routes (docs/SERVE.md): POST /v1/chat/completions, POST /v1/completions,
 * GET /v1/models, GET /health. Requests are decoded together: one decode
 * thread owns the model and a KV cache of max_batch slots; it admits queued
 * sequences into free slots (their prompts are prefilled in chunks) and each
 * step runs one kiln_gpt_infer call with one row per active sequence
 * (continuous batching). HTTP connections each have a thread
 * (libmicrohttpd) that waits for its request's result. When more than
 * `queue` requests wait for a slot, new ones get 503. Errors are
 * OpenAI-style JSON: {"error": {"message", "type", "code"}}.
 *
 * The server never prints: one line per request goes to cfg->log.
 */
#ifndef KILN_SERVE_H
#define KILN_SERVE_H

#include <stddef.h>

#include "kiln/error.h"
#include "kiln/model.h"
#include "kiln/tokenizer.h"

typedef struct kiln_serve_config {
	const char *host;       /* address to listen on (default 127.0.0.1) */
	int port;               /* 0: any free port (see kiln_serve_port) */
	int max_batch;          /* sequences decoded together (default 8) */
	int queue;              /* requests waiting for a slot (default 64) */
	const char *model_name; /* the name in answers and /v1/models
				   (default "kiln") */
	size_t max_body;        /* request body bytes; more is 413 (4 MiB) */
	int max_connections;    /* open connections (default 512) */
	int prefill_chunk;      /* prompt rows per decode step, all
				   sequences together (default 256) */
	/* One line per request (no newline), from any thread; may be NULL. */
	void (*log)(void *ctx, const char *line);
	void *log_ctx;
} kiln_serve_config;

void kiln_serve_config_default(kiln_serve_config *c);

typedef struct kiln_server kiln_server;

/* Starts listening and decoding. m and tok are borrowed and must outlive
 * the server; nothing else may use m's inference while it runs. */
int kiln_serve_start(kiln_server **out, const kiln_gpt *m,
		     const kiln_tok *tok, const kiln_serve_config *cfg,
		     kiln_error *err);

/* In-process: the same batching and answers with no socket and no HTTP,
 * for kiln_serve_answer calls only (cfg's host, port and connection
 * settings are not used). kiln generate's `--backend local:MODEL.bin`. */
int kiln_serve_local(kiln_server **out, const kiln_gpt *m,
		     const kiln_tok *tok, const kiln_serve_config *cfg,
		     kiln_error *err);

/* One request answered as POST /v1{path} would be ("/chat/completions"
 * or "/completions"; body: its JSON), blocking until the answer is whole:
 * *status the HTTP status it would have had (200, or an error's), *answer
 * the JSON text (malloc'd: the answer, or an OpenAI-style error). A
 * request with "stream": true is refused (400). Any number of threads may
 * call it at once, on a server from kiln_serve_start or kiln_serve_local;
 * every call must have returned before kiln_serve_free. Returns -1 (and
 * *answer NULL) only when out of memory. */
int kiln_serve_answer(kiln_server *s, const char *path, const char *body,
		      size_t len, unsigned *status, char **answer);

/* The port it listens on (the one chosen when cfg->port was 0). */
int kiln_serve_port(const kiln_server *s);

/* Stops accepting connections; requests already received are answered
 * (requests arriving later on open connections get 503). Returns once
 * they all are, or after timeout_ms (< 0: no limit) with KILN_ELIMIT. */
int kiln_serve_drain(kiln_server *s, long timeout_ms, kiln_error *err);

/* Stops everything (a request still waiting is answered 503) and frees. */
void kiln_serve_free(kiln_server *s);

#endif
