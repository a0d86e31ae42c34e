/* kiln dedup's known answers (kiln/dedup.h, kiln/minhash.h): signatures
 * bit for bit the reference's (golden files from tests/data/dedup/
 * make_golden.py), the fast paths equal to the plain ones, planted exact
 * and near copies found and distinct programs not merged, the best member
 * kept, the dropped rows' details, --index across two batches, the
 * external sort equal to the in-memory one. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "curate/dedup_int.h"
#include "kiln/dedup.h"
#include "kiln/minhash.h"
#include "tmpdir.h"

#ifndef KILN_DEDUP_DATA
#define KILN_DEDUP_DATA "tests/data/dedup"
#endif

static void *read_all(const char *name, size_t *n)
{
	char path[512];
	FILE *f;
	void *p;
	long len;

	snprintf(path, sizeof path, "%s/%s", KILN_DEDUP_DATA, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	p = malloc((size_t)len + 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)len, f), (size_t)len);
	((char *)p)[len] = '\0';
	fclose(f);
	*n = (size_t)len;
	return p;
}

static void sha1_known_answers(void **state)
{
	static const struct { const char *in, *hex; } cases[] = {
		{ "", "da39a3ee5e6b4b0d3255bfef95601890afd80709" },
		{ "abc", "a9993e364706816aba3e25717850c26c9cd0d89d" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "84983e441c3bd26ebaae4aa1f95129e5e54670f1" },
	};
	unsigned char d[20];
	char hex[41];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		kiln_sha1(cases[i].in, strlen(cases[i].in), d);
		for (int j = 0; j < 20; j++)
			snprintf(hex + 2 * j, 3, "%02x", d[j]);
		assert_string_equal(hex, cases[i].hex);
	}
}

/* Both presets: numpy's (a, b), and every golden text's signature from
 * the fast path and from the plain one. */
static void golden(const char *preset)
{
	kiln_minhash_params p;
	kiln_minhash *m;
	kiln_error err;
	char name[64];
	size_t np_, nt, ns;

	assert_int_equal(kiln_minhash_preset(preset, &p), 0);
	assert_int_equal(kiln_minhash_new(&m, &p, &err), 0);
	np_ = (size_t)p.permutations;
	snprintf(name, sizeof name, "%s.params", preset);
	uint64_t *ab = read_all(name, &nt);
	assert_int_equal(nt, 2 * np_ * 8);
	assert_memory_equal(ab, kiln_minhash_a(m), np_ * 8);
	assert_memory_equal(ab + np_, kiln_minhash_b(m), np_ * 8);
	free(ab);

	snprintf(name, sizeof name, "%s.sigs", preset);
	uint64_t *want = read_all(name, &ns);
	char *texts = read_all("texts.jsonl", &nt);
	uint64_t *sig = malloc(np_ * 8), *ref = malloc(np_ * 8);
	size_t doc = 0;
	for (char *line = strtok(texts, "\n"); line; line = strtok(NULL, "\n")) {
		json_t *o = json_loads(line, 0, NULL);
		json_t *t = json_object_get(o, "text");
		assert_true(json_is_string(t));
		assert_true((doc + 1) * np_ * 8 <= ns);
		long n1 = kiln_minhash_sign(m, json_string_value(t),
					    json_string_length(t), sig, NULL,
					    &err);
		long n2 = kiln_minhash_sign_ref(m, json_string_value(t),
						json_string_length(t), ref, &err);
		assert_true(n1 >= 0 && n2 >= 0);
		assert_memory_equal(sig, want + doc * np_, np_ * 8);
		assert_memory_equal(ref, want + doc * np_, np_ * 8);
		json_decref(o);
		doc++;
	}
	assert_int_equal(doc * np_ * 8, ns);
	free(sig), free(ref), free(want), free(texts);
	kiln_minhash_free(m);
}

static void datatrove_matches_reference(void **state)
{
	(void)state;
	golden("datatrove");
}

static void code_matches_reference(void **state)
{
	(void)state;
	golden("code");
}

/* The ASCII pass of the simplification against the general pipeline, on
 * random ASCII (every byte class, digit runs with separators), up to 400
 * bytes: the AVX2 pass (32 bytes a step from 64 bytes on) meets digits,
 * '.' and ',' at every place of its blocks and across their edges; a
 * second alphabet is mostly digits and joiners. The signatures too
 * (datatrove's words: the word starts the pass reads off its output). */
static void simplify_ascii_equals_general(void **state)
{
	static const char *const alpha[] = {
		"aZ09.,;:_- \t\n\r\x0b\x0c\x01\x1f\x7f'\"",
		"0123456789.,.,a ",
	};
	char text[400];
	kiln_error err;
	kiln_minhash_params p;
	kiln_minhash *m;
	uint64_t x = 88172645463325252ull, sig[112], ref[112];

	(void)state;
	assert_int_equal(kiln_minhash_preset("datatrove", &p), 0);
	assert_int_equal(kiln_minhash_new(&m, &p, &err), 0);
	assert_int_equal(p.permutations, 112);
	for (int t = 0; t < 6000; t++) {
		const char *al = alpha[t & 1];
		size_t n = (size_t)(t % 400), na, nb;
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			text[i] = al[x % strlen(al)];
		}
		char *a, *b;
		assert_int_equal(kiln_minhash_simplify(text, n, 0, &a, &na, &err),
				 0);
		assert_int_equal(kiln_minhash_simplify(text, n, 1, &b, &nb, &err),
				 0);
		assert_int_equal(na, nb);
		assert_memory_equal(a, b, na);
		free(a), free(b);
		assert_true(kiln_minhash_sign(m, text, n, sig, NULL, &err) >= 0);
		assert_true(kiln_minhash_sign_ref(m, text, n, ref, &err) >= 0);
		assert_memory_equal(sig, ref, sizeof sig);
	}
	kiln_minhash_free(m);
}

/* The permutation kernels in pairs: plain %, portable fast, AVX2. */
static void permute_kernels_agree(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed < 40; seed++)
		assert_int_equal(kiln__minhash_permute_check(seed,
			(size_t)(seed * 7 % 50), (int)(1 + seed * 13 % 300)), 0);
}

#if defined(__x86_64__)
#include <xmmintrin.h>
/* The same with MXCSR's DAZ set (as a program linking libkiln might): the
 * AVX2 kernel's min of integers as doubles would read the small ones as
 * zero, so it must not be the one that runs. */
static void permute_kernels_agree_daz(void **state)
{
	unsigned csr = _mm_getcsr();

	(void)state;
	_mm_setcsr(csr | 0x40);
	for (uint64_t seed = 1; seed < 20; seed++)
		if (kiln__minhash_permute_check(seed, (size_t)(20 + seed), 64)) {
			_mm_setcsr(csr);
			fail_msg("kernels differ with DAZ set (seed %llu)",
				 (unsigned long long)seed);
		}
	_mm_setcsr(csr);
}
#endif

/* The band-key sort, by qsort (small) and by radix on the keys' high
 * halves with runs of equal high halves put in order (large). */
static void band_key_sort(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed < 6; seed++) {
		assert_int_equal(kiln__dedup_sort_check(seed, 1000), 0);
		assert_int_equal(kiln__dedup_sort_check(seed, 200000), 0);
	}
}

/* SHA-1 with the CPU's SHA extensions against the plain rounds (skipped
 * where the CPU has none). */
static void sha1_kernels_agree(void **state)
{
	(void)state;
	int rc = kiln__sha1_check(42);
	if (rc == 1)
		print_message("no SHA extensions here: only the plain SHA-1 ran\n");
	assert_true(rc >= 0);
}

static void simplify_known_answers(void **state)
{
	static const struct { const char *in, *out; } cases[] = {
		/* a number that fills a 32-byte block of the AVX2 pass after
		 * one that joined its fraction may join its own (review) */
		{ "1.5                             "
		  "11111111111111111111111111111111.5        ", "0 0" },
		{ "a 1.5 b                         "
		  "22222222222222222222222222222222.5 tail words here",
		  "a 0 b 0 tail words here" },
		{ "  Hello,   World!  ", "hello world" },
		{ "pi = 3.14159; v1.2.3", "pi 0 v0 0" },
		{ "Café NAÏVE", "cafe naive" },
		{ "x\t\n y", "x y" },
		{ "1,000,000", "0 0" },
	};
	kiln_error err;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *o;
		size_t n;
		assert_int_equal(kiln_minhash_simplify(cases[i].in,
						       strlen(cases[i].in), 0,
						       &o, &n, &err), 0);
		assert_string_equal(o, cases[i].out);
		free(o);
	}
}

static void s_curve_and_params(void **state)
{
	kiln_minhash_params p;
	kiln_error err;

	(void)state;
	assert_int_equal(kiln_minhash_preset("code", &p), 0);
	double th = kiln_minhash_threshold(p.bands, p.rows);
	assert_true(th > 0.69 && th < 0.71);
	assert_true(fabs(kiln_minhash_s_curve(p.bands, p.rows, th) - 0.5) <
		    1e-9);
	assert_true(kiln_minhash_s_curve(p.bands, p.rows, 0.9) > 0.999);
	assert_true(kiln_minhash_s_curve(p.bands, p.rows, 0.3) < 0.001);
	p.bands = 30;   /* 300 rows of 256 */
	assert_int_equal(kiln_minhash_check(&p, &err), KILN_EINVAL);
	assert_int_equal(kiln_minhash_preset("nope", &p), KILN_EINVAL);
}

static void exact_key_normalises(void **state)
{
	const char *a = "def f(x):\n    return x\n";
	const char *b = "def f(x):   \r\n\r\n    return x\t\n\n";
	const char *c = "def f(x):\n  return x\n";

	(void)state;
	assert_true(kiln_minhash_exact_key(a, strlen(a)) ==
		    kiln_minhash_exact_key(b, strlen(b)));
	assert_true(kiln_minhash_exact_key(a, strlen(a)) !=
		    kiln_minhash_exact_key(c, strlen(c)));
}

/* ---- the stage on planted duplicates -------------------------------- */

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
	return *s;
}

static const char *const words[] = {
	"total", "count", "items", "values", "result", "acc", "idx", "node",
	"left", "right", "buf", "key", "val", "cache", "queue", "stack",
	"graph", "dist", "memo", "text", "lo", "hi", "mid", "seen", "ans",
	"path", "edge", "cost", "row", "col", "grid", "word",
};
#define NW (sizeof words / sizeof words[0])

/* A distinct Python function: 12-25 random statements. */
static char *program(int i)
{
	uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
	size_t cap = 4096, n = 0;
	char *p = malloc(cap);
	int lines = 12 + (int)(rnd(&s) % 14);

	n += (size_t)snprintf(p + n, cap - n, "def f_%d(%s, %s):\n", i,
			      words[rnd(&s) % NW], words[rnd(&s) % NW]);
	for (int l = 0; l < lines; l++) {
		const char *a = words[rnd(&s) % NW], *b = words[rnd(&s) % NW];
		int k = (int)(rnd(&s) % 100);
		switch (rnd(&s) % 4) {
		case 0:
			n += (size_t)snprintf(p + n, cap - n, "    %s = %s + %d\n",
					      a, b, k);
			break;
		case 1:
			n += (size_t)snprintf(p + n, cap - n, "    for %s in "
					      "range(%d):\n        %s[%s] += %d\n",
					      a, k, b, a, k % 7);
			break;
		case 2:
			n += (size_t)snprintf(p + n, cap - n, "    if %s > %s:\n"
					      "        %s, %s = %s, %s\n", a, b, a,
					      b, b, a);
			break;
		default:
			n += (size_t)snprintf(p + n, cap - n, "    %s.append(%s "
					      "* %d)\n", a, b, k);
		}
	}
	snprintf(p + n, cap - n, "    return %s\n", words[rnd(&s) % NW]);
	return p;
}

/* A near copy: one statement inserted in the middle, one number changed. */
static char *near_copy(const char *src)
{
	size_t n = strlen(src);
	char *p = malloc(n + 64);
	const char *mid = src + n / 2;

	mid = strchr(mid, '\n');
	size_t head = (size_t)(mid - src) + 1;
	memcpy(p, src, head);
	size_t w = head + (size_t)sprintf(p + head, "    extra_step = 1\n");
	memcpy(p + w, src + head, n - head + 1);
	char *d = strpbrk(p + w, "0123456789");
	if (d)
		*d = *d == '9' ? '1' : (char)(*d + 1);
	return p;
}

/* A reformatted exact copy: trailing spaces, CRLF, a blank line. */
static char *exact_copy(const char *src)
{
	size_t n = strlen(src);
	char *p = malloc(3 * n + 8), *o = p;

	for (const char *c = src; *c; c++) {
		if (*c == '\n') {
			*o++ = ' ', *o++ = '\r', *o++ = '\n';
			if (c == src + n / 2)
				*o++ = '\n';
		} else {
			*o++ = *c;
		}
	}
	*o = '\0';
	return p;
}

typedef struct corpus {
	int n;
	int truth[600];    /* planted: the original's number; else itself */
	int exact[600];    /* 1 if an exact copy */
} corpus;

/* Writes N originals, then planted copies interleaved, with ids "s<i>"
 * and tests_passed/reward that make some copies better than their
 * originals. */
static void make_corpus(const char *path, int base, int norig, int ncopies,
			corpus *c)
{
	FILE *f = fopen(path, "w");
	uint64_t s = 12345 + (uint64_t)base;
	char **orig = calloc((size_t)norig, sizeof *orig);

	assert_non_null(f);
	c->n = 0;
	for (int i = 0; i < norig + ncopies; i++) {
		char *text;
		int kind = i < norig ? 0 : 1 + (int)(rnd(&s) % 2);
		int src = kind ? (int)(rnd(&s) % (uint64_t)norig) : i;
		if (!kind)
			text = orig[i] = program(base + i);
		else if (kind == 1)
			text = exact_copy(orig[src]);
		else
			text = near_copy(orig[src]);
		json_t *o = json_pack("{s:s, s:s, s:i, s:f}", "id", "", "solution",
				      text, "tests_passed", kind ? 3 : 5, "reward",
				      0.5);
		char id[32];
		snprintf(id, sizeof id, "s%d", base + i);
		json_object_set_new(o, "id", json_string(id));
		char *line = json_dumps(o, JSON_COMPACT);
		fprintf(f, "%s\n", line);
		free(line);
		json_decref(o);
		c->truth[c->n] = src;
		c->exact[c->n] = kind == 1;
		c->n++;
		if (kind)
			free(text);
	}
	for (int i = 0; i < norig; i++)
		free(orig[i]);
	free(orig);
	fclose(f);
}

static json_t *load_lines(const char *path)
{
	json_t *a = json_array();
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;

	assert_non_null(f);
	while (getline(&line, &cap, f) > 0)
		json_array_append_new(a, json_loads(line, 0, NULL));
	free(line);
	fclose(f);
	return a;
}

static int run_stage(const char *in, const char *out, const char *drop,
		     kiln_dedup_opts *o, kiln_dedup_stats *st)
{
	kiln_out *ko, *kd;
	kiln_error err;
	const char *inputs[] = { in };

	assert_int_equal(kiln_out_open(&ko, out, &err), 0);
	assert_int_equal(kiln_out_open(&kd, drop, &err), 0);
	kiln_dedup_stats_init(st);
	int rc = kiln_dedup(inputs, 1, ko, kd, o, st, &err);
	if (rc) {
		print_message("kiln_dedup: %s\n", err.msg);
		kiln_out_abort(ko);
		kiln_out_abort(kd);
		return rc;
	}
	assert_int_equal(kiln_out_commit(kd, &err), 0);
	assert_int_equal(kiln_out_commit(ko, &err), 0);
	return 0;
}

static int id_num(json_t *rec)
{
	return atoi(json_string_value(json_object_get(rec, "id")) + 1);
}

/* Checks the outputs of a batch against what was planted: every copy
 * dropped (exact ones as exact) with its original kept as the neighbour,
 * every original kept (so no two distinct programs merged). */
static void check_planted(const char *out, const char *drop, corpus *c,
			  int base)
{
	json_t *kept = load_lines(out), *dropped = load_lines(drop), *r;
	size_t i;
	int nkept = 0;

	json_array_foreach(kept, i, r) {
		int k = id_num(r) - base;
		assert_int_equal(c->truth[k], k);   /* an original */
		assert_true(json_is_integer(json_object_get(json_object_get(r,
			"dedup"), "cluster_size")));
		nkept++;
	}
	json_array_foreach(dropped, i, r) {
		int k = id_num(r) - base;
		json_t *d = json_object_get(r, "dropped");
		assert_int_not_equal(c->truth[k], k);   /* a copy */
		assert_string_equal(json_string_value(json_object_get(d, "stage")),
				    "dedup");
		assert_string_equal(json_string_value(json_object_get(d,
				    "reason")), c->exact[k] ? "exact" : "near");
		char want[32];
		snprintf(want, sizeof want, "s%d", base + c->truth[k]);
		assert_string_equal(json_string_value(json_object_get(d,
				    "kept_id")), want);
		double est = json_real_value(json_object_get(d,
					     "jaccard_estimated"));
		double ex = json_real_value(json_object_get(d, "jaccard_exact"));
		if (c->exact[k])   /* the shingles see the reformatting */
			assert_true(est > 0.3 && ex > 0.5);
		else
			assert_true(est > 0.5 && est < 1.0 && ex > 0.6 &&
				    ex < 1.0);
	}
	assert_int_equal((size_t)nkept + json_array_size(dropped),
			 (size_t)c->n);
	int originals = 0;
	for (int k = 0; k < c->n; k++)
		originals += c->truth[k] == k;
	assert_int_equal(nkept, originals);
	json_decref(kept);
	json_decref(dropped);
}

static void planted_copies_found(void **state)
{
	char in[300], out[300], drop[300];
	corpus c;
	kiln_dedup_opts o;
	kiln_dedup_stats st;

	(void)state;
	snprintf(in, sizeof in, "%s/planted.jsonl", dir);
	snprintf(out, sizeof out, "%s/kept.jsonl", dir);
	snprintf(drop, sizeof drop, "%s/dropped.jsonl", dir);
	make_corpus(in, 0, 300, 150, &c);
	for (int preset = 0; preset < 2; preset++) {
		kiln_dedup_opts_default(&o);
		o.preset = preset;
		assert_int_equal(run_stage(in, out, drop, &o, &st), 0);
		check_planted(out, drop, &c, 0);
		assert_int_equal(st.stage.entered, 450);
		assert_int_equal(st.stage.kept, 300);
		kiln_dedup_stats_free(&st);
	}
}

/* The copy with more tests passed is kept, not the first seen; then the
 * shorter of two equal ones. */
static void best_member_kept(void **state)
{
	char in[300], out[300], drop[300];
	char *a = program(7), *b = near_copy(a);
	kiln_dedup_opts o;
	kiln_dedup_stats st;
	FILE *f;

	(void)state;
	snprintf(in, sizeof in, "%s/best.jsonl", dir);
	snprintf(out, sizeof out, "%s/best_kept.jsonl", dir);
	snprintf(drop, sizeof drop, "%s/best_dropped.jsonl", dir);
	f = fopen(in, "w");
	json_t *r1 = json_pack("{s:s, s:s, s:i, s:{s:f}}", "id", "first",
			       "solution", a, "tests_passed", 2, "mutation",
			       "score", 0.9);
	json_t *r2 = json_pack("{s:s, s:s, s:i, s:{s:f}}", "id", "second",
			       "solution", b, "tests_passed", 3, "mutation",
			       "score", 0.1);
	json_t *r3 = json_pack("{s:s, s:s, s:i, s:{s:f}}", "id", "third",
			       "solution", b, "tests_passed", 3, "mutation",
			       "score", 0.5);
	json_dumpf(r1, f, JSON_COMPACT), fputc('\n', f);
	json_dumpf(r2, f, JSON_COMPACT), fputc('\n', f);
	json_dumpf(r3, f, JSON_COMPACT), fputc('\n', f);
	fclose(f);
	json_decref(r1), json_decref(r2), json_decref(r3);
	kiln_dedup_opts_default(&o);
	assert_int_equal(run_stage(in, out, drop, &o, &st), 0);
	kiln_dedup_stats_free(&st);
	json_t *kept = load_lines(out), *dropped = load_lines(drop);
	assert_int_equal(json_array_size(kept), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
		kept, 0), "id")), "third");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
		json_array_get(kept, 0), "dedup"), "cluster_size")), 3);
	assert_int_equal(json_array_size(dropped), 2);
	json_t *d0 = json_object_get(json_array_get(dropped, 0), "dropped");
	json_t *d1 = json_object_get(json_array_get(dropped, 1), "dropped");
	assert_string_equal(json_string_value(json_object_get(d0, "reason")),
			    "near");
	assert_string_equal(json_string_value(json_object_get(d1, "reason")),
			    "exact");
	assert_string_equal(json_string_value(json_object_get(d0, "kept_id")),
			    "third");
	assert_int_equal(json_integer_value(json_object_get(d0, "kept_record")),
			 2);
	json_decref(kept), json_decref(dropped);
	free(a), free(b);
}

/* A second batch against the index of the first: copies of the first
 * batch's records are dropped with kept_index_doc, new ones kept and
 * added. */
static void index_second_batch(void **state)
{
	char in[300], in2[300], out[300], drop[300], idx[300];
	corpus c;
	kiln_dedup_opts o;
	kiln_dedup_stats st;

	(void)state;
	snprintf(in, sizeof in, "%s/b1.jsonl", dir);
	snprintf(in2, sizeof in2, "%s/b2.jsonl", dir);
	snprintf(out, sizeof out, "%s/i_kept.jsonl", dir);
	snprintf(drop, sizeof drop, "%s/i_dropped.jsonl", dir);
	snprintf(idx, sizeof idx, "%s/index", dir);
	make_corpus(in, 0, 100, 30, &c);
	kiln_dedup_opts_default(&o);
	o.index = idx;
	assert_int_equal(run_stage(in, out, drop, &o, &st), 0);
	assert_int_equal(st.index_docs, 0);
	assert_int_equal(st.index_added, 100);
	kiln_dedup_stats_free(&st);

	/* batch 2: the same 100 originals' copies and 50 new programs */
	FILE *f = fopen(in2, "w");
	for (int i = 0; i < 150; i++) {
		char *p = program(i < 100 ? i : 1000 + i);
		char *t = i < 100 ? near_copy(p) : p;
		json_t *r = json_pack("{s:s, s:s, s:i}", "id", i < 100 ? "copy" :
				      "new", "solution", t, "tests_passed", 9);
		json_dumpf(r, f, JSON_COMPACT), fputc('\n', f);
		json_decref(r);
		if (t != p)
			free(t);
		free(p);
	}
	fclose(f);
	assert_int_equal(run_stage(in2, out, drop, &o, &st), 0);
	assert_int_equal(st.index_docs, 100);
	assert_int_equal(st.stage.kept, 50);
	assert_int_equal(st.index_added, 50);
	kiln_dedup_stats_free(&st);
	json_t *kept = load_lines(out), *dropped = load_lines(drop), *r;
	size_t i;
	json_array_foreach(kept, i, r)
		assert_string_equal(json_string_value(json_object_get(r, "id")),
				    "new");
	json_array_foreach(dropped, i, r) {
		json_t *d = json_object_get(r, "dropped");
		assert_string_equal(json_string_value(json_object_get(r, "id")),
				    "copy");
		assert_int_equal(json_integer_value(json_object_get(d,
				 "kept_index_doc")), (json_int_t)i);
		char want[32];
		snprintf(want, sizeof want, "s%zu", i);
		assert_string_equal(json_string_value(json_object_get(d,
				    "kept_id")), want);
	}
	assert_int_equal(json_array_size(dropped), 100);
	json_decref(kept), json_decref(dropped);

	/* other parameters: the index refuses them */
	kiln_dedup_opts_default(&o);
	o.index = idx;
	o.preset = KILN_DEDUP_DATATROVE;
	kiln_out *ko, *kd;
	kiln_error err;
	const char *inputs[] = { in2 };
	assert_int_equal(kiln_out_open(&ko, out, &err), 0);
	assert_int_equal(kiln_out_open(&kd, drop, &err), 0);
	kiln_dedup_stats_init(&st);
	assert_int_equal(kiln_dedup(inputs, 1, ko, kd, &o, &st, &err),
			 KILN_EINVAL);
	assert_non_null(strstr(err.msg, "was made with"));
	kiln_out_abort(ko), kiln_out_abort(kd);
	kiln_dedup_stats_free(&st);
}

/* Band keys sorted in runs on disk and merged give the in-memory result;
 * with so little --memory, pass 2 keeps no kept record's figures either
 * (each dropped row signs its neighbour again): the same rows. */
static void external_sort_same(void **state)
{
	char in[300], out[300], drop[300], out2[300], drop2[300];
	corpus c;
	kiln_dedup_opts o;
	kiln_dedup_stats st;

	(void)state;
	snprintf(in, sizeof in, "%s/ext.jsonl", dir);
	snprintf(out, sizeof out, "%s/ext_kept.jsonl", dir);
	snprintf(drop, sizeof drop, "%s/ext_dropped.jsonl", dir);
	snprintf(out2, sizeof out2, "%s/ext_kept2.jsonl", dir);
	snprintf(drop2, sizeof drop2, "%s/ext_dropped2.jsonl", dir);
	make_corpus(in, 5000, 400, 200, &c);
	kiln_dedup_opts_default(&o);
	assert_int_equal(run_stage(in, out, drop, &o, &st), 0);
	assert_false(st.external_sort);
	kiln_dedup_stats_free(&st);
	o.memory = 4096;   /* runs of 1,024 keys */
	assert_int_equal(run_stage(in, out2, drop2, &o, &st), 0);
	assert_true(st.external_sort);
	kiln_dedup_stats_free(&st);
	check_planted(out2, drop2, &c, 5000);
	json_t *a = load_lines(out), *b = load_lines(out2);
	assert_true(json_equal(a, b));
	json_decref(a), json_decref(b);
	a = load_lines(drop), b = load_lines(drop2);
	assert_true(json_equal(a, b));
	json_decref(a), json_decref(b);
	/* datatrove's words: the second pass signs again, its kept records'
	 * figures held up to --memory, none with so little */
	kiln_dedup_opts_default(&o);
	o.preset = KILN_DEDUP_DATATROVE;
	assert_int_equal(run_stage(in, out, drop, &o, &st), 0);
	kiln_dedup_stats_free(&st);
	o.memory = 4096;
	assert_int_equal(run_stage(in, out2, drop2, &o, &st), 0);
	kiln_dedup_stats_free(&st);
	a = load_lines(out), b = load_lines(out2);
	assert_true(json_equal(a, b));
	json_decref(a), json_decref(b);
	a = load_lines(drop), b = load_lines(drop2);
	assert_true(json_array_size(a) > 100 && json_equal(a, b));
	json_decref(a), json_decref(b);
}

static void missing_field_names_line(void **state)
{
	char in[300], out[300], drop[300];
	kiln_dedup_opts o;
	kiln_dedup_stats st;
	kiln_out *ko, *kd;
	kiln_error err;
	FILE *f;

	(void)state;
	snprintf(in, sizeof in, "%s/missing.jsonl", dir);
	snprintf(out, sizeof out, "%s/m_kept.jsonl", dir);
	snprintf(drop, sizeof drop, "%s/m_dropped.jsonl", dir);
	f = fopen(in, "w");
	fputs("{\"solution\": \"x = 1\"}\n\n{\"text\": \"y\"}\n", f);
	fclose(f);
	kiln_dedup_opts_default(&o);
	const char *inputs[] = { in };
	assert_int_equal(kiln_out_open(&ko, out, &err), 0);
	assert_int_equal(kiln_out_open(&kd, drop, &err), 0);
	kiln_dedup_stats_init(&st);
	assert_int_equal(kiln_dedup(inputs, 1, ko, kd, &o, &st, &err),
			 KILN_EPARSE);
	assert_non_null(strstr(err.msg, "missing.jsonl:3:"));
	assert_non_null(strstr(err.msg, "\"solution\""));
	kiln_out_abort(ko), kiln_out_abort(kd);
	kiln_dedup_stats_free(&st);
}

/* A record that already has "dedup" (a second run over kept output) gets
 * it replaced, not a second one. */
static void rerun_replaces_field(void **state)
{
	char in[300], out[300], out2[300], drop[300];
	corpus c;
	kiln_dedup_opts o;
	kiln_dedup_stats st;

	(void)state;
	snprintf(in, sizeof in, "%s/rerun.jsonl", dir);
	snprintf(out, sizeof out, "%s/rerun_kept.jsonl", dir);
	snprintf(out2, sizeof out2, "%s/rerun_kept2.jsonl", dir);
	snprintf(drop, sizeof drop, "%s/rerun_dropped.jsonl", dir);
	make_corpus(in, 0, 40, 20, &c);
	kiln_dedup_opts_default(&o);
	assert_int_equal(run_stage(in, out, drop, &o, &st), 0);
	kiln_dedup_stats_free(&st);
	assert_int_equal(run_stage(out, out2, drop, &o, &st), 0);
	assert_int_equal(st.stage.kept, 40);
	kiln_dedup_stats_free(&st);
	json_t *b = load_lines(out2), *r;
	size_t i;
	assert_int_equal(json_array_size(b), 40);
	json_array_foreach(b, i, r)   /* replaced: the run's own cluster */
		assert_int_equal(json_integer_value(json_object_get(
			json_object_get(r, "dedup"), "cluster_size")), 1);
	json_decref(b);
	FILE *f = fopen(out2, "r");   /* and the key once a line */
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0)
		assert_null(strstr(strstr(line, "\"dedup\"") + 1, "\"dedup\""));
	free(line);
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sha1_known_answers),
		cmocka_unit_test(datatrove_matches_reference),
		cmocka_unit_test(code_matches_reference),
		cmocka_unit_test(simplify_ascii_equals_general),
		cmocka_unit_test(permute_kernels_agree),
		cmocka_unit_test(band_key_sort),
#if defined(__x86_64__)
		cmocka_unit_test(permute_kernels_agree_daz),
#endif
		cmocka_unit_test(sha1_kernels_agree),
		cmocka_unit_test(simplify_known_answers),
		cmocka_unit_test(s_curve_and_params),
		cmocka_unit_test(exact_key_normalises),
		cmocka_unit_test(planted_copies_found),
		cmocka_unit_test(best_member_kept),
		cmocka_unit_test(index_second_batch),
		cmocka_unit_test(external_sort_same),
		cmocka_unit_test(missing_field_names_line),
		cmocka_unit_test(rerun_replaces_field),
	};
	return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
