/* C test code into a preamble and snippets (kiln_split_tests; the rules
 * are in kiln/code.h).
 *
 * c_lex() cuts the text into tokens (strings, character constants,
 * comments, directives with their continuations), c_brackets() pairs the
 * brackets, and c_item() walks top-level items: statements ending at ';'
 * or at the '}' of a block, declarations, function definitions,
 * directives. Pass 1 finds which functions are tests and which assert;
 * pass 2 sorts every item (and every statement of main) into the
 * preamble, a test, set-up for later tests, or nothing.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "code/code_int.h"

#define C_MAX_DEPTH 256
#define C_MAX_TOKENS (1u << 20)

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
	struct split_defs defs;
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
			char want = opener_of(k);
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
		  struct split_out *o)
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
		int k = kiln__defs_kind(&c->defs, c->s + c->t[a].s,
				 c->t[a].e - c->t[a].s);
		if (k & DEF_TEST)
			return 0;
		test = (k & DEF_ASSERTS) != 0;
	}
	if (!test) {
		if (c_names(c, a, z, "argc") || c_names(c, a, z, "argv"))
			return 0;
		rc = c_text(c, prefix, a, z);
		return rc ? kiln__split_buf_error(o->err, rc, KILN_SPLIT_MAX_CODE) : 0;
	}
	b = kiln__split_snippet(o);
	rc = sb_add(&b, prefix->p ? prefix->p : "", prefix->len);
	rc = rc ? rc : c_text(c, &b, a, z);
	if (rc) {
		free(b.p);
		return kiln__split_buf_error(o->err, rc, KILN_SPLIT_MAX_OUT);
	}
	return kiln__split_add_test(o, &b);
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

int kiln__split_c(const char *s, size_t n, struct split_out *o)
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
			if (kiln__defs_add(&c.defs, s + c.t[name].s,
				    c.t[name].e - c.t[name].s, kind)) {
				rc = kiln_error_set(o->err, KILN_ENOMEM, "out of memory");
				goto out;
			}
		}
	}
	kiln__defs_sort(&c.defs);
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
				rc = kiln__split_buf_error(o->err, rc, KILN_SPLIT_MAX_OUT);
				goto out;
			}
			if (name != SIZE_MAX && c_test_fn(&c, name)) {
				kiln_buf b = kiln__split_snippet(o);
				rc = sb_add(&b, s + c.t[name].s,
					    c.t[name].e - c.t[name].s);
				rc = rc ? rc : sb_str(&b, "();\n");
				if (rc) {
					free(b.p);
					rc = kiln__split_buf_error(o->err, rc, KILN_SPLIT_MAX_OUT);
					goto out;
				}
				if ((rc = kiln__split_add_test(o, &b)))
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

