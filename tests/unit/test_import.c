/* Importers, on the published files in ../shared/data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "kiln/jsonl.h"
#include "kiln/task.h"

#ifndef KILN_DATA_DIR
#error "KILN_DATA_DIR must point at shared/data"
#endif

static long import_all(const char *file, kiln_import_format fmt,
		       json_t *keep)
{
	kiln_jsonl_reader *r;
	kiln_error err;
	json_t *in, *task;
	long n = 0;
	int rc;

	assert_int_equal(kiln_jsonl_open(&r, file, 0, &err), 0);
	while ((rc = kiln_jsonl_next(r, &in, &err)) == 0) {
		assert_int_equal(kiln_import_record(fmt, in, &task, &err), 0);
		json_array_append_new(keep, task);
		json_decref(in);
		n++;
	}
	assert_int_equal(rc, KILN_EEOF);
	kiln_jsonl_close(r);
	return n;
}

static void humaneval(void **state)
{
	json_t *tasks = json_array(), *t;
	kiln_job job;
	kiln_error err;

	(void)state;
	assert_int_equal(import_all(KILN_DATA_DIR "/HumanEval.jsonl.gz",
				    KILN_IMPORT_HUMANEVAL, tasks), 164);
	t = json_array_get(tasks, 0);
	assert_string_equal(json_string_value(json_object_get(t, "id")),
			    "HumanEval/0");
	assert_string_equal(json_string_value(json_object_get(t,
				"entry_point")), "has_close_elements");
	/* The solution is the prompt plus the canonical body. */
	assert_memory_equal(json_string_value(json_object_get(t, "solution")),
			    json_string_value(json_object_get(t, "prompt")),
			    json_string_length(json_object_get(t, "prompt")));
	/* The test program calls check() on the entry point itself. */
	assert_non_null(strstr(json_string_value(json_object_get(t, "tests")),
			       "\ncheck(has_close_elements)\n"));
	assert_string_equal(json_string_value(json_object_get(t, "origin")),
			    "human");
	assert_int_equal(kiln_job_from_record(t, &job, &err), 0);
	assert_int_equal(job.program, 1);
	assert_int_equal(job.ntests, 1);
	kiln_job_release(&job);
	assert_null(json_object_get(t, "test_setup"));  /* no helpers */
	/* HumanEval/32's prompt gives poly, which its test checks answers
	 * with: test-side code (test_setup), with the prompt's imports, and
	 * without the function under test. */
	t = json_array_get(tasks, 32);
	{
		const char *s = json_string_value(json_object_get(t,
							"test_setup"));
		assert_non_null(s);
		assert_non_null(strstr(s, "import math\n"));
		assert_non_null(strstr(s, "def poly(xs: list, x: float):"));
		assert_null(strstr(s, "def find_zero"));
	}
	json_decref(tasks);
}

static void mbpp(void **state)
{
	json_t *tasks = json_array(), *t;
	kiln_job job;
	kiln_error err;
	size_t i;
	long with_setup = 0;

	(void)state;
	assert_int_equal(import_all(KILN_DATA_DIR "/mbpp.jsonl",
				    KILN_IMPORT_MBPP, tasks), 974);
	t = json_array_get(tasks, 0);
	assert_string_equal(json_string_value(json_object_get(t, "id")),
			    "mbpp/1");
	assert_string_equal(json_string_value(json_object_get(t,
				"entry_point")), "min_cost");
	assert_int_equal(json_array_size(json_object_get(t, "tests")), 3);
	assert_non_null(strstr(json_string_value(json_object_get(t, "prompt")),
			       "Your code should pass these tests:"));
	json_array_foreach(tasks, i, t) {
		assert_int_equal(kiln_job_from_record(t, &job, &err), 0);
		assert_int_equal(job.program, 0);
		assert_true(job.ntests >= 1);
		if (job.setup && *job.setup)
			with_setup++;
		kiln_job_release(&job);
	}
	/* Tasks whose tests need set-up code (e.g. 367 builds trees). */
	assert_true(with_setup > 0);
	json_decref(tasks);
}

static void bad_records_are_errors(void **state)
{
	static const struct { kiln_import_format f; const char *json, *want; }
	cases[] = {
		{ KILN_IMPORT_HUMANEVAL, "{\"task_id\":\"x\"}", "'prompt'" },
		{ KILN_IMPORT_HUMANEVAL,
		  "{\"task_id\":\"x\",\"prompt\":\"\",\"canonical_solution\":"
		  "\"\",\"test\":\"\",\"entry_point\":\"a); import os; (\"}",
		  "not an identifier" },
		{ KILN_IMPORT_MBPP, "{\"task_id\":\"1\"}", "'task_id'" },
		{ KILN_IMPORT_MBPP,
		  "{\"task_id\":1,\"text\":\"t\",\"code\":\"c\","
		  "\"test_list\":[]}", "non-empty" },
		{ KILN_IMPORT_MBPP,
		  "{\"task_id\":1,\"text\":\"t\",\"code\":\"c\","
		  "\"test_list\":[3]}", "test_list[0]" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *in = json_loads(cases[i].json, 0, NULL), *out;
		kiln_error err;
		assert_non_null(in);
		assert_int_equal(kiln_import_record(cases[i].f, in, &out, &err),
				 KILN_EPARSE);
		assert_null(out);
		assert_non_null(strstr(err.msg, cases[i].want));
		json_decref(in);
	}
}

static void job_from_record_rules(void **state)
{
	static const struct { const char *json, *want; } bad[] = {
		{ "{\"solution\":\"x\",\"tests\":[\"a\"]}", "'id'" },
		{ "{\"id\":\"a\",\"tests\":[\"a\"]}", "'solution'" },
		{ "{\"id\":\"a\",\"solution\":\"x\"}", "'tests'" },
		{ "{\"id\":\"a\",\"solution\":\"x\",\"tests\":[]}", "'tests'" },
		{ "{\"id\":\"a\",\"solution\":\"x\",\"tests\":[1]}", "tests[0]" },
		/* Blank tests pass anything: refused (found by fuzzing). */
		{ "{\"id\":\"a\",\"solution\":\"x\",\"tests\":\" \\n\"}",
		  "empty test program" },
		{ "{\"id\":\"a\",\"solution\":\"x\",\"tests\":[\"ok\", \"\"]}",
		  "tests[1]" },
		{ "{\"id\":\"\",\"solution\":\"x\",\"tests\":[\"a\"]}", "'id'" },
		{ "{\"id\":\"a\",\"solution\":1,\"tests\":[\"a\"]}", "'solution'" },
		{ "{\"id\":\"a\",\"solution\":\"x\",\"tests\":[\"a\"],"
		  "\"language\":\"cobol\"}", "cobol" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *in = json_loads(bad[i].json, 0, NULL);
		kiln_job job;
		kiln_error err;
		assert_int_equal(kiln_job_from_record(in, &job, &err),
				 KILN_EPARSE);
		assert_non_null(strstr(err.msg, bad[i].want));
		json_decref(in);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(humaneval),
		cmocka_unit_test(mbpp),
		cmocka_unit_test(bad_records_are_errors),
		cmocka_unit_test(job_from_record_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
