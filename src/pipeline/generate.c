/* kiln generate: tasks -> teacher requests -> candidates.
 *
 * The stage half of generate: what to ask the teacher for each task (k
 * solutions in ceil(k / n) requests of n choices, and test sets), and how
 * the answers become candidate records. The asking itself (the store,
 * cache, retries, resume, threads) is the teacher engine's
 * (src/pipeline/teacher.c, kiln/teacher.h): this file gives it callbacks.
 *
 * Slots. A task's requests are the engine's slots, in the order added:
 * ceil(k / n) solution (or joint) requests, then the test requests, then
 * any follow-ups. Each slot's tag says what it is: solution request i
 * (candidates i*n ..), test request j, or a follow-up that asks for the
 * choices a request left out (a server that answers fewer choices than
 * n). Choices are matched to candidates by their "index", not their place
 * in the array. A follow-up is request ceil(k / n) + f (f: the task's
 * follow-ups before it), sent with seed + that index, so no two requests
 * of a task share a seed.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "kiln/code.h"
#include "kiln/generate.h"
#include "kiln/sandbox.h"
#include "kiln/template.h"
#include "pipeline/pipeline_int.h"
#include "util/buf.h"

void kiln_generate_opts_default(kiln_generate_opts *o)
{
	memset(o, 0, sizeof(*o));
	kiln_llm_config_default(&o->llm);
	o->k = 1;
	o->n = 1;
	o->test_sets = 1;
	o->temperature = 0.8;
	o->top_p = 0.95;
	o->max_tokens = 1024;
	o->seed = 1234;
}

/* The JSON body of one request (kiln__request_body, pipeline_int.h).
 * Keys in a fixed order: the hash of the text is the cache key. */
char *kiln__request_body(const kiln_generate_opts *o, const char *prompt,
			 long seed, int n)
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
	json_object_set_new(r, "n", json_integer(n));
	if (o->best_of > 1)   /* absent otherwise: older cache keys hold */
		json_object_set_new(r, "best_of",
				    json_integer((json_int_t)o->best_of * n));
	if (o->stop)
		json_object_set_new(r, "stop", json_pack("[s]", o->stop));
	text = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(r);
	return text;
}

/* kiln__request_body() for many prompts at the speed of string copies:
 * the body is cut, once, around a marker prompt and a marker seed into
 * three constant pieces; a body is then piece 0, the prompt as jansson
 * escapes it, piece 1, the seed as jansson prints it, piece 2. The text
 * is kiln__request_body()'s byte for byte, so request hashes (cache keys)
 * do not depend on which of the two made it. */
struct body_tmpl {
	char *text;          /* kiln__request_body() of the markers */
	const char *piece[3];
	size_t len[3];
};

#define MARK_SEED 7316498250137LL

static int body_tmpl_init(struct body_tmpl *bt, const kiln_generate_opts *o)
{
	static const char mark_prompt[] = "\x01kiln-prompt\x01";
	static const char esc_prompt[] = "\"\\u0001kiln-prompt\\u0001\"";
	char seed[32], *p, *q;

	memset(bt, 0, sizeof(*bt));
	bt->text = kiln__request_body(o, mark_prompt, MARK_SEED, o->n);
	snprintf(seed, sizeof(seed), ":%" JSON_INTEGER_FORMAT ",",
		 (json_int_t)MARK_SEED);
	if (!bt->text || !(p = strstr(bt->text, esc_prompt)) ||
	    strstr(p + 1, esc_prompt) || !(q = strstr(p, seed)))
		return -1; /* cannot happen; the caller falls back */
	bt->piece[0] = bt->text;
	bt->len[0] = (size_t)(p - bt->text);
	bt->piece[1] = p + strlen(esc_prompt);
	bt->len[1] = (size_t)(q + 1 - bt->piece[1]);
	bt->piece[2] = q + strlen(seed) - 1;
	bt->len[2] = strlen(bt->piece[2]);
	return 0;
}

static char *body_from_tmpl(const struct body_tmpl *bt, const char *prompt,
			    long seed)
{
	json_t *js = json_string(prompt);
	char *esc = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL, num[32];
	kiln_buf b = { .max = (size_t)-1 / 2 };
	int rc;

	json_decref(js);
	if (!esc)
		return NULL;
	snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, (json_int_t)seed);
	rc = kiln__buf_add(&b, bt->piece[0], bt->len[0]) ||
	     kiln__buf_add(&b, esc, strlen(esc)) ||
	     kiln__buf_add(&b, bt->piece[1], bt->len[1]) ||
	     kiln__buf_add(&b, num, strlen(num)) ||
	     kiln__buf_add(&b, bt->piece[2], bt->len[2]);
	free(esc);
	if (rc) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* The pieces must give what kiln__request_body() gives (they would not
 * if, say, the model name held the marker): checked on a probe. */
static int body_tmpl_check(const struct body_tmpl *bt,
			   const kiln_generate_opts *o)
{
	static const char probe[] = "a \"quoted\"\n\tprompt \\ {x} \xc3\xa9";
	char *want = kiln__request_body(o, probe, -42, o->n);
	char *got = body_from_tmpl(bt, probe, -42);
	int same = want && got && strcmp(want, got) == 0;

	free(want);
	free(got);
	return same ? 0 : -1;
}


/* A slot's tag: what the request is (low 2 bits) and a number. */
enum { TAG_SOLUTION = 0, TAG_TESTS = 1, TAG_MORE = 2 };
#define TAG(kind, v) ((long)(v) * 4 + (kind))
#define TAG_KIND(t) ((int)((t) & 3))
#define TAG_VAL(t) ((t) / 4)

struct gen {
	const json_t *tasks;
	const kiln_generate_opts *o;
	kiln_generate_stats *st;
	kiln_out *out;
	const char *tmpl_solution, *tmpl_tests, *kind0;
	struct body_tmpl bt;
	int bt_ok;
	int nreq0;             /* solution (or joint) requests per task */
};

/* Choices that solution request i of a task asks for. */
static int choices_of(const kiln_generate_opts *o, int i)
{
	int left = o->k - i * o->n;

	return left < o->n ? left : o->n;
}

static const char *task_id(void *ctx, size_t ti)
{
	struct gen *g = ctx;
	return json_string_value(json_object_get(json_array_get(g->tasks, ti),
						 "id"));
}

/* The text of a choice: NULL when it has none, or when it holds a NUL
 * byte (*nul then set), which no code or test of kiln's can hold. */
static const char *choice_text_nul(const json_t *c0, int *nul)
{
	const json_t *s = json_object_get(json_object_get(c0, "message"),
					  "content");
	if (!json_is_string(s))
		s = json_object_get(c0, "text");
	return kiln__text_value(s, nul);
}

static const char *choice_text(const json_t *c0)
{
	int nul;

	return choice_text_nul(c0, &nul);
}

/* Whether an answer's choices are numbered as the API says: each an
 * integer "index" in [0, asked), none twice. */
static int indexed(const json_t *cs, size_t asked)
{
	unsigned char seen[128] = { 0 }, *mark = seen;
	const json_t *c0;
	size_t j;
	int ok = 1;

	if (asked > sizeof(seen) && !(mark = calloc(asked, 1)))
		return 0;
	json_array_foreach(cs, j, c0) {
		const json_t *ix = json_object_get(c0, "index");
		json_int_t v = json_integer_value(ix);

		if (!json_is_integer(ix) || v < 0 || (size_t)v >= asked ||
		    mark[v]) {
			ok = 0;
			break;
		}
		mark[v] = 1;
	}
	if (mark != seen)
		free(mark);
	return ok;
}

/* Choice i of an answer to a request for `asked` choices: the one whose
 * "index" is i, or, where the server numbers its choices otherwise (no
 * index, 1-based, repeated), the i-th. NULL when there is none. */
static const json_t *choice_at(const json_t *answer, size_t i, size_t asked)
{
	const json_t *cs = json_object_get(answer, "choices"), *c0;
	size_t j;

	if (!indexed(cs, asked))
		return json_array_get(cs, i);
	json_array_foreach(cs, j, c0)
		if (json_integer_value(json_object_get(c0, "index")) ==
		    (json_int_t)i)
			return c0;
	return NULL;
}

/* The request's usage; unknown counts are null, not 0. */
static json_t *answer_usage(const json_t *answer)
{
	const json_t *u = json_object_get(answer, "usage");
	const json_t *in = json_object_get(u, "prompt_tokens");
	const json_t *out = json_object_get(u, "completion_tokens");

	if (!json_is_object(u))
		return json_null();
	return json_pack("{sO sO}", "prompt_tokens",
			 json_is_integer(in) ? in : json_null(),
			 "completion_tokens",
			 json_is_integer(out) ? out : json_null());
}

/* Where each candidate of a task comes from, worked out from its slots:
 * cand[j] = the slot and the choice (the choice object), or slot -1. */
struct source {
	long slot;
	const json_t *choice;
};

/* Per slot: the candidates it asked for, in choice order, and how many of
 * them its answer gave. */
struct asked {
	int *cand, n, got;
	long req;              /* the request's index: its seed is seed + req */
};

static void asked_free(struct asked *a, size_t n)
{
	for (size_t s = 0; a && s < n; s++)
		free(a[s].cand);
	free(a);
}

/* Fills cand (o->k entries) and, per slot, what it asked for. A follow-up
 * asks for what its parent left out, in candidate order. */
static int map_choices(const struct gen *g, const kiln_teacher_slot *slots,
		       size_t n, struct source *cand, struct asked **out)
{
	const kiln_generate_opts *o = g->o;
	struct asked *a = calloc(n + 1, sizeof(*a));
	long more = 0;

	*out = a;
	if (!a)
		return KILN_ENOMEM;
	for (int j = 0; j < o->k; j++)
		cand[j] = (struct source){ .slot = -1 };
	for (size_t s = 0; s < n; s++) {
		long tag = slots[s].tag, p;
		int m = 0;

		switch (TAG_KIND(tag)) {
		case TAG_SOLUTION:
			m = choices_of(o, (int)TAG_VAL(tag));
			a[s].req = TAG_VAL(tag);
			if (!(a[s].cand = malloc(((size_t)m + 1) *
						 sizeof(int))))
				return KILN_ENOMEM;
			for (int i = 0; i < m; i++)
				a[s].cand[i] = (int)TAG_VAL(tag) * o->n + i;
			break;
		case TAG_MORE:
			p = TAG_VAL(tag);
			a[s].req = g->nreq0 + more++;
			if (p < 0 || (size_t)p >= s)
				continue;
			m = a[p].n - a[p].got;
			if (!(a[s].cand = malloc(((size_t)m + 1) *
						 sizeof(int))))
				return KILN_ENOMEM;
			m = 0;
			for (int i = 0; i < a[p].n; i++)
				if (cand[a[p].cand[i]].slot < 0)
					a[s].cand[m++] = a[p].cand[i];
			break;
		default:
			continue;
		}
		a[s].n = m;
		for (int i = 0; i < m && slots[s].answer; i++) {
			const json_t *c0 = choice_at(slots[s].answer,
						     (size_t)i, (size_t)m);
			if (c0 && cand[a[s].cand[i]].slot < 0) {
				cand[a[s].cand[i]] = (struct source){
					.slot = (long)s, .choice = c0 };
				a[s].got++;
			}
		}
	}
	return 0;
}

/* The body of request index req, asking for n choices. */
static char *make_body(const struct gen *g, const char *prompt, long req,
		       int n)
{
	return g->bt_ok && n == g->o->n
		? body_from_tmpl(&g->bt, prompt, g->o->seed + req)
		: kiln__request_body(g->o, prompt, g->o->seed + req, n);
}

/* begin: a task's solution (or joint) requests, then its test requests. */
static int begin_task(void *ctx, kiln_teacher *t, size_t ti, kiln_error *err)
{
	struct gen *g = ctx;
	const kiln_generate_opts *o = g->o;
	const json_t *task = json_array_get(g->tasks, ti);
	const char *id = task_id(g, ti);
	int rc = 0;

	for (int kind = 0; kind < 2 && !rc; kind++) {
		int count = kind == 0 ? g->nreq0 : o->test_sets;
		const char *kname = kind == 0 ? g->kind0 : "tests";
		char *prompt;

		if (count <= 0)
			continue;
		prompt = kiln_template_render(kind == 0 ? g->tmpl_solution
					      : g->tmpl_tests, task, err);
		if (!prompt)
			return kiln_error_prefix(err, "task %s: ", id);
		/* request i of a task's solutions asks for choices
		 * i*n .. i*n+n-1 (the last one for what is left); a test
		 * request for one */
		for (int i = 0; i < count && !rc; i++)
			rc = kiln_teacher_add(t, ti, kname, i,
				make_body(g, prompt, i, kind == 0
					  ? choices_of(o, i) : 1),
				kind == 0 ? TAG(TAG_SOLUTION, i)
					  : TAG(TAG_TESTS, i), err);
		free(prompt);
	}
	return rc;
}

/* settled: an answer with fewer choices than it asked for (a server that
 * ignores n, or caps it) gets a follow-up for the rest, as long as each
 * answer gives at least one: the candidates are then all there. */
static int settled_task(void *ctx, kiln_teacher *t, size_t ti,
			const kiln_teacher_slot *slots, size_t n,
			kiln_error *err)
{
	struct gen *g = ctx;
	const kiln_generate_opts *o = g->o;
	struct source *cand = calloc((size_t)o->k + 1, sizeof(*cand));
	struct asked *a = NULL;
	long *want = calloc(2 * n + 1, sizeof(*want)), nmore = 0, nwant = 0;
	char *prompt = NULL;
	int rc = 0;

	if (!cand || !want || map_choices(g, slots, n, cand, &a)) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t s = 0; s < n; s++)
		if (TAG_KIND(slots[s].tag) == TAG_MORE)
			a[TAG_VAL(slots[s].tag)].n = -1; /* has one */
	/* slots is the engine's: read it all before adding */
	for (size_t s = 0; s < n; s++) {
		if (TAG_KIND(slots[s].tag) == TAG_MORE)
			nmore++;
		if (!slots[s].answer || a[s].n <= 0 || a[s].got == a[s].n)
			continue;
		g->st->short_answers++;
		if (a[s].got == 0)
			continue; /* no progress: asking again would not help */
		want[2 * nwant] = (long)s;
		want[2 * nwant + 1] = a[s].n - a[s].got;
		nwant++;
	}
	if (nwant && !(prompt = kiln_template_render(g->tmpl_solution,
			json_array_get(g->tasks, ti), err))) {
		rc = kiln_error_prefix(err, "task %s: ", task_id(g, ti));
		goto out;
	}
	for (long w = 0; w < nwant && !rc; w++) {
		long req = g->nreq0 + nmore + w;
		g->st->followups++;
		rc = kiln_teacher_add(t, ti, g->kind0, (int)req,
			make_body(g, prompt, req, (int)want[2 * w + 1]),
			TAG(TAG_MORE, want[2 * w]), err);
	}
out:
	free(prompt);
	free(cand);
	free(want);
	asked_free(a, n);
	return rc;
}

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

/* The tests of a task's answers (its test sets, and with --joint its joint
 * answers), gathered one answer at a time.
 *
 * Pooled (agree <= 1): every snippet, once (k answers often repeat the same
 * assert), as written. Agreed (agree > 1): snippets are compared by their
 * tokens (kiln_code_digest: layout and comments do not count), each answer
 * that wrote one gives it a vote, and pool_take() keeps those with at least
 * `agree` votes, in the order and the text first written. Sampled test
 * sets disagree most about expected values; a wrong expected value is
 * rarely written the same way twice, so agreement keeps the tests whose
 * answers are right more often than any one sample (docs/GENERATE.md).
 * With agree above half the answers, two expected values for one call
 * cannot both be kept. */
struct pool {
	int agree;
	int answer;             /* the answer being read: each votes once */
	json_t *tests;          /* snippets, first-written text and order */
	struct vote {
		uint64_t key;       /* the text's hash, or (agreed) digest */
		int votes, last;    /* last: the answer that last voted */
	} *v;                   /* tests[i]'s */
	size_t cap;
	size_t *slot;           /* open addressing: 1 + index into v, 0 free;
				   nslot a power of two, at most half full
				   (an answer may hold thousands of tests:
				   finding one is O(1), not a scan) */
	size_t nslot;
	json_t *preamble;       /* the first non-empty set-up code */
};

/* The index of the snippet with this key (and, pooled, this text), or
 * where to add it: *at is its slot. */
static long pool_find(const struct pool *p, uint64_t key, const char *t,
		      size_t *at)
{
	size_t mask = p->nslot - 1, i = (size_t)key & mask;

	for (; p->slot[i]; i = (i + 1) & mask) {
		size_t k = p->slot[i] - 1;

		if (p->v[k].key == key && (p->agree > 1 || !strcmp(
			json_string_value(json_array_get(p->tests, k)), t)))
			return (long)k;
	}
	*at = i;
	return -1;
}

/* Doubles the table (and v) when it would be more than half full. */
static int pool_grow(struct pool *p, size_t n)
{
	size_t *slot, ns;
	struct vote *v;

	if (n + 1 <= p->cap && 2 * (n + 1) <= p->nslot)
		return 0;
	ns = p->nslot ? 2 * p->nslot : 64;
	if (!(v = realloc(p->v, ns / 2 * sizeof(*v))))
		return -1;
	p->v = v;
	p->cap = ns / 2;
	if (!(slot = calloc(ns, sizeof(*slot))))
		return -1;
	for (size_t k = 0; k < n; k++) {
		size_t i = (size_t)p->v[k].key & (ns - 1);
		while (slot[i])
			i = (i + 1) & (ns - 1);
		slot[i] = k + 1;
	}
	free(p->slot);
	p->slot = slot;
	p->nslot = ns;
	return 0;
}

static void pool_add(struct pool *p, const char *t, const char *lang)
{
	size_t n = json_array_size(p->tests), at = 0;
	uint64_t key;
	long k;
	kiln_error e2;

	if (p->agree <= 1)
		key = XXH3_64bits(t, strlen(t));
	else if (kiln_code_digest(t, strlen(t), lang, &key, &e2))
		return;   /* out of memory: the snippet gets no vote */
	if (pool_grow(p, n))
		return;   /* out of memory: likewise */
	if ((k = pool_find(p, key, t, &at)) >= 0) {
		if (p->v[k].last != p->answer) {
			p->v[k].votes++;
			p->v[k].last = p->answer;
		}
		return;
	}
	if (json_array_append_new(p->tests, json_string(t)) == 0) {
		p->v[n] = (struct vote){ .key = key, .votes = 1,
					 .last = p->answer };
		p->slot[at] = n + 1;
	}
}

/* Reads one answer's tests into the pool; the first non-empty set-up code,
 * less any definition of the entry point, becomes the preamble. Only the
 * blocks that hold tests are read: an answer may repeat the solution in a
 * block of its own. An answer without tests adds nothing. */
static void pool_tests(struct pool *p, const char *text, const char *lang,
		       const char *entry)
{
	char *pre = NULL, **ts = NULL;
	size_t nts = 0;
	kiln_extracted ex;
	kiln_error e2;

	p->answer++;
	if (!text || kiln_extract_tests(text, strlen(text), lang, &ex, &e2))
		return;
	if (kiln_split_tests(ex.code, strlen(ex.code), lang, &pre, &ts, &nts,
			     &e2) == 0) {
		for (size_t i = 0; i < nts; i++)
			pool_add(p, ts[i], lang);
		if (!p->preamble && pre && *pre) {
			drop_definition(pre, entry);
			p->preamble = json_string(pre);
		}
		kiln_tests_free(ts, nts);
		free(pre);
	}
	free(ex.code);
}

/* The pool's tests: all of them, or those enough answers agree on. */
static json_t *pool_take(struct pool *p)
{
	json_t *kept, *all = p->tests;

	p->tests = NULL;
	if (p->agree <= 1 || !all)
		return all;
	if (!(kept = json_array())) {
		json_decref(all);
		return NULL;
	}
	for (size_t i = 0; i < json_array_size(all); i++)
		if (p->v[i].votes >= p->agree)
			json_array_append(kept, json_array_get(all, i));
	json_decref(all);
	return kept;
}

/* complete: the candidates of one task. */
static int complete_task(void *ctx, size_t ti, const kiln_teacher_slot *slots,
			 size_t n, kiln_error *err)
{
	struct gen *g = ctx;
	const kiln_generate_opts *o = g->o;
	kiln_generate_stats *st = g->st;
	const json_t *task = json_array_get(g->tasks, ti);
	const char *id = json_string_value(json_object_get(task, "id"));
	const char *lang = json_string_value(json_object_get(task, "language"));
	const char *entry = json_string_value(json_object_get(task,
							      "entry_point"));
	struct pool pool = { .agree = o->tests_agree, .tests = json_array() };
	json_t *tests = NULL, *preamble = NULL;
	const char *tests_source = "none";
	struct source *cand = calloc((size_t)o->k + 1, sizeof(*cand));
	struct asked *a = NULL;
	int rc = 0;

	if (!pool.tests || !cand || map_choices(g, slots, n, cand, &a)) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		goto out;
	}
	if (!lang)
		lang = "python";
	/* The teacher's tests, all sets pooled (or agreed on); with joint
	 * prompts, also the tests of every joint answer (each candidate then
	 * meets the tests written beside the other candidates too, as CodeT
	 * pools them). */
	for (size_t s = 0; s < n; s++)
		if (TAG_KIND(slots[s].tag) == TAG_TESTS && slots[s].answer)
			pool_tests(&pool, choice_text(choice_at(
				   slots[s].answer, 0, 1)), lang, entry);
	for (int j = 0; o->joint && j < o->k; j++)
		if (cand[j].slot >= 0)
			pool_tests(&pool, choice_text(cand[j].choice), lang,
				   entry);
	preamble = pool.preamble;
	if (!(tests = pool_take(&pool))) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		goto out;
	}
	if (json_array_size(tests) > 0) {
		tests_source = "teacher";
	} else if (json_object_get(task, "tests")) {
		json_decref(tests);
		tests = json_deep_copy(json_object_get(task, "tests"));
		tests_source = "task";
	}
	for (int i = 0; i < o->k && !rc; i++) {
		json_t *c, *teacher;
		const char *text;
		const json_t *ans;
		kiln_extracted ex;
		kiln_error e2;
		long s = cand[i].slot;
		int nul = 0;

		if (s < 0) {
			st->missing++; /* failed, or the server left it out */
			continue;
		}
		ans = slots[s].answer;
		text = choice_text_nul(cand[i].choice, &nul);
		c = json_pack("{ss si ss}", "id", id, "candidate", i,
			      "language", lang);
		json_object_set(c, "entry_point",
				json_object_get(task, "entry_point"));
		if (!json_object_get(c, "entry_point"))
			json_object_del(c, "entry_point");
		if (text && o->completions) {
			/* A completion continues the prompt: the program is
			 * both together (as HumanEval is scored). */
			char *prompt = kiln_template_render(g->tmpl_solution,
							    task, NULL);
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
				: nul ? "the answer holds a NUL byte (\\u0000)"
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
		/* the seed of the request that gave it (kiln_generate made
		 * sure that seed + request index cannot overflow) */
		teacher = json_pack("{ss ss ss sf sf si sI}", "backend",
			"openai", "url", o->llm.base_url, "model",
			o->model ? o->model : "default",
			"temperature", o->temperature, "top_p", o->top_p,
			"max_tokens", o->max_tokens,
			"seed", (json_int_t)o->seed + (json_int_t)a[s].req);
		if (o->best_of > 1)
			json_object_set_new(teacher, "best_of",
					    json_integer(o->best_of));
		if (o->tests_agree > 1)
			json_object_set_new(teacher, "tests_agree",
					    json_integer(o->tests_agree));
		if (o->n > 1) {
			int ch = 0;
			while (ch < a[s].n && a[s].cand[ch] != i)
				ch++;
			json_object_set_new(teacher, "choice",
					    json_integer(ch));
		}
		if (o->joint)
			json_object_set_new(teacher, "prompt",
					    json_string("joint"));
		json_object_set_new(c, "teacher", teacher);
		json_object_set_new(c, "usage", answer_usage(ans));
		json_object_set_new(c, "origin", json_string("synthetic"));
		json_object_set(c, "task_source", json_object_get(task,
								  "source"));
		if (json_is_null(json_object_get(c, "task_source")) ||
		    !json_object_get(c, "task_source"))
			json_object_del(c, "task_source");
		rc = kiln_out_write(g->out, c, err);
		st->candidates++;
		json_decref(c);
	}
out:
	json_decref(tests);
	json_decref(pool.tests);
	free(pool.v);
	free(pool.slot);
	json_decref(preamble);
	free(cand);
	asked_free(a, n);
	return rc;
}

/* The engine's counts are st->req already. */
static void on_progress(void *ctx, const kiln_teacher_stats *req)
{
	struct gen *g = ctx;

	(void)req;
	g->o->progress(g->o->ctx, g->st);
}

/* What a run can refuse before it sends anything: options the engine would
 * carry out wrongly, and tasks kiln could not use. */
static int check_run(const json_t *tasks, const kiln_generate_opts *o,
		     const struct gen *g, kiln_generate_stats *st,
		     kiln_error *err)
{
	/* The largest request index of a task: ceil(k / n) solution
	 * requests, at most k follow-ups (each gives a candidate), the test
	 * requests. Request i is sent seed + i. */
	long long span = (long long)g->nreq0 + o->k +
			 (o->test_sets > 0 ? o->test_sets : 0);
	const json_t *task, *ids = NULL;
	size_t ti;
	int rc = 0;

	if (o->joint && o->completions)
		return kiln_error_set(err, KILN_EINVAL, "joint prompts need "
				      "chat completions, not --completions");
	if (o->n < 1 || o->k < 0 || o->test_sets < 0)
		return kiln_error_set(err, KILN_EINVAL, "k and test_sets must "
				      "be 0 or more, and n 1 or more");
	if (o->tests_agree > 1 &&
	    o->tests_agree > o->test_sets + (o->joint ? o->k : 0))
		return kiln_error_set(err, KILN_EINVAL, "tests-agree %d asks "
				      "more answers to agree than a task has "
				      "(%d test sets, %d joint answers): no test "
				      "could be kept", o->tests_agree,
				      o->test_sets, o->joint ? o->k : 0);
	if (o->tests_agree > 1 && o->temperature <= 0)
		return kiln_error_set(err, KILN_EINVAL, "tests-agree %d needs "
				      "sampled answers (a temperature above 0): "
				      "greedy test sets are all the same, and "
				      "agree on everything", o->tests_agree);
	if (o->seed > LONG_MAX - span)
		return kiln_error_set(err, KILN_EINVAL, "seed %ld is too large:"
				      " requests are sent seed + i for i up to "
				      "%lld (the largest seed is %lld)",
				      o->seed, span, LONG_MAX - span);
	if ((o->tmpl_solution &&
	     (rc = kiln_template_check(o->tmpl_solution, "the solution "
				       "template", err))) ||
	    (o->tmpl_tests && o->test_sets > 0 &&
	     (rc = kiln_template_check(o->tmpl_tests, "the tests template",
				       err))) ||
	    (o->tmpl_joint && o->joint &&
	     (rc = kiln_template_check(o->tmpl_joint, "the joint template",
				       err))))
		return rc;
	if (!(ids = json_object()))
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	json_array_foreach(tasks, ti, task) {
		const char *id = json_string_value(json_object_get(task, "id"));
		const json_t *lang = json_object_get(task, "language");

		if (!id || !*id) {
			rc = kiln_error_set(err, KILN_EPARSE, "task %zu: field "
					    "'id' must be a non-empty string",
					    ti + 1);
			break;
		}
		if (lang && (!json_is_string(lang) ||
			     !kiln_lang_known(json_string_value(lang)))) {
			rc = kiln_error_set(err, KILN_EPARSE, "task %zu (%s): "
				"kiln cannot run language %s%s%s (it runs: %s)",
				ti + 1, id, json_is_string(lang) ? "'" : "",
				json_is_string(lang) ? json_string_value(lang)
				: "(not a string)", json_is_string(lang) ? "'"
				: "", kiln_lang_list());
			break;
		}
		if (json_object_get(ids, id))
			st->repeats++;
		else if (json_object_set_new((json_t *)ids, id, json_true())) {
			rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
			break;
		}
	}
	json_decref((json_t *)ids);
	return rc;
}

int kiln_generate(const json_t *tasks, kiln_store *store, kiln_out *out,
		  const kiln_generate_opts *o, kiln_generate_stats *st,
		  kiln_error *err)
{
	struct gen g = { 0 };
	kiln_teacher_opts t;
	int rc;

	memset(st, 0, sizeof(*st));
	g.tasks = tasks;
	g.o = o;
	g.st = st;
	g.out = out;
	g.nreq0 = o->k > 0 && o->n > 0 ? (o->k + o->n - 1) / o->n : 0;
	if ((rc = check_run(tasks, o, &g, st, err)))
		return rc;
	/* A completion model continues the task's prompt as it is. */
	g.tmpl_solution = o->joint ? (o->tmpl_joint ? o->tmpl_joint
				      : kiln_template_default("joint"))
		: o->tmpl_solution ? o->tmpl_solution
		: o->completions ? "{prompt}"
		: kiln_template_default("solution");
	g.tmpl_tests = o->tmpl_tests ? o->tmpl_tests
		: kiln_template_default("tests");
	/* Joint: one answer holds a solution and its tests. */
	g.kind0 = o->joint ? "joint" : "solution";
	g.bt_ok = body_tmpl_init(&g.bt, o) == 0 &&
		  body_tmpl_check(&g.bt, o) == 0;

	kiln_teacher_opts_default(&t);
	t.llm = o->llm;
	t.path = o->completions ? "/completions" : "/chat/completions";
	t.no_cache = o->no_cache;
	t.retry_failed = o->retry_failed;
	t.units = json_array_size(tasks);
	t.unit_id = task_id;
	t.begin = begin_task;
	t.settled = settled_task;
	t.complete = complete_task;
	t.progress = o->progress ? on_progress : NULL;
	t.ctx = &g;
	rc = kiln_teacher_run(&t, store, &st->req, err);
	free(g.bt.text);
	return rc;
}
