/* fuzz_tokens - code text through kiln_code_lex, kiln_code_normalize and
 * kiln_code_digest (src/code/tokens.c), which select and decontam run on
 * untrusted solutions, prompts and benchmark files.
 *
 * The first byte picks the language (python, c, rust, NULL); the rest is
 * the text, taken as bytes (no UTF-8 check: the lexer must not need one).
 *   - lex: tokens come in order, do not overlap, lie inside the text, are
 *     not empty, have a known kind, and every byte between them is white
 *     space; a comment starts with '#' (Python) or '/'; a string holds a
 *     quote; a name does not start with a digit;
 *   - normalize, every flag combination, appending twice to one stream:
 *     never fails under the cap, the second append doubles the count, and
 *     KILN_NORM_CODE gives one value a token that is not a comment;
 *     KILN_NORM_PROSE gives one value a word;
 *   - digest (Python): its tokens joined by line breaks (no other white
 *     space) have the same digest.
 * Any disagreement calls abort(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/code.h"
#include "fuzz.h"

struct seen {
	const char *s;
	size_t n, end, count, noncomment;
	int py;
	char *spaced;
	size_t slen;
};

static int space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
	       c == '\v';
}

static int on_token(void *ctx, const kiln_token *t)
{
	struct seen *k = ctx;
	const char *p = k->s + t->off;

	if (t->off < k->end || t->len == 0 || t->off + t->len > k->n ||
	    t->off + t->len < t->off)
		FAIL("token [%zu, +%zu) after %zu of %zu", t->off, t->len,
		     k->end, k->n);
	for (size_t i = k->end; i < t->off; i++)
		if (!space((unsigned char)k->s[i]))
			FAIL("byte %zu (0x%02x) in no token", i,
			     (unsigned char)k->s[i]);
	switch (t->kind) {
	case KILN_TOK_COMMENT:
		if (*p != (k->py ? '#' : '/'))
			FAIL("comment starts with 0x%02x", (unsigned char)*p);
		break;
	case KILN_TOK_STRING:
		if (!memchr(p, '\'', t->len) && !memchr(p, '"', t->len) &&
		    !memchr(p, '`', t->len))
			FAIL("string without a quote at %zu", t->off);
		break;
	case KILN_TOK_NAME:
		if (*p >= '0' && *p <= '9')
			FAIL("name starts with a digit at %zu", t->off);
		break;
	case KILN_TOK_NUMBER:
	case KILN_TOK_PUNCT:
		break;
	default:
		FAIL("kind %d", (int)t->kind);
	}
	if (k->spaced) {   /* tokens joined by line breaks */
		if (k->slen)
			k->spaced[k->slen++] = '\n';
		memcpy(k->spaced + k->slen, p, t->len);
		k->slen += t->len;
	}
	k->end = t->off + t->len;
	k->count++;
	k->noncomment += t->kind != KILN_TOK_COMMENT;
	return 0;
}

static size_t words(const char *s, size_t n)
{
	size_t w = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		int in = c == '_' || (c >= 'a' && c <= 'z') ||
			 (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			 c >= 0x80;
		unsigned char b = i ? (unsigned char)s[i - 1] : ' ';
		int was = b == '_' || (b >= 'a' && b <= 'z') ||
			  (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
			  b >= 0x80;
		w += in && (!i || !was);
	}
	return w;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const langs[] = { "python", "c", "rust", NULL };
	const char *lang;
	const char *s;
	size_t n;
	kiln_error err;
	struct seen k = { 0 };

	if (size < 1 || size > (1u << 16))
		return 0;
	lang = langs[data[0] % 4];
	s = (const char *)data + 1;
	n = size - 1;
	k.s = s;
	k.n = n;
	k.py = data[0] % 4 == 0 || data[0] % 4 == 3;
	k.spaced = k.py ? malloc(2 * n + 1) : NULL;
	if (kiln_code_lex(s, n, lang, on_token, &k) != 0)
		FAIL("lex failed");
	for (size_t i = k.end; i < n; i++)
		if (!space((unsigned char)s[i]))
			FAIL("byte %zu after the last token", i);

	for (unsigned flags = 0; flags < 8; flags++) {
		kiln_norm st = { 0 };
		size_t once;

		if (kiln_code_normalize(&st, s, n, lang, flags, &err))
			FAIL("normalize %u: %s", flags, err.msg);
		once = st.n;
		if (kiln_code_normalize(&st, s, n, lang, flags, &err))
			FAIL("normalize %u again: %s", flags, err.msg);
		if (st.n != 2 * once)
			FAIL("normalize %u: %zu then %zu", flags, once, st.n);
		if (flags == KILN_NORM_CODE && once != k.noncomment)
			FAIL("code: %zu values for %zu tokens", once,
			     k.noncomment);
		if ((flags & KILN_NORM_PROSE) && once != words(s, n))
			FAIL("prose: %zu values for %zu words", once,
			     words(s, n));
		kiln_norm_free(&st);
	}
	if (k.spaced) {
		uint64_t a, b;
		if (kiln_code_digest(s, n, lang, &a, &err) ||
		    kiln_code_digest(k.spaced, k.slen, lang, &b, &err))
			FAIL("digest: %s", err.msg);
		if (a != b)
			FAIL("digest changed with the layout");
	}
	free(k.spaced);
	return 0;
}
