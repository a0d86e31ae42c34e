/* A growable byte buffer that refuses to grow past a maximum (as curl's
 * dynbuf): every buffer that takes outside input has a cap. Internal to
 * the library. The contents are always NUL-terminated. */
#ifndef KILN_UTIL_BUF_H
#define KILN_UTIL_BUF_H

#include <stddef.h>

typedef struct kiln_buf {
	char *p;        /* NULL until something is added */
	size_t len, cap, max;
} kiln_buf;

/* Appends n bytes. Returns 0, KILN_ELIMIT (len + n would pass max; the
 * buffer is unchanged) or KILN_ENOMEM. */
int kiln__buf_add(kiln_buf *b, const void *s, size_t n);

#endif
