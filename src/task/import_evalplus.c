/* HumanEval+ (evalplus) records as kiln tasks; see kiln/evalplus.h.
 *
 * Reading: the record's JSON text is walked at its top level; base_input
 * and plus_input are converted to Python argument texts by util/pylit.c
 * (integers of any size stay as written) and replaced by [] in a copy of
 * the line, which jansson then reads for the other fields.
 *
 * Expected outputs: each task's solution runs in the sandbox (through
 * kiln_verify_each, as any record) with one code test per input,
 * "_kiln_out(f(ARGS))", and a judge-side set-up (PROBE below) whose
 * _kiln_out raises AssertionError("KILN <float?> <length> <text>") with
 * the output's Python literal: the verdict's test detail carries it back.
 * A detail holds 300 characters, so a literal longer than PIECE is
 * fetched again by a second job: the probe, then _kiln_part(k) for each
 * further piece (the judge keeps the last literal between tests).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln/evalplus.h"
#include "kiln/jsonl.h"
#include "kiln/task.h"
#include "kiln/utf8.h"
#include "task/task_int.h"
#include "util/buf.h"
#include "util/pylit.h"

#define ARGS_MAX (64u << 20)   /* bytes of one input as Python text */
#define PIECE 256              /* characters of a literal per detail */
/* The longest expected output kept, in characters: one job's details
 * (4 MiB, at worst 6 bytes a character as JSON escapes) carry it, and a
 * task of a thousand inputs stays within a JSON Lines line (64 MiB).
 * HumanEval/15's string_sequence(10**6) (6.9 MB) is over it. */
#define EXPECT_MAX_CHARS 500000
#define EXPECT_MAX (8u << 20)  /* bytes of one expected output */
#define MARK "AssertionError: KILN "

/* ---------------------------------------------------------------- reading */

static int field_is(const char *tok, size_t n, const char *key)
{
	size_t k = strlen(key);

	return n == k + 2 && tok[0] == '"' && memcmp(tok + 1, key, k) == 0 &&
	       tok[k + 1] == '"';
}

static size_t skip_blanks(const char *s, size_t len, size_t pos)
{
	while (pos < len && (s[pos] == ' ' || s[pos] == '\t' ||
			     s[pos] == '\n' || s[pos] == '\r'))
		pos++;
	return pos;
}

static int build_task(const json_t *obj, char **base, size_t nbase,
		      char **plus, size_t nplus, json_t **out,
		      kiln_error *err);

int kiln_evalplus_parse_line(const char *line, size_t len, json_t **task,
			     kiln_error *err)
{
	char **lists[2] = { NULL, NULL };
	size_t counts[2] = { 0, 0 }, span[2][2] = { { 0, 0 }, { 0, 0 } };
	int have[2] = { 0, 0 };
	static const char *const keys[2] = { "base_input", "plus_input" };
	char *copy = NULL;
	json_t *obj = NULL;
	size_t pos, used, k;
	long badbyte;
	int rc = 0;

	*task = NULL;
	if (memchr(line, '\0', len))
		return kiln_error_set(err, KILN_EPARSE, "a NUL byte in the "
				      "line");
	if ((badbyte = kiln_utf8_check(line, len)) >= 0)
		return kiln_error_set(err, KILN_EPARSE, "invalid UTF-8 at "
				      "byte %ld", badbyte + 1);
	pos = skip_blanks(line, len, 0);
	if (pos >= len || line[pos] != '{')
		return kiln_error_set(err, KILN_EPARSE,
				      "expected a JSON object on the line");
	pos = skip_blanks(line, len, pos + 1);
	if (pos < len && line[pos] == '}')
		pos++;
	else
		for (;;) {
			size_t kstart = pos, klen;
			int which = -1;

			if (pos >= len || line[pos] != '"') {
				rc = kiln_error_set(err, KILN_EPARSE, "byte "
						    "%zu: a key expected",
						    pos + 1);
				goto out;
			}
			if ((rc = kiln__pylit_value(line + pos, len - pos,
						    &used, NULL, err)))
				goto out;
			klen = used;
			pos = skip_blanks(line, len, pos + used);
			if (pos >= len || line[pos] != ':') {
				rc = kiln_error_set(err, KILN_EPARSE, "byte "
						    "%zu: ':' expected",
						    pos + 1);
				goto out;
			}
			pos = skip_blanks(line, len, pos + 1);
			for (int i = 0; i < 2; i++)
				if (field_is(line + kstart, klen, keys[i]))
					which = i;
			if (which >= 0 && have[which]) {
				rc = kiln_error_set(err, KILN_EPARSE,
						    "duplicate key '%s'",
						    keys[which]);
				goto out;
			}
			if (which >= 0) {
				rc = kiln__pylit_arglists(line + pos,
					len - pos, &used, ARGS_MAX,
					&lists[which], &counts[which], err);
				if (rc) {
					kiln_error_prefix(err, "field '%s': ",
							  keys[which]);
					goto out;
				}
				have[which] = 1;
				span[which][0] = pos;
				span[which][1] = pos + used;
			} else if ((rc = kiln__pylit_value(line + pos,
						len - pos, &used, NULL,
						err))) {
				goto out;
			}
			pos = skip_blanks(line, len, pos + used);
			if (pos < len && line[pos] == '}') {
				pos++;
				break;
			}
			if (pos >= len || line[pos] != ',') {
				rc = kiln_error_set(err, KILN_EPARSE, "byte "
						    "%zu: ',' or '}' expected",
						    pos + 1);
				goto out;
			}
			pos = skip_blanks(line, len, pos + 1);
		}
	if (skip_blanks(line, len, pos) != len) {
		rc = kiln_error_set(err, KILN_EPARSE, "byte %zu: text after "
				    "the object", pos + 1);
		goto out;
	}
	/* The rest of the record, with the inputs as [], through jansson
	 * (which refuses duplicate keys and any other big number). */
	copy = malloc(len + 1);
	if (!copy) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		goto out;
	}
	k = 0;
	{
		size_t from = 0;
		int order[2] = { 0, 1 };

		if (have[0] && have[1] && span[1][0] < span[0][0])
			order[0] = 1, order[1] = 0;
		for (int j = 0; j < 2; j++) {
			int i = order[j];
			if (!have[i])
				continue;
			memcpy(copy + k, line + from, span[i][0] - from);
			k += span[i][0] - from;
			memcpy(copy + k, "[]", 2);
			k += 2;
			from = span[i][1];
		}
		memcpy(copy + k, line + from, len - from);
		k += len - from;
	}
	if ((rc = kiln_jsonl_parse_line(copy, k, &obj, err)))
		goto out;
	if (!have[0] && !have[1]) {
		rc = kiln_error_set(err, KILN_EPARSE, "no 'base_input' or "
				    "'plus_input' (not an evalplus record?)");
		goto out;
	}
	rc = build_task(obj, lists[0], counts[0], lists[1], counts[1], task,
			err);
out:
	json_decref(obj);
	free(copy);
	kiln__pylit_free_list(lists[0], counts[0]);
	kiln__pylit_free_list(lists[1], counts[1]);
	return rc;
}

int kiln__import_evalplus_record(const json_t *in, json_t **task,
				 kiln_error *err)
{
	char *s = json_dumps(in, JSON_COMPACT);
	int rc;

	*task = NULL;
	if (!s)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	rc = kiln_evalplus_parse_line(s, strlen(s), task, err);
	free(s);
	return rc;
}

/* One input's test: an I/O test {"call"} whose expect the sandbox gives
 * later, or, for HumanEval/32, evalplus's own check of a root. */
static json_t *input_test(const char *id, const char *entry,
			  const char *args, double atol)
{
	size_t n = strlen(entry) + strlen(args) + 3;
	json_t *t;
	char *s;

	if (strcmp(id, "HumanEval/32") == 0 &&
	    strcmp(entry, "find_zero") == 0) {
		n = 2 * strlen(args) + 96;
		if (!(s = malloc(n)))
			return NULL;
		snprintf(s, n, "assert abs(poly(%s, find_zero(%s))) <= %.17g",
			 args, args, atol);
		t = json_string(s);
	} else {
		if (!(s = malloc(n)))
			return NULL;
		snprintf(s, n, "%s(%s)", entry, args);
		t = json_pack("{ss}", "call", s);
	}
	free(s);
	return t;
}

static int build_task(const json_t *obj, char **base, size_t nbase,
		      char **plus, size_t nplus, json_t **out,
		      kiln_error *err)
{
	const char *id = NULL, *prompt = NULL, *entry = NULL, *sol = NULL;
	const char *contract = NULL;
	const json_t *av = json_object_get(obj, "atol");
	const json_t *cv = json_object_get(obj, "contract");
	char *solution = NULL, *setup = NULL;
	json_t *t = NULL, *tests = NULL;
	double atol = 0;
	int rc;

	if ((rc = kiln__need_string(obj, "task_id", &id, err)) ||
	    (rc = kiln__need_string(obj, "prompt", &prompt, err)) ||
	    (rc = kiln__need_string(obj, "entry_point", &entry, err)) ||
	    (rc = kiln__need_string(obj, "canonical_solution", &sol, err)))
		return rc;
	if (!*id)
		return kiln_error_set(err, KILN_EPARSE,
				      "field 'task_id' is empty");
	if (!kiln__is_identifier(entry))
		return kiln_error_set(err, KILN_EPARSE,
				      "entry_point '%.64s' is not an identifier",
				      entry);
	if (av && !json_is_null(av)) {
		atol = json_is_number(av) ? json_number_value(av) : -1;
		if (!(atol >= 0 && atol <= 1e6))
			return kiln_error_set(err, KILN_EPARSE, "field 'atol' "
					      "must be a number in [0, 1e6]");
	}
	if (cv && !json_is_null(cv)) {
		if (!json_is_string(cv))
			return kiln_error_set(err, KILN_EPARSE, "field "
					      "'contract' is not a string");
		contract = json_string_value(cv);
	}
	if (nbase + nplus == 0)
		return kiln_error_set(err, KILN_EPARSE, "%s: no inputs", id);
	if (!(tests = json_array()))
		goto oom;
	for (size_t i = 0; i < nbase + nplus; i++) {
		json_t *one = input_test(id, entry, i < nbase ? base[i]
					 : plus[i - nbase], atol);
		if (!one || json_array_append_new(tests, one))
			goto oom;
	}
	solution = kiln__concat3(prompt, sol, "");
	setup = kiln__prompt_helpers(prompt, entry);
	if (!solution || !setup)
		goto oom;
	t = json_pack("{ss ss ss ss ss sO sI}",
		      "id", id, "prompt", prompt, "language", "python",
		      "entry_point", entry, "solution", solution,
		      "tests", tests, "tests_base", (json_int_t)nbase);
	if (!t)
		goto oom;
	/* I/O tests call the function directly; the helpers matter only to
	 * HumanEval/32's check (poly). */
	if (json_is_string(json_array_get(tests, 0)) && *setup &&
	    json_object_set_new(t, "test_setup", json_string(setup)))
		goto oom;
	if (atol > 0 && json_object_set_new(t, "atol", json_real(atol)))
		goto oom;
	if (contract && *contract &&
	    json_object_set_new(t, "contract", json_string(contract)))
		goto oom;
	if (json_object_set_new(t, "origin", json_string("human")) ||
	    json_object_set_new(t, "source", json_string(
		kiln_import_default_source(KILN_IMPORT_EVALPLUS))) ||
	    json_object_set_new(t, "source_id", json_string(id)) ||
	    json_object_set_new(t, "license", json_string(
		kiln_import_default_license(KILN_IMPORT_EVALPLUS))))
		goto oom;
	*out = t;
	t = NULL;
	rc = 0;
	goto out;
oom:
	rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
out:
	json_decref(t);
	json_decref(tests);
	free(solution);
	free(setup);
	return rc;
}

/* ------------------------------------------------------- expected outputs */

/* Judge-side code: a literal for plain data (float infinities as 1e999,
 * which ast.literal_eval reads back; NaN has none), evalplus's is_floats,
 * and the probes. */
static const char PROBE[] =
"def _kiln_lit(v):\n"
"    t = type(v)\n"
"    if t is float:\n"
"        if v != v:\n"
"            raise TypeError('the output is NaN, which has no literal')\n"
"        if v in (float('inf'), float('-inf')):\n"
"            return '1e999' if v > 0 else '-1e999'\n"
"        return repr(v)\n"
"    if v is None or t in (bool, int, str, bytes, complex):\n"
"        return repr(v)\n"
"    if t is list:\n"
"        return '[' + ', '.join(map(_kiln_lit, v)) + ']'\n"
"    if t is tuple:\n"
"        return '(' + ', '.join(map(_kiln_lit, v)) + \\\n"
"            (',)' if len(v) == 1 else ')')\n"
"    if t is set:\n"
"        return '{' + ', '.join(map(_kiln_lit, v)) + '}' if v else 'set()'\n"
"    if t is dict:\n"
"        return '{' + ', '.join(_kiln_lit(k) + ': ' + _kiln_lit(x)\n"
"                               for k, x in v.items()) + '}'\n"
"    raise TypeError('the output, a %s, has no literal' % t.__name__)\n"
"\n"
"def _kiln_floats(v):\n"
"    if type(v) is float:\n"
"        return True\n"
"    if type(v) in (list, tuple) and v:\n"
"        return all(type(x) is float for x in v)\n"
"    return False\n"
"\n"
"_kiln_text = ''\n"
"\n"
"def _kiln_out(v):\n"
"    global _kiln_text\n"
"    _kiln_text = _kiln_lit(v)\n"
"    raise AssertionError('KILN %d %d %s' % (_kiln_floats(v),\n"
"                         len(_kiln_text), _kiln_text[:256]))\n"
"\n"
"def _kiln_part(k):\n"
"    raise AssertionError('KILN ' + _kiln_text[256 * k:256 * (k + 1)])\n";

/* One probe job: a task's inputs (phase 1), or one long output (2). */
struct probe {
	size_t task;
	size_t *tests;     /* the task's test indices, one per probe */
	size_t ntests;
	size_t pieces;     /* phase 2: _kiln_part(1 .. pieces-1) follow */
};

struct run {
	json_t *const *tasks;
	const kiln_evalplus_opts *o;
	kiln_evalplus_stats *st;
	struct probe *probes;
	size_t nprobes, next, done;
	int *floats;       /* per task: an output is_floats */
	/* phase 1's long outputs: (task, test) pairs and their length */
	struct probe *longs;
	size_t nlongs, caplongs;
};

static size_t codepoints(const char *s, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += ((unsigned char)s[i] & 0xc0) != 0x80;
	return k;
}

static json_t *task_test(struct run *r, size_t task, size_t i)
{
	return json_array_get(json_object_get(r->tasks[task], "tests"), i);
}

static void drop(struct run *r, size_t task, size_t i, const char *why)
{
	json_t *t = task_test(r, task, i);

	json_object_set_new(t, "_kiln_drop", json_true());
	r->st->dropped++;
	if (r->o->dropped)
		r->o->dropped(r->o->ctx, json_string_value(json_object_get(
				r->tasks[task], "id")), i,
			      json_string_value(json_object_get(t, "call")),
			      why);
}

/* The probe records: the task's solution, the probes as code tests. */
static int probe_record(struct run *r, const struct probe *p, json_t **rec)
{
	const json_t *task = r->tasks[p->task];
	json_t *tests = json_array();

	*rec = NULL;
	if (!tests)
		return KILN_ENOMEM;
	for (size_t j = 0; j < p->ntests; j++) {
		const char *call = json_string_value(json_object_get(
				task_test(r, p->task, p->tests[j]), "call"));
		char *s = kiln__concat3("_kiln_out(", call, ")");

		if (!s || json_array_append_new(tests, json_string(s))) {
			free(s);
			json_decref(tests);
			return KILN_ENOMEM;
		}
		free(s);
	}
	for (size_t k = 1; k < p->pieces; k++) {
		char s[64];

		snprintf(s, sizeof(s), "_kiln_part(%zu)", k);
		if (json_array_append_new(tests, json_string(s))) {
			json_decref(tests);
			return KILN_ENOMEM;
		}
	}
	*rec = json_pack("{sO ss sO ss so}",
			 "id", json_object_get(task, "id"),
			 "language", "python",
			 "solution", json_object_get(task, "solution"),
			 "test_setup", PROBE, "tests", tests);
	return *rec ? 0 : KILN_ENOMEM;
}

static int io_next(void *ctx, json_t **rec, kiln_error *err)
{
	struct run *r = ctx;

	if (r->next >= r->nprobes)
		return KILN_EEOF;
	if (probe_record(r, &r->probes[r->next], rec))
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	r->next++;
	return 0;
}

/* A probe's detail: "AssertionError: KILN F LEN TEXT". */
static int parse_first(const char *d, int *isfloat, size_t *len,
		       const char **text)
{
	char *end;
	unsigned long long n;

	if (!d || strncmp(d, MARK, strlen(MARK)) != 0)
		return -1;
	d += strlen(MARK);
	if ((d[0] != '0' && d[0] != '1') || d[1] != ' ')
		return -1;
	*isfloat = d[0] == '1';
	d += 2;
	if (*d < '0' || *d > '9')
		return -1;
	n = strtoull(d, &end, 10);
	if (*end != ' ')
		return -1;
	*len = (size_t)n;
	*text = end + 1;
	return 0;
}

static const char *why_not(const json_t *test, const json_t *verdict,
			   char *buf, size_t cap)
{
	const char *st = json_string_value(json_object_get(test, "status"));
	const char *d = json_string_value(json_object_get(test, "detail"));

	if (!d || !*d) {
		/* no detail: what the run as a whole says */
		st = st ? st : json_string_value(json_object_get(verdict,
								  "status"));
		d = json_string_value(json_object_get(verdict, "stderr"));
	}
	snprintf(buf, cap, "%s%s%.300s", st ? st : "no result",
		 d && *d ? ": " : "", d ? d : "");
	return buf;
}

static int io_verdict(void *ctx, const json_t *rec, json_t *verdict,
		      kiln_error *err)
{
	struct run *r = ctx;
	struct probe *p = &r->probes[r->done++];
	const json_t *vt = json_object_get(verdict, "tests");
	char why[512];

	(void)rec;
	if (p->pieces == 0) {
		/* phase 1: one probe per input */
		for (size_t j = 0; j < p->ntests; j++) {
			const json_t *t = json_array_get(vt, j);
			const char *d = json_string_value(json_object_get(t,
								"detail"));
			const char *text, *st = json_string_value(
				json_object_get(t, "status"));
			size_t len;
			int fl;

			if (!st || strcmp(st, "fail") != 0 ||
			    parse_first(d, &fl, &len, &text)) {
				drop(r, p->task, p->tests[j],
				     why_not(t, verdict, why, sizeof(why)));
				continue;
			}
			r->floats[p->task] |= fl;
			if (codepoints(text, strlen(text)) == len) {
				if (json_object_set_new(task_test(r, p->task,
						p->tests[j]), "expect",
						json_string(text)))
					return kiln_error_set(err, KILN_ENOMEM,
							"out of memory");
				r->st->expected++;
				continue;
			}
			if (len > EXPECT_MAX_CHARS) {
				snprintf(why, sizeof(why), "its output is %zu "
					 "characters as a literal, over the "
					 "%d kept", len, EXPECT_MAX_CHARS);
				drop(r, p->task, p->tests[j], why);
				continue;
			}
			if (r->nlongs == r->caplongs) {
				size_t cap = r->caplongs ? r->caplongs * 2 : 8;
				struct probe *q = realloc(r->longs,
							  cap * sizeof(*q));
				if (!q)
					return kiln_error_set(err, KILN_ENOMEM,
							"out of memory");
				r->longs = q;
				r->caplongs = cap;
			}
			r->longs[r->nlongs] = (struct probe){
				.task = p->task, .ntests = 1,
				.pieces = (len + PIECE - 1) / PIECE };
			r->longs[r->nlongs].tests = malloc(sizeof(size_t));
			if (!r->longs[r->nlongs].tests)
				return kiln_error_set(err, KILN_ENOMEM,
						      "out of memory");
			r->longs[r->nlongs].tests[0] = p->tests[j];
			r->nlongs++;
		}
	} else {
		/* phase 2: the probe, then the further pieces */
		const json_t *t = json_array_get(vt, 0);
		const char *text, *d = json_string_value(json_object_get(t,
							"detail"));
		const char *st = json_string_value(json_object_get(t,
								   "status"));
		kiln_buf b = { .max = EXPECT_MAX };
		size_t len;
		int fl, ok;

		ok = st && strcmp(st, "fail") == 0 &&
		     !parse_first(d, &fl, &len, &text) &&
		     !kiln__buf_add(&b, text, strlen(text));
		for (size_t k = 1; ok && k < p->pieces; k++) {
			t = json_array_get(vt, k);
			d = json_string_value(json_object_get(t, "detail"));
			st = json_string_value(json_object_get(t, "status"));
			ok = st && strcmp(st, "fail") == 0 && d &&
			     strncmp(d, MARK, strlen(MARK)) == 0 &&
			     !kiln__buf_add(&b, d + strlen(MARK),
					    strlen(d + strlen(MARK)));
		}
		if (ok && b.p && codepoints(b.p, b.len) == len) {
			if (json_object_set_new(task_test(r, p->task,
					p->tests[0]), "expect",
					json_string(b.p))) {
				free(b.p);
				return kiln_error_set(err, KILN_ENOMEM,
						      "out of memory");
			}
			r->st->expected++;
		} else {
			drop(r, p->task, p->tests[0], ok ?
			     "the output came back incomplete" :
			     why_not(t, verdict, why, sizeof(why)));
		}
		free(b.p);
	}
	if (r->o->progress)
		r->o->progress(r->o->ctx, r->done, r->nprobes);
	return 0;
}

static void free_probes(struct probe *p, size_t n)
{
	for (size_t i = 0; p && i < n; i++)
		free(p[i].tests);
	free(p);
}

/* Drops the tests marked _kiln_drop, keeping tests_base right, and sets
 * evalplus's float tolerance. */
static int finish_task(json_t *task, int floats, kiln_evalplus_stats *st)
{
	json_t *tests = json_object_get(task, "tests");
	json_t *kept = json_array();
	json_int_t base = json_integer_value(json_object_get(task,
							      "tests_base"));
	json_int_t nbase = 0;
	size_t i;
	json_t *t;

	if (!kept)
		return KILN_ENOMEM;
	json_array_foreach(tests, i, t) {
		if (json_is_true(json_object_get(t, "_kiln_drop")))
			continue;
		if (json_array_append(kept, t)) {
			json_decref(kept);
			return KILN_ENOMEM;
		}
		nbase += (json_int_t)i < base;
	}
	if (json_object_set_new(task, "tests", kept) ||
	    json_object_set_new(task, "tests_base", json_integer(nbase)))
		return KILN_ENOMEM;
	if (floats && json_number_value(json_object_get(task, "atol")) == 0) {
		if (json_object_set_new(task, "atol", json_real(1e-6)))
			return KILN_ENOMEM;
		st->float_atol++;
	}
	return 0;
}

void kiln_evalplus_opts_default(kiln_evalplus_opts *o)
{
	memset(o, 0, sizeof(*o));
	kiln_verify_opts_default(&o->verify);
	/* the reference is trusted to finish; two canonical solutions take
	 * seconds per input */
	o->verify.box.limits.timeout_ms = 60000;
}

int kiln_evalplus_expect(json_t *const *tasks, size_t n,
			 const kiln_evalplus_opts *o, kiln_evalplus_stats *st,
			 kiln_error *err)
{
	struct run r = { .tasks = tasks, .o = o, .st = st };
	kiln_verify_opts vo = o->verify;
	kiln_verify_io io = { .next = io_next, .verdict = io_verdict,
			      .ctx = &r };
	kiln_verify_stats vst;
	struct timespec t0, t1;
	int rc = 0;

	memset(st, 0, sizeof(*st));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	vo.timeout_factor = 0;
	vo.references = NULL;
	vo.carry = 0;
	vo.progress = NULL;
	vo.bad_line = NULL;
	r.floats = calloc(n ? n : 1, sizeof(int));
	r.probes = calloc(n ? n : 1, sizeof(*r.probes));
	if (!r.floats || !r.probes) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		goto out;
	}
	/* phase 1: every task's inputs without an expected output */
	for (size_t i = 0; i < n; i++) {
		const json_t *tests = json_object_get(tasks[i], "tests");
		struct probe *p = &r.probes[r.nprobes];
		size_t j;
		json_t *t;

		p->task = i;
		p->tests = malloc((json_array_size(tests) + 1) *
				  sizeof(size_t));
		if (!p->tests) {
			rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
			goto out;
		}
		json_array_foreach(tests, j, t)
			if (json_is_string(json_object_get(t, "call")) &&
			    !json_object_get(t, "expect"))
				p->tests[p->ntests++] = j;
		st->inputs += (long)p->ntests;
		if (p->ntests)
			r.nprobes++;
		else
			free(p->tests), p->tests = NULL;
	}
	if (r.nprobes && (rc = kiln_verify_each(&io, &vo, &vst, err)))
		goto out;
	/* phase 2: the outputs longer than one detail */
	free_probes(r.probes, r.nprobes);
	r.probes = r.longs;
	r.nprobes = r.nlongs;
	r.longs = NULL;
	r.nlongs = 0;
	r.next = r.done = 0;
	st->pieces = (long)r.nprobes;
	if (r.nprobes && (rc = kiln_verify_each(&io, &vo, &vst, err)))
		goto out;
	for (size_t i = 0; i < n; i++)
		if (finish_task(tasks[i], r.floats[i], st)) {
			rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
			goto out;
		}
out:
	free_probes(r.probes, r.nprobes);
	free_probes(r.longs, r.nlongs);
	free(r.floats);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	st->seconds = (double)(t1.tv_sec - t0.tv_sec) +
		      (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	return rc;
}
