/* Prompt templates: the built-in ones and rendering (kiln/template.h). */
#include <stdlib.h>
#include <string.h>

#include "kiln/code.h" /* kiln_lang_display, kiln_lang_canonical */
#include "kiln/template.h"
#include "util/buf.h"

extern const char kiln__tmpl_solution[], kiln__tmpl_tests[],
	kiln__tmpl_joint[], kiln__tmpl_judge[], kiln__tmpl_critique[],
	kiln__tmpl_revise[];

const char *kiln_template_default(const char *name)
{
	if (strcmp(name, "solution") == 0)
		return kiln__tmpl_solution;
	if (strcmp(name, "tests") == 0)
		return kiln__tmpl_tests;
	if (strcmp(name, "joint") == 0)
		return kiln__tmpl_joint;
	if (strcmp(name, "judge") == 0)
		return kiln__tmpl_judge;
	if (strcmp(name, "critique") == 0)
		return kiln__tmpl_critique;
	if (strcmp(name, "revise") == 0)
		return kiln__tmpl_revise;
	return NULL;
}

/* {tests}: a string as it is; a list with each test on its own lines,
 * an I/O test written as the assert it stands for. */
static int add_tests(kiln_buf *b, const json_t *tests)
{
	const json_t *t;
	size_t i;
	int rc = 0;

	if (json_is_string(tests))
		return kiln__buf_add(b, json_string_value(tests),
				     json_string_length(tests));
	json_array_foreach(tests, i, t) {
		const char *call = json_string_value(json_object_get(t, "call"));
		const char *want = json_string_value(json_object_get(t,
								     "expect"));

		if (i && (rc = kiln__buf_add(b, "\n", 1)) != 0)
			return rc;
		if (json_is_string(t))
			rc = kiln__buf_add(b, json_string_value(t),
					   json_string_length(t));
		else if (call && want)
			rc = kiln__buf_add(b, "assert ", 7) ||
			     kiln__buf_add(b, call, strlen(call)) ||
			     kiln__buf_add(b, " == ", 4) ||
			     kiln__buf_add(b, want, strlen(want));
		if (rc)
			return rc;
		if (b->len && b->p[b->len - 1] != '\n' &&
		    (rc = kiln__buf_add(b, "\n", 1)) != 0)
			return rc;
	}
	return 0;
}

char *kiln_template_render(const char *tmpl, const json_t *task,
			   kiln_error *err)
{
	kiln_buf b = { .max = (size_t)-1 / 2 };
	const char *p = tmpl;
	int rc = 0;

	while (*p && !rc) {
		/* the run of plain text up to the next brace, in one go */
		size_t run = strcspn(p, "{}");

		if (run) {
			rc = kiln__buf_add(&b, p, run);
			p += run;
		} else if ((p[0] == '{' && p[1] == '{') ||
			   (p[0] == '}' && p[1] == '}')) {
			rc = kiln__buf_add(&b, p, 1);
			p += 2;
		} else if (*p == '}') {
			rc = kiln__buf_add(&b, p++, 1);
		} else {
			const char *end = strchr(p, '}');
			char name[64];
			const char *v = NULL;
			size_t n = end ? (size_t)(end - p - 1) : 0;
			if (!end || n == 0 || n >= sizeof(name)) {
				free(b.p);
				kiln_error_set(err, KILN_EPARSE, "template: "
					       "unclosed or empty '{' at byte "
					       "%ld", (long)(p - tmpl));
				return NULL;
			}
			memcpy(name, p + 1, n);
			name[n] = '\0';
			if (strcmp(name, "tests") == 0) {
				rc = add_tests(&b, json_object_get(task,
								   "tests"));
				p = end + 1;
				continue;
			}
			if (strcmp(name, "language") == 0) {
				/* In prose: "Python", "C++". */
				v = kiln_lang_display(json_string_value(
					json_object_get(task, "language")));
			} else if (strcmp(name, "language_tag") == 0) {
				/* A fence's tag: "python", "cpp". */
				const char *l = json_string_value(
					json_object_get(task, "language"));
				v = !l || !*l ? "python"
				    : kiln_lang_canonical(l) ? kiln_lang_canonical(l)
				    : l;
			} else if (strcmp(name, "prompt") == 0 ||
			    strcmp(name, "solution") == 0 ||
			    strcmp(name, "entry_point") == 0 ||
			    strcmp(name, "principle") == 0 ||
			    strcmp(name, "critique") == 0) {
				v = json_string_value(json_object_get(task,
								      name));
				if (!v)
					v = "";
			} else {
				free(b.p);
				kiln_error_set(err, KILN_EPARSE, "template: "
					       "unknown variable {%s} (known: "
					       "prompt, entry_point, language, "
					       "language_tag, solution, tests, "
					       "principle, critique)",
					       name);
				return NULL;
			}
			rc = kiln__buf_add(&b, v, strlen(v));
			p = end + 1;
		}
	}
	if (!rc && !b.p)
		rc = kiln__buf_add(&b, "", 0);
	if (rc) {
		free(b.p);
		kiln_error_set(err, KILN_ENOMEM, "out of memory");
		return NULL;
	}
	return b.p;
}

int kiln_template_check(const char *tmpl, const char *what, kiln_error *err)
{
	kiln_error e;
	json_t *probe;
	char *text;

	if (!tmpl || !*tmpl)
		return kiln_error_set(err, KILN_EINVAL, "%s is empty", what);
	probe = json_object();
	text = probe ? kiln_template_render(tmpl, probe, &e) : NULL;
	json_decref(probe);
	if (!probe)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	if (!text)
		return kiln_error_set(err, e.code, "%s: %s", what, e.msg);
	free(text);
	return 0;
}
