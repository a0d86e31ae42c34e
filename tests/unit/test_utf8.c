/* The one UTF-8 decoder (kiln/utf8.h): known cases, and every input of up
 * to three bytes (and many of four) against a reference written the other
 * way round (code points first, then the ranges). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "kiln/rng.h"
#include "kiln/utf8.h"

static void check_cases(void **state)
{
	/* lengths from sizeof: a NUL byte is valid UTF-8 like any ASCII */
#define CASE(str, at) { str, sizeof(str) - 1, at }
	static const struct { const char *s; size_t n; long bad; } cases[] = {
		CASE("", -1),
		CASE("plain ascii", -1),
		CASE("nul\0inside", -1),
		CASE("caf\xc3\xa9", -1),
		CASE("\xe2\x82\xac euro", -1),
		CASE("\xf0\x9f\x98\x80", -1),          /* U+1F600 */
		CASE("\xf4\x8f\xbf\xbf", -1),          /* U+10FFFF */
		CASE("\xed\x9f\xbf", -1),              /* U+D7FF */
		CASE("ab\xff", 2),                     /* never valid */
		CASE("\xc0\xaf", 0),                   /* overlong '/' */
		CASE("\xc1\xbf", 0),                   /* overlong */
		CASE("\xe0\x80\xaf", 0),               /* overlong */
		CASE("\xf0\x8f\xbf\xbf", 0),           /* overlong */
		CASE("x\xed\xa0\x80", 1),              /* surrogate D800 */
		CASE("x\xed\xbf\xbf", 1),              /* surrogate DFFF */
		CASE("\xf4\x90\x80\x80", 0),           /* > U+10FFFF */
		CASE("\xf5\x80\x80\x80", 0),
		CASE("abc\xe2\x82", 3),                /* cut short */
		CASE("\x80", 0),                       /* lone continuation */
		CASE("ok\xc3\xa9\xc3", 4),
		CASE("\xe2\x82\0", 0),                 /* NUL is no continuation */
	};
#undef CASE

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (kiln_utf8_check(cases[i].s, cases[i].n) != cases[i].bad)
			fail_msg("case %zu: %ld, want %ld", i,
				 kiln_utf8_check(cases[i].s, cases[i].n),
				 cases[i].bad);
}

static void decode_gives_code_points_and_bad_lengths(void **state)
{
	uint32_t cp = 0;
	size_t bad = 0;

	(void)state;
	assert_int_equal(kiln_utf8_decode("A", 1, &cp, &bad), 1);
	assert_int_equal(cp, 'A');
	assert_int_equal(kiln_utf8_decode("\xc3\xa9", 2, &cp, NULL), 2);
	assert_int_equal(cp, 0xE9);
	assert_int_equal(kiln_utf8_decode("\xe2\x82\xac", 3, &cp, NULL), 3);
	assert_int_equal(cp, 0x20AC);
	assert_int_equal(kiln_utf8_decode("\xf4\x8f\xbf\xbf", 4, &cp, NULL), 4);
	assert_int_equal(cp, 0x10FFFF);
	/* Unicode's "maximal subpart": E2 82 then 'x' is one bad part of 2 */
	assert_int_equal(kiln_utf8_decode("\xe2\x82x", 3, NULL, &bad), 0);
	assert_int_equal(bad, 2);
	assert_int_equal(kiln_utf8_decode("\xed\xa0\x80", 3, NULL, &bad), 0);
	assert_int_equal(bad, 1);
	assert_int_equal(kiln_utf8_decode("\xff", 1, NULL, &bad), 0);
	assert_int_equal(bad, 1);
	assert_int_equal(kiln_utf8_decode("\xf0\x9f\x98", 3, NULL, &bad), -1);
	assert_int_equal(bad, 3);
	assert_int_equal(kiln_utf8_decode("\xf0\x8f", 2, NULL, &bad), 0);
	assert_int_equal(bad, 1);
}

static void complete_holds_back_a_cut_tail(void **state)
{
	(void)state;
	assert_int_equal(kiln_utf8_complete("ab", 2), 2);
	assert_int_equal(kiln_utf8_complete("ab\xe2\x82", 4), 2);
	assert_int_equal(kiln_utf8_complete("ab\xe2", 3), 2);
	assert_int_equal(kiln_utf8_complete("ab\xe2\x82\xac", 5), 5);
	assert_int_equal(kiln_utf8_complete("ab\xf0\x9f\x98", 5), 2);
	/* not a beginning of anything valid: shown now */
	assert_int_equal(kiln_utf8_complete("ab\xff", 3), 3);
	assert_int_equal(kiln_utf8_complete("ab\xed\xa0", 4), 4);
	assert_int_equal(kiln_utf8_complete("", 0), 0);
}

static void cut_never_splits_a_character(void **state)
{
	const char *s = "a\xe2\x82\xac" "b";   /* a, euro, b */

	(void)state;
	assert_int_equal(kiln_utf8_cut(s, 5, 10), 5);
	assert_int_equal(kiln_utf8_cut(s, 5, 5), 5);
	assert_int_equal(kiln_utf8_cut(s, 5, 4), 4);
	assert_int_equal(kiln_utf8_cut(s, 5, 3), 1);
	assert_int_equal(kiln_utf8_cut(s, 5, 2), 1);
	assert_int_equal(kiln_utf8_cut(s, 5, 1), 1);
	assert_int_equal(kiln_utf8_cut("\x80\x80\x80", 3, 2), 0);
}

/* The reference, the other way round: a character is valid if its code
 * point is a scalar value (not a surrogate, at most U+10FFFF) and encoding
 * that code point gives back exactly its bytes. */
static size_t encode(uint32_t cp, unsigned char *o)
{
	if (cp < 0x80)
		return o[0] = (unsigned char)cp, 1;
	if (cp < 0x800)
		return o[0] = (unsigned char)(0xC0 | cp >> 6),
		       o[1] = (unsigned char)(0x80 | (cp & 0x3F)), 2;
	if (cp < 0x10000)
		return o[0] = (unsigned char)(0xE0 | cp >> 12),
		       o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)),
		       o[2] = (unsigned char)(0x80 | (cp & 0x3F)), 3;
	return o[0] = (unsigned char)(0xF0 | cp >> 18),
	       o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F)),
	       o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)),
	       o[3] = (unsigned char)(0x80 | (cp & 0x3F)), 4;
}

static long ref_check(const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		int ok = 0;

		/* try every length; at most one can re-encode to itself */
		for (size_t n = 1; n <= 4 && i + n <= len && !ok; n++) {
			uint32_t cp = n == 1 ? s[i] : s[i] & (0x7Fu >> n);
			unsigned char e[4];

			for (size_t k = 1; k < n; k++)
				cp = cp << 6 | (s[i + k] & 0x3F);
			if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
				continue;
			if (encode(cp, e) == n && memcmp(e, s + i, n) == 0)
				ok = (int)n;
		}
		if (!ok)
			return (long)i;
		i += (size_t)ok;
	}
	return -1;
}

static void agrees_with_the_reference(void **state)
{
	unsigned char b[4];
	kiln_rng r;

	(void)state;
	for (uint32_t v = 0; v < (1u << 24); v++) {
		size_t n = v < 256 ? 1 : v < 65536 ? 2 : 3;

		b[0] = (unsigned char)(v >> 16), b[1] = (unsigned char)(v >> 8);
		b[2] = (unsigned char)v;
		/* the same bytes, left-aligned */
		memmove(b, b + 3 - n, n);
		if (kiln_utf8_check((const char *)b, n) != ref_check(b, n))
			fail_msg("%02x %02x %02x (n %zu): %ld, reference %ld",
				 b[0], b[1], b[2], n,
				 kiln_utf8_check((const char *)b, n),
				 ref_check(b, n));
	}
	kiln_rng_seed(&r, 1);
	for (int i = 0; i < 4000000; i++) {
		uint64_t x = kiln_rng_next(&r);

		memcpy(b, &x, 4);
		b[0] |= 0xF0 * (i & 1); /* half of them four-byte leads */
		if (kiln_utf8_check((const char *)b, 4) != ref_check(b, 4))
			fail_msg("%02x %02x %02x %02x", b[0], b[1], b[2], b[3]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(check_cases),
		cmocka_unit_test(decode_gives_code_points_and_bad_lengths),
		cmocka_unit_test(complete_holds_back_a_cut_tail),
		cmocka_unit_test(cut_never_splits_a_character),
		cmocka_unit_test(agrees_with_the_reference),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
