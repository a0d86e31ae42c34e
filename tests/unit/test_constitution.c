/* kiln rewrite's constitution (kiln/rewrite.h): the built-in one parses
 * to its five principles; the format's edges (a comment before the first
 * principle, no newline at the end, CRLF, blank lines around a text) and
 * its refusals, each with the line named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "kiln/rewrite.h"

static void builtin_has_five_principles(void **state)
{
	static const char *const names[] = { "clear-names", "docstring",
		"edge-cases", "edge-case-tests", "no-global-state" };
	kiln_principle *p;
	kiln_error err = { 0 };
	size_t n;
	(void)state;

	if (kiln_constitution_parse(kiln_constitution_default(), &p, &n, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(n, 5);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(p[i].name, names[i]);
		assert_true(strlen(p[i].text) > 40);
		assert_true(p[i].text[strlen(p[i].text) - 1] != '\n');
	}
	kiln_constitution_free(p, n);
}

static void edges_of_the_format(void **state)
{
	kiln_principle *p;
	kiln_error err = { 0 };
	size_t n;
	(void)state;

	if (kiln_constitution_parse("a comment\n[x] \n\n  one\n\ntwo\n\n"
				    "[y_2]\r\nlast line", &p, &n, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(n, 2);
	assert_string_equal(p[0].name, "x");
	assert_string_equal(p[0].text, "one\n\ntwo");
	assert_string_equal(p[1].name, "y_2");
	assert_string_equal(p[1].text, "last line");
	kiln_constitution_free(p, n);
}

static void refusals_name_the_line(void **state)
{
	static const struct { const char *text, *want; } bad[] = {
		{ "", "no principle" },
		{ "only a comment\n", "no principle" },
		{ "[a]\n\n[b]\nx\n", "line 1: principle [a] has no text" },
		{ "[a]\nx\n[b]", "line 3: principle [b] has no text" },
		{ "[a]\nx\n[a]\ny\n", "line 3: [a] again" },
		{ "[a b]\nx\n", "line 1: [a b]: a principle's name" },
		{ "[]\nx\n", "line 1: []: a principle's name" },
	};
	(void)state;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		kiln_principle *p = (kiln_principle *)&bad;
		kiln_error err = { 0 };
		size_t n = 99;

		assert_int_equal(kiln_constitution_parse(bad[i].text, &p, &n,
							 &err), KILN_EPARSE);
		if (!strstr(err.msg, bad[i].want))
			fail_msg("%zu: %s", i, err.msg);
		assert_null(p);
		assert_int_equal(n, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(builtin_has_five_principles),
		cmocka_unit_test(edges_of_the_format),
		cmocka_unit_test(refusals_name_the_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
