/* One rule for every output (kiln/output.h): files atomically, everything
 * else streamed, PATH complete or untouched, PATH.partial for what a
 * stopped run finished, no temporary file left behind. */
#include "kiln/output.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

struct kiln_output {
	int fd;
	int stream;      /* streamed to: never replaced */
	int own_fd;      /* close it at the end (not standard output) */
	char *path;      /* as given; NULL for standard output */
	char *target;    /* file: the path replaced (links resolved) */
	char *tmp;       /* file: the temporary file */
	int slot;        /* its place in the temporaries' table, or -1 */
	off_t written;   /* bytes written */
	off_t marked;    /* bytes of whole records */
	int failed;      /* errno of the first failed write, or 0 */
};

/* The temporary files of open outputs, for kiln_output_unlink_temps() in a
 * signal handler: fixed slots, each published with an atomic flag after
 * its name is in place. More than TEMPS open outputs at once are simply
 * not listed (nothing kiln does opens that many). */
#define TEMPS 16
static struct {
	atomic_int used;
	char path[PATH_MAX];
} temps[TEMPS];
static pthread_mutex_t temps_mu = PTHREAD_MUTEX_INITIALIZER;

static int temp_register(const char *path)
{
	int slot = -1;

	if (strlen(path) >= PATH_MAX)
		return -1;
	pthread_mutex_lock(&temps_mu);
	for (int i = 0; i < TEMPS; i++)
		if (!atomic_load(&temps[i].used)) {
			strcpy(temps[i].path, path);
			atomic_store(&temps[i].used, 1);
			slot = i;
			break;
		}
	pthread_mutex_unlock(&temps_mu);
	return slot;
}

static void temp_forget(int slot)
{
	if (slot < 0)
		return;
	pthread_mutex_lock(&temps_mu);
	atomic_store(&temps[slot].used, 0);
	pthread_mutex_unlock(&temps_mu);
}

void kiln_output_unlink_temps(void)
{
	for (int i = 0; i < TEMPS; i++)
		if (atomic_load(&temps[i].used))
			unlink(temps[i].path);
}

/* "out.jsonl: write failed: File too large (the file size limit, ulimit
 * -f)" */
static int io_error(kiln_error *err, const char *name, const char *what,
		    int e)
{
	return kiln_error_set(err, KILN_EIO, "%s: %s: %s%s", name, what,
			      strerror(e), e == EFBIG ? " (the file size "
			      "limit, ulimit -f)" : "");
}

/* The directory part of path ("." for a bare name), malloc'd. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *d;

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	d = malloc((size_t)(slash - path) + 1);
	if (d) {
		memcpy(d, path, (size_t)(slash - path));
		d[slash - path] = '\0';
	}
	return d;
}

/* Makes a rename in path's directory durable. */
static void sync_dir(const char *path)
{
	char *d = dir_of(path);
	int dfd = d ? open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;

	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	free(d);
}

/* The descriptor a path names, or -1: /dev/stdout, /dev/stderr,
 * /dev/fd/N, /proc/self/fd/N. Such a path is an open file of this
 * process, whatever it is (a pipe, a terminal, a file opened with >>): it
 * is written through that descriptor (its offset, its O_APPEND), never
 * replaced, never reopened. */
static int fd_named(const char *path)
{
	static const char *const pre[] = { "/dev/fd/", "/proc/self/fd/" };
	char *end;
	long n;

	if (!strcmp(path, "/dev/stdout"))
		return STDOUT_FILENO;
	if (!strcmp(path, "/dev/stderr"))
		return STDERR_FILENO;
	for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++) {
		size_t k = strlen(pre[i]);

		if (strncmp(path, pre[i], k) || !path[k])
			continue;
		errno = 0;
		n = strtol(path + k, &end, 10);
		if (!*end && !errno && n >= 0 && n <= 1 << 20)
			return (int)n;
	}
	return -1;
}

int kiln_output_resolve(const char *path, int *stream, char **target,
			kiln_error *err)
{
	struct stat ls, st;
	char *d;
	int e;

	*stream = 0;
	*target = NULL;
	if (!path || strcmp(path, "-") == 0) {
		*stream = 1;
		return 0;
	}
	if (!*path)
		return kiln_error_set(err, KILN_EINVAL, "an empty output path");
	if (fd_named(path) >= 0) {
		*stream = 1;
		return 0;
	}
	if (lstat(path, &ls) != 0) {
		if (errno != ENOENT)
			return io_error(err, path, "cannot write", errno);
		/* a new file: its directory must be there */
		d = dir_of(path);
		if (!d)
			return kiln_error_set(err, KILN_ENOMEM,
					      "out of memory");
		e = stat(d, &st) != 0 ? errno :
		    !S_ISDIR(st.st_mode) ? ENOTDIR : 0;
		if (e) {
			kiln_error_set(err, KILN_EIO, "%s: cannot create: %s: "
				       "%s", path, d, e == ENOENT ?
				       "no such directory" : strerror(e));
			free(d);
			return KILN_EIO;
		}
		free(d);
		*target = strdup(path);
		return *target ? 0 : kiln_error_set(err, KILN_ENOMEM,
						    "out of memory");
	}
	st = ls;
	if (S_ISLNK(ls.st_mode) && stat(path, &st) != 0)
		return kiln_error_set(err, KILN_EIO, "%s: a symbolic link to "
				      "%s: %s", path, errno == ENOENT ?
				      "a missing file" : "something unusable",
				      strerror(errno));
	if (S_ISDIR(st.st_mode))
		return kiln_error_set(err, KILN_EIO, "%s: is a directory",
				      path);
	if (!S_ISREG(st.st_mode)) {
		*stream = 1;
		return 0;
	}
	*target = S_ISLNK(ls.st_mode) ? realpath(path, NULL) : strdup(path);
	if (!*target)
		return S_ISLNK(ls.st_mode) ? io_error(err, path,
			"cannot follow the link", errno) :
			kiln_error_set(err, KILN_ENOMEM, "out of memory");
	return 0;
}

/* A temporary file beside target: PATH.tmp.XXXXXX. */
static int make_temp(const char *target, char **tmp, int *fd)
{
	size_t n = strlen(target) + sizeof ".tmp.XXXXXX";

	*tmp = malloc(n);
	if (!*tmp)
		return ENOMEM;
	snprintf(*tmp, n, "%s.tmp.XXXXXX", target);
	*fd = mkostemp(*tmp, O_CLOEXEC);
	if (*fd < 0) {
		int e = errno;
		free(*tmp);
		*tmp = NULL;
		return e;
	}
	return 0;
}

int kiln_output_check(const char *path, kiln_error *err)
{
	char *target = NULL, *tmp = NULL;
	int stream, fd, e, rc;

	rc = kiln_output_resolve(path, &stream, &target, err);
	if (rc || stream)
		return rc;
	e = make_temp(target, &tmp, &fd);
	if (e) {
		char *d = dir_of(target);
		rc = kiln_error_set(err, e == ENOMEM ? KILN_ENOMEM : KILN_EIO,
				    "%s: cannot write in %s: %s",
				    path, d ? d : "its directory",
				    strerror(e));
		free(d);
	} else {
		close(fd);
		unlink(tmp);
	}
	free(tmp);
	free(target);
	return rc;
}

/* Is the file at out (which exists) inside the directory in? */
static int inside(const char *out, const char *in)
{
	char *o = realpath(out, NULL), *d = realpath(in, NULL);
	size_t n = d ? strlen(d) : 0;
	int yes = o && d && strncmp(o, d, n) == 0 &&
		  (o[n] == '/' || (n == 1 && d[0] == '/'));

	free(o);
	free(d);
	return yes;
}

int kiln_output_check_distinct(const char *out, const char *in,
			       const char *what, kiln_error *err)
{
	struct stat so, si;

	if (!out || !in || !strcmp(out, "-") || !strcmp(in, "-"))
		return 0;
	if (stat(out, &so) == 0) {
		if (!S_ISREG(so.st_mode) || stat(in, &si) != 0)
			return 0; /* a stream is never replaced */
		if (S_ISDIR(si.st_mode) && inside(out, in))
			return kiln_error_set(err, KILN_EINVAL, "-o %s is a "
				"file in %s, %s: it would be replaced while it "
				"is read; write the output elsewhere", out,
				in, what);
		if (so.st_dev != si.st_dev || so.st_ino != si.st_ino)
			return 0;
	} else if (strcmp(out, in) != 0) {
		return 0;
	}
	return kiln_error_set(err, KILN_EINVAL, "-o %s is %s (%s): it would "
			      "be replaced while it is read; write the output "
			      "elsewhere", out, what, in);
}

int kiln_output_open(kiln_output **out, const char *path, kiln_error *err)
{
	kiln_output *o = calloc(1, sizeof(*o));
	int rc, e;

	*out = NULL;
	if (!o)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	o->fd = -1;
	o->slot = -1;
	if (!path || strcmp(path, "-") == 0) {
		o->fd = STDOUT_FILENO;
		o->stream = 1;
		*out = o;
		return 0;
	}
	o->path = strdup(path);
	if (!o->path) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		goto fail;
	}
	rc = kiln_output_resolve(path, &o->stream, &o->target, err);
	if (rc)
		goto fail;
	if (o->stream) {
		int fd = fd_named(path);

		/* as it is: no O_CREAT, no O_TRUNC; a descriptor of ours
		 * through a copy of it */
		if (fd >= 0)
			o->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		else
			do
				o->fd = open(path, O_WRONLY | O_CLOEXEC |
					     O_NOCTTY);
			while (o->fd < 0 && errno == EINTR);
		if (o->fd < 0) {
			rc = io_error(err, path, "cannot open", errno);
			goto fail;
		}
		o->own_fd = 1;
		*out = o;
		return 0;
	}
	e = make_temp(o->target, &o->tmp, &o->fd);
	if (e) {
		char *d = dir_of(o->target);
		rc = kiln_error_set(err, e == ENOMEM ? KILN_ENOMEM : KILN_EIO,
				    "%s: cannot create a file in "
				    "%s: %s", path, d ? d : "its directory",
				    strerror(e));
		free(d);
		goto fail;
	}
	o->own_fd = 1;
	o->slot = temp_register(o->tmp);
	{
		/* mkstemp's 0600 is too strict for data; a file replaced
		 * keeps its permissions */
		struct stat st;
		mode_t mode = stat(o->target, &st) == 0 ?
			      (st.st_mode & 07777) : 0644;
		fchmod(o->fd, mode);
	}
	*out = o;
	return 0;
fail:
	kiln_output_abort(o);
	return rc;
}

int kiln_output_write(kiln_output *o, const void *p, size_t n,
		      kiln_error *err)
{
	const char *c = p;

	if (o->failed)
		return io_error(err, kiln_output_name(o), "write failed",
				o->failed);
	while (n) {
		ssize_t w = write(o->fd, c, n > (1u << 30) ? (1u << 30) : n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			o->failed = w < 0 ? errno : EIO;
			return io_error(err, kiln_output_name(o),
					"write failed", o->failed);
		}
		c += w, n -= (size_t)w;
		o->written += w;
	}
	return 0;
}

void kiln_output_mark(kiln_output *o)
{
	if (!o->failed)
		o->marked = o->written;
}

const char *kiln_output_name(const kiln_output *o)
{
	return o->path ? o->path : "standard output";
}

int kiln_output_is_stream(const kiln_output *o)
{
	return o->stream;
}

/* Frees o; the temporary file, if still there, is removed. */
static void release(kiln_output *o)
{
	if (o->own_fd && o->fd >= 0)
		close(o->fd);
	if (o->tmp)
		unlink(o->tmp);
	temp_forget(o->slot);
	free(o->tmp);
	free(o->target);
	free(o->path);
	free(o);
}

/* fsync, close and rename the temporary file to dest. */
static int install(kiln_output *o, const char *dest, kiln_error *err)
{
	int fd = o->fd;

	o->fd = -1;
	if (fsync(fd) != 0) {
		int e = errno;
		close(fd);
		return io_error(err, o->path, "write failed", e);
	}
	if (close(fd) != 0)
		return io_error(err, o->path, "write failed", errno);
	if (rename(o->tmp, dest) != 0)
		return io_error(err, dest, "rename failed", errno);
	free(o->tmp);
	o->tmp = NULL; /* installed: nothing to remove */
	sync_dir(dest);
	return 0;
}

static char *partial_name(const char *target)
{
	size_t n = strlen(target) + sizeof ".partial";
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s.partial", target);
	return p;
}

int kiln_output_commit(kiln_output *o, kiln_error *err)
{
	int rc = 0;

	if (o->failed) {
		rc = io_error(err, kiln_output_name(o), "write failed",
			      o->failed);
	} else if (o->stream) {
		if (o->own_fd && close(o->fd) != 0)
			rc = io_error(err, kiln_output_name(o),
				      "write failed", errno);
		o->fd = -1;
	} else {
		rc = install(o, o->target, err);
		if (rc == 0) {
			/* a complete output supersedes the partial one */
			char *p = partial_name(o->target);
			if (p && unlink(p) == 0)
				sync_dir(p);
			free(p);
		}
	}
	release(o);
	return rc;
}

int kiln_output_keep_partial(kiln_output *o, char **kept, kiln_error *err)
{
	char *p = NULL;
	int rc = 0;

	*kept = NULL;
	if (o->stream || o->marked == 0) {
		release(o);
		return 0;
	}
	p = partial_name(o->target);
	if (!p) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
	} else if (o->written != o->marked &&
		   ftruncate(o->fd, o->marked) != 0) {
		rc = io_error(err, o->path, "cannot keep the partial output",
			      errno);
	} else {
		rc = install(o, p, err);
	}
	if (rc == 0)
		*kept = p;
	else
		free(p);
	release(o);
	return rc;
}

int kiln_output_save(const char *path, const void *p, size_t n,
		     kiln_error *err)
{
	kiln_output *o;
	int rc = kiln_output_open(&o, path, err);

	if (rc)
		return rc;
	rc = kiln_output_write(o, p, n, err);
	if (rc) {
		kiln_output_abort(o);
		return rc;
	}
	return kiln_output_commit(o, err);
}

int kiln_output_save_json(const char *path, const json_t *j, size_t flags,
			  kiln_error *err)
{
	char *text = j ? json_dumps(j, flags) : NULL;
	size_t n;
	int rc;

	if (!text)
		return kiln_error_set(err, KILN_ENOMEM, "%s: out of memory",
				      path);
	n = strlen(text);
	text[n] = '\n';   /* json_dumps's NUL becomes the final newline */
	rc = kiln_output_save(path, text, n + 1, err);
	free(text);
	return rc;
}

void kiln_output_abort(kiln_output *o)
{
	if (o)
		release(o);
}
