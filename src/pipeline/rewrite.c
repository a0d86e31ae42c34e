/* kiln rewrite (kiln/rewrite.h): critique, revise, re-verify, per
 * principle of a constitution.
 *
 * The run is a sequence of rounds over all records at once:
 *
 *   round 0       kiln runs every original's tests (kiln_verify_each) and
 *                 the mutation score of those that pass: the baseline, and
 *                 which records are rewritten at all;
 *   round p >= 1  principle p on the teacher engine: begin adds the
 *                 critique of the current solution, settled the revision
 *                 built from the critique, complete extracts the code;
 *                 then the revisions' tests run in parallel boxes, the
 *                 mutation scores of those that pass, the judge (if any),
 *                 and each record keeps its revision or rolls it back.
 *
 * Batching each phase over all records keeps the boxes and the HTTP loop
 * busy, and keeps the sandbox work off the engine's store thread. The
 * requests of round p are a function of the records and of the outcomes
 * of the rounds before it, so a resumed run finds them in the store.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln/code.h"
#include "kiln/rewrite.h"
#include "kiln/template.h"
#include "kiln/verify.h"
#include "pipeline/pipeline_int.h"

extern const char kiln__constitution[];

const char *kiln_constitution_default(void)
{
	return kiln__constitution;
}

void kiln_rewrite_opts_default(kiln_rewrite_opts *o)
{
	memset(o, 0, sizeof(*o));
	kiln_generate_opts_default(&o->g);
	o->g.temperature = 0.2;
	kiln_mutation_opts_default(&o->m);
	kiln_judge_opts_default(&o->j);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------ the constitution */

/* 1 when line[0, len) is "[...]" (trailing blanks allowed): a header. */
static int is_header(const char *line, size_t len)
{
	while (len && isspace((unsigned char)line[len - 1]))
		len--;
	return len >= 2 && line[0] == '[' && line[len - 1] == ']';
}

static char *trimmed_dup(const char *p, const char *end)
{
	char *s;

	while (p < end && isspace((unsigned char)*p))
		p++;
	while (end > p && isspace((unsigned char)end[-1]))
		end--;
	if (!(s = malloc((size_t)(end - p) + 1)))
		return NULL;
	memcpy(s, p, (size_t)(end - p));
	s[end - p] = '\0';
	return s;
}

void kiln_constitution_free(kiln_principle *p, size_t n)
{
	for (size_t i = 0; p && i < n; i++)
		free(p[i].text);
	free(p);
}

int kiln_constitution_parse(const char *text, kiln_principle **out,
			    size_t *n, kiln_error *err)
{
	kiln_principle *p = calloc(KILN_REWRITE_MAX_PRINCIPLES, sizeof(*p));
	const char *line = text, *body = NULL;
	long lineno = 0, at = 0;
	size_t np = 0;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (!p)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	for (;;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		int last = !nl, head = is_header(line, len);

		lineno++;
		if ((head || last) && body) {
			/* the principle before ends here */
			const char *end = head ? line : line + len;

			if (!(p[np - 1].text = trimmed_dup(body, end))) {
				rc = kiln_error_set(err, KILN_ENOMEM,
						    "out of memory");
				goto out;
			}
			if (!p[np - 1].text[0]) {
				rc = kiln_error_set(err, KILN_EPARSE,
						    "constitution: line %ld: "
						    "principle [%s] has no "
						    "text", at, p[np - 1].name);
				goto out;
			}
			body = NULL;
		}
		if (head) {
			size_t k, nlen = len;

			while (isspace((unsigned char)line[nlen - 1]))
				nlen--;
			nlen -= 2;   /* the brackets */
			if (np == KILN_REWRITE_MAX_PRINCIPLES) {
				rc = kiln_error_set(err, KILN_EPARSE,
						    "constitution: line %ld: "
						    "more than %d principles",
						    lineno,
						    KILN_REWRITE_MAX_PRINCIPLES);
				goto out;
			}
			for (k = 0; k < nlen; k++)
				if (!isalnum((unsigned char)line[1 + k]) &&
				    line[1 + k] != '-' && line[1 + k] != '_')
					break;
			if (nlen == 0 || k < nlen ||
			    nlen >= KILN_REWRITE_NAME_MAX) {
				rc = kiln_error_set(err, KILN_EPARSE,
						    "constitution: line %ld: "
						    "%.*s: a principle's name is "
						    "1 to %d letters, digits, "
						    "'-' or '_'", lineno,
						    (int)(len > 80 ? 80 : len),
						    line,
						    KILN_REWRITE_NAME_MAX - 1);
				goto out;
			}
			memcpy(p[np].name, line + 1, nlen);
			p[np].name[nlen] = '\0';
			for (k = 0; k < np; k++)
				if (strcmp(p[k].name, p[np].name) == 0) {
					rc = kiln_error_set(err, KILN_EPARSE,
							    "constitution: "
							    "line %ld: [%s] "
							    "again", lineno,
							    p[np].name);
					goto out;
				}
			np++;
			at = lineno;
			body = nl ? nl + 1 : line + len;
			if (last && !(p[np - 1].text = strdup(""))) {
				rc = kiln_error_set(err, KILN_ENOMEM,
						    "out of memory");
				goto out;
			}
			if (last) {
				rc = kiln_error_set(err, KILN_EPARSE,
						    "constitution: line %ld: "
						    "principle [%s] has no "
						    "text", at, p[np - 1].name);
				goto out;
			}
		}
		if (last)
			break;
		line = nl + 1;
	}
	if (np == 0) {
		rc = kiln_error_set(err, KILN_EPARSE, "constitution: no "
				    "principle (a line \"[name]\" and its "
				    "text)");
		goto out;
	}
	*out = p;
	*n = np;
	return 0;
out:
	kiln_constitution_free(p, np);
	return rc;
}

/* ---------------------------------------------------------------- state */

struct rrec {
	const json_t *in;     /* the input record (the caller's) */
	json_t *cur;          /* the current version (owned): in's fields,
			       * the current solution, no verdict */
	json_t *verdict;      /* the current version's verdict (kiln's) */
	json_t *mutation;     /* its "mutation" field, or NULL */
	double score;         /* its mutation score; -1: none */
	json_t *orig_verdict; /* the original's, for the provenance */
	double orig_score;
	int eligible, accepted;
	char *unit;           /* the engine's unit id */
	json_t *principles;   /* the outcomes so far */
	/* this round's */
	char *critique;
	json_t *rev;          /* the revision's record, or NULL */
	json_t *rev_verdict;
	double rev_score;
	double judge_cur, judge_rev;  /* -1: missing */
	const char *outcome;
	char reason[300];
};

struct rw {
	const kiln_rewrite_opts *o;
	kiln_rewrite_stats *st;
	struct rrec *r;
	size_t n;
	kiln_principle *pr;
	size_t np, p;          /* the principles; the current one */
	size_t *units;         /* unit -> record */
	size_t nunits;
	const char *tmpl_critique, *tmpl_revise;
	kiln_mutation_opts mo;
};

static void phase(struct rw *W, const char *what)
{
	if (W->o->progress)
		W->o->progress(W->o->ctx, what, W->st);
}

/* The fields of a record that belong to one version of its solution. */
static const char *const version_fields[] = {
	"verdict", "mutation", "judge", "reward", "dropped", "rewrite", NULL
};

static json_t *version_of(const json_t *rec, const char *solution)
{
	json_t *v = json_copy((json_t *)rec);   /* shallow */

	if (!v)
		return NULL;
	for (int i = 0; version_fields[i]; i++)
		json_object_del(v, version_fields[i]);
	if (solution && json_object_set_new(v, "solution",
					    json_string(solution))) {
		json_decref(v);
		return NULL;
	}
	return v;
}

/* -------------------------------------------------------- the sandbox */

struct vrun {
	json_t *recs, *verdicts;
	size_t next;
};

static int vrun_next(void *ctx, json_t **rec, kiln_error *err)
{
	struct vrun *V = ctx;

	(void)err;
	if (V->next >= json_array_size(V->recs))
		return KILN_EEOF;
	*rec = json_incref(json_array_get(V->recs, V->next++));
	return 0;
}

static int vrun_verdict(void *ctx, const json_t *rec, json_t *verdict,
			kiln_error *err)
{
	struct vrun *V = ctx;

	(void)rec;
	if (json_array_append(V->verdicts, verdict))
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	return 0;
}

static int passes(const json_t *v)
{
	const char *s = json_string_value(json_object_get(v, "status"));

	return s && strcmp(s, "pass") == 0 &&
	       json_integer_value(json_object_get(v, "tests_total")) > 0;
}

static double score_of(const json_t *rec)
{
	const json_t *s = json_object_get(json_object_get(rec, "mutation"),
					  "score");

	return json_is_number(s) ? json_number_value(s) : -1;
}

/* Runs the tests of recs[i] (records' versions) in the sandbox into
 * verdicts[i], then the mutation score of those that pass (each gets its
 * "mutation" field). */
static int check(struct rw *W, json_t *recs, json_t **verdicts,
		 kiln_error *err)
{
	kiln_verify_io io = { .next = vrun_next, .verdict = vrun_verdict };
	kiln_verify_opts vo = W->o->m.verify;
	kiln_verify_stats vst;
	kiln_mutation_stats mst;
	struct vrun V = { .recs = recs, .verdicts = json_array() };
	json_t *pass = json_array(), *v;
	double t0 = now_s();
	size_t i;
	int rc;

	*verdicts = NULL;
	memset(&mst, 0, sizeof(mst));
	if (!V.verdicts || !pass) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		goto out;
	}
	io.ctx = &V;
	vo.carry = 0;
	vo.references = NULL;
	vo.timeout_factor = 0;
	vo.progress = NULL;
	vo.bad_line = NULL;
	vo.stop = NULL;
	if (json_array_size(recs) &&
	    (rc = kiln_verify_each(&io, &vo, &vst, err)))
		goto out;
	if (json_array_size(V.verdicts) != json_array_size(recs)) {
		rc = kiln_error_set(err, KILN_EIO, "the sandbox gave %zu "
				    "verdicts for %zu records",
				    json_array_size(V.verdicts),
				    json_array_size(recs));
		goto out;
	}
	json_array_foreach(V.verdicts, i, v)
		if (passes(v) && json_array_append(pass,
						   json_array_get(recs, i))) {
			rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
			goto out;
		}
	rc = json_array_size(pass) ?
	     kiln_mutation_score_records(pass, &W->mo, &mst, err) : 0;
	kiln_stage_stats_free(&mst.stage);
	if (!rc) {
		*verdicts = V.verdicts;
		V.verdicts = NULL;
	}
out:
	W->st->sandbox_seconds += now_s() - t0;
	json_decref(V.verdicts);
	json_decref(pass);
	return rc;
}

/* ----------------------------------------------------- the teacher */

static void add_req(kiln_teacher_stats *sum, const kiln_teacher_stats *s)
{
	sum->jobs += s->jobs;
	sum->already += s->already;
	sum->failed_before += s->failed_before;
	sum->cached += s->cached;
	sum->sent += s->sent;
	sum->failed += s->failed;
	sum->input_tokens += s->input_tokens;
	sum->output_tokens += s->output_tokens;
	sum->usage_unknown += s->usage_unknown;
	sum->seconds += s->seconds;
	if (!sum->first_error[0])
		memcpy(sum->first_error, s->first_error,
		       sizeof(sum->first_error));
	sum->resumable = s->resumable;
}

static const char *unit_id(void *ctx, size_t u)
{
	struct rw *W = ctx;

	return W->r[W->units[u]].unit;
}

/* The request for template tmpl over r's current version, with the
 * principle (and the critique, when not NULL) set. */
static int add_request(struct rw *W, kiln_teacher *t, size_t u,
		       const char *tmpl, const char *kind,
		       const char *critique, kiln_error *err)
{
	struct rrec *r = &W->r[W->units[u]];
	json_t *vars = json_copy(r->cur);
	char *prompt = NULL, *body;

	if (!vars || json_object_set_new(vars, "principle", json_string(
		    W->pr[W->p].text)) || (critique && json_object_set_new(
		    vars, "critique", json_string(critique)))) {
		json_decref(vars);
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	}
	prompt = kiln_template_render(tmpl, vars, err);
	json_decref(vars);
	if (!prompt)
		return err->code ? err->code : KILN_ENOMEM;
	body = kiln__request_body(&W->o->g, prompt, W->o->g.seed, 1);
	free(prompt);
	if (!body)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	return kiln_teacher_add(t, u, kind, (int)W->p, body, 0, err);
}

static int begin(void *ctx, kiln_teacher *t, size_t u, kiln_error *err)
{
	struct rw *W = ctx;

	return add_request(W, t, u, W->tmpl_critique, "critique", NULL, err);
}

/* The revision, once the critique is there. */
static int settled(void *ctx, kiln_teacher *t, size_t u,
		   const kiln_teacher_slot *slots, size_t n, kiln_error *err)
{
	struct rw *W = ctx;
	const char *text;
	char *critique;
	int rc;

	if (n != 1 || !slots[0].answer)
		return 0;
	text = kiln__answer_text(slots[0].answer, W->o->g.completions);
	if (!text)
		return 0;
	/* slots may move when a request is added */
	if (!(critique = strdup(text)))
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	rc = add_request(W, t, u, W->tmpl_revise, "revise", critique, err);
	free(critique);
	return rc;
}

/* a and b equal but for blanks at their ends */
static int same_code(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	while (*a && isspace((unsigned char)*a))
		a++, la--;
	while (*b && isspace((unsigned char)*b))
		b++, lb--;
	while (la && isspace((unsigned char)a[la - 1]))
		la--;
	while (lb && isspace((unsigned char)b[lb - 1]))
		lb--;
	return la == lb && memcmp(a, b, la) == 0;
}

static void outcome(struct rrec *r, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void outcome(struct rrec *r, const char *what, const char *fmt, ...)
{
	va_list ap;

	r->outcome = what;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
}

static int complete(void *ctx, size_t u, const kiln_teacher_slot *slots,
		    size_t n, kiln_error *err)
{
	struct rw *W = ctx;
	struct rrec *r = &W->r[W->units[u]];
	int completions = W->o->g.completions;
	const char *ct = n > 0 && slots[0].answer ?
			 kiln__answer_text(slots[0].answer, completions) : NULL;
	const char *rt = n > 1 && slots[1].answer ?
			 kiln__answer_text(slots[1].answer, completions) : NULL;
	const char *cur = json_string_value(json_object_get(r->cur,
							    "solution"));
	kiln_extracted ex;
	kiln_error why = { 0 };

	if (ct && !(r->critique = strdup(ct)))
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	if (!ct) {
		outcome(r, "failed", "%s", n > 0 && slots[0].failed ?
			"the critique request failed (its error is in the "
			"store)" : "the critique answer has no text");
		return 0;
	}
	if (!rt) {
		outcome(r, "failed", "%s", n > 1 && slots[1].failed ?
			"the revision request failed (its error is in the "
			"store)" : "the revision answer has no text");
		return 0;
	}
	if (kiln_extract_code(rt, strlen(rt), json_string_value(
		json_object_get(r->cur, "language")), &ex, &why)) {
		outcome(r, "failed", "no code in the revision: %s", why.msg);
		return 0;
	}
	if (same_code(ex.code, cur ? cur : "")) {
		outcome(r, "no_change", "the revision is the solution again");
		free(ex.code);
		return 0;
	}
	r->rev = version_of(r->cur, ex.code);
	free(ex.code);
	if (!r->rev)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	return 0;
}

/* The critiques and revisions of principle W->p. */
static int ask(struct rw *W, kiln_store *store, kiln_error *err)
{
	const kiln_rewrite_opts *o = W->o;
	kiln_teacher_opts to;
	kiln_teacher_stats ts;
	int rc;

	W->nunits = 0;
	for (size_t i = 0; i < W->n; i++)
		if (W->r[i].eligible)
			W->units[W->nunits++] = i;
	if (!W->nunits)
		return 0;
	kiln_teacher_opts_default(&to);
	to.llm = o->g.llm;
	to.path = o->g.completions ? "/completions" : "/chat/completions";
	to.no_cache = o->g.no_cache;
	to.retry_failed = o->g.retry_failed;
	to.units = W->nunits;
	to.unit_id = unit_id;
	to.begin = begin;
	to.settled = settled;
	to.complete = complete;
	to.ctx = W;
	memset(&ts, 0, sizeof(ts));
	rc = kiln_teacher_run(&to, store, &ts, err);
	add_req(&W->st->req, &ts);
	return rc;
}

/* ------------------------------------------------------------ a round */

/* The judge's scores of the current version and the revision of each
 * record in cand[0, m). */
static int judge(struct rw *W, kiln_store *store, const size_t *cand,
		 size_t m, kiln_error *err)
{
	kiln_judge_stats jst;
	json_t *pairs = json_array();
	int rc;

	if (!pairs)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	for (size_t k = 0; k < m; k++) {
		struct rrec *r = &W->r[cand[k]];

		if (json_array_append_new(pairs, version_of(r->cur, NULL)) ||
		    json_array_append_new(pairs, version_of(r->rev, NULL))) {
			json_decref(pairs);
			return kiln_error_set(err, KILN_ENOMEM,
					      "out of memory");
		}
	}
	rc = kiln_judge(pairs, store, NULL, &W->o->j, &jst, err);
	add_req(&W->st->judge, &jst.req);
	for (size_t k = 0; !rc && k < m; k++) {
		struct rrec *r = &W->r[cand[k]];
		const json_t *a = json_object_get(json_object_get(
			json_array_get(pairs, 2 * k), "judge"), "score");
		const json_t *b = json_object_get(json_object_get(
			json_array_get(pairs, 2 * k + 1), "judge"), "score");

		r->judge_cur = json_is_number(a) ? json_number_value(a) : -1;
		r->judge_rev = json_is_number(b) ? json_number_value(b) : -1;
	}
	json_decref(pairs);
	return rc;
}

static void accept(struct rrec *r, const json_t *mutation)
{
	json_decref(r->cur);
	json_decref(r->verdict);
	json_decref(r->mutation);
	r->cur = r->rev;
	r->verdict = r->rev_verdict;
	r->mutation = json_incref((json_t *)mutation);
	r->score = r->rev_score;
	r->rev = r->rev_verdict = NULL;
	r->accepted = 1;
}

/* Re-verifies this round's revisions and decides. */
static int decide(struct rw *W, kiln_store *store, kiln_error *err)
{
	json_t *revs = json_array(), *verdicts = NULL;
	size_t *cand = calloc(W->n ? W->n : 1, sizeof(*cand)), m = 0, k;
	int rc = 0, judging = W->o->j.g.llm.base_url != NULL;

	if (!revs || !cand) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < W->n; i++)
		if (W->r[i].rev) {
			cand[m++] = i;
			if (json_array_append(revs, W->r[i].rev)) {
				rc = kiln_error_set(err, KILN_ENOMEM,
						    "out of memory");
				goto out;
			}
		}
	W->st->revisions += (long)m;
	if ((rc = check(W, revs, &verdicts, err)))
		goto out;
	/* the tests, then the mutation score */
	for (k = 0; k < m; k++) {
		struct rrec *r = &W->r[cand[k]];
		const json_t *v = json_array_get(verdicts, k);
		const char *status = json_string_value(json_object_get(v,
								       "status"));

		r->rev_verdict = json_incref((json_t *)v);
		r->rev_score = score_of(r->rev);
		if (!passes(v))
			outcome(r, "rolled_back", "the revision fails its "
				"tests: %s, %lld of %lld passed", status ?
				status : "no status",
				(long long)json_integer_value(json_object_get(
					v, "tests_passed")),
				(long long)json_integer_value(json_object_get(
					v, "tests_total")));
		else if (r->score >= 0 && r->rev_score < 0)
			outcome(r, "rolled_back", "the revision's mutation "
				"score cannot be computed (%s); the current "
				"one is %.3f", json_string_value(
					json_object_get(json_object_get(r->rev,
						"mutation"), "error")) ?
				json_string_value(json_object_get(
					json_object_get(r->rev, "mutation"),
					"error")) : "no score", r->score);
		else if (r->rev_score < r->score)
			outcome(r, "rolled_back", "the mutation score drops "
				"from %.3f to %.3f", r->score, r->rev_score);
	}
	/* the judge, over the revisions still in the running */
	if (judging) {
		size_t j = 0;

		for (k = 0; k < m; k++)
			if (!W->r[cand[k]].outcome)
				cand[j++] = cand[k];
		m = j;
		phase(W, "the judge");
		if (m && (rc = judge(W, store, cand, m, err)))
			goto out;
		for (k = 0; k < m; k++) {
			struct rrec *r = &W->r[cand[k]];

			if (r->judge_cur < 0 || r->judge_rev < 0)
				outcome(r, "rolled_back", "the judge's score "
					"of the %s is missing",
					r->judge_rev < 0 ? "revision" :
					"current solution");
			else if (!(r->judge_rev > r->judge_cur))
				outcome(r, "rolled_back", "the judge does not "
					"prefer the revision (%g, the current "
					"solution %g)", r->judge_rev,
					r->judge_cur);
		}
	}
	for (k = 0; k < m; k++) {
		struct rrec *r = &W->r[cand[k]];

		if (r->outcome)
			continue;
		if (r->score < 0 && r->rev_score < 0)
			outcome(r, "accepted", "every test passes; neither "
				"version has a mutation score");
		else
			outcome(r, "accepted", "every test passes; mutation "
				"score %.3f -> %.3f", r->score < 0 ? 0.0 :
				r->score, r->rev_score);
	}
out:
	json_decref(revs);
	json_decref(verdicts);
	free(cand);
	return rc;
}

/* Records this round's outcome of each eligible record, and clears the
 * round's state. */
static int settle_round(struct rw *W, kiln_error *err)
{
	kiln_rewrite_principle_stats *ps = &W->st->per[W->p];

	for (size_t i = 0; i < W->n; i++) {
		struct rrec *r = &W->r[i];
		json_t *o;

		if (!r->eligible)
			continue;
		ps->attempted++;
		if (!r->outcome)
			outcome(r, "failed", "no outcome");
		if (strcmp(r->outcome, "accepted") == 0) {
			json_t *mut = json_object_get(r->rev, "mutation");

			ps->accepted++;
			json_incref(mut);
			json_object_del(r->rev, "mutation");
			accept(r, mut);
			json_decref(mut);
		} else if (strcmp(r->outcome, "rolled_back") == 0) {
			ps->rolled_back++;
		} else if (strcmp(r->outcome, "no_change") == 0) {
			ps->no_change++;
		} else {
			ps->failed++;
		}
		o = json_pack("{s:s, s:s, s:s}", "name", W->pr[W->p].name,
			      "outcome", r->outcome, "reason", r->reason);
		if (o && r->rev_verdict && r->rev_score >= 0)
			json_object_set_new(o, "mutation_score",
					    json_real(r->rev_score));
		if (o && r->critique)
			json_object_set_new(o, "critique",
					    json_string(r->critique));
		if (!o || json_array_append_new(r->principles, o))
			return kiln_error_set(err, KILN_ENOMEM,
					      "out of memory");
		free(r->critique);
		json_decref(r->rev);
		json_decref(r->rev_verdict);
		r->critique = NULL;
		r->rev = r->rev_verdict = NULL;
		r->outcome = NULL;
		r->reason[0] = '\0';
		r->judge_cur = r->judge_rev = -1;
	}
	return 0;
}

/* ------------------------------------------------------------ the run */

/* The original of every record: its tests and mutation score. */
static int baseline(struct rw *W, kiln_error *err)
{
	json_t *recs = json_array(), *verdicts = NULL;
	int rc;

	if (!recs)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	for (size_t i = 0; i < W->n; i++)
		if (json_array_append(recs, W->r[i].cur)) {
			json_decref(recs);
			return kiln_error_set(err, KILN_ENOMEM,
					      "out of memory");
		}
	rc = check(W, recs, &verdicts, err);
	for (size_t i = 0; !rc && i < W->n; i++) {
		struct rrec *r = &W->r[i];

		r->verdict = json_incref(json_array_get(verdicts, i));
		r->orig_verdict = json_incref(r->verdict);
		r->eligible = passes(r->verdict);
		r->score = r->orig_score = score_of(r->cur);
		r->mutation = json_incref(json_object_get(r->cur, "mutation"));
		json_object_del(r->cur, "mutation");
		if (!r->eligible)
			W->st->skipped++;
	}
	json_decref(recs);
	json_decref(verdicts);
	return rc;
}

/* A verdict as kiln verify --carry writes it in a record. */
static json_t *carried(const json_t *v)
{
	json_t *c = json_copy((json_t *)v);

	if (c) {
		json_object_del(c, "id");
		json_object_del(c, "candidate");
	}
	return c;
}

static json_t *output_record(const struct rw *W, const struct rrec *r)
{
	json_t *rec = json_copy((json_t *)r->in), *rw, *orig;
	const char *model = W->o->g.model ? W->o->g.model : "default";

	if (!rec)
		return NULL;
	orig = json_pack("{s:O, s:o, s:o}", "solution",
			 json_object_get(r->in, "solution"), "verdict",
			 carried(r->orig_verdict), "mutation_score",
			 r->orig_score >= 0 ? json_real(r->orig_score) :
			 json_null());
	rw = json_pack("{s:b, s:s, s:s, s:O, s:o}", "accepted", r->accepted,
		       "unit", r->unit, "model", model,
		       "principles", r->principles, "original", orig);
	if (!rw)
		goto fail;
	if (!r->eligible)
		json_object_set_new(rw, "skipped", json_string(
			"the original does not pass its tests (kiln ran "
			"them)"));
	json_object_set_new(rw, "mutation_score", r->score >= 0 ?
			    json_real(r->score) : json_null());
	if (r->accepted) {
		json_object_del(rec, "judge");
		json_object_del(rec, "reward");
		if (json_object_set(rec, "solution", json_object_get(
			    r->cur, "solution")) ||
		    json_object_set_new(rec, "verdict", carried(r->verdict)))
			goto fail;
		if (r->mutation)
			json_object_set(rec, "mutation", r->mutation);
		else
			json_object_del(rec, "mutation");
	}
	if (json_object_set_new(rec, "rewrite", rw))
		goto fail2;
	return rec;
fail:
	json_decref(rw);
fail2:
	json_decref(rec);
	return NULL;
}

static int check_input(const json_t *records, const kiln_rewrite_opts *o,
		       const char *tc, const char *tr, kiln_error *err)
{
	const json_t *rec;
	size_t i;
	int rc;

	if ((rc = kiln_template_check(tc, "the critique template", err)) ||
	    (rc = kiln_template_check(tr, "the revision template", err)))
		return rc;
	if (o->j.g.llm.base_url && !(o->j.lo < o->j.hi))
		return kiln_error_set(err, KILN_EINVAL, "judge: the scale "
				      "[%g, %g] is empty", o->j.lo, o->j.hi);
	json_array_foreach(records, i, rec) {
		const char *id = json_string_value(json_object_get(rec, "id"));

		if (!json_is_string(json_object_get(rec, "solution")))
			return kiln_error_set(err, KILN_EPARSE, "record %zu "
					      "(%s): no \"solution\" (a "
					      "string) to rewrite", i + 1,
					      id ? id : "no id");
	}
	return 0;
}

int kiln_rewrite(const json_t *records, kiln_store *store, kiln_out *out,
		 const kiln_rewrite_opts *o, kiln_rewrite_stats *st,
		 kiln_error *err)
{
	struct rw W = { .o = o, .st = st };
	size_t n = json_array_size(records), i;
	double t0 = now_s();
	int rc;

	memset(st, 0, sizeof(*st));
	st->records = (long)n;
	W.tmpl_critique = o->tmpl_critique ? o->tmpl_critique :
			  kiln_template_default("critique");
	W.tmpl_revise = o->tmpl_revise ? o->tmpl_revise :
			kiln_template_default("revise");
	if ((rc = check_input(records, o, W.tmpl_critique, W.tmpl_revise,
			      err)))
		return rc;
	if ((rc = kiln_constitution_parse(o->constitution ? o->constitution :
					  kiln_constitution_default(), &W.pr,
					  &W.np, err)))
		return rc;
	st->nprinciples = W.np;
	for (i = 0; i < W.np; i++)
		memcpy(st->per[i].name, W.pr[i].name, sizeof(st->per[i].name));
	W.mo = o->m;
	if (!W.mo.python)
		W.mo.python = W.mo.verify.box.python;
	W.mo.mutants_out = NULL;
	W.n = n;
	W.r = calloc(n ? n : 1, sizeof(*W.r));
	W.units = calloc(n ? n : 1, sizeof(*W.units));
	if (!W.r || !W.units) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct rrec *r = &W.r[i];
		const char *id;
		size_t len;

		r->in = json_array_get(records, i);
		id = json_string_value(json_object_get(r->in, "id"));
		len = (id ? strlen(id) : 0) + 32;
		r->judge_cur = r->judge_rev = -1;
		r->cur = version_of(r->in, NULL);
		r->principles = json_array();
		if ((r->unit = malloc(len)))
			/* one unit per record, whatever its id: two
			 * candidates of a task are rewritten apart */
			snprintf(r->unit, len, "%s#rewrite%zu", id ? id : "",
				 i);
		if (!r->cur || !r->principles || !r->unit) {
			rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
			goto out;
		}
	}
	phase(&W, "verify the originals");
	if ((rc = baseline(&W, err)))
		goto out;
	for (W.p = 0; W.p < W.np; W.p++) {
		char what[KILN_REWRITE_NAME_MAX + 128];

		snprintf(what, sizeof(what), "principle %zu of %zu: %s",
			 W.p + 1, W.np, W.pr[W.p].name);
		phase(&W, what);
		if ((rc = ask(&W, store, err)) || (rc = decide(&W, store, err)) ||
		    (rc = settle_round(&W, err)))
			goto out;
	}
	for (i = 0; i < n; i++) {
		json_t *rec = output_record(&W, &W.r[i]);

		st->accepted += W.r[i].accepted;
		if (!rec) {
			rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
			goto out;
		}
		rc = out ? kiln_out_write(out, rec, err) : 0;
		json_decref(rec);
		if (rc)
			goto out;
	}
out:
	for (i = 0; W.r && i < n; i++) {
		struct rrec *r = &W.r[i];

		json_decref(r->cur);
		json_decref(r->verdict);
		json_decref(r->mutation);
		json_decref(r->orig_verdict);
		json_decref(r->principles);
		json_decref(r->rev);
		json_decref(r->rev_verdict);
		free(r->critique);
		free(r->unit);
	}
	free(W.r);
	free(W.units);
	kiln_constitution_free(W.pr, W.np);
	st->seconds = now_s() - t0;
	return rc;
}
