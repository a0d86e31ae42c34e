/* kiln/minhash.h - MinHash signatures of code and text (src/curate/minhash.c),
 * bit for bit those of two published implementations:
 *
 *  - tokens KILN_MINHASH_WORDS (preset "datatrove", huggingface/datatrove's
 *    defaults): the text simplified (lower case; a run of decimal digits,
 *    with one optional [.,،٫⎖⎗⎘] and more digits, becomes "0"; ASCII
 *    punctuation and control characters become spaces; whitespace
 *    collapsed and stripped; NFD with the nonspacing marks (Mn) removed),
 *    split on " ", word n-grams hashed with xxh64 (seed 0) of their UTF-8
 *    text joined by " ";
 *  - tokens KILN_MINHASH_IDENT (preset "code", bigcode-dataset's
 *    near-deduplication of The Stack): tokens = the text split at every
 *    character that is not [A-Za-z_0-9] (empty tokens included), the set
 *    of n-grams joined by " ", each hashed with the first 4 bytes of its
 *    SHA-1 (little-endian), and each permuted value cut to 32 bits.
 *
 * Signature value k of a document is min over its n-gram hashes h of
 * ((h * a[k] + b[k]) mod 2^64) mod (2^61 - 1), with (a, b) drawn as numpy's
 * RandomState(seed).randint(1, P) and randint(0, P) do (MT19937, masked
 * rejection). A document with fewer than n tokens has no signature (all
 * values 2^64 - 1) and is never a near duplicate.
 *
 * Known differences from Python (only outside ASCII): Unicode tables are
 * utf8proc's (the Unicode version may differ from Python's), and the
 * final-sigma rule of str.lower() is approximated.
 */
#ifndef KILN_MINHASH_H
#define KILN_MINHASH_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/error.h"

#define KILN_MINHASH_PRIME ((1ULL << 61) - 1)
#define KILN_MINHASH_MAX_PERM 1024
#define KILN_MINHASH_MAX_NGRAM 64
#define KILN_MINHASH_MAX_TEXT (64u << 20)  /* bytes of one document */

enum { KILN_MINHASH_WORDS = 0, KILN_MINHASH_IDENT = 1 };

typedef struct kiln_minhash_params {
	int tokens;        /* KILN_MINHASH_WORDS or KILN_MINHASH_IDENT */
	int ngram;         /* tokens per shingle */
	int permutations;  /* signature length */
	int bands, rows;   /* LSH: bands x rows <= permutations */
	long long seed;    /* numpy RandomState seed, [0, 2^32) */
} kiln_minhash_params;

/* The presets: "code" (identifier tokens, 5-grams, 256 permutations,
 * 25 x 10, seed 42) and "datatrove" (words, 5-grams, 112 = 14 x 8,
 * seed 1). Returns 0, or KILN_EINVAL for another name. */
int kiln_minhash_preset(const char *name, kiln_minhash_params *p);

/* Checks p's ranges; KILN_EINVAL naming what is wrong. */
int kiln_minhash_check(const kiln_minhash_params *p, kiln_error *err);

/* The probability that two documents of Jaccard similarity s share a
 * band: 1 - (1 - s^rows)^bands. */
double kiln_minhash_s_curve(int bands, int rows, double s);
/* The s where that probability is 1/2 (the curve's threshold). */
double kiln_minhash_threshold(int bands, int rows);

typedef struct kiln_minhash kiln_minhash;

int kiln_minhash_new(kiln_minhash **out, const kiln_minhash_params *p,
		     kiln_error *err);
void kiln_minhash_free(kiln_minhash *m);
const kiln_minhash_params *kiln_minhash_get_params(const kiln_minhash *m);
/* The permutations' a[] and b[] (permutations values each). */
const uint64_t *kiln_minhash_a(const kiln_minhash *m);
const uint64_t *kiln_minhash_b(const kiln_minhash *m);

/* Signs text[0, len) (UTF-8): sig gets permutations values. Returns the
 * number of distinct shingles (0: fewer than n tokens, sig all ones), or
 * a negative KILN_E* (invalid UTF-8, longer than KILN_MINHASH_MAX_TEXT,
 * out of memory). With set non-NULL, *set points to the distinct shingles'
 * 64-bit hashes (xxh64 of the shingle text, in no order; valid until the
 * next call on m): the sets whose exact Jaccard similarity is reported.
 * With set NULL and word tokens, the distinct shingles are not worked out
 * (a repeated one changes no minimum) and the count returned is of all
 * shingles; kiln_minhash_last_set gives the set afterwards if needed. */
long kiln_minhash_sign(kiln_minhash *m, const char *text, size_t len,
		       uint64_t *sig, const uint64_t **set, kiln_error *err);

/* The distinct shingles of the last kiln_minhash_sign on m that asked for
 * no set (word tokens, at least n tokens): *set as kiln_minhash_sign's,
 * their count returned; -1 if there is no such sign, KILN_ENOMEM. */
long kiln_minhash_last_set(kiln_minhash *m, const uint64_t **set);

/* The same, the plain way (every shingle permuted with %, no fast paths):
 * the reference the fast path is tested against. */
long kiln_minhash_sign_ref(kiln_minhash *m, const char *text, size_t len,
			   uint64_t *sig, kiln_error *err);

/* datatrove's text simplification of text[0, len) into *out (malloc'd,
 * NUL-terminated, *outlen bytes). The ASCII-only fast path and the
 * general one are the same function; ref = 1 forces the general one. */
int kiln_minhash_simplify(const char *text, size_t len, int ref, char **out,
			  size_t *outlen, kiln_error *err);

/* The exact-duplicate key: xxh3-64 of the normalised code (line ends as
 * LF, trailing whitespace of each line and blank lines removed). */
uint64_t kiln_minhash_exact_key(const char *text, size_t len);

/* Shares of equal values of two signatures of n values. */
double kiln_minhash_estimate(const uint64_t *s1, const uint64_t *s2,
			     size_t n);
/* |A & B| / |A | B| of two sets of distinct hashes (1 when both are
 * empty); -1 when out of memory. */
double kiln_minhash_jaccard(const uint64_t *a, size_t na, const uint64_t *b,
			    size_t nb);

/* SHA-1 of p[0, n) into out[20] (exposed for its known-answer test). */
void kiln_sha1(const void *p, size_t n, unsigned char out[20]);

#endif
