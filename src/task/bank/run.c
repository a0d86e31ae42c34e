/* run.c - the template table and the reference interpreter: one stage,
 * a pipeline, values as Python literals, compositions as text. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/rng.h"
#include "task/bank/bank_int.h"

/* ---- the string builder ---- */

void bk_putn(bk_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *q;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (!(q = realloc(b->p, cap))) {
			b->oom = 1;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void bk_puts(bk_buf *b, const char *s)
{
	bk_putn(b, s, strlen(s));
}

void bk_printf(bk_buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = 1;
		return;
	}
	if ((size_t)n < sizeof tmp) {
		bk_putn(b, tmp, (size_t)n);
		return;
	}
	{
		char *big = malloc((size_t)n + 1);

		if (!big) {
			b->oom = 1;
			return;
		}
		va_start(ap, fmt);
		vsnprintf(big, (size_t)n + 1, fmt, ap);
		va_end(ap);
		bk_putn(b, big, (size_t)n);
		free(big);
	}
}

void bk_reset(bk_buf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
}

void bk_free(bk_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* ---- the table ---- */

/* A template is held out (--split heldout) by a hash of its name alone:
 * the same templates on every machine, for every seed. */
static int held_out(const char *name)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 1099511628211ULL;
	return kiln_rng_mix(h) % 5 == 0;
}

static int add(bk_table *tb, size_t *cap, const bk_tmpl *t)
{
	if (tb->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 256;
		bk_tmpl *q = realloc(tb->t, nc * sizeof *q);

		if (!q)
			return -1;
		tb->t = q;
		*cap = nc;
	}
	tb->t[tb->n] = *t;
	tb->t[tb->n].heldout = held_out(t->name);
	tb->n++;
	return 0;
}

static void params(bk_tmpl *t, int np, const int *lo, const int *hi)
{
	t->np = np;
	for (int i = 0; i < 2; i++)
		t->lo[i] = lo[i], t->hi[i] = hi[i];
}

int bk_table_build(bk_table *tb)
{
	size_t cap = 0;

	memset(tb, 0, sizeof *tb);
	for (const bk_op *o = bk_ops; o->name; o++) {
		bk_tmpl t = { .in = BK_INT, .out = BK_INT, .group = G_OP,
			      .hidden = o->hidden, .op = o };

		params(&t, o->np, o->lo, o->hi);
		snprintf(t.name, sizeof t.name, "%s", o->name);
		if (add(tb, &cap, &t))
			goto fail;
		t.in = t.out = BK_LIST;
		t.group = G_MAP;
		snprintf(t.name, sizeof t.name, "map_%s", o->name);
		if (add(tb, &cap, &t))
			goto fail;
	}
	for (const bk_cons *c = bk_conses; c->prefix; c++)
		for (const bk_pred *p = bk_preds; p->name; p++) {
			bk_tmpl t = { .in = c->in, .out = c->out,
				      .group = c->chr ? G_CHARPRED : G_PRED,
				      .hidden = c->hidden || p->hidden,
				      .chr = p->chr, .pred = p, .cons = c };

			if (c->chr != p->chr)
				continue;
			params(&t, p->np, p->lo, p->hi);
			snprintf(t.name, sizeof t.name, "%s_%s", c->prefix,
				 p->name);
			if (add(tb, &cap, &t))
				goto fail;
		}
	for (const bk_spec *s = bk_specs; s->name; s++) {
		bk_tmpl t = { .in = s->in, .out = s->out, .hidden = s->hidden,
			      .chr = s->chr, .spec = s };

		t.group = s->in == BK_LIST ? G_LIST : s->in == BK_STR ? G_STR
								     : G_CONV;
		params(&t, s->np, s->lo, s->hi);
		snprintf(t.name, sizeof t.name, "%s", s->name);
		if (add(tb, &cap, &t))
			goto fail;
	}
	return 0;
fail:
	bk_table_free(tb);
	return -1;
}

void bk_table_free(bk_table *tb)
{
	free(tb->t);
	tb->t = NULL;
	tb->n = 0;
}

int bk_find(const bk_table *tb, const char *name)
{
	for (size_t i = 0; i < tb->n; i++)
		if (strcmp(tb->t[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* ---- the interpreter ---- */


static int in_lim(long long v)
{
	return v >= -BK_LIM && v <= BK_LIM;
}

/* Appends element x (a number, or a character) to a list or string. */
static int put(bk_val *o, long long x)
{
	if (o->n >= BK_MAX)
		return -1;
	if (o->type == BK_STR) {
		o->s[o->n++] = (char)x;
		o->s[o->n] = '\0';
	} else {
		if (!in_lim(x))
			return -1;
		o->v[o->n++] = x;
	}
	return 0;
}

static int consume(const bk_tmpl *t, const long long *p, const bk_val *in,
		   bk_val *o)
{
	int (*pr)(long long, const long long *) = t->pred->eval;
	int n = in->type == BK_INT ? 0 : in->n;
	long long e[BK_MAX];

	for (int i = 0; i < n; i++)
		e[i] = in->type == BK_STR ? (unsigned char)in->s[i] : in->v[i];
	switch (t->cons->id) {
	case C_IS:
		o->i = pr(in->i, p);
		return 0;
	case C_FILTER:
		for (int i = 0; i < n; i++)
			if (pr(e[i], p) && put(o, e[i]))
				return -1;
		return 0;
	case C_COUNT:
	case C_SUMIF:
		o->i = 0;
		for (int i = 0; i < n; i++)
			if (pr(e[i], p))
				o->i += t->cons->id == C_COUNT ? 1 : e[i];
		return in_lim(o->i) ? 0 : -1;
	case C_ANY:
		o->i = 0;
		for (int i = 0; i < n; i++)
			o->i |= pr(e[i], p);
		return 0;
	case C_ALL:
	case C_ALLNE:
		o->i = t->cons->id == C_ALL || n > 0;
		for (int i = 0; i < n; i++)
			o->i &= pr(e[i], p);
		return 0;
	case C_INDEX:
	case C_INDEX1:
	case C_INDEXLEN:
		o->i = t->cons->id == C_INDEXLEN ? n : -1;
		for (int i = 0; i < n; i++)
			if (pr(e[i], p)) {
				o->i = t->cons->id == C_INDEX1 ? i + 1 : i;
				break;
			}
		return 0;
	case C_TAKEWHILE:
		for (int i = 0; i < n && pr(e[i], p); i++)
			if (put(o, e[i]))
				return -1;
		return 0;
	case C_DROPWHILE:
		for (int i = 0, on = 0; i < n; i++)
			if ((on |= !pr(e[i], p)) && put(o, e[i]))
				return -1;
		return 0;
	case C_ZERO:
		for (int i = 0; i < n; i++)
			if (put(o, pr(e[i], p) ? 0 : e[i]))
				return -1;
		return 0;
	case C_PARTITION:
		for (int pass = 1; pass >= 0; pass--)
			for (int i = 0; i < n; i++)
				if (!pr(e[i], p) == !pass && put(o, e[i]))
					return -1;
		return 0;
	}
	return -1;
}

int bk_apply(const bk_tmpl *t, const long long *p, const bk_val *in,
	     bk_val *o)
{
	o->type = t->out;
	o->n = 0;
	o->i = 0;
	o->s[0] = '\0';
	if (in->type != t->in)
		return -1;
	if (t->op) {
		if (t->in == BK_INT)
			return t->op->eval(in->i, p, &o->i);
		for (int i = 0; i < in->n; i++)
			if (t->op->eval(in->v[i], p, &o->v[o->n++]))
				return -1;
		return 0;
	}
	if (t->cons)
		return consume(t, p, in, o);
	return t->spec->eval(in, p, o);
}

int bk_run(const bk_table *tb, const bk_stage *st, int n, const bk_val *in,
	   bk_val *out)
{
	bk_val tmp;
	const bk_val *cur = in;

	if (n == 0) {
		*out = *in;
		return 0;
	}
	for (int k = 0; k < n; k++) {
		bk_val *dst = (k % 2 == n % 2) ? &tmp : out;

		/* alternate so that the last stage writes into out */
		if (bk_apply(&tb->t[st[k].t], st[k].p, cur, dst))
			return -1;
		cur = dst;
	}
	return 0;
}

/* ---- values as literals ---- */

/* Python's and Lua's literals differ in their words, brackets, quotes and
 * escapes only. */
static const struct {
	const char *yes, *no, *open, *close;
	char quote;
} syntax[BK_NLANGS] = {
	[BK_PY] = { "True", "False", "[", "]", '\'' },
	[BK_LUA] = { "true", "false", "{", "}", '"' },
};

void bk_literal_in(int lang, const bk_val *v, bk_buf *b)
{
	if (lang != BK_LUA)
		lang = BK_PY;
	switch (v->type) {
	case BK_INT:
		bk_printf(b, "%lld", v->i);
		break;
	case BK_BOOL:
		bk_puts(b, v->i ? syntax[lang].yes : syntax[lang].no);
		break;
	case BK_LIST:
		bk_puts(b, syntax[lang].open);
		for (int i = 0; i < v->n; i++)
			bk_printf(b, "%s%lld", i ? ", " : "", v->v[i]);
		bk_puts(b, syntax[lang].close);
		break;
	case BK_STR:
		/* the bank's strings are printable ASCII without quotes or
		 * backslashes: Python's repr() is the text in single quotes */
		bk_putn(b, &syntax[lang].quote, 1);
		for (int i = 0; i < v->n; i++) {
			unsigned char c = (unsigned char)v->s[i];

			if (c < 32 || c > 126 || c == syntax[lang].quote ||
			    c == '\\')
				bk_printf(b, lang == BK_LUA ? "\\%03d"
					  : "\\x%02x", c);
			else
				bk_putn(b, (const char *)&c, 1);
		}
		bk_putn(b, &syntax[lang].quote, 1);
		break;
	}
}

void bk_literal(const bk_val *v, bk_buf *b)
{
	bk_literal_in(BK_PY, v, b);
}

int bk_equal(const bk_val *a, const bk_val *b)
{
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case BK_INT:
	case BK_BOOL:
		return a->i == b->i;
	case BK_LIST:
		return a->n == b->n &&
		       memcmp(a->v, b->v, sizeof a->v[0] * (size_t)a->n) == 0;
	default:
		return a->n == b->n && memcmp(a->s, b->s, (size_t)a->n) == 0;
	}
}

/* ---- compositions as text ---- */

static void param_text(const bk_tmpl *t, long long p, bk_buf *b)
{
	if (t->chr)
		bk_printf(b, "'%c'", (char)p);
	else
		bk_printf(b, "%lld", p);
}

void bk_compose_text(const bk_table *tb, const bk_stage *st, int n,
		     bk_buf *b)
{
	for (int k = 0; k < n; k++) {
		const bk_tmpl *t = &tb->t[st[k].t];

		bk_printf(b, "%s%s", k ? " | " : "", t->name);
		if (t->np) {
			bk_puts(b, "(");
			for (int j = 0; j < t->np; j++) {
				if (j)
					bk_puts(b, ", ");
				param_text(t, st[k].p[j], b);
			}
			bk_puts(b, ")");
		}
	}
}

static const char *skip(const char *s)
{
	while (*s == ' ')
		s++;
	return s;
}

/* An integer or a quoted character. */
static const char *parse_param(const char *s, long long *v)
{
	char *end;

	s = skip(s);
	if (s[0] == '\'' && s[1] && s[2] == '\'') {
		*v = (unsigned char)s[1];
		return s + 3;
	}
	*v = strtoll(s, &end, 10);
	return end == s ? NULL : end;
}

int bk_compose_parse(const bk_table *tb, const char *text, bk_stage *st,
		     int *n)
{
	const char *s = skip(text);

	*n = 0;
	while (*s) {
		char name[32];
		size_t k = 0;
		int t, np = 0;

		if (*n == BK_MAXDEPTH)
			return -1;
		while (isalnum((unsigned char)*s) || *s == '_')
			if (k + 1 < sizeof name)
				name[k++] = *s++;
			else
				return -1;
		name[k] = '\0';
		if ((t = bk_find(tb, name)) < 0)
			return -1;
		st[*n].t = t;
		st[*n].p[0] = st[*n].p[1] = 0;
		s = skip(s);
		if (*s == '(') {
			s++;
			while (np < 2) {
				if (!(s = parse_param(s, &st[*n].p[np++])))
					return -1;
				s = skip(s);
				if (*s != ',')
					break;
				s++;
			}
			if (*s++ != ')')
				return -1;
		}
		if (np != tb->t[t].np)
			return -1;
		(*n)++;
		s = skip(s);
		if (*s == '|')
			s = skip(s + 1);
		else if (*s)
			return -1;
	}
	return 0;
}

int bk_literal_parse(const char *text, bk_val *v)
{
	const char *s = skip(text);
	char *end;

	memset(v, 0, sizeof *v);
	if (*s == '\'') {
		v->type = BK_STR;
		for (s++; *s && *s != '\''; s++) {
			if (v->n == BK_MAX)
				return -1;
			v->s[v->n++] = *s;
		}
		if (*s != '\'')
			return -1;
		v->s[v->n] = '\0';
		s++;
	} else if (*s == '[') {
		v->type = BK_LIST;
		s = skip(s + 1);
		while (*s != ']') {
			if (v->n == BK_MAX)
				return -1;
			v->v[v->n++] = strtoll(s, &end, 10);
			if (end == s)
				return -1;
			s = skip(end);
			if (*s == ',')
				s = skip(s + 1);
			else if (*s != ']')
				return -1;
		}
		s++;
	} else if (strncmp(s, "True", 4) == 0 || strncmp(s, "False", 5) == 0) {
		v->type = BK_BOOL;
		v->i = *s == 'T';
		s += v->i ? 4 : 5;
	} else {
		v->type = BK_INT;
		v->i = strtoll(s, &end, 10);
		if (end == s)
			return -1;
		s = end;
	}
	return *skip(s) ? -1 : 0;
}
