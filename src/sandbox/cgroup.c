/* cgroup limits for a whole box, where the host offers them.
 *
 * rlimits bound each process; a cgroup bounds the box as a whole: the sum
 * of its processes' memory (and of what they write to its tmpfs), and the
 * number of its processes. kiln creates one cgroup per box under a "kiln"
 * parent, in the unified hierarchy (cgroup v2) when the host has one, else
 * in the v1 memory and pids hierarchies, and moves the box's PID 1 into it
 * before that process runs anything. Without permission (an unprivileged
 * user without a delegated subtree) boxes run with rlimits only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox_int.h"

#define ROOT "/sys/fs/cgroup"

static int put(const char *dir, const char *file, const char *text)
{
	char path[512];
	int fd, rc = 0;
	size_t n = strlen(text);

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, text, n) != (ssize_t)n)
		rc = -errno;
	close(fd);
	return rc;
}

static int make_dir(const char *path)
{
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int setup_v2(kiln__cgroup *cg, const char *name, long long mem,
		    int pids, const char *pid)
{
	char num[32];

	/* Controllers must be enabled on the way down; both writes are
	 * no-ops when a previous box did them. */
	if (put(ROOT, "cgroup.subtree_control", "+memory +pids") ||
	    make_dir(ROOT "/kiln") ||
	    put(ROOT "/kiln", "cgroup.subtree_control", "+memory +pids"))
		return -1;
	snprintf(cg->mem, sizeof(cg->mem), ROOT "/kiln/%s", name);
	if (make_dir(cg->mem))
		return -1;
	cg->v2 = 1;
	snprintf(num, sizeof(num), "%d", pids);
	if (put(cg->mem, "pids.max", num))
		return -1;
	if (mem > 0) {
		snprintf(num, sizeof(num), "%lld", mem);
		if (put(cg->mem, "memory.max", num))
			return -1;
		put(cg->mem, "memory.swap.max", "0");
	}
	return put(cg->mem, "cgroup.procs", pid) ? -1 : 0;
}

static int setup_v1(kiln__cgroup *cg, const char *name, long long mem,
		    int pids, const char *pid)
{
	char num[32];

	if (make_dir(ROOT "/memory/kiln") || make_dir(ROOT "/pids/kiln"))
		return -1;
	snprintf(cg->mem, sizeof(cg->mem), ROOT "/memory/kiln/%s", name);
	snprintf(cg->pids, sizeof(cg->pids), ROOT "/pids/kiln/%s", name);
	if (make_dir(cg->mem) || make_dir(cg->pids))
		return -1;
	snprintf(num, sizeof(num), "%d", pids);
	if (put(cg->pids, "pids.max", num))
		return -1;
	if (mem > 0) {
		snprintf(num, sizeof(num), "%lld", mem);
		if (put(cg->mem, "memory.limit_in_bytes", num))
			return -1;
		/* No swap either, where swap accounting is on. */
		put(cg->mem, "memory.memsw.limit_in_bytes", num);
	}
	if (put(cg->mem, "cgroup.procs", pid) ||
	    put(cg->pids, "cgroup.procs", pid))
		return -1;
	return 0;
}

int kiln__cgroup_create(kiln__cgroup *cg, const char *name, long long mem,
			int pids, long pid)
{
	char p[32];
	int rc;

	memset(cg, 0, sizeof(*cg));
	snprintf(p, sizeof(p), "%ld", pid);
	if (access(ROOT "/cgroup.controllers", F_OK) == 0)
		rc = setup_v2(cg, name, mem, pids, p);
	else if (access(ROOT "/memory", W_OK) == 0 &&
		 access(ROOT "/pids", W_OK) == 0)
		rc = setup_v1(cg, name, mem, pids, p);
	else
		rc = -1;
	if (rc) {
		kiln__cgroup_destroy(cg);
		return -1;
	}
	cg->active = 1;
	return 0;
}

long kiln__cgroup_oom_kills(const kiln__cgroup *cg)
{
	char path[600], line[128];
	long n = -1;
	FILE *f;

	if (!cg->active)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", cg->mem,
		 cg->v2 ? "memory.events" : "memory.oom_control");
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "oom_kill %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

void kiln__cgroup_destroy(kiln__cgroup *cg)
{
	/* The box's processes are gone by now (PID 1 was reaped, and the
	 * kernel reaps a PID namespace before its init). */
	if (cg->mem[0])
		rmdir(cg->mem);
	if (cg->pids[0])
		rmdir(cg->pids);
	memset(cg, 0, sizeof(*cg));
}
