/* The store's contract: what every backend must do for many workers
 * (kiln/store.h: claim, heartbeat, complete exactly once, give up,
 * release, expiry, resume after reopen) and for one run (the run lock).
 *
 * usage: test_store_contract [URL_TEMPLATE]
 *   URL_TEMPLATE names a fresh store per test: "%s" in it is replaced by
 *   the test's name. Default: sqlite:<a scratch directory>/%s.db. A new
 *   backend runs this file with its own template (a PostgreSQL one names
 *   a database or schema per test) and must pass it unchanged.
 *
 * Time: every handle reads one fake clock (kiln_store_set_clock), so
 * leases lapse when a test moves the clock, without sleeping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kiln/store.h"

#include "tmpdir.h"

static const char *url_template;
static double clock_now = 1e9;  /* the fake clock (seconds) */

static double fake_now(void *ctx)
{
	return *(double *)ctx;
}

/* A store for this test: flags as kiln_store_open_with, on the fake
 * clock. */
static kiln_store *open_store(const char *test, unsigned flags)
{
	char url[512];
	kiln_store *s = NULL;
	kiln_error err;
	const char *at = strstr(url_template, "%s");

	assert_non_null(at);
	snprintf(url, sizeof(url), "%.*s%s%s", (int)(at - url_template),
		 url_template, test, at + 2);
	if (kiln_store_open_with(&s, url, flags, &err) != 0)
		fail_msg("open %s: %s", url, err.msg);
	kiln_store_set_clock(s, fake_now, &clock_now);
	return s;
}

/* n pending items t/0 .. t/n-1; ids into ids[] when given */
static void add_items(kiln_store *s, int n, int64_t *ids)
{
	kiln_error err;

	for (int i = 0; i < n; i++) {
		kiln_store_slot slot;
		char task[32], hash[32];

		snprintf(task, sizeof(task), "t/%d", i);
		snprintf(hash, sizeof(hash), "h%d", i);
		assert_int_equal(kiln_store_put(s, task, 0, "solution", "{}",
						hash, &slot, &err), 0);
		assert_true(slot.added);
		if (ids)
			ids[i] = slot.id;
	}
}

/* What a claim hands over, kept for the test. */
struct got {
	int n;
	kiln_store_lease lease[64];
	char worker[64][32];
	double until[64];
};

static int keep(void *ctx, const kiln_store_item *it)
{
	struct got *g = ctx;

	assert_int_equal(it->state, KILN_ITEM_CLAIMED);
	if (g->n < 64) {
		g->lease[g->n] = (kiln_store_lease){ it->id, it->claims };
		snprintf(g->worker[g->n], sizeof(g->worker[0]), "%s",
			 it->worker ? it->worker : "");
		g->until[g->n] = it->lease_until;
	}
	g->n++;
	return 0;
}

static int claim(kiln_store *s, const char *worker, int max, double lease_s,
		 struct got *g)
{
	kiln_error err;
	int n = -1;

	memset(g, 0, sizeof(*g));
	if (kiln_store_claim(s, worker, max, lease_s, keep, g, &n, &err))
		fail_msg("claim: %s", err.msg);
	assert_int_equal(n, g->n);
	return n;
}

struct tally { long st[4]; };

static int add_count(void *ctx, const char *kind, kiln_item_state state,
		     long n)
{
	struct tally *t = ctx;

	(void)kind;
	if (state >= 0 && state < 4)
		t->st[state] += n;
	return 0;
}

static struct tally tally(kiln_store *s)
{
	struct tally t = { { 0 } };
	kiln_error err;

	assert_int_equal(kiln_store_stats(s, add_count, &t, &err), 0);
	return t;
}

/* One worker: claims take the oldest pending items, at most max, never
 * one twice; each outcome is accepted once; a released item is claimed
 * again under a new token; a failed one is not. */
static void single_worker(void **state)
{
	kiln_store *s = open_store("single", KILN_STORE_SHARED);
	kiln_error err;
	struct got a, b;
	int64_t ids[5];
	struct tally t;

	(void)state;
	add_items(s, 5, ids);
	assert_int_equal(claim(s, "w1", 3, 60, &a), 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(a.lease[i].item, ids[i]);
		assert_int_equal(a.lease[i].token, 1);
		assert_string_equal(a.worker[i], "w1");
		assert_true(a.until[i] == clock_now + 60);
	}
	assert_int_equal(claim(s, "w1", 3, 60, &b), 2);
	assert_int_equal(b.lease[0].item, ids[3]);
	assert_int_equal(claim(s, "w1", 3, 60, &b), 0);
	t = tally(s);
	assert_int_equal(t.st[KILN_ITEM_CLAIMED], 5);

	/* complete exactly once */
	assert_int_equal(kiln_store_complete(s, &a.lease[0], "{\"ok\":1}", 5,
					     1, &err), 0);
	assert_int_equal(kiln_store_complete(s, &a.lease[0], "{\"ok\":2}", 5,
					     1, &err), KILN_STORE_LOST);
	assert_non_null(strstr(err.msg, "done"));
	assert_int_equal(kiln_store_heartbeat(s, &a.lease[0], 60, &err),
			 KILN_STORE_LOST);
	assert_int_equal(kiln_store_release(s, &a.lease[0], &err),
			 KILN_STORE_LOST);
	/* give up: failed, and claims skip it */
	assert_int_equal(kiln_store_give_up(s, &a.lease[1], "HTTP 400", 1,
					    &err), 0);
	assert_int_equal(kiln_store_give_up(s, &a.lease[1], "again", 1, &err),
			 KILN_STORE_LOST);
	/* release: pending again, for the next claim, under a new token */
	assert_int_equal(kiln_store_release(s, &a.lease[2], &err), 0);
	assert_int_equal(kiln_store_complete(s, &a.lease[2], "{}", 0, 1, &err),
			 KILN_STORE_LOST);
	assert_int_equal(claim(s, "w2", 10, 60, &b), 1);
	assert_int_equal(b.lease[0].item, ids[2]);
	assert_int_equal(b.lease[0].token, 2);
	assert_string_equal(b.worker[0], "w2");

	t = tally(s);
	assert_int_equal(t.st[KILN_ITEM_DONE], 1);
	assert_int_equal(t.st[KILN_ITEM_FAILED], 1);
	assert_int_equal(t.st[KILN_ITEM_CLAIMED], 3);
	assert_int_equal(t.st[KILN_ITEM_PENDING], 0);

	/* arguments every backend refuses alike */
	assert_int_equal(kiln_store_claim(s, "", 1, 60, NULL, NULL, &b.n,
					  &err), KILN_EINVAL);
	assert_int_equal(kiln_store_claim(s, "w", 1, 0, NULL, NULL, &b.n,
					  &err), KILN_EINVAL);
	assert_int_equal(kiln_store_claim(s, "w", 1, INFINITY, NULL, NULL,
					  &b.n, &err), KILN_EINVAL);
	/* by-id outcomes are the run's: a worker records through leases */
	assert_int_equal(kiln_store_finish(s, ids[3], "{}", 0, 1, &err),
			 KILN_EINVAL);
	kiln_store_close(s);
}

/* A lease lapses at its deadline: the item goes to the next claim, under a
 * new token; the old holder's result is refused (KILN_STORE_LOST), the
 * new holder's accepted once. */
static void lease_expiry(void **state)
{
	kiln_store *s = open_store("expiry", KILN_STORE_SHARED);
	kiln_error err;
	struct got w1, w2;

	(void)state;
	add_items(s, 2, NULL);
	assert_int_equal(claim(s, "w1", 2, 10, &w1), 2);
	clock_now += 9.5;
	assert_int_equal(claim(s, "w2", 2, 10, &w2), 0);  /* still w1's */
	clock_now += 0.5;                                 /* lapsed */
	assert_int_equal(claim(s, "w2", 1, 10, &w2), 1);
	assert_int_equal(w2.lease[0].item, w1.lease[0].item);
	assert_true(w2.lease[0].token > w1.lease[0].token);
	assert_int_equal(kiln_store_complete(s, &w1.lease[0], "{\"late\":1}",
					     0, 1, &err), KILN_STORE_LOST);
	assert_non_null(strstr(err.msg, "w2"));
	assert_int_equal(kiln_store_heartbeat(s, &w1.lease[0], 10, &err),
			 KILN_STORE_LOST);
	assert_int_equal(kiln_store_complete(s, &w2.lease[0], "{\"ok\":1}", 0,
					     1, &err), 0);
	assert_int_equal(kiln_store_complete(s, &w2.lease[0], "{\"ok\":1}", 0,
					     1, &err), KILN_STORE_LOST);
	/* lapsed but claimed by no one since: still the holder's */
	assert_int_equal(kiln_store_complete(s, &w1.lease[1], "{\"ok\":2}", 0,
					     1, &err), 0);

	/* expire: lapsed leases back to pending; their holders lose them */
	{
		kiln_store *s2 = open_store("expiry", KILN_STORE_SHARED);
		kiln_store_slot slot;
		long n;

		assert_int_equal(kiln_store_put(s2, "x", 0, "tests", "{}", "hx",
						&slot, &err), 0);
		assert_int_equal(claim(s2, "w3", 5, 10, &w1), 1);
		assert_int_equal(kiln_store_expire(s2, &n, &err), 0);
		assert_int_equal(n, 0);
		clock_now += 10;
		assert_int_equal(kiln_store_expire(s2, &n, &err), 0);
		assert_int_equal(n, 1);
		assert_int_equal(tally(s2).st[KILN_ITEM_PENDING], 1);
		assert_int_equal(kiln_store_complete(s2, &w1.lease[0], "{}", 0,
						     1, &err), KILN_STORE_LOST);
		kiln_store_close(s2);
	}
	kiln_store_close(s);
}

/* Heartbeats move the deadline; a claim before the new deadline gets
 * nothing, one after it gets the item. */
static void heartbeats(void **state)
{
	kiln_store *s = open_store("heartbeat", KILN_STORE_SHARED);
	kiln_error err;
	struct got w1, w2;

	(void)state;
	add_items(s, 1, NULL);
	assert_int_equal(claim(s, "w1", 1, 10, &w1), 1);
	clock_now += 8;
	assert_int_equal(kiln_store_heartbeat(s, &w1.lease[0], 10, &err), 0);
	clock_now += 4;     /* past the first deadline, before the second */
	assert_int_equal(claim(s, "w2", 1, 10, &w2), 0);
	assert_int_equal(kiln_store_heartbeat(s, &w1.lease[0], 10, &err), 0);
	clock_now += 10;    /* lapsed */
	assert_int_equal(claim(s, "w2", 1, 10, &w2), 1);
	assert_int_equal(kiln_store_heartbeat(s, &w1.lease[0], 10, &err),
			 KILN_STORE_LOST);
	assert_int_equal(kiln_store_heartbeat(s, &w2.lease[0], 10, &err), 0);
	assert_int_equal(kiln_store_heartbeat(s, &w2.lease[0], -1, &err),
			 KILN_EINVAL);
	kiln_store_close(s);
}

/* Claims and leases are in the store, not in the handle: a worker that
 * reopens finds its leases (and can complete them); others cannot claim
 * them until they lapse. */
static void resume_after_reopen(void **state)
{
	kiln_store *s = open_store("reopen", KILN_STORE_SHARED);
	kiln_error err;
	struct got w1, w2;

	(void)state;
	add_items(s, 3, NULL);
	assert_int_equal(claim(s, "w1", 2, 30, &w1), 2);
	kiln_store_close(s);

	s = open_store("reopen", KILN_STORE_SHARED);
	assert_int_equal(claim(s, "w2", 5, 30, &w2), 1);   /* the third */
	assert_int_equal(kiln_store_complete(s, &w1.lease[0], "{}", 0, 1,
					     &err), 0);
	kiln_store_close(s);

	clock_now += 30;
	s = open_store("reopen", KILN_STORE_SHARED);
	assert_int_equal(claim(s, "w3", 5, 30, &w2), 2);   /* lapsed ones */
	assert_int_equal(w2.lease[0].item, w1.lease[1].item);
	assert_int_equal(tally(s).st[KILN_ITEM_DONE], 1);
	kiln_store_close(s);
}

/* Many workers exclude a run; a run that opens after them takes back the
 * claims they left (no worker can be in), so it sends those items. */
static void run_and_workers(void **state)
{
	kiln_store *w = open_store("run", KILN_STORE_SHARED), *run = NULL;
	kiln_error err;
	struct got g;
	char url[512];
	const char *at = strstr(url_template, "%s");

	(void)state;
	snprintf(url, sizeof(url), "%.*srun%s", (int)(at - url_template),
		 url_template, at + 2);
	add_items(w, 3, NULL);
	assert_int_equal(claim(w, "w1", 2, 600, &g), 2);
	assert_int_equal(kiln_store_open(&run, url, &err), KILN_STORE_BUSY);
	kiln_store_close(w);
	assert_int_equal(kiln_store_open(&run, url, &err), 0);
	assert_int_equal(tally(run).st[KILN_ITEM_PENDING], 3);
	assert_int_equal(kiln_store_finish(run, g.lease[0].item, "{}", 1, 1,
					   &err), 0);
	kiln_store_close(run);
}

/* ---- concurrency: two handles, two threads or two processes ---------- */

#define RACE_ITEMS 400

struct racer {
	const char *test;
	const char *worker;
	int64_t got[RACE_ITEMS];
	int n, lost, errors;
};

/* keep, without cmocka's asserts (which must not run off the main
 * thread): an item handed over unclaimed is counted as an error */
static int keep_racing(void *ctx, const kiln_store_item *it)
{
	struct got *g = ctx;

	if (it->state != KILN_ITEM_CLAIMED || g->n >= 64)
		return 1;
	g->lease[g->n++] = (kiln_store_lease){ it->id, it->claims };
	return 0;
}

/* Claims 1..4 at a time until nothing is left, completing each. Runs on
 * its own thread or in a child process: failures are counted, and the
 * main thread checks the counts. */
static void *race(void *arg)
{
	struct racer *r = arg;
	kiln_store *s = NULL;
	kiln_error err;
	struct got g;
	char url[512];
	const char *at = strstr(url_template, "%s");

	snprintf(url, sizeof(url), "%.*s%s%s", (int)(at - url_template),
		 url_template, r->test, at + 2);
	if (kiln_store_open_with(&s, url, KILN_STORE_SHARED, &err)) {
		r->errors++;
		return NULL;
	}
	kiln_store_set_clock(s, fake_now, &clock_now);
	for (int round = 0;; round++) {
		int n = 0, want = 1 + round % 4;

		memset(&g, 0, sizeof(g));
		if (kiln_store_claim(s, r->worker, want, 600, keep_racing, &g,
				     &n, &err)) {
			r->errors++;
			break;
		}
		if (!n)
			break;
		for (int i = 0; i < n; i++) {
			int rc = kiln_store_complete(s, &g.lease[i], "{}", 0, 1,
						     &err);
			if (rc == KILN_STORE_LOST)
				r->lost++;
			else if (rc)
				r->errors++;
			if (r->n < RACE_ITEMS)
				r->got[r->n++] = g.lease[i].item;
		}
	}
	kiln_store_close(s);
	return NULL;
}

static void check_race(struct racer *r, int nr, int64_t *ids)
{
	static int seen[RACE_ITEMS];
	int total = 0;

	memset(seen, 0, sizeof(seen));
	for (int k = 0; k < nr; k++) {
		assert_int_equal(r[k].errors, 0);
		assert_int_equal(r[k].lost, 0);
		for (int i = 0; i < r[k].n; i++) {
			int64_t id = r[k].got[i];
			int j = 0;
			while (j < RACE_ITEMS && ids[j] != id)
				j++;
			assert_true(j < RACE_ITEMS);
			if (seen[j]++)
				fail_msg("item %lld claimed twice",
					 (long long)id);
			total++;
		}
	}
	assert_int_equal(total, RACE_ITEMS);
}

static void two_threads_never_share(void **state)
{
	kiln_store *s = open_store("threads", KILN_STORE_SHARED);
	struct racer r[2] = { { "threads", "a", { 0 }, 0, 0, 0 },
			      { "threads", "b", { 0 }, 0, 0, 0 } };
	pthread_t t[2];
	int64_t ids[RACE_ITEMS];

	(void)state;
	add_items(s, RACE_ITEMS, ids);
	for (int k = 0; k < 2; k++)
		assert_int_equal(pthread_create(&t[k], NULL, race, &r[k]), 0);
	for (int k = 0; k < 2; k++)
		pthread_join(t[k], NULL);
	check_race(r, 2, ids);
	assert_int_equal(tally(s).st[KILN_ITEM_DONE], RACE_ITEMS);
	/* both raced: neither took everything (each claims in small bites) */
	assert_true(r[0].n > 0 && r[1].n > 0);
	kiln_store_close(s);
}

static void two_processes_never_share(void **state)
{
	kiln_store *s = open_store("procs", KILN_STORE_SHARED);
	struct racer r[2] = { { "procs", "p0", { 0 }, 0, 0, 0 },
			      { "procs", "p1", { 0 }, 0, 0, 0 } };
	int64_t ids[RACE_ITEMS];
	int fd[2][2];
	pid_t pid[2];

	(void)state;
	add_items(s, RACE_ITEMS, ids);
	kiln_store_close(s);
	for (int k = 0; k < 2; k++) {
		assert_int_equal(pipe(fd[k]), 0);
		pid[k] = fork();
		assert_true(pid[k] >= 0);
		if (pid[k] == 0) {
			ssize_t w;
			close(fd[k][0]);
			race(&r[k]);
			w = write(fd[k][1], &r[k], sizeof(r[k]));
			_exit(w == (ssize_t)sizeof(r[k]) ? 0 : 1);
		}
		close(fd[k][1]);
	}
	for (int k = 0; k < 2; k++) {
		char *p = (char *)&r[k];
		size_t got = 0;
		ssize_t n;
		int status;

		while (got < sizeof(r[k]) &&
		       (n = read(fd[k][0], p + got, sizeof(r[k]) - got)) > 0)
			got += (size_t)n;
		close(fd[k][0]);
		assert_int_equal(waitpid(pid[k], &status, 0), pid[k]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		assert_int_equal(got, sizeof(r[k]));
	}
	check_race(r, 2, ids);
	s = open_store("procs", KILN_STORE_SHARED);
	assert_int_equal(tally(s).st[KILN_ITEM_DONE], RACE_ITEMS);
	kiln_store_close(s);
}

int main(int argc, char **argv)
{
	static char deflt[300];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(single_worker),
		cmocka_unit_test(lease_expiry),
		cmocka_unit_test(heartbeats),
		cmocka_unit_test(resume_after_reopen),
		cmocka_unit_test(run_and_workers),
		cmocka_unit_test(two_threads_never_share),
		cmocka_unit_test(two_processes_never_share),
	};
	int rc;

	if (tmpdir_setup(NULL))
		return 1;
	snprintf(deflt, sizeof(deflt), "sqlite:%s/%%s.db", dir);
	url_template = argc > 1 ? argv[1] : deflt;
	if (!strstr(url_template, "%s")) {
		fprintf(stderr, "usage: %s [URL_TEMPLATE with %%s]\n", argv[0]);
		tmpdir_teardown(NULL);
		return 2;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	tmpdir_teardown(NULL);
	return rc;
}
