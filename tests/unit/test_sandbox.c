/* The sandbox, through its public API, on real boxes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kiln/sandbox.h"

static kiln_box *warm, *cold;

static int setup(void **state)
{
	kiln_box_config cfg;
	kiln_error err;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	kiln_limits_default(&cfg.limits);
	cfg.limits.timeout_ms = 1000;
	cfg.limits.memory = 256LL << 20;
	cfg.limits.output = 64 * 1024;
	if (kiln_box_open(&warm, &cfg, &err)) {
		print_error("warm box: %s\n", err.msg);
		return -1;
	}
	cfg.cold = 1;
	if (kiln_box_open(&cold, &cfg, &err)) {
		print_error("cold box: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	kiln_box_close(warm);
	kiln_box_close(cold);
	return 0;
}

/* Runs a job and returns its verdict (caller decrefs). */
static json_t *run_in(kiln_box *box, const char *lang, const char *solution,
		      const char *const *tests, size_t n, int program)
{
	kiln_job job = { .language = lang, .solution = solution,
			 .tests = tests, .ntests = n, .program = program };
	kiln_error err;
	json_t *res = NULL;

	assert_int_equal(kiln_box_run(box, &job, &res, &err), 0);
	assert_non_null(res);
	return res;
}

static const char *status(const json_t *v)
{
	return json_string_value(json_object_get(v, "status"));
}

static const char *test_status(const json_t *v, size_t i)
{
	return json_string_value(json_object_get(
		json_array_get(json_object_get(v, "tests"), i), "status"));
}

static void python_pass_and_fail(void **state)
{
	const char *tests[] = { "assert add(1, 2) == 3", "assert add(2, 2) == 5",
				"assert add(0, 0) == 0" };
	json_t *v;

	(void)state;
	v = run_in(warm, "python", "def add(a, b):\n    return a + b\n",
		   tests, 3, 0);
	assert_string_equal(status(v), "fail");
	assert_int_equal(json_integer_value(json_object_get(v, "tests_passed")),
			 2);
	assert_string_equal(test_status(v, 0), "pass");
	assert_string_equal(test_status(v, 1), "fail");
	assert_string_equal(test_status(v, 2), "pass");
	json_decref(v);
}

/* A failing, hanging, crashing or exiting test hides none of the others. */
static void tests_are_independent(void **state)
{
	const char *tests[] = {
		"assert f() == 1",
		"while True: pass",                      /* timeout */
		"import os; os._exit(0)",                /* exits mid-test */
		"import os, signal; os.kill(os.getpid(), signal.SIGSEGV)",
		"raise ValueError('boom')",
		"x = [0] * (1 << 40)",                   /* memory */
		"assert f() == 1",
	};
	const char *want[] = { "pass", "timeout", "error", "killed", "error",
			       "memory", "pass" };
	json_t *v;

	(void)state;
	v = run_in(warm, "python", "def f():\n    return 1\n", tests, 7, 0);
	for (size_t i = 0; i < 7; i++)
		assert_string_equal(test_status(v, i), want[i]);
	assert_int_equal(json_integer_value(json_object_get(v, "tests_passed")),
			 2);
	assert_string_equal(status(v), "timeout"); /* the first non-pass */
	json_decref(v);
}

/* Exit code and printed text prove nothing: a candidate that announces
 * success and leaves before any test runs does not pass. */
static void early_exit_cannot_pass(void **state)
{
	const char *tests[] = { "assert False", "assert False" };
	const char *sols[] = {
		"import os\nprint('all tests passed')\nos._exit(0)\n",
		"import sys\nprint('OK')\nsys.exit(0)\n",
		"import os\nos.write(1, b'pass\\n' * 3)\nos._exit(0)\n",
	};
	(void)state;
	for (size_t s = 0; s < 3; s++) {
		json_t *v = run_in(warm, "python", sols[s], tests, 2, 0);
		assert_string_not_equal(status(v), "pass");
		assert_int_equal(json_integer_value(json_object_get(
			v, "tests_passed")), 0);
		json_decref(v);
	}
}

/* Writing made-up records to every descriptor forges nothing: the
 * candidate holds no descriptor its verdict is read from (what it writes
 * into its channel to the judge breaks that protocol: error). */
static void forged_records_are_ignored(void **state)
{
	const char *tests[] = { "assert False" };
	const char *sol =
		"import os\n"
		"for fd in range(3, 1024):\n"
		"    for rec in (b'x\\tL\\tok\\t\\n', b'x\\tS\\t0\\n',\n"
		"                b'x\\tR\\t0\\tpass\\t0\\t\\n', b'x\\tD\\n'):\n"
		"        try: os.write(fd, rec)\n"
		"        except OSError: pass\n";
	json_t *v;

	(void)state;
	v = run_in(warm, "python", sol, tests, 1, 0);
	assert_string_not_equal(status(v), "pass");
	assert_int_equal(json_integer_value(json_object_get(v, "tests_passed")),
			 0);
	json_decref(v);
}

static void single_program_gives_one_result(void **state)
{
	const char *prog[] = { "def check(f):\n    assert f(2) == 4\n"
			       "    assert f(3) == 9\n\ncheck(sq)\n" };
	json_t *v;

	(void)state;
	v = run_in(warm, "python", "def sq(x):\n    return x * x\n", prog, 1, 1);
	assert_string_equal(status(v), "pass");
	assert_int_equal(json_integer_value(json_object_get(v, "tests_total")),
			 1);
	json_decref(v);
	v = run_in(warm, "python", "def sq(x):\n    return x + x\n", prog, 1, 1);
	assert_string_equal(status(v), "fail");
	json_decref(v);
}

/* The warm zygote and a cold interpreter agree, case by case. */
static void warm_and_cold_agree(void **state)
{
	static const struct { const char *sol, *tests[3]; } cases[] = {
		{ "def f(x):\n    return x + 1\n",
		  { "assert f(1) == 2", "assert f(2) == 4", "f(None)" } },
		{ "import math\ndef f(x):\n    return math.isqrt(x)\n",
		  { "assert f(17) == 4", "while 1: pass", "assert f(0) == 0" } },
		{ "def f(:\n", { "assert f()", "assert 1", "assert 1" } },
		{ "import os\nos._exit(3)\n", { "assert 1", "assert 1",
						  "assert 1" } },
		{ "import random\ndef f():\n    return random.random() < 2\n",
		  { "assert f()", "print('x' * 100)", "assert not f()" } },
	};
	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		json_t *a = run_in(warm, "python", cases[c].sol, cases[c].tests,
				   3, 0);
		json_t *b = run_in(cold, "python", cases[c].sol, cases[c].tests,
				   3, 0);
		assert_string_equal(status(a), status(b));
		for (size_t i = 0; i < 3; i++)
			assert_string_equal(test_status(a, i),
					    test_status(b, i));
		json_decref(a);
		json_decref(b);
	}
}

static void output_limit(void **state)
{
	const char *tests[] = { "spam()", "assert 1" };
	json_t *v;

	(void)state;
	v = run_in(warm, "python",
		   "import sys\ndef spam():\n    while True:\n"
		   "        sys.stdout.write('y' * 65536)\n", tests, 2, 0);
	assert_string_equal(test_status(v, 0), "output_limit");
	assert_string_equal(test_status(v, 1), "pass");
	json_decref(v);
}

static void stderr_tail_is_bounded(void **state)
{
	const char *tests[] = { "assert 1" };
	json_t *v;

	(void)state;
	v = run_in(warm, "python",
		   "import sys\nsys.stderr.write('e' * 20000 + 'END')\n",
		   tests, 1, 0);
	assert_string_equal(status(v), "pass");
	assert_true(json_string_length(json_object_get(v, "stderr")) <= 4096);
	assert_non_null(strstr(json_string_value(json_object_get(v, "stderr")),
			       "END"));
	json_decref(v);
}

/* kill(-1) and killing PID 1 from inside do not break the box: PID 1
 * answers the run (killed: the candidate killed its own judge), and the
 * next run passes (on a rebuilt box: the zygote, killed too, is never
 * forked again from PID 1). */
static void box_survives_its_candidates(void **state)
{
	const char *tests[] = { "assert 1" };
	const char *ok[] = { "assert g() == 7" };
	json_t *v;

	(void)state;
	v = run_in(warm, "python",
		   "import os, signal\n"
		   "for p in (1, -1):\n"
		   "    try: os.kill(p, signal.SIGKILL)\n"
		   "    except OSError: pass\n", tests, 1, 0);
	assert_string_not_equal(status(v), "sandbox_error");
	assert_string_not_equal(status(v), "pass");
	json_decref(v);
	v = run_in(warm, "python", "def g():\n    return 7\n", ok, 1, 0);
	assert_string_equal(status(v), "pass");
	json_decref(v);
}

/* Nothing a run leaves in /tmp is seen by the next run. */
static void tmp_is_emptied_between_runs(void **state)
{
	const char *w[] = { "open('/tmp/left', 'w').write('x')\n"
			    "open('mine', 'w').write('y')" };
	const char *r[] = { "import os\nassert not os.path.exists('/tmp/left')\n"
			    "assert os.listdir('.') == []" };
	json_t *v;

	(void)state;
	v = run_in(warm, "python", "", w, 1, 0);
	assert_string_equal(status(v), "pass");
	json_decref(v);
	v = run_in(warm, "python", "", r, 1, 0);
	assert_string_equal(status(v), "pass");
	json_decref(v);
}

static void c_language(void **state)
{
	const char *tests[] = { "assert(add(1, 2) == 3);",
				"assert(add(2, 2) == 5);",
				"volatile int *volatile p = 0; *p = 1;",
				"exit(0);" };
	json_t *v;

	(void)state;
	v = run_in(warm, "c", "int add(int a, int b) { return a + b; }\n",
		   tests, 4, 0);
	assert_string_equal(test_status(v, 0), "pass");
	assert_string_equal(test_status(v, 1), "fail");
	assert_string_equal(test_status(v, 2), "killed");
	assert_string_equal(test_status(v, 3), "error"); /* left early */
	json_decref(v);
	v = run_in(warm, "c", "int add(int a, int b) { return a + ; }\n",
		   tests, 4, 0);
	assert_string_equal(status(v), "error");
	assert_non_null(strstr(json_string_value(json_object_get(
		json_array_get(json_object_get(v, "tests"), 0), "detail")),
		"compile failed"));
	json_decref(v);
}

static void c_test_program(void **state)
{
	const char *prog[] = { "int main(void) { return add(2, 3) == 5 ? 0 : 1; }" };
	json_t *v;

	(void)state;
	v = run_in(warm, "c", "int add(int a, int b) { return a + b; }\n",
		   prog, 1, 1);
	assert_string_equal(status(v), "pass");
	json_decref(v);
	v = run_in(warm, "c", "int add(int a, int b) { return a - b; }\n",
		   prog, 1, 1);
	assert_string_equal(status(v), "fail");
	json_decref(v);
}

/* A C test compiles with preprocessing of its own: none of the solution's
 * macros reach it, while the solution's types and static functions do. */
static void c_tests_have_their_own_macros(void **state)
{
	const char *sol = "#define assert(e) ((void)0)\n"
			  "#define if(c) if (1)\n"
			  "struct pair { int a, b; };\n"
			  "static int sum(struct pair p) { return p.a + p.b; }\n";
	const char *tests[] = {
		"struct pair p = { 1, 2 }; assert(sum(p) == 3);",
		"struct pair p = { 1, 2 }; if (sum(p) != 4) abort();",
		"assert(sum((struct pair){ 2, 2 }) == 5);" };
	json_t *v;

	(void)state;
	v = run_in(warm, "c", sol, tests, 3, 0);
	assert_string_equal(test_status(v, 0), "pass");
	assert_string_equal(test_status(v, 1), "fail");
	assert_string_equal(test_status(v, 2), "fail");
	json_decref(v);
}

/* A test program may include what the solution includes (and <assert.h>,
 * which still gives kiln's assertion path); set-up code is test-side. */
static void c_program_and_setup(void **state)
{
	const char *sol = "#include <ctype.h>\n#include <time.h>\n"
			  "int digits(const char *s)\n{\n\tint n = 0;\n"
			  "\tfor (; *s; s++)\n"
			  "\t\tn += isdigit((unsigned char)*s) != 0;\n"
			  "\treturn n;\n}\n";
	const char *prog[] = {
		"#include <assert.h>\n#include <ctype.h>\n#include <time.h>\n"
		"int main(void)\n{\n\tstruct tm t = { 0 };\n\t(void)t;\n"
		"\tassert(isalpha('x'));\n\tassert(digits(\"a1b2\") == N);\n"
		"\treturn 0;\n}\n" };
	const char *tests[] = { "CHECK(twice(digits(\"12\")) == 4);",
				"CHECK(twice(digits(\"12\")) == 5);" };
	kiln_job job = { .language = "c", .solution = sol, .tests = prog,
			 .ntests = 1, .program = 1, .setup = "#define N 2\n" };
	kiln_error err;
	json_t *v;

	(void)state;
	assert_int_equal(kiln_box_run(warm, &job, &v, &err), 0);
	assert_string_equal(status(v), "pass");
	json_decref(v);
	job.setup = "#define N 3\n";
	assert_int_equal(kiln_box_run(warm, &job, &v, &err), 0);
	assert_string_equal(status(v), "fail");
	json_decref(v);
	job.tests = tests;
	job.ntests = 2;
	job.program = 0;
	job.setup = "static int twice(int x) { return 2 * x; }\n"
		    "#define CHECK(e) assert(e)\n";
	assert_int_equal(kiln_box_run(warm, &job, &v, &err), 0);
	assert_string_equal(test_status(v, 0), "pass");
	assert_string_equal(test_status(v, 1), "fail");
	json_decref(v);
}

/* What a C solution may not do to the tests it shares a unit with is
 * refused at build time, with the reason in the detail; harmless pragmas
 * pass, and what they change stops at the tests. */
static void c_solution_refusals(void **state)
{
	static const struct { const char *sol, *detail; } bad[] = {
		{ "#pragma redefine_extname strtol f\nint g(void) { return 1; }\n",
		  "#pragma" },
		{ "int memcmp(const void *a, const void *b, unsigned long n)\n"
		  "{ (void)a; (void)b; (void)n; return 0; }\n", "memcmp" },
		{ "void g(void) { __asm__ volatile(\"nop\"); }\n", "__asm__" },
		{ "static int h(void) { return 1; }\n"
		  "int g(void) __attribute__((ifunc(\"r\")));\n"
		  "static void *r(void) { return (void *)h; }\n", "ifunc" },
	};
	const char *tests[] = { "assert(g() == 1);" };
	const char *packed[] = { "struct t { char c; int i; };\n"
				 "assert(sizeof(struct t) == 8);",
				 "assert(g() == 5);" };
	json_t *v;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *d;
		v = run_in(warm, "c", bad[i].sol, tests, 1, 0);
		d = json_string_value(json_object_get(
			json_array_get(json_object_get(v, "tests"), 0),
			"detail"));
		assert_string_equal(status(v), "error");
		assert_non_null(strstr(d, bad[i].detail));
		json_decref(v);
	}
	/* Line markers would pass the solution's lines off as a system
	 * header's, which join.awk does not check: refused in every
	 * spelling the preprocessor accepts; look-alikes are not. */
	static const char *const marked[] = {
		"#line 5\nint g(void) { return 1; }\n",
		"# 1 \"/usr/include/x.h\" 1 3\nint g(void) { return 1; }\n",
		"int g(void) { return 1; }\n  %:  line 9\n",
		"#/* c */line 3\nint g(void) { return 1; }\n",
		"#li\\\nne 4\nint g(void) { return 1; }\n",
		"int g(void) { return 1; }\n/* a\n */ # 7\n",
	};
	static const char *const unmarked[] = {
		"#define line 1\nint g(void) { return line; }\n",
		"const char *s = \"\\n# 1 \\\"x\\\" 3\";\n"
		"int g(void) { return s[0] == 10; } // # line 2\n",
		"#define L(x) x\n#if 1 /* # 1 */\nint g(void) { return L(1); }\n"
		"#endif\n",
		"int g(void) { return 1; } /* a\n */ int h(void);\n",
		/* a static named like a libc function no test declares */
		"static int error(int x) { return x; }\n"
		"int g(void) { return error(1); }\n",
	};
	for (size_t i = 0; i < sizeof(marked) / sizeof(marked[0]); i++) {
		v = run_in(warm, "c", marked[i], tests, 1, 0);
		assert_string_equal(status(v), "error");
		assert_non_null(strstr(json_string_value(json_object_get(
			json_array_get(json_object_get(v, "tests"), 0),
			"detail")), "line markers"));
		json_decref(v);
	}
	for (size_t i = 0; i < sizeof(unmarked) / sizeof(unmarked[0]); i++) {
		v = run_in(warm, "c", unmarked[i], tests, 1, 0);
		assert_string_equal(status(v), "pass");
		json_decref(v);
	}
	v = run_in(warm, "c", "#pragma GCC optimize(\"O2\")\n#pragma pack(1)\n"
		   "struct s { char c; int i; };\n"
		   "int g(void) { return (int)sizeof(struct s); }\n",
		   packed, 2, 0);
	assert_string_equal(status(v), "pass");
	json_decref(v);
}

static void unknown_language_is_an_error(void **state)
{
	const char *tests[] = { "x" };
	kiln_job job = { .language = "sh", .solution = "", .tests = tests,
			 .ntests = 1 };
	kiln_error err;
	json_t *res = NULL;

	(void)state;
	assert_int_equal(kiln_box_run(warm, &job, &res, &err), KILN_EINVAL);
	assert_null(res);
	assert_non_null(strstr(err.msg, "'sh'"));
}

/* A box whose harness is killed from outside reports sandbox_error once
 * and then comes back by itself. */
static void dead_box_restarts(void **state)
{
	const char *tests[] = { "assert 1" };
	json_t *v;
	long pid;

	(void)state;
	v = run_in(warm, "python", "", tests, 1, 0);   /* a box is up */
	json_decref(v);
	pid = kiln_box_pid(warm);
	if (pid <= 0) {      /* that run asked for a rebuild: start it */
		v = run_in(warm, "python", "", tests, 1, 0);
		json_decref(v);
		pid = kiln_box_pid(warm);
	}
	assert_true(pid > 0);
	kill((pid_t)pid, SIGKILL);
	/* Either the job finds the box dead (sandbox_error), or sending it
	 * fails first and it runs on a new box (pass): a race on the
	 * socket, both correct. Never anything else. */
	v = run_in(warm, "python", "", tests, 1, 0);
	assert_true(strcmp(status(v), "sandbox_error") == 0 ||
		    strcmp(status(v), "pass") == 0);
	json_decref(v);
	v = run_in(warm, "python", "", tests, 1, 0);
	assert_string_equal(status(v), "pass");
	assert_int_not_equal(kiln_box_pid(warm), pid);  /* a new box */
	json_decref(v);
}

/* Two jobs in flight; the first leaves /tmp so that the box must be
 * rebuilt: the second, already sent to the old box, still gets its
 * verdict from the new one. */
static void pipelined_jobs_survive_a_rebuilt_box(void **state)
{
	/* Deeper than PATH_MAX: the clean-up cannot walk it by path. */
	const char *deep[] = { "import os\nfor i in range(2500):\n"
			       "    os.mkdir('d')\n    os.chdir('d')" };
	const char *ok[] = { "assert g() == 3" };
	kiln_job a = { .solution = "", .tests = deep, .ntests = 1 };
	kiln_job b = { .solution = "def g():\n    return 3\n", .tests = ok,
		       .ntests = 1 };
	long pid = kiln_box_pid(warm);
	kiln_error err;
	json_t *va, *vb, *none;

	(void)state;
	assert_int_equal(kiln_box_submit(warm, &a, &err), 0);
	assert_int_equal(kiln_box_submit(warm, &b, &err), 0);
	assert_int_equal(kiln_box_submit(warm, &b, &err), KILN_EINVAL);
	assert_int_equal(kiln_box_collect(warm, &va, &err), 0);
	assert_int_equal(kiln_box_collect(warm, &vb, &err), 0);
	assert_string_equal(status(va), "pass");
	assert_string_equal(status(vb), "pass");
	assert_int_not_equal(kiln_box_pid(warm), pid);  /* rebuilt */
	assert_int_equal(kiln_box_collect(warm, &none, &err), KILN_EINVAL);
	assert_null(none);
	json_decref(va);
	json_decref(vb);
}

/* rlimits bound each process; the cgroup bounds the box as a whole: six
 * processes of 200 MB each (under the 256 MB per-process cap) do not all
 * get their memory. */
static void box_memory_is_bounded_as_a_whole(void **state)
{
	const char *tests[] = { "hog()" };
	const char *sol =
		"import os, time\n"
		"def hog():\n"
		"    kids = []\n"
		"    for i in range(6):\n"
		"        pid = os.fork()\n"
		"        if pid == 0:\n"
		"            x = bytearray(200 << 20)\n"
		"            for j in range(0, len(x), 4096): x[j] = 1\n"
		"            time.sleep(0.5)\n"
		"            os._exit(0)\n"
		"        kids.append(pid)\n"
		"    died = sum(os.waitpid(p, 0)[1] != 0 for p in kids)\n"
		"    assert died == 0, '%d died' % died\n";
	kiln_job job = { .language = "python", .solution = sol,
			 .tests = tests, .ntests = 1, .timeout_ms = 20000 };
	kiln_error err;
	json_t *v;

	(void)state;
	if (strcmp(kiln_box_cgroup(warm), "none") == 0)
		skip(); /* the host gives kiln no cgroup */
	assert_int_equal(kiln_box_run(warm, &job, &v, &err), 0);
	assert_string_equal(status(v), "fail");
	assert_non_null(strstr(json_string_value(json_object_get(
		json_array_get(json_object_get(v, "tests"), 0), "detail")),
		"died"));
	json_decref(v);
}

/* I/O tests: the call is made through the judge, the output compared by
 * kiln (Python's == on plain data, or within atol); the verdict says so. */
static void io_tests_are_judged_by_kiln(void **state)
{
	const char *calls[] = { "f(1)", "f(3)", "f(1)", "assert f(6) == 2.0" };
	const char *want[] = { "0.3333333", "1.0", "(0.3333333,)", NULL };
	kiln_job job = { .language = "python",
			 .solution = "def f(x):\n    return x / 3\n",
			 .tests = calls, .ntests = 4, .expect = want,
			 .atol = 1e-6 };
	kiln_error err;
	json_t *v;

	(void)state;
	assert_int_equal(kiln_box_run(warm, &job, &v, &err), 0);
	assert_string_equal(test_status(v, 0), "pass");
	assert_string_equal(test_status(v, 1), "pass");
	assert_string_equal(test_status(v, 2), "fail");   /* tuple vs float */
	assert_string_equal(test_status(v, 3), "pass");   /* converted assert */
	assert_string_equal(json_string_value(json_object_get(v, "judge")),
			    "io");
	json_decref(v);
	job.atol = 0;                                      /* exact: fails */
	assert_int_equal(kiln_box_run(warm, &job, &v, &err), 0);
	assert_string_equal(test_status(v, 0), "fail");
	json_decref(v);
}

/* What tests do with a candidate's objects works through Handles: classes
 * and methods, generators, its exception classes, in-place changes to a
 * list argument, callbacks, stdlib names it imported, named tuples. */
static void handles_serve_common_tests(void **state)
{
	const char *sol =
		"import math\n"
		"from collections import namedtuple, Counter\n"
		"P = namedtuple('P', 'x y')\n"
		"class Neg(ValueError): pass\n"
		"class Stack:\n"
		"    def __init__(self): self.a = []\n"
		"    def push(self, v): self.a.append(v)\n"
		"    def pop(self): return self.a.pop()\n"
		"    def __len__(self): return len(self.a)\n"
		"    def __contains__(self, v): return v in self.a\n"
		"    def __str__(self): return 'Stack%r' % (self.a,)\n"
		"    def __iter__(self): return iter(self.a)\n"
		"def sq(x):\n"
		"    if x < 0: raise Neg('negative')\n"
		"    return x * x\n"
		"def gen(n):\n"
		"    for i in range(n): yield i * i\n"
		"def sort_in_place(xs): xs.sort()\n"
		"def apply(f, xs): return [f(x) for x in xs]\n"
		"def mid(a, b): return P((a.x + b.x) / 2, (a.y + b.y) / 2)\n"
		"def count(s): return Counter(s)\n";
	const char *tests[] = {
		("s = Stack(); s.push(1); s.push(2)\n"
		 "assert len(s) == 2 and 2 in s and s.pop() == 2 and s\n"
		 "assert str(s) == 'Stack[1]' and list(s) == [1]"),
		"assert list(gen(4)) == [0, 1, 4, 9] and sum(gen(3)) == 5",
		("try:\n    sq(-1)\n    assert False\nexcept Neg as e:\n"
		 "    assert str(e) == 'negative' and isinstance(e, ValueError)"),
		"xs = [3, 1, 2]; sort_in_place(xs); assert xs == [1, 2, 3]",
		"assert apply(lambda v: v + 1, [1, 2]) == [2, 3]",
		"assert math.isclose(sq(1.5), 2.25) and mid(P(0, 0), P(2, 4)).y == 2",
		"assert count('aab') == {'a': 2, 'b': 1}",
	};
	json_t *v;

	(void)state;
	v = run_in(warm, "python", sol, tests, 7, 0);
	for (size_t i = 0; i < 7; i++)
		assert_string_equal(test_status(v, i), "pass");
	assert_string_equal(json_string_value(json_object_get(v, "judge")),
			    "isolated");
	json_decref(v);
}

static const char *test_detail(const json_t *v, size_t i)
{
	return json_string_value(json_object_get(
		json_array_get(json_object_get(v, "tests"), i), "detail"));
}

/* The box's judge is kept from job to job unless a job's test code changed
 * it. Tests without an entry_point that use two of the solution's names
 * make the judge import the library modules it checks names against: those
 * imports are the judge's own and must not get it replaced (which cost a
 * new judge and ~9 ms of imports every such job), while a test that
 * changed the judge, before those imports or after, still gets it
 * replaced. The same for a test's own import of a module the judge watches
 * (unittest): the judge imports it first. Each job's last test fails with the judge's pid in its detail. */
static void judge_kept_unless_a_test_changed_it(void **state)
{
	const char *sol = "def f(x):\n    return x + 1\n"
			  "def g(x):\n    return x\n";
	const char *use = "assert f(g(1)) == 2";
	const char *pid = "import os\nassert False, 'judge %d' % os.getpid()";
	const char *plain[] = { use, pid };
	const char *before[] = { "import math\nmath.tau = 1", use, pid };
	const char *after[] = { use, "import math\nmath.e = 1", pid };
	const char *check[] = { "import math\nassert math.tau > 6 and "
				"math.e > 2", pid };
	const char *imp[] = { "import unittest\nassert unittest.TestCase",
			      pid };
	const char *patch_class[] = { "import collections\n"
				      "collections.Counter.__eq__ = "
				      "lambda a, b: True", pid };
	const char *patch_code[] = { "import sys\n"
				     "h = sys.modules.get('harness') or "
				     "sys.modules['__main__']\n"
				     "h.equal.__code__ = (lambda expected, got, "
				     "atol: True).__code__", pid };
	const char *patch_decimal[] = { "import decimal\n"
					"decimal.getcontext().prec = 5", pid };
	const char *counter[] = { "from collections import Counter\n"
				  "assert Counter('a') != Counter('b')\n"
				  "import decimal\n"
				  "assert len(str(decimal.Decimal(1) / 3)) == 30",
				  "assert f(1) == 3", pid };
	const char *const *patches[] = { patch_class, patch_code,
					 patch_decimal };
	char first[64];
	json_t *v;

	(void)state;
	v = run_in(warm, "python", sol, plain, 2, 0);
	assert_string_equal(test_status(v, 0), "pass");
	snprintf(first, sizeof first, "%s", test_detail(v, 1));
	assert_non_null(strstr(first, "judge "));
	json_decref(v);
	for (int i = 0; i < 4; i++) {
		/* a test's import of a watched module the judge had not
		 * loaded: the judge imports it first, as its own */
		v = run_in(warm, "python", sol, i == 1 ? imp : plain, 2, 0);
		assert_string_equal(test_status(v, 0), "pass");
		assert_string_equal(test_detail(v, 1), first);
		json_decref(v);
	}
	v = run_in(warm, "python", sol, before, 3, 0);
	assert_string_equal(test_status(v, 1), "pass");
	json_decref(v);
	v = run_in(warm, "python", sol, check, 2, 0);
	assert_string_equal(test_status(v, 0), "pass");
	assert_string_not_equal(test_detail(v, 1), first);
	snprintf(first, sizeof first, "%s", test_detail(v, 1));
	json_decref(v);
	v = run_in(warm, "python", sol, after, 3, 0);
	assert_string_equal(test_status(v, 0), "pass");
	json_decref(v);
	v = run_in(warm, "python", sol, check, 2, 0);
	assert_string_equal(test_status(v, 0), "pass");
	assert_string_not_equal(test_detail(v, 1), first);
	snprintf(first, sizeof first, "%s", test_detail(v, 1));
	json_decref(v);
	/* a class's dict (Counter's __eq__), a harness function's code
	 * (equal's __code__, same function object) and decimal's context
	 * are watched too */
	for (int i = 0; i < 3; i++) {
		v = run_in(warm, "python", sol, patches[i], 2, 0);
		json_decref(v);
		v = run_in(warm, "python", sol, counter, 3, 0);
		assert_string_equal(test_status(v, 0), "pass");
		assert_string_equal(test_status(v, 1), "fail");
		assert_string_not_equal(test_detail(v, 2), first);
		snprintf(first, sizeof first, "%s", test_detail(v, 2));
		json_decref(v);
	}
}

/* A test's np, tf, pd... mean the library (hostile 9412), but the record's
 * own entry_point under such a name is the solution's function. */
static void library_alias_but_entry_point(void **state)
{
	const char *tests[] = { "assert tf(1) == 2", "assert tf(5) == 6" };
	kiln_job job = { .language = "python", .solution =
			 "def tf(x):\n    return x + 1\n", .tests = tests,
			 .ntests = 2, .entry_point = "tf" };
	kiln_error err;
	json_t *v = NULL;

	(void)state;
	assert_int_equal(kiln_box_run(warm, &job, &v, &err), 0);
	assert_string_equal(status(v), "pass");
	json_decref(v);
	job.entry_point = NULL;   /* then tf is tensorflow's name: not hers */
	assert_int_equal(kiln_box_run(warm, &job, &v, &err), 0);
	assert_string_not_equal(status(v), "pass");
	json_decref(v);
}

/* C I/O tests: the program prints what the call returned (by type); the
 * harness compares it with the expected value, which the program never
 * sees. A test of a type kiln cannot compare does not compile. */
static void c_io_tests_are_judged_by_kiln(void **state)
{
	const char *calls[] = { "add(1, 2)", "half(1.0 / 3)", "name()",
				"assert(add(2, 2) == 4);" };
	const char *want[] = { "3", "0.1666666", "'kiln'", NULL };
	kiln_job job = { .language = "c",
			 .solution = "int add(int a, int b) { return a + b; }\n"
				     "double half(double x) { return x / 2; }\n"
				     "const char *name(void) { return \"kiln\"; }\n",
			 .tests = calls, .ntests = 4, .expect = want,
			 .atol = 1e-6 };
	kiln_error err;
	json_t *v;

	(void)state;
	assert_int_equal(kiln_box_run(warm, &job, &v, &err), 0);
	assert_string_equal(status(v), "pass");
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(v, "tests"), 0), "judge")), "io");
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(v, "tests"), 3), "judge")),
		"in-process");
	json_decref(v);
	job.solution = "int add(int a, int b) { return a - b; }\n"
		       "double half(double x) { return x / 2; }\n"
		       "const char *name(void) { return \"kiln!\"; }\n";
	assert_int_equal(kiln_box_run(warm, &job, &v, &err), 0);
	assert_string_equal(test_status(v, 0), "fail");
	assert_string_equal(test_status(v, 1), "pass");
	assert_string_equal(test_status(v, 2), "fail");
	json_decref(v);
}

/* A program that floods the result pipe with records (linear splitting,
 * bounded reads) still ends at its wall-clock limit (1 s here); it took
 * 15 to 60 s for a 5 s limit when lines were split in quadratic time. */
static void flooded_result_pipe_keeps_the_deadline(void **state)
{
	const char *tests[] = {
		"char line[4096];\n"
		"memset(line, 'x', sizeof(line));\n"
		"for (int i = 0; i < 4096; i += 64) line[i] = '\\n';\n"
		"for (;;) write(3, line, sizeof(line));\n" };
	json_t *v;

	(void)state;
	v = run_in(warm, "c", "#include <string.h>\n#include <unistd.h>\n",
		   tests, 1, 0);
	assert_string_equal(status(v), "timeout");
	assert_true(json_real_value(json_object_get(v, "wall_ms")) < 5000.0);
	json_decref(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(python_pass_and_fail),
		cmocka_unit_test(tests_are_independent),
		cmocka_unit_test(early_exit_cannot_pass),
		cmocka_unit_test(forged_records_are_ignored),
		cmocka_unit_test(single_program_gives_one_result),
		cmocka_unit_test(warm_and_cold_agree),
		cmocka_unit_test(output_limit),
		cmocka_unit_test(stderr_tail_is_bounded),
		cmocka_unit_test(box_survives_its_candidates),
		cmocka_unit_test(tmp_is_emptied_between_runs),
		cmocka_unit_test(c_language),
		cmocka_unit_test(c_test_program),
		cmocka_unit_test(c_tests_have_their_own_macros),
		cmocka_unit_test(c_program_and_setup),
		cmocka_unit_test(c_solution_refusals),
		cmocka_unit_test(unknown_language_is_an_error),
		cmocka_unit_test(dead_box_restarts),
		cmocka_unit_test(box_memory_is_bounded_as_a_whole),
		cmocka_unit_test(pipelined_jobs_survive_a_rebuilt_box),
		cmocka_unit_test(io_tests_are_judged_by_kiln),
		cmocka_unit_test(flooded_result_pipe_keeps_the_deadline),
		cmocka_unit_test(c_io_tests_are_judged_by_kiln),
		cmocka_unit_test(handles_serve_common_tests),
		cmocka_unit_test(judge_kept_unless_a_test_changed_it),
		cmocka_unit_test(library_alias_but_entry_point),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
