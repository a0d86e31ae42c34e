/* Code out of a model's answer, and test snippets out of test code.
 *
 * Two halves that share only their input checks and a capped string
 * builder:
 *
 *  - kiln_extract_code() reads the answer line by line: CommonMark fences,
 *    or, with no fence at all, runs of lines that look like code. The
 *    candidates are classed by what they define (the rules are in
 *    kiln/extract.h) and joined.
 *
 *  - kiln_split_tests() scans test code with a small language-aware
 *    scanner (Python: logical lines; C: tokens), groups it into top-level
 *    statements and sorts each into the preamble, a test, or nothing. The
 *    scanners check what a later compile would choke on first (strings,
 *    comments, brackets) and report the line.
 *
 * Everything works on a private copy of the input with CRLF turned into
 * LF, so a '\n' is the only line end the code below has to know.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/extract.h"
#include "kiln/jsonl.h" /* kiln_utf8_invalid_at */
#include "util/buf.h"

#define EXTRACT_MAX_NAMES 4096 /* definitions compared across blocks */
#define PY_MAX_DEPTH 200        /* brackets, as CPython's parser */
#define PY_MAX_NEST 16          /* strings inside f-string fields */
#define C_MAX_DEPTH 256
#define C_MAX_TOKENS (1u << 20)

/* ------------------------------------------------------------ helpers */

/* A growable string that refuses to grow past max (src/util/buf.h). */
static int sb_add(kiln_buf *b, const char *s, size_t n)
{
	return kiln__buf_add(b, s, n);
}

static int sb_str(kiln_buf *b, const char *s)
{
	return sb_add(b, s, strlen(s));
}

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

static int sb_error(kiln_error *err, int rc, size_t max)
{
	if (rc == KILN_ENOMEM)
		return kiln_error_set(err, rc, "out of memory");
	return kiln_error_set(err, rc, "output larger than %zu bytes", max);
}

static int is_ident_start(unsigned char c)
{
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c >= 0x80;
}

static int is_ident(unsigned char c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9');
}

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\f' || c == '\v' || c == '\r';
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int eq_ci(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);

	if (alen != blen)
		return 0;
	for (size_t i = 0; i < alen; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	return 1;
}

/* s[0, n) starts with the word w, not followed by an identifier byte. */
static int starts_word(const char *s, size_t n, const char *w)
{
	size_t k = strlen(w);

	return n >= k && memcmp(s, w, k) == 0 &&
	       (n == k || !is_ident((unsigned char)s[k]));
}

static int starts_with(const char *s, size_t n, const char *w)
{
	size_t k = strlen(w);

	return n >= k && memcmp(s, w, k) == 0;
}

/* "test...", "check" and "main": names that tests and drivers use. */
static int testish_name(const char *s, size_t n)
{
	return (n >= 4 && eq_ci(s, 4, "test")) || (n == 5 && !memcmp(s, "check", 5)) ||
	       (n == 4 && !memcmp(s, "main", 4));
}

/* A test's name: prefix itself, or prefix then '_', a digit or a capital
 * ("test_sort", "testSort", "test2"; not "testing_data"). */
static int test_name(const char *s, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);

	return n >= k && !memcmp(s, prefix, k) &&
	       (n == k || s[k] == '_' || is_digit((unsigned char)s[k]) ||
		(s[k] >= 'A' && s[k] <= 'Z'));
}

enum lang { L_PY, L_C, L_OTHER };

static enum lang lang_of(const char *name)
{
	if (!name)
		return L_PY;
	if (eq_ci(name, strlen(name), "python") || eq_ci(name, strlen(name), "py") ||
	    eq_ci(name, strlen(name), "python3"))
		return L_PY;
	if (eq_ci(name, strlen(name), "c"))
		return L_C;
	return L_OTHER;
}

/* Input checks common to both halves. */
static int check_text(const char *s, size_t len, size_t max, const char *what,
		      kiln_error *err)
{
	const char *nul;
	long bad;

	if (!s && len)
		return kiln_error_set(err, KILN_EINVAL, "%s: NULL text", what);
	if (len > max)
		return kiln_error_set(err, KILN_ELIMIT,
				      "%s larger than %zu bytes", what, max);
	nul = len ? memchr(s, '\0', len) : NULL;
	if (nul)
		return kiln_error_set(err, KILN_EPARSE, "%s: NUL byte at byte %zu",
				      what, (size_t)(nul - s) + 1);
	bad = kiln_utf8_invalid_at(s, len);
	if (bad >= 0)
		return kiln_error_set(err, KILN_EPARSE,
				      "%s: invalid UTF-8 at byte %ld", what, bad + 1);
	return 0;
}

/* A NUL-terminated copy with CRLF as LF and a leading BOM dropped. */
static char *to_lf(const char *s, size_t len, size_t *outlen)
{
	char *d = malloc(len + 1);
	size_t i = 0, j = 0;

	if (!d)
		return NULL;
	if (len >= 3 && !memcmp(s, "\xef\xbb\xbf", 3))
		i = 3;
	for (; i < len; i++) {
		if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
			continue;
		d[j++] = s[i];
	}
	d[j] = '\0';
	*outlen = j;
	return d;
}

/* The line at *pos: [*ls, *le) without its '\n'; moves *pos past it. */
static void next_line(const char *s, size_t n, size_t *pos, size_t *ls,
		      size_t *le)
{
	const char *nl = memchr(s + *pos, '\n', n - *pos);

	*ls = *pos;
	*le = nl ? (size_t)(nl - s) : n;
	*pos = nl ? *le + 1 : n;
}

/* ------------------------------------------------- kiln_extract_code */

enum { TAG_NONE, TAG_LANG, TAG_OTHER };
enum { CLS_PLAIN, CLS_TESTS, CLS_PROGRAM };

struct block {
	size_t off, len;  /* content in ex.text */
	int tag;
	int cls;
	size_t name0, nname; /* its definitions in ex.names */
	int keep;
};

struct name {
	const char *p;
	size_t len;
};

struct ex {
	const char *s; /* the answer, LF line ends */
	size_t n;
	enum lang lang;
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

static int lang_tag(const struct ex *x, const char *w, size_t wl)
{
	static const char *const py[] = { "python", "py", "python3", "py3",
					   "ipython", NULL };
	static const char *const c[] = { "c", "h", NULL };
	const char *const *list = x->lang == L_PY ? py : x->lang == L_C ? c : NULL;

	if (!list)
		return eq_ci(w, wl, x->lname);
	for (size_t i = 0; list[i]; i++)
		if (eq_ci(w, wl, list[i]))
			return 1;
	return 0;
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
		pyish = x->lang == L_PY && tag != TAG_OTHER;
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

	if (x->lang == L_PY)
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

	if (x->lang == L_C)
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
		if (x->lang == L_C) {
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
	if (x->want_tests) {
		/* Only blocks with tests are candidates, all of one rank. A C
		 * assert counts at file scope, or in a block that defines
		 * main or a test function (not in a solution's own code). */
		int has = 0, driver = x->lang != L_C;

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
		 * one of its names. */
		for (size_t i = x->nb; i-- > 0;) {
			struct block *b = &x->b[i];
			if (b->tag != tag || b->cls != best)
				continue;
			b->keep = 1;
			for (size_t k = i + 1; k < x->nb; k++)
				if (x->b[k].keep && shares_name(x, b, &x->b[k])) {
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
	rc = check_text(answer, len, KILN_EXTRACT_MAX_ANSWER, "answer", err);
	if (rc)
		return rc;
	x = calloc(1, sizeof(*x));
	s = to_lf(answer ? answer : "", len, &n);
	if (!x || !s) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		goto out;
	}
	x->s = s;
	x->n = n;
	x->lang = lang_of(language);
	x->lname = language ? language : "python";
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
	} else if (x->lang == L_OTHER) {
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

/* -------------------------------------------------- kiln_split_tests */

/* What the splitters produce: the preamble and the snippets. */
struct out {
	kiln_buf pre;
	char **t;
	size_t nt, cap;
	size_t used; /* bytes in all snippets */
	kiln_error *err;
};

static kiln_buf out_snippet(const struct out *o)
{
	kiln_buf b = { NULL, 0, 0, KILN_SPLIT_MAX_OUT - o->used };
	return b;
}

/* Takes b's string as the next test. */
static int out_test(struct out *o, kiln_buf *b)
{
	if (o->nt == KILN_SPLIT_MAX_TESTS)
		return kiln_error_set(o->err, KILN_ELIMIT, "more than %d tests",
				      KILN_SPLIT_MAX_TESTS);
	if (o->nt == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 16;
		char **t = realloc(o->t, cap * sizeof(*t));

		if (!t)
			return kiln_error_set(o->err, KILN_ENOMEM, "out of memory");
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

/* Definitions that matter to a bare call "f(...)": a test function (the
 * call is dropped: the function is already a test) or a helper whose body
 * asserts (the call is a test). Sorted for bsearch. */
enum { DEF_TEST = 1, DEF_ASSERTS = 2 };

struct def {
	const char *p;
	size_t len;
	int kind;
};

struct defs {
	struct def *d;
	size_t n, cap;
};

static int def_add(struct defs *ds, const char *p, size_t len, int kind)
{
	if (ds->n == ds->cap) {
		size_t cap = ds->cap ? ds->cap * 2 : 16;
		struct def *d = realloc(ds->d, cap * sizeof(*d));

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
	const struct def *x = a, *y = b;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->p, y->p, x->len);
}

/* The kinds of every definition of the name, or 0. */
static int def_kind(const struct defs *ds, const char *p, size_t len)
{
	struct def key = { p, len, 0 };
	const struct def *d;
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

/* ------------------------------------------------------------- Python */

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

static char py_opener(char c)
{
	return c == ')' ? '(' : c == ']' ? '[' : '{';
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
				if (stk[depth - 1] != py_opener(c))
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
static int py_methods(struct py *p, const struct pst *st, struct out *o)
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
		b = out_snippet(o);
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
			return sb_error(o->err, rc, KILN_SPLIT_MAX_OUT);
		}
		if ((rc = out_test(o, &b)))
			return rc;
	}
	return 0;
}

static int split_python(const char *s, size_t n, struct out *o)
{
	struct py p;
	struct psts ps = { NULL, 0, 0 };
	struct defs ds = { NULL, 0, 0 };
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
		if (kind && def_add(&ds, st->name, st->nlen, kind)) {
			rc = kiln_error_set(o->err, KILN_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (ds.n)
		qsort(ds.d, ds.n, sizeof(*ds.d), def_cmp);
	for (size_t i = 0; i < ps.n; i++) {
		struct pst *st = &ps.v[i];
		size_t from = p.v[st->a].start, to = p.v[st->last].end;
		long line = (long)p.v[st->a].lineno;
		kiln_buf b;

		if (st->kind == S_CALL) {
			int k = def_kind(&ds, st->name, st->nlen);
			st->kind = k & DEF_TEST ? S_DROP :
				   k & DEF_ASSERTS ? S_TEST : S_PRE;
		}
		switch (st->kind) {
		case S_DROP:
			break;
		case S_TEST:
		case S_TESTFN:
			b = out_snippet(o);
			rc = py_emit(&p, &b, from, to, line, st->base);
			if (!rc && st->kind == S_TESTFN) {
				rc = sb_add(&b, st->name, st->nlen);
				rc = rc ? rc : sb_str(&b, "()\n");
			}
			if (rc) {
				free(b.p);
				rc = sb_error(o->err, rc, KILN_SPLIT_MAX_OUT);
				goto out;
			}
			if ((rc = out_test(o, &b)))
				goto out;
			break;
		default: /* S_PRE, helpers and classes */
			rc = py_emit(&p, &o->pre, from, to, line, st->base);
			if (rc) {
				rc = sb_error(o->err, rc, KILN_SPLIT_MAX_OUT);
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

/* ------------------------------------------------------------------ C */

struct ctok {
	uint32_t s, e;   /* bytes [s, e) */
	uint32_t line;
	uint32_t match;  /* for brackets: the index of the other one */
	char t;          /* 'i' identifier, 'n' number, 's' string, 'c' char
			  * constant, '#' directive, else the punctuator */
};

struct cx {
	const char *s;
	size_t n;
	struct ctok *t;
	size_t nt, cap;
	struct defs defs;
	kiln_error *err;
};

static int c_push(struct cx *c, size_t s, size_t e, long line, char t)
{
	if (c->nt == C_MAX_TOKENS)
		return kiln_error_set(c->err, KILN_ELIMIT, "more than %u tokens",
				      C_MAX_TOKENS);
	if (c->nt == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		struct ctok *v = realloc(c->t, cap * sizeof(*v));

		if (!v)
			return kiln_error_set(c->err, KILN_ENOMEM, "out of memory");
		c->t = v;
		c->cap = cap;
	}
	c->t[c->nt].s = (uint32_t)s;
	c->t[c->nt].e = (uint32_t)e;
	c->t[c->nt].line = (uint32_t)line;
	c->t[c->nt].match = 0;
	c->t[c->nt].t = t;
	c->nt++;
	return 0;
}

/* Skips a block comment whose "/ *" is at *i. */
static int c_comment(struct cx *c, size_t *i, long *line)
{
	const char *s = c->s;
	long open = *line;

	for (*i += 2; *i + 1 < c->n; (*i)++) {
		if (s[*i] == '\n')
			(*line)++;
		else if (s[*i] == '*' && s[*i + 1] == '/') {
			*i += 2;
			return 0;
		}
	}
	return kiln_error_set(c->err, KILN_EPARSE,
			      "line %ld: unterminated comment", open);
}

/* A string or character constant whose quote is at *i. */
static int c_quoted(struct cx *c, size_t *i, long *line)
{
	const char *s = c->s;
	char q = s[*i];

	for ((*i)++; *i < c->n && s[*i] != q; (*i)++) {
		if (s[*i] == '\\') {
			if (*i + 1 < c->n && s[*i + 1] == '\n')
				(*line)++;
			(*i)++;
		} else if (s[*i] == '\n') {
			break;
		}
	}
	if (*i >= c->n || s[*i] != q)
		return kiln_error_set(c->err, KILN_EPARSE, "line %ld: unterminated %s",
				      *line, q == '"' ? "string" : "character constant");
	(*i)++;
	return 0;
}

static int c_lex(struct cx *c)
{
	const char *s = c->s;
	size_t n = c->n, i = 0;
	long line = 1;
	int bol = 1, rc;

	while (i < n) {
		char ch = s[i];
		size_t a = i;
		long l0 = line;

		if (ch == '\n') {
			line++;
			bol = 1;
			i++;
			continue;
		}
		if (is_blank(ch)) {
			i++;
			continue;
		}
		if (ch == '\\' && i + 1 < n && s[i + 1] == '\n') {
			i += 2;
			line++;
			continue;
		}
		if (ch == '/' && i + 1 < n && s[i + 1] == '/') {
			while (i < n && s[i] != '\n') {
				if (s[i] == '\\' && i + 1 < n && s[i + 1] == '\n') {
					i++;
					line++;
				}
				i++;
			}
			continue;
		}
		if (ch == '/' && i + 1 < n && s[i + 1] == '*') {
			if ((rc = c_comment(c, &i, &line)))
				return rc;
			continue;
		}
		if (ch == '#' && bol) {
			while (i < n && s[i] != '\n') {
				if (s[i] == '\\' && i + 1 < n && s[i + 1] == '\n') {
					i += 2;
					line++;
				} else if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
					if ((rc = c_comment(c, &i, &line)))
						return rc;
				} else if (s[i] == '"' || s[i] == '\'') {
					if ((rc = c_quoted(c, &i, &line)))
						return rc;
				} else {
					i++;
				}
			}
			if ((rc = c_push(c, a, i, l0, '#')))
				return rc;
			continue;
		}
		bol = 0;
		if (ch == '"' || ch == '\'') {
			if ((rc = c_quoted(c, &i, &line)))
				return rc;
			rc = c_push(c, a, i, l0, ch == '"' ? 's' : 'c');
		} else if (is_ident_start((unsigned char)ch)) {
			while (i < n && (is_ident((unsigned char)s[i]) || s[i] == '$'))
				i++;
			rc = c_push(c, a, i, l0, 'i');
		} else if (is_digit((unsigned char)ch) ||
			   (ch == '.' && i + 1 < n && is_digit((unsigned char)s[i + 1]))) {
			for (i++; i < n; i++) {
				char d = s[i];
				if ((d == '+' || d == '-') && strchr("eEpP", s[i - 1]))
					continue;
				if (!is_ident((unsigned char)d) && d != '.')
					break;
			}
			rc = c_push(c, a, i, l0, 'n');
		} else {
			i++;
			rc = c_push(c, a, i, l0, ch);
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* Pairs the brackets, or says where they do not pair. */
static int c_brackets(struct cx *c)
{
	uint32_t stk[C_MAX_DEPTH];
	size_t depth = 0;

	for (size_t i = 0; i < c->nt; i++) {
		char k = c->t[i].t;

		if (k == '(' || k == '[' || k == '{') {
			if (depth == C_MAX_DEPTH)
				return kiln_error_set(c->err, KILN_EPARSE,
						      "line %u: brackets nested deeper than %d",
						      c->t[i].line, C_MAX_DEPTH);
			stk[depth++] = (uint32_t)i;
		} else if (k == ')' || k == ']' || k == '}') {
			char want = py_opener(k);
			const struct ctok *o;

			if (depth == 0)
				return kiln_error_set(c->err, KILN_EPARSE,
						      "line %u: unmatched '%c'",
						      c->t[i].line, k);
			o = &c->t[stk[depth - 1]];
			if (o->t != want)
				return kiln_error_set(c->err, KILN_EPARSE,
						      "line %u: '%c' does not match '%c' opened at line %u",
						      c->t[i].line, k, o->t, o->line);
			c->t[stk[depth - 1]].match = (uint32_t)i;
			c->t[i].match = stk[depth - 1];
			depth--;
		}
	}
	if (depth)
		return kiln_error_set(c->err, KILN_EPARSE,
				      "line %u: '%c' is never closed",
				      c->t[stk[depth - 1]].line,
				      c->t[stk[depth - 1]].t);
	return 0;
}

static int c_is(const struct cx *c, size_t i, const char *w)
{
	size_t len = strlen(w);

	return i < c->nt && c->t[i].t == 'i' && c->t[i].e - c->t[i].s == len &&
	       !memcmp(c->s + c->t[i].s, w, len);
}

/* One item (a statement, declaration, definition or directive) from
 * tokens [i, to): returns its last token. It ends at a ';' outside
 * brackets, or at the '}' of a block that follows ')', "else", "do" or
 * nothing (a function body, a compound statement), unless "else" follows;
 * "do ... while (...);" ends at its ';'. *body is the '{' of a function
 * body or compound statement that ended it, or SIZE_MAX. */
static size_t c_item(const struct cx *c, size_t i, size_t to, size_t *body)
{
	int is_do = c_is(c, i, "do");

	*body = SIZE_MAX;
	if (c->t[i].t == '#')
		return i;
	for (size_t j = i; j < to; j++) {
		char k = c->t[j].t;

		if (k == '(' || k == '[') {
			j = c->t[j].match;
		} else if (k == '{') {
			size_t m = c->t[j].match;
			int blk = j == i || c->t[j - 1].t == ')' ||
				  c_is(c, j - 1, "else") || c_is(c, j - 1, "do");

			if (blk && !is_do && !c_is(c, m + 1, "else")) {
				*body = j;
				return m;
			}
			j = m;
		} else if (k == ';' && !(j + 1 < to && c_is(c, j + 1, "else"))) {
			return j;
		}
	}
	return to - 1;
}

static int c_has_assert(const struct cx *c, size_t a, size_t b)
{
	for (size_t j = a; j < b; j++)
		if (c_is(c, j, "assert") && c->t[j + 1].t == '(')
			return 1;
	return 0;
}

static int c_names(const struct cx *c, size_t a, size_t b, const char *w)
{
	for (size_t j = a; j <= b; j++)
		if (c_is(c, j, w))
			return 1;
	return 0;
}

/* The function name of a definition [a, body): the identifier before the
 * first '(' outside brackets (not a keyword: "for (...) {" is no
 * function). */
static size_t c_fn_name(const struct cx *c, size_t a, size_t body)
{
	static const char *const kw[] = { "if", "for", "while", "switch", "do",
					  "else", "return", "sizeof", NULL };

	for (size_t j = a; j < body; j++) {
		if (c->t[j].t == '(') {
			if (j == a || c->t[j - 1].t != 'i')
				return SIZE_MAX;
			for (size_t k = 0; kw[k]; k++)
				if (c_is(c, j - 1, kw[k]))
					return SIZE_MAX;
			return j - 1;
		}
		if (c->t[j].t == '[' || c->t[j].t == '{')
			j = c->t[j].match;
	}
	return SIZE_MAX;
}

/* A statement at file scope, which C would refuse there: a compound or
 * jump statement, or an expression statement that starts with a call,
 * an assignment, an index, a member access or ++/--. */
static int c_is_statement(const struct cx *c, size_t a, size_t b)
{
	static const char *const decl[] = {
		"int", "char", "void", "long", "short", "unsigned", "signed",
		"float", "double", "static", "const", "struct", "enum", "union",
		"typedef", "extern", "inline", "bool", "_Bool", "register",
		"volatile", "auto", "sizeof", NULL
	};
	static const char *const stmt[] = { "if", "for", "while", "do", "switch",
					    "return", "goto", "break",
					    "continue", NULL };
	char k = c->t[a].t, k2 = a < b ? c->t[a + 1].t : 0;

	if (strchr("{(+-*", k))
		return k != 0;
	if (k != 'i')
		return 0;
	for (size_t i = 0; stmt[i]; i++)
		if (c_is(c, a, stmt[i]))
			return 1;
	for (size_t i = 0; decl[i]; i++)
		if (c_is(c, a, decl[i]))
			return 0;
	if (k2 && strchr("(=[.-+", k2))
		return 1;
	return k2 && strchr("*/%&|^", k2) && a + 2 <= b && c->t[a + 2].t == '=';
}

/* Text of tokens [a, b], then ';' if it ends otherwise, then '\n'. */
static int c_text(const struct cx *c, kiln_buf *b, size_t a, size_t z)
{
	int rc = sb_add(b, c->s + c->t[a].s, c->t[z].e - c->t[a].s);
	char k = c->t[z].t;

	if (!rc && k != ';' && k != '}' && k != '#')
		rc = sb_add(b, ";", 1);
	return rc ? rc : sb_add(b, "\n", 1);
}

/* A statement of main() (or one at file scope): a test, set-up for the
 * tests after it (added to *prefix), or nothing. */
static int c_stmt(struct cx *c, size_t a, size_t z, kiln_buf *prefix,
		  struct out *o)
{
	kiln_buf b;
	int test = 0, rc;

	if (c_is(c, a, "return"))
		return 0;
	if (c_has_assert(c, a, z)) {
		test = 1;
	} else if (c->t[a].t == 'i' && a + 1 <= z && c->t[a + 1].t == '(' &&
		   (c->t[a + 1].match == z ||
		    (c->t[a + 1].match + 1 == z && c->t[z].t == ';'))) {
		int k = def_kind(&c->defs, c->s + c->t[a].s,
				 c->t[a].e - c->t[a].s);
		if (k & DEF_TEST)
			return 0;
		test = (k & DEF_ASSERTS) != 0;
	}
	if (!test) {
		if (c_names(c, a, z, "argc") || c_names(c, a, z, "argv"))
			return 0;
		rc = c_text(c, prefix, a, z);
		return rc ? sb_error(o->err, rc, KILN_SPLIT_MAX_CODE) : 0;
	}
	b = out_snippet(o);
	rc = sb_add(&b, prefix->p ? prefix->p : "", prefix->len);
	rc = rc ? rc : c_text(c, &b, a, z);
	if (rc) {
		free(b.p);
		return sb_error(o->err, rc, KILN_SPLIT_MAX_OUT);
	}
	return out_test(o, &b);
}

/* #include "solution.h" (or .c): the solution is already in the unit. */
static int c_solution_include(const struct cx *c, size_t i)
{
	const char *t = c->s + c->t[i].s;
	size_t n = c->t[i].e - c->t[i].s, k = 1;

	if (c->t[i].t != '#')
		return 0;
	while (k < n && is_blank(t[k]))
		k++;
	if (!starts_word(t + k, n - k, "include"))
		return 0;
	for (k += 7; k < n && is_blank(t[k]); k++)
		;
	return n - k > 10 && starts_with(t + k, n - k, "\"solution") &&
	       (t[k + 9] == '.' || t[k + 9] == '"');
}

/* A test function: test*(void) or test*(). */
static int c_test_fn(const struct cx *c, size_t name)
{
	size_t open = name + 1, close = c->t[open].match;
	const char *s = c->s + c->t[name].s;

	if (!test_name(s, c->t[name].e - c->t[name].s, "test"))
		return 0;
	return close == open + 1 || (close == open + 2 && c_is(c, open + 1, "void"));
}

static int split_c(const char *s, size_t n, struct out *o)
{
	struct cx c;
	kiln_buf top = { NULL, 0, 0, KILN_SPLIT_MAX_CODE };
	kiln_buf mainp = { NULL, 0, 0, KILN_SPLIT_MAX_CODE };
	size_t i, end, body, name;
	int rc;

	memset(&c, 0, sizeof(c));
	c.s = s;
	c.n = n;
	c.err = o->err;
	if ((rc = c_lex(&c)) || (rc = c_brackets(&c)))
		goto out;
	/* Pass 1: which functions are tests and which assert. */
	for (i = 0; i < c.nt; i = end + 1) {
		end = c_item(&c, i, c.nt, &body);
		if (body == SIZE_MAX || (name = c_fn_name(&c, i, body)) == SIZE_MAX)
			continue;
		if (c_test_fn(&c, name) || c_has_assert(&c, body, end)) {
			int kind = c_test_fn(&c, name) ? DEF_TEST : DEF_ASSERTS;
			if (def_add(&c.defs, s + c.t[name].s,
				    c.t[name].e - c.t[name].s, kind)) {
				rc = kiln_error_set(o->err, KILN_ENOMEM, "out of memory");
				goto out;
			}
		}
	}
	if (c.defs.n)
		qsort(c.defs.d, c.defs.n, sizeof(*c.defs.d), def_cmp);
	/* Pass 2. */
	for (i = 0; i < c.nt; i = end + 1) {
		end = c_item(&c, i, c.nt, &body);
		name = body == SIZE_MAX ? SIZE_MAX : c_fn_name(&c, i, body);
		if (name != SIZE_MAX && c_is(&c, name, "main")) {
			size_t j, e2, b2;
			for (j = body + 1; j < end; j = e2 + 1) {
				e2 = c_item(&c, j, end, &b2);
				if ((rc = c_stmt(&c, j, e2, &mainp, o)))
					goto out;
			}
		} else if (name == SIZE_MAX && c.t[i].t != '#' &&
			   (c_is_statement(&c, i, end) || c_has_assert(&c, i, end))) {
			if ((rc = c_stmt(&c, i, end, &top, o)))
				goto out;
		} else if (c_solution_include(&c, i)) {
			continue;
		} else {
			if ((rc = c_text(&c, &o->pre, i, end))) {
				rc = sb_error(o->err, rc, KILN_SPLIT_MAX_OUT);
				goto out;
			}
			if (name != SIZE_MAX && c_test_fn(&c, name)) {
				kiln_buf b = out_snippet(o);
				rc = sb_add(&b, s + c.t[name].s,
					    c.t[name].e - c.t[name].s);
				rc = rc ? rc : sb_str(&b, "();\n");
				if (rc) {
					free(b.p);
					rc = sb_error(o->err, rc, KILN_SPLIT_MAX_OUT);
					goto out;
				}
				if ((rc = out_test(o, &b)))
					goto out;
			}
		}
	}
out:
	free(top.p);
	free(mainp.p);
	free(c.defs.d);
	free(c.t);
	return rc;
}

int kiln_split_tests(const char *code, size_t len, const char *language,
		     char **preamble, char ***tests, size_t *n,
		     kiln_error *err)
{
	struct out o;
	enum lang lang = lang_of(language);
	char *s = NULL;
	size_t sn;
	int rc;

	if (!preamble || !tests || !n)
		return kiln_error_set(err, KILN_EINVAL, "split: no output");
	*preamble = NULL;
	*tests = NULL;
	*n = 0;
	if (lang == L_OTHER)
		return kiln_error_set(err, KILN_EINVAL,
				      "no test splitter for language '%s'",
				      language);
	rc = check_text(code, len, KILN_SPLIT_MAX_CODE, "test code", err);
	if (rc)
		return rc;
	memset(&o, 0, sizeof(o));
	o.pre.max = KILN_SPLIT_MAX_OUT;
	o.err = err;
	s = to_lf(code ? code : "", len, &sn);
	if (!s) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		goto out;
	}
	rc = lang == L_PY ? split_python(s, sn, &o) : split_c(s, sn, &o);
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
