/* The pass@k estimator against exact binomial ratios. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "kiln/eval.h"

static double choose(int n, int k)
{
	double r = 1;
	if (k < 0 || k > n)
		return 0;
	for (int i = 1; i <= k; i++)
		r = r * (n - k + i) / i;
	return r;
}

static void known_values(void **state)
{
	(void)state;
	assert_true(fabs(kiln_pass_at_k(10, 0, 1) - 0.0) < 1e-12);
	assert_true(fabs(kiln_pass_at_k(10, 10, 1) - 1.0) < 1e-12);
	assert_true(fabs(kiln_pass_at_k(10, 3, 1) - 0.3) < 1e-12);
	assert_true(fabs(kiln_pass_at_k(5, 1, 2) - 0.4) < 1e-12);
	assert_true(fabs(kiln_pass_at_k(10, 3, 10) - 1.0) < 1e-12);
	assert_true(isnan(kiln_pass_at_k(5, 1, 6)));
	assert_true(isnan(kiln_pass_at_k(5, 6, 1)));
}

/* Equal to 1 - C(n-c, k) / C(n, k) wherever that is computable. */
static void matches_the_binomial_formula(void **state)
{
	(void)state;
	for (int n = 1; n <= 40; n++)
		for (int c = 0; c <= n; c++)
			for (int k = 1; k <= n; k++) {
				double want = 1 - choose(n - c, k) / choose(n, k);
				assert_true(fabs(kiln_pass_at_k(n, c, k) - want)
					    < 1e-9);
			}
}

/* Large n does not overflow. */
static void large_n(void **state)
{
	double p = kiln_pass_at_k(1000, 10, 100);
	(void)state;
	assert_true(p > 0.6 && p < 0.7);   /* 1 - 0.9^10 ~ 0.651 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(known_values),
		cmocka_unit_test(matches_the_binomial_formula),
		cmocka_unit_test(large_n),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
