/* kiln serve: the HTTP front end (kiln/serve.h).
 *
 * libmicrohttpd with a thread per connection: a request's handler checks
 * the body with the protocol (openai.c), encodes the prompt, submits it to
 * the batcher (kiln/batch.h) and waits for its end; a streamed answer
 * (stream: true) is a chunked response whose reader waits the same way for
 * each change of the request. Every answer and every error is JSON; the
 * errors libmicrohttpd would answer itself, in HTML, are caught before it
 * sees the connection (guard.c).
 *
 * Ownership: a request's state (struct req) is made on the handler's first
 * call and freed by the "request completed" callback, which also logs the
 * request's line and releases its batcher request (cancelling it if the
 * client left early).
 */
#include "kiln/serve.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
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

#include "kiln/batch.h"
#include "kiln/utf8.h"
#include "serve/mhd.h"
#include "serve/serve_int.h"
#include "util/buf.h"

#define CONN_TIMEOUT_S 300     /* idle connections are closed after this */
#define DEFAULT_COMPLETION_TOKENS 16 /* OpenAI's default for /completions */
#define HTTP_TOO_LARGE 413     /* its MHD name changed across versions */
#define MAX_HEAD ((size_t)32 << 10) /* request head bytes (guard.c) */
#define MODELS_PREFIX "/v1/models/" /* GET /v1/models/{id} */
#define MHD_POOL ((size_t)128 << 10) /* MHD's per-connection memory: more
					than any head the guard lets by */

enum route { R_NONE, R_CHAT, R_COMPLETIONS, R_MODELS, R_MODEL, R_HEALTH };

struct kiln_server {
	struct MHD_Daemon *d;
	struct kiln__guard *g;  /* the listening socket */
	kiln_batcher *b;
	const kiln_gpt *m;
	const kiln_tok *tok;
	kiln_serve_config cfg;
	char *host, *model_name;
	int port;
	time_t started;
	atomic_uint_fast64_t ids;

	pthread_mutex_t lock;   /* open, draining */
	pthread_cond_t idle;    /* open dropped to 0 */
	int open;               /* requests between first call and completion */
	int draining;
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
	kiln_batch_req *br;
	struct kiln__answer ans; /* ans.id points at id */
	int include_usage;
	int logprobs, top_logprobs; /* as asked (openai.c) */
	int n, best_of;         /* choices a prompt returned, sampled */
	char id[48];
	int prompt_tokens, completion_tokens;
	const char *finish;
	/* streaming */
	kiln_buf ev;            /* events not yet handed to MHD */
	size_t ev_off;
	size_t *sent;           /* per choice: bytes of text streamed */
	size_t *lp_sent;        /* per choice: logprobs streamed */
	unsigned char *flags;   /* per choice: 1 role sent, 2 finish sent */
	uint64_t seen;          /* the request's version last looked at */
	int ev_done;
};

#define apierr kiln__apierr
#define apierr_set kiln__apierr_set
#define BAD(e, code, param, ...) \
	apierr_set(e, MHD_HTTP_BAD_REQUEST, "invalid_request_error", code, \
		   param, __VA_ARGS__)

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
	return send_json(r, e->status, kiln__openai_error(e), hname, hval);
}


/* ------------------------------------------------- generation answers */

/* Choice i's logprobs from the from-th, those whose text begins before
 * byte `before` (all when before is SIZE_MAX), as JSON (*json NULL when
 * none or not asked); *used = how many. -1: out of memory. */
static int logprobs_json(struct req *r, int i, size_t from, size_t before,
			 json_t **json, size_t *used)
{
	kiln_token_logprob *lp;
	size_t n, m = 0;

	*json = NULL;
	*used = 0;
	if (!r->logprobs)
		return 0;
	if (kiln_batch_read_logprobs(r->br, i, from, &lp, &n, NULL))
		return -1;
	while (m < n && lp[m].offset < before)
		m++;
	if (m || before == SIZE_MAX) {
		*json = kiln__openai_logprobs(r->ans.chat, r->s->tok, lp, m,
					      r->top_logprobs);
		if (!*json) {
			free(lp);
			return -1;
		}
	}
	free(lp);
	*used = m;
	return 0;
}

/* The mean log-probability of choice i's tokens (-INFINITY for none):
 * best_of's measure, "the highest log probability per token". */
static int mean_logprob(struct req *r, int i, double *mean)
{
	kiln_token_logprob *lp;
	size_t n;
	double sum = 0;

	if (kiln_batch_read_logprobs(r->br, i, 0, &lp, &n, NULL))
		return -1;
	for (size_t k = 0; k < n; k++)
		sum += lp[k].logprob;
	free(lp);
	*mean = n ? sum / (double)n : -INFINITY;
	return 0;
}

/* With best_of > n: order[] = for each prompt, the indices of its n
 * choices of highest mean log-probability, best first (ties: the
 * earlier sample). Without: the choices as they are. -1: no memory. */
static int rank_choices(struct req *r, int *order)
{
	int per = r->best_of, prompts = kiln_batch_choices(r->br) / per;
	double score[KILN__SERVE_MAX_PROMPTS];
	int idx[KILN__SERVE_MAX_PROMPTS];

	for (int k = 0; k < prompts; k++) {
		for (int j = 0; j < per; j++) {
			int at = j;

			score[j] = 0;
			if (per > r->n && mean_logprob(r, k * per + j,
						       &score[j]))
				return -1;
			/* insertion, stable: after every equal score */
			while (at > 0 && score[idx[at - 1]] < score[j]) {
				idx[at] = idx[at - 1];
				at--;
			}
			idx[at] = j;
		}
		for (int j = 0; j < r->n; j++)
			order[k * r->n + j] = k * per + idx[j];
	}
	return 0;
}

/* The whole answer of a finished request. */
static json_t *answer_json(struct req *r)
{
	json_t *a = kiln__openai_head(&r->ans, 0), *choices = json_array();
	int total = kiln_batch_choices(r->br);
	int n = total / r->best_of * r->n;
	int order[KILN__SERVE_MAX_PROMPTS];

	if (!a || !choices || rank_choices(r, order))
		goto fail;
	r->completion_tokens = 0;
	for (int i = 0; i < total; i++) {   /* every sample counts */
		enum kiln_finish f;
		char *text;
		size_t len;
		int tokens;

		if (kiln_batch_read(r->br, i, 0, &text, &len, &f, &tokens,
				    NULL))
			goto fail;
		free(text);
		r->completion_tokens += tokens;
	}
	for (int i = 0; i < n; i++) {
		enum kiln_finish f;
		char *text;
		size_t len;
		size_t used;
		json_t *ch, *lp;

		int tokens;

		if (kiln_batch_read(r->br, order[i], 0, &text, &len, &f,
				    &tokens, NULL))
			goto fail;
		if (logprobs_json(r, order[i], 0, SIZE_MAX, &lp, &used)) {
			free(text);
			goto fail;
		}
		ch = kiln__openai_choice(r->ans.chat, i,
					 kiln__json_text(text, len), f, lp);
		free(text);
		if (!ch || json_array_append_new(choices, ch))
			goto fail;
		r->finish = kiln__openai_finish(f);
	}
	if (json_object_set_new(a, "choices", choices) ||
	    json_object_set_new(a, "usage",
				kiln__openai_usage(r->prompt_tokens,
						   r->completion_tokens)))
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

/* The events choice i has now (its text from r->sent[i] on, its finish,
 * chat's role); *any = 1 when it had some. */
static int ev_choice(struct req *r, int i, int *any)
{
	enum kiln_finish f;
	char *text;
	size_t len, ready;
	int tokens, role = r->ans.chat && !(r->flags[i] & 1), rc = 0;
	json_t *jt = NULL, *lp = NULL;
	size_t used;
	const char *fin = NULL;

	if (kiln_batch_read(r->br, i, r->sent[i], &text, &len, &f, &tokens,
			    NULL))
		return -1;
	ready = f ? len : kiln_utf8_complete(text, len);
	if (ready) {
		if (!(jt = kiln__json_text(text, ready)))
			rc = -1;
		r->sent[i] += ready;
	}
	free(text);
	/* the tokens whose text begins in what is streamed now (all, at
	 * the end) */
	if (!rc && logprobs_json(r, i, r->lp_sent[i], f ? SIZE_MAX - 1
				 : r->sent[i], &lp, &used))
		rc = -1;
	if (rc) {
		json_decref(jt);
		return rc;
	}
	r->lp_sent[i] += used;
	if (f && !(r->flags[i] & 2)) {
		fin = kiln__openai_finish(f);
		r->finish = fin;
		r->completion_tokens += tokens;
		r->flags[i] |= 2;
	}
	if (jt || fin || role || lp) {
		r->flags[i] |= 1;
		*any = 1;
		rc = ev_add(r, kiln__openai_chunk(&r->ans, i, jt, fin, role,
						  lp));
	} else {
		json_decref(lp);
	}
	return rc;
}

/* Waits for news and turns it into events. The request's version is
 * taken before each look, so a change during the look wakes the next
 * wait at once. */
static int ev_fill(struct req *r)
{
	int n = kiln_batch_choices(r->br), rc = 0, any = 0, st;
	kiln_error err;

	for (;;) {
		kiln_batch_wait(r->br, &r->seen, -1);
		/* the status before the reads: when it says "over", the
		 * reads see every choice's end */
		st = kiln_batch_status(r->br, &err);
		if (st < 0)
			break;
		for (int i = 0; i < n && !rc; i++)
			rc = ev_choice(r, i, &any);
		if (rc || any || st == 1)
			break;
	}
	if (rc)
		return rc;
	if (st < 0) {
		struct apierr e;

		apierr_set(&e, 500, "server_error", "internal_error", NULL,
			   "%s", err.msg);
		rc = ev_add(r, kiln__openai_error(&e));
		goto done;
	}
	if (st == 0)
		return 0;
	if (r->include_usage) {
		json_t *a = kiln__openai_head(&r->ans, 1);

		if (!a || json_object_set_new(a, "choices", json_array()) ||
		    json_object_set_new(a, "usage",
					kiln__openai_usage(r->prompt_tokens,
							   r->completion_tokens)))
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

	r->sent = calloc((size_t)kiln_batch_choices(r->br), sizeof(*r->sent));
	r->flags = calloc((size_t)kiln_batch_choices(r->br), 1);
	r->lp_sent = calloc((size_t)kiln_batch_choices(r->br),
			    sizeof(*r->lp_sent));
	r->ev.max = (size_t)1 << 30;
	if (!r->sent || !r->flags || !r->lp_sent)
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


/* Every prompt of a as token ids: ids[k] (malloc'd) of n_ids[k]. 0, or -1
 * with e filled (a prompt too long for the context, a token id outside
 * the vocabulary: 400). */
static int encode_prompts(struct req *r, const struct kiln__ask *a,
			  int **ids, int *n_ids, struct apierr *e)
{
	const char *param = a->chat ? "messages" : "prompt";
	int T = r->s->m->cfg.n_ctx, V = r->s->m->cfg.vocab, rc;
	kiln_error err;

	for (int k = 0; k < a->n_prompts; k++) {
		const struct kiln__prompt *p = &a->prompts[k];

		if (p->text) {
			rc = kiln_sample_prompt(r->s->tok, p->text,
						strlen(p->text), T, &ids[k],
						&n_ids[k], &err);
		} else {
			n_ids[k] = p->n_ids;
			rc = p->n_ids > T - 1 ? KILN_ELIMIT : 0;
			for (int i = 0; !rc && i < p->n_ids; i++)
				if (p->ids[i] >= V)
					return BAD(e, "invalid_value", param,
						   "prompt %d: token id %d is "
						   "not in the vocabulary (0 .. "
						   "%d)", k, p->ids[i], V - 1);
			if (!rc && !(ids[k] = malloc((size_t)p->n_ids *
						     sizeof(int))))
				rc = kiln_error_set(&err, KILN_ENOMEM,
						    "out of memory");
			if (!rc)
				memcpy(ids[k], p->ids,
				       (size_t)p->n_ids * sizeof(int));
		}
		if (rc == KILN_ELIMIT) {
			char which[32] = "";

			if (a->n_prompts > 1)
				snprintf(which, sizeof(which), " [%d]", k);
			return BAD(e, "context_length_exceeded", param,
				   "This model's maximum context length is %d "
				   "tokens; the prompt%s is %d tokens (at most "
				   "%d leave room for an answer)", T, which,
				   n_ids[k], T - 1);
		}
		if (rc)
			return apierr_set(e, 500, "server_error",
					  "internal_error", NULL, "%s",
					  err.msg);
		r->prompt_tokens += n_ids[k];
	}
	return 0;
}

/* A generation request, parsed, submitted and (unless it streams) waited
 * for: 0 with *ans the answer (NULL for a stream: the request runs on),
 * or -1 with *e the error. may_stream 0: a stream is refused. Shared by
 * the HTTP route and kiln_serve_answer. */
static int generate(struct req *r, int may_stream, json_t **ans,
		    struct apierr *e)
{
	struct kiln_server *s = r->s;
	int T = s->m->cfg.n_ctx, chat = r->route == R_CHAT;
	struct kiln__ask a;
	kiln_error err;
	int *ids[KILN__SERVE_MAX_PROMPTS] = { 0 };
	int n_ids[KILN__SERVE_MAX_PROMPTS] = { 0 };
	int rc, stream, n_prompts;

	*ans = NULL;
	if (kiln__openai_parse(chat, r->body.p, r->body.len, &a, e)) {
		kiln__ask_free(&a);
		return -1;
	}
	if (a.stream && !may_stream) {
		kiln__ask_free(&a);
		return BAD(e, "unsupported_parameter", "stream", "stream: "
			   "true is for HTTP clients; an in-process request "
			   "gets its whole answer");
	}
	r->ans.chat = chat;
	r->include_usage = a.include_usage;
	r->logprobs = a.p.logprobs;
	r->top_logprobs = a.p.top_logprobs;
	r->n = a.n;
	r->best_of = a.best_of;
	if (a.best_of > a.n)
		a.p.logprobs = 1;   /* to rank them */
	n_prompts = a.n_prompts;
	if (encode_prompts(r, &a, ids, n_ids, e)) {
		rc = -1;
		goto refused;
	}
	if (!a.max_given)
		a.p.max_tokens = chat ? T : DEFAULT_COMPLETION_TOKENS;
	if (!a.seed_given)
		a.p.seed = fresh_seed(s);
	snprintf(r->id, sizeof(r->id), "%s-%016" PRIxFAST64 "%08lx",
		 chat ? "chatcmpl" : "cmpl", atomic_fetch_add(&s->ids, 1),
		 (unsigned long)s->started & 0xfffffffful);
	r->ans.id = r->id;
	r->ans.created = (long long)time(NULL);
	r->ans.model = s->model_name;
	rc = kiln_batch_submit_many(s->b, (const int *const *)ids, n_ids,
				    n_prompts, a.best_of, &a.p, &r->br, &err);
	if (rc) {
		if (rc == KILN_ELIMIT)
			apierr_set(e, 503, "server_error", "queue_full", NULL,
				   "the server is busy: %d requests are "
				   "waiting already; try again later",
				   s->cfg.queue);
		else if (rc == KILN_EINVAL && !strcmp(err.msg,
						       "batcher: stopping"))
			apierr_set(e, 503, "server_error", "shutting_down",
				   NULL, "the server is shutting down");
		else
			apierr_set(e, 500, "server_error", "internal_error",
				   NULL, "%s", err.msg);
	}
refused:
	for (int k = 0; k < n_prompts; k++)
		free(ids[k]);
	stream = a.stream;
	kiln__ask_free(&a);
	if (rc)
		return -1;
	if (stream)
		return 0;
	kiln_batch_wait(r->br, NULL, -1);
	rc = kiln_batch_status(r->br, &err);
	if (rc == KILN_EINVAL)
		return apierr_set(e, 503, "server_error", "shutting_down",
				  NULL, "the server is shutting down");
	if (rc < 0)
		return apierr_set(e, 500, "server_error", "internal_error",
				  NULL, "%s", err.msg);
	if (!(*ans = answer_json(r)))
		return apierr_set(e, 500, "server_error", "internal_error",
				  NULL, "out of memory for the answer");
	return 0;
}

static enum MHD_Result handle_generate(struct req *r)
{
	struct apierr e;
	json_t *ans;

	if (generate(r, 1, &ans, &e))
		return send_error(r, &e);
	if (!ans)
		return send_stream(r);
	return send_json(r, MHD_HTTP_OK, ans, NULL, NULL);
}

int kiln_serve_answer(kiln_server *s, const char *path, const char *body,
		      size_t len, unsigned *status, char **answer)
{
	struct req r = { .s = s };
	struct apierr e;
	json_t *ans = NULL;

	*answer = NULL;
	r.route = !path ? R_NONE : !strcmp(path, "/chat/completions") ?
		  R_CHAT : !strcmp(path, "/completions") ? R_COMPLETIONS :
		  R_NONE;
	r.body.p = (char *)body;   /* read only; never freed here */
	r.body.len = len;
	if (r.route != R_CHAT && r.route != R_COMPLETIONS)
		apierr_set(&e, 404, "invalid_request_error", "not_found",
			   NULL, "no route %s: /chat/completions or "
			   "/completions", path ? path : "(null)");
	else if (generate(&r, 0, &ans, &e) == 0)
		e.status = 200;
	kiln_batch_release(r.br);
	if (e.status != 200)
		ans = kiln__openai_error(&e);
	*status = e.status;
	*answer = ans ? json_dumps(ans, JSON_COMPACT) : NULL;
	json_decref(ans);
	return *answer ? 0 : -1;
}

/* ------------------------------------------------------------ routes */

static json_t *model_json(struct req *r)
{
	const kiln_gpt_config *c = &r->s->m->cfg;

	return json_pack("{ss ss sI ss si s{si si si si si sI}}",
		"id", r->s->model_name, "object", "model",
		"created", (json_int_t)r->s->started, "owned_by", "kiln",
		"max_model_len", c->n_ctx, "config",
		"n_layer", c->n_layer, "n_head", c->n_head,
		"d_model", c->d_model, "n_ctx", c->n_ctx, "vocab", c->vocab,
		"n_params", (json_int_t)r->s->m->n_params);
}

static enum MHD_Result handle_models(struct req *r)
{
	return send_json(r, MHD_HTTP_OK, json_pack("{ss s[o]}", "object",
			 "list", "data", model_json(r)), NULL, NULL);
}

/* GET /v1/models/{id}: the served model, or 404 model_not_found. */
static enum MHD_Result handle_model(struct req *r, const char *url)
{
	const char *id = url + strlen(MODELS_PREFIX);
	struct apierr e;

	if (strcmp(id, r->s->model_name)) {
		apierr_set(&e, MHD_HTTP_NOT_FOUND, "invalid_request_error",
			   "model_not_found", "model", "The model '%.200s' "
			   "does not exist: this server serves '%.200s'", id,
			   r->s->model_name);
		return send_error(r, &e);
	}
	return send_json(r, MHD_HTTP_OK, model_json(r), NULL, NULL);
}

static enum MHD_Result handle_health(struct req *r)
{
	int active, queued;

	kiln_batcher_stats(r->s->b, &active, &queued);
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
	if (!strncmp(url, MODELS_PREFIX, strlen(MODELS_PREFIX)) &&
	    url[strlen(MODELS_PREFIX)])
		return R_MODEL;
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
	case R_MODEL:
		return handle_model(r, url);
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
	/* a request still running is cancelled: the client left */
	kiln_batch_release(r->br);
	if (s->cfg.log) {
		char line[400];

		if (r->br)
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
	free(r->lp_sent);
	free(r);
	pthread_mutex_lock(&s->lock);
	if (--s->open == 0)
		pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
}

/* libmicrohttpd's log callback: fmt is its own printf format. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

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

/* A connection whose head the guard checked (guard.c). */
static void pass_to_mhd(void *ctx, int fd, const struct sockaddr *addr,
			socklen_t len)
{
	struct kiln_server *s = ctx;

	/* On failure (the connection limit) MHD closes fd itself. */
	(void)MHD_add_connection(s->d, fd, addr, len);
}

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
	kiln_batcher_config bc;
	kiln_server *s;
	struct kiln__guard_cfg gc = { 0 };
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ITC |
			 MHD_USE_NO_LISTEN_SOCKET;
	int rc, gai;

	*out = NULL;
	if ((rc = kiln__mhd_load(err)))
		return rc;
	if (cfg->port < 0 || cfg->port > 65535 || cfg->max_connections < 1 ||
	    cfg->max_body < 1)
		return kiln_error_set(err, KILN_EINVAL,
			"serve: port must be 0..65535, max_connections and "
			"max_body >= 1");
	s = calloc(1, sizeof(*s));
	if (!s)
		return kiln_error_set(err, KILN_ENOMEM, "serve: out of memory");
	s->m = m;
	s->tok = tok;
	s->cfg = *cfg;
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
	bc.max_batch = cfg->max_batch;
	bc.queue = cfg->queue;
	bc.prefill_chunk = cfg->prefill_chunk;
	if ((rc = kiln_batcher_new(&s->b, m, tok, &bc, err))) {
		kiln_error_prefix(err, "serve: ");
		goto fail;
	}
	s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, MHD_POOL,
		MHD_OPTION_END);
	if (!s->d) {
		rc = kiln_error_set(err, KILN_EIO,
				    "serve: cannot start libmicrohttpd: %s",
				    strerror(errno));
		goto fail;
	}
	gc.max_head = MAX_HEAD;
	gc.max_body = s->cfg.max_body;
	gc.max_checks = cfg->max_connections;
	gc.timeout_s = CONN_TIMEOUT_S;
	gc.pass = pass_to_mhd;
	gc.pass_ctx = s;
	gc.log = s->cfg.log;
	gc.log_ctx = s->cfg.log_ctx;
	if ((rc = kiln__guard_start(&s->g, ai, &gc, err))) {
		kiln_error_prefix(err, "serve: cannot listen on %s port %d: ",
				  s->host, cfg->port);
		goto fail;
	}
	s->port = kiln__guard_port(s->g);
	freeaddrinfo(ai);
	*out = s;
	return 0;
fail:
	if (ai)
		freeaddrinfo(ai);
	kiln_serve_free(s);
	return rc;
}

int kiln_serve_local(kiln_server **out, const kiln_gpt *m,
		     const kiln_tok *tok, const kiln_serve_config *cfg,
		     kiln_error *err)
{
	kiln_batcher_config bc;
	kiln_server *s;
	int rc;

	*out = NULL;
	if (!(s = calloc(1, sizeof(*s))))
		return kiln_error_set(err, KILN_ENOMEM, "serve: out of memory");
	s->m = m;
	s->tok = tok;
	s->cfg = *cfg;
	s->started = time(NULL);
	s->port = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->idle, NULL);
	s->host = strdup("in-process");
	s->model_name = strdup(cfg->model_name ? cfg->model_name : "kiln");
	if (!s->host || !s->model_name) {
		kiln_serve_free(s);
		return kiln_error_set(err, KILN_ENOMEM, "serve: out of memory");
	}
	s->cfg.host = s->host;
	s->cfg.model_name = s->model_name;
	bc.max_batch = cfg->max_batch;
	bc.queue = cfg->queue;
	bc.prefill_chunk = cfg->prefill_chunk;
	if ((rc = kiln_batcher_new(&s->b, m, tok, &bc, err))) {
		kiln_error_prefix(err, "serve: ");
		kiln_serve_free(s);
		return rc;
	}
	*out = s;
	return 0;
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
	kiln__guard_close(s->g); /* new connections are refused now */
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
	/* No more connections for MHD; wake every waiting handler (their
	 * requests fail), then join the connection threads, and only then
	 * free what they use. */
	if (s->g)
		kiln__guard_free(s->g);
	if (s->b)
		kiln_batcher_stop(s->b);
	if (s->d)
		MHD_stop_daemon(s->d);
	if (s->b)
		kiln_batcher_free(s->b);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->lock);
	free(s->host);
	free(s->model_name);
	free(s);
}

