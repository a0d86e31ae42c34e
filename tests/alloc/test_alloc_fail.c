/* Every allocation fails in turn (curl's torture tests, small): for
 * N = 1, 2, ... the N-th allocation of an operation fails (inject.c), until
 * N passes the last allocation the operation makes. Over the JSONL reader
 * (a plain and a gzip file: records, bad lines, a long line, a line over
 * the cap), extraction and splitting (the real answers of
 * tests/data/extract/), the SQLite store (open a fresh store, put,
 * finish, fail, cache, list, stats, reopen, read-only) and kiln dedup (a
 * batch with copies, --dropped, --index), each run must:
 *
 *   - not crash (ASan + UBSan in build-asan/);
 *   - end in KILN_ENOMEM, with a message, at the step whose allocation
 *     failed, and match the run without failures up to that step; or not
 *     notice (a failure some code may absorb, e.g. stdio without a buffer)
 *     and then match the run without failures exactly: a failure never
 *     turns into another answer (a record skipped as a parse error, a
 *     store read as empty, code extracted differently);
 *   - leave no block and no file descriptor behind: counted here after
 *     every run, in every build (blocks still reachable count too, which
 *     LeakSanitizer would not report); in build-asan/ LeakSanitizer also
 *     runs after each operation's runs and at exit, and after every run
 *     with KILN_ALLOC_LSAN_EACH=1 (7 minutes instead of 20 seconds: it
 *     stops the world each time);
 *   - for the store, leave a store that opens and lists (no stale lock, no
 *     damage).
 *
 * KILN_ALLOC_VERBOSE=1 prints every allocation site reached. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "kiln/code.h"
#include "kiln/dedup.h"
#include "kiln/jsonl.h"
#include "kiln/store.h"

#include "inject.h"
#include "../unit/tmpdir.h"

/* ---- transcripts ---------------------------------------------------------
 * An operation writes what it sees, one entry per step, into a transcript;
 * the run without failures is the reference. Entries are written while the
 * injector is held, so the test's own allocations never fail. */

struct transcript {
	char buf[1 << 20];
	size_t len;
	size_t ends[4096];
	int n;
	int nomem;              /* ended in KILN_ENOMEM */
	const char *bad;        /* a rule the run broke, or NULL */
};

static struct transcript ref, cur, *T;

static void entry(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void entry(const char *fmt, ...)
{
	va_list ap;
	int n;

	inject_hold(1);
	va_start(ap, fmt);
	n = vsnprintf(T->buf + T->len, sizeof(T->buf) - T->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(T->buf) - T->len ||
	    T->n == (int)(sizeof(T->ends) / sizeof(T->ends[0])))
		T->bad = "transcript full";
	else {
		T->len += (size_t)n;
		T->ends[T->n++] = T->len;
	}
	inject_hold(0);
}

/* A step failed with rc: records KILN_ENOMEM as the end of the run (and
 * checks its message); returns nonzero if the operation must stop. */
static int nomem(int rc, const kiln_error *err)
{
	if (rc != KILN_ENOMEM)
		return 0;
	if (err->code != KILN_ENOMEM || !err->msg[0])
		T->bad = "KILN_ENOMEM without its code or message in err";
	entry("ENOMEM\n");
	T->nomem = 1;
	return 1;
}

static void start(struct transcript *t)
{
	t->len = 0;
	t->n = 0;
	t->nomem = 0;
	t->bad = NULL;
	t->buf[0] = '\0';
	T = t;
}

/* Where cur and ref first differ, for the message. */
static void show_difference(void)
{
	int i = 0;

	while (i < cur.n && i < ref.n && cur.ends[i] == ref.ends[i] &&
	       memcmp(cur.buf, ref.buf, cur.ends[i]) == 0)
		i++;
	fprintf(stderr, "  entry %d differs\n  with failure:    %.300s\n"
		"  without failure: %.300s\n", i,
		i < cur.n ? cur.buf + (i ? cur.ends[i - 1] : 0) : "(end)",
		i < ref.n ? ref.buf + (i ? ref.ends[i - 1] : 0) : "(end)");
}

/* The rules of the header on cur against ref; NULL if kept. */
static const char *judge(int fired)
{
	int same = cur.len == ref.len && memcmp(cur.buf, ref.buf, ref.len) == 0;
	int k;

	if (cur.bad)
		return cur.bad;
	if (same)
		return NULL;
	if (!fired)
		return "no allocation failed, yet the run differs";
	if (!cur.nomem)
		return "an allocation failed and the run went on differently"
		       " (not KILN_ENOMEM)";
	k = cur.n - 1; /* entries before the ENOMEM one */
	if (k > ref.n || (k > 0 && (ref.ends[k - 1] != cur.ends[k - 1] ||
				    memcmp(cur.buf, ref.buf, cur.ends[k - 1]))))
		return "the steps before KILN_ENOMEM differ from the run"
		       " without failures";
	return NULL;
}

static int count_fds(void)
{
	DIR *d;
	int n = 0;

	inject_hold(1);
	d = opendir("/proc/self/fd");
	if (d) {
		while (readdir(d))
			n++;
		closedir(d);
	}
	inject_hold(0);
	return n;
}

/* ---- jansson --------------------------------------------------------------
 * jansson 2.14's lexer does not check that its token buffer grew
 * (lex_save; akheron/jansson#362): after such a failure it parses on
 * with a character missing, or stops on assert(0) in lex_scan_string,
 * which aborts the process. kiln cannot catch an abort inside jansson, so
 * those allocations, 32 * 2^k bytes asked through jansson's allocator (the
 * buffer doubles from 16), are never failed here; every other allocation
 * jansson makes is. kiln watches jansson's allocator (src/util/jsonl.c)
 * and reports a line whose parse saw a failure as KILN_ENOMEM. */

static void *json_malloc_for_test(size_t n)
{
	int growth = n >= 32 && (n & (n - 1)) == 0;

	return inject_malloc_from(n, __builtin_return_address(0), !growth);
}

/* ---- the loop ----------------------------------------------------------- */

struct op {
	const char *name;
	void (*run)(void *ctx);
	void (*reset)(void *ctx);     /* before each run (may be NULL) */
	const char *(*after)(void *ctx, int nomem); /* after it, unarmed */
	void *ctx;
};

#define MAX_RUNS 100000

static long all_allocations;
static int lsan_each;

static int verbose(void)
{
	const char *v = getenv("KILN_ALLOC_VERBOSE");
	return v && *v && strcmp(v, "0") != 0;
}

static void fail_each(const struct op *op, long total, int sticky);

/* Runs op once to warm one-time allocations (SQLite's, libc's), once more
 * as the reference (recording the sites), then with the N-th allocation
 * failing for N = 1.. until none fails: the N-th alone, then the N-th and
 * every one after it. */
static void torture(const struct op *op)
{
	long total;
	long live0;
	int fds0;

	if (op->reset)
		op->reset(op->ctx);
	start(&ref);
	op->run(op->ctx);

	if (op->reset)
		op->reset(op->ctx);
	start(&ref);
	live0 = inject_live();
	fds0 = count_fds();
	inject_record_sites(1);
	inject_arm(0, 0);
	op->run(op->ctx);
	total = inject_disarm();
	inject_record_sites(0);
	if (ref.bad || ref.nomem)
		fail_msg("%s: the run without failures: %s", op->name,
			 ref.bad ? ref.bad : "KILN_ENOMEM");
	if (inject_live() != live0)
		fail_msg("%s: the run without failures left %ld blocks",
			 op->name, inject_live() - live0);
	if (count_fds() != fds0)
		fail_msg("%s: the run without failures left %d descriptors",
			 op->name, count_fds() - fds0);
	if (op->after) {
		const char *why = op->after(op->ctx, 0);
		if (why)
			fail_msg("%s: without failures: %s", op->name, why);
	}

	for (int sticky = 0; sticky < 2; sticky++)
		fail_each(op, total, sticky);
	if (inject_leak_check())
		fail_msg("%s: LeakSanitizer found leaks", op->name);
	fprintf(stderr, "%s: %ld allocations, each failed in turn: ok\n",
		op->name, total);
	all_allocations += total;
}

/* The N-th allocation fails (sticky: and every one after it, as when
 * memory has run out), for N = 1.. until the run makes fewer. */
static void fail_each(const struct op *op, long total, int sticky)
{
	long n, live0;
	int fds0;

	for (n = 1; n <= MAX_RUNS; n++) {
		const char *why;
		int fired;

		if (op->reset)
			op->reset(op->ctx);
		start(&cur);
		live0 = inject_live();
		fds0 = count_fds();
		inject_arm(n, sticky);
		op->run(op->ctx);
		inject_disarm();
		fired = inject_fired();
		why = judge(fired);
		if (!why && inject_live() != live0)
			why = "blocks left allocated (a leak)";
		if (!why && count_fds() != fds0)
			why = "file descriptors left open";
		if (!why && op->after)
			why = op->after(op->ctx, cur.nomem);
		if (!why && lsan_each && inject_leak_check())
			why = "LeakSanitizer found leaks";
		if (why) {
			fprintf(stderr, "%s: allocation %ld of %ld failed%s: %s"
				" (%ld blocks, %d descriptors more)\n",
				op->name, n, total,
				sticky ? ", and every one after it" : "", why,
				inject_live() - live0, count_fds() - fds0);
			if (cur.len != ref.len ||
			    memcmp(cur.buf, ref.buf, ref.len) != 0)
				show_difference();
			fail();
		}
		if (!fired)
			break;
	}
	if (n > MAX_RUNS)
		fail_msg("%s: still failing after %d runs", op->name, MAX_RUNS);
}

/* Sites are counted over a whole test (torture() adds to them). */
static void sites_begin(void)
{
	inject_clear_sites();
	all_allocations = 0;
}

static void sites_end(const char *what)
{
	fprintf(stderr, "%s: %ld allocations failed in turn in all\n", what,
		all_allocations);
	inject_report_sites(what, verbose());
}

/* ---- (a) the JSONL reader ---------------------------------------------- */

#define MAX_LINE 4096

static char plain_path[300], gz_path[300];

/* Records of several shapes, a blank line, a bad line, a non-object, bad
 * UTF-8, a long line under the cap (the line buffer grows), one over it. */
static void write_lines(FILE *f, gzFile g)
{
	char *long_line = malloc(MAX_LINE + 4000);
	static const char *const lines[] = {
		"{\"id\": \"t1\", \"prompt\": \"def f(x):\\n\", \"n\": 1}\n",
		"{\"id\": \"t2\", \"tests\": [\"assert f(1) == 2\", \"x\"],"
		" \"meta\": {\"origin\": \"human\", \"score\": 0.5,"
		" \"tags\": [null, true, false]}}\n",
		"\n",
		"{\"id\": \"t3\", \"text\": \"caf\xc3\xa9 \\u00e9 \\ud83d\\ude00\"}\n",
		"{\"id\": \"bad\", }\n",
		"[1, 2, 3]\n",
		"{\"id\": \"utf8\xff\"}\n",
		"{\"id\": \"dup\", \"id\": 2}\n",
	};

	assert_non_null(long_line);
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		if (f)
			fputs(lines[i], f);
		else
			gzputs(g, lines[i]);
	}
	/* A line of about 3 KB, then one over the cap, then one more. */
	for (int round = 0; round < 2; round++) {
		size_t len = round ? MAX_LINE + 3000 : 3000;
		size_t k = (size_t)sprintf(long_line, "{\"id\": \"long%d\", \"s\": \"",
					   round);
		memset(long_line + k, 'a' + round, len - k);
		strcpy(long_line + len, "\"}\n");
		if (f)
			fputs(long_line, f);
		else
			gzputs(g, long_line);
	}
	if (f)
		fputs("{\"id\": \"last\"}\n", f);
	else
		gzputs(g, "{\"id\": \"last\"}");   /* no final newline */
	free(long_line);
}

static int jsonl_setup(void **state)
{
	FILE *f;
	gzFile g;

	if (tmpdir_setup(state))
		return -1;
	snprintf(plain_path, sizeof(plain_path), "%s/in.jsonl", dir);
	snprintf(gz_path, sizeof(gz_path), "%s/in.jsonl.gz", dir);
	f = fopen(plain_path, "w");
	if (!f)
		return -1;
	write_lines(f, NULL);
	if (fclose(f))
		return -1;
	/* Two gzip members, read one after the other. */
	g = gzopen(gz_path, "wb");
	if (!g)
		return -1;
	gzputs(g, "{\"id\": \"member1\"}\n");
	if (gzclose(g) != Z_OK)
		return -1;
	g = gzopen(gz_path, "ab");
	if (!g)
		return -1;
	write_lines(NULL, g);
	return gzclose(g) == Z_OK ? 0 : -1;
}

static void read_all(void *ctx)
{
	const char *path = ctx;
	kiln_jsonl_reader *r;
	kiln_error err = { 0 };
	int rc = kiln_jsonl_open(&r, path, MAX_LINE, &err);

	if (nomem(rc, &err))
		return;
	if (rc) {
		entry("open: %d %s\n", rc, err.msg);
		return;
	}
	for (;;) {
		json_t *obj = NULL;

		rc = kiln_jsonl_next(r, &obj, &err);
		if (nomem(rc, &err))
			break;
		if (rc == 0) {
			char *text;

			inject_hold(1);
			text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
			entry("%ld: %s\n", kiln_jsonl_lineno(r),
			      text ? text : "(dump failed)");
			free(text);
			json_decref(obj);
			inject_hold(0);
		} else {
			entry("%ld: rc %d %s\n", kiln_jsonl_lineno(r), rc,
			      rc == KILN_EEOF ? "" : err.msg);
		}
		if (rc == KILN_EEOF || rc == KILN_EIO)
			break;
	}
	kiln_jsonl_close(r);
}

static void jsonl_plain(void **state)
{
	struct op op = { "jsonl plain", read_all, NULL, NULL, plain_path };

	(void)state;
	sites_begin();
	torture(&op);
	sites_end("jsonl plain");
	assert_non_null(strstr(ref.buf, "rc -5")); /* the line over the cap */
	assert_non_null(strstr(ref.buf, "rc -3")); /* the bad lines */
	assert_non_null(strstr(ref.buf, "\"last\""));
}

static void jsonl_gzip(void **state)
{
	struct op op = { "jsonl gzip", read_all, NULL, NULL, gz_path };

	(void)state;
	sites_begin();
	torture(&op);
	sites_end("jsonl gzip");
	assert_non_null(strstr(ref.buf, "\"member1\""));
	assert_non_null(strstr(ref.buf, "rc -5"));
	assert_non_null(strstr(ref.buf, "\"last\""));
}

/* ---- (b) extraction and splitting ---------------------------------------- */

struct answer {
	char name[128];
	char language[16];
	char *text;
	size_t len;
};

static struct answer answers[128];
static int nanswers;

/* A file of test data (an answer, a case's header): its first 64 KiB,
 * NUL-terminated, in a malloc'd buffer; NULL if it cannot be read. */
static char *read_small(const char *path, size_t *len)
{
	enum { MAX = 64 << 10 };
	char *buf = malloc(MAX + 1);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got = -1;

	if (buf && fd >= 0)
		got = read(fd, buf, MAX);
	if (fd >= 0)
		close(fd);
	if (got < 0) {
		free(buf);
		return NULL;
	}
	buf[got] = '\0';
	*len = (size_t)got;
	return buf;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct answer *)a)->name,
		      ((const struct answer *)b)->name);
}

/* Every tests/data/extract/<name>.answer with its .expected's language. */
static int extract_setup(void **state)
{
	DIR *d = opendir(KILN_EXTRACT_CASES);
	struct dirent *e;

	(void)state;
	if (!d)
		return -1;
	while ((e = readdir(d)) && nanswers < 128) {
		struct answer *a = &answers[nanswers];
		size_t n = strlen(e->d_name), len;
		char path[512];
		char *exp;

		if (n < 8 || strcmp(e->d_name + n - 7, ".answer") != 0 ||
		    n - 7 >= sizeof(a->name))
			continue;
		memcpy(a->name, e->d_name, n - 7);
		a->name[n - 7] = '\0';
		snprintf(path, sizeof(path), "%s/%s.expected",
			 KILN_EXTRACT_CASES, a->name);
		exp = read_small(path, &len);
		if (!exp || sscanf(exp, "language: %15s", a->language) != 1) {
			free(exp);
			closedir(d);
			return -1;
		}
		free(exp);
		snprintf(path, sizeof(path), "%s/%s.answer",
			 KILN_EXTRACT_CASES, a->name);
		a->text = read_small(path, &a->len);
		if (!a->text) {
			closedir(d);
			return -1;
		}
		nanswers++;
	}
	closedir(d);
	qsort(answers, (size_t)nanswers, sizeof(answers[0]), by_name);
	return nanswers > 0 ? 0 : -1;
}

static int extract_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < nanswers; i++)
		free(answers[i].text);
	return 0;
}

/* Splits code as kiln_split_tests does; returns nonzero to stop. */
static int split(const char *what, const char *code, const char *language)
{
	char *preamble = NULL, **tests = NULL;
	size_t n = 0;
	kiln_error err = { 0 };
	int rc = kiln_split_tests(code, strlen(code), language, &preamble,
				  &tests, &n, &err);

	if (nomem(rc, &err)) {
		if (preamble || tests || n)
			T->bad = "kiln_split_tests failed but left output";
		return 1;
	}
	if (rc) {
		entry("split %s: rc %d %s\n", what, rc, err.msg);
		return 0;
	}
	entry("split %s: preamble %s\n", what, preamble);
	for (size_t i = 0; i < n; i++)
		entry("split %s: test %zu: %s\n", what, i, tests[i]);
	free(preamble);
	kiln_tests_free(tests, n);
	return 0;
}

/* kiln_extract_code or _tests on the answer; the result split. Returns
 * nonzero to stop. */
static int extract(const struct answer *a, int tests)
{
	const char *language = strcmp(a->language, "(none)") ? a->language : NULL;
	const char *what = tests ? "tests" : "code", *canon;
	kiln_extracted x = { .code = (char *)"unset" };
	kiln_error err = { 0 };
	int rc = tests ? kiln_extract_tests(a->text, a->len, language, &x, &err)
		       : kiln_extract_code(a->text, a->len, language, &x, &err);
	int stop;

	if (nomem(rc, &err)) {
		if (x.code)
			T->bad = "extraction failed but left code";
		return 1;
	}
	if (rc) {
		entry("%s %s: rc %d %s\n", a->name, what, rc, err.msg);
		return 0;
	}
	entry("%s %s: %s blocks %d truncated %d parts %d\n%s\n", a->name,
	      what, x.how, x.blocks, x.truncated, x.parts, x.code);
	stop = 0;
	canon = language ? kiln_lang_canonical(language) : "python";
	if (canon && (strcmp(canon, "python") == 0 || strcmp(canon, "c") == 0))
		stop = split(what, x.code, language);
	free(x.code);
	return stop;
}

static void extract_one(void *ctx)
{
	const struct answer *a = ctx;

	if (!extract(a, 0))
		extract(a, 1);
}

static void extraction(void **state)
{
	(void)state;
	sites_begin();
	for (int i = 0; i < nanswers; i++) {
		struct op op = { answers[i].name, extract_one, NULL, NULL,
				 &answers[i] };
		torture(&op);
	}
	sites_end("extraction and splitting");
}

/* Regression: kiln__split_add_test left the snippet it was handed
 * allocated when it refused it, over KILN_SPLIT_MAX_TESTS as when out of
 * memory (found by the loop above). */
static void split_too_many_tests_leaks_nothing(void **state)
{
	size_t n = KILN_SPLIT_MAX_TESTS + 1, len = 0, k;
	char *code = malloc(n * 16), *preamble, **tests;
	kiln_error err;
	long live0;
	int rc;

	(void)state;
	assert_non_null(code);
	for (k = 0; k < n; k++)
		len += (size_t)sprintf(code + len, "assert f(%zu)\n", k);
	live0 = inject_live();
	rc = kiln_split_tests(code, len, "python", &preamble, &tests, &k, &err);
	assert_int_equal(rc, KILN_ELIMIT);
	assert_null(preamble);
	assert_int_equal(inject_live(), live0);
	free(code);
}

/* ---- (d) kiln dedup ------------------------------------------------------
 * A small batch with exact and near copies, a record jansson reads (it has
 * "dedup" already, and a \u escape), --dropped and --index; the kept and
 * dropped records and the index's count are the transcript. */

static char dedup_in[300], dedup_out[300], dedup_drop[300], dedup_idx[300];

static void dedup_reset(void *ctx)
{
	char p[400];
	static const char *const files[] = { "index.json", "sigs.bin",
		"keys.bin", "offsets.bin", "docs.bin" };

	(void)ctx;
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(p, sizeof p, "%s/%s", dedup_idx, files[i]);
		unlink(p);
	}
	rmdir(dedup_idx);
	unlink(dedup_out);
	unlink(dedup_drop);
}

static void dedup_file_entry(const char *what, const char *path)
{
	char buf[1 << 16];
	FILE *f;
	size_t n = 0;

	inject_hold(1);
	if ((f = fopen(path, "r"))) {
		n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	inject_hold(0);
	entry("%s:\n%s", what, buf);
}

static void dedup_run(void *ctx)
{
	const char *inputs[] = { dedup_in };
	kiln_dedup_opts o;
	kiln_dedup_stats st;
	kiln_out *out = NULL, *drop = NULL;
	kiln_error err = { 0 };
	int rc;

	(void)ctx;
	kiln_dedup_opts_default(&o);
	o.index = dedup_idx;
	rc = kiln_out_open(&out, dedup_out, &err);
	if (!rc)
		rc = kiln_out_open(&drop, dedup_drop, &err);
	if (rc) {
		if (out)
			kiln_out_abort(out);
		if (!nomem(rc, &err))
			entry("open: rc %d %s\n", rc, err.msg);
		return;
	}
	kiln_dedup_stats_init(&st);
	rc = kiln_dedup(inputs, 1, out, drop, &o, &st, &err);
	if (!rc) {
		rc = kiln_out_commit(drop, &err);
		drop = NULL;
		if (!rc)
			rc = kiln_out_commit(out, &err);
		else
			kiln_out_abort(out);
		out = NULL;
	}
	if (out)
		kiln_out_abort(out);
	if (drop)
		kiln_out_abort(drop);
	kiln_dedup_stats_free(&st);
	if (nomem(rc, &err))
		return;
	entry("rc %d %s: %zu in, %zu kept, index +%zu\n", rc,
	      rc ? err.msg : "", st.stage.entered, st.stage.kept,
	      st.index_added);
	dedup_file_entry("kept", dedup_out);
	dedup_file_entry("dropped", dedup_drop);
}

static int dedup_setup(void **state)
{
	FILE *f;
	static const char *const body[] = {
		"def f(a, b):\n    s = a + b\n    for i in range(s):\n"
		"        s += i * 3\n    return s\n",
		"def g(items):\n    out = []\n    for x in items:\n"
		"        if x % 2:\n            out.append(x * x)\n"
		"    return sorted(out)\n",
		"class Stack:\n    def __init__(self):\n        self.v = []\n"
		"    def push(self, x):\n        self.v.append(x)\n",
	};

	(void)state;
	strcpy(dir, "/tmp/kiln-test-XXXXXX");   /* the jsonl group's is gone */
	if (!mkdtemp(dir))
		return -1;
	snprintf(dedup_in, sizeof dedup_in, "%s/dedup.jsonl", dir);
	snprintf(dedup_out, sizeof dedup_out, "%s/kept.jsonl", dir);
	snprintf(dedup_drop, sizeof dedup_drop, "%s/dropped.jsonl", dir);
	snprintf(dedup_idx, sizeof dedup_idx, "%s/index", dir);
	if (!(f = fopen(dedup_in, "w")))
		return -1;
	for (int i = 0; i < 3; i++) {
		json_t *o = json_pack("{s:i, s:s, s:i}", "id", i, "solution",
				      body[i], "tests_passed", 1);
		char *t = json_dumps(o, JSON_COMPACT);
		fprintf(f, "%s\n%s\n", t, t);   /* an exact copy */
		free(t);
		json_decref(o);
	}
	/* near copies: a line added; one read by jansson */
	fprintf(f, "{\"id\": 10, \"solution\": \"def f(a, b):\\n    "
		"s = a + b\\n    # \\u00e9\\n    for i in range(s):\\n"
		"        s += i * 3\\n    return s\\n\", \"dedup\": 1}\n");
	fprintf(f, "{\"id\": 11, \"solution\": \"def g(items):\\n    "
		"out = []\\n    for x in items:\\n        if x %% 2:\\n"
		"            out.append(x * x)\\n    out.reverse()\\n"
		"    return sorted(out)\\n\", \"tests_passed\": 2}\n");
	fclose(f);
	return 0;
}

static void dedup(void **state)
{
	struct op op = { "dedup", dedup_run, dedup_reset, NULL, NULL };

	(void)state;
	sites_begin();
	torture(&op);
	sites_end("dedup");
	assert_non_null(strstr(ref.buf, "rc 0"));
	assert_non_null(strstr(ref.buf, "\"reason\":\"exact\""));
	assert_non_null(strstr(ref.buf, "\"reason\":\"near\""));
}

/* ---- (c) the store ------------------------------------------------------- */

static char store_path[300];

static void remove_store(void *ctx)
{
	static const char *const ext[] = { "", "-wal", "-shm", "-lock",
					   "-journal" };
	char p[400];

	(void)ctx;
	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", store_path, ext[i]);
		unlink(p);
	}
}

static int list_item(void *ctx, const kiln_store_item *it)
{
	(void)ctx;
	entry("item %lld %s/%d/%s %s req %s hash %s answer %s error %s"
	      " attempts %d\n", (long long)it->id, it->task_id, it->index,
	      it->kind, kiln_item_state_name(it->state), it->request, it->hash,
	      it->answer ? it->answer : "-", it->error ? it->error : "-",
	      it->attempts);
	return 0;
}

static int count_item(void *ctx, const char *kind, kiln_item_state state,
		      long n)
{
	(void)ctx;
	entry("count %s %s %ld\n", kind, kiln_item_state_name(state), n);
	return 0;
}

static const char *const kinds[] = { "solution", "tests", "joint" };

/* One run's life of a store, then a second run, then a reader. */
static void store_life(void *ctx)
{
	kiln_store *s = NULL;
	kiln_error err = { 0 };
	int64_t ids[6];
	kiln_store_slot slot;
	char *answer = NULL;
	int rc;

	(void)ctx;
	rc = kiln_store_open(&s, store_path, &err);
	if (nomem(rc, &err))
		return;
	entry("open %d %s\n", rc, rc ? err.msg : kiln_store_backend(s));
	if (rc)
		return;
	for (int i = 0; i < 6; i++) {
		char task[16], request[64], hash[16];

		snprintf(task, sizeof(task), "t%d", i / 2);
		snprintf(request, sizeof(request),
			 "{\"messages\": [\"%d\"], \"n\": 1}", i);
		snprintf(hash, sizeof(hash), "h%d", i % 5);
		rc = kiln_store_put(s, task, i % 2, kinds[i % 3], request,
				    hash, &slot, &err);
		if (nomem(rc, &err))
			goto out;
		entry("put %d: %d id %lld state %d added %d\n", i, rc,
		      (long long)slot.id, slot.state, slot.added);
		free(slot.answer);
		ids[i] = slot.id;
	}
	rc = kiln_store_begin(s, &err);
	if (nomem(rc, &err))
		goto out;
	for (int i = 0; i < 3 && rc == 0; i++) {
		rc = kiln_store_finish(s, ids[i], "{\"answer\": \"def f(): pass\"}",
				       12.5, i + 1, &err);
		if (nomem(rc, &err))
			goto out;
		entry("finish %d: %d\n", i, rc);
	}
	rc = kiln_store_fail(s, ids[3], "HTTP 500: overloaded", 3, &err);
	if (nomem(rc, &err))
		goto out;
	entry("fail: %d\n", rc);
	rc = kiln_store_commit(s, &err);
	if (nomem(rc, &err))
		goto out;
	entry("commit: %d\n", rc);
	rc = kiln_store_put(s, "t0", 0, "solution", "{\"messages\": [\"0\"], \"n\": 1}",
			    "h0", &slot, &err);
	if (nomem(rc, &err))
		goto out;
	entry("put again: %d state %d added %d answer %s\n", rc, slot.state,
	      slot.added, slot.answer ? slot.answer : "-");
	free(slot.answer);
	rc = kiln_store_cached(s, "h1", &answer, &err);
	if (nomem(rc, &err))
		goto out;
	entry("cached: %d %s\n", rc, answer ? answer : "-");
	free(answer);
	rc = kiln_store_retry(s, ids[3], &err);
	if (nomem(rc, &err))
		goto out;
	entry("retry: %d\n", rc);
	rc = kiln_store_list(s, -1, list_item, NULL, &err);
	if (nomem(rc, &err))
		goto out;
	rc = kiln_store_stats(s, count_item, NULL, &err);
	if (nomem(rc, &err))
		goto out;
	kiln_store_close(s);

	/* A second run finds it all. */
	rc = kiln_store_open(&s, store_path, &err);
	if (nomem(rc, &err))
		return;
	entry("reopen %d\n", rc);
	if (rc)
		return;
	rc = kiln_store_list(s, KILN_ITEM_DONE, list_item, NULL, &err);
	if (nomem(rc, &err))
		goto out;
	kiln_store_close(s);

	/* And a reader. */
	rc = kiln_store_open_with(&s, store_path, KILN_STORE_READONLY, &err);
	if (nomem(rc, &err))
		return;
	entry("read-only %d\n", rc);
	if (rc)
		return;
	rc = kiln_store_stats(s, count_item, NULL, &err);
	nomem(rc, &err);
out:
	kiln_store_close(s);
}

/* Whatever failed, the store opens again (no stale run lock, no damage)
 * and lists. */
static const char *store_after(void *ctx, int failed)
{
	kiln_store *s;
	kiln_error err;
	struct transcript *was = T;
	static struct transcript scratch;
	const char *why = NULL;

	(void)ctx;
	(void)failed;
	start(&scratch);
	if (kiln_store_open(&s, store_path, &err)) {
		fprintf(stderr, "  reopen: %s\n", err.msg);
		why = "the store does not open again after the failure";
	} else {
		if (kiln_store_list(s, -1, list_item, NULL, &err))
			why = "the store does not list after the failure";
		kiln_store_close(s);
	}
	T = was;
	return why;
}

/* The store is made afresh some 3,000 times: in memory (/dev/shm), where
 * SQLite's fsyncs cost nothing, if the machine has it. */
static char store_dir[64];

static int store_setup(void **state)
{
	(void)state;
	strcpy(store_dir, "/dev/shm/kiln-alloc-XXXXXX");
	if (!mkdtemp(store_dir)) {
		strcpy(store_dir, "/tmp/kiln-alloc-XXXXXX");
		if (!mkdtemp(store_dir))
			return -1;
	}
	snprintf(store_path, sizeof(store_path), "%s/store.db", store_dir);
	return 0;
}

static int store_teardown(void **state)
{
	(void)state;
	remove_store(NULL);
	return rmdir(store_dir);
}

static void store(void **state)
{
	struct op op = { "store", store_life, remove_store, store_after, NULL };

	(void)state;
	sites_begin();
	torture(&op);
	sites_end("store");
	assert_non_null(strstr(ref.buf, "read-only 0"));
	assert_non_null(strstr(ref.buf, "cached: 0 {\"answer\""));
}

int main(void)
{
	const struct CMUnitTest jsonl[] = {
		cmocka_unit_test(jsonl_plain),
		cmocka_unit_test(jsonl_gzip),
	};
	const struct CMUnitTest code[] = {
		cmocka_unit_test(extraction),
		cmocka_unit_test(split_too_many_tests_leaks_nothing),
	};
	const struct CMUnitTest st[] = {
		cmocka_unit_test(store),
	};
	const struct CMUnitTest dd[] = {
		cmocka_unit_test(dedup),
	};
	int failed = 0;

	lsan_each = getenv("KILN_ALLOC_LSAN_EACH") != NULL;
	/* Before kiln installs its watch over it (the first line parsed). */
	json_set_alloc_funcs(json_malloc_for_test, free);
	failed += cmocka_run_group_tests_name("alloc_fail_jsonl", jsonl,
					      jsonl_setup, tmpdir_teardown);
	failed += cmocka_run_group_tests_name("alloc_fail_extract", code,
					      extract_setup, extract_teardown);
	failed += cmocka_run_group_tests_name("alloc_fail_store", st,
					      store_setup, store_teardown);
	failed += cmocka_run_group_tests_name("alloc_fail_dedup", dd,
					      dedup_setup, tmpdir_teardown);
	return failed ? 1 : 0;
}
