/* The in-process teacher: kiln_llm over `local:MODEL.bin`.
 *
 * kiln's own model answers the same OpenAI requests kiln serve would, in
 * this process and with no HTTP: the checkpoint is opened once
 * (kiln_model_open), a server without a socket batches the requests
 * (kiln_serve_local: the same continuous batching and the same answer
 * JSON as kiln serve), and `concurrency` worker threads each carry one
 * request at a time through kiln_serve_answer, which blocks until the
 * answer is whole. The run's own thread does what kiln_llm_run_stream
 * promises its caller: it takes requests from the source and reports
 * every result (and the end of each batch of them) on that thread.
 *
 * An in-process request is not retried: nothing between kiln and the
 * model can fail and then pass (a refused request, e.g. a prompt too long
 * for the model's context, would be refused again). The rate limits are
 * for servers and do not apply.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <xxhash.h>

#include "kiln/model.h"
#include "kiln/serve.h"
#include "kiln/tokenizer.h"
#include "llm/llm_int.h"

struct job {
	struct job *next;
	kiln_llm_request req;
	kiln_llm_result res;
	char *answer;          /* the JSON text; res.body when ok */
	char why[700];         /* res.error when not */
	struct timespec t0;
};

struct kiln__local {
	kiln_gpt *m;
	kiln_tok *tok;
	kiln_server *srv;
	pthread_mutex_t mu;
	pthread_cond_t work;   /* todo has a job, or quit */
	pthread_cond_t done;   /* done has a job, or a wake-up */
	struct job *todo, **todo_tail, *fin, **fin_tail;
	int quit, woken;
};

int kiln__local_open(const char *path, const kiln_llm_config *cfg,
		     struct kiln__local **out, kiln_error *err)
{
	struct kiln__local *lc = calloc(1, sizeof(*lc));
	kiln_serve_config sc;
	int rc;

	*out = NULL;
	if (!lc)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	if (!*path) {
		free(lc);
		return kiln_error_set(err, KILN_EINVAL, "backend local: names "
				      "no checkpoint (local:MODEL.bin)");
	}
	if ((rc = kiln_model_open(path, &lc->m, &lc->tok, NULL, NULL, err))) {
		free(lc);
		return kiln_error_prefix(err, "backend local: ");
	}
	kiln_serve_config_default(&sc);
	/* as kiln serve's defaults (8 sequences decoded together); every
	 * request in flight may wait for a slot */
	if (cfg->concurrency > sc.queue)
		sc.queue = cfg->concurrency;
	sc.model_name = "local";
	if ((rc = kiln_serve_local(&lc->srv, lc->m, lc->tok, &sc, err))) {
		kiln_tok_free(lc->tok);
		kiln_gpt_free(lc->m);
		free(lc);
		return kiln_error_prefix(err, "backend local: ");
	}
	pthread_mutex_init(&lc->mu, NULL);
	pthread_cond_init(&lc->work, NULL);
	pthread_cond_init(&lc->done, NULL);
	*out = lc;
	return 0;
}

int kiln_llm_backend_key(const char *base_url, char *out, size_t n,
			 kiln_error *err)
{
	const char *path;
	XXH3_state_t *x;
	XXH128_hash_t h;
	char buf[1 << 16];
	size_t got;
	FILE *f;

	if (!base_url || strncmp(base_url, KILN_LLM_LOCAL_PREFIX,
				 strlen(KILN_LLM_LOCAL_PREFIX))) {
		snprintf(out, n, "%s", base_url ? base_url : "");
		return 0;
	}
	path = base_url + strlen(KILN_LLM_LOCAL_PREFIX);
	if (!(f = fopen(path, "rb")))
		return kiln_error_set(err, KILN_EIO, "backend local:%s: %s",
				      path, strerror(errno));
	if (!(x = XXH3_createState())) {
		fclose(f);
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	}
	XXH3_128bits_reset(x);
	while ((got = fread(buf, 1, sizeof buf, f)) > 0)
		XXH3_128bits_update(x, buf, got);
	if (ferror(f)) {
		XXH3_freeState(x);
		fclose(f);
		return kiln_error_set(err, KILN_EIO, "backend local:%s: read "
				      "error", path);
	}
	fclose(f);
	h = XXH3_128bits_digest(x);
	XXH3_freeState(x);
	snprintf(out, n, "local:xxh3-128:%016llx%016llx",
		 (unsigned long long)h.high64, (unsigned long long)h.low64);
	return 0;
}

void kiln__local_close(struct kiln__local *lc)
{
	if (!lc)
		return;
	kiln_serve_free(lc->srv);
	kiln_tok_free(lc->tok);
	kiln_gpt_free(lc->m);
	pthread_cond_destroy(&lc->work);
	pthread_cond_destroy(&lc->done);
	pthread_mutex_destroy(&lc->mu);
	free(lc);
}

void kiln__local_wakeup(struct kiln__local *lc)
{
	pthread_mutex_lock(&lc->mu);
	lc->woken = 1;
	pthread_cond_signal(&lc->done);
	pthread_mutex_unlock(&lc->mu);
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 +
	       (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* One request through the model: j->res filled. Worker thread. */
static void answer(struct kiln__local *lc, struct job *j)
{
	kiln_llm_result *r = &j->res;
	unsigned status = 0;
	json_error_t je;
	kiln_error e;

	r->id = j->req.id;
	r->attempts = 1;
	r->input_tokens = r->output_tokens = -1;
	if (kiln_serve_answer(lc->srv, j->req.path, j->req.body,
			      strlen(j->req.body), &status, &j->answer)) {
		snprintf(j->why, sizeof(j->why), "in-process teacher: out of "
			 "memory");
	} else if (status != 200) {
		json_t *a = json_loads(j->answer, 0, NULL);
		const char *msg = json_string_value(json_object_get(
			json_object_get(a, "error"), "message"));

		snprintf(j->why, sizeof(j->why), "in-process teacher: HTTP %u "
			 "(as kiln serve would answer): %s", status,
			 msg ? msg : j->answer);
		json_decref(a);
	} else if (kiln_llm_check_answer(j->answer, strlen(j->answer),
					 &r->input_tokens, &r->output_tokens,
					 &e) != 0) {
		snprintf(j->why, sizeof(j->why), "in-process teacher: %s",
			 e.msg);
	} else if (!(r->json = json_loads(j->answer, JSON_ALLOW_NUL, &je))) {
		/* the answer's text may hold any character, NUL included,
		 * as a server's may: the candidate is told so, not lost */
		snprintf(j->why, sizeof(j->why), "in-process teacher: its "
			 "answer does not parse: %s", je.text);
	} else {
		r->ok = 1;
		r->body = j->answer;
	}
	r->http_status = status;
	if (!r->ok)
		r->error = j->why;
	r->ms = ms_since(&j->t0);
}

static void *worker(void *arg)
{
	struct kiln__local *lc = arg;

	pthread_mutex_lock(&lc->mu);
	for (;;) {
		struct job *j;

		while (!lc->todo && !lc->quit)
			pthread_cond_wait(&lc->work, &lc->mu);
		if (!(j = lc->todo))
			break;
		if (!(lc->todo = j->next))
			lc->todo_tail = &lc->todo;
		pthread_mutex_unlock(&lc->mu);
		answer(lc, j);
		pthread_mutex_lock(&lc->mu);
		j->next = NULL;
		*lc->fin_tail = j;
		lc->fin_tail = &j->next;
		pthread_cond_signal(&lc->done);
	}
	pthread_mutex_unlock(&lc->mu);
	return NULL;
}

static void job_free(struct job *j)
{
	json_decref(j->res.json);
	free(j->answer);
	free(j);
}

int kiln__local_run(struct kiln__local *lc, int conc,
		    kiln_llm_source_fn next, void *src,
		    kiln_llm_done_fn done_fn, void *ctx, kiln_error *err)
{
	pthread_t *th = calloc((size_t)conc, sizeof(*th));
	int nth = 0, inflight = 0, ended = 0, stop = 0, rc = 0;

	if (!th)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	lc->todo = lc->fin = NULL;
	lc->todo_tail = &lc->todo;
	lc->fin_tail = &lc->fin;
	lc->quit = 0;
	while (nth < conc && pthread_create(&th[nth], NULL, worker, lc) == 0)
		nth++;
	if (nth == 0) {
		free(th);
		return kiln_error_set(err, KILN_ENOMEM, "cannot start a thread "
				      "for the in-process teacher");
	}
	pthread_mutex_lock(&lc->mu);
	for (;;) {
		struct job *list;
		int n = 0;

		/* feed: the source is called on this thread, unlocked */
		while (!ended && !stop && inflight < nth) {
			struct job *j = calloc(1, sizeof(*j));
			int got;

			pthread_mutex_unlock(&lc->mu);
			got = j ? next(src, &j->req) : -2;
			pthread_mutex_lock(&lc->mu);
			if (got > 0) {
				clock_gettime(CLOCK_MONOTONIC, &j->t0);
				*lc->todo_tail = j;
				lc->todo_tail = &j->next;
				inflight++;
				pthread_cond_signal(&lc->work);
				continue;
			}
			free(j);
			if (got == -2) {
				rc = kiln_error_set(err, KILN_ENOMEM,
						    "out of memory");
				stop = 1;
			} else if (got < 0) {
				ended = 1;
			}
			break;
		}
		/* report: on this thread, unlocked */
		if ((list = lc->fin)) {
			lc->fin = NULL;
			lc->fin_tail = &lc->fin;
			pthread_mutex_unlock(&lc->mu);
			while (list) {
				struct job *j = list;

				list = j->next;
				if (!stop && done_fn && done_fn(ctx, &j->res))
					stop = 1;
				job_free(j);
				n++;
			}
			if (!stop && done_fn && done_fn(ctx, NULL))
				stop = 1;
			pthread_mutex_lock(&lc->mu);
			inflight -= n;
			continue;
		}
		if (stop) {   /* what no worker took yet is dropped */
			while (lc->todo) {
				struct job *j = lc->todo;
				lc->todo = j->next;
				job_free(j);
				inflight--;
			}
			lc->todo_tail = &lc->todo;
		}
		if ((ended || stop) && inflight == 0)
			break;
		if (!lc->woken)
			pthread_cond_wait(&lc->done, &lc->mu);
		lc->woken = 0;
	}
	lc->quit = 1;
	pthread_cond_broadcast(&lc->work);
	pthread_mutex_unlock(&lc->mu);
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	free(th);
	if (stop && !rc)
		rc = kiln_error_set(err, KILN_EINVAL, "stopped by the caller");
	return rc;
}
