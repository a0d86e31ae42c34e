/* A box: the namespaces, file system view, limits and filter a candidate
 * runs under, with kiln's harness as its PID 1.
 *
 * Start-up, in order (each step checked; a failing step is reported through
 * a close-on-exec pipe as "step: errno" and the child exits):
 *
 *   parent: clone(NEWUSER|NEWPID|NEWNS|NEWNET|NEWIPC|NEWUTS)
 *   parent: write the child's uid/gid maps (inside uid 1000 -> a host uid
 *           of its own when kiln is root, so RLIMIT_NPROC counts only this
 *           box; the caller's own uid otherwise), then release the child
 *   child:  make every mount private; build a new root on a tmpfs from
 *           read-only binds of /usr (and /bin, /lib... or their symlinks),
 *           a few files of /etc, /dev/{null,zero,full,random,urandom}, a
 *           size-limited tmpfs at /tmp, and the harness; pivot_root into
 *           it, detach the old root, remount the root read-only
 *   child:  hostname, rlimits, setresgid/setresuid to 1000, parent-death
 *           signal, no_new_privs, seccomp, a scrubbed environment
 *   child:  execve python3 -I -B -c "import harness; harness.main()"
 *           (/kiln/harness.py; no capabilities after this: the uid is
 *           not 0 inside the namespace)
 *
 * No /proc is mounted: candidates have no way to look at or into other
 * processes, and the harness does not need one.
 *
 * The child of clone() is a copy of a possibly multithreaded process, so
 * until execve it only makes system calls: every path and string it needs
 * is prepared before clone().
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox_int.h"

#define INSIDE_ID 1000
#define RESULT_MAX (64u << 20)     /* cap on one result line */
#define START_TIMEOUT_MS 20000
#define SIGPENDING_MAX 256         /* queued signals, the whole box */

struct kiln_box {
	kiln_box_config cfg;
	pid_t pid;
	int job_fd;     /* socket: requests to the harness */
	int res_fd;     /* pipe: results from the harness */
	char *buf;      /* partial result line */
	size_t len, cap;
	kiln__cgroup cg;
	long oom_seen;  /* the cgroup's OOM-kill count at the last look */
	/* Requests sent and not yet answered, oldest first: kept so that a
	 * box rebuilt meanwhile can be sent them again. */
	struct inflight {
		char *text;
		size_t len, ntests;
		long long budget;
		int sent;   /* written to the box (see SEND_AHEAD_MAX) */
	} q[KILN_BOX_DEPTH];
	int nq;
};

static void dequeue(kiln_box *box);

void kiln_limits_default(kiln_limits *l)
{
	memset(l, 0, sizeof(*l));
	l->timeout_ms = 5000;
	l->cpu_ms = 0;                 /* derived: (tests + 1) x timeout */
	l->memory = 512LL << 20;
	l->output = 1LL << 20;
	l->nproc = 64;
	l->fsize = 64LL << 20;
	l->nofile = 256;
	l->tmpfs = 64LL << 20;
	l->compile_ms = 30000;
	l->compile_memory = 2048LL << 20;
}

/* ------------------------------------------------------------ the child */

/* Host paths bound read-only into the box when they exist. Directories
 * that are symlinks on the host (merged /usr) are recreated as symlinks. */
static const char *const root_dirs[] = { "/usr", "/bin", "/sbin", "/lib",
					 "/lib32", "/lib64", "/libx32" };
static const char *const etc_paths[] = {
	"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
	"/etc/alternatives", "/etc/localtime", "/etc/python3",
	"/etc/python3.11", "/etc/python3.12", "/etc/python3.13",
	"/etc/nsswitch.conf",
	/* the JVM's configuration (jvm.cfg, security properties): the
	 * JDK's lib/ links into it */
	"/etc/java-17-openjdk",
	/* Racket's installation paths (config.rktd: collections, compiled
	 * files under /usr/lib/racket/compiled) */
	"/etc/racket",
};
static const char *const dev_nodes[] = { "/dev/null", "/dev/zero",
					 "/dev/full", "/dev/random",
					 "/dev/urandom" };

#define NROOT (sizeof(root_dirs) / sizeof(root_dirs[0]))
#define NETC (sizeof(etc_paths) / sizeof(etc_paths[0]))
#define NDEV (sizeof(dev_nodes) / sizeof(dev_nodes[0]))

enum { KIND_NONE, KIND_DIR, KIND_FILE, KIND_LINK };

/* Everything the child needs, prepared before clone(). */
struct plan {
	const char *newroot;                 /* where the root tmpfs goes */
	int root_kind[NROOT];
	char root_link[NROOT][256];
	int etc_kind[NETC];
	char tmp_opts[64];
	const char *python;
	struct rlimit nofile, nproc, fsize, core, sigpending, zero;
	const struct sock_fprog *filter;
	int sync_fd, err_fd, job_fd, res_fd;
	const char *harness;
	unsigned long harness_len;
	char cpu_arg[16];                    /* the box's CPU, or -1 */
};

static void die(int fd, const char *step)
{
	char msg[256];
	int e = errno, n;

	n = snprintf(msg, sizeof(msg), "%s: %s", step, strerror(e));
	if (n > 0 && write(fd, msg, (size_t)n) < 0)
		_exit(126);
	_exit(127);
}

/* Writes all of p. On a socket, with MSG_NOSIGNAL: a dead harness is an
 * EPIPE to report, not a SIGPIPE that kills kiln. */
static int write_all(int fd, const char *p, size_t n, int sock)
{
	while (n) {
		ssize_t k = sock ? send(fd, p, n, MSG_NOSIGNAL) : write(fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int write_file(const char *path, const char *text, size_t len,
		      mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	int rc;

	if (fd < 0)
		return -1;
	rc = write_all(fd, text, len, 0);
	close(fd);
	return rc;
}

/* Binds src read-only at dst (relative to the new root, made beforehand). */
static int bind_ro(const char *src, const char *dst)
{
	if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) != 0)
		return -1;
	/* The remount must keep the flags the kernel locked on the source
	 * (nosuid, nodev, noexec as the host had them), or it fails. */
	if (mount(NULL, dst, NULL,
		  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
		  NULL) != 0 &&
	    mount(NULL, dst, NULL,
		  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV |
		  MS_NOEXEC, NULL) != 0)
		return -1;
	return 0;
}

static const char etc_passwd[] =
	"root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n"
	"kiln:x:1000:1000:kiln sandbox:/tmp:/bin/sh\n"
	"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
static const char etc_group[] =
	"root:x:0:\nkiln:x:1000:\nnogroup:x:65534:\n";
static const char etc_hosts[] = "127.0.0.1 localhost\n::1 localhost\n";

static int child_main(void *arg)
{
	const struct plan *p = arg;
	char c;
	static char *const envp[] = {
		"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "HOME=/tmp",
		"TMPDIR=/tmp", "PYTHONDONTWRITEBYTECODE=1", NULL
	};
	/* The harness is imported, not run as a script, so that its
	 * bytecode comes from /kiln/__pycache__ when the build made it for
	 * this interpreter (see CMakeLists.txt); else Python compiles it. */
	char *argv[] = { (char *)p->python, "-I", "-B", "-c",
			 "import sys; sys.path.insert(0, '/kiln'); "
			 "import harness; harness.main()",
			 (char *)p->cpu_arg, NULL };
	int fd = p->err_fd;

	/* Wait for the parent to write our uid/gid maps. */
	if (read(p->sync_fd, &c, 1) != 1)
		die(fd, "waiting for uid map");
	close(p->sync_fd);

	/* Become uid 1000 of the namespace first: files can only be created
	 * by a uid the namespace maps. The capabilities the namespace gave us
	 * stay (uid 0 of this namespace is not involved in the change) and
	 * are gone at execve, since the uid is not 0. Raw system calls: libc's
	 * wrappers would try to synchronise threads this copy does not have. */
	if (syscall(SYS_setresgid, INSIDE_ID, INSIDE_ID, INSIDE_ID) != 0)
		die(fd, "setresgid");
	if (syscall(SYS_setresuid, INSIDE_ID, INSIDE_ID, INSIDE_ID) != 0)
		die(fd, "setresuid");

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		die(fd, "making mounts private");
	if (mount("kiln-root", p->newroot, "tmpfs", MS_NOSUID | MS_NODEV,
		  "size=4m,mode=0755") != 0)
		die(fd, "mounting the root tmpfs");
	if (chdir(p->newroot) != 0)
		die(fd, "entering the new root");

	for (size_t i = 0; i < NROOT; i++) {
		const char *rel = root_dirs[i] + 1;
		if (p->root_kind[i] == KIND_LINK) {
			if (symlink(p->root_link[i], rel) != 0)
				die(fd, root_dirs[i]);
		} else if (p->root_kind[i] == KIND_DIR) {
			if (mkdir(rel, 0755) != 0 || bind_ro(root_dirs[i], rel))
				die(fd, root_dirs[i]);
		}
	}
	if (mkdir("etc", 0755) || mkdir("dev", 0755) || mkdir("tmp", 01777) ||
	    mkdir("kiln", 0755))
		die(fd, "creating directories");
	for (size_t i = 0; i < NETC; i++) {
		const char *rel = etc_paths[i] + 1;
		if (p->etc_kind[i] == KIND_NONE)
			continue;
		if (p->etc_kind[i] == KIND_DIR ? mkdir(rel, 0755) != 0
		    : write_file(rel, "", 0, 0644) != 0)
			die(fd, etc_paths[i]);
		if (bind_ro(etc_paths[i], rel))
			die(fd, etc_paths[i]);
	}
	if (write_file("etc/passwd", etc_passwd, sizeof(etc_passwd) - 1, 0644) ||
	    write_file("etc/group", etc_group, sizeof(etc_group) - 1, 0644) ||
	    write_file("etc/hosts", etc_hosts, sizeof(etc_hosts) - 1, 0644) ||
	    write_file("etc/hostname", "kiln\n", 5, 0644))
		die(fd, "writing /etc");
	for (size_t i = 0; i < NDEV; i++) {
		const char *rel = dev_nodes[i] + 1;
		if (write_file(rel, "", 0, 0666) != 0 ||
		    mount(dev_nodes[i], rel, NULL, MS_BIND, NULL) != 0)
			die(fd, dev_nodes[i]);
	}
	if (symlink("/proc/self/fd", "dev/fd") || symlink("/dev/null", "dev/tty"))
		die(fd, "/dev links");
	if (write_file("kiln/harness.py", p->harness, p->harness_len, 0644))
		die(fd, "writing the harness");
	if (kiln__harness_pyc_len > 0 &&
	    (mkdir("kiln/__pycache__", 0755) ||
	     write_file("kiln/__pycache__/harness." KILN_PYC_TAG ".pyc",
			kiln__harness_pyc, kiln__harness_pyc_len, 0644)))
		die(fd, "writing the harness's bytecode");
	if (mount("kiln-tmp", "tmp", "tmpfs", MS_NOSUID | MS_NODEV,
		  p->tmp_opts) != 0)
		die(fd, "mounting /tmp");

	/* Swap roots: stack the new root over the old and detach the old. */
	if (syscall(SYS_pivot_root, ".", ".") != 0)
		die(fd, "pivot_root");
	if (umount2(".", MNT_DETACH) != 0)
		die(fd, "detaching the old root");
	if (chdir("/") != 0)
		die(fd, "chdir /");
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY |
		  MS_NOSUID | MS_NODEV, NULL) != 0)
		die(fd, "making the root read-only");

	if (sethostname("kiln", 4) != 0)
		die(fd, "sethostname");
	if (setrlimit(RLIMIT_NOFILE, &p->nofile) ||
	    setrlimit(RLIMIT_NPROC, &p->nproc) ||
	    setrlimit(RLIMIT_FSIZE, &p->fsize) ||
	    setrlimit(RLIMIT_CORE, &p->core) ||
	    setrlimit(RLIMIT_SIGPENDING, &p->sigpending) ||
	    setrlimit(RLIMIT_MEMLOCK, &p->zero) ||
	    setrlimit(RLIMIT_RTPRIO, &p->zero) ||
	    setrlimit(RLIMIT_NICE, &p->zero))
		die(fd, "setrlimit");
	/* After the uid change, which clears it. If kiln dies, so does the
	 * box: PID 1 gone, the kernel kills everything in the namespace. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
		die(fd, "PR_SET_PDEATHSIG");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 &&
	    errno != EINVAL)
		die(fd, "clearing ambient capabilities");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		die(fd, "PR_SET_NO_NEW_PRIVS");

	if (dup2(p->job_fd, 0) < 0 || dup2(p->res_fd, 1) < 0)
		die(fd, "dup2");
	if (fd != 3) {
		if (dup3(fd, 3, O_CLOEXEC) < 0)
			die(fd, "dup3");
		fd = 3;
	}
	if (syscall(SYS_close_range, 4U, ~0U, 0U) != 0)
		die(fd, "close_range");
	signal(SIGPIPE, SIG_DFL);

	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, p->filter) != 0)
		die(fd, "seccomp");
	execve(p->python, argv, envp);
	die(fd, "execve python");
	return 0;
}

/* ----------------------------------------------------------- the parent */

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int write_map(pid_t pid, const char *file, const char *text)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	return write_file(path, text, strlen(text), 0);
}

static int path_kind(const char *path, char *link, size_t linklen)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return KIND_NONE;
	if (S_ISLNK(st.st_mode)) {
		ssize_t n = readlink(path, link, linklen - 1);
		if (n <= 0)
			return KIND_NONE;
		link[n] = '\0';
		return KIND_LINK;
	}
	if (S_ISDIR(st.st_mode))
		return KIND_DIR;
	return KIND_FILE;
}

/* Host uid for the box's user when kiln runs as root: a range of its own
 * per kiln process and box, so process counts never mix with real users. */
static unsigned outer_id(void)
{
	static atomic_uint seq;
	unsigned n = atomic_fetch_add(&seq, 1);
	return 0x60000000u + (((unsigned)getpid() & 0xffffu) << 8) + (n & 0xffu);
}

/* Reads one line from the harness into *line (NUL-terminated, in box->buf)
 * before deadline (monotonic ms). Returns its length, -ETIMEDOUT, -EPIPE on
 * end of file, -E2BIG past the cap, or another -errno. */
static long read_line(kiln_box *box, long long deadline, char **line)
{
	for (;;) {
		char *nl = box->len ? memchr(box->buf, '\n', box->len) : NULL;
		struct pollfd pfd = { box->res_fd, POLLIN, 0 };
		long long left;
		ssize_t n;
		int pr;

		if (nl) {
			*nl = '\0';
			*line = box->buf;
			return nl - box->buf;
		}
		if (box->len >= RESULT_MAX)
			return -E2BIG;
		left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		pr = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (pr < 0 && errno != EINTR)
			return -errno;
		if (pr <= 0)
			continue;
		if (box->cap - box->len < 65536) {
			size_t cap = box->cap ? box->cap * 2 : 131072;
			char *p = realloc(box->buf, cap);
			if (!p)
				return -ENOMEM;
			box->buf = p;
			box->cap = cap;
		}
		n = read(box->res_fd, box->buf + box->len, box->cap - box->len);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n == 0)
			return -EPIPE;
		if (n > 0)
			box->len += (size_t)n;
	}
}

/* Drops the line just returned by read_line. */
static void consume_line(kiln_box *box, long len)
{
	size_t used = (size_t)len + 1;
	memmove(box->buf, box->buf + used, box->len - used);
	box->len -= used;
}

static void box_stop(kiln_box *box)
{
	if (box->job_fd >= 0)
		close(box->job_fd);
	if (box->res_fd >= 0)
		close(box->res_fd);
	box->job_fd = box->res_fd = -1;
	if (box->pid > 0) {
		/* SIGKILL to PID 1 of the namespace takes the whole box. */
		kill(box->pid, SIGKILL);
		while (waitpid(box->pid, NULL, __WALL) < 0 && errno == EINTR)
			;
	}
	box->pid = 0;
	box->len = 0;
	kiln__cgroup_destroy(&box->cg);
}

static int box_start(kiln_box *box, kiln_error *err)
{
	struct plan p;
	int sv[2] = { -1, -1 }, res[2] = { -1, -1 }, syncp[2] = { -1, -1 };
	int errp[2] = { -1, -1 };
	size_t stack_size = 256 * 1024;
	char *stack = NULL;
	char map[128], msg[300];
	unsigned uid = (unsigned)getuid(), gid = (unsigned)getgid();
	pid_t pid = -1;
	int rc = KILN_ESANDBOX;
	ssize_t n;
	const kiln_limits *l = &box->cfg.limits;

	memset(&p, 0, sizeof(p));
	rc = kiln__seccomp_program(&p.filter, err);
	if (rc)
		return rc;
	rc = KILN_ESANDBOX;
	p.newroot = "/tmp";
	p.python = box->cfg.python ? box->cfg.python : "/usr/bin/python3";
	for (size_t i = 0; i < NROOT; i++)
		p.root_kind[i] = path_kind(root_dirs[i], p.root_link[i],
					   sizeof(p.root_link[i]));
	for (size_t i = 0; i < NETC; i++) {
		char tmp[8];
		p.etc_kind[i] = path_kind(etc_paths[i], tmp, sizeof(tmp));
		if (p.etc_kind[i] == KIND_LINK) {
			/* Bind what the link points at. */
			struct stat st;
			p.etc_kind[i] = stat(etc_paths[i], &st) != 0 ? KIND_NONE
				: S_ISDIR(st.st_mode) ? KIND_DIR : KIND_FILE;
		}
	}
	snprintf(p.tmp_opts, sizeof(p.tmp_opts), "size=%lld,mode=1777",
		 l->tmpfs);
	p.nofile = (struct rlimit){ (rlim_t)l->nofile, (rlim_t)l->nofile };
	p.nproc = (struct rlimit){ (rlim_t)l->nproc, (rlim_t)l->nproc };
	p.fsize = (struct rlimit){ (rlim_t)l->fsize, (rlim_t)l->fsize };
	/* 1, not 0: where core_pattern is a pipe the kernel ignores
	 * RLIMIT_CORE, except that 1 (its guard against recursive dumps)
	 * aborts the dump; for a file core_pattern 1 byte is below the
	 * smallest core. So no process of a box, dumpable or not (the
	 * compiler, a cold interpreter), hands its memory to a helper on the
	 * host. seccomp keeps the box from lowering it to 0. */
	p.core = (struct rlimit){ 1, 1 };
	/* Host-wide pools charged to the host uid (docs/notes-cbox.md): the
	 * signals queued in a box, POSIX timers included (each holds one),
	 * count against the uid kiln shares with its user when it does not
	 * run as root; locked memory cannot be reclaimed. */
	p.sigpending = (struct rlimit){ SIGPENDING_MAX, SIGPENDING_MAX };
	/* zero: RLIMIT_MEMLOCK, and for the CPU no real-time scheduling and
	 * no nice value below the one a box starts with, whatever kiln's own
	 * user may have (limits.conf often grants audio users rtprio): a
	 * SCHED_FIFO loop would starve the host. */
	p.zero = (struct rlimit){ 0, 0 };
	p.harness = kiln__harness_py;
	p.harness_len = kiln__harness_py_len;
	snprintf(p.cpu_arg, sizeof(p.cpu_arg), "%d", box->cfg.cpu - 1);

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 ||
	    pipe2(res, O_CLOEXEC) != 0 || pipe2(syncp, O_CLOEXEC) != 0 ||
	    pipe2(errp, O_CLOEXEC) != 0) {
		kiln_error_set(err, KILN_ESANDBOX, "sandbox: pipe: %s",
			       strerror(errno));
		goto out;
	}
	p.sync_fd = syncp[0];
	p.err_fd = errp[1];
	p.job_fd = sv[1];
	p.res_fd = res[1];
	stack = malloc(stack_size);
	if (!stack) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		goto out;
	}
	pid = clone(child_main, stack + stack_size,
		    CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET |
		    CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD, &p);
	if (pid < 0) {
		kiln_error_set(err, KILN_ESANDBOX,
			       "sandbox: cannot create namespaces: %s%s",
			       strerror(errno),
			       errno == EPERM || errno == ENOSPC
			       ? " (are unprivileged user namespaces "
				 "disabled? see kernel.unprivileged_userns_"
				 "clone and user.max_user_namespaces)" : "");
		goto out;
	}
	close(syncp[0]);
	syncp[0] = -1;
	close(errp[1]);
	errp[1] = -1;
	close(sv[1]);
	sv[1] = -1;
	close(res[1]);
	res[1] = -1;

	if (uid == 0) {
		uid = gid = outer_id();
	}
	if (write_map(pid, "setgroups", "deny") != 0 && errno != ENOENT) {
		kiln_error_set(err, KILN_ESANDBOX,
			       "sandbox: writing setgroups: %s", strerror(errno));
		goto out;
	}
	snprintf(map, sizeof(map), "%d %u 1\n", INSIDE_ID, uid);
	if (write_map(pid, "uid_map", map) != 0) {
		kiln_error_set(err, KILN_ESANDBOX, "sandbox: writing uid_map: %s",
			       strerror(errno));
		goto out;
	}
	snprintf(map, sizeof(map), "%d %u 1\n", INSIDE_ID, gid);
	if (write_map(pid, "gid_map", map) != 0) {
		kiln_error_set(err, KILN_ESANDBOX, "sandbox: writing gid_map: %s",
			       strerror(errno));
		goto out;
	}
	if (write(syncp[1], "x", 1) != 1) {
		kiln_error_set(err, KILN_ESANDBOX, "sandbox: releasing child: %s",
			       strerror(errno));
		goto out;
	}
	close(syncp[1]);
	syncp[1] = -1;
	{
		/* Into the box's cgroup. Best effort: without one, rlimits
		 * still bound every process. The memory cap covers the
		 * harness, the run's processes and what they write to the
		 * tmpfs. This runs while the child builds its root: moving
		 * a process between cgroups waits for an RCU grace period
		 * (10-20 ms here), and nothing but kiln's own set-up code
		 * runs in the box until box_start returns, after the move. */
		char name[64];
		long long mem = l->memory > 0
			? l->memory + l->tmpfs + (256LL << 20) : 0;
		snprintf(name, sizeof(name), "box-%d-%u", (int)getpid(),
			 outer_id() & 0xffffu);
		kiln__cgroup_create(&box->cg, name, mem, l->nproc, pid);
		box->oom_seen = kiln__cgroup_oom_kills(&box->cg);
	}

	/* The error pipe closes on a successful execve. */
	n = read(errp[0], msg, sizeof(msg) - 1);
	if (n > 0) {
		msg[n] = '\0';
		kiln_error_set(err, KILN_ESANDBOX, "sandbox: set-up failed at %s",
			       msg);
		goto out;
	}
	box->pid = pid;
	box->job_fd = sv[0];
	box->res_fd = res[0];
	sv[0] = res[0] = -1;
	pid = -1;
	box->len = 0;
	{
		char *line;
		long len = read_line(box, now_ms() + START_TIMEOUT_MS, &line);
		if (len < 0 || !strstr(line, "\"ready\"")) {
			kiln_error_set(err, KILN_ESANDBOX,
				       "sandbox: the harness did not start (%s)",
				       len < 0 ? strerror((int)-len) : line);
			box_stop(box);
			goto out;
		}
		consume_line(box, len);
	}
	rc = 0;
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		kiln__cgroup_destroy(&box->cg);
	}
	for (int i = 0; i < 2; i++) {
		if (sv[i] >= 0) close(sv[i]);
		if (res[i] >= 0) close(res[i]);
		if (syncp[i] >= 0) close(syncp[i]);
		if (errp[i] >= 0) close(errp[i]);
	}
	free(stack);
	return rc;
}

int kiln_box_open(kiln_box **out, const kiln_box_config *cfg, kiln_error *err)
{
	kiln_box *box = calloc(1, sizeof(*box));
	int rc;

	*out = NULL;
	if (!box)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	box->cfg = *cfg;
	box->job_fd = box->res_fd = -1;
	rc = box_start(box, err);
	if (rc) {
		kiln_box_close(box);
		return rc;
	}
	*out = box;
	return 0;
}

void kiln_box_close(kiln_box *box)
{
	if (!box)
		return;
	while (box->nq)
		dequeue(box);
	box_stop(box);
	free(box->buf);
	free(box);
}

long kiln_box_pid(const kiln_box *box) { return box ? box->pid : 0; }

const char *kiln_box_cgroup(const kiln_box *box)
{
	if (!box || !box->cg.active)
		return "none";
	return box->cg.v2 ? "v2" : "v1";
}

/* Whether some test died of a SIGKILL that kiln did not send itself
 * (kiln's own kills are reported as timeout or output_limit). */
static int killed_by_sigkill(const json_t *res)
{
	const json_t *t;
	size_t i;

	json_array_foreach(json_object_get(res, "tests"), i, t) {
		const char *d = json_string_value(json_object_get(t, "detail"));
		if (d && strcmp(d, "killed by SIGKILL") == 0)
			return 1;
	}
	return 0;
}

/* The cgroup's OOM killer struck during the run: a process killed by
 * SIGKILL that kiln did not kill itself ran out of memory. */
static void charge_oom_kills(json_t *res)
{
	json_t *t, *first = NULL;
	const char *st;
	size_t i;

	json_array_foreach(json_object_get(res, "tests"), i, t) {
		const char *d = json_string_value(json_object_get(t, "detail"));
		if (d && strcmp(d, "killed by SIGKILL") == 0) {
			json_object_set_new(t, "status", json_string("memory"));
			json_object_set_new(t, "detail", json_string(
				"killed by the out-of-memory killer "
				"(box memory limit)"));
		}
		st = json_string_value(json_object_get(t, "status"));
		if (!first && (!st || strcmp(st, "pass") != 0))
			first = t;
	}
	if (first)
		json_object_set(res, "status", json_object_get(first,
							       "status"));
}

/* The judge's per-test details reach kiln beside the harness's results
 * (the harness passes them on unread: see harness.py), as "details":
 * [{"i": I, "detail": TEXT}, ..., null]. Each goes into tests[I], once. */
static void merge_details(json_t *res)
{
	json_t *tests = json_object_get(res, "tests");
	json_t *d;
	size_t k;

	json_array_foreach(json_object_get(res, "details"), k, d) {
		json_t *i = json_object_get(d, "i");
		json_t *text = json_object_get(d, "detail");
		json_t *t;

		if (!json_is_integer(i) || !json_is_string(text) ||
		    json_integer_value(i) < 0)
			continue;
		t = json_array_get(tests, (size_t)json_integer_value(i));
		if (t && json_string_length(json_object_get(t, "detail")) == 0)
			json_object_set(t, "detail", text);
	}
	json_object_del(res, "details");
}

/* The verdict of a run the harness could not finish: sandbox_error, or
 * memory (what = "memory") when the box as a whole ran out of it. Every
 * test gets that status, so counts stay true. */
static json_t *sandbox_error(const char *what, size_t ntests)
{
	int mem = strcmp(what, "memory") == 0;
	const char *st = mem ? "memory" : "sandbox_error";
	const char *msg = mem ? "the box ran out of memory as a whole (cgroup "
				"limit); the harness was killed" : what;
	json_t *tests = json_array();

	for (size_t i = 0; tests && i < ntests; i++)
		json_array_append_new(tests, json_pack("{ss sf sn ss}",
			"status", st, "wall_ms", 0.0, "cpu_ms", "detail", msg));
	return json_pack("{ss si sI so* sf sf si ss}", "status", st,
			 "tests_passed", 0, "tests_total", (json_int_t)ntests,
			 "tests", tests, "cpu_ms", 0.0, "wall_ms", 0.0,
			 "max_rss_kb", 0, "stderr", msg);
}

/* Renders a job into its request: "<len_a> <len_b>\n", part A (limits,
 * mode, solution: what the harness's PID 1 reads) and part B (the tests,
 * set-up and expected values: spliced by PID 1 into a memfd that only the
 * judge process reads, so that no candidate, forked from PID 1, ever has
 * them in its memory). Part B is empty for "exec" languages. */
static int render(kiln_box *box, const kiln_job *job, struct inflight *q,
		  kiln_error *err)
{
	static const char *const part_b[] = { "tests", "setup", "expect",
					       "atol", "entry" };
	const kiln_limits *l = &box->cfg.limits;
	long timeout = job->timeout_ms > 0 ? job->timeout_ms : l->timeout_ms;
	json_t *req = NULL, *b = NULL;
	char *ta = NULL, *tb = NULL, *t2;
	char head[64];
	size_t na, nb, nh, n;
	int rc;

	rc = kiln__lang_request(job, l, box->cfg.cold, &req, err);
	if (rc)
		return rc;
	b = json_object();
	if (!b)
		goto oom;
	if (strcmp(json_string_value(json_object_get(req, "mode")),
		   "inproc") == 0) {
		for (size_t i = 0; i < sizeof(part_b) / sizeof(part_b[0]); i++) {
			json_t *v = json_object_get(req, part_b[i]);
			if (v && json_object_set(b, part_b[i], v) != 0)
				goto oom;
			json_object_del(req, part_b[i]);
		}
		if (json_object_set_new(req, "ntests", json_integer(
				(json_int_t)json_array_size(
					json_object_get(b, "tests")))) != 0 ||
		    json_object_set_new(req, "cpu", json_integer(
				box->cfg.cpu - 1)) != 0 ||
		    (job->no_batch &&
		     json_object_set_new(req, "batch", json_false()) != 0))
			goto oom;
		tb = json_dumps(b, JSON_COMPACT);
	} else {
		tb = strdup("");
	}
	ta = json_dumps(req, JSON_COMPACT);
	if (!ta || !tb)
		goto oom;
	na = strlen(ta);
	nb = strlen(tb);
	nh = (size_t)snprintf(head, sizeof(head), "%zu %zu\n", na, nb);
	n = nh + na + nb;
	t2 = malloc(n + 1);
	if (!t2)
		goto oom;
	memcpy(t2, head, nh);
	memcpy(t2 + nh, ta, na);
	memcpy(t2 + nh + na, tb, nb + 1);
	free(ta);
	free(tb);
	json_decref(req);
	json_decref(b);
	q->text = t2;
	q->len = n;
	q->ntests = job->program ? 1 : job->ntests;
	/* The harness enforces every limit itself; this backstop only
	 * catches a harness that has stopped answering. */
	q->budget = (long long)(job->ntests + 2) * (timeout + 2000) + 10000 +
		    l->compile_ms;
	return 0;
oom:
	free(ta);
	free(tb);
	json_decref(req);
	json_decref(b);
	return kiln_error_set(err, KILN_ENOMEM, "out of memory");
}

/* (Re)starts a dead box and sends it every queued request. Returns 0, or
 * -1 with what filled in. */
static int revive(kiln_box *box, char *what, size_t wlen)
{
	kiln_error e2;

	if (box->pid > 0)
		return 0;
	if (box_start(box, &e2) != 0) {
		snprintf(what, wlen, "%s", e2.msg);
		return -1;
	}
	for (int k = 0; k < box->nq; k++) {
		if (write_all(box->job_fd, box->q[k].text, box->q[k].len, 1)) {
			snprintf(what, wlen, "sandbox: sending the job: %s",
				 strerror(errno));
			box_stop(box);
			return -1;
		}
		box->q[k].sent = 1;
	}
	return 0;
}

/* The largest request sent ahead while an earlier job's reply is still
 * to be read: it must fit the socket's buffer. A larger one written then
 * could block on a box that is itself blocked writing that reply, which
 * nobody reads until the write returns (a deadlock: HumanEval+ records of
 * a thousand inputs); it is sent when its turn to be collected comes, and
 * nothing is sent ahead of a request still held back (the box answers in
 * the order it reads). */
#define SEND_AHEAD_MAX (32u << 10)

int kiln_box_submit(kiln_box *box, const kiln_job *job, kiln_error *err)
{
	struct inflight *q;
	int rc;

	if (box->nq >= KILN_BOX_DEPTH)
		return kiln_error_set(err, KILN_EINVAL,
				      "sandbox: %d jobs in flight already",
				      box->nq);
	q = &box->q[box->nq];
	if ((rc = render(box, job, q, err)))
		return rc;
	box->nq++;
	q->sent = 0;
	/* A box that is down is started (and this job sent) when its reply
	 * is collected; a failed send shows up there too. */
	if (box->pid > 0 && (box->nq == 1 || (q->len <= SEND_AHEAD_MAX &&
					      box->q[box->nq - 2].sent))) {
		if (write_all(box->job_fd, q->text, q->len, 1) != 0)
			box_stop(box);
		else
			q->sent = 1;
	}
	return 0;
}

/* Drops the oldest queued request. */
static void dequeue(kiln_box *box)
{
	free(box->q[0].text);
	for (int k = 1; k < box->nq; k++)
		box->q[k - 1] = box->q[k];
	box->nq--;
}

int kiln_box_collect(kiln_box *box, json_t **result, kiln_error *err)
{
	json_t *res = NULL;
	char *line, what[600];
	size_t ntests;
	long len;

	*result = NULL;
	if (box->nq == 0)
		return kiln_error_set(err, KILN_EINVAL,
				      "sandbox: no job in flight");
	ntests = box->q[0].ntests;
	if (revive(box, what, sizeof(what)))
		goto broken;
	if (!box->q[0].sent) {
		/* held back by submit: nothing is in flight before it now */
		if (write_all(box->job_fd, box->q[0].text, box->q[0].len, 1)) {
			snprintf(what, sizeof(what), "sandbox: sending the "
				 "job: %s", strerror(errno));
			goto broken;
		}
		box->q[0].sent = 1;
	}
	len = read_line(box, now_ms() + box->q[0].budget, &line);
	if (len < 0) {
		snprintf(what, sizeof(what), "sandbox: the harness %s",
			 len == -ETIMEDOUT ? "stopped answering"
			 : len == -EPIPE ? "died" : strerror((int)-len));
		goto broken;
	}
	res = json_loadb(line, (size_t)len, JSON_ALLOW_NUL, NULL);
	consume_line(box, len);
	if (!res || !json_is_object(res) ||
	    !json_is_string(json_object_get(res, "status")) ||
	    !json_is_array(json_object_get(res, "tests"))) {
		/* Unreadable, or the harness's own failure report. */
		const char *d = json_string_value(json_object_get(res,
								  "detail"));
		snprintf(what, sizeof(what), "sandbox: %s",
			 d ? d : "unreadable harness reply");
		json_decref(res);
		goto broken;
	}
	merge_details(res);
	/* The OOM counter is read only when a test died of SIGKILL (kiln's
	 * own kills are reported otherwise): a file read saved per run. */
	if (box->oom_seen >= 0 && killed_by_sigkill(res)) {
		long now = kiln__cgroup_oom_kills(&box->cg);
		if (now > box->oom_seen)
			charge_oom_kills(res);
		box->oom_seen = now;
	}
	if (json_is_true(json_object_get(res, "recycle"))) {
		/* Something survived clean-up: the next run starts afresh
		 * (a job already sent is sent again to the new box). */
		box_stop(box);
		json_object_del(res, "recycle");
	}
	dequeue(box);
	*result = res;
	return 0;
broken:
	/* A box whose harness the OOM killer took ran out of memory as a
	 * whole: the candidate's doing (memory it holds outside any one
	 * process's limit, e.g. in memfds or the tmpfs), not kiln's. */
	if (box->oom_seen >= 0 && box->cg.active &&
	    kiln__cgroup_oom_kills(&box->cg) > box->oom_seen)
		snprintf(what, sizeof(what), "memory");
	box_stop(box);
	dequeue(box);
	*result = sandbox_error(what, ntests);
	return *result ? 0 : kiln_error_set(err, KILN_ENOMEM, "out of memory");
}

int kiln_box_run(kiln_box *box, const kiln_job *job, json_t **result,
		 kiln_error *err)
{
	int rc;

	*result = NULL;
	if (box->nq)
		return kiln_error_set(err, KILN_EINVAL, "sandbox: "
				      "kiln_box_run with jobs in flight");
	rc = kiln_box_submit(box, job, err);
	return rc ? rc : kiln_box_collect(box, result, err);
}

int kiln_sandbox_check(const kiln_box_config *cfg, kiln_error *err)
{
	const char *py = cfg->python ? cfg->python : "/usr/bin/python3";
	if (access(py, X_OK) != 0)
		return kiln_error_set(err, KILN_ESANDBOX,
				      "sandbox: %s: %s (install python3)", py,
				      strerror(errno));
	return 0;
}
