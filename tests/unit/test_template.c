/* Prompt templates (kiln/template.h): each variable from a task record,
 * the language in prose and as a fence tag, escaped braces, and the
 * errors that name what is wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "kiln/code.h"
#include "kiln/template.h"

static char *render(const char *tmpl, const char *task_json)
{
	json_error_t je;
	json_t *task = json_loads(task_json, 0, &je);
	kiln_error err = { 0 };
	char *out;

	assert_non_null(task);
	out = kiln_template_render(tmpl, task, &err);
	json_decref(task);
	return out;
}

static void expect(const char *tmpl, const char *task, const char *want)
{
	char *got = render(tmpl, task);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void variables_from_the_record(void **state)
{
	(void)state;
	expect("{prompt}|{entry_point}|{{x}}",
	       "{\"prompt\": \"def f(): ...\", \"entry_point\": \"f\"}",
	       "def f(): ...|f|{x}");
	/* A variable the record lacks is empty, not an error. */
	expect("[{solution}]", "{}", "[]");
}

/* {language} is what prose calls it, {language_tag} what a fence says. */
static void language_in_prose_and_in_fences(void **state)
{
	(void)state;
	expect("Write a {language} solution.\n```{language_tag}",
	       "{\"language\": \"cpp\"}",
	       "Write a C++ solution.\n```cpp");
	expect("{language}/{language_tag}", "{\"language\": \"C++\"}",
	       "C++/cpp");
	expect("{language}/{language_tag}", "{\"language\": \"python3\"}",
	       "Python/python");
	expect("{language}/{language_tag}", "{\"language\": \"js\"}",
	       "JavaScript/js");
	expect("{language}/{language_tag}", "{\"language\": \"c\"}", "C/c");
	/* None given reads as Python; an unknown one stays as written. */
	expect("{language}/{language_tag}", "{}", "Python/python");
	expect("{language}/{language_tag}", "{\"language\": \"\"}",
	       "Python/python");
	expect("{language}/{language_tag}", "{\"language\": \"Zig\"}",
	       "Zig/Zig");
}

static void the_display_names(void **state)
{
	(void)state;
	assert_string_equal(kiln_lang_display("CPP"), "C++");
	assert_string_equal(kiln_lang_display("javascript"), "JavaScript");
	assert_string_equal(kiln_lang_display(NULL), "Python");
	assert_string_equal(kiln_lang_display("cobol"), "cobol");
}

static void errors_name_the_fault(void **state)
{
	json_t *task = json_object();
	kiln_error err = { 0 };

	(void)state;
	assert_null(kiln_template_render("Hi {lang}", task, &err));
	assert_non_null(strstr(err.msg, "unknown variable {lang}"));
	assert_non_null(strstr(err.msg, "language_tag"));
	assert_null(kiln_template_render("Hi {prompt", task, &err));
	assert_non_null(strstr(err.msg, "unclosed"));
	json_decref(task);
}

/* Every built-in template renders for a C++ task, and the ones that show
 * code fence it with the tag, never the prose name. */
static void built_in_templates_fence_with_the_tag(void **state)
{
	const char *names[] = { "solution", "tests", "joint", "judge",
				"critique", "revise" };

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *t = kiln_template_default(names[i]);
		char *got;

		assert_non_null(t);
		got = render(t, "{\"language\": \"cpp\", \"prompt\": \"p\", "
			     "\"solution\": \"s\", \"tests\": [\"t\"]}");
		assert_non_null(got);
		assert_null(strstr(got, "```C++"));
		assert_null(strstr(got, "a cpp "));
		free(got);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(variables_from_the_record),
		cmocka_unit_test(language_in_prose_and_in_fences),
		cmocka_unit_test(the_display_names),
		cmocka_unit_test(errors_name_the_fault),
		cmocka_unit_test(built_in_templates_fence_with_the_tag),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
