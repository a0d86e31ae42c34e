/* The SQLite job store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static int collect(void *ctx, const kiln_store_job *j)
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

static void add_is_idempotent_and_ordered(void **state)
{
	kiln_store *s;
	kiln_error err;
	struct seen seen = { 0 };
	int added;

	(void)state;
	unlink(path);
	assert_int_equal(kiln_store_open(&s, path, &err), 0);
	assert_int_equal(kiln_store_add(s, "t1", 0, "solution", "{\"a\":1}",
					"h1", &added, &err), 0);
	assert_true(added);
	assert_int_equal(kiln_store_add(s, "t1", 1, "solution", "{\"a\":2}",
					"h2", &added, &err), 0);
	assert_int_equal(kiln_store_add(s, "t1", 0, "tests", "{\"a\":3}",
					"h3", &added, &err), 0);
	/* The same job again: nothing changes. */
	assert_int_equal(kiln_store_add(s, "t1", 0, "solution", "{\"a\":1}",
					"h1", &added, &err), 0);
	assert_false(added);
	assert_int_equal(kiln_store_each(s, KILN_JOB_PENDING, collect, &seen,
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
	long counts[3];
	char *answer;

	(void)state;
	assert_int_equal(kiln_store_open(&s, path, &err), 0);
	assert_int_equal(kiln_store_each(s, KILN_JOB_PENDING, collect, &seen,
					 &err), 0);
	assert_int_equal(kiln_store_finish(s, seen.ids[0], "{\"ok\":1}", 12.5, 1,
					   &err), 0);
	assert_int_equal(kiln_store_fail(s, seen.ids[1], "HTTP 500", 6, &err), 0);
	kiln_store_close(s);

	assert_int_equal(kiln_store_open(&s, path, &err), 0);
	assert_int_equal(kiln_store_counts(s, counts, &err), 0);
	assert_int_equal(counts[KILN_JOB_PENDING], 1);
	assert_int_equal(counts[KILN_JOB_DONE], 1);
	assert_int_equal(counts[KILN_JOB_FAILED], 1);
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
	long n, counts[3];

	(void)state;
	assert_int_equal(kiln_store_open(&s, path, &err), 0);
	assert_int_equal(kiln_store_retry_failed(s, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(kiln_store_counts(s, counts, &err), 0);
	assert_int_equal(counts[KILN_JOB_PENDING], 2);
	assert_int_equal(counts[KILN_JOB_DONE], 1);
	assert_int_equal(kiln_store_each(s, KILN_JOB_PENDING, collect, &seen,
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
	assert_int_equal(a.state, KILN_JOB_PENDING);
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
	assert_int_equal(slot.state, KILN_JOB_DONE);
	assert_string_equal(slot.answer, "{\"ok\":2}");
	free(slot.answer);
	assert_int_equal(kiln_store_put(s, "p", 1, "solution", "{}", "ph1",
					&slot, &err), 0);
	assert_int_equal(slot.state, KILN_JOB_FAILED);
	assert_null(slot.answer);
	assert_int_equal(kiln_store_put(s, "p", 0, "tests", "{}", "ph2",
					&slot, &err), 0);
	assert_int_equal(slot.state, KILN_JOB_PENDING);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(add_is_idempotent_and_ordered),
		cmocka_unit_test(answers_persist_and_cache),
		cmocka_unit_test(retry_failed_resets_only_failures),
		cmocka_unit_test(put_reports_each_state),
		cmocka_unit_test(unopenable_store),
	};
	return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
