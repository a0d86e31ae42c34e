/* Code out of a model's answer: kiln_extract_code() and
 * kiln_extract_tests() (the rules are in kiln/code.h).
 *
 * The answer is read line by line: CommonMark fences (ex_fences), or,
 * with no fence at all, runs of lines that look like code (ex_unfenced,
 * which asks py_line_kind / c_line_kind what each line looks like). The
 * candidates are classed by what they define (ex_classify) and joined,
 * a later definition of a name replacing an earlier one (ex_choose).
 */

#include <stdlib.h>
#include <string.h>

#include "code/code_int.h"

#define EXTRACT_MAX_NAMES 4096 /* definitions compared across blocks */

/* "test...", "check" and "main": names that tests and drivers use. */
static int testish_name(const char *s, size_t n)
{
	return (n >= 4 && eq_ci(s, 4, "test")) || (n == 5 && !memcmp(s, "check", 5)) ||
	       (n == 4 && !memcmp(s, "main", 4));
}

enum { TAG_NONE, TAG_LANG, TAG_OTHER };
enum { CLS_PLAIN, CLS_TESTS, CLS_PROGRAM };

struct block {
	size_t off, len;  /* content in ex.text */
	int tag;
	int cls;
	size_t name0, nname; /* its definitions in ex.names */
	int setup;        /* defines nothing, only sets up (see setup_block) */
	int keep;
};

struct name {
	const char *p;
	size_t len;
};

struct ex {
	const char *s; /* the answer, LF line ends */
	size_t n;
	enum code_lang lang;
	const char *lname;
	char *text;      /* block contents, dedented; room for n + 2 */
	size_t tlen;
	struct block *b;
	size_t nb, bcap;
	struct name names[EXTRACT_MAX_NAMES];
	size_t nnames;
	int nfenced;
	int truncated;
	int nosup;       /* a string-suppressed fence turned out real */
	int want_tests;  /* kiln_extract_tests: blocks with tests win */
	kiln_error *err;
};

struct fence {
	char ch;
	size_t len, indent;
	const char *info;
	size_t ilen;
};

static int fence_open(const char *l, size_t n, struct fence *f)
{
	size_t i = 0, j, e;

	while (i < n && i < 4 && l[i] == ' ')
		i++;
	if (i > 3 || i >= n || (l[i] != '`' && l[i] != '~'))
		return 0;
	for (j = i; j < n && l[j] == l[i]; j++)
		;
	if (j - i < 3)
		return 0;
	f->ch = l[i];
	f->len = j - i;
	f->indent = i;
	while (j < n && is_blank(l[j]))
		j++;
	e = n;
	while (e > j && is_blank(l[e - 1]))
		e--;
	f->info = l + j;
	f->ilen = e - j;
	if (f->ch == '`' && memchr(f->info, '`', f->ilen))
		return 0; /* CommonMark: not a fence, inline code */
	return 1;
}

static int fence_close(const char *l, size_t n, const struct fence *f)
{
	size_t i = 0, j;

	while (i < n && i < 4 && l[i] == ' ')
		i++;
	if (i > 3)
		return 0;
	for (j = i; j < n && l[j] == f->ch; j++)
		;
	if (j - i < f->len)
		return 0;
	while (j < n && is_blank(l[j]))
		j++;
	return j == n;
}

/* A fence's tag w[0, wl) names the language: for python and c, any of
 * their names in the table (lang_names.c); for another language, its own
 * name. */
static int lang_tag(const struct ex *x, const char *w, size_t wl)
{
	const char *c;

	if (x->lang == CODE_OTHER)
		return eq_ci(w, wl, x->lname);
	c = kiln_lang_of_tag(w, wl);
	return c && !strcmp(c, x->lang == CODE_PY ? "python" : "c");
}

static int tag_of(const struct ex *x, const char *info, size_t ilen)
{
	size_t i = 0, j;

	while (i < ilen && (info[i] == '{' || info[i] == '.'))
		i++;
	for (j = i; j < ilen; j++) {
		unsigned char c = (unsigned char)info[j];
		if (!(is_ident(c) && c < 0x80) && c != '+' && c != '#' && c != '-')
			break;
	}
	if (j == i)
		return TAG_NONE;
	return lang_tag(x, info + i, j - i) ? TAG_LANG : TAG_OTHER;
}

/* Python strings across lines, just enough to know whether a line that
 * looks like a closing fence is inside a triple-quoted string.
 * st: 0 code, 1 inside ''', 2 inside """. */
static int py_line_state(int st, const char *l, size_t n)
{
	size_t i = 0;

	while (i < n) {
		char c = l[i];

		if (st) {
			char q = st == 1 ? '\'' : '"';

			if (c == '\\')
				i += 2;
			else if (c == q && i + 2 < n && l[i + 1] == q && l[i + 2] == q) {
				st = 0;
				i += 3;
			} else {
				i++;
			}
			continue;
		}
		if (c == '#')
			break;
		if (c == '\'' || c == '"') {
			if (i + 2 < n && l[i + 1] == c && l[i + 2] == c) {
				st = c == '\'' ? 1 : 2;
				i += 3;
				continue;
			}
			for (i++; i < n && l[i] != c; i++)
				if (l[i] == '\\')
					i++;
		}
		i++;
	}
	return st;
}

/* Appends a line to x->text, less up to `indent` leading blanks. */
static void ex_line(struct ex *x, const char *l, size_t n, size_t indent)
{
	size_t k = 0;

	while (k < indent && k < n && (l[k] == ' ' || l[k] == '\t'))
		k++;
	memcpy(x->text + x->tlen, l + k, n - k);
	x->tlen += n - k;
	x->text[x->tlen++] = '\n';
}

static int ex_push(struct ex *x, size_t off, int tag)
{
	struct block *b;
	size_t i;

	for (i = off; i < x->tlen; i++)
		if (!is_blank(x->text[i]) && x->text[i] != '\n')
			break;
	if (i == x->tlen) {
		x->tlen = off; /* nothing but blanks: not a candidate */
		return 0;
	}
	if (x->nb == x->bcap) {
		size_t cap = x->bcap ? x->bcap * 2 : 8;
		struct block *nbk = realloc(x->b, cap * sizeof(*nbk));

		if (!nbk)
			return kiln_error_set(x->err, KILN_ENOMEM, "out of memory");
		x->b = nbk;
		x->bcap = cap;
	}
	b = &x->b[x->nb++];
	memset(b, 0, sizeof(*b));
	b->off = off;
	b->len = x->tlen - off;
	b->tag = tag;
	return 0;
}

/* Reads the fenced blocks from s[pos, n). */
static int ex_fences(struct ex *x, size_t pos)
{
	const char *s = x->s;
	size_t n = x->n;

	while (pos < n) {
		struct fence f;
		size_t ls, le, off, sup_pos = 0, sup_tlen = 0;
		int tag, pyish, st = 0, closed = 0, rc;

		next_line(s, n, &pos, &ls, &le);
		if (!fence_open(s + ls, le - ls, &f))
			continue;
		if (++x->nfenced > KILN_EXTRACT_MAX_BLOCKS)
			return kiln_error_set(x->err, KILN_ELIMIT,
					      "more than %d fenced blocks in the answer",
					      KILN_EXTRACT_MAX_BLOCKS);
		tag = tag_of(x, f.info, f.ilen);
		pyish = x->lang == CODE_PY && tag != TAG_OTHER;
		off = x->tlen;
		while (pos < n) {
			next_line(s, n, &pos, &ls, &le);
			if (fence_close(s + ls, le - ls, &f)) {
				if (!pyish || st == 0 || x->nosup) {
					closed = 1;
					break;
				}
				if (!sup_pos) { /* inside a string: remember it */
					sup_pos = pos;
					sup_tlen = x->tlen;
				}
			}
			ex_line(x, s + ls, le - ls, f.indent);
			if (pyish)
				st = py_line_state(st, s + ls, le - ls);
		}
		if (!closed && sup_pos) {
			/* The string never ended: the fence was real after all.
			 * Reading on from there, fences are taken as they are,
			 * so the answer is read at most twice. */
			x->tlen = sup_tlen;
			pos = sup_pos;
			closed = 1;
			x->nosup = 1;
		}
		if (!closed)
			x->truncated = 1;
		rc = ex_push(x, off, tag);
		if (rc)
			return rc;
	}
	return 0;
}

enum { LN_BLANK, LN_PROSE, LN_COMMENT, LN_CODE, LN_STRONG };

/* An identifier (dots allowed) followed by a call, an index or an
 * assignment: "f(3)", "x = 1", "a[i] += 2", "p->n++". */
static int looks_like_expr(const char *t, size_t n)
{
	size_t i = 0;

	while (i < n && (is_ident((unsigned char)t[i]) || t[i] == '.'))
		i++;
	if (i == 0 || i == n)
		return 0;
	if (t[i] == '(' || t[i] == '[')
		return 1;
	if (i + 1 < n && ((t[i] == '-' && t[i + 1] == '>') ||
			  (t[i] == '+' && t[i + 1] == '+') ||
			  (t[i] == '-' && t[i + 1] == '-')))
		return 1;
	while (i < n && t[i] == ' ')
		i++;
	if (i < n && t[i] == '=' && (i + 1 == n || t[i + 1] != '='))
		return 1;
	if (i + 1 < n && strchr("+-*/%&|^", t[i]) && t[i + 1] == '=')
		return 1;
	return 0;
}

static int py_line_kind(const char *l, size_t n)
{
	static const char *const kw[] = {
		"if", "elif", "else", "for", "while", "try", "except", "finally",
		"with", "return", "assert", "raise", "yield", "pass", "break",
		"continue", "global", "nonlocal", "del", "lambda", "print", NULL
	};
	size_t i = 0;
	const char *t;

	while (i < n && is_blank(l[i]))
		i++;
	t = l + i;
	n -= i;
	if (n == 0)
		return LN_BLANK;
	if (t[0] == '#')
		return LN_COMMENT;
	if (starts_word(t, n, "def") || starts_word(t, n, "class") ||
	    starts_word(t, n, "import") || starts_with(t, n, "async def ") ||
	    starts_with(t, n, "if __name__") ||
	    (t[0] == '@' && n > 1 && is_ident_start((unsigned char)t[1])) ||
	    (starts_word(t, n, "from") && memmem(t, n, " import ", 8)))
		return LN_STRONG;
	for (size_t k = 0; kw[k]; k++)
		if (starts_word(t, n, kw[k]))
			return LN_CODE;
	if (strchr(")]}'\"", t[0]))
		return LN_CODE;
	return looks_like_expr(t, n) ? LN_CODE : LN_PROSE;
}

/* A C function head at column 0: "int f(int x) {", or "static long\n"
 * styles where the line ends with ')' and the next one starts with '{'.
 * Sets *name. */
static int c_def_line(const char *l, size_t n, const char *next, size_t nn,
		      const char **name, size_t *nlen)
{
	static const char *const no[] = { "return", "if", "else", "while", "for",
					  "switch", "do", "case", "typedef",
					  "goto", NULL };
	const char *par, *e;
	size_t k;

	if (n == 0 || !is_ident_start((unsigned char)l[0]) || memchr(l, ';', n))
		return 0;
	for (k = 0; no[k]; k++)
		if (starts_word(l, n, no[k]))
			return 0;
	par = memchr(l, '(', n);
	if (!par || memchr(l, '=', (size_t)(par - l)))
		return 0;
	while (n > 0 && is_blank(l[n - 1]))
		n--;
	if (l[n - 1] != '{') {
		while (nn > 0 && is_blank(*next)) {
			next++;
			nn--;
		}
		if (l[n - 1] != ')' || nn == 0 || *next != '{')
			return 0;
	}
	e = par;
	while (e > l && is_blank(e[-1]))
		e--;
	for (*name = e; *name > l && is_ident((unsigned char)(*name)[-1]); (*name)--)
		;
	*nlen = (size_t)(e - *name);
	return *nlen > 0;
}

static int c_line_kind(const char *l, size_t n, const char *next, size_t nn)
{
	static const char *const kw[] = {
		"int", "char", "void", "long", "short", "unsigned", "signed",
		"float", "double", "static", "const", "struct", "enum", "union",
		"typedef", "extern", "inline", "bool", "_Bool", "size_t",
		"if", "for", "while", "do", "switch", "return", "case", "default",
		"break", "continue", "goto", "else", NULL
	};
	const char *name;
	size_t i = 0, nlen;
	const char *t;

	while (i < n && is_blank(l[i]))
		i++;
	t = l + i;
	n -= i;
	if (n == 0)
		return LN_BLANK;
	if (starts_with(t, n, "#include") || starts_with(t, n, "#define"))
		return LN_STRONG;
	if (t[0] == '#')
		return n > 1 && is_ident_start((unsigned char)t[1]) ? LN_CODE
								    : LN_PROSE;
	if (starts_with(t, n, "//") || starts_with(t, n, "/*") ||
	    starts_with(t, n, "* ") || starts_with(t, n, "*/"))
		return LN_COMMENT;
	if (i == 0 && c_def_line(t, n, next, nn, &name, &nlen))
		return LN_STRONG;
	if (t[0] == '{' || t[0] == '}')
		return LN_CODE;
	for (size_t k = 0; kw[k]; k++)
		if (starts_word(t, n, kw[k]))
			return LN_CODE;
	{
		size_t w = 0;
		while (w < n && is_ident((unsigned char)t[w]))
			w++;
		if (w > 2 && t[w - 2] == '_' && t[w - 1] == 't')
			return LN_CODE; /* uint8_t x ... */
	}
	return looks_like_expr(t, n) ? LN_CODE : LN_PROSE;
}

static int line_kind(const struct ex *x, size_t ls, size_t le, size_t pos)
{
	size_t nls = pos, nle = pos;

	if (x->lang == CODE_PY)
		return py_line_kind(x->s + ls, le - ls);
	if (pos < x->n) {
		size_t p = pos;
		next_line(x->s, x->n, &p, &nls, &nle);
	}
	return c_line_kind(x->s + ls, le - ls, x->s + nls, nle - nls);
}

static size_t indent_of(const char *l, size_t n)
{
	size_t i = 0;

	while (i < n && (l[i] == ' ' || l[i] == '\t'))
		i++;
	return i;
}

/* A line that is test code. Python: an assert at column 0 (an assert in a
 * function body may be the solution checking its input), a test function
 * or method, a test class, a test framework's import. C: an assert. */
static int tests_line(const struct ex *x, const char *l, size_t n)
{
	size_t i = indent_of(l, n);

	if (x->lang == CODE_C)
		return starts_word(l + i, n - i, "assert");
	return starts_word(l, n, "assert") || starts_with(l + i, n - i, "def test") ||
	       starts_with(l, n, "class Test") ||
	       starts_word(l, n, "import unittest") ||
	       starts_word(l, n, "import pytest") ||
	       starts_word(l, n, "from unittest");
}

/* Adds the run s[from, to) as a block, dedented by its least indent. */
static int ex_segment(struct ex *x, size_t from, size_t to)
{
	size_t pos = from, ls, le, off = x->tlen, min = (size_t)-1;

	while (pos < to) {
		next_line(x->s, to, &pos, &ls, &le);
		if (indent_of(x->s + ls, le - ls) < le - ls &&
		    indent_of(x->s + ls, le - ls) < min)
			min = indent_of(x->s + ls, le - ls);
	}
	for (pos = from; pos < to;) {
		next_line(x->s, to, &pos, &ls, &le);
		ex_line(x, x->s + ls, le - ls, min);
	}
	return ex_push(x, off, TAG_NONE);
}

/* No fence: runs of code-looking lines between prose. A run starts at a
 * code line, goes on over blank lines, lines indented deeper than its
 * first line, and code or comment lines; it ends before the first prose
 * line at or left of its first line's indentation. Trailing blank and
 * comment lines are not part of it. Only runs with a strong line count. */
static int ex_unfenced(struct ex *x, size_t pos)
{
	size_t ls, le, seg = 0, last = 0, ind = 0;
	int in = 0, strong = 0, rc;

	while (pos < x->n) {
		size_t at = pos;
		int k;

		next_line(x->s, x->n, &pos, &ls, &le);
		k = line_kind(x, ls, le, pos);
		if (in) {
			size_t li = indent_of(x->s + ls, le - ls);

			if (k == LN_BLANK || k == LN_COMMENT)
				continue;
			if (li > ind || k != LN_PROSE) {
				last = pos;
				strong |= k == LN_STRONG ||
					  (x->want_tests &&
					   tests_line(x, x->s + ls, le - ls));
				continue;
			}
			if (strong && (rc = ex_segment(x, seg, last)))
				return rc;
			in = 0;
		}
		if (k == LN_CODE || k == LN_STRONG) {
			in = 1;
			seg = at;
			last = pos;
			ind = indent_of(x->s + ls, le - ls);
			strong = k == LN_STRONG ||
				 (x->want_tests && tests_line(x, x->s + ls, le - ls));
		}
	}
	if (in && strong && (rc = ex_segment(x, seg, last)))
		return rc;
	return 0;
}

/* A line at column 0 that only sets up a program. Python: an import (not
 * of the solution itself, nor of unittest or pytest), a constant (an
 * assignment to an upper-case name: "MOD = 10**9 + 7"), a bracket closing
 * one. C: a directive, a
 * typedef, a struct/enum/union, a declaration or prototype (no call in an
 * initializer), a '}' closing one. Indented lines continue the line above
 * them; blank and comment lines do not count. */
static int setup_line(const struct ex *x, const char *l, size_t n)
{
	static const char *const c_kw[] = {
		"typedef", "struct", "enum", "union", "extern", "static",
		"const", "int", "char", "void", "long", "short", "unsigned",
		"signed", "float", "double", "bool", "_Bool", "size_t", NULL
	};
	size_t k = 0;
	int upper = 0;

	if (n == 0 || indent_of(l, n) > 0 || strchr(")]}", l[0]))
		return 1;
	if (x->lang == CODE_C) {
		if (l[0] == '#' || starts_with(l, n, "//") ||
		    starts_with(l, n, "/*") || starts_with(l, n, "*"))
			return 1;
		for (size_t w = 0; c_kw[w] && !k; w++)
			k = starts_word(l, n, c_kw[w]);
		if (!k) { /* a type name: uint8_t x; */
			while (k < n && is_ident((unsigned char)l[k]))
				k++;
			if (k < 3 || l[k - 2] != '_' || l[k - 1] != 't')
				return 0;
		}
		return !(memchr(l, '=', n) && memchr(l, '(', n));
	}
	if (l[0] == '#')
		return 1;
	if (starts_word(l, n, "import") || (starts_word(l, n, "from") &&
					    memmem(l, n, " import ", 8))) {
		for (k = starts_word(l, n, "import") ? 6 : 4; k < n && l[k] == ' '; k++)
			;
		return !starts_word(l + k, n - k, "solution") &&
		       !starts_word(l + k, n - k, "unittest") &&
		       !starts_word(l + k, n - k, "pytest");
	}
	while (k < n && (l[k] == '_' || (l[k] >= 'A' && l[k] <= 'Z') ||
			 (k > 0 && is_digit((unsigned char)l[k]))))
		upper |= l[k++] != '_';
	if (!upper || (k < n && is_ident((unsigned char)l[k])))
		return 0;
	while (k < n && l[k] == ' ')
		k++;
	if (k < n && l[k] == ':') /* an annotation: "N: int = 3" */
		while (k < n && l[k] != '=')
			k++;
	return k < n && l[k] == '=' && (k + 1 == n || l[k + 1] != '=');
}

/* A block that defines nothing and only sets up: imports, constants,
 * types. It goes with the program's parts (a step-by-step answer often
 * puts them in a block of their own), where a block that defines nothing
 * else (a usage example, output) does not. */
static int setup_block(const struct ex *x, const struct block *b)
{
	const char *t = x->text + b->off;
	size_t pos = 0, ls, le;
	int any = 0;

	if (x->lang == CODE_OTHER)
		return 0;
	while (pos < b->len) {
		next_line(t, b->len, &pos, &ls, &le);
		if (!setup_line(x, t + ls, le - ls))
			return 0;
		any |= le > ls && indent_of(t + ls, le - ls) < le - ls;
	}
	return any;
}

/* Every non-blank line of a is also a line of b (the full listing at the
 * end of an answer repeats the set-up block of its first step). */
static int lines_within(const struct ex *x, const struct block *a,
			const struct block *b)
{
	const char *t = x->text + a->off, *u = x->text + b->off;
	size_t pos = 0, ls, le;

	while (pos < a->len) {
		const char *at = u, *end = u + b->len;
		int found = 0;

		next_line(t, a->len, &pos, &ls, &le);
		if (indent_of(t + ls, le - ls) == le - ls)
			continue;
		while (!found && (at = memmem(at, (size_t)(end - at), t + ls,
					      le - ls))) {
			found = (at == u || at[-1] == '\n') &&
				(at + (le - ls) == end || at[le - ls] == '\n');
			at++;
		}
		if (!found)
			return 0;
	}
	return 1;
}

/* Classes a candidate by the names it defines at column 0. */
static int ex_classify(struct ex *x, struct block *b)
{
	const char *t = x->text + b->off;
	size_t pos = 0, ls, le, n = b->len;
	int other = 0;

	b->name0 = x->nnames;
	while (pos < n) {
		const char *l, *name = NULL;
		size_t ll, nlen = 0;

		next_line(t, n, &pos, &ls, &le);
		l = t + ls;
		ll = le - ls;
		if (x->lang == CODE_C) {
			size_t p = pos, nls = pos, nle = pos;
			if (p < n)
				next_line(t, n, &p, &nls, &nle);
			if (!c_def_line(l, ll, t + nls, nle - nls, &name, &nlen))
				continue;
		} else {
			size_t k;
			if (starts_with(l, ll, "async def "))
				k = 10;
			else if (starts_with(l, ll, "def "))
				k = 4;
			else if (starts_with(l, ll, "class "))
				k = 6;
			else
				continue;
			while (k < ll && l[k] == ' ')
				k++;
			name = l + k;
			while (k < ll && is_ident((unsigned char)l[k]))
				k++;
			nlen = (size_t)(l + k - name);
			if (!nlen)
				continue;
		}
		if (x->nnames == EXTRACT_MAX_NAMES)
			return kiln_error_set(x->err, KILN_ELIMIT,
					      "more than %d definitions in the answer",
					      EXTRACT_MAX_NAMES);
		x->names[x->nnames].p = name;
		x->names[x->nnames].len = nlen;
		x->nnames++;
		if (!testish_name(name, nlen))
			other = 1;
	}
	b->nname = x->nnames - b->name0;
	b->cls = other ? CLS_PROGRAM : b->nname ? CLS_TESTS : CLS_PLAIN;
	b->setup = b->cls == CLS_PLAIN && setup_block(x, b);
	if (x->want_tests) {
		/* Only blocks with tests are candidates, all of one rank. A C
		 * assert counts at file scope, or in a block that defines
		 * main or a test function (not in a solution's own code). */
		int has = 0, driver = x->lang != CODE_C;

		for (size_t k = 0; k < b->nname; k++)
			driver |= testish_name(x->names[b->name0 + k].p,
					       x->names[b->name0 + k].len);
		for (pos = 0; pos < n && !has;) {
			next_line(t, n, &pos, &ls, &le);
			has = tests_line(x, t + ls, le - ls) &&
			      (driver || starts_word(t + ls, le - ls, "assert"));
		}
		b->cls = has ? CLS_TESTS : -1;
	}
	return 0;
}

static int shares_name(const struct ex *x, const struct block *a,
		       const struct block *b)
{
	for (size_t i = 0; i < a->nname; i++)
		for (size_t j = 0; j < b->nname; j++) {
			const struct name *p = &x->names[a->name0 + i];
			const struct name *q = &x->names[b->name0 + j];
			if (p->len == q->len && !memcmp(p->p, q->p, p->len))
				return 1;
		}
	return 0;
}

/* Picks and joins the candidates (blocks with tag `tag`). */
static int ex_choose(struct ex *x, int tag, kiln_extracted *out)
{
	size_t total = 0, j;
	int best = -1, rc;
	char *code;

	for (size_t i = 0; i < x->nb; i++) {
		struct block *b = &x->b[i];
		if (b->tag != tag)
			continue;
		if ((rc = ex_classify(x, b)))
			return rc;
		if (b->cls > best)
			best = b->cls;
	}
	if (best < 0)
		return 1; /* no candidate (or, for tests, none with tests) */
	if (best == CLS_PLAIN) {
		struct block *longest = NULL;
		for (size_t i = 0; i < x->nb; i++)
			if (x->b[i].tag == tag &&
			    (!longest || x->b[i].len > longest->len))
				longest = &x->b[i];
		longest->keep = 1;
	} else {
		/* Backwards: a part is dropped when a later kept part defines
		 * one of its names. A program also takes the set-up blocks,
		 * unless a later kept part repeats all of one. */
		for (size_t i = x->nb; i-- > 0;) {
			struct block *b = &x->b[i];
			int setup = best == CLS_PROGRAM && b->setup;

			if (b->tag != tag || (b->cls != best && !setup))
				continue;
			b->keep = 1;
			for (size_t k = i + 1; k < x->nb; k++)
				if (x->b[k].keep &&
				    (setup ? lines_within(x, b, &x->b[k])
					   : shares_name(x, b, &x->b[k]))) {
					b->keep = 0;
					break;
				}
		}
	}
	for (size_t i = 0; i < x->nb; i++)
		if (x->b[i].keep)
			total += x->b[i].len + 1;
	code = malloc(total + 1);
	if (!code)
		return kiln_error_set(x->err, KILN_ENOMEM, "out of memory");
	j = 0;
	for (size_t i = 0; i < x->nb; i++) {
		if (!x->b[i].keep)
			continue;
		if (out->parts++)
			code[j++] = '\n';
		memcpy(code + j, x->text + x->b[i].off, x->b[i].len);
		j += x->b[i].len;
	}
	code[j] = '\0';
	out->code = code;
	return 0;
}

static int extract(const char *answer, size_t len, const char *language,
		   int want_tests, kiln_extracted *out, kiln_error *err)
{
	struct ex *x = NULL;
	const char *think;
	char *s = NULL;
	size_t n, pos = 0;
	int rc;

	if (!out)
		return kiln_error_set(err, KILN_EINVAL, "extract: no output");
	memset(out, 0, sizeof(*out));
	rc = kiln__code_check_text(answer, len, KILN_EXTRACT_MAX_ANSWER,
				   "answer", err);
	if (rc)
		return rc;
	x = calloc(1, sizeof(*x));
	s = kiln__code_to_lf(answer ? answer : "", len, &n);
	if (!x || !s) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		goto out;
	}
	x->s = s;
	x->n = n;
	x->lang = kiln__code_lang(language);
	x->lname = language && *language ? language : "python";
	x->err = err;
	x->want_tests = want_tests;
	x->text = malloc(n + 2);
	if (!x->text) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		goto out;
	}
	for (think = s; (think = memmem(think, n - (size_t)(think - s),
					"</think>", 8)); think += 8)
		pos = (size_t)(think - s) + 8;

	rc = ex_fences(x, pos);
	if (rc)
		goto out;
	out->blocks = x->nfenced;
	out->truncated = x->truncated;
	if (x->nfenced) {
		rc = ex_choose(x, TAG_LANG, out);
		out->how = "fenced";
		if (rc > 0) {
			rc = ex_choose(x, TAG_NONE, out);
			out->how = "fenced-untagged";
		}
		if (rc > 0 && want_tests)
			rc = kiln_error_set(err, KILN_EPARSE,
					    "no tests in the answer: %d fenced "
					    "block%s, none with %s tests",
					    x->nfenced, x->nfenced == 1 ? "" : "s",
					    x->lname);
		if (rc > 0)
			rc = kiln_error_set(err, KILN_EPARSE,
					    "no code in the answer: %d fenced "
					    "block%s, no non-empty one tagged %s "
					    "or untagged",
					    x->nfenced, x->nfenced == 1 ? "" : "s",
					    x->lname);
	} else if (x->lang == CODE_OTHER) {
		rc = kiln_error_set(err, KILN_EPARSE,
				    "no code in the answer: no fenced block (and "
				    "no rule for unfenced %s)", x->lname);
	} else {
		rc = ex_unfenced(x, pos);
		if (rc == 0) {
			rc = ex_choose(x, TAG_NONE, out);
			out->how = "unfenced";
		}
		if (rc > 0)
			rc = kiln_error_set(err, KILN_EPARSE,
					    "no %s in the answer%s",
					    want_tests ? "tests" : "code",
					    n - pos == 0 ? " (it is empty)" : "");
	}
out:
	if (rc) {
		free(out->code);
		memset(out, 0, sizeof(*out));
	}
	if (x) {
		free(x->text);
		free(x->b);
	}
	free(x);
	free(s);
	return rc;
}

int kiln_extract_code(const char *answer, size_t len, const char *language,
		      kiln_extracted *out, kiln_error *err)
{
	return extract(answer, len, language, 0, out, err);
}

int kiln_extract_tests(const char *answer, size_t len, const char *language,
		       kiln_extracted *out, kiln_error *err)
{
	return extract(answer, len, language, 1, out, err);
}
