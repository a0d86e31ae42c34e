/* kiln select: known answers for strict and relaxed thresholds, CodeT
 * (a planted correct cluster beats a larger wrong one), distinct
 * solutions per task, the judge required, grouped input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "kiln/select.h"
#include "tmpdir.h"

/* A verdict: its tests' pattern as a string of 1 and 0. */
static void put(FILE *f, const char *id, int cand, const char *pat,
		const char *judge, const char *sol)
{
	size_t n = strlen(pat), passed = 0;

	fprintf(f, "{\"id\":\"%s\",\"candidate\":%d,\"tests\":[", id, cand);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%s{\"status\":\"%s\",\"judge\":\"%s\"}",
			i ? "," : "", pat[i] == '1' ? "pass" : "fail", judge);
		passed += pat[i] == '1';
	}
	fprintf(f, "],\"status\":\"%s\",\"tests_passed\":%zu,\"tests_total\":"
		"%zu,\"judge\":\"%s\",\"solution\":\"%s\"}\n",
		passed == n ? "pass" : "fail", passed, n, judge, sol);
}

/* Runs select over path; kept[] gets "id:candidate" of each kept
 * record, in order, reasons[] each dropped one's reason. */
static int run(const char *path, const kiln_select_opts *o, char *kept,
	       char *reasons, kiln_stage_stats *st, kiln_error *err)
{
	char outp[300], dp[300];
	kiln_jsonl_reader *in;
	kiln_out *out, *dropped;
	json_t *rec;
	int rc;

	snprintf(outp, sizeof outp, "%s/kept.jsonl", dir);
	snprintf(dp, sizeof dp, "%s/dropped.jsonl", dir);
	assert_int_equal(kiln_jsonl_open(&in, path, 0, err), 0);
	assert_int_equal(kiln_out_open(&out, outp, err), 0);
	assert_int_equal(kiln_out_open(&dropped, dp, err), 0);
	rc = kiln_select(&in, 1, out, dropped, o, st, err);
	kiln_jsonl_close(in);
	if (rc) {
		kiln_out_abort(out);
		kiln_out_abort(dropped);
		return rc;
	}
	assert_int_equal(kiln_out_commit(out, err), 0);
	assert_int_equal(kiln_out_commit(dropped, err), 0);
	kept[0] = reasons[0] = '\0';
	for (int pass = 0; pass < 2; pass++) {
		char *buf = pass ? reasons : kept;
		assert_int_equal(kiln_jsonl_open(&in, pass ? dp : outp, 0, err),
				 0);
		while (kiln_jsonl_next(in, &rec, err) == 0) {
			size_t n = strlen(buf);
			if (pass)
				snprintf(buf + n, 512 - n, "%s%s", n ? " " : "",
					 json_string_value(json_object_get(
						json_object_get(rec, "dropped"),
						"reason")));
			else
				snprintf(buf + n, 512 - n, "%s%s:%d",
					 n ? " " : "", json_string_value(
					 json_object_get(rec, "id")),
					 (int)json_integer_value(json_object_get(
						rec, "candidate")));
			json_decref(rec);
		}
		kiln_jsonl_close(in);
	}
	return 0;
}

static FILE *input(char *path, size_t n)
{
	snprintf(path, n, "%s/in.jsonl", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	return f;
}

static void strict_and_relaxed(void **state)
{
	kiln_select_opts o;
	kiln_stage_stats st;
	kiln_error err;
	char path[300], kept[512], why[512];
	FILE *f = input(path, sizeof path);

	(void)state;
	put(f, "a", 0, "11111", "isolated", "a0");
	put(f, "b", 0, "10", "isolated", "b0");
	put(f, "a", 1, "11110", "isolated", "a1");   /* interleaved */
	put(f, "a", 2, "00000", "isolated", "a2");
	put(f, "b", 1, "11", "isolated", "b1");
	fclose(f);
	kiln_select_opts_default(&o);
	assert_int_equal(run(path, &o, kept, why, &st, &err), 0);
	assert_string_equal(kept, "a:0 b:1");
	assert_string_equal(why, "below_min_pass below_min_pass "
			    "below_min_pass");
	assert_int_equal((int)st.entered, 5);
	kiln_stage_stats_free(&st);
	o.min_pass = 0.8;
	assert_int_equal(run(path, &o, kept, why, &st, &err), 0);
	assert_string_equal(kept, "a:0 a:1 b:1");   /* input order */
	kiln_stage_stats_free(&st);
}

static void codet_small_right_cluster_wins(void **state)
{
	kiln_select_opts o;
	kiln_stage_stats st;
	kiln_error err;
	char path[300], kept[512], why[512];
	FILE *f = input(path, sizeof path);

	(void)state;
	/* 8 generated tests; 6, 7 are wrong. Right: 2 candidates x 6 tests
	 * = 12; wrong: 4 candidates x 2 tests = 8; noise alone. A majority
	 * vote on outputs would pick the wrong four. */
	put(f, "t", 0, "00000011", "isolated", "w0");
	put(f, "t", 1, "11111100", "isolated", "r1");
	put(f, "t", 2, "00000011", "isolated", "w2");
	put(f, "t", 3, "10100000", "isolated", "n3");
	put(f, "t", 4, "00000011", "isolated", "w4");
	put(f, "t", 5, "11111100", "isolated", "r5");
	put(f, "t", 6, "00000011", "isolated", "w6");
	put(f, "u", 0, "000", "isolated", "z");   /* passes nothing */
	fclose(f);
	kiln_select_opts_default(&o);
	o.codet = 1;
	assert_int_equal(run(path, &o, kept, why, &st, &err), 0);
	assert_string_equal(kept, "t:1 t:5");
	assert_int_equal((int)st.dropped[2], 6);   /* codet_group */
	kiln_stage_stats_free(&st);
	o.codet_groups = 2;
	assert_int_equal(run(path, &o, kept, why, &st, &err), 0);
	assert_string_equal(kept, "t:0 t:1 t:2 t:4 t:5 t:6");
	kiln_stage_stats_free(&st);
}

static void per_task_distinct_and_judge(void **state)
{
	kiln_select_opts o;
	kiln_stage_stats st;
	kiln_error err;
	char path[300], kept[512], why[512];
	FILE *f = input(path, sizeof path);

	(void)state;
	put(f, "t", 0, "11", "isolated", "def f(x):\\n    return x + 1\\n");
	put(f, "t", 1, "11", "isolated", "def f(x):  # same\\n"
	    "    return x+1");
	put(f, "t", 2, "11", "io", "def f(x):\\n    return 1 + x\\n");
	put(f, "t", 3, "11", "in-process", "def f(x):\\n    return -~x\\n");
	put(f, "t", 4, "11", "isolated", "def f(x):\\n    return x - -1\\n");
	fclose(f);
	kiln_select_opts_default(&o);
	o.per_task = 2;
	assert_int_equal(run(path, &o, kept, why, &st, &err), 0);
	assert_string_equal(kept, "t:0 t:2");
	assert_string_equal(why, "duplicate per_task per_task");
	kiln_stage_stats_free(&st);
	kiln_select_opts_default(&o);
	o.require_judge = KILN_JUDGE_ISOLATED;
	assert_int_equal(run(path, &o, kept, why, &st, &err), 0);
	assert_string_equal(kept, "t:0 t:1 t:2 t:4");
	assert_string_equal(why, "judge");
	kiln_stage_stats_free(&st);
	o.require_judge = KILN_JUDGE_IO;
	assert_int_equal(run(path, &o, kept, why, &st, &err), 0);
	assert_string_equal(kept, "t:2");
	kiln_stage_stats_free(&st);
}

static void grouped_input(void **state)
{
	kiln_select_opts o;
	kiln_stage_stats st;
	kiln_error err;
	char path[300], kept[512], why[512];
	FILE *f = input(path, sizeof path);

	(void)state;
	put(f, "a", 0, "1", "isolated", "x");
	put(f, "a", 1, "0", "isolated", "x");
	put(f, "b", 0, "1", "isolated", "x");
	put(f, "c", 0, "1", "isolated", "x");
	fclose(f);
	kiln_select_opts_default(&o);
	o.grouped = 1;
	assert_int_equal(run(path, &o, kept, why, &st, &err), 0);
	assert_string_equal(kept, "a:0 b:0 c:0");
	kiln_stage_stats_free(&st);
	f = fopen(path, "a");
	put(f, "a", 2, "1", "isolated", "x");   /* comes back */
	fclose(f);
	assert_int_equal(run(path, &o, kept, why, &st, &err), KILN_EPARSE);
	assert_non_null(strstr(err.msg, "in.jsonl:5"));
	kiln_stage_stats_free(&st);
	/* a record without what select needs */
	f = input(path, sizeof path);
	fputs("{\"id\": \"a\", \"status\": \"pass\"}\n", f);
	fclose(f);
	kiln_select_opts_default(&o);
	assert_int_equal(run(path, &o, kept, why, &st, &err), KILN_EPARSE);
	assert_non_null(strstr(err.msg, "tests_total"));
	kiln_stage_stats_free(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(strict_and_relaxed),
		cmocka_unit_test(codet_small_right_cluster_wins),
		cmocka_unit_test(per_task_distinct_and_judge),
		cmocka_unit_test(grouped_input),
	};
	return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
