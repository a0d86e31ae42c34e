/* The store on SQLite, as one run uses it (kiln_store_open: the run lock),
 * its URLs and its schema versions. Leases and many workers:
 * test_store_contract.c, which every backend runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <unistd.h>

#include "kiln/store.h"

#include "tmpdir.h"

static char path[256];

static int setup(void **state)
{
	if (tmpdir_setup(state))
		return -1;
	snprintf(path, sizeof(path), "%s/jobs.db", dir);
	return 0;
}

struct seen { int n; int64_t ids[16]; char tasks[16][32]; };

static int collect(void *ctx, const kiln_store_item *j)
{
	struct seen *s = ctx;
	if (s->n < 16) {
		s->ids[s->n] = j->id;
		snprintf(s->tasks[s->n], sizeof(s->tasks[0]), "%s/%d/%s",
			 j->task_id, j->index, j->kind);
	}
	s->n++;
	return 0;
}

static int add_count(void *ctx, const char *kind, kiln_item_state state,
		     long n)
{
	long *counts = ctx;

	(void)kind;
	if (state >= 0 && state < 4)
		counts[state] += n;
	return 0;
}

static int count_states(kiln_store *s, long counts[4])
{
	kiln_error err;

	counts[0] = counts[1] = counts[2] = counts[3] = 0;
	return kiln_store_stats(s, add_count, counts, &err);
}

static void add_is_idempotent_and_ordered(void **state)
{
	kiln_store *s;
	kiln_error err;
	struct seen seen = { 0 };
	kiln_store_slot slot;

	(void)state;
	unlink(path);
	assert_int_equal(kiln_store_open(&s, path, &err), 0);
	assert_int_equal(kiln_store_put(s, "t1", 0, "solution", "{\"a\":1}",
					"h1", &slot, &err), 0);
	assert_true(slot.added);
	assert_int_equal(kiln_store_put(s, "t1", 1, "solution", "{\"a\":2}",
					"h2", &slot, &err), 0);
	assert_int_equal(kiln_store_put(s, "t1", 0, "tests", "{\"a\":3}",
					"h3", &slot, &err), 0);
	/* The same job again: nothing changes. */
	assert_int_equal(kiln_store_put(s, "t1", 0, "solution", "{\"a\":1}",
					"h1", &slot, &err), 0);
	assert_false(slot.added);
	assert_int_equal(kiln_store_list(s, KILN_ITEM_PENDING, collect, &seen,
					 &err), 0);
	assert_int_equal(seen.n, 3);
	assert_string_equal(seen.tasks[0], "t1/0/solution");
	assert_string_equal(seen.tasks[1], "t1/1/solution");
	assert_string_equal(seen.tasks[2], "t1/0/tests");
	kiln_store_close(s);
}

/* What is answered survives a reopen (a crash) and answers the same
 * request again from the store. */
static void answers_persist_and_cache(void **state)
{
	kiln_store *s;
	kiln_error err;
	struct seen seen = { 0 };
	long counts[4];
	char *answer;

	(void)state;
	assert_int_equal(kiln_store_open(&s, path, &err), 0);
	assert_int_equal(kiln_store_list(s, KILN_ITEM_PENDING, collect, &seen,
					 &err), 0);
	assert_int_equal(kiln_store_finish(s, seen.ids[0], "{\"ok\":1}", 12.5, 1,
					   &err), 0);
	assert_int_equal(kiln_store_fail(s, seen.ids[1], "HTTP 500", 6, &err), 0);
	kiln_store_close(s);

	assert_int_equal(kiln_store_open(&s, path, &err), 0);
	assert_int_equal(count_states(s, counts), 0);
	assert_int_equal(counts[KILN_ITEM_PENDING], 1);
	assert_int_equal(counts[KILN_ITEM_DONE], 1);
	assert_int_equal(counts[KILN_ITEM_FAILED], 1);
	assert_int_equal(kiln_store_cached(s, "h1", &answer, &err), 0);
	assert_string_equal(answer, "{\"ok\":1}");
	free(answer);
	/* Failed and pending jobs answer nothing from the cache. */
	assert_int_equal(kiln_store_cached(s, "h2", &answer, &err), 0);
	assert_null(answer);
	assert_int_equal(kiln_store_cached(s, "nope", &answer, &err), 0);
	assert_null(answer);
	kiln_store_close(s);
}

static void retry_failed_resets_only_failures(void **state)
{
	kiln_store *s;
	kiln_error err;
	struct seen seen = { 0 };
	struct seen failed = { 0 };
	long counts[4];

	(void)state;
	assert_int_equal(kiln_store_open(&s, path, &err), 0);
	assert_int_equal(kiln_store_list(s, KILN_ITEM_FAILED, collect, &failed,
					 &err), 0);
	assert_int_equal(failed.n, 1);
	assert_int_equal(kiln_store_retry(s, failed.ids[0], &err), 0);
	/* retrying what is not failed changes nothing */
	assert_int_equal(kiln_store_retry(s, failed.ids[0] - 1, &err), 0);
	assert_int_equal(count_states(s, counts), 0);
	assert_int_equal(counts[KILN_ITEM_PENDING], 2);
	assert_int_equal(counts[KILN_ITEM_DONE], 1);
	assert_int_equal(kiln_store_list(s, KILN_ITEM_PENDING, collect, &seen,
					 &err), 0);
	assert_string_equal(seen.tasks[0], "t1/1/solution");
	kiln_store_close(s);
}

/* put says where each job stands: new, pending, done (with its answer)
 * or failed, whatever else the store holds. */
static void put_reports_each_state(void **state)
{
	kiln_store *s;
	kiln_error err;
	kiln_store_slot a, b, c, slot;

	(void)state;
	assert_int_equal(kiln_store_open(&s, path, &err), 0);
	assert_int_equal(kiln_store_put(s, "p", 0, "solution", "{}", "ph0", &a,
					&err), 0);
	assert_true(a.added);
	assert_int_equal(a.state, KILN_ITEM_PENDING);
	assert_int_equal(kiln_store_put(s, "p", 1, "solution", "{}", "ph1", &b,
					&err), 0);
	assert_int_equal(kiln_store_put(s, "p", 0, "tests", "{}", "ph2", &c,
					&err), 0);
	assert_true(a.id < b.id && b.id < c.id);
	assert_int_equal(kiln_store_finish(s, a.id, "{\"ok\":2}", 1, 1, &err), 0);
	assert_int_equal(kiln_store_fail(s, b.id, "HTTP 500", 6, &err), 0);
	kiln_store_close(s);

	assert_int_equal(kiln_store_open(&s, path, &err), 0);
	assert_int_equal(kiln_store_put(s, "p", 0, "solution", "{}", "ph0",
					&slot, &err), 0);
	assert_false(slot.added);
	assert_int_equal(slot.id, a.id);
	assert_int_equal(slot.state, KILN_ITEM_DONE);
	assert_string_equal(slot.answer, "{\"ok\":2}");
	free(slot.answer);
	assert_int_equal(kiln_store_put(s, "p", 1, "solution", "{}", "ph1",
					&slot, &err), 0);
	assert_int_equal(slot.state, KILN_ITEM_FAILED);
	assert_null(slot.answer);
	assert_int_equal(kiln_store_put(s, "p", 0, "tests", "{}", "ph2",
					&slot, &err), 0);
	assert_int_equal(slot.state, KILN_ITEM_PENDING);
	assert_int_equal(slot.id, c.id);
	/* the same (task, index, kind) with another request: another job */
	assert_int_equal(kiln_store_put(s, "p", 0, "solution", "{}", "ph9",
					&slot, &err), 0);
	assert_true(slot.added && slot.id > c.id);
	kiln_store_close(s);
}

static void unopenable_store(void **state)
{
	kiln_store *s;
	kiln_error err;

	(void)state;
	assert_int_equal(kiln_store_open(&s, "/nonexistent/dir/jobs.db", &err),
			 KILN_EIO);
	assert_null(s);
	assert_non_null(strstr(err.msg, "/nonexistent/dir/jobs.db"));
}

/* A path, sqlite:PATH and sqlite://PATH are SQLite; PostgreSQL is named
 * and refused until it is built; anything else with a scheme is refused. */
static void urls_pick_a_backend(void **state)
{
	kiln_store *s;
	kiln_error err;
	char url[300];

	(void)state;
	snprintf(url, sizeof(url), "sqlite:%s/url.db", dir);
	assert_int_equal(kiln_store_open(&s, url, &err), 0);
	assert_string_equal(kiln_store_backend(s), "sqlite");
	kiln_store_close(s);
	snprintf(url, sizeof(url), "sqlite://%s/url.db", dir);
	assert_int_equal(kiln_store_open(&s, url, &err), 0);
	kiln_store_close(s);
	assert_int_equal(kiln_store_open(&s, "postgresql://db.example/kiln",
					 &err), KILN_EINVAL);
	assert_null(s);
	assert_non_null(strstr(err.msg, "not built"));
	assert_int_equal(kiln_store_open(&s, "postgres://x/y", &err),
			 KILN_EINVAL);
	assert_int_equal(kiln_store_open(&s, "mysql://x/y", &err), KILN_EINVAL);
	assert_int_equal(kiln_store_open(&s, "sqlite:", &err), KILN_EINVAL);
	assert_int_equal(kiln_store_open(&s, "", &err), KILN_EINVAL);
}

/* One run at a time: a second run, or a worker, is refused with a message
 * that names the holder; readers are not; the lock ends with the handle. */
static void one_run_at_a_time(void **state)
{
	kiln_store *run, *other, *ro;
	kiln_error err;
	char lpath[300], host[256] = "", pid[64];
	struct seen seen = { 0 };

	(void)state;
	snprintf(lpath, sizeof(lpath), "%s/lock.db", dir);
	gethostname(host, sizeof(host) - 1);
	snprintf(pid, sizeof(pid), "(pid %ld on host ", (long)getpid());
	assert_int_equal(kiln_store_open(&run, lpath, &err), 0);
	assert_int_equal(kiln_store_open(&other, lpath, &err),
			 KILN_STORE_BUSY);
	assert_null(other);
	assert_non_null(strstr(err.msg, "lock.db is in use by "));
	assert_non_null(strstr(err.msg, pid));
	assert_non_null(strstr(err.msg, host));
	assert_non_null(strstr(err.msg, " since "));
	assert_non_null(strstr(err.msg, "wait or use another store"));
	assert_int_equal(kiln_store_open_with(&other, lpath, KILN_STORE_SHARED,
					      &err), KILN_STORE_BUSY);
	assert_int_equal(kiln_store_open_with(&ro, lpath, KILN_STORE_READONLY,
					      &err), 0);
	assert_int_equal(kiln_store_list(ro, -1, collect, &seen, &err), 0);
	assert_int_equal(kiln_store_finish(ro, 1, "{}", 0, 1, &err),
			 KILN_EINVAL);
	kiln_store_close(ro);
	kiln_store_close(run);

	/* workers share; a run is then refused, naming them (and not a run
	 * that was killed before them, whose name the file still has) */
	{
		char fpath[320];
		FILE *f;

		snprintf(fpath, sizeof(fpath), "%s-lock", lpath);
		assert_non_null(f = fopen(fpath, "w"));
		fputs("run\tkiln ghost\t99999\tnowhere\t0\n", f);
		fclose(f);
	}
	assert_int_equal(kiln_store_open_with(&run, lpath, KILN_STORE_SHARED,
					      &err), 0);
	assert_int_equal(kiln_store_open_with(&other, lpath, KILN_STORE_SHARED,
					      &err), 0);
	assert_int_equal(kiln_store_finish(other, 1, "{}", 0, 1, &err),
			 KILN_EINVAL);
	kiln_store_close(other);
	assert_int_equal(kiln_store_open(&other, lpath, &err), KILN_STORE_BUSY);
	assert_non_null(strstr(err.msg, "workers"));
	assert_null(strstr(err.msg, "ghost"));
	kiln_store_close(run);
	assert_int_equal(kiln_store_open(&run, lpath, &err), 0);
	kiln_store_close(run);
}

/* A read-only handle writes nothing: a missing store is an error (and is
 * not created). */
static void readonly_creates_nothing(void **state)
{
	kiln_store *s;
	kiln_error err;
	char p[300];

	(void)state;
	snprintf(p, sizeof(p), "%s/missing.db", dir);
	assert_int_equal(kiln_store_open_with(&s, p, KILN_STORE_READONLY,
					      &err), KILN_EIO);
	assert_non_null(strstr(err.msg, "missing.db"));
	assert_int_equal(access(p, F_OK), -1);
}

static const char schema_2[] =
	"PRAGMA journal_mode=WAL;"
	"CREATE TABLE jobs (id INTEGER PRIMARY KEY, task_id TEXT NOT NULL,"
	" idx INTEGER NOT NULL, kind TEXT NOT NULL, state INTEGER NOT NULL"
	" DEFAULT 0, request TEXT NOT NULL, hash TEXT NOT NULL, answer TEXT,"
	" error TEXT, attempts INTEGER NOT NULL DEFAULT 0, ms REAL,"
	" created REAL NOT NULL DEFAULT (julianday('now')),"
	" updated REAL NOT NULL DEFAULT (julianday('now')),"
	" UNIQUE (hash, task_id, idx, kind));"
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
	"INSERT INTO meta VALUES ('schema', '2');"
	"INSERT INTO jobs (task_id, idx, kind, state, request, hash, answer,"
	" attempts) VALUES ('o', 0, 'solution', 1, '{}', 'oh0', '{\"a\":1}', 2),"
	" ('o', 1, 'solution', 0, '{}', 'oh1', NULL, 0);";

static int schema_of(const char *p)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_open(p, &db) != SQLITE_OK)
		return -1;
	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key ="
			       " 'schema'", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return v;
}

/* A schema 2 store (an earlier kiln's) is read as it is by a read-only
 * handle and given leases (schema 3) by a writable one, its items kept;
 * a schema from a later kiln is refused. */
static void schema_2_store_migrates(void **state)
{
	kiln_store *s;
	kiln_error err;
	kiln_store_slot slot;
	struct seen seen = { 0 };
	sqlite3 *db;
	char p[300], *answer;

	(void)state;
	snprintf(p, sizeof(p), "%s/old.db", dir);
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, schema_2, NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(kiln_store_open_with(&s, p, KILN_STORE_READONLY,
					      &err), 0);
	assert_int_equal(kiln_store_list(s, -1, collect, &seen, &err), 0);
	assert_int_equal(seen.n, 2);
	assert_int_equal(kiln_store_cached(s, "oh0", &answer, &err), 0);
	assert_string_equal(answer, "{\"a\":1}");
	free(answer);
	assert_int_equal(kiln_store_put(s, "o", 2, "solution", "{}", "oh2",
					&slot, &err), KILN_EINVAL);
	kiln_store_close(s);
	assert_int_equal(schema_of(p), 2);

	assert_int_equal(kiln_store_open(&s, p, &err), 0);
	assert_int_equal(kiln_store_put(s, "o", 0, "solution", "{}", "oh0",
					&slot, &err), 0);
	assert_int_equal(slot.state, KILN_ITEM_DONE);
	assert_string_equal(slot.answer, "{\"a\":1}");
	free(slot.answer);
	assert_int_equal(kiln_store_put(s, "o", 1, "solution", "{}", "oh1",
					&slot, &err), 0);
	assert_int_equal(slot.state, KILN_ITEM_PENDING);
	assert_false(slot.added);
	kiln_store_close(s);
	assert_int_equal(schema_of(p), 3);

	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE meta SET value = '4'", NULL,
				      NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(kiln_store_open(&s, p, &err), KILN_EPARSE);
	assert_non_null(strstr(err.msg, "schema 4"));
	assert_int_equal(kiln_store_open_with(&s, p, KILN_STORE_READONLY,
					      &err), KILN_EPARSE);
	/* someone else's database (a mistyped --store) is not written to */
	snprintf(p, sizeof(p), "%s/theirs.db", dir);
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE t (a)", NULL, NULL,
				      NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(kiln_store_open(&s, p, &err), KILN_EPARSE);
	assert_non_null(strstr(err.msg, "not a kiln store"));
	assert_int_equal(schema_of(p), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(add_is_idempotent_and_ordered),
		cmocka_unit_test(answers_persist_and_cache),
		cmocka_unit_test(retry_failed_resets_only_failures),
		cmocka_unit_test(put_reports_each_state),
		cmocka_unit_test(unopenable_store),
		cmocka_unit_test(urls_pick_a_backend),
		cmocka_unit_test(one_run_at_a_time),
		cmocka_unit_test(readonly_creates_nothing),
		cmocka_unit_test(schema_2_store_migrates),
	};
	return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
