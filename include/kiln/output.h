/* kiln/output.h - where a command's output goes, by one rule.
 *
 * The rule (docs/ARCHITECTURE.md, "Outputs"), for every -o PATH:
 *
 *  - A regular file, or a name that does not exist yet, is written
 *    atomically: to a temporary file beside it (PATH.tmp.XXXXXX), fsynced,
 *    renamed over PATH, and the directory fsynced. A reader of PATH sees
 *    the old file or the new one, never a mix. A symbolic link to a
 *    regular file is followed: its target is replaced, the link stays.
 *  - Anything else (standard output as NULL or "-", a FIFO, a character
 *    device such as /dev/null, a socket, or a link to one of these) is
 *    streamed to: opened for writing as it is, never created, truncated,
 *    replaced or removed. /dev/stdout, /dev/stderr, /dev/fd/N and
 *    /proc/self/fd/N are this process's own descriptors, whatever they
 *    are (even a file opened with >>): written through a copy of the
 *    descriptor, never reopened or replaced.
 *  - PATH complete or untouched: a run that stops early (an error, a bad
 *    input line, a signal) never installs its partial output at PATH.
 *    Line-based outputs keep the records they finished in PATH.partial,
 *    itself written atomically (kiln_output_keep_partial); a checkpoint is
 *    all or nothing. A streamed output has had every record as it came.
 *    Either way the run says what it kept and exits non-zero.
 *  - No temporary file outlives its run: commit, keep_partial and abort
 *    remove it, and kiln_output_unlink_temps() (async-signal-safe) removes
 *    those of a process that a signal is ending.
 *
 * Write errors name the path and the cause ("out.jsonl: write failed: File
 * too large"); a writer should run with SIGXFSZ ignored (the CLI does) so
 * that a file size limit is an error, not a silent death.
 */
#ifndef KILN_OUTPUT_H
#define KILN_OUTPUT_H

#include <stddef.h>

#include "kiln/error.h"

typedef struct kiln_output kiln_output;

/* Opens PATH (NULL or "-": standard output) by the rule above. A FIFO's
 * open waits for a reader, as any writer's does. */
int kiln_output_open(kiln_output **out, const char *path, kiln_error *err);

/* Writes n bytes (all of them, or an error naming the path). */
int kiln_output_write(kiln_output *o, const void *p, size_t n,
		      kiln_error *err);

/* Marks the end of a whole record: what was written so far is what
 * kiln_output_keep_partial keeps. */
void kiln_output_mark(kiln_output *o);

/* Ends a complete output: fsync, rename, directory fsync (files); for a
 * stream, only reports an earlier error. Removes PATH.partial left by an
 * earlier stopped run. Frees o, also on error (then PATH is unchanged). */
int kiln_output_commit(kiln_output *o, kiln_error *err);

/* Ends an output that stopped early: a file's complete records (up to the
 * last kiln_output_mark) are installed atomically at PATH.partial, and
 * PATH is left as it was; *kept is set to that path (malloc'd), or NULL
 * when nothing was kept (nothing marked, or a stream, which has had it
 * all). Returns 0, or an error when the partial file could not be written
 * (then nothing was kept). Frees o. */
int kiln_output_keep_partial(kiln_output *o, char **kept, kiln_error *err);

/* Drops the output: removes the temporary file; PATH is unchanged. */
void kiln_output_abort(kiln_output *o);

/* The path as given, or "standard output". */
const char *kiln_output_name(const kiln_output *o);
/* 1 for a stream (standard output, FIFO, device ...), 0 for a file. */
int kiln_output_is_stream(const kiln_output *o);

/* A whole buffer to PATH by the rule: open, write, commit (or abort). */
int kiln_output_save(const char *path, const void *p, size_t n,
		     kiln_error *err);

/* A JSON value to PATH the same way, as json_dumps(j, flags) writes it
 * with a final newline (stats and measurement files). */
struct json_t;
int kiln_output_save_json(const char *path, const struct json_t *j,
			  size_t flags, kiln_error *err);

/* What PATH is, without opening it: sets *stream (1: streamed to, 0:
 * written atomically) and, for a file, *target to the path that will be
 * replaced (a link resolved; malloc'd; NULL for a stream). Fails for a
 * directory, a dangling link, or a missing directory. */
int kiln_output_resolve(const char *path, int *stream, char **target,
			kiln_error *err);

/* Checks, before any work, that PATH can take output: a stream, or a file
 * whose directory exists and accepts a new file (tried: a temporary file
 * is made and removed). Returns 0 or an error that names the path. */
int kiln_output_check(const char *path, kiln_error *err);

/* Refuses an output that is an input: the same path, the same file
 * (device and inode, links followed), or, when the input is a directory
 * (read whole), an existing file anywhere under it. what names the input
 * in the message ("the input", "--tasks"). Streams (standard output,
 * /dev/null ...) are never refused. Returns 0 or KILN_EINVAL. */
int kiln_output_check_distinct(const char *out, const char *in,
			       const char *what, kiln_error *err);

/* Removes every temporary file of this process's open outputs. Only
 * async-signal-safe calls: for a signal handler that ends the process. */
void kiln_output_unlink_temps(void);

#endif
