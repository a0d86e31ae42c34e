/* kiln generate: tasks -> requests in the store -> answers -> candidates.
 *
 * The store is the source of truth. A run (1) adds every request the tasks
 * need (adding is idempotent, keyed by task, index and kind), (2) answers
 * pending requests from the cache when an identical request (same hash of
 * backend, path and rendered body) was answered before, (3) sends the rest
 * and commits each answer as it arrives, and (4) writes candidates from the
 * store, in task order and index order, so a run killed and resumed writes
 * exactly what an uninterrupted run would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "kiln/extract.h"
#include "kiln/generate.h"

extern const char kiln__tmpl_solution[], kiln__tmpl_tests[],
	kiln__tmpl_joint[];

const char *kiln_template_default(const char *name)
{
	if (strcmp(name, "solution") == 0)
		return kiln__tmpl_solution;
	if (strcmp(name, "tests") == 0)
		return kiln__tmpl_tests;
	if (strcmp(name, "joint") == 0)
		return kiln__tmpl_joint;
	return NULL;
}

void kiln_generate_opts_default(kiln_generate_opts *o)
{
	memset(o, 0, sizeof(*o));
	kiln_llm_config_default(&o->llm);
	o->k = 1;
	o->test_sets = 1;
	o->temperature = 0.8;
	o->top_p = 0.95;
	o->max_tokens = 1024;
	o->seed = 1234;
}

char *kiln_template_render(const char *tmpl, const json_t *task,
			   kiln_error *err)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	const char *p = tmpl;

	if (!f) {
		kiln_error_set(err, KILN_ENOMEM, "out of memory");
		return NULL;
	}
	while (*p) {
		if (p[0] == '{' && p[1] == '{') {
			fputc('{', f);
			p += 2;
		} else if (p[0] == '}' && p[1] == '}') {
			fputc('}', f);
			p += 2;
		} else if (*p == '{') {
			const char *end = strchr(p, '}');
			char name[64];
			const char *v = NULL;
			size_t n = end ? (size_t)(end - p - 1) : 0;
			if (!end || n == 0 || n >= sizeof(name)) {
				fclose(f);
				free(buf);
				kiln_error_set(err, KILN_EPARSE, "template: "
					       "unclosed or empty '{' at byte "
					       "%ld", (long)(p - tmpl));
				return NULL;
			}
			memcpy(name, p + 1, n);
			name[n] = '\0';
			if (strcmp(name, "prompt") == 0 ||
			    strcmp(name, "entry_point") == 0 ||
			    strcmp(name, "language") == 0) {
				v = json_string_value(json_object_get(task,
								      name));
				if (!v && strcmp(name, "language") == 0)
					v = "python";
				if (!v)
					v = "";
			} else {
				fclose(f);
				free(buf);
				kiln_error_set(err, KILN_EPARSE, "template: "
					       "unknown variable {%s} (known: "
					       "prompt, entry_point, language)",
					       name);
				return NULL;
			}
			fputs(v, f);
			p = end + 1;
		} else {
			fputc(*p++, f);
		}
	}
	if (fclose(f) != 0) {
		free(buf);
		kiln_error_set(err, KILN_ENOMEM, "out of memory");
		return NULL;
	}
	return buf;
}

/* Hex digest of everything that decides the answer. */
static void request_hash(const char *base, const char *path, const char *body,
			 char hex[33])
{
	XXH3_state_t *s = XXH3_createState();
	XXH128_hash_t h;

	XXH3_128bits_reset(s);
	XXH3_128bits_update(s, base, strlen(base));
	XXH3_128bits_update(s, "\n", 1);
	XXH3_128bits_update(s, path, strlen(path));
	XXH3_128bits_update(s, "\n", 1);
	XXH3_128bits_update(s, body, strlen(body));
	h = XXH3_128bits_digest(s);
	XXH3_freeState(s);
	snprintf(hex, 33, "%016llx%016llx", (unsigned long long)h.high64,
		 (unsigned long long)h.low64);
}

/* The JSON body of one request. Keys in a fixed order: the hash of the
 * text is the cache key. */
static char *request_body(const kiln_generate_opts *o, const char *prompt,
			  long seed)
{
	json_t *r = json_object();
	char *text;

	json_object_set_new(r, "model", json_string(o->model ? o->model
							      : "default"));
	if (o->completions)
		json_object_set_new(r, "prompt", json_string(prompt));
	else
		json_object_set_new(r, "messages", json_pack("[{ss ss}]",
			"role", "user", "content", prompt));
	json_object_set_new(r, "temperature", json_real(o->temperature));
	json_object_set_new(r, "top_p", json_real(o->top_p));
	json_object_set_new(r, "max_tokens", json_integer(o->max_tokens));
	json_object_set_new(r, "seed", json_integer(seed));
	json_object_set_new(r, "n", json_integer(1));
	if (o->stop)
		json_object_set_new(r, "stop", json_pack("[s]", o->stop));
	text = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(r);
	return text;
}

/* This run's unanswered jobs. */
struct pending {
	int64_t *ids;
	char **bodies;
	char **hashes;
	char **keys;             /* task, index, kind, hash: see answer_of */
	size_t *task;            /* index into the run's tasks */
	size_t n, cap;
	const json_t *run_hashes;  /* (task, index, kind) -> this run's hash */
	const json_t *task_index;  /* task id -> index */
};

static int collect_pending(void *ctx, const kiln_store_job *j)
{
	struct pending *p = ctx;
	char key[1024];
	const char *mine;

	/* Pending jobs of another configuration (an older template, a task
	 * not in this run) are not this run's to send. */
	snprintf(key, sizeof(key), "%s\x1f%d\x1f%s", j->task_id, j->index,
		 j->kind);
	mine = json_string_value(json_object_get(p->run_hashes, key));
	if (!mine || strcmp(mine, j->hash) != 0)
		return 0;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 256;
		int64_t *ids = realloc(p->ids, cap * sizeof(*ids));
		char **b, **h, **k;
		size_t *t;
		if (ids)
			p->ids = ids;
		b = realloc(p->bodies, cap * sizeof(*b));
		if (b)
			p->bodies = b;
		h = realloc(p->hashes, cap * sizeof(*h));
		if (h)
			p->hashes = h;
		k = realloc(p->keys, cap * sizeof(*k));
		if (k)
			p->keys = k;
		t = realloc(p->task, cap * sizeof(*t));
		if (t)
			p->task = t;
		if (!ids || !b || !h || !k || !t)
			return KILN_ENOMEM;
		p->cap = cap;
	}
	snprintf(key, sizeof(key), "%s\x1f%d\x1f%s\x1f%s", j->task_id,
		 j->index, j->kind, j->hash);
	p->ids[p->n] = j->id;
	p->task[p->n] = (size_t)json_integer_value(json_object_get(
		p->task_index, j->task_id));
	p->bodies[p->n] = strdup(j->request);
	p->hashes[p->n] = strdup(j->hash);
	p->keys[p->n] = strdup(key);
	if (!p->bodies[p->n] || !p->hashes[p->n] || !p->keys[p->n])
		return KILN_ENOMEM;
	p->n++;
	return 0;
}

static void pending_free(struct pending *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->bodies[i]);
		free(p->hashes[i]);
		free(p->keys[i]);
	}
	free(p->ids);
	free(p->bodies);
	free(p->hashes);
	free(p->keys);
	free(p->task);
}

struct run_ctx {
	kiln_store *store;
	const kiln_generate_opts *o;
	kiln_generate_stats *st;
	double t0;
	kiln_error err;
	int rc;
	int in_tx;      /* a transaction is open for the current batch */
	double last_commit;
	struct pending *p;
	const kiln_llm_request *reqs;  /* reqs[k].id is an index into p */
	/* Streaming out: a task's candidates go out once none of its jobs
	 * is outstanding and every task before it has gone out. */
	const json_t *tasks;
	json_t *done, *hashes;
	size_t *outstanding;   /* per task */
	size_t next_task;
	kiln_out *out;
	const char *tmpl_solution;
};

static int emit_ready(struct run_ctx *c, kiln_error *err);

#define COMMIT_EVERY_S 0.02

static double now_s(void);

/* Commits the open batch of answers and writes the tasks it completed. */
static int flush_batch(struct run_ctx *c)
{
	int rc;

	if (!c->in_tx)
		return emit_ready(c, &c->err);
	c->in_tx = 0;
	c->last_commit = now_s();
	if ((rc = kiln_store_commit(c->store, &c->err)))
		return rc;
	return emit_ready(c, &c->err);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int on_result(void *ctx, const kiln_llm_result *r)
{
	struct run_ctx *c = ctx;
	int rc;

	if (!r) {
		/* The end of a batch. Answers become durable together, at
		 * most COMMIT_EVERY_S apart (a commit is the run's largest
		 * cost after the network: per sweep it was ~10% of kiln's
		 * time), then the tasks they completed go out. A kill loses
		 * at most that much time's answers: they are sent again. */
		if (!c->in_tx || now_s() - c->last_commit < COMMIT_EVERY_S)
			return 0;
		return c->rc = flush_batch(c);
	}
	if (!c->in_tx) {
		if ((rc = kiln_store_begin(c->store, &c->err)))
			return c->rc = rc;
		c->in_tx = 1;
	}
	size_t k = (size_t)r->id;   /* index into the pending jobs */
	c->outstanding[c->p->task[k]]--;
	if (r->ok) {
		json_object_set(c->done, c->p->keys[k], (json_t *)r->json);
		rc = kiln_store_finish(c->store, c->p->ids[k], r->body, r->ms,
				       r->attempts, &c->err);
		c->st->sent++;
		c->st->input_tokens += r->input_tokens;
		c->st->output_tokens += r->output_tokens;
	} else {
		char msg[700];
		snprintf(msg, sizeof(msg), "%s (after %d attempt%s)", r->error,
			 r->attempts, r->attempts == 1 ? "" : "s");
		rc = kiln_store_fail(c->store, c->p->ids[k], msg, r->attempts,
				     &c->err);
		c->st->failed++;
	}
	c->st->seconds = now_s() - c->t0;
	if (c->o->progress)
		c->o->progress(c->o->ctx, c->st);
	c->rc = rc;
	return rc; /* a store that cannot write stops the run */
}

static int collect_done(void *ctx, const kiln_store_job *j)
{
	json_t *map = ctx;
	char key[1024];

	snprintf(key, sizeof(key), "%s\x1f%d\x1f%s\x1f%s", j->task_id,
		 j->index, j->kind, j->hash);
	/* Answers are kept parsed; one that no longer parses is as good
	 * as missing (its job is then written as failed to answer). */
	json_t *v = j->answer ? json_loads(j->answer, 0, NULL) : NULL;
	if (!v)
		return 0;
	return json_object_set_new(map, key, v) ? KILN_ENOMEM : 0;
}

/* The text of an answer's first choice. */
static const char *answer_text(const json_t *v)
{
	const json_t *c0;
	const char *t;

	c0 = json_array_get(json_object_get(v, "choices"), 0);
	t = json_string_value(json_object_get(json_object_get(c0, "message"),
					      "content"));
	if (!t)
		t = json_string_value(json_object_get(c0, "text"));
	return t;
}

static json_t *answer_usage(const json_t *answer)
{
	const json_t *u = json_object_get(answer, "usage");
	return json_pack("{sI sI}", "prompt_tokens",
		json_integer_value(json_object_get(u, "prompt_tokens")),
		"completion_tokens",
		json_integer_value(json_object_get(u, "completion_tokens")));
}

/* Writes the candidates of one task. */
/* Removes, in place, every top-level Python definition of `name` (def,
 * async def or class, with its indented body and decorators) from test
 * set-up code. A teacher that repeats the solution beside its tests would
 * otherwise replace the candidate's solution: set-up runs after it. */
static void drop_definition(char *code, const char *name)
{
	size_t nlen = name ? strlen(name) : 0;
	char *r = code, *w = code, *deco = NULL;
	int skipping = 0;

	if (!nlen)
		return;
	while (*r) {
		char *eol = strchr(r, '\n');
		size_t len = eol ? (size_t)(eol - r) + 1 : strlen(r);
		int top = len > 0 && *r != ' ' && *r != '\t' && *r != '\n' &&
			  *r != '\r' && *r != '#';
		const char *p = r;

		if (top) {
			skipping = 0;
			if (strncmp(p, "async ", 6) == 0)
				p += 6;
			if (strncmp(p, "def ", 4) == 0)
				p += 4;
			else if (strncmp(p, "class ", 6) == 0)
				p += 6;
			else
				p = NULL;
			if (p && strncmp(p, name, nlen) == 0 &&
			    (p[nlen] == '(' || p[nlen] == ':' ||
			     p[nlen] == ' ')) {
				skipping = 1;
				if (deco)
					w = deco; /* its decorators go too */
			}
			deco = *r == '@' ? (deco ? deco : w) : NULL;
		}
		if (!skipping) {
			memmove(w, r, len);
			w += len;
		}
		r += len;
	}
	*w = '\0';
}

/* The key of this run's job (task, index, kind) in the map of answers:
 * the request hash is part of it, so answers to other requests (an older
 * template, another temperature) in the same store are not taken. */
static const json_t *answer_of(json_t *done, const json_t *hashes,
			       const char *id, int i, const char *kind)
{
	char key[1024];
	const char *h;

	snprintf(key, sizeof(key), "%s\x1f%d\x1f%s", id, i, kind);
	h = json_string_value(json_object_get(hashes, key));
	if (!h)
		return NULL;
	snprintf(key, sizeof(key), "%s\x1f%d\x1f%s\x1f%s", id, i, kind, h);
	return json_object_get(done, key);
}

static int has_string(const json_t *array, const char *s)
{
	size_t i;
	const json_t *v;

	json_array_foreach(array, i, v)
		if (strcmp(json_string_value(v), s) == 0)
			return 1;
	return 0;
}

/* Appends the test snippets of one answer that are not there already
 * (k answers often repeat the same assert) to `tests`; the first non-empty
 * set-up code, less any definition of the entry point, becomes *preamble.
 * Only the blocks that hold tests are read: an answer may repeat the
 * solution in a block of its own. An answer without tests adds nothing. */
static void pool_tests(const json_t *answer, const char *lang,
		       const char *entry, json_t *tests, json_t **preamble)
{
	const char *text = answer ? answer_text(answer) : NULL;
	char *pre = NULL, **ts = NULL;
	size_t nts = 0;
	kiln_extracted ex;
	kiln_error e2;

	if (!text || kiln_extract_tests(text, strlen(text), lang, &ex, &e2))
		return;
	if (kiln_split_tests(ex.code, strlen(ex.code), lang, &pre, &ts, &nts,
			     &e2) == 0) {
		for (size_t i = 0; i < nts; i++)
			if (!has_string(tests, ts[i]))
				json_array_append_new(tests, json_string(ts[i]));
		if (!*preamble && pre && *pre) {
			drop_definition(pre, entry);
			*preamble = json_string(pre);
		}
		kiln_tests_free(ts, nts);
		free(pre);
	}
	free(ex.code);
}

static int emit_task(const json_t *task, json_t *done, const json_t *hashes,
		     kiln_out *out, const kiln_generate_opts *o,
		     const char *tmpl_solution, kiln_generate_stats *st,
		     kiln_error *err)
{
	const char *id = json_string_value(json_object_get(task, "id"));
	const char *lang = json_string_value(json_object_get(task, "language"));
	const char *entry = json_string_value(json_object_get(task,
							      "entry_point"));
	json_t *tests = json_array(), *preamble = NULL;
	const char *tests_source = "none";
	int rc = 0;

	if (!lang)
		lang = "python";
	/* The teacher's tests, all sets pooled; with joint prompts, also the
	 * tests of every joint answer (each candidate then meets the tests
	 * written beside the other candidates too, as CodeT pools them). */
	for (int j = 0; j < o->test_sets; j++)
		pool_tests(answer_of(done, hashes, id, j, "tests"), lang, entry,
			   tests, &preamble);
	for (int j = 0; o->joint && j < o->k; j++)
		pool_tests(answer_of(done, hashes, id, j, "joint"), lang, entry,
			   tests, &preamble);
	if (json_array_size(tests) > 0) {
		tests_source = "teacher";
	} else if (json_object_get(task, "tests")) {
		json_decref(tests);
		tests = json_deep_copy(json_object_get(task, "tests"));
		tests_source = "task";
	}
	for (int i = 0; i < o->k && !rc; i++) {
		json_t *c;
		const char *text;
		kiln_extracted ex;
		kiln_error e2;

		const json_t *ans = answer_of(done, hashes, id, i, o->joint
					      ? "joint" : "solution");
		if (!ans)
			continue; /* failed: the store says why */
		text = answer_text(ans);
		c = json_pack("{ss si ss}", "id", id, "candidate", i,
			      "language", lang);
		json_object_set(c, "entry_point",
				json_object_get(task, "entry_point"));
		if (!json_object_get(c, "entry_point"))
			json_object_del(c, "entry_point");
		if (text && o->completions) {
			/* A completion continues the prompt: the program is
			 * both together (as HumanEval is scored). */
			char *prompt = kiln_template_render(tmpl_solution, task,
							    NULL);
			size_t np = prompt ? strlen(prompt) : 0;
			char *code = malloc(np + strlen(text) + 1);
			if (code) {
				memcpy(code, prompt ? prompt : "", np);
				strcpy(code + np, text);
				json_object_set_new(c, "solution",
						    json_string(code));
			}
			json_object_set_new(c, "extraction", json_pack(
				"{ss}", "how", "completion"));
			free(code);
			free(prompt);
		} else if (text && kiln_extract_code(text, strlen(text), lang,
						     &ex, &e2) == 0) {
			json_object_set_new(c, "solution", json_string(ex.code));
			json_object_set_new(c, "extraction", json_pack(
				"{ss si sb}", "how", ex.how, "blocks",
				ex.blocks, "truncated", ex.truncated));
			free(ex.code);
		} else {
			json_object_set_new(c, "solution", json_string(""));
			json_object_set_new(c, "extraction", json_pack(
				"{ss}", "error", text ? e2.msg
				: "the answer has no text"));
			st->extract_errors++;
		}
		json_object_set(c, "tests", tests);
		if (preamble && strcmp(tests_source, "teacher") == 0)
			json_object_set(c, "test_setup", preamble);
		else if (strcmp(tests_source, "task") == 0 &&
			 json_object_get(task, "test_setup"))
			json_object_set(c, "test_setup",
					json_object_get(task, "test_setup"));
		json_object_set_new(c, "tests_source",
				    json_string(tests_source));
		json_object_set_new(c, "teacher", json_pack(
			"{ss ss ss sf sf si sI}", "backend", "openai",
			"url", o->llm.base_url, "model",
			o->model ? o->model : "default",
			"temperature", o->temperature, "top_p", o->top_p,
			"max_tokens", o->max_tokens,
			"seed", (json_int_t)(o->seed + i)));
		if (o->joint)
			json_object_set_new(json_object_get(c, "teacher"),
					    "prompt", json_string("joint"));
		json_object_set_new(c, "usage", answer_usage(ans));
		json_object_set_new(c, "origin", json_string("synthetic"));
		json_object_set(c, "task_source", json_object_get(task,
								  "source"));
		if (json_is_null(json_object_get(c, "task_source")) ||
		    !json_object_get(c, "task_source"))
			json_object_del(c, "task_source");
		rc = kiln_out_write(out, c, err);
		st->candidates++;
		json_decref(c);
	}
	json_decref(tests);
	json_decref(preamble);
	return rc;
}

int kiln_generate(const json_t *tasks, kiln_store *store, kiln_out *out,
		  const kiln_generate_opts *o, kiln_generate_stats *st,
		  kiln_error *err)
{
	const char *path = o->completions ? "/completions" : "/chat/completions";
	/* A completion model continues the task's prompt as it is. */
	const char *ts = o->joint ? (o->tmpl_joint ? o->tmpl_joint
				     : kiln_template_default("joint"))
		: o->tmpl_solution ? o->tmpl_solution
		: o->completions ? "{prompt}"
		: kiln_template_default("solution");
	const char *tt = o->tmpl_tests ? o->tmpl_tests
		: kiln_template_default("tests");
	/* Joint: one answer holds a solution and its tests. */
	const char *kind0 = o->joint ? "joint" : "solution";
	struct pending p = { 0 };
	kiln_llm_request *reqs = NULL;
	struct run_ctx c = { 0 };
	kiln_llm *llm = NULL;
	json_t *done = NULL, *task, *hashes = json_object(), *tindex = NULL;
	size_t *outstanding = NULL;
	size_t ti, nreq = 0;
	int rc = 0;

	memset(st, 0, sizeof(*st));
	c.t0 = now_s();
	if (o->joint && o->completions) {
		rc = kiln_error_set(err, KILN_EINVAL, "joint prompts need "
				    "chat completions, not --completions");
		goto out;
	}
	/* 1. Every request the tasks need, into the store, in one go. */
	if ((rc = kiln_store_begin(store, err)))
		goto out;
	json_array_foreach(tasks, ti, task) {
		const char *id = json_string_value(json_object_get(task, "id"));
		for (int kind = 0; kind < 2 && !rc; kind++) {
			int count = kind == 0 ? o->k : o->test_sets;
			char *prompt;
			if (!id) {
				rc = kiln_error_set(err, KILN_EPARSE,
					"task %zu: field 'id' must be a "
					"string", ti + 1);
				goto out;
			}
			if (count <= 0)
				continue;
			prompt = kiln_template_render(kind == 0 ? ts : tt,
						      task, err);
			if (!prompt) {
				rc = kiln_error_prefix(err, "task %s: ", id);
				goto out;
			}
			for (int i = 0; i < count && !rc; i++) {
				char *body = request_body(o, prompt,
							  o->seed + i);
				char hex[33], key[1024];
				if (!body) {
					rc = kiln_error_set(err, KILN_ENOMEM,
							    "out of memory");
					break;
				}
				request_hash(o->llm.base_url, path, body, hex);
				snprintf(key, sizeof(key), "%s\x1f%d\x1f%s", id,
					 i, kind == 0 ? kind0 : "tests");
				json_object_set_new(hashes, key,
						    json_string(hex));
				rc = kiln_store_add(store, id, i, kind == 0
						    ? kind0 : "tests",
						    body, hex, NULL, err);
				free(body);
				st->jobs++;
			}
			free(prompt);
		}
		if (rc) {
			kiln_store_commit(store, NULL);
			goto out;
		}
	}
	if ((rc = kiln_store_commit(store, err)))
		goto out;
	if (!hashes) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		goto out;
	}
	if (o->retry_failed) {
		long n;
		if ((rc = kiln_store_retry_failed(store, &n, err)))
			goto out;
	}

	/* 2. This run's pending jobs: from the cache, or to send. */
	tindex = json_object();
	json_array_foreach(tasks, ti, task)
		json_object_set_new(tindex, json_string_value(json_object_get(
			task, "id")), json_integer((json_int_t)ti));
	p.run_hashes = hashes;
	p.task_index = tindex;
	rc = kiln_store_each(store, KILN_JOB_PENDING, collect_pending, &p, err);
	if (rc) {
		if (rc == KILN_ENOMEM)
			kiln_error_set(err, rc, "out of memory");
		goto out;
	}
	st->already = st->jobs - (long)p.n;
	/* What is answered already (earlier runs), for the candidates. */
	done = json_object();
	outstanding = calloc(json_array_size(tasks) + 1, sizeof(*outstanding));
	reqs = calloc(p.n ? p.n : 1, sizeof(*reqs));
	if (!done || !outstanding || !reqs || !tindex) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = kiln_store_each(store, KILN_JOB_DONE, collect_done, done,
				  err)))
		goto out;
	if ((rc = kiln_store_begin(store, err)))
		goto out;
	for (size_t i = 0; i < p.n; i++) {
		char *ans = NULL;
		if (!o->no_cache &&
		    (rc = kiln_store_cached(store, p.hashes[i], &ans, err)))
			break;
		if (ans) {
			rc = kiln_store_finish(store, p.ids[i], ans, 0, 0, err);
			json_t *parsed = json_loads(ans, 0, NULL);
			if (parsed)
				json_object_set_new(done, p.keys[i], parsed);
			free(ans);
			if (rc)
				break;
			st->cached++;
			continue;
		}
		reqs[nreq].id = (int64_t)i;
		reqs[nreq].path = path;
		reqs[nreq].body = p.bodies[i];
		outstanding[p.task[i]]++;
		nreq++;
	}
	if (rc) {
		kiln_store_commit(store, NULL);
		goto out;
	}
	if ((rc = kiln_store_commit(store, err)))
		goto out;

	/* 3. Send; answers are committed a batch at a time as they arrive,
	 * and each task's candidates go out, in task order, as soon as the
	 * task is complete. */
	c.store = store;
	c.o = o;
	c.st = st;
	c.p = &p;
	c.reqs = reqs;
	c.tasks = tasks;
	c.done = done;
	c.hashes = hashes;
	c.outstanding = outstanding;
	c.out = out;
	c.tmpl_solution = ts;
	if ((rc = emit_ready(&c, err)))
		goto out;
	if (nreq) {
		if ((rc = kiln_llm_open(&llm, &o->llm, err)))
			goto out;
		rc = kiln_llm_run(llm, reqs, nreq, on_result, &c, err);
		if (!rc && !c.rc)
			c.rc = flush_batch(&c);
		if (c.rc) {
			rc = c.rc;
			if (err)
				*err = c.err;
		}
		if (rc)
			goto out;
	}
	/* 4. Whatever is left (all of it, when nothing was sent). */
	rc = emit_ready(&c, err);
out:
	st->seconds = now_s() - c.t0;
	kiln_llm_close(llm);
	json_decref(done);
	json_decref(hashes);
	json_decref(tindex);
	free(outstanding);
	free(reqs);
	pending_free(&p);
	return rc;
}

static int emit_ready(struct run_ctx *c, kiln_error *err)
{
	size_t n = json_array_size(c->tasks);
	int rc;

	while (c->next_task < n && c->outstanding[c->next_task] == 0) {
		rc = emit_task(json_array_get(c->tasks, c->next_task), c->done,
			       c->hashes, c->out, c->o, c->tmpl_solution,
			       c->st, err);
		if (rc)
			return rc;
		c->next_task++;
	}
	return 0;
}
