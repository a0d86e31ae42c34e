/* The one generator (kiln/rng.h): known answers, so that sampling, weight
 * initialisation and data splits keep their streams. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kiln/rng.h"

/* splitmix64 from state 0, as published with the algorithm. */
static void split_known_answers(void **state)
{
	uint64_t s = 0;

	(void)state;
	assert_true(kiln_rng_split(&s) == 0xe220a8397b1dcdafull);
	assert_true(kiln_rng_split(&s) == 0x6e789e6aa1b965f4ull);
	assert_true(kiln_rng_split(&s) == 0x06c45d188009454full);
	assert_true(s == 3 * 0x9e3779b97f4a7c15ull);
}

static void mix_is_split_on_a_copy(void **state)
{
	uint64_t s = 12345;

	(void)state;
	assert_true(kiln_rng_mix(12345) == 0x22118258a9d111a0ull);
	assert_true(kiln_rng_mix(12345) == kiln_rng_split(&s));
	assert_true(s != 12345);
}

/* xoshiro256** seeded with 42 through splitmix64 (values from an
 * independent Python rendering of both algorithms). */
static void xoshiro_known_answers(void **state)
{
	static const uint64_t want[] = {
		0x15780b2e0c2ec716ull, 0x6104d9866d113a7eull,
		0xae17533239e499a1ull, 0xecb8ad4703b360a1ull,
	};
	kiln_rng r;

	(void)state;
	kiln_rng_seed(&r, 42);
	for (int i = 0; i < 4; i++)
		assert_true(kiln_rng_next(&r) == want[i]);
}

static void doubles_in_unit_interval(void **state)
{
	kiln_rng r, q;
	double sum = 0;

	(void)state;
	kiln_rng_seed(&r, 7);
	kiln_rng_seed(&q, 7);
	for (int i = 0; i < 100000; i++) {
		double u = kiln_rng_double(&r);

		assert_true(u >= 0.0 && u < 1.0);
		assert_true(u == (double)(kiln_rng_next(&q) >> 11) * 0x1.0p-53);
		sum += u;
	}
	assert_true(sum / 100000 > 0.49 && sum / 100000 < 0.51);
}

/* What the sampler relies on: a seed names one stream. */
static void a_seed_names_one_stream(void **state)
{
	kiln_rng a, b, c;
	int differ = 0;

	(void)state;
	kiln_rng_seed(&a, 99);
	kiln_rng_seed(&b, 99);
	kiln_rng_seed(&c, 100);
	for (int i = 0; i < 1000; i++) {
		uint64_t x = kiln_rng_next(&a);

		assert_true(x == kiln_rng_next(&b));
		differ += x != kiln_rng_next(&c);
	}
	assert_true(differ > 990);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(split_known_answers),
		cmocka_unit_test(mix_is_split_on_a_copy),
		cmocka_unit_test(xoshiro_known_answers),
		cmocka_unit_test(doubles_in_unit_interval),
		cmocka_unit_test(a_seed_names_one_stream),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
