/* kiln/progress.h - the one progress line of kiln's commands.
 *
 * On a terminal, one line redrawn in place ("\r", the text cut to the
 * terminal's width so that it never wraps, then erase-to-end-of-line), at
 * most once per `interval` seconds; it is erased, or kept with a newline,
 * when the work ends or before another message. Elsewhere (a file, a pipe)
 * nothing, or, if `log_interval` > 0, the text as a plain line at most
 * once per log_interval seconds, so that logs stay readable.
 *
 *	kiln_progress p;
 *	kiln_progress_init(&p, stderr, quiet, 0.1, 0);
 *	... in the callback:
 *	if (kiln_progress_due(&p, seconds, done == total))
 *		kiln_progress_show(&p, "%ld/%ld", done, total);
 *	... at the end:
 *	kiln_progress_keep(&p);   (or kiln_progress_clear)
 *
 * Times are the caller's clock, in seconds; the first line is due one
 * interval after time 0. Not thread-safe: one thread draws one line.
 */
#ifndef KILN_PROGRESS_H
#define KILN_PROGRESS_H

#include <stdio.h>

typedef struct kiln_progress {
	FILE *f;
	int tty;             /* f is a terminal */
	int quiet;           /* draw nothing */
	double interval;     /* seconds between redraws on a terminal */
	double log_interval; /* seconds between plain lines elsewhere; 0: none */
	double last;         /* the caller's time of the last line */
	int shown;           /* a line is on the terminal now */
} kiln_progress;

void kiln_progress_init(kiln_progress *p, FILE *f, int quiet,
			double interval, double log_interval);

/* 1 if a line is to be drawn at time `now`: not quiet, somewhere to draw
 * it, and an interval gone since the last one, or `force` (the last step
 * of the work, which the user should see). It then counts as drawn. */
int kiln_progress_due(kiln_progress *p, double now, int force);

/* Draws the line (on a terminal) or writes it as a plain line (when a log
 * interval is set); nothing when quiet. */
void kiln_progress_show(kiln_progress *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Erases the line from the terminal, if one is there: at the end, or
 * before printing anything else. */
void kiln_progress_clear(kiln_progress *p);

/* Ends the line with a newline, leaving it on the terminal as a summary,
 * if one is there. */
void kiln_progress_keep(kiln_progress *p);

#endif
