/* Slow, obvious references for the tokenizer, written from the rules in
 * docs/FORMATS.md ("Tokenizer file"), not from src/model/tokenizer.c; used by
 * tests/unit/test_tokenizer.c and tests/fuzz/fuzz_tokenizer.c.
 *   ref_chunk   the pre-tokenizer as regex-like alternatives matched on the
 *               whole run, capped afterwards (ref_chunk_pretok: either
 *               pre-tokenizer, digits split or not);
 *   ref_encode  each merge in rank order over the whole chunk, every
 *               occurrence left to right;
 *   ref_train   a full recount of every pair before each merge, ties to the
 *               smaller (left, right).
 * And put32/reseal, to edit a serialized tokenizer and fix its checksum. */
#ifndef KILN_TEST_TOK_REF_H
#define KILN_TEST_TOK_REF_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
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

/* KILN_TOK_PRETOK_DIGITS: a digit alone first; no run of digits; a
 * whitespace run keeps its last space when a digit follows. */
static size_t ref_chunk_pretok(int pretok, const unsigned char *p, size_t n)
{
	int digits = pretok == KILN_TOK_PRETOK_DIGITS;
	size_t len = 0;

	if (n == 0)
		return 0;
	if (digits && is_digit(p[0]))
		return 1;
	if (!(len = match_run(p, n, is_letter)) &&
	    !(!digits && (len = match_run(p, n, is_digit))) &&
	    !(len = match_run(p, n, is_punct))) {
		while (len < n && is_ws(p[len]))
			len++;
		if (len < n && len >= 2 && p[len - 1] == ' ' &&
		    !(digits && is_digit(p[len])))
			len--;
	}
	return len > KILN_TOK_MAX_CHUNK ? KILN_TOK_MAX_CHUNK : len;
}

static inline size_t ref_chunk(const unsigned char *p, size_t n)
{
	return ref_chunk_pretok(KILN_TOK_PRETOK_GPT2, p, n);
}

static size_t ref_encode(const kiln_tok *t, const unsigned char *p, size_t n,
			 int *out)
{
	int nm = kiln_tok_merges(t);
	size_t o = 0;

	for (size_t i = 0; i < n;) {
		size_t len = ref_chunk_pretok(kiln_tok_pretok(t), p + i, n - i);
		size_t m = len;
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

typedef struct ref_word {
	int sym[KILN_TOK_MAX_CHUNK];
	size_t len;
	long freq;
} ref_word;

typedef struct ref_pair {
	int l, r;
	long count;
} ref_pair;

static int cmp_ref_pair(const void *a, const void *b)
{
	const ref_pair *x = a, *y = b;
	return x->l != y->l ? (x->l > y->l) - (x->l < y->l)
			    : (x->r > y->r) - (x->r < y->r);
}

/* Merges [want][2]; returns how many were made. Chunks are kept in a plain
 * array with a linear search: small corpora only. */
static int ref_train_pretok(int pretok, const unsigned char *p, size_t n,
			    int want, int *merges)
{
	ref_word *w = calloc(n + 1, sizeof(*w));
	ref_pair *pairs = malloc((n + 1) * sizeof(*pairs));
	size_t nw = 0;
	int done = 0;

	if (!w || !pairs)
		abort();
	for (size_t i = 0; i < n;) {
		size_t len = ref_chunk_pretok(pretok, p + i, n - i), k;

		for (k = 0; k < nw; k++) {
			if (w[k].len != len)
				continue;
			size_t j = 0;
			while (j < len && w[k].sym[j] == p[i + j])
				j++;
			if (j == len)
				break;
		}
		if (k == nw) {
			for (size_t j = 0; j < len; j++)
				w[nw].sym[j] = p[i + j];
			w[nw++].len = len;
		}
		w[k].freq++;
		i += len;
	}
	while (done < want) {
		size_t np = 0, best = 0, agg = 0;

		for (size_t k = 0; k < nw; k++)
			for (size_t j = 0; j + 1 < w[k].len; j++)
				pairs[np++] = (ref_pair){ w[k].sym[j],
							  w[k].sym[j + 1],
							  w[k].freq };
		if (np == 0)
			break;
		qsort(pairs, np, sizeof(*pairs), cmp_ref_pair);
		for (size_t j = 1; j < np; j++) {
			if (pairs[j].l == pairs[agg].l && pairs[j].r == pairs[agg].r)
				pairs[agg].count += pairs[j].count;
			else
				pairs[++agg] = pairs[j];
		}
		/* highest count; the sort order breaks ties */
		for (size_t j = 1; j <= agg; j++)
			if (pairs[j].count > pairs[best].count)
				best = j;
		merges[2 * done] = pairs[best].l;
		merges[2 * done + 1] = pairs[best].r;
		for (size_t k = 0; k < nw; k++) {
			size_t o = 0;
			for (size_t j = 0; j < w[k].len;) {
				if (j + 1 < w[k].len &&
				    w[k].sym[j] == pairs[best].l &&
				    w[k].sym[j + 1] == pairs[best].r) {
					w[k].sym[o++] = 256 + done;
					j += 2;
				} else
					w[k].sym[o++] = w[k].sym[j++];
			}
			w[k].len = o;
		}
		done++;
	}
	free(w);
	free(pairs);
	return done;
}

static inline int ref_train(const unsigned char *p, size_t n, int want,
			    int *merges)
{
	return ref_train_pretok(KILN_TOK_PRETOK_GPT2, p, n, want, merges);
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
