/* kiln/store.h - the job store: every request to a teacher and its answer.
 *
 * One row per (task, candidate index, kind, request hash) with its state,
 * the request, the answer, timings and the last error: a request that
 * changes (another template, temperature, model...) is a new job. A run killed at any moment
 * resumes from the store: answered jobs are never sent again, and an
 * identical request (same hash of the fully rendered request) is answered
 * from the store. SQLite in WAL mode; every change is one transaction.
 */
#ifndef KILN_STORE_H
#define KILN_STORE_H

#include <stdint.h>

#include "kiln/error.h"

typedef struct kiln_store kiln_store;

typedef enum kiln_job_state {
	KILN_JOB_PENDING,   /* not answered yet (never sent, or cut off) */
	KILN_JOB_DONE,      /* answered; the answer is stored */
	KILN_JOB_FAILED,    /* gave up after retries; the error is stored */
} kiln_job_state;

typedef struct kiln_store_job {
	int64_t id;
	const char *task_id;
	int index;
	const char *kind;       /* "solution", "tests", ... */
	kiln_job_state state;
	const char *request;    /* JSON text of the rendered request */
	const char *hash;       /* hex digest of the request */
	const char *answer;     /* JSON text, or NULL */
	const char *error;      /* last error, or NULL */
	int attempts;
} kiln_store_job;

int kiln_store_open(kiln_store **out, const char *path, kiln_error *err);
void kiln_store_close(kiln_store *s);

/* Adds a pending job unless (task_id, index, kind, hash) is there already,
 * in which case nothing changes (*added = 0). */
int kiln_store_add(kiln_store *s, const char *task_id, int index,
		   const char *kind, const char *request, const char *hash,
		   int *added, kiln_error *err);

/* kiln_store_add, and where the job stands: its id, its state and, when it
 * is done, its answer (malloc'd: the caller frees it). One indexed
 * statement or two, whatever the size of the store. */
typedef struct kiln_store_slot {
	int64_t id;
	kiln_job_state state;
	int added;              /* new in this call */
	char *answer;           /* KILN_JOB_DONE: the answer; else NULL */
} kiln_store_slot;

int kiln_store_put(kiln_store *s, const char *task_id, int index,
		   const char *kind, const char *request, const char *hash,
		   kiln_store_slot *slot, kiln_error *err);

/* Calls fn for every job in the given state, in insertion order. The
 * strings in the job are valid only during the call. fn returns nonzero to
 * stop (that value is returned). */
typedef int (*kiln_store_fn)(void *ctx, const kiln_store_job *job);
int kiln_store_each(kiln_store *s, kiln_job_state state, kiln_store_fn fn,
		    void *ctx, kiln_error *err);

/* The answer of a done job with this request hash, or *answer = NULL.
 * The caller frees *answer. */
int kiln_store_cached(kiln_store *s, const char *hash, char **answer,
		      kiln_error *err);

/* attempts: HTTP attempts this answer (or failure) took; 0 from cache. */
int kiln_store_finish(kiln_store *s, int64_t id, const char *answer,
		      double ms, int attempts, kiln_error *err);
int kiln_store_fail(kiln_store *s, int64_t id, const char *error,
		    int attempts, kiln_error *err);
/* Failed jobs back to pending (--retry-failed). Returns how many. */
int kiln_store_retry_failed(kiln_store *s, long *n, kiln_error *err);
/* One failed job back to pending (a run's --retry-failed: only its own). */
int kiln_store_retry(kiln_store *s, int64_t id, kiln_error *err);

/* Groups the changes that follow into one transaction until commit: many
 * small writes cost one commit. Nesting is not supported. */
int kiln_store_begin(kiln_store *s, kiln_error *err);
int kiln_store_commit(kiln_store *s, kiln_error *err);

/* Counts per state. */
int kiln_store_counts(kiln_store *s, long counts[3], kiln_error *err);

#endif
