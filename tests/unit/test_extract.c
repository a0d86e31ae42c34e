/* Code extraction from model answers, and test splitting.
 *
 * Extraction cases are data: tests/data/extract/<name>.answer is a model's
 * answer as it came (bytes exact: CRLF, tabs, cut off...), and
 * <name>.expected is a header, a line "---", then exactly the code kiln
 * must extract. Header lines (only language is required):
 *
 *   language: python        the task's language, as given ("(none)": NULL)
 *   mode: tests             kiln_extract_tests (default: code)
 *   how: fenced             check out.how
 *   blocks: 2               check out.blocks (also parts, truncated)
 *   error: no code in       extraction must fail with KILN_EPARSE and a
 *                           message containing this; nothing after ---
 *
 * A new extraction bug is one new file pair; extraction_cases runs them.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/code.h"
#include "kiln/rng.h"

/* ------------------------------------------------------------ helpers */

/* Extracts or fails the test; the caller frees e->code. */
static void extract_ok(const char *answer, const char *lang, kiln_extracted *e)
{
	kiln_error err = { 0, "" };
	int rc = kiln_extract_code(answer, strlen(answer), lang, e, &err);

	if (rc)
		fail_msg("extract failed: %d %s", rc, err.msg);
	assert_non_null(e->code);
}

/* Extraction must fail with code; returns the message. */
static const char *extract_fails(const char *answer, size_t len,
				 const char *lang, int code)
{
	static kiln_error err;
	kiln_extracted e;

	memset(&e, 0x55, sizeof(e));
	assert_int_equal(kiln_extract_code(answer, len, lang, &e, &err), code);
	assert_null(e.code);
	assert_int_equal(err.code, code);
	return err.msg;
}

struct split {
	char *pre;
	char **t;
	size_t n;
};

static void split_ok(const char *code, const char *lang, struct split *s)
{
	kiln_error err = { 0, "" };
	int rc = kiln_split_tests(code, strlen(code), lang, &s->pre, &s->t,
				  &s->n, &err);

	if (rc)
		fail_msg("split failed: %d %s", rc, err.msg);
	assert_non_null(s->pre);
}

static void split_free(struct split *s)
{
	free(s->pre);
	kiln_tests_free(s->t, s->n);
}

static const char *split_fails(const char *code, const char *lang, int want)
{
	static kiln_error err;
	struct split s;

	memset(&s, 0x55, sizeof(s));
	assert_int_equal(kiln_split_tests(code, strlen(code), lang, &s.pre,
					  &s.t, &s.n, &err), want);
	assert_null(s.pre);
	assert_null(s.t);
	assert_int_equal(s.n, 0);
	return err.msg;
}

/* --------------------------------------------------- language names */

static void language_names_and_aliases(void **state)
{
	static const struct { const char *name, *canonical; } names[] = {
		{ "python", "python" }, { "Python", "python" }, { "PY", "python" },
		{ "python3", "python" }, { "PYTHON3", "python" }, { "c", "c" },
		{ "C", "c" }, { "py3", NULL }, { "h", NULL }, { "", NULL },
		{ "pythonx", NULL }, { "rust", "rust" }, { "RS", "rust" },
		{ "go", "go" }, { "golang", "go" }, { "Java", "java" },
		{ "lua", "lua" }, { "OCaml", "ocaml" }, { "ml", NULL },
		{ "racket", "racket" }, { "Tcl", "tcl" }, { "tclsh", NULL },
		{ "rkt", NULL }, { "r", NULL }, { "cpp", "cpp" },
		{ "C++", "cpp" }, { "cxx", "cpp" }, { "cc", NULL },
		{ "js", "js" }, { "JavaScript", "js" }, { "node", "js" },
		{ "mjs", NULL }, { "python ", NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *c = kiln_lang_canonical(names[i].name);
		if (names[i].canonical ? !c || strcmp(c, names[i].canonical) : !!c)
			fail_msg("'%s': '%s', not '%s'", names[i].name,
				 c ? c : "NULL", names[i].canonical ?
				 names[i].canonical : "NULL");
	}
	assert_null(kiln_lang_canonical(NULL));
	/* Fence tags: the names above and tags only fences use. */
	assert_string_equal(kiln_lang_of_tag("Py3", 3), "python");
	assert_string_equal(kiln_lang_of_tag("ipython", 7), "python");
	assert_string_equal(kiln_lang_of_tag("H", 1), "c");
	assert_string_equal(kiln_lang_of_tag("python3x", 7), "python");
	assert_string_equal(kiln_lang_of_tag("cpp", 3), "cpp");
	assert_string_equal(kiln_lang_of_tag("hpp", 3), "cpp");
	assert_string_equal(kiln_lang_of_tag("mjs", 3), "js");
	assert_string_equal(kiln_lang_of_tag("rust", 4), "rust");
	assert_string_equal(kiln_lang_of_tag("ml", 2), "ocaml");
	assert_string_equal(kiln_lang_of_tag("racket", 6), "racket");
	assert_string_equal(kiln_lang_of_tag("rkt", 3), "racket");
	assert_string_equal(kiln_lang_of_tag("tcl", 3), "tcl");
	assert_null(kiln_lang_of_tag("r", 1));
	assert_null(kiln_lang_of_tag("", 0));
	assert_null(kiln_lang_of_tag(NULL, 0));
}

/* A task's language "" is Python everywhere, as in the sandbox (extraction
 * once read it as an unknown language and split refused it). */
static void empty_language_is_python(void **state)
{
	kiln_extracted e;
	struct split s;

	(void)state;
	extract_ok("Answer:\n\ndef f():\n    return 1\n", "", &e);
	assert_string_equal(e.how, "unfenced");
	assert_string_equal(e.code, "def f():\n    return 1\n");
	free(e.code);
	extract_ok("```py3\ndef g():\n    return 2\n```\n", "", &e);
	assert_string_equal(e.how, "fenced");
	free(e.code);
	split_ok("assert f() == 1\n", "", &s);
	assert_int_equal(s.n, 1);
	split_free(&s);
}

/* ----------------------------------------------------- extraction */

#ifndef KILN_EXTRACT_CASES
#error "KILN_EXTRACT_CASES must name tests/data/extract"
#endif

/* The whole file, NUL-terminated (*len without the NUL); NULL if absent. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) &&
	    fread(buf, 1, (size_t)n, f) == (size_t)n) {
		buf[n] = '\0';
		*len = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

struct xcase {
	char language[32];
	int lang_null, tests;
	char how[32], error[256];
	int blocks, parts, truncated; /* -1: not checked */
	const char *code;             /* in the .expected buffer */
};

/* Reads the header of a .expected file; NULL or what is wrong. */
static const char *parse_expected(char *buf, struct xcase *c)
{
	char *line = buf, *nl;

	memset(c, 0, sizeof(*c));
	c->blocks = c->parts = c->truncated = -1;
	for (; (nl = strchr(line, '\n')); line = nl + 1) {
		char *v;

		*nl = '\0';
		if (!strcmp(line, "---")) {
			c->code = nl + 1;
			return c->language[0] || c->lang_null ? NULL
							      : "no language:";
		}
		if (!(v = strstr(line, ": ")))
			return "a header line without ': '";
		*v = '\0';
		v += 2;
		if (!strcmp(line, "language")) {
			if (!strcmp(v, "(none)"))
				c->lang_null = 1;
			else
				snprintf(c->language, sizeof(c->language), "%s", v);
		} else if (!strcmp(line, "mode")) {
			if (strcmp(v, "code") && strcmp(v, "tests"))
				return "mode is code or tests";
			c->tests = !strcmp(v, "tests");
		} else if (!strcmp(line, "how")) {
			snprintf(c->how, sizeof(c->how), "%s", v);
		} else if (!strcmp(line, "error")) {
			snprintf(c->error, sizeof(c->error), "%s", v);
		} else if (!strcmp(line, "blocks")) {
			c->blocks = atoi(v);
		} else if (!strcmp(line, "parts")) {
			c->parts = atoi(v);
		} else if (!strcmp(line, "truncated")) {
			c->truncated = atoi(v);
		} else {
			return "an unknown header line";
		}
	}
	return "no '---' line";
}

static int check_field(const char *name, const char *field, int want,
		       int got)
{
	if (want < 0 || want == got)
		return 0;
	fprintf(stderr, "%s: %s is %d, expected %d\n", name, field, got, want);
	return 1;
}

/* Runs one case; 0 if it passes, else 1 with the reason on stderr. */
static int run_case(const char *dir, const char *name)
{
	char path[1024];
	char *answer = NULL, *expected = NULL;
	size_t alen, elen;
	struct xcase c;
	kiln_extracted e;
	kiln_error err = { 0, "" };
	const char *why, *lang;
	int rc, bad = 1;

	snprintf(path, sizeof(path), "%s/%s.answer", dir, name);
	answer = slurp(path, &alen);
	snprintf(path, sizeof(path), "%s/%s.expected", dir, name);
	expected = slurp(path, &elen);
	if (!answer || !expected) {
		fprintf(stderr, "%s: cannot read %s\n", name, path);
		goto out;
	}
	if ((why = parse_expected(expected, &c))) {
		fprintf(stderr, "%s.expected: %s\n", name, why);
		goto out;
	}
	lang = c.lang_null ? NULL : c.language;
	rc = c.tests ? kiln_extract_tests(answer, alen, lang, &e, &err)
		     : kiln_extract_code(answer, alen, lang, &e, &err);
	if (c.error[0]) {
		if (rc == 0) {
			fprintf(stderr, "%s: extracted, expected '%s':\n%s", name,
				c.error, e.code);
			free(e.code);
		} else if (rc != KILN_EPARSE || e.code ||
			   !strstr(err.msg, c.error) || *c.code) {
			fprintf(stderr, "%s: %d '%s', expected KILN_EPARSE '%s'"
				"%s\n", name, rc, err.msg, c.error,
				*c.code ? " (and no code after ---)" : "");
		} else {
			bad = 0;
		}
		goto out;
	}
	if (rc) {
		fprintf(stderr, "%s: %d %s\n", name, rc, err.msg);
		goto out;
	}
	bad = 0;
	if (strcmp(e.code, c.code)) {
		fprintf(stderr, "%s: extracted\n---\n%s---\nexpected\n---\n%s---\n",
			name, e.code, c.code);
		bad = 1;
	}
	if (c.how[0] && strcmp(c.how, e.how)) {
		fprintf(stderr, "%s: how is %s, expected %s\n", name, e.how,
			c.how);
		bad = 1;
	}
	bad |= check_field(name, "blocks", c.blocks, e.blocks);
	bad |= check_field(name, "parts", c.parts, e.parts);
	bad |= check_field(name, "truncated", c.truncated, e.truncated);
	free(e.code);
out:
	free(answer);
	free(expected);
	return bad;
}

static int is_case_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' &&
	       ((n > 7 && !strcmp(d->d_name + n - 7, ".answer")) ||
		(n > 9 && !strcmp(d->d_name + n - 9, ".expected")));
}

/* Every <name>.answer in tests/data/extract against its <name>.expected;
 * a file without its pair is an error too (a misspelt name). */
static void extraction_cases(void **state)
{
	struct dirent **ents;
	int n = scandir(KILN_EXTRACT_CASES, &ents, is_case_file, alphasort);
	int cases = 0, failed = 0;

	(void)state;
	if (n < 0)
		fail_msg("%s: cannot read the directory", KILN_EXTRACT_CASES);
	for (int i = 0; i < n; i++) {
		char name[256], path[1024];
		const char *f = ents[i]->d_name;
		size_t len = strlen(f);
		int answer = len > 7 && !strcmp(f + len - 7, ".answer");
		size_t base = len - (answer ? 7 : 9);
		FILE *pair;

		snprintf(name, sizeof(name), "%.*s", (int)base, f);
		snprintf(path, sizeof(path), "%s/%s.%s", KILN_EXTRACT_CASES, name,
			 answer ? "expected" : "answer");
		if (!(pair = fopen(path, "rb"))) {
			fprintf(stderr, "%s: no %s\n", f, path);
			failed++;
		} else {
			fclose(pair);
		}
		if (answer) {
			cases++;
			failed += run_case(KILN_EXTRACT_CASES, name);
		}
	}
	for (int i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	if (cases < 20)
		fail_msg("%d extraction cases in %s, expected 20 or more", cases,
			 KILN_EXTRACT_CASES);
	if (failed)
		fail_msg("%d of %d extraction cases failed", failed, cases);
}

static void tags_and_their_aliases(void **state)
{
	static const char *const tags[] = { "python", "py", "python3", "Python",
					    "PY", "{.python}", "python title=\"s.py\"",
					    "python:solution.py" };
	kiln_extracted e;
	char buf[256];

	(void)state;
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		/* An untagged block of output comes first: the tag decides. */
		snprintf(buf, sizeof(buf),
			 "```\n$ python s.py\n5\n```\n```%s\ndef five():\n"
			 "    return 5\n```\n", tags[i]);
		extract_ok(buf, "python", &e);
		assert_string_equal(e.code, "def five():\n    return 5\n");
		assert_string_equal(e.how, "fenced");
		free(e.code);
	}
	/* No block tagged python: the untagged one, not the bash one. */
	extract_ok("```bash\npip install numpy\n```\n```\ndef f():\n"
		   "    return 1\n```\n", "python", &e);
	assert_string_equal(e.code, "def f():\n    return 1\n");
	assert_string_equal(e.how, "fenced-untagged");
	free(e.code);
}

static void no_code_at_all(void **state)
{
	const char prose[] = "I'm sorry, but I can't help with that. "
			     "Try asking about something else.\n";
	const char usage[] = "The answer is f(3), which returns 9.\n";

	(void)state;
	assert_non_null(strstr(extract_fails(prose, sizeof(prose) - 1,
					      "python", KILN_EPARSE),
			       "no code in the answer"));
	/* Code-looking but nothing that surely starts code. */
	assert_non_null(strstr(extract_fails(usage, sizeof(usage) - 1,
					     "python", KILN_EPARSE),
			       "no code in the answer"));
	assert_string_equal(extract_fails("", 0, "python", KILN_EPARSE),
			    "no code in the answer (it is empty)");
	assert_non_null(strstr(extract_fails("```python\n   \n```\n", 17,
					     "python", KILN_EPARSE),
			       "no code in the answer"));
	assert_non_null(strstr(extract_fails("fn main() {}\n", 13, "rust",
					     KILN_EPARSE),
			       "no code in the answer"));
}

static void bad_bytes_and_caps(void **state)
{
	const char nul[] = "```python\nx = 1\0\n```\n";
	const char bad[] = "```python\ns = '\xc3\x28'\n```\n";
	kiln_extracted e;
	kiln_error err;
	size_t big = KILN_EXTRACT_MAX_ANSWER + 1;
	char *huge;

	(void)state;
	assert_string_equal(extract_fails(nul, sizeof(nul) - 1, "python",
					  KILN_EPARSE),
			    "answer: NUL byte at byte 16");
	assert_string_equal(extract_fails(bad, sizeof(bad) - 1, "python",
					  KILN_EPARSE),
			    "answer: invalid UTF-8 at byte 16");
	huge = malloc(big);
	assert_non_null(huge);
	memset(huge, 'x', big);
	assert_non_null(strstr(extract_fails(huge, big, "python", KILN_ELIMIT),
			       "larger than"));
	/* At the cap it is read (and found to be no code). */
	extract_fails(huge, big - 1, "python", KILN_EPARSE);
	free(huge);
	assert_int_equal(kiln_extract_code("x", 1, "python", NULL, &err),
			 KILN_EINVAL);
	assert_int_equal(kiln_extract_code(NULL, 3, "python", &e, &err),
			 KILN_EINVAL);
}

/* ------------------------------------------------------ Python split */

static void split_asserts_with_brackets_and_hashes(void **state)
{
	struct split s;

	(void)state;
	split_ok("import math\n"
		 "assert add(1, 2) == 3\n"
		 "assert add(\n"
		 "    [1, 2],  # a comment with ) and \"\n"
		 "    [3],\n"
		 ") == [1, 2, 3], \"message # not a comment\"\n"
		 "assert '#' in 'a#b'  # a real comment\n"
		 "assert math.isclose(add(0.1, 0.2), \\\n"
		 "                    0.3)\n", "python", &s);
	assert_string_equal(s.pre, "import math\n");
	assert_int_equal(s.n, 4);
	assert_string_equal(s.t[0], "assert add(1, 2) == 3\n");
	assert_string_equal(s.t[1], "assert add(\n"
			    "    [1, 2],  # a comment with ) and \"\n"
			    "    [3],\n"
			    ") == [1, 2, 3], \"message # not a comment\"\n");
	assert_string_equal(s.t[2], "assert '#' in 'a#b'  # a real comment\n");
	assert_string_equal(s.t[3], "assert math.isclose(add(0.1, 0.2), \\\n"
			    "                    0.3)\n");
	split_free(&s);
}

/* 'assert' at the start of a line inside a string is text, not a test. */
static void split_triple_quoted_strings(void **state)
{
	struct split s;

	(void)state;
	split_ok("DOC = \"\"\"\nassert this is not code\n\"\"\"\n"
		 "RAW = r'''\\'''\n'''\n"
		 "assert DOC.count('assert') == 1\n", "python", &s);
	assert_string_equal(s.pre, "DOC = \"\"\"\nassert this is not code\n"
			    "\"\"\"\nRAW = r'''\\'''\n'''\n");
	assert_int_equal(s.n, 1);
	assert_string_equal(s.t[0], "assert DOC.count('assert') == 1\n");
	split_free(&s);
}

static void split_string_prefixes_and_fstrings(void **state)
{
	struct split s;

	(void)state;
	split_ok("assert b'\\x00' == B\"\\0\"\n"
		 "assert rb'\\'' == br\"\\\\'\"\n"
		 "assert f\"{'}'}\" == '}'\n"
		 "assert f'{d[\"k\"]:>{w}}' == f\"{{x}}\"\n"
		 "assert f\"{x!r}\" != U'(' and Rb'[' \n", "python", &s);
	assert_string_equal(s.pre, "");
	assert_int_equal(s.n, 5);
	assert_string_equal(s.t[3], "assert f'{d[\"k\"]:>{w}}' == f\"{{x}}\"\n");
	split_free(&s);
}

static void split_test_functions_and_decorators(void **state)
{
	struct split s;

	(void)state;
	split_ok("import pytest\n\n"
		 "def helper(n):\n    return list(range(n))\n\n"
		 "@pytest.mark.timeout(2)\n"
		 "@slow\n"
		 "def test_range():\n"
		 "    \"\"\"assert inside a docstring\"\"\"\n"
		 "    assert helper(3) == [0, 1, 2]\n\n"
		 "    # a comment line in the body\n"
		 "    assert helper(0) == []\n\n"
		 "def testEmpty():\n    assert not helper(0)\n"
		 "def testing_data():\n    return [1]\n", "python", &s);
	/* testing_data is a helper: test, test_*, testX, test1 are tests. */
	assert_string_equal(s.pre, "import pytest\n"
			    "def helper(n):\n    return list(range(n))\n"
			    "def testing_data():\n    return [1]\n");
	assert_int_equal(s.n, 2);
	assert_string_equal(s.t[0],
			    "@pytest.mark.timeout(2)\n@slow\ndef test_range():\n"
			    "    \"\"\"assert inside a docstring\"\"\"\n"
			    "    assert helper(3) == [0, 1, 2]\n\n"
			    "    # a comment line in the body\n"
			    "    assert helper(0) == []\ntest_range()\n");
	assert_string_equal(s.t[1], "def testEmpty():\n    assert not helper(0)\n"
			    "testEmpty()\n");
	split_free(&s);
}

static void split_main_block(void **state)
{
	struct split s;

	(void)state;
	split_ok("import unittest\n"
		 "def test_a():\n    assert f(1) == 1\n\n"
		 "if __name__ == '__main__':\n"
		 "    expected = {\n        'k': 2,\n    }\n"
		 "    assert f(2) == expected['k']\n"
		 "    assert f(\n        3) == 3\n"
		 "    text = \"\"\"\n    kept as is\n\"\"\"\n"
		 "    test_a()\n"
		 "    unittest.main(exit=False)\n"
		 "    print('all passed')\n"
		 "else:\n    assert False\n", "python", &s);
	assert_string_equal(s.pre, "import unittest\n"
			    "expected = {\n    'k': 2,\n}\n"
			    "text = \"\"\"\n    kept as is\n\"\"\"\n"
			    "print('all passed')\n");
	assert_int_equal(s.n, 3);
	assert_string_equal(s.t[0], "def test_a():\n    assert f(1) == 1\n"
			    "test_a()\n");
	assert_string_equal(s.t[1], "assert f(2) == expected['k']\n");
	assert_string_equal(s.t[2], "assert f(\n    3) == 3\n");
	split_free(&s);
}

static void split_drops_solution_imports(void **state)
{
	struct split s;

	(void)state;
	split_ok("from solution import add, sub\nimport solution\n"
		 "from solutions_extra import x\nimport sys\n"
		 "assert add(1, 1) == 2\n", "python", &s);
	assert_string_equal(s.pre, "from solutions_extra import x\nimport sys\n");
	assert_int_equal(s.n, 1);
	split_free(&s);
}

static void split_unittest_class(void **state)
{
	struct split s;

	(void)state;
	split_ok("import unittest\n\n"
		 "class TestAdd(unittest.TestCase):\n"
		 "    def setUp(self):\n        self.v = 1\n\n"
		 "    def test_one(self):\n"
		 "        self.assertEqual(add(self.v, 1), 2)\n\n"
		 "    @unittest.skip('slow')\n"
		 "    def test_two(self):\n"
		 "        def test_inner():\n            pass\n"
		 "        self.assertTrue(True)\n\n"
		 "    def helper(self):\n        pass\n\n"
		 "if __name__ == \"__main__\":\n    unittest.main()\n",
		 "python", &s);
	assert_non_null(strstr(s.pre, "class TestAdd(unittest.TestCase):\n"));
	assert_non_null(strstr(s.pre, "def helper(self):"));
	assert_null(strstr(s.pre, "unittest.main"));
	assert_int_equal(s.n, 2); /* not test_inner */
	assert_string_equal(s.t[0],
		"import unittest as _kiln_ut\n"
		"_kiln_r = _kiln_ut.TestResult()\n"
		"_kiln_ut.TestSuite([TestAdd(\"test_one\")]).run(_kiln_r)\n"
		"for _kiln_t, _kiln_tb in _kiln_r.errors + _kiln_r.failures:\n"
		"    raise AssertionError(_kiln_tb.strip().splitlines()[-1])\n"
		"if _kiln_r.unexpectedSuccesses:\n"
		"    raise AssertionError(\"unexpected success\")\n");
	assert_non_null(strstr(s.t[1], "TestAdd(\"test_two\")"));
	split_free(&s);
}

static void split_pytest_class(void **state)
{
	struct split s;

	(void)state;
	split_ok("class TestStack:\n"
		 "    def test_push(self):\n        assert Stack().push(1)\n"
		 "    def test_pop(self):\n        assert Stack().pop() is None\n"
		 "class Helper:\n    def test_no(self):\n        assert 0\n",
		 "python", &s);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.t[0], "TestStack().test_push()\n");
	assert_string_equal(s.t[1], "TestStack().test_pop()\n");
	assert_non_null(strstr(s.pre, "class Helper:"));
	split_free(&s);
}

/* HumanEval's shape: a check() that asserts, called once. Loops and with
 * blocks around asserts are one test each. */
static void split_check_and_compound_statements(void **state)
{
	struct split s;

	(void)state;
	split_ok("def check(candidate):\n"
		 "    assert candidate([1, 2]) == 3\n\n"
		 "def show(x):\n    print(x)\n\n"
		 "check(total)\n"
		 "show(1)\n"
		 "for xs, want in [([1], 1), ([], 0)]:\n"
		 "    assert total(xs) == want\n"
		 "with pytest.raises(TypeError):\n    total(None)\n"
		 "try:\n    total(1)\nexcept TypeError:\n    pass\n"
		 "else:\n    assert False, 'no error'\n", "python", &s);
	assert_string_equal(s.pre, "def check(candidate):\n"
			    "    assert candidate([1, 2]) == 3\n"
			    "def show(x):\n    print(x)\n"
			    "show(1)\n"
			    "with pytest.raises(TypeError):\n    total(None)\n");
	assert_int_equal(s.n, 3);
	assert_string_equal(s.t[0], "check(total)\n");
	assert_string_equal(s.t[1], "for xs, want in [([1], 1), ([], 0)]:\n"
			    "    assert total(xs) == want\n");
	assert_string_equal(s.t[2], "try:\n    total(1)\nexcept TypeError:\n"
			    "    pass\nelse:\n    assert False, 'no error'\n");
	split_free(&s);
}

/* Test code that is all indented (pasted from inside something) is
 * dedented; CRLF comes out as LF. */
static void split_indented_and_crlf(void **state)
{
	struct split s;

	(void)state;
	split_ok("    x = [\r\n        1]\r\n    assert x == [1]\r\n", "python",
		 &s);
	assert_string_equal(s.pre, "x = [\n    1]\n");
	assert_int_equal(s.n, 1);
	assert_string_equal(s.t[0], "assert x == [1]\n");
	split_free(&s);
}

static void split_no_tests_is_not_an_error(void **state)
{
	struct split s;

	(void)state;
	split_ok("def f():\n    return 1\n", "python", &s);
	assert_int_equal(s.n, 0);
	assert_string_equal(s.pre, "def f():\n    return 1\n");
	split_free(&s);
	split_ok("", NULL, &s);
	assert_int_equal(s.n, 0);
	assert_string_equal(s.pre, "");
	split_free(&s);
	split_ok("# only a comment\n\n", "python", &s);
	assert_int_equal(s.n, 0);
	split_free(&s);
}

static void split_python_garbage(void **state)
{
	static const struct { const char *code, *msg; } cases[] = {
		{ "x = 1\nassert f('abc) == 1\n", "line 2: unterminated string" },
		{ "s = \"\"\"\nnever\nclosed\n", "line 1: unterminated string" },
		{ "assert f(1,\n  2\n", "line 1: '(' is never closed" },
		{ "assert f(1))\n", "line 1: unmatched ')'" },
		{ "a = [1,\n 2)\n", "line 2: ')' does not match '[' opened at line 1" },
		{ "x = 1 \\", "backslash continuation at the end" },
		{ "x = 1\n    y = 2\n", "line 2: unexpected indentation" },
		{ "@decorator\n", "line 1: decorator without a definition" },
		{ "s = f'{x'\n", "line 1: unterminated" },
		{ "if x:\n    a = 1\n  b = 2\n", "line 3: unindent" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *msg = split_fails(cases[i].code, "python", KILN_EPARSE);
		if (!strstr(msg, cases[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, msg, cases[i].msg);
	}
	{
		struct split s;
		kiln_error err;
		assert_int_equal(kiln_split_tests("a\0b", 3, "python", &s.pre,
						  &s.t, &s.n, &err), KILN_EPARSE);
		assert_string_equal(err.msg, "test code: NUL byte at byte 2");
		assert_null(s.pre);
	}
	assert_string_equal(split_fails("x = '\xff'\n", "python", KILN_EPARSE),
			    "test code: invalid UTF-8 at byte 6");
	assert_non_null(strstr(split_fails("x\n", "rust", KILN_EINVAL), "rust"));
}

/* ----------------------------------------------------------- C split */

static void split_c_top_level(void **state)
{
	struct split s;

	(void)state;
	split_ok("#include <assert.h>\n"
		 "#define SQ(x) \\\n    ((x) * (x))\n"
		 "/* assert(0); in a comment */\n"
		 "static const int data[] = { 1, 2, 3 };\n"
		 "static int twice(int x) { return 2 * x; }\n"
		 "assert(sum(data, 3) == 6);\n"
		 "assert(strcmp(name(\");)\"), \";)\") == 0 &&\n"
		 "       twice(')') == 2 * ')');\n"
		 "int n = 0;\n"
		 "n = twice(4);\n"
		 "assert(n == 8)\n", "c", &s);
	assert_string_equal(s.pre, "#include <assert.h>\n"
			    "#define SQ(x) \\\n    ((x) * (x))\n"
			    "static const int data[] = { 1, 2, 3 };\n"
			    "static int twice(int x) { return 2 * x; }\n"
			    "int n = 0;\n");
	assert_int_equal(s.n, 3);
	assert_string_equal(s.t[0], "assert(sum(data, 3) == 6);\n");
	assert_string_equal(s.t[1], "assert(strcmp(name(\");)\"), \";)\") == 0 &&\n"
			    "       twice(')') == 2 * ')');\n");
	/* A statement at file scope is set-up for the tests after it. */
	assert_string_equal(s.t[2], "n = twice(4);\nassert(n == 8);\n");
	split_free(&s);
}

static void split_c_main(void **state)
{
	struct split s;

	(void)state;
	split_ok("#include <assert.h>\n"
		 "int main(int argc, char **argv)\n{\n"
		 "\t(void)argc;\n"
		 "\tint a[] = { 3, 1, 2 };\n"
		 "\tstruct pt p = { 1, 2 };\n"
		 "\tsort(a, 3);\n"
		 "\tassert(a[0] == 1);\n"
		 "\tfor (int i = 0; i + 1 < 3; i++) {\n"
		 "\t\tassert(a[i] <= a[i + 1]);\n\t}\n"
		 "\tif (p.x) assert(p.y == 2); else assert(0);\n"
		 "\tdo { a[0]++; } while (a[0] < 5);\n"
		 "\tassert(a[0] == 5);\n"
		 "\tprintf(\"ok }\\n\");\n"
		 "\treturn 0;\n}\n", "c", &s);
	assert_string_equal(s.pre, "#include <assert.h>\n");
	assert_int_equal(s.n, 4);
	assert_string_equal(s.t[0], "int a[] = { 3, 1, 2 };\n"
			    "struct pt p = { 1, 2 };\nsort(a, 3);\n"
			    "assert(a[0] == 1);\n");
	assert_string_equal(s.t[1], "int a[] = { 3, 1, 2 };\n"
			    "struct pt p = { 1, 2 };\nsort(a, 3);\n"
			    "for (int i = 0; i + 1 < 3; i++) {\n"
			    "\t\tassert(a[i] <= a[i + 1]);\n\t}\n");
	assert_string_equal(s.t[2], "int a[] = { 3, 1, 2 };\n"
			    "struct pt p = { 1, 2 };\nsort(a, 3);\n"
			    "if (p.x) assert(p.y == 2); else assert(0);\n");
	assert_string_equal(s.t[3], "int a[] = { 3, 1, 2 };\n"
			    "struct pt p = { 1, 2 };\nsort(a, 3);\n"
			    "do { a[0]++; } while (a[0] < 5);\n"
			    "assert(a[0] == 5);\n");
	split_free(&s);
}

static void split_c_test_functions(void **state)
{
	struct split s;

	(void)state;
	split_ok("static void test_empty(void)\n{\n\tassert(len(\"\") == 0);\n}\n"
		 "static void run_checks(void) { assert(len(\"ab\") == 2); }\n"
		 "static void test_args(int x) { assert(x); }\n"
		 "int main(void)\n{\n\ttest_empty();\n\trun_checks();\n"
		 "\treturn 0;\n}\n", "c", &s);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.t[0], "test_empty();\n");
	assert_string_equal(s.t[1], "run_checks();\n");
	assert_non_null(strstr(s.pre, "static void test_args(int x)"));
	assert_null(strstr(s.pre, "main"));
	split_free(&s);
}

/* The solution is already in the unit the tests are compiled into. */
static void split_c_drops_solution_include(void **state)
{
	struct split s;

	(void)state;
	split_ok("#include \"solution.h\"\n# include \"solution.c\"\n"
		 "#include \"solutions_util.h\"\n#include <assert.h>\n"
		 "int main(void) { assert(f() == 1); return 0; }\n", "c", &s);
	assert_string_equal(s.pre, "#include \"solutions_util.h\"\n"
			    "#include <assert.h>\n");
	assert_int_equal(s.n, 1);
	assert_string_equal(s.t[0], "assert(f() == 1);\n");
	split_free(&s);
}

static void split_c_garbage(void **state)
{
	static const struct { const char *code, *msg; } cases[] = {
		{ "int x;\n/* never closed\n", "line 2: unterminated comment" },
		{ "assert(f(\"abc) == 1);\n", "line 1: unterminated string" },
		{ "char c = 'a;\n", "line 1: unterminated character constant" },
		{ "int main(void) {\n  assert(1);\n", "line 1: '{' is never closed" },
		{ "assert(f(1)));\n", "line 1: unmatched ')'" },
		{ "int a[2] = { 1, 2 ];\n", "line 1: ']' does not match '{'" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *msg = split_fails(cases[i].code, "c", KILN_EPARSE);
		if (!strstr(msg, cases[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, msg, cases[i].msg);
	}
}

/* ------------------------------------------------------------- fuzzing */

static void check_extract(const char *buf, size_t len, const char *lang,
			  int tests)
{
	kiln_extracted e;
	kiln_error err = { 0, "" };
	int rc = tests ? kiln_extract_tests(buf, len, lang, &e, &err)
		       : kiln_extract_code(buf, len, lang, &e, &err);

	if (rc == 0) {
		assert_non_null(e.code);
		assert_true(strlen(e.code) <= len + (size_t)e.parts + 1);
		assert_true(e.parts >= 1);
		free(e.code);
	} else {
		assert_true(rc == KILN_EPARSE || rc == KILN_ELIMIT);
		assert_null(e.code);
		assert_true(err.msg[0] != '\0');
	}
}

static void check_split(const char *buf, size_t len, const char *lang)
{
	struct split s;
	kiln_error err = { 0, "" };
	int rc = kiln_split_tests(buf, len, lang, &s.pre, &s.t, &s.n, &err);

	if (rc == 0) {
		assert_non_null(s.pre);
		for (size_t i = 0; i < s.n; i++)
			assert_non_null(s.t[i]);
		split_free(&s);
	} else {
		assert_true(rc == KILN_EPARSE || rc == KILN_ELIMIT);
		assert_null(s.pre);
		assert_true(err.msg[0] != '\0');
	}
}

/* Random bytes, and random soups of the pieces the scanners care about
 * (which get past the UTF-8 check), never crash either function. Run
 * under ASan/UBSan, this also checks every read stays in bounds. */
static void random_input_never_crashes(void **state)
{
	static const char *const pieces[] = {
		"\n", "\r\n", " ", "    ", "\t", "'", "\"", "'''", "\"\"\"", "#",
		"\\", "\\\n", "(", ")", "[", "]", "{", "}", ";", ":", "=", "@",
		"assert ", "assert(", "def test_a():\n", "class TestX(unittest.TestCase):\n",
		"if __name__ == '__main__':\n", "f\"{", "rb'", "```", "```python\n",
		"~~~", "   ```", "</think>", "int main(void) {", "/*", "*/", "//",
		"#include <x.h>\n", "do", "else", "x", "1", "\xc3\xa9", "return 0;",
		"from solution import *\n", "check(f)\n", "def check(c):\n",
	};
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	static const char *const langs[] = { "python", "c" };
	char buf[512];

	(void)state;
	for (int round = 0; round < 6000; round++) {
		size_t len = 0, want = kiln_rng_split(&seed) % sizeof(buf);

		if (round % 3 == 0) {
			for (; len < want; len++)
				buf[len] = (char)(kiln_rng_split(&seed) & 0xff);
		} else {
			while (len < want) {
				const char *p = pieces[kiln_rng_split(&seed) %
						       (sizeof(pieces) / sizeof(pieces[0]))];
				size_t k = strlen(p);
				if (len + k > sizeof(buf))
					break;
				memcpy(buf + len, p, k);
				len += k;
			}
		}
		check_extract(buf, len, langs[round & 1], round % 5 == 0);
		check_split(buf, len, langs[round & 1]);
		check_split(buf, len, langs[(round & 1) ^ 1]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(language_names_and_aliases),
		cmocka_unit_test(empty_language_is_python),
		cmocka_unit_test(extraction_cases),
		cmocka_unit_test(tags_and_their_aliases),
		cmocka_unit_test(no_code_at_all),
		cmocka_unit_test(bad_bytes_and_caps),
		cmocka_unit_test(split_asserts_with_brackets_and_hashes),
		cmocka_unit_test(split_triple_quoted_strings),
		cmocka_unit_test(split_string_prefixes_and_fstrings),
		cmocka_unit_test(split_test_functions_and_decorators),
		cmocka_unit_test(split_main_block),
		cmocka_unit_test(split_drops_solution_imports),
		cmocka_unit_test(split_unittest_class),
		cmocka_unit_test(split_pytest_class),
		cmocka_unit_test(split_check_and_compound_statements),
		cmocka_unit_test(split_indented_and_crlf),
		cmocka_unit_test(split_no_tests_is_not_an_error),
		cmocka_unit_test(split_python_garbage),
		cmocka_unit_test(split_c_top_level),
		cmocka_unit_test(split_c_main),
		cmocka_unit_test(split_c_test_functions),
		cmocka_unit_test(split_c_drops_solution_include),
		cmocka_unit_test(split_c_garbage),
		cmocka_unit_test(random_input_never_crashes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
