/* Slow, obvious references for the tokenizer, written from the rules in
 * docs/FORMATS.md ("Tokenizer file"), not from src/model/tokenizer.c; used by
 * tests/unit/test_tokenizer.c and tests/fuzz/fuzz_tokenizer.c.
 *   ref_chunk   the pre-tokenizer as regex-like alternatives matched on the
 *               whole run, capped afterwards;
 *   ref_encode  each merge in rank order over the whole chunk, every
 *               occurrence left to right.
 * And put32/reseal, to edit a serialized tokenizer and fix its checksum. */
#ifndef KILN_TEST_TOK_REF_H
#define KILN_TEST_TOK_REF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <xxhash.h>

#include "kiln/tokenizer.h"

static int is_ws(int c) { return strchr(" \t\n\v\f\r", c) && c; }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_letter(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       c >= 0x80;
}
static int is_punct(int c) { return !is_ws(c) && !is_digit(c) && !is_letter(c); }

/* ' '? X+ : the length matched, or 0. */
static size_t match_run(const unsigned char *p, size_t n, int (*cls)(int))
{
	size_t i = p[0] == ' ' ? 1 : 0, start = i;

	while (i < n && cls(p[i]))
		i++;
	return i > start ? i : 0;
}

static size_t ref_chunk(const unsigned char *p, size_t n)
{
	size_t len = 0;

	if (n == 0)
		return 0;
	if (!(len = match_run(p, n, is_letter)) &&
	    !(len = match_run(p, n, is_digit)) &&
	    !(len = match_run(p, n, is_punct))) {
		while (len < n && is_ws(p[len]))
			len++;
		if (len < n && len >= 2 && p[len - 1] == ' ')
			len--;
	}
	return len > KILN_TOK_MAX_CHUNK ? KILN_TOK_MAX_CHUNK : len;
}

static size_t ref_encode(const kiln_tok *t, const unsigned char *p, size_t n,
			 int *out)
{
	int nm = kiln_tok_merges(t);
	size_t o = 0;

	for (size_t i = 0; i < n;) {
		size_t len = ref_chunk(p + i, n - i), m = len;
		int sym[KILN_TOK_MAX_CHUNK];

		for (size_t j = 0; j < len; j++)
			sym[j] = p[i + j];
		for (int r = 0; r < nm && m > 1; r++) {
			int l, rr;
			size_t w = 0;

			kiln_tok_merge(t, r, &l, &rr);
			for (size_t j = 0; j < m;) {
				if (j + 1 < m && sym[j] == l && sym[j + 1] == rr) {
					sym[w++] = 256 + r;
					j += 2;
				} else
					sym[w++] = sym[j++];
			}
			m = w;
		}
		memcpy(out + o, sym, m * sizeof(int));
		o += m;
		i += len;
	}
	return o;
}

/* A serialized tokenizer with its checksum recomputed after an edit. */
static void reseal(unsigned char *b, size_t len)
{
	uint64_t h = XXH64(b, len - 8, 0);
	for (int i = 0; i < 8; i++)
		b[len - 8 + i] = (unsigned char)(h >> (8 * i));
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

#endif
