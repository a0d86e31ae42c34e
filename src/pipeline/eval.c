/* kiln eval: generate n samples per task, verify them, estimate pass@k. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/eval.h"
#include "kiln/task.h"

double kiln_pass_at_k(int n, int c, int k)
{
	double p = 1.0;

	if (k <= 0 || k > n || c < 0 || c > n)
		return NAN;
	if (n - c < k)
		return 1.0;
	/* C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k / i) */
	for (int i = n - c + 1; i <= n; i++)
		p *= 1.0 - (double)k / i;
	return 1.0 - p;
}

static char *key_name(int k)
{
	static __thread char buf[32];
	snprintf(buf, sizeof(buf), "pass@%d", k);
	return buf;
}

/* Commits an output; it is gone either way. */
static int commit(kiln_out **out, kiln_error *err)
{
	int rc = kiln_out_commit(*out, err);
	*out = NULL;
	return rc;
}

int kiln_eval_check_tasks(const json_t *tasks, kiln_error *err)
{
	json_t *seen = json_object(), *task;
	size_t ti;
	int rc = 0;

	if (!seen)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	json_array_foreach(tasks, ti, task) {
		const char *id = json_string_value(json_object_get(task, "id"));
		json_t *probe, *first;
		kiln_job job;

		if (id && (first = json_object_get(seen, id))) {
			rc = kiln_error_set(err, KILN_EPARSE, "task %zu: id "
				"'%s' again (task %lld has it); pass@k is per "
				"task, so each id must be one task", ti + 1, id,
				(long long)json_integer_value(first));
			break;
		}
		/* what the sandbox will need of its candidates, but the
		 * solution (the model's to write) */
		probe = json_is_object(task) ? json_copy(task) : NULL;
		if (!probe || json_object_set_new(probe, "solution",
						  json_string(""))) {
			json_decref(probe);
			rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
			break;
		}
		rc = kiln_job_from_record(probe, &job, err);
		if (!rc)
			kiln_job_release(&job);
		json_decref(probe);
		if (rc) {
			kiln_error_prefix(err, "task %zu%s%s%s: ", ti + 1,
					  id ? " (" : "", id ? id : "",
					  id ? ")" : "");
			break;
		}
		if (json_object_set_new(seen, id, json_integer(
				(json_int_t)ti + 1))) {
			rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
			break;
		}
	}
	json_decref(seen);
	return rc;
}

int kiln_eval(const json_t *tasks, kiln_store *store, const kiln_eval_opts *o,
	      json_t **summary, kiln_error *err)
{
	kiln_generate_stats gst;
	kiln_verify_stats vst;
	kiln_out *out = NULL;
	kiln_jsonl_reader *in = NULL;
	json_t *passes = json_object(), *v, *task;
	json_t *sum = NULL, *per = NULL;
	size_t ti;
	int rc;

	*summary = NULL;
	if (!passes) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		goto out;
	}
	/* 0. Tasks that cannot be scored are refused before anything is
	 * sent. */
	if ((rc = kiln_eval_check_tasks(tasks, err)))
		goto out;
	/* 1. Samples, through the store (resumable like generate). */
	if ((rc = kiln_out_open(&out, o->candidates_path, err)))
		goto out;
	rc = kiln_generate(tasks, store, out, &o->gen, &gst, err);
	if (o->gen_stats)
		*o->gen_stats = gst;
	if (rc || (rc = commit(&out, err)))
		goto out;
	/* 2. Verified in the sandbox. */
	if ((rc = kiln_jsonl_open(&in, o->candidates_path, 0, err)) ||
	    (rc = kiln_out_open(&out, o->samples_path, err)))
		goto out;
	rc = kiln_verify_stream(in, out, &o->verify, &vst, err);
	kiln_jsonl_close(in);
	in = NULL;
	if (rc || (rc = commit(&out, err)))
		goto out;
	/* 3. Count passes per task from the verdicts. */
	if ((rc = kiln_jsonl_open(&in, o->samples_path, 0, err)))
		goto out;
	while ((rc = kiln_jsonl_next(in, &v, err)) == 0) {
		const char *id = json_string_value(json_object_get(v, "id"));
		const char *st = json_string_value(json_object_get(v,
								   "status"));
		int pass = st && strcmp(st, "pass") == 0;
		if (id) {
			/* [passes, verdicts] */
			json_t *pc = json_object_get(passes, id);
			if (!pc) {
				pc = json_pack("[ii]", 0, 0);
				json_object_set_new(passes, id, pc);
			}
			json_array_set_new(pc, 0, json_integer(
				json_integer_value(json_array_get(pc, 0)) +
				pass));
			json_array_set_new(pc, 1, json_integer(
				json_integer_value(json_array_get(pc, 1)) + 1));
		}
		json_decref(v);
	}
	if (rc != KILN_EEOF)
		goto out;
	/* 4. pass@k per task (a sample that is missing, its request failed,
	 * counts as a failed sample: n is what was asked for; the summary
	 * says how many) and the mean over tasks. */
	sum = json_object();
	per = json_array();
	json_array_foreach(tasks, ti, task) {
		const char *id = json_string_value(json_object_get(task, "id"));
		int n = o->gen.k;
		const json_t *pc = json_object_get(passes, id);
		int c = (int)json_integer_value(json_array_get(pc, 0));
		int got = (int)json_integer_value(json_array_get(pc, 1));
		json_t *row = json_pack("{ss si si si}", "id", id, "n", n, "c",
					c, "verified", got);
		for (size_t j = 0; j < o->nks; j++)
			json_object_set_new(row, key_name(o->ks[j]), json_real(
				kiln_pass_at_k(n, c, o->ks[j])));
		json_array_append_new(per, row);
	}
	for (size_t j = 0; j < o->nks; j++) {
		double total = 0;
		json_t *row;
		json_array_foreach(per, ti, row)
			total += json_real_value(json_object_get(row,
						key_name(o->ks[j])));
		json_object_set_new(sum, key_name(o->ks[j]), json_real(
			json_array_size(per) ? total / json_array_size(per)
			: NAN));
	}
	json_object_set_new(sum, "n", json_integer(o->gen.k));
	json_object_set_new(sum, "tasks", json_integer(
		(json_int_t)json_array_size(tasks)));
	json_object_set_new(sum, "samples_verified", json_integer(vst.verdicts));
	json_object_set_new(sum, "samples_missing", json_integer(gst.missing));
	json_object_set_new(sum, "requests_failed", json_integer(
		gst.req.failed + gst.req.failed_before));
	json_object_set_new(sum, "per_task", per);
	per = NULL;
	*summary = sum;
	sum = NULL;
	rc = 0;
out:
	kiln_out_abort(out);
	kiln_jsonl_close(in);
	json_decref(passes);
	json_decref(sum);
	json_decref(per);
	return rc;
}
