/* kiln/error.h - one error type for the whole library.
 *
 * Every fallible function returns 0 on success or a negative KILN_E* code,
 * and fills the caller's kiln_error with a message that says where and what.
 * Library code never prints, exits or aborts on bad input.
 */
#ifndef KILN_ERROR_H
#define KILN_ERROR_H

#include <stddef.h>

enum {
	KILN_OK = 0,
	KILN_ENOMEM = -1,   /* allocation failed */
	KILN_EIO = -2,      /* read/write/open failed */
	KILN_EPARSE = -3,   /* malformed input (JSON, UTF-8, record fields) */
	KILN_EINVAL = -4,   /* bad argument or option */
	KILN_ELIMIT = -5,   /* a cap was exceeded (line length, output) */
	KILN_ESANDBOX = -6, /* the sandbox could not be set up or failed */
	KILN_EEOF = -7,     /* no more input (not an error for readers) */
};

typedef struct kiln_error {
	int code;
	char msg[512];
} kiln_error;

/* Formats a message into err (if err is non-NULL) and returns code. */
int kiln_error_set(kiln_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefixes an existing message with more context ("FILE:LINE: "). */
int kiln_error_prefix(kiln_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void kiln_error_clear(kiln_error *err);

/* A short name for a code, e.g. "parse error". */
const char *kiln_strerror(int code);

#endif
