/* kiln decontam and the token stream it stands on (kiln/code.h,
 * kiln/decontam.h): known answers. Leaks of a benchmark item are found
 * verbatim, renamed, re-wrapped and re-laid-out, with the item's id;
 * trivial code, boilerplate and unrelated code are not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "kiln/code.h"
#include "kiln/decontam.h"
#include "tmpdir.h"

/* ------------------------------------------------------------ lexer */

struct toks {
	const char *s;
	char out[1024];
};

static int collect(void *ctx, const kiln_token *t)
{
	struct toks *k = ctx;
	static const char kinds[] = "NnSCP";
	size_t n = strlen(k->out);

	snprintf(k->out + n, sizeof k->out - n, "%s%c:%.*s", n ? " " : "",
		 kinds[t->kind], (int)t->len, k->s + t->off);
	return 0;
}

static const char *lex(const char *s, const char *lang, struct toks *k)
{
	k->s = s;
	k->out[0] = '\0';
	assert_int_equal(kiln_code_lex(s, strlen(s), lang, collect, k), 0);
	return k->out;
}

static void lexer_known_tokens(void **state)
{
	struct toks k;

	(void)state;
	assert_string_equal(lex("x = f'a{b}' # hi\nreturn x**2.5e-3",
				"python", &k),
			    "N:x P:= S:f'a{b}' C:# hi N:return N:x P:** "
			    "n:2.5e-3");
	assert_string_equal(lex("'''doc\n''' \"s\\\"\"", NULL, &k),
			    "S:'''doc\n''' S:\"s\\\"\"");
	assert_string_equal(lex("a->b /* c */ // d\n'x' 'a: u8", "rust", &k),
			    "N:a P:-> N:b C:/* c */ C:// d S:'x' P:' N:a P:: "
			    "N:u8");
	/* unterminated: to the end of the line, or of the text */
	assert_string_equal(lex("s = 'abc\nt", "python", &k),
			    "N:s P:= S:'abc N:t");
	assert_string_equal(lex("/* open", "c", &k), "C:/* open");
}

static void stream_of(kiln_norm *st, const char *s, unsigned flags)
{
	kiln_error err;

	st->n = 0;
	assert_int_equal(kiln_code_normalize(st, s, strlen(s), "python",
					     flags, &err), 0);
}

static int same_stream(const char *a, const char *b, unsigned flags)
{
	kiln_norm x = { 0 }, y = { 0 };
	int same;

	stream_of(&x, a, flags);
	stream_of(&y, b, flags);
	same = x.n == y.n && !memcmp(x.v, y.v, x.n * sizeof *x.v);
	kiln_norm_free(&x);
	kiln_norm_free(&y);
	return same;
}

static void normalised_streams(void **state)
{
	const unsigned names = KILN_NORM_NAMES | KILN_NORM_WORDS;
	uint64_t a, b, c;
	kiln_error err;

	(void)state;
	/* renaming: same under NAMES, not as code */
	const char *f = "def add_all(xs):\n    total = 0\n    for v in xs:\n"
			"        total += len(v)\n    return total\n";
	const char *g = "def f(a):\n    s = 0\n    for q in a:\n"
			"        s += len(q)\n    return s\n";
	assert_true(same_stream(f, g, names));
	assert_false(same_stream(f, g, KILN_NORM_CODE));
	/* builtins and attributes are kept */
	assert_false(same_stream("x = len(y)", "x = abs(y)", names));
	assert_false(same_stream("x.append(y)", "x.extend(y)", names));
	/* layout and quotes; a docstring's words re-wrapped */
	assert_true(same_stream("x = [1,\n     2]\n", "x=[1, 2]", names));
	assert_true(same_stream("'''Sum the\n   values.'''", "\"Sum the "
				"values.\"", names));
	assert_true(same_stream("Sum the values.", "'''Sum\nthe values'''",
				KILN_NORM_PROSE) ==
		    same_stream("Sum the values.", "Sum the values",
				KILN_NORM_PROSE));
	/* the digest: comments and white space do not matter, code does */
	assert_int_equal(kiln_code_digest(f, strlen(f), NULL, &a, &err), 0);
	const char *f2 = "def add_all(xs):  # sums\n    total=0\n\n    for v "
			 "in xs:\n        total += len(v)\n    return total";
	assert_int_equal(kiln_code_digest(f2, strlen(f2), NULL, &b, &err), 0);
	assert_int_equal(kiln_code_digest(g, strlen(g), NULL, &c, &err), 0);
	assert_true(a == b);
	assert_true(a != c);
	/* every digit of a long number counts (only the first 64 did: two
	 * tests' different 65-digit expected values "agreed", kiln generate
	 * --tests-agree); case does not (0X1F is 0x1f) */
	char n1[120], n2[120];
	memset(n1, 0, sizeof n1);
	memcpy(n1, "assert f(1) == ", 15);
	memset(n1 + 15, '1', 65);
	memcpy(n2, n1, sizeof n2);
	n2[15 + 64] = '2';
	assert_int_equal(kiln_code_digest(n1, strlen(n1), NULL, &a, &err), 0);
	assert_int_equal(kiln_code_digest(n2, strlen(n2), NULL, &b, &err), 0);
	assert_true(a != b);
	assert_true(same_stream("x = 0X1F", "x = 0x1f", KILN_NORM_CODE));
	assert_false(same_stream("x = 0x1f", "x = 0x1e", KILN_NORM_CODE));
	/* long words likewise, in prose */
	memset(n1, 'a', 100);
	n1[100] = '\0';
	memcpy(n2, n1, 101);
	n2[99] = 'b';
	assert_false(same_stream(n1, n2, KILN_NORM_PROSE));
	n2[99] = 'A';
	assert_true(same_stream(n1, n2, KILN_NORM_PROSE));
}

/* --------------------------------------------------------- decontam */

static const char *item_prompt =
	"def running_maximum(numbers: list) -> list:\n"
	"    \"\"\" From a given list of integers, generate a list of the "
	"rolling maximum\n    element found until the given moment in the "
	"sequence.\n    >>> running_maximum([1, 2, 3, 2, 3, 4, 2])\n"
	"    [1, 2, 3, 3, 3, 4, 4]\n    \"\"\"\n";
static const char *item_body =
	"    running_max = None\n    result = []\n\n    for n in numbers:\n"
	"        if running_max is None:\n            running_max = n\n"
	"        else:\n            running_max = max(running_max, n)\n\n"
	"        result.append(running_max)\n\n    return result\n";
static const char *item_test =
	"def check(candidate):\n    assert candidate([]) == []\n"
	"    assert candidate([4, 3, 2, 1]) == [4, 4, 4, 4]\n"
	"    assert candidate([3, 2, 3, 100, 3]) == [3, 3, 3, 100, 100]\n";

static kiln_decontam_index *small_index(kiln_decontam_opts *o)
{
	kiln_decontam_index *ix;
	kiln_error err;
	json_t *rec;

	assert_int_equal(kiln_decontam_index_new(&ix, o, &err), 0);
	rec = json_pack("{s:s, s:s, s:s, s:s, s:s}", "task_id", "Bench/9",
			"prompt", item_prompt, "canonical_solution", item_body,
			"test", item_test, "entry_point", "running_maximum");
	assert_int_equal(kiln_decontam_index_add(ix, "bench", rec, &err), 0);
	json_decref(rec);
	/* an item whose only overlap with samples below is trivial code */
	rec = json_pack("{s:s, s:s, s:s}", "task_id", "Bench/10", "prompt",
			"Add two numbers x and y.", "canonical_solution",
			"def add(x, y):\n    return x + y\n");
	assert_int_equal(kiln_decontam_index_add(ix, "bench", rec, &err), 0);
	json_decref(rec);
	/* boilerplate: the same header in four items of one benchmark */
	for (int i = 0; i < 4; i++) {
		char id[32], code[256];
		snprintf(id, sizeof id, "Other/%d", i);
		snprintf(code, sizeof code, "import sys\nimport os\nimport "
			 "math\nimport json\nimport re\n\ndef task%d():\n"
			 "    return %d\n", i, i * 7919);
		rec = json_pack("{s:s, s:s}", "task_id", id, "code", code);
		assert_int_equal(kiln_decontam_index_add(ix, "other", rec,
							 &err), 0);
		json_decref(rec);
	}
	assert_int_equal(kiln_decontam_index_build(ix, &err), 0);
	return ix;
}

static int flags(kiln_decontam_index *ix, const char *prompt,
		 const char *solution, kiln_decontam_hit *hit)
{
	kiln_decontam_hit hits[4], best;
	size_t nb, grams;
	kiln_error err;
	int flagged;
	json_t *rec = json_pack("{s:s, s:s}", "prompt", prompt, "solution",
				solution);

	assert_int_equal(kiln_decontam_check(ix, rec, &flagged, hits, 4, &nb,
					     &best, &grams, &err), 0);
	json_decref(rec);
	if (flagged && hit)
		*hit = hits[0];
	return flagged;
}

static void leaks_found_with_the_item_id(void **state)
{
	kiln_decontam_opts o;
	kiln_decontam_hit h;
	char sol[2048];

	(void)state;
	kiln_decontam_opts_default(&o);
	kiln_decontam_index *ix = small_index(&o);

	/* verbatim */
	snprintf(sol, sizeof sol, "%s%s", item_prompt, item_body);
	assert_true(flags(ix, "Write a function.", sol, &h));
	assert_string_equal(h.id, "Bench/9");
	assert_string_equal(h.benchmark, "bench");
	assert_true(h.ngrams >= 8 && h.coverage > 0.2 && h.coverage <= 1);
	/* renamed and re-laid-out */
	assert_true(flags(ix, "Write a function.",
		"def f(xs: list) -> list:\n"
		"    '''From a given list of integers, generate a list of the\n"
		"    rolling maximum element found until the given moment in\n"
		"    the sequence.\n    >>> f([1, 2, 3, 2, 3, 4, 2])\n"
		"    [1, 2, 3, 3, 3, 4, 4]\n    '''\n"
		"    best = None; out = []\n    for q in xs:\n"
		"        if best is None: best = q\n"
		"        else: best = max(best, q)\n"
		"        out.append(best)\n    return out\n", &h));
	assert_string_equal(h.id, "Bench/9");
	/* only the body, renamed (no docstring): the code alone */
	assert_true(flags(ix, "Write a function.",
		"def g(a):\n    m = None\n    r = []\n    for x in a:\n"
		"        if m is None:\n            m = x\n        else:\n"
		"            m = max(m, x)\n        r.append(m)\n    return r\n",
		&h));
	assert_string_equal(h.id, "Bench/9");
	/* the prompt re-wrapped, in a prompt */
	assert_true(flags(ix, "def running_maximum(numbers: list)\n -> list: "
			  "From a given list\nof integers, generate a list of "
			  "the rolling maximum element found until the given\n"
			  "moment in the sequence.", "pass", &h));
	assert_string_equal(h.id, "Bench/9");

	/* trivial code, boilerplate, unrelated code: clean */
	assert_false(flags(ix, "Add them.", "def plus(a, b):\n    return a "
			   "+ b\n", NULL));
	assert_false(flags(ix, "Something else.", "import sys\nimport os\n"
			   "import math\nimport json\nimport re\n\ndef main():"
			   "\n    print(sys.argv)\n", NULL));
	assert_false(flags(ix, "Sort words by length.",
		"def by_length(words):\n    '''Sort the words, shortest "
		"first.'''\n    return sorted(words, key=len)\n", NULL));
	kiln_decontam_index_free(ix);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void stage_outputs_and_stats(void **state)
{
	kiln_decontam_opts o;
	kiln_stage_stats st;
	kiln_jsonl_reader *in;
	kiln_out *out, *dropped;
	kiln_error err;
	char inp[300], outp[300], dp[300], bench[300];
	json_t *rec, *leak;
	char *line;

	(void)state;
	kiln_decontam_opts_default(&o);
	snprintf(bench, sizeof bench, "%s/mini.jsonl", dir);
	snprintf(inp, sizeof inp, "%s/samples.jsonl", dir);
	snprintf(outp, sizeof outp, "%s/kept.jsonl", dir);
	snprintf(dp, sizeof dp, "%s/dropped.jsonl", dir);
	/* a benchmark file in MBPP's own format (integer task_id) */
	rec = json_pack("{s:i, s:s, s:s, s:[s]}", "task_id", 42, "text",
			"Write a function to find the running maximum.",
			"code", item_body, "test_list",
			"assert running_maximum([4, 3, 2, 1]) == [4, 4, 4, 4]");
	line = json_dumps(rec, JSON_COMPACT);
	json_decref(rec);
	write_file(bench, line);
	free(line);
	leak = json_pack("{s:s, s:s, s:s}", "id", "s/1", "prompt", "Do it.",
			 "solution", item_body);
	rec = json_pack("{s:s, s:s, s:s}", "id", "s/2", "prompt", "Other.",
			"solution", "def h(s):\n    return s.upper()[::-1]\n");
	char *l1 = json_dumps(leak, JSON_COMPACT), *l2 = json_dumps(rec,
							JSON_COMPACT);
	char both[4096];
	snprintf(both, sizeof both, "%s\n%s\n", l1, l2);
	write_file(inp, both);
	free(l1);
	free(l2);
	json_decref(leak);
	json_decref(rec);

	kiln_decontam_index *ix;
	assert_int_equal(kiln_decontam_index_new(&ix, &o, &err), 0);
	assert_int_equal(kiln_decontam_index_add_file(ix, bench, NULL, &err),
			 0);
	assert_int_equal(kiln_jsonl_open(&in, inp, 0, &err), 0);
	assert_int_equal(kiln_out_open(&out, outp, &err), 0);
	assert_int_equal(kiln_out_open(&dropped, dp, &err), 0);
	assert_int_equal(kiln_decontam(ix, &in, 1, out, dropped, &st, &err),
			 0);
	kiln_jsonl_close(in);
	assert_int_equal(kiln_out_commit(out, &err), 0);
	assert_int_equal(kiln_out_commit(dropped, &err), 0);
	assert_int_equal((int)st.entered, 2);
	assert_int_equal((int)st.kept, 1);
	assert_int_equal((int)st.dropped[0], 1);
	json_t *s = kiln_stage_stats_json(&st);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
		json_object_get(s, "benchmarks"), "mini"), "flagged")), 1);
	json_decref(s);
	kiln_stage_stats_free(&st);

	json_error_t je;
	json_t *d = json_load_file(dp, 0, &je);
	assert_non_null(d);
	json_t *mark = json_object_get(d, "dropped");
	assert_string_equal(json_string_value(json_object_get(mark, "reason")),
			    "contaminated");
	assert_string_equal(json_string_value(json_object_get(mark, "id")),
			    "mbpp/42");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
		d, "decontam"), "benchmark")), "mini");
	assert_true(json_integer_value(json_object_get(mark, "ngrams")) > 0);
	json_decref(d);
	json_t *k = json_load_file(outp, 0, &je);
	assert_non_null(k);
	assert_string_equal(json_string_value(json_object_get(k, "id")),
			    "s/2");
	assert_non_null(json_object_get(k, "decontam"));
	json_decref(k);
	kiln_decontam_index_free(ix);

	/* a record with nothing to read is an error naming the line */
	write_file(inp, "{\"id\": \"x\", \"prompt\": \"p\"}\n{\"id\": \"y\"}\n");
	assert_int_equal(kiln_decontam_index_new(&ix, &o, &err), 0);
	assert_int_equal(kiln_decontam_index_add_file(ix, bench, "m", &err),
			 0);
	assert_int_equal(kiln_jsonl_open(&in, inp, 0, &err), 0);
	assert_int_equal(kiln_out_open(&out, "/dev/null", &err), 0);
	assert_int_equal(kiln_decontam(ix, &in, 1, out, NULL, &st, &err),
			 KILN_EPARSE);
	assert_non_null(strstr(err.msg, "samples.jsonl:2"));
	kiln_out_abort(out);
	kiln_jsonl_close(in);
	kiln_stage_stats_free(&st);
	kiln_decontam_index_free(ix);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lexer_known_tokens),
		cmocka_unit_test(normalised_streams),
		cmocka_unit_test(leaks_found_with_the_item_id),
		cmocka_unit_test(stage_outputs_and_stats),
	};
	return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
