/* Internals shared by the sandbox's files; not part of the public API. */
#ifndef KILN_SANDBOX_INT_H
#define KILN_SANDBOX_INT_H

#include <linux/filter.h>

#include "kiln/sandbox.h"

/* Turns a job into the JSON request the harness reads (see harness.py). */
int kiln__lang_request(const kiln_job *job, const kiln_limits *lim, int cold,
		       json_t **req, kiln_error *err);

/* The seccomp program every box process runs under, built once. */
int kiln__seccomp_program(const struct sock_fprog **prog, kiln_error *err);

/* The harness source, embedded at build time (harness_py.c). */
extern const char kiln__harness_py[];
extern const unsigned long kiln__harness_py_len;

#endif
