/* kiln/sandbox.h - run untrusted programs against tests, isolated.
 *
 * A box is one sandbox: a process tree in new user, PID, mount, network,
 * IPC and UTS namespaces, with a read-only root built from the host's /usr,
 * a private size-limited tmpfs at /tmp, no network, rlimits and a seccomp
 * filter. PID 1 of the box is kiln's harness (a Python process with the
 * test driver already imported) that forks one child per run: a run costs a
 * fork, not an interpreter start-up. After every run the harness kills
 * every other process in the box and empties /tmp.
 *
 * A box runs one job at a time; use one box per thread for parallel runs.
 * The box's PID 1 dies with the thread that started it (PR_SET_PDEATHSIG
 * follows the creating thread): open and run a box from a thread that
 * outlives it. kiln_box_run restarts a broken box from the calling thread.
 */
#ifndef KILN_SANDBOX_H
#define KILN_SANDBOX_H

#include <jansson.h>
#include <stddef.h>

#include "kiln/error.h"

typedef struct kiln_limits {
	long timeout_ms;      /* wall clock for loading and for each test */
	long cpu_ms;          /* CPU time per process (a backstop to the wall) */
	long long memory;     /* address space per process, bytes; 0 = none */
	long long output;     /* stdout + stderr bytes per run */
	int nproc;            /* processes in the box, the harness included */
	long long fsize;      /* largest file a run may write, bytes */
	int nofile;           /* open files per process */
	long long tmpfs;      /* size of the writable /tmp, bytes */
	long compile_ms;      /* wall clock for a compile step */
	long long compile_memory; /* address space for a compile step */
} kiln_limits;

void kiln_limits_default(kiln_limits *l);

/* One thing to verify. tests are independent snippets judged one by one,
 * or (program = 1) a single test program given as tests[0]. */
typedef struct kiln_job {
	const char *language;         /* "python" or "c"; NULL = python */
	const char *setup;            /* test set-up, run after the solution */
	const char *solution;
	const char *const *tests;
	size_t ntests;
	int program;
	long timeout_ms;              /* > 0 overrides the box's limit */
	/* Python I/O tests one call at a time, never in a batch: a batch shows
	 * the candidate later calls' inputs, so it can spend an earlier test's
	 * time on a later one (docs/SANDBOX.md); with this each test's
	 * deadline is its own. Slower. */
	int no_batch;
	/* I/O tests (Python): NULL, or one entry per test, NULL for a code
	 * test; where expect[i] is set, tests[i] is a call of the solution's
	 * function with literal arguments ("f(1, [2])") and expect[i] the
	 * literal it must return ("3"), compared by kiln (docs/FORMATS.md). */
	const char *const *expect;
	double atol;                  /* float tolerance of I/O tests; 0 = exact */
	/* Python: the function under test (the record's entry_point), or
	 * NULL. A code test may use the solution's own object under a
	 * standard-library member's name (median, gcd) only for this name:
	 * any other such name is a check the test meant to be the
	 * library's (docs/SANDBOX.md). */
	const char *entry_point;
	/* C only, nothing run: the solution and each tests[i] (a whole
	 * variant of the solution, such as a mutant) are compiled in the box
	 * to object files at -O2; test i passes when its object file is the
	 * solution's byte for byte (kiln score --mutation's equivalent
	 * mutants), and fails when it differs or does not compile. The
	 * compile step's limits bound the whole job. */
	int objects;
} kiln_job;

/* Languages are a table (src/sandbox/lang.c). */
int kiln_lang_known(const char *name);
/* Comma-separated names, for --help. */
const char *kiln_lang_list(void);

/* The sandbox's languages, in the table's order: kiln_lang_name(i) for
 * i < kiln_lang_count() (kiln languages). */
size_t kiln_lang_count(void);
const char *kiln_lang_name(size_t i);
/* The toolchain's version line (its version option, run outside the
 * box: no candidate code) into buf; KILN_EIO when not installed. */
int kiln_lang_version(const char *lang, char *buf, size_t n,
		      kiln_error *err);
/* A probe for lang: a solution and one code test it must pass in the box
 * (static strings). KILN_EINVAL for an unknown language. */
int kiln_lang_probe(const char *lang, const char **solution,
		    const char **test);

typedef struct kiln_box kiln_box;

typedef struct kiln_box_config {
	kiln_limits limits;
	int cold;             /* start a fresh interpreter per run (slow) */
	const char *python;   /* interpreter path; NULL = /usr/bin/python3 */
	/* 0: any CPU; k > 0: the box's judge and candidates run on CPU k - 1
	 * (a test's calls cross between the two processes: on one CPU a call
	 * costs half what it costs across two). */
	int cpu;
} kiln_box_config;

int kiln_box_open(kiln_box **box, const kiln_box_config *cfg, kiln_error *err);

/* Runs a job. On return 0, *result is a new JSON object:
 *   status        pass|fail|error|timeout|memory|output_limit|killed|
 *                 sandbox_error
 *   tests_passed, tests_total
 *   tests         [{status, wall_ms, cpu_ms, detail}, ...]
 *   cpu_ms, wall_ms, max_rss_kb, stderr (a bounded tail)
 * A failure of the sandbox itself is reported as status sandbox_error
 * (and the box restarts on the next run); a nonzero return means the job
 * could not even be described (bad language, out of memory). */
int kiln_box_run(kiln_box *box, const kiln_job *job, json_t **result,
		 kiln_error *err);

/* Pipelining: up to KILN_BOX_DEPTH jobs may be submitted before their
 * results are collected (oldest first), so that the box starts the next
 * job while the caller handles the last result. kiln_box_run is submit +
 * collect. If the box fails, the oldest job is sandbox_error and the rest
 * are sent again to a rebuilt box. */
#define KILN_BOX_DEPTH 2
int kiln_box_submit(kiln_box *box, const kiln_job *job, kiln_error *err);
int kiln_box_collect(kiln_box *box, json_t **result, kiln_error *err);

/* The PID, in the caller's namespace, of the box's PID 1 (0 if down). */
long kiln_box_pid(const kiln_box *box);

/* "v2", "v1" or "none": the cgroup that bounds the box as a whole. */
const char *kiln_box_cgroup(const kiln_box *box);

void kiln_box_close(kiln_box *box);

/* Checks that this host can create sandboxes (user namespaces allowed, a
 * python interpreter present). Fills err with what is missing. */
int kiln_sandbox_check(const kiln_box_config *cfg, kiln_error *err);

#endif
