/* kiln/test_rates.h - how good a teacher's generated tests are, measured
 * on tasks with ground truth (kiln test-rates; docs/BANK.md, "Scoring
 * generated tests").
 *
 * The tasks are kiln bank's: each has a reference `solution` and planted
 * `wrong_variants` ({solution, ...}, non-empty). For each such task that
 * a candidate names (by id), the distinct `tests` of its candidates whose
 * `tests_source` is "teacher" (absent counts as "teacher", as in
 * scripts/bank-test-rates.py) are pooled in order of first appearance,
 * with the `test_setup` of the last of those candidates. Each pooled test
 * is run in the sandbox as the only test of a record whose solution is
 * the reference, then each wrong variant:
 *
 *   valid           the reference passes it
 *   discriminating  it is valid and at least one wrong variant does not
 *                   pass it
 *
 * and a (task, variant) pair is killed when some valid test of the task
 * fails it. The counts are those of scripts/bank-test-rates.py for one
 * teacher; candidates of two teachers (`teacher.backend/model`) are
 * refused.
 *
 * To keep it fast, each (task, solution) is first run as ONE record
 * holding all the task's tests, and each test's status read from the
 * verdict's "tests" array. That verdict is taken only when it cannot
 * differ from the tests run one by one: one entry per test, each pass,
 * fail or error; not every entry an error in a language that builds its
 * tests together (a compile error fails them all; Python and Lua judge
 * each test apart); and the pool is batched at all only when no test can
 * change what a later one sees (Python shares one namespace between a
 * record's tests, so every Python test must be one `assert` line that
 * binds no name; a C test may not hold a preprocessor line). Otherwise
 * the solution's tests are run alone, one record each.
 */
#ifndef KILN_TEST_RATES_H
#define KILN_TEST_RATES_H

#include <stddef.h>

#include <jansson.h>

#include "kiln/error.h"
#include "kiln/verify.h"

typedef struct kiln_test_rates {
	long tasks;            /* tasks with ground truth that a teacher
				  candidate named (its pool may be empty) */
	long tests, valid, discriminating;
	long variants;         /* wrong variants of the tasks with tests */
	long variants_killed;
	long runs;             /* sandbox runs (records verified) */
	long batch_runs;       /* ... of them, runs of a whole pool */
	long fallbacks;        /* (task, solution) pairs run test by test */
	double seconds;        /* the whole measurement, reading included */
	int stopped;           /* *opts->verify.stop ended it early */
} kiln_test_rates;

typedef struct kiln_test_rates_opts {
	/* The sandbox: jobs, limits (the per-test --timeout), stop. Its
	 * progress, bad_line, carry, references and relative timeouts are
	 * not used. */
	kiln_verify_opts verify;
	/* Called from the calling thread after each run: runs done, runs
	 * planned so far (it grows when a pool falls back to one test a
	 * run), seconds since the start. */
	void (*progress)(void *ctx, long done, long planned, double seconds);
	void *ctx;
} kiln_test_rates_opts;

void kiln_test_rates_opts_default(kiln_test_rates_opts *o);

/* Measures the teacher tests of the candidates files (JSON Lines, each
 * "-" for stdin at most once) on the tasks of tasks_path. Returns 0 (also
 * when no task carries ground truth: r->tasks is 0, and when stopped:
 * r->stopped), or an error naming the file and line: a malformed line, a
 * task id given twice, a task with no string id, a wrong variant with no
 * string solution, candidates of a second teacher, a record the sandbox
 * refuses, a sandbox that cannot start. */
int kiln_test_rates_run(const char *tasks_path, const char *const *cands,
			size_t ncands, const kiln_test_rates_opts *o,
			kiln_test_rates *r, kiln_error *err);

/* The result as kiln test-rates writes it (new reference, NULL when out
 * of memory): {"tasks", "tests", "valid", "discriminating",
 * "validity_rate", "discrimination_rate", "variants", "variants_killed",
 * "kill_rate", "runs", "seconds"}; a rate is null when its denominator
 * is 0. */
json_t *kiln_test_rates_json(const kiln_test_rates *r);

#endif
