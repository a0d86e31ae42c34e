/* Byte-level BPE (kiln/tokenizer.h).
 *
 * The fast paths are checked against slow, obvious references written from
 * the rules in docs/FORMATS.md, not from tokenizer.c (tok_ref.h, shared with
 * the fuzz target): ref_chunk, ref_encode and ref_train. They must agree
 * exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "kiln/tokenizer.h"

#include "tmpdir.h"
#include "tok_ref.h"

#define PYLIB "/usr/lib/python3.11"

/* --- helpers ------------------------------------------------------------- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void fill_random(unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)next_rand();
}

/* The repository root, from this file's path (.../tests/unit/x.c). */
static const char *repo_root(void)
{
	static char root[1024];
	const char *cut;

	if (!root[0]) {
		cut = strstr(__FILE__, "tests/unit/");
		assert_non_null(cut);
		snprintf(root, sizeof(root), "%.*s", (int)(cut - __FILE__),
			 __FILE__);
	}
	return root;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	b = malloc((size_t)n + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	b[n] = '\0';
	*len = (size_t)n;
	return b;
}

/* Real code: the library's own sources, and the Python standard library's
 * json package where Debian has it. */
static char *real_code(size_t *len)
{
	static const char *files[] = { "src/model/tokenizer.c",
				       "src/model/tok_train.c",
				       "src/util/jsonl.c",
				       PYLIB "/json/decoder.py",
				       PYLIB "/json/encoder.py",
				       PYLIB "/textwrap.py" };
	char *all = NULL;
	size_t n = 0;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[1200];
		size_t l;
		char *b;

		if (files[i][0] == '/')
			snprintf(path, sizeof(path), "%s", files[i]);
		else
			snprintf(path, sizeof(path), "%s%s", repo_root(),
				 files[i]);
		if (access(path, R_OK) != 0)
			continue;
		b = slurp(path, &l);
		all = realloc(all, n + l + 1);
		assert_non_null(all);
		memcpy(all + n, b, l);
		n += l;
		free(b);
	}
	assert_true(n > 50000);
	all[n] = '\0';
	*len = n;
	return all;
}

static kiln_tok *train_mem(int vocab, const void *data, size_t n)
{
	kiln_tok *t;
	kiln_error err;

	assert_int_equal(kiln_tok_train_mem(&t, vocab, data, n, NULL, &err), 0);
	return t;
}

static void assert_roundtrip(const kiln_tok *t, const void *data, size_t n)
{
	int *ids;
	size_t nids, len;
	char *back;
	kiln_error err;

	assert_int_equal(kiln_tok_encode(t, data, n, &ids, &nids, &err), 0);
	assert_non_null(ids);
	assert_true(nids <= n);
	for (size_t i = 0; i < nids; i++)
		assert_true(ids[i] >= 0 && ids[i] < kiln_tok_eot(t));
	assert_int_equal(kiln_tok_decode(t, ids, nids, &back, &len, &err), 0);
	assert_int_equal(len, n);
	assert_memory_equal(back, data, n);
	assert_int_equal(back[n], '\0');
	free(back);
	free(ids);
}

static void assert_same_as_reference(const kiln_tok *t, const void *data,
				     size_t n)
{
	int *ids, *ref = malloc((n ? n : 1) * sizeof(int));
	size_t nids, nref;
	kiln_error err;

	assert_non_null(ref);
	assert_int_equal(kiln_tok_encode(t, data, n, &ids, &nids, &err), 0);
	nref = ref_encode(t, data, n, ref);
	assert_int_equal(nids, nref);
	for (size_t i = 0; i < nids; i++)
		if (ids[i] != ref[i])
			fail_msg("id %zu: encode %d, reference %d", i, ids[i],
				 ref[i]);
	free(ids);
	free(ref);
}

/* --- tests ------------------------------------------------------------------ */

static void byte_tokenizer(void **state)
{
	kiln_tok *t;
	kiln_error err;
	int *ids;
	size_t n, len;
	const unsigned char *pc;
	char *s;
	int with_eot[] = { 104, 105, 256, 33 };

	(void)state;
	assert_int_equal(kiln_tok_bytes(&t, &err), 0);
	assert_int_equal(kiln_tok_vocab(t), 257);
	assert_int_equal(kiln_tok_eot(t), 256);
	assert_int_equal(kiln_tok_merges(t), 0);
	assert_int_equal(kiln_tok_encode(t, "hi\0\xff", 4, &ids, &n, &err), 0);
	assert_int_equal(n, 4);
	assert_int_equal(ids[0], 'h');
	assert_int_equal(ids[2], 0);
	assert_int_equal(ids[3], 255);
	free(ids);
	pc = kiln_tok_piece(t, 255, &len);
	assert_int_equal(len, 1);
	assert_int_equal(pc[0], 255);
	assert_non_null(kiln_tok_piece(t, 256, &len));
	assert_int_equal(len, 0);
	assert_null(kiln_tok_piece(t, 257, &len));
	assert_null(kiln_tok_piece(t, -1, &len));
	/* EOT decodes to nothing */
	assert_int_equal(kiln_tok_decode(t, with_eot, 4, &s, &len, &err), 0);
	assert_int_equal(len, 3);
	assert_string_equal(s, "hi!");
	free(s);
	/* empty input: a non-NULL empty result */
	assert_int_equal(kiln_tok_encode(t, NULL, 0, &ids, &n, &err), 0);
	assert_non_null(ids);
	assert_int_equal(n, 0);
	free(ids);
	kiln_tok_free(t);
}

typedef struct chunk_case {
	const char *in;
	const char *out[16];
} chunk_case;

/* The pre-tokenizer's chunk length; with GPT2 also kiln_tok_chunk's. */
static size_t chunk_len(int pretok, const void *p, size_t n)
{
	size_t len = kiln_tok_chunk_pretok(pretok, p, n);

	if (pretok == KILN_TOK_PRETOK_GPT2)
		assert_int_equal(kiln_tok_chunk(p, n), len);
	return len;
}

static void check_chunk_cases(int pretok, const chunk_case *cases,
			      size_t ncases)
{
	for (size_t c = 0; c < ncases; c++) {
		const char *p = cases[c].in;
		size_t n = strlen(p), k = 0;

		while (n > 0) {
			size_t len = chunk_len(pretok, p, n);
			assert_non_null(cases[c].out[k]);
			if (len != strlen(cases[c].out[k]) ||
			    memcmp(p, cases[c].out[k], len) != 0)
				fail_msg("case %zu chunk %zu: got '%.*s', want "
					 "'%s'", c, k, (int)len, p,
					 cases[c].out[k]);
			p += len;
			n -= len;
			k++;
		}
		assert_null(cases[c].out[k]);
	}
	assert_int_equal(chunk_len(pretok, "", 0), 0);
}

static void chunks_known_answers(void **state)
{
	static const chunk_case cases[] = {
		{ "def foo(x):\n    return x+1\n",
		  { "def", " foo", "(", "x", "):", "\n   ", " return", " x",
		    "+", "1", "\n" } },
		{ "a  b", { "a", " ", " b" } },
		{ "\n\tx = 10", { "\n\t", "x", " =", " 10" } },
		{ "  \t x", { "  \t", " x" } },
		{ "caf\xc3\xa9 na\xefve_2", { "caf\xc3\xa9", " na\xefve_", "2" } },
		{ "x  ", { "x", "  " } },
		{ " ", { " " } },
		{ "\r\n\r\n", { "\r\n\r\n" } },
		{ "a->b", { "a", "->", "b" } },
		{ "add 5 to (5) -5 12345", { "add", " 5", " to", " (", "5",
					     ")", " -", "5", " 12345" } },
	};
	(void)state;
	check_chunk_cases(KILN_TOK_PRETOK_GPT2, cases,
			  sizeof(cases) / sizeof(cases[0]));
}

static void chunks_are_capped(void **state)
{
	unsigned char b[200];

	(void)state;
	memset(b, 'a', sizeof(b));
	assert_int_equal(kiln_tok_chunk(b, sizeof(b)), KILN_TOK_MAX_CHUNK);
	/* a run of exactly 64 spaces before a word leaves it its space */
	memset(b, ' ', 64);
	b[64] = 'x';
	assert_int_equal(kiln_tok_chunk(b, 65), 63);
	memset(b, ' ', 65);
	b[65] = 'x';
	assert_int_equal(kiln_tok_chunk(b, 66), 64);
	assert_int_equal(kiln_tok_chunk(b + 64, 2), 2); /* " x" */
}

/* Inputs built from a small alphabet of interesting bytes hit every rule;
 * fully random ones hit the long runs. Also checks the streaming promise:
 * a length shorter than n stays the same when the input is cut after it. */
static void check_chunks_vs_reference(int pretok, const unsigned char *alpha,
				      size_t nalpha)
{
	unsigned char b[600];

	for (int round = 0; round < 3000; round++) {
		size_t n = next_rand() % sizeof(b), i = 0;

		if (round % 3 == 0)
			fill_random(b, n);
		else
			for (size_t j = 0; j < n; j++) {
				size_t k = next_rand() % nalpha;
				/* long runs of one byte now and then */
				b[j] = (round % 3 == 2 && j && next_rand() % 8)
					       ? b[j - 1] : alpha[k];
			}
		while (i < n) {
			size_t len = chunk_len(pretok, b + i, n - i);
			size_t ref = ref_chunk_pretok(pretok, b + i, n - i);
			if (len != ref)
				fail_msg("round %d at %zu: chunk %zu, reference"
					 " %zu", round, i, len, ref);
			assert_true(len >= 1 && len <= KILN_TOK_MAX_CHUNK);
			if (pretok == KILN_TOK_PRETOK_DIGITS &&
			    b[i] >= '0' && b[i] <= '9')
				assert_int_equal(len, 1);
			/* cut the input after the chunk: the answer is the
			 * same chunk, or "everything" (not final) */
			for (size_t cut = len + 1; cut < n - i &&
			     cut < len + KILN_TOK_MAX_CHUNK + 2; cut++) {
				size_t r = chunk_len(pretok, b + i, cut);
				assert_true(r == len || r == cut);
			}
			i += len;
		}
	}
}

static void chunks_match_reference(void **state)
{
	static const unsigned char alpha[] = " \t\n\r\vaZ_09(.\xc3\xff\x00\x7f";

	(void)state;
	check_chunks_vs_reference(KILN_TOK_PRETOK_GPT2, alpha,
				  sizeof(alpha) - 1);
}

/* --- digits split (KILN_TOK_PRETOK_DIGITS) ------------------------------ */

static void split_digits_chunks_known_answers(void **state)
{
	static const chunk_case cases[] = {
		{ "add 5 to it", { "add", " ", "5", " to", " it" } },
		{ "-5", { "-", "5" } },
		{ "(5", { "(", "5" } },
		{ "12345", { "1", "2", "3", "4", "5" } },
		{ "x = 10", { "x", " =", " ", "1", "0" } },
		{ "min(max(x, -2), 5)", { "min", "(", "max", "(", "x", ",",
					  " -", "2", "),", " ", "5", ")" } },
		{ "\n    42", { "\n    ", "4", "2" } },
		{ "\n    x", { "\n   ", " x" } },
		{ "na\xefve_2 3.14", { "na\xefve_", "2", " ", "3", ".", "1",
				       "4" } },
	};
	(void)state;
	check_chunk_cases(KILN_TOK_PRETOK_DIGITS, cases,
			  sizeof(cases) / sizeof(cases[0]));
}

/* The same random inputs as chunks_match_reference, digits split. */
static void split_digits_chunks_match_reference(void **state)
{
	static const unsigned char alpha[] = " \t\n 0123456789aZ_(.-\xc3";

	(void)state;
	check_chunks_vs_reference(KILN_TOK_PRETOK_DIGITS, alpha,
				  sizeof(alpha) - 1);
}

/* Code full of numbers, for training with digits split. */
static char *code_with_numbers(size_t *len)
{
	size_t n, o = 0;
	char *code = real_code(&n), *all = malloc(n + 200000);

	assert_non_null(all);
	memcpy(all, code, n);
	o = n;
	for (int i = 0; i < 3000; i++)
		o += (size_t)sprintf(all + o, "x = min(max(x, -%d), %d)  # add "
				     "%d to it (%d)\n", i % 7, i % 13, i,
				     i * 37);
	free(code);
	*len = o;
	return all;
}

static void split_digits_tokenizer(void **state)
{
	static const char *const fives[] = { " 5", "-5", "(5", "add 5 to it",
					     "12345", "x = 5\n", "[5, 55]" };
	kiln_tok_train_opts o = { .split_digits = 1 };
	size_t n, len, nids;
	char *code = code_with_numbers(&n), *back;
	kiln_tok *t, *u;
	kiln_error err;
	unsigned char *b, *b2;
	int *ids, five;

	(void)state;
	assert_int_equal(kiln_tok_train_mem(&t, 800, code, n, &o, &err), 0);
	assert_int_equal(kiln_tok_pretok(t), KILN_TOK_PRETOK_DIGITS);
	/* no token holds a digit and anything else */
	for (int id = 0; id < kiln_tok_eot(t); id++) {
		const unsigned char *p = kiln_tok_piece(t, id, &len);
		for (size_t i = 0; i < len && len > 1; i++)
			if (p[i] >= '0' && p[i] <= '9')
				fail_msg("token %d '%.*s' holds a digit", id,
					 (int)len, (const char *)p);
	}
	/* "5" is the token '5' wherever it stands */
	five = '5';
	for (size_t c = 0; c < sizeof(fives) / sizeof(fives[0]); c++) {
		size_t k = 0;

		assert_int_equal(kiln_tok_encode(t, fives[c], strlen(fives[c]),
						 &ids, &nids, &err), 0);
		for (size_t i = 0; i < nids; i++) {
			const unsigned char *p = kiln_tok_piece(t, ids[i],
								&len);
			if (memchr(p, '5', len)) {
				assert_int_equal(ids[i], five);
				k++;
			}
		}
		if (k != (size_t)(strchr(fives[c], '5') ? 1 : 0) +
		    (strcmp(fives[c], "[5, 55]") == 0 ? 2 : 0))
			fail_msg("'%s': %zu tokens hold a 5", fives[c], k);
		assert_roundtrip(t, fives[c], strlen(fives[c]));
		free(ids);
	}
	assert_int_equal(kiln_tok_encode(t, "12345", 5, &ids, &nids, &err), 0);
	assert_int_equal(nids, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(ids[i], '1' + i);
	free(ids);
	/* round trip and the reference encoder, numbers and everything */
	assert_roundtrip(t, code, n);
	assert_same_as_reference(t, code, n);
	assert_roundtrip(t, "0x1F 3.14e-10 -0 007 1_000_000", 30);
	/* the file says so, and keeps it */
	assert_int_equal(kiln_tok_serialize(t, &b, &len, &err), 0);
	assert_int_equal(b[24], KILN_TOK_PRETOK_DIGITS);
	assert_int_equal(kiln_tok_deserialize(&u, b, len, &err), 0);
	assert_int_equal(kiln_tok_pretok(u), KILN_TOK_PRETOK_DIGITS);
	assert_int_equal(kiln_tok_serialize(u, &b2, &nids, &err), 0);
	assert_int_equal(nids, len);
	assert_memory_equal(b, b2, len);
	assert_int_equal(kiln_tok_encode(u, "add 12 to 5", 11, &ids, &nids,
					 &err), 0);
	assert_int_equal(kiln_tok_decode(u, ids, nids, &back, &len, &err), 0);
	assert_string_equal(back, "add 12 to 5");
	free(back);
	free(ids);
	free(b2);
	free(b);
	kiln_tok_free(u);
	kiln_tok_free(t);
	free(code);
}

static void split_digits_training_matches_reference(void **state)
{
	size_t n;
	char *code = code_with_numbers(&n);
	kiln_tok_train_opts o = { .split_digits = 1 };
	kiln_tok *t;
	kiln_error err;
	const int want = 300;
	int *ref = malloc(2 * want * sizeof(int)), nref;
	size_t len = n < 40000 ? n : 40000;

	(void)state;
	assert_non_null(ref);
	/* the end of the corpus: the numbered lines */
	assert_int_equal(kiln_tok_train_mem(&t, 257 + want, code + n - len,
					    len, &o, &err), 0);
	nref = ref_train_pretok(KILN_TOK_PRETOK_DIGITS,
				(const unsigned char *)code + n - len, len,
				want, ref);
	assert_int_equal(kiln_tok_merges(t), nref);
	for (int i = 0; i < nref; i++) {
		int l, r;
		kiln_tok_merge(t, i, &l, &r);
		if (l != ref[2 * i] || r != ref[2 * i + 1])
			fail_msg("merge %d: (%d, %d), reference (%d, %d)", i,
				 l, r, ref[2 * i], ref[2 * i + 1]);
	}
	kiln_tok_free(t);
	free(ref);
	free(code);
}

/* tests/data/tok/gpt2-v1.bin was written by kiln before digit splitting
 * (commit c21b49e's tokenizer.c and tok_train.c: vocab 400 on a small corpus
 * of code and bank phrasings with numbers; the corpus ran out at 379). It
 * must load as the GPT-2 pre-tokenizer, serialize to the same bytes, and
 * encode SAMPLE into the ids that kiln gave then. */
static void old_format_loads_and_encodes_as_before(void **state)
{
	static const char sample[] =
		"def g(xs):  # add 5, -5, (5) and 12345\n"
		"\treturn [min(max(x, -2), 5) for x in xs]  99 0x1F 3.14 2024\n";
	static const int want[] = {
		368, 32, 103, 40, 120, 115, 287, 32, 32, 35, 32, 97,
		100, 100, 269, 44, 259, 53, 44, 297, 53, 41, 32, 317,
		100, 340, 51, 52, 53, 10, 9, 114, 273, 275, 271, 109,
		324, 40, 327, 40, 120, 44, 259, 50, 307, 269, 41, 262,
		292, 32, 120, 338, 32, 120, 115, 93, 32, 32, 57, 57,
		299, 120, 49, 70, 284, 46, 49, 52, 268, 308, 52, 10,
	};
	char path[1200];
	size_t flen, len, nids;
	char *file;
	unsigned char *b;
	const unsigned char *p;
	kiln_tok *t;
	kiln_error err;
	int *ids;

	(void)state;
	snprintf(path, sizeof(path), "%stests/data/tok/gpt2-v1.bin",
		 repo_root());
	file = slurp(path, &flen);
	assert_int_equal(file[24], KILN_TOK_PRETOK_GPT2);
	assert_int_equal(kiln_tok_load(&t, path, &err), 0);
	assert_int_equal(kiln_tok_pretok(t), KILN_TOK_PRETOK_GPT2);
	assert_int_equal(kiln_tok_vocab(t), 379);
	assert_int_equal(kiln_tok_serialize(t, &b, &len, &err), 0);
	assert_int_equal(len, flen);
	assert_memory_equal(b, file, len);
	assert_int_equal(kiln_tok_encode(t, sample, sizeof(sample) - 1, &ids,
					 &nids, &err), 0);
	assert_int_equal(nids, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < nids; i++)
		if (ids[i] != want[i])
			fail_msg("id %zu: %d, kiln before digit splitting gave "
				 "%d", i, ids[i], want[i]);
	/* and " 5" is still one token there, as it was */
	p = kiln_tok_piece(t, 269, &len);
	assert_int_equal(len, 2);
	assert_memory_equal(p, " 5", 2);
	assert_same_as_reference(t, sample, sizeof(sample) - 1);
	free(ids);
	free(b);
	free(file);
	kiln_tok_free(t);
}

static void training_known_answer(void **state)
{
	/* chunks "ab", " ab", " ab", " cd": (a,b) 3; (' ',a) then 2; then
	 * (' ',c) and (c,d) tie at 1 and the smaller left id wins */
	static const char corpus[] = "ab ab ab cd";
	static const int want[][2] = { { 'a', 'b' }, { ' ', 256 },
				       { ' ', 'c' }, { 258, 'd' } };
	kiln_tok_train_stats st;
	kiln_tok_train_opts o = { .stats = &st };
	kiln_tok *t;
	kiln_error err;
	int l, r;

	(void)state;
	assert_int_equal(kiln_tok_train_mem(&t, 300, corpus,
					    sizeof(corpus) - 1, &o, &err), 0);
	/* ran out of pairs after 4 merges */
	assert_int_equal(kiln_tok_merges(t), 4);
	assert_int_equal(kiln_tok_vocab(t), 261);
	assert_int_equal(kiln_tok_eot(t), 260);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(kiln_tok_merge(t, i, &l, &r), 0);
		assert_int_equal(l, want[i][0]);
		assert_int_equal(r, want[i][1]);
	}
	assert_int_equal(kiln_tok_merge(t, 4, &l, &r), KILN_EINVAL);
	assert_int_equal(st.phase, KILN_TOK_DONE);
	assert_int_equal(st.bytes, 11);
	assert_int_equal(st.chunks, 4);
	assert_int_equal(st.unique_chunks, 3);
	assert_int_equal(st.merges, 4);
	assert_int_equal(st.merges_wanted, 43);
	assert_int_equal(st.tokens, 4); /* "ab" " ab" " ab" " cd": 256 257 257 259 */
	kiln_tok_free(t);

	/* overlapping pairs: "aaaaa" has (a,a) four times; the merge goes
	 * left to right: z z a; then (z,a) beats (z,z) on the right id */
	assert_int_equal(kiln_tok_train_mem(&t, 300, "aaaaa", 5, &o, &err), 0);
	assert_int_equal(kiln_tok_merges(t), 3);
	kiln_tok_merge(t, 0, &l, &r);
	assert_true(l == 'a' && r == 'a');
	kiln_tok_merge(t, 1, &l, &r);
	assert_true(l == 256 && r == 'a');
	kiln_tok_merge(t, 2, &l, &r);
	assert_true(l == 256 && r == 257);
	assert_int_equal(st.tokens, 1);
	kiln_tok_free(t);
}

static void training_matches_reference(void **state)
{
	size_t n;
	char *code = real_code(&n);
	const int want = 300;
	int *ref = malloc(2 * want * sizeof(int));
	unsigned char rnd[4000];

	(void)state;
	assert_non_null(ref);
	/* real code, and random bytes with a small alphabet (many ties) */
	for (int round = 0; round < 2; round++) {
		const unsigned char *p = (const unsigned char *)code;
		size_t len = n < 40000 ? n : 40000;
		kiln_tok *t;
		int nref;

		if (round == 1) {
			for (size_t i = 0; i < sizeof(rnd); i++)
				rnd[i] = "ab c\n"[next_rand() % 5];
			p = rnd;
			len = sizeof(rnd);
		}
		t = train_mem(257 + want, p, len);
		nref = ref_train(p, len, want, ref);
		assert_int_equal(kiln_tok_merges(t), nref);
		for (int i = 0; i < nref; i++) {
			int l, r;
			kiln_tok_merge(t, i, &l, &r);
			if (l != ref[2 * i] || r != ref[2 * i + 1])
				fail_msg("round %d merge %d: (%d, %d), "
					 "reference (%d, %d)", round, i, l, r,
					 ref[2 * i], ref[2 * i + 1]);
		}
		kiln_tok_free(t);
	}
	free(ref);
	free(code);
}

static void training_is_deterministic_and_counts_tokens(void **state)
{
	size_t n, l1, l2, nids;
	char *code = real_code(&n);
	unsigned char *s1, *s2;
	kiln_tok_train_stats st;
	kiln_tok_train_opts o = { .stats = &st };
	kiln_tok *a, *b;
	kiln_error err;
	int *ids;

	(void)state;
	assert_int_equal(kiln_tok_train_mem(&a, 1000, code, n, &o, &err), 0);
	b = train_mem(1000, code, n);
	assert_int_equal(kiln_tok_vocab(a), 1000);
	assert_int_equal(kiln_tok_serialize(a, &s1, &l1, &err), 0);
	assert_int_equal(kiln_tok_serialize(b, &s2, &l2, &err), 0);
	assert_int_equal(l1, l2);
	assert_memory_equal(s1, s2, l1);
	/* training's token count is what encoding the corpus gives */
	assert_int_equal(kiln_tok_encode(a, code, n, &ids, &nids, &err), 0);
	assert_int_equal(st.tokens, nids);
	assert_int_equal(st.bytes, n);
	assert_true((double)n / nids > 2.0); /* it compresses code */
	free(ids);
	free(s1);
	free(s2);
	kiln_tok_free(a);
	kiln_tok_free(b);
	free(code);
}

static void roundtrip_every_kind_of_input(void **state)
{
	size_t n;
	char *code = real_code(&n);
	kiln_tok *t = train_mem(2000, code, n);
	static const char *const bad_utf8[] = {
		"\xc0\xaf", "\xe0\x80\xaf", "x\xed\xa0\x80y", "\xf4\x90\x80\x80",
		"abc\xe2\x82", "\x80\x80\x80", "\xfe\xff", "\xc3",
		"caf\xc3\xa9 \xc3(", "\xef\xbb\xbf# bom\n",
	};
	unsigned char *buf = malloc(1 << 20);

	(void)state;
	assert_non_null(buf);
	assert_roundtrip(t, "", 0);
	assert_roundtrip(t, code, n);
	for (size_t i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++)
		assert_roundtrip(t, bad_utf8[i], strlen(bad_utf8[i]));
	assert_roundtrip(t, "\0\0\0def\0 x\0", 11);
	for (int round = 0; round < 300; round++) {
		size_t len = round < 256 ? (size_t)round : next_rand() % 5000;
		fill_random(buf, len);
		assert_roundtrip(t, buf, len);
	}
	/* long: random bytes, runs of one byte, code with random bytes in it */
	fill_random(buf, 1 << 20);
	assert_roundtrip(t, buf, 1 << 20);
	memset(buf, ' ', 1 << 20);
	assert_roundtrip(t, buf, 1 << 20);
	if (n > (1 << 20))
		n = 1 << 20;
	memcpy(buf, code, n);
	for (int i = 0; i < 2000; i++)
		buf[next_rand() % n] = (unsigned char)next_rand();
	assert_roundtrip(t, buf, n);
	free(buf);
	kiln_tok_free(t);
	free(code);
}

static void encode_matches_reference(void **state)
{
	size_t n;
	char *code = real_code(&n);
	kiln_tok *t = train_mem(700, code, n);
	unsigned char buf[20000];

	(void)state;
	assert_same_as_reference(t, code, n);
	for (int round = 0; round < 50; round++) {
		size_t len = next_rand() % sizeof(buf);
		fill_random(buf, len);
		/* half the rounds: code with bytes changed */
		if (round % 2) {
			size_t at = next_rand() % (n - len);
			memcpy(buf, code + at, len);
			for (size_t i = 0; i < len / 50; i++)
				buf[next_rand() % len] = (unsigned char)next_rand();
		}
		assert_same_as_reference(t, buf, len);
	}
	kiln_tok_free(t);

	/* a tokenizer trained on one byte, and so with long tokens */
	memset(buf, 'a', 1000);
	t = train_mem(400, buf, 1000);
	assert_same_as_reference(t, buf, 1000);
	assert_same_as_reference(t, buf, 777);
	kiln_tok_free(t);
	free(code);
}

static void decode_rejects_bad_ids(void **state)
{
	kiln_tok *t;
	kiln_error err;
	int ids[] = { 65, 66, 9999 }, neg[] = { -1 };
	char *s = (char *)1;
	size_t len = 7;

	(void)state;
	t = train_mem(300, "hello hello", 11);
	assert_int_equal(kiln_tok_decode(t, ids, 3, &s, &len, &err),
			 KILN_EINVAL);
	assert_null(s);
	assert_int_equal(len, 0);
	assert_non_null(strstr(err.msg, "id 9999 at position 2"));
	assert_int_equal(kiln_tok_decode(t, neg, 1, &s, &len, &err),
			 KILN_EINVAL);
	ids[2] = kiln_tok_vocab(t);
	assert_int_equal(kiln_tok_decode(t, ids, 3, &s, &len, &err),
			 KILN_EINVAL);
	ids[2] = kiln_tok_eot(t);
	assert_int_equal(kiln_tok_decode(t, ids, 3, &s, &len, &err), 0);
	assert_string_equal(s, "AB");
	free(s);
	kiln_tok_free(t);
}

static void expect_parse_error(const void *b, size_t len, const char *what)
{
	kiln_tok *t = (kiln_tok *)1;
	kiln_error err;

	assert_int_equal(kiln_tok_deserialize(&t, b, len, &err), KILN_EPARSE);
	assert_null(t);
	if (!strstr(err.msg, what))
		fail_msg("expected '%s' in '%s'", what, err.msg);
}

static void file_format_checks_everything(void **state)
{
	size_t n, len;
	char *code = real_code(&n);
	kiln_tok *t = train_mem(600, code, n), *u;
	unsigned char *b, *c;
	kiln_error err;

	(void)state;
	assert_int_equal(kiln_tok_serialize(t, &b, &len, &err), 0);
	assert_int_equal(len, 32 + 8 * (600 - 257) + 8);
	assert_memory_equal(b, "KILNTOK1", 8);
	assert_int_equal(kiln_tok_deserialize(&u, b, len, &err), 0);
	assert_int_equal(kiln_tok_vocab(u), 600);
	for (int i = 0; i < kiln_tok_merges(t); i++) {
		int l1, r1, l2, r2;
		kiln_tok_merge(t, i, &l1, &r1);
		kiln_tok_merge(u, i, &l2, &r2);
		assert_true(l1 == l2 && r1 == r2);
	}
	kiln_tok_free(u);

	/* every truncation */
	for (size_t cut = 0; cut < len; cut++)
		expect_parse_error(b, cut, cut == 0 ? "empty" : "truncated");
	c = malloc(len + 1);
	assert_non_null(c);
	memcpy(c, b, len);
	c[len] = 0;
	expect_parse_error(c, len + 1, "unexpected bytes");
	/* foreign files */
	expect_parse_error("KILNGPT1 and some more bytes here, 40 or so.....",
			   48, "not a kiln tokenizer");
	expect_parse_error("\x7f" "ELF", 4, "not a kiln tokenizer");
	/* a flipped bit anywhere */
	for (size_t at = 8; at < len; at += 7) {
		memcpy(c, b, len);
		c[at] ^= 0x10;
		expect_parse_error(c, len, at < 32 ? "" : "checksum");
	}
	/* fields that are checked even with a good checksum */
	memcpy(c, b, len);
	put32(c + 8, 2);
	reseal(c, len);
	expect_parse_error(c, len, "unsupported tokenizer version 2");
	memcpy(c, b, len);
	put32(c + 20, 5);
	reseal(c, len);
	expect_parse_error(c, len, "end-of-text id 5");
	memcpy(c, b, len);
	put32(c + 16, 7);
	reseal(c, len);
	expect_parse_error(c, len, "do not fit");
	memcpy(c, b, len);
	put32(c + 28, 128);
	reseal(c, len);
	expect_parse_error(c, len, "pre-tokenizer");
	memcpy(c, b, len);
	put32(c + 24, 3);
	reseal(c, len);
	expect_parse_error(c, len, "unknown pre-tokenizer 3");
	memcpy(c, b, len);
	put32(c + 24, KILN_TOK_PRETOK_DIGITS); /* the same merges, digits split */
	reseal(c, len);
	assert_int_equal(kiln_tok_deserialize(&u, c, len, &err), 0);
	assert_int_equal(kiln_tok_pretok(u), KILN_TOK_PRETOK_DIGITS);
	kiln_tok_free(u);
	memcpy(c, b, len);
	put32(c + 32 + 8 * 5, 300); /* merge 5 (id 261) uses id 300 */
	reseal(c, len);
	expect_parse_error(c, len, "merge 5 (id 261)");
	memcpy(c, b, len);
	memcpy(c + 32 + 8 * 9, c + 32 + 8 * 3, 8); /* merge 9 repeats 3 */
	reseal(c, len);
	expect_parse_error(c, len, "repeats the pair");
	memcpy(c, b, len);
	put32(c + 32 + 4, 0xFFFFFFFFu);
	reseal(c, len);
	expect_parse_error(c, len, "merge 0 (id 256)");
	/* tokens that double: 2, 4, ... 128 bytes: the 7th is too long */
	memcpy(c, b, len);
	put32(c + 32, 'a');
	put32(c + 36, 'a');
	for (int i = 1; i < 10; i++) {
		put32(c + 32 + 8 * i, 255 + i);
		put32(c + 36 + 8 * i, 255 + i);
	}
	reseal(c, len);
	expect_parse_error(c, len, "merge 6 (id 262) makes a token of 128");
	free(c);
	free(b);
	kiln_tok_free(t);
	free(code);
}

static void save_and_load(void **state)
{
	char path[512], bad[512];
	kiln_tok *t, *u;
	kiln_error err;
	unsigned char *b1, *b2;
	size_t l1, l2;
	FILE *f;
	struct stat st;
	static const char prog[] = "for i in range(10):\n    print(i, i * i)\n";

	(void)state;
	t = train_mem(400, prog, sizeof(prog) - 1);
	snprintf(path, sizeof(path), "%s/tok.bin", dir);
	/* twice: the second replaces the first */
	assert_int_equal(kiln_tok_save(t, path, &err), 0);
	assert_int_equal(kiln_tok_save(t, path, &err), 0);
	assert_int_equal(kiln_tok_load(&u, path, &err), 0);
	kiln_tok_serialize(t, &b1, &l1, &err);
	kiln_tok_serialize(u, &b2, &l2, &err);
	kiln_tok_free(u);
	assert_int_equal(l1, l2);
	assert_memory_equal(b1, b2, l1);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal((size_t)st.st_size, l1);
	/* no temporary file left behind */
	{
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | grep -c tmp) = 0",
			 dir);
		assert_int_equal(system(cmd), 0);
	}
	/* a truncated file names itself and the problem */
	snprintf(bad, sizeof(bad), "%s/cut.bin", dir);
	f = fopen(bad, "wb");
	assert_non_null(f);
	fwrite(b1, 1, l1 - 3, f);
	fclose(f);
	assert_int_equal(kiln_tok_load(&u, bad, &err), KILN_EPARSE);
	assert_non_null(strstr(err.msg, bad));
	assert_non_null(strstr(err.msg, "truncated"));
	assert_int_equal(kiln_tok_load(&u, "/nonexistent/tok.bin", &err),
			 KILN_EIO);
	assert_non_null(strstr(err.msg, "/nonexistent/tok.bin"));
	assert_int_equal(kiln_tok_load(&u, dir, &err), KILN_EIO);
	assert_int_equal(kiln_tok_save(t, "/nonexistent/tok.bin", &err),
			 KILN_EIO);
	free(b1);
	free(b2);
	kiln_tok_free(t);
}

static void write_file(const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int cancel_at_merge_16(void *ctx, const kiln_tok_train_stats *st)
{
	int *calls = ctx;
	(*calls)++;
	return st->phase == KILN_TOK_MERGING && st->merges >= 16;
}

static void training_from_files(void **state)
{
	char corpus[512], sub[600], one[600];
	const char *paths[2];
	kiln_tok_train_stats st;
	kiln_tok_train_opts o = { .ext = ".py", .stats = &st };
	kiln_tok *t;
	kiln_error err;
	int calls = 0;

	(void)state;
	snprintf(corpus, sizeof(corpus), "%s/corpus", dir);
	snprintf(sub, sizeof(sub), "%s/sub", corpus);
	assert_int_equal(mkdir(corpus, 0755), 0);
	assert_int_equal(mkdir(sub, 0755), 0);
	write_file("corpus/a.py", "import os\nprint(os.getcwd())\n");  /* 29 */
	write_file("corpus/sub/b.py", "def f(x):\n    return x * 2\n"); /* 27 */
	write_file("corpus/notes.txt", "not python at all\n");
	write_file("corpus/.hidden.py", "x = 1\n");
	paths[0] = corpus;
	assert_int_equal(kiln_tok_train(&t, 300, paths, 1, &o, &err), 0);
	assert_int_equal(st.files, 2);
	assert_int_equal(st.bytes, 29 + 27);
	assert_int_equal(st.truncated, 0);
	kiln_tok_free(t);

	/* a file named on the command line is read whatever its name */
	snprintf(one, sizeof(one), "%s/notes.txt", corpus);
	paths[1] = one;
	assert_int_equal(kiln_tok_train(&t, 300, paths, 2, &o, &err), 0);
	assert_int_equal(st.files, 3);
	kiln_tok_free(t);

	/* max_bytes cuts the reading */
	o.max_bytes = 40;
	assert_int_equal(kiln_tok_train(&t, 300, paths, 2, &o, &err), 0);
	assert_int_equal(st.bytes, 40);
	assert_int_equal(st.truncated, 1);
	kiln_tok_free(t);

	/* errors */
	o.max_bytes = 0;
	paths[0] = "/nonexistent/corpus";
	assert_int_equal(kiln_tok_train(&t, 300, paths, 1, &o, &err), KILN_EIO);
	assert_null(t);
	assert_non_null(strstr(err.msg, "/nonexistent/corpus"));
	paths[0] = corpus;
	assert_int_equal(kiln_tok_train(&t, 256, paths, 1, &o, &err),
			 KILN_EINVAL);
	assert_int_equal(kiln_tok_train(&t, KILN_TOK_MAX_VOCAB + 1, paths, 1,
					&o, &err), KILN_EINVAL);
	assert_int_equal(kiln_tok_train(&t, 300, paths, 0, &o, &err),
			 KILN_EINVAL);

	/* a progress callback can stop it */
	o.progress = cancel_at_merge_16;
	o.progress_ctx = &calls;
	{
		size_t n;
		char *code = real_code(&n);
		assert_int_equal(kiln_tok_train_mem(&t, 1000, code, n, &o, &err),
				 KILN_EINVAL);
		assert_null(t);
		assert_non_null(strstr(err.msg, "cancelled"));
		assert_int_equal(st.merges, 16);
		assert_true(calls >= 2);
		free(code);
	}
}

static void empty_corpus_gives_byte_tokenizer(void **state)
{
	kiln_tok *t = train_mem(4096, "", 0);

	(void)state;
	assert_int_equal(kiln_tok_vocab(t), 257);
	assert_int_equal(kiln_tok_eot(t), 256);
	assert_roundtrip(t, "anything \xff", 10);
	kiln_tok_free(t);
}

/* On the whole Python standard library where Debian ships it: training to
 * 4096 is fast, compresses, and round-trips the corpus. */
static void python_stdlib(void **state)
{
	const char *paths[] = { PYLIB };
	kiln_tok_train_stats st;
	kiln_tok_train_opts o = { .ext = ".py", .stats = &st };
	kiln_tok *t;
	kiln_error err;
	size_t n;
	char *text;
	char path[] = PYLIB "/argparse.py";

	(void)state;
	if (access(path, R_OK) != 0) {
		skip();
		return;
	}
	assert_int_equal(kiln_tok_train(&t, 4096, paths, 1, &o, &err), 0);
	assert_int_equal(kiln_tok_vocab(t), 4096);
	assert_true(st.files > 100);
	assert_true((double)st.bytes / st.tokens > 3.0);
	text = slurp(path, &n);
	assert_roundtrip(t, text, n);
	assert_same_as_reference(t, text, n < 30000 ? n : 30000);
	free(text);
	kiln_tok_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(byte_tokenizer),
		cmocka_unit_test(chunks_known_answers),
		cmocka_unit_test(chunks_are_capped),
		cmocka_unit_test(chunks_match_reference),
		cmocka_unit_test(split_digits_chunks_known_answers),
		cmocka_unit_test(split_digits_chunks_match_reference),
		cmocka_unit_test(split_digits_tokenizer),
		cmocka_unit_test(split_digits_training_matches_reference),
		cmocka_unit_test(old_format_loads_and_encodes_as_before),
		cmocka_unit_test(training_known_answer),
		cmocka_unit_test(training_matches_reference),
		cmocka_unit_test(training_is_deterministic_and_counts_tokens),
		cmocka_unit_test(roundtrip_every_kind_of_input),
		cmocka_unit_test(encode_matches_reference),
		cmocka_unit_test(decode_rejects_bad_ids),
		cmocka_unit_test(file_format_checks_everything),
		cmocka_unit_test(save_and_load),
		cmocka_unit_test(training_from_files),
		cmocka_unit_test(empty_corpus_gives_byte_tokenizer),
		cmocka_unit_test(python_stdlib),
	};
	return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
