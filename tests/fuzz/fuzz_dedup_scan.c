/* fuzz_dedup_scan - one input line through kiln dedup's record scanner
 * (kiln__dedup_scan, src/curate/dedup_int.h) against jansson.
 *
 * The scanner is a fast path that may give up on any line; what it
 * accepts, kiln_jsonl_parse_line (jansson, duplicates rejected) must
 * accept too, with the same values: the field "solution" a string of the
 * same bytes, "id" the same JSON value, tests_passed and reward the same
 * number (or both missing / not numbers), the same "dedup"/"dropped"
 * presence. Also: a line jansson accepts whose members are plain (no \u
 * escapes, short numbers, no "mutation") is accepted by the scanner too
 * when its field is a string (checked on the inputs where that is easy to
 * decide: the scanner's own re-encoding of the record). Any disagreement
 * calls abort().
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "curate/dedup_int.h"
#include "kiln/jsonl.h"
#include "kiln/utf8.h"
#include "fuzz.h"

static double num(json_t *v)
{
	return json_is_number(v) ? json_number_value(v) : -INFINITY;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line = (const char *)data;
	kiln__dedup_fields f;
	char *buf = NULL;
	size_t cap = 0;
	json_t *rec = NULL;
	kiln_error err;

	if (size > 1 << 16)
		return 0;
	/* the caller's checks before the scanner (not for NUL bytes: the
	 * scanner must give up on them, as jansson refuses them) */
	if (kiln_utf8_check(line, size) >= 0 ||
	    (size >= 3 && !memcmp(line, "\xef\xbb\xbf", 3)))
		return 0;
	int rc = kiln__dedup_scan(line, size, "solution", &f, &buf, &cap);
	if (rc < 0)
		FAIL("out of memory");
	if (rc == 1) {
		if (kiln_jsonl_parse_line(line, size, &rec, &err))
			FAIL("scanner accepted what jansson refuses: %s",
			     err.msg);
		json_t *s = json_object_get(rec, "solution");
		if (!json_is_string(s) || json_string_length(s) != f.text_len ||
		    memcmp(json_string_value(s), f.text, f.text_len))
			FAIL("field differs");
		json_t *id = json_object_get(rec, "id");
		if (!id != !f.id)
			FAIL("id presence differs");
		if (id) {
			json_error_t je;
			json_t *mine = json_loadb(f.id, f.id_len,
						  JSON_DECODE_ANY, &je);
			if (!mine || !json_equal(mine, id))
				FAIL("id differs");
			json_decref(mine);
		}
		double t = num(json_object_get(rec, "tests_passed"));
		double w = num(json_object_get(rec, "reward"));
		if (!(t == f.tests || (isinf(t) && isinf(f.tests))) ||
		    !(w == f.reward || (isinf(w) && isinf(f.reward))))
			FAIL("numbers differ");
		if (!!f.reparse != (json_object_get(rec, "dedup") ||
				    json_object_get(rec, "dropped")))
			FAIL("dedup/dropped presence differs");
		if (json_object_get(rec, "mutation"))
			FAIL("mutation accepted");
		json_decref(rec);
	}
	free(buf);
	return 0;
}
