/* The store on SQLite: one file, WAL mode, a transaction per change, the
 * verbs of store_int.h's operations table.
 *
 * Who may write: the run lock on PATH-lock (runlock.c): exclusive for a
 * run, shared for workers, none for read-only handles. SQLite's own locks
 * keep each change atomic between the workers' handles; leases (claims)
 * are rows, checked in the same UPDATE that changes them, so no two
 * handles can both win one. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store_int.h"

struct sqlite_store {
	struct kiln_store base;   /* first: the front's view */
	sqlite3 *db;
	int lock_fd;              /* PATH-lock, or -1 */
	int exclusive;            /* holds the run lock */
	sqlite3_stmt *add, *find, *cached, *finish, *fail;
};

#define ITEM_COLUMNS "id, task_id, idx, kind, state, request, hash, answer," \
	" error, attempts, worker, lease, claims"

/* Schema 3: the table is items (kiln/store.h's word), with a lease per
 * item (worker, lease deadline, claims: the lease token). The one unique
 * index, (hash, task, index, kind), serves both lookups: an item by its
 * key (put) and the cache by hash.
 * Schema 2 (table jobs, no leases) is renamed and given the lease columns;
 * schema 1 (unique on task, index, kind, hash) first gets an index on hash
 * alone (it had one on (hash, state), which made every stored answer
 * rewrite an index entry). A read-only handle migrates nothing: it reads
 * an old store through a view. A higher schema is refused. */
#define SCHEMA 3

static const char pragmas[] =
	"PRAGMA busy_timeout=10000;"
	"PRAGMA synchronous=NORMAL;";

/* The claimed items alone: a run's open finds stale claims, and a claim
 * lapsed leases, without reading the table; a run's answers never enter
 * it, so it costs them nothing. */
#define CLAIMED_INDEX \
	"CREATE INDEX IF NOT EXISTS items_claimed ON items (lease)" \
	" WHERE state = 3;"

static const char create_3[] =
	"CREATE TABLE IF NOT EXISTS items ("
	"  id INTEGER PRIMARY KEY,"
	"  task_id TEXT NOT NULL,"
	"  idx INTEGER NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  state INTEGER NOT NULL DEFAULT 0,"
	"  request TEXT NOT NULL,"
	"  hash TEXT NOT NULL,"
	"  answer TEXT,"
	"  error TEXT,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  ms REAL,"
	"  created REAL NOT NULL DEFAULT (julianday('now')),"
	"  updated REAL NOT NULL DEFAULT (julianday('now')),"
	"  worker TEXT,"
	"  lease REAL,"
	"  claims INTEGER NOT NULL DEFAULT 0,"
	"  UNIQUE (hash, task_id, idx, kind));"
	CLAIMED_INDEX
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);"
	"INSERT OR REPLACE INTO meta VALUES ('schema', '3');";

static const char migrate_1[] =
	"DROP INDEX IF EXISTS jobs_hash;"
	"CREATE INDEX IF NOT EXISTS jobs_by_hash ON jobs (hash);";

static const char migrate_2[] =
	"ALTER TABLE jobs RENAME TO items;"
	"ALTER TABLE items ADD COLUMN worker TEXT;"
	"ALTER TABLE items ADD COLUMN lease REAL;"
	"ALTER TABLE items ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;"
	CLAIMED_INDEX
	"UPDATE meta SET value = '3' WHERE key = 'schema';";

/* How a read-only handle reads a schema 1 or 2 store. */
static const char view_2[] =
	"CREATE TEMP VIEW items AS SELECT *, NULL AS worker, NULL AS lease,"
	" 0 AS claims FROM main.jobs;";

/* SQLite's own allocation failures are KILN_ENOMEM whatever the caller
 * expected (tests/alloc/test_alloc_fail.c). */
static int nomem_code(sqlite3 *db, int code)
{
	int e = db ? sqlite3_extended_errcode(db) : SQLITE_NOMEM;

	return (e & 0xff) == SQLITE_NOMEM || e == SQLITE_IOERR_NOMEM ?
		       KILN_ENOMEM : code;
}

static int db_error(struct sqlite_store *q, int code, const char *what,
		    kiln_error *err)
{
	code = nomem_code(q->db, code);
	return kiln_error_set(err, code, "%s: %s: %s", q->base.where, what,
			      sqlite3_errmsg(q->db));
}

static struct sqlite_store *Q(kiln_store *s)
{
	return (struct sqlite_store *)s;
}

/* ---- opening ------------------------------------------------------------- */

static int exec(struct sqlite_store *q, const char *sql, const char *what,
		kiln_error *err)
{
	if (sqlite3_exec(q->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_error(q, KILN_EIO, what, err);
	return 0;
}

/* The schema version (0: an empty file) and whether it has a meta table. */
static int read_version(struct sqlite_store *q, int *version, kiln_error *err)
{
	sqlite3_stmt *st;
	int step, has_meta = 0, tables = 0;

	*version = 0;
	if (sqlite3_prepare_v2(q->db, "SELECT count(*), sum(name = 'meta') "
			       "FROM sqlite_master WHERE type = 'table'", -1,
			       &st, NULL) != SQLITE_OK)
		return db_error(q, KILN_EIO, "reading the schema", err);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		tables = sqlite3_column_int(st, 0);
		has_meta = sqlite3_column_int(st, 1) > 0;
	}
	sqlite3_finalize(st);
	if (step != SQLITE_ROW)
		return db_error(q, KILN_EIO, "reading the schema", err);
	if (!has_meta) {
		/* empty: a new store; tables of someone else's: not ours */
		*version = tables ? -1 : 0;
		return 0;
	}
	if (sqlite3_prepare_v2(q->db, "SELECT value FROM meta WHERE key = "
			       "'schema'", -1, &st, NULL) != SQLITE_OK)
		return db_error(q, KILN_EIO, "reading the schema version", err);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		*version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		return db_error(q, KILN_EIO, "reading the schema version", err);
	if (*version == 0)
		*version = -1; /* a meta table without a version: not ours */
	return 0;
}

static int refuse_version(struct sqlite_store *q, int version,
			  kiln_error *err)
{
	if (version < 0)
		return kiln_error_set(err, KILN_EPARSE, "%s: not a kiln store "
				      "(a database with other tables)",
				      q->base.where);
	return kiln_error_set(err, KILN_EPARSE, "%s: store schema %d; this "
			      "kiln reads 1 to %d", q->base.where, version,
			      SCHEMA);
}

/* A writable handle: creates or migrates the schema, in one transaction
 * (another handle may be doing the same: the version is read again once
 * the write lock is held). Writes nothing to a store that is current. */
static int ready_schema(struct sqlite_store *q, kiln_error *err)
{
	int version, rc;

	if ((rc = read_version(q, &version, err)))
		return rc;
	if (version == SCHEMA)
		return 0;
	if (version < 0 || version > SCHEMA)
		return refuse_version(q, version, err);
	if (version == 0 &&
	    (rc = exec(q, "PRAGMA journal_mode=WAL", "setting WAL mode", err)))
		return rc;
	if ((rc = exec(q, "BEGIN IMMEDIATE", "migrating the schema", err)))
		return rc;
	if ((rc = read_version(q, &version, err)))
		goto out;
	if (version == 0)
		rc = exec(q, create_3, "creating the schema", err);
	if (!rc && version == 1)
		rc = exec(q, migrate_1, "indexing a schema 1 store", err);
	if (!rc && (version == 1 || version == 2))
		rc = exec(q, migrate_2, "adding leases to the store", err);
	if (!rc && (version < 0 || version > SCHEMA))
		rc = refuse_version(q, version, err);
out:
	if (!rc)
		return exec(q, "COMMIT", "migrating the schema", err);
	sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* The statements a run repeats, prepared once per handle (a read-only
 * handle gets the lookups only: it may read an older store's view). */
static int prepare(struct sqlite_store *q, int ro, kiln_error *err)
{
	if (sqlite3_prepare_v3(q->db,
		"SELECT id, state, answer FROM items WHERE task_id = ? AND"
		" idx = ? AND kind = ? AND hash = ?", -1,
		SQLITE_PREPARE_PERSISTENT, &q->find, NULL) ||
	    sqlite3_prepare_v3(q->db,
		"SELECT answer FROM items WHERE hash = ? AND state = 1 LIMIT 1",
		-1, SQLITE_PREPARE_PERSISTENT, &q->cached, NULL))
		return db_error(q, KILN_EIO, "preparing statements", err);
	if (ro)
		return 0;
	if (sqlite3_prepare_v3(q->db,
		"INSERT OR IGNORE INTO items (task_id, idx, kind, request, hash)"
		" VALUES (?, ?, ?, ?, ?)", -1, SQLITE_PREPARE_PERSISTENT,
		&q->add, NULL) ||
	    sqlite3_prepare_v3(q->db,
		"UPDATE items SET state = 1, answer = ?, ms = ?, error = NULL,"
		" attempts = attempts + ?, updated = julianday('now')"
		" WHERE id = ?", -1, SQLITE_PREPARE_PERSISTENT, &q->finish,
		NULL) ||
	    sqlite3_prepare_v3(q->db,
		"UPDATE items SET state = 2, error = ?,"
		" attempts = attempts + ?, updated = julianday('now')"
		" WHERE id = ?", -1, SQLITE_PREPARE_PERSISTENT, &q->fail, NULL))
		return db_error(q, KILN_EIO, "preparing statements", err);
	return 0;
}

static void sq_close(kiln_store *s)
{
	struct sqlite_store *q = Q(s);

	sqlite3_finalize(q->add);
	sqlite3_finalize(q->find);
	sqlite3_finalize(q->cached);
	sqlite3_finalize(q->finish);
	sqlite3_finalize(q->fail);
	sqlite3_close(q->db);
	kiln_unlock_path(q->lock_fd, q->exclusive);
	free(q->base.where);
	free(q);
}

static int sq_open(kiln_store **out, const char *path, unsigned flags,
		   kiln_error *err)
{
	struct sqlite_store *q = calloc(1, sizeof(*q));
	int ro = (flags & KILN_STORE_READONLY) != 0, rc, version;

	if (!q || !(q->base.where = strdup(path))) {
		free(q);
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	}
	q->base.be = &kiln__store_sqlite;
	q->base.flags = flags;
	q->lock_fd = -1;
	if (ro && strcmp(path, ":memory:") != 0 && access(path, F_OK) != 0) {
		rc = kiln_error_set(err, KILN_EIO, "%s: no such store (%s)",
				    path, strerror(errno));
		goto out;
	}
	q->exclusive = !ro && !(flags & KILN_STORE_SHARED);
	if (!ro && strcmp(path, ":memory:") != 0 &&
	    (rc = kiln_lock_path(path, !q->exclusive, "store", &q->lock_fd,
				 err)))
		goto out;
	if (sqlite3_open_v2(path, &q->db, (ro ? SQLITE_OPEN_READONLY :
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
			    SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		rc = kiln_error_set(err, nomem_code(q->db, KILN_EIO),
				    "%s: cannot open the store: "
				    "%s", path, q->db ? sqlite3_errmsg(q->db)
				    : "out of memory");
		goto out;
	}
	if ((rc = exec(q, pragmas, "setting up", err)))
		goto out;
	if (ro) {
		if ((rc = read_version(q, &version, err)))
			goto out;
		if (version == 0)
			rc = kiln_error_set(err, KILN_EPARSE, "%s: not a kiln "
					    "store (an empty database)", path);
		else if (version < 0 || version > SCHEMA)
			rc = refuse_version(q, version, err);
		else if (version < SCHEMA)
			rc = exec(q, view_2, "reading an older store", err);
		if (rc || (rc = prepare(q, 1, err)))
			goto out;
		*out = &q->base;
		return 0;
	}
	if ((rc = ready_schema(q, err)) || (rc = prepare(q, 0, err)))
		goto out;
	/* The run lock means no worker is in: claims left by workers that
	 * are gone are pending again, for this run to send. */
	if (q->exclusive &&
	    (rc = exec(q, "UPDATE items SET state = 0, worker = NULL, lease ="
		       " NULL WHERE state = 3", "taking back stale claims",
		       err)))
		goto out;
	*out = &q->base;
	return 0;
out:
	sq_close(&q->base);
	return rc;
}

/* ---- one run ------------------------------------------------------------- */

/* Runs a prepared statement to completion and resets it. */
static int step_done(struct sqlite_store *q, sqlite3_stmt *st,
		     const char *what, kiln_error *err)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return db_error(q, KILN_EIO, what, err);
	return 0;
}

static int sq_put(kiln_store *s, const char *task_id, int index,
		  const char *kind, const char *request, const char *hash,
		  kiln_store_slot *slot, kiln_error *err)
{
	struct sqlite_store *q = Q(s);
	int rc, step;

	sqlite3_bind_text(q->add, 1, task_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(q->add, 2, index);
	sqlite3_bind_text(q->add, 3, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(q->add, 4, request, -1, SQLITE_STATIC);
	sqlite3_bind_text(q->add, 5, hash, -1, SQLITE_STATIC);
	/* (RETURNING id would materialize a table per row: twice the cost) */
	step = sqlite3_step(q->add);
	if (step == SQLITE_DONE && sqlite3_changes(q->db) > 0) {
		slot->id = sqlite3_last_insert_rowid(q->db);
		slot->state = KILN_ITEM_PENDING;
		slot->added = 1;
	}
	sqlite3_reset(q->add);
	sqlite3_clear_bindings(q->add);
	if (step != SQLITE_DONE)
		return db_error(q, KILN_EIO, "adding an item", err);
	if (slot->added)
		return 0;

	/* there already: where it stands */
	sqlite3_bind_text(q->find, 1, task_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(q->find, 2, index);
	sqlite3_bind_text(q->find, 3, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(q->find, 4, hash, -1, SQLITE_STATIC);
	step = sqlite3_step(q->find);
	rc = 0;
	if (step == SQLITE_ROW) {
		const char *a = (const char *)sqlite3_column_text(q->find, 2);
		slot->id = sqlite3_column_int64(q->find, 0);
		slot->state = (kiln_item_state)sqlite3_column_int(q->find, 1);
		if (slot->state == KILN_ITEM_DONE && a &&
		    !(slot->answer = strdup(a)))
			rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
	} else if (step == SQLITE_DONE) {
		rc = kiln_error_set(err, KILN_EINVAL, "%s: item (%s, %d, %s) "
				    "was refused", s->where, task_id, index,
				    kind);
	} else {
		rc = db_error(q, KILN_EIO, "looking up an item", err);
	}
	sqlite3_reset(q->find);
	sqlite3_clear_bindings(q->find);
	return rc;
}

static int sq_cached(kiln_store *s, const char *hash, char **answer,
		     kiln_error *err)
{
	struct sqlite_store *q = Q(s);
	int rc;

	sqlite3_bind_text(q->cached, 1, hash, -1, SQLITE_STATIC);
	rc = sqlite3_step(q->cached);
	if (rc == SQLITE_ROW && sqlite3_column_text(q->cached, 0)) {
		*answer = strdup((const char *)sqlite3_column_text(q->cached,
								   0));
		rc = *answer ? 0 : kiln_error_set(err, KILN_ENOMEM,
						  "out of memory");
	} else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		rc = 0;
	} else {
		rc = db_error(q, KILN_EIO, "cache lookup", err);
	}
	sqlite3_reset(q->cached);
	sqlite3_clear_bindings(q->cached);
	return rc;
}

static int sq_record(kiln_store *s, int64_t id, kiln_item_state state,
		     const char *text, double ms, int attempts,
		     kiln_error *err)
{
	struct sqlite_store *q = Q(s);

	if (state == KILN_ITEM_DONE) {
		sqlite3_bind_text(q->finish, 1, text, -1, SQLITE_STATIC);
		sqlite3_bind_double(q->finish, 2, ms);
		sqlite3_bind_int(q->finish, 3, attempts);
		sqlite3_bind_int64(q->finish, 4, id);
		return step_done(q, q->finish, "recording an answer", err);
	}
	sqlite3_bind_text(q->fail, 1, text, -1, SQLITE_STATIC);
	sqlite3_bind_int(q->fail, 2, attempts);
	sqlite3_bind_int64(q->fail, 3, id);
	return step_done(q, q->fail, "recording a failure", err);
}

/* Prepares sql, or fills err (what) and returns nonzero. */
static int prep(struct sqlite_store *q, const char *sql, sqlite3_stmt **st,
		const char *what, kiln_error *err)
{
	if (sqlite3_prepare_v2(q->db, sql, -1, st, NULL) != SQLITE_OK)
		return db_error(q, KILN_EIO, what, err);
	return 0;
}

static int sq_retry(kiln_store *s, int64_t id, kiln_error *err)
{
	struct sqlite_store *q = Q(s);
	sqlite3_stmt *st;
	int rc;

	if ((rc = prep(q, "UPDATE items SET state = 0 WHERE id = ? AND"
		       " state = 2", &st, "resetting a failed item", err)))
		return rc;
	sqlite3_bind_int64(st, 1, id);
	rc = step_done(q, st, "resetting a failed item", err);
	sqlite3_finalize(st);
	return rc;
}

static int sq_begin(kiln_store *s, kiln_error *err)
{
	return exec(Q(s), "BEGIN", "begin", err);
}

static int sq_commit(kiln_store *s, kiln_error *err)
{
	return exec(Q(s), "COMMIT", "commit", err);
}

/* ---- reading ------------------------------------------------------------- */

/* The item in st's current row (ITEM_COLUMNS, in that order). */
static void row_item(sqlite3_stmt *st, kiln_store_item *it)
{
	*it = (kiln_store_item){
		.id = sqlite3_column_int64(st, 0),
		.task_id = (const char *)sqlite3_column_text(st, 1),
		.index = sqlite3_column_int(st, 2),
		.kind = (const char *)sqlite3_column_text(st, 3),
		.state = (kiln_item_state)sqlite3_column_int(st, 4),
		.request = (const char *)sqlite3_column_text(st, 5),
		.hash = (const char *)sqlite3_column_text(st, 6),
		.answer = (const char *)sqlite3_column_text(st, 7),
		.error = (const char *)sqlite3_column_text(st, 8),
		.attempts = sqlite3_column_int(st, 9),
		.worker = (const char *)sqlite3_column_text(st, 10),
		.lease_until = sqlite3_column_double(st, 11),
		.claims = sqlite3_column_int64(st, 12),
	};
}

/* Calls fn for each row of st (bound by the caller); finalizes st. */
static int each_row(struct sqlite_store *q, sqlite3_stmt *st,
		    kiln_store_fn fn, void *ctx, const char *what,
		    kiln_error *err)
{
	kiln_store_item it;
	int rc = 0, step;

	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		row_item(st, &it);
		if ((rc = fn(ctx, &it)))
			break;
	}
	if (!rc && step != SQLITE_DONE)
		rc = db_error(q, KILN_EIO, what, err);
	sqlite3_finalize(st);
	return rc;
}

static int sq_list(kiln_store *s, int state, kiln_store_fn fn, void *ctx,
		   kiln_error *err)
{
	struct sqlite_store *q = Q(s);
	sqlite3_stmt *st;
	int rc;

	if ((rc = prep(q, "SELECT " ITEM_COLUMNS " FROM items WHERE ? < 0 OR"
		       " state = ? ORDER BY id", &st, "listing items", err)))
		return rc;
	sqlite3_bind_int(st, 1, state);
	sqlite3_bind_int(st, 2, state);
	return each_row(q, st, fn, ctx, "listing items", err);
}

static int sq_stats(kiln_store *s, kiln_store_count_fn fn, void *ctx,
		    kiln_error *err)
{
	struct sqlite_store *q = Q(s);
	sqlite3_stmt *st;
	int rc = 0, step;

	if ((rc = prep(q, "SELECT kind, state, count(*) FROM items GROUP BY"
		       " kind, state ORDER BY kind, state", &st,
		       "counting items", err)))
		return rc;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		rc = fn(ctx, (const char *)sqlite3_column_text(st, 0),
			(kiln_item_state)sqlite3_column_int(st, 1),
			(long)sqlite3_column_int64(st, 2));
		if (rc)
			break;
	}
	if (!rc && step != SQLITE_DONE)
		rc = db_error(q, KILN_EIO, "counting items", err);
	sqlite3_finalize(st);
	return rc;
}

/* ---- many workers -------------------------------------------------------- */

static int by_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* One statement, so one write transaction: the rows it picks are claimed
 * before any other handle can read them as claimable. (RETURNING gives
 * them in no promised order: they are handed over oldest first.) */
static int sq_claim(kiln_store *s, const char *worker, int max, double now,
		    double until, kiln_store_fn fn, void *ctx, int *claimed,
		    kiln_error *err)
{
	struct sqlite_store *q = Q(s);
	sqlite3_stmt *st = NULL;
	int64_t *ids = NULL;
	int rc, step, n = 0;

	if (!(ids = malloc((size_t)max * sizeof(*ids))))
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	if ((rc = prep(q, "UPDATE items SET state = 3, worker = ?1, lease = ?2,"
		       " claims = claims + 1, updated = julianday('now')"
		       " WHERE id IN (SELECT id FROM items WHERE state = 0 OR"
		       " (state = 3 AND lease <= ?3) ORDER BY id LIMIT ?4)"
		       " RETURNING id", &st, "claiming items", err)))
		goto out;
	sqlite3_bind_text(st, 1, worker, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 2, until);
	sqlite3_bind_double(st, 3, now);
	sqlite3_bind_int(st, 4, max);
	while ((step = sqlite3_step(st)) == SQLITE_ROW)
		if (n < max)
			ids[n++] = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);   /* the claim commits here */
	st = NULL;
	if (step != SQLITE_DONE) {
		rc = db_error(q, KILN_EIO, "claiming items", err);
		goto out;
	}
	*claimed = n;
	if (!fn || !n)
		goto out;
	qsort(ids, (size_t)n, sizeof(*ids), by_id);
	if ((rc = prep(q, "SELECT " ITEM_COLUMNS " FROM items WHERE id = ?",
		       &st, "reading claimed items", err)))
		goto out;
	for (int i = 0; i < n && !rc; i++) {
		kiln_store_item it;

		sqlite3_bind_int64(st, 1, ids[i]);
		step = sqlite3_step(st);
		if (step == SQLITE_ROW) {
			row_item(st, &it);
			rc = fn(ctx, &it);
		} else {
			rc = db_error(q, KILN_EIO, "reading claimed items",
				      err);
		}
		sqlite3_reset(st);
	}
out:
	sqlite3_finalize(st);
	free(ids);
	return rc;
}

/* Says why a lease no longer holds (after an UPDATE that matched none). */
static int lost(struct sqlite_store *q, const kiln_store_lease *l,
		const char *verb, kiln_error *err)
{
	sqlite3_stmt *st;
	int step, state = -1;
	int64_t claims = 0;
	char worker[128] = "";

	if (sqlite3_prepare_v2(q->db, "SELECT state, claims, worker FROM items"
			       " WHERE id = ?", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, l->item);
		step = sqlite3_step(st);
		if (step == SQLITE_ROW) {
			const char *w = (const char *)sqlite3_column_text(st,
									  2);
			state = sqlite3_column_int(st, 0);
			claims = sqlite3_column_int64(st, 1);
			snprintf(worker, sizeof(worker), "%s", w ? w : "?");
		}
		sqlite3_finalize(st);
	}
	if (state < 0)
		return kiln_error_set(err, KILN_EINVAL, "%s: %s: no item %lld",
				      q->base.where, verb,
				      (long long)l->item);
	if (claims != l->token && state == KILN_ITEM_CLAIMED)
		return kiln_error_set(err, KILN_STORE_LOST, "%s: %s item %lld:"
				      " the lease lapsed and %s holds it now",
				      q->base.where, verb, (long long)l->item,
				      worker);
	return kiln_error_set(err, KILN_STORE_LOST, "%s: %s item %lld: the "
			      "lease is gone (the item is %s%s)",
			      q->base.where, verb, (long long)l->item,
			      kiln_item_state_name(state),
			      claims != l->token ? ", claimed again since" :
			      "");
}

static int sq_heartbeat(kiln_store *s, const kiln_store_lease *l,
			double until, kiln_error *err)
{
	struct sqlite_store *q = Q(s);
	sqlite3_stmt *st;
	int rc;

	if ((rc = prep(q, "UPDATE items SET lease = ? WHERE id = ? AND"
		       " claims = ? AND state = 3", &st, "a heartbeat", err)))
		return rc;
	sqlite3_bind_double(st, 1, until);
	sqlite3_bind_int64(st, 2, l->item);
	sqlite3_bind_int64(st, 3, l->token);
	rc = step_done(q, st, "a heartbeat", err);
	sqlite3_finalize(st);
	if (!rc && sqlite3_changes(q->db) == 0)
		rc = lost(q, l, "a heartbeat for", err);
	return rc;
}

static int sq_settle(kiln_store *s, const kiln_store_lease *l,
		     kiln_item_state state, const char *text, double ms,
		     int attempts, kiln_error *err)
{
	struct sqlite_store *q = Q(s);
	sqlite3_stmt *st;
	const char *sql, *what;
	int rc;

	switch (state) {
	case KILN_ITEM_DONE:
		what = "completing";
		sql = "UPDATE items SET state = 1, answer = ?1, error = NULL,"
		      " ms = ?2, attempts = attempts + ?3, lease = NULL,"
		      " updated = julianday('now')"
		      " WHERE id = ?4 AND claims = ?5 AND state = 3";
		break;
	case KILN_ITEM_FAILED:
		what = "giving up";
		sql = "UPDATE items SET state = 2, error = ?1,"
		      " attempts = attempts + ?3, lease = NULL,"
		      " updated = julianday('now')"
		      " WHERE id = ?4 AND claims = ?5 AND state = 3";
		break;
	default:
		what = "releasing";
		sql = "UPDATE items SET state = 0, worker = NULL, lease = NULL,"
		      " updated = julianday('now')"
		      " WHERE id = ?4 AND claims = ?5 AND state = 3";
		break;
	}
	if ((rc = prep(q, sql, &st, what, err)))
		return rc;
	/* (a parameter a statement leaves out is bound to nothing) */
	sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 2, ms);
	sqlite3_bind_int(st, 3, attempts);
	sqlite3_bind_int64(st, 4, l->item);
	sqlite3_bind_int64(st, 5, l->token);
	rc = step_done(q, st, what, err);
	sqlite3_finalize(st);
	if (!rc && sqlite3_changes(q->db) == 0)
		rc = lost(q, l, what, err);
	return rc;
}

static int sq_expire(kiln_store *s, double now, long *n, kiln_error *err)
{
	struct sqlite_store *q = Q(s);
	sqlite3_stmt *st;
	int rc;

	if ((rc = prep(q, "UPDATE items SET state = 0, worker = NULL, lease ="
		       " NULL WHERE state = 3 AND lease <= ?", &st,
		       "expiring leases", err)))
		return rc;
	sqlite3_bind_double(st, 1, now);
	rc = step_done(q, st, "expiring leases", err);
	sqlite3_finalize(st);
	if (!rc)
		*n = (long)sqlite3_changes(q->db);
	return rc;
}

const struct kiln_store_backend kiln__store_sqlite = {
	.name = "sqlite",
	.caps = STORE_CAP_CLAIM | STORE_CAP_RUN_LOCK,
	.open = sq_open,
	.close = sq_close,
	.put = sq_put,
	.cached = sq_cached,
	.record = sq_record,
	.retry = sq_retry,
	.begin = sq_begin,
	.commit = sq_commit,
	.claim = sq_claim,
	.heartbeat = sq_heartbeat,
	.settle = sq_settle,
	.expire = sq_expire,
	.list = sq_list,
	.stats = sq_stats,
};
