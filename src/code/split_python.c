/* Python test code into a preamble and snippets (kiln_split_tests; the
 * rules are in kiln/code.h).
 *
 * Three passes over the text: py_scan() cuts it into logical lines with a
 * small scanner (strings with their prefixes and f-string fields,
 * comments, brackets, backslash continuations) and reports what a later
 * compile would choke on first, with its line; py_indents() checks
 * Python's indentation rules; py_collect() groups the lines into top-level
 * statements and classes each one (test, test function, test class,
 * helper, set-up, dropped). kiln__split_python() then emits them.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "code/code_int.h"

#define PY_MAX_DEPTH 200        /* brackets, as CPython's parser */
#define PY_MAX_NEST 16          /* strings inside f-string fields */

/* A logical line of code (blank and comment-only lines are not kept).
 * Offsets are into py.s; 32 bits are enough under the 4 MiB cap. */
struct pyl {
	uint32_t start;    /* the physical line's first byte */
	uint32_t first;    /* first non-blank byte */
	uint32_t end;      /* the '\n' that ends it, or n */
	uint32_t tok_end;  /* just past its last token */
	uint32_t open0;    /* 1 + offset of its first top-level bracket */
	uint32_t call_end; /* just past the ')' closing that bracket */
	uint32_t lineno;
	int indent;        /* columns; a tab goes to the next multiple of 8 */
	int has_assert;
};

struct py {
	const char *s;
	size_t n, i;
	long line;
	unsigned char *instr; /* [line]: the physical line starts in a string */
	size_t ninstr;
	struct pyl *v;
	size_t nv, cap;
	kiln_error *err;
};

static void py_nl(struct py *p, int in_string)
{
	p->line++;
	if (in_string && (size_t)p->line < p->ninstr)
		p->instr[p->line] = 1;
}

/* r, b, f, u, t and their valid pairs (case-insensitive); *f is set for
 * the formatted kinds, whose {fields} hold code. */
static int py_prefix(const char *s, size_t len, int *f)
{
	int r = 0, b = 0, u = 0, ff = 0;

	if (len == 0 || len > 2)
		return 0;
	for (size_t i = 0; i < len; i++) {
		switch (lower((unsigned char)s[i])) {
		case 'r': r++; break;
		case 'b': b++; break;
		case 'u': u++; break;
		case 'f': case 't': ff++; break;
		default: return 0;
		}
	}
	if (r > 1 || b > 1 || u > 1 || ff > 1 || (u && len > 1) || (b && ff))
		return 0;
	*f = ff;
	return 1;
}

static int py_string(struct py *p, int fstr, int nest);

/* Reads an identifier at p->i; a string prefix before a quote reads the
 * string too. Sets *is_assert. */
static int py_word(struct py *p, int nest, int *is_assert)
{
	size_t a = p->i, b = a;
	int f = 0;

	while (b < p->n && is_ident((unsigned char)p->s[b]))
		b++;
	p->i = b;
	*is_assert = b - a == 6 && !memcmp(p->s + a, "assert", 6);
	if (b < p->n && (p->s[b] == '\'' || p->s[b] == '"') &&
	    py_prefix(p->s + a, b - a, &f))
		return py_string(p, f, nest);
	return 0;
}

/* The code in an f-string's {field}, from its '{' to its '}' (a format
 * spec after ':' may hold {fields} of its own). As in Python 3.12, a
 * field may hold strings in any quotes. */
static int py_field(struct py *p, char q, int triple, long open, int nest)
{
	int depth = 0, spec = 0, rc, dummy;

	if (nest > PY_MAX_NEST)
		return kiln_error_set(p->err, KILN_EPARSE,
				      "line %ld: f-strings nested too deeply",
				      p->line);
	p->i++;
	while (p->i < p->n) {
		char c = p->s[p->i];

		if (c == '\n') {
			if (!triple)
				break;
			py_nl(p, 1);
			p->i++;
		} else if (c == '\\') {
			if (p->i + 1 < p->n && p->s[p->i + 1] == '\n')
				py_nl(p, 1);
			p->i += 2;
		} else if (spec) {
			if (c == '{') {
				if ((rc = py_field(p, q, triple, open, nest + 1)))
					return rc;
			} else {
				p->i++;
				if (c == '}')
					return 0;
			}
		} else if (c == '\'' || c == '"') {
			if ((rc = py_string(p, 0, nest + 1)))
				return rc;
		} else if (is_ident_start((unsigned char)c)) {
			if ((rc = py_word(p, nest + 1, &dummy)))
				return rc;
		} else {
			p->i++;
			if (c == '(' || c == '[' || c == '{')
				depth++;
			else if ((c == ')' || c == ']' || c == '}') && depth > 0)
				depth--;
			else if (c == '}')
				return 0;
			else if (c == ':' && depth == 0)
				spec = 1;
		}
	}
	return kiln_error_set(p->err, KILN_EPARSE,
			      "line %ld: unterminated f-string", open);
}

/* A string literal from its opening quote at p->i. */
static int py_string(struct py *p, int fstr, int nest)
{
	const char *s = p->s;
	size_t n = p->n;
	char q = s[p->i];
	long open = p->line;
	int triple = p->i + 2 < n && s[p->i + 1] == q && s[p->i + 2] == q;
	int rc;

	if (nest > PY_MAX_NEST)
		return kiln_error_set(p->err, KILN_EPARSE,
				      "line %ld: strings nested too deeply", open);
	p->i += triple ? 3 : 1;
	while (p->i < n) {
		char c = s[p->i];

		if (c == '\\') {
			if (p->i + 1 < n && s[p->i + 1] == '\n')
				py_nl(p, 1);
			p->i += 2;
		} else if (c == '\n') {
			if (!triple)
				break;
			py_nl(p, 1);
			p->i++;
		} else if (c == q) {
			if (!triple) {
				p->i++;
				return 0;
			}
			if (p->i + 2 < n && s[p->i + 1] == q && s[p->i + 2] == q) {
				p->i += 3;
				return 0;
			}
			p->i++;
		} else if (fstr && c == '{') {
			if (p->i + 1 < n && s[p->i + 1] == '{')
				p->i += 2;
			else if ((rc = py_field(p, q, triple, open, nest + 1)))
				return rc;
		} else {
			p->i++;
		}
	}
	return kiln_error_set(p->err, KILN_EPARSE,
			      "line %ld: unterminated string", open);
}

static int py_push(struct py *p, const struct pyl *l)
{
	if (p->nv == KILN_SPLIT_MAX_LINES)
		return kiln_error_set(p->err, KILN_ELIMIT,
				      "more than %d lines of code",
				      KILN_SPLIT_MAX_LINES);
	if (p->nv == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		struct pyl *v = realloc(p->v, cap * sizeof(*v));

		if (!v)
			return kiln_error_set(p->err, KILN_ENOMEM, "out of memory");
		p->v = v;
		p->cap = cap;
	}
	p->v[p->nv++] = *l;
	return 0;
}

/* Cuts the code into logical lines, checking strings and brackets. */
static int py_scan(struct py *p)
{
	const char *s = p->s;
	size_t n = p->n;
	char stk[PY_MAX_DEPTH];
	long stkline[PY_MAX_DEPTH];
	int rc;

	while (p->i < n) {
		struct pyl l;
		int depth = 0, col = 0;

		memset(&l, 0, sizeof(l));
		l.start = (uint32_t)p->i;
		l.lineno = (uint32_t)p->line;
		while (p->i < n && (s[p->i] == ' ' || s[p->i] == '\t' ||
				    s[p->i] == '\f')) {
			col = s[p->i] == '\t' ? (col / 8 + 1) * 8 : col + 1;
			p->i++;
		}
		l.first = (uint32_t)p->i;
		l.indent = col;
		if (p->i == n || s[p->i] == '\n' || s[p->i] == '#') {
			while (p->i < n && s[p->i] != '\n')
				p->i++;
			if (p->i < n) {
				p->i++;
				py_nl(p, 0);
			}
			continue;
		}
		for (;;) {
			char c;
			int is_assert = 0;

			if (p->i >= n)
				break;
			c = s[p->i];
			if (c == '\n') {
				if (depth == 0)
					break;
				py_nl(p, 0);
				p->i++;
				continue;
			}
			if (c == '#') {
				while (p->i < n && s[p->i] != '\n')
					p->i++;
				continue;
			}
			if (is_blank(c)) {
				p->i++;
				continue;
			}
			if (c == '\\') {
				if (p->i + 1 >= n)
					return kiln_error_set(p->err, KILN_EPARSE,
							      "line %ld: backslash continuation at the end of the input",
							      p->line);
				if (s[p->i + 1] == '\n') {
					p->i += 2;
					py_nl(p, 0);
					continue;
				}
				p->i++;
			} else if (c == '\'' || c == '"') {
				if ((rc = py_string(p, 0, 0)))
					return rc;
			} else if (is_ident_start((unsigned char)c)) {
				if ((rc = py_word(p, 0, &is_assert)))
					return rc;
				l.has_assert |= is_assert;
			} else if (is_digit((unsigned char)c)) {
				while (p->i < n && (is_ident((unsigned char)s[p->i]) ||
						    s[p->i] == '.'))
					p->i++;
			} else if (c == '(' || c == '[' || c == '{') {
				if (depth == PY_MAX_DEPTH)
					return kiln_error_set(p->err, KILN_EPARSE,
							      "line %ld: brackets nested deeper than %d",
							      p->line, PY_MAX_DEPTH);
				if (depth == 0 && !l.open0)
					l.open0 = (uint32_t)p->i + 1;
				stk[depth] = c;
				stkline[depth++] = p->line;
				p->i++;
			} else if (c == ')' || c == ']' || c == '}') {
				if (depth == 0)
					return kiln_error_set(p->err, KILN_EPARSE,
							      "line %ld: unmatched '%c'",
							      p->line, c);
				if (stk[depth - 1] != opener_of(c))
					return kiln_error_set(p->err, KILN_EPARSE,
							      "line %ld: '%c' does not match '%c' opened at line %ld",
							      p->line, c, stk[depth - 1],
							      stkline[depth - 1]);
				depth--;
				p->i++;
				if (depth == 0 && c == ')' && !l.call_end &&
				    s[l.open0 - 1] == '(')
					l.call_end = (uint32_t)p->i;
			} else {
				p->i++;
			}
			l.tok_end = (uint32_t)p->i;
		}
		if (depth > 0)
			return kiln_error_set(p->err, KILN_EPARSE,
					      "line %ld: '%c' is never closed",
					      stkline[depth - 1], stk[depth - 1]);
		l.end = (uint32_t)p->i;
		if (l.tok_end == 0)
			l.tok_end = l.first;
		if ((rc = py_push(p, &l)))
			return rc;
		if (p->i < n) {
			p->i++;
			py_nl(p, 0);
		}
	}
	return 0;
}

/* Python's own indentation rules over the logical lines, the first
 * line's indentation being the outermost level: a deeper line must follow
 * one that ends with ':', a shallower one must return to an outer level. */
static int py_indents(struct py *p)
{
	int stk[PY_MAX_DEPTH];
	int depth = 0;

	for (size_t i = 0; i < p->nv; i++) {
		const struct pyl *l = &p->v[i];

		if (i == 0) {
			stk[depth++] = l->indent;
			continue;
		}
		if (l->indent > stk[depth - 1]) {
			const struct pyl *prev = &p->v[i - 1];
			if (prev->tok_end <= prev->first ||
			    p->s[prev->tok_end - 1] != ':')
				return kiln_error_set(p->err, KILN_EPARSE,
						      "line %u: unexpected indentation",
						      l->lineno);
			if (depth == PY_MAX_DEPTH)
				return kiln_error_set(p->err, KILN_EPARSE,
						      "line %u: blocks nested deeper than %d",
						      l->lineno, PY_MAX_DEPTH);
			stk[depth++] = l->indent;
			continue;
		}
		while (depth > 1 && l->indent < stk[depth - 1])
			depth--;
		if (l->indent != stk[depth - 1])
			return kiln_error_set(p->err, KILN_EPARSE,
					      "line %u: unindent does not match any outer indentation level",
					      l->lineno);
	}
	return 0;
}

/* Appends s[from, to) less `base` columns of indentation on each physical
 * line that does not start inside a string, then a '\n'. */
static int py_emit(const struct py *p, kiln_buf *b, size_t from, size_t to,
		   long line, int base)
{
	size_t i = from;
	int rc;

	while (i < to) {
		const char *nl;
		size_t e;

		if ((size_t)line >= p->ninstr || !p->instr[line]) {
			int col = 0;
			while (i < to && col < base &&
			       (p->s[i] == ' ' || p->s[i] == '\t' || p->s[i] == '\f')) {
				col = p->s[i] == '\t' ? (col / 8 + 1) * 8 : col + 1;
				i++;
			}
		}
		nl = memchr(p->s + i, '\n', to - i);
		e = nl ? (size_t)(nl - p->s) + 1 : to;
		if ((rc = sb_add(b, p->s + i, e - i)))
			return rc;
		i = e;
		line++;
	}
	return sb_add(b, "\n", 1);
}

/* S_HELPER: a def (in the preamble) whose body asserts. */
enum { S_PRE, S_HELPER, S_TEST, S_TESTFN, S_DROP, S_CALL, S_UTCLASS,
       S_PTCLASS };

struct pst {
	size_t a, h, last; /* lines in py.v: first, head (after decorators), last */
	int base;
	int kind;
	const char *name;
	size_t nlen;
};

struct psts {
	struct pst *v;
	size_t n, cap;
};

static const char *py_name_after(const char *t, size_t n, size_t k,
				 size_t *nlen)
{
	const char *name;

	while (k < n && (t[k] == ' ' || t[k] == '\t'))
		k++;
	name = t + k;
	while (k < n && is_ident((unsigned char)t[k]))
		k++;
	*nlen = (size_t)(t + k - name);
	return name;
}

/* if __name__ == "__main__": (any quotes, spaces or parentheses) */
static int py_main_guard(const char *t, size_t n)
{
	static const char *const forms[] = {
		"if__name__==\"__main__\":", "if__name__=='__main__':",
		"if\"__main__\"==__name__:", "if'__main__'==__name__:", NULL
	};
	char buf[40];
	size_t k = 0;

	for (size_t i = 0; i < n && k < sizeof(buf) - 1; i++)
		if (!is_blank(t[i]) && t[i] != '(' && t[i] != ')')
			buf[k++] = t[i];
	buf[k] = '\0';
	for (size_t i = 0; forms[i]; i++)
		if (!strncmp(buf, forms[i], strlen(forms[i])))
			return 1;
	return 0;
}

static int py_solution_import(const char *t, size_t n)
{
	size_t k;

	if (starts_word(t, n, "import"))
		k = 6;
	else if (starts_word(t, n, "from"))
		k = 4;
	else
		return 0;
	while (k < n && is_blank(t[k]))
		k++;
	return starts_word(t + k, n - k, "solution");
}

static int pst_add(struct psts *ps, const struct pst *st, kiln_error *err)
{
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 32;
		struct pst *v = realloc(ps->v, cap * sizeof(*v));

		if (!v)
			return kiln_error_set(err, KILN_ENOMEM, "out of memory");
		ps->v = v;
		ps->cap = cap;
	}
	ps->v[ps->n++] = *st;
	return 0;
}

/* Groups lines v[from, to) into statements at their first line's
 * indentation and classes each one. */
static int py_collect(struct py *p, size_t from, size_t to, int in_main,
		      struct psts *ps)
{
	const char *s = p->s;
	int base, rc;
	size_t i = from;

	if (from >= to)
		return 0;
	base = p->v[from].indent;
	while (i < to) {
		struct pst st;
		const struct pyl *h;
		const char *t;
		size_t tn, j;
		int asserts = 0;

		memset(&st, 0, sizeof(st));
		if (p->v[i].indent != base)
			return kiln_error_set(p->err, KILN_EPARSE, "line %u: %s",
					      p->v[i].lineno,
					      p->v[i].indent > base ?
					      "unexpected indentation" :
					      "unindent does not match any outer indentation level");
		st.a = i;
		st.base = base;
		while (s[p->v[i].first] == '@') {
			if (++i >= to || p->v[i].indent != base)
				return kiln_error_set(p->err, KILN_EPARSE,
						      "line %u: decorator without a definition",
						      p->v[st.a].lineno);
		}
		st.h = st.last = i;
		for (j = i + 1; j < to; j++) {
			const struct pyl *m = &p->v[j];
			const char *mt = s + m->first;
			size_t mn = m->tok_end - m->first;

			if (m->indent > base ||
			    (m->indent == base &&
			     (starts_word(mt, mn, "elif") || starts_word(mt, mn, "else") ||
			      starts_word(mt, mn, "except") ||
			      starts_word(mt, mn, "finally"))))
				st.last = j;
			else
				break;
		}
		for (j = st.h; j <= st.last; j++)
			asserts |= p->v[j].has_assert;
		h = &p->v[st.h];
		t = s + h->first;
		tn = h->tok_end - h->first;
		i = st.last + 1;

		if (!in_main && st.last > st.h && py_main_guard(t, tn)) {
			size_t e = st.h + 1;
			while (e <= st.last && p->v[e].indent > base)
				e++;
			if ((rc = py_collect(p, st.h + 1, e, 1, ps)))
				return rc;
			continue;
		}
		if (starts_word(t, tn, "def")) {
			st.name = py_name_after(t, tn, 3, &st.nlen);
			st.kind = test_name(st.name, st.nlen, "test") ? S_TESTFN
								      : S_PRE;
			if (st.kind == S_PRE && asserts)
				st.kind = S_HELPER;
		} else if (starts_word(t, tn, "class")) {
			st.name = py_name_after(t, tn, 5, &st.nlen);
			if (memmem(t, tn, "TestCase", 8))
				st.kind = S_UTCLASS;
			else if (test_name(st.name, st.nlen, "Test"))
				st.kind = S_PTCLASS;
			else
				st.kind = S_PRE;
		} else if (starts_word(t, tn, "async")) {
			st.kind = S_PRE;
		} else if (py_solution_import(t, tn) ||
			   memmem(t, tn, "unittest.main(", 14) ||
			   memmem(t, tn, "pytest.main(", 12)) {
			st.kind = S_DROP;
		} else if (asserts) {
			st.kind = S_TEST;
		} else {
			size_t k = 0;
			while (k < tn && is_ident((unsigned char)t[k]))
				k++;
			st.kind = S_PRE;
			if (k > 0 && !is_digit((unsigned char)t[0]) &&
			    h->open0 && h->open0 - 1 == h->first + k &&
			    h->call_end == h->tok_end && st.last == st.h) {
				st.kind = S_CALL;
				st.name = t;
				st.nlen = k;
			}
		}
		if ((rc = pst_add(ps, &st, p->err)))
			return rc;
	}
	return 0;
}

/* One snippet per test method of a class: unittest through a suite, or
 * pytest style by instantiating the class. */
static int py_methods(struct py *p, const struct pst *st, struct split_out *o)
{
	int body, rc = 0;

	if (st->last == st->h)
		return 0;
	body = p->v[st->h + 1].indent;
	for (size_t j = st->h + 1; j <= st->last; j++) {
		const struct pyl *m = &p->v[j];
		const char *t = p->s + m->first, *name;
		size_t nlen;
		kiln_buf b;

		if (m->indent != body || !starts_word(t, m->tok_end - m->first, "def"))
			continue;
		name = py_name_after(t, m->tok_end - m->first, 3, &nlen);
		if (!test_name(name, nlen, "test"))
			continue;
		b = kiln__split_snippet(o);
		if (st->kind == S_UTCLASS) {
			rc = sb_str(&b, "import unittest as _kiln_ut\n"
					"_kiln_r = _kiln_ut.TestResult()\n"
					"_kiln_ut.TestSuite([");
			rc = rc ? rc : sb_add(&b, st->name, st->nlen);
			rc = rc ? rc : sb_str(&b, "(\"");
			rc = rc ? rc : sb_add(&b, name, nlen);
			rc = rc ? rc : sb_str(&b,
				"\")]).run(_kiln_r)\n"
				"for _kiln_t, _kiln_tb in _kiln_r.errors + _kiln_r.failures:\n"
				"    raise AssertionError(_kiln_tb.strip().splitlines()[-1])\n"
				"if _kiln_r.unexpectedSuccesses:\n"
				"    raise AssertionError(\"unexpected success\")\n");
		} else {
			rc = sb_add(&b, st->name, st->nlen);
			rc = rc ? rc : sb_str(&b, "().");
			rc = rc ? rc : sb_add(&b, name, nlen);
			rc = rc ? rc : sb_str(&b, "()\n");
		}
		if (rc) {
			free(b.p);
			return kiln__split_buf_error(o->err, rc, KILN_SPLIT_MAX_OUT);
		}
		if ((rc = kiln__split_add_test(o, &b)))
			return rc;
	}
	return 0;
}

int kiln__split_python(const char *s, size_t n, struct split_out *o)
{
	struct py p;
	struct psts ps = { NULL, 0, 0 };
	struct split_defs ds = { NULL, 0, 0 };
	int rc;

	memset(&p, 0, sizeof(p));
	p.s = s;
	p.n = n;
	p.line = 1;
	p.err = o->err;
	p.ninstr = 2;
	for (const char *q = s; (q = memchr(q, '\n', n - (size_t)(q - s))); q++)
		p.ninstr++;
	p.instr = calloc(p.ninstr, 1);
	if (!p.instr) {
		rc = kiln_error_set(o->err, KILN_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = py_scan(&p)) || (rc = py_indents(&p)) ||
	    (rc = py_collect(&p, 0, p.nv, 0, &ps)))
		goto out;
	for (size_t i = 0; i < ps.n; i++) {
		const struct pst *st = &ps.v[i];
		int kind = st->kind == S_TESTFN ? DEF_TEST :
			   st->kind == S_HELPER ? DEF_ASSERTS : 0;
		if (kind && kiln__defs_add(&ds, st->name, st->nlen, kind)) {
			rc = kiln_error_set(o->err, KILN_ENOMEM, "out of memory");
			goto out;
		}
	}
	kiln__defs_sort(&ds);
	for (size_t i = 0; i < ps.n; i++) {
		struct pst *st = &ps.v[i];
		size_t from = p.v[st->a].start, to = p.v[st->last].end;
		long line = (long)p.v[st->a].lineno;
		kiln_buf b;

		if (st->kind == S_CALL) {
			int k = kiln__defs_kind(&ds, st->name, st->nlen);
			st->kind = k & DEF_TEST ? S_DROP :
				   k & DEF_ASSERTS ? S_TEST : S_PRE;
		}
		switch (st->kind) {
		case S_DROP:
			break;
		case S_TEST:
		case S_TESTFN:
			b = kiln__split_snippet(o);
			rc = py_emit(&p, &b, from, to, line, st->base);
			if (!rc && st->kind == S_TESTFN) {
				rc = sb_add(&b, st->name, st->nlen);
				rc = rc ? rc : sb_str(&b, "()\n");
			}
			if (rc) {
				free(b.p);
				rc = kiln__split_buf_error(o->err, rc, KILN_SPLIT_MAX_OUT);
				goto out;
			}
			if ((rc = kiln__split_add_test(o, &b)))
				goto out;
			break;
		default: /* S_PRE, helpers and classes */
			rc = py_emit(&p, &o->pre, from, to, line, st->base);
			if (rc) {
				rc = kiln__split_buf_error(o->err, rc, KILN_SPLIT_MAX_OUT);
				goto out;
			}
			if ((st->kind == S_UTCLASS || st->kind == S_PTCLASS) &&
			    (rc = py_methods(&p, st, o)))
				goto out;
			break;
		}
	}
out:
	free(ds.d);
	free(ps.v);
	free(p.v);
	free(p.instr);
	return rc;
}

