/* src/llm's internals: the in-process teacher (local.c) behind kiln_llm. */
#ifndef KILN_LLM_INT_H
#define KILN_LLM_INT_H

#include "kiln/llm.h"

/* A base URL of this form names a checkpoint, answered in-process. */
#define KILN_LLM_LOCAL_PREFIX "local:"

struct kiln__local;

int kiln__local_open(const char *path, const kiln_llm_config *cfg,
		     struct kiln__local **out, kiln_error *err);
void kiln__local_close(struct kiln__local *lc);
/* kiln_llm_run_stream's contract, with conc requests in flight. */
int kiln__local_run(struct kiln__local *lc, int conc,
		    kiln_llm_source_fn next, void *src,
		    kiln_llm_done_fn done_fn, void *ctx, kiln_error *err);
void kiln__local_wakeup(struct kiln__local *lc);

#endif
