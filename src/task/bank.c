/* bank.c - the procedural task bank: draws compositions from the template
 * table, runs kiln's reference interpreter for the hidden tests, plants
 * the wrong variants and writes task records (docs/BANK.md). */
#include "kiln/bank.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/rng.h"
#include "task/bank/bank_int.h"

#define NPROBE 24          /* fixed inputs that define "distinct" */
#define MAX_TESTS 20
#define NRANDOM 8          /* random tests after the edge cases */
#define MAX_VARIANTS 8
#define MAX_CAND 64
#define MAX_FAILS 200000   /* draws in a row without a new task */

kiln_bank_opts kiln_bank_opts_default(void)
{
	kiln_bank_opts o = { .n = 100, .seed = 1, .depth = 3,
			     .split = KILN_BANK_ALL,
			     .language = KILN_BANK_PYTHON,
			     .param_scale = 1 };
	return o;
}

const char *kiln_bank_kind_name(int i)
{
	return i >= 0 && i < BK_NKINDS ? bk_kind_names[i] : NULL;
}

/* A wrong variant of one template, resolved: the kind, the template it
 * becomes and how its parameters are made. */
typedef struct tvar {
	int kind, to, pt, k;
} tvar;

typedef struct tvars {
	tvar v[12];
	int n;
} tvars;

struct kiln_bank {
	kiln_bank_opts o;
	bk_table tb;
	tvars *vars;                       /* per template */
	int *pick[BK_NTYPES][BK_NGROUPS];  /* drawable templates */
	int npick[BK_NTYPES][BK_NGROUPS];
	bk_val probe[BK_NTYPES][NPROBE];
	kiln_rng rng;
	long long k;                       /* index in the stream */
	uint64_t *seen;                    /* fingerprints, open addressing */
	size_t seen_cap, seen_n;
	kiln_bank_stats st;
};

/* ---- inputs ---- */

static long long draw(kiln_rng *r, long long lo, long long hi)
{
	return lo + (long long)(kiln_rng_next(r) % (uint64_t)(hi - lo + 1));
}

static const char alphabet[] =
	"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzaeiou"
	"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789      ";

/* A random input of a type; wide: larger values, longer lists. */
static void gen_input(kiln_rng *r, int type, int wide, bk_val *v)
{
	memset(v, 0, sizeof *v);
	v->type = type;
	switch (type) {
	case BK_INT:
		v->i = wide ? draw(r, -300, 300) : draw(r, -20, 20);
		break;
	case BK_LIST:
		v->n = (int)draw(r, 1, wide ? 10 : 7);
		for (int i = 0; i < v->n; i++)
			v->v[i] = wide ? draw(r, -40, 40) : draw(r, -9, 9);
		break;
	default:
		v->n = (int)draw(r, 1, wide ? 14 : 9);
		for (int i = 0; i < v->n; i++)
			v->s[i] = alphabet[draw(r, 0, sizeof alphabet - 2)];
		v->s[v->n] = '\0';
	}
}

/* The edge cases of a type, in order. */
static int edges(int type, bk_val *e)
{
	static const char *const s[] = { "", "a", " b ", "aA" };
	static const long long iv[] = { 0, 1, -1, 2 };
	int n = 4;

	for (int i = 0; i < n; i++) {
		memset(&e[i], 0, sizeof e[i]);
		e[i].type = type;
	}
	switch (type) {
	case BK_INT:
		for (int i = 0; i < n; i++)
			e[i].i = iv[i];
		break;
	case BK_LIST:
		/* [], [0], [-3], [2, 2] */
		e[1].n = 1;
		e[2].n = 1, e[2].v[0] = -3;
		e[3].n = 2, e[3].v[0] = e[3].v[1] = 2;
		break;
	default:
		for (int i = 0; i < n; i++) {
			snprintf(e[i].s, sizeof e[i].s, "%s", s[i]);
			e[i].n = (int)strlen(s[i]);
		}
	}
	return n;
}

/* ---- fingerprints: behaviour on the probes ---- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 1099511628211ULL;
	return h;
}

static uint64_t hash_val(uint64_t h, const bk_val *v)
{
	h = fnv(h, &v->type, sizeof v->type);
	switch (v->type) {
	case BK_INT:
	case BK_BOOL:
		return fnv(h, &v->i, sizeof v->i);
	case BK_LIST:
		h = fnv(h, &v->n, sizeof v->n);
		return fnv(h, v->v, sizeof v->v[0] * (size_t)v->n);
	default:
		h = fnv(h, &v->n, sizeof v->n);
		return fnv(h, v->s, (size_t)v->n);
	}
}

static int seen_add(kiln_bank *b, uint64_t h)
{
	size_t i;

	if (h == 0)
		h = 1;
	if (2 * (b->seen_n + 1) > b->seen_cap) {
		size_t nc = b->seen_cap ? 2 * b->seen_cap : 4096;
		uint64_t *q = calloc(nc, sizeof *q);

		if (!q)
			return -1;
		for (size_t j = 0; j < b->seen_cap; j++)
			if (b->seen[j]) {
				for (i = b->seen[j] & (nc - 1); q[i];
				     i = (i + 1) & (nc - 1))
					;
				q[i] = b->seen[j];
			}
		free(b->seen);
		b->seen = q;
		b->seen_cap = nc;
	}
	for (i = h & (b->seen_cap - 1); b->seen[i];
	     i = (i + 1) & (b->seen_cap - 1))
		if (b->seen[i] == h)
			return 1;
	b->seen[i] = h;
	b->seen_n++;
	return 0;
}

/* ---- open ---- */

static void add_var(tvars *vs, int kind, int to, int pt, int k,
		    const bk_tmpl *from, const bk_table *tb)
{
	const bk_tmpl *t;

	if (to < 0 || vs->n == (int)(sizeof vs->v / sizeof vs->v[0]))
		return;
	t = &tb->t[to];
	if (t->in != from->in || t->out != from->out)
		return;
	vs->v[vs->n++] = (tvar){ kind, to, pt, k };
}

static int find2(const bk_table *tb, const char *a, const char *b)
{
	char name[64];

	snprintf(name, sizeof name, "%s%s%s", a, *a ? "_" : "", b);
	return bk_find(tb, name);
}

static void resolve_vars(const bk_table *tb, size_t i, tvars *vs)
{
	const bk_tmpl *t = &tb->t[i];
	const bk_var *v;

	vs->n = 0;
	if (t->op) {
		const char *pre = t->group == G_MAP ? "map" : "";

		for (v = t->op->var; v < t->op->var + BK_NVAR && v->to; v++)
			add_var(vs, v->kind, find2(tb, pre, v->to), v->pt,
				v->k, t, tb);
	} else if (t->cons) {
		const char *pre = t->cons->prefix;

		add_var(vs, BK_WRONG_BRANCH, find2(tb, pre, t->pred->neg),
			PT_SAME, 0, t, tb);
		for (v = t->pred->var; v < t->pred->var + BK_NVAR && v->to; v++)
			add_var(vs, v->kind, find2(tb, pre, v->to), v->pt,
				v->k, t, tb);
		for (v = t->cons->var; v < t->cons->var + BK_NVAR && v->to; v++)
			add_var(vs, v->kind, find2(tb, v->to, t->pred->name),
				v->pt, v->k, t, tb);
	} else {
		for (v = t->spec->var; v < t->spec->var + BK_NVAR && v->to; v++)
			add_var(vs, v->kind, bk_find(tb, v->to), v->pt, v->k, t,
				tb);
	}
}

int kiln_bank_open(kiln_bank **bp, const kiln_bank_opts *o, kiln_error *err)
{
	kiln_bank *b;
	kiln_rng pr;

	*bp = NULL;
	if (o->depth < 1 || o->depth > KILN_BANK_MAX_DEPTH || o->n < 0 ||
	    o->seed < 0 || o->split < KILN_BANK_ALL ||
	    o->split > KILN_BANK_HELDOUT_TEMPLATE || o->language < 0 ||
	    o->language > KILN_BANK_LUA || o->param_scale < 1 ||
	    o->param_scale > 1000)
		return kiln_error_set(err, KILN_EINVAL, "bad options (depth "
				      "1..6, n >= 0, seed >= 0, param scale "
				      "1..1000)");
	if (!(b = calloc(1, sizeof *b)))
		goto oom;
	b->o = *o;
	if (bk_table_build(&b->tb))
		goto oom;
	if (!(b->vars = calloc(b->tb.n, sizeof *b->vars)))
		goto oom;
	for (size_t i = 0; i < b->tb.n; i++) {
		const bk_tmpl *t = &b->tb.t[i];
		int *q;

		resolve_vars(&b->tb, i, &b->vars[i]);
		if (t->hidden)
			continue;
		q = realloc(b->pick[t->in][t->group],
			    sizeof *q * (size_t)(b->npick[t->in][t->group] + 1));
		if (!q)
			goto oom;
		q[b->npick[t->in][t->group]++] = (int)i;
		b->pick[t->in][t->group] = q;
	}
	/* the probes: the edge cases and fixed random inputs, the same for
	 * every seed */
	kiln_rng_seed(&pr, 0x6b696c6e62616e6bULL);
	for (int ty = 0; ty < BK_BOOL; ty++) {
		int ne = edges(ty, b->probe[ty]);

		for (int j = ne; j < NPROBE; j++)
			gen_input(&pr, ty, j % 3 == 0, &b->probe[ty][j]);
	}
	kiln_rng_seed(&b->rng, (uint64_t)o->seed);
	*bp = b;
	return 0;
oom:
	kiln_bank_close(b);
	return kiln_error_set(err, KILN_ENOMEM, "out of memory");
}

void kiln_bank_close(kiln_bank *b)
{
	if (!b)
		return;
	for (int i = 0; i < BK_NTYPES; i++)
		for (int g = 0; g < BK_NGROUPS; g++)
			free(b->pick[i][g]);
	free(b->vars);
	free(b->seen);
	bk_table_free(&b->tb);
	free(b);
}

const kiln_bank_stats *kiln_bank_get_stats(const kiln_bank *b)
{
	return &b->st;
}

/* ---- one task ---- */

typedef struct btask {
	int in, depth, frame, alt[BK_MAXDEPTH];
	bk_stage st[BK_MAXDEPTH];
	bk_val tin[MAX_TESTS], tout[MAX_TESTS];
	int ntest, nedge;
	struct {
		int kind, n;
		bk_stage st[BK_MAXDEPTH];
	} var[MAX_VARIANTS];
	int nvar;
	uint64_t fp;
	int heldout;        /* the split (held_stage, held_pair) */
	int heldout_tmpl;   /* the template split: a held-out template */
} btask;

/* The split (docs/BANK.md, "Splits"), by hashes of names and parameters
 * alone, so the same on every machine and for every seed. A stage is held
 * out when its template takes parameters and a hash of (name, parameters)
 * says so, 1 in 5; never at the first parameter's lowest value, so every
 * template keeps parameter values in train. */
static int held_stage(const bk_tmpl *tp, const long long *p)
{
	uint64_t h = 1469598103934665603ULL;
	const char *c;

	if (tp->np == 0 || p[0] == tp->lo[0])
		return 0;
	for (c = "stage:"; *c; c++)
		h = (h ^ (unsigned char)*c) * 1099511628211ULL;
	for (c = tp->name; *c; c++)
		h = (h ^ (unsigned char)*c) * 1099511628211ULL;
	for (int j = 0; j < tp->np; j++)
		h = kiln_rng_mix(h ^ (uint64_t)(p[j] + 1000003 * (j + 1)));
	return kiln_rng_mix(h) % 5 == 0;
}

/* A composition (one stage feeding the next) is held out when a hash of
 * the two templates' names says so, 1 in 5, whatever their parameters. */
static int held_pair(const bk_tmpl *a, const bk_tmpl *b)
{
	uint64_t h = 1469598103934665603ULL;
	const char *c;

	for (c = "pair:"; *c; c++)
		h = (h ^ (unsigned char)*c) * 1099511628211ULL;
	for (c = a->name; *c; c++)
		h = (h ^ (unsigned char)*c) * 1099511628211ULL;
	h = (h ^ (unsigned char)'|') * 1099511628211ULL;
	for (c = b->name; *c; c++)
		h = (h ^ (unsigned char)*c) * 1099511628211ULL;
	return kiln_rng_mix(h) % 5 == 0;
}

/* Parameter j of a stage: from the template's range, or with
 * --param-scale S (training data that must teach copying a constant from
 * the prompt rather than recalling one) from a range S times as wide: a
 * positive bound times S, a bound <= 0 kept (so 1..9 becomes 1..9S and
 * -5..5 becomes -5S..5S); letters as they are. Values that take a task
 * out of the bank's bounds make it fail its tests like any other. */
static long long draw_param(kiln_bank *b, const bk_tmpl *tp, int j)
{
	long long lo = tp->lo[j], hi = tp->hi[j], s = b->o.param_scale;

	if (!tp->chr && s > 1) {
		lo = lo < 0 ? lo * s : lo;
		hi = hi > 0 ? hi * s : hi;
	}
	return draw(&b->rng, lo, hi);
}

static int draw_composition(kiln_bank *b, btask *T)
{
	int cur;

	T->depth = (int)draw(&b->rng, 1, b->o.depth);
	T->in = cur = (int)draw(&b->rng, 0, 2);
	T->heldout = T->heldout_tmpl = 0;
	for (int k = 0; k < T->depth; k++) {
		int groups[BK_NGROUPS], ng = 0, t, tries = 0;
		const bk_tmpl *tp;

		for (int g = 0; g < BK_NGROUPS; g++)
			if (b->npick[cur][g])
				groups[ng++] = g;
		if (!ng)
			return -1;
		do {
			int g = groups[draw(&b->rng, 0, ng - 1)];

			t = b->pick[cur][g][draw(&b->rng, 0,
						 b->npick[cur][g] - 1)];
			tp = &b->tb.t[t];
		} while (tp->out == BK_BOOL && k + 1 < T->depth && ++tries < 50);
		if (tp->out == BK_BOOL && k + 1 < T->depth)
			return -1;
		T->st[k].t = t;
		for (int j = 0; j < 2; j++)
			T->st[k].p[j] = j < tp->np ? draw_param(b, tp, j) : 0;
		T->alt[k] = (int)draw(&b->rng, 0, 3);
		T->heldout_tmpl |= tp->heldout;
		T->heldout |= held_stage(tp, T->st[k].p);
		if (k > 0)
			T->heldout |= held_pair(&b->tb.t[T->st[k - 1].t], tp);
		cur = tp->out;
	}
	T->frame = (int)draw(&b->rng, 0, BK_NFRAMES - 1);
	return 0;
}

/* Behaviour on the probes; -1: trivial (constant, the identity, or
 * defined on too few probes). */
static int fingerprint(kiln_bank *b, btask *T)
{
	uint64_t h = 1469598103934665603ULL;
	int valid = 0, same = 1, ident = 1;
	bk_val out, first;

	h = fnv(h, &T->in, sizeof T->in);
	for (int j = 0; j < NPROBE; j++) {
		const bk_val *in = &b->probe[T->in][j];

		if (bk_run(&b->tb, T->st, T->depth, in, &out)) {
			h = fnv(h, "!", 1);
			continue;
		}
		h = hash_val(h, &out);
		if (valid++ == 0)
			first = out;
		else if (!bk_equal(&first, &out))
			same = 0;
		if (!bk_equal(in, &out))
			ident = 0;
	}
	T->fp = h;
	return valid < NPROBE / 2 || same || ident ? -1 : 0;
}

static int have_input(const btask *T, const bk_val *v)
{
	for (int i = 0; i < T->ntest; i++)
		if (bk_equal(&T->tin[i], v))
			return 1;
	return 0;
}

static int add_test(kiln_bank *b, btask *T, const bk_val *in)
{
	bk_val out;

	if (T->ntest == MAX_TESTS || have_input(T, in) ||
	    bk_run(&b->tb, T->st, T->depth, in, &out))
		return -1;
	T->tin[T->ntest] = *in;
	T->tout[T->ntest++] = out;
	return 0;
}

static int make_tests(kiln_bank *b, btask *T)
{
	bk_val e[4], v;
	int ne = edges(T->in, e), distinct = 0;

	T->ntest = 0;
	for (int i = 0; i < ne; i++)
		add_test(b, T, &e[i]);
	T->nedge = T->ntest;
	for (int tries = 0; T->ntest < T->nedge + NRANDOM && tries < 40;
	     tries++) {
		gen_input(&b->rng, T->in, tries % 4 == 3, &v);
		add_test(b, T, &v);
	}
	for (int i = 1; i < T->ntest; i++)
		distinct |= !bk_equal(&T->tout[i], &T->tout[0]);
	return T->ntest >= 6 && distinct ? 0 : -1;
}

/* Runs variant st/n on every test: -1 when out of bounds on one, else
 * whether it fails one (1) or passes all (0); *h its outputs' hash. */
static int judge(kiln_bank *b, const btask *T, const bk_stage *st, int n,
		 uint64_t *h)
{
	int fails = 0;
	bk_val out;

	*h = 1469598103934665603ULL;
	for (int i = 0; i < T->ntest; i++) {
		if (bk_run(&b->tb, st, n, &T->tin[i], &out))
			return -1;
		*h = hash_val(*h, &out);
		fails |= !bk_equal(&out, &T->tout[i]);
	}
	return fails;
}

typedef struct cand {
	int kind, n;
	bk_stage st[BK_MAXDEPTH];
} cand;

static int candidates(kiln_bank *b, const btask *T, cand *c)
{
	int nc = 0;

	for (int k = 0; k < T->depth; k++) {
		const bk_tmpl *t = &b->tb.t[T->st[k].t];
		const tvars *vs = &b->vars[T->st[k].t];

		/* a parameter off by one */
		for (int j = 0; j < t->np; j++)
			for (int d = -1; d <= 1; d += 2) {
				if (nc == MAX_CAND)
					return nc;
				c[nc].kind = BK_OFF_BY_ONE;
				c[nc].n = T->depth;
				memcpy(c[nc].st, T->st, sizeof T->st);
				c[nc].st[k].p[j] += d;
				nc++;
			}
		/* the template's own */
		for (int i = 0; i < vs->n && nc < MAX_CAND; i++) {
			const tvar *v = &vs->v[i];
			bk_stage *s = &c[nc].st[k];

			c[nc].kind = v->kind;
			c[nc].n = T->depth;
			memcpy(c[nc].st, T->st, sizeof T->st);
			s->t = v->to;
			switch (v->pt) {
			case PT_NEG0: s->p[0] = -s->p[0]; break;
			case PT_SECOND: s->p[0] = s->p[1]; break;
			case PT_SET0: s->p[0] = v->k; break;
			default: break;
			}
			if (b->tb.t[v->to].np < 2)
				s->p[1] = 0;
			if (b->tb.t[v->to].np < 1)
				s->p[0] = 0;
			nc++;
		}
		/* a step left out */
		if (t->in == t->out && nc < MAX_CAND) {
			c[nc].kind = BK_DROPPED_STEP;
			c[nc].n = T->depth - 1;
			memcpy(c[nc].st, T->st, sizeof T->st[0] * (size_t)k);
			memcpy(c[nc].st + k, T->st + k + 1,
			       sizeof T->st[0] * (size_t)(T->depth - k - 1));
			nc++;
		}
		/* two steps the other way round */
		if (k + 1 < T->depth && t->in == t->out &&
		    b->tb.t[T->st[k + 1].t].in == t->in &&
		    b->tb.t[T->st[k + 1].t].out == t->in && nc < MAX_CAND) {
			c[nc].kind = BK_WRONG_ORDER;
			c[nc].n = T->depth;
			memcpy(c[nc].st, T->st, sizeof T->st);
			c[nc].st[k] = T->st[k + 1];
			c[nc].st[k + 1] = T->st[k];
			nc++;
		}
	}
	return nc;
}

/* Looks for an input on which variant c fails while the reference and
 * every variant taken so far stay in bounds; adds it as a test. */
static int targeted(kiln_bank *b, btask *T, const cand *c)
{
	bk_val in, ref, out;

	if (T->ntest == MAX_TESTS)
		return -1;
	for (int tries = 0; tries < 48; tries++) {
		int okall = 1;

		gen_input(&b->rng, T->in, tries % 2, &in);
		if (have_input(T, &in) ||
		    bk_run(&b->tb, T->st, T->depth, &in, &ref) ||
		    bk_run(&b->tb, c->st, c->n, &in, &out) ||
		    bk_equal(&ref, &out))
			continue;
		for (int v = 0; v < T->nvar && okall; v++)
			okall = !bk_run(&b->tb, T->var[v].st, T->var[v].n, &in,
					&out);
		if (okall)
			return add_test(b, T, &in);
	}
	return -1;
}

static int plant_variants(kiln_bank *b, btask *T)
{
	cand c[MAX_CAND];
	uint64_t hv[MAX_VARIANTS];
	int nc = candidates(b, T, c), used[MAX_CAND] = { 0 };
	int kinds[BK_NKINDS] = { 0 };

	/* a fixed shuffle, then one of each kind first */
	for (int i = nc - 1; i > 0; i--) {
		int j = (int)draw(&b->rng, 0, i);
		cand tmp = c[i];

		c[i] = c[j];
		c[j] = tmp;
	}
	T->nvar = 0;
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < nc && T->nvar < MAX_VARIANTS; i++) {
			uint64_t h;
			int r, dup = 0;

			if (used[i] || (pass == 0 && kinds[c[i].kind]))
				continue;
			r = judge(b, T, c[i].st, c[i].n, &h);
			if (r < 0) {
				used[i] = 1;
				continue;
			}
			for (int v = 0; v < T->nvar; v++)
				dup |= hv[v] == h;
			if (dup && r == 1) {
				used[i] = 1;
				continue;
			}
			if (r == 0) {
				if (targeted(b, T, &c[i]))
					continue;
				if (judge(b, T, c[i].st, c[i].n, &h) != 1)
					continue;
				/* the new test may tell apart variants whose
				 * hashes were equal: recompute them */
				for (int v = 0; v < T->nvar; v++)
					judge(b, T, T->var[v].st, T->var[v].n,
					      &hv[v]);
				for (int v = 0; v < T->nvar; v++)
					dup |= hv[v] == h;
				if (dup)
					continue;
			}
			used[i] = 1;
			kinds[c[i].kind] = 1;
			hv[T->nvar] = h;
			T->var[T->nvar].kind = c[i].kind;
			T->var[T->nvar].n = c[i].n;
			memcpy(T->var[T->nvar].st, c[i].st, sizeof c[i].st);
			T->nvar++;
		}
	return T->nvar >= KILN_BANK_MIN_VARIANTS ? 0 : -1;
}

/* ---- the record ---- */

static const char *const type_names[BK_NTYPES] = {
	"int", "list", "str", "bool" };

/* The text, "" when nothing was ever written (a variant that drops the
 * only stage has the empty composition in every language), NULL after a
 * failed allocation. */
static json_t *str_or_null(const bk_buf *s)
{
	return s->oom ? NULL : json_string(s->p ? s->p : "");
}

/* By KILN_BANK_PYTHON, _C, _LUA: emit.c's language, the record's name. */
static const int emit_lang[] = { BK_PY, BK_C, BK_LUA };
static const char *const lang_names[] = { "python", "c", "lua" };

static json_t *record(kiln_bank *b, const btask *T, long long k)
{
	int lang = emit_lang[b->o.language];
	const char *setup;
	int out = T->tout[0].type, ex = T->nedge < T->ntest ? T->nedge : 0;
	json_t *rec = json_object(), *tests = json_array(),
	       *wv = json_array(), *meta = json_object(),
	       *names = json_array(), *wording = json_array();
	bk_buf s = { 0 }, t = { 0 };
	char id[96], fp[20];
	int oom = !rec || !tests || !wv || !meta || !names || !wording;

	/* the stream is (seed, depth, param scale): one other than the
	 * defaults' names its depth and scale, so that two streams never
	 * share an id (tasks of --depth 1 and --depth 2 written together) */
	kiln_bank_opts d = kiln_bank_opts_default();
	if (b->o.depth == d.depth && b->o.param_scale == d.param_scale)
		snprintf(id, sizeof id, "bank/%lld/%lld", b->o.seed, k);
	else if (b->o.param_scale == d.param_scale)
		snprintf(id, sizeof id, "bank/%lld-d%d/%lld", b->o.seed,
			 b->o.depth, k);
	else
		snprintf(id, sizeof id, "bank/%lld-d%d-x%d/%lld", b->o.seed,
			 b->o.depth, b->o.param_scale, k);
	snprintf(fp, sizeof fp, "%016llx", (unsigned long long)T->fp);
	oom |= json_object_set_new(rec, "id", json_string(id));
	bk_prompt(&b->tb, lang, T->frame, T->alt, T->in, T->st, T->depth,
		  &T->tin[ex], &T->tout[ex], &s);
	oom |= json_object_set_new(rec, "prompt", str_or_null(&s));
	oom |= json_object_set_new(rec, "language",
				   json_string(lang_names[b->o.language]));
	oom |= json_object_set_new(rec, "entry_point", json_string("f"));
	bk_reset(&s);
	bk_emit(&b->tb, lang, T->in, T->st, T->depth, &s);
	oom |= json_object_set_new(rec, "solution", str_or_null(&s));
	for (int i = 0; i < T->ntest; i++) {
		bk_reset(&s);
		bk_reset(&t);
		if (!bk_io_test(lang, out)) {
			bk_emit_code_test(lang, &T->tin[i], &T->tout[i], &s);
			oom |= json_array_append_new(tests, str_or_null(&s));
			continue;
		}
		bk_emit_call(lang, &T->tin[i], &s);
		bk_literal(&T->tout[i], &t);
		oom |= json_array_append_new(tests, json_pack("{s:o?,s:o?}",
			"call", str_or_null(&s), "expect", str_or_null(&t)));
	}
	oom |= json_object_set_new(rec, "tests", tests);
	if ((setup = bk_test_setup(lang, out)) != NULL)
		oom |= json_object_set_new(rec, "test_setup",
					   json_string(setup));
	for (int v = 0; v < T->nvar; v++) {
		bk_reset(&s);
		bk_reset(&t);
		bk_emit(&b->tb, lang, T->in, T->var[v].st, T->var[v].n, &s);
		bk_compose_text(&b->tb, T->var[v].st, T->var[v].n, &t);
		oom |= json_array_append_new(wv, json_pack("{s:s,s:o?,s:o?}",
			"kind", bk_kind_names[T->var[v].kind],
			"composition", str_or_null(&t),
			"solution", str_or_null(&s)));
	}
	oom |= json_object_set_new(rec, "wrong_variants", wv);
	for (int i = 0; i < T->depth; i++) {
		oom |= json_array_append_new(names,
			json_string(b->tb.t[T->st[i].t].name));
		oom |= json_array_append_new(wording,
					     json_integer(T->alt[i]));
	}
	bk_reset(&t);
	bk_compose_text(&b->tb, T->st, T->depth, &t);
	oom |= json_object_set_new(meta, "templates", names);
	oom |= json_object_set_new(meta, "composition", str_or_null(&t));
	oom |= json_object_set_new(meta, "depth", json_integer(T->depth));
	oom |= json_object_set_new(meta, "phrasing", json_integer(T->frame));
	oom |= json_object_set_new(meta, "wording", wording);
	oom |= json_object_set_new(meta, "input",
				   json_string(type_names[T->in]));
	oom |= json_object_set_new(meta, "output",
				   json_string(type_names[out]));
	oom |= json_object_set_new(meta, "split",
				   json_string(T->heldout ? "heldout"
							  : "train"));
	oom |= json_object_set_new(meta, "template_split",
				   json_string(T->heldout_tmpl ? "heldout"
							       : "train"));
	oom |= json_object_set_new(meta, "seed", json_integer(b->o.seed));
	oom |= json_object_set_new(meta, "index", json_integer(k));
	oom |= json_object_set_new(meta, "fingerprint", json_string(fp));
	oom |= json_object_set_new(rec, "bank", meta);
	oom |= json_object_set_new(rec, "origin", json_string("synthetic"));
	oom |= json_object_set_new(rec, "source", json_string("kiln-bank"));
	oom |= json_object_set_new(rec, "source_id", json_string(id));
	oom |= json_object_set_new(rec, "license", json_string("MIT"));
	if (s.oom || t.oom)
		oom = 1;
	bk_free(&s);
	bk_free(&t);
	if (oom) {
		json_decref(rec);
		return NULL;
	}
	return rec;
}

/* 1 when T is of the split asked for. */
static int in_split(int split, const btask *T)
{
	switch (split) {
	case KILN_BANK_TRAIN: return !T->heldout;
	case KILN_BANK_HELDOUT: return T->heldout;
	case KILN_BANK_TRAIN_TEMPLATE: return !T->heldout_tmpl;
	case KILN_BANK_HELDOUT_TEMPLATE: return T->heldout_tmpl;
	default: return 1;
	}
}

int kiln_bank_next(kiln_bank *b, json_t **out, kiln_error *err)
{
	btask *T = malloc(sizeof *T);
	int fails = 0;

	*out = NULL;
	if (!T)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	for (;;) {
		int r;

		if (fails++ == MAX_FAILS) {
			free(T);
			return kiln_error_set(err, KILN_ELIMIT,
				"no new distinct task in %d draws after "
				"%lld tasks (depth %d has too few; raise "
				"--depth)", MAX_FAILS, b->k, b->o.depth);
		}
		b->st.drawn++;
		if (draw_composition(b, T) || fingerprint(b, T)) {
			b->st.trivial++;
			continue;
		}
		if ((r = seen_add(b, T->fp)) != 0) {
			if (r < 0) {
				free(T);
				return kiln_error_set(err, KILN_ENOMEM,
					"out of memory");
			}
			b->st.duplicate++;
			continue;
		}
		if (make_tests(b, T)) {
			b->st.trivial++;
			continue;
		}
		if (plant_variants(b, T)) {
			b->st.few_variants++;
			continue;
		}
		/* a task of the stream: it has its index in every split */
		if (b->o.split != KILN_BANK_ALL &&
		    in_split(b->o.split, T) != 1) {
			b->k++;
			b->st.other_split++;
			fails = 0;
			continue;
		}
		break;
	}
	*out = record(b, T, b->k++);
	if (!*out) {
		free(T);
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	}
	b->st.tasks++;
	b->st.tests += T->ntest;
	b->st.variants += T->nvar;
	b->st.per_depth[T->depth]++;
	for (int v = 0; v < T->nvar; v++)
		b->st.per_kind[T->var[v].kind]++;
	free(T);
	return 0;
}

int kiln_bank_write(const kiln_bank_opts *o, kiln_out *out,
		    kiln_bank_stats *st, kiln_error *err)
{
	kiln_bank *b;
	int rc;

	if ((rc = kiln_bank_open(&b, o, err)))
		return rc;
	for (long long i = 0; i < o->n && rc == 0; i++) {
		json_t *task;

		if ((rc = kiln_bank_next(b, &task, err)) == 0) {
			rc = kiln_out_write(out, task, err);
			json_decref(task);
		}
	}
	if (st)
		*st = b->st;
	kiln_bank_close(b);
	return rc;
}

int kiln_bank_templates(json_t **list, kiln_error *err)
{
	static const char *const groups[BK_NGROUPS] = {
		"op", "map", "predicate", "char_predicate", "list", "string",
		"int" };
	bk_table tb;
	json_t *a;

	*list = NULL;
	if (bk_table_build(&tb) || !(a = json_array())) {
		bk_table_free(&tb);
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < tb.n; i++) {
		const bk_tmpl *t = &tb.t[i];

		if (t->hidden)
			continue;
		if (json_array_append_new(a, json_pack(
			"{s:s,s:s,s:s,s:i,s:s,s:b}", "name", t->name,
			"input", type_names[t->in], "output",
			type_names[t->out], "params", t->np, "group",
			groups[t->group], "heldout", t->heldout))) {
			json_decref(a);
			bk_table_free(&tb);
			return kiln_error_set(err, KILN_ENOMEM,
					      "out of memory");
		}
	}
	bk_table_free(&tb);
	*list = a;
	return 0;
}

int kiln_bank_eval(const char *composition, const char *input,
		   char **output, kiln_error *err)
{
	bk_table tb;
	bk_stage st[BK_MAXDEPTH];
	bk_val in, out;
	bk_buf s = { 0 };
	int n, rc = 0;

	*output = NULL;
	if (bk_table_build(&tb))
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	if (bk_compose_parse(&tb, composition, st, &n)) {
		rc = kiln_error_set(err, KILN_EINVAL,
				    "cannot read the composition '%s'",
				    composition);
		goto out;
	}
	if (bk_literal_parse(input, &in)) {
		rc = kiln_error_set(err, KILN_EINVAL,
				    "cannot read the input '%s'", input);
		goto out;
	}
	if (bk_run(&tb, st, n, &in, &out))
		bk_puts(&s, "out of bounds");
	else
		bk_literal(&out, &s);
	if (s.oom || !s.p) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		bk_free(&s);
		goto out;
	}
	*output = s.p;
out:
	bk_table_free(&tb);
	return rc;
}
