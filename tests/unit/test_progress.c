/* The one progress line (kiln/progress.h): on a terminal (a pseudo-
 * terminal here) one line redrawn in place, cut to the width, erased or
 * kept at the end; elsewhere nothing, or a plain log line now and then. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "kiln/progress.h"

/* What was written to f, a tmpfile. */
static char *contents(FILE *f)
{
	static char buf[4096];
	size_t n;

	fflush(f);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	return buf;
}

static void rate_limit_and_force(void **state)
{
	FILE *f = tmpfile();
	kiln_progress p;

	(void)state;
	assert_non_null(f);
	kiln_progress_init(&p, f, 0, 0.1, 10.0);
	assert_false(p.tty);
	assert_false(kiln_progress_due(&p, 5.0, 0));   /* < 10 s */
	assert_true(kiln_progress_due(&p, 10.0, 0));
	assert_false(kiln_progress_due(&p, 12.0, 0));
	assert_true(kiln_progress_due(&p, 12.0, 1));   /* the last step */
	assert_false(kiln_progress_due(&p, 21.0, 0));  /* from 12 now */
	assert_true(kiln_progress_due(&p, 22.5, 0));
	fclose(f);
}

static void elsewhere_a_log_or_nothing(void **state)
{
	FILE *f = tmpfile();
	kiln_progress p;

	(void)state;
	kiln_progress_init(&p, f, 0, 0.1, 0);
	assert_false(kiln_progress_due(&p, 100.0, 1));
	kiln_progress_show(&p, "step %d", 1);
	kiln_progress_clear(&p);
	kiln_progress_keep(&p);
	assert_string_equal(contents(f), "");

	kiln_progress_init(&p, f, 0, 0.1, 10.0);
	kiln_progress_show(&p, "reading: %d files", 3);
	kiln_progress_show(&p, "merging: %d/%d", 1, 9);
	kiln_progress_clear(&p);       /* nothing to erase in a log */
	kiln_progress_keep(&p);
	assert_string_equal(contents(f), "reading: 3 files\nmerging: 1/9\n");

	rewind(f);
	kiln_progress_init(&p, f, 1, 0.1, 10.0);       /* quiet */
	assert_false(kiln_progress_due(&p, 100.0, 1));
	kiln_progress_show(&p, "x");
	fclose(f);
}

/* A pseudo-terminal `cols` wide, raw (no output processing), with the
 * side kiln writes to as *slave. Returns the master fd. */
static int pty(int cols, FILE **slave)
{
	struct winsize ws = { .ws_row = 24, .ws_col = (unsigned short)cols };
	struct termios t;
	int m = posix_openpt(O_RDWR | O_NOCTTY), s;

	assert_true(m >= 0);
	assert_int_equal(grantpt(m), 0);
	assert_int_equal(unlockpt(m), 0);
	s = open(ptsname(m), O_RDWR | O_NOCTTY);
	assert_true(s >= 0);
	assert_int_equal(tcgetattr(s, &t), 0);
	cfmakeraw(&t);
	assert_int_equal(tcsetattr(s, TCSANOW, &t), 0);
	assert_int_equal(ioctl(m, TIOCSWINSZ, &ws), 0);
	*slave = fdopen(s, "w");
	assert_non_null(*slave);
	return m;
}

/* Everything written to the terminal so far. The pty may hand over two
 * writes in two reads (CI saw "step 1/10" alone): read until nothing more
 * comes for 100 ms. */
static const char *drain(int m)
{
	static char buf[4096];
	size_t len = 0;
	struct pollfd pfd = { .fd = m, .events = POLLIN };

	fcntl(m, F_SETFL, O_NONBLOCK);
	while (len < sizeof(buf) - 1 && poll(&pfd, 1, 100) > 0) {
		ssize_t n = read(m, buf + len, sizeof(buf) - 1 - len);

		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;
}

static void terminal_line_in_place(void **state)
{
	FILE *s;
	int m = pty(20, &s);
	kiln_progress p;

	(void)state;
	kiln_progress_init(&p, s, 0, 0.2, 10.0);
	assert_true(p.tty);
	assert_false(kiln_progress_due(&p, 0.1, 0));
	assert_true(kiln_progress_due(&p, 0.2, 0));
	kiln_progress_show(&p, "step %d/%d", 1, 10);
	kiln_progress_show(&p, "step %d/%d", 2, 10);
	assert_string_equal(drain(m), "\rstep 1/10\033[K\rstep 2/10\033[K");
	/* cut to 19 columns, never inside a character */
	kiln_progress_show(&p, "0123456789abcdefgh\xc3\xa9xyz");
	assert_string_equal(drain(m), "\r0123456789abcdefgh\033[K");
	kiln_progress_clear(&p);
	assert_string_equal(drain(m), "\r\033[K");
	kiln_progress_clear(&p);        /* once only */
	kiln_progress_keep(&p);         /* nothing shown: no newline */
	assert_string_equal(drain(m), "");
	kiln_progress_show(&p, "done");
	kiln_progress_keep(&p);
	assert_string_equal(drain(m), "\rdone\033[K\n");
	fclose(s);
	close(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rate_limit_and_force),
		cmocka_unit_test(elsewhere_a_log_or_nothing),
		cmocka_unit_test(terminal_line_in_place),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
