/* kiln/verify.h - verify tasks or candidates in parallel sandboxes.
 *
 * Reads records (each with a solution and tests), runs each in a box, and
 * writes one verdict a record, in input order:
 *   {id, candidate?, status, tests_passed, tests_total, tests: [...],
 *    cpu_ms, wall_ms, max_rss_kb, stderr, output_bytes, timeout_ms?}
 */
#ifndef KILN_VERIFY_H
#define KILN_VERIFY_H

#include "kiln/error.h"
#include "kiln/jsonl.h"
#include "kiln/sandbox.h"

typedef enum kiln_status {
	KILN_PASS, KILN_FAIL, KILN_ERROR, KILN_TIMEOUT, KILN_MEMORY,
	KILN_OUTPUT_LIMIT, KILN_KILLED, KILN_SANDBOX_ERROR,
	KILN_NSTATUS
} kiln_status;

const char *kiln_status_name(kiln_status s);
/* Returns the status for a name, or KILN_NSTATUS if unknown. */
kiln_status kiln_status_parse(const char *name);

typedef struct kiln_verify_stats {
	long status[KILN_NSTATUS];  /* verdicts per status */
	long verdicts;              /* records verified */
	long tests;                 /* test executions */
	long bad_lines;             /* input lines skipped */
	double seconds;             /* wall time of the whole run */
	int stopped;                /* *opts->stop ended the run early */
} kiln_verify_stats;

/* The longest timeout relative timeouts give a test (24 hours): a factor
 * times a reference's time never overflows past it. */
#define KILN_VERIFY_MAX_TIMEOUT_MS (24L * 3600 * 1000)

typedef struct kiln_verify_opts {
	kiln_box_config box;
	int jobs;                  /* parallel boxes; <= 0: one per core */
	int skip_bad;              /* go on after a bad input line */
	/* Relative timeouts (as evalplus): when > 0 and a record's task has a
	 * reference solution in references (id -> task record), each test's
	 * timeout is max(timeout_floor_ms, timeout_factor x the reference's
	 * slowest test), the reference being run once per task. */
	double timeout_factor;     /* finite, >= 0 (else KILN_EINVAL) */
	long timeout_floor_ms;
	/* Python I/O tests one call at a time (kiln_job.no_batch): each
	 * test's deadline its own. Implied by relative timeouts. */
	int no_batch;
	const json_t *references;
	/* Each output line is the record itself with its verdict in a
	 * "verdict" field (less id and candidate), instead of the verdict
	 * alone: what the curation stages after verify read. */
	int carry;
	/* When *stop becomes non-zero (a signal handler sets it), no more
	 * records are read or started; the runs in flight finish and their
	 * verdicts are written; stats.stopped says so. May be NULL. */
	volatile int *stop;
	/* Called from the calling thread after each verdict is written. */
	void (*progress)(void *ctx, const kiln_verify_stats *st);
	/* Called for a bad input line that is skipped. */
	void (*bad_line)(void *ctx, const kiln_error *err);
	void *ctx;
} kiln_verify_opts;

/* Zeroes o, then: the sandbox's default limits (kiln_limits_default), one
 * box per core, stop at a bad line, no relative timeouts (factor 0) with a
 * 1 s floor for when they are asked for. */
void kiln_verify_opts_default(kiln_verify_opts *o);

/* Verifies every record of in, writing verdicts to out. Returns 0 (also
 * when stopped: st->stopped), or an error (a bad line without skip_bad, a
 * write failure, a sandbox that cannot start, bad options); the verdicts
 * before the error have been written, and st->verdicts counts only those
 * that were. The caller decides what becomes of out (kiln_out_commit,
 * kiln_out_keep_partial). */
int kiln_verify_stream(kiln_jsonl_reader *in, kiln_out *out,
		       const kiln_verify_opts *opts, kiln_verify_stats *st,
		       kiln_error *err);

/* Where the records come from and the verdicts go, for kiln_verify_each
 * (kiln_verify_stream is it over a JSONL reader and a kiln_out). */
typedef struct kiln_verify_io {
	/* The next record (a new reference for the engine): 0, KILN_EEOF
	 * at the end, or an error with err filled in. Calling thread. */
	int (*next)(void *ctx, json_t **rec, kiln_error *err);
	/* A verdict, in input order, with the record it is for (both
	 * borrowed). A nonzero return stops the run with that error.
	 * Calling thread. */
	int (*verdict)(void *ctx, const json_t *rec, json_t *verdict,
		       kiln_error *err);
	/* Optional: prefixes a record's error with where it came from
	 * (the record just returned by next). */
	void (*where)(void *ctx, kiln_error *err);
	/* Optional: the record's per-test timeout in ms (0: the default),
	 * instead of relative timeouts. Called from the worker threads, so
	 * it must be safe to call concurrently. */
	long (*timeout_ms)(void *ctx, const json_t *rec);
	void *ctx;
} kiln_verify_io;

/* kiln_verify_stream with any source and sink. */
int kiln_verify_each(const kiln_verify_io *io, const kiln_verify_opts *opts,
		     kiln_verify_stats *st, kiln_error *err);

/* Verifies one record in a box and returns its verdict (new reference). */
int kiln_verify_record(kiln_box *box, const json_t *rec, long timeout_ms,
		       json_t **verdict, kiln_error *err);

#endif
