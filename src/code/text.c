/* What every entry point of src/code/ does to its input first: check it
 * (a cap, no NUL byte, valid UTF-8) and take a private copy in which CRLF
 * is LF, so that '\n' is the only line end the parsers have to know.
 */

#include <stdlib.h>
#include <string.h>

#include "code/code_int.h"
#include "kiln/utf8.h"

int kiln__code_check_text(const char *s, size_t len, size_t max,
			  const char *what, kiln_error *err)
{
	const char *nul;
	long bad;

	if (!s && len)
		return kiln_error_set(err, KILN_EINVAL, "%s: NULL text", what);
	if (len > max)
		return kiln_error_set(err, KILN_ELIMIT,
				      "%s larger than %zu bytes", what, max);
	nul = len ? memchr(s, '\0', len) : NULL;
	if (nul)
		return kiln_error_set(err, KILN_EPARSE, "%s: NUL byte at byte %zu",
				      what, (size_t)(nul - s) + 1);
	bad = kiln_utf8_check(s, len);
	if (bad >= 0)
		return kiln_error_set(err, KILN_EPARSE,
				      "%s: invalid UTF-8 at byte %ld", what, bad + 1);
	return 0;
}

char *kiln__code_to_lf(const char *s, size_t len, size_t *outlen)
{
	char *d = malloc(len + 1);
	size_t i = 0, j = 0;

	if (!d)
		return NULL;
	if (len >= 3 && !memcmp(s, "\xef\xbb\xbf", 3))
		i = 3;
	for (; i < len; i++) {
		if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
			continue;
		d[j++] = s[i];
	}
	d[j] = '\0';
	*outlen = j;
	return d;
}
