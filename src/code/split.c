/* kiln_split_tests(): test code into a preamble and independent snippets
 * (the rules are in kiln/code.h). This file holds the entry point and
 * what both splitters share: the output they fill, under one cap
 * (KILN_SPLIT_MAX_OUT), and the table of definitions that decides what a
 * bare call "f(...)" is. The scanners are split_python.c and split_c.c.
 */

#include <stdlib.h>
#include <string.h>

#include "code/code_int.h"

/* The string itself (never NULL), handed over to the caller. */
static char *sb_take(kiln_buf *b)
{
	char *p = b->p;

	if (!p)
		p = calloc(1, 1);
	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

int kiln__split_buf_error(kiln_error *err, int rc, size_t max)
{
	if (rc == KILN_ENOMEM)
		return kiln_error_set(err, rc, "out of memory");
	return kiln_error_set(err, rc, "output larger than %zu bytes", max);
}

kiln_buf kiln__split_snippet(const struct split_out *o)
{
	kiln_buf b = { NULL, 0, 0, KILN_SPLIT_MAX_OUT - o->used };
	return b;
}

static void sb_drop(kiln_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

int kiln__split_add_test(struct split_out *o, kiln_buf *b)
{
	if (o->nt == KILN_SPLIT_MAX_TESTS) {
		sb_drop(b);
		return kiln_error_set(o->err, KILN_ELIMIT, "more than %d tests",
				      KILN_SPLIT_MAX_TESTS);
	}
	if (o->nt == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 16;
		char **t = realloc(o->t, cap * sizeof(*t));

		if (!t) {
			sb_drop(b);
			return kiln_error_set(o->err, KILN_ENOMEM, "out of memory");
		}
		o->t = t;
		o->cap = cap;
	}
	o->used += b->len;
	o->t[o->nt++] = sb_take(b);
	if (!o->t[o->nt - 1]) {
		o->nt--;
		return kiln_error_set(o->err, KILN_ENOMEM, "out of memory");
	}
	return 0;
}

int kiln__defs_add(struct split_defs *ds, const char *p, size_t len, int kind)
{
	if (ds->n == ds->cap) {
		size_t cap = ds->cap ? ds->cap * 2 : 16;
		struct split_def *d = realloc(ds->d, cap * sizeof(*d));

		if (!d)
			return KILN_ENOMEM;
		ds->d = d;
		ds->cap = cap;
	}
	ds->d[ds->n].p = p;
	ds->d[ds->n].len = len;
	ds->d[ds->n].kind = kind;
	ds->n++;
	return 0;
}

static int def_cmp(const void *a, const void *b)
{
	const struct split_def *x = a, *y = b;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->p, y->p, x->len);
}

void kiln__defs_sort(struct split_defs *ds)
{
	if (ds->n)
		qsort(ds->d, ds->n, sizeof(*ds->d), def_cmp);
}

int kiln__defs_kind(const struct split_defs *ds, const char *p, size_t len)
{
	struct split_def key = { p, len, 0 };
	const struct split_def *d;
	int kind = 0;

	if (!ds->n)
		return 0;
	d = bsearch(&key, ds->d, ds->n, sizeof(*d), def_cmp);
	if (!d)
		return 0;
	while (d > ds->d && !def_cmp(d - 1, &key))
		d--;
	for (; d < ds->d + ds->n && !def_cmp(d, &key); d++)
		kind |= d->kind;
	return kind;
}

int kiln_split_tests(const char *code, size_t len, const char *language,
		     char **preamble, char ***tests, size_t *n,
		     kiln_error *err)
{
	struct split_out o;
	enum code_lang lang = kiln__code_lang(language);
	char *s = NULL;
	size_t sn;
	int rc;

	if (!preamble || !tests || !n)
		return kiln_error_set(err, KILN_EINVAL, "split: no output");
	*preamble = NULL;
	*tests = NULL;
	*n = 0;
	if (lang == CODE_OTHER)
		return kiln_error_set(err, KILN_EINVAL,
				      "no test splitter for language '%s'",
				      language);
	rc = kiln__code_check_text(code, len, KILN_SPLIT_MAX_CODE, "test code",
				   err);
	if (rc)
		return rc;
	memset(&o, 0, sizeof(o));
	o.pre.max = KILN_SPLIT_MAX_OUT;
	o.err = err;
	s = kiln__code_to_lf(code ? code : "", len, &sn);
	if (!s) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		goto out;
	}
	rc = lang == CODE_PY ? kiln__split_python(s, sn, &o)
			    : kiln__split_c(s, sn, &o);
	if (!rc && o.pre.len + o.used > KILN_SPLIT_MAX_OUT)
		rc = kiln_error_set(err, KILN_ELIMIT, "output larger than %u bytes",
				    KILN_SPLIT_MAX_OUT);
	if (!rc) {
		*preamble = sb_take(&o.pre);
		if (!*preamble)
			rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
	}
	if (!rc) {
		*tests = o.t;
		*n = o.nt;
		o.t = NULL;
		o.nt = 0;
	}
out:
	kiln_tests_free(o.t, o.nt);
	free(o.pre.p);
	free(s);
	return rc;
}

void kiln_tests_free(char **tests, size_t n)
{
	if (!tests)
		return;
	for (size_t i = 0; i < n; i++)
		free(tests[i]);
	free(tests);
}
