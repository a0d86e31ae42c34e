/* Reading an LLM judge's reply (kiln/reward.h).
 *
 * Judges fail in practice: replies with no verdict, several verdicts,
 * a verdict quoted from the judged code, scores out of range. The rules
 * here never turn such a reply into a score: the verdict is the last JSON
 * object that starts a line and has a numeric top-level "score" in range;
 * anything else is a missing score with the reason.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "curate/curate_int.h"
#include "kiln/reward.h"

static int wordish(unsigned char c)
{
	return isalnum(c) || c == '.' || c == '-' || c == '+' || c == '_' ||
	       c >= 0x80;
}

/* s[0..n) with its blanks dropped, except that a run of blanks between
 * two word characters stays one space: "7.2 5" is not "7.25", while
 * { "score" : 10 } is {"score":10}. NUL-terminated (malloc'd). */
static char *squeeze(const char *s, size_t n)
{
	char *o = malloc(n + 1);
	size_t k = 0;

	if (!o)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (!isspace((unsigned char)s[i])) {
			o[k++] = s[i];
			continue;
		}
		while (i + 1 < n && isspace((unsigned char)s[i + 1]))
			i++;
		if (k && i + 1 < n && wordish((unsigned char)o[k - 1]) &&
		    wordish((unsigned char)s[i + 1]))
			o[k++] = ' ';
	}
	o[k] = '\0';
	return o;
}

/* Does the object text t[0..n) occur in the judged code (blanks
 * ignored)? Then the judge quoted it from there. */
static int quoted_from(const char *judged_sq, const char *t, size_t n)
{
	char *sq;
	int found;

	if (!judged_sq || !*judged_sq)
		return 0;
	sq = squeeze(t, n);
	found = sq && *sq && strstr(judged_sq, sq) != NULL;
	free(sq);
	return found;
}

/* Does the line from t mention a "score" key (a verdict that did not
 * parse still counts as the judge's last word)? */
static int mentions_score(const char *t, const char *end)
{
	const char *nl = memchr(t, '\n', (size_t)(end - t));
	size_t n = (size_t)((nl ? nl : end) - t);

	for (size_t i = 0; i + 7 <= n; i++)
		if (memcmp(t + i, "\"score\"", 7) == 0)
			return 1;
	return 0;
}

int kiln_judge_parse(const char *reply, size_t len, const char *judged,
		     double lo, double hi, double *score, kiln_error *why)
{
	const char *end = reply + len;
	char *judged_sq = judged ? squeeze(judged, strlen(judged)) : NULL;
	int have = 0;           /* the last anchored verdict was readable */
	int seen = 0;           /* some anchored verdict was seen */
	double last = 0;
	char reason[200] = "no verdict: no line starts with a JSON object "
			   "with a \"score\"";

	if (judged && !judged_sq)
		return kiln_error_set(why, KILN_ENOMEM, "out of memory");
	for (const char *line = reply; line < end;) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		const char *p = line;

		while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
			p++;
		if (p < end && *p == '{') {
			json_error_t je;
			json_t *o = json_loadb(p, (size_t)(end - p),
					       JSON_DISABLE_EOF_CHECK |
					       JSON_REJECT_DUPLICATES, &je);
			const json_t *s = o ? json_object_get(o, "score") :
					  NULL;

			if (o && json_is_object(o) && s) {
				size_t used = (size_t)je.position;

				if (!quoted_from(judged_sq, p, used)) {
					double v = json_number_value(s);

					seen = 1;
					have = 0;
					if (!json_is_number(s))
						snprintf(reason, sizeof reason,
							 "the last verdict's "
							 "score is not a "
							 "number");
					else if (!isfinite(v) || v < lo ||
						 v > hi)
						snprintf(reason, sizeof reason,
							 "the last verdict's "
							 "score %g is out of "
							 "[%g, %g]", v, lo,
							 hi);
					else
						have = 1, last = v;
				}
			} else if (!o && mentions_score(p, end)) {
				/* a verdict that is not valid JSON (cut off,
				 * duplicate keys): the judge's last word is
				 * unreadable, not an earlier one */
				seen = 1;
				have = 0;
				snprintf(reason, sizeof reason, "the last "
					 "verdict is not valid JSON: %s",
					 je.text);
			}
			json_decref(o);
		}
		line = nl ? nl + 1 : end;
	}
	free(judged_sq);
	(void)seen;
	if (!have)
		return kiln_error_set(why, KILN_EPARSE, "%s", reason);
	*score = last;
	return 0;
}

/* ---------------------------------------------------------- the reward */

void kiln_reward_opts_default(kiln_reward_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->w_pass = o->w_mutation = o->w_static = o->w_judge = 1;
	o->min_chars = 1;
	o->max_chars = 20000;
	o->banned = "subprocess,socket,ctypes,multiprocessing,urllib,http,"
		    "requests,shutil,pty,telnetlib,ftplib,smtplib";
	o->min_reward = -1;
}

static int is_python(const json_t *rec)
{
	const char *l = json_string_value(json_object_get(rec, "language"));

	return !l || strcmp(l, "python") == 0;
}

static int banned_module(const char *list, const char *mod)
{
	size_t n = strlen(mod);

	for (const char *p = list; p && *p;) {
		const char *c = strchr(p, ',');
		size_t k = c ? (size_t)(c - p) : strlen(p);

		if (k == n && strncmp(p, mod, n) == 0)
			return 1;
		p = c ? c + 1 : NULL;
	}
	return 0;
}

/* The static facts of every record: Python ones from the mutator process
 * (it parses, never runs), C ones from the record's verdict. */
static int static_facts(json_t *records, const kiln_reward_opts *o,
			json_t **facts, kiln_error *err)
{
	json_t *reqs = json_array(), *replies = NULL, *rec;
	size_t i, k = 0;
	int rc = 0;

	*facts = json_array();
	if (!reqs || !*facts)
		goto nomem;
	json_array_foreach(records, i, rec)
		if (is_python(rec) && json_array_append_new(reqs, json_pack(
			    "{s:b, s:s}", "check", 1, "source",
			    json_string_value(json_object_get(rec,
							      "solution")))))
			goto nomem;
	if (json_array_size(reqs) &&
	    (rc = kiln__mutator_call(reqs, o->python, &replies, err)) != 0)
		goto out;
	json_array_foreach(records, i, rec) {
		const char *sol = json_string_value(json_object_get(rec,
								    "solution"));
		long chars = (long)strlen(sol);
		json_t *f, *banned = json_array();
		int parses;

		if (!banned)
			goto nomem;
		if (is_python(rec)) {
			const json_t *r = json_array_get(replies, k++), *m;
			size_t j;

			parses = json_is_true(json_object_get(r, "parses"));
			json_array_foreach(json_object_get(r, "imports"), j, m)
				if (banned_module(o->banned,
						  json_string_value(m)))
					json_array_append(banned, (json_t *)m);
		} else {
			/* C: a compile error shows in the verdict */
			const json_t *t0 = json_array_get(json_object_get(
				kiln_rec_verdict(rec), "tests"), 0);
			const char *d = json_string_value(json_object_get(t0,
								"detail"));

			parses = !(d && strncmp(d, "compile failed", 14) == 0);
		}
		f = json_pack("{s:b, s:I, s:o}", "parses", parses, "chars",
			      (json_int_t)chars, "banned", banned);
		if (!f || json_array_append_new(*facts, f))
			goto nomem;
	}
	goto out;
nomem:
	rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
out:
	json_decref(reqs);
	json_decref(replies);
	return rc;
}

/* One record's reward field, from what it carries and its static facts. */
static json_t *reward_of(const json_t *rec, json_t *facts,
			 const kiln_reward_opts *o)
{
	const json_t *v = kiln_rec_verdict(rec);
	const json_t *ms = json_object_get(json_object_get(rec, "mutation"),
					   "score");
	const json_t *js = json_object_get(json_object_get(rec, "judge"),
					   "scaled");
	json_int_t passed = json_integer_value(json_object_get(v,
							"tests_passed"));
	json_int_t total = json_integer_value(json_object_get(v,
							"tests_total"));
	long chars = (long)json_integer_value(json_object_get(facts, "chars"));
	int st_ok = json_is_true(json_object_get(facts, "parses")) &&
		    chars >= o->min_chars && chars <= o->max_chars &&
		    json_array_size(json_object_get(facts, "banned")) == 0;
	json_t *comp = json_object(), *missing = json_array(), *r;
	double sum = 0, wsum = 0;
	struct { const char *name; double w; int have; double val; } c[4] = {
		{ "pass", o->w_pass, total > 0 && passed >= 0 &&
		  passed <= total, total > 0 ? (double)passed / (double)total :
		  0 },
		{ "mutation", o->w_mutation, json_is_number(ms),
		  json_number_value(ms) },
		{ "static", o->w_static, 1, st_ok ? 1.0 : 0.0 },
		{ "judge", o->w_judge, json_is_number(js),
		  json_number_value(js) },
	};

	for (int i = 0; comp && missing && i < 4; i++) {
		if (c[i].w <= 0)
			continue;
		if (!c[i].have) {
			json_array_append_new(missing, json_string(c[i].name));
			continue;
		}
		json_object_set_new(comp, c[i].name, json_real(c[i].val));
		sum += c[i].w * c[i].val;
		wsum += c[i].w;
	}
	r = json_pack("{s:o, s:o, s:o, s:O}", "score",
		      wsum > 0 ? json_real(sum / wsum) : json_null(),
		      "components", comp, "missing", missing, "static", facts);
	return r;
}

struct ranked {
	size_t i;
	const char *id;
	double score;
};

static int by_task_then_score(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	if (c)
		return c;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

static const char *const reward_reasons[] = { "low_reward", "top_k",
					      "no_reward", NULL };

int kiln_reward(json_t *records, const kiln_reward_opts *o, kiln_out *out,
		kiln_out *dropped, kiln_stage_stats *st, kiln_error *err)
{
	size_t n = json_array_size(records), i;
	json_t *facts = NULL, *rec;
	const char **why = NULL;
	struct ranked *rk = NULL;
	int rc;

	kiln_stage_stats_init(st, "reward", reward_reasons);
	st->entered = n;
	st->params = json_pack("{s:f, s:f, s:f, s:f, s:I, s:I, s:s, s:f, "
			       "s:i}", "w_pass", o->w_pass, "w_mutation",
			       o->w_mutation, "w_static", o->w_static,
			       "w_judge", o->w_judge, "min_chars",
			       (json_int_t)o->min_chars, "max_chars",
			       (json_int_t)o->max_chars, "banned",
			       o->banned ? o->banned : "", "min_reward",
			       o->min_reward, "top_k", o->top_k);
	json_array_foreach(records, i, rec)
		if (!json_is_string(json_object_get(rec, "solution")))
			return kiln_error_set(err, KILN_EPARSE, "record %zu "
					      "(%s): no \"solution\" (a "
					      "string)", i + 1,
					      json_string_value(json_object_get(
						      rec, "id")) ?
					      json_string_value(json_object_get(
						      rec, "id")) : "no id");
	if ((rc = static_facts(records, o, &facts, err)) != 0)
		goto out;
	why = calloc(n ? n : 1, sizeof(*why));
	rk = calloc(n ? n : 1, sizeof(*rk));
	if (!why || !rk) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(records, i, rec) {
		json_t *r = reward_of(rec, json_array_get(facts, i), o);
		const json_t *s;

		if (!r || json_object_set_new(rec, "reward", r)) {
			rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
			goto out;
		}
		s = json_object_get(r, "score");
		rk[i].i = i;
		rk[i].id = json_string_value(json_object_get(rec, "id"));
		if (!rk[i].id)
			rk[i].id = "";
		rk[i].score = json_is_number(s) ? json_number_value(s) : -1;
		if (!json_is_number(s) && (o->min_reward >= 0 || o->top_k))
			why[i] = "no_reward";
		else if (o->min_reward >= 0 && rk[i].score < o->min_reward)
			why[i] = "low_reward";
	}
	if (o->top_k > 0) {
		/* within each task, the best first: past the k-th of those
		 * still in, top_k */
		qsort(rk, n, sizeof(*rk), by_task_then_score);
		for (size_t a = 0, kept = 0; a < n; a++) {
			if (a && strcmp(rk[a].id, rk[a - 1].id) != 0)
				kept = 0;
			if (why[rk[a].i])
				continue;
			if (kept++ >= (size_t)o->top_k)
				why[rk[a].i] = "top_k";
		}
	}
	json_array_foreach(records, i, rec) {
		if (!why[i]) {
			st->kept++;
			rc = kiln_out_write(out, rec, err);
		} else {
			json_t *d = kiln_stage_mark(rec, "reward", why[i]);

			kiln_stage_drop(st, why[i]);
			if (!d) {
				rc = kiln_error_set(err, KILN_ENOMEM,
						    "out of memory");
				goto out;
			}
			json_object_set(d, "score", json_object_get(
				json_object_get(rec, "reward"), "score"));
			rc = dropped ? kiln_out_write(dropped, rec, err) : 0;
		}
		if (rc)
			goto out;
	}
out:
	json_decref(facts);
	free(why);
	free(rk);
	return rc;
}
