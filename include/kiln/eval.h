/* kiln/eval.h - pass@k of a teacher model on a benchmark, in the sandbox.
 *
 * n completions per task (kiln_generate, with the task's own tests),
 * verified in the sandbox (kiln_verify_stream), and the unbiased pass@k
 * estimator of Chen et al. (2021) per task and overall.
 */
#ifndef KILN_EVAL_H
#define KILN_EVAL_H

#include <jansson.h>

#include "kiln/generate.h"
#include "kiln/verify.h"

/* 1 - C(n-c, k) / C(n, k), computed as a product (no overflow). k > n
 * gives NAN: the estimate needs at least k samples. */
double kiln_pass_at_k(int n, int c, int k);

typedef struct kiln_eval_opts {
	kiln_generate_opts gen;     /* gen.k = n samples per task */
	kiln_verify_opts verify;
	const int *ks;              /* the k of pass@k */
	size_t nks;
	const char *candidates_path;  /* where candidates go (required) */
	const char *samples_path;     /* per-sample verdicts (required) */
	kiln_generate_stats *gen_stats; /* when set: the requests' counts,
					 * also when kiln_eval fails */
} kiln_eval_opts;

/* 0 when every task can be scored: a unique id, a language kiln runs,
 * tests the sandbox accepts; else KILN_EPARSE and err names the task
 * ("task 3 (HumanEval/2): ..."). kiln_eval checks first, before sending
 * anything; a caller that knows the tasks' file calls it to name it. */
int kiln_eval_check_tasks(const json_t *tasks, kiln_error *err);

/* On success *summary is {"pass@1": x, ..., "n": N, "tasks": T,
 * "samples_verified", "samples_missing", "requests_failed",
 * "per_task": [{"id", "n", "c", "verified", "pass@1", ...}]}. A missing
 * sample (its request failed) counts as a failed one. Fails like
 * kiln_generate when every request failed. */
int kiln_eval(const json_t *tasks, kiln_store *store, const kiln_eval_opts *o,
	      json_t **summary, kiln_error *err);

#endif
