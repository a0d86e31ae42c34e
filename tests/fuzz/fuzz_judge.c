/* fuzz_judge - an LLM judge's reply through kiln_judge_parse
 * (src/curate/reward.c). The input's first line is the judged code (up to
 * the first newline), the rest the reply.
 *
 * For any input: a score is returned only in range and finite; otherwise
 * KILN_EPARSE with a reason. Appending a line that starts with a valid
 * in-range verdict not found in the code makes that verdict the answer
 * (the last anchored verdict wins, whatever came before). Any failure
 * calls abort().
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/reward.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nl = memchr(data, '\n', size);
	size_t clen = nl ? (size_t)(nl - (const char *)data) : 0;
	char *code = malloc(clen + 1);
	const char *reply = nl ? nl + 1 : (const char *)data;
	size_t rlen = size - (size_t)(reply - (const char *)data);
	kiln_error why = { 0 };
	double s = -1;
	int rc;

	if (!code)
		return 0;
	memcpy(code, data, clen);
	code[clen] = '\0';
	if (memchr(code, '\0', clen)) {   /* the code is a C string */
		free(code);
		return 0;
	}
	rc = kiln_judge_parse(reply, rlen, code, 1, 10, &s, &why);
	if (rc == 0 && !(isfinite(s) && s >= 1 && s <= 10))
		FAIL("score %g out of range", s);
	if (rc != 0 && (rc != KILN_EPARSE || !why.msg[0]))
		FAIL("rc %d without a reason", rc);

	/* a last verdict appended: it wins (7.25 cannot be in the code
	 * unless the code holds this very text) */
	static const char tail[] = "\n{\"score\": 7.25}\n";
	char *more = malloc(rlen + sizeof tail);

	if (more) {
		memcpy(more, reply, rlen);
		memcpy(more + rlen, tail, sizeof tail - 1);
		rc = kiln_judge_parse(more, rlen + sizeof tail - 1, code, 1, 10,
				      &s, &why);
		if (!strstr(code, "7.25") && (rc != 0 || s != 7.25))
			FAIL("an appended verdict did not win: rc %d, %g (%s)",
			     rc, s, why.msg);
		free(more);
	}
	free(code);
	return 0;
}
