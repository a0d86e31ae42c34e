#include "util/buf.h"

#include <stdlib.h>
#include <string.h>

#include "kiln/error.h"

int kiln__buf_add(kiln_buf *b, const void *s, size_t n)
{
	if (n > b->max - b->len || b->len + n + 1 < n)
		return KILN_ELIMIT;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *q;

		while (cap < b->len + n + 1)
			cap *= 2;
		q = realloc(b->p, cap);
		if (!q)
			return KILN_ENOMEM;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}
