/* MinHash signatures bit for bit as datatrove and bigcode-dataset make
 * them (kiln/minhash.h says which steps). Two paths of each hot step:
 * the plain one (kiln_minhash_sign_ref: the general Unicode pipeline, every
 * shingle permuted with %), and the fast one (an ASCII pass when the text
 * is ASCII, distinct shingles only, the mod of 2^61 - 1 by shift and add,
 * permutations in blocks the compiler vectorises), tested against each
 * other and against the Python reference (bench/dedup, test_dedup). */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "curate/dedup_int.h"
#include "kiln/minhash.h"

#define P KILN_MINHASH_PRIME

/* Sixteen permutations (a block) as the AVX2 kernel reads them: the
 * 32-bit halves of a for the cross terms and of b (b + 1 unmasked) for
 * the addend, eight permutations a vector; the low halves of a again as
 * 64-bit lanes, four a vector in the order the kernel's unpacking leaves
 * the cross terms in (vector 2g + s holds the permutations 8g +
 * ord[s][0..3]); idx[] is each lane's permutation in the block. */
struct perm16 {
	uint32_t ah[16], al[16];
	uint32_t bh[2][16], bl[2][16];  /* [masked]: b + 1 or b, halves */
	uint64_t al64[16];
	int idx[16];
};

static void perm16_layout(const uint64_t *a, const uint64_t *b, int np,
			  struct perm16 *blk)
{
	static const int ord[2][4] = { { 0, 1, 4, 5 }, { 2, 3, 6, 7 } };

	for (int k0 = 0; k0 + 16 <= np; k0 += 16) {
		struct perm16 *q = blk + k0 / 16;
		for (int k = 0; k < 16; k++) {
			q->ah[k] = (uint32_t)(a[k0 + k] >> 32);
			q->al[k] = (uint32_t)a[k0 + k];
			for (int m = 0; m < 2; m++) {
				uint64_t b1 = b[k0 + k] + (m ? 0 : 1);
				q->bh[m][k] = (uint32_t)(b1 >> 32);
				q->bl[m][k] = (uint32_t)b1;
			}
		}
		for (int g = 0; g < 2; g++)
			for (int s = 0; s < 2; s++)
				for (int l = 0; l < 4; l++) {
					int lane = 4 * (2 * g + s) + l;
					int k = 8 * g + ord[s][l];
					q->al64[lane] = (uint32_t)a[k0 + k];
					q->idx[lane] = k;
				}
	}
}

struct kiln_minhash {
	kiln_minhash_params p;
	uint64_t *a, *b;        /* permutations values each */
	struct perm16 *blk;     /* a and b in the AVX2 kernel's layout */
	char *text;             /* the token text: tokens split by ' ' */
	size_t text_cap;
	size_t *starts;         /* token starts in text */
	size_t starts_cap;
	uint64_t *set;          /* distinct shingle hashes (xxh64) */
	uint64_t *perm_in;      /* what is permuted: set, or SHA-1 values */
	size_t set_cap, perm_cap;
	uint64_t *tab;          /* open addressing over set (0 = empty) */
	size_t tab_cap;
	size_t raw;             /* the last sign without a set: perm_in
				 * holds its raw hashes (raw of them) */
};

/* ---- parameters ---------------------------------------------------- */

int kiln_minhash_preset(const char *name, kiln_minhash_params *p)
{
	if (name && strcmp(name, "code") == 0) {
		*p = (kiln_minhash_params){ KILN_MINHASH_IDENT, 5, 256, 25, 10,
					    42 };
		return 0;
	}
	if (name && strcmp(name, "datatrove") == 0) {
		*p = (kiln_minhash_params){ KILN_MINHASH_WORDS, 5, 112, 14, 8,
					    1 };
		return 0;
	}
	return KILN_EINVAL;
}

int kiln_minhash_check(const kiln_minhash_params *p, kiln_error *err)
{
	if (p->tokens != KILN_MINHASH_WORDS && p->tokens != KILN_MINHASH_IDENT)
		return kiln_error_set(err, KILN_EINVAL, "unknown tokens %d",
				      p->tokens);
	if (p->ngram < 1 || p->ngram > KILN_MINHASH_MAX_NGRAM)
		return kiln_error_set(err, KILN_EINVAL, "ngram %d is out of "
				      "range [1, %d]", p->ngram,
				      KILN_MINHASH_MAX_NGRAM);
	if (p->permutations < 1 || p->permutations > KILN_MINHASH_MAX_PERM)
		return kiln_error_set(err, KILN_EINVAL, "permutations %d is out "
				      "of range [1, %d]", p->permutations,
				      KILN_MINHASH_MAX_PERM);
	if (p->bands < 1 || p->rows < 1 ||
	    (long)p->bands * p->rows > p->permutations)
		return kiln_error_set(err, KILN_EINVAL, "%d bands x %d rows "
				      "need more than %d permutations",
				      p->bands, p->rows, p->permutations);
	if (p->seed < 0 || p->seed > 0xffffffffLL)
		return kiln_error_set(err, KILN_EINVAL, "seed %lld is out of "
				      "range [0, 2^32)", p->seed);
	return 0;
}

double kiln_minhash_s_curve(int bands, int rows, double s)
{
	return 1.0 - pow(1.0 - pow(s, rows), bands);
}

double kiln_minhash_threshold(int bands, int rows)
{
	return pow(1.0 - pow(0.5, 1.0 / bands), 1.0 / rows);
}

/* ---- numpy's RandomState: MT19937 and randint for uint64 ----------- */

typedef struct mt19937 {
	uint32_t mt[624];
	int pos;
} mt19937;

static void mt_seed(mt19937 *m, uint32_t seed)
{
	m->mt[0] = seed;
	for (int i = 1; i < 624; i++)
		m->mt[i] = 1812433253u * (m->mt[i - 1] ^ (m->mt[i - 1] >> 30))
			   + (uint32_t)i;
	m->pos = 624;
}

static uint32_t mt_next(mt19937 *m)
{
	uint32_t y;

	if (m->pos >= 624) {
		for (int i = 0; i < 624; i++) {
			y = (m->mt[i] & 0x80000000u) |
			    (m->mt[(i + 1) % 624] & 0x7fffffffu);
			m->mt[i] = m->mt[(i + 397) % 624] ^ (y >> 1) ^
				   ((y & 1) ? 0x9908b0dfu : 0);
		}
		m->pos = 0;
	}
	y = m->mt[m->pos++];
	y ^= y >> 11;
	y ^= (y << 7) & 0x9d2c5680u;
	y ^= (y << 15) & 0xefc60000u;
	y ^= y >> 18;
	return y;
}

/* numpy: random_bounded_uint64_fill, masked rejection, for a range wider
 * than 32 bits (which [0, 2^61 - 1) is): the first draw is the high half. */
static uint64_t np_randint(mt19937 *m, uint64_t lo, uint64_t hi_excl)
{
	uint64_t rng = hi_excl - 1 - lo, mask = rng, v;

	mask |= mask >> 1, mask |= mask >> 2, mask |= mask >> 4;
	mask |= mask >> 8, mask |= mask >> 16, mask |= mask >> 32;
	do {
		uint64_t hi32 = mt_next(m);
		v = (hi32 << 32 | mt_next(m)) & mask;
	} while (v > rng);
	return lo + v;
}

int kiln_minhash_new(kiln_minhash **out, const kiln_minhash_params *p,
		     kiln_error *err)
{
	kiln_minhash *m;
	mt19937 mt;
	int rc;

	*out = NULL;
	if ((rc = kiln_minhash_check(p, err)))
		return rc;
	m = calloc(1, sizeof *m);
	if (!m)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	m->p = *p;
	m->a = malloc(sizeof(uint64_t) * (size_t)p->permutations);
	m->b = malloc(sizeof(uint64_t) * (size_t)p->permutations);
	m->blk = malloc(sizeof(struct perm16) *
			(size_t)(p->permutations / 16 + 1));
	if (!m->a || !m->b || !m->blk) {
		kiln_minhash_free(m);
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	}
	mt_seed(&mt, (uint32_t)p->seed);
	for (int k = 0; k < p->permutations; k++)
		m->a[k] = np_randint(&mt, 1, P);
	for (int k = 0; k < p->permutations; k++)
		m->b[k] = np_randint(&mt, 0, P);
	perm16_layout(m->a, m->b, p->permutations, m->blk);
	*out = m;
	return 0;
}

void kiln_minhash_free(kiln_minhash *m)
{
	if (!m)
		return;
	free(m->a);
	free(m->b);
	free(m->blk);
	free(m->text);
	free(m->starts);
	free(m->set);
	free(m->perm_in);
	free(m->tab);
	free(m);
}

const kiln_minhash_params *kiln_minhash_get_params(const kiln_minhash *m)
{
	return &m->p;
}

const uint64_t *kiln_minhash_a(const kiln_minhash *m)
{
	return m->a;
}

const uint64_t *kiln_minhash_b(const kiln_minhash *m)
{
	return m->b;
}

/* ---- UTF-8 --------------------------------------------------------- */

/* Decodes one code point at s[*i] (advancing *i); -1 if invalid. */
static int32_t utf8_next(const unsigned char *s, size_t n, size_t *i)
{
	utf8proc_int32_t c;
	utf8proc_ssize_t k = utf8proc_iterate(s + *i, (utf8proc_ssize_t)(n - *i),
					      &c);

	if (k <= 0)
		return -1;
	*i += (size_t)k;
	return c;
}

static int is_ascii(const unsigned char *s, size_t n)
{
	uint64_t acc = 0, w;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, s + i, 8);
		acc |= w;
	}
	for (; i < n; i++)
		acc |= s[i];
	return !(acc & 0x8080808080808080ull);
}

static int utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (utf8_next(s, n, &i) < 0)
			return 0;
	}
	return 1;
}

/* ---- datatrove's simplification ------------------------------------ */

/* Python's str.isspace() (and re's \s for str patterns). */
static int py_space(uint32_t c)
{
	if (c < 128)
		return c == ' ' || (c >= 9 && c <= 13) || (c >= 0x1c &&
							    c <= 0x1f);
	return c == 0x85 || c == 0xa0 || c == 0x1680 ||
	       (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
	       c == 0x202f || c == 0x205f || c == 0x3000;
}

/* datatrove's translate table: ASCII punctuation and C0/C1 controls but
 * tab and line feed become spaces. */
static int dt_to_space(uint32_t c)
{
	if (c < 128)
		return (c < 32 && c != 9 && c != 10) || c == 127 ||
		       (c > 32 && c < 127 && !(c >= '0' && c <= '9') &&
			!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z'));
	return c <= 159;
}

static int is_nd(uint32_t c)
{
	if (c < 128)
		return c >= '0' && c <= '9';
	return utf8proc_category((utf8proc_int32_t)c) ==
	       UTF8PROC_CATEGORY_ND;
}

static int dt_sep(uint32_t c)
{
	return c == '.' || c == ',' || c == 0x60c || c == 0x66b ||
	       (c >= 0x2396 && c <= 0x2398);
}

static int cased(uint32_t c)
{
	utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);

	return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL ||
	       k == UTF8PROC_CATEGORY_LT ||
	       utf8proc_tolower((utf8proc_int32_t)c) != (utf8proc_int32_t)c ||
	       utf8proc_toupper((utf8proc_int32_t)c) != (utf8proc_int32_t)c;
}

static int case_ignorable(uint32_t c)
{
	utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);

	return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME ||
	       k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_LM ||
	       k == UTF8PROC_CATEGORY_SK || c == '\'' || c == '.' ||
	       c == ':' || c == 0xb7 || c == 0x387 || c == 0x5f4 ||
	       c == 0x2018 || c == 0x2019 || c == 0x2024 || c == 0x2027 ||
	       c == 0xfe13 || c == 0xfe52 || c == 0xfe55 || c == 0xff07 ||
	       c == 0xff0e || c == 0xff1a;
}

/* str.lower()'s Final_Sigma for the capital sigma at u[i]. */
static uint32_t sigma(const uint32_t *u, size_t n, size_t i)
{
	size_t j = i;

	while (j > 0 && case_ignorable(u[j - 1]))
		j--;
	if (j == 0 || !cased(u[j - 1]))
		return 0x3c3;
	for (j = i + 1; j < n && case_ignorable(u[j]); j++)
		;
	return j == n || !cased(u[j]) ? 0x3c2 : 0x3c3;
}

typedef struct cpbuf {
	uint32_t *v;
	size_t n, cap;
} cpbuf;

static int cp_push(cpbuf *b, uint32_t c)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 64;
		uint32_t *v = realloc(b->v, cap * sizeof *v);
		if (!v)
			return -1;
		b->v = v, b->cap = cap;
	}
	b->v[b->n++] = c;
	return 0;
}

/* The general pipeline, step by step as the Python does it. */
static int simplify_general(const unsigned char *s, size_t n, char **out,
			    size_t *outlen, kiln_error *err)
{
	cpbuf u = { 0 }, l = { 0 }, d = { 0 }, f = { 0 };
	size_t i = 0, o;
	int rc = KILN_ENOMEM;
	char *res = NULL;

	while (i < n) {   /* decode */
		int32_t c = utf8_next(s, n, &i);
		if (c < 0) {
			rc = kiln_error_set(err, KILN_EPARSE, "invalid UTF-8 at "
					    "byte %zu", i);
			goto out;
		}
		if (cp_push(&u, (uint32_t)c))
			goto out;
	}
	for (i = 0; i < u.n; i++) {   /* lower() */
		uint32_t c = u.v[i];
		if (c < 128)
			c = (c >= 'A' && c <= 'Z') ? c + 32 : c;
		else if (c == 0x130) {
			if (cp_push(&l, 'i'))
				goto out;
			c = 0x307;
		} else if (c == 0x3a3)
			c = sigma(u.v, u.n, i);
		else
			c = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
		if (cp_push(&l, c))
			goto out;
	}
	for (i = 0; i < l.n;) {   /* digit runs -> "0", then translate */
		uint32_t c = l.v[i];
		if (is_nd(c)) {
			while (i < l.n && is_nd(l.v[i]))
				i++;
			if (i + 1 < l.n && dt_sep(l.v[i]) && is_nd(l.v[i + 1]))
				for (i++; i < l.n && is_nd(l.v[i]); i++)
					;
			c = '0';
		} else {
			i++;
			if (dt_to_space(c))
				c = ' ';
		}
		if (cp_push(&d, c))
			goto out;
	}
	/* strip, whitespace runs -> " " (into u, reused) */
	u.n = 0;
	{
		int pend = 0;
		for (i = 0; i < d.n; i++) {
			if (py_space(d.v[i])) {
				pend = 1;
				continue;
			}
			if ((pend && u.n && cp_push(&u, ' ')) ||
			    cp_push(&u, d.v[i]))
				goto out;
			pend = 0;
		}
	}
	/* NFD (canonical decomposition and ordering), Mn removed */
	for (i = 0; i < u.n; i++) {
		utf8proc_int32_t dec[32];
		int boundclass = 0;
		utf8proc_ssize_t k = utf8proc_decompose_char(
			(utf8proc_int32_t)u.v[i], dec, 32, UTF8PROC_DECOMPOSE,
			&boundclass);
		if (k < 0 || k > 32) {
			rc = kiln_error_set(err, KILN_EPARSE, "cannot decompose "
					    "U+%04X", (unsigned)u.v[i]);
			goto out;
		}
		for (utf8proc_ssize_t j = 0; j < k; j++)
			if (cp_push(&f, (uint32_t)dec[j]))
				goto out;
	}
	for (i = 1; i < f.n; i++) {   /* canonical ordering: stable by ccc */
		size_t j = i;
		int cc = utf8proc_get_property((utf8proc_int32_t)f.v[i])
			->combining_class;
		if (!cc)
			continue;
		while (j > 0) {
			int pc = utf8proc_get_property(
				(utf8proc_int32_t)f.v[j - 1])->combining_class;
			if (pc <= cc)
				break;
			uint32_t t = f.v[j];
			f.v[j] = f.v[j - 1], f.v[j - 1] = t;
			j--;
		}
	}
	res = malloc(4 * f.n + 1);
	if (!res)
		goto out;
	o = 0;
	{
		size_t lo = 0, hi = f.n;   /* strip() after removing Mn */
		utf8proc_uint8_t enc[4];
		for (size_t k = 0; k < f.n; k++)
			if (utf8proc_category((utf8proc_int32_t)f.v[k]) ==
			    UTF8PROC_CATEGORY_MN)
				f.v[k] = UINT32_MAX;
		while (lo < hi && (f.v[lo] == UINT32_MAX || py_space(f.v[lo])))
			lo++;
		while (hi > lo && (f.v[hi - 1] == UINT32_MAX ||
				   py_space(f.v[hi - 1])))
			hi--;
		for (size_t k = lo; k < hi; k++) {
			if (f.v[k] == UINT32_MAX)
				continue;
			utf8proc_ssize_t e = utf8proc_encode_char(
				(utf8proc_int32_t)f.v[k], enc);
			memcpy(res + o, enc, (size_t)e);
			o += (size_t)e;
		}
	}
	res[o] = '\0';
	*out = res, *outlen = o;
	res = NULL;
	rc = 0;
out:
	if (rc == KILN_ENOMEM)
		kiln_error_set(err, rc, "out of memory");
	free(u.v), free(l.v), free(d.v), free(f.v), free(res);
	return rc;
}

#define ONES 0x0101010101010101ull
#define HIGH (ONES << 7)

/* The high bit of each byte of x (ASCII: every byte below 0x80) that is
 * in [lo, hi]: x + (0x80 - lo) sets it from lo up, x + (0x7f - hi) from
 * hi + 1 up, and neither carries into the next byte. */
static inline uint64_t bytes_in(uint64_t x, unsigned lo, unsigned hi)
{
	return (x + ONES * (0x80 - lo)) & ~(x + ONES * (0x7f - hi)) & HIGH;
}

/* A word starts at out[o]: after a separator (*pend) and not at the
 * start, a ' ' first, and the word's start in starts. Returns o. */
static inline size_t word_start(char *out, size_t o, size_t *starts,
				size_t *t, int *pend)
{
	if (*pend && o) {
		out[o++] = ' ';
		if (starts)
			starts[(*t)++] = o;
	}
	*pend = 0;
	return o;
}

/* The same on ASCII text, in one pass: out has room for n + 8 bytes. With
 * starts (room for n + 2), the words' starts too, and *ntok their count.
 * Eight bytes at a time where it can: a run of letters is written
 * lower-cased as eight bytes and counted to its end (the first byte that
 * is not a letter), a run of separators skipped to the next letter or
 * digit, so that the end of a word costs no mispredicted branch; digits
 * and the last 7 bytes go byte by byte. */
static size_t simplify_ascii(const unsigned char *s, size_t n, char *out,
			     size_t *starts, size_t *ntok)
{
	size_t i = 0, o = 0, t = 1;
	int pend = 0;

#define IS_DIGIT(c) ((unsigned)(c) - '0' < 10u)
#define IS_ALPHA(c) (((unsigned)(c) | 32) - 'a' < 26u)
	while (i < n) {
		unsigned c = s[i];
		if (i + 8 <= n) {
			uint64_t x, y, l, a;
			memcpy(&x, s + i, 8);
			y = x | ONES * 0x20;
			l = bytes_in(y, 'a', 'z');
			if (l & 0x80) {   /* letters: to the first other byte */
				uint64_t end = ~l & HIGH;
				size_t run = end ? (size_t)__builtin_ctzll(end) / 8
					   : 8;
				o = word_start(out, o, starts, &t, &pend);
				memcpy(out + o, &y, 8);
				o += run, i += run;
				continue;
			}
			uint64_t d = bytes_in(x, '0', '9'), end = ~d & HIGH;
			a = l | d;
			if (!(a & 0x80)) {   /* separators: to a letter or digit */
				pend = 1;
				i += a ? (size_t)__builtin_ctzll(a) / 8 : 8;
				continue;
			}
			size_t run = end ? (size_t)__builtin_ctzll(end) / 8 : 8;
			if (run < 8 && s[i + run] != '.' && s[i + run] != ',') {
				/* digits, no separator to look past: one '0' */
				o = word_start(out, o, starts, &t, &pend);
				out[o++] = '0';
				i += run;
				continue;
			}
		}
		if (!IS_ALPHA(c) && !IS_DIGIT(c)) {
			pend = 1;
			i++;
			continue;
		}
		o = word_start(out, o, starts, &t, &pend);
		if (IS_DIGIT(c)) {
			while (i < n && IS_DIGIT(s[i]))
				i++;
			if (i + 1 < n && (s[i] == '.' || s[i] == ',') &&
			    IS_DIGIT(s[i + 1]))
				for (i++; i < n && IS_DIGIT(s[i]); i++)
					;
			out[o++] = '0';
			continue;
		}
		do   /* a run of letters, lower-cased */
			out[o++] = (char)(s[i] | 32);
		while (++i < n && IS_ALPHA(s[i]));
	}
#undef IS_DIGIT
#undef IS_ALPHA
	if (starts)
		starts[0] = 0, *ntok = t;
	return o;
}
#undef ONES
#undef HIGH

#ifdef __AVX2__
#include <immintrin.h>

/* simplify_ascii 32 bytes a step. A byte is a letter (kept, lower-cased),
 * a digit (the first of a run of digits becomes '0', the rest go) or a
 * separator (the first of a run becomes ' ', the rest go): the kept bytes
 * are packed eight at a time with a shuffle from a table of the 256 masks.
 * A space is written at a run of separators' start (none at the text's
 * start: the byte before it counts as a separator) and taken back at the
 * end. A '.' or ',' between two digits may join a number's fraction
 * (simplify_ascii's rule, which depends on the number's earlier bytes):
 * a block that holds one goes byte by byte (simplify_step), as do the
 * last bytes. The word starts are read off the output afterwards. */
static uint64_t pack_tab[256];
static pthread_once_t pack_once = PTHREAD_ONCE_INIT;

static void pack_init(void)
{
	for (unsigned m = 0; m < 256; m++) {
		uint64_t v = 0;
		unsigned k = 0;
		for (unsigned b = 0; b < 8; b++)
			if (m >> b & 1)
				v |= (uint64_t)b << (8 * k++);
		for (; k < 8; k++)
			v |= (uint64_t)0x80 << (8 * k);   /* pshufb: zero */
		pack_tab[m] = v;
	}
}

typedef struct sstate {
	int prev;       /* the byte before: 0 separator, 1 letter, 2 digit,
			 * 3 a number's joining '.' or ',' */
	int frac;       /* the current number has joined its fraction */
} sstate;

/* One byte of simplify_ascii's rule, c at s[i] (s[i + 1] looked at). */
static inline size_t simplify_step(const unsigned char *s, size_t n,
				   size_t i, char *out, size_t o, sstate *st)
{
	unsigned c = s[i];

	if (((c | 32) - 'a') < 26u) {
		out[o++] = (char)(c | 32);
		st->prev = 1;
	} else if (c - '0' < 10u) {
		if (st->prev < 2) {
			out[o++] = '0';
			st->frac = 0;
		}
		st->prev = 2;
	} else if ((c == '.' || c == ',') && st->prev == 2 && !st->frac &&
		   i + 1 < n && (unsigned)s[i + 1] - '0' < 10u) {
		st->prev = 3, st->frac = 1;
	} else {
		if (st->prev && o)
			out[o++] = ' ';
		st->prev = 0;
	}
	return o;
}

static size_t simplify_avx2(const unsigned char *s, size_t n, char *out,
			    size_t *starts, size_t *ntok)
{
	const __m256i a1 = _mm256_set1_epi8('a' - 1);
	const __m256i z1 = _mm256_set1_epi8('z' + 1);
	const __m256i d0 = _mm256_set1_epi8('0' - 1);
	const __m256i d9 = _mm256_set1_epi8('9' + 1);
	const __m256i lc = _mm256_set1_epi8(0x20), dot = _mm256_set1_epi8('.');
	const __m256i com = _mm256_set1_epi8(','), zero = _mm256_set1_epi8('0');
	const __m256i sp = _mm256_set1_epi8(' ');
	sstate st = { 0, 0 };
	size_t i = 0, o = 0, t = 1;

	pthread_once(&pack_once, pack_init);
	while (i + 33 <= n) {   /* the byte after the block is looked at */
		__m256i x = _mm256_loadu_si256(
			(const __m256i *)(const void *)(s + i));
		__m256i y = _mm256_or_si256(x, lc);
		__m256i l = _mm256_and_si256(_mm256_cmpgt_epi8(y, a1),
					     _mm256_cmpgt_epi8(z1, y));
		__m256i d = _mm256_and_si256(_mm256_cmpgt_epi8(x, d0),
					     _mm256_cmpgt_epi8(d9, x));
		uint32_t ml = (uint32_t)_mm256_movemask_epi8(l);
		uint32_t md = (uint32_t)_mm256_movemask_epi8(d);
		uint32_t mp = (uint32_t)_mm256_movemask_epi8(_mm256_or_si256(
			_mm256_cmpeq_epi8(x, dot), _mm256_cmpeq_epi8(x, com)));
		uint32_t cd = st.prev >= 2, cs = st.prev == 0;
		uint32_t pd = md << 1 | cd;
		uint32_t nd = md >> 1 |
			      (uint32_t)((unsigned)s[i + 32] - '0' < 10u) << 31;
		if (mp & pd & nd) {   /* a number's fraction may join */
			for (size_t e = i + 32; i < e; i++)
				o = simplify_step(s, n, i, out, o, &st);
			continue;
		}
		uint32_t ms = ~(ml | md);
		uint32_t keep = ml | (md & ~pd) | (ms & ~(ms << 1 | cs));
		if (!o) {   /* no space before the first word */
			uint32_t w = ml | md;
			keep &= ~(ms & (w ? (w & -w) - 1 : ~0u));
		}
		/* letters lower-cased, digits '0', separators ' ' */
		__m256i v = _mm256_blendv_epi8(_mm256_blendv_epi8(sp, zero, d),
					       y, l);
		uint64_t w[4];
		_mm256_storeu_si256((__m256i *)(void *)w, v);
		for (int k = 0; k < 4; k++) {
			unsigned m = keep >> (8 * k) & 0xff;
			__m128i b = _mm_shuffle_epi8(
				_mm_cvtsi64_si128((long long)w[k]),
				_mm_cvtsi64_si128((long long)pack_tab[m]));
			_mm_storel_epi64((__m128i *)(void *)(out + o), b);
			o += (size_t)__builtin_popcount(m);
		}
		st.prev = md >> 31 ? 2 : ml >> 31 ? 1 : 0;
		if (~md || !cd)   /* a number that starts or ends in the block:
				   * no fraction joined yet */
			st.frac = 0;
		i += 32;
	}
	for (; i < n; i++)
		o = simplify_step(s, n, i, out, o, &st);
	if (o && out[o - 1] == ' ')
		o--;
	if (starts) {   /* after each space a word starts; eight written a
			 * step whatever the count (starts has room: n >= 64) */
		size_t k = 0;
		for (; k + 32 <= o; k += 32) {
			__m256i y = _mm256_loadu_si256(
				(const __m256i *)(const void *)(out + k));
			uint64_t m = (uint32_t)_mm256_movemask_epi8(
				_mm256_cmpeq_epi8(y, sp));
			size_t cnt = (size_t)__builtin_popcountll(m);
			for (size_t j = 0; j < cnt; j += 8)
				for (int u = 0; u < 8; u++) {
					size_t bit = (size_t)__builtin_ctzll(
						m | 1ull << 32);
					starts[t + j + (size_t)u] = k + 1 + bit;
					m &= m - 1;
				}
			t += cnt;
		}
		for (; k < o; k++)
			if (out[k] == ' ')
				starts[t++] = k + 1;
		starts[0] = 0, *ntok = t;
	}
	return o;
}
#endif

/* ASCII text simplified: 32 bytes a step where AVX2 is built and the text
 * is long enough for it to pay, else 8. */
static size_t simplify_fast(const unsigned char *s, size_t n, char *out,
			    size_t *starts, size_t *ntok)
{
#ifdef __AVX2__
	if (n >= 64)
		return simplify_avx2(s, n, out, starts, ntok);
#endif
	return simplify_ascii(s, n, out, starts, ntok);
}

int kiln_minhash_simplify(const char *text, size_t len, int ref, char **out,
			  size_t *outlen, kiln_error *err)
{
	const unsigned char *s = (const unsigned char *)text;

	*out = NULL, *outlen = 0;
	if (!ref && is_ascii(s, len)) {
		char *res = malloc(len + 8);
		if (!res)
			return kiln_error_set(err, KILN_ENOMEM, "out of memory");
		*outlen = simplify_fast(s, len, res, NULL, NULL);
		res[*outlen] = '\0';
		*out = res;
		return 0;
	}
	return simplify_general(s, len, out, outlen, err);
}

/* ---- SHA-1 (FIPS 180-4) -------------------------------------------- */

#define ROL(x, k) (((x) << (k)) | ((x) >> (32 - (k))))

/* The plain form: the 80 rounds in four loops of 20 (no branch on the
 * round inside), the schedule in 16 words. */
static void sha1_block_plain(uint32_t h[5], const unsigned char *p)
{
	uint32_t w[16], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], t;

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
#define W(i) (i < 16 ? w[i] : (w[i & 15] = ROL(w[(i - 3) & 15] ^ \
	w[(i - 8) & 15] ^ w[(i - 14) & 15] ^ w[i & 15], 1)))
#define ROUND(i, f, k) \
	t = ROL(a, 5) + (f) + e + (k) + W(i); \
	e = d, d = c, c = ROL(b, 30), b = a, a = t;
	for (int i = 0; i < 20; i++) {
		ROUND(i, (b & c) | (~b & d), 0x5a827999u)
	}
	for (int i = 20; i < 40; i++) {
		ROUND(i, b ^ c ^ d, 0x6ed9eba1u)
	}
	for (int i = 40; i < 60; i++) {
		ROUND(i, (b & c) | (b & d) | (c & d), 0x8f1bbcdcu)
	}
	for (int i = 60; i < 80; i++) {
		ROUND(i, b ^ c ^ d, 0xca62c1d6u)
	}
#undef ROUND
#undef W
	h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHA_NI 1

/* With the SHA extensions (x86: sha1rnds4, sha1nexte, sha1msg1/2), four
 * rounds an instruction; chosen at run time when the CPU has them. The
 * step of rounds 4g..4g+3 is written once (STEP) and unrolled, g a
 * constant. m[] holds four blocks of four schedule words; the block used
 * at step g' >= 4 is made from the older ones by sha1msg1 at g' - 3, an
 * xor at g' - 2 and sha1msg2 at g' - 1 (so those run at steps 1..16,
 * 2..17 and 3..18). */
__attribute__((target("sha,sse4.1")))
static void sha1_block_ni(uint32_t h[5], const unsigned char *p)
{
	const __m128i mask = _mm_set_epi64x(0x0001020304050607LL,
					    0x08090a0b0c0d0e0fLL);
	__m128i abcd = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)
							 (const void *)h), 0x1b);
	__m128i e0 = _mm_set_epi32((int)h[4], 0, 0, 0), e1;
	__m128i abcd0 = abcd, e00 = e0, m[4];

	for (int i = 0; i < 4; i++)
		m[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)
			(const void *)(p + 16 * i)), mask);
	e0 = _mm_add_epi32(e0, m[0]);
	e1 = abcd;
	abcd = _mm_sha1rnds4_epu32(abcd, e0, 0);
#define STEP(g, f) do { \
		if ((g) & 1) { \
			e1 = _mm_sha1nexte_epu32(e1, m[(g) & 3]); \
			e0 = abcd; \
		} else { \
			e0 = _mm_sha1nexte_epu32(e0, m[(g) & 3]); \
			e1 = abcd; \
		} \
		if ((g) >= 3 && (g) <= 18) \
			m[((g) + 1) & 3] = _mm_sha1msg2_epu32(m[((g) + 1) & 3], \
							  m[(g) & 3]); \
		abcd = _mm_sha1rnds4_epu32(abcd, (g) & 1 ? e1 : e0, f); \
		if ((g) >= 1 && (g) <= 16) \
			m[((g) + 3) & 3] = _mm_sha1msg1_epu32(m[((g) + 3) & 3], \
							  m[(g) & 3]); \
		if ((g) >= 2 && (g) <= 17) \
			m[((g) + 2) & 3] = _mm_xor_si128(m[((g) + 2) & 3], \
							 m[(g) & 3]); \
	} while (0)
	STEP(1, 0); STEP(2, 0); STEP(3, 0); STEP(4, 0);
	STEP(5, 1); STEP(6, 1); STEP(7, 1); STEP(8, 1); STEP(9, 1);
	STEP(10, 2); STEP(11, 2); STEP(12, 2); STEP(13, 2); STEP(14, 2);
	STEP(15, 3); STEP(16, 3); STEP(17, 3); STEP(18, 3); STEP(19, 3);
#undef STEP
	e0 = _mm_sha1nexte_epu32(e0, e00);
	abcd = _mm_add_epi32(abcd, abcd0);
	_mm_storeu_si128((__m128i *)(void *)h, _mm_shuffle_epi32(abcd, 0x1b));
	h[4] = (uint32_t)_mm_extract_epi32(e0, 3);
}

static void (*sha1_block)(uint32_t h[5], const unsigned char *p) =
	sha1_block_plain;
static pthread_once_t sha1_once = PTHREAD_ONCE_INIT;

static void sha1_choose(void)
{
	unsigned a, b, c, d;

	if (__get_cpuid_count(7, 0, &a, &b, &c, &d) && (b >> 29 & 1) &&
	    __get_cpuid(1, &a, &b, &c, &d) && (c >> 19 & 1))   /* SSE4.1 */
		sha1_block = sha1_block_ni;
}
#else
#define sha1_block sha1_block_plain
#endif

void kiln_sha1(const void *data, size_t n, unsigned char out[20])
{
	uint32_t h[5] = { 0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u,
			  0xc3d2e1f0u };
	const unsigned char *p = data;
	unsigned char last[128];
	size_t full = n / 64 * 64, rest = n - full, tail;
	uint64_t bits = (uint64_t)n * 8;

#ifdef HAVE_SHA_NI
	pthread_once(&sha1_once, sha1_choose);
#endif
	for (size_t i = 0; i < full; i += 64)
		sha1_block(h, p + i);
	memcpy(last, p + full, rest);
	last[rest] = 0x80;
	tail = rest + 1 + 8 <= 64 ? 64 : 128;
	memset(last + rest + 1, 0, tail - rest - 1);
	for (int i = 0; i < 8; i++)
		last[tail - 1 - i] = (unsigned char)(bits >> (8 * i));
	sha1_block(h, last);
	if (tail == 128)
		sha1_block(h, last + 64);
	for (int i = 0; i < 5; i++) {
		out[4 * i] = (unsigned char)(h[i] >> 24);
		out[4 * i + 1] = (unsigned char)(h[i] >> 16);
		out[4 * i + 2] = (unsigned char)(h[i] >> 8);
		out[4 * i + 3] = (unsigned char)h[i];
	}
}

static uint64_t sha1_le32(const char *p, size_t n)
{
	unsigned char d[20];

	kiln_sha1(p, n, d);
	return (uint64_t)d[0] | (uint64_t)d[1] << 8 | (uint64_t)d[2] << 16 |
	       (uint64_t)d[3] << 24;
}

/* ---- tokens -------------------------------------------------------- */

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t cap2 = *cap ? *cap : 256;
	while (cap2 < need)
		cap2 *= 2;
	void *q = realloc(*p, cap2 * size);
	if (!q)
		return -1;
	*p = q, *cap = cap2;
	return 0;
}

/* bigcode's re.split('[^A-Za-z_0-9]'): every other code point (valid
 * UTF-8 assumed) becomes one ' '; starts (room for n + 2) get the tokens'
 * starts, *ntok their count. */
static size_t ident_text(const unsigned char *s, size_t n, char *out,
			 size_t *starts, size_t *ntok)
{
	size_t o = 0, t = 1;

	for (size_t i = 0; i < n; i++) {
		unsigned c = s[i];
		if ((c | 32) - 'a' < 26u || c - '0' < 10u || c == '_') {
			out[o++] = (char)c;
		} else if (c < 0x80 || c >= 0xc0) {
			out[o++] = ' ';
			starts[t++] = o;
		}
	}
	starts[0] = 0, *ntok = t;
	return o;
}

/* Makes m->text the token text of the document and m->starts the token
 * starts (plus one past the end). Returns the number of tokens, or a
 * negative KILN_E*. */
static long tokenize(kiln_minhash *m, const char *text, size_t len, int ref,
		     kiln_error *err)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t n, ntok = 1;

	if (len > KILN_MINHASH_MAX_TEXT)
		return kiln_error_set(err, KILN_ELIMIT, "text of %zu bytes "
				      "(at most %u)", len, KILN_MINHASH_MAX_TEXT);
	int ascii = m->p.tokens == KILN_MINHASH_WORDS && !ref &&
		    is_ascii(s, len);
	if ((m->p.tokens == KILN_MINHASH_IDENT || ascii) &&
	    (grow((void **)&m->text, &m->text_cap, len + 8, 1) ||
	     grow((void **)&m->starts, &m->starts_cap, len + 2,
		  sizeof(size_t))))
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	if (m->p.tokens == KILN_MINHASH_WORDS) {
		if (ascii) {
			n = simplify_fast(s, len, m->text, m->starts, &ntok);
		} else {
			char *t;
			int rc = simplify_general(s, len, &t, &n, err);
			if (rc)
				return rc;
			free(m->text);
			m->text = t, m->text_cap = n + 1;
			for (size_t i = 0; i < n; i++)
				ntok += m->text[i] == ' ';
			if (grow((void **)&m->starts, &m->starts_cap, ntok + 1,
				 sizeof(size_t)))
				return kiln_error_set(err, KILN_ENOMEM,
						      "out of memory");
			m->starts[0] = 0;
			for (size_t i = 0, k = 1; i < n; i++)
				if (m->text[i] == ' ')
					m->starts[k++] = i + 1;
		}
	} else {
		if (!utf8_valid(s, len))
			return kiln_error_set(err, KILN_EPARSE, "invalid UTF-8");
		n = ident_text(s, len, m->text, m->starts, &ntok);
	}
	m->starts[ntok] = n + 1;   /* as if a ' ' followed the text */
	return (long)ntok;
}

/* ---- signatures ---------------------------------------------------- */

/* sig[k] = min over h of perm_k(h) (& mask). The plain form. */
static void permute_ref(const uint64_t *h, size_t n, const uint64_t *a,
			const uint64_t *b, int np, uint64_t mask, uint64_t *sig)
{
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < np; k++) {
			uint64_t v = ((h[i] * a[k] + b[k]) % P) & mask;
			if (v < sig[k])
				sig[k] = v;
		}
}

#ifdef __AVX2__   /* (immintrin.h included above) */

/* The fast form with AVX2, 16 permutations a block (four vectors of
 * minima held in registers while every shingle passes).
 *
 * The product h * a (mod 2^64) is al * hl + ((ah * hl + al * hh) mod 2^32)
 * << 32, with hl, hh and al, ah the 32-bit halves: the full 64-bit al *
 * hl for four permutations a multiply (vpmuludq), the two cross terms
 * low 32 bits for eight permutations a multiply (vpmulld), their sum
 * moved into the high halves by unpacking. The addend b (or b + 1) goes
 * in on the way: its high half added to the cross terms (mod 2^32, as
 * the high half of a 64-bit sum is), its low half the unpacking's other
 * half, so that one 64-bit add gives h * a + b, carry included. The
 * unpacking works within 128-bit lanes, so a block's permutations sit in
 * the vectors in the order perm16_layout makes (idx[] maps them back).
 *
 * Then two forms.
 *
 * MASKED (the code preset's 32 bits): r = (v & P) + (v >> 61), v = h * a
 * + b (mod 2^64), which is v mod (2^61 - 1) unless r >= P (then r - P).
 * That last step is not taken per value: the minima are of r & mask, and
 * every r is OR-ed into a flag of r + 1 >= 2^61 (r >= P); a block where
 * the flag shows (about once in 2^58 values) is done again by the exact
 * kernel.
 *
 * Unmasked (datatrove), in fewer steps a value: with v = h * a + (b + 1)
 * (mod 2^64), key = (v + (v >> 61)) & P is (r + 1) mod 2^61, r as above,
 * for every value whose h * a + b has low 61 bits not all ones: r + 1 (at
 * least 1) when r < P, r - P (at most 7) when r >= P; the rest (low bits
 * all ones: r >= P) give a key of at most 8. So when every minimum key is
 * above 8, no key was at most 8, none was wrapped, and the minima are the
 * keys less one; otherwise (about once in 2^58 values) the block is done
 * again by the exact kernel. Three steps (shift, add, and) where the
 * masked form takes six.
 *
 * Values stay below 2^62, so min61 orders them. */
/* The lesser of two vectors of integers in [0, 2^62): as IEEE doubles
 * their bit patterns are positive numbers (subnormal below 2^52) that
 * order as the integers do, and none is a NaN, so one vminpd does what
 * a 64-bit compare and a blend would (AVX2 has no 64-bit min). Exact as
 * long as subnormals are not read as zero: where MXCSR's DAZ is set (kiln
 * never sets it; a program that links libkiln might), permute_avx2 takes
 * the portable kernel. */
static inline __m256i min61(__m256i a, __m256i b)
{
	return _mm256_castpd_si256(_mm256_min_pd(_mm256_castsi256_pd(a),
						 _mm256_castsi256_pd(b)));
}

static inline int permute_avx2_block(const uint64_t *h, size_t n,
				     const struct perm16 *q, uint64_t mask,
				     int masked, uint64_t *sig)
{
	const __m256i vp = _mm256_set1_epi64x((long long)P);
	const __m256i one = _mm256_set1_epi64x(1);
	const __m256i vm = _mm256_set1_epi64x((long long)mask);
	uint64_t out[16];
	__m256i acc[4], flag = _mm256_setzero_si256();
	__m256i bh[2], bl[2];

	for (int g = 0; g < 2; g++) {
		bh[g] = _mm256_loadu_si256((const __m256i *)(const void *)
					   (q->bh[masked] + 8 * g));
		bl[g] = _mm256_loadu_si256((const __m256i *)(const void *)
					   (q->bl[masked] + 8 * g));
	}
	for (int j = 0; j < 4; j++)   /* above every key, and no NaN */
		acc[j] = _mm256_set1_epi64x(1LL << 62);
	for (size_t i = 0; i < n; i++) {
		__m256i xl = _mm256_set1_epi64x((long long)h[i]);
		__m256i hl = _mm256_set1_epi32((int)(uint32_t)h[i]);
		__m256i hh = _mm256_set1_epi32((int)(uint32_t)(h[i] >> 32));
		for (int g = 0; g < 2; g++) {
			__m256i c = _mm256_add_epi32(_mm256_add_epi32(
				_mm256_mullo_epi32(hl, _mm256_loadu_si256(
					(const __m256i *)(const void *)
					(q->ah + 8 * g))),
				_mm256_mullo_epi32(hh, _mm256_loadu_si256(
					(const __m256i *)(const void *)
					(q->al + 8 * g)))), bh[g]);
			for (int s = 0; s < 2; s++) {
				int j = 2 * g + s;
				__m256i v = _mm256_add_epi64(
					_mm256_mul_epu32(xl, _mm256_loadu_si256(
						(const __m256i *)(const void *)
						(q->al64 + 4 * j))),
					s ? _mm256_unpackhi_epi32(bl[g], c) :
					    _mm256_unpacklo_epi32(bl[g], c));
				if (masked) {
					v = _mm256_add_epi64(
						_mm256_and_si256(v, vp),
						_mm256_srli_epi64(v, 61));
					flag = _mm256_or_si256(flag,
						_mm256_add_epi64(v, one));
					v = _mm256_and_si256(v, vm);
				} else {
					v = _mm256_and_si256(_mm256_add_epi64(v,
						_mm256_srli_epi64(v, 61)), vp);
				}
				acc[j] = min61(acc[j], v);
			}
		}
	}
	if (!n) {
		for (int k = 0; k < 16; k++)
			sig[k] = UINT64_MAX;
		return 0;
	}
	if (masked) {   /* bit 61 of some r + 1: an r >= P was taken as it was */
		if (!_mm256_testz_si256(flag, _mm256_set1_epi64x(1LL << 61)))
			return -1;
	} else {        /* a minimum key of at most 8 */
		for (int j = 0; j < 4; j++)
			flag = _mm256_or_si256(flag, _mm256_cmpgt_epi64(
				_mm256_set1_epi64x(9), acc[j]));
		if (!_mm256_testz_si256(flag, flag))
			return -1;
		for (int j = 0; j < 4; j++)
			acc[j] = _mm256_sub_epi64(acc[j], one);
	}
	for (int j = 0; j < 4; j++)
		_mm256_storeu_si256((__m256i *)(void *)(out + 4 * j), acc[j]);
	for (int k = 0; k < 16; k++)
		sig[q->idx[k]] = out[k];
	return 0;
}

static void permute(const uint64_t *h, size_t n, const uint64_t *a,
		    const uint64_t *b, int np, uint64_t mask, uint64_t *sig);

static void permute_avx2(const uint64_t *h, size_t n, const uint64_t *a,
			 const uint64_t *b, const struct perm16 *blk, int np,
			 uint64_t mask, uint64_t *sig)
{
	int k0 = 0;

	if (_mm_getcsr() & 0x40) {   /* DAZ: min61 would not be exact */
		permute(h, n, a, b, np, mask, sig);
		return;
	}

	for (; k0 + 16 <= np; k0 += 16) {
		const struct perm16 *q = blk + k0 / 16;
		int rc = mask == UINT64_MAX ?
			 permute_avx2_block(h, n, q, mask, 0, sig + k0) :
			 permute_avx2_block(h, n, q, mask, 1, sig + k0);
		if (rc) {
			for (int k = 0; k < 16; k++)
				sig[k0 + k] = UINT64_MAX;
			permute_ref(h, n, a + k0, b + k0, 16, mask, sig + k0);
		}
	}
	if (k0 < np)
		permute_ref(h, n, a + k0, b + k0, np - k0, mask, sig + k0);
}
#endif

/* The fast form: x mod (2^61 - 1) = (x & P) + (x >> 61), less P once if
 * that is still >= P; 16 permutations at a time so that their minima stay
 * in registers while every shingle passes. */
#define BLK 16
static void permute(const uint64_t *h, size_t n, const uint64_t *a,
		    const uint64_t *b, int np, uint64_t mask, uint64_t *sig)
{
	int k0 = 0;

	for (; k0 + BLK <= np; k0 += BLK) {
		uint64_t acc[BLK], aa[BLK], bb[BLK];
		for (int k = 0; k < BLK; k++)
			acc[k] = UINT64_MAX, aa[k] = a[k0 + k], bb[k] = b[k0 + k];
		for (size_t i = 0; i < n; i++) {
			uint64_t x = h[i];
			for (int k = 0; k < BLK; k++) {
				uint64_t v = x * aa[k] + bb[k];
				v = (v & P) + (v >> 61);
				v = v >= P ? v - P : v;
				v &= mask;
				acc[k] = v < acc[k] ? v : acc[k];
			}
		}
		for (int k = 0; k < BLK; k++)
			sig[k0 + k] = acc[k];
	}
	if (k0 < np)
		permute_ref(h, n, a + k0, b + k0, np - k0, mask, sig + k0);
}

/* The permutation kernels against each other (test_dedup): n shingles of
 * random hashes through permute_ref, permute and, where built, AVX2, for
 * both masks; in passes 2 and 3 one shingle is planted where h * a + b
 * is P (mod 2^64) for one permutation, the rare case (x & P) + (x >> 61)
 * = P that the AVX2 kernel leaves to the exact one. Returns 0 when all
 * agree. */
int kiln__minhash_permute_check(uint64_t seed, size_t n, int np)
{
	uint64_t *h = malloc((n + 1) * 8), *a = malloc((size_t)np * 8),
		 *b = malloc((size_t)np * 8),
		 *s1 = malloc((size_t)np * 8), *s2 = malloc((size_t)np * 8),
		 *s3 = malloc((size_t)np * 8);
	struct perm16 *blk = malloc(sizeof(*blk) * (size_t)(np / 16 + 1));
	int bad = !h || !a || !blk || !b || !s1 || !s2 || !s3;

	for (int pass = 0; pass < 4 && !bad; pass++) {
		uint64_t mask = pass & 1 ? 0xffffffffu : UINT64_MAX;
		for (size_t i = 0; i < n; i++)
			seed = seed * 6364136223846793005ull + 1442695040888963407ull,
			h[i] = seed ^ (seed >> 29);
		for (int k = 0; k < np; k++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			a[k] = 1 + (seed >> 3) % (P - 1);
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			b[k] = (seed >> 3) % P;
			s1[k] = s2[k] = UINT64_MAX;
		}
		if (pass >= 2 && n) {   /* h = (P - b) / a mod 2^64, a odd */
			int k = (int)(seed % (uint64_t)np);
			uint64_t inv;
			a[k] |= 1;
			inv = a[k];   /* Newton: 3, 6, 12, 24, 48, 96 bits */
			for (int it = 0; it < 5; it++)
				inv *= 2 - a[k] * inv;
			h[seed % n] = (P - b[k]) * inv;
		}
		permute_ref(h, n, a, b, np, mask, s1);
		permute(h, n, a, b, np, mask, s2);
		memcpy(s3, s2, (size_t)np * 8);
#ifdef __AVX2__
		perm16_layout(a, b, np, blk);
		permute_avx2(h, n, a, b, blk, np, mask, s3);
#endif
		bad = memcmp(s1, s2, (size_t)np * 8) ||
		      memcmp(s1, s3, (size_t)np * 8);
	}
	free(h), free(a), free(blk), free(b), free(s1), free(s2), free(s3);
	return bad ? -1 : 0;
}

int kiln__sha1_check(uint64_t seed)
{
#ifdef HAVE_SHA_NI
	unsigned char block[64];
	uint32_t h1[5] = { 0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u,
			   0xc3d2e1f0u }, h2[5];

	pthread_once(&sha1_once, sha1_choose);
	if (sha1_block != sha1_block_ni)
		return 1;   /* no SHA extensions: nothing to compare */
	for (int round = 0; round < 200; round++) {
		for (int i = 0; i < 64; i++)
			seed = seed * 6364136223846793005ull + 1,
			block[i] = (unsigned char)(seed >> 56);
		memcpy(h2, h1, sizeof h1);
		sha1_block_plain(h1, block);
		sha1_block_ni(h2, block);
		if (memcmp(h1, h2, sizeof h1))
			return -1;
	}
	return 0;
#else
	(void)seed;
	return 1;
#endif
}

/* Inserts x into the open-addressing table (0 stands for itself through
 * has_zero). Returns 1 if it was new. */
static int tab_insert(uint64_t *tab, size_t cap, int *has_zero, uint64_t x)
{
	if (!x) {
		int was = *has_zero;
		*has_zero = 1;
		return !was;
	}
	for (size_t i = (size_t)(x ^ (x >> 29)) & (cap - 1);;
	     i = (i + 1) & (cap - 1)) {
		if (tab[i] == x)
			return 0;
		if (!tab[i]) {
			tab[i] = x;
			return 1;
		}
	}
}

static long sign(kiln_minhash *m, const char *text, size_t len, int ref,
		 uint64_t *sig, const uint64_t **set, kiln_error *err)
{
	long ntok = tokenize(m, text, len, ref, err);
	int np = m->p.permutations, ng = m->p.ngram, has_zero = 0;
	int ident = m->p.tokens == KILN_MINHASH_IDENT;
	uint64_t mask = ident ? 0xffffffffu : UINT64_MAX;
	size_t nsh, nset = 0, cap = 16;

	m->raw = 0;
	for (int k = 0; k < np; k++)
		sig[k] = UINT64_MAX;
	if (set)
		*set = m->set;
	if (ntok < 0)
		return ntok;
	if (ntok < ng)
		return 0;
	nsh = (size_t)(ntok - ng + 1);
	while (cap < 2 * nsh)
		cap *= 2;
	if (grow((void **)&m->set, &m->set_cap, nsh, sizeof(uint64_t)) ||
	    grow((void **)&m->perm_in, &m->perm_cap, nsh, sizeof(uint64_t)) ||
	    grow((void **)&m->tab, &m->tab_cap, cap, sizeof(uint64_t)))
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	if (!ref && !ident) {
		/* the hashes first, then (when the set is asked for) the
		 * table: no probe's branch waits on a hash, so that the
		 * hashes of several shingles overlap */
		for (size_t j = 0; j < nsh; j++) {
			const char *g = m->text + m->starts[j];
			size_t glen = m->starts[j + (size_t)ng] - 1 -
				      m->starts[j];
			m->perm_in[j] = XXH64(g, glen, 0);
		}
		if (!set) {   /* a repeated shingle changes no minimum */
			nset = m->raw = nsh;
			goto permute;
		}
		memset(m->tab, 0, cap * sizeof(uint64_t));
		for (size_t j = 0; j < nsh; j++) {
			uint64_t x = m->perm_in[j];
			if (tab_insert(m->tab, cap, &has_zero, x))
				m->set[nset] = x, m->perm_in[nset++] = x;
		}
	} else {
		memset(m->tab, 0, cap * sizeof(uint64_t));
	}
	for (size_t j = 0; (ref || ident) && j < nsh; j++) {
		const char *g = m->text + m->starts[j];
		size_t glen = m->starts[j + (size_t)ng] - 1 - m->starts[j];
		uint64_t x = XXH64(g, glen, 0);
		if (ref) {   /* every shingle, no table */
			m->perm_in[0] = ident ? sha1_le32(g, glen) : x;
			permute_ref(m->perm_in, 1, m->a, m->b, np, mask, sig);
			continue;
		}
		if (!tab_insert(m->tab, cap, &has_zero, x))
			continue;
		m->set[nset] = x;
		m->perm_in[nset++] = sha1_le32(g, glen);
	}
permute:
	if (!ref)
#ifdef __AVX2__
		permute_avx2(m->perm_in, nset, m->a, m->b, m->blk, np, mask,
			     sig);
#else
		permute(m->perm_in, nset, m->a, m->b, np, mask, sig);
#endif
	if (set)
		*set = m->set;
	return ref ? (long)nsh : (long)nset;
}

long kiln_minhash_sign(kiln_minhash *m, const char *text, size_t len,
		       uint64_t *sig, const uint64_t **set, kiln_error *err)
{
	return sign(m, text, len, 0, sig, set, err);
}

long kiln_minhash_last_set(kiln_minhash *m, const uint64_t **set)
{
	size_t cap = 16, nset = 0;
	int has_zero = 0;

	*set = m->set;
	if (!m->raw)
		return -1;
	while (cap < 2 * m->raw)
		cap *= 2;
	if (grow((void **)&m->tab, &m->tab_cap, cap, sizeof(uint64_t)))
		return KILN_ENOMEM;
	memset(m->tab, 0, cap * sizeof(uint64_t));
	for (size_t j = 0; j < m->raw; j++)
		if (tab_insert(m->tab, cap, &has_zero, m->perm_in[j]))
			m->set[nset++] = m->perm_in[j];
	*set = m->set;
	return (long)nset;
}

long kiln_minhash_sign_ref(kiln_minhash *m, const char *text, size_t len,
			   uint64_t *sig, kiln_error *err)
{
	return sign(m, text, len, 1, sig, NULL, err);
}

/* ---- exact key, similarities --------------------------------------- */

uint64_t kiln_minhash_exact_key(const char *text, size_t len)
{
	XXH3_state_t st;
	size_t i = 0;

	/* Most texts are already normal: no blank line, no white space at a
	 * line's end, ending in a line feed. Then the key is the hash of the
	 * text itself (XXH3's streaming form gives the one-shot hash). One
	 * branch-free pass (vectorised) looks for a line feed after white
	 * space or another line feed, or at the start. */
	if (len && text[len - 1] == '\n' && text[0] != '\n') {
		const unsigned char *u = (const unsigned char *)text;
		unsigned bad = 0;
		for (size_t k = 1; k < len; k++)
			bad |= (u[k] == '\n') &
			       (((unsigned char)(u[k - 1] - '\t') < 5) |
				(u[k - 1] == ' '));
		if (!bad)
			return XXH3_64bits(text, len);
	}
	i = 0;

	XXH3_64bits_reset(&st);
	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - text) : len, e = end;
		while (e > i && (text[e - 1] == ' ' || text[e - 1] == '\t' ||
				 text[e - 1] == '\r' || text[e - 1] == '\f' ||
				 text[e - 1] == '\v'))
			e--;
		if (e > i) {
			XXH3_64bits_update(&st, text + i, e - i);
			XXH3_64bits_update(&st, "\n", 1);
		}
		i = end + 1;
	}
	return XXH3_64bits_digest(&st);
}

double kiln_minhash_estimate(const uint64_t *s1, const uint64_t *s2,
			     size_t n)
{
	size_t eq = 0;

	for (size_t i = 0; i < n; i++)
		eq += s1[i] == s2[i];
	return n ? (double)eq / (double)n : 0.0;
}

double kiln_minhash_jaccard(const uint64_t *a, size_t na, const uint64_t *b,
			    size_t nb)
{
	size_t cap = 16, inter = 0;
	uint64_t *tab;
	int has_zero = 0;

	if (!na && !nb)
		return 1.0;
	if (na > nb) {
		const uint64_t *t = a;
		size_t tn = na;
		a = b, na = nb, b = t, nb = tn;
	}
	while (cap < 2 * na)
		cap *= 2;
	if (!(tab = calloc(cap, sizeof *tab)))
		return -1;
	for (size_t i = 0; i < na; i++)
		tab_insert(tab, cap, &has_zero, a[i]);
	for (size_t i = 0; i < nb; i++) {
		uint64_t x = b[i];
		if (!x) {
			inter += has_zero;
			continue;
		}
		for (size_t j = (size_t)(x ^ (x >> 29)) & (cap - 1); tab[j];
		     j = (j + 1) & (cap - 1))
			if (tab[j] == x) {
				inter++;
				break;
			}
	}
	free(tab);
	return (double)inter / (double)(na + nb - inter);
}
