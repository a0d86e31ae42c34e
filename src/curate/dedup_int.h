/* Internals of kiln dedup shared with its fuzz target. */
#ifndef KILN_DEDUP_INT_H
#define KILN_DEDUP_INT_H

#include <stddef.h>
#include <stdint.h>

/* What dedup reads of a record. */
typedef struct kiln__dedup_fields {
	const char *text;      /* the field's string (decoded) */
	size_t text_len;
	const char *id;        /* the "id" member's JSON text, or NULL */
	size_t id_len;
	double tests, reward;  /* -inf when missing or not a number */
	int has_mutation;      /* a "mutation" member (the scanner gives up) */
	int reparse;           /* has "dedup" or "dropped" */
} kiln__dedup_fields;

/* The fast path of reading a record: one pass over line[0, len) that
 * checks it is a JSON object as kiln_jsonl_parse_line would accept it and
 * takes the members dedup needs, decoding the field's string into *buf
 * (grown as needed; *cap its size). Returns 1 when it did, 0 when it gives
 * up: the line is malformed, or has what only jansson decides (\u
 * escapes, numbers past 15 digits or with exponents of 3 digits, keys with
 * escapes, deep nesting, objects of more than 64 members, "mutation", the
 * field missing or not a string, a byte outside ASCII that is not
 * checked UTF-8 here: the caller checks UTF-8 first). -1 when out of
 * memory. After 0 the caller parses the line with jansson, which accepts
 * it or says what is wrong. */
int kiln__dedup_scan(const char *line, size_t len, const char *field,
		     kiln__dedup_fields *out, char **buf, size_t *cap);

/* The MinHash permutation kernels (plain, portable fast, AVX2 where
 * built) on n random shingles and np permutations: 0 when they agree. */
int kiln__minhash_permute_check(uint64_t seed, size_t n, int np);

/* SHA-1's block function with the SHA extensions against the plain one
 * on random blocks: 0 when they agree, 1 when the CPU has no SHA
 * extensions (nothing compared), -1 when they differ. */
int kiln__sha1_check(uint64_t seed);

/* dedup's band-key sort on n (key, id) pairs from seed, many of whose
 * keys share their high 32 bits or are equal: 0 when it leaves them in
 * (key, id) order, a permutation of what went in. */
int kiln__dedup_sort_check(uint64_t seed, size_t n);

#endif
