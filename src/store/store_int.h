/* The store's backends behind one operations table (the shape of curl's
 * struct Curl_ssl): a name, capability bits and the verbs of kiln/store.h.
 * store.c parses the URL, picks the backend, checks what every backend
 * would check (arguments, the handle's mode) and calls through the table;
 * a backend implements the verbs on its database and nothing else.
 *
 * Each backend's handle begins with struct kiln_store (its first member),
 * so store.c and the backend share one pointer. */
#ifndef KILN_STORE_INT_H
#define KILN_STORE_INT_H

#include "kiln/store.h"

/* What a backend can do. */
enum {
	STORE_CAP_CLAIM = 1 << 0,     /* leases for many workers */
	STORE_CAP_RUN_LOCK = 1 << 1,  /* an exclusive run lock that names its
				       * holder and ends with the process */
	STORE_CAP_MANY_HOSTS = 1 << 2 /* workers on other machines too */
};

struct kiln_store_backend {
	const char *name;    /* "sqlite" */
	unsigned caps;       /* STORE_CAP_* */

	/* where: the URL with the scheme taken off (a path for SQLite).
	 * Allocates the backend's handle, fills in base, takes the run lock
	 * (flags 0) or a worker's share (KILN_STORE_SHARED). */
	int (*open)(kiln_store **out, const char *where, unsigned flags,
		    kiln_error *err);
	void (*close)(kiln_store *s);

	int (*put)(kiln_store *s, const char *task_id, int index,
		   const char *kind, const char *request, const char *hash,
		   kiln_store_slot *slot, kiln_error *err);
	int (*cached)(kiln_store *s, const char *hash, char **answer,
		      kiln_error *err);
	/* state DONE (answer) or FAILED (error), by id: the run's */
	int (*record)(kiln_store *s, int64_t id, kiln_item_state state,
		      const char *text, double ms, int attempts,
		      kiln_error *err);
	int (*retry)(kiln_store *s, int64_t id, kiln_error *err);
	int (*begin)(kiln_store *s, kiln_error *err);
	int (*commit)(kiln_store *s, kiln_error *err);

	/* now: the store's clock (leases up to now have lapsed); until:
	 * the new leases' deadline */
	int (*claim)(kiln_store *s, const char *worker, int max, double now,
		     double until, kiln_store_fn fn, void *ctx, int *claimed,
		     kiln_error *err);
	int (*heartbeat)(kiln_store *s, const kiln_store_lease *lease,
			 double until, kiln_error *err);
	/* the holder's outcome: DONE (text: the answer), FAILED (text: the
	 * error) or PENDING (release; text NULL) */
	int (*settle)(kiln_store *s, const kiln_store_lease *lease,
		      kiln_item_state state, const char *text, double ms,
		      int attempts, kiln_error *err);
	int (*expire)(kiln_store *s, double now, long *n, kiln_error *err);

	int (*list)(kiln_store *s, int state, kiln_store_fn fn, void *ctx,
		    kiln_error *err);
	int (*stats)(kiln_store *s, kiln_store_count_fn fn, void *ctx,
		     kiln_error *err);
};

struct kiln_store {
	const struct kiln_store_backend *be;
	char *where;             /* for messages: the path, the URL */
	unsigned flags;          /* KILN_STORE_* */
	kiln_store_clock_fn now; /* the lease clock */
	void *now_ctx;
};

/* The store's time now, by its clock. */
double kiln__store_now(const kiln_store *s);

/* runlock.c: the run lock of a store in a file is kiln_lock_path
 * (kiln/store.h), exclusive for a run, shared for workers. */

extern const struct kiln_store_backend kiln__store_sqlite;

#endif
