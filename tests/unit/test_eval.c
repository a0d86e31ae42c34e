/* The pass@k estimator against exact binomial ratios; what kiln_generate
 * and kiln_eval refuse before they send anything (no store, no server:
 * a refusal must come first). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <string.h>

#include "kiln/eval.h"
#include "kiln/llm.h"

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

static json_t *one_task(const char *lang)
{
	json_t *tasks = json_pack("[{ss ss}]", "id", "t/0", "prompt",
				  "add two numbers");
	if (lang)
		json_object_set_new(json_array_get(tasks, 0), "language",
				    json_string(lang));
	return tasks;
}

/* Refused with KILN_EINVAL or KILN_EPARSE and a message holding want,
 * before the store (NULL here) is touched. */
static void refused(const json_t *tasks, const kiln_generate_opts *o,
		    const char *want)
{
	kiln_generate_stats st;
	kiln_error err = { 0 };
	int rc = kiln_generate(tasks, NULL, NULL, o, &st, &err);

	assert_true(rc == KILN_EINVAL || rc == KILN_EPARSE);
	if (!strstr(err.msg, want))
		fail_msg("'%s' does not say '%s'", err.msg, want);
}

/* Request i of a task is sent seed + i: a seed near LONG_MAX overflowed
 * (undefined behaviour) instead of being refused. */
static void generate_refuses_a_seed_that_overflows(void **state)
{
	json_t *tasks = one_task(NULL);
	kiln_generate_opts o;
	(void)state;
	kiln_generate_opts_default(&o);
	o.llm.base_url = "http://127.0.0.1:9/v1";
	o.k = 4;
	o.n = 2;
	o.seed = LONG_MAX;
	refused(tasks, &o, "seed");
	o.seed = LONG_MAX - 2;   /* 2 solution requests, 4 follow-ups, 1 test */
	refused(tasks, &o, "too large");
	json_decref(tasks);
}

static void generate_refuses_before_sending(void **state)
{
	json_t *tasks = one_task("cobol");
	kiln_generate_opts o;
	(void)state;
	kiln_generate_opts_default(&o);
	o.llm.base_url = "http://127.0.0.1:9/v1";
	refused(tasks, &o, "cobol");
	json_decref(tasks);
	tasks = one_task("python");
	o.tmpl_solution = "";
	refused(tasks, &o, "the solution template is empty");
	o.tmpl_solution = "{prompt} {nope}";
	refused(tasks, &o, "{nope}");
	o.tmpl_solution = NULL;
	o.tmpl_tests = "";
	refused(tasks, &o, "the tests template is empty");
	json_decref(tasks);
}

/* eval counted a repeated task twice; a task without tests was found only
 * by the sandbox, after every request, in an intermediate file. */
static void eval_checks_its_tasks(void **state)
{
	kiln_error err = { 0 };
	json_t *tasks = json_pack("[{ss ss s[s]} {ss ss s[s]}]",
		"id", "a", "prompt", "p", "tests", "assert 1",
		"id", "b", "prompt", "p", "tests", "assert 1");
	(void)state;
	assert_int_equal(kiln_eval_check_tasks(tasks, &err), 0);
	json_object_set_new(json_array_get(tasks, 1), "id", json_string("a"));
	assert_int_equal(kiln_eval_check_tasks(tasks, &err), KILN_EPARSE);
	assert_non_null(strstr(err.msg, "task 2: id 'a' again (task 1"));
	json_object_set_new(json_array_get(tasks, 1), "id", json_string("b"));
	json_object_del(json_array_get(tasks, 1), "tests");
	assert_int_equal(kiln_eval_check_tasks(tasks, &err), KILN_EPARSE);
	assert_non_null(strstr(err.msg, "task 2 (b): "));
	json_object_set_new(json_array_get(tasks, 1), "tests",
			    json_pack("[s]", "assert 1"));
	json_object_set_new(json_array_get(tasks, 0), "language",
			    json_string("cobol"));
	assert_int_equal(kiln_eval_check_tasks(tasks, &err), KILN_EPARSE);
	assert_non_null(strstr(err.msg, "task 1 (a): unknown language"));
	json_decref(tasks);
}

/* \u0000 is valid JSON, which a model may say: the answer is an answer
 * (its text is then refused where it is read, generate.c), not a failed
 * request retried six times (kiln serve's random model said it: CI). */
static void an_answer_may_hold_a_nul(void **state)
{
	const char ok[] = "{\"choices\": [{\"index\": 0, \"message\": "
			  "{\"role\": \"assistant\", \"content\": "
			  "\"a\\u0000b\"}}], \"usage\": {\"prompt_tokens\": 3, "
			  "\"completion_tokens\": 2}}";
	const char bad[] = "{\"choices\": [";
	long in, out;
	kiln_error err;

	(void)state;
	assert_int_equal(kiln_llm_check_answer(ok, sizeof(ok) - 1, &in, &out,
					       &err), 0);
	assert_int_equal(in, 3);
	assert_int_equal(out, 2);
	assert_int_equal(kiln_llm_check_answer(bad, sizeof(bad) - 1, &in,
					       &out, &err), KILN_EPARSE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(known_values),
		cmocka_unit_test(an_answer_may_hold_a_nul),
		cmocka_unit_test(matches_the_binomial_formula),
		cmocka_unit_test(large_n),
		cmocka_unit_test(generate_refuses_a_seed_that_overflows),
		cmocka_unit_test(generate_refuses_before_sending),
		cmocka_unit_test(eval_checks_its_tasks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
