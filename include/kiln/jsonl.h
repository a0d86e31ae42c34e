/* kiln/jsonl.h - streaming JSON Lines input and atomic output.
 *
 * The reader takes a path ("-" is stdin); gzip input is decompressed
 * transparently. Each line must be one JSON object in valid UTF-8 and no
 * longer than the reader's cap. A bad line is reported as "FILE:LINE: what"
 * and skipped, so a caller may stop or go on (--on-error=stop|skip).
 *
 * A line longer than the cap is reported as soon as the cap is passed (a
 * line that never ends, such as /dev/zero, is not waited for); the rest of
 * it is skipped by the next call. A UTF-8 byte-order mark and a NUL byte
 * are named as such.
 *
 * The writer follows kiln's one rule for outputs (kiln/output.h): a
 * regular file is written atomically, anything else (stdout, a FIFO,
 * /dev/null) is streamed to, record by record; a run that stops early
 * keeps its whole records in PATH.partial (kiln_out_keep_partial) and
 * leaves PATH as it was.
 */
#ifndef KILN_JSONL_H
#define KILN_JSONL_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "kiln/error.h"
#include "kiln/output.h"

#define KILN_JSONL_MAX_LINE_DEFAULT (64u << 20) /* 64 MiB */

typedef struct kiln_jsonl_reader kiln_jsonl_reader;

int kiln_jsonl_open(kiln_jsonl_reader **out, const char *path, size_t max_line,
		    kiln_error *err);

/* Reads the next non-blank line. Returns 0 and a new reference in *obj,
 * KILN_EEOF at the end, KILN_EIO if the file cannot be read (fatal), or
 * KILN_EPARSE / KILN_ELIMIT for a bad line (the line is consumed; reading
 * may go on). */
int kiln_jsonl_next(kiln_jsonl_reader *r, json_t **obj, kiln_error *err);

/* The next non-blank line as it is, unparsed (for fast paths, and for
 * formats jansson cannot hold: integers beyond 64 bits): *line (NUL-
 * terminated, without its line end; the reader's, valid until the next
 * call) and *len. Its UTF-8 is not checked here. Returns as
 * kiln_jsonl_next does. */
int kiln_jsonl_next_line(kiln_jsonl_reader *r, const char **line,
			 size_t *len, kiln_error *err);

/* A flag that a signal handler sets to stop: a read that such a signal
 * interrupts (a handler installed without SA_RESTART) then fails with
 * KILN_EIO ("interrupted") instead of waiting on, so a reader of a quiet
 * pipe or terminal stops when asked. NULL: reads wait (the default). */
void kiln_jsonl_set_stop(kiln_jsonl_reader *r, volatile int *stop);

/* 1-based number of the line most recently returned by kiln_jsonl_next. */
long kiln_jsonl_lineno(const kiln_jsonl_reader *r);
/* Where the line most recently returned starts: its byte offset in the
 * input as read (of a gzip input, in the inflated bytes). Reading
 * kiln_jsonl_next_line's len bytes there (pread) gives the line again. */
unsigned long long kiln_jsonl_offset(const kiln_jsonl_reader *r);
const char *kiln_jsonl_path(const kiln_jsonl_reader *r);
void kiln_jsonl_close(kiln_jsonl_reader *r);

/* Parses one line already in memory (no trailing newline needed): checks
 * UTF-8, parses JSON, requires an object. Used by the reader and fuzzers. */
int kiln_jsonl_parse_line(const char *buf, size_t len, json_t **obj,
			  kiln_error *err);


typedef struct kiln_out kiln_out;

/* path NULL or "-" writes to stdout (see kiln_output_open). */
int kiln_out_open(kiln_out **out, const char *path, kiln_error *err);
/* Writes obj as one compact line, keys in their original order. */
int kiln_out_write(kiln_out *o, const json_t *obj, kiln_error *err);
/* Writes line[0, n), one JSON object's text without a newline, as one
 * record (for a stage that passes input lines through as they are). */
int kiln_out_write_line(kiln_out *o, const char *line, size_t n,
			kiln_error *err);
/* The same for the record a[0, an) followed by b[0, bn) (one line). */
int kiln_out_write_line2(kiln_out *o, const char *a, size_t an,
			 const char *b, size_t bn, kiln_error *err);
/* Records that have reached the output whole (a file's buffer holds the
 * rest until it is flushed). */
long kiln_out_records(const kiln_out *o);
/* The path as given, or "standard output"; 1 if it is streamed to. */
const char *kiln_out_name(const kiln_out *o);
int kiln_out_is_stream(const kiln_out *o);
/* A complete output: flushes, fsyncs and renames into place (a stream:
 * flushes); removes PATH.partial of an earlier stopped run. Frees o, also
 * on error (then PATH is unchanged). */
int kiln_out_commit(kiln_out *o, kiln_error *err);
/* An output that stopped early: the whole records written (as many as it
 * can still write) go to PATH.partial, atomically; PATH is unchanged.
 * *kept is that path (malloc'd) or NULL if nothing was kept (no records;
 * a stream has had them all); *records (may be NULL) how many records it
 * holds, or, for a stream, how many it was given. Frees o. */
int kiln_out_keep_partial(kiln_out *o, char **kept, long *records,
			  kiln_error *err);
/* Drops the output (PATH unchanged, the temporary file removed); frees
 * o. */
void kiln_out_abort(kiln_out *o);

#endif
