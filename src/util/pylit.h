/* JSON text to Python literal text, number for number (internal).
 *
 * evalplus publishes test inputs as JSON, with integers of any size
 * (HumanEval+ holds some beyond 64 bits, which jansson refuses). kiln's
 * I/O tests hold their arguments as Python source text, so the inputs are
 * converted token by token from the JSON text itself, never through a
 * double or an int64: a number is copied as written (JSON's numbers are
 * Python's: 12, -3, 1.5e300, 1e999 is inf in both), true/false/null
 * become True/False/None, a string keeps JSON's escapes except "\/"
 * (a slash) and a surrogate pair (one \U escape). Objects become dicts.
 * Anything that is not one well-formed JSON value (RFC 8259: no NaN, no
 * leading zeros, no raw control characters in strings, valid UTF-8, paired
 * surrogates) is refused with its offset.
 */
#ifndef KILN_UTIL_PYLIT_H
#define KILN_UTIL_PYLIT_H

#include <stddef.h>

#include "kiln/error.h"
#include "util/buf.h"

/* Nesting deeper than this is refused (the converter recurses, and
 * the sandbox's wire format carries 100 levels). */
#define KILN_PYLIT_MAX_DEPTH 100

/* Converts the JSON value that starts at s[0] (after optional blanks),
 * appending its Python literal to out; *used is the offset just past the
 * value. Returns 0, KILN_EPARSE (err names the offset), KILN_ELIMIT (out's
 * cap) or KILN_ENOMEM. out may be NULL: the value is only checked. */
int kiln__pylit_value(const char *s, size_t len, size_t *used, kiln_buf *out,
		      kiln_error *err);

/* Converts a JSON array of arrays (evalplus's list of inputs, each a list
 * of arguments) into one argument text per input ("1, [2, 3]", no
 * brackets): *args gets a malloc'd array of *n malloc'd strings, each at
 * most max bytes. Returns as kiln__pylit_value; *used as there. */
int kiln__pylit_arglists(const char *s, size_t len, size_t *used,
			 size_t max, char ***args, size_t *n, kiln_error *err);

void kiln__pylit_free_list(char **list, size_t n);

#endif
