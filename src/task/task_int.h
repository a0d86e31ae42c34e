/* Internals shared by the importers (import.c, import_evalplus.c). */
#ifndef KILN_TASK_INT_H
#define KILN_TASK_INT_H

/* a + b + c as a new string, or NULL (out of memory). */
char *kiln__concat3(const char *a, const char *b, const char *c);

/* The helpers a HumanEval prompt defines besides entry (poly for
 * find_zero ...) with the prompt's imports, as test-side set-up: a new
 * string, "" when there are none, or NULL (out of memory). */
char *kiln__prompt_helpers(const char *prompt, const char *entry);

#include <jansson.h>

#include "kiln/error.h"

/* in[key] as a string, or KILN_EPARSE naming the field. */
int kiln__need_string(const json_t *in, const char *key, const char **out,
		      kiln_error *err);

/* Whether s is a Python identifier (ASCII). */
int kiln__is_identifier(const char *s);

#endif
