/* The one progress line (kiln/progress.h). */
#include "kiln/progress.h"

#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kiln/utf8.h"

#define LINE_MAX_BYTES 512

void kiln_progress_init(kiln_progress *p, FILE *f, int quiet,
			double interval, double log_interval)
{
	memset(p, 0, sizeof(*p));
	p->f = f;
	p->tty = isatty(fileno(f));
	p->quiet = quiet;
	p->interval = interval;
	p->log_interval = log_interval;
}

int kiln_progress_due(kiln_progress *p, double now, int force)
{
	double every = p->tty ? p->interval : p->log_interval;

	if (p->quiet || (!p->tty && p->log_interval <= 0))
		return 0;
	if (!force && now - p->last < every)
		return 0;
	p->last = now;
	return 1;
}

/* The terminal's width in columns, or 0 if it will not say. */
static int columns(FILE *f)
{
	struct winsize ws;

	if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 0;
}

void kiln_progress_show(kiln_progress *p, const char *fmt, ...)
{
	char line[LINE_MAX_BYTES];
	va_list ap;
	size_t n;
	int w, len;

	if (p->quiet || (!p->tty && p->log_interval <= 0))
		return;
	va_start(ap, fmt);
	len = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	n = (size_t)len < sizeof(line) ? (size_t)len : sizeof(line) - 1;
	if (!p->tty) {
		fprintf(p->f, "%.*s\n", (int)n, line);
		return;
	}
	/* One column short of the width: a line that fills the last column
	 * wraps on some terminals, and "\r" then redraws the wrong line. */
	if ((w = columns(p->f)) > 1 && n > (size_t)w - 1)
		n = kiln_utf8_cut(line, n, (size_t)w - 1);
	fprintf(p->f, "\r%.*s\033[K", (int)n, line);
	fflush(p->f);
	p->shown = 1;
}

/* Ends the line on the terminal with `how`, if one is shown. */
static void end(kiln_progress *p, const char *how)
{
	if (!p->shown)
		return;
	fputs(how, p->f);
	fflush(p->f);
	p->shown = 0;
}

void kiln_progress_clear(kiln_progress *p)
{
	end(p, "\r\033[K");
}

void kiln_progress_keep(kiln_progress *p)
{
	end(p, "\n");
}
