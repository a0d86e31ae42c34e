/* Internals shared by the sandbox's files; not part of the public API. */
#ifndef KILN_SANDBOX_INT_H
#define KILN_SANDBOX_INT_H

#include <linux/filter.h>

#include "kiln/sandbox.h"

/* Turns a job into the JSON request the harness reads (see harness.py). */
int kiln__lang_request(const kiln_job *job, const kiln_limits *lim, int cold,
		       json_t **req, kiln_error *err);

/* The renders of the languages whose runtime takes the nonce on stdin
 * (lang_rt.c; OCaml, Tcl and Racket too): each writes the job's files, its
 * compile argv and its runs' argv; id is the job's random ID (16 hex
 * digits), java and javac the toolchain's real paths. */
int kiln__render_go(const kiln_job *job, const char *id, json_t *files,
		    json_t *runs, json_t *compile, kiln_error *err);
int kiln__render_java(const kiln_job *job, const kiln_limits *lim,
		      const char *id, const char *java, const char *javac,
		      json_t *files, json_t *runs, json_t *compile,
		      kiln_error *err);
int kiln__render_rust(const kiln_job *job, const char *id, json_t *files,
		      json_t *runs, json_t *compile, kiln_error *err);
int kiln__render_ocaml(const kiln_job *job, const char *id, json_t *files,
		       json_t *runs, json_t *compile, kiln_error *err);
/* Lua, Tcl, Racket (lang names them): kiln's runtime and the files it
 * reads, run by interp (Racket's with a build step) */
int kiln__render_script(const kiln_job *job, const char *lang,
			const char *interp, json_t *files, json_t *runs,
			json_t *compile, kiln_error *err);

/* The seccomp program every box process runs under, built once. */
int kiln__seccomp_program(const struct sock_fprog **prog, kiln_error *err);

/* A box's cgroup (cgroup.c). */
typedef struct kiln__cgroup {
	int active, v2;
	char mem[256];   /* v2: the cgroup; v1: in the memory hierarchy */
	char pids[256];  /* v1: in the pids hierarchy */
} kiln__cgroup;

/* Creates a cgroup limiting memory (bytes; 0 = none) and processes, and
 * moves pid into it. Returns 0, or -1 when the host offers none to us. */
int kiln__cgroup_create(kiln__cgroup *cg, const char *name, long long mem,
			int pids, long pid);
/* The cgroup's count of OOM kills so far, or -1 if unknown. */
long kiln__cgroup_oom_kills(const kiln__cgroup *cg);
void kiln__cgroup_destroy(kiln__cgroup *cg);

/* The harness source, embedded at build time (harness_py.c). */
extern const char kiln__harness_py[];
extern const unsigned long kiln__harness_py_len;
/* The same compiled for the interpreter whose sys.implementation.cache_tag
 * is KILN_PYC_TAG (harness_pyc.c; empty when the build had none). */
extern const char kiln__harness_pyc[];
extern const unsigned long kiln__harness_pyc_len;

#endif
