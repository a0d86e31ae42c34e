/* The run lock for stores that live in a file: an flock(2) on PATH-lock,
 * exclusive for a run, shared for workers. The kernel drops it when its
 * process ends, however it ends, so a run killed with SIGKILL leaves
 * nothing to clean up. The run writes who it is into the file (and
 * empties it when done), so that the next one can be told who holds the
 * store: "run<TAB>who<TAB>pid<TAB>host<TAB>since (epoch seconds)". */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "store/store_int.h"

/* "kiln generate": this process's program (base name) and its first
 * argument, for the record of who holds the lock; "kiln" if /proc cannot
 * say. Tabs and line ends become spaces (the record is a line of tabs). */
static void holder_name(char *buf, size_t size)
{
	char args[256];
	size_t n = 0, words = 0;
	FILE *f = fopen("/proc/self/cmdline", "rb");

	snprintf(buf, size, "kiln");
	if (!f)
		return;
	n = fread(args, 1, sizeof(args) - 1, f);
	fclose(f);
	args[n] = '\0';
	/* "path/to/kiln\0generate\0...": the program's base name, then its
	 * first argument (the command) */
	for (size_t i = 0, at = 0; i < n && words < 2; i++) {
		if (args[i])
			continue;
		const char *w = args + at;
		const char *slash = strrchr(w, '/');
		if (words == 0)
			snprintf(buf, size, "%s", slash ? slash + 1 : w);
		else if (*w && *w != '-')
			snprintf(buf + strlen(buf), size - strlen(buf), " %s",
				 w);
		words++;
		at = i + 1;
	}
	for (char *p = buf; *p; p++)
		if (*p == '\t' || *p == '\n' || *p == '\r')
			*p = ' ';
}

/* "<who> (pid N on host H) since T" from the lock file, or "" */
static void read_holder(int fd, char *buf, size_t size)
{
	char raw[512], who[128], host[128];
	long pid;
	long long since;
	ssize_t n = pread(fd, raw, sizeof(raw) - 1, 0);

	buf[0] = '\0';
	if (n <= 0)
		return;
	raw[n] = '\0';
	if (sscanf(raw, "run\t%127[^\t]\t%ld\t%127[^\t]\t%lld", who, &pid,
		   host, &since) == 4) {
		time_t t = (time_t)since;
		struct tm tm;
		char when[64] = "";
		if (gmtime_r(&t, &tm))
			strftime(when, sizeof(when), " since %Y-%m-%d %H:%M:%S "
				 "UTC", &tm);
		snprintf(buf, size, "%s (pid %ld on host %s)%s", who, pid, host,
			 when);
	}
}

int kiln_lock_path(const char *path, int shared, const char *noun, int *fd,
		   kiln_error *err)
{
	char *lpath = NULL, holder[400];
	int rc = 0;

	*fd = -1;
	if (!(lpath = malloc(strlen(path) + sizeof("-lock"))))
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	strcpy(lpath, path);
	strcat(lpath, "-lock");
	*fd = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (*fd < 0) {
		rc = kiln_error_set(err, KILN_EIO, "%s: cannot open the %s's "
				    "lock file: %s", lpath, noun, strerror(errno));
		goto out;
	}
	if (flock(*fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK) {
			rc = kiln_error_set(err, KILN_EIO, "%s: cannot lock the "
					    "%s: %s", lpath, noun,
					    strerror(errno));
			goto out;
		}
		read_holder(*fd, holder, sizeof(holder));
		if (holder[0])
			rc = kiln_error_set(err, KILN_STORE_BUSY, "%s is in use "
					    "by %s; wait or use another %s",
					    path, holder, noun);
		else
			rc = kiln_error_set(err, KILN_STORE_BUSY, "%s is in use "
					    "by workers claiming its items (or "
					    "a run that is starting); wait or "
					    "use another %s", path, noun);
		goto out;
	}
	if (shared) {
		/* No run can hold the lock now: what the file says is left
		 * from one that was killed, and must not be named later. */
		if (ftruncate(*fd, 0) != 0) {
			/* a stale name in a message, at worst */
		}
	} else {
		char who[128], host[128] = "?", line[512];
		int n;

		holder_name(who, sizeof(who));
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "?");
		host[sizeof(host) - 1] = '\0';
		n = snprintf(line, sizeof(line), "run\t%s\t%ld\t%s\t%lld\n", who,
			     (long)getpid(), host, (long long)time(NULL));
		/* who holds it is a courtesy to the next one: a failure to
		 * say so is no reason to stop */
		if ((ftruncate(*fd, 0) != 0 ||
		     pwrite(*fd, line, (size_t)n, 0) != n) &&
		    ftruncate(*fd, 0) != 0) {
			/* nothing more to try: the lock holds either way, and
			 * the next one is told "in use" without a name */
		}
	}
out:
	if (rc && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	free(lpath);
	return rc;
}

void kiln_unlock_path(int fd, int exclusive)
{
	if (fd < 0)
		return;
	/* the next run must not read a holder that is gone (if this
	 * fails, the next one names a process that has ended) */
	if (exclusive && ftruncate(fd, 0) != 0) {
		/* nothing more to try */
	}
	close(fd);  /* the flock goes with it */
}

