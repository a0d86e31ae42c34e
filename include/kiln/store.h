/* kiln/store.h - the store: every request kiln sends to a teacher, and its
 * answer, kept so that a run resumes and many workers can share the work.
 *
 * Words (kiln uses each for one thing only):
 *   item     the store's unit of work: today always one request to a teacher
 *            model, keyed by (task id, index, kind, request hash), with its
 *            state and, once answered, the answer. kind is "solution",
 *            "tests" or "joint".
 *   job      one run of a candidate in the sandbox (kiln_job, kiln/task.h);
 *            the store holds no jobs.
 *   request  the HTTP request an item stands for (its rendered JSON body).
 *   run      one process that owns a store alone (kiln generate, kiln eval).
 *   worker   one of many processes (or threads) that share a store by
 *            claiming items; it names itself with a worker id string.
 *   lease    a worker's claim on an item, valid until a deadline; the
 *            worker extends it with heartbeats.
 *
 * A request that changes (another template, temperature, model...) is a new
 * item. A run killed at any moment resumes from the store: answered items
 * are never sent again, and an identical request (same hash of the fully
 * rendered request) is answered from the store.
 *
 * Two ways to work a store, never both at once:
 *   - one run (kiln_store_open): the run holds the store's run lock for as
 *     long as the handle is open, adds its items (kiln_store_put) and
 *     records each one's outcome (kiln_store_finish / kiln_store_fail). A
 *     second run, or a worker, is refused with KILN_STORE_BUSY and a
 *     message naming the holder (pid, host, since when).
 *   - many workers (kiln_store_open_with(KILN_STORE_SHARED)): each takes up
 *     to N pending items at a time with kiln_store_claim, under a lease; only
 *     the current lease holder can record an outcome (complete, give up,
 *     release), exactly once. An item whose lease lapsed goes to the next
 *     worker that claims. Workers exclude a run, not one another.
 *
 * Backends: a URL picks one. "PATH" or "sqlite:PATH" is SQLite (one file,
 * WAL, every change a transaction; workers on one machine). "postgresql://"
 * and "postgres://" are reserved for the PostgreSQL backend (workers on many
 * machines) and refused until it is built.
 *
 * Errors: 0, a negative KILN_E* with err filled, or one of the two positive
 * answers below (also with err filled), which are the store's rules at work
 * rather than failures: the caller decides what to do next.
 */
#ifndef KILN_STORE_H
#define KILN_STORE_H

#include <stdint.h>

#include "kiln/error.h"

typedef struct kiln_store kiln_store;

enum {
	/* The caller does not hold this lease any more: the item was
	 * completed, given up or released already, or its lease lapsed and
	 * another worker claimed it. Drop the result; nothing was written. */
	KILN_STORE_LOST = 1,
	/* The store is in use: by another run (open), or by workers (a run's
	 * open); err names the holder where the backend knows it. */
	KILN_STORE_BUSY = 2,
};

typedef enum kiln_item_state {
	KILN_ITEM_PENDING = 0, /* not answered yet (never sent, or cut off) */
	KILN_ITEM_DONE = 1,    /* answered; the answer is stored */
	KILN_ITEM_FAILED = 2,  /* gave up after retries; the error is stored */
	KILN_ITEM_CLAIMED = 3, /* a worker holds a lease on it */
} kiln_item_state;

/* "pending", "done", "failed", "claimed"; NULL for anything else. */
const char *kiln_item_state_name(int state);

/* One item as the store has it. Strings are valid only during the
 * callback that receives the item. */
typedef struct kiln_store_item {
	int64_t id;
	const char *task_id;
	int index;
	const char *kind;       /* "solution", "tests", "joint" */
	kiln_item_state state;
	const char *request;    /* JSON text of the rendered request */
	const char *hash;       /* hex digest of the request */
	const char *answer;     /* JSON text, or NULL */
	const char *error;      /* last error, or NULL */
	int attempts;           /* HTTP attempts, all runs together */
	const char *worker;     /* claimed: the holder's worker id; else NULL */
	double lease_until;     /* claimed: when the lease lapses (seconds
				 * since the epoch, the store's clock) */
	int64_t claims;         /* how many times it was claimed */
} kiln_store_item;

/* Calls fn for items; fn returns nonzero to stop (that value is returned). */
typedef int (*kiln_store_fn)(void *ctx, const kiln_store_item *item);

/* ---- opening ---------------------------------------------------------- */

enum {
	KILN_STORE_READONLY = 1 << 0, /* read only (list, stats): no lock, no
				       * writes, a missing store is an error */
	KILN_STORE_SHARED = 1 << 1,   /* a worker's handle: claims, no run
				       * lock; other workers may be in too */
};

/* Opens (creating it if needed) the store at url for one run: the handle
 * holds the run lock until kiln_store_close. */
int kiln_store_open(kiln_store **out, const char *url, kiln_error *err);
/* The same with KILN_STORE_* flags (0 is kiln_store_open). */
int kiln_store_open_with(kiln_store **out, const char *url, unsigned flags,
			 kiln_error *err);
void kiln_store_close(kiln_store *s);

/* The run lock a store in a file takes, for other things kept in files
 * that one run at a time may change (kiln dedup's --index): an flock on
 * PATH-lock beside path, exclusive (shared = 0) or shared, which the
 * kernel drops when the process ends however it ends. On success *fd
 * holds it; KILN_STORE_BUSY says who holds it ("PATH is in use by kiln
 * dedup (pid N on host H) since T; wait or use another NOUN"). */
int kiln_lock_path(const char *path, int shared, const char *noun, int *fd,
		   kiln_error *err);
/* Drops it (exclusive: the file forgets the holder); fd < 0: nothing. */
void kiln_unlock_path(int fd, int exclusive);

/* The backend's name ("sqlite") and the store's location, for messages. */
const char *kiln_store_backend(const kiln_store *s);
const char *kiln_store_where(const kiln_store *s);

/* The store's clock (seconds since the epoch) for leases: the real time
 * unless a test sets another. Every handle of a store must agree. */
typedef double (*kiln_store_clock_fn)(void *ctx);
void kiln_store_set_clock(kiln_store *s, kiln_store_clock_fn now, void *ctx);

/* ---- one run (the handle holds the run lock) --------------------------- */

/* kiln_store_put: adds a pending item unless (task_id, index, kind, hash)
 * is there already, and says where the item stands: its id, its state and,
 * when it is done, its answer (malloc'd: the caller frees it). One indexed
 * statement or two, whatever the size of the store. Also on shared handles
 * (workers may add items). */
typedef struct kiln_store_slot {
	int64_t id;
	kiln_item_state state;
	int added;              /* new in this call */
	char *answer;           /* KILN_ITEM_DONE: the answer; else NULL */
} kiln_store_slot;

int kiln_store_put(kiln_store *s, const char *task_id, int index,
		   const char *kind, const char *request, const char *hash,
		   kiln_store_slot *slot, kiln_error *err);

/* The answer of a done item with this request hash, or *answer = NULL.
 * The caller frees *answer. */
int kiln_store_cached(kiln_store *s, const char *hash, char **answer,
		      kiln_error *err);

/* The outcome of item id, recorded by the run (a shared or read-only handle
 * is refused with KILN_EINVAL: workers record through their lease).
 * attempts: HTTP attempts this answer (or failure) took; 0 from cache. */
int kiln_store_finish(kiln_store *s, int64_t id, const char *answer,
		      double ms, int attempts, kiln_error *err);
int kiln_store_fail(kiln_store *s, int64_t id, const char *error,
		    int attempts, kiln_error *err);
/* A failed item back to pending (a run's --retry-failed: only its own). */
int kiln_store_retry(kiln_store *s, int64_t id, kiln_error *err);

/* Groups the changes that follow into one transaction until commit: many
 * small writes cost one commit. Nesting is not supported. */
int kiln_store_begin(kiln_store *s, kiln_error *err);
int kiln_store_commit(kiln_store *s, kiln_error *err);

/* ---- many workers (shared handles) ------------------------------------- */

/* A lease names one claim of one item. Every claim of an item gets a new
 * token, so a lease that lapsed and was claimed by someone else (even by
 * the same worker id) no longer matches: its holder's late result is
 * refused with KILN_STORE_LOST instead of overwriting the new holder's. */
typedef struct kiln_store_lease {
	int64_t item;           /* the item's id */
	int64_t token;          /* which claim of the item this is */
} kiln_store_lease;

/* Claims, atomically, up to max items that are pending or whose lease has
 * lapsed, oldest first, for lease_s seconds, for worker (a non-empty id of
 * the worker's choosing; it is recorded and listed). The claims are
 * committed before fn is called once per claimed item (item->state is
 * KILN_ITEM_CLAIMED, item->claims the lease token); *claimed is how many.
 * No two claims, from any handles, processes or threads, ever hold the same
 * item at the same time. Claiming takes no item that is done or failed.
 * Call it outside kiln_store_begin/commit, so that the claim is committed
 * (and seen by the other workers) before the work starts. */
int kiln_store_claim(kiln_store *s, const char *worker, int max,
		     double lease_s, kiln_store_fn fn, void *ctx,
		     int *claimed, kiln_error *err);

/* Extends a lease to now + lease_s. A lease that lapsed but nobody else
 * claimed since is still the holder's and is extended too. */
int kiln_store_heartbeat(kiln_store *s, const kiln_store_lease *lease,
			 double lease_s, kiln_error *err);

/* The holder's outcomes, each accepted once, from the current holder only
 * (else KILN_STORE_LOST and nothing changes):
 *   complete: done, with its answer (ms and attempts as kiln_store_finish);
 *   give_up:  failed, with error; it stays failed (claims skip it) until a
 *             run retries it;
 *   release:  back to pending, untouched, for the next claim (a worker that
 *             stops before it is done). */
int kiln_store_complete(kiln_store *s, const kiln_store_lease *lease,
			const char *answer, double ms, int attempts,
			kiln_error *err);
int kiln_store_give_up(kiln_store *s, const kiln_store_lease *lease,
		       const char *error, int attempts, kiln_error *err);
int kiln_store_release(kiln_store *s, const kiln_store_lease *lease,
		       kiln_error *err);

/* Items whose lease lapsed back to pending (claims take them anyway; this
 * makes the store's counts say so). *n: how many. */
int kiln_store_expire(kiln_store *s, long *n, kiln_error *err);

/* ---- reading (any handle) ---------------------------------------------- */

/* Calls fn for every item in the given state (-1: every item), in
 * insertion order. */
int kiln_store_list(kiln_store *s, int state, kiln_store_fn fn, void *ctx,
		    kiln_error *err);

/* Calls fn once per (kind, state) with the number of items in it. */
typedef int (*kiln_store_count_fn)(void *ctx, const char *kind,
				   kiln_item_state state, long n);
int kiln_store_stats(kiln_store *s, kiln_store_count_fn fn, void *ctx,
		     kiln_error *err);

#endif
