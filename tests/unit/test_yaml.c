/* YAML into JSON (kiln/yaml.h): the core schema's scalars, nesting,
 * errors with their line, repeated keys, and aliases that would expand
 * past the cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "kiln/yaml.h"

static json_t *parse(const char *text, kiln_error *err)
{
	json_t *j = NULL;

	memset(err, 0, sizeof(*err));
	kiln_yaml_parse(text, strlen(text), "p.yaml", &j, err);
	return j;
}

static void scalars_by_the_core_schema(void **state)
{
	kiln_error err;
	json_t *j = parse("a: 1\nb: -2\nc: 1.5\nd: true\ne: false\nf: null\n"
			  "g: ~\nh: hello world\ni: '1'\nj: \"true\"\nk: 5s\n"
			  "l: 512M\nm: 1e3\nn: .inf\n", &err);

	(void)state;
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "a")), 1);
	assert_int_equal(json_integer_value(json_object_get(j, "b")), -2);
	assert_true(json_real_value(json_object_get(j, "c")) == 1.5);
	assert_true(json_is_true(json_object_get(j, "d")));
	assert_true(json_is_false(json_object_get(j, "e")));
	assert_true(json_is_null(json_object_get(j, "f")));
	assert_true(json_is_null(json_object_get(j, "g")));
	assert_string_equal(json_string_value(json_object_get(j, "h")),
			    "hello world");
	assert_string_equal(json_string_value(json_object_get(j, "i")), "1");
	assert_string_equal(json_string_value(json_object_get(j, "j")),
			    "true");
	assert_string_equal(json_string_value(json_object_get(j, "k")), "5s");
	assert_string_equal(json_string_value(json_object_get(j, "l")),
			    "512M");
	assert_true(json_real_value(json_object_get(j, "m")) == 1000.0);
	assert_string_equal(json_string_value(json_object_get(j, "n")),
			    ".inf");
	json_decref(j);
}

static void nesting_and_json(void **state)
{
	kiln_error err;
	json_t *j = parse("stages:\n  verify: {timeout: 5s, jobs: 2}\n"
			  "  decontam:\n    against: [a.jsonl, b.jsonl]\n"
			  "list:\n  - x\n  - {y: 1}\n", &err);
	json_t *k;

	(void)state;
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
		json_object_get(j, "stages"), "verify"), "jobs")), 2);
	assert_int_equal(json_array_size(json_object_get(json_object_get(
		json_object_get(j, "stages"), "decontam"), "against")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(
		json_object_get(j, "list"), 1), "y")), 1);
	/* JSON is YAML too */
	k = parse("{\"a\": [1, 2, {\"b\": \"c\"}], \"d\": null}", &err);
	assert_non_null(k);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
		json_object_get(k, "a"), 2), "b")), "c");
	json_decref(j);
	json_decref(k);
}

static void errors_name_the_place(void **state)
{
	kiln_error err;
	json_t *j;

	(void)state;
	j = parse("a: 1\nb: [1, 2\n", &err);
	assert_null(j);
	assert_int_equal(err.code, KILN_EPARSE);
	assert_non_null(strstr(err.msg, "p.yaml:"));
	j = parse("a: 1\nb: 2\na: 3\n", &err);
	assert_null(j);
	assert_non_null(strstr(err.msg, "p.yaml:3: key 'a' given twice"));
	j = parse("? [1, 2]\n: x\n", &err);
	assert_null(j);
	assert_non_null(strstr(err.msg, "not a scalar"));
	j = parse("", &err);
	assert_null(j);
	assert_non_null(strstr(err.msg, "empty"));
}

static void aliases_are_capped(void **state)
{
	kiln_error err;
	/* nine levels of ten aliases each: 10^9 nodes if expanded */
	const char *bomb =
		"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
		"b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
		"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
		"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
		"f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
		"g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
		"h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
		"i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
	json_t *j;

	(void)state;
	j = parse(bomb, &err);
	assert_null(j);
	assert_int_equal(err.code, KILN_ELIMIT);
	/* a few aliases are fine */
	j = parse("base: &b {timeout: 5s}\nverify: *b\n", &err);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
		j, "verify"), "timeout")), "5s");
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(scalars_by_the_core_schema),
		cmocka_unit_test(nesting_and_json),
		cmocka_unit_test(errors_name_the_place),
		cmocka_unit_test(aliases_are_capped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
