#include "kiln/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int kiln_error_set(kiln_error *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		err->code = code;
	}
	return code;
}

int kiln_error_prefix(kiln_error *err, const char *fmt, ...)
{
	char prefix[256];
	size_t plen, mlen;
	va_list ap;
	int n;

	if (!err)
		return 0;
	va_start(ap, fmt);
	n = vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	if (n < 0)
		return err->code;
	plen = strlen(prefix);
	mlen = strnlen(err->msg, sizeof(err->msg) - 1);
	if (plen + mlen > sizeof(err->msg) - 1)
		mlen = sizeof(err->msg) - 1 - plen; /* cut the tail */
	memmove(err->msg + plen, err->msg, mlen);
	memcpy(err->msg, prefix, plen);
	err->msg[plen + mlen] = '\0';
	return err->code;
}

void kiln_error_clear(kiln_error *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}

const char *kiln_strerror(int code)
{
	switch (code) {
	case KILN_OK: return "ok";
	case KILN_ENOMEM: return "out of memory";
	case KILN_EIO: return "i/o error";
	case KILN_EPARSE: return "parse error";
	case KILN_EINVAL: return "invalid argument";
	case KILN_ELIMIT: return "limit exceeded";
	case KILN_ESANDBOX: return "sandbox error";
	case KILN_EEOF: return "end of input";
	}
	return "unknown error";
}
