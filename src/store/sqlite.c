/* The job store on SQLite: one file, WAL mode, a transaction per change.
 * Safe for one writer process; statements are prepared once per handle. */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/store.h"

struct kiln_store {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *add, *find, *cached, *finish, *fail;
};

/* Schema 2: the one unique index, (hash, task, index, kind), serves both
 * lookups: a job by its key (kiln_store_put) and the cache by hash. A
 * store of schema 1 (unique on task, index, kind, hash) keeps its table
 * and gets an index on hash alone (migrate_1 below); it had one on
 * (hash, state), which made every stored answer rewrite an index entry. */
static const char schema[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=NORMAL;"
	"PRAGMA busy_timeout=10000;"
	"CREATE TABLE IF NOT EXISTS jobs ("
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
	"  UNIQUE (hash, task_id, idx, kind));"
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);"
	"INSERT OR IGNORE INTO meta VALUES ('schema', '2');";

static const char migrate_1[] =
	"DROP INDEX IF EXISTS jobs_hash;"
	"CREATE INDEX IF NOT EXISTS jobs_by_hash ON jobs (hash);";

static int db_error(kiln_store *s, int code, const char *what,
		    kiln_error *err)
{
	return kiln_error_set(err, code, "%s: %s: %s", s->path, what,
			      sqlite3_errmsg(s->db));
}

/* The schema version: 2 is this one; 1 is migrated (an index); anything
 * else is a store from a newer kiln, refused rather than misread. */
static int check_version(kiln_store *s, kiln_error *err)
{
	sqlite3_stmt *st;
	int version = 0;

	if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = "
			       "'schema'", -1, &st, NULL) != SQLITE_OK)
		return db_error(s, KILN_EIO, "reading the schema version", err);
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version == 1 &&
	    sqlite3_exec(s->db, migrate_1, NULL, NULL, NULL) != SQLITE_OK)
		return db_error(s, KILN_EIO, "indexing a schema 1 store", err);
	if (version != 1 && version != 2)
		return kiln_error_set(err, KILN_EPARSE, "%s: job store schema "
				      "%d; this kiln reads 1 and 2", s->path,
				      version);
	return 0;
}

int kiln_store_open(kiln_store **out, const char *path, kiln_error *err)
{
	kiln_store *s = calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (!s || !(s->path = strdup(path))) {
		free(s);
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	}
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
			    SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK) {
		rc = kiln_error_set(err, KILN_EIO, "%s: cannot open the store: "
				    "%s", path, s->db ? sqlite3_errmsg(s->db)
				    : "out of memory");
		kiln_store_close(s);
		return rc;
	}
	if (sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		rc = db_error(s, KILN_EIO, "creating the schema", err);
		kiln_store_close(s);
		return rc;
	}
	if ((rc = check_version(s, err))) {
		kiln_store_close(s);
		return rc;
	}
	if (sqlite3_prepare_v2(s->db,
		"INSERT OR IGNORE INTO jobs (task_id, idx, kind, request, hash)"
		" VALUES (?, ?, ?, ?, ?)", -1, &s->add, NULL) ||
	    sqlite3_prepare_v2(s->db,
		"SELECT id, state, answer FROM jobs WHERE task_id = ? AND"
		" idx = ? AND kind = ? AND hash = ?", -1, &s->find, NULL) ||
	    sqlite3_prepare_v2(s->db,
		"SELECT answer FROM jobs WHERE hash = ? AND state = 1 LIMIT 1",
		-1, &s->cached, NULL) ||
	    sqlite3_prepare_v2(s->db,
		"UPDATE jobs SET state = 1, answer = ?, ms = ?, error = NULL,"
		" attempts = attempts + ?, updated = julianday('now')"
		" WHERE id = ?", -1, &s->finish, NULL) ||
	    sqlite3_prepare_v2(s->db,
		"UPDATE jobs SET state = 2, error = ?,"
		" attempts = attempts + ?, updated = julianday('now')"
		" WHERE id = ?", -1, &s->fail, NULL)) {
		rc = db_error(s, KILN_EIO, "preparing statements", err);
		kiln_store_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

void kiln_store_close(kiln_store *s)
{
	if (!s)
		return;
	sqlite3_finalize(s->add);
	sqlite3_finalize(s->find);
	sqlite3_finalize(s->cached);
	sqlite3_finalize(s->finish);
	sqlite3_finalize(s->fail);
	sqlite3_close(s->db);
	free(s->path);
	free(s);
}

/* Runs a prepared statement to completion and resets it. */
static int step_done(kiln_store *s, sqlite3_stmt *st, const char *what,
		     kiln_error *err)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return db_error(s, KILN_EIO, what, err);
	return 0;
}

int kiln_store_put(kiln_store *s, const char *task_id, int index,
		   const char *kind, const char *request, const char *hash,
		   kiln_store_slot *slot, kiln_error *err)
{
	int rc, step;

	memset(slot, 0, sizeof(*slot));
	sqlite3_bind_text(s->add, 1, task_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(s->add, 2, index);
	sqlite3_bind_text(s->add, 3, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->add, 4, request, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->add, 5, hash, -1, SQLITE_STATIC);
	/* (RETURNING id would materialize a table per row: twice the cost) */
	step = sqlite3_step(s->add);
	if (step == SQLITE_DONE && sqlite3_changes(s->db) > 0) {
		slot->id = sqlite3_last_insert_rowid(s->db);
		slot->state = KILN_JOB_PENDING;
		slot->added = 1;
	}
	sqlite3_reset(s->add);
	sqlite3_clear_bindings(s->add);
	if (step != SQLITE_DONE)
		return db_error(s, KILN_EIO, "adding a job", err);
	if (slot->added)
		return 0;

	/* there already: where it stands */
	sqlite3_bind_text(s->find, 1, task_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(s->find, 2, index);
	sqlite3_bind_text(s->find, 3, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->find, 4, hash, -1, SQLITE_STATIC);
	step = sqlite3_step(s->find);
	rc = 0;
	if (step == SQLITE_ROW) {
		const char *a = (const char *)sqlite3_column_text(s->find, 2);
		slot->id = sqlite3_column_int64(s->find, 0);
		slot->state = (kiln_job_state)sqlite3_column_int(s->find, 1);
		if (slot->state == KILN_JOB_DONE && a &&
		    !(slot->answer = strdup(a)))
			rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
	} else if (step == SQLITE_DONE) {
		rc = kiln_error_set(err, KILN_EINVAL, "%s: job (%s, %d, %s) "
				    "was refused", s->path, task_id, index,
				    kind);
	} else {
		rc = db_error(s, KILN_EIO, "looking up a job", err);
	}
	sqlite3_reset(s->find);
	sqlite3_clear_bindings(s->find);
	return rc;
}

int kiln_store_add(kiln_store *s, const char *task_id, int index,
		   const char *kind, const char *request, const char *hash,
		   int *added, kiln_error *err)
{
	kiln_store_slot slot;
	int rc = kiln_store_put(s, task_id, index, kind, request, hash, &slot,
				err);

	free(slot.answer);
	if (!rc && added)
		*added = slot.added;
	return rc;
}

int kiln_store_each(kiln_store *s, kiln_job_state state, kiln_store_fn fn,
		    void *ctx, kiln_error *err)
{
	sqlite3_stmt *st;
	int rc = 0, step;

	if (sqlite3_prepare_v2(s->db,
		"SELECT id, task_id, idx, kind, state, request, hash, answer,"
		" error, attempts FROM jobs WHERE state = ? ORDER BY id",
		-1, &st, NULL) != SQLITE_OK)
		return db_error(s, KILN_EIO, "listing jobs", err);
	sqlite3_bind_int(st, 1, (int)state);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		kiln_store_job j = {
			.id = sqlite3_column_int64(st, 0),
			.task_id = (const char *)sqlite3_column_text(st, 1),
			.index = sqlite3_column_int(st, 2),
			.kind = (const char *)sqlite3_column_text(st, 3),
			.state = (kiln_job_state)sqlite3_column_int(st, 4),
			.request = (const char *)sqlite3_column_text(st, 5),
			.hash = (const char *)sqlite3_column_text(st, 6),
			.answer = (const char *)sqlite3_column_text(st, 7),
			.error = (const char *)sqlite3_column_text(st, 8),
			.attempts = sqlite3_column_int(st, 9),
		};
		rc = fn(ctx, &j);
		if (rc)
			break;
	}
	if (!rc && step != SQLITE_DONE)
		rc = db_error(s, KILN_EIO, "listing jobs", err);
	sqlite3_finalize(st);
	return rc;
}

int kiln_store_cached(kiln_store *s, const char *hash, char **answer,
		      kiln_error *err)
{
	int rc;

	*answer = NULL;
	sqlite3_bind_text(s->cached, 1, hash, -1, SQLITE_STATIC);
	rc = sqlite3_step(s->cached);
	if (rc == SQLITE_ROW && sqlite3_column_text(s->cached, 0)) {
		*answer = strdup((const char *)sqlite3_column_text(s->cached,
								   0));
		rc = *answer ? 0 : kiln_error_set(err, KILN_ENOMEM,
						  "out of memory");
	} else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		rc = 0;
	} else {
		rc = db_error(s, KILN_EIO, "cache lookup", err);
	}
	sqlite3_reset(s->cached);
	sqlite3_clear_bindings(s->cached);
	return rc;
}

int kiln_store_finish(kiln_store *s, int64_t id, const char *answer,
		      double ms, int attempts, kiln_error *err)
{
	sqlite3_bind_text(s->finish, 1, answer, -1, SQLITE_STATIC);
	sqlite3_bind_double(s->finish, 2, ms);
	sqlite3_bind_int(s->finish, 3, attempts);
	sqlite3_bind_int64(s->finish, 4, id);
	return step_done(s, s->finish, "recording an answer", err);
}

int kiln_store_fail(kiln_store *s, int64_t id, const char *error,
		    int attempts, kiln_error *err)
{
	sqlite3_bind_text(s->fail, 1, error, -1, SQLITE_STATIC);
	sqlite3_bind_int(s->fail, 2, attempts);
	sqlite3_bind_int64(s->fail, 3, id);
	return step_done(s, s->fail, "recording a failure", err);
}

int kiln_store_retry(kiln_store *s, int64_t id, kiln_error *err)
{
	sqlite3_stmt *st;
	int step;

	if (sqlite3_prepare_v2(s->db, "UPDATE jobs SET state = 0 WHERE id = ?"
			       " AND state = 2", -1, &st, NULL) != SQLITE_OK)
		return db_error(s, KILN_EIO, "resetting a failed job", err);
	sqlite3_bind_int64(st, 1, id);
	step = sqlite3_step(st);
	sqlite3_finalize(st);
	if (step != SQLITE_DONE)
		return db_error(s, KILN_EIO, "resetting a failed job", err);
	return 0;
}

int kiln_store_retry_failed(kiln_store *s, long *n, kiln_error *err)
{
	if (sqlite3_exec(s->db, "UPDATE jobs SET state = 0 WHERE state = 2",
			 NULL, NULL, NULL) != SQLITE_OK)
		return db_error(s, KILN_EIO, "resetting failed jobs", err);
	*n = sqlite3_changes(s->db);
	return 0;
}

int kiln_store_begin(kiln_store *s, kiln_error *err)
{
	if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return db_error(s, KILN_EIO, "begin", err);
	return 0;
}

int kiln_store_commit(kiln_store *s, kiln_error *err)
{
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		return db_error(s, KILN_EIO, "commit", err);
	return 0;
}

int kiln_store_counts(kiln_store *s, long counts[3], kiln_error *err)
{
	sqlite3_stmt *st;
	int step;

	counts[0] = counts[1] = counts[2] = 0;
	if (sqlite3_prepare_v2(s->db, "SELECT state, count(*) FROM jobs"
			       " GROUP BY state", -1, &st, NULL) != SQLITE_OK)
		return db_error(s, KILN_EIO, "counting jobs", err);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		int k = sqlite3_column_int(st, 0);
		if (k >= 0 && k < 3)
			counts[k] = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	if (step != SQLITE_DONE)
		return db_error(s, KILN_EIO, "counting jobs", err);
	return 0;
}
