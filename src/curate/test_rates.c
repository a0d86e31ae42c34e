/* The validity and discrimination of a teacher's generated tests on tasks
 * with ground truth (kiln/test_rates.h; docs/BANK.md, "Scoring generated
 * tests"). The counts are scripts/bank-test-rates.py's for one teacher;
 * the runs are fewer: a (task, solution) pair is one record holding all
 * the task's tests where that cannot change a test's status. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln/code.h"
#include "kiln/jsonl.h"
#include "kiln/test_rates.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A task with ground truth and the teacher tests pooled for it. */
struct task {
	json_t *rec;          /* the task record */
	const char *id;       /* in rec */
	long line;            /* its line in the task file */
	size_t nsol;          /* the reference and the wrong variants */
	json_t *tests;        /* the pool: distinct tests, in order */
	json_t *seen;         /* a test's canonical text -> true */
	json_t *setup;        /* the last pooled candidate's test_setup */
	int pooled;           /* a teacher candidate named the task */
	int batch;            /* the pool may run as one record */
	int apart;            /* its language judges each test apart */
	unsigned char *pass;  /* nsol x ntests: the solution passes it */
};

/* One record to run: solution sol (0: the reference, k: wrong variant
 * k - 1) of a task with one of its tests, or all of them (test -1). */
struct unit {
	size_t task;
	size_t sol;
	long test;
};

struct units {
	struct unit *u;
	size_t n, cap;
};

struct tr {
	const kiln_test_rates_opts *o;
	kiln_test_rates *r;
	struct task *t;
	size_t nt, capt;
	json_t *ids;          /* task id -> index in t, or -line (no truth) */
	const char *tasks_path;
	/* the one teacher */
	char *teacher;
	char teacher_at[600];
	/* the runs of a phase */
	const struct units *run;
	size_t next;          /* the next unit handed out */
	struct units fallback;
	long done, planned;
	double t0;
};

static int units_add(struct units *us, size_t task, size_t sol, long test)
{
	if (us->n == us->cap) {
		size_t cap = us->cap ? us->cap * 2 : 256;
		struct unit *u = realloc(us->u, cap * sizeof *u);

		if (!u)
			return -1;
		us->u = u;
		us->cap = cap;
	}
	us->u[us->n++] = (struct unit){ task, sol, test };
	return 0;
}

static void tr_free(struct tr *s)
{
	for (size_t i = 0; i < s->nt; i++) {
		json_decref(s->t[i].rec);
		json_decref(s->t[i].tests);
		json_decref(s->t[i].seen);
		json_decref(s->t[i].setup);
		free(s->t[i].pass);
	}
	free(s->t);
	json_decref(s->ids);
	free(s->teacher);
	free(s->fallback.u);
}

/* ------------------------------------------------------------ reading */

/* A task: its id checked, kept when it has ground truth. */
static int add_task(struct tr *s, json_t *rec, long line, kiln_error *err)
{
	const char *id = json_string_value(json_object_get(rec, "id"));
	const json_t *sol = json_object_get(rec, "solution");
	const json_t *wv = json_object_get(rec, "wrong_variants");
	const json_t *prev, *w;
	struct task *t;
	size_t i;

	if (!id)
		return kiln_error_set(err, KILN_EPARSE, "%s:%ld: a task needs "
				      "a string \"id\"", s->tasks_path, line);
	if ((prev = json_object_get(s->ids, id))) {
		json_int_t k = json_integer_value(prev);

		return kiln_error_set(err, KILN_EPARSE, "%s:%ld: task id "
			"'%s' appears twice (first on line %ld): a candidate's "
			"tests would be judged against the wrong task",
			s->tasks_path, line, id,
			k < 0 ? (long)-k : s->t[k].line);
	}
	if (!json_is_string(sol) || !json_is_array(wv) ||
	    json_array_size(wv) == 0)
		return json_object_set_new(s->ids, id, json_integer(-line)) ?
		       kiln_error_set(err, KILN_ENOMEM, "out of memory") : 0;
	json_array_foreach(wv, i, w)
		if (!json_is_string(json_object_get(w, "solution")))
			return kiln_error_set(err, KILN_EPARSE, "%s:%ld: task "
				"'%s': wrong_variants[%zu] has no string "
				"\"solution\"", s->tasks_path, line, id, i);
	if (s->nt == s->capt) {
		size_t cap = s->capt ? s->capt * 2 : 64;
		struct task *nt = realloc(s->t, cap * sizeof *nt);

		if (!nt)
			return kiln_error_set(err, KILN_ENOMEM,
					      "out of memory");
		s->t = nt;
		s->capt = cap;
	}
	t = &s->t[s->nt];
	memset(t, 0, sizeof *t);
	t->tests = json_array();
	t->seen = json_object();
	if (!t->tests || !t->seen ||
	    json_object_set_new(s->ids, id,
				json_integer((json_int_t)s->nt))) {
		json_decref(t->tests);
		json_decref(t->seen);
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	}
	t->rec = json_incref(rec);
	t->id = json_string_value(json_object_get(rec, "id"));
	t->nsol = 1 + json_array_size(wv);
	t->line = line;
	s->nt++;
	return 0;
}

static int read_tasks(struct tr *s, kiln_error *err)
{
	kiln_jsonl_reader *in;
	json_t *rec;
	int rc;

	if ((rc = kiln_jsonl_open(&in, s->tasks_path, 0, err)))
		return rc;
	while ((rc = kiln_jsonl_next(in, &rec, err)) == 0) {
		rc = add_task(s, rec, kiln_jsonl_lineno(in), err);
		json_decref(rec);
		if (rc)
			break;
	}
	kiln_jsonl_close(in);
	return rc == KILN_EEOF ? 0 : rc;
}

/* "backend/model" of a candidate's teacher, as bank-test-rates.py keys
 * it ("?" for a part it lacks). */
static char *teacher_key(const json_t *c)
{
	const json_t *t = json_object_get(c, "teacher");
	const char *part[2] = { "backend", "model" };
	char *text[2] = { NULL, NULL }, *key = NULL;

	for (int i = 0; i < 2; i++) {
		const json_t *v = json_is_object(t) ?
				  json_object_get(t, part[i]) : NULL;

		text[i] = json_is_string(v) ? strdup(json_string_value(v)) :
			  v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) :
			  strdup("?");
	}
	if (text[0] && text[1] &&
	    (key = malloc(strlen(text[0]) + strlen(text[1]) + 2)))
		sprintf(key, "%s/%s", text[0], text[1]);
	free(text[0]);
	free(text[1]);
	return key;
}

/* A candidate: its teacher tests into its task's pool. */
static int add_candidate(struct tr *s, const json_t *c, const char *path,
			 long line, kiln_error *err)
{
	const json_t *src = json_object_get(c, "tests_source");
	const json_t *tests = json_object_get(c, "tests");
	const char *id = json_string_value(json_object_get(c, "id"));
	const json_t *k = id ? json_object_get(s->ids, id) : NULL, *test;
	struct task *t;
	char *key;
	size_t i;

	/* what bank-test-rates.py skips; tasks without ground truth too */
	if ((src && !(json_is_string(src) &&
		      !strcmp(json_string_value(src), "teacher"))) ||
	    !k || json_integer_value(k) < 0 || !json_is_array(tests))
		return 0;
	t = &s->t[json_integer_value(k)];
	if (!(key = teacher_key(c)))
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	if (!s->teacher) {
		s->teacher = key;
		snprintf(s->teacher_at, sizeof s->teacher_at, "%s:%ld", path,
			 line);
	} else if (strcmp(s->teacher, key)) {
		kiln_error_set(err, KILN_EINVAL, "%s:%ld: a candidate of a "
			"second teacher, %s (the first, %s, on %s): the tests "
			"of one teacher are measured at a time", path, line,
			key, s->teacher, s->teacher_at);
		free(key);
		return KILN_EINVAL;
	} else {
		free(key);
	}
	t->pooled = 1;
	json_decref(t->setup);
	t->setup = json_incref(json_object_get(c, "test_setup"));
	json_array_foreach(tests, i, test) {
		char *text = json_dumps(test, JSON_COMPACT | JSON_SORT_KEYS |
					JSON_ENCODE_ANY);
		int rc = 0;

		if (!text)
			return kiln_error_set(err, KILN_ENOMEM,
					      "out of memory");
		if (!json_object_get(t->seen, text))
			rc = json_object_set_new(t->seen, text, json_true()) ||
			     json_array_append(t->tests, (json_t *)test);
		free(text);
		if (rc)
			return kiln_error_set(err, KILN_ENOMEM,
					      "out of memory");
	}
	return 0;
}

static int read_candidates(struct tr *s, const char *path, kiln_error *err)
{
	kiln_jsonl_reader *in;
	json_t *rec;
	int rc;

	if ((rc = kiln_jsonl_open(&in, path, 0, err)))
		return rc;
	while ((rc = kiln_jsonl_next(in, &rec, err)) == 0) {
		rc = add_candidate(s, rec, kiln_jsonl_path(in),
				   kiln_jsonl_lineno(in), err);
		json_decref(rec);
		if (rc)
			break;
	}
	kiln_jsonl_close(in);
	return rc == KILN_EEOF ? 0 : rc;
}

/* ------------------------------------------- what may run as one record */

/* Whether a Python test is `assert NAME(LITERALS) == LITERAL` (either
 * side), checked on kiln_code_lex's tokens. The record's tests share the
 * judge's namespace and the objects in it (a test `f = ...`, `x.pop()`,
 * `next(it)` or `random.seed(1)` would reach the next test), so only this
 * shape, which names nothing but the called function and runs nothing but
 * the call, is batched; anything else is run alone. Literals: numbers,
 * strings without an f prefix (an f-string runs code), True, False, None,
 * and brackets, braces, commas, colons and signs between them. */
struct io_shape {
	const char *s;
	int state;     /* 0 assert, 1 the name, 2 literals, 3 bad */
	int names;     /* NAME tokens other than True/False/None/assert */
	int calls;     /* '(' right after a name */
	int eq;        /* '==' at bracket depth 0 */
	int depth, after_name;
};

static int io_token(void *ctx, const kiln_token *t)
{
	struct io_shape *c = ctx;
	const char *p = c->s + t->off;
	int after = c->after_name;

	c->after_name = 0;
	if (c->state == 0) {   /* the first token */
		c->state = t->kind == KILN_TOK_NAME && t->len == 6 &&
			   !memcmp(p, "assert", 6) ? 2 : 3;
		return c->state == 3;
	}
	switch (t->kind) {
	case KILN_TOK_NUMBER:
		return 0;
	case KILN_TOK_STRING:
		for (size_t i = 0; i < t->len && p[i] != '\'' && p[i] != '"';
		     i++)
			if (p[i] == 'f' || p[i] == 'F')
				return c->state = 3;
		return 0;
	case KILN_TOK_NAME:
		if ((t->len == 4 && (!memcmp(p, "True", 4) ||
				     !memcmp(p, "None", 4))) ||
		    (t->len == 5 && !memcmp(p, "False", 5)))
			return 0;
		c->names++;
		c->after_name = 1;
		return 0;
	case KILN_TOK_PUNCT:
		if (t->len == 2 && !memcmp(p, "==", 2)) {
			c->eq += c->depth == 0;
			return c->depth == 0 ? 0 : (c->state = 3);
		}
		if (t->len != 1 || !strchr("()[]{},:-+", *p))
			return c->state = 3;
		if (*p == '(' && after)
			c->calls++;
		if (strchr("([{", *p))
			c->depth++;
		else if (strchr(")]}", *p) && --c->depth < 0)
			return c->state = 3;
		return 0;
	default:   /* a comment */
		return c->state = 3;
	}
}

static int python_test_apart(const json_t *test)
{
	struct io_shape c = { 0 };
	const char *s = json_string_value(test);
	size_t n;

	if (json_is_object(test))
		return 1;   /* an I/O test: kiln compares, nothing is bound */
	if (!s)
		return 0;
	n = strlen(s);
	while (n && strchr(" \t\r\n", s[n - 1]))
		n--;
	/* one line, one statement (the lexer skips line breaks) */
	if (memchr(s, '\n', n) || memchr(s, '\r', n) || memchr(s, ';', n))
		return 0;
	c.s = s;
	kiln_code_lex(s, n, "python", io_token, &c);
	/* one name, called once, compared once; or literals alone
	 * (assert True) */
	return c.state == 2 && c.depth == 0 &&
	       ((c.names == 1 && c.calls == 1 && c.eq == 1) ||
		(c.names == 0 && c.calls == 0 && c.eq <= 1));
}

static int truthy(const json_t *v);

/* Decides how the task's pool runs, and makes room for the results. */
static int plan_task(struct task *t)
{
	const char *name = json_string_value(json_object_get(t->rec,
							     "language"));
	const char *lang = name && *name ? kiln_lang_canonical(name) :
			   "python";
	size_t n = json_array_size(t->tests), i;
	const json_t *test;

	lang = lang ? lang : "";
	t->apart = !strcmp(lang, "python") || !strcmp(lang, "lua");
	t->batch = n > 1;
	json_array_foreach(t->tests, i, test) {
		const char *s = json_string_value(test);

		/* set-up code holds objects tests can change (data.pop()) */
		if (!strcmp(lang, "python"))
			t->batch &= python_test_apart(test) &&
				    !truthy(t->setup);
		/* a preprocessor line reaches the tests after it */
		else if ((!strcmp(lang, "c") || !strcmp(lang, "cpp")) && s &&
			 strchr(s, '#'))
			t->batch = 0;
	}
	t->pass = n ? calloc(t->nsol * n, 1) : NULL;
	return n && !t->pass ? -1 : 0;
}

/* ---------------------------------------------------------- running */

static const char *sol_text(const struct task *t, size_t sol)
{
	const json_t *s = sol ? json_object_get(json_array_get(
		json_object_get(t->rec, "wrong_variants"), sol - 1),
		"solution") : json_object_get(t->rec, "solution");

	return json_string_value(s);
}

/* Python's truth of a JSON value (bank-test-rates.py: `if setup`). */
static int truthy(const json_t *v)
{
	if (!v)
		return 0;
	switch (json_typeof(v)) {
	case JSON_STRING: return json_string_length(v) > 0;
	case JSON_ARRAY: return json_array_size(v) > 0;
	case JSON_OBJECT: return json_object_size(v) > 0;
	case JSON_INTEGER: return json_integer_value(v) != 0;
	case JSON_REAL: return json_real_value(v) != 0;
	case JSON_TRUE: return 1;
	default: return 0;
	}
}

static int io_next(void *ctx, json_t **rec, kiln_error *err)
{
	struct tr *s = ctx;
	const struct unit *u;
	const struct task *t;
	json_t *r, *tests;
	static const char *const carried[] = { "language", "entry_point",
					       NULL };

	if (s->next >= s->run->n)
		return KILN_EEOF;
	u = &s->run->u[s->next];
	t = &s->t[u->task];
	tests = u->test < 0 ? json_incref(t->tests) : json_pack("[O]",
		json_array_get(t->tests, (size_t)u->test));
	r = json_pack("{s:s, s:I, s:s, s:o}", "id", t->id, "candidate",
		      (json_int_t)s->next, "solution", sol_text(t, u->sol),
		      "tests", tests);
	for (int i = 0; r && carried[i]; i++) {
		json_t *v = json_object_get(t->rec, carried[i]);

		if (v && json_object_set(r, carried[i], v))
			json_decref(r), r = NULL;
	}
	if (r && truthy(t->setup) &&
	    json_object_set(r, "test_setup", t->setup))
		json_decref(r), r = NULL;
	if (!r)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	s->next++;
	*rec = r;
	return 0;
}

static void io_where(void *ctx, kiln_error *err)
{
	struct tr *s = ctx;
	const struct unit *u = &s->run->u[s->next - 1];
	char test[48] = "its tests";

	if (u->test >= 0)
		snprintf(test, sizeof test, "test %ld", u->test + 1);
	if (u->sol)
		kiln_error_prefix(err, "task '%s', wrong variant %zu, %s: ",
				  s->t[u->task].id, u->sol, test);
	else
		kiln_error_prefix(err, "task '%s', the reference, %s: ",
				  s->t[u->task].id, test);
}

static int is_status(const char *st)
{
	return st && (!strcmp(st, "pass") || !strcmp(st, "fail") ||
		      !strcmp(st, "error"));
}

/* A whole pool's verdict: each test's status, or 0 when it cannot be
 * taken for the tests' runs one by one. */
static int take_batch(struct task *t, size_t sol, const json_t *v)
{
	const json_t *res = json_object_get(v, "tests"), *x;
	size_t n = json_array_size(t->tests), errors = 0, i;

	if (!json_is_array(res) || json_array_size(res) != n)
		return 0;
	json_array_foreach(res, i, x) {
		const char *st = json_string_value(json_object_get(x,
								   "status"));
		if (!is_status(st))
			return 0;
		errors += !strcmp(st, "error");
	}
	/* a compile error fails every test of a language that builds them
	 * together, where each alone might pass */
	if (errors == n && !t->apart)
		return 0;
	json_array_foreach(res, i, x)
		t->pass[sol * n + i] = !strcmp(json_string_value(
			json_object_get(x, "status")), "pass");
	return 1;
}

static int io_verdict(void *ctx, const json_t *rec, json_t *v,
		      kiln_error *err)
{
	struct tr *s = ctx;
	json_int_t k = json_integer_value(json_object_get(rec, "candidate"));
	const struct unit *u = &s->run->u[k];
	struct task *t = &s->t[u->task];
	size_t n = json_array_size(t->tests);
	const char *st = json_string_value(json_object_get(v, "status"));
	int pass = st && !strcmp(st, "pass");

	s->r->runs++;
	s->done++;
	if (u->test >= 0) {
		t->pass[u->sol * n + (size_t)u->test] = (unsigned char)pass;
	} else {
		s->r->batch_runs++;
		if (n == 1) {   /* the pool's one test alone: as it is */
			t->pass[u->sol] = (unsigned char)pass;
		} else if (!take_batch(t, u->sol, v)) {
			s->r->fallbacks++;
			for (size_t i = 0; i < n; i++)
				if (units_add(&s->fallback, u->task, u->sol,
					      (long)i))
					return kiln_error_set(err, KILN_ENOMEM,
							      "out of memory");
			s->planned += (long)n;
		}
	}
	if (s->o->progress)
		s->o->progress(s->o->ctx, s->done, s->planned,
			       now_s() - s->t0);
	return 0;
}

static int run_units(struct tr *s, const struct units *us, kiln_error *err)
{
	kiln_verify_opts vo = s->o->verify;
	kiln_verify_stats st;
	kiln_verify_io io = {
		.next = io_next, .verdict = io_verdict, .where = io_where,
		.ctx = s,
	};
	int rc;

	if (!us->n)
		return 0;
	vo.progress = NULL;
	vo.bad_line = NULL;
	vo.carry = 0;
	vo.skip_bad = 0;
	vo.references = NULL;
	vo.timeout_factor = 0;
	s->run = us;
	s->next = 0;
	rc = kiln_verify_each(&io, &vo, &st, err);
	if (st.stopped)
		s->r->stopped = 1;
	return rc;
}

/* ------------------------------------------------------------ counts */

static void count(struct tr *s)
{
	kiln_test_rates *r = s->r;

	for (size_t i = 0; i < s->nt; i++) {
		const struct task *t = &s->t[i];
		size_t n = json_array_size(t->tests);

		if (!t->pooled)
			continue;
		r->tasks++;
		if (!n)
			continue;
		r->variants += (long)t->nsol - 1;
		for (size_t v = 1; v < t->nsol; v++)
			for (size_t j = 0; j < n; j++)
				if (t->pass[j] && !t->pass[v * n + j]) {
					r->variants_killed++;
					break;
				}
		for (size_t j = 0; j < n; j++) {
			int disc = 0;

			r->tests++;
			if (!t->pass[j])
				continue;
			r->valid++;
			for (size_t v = 1; v < t->nsol && !disc; v++)
				disc = !t->pass[v * n + j];
			r->discriminating += disc;
		}
	}
}

void kiln_test_rates_opts_default(kiln_test_rates_opts *o)
{
	memset(o, 0, sizeof *o);
	kiln_verify_opts_default(&o->verify);
}

int kiln_test_rates_run(const char *tasks_path, const char *const *cands,
			size_t ncands, const kiln_test_rates_opts *o,
			kiln_test_rates *r, kiln_error *err)
{
	struct tr s;
	struct units first = { 0 };
	int rc = 0;

	memset(r, 0, sizeof *r);
	memset(&s, 0, sizeof s);
	s.o = o;
	s.r = r;
	s.t0 = now_s();
	s.tasks_path = tasks_path;
	if (!(s.ids = json_object()))
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	if ((rc = read_tasks(&s, err)))
		goto out;
	for (size_t i = 0; i < ncands && !rc; i++)
		rc = read_candidates(&s, cands[i], err);
	for (size_t i = 0; i < s.nt && !rc; i++) {
		struct task *t = &s.t[i];
		size_t n = json_array_size(t->tests);

		if (!t->pooled || !n)
			continue;
		if (plan_task(t))
			rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		/* the pool as one record, or each test alone */
		for (size_t sol = 0; sol < t->nsol && !rc; sol++) {
			int one = t->batch || n == 1;

			for (size_t j = 0; j < (one ? 1 : n) && !rc; j++)
				if (units_add(&first, i, sol,
					      one ? -1 : (long)j))
					rc = kiln_error_set(err, KILN_ENOMEM,
							    "out of memory");
		}
	}
	if (rc)
		goto out;
	s.planned = (long)first.n;
	if (first.n && (rc = kiln_sandbox_check(&o->verify.box, err)))
		goto out;
	if ((rc = run_units(&s, &first, err)) || r->stopped)
		goto out;
	if ((rc = run_units(&s, &s.fallback, err)) || r->stopped)
		goto out;
	count(&s);
out:
	r->seconds = now_s() - s.t0;
	free(first.u);
	tr_free(&s);
	return rc;
}

static json_t *rate(long num, long den)
{
	return den ? json_real((double)num / (double)den) : json_null();
}

json_t *kiln_test_rates_json(const kiln_test_rates *r)
{
	json_t *o = json_object();
	struct { const char *key; json_t *v; } f[] = {
		{ "tasks", json_integer(r->tasks) },
		{ "tests", json_integer(r->tests) },
		{ "valid", json_integer(r->valid) },
		{ "discriminating", json_integer(r->discriminating) },
		{ "validity_rate", rate(r->valid, r->tests) },
		{ "discrimination_rate", rate(r->discriminating, r->valid) },
		{ "variants", json_integer(r->variants) },
		{ "variants_killed", json_integer(r->variants_killed) },
		{ "kill_rate", rate(r->variants_killed, r->variants) },
		{ "runs", json_integer(r->runs) },
		{ "seconds", json_real(r->seconds) },
	};
	int bad = !o;

	/* json_object_set_new takes the value, also when it fails */
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
		if (!o)
			json_decref(f[i].v);
		else if (!f[i].v || json_object_set_new(o, f[i].key, f[i].v))
			bad = 1;
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}
