/* kiln select: strict or relaxed pass thresholds, CodeT dual agreement,
 * distinct solutions per task, the judge required (kiln/select.h).
 *
 * Records are held as entries in input order; a task is the list of its
 * entries. Without opts.grouped every entry is held until the input ends
 * (memory: the input); with it, a task is decided and written when the
 * next task begins (memory: one task).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xxhash.h>

#include "kiln/code.h"
#include "kiln/select.h"

static const char *const reasons[] = {
	"judge", "below_min_pass", "codet_group", "duplicate", "per_task",
	NULL,
};

struct entry {
	json_t *rec;
	size_t task;
	double frac;             /* pass fraction */
	unsigned char *pass;     /* tests[i] passed, one byte a test */
	size_t ntests, npassed;  /* from tests[] */
	const char *reason;      /* NULL: kept */
	json_t *detail;          /* the dropped mark's details, or select's */
	long group;              /* CodeT: the group's rank, or -1 */
	size_t gsize;
	double score;
};

struct task {
	size_t *e;               /* entry indices, input order */
	size_t n, cap;
};

struct run {
	const kiln_select_opts *o;
	double min_pass;
	struct entry *e;
	size_t ne, cape, first;  /* entries [first, ne) not yet written */
	struct task *t;
	size_t nt, capt;
	json_t *ids;             /* id -> task index */
	kiln_stage_stats *st;
	kiln_out *out, *dropped;
	kiln_error *err;
};

void kiln_select_opts_default(kiln_select_opts *o)
{
	memset(o, 0, sizeof *o);
	o->min_pass = -1;
	o->codet_groups = 1;
}

static int oom(kiln_error *err)
{
	return kiln_error_set(err, KILN_ENOMEM, "select: out of memory");
}

/* --------------------------------------------------------- one record */

static int field_error(kiln_jsonl_reader *in, kiln_error *err,
		       const char *what)
{
	return kiln_error_set(err, KILN_EPARSE, "%s:%ld: %s",
			      kiln_jsonl_path(in), kiln_jsonl_lineno(in), what);
}

static int judged(const char *j, int level)
{
	if (!j)
		return 0;
	if (level == KILN_JUDGE_IO)
		return !strcmp(j, "io");
	return !strcmp(j, "io") || !strcmp(j, "isolated");
}

/* Reads what select needs from rec into e; errors name the field. */
static int read_entry(struct run *r, kiln_jsonl_reader *in, json_t *rec,
		      struct entry *e)
{
	/* a plain verdict, or a record with its verdict (verify --carry) */
	const json_t *v = kiln_rec_verdict(rec);
	const json_t *tp = json_object_get(v, "tests_passed");
	const json_t *tt = json_object_get(v, "tests_total");
	const json_t *tests = json_object_get(v, "tests");
	const char *status = json_string_value(json_object_get(v, "status"));
	const char *judge = json_string_value(json_object_get(v, "judge"));
	json_int_t passed, total;
	size_t i;
	json_t *t;

	memset(e, 0, sizeof *e);
	e->rec = rec;
	e->group = -1;
	if (!json_is_string(json_object_get(rec, "id")))
		return field_error(in, r->err, "field 'id' is missing or not "
				   "a string");
	if (!status)
		return field_error(in, r->err, "field 'status' is missing or "
				   "not a string (a verdict of kiln verify?)");
	if (!json_is_integer(tp) || !json_is_integer(tt) ||
	    (passed = json_integer_value(tp)) < 0 ||
	    (total = json_integer_value(tt)) < passed)
		return field_error(in, r->err, "fields 'tests_passed' and "
				   "'tests_total' must be integers, 0 <= "
				   "passed <= total");
	e->frac = total > 0 ? (double)passed / (double)total :
		  !strcmp(status, "pass");
	if (r->o->require_judge != KILN_JUDGE_ANY && !judge)
		return field_error(in, r->err, "field 'judge' is missing "
				   "(needed by --require-judge)");
	if (r->o->per_task > 0 &&
	    !json_is_string(json_object_get(rec, "solution")))
		return field_error(in, r->err, "field 'solution' is missing "
				   "or not a string (needed by --per-task: "
				   "join the candidates' solutions in)");
	if (r->o->codet || r->o->require_judge != KILN_JUDGE_ANY) {
		if (!json_is_array(tests))
			return field_error(in, r->err, "field 'tests' (the "
					   "verdict's per-test results) is "
					   "missing or not an array");
		e->ntests = json_array_size(tests);
		e->pass = malloc(e->ntests ? e->ntests : 1);
		if (!e->pass)
			return oom(r->err);
		json_array_foreach(tests, i, t) {
			const char *s = json_string_value(
				json_object_get(t, "status"));
			const char *tj = json_string_value(
				json_object_get(t, "judge"));
			if (!s) {
				char what[96];
				snprintf(what, sizeof what, "field 'tests[%zu]."
					 "status' is missing or not a string",
					 i);
				return field_error(in, r->err, what);
			}
			e->pass[i] = !strcmp(s, "pass");
			e->npassed += e->pass[i];
			if (tj && !judged(tj, r->o->require_judge) &&
			    r->o->require_judge != KILN_JUDGE_ANY)
				judge = tj;   /* the weakest test decides */
		}
	}
	if (r->o->require_judge != KILN_JUDGE_ANY &&
	    !judged(judge, r->o->require_judge)) {
		e->reason = "judge";
		e->detail = json_pack("{s:s, s:s}", "judge", judge,
				      "required", r->o->require_judge ==
				      KILN_JUDGE_IO ? "io" : "isolated");
		if (!e->detail)
			return oom(r->err);
	}
	return 0;
}

/* ------------------------------------------------------------ one task */

struct group {
	const struct entry *rep;   /* its first member */
	size_t size, tests, first;
	double score;
};

static int same_pattern(const struct entry *a, const struct entry *b)
{
	return a->ntests == b->ntests && a->npassed == b->npassed &&
	       (!a->ntests || !memcmp(a->pass, b->pass, a->ntests));
}

static int cmp_group(const void *x, const void *y)
{
	const struct group *a = x, *b = y;

	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	if (a->tests != b->tests)
		return a->tests > b->tests ? -1 : 1;
	return a->first < b->first ? -1 : a->first > b->first;
}

static int codet(struct run *r, struct task *t)
{
	struct group *g = malloc((t->n ? t->n : 1) * sizeof *g);
	size_t ng = 0;
	double best = 0;

	if (!g)
		return oom(r->err);
	/* groups by pass pattern; O(n * groups), n is a task's samples */
	for (size_t i = 0; i < t->n; i++) {
		struct entry *e = &r->e[t->e[i]];
		size_t k;

		if (e->reason)
			continue;
		for (k = 0; k < ng && !same_pattern(g[k].rep, e); k++)
			;
		if (k == ng)
			g[ng++] = (struct group){ .rep = e, .tests = e->npassed,
						  .first = i };
		g[k].size++;
	}
	for (size_t k = 0; k < ng; k++)
		g[k].score = (double)g[k].size * (double)g[k].tests;
	qsort(g, ng, sizeof *g, cmp_group);
	if (ng)
		best = g[0].score;
	for (size_t i = 0; i < t->n; i++) {
		struct entry *e = &r->e[t->e[i]];
		size_t k;

		if (e->reason)
			continue;
		for (k = 0; !same_pattern(g[k].rep, e); k++)
			;
		e->group = (long)k;
		e->gsize = g[k].size;
		e->score = g[k].score;
		if (k >= (size_t)r->o->codet_groups || g[k].score <= 0) {
			e->reason = "codet_group";
			e->detail = json_pack("{s:I, s:I, s:I, s:f, s:f}",
					      "group", (json_int_t)k,
					      "group_size", (json_int_t)g[k].size,
					      "group_tests",
					      (json_int_t)g[k].tests,
					      "score", g[k].score,
					      "best_score", best);
			if (!e->detail) {
				free(g);
				return oom(r->err);
			}
		}
	}
	free(g);
	return 0;
}

struct ranked {
	struct entry *e;
	size_t order;
	uint64_t digest;
};

static int cmp_ranked(const void *x, const void *y)
{
	const struct ranked *a = x, *b = y;

	if (a->e->frac != b->e->frac)
		return a->e->frac > b->e->frac ? -1 : 1;
	if (a->e->score != b->e->score)
		return a->e->score > b->e->score ? -1 : 1;
	return a->order < b->order ? -1 : a->order > b->order;
}

static int per_task(struct run *r, struct task *t)
{
	struct ranked *k = malloc((t->n ? t->n : 1) * sizeof *k);
	size_t nk = 0, kept = 0;
	int rc = 0;

	if (!k)
		return oom(r->err);
	for (size_t i = 0; i < t->n; i++) {
		struct entry *e = &r->e[t->e[i]];
		const json_t *sol = json_object_get(e->rec, "solution");
		const char *lang = json_string_value(json_object_get(
			e->rec, "language"));

		if (e->reason)
			continue;
		k[nk] = (struct ranked){ .e = e, .order = i };
		if ((rc = kiln_code_digest(json_string_value(sol),
					   json_string_length(sol), lang,
					   &k[nk].digest, r->err)))
			goto out;
		nk++;
	}
	qsort(k, nk, sizeof *k, cmp_ranked);
	for (size_t i = 0; i < nk; i++) {
		size_t j;

		for (j = 0; j < i; j++)
			if (!k[j].e->reason && k[j].digest == k[i].digest)
				break;
		if (j < i) {
			json_t *c = json_object_get(k[j].e->rec, "candidate");
			k[i].e->reason = "duplicate";
			k[i].e->detail = json_pack("{s:O?}", "same_as", c);
		} else if (kept >= (size_t)r->o->per_task) {
			k[i].e->reason = "per_task";
			k[i].e->detail = json_pack("{s:i}", "per_task",
						   r->o->per_task);
		} else {
			kept++;
			continue;
		}
		if (!k[i].e->detail) {
			rc = oom(r->err);
			goto out;
		}
	}
out:
	free(k);
	return rc;
}

static int decide(struct run *r, struct task *t)
{
	int rc;

	for (size_t i = 0; i < t->n; i++) {
		struct entry *e = &r->e[t->e[i]];

		if (e->reason || e->frac >= r->min_pass)
			continue;
		e->reason = "below_min_pass";
		e->detail = json_pack("{s:f, s:f}", "pass_fraction", e->frac,
				      "min_pass", r->min_pass);
		if (!e->detail)
			return oom(r->err);
	}
	if (r->o->codet && (rc = codet(r, t)))
		return rc;
	if (r->o->per_task > 0 && (rc = per_task(r, t)))
		return rc;
	return 0;
}

/* ------------------------------------------------------------- output */

static int write_entry(struct run *r, struct entry *e)
{
	int rc = 0;

	if (e->reason) {
		json_t *d = kiln_stage_mark(e->rec, "select", e->reason);
		if (!d || (e->detail && json_object_update(d, e->detail)))
			return oom(r->err);
		kiln_stage_drop(r->st, e->reason);
		if (r->dropped)
			rc = kiln_out_write(r->dropped, e->rec, r->err);
	} else {
		json_t *s = json_pack("{s:f}", "pass_fraction", e->frac);
		if (s && r->o->codet)
			if (json_object_set_new(s, "group",
						json_integer(e->group)) ||
			    json_object_set_new(s, "group_size",
						json_integer((json_int_t)e->gsize)) ||
			    json_object_set_new(s, "group_tests",
						json_integer((json_int_t)e->npassed)) ||
			    json_object_set_new(s, "score", json_real(e->score))) {
				json_decref(s);
				s = NULL;
			}
		if (!s || json_object_set_new(e->rec, "select", s))
			return oom(r->err);
		r->st->kept++;
		rc = kiln_out_write(r->out, e->rec, r->err);
	}
	return rc;
}

static void entry_free(struct entry *e)
{
	json_decref(e->rec);
	json_decref(e->detail);
	free(e->pass);
	memset(e, 0, sizeof *e);
}

/* Decides the tasks of entries [first, ne) (all of them complete) and
 * writes those entries; their memory is then reused. */
static int flush(struct run *r)
{
	int rc;

	for (size_t i = r->first; i < r->ne; i++) {
		struct task *t = &r->t[r->e[i].task];
		if (t->n && (rc = decide(r, t)))
			return rc;
		free(t->e);
		t->e = NULL;
		t->n = t->cap = 0;   /* decided: not again */
	}
	for (size_t i = r->first; i < r->ne; i++) {
		if ((rc = write_entry(r, &r->e[i])))
			return rc;
		entry_free(&r->e[i]);
	}
	r->first = r->ne = 0;
	return 0;
}

static int add_entry(struct run *r, kiln_jsonl_reader *in, json_t *rec)
{
	const char *id = json_string_value(json_object_get(rec, "id"));
	json_t *known;
	struct entry *e;
	struct task *t;
	size_t ti = 0;
	int rc;

	if (!id)
		return field_error(in, r->err, "field 'id' is missing or not "
				   "a string");
	known = json_object_get(r->ids, id);
	if (known) {
		ti = (size_t)json_integer_value(known);
		if (r->o->grouped && ti != r->nt - 1)
			return field_error(in, r->err, "task id comes back "
					   "after another task began (the input "
					   "is not grouped: run without "
					   "--grouped)");
	} else if (r->o->grouped && r->ne && (rc = flush(r))) {
		return rc;   /* the last task was complete */
	}
	if (r->ne == r->cape) {
		size_t cap = r->cape ? r->cape * 2 : 256;
		struct entry *p = realloc(r->e, cap * sizeof *p);
		if (!p)
			return oom(r->err);
		r->e = p;
		r->cape = cap;
	}
	e = &r->e[r->ne];
	if ((rc = read_entry(r, in, rec, e))) {
		free(e->pass);
		json_decref(e->detail);
		return rc;
	}
	if (!known) {
		if (r->nt == r->capt) {
			size_t cap = r->capt ? r->capt * 2 : 64;
			struct task *p = realloc(r->t, cap * sizeof *p);
			if (!p)
				goto nomem;
			r->t = p;
			r->capt = cap;
		}
		ti = r->nt;
		memset(&r->t[ti], 0, sizeof *r->t);
		if (json_object_set_new(r->ids, id,
					json_integer((json_int_t)ti)))
			goto nomem;
		r->nt++;
	}
	t = &r->t[ti];
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		size_t *p = realloc(t->e, cap * sizeof *p);
		if (!p)
			goto nomem;
		t->e = p;
		t->cap = cap;
	}
	t->e[t->n++] = r->ne;
	e->task = ti;
	r->ne++;
	json_incref(rec);
	r->st->entered++;
	return 0;
nomem:
	free(e->pass);
	json_decref(e->detail);
	return oom(r->err);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int kiln_select(kiln_jsonl_reader *const *inputs, size_t ninputs,
		kiln_out *out, kiln_out *dropped, const kiln_select_opts *o,
		kiln_stage_stats *st, kiln_error *err)
{
	static const char *const judges[] = { "any", "isolated", "io" };
	struct run r = { .o = o, .st = st, .out = out, .dropped = dropped,
			 .err = err };
	double t0 = now();
	size_t bad = 0;
	int rc = 0;

	kiln_stage_stats_init(st, "select", reasons);
	r.min_pass = o->min_pass >= 0 ? o->min_pass : o->codet ? 0 : 1;
	if (!(r.min_pass <= 1) || o->codet_groups < 1 || o->per_task < 0 ||
	    o->require_judge < KILN_JUDGE_ANY ||
	    o->require_judge > KILN_JUDGE_IO)
		return kiln_error_set(err, KILN_EINVAL, "select: options out "
				      "of range");
	st->params = json_pack("{s:f, s:b, s:i, s:i, s:s, s:b}",
			       "min_pass", r.min_pass, "codet", o->codet,
			       "codet_groups", o->codet_groups,
			       "per_task", o->per_task,
			       "require_judge", judges[o->require_judge],
			       "grouped", o->grouped);
	r.ids = json_object();
	if (!st->params || !r.ids) {
		rc = oom(err);
		goto out;
	}
	for (size_t f = 0; f < ninputs && !rc; f++) {
		json_t *rec;

		while ((rc = kiln_jsonl_next(inputs[f], &rec, err)) !=
		       KILN_EEOF) {
			if (rc == KILN_EPARSE || rc == KILN_ELIMIT) {
				if (!o->skip_bad)
					goto out;
				bad++;
				if (o->bad_line)
					o->bad_line(o->ctx, err);
				continue;
			}
			if (rc)
				goto out;
			rc = add_entry(&r, inputs[f], rec);
			json_decref(rec);
			if (rc)
				goto out;
		}
		rc = 0;
	}
	rc = flush(&r);
	st->seconds = now() - t0;
	st->extra = json_pack("{s:I, s:I}", "tasks", (json_int_t)r.nt,
			      "bad_lines", (json_int_t)bad);
	if (!rc && !st->extra)
		rc = oom(err);
out:
	for (size_t i = r.first; i < r.ne; i++)
		entry_free(&r.e[i]);
	for (size_t i = 0; i < r.nt; i++)
		free(r.t[i].e);
	free(r.e);
	free(r.t);
	json_decref(r.ids);
	return rc;
}
