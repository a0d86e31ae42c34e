/* fuzz_http_head - request heads through kiln serve's guard
 * (kiln__guard_head, src/serve/guard.c): the bytes every connection sends
 * first, checked before libmicrohttpd sees them.
 *
 * For any input the answer is 0 (pass), 1 (more bytes needed) or -1 with
 * one of the statuses the guard documents and an error that serializes
 * as OpenAI's error object. A head that passes ends with a blank line
 * within the limit, and each of its proper prefixes up to that blank line
 * asks for more bytes (only complete lines are judged, so a cut can never
 * turn a good head into an error). Any failure calls abort().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "serve/serve_int.h"
#include "fuzz.h"

#define MAX_HEAD 4096
#define MAX_BODY 1000

static int judge(const char *p, size_t n, struct kiln__apierr *e)
{
	int rc;

	memset(e, 0, sizeof(*e));
	rc = kiln__guard_head(p, n, MAX_HEAD, MAX_BODY, e);
	if (rc != 0 && rc != 1 && rc != -1)
		FAIL("answer %d", rc);
	if (rc == -1) {
		json_t *j = kiln__openai_error(e);
		char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;

		if (e->status != 400 && e->status != 413 && e->status != 431 &&
		    e->status != 501 && e->status != 505)
			FAIL("status %u", e->status);
		if (!e->msg[0] || !e->code || !e->type)
			FAIL("an error without message, code or type");
		if (!t)
			FAIL("the error does not serialize: %s", e->msg);
		free(t);
		json_decref(j);
	}
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct kiln__apierr e;
	size_t end = 0;

	if (judge(p, size, &e) != 0)
		return 0;
	/* the end of the head: the first empty line after the request line */
	for (size_t i = 0; i + 1 < size && !end; i++)
		if (p[i] == '\n' && i > 0 &&
		    (p[i + 1] == '\n' ||
		     (i + 2 < size && p[i + 1] == '\r' && p[i + 2] == '\n'))) {
			size_t k = i;

			while (k > 0 && (p[k - 1] == '\r' || p[k - 1] == '\n'))
				k--;
			if (k > 0) /* not the leading empty lines */
				end = p[i + 1] == '\n' ? i + 2 : i + 3;
		}
	if (!end)
		FAIL("passed without a blank line");
	if (end > MAX_HEAD + 2)
		FAIL("passed a head of %zu bytes", end);
	for (size_t n = 0; n + 1 < end; n++)
		if (judge(p, n, &e) != 1)
			FAIL("a prefix of %zu bytes of a good head is judged "
			     "(%u: %s)", n, e.status, e.msg);
	return 0;
}
