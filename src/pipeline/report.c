/* The HTML report of a kiln run (kiln/report.h). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kiln/curate.h"
#include "kiln/jsonl.h"
#include "kiln/output.h"
#include "kiln/report.h"

#ifndef KILN_VERSION
#define KILN_VERSION "0.0.0"
#endif

extern const char kiln__report_html[];

#define EXAMPLES_KEPT 3
#define EXAMPLES_PER_REASON 2
#define SNIPPET 1500

/* The stages in pipeline order, for a run without a manifest. */
static const char *const stage_order[] = {
	"select", "mutation", "reward", "dedup", "decontam", "export", NULL,
};

static json_t *snippet(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n <= SNIPPET)
		return json_string(s ? s : "");
	/* cut at a UTF-8 boundary */
	while (n > SNIPPET || ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	json_t *j = json_stringn(s, n);
	char *t;

	if (!j)
		return json_string("");
	t = malloc(n + 8);
	if (!t)
		return j;
	memcpy(t, s, n);
	memcpy(t + n, "\n[...]", 7);
	json_decref(j);
	j = json_string(t);
	free(t);
	return j ? j : json_string("");
}

/* Calls fn on each record of path (a missing file: nothing). */
static void each_record(const char *dir, const char *name,
			void (*fn)(void *ctx, const json_t *rec), void *ctx)
{
	char path[4096];
	kiln_jsonl_reader *r;
	json_t *rec;
	int rc;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (access(path, R_OK) != 0 || kiln_jsonl_open(&r, path, 0, NULL))
		return;
	while ((rc = kiln_jsonl_next(r, &rec, NULL)) != KILN_EEOF) {
		if (rc == KILN_EIO)
			break;
		if (rc == 0) {
			fn(ctx, rec);
			json_decref(rec);
		}
	}
	kiln_jsonl_close(r);
}

static void on_verdict(void *ctx, const json_t *rec)
{
	json_t *d = ctx, *v = json_object_get(d, "verdicts");
	const json_t *vd = kiln_rec_verdict(rec);
	const char *st = json_string_value(json_object_get(vd, "status"));
	json_int_t p = json_integer_value(json_object_get(vd, "tests_passed"));
	json_int_t t = json_integer_value(json_object_get(vd, "tests_total"));
	json_t *status = json_object_get(v, "status");

	if (!st)
		return;
	json_object_set_new(status, st, json_integer(json_integer_value(
		json_object_get(status, st)) + 1));
	json_object_set_new(v, "total", json_integer(json_integer_value(
		json_object_get(v, "total")) + 1));
	if (t > 0)
		json_array_append_new(json_object_get(json_object_get(d,
			"distributions"), "pass_rate"),
			json_real((double)p / (double)t));
}

static void on_scored(void *ctx, const json_t *rec)
{
	const json_t *s = json_object_get(json_object_get(rec, "mutation"),
					  "score");

	if (json_is_number(s))
		json_array_append_new(json_object_get(json_object_get(
			(json_t *)ctx, "distributions"), "mutation_score"),
			json_real(json_number_value(s)));
}

static void on_rewarded(void *ctx, const json_t *rec)
{
	const json_t *s = json_object_get(json_object_get(rec, "reward"),
					  "score");

	if (json_is_number(s))
		json_array_append_new(json_object_get(json_object_get(
			(json_t *)ctx, "distributions"), "reward"),
			json_real(json_number_value(s)));
}

static void on_sample(void *ctx, const json_t *rec)
{
	json_t *d = ctx, *ds = json_object_get(d, "dataset");
	json_t *kept = json_object_get(json_object_get(d, "examples"), "kept");
	const json_t *meta = json_object_get(rec, "meta");
	const json_t *msgs = json_object_get(rec, "messages");

	json_object_set_new(ds, "count", json_integer(json_integer_value(
		json_object_get(ds, "count")) + 1));
	if (json_array_size(kept) < EXAMPLES_KEPT)
		json_array_append_new(kept, json_pack("{s:O?, s:O?, s:o}",
			"id", json_object_get(meta, "id"),
			"candidate", json_object_get(meta, "candidate"),
			"solution", snippet(json_string_value(json_object_get(
				json_array_get(msgs, 1), "content")))));
}

struct drops {
	json_t *out;      /* the examples' dropped array */
	json_t *seen;     /* "stage/reason" -> count */
};

static void on_dropped(void *ctx, const json_t *rec)
{
	struct drops *dr = ctx;
	const json_t *d = json_object_get(rec, "dropped");
	const char *stage = json_string_value(json_object_get(d, "stage"));
	const char *reason = json_string_value(json_object_get(d, "reason"));
	char key[256];
	json_t *detail;
	char *text;

	if (!stage || !reason)
		return;
	snprintf(key, sizeof key, "%s/%s", stage, reason);
	json_int_t n = json_integer_value(json_object_get(dr->seen, key));
	if (n >= EXAMPLES_PER_REASON)
		return;
	json_object_set_new(dr->seen, key, json_integer(n + 1));
	detail = json_deep_copy(d);
	json_object_del(detail, "stage");
	json_object_del(detail, "reason");
	text = json_object_size(detail) ? json_dumps(detail, JSON_COMPACT) :
	       NULL;
	json_decref(detail);
	if (text && strlen(text) > 300)
		strcpy(text + 296, "...}");
	json_array_append_new(dr->out, json_pack("{s:O?, s:O?, s:s, s:s, "
		"s:s?, s:o}", "id", json_object_get(rec, "id"), "candidate",
		json_object_get(rec, "candidate"), "stage", stage, "reason",
		reason, "detail", text, "solution", snippet(json_string_value(
			json_object_get(rec, "solution")))));
	free(text);
}

static json_t *load_json(const char *dir, const char *name)
{
	char path[4096];

	snprintf(path, sizeof path, "%s/%s", dir, name);
	return json_load_file(path, 0, NULL);
}

int kiln_report_data(const char *dir, json_t **data, kiln_error *err)
{
	json_t *d, *man, *funnel;
	struct drops dr;
	char name[300];

	*data = NULL;
	if (access(dir, R_OK | X_OK) != 0)
		return kiln_error_set(err, KILN_EIO, "%s: not a readable run "
				      "folder", dir);
	d = json_pack("{s:s, s:s, s:[], s:{s:{}, s:i}, s:{s:[], s:[], s:[]}, "
		      "s:{s:i, s:s}, s:{s:[], s:[]}, s:{}, s:n}",
		      "kiln_version", KILN_VERSION, "run_dir", dir,
		      "funnel", "verdicts", "status", "total", 0,
		      "distributions", "pass_rate", "mutation_score", "reward",
		      "dataset", "count", 0, "path", "dataset.jsonl",
		      "examples", "kept", "dropped", "params", "tests");
	if (!d)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	/* the funnel: the manifest's, else each stage's --stats file */
	man = load_json(dir, "manifest.json");
	funnel = json_object_get(json_object_get(man, "funnel"), "stages");
	if (json_is_array(funnel)) {
		json_object_set(d, "funnel", funnel);
	} else {
		for (int i = 0; stage_order[i]; i++) {
			json_t *s;

			snprintf(name, sizeof name, "stats/%s.json",
				 stage_order[i]);
			if ((s = load_json(dir, name)))
				json_array_append_new(json_object_get(d,
							"funnel"), s);
		}
	}
	json_decref(man);
	each_record(dir, "verified.jsonl", on_verdict, d);
	each_record(dir, "scored.jsonl", on_scored, d);
	each_record(dir, "rewarded.jsonl", on_rewarded, d);
	each_record(dir, "dataset.jsonl", on_sample, d);
	dr.out = json_object_get(json_object_get(d, "examples"), "dropped");
	dr.seen = json_object();
	for (int i = 0; stage_order[i]; i++) {
		json_t *c;

		snprintf(name, sizeof name, "dropped/%s.jsonl", stage_order[i]);
		each_record(dir, name, on_dropped, &dr);
		snprintf(name, sizeof name, "config/%s.json", stage_order[i]);
		if ((c = load_json(dir, name)))
			json_object_set_new(json_object_get(d, "params"),
					    stage_order[i], c);
	}
	{
		static const char *const early[] = { "generate", "test-rates",
						     "verify", NULL };
		for (int i = 0; early[i]; i++) {
			json_t *c;

			snprintf(name, sizeof name, "config/%s.json",
				 early[i]);
			if ((c = load_json(dir, name)))
				json_object_set_new(json_object_get(d,
						"params"), early[i], c);
		}
	}
	json_decref(dr.seen);
	{
		/* the teacher tests' validity and discrimination (the
		 * test-rates stage): shown when a task had ground truth */
		static const char *const counts[] = {
			"tasks", "tests", "valid", "discriminating", "variants",
			"variants_killed", NULL };
		json_t *t = load_json(dir, "stats/tests.json");
		int ok = json_is_object(t) && json_integer_value(
			json_object_get(t, "tasks")) > 0;

		/* the counts the page shows, whole numbers (a file that is
		 * not test-rates' shows nothing rather than "undefined") */
		for (int i = 0; ok && counts[i]; i++)
			ok = json_is_integer(json_object_get(t, counts[i])) &&
			     json_integer_value(json_object_get(t, counts[i]))
			     >= 0;
		if (ok)
			json_object_set(d, "tests", t);
		json_decref(t);
	}
	*data = d;
	return 0;
}

int kiln_report_write(const char *dir, const char *path, kiln_error *err)
{
	static const char mark[] = "/*KILN-DATA*/";
	const char *at = strstr(kiln__report_html, mark);
	json_t *d;
	char *js, *html;
	size_t n = 0, lt = 0;
	int rc;

	if (!at)
		return kiln_error_set(err, KILN_EINVAL, "report: the template "
				      "has no data mark");
	if ((rc = kiln_report_data(dir, &d, err)) != 0)
		return rc;
	js = json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(d);
	if (!js)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	/* '<' only occurs inside JSON strings: as \u003c no record can end
	 * the script element */
	for (const char *p = js; *p; p++)
		lt += *p == '<';
	html = malloc(strlen(kiln__report_html) + strlen(js) + 5 * lt + 1);
	if (!html) {
		free(js);
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	}
	memcpy(html, kiln__report_html, (size_t)(at - kiln__report_html));
	n = (size_t)(at - kiln__report_html);
	for (const char *p = js; *p; p++) {
		if (*p == '<') {
			memcpy(html + n, "\\u003c", 6);
			n += 6;
		} else {
			html[n++] = *p;
		}
	}
	strcpy(html + n, at + strlen(mark));
	n += strlen(at + strlen(mark));
	free(js);
	rc = kiln_output_save(path, html, n, err);
	free(html);
	return rc;
}
