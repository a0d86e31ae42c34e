/* The one rule for outputs (kiln/output.h): regular files atomically,
 * everything else streamed to and never replaced, PATH complete or
 * untouched, PATH.partial for what a stopped run finished, no temporary
 * file left behind. Each test is named after what it catches. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kiln/jsonl.h"
#include "kiln/output.h"

#include "tmpdir.h"

static const char *at(const char *name)
{
	static char path[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(path[i], sizeof path[i], "%s/%s", dir, name);
	return path[i];
}

static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *slurp(const char *path)
{
	static char buf[1 << 18];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* No NAME.tmp.* anywhere in the scratch directory. */
static int temps_left(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strstr(e->d_name, ".tmp."))
			n++;
	closedir(d);
	return n;
}

static void write_str(kiln_output *o, const char *s)
{
	kiln_error err;

	assert_int_equal(kiln_output_write(o, s, strlen(s), &err), 0);
}

static void regular_file_replaced_atomically(void **state)
{
	const char *p = at("reg.txt");
	kiln_output *o;
	kiln_error err;
	struct stat st;

	(void)state;
	put_file(p, "old\n");
	chmod(p, 0640);
	assert_int_equal(kiln_output_open(&o, p, &err), 0);
	assert_int_equal(kiln_output_is_stream(o), 0);
	write_str(o, "new\n");
	/* not there until the commit */
	assert_string_equal(slurp(p), "old\n");
	assert_int_equal(temps_left(), 1);
	assert_int_equal(kiln_output_commit(o, &err), 0);
	assert_string_equal(slurp(p), "new\n");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640); /* its permissions kept */
	assert_int_equal(temps_left(), 0);

	/* a new name is created, 0644 */
	p = at("fresh.txt");
	assert_int_equal(kiln_output_open(&o, p, &err), 0);
	write_str(o, "x");
	assert_int_equal(kiln_output_commit(o, &err), 0);
	assert_string_equal(slurp(p), "x");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
}

/* A symlink to a regular file: the target is replaced, the link stays. */
static void symlink_to_file_is_followed(void **state)
{
	const char *real = at("real.txt"), *link = at("link.txt");
	kiln_output *o;
	kiln_error err;
	struct stat st;

	(void)state;
	put_file(real, "old\n");
	assert_int_equal(symlink("real.txt", link), 0);
	assert_int_equal(kiln_output_open(&o, link, &err), 0);
	write_str(o, "new\n");
	assert_int_equal(kiln_output_commit(o, &err), 0);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_string_equal(slurp(real), "new\n");
	assert_int_equal(temps_left(), 0);
}

/* A FIFO is written to, not replaced by a regular file; so is a link to
 * one. */
static void fifo_is_streamed_not_replaced(void **state)
{
	const char *fifo = at("fifo"), *link = at("fifo-link");
	const char *paths[2] = { fifo, link };
	struct stat st;

	(void)state;
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(symlink("fifo", link), 0);
	for (int i = 0; i < 2; i++) {
		kiln_output *o;
		kiln_error err;
		char buf[64] = "";
		int pfd[2];
		pid_t pid;

		assert_int_equal(pipe(pfd), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) { /* the reader */
			int fd = open(fifo, O_RDONLY);
			ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
			if (n > 0 && write(pfd[1], buf, (size_t)n) != n)
				_exit(2);
			_exit(n > 0 ? 0 : 1);
		}
		close(pfd[1]);
		assert_int_equal(kiln_output_open(&o, paths[i], &err), 0);
		assert_int_equal(kiln_output_is_stream(o), 1);
		write_str(o, "streamed\n");
		assert_int_equal(kiln_output_commit(o, &err), 0);
		assert_true(read(pfd[0], buf, sizeof buf - 1) > 0);
		close(pfd[0]);
		waitpid(pid, NULL, 0);
		assert_string_equal(buf, "streamed\n");
		assert_int_equal(lstat(fifo, &st), 0);
		assert_true(S_ISFIFO(st.st_mode));
	}
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(temps_left(), 0);
}

/* A character device stays one. As root the test makes its own null
 * device in the scratch directory (had the rule failed, only that node
 * would be lost), and checks the machine's /dev/null only after that
 * passed; otherwise /dev/null, which nobody else can replace anyway. */
static void char_device_is_streamed_not_replaced(void **state)
{
	const char *own = at("null");
	const char *paths[2] = { own, "/dev/null" };
	struct stat st;

	(void)state;
	if (mknod(own, S_IFCHR | 0666, makedev(1, 3)) != 0)
		paths[0] = "/dev/null";
	for (int i = 0; i < 2; i++) {
		kiln_output *o;
		kiln_error err;
		char *kept = (char *)1;

		assert_int_equal(kiln_output_open(&o, paths[i], &err), 0);
		assert_int_equal(kiln_output_is_stream(o), 1);
		write_str(o, "gone\n");
		assert_int_equal(kiln_output_commit(o, &err), 0);
		assert_int_equal(stat(paths[i], &st), 0);
		assert_true(S_ISCHR(st.st_mode));
		/* a stopped run on a stream keeps nothing aside */
		assert_int_equal(kiln_output_open(&o, paths[i], &err), 0);
		write_str(o, "x\n");
		kiln_output_mark(o);
		assert_int_equal(kiln_output_keep_partial(o, &kept, &err), 0);
		assert_null(kept);
		assert_int_equal(stat(paths[i], &st), 0);
		assert_true(S_ISCHR(st.st_mode));
	}
	assert_int_equal(temps_left(), 0);
}

/* /dev/stdout and /dev/fd/N name a descriptor of the process: written
 * through it (its offset, its O_APPEND), never reopened, never replaced.
 * Before, /dev/stdout was renamed over (as root, the machine's
 * /dev/stdout became a regular file); resolving the link instead would
 * replace a file the shell opened with >>. Checked with a descriptor of
 * the test's own on an O_APPEND file. */
static void descriptor_paths_are_streams(void **state)
{
	const char *p = at("appended.log");
	char name[64];
	kiln_output *o;
	kiln_error err;
	int fd;

	(void)state;
	put_file(p, "earlier\n");
	fd = open(p, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	snprintf(name, sizeof name, "/dev/fd/%d", fd);
	assert_int_equal(kiln_output_open(&o, name, &err), 0);
	assert_int_equal(kiln_output_is_stream(o), 1);
	write_str(o, "more\n");
	assert_int_equal(kiln_output_commit(o, &err), 0);
	snprintf(name, sizeof name, "/proc/self/fd/%d", fd);
	assert_int_equal(kiln_output_open(&o, name, &err), 0);
	write_str(o, "and more\n");
	assert_int_equal(kiln_output_commit(o, &err), 0);
	close(fd);
	assert_string_equal(slurp(p), "earlier\nmore\nand more\n");
	assert_int_equal(temps_left(), 0);
}

static void unusable_paths_are_named(void **state)
{
	kiln_output *o;
	kiln_error err;
	const char *dangling = at("dangling");

	(void)state;
	assert_int_equal(kiln_output_open(&o, dir, &err), KILN_EIO);
	assert_non_null(strstr(err.msg, "is a directory"));
	assert_int_equal(symlink("nowhere/x", dangling), 0);
	assert_int_equal(kiln_output_open(&o, dangling, &err), KILN_EIO);
	assert_non_null(strstr(err.msg, "a symbolic link to a missing file"));
	assert_int_equal(kiln_output_open(&o, "/nonexistent/dir/x", &err),
			 KILN_EIO);
	assert_non_null(strstr(err.msg, "/nonexistent/dir: no such "
			       "directory"));
	assert_int_equal(kiln_output_check("/nonexistent/dir/x", &err),
			 KILN_EIO);
	assert_non_null(strstr(err.msg, "/nonexistent/dir"));
	assert_int_equal(kiln_output_check(at("ok.bin"), &err), 0);
	assert_int_equal(kiln_output_check("/dev/null", &err), 0);
	assert_int_equal(kiln_output_check("-", &err), 0);
	assert_int_equal(temps_left(), 0);
}

/* An input named as the output, by its path or through a link, is
 * refused; streams never are. */
static void output_equal_to_input_is_refused(void **state)
{
	const char *in = at("in.jsonl"), *ln = at("in-link.jsonl");
	const char *hard = at("in-hard.jsonl");
	kiln_error err;

	(void)state;
	put_file(in, "{}\n");
	assert_int_equal(symlink("in.jsonl", ln), 0);
	assert_int_equal(link(in, hard), 0);
	assert_int_equal(kiln_output_check_distinct(in, in, "the input", &err),
			 KILN_EINVAL);
	assert_non_null(strstr(err.msg, "is the input"));
	assert_int_equal(kiln_output_check_distinct(ln, in, "the input", &err),
			 KILN_EINVAL);
	assert_int_equal(kiln_output_check_distinct(hard, in, "--tasks", &err),
			 KILN_EINVAL);
	assert_non_null(strstr(err.msg, "--tasks"));
	assert_int_equal(kiln_output_check_distinct(at("other"), in, "the input",
						    &err), 0);
	/* a file in an input directory is an input (tokenizer train and
	 * train read directories whole) */
	assert_int_equal(kiln_output_check_distinct(in, dir, "an input", &err),
			 KILN_EINVAL);
	assert_non_null(strstr(err.msg, "is a file in"));
	assert_int_equal(kiln_output_check_distinct(at("new.bin"), dir,
						    "an input", &err), 0);
	assert_int_equal(kiln_output_check_distinct("/dev/null", "/dev/null",
						    "the input", &err), 0);
	assert_int_equal(kiln_output_check_distinct("-", "-", "the input",
						    &err), 0);
	assert_int_equal(kiln_output_check_distinct(NULL, in, "the input",
						    &err), 0);
}

/* A stopped run keeps its whole records in PATH.partial; PATH is left as
 * it was; a later complete run removes the stale PATH.partial. */
static void stopped_run_keeps_partial_beside(void **state)
{
	const char *p = at("verdicts.jsonl"), *part = at("verdicts.jsonl.partial");
	kiln_output *o;
	kiln_error err;
	char *kept = NULL;

	(void)state;
	put_file(p, "complete earlier output\n");
	assert_int_equal(kiln_output_open(&o, p, &err), 0);
	write_str(o, "rec 1\n");
	write_str(o, "rec 2\n");
	kiln_output_mark(o);
	write_str(o, "rec 3 (half");
	assert_int_equal(kiln_output_keep_partial(o, &kept, &err), 0);
	assert_non_null(kept);
	assert_string_equal(kept, part);
	free(kept);
	assert_string_equal(slurp(p), "complete earlier output\n");
	assert_string_equal(slurp(part), "rec 1\nrec 2\n");
	assert_int_equal(temps_left(), 0);

	/* nothing marked: nothing kept, nothing changed */
	assert_int_equal(kiln_output_open(&o, p, &err), 0);
	write_str(o, "half");
	assert_int_equal(kiln_output_keep_partial(o, &kept, &err), 0);
	assert_null(kept);
	assert_string_equal(slurp(part), "rec 1\nrec 2\n");

	assert_int_equal(kiln_output_open(&o, p, &err), 0);
	write_str(o, "all\n");
	assert_int_equal(kiln_output_commit(o, &err), 0);
	assert_string_equal(slurp(p), "all\n");
	assert_null(slurp(part));
	assert_int_equal(temps_left(), 0);
}

/* A file size limit (RLIMIT_FSIZE) is a write error that names the path
 * and the cause (SIGXFSZ ignored, as the CLI does), the commit refuses to
 * install the cut file, and no temporary file is left. The JSONL writer
 * keeps only whole records in the partial file. */
static void file_too_large_is_an_error(void **state)
{
	const char *p = at("big.jsonl");
	struct rlimit old, lim;
	kiln_out *o;
	kiln_error err;
	json_t *rec = json_pack("{ss}", "s", "0123456789012345678901234567890"
				"123456789012345678901234567890");
	int rc = 0;
	long n = 0, kept_n = -1;
	char *kept = NULL, *text;

	(void)state;
	put_file(p, "old\n");
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 100000;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);

	assert_int_equal(kiln_out_open(&o, p, &err), 0);
	while (rc == 0 && n < 100000) {
		rc = kiln_out_write(o, rec, &err);
		n++;
	}
	assert_int_equal(rc, KILN_EIO);
	assert_non_null(strstr(err.msg, p));
	assert_non_null(strstr(err.msg, "File too large"));
	assert_int_equal(kiln_out_commit(o, &err), KILN_EIO);
	assert_string_equal(slurp(p), "old\n");
	assert_int_equal(temps_left(), 0);

	/* the same, stopped: the whole records before the limit are kept */
	assert_int_equal(kiln_out_open(&o, p, &err), 0);
	for (rc = 0; rc == 0;)
		rc = kiln_out_write(o, rec, &err);
	assert_int_equal(kiln_out_keep_partial(o, &kept, &kept_n, &err), 0);
	assert_non_null(kept);
	text = slurp(kept);
	assert_true(kept_n > 0);
	{
		char *one = json_dumps(rec, JSON_COMPACT);
		size_t len = strlen(one) + 1; /* and '\n' */

		free(one);
		assert_int_equal(strlen(text) % len, 0);
		assert_int_equal((long)(strlen(text) / len), kept_n);
	}
	unlink(kept);
	free(kept);

	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_string_equal(slurp(p), "old\n");
	assert_int_equal(temps_left(), 0);
	json_decref(rec);
}

/* What a signal handler calls before the process ends: the temporary
 * files of open outputs go. */
static void temps_unlinked_for_a_signal(void **state)
{
	kiln_output *a, *b;
	kiln_error err;

	(void)state;
	assert_int_equal(kiln_output_open(&a, at("one"), &err), 0);
	assert_int_equal(kiln_output_open(&b, at("two"), &err), 0);
	assert_int_equal(temps_left(), 2);
	kiln_output_unlink_temps();
	assert_int_equal(temps_left(), 0);
	kiln_output_abort(a);
	kiln_output_abort(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(regular_file_replaced_atomically),
		cmocka_unit_test(symlink_to_file_is_followed),
		cmocka_unit_test(fifo_is_streamed_not_replaced),
		cmocka_unit_test(char_device_is_streamed_not_replaced),
		cmocka_unit_test(descriptor_paths_are_streams),
		cmocka_unit_test(unusable_paths_are_named),
		cmocka_unit_test(output_equal_to_input_is_refused),
		cmocka_unit_test(stopped_run_keeps_partial_beside),
		cmocka_unit_test(file_too_large_is_an_error),
		cmocka_unit_test(temps_unlinked_for_a_signal),
	};
	return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
