/* Code as tokens, and a normalised token stream for comparing code
 * (kiln/code.h): select's "distinct solutions" and decontam's n-grams.
 *
 * The lexer knows two families: Python (# comments, '...' "..." and
 * triple-quoted strings with r/b/u/f prefixes) and the C family (C, C++,
 * Java, JavaScript, Go, Rust: // and block comments, "..." strings, '...'
 * character literals, `...` raw or template strings). It never fails: an
 * unterminated string or comment runs to the end of its line (a one-line
 * string) or of the text, and any other byte is punctuation, so every byte
 * that is not white space belongs to exactly one token.
 */
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "code/code_int.h"

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
	       c == '\v';
}

/* Operators of two or three bytes, longest first (one token each). */
static const char *const ops3[] = {
	"**=", "//=", ">>=", "<<=", "...", "!==", "===", "<=>", NULL,
};
static const char *const ops2[] = {
	"->", "::", "**", "//", "==", "!=", "<=", ">=", "+=", "-=", "*=",
	"/=", "%=", "&=", "|=", "^=", "&&", "||", "++", "--", "<<", ">>",
	":=", "=>", "@=", "..", NULL,
};

static size_t punct_len(const char *s, size_t n)
{
	for (int i = 0; ops3[i]; i++)
		if (n >= 3 && !memcmp(s, ops3[i], 3))
			return 3;
	for (int i = 0; ops2[i]; i++)
		if (n >= 2 && !memcmp(s, ops2[i], 2))
			return 2;
	return 1;
}

/* The end of a quoted string whose opening quote q (repeated qn times: 1
 * or 3) ends at s[i]; multi: it may span lines. */
static size_t string_end(const char *s, size_t n, size_t i, char q, int qn,
			 int multi)
{
	while (i < n) {
		if (s[i] == '\\') {
			i += 2;
			continue;
		}
		if (s[i] == '\n' && !multi)
			return i;
		if (s[i] == q && (qn == 1 || (i + 2 < n && s[i + 1] == q &&
					      s[i + 2] == q)))
			return i + (size_t)qn;
		i++;
	}
	return n;
}

static size_t number_end(const char *s, size_t n, size_t i)
{
	while (i < n) {
		unsigned char c = (unsigned char)s[i];

		if (is_ident(c) || c == '.')
			i++;
		else if ((c == '+' || c == '-') && (s[i - 1] == 'e' ||
						    s[i - 1] == 'E'))
			i++;
		else
			break;
	}
	return i;
}

/* A Python string prefix (r, b, u, f and two-letter mixes) followed by a
 * quote at s[i]: the prefix's length, or 0. */
static size_t py_prefix(const char *s, size_t n, size_t i)
{
	size_t k = 0;

	while (k < 2 && i + k < n && strchr("rRbBuUfF", s[i + k]) &&
	       s[i + k] != '\0')
		k++;
	if (k && i + k < n && (s[i + k] == '\'' || s[i + k] == '"'))
		return k;
	return 0;
}

/* A C-family character literal at s[i] (a quote): its end, or 0 when it
 * is not one (a Rust lifetime 'a, a lone quote). */
static size_t char_end(const char *s, size_t n, size_t i)
{
	for (size_t j = i + 1; j < n && j < i + 12 && s[j] != '\n'; j++) {
		if (s[j] == '\\') {
			j++;
			continue;
		}
		if (s[j] == '\'')
			return j > i + 1 ? j + 1 : 0;
	}
	return 0;
}

int kiln_code_lex(const char *s, size_t n, const char *language,
		  int (*fn)(void *ctx, const kiln_token *t), void *ctx)
{
	int py = kiln__code_lang(language) == CODE_PY;
	size_t i = 0;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		kiln_token t = { .kind = KILN_TOK_PUNCT, .off = i };
		size_t e, k = 0;
		int rc;

		if (is_space(c)) {
			i++;
			continue;
		}
		if (py && c == '#') {
			const char *nl = memchr(s + i, '\n', n - i);
			t.kind = KILN_TOK_COMMENT;
			e = nl ? (size_t)(nl - s) : n;
		} else if (!py && c == '/' && i + 1 < n && s[i + 1] == '/') {
			const char *nl = memchr(s + i, '\n', n - i);
			t.kind = KILN_TOK_COMMENT;
			e = nl ? (size_t)(nl - s) : n;
		} else if (!py && c == '/' && i + 1 < n && s[i + 1] == '*') {
			t.kind = KILN_TOK_COMMENT;
			for (e = i + 2; e < n && !(s[e] == '*' && e + 1 < n &&
						   s[e + 1] == '/');)
				e++;
			e = e < n ? e + 2 : n;
		} else if (py && (c == '\'' || c == '"' ||
				  (k = py_prefix(s, n, i)) > 0)) {
			size_t q = c == '\'' || c == '"' ? i : i + k;
			int tri = q + 2 < n && s[q + 1] == s[q] &&
				  s[q + 2] == s[q];
			t.kind = KILN_TOK_STRING;
			e = string_end(s, n, q + (tri ? 3 : 1), s[q],
				       tri ? 3 : 1, tri);
		} else if (!py && (c == '"' || c == '`')) {
			t.kind = KILN_TOK_STRING;
			e = string_end(s, n, i + 1, (char)c, 1, c == '`');
		} else if (!py && c == '\'' && (e = char_end(s, n, i)) > 0) {
			t.kind = KILN_TOK_STRING;
		} else if (is_digit(c) || (c == '.' && i + 1 < n &&
					   is_digit((unsigned char)s[i + 1]))) {
			t.kind = KILN_TOK_NUMBER;
			e = number_end(s, n, i + 1);
		} else if (is_ident_start(c)) {
			t.kind = KILN_TOK_NAME;
			for (e = i + 1; e < n && is_ident((unsigned char)s[e]);)
				e++;
		} else {
			e = i + punct_len(s + i, n - i);
		}
		t.len = e - i;
		if ((rc = fn(ctx, &t)) != 0)
			return rc;
		i = e;
	}
	return 0;
}

/* ------------------------------------------------------ normalisation */

/* Names that renaming leaves alone: keywords and builtins of Python and
 * of the C family (C, C++, Java, JavaScript, Go, Rust), and their common
 * library names. Sorted by strcmp for bsearch. */
static const char *const kept_names[] = {
	"ArithmeticError", "ArrayList", "Arrays", "AssertionError",
	"AttributeError", "BaseException", "BaseExceptionGroup",
	"BlockingIOError", "BrokenPipeError", "BufferError", "BytesWarning",
	"ChildProcessError", "ConnectionAbortedError", "ConnectionError",
	"ConnectionRefusedError", "ConnectionResetError", "DeprecationWarning",
	"EOFError", "Ellipsis", "EncodingWarning", "EnvironmentError", "Err",
	"Exception", "ExceptionGroup", "False", "FileExistsError",
	"FileNotFoundError", "FloatingPointError", "FutureWarning",
	"GeneratorExit", "HashMap", "IOError", "ImportError", "ImportWarning",
	"IndentationError", "IndexError", "Integer", "InterruptedError",
	"IsADirectoryError", "KeyError", "KeyboardInterrupt", "List",
	"LookupError", "Math", "MemoryError", "ModuleNotFoundError", "NULL",
	"NameError", "None", "NotADirectoryError", "NotImplemented",
	"NotImplementedError", "OSError", "Ok", "Option", "OverflowError",
	"PendingDeprecationWarning", "PermissionError", "ProcessLookupError",
	"RecursionError", "ReferenceError", "ResourceWarning", "Result",
	"RuntimeError", "RuntimeWarning", "Self", "Some", "StopAsyncIteration",
	"StopIteration", "String", "SyntaxError", "SyntaxWarning", "System",
	"SystemError", "SystemExit", "TabError", "TimeoutError", "True",
	"TypeError", "UnboundLocalError", "UnicodeDecodeError",
	"UnicodeEncodeError", "UnicodeError", "UnicodeTranslateError",
	"UnicodeWarning", "UserWarning", "ValueError", "Vec", "Warning",
	"ZeroDivisionError", "_", "abs", "abstract", "aiter", "alignas",
	"alignof", "all", "and", "and_eq", "anext", "any", "append", "as",
	"ascii", "asm", "assert", "async", "auto", "await", "begin", "bin",
	"bool", "boolean", "break", "breakpoint", "byte", "bytearray", "bytes",
	"callable", "cap", "case", "catch", "chan", "char", "chr", "class",
	"classmethod", "compile", "complex", "console", "const", "const_cast",
	"constexpr", "continue", "cout", "crate", "decltype", "def", "default",
	"defer", "define", "del", "delattr", "delete", "dict", "dir", "divmod",
	"do", "double", "dyn", "dynamic_cast", "elif", "else", "end", "endl",
	"enum", "enumerate", "error", "eval", "except", "exec", "explicit",
	"export", "extends", "extern", "f32", "f64", "fallthrough", "false",
	"filter", "final", "finally", "float", "fmt", "fn", "for", "format",
	"free", "friend", "from", "frozenset", "func", "function", "getattr",
	"global", "globals", "go", "goto", "hasattr", "hash", "hex", "i32", "i64",
	"id", "if", "impl", "implements", "import", "in", "include", "inline",
	"input", "instanceof", "int", "interface", "is", "isinstance", "isize",
	"issubclass", "iter", "lambda", "len", "length", "let", "list", "locals",
	"log", "long", "loop", "make", "malloc", "map", "match", "max",
	"memoryview", "min", "mod", "move", "mut", "mutable", "namespace",
	"native", "new", "next", "nil", "noexcept", "nonlocal", "not", "nullptr",
	"object", "oct", "of", "open", "operator", "or", "ord", "out", "package",
	"pair", "pass", "pow", "print", "printf", "println", "private",
	"property", "protected", "pub", "public", "push_back", "raise", "range",
	"ref", "register", "reinterpret_cast", "repr", "restrict", "return",
	"reversed", "round", "select", "self", "set", "setattr", "short",
	"signed", "size", "size_t", "sizeof", "slice", "sorted", "sqrt", "static",
	"static_assert", "static_cast", "staticmethod", "std", "str", "string",
	"strlen", "struct", "sum", "super", "switch", "synchronized", "template",
	"this", "throw", "throws", "trait", "transient", "true", "try", "tuple",
	"type", "typedef", "typeid", "typename", "typeof", "u32", "u64", "u8",
	"undefined", "union", "unsafe", "unsigned", "use", "using", "usize",
	"var", "vars", "vector", "virtual", "void", "volatile", "where", "while",
	"with", "yield", "zip",
};

struct span {
	const char *p;
	size_t len;
};

static int cmp_name(const void *key, const void *elem)
{
	const struct span *k = key;
	const char *name = *(const char *const *)elem;
	size_t nl = strlen(name), m = k->len < nl ? k->len : nl;
	int c = memcmp(k->p, name, m);

	if (c)
		return c;
	return k->len < nl ? -1 : k->len > nl;
}

static int kept_name(const char *p, size_t len)
{
	struct span k = { p, len };

	return bsearch(&k, kept_names, sizeof kept_names / sizeof kept_names[0],
		       sizeof kept_names[0], cmp_name) != NULL;
}

/* Token values: an XXH64 of the normalised text, seeded by what the token
 * is, with bit 0 set when the token carries content (a word, a number, a
 * kept name) and clear for punctuation and the name placeholder; bit 1 set
 * for numbers (data rather than words). */
enum { SEED_WORD = 1, SEED_NAME, SEED_NUMBER, SEED_PUNCT, SEED_STRING };
#define PLACEHOLDER 0x9e3779b97f4a7c14ull   /* bits 0, 1 clear */

static int push(kiln_norm *st, uint64_t v)
{
	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 256;
		uint64_t *p;

		if (st->n >= KILN_NORM_MAX_TOKENS)
			return KILN_ELIMIT;
		if (cap > KILN_NORM_MAX_TOKENS)
			cap = KILN_NORM_MAX_TOKENS;
		p = realloc(st->v, cap * sizeof *p);
		if (!p)
			return KILN_ENOMEM;
		st->v = p;
		st->cap = cap;
	}
	st->v[st->n++] = v;
	return 0;
}

static uint64_t value(const char *p, size_t len, unsigned seed, int content)
{
	uint64_t h = XXH64(p, len, seed) & ~3ull;

	return h | (content ? 1 : 0) | (seed == SEED_NUMBER ? 2 : 0);
}

/* XXH64 of p[0, len) lower-cased (ASCII letters), seeded: short texts
 * through a buffer on the stack, long ones streamed, so that every byte
 * counts however long the text (a 65-digit number is not its first 64). */
static int hash_lower(const char *p, size_t len, unsigned seed, uint64_t *h)
{
	char buf[64];
	XXH64_state_t *x;

	if (len <= sizeof buf) {
		for (size_t k = 0; k < len; k++)
			buf[k] = (char)lower((unsigned char)p[k]);
		*h = XXH64(buf, len, seed);
		return 0;
	}
	if (!(x = XXH64_createState()))
		return KILN_ENOMEM;
	XXH64_reset(x, seed);
	for (size_t i = 0; i < len; i += sizeof buf) {
		size_t n = len - i < sizeof buf ? len - i : sizeof buf;

		for (size_t k = 0; k < n; k++)
			buf[k] = (char)lower((unsigned char)p[i + k]);
		XXH64_update(x, buf, n);
	}
	*h = XXH64_digest(x);
	XXH64_freeState(x);
	return 0;
}

/* The words of p[0, len) (runs of letters, digits, '_' and non-ASCII
 * bytes), lower-cased, each a content token. */
static int push_words(kiln_norm *st, const char *p, size_t len)
{
	for (size_t i = 0; i < len;) {
		size_t j = i;
		uint64_t h;
		int rc;

		if (!is_ident((unsigned char)p[i])) {
			i++;
			continue;
		}
		while (j < len && is_ident((unsigned char)p[j]))
			j++;
		if ((rc = hash_lower(p + i, j - i, SEED_WORD, &h)) != 0 ||
		    (rc = push(st, (h & ~3ull) | 1)) != 0)
			return rc;
		i = j;
	}
	return 0;
}

struct norm_ctx {
	kiln_norm *st;
	const char *s;
	unsigned flags;
	int after_dot;   /* the last token was '.', '->' or '::' */
	int rc;
};

static int norm_token(void *vctx, const kiln_token *t)
{
	struct norm_ctx *c = vctx;
	const char *p = c->s + t->off;
	int names = c->flags & KILN_NORM_NAMES, words = c->flags &
		    KILN_NORM_WORDS, dot = c->after_dot, rc = 0;

	c->after_dot = 0;
	switch (t->kind) {
	case KILN_TOK_COMMENT:
		if (words)
			rc = push_words(c->st, p, t->len);
		break;
	case KILN_TOK_STRING:
		if (words) {
			size_t q = 0;   /* the prefix (f, rb ...) is no word */
			while (q < t->len && is_ident((unsigned char)p[q]))
				q++;
			rc = push_words(c->st, p + q, t->len - q);
		} else {
			rc = push(c->st, value(p, t->len, SEED_STRING, 1));
		}
		break;
	case KILN_TOK_NAME:
		if (names && !dot && !kept_name(p, t->len))
			rc = push(c->st, PLACEHOLDER);
		else
			rc = push(c->st, value(p, t->len, SEED_NAME, 1));
		break;
	case KILN_TOK_NUMBER: {
		/* as value(): 0x1F and 0x1f are one number */
		uint64_t h;

		if ((rc = hash_lower(p, t->len, SEED_NUMBER, &h)) == 0)
			rc = push(c->st, (h & ~3ull) | 1 | 2);
		break;
	}
	default:
		c->after_dot = (t->len == 1 && *p == '.') ||
			       (t->len == 2 && (!memcmp(p, "->", 2) ||
						!memcmp(p, "::", 2)));
		rc = push(c->st, value(p, t->len, SEED_PUNCT, 0));
	}
	c->rc = rc;
	return rc;
}

int kiln_code_normalize(kiln_norm *st, const char *s, size_t len,
			const char *language, unsigned flags, kiln_error *err)
{
	struct norm_ctx c = { .st = st, .s = s, .flags = flags };
	int rc;

	if (!s && len)
		return kiln_error_set(err, KILN_EINVAL, "normalize: NULL text");
	if (flags & KILN_NORM_PROSE)
		rc = push_words(st, s, len);
	else
		rc = kiln_code_lex(s, len, language, norm_token, &c);
	if (rc == KILN_ELIMIT)
		return kiln_error_set(err, rc, "normalize: more than %u tokens",
				      (unsigned)KILN_NORM_MAX_TOKENS);
	if (rc)
		return kiln_error_set(err, KILN_ENOMEM,
				      "normalize: out of memory");
	return 0;
}

void kiln_norm_free(kiln_norm *st)
{
	free(st->v);
	st->v = NULL;
	st->n = st->cap = 0;
}

int kiln_code_digest(const char *s, size_t len, const char *language,
		     uint64_t *digest, kiln_error *err)
{
	kiln_norm st = { 0 };
	int rc = kiln_code_normalize(&st, s, len, language, KILN_NORM_CODE,
				     err);

	if (rc == 0)
		*digest = XXH64(st.v, st.n * sizeof *st.v, 0);
	kiln_norm_free(&st);
	return rc;
}
