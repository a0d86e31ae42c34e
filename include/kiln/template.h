/* kiln/template.h - prompt templates (src/llm/template.c).
 *
 * A template is text with variables taken from a task record: {prompt},
 * {entry_point}, {language} (the language as prose names it: "Python",
 * "C++"; Python when the task has none), {language_tag} (as a fence's
 * tag: "python", "cpp"); "{{" and "}}" stand for braces. An unknown variable is an error that names it.
 * The built-in templates are the files in data/templates/, embedded at build time.
 */
#ifndef KILN_TEMPLATE_H
#define KILN_TEMPLATE_H

#include <jansson.h>

#include "kiln/error.h"

/* Renders tmpl for task. Returns a malloc'd string, or NULL with err
 * filled (err may be NULL). */
char *kiln_template_render(const char *tmpl, const json_t *task,
			   kiln_error *err);

/* The built-in templates: "solution", "tests", "joint", "judge",
 * "critique", "revise"; NULL for another name. Variables: {prompt},
 * {entry_point}, {language}, {language_tag}, {solution}, {tests} (a list
 * one test after another, I/O tests as asserts), {principle} and
 * {critique} (kiln rewrite sets them in the record it renders); {{ and }}
 * are literal braces. */
const char *kiln_template_default(const char *name);

/* 0 if tmpl can be a template (not empty, every variable known), else
 * KILN_EINVAL or KILN_EPARSE with err saying why. what names it in the
 * message ("the solution template"). */
int kiln_template_check(const char *tmpl, const char *what, kiln_error *err);

#endif
