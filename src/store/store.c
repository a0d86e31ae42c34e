/* The store's front: a URL picks a backend (store_int.h); every verb of
 * kiln/store.h checks what any backend would check, then calls through
 * the backend's operations table. */
#include <math.h>
#include <string.h>
#include <time.h>

#include "store/store_int.h"

static const char *const state_names[] = {
	"pending", "done", "failed", "claimed",
};

const char *kiln_item_state_name(int state)
{
	if (state < 0 || state >= (int)(sizeof(state_names) /
					 sizeof(state_names[0])))
		return NULL;
	return state_names[state];
}

static int starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int kiln_store_open_with(kiln_store **out, const char *url, unsigned flags,
			 kiln_error *err)
{
	const struct kiln_store_backend *be = &kiln__store_sqlite;
	const char *where = url;

	*out = NULL;
	if (!url || !*url)
		return kiln_error_set(err, KILN_EINVAL, "no store given");
	if ((flags & KILN_STORE_READONLY) && (flags & KILN_STORE_SHARED))
		return kiln_error_set(err, KILN_EINVAL, "%s: a store is opened "
				      "read-only or shared, not both", url);
	if (starts(url, "postgresql://") || starts(url, "postgres://"))
		return kiln_error_set(err, KILN_EINVAL, "%s: the PostgreSQL "
				      "store is not built into this kiln "
				      "(only SQLite: a path or sqlite:PATH)",
				      url);
	if (starts(url, "sqlite:")) {
		where = url + strlen("sqlite:");
		if (starts(where, "//"))  /* sqlite:///abs/path */
			where += 2;
		if (!*where)
			return kiln_error_set(err, KILN_EINVAL, "%s: no path "
					      "after sqlite:", url);
	} else if (strstr(url, "://")) {
		return kiln_error_set(err, KILN_EINVAL, "%s: unknown store "
				      "(a path, sqlite:PATH or, once built, "
				      "postgresql://...)", url);
	}
	return be->open(out, where, flags, err);
}

int kiln_store_open(kiln_store **out, const char *url, kiln_error *err)
{
	return kiln_store_open_with(out, url, 0, err);
}

void kiln_store_close(kiln_store *s)
{
	if (s)
		s->be->close(s);
}

const char *kiln_store_backend(const kiln_store *s)
{
	return s->be->name;
}

const char *kiln_store_where(const kiln_store *s)
{
	return s->where;
}

static double real_now(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void kiln_store_set_clock(kiln_store *s, kiln_store_clock_fn now, void *ctx)
{
	s->now = now ? now : real_now;
	s->now_ctx = now ? ctx : NULL;
}

double kiln__store_now(const kiln_store *s)
{
	return s->now ? s->now(s->now_ctx) : real_now(NULL);
}

/* The verbs that record, by id, belong to the run that holds the lock. */
static int need_run(kiln_store *s, const char *what, kiln_error *err)
{
	if (s->flags & (KILN_STORE_SHARED | KILN_STORE_READONLY))
		return kiln_error_set(err, KILN_EINVAL, "%s: %s needs the run's "
				      "handle (a %s handle %s)", s->where, what,
				      s->flags & KILN_STORE_SHARED ? "worker's"
				      : "read-only",
				      s->flags & KILN_STORE_SHARED
				      ? "records through its leases"
				      : "cannot write");
	return 0;
}

static int need_worker(kiln_store *s, const char *what, kiln_error *err)
{
	if (!(s->flags & KILN_STORE_SHARED))
		return kiln_error_set(err, KILN_EINVAL, "%s: %s needs a "
				      "worker's handle (KILN_STORE_SHARED)",
				      s->where, what);
	if (!(s->be->caps & STORE_CAP_CLAIM))
		return kiln_error_set(err, KILN_EINVAL, "%s: the %s store "
				      "cannot lease items", s->where,
				      s->be->name);
	return 0;
}

static int need_writable(kiln_store *s, const char *what, kiln_error *err)
{
	if (s->flags & KILN_STORE_READONLY)
		return kiln_error_set(err, KILN_EINVAL, "%s: %s: the store was "
				      "opened read-only", s->where, what);
	return 0;
}

static int check_lease_s(kiln_store *s, double lease_s, kiln_error *err)
{
	if (!isfinite(lease_s) || lease_s <= 0 || lease_s > 1e9)
		return kiln_error_set(err, KILN_EINVAL, "%s: a lease of %g s "
				      "(0 < seconds <= 1e9)", s->where,
				      lease_s);
	return 0;
}

int kiln_store_put(kiln_store *s, const char *task_id, int index,
		   const char *kind, const char *request, const char *hash,
		   kiln_store_slot *slot, kiln_error *err)
{
	int rc;

	memset(slot, 0, sizeof(*slot));
	if ((rc = need_writable(s, "adding an item", err)))
		return rc;
	return s->be->put(s, task_id, index, kind, request, hash, slot, err);
}

int kiln_store_cached(kiln_store *s, const char *hash, char **answer,
		      kiln_error *err)
{
	*answer = NULL;
	return s->be->cached(s, hash, answer, err);
}

int kiln_store_finish(kiln_store *s, int64_t id, const char *answer,
		      double ms, int attempts, kiln_error *err)
{
	int rc = need_run(s, "recording an answer", err);

	return rc ? rc : s->be->record(s, id, KILN_ITEM_DONE, answer, ms,
				       attempts, err);
}

int kiln_store_fail(kiln_store *s, int64_t id, const char *error,
		    int attempts, kiln_error *err)
{
	int rc = need_run(s, "recording a failure", err);

	return rc ? rc : s->be->record(s, id, KILN_ITEM_FAILED, error, 0,
				       attempts, err);
}

int kiln_store_retry(kiln_store *s, int64_t id, kiln_error *err)
{
	int rc = need_run(s, "retrying an item", err);

	return rc ? rc : s->be->retry(s, id, err);
}

int kiln_store_begin(kiln_store *s, kiln_error *err)
{
	int rc = need_writable(s, "a transaction", err);

	return rc ? rc : s->be->begin(s, err);
}

int kiln_store_commit(kiln_store *s, kiln_error *err)
{
	int rc = need_writable(s, "a transaction", err);

	return rc ? rc : s->be->commit(s, err);
}

int kiln_store_claim(kiln_store *s, const char *worker, int max,
		     double lease_s, kiln_store_fn fn, void *ctx,
		     int *claimed, kiln_error *err)
{
	double now;
	int rc;

	*claimed = 0;
	if ((rc = need_worker(s, "claiming", err)) ||
	    (rc = check_lease_s(s, lease_s, err)))
		return rc;
	if (!worker || !*worker)
		return kiln_error_set(err, KILN_EINVAL, "%s: claiming needs a "
				      "worker id", s->where);
	if (max <= 0)
		return 0;
	now = kiln__store_now(s);
	return s->be->claim(s, worker, max, now, now + lease_s, fn, ctx,
			    claimed, err);
}

int kiln_store_heartbeat(kiln_store *s, const kiln_store_lease *lease,
			 double lease_s, kiln_error *err)
{
	int rc;

	if ((rc = need_worker(s, "a heartbeat", err)) ||
	    (rc = check_lease_s(s, lease_s, err)))
		return rc;
	return s->be->heartbeat(s, lease, kiln__store_now(s) + lease_s, err);
}

int kiln_store_complete(kiln_store *s, const kiln_store_lease *lease,
			const char *answer, double ms, int attempts,
			kiln_error *err)
{
	int rc = need_worker(s, "completing an item", err);

	if (!rc && !answer)
		rc = kiln_error_set(err, KILN_EINVAL, "%s: completing item "
				    "%lld without an answer", s->where,
				    (long long)lease->item);
	return rc ? rc : s->be->settle(s, lease, KILN_ITEM_DONE, answer, ms,
				       attempts, err);
}

int kiln_store_give_up(kiln_store *s, const kiln_store_lease *lease,
		       const char *error, int attempts, kiln_error *err)
{
	int rc = need_worker(s, "giving up an item", err);

	return rc ? rc : s->be->settle(s, lease, KILN_ITEM_FAILED,
				       error ? error : "given up", 0,
				       attempts, err);
}

int kiln_store_release(kiln_store *s, const kiln_store_lease *lease,
		       kiln_error *err)
{
	int rc = need_worker(s, "releasing an item", err);

	return rc ? rc : s->be->settle(s, lease, KILN_ITEM_PENDING, NULL, 0,
				       0, err);
}

int kiln_store_expire(kiln_store *s, long *n, kiln_error *err)
{
	int rc = need_writable(s, "expiring leases", err);

	*n = 0;
	return rc ? rc : s->be->expire(s, kiln__store_now(s), n, err);
}

int kiln_store_list(kiln_store *s, int state, kiln_store_fn fn, void *ctx,
		    kiln_error *err)
{
	if (state != -1 && !kiln_item_state_name(state))
		return kiln_error_set(err, KILN_EINVAL, "%s: no item state %d",
				      s->where, state);
	return s->be->list(s, state, fn, ctx, err);
}

int kiln_store_stats(kiln_store *s, kiln_store_count_fn fn, void *ctx,
		     kiln_error *err)
{
	return s->be->stats(s, fn, ctx, err);
}
