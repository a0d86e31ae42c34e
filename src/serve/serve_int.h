/* Internals of kiln serve shared by its files:
 *
 *   openai.c  the OpenAI protocol: a request body to a checked `ask`, and
 *             every answer, chunk and error as JSON (no HTTP, no threads)
 *   serve.c   the HTTP front end on libmicrohttpd (mhd.c loads it), over
 *             the batcher (kiln/batch.h)
 *   guard.c   the listening socket: each connection's request head is
 *             checked before libmicrohttpd sees it, so the errors that
 *             libmicrohttpd would answer in HTML are answered in JSON
 */
#ifndef KILN_SERVE_INT_H
#define KILN_SERVE_INT_H

#include <stddef.h>
#include <sys/socket.h>

#include <jansson.h>

#include "kiln/error.h"

#include "kiln/sample.h"

#define KILN__SERVE_MAX_CHOICES 16   /* largest "n" */
#define KILN__SERVE_MAX_PROMPTS 64   /* prompts of one completions request,
					and choices in all (prompts x n) */

/* An error to answer with: {"error": {"message", "type", "param", "code"}}. */
struct kiln__apierr {
	unsigned status;
	const char *type, *code, *param;
	char msg[600];
};

/* Fills e; returns -1. */
int kiln__apierr_set(struct kiln__apierr *e, unsigned status,
		     const char *type, const char *code, const char *param,
		     const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

json_t *kiln__openai_error(const struct kiln__apierr *e);

/* One prompt: text (rendered for chat), or token ids when text is NULL. */
struct kiln__prompt {
	char *text;
	int *ids;
	int n_ids;
};

/* What one generation request asks for, once checked. */
struct kiln__ask {
	int chat;
	struct kiln__prompt *prompts; /* n_prompts (chat: 1) */
	int n_prompts;
	kiln_sample_params p;   /* p.stop points into stop; p.logprobs,
				   p.top_logprobs as asked */
	int seed_given, max_given;
	int n, stream, include_usage;
	int best_of;            /* samples a prompt, the n best returned */
	char **stop;
	int n_stop;
};

/* Parses and checks the body of /v1/chat/completions (chat) or
 * /v1/completions. 0, or -1 with e filled (400 or 500); free a with
 * kiln__ask_free either way. */
int kiln__openai_parse(int chat, const char *body, size_t len,
		       struct kiln__ask *a, struct kiln__apierr *e);
void kiln__ask_free(struct kiln__ask *a);

/* The parser on a body alone, for tests/fuzz/fuzz_serve.c. Returns 0 and
 * *view = what was asked ({chat, prompts: [string or [ids]], temperature,
 * top_p, top_k, max_tokens, n, seed, seed_given, max_given, stream,
 * include_usage, stop, logprobs, top_logprobs}), or the HTTP status and
 * *view = the error body the server sends.
 * *view is NULL when it could not be made. */
int kiln__serve_parse_request(int chat, const char *body, size_t len,
			      json_t **view);

/* The fields every answer and chunk begins with. */
struct kiln__answer {
	int chat;
	const char *id;
	long long created;
	const char *model;
};

const char *kiln__openai_finish(enum kiln_finish f);
json_t *kiln__openai_usage(int prompt_tokens, int completion_tokens);
/* {"id", "object", "created", "model"}: object chat.completion(.chunk) or
 * text_completion. */
json_t *kiln__openai_head(const struct kiln__answer *a, int chunk);
/* One choice of a whole answer (text and logprobs taken; logprobs may be
 * NULL: "logprobs": null). */
json_t *kiln__openai_choice(int chat, int i, json_t *text,
			    enum kiln_finish f, json_t *logprobs);
/* One streamed chunk for choice i: text (taken, may be NULL), finish (may
 * be NULL), role (chat's first chunk), logprobs (taken, may be NULL). */
json_t *kiln__openai_chunk(const struct kiln__answer *a, int i, json_t *text,
			   const char *finish, int role, json_t *logprobs);

/* The logprobs of lp[0..n) in OpenAI's shape: chat {"content": [{token,
 * logprob, bytes, top_logprobs}], "refusal": null}; completions {tokens,
 * token_logprobs, top_logprobs: [{token: logprob}], text_offset} with
 * text_offset in bytes of the choice's text. top: alternatives asked. */
json_t *kiln__openai_logprobs(int chat, const kiln_tok *tok,
			      const kiln_token_logprob *lp, size_t n, int top);

/* A JSON string of p[0..n) with each invalid UTF-8 part replaced by
 * U+FFFD (a byte-level model may emit any bytes). */
json_t *kiln__json_text(const char *p, size_t n);

/* --- guard.c --- */

/* Checks the head of a request (the bytes up to and including the blank
 * line, or what came so far): a request line METHOD SP TARGET SP HTTP/1.x,
 * header lines "name: value" ending in CR LF (or LF), at most one
 * Content-Length
 * (digits, at most max_body), Transfer-Encoding chunked or nothing (never
 * with a Content-Length), no NUL, at most max_head bytes. Returns 0 when
 * it may go to libmicrohttpd, 1 when more bytes are needed, or -1 with e
 * filled (400, 413, 431, 501, 505). */
int kiln__guard_head(const char *p, size_t n, size_t max_head,
		     size_t max_body, struct kiln__apierr *e);

struct kiln__guard_cfg {
	size_t max_head, max_body;
	int max_checks;          /* connections checked at once; more: 503 */
	int timeout_s;           /* for a complete head */
	/* Takes a checked connection (fd, now the callee's). */
	void (*pass)(void *ctx, int fd, const struct sockaddr *addr,
		     socklen_t len);
	void *pass_ctx;
	void (*log)(void *ctx, const char *line);
	void *log_ctx;
};

struct kiln__guard;
struct addrinfo;

/* Listens on ai and starts accepting. The message of a failure is bare
 * (strerror): the caller says where. */
int kiln__guard_start(struct kiln__guard **out, const struct addrinfo *ai,
		      const struct kiln__guard_cfg *cfg, kiln_error *err);
int kiln__guard_port(const struct kiln__guard *g);
/* Closes the listening socket: new connections are refused; the checks
 * under way go on. */
void kiln__guard_close(struct kiln__guard *g);
/* Closes, ends the checks under way (within 100 ms) and frees. */
void kiln__guard_free(struct kiln__guard *g);

#endif
