/* The language table. A language is either run in-process by the warm
 * Python harness ("inproc") or written to files, optionally compiled, and
 * run as one process per test ("exec"). For exec languages kiln generates
 * the entry point: it runs the test body and only then writes the run's
 * nonce to fd 3, so an early exit(0) cannot pass a test.
 *
 * To add a language, add a row: a render function that writes its files,
 * its compile argv (none for an interpreted language) and the argv of each
 * test's run. The render function must keep the completion proof out of
 * the candidate's reach (as render_c does with a runtime of its own that
 * the candidate can neither name nor interpose): a shell, whose script can
 * read everything its trailer could, is for that reason not in the table.
 */
#include <ctype.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kiln/code.h" /* kiln_lang_canonical */
#include "sandbox_int.h"

enum lang_kind { LANG_INPROC, LANG_EXEC };

struct lang;
typedef int (*render_fn)(const struct lang *l, const kiln_job *job,
			 const kiln_limits *lim, json_t *files, json_t *runs,
			 json_t *compile, kiln_error *err);

/* How a language's runs are judged and read (the harness's job fields):
 * INTERP: the run's argv[0] is an interpreter under /usr, what it runs
 * is in /tmp/w (put back before every test); NONCE_STDIN: the nonce is
 * the first line of stdin, not in the environment; PROOF_STDOUT: the
 * record is a line of stdout (not fd 3). */
enum { LF_INTERP = 1, LF_NONCE_STDIN = 2, LF_PROOF_STDOUT = 4 };

struct lang {
	const char *name;
	enum lang_kind kind;
	render_fn render;
	/* Address space a run gets on top of --memory: a runtime that
	 * reserves more than it uses (V8's heap and code ranges, the JVM's
	 * class space and code cache, Go's arenas) bounds its heap by
	 * --memory itself (render) */
	long long as_extra;
	/* The same for the compile step, on top of --compile-memory (javac
	 * is a JVM) */
	long long compile_as_extra;
	int flags;
	int error_exit;        /* exit status that means an uncaught error */
	/* stderr text that means out of memory (lines: any of them) */
	const char *oom_text;
	/* The toolchain: the program that runs or builds it (its real path
	 * is what the box execs: /etc/alternatives links are resolved) and
	 * the argument that prints its version (kiln languages), or NULL
	 * and the script on its stdin that does (tclsh has no option). */
	const char *tool;
	const char *version_arg;
	const char *version_stdin;
	/* Variables added to the environment of the compile step and the
	 * runs, "NAME=value" (NULL-terminated) */
	const char *const *env;
	/* kiln languages' probe: a solution and one test it passes */
	const char *probe_solution, *probe_test;
};

/* Closes a memstream (which only then sets *bufp) and stores its text in
 * files[name]. */
static int finish_file(FILE *f, char **bufp, json_t *files, const char *name,
		       kiln_error *err)
{
	json_t *s;

	if (fclose(f) != 0 || !*bufp) {
		free(*bufp);
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	}
	/* Source text goes to the harness as JSON, which must be UTF-8;
	 * candidate text was validated when it was read. */
	s = json_string(*bufp);
	free(*bufp);
	if (!s || json_object_set_new(files, name, s) != 0)
		return kiln_error_set(err, KILN_EPARSE,
				      "%s: source is not valid UTF-8", name);
	return 0;
}

static const char c_prelude[] =
	"#include <assert.h>\n#include <limits.h>\n#include <math.h>\n#include <signal.h>\n"
	"#include <stdbool.h>\n#include <stddef.h>\n#include <stdint.h>\n"
	"#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
	"#include <unistd.h>\n";

/* A C job is three translation units' worth of text, built in the box by
 * build.sh (below):
 *
 *   sol.c     the prelude and the solution;
 *   t<ID>.c   the prelude, the set-up and the tests, each test a function
 *             whose end hands a per-run token to the runtime;
 *   k<ID>.c   kiln's runtime: the entry point, the completion proof, the
 *             tests' assertion failures.
 *
 * sol.c and t<ID>.c are preprocessed separately (one cpp run, two units),
 * so no macro of the solution's (#define assert, #define if ...) reaches
 * the tests, and the preprocessed texts are joined into one unit, main.i,
 * so that the solution's static functions and types stay visible to the
 * tests. k<ID>.c is compiled on its own and calls no libc function: it
 * makes raw system calls, so a solution that defines dprintf or snprintf
 * reaches nothing of it.
 *
 * ID is random per job and is only on build.sh's command line: the
 * solution's preprocessing cannot read it (no /proc in the box), so the
 * solution can neither name the runtime's symbols nor shadow them with a
 * static function of the same name (which would bind the tests' calls in
 * the shared unit). What the solution can still do to the tests through
 * the shared unit, join.awk refuses, whatever macro wrote it: asm (labels
 * rename what a name binds to, file-scope asm defines symbols), aliases,
 * weakrefs, inline-only (gnu_inline) bodies, attributes that tell the
 * compiler what callers may assume (returns_nonnull, pure ...: on a
 * library function's redeclaration they change the tests' calls) and
 * pragmas other than
 * harmless ones (redefine_extname, weak, visibility); and ifunc, whose
 * resolver runs before the runtime does. A header's line that holds one
 * must be what the header says without the solution's macros. build.sh
 * also refuses a solution that defines a name the C library exports
 * (strcmp, memcmp, __libc_start_main ...): it would replace the
 * library's function for the tests, and for the start-up code, too
 * (syms.awk). docs/notes-cbox.md says what remains possible in one
 * process. */

/* kiln's runtime. KILN_SYM is defined in front of it (with the job's ID),
 * the dispatch behind it. */
static const char c_runtime[] =
	"#if !defined(__x86_64__)\n"
	"#error \"kiln's C runtime makes raw x86-64 system calls: port rt_sys() first\"\n"
	"#endif\n"
	"/* No libc call anywhere in this unit: a solution can define any\n"
	" * libc name (the executable's definition wins), and what it defines\n"
	" * must not see the nonce or decide the proof. */\n"
	"static long rt_sys(long n, long a, long b, long c, long d)\n{\n"
	"\tlong r;\n"
	"\tregister long r10 __asm__(\"r10\") = d;\n"
	"\t__asm__ volatile(\"syscall\" : \"=a\"(r)\n"
	"\t\t\t : \"0\"(n), \"D\"(a), \"S\"(b), \"d\"(c), \"r\"(r10)\n"
	"\t\t\t : \"rcx\", \"r11\", \"memory\");\n"
	"\treturn r;\n}\n"
	"enum { RT_WRITE = 1, RT_SIGACTION = 13, RT_SIGPROCMASK = 14,\n"
	"       RT_GETPID = 39, RT_PRCTL = 157, RT_GETTID = 186,\n"
	"       RT_EXIT_GROUP = 231, RT_TGKILL = 234, RT_GETRANDOM = 318 };\n"
	"/* The completion record, \"<nonce>\\tD\\n\", built at start-up. */\n"
	"static char rt_rec[96];\n"
	"static unsigned long rt_rec_len;\n"
	"static unsigned long long rt_token, rt_handed;\n"
	"static int rt_nhanded;\n"
	"#ifdef KILN_END_RECORD\n"
	"unsigned long long KILN_SYM(tok);\n"
	"#endif\n"
	"static void rt_put(int fd, const char *p, unsigned long n)\n{\n"
	"\twhile (n) {\n"
	"\t\tlong k = rt_sys(RT_WRITE, fd, (long)p, (long)n, 0);\n"
	"\t\tif (k == -4)\n\t\t\tcontinue;\n"
	"\t\tif (k <= 0)\n\t\t\treturn;\n"
	"\t\tp += k;\n\t\tn -= (unsigned long)k;\n\t}\n}\n"
	"/* Loops over volatile bytes: the compiler cannot make them strlen,\n"
	" * memcpy or memset calls, which would go through the PLT. */\n"
	"static void rt_puts(int fd, const char *s)\n{\n"
	"\tconst volatile char *v = s;\n"
	"\tunsigned long n = 0;\n"
	"\twhile (v && v[n])\n\t\tn++;\n"
	"\trt_put(fd, s, n);\n}\n"
	"/* .preinit_array: runs before any constructor of the solution's (this\n"
	" * unit is linked first). Not dumpable (execve reset the flag): a crash\n"
	" * must not hand the process's memory to a core_pattern pipe helper.\n"
	" * Takes the nonce out of the environment (libc's environ is not set up\n"
	" * yet: the bytes are wiped and the variable renamed in place), and\n"
	" * draws the token a test's end must hand back. */\n"
	"static void rt_grab(int argc, char **argv, char **envp)\n{\n"
	"\tstatic const char key[] = \"KILN_NONCE=\";\n"
	"\t(void)argc;\n\t(void)argv;\n"
	"\trt_sys(RT_PRCTL, 4 /* PR_SET_DUMPABLE */, 0, 0, 0);\n"
	"\tfor (char **e = envp; e && *e; e++) {\n"
	"\t\tvolatile char *s = *e;\n"
	"\t\tunsigned long i = 0;\n"
	"\t\twhile (i < sizeof(key) - 1 && s[i] == key[i])\n\t\t\ti++;\n"
	"\t\tif (i < sizeof(key) - 1)\n\t\t\tcontinue;\n"
	"\t\tfor (s += i, rt_rec_len = 0; *s; s++) {\n"
	"\t\t\tif (rt_rec_len < sizeof(rt_rec) - 3)\n"
	"\t\t\t\trt_rec[rt_rec_len++] = *s;\n"
	"\t\t\t*s = 0;\n\t\t}\n"
	"\t\tfor (s = *e, i = 0; i < 10; i++)\n"
	"\t\t\ts[i] = \"KILN_USED_\"[i];\n\t}\n"
	"\trt_rec[rt_rec_len++] = '\\t';\n"
	"\trt_rec[rt_rec_len++] = 'D';\n"
	"\trt_rec[rt_rec_len++] = '\\n';\n"
	"\tif (rt_sys(RT_GETRANDOM, (long)&rt_token, 8, 0, 0) != 8)\n"
	"\t\trt_token = __builtin_ia32_rdtsc() * 0x9e3779b97f4a7c15ULL ^\n"
	"\t\t\t   (unsigned long long)(unsigned long)&rt_token;\n"
	"#ifdef KILN_END_RECORD\n"
	"\tKILN_SYM(tok) = rt_token;\n"
	"#endif\n"
	"}\n"
	"__attribute__((section(\".preinit_array\"), used))\n"
	"static void (*rt_pre)(int, char **, char **) = rt_grab;\n"
	"/* The cleanup of every test function's token: runs when the test body\n"
	" * ends (its last statement, or a return), not when a callee returns\n"
	" * past it. Counts, so a second hand-over spoils the proof. */\n"
	"void KILN_SYM(end)(unsigned long long *t)\n{\n"
	"\tif (rt_nhanded++ == 0)\n\t\trt_handed = *t;\n"
	"}\n"
	"#ifdef KILN_END_RECORD\n"
	"/* A C++ test program: the record goes out when the program's own main\n"
	" * has ended and every exit handler and static destructor of the\n"
	" * solution's has run (the executable's .fini_array runs after them;\n"
	" * the build refuses one of the unit's own), so that none of them can\n"
	" * turn main's failing exit status into 0 after it (an _exit(0) there\n"
	" * leaves no record). */\n"
	"__attribute__((destructor)) static void rt_fini(void)\n{\n"
	"\tif (rt_nhanded == 1 && rt_handed == rt_token)\n"
	"\t\trt_put(3, rt_rec, rt_rec_len);\n"
	"}\n"
	"#endif\n"
	"/* The tests' assert (glibc's macro, its __assert_fail renamed to this\n"
	" * in the tests' unit): report, then SIGABRT with the default action\n"
	" * whatever the solution installed, then exit as abort() would. */\n"
	"__attribute__((noreturn)) void KILN_SYM(fail)(const char *e,\n"
	"\tconst char *file, unsigned int line, const char *fn)\n{\n"
	"\tstatic const unsigned long dfl[4];  /* SIG_DFL, no flags */\n"
	"\tstatic const unsigned long abrt = 1UL << 5;\n"
	"\tstatic char num[16];\n"
	"\tint k = (int)sizeof(num);\n"
	"\tdo\n\t\tnum[--k] = (char)('0' + line % 10);\n"
	"\twhile ((line /= 10) && k > 0);\n"
	"\trt_puts(2, file);\n\trt_puts(2, \":\");\n"
	"\trt_put(2, num + k, sizeof(num) - (unsigned long)k);\n"
	"\tif (fn && !(fn[0] == 'k' && fn[1] == 'i' && fn[2] == 'l' &&\n"
	"\t\t    fn[3] == 'n' && fn[4] == '_')) {  /* not a test's own */\n"
	"\t\trt_puts(2, \": \");\n\t\trt_puts(2, fn);\n\t}\n"
	"\trt_puts(2, \": Assertion `\");\n\trt_puts(2, e);\n"
	"\trt_puts(2, \"' failed.\\n\");\n"
	"\trt_sys(RT_SIGACTION, 6, (long)dfl, 0, 8);\n"
	"\trt_sys(RT_SIGPROCMASK, 1 /* SIG_UNBLOCK */, (long)&abrt, 0, 8);\n"
	"\trt_sys(RT_TGKILL, rt_sys(RT_GETPID, 0, 0, 0, 0),\n"
	"\t       rt_sys(RT_GETTID, 0, 0, 0, 0), 6, 0);\n"
	"\tfor (;;)\n\t\trt_sys(RT_EXIT_GROUP, 134, 0, 0, 0);\n}\n"
	"static long rt_index(int argc, char **argv)\n{\n"
	"\tlong i = 0;\n"
	"\tif (argc < 2 || !argv[1][0])\n\t\treturn -1;\n"
	"\tfor (const char *p = argv[1]; *p; p++) {\n"
	"\t\tif (*p < '0' || *p > '9' || i > 100000000)\n\t\t\treturn -1;\n"
	"\t\ti = i * 10 + (*p - '0');\n\t}\n"
	"\treturn i;\n}\n"
	"/* An I/O test's output: \"<nonce>\\tV\\t<kind><hex bytes>\\n\", kind I\n"
	" * (long long), U (unsigned), D (double), B (bool), S (a string, up\n"
	" * to 4096 bytes; L if longer), N (a null string). The harness\n"
	" * compares it with the expected value, which never enters this\n"
	" * process. */\n"
	"void KILN_SYM(out)(int kind, const void *p, unsigned long n)\n{\n"
	"\tstatic char buf[sizeof(rt_rec) + 2 * 4096 + 8];\n"
	"\tstatic const char hex[] = \"0123456789abcdef\";\n"
	"\tconst volatile unsigned char *v = p;\n"
	"\tunsigned long k = 0;\n"
	"\tif (kind == 'S') {\n"
	"\t\tn = 0;\n"
	"\t\tif (!v)\n\t\t\tkind = 'N';\n"
	"\t\telse\n\t\t\twhile (n < 4096 && v[n])\n\t\t\t\tn++;\n"
	"\t\tif (v && n == 4096 && v[n])\n\t\t\tkind = 'L', n = 0;\n"
	"\t}\n"
	"\tfor (unsigned long i = 0; i + 3 < rt_rec_len; i++)\n"
	"\t\tbuf[k++] = rt_rec[i];\n"
	"\tbuf[k++] = '\\t';\n\tbuf[k++] = 'V';\n\tbuf[k++] = '\\t';\n"
	"\tbuf[k++] = (char)kind;\n"
	"\tfor (unsigned long i = 0; kind != 'N' && i < n; i++) {\n"
	"\t\tbuf[k++] = hex[v[i] >> 4];\n\t\tbuf[k++] = hex[v[i] & 15];\n\t}\n"
	"\tbuf[k++] = '\\n';\n"
	"\trt_put(3, buf, k);\n}\n"
	"/* The proof: the test's own end handed back this run's token, once.\n"
	" * A test whose callee returned into main past the test body has not.\n"
	" * Exit status 0 without the record is charged as an error. */\n"
	"static int rt_finish(unsigned long long t)\n{\n"
	"\tif (rt_nhanded != 1 || rt_handed != t) {\n"
	"\t\trt_puts(2, \"kiln: the test body did not run to its end\\n\");\n"
	"\t\treturn 0;\n\t}\n"
	"\trt_put(3, rt_rec, rt_rec_len);\n"
	"\treturn 0;\n}\n"
	"int main(int argc, char **argv)\n{\n"
	"\tlong i = rt_index(argc, argv);\n"
	"\tunsigned long long t = rt_token ^\n"
	"\t\t(0x9e3779b97f4a7c15ULL * (unsigned long long)(i + 1));\n";

/* Joins the two preprocessed units (see above); run by build.sh as
 * awk -v id=<ID>. Both units include the prelude, and a struct defined
 * twice would not compile, so in the second unit it blanks the prelude
 * (up to the line that ends it there: kiln's own lines, the headers, and
 * the renamed __assert_fail, which the tests' unit declares again), and
 * after it the system-header lines that the first unit already has word
 * for word (same file, same line, same text: a header that both the
 * solution and a test program include). The tests' own lines are never
 * blanked. In the first unit, a line is the solution's unless its marker
 * names a real header (an absolute path) with the system-header flag:
 * the flag says where a token was spelled, so what glibc's __REDIRECT or
 * __glibc_macro_warning1 expands to on the solution's line is flagged too
 * (render_c refuses markers in a solution). In the solution's lines it
 * refuses asm, alias("...") and weakref (they rename what the tests call),
 * gnu_inline (an inline-only body replaces a library function in the
 * tests' calls), ifunc (a resolver runs while the dynamic linker
 * relocates, before the runtime's .preinit_array entry has taken the
 * nonce), _Pragma and the pragmas that would reach the tests. A header's
 * line that holds any of those counts only as the header writes it: the
 * solution's macros reach the headers it includes after them (#define
 * __THROW __REDIRECT (, , mine) before <ctype.h>). Such a line must be in
 * the tests' unit word for word, else it goes to sus.txt, the prelude's
 * and the solution's <...> includes to ref.c, and build.sh preprocesses
 * ref.c alone and runs awk -v check=1 sus.txt ref.i, which refuses a line
 * not found there. -dI's copies of #include directives are blanked.
 * After the solution's lines it resets what the allowed pragmas may have
 * changed (optimize and target options, packing). In a test program it
 * puts the token's declaration at the top of main's body. */
static const char c_join_awk[] =
	"function refuse(what, why) {\n"
	"\tprint \"kiln: \" what \" is not accepted in a C solution (\" why \")\" \\\n"
	"\t      > \"/dev/stderr\"\n"
	"\tbad = 1\n"
	"\texit 1\n"
	"}\n"
	"# What in a line could rename what the tests call or run before kiln's\n"
	"# runtime: a pragma other than the harmless ones, asm, alias(\"...\") and\n"
	"# weakref (a static one names a function the tests' header declares\n"
	"# after it, and the compiler folds it away: no symbol shows it), ifunc,\n"
	"# an inline-only body (gnu_inline); \"\" if nothing.\n"
	"function danger(s,    w) {\n"
	"\tif (s ~ /^[ \\t]*#[ \\t]*pragma/ && s !~ /^[ \\t]*#[ \\t]*pragma[ \\t]+(GCC[ \\t]+(optimize|target|push_options|pop_options|diagnostic|unroll|ivdep|warning|error)|omp|pack|STDC|message)([ \\t(]|$)/)\n"
	"\t\treturn \"this #pragma\"\n"
	"\tif (match(s, /(^|[^A-Za-z0-9_$])(alias|__alias__)[ \\t]*\\([ \\t]*\"/))\n"
	"\t\treturn \"the alias attribute\"\n"
	"\tif (!match(s, /(^|[^A-Za-z0-9_$])(asm|__asm|__asm__|ifunc|__ifunc__|weakref|__weakref__|gnu_inline|__gnu_inline__|_Pragma)([^A-Za-z0-9_$]|$)/))\n"
	"\t\treturn \"\"\n"
	"\tw = substr(s, RSTART, RLENGTH)\n"
	"\tgsub(/[^A-Za-z0-9_]/, \"\", w)\n"
	"\treturn w\n"
	"}\n"
	"# An attribute (GNU or [[...]]) in the solution's line that tells the\n"
	"# compiler what a function's callers may assume (returns_nonnull, pure,\n"
	"# const, noreturn, malloc, nonnull ...): on a redeclaration of a library\n"
	"# function it changes how the tests' calls compile (strstr(...) != NULL\n"
	"# folded to true). \"\" if none. An attribute list must end on its line.\n"
	"function assumes(s,    t, a, w) {\n"
	"\tt = s\n"
	"\twhile (match(t, /(__attribute__|__attribute)[ \\t]*\\(\\(|\\[\\[/)) {\n"
	"\t\tt = substr(t, RSTART + RLENGTH)\n"
	"\t\tif (!match(t, /\\)\\)|\\]\\]/))\n"
	"\t\t\treturn \"an attribute list that does not end on its line\"\n"
	"\t\ta = substr(t, 1, RSTART - 1)\n"
	"\t\tt = substr(t, RSTART + RLENGTH)\n"
	"\t\twhile (match(a, /[A-Za-z_][A-Za-z0-9_]*/)) {\n"
	"\t\t\tw = substr(a, RSTART, RLENGTH)\n"
	"\t\t\ta = substr(a, RSTART + RLENGTH)\n"
	"\t\t\tsub(/^__/, \"\", w)\n"
	"\t\t\tsub(/__$/, \"\", w)\n"
	"\t\t\tif (w ~ /^(returns_nonnull|nonnull|pure|const|noreturn|malloc|alloc_size|alloc_align|assume_aligned|access|leaf|returns_twice|nothrow|target_clones|simd)$/)\n"
	"\t\t\t\treturn \"the \" w \" attribute\"\n"
	"\t\t}\n"
	"\t}\n"
	"\treturn \"\"\n"
	"}\n"
	"function why(w) {\n"
	"\tif (w ~ /ifunc/)\n"
	"\t\treturn \"it runs before kiln's runtime\"\n"
	"\tif (w ~ /gnu_inline/)\n"
	"\t\treturn \"its body would replace a library function in the tests' calls\"\n"
	"\tif (w ~ /pragma/)\n"
	"\t\treturn \"it would apply to the tests\"\n"
	"\treturn \"it can rename what the tests call\"\n"
	"}\n"
	"# A line marker: where the next line comes from, and whether that is a\n"
	"# system header's real line (an absolute path, flag 3).\n"
	"function marker(    f) {\n"
	"\tline = $2 + 0\n"
	"\tfile = substr($0, index($0, \"\\\"\"))\n"
	"\tmatch(file, /\"[ 0-9]*$/)\n"
	"\tflags = substr(file, RSTART + 1)\n"
	"\tsys = flags ~ / 3( |$)/\n"
	"\tfile = substr(file, 1, RSTART)\n"
	"\ttrusted = sys && file ~ /^\"\\//\n"
	"}\n"
	"BEGIN {\n"
	"\tpart = 1\n"
	"\ttu2 = \"\\\"t\" id \".\" (ext ? ext : \"c\") \"\\\"\"\n"
	"\tmain1 = \"\\\"sol.\" (ext ? ext : \"c\") \"\\\"\"\n"
	"\tend_prelude = \"typedef int kiln_\" id \"_prelude_end;\"\n"
	"}\n"
	"# The reference check (check=1): sus.txt, then the headers preprocessed\n"
	"# without the solution (ref.i).\n"
	"check && NR == FNR { want[$0] = 1; next }\n"
	"check && /^# [0-9]+ \"/ { marker(); next }\n"
	"check {\n"
	"\tif (trusted)\n"
	"\t\tdelete want[file SUBSEP line SUBSEP $0]\n"
	"\tline++\n"
	"\tnext\n"
	"}\n"
	"/^# [0-9]+ \"/ {\n"
	"\tif (part == 1 && $0 == \"# 0 \" tu2) {\n"
	"\t\tpart = 2\n"
	"\t\tprelude = 1\n"
	"\t\tprint \"#pragma GCC reset_options\"\n"
	"\t\tprint \"#pragma pack()\"\n"
	"\t\tif (ext == \"cpp\")\n"
	"\t\t\tprint \"#pragma GCC optimize(\\\"no-inline\\\")\"\n"
	"\t}\n"
	"\tmarker()\n"
	"\tif (part == 2 && !prelude && flags ~ /^ 1( |$)/)\n"
	"\t\ttests_include = 1   # the tests include a header themselves\n"
	"\tprint\n"
	"\tnext\n"
	"}\n"
	"# -dI's copy of an #include directive (the preprocessor writes it in\n"
	"# column 1 and nothing else can: a # from a macro gets a space before\n"
	"# it). The main file's <...> ones make the reference unit.\n"
	"/^#(include|include_next|import) / {\n"
	"\tif (part == 1 && (file == \"\\\"solution\\\"\" || file == main1) &&\n"
	"\t    match($0, /<[^>]*>/))\n"
	"\t\tincs[ninc++] = \"#include \" substr($0, RSTART, RLENGTH)\n"
	"\tprint \"\"\n"
	"\tline++\n"
	"\tnext\n"
	"}\n"
	"part == 1 {\n"
	"\tw = danger($0)\n"
	"\tif (w != \"\" && !trusted)\n"
	"\t\trefuse(w, why(w))\n"
	"\tif (!trusted && (w = assumes($0)) != \"\")\n"
	"\t\trefuse(w, \"on a library function's redeclaration it changes how the tests' calls compile\")\n"
	"\t# C++: the solution's text, joined, for a declaration in the\n"
	"\t# library's namespaces (END)\n"
	"\tif (ext == \"cpp\" && !trusted && file !~ /^\"\\//)\n"
	"\t\tsoltext = soltext \" \" $0\n"
	"\t# macros=1 (the solution defines or undefines a macro): every\n"
	"\t# header line is checked against the headers on their own\n"
	"\tif (w != \"\" || (macros && trusted))\n"
	"\t\tsus[file SUBSEP line SUBSEP $0] = 1\n"
	"\tseen[file, line] = $0\n"
	"\tline++\n"
	"\tprint\n"
	"\tnext\n"
	"}\n"
	"{\n"
	"\tif (trusted && (file SUBSEP line SUBSEP $0) in sus)\n"
	"\t\tdelete sus[file SUBSEP line SUBSEP $0]\n"
	"\tif (!sys && $0 == end_prelude)\n"
	"\t\tprelude = 0\n"
	"\tif (prelude || (sys && file ~ /^\"\\// && (file, line) in seen &&\n"
	"\t    seen[file, line] == $0))\n"
	"\t\tprint \"\"\n"
	"\telse if (!sys && !hooked)\n"
	"\t\tprint hook($0)\n"
	"\telse\n"
	"\t\tprint\n"
	"\tline++\n"
	"}\n"
	"# A test program's main (renamed user_main): its body starts by\n"
	"# declaring the token whose cleanup hands it to the runtime.\n"
	"function hook(s,    i, c) {\n"
	"\ti = 1\n"
	"\tif (!seek) {\n"
	"\t\tif (!match(s, \"(^|[^A-Za-z0-9_])\" (entry ? entry : \"kiln_\" id \"_user_main\") \"[ \\t]*\\\\(\"))\n"
	"\t\t\treturn s\n"
	"\t\ti = RSTART + RLENGTH - 1\n"
	"\t\tseek = 1\n"
	"\t\tdepth = 0\n"
	"\t}\n"
	"\tfor (; i <= length(s); i++) {\n"
	"\t\tc = substr(s, i, 1)\n"
	"\t\tif (c == \"(\")\n"
	"\t\t\tdepth++\n"
	"\t\telse if (c == \")\")\n"
	"\t\t\tdepth--\n"
	"\t\telse if (depth == 0 && c == \";\") {\n"
	"\t\t\tseek = 0    # a declaration, not the definition\n"
	"\t\t\treturn s\n"
	"\t\t} else if (depth == 0 && c == \"{\") {\n"
	"\t\t\tseek = 0\n"
	"\t\t\thooked = 1\n"
	"\t\t\treturn substr(s, 1, i) \" unsigned long long kiln_c_ \" \\\n"
	"\t\t\t    \"__attribute__((cleanup(kiln_\" id \"_end))) = kiln_\" \\\n"
	"\t\t\t    id \"_tok;\" substr(s, i + 1)\n"
	"\t\t}\n"
	"\t}\n"
	"\treturn s\n"
	"}\n"
	"END {\n"
	"\tif (bad)\n"
	"\t\texit 1\n"
	"\t# a C++ declaration in std (a specialisation of std::vector<int>\n"
	"\t# with no function, only data members, changes the tests' vectors)\n"
	"\tgsub(/(^|[^A-Za-z0-9_])using[ \\t]+namespace[^A-Za-z0-9_]/, \" \", soltext)\n"
	"\t# (namespace std { ... }, struct std::vector<int, A> (a partial\n"
	"\t# specialisation by a qualified name), namespace s = std (an alias)\n"
	"\tstdns = \"(::[ \\t]*)?(std|__gnu_cxx|__cxxabiv1)\"\n"
	"\tif (match(soltext, \"(^|[^A-Za-z0-9_:])namespace[ \\t]+\" stdns \"([^A-Za-z0-9_]|$)\") ||\n"
	"\t    match(soltext, \"(^|[^A-Za-z0-9_])namespace[ \\t]+[A-Za-z_][A-Za-z0-9_]*[ \\t]*=[ \\t]*\" stdns \"([^A-Za-z0-9_]|$)\") ||\n"
	"\t    match(soltext, \"(^|[^A-Za-z0-9_])(struct|class|union)[ \\t]+\" stdns \"[ \\t]*::\"))\n"
	"\t\trefuse(\"a declaration in namespace std (or an alias of it)\", \"it would change the library's types or functions for the tests\")\n"
	"\tif (check) {\n"
	"\t\tfor (k in want) {\n"
	"\t\t\tsplit(k, f, SUBSEP)\n"
	"\t\t\tw = danger(f[3])\n"
	"\t\t\tif (w == \"\")\n"
	"\t\t\t\tw = \"this line\"\n"
	"\t\t\tprint \"kiln: \" w \" in \" f[1] \":\" f[2] \" differs from what\" \\\n"
	"\t\t\t      \" that header says on its own (the solution's macros\" \\\n"
	"\t\t\t      \" changed it): not accepted in a C solution (\" \\\n"
	"\t\t\t      why(w) \")\" > \"/dev/stderr\"\n"
	"\t\t\texit 1\n"
	"\t\t}\n"
	"\t\texit 0\n"
	"\t}\n"
	"\tif (part != 2) {\n"
	"\t\tprint \"kiln: the tests' unit is missing\" > \"/dev/stderr\"\n"
	"\t\texit 1\n"
	"\t}\n"
	"\tif (tests_include)\n"
	"\t\tprint 1 > \"tests-include\"\n"
	"\tfor (k in sus) {\n"
	"\t\t# System headers' lines that the tests' unit does not have\n"
	"\t\t# word for word: build.sh preprocesses the same headers without\n"
	"\t\t# the solution (ref.c) and join.awk -v check=1 compares.\n"
	"\t\tfor (i = 0; i < ninc; i++)\n"
	"\t\t\tprint incs[i] > (\"ref.\" (ext ? ext : \"c\"))\n"
	"\t\tif (!ninc)\n"
	"\t\t\tprint \"\" > (\"ref.\" (ext ? ext : \"c\"))\n"
	"\t\tfor (k in sus)\n"
	"\t\t\tprint k > \"sus.txt\"\n"
	"\t\tbreak\n"
	"\t}\n"
	"}\n";

/* Refuses a solution that defines a name the C library exports (libc.txt:
 * one name a line, possibly name@version; then the unit's assembly, where
 * every definition is a label, a .set/.equ alias, .comm or .symver). A
 * global one replaces the library's for the whole program. A local one
 * (a static function or variable) matters only where the tests include a
 * header after the solution (all=1): the header's extern declaration
 * then takes the static's internal linkage; elsewhere every prelude name
 * is declared before the solution, and a static of that name does not
 * compile. */
static const char c_syms_awk[] =
	"function defined(n) {\n"
	"\tsub(/@.*/, \"\", n)\n"
	"\tif (n in libc)\n\t\tdef[n] = 1\n}\n"
	"BEGIN {\n"
	"\t# the identifiers of the tests' own text (C: a static named like\n"
	"\t# a C-library function that the tests name takes their calls)\n"
	"\tif (tests != \"\")\n"
	"\t\twhile ((getline line < tests) > 0) {\n"
	"\t\t\tgsub(/[^A-Za-z0-9_]+/, \" \", line)\n"
	"\t\t\tnw = split(line, w, \" \")\n"
	"\t\t\tfor (j = 1; j <= nw; j++)\n\t\t\t\tnamed[w[j]] = 1\n"
	"\t\t}\n}\n"
	"NR == FNR { sub(/@.*/, \"\"); libc[$0] = 1; next }\n"
	"/^[A-Za-z_.$][A-Za-z0-9_.$]*:/ { defined(substr($0, 1, index($0, \":\") - 1)) }\n"
	"/^[ \\t]*\\.(globl|weak|set|equ|equiv|comm|lcomm|symver|weakref)[ \\t]/ {\n"
	"\tsplit($0, f, /[ \\t,]+/)\n"
	"\tk = f[1] == \"\" ? 2 : 1\n"
	"\tif (f[k] ~ /^\\.(globl|weak|comm|symver)$/)\n"
	"\t\tglobal[f[k + 1]] = 1\n"
	"\tif (f[k] !~ /^\\.(globl|weak)$/)  # .weakref: a local alias\n"
	"\t\tdefined(f[k + 1])\n"
	"\tif (f[k] == \".symver\") {\n"
	"\t\tdefined(f[k + 2])\n"
	"\t\tn = f[k + 2]\n\t\tsub(/@.*/, \"\", n)\n\t\tglobal[n] = 1\n\t}\n}\n"
	"END {\n"
	"\tfor (n in def)\n"
	"\t\tif (all || n in global || n in named) {\n"
	"\t\t\tbad = 1\n"
	"\t\t\tprint \"kiln: the solution defines \" n \", a name of the C \" \\\n"
	"\t\t\t      \"library (it would replace it for the tests)\"\n\t\t}\n"
	"\texit bad\n}\n";

/* C++: which functions the tests' code calls, before any inlining (the
 * unit's cfg dump, -fdump-tree-cfg-lineno-asmname: every function that
 * was compiled, with its assembler name, its statements' source files and
 * its calls by assembler name). A function is the solution's if a
 * statement of it is on a "solution" line, the tests' if one is on a
 * test's, the set-up's or the test program's. It refuses a solution
 * function that takes the place of a library one for the tests: an
 * extern "C" definition of a C library name (an inline or constexpr
 * strcmp is inlined into the tests' calls and never emitted, so
 * syms.awk never sees it), any function of namespace std or __gnu_cxx
 * (an explicit specialisation of std::operator== for vector<int>); and,
 * where the tests' code reaches it (calls it or takes its address,
 * directly or through functions of neither half: libstdc++'s
 * optional<Evil> == 3 calls Evil's operator==), an operator other
 * than () (a global operator== on std::string, preferred to libstdc++'s
 * templates by overload resolution; a member operator== or operator bool
 * of a type the solution returns in place of the library's), and an
 * overload of a C library name or of a function the tests define
 * (strlen(char *) is a better match for a char array than <string.h>'s)
 * unless it is the entry point (the record's entry_point, -v entry).
 * It also checks the type of each function the tests call directly,
 * from the probes (KILN_SYM(probe)<decltype(P), P>, whose name in the
 * dump spells the type): one function returning a plain value (a
 * number, bool, string, or a standard container, pair or tuple of
 * them: with std::optional<bool>, assert(f(x)) asks "has a value"). The
 * entry point's probe is in the unit; the other functions' names go to
 * -v calls=FILE for build.sh's second build, whose dump is checked with
 * -v checked=NAMES.
 * The tests' half is compiled with optimize("no-inline"), which also
 * keeps the front end from folding a call to a constexpr function with
 * constant arguments away (the folded function is never compiled, so
 * the dump would not show it). */
static const char cpp_fns_awk[] =
	"function base(n) {\n"
	"\twhile (gsub(/<[^<>]*>/, \"\", n))\n"
	"\t\t;\n"
	"\tif (match(n, /(^|::)operator[^A-Za-z0-9_]/))\n"
	"\t\treturn substr(n, RSTART + (substr(n, RSTART, 1) == \":\" ? 2 : 0))\n"
	"\tsub(/.*::/, \"\", n)\n"
	"\treturn n\n"
	"}\n"
	"# Where pat first starts in t outside <> and (), or 0\n"
	"function top(t, pat,    k, d, c) {\n"
	"\tfor (k = 1; k <= length(t); k++) {\n"
	"\t\tc = substr(t, k, 1)\n"
	"\t\tif (!d && substr(t, k, length(pat)) == pat)\n"
	"\t\t\treturn k\n"
	"\t\tif (c == \"<\" || c == \"(\")\n"
	"\t\t\td++\n"
	"\t\telse if (c == \">\" || c == \")\")\n"
	"\t\t\td--\n"
	"\t}\n"
	"\treturn 0\n"
	"}\n"
	"# The compiled function a call names: a call of a complete object's\n"
	"# constructor or destructor (C1, D1, D0) runs the base object's (C2, D2),\n"
	"# which is the one the dump has a body for\n"
	"function alias(g,    i, h) {\n"
	"\tif (g in name || g !~ /^_Z/)\n"
	"\t\treturn g\n"
	"\tfor (i = 1; i < length(g); i++)\n"
	"\t\tif (substr(g, i, 2) ~ /^(C1|D1|D0)$/) {\n"
	"\t\t\th = substr(g, 1, i) \"2\" substr(g, i + 2)\n"
	"\t\t\tif (h in name)\n"
	"\t\t\t\treturn h\n"
	"\t\t}\n"
	"\treturn g\n"
	"}\n"
	"# A function's name as the dump prints it, as C++ can name it again\n"
	"function fnorm(s) {\n"
	"\tgsub(/\\{anonymous\\}::/, \"\", s)\n"
	"\tgsub(/^ +| +$/, \"\", s)\n"
	"\tif (s ~ /^\\(&.*\\)$/)\n"
	"\t\ts = substr(s, 3, length(s) - 3)\n"
	"\tsub(/^ *& */, \"\", s)\n"
	"\tsub(/ +$/, \"\", s)\n"
	"\treturn s\n"
	"}\n"
	"function refuse(msg) {\n"
	"\tprint \"kiln: \" msg\n"
	"\tbad = 1\n"
	"}\n"
	"# Whether t, a type as the dump prints it, is a plain value: a number,\n"
	"# bool, char, a string, or a standard container, pair or tuple of them\n"
	"# (each accepted template becomes @, which no type's name can be)\n"
	"function plain(t,   a, n, k, x, inner) {\n"
	"\twhile (match(t, /[A-Za-z_][A-Za-z0-9_:]*<[^<>]*>/)) {\n"
	"\t\tx = substr(t, RSTART, RLENGTH)\n"
	"\t\tinner = substr(x, index(x, \"<\") + 1)\n"
	"\t\tinner = substr(inner, 1, length(inner) - 1)\n"
	"\t\tif (!(substr(x, 1, index(x, \"<\") - 1) in tmpl))\n"
	"\t\t\treturn 0\n"
	"\t\tn = split(inner, a, \",\")\n"
	"\t\tfor (k = 1; k <= n; k++) {\n"
	"\t\t\tgsub(/^ +| +$|(^| )const( |$)/, \"\", a[k])\n"
	"\t\t\tif (a[k] != \"@\" && !(a[k] in fund) && a[k] !~ /^[0-9]+[ul]*$/)\n"
	"\t\t\t\treturn 0\n"
	"\t\t}\n"
	"\t\tt = substr(t, 1, RSTART - 1) \"@\" substr(t, RSTART + RLENGTH)\n"
	"\t}\n"
	"\tgsub(/^ +| +$|(^| )const( |$)/, \"\", t)\n"
	"\tsub(/ *&$/, \"\", t)\n"
	"\treturn t == \"@\" || t in fund\n"
	"}\n"
	"BEGIN {\n"
	"\tsplit(\"bool char signed+char unsigned+char wchar_t char16_t char32_t\" \\\n"
	"\t      \" short short+int unsigned+short short+unsigned+int int\" \\\n"
	"\t      \" unsigned+int unsigned long long+int unsigned+long\" \\\n"
	"\t      \" long+unsigned+int long+long long+long+int unsigned+long+long\" \\\n"
	"\t      \" long+long+unsigned+int __int128 __int128+unsigned\" \\\n"
	"\t      \" unsigned+__int128 float double long+double void\", w, \" \")\n"
	"\tfor (k in w) {\n"
	"\t\tgsub(/\\+/, \" \", w[k])\n"
	"\t\tfund[w[k]] = 1\n"
	"\t}\n"
	"\tsplit(\"std::vector std::allocator std::char_traits\" \\\n"
	"\t      \" std::__cxx11::basic_string std::basic_string std::pair\" \\\n"
	"\t      \" std::tuple std::array std::map std::multimap std::set\" \\\n"
	"\t      \" std::multiset std::unordered_map std::unordered_set\" \\\n"
	"\t      \" std::unordered_multimap std::unordered_multiset std::less\" \\\n"
	"\t      \" std::greater std::hash std::equal_to std::deque std::list\" \\\n"
	"\t      \" std::__cxx11::list std::forward_list std::stack std::queue\" \\\n"
	"\t      \" std::priority_queue std::bitset std::complex\", w, \" \")\n"
	"\tfor (k in w)\n"
	"\t\ttmpl[w[k]] = 1\n"
	"\tprobe = \"kiln_\" substr(tfile, 2, length(tfile) - 5) \"_probe<\"\n"
	"}\n"
	"NR == FNR { sub(/@.*/, \"\"); libc[$0] = 1; next }\n"
	"/^;; Function / {\n"
	"\tfn = \"\"\n"
	"\ttl = 0\n"
	"\tif (!match($0, / \\([^ ,()]+, funcdef_no=/))\n"
	"\t\tnext\n"
	"\tfn = substr($0, RSTART + 2, RLENGTH - 15)\n"
	"\tname[fn] = substr($0, 13, RSTART - 13)\n"
	"\tnext\n"
	"}\n"
	"fn != \"\" && /\\[[^]]*:[0-9]+:[0-9]+\\]/ {\n"
	"\ts = $0\n"
	"\twhile (match(s, /\\[[^]]*:[0-9]+:[0-9]+\\]/)) {\n"
	"\t\tf = substr(s, RSTART + 1, RLENGTH - 2)\n"
	"\t\tsub(/:[0-9]+:[0-9]+$/, \"\", f)\n"
	"\t\tif (f == \"solution\")\n"
	"\t\t\tsol[fn] = 1\n"
	"\t\telse if (f ~ /^(test [0-9]+|setup|test program)$/ || f == tfile)\n"
	"\t\t\ttst[fn] = tl = 1\n"
	"\t\ts = substr(s, RSTART + RLENGTH)\n"
	"\t}\n"
	"}\n"
	"# In the tests' statements: the simple copies (x = y;) and the calls\n"
	"# through a pointer (a temporary or a parameter called) or a vtable\n"
	"fn != \"\" && tl {\n"
	"\ts = $0\n"
	"\ttl = 0\n"
	"\tgsub(/\\[[^]]*:[0-9]+:[0-9]+\\] /, \"\", s)\n"
	"\tif (s ~ /^ *[A-Za-z_][A-Za-z0-9_.]* = [A-Za-z_][A-Za-z0-9_.]*;$/) {\n"
	"\t\tsplit(s, a, / = |;/)\n"
	"\t\tgsub(/ /, \"\", a[1])\n"
	"\t\tasg[fn, a[1]] = a[2]\n"
	"\t}\n"
	"\tif (s ~ /OBJ_TYPE_REF/)\n"
	"\t\ticall[fn] = icall[fn] \" (virtual)\"\n"
	"\telse if (match(s, /(^ *|= )([A-Za-z_][A-Za-z0-9_]*\\.[0-9]+_[0-9]+|_[0-9]+|[A-Za-z_][A-Za-z0-9_]*_[0-9]+\\(D\\)) \\(/)) {\n"
	"\t\tc = substr(s, RSTART, RLENGTH - 2)\n"
	"\t\tsub(/^ *(= )?/, \"\", c)\n"
	"\t\ticall[fn] = icall[fn] \" \" c\n"
	"\t}\n"
	"}\n"
	"# the function's declaration: the line before its body's first \"{\"\n"
	"fn != \"\" && !(fn in opened) {\n"
	"\tif ($0 == \"{\")\n"
	"\t\topened[fn] = 1\n"
	"\telse\n"
	"\t\tdecl[fn] = $0\n"
	"}\n"
	"fn != \"\" {\n"
	"\ts = $0\n"
	"\twhile (match(s, /[A-Za-z_][A-Za-z0-9_.$]*/)) {\n"
	"\t\tw1 = substr(s, RSTART, RLENGTH)\n"
	"\t\tif (!((fn, w1) in body)) {\n"
	"\t\t\tbody[fn, w1] = 1\n"
	"\t\t\tids[fn] = ids[fn] \" \" w1\n"
	"\t\t}\n"
	"\t\ts = substr(s, RSTART + RLENGTH)\n"
	"\t}\n"
	"}\n"
	"END {\n"
	"\tfor (f in tst)\n"
	"\t\ttname[base(name[f])] = 1\n"
	"\t# what the tests' code reaches: the functions they call, and through\n"
	"\t# functions of neither half (the library's templates, the compiler's\n"
	"\t# own) the functions those call; a solution function is an end\n"
	"\tn = 0\n"
	"\tfor (f in tst) {\n"
	"\t\tq[++n] = f\n"
	"\t\tseen[f] = 1\n"
	"\t}\n"
	"\tfor (k = 1; k <= n; k++) {\n"
	"\t\tm = split(ids[q[k]], w, \" \")\n"
	"\t\tfor (j = 1; j <= m; j++) {\n"
	"\t\t\tg = alias(w[j])\n"
	"\t\t\tif (!(g in name) || g in seen)\n"
	"\t\t\t\tcontinue\n"
	"\t\t\tseen[g] = 1\n"
	"\t\t\tvia[g] = q[k] in tst ? \"\" : (via[q[k]] != \"\" ? via[q[k]] : name[q[k]])\n"
	"\t\t\tif (!(g in sol))\n"
	"\t\t\t\tq[++n] = g\n"
	"\t\t}\n"
	"\t}\n"
	"\tfor (f in sol) {\n"
	"\t\tif (checked != \"\")\n"
	"\t\t\tbreak        # the second build: its probes only\n"
	"\t\tb = base(name[f])\n"
	"\t\tif (f in libc) {\n"
	"\t\t\trefuse(\"the solution defines \" f \", a name of the C library (it would replace it for the tests)\")\n"
	"\t\t\tcontinue\n"
	"\t\t}\n"
	"\t\tif (f ~ /^_Z(nw|na|dl|da)/ || f ~ /^(__cxa_|__gxx_|_Unwind_)/) {\n"
	"\t\t\trefuse(\"the solution defines \" name[f] \", which would replace the C++ runtime's for the tests and the library\")\n"
	"\t\t\tcontinue\n"
	"\t\t}\n"
	"\t\tif (f ~ /^_Z(N[rVKRO]*)?(St|S[abdios]|9__gnu_cxx|10__cxxabiv1)/) {\n"
	"\t\t\trefuse(\"the solution defines \" name[f] \" in the standard library's namespace (it would replace the library's for the tests)\")\n"
	"\t\t\tcontinue\n"
	"\t\t}\n"
	"\t\tif (!(f in seen) || b == entry)\n"
	"\t\t\tcontinue\n"
	"\t\thow = via[f] == \"\" ? \"\" : \" (through the library's \" via[f] \")\"\n"
	"\t\tif (b ~ /^operator/ && b !~ /^operator\\(\\)$/)\n"
	"\t\t\trefuse(\"the tests' \" b \" would be the solution's \" name[f] how \" (the tests' operators are the library's)\")\n"
	"\t\telse if (b in libc)\n"
	"\t\t\trefuse(\"the tests' calls to \" b \" would be the solution's \" name[f] how \" (an overload of the C library's)\")\n"
	"\t\telse if (b in tname && !(f in tst))\n"
	"\t\t\trefuse(\"the tests' calls to \" b \" would be the solution's \" name[f] how \" (an overload of the tests' own)\")\n"
	"\t\telse if (how != \"\" && !(f in tst))\n"
	"\t\t\trefuse(\"the library's \" via[f] \" would run the solution's \" name[f] \" for the tests (only the function under test may run)\")\n"
	"\t}\n"
	"\t# a call of the tests' through a pointer must reach, by copies, a\n"
	"\t# function they name (auto candidate = f; candidate(x)): the probes\n"
	"\t# check what they name, not what a pointer of the solution's holds\n"
	"\tfor (f in icall) {\n"
	"\t\tm = split(icall[f], w, \" \")\n"
	"\t\tfor (j = 1; j <= m; j++) {\n"
	"\t\t\tv = w[j]\n"
	"\t\t\tfor (k = 0; k < 32 && !(v in name) && (f, v) in asg; k++)\n"
	"\t\t\t\tv = asg[f, v]\n"
	"\t\t\tif (!(v in name))\n"
	"\t\t\t\trefuse(\"the tests call through \" (w[j] == \"(virtual)\" ? \"a virtual function\" : w[j]) \", not a function they name (kiln cannot tell whose code it runs)\")\n"
	"\t\t}\n"
	"\t}\n"
	"\t# each probe the build instantiated, kiln_ID_probe<decltype(P), P>\n"
	"\t# where P is &::F (the entry point's) or, in the second build, the\n"
	"\t# function F that the tests call picked by its parameters' types:\n"
	"\t# it must be a function (not an object) that returns a plain value\n"
	"\tfor (f in name) {\n"
	"\t\tif (index(name[f], probe) != 1)\n"
	"\t\t\tcontinue\n"
	"\t\tt = substr(name[f], length(probe) + 1, length(name[f]) - length(probe) - 1)\n"
	"\t\tk = top(t, \",\")\n"
	"\t\tfname = substr(t, k + 2)\n"
	"\t\tgsub(/^ +| +$/, \"\", fname)\n"
	"\t\tpraw[fname] = 1\n"
	"\t\tfname = fnorm(fname)\n"
	"\t\tt = substr(t, 1, k - 1)\n"
	"\t\tprobed[fname] = 1\n"
	"\t\tnprobe++\n"
	"\t\tk = top(t, \" (\")\n"
	"\t\tr = k ? substr(t, 1, k - 1) : \"\"\n"
	"\t\tif (substr(t, k + 1) !~ /^\\(([A-Za-z_][^()]*::)?\\*\\)\\(/)\n"
	"\t\t\tr = \"\"\n"
	"\t\tif (r == \"\")\n"
	"\t\t\trefuse(\"the tests call \" fname \", which is not a function (its type is \" t \")\")\n"
	"\t\telse if (!plain(r))\n"
	"\t\t\trefuse(\"the tests' calls to \" fname \" return \" r \": a test judges only a number, bool, character, string or a standard container, pair or tuple of them (with a type of the solution's, a pointer or std::optional, library code whose meaning is not the task's would judge)\")\n"
	"\t}\n"
	"\tif (checked == \"\" && eprobe && !nprobe)\n"
	"\t\trefuse(\"the entry point \" entry \" was not found in the build\")\n"
	"\twhile (checked != \"\" && (getline c < checked) > 0)\n"
	"\t\tif (!(c in probed))\n"
	"\t\t\trefuse(\"the tests call \" c \", which the check could not find\")\n"
	"\t# the solution's functions that the tests call directly, but the\n"
	"\t# entry point where its probe is there: their types come from a\n"
	"\t# second build with a probe each (-v calls=FILE: assembler name, tab,\n"
	"\t# name)\n"
	"\tfor (f in sol) {\n"
	"\t\tnm = fnorm(name[f])\n"
	"\t\tb = base(nm)\n"
	"\t\traw = name[f]\n"
	"\t\tgsub(/^ +| +$/, \"\", raw)\n"
	"\t\tif (calls == \"\" || !(f in seen) || via[f] != \"\" || f in tst ||\n"
	"\t\t    raw in praw || (b ~ /^operator/ && b != \"operator()\") ||\n"
	"\t\t    b ~ /^~/)\n"
	"\t\t\tcontinue\n"
	"\t\tc = nm\n"
	"\t\tif (sub(/::[^:]*$/, \"\", c) && base(c) == b &&\n"
	"\t\t    decl[f] ~ /[(, ]this[,)]/)\n"
	"\t\t\tcontinue     # a constructor\n"
	"\t\tif (nm ~ /<lambda|[{}\"';#\\\\]/)\n"
	"\t\t\trefuse(\"the tests call the solution's \" name[f] \", which a check cannot name (a lambda?): give the record an entry_point function\")\n"
	"\t\telse\n"
	"\t\t\tprint f \"\\t\" nm > calls\n"
	"\t}\n"
	"\texit bad\n"
	"}\n";

/* C++, the second build's probes (build.sh): calls.txt (fns.awk: the
 * assembler name and the name of each function the tests call that the
 * first build did not probe), then the same names demangled by c++filt,
 * whose parameter list gives the types that pick the overload the tests
 * called: sig<A...>::pick(&::F) deduces only a function of parameters
 * A..., so the probe's type is that function's. */
static const char cpp_probe_awk[] =
	"# calls.txt (a function's assembler name, a tab, its name), then the\n"
	"# same assembler names demangled (c++filt), one a line: a probe for each\n"
	"# that picks the function by its parameters' types\n"
	"NR == FNR {\n"
	"\tsplit($0, a, \"\\t\")\n"
	"\tfname[FNR] = a[2]\n"
	"\tnext\n"
	"}\n"
	"{\n"
	"\ts = $0\n"
	"\twhile (sub(/ (const|volatile|&|&&)$/, \"\", s))\n"
	"\t\t;\n"
	"\td = 0\n"
	"\tfor (k = length(s); k > 0; k--) {\n"
	"\t\tc = substr(s, k, 1)\n"
	"\t\tif (c == \")\" || c == \">\")\n"
	"\t\t\td++\n"
	"\t\telse if (c == \"(\" || c == \"<\")\n"
	"\t\t\td--\n"
	"\t\tif (d == 0)\n"
	"\t\t\tbreak\n"
	"\t}\n"
	"\tif (k < 1 || substr(s, length(s)) != \")\") {\n"
	"\t\tprint \"kiln: cannot read the signature \" $0 > \"/dev/stderr\"\n"
	"\t\texit 1\n"
	"\t}\n"
	"\tp = substr(s, k + 1, length(s) - k - 1)\n"
	"\tif (p == \"void\")\n"
	"\t\tp = \"\"\n"
	"\tq = \"kiln_\" id \"_sig<\" p \">::pick(&::\" fname[FNR] \")\"\n"
	"\tprint \"template void kiln_\" id \"_probe<decltype(\" q \"), \" q \">();\"\n"
	"}\n";

/* The build, in the box. libc.txt comes with the job (kiln reads the
 * names from the libc and libm it has loaded itself: the box binds the
 * same /usr); nm makes it when it does not. The assembly keeps every
 * static and inline function, even where all calls were inlined: a
 * static difftime defined before a test program's <time.h> takes the
 * tests' calls (the header's extern declaration inherits its internal
 * linkage), and syms.awk can only refuse what it sees. The program is
 * execute-only: execve gives a process that cannot read its own file
 * the dumpable mode of fs.suid_dumpable (0 by default) from the start;
 * the runtime's prctl comes later, after the dynamic linker has run. */
/* Both builds' check of main.s against the C library's names. */
#define SYMS_SH \
	"if ! [ -s libc.txt ]; then\n" \
	"\tnm -D --defined-only \"$(cc -print-file-name=libc.so.6)\" \\\n" \
	"\t\t\"$(cc -print-file-name=libm.so.6)\" | awk '{ print $NF }' >libc.txt\n" \
	"fi\n" \
	"all=0\n" \
	"[ -e tests-include ] && all=1\n" \
	"awk -v all=$all -v tests=\"$syms_tests\" -f syms.awk libc.txt main.s >&2\n"

static const char c_build_sh[] =
	"# kiln: builds a C job (src/sandbox/lang.c). $1: this job's random ID.\n"
	"set -e\n"
	"cd /tmp/w\n"
	"cc -std=gnu17 -E -dI sol.c \"t$1.c\" >both.i\n"
	"awk -v id=\"$1\" -f join.awk both.i >main.i\n"
	"if [ -e ref.c ]; then\n"
	"\tcc -std=gnu17 -E -dI ref.c >ref.i\n"
	"\tawk -v check=1 -f join.awk sus.txt ref.i\n"
	"fi\n"
	"cc -std=gnu17 -O1 -pipe -fkeep-static-functions -fkeep-inline-functions \\\n"
	"\t-S main.i\n"
	"# C: a static named like a C-library function that the tests name is\n"
	"# refused whatever they include (one outside kiln's prelude, isupper\n"
	"# of <ctype.h>, took the tests' implicitly declared calls: hostile\n"
	"# 9418); a helper the tests never name (error) stays allowed\n"
	"syms_tests=\"t$1.c\"\n"
	SYMS_SH
	"cc -std=gnu17 -O1 -pipe -o prog \"k$1.c\" main.s -lm\n"
	"chmod 111 prog\n";

/* The same build for C++ (g++, -std=gnu++17): one preprocessor run over
 * sol.cpp and t<ID>.cpp, join.awk, syms.awk as for C; the runtime k<ID>.c
 * stays C (compiled by cc) and is linked first. -fkeep-inline-functions
 * is left out: in C++ it would emit every inline function of the standard
 * library's headers, and a static function named like a libc function
 * does not compile after <cstring>'s extern declaration. A function
 * that returns a value and runs off its end (undefined in C++: the
 * caller reads whatever the register holds, which can be the expected
 * answer) traps there (-fsanitize=return, a trap instruction, no
 * runtime library): killed by SIGILL, never a pass. */
static const char cpp_build_sh[] =
	"# kiln: builds a C++ job (src/sandbox/lang.c). $1: this job's random ID,\n"
	"# $2: main for a test program (else empty), $3: the entry point (or empty),\n"
	"# $4: 1 if the tests' unit probes the entry point, $5: 1 if the solution\n"
	"# may define a macro (its header lines are checked against the headers').\n"
	"set -e\n"
	"cd /tmp/w\n"
	"g++ -std=gnu++17 -fno-exceptions -E -dI sol.cpp \"t$1.cpp\" >both.ii\n"
	"awk -v id=\"$1\" -v ext=cpp -v entry=\"$2\" -v macros=\"$5\" -f join.awk both.ii \\\n"
	"\t>main.ii\n"
	"if [ -e ref.cpp ]; then\n"
	"\tg++ -std=gnu++17 -fno-exceptions -E -dI ref.cpp >ref.ii\n"
	"\tawk -v check=1 -f join.awk sus.txt ref.ii\n"
	"fi\n"
	"g++ -std=gnu++17 -O1 -pipe -fno-exceptions -fkeep-static-functions \\\n"
	"  -fsanitize=return -fsanitize-undefined-trap-on-error \\\n"
	"  -fdump-tree-cfg-lineno-asmname=cfg.txt -S main.ii\n"
	"# a test program's record is written by the runtime's destructor, after\n"
	"# every exit handler: the unit may have no destructor function of its\n"
	"# own, which could run after it (hostile 9420)\n"
	"if [ -n \"$2\" ] && grep -q '\\.fini_array\\|\\.dtors' main.s; then\n"
	"\techo \"kiln: the test program's unit has a destructor function\" \\\n"
	"\t     \"(__attribute__((destructor))): not accepted\" >&2\n"
	"\texit 1\n"
	"fi\n"
	SYMS_SH
	": >calls.txt\n"
	"awk -v tfile=\"t$1.cpp\" -v entry=\"$3\" -v eprobe=\"$4\" \\\n"
	"\t-v calls=calls.txt -f fns.awk libc.txt cfg.txt >&2\n"
	"# the solution's functions that the tests call but the entry point\n"
	"# (fns.awk wrote their names): the unit again with a probe each, for\n"
	"# their types\n"
	"if [ -s calls.txt ]; then\n"
	"\tcut -f1 calls.txt | c++filt >sigs.txt\n"
	"\t{\n"
	"\t\tcat main.ii\n"
	"\t\techo '# 1 \"kiln check of the functions the tests call\"'\n"
	"\t\tawk -v id=\"$1\" -f probe.awk calls.txt sigs.txt\n"
	"\t} >probe.ii\n"
	"\tcut -f2 calls.txt >names.txt\n"
	"\tg++ -std=gnu++17 -O0 -pipe -fno-exceptions \\\n"
	"\t  -fdump-tree-cfg-lineno-asmname=cfg.txt -S -o /dev/null probe.ii\n"
	"\tawk -v tfile=\"t$1.cpp\" -v checked=names.txt -f fns.awk libc.txt \\\n"
	"\t\tcfg.txt >&2\n"
	"\trm -f probe.ii sigs.txt names.txt\n"
	"fi\n"
	"rm -f cfg.txt calls.txt\n"
	"cc -std=gnu17 -O1 -pipe -c -o \"k$1.o\" \"k$1.c\"\n"
	"g++ -O1 -pipe -o prog \"k$1.o\" main.s -lm\n"
	"chmod 111 prog\n";

/* The names that the libc and libm loaded into kiln define, one a line
 * (read once from their dynamic symbol tables in memory), or NULL. */
static pthread_once_t libc_once = PTHREAD_ONCE_INIT;
static char *libc_names;

static int libc_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	const ElfW(Dyn) *dyn = NULL;
	const ElfW(Sym) *sym = NULL;
	const char *str = NULL;
	const uint32_t *gnu = NULL, *buckets, *chain;
	uint32_t last = 0;

	(void)size;
	if (!info->dlpi_name || (!strstr(info->dlpi_name, "/libc.so.") &&
				 !strstr(info->dlpi_name, "/libm.so.")))
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
			dyn = (const void *)(info->dlpi_addr +
					     info->dlpi_phdr[i].p_vaddr);
	for (; dyn && dyn->d_tag != DT_NULL; dyn++) {
		/* ld.so relocates these in place on most targets */
		ElfW(Addr) a = dyn->d_un.d_ptr;
		if (a < info->dlpi_addr)
			a += info->dlpi_addr;
		if (dyn->d_tag == DT_SYMTAB)
			sym = (const void *)a;
		else if (dyn->d_tag == DT_STRTAB)
			str = (const void *)a;
		else if (dyn->d_tag == DT_GNU_HASH)
			gnu = (const void *)a;
	}
	if (!sym || !str || !gnu)
		return 0;
	/* The GNU hash table: nbuckets, symoffset, bloom words, shift, the
	 * bloom filter, the buckets, then one chain entry per symbol from
	 * symoffset on, the last of each chain marked by bit 0. */
	buckets = gnu + 4 + gnu[2] * (sizeof(ElfW(Addr)) / 4);
	chain = buckets + gnu[0];
	for (uint32_t b = 0; b < gnu[0]; b++)
		if (buckets[b] > last)
			last = buckets[b];
	if (last >= gnu[1])
		while (!(chain[last - gnu[1]] & 1))
			last++;
	for (uint32_t i = 1; i <= last; i++)
		if (sym[i].st_shndx != SHN_UNDEF && str[sym[i].st_name])
			fprintf(arg, "%s\n", str + sym[i].st_name);
	return 0;
}

static void libc_read(void)
{
	size_t len = 0;
	FILE *f = open_memstream(&libc_names, &len);

	if (!f)
		return;
	dl_iterate_phdr(libc_object, f);
	if (fclose(f) != 0 || len == 0) {
		free(libc_names);
		libc_names = NULL;
	}
}

/* Whether the C library or libm loaded into kiln defines name. */
static int libc_has(const char *name)
{
	size_t n = strlen(name);

	pthread_once(&libc_once, libc_read);
	for (const char *p = libc_names; p && *p; p = strchr(p, '\n') + 1) {
		if (!strncmp(p, name, n) && p[n] == '\n')
			return 1;
		if (!strchr(p, '\n'))
			break;
	}
	return 0;
}

/* A copy of C++ text without its comments and its string and character
 * literals (each a space), for called_free; NULL when out of memory. */
static char *cpp_code_only(const char *s)
{
	char *t = malloc(strlen(s) + 1), *o = t;

	if (!t)
		return NULL;
	while (*s) {
		if (s[0] == '/' && s[1] == '/') {
			while (*s && *s != '\n')
				s++;
		} else if (s[0] == '/' && s[1] == '*') {
			const char *e = strstr(s + 2, "*/");
			s = e ? e + 2 : s + strlen(s);
			*o++ = ' ';
		} else if (*s == '"' || *s == '\'') {
			char q = *s++;
			while (*s && *s != q && *s != '\n') {
				if (*s == '\\' && s[1])
					s++;
				s++;
			}
			if (*s == q)
				s++;
			*o++ = ' ';
		} else {
			*o++ = *s++;
		}
	}
	*o = 0;
	return t;
}

/* Whether the tests' code calls name as a free function: name( not
 * after '.', "->", "::" or `new`, and name never used as a type (name x,
 * name<, name::): a member function entry point (LeetCode's
 * Solution().twoSum) or a class (MinStack) has no &::name to probe.
 * Comments and literals do not count. */
static int called_free(const kiln_job *job, const char *name)
{
	size_t n = strlen(name);
	int free_call = 0;

	for (size_t i = 0; i < job->ntests; i++) {
		char *t = job->tests[i] ? cpp_code_only(job->tests[i]) : NULL;

		for (const char *p = t; t && (p = strstr(p, name)); p += n) {
			const char *q = p + n, *b = p;

			if ((p > t && (isalnum((unsigned char)p[-1]) ||
				       p[-1] == '_')) ||
			    isalnum((unsigned char)*q) || *q == '_')
				continue;
			while (*q == ' ' || *q == '\t' || *q == '\n')
				q++;
			if (*q == '<' || (q[0] == ':' && q[1] == ':') ||
			    isalpha((unsigned char)*q) || *q == '_') {
				free(t);
				return 0;       /* a type */
			}
			if (*q != '(')
				continue;
			while (b > t && (b[-1] == ' ' || b[-1] == '\t' ||
					 b[-1] == '\n'))
				b--;
			if (b > t && (b[-1] == '.' || b[-1] == ':' ||
				      (b[-1] == '>' && b - 1 > t && b[-2] == '-')))
				continue;
			if (b - t >= 3 && !strncmp(b - 3, "new", 3) &&
			    (b - t == 3 || !(isalnum((unsigned char)b[-4]) ||
					     b[-4] == '_'))) {
				free(t);
				return 0;       /* new name(...): a type */
			}
			free_call = 1;
		}
		free(t);
	}
	return free_call;
}

/* Whether a solution's text may define or undefine a macro: "define" or
 * "undef" anywhere once line splices are taken out (a directive can be
 * spelled #, %: or ??=, with comments between). A C++ solution's macros
 * reach the library headers it includes after them, whose class
 * templates the tests share (a size() of 0 put into std::vector through
 * a libstdc++ concept-check hook): build.sh then checks every header
 * line of the solution's unit against the headers preprocessed alone. */
static int may_define(const char *s)
{
	char *t;
	size_t n = 0;
	int r;

	if (!s)
		return 0;
	t = malloc(strlen(s) + 1);
	if (!t)
		return 1;
	for (; *s; s++) {
		if (s[0] == '\\' && s[1] == '\n') {
			s++;
			continue;
		}
		if (s[0] == '\\' && s[1] == '\r' && s[2] == '\n') {
			s += 2;
			continue;
		}
		t[n++] = *s;
	}
	t[n] = 0;
	r = strstr(t, "define") || strstr(t, "undef");
	free(t);
	return r;
}

/* A fresh random ID (16 hex digits) for a job's build. */
static int c_build_id(char id[17], kiln_error *err)
{
	unsigned char r[8];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return kiln_error_set(err, KILN_ESANDBOX,
				      "getrandom: %s", strerror(errno));
	for (int i = 0; i < 8; i++)
		snprintf(id + 2 * i, 3, "%02x", r[i]);
	return 0;
}

/* An I/O test's body is KILN_OUT((call)): its value goes to the runtime
 * by type, as bytes (KILN_SYM(out)); a type kiln cannot compare (a
 * struct, an int pointer) does not compile. */
static const char c_out_head[] =
	"void KILN_SYM(out)(int, const void *, unsigned long);\n"
	"static void KILN_SYM(out_i)(long long v) { KILN_SYM(out)('I', &v, 8); }\n"
	"static void KILN_SYM(out_u)(unsigned long long v)"
	" { KILN_SYM(out)('U', &v, 8); }\n"
	"static void KILN_SYM(out_d)(double v) { KILN_SYM(out)('D', &v, 8); }\n"
	"static void KILN_SYM(out_b)(_Bool v) { KILN_SYM(out)('B', &v, 1); }\n"
	"static void KILN_SYM(out_s)(const char *v) { KILN_SYM(out)('S', v, 0); }\n"
	"#define KILN_OUT(x) _Generic((x), _Bool: KILN_SYM(out_b),"
	" char: KILN_SYM(out_i), signed char: KILN_SYM(out_i),"
	" short: KILN_SYM(out_i), int: KILN_SYM(out_i), long: KILN_SYM(out_i),"
	" long long: KILN_SYM(out_i), unsigned char: KILN_SYM(out_u),"
	" unsigned short: KILN_SYM(out_u), unsigned int: KILN_SYM(out_u),"
	" unsigned long: KILN_SYM(out_u), unsigned long long: KILN_SYM(out_u),"
	" float: KILN_SYM(out_d), double: KILN_SYM(out_d),"
	" long double: KILN_SYM(out_d), char *: KILN_SYM(out_s),"
	" const char *: KILN_SYM(out_s))(x)\n";

/* The tests' unit: assert is glibc's, with __assert_fail renamed to the
 * runtime's (also when a test program includes <assert.h> itself). The
 * prelude's declarations come from the solution's unit (join.awk), so the
 * runtime's functions are declared after it. */
static void c_tests_head(FILE *f, const kiln_job *job, const char *id,
			 int cpp)
{
	fprintf(f, "#define KILN_SYM(n) kiln_%s_##n\n"
		"#define __assert_fail KILN_SYM(fail)\n%s"
		"typedef int KILN_SYM(prelude_end);\n", id, c_prelude);
	/* In C++ as <assert.h> declares it (extern "C", noexcept). The
	 * probe: fns.awk reads a function's type from the name of its
	 * instantiation probe<decltype(&F), &F> in the cfg dump */
	if (cpp)
		fputs("template <class KILN_SYM(T), KILN_SYM(T) KILN_SYM(F)>"
		      " __attribute__((used)) void KILN_SYM(probe)() {}\n"
		      "template <class... A> struct KILN_SYM(sig) {\n"
		      "\ttemplate <class R> static constexpr auto"
		      " pick(R (*f)(A...)) { return f; }\n"
		      "\ttemplate <class R, class C> static constexpr auto"
		      " pick(R (C::*f)(A...)) { return f; }\n"
		      "\ttemplate <class R, class C> static constexpr auto"
		      " pick(R (C::*f)(A...) const) { return f; }\n"
		      "};\n"
		      "extern \"C\" void KILN_SYM(end)(unsigned long long *);\n"
		      "extern \"C\" void KILN_SYM(fail)(const char *,"
		      " const char *, unsigned int, const char *) noexcept"
		      " __attribute__((noreturn));\n", f);
	else
		fputs("void KILN_SYM(end)(unsigned long long *);\n"
		      "void KILN_SYM(fail)(const char *, const char *,"
		      " unsigned int, const char *)"
		      " __attribute__((noreturn));\n", f);
	if (job->expect)
		fputs(c_out_head, f);
	if (job->setup && *job->setup)
		fprintf(f, "#line 1 \"setup\"\n%s\n", job->setup);
}

/* Opens the n memstreams in fs (and their buffers in bufs); on failure
 * closes what was opened. */
static int open_streams(FILE **fs, char **bufs, size_t *lens, int n,
			kiln_error *err)
{
	for (int i = 0; i < n; i++) {
		bufs[i] = NULL;
		fs[i] = open_memstream(&bufs[i], &lens[i]);
		if (!fs[i]) {
			while (i--) {
				fclose(fs[i]);
				free(bufs[i]);
			}
			return kiln_error_set(err, KILN_ENOMEM,
					      "out of memory");
		}
	}
	return 0;
}

/* Skips backslash-newlines (translation phase 2). */
static const char *splice(const char *s)
{
	while (s[0] == '\\' && (s[1] == '\n' || (s[1] == '\r' && s[2] == '\n')))
		s += s[1] == '\n' ? 2 : 3;
	return s;
}

/* Skips a comment at s (phase 3 makes it one space), or returns s. */
static const char *skip_comment(const char *s)
{
	const char *t = splice(s + 1);

	if (*s != '/' || (*t != '*' && *t != '/'))
		return s;
	if (*t == '/') {                  /* to the newline, spliced or not */
		for (t = splice(t + 1); *t && *t != '\n'; t = splice(t + 1))
			;
		return t;
	}
	for (t = splice(t + 1); *t; t = splice(t + 1))
		if (*t == '*' && *splice(t + 1) == '/')
			return splice(t + 1) + 1;
	return t;
}

/* Whether C source has a #line or a line-marker directive ("# 33 "f" 3"),
 * as the preprocessor sees it (lines spliced, comments as spaces, %: for
 * #). join.awk reads line markers to tell the solution's lines from a
 * header's: a solution must not be able to mark its own lines as a
 * system header's. */
static int has_line_directive(const char *s)
{
	int bol = 1;

	while (*(s = splice(s))) {
		const char *t = skip_comment(s);
		if (t != s) {
			s = t;
			continue;
		}
		if (*s == '\n') {
			bol = 1;
			s++;
		} else if (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\f' ||
			   *s == '\v') {
			s++;
		} else if (bol && (*s == '#' || (*s == '%' &&
						 *splice(s + 1) == ':'))) {
			s = *s == '#' ? s + 1 : splice(s + 1) + 1;
			for (;;) {                /* blanks within the line */
				s = splice(s);
				t = skip_comment(s);
				if (t != s)
					s = t;
				else if (*s == ' ' || *s == '\t')
					s++;
				else
					break;
			}
			if (*s >= '0' && *s <= '9')
				return 1;
			t = s;
			int n = 0;
			while (n < 4 && *t == "line"[n]) {
				t = splice(t + 1);
				n++;
			}
			if (n == 4 && !(*t == '_' || (*t >= '0' && *t <= '9') ||
					((*t | 32) >= 'a' && (*t | 32) <= 'z')))
				return 1;
			bol = 0;
		} else if (*s == '"' || *s == '\'') {
			char q = *s;
			for (s = splice(s + 1); *s && *s != q && *s != '\n';
			     s = splice(s + 1))
				if (*s == '\\')
					s = splice(s + 1);
			if (*s == q)
				s++;
			bol = 0;
		} else {
			bol = 0;
			s++;
		}
	}
	return 0;
}

/* Whether a physical line starts with # and a number in its first column,
 * which join.awk reads as a line marker. A raw string (R"(...)", C++ and
 * GNU C) keeps its lines as they are through the preprocessor, and
 * has_line_directive's lexer, which does not know raw strings, can take
 * one for a short string and a comment. */
static int has_marker_line(const char *s)
{
	for (; s; s = strchr(s, '\n'), s = s ? s + 1 : NULL) {
		const char *t = s;
		if (*t++ != '#')
			continue;
		while (*t == ' ' || *t == '\t')
			t++;
		if (*t >= '0' && *t <= '9')
			return 1;
	}
	return 0;
}

/* kiln_job.objects: o.c (the prelude and the solution) and m<i>.c (the
 * prelude and tests[i], a variant of the solution) to object files, each
 * from standard input (so every object names the same source file), at
 * -O2 without debug information: the same code gives the same bytes.
 * Nothing that was compiled runs: each test's run is kiln's own shell
 * script, which passes when objects.sh left eq<i> (the variant's object
 * is the solution's). */
static const char c_objects_sh[] =
	"# kiln: a C solution and its variants to object files (src/sandbox/lang.c)\n"
	"cd /tmp/w || exit 1\n"
	"CC='cc -std=gnu17 -O2 -g0 -pipe -w -frandom-seed=kiln -c -x c'\n"
	"$CC -o o.o - <o.c || exit 1\n"
	"i=0\n"
	"while [ -e \"m$i.c\" ]; do\n"
	"\tif $CC -o \"m$i.o\" - <\"m$i.c\" 2>/dev/null &&\n"
	"\t   cmp -s o.o \"m$i.o\"; then\n"
	"\t\t: >\"eq$i\"\n"
	"\tfi\n"
	"\trm -f \"m$i.o\"\n"
	"\ti=$((i + 1))\n"
	"done\n";

/* Shell builtins only ([ and printf): a run may not start programs. */
static const char c_same_sh[] =
	"[ -e \"/tmp/w/eq$1\" ] || exit 1\n"
	"printf '%s\\tD\\n' \"$KILN_NONCE\" >&3\n";

static int c_unit(json_t *files, const char *name, const char *src,
		  kiln_error *err)
{
	char *text;
	size_t n = strlen(c_prelude) + strlen(src) + 32;
	json_t *s;

	if (!(text = malloc(n)))
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	snprintf(text, n, "%s#line 1 \"solution\"\n%s\n", c_prelude, src);
	s = json_string(text);
	free(text);
	if (!s || json_object_set_new(files, name, s))
		return kiln_error_set(err, KILN_EPARSE,
				      "%s: source is not valid UTF-8", name);
	return 0;
}

static int render_c_objects(const kiln_job *job, json_t *files,
			    json_t *runs, json_t *compile, kiln_error *err)
{
	const char *sol = job->solution ? job->solution : "";
	char name[32];
	int rc;

	if (has_line_directive(sol))   /* the original fails: none is equal */
		sol = "#error \"kiln: #line in a C solution\"\n";
	if ((rc = c_unit(files, "o.c", sol, err)))
		return rc;
	for (size_t i = 0; i < job->ntests; i++) {
		snprintf(name, sizeof(name), "m%zu.c", i);
		if ((rc = c_unit(files, name, job->tests[i], err)))
			return rc;
	}
	if (json_object_set_new(files, "objects.sh",
				json_string(c_objects_sh)) ||
	    json_object_set_new(files, "same.sh", json_string(c_same_sh)) ||
	    json_array_append_new(compile, json_string("/bin/sh")) ||
	    json_array_append_new(compile, json_string("/tmp/w/objects.sh")))
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	for (size_t i = 0; i < job->ntests; i++) {
		char arg[32];
		snprintf(arg, sizeof(arg), "%zu", i);
		if (json_array_append_new(runs, json_pack("[sss]", "/bin/sh",
					  "/tmp/w/same.sh", arg)))
			return kiln_error_set(err, KILN_ENOMEM,
					      "out of memory");
	}
	return 0;
}

/* Whether s is a C identifier (an entry point fit for awk -v). */
static int c_ident(const char *s)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return 0;
	for (; *s; s++)
		if (!(*s == '_' || (*s >= '0' && *s <= '9') ||
		      ((*s | 32) >= 'a' && (*s | 32) <= 'z')))
			return 0;
	return 1;
}

static int render_c(const struct lang *l, const kiln_job *job,
		    const kiln_limits *lim, json_t *files, json_t *runs,
		    json_t *compile, kiln_error *err)
{
	if (job->objects) {
		if (strcmp(l->name, "c") || job->program || job->expect)
			return kiln_error_set(err, KILN_EINVAL, "object files "
					      "are compared for C variants "
					      "only");
		(void)lim;
		return render_c_objects(job, files, runs, compile, err);
	}
	int cpp = strcmp(l->name, "cpp") == 0, eprobe = 0;
	const char *ext = cpp ? "cpp" : "c";
	const char *xc = cpp ? "extern \"C\" " : "";

	(void)lim;
	enum { SOL, TESTS, RT, NSTREAM };
	static const char prefix[NSTREAM] = { 0, 't', 'k' };
	FILE *fs[NSTREAM];
	char *bufs[NSTREAM];
	size_t lens[NSTREAM];
	char id[17], name[32];
	int rc;

	if (cpp && job->expect)
		return kiln_error_set(err, KILN_EINVAL, "I/O tests (expect) are"
				      " judged for python and c only; give"
				      " cpp code tests or a test program");
	rc = c_build_id(id, err);
	if (rc)
		return rc;
	rc = open_streams(fs, bufs, lens, NSTREAM, err);
	if (rc)
		return rc;
	if (job->solution && (has_line_directive(job->solution) ||
			      has_marker_line(job->solution)))
		fprintf(fs[SOL], "#error \"kiln: #line and line markers are not"
			" accepted in a C solution (they can pass its code off"
			" as a system header's)\"\n");
	else
		fprintf(fs[SOL], "%s#line 1 \"solution\"\n%s\n", c_prelude,
			job->solution ? job->solution : "");
	c_tests_head(fs[TESTS], job, id, cpp);
	/* A C++ test program keeps its own main (flowing off its end
	 * returns 0 only there): the token's cleanup at the top of its body
	 * writes the record itself, and the runtime's main is renamed away.
	 * The unit is built with -fno-exceptions, so no cleanup runs while
	 * an exception unwinds (a terminate handler could exit 0 after it). */
	fprintf(fs[RT], "#define KILN_SYM(n) kiln_%s_##n\n%s%s", id,
		cpp && job->program ? "#define KILN_END_RECORD 1\n"
		"#define main KILN_SYM(rt_main)\n" : "", c_runtime);
	if (cpp && job->program) {
		fprintf(fs[TESTS], "extern \"C\" unsigned long long"
			" KILN_SYM(tok);\n#line 1 \"test program\"\n%s\n",
			job->ntests ? job->tests[0] : "");
		fputs("\t(void)i;\n\t(void)t;\n\treturn 2;\n}\n", fs[RT]);
	} else if (job->program) {
		/* The program's main becomes user_main; join.awk makes its
		 * body start with the token's declaration, as a test
		 * function's does, and run leaves the token there. */
		fprintf(fs[TESTS], "static unsigned long long KILN_SYM(tok);\n"
			"#define main KILN_SYM(user_main)\n"
			"#line 1 \"test program\"\n%s\n#undef main\n"
			"%s"
			"%sint KILN_SYM(run)(int argc, char **argv,"
			" unsigned long long kiln_t_)\n{\n"
			"\tKILN_SYM(tok) = kiln_t_;\n"
			"\t/* main may be int main(void): call it through a\n"
			"\t * pointer the compiler cannot see through (no warning\n"
			"\t * in every verdict's stderr) */\n"
			"\tint (*volatile m)(int, char **) = (int (*)(int, char **))"
			"(void (*)(void))KILN_SYM(user_main);\n"
			"\treturn m(argc, argv);\n}\n",
			job->ntests ? job->tests[0] : "",
			/* C++: main() is already declared by its definition
			 * (a redeclaration could be another overload) */
			cpp ? "" : "int KILN_SYM(user_main)();\n", xc);
		fputs("\tint KILN_SYM(run)(int, char **, unsigned long long);\n"
		      "\tint rc;\n"
		      "\t(void)i;\n"
		      "\trc = KILN_SYM(run)(argc, argv, t);\n"
		      "\treturn rc ? rc : rt_finish(t);\n}\n", fs[RT]);
	} else {
		for (size_t i = 0; i < job->ntests; i++) {
			int io = job->expect && job->expect[i];
			fprintf(fs[TESTS], "%svoid KILN_SYM(test_%zu)"
				"(unsigned long long kiln_t_)\n{\n"
				"\tunsigned long long kiln_c_"
				" __attribute__((cleanup(KILN_SYM(end))))"
				" = kiln_t_;\n"
				"#line 1 \"test %zu\"\n%s%s%s\n}\n",
				xc, i, i, io ? "KILN_OUT((" : "", job->tests[i],
				io ? "));" : "");
			fprintf(fs[RT], "\tvoid KILN_SYM(test_%zu)"
				"(unsigned long long);\n", i);
		}
		fputs("\tswitch (i) {\n", fs[RT]);
		for (size_t i = 0; i < job->ntests; i++)
			fprintf(fs[RT], "\tcase %zu: KILN_SYM(test_%zu)(t); "
				"break;\n", i, i);
		fputs("\tdefault: return 2;\n\t}\n"
		      "\treturn rt_finish(t);\n}\n", fs[RT]);
	}
	/* C++: the entry point's type, for fns.awk (the probe's name in
	 * the cfg dump spells it): one function, not an overload set, a
	 * template or an object, that returns a plain value. &::F, not &F:
	 * a name the tests' using namespace std also finds (unique) stays
	 * the solution's. One named like a C library function is an
	 * overload set with it (strlen(string)): build.sh's second build
	 * picks the function the tests call by its parameters instead, as
	 * it does a member function entry point (s.twoSum(...)). */
	eprobe = cpp && c_ident(job->entry_point) &&
		 !libc_has(job->entry_point) &&
		 called_free(job, job->entry_point);
	if (eprobe)
		fprintf(fs[TESTS], "#line 1 \"kiln entry point check: one"
			" function, not overloaded, not a template\"\n"
			"template void KILN_SYM(probe)<decltype(&::%s),"
			" &::%s>();\n", job->entry_point, job->entry_point);
	for (int k = 0; k < NSTREAM; k++) {
		if (prefix[k])
			snprintf(name, sizeof(name), "%c%s.%s", prefix[k], id,
				 k == RT ? "c" : ext);
		else
			snprintf(name, sizeof(name), "sol.%s", ext);
		if (rc == 0)
			rc = finish_file(fs[k], &bufs[k], files, name, err);
		else {
			fclose(fs[k]);
			free(bufs[k]);
		}
	}
	if (rc)
		return rc;
	pthread_once(&libc_once, libc_read);
	if ((libc_names && json_object_set_new(files, "libc.txt",
					       json_string(libc_names))) ||
	    json_object_set_new(files, "syms.awk", json_string(c_syms_awk)) ||
	    json_object_set_new(files, "join.awk", json_string(c_join_awk)) ||
	    json_object_set_new(files, "build.sh",
				json_string(cpp ? cpp_build_sh : c_build_sh)) ||
	    json_array_append_new(compile, json_string("/bin/sh")) ||
	    json_array_append_new(compile, json_string("/tmp/w/build.sh")) ||
	    json_array_append_new(compile, json_string(id)) ||
	    (cpp && json_array_append_new(compile, json_string(
					   job->program ? "main" : ""))) ||
	    (cpp && json_array_append_new(compile, json_string(
					   c_ident(job->entry_point) ?
					   job->entry_point : ""))) ||
	    (cpp && json_array_append_new(compile, json_string(
					   eprobe ? "1" : "0"))) ||
	    (cpp && json_array_append_new(compile, json_string(
					   may_define(job->solution) ?
					   "1" : "0"))) ||
	    (cpp && json_object_set_new(files, "fns.awk",
					json_string(cpp_fns_awk))) ||
	    (cpp && json_object_set_new(files, "probe.awk",
					json_string(cpp_probe_awk))))
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	for (size_t i = 0; i < (job->program ? 1 : job->ntests); i++) {
		char arg[32];
		snprintf(arg, sizeof(arg), "%zu", i);
		json_array_append_new(runs, json_pack("[ss]", "/tmp/w/prog", arg));
	}
	return 0;
}

/* kiln's JavaScript runtime (node): the entry point of every run. It
 * takes the nonce out of the environment, puts a frozen copy of console
 * whose assert ends the process with status 1 (node's only prints) in
 * console's place, and makes
 * every property of the global object non-writable and non-configurable
 * (so no `console = ...`, no top-level `let console` in a later script:
 * a lexical declaration of a non-configurable global is a SyntaxError),
 * with the intrinsics frozen by node --frozen-intrinsics (no
 * JSON.stringify or Array.prototype.map replaced for the tests). The
 * modules tests check with (assert, assert/strict, util, util/types) are
 * loaded and deep-frozen before the solution runs, and the scripts'
 * require hands out these objects for those names without node's
 * (writable) loader. Then it runs the solution, the set-up and the test
 * as scripts. The test is
 * finished when its script returned and, when the script's value is a
 * promise (an asynchronous test: `(async () => { ... })()`), that promise
 * fulfilled; the record is written only then and once the event loop has
 * nothing left to run (beforeExit with no timer pending: one the
 * solution emits while its timer is pending is ignored), so an assert in a callback or an
 * unhandled rejection still counts. process.exit in the solution, an
 * exception, a rejected or never-settled test promise: no record. */
static const char js_runtime[] =
	"'use strict';\n"
	"// kiln's JavaScript runtime (src/sandbox/lang.c)\n"
	"const fs = require('fs'), vm = require('vm');\n"
	"const env = process.env, nonce = String(env.KILN_NONCE || '');\n"
	"delete env.KILN_NONCE;\n"
	"const writeSync = fs.writeSync, readFileSync = fs.readFileSync;\n"
	"const exit = typeof process.reallyExit === 'function' ?\n"
	"  process.reallyExit.bind(process) : process.exit.bind(process);\n"
	"// what the run is and how scripts run, taken before the solution can\n"
	"// change them (process.argv and the vm module are writable)\n"
	"const which = process.argv[2], withSetup = process.argv[3] === 'setup';\n"
	"const runScript = vm.runInThisContext;\n"
	"const say = (s) => { try { writeSync(2, s + '\\n'); } catch (e) {} };\n"
	"const con = {};\n"
	"for (const k of Object.keys(console)) con[k] = console[k];\n"
	"con.assert = (ok, ...m) => {\n"
	"  if (ok) return;\n"
	"  say('Assertion failed' + (typeof m[0] === 'string' ? ': ' + m[0] : ''));\n"
	"  exit(1);\n"
	"};\n"
	"Object.defineProperty(globalThis, 'console', { value: Object.freeze(con),\n"
	"  writable: false, configurable: false });\n"
	"// the modules tests check with are loaded and deep-frozen now, and\n"
	"// the scripts' require hands out these objects without node's loader\n"
	"// (Module._load and Module.prototype.require are writable)\n"
	"// (--frozen-intrinsics froze the intrinsics' graph: a frozen object is\n"
	"// a leaf here)\n"
	"const guarded = new Map(), base = require, seen = new WeakSet();\n"
	"const freezeDeep = (root) => {\n"
	"  const todo = [root];\n"
	"  for (const k of Reflect.ownKeys(root))  // lazy exports become values\n"
	"    try { void root[k]; } catch (e) {}\n"
	"  while (todo.length) {\n"
	"    const o = todo.pop();\n"
	"    if (o === null || (typeof o !== 'object' && typeof o !== 'function')\n"
	"        || seen.has(o) || Object.isFrozen(o)) continue;\n"
	"    seen.add(o);\n"
	"    for (const k of Reflect.ownKeys(o)) {\n"
	"      const d = Reflect.getOwnPropertyDescriptor(o, k);\n"
	"      if (d && 'value' in d) todo.push(d.value);\n"
	"      else if (d) todo.push(d.get, d.set);\n"
	"    }\n"
	"    todo.push(Reflect.getPrototypeOf(o));\n"
	"    try { Object.freeze(o); } catch (e) {}\n"
	"    if (!Object.isFrozen(o) && !ArrayBuffer.isView(o))\n"
	"      throw new Error('kiln: cannot freeze a module of the tests');\n"
	"  }\n"
	"};\n"
	"// node's assert throws, and code can catch a throw: the solution's\n"
	"// try around a test's callback, or its uncaughtException handler,\n"
	"// swallowed a failed assertion (hostile 9419). The tests get assert\n"
	"// functions that end the run at once when an assertion fails.\n"
	"let onFail = null;\n"
	"const wrappedAsserts = new Map(), thenOf = Promise.prototype.then;\n"
	"const fnText = Function.prototype.toString;\n"
	"const isClass = (f) => {\n"
	"  try { return /^class\\b/.test(Reflect.apply(fnText, f, [])); }\n"
	"  catch (e) { return false; }\n"
	"};\n"
	"const asserted = (e) => { if (e && e.code === 'ERR_ASSERTION') onFail(e); };\n"
	"const guard = (f, self) => function (...a) {\n"
	"  let r;\n"
	"  try { r = Reflect.apply(f, self, a); } catch (e) { asserted(e); throw e; }\n"
	"  if (r instanceof Promise) Reflect.apply(thenOf, r, [undefined, asserted]);\n"
	"  return r;\n"
	"};\n"
	"const wrapAssert = (m) => {\n"
	"  if (wrappedAsserts.has(m)) return wrappedAsserts.get(m);\n"
	"  const w = guard(m, undefined);\n"
	"  wrappedAsserts.set(m, w);\n"
	"  for (const k of Reflect.ownKeys(m)) {\n"
	"    if (k === 'length' || k === 'name' || k === 'prototype') continue;\n"
	"    const v = m[k];\n"
	"    const x = typeof v !== 'function' || isClass(v) ? v :\n"
	"      k === 'strict' ? wrapAssert(v) : guard(v, m);\n"
	"    Object.defineProperty(w, k, { value: x, enumerable: true });\n"
	"  }\n"
	"  return Object.freeze(w);\n"
	"};\n"
	"for (const n of ['assert', 'assert/strict', 'util', 'util/types']) {\n"
	"  let m = base(n);\n"
	"  freezeDeep(m);\n"
	"  if (n.startsWith('assert')) m = wrapAssert(m);\n"
	"  guarded.set(n, m);\n"
	"  guarded.set('node:' + n, m);\n"
	"}\n"
	"const get = Map.prototype.get, has = Map.prototype.has;\n"
	"const req = function require(id) {\n"
	"  return has.call(guarded, id) ? get.call(guarded, id) : base(id);\n"
	"};\n"
	"for (const k of ['resolve', 'main', 'extensions', 'cache'])\n"
	"  req[k] = base[k];\n"
	"Object.freeze(req);\n"
	"globalThis.require = req;\n"
	"for (const k of Reflect.ownKeys(globalThis)) {\n"
	"  const d = Object.getOwnPropertyDescriptor(globalThis, k);\n"
	"  if (!d || !d.configurable) continue;\n"
	"  try {\n"
	"    Object.defineProperty(globalThis, k, 'value' in d ?\n"
	"      { writable: false, configurable: false } : { configurable: false });\n"
	"  } catch (e) {}\n"
	"}\n"
	"const run = (f) => runScript(readFileSync('/tmp/w/' + f, 'utf8'),\n"
	"  { filename: f });\n"
	"const failed = (e) => {\n"
	"  let code = 3, text = 'uncaught exception';\n"
	"  try {\n"
	"    if (e && e.code === 'ERR_ASSERTION') code = 1;\n"
	"    text = String(e && e.stack || e);\n"
	"  } catch (e2) {}\n"
	"  say(text);\n"
	"  exit(code);\n"
	"};\n"
	"onFail = failed;\n"
	"const then = Promise.prototype.then;\n"
	"const active = process.getActiveResourcesInfo;\n"
	"let finished = false;\n"
	"process.on('beforeExit', () => {\n"
	"  // emitted by the solution while a timer is pending: not the end\n"
	"  for (const r of active.call(process))\n"
	"    if (r === 'Timeout' || r === 'Immediate') return;\n"
	"  if (!finished) {\n"
	"    say('the test did not finish: its promise never settled');\n"
	"    exit(3);\n"
	"  }\n"
	"  writeSync(3, nonce + '\\tD\\n');\n"
	"  exit(0);\n"
	"});\n"
	"try {\n"
	"  run('sol.js');\n"
	"  if (withSetup) run('setup.js');\n"
	"  const r = run('t' + which + '.js');\n"
	"  if (r instanceof Promise)\n"
	"    then.call(r, () => { finished = true; }, failed);\n"
	"  else\n"
	"    finished = true;\n"
	"} catch (e) {\n"
	"  failed(e);\n"
	"}\n";

/* node's permission model, where /usr/bin/node has one (node 20 on):
 * with it a script may read and write /tmp only (the box's), and may not
 * open the inspector
 * (an in-process inspector session read kiln.js's nonce out of its
 * closure: hostile 9439), start a worker (whose inspector can connect to
 * the main thread), a child process or a native addon. Node 18 (Debian
 * 12's) has none: there that finding stays open (docs/SANDBOX.md). */
static pthread_once_t node_once = PTHREAD_ONCE_INIT;
static const char *node_permission = "";

static void node_probe(void)
{
	FILE *p = popen("/usr/bin/node --version 2>/dev/null", "r");
	int major = 0;

	if (!p)
		return;
	if (fscanf(p, "v%d", &major) != 1)
		major = 0;
	pclose(p);
	if (major >= 23)
		node_permission = "--permission";
	else if (major >= 20)
		node_permission = "--experimental-permission";
}

/* JavaScript (node): sol.js, t<i>.js (a test program is t0.js), kiln.js.
 * No compile step; each test runs node on kiln.js, from the files the
 * harness puts back before every test ("interp"). */
static int render_js(const struct lang *l, const kiln_job *job,
		     const kiln_limits *lim, json_t *files, json_t *runs,
		     json_t *compile, kiln_error *err)
{
	size_t n = job->program ? 1 : job->ntests;
	int setup = job->setup && *job->setup;
	char heap[64];

	(void)l;
	(void)compile;
	pthread_once(&node_once, node_probe);
	if (json_object_set_new(files, "kiln.js", json_string(js_runtime)))
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	if (json_object_set_new(files, "sol.js", json_string(
				job->solution ? job->solution : "")))
		return kiln_error_set(err, KILN_EPARSE,
				      "solution is not valid UTF-8");
	if (setup && json_object_set_new(files, "setup.js",
					 json_string(job->setup)))
		return kiln_error_set(err, KILN_EPARSE,
				      "set-up is not valid UTF-8");
	/* V8's heap bounded by --memory (its reservations are not) */
	snprintf(heap, sizeof(heap), "--max-old-space-size=%lld",
		 lim->memory > 0 ? (lim->memory >> 20) : 1LL << 20);
	for (size_t i = 0; i < n; i++) {
		char name[32], arg[32];
		snprintf(name, sizeof(name), "t%zu.js", i);
		snprintf(arg, sizeof(arg), "%zu", i);
		if (json_object_set_new(files, name, json_string(
				i < job->ntests ? job->tests[i] : "")))
			return kiln_error_set(err, KILN_EPARSE,
					      "test is not valid UTF-8");
		json_t *run = *node_permission ?
			json_pack("[ssssssssss]", "/usr/bin/node",
				  node_permission, "--allow-fs-read=/tmp/*",
				  "--allow-fs-write=/tmp/*",
				  "--frozen-intrinsics", "--no-warnings", heap,
				  "/tmp/w/kiln.js", arg, setup ? "setup" : "-") :
			json_pack("[sssssss]", "/usr/bin/node",
				  "--frozen-intrinsics", "--no-warnings", heap,
				  "/tmp/w/kiln.js", arg, setup ? "setup" : "-");

		if (json_array_append_new(runs, run))
			return kiln_error_set(err, KILN_ENOMEM,
					      "out of memory");
	}
	return 0;
}

/* The real path of a toolchain's program (the box binds /usr but not
 * every /etc/alternatives target), or the name itself. */
static void tool_path(const char *tool, char *buf, size_t n)
{
	char *r = realpath(tool, NULL);

	snprintf(buf, n, "%s", r ? r : tool);
	free(r);
}

/* Go, Rust, OCaml: a fresh random ID names the runtime's symbols. */
static int render_id(const struct lang *l, const kiln_job *job,
		     const kiln_limits *lim, json_t *files, json_t *runs,
		     json_t *compile, kiln_error *err)
{
	static const struct {
		const char *name;
		int (*render)(const kiln_job *, const char *, json_t *,
			      json_t *, json_t *, kiln_error *);
	} by[] = {
		{ "go", kiln__render_go },
		{ "rust", kiln__render_rust },
		{ "ocaml", kiln__render_ocaml },
	};
	char id[17];
	int rc = c_build_id(id, err);

	(void)lim;
	for (size_t i = 0; rc == 0 && i < sizeof(by) / sizeof(by[0]); i++)
		if (strcmp(by[i].name, l->name) == 0)
			return by[i].render(job, id, files, runs, compile, err);
	return rc ? rc : kiln_error_set(err, KILN_EINVAL, "no render for %s",
					l->name);
}

static int render_java(const struct lang *l, const kiln_job *job,
		       const kiln_limits *lim, json_t *files, json_t *runs,
		       json_t *compile, kiln_error *err)
{
	char id[17], java[4096], javac[4096];
	int rc = c_build_id(id, err);

	tool_path(l->tool, java, sizeof(java));
	tool_path("/usr/lib/jvm/default-java/bin/javac", javac,
		  sizeof(javac));
	return rc ? rc : kiln__render_java(job, lim, id, java, javac, files,
					   runs, compile, err);
}


/* Lua, Tcl, Racket: a runtime of kiln's run by the toolchain's program
 * (its real path) */
static int render_interp(const struct lang *l, const kiln_job *job,
			 const kiln_limits *lim, json_t *files, json_t *runs,
			 json_t *compile, kiln_error *err)
{
	char tool[4096];

	(void)lim;
	tool_path(l->tool, tool, sizeof(tool));
	return kiln__render_script(job, l->name, tool, files, runs, compile,
				   err);
}


/* Go: GOPATH mode (kiln's assert package in /tmp/w/gopath), the build
 * cache inside the box, no cgo (no C compiler run), GOROOT named (the go
 * command finds it through /proc/self/exe otherwise). */
static const char *const go_env[] = {
	"GO111MODULE=off", "GOPATH=/tmp/w/gopath", "GOCACHE=/tmp/gocache",
	"GOROOT=/usr/lib/go", "CGO_ENABLED=0", "GOFLAGS=", "GOENV=off",
	"GOTOOLCHAIN=local", "GOMAXPROCS=2", "GOTRACEBACK=none", NULL
};

/* Java: the JDK's binaries find libjli.so through $ORIGIN, which the
 * dynamic linker reads from /proc (not in the box). */
static const char *const java_env[] = {
	"LD_LIBRARY_PATH=/usr/lib/jvm/default-java/lib", NULL
};

/* Rust: a panic's message without a backtrace (which only fills the
 * stderr tail) */
static const char *const rust_env[] = { "RUST_BACKTRACE=0", NULL };

/* Racket: kiln's rackunit (collects/rackunit, made by the build) before
 * the installation's collections */
static const char *const racket_env[] = {
	"PLTCOLLECTS=/tmp/w/collects:", NULL
};

static const struct lang langs[] = {
	{ "python", LANG_INPROC, NULL, 0, 0, 0, 0, NULL, "/usr/bin/python3",
	  "--version", NULL, NULL,
	  "def add(a, b):\n    return a + b\n",
	  "assert add(2, 3) == 5" },
	{ "c", LANG_EXEC, render_c, 0, 0, 0, 0, NULL, "/usr/bin/cc",
	  "--version", NULL, NULL,
	  "int add(int a, int b) { return a + b; }",
	  "assert(add(2, 3) == 5);" },
	/* new's std::bad_alloc ends in std::terminate (built without
	 * exceptions): abort, which alone would read as a failed assert */
	{ "cpp", LANG_EXEC, render_c, 0, 0, 0, 0, "std::bad_alloc",
	  "/usr/bin/g++", "--version", NULL, NULL,
	  "int add(int a, int b) { return a + b; }",
	  "assert(add(2, 3) == 5);" },
	{ "js", LANG_EXEC, render_js, 2LL << 30, 0, LF_INTERP, 3,
	  "JavaScript heap out of memory", "/usr/bin/node", "--version", NULL,
	  NULL,
	  "function add(a, b) { return a + b; }",
	  "console.assert(add(2, 3) === 5);" },
	/* go test's binary: panic exits 2; the runtime's arenas want some
	 * 800 MiB of address space before the heap grows */
	{ "go", LANG_EXEC, render_id, 1LL << 30, 1LL << 30, LF_NONCE_STDIN, 2,
	  "runtime: out of memory", "/usr/bin/go", "version", NULL, go_env,
	  "func Add(a, b int) int { return a + b }",
	  "if Add(2, 3) != 5 { t.Fatal(\"Add\") }" },
	/* the JVM reserves its class space, code cache and thread stacks
	 * beyond the heap (-Xmx = --memory); javac is a JVM too */
	{ "java", LANG_EXEC, render_java, 2LL << 30, 2LL << 30,
	  LF_INTERP | LF_NONCE_STDIN | LF_PROOF_STDOUT, 3,
	  "java.lang.OutOfMemoryError", "/usr/lib/jvm/default-java/bin/java",
	  "-version", NULL, java_env,
	  "class Solution { static int add(int a, int b) { return a + b; } }",
	  "assert Solution.add(2, 3) == 5;" },
	/* libtest: a panic (assert!, or any other) exits 101, a failed
	 * test; the heap is bounded by --memory itself */
	{ "rust", LANG_EXEC, render_id, 0, 0, LF_NONCE_STDIN, 0,
	  "memory allocation of", "/usr/bin/rustc", "--version", NULL, rust_env,
	  "fn add(a: i32, b: i32) -> i32 { a + b }",
	  "assert_eq!(add(2, 3), 5);" },
	{ "lua", LANG_EXEC, render_interp, 0, 0,
	  LF_INTERP | LF_NONCE_STDIN | LF_PROOF_STDOUT, 3,
	  "not enough memory", "/usr/bin/lua5.4", "-v", NULL, NULL,
	  "function add(a, b) return a + b end",
	  "assert(add(2, 3) == 5)" },
	/* ocamlopt to native code; Out_of_memory is raised, or the runtime
	 * says so */
	{ "ocaml", LANG_EXEC, render_id, 0, 0,
	  LF_NONCE_STDIN | LF_PROOF_STDOUT, 3, "Out of memory",
	  "/usr/bin/ocamlopt", "-version", NULL, NULL,
	  "let add a b = a + b",
	  "assert (add 2 3 = 5)" },
	/* a failed assert (or tcltest test) exits 1, any other error 3;
	 * Tcl panics when an allocation fails, or raises an error */
	{ "tcl", LANG_EXEC, render_interp, 0, 0,
	  LF_INTERP | LF_NONCE_STDIN | LF_PROOF_STDOUT, 3,
	  "unable to alloc\nunable to realloc\nout of memory allocating",
	  "/usr/bin/tclsh8.6", NULL, "puts \"Tcl [info patchlevel]\"\n",
	  NULL, "proc add {a b} { return [expr {$a + $b}] }",
	  "assert {[add 2 3] == 5}" },
	/* racket kiln.rkt (Racket CS): a failed check exits 1, any other
	 * exception 3; when memory runs out Chez Scheme says so and aborts */
	{ "racket", LANG_EXEC, render_interp, 0, 0,
	  LF_INTERP | LF_NONCE_STDIN | LF_PROOF_STDOUT, 3, "out of memory",
	  "/usr/bin/racket", "--version", NULL, racket_env,
	  "#lang racket\n(define (add a b) (+ a b))\n",
	  "(check-equal? (add 2 3) 5)" },
};

/* name is any of a language's names, in any case (kiln_lang_canonical,
 * the one table of names that extraction uses too). */
static const struct lang *find(const char *name)
{
	if (!name || !*name)
		name = "python";
	name = kiln_lang_canonical(name);
	for (size_t i = 0; name && i < sizeof(langs) / sizeof(langs[0]); i++)
		if (strcmp(langs[i].name, name) == 0)
			return &langs[i];
	return NULL;
}

int kiln_lang_known(const char *name) { return find(name) != NULL; }

static pthread_once_t list_once = PTHREAD_ONCE_INIT;
static char lang_list[256];

static void list_make(void)
{
	size_t n = 0;

	for (size_t i = 0; i < sizeof(langs) / sizeof(langs[0]); i++)
		n += (size_t)snprintf(lang_list + n, sizeof(lang_list) - n,
				      "%s%s", i ? ", " : "", langs[i].name);
}

/* "python, c, cpp, ...": the table's names, in its order. */
const char *kiln_lang_list(void)
{
	pthread_once(&list_once, list_make);
	return lang_list;
}

/* The expected values of a job's I/O tests (null for a code test), or
 * NULL (out of memory, or not UTF-8). */
static json_t *expect_json(const char *const *expect, size_t n)
{
	json_t *ex = json_array();

	for (size_t i = 0; ex && i < n; i++)
		json_array_append_new(ex, expect[i] ? json_string(expect[i])
						    : json_null());
	if (ex && json_array_size(ex) != n) {
		json_decref(ex);
		ex = NULL;
	}
	return ex;
}

static json_t *limits_json(long timeout_ms, long cpu_ms, long long memory,
			   long long output)
{
	return json_pack("{sI sI sI sI}", "timeout_ms", (json_int_t)timeout_ms,
			 "cpu_ms", (json_int_t)cpu_ms, "memory",
			 (json_int_t)memory, "output", (json_int_t)output);
}

int kiln__lang_request(const kiln_job *job, const kiln_limits *lim, int cold,
		       json_t **out, kiln_error *err)
{
	const struct lang *l = find(job->language);
	long timeout = job->timeout_ms > 0 ? job->timeout_ms : lim->timeout_ms;
	size_t ntests = job->program ? (job->ntests ? 1 : 0) : job->ntests;
	long cpu = lim->cpu_ms > 0 ? lim->cpu_ms
				   : (long)(ntests + 1) * timeout;
	json_t *req = NULL;
	int rc = KILN_ENOMEM;

	*out = NULL;
	if (!l)
		return kiln_error_set(err, KILN_EINVAL,
				      "unknown language '%s' (known: %s)",
				      job->language, kiln_lang_list());
	if (job->objects && l->render != render_c)
		return kiln_error_set(err, KILN_EINVAL, "object files are "
				      "compared for C variants only");
	req = json_object();
	if (!req)
		goto oom;
	json_object_set_new(req, "limits",
			    limits_json(timeout, cpu, lim->memory > 0 ?
					lim->memory + l->as_extra : 0,
					lim->output));
	if (l->kind == LANG_INPROC) {
		json_t *tests = json_array();
		if (!tests)
			goto oom;
		for (size_t i = 0; i < ntests; i++)
			json_array_append_new(tests, json_string(job->tests[i]));
		if (json_array_size(tests) != ntests) {
			json_decref(tests);
			rc = kiln_error_set(err, KILN_EPARSE,
					    "test is not valid UTF-8");
			goto fail;
		}
		json_object_set_new(req, "mode", json_string("inproc"));
		json_object_set_new(req, "cold", json_boolean(cold));
		json_object_set_new(req, "setup",
				    json_string(job->setup ? job->setup : ""));
		json_object_set_new(req, "solution",
				    json_string(job->solution ? job->solution
							      : ""));
		json_object_set_new(req, "tests", tests);
	} else {
		json_t *files = json_object(), *runs = json_array();
		json_t *compile = json_array();
		json_object_set_new(req, "mode", json_string("exec"));
		json_object_set_new(req, "files", files);
		json_object_set_new(req, "runs", runs);
		if (!files || !runs || !compile) {
			json_decref(compile);
			goto oom;
		}
		if (job->expect && l->render != render_c)
			rc = kiln_error_set(err, KILN_EINVAL, "I/O tests "
					    "(expect) are judged for python "
					    "and c only; give %s code tests "
					    "or a test program", l->name);
		else
			rc = l->render(l, job, lim, files, runs, compile, err);
		if (rc == 0) {
			/* INTERP: the interpreter and the files it runs, put
			 * back before every test */
			if ((l->flags & LF_INTERP) || job->objects)
				json_object_set_new(req, "interp", json_true());
			if (l->flags & LF_NONCE_STDIN)
				json_object_set_new(req, "nonce_stdin",
						    json_true());
			if (l->flags & LF_PROOF_STDOUT)
				json_object_set_new(req, "proof",
						    json_string("stdout"));
			if (l->error_exit)
				json_object_set_new(req, "error_exit",
					json_integer(l->error_exit));
			if (l->oom_text)
				json_object_set_new(req, "oom_text",
					json_string(l->oom_text));
		}
		if (rc) {
			json_decref(compile);
			goto fail;
		}
		if (json_array_size(compile) == 0) {
			json_decref(compile);
		} else {
			json_object_set_new(req, "compile", compile);
			json_object_set_new(req, "compile_limits",
				limits_json(lim->compile_ms, lim->compile_ms,
					    lim->compile_memory > 0 ?
					    lim->compile_memory +
					    l->compile_as_extra : 0,
					    lim->output));
		}
		json_t *env = json_pack("{ss ss ss ss}", "PATH",
					"/usr/bin:/bin", "LANG", "C.UTF-8",
					"HOME", "/tmp", "TMPDIR", "/tmp");
		for (size_t i = 0; env && l->env && l->env[i]; i++) {
			const char *eq = strchr(l->env[i], '=');
			char key[64];
			snprintf(key, sizeof(key), "%.*s",
				 (int)(eq - l->env[i]), l->env[i]);
			json_object_set_new(env, key, json_string(eq + 1));
		}
		json_object_set_new(req, "env", env);
	}
	/* I/O tests: Python's go to the judge with the tests (box.c puts
	 * them in part B); a C program's stay with the harness, the program
	 * only prints what it computed. */
	if (job->expect && !job->program) {
		json_t *ex = expect_json(job->expect, job->ntests);
		if (!ex) {
			rc = kiln_error_set(err, KILN_EPARSE,
					    "I/O test is not valid UTF-8");
			goto fail;
		}
		json_object_set_new(req, "expect", ex);
	}
	if (job->atol > 0)
		json_object_set_new(req, "atol", json_real(job->atol));
	if (job->entry_point && l->kind == LANG_INPROC)
		json_object_set_new(req, "entry", json_string(job->entry_point));
	*out = req;
	return 0;
oom:
	rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
fail:
	json_decref(req);
	return rc;
}

size_t kiln_lang_count(void) { return sizeof(langs) / sizeof(langs[0]); }

const char *kiln_lang_name(size_t i)
{
	return i < kiln_lang_count() ? langs[i].name : NULL;
}

int kiln_lang_probe(const char *name, const char **solution,
		    const char **test)
{
	const struct lang *l = find(name);

	if (!l)
		return KILN_EINVAL;
	*solution = l->probe_solution;
	*test = l->probe_test;
	return 0;
}

/* The toolchain's version: the first non-blank line its version option
 * prints (stdout or stderr), run outside the box: it is the installed
 * toolchain, no candidate's code. */
int kiln_lang_version(const char *name, char *buf, size_t n, kiln_error *err)
{
	const struct lang *l = find(name);
	char tool[4096], out[4096];
	int fds[2], in[2] = { -1, -1 }, status;
	size_t len = 0;
	pid_t pid;

	if (n)
		buf[0] = 0;
	if (!l)
		return kiln_error_set(err, KILN_EINVAL, "unknown language '%s' "
				      "(known: %s)", name, kiln_lang_list());
	tool_path(l->tool, tool, sizeof(tool));
	if (access(tool, X_OK) != 0)
		return kiln_error_set(err, KILN_EIO, "%s: not installed "
				      "(scripts/install-deps.sh)", l->tool);
	if (pipe(fds) != 0 || (l->version_stdin && pipe(in) != 0))
		return kiln_error_set(err, KILN_EIO, "pipe: %s",
				      strerror(errno));
	if (l->version_stdin) {   /* a line: the pipe holds it */
		if (write(in[1], l->version_stdin,
			  strlen(l->version_stdin)) < 0) {
			close(in[0]);
			in[0] = -1;
		}
		close(in[1]);
	}
	pid = fork();
	if (pid == 0) {
		char *argv[] = { tool, (char *)l->version_arg, NULL };
		if (in[0] >= 0)
			dup2(in[0], 0);
		else
			close(0);
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		execv(tool, argv);
		_exit(127);
	}
	close(fds[1]);
	for (ssize_t k; pid > 0 && len < sizeof(out) - 1 &&
	     (k = read(fds[0], out + len, sizeof(out) - 1 - len)) != 0;) {
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			break;
		len += (size_t)k;
	}
	out[len] = 0;
	close(fds[0]);
	if (in[0] >= 0)
		close(in[0]);
	if (pid < 0)
		return kiln_error_set(err, KILN_EIO, "fork: %s",
				      strerror(errno));
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	{
		const char *p = out + strspn(out, " \t\r\n");
		snprintf(buf, n, "%.*s", (int)strcspn(p, "\r\n"), p);
	}
	if (!buf[0])
		return kiln_error_set(err, KILN_EIO, "%s %s printed nothing",
				      tool, l->version_arg ? l->version_arg
							   : "(version_stdin)");
	return 0;
}
