#include <stdlib.h>
#include <string.h>

#include "kiln/code.h"
#include "kiln/task.h"

static int opt_string(const json_t *rec, const char *key, const char **out,
		      kiln_error *err)
{
	const json_t *v = json_object_get(rec, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return kiln_error_set(err, KILN_EPARSE,
				      "field '%s' must be a string", key);
	*out = json_string_value(v);
	return 0;
}

/* A test that is empty or only white space passes any solution: it is
 * no test at all. */
static int blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return 0;
	return 1;
}

int kiln_job_from_record(const json_t *rec, kiln_job *job, kiln_error *err)
{
	const json_t *tests = json_object_get(rec, "tests");
	int rc;

	memset(job, 0, sizeof(*job));
	if (!json_is_string(json_object_get(rec, "id")) ||
	    json_string_length(json_object_get(rec, "id")) == 0)
		return kiln_error_set(err, KILN_EPARSE,
				      "field 'id' must be a non-empty string");
	if ((rc = opt_string(rec, "language", &job->language, err)) ||
	    (rc = opt_string(rec, "test_setup", &job->setup, err)) ||
	    (rc = opt_string(rec, "solution", &job->solution, err)) ||
	    (rc = opt_string(rec, "entry_point", &job->entry_point, err)))
		return rc;
	if (job->language && !kiln_lang_known(job->language))
		return kiln_error_set(err, KILN_EPARSE,
				      "unknown language '%s' (known: %s)",
				      job->language, kiln_lang_list());
	if (!job->solution)
		return kiln_error_set(err, KILN_EPARSE,
				      "no 'solution' to verify");
	if (json_is_string(tests)) {
		const char **t = malloc(sizeof(*t));
		if (!t)
			return kiln_error_set(err, KILN_ENOMEM, "out of memory");
		t[0] = json_string_value(tests);
		if (blank(t[0])) {
			free(t);
			return kiln_error_set(err, KILN_EPARSE,
					      "field 'tests' is an empty test "
					      "program");
		}
		job->tests = t;
		job->ntests = 1;
		job->program = 1;
	} else if (json_is_array(tests) && json_array_size(tests) > 0) {
		size_t n = json_array_size(tests);
		const char **t = calloc(n, sizeof(*t));
		if (!t)
			return kiln_error_set(err, KILN_ENOMEM, "out of memory");
		const char **e = NULL;
		for (size_t i = 0; i < n; i++) {
			const json_t *s = json_array_get(tests, i);
			if (json_is_object(s)) {
				/* An I/O test: {"call": "f(1)", "expect": "2"}. */
				const char *call = json_string_value(
					json_object_get(s, "call"));
				const char *want = json_string_value(
					json_object_get(s, "expect"));
				if (!call || blank(call) || !want || blank(want)) {
					free(t);
					free(e);
					return kiln_error_set(err, KILN_EPARSE,
						"tests[%zu]: an I/O test needs "
						"'call' and 'expect' (Python source "
						"text)", i);
				}
				if (!e && !(e = calloc(n, sizeof(*e)))) {
					free(t);
					return kiln_error_set(err, KILN_ENOMEM,
							      "out of memory");
				}
				t[i] = call;
				e[i] = want;
				continue;
			}
			if (!json_is_string(s) || blank(json_string_value(s))) {
				free(t);
				free(e);
				return kiln_error_set(err, KILN_EPARSE,
					"tests[%zu] must be a non-empty string "
					"or an I/O test object", i);
			}
			t[i] = json_string_value(s);
		}
		job->expect = e;
		job->tests = t;
		job->ntests = n;
	} else {
		return kiln_error_set(err, KILN_EPARSE,
			"field 'tests' must be a non-empty list of test "
			"snippets or one test program (a string)");
	}
	if (json_object_get(rec, "atol")) {
		const json_t *a = json_object_get(rec, "atol");
		double v = json_is_number(a) ? json_number_value(a) : -1.0;
		if (!(v >= 0.0 && v <= 1e6)) {
			kiln_job_release(job);
			return kiln_error_set(err, KILN_EPARSE,
				"field 'atol' must be a number in [0, 1e6]");
		}
		job->atol = v;
	}
	return 0;
}

void kiln_job_release(kiln_job *job)
{
	free((void *)job->tests);
	free((void *)job->expect);
	job->tests = NULL;
	job->expect = NULL;
	job->ntests = 0;
}
