/* JSON Lines reading, UTF-8 checking and atomic output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "kiln/jsonl.h"
#include "kiln/utf8.h"

#include "tmpdir.h"

static const char *write_tmp(const char *name, const char *text, size_t len)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
	return path;
}

static void utf8_validation(void **state)
{
	static const struct { const char *s; long bad; } cases[] = {
		{ "plain ascii", -1 },
		{ "caf\xc3\xa9", -1 },
		{ "\xe2\x82\xac euro", -1 },
		{ "\xf0\x9f\x98\x80", -1 },            /* U+1F600 */
		{ "ab\xff", 2 },                        /* never valid */
		{ "\xc0\xaf", 0 },                      /* overlong '/' */
		{ "\xe0\x80\xaf", 0 },                  /* overlong */
		{ "x\xed\xa0\x80", 1 },                 /* surrogate D800 */
		{ "\xf4\x90\x80\x80", 0 },              /* > U+10FFFF */
		{ "abc\xe2\x82", 3 },                   /* truncated */
		{ "\x80", 0 },                          /* lone continuation */
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(kiln_utf8_check(cases[i].s,
						      strlen(cases[i].s)),
				 cases[i].bad);
}

static void parse_line_errors_say_what(void **state)
{
	kiln_error err;
	json_t *o;

	(void)state;
	assert_int_equal(kiln_jsonl_parse_line("{\"a\": 1}", 8, &o, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(o, "a")), 1);
	json_decref(o);

	assert_int_equal(kiln_jsonl_parse_line("{\"a\": }", 7, &o, &err),
			 KILN_EPARSE);
	assert_null(o);
	assert_non_null(strstr(err.msg, "column"));

	assert_int_equal(kiln_jsonl_parse_line("[1,2]", 5, &o, &err),
			 KILN_EPARSE);
	assert_non_null(strstr(err.msg, "object"));

	assert_int_equal(kiln_jsonl_parse_line("{\"a\": \"\xff\"}", 10, &o,
					       &err), KILN_EPARSE);
	assert_non_null(strstr(err.msg, "UTF-8 at byte 8"));

	assert_int_equal(kiln_jsonl_parse_line("{\"a\":1,\"a\":2}", 13, &o,
					       &err), KILN_EPARSE);
}

/* A bad line is reported with its number and reading goes on. */
static void reader_reports_and_continues(void **state)
{
	const char text[] = "{\"n\": 1}\r\n\n   \n{bad\n{\"n\": 2}\n"
			    "{\"n\": \"\xc3\x28\"}\n{\"n\": 3}";
	const char *path = write_tmp("mixed.jsonl", text, sizeof(text) - 1);
	kiln_jsonl_reader *r;
	kiln_error err;
	json_t *o;
	long want_n[] = { 1, -4, 2, -6, 3 };

	(void)state;
	assert_int_equal(kiln_jsonl_open(&r, path, 0, &err), 0);
	for (size_t i = 0; i < 5; i++) {
		int rc = kiln_jsonl_next(r, &o, &err);
		if (want_n[i] > 0) {
			assert_int_equal(rc, 0);
			assert_int_equal(json_integer_value(json_object_get(o,
						"n")), want_n[i]);
			json_decref(o);
		} else {
			char where[300];
			assert_int_equal(rc, KILN_EPARSE);
			assert_int_equal(kiln_jsonl_lineno(r), -want_n[i]);
			snprintf(where, sizeof(where), "%s:%ld: ", path,
				 -want_n[i]);
			assert_memory_equal(err.msg, where, strlen(where));
		}
	}
	assert_int_equal(kiln_jsonl_next(r, &o, &err), KILN_EEOF);
	kiln_jsonl_close(r);
}

static void reader_caps_long_lines(void **state)
{
	size_t big = 10000;
	char *text = malloc(big + 64);
	const char *path;
	kiln_jsonl_reader *r;
	kiln_error err;
	json_t *o;

	(void)state;
	memcpy(text, "{\"s\": \"", 7);
	memset(text + 7, 'x', big);
	memcpy(text + 7 + big, "\"}\n{\"ok\": true}\n", 16);
	path = write_tmp("long.jsonl", text, big + 23);
	free(text);
	assert_int_equal(kiln_jsonl_open(&r, path, 1000, &err), 0);
	assert_int_equal(kiln_jsonl_next(r, &o, &err), KILN_ELIMIT);
	assert_non_null(strstr(err.msg, ":1: line longer than 1000 bytes"));
	assert_int_equal(kiln_jsonl_next(r, &o, &err), 0);
	assert_true(json_is_true(json_object_get(o, "ok")));
	assert_int_equal(kiln_jsonl_lineno(r), 2);
	json_decref(o);
	kiln_jsonl_close(r);
}

/* A line that never ends (/dev/zero) is reported at the cap, at once: the
 * reader used to read on, waiting for a newline, forever. alarm() turns a
 * hang into a failure. */
static void reader_caps_endless_line(void **state)
{
	kiln_jsonl_reader *r;
	kiln_error err;
	json_t *o;

	(void)state;
	alarm(60);
	assert_int_equal(kiln_jsonl_open(&r, "/dev/zero", 1 << 20, &err), 0);
	assert_int_equal(kiln_jsonl_next(r, &o, &err), KILN_ELIMIT);
	assert_non_null(strstr(err.msg, "/dev/zero:1: line longer than "
			       "1048576 bytes"));
	kiln_jsonl_close(r);
	alarm(0);
}

/* A byte-order mark and a NUL byte are named as such, not as a JSON
 * syntax error near an invisible character. */
static void reader_names_bom_and_nul(void **state)
{
	const char text[] = "\xef\xbb\xbf{\"n\": 1}\n{\"n\": 2}\n"
			    "{\"n\": \"a\0b\"}\n";
	const char *path = write_tmp("bom.jsonl", text, sizeof(text) - 1);
	kiln_jsonl_reader *r;
	kiln_error err;
	json_t *o;
	char want[400];   /* a path (write_tmp: < 256 bytes) and a message */

	(void)state;
	assert_int_equal(kiln_jsonl_open(&r, path, 0, &err), 0);
	assert_int_equal(kiln_jsonl_next(r, &o, &err), KILN_EPARSE);
	snprintf(want, sizeof want, "%s:1: a UTF-8 byte-order mark (BOM) "
		 "starts the line; remove it", path);
	assert_memory_equal(err.msg, want, strlen(want));
	assert_int_equal(kiln_jsonl_next(r, &o, &err), 0);
	json_decref(o);
	assert_int_equal(kiln_jsonl_next(r, &o, &err), KILN_EPARSE);
	snprintf(want, sizeof want, "%s:3: a NUL byte at byte 9", path);
	assert_memory_equal(err.msg, want, strlen(want));
	assert_int_equal(kiln_jsonl_next(r, &o, &err), KILN_EEOF);
	kiln_jsonl_close(r);
}

static void reader_reads_gzip(void **state)
{
	char path[256];
	gzFile gz;
	kiln_jsonl_reader *r;
	kiln_error err;
	json_t *o;
	int n = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/x.jsonl.gz", dir);
	gz = gzopen(path, "wb");
	assert_non_null(gz);
	for (int i = 0; i < 1000; i++)
		gzprintf(gz, "{\"i\": %d}\n", i);
	gzclose(gz);
	assert_int_equal(kiln_jsonl_open(&r, path, 0, &err), 0);
	while (kiln_jsonl_next(r, &o, &err) == 0) {
		assert_int_equal(json_integer_value(json_object_get(o, "i")), n);
		json_decref(o);
		n++;
	}
	assert_int_equal(n, 1000);
	kiln_jsonl_close(r);
}

/* kiln_jsonl_offset: each line read again at its offset (what kiln
 * dedup does in its second pass), across read chunks, line ends with CR
 * and blank lines. */
static void reader_offsets_read_lines_again(void **state)
{
	size_t cap = 1u << 20, n = 0;
	char *text = malloc(cap), got[200];
	kiln_jsonl_reader *r;
	kiln_error err;
	const char *line;
	size_t len;
	int lines = 0;

	(void)state;
	assert_non_null(text);
	for (int i = 0; n + 200 < cap; i++)
		n += (size_t)snprintf(text + n, cap - n, "%s{\"i\": %d, \"pad\": "
				      "\"%.*s\"}%s\n", i % 7 ? "" : "  \n\n", i,
				      i % 97, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
				      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
				      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
				      i % 3 ? "" : "\r");
	const char *path = write_tmp("offsets.jsonl", text, n);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(kiln_jsonl_open(&r, path, 0, &err), 0);
	while (kiln_jsonl_next_line(r, &line, &len, &err) == 0) {
		assert_true(len < sizeof got);
		assert_int_equal(fseek(f, (long)kiln_jsonl_offset(r), SEEK_SET),
				 0);
		assert_int_equal(fread(got, 1, len, f), len);
		assert_memory_equal(got, line, len);
		lines++;
	}
	assert_true(lines > 5000);
	kiln_jsonl_close(r);
	fclose(f);
	free(text);
}

/* A truncated gzip stream is an I/O error, not a silent end. */
static void reader_truncated_gzip(void **state)
{
	char path[256], *data;
	gzFile gz;
	FILE *f;
	long size;
	kiln_jsonl_reader *r;
	kiln_error err;
	json_t *o;
	int rc;

	(void)state;
	snprintf(path, sizeof(path), "%s/t.jsonl.gz", dir);
	gz = gzopen(path, "wb");
	for (int i = 0; i < 20000; i++)
		gzprintf(gz, "{\"i\": %d, \"pad\": \"%08x\"}\n", i, i * 2654435761u);
	gzclose(gz);
	f = fopen(path, "rb");
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	data = malloc((size_t)size);
	assert_int_equal(fread(data, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	f = fopen(path, "wb");
	fwrite(data, 1, (size_t)size / 2, f);
	fclose(f);
	free(data);
	assert_int_equal(kiln_jsonl_open(&r, path, 0, &err), 0);
	while ((rc = kiln_jsonl_next(r, &o, &err)) == 0 || rc == KILN_EPARSE)
		json_decref(o);
	assert_int_equal(rc, KILN_EIO);
	kiln_jsonl_close(r);
}

static void open_missing_file(void **state)
{
	kiln_jsonl_reader *r;
	kiln_error err;

	(void)state;
	assert_int_equal(kiln_jsonl_open(&r, "/nonexistent/x.jsonl", 0, &err),
			 KILN_EIO);
	assert_non_null(strstr(err.msg, "/nonexistent/x.jsonl: cannot open"));
}

static void atomic_output(void **state)
{
	char path[256], buf[256];
	kiln_out *o;
	kiln_error err;
	json_t *v = json_pack("{si ss}", "b", 1, "a", "x");
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/out.jsonl", dir);
	write_tmp("out.jsonl", "old\n", 4);
	/* Aborted: the old file stays exactly as it was, no temp left. */
	assert_int_equal(kiln_out_open(&o, path, &err), 0);
	assert_int_equal(kiln_out_write(o, v, &err), 0);
	kiln_out_abort(o);
	f = fopen(path, "r");
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "old\n");
	/* Committed: replaced whole, keys in their order. */
	assert_int_equal(kiln_out_open(&o, path, &err), 0);
	assert_int_equal(kiln_out_write(o, v, &err), 0);
	assert_int_equal(kiln_out_commit(o, &err), 0);
	f = fopen(path, "r");
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "{\"b\":1,\"a\":\"x\"}\n");
	snprintf(buf, sizeof(buf), "ls %s | grep -c tmp >/dev/null", dir);
	assert_int_not_equal(system(buf), 0);
	json_decref(v);
	assert_int_equal(kiln_out_open(&o, "/nonexistent/dir/x", &err),
			 KILN_EIO);
	assert_non_null(strstr(err.msg, "/nonexistent/dir/x"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(utf8_validation),
		cmocka_unit_test(parse_line_errors_say_what),
		cmocka_unit_test(reader_reports_and_continues),
		cmocka_unit_test(reader_caps_long_lines),
		cmocka_unit_test(reader_caps_endless_line),
		cmocka_unit_test(reader_names_bom_and_nul),
		cmocka_unit_test(reader_reads_gzip),
		cmocka_unit_test(reader_offsets_read_lines_again),
		cmocka_unit_test(reader_truncated_gzip),
		cmocka_unit_test(open_missing_file),
		cmocka_unit_test(atomic_output),
	};
	return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
