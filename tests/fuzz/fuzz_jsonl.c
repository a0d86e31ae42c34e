/* fuzz_jsonl - one JSON Lines line through every in-memory parser.
 *
 * The input is one line (as kiln_jsonl_next would hand it over):
 *   1. kiln_utf8_check() must agree with ref_utf8_invalid_at(), an
 *      independent validator written from the Unicode table of well-formed
 *      byte sequences (Table 3-7), and the prefix before the reported
 *      offset must itself be valid.
 *   2. kiln_jsonl_parse_line(): the result must be an object or a clean
 *      KILN_EPARSE (never one on invalid UTF-8), with a terminated message.
 *   (and kiln_import_format_parse() gets the first bytes as a name)
 *   3. Every parsed object goes through kiln_job_from_record() (and, when
 *      it is accepted, kiln__lang_request(), which renders the job for the
 *      sandbox) and kiln_job_release(), and through every importer. What an
 *      importer produces must itself be a valid task record, must serialise
 *      to exactly one line the way kiln_out_write() writes it, and that line
 *      must read back through kiln_jsonl_parse_line().
 * Any disagreement calls abort(), so libFuzzer and the replay test see it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/jsonl.h"
#include "kiln/utf8.h"
#include "kiln/sandbox.h"
#include "kiln/task.h"
#include "sandbox/sandbox_int.h"
#include "fuzz.h"

/* The writer's flags (kiln_out_write). */
#define OUT_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9))

/* Offset of the first byte that does not start a well-formed UTF-8
 * sequence (Unicode 15, Table 3-7), or -1. Deliberately table-driven and
 * unlike the library's decode-then-range-check. */
static long ref_utf8_invalid_at(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t b = s[i], lo = 0x80, hi = 0xbf;
		size_t len;

		if (b <= 0x7f) {
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf) {
			len = 2;
		} else if (b == 0xe0) {
			len = 3; lo = 0xa0;
		} else if ((b >= 0xe1 && b <= 0xec) || b == 0xee || b == 0xef) {
			len = 3;
		} else if (b == 0xed) {
			len = 3; hi = 0x9f;
		} else if (b == 0xf0) {
			len = 4; lo = 0x90;
		} else if (b >= 0xf1 && b <= 0xf3) {
			len = 4;
		} else if (b == 0xf4) {
			len = 4; hi = 0x8f;
		} else {
			return (long)i; /* 80..c1, f5..ff never start a char */
		}
		if (n - i < len)
			return (long)i;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return (long)i;
		for (size_t k = 2; k < len; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return (long)i;
		i += len;
	}
	return -1;
}

static void check_error(const kiln_error *err, int rc, const char *what)
{
	size_t len = strnlen(err->msg, sizeof(err->msg));

	if (err->code != rc)
		FAIL("%s: returned %d but err.code is %d", what, rc, err->code);
	if (len == sizeof(err->msg))
		FAIL("%s: error message not terminated", what);
	if (len == 0)
		FAIL("%s: empty error message", what);
}

/* What kiln writes, kiln must read back: one line, a JSON object. */
static void check_writes_one_line(const json_t *obj, const char *what)
{
	char *s = json_dumps(obj, OUT_FLAGS);
	json_t *back = NULL;
	kiln_error err;
	int rc;

	if (!s)
		FAIL("%s: json_dumps failed", what);
	if (strchr(s, '\n') || strchr(s, '\r'))
		FAIL("%s: written record spans lines: %s", what, s);
	rc = kiln_jsonl_parse_line(s, strlen(s), &back, &err);
	if (rc != 0)
		FAIL("%s: written record does not read back (%s): %s", what,
		     err.msg, s);
	json_decref(back);
	free(s);
}

/* Returns the kiln_job_from_record() code; on success checks the job's
 * shape and that the sandbox request can be rendered from it. */
static int check_job(const json_t *rec, int cold, const char *what)
{
	kiln_job job;
	kiln_error err;
	kiln_limits lim;
	json_t *req = NULL;
	int rc;

	memset(&err, 0, sizeof(err));
	rc = kiln_job_from_record(rec, &job, &err);
	if (rc != 0) {
		if (rc != KILN_EPARSE)
			FAIL("%s: job_from_record returned %d (%s)", what, rc,
			     err.msg);
		check_error(&err, rc, what);
		if (job.tests || job.ntests)
			FAIL("%s: failed job_from_record left tests behind",
			     what);
		return rc;
	}
	if (!job.solution || !job.tests || job.ntests == 0)
		FAIL("%s: accepted job without solution or tests", what);
	if (job.program && job.ntests != 1)
		FAIL("%s: program job with %zu tests", what, job.ntests);
	for (size_t i = 0; i < job.ntests; i++)
		if (!job.tests[i])
			FAIL("%s: tests[%zu] is NULL", what, i);
	if (job.language && !kiln_lang_known(job.language))
		FAIL("%s: accepted unknown language", what);

	kiln_limits_default(&lim);
	rc = kiln__lang_request(&job, &lim, cold, &req, &err);
	if (rc != 0 || !json_is_object(req))
		FAIL("%s: accepted job cannot be rendered: %d %s", what, rc,
		     err.msg);
	json_decref(req);

	kiln_job_release(&job);
	if (job.tests || job.ntests)
		FAIL("%s: kiln_job_release left tests behind", what);
	kiln_job_release(&job); /* must be idempotent */
	return 0;
}

static void check_import(const json_t *rec, kiln_import_format fmt,
			 const char *what)
{
	json_t *task = (json_t *)1, *before = json_deep_copy(rec);
	kiln_error err;
	int rc;

	if (!before)
		FAIL("json_deep_copy failed");
	memset(&err, 0, sizeof(err));
	rc = kiln_import_record(fmt, rec, &task, &err);
	if (rc != 0) {
		if (rc != KILN_EPARSE)
			FAIL("%s: import returned %d (%s)", what, rc, err.msg);
		if (task != NULL)
			FAIL("%s: failed import left *task set", what);
		check_error(&err, rc, what);
	} else {
		const char *id, *lang;

		if (!json_is_object(task))
			FAIL("%s: import produced no object", what);
		id = json_string_value(json_object_get(task, "id"));
		if (!id || !*id)
			FAIL("%s: imported task has no id", what);
		/* HumanEval-X's C++, Go ... are imported before the sandbox
		 * runs them; evalplus's I/O tests get their expect later */
		lang = json_string_value(json_object_get(task, "language"));
		if (fmt != KILN_IMPORT_EVALPLUS && lang &&
		    kiln_lang_known(lang) && check_job(task, 0, what) != 0)
			FAIL("%s: imported task is not a valid job", what);
		check_writes_one_line(task, what);
		json_decref(task);
	}
	if (!json_equal(before, rec))
		FAIL("%s: import modified its input record", what);
	json_decref(before);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	long bad = kiln_utf8_check(buf, size);
	long ref = ref_utf8_invalid_at(data, size);
	json_t *obj = (json_t *)1;
	kiln_error err;
	int rc;

	if (bad != ref)
		FAIL("kiln_utf8_check says %ld, reference says %ld", bad,
		     ref);
	if (bad >= 0 && kiln_utf8_check(buf, (size_t)bad) != -1)
		FAIL("prefix before invalid offset %ld is not valid", bad);

	{
		/* The --format name parser, on the input's first bytes. */
		char name[16];
		size_t n = size < sizeof(name) - 1 ? size : sizeof(name) - 1;
		kiln_import_format fmt;

		memcpy(name, buf, n);
		name[n] = '\0';
		rc = kiln_import_format_parse(name, &fmt, &err);
		if ((rc == 0) != (strcmp(name, "humaneval") == 0 ||
				  strcmp(name, "mbpp") == 0 ||
				  strcmp(name, "humaneval-x") == 0 ||
				  strcmp(name, "mbpp-sanitized") == 0 ||
				  strcmp(name, "evalplus") == 0) ||
		    (rc != 0 && rc != KILN_EINVAL))
			FAIL("kiln_import_format_parse('%s') returned %d",
			     name, rc);
	}

	memset(&err, 0, sizeof(err));
	rc = kiln_jsonl_parse_line(buf, size, &obj, &err);
	if (rc != 0) {
		if (rc != KILN_EPARSE)
			FAIL("parse_line returned %d", rc);
		if (obj)
			FAIL("failed parse_line left *obj set");
		check_error(&err, rc, "parse_line");
		/* The reader prefixes FILE:LINE to this message. */
		kiln_error_prefix(&err, "%s:%ld: ",
				  "a/long/path/to/some/input/file.jsonl.gz",
				  (long)size);
		check_error(&err, rc, "prefixed parse_line");
		return 0;
	}
	if (bad >= 0)
		FAIL("parse_line accepted invalid UTF-8 at %ld", bad);
	if (!json_is_object(obj))
		FAIL("parse_line returned a non-object");

	check_writes_one_line(obj, "record");
	check_job(obj, (int)(size & 1), "job");
	check_import(obj, KILN_IMPORT_HUMANEVAL, "humaneval");
	check_import(obj, KILN_IMPORT_MBPP, "mbpp");
	check_import(obj, KILN_IMPORT_HUMANEVAL_X, "humaneval-x");
	check_import(obj, KILN_IMPORT_MBPP_SANITIZED, "mbpp-sanitized");
	check_import(obj, KILN_IMPORT_EVALPLUS, "evalplus");
	json_decref(obj);
	return 0;
}
