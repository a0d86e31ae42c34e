/* fuzz_pylit - JSON text to Python literals (util/pylit.c) and the
 * evalplus record reader built on it (kiln_evalplus_parse_line).
 *
 *   1. kiln__pylit_value on the input: 0 or a clean KILN_EPARSE, never
 *      reading past the input; against jansson (JSON_DECODE_ANY) on the
 *      same bytes: where jansson accepts a value, the converter accepts
 *      it and stops where it ends; where the converter accepts and jansson
 *      refuses, jansson's reason is a number out of its range (an integer
 *      beyond 64 bits, a real that overflows: the very thing the converter
 *      is for) or a \u0000 escape.
 *   2. The output is a Python literal in shape: brackets balanced outside
 *      strings, no JSON word (true, false, null) outside strings, no raw
 *      byte below 0x20.
 *   3. kiln__pylit_arglists and kiln_evalplus_parse_line: 0 or a clean
 *      error; a task from the reader is an object whose tests are all
 *      {"call"} or strings, as many as tests_base says at least.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kiln/evalplus.h"
#include "util/pylit.h"
#include "fuzz.h"

static void check_err(const kiln_error *err, int rc, const char *what)
{
	size_t n = strnlen(err->msg, sizeof(err->msg));

	if (rc != KILN_EPARSE && rc != KILN_ELIMIT)
		FAIL("%s: returned %d (%s)", what, rc, err->msg);
	if (n == 0 || n == sizeof(err->msg))
		FAIL("%s: bad error message", what);
}

/* 2.: the converter's output, outside its strings. */
static void check_shape(const char *s, size_t n)
{
	int depth = 0, in_str = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20)
			FAIL("a raw control byte in the literal");
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
			continue;
		}
		if (c == '"')
			in_str = 1;
		else if (c == '[' || c == '{')
			depth++;
		else if (c == ']' || c == '}')
			depth--;
		else if ((c == 't' && !strncmp(s + i, "true", 4)) ||
			 (c == 'f' && !strncmp(s + i, "false", 5)) ||
			 (c == 'n' && !strncmp(s + i, "null", 4)))
			FAIL("a JSON word left in the literal: %s", s);
		if (depth < 0)
			FAIL("unbalanced literal: %s", s);
	}
	if (depth != 0 || in_str)
		FAIL("unbalanced literal: %s", s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	kiln_buf out = { .max = 1u << 20 };
	json_error_t jerr;
	kiln_error err;
	size_t used = 0, n = 0;
	char **args = NULL;
	json_t *v, *task = NULL;
	int rc;

	memset(&err, 0, sizeof(err));
	rc = kiln__pylit_value(s, size, &used, &out, &err);
	if (used > size)
		FAIL("used %zu of %zu bytes", used, size);
	v = json_loadb(s, size, JSON_DECODE_ANY, &jerr);
	if (rc == 0) {
		size_t end = used;

		check_shape(out.p ? out.p : "", out.len);
		while (end < size && strchr(" \t\r\n", s[end]) && s[end])
			end++;
		if (!v && end == size &&
		    !strstr(jerr.text, "too big") &&
		    !strstr(jerr.text, "overflow") &&
		    !strstr(jerr.text, "\\u0000"))
			FAIL("converter accepts what jansson refuses: %s",
			     jerr.text);
	} else {
		check_err(&err, rc, "pylit_value");
		if (v && rc == KILN_EPARSE)
			FAIL("converter refuses valid JSON: %s", err.msg);
	}
	json_decref(v);
	free(out.p);

	memset(&err, 0, sizeof(err));
	rc = kiln__pylit_arglists(s, size, &used, 1u << 20, &args, &n, &err);
	if (rc == 0) {
		for (size_t i = 0; i < n; i++)
			if (!args[i])
				FAIL("NULL argument text");
	} else {
		check_err(&err, rc, "pylit_arglists");
		if (args || n)
			FAIL("failed arglists left a list");
	}
	kiln__pylit_free_list(args, n);

	memset(&err, 0, sizeof(err));
	rc = kiln_evalplus_parse_line(s, size, &task, &err);
	if (rc == 0) {
		const json_t *tests = json_object_get(task, "tests");
		json_int_t base = json_integer_value(json_object_get(task,
							"tests_base"));
		size_t i;
		json_t *t;

		if (!json_is_array(tests) || json_array_size(tests) == 0 ||
		    base < 0 || (size_t)base > json_array_size(tests))
			FAIL("evalplus task without its tests");
		json_array_foreach(tests, i, t)
			if (!json_is_string(json_object_get(t, "call")) &&
			    !json_is_string(t))
				FAIL("evalplus test %zu is neither", i);
		json_decref(task);
	} else {
		check_err(&err, rc, "evalplus_parse_line");
		if (task)
			FAIL("failed parse left a task");
	}
	return 0;
}
