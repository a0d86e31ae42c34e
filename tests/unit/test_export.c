/* kiln export (kiln/export.h) on planted inputs: licences and statuses
 * dropped with their reasons, pairs exactly where AceCoder's rule says
 * (the thresholds themselves included), one meta shape on every line,
 * samples that kiln train's loader reads, errors that name file, line and
 * field, the funnel with zero counts and an all-dropped stage, sha256. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kiln/curate.h"
#include "kiln/data.h"
#include "kiln/export.h"
#include "kiln/jsonl.h"
#include "kiln/tokenizer.h"
#include "tmpdir.h"

static char *path_of(const char *name)
{
	static char p[8][256];
	static int i;

	i = (i + 1) % 8;
	snprintf(p[i], sizeof p[i], "%s/%s", dir, name);
	return p[i];
}

static const char *write_file(const char *name, const char *text)
{
	const char *p = path_of(name);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return p;
}

/* Every line of a JSONL file, as an array. */
static json_t *read_lines(const char *path)
{
	kiln_jsonl_reader *r;
	kiln_error err;
	json_t *a = json_array(), *o;
	int rc;

	assert_int_equal(kiln_jsonl_open(&r, path, 0, &err), 0);
	while ((rc = kiln_jsonl_next(r, &o, &err)) == 0)
		json_array_append_new(a, o);
	assert_int_equal(rc, KILN_EEOF);
	kiln_jsonl_close(r);
	return a;
}

struct run {
	kiln_export_stats st;
	json_t *samples, *pairs, *dropped;
	int rc;
	kiln_error err;
};

static void run_export(struct run *r, const char *input,
		       const kiln_export_opts *o, int with_pairs)
{
	const char *sp = path_of("samples.jsonl");
	const char *pp = path_of("pairs.jsonl");
	const char *dp = path_of("dropped.jsonl");
	const char *paths[] = { input };
	kiln_out *s, *p = NULL, *d;

	memset(r, 0, sizeof *r);
	remove(sp), remove(pp), remove(dp);
	assert_int_equal(kiln_out_open(&s, sp, &r->err), 0);
	assert_int_equal(kiln_out_open(&d, dp, &r->err), 0);
	if (with_pairs)
		assert_int_equal(kiln_out_open(&p, pp, &r->err), 0);
	r->rc = kiln_export(paths, 1, s, p, d, o, &r->st, &r->err);
	if (r->rc) {
		kiln_out_abort(s), kiln_out_abort(d);
		if (p)
			kiln_out_abort(p);
		return;
	}
	assert_int_equal(kiln_out_commit(s, &r->err), 0);
	assert_int_equal(kiln_out_commit(d, &r->err), 0);
	r->samples = read_lines(sp);
	r->dropped = read_lines(dp);
	if (p) {
		assert_int_equal(kiln_out_commit(p, &r->err), 0);
		r->pairs = read_lines(pp);
	}
}

static void run_free(struct run *r)
{
	kiln_export_stats_free(&r->st);
	json_decref(r->samples);
	json_decref(r->pairs);
	json_decref(r->dropped);
}

static size_t dropped_for(const kiln_stage_stats *s, const char *reason)
{
	for (size_t i = 0; i < s->nreasons; i++)
		if (strcmp(s->reason[i], reason) == 0)
			return s->dropped[i];
	fail_msg("no reason %s", reason);
	return 0;
}

static const char *reason_of(const json_t *rec)
{
	return json_string_value(json_object_get(json_object_get(rec,
							"dropped"), "reason"));
}

static void licences_and_statuses(void **state)
{
	static const char *const allow[] = { "mit", "cc-by-4.0" };
	kiln_export_opts o;
	struct run r;

	(void)state;
	const char *in = write_file("lic.jsonl",
"{\"id\":\"a\",\"prompt\":\"P\",\"solution\":\"S\",\"status\":\"pass\",\"tests_passed\":1,\"tests_total\":1,\"license\":\"MIT\"}\n"
"{\"id\":\"b\",\"prompt\":\"P\",\"solution\":\"S\",\"status\":\"pass\",\"tests_passed\":1,\"tests_total\":1,\"license\":\"GPL-3.0\"}\n"
"\n"
"{\"id\":\"c\",\"prompt\":\"P\",\"solution\":\"S\",\"status\":\"pass\",\"tests_passed\":1,\"tests_total\":1}\n"
"{\"id\":\"d\",\"prompt\":\"P\",\"solution\":\"S\",\"status\":\"timeout\",\"tests_passed\":0,\"tests_total\":2,\"license\":\"CC-BY-4.0\"}\n"
"{\"id\":\"e\",\"prompt\":\"P\",\"solution\":\"S\",\"license\":\"cc-by-4.0\"}\n"
"{\"id\":\"f\",\"prompt\":\"P\",\"solution\":\"S\",\"status\":\"pass\",\"tests_passed\":3,\"tests_total\":3,\"license\":\"cc-by-4.0\"}\n");

	kiln_export_opts_default(&o);
	o.licenses = allow;
	o.nlicenses = 2;
	run_export(&r, in, &o, 0);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.st.stage.entered, 6);
	assert_int_equal(r.st.stage.kept, 2);
	assert_int_equal(dropped_for(&r.st.stage, "license"), 2);
	assert_int_equal(dropped_for(&r.st.stage, "failed"), 1);
	assert_int_equal(dropped_for(&r.st.stage, "unverified"), 1);
	assert_int_equal(json_array_size(r.samples), 2);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
		json_array_get(r.samples, 1), "meta"), "id")), "f");
	/* every dropped row with its reason, in input order */
	assert_int_equal(json_array_size(r.dropped), 4);
	assert_string_equal(reason_of(json_array_get(r.dropped, 0)), "license");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
		json_array_get(r.dropped, 0), "dropped"), "license")),
		"GPL-3.0");
	assert_string_equal(reason_of(json_array_get(r.dropped, 1)), "license");
	assert_true(json_is_null(json_object_get(json_object_get(
		json_array_get(r.dropped, 1), "dropped"), "license")));
	assert_string_equal(reason_of(json_array_get(r.dropped, 2)), "failed");
	assert_string_equal(reason_of(json_array_get(r.dropped, 3)),
			    "unverified");
	/* the stats file names every reason, zero ones too */
	json_t *sj = kiln_stage_stats_json(&r.st.stage);
	assert_int_equal(json_object_size(json_object_get(sj, "dropped")), 3);
	json_decref(sj);
	run_free(&r);

	/* no list: every licence, and none, is allowed */
	kiln_export_opts_default(&o);
	run_export(&r, in, &o, 0);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.st.stage.kept, 4);
	assert_int_equal(dropped_for(&r.st.stage, "license"), 0);
	run_free(&r);
}

/* One candidate line: id, candidate index, passed of total, solution. */
static void cand(FILE *f, const char *id, int c, int passed, int total,
		 const char *sol)
{
	fprintf(f, "{\"id\":\"%s\",\"candidate\":%d,\"prompt\":\"Q %s\","
		"\"solution\":\"%s\",\"status\":\"%s\",\"tests_passed\":%d,"
		"\"tests_total\":%d,\"license\":\"mit\"}\n", id, c, id, sol,
		passed == total ? "pass" : "fail", passed, total);
}

static int has_pair(const json_t *pairs, const char *id, int chosen,
		    int rejected)
{
	size_t i;
	json_t *p;

	json_array_foreach(pairs, i, p) {
		json_t *m = json_object_get(p, "meta");
		if (strcmp(json_string_value(json_object_get(m, "id")), id))
			continue;
		if (json_integer_value(json_object_get(json_object_get(m,
				"chosen"), "candidate")) == chosen &&
		    json_integer_value(json_object_get(json_object_get(m,
				"rejected"), "candidate")) == rejected)
			return 1;
	}
	return 0;
}

static size_t pairs_of(const json_t *pairs, const char *id)
{
	size_t i, n = 0;
	json_t *p;

	json_array_foreach(pairs, i, p)
		n += !strcmp(json_string_value(json_object_get(json_object_get(
			p, "meta"), "id")), id);
	return n;
}

static void pairs_follow_acecoder(void **state)
{
	kiln_export_opts o;
	struct run r;
	const char *in = path_of("pairs_in.jsonl");
	FILE *f = fopen(in, "w");

	(void)state;
	assert_non_null(f);
	/* a: 1.0 against 0.6 (gap exactly 0.4), 0.4, 0.2, 0: all four, the
	 * lowest first */
	cand(f, "a", 0, 3, 5, "s0");
	cand(f, "a", 1, 5, 5, "best");
	cand(f, "a", 2, 0, 5, "s2");
	cand(f, "a", 3, 2, 5, "s3");
	cand(f, "a", 4, 1, 5, "s4");
	/* a again on other tests (3 of them): a group of its own */
	cand(f, "a", 5, 3, 3, "other");
	cand(f, "a", 6, 0, 3, "other0");
	/* b: 0.8 is enough to be chosen; 0.4 is 0.4 below, 0.5 is not */
	cand(f, "b", 0, 8, 10, "b8");
	cand(f, "b", 1, 5, 10, "b5");
	cand(f, "b", 2, 4, 10, "b4");
	/* c: 0.7 is not enough */
	cand(f, "c", 0, 7, 10, "c7");
	cand(f, "c", 1, 0, 10, "c0");
	/* d: 17/20 - 9/20 is 0.39999999999999997 in doubles: still 0.4 */
	cand(f, "d", 0, 9, 20, "d9");
	cand(f, "d", 1, 17, 20, "d17");
	cand(f, "d", 2, 10, 20, "d10");
	/* e: the same text both ways (a flaky test): no pair */
	cand(f, "e", 0, 2, 2, "same");
	cand(f, "e", 1, 0, 2, "same");
	/* g: five equally bad ones: at most 4, in input order; ties for
	 * the best go to the earliest */
	cand(f, "g", 0, 0, 1, "g0");
	cand(f, "g", 1, 1, 1, "g1");
	cand(f, "g", 2, 0, 1, "g2");
	cand(f, "g", 3, 0, 1, "g3");
	cand(f, "g", 4, 1, 1, "g4");
	cand(f, "g", 5, 0, 1, "g5");
	cand(f, "g", 6, 0, 1, "g6");
	/* h: the best is under a licence not allowed: h gets none */
	fputs("{\"id\":\"h\",\"candidate\":0,\"prompt\":\"Q\",\"solution\":\"h1\",\"status\":\"pass\",\"tests_passed\":1,\"tests_total\":1,\"license\":\"gpl\"}\n", f);
	cand(f, "h", 1, 0, 1, "h0");
	/* i: a single candidate */
	cand(f, "i", 0, 1, 1, "i1");
	fclose(f);

	static const char *const allow[] = { "MIT" };
	kiln_export_opts_default(&o);
	o.licenses = allow;
	o.nlicenses = 1;
	run_export(&r, in, &o, 1);
	assert_int_equal(r.rc, 0);

	assert_int_equal(pairs_of(r.pairs, "a"), 5);
	assert_true(has_pair(r.pairs, "a", 1, 2));
	assert_true(has_pair(r.pairs, "a", 1, 4));
	assert_true(has_pair(r.pairs, "a", 1, 3));
	assert_true(has_pair(r.pairs, "a", 1, 0));
	assert_true(has_pair(r.pairs, "a", 5, 6));
	assert_int_equal(pairs_of(r.pairs, "b"), 1);
	assert_true(has_pair(r.pairs, "b", 0, 2));
	assert_int_equal(pairs_of(r.pairs, "c"), 0);
	assert_int_equal(pairs_of(r.pairs, "d"), 1);
	assert_true(has_pair(r.pairs, "d", 1, 0));
	assert_int_equal(pairs_of(r.pairs, "e"), 0);
	assert_int_equal(pairs_of(r.pairs, "g"), 4);
	assert_true(has_pair(r.pairs, "g", 1, 0));
	assert_true(has_pair(r.pairs, "g", 1, 2));
	assert_true(has_pair(r.pairs, "g", 1, 3));
	assert_true(has_pair(r.pairs, "g", 1, 5));
	assert_false(has_pair(r.pairs, "g", 1, 6));
	assert_int_equal(pairs_of(r.pairs, "h"), 0);
	assert_int_equal(pairs_of(r.pairs, "i"), 0);
	assert_int_equal(json_array_size(r.pairs), 11);
	assert_int_equal(r.st.pairs, 11);
	assert_int_equal(r.st.pair_tasks, 5);   /* a twice, b, d, g */

	/* the first pair: a's best against its worst, texts and gap */
	json_t *p0 = json_array_get(r.pairs, 0);
	assert_string_equal(json_string_value(json_object_get(p0, "prompt")),
			    "Q a");
	assert_string_equal(json_string_value(json_object_get(p0, "chosen")),
			    "best");
	assert_string_equal(json_string_value(json_object_get(p0,
					      "rejected")), "s2");
	assert_true(json_real_value(json_object_get(json_object_get(p0,
					"meta"), "gap")) == 1.0);
	run_free(&r);

	/* --pair-min-gap 0.5: a keeps 0.4, 0.2 and 0 below 1.0 */
	kiln_export_opts_default(&o);
	o.pair_min_gap = 0.5;
	o.pairs_per_task = 100;
	run_export(&r, in, &o, 1);
	assert_int_equal(r.rc, 0);
	assert_int_equal(pairs_of(r.pairs, "a"), 4);
	assert_false(has_pair(r.pairs, "a", 1, 0));
	assert_int_equal(pairs_of(r.pairs, "g"), 5);
	assert_int_equal(pairs_of(r.pairs, "h"), 1);   /* any licence now */
	run_free(&r);
}

/* The JSON type of every value, keys included: one line's shape. */
static void shape(const json_t *v, char *buf, size_t n)
{
	size_t len = strlen(buf);

	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *k;
		json_t *x;

		snprintf(buf + len, n - len, "{");
		json_object_foreach((json_t *)v, k, x) {
			len = strlen(buf);
			snprintf(buf + len, n - len, "%s:", k);
			shape(x, buf, n);
		}
		len = strlen(buf);
		snprintf(buf + len, n - len, "}");
		break;
	}
	case JSON_ARRAY: {
		size_t i;
		json_t *x;

		snprintf(buf + len, n - len, "[");
		json_array_foreach(v, i, x)
			shape(x, buf, n);
		len = strlen(buf);
		snprintf(buf + len, n - len, "]");
		break;
	}
	case JSON_STRING: snprintf(buf + len, n - len, "s,"); break;
	case JSON_INTEGER: snprintf(buf + len, n - len, "i,"); break;
	case JSON_REAL: snprintf(buf + len, n - len, "f,"); break;
	case JSON_TRUE:
	case JSON_FALSE: snprintf(buf + len, n - len, "b,"); break;
	case JSON_NULL: snprintf(buf + len, n - len, "NULL,"); break;
	}
}

static void one_shape_on_every_line(void **state)
{
	kiln_export_opts o;
	struct run r;
	char first[4096] = "", cur[4096];
	size_t i;
	json_t *s;

	(void)state;
	/* records as different as they come: a teacher or none, a reward
	 * as a number, an object or none, a dedup cluster as a number or a
	 * string, stage fields, no counts, an integer temperature */
	const char *in = write_file("shape.jsonl",
"{\"id\":\"a\",\"candidate\":0,\"prompt\":\"P\",\"solution\":\"S\",\"status\":\"pass\",\"tests_passed\":1,\"tests_total\":1,\"teacher\":{\"backend\":\"openai\",\"model\":\"m\",\"temperature\":1,\"seed\":4,\"choice\":2},\"reward\":0.5,\"dedup\":{\"cluster\":7}}\n"
"{\"id\":\"b\",\"prompt\":\"P\",\"solution\":\"S\",\"status\":\"pass\",\"origin\":\"human\",\"license\":\"MIT\",\"source\":\"humaneval\",\"source_id\":\"HumanEval/1\"}\n"
"{\"id\":\"c\",\"candidate\":3,\"prompt\":\"P\",\"solution\":\"S\",\"status\":\"pass\",\"tests_passed\":0,\"tests_total\":0,\"reward\":{\"score\":-2},\"dedup\":{\"cluster\":\"k9\",\"size\":3},\"select\":{\"rank\":1},\"teacher\":null}\n");

	kiln_export_opts_default(&o);
	run_export(&r, in, &o, 0);
	assert_int_equal(r.rc, 0);
	assert_int_equal(json_array_size(r.samples), 3);
	json_array_foreach(r.samples, i, s) {
		cur[0] = '\0';
		shape(s, cur, sizeof cur);
		assert_null(strstr(cur, "NULL"));
		if (i == 0)
			strcpy(first, cur);
		else
			assert_string_equal(cur, first);
	}
	json_t *m0 = json_object_get(json_array_get(r.samples, 0), "meta");
	json_t *m2 = json_object_get(json_array_get(r.samples, 2), "meta");
	assert_string_equal(json_string_value(json_object_get(m0, "cluster")),
			    "7");
	assert_string_equal(json_string_value(json_object_get(m2, "cluster")),
			    "k9");
	assert_true(json_real_value(json_object_get(json_object_get(m2,
			"scores"), "reward")) == -2.0);
	assert_true(json_is_true(json_object_get(json_object_get(m2,
			"scores"), "has_reward")));
	/* the stage fields as JSON text */
	const char *stages = json_string_value(json_object_get(
		json_object_get(m2, "provenance"), "stages"));
	json_t *sj = json_loads(stages, 0, NULL);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
		sj, "select"), "rank")), 1);
	json_decref(sj);
	run_free(&r);
}

static void samples_train(void **state)
{
	kiln_export_opts o;
	struct run r;
	kiln_tok *tok;
	kiln_dataset *d;
	kiln_data_opts dopts = { 0 };
	kiln_data_stats ds;
	kiln_error err;

	(void)state;
	const char *in = write_file("train_in.jsonl",
"{\"id\":\"a\",\"prompt\":\"Write f.\",\"solution\":\"def f():\\n    return 1\\n\",\"status\":\"pass\"}\n"
"{\"id\":\"b\",\"prompt\":\"Write g.\",\"solution\":\"def g():\\n    return 2\\n\",\"status\":\"pass\"}\n"
"{\"id\":\"c\",\"prompt\":\"Write h.\",\"solution\":\"nope\",\"status\":\"fail\"}\n");
	kiln_export_opts_default(&o);
	run_export(&r, in, &o, 0);
	assert_int_equal(r.rc, 0);
	assert_int_equal(kiln_tok_bytes(&tok, &err), 0);
	const char *paths[] = { path_of("samples.jsonl") };
	assert_int_equal(kiln_data_load(&d, tok, paths, 1, &dopts, &err), 0);
	kiln_data_stats_get(d, &ds);
	assert_int_equal(ds.records, 2);
	/* the loss counts each answer and its end-of-text token, and not
	 * the prompt: bytes are tokens here */
	assert_int_equal(ds.counted[0] + ds.counted[1],
			 2 * (strlen("def f():\n    return 1\n") + 1));
	kiln_data_free(d);
	kiln_tok_free(tok);
	run_free(&r);
}

static void expect_error(const char *name, const char *text,
			 const kiln_export_opts *o, const char *what)
{
	struct run r;
	char want[512];

	snprintf(want, sizeof want, "%s/%s", dir, name);
	run_export(&r, write_file(name, text), o, 1);
	assert_int_equal(r.rc, KILN_EPARSE);
	if (!strstr(r.err.msg, want) || !strstr(r.err.msg, what))
		fail_msg("'%s' does not say '%s' and '%s'", r.err.msg, want,
			 what);
	run_free(&r);
}

static void bad_input_names_file_line_field(void **state)
{
	kiln_export_opts o;

	(void)state;
	kiln_export_opts_default(&o);
	expect_error("e1.jsonl", "{\"id\":\"a\",\"prompt\":\"P\",\"solution\":\"S\"}\n"
		     "{\"id\":\"b\",\"prompt\":\"P\"}\n", &o, ":2: 'solution'");
	expect_error("e2.jsonl", "{\"id\":\"a\",\"solution\":\"S\"}\n", &o,
		     ":1: 'prompt': missing (give --tasks");
	expect_error("e3.jsonl", "{\"prompt\":\"P\",\"solution\":\"S\"}\n", &o,
		     ":1: 'id'");
	expect_error("e4.jsonl", "\n{\"id\":\"a\",\"prompt\":\"P\",\"solution\":"
		     "\"S\",\"tests_passed\":3,\"tests_total\":2}\n", &o,
		     ":2: 'tests_passed': more than tests_total");
	expect_error("e5.jsonl", "{\"id\":\"a\",\"prompt\":\"P\",\"solution\":"
		     "\"S\",\"tests_total\":2}\n", &o, ":1: 'tests_passed'");
	expect_error("e6.jsonl", "{\"id\":\"a\",\"prompt\":\"P\",\"solution\":"
		     "\"S\"}\n{\"id\": tru}\n", &o, ":2:");
	expect_error("e7.jsonl", "{\"id\":\"a\",\"prompt\":\"P\",\"solution\":"
		     "\"S\",\"status\":1}\n", &o, ":1: 'status'");
	expect_error("e8.jsonl", "{\"id\":\"a\",\"prompt\":7,\"solution\":"
		     "\"S\"}\n", &o, ":1: 'prompt': not a string");
}

static void tasks_join(void **state)
{
	kiln_export_opts o;
	struct run r;
	static const char *const allow[] = { "mit" };

	(void)state;
	char tasks[256];   /* path_of's buffers are reused */

	snprintf(tasks, sizeof tasks, "%s", write_file("tasks.jsonl",
"{\"id\":\"t1\",\"prompt\":\"Task one.\",\"license\":\"MIT\",\"origin\":\"human\",\"source\":\"mbpp\"}\n"
"{\"id\":\"t2\",\"prompt\":\"Task two.\",\"license\":\"GPL\"}\n"));
	const char *in = write_file("cands.jsonl",
"{\"id\":\"t1\",\"candidate\":0,\"solution\":\"A\",\"status\":\"pass\",\"origin\":\"synthetic\"}\n"
"{\"id\":\"t2\",\"candidate\":0,\"solution\":\"B\",\"status\":\"pass\"}\n"
"{\"id\":\"t1\",\"candidate\":1,\"prompt\":\"Own.\",\"solution\":\"C\",\"status\":\"pass\"}\n");

	kiln_export_opts_default(&o);
	o.tasks = tasks;
	o.licenses = allow;
	o.nlicenses = 1;
	run_export(&r, in, &o, 0);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.st.stage.kept, 2);
	assert_int_equal(dropped_for(&r.st.stage, "license"), 1);
	json_t *s0 = json_array_get(r.samples, 0);
	json_t *m0 = json_object_get(s0, "meta");
	assert_string_equal(json_string_value(json_object_get(json_array_get(
		json_object_get(s0, "messages"), 0), "content")), "Task one.");
	assert_string_equal(json_string_value(json_object_get(m0, "origin")),
			    "synthetic");   /* the record's own first */
	assert_string_equal(json_string_value(json_object_get(m0, "license")),
			    "MIT");
	assert_string_equal(json_string_value(json_object_get(m0, "source")),
			    "mbpp");
	assert_string_equal(json_string_value(json_object_get(json_array_get(
		json_object_get(json_array_get(r.samples, 1), "messages"), 0),
		"content")), "Own.");
	/* the tasks file is an input of the manifest */
	assert_string_equal(json_string_value(json_object_get(json_array_get(
		r.st.inputs, 0), "role")), "tasks");
	run_free(&r);

	expect_error("e9.jsonl", "{\"id\":\"t3\",\"solution\":\"S\"}\n", &o,
		     ":1: 'prompt': missing, and no task has this id");
	o.tasks = write_file("dup_tasks.jsonl",
			     "{\"id\":\"t\",\"prompt\":\"x\"}\n"
			     "{\"id\":\"t\",\"prompt\":\"y\"}\n");
	run_export(&r, in, &o, 0);
	assert_int_equal(r.rc, KILN_EPARSE);
	assert_non_null(strstr(r.err.msg, "dup_tasks.jsonl:2: 'id'"));
	run_free(&r);
}

/* Verdicts keep id and candidate only: --candidates gives them the rest. */
static void candidates_join(void **state)
{
	kiln_export_opts o;
	struct run r;
	char cands[256];

	(void)state;
	snprintf(cands, sizeof cands, "%s", write_file("cj.jsonl",
"{\"id\":\"t\",\"candidate\":0,\"solution\":\"A\",\"tests\":[\"code\"],\"prompt\":\"P\",\"origin\":\"synthetic\"}\n"
"{\"id\":\"t\",\"candidate\":1,\"solution\":\"B\",\"prompt\":\"P\"}\n"));
	const char *in = write_file("vj.jsonl",
"{\"id\":\"t\",\"candidate\":1,\"status\":\"pass\",\"tests_passed\":1,\"tests_total\":1,\"tests\":[{\"status\":\"pass\"}]}\n"
"{\"id\":\"t\",\"candidate\":0,\"status\":\"pass\",\"tests_passed\":1,\"tests_total\":1,\"origin\":\"mine\"}\n");
	kiln_export_opts_default(&o);
	o.candidates = cands;
	run_export(&r, in, &o, 0);
	assert_int_equal(r.rc, 0);
	assert_int_equal(json_array_size(r.samples), 2);
	json_t *s0 = json_array_get(r.samples, 0), *s1 = json_array_get(r.samples, 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
		json_object_get(s0, "messages"), 1), "content")), "B");
	/* the record's own fields win */
	assert_string_equal(json_string_value(json_object_get(json_object_get(
		s1, "meta"), "origin")), "mine");
	run_free(&r);

	expect_error("vj2.jsonl", "{\"id\":\"t\",\"candidate\":5,\"status\":"
		     "\"pass\"}\n", &o, ":1: 'solution': missing, and no "
		     "record of --candidates");
	o.candidates = write_file("cj2.jsonl",
				  "{\"id\":\"t\",\"candidate\":0}\n"
				  "{\"id\":\"t\",\"candidate\":0}\n");
	run_export(&r, in, &o, 0);
	assert_int_equal(r.rc, KILN_EPARSE);
	assert_non_null(strstr(r.err.msg, "cj2.jsonl:2: 'candidate'"));
	run_free(&r);
}

static void save_stats(const char *name, const char *stage,
		       const char *const *reasons, size_t entered,
		       size_t kept, const size_t *dropped)
{
	kiln_stage_stats s;
	kiln_error err;

	kiln_stage_stats_init(&s, stage, reasons);
	s.entered = entered;
	s.kept = kept;
	for (size_t i = 0; i < s.nreasons; i++)
		s.dropped[i] = dropped[i];
	assert_int_equal(kiln_stage_stats_save(&s, path_of(name), &err), 0);
	kiln_stage_stats_free(&s);
}

static void funnel_zero_counts_and_all_dropped(void **state)
{
	static const char *const sel_r[] = { "fail", "timeout", NULL };
	static const char *const dd_r[] = { "exact", "near", NULL };
	static const size_t sel_d[] = { 4, 0 }, dd_d[] = { 6, 0 };
	kiln_export_opts o;
	struct run r;
	kiln_error err;

	(void)state;
	save_stats("select.json", "select", sel_r, 10, 6, sel_d);
	save_stats("dedup.json", "dedup", dd_r, 6, 0, dd_d);
	const char *in = write_file("empty.jsonl", "");
	kiln_export_opts_default(&o);
	run_export(&r, in, &o, 0);
	assert_int_equal(r.rc, 0);

	const char *files[] = { path_of("select.json"), path_of("dedup.json") };
	json_t *f = kiln_export_funnel(files, 2, &r.st, &err);
	assert_non_null(f);
	json_t *stages = json_object_get(f, "stages");
	assert_int_equal(json_array_size(stages), 3);
	json_t *sel = json_array_get(stages, 0), *dd = json_array_get(stages, 1);
	json_t *ex = json_array_get(stages, 2);
	assert_string_equal(json_string_value(json_object_get(sel, "stage")),
			    "select");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
		sel, "dropped"), "timeout")), 0);   /* zero, present */
	assert_int_equal(json_integer_value(json_object_get(dd, "kept")), 0);
	assert_int_equal(json_integer_value(json_object_get(dd,
						"dropped_total")), 6);
	assert_string_equal(json_string_value(json_object_get(ex, "stage")),
			    "export");
	assert_int_equal(json_object_size(json_object_get(ex, "dropped")), 3);
	assert_int_equal(json_array_size(json_object_get(f, "notes")), 0);
	/* both stats files are inputs, with their hashes */
	assert_int_equal(json_array_size(r.st.inputs), 3);

	char *table = kiln_export_funnel_table(f);
	assert_non_null(table);
	assert_non_null(strstr(table, "timeout 0"));
	assert_non_null(strstr(table, "exact 6, near 0"));
	assert_non_null(strstr(table, "license 0, failed 0, unverified 0"));
	free(table);

	/* the manifest carries it */
	kiln_export_outputs outs = { .samples = path_of("samples.jsonl") };
	json_t *m = kiln_export_manifest(&r.st, f, &outs, &err);
	assert_non_null(m);
	assert_true(json_equal(json_object_get(m, "funnel"), f));
	assert_non_null(json_string_value(json_object_get(json_object_get(
		json_object_get(m, "outputs"), "samples"), "sha256")));
	json_decref(m);
	json_decref(f);

	/* counts that do not add up, or a gap between stages: notes */
	static const size_t bad_d[] = { 1, 0 };
	save_stats("bad.json", "dedup", dd_r, 5, 3, bad_d);
	const char *files2[] = { path_of("select.json"), path_of("bad.json") };
	f = kiln_export_funnel(files2, 2, &r.st, &err);
	assert_non_null(f);
	json_t *notes = json_object_get(f, "notes");
	assert_int_equal(json_array_size(notes), 3);
	assert_non_null(strstr(json_string_value(json_array_get(notes, 0)),
			       "dedup: entered 5, but kept 3 + dropped 1"));
	assert_non_null(strstr(json_string_value(json_array_get(notes, 1)),
			       "select before it kept 6"));
	assert_non_null(strstr(json_string_value(json_array_get(notes, 2)),
			       "export: entered 0, but dedup before it kept 3"));
	json_decref(f);

	/* not a stats file: named */
	const char *files3[] = { write_file("junk.json", "{\"stage\":1}") };
	assert_null(kiln_export_funnel(files3, 1, &r.st, &err));
	assert_non_null(strstr(err.msg, "junk.json"));
	run_free(&r);
}

static void sha256_known_answers(void **state)
{
	char hex[65];
	unsigned long long n;
	kiln_error err;

	(void)state;
	assert_int_equal(kiln_sha256_file(write_file("abc", "abc"), hex, &n,
					  &err), 0);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
				 "b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(n, 3);
	assert_int_equal(kiln_sha256_file(write_file("empty", ""), hex, &n,
					  &err), 0);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb924"
				 "27ae41e4649b934ca495991b7852b855");
	assert_int_equal(kiln_sha256_file(path_of("none"), hex, &n, &err),
			 KILN_EIO);
	assert_non_null(strstr(err.msg, "none"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(licences_and_statuses),
		cmocka_unit_test(pairs_follow_acecoder),
		cmocka_unit_test(one_shape_on_every_line),
		cmocka_unit_test(samples_train),
		cmocka_unit_test(bad_input_names_file_line_field),
		cmocka_unit_test(tasks_join),
		cmocka_unit_test(candidates_join),
		cmocka_unit_test(funnel_zero_counts_and_all_dropped),
		cmocka_unit_test(sha256_known_answers),
	};
	return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
