/* JSON text to Python literal text (see pylit.h). A recursive-descent
 * reader of RFC 8259 that writes as it reads; depth is capped. */
#include "util/pylit.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/utf8.h"

typedef struct conv {
	const char *s;
	size_t len, pos;
	kiln_buf *out;      /* NULL: check only */
	kiln_error *err;
} conv;

static int emit(conv *c, const char *s, size_t n)
{
	int rc;

	if (!c->out)
		return 0;
	rc = kiln__buf_add(c->out, s, n);
	if (rc == KILN_ELIMIT)
		return kiln_error_set(c->err, rc, "a value is longer than %zu "
				      "bytes as Python text", c->out->max);
	if (rc)
		return kiln_error_set(c->err, rc, "out of memory");
	return 0;
}

static int bad(conv *c, const char *what)
{
	return kiln_error_set(c->err, KILN_EPARSE, "JSON value, byte %zu: %s",
			      c->pos + 1, what);
}

static void blanks(conv *c)
{
	while (c->pos < c->len && (c->s[c->pos] == ' ' ||
	       c->s[c->pos] == '\t' || c->s[c->pos] == '\n' ||
	       c->s[c->pos] == '\r'))
		c->pos++;
}

static int is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static int number(conv *c)
{
	size_t start = c->pos;

	if (c->pos < c->len && c->s[c->pos] == '-')
		c->pos++;
	if (c->pos >= c->len || !is_digit(c->s[c->pos]))
		return bad(c, "a digit expected");
	if (c->s[c->pos] == '0') {
		c->pos++;
		if (c->pos < c->len && is_digit(c->s[c->pos]))
			return bad(c, "a leading zero");
	} else {
		while (c->pos < c->len && is_digit(c->s[c->pos]))
			c->pos++;
	}
	if (c->pos < c->len && c->s[c->pos] == '.') {
		c->pos++;
		if (c->pos >= c->len || !is_digit(c->s[c->pos]))
			return bad(c, "a digit expected after '.'");
		while (c->pos < c->len && is_digit(c->s[c->pos]))
			c->pos++;
	}
	if (c->pos < c->len && (c->s[c->pos] == 'e' || c->s[c->pos] == 'E')) {
		c->pos++;
		if (c->pos < c->len && (c->s[c->pos] == '+' ||
					c->s[c->pos] == '-'))
			c->pos++;
		if (c->pos >= c->len || !is_digit(c->s[c->pos]))
			return bad(c, "a digit expected in the exponent");
		while (c->pos < c->len && is_digit(c->s[c->pos]))
			c->pos++;
	}
	return emit(c, c->s + start, c->pos - start);
}

static int hex4(const char *s, uint32_t *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char ch = s[i];
		int d = is_digit(ch) ? ch - '0'
			: ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
			: ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
		if (d < 0)
			return -1;
		*v = *v << 4 | (uint32_t)d;
	}
	return 0;
}

/* A JSON string as a double-quoted Python string. */
static int string(conv *c)
{
	size_t run;
	int rc;

	c->pos++; /* the opening quote */
	if ((rc = emit(c, "\"", 1)))
		return rc;
	for (;;) {
		run = c->pos;
		while (run < c->len && c->s[run] != '"' && c->s[run] != '\\' &&
		       (unsigned char)c->s[run] >= 0x20)
			run++;
		if (kiln_utf8_check(c->s + c->pos, run - c->pos) >= 0) {
			c->pos += (size_t)kiln_utf8_check(c->s + c->pos,
							  run - c->pos);
			return bad(c, "invalid UTF-8 in a string");
		}
		if ((rc = emit(c, c->s + c->pos, run - c->pos)))
			return rc;
		c->pos = run;
		if (c->pos >= c->len)
			return bad(c, "an unterminated string");
		if (c->s[c->pos] == '"') {
			c->pos++;
			return emit(c, "\"", 1);
		}
		if ((unsigned char)c->s[c->pos] < 0x20)
			return bad(c, "a control character in a string");
		/* an escape */
		if (c->pos + 1 >= c->len)
			return bad(c, "an unterminated escape");
		switch (c->s[c->pos + 1]) {
		case '"': case '\\': case 'b': case 'f': case 'n': case 'r':
		case 't':
			rc = emit(c, c->s + c->pos, 2);
			c->pos += 2;
			break;
		case '/':
			rc = emit(c, "/", 1);
			c->pos += 2;
			break;
		case 'u': {
			uint32_t u, lo;
			char esc[16];

			if (c->len - c->pos < 6 || hex4(c->s + c->pos + 2, &u))
				return bad(c, "a bad \\u escape");
			if (u >= 0xdc00 && u <= 0xdfff)
				return bad(c, "a lone low surrogate");
			if (u >= 0xd800 && u <= 0xdbff) {
				if (c->len - c->pos < 12 ||
				    c->s[c->pos + 6] != '\\' ||
				    c->s[c->pos + 7] != 'u' ||
				    hex4(c->s + c->pos + 8, &lo) ||
				    lo < 0xdc00 || lo > 0xdfff)
					return bad(c, "a lone high surrogate");
				u = 0x10000 + ((u - 0xd800) << 10) +
				    (lo - 0xdc00);
				snprintf(esc, sizeof(esc), "\\U%08x",
					 (unsigned)u);
				rc = emit(c, esc, 10);
				c->pos += 12;
			} else {
				rc = emit(c, c->s + c->pos, 6);
				c->pos += 6;
			}
			break;
		}
		default:
			return bad(c, "an unknown escape");
		}
		if (rc)
			return rc;
	}
}

static int word(conv *c, const char *json, const char *py)
{
	size_t n = strlen(json);

	if (c->len - c->pos < n || memcmp(c->s + c->pos, json, n) != 0)
		return bad(c, "a JSON value expected");
	c->pos += n;
	return emit(c, py, strlen(py));
}

static int value(conv *c, int depth);

/* An array or object: '[' items ']' or '{' "key": value '}'. */
static int container(conv *c, int depth)
{
	char open = c->s[c->pos], close = open == '[' ? ']' : '}';
	int rc, first = 1;

	if (depth >= KILN_PYLIT_MAX_DEPTH)
		return bad(c, "nested too deeply");
	c->pos++;
	if ((rc = emit(c, &open, 1)))
		return rc;
	blanks(c);
	if (c->pos < c->len && c->s[c->pos] == close) {
		c->pos++;
		return emit(c, &close, 1);
	}
	for (;;) {
		if (!first && (rc = emit(c, ", ", 2)))
			return rc;
		first = 0;
		blanks(c);
		if (open == '{') {
			if (c->pos >= c->len || c->s[c->pos] != '"')
				return bad(c, "a string key expected");
			if ((rc = string(c)))
				return rc;
			blanks(c);
			if (c->pos >= c->len || c->s[c->pos] != ':')
				return bad(c, "':' expected");
			c->pos++;
			if ((rc = emit(c, ": ", 2)))
				return rc;
		}
		if ((rc = value(c, depth + 1)))
			return rc;
		blanks(c);
		if (c->pos >= c->len)
			return bad(c, "an unterminated array or object");
		if (c->s[c->pos] == close) {
			c->pos++;
			return emit(c, &close, 1);
		}
		if (c->s[c->pos] != ',')
			return bad(c, "',' expected");
		c->pos++;
	}
}

static int value(conv *c, int depth)
{
	blanks(c);
	if (c->pos >= c->len)
		return bad(c, "a JSON value expected");
	switch (c->s[c->pos]) {
	case '"':
		return string(c);
	case '[': case '{':
		return container(c, depth);
	case 't':
		return word(c, "true", "True");
	case 'f':
		return word(c, "false", "False");
	case 'n':
		return word(c, "null", "None");
	default:
		return number(c);
	}
}

int kiln__pylit_value(const char *s, size_t len, size_t *used, kiln_buf *out,
		      kiln_error *err)
{
	conv c = { .s = s, .len = len, .out = out, .err = err };
	int rc = value(&c, 0);

	*used = c.pos;
	return rc;
}

void kiln__pylit_free_list(char **list, size_t n)
{
	if (!list)
		return;
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

int kiln__pylit_arglists(const char *s, size_t len, size_t *used,
			 size_t max, char ***args, size_t *n, kiln_error *err)
{
	conv c = { .s = s, .len = len, .err = err };
	char **list = NULL;
	size_t count = 0, cap = 0;
	int rc = 0;

	*args = NULL;
	*n = 0;
	blanks(&c);
	if (c.pos >= c.len || c.s[c.pos] != '[') {
		rc = bad(&c, "a list of inputs expected");
		goto out;
	}
	c.pos++;
	blanks(&c);
	if (c.pos < c.len && c.s[c.pos] == ']') {
		c.pos++;
		goto out;
	}
	for (;;) {
		kiln_buf b = { .max = max };

		blanks(&c);
		if (c.pos >= c.len || c.s[c.pos] != '[') {
			rc = bad(&c, "an input (a list of arguments) expected");
			goto out;
		}
		/* the arguments without their brackets: convert the list,
		 * then drop the first and last byte */
		c.out = &b;
		rc = container(&c, 0);
		c.out = NULL;
		if (!rc && b.len < 2)
			rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		if (rc) {
			free(b.p);
			goto out;
		}
		memmove(b.p, b.p + 1, b.len - 2);
		b.p[b.len - 2] = '\0';
		if (count == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **p = realloc(list, ncap * sizeof(*list));
			if (!p) {
				free(b.p);
				rc = kiln_error_set(err, KILN_ENOMEM,
						    "out of memory");
				goto out;
			}
			list = p;
			cap = ncap;
		}
		list[count++] = b.p;
		blanks(&c);
		if (c.pos < c.len && c.s[c.pos] == ']') {
			c.pos++;
			break;
		}
		if (c.pos >= c.len || c.s[c.pos] != ',') {
			rc = bad(&c, "',' or ']' expected in the inputs");
			goto out;
		}
		c.pos++;
	}
out:
	*used = c.pos;
	if (rc) {
		kiln__pylit_free_list(list, count);
		return rc;
	}
	*args = list;
	*n = count;
	return 0;
}
