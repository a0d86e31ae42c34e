/* The seccomp filter of every process in a box.
 *
 * Default allow, with a deny list: a candidate needs the ordinary system
 * calls of an interpreter or a compiler, and nothing that administers the
 * machine, inspects other processes, creates namespaces or reaches the
 * network. Denied calls fail with EPERM (ENOSYS for clone3, so that libc
 * falls back to clone, whose flags the filter can inspect), which gives the
 * candidate a clean error instead of a mysterious death. System calls of
 * another ABI (i386 via int 0x80, x32) kill the process.
 *
 * The program is built once with libseccomp in the parent and exported as
 * raw BPF, because the box's child must not call malloc (it is forked from
 * a multithreaded process) and so cannot run libseccomp itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sandbox_int.h"

static const char *const denied[] = {
	"ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
	"mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",
	"fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
	"setns", "unshare",
	"kexec_load", "kexec_file_load", "reboot",
	"init_module", "finit_module", "delete_module",
	"bpf", "perf_event_open", "userfaultfd", "fanotify_init",
	"keyctl", "add_key", "request_key",
	"swapon", "swapoff", "acct", "quotactl", "syslog",
	"open_by_handle_at", "name_to_handle_at",
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	"sethostname", "setdomainname", "iopl", "ioperm", "vhangup",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	"personality", "lookup_dcookie", "uselib", "pidfd_getfd",
	/* System V IPC and POSIX message queues outlive a run inside the
	 * box's IPC namespace: one run could leave them for the next. */
	"shmget", "shmat", "shmctl", "shmdt", "msgget", "msgsnd", "msgrcv",
	"msgctl", "semget", "semop", "semtimedop", "semctl", "mq_open",
	"mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify",
	"mq_getsetattr",
	/* Host-wide pools (docs/notes-cbox.md has the table). Linux AIO
	 * contexts come out of one pool for the whole machine (fs.aio-nr up
	 * to fs.aio-max-nr): a box that holds them all makes io_setup fail
	 * for every other process. inotify instances and watches are
	 * counted per user of the host: when kiln does not run as root the
	 * box shares that count with the user's own programs. */
	"io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents",
	"io_pgetevents", "inotify_init", "inotify_init1", "inotify_add_watch",
};

/* Calls that may act on another process: allowed only on the caller
 * itself (pid argument 0), so no run can renice, pin, or lower the limits
 * of the harness (PID 1) or of a later run. {name, index of the pid arg} */
static const struct { const char *name; unsigned arg; } self_only[] = {
	{ "setpriority", 1 }, { "ioprio_set", 1 }, { "prlimit64", 0 },
	{ "sched_setaffinity", 0 }, { "sched_setscheduler", 0 },
	{ "sched_setparam", 0 }, { "sched_setattr", 0 },
};

static const unsigned long ns_flags[] = {
	CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWIPC,
	CLONE_NEWUTS, CLONE_NEWCGROUP, CLONE_NEWTIME,
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct sock_fprog program;
static int build_rc;
static char build_msg[256];

static void build(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int pfd[2] = { -1, -1 };
	const char *what = "seccomp_init";
	int rc = -ENOMEM;

	if (!ctx)
		goto out;
	what = "deny rule";
	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
		int nr = seccomp_syscall_resolve_name(denied[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
		if (rc)
			goto out;
	}
	what = "clone rule";
	for (size_t i = 0; i < sizeof(ns_flags) / sizeof(ns_flags[0]); i++) {
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
				      SCMP_SYS(clone), 1,
				      SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i],
					      ns_flags[i]));
		if (rc)
			goto out;
	}
	what = "self-only rule";
	for (size_t i = 0; i < sizeof(self_only) / sizeof(self_only[0]); i++) {
		int nr = seccomp_syscall_resolve_name(self_only[i].name);
		struct scmp_arg_cmp cmp = {
			self_only[i].arg, SCMP_CMP_NE, 0, 0 };
		if (nr == __NR_SCMP_ERROR)
			continue;
		rc = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1,
					    &cmp);
		if (rc)
			goto out;
	}
	/* ... and for the two that take a "which": only the process itself
	 * (PRIO_USER with who 0 would renice every process of the uid). */
	rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
			      SCMP_SYS(setpriority), 1,
			      SCMP_A0(SCMP_CMP_NE, PRIO_PROCESS));
	if (rc)
		goto out;
	rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
			      SCMP_SYS(ioprio_set), 1,
			      SCMP_A0(SCMP_CMP_NE, 1 /* IOPRIO_WHO_PROCESS */));
	if (rc)
		goto out;
	rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (rc)
		goto out;
	what = "socket rule";
	rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 1,
			      SCMP_A0(SCMP_CMP_NE, AF_UNIX));
	if (rc)
		goto out;
	rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES),
			      SCMP_SYS(socketpair), 1,
			      SCMP_A0(SCMP_CMP_NE, AF_UNIX));
	if (rc)
		goto out;
	what = "prctl rule";
	/* execve makes a process dumpable again; kiln's C runtime and the
	 * harness clear the flag, and nothing in a box may set it back: where
	 * core_pattern is a pipe, a dumpable process's crash hands its memory
	 * to a helper on the host whatever RLIMIT_CORE says. (The kernel
	 * reads option and cmd arguments as 32-bit ints: compare those bits
	 * only, or garbage above them would slip past the rule.) */
	rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(prctl), 2,
			      SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffu,
				      PR_SET_DUMPABLE),
			      SCMP_A1(SCMP_CMP_NE, 0));
	if (rc)
		goto out;
	what = "rlimit rule";
	/* RLIMIT_CORE stays at 1 (box.c): 0 would let pipe dumps through. */
	rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(setrlimit),
			      1, SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffu,
					 RLIMIT_CORE));
	if (rc)
		goto out;
	rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
			      SCMP_SYS(prlimit64), 2,
			      SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu,
				      RLIMIT_CORE),
			      SCMP_A2(SCMP_CMP_NE, 0));
	if (rc)
		goto out;
	what = "fcntl rule";
	/* Pipe buffers are counted per user of the host (fs.pipe-user-pages-
	 * soft): a box may not grow its pipes past the default 16 pages. */
	rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(fcntl), 1,
			      SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu,
				      F_SETPIPE_SZ));
	if (rc)
		goto out;
	what = "hugetlb rule";
	/* Huge pages come from the host's preallocated pool (vm.nr_hugepages),
	 * outside any rlimit: no MAP_HUGETLB mapping, no MFD_HUGETLB memfd
	 * (SHM_HUGETLB needs shmget, denied above). */
	rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mmap), 1,
			      SCMP_A3(SCMP_CMP_MASKED_EQ, MAP_HUGETLB,
				      MAP_HUGETLB));
	if (rc)
		goto out;
	rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM),
			      SCMP_SYS(memfd_create), 1,
			      SCMP_A1(SCMP_CMP_MASKED_EQ, MFD_HUGETLB,
				      MFD_HUGETLB));
	if (rc)
		goto out;
	what = "ioctl rule";
	/* TIOCSTI pushes input into a terminal: no reason to allow it. */
	rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
			      SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCSTI));
	if (rc)
		goto out;

	/* Export the BPF through a pipe: the program is a few hundred bytes,
	 * far below a pipe's buffer. */
	what = "export";
	if (pipe(pfd) != 0) {
		rc = -errno;
		goto out;
	}
	rc = seccomp_export_bpf(ctx, pfd[1]);
	if (rc)
		goto out;
	close(pfd[1]);
	pfd[1] = -1;
	{
		size_t cap = 64 * 1024, len = 0;
		char *buf = malloc(cap);
		ssize_t n;
		if (!buf) {
			rc = -ENOMEM;
			goto out;
		}
		while ((n = read(pfd[0], buf + len, cap - len)) > 0)
			len += (size_t)n;
		if (n < 0 || len == 0 || len % sizeof(struct sock_filter)) {
			free(buf);
			rc = -EIO;
			goto out;
		}
		program.filter = (struct sock_filter *)buf;
		program.len = (unsigned short)(len / sizeof(struct sock_filter));
	}
	rc = 0;
out:
	if (rc)
		snprintf(build_msg, sizeof(build_msg),
			 "seccomp: %s failed: %s", what, strerror(-rc));
	build_rc = rc;
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	seccomp_release(ctx);
}

int kiln__seccomp_program(const struct sock_fprog **prog, kiln_error *err)
{
	pthread_once(&once, build);
	if (build_rc)
		return kiln_error_set(err, KILN_ESANDBOX, "%s", build_msg);
	*prog = &program;
	return 0;
}
