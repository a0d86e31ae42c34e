/* kiln_verify_stream: parallel boxes, ordered verdicts, bad input, and
 * relative timeouts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kiln/verify.h"

#include "tmpdir.h"

static void opts_init(kiln_verify_opts *o, int jobs)
{
	memset(o, 0, sizeof(*o));
	kiln_limits_default(&o->box.limits);
	o->box.limits.timeout_ms = 2000;
	o->jobs = jobs;
}

/* Verifies the lines of text; returns the verdicts read back. */
static json_t *verify_text(const char *text, const kiln_verify_opts *o,
			   int want_rc, kiln_verify_stats *st, kiln_error *err)
{
	char in_path[256], out_path[256];
	kiln_jsonl_reader *in, *back;
	kiln_out *out;
	json_t *all = json_array(), *v;
	FILE *f;

	snprintf(in_path, sizeof(in_path), "%s/in.jsonl", dir);
	snprintf(out_path, sizeof(out_path), "%s/out.jsonl", dir);
	f = fopen(in_path, "w");
	fputs(text, f);
	fclose(f);
	assert_int_equal(kiln_jsonl_open(&in, in_path, 0, err), 0);
	assert_int_equal(kiln_out_open(&out, out_path, err), 0);
	assert_int_equal(kiln_verify_stream(in, out, o, st, err), want_rc);
	kiln_jsonl_close(in);
	assert_int_equal(kiln_out_commit(out, err), 0);
	assert_int_equal(kiln_jsonl_open(&back, out_path, 0, err), 0);
	while (kiln_jsonl_next(back, &v, err) == 0)
		json_array_append_new(all, v);
	kiln_jsonl_close(back);
	return all;
}

/* Records that finish in a different order still come out in order. */
static void verdicts_keep_input_order(void **state)
{
	char *text = calloc(1, 64 * 1024);
	kiln_verify_opts o;
	kiln_verify_stats st;
	kiln_error err;
	json_t *all;
	size_t n = 40;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		/* Every 3rd record sleeps, every 5th fails. */
		char line[512];
		snprintf(line, sizeof(line),
			 "{\"id\":\"t%zu\",\"candidate\":%zu,\"extra\":[1],"
			 "\"solution\":\"import time\\ntime.sleep(%s)\\n"
			 "def f():\\n    return %d\\n\","
			 "\"tests\":[\"assert f() == 1\"]}\n",
			 i, i % 4, i % 3 == 0 ? "0.05" : "0", i % 5 ? 1 : 2);
		strcat(text, line);
	}
	opts_init(&o, 3);
	all = verify_text(text, &o, 0, &st, &err);
	free(text);
	assert_int_equal(json_array_size(all), n);
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(all, i);
		char id[16];
		snprintf(id, sizeof(id), "t%zu", i);
		assert_string_equal(json_string_value(json_object_get(v, "id")),
				    id);
		assert_int_equal(json_integer_value(json_object_get(v,
					"candidate")), (json_int_t)(i % 4));
		assert_string_equal(json_string_value(json_object_get(v,
					"status")), i % 5 ? "pass" : "fail");
	}
	assert_int_equal(st.verdicts, (long)n);
	assert_int_equal(st.status[KILN_FAIL], 8);
	assert_int_equal(st.status[KILN_PASS], 32);
	json_decref(all);
}

static const char mixed[] =
	"{\"id\":\"a\",\"solution\":\"x=1\",\"tests\":[\"assert x==1\"]}\n"
	"{\"id\":\"b\",\"solution\":\"x=1\"}\n"
	"{\"id\":\"c\",\"solution\":\"x=1\",\"tests\":[\"assert x==2\"]}\n"
	"not json\n"
	"{\"id\":\"d\",\"solution\":\"x=1\",\"tests\":[\"assert x==1\"]}\n";

/* Stop: the error names file and line; verdicts before it are kept. */
static void bad_line_stops(void **state)
{
	kiln_verify_opts o;
	kiln_verify_stats st;
	kiln_error err;
	json_t *all;

	(void)state;
	opts_init(&o, 2);
	all = verify_text(mixed, &o, KILN_EPARSE, &st, &err);
	assert_non_null(strstr(err.msg, "in.jsonl:2: "));
	assert_non_null(strstr(err.msg, "'tests'"));
	assert_int_equal(json_array_size(all), 1);
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(all, 0), "id")), "a");
	json_decref(all);
}

struct seen { int n; char last[512]; };

static void on_bad(void *ctx, const kiln_error *err)
{
	struct seen *s = ctx;
	s->n++;
	snprintf(s->last, sizeof(s->last), "%s", err->msg);
}

static void bad_line_skipped(void **state)
{
	kiln_verify_opts o;
	kiln_verify_stats st;
	kiln_error err;
	struct seen seen = { 0, "" };
	json_t *all;

	(void)state;
	opts_init(&o, 2);
	o.skip_bad = 1;
	o.bad_line = on_bad;
	o.ctx = &seen;
	all = verify_text(mixed, &o, 0, &st, &err);
	assert_int_equal(json_array_size(all), 3);
	assert_int_equal(st.bad_lines, 2);
	assert_int_equal(seen.n, 2);
	assert_non_null(strstr(seen.last, "in.jsonl:4: "));
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(all, 2), "id")), "d");
	json_decref(all);
}

/* With a factor, the timeout follows the reference: a candidate 20x
 * slower than a fast reference times out although it would finish well
 * within the absolute limit. */
static void relative_timeout(void **state)
{
	kiln_verify_opts o;
	kiln_verify_stats st;
	kiln_error err;
	json_t *all, *refs;
	const char *cands =
		"{\"id\":\"t\",\"candidate\":0,\"solution\":\"import time\\n"
		"def f():\\n    time.sleep(0.6)\\n    return 1\\n\","
		"\"tests\":[\"assert f() == 1\"]}\n"
		"{\"id\":\"t\",\"candidate\":1,\"solution\":\"def f():\\n"
		"    return 1\\n\",\"tests\":[\"assert f() == 1\"]}\n";

	(void)state;
	refs = json_pack("{s{ss ss s[s]}}", "t", "id", "t", "solution",
			 "import time\ndef f():\n    time.sleep(0.02)\n"
			 "    return 1\n", "tests", "assert f() == 1");
	opts_init(&o, 1);
	o.references = refs;
	o.timeout_factor = 4;
	o.timeout_floor_ms = 150;
	all = verify_text(cands, &o, 0, &st, &err);
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(all, 0), "status")), "timeout");
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(all, 1), "status")), "pass");
	/* max(150, 4 x ~20 ms) = the floor, or a little above. */
	assert_in_range(json_integer_value(json_object_get(
		json_array_get(all, 0), "timeout_ms")), 150, 500);
	json_decref(all);
	/* Without the factor the same candidate passes. */
	o.timeout_factor = 0;
	all = verify_text(cands, &o, 0, &st, &err);
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(all, 0), "status")), "pass");
	json_decref(all);
	json_decref(refs);
}

/* The timeout factor is checked in the library too: NaN, inf or a
 * negative factor is refused, and a huge finite one gives the longest
 * timeout (24 h). Before, (long)(factor x ms) was undefined: on x86-64,
 * 1e300 or NaN became LONG_MIN, and the floor, a *shorter* timeout. */
static void timeout_factor_checked(void **state)
{
	kiln_verify_opts o;
	kiln_verify_stats st;
	kiln_error err;
	json_t *all, *refs;
	const char *cand = "{\"id\":\"t\",\"solution\":\"def f():\\n"
			   "    return 1\\n\",\"tests\":[\"assert f() == 1\"]}\n";
	const double bad[] = { NAN, INFINITY, -1 };

	(void)state;
	refs = json_pack("{s{ss ss s[s]}}", "t", "id", "t", "solution",
			 "def f():\n    return 1\n", "tests", "assert f() == 1");
	opts_init(&o, 1);
	o.references = refs;
	o.timeout_floor_ms = 150;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		o.timeout_factor = bad[i];
		all = verify_text(cand, &o, KILN_EINVAL, &st, &err);
		assert_non_null(strstr(err.msg, "timeout factor"));
		assert_int_equal(json_array_size(all), 0);
		json_decref(all);
	}
	o.timeout_factor = 1e300;
	all = verify_text(cand, &o, 0, &st, &err);
	assert_int_equal(json_integer_value(json_object_get(
		json_array_get(all, 0), "timeout_ms")),
		KILN_VERIFY_MAX_TIMEOUT_MS);
	json_decref(all);
	json_decref(refs);
}

/* A stop asked before the run: nothing is started, the run says it was
 * stopped, and returns 0 (the caller keeps what was written). */
static void stop_flag_stops(void **state)
{
	kiln_verify_opts o;
	kiln_verify_stats st;
	kiln_error err;
	volatile int stop = 1;
	json_t *all;

	(void)state;
	opts_init(&o, 1);
	o.stop = &stop;
	all = verify_text("{\"id\":\"a\",\"solution\":\"x = 1\\n\","
			  "\"tests\":[\"assert x == 1\"]}\n", &o, 0, &st, &err);
	assert_int_equal(st.stopped, 1);
	assert_int_equal(st.verdicts, 0);
	assert_int_equal(json_array_size(all), 0);
	json_decref(all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(verdicts_keep_input_order),
		cmocka_unit_test(bad_line_stops),
		cmocka_unit_test(bad_line_skipped),
		cmocka_unit_test(relative_timeout),
		cmocka_unit_test(timeout_factor_checked),
		cmocka_unit_test(stop_flag_stops),
	};
	return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
