/* The counts every curation stage keeps and writes (kiln/curate.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/curate.h"
#include "kiln/output.h"

#ifndef KILN_VERSION
#define KILN_VERSION "0.0.0"
#endif

void kiln_stage_stats_init(kiln_stage_stats *s, const char *stage,
			   const char *const *reasons)
{
	memset(s, 0, sizeof *s);
	s->stage = stage;
	for (size_t i = 0; reasons && reasons[i] &&
	     i < KILN_STAGE_REASONS_MAX; i++)
		s->reason[s->nreasons++] = reasons[i];
}

void kiln_stage_stats_free(kiln_stage_stats *s)
{
	json_decref(s->params);
	json_decref(s->extra);
	s->params = s->extra = NULL;
}

int kiln_stage_drop(kiln_stage_stats *s, const char *reason)
{
	for (size_t i = 0; i < s->nreasons; i++)
		if (strcmp(s->reason[i], reason) == 0) {
			s->dropped[i]++;
			return 0;
		}
	return -1;
}

json_t *kiln_stage_mark(json_t *rec, const char *stage, const char *reason)
{
	json_t *d = json_pack("{s:s, s:s}", "stage", stage, "reason", reason);

	if (!d || json_object_set_new(rec, "dropped", d) != 0)
		return NULL;
	return d;
}

json_t *kiln_stage_stats_json(const kiln_stage_stats *s)
{
	json_t *o = json_pack("{s:s, s:I, s:I, s:{}, s:O?, s:f, s:s}",
			      "stage", s->stage,
			      "entered", (json_int_t)s->entered,
			      "kept", (json_int_t)s->kept,
			      "dropped",
			      "params", s->params,
			      "seconds", s->seconds,
			      "kiln_version", KILN_VERSION);
	json_t *d = o ? json_object_get(o, "dropped") : NULL;

	if (!d)
		goto fail;
	for (size_t i = 0; i < s->nreasons; i++)
		if (json_object_set_new(d, s->reason[i], json_integer(
				(json_int_t)s->dropped[i])) != 0)
			goto fail;
	if (!s->params &&
	    json_object_set_new(o, "params", json_object()) != 0)
		goto fail;
	if (s->extra && json_object_update(o, s->extra) != 0)
		goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

int kiln_stage_stats_save(const kiln_stage_stats *s, const char *path,
			  kiln_error *err)
{
	json_t *o = kiln_stage_stats_json(s);
	int rc;

	if (!o)
		return kiln_error_set(err, KILN_ENOMEM,
				      "%s: stats: out of memory", s->stage);
	rc = kiln_output_save_json(path, o, JSON_INDENT(1) |
				   JSON_PRESERVE_ORDER, err);
	json_decref(o);
	return rc;
}

void kiln_stage_summary(const kiln_stage_stats *s, char *buf, size_t n)
{
	size_t dropped = 0, used;

	for (size_t i = 0; i < s->nreasons; i++)
		dropped += s->dropped[i];
	used = (size_t)snprintf(buf, n, "%zu in, %zu kept, %zu dropped",
				s->entered, s->kept, dropped);
	for (size_t i = 0; i < s->nreasons && used < n; i++)
		used += (size_t)snprintf(buf + used, n - used, "%s%s %zu",
					 i ? ", " : " (", s->reason[i],
					 s->dropped[i]);
	if (s->nreasons && used < n)
		snprintf(buf + used, n - used, ")");
}

json_t *kiln_stage_stats_load(const char *path, kiln_error *err)
{
	json_error_t je;
	json_t *o = json_load_file(path, JSON_REJECT_DUPLICATES, &je);

	if (!o) {
		kiln_error_set(err, KILN_EPARSE, "%s:%d: %s", path, je.line,
			       je.text);
		return NULL;
	}
	if (!json_is_object(o) || !json_is_string(json_object_get(o, "stage"))
	    || !json_is_integer(json_object_get(o, "entered")) ||
	    !json_is_integer(json_object_get(o, "kept")) ||
	    !json_is_object(json_object_get(o, "dropped"))) {
		json_decref(o);
		kiln_error_set(err, KILN_EPARSE, "%s: not a stage stats file "
			       "(needs stage, entered, kept, dropped)", path);
		return NULL;
	}
	return o;
}

const json_t *kiln_rec_verdict(const json_t *rec)
{
	const json_t *v = json_object_get(rec, "verdict");

	return json_is_object(v) ? v : rec;
}
