/* The LLM judge stage (kiln/judge.h) on the teacher engine: one request
 * per record, the reply read by kiln_judge_parse. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/judge.h"
#include "kiln/reward.h"
#include "kiln/template.h"
#include "pipeline/pipeline_int.h"

void kiln_judge_opts_default(kiln_judge_opts *o)
{
	memset(o, 0, sizeof(*o));
	kiln_generate_opts_default(&o->g);
	o->g.temperature = 0;
	o->g.top_p = 1;
	o->g.max_tokens = 512;
	o->lo = 1;
	o->hi = 10;
}

struct judge {
	const kiln_judge_opts *o;
	json_t *records;
	const char *tmpl;
	kiln_out *out;
	kiln_judge_stats *st;
	char **ids;
};

static const char *unit_id(void *ctx, size_t unit)
{
	return ((struct judge *)ctx)->ids[unit];
}

static int begin(void *ctx, kiln_teacher *t, size_t unit, kiln_error *err)
{
	struct judge *J = ctx;
	const json_t *rec = json_array_get(J->records, unit);
	char *prompt = kiln_template_render(J->tmpl, rec, err);
	char *body;

	if (!prompt)
		return err->code ? err->code : KILN_ENOMEM;
	body = kiln__request_body(&J->o->g, prompt, J->o->g.seed, 1);
	free(prompt);
	if (!body)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	return kiln_teacher_add(t, unit, "judge", 0, body, 0, err);
}

const char *kiln__answer_text(const json_t *answer, int completions)
{
	const json_t *c0 = json_array_get(json_object_get(answer, "choices"),
					  0);

	const json_t *s = completions ? json_object_get(c0, "text")
			  : json_object_get(json_object_get(c0, "message"),
					    "content");
	return kiln__text_value(s, NULL);
}

const char *kiln__text_value(const json_t *s, int *nul)
{
	const char *t = json_string_value(s);
	int has = t && strlen(t) != json_string_length(s);

	if (nul)
		*nul = has;
	return has ? NULL : t;
}

static int complete(void *ctx, size_t unit, const kiln_teacher_slot *slots,
		    size_t n, kiln_error *err)
{
	struct judge *J = ctx;
	const kiln_judge_opts *o = J->o;
	/* the record itself gets the field (the caller's array) */
	json_t *rec = json_incref(json_array_get(J->records, unit));
	const char *text = n && slots[0].answer ?
			   kiln__answer_text(slots[0].answer, o->g.completions) :
			   NULL;
	const char *model = o->g.model ? o->g.model : "default";
	json_t *field;
	int rc;

	if (!rec)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	if (!text) {
		J->st->failed++;
		field = json_pack("{s:n, s:s, s:s}", "score", "error",
				  n && slots[0].failed ? "the request failed" :
				  "the answer has no text", "model", model);
	} else {
		kiln_error why = { 0 };
		double score;
		const char *sol = json_string_value(json_object_get(rec,
								    "solution"));

		if (kiln_judge_parse(text, strlen(text), sol, o->lo, o->hi,
				     &score, &why) == 0) {
			J->st->scored++;
			field = json_pack("{s:f, s:f, s:s}", "score", score,
					  "scaled", (score - o->lo) /
					  (o->hi - o->lo), "model", model);
		} else {
			J->st->unreadable++;
			field = json_pack("{s:n, s:s, s:s}", "score", "error",
					  why.msg, "model", model);
		}
	}
	if (!field || json_object_set_new(rec, "judge", field)) {
		json_decref(rec);
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	}
	rc = J->out ? kiln_out_write(J->out, rec, err) : 0;
	json_decref(rec);
	return rc;
}

static void progress(void *ctx, const kiln_teacher_stats *st)
{
	struct judge *J = ctx;

	J->st->req = *st;
	if (J->o->progress)
		J->o->progress(J->o->ctx, J->st);
}

int kiln_judge(json_t *records, kiln_store *store, kiln_out *out,
	       const kiln_judge_opts *o, kiln_judge_stats *st,
	       kiln_error *err)
{
	struct judge J = { .o = o, .records = records, .out = out, .st = st };
	kiln_teacher_opts to;
	size_t n = json_array_size(records), i;
	const json_t *rec;
	int rc;

	memset(st, 0, sizeof(*st));
	st->records = (long)n;
	if (!(o->lo < o->hi))
		return kiln_error_set(err, KILN_EINVAL, "judge: the scale "
				      "[%g, %g] is empty", o->lo, o->hi);
	J.tmpl = o->rubric ? o->rubric : kiln_template_default("judge");
	if ((rc = kiln_template_check(J.tmpl, "the judge template", err)))
		return rc;
	json_array_foreach(records, i, rec)
		if (!json_is_string(json_object_get(rec, "solution")))
			return kiln_error_set(err, KILN_EPARSE, "record %zu "
					      "(%s): no \"solution\" (a "
					      "string) to judge", i + 1,
					      json_string_value(json_object_get(
						      rec, "id")) ?
					      json_string_value(json_object_get(
						      rec, "id")) : "no id");
	J.ids = calloc(n ? n : 1, sizeof(*J.ids));
	if (!J.ids)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		const char *id = json_string_value(json_object_get(
			json_array_get(records, i), "id"));
		size_t len = (id ? strlen(id) : 0) + 32;

		if (!(J.ids[i] = malloc(len))) {
			rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
			goto out;
		}
		/* one unit per record, whatever its id: two candidates of
		 * one task are judged apart */
		snprintf(J.ids[i], len, "%s#judge%zu", id ? id : "", i);
	}
	kiln_teacher_opts_default(&to);
	to.llm = o->g.llm;
	to.path = o->g.completions ? "/completions" : "/chat/completions";
	to.no_cache = o->g.no_cache;
	to.retry_failed = o->g.retry_failed;
	to.units = n;
	to.unit_id = unit_id;
	to.begin = begin;
	to.complete = complete;
	to.progress = progress;
	to.ctx = &J;
	rc = kiln_teacher_run(&to, store, &st->req, err);
out:
	for (i = 0; i < n && J.ids; i++)
		free(J.ids[i]);
	free(J.ids);
	return rc;
}
