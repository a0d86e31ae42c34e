/* Internals of src/code/, shared by its files:
 *
 *   lang_names.c    the table of language names (kiln_lang_canonical)
 *   text.c          input checks and line ends, for every entry point
 *   extract.c       code out of a model's answer (kiln_extract_*)
 *   split.c         kiln_split_tests: the output both splitters fill, the
 *                   table of definitions a bare call is looked up in
 *   split_python.c  Python test code: logical lines, statements, snippets
 *   split_c.c       C test code: tokens, items, snippets
 *
 * Everything here works on a private copy of the input with CRLF turned
 * into LF (kiln__code_to_lf), so '\n' is the only line end to know.
 */
#ifndef KILN_CODE_INT_H
#define KILN_CODE_INT_H

#include <stddef.h>
#include <string.h>

#include "kiln/code.h"
#include "util/buf.h"

/* ------------------------------------------------------------ bytes */

static inline int is_ident_start(unsigned char c)
{
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c >= 0x80;
}

static inline int is_ident(unsigned char c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9');
}

static inline int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static inline int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\f' || c == '\v' || c == '\r';
}

static inline int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* a[0, alen) equals the string b, ASCII case ignored. */
static inline int eq_ci(const char *a, size_t alen, const char *b)
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
static inline int starts_word(const char *s, size_t n, const char *w)
{
	size_t k = strlen(w);

	return n >= k && memcmp(s, w, k) == 0 &&
	       (n == k || !is_ident((unsigned char)s[k]));
}

static inline int starts_with(const char *s, size_t n, const char *w)
{
	size_t k = strlen(w);

	return n >= k && memcmp(s, w, k) == 0;
}

/* A test's name: prefix itself, or prefix then '_', a digit or a capital
 * ("test_sort", "testSort", "test2"; not "testing_data"). */
static inline int test_name(const char *s, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);

	return n >= k && !memcmp(s, prefix, k) &&
	       (n == k || s[k] == '_' || is_digit((unsigned char)s[k]) ||
		(s[k] >= 'A' && s[k] <= 'Z'));
}

/* The opening bracket of a closing one. */
static inline char opener_of(char c)
{
	return c == ')' ? '(' : c == ']' ? '[' : '{';
}

/* The line at *pos: [*ls, *le) without its '\n'; moves *pos past it. */
static inline void next_line(const char *s, size_t n, size_t *pos,
			     size_t *ls, size_t *le)
{
	const char *nl = memchr(s + *pos, '\n', n - *pos);

	*ls = *pos;
	*le = nl ? (size_t)(nl - s) : n;
	*pos = nl ? *le + 1 : n;
}

/* ------------------------------------------------- text.c, lang_names.c */

/* What the parsers know how to read; anything else is CODE_OTHER. */
enum code_lang { CODE_PY, CODE_C, CODE_OTHER };

/* name through kiln_lang_canonical(); NULL and "" are Python (as in the
 * sandbox). */
enum code_lang kiln__code_lang(const char *name);

/* Input checks common to every entry point: NULL with a length, over max
 * bytes, a NUL byte, invalid UTF-8. `what` names the input in messages. */
int kiln__code_check_text(const char *s, size_t len, size_t max,
			  const char *what, kiln_error *err);

/* A NUL-terminated copy with CRLF as LF and a leading BOM dropped (*outlen
 * its length), or NULL when out of memory. */
char *kiln__code_to_lf(const char *s, size_t len, size_t *outlen);

/* ------------------------------------------------------------ split.c */

/* What the splitters produce: the preamble and the snippets. */
struct split_out {
	kiln_buf pre;
	char **t;
	size_t nt, cap;
	size_t used; /* bytes in all snippets */
	kiln_error *err;
};

/* A growable string that refuses to grow past max (src/util/buf.h). */
static inline int sb_add(kiln_buf *b, const char *s, size_t n)
{
	return kiln__buf_add(b, s, n);
}

static inline int sb_str(kiln_buf *b, const char *s)
{
	return sb_add(b, s, strlen(s));
}

/* The error for a failed sb_add (rc KILN_ENOMEM or KILN_ELIMIT). */
int kiln__split_buf_error(kiln_error *err, int rc, size_t max);
/* An empty buffer for the next snippet, capped by what the snippets so
 * far left of KILN_SPLIT_MAX_OUT. */
kiln_buf kiln__split_snippet(const struct split_out *o);
/* Takes b's string as the next test (b is emptied, and its string freed
 * on failure). */
int kiln__split_add_test(struct split_out *o, kiln_buf *b);

/* Definitions that matter to a bare call "f(...)": a test function (the
 * call is dropped: the function is already a test) or a helper whose body
 * asserts (the call is a test). Sorted for bsearch. */
enum { DEF_TEST = 1, DEF_ASSERTS = 2 };

struct split_def {
	const char *p;
	size_t len;
	int kind;
};

struct split_defs {
	struct split_def *d;
	size_t n, cap;
};

/* 0 or KILN_ENOMEM. */
int kiln__defs_add(struct split_defs *ds, const char *p, size_t len,
		   int kind);
/* Sorts the table; call once, after the last add, before kind lookups. */
void kiln__defs_sort(struct split_defs *ds);
/* The kinds of every definition of the name, or 0. */
int kiln__defs_kind(const struct split_defs *ds, const char *p, size_t len);

/* The splitters, on LF text s[0, n) checked by kiln__code_check_text. */
int kiln__split_python(const char *s, size_t n, struct split_out *o);
int kiln__split_c(const char *s, size_t n, struct split_out *o);

#endif
