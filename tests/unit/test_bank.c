/* The procedural task bank (kiln/bank.h): known answers of the
 * primitives' semantics (Python's), determinism, distinctness, and the
 * records against the interpreter: every hidden test's answer is the
 * reference's, every wrong variant fails one; every row has code in every
 * language. The emitted code is run in the sandbox by
 * tests/integration/test_bank.py and test_bank_lua.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "kiln/bank.h"
#include "task/bank/bank_int.h"

static void eq(const char *comp, const char *in, const char *want)
{
	kiln_error err;
	char *got = NULL;

	if (kiln_bank_eval(comp, in, &got, &err))
		fail_msg("%s on %s: %s", comp, in, err.msg);
	if (strcmp(got, want) != 0)
		fail_msg("%s on %s: got %s, want %s", comp, in, got, want);
	free(got);
}

static void integer_semantics_are_pythons(void **state)
{
	(void)state;
	eq("fdiv(2)", "-7", "-4");
	eq("tdiv(2)", "-7", "-3");
	eq("mod(3)", "-7", "2");
	eq("tmod(3)", "-7", "-1");
	eq("map_mod(3)", "[-7, 7]", "[2, 1]");
	eq("collatz", "7", "22");
	eq("collatz", "-3", "-8");
	eq("collatzs", "-3", "-2");
	eq("revdig", "-120", "21");
	eq("digsum", "-123", "6");
	eq("lastdig", "-13", "3");
	eq("lastdigs", "-13", "7");
	eq("sign", "0", "0");
	eq("sign2", "0", "-1");
	eq("clamp(-2, 3)", "9", "3");
	eq("evenadd(3)", "-4", "-1");
	eq("gtdouble(2)", "2", "2");
	eq("gedouble(2)", "2", "4");
	eq("oddsquare", "-3", "9");
	eq("is_prime", "1", "False");
	eq("is_prime", "2", "True");
	eq("is_prime1", "1", "True");
	eq("is_square", "16", "True");
	eq("is_square", "-4", "False");
	eq("is_odd", "-3", "True");
	eq("is_inrange(-1, 2)", "2", "True");
	eq("square | square | square | square | square", "100",
	   "out of bounds");
}

static void list_semantics_are_pythons(void **state)
{
	(void)state;
	eq("filter_even | sum", "[1, 2, 3, 4, -6]", "0");
	eq("count_gt(2)", "[1, 2, 3, 4]", "2");
	eq("index_odd", "[2, 4, 5]", "2");
	eq("index_odd", "[]", "-1");
	eq("index1_odd", "[2, 4, 5]", "3");
	eq("indexlen_odd", "[2, 4]", "2");
	eq("all_pos", "[]", "True");
	eq("allne_pos", "[]", "False");
	eq("any_pos", "[]", "False");
	eq("takewhile_lt(3)", "[1, 2, 5, 1]", "[1, 2]");
	eq("dropwhile_lt(3)", "[1, 2, 5, 1]", "[5, 1]");
	eq("partition_even", "[1, 2, 3, 4]", "[2, 4, 1, 3]");
	eq("zero_neg", "[-1, 2]", "[0, 2]");
	eq("sumif_div(3)", "[3, -6, 4]", "-3");
	eq("sortabs", "[3, -1, 1, -3]", "[-1, 1, 3, -3]");
	eq("sortdesc", "[3, -1, 1]", "[3, 1, -1]");
	eq("unique", "[3, 1, 3, 2, 1]", "[3, 1, 2]");
	eq("dedup", "[1, 1, 2, 1]", "[1, 2, 1]");
	eq("rotl(1)", "[1, 2, 3]", "[2, 3, 1]");
	eq("rotr(1)", "[1, 2, 3]", "[3, 1, 2]");
	eq("rotr(4)", "[1, 2, 3]", "[3, 1, 2]");
	eq("rotl(1)", "[]", "[]");
	eq("takelast(2)", "[1, 2, 3]", "[2, 3]");
	eq("takelast(0)", "[1, 2]", "[]");
	eq("droplast(5)", "[1, 2]", "[]");
	eq("psum", "[1, 2, 3]", "[1, 3, 6]");
	eq("psumx", "[1, 2, 3]", "[0, 1, 3]");
	eq("diffs", "[1, 4, 9]", "[3, 5]");
	eq("pairsums", "[1]", "[]");
	eq("evenpos", "[1, 2, 3]", "[1, 3]");
	eq("removefirst(2)", "[2, 1, 2]", "[1, 2]");
	eq("runmax", "[1, 3, 2, 5]", "[1, 3, 3, 5]");
	eq("mulidx", "[4, 4, 4]", "[0, 4, 8]");
	eq("swappairs", "[1, 2, 3]", "[2, 1, 3]");
	eq("argmax", "[1, 5, 5]", "1");
	eq("argmaxlast", "[1, 5, 5]", "2");
	eq("argmin", "[]", "-1");
	eq("max", "[]", "0");
	eq("max", "[-3, -1]", "-1");
	eq("max0", "[-3, -1]", "0");
	eq("spread", "[4, -2, 1]", "6");
	eq("altsum", "[1, 2, 3]", "2");
	eq("prod", "[]", "1");
	eq("ndistinct", "[1, 1, 2]", "2");
	eq("sorted", "[1, 1, 2]", "True");
	eq("ssorted", "[1, 1, 2]", "False");
	eq("palin", "[1, 2, 1]", "True");
	eq("distinct", "[1, 2, 1]", "False");
	eq("letters", "[0, 25, 26, -1]", "'azaz'");
	eq("letters1", "[1, 26]", "'az'");
	eq("csv", "[1, -2]", "'1,-2'");
}

static void conversions_and_strings_are_pythons(void **state)
{
	(void)state;
	eq("range", "3", "[0, 1, 2]");
	eq("range", "-2", "[]");
	eq("range", "100", "out of bounds");
	eq("digits", "-120", "[1, 2, 0]");
	eq("bits", "6", "[1, 1, 0]");
	eq("bits", "0", "[0]");
	eq("divisors", "-12", "[1, 2, 3, 4, 6, 12]");
	eq("divisors", "0", "[]");
	eq("multiples(3)", "-2", "[-2, -4, -6]");
	eq("binstr", "-5", "'101'");
	eq("tostr", "-5", "'-5'");
	eq("shift(2)", "'xyz A'", "'zab A'");
	eq("atbash", "'abz'", "'zya'");
	eq("swapcase", "'aB1'", "'Ab1'");
	eq("squeeze", "'  a  b '", "'a b'");
	eq("strip", "' a '", "'a'");
	eq("lstrip", "' a '", "'a '");
	eq("nwords", "' ab  c '", "2");
	eq("nwordssp", "' ab  c '", "5");
	eq("maxword", "'ab cde'", "3");
	eq("capwords", "'ab cd'", "'Ab Cd'");
	eq("ssort", "'bA1 '", "' 1Ab'");
	eq("suniq", "'abcab'", "'abc'");
	eq("sdedup", "'aabba'", "'aba'");
	eq("keep_vowel", "'hEllo'", "'Eo'");
	eq("count_upper", "'hEllO'", "2");
	eq("find_digit", "'ab3'", "2");
	eq("find1_digit", "'ab3'", "3");
	eq("all_letter", "''", "True");
	eq("keep_char('e')", "'hello'", "'e'");
	eq("replc('l', 'x')", "'hello'", "'hexxo'");
	eq("startsc('h')", "'hi'", "True");
	eq("endsc('h')", "''", "False");
	eq("wordlens", "'ab  cde'", "[2, 3]");
	eq("alphapos", "'az1'", "[1, 26, 0]");
	eq("ords", "'A '", "[65, 32]");
	eq("ordsum", "'ab'", "195");
	eq("sdistinct", "'aab'", "2");
	eq("spalin", "'aba'", "True");
	eq("smirror | slen", "'abc'", "6");
}

static void bad_text_is_refused(void **state)
{
	kiln_error err;
	char *got = (char *)"x";

	(void)state;
	assert_int_equal(kiln_bank_eval("nosuch", "1", &got, &err),
			 KILN_EINVAL);
	assert_null(got);
	assert_int_equal(kiln_bank_eval("add", "1", &got, &err), KILN_EINVAL);
	assert_int_equal(kiln_bank_eval("add(1) |", "x", &got, &err),
			 KILN_EINVAL);
	assert_int_equal(kiln_bank_eval("sum", "[1, 2", &got, &err),
			 KILN_EINVAL);
}

static json_t *next(kiln_bank *b)
{
	kiln_error err;
	json_t *t = NULL;

	if (kiln_bank_next(b, &t, &err))
		fail_msg("%s", err.msg);
	return t;
}

static void same_seed_same_tasks(void **state)
{
	kiln_bank_opts o = kiln_bank_opts_default();
	kiln_bank *a, *b;
	kiln_error err;

	(void)state;
	o.seed = 9;
	assert_int_equal(kiln_bank_open(&a, &o, &err), 0);
	assert_int_equal(kiln_bank_open(&b, &o, &err), 0);
	for (int i = 0; i < 300; i++) {
		json_t *x = next(a), *y = next(b);
		char *sx = json_dumps(x, JSON_COMPACT),
		     *sy = json_dumps(y, JSON_COMPACT);

		assert_string_equal(sx, sy);
		free(sx);
		free(sy);
		json_decref(x);
		json_decref(y);
	}
	kiln_bank_close(a);
	kiln_bank_close(b);
}

/* The first task of seed 1 (default options) in a language. */
static json_t *first_of_seed_1(int language)
{
	kiln_bank_opts o = kiln_bank_opts_default();
	kiln_bank *b;
	kiln_error err;
	json_t *t;

	o.language = language;
	assert_int_equal(kiln_bank_open(&b, &o, &err), 0);
	t = next(b);
	kiln_bank_close(b);
	assert_string_equal(json_string_value(json_object_get(t, "id")),
			    "bank/1/0");
	assert_string_equal(json_string_value(json_object_get(
		json_object_get(t, "bank"), "composition")),
		"dupeach | map_sub(5)");
	return t;
}

/* The stream of seed 1 is pinned: a change to the table, the draws or the
 * interpreter changes the bank's tasks, and must be meant (docs/BANK.md). */
static void stream_of_seed_1_is_pinned(void **state)
{
	(void)state;
	json_decref(first_of_seed_1(KILN_BANK_PYTHON));
}

/* ... and in Lua, the same task (the stream does not depend on the
 * language), its solution pinned too. */
static void lua_task_of_seed_1_is_pinned(void **state)
{
	json_t *t = first_of_seed_1(KILN_BANK_LUA);

	(void)state;
	assert_string_equal(json_string_value(json_object_get(t, "language")),
			    "lua");
	assert_string_equal(json_string_value(json_object_get(t, "solution")),
		"function f(xs)\n"
		"  local r1 = {}\n"
		"  for _, x in ipairs(xs) do\n"
		"    r1[#r1 + 1] = x\n"
		"    r1[#r1 + 1] = x\n"
		"  end\n"
		"  local r2 = {}\n"
		"  for i, x in ipairs(r1) do\n"
		"    r2[i] = x - 5\n"
		"  end\n"
		"  return r2\n"
		"end\n");
	assert_string_equal(json_string_value(json_array_get(
		json_object_get(t, "tests"), 1)),
		"assert(deep_equal(f({0}), {-5, -5}))");
	assert_non_null(strstr(json_string_value(json_object_get(
		t, "test_setup")), "function deep_equal(a, b)"));
	json_decref(t);
}

/* Lua code that is not Lua 5.4's integer arithmetic: '/' (a float), '^'
 * (a float), '--' (a comment: "x - -3" needs its space). */
static void lua_code_is_integer_lua(const char *name, const char *code)
{
	if (!code)
		fail_msg("%s has no code", name);
	if (strstr(code, " / ") || strstr(code, " ^ ") || strstr(code, "--"))
		fail_msg("%s: %s", name, code);
}

/* Every row has code in every language; a Lua stage declares its output
 * (local $O = ...). */
static void every_row_has_code_in_every_language(void **state)
{
	(void)state;
	for (const bk_op *r = bk_ops; r->name; r++) {
		for (int l = 0; l < BK_NLANGS; l++)
			assert_non_null(r->code[l]);
		lua_code_is_integer_lua(r->name, r->code[BK_LUA]);
	}
	for (const bk_pred *r = bk_preds; r->name; r++) {
		for (int l = 0; l < BK_NLANGS; l++)
			assert_non_null(r->code[l]);
		lua_code_is_integer_lua(r->name, r->code[BK_LUA]);
	}
	for (const bk_cons *r = bk_conses; r->prefix; r++) {
		for (int l = 0; l < BK_NLANGS; l++)
			assert_non_null(r->code[l]);
		lua_code_is_integer_lua(r->prefix, r->code[BK_LUA]);
		assert_non_null(strstr(r->code[BK_LUA], "local $O = "));
	}
	for (const bk_spec *r = bk_specs; r->name; r++) {
		for (int l = 0; l < BK_NLANGS; l++)
			assert_non_null(r->code[l]);
		lua_code_is_integer_lua(r->name, r->code[BK_LUA]);
		if (!strstr(r->code[BK_LUA], "local $O = "))
			fail_msg("%s does not declare its output", r->name);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* 10,000 tasks of one seed: no two with the same behaviour on the probes
 * (fingerprint) or the same composition. */
static void ten_thousand_distinct_tasks(void **state)
{
	enum { N = 10000 };
	kiln_bank_opts o = kiln_bank_opts_default();
	char **fp = calloc(N, sizeof *fp), **co = calloc(N, sizeof *co);
	kiln_bank *b;
	kiln_error err;

	(void)state;
	assert_non_null(fp);
	assert_non_null(co);
	assert_int_equal(kiln_bank_open(&b, &o, &err), 0);
	for (int i = 0; i < N; i++) {
		json_t *t = next(b), *m = json_object_get(t, "bank");

		fp[i] = strdup(json_string_value(json_object_get(m,
							"fingerprint")));
		co[i] = strdup(json_string_value(json_object_get(m,
							"composition")));
		json_decref(t);
	}
	kiln_bank_close(b);
	qsort(fp, N, sizeof *fp, cmp_str);
	qsort(co, N, sizeof *co, cmp_str);
	for (int i = 1; i < N; i++) {
		assert_string_not_equal(fp[i - 1], fp[i]);
		assert_string_not_equal(co[i - 1], co[i]);
	}
	for (int i = 0; i < N; i++) {
		free(fp[i]);
		free(co[i]);
	}
	free(fp);
	free(co);
}

/* The literal argument of "f(<literal>)". */
static char *arg_of(const char *call)
{
	size_t n = strlen(call);
	char *s;

	assert_true(n > 3 && strncmp(call, "f(", 2) == 0 && call[n - 1] == ')');
	s = strndup(call + 2, n - 3);
	assert_non_null(s);
	return s;
}

/* Each record against the interpreter, through the public API: the
 * hidden tests' answers are the composition's, every wrong variant's
 * composition fails at least one test, the template split follows the
 * templates, and a task of depth 1 without parameters is in train. */
static void records_agree(int param_scale)
{
	kiln_bank_opts o = kiln_bank_opts_default();
	json_t *tmpl;
	kiln_bank *b;
	kiln_error err;

	o.seed = 4;
	o.depth = 4;
	o.param_scale = param_scale;
	assert_int_equal(kiln_bank_templates(&tmpl, &err), 0);
	assert_true(json_array_size(tmpl) >= 200);
	assert_int_equal(kiln_bank_open(&b, &o, &err), 0);
	for (int i = 0; i < 400; i++) {
		json_t *t = next(b), *m = json_object_get(t, "bank"), *x, *w;
		const char *comp = json_string_value(json_object_get(m,
							"composition"));
		size_t j, k;
		int held = 0;

		json_array_foreach(json_object_get(m, "templates"), j, x) {
			json_t *y;

			json_array_foreach(tmpl, k, y)
				if (strcmp(json_string_value(json_object_get(
					y, "name")), json_string_value(x)) == 0)
					held |= json_is_true(json_object_get(
						y, "heldout"));
		}
		assert_string_equal(json_string_value(json_object_get(m,
				    "template_split")), held ? "heldout" : "train");
		if (json_integer_value(json_object_get(m, "depth")) == 1 &&
		    !strchr(comp, '('))
			assert_string_equal(json_string_value(json_object_get(
				m, "split")), "train");
		json_array_foreach(json_object_get(t, "tests"), j, x) {
			char *in = arg_of(json_string_value(json_object_get(
				x, "call"))), *got;

			assert_int_equal(kiln_bank_eval(comp, in, &got, &err),
					 0);
			assert_string_equal(got, json_string_value(
				json_object_get(x, "expect")));
			free(got);
			free(in);
		}
		assert_true(json_array_size(json_object_get(t,
			"wrong_variants")) >= KILN_BANK_MIN_VARIANTS);
		json_array_foreach(json_object_get(t, "wrong_variants"), k, w) {
			const char *vc = json_string_value(json_object_get(w,
							"composition"));
			int fails = 0;

			json_array_foreach(json_object_get(t, "tests"), j, x) {
				char *in = arg_of(json_string_value(
					json_object_get(x, "call"))), *got;

				assert_int_equal(kiln_bank_eval(vc, in, &got,
								&err), 0);
				assert_string_not_equal(got, "out of bounds");
				fails |= strcmp(got, json_string_value(
					json_object_get(x, "expect"))) != 0;
				free(got);
				free(in);
			}
			assert_true(fails);
		}
		json_decref(t);
	}
	kiln_bank_close(b);
	json_decref(tmpl);
}

static void records_agree_with_the_interpreter(void **state)
{
	(void)state;
	records_agree(1);
}

/* --param-scale: the same checks on tasks with wide parameters. */
static void wide_records_agree_with_the_interpreter(void **state)
{
	(void)state;
	records_agree(10);
}

/* The largest number written in a composition ("map_add(37) | sum"). */
static long long largest_number(const char *comp)
{
	long long m = 0;

	for (const char *c = comp; *c; c++)
		if (*c >= '0' && *c <= '9' && (c == comp || c[-1] < '0' ||
					       c[-1] > '9')) {
			long long v = strtoll(c, NULL, 10);

			m = v > m ? v : m;
		}
	return m;
}

/* --param-scale 10 draws parameters beyond the bank's own ranges, and its
 * train split still never has a depth-1 task of the default held-out
 * split: a teacher trained on wide parameters has not seen the held-out
 * tasks it is measured on. */
static void wide_parameters_keep_the_split(void **state)
{
	enum { N = 3000 };
	kiln_bank_opts o = kiln_bank_opts_default();
	char *held[1500];
	int nheld = 0, wide = 0;
	kiln_bank *b;
	kiln_error err;
	json_t *t;

	(void)state;
	o.depth = 1;
	o.split = KILN_BANK_HELDOUT;
	assert_int_equal(kiln_bank_open(&b, &o, &err), 0);
	while (kiln_bank_next(b, &t, &err) == 0) {
		assert_true(nheld < 1500);
		held[nheld++] = strdup(json_string_value(json_object_get(
			json_object_get(t, "bank"), "composition")));
		json_decref(t);
	}
	kiln_bank_close(b);
	assert_true(nheld > 100);
	qsort(held, (size_t)nheld, sizeof *held, cmp_str);

	o.split = KILN_BANK_TRAIN;
	o.param_scale = 10;
	assert_int_equal(kiln_bank_open(&b, &o, &err), 0);
	for (int i = 0; i < N; i++) {
		const char *comp;

		t = next(b);
		comp = json_string_value(json_object_get(json_object_get(t,
						"bank"), "composition"));
		assert_null(bsearch(&comp, held, (size_t)nheld, sizeof *held,
				    cmp_str));
		wide += largest_number(comp) > 9;
		json_decref(t);
	}
	kiln_bank_close(b);
	assert_true(wide > N / 4);
	for (int i = 0; i < nheld; i++)
		free(held[i]);
}

/* Streams of one seed with other depths or parameter scales are other
 * tasks under the same indices: their ids differ, so that tasks of
 * --depth 1 and --depth 2 written into one file never share one (a
 * teacher's eval did, and judged a depth-2 task by a depth-1 task's
 * answer). The default stream's ids stay bank/SEED/INDEX. */
static void streams_never_share_an_id(void **state)
{
	static const struct { int depth, scale; const char *first; } s[] = {
		{ 3, 1, "bank/1/0" }, { 1, 1, "bank/1-d1/0" },
		{ 2, 1, "bank/1-d2/0" }, { 1, 10, "bank/1-d1-x10/0" },
		{ 3, 10, "bank/1-d3-x10/0" },
	};
	enum { NS = sizeof s / sizeof s[0], N = 40 };
	char *ids[NS * N];
	int n = 0;

	(void)state;
	for (int i = 0; i < NS; i++) {
		kiln_bank_opts o = kiln_bank_opts_default();
		kiln_bank *b;
		kiln_error err;

		o.depth = s[i].depth;
		o.param_scale = s[i].scale;
		assert_int_equal(kiln_bank_open(&b, &o, &err), 0);
		for (int k = 0; k < N; k++) {
			json_t *t = next(b);

			ids[n] = strdup(json_string_value(json_object_get(t,
								   "id")));
			if (k == 0)
				assert_string_equal(ids[n], s[i].first);
			n++;
			json_decref(t);
		}
		kiln_bank_close(b);
	}
	qsort(ids, (size_t)n, sizeof *ids, cmp_str);
	for (int i = 1; i < n; i++)
		assert_string_not_equal(ids[i - 1], ids[i]);
	for (int i = 0; i < n; i++)
		free(ids[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(integer_semantics_are_pythons),
		cmocka_unit_test(list_semantics_are_pythons),
		cmocka_unit_test(conversions_and_strings_are_pythons),
		cmocka_unit_test(bad_text_is_refused),
		cmocka_unit_test(same_seed_same_tasks),
		cmocka_unit_test(stream_of_seed_1_is_pinned),
		cmocka_unit_test(lua_task_of_seed_1_is_pinned),
		cmocka_unit_test(every_row_has_code_in_every_language),
		cmocka_unit_test(ten_thousand_distinct_tasks),
		cmocka_unit_test(records_agree_with_the_interpreter),
		cmocka_unit_test(wide_records_agree_with_the_interpreter),
		cmocka_unit_test(wide_parameters_keep_the_split),
		cmocka_unit_test(streams_never_share_an_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
