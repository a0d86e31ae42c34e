/* What curation stages share (kiln/curate.h): counts per reason with the
 * zero ones reported, the dropped mark, the stats file round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "kiln/curate.h"
#include "tmpdir.h"

static const char *const reasons[] = { "exact", "near", NULL };

static void counts_and_zero_reasons(void **state)
{
	kiln_stage_stats s;
	char line[256];

	(void)state;
	kiln_stage_stats_init(&s, "dedup", reasons);
	s.entered = 5;
	s.kept = 4;
	assert_int_equal(kiln_stage_drop(&s, "exact"), 0);
	assert_int_equal(kiln_stage_drop(&s, "nonsense"), -1);
	kiln_stage_summary(&s, line, sizeof line);
	assert_string_equal(line, "5 in, 4 kept, 1 dropped (exact 1, near 0)");

	json_t *o = kiln_stage_stats_json(&s);
	assert_non_null(o);
	json_t *d = json_object_get(o, "dropped");
	assert_int_equal(json_integer_value(json_object_get(d, "exact")), 1);
	assert_non_null(json_object_get(d, "near"));   /* zero, present */
	assert_int_equal(json_integer_value(json_object_get(d, "near")), 0);
	assert_true(json_is_object(json_object_get(o, "params")));
	json_decref(o);
	kiln_stage_stats_free(&s);
}

static void mark_and_round_trip(void **state)
{
	kiln_stage_stats s;
	kiln_error err = { 0 };
	char path[256];

	(void)state;
	json_t *rec = json_pack("{s:s}", "id", "t/1");
	json_t *m = kiln_stage_mark(rec, "dedup", "near");
	assert_non_null(m);
	json_object_set_new(m, "kept", json_string("t/0"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(
		rec, "dropped"), "reason")), "near");
	json_decref(rec);

	kiln_stage_stats_init(&s, "dedup", reasons);
	s.entered = 2;
	s.kept = 1;
	kiln_stage_drop(&s, "near");
	s.params = json_pack("{s:i}", "ngram", 5);
	snprintf(path, sizeof path, "%s/stats.json", dir);
	assert_int_equal(kiln_stage_stats_save(&s, path, &err), 0);
	json_t *o = kiln_stage_stats_load(path, &err);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "stage")),
			    "dedup");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
		o, "params"), "ngram")), 5);
	json_decref(o);
	kiln_stage_stats_free(&s);

	/* not a stats file: an error that names the file */
	snprintf(path, sizeof path, "%s/other.json", dir);
	FILE *f = fopen(path, "w");
	fputs("{\"stage\": 3}\n", f);
	fclose(f);
	assert_null(kiln_stage_stats_load(path, &err));
	assert_non_null(strstr(err.msg, "other.json"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(counts_and_zero_reasons),
		cmocka_unit_test(mark_and_round_trip),
	};
	return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
