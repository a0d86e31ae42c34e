/* The fast path of reading a dedup record (dedup_int.h): a validating
 * scanner that accepts a subset of what jansson accepts and gives up on
 * the rest, so that jansson stays the judge of every line it does not
 * take. fuzz_dedup_scan checks that whatever it accepts, jansson accepts
 * too, with the same values. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "curate/dedup_int.h"

#define MAX_DEPTH 64
#define MAX_KEYS 64

typedef struct scan {
	const char *p, *end;
	int depth;
} scan;

static void ws(scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
				 *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

#ifdef __AVX2__
#include <immintrin.h>

/* The bytes of the 32 at p that are '"', '\\' or controls, as a mask. */
static inline uint32_t special32(const char *p)
{
	__m256i x = _mm256_loadu_si256((const __m256i *)(const void *)p);
	__m256i c = _mm256_cmpeq_epi8(_mm256_min_epu8(x,
					_mm256_set1_epi8(0x1f)), x);
	c = _mm256_or_si256(c, _mm256_cmpeq_epi8(x, _mm256_set1_epi8('"')));
	c = _mm256_or_si256(c, _mm256_cmpeq_epi8(x, _mm256_set1_epi8('\\')));
	return (uint32_t)_mm256_movemask_epi8(c);
}
#endif

/* The end of the run of bytes at p that are neither '"', '\\' nor
 * controls (< 0x20): 32 bytes a step with AVX2, then 8 (a byte's test
 * borrows only from the bytes after a hit, so "some hit in the word" is
 * exact), then byte by byte from the word with the hit. With out (room
 * for the run and 32 bytes more), the run is copied there too. */
static const char *plain_run_copy(const char *p, const char *end, char *out)
{
	const uint64_t ones = 0x0101010101010101ull, high = ones << 7;

#ifdef __AVX2__
	while (end - p >= 32) {
		uint32_t m = special32(p);
		if (out)   /* all 32, whatever the run's length */
			memcpy(out, p, 32);
		if (m)
			return p + __builtin_ctz(m);
		p += 32;
		out = out ? out + 32 : NULL;
	}
#endif
	const char *q = p;
	while (end - p >= 8) {
		uint64_t x, qq, b;
		memcpy(&x, p, 8);
		qq = x ^ (ones * '"'), b = x ^ (ones * '\\');
		if ((((qq - ones) & ~qq) | ((b - ones) & ~b) |
		     (x - ones * 0x20)) & ~x & high)
			break;
		p += 8;
	}
	while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
		p++;
	if (out)
		memcpy(out, q, (size_t)(p - q));
	return p;
}

/* The escape at p (a backslash) as the byte it stands for, or -1 for
 * what the scanner gives up on (\u escapes, anything unknown). */
static int unescape(char c)
{
	switch (c) {
	case 'b': return '\b';
	case 'f': return '\f';
	case 'n': return '\n';
	case 'r': return '\r';
	case 't': return '\t';
	case '"': case '\\': case '/': return c;
	default: return -1;
	}
}

/* A string at s->p (the opening quote), in one pass: [*a, *b) its raw
 * inside when it has no escape (*esc 0), else (*esc 1) with buf its
 * text decoded into *buf (grown as needed), without buf its raw inside.
 * 0 to give up, -1 when out of memory. */
static int string_at(scan *s, const char **a, const char **b, int *esc,
		     char **buf, size_t *cap)
{
	const char *p = s->p + 1, *start = p;
	size_t o = 0;

	*esc = 0;
	for (;;) {
		const char *q = plain_run_copy(p, s->end,
					       *esc && buf ? *buf + o : NULL);
		o += *esc && buf ? (size_t)(q - p) : 0;
		p = q;
		if (p >= s->end || (unsigned char)*p < 0x20)
			return 0;
		if (*p == '"')
			break;
		int c = p + 1 < s->end ? unescape(p[1]) : -1;
		if (c < 0)
			return 0;
		if (!*esc && buf) {   /* the first escape: decode from here */
			size_t need = (size_t)(s->end - start) + 33;
			if (need > *cap) {
				char *n = realloc(*buf, need);
				if (!n)
					return -1;
				*buf = n, *cap = need;
			}
			o = (size_t)(p - start);
			memcpy(*buf, start, o);
		}
		*esc = 1;
		if (buf)
			(*buf)[o++] = (char)c;
		p += 2;
	}
	if (*esc && buf) {
		(*buf)[o] = '\0';
		*a = *buf, *b = *buf + o;
	} else {
		*a = start, *b = p;
	}
	s->p = p + 1;
	return 1;
}

static int string(scan *s, const char **a, const char **b, int *esc)
{
	return string_at(s, a, b, esc, NULL, NULL);
}

/* A number; *v (unless v is NULL: checked only) its value. Gives up on
 * forms jansson might refuse (too many digits, three-digit exponents). An
 * integer of at most 15 digits is exact as a double, so summed here;
 * other forms go through strtod. */
static int number(scan *s, double *v)
{
	const char *p = s->p, *start = p;
	int digits = 0, integer = 1;

	if (p < s->end && *p == '-')
		p++;
	if (p < s->end && *p == '0')
		p++, digits = 1;
	else if (p < s->end && *p >= '1' && *p <= '9')
		for (; p < s->end && *p >= '0' && *p <= '9'; p++)
			digits++;
	else
		return 0;
	if (p < s->end && *p == '.') {
		p++, integer = 0;
		if (p >= s->end || !(*p >= '0' && *p <= '9'))
			return 0;
		for (; p < s->end && *p >= '0' && *p <= '9'; p++)
			digits++;
	}
	if (p < s->end && (*p == 'e' || *p == 'E')) {
		int ed = 0;
		p++, integer = 0;
		if (p < s->end && (*p == '+' || *p == '-'))
			p++;
		for (; p < s->end && *p >= '0' && *p <= '9'; p++)
			ed++;
		if (!ed || ed > 2)
			return 0;
	}
	if (digits > 15)
		return 0;
	if (!v || integer) {
		double x = 0;
		if (v) {
			for (const char *q = start + (*start == '-'); q < p;
			     q++)
				x = x * 10 + (*q - '0');
			*v = *start == '-' ? -x : x;   /* -0 as strtod's */
		}
		s->p = p;
		return 1;
	}
	char tmp[64];
	if ((size_t)(p - start) >= sizeof tmp)
		return 0;
	memcpy(tmp, start, (size_t)(p - start));
	tmp[p - start] = '\0';
	*v = strtod(tmp, NULL);
	if (!isfinite(*v))
		return 0;
	s->p = p;
	return 1;
}

/* A member's key at s->p, then its ':': [*a, *b) the key, which must be
 * new among the object's keys so far (ka, kb, *nk; compared raw, so a key
 * with escapes gives up), then added. 0 to give up. */
static int key(scan *s, const char **ka, const char **kb, int *nk,
	       const char **a, const char **b)
{
	int esc;

	if (s->p >= s->end || *s->p != '"' || !string(s, a, b, &esc) || esc ||
	    *nk == MAX_KEYS)
		return 0;
	for (int i = 0; i < *nk; i++)
		if (kb[i] - ka[i] == *b - *a &&
		    !memcmp(ka[i], *a, (size_t)(*b - *a)))
			return 0;
	ka[*nk] = *a, kb[(*nk)++] = *b;
	ws(s);
	if (s->p >= s->end || *s->p != ':')
		return 0;
	s->p++;
	ws(s);
	return 1;
}

static int value(scan *s);

/* An object or array at s->p; duplicate keys (compared raw: keys with
 * escapes give up) give up, as jansson rejects them. */
static int container(scan *s)
{
	int obj = *s->p == '{';
	const char *ka[MAX_KEYS], *kb[MAX_KEYS];
	int nk = 0;

	if (++s->depth > MAX_DEPTH)
		return 0;
	s->p++;
	ws(s);
	if (s->p < s->end && *s->p == (obj ? '}' : ']')) {
		s->p++;
		s->depth--;
		return 1;
	}
	for (;;) {
		const char *a, *b;
		if (obj && !key(s, ka, kb, &nk, &a, &b))
			return 0;
		if (!value(s))
			return 0;
		ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			ws(s);
			continue;
		}
		if (s->p < s->end && *s->p == (obj ? '}' : ']')) {
			s->p++;
			s->depth--;
			return 1;
		}
		return 0;
	}
}

static int literal(scan *s, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n))
		return 0;
	s->p += n;
	return 1;
}

static int value(scan *s)
{
	const char *a, *b;
	int esc;

	if (s->p >= s->end)
		return 0;
	switch (*s->p) {
	case '"':
		return string(s, &a, &b, &esc);
	case '{':
	case '[':
		return container(s);
	case 't':
		return literal(s, "true");
	case 'f':
		return literal(s, "false");
	case 'n':
		return literal(s, "null");
	default:
		return number(s, NULL);
	}
}

int kiln__dedup_scan(const char *line, size_t len, const char *field,
		     kiln__dedup_fields *out, char **buf, size_t *cap)
{
	scan s = { line, line + len, 1 };
	const char *ka[MAX_KEYS], *kb[MAX_KEYS];
	const char *fa = NULL, *fb = NULL;
	size_t flen = strlen(field);
	int nk = 0;

	memset(out, 0, sizeof *out);
	out->tests = out->reward = -INFINITY;
	ws(&s);
	if (s.p >= s.end || *s.p != '{')
		return 0;
	s.p++;
	ws(&s);
	if (s.p < s.end && *s.p == '}')
		return 0;   /* no field: jansson's path says so */
	for (;;) {
		const char *a, *b, *va;
		if (!key(&s, ka, kb, &nk, &a, &b))
			return 0;
		size_t kl = (size_t)(b - a);
		va = s.p;
		if (kl == flen && !memcmp(a, field, kl)) {
			int rc, esc;
			if (s.p >= s.end || *s.p != '"')
				return 0;
			if ((rc = string_at(&s, &fa, &fb, &esc, buf, cap)) <= 0)
				return rc;
		} else if ((kl == 12 && !memcmp(a, "tests_passed", 12)) ||
			   (kl == 6 && !memcmp(a, "reward", 6))) {
			double v;
			if (s.p < s.end && (*s.p == '-' || (*s.p >= '0' &&
							    *s.p <= '9'))) {
				if (!number(&s, &v))
					return 0;
				*(kl == 6 ? &out->reward : &out->tests) = v;
			} else if (!value(&s)) {
				return 0;
			}
		} else if (kl == 8 && !memcmp(a, "mutation", 8)) {
			return 0;
		} else if (!value(&s)) {
			return 0;
		}
		if (kl == 2 && !memcmp(a, "id", 2))
			out->id = va, out->id_len = (size_t)(s.p - va);
		if ((kl == 5 && !memcmp(a, "dedup", 5)) ||
		    (kl == 7 && !memcmp(a, "dropped", 7)))
			out->reparse = 1;
		ws(&s);
		if (s.p < s.end && *s.p == ',') {
			s.p++;
			ws(&s);
			continue;
		}
		if (s.p < s.end && *s.p == '}')
			break;
		return 0;
	}
	s.p++;
	ws(&s);
	if (s.p != s.end || !fa)
		return 0;
	out->text = fa, out->text_len = (size_t)(fb - fa);
	return 1;
}
