/* kiln/extract.h - code out of a model's answer, tests out of code.
 *
 * A teacher's answer is prose, fenced blocks (with or without a language
 * tag), several blocks, no fence at all, or an answer cut off by max_tokens
 * in the middle of a block. kiln_extract_code() picks the code; garbage in
 * gives KILN_EPARSE with a reason, never a crash.
 */
#ifndef KILN_EXTRACT_H
#define KILN_EXTRACT_H

#include <stddef.h>

#include "kiln/error.h"

typedef struct kiln_extracted {
	char *code;        /* NUL-terminated, owned: free() it */
	int blocks;        /* fenced blocks seen in the answer */
	int truncated;     /* the last block was never closed */
	const char *how;   /* "fenced", "fenced-untagged", "unfenced", ... */
} kiln_extracted;

/* language: "python", "c", ... (guides the choice among blocks). */
int kiln_extract_code(const char *answer, size_t len, const char *language,
		      kiln_extracted *out, kiln_error *err);

/* Splits test code into independent test snippets: for Python, each
 * top-level assert statement, and each top-level test_* function (as its
 * definition followed by a call), becomes one snippet; the other top-level
 * statements (imports, helpers, constants) go into *preamble, to be run
 * before every test. Returns the count in *n; free with kiln_tests_free. */
int kiln_split_tests(const char *code, size_t len, const char *language,
		     char **preamble, char ***tests, size_t *n,
		     kiln_error *err);
void kiln_tests_free(char **tests, size_t n);

#endif
