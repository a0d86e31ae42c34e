/* The languages whose runtime takes the run's nonce on stdin: Go, Java,
 * Rust, Lua, OCaml, Tcl, Racket (src/sandbox/lang.c's table names them;
 * docs/SANDBOX.md "Languages").
 *
 * Every one of them is built (or, for Lua and Tcl, written; for Racket,
 * checked) once per job and run as one process per test, like C: the
 * harness puts the nonce on the run's stdin, a pipe that holds that one
 * line ("nonce_stdin"), and kiln's runtime reads it before any code of
 * the solution's runs, so the solution reads EOF there, and nothing of it
 * is in the environment (a JVM cannot take a variable out of
 * System.getenv). The runtime writes the completion record ("<nonce>\tD")
 * only after the test body ran to its end: to fd 3 (Go, Rust) or as a
 * line of stdout (the others: "proof": "stdout"; they have no way to
 * write fd 3 without /proc).
 *
 * Each job of Go, Java, Rust and OCaml has a random ID ($ID in the
 * templates below, 16 hex digits), which names the runtime's symbols: the
 * solution cannot name them. Tcl and Racket keep the solution out of the
 * runtime's reach by the language's own means (a safe interpreter, a
 * weaker code inspector). What a solution can still do inside its
 * process is in docs/SANDBOX.md.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox_int.h"

/* Writes tmpl to f with every "$ID" replaced by id. */
static void subst(FILE *f, const char *tmpl, const char *id)
{
	const char *p;

	while ((p = strstr(tmpl, "$ID"))) {
		fwrite(tmpl, 1, (size_t)(p - tmpl), f);
		fputs(id, f);
		tmpl = p + 3;
	}
	fputs(tmpl, f);
}

/* The files a render writes: memstreams that become files[name] (at
 * most OUTS_MAX; out_file() returns NULL when out of memory, and
 * outs_finish() then fails). */
#define OUTS_MAX 6
struct outs {
	FILE *f[OUTS_MAX];
	char *buf[OUTS_MAX];
	size_t len[OUTS_MAX];
	char name[OUTS_MAX][96];   /* as long as any name out_file is given */
	int n, oom;
};

static FILE *out_file(struct outs *o, const char *name)
{
	int i = o->n;

	if (i == OUTS_MAX) {
		o->oom = 1;
		return NULL;
	}
	o->buf[i] = NULL;
	o->f[i] = open_memstream(&o->buf[i], &o->len[i]);
	if (!o->f[i]) {
		o->oom = 1;
		return NULL;
	}
	snprintf(o->name[i], sizeof(o->name[i]), "%s", name);
	o->n++;
	return o->f[i];
}

/* Closes every stream and stores the texts in files; frees all. */
static int outs_finish(struct outs *o, json_t *files, kiln_error *err)
{
	int rc = o->oom ? kiln_error_set(err, KILN_ENOMEM, "out of memory")
			: 0;

	for (int i = 0; i < o->n; i++) {
		json_t *s = NULL;
		if (fclose(o->f[i]) == 0 && o->buf[i] && rc == 0)
			s = json_string(o->buf[i]);   /* NULL if not UTF-8 */
		free(o->buf[i]);
		if (rc == 0 && (!s || json_object_set_new(files, o->name[i],
							   s) != 0))
			rc = kiln_error_set(err, KILN_EPARSE, "%s: source is "
					    "not valid UTF-8", o->name[i]);
	}
	o->n = 0;
	return rc;
}

static int put(json_t *files, const char *name, const char *text,
	       kiln_error *err)
{
	if (json_object_set_new(files, name, json_string(text)) != 0)
		return kiln_error_set(err, KILN_EPARSE,
				      "%s: source is not valid UTF-8", name);
	return 0;
}

static int argv_add(json_t *a, const char *s, kiln_error *err)
{
	if (json_array_append_new(a, json_string(s)) != 0)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	return 0;
}

static int is_ident(int c)
{
	return c == '_' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' &&
						       (c | 32) <= 'z');
}

/* The text with a leading Go package clause blanked (the first line that
 * is not blank or a // comment, if it says "package ..."): kiln writes
 * its own. Returns a copy, or NULL. */
static char *go_unpackage(const char *s)
{
	char *c = strdup(s ? s : "");
	char *p = c;

	while (p && *p) {
		char *e = strchr(p, '\n');
		char *q = p;
		while (*q == ' ' || *q == '\t' || *q == '\r')
			q++;
		if (*q == '\n' || (q[0] == '/' && q[1] == '/')) {
			p = e ? e + 1 : NULL;
			continue;
		}
		if (strncmp(q, "package", 7) == 0 && (q[7] == ' ' ||
						      q[7] == '\t'))
			while (*q && *q != '\n')
				*q++ = ' ';
		break;
	}
	return c;
}

/* ---------------------------------------------------------------- Go */

/* First in file order (0k<ID>.go sorts before sol.go), and it depends on
 * nothing of the solution's: Go initializes this variable before any of
 * the solution's (the spec's declaration order). */
static const char go_grab[] =
	"package main\n\n"
	"// kiln's Go runtime (src/sandbox/lang_rt.c): the run's nonce, the\n"
	"// first line of stdin, read before any of the solution's code runs.\n"
	"import (\n\t\"bufio\"\n\t\"os\"\n)\n\n"
	"var kiln_$ID_nonce = kiln_$ID_grab()\n\n"
	"// the command line (the test to run) as kiln gave it, before any\n"
	"// init() of the solution's can rewrite os.Args (TestMain puts it back)\n"
	"var kiln_$ID_args = append([]string(nil), os.Args...)\n\n"
	"func kiln_$ID_grab() string {\n"
	"\ts, _ := bufio.NewReaderSize(os.Stdin, 128).ReadString('\\n')\n"
	"\tif len(s) > 0 && s[len(s)-1] == '\\n' {\n\t\ts = s[:len(s)-1]\n\t}\n"
	"\treturn s\n}\n";

/* The proof: each test kiln runs is a closure that kiln_<ID>_run calls;
 * it counts only if the closure returned (not a FailNow, SkipNow or
 * runtime.Goexit, which end the goroutine inside it) and the test is
 * neither failed nor skipped. TestMain writes the record when m.Run
 * returned 0 and every selected test counted. */
static const char go_main[] =
	"package main\n\n"
	"import (\n\t\"os\"\n\tkiln_$ID_t \"testing\"\n)\n\n"
	"var kiln_$ID_done int\n\n"
	"func kiln_$ID_run(t *kiln_$ID_t.T, f func()) {\n"
	"\tf()\n"
	"\tif !t.Failed() && !t.Skipped() {\n\t\tkiln_$ID_done++\n\t}\n}\n\n"
	"func TestMain(m *kiln_$ID_t.M) {\n"
	"\tos.Args = append([]string(nil), kiln_$ID_args...)\n"
	"\tcode := m.Run()\n"
	"\tif code == 0 && kiln_$ID_want > 0 && kiln_$ID_done == kiln_$ID_want {\n"
	"\t\tos.NewFile(3, \"proof\").Write([]byte(kiln_$ID_nonce + \"\\tD\\n\"))\n"
	"\t}\n"
	"\tos.Exit(code)\n}\n";

/* kiln's own subset of testify's assert (HumanEval-X's Go tests use
 * assert.New(t).Equal), with testify's ObjectsAreEqual: bytes.Equal for
 * two []byte, else reflect.DeepEqual (so 3 and int64(3) differ). */
static const char go_assert[] =
	"// kiln's subset of github.com/stretchr/testify/assert (MIT):\n"
	"// Equal, NotEqual, True, False, Nil, NotNil with testify's equality.\n"
	"package assert\n\n"
	"import (\n\t\"bytes\"\n\t\"fmt\"\n\t\"reflect\"\n)\n\n"
	"type TestingT interface {\n"
	"\tErrorf(format string, args ...interface{})\n}\n\n"
	"func ObjectsAreEqual(expected, actual interface{}) bool {\n"
	"\tif expected == nil || actual == nil {\n"
	"\t\treturn expected == actual\n\t}\n"
	"\texp, ok := expected.([]byte)\n"
	"\tif !ok {\n\t\treturn reflect.DeepEqual(expected, actual)\n\t}\n"
	"\tact, ok := actual.([]byte)\n"
	"\tif !ok {\n\t\treturn false\n\t}\n"
	"\tif exp == nil || act == nil {\n\t\treturn exp == nil && act == nil\n\t}\n"
	"\treturn bytes.Equal(exp, act)\n}\n\n"
	"func helper(t TestingT) {\n"
	"\tif h, ok := t.(interface{ Helper() }); ok {\n\t\th.Helper()\n\t}\n}\n\n"
	"func fail(t TestingT, what string, msg []interface{}) bool {\n"
	"\tt.Errorf(\"%s %s\", what, fmt.Sprint(msg...))\n\treturn false\n}\n\n"
	"func Equal(t TestingT, expected, actual interface{}, msg ...interface{}) bool {\n"
	"\thelper(t)\n"
	"\tif !ObjectsAreEqual(expected, actual) {\n"
	"\t\treturn fail(t, fmt.Sprintf(\"Not equal:\\nexpected: %#v\\nactual  : %#v\", expected, actual), msg)\n"
	"\t}\n\treturn true\n}\n\n"
	"func NotEqual(t TestingT, expected, actual interface{}, msg ...interface{}) bool {\n"
	"\thelper(t)\n"
	"\tif ObjectsAreEqual(expected, actual) {\n"
	"\t\treturn fail(t, fmt.Sprintf(\"Should not be: %#v\", actual), msg)\n"
	"\t}\n\treturn true\n}\n\n"
	"func True(t TestingT, v bool, msg ...interface{}) bool {\n"
	"\thelper(t)\n\tif !v {\n\t\treturn fail(t, \"Should be true\", msg)\n\t}\n\treturn true\n}\n\n"
	"func False(t TestingT, v bool, msg ...interface{}) bool {\n"
	"\thelper(t)\n\tif v {\n\t\treturn fail(t, \"Should be false\", msg)\n\t}\n\treturn true\n}\n\n"
	"func isNil(v interface{}) bool {\n"
	"\tif v == nil {\n\t\treturn true\n\t}\n"
	"\tr := reflect.ValueOf(v)\n"
	"\tswitch r.Kind() {\n"
	"\tcase reflect.Chan, reflect.Func, reflect.Interface, reflect.Map, reflect.Ptr, reflect.Slice:\n"
	"\t\treturn r.IsNil()\n\t}\n\treturn false\n}\n\n"
	"func Nil(t TestingT, v interface{}, msg ...interface{}) bool {\n"
	"\thelper(t)\n\tif !isNil(v) {\n\t\treturn fail(t, fmt.Sprintf(\"Expected nil, got %#v\", v), msg)\n\t}\n\treturn true\n}\n\n"
	"func NotNil(t TestingT, v interface{}, msg ...interface{}) bool {\n"
	"\thelper(t)\n\tif isNil(v) {\n\t\treturn fail(t, \"Expected value not to be nil\", msg)\n\t}\n\treturn true\n}\n\n"
	"type Assertions struct{ t TestingT }\n\n"
	"func New(t TestingT) *Assertions { return &Assertions{t} }\n\n"
	"func (a *Assertions) Equal(e, v interface{}, m ...interface{}) bool { helper(a.t); return Equal(a.t, e, v, m...) }\n"
	"func (a *Assertions) NotEqual(e, v interface{}, m ...interface{}) bool { helper(a.t); return NotEqual(a.t, e, v, m...) }\n"
	"func (a *Assertions) True(v bool, m ...interface{}) bool { helper(a.t); return True(a.t, v, m...) }\n"
	"func (a *Assertions) False(v bool, m ...interface{}) bool { helper(a.t); return False(a.t, v, m...) }\n"
	"func (a *Assertions) Nil(v interface{}, m ...interface{}) bool { helper(a.t); return Nil(a.t, v, m...) }\n"
	"func (a *Assertions) NotNil(v interface{}, m ...interface{}) bool { helper(a.t); return NotNil(a.t, v, m...) }\n";

/* $1: the job's ID. The solution, the set-up and the tests share one
 * file (a HumanEval-X solution uses the test file's imports and the other
 * way round) with the union of their imports; an import the compiler
 * then reports unused is removed and the build tried again (as goimports
 * would: HumanEval-X's references import what only their tests use). */
static const char go_build_sh[] =
	"# kiln: builds a Go job (src/sandbox/lang_rt.c). GOPATH mode, the\n"
	"# build cache under /tmp (inside the box), no cgo, no vet.\n"
	"set -e\n"
	"cd /tmp/w\n"
	"if [ -e refused.txt ]; then\n"
	"\techo \"kiln: the solution declares $(cat refused.txt) at package\" \\\n"
	"\t     \"level, a name of Go's universe block: it would be the tests'\" \\\n"
	"\t     \"too (they share package main)\" >&2\n"
	"\texit 1\n"
	"fi\n"
	"a=gopath/src/github.com/stretchr/testify/assert\n"
	"mkdir -p \"$a\"\n"
	"mv assert.go \"$a/\"\n"
	"f=\"t$1_test.go\"\n"
	"for try in 1 2 3 4 5; do\n"
	"\tif go test -c -vet=off -o prog . 2>err.txt; then exit 0; fi\n"
	"\tlines=$(sed -n \"s|^\\./$f:\\([0-9]*\\):[0-9]*: imported and not used.*|\\1|p\" err.txt)\n"
	"\t[ -n \"$lines\" ] || break\n"
	"\tfor l in $lines; do sed -i \"${l}s/.*//\" \"$f\"; done\n"
	"done\n"
	"cat err.txt >&2\n"
	"exit 1\n";

/* Moves the import declarations of Go source s (after its package clause,
 * which go_unpackage blanked) into specs (one spec a line, each once:
 * seen[] holds the ones written, *nseen of them, up to max) and writes
 * the rest to f, a blank line for each line taken. */
static void go_split_imports(const char *s, FILE *f, FILE *specs,
			     char **seen, size_t *nseen, size_t max)
{
	int in_block = 0, top = 1;

	while (s && *s) {
		const char *e = strchr(s, '\n');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		const char *q = s;
		const char *spec = NULL;
		size_t slen = 0;
		int took = in_block;

		while (q < s + len && (*q == ' ' || *q == '\t'))
			q++;
		if (in_block) {
			if (*q == ')')
				in_block = 0;
			else
				spec = q, slen = len - (size_t)(q - s);
		} else if (top && strncmp(q, "import", 6) == 0 &&
			   (q[6] == ' ' || q[6] == '\t' || q[6] == '(')) {
			took = 1;
			q += 6;
			while (*q == ' ' || *q == '\t')
				q++;
			if (*q == '(') {
				const char *c = memchr(q, ')', len - (size_t)(q - s));
				if (c) {  /* import ( "a"; "b" ) on one line */
					spec = q + 1, slen = (size_t)(c - q - 1);
				} else {
					in_block = 1;
					spec = q + 1;
					slen = len - (size_t)(q + 1 - s);
				}
			} else {
				spec = q, slen = len - (size_t)(q - s);
			}
		} else if (q < s + len && strncmp(q, "//", 2) != 0) {
			top = 0;   /* a declaration: no imports after it */
		}
		if (took) {
			/* each ';'-separated spec on its own line, once */
			while (spec && slen) {
				const char *semi = memchr(spec, ';', slen);
				size_t k = semi ? (size_t)(semi - spec) : slen;
				char *one = strndup(spec, k), *t;
				size_t i;
				for (t = one + (one ? strlen(one) : 0); one && t > one &&
				     (t[-1] == ' ' || t[-1] == '\t' || t[-1] == '\r');)
					*--t = 0;
				for (t = one; t && (*t == ' ' || *t == '\t'); t++)
					;
				for (i = 0; t && *t && strncmp(t, "//", 2) && i < *nseen;
				     i++)
					if (strcmp(seen[i], t) == 0)
						break;
				if (t && *t && strncmp(t, "//", 2) && i == *nseen &&
				    *nseen < max && (seen[*nseen] = strdup(t))) {
					fprintf(specs, "\t%s\n", t);
					(*nseen)++;
				}
				free(one);
				spec = semi ? semi + 1 : NULL;
				slen = semi ? slen - k - 1 : 0;
			}
			fputc('\n', f);
		} else {
			fwrite(s, 1, len, f);
			fputc('\n', f);
		}
		s = e ? e + 1 : NULL;
	}
}

/* A test program's "func TestX(" at the start of a line becomes
 * "func kiln_<ID>_user_TestX(" (kiln runs it from its own test function,
 * inside the proof's closure); names[] gets each one (up to max). */
static size_t go_rename_tests(FILE *f, const char *s, const char *id,
			      char names[][64], size_t max)
{
	size_t n = 0;
	int bol = 1;

	while (*s) {
		if (bol && strncmp(s, "func Test", 9) == 0) {
			const char *e = s + 5;
			size_t len = 0;
			while (is_ident((unsigned char)e[len]))
				len++;
			if (e[len] == '(' && len < 64 && n < max) {
				memcpy(names[n], e, len);
				names[n][len] = 0;
				n++;
				fprintf(f, "func kiln_%s_user_", id);
				s += 5;
				bol = 0;
				continue;
			}
		}
		bol = *s == '\n';
		fputc(*s++, f);
	}
	return n;
}

/* Go's universe block: a package-level declaration of one of these in
 * the solution would be the tests' too (they share package main): a
 * `const true = false` made assert.Equal(true, f(x)) hold for a wrong f
 * (hostile 9442). Go 1.21's min, max and clear are left out: Debian 12's
 * Go 1.19 has none, and solutions declare their own max. */
static const char *const go_universe[] = {
	"bool", "byte", "comparable", "complex64", "complex128", "error",
	"float32", "float64", "int", "int8", "int16", "int32", "int64",
	"rune", "string", "uint", "uint8", "uint16", "uint32", "uint64",
	"uintptr", "any", "true", "false", "iota", "nil", "append", "cap",
	"close", "complex", "copy", "delete", "imag", "len", "make", "new",
	"panic", "print", "println", "real", "recover",
};

/* The next token of Go source at *p (comments, strings, runes and raw
 * strings skipped as one token of kind '"'), its kind: 'a' an
 * identifier, '\n' a newline, '"' a literal, or the character itself;
 * 0 at the end. An identifier is copied to id. */
static int go_token(const char **p, char *id, size_t n)
{
	const char *s = *p;

	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == '\r')
			s++;
		if (s[0] == '/' && s[1] == '/') {
			while (*s && *s != '\n')
				s++;
			continue;
		}
		if (s[0] == '/' && s[1] == '*') {
			const char *e = strstr(s + 2, "*/");
			int nl = 0;
			for (const char *q = s; q < (e ? e : s + strlen(s)); q++)
				nl |= *q == '\n';
			s = e ? e + 2 : s + strlen(s);
			if (nl) {
				*p = s;
				return '\n';
			}
			continue;
		}
		break;
	}
	if (!*s) {
		*p = s;
		return 0;
	}
	if (*s == '"' || *s == '\'' || *s == '`') {
		char q = *s++;
		while (*s && *s != q && !(q != '`' && *s == '\n')) {
			if (q != '`' && *s == '\\' && s[1])
				s++;
			s++;
		}
		if (*s == q)
			s++;
		*p = s;
		return '"';
	}
	if (isalpha((unsigned char)*s) || *s == '_' || (unsigned char)*s >= 0x80) {
		size_t k = 0;
		while (isalnum((unsigned char)*s) || *s == '_' ||
		       (unsigned char)*s >= 0x80) {
			if (k + 1 < n)
				id[k++] = *s;
			s++;
		}
		id[k] = 0;
		*p = s;
		return 'a';
	}
	*p = s + 1;
	return (unsigned char)*s;
}

/* The first name of Go's universe block that the source declares at
 * package level (const, var, type, a function without a receiver), or
 * NULL. In a const or var spec the names are the identifiers before the
 * type or the "=": a comma-separated list. */
static const char *go_shadows(const char *src)
{
	const char *p = src ? src : "";
	char id[64];
	int depth = 0, kind = 0, group = 0, names = 0, t, ends = 0;

	while ((t = go_token(&p, id, sizeof id))) {
		/* a newline ends a spec only where Go inserts a semicolon:
		 * after an identifier (not a keyword that starts one), a
		 * literal, a number, ) ] or } (var\ntrue = false is one) */
		if (t == '\n' && !ends)
			continue;
		ends = (t == 'a' && strcmp(id, "var") && strcmp(id, "const") &&
			strcmp(id, "type") && strcmp(id, "func")) || t == '"' ||
		       t == ')' || t == ']' || t == '}' ||
		       (t >= '0' && t <= '9') || t == '.';
		if (t == '(' && depth == 0 && kind && kind != 'f' &&
		    names == 1 && !group) {  /* const ( ... ) */
			group = 1;
			continue;
		}
		if (t == '(' && depth == 0 && kind == 'f' && names == 1)
			names = 0;      /* a method's receiver: not a name */
		if (t == '{' || t == '[' || t == '(')
			depth++;
		else if (t == '}' || t == ']')
			depth--;
		else if (t == ')' && depth == 0 && group) {
			group = kind = names = 0;
			continue;
		} else if (t == ')')
			depth--;
		if (depth != 0)
			continue;
		if (t == 'a' && !kind && !group &&
		    (!strcmp(id, "const") || !strcmp(id, "var") ||
		     !strcmp(id, "type") || !strcmp(id, "func"))) {
			kind = id[0];
			names = 1;
			continue;
		}
		if (!kind)
			continue;
		if (t == 'a' && names == 1) {
			for (size_t i = 0; i < sizeof go_universe /
			     sizeof *go_universe; i++)
				if (!strcmp(id, go_universe[i]))
					return go_universe[i];
			names = kind == 'f' || kind == 't' ? 0 : 2;
		} else if (t == ',' && names == 2) {
			names = 1;
		} else if (t == '\n' || t == ';') {
			if (group)
				names = 1;  /* the next spec */
			else
				kind = names = 0;
		} else {
			names = 0;
		}
	}
	return NULL;
}

int kiln__render_go(const kiln_job *job, const char *id, json_t *files,
		    json_t *runs, json_t *compile, kiln_error *err)
{
	struct outs o = { .n = 0 };
	char name[64], run[96];
	char *setup = go_unpackage(job->setup);
	char *prog = go_unpackage(job->program && job->ntests ? job->tests[0]
							     : "");
	char *sol = go_unpackage(job->solution);
	char (*names)[64] = calloc(256, sizeof(*names));
	FILE *f;
	size_t want = 1;
	int rc;
	const char *shadow;

	if (!setup || !prog || !sol || !names) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		goto out;
	}
	shadow = go_shadows(job->solution);
	/* t<ID>_test.go: kiln's package clause, the union of the imports
	 * (testing under a name of kiln's own too), the solution, the
	 * set-up and the tests */
	snprintf(name, sizeof(name), "t%s_test.go", id);
	if ((f = out_file(&o, name))) {
		char *seen[256], *body = NULL, *imp = NULL;
		size_t nseen = 0, blen = 0, ilen = 0;
		FILE *bf = open_memstream(&body, &blen);
		FILE *inf = open_memstream(&imp, &ilen);
		if (bf && inf) {
			go_split_imports(sol, bf, inf, seen, &nseen, 256);
			go_split_imports(setup, bf, inf, seen, &nseen, 256);
			if (job->program) {
				char *p2 = NULL;
				size_t p2len = 0;
				FILE *pf = open_memstream(&p2, &p2len);
				if (pf) {
					want = go_rename_tests(pf, prog, id, names,
							       256);
					fclose(pf);
				}
				go_split_imports(p2, bf, inf, seen, &nseen, 256);
				free(p2);
				for (size_t i = 0; i < want; i++)
					fprintf(bf, "\nfunc TestK%s_%zu(t *kiln_%s_t.T) {\n"
						"\tkiln_%s_run(t, func() { "
						"kiln_%s_user_%s(t) })\n}\n", id, i,
						id, id, id, names[i]);
			} else {
				for (size_t i = 0; i < job->ntests; i++)
					fprintf(bf, "\nfunc TestK%s_%zu(t *kiln_%s_t.T) {\n"
						"\tkiln_%s_run(t, func() {\n%s\n\t})\n}\n",
						id, i, id, id, job->tests[i]);
			}
		}
		if (bf)
			fclose(bf);
		if (inf)
			fclose(inf);
		/* kiln's import first, on the line after "import (": the
		 * specs' line numbers are what build.sh removes by */
		fprintf(f, "package main\n\nimport (\n\tkiln_%s_t \"testing\"\n"
			"%s)\n\n%s\nconst kiln_%s_want = %zu\n", id,
			imp ? imp : "", body ? body : "", id, want);
		if (!bf || !inf)
			o.oom = 1;
		free(body);
		free(imp);
		for (size_t i = 0; i < nseen; i++)
			free(seen[i]);
	}
	snprintf(name, sizeof(name), "k%s_test.go", id);
	if ((f = out_file(&o, name)))
		subst(f, go_main, id);
	snprintf(name, sizeof(name), "0k%s.go", id);
	if ((f = out_file(&o, name)))
		subst(f, go_grab, id);
	if ((rc = outs_finish(&o, files, err)) ||
	    (rc = put(files, "assert.go", go_assert, err)) ||
	    (rc = put(files, "build.sh", go_build_sh, err)) ||
	    (shadow && (rc = put(files, "refused.txt", shadow, err))) ||
	    (rc = argv_add(compile, "/bin/sh", err)) ||
	    (rc = argv_add(compile, "/tmp/w/build.sh", err)) ||
	    (rc = argv_add(compile, id, err)))
		goto out;
	for (size_t i = 0; i < (job->program ? 1 : job->ntests); i++) {
		if (job->program)
			snprintf(run, sizeof(run), "-test.run=^TestK%s_", id);
		else
			snprintf(run, sizeof(run), "-test.run=^TestK%s_%zu$", id,
				 i);
		if (json_array_append_new(runs, json_pack("[sss]",
				"/tmp/w/prog", run, "-test.count=1"))) {
			rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
			goto out;
		}
	}
out:
	outs_finish(&o, files, err);
	free(setup);
	free(prog);
	free(sol);
	free(names);
	return rc;
}

/* -------------------------------------------------------------- Java */

/* The entry point (class k<ID>.K<ID>, its own file and package: names
 * in kiln's code resolve in its own package and java.lang, never to a
 * type of the solution's, which is in the default package: a solution's
 * `class System` was kiln's System.in, `java_shadow_runtime_classes`).
 * It reads the nonce from System.in before any class of the solution's
 * is loaded (classes load on first use), keeps System.out as it is now,
 * refuses a job whose top-level types hide library types from the tests
 * (below), runs the test (T<ID>.run, by reflection: a named package
 * cannot name the default package's types), and prints the record on
 * that stream only when the test returned. An AssertionError is a
 * failed test (exit 1), any other Throwable an error (exit 3; an
 * OutOfMemoryError is named so in stderr); it halts (no shutdown hook of
 * the solution's runs after the verdict's record).
 *
 * The refusal: the solution, the set-up and the tests are one
 * compilation unit in the default package, whose top-level types shadow
 * every type-import-on-demand (JLS 6.4.1), java.lang's included, and
 * obscure packages of the same name (6.4.2: a type `java` makes
 * `java.util.Arrays` its member). So a solution's `class Arrays` or
 * `class Math` was what the tests' checks called
 * (`java_shadow_library_classes`). Before the test's classes load, the
 * top-level classes the build wrote (/tmp/w/<N>.class) are checked: a
 * public type N of java.lang or of a package the unit imports on demand
 * (`$IMPORTS`, from java_imports), a public member type N of a type
 * imported with `import static T.*`, or N the first name of a package of
 * the JDK: exit 3 with a message naming both. */
static const char java_main[] =
	"// kiln's Java runtime (src/sandbox/lang_rt.c)\n"
	"package k$ID;\n"
	"public final class K$ID {\n"
	"  private static final String[] IMPORTS = { \"java.lang\", $IMPORTS };\n"
	"  private static String hidden() {\n"
	"    final String[] files = new java.io.File(\"/tmp/w\").list();\n"
	"    final java.util.Set<String> roots = new java.util.HashSet<>();\n"
	"    for (Module m : ModuleLayer.boot().modules())\n"
	"      for (String p : m.getPackages())\n"
	"        roots.add(p.split(\"\\\\.\")[0]);\n"
	"    final ClassLoader pl = ClassLoader.getPlatformClassLoader();\n"
	"    for (String f : files == null ? new String[0] : files) {\n"
	"      if (!f.endsWith(\".class\") || f.indexOf('$') >= 0) continue;\n"
	"      final String n = f.substring(0, f.length() - 6);\n"
	"      if (roots.contains(n)) return n + \" (the package \" + n + \")\";\n"
	"      for (String p : IMPORTS) {\n"
	"        final String c = p.startsWith(\"!\") ? p.substring(1) + \"$\" + n\n"
	"          : p + \".\" + n;\n"
	"        try {\n"
	"          final Class<?> k = Class.forName(c, false, pl);\n"
	"          if (java.lang.reflect.Modifier.isPublic(k.getModifiers()))\n"
	"            return n + \" (\" + k.getName() + \")\";\n"
	"        } catch (ClassNotFoundException | LinkageError e) {\n"
	"        }\n"
	"      }\n"
	"    }\n"
	"    return null;\n"
	"  }\n"
	"  // a class of the job (nested and anonymous ones too) that extends a\n"
	"  // library class or is a collection, a map, a number or a char\n"
	"  // sequence, whose equals is the job's (declared by it or by a base\n"
	"  // class of the job's): the tests' list.equals(expected) would run\n"
	"  // the solution's (hostile 9443)\n"
	"  private static String equalsOwn() {\n"
	"    final String[] files = new java.io.File(\"/tmp/w\").list();\n"
	"    final ClassLoader l = K$ID.class.getClassLoader();\n"
	"    for (String f : files == null ? new String[0] : files) {\n"
	"      if (!f.endsWith(\".class\")) continue;\n"
	"      try {\n"
	"        final Class<?> k = Class.forName(f.substring(0, f.length() - 6),\n"
	"          false, l);\n"
	"        final Class<?> sup = k.getSuperclass();\n"
	"        boolean lib = sup != null && sup != Object.class &&\n"
	"          sup.getClassLoader() != l;\n"
	"        for (Class<?> t : new Class<?>[] { java.util.Collection.class,\n"
	"            java.util.Map.class, Number.class, CharSequence.class })\n"
	"          lib |= t.isAssignableFrom(k);\n"
	"        // the equals its instances answer with, declared by a class\n"
	"        // of the job's (its own or a base class's)\n"
	"        if (lib && k.getMethod(\"equals\", Object.class)\n"
	"            .getDeclaringClass().getClassLoader() == l)\n"
	"          return k.getName() + \" (a \" + (sup == null ? \"?\" : sup.getName())\n"
	"            + \")\";\n"
	"      } catch (ReflectiveOperationException | LinkageError e) {\n"
	"      }\n"
	"    }\n"
	"    return null;\n"
	"  }\n"
	"  public static void main(String[] a) throws Throwable {\n"
	"    final java.io.PrintStream out = System.out, err = System.err;\n"
	"    final Runtime rt = Runtime.getRuntime();\n"
	"    final byte[] b = new byte[128];\n"
	"    int n = 0, c;\n"
	"    // the nonce byte by byte from fd 0, not through System.in, whose\n"
	"    // buffer would keep it for sun.misc.Unsafe to read (hostile 9441)\n"
	"    final java.io.FileInputStream in0 =\n"
	"      new java.io.FileInputStream(java.io.FileDescriptor.in);\n"
	"    while (n < b.length && (c = in0.read()) >= 0 && c != '\\n')\n"
	"      b[n++] = (byte) c;\n"
	"    final String nonce = new String(b, 0, n, \"UTF-8\");\n"
	"    java.util.Arrays.fill(b, (byte) 0);\n"
	"    try {\n"
	"      final String h = hidden();\n"
	"      if (h != null) {\n"
	"        err.println(\"kiln: the job declares a top-level type named \" + h\n"
	"          + \": it would hide the library's from the tests; a type named\"\n"
	"          + \" like one of java.lang, of a package imported with .*, or\"\n"
	"          + \" like a package, is refused\");\n"
	"        err.flush();\n"
	"        rt.halt(3);\n"
	"      }\n"
	"      final String q = equalsOwn();\n"
	"      if (q != null) {\n"
	"        err.println(\"kiln: the job's class \" + q + \" declares equals: a\"\n"
	"          + \" library type's comparison in the tests would be its own\");\n"
	"        err.flush();\n"
	"        rt.halt(3);\n"
	"      }\n"
	"      final java.lang.reflect.Method run = Class.forName(\"T$ID\", false,\n"
	"        K$ID.class.getClassLoader()).getDeclaredMethod(\"run\", int.class);\n"
	"      run.setAccessible(true);\n"
	"      try {\n"
	"        run.invoke(null, Integer.parseInt(a[0]));\n"
	"      } catch (java.lang.reflect.InvocationTargetException e) {\n"
	"        throw e.getCause();\n"
	"      }\n"
	"    } catch (Throwable e) {\n"
	"      try {\n"
	"        e.printStackTrace(err);\n"
	"        err.flush();\n"
	"      } catch (Throwable e2) {\n"
	"      }\n"
	"      rt.halt(e instanceof AssertionError ? 1 : 3);\n"
	"    }\n"
	"    out.print(\"\\n\" + nonce + \"\\tD\\n\");\n"
	"    out.flush();\n"
	"    rt.halt(0);\n"
	"  }\n"
	"}\n";

/* Java source with its Unicode escapes decoded (JLS 3.3: a backslash
 * preceded by an even number of backslashes, one or more u's, four hex
 * digits); a non-ASCII result is written as '_' (no package of the
 * JDK's has one). NULL when out of memory. */
static char *java_unescape(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;
	unsigned bs = 0;

	if (!out)
		return NULL;
	while (*s) {
		if (*s == '\\' && bs % 2 == 0 && s[1] == 'u') {
			const char *q = s + 1;
			unsigned v = 0;
			int k;
			while (*q == 'u')
				q++;
			for (k = 0; k < 4 && q[k] &&
				    strchr("0123456789abcdefABCDEF", q[k]); k++)
				v = v * 16 + (unsigned)(q[k] <= '9' ? q[k] - '0'
						: (q[k] | 0x20) - 'a' + 10);
			if (k == 4) {
				*o++ = v && v < 0x80 ? (char)v : '_';
				s = q + 4;
				bs = 0;
				continue;
			}
		}
		bs = *s == '\\' ? bs + 1 : 0;
		*o++ = *s++;
	}
	*o = 0;
	return out;
}

/* The next token of decoded Java source at *pp: an identifier (copied to
 * buf, 'a' returned), another character (returned), or -1 at the end.
 * Comments, white space, string, character and text-block literals are
 * skipped. */
static int java_token(const char **pp, char *buf, size_t n)
{
	const char *p = *pp;
	int c;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' ||
		       *p == '\f')
			p++;
		if (p[0] == '/' && p[1] == '/') {
			p += strcspn(p, "\n");
		} else if (p[0] == '/' && p[1] == '*') {
			const char *e = strstr(p + 2, "*/");
			p = e ? e + 2 : p + strlen(p);
		} else if (strncmp(p, "\"\"\"", 3) == 0) {
			for (p += 3; *p && strncmp(p, "\"\"\"", 3) != 0; p++)
				if (*p == '\\' && p[1])
					p++;
			p += *p ? 3 : 0;
		} else if (*p == '"' || *p == '\'') {
			char q = *p++;
			for (; *p && *p != q && *p != '\n'; p++)
				if (*p == '\\' && p[1])
					p++;
			p += *p == q;
		} else {
			break;
		}
	}
	if (!*p) {
		*pp = p;
		return -1;
	}
	if (is_ident((unsigned char)*p) || (unsigned char)*p >= 0x80) {
		size_t len = 0;
		while (is_ident((unsigned char)*p) || (unsigned char)*p >= 0x80) {
			if (len + 1 < n)
				buf[len++] = *p;
			p++;
		}
		buf[len] = 0;
		*pp = p;
		return 'a';
	}
	c = (unsigned char)*p;
	*pp = p + 1;
	return c;
}

/* Writes to f, as Java string literals each followed by ", ", the
 * packages text imports on demand (`import p.*;`) and, with a leading
 * '!', the types whose members it imports on demand (`import static
 * T.*;`): the names kiln's runtime checks the job's top-level types
 * against. */
static int java_imports(FILE *f, const char *text)
{
	char *s = java_unescape(text), name[512], tok[256];
	const char *p = s;
	int t;

	if (!s)
		return -1;
	while ((t = java_token(&p, tok, sizeof(tok))) != -1) {
		int stat = 0;
		size_t len = 0;
		if (t != 'a' || strcmp(tok, "import") != 0)
			continue;
		t = java_token(&p, tok, sizeof(tok));
		if (t == 'a' && strcmp(tok, "static") == 0) {
			stat = 1;
			t = java_token(&p, tok, sizeof(tok));
		}
		name[0] = 0;
		for (; t == 'a' || t == '.' || t == '*';
		     t = java_token(&p, tok, sizeof(tok))) {
			const char *piece = t == 'a' ? tok : t == '.' ? "." : "*";
			size_t k = strlen(piece);
			if (len + k >= sizeof(name))
				break;
			memcpy(name + len, piece, k + 1);
			len += k;
		}
		if (t != ';' || len < 3 || strcmp(name + len - 2, ".*") != 0)
			continue;
		name[len - 2] = 0;
		fprintf(f, "\"%s%s\", ", stat ? "!" : "", name);
	}
	free(s);
	return 0;
}

/* The class a Java test program declares public (its file must be named
 * after it; its static main is what a test program's run calls), or
 * NULL: "public [final|abstract ]class NAME" at the start of a line. */
static int java_public_class(const char *s, char *name, size_t n)
{
	for (const char *p = s; p && *p; p = strchr(p, '\n'), p = p ? p + 1
								    : NULL) {
		const char *q = p;
		size_t len = 0;
		while (*q == ' ' || *q == '\t')
			q++;
		if (strncmp(q, "public ", 7) != 0)
			continue;
		q += 7;
		while (strncmp(q, "final ", 6) == 0 ||
		       strncmp(q, "abstract ", 9) == 0)
			q += *q == 'f' ? 6 : 9;
		if (strncmp(q, "class ", 6) != 0)
			continue;
		q += 6;
		while (is_ident((unsigned char)q[len]))
			len++;
		if (len == 0 || len >= n)
			continue;
		memcpy(name, q, len);
		name[len] = 0;
		return 1;
	}
	return 0;
}

/* s to f, each unindented "public " before a class, interface, enum or
 * record declaration dropped: a test program's public class names the
 * file, and a file has one public class (a generated solution often
 * says "public class Solution"). */
static void java_unpublic(FILE *f, const char *s)
{
	static const char *const kinds[] = { "class ", "final ", "abstract ",
					     "interface ", "enum ", "record " };
	int bol = 1;

	while (*s) {
		if (bol && strncmp(s, "public ", 7) == 0)
			for (size_t i = 0; i < sizeof(kinds) / sizeof(*kinds); i++)
				if (strncmp(s + 7, kinds[i], strlen(kinds[i])) == 0) {
					s += 7;
					break;
				}
		bol = *s == '\n';
		fputc(*s++, f);
	}
}

/* <Main>.java: the solution and the tests in one compilation unit (a
 * HumanEval-X test program uses the solution's imports); named after its
 * public class, if any. T<ID> dispatches run(i): a test program's main,
 * or the i-th code test as a static method. K<ID>.java: the runtime. */
int kiln__render_java(const kiln_job *job, const kiln_limits *lim,
		      const char *id, const char *java, const char *javac,
		      json_t *files,
		      json_t *runs, json_t *compile, kiln_error *err)
{
	struct outs o = { .n = 0 };
	char name[96], cls[64], heap[48], arg[32];
	const char *prog = job->program && job->ntests ? job->tests[0] : "";
	FILE *f;
	int rc;

	int prog_public = java_public_class(prog, cls, sizeof(cls));

	if (prog_public || java_public_class(job->solution ? job->solution
						       : "", cls, sizeof(cls)))
		snprintf(name, sizeof(name), "%s.java", cls);
	else
		snprintf(name, sizeof(name), "S%s.java", id);
	if ((f = out_file(&o, name))) {
		if (prog_public)
			java_unpublic(f, job->solution ? job->solution : "");
		else
			fputs(job->solution ? job->solution : "", f);
		fputc('\n', f);
		if (job->setup && *job->setup)
			fprintf(f, "%s\n", job->setup);
		if (job->program) {
			if (!java_public_class(prog, cls, sizeof(cls)))
				snprintf(cls, sizeof(cls), "Main");
			fprintf(f, "%s\nfinal class T%s {\n  static void run(int i)"
				" throws Throwable {\n    %s.main(new String[0]);\n"
				"  }\n}\n", prog, id, cls);
		} else {
			fprintf(f, "final class T%s {\n", id);
			for (size_t i = 0; i < job->ntests; i++)
				fprintf(f, "  static void t%zu() throws Throwable"
					" {\n%s\n  }\n", i, job->tests[i]);
			fputs("  static void run(int i) throws Throwable {\n"
			      "    switch (i) {\n", f);
			for (size_t i = 0; i < job->ntests; i++)
				fprintf(f, "    case %zu: t%zu(); break;\n", i, i);
			fputs("    default: throw new Error(\"no such test\");\n"
			      "    }\n  }\n}\n", f);
		}
	}
	snprintf(name, sizeof(name), "K%s.java", id);
	if ((f = out_file(&o, name))) {
		const char *imp = strstr(java_main, "$IMPORTS");
		char *head = strndup(java_main, (size_t)(imp - java_main));
		int bad = !head;
		if (head)
			subst(f, head, id);
		free(head);
		bad = bad || java_imports(f, job->solution ? job->solution
							   : "") ||
		      java_imports(f, job->setup ? job->setup : "");
		for (size_t i = 0; !bad && i < job->ntests; i++)
			bad = java_imports(f, job->tests[i]);
		if (bad)
			o.oom = 1;   /* outs_finish reports it */
		subst(f, imp + strlen("$IMPORTS"), id);
	}
	if ((rc = outs_finish(&o, files, err)))
		return rc;
	/* javac on every .java file: the build script's glob */
	if ((rc = put(files, "build.sh",
		      "# kiln: builds a Java job (src/sandbox/lang_rt.c)\n"
		      "set -e\ncd /tmp/w\n"
		      "exec \"$1\" -J-Xmx512m -J-XX:+UseSerialGC"
		      " -J-XX:TieredStopAtLevel=1 -J-XX:-UsePerfData"
		      " -J-XX:CompressedClassSpaceSize=64m"
		      " -J-XX:ReservedCodeCacheSize=64m -encoding UTF-8"
		      " -nowarn -Xlint:none -d /tmp/w *.java\n", err)) ||
	    (rc = argv_add(compile, "/bin/sh", err)) ||
	    (rc = argv_add(compile, "/tmp/w/build.sh", err)))
		return rc;
	if ((rc = argv_add(compile, javac, err)))
		return rc;
	snprintf(heap, sizeof(heap), "-Xmx%lldm", lim->memory > 0 ?
		 (lim->memory >> 20) : 4096LL);
	snprintf(name, sizeof(name), "k%s.K%s", id, id);
	for (size_t i = 0; i < (job->program ? 1 : job->ntests); i++) {
		snprintf(arg, sizeof(arg), "%zu", i);
		if (json_array_append_new(runs, json_pack(
				"[sssssssssssssss]", java, heap,
				/* no agent attaches from another process */
				"-XX:+DisableAttachMechanism",
				/* Java SE's modules only: no jdk.unsupported,
				 * so no sun.misc.Unsafe to read memory with */
				"--limit-modules=java.se",
				"-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
				"-XX:-UsePerfData", "-XX:CompressedClassSpaceSize=64m",
				"-XX:ReservedCodeCacheSize=64m", "-Xss8m", "-ea",
				"-cp", "/tmp/w", name, arg)))
			return kiln_error_set(err, KILN_ENOMEM,
					      "out of memory");
	}
	return 0;
}

/* -------------------------------------------------------------- Rust */

/* The proof: every test kiln runs starts with a guard (its first
 * statement); the guard's drop, when the body ends without a panic,
 * counts it, and the last of the WANT tests writes the record to fd 3.
 * The nonce is read from stdin by the first guard (no code of the
 * solution's runs before a test body: solutions may not put code in
 * .init_array, see rust_refused). */
static const char rust_rt[] =
	"\n#[cfg(test)]\n#[allow(dead_code)]\n"
	"mod k$ID {\n"
	"    use std::io::{Read, Write};\n"
	"    use std::os::unix::io::FromRawFd;\n"
	"    use std::sync::Mutex;\n"
	"    static STATE: Mutex<(Option<String>, usize)> = Mutex::new((None, 0));\n"
	"    pub struct Guard;\n"
	"    pub fn guard() -> Guard {\n"
	"        let mut s = STATE.lock().unwrap_or_else(|e| e.into_inner());\n"
	"        if s.0.is_none() {\n"
	"            let mut b = [0u8; 128];\n"
	"            let mut n = 0;\n"
	"            let mut i = std::io::stdin();\n"
	"            while n < b.len() {\n"
	"                match i.read(&mut b[n..]) {\n"
	"                    Ok(0) | Err(_) => break,\n"
	"                    Ok(k) => n += k,\n"
	"                }\n"
	"                if b[..n].contains(&b'\\n') {\n"
	"                    break;\n"
	"                }\n"
	"            }\n"
	"            let t = String::from_utf8_lossy(&b[..n]).to_string();\n"
	"            s.0 = Some(t.trim_end().to_string());\n"
	"        }\n"
	"        Guard\n"
	"    }\n"
	"    impl Drop for Guard {\n"
	"        fn drop(&mut self) {\n"
	"            if std::thread::panicking() {\n"
	"                return;\n"
	"            }\n"
	"            let mut s = STATE.lock().unwrap_or_else(|e| e.into_inner());\n"
	"            s.1 += 1;\n"
	"            if s.1 == WANT {\n"
	"                let r = format!(\"{}\\tD\\n\", s.0.as_deref().unwrap_or(\"\"));\n"
	"                let mut f = unsafe { std::fs::File::from_raw_fd(3) };\n"
	"                let _ = f.write_all(r.as_bytes());\n"
	"                std::mem::forget(f);\n"
	"            }\n"
	"        }\n"
	"    }\n";

/* What a Rust solution may not say (the build is refused with the
 * reason): code that runs before the tests or replaces what they call. */
static const char *const rust_refused[] = {
	"link_section",  /* a function in .init_array runs before main */
	"export_name",   /* defines a symbol: a libc name replaces libc's */
	"no_mangle",
	"link_name",
	"global_asm",
	"asm!",
};

/* Where word starts in [p, end) as a whole identifier, or NULL. */
static const char *rust_word(const char *p, const char *end, const char *w)
{
	size_t m = strlen(w);

	for (const char *q = p; q + m <= end; q++)
		if (!memcmp(q, w, m) &&
		    (q == p || !(isalnum((unsigned char)q[-1]) || q[-1] == '_')) &&
		    (q + m == end || !(isalnum((unsigned char)q[m]) ||
				       q[m] == '_')))
			return q;
	return NULL;
}

/* Why an impl of the solution's could answer the tests' comparisons, or
 * NULL: its header (from `impl` to its `{` or `;`) names PartialEq or
 * PartialOrd with a type argument (a comparison with another type: a
 * type of the solution's returned where the task's returns a bool, with
 * a PartialEq<bool> that always held, took every assert_eq!: hostile
 * 9446), or is written by a macro ($t); or the traits are renamed (use
 * ... PartialEq as Pe). `impl PartialEq for T` (T with T), #[derive]
 * and bounds stay: they compare the solution's values with its own. */
static const char *rust_impl_cmp(const char *s)
{
	static const char *const traits[] = { "PartialEq", "PartialOrd" };
	const char *end = s + strlen(s);

	for (size_t i = 0; i < sizeof traits / sizeof *traits; i++)
		for (const char *q = s; (q = rust_word(q, end, traits[i]));
		     q++) {
			const char *r = q + strlen(traits[i]);
			while (*r == ' ' || *r == '\t' || *r == '\n')
				r++;
			if (!strncmp(r, "as", 2) &&
			    !(isalnum((unsigned char)r[2]) || r[2] == '_'))
				return "a renamed comparison trait";
		}
	for (const char *p = s; (p = rust_word(p, end, "impl")); p += 4) {
		const char *h = p + strcspn(p, "{;");
		if (memchr(p, '$', (size_t)(h - p)))
			return "an impl written by a macro";
		for (size_t i = 0; i < sizeof traits / sizeof *traits; i++)
			for (const char *q = p; (q = rust_word(q, h, traits[i]));
			     q++) {
				const char *r = q + strlen(traits[i]);
				while (r < h && (*r == ' ' || *r == '\t'))
					r++;
				if (r < h && *r == '<')
					return traits[i];
			}
	}
	return NULL;
}

/* The test program with each #[test] function renamed k<ID>_NAME and
 * its body starting with the guard; returns how many. */
static size_t rust_instrument(FILE *f, const char *s, const char *id)
{
	size_t n = 0;

	for (;;) {
		const char *t = strstr(s, "#[test]");
		const char *fn, *brace, *nm;
		if (!t)
			break;
		fn = strstr(t, "fn ");
		brace = fn ? strchr(fn, '{') : NULL;
		if (!brace)
			break;
		nm = fn + 3;
		while (*nm == ' ')
			nm++;
		fwrite(s, 1, (size_t)(nm - s), f);
		fprintf(f, "k%s_", id);
		fwrite(nm, 1, (size_t)(brace + 1 - nm), f);
		fprintf(f, " let _kiln_g = crate::k%s::guard();", id);
		s = brace + 1;
		n++;
	}
	fputs(s, f);
	return n;
}

/* rustc (1.63) finds its sysroot through /proc/self/exe even when given
 * --sysroot, and panics without /proc (the box has none); Racket CS
 * reads its boot files from the executable /proc/self/exe names, and
 * stops. The program is run with a shim preloaded, built first in the
 * box (cc -DKILN_EXE='"path"'), that answers that one readlink with its
 * path: rustc's in the compile step only, racket's in every run. */
static const char exe_c[] =
	"/* kiln: /proc/self/exe in a box without /proc */\n"
	"#define _GNU_SOURCE\n"
	"#include <dlfcn.h>\n#include <string.h>\n#include <unistd.h>\n"
	"ssize_t readlink(const char *p, char *buf, size_t n)\n{\n"
	"\tstatic const char exe[] = KILN_EXE;\n"
	"\tssize_t (*real)(const char *, char *, size_t);\n"
	"\tif (strcmp(p, \"/proc/self/exe\") == 0) {\n"
	"\t\tsize_t k = sizeof(exe) - 1 < n ? sizeof(exe) - 1 : n;\n"
	"\t\tmemcpy(buf, exe, k);\n\t\treturn (ssize_t)k;\n\t}\n"
	"\treal = (ssize_t (*)(const char *, char *, size_t))\n"
	"\t\tdlsym(RTLD_NEXT, \"readlink\");\n"
	"\treturn real ? real(p, buf, n) : -1;\n}\n";

static const char rust_build_sh[] =
	"# kiln: builds a Rust job (src/sandbox/lang_rt.c)\n"
	"set -e\n"
	"cd /tmp/w\n"
	"cc -O1 -shared -fPIC -DKILN_EXE='\"/usr/bin/rustc\"' -o exe.so exe.c -ldl\n"
	"LD_PRELOAD=/tmp/w/exe.so exec /usr/bin/rustc --sysroot=/usr \\\n"
	"\t--edition=2021 --test -Cdebuginfo=0 -Copt-level=1 -Awarnings \\\n"
	"\t-o /tmp/w/prog /tmp/w/main.rs\n";

/* What the tests' module says besides `use super::*;`: the std prelude
 * as a glob of its own (a prelude name the solution also defines, `fn
 * Some`, is then ambiguous, a compile error, instead of the solution's),
 * std::collections and std::cmp the same way (a solution's own HashMap,
 * which `use super::*` gave the tests, built their expected map: 9447),
 * and std's macros by name (an explicit import beats the solution's
 * macros that `use super::*` brings: #[macro_export], `pub(crate) use`). */
static const char rust_test_uses[] =
	"    #[allow(unused_imports)]\n"
	"    use ::std::prelude::rust_2021::*;\n"
	"    #[allow(unused_imports)]\n"
	"    use ::std::collections::*;\n"
	"    #[allow(unused_imports)]\n"
	"    use ::std::cmp::*;\n"
	"    #[allow(unused_imports)]\n"
	"    use ::std::{assert, assert_eq, assert_ne, debug_assert,"
	" debug_assert_eq,\n"
	"        debug_assert_ne, panic, unreachable, unimplemented, todo,"
	" vec, format,\n"
	"        write, writeln, print, println, eprint, eprintln, matches,"
	" dbg};\n";

/* The length of the inner attributes (#![...]) and comments (inner doc
 * comments included) the solution starts with: they must stay at the top
 * of main.rs, before the tests' module. */
static size_t rust_head(const char *s)
{
	const char *p = s, *end = s;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (p[0] == '/' && p[1] == '/') {
			p += strcspn(p, "\n");
		} else if (p[0] == '/' && p[1] == '*') {
			/* nested block comments */
			int depth = 1;
			for (p += 2; *p && depth; p++) {
				if (p[0] == '/' && p[1] == '*')
					depth++, p++;
				else if (p[0] == '*' && p[1] == '/')
					depth--, p++;
			}
		} else if (p[0] == '#' && p[1] == '!') {
			const char *q = p + 2;
			int depth = 0;
			while (*q == ' ' || *q == '\t')
				q++;
			if (*q != '[')
				break;   /* a shebang */
			for (; *q; q++) {
				if (*q == '[')
					depth++;
				else if (*q == ']' && --depth == 0)
					break;
			}
			if (!*q)
				break;
			p = q + 1;
		} else {
			break;
		}
		end = p;
	}
	return (size_t)(end - s);
}

int kiln__render_rust(const kiln_job *job, const char *id, json_t *files,
		      json_t *runs, json_t *compile, kiln_error *err)
{
	struct outs o = { .n = 0 };
	char filter[96];
	const char *sol = job->solution ? job->solution : "";
	const char *bad = NULL, *cmp = NULL;
	size_t want = 1;
	FILE *f;
	int rc;

	for (size_t i = 0; i < sizeof(rust_refused) / sizeof(*rust_refused);
	     i++)
		if (strstr(sol, rust_refused[i]))
			bad = rust_refused[i];
	if (!bad && (cmp = rust_impl_cmp(sol)))
		bad = cmp;
	if ((f = out_file(&o, "main.rs"))) {
		/* the tests' module comes before the solution, so that no
		 * macro_rules! of the solution's is in its textual scope */
		size_t head = bad ? 0 : rust_head(sol);
		fwrite(sol, 1, head, f);
		fputc('\n', f);
		if (job->program) {
			fprintf(f, "#[allow(unused_imports)]\nmod p%s {\n", id);
			want = rust_instrument(f, job->ntests ? job->tests[0]
							      : "", id);
			fprintf(f, "\n    #[allow(unused_imports)]\n"
				"    use super::*;\n%s}\n", rust_test_uses);
		} else {
			fprintf(f, "#[cfg(test)]\nmod t%s {\n"
				"    #[allow(unused_imports)]\n"
				"    use super::*;\n%s%s\n", id, rust_test_uses,
				job->setup ? job->setup : "");
			for (size_t i = 0; i < job->ntests; i++)
				fprintf(f, "    #[test]\n    fn k%s_%zu() {\n"
					"        let _kiln_g = crate::k%s::guard();"
					"\n%s\n    }\n", id, i, id, job->tests[i]);
			fputs("}\n", f);
		}
		if (bad)
			fprintf(f, "compile_error!(\"kiln: %s%s is not accepted in"
				" a Rust solution (%s)\");\n",
				cmp && strchr(cmp, ' ') == NULL ? "an impl of " : "",
				bad, cmp ? "a comparison of the solution's with"
				" another type would answer the tests'; compare a"
				" type with itself or #[derive] it" : "it runs code"
				" before the tests or replaces what they call");
		else
			fprintf(f, "%s\n", sol + head);
		subst(f, rust_rt, id);
		fprintf(f, "    const WANT: usize = %zu;\n}\n", want);
	}
	if ((rc = outs_finish(&o, files, err)))
		return rc;
	if ((rc = put(files, "exe.c", exe_c, err)) ||
	    (rc = put(files, "build.sh", rust_build_sh, err)) ||
	    (rc = argv_add(compile, "/bin/sh", err)) ||
	    (rc = argv_add(compile, "/tmp/w/build.sh", err)))
		return rc;
	for (size_t i = 0; i < (job->program ? 1 : job->ntests); i++) {
		if (job->program)
			snprintf(filter, sizeof(filter), "k%s_", id);
		else
			snprintf(filter, sizeof(filter), "t%s::k%s_%zu", id, id,
				 i);
		if (json_array_append_new(runs, json_pack("[sssssss]",
				"/tmp/w/prog", "--test-threads=1",
				"--include-ignored", "-q", job->program ?
				"--color=never" : "--exact", filter,
				"--nocapture")))
			return kiln_error_set(err, KILN_ENOMEM,
					      "out of memory");
	}
	return 0;
}

/* --------------------------------------------------------------- Lua */

/* kiln.lua, the entry point. It reads the nonce, keeps the functions it
 * needs in locals, takes away what reads or corrupts the VM's own state
 * (the debug library, binary chunks: load, loadfile, dofile load text
 * only, string.dump is gone), copies the standard library, runs the
 * solution, then the set-up and the test in an environment of their own
 * (their globals, then the copy's, with an assert of kiln's own, then the
 * solution's: the solution may replace the global assert, math.abs,
 * pairs; strings' methods are the string library's functions as they
 * were; what they read from the solution crosses without its metatables:
 * tables as plain copies, functions wrapped so that their results do, the
 * tests' own tables as they were; no __gc for the solution), and prints
 * the record only when the test returned. A failed assert exits 1, any
 * other error 3 ("not enough memory" is memory). */
static const char lua_rt[] =
	"-- kiln's Lua runtime (src/sandbox/lang_rt.c)\n"
	"local nonce = io.read('l') or ''\n"
	"local stdout, stderr, exit = io.stdout, io.stderr, os.exit\n"
	"local write, flush = stdout.write, stdout.flush\n"
	"local load0, open, type0, tostring0 = load, io.open, type, tostring\n"
	"local setmetatable0, xpcall0, error0 = setmetatable, xpcall, error\n"
	"local traceback = debug.traceback\n"
	"local dgetmt, dsetmt = debug.getmetatable, debug.setmetatable\n"
	"local select0, pack0, unpack0 = select, table.pack, table.unpack\n"
	"local which = tonumber(arg[1]) or 0\n"
	"debug = nil\n"
	"package.loaded.debug = nil\n"
	"string.dump = nil\n"
	"load = function(c, n, m, e) return load0(c, n, 't', e) end\n"
	"local function text(path)\n"
	"  local f, e = open(path, 'rb')\n"
	"  if not f then return nil, e end\n"
	"  local s = f:read('a')\n"
	"  f:close()\n"
	"  return s\n"
	"end\n"
	"loadfile = function(p, m, e)\n"
	"  local s, err = text(p)\n"
	"  if not s then return nil, err end\n"
	"  return load0(s, '@' .. tostring0(p), 't', e)\n"
	"end\n"
	"dofile = function(p)\n"
	"  local f = assert(loadfile(p))\n"
	"  return f()\n"
	"end\n"
	"local FAIL = {}\n"
	"local function kassert(v, msg, ...)\n"
	"  if v then return v, msg, ... end\n"
	"  error0({FAIL, msg == nil and 'assertion failed!' or tostring0(msg)}, 2)\n"
	"end\n"
	"local function die(code, s)\n"
	"  pcall(stderr.write, stderr, s .. '\\n')\n"
	"  exit(code)\n"
	"end\n"
	"-- the standard library as it is now, before the solution runs: every\n"
	"-- global's value, tables copied (deep, shared tables once); _G in it\n"
	"-- is the test's environment\n"
	"local G, next0, rawset0, rawget0 = _G, next, rawset, rawget\n"
	"local env, memo = {}, {}\n"
	"memo[G] = env\n"
	"local function copy(v)\n"
	"  if type0(v) ~= 'table' then return v end\n"
	"  local c = memo[v]\n"
	"  if c then return c end\n"
	"  c = {}\n"
	"  memo[v] = c\n"
	"  for k, x in next0, v do rawset0(c, k, copy(x)) end\n"
	"  return c\n"
	"end\n"
	"local std = {}\n"
	"for k, v in next0, G do std[k] = copy(v) end\n"
	"std.assert = kassert\n"
	"local require0, loaded = require, std.package.loaded\n"
	"std.require = function(name)\n"
	"  local m = rawget0(loaded, name)\n"
	"  if m ~= nil then return m end\n"
	"  return require0(name)\n"
	"end\n"
	"loaded._G = env\n"
	"-- What crosses from the solution to the set-up and the test carries no\n"
	"-- metatable of the solution's: a table the test gets (a global, or a\n"
	"-- value a solution function returns to it) is a plain copy (raw reads,\n"
	"-- no metatables; shared tables once), a function is wrapped so that its\n"
	"-- results cross the same way. The test's own tables (the arguments of\n"
	"-- its calls, deep) stay themselves: after a call, a metatable the\n"
	"-- solution set on one is put back as it was and what the solution put\n"
	"-- in them crosses. So deep_equal's pairs, a[k] and #, and ==, are the\n"
	"-- language's, not a solution's __pairs, __index, __len or __eq.\n"
	"local wrapped = setmetatable0({}, { __mode = 'k' })\n"
	"local wrap\n"
	"local function conv(v, memo, own)\n"
	"  local t = type0(v)\n"
	"  if t == 'function' then return wrap(v) end\n"
	"  if t ~= 'table' then return v end\n"
	"  local c = memo[v]\n"
	"  if c then return c end\n"
	"  if own[v] ~= nil then\n"
	"    memo[v] = v\n"
	"    for k, x in next0, v do\n"
	"      if type0(x) == 'table' then rawset0(v, k, conv(x, memo, own)) end\n"
	"    end\n"
	"    return v\n"
	"  end\n"
	"  c = {}\n"
	"  memo[v] = c\n"
	"  for k, x in next0, v do rawset0(c, conv(k, memo, own), conv(x, memo, own)) end\n"
	"  return c\n"
	"end\n"
	"local function mark(v, own)\n"
	"  if type0(v) ~= 'table' or own[v] ~= nil then return end\n"
	"  own[v] = dgetmt(v) or false\n"
	"  for k, x in next0, v do mark(k, own) mark(x, own) end\n"
	"end\n"
	"wrap = function(f)\n"
	"  local w = wrapped[f]\n"
	"  if w then return w end\n"
	"  w = function(...)\n"
	"    local own = {}\n"
	"    for i = 1, select0('#', ...) do mark((select0(i, ...)), own) end\n"
	"    local r = pack0(f(...))\n"
	"    local memo = {}\n"
	"    for t, mt in next0, own do\n"
	"      if dgetmt(t) ~= (mt or nil) then dsetmt(t, mt or nil) end\n"
	"    end\n"
	"    for t in next0, own do conv(t, memo, own) end\n"
	"    for i = 1, r.n do r[i] = conv(r[i], memo, own) end\n"
	"    return unpack0(r, 1, r.n)\n"
	"  end\n"
	"  wrapped[f], wrapped[w] = w, w\n"
	"  return w\n"
	"end\n"
	"-- the set-up's and the test's globals: their own, then the standard\n"
	"-- library's as it was, then the solution's (crossed)\n"
	"setmetatable0(env, { __index = function(_, k)\n"
	"  local v = std[k]\n"
	"  if v ~= nil then return v end\n"
	"  return conv(G[k], {}, {})\n"
	"end })\n"
	"-- a finalizer would run the solution's code in the middle of the test\n"
	"-- (and could set a metatable on a table of the test's it kept)\n"
	"setmetatable = function(t, mt)\n"
	"  if type0(mt) == 'table' and rawget0(mt, '__gc') ~= nil then\n"
	"    error0('kiln: __gc is not available to a Lua solution', 2)\n"
	"  end\n"
	"  return setmetatable0(t, mt)\n"
	"end\n"
	"-- strings' methods: the string library's functions as they are now,\n"
	"-- then what the solution adds to it; the metatable out of its reach\n"
	"do\n"
	"  local smt, methods = getmetatable(''), {}\n"
	"  for k, v in next0, string do methods[k] = v end\n"
	"  smt.__index = setmetatable0(methods, { __index = string })\n"
	"  smt.__metatable = { __index = string }\n"
	"end\n"
	"-- files' metatable, shared by every handle, out of reach too: a\n"
	"-- solution's __sub on it made io.stdout - x == 0 (hostile 9444), its\n"
	"-- __gc ran the solution's code while kiln copied a table (9445)\n"
	"do\n"
	"  local fmt = getmetatable(stdout)\n"
	"  if type0(fmt) == 'table' then fmt.__metatable = false end\n"
	"end\n"
	"local sol, e1 = load0(text('/tmp/w/sol.lua') or '', '=solution', 't')\n"
	"if not sol then die(3, e1) end\n"
	"local setup, e3 = load0(text('/tmp/w/setup.lua') or '', '=setup', 't',\n"
	"  env)\n"
	"if not setup then die(3, e3) end\n"
	"local test, e2 = load0(text('/tmp/w/t' .. which .. '.lua') or '',\n"
	"  '=test ' .. which, 't', env)\n"
	"if not test then die(3, e2) end\n"
	"local function handler(e)\n"
	"  if type0(e) == 'table' and e[1] == FAIL then return e end\n"
	"  local ok, t = pcall(traceback, tostring0(e), 2)\n"
	"  return ok and t or tostring0(e)\n"
	"end\n"
	"local ok, e = xpcall0(function() sol() setup() test() end, handler)\n"
	"if not ok then\n"
	"  if type0(e) == 'table' and e[1] == FAIL then\n"
	"    die(1, 'test ' .. which .. ': ' .. e[2])\n"
	"  end\n"
	"  die(3, tostring0(e))\n"
	"end\n"
	"write(stdout, '\\n' .. nonce .. '\\tD\\n')\n"
	"flush(stdout)\n"
	"exit(0)\n";

/* --------------------------------------------------------------- Tcl */

/* kiln.tcl, the entry point and the judge. This interpreter (the
 * master) reads the nonce and closes stdin; the solution is evaluated in
 * a safe child interpreter (no files, sockets, exec, load, exit, no
 * channels: puts and flush are kiln's, stdout and stderr only), the
 * set-up and the test in a second safe interpreter, whose unknown
 * command hands a command it lacks to the solution's: only strings cross
 * (a name, arguments, a value or an error message), so the solution can
 * neither redefine the test's if, expr or assert nor reach the nonce, and
 * a break, continue or return it ends with is an error in the test, not a
 * way out of its loop. The master prints the record when the test's
 * evaluation returned normally; kiln's assert and tcltest's test fail
 * with the error code {KILN FAIL} (exit 1), any other error exits 3. */
static const char tcl_rt[] =
	"# kiln's Tcl runtime (src/sandbox/lang_rt.c). The solution runs in one\n"
	"# safe interpreter, the set-up and the test in another; this one, the\n"
	"# master, holds the nonce and alone decides the record.\n"
	"set kiln_nonce [gets stdin]\n"
	"close stdin\n"
	"set kiln_which [lindex $argv 0]\n"
	"proc kiln_text {path} {\n"
	"    if {[catch {open $path r} f]} { return \"\" }\n"
	"    fconfigure $f -encoding utf-8\n"
	"    set s [read $f]\n"
	"    close $f\n"
	"    return $s\n"
	"}\n"
	"proc kiln_die {code msg} {\n"
	"    catch {puts stderr $msg}\n"
	"    catch {flush stderr}\n"
	"    exit $code\n"
	"}\n"
	"# puts and flush in the safe interpreters (they have no channels):\n"
	"# stdout and stderr only\n"
	"proc kiln_chan {ch} {\n"
	"    if {$ch ni {stdout stderr}} {\n"
	"        return -code error \"can not find channel named \\\"$ch\\\"\"\n"
	"    }\n"
	"    return $ch\n"
	"}\n"
	"proc kiln_puts {args} {\n"
	"    set nl [expr {[lindex $args 0] ne \"-nonewline\"}]\n"
	"    if {!$nl} { set args [lrange $args 1 end] }\n"
	"    if {[llength $args] == 1} {\n"
	"        set args [list stdout {*}$args]\n"
	"    } elseif {[llength $args] != 2} {\n"
	"        return -code error {wrong # args: should be \"puts ?-nonewline? ?channelId? string\"}\n"
	"    }\n"
	"    set ch [kiln_chan [lindex $args 0]]\n"
	"    if {$nl} { puts $ch [lindex $args 1] } else { puts -nonewline $ch [lindex $args 1] }\n"
	"}\n"
	"proc kiln_flush {ch} { flush [kiln_chan $ch] }\n"
	"set kiln_sol [interp create -safe]\n"
	"set kiln_test [interp create -safe]\n"
	"foreach i [list $kiln_sol $kiln_test] {\n"
	"    interp alias $i puts {} kiln_puts\n"
	"    interp alias $i flush {} kiln_flush\n"
	"}\n"
	"# A command the test's interpreter lacks is the solution's: only its\n"
	"# name and arguments cross, and only a value or an error comes back (a\n"
	"# break, continue or return from the solution is an error, not a way\n"
	"# out of the test's loop)\n"
	"proc kiln_call {name args} {\n"
	"    set code [catch {interp eval $::kiln_sol [list $name {*}$args]} r]\n"
	"    if {$code == 0} { return $r }\n"
	"    if {$code == 1} { return -code error $r }\n"
	"    return -code error \"$name ended with code $code, not a value\"\n"
	"}\n"
	"interp alias $kiln_test unknown {} kiln_call\n"
	"# kiln's checks, in the test's interpreter: assert and tcltest's test\n"
	"interp eval $kiln_test {\n"
	"    proc assert {cond {msg \"\"}} {\n"
	"        if {[uplevel 1 [list expr $cond]]} { return }\n"
	"        if {$msg eq \"\"} { set msg \"assertion failed: $cond\" }\n"
	"        return -code error -errorcode {KILN FAIL} $msg\n"
	"    }\n"
	"    namespace eval tcltest {\n"
	"        namespace export test cleanupTests testConstraint\n"
	"        proc testConstraint {args} { return 1 }\n"
	"        proc cleanupTests {args} {}\n"
	"        proc test {name desc args} {\n"
	"            set o [dict create -setup {} -body {} -cleanup {} -result {} \\\n"
	"                       -match exact -returnCodes {ok return}]\n"
	"            if {[string match -* [lindex $args 0]]} {\n"
	"                set o [dict merge $o $args]\n"
	"            } else {\n"
	"                if {[llength $args] == 3} { set args [lrange $args 1 end] }\n"
	"                dict set o -body [lindex $args 0]\n"
	"                dict set o -result [lindex $args 1]\n"
	"            }\n"
	"            uplevel 1 [dict get $o -setup]\n"
	"            set code [catch {uplevel 1 [dict get $o -body]} got]\n"
	"            uplevel 1 [dict get $o -cleanup]\n"
	"            set codes [string map {ok 0 error 1 return 2 break 3 continue 4} \\\n"
	"                           [dict get $o -returnCodes]]\n"
	"            if {$code ni $codes} {\n"
	"                if {$code == 1} { return -code error $got }\n"
	"                set got \"code $code: $got\"\n"
	"            }\n"
	"            set want [dict get $o -result]\n"
	"            switch -- [dict get $o -match] {\n"
	"                glob { set ok [string match $want $got] }\n"
	"                regexp { set ok [regexp -- $want $got] }\n"
	"                default { set ok [expr {$got eq $want}] }\n"
	"            }\n"
	"            if {!$ok || $code ni $codes} {\n"
	"                return -code error -errorcode {KILN FAIL} \\\n"
	"                    \"test $name ($desc): expected \\\"$want\\\", got \\\"$got\\\"\"\n"
	"            }\n"
	"        }\n"
	"    }\n"
	"    package provide tcltest 2.5\n"
	"    namespace import tcltest::*\n"
	"}\n"
	"set code [catch {interp eval $kiln_sol [kiln_text /tmp/w/sol.tcl]} r o]\n"
	"if {$code == 1} { kiln_die 3 \"solution: [dict get $o -errorinfo]\" }\n"
	"foreach what [list setup t$kiln_which] {\n"
	"    set code [catch {interp eval $kiln_test [kiln_text /tmp/w/$what.tcl]} r o]\n"
	"    if {$code == 1 && [dict get $o -errorcode] eq {KILN FAIL}} {\n"
	"        kiln_die 1 \"test $kiln_which: $r\"\n"
	"    }\n"
	"    if {$code != 0 && $code != 2} {\n"
	"        kiln_die 3 \"$what: [dict get $o -errorinfo]\"\n"
	"    }\n"
	"}\n"
	"puts -nonewline stdout \"\\n$kiln_nonce\\tD\\n\"\n"
	"flush stdout\n"
	"exit 0\n";

/* ------------------------------------------------------------ Racket */

/* kiln.rkt, the entry point (racket kiln.rkt <i>), and the build's check
 * (racket kiln.rkt build <n>). It reads the nonce first, keeps the
 * ports and the exit handler it needs, declares racket (with
 * racket/hash, racket/random, racket/date, srfi/1) and kiln's rackunit
 * under the original code inspector, then expands, compiles
 * and runs the solution's module and the test's under a weaker one: they
 * can neither reach kiln.rkt's variables (module->namespace) nor use a
 * protected export (ffi/unsafe, racket/unsafe/ops, #%foreign, #%unsafe),
 * so Racket's memory safety holds for them. The test module requires the
 * solution's, which provides all it defines (but the names racket and
 * kiln's rackunit export: a solution's let, = or #%app would rewrite the
 * test); its forms other than requires are the body of a function
 * kiln calls inside a prompt of its own, so an abort to the default
 * prompt from the solution cannot end one form and go on with the next.
 * A failed check (a value only kiln's rackunit makes) exits 1, any other
 * exception or an abort 3; the record is printed when the body returned.
 * Compiled code cannot be kept between the build and the runs: loaded
 * under the weak inspector it may not link to the unexported bindings
 * racket's own macros refer to, and loaded under the original one it
 * would get the original's rights (docs/SANDBOX.md). */
static const char racket_rt[] =
	"#lang racket/base\n"
	";; kiln's Racket runtime (src/sandbox/lang_rt.c). Read and written before\n"
	";; any code of the solution's: the nonce (stdin's first line), the ports\n"
	";; and exit it needs. The libraries a solution may use (racket and a few\n"
	";; more, kiln's rackunit) are declared now, under the original code\n"
	";; inspector; the\n"
	";; solution and the test module are then expanded, compiled and run\n"
	";; under a weaker one, so they can neither reach this module's variables\n"
	";; (module->namespace) nor use protected exports (ffi/unsafe,\n"
	";; racket/unsafe/ops, #%foreign): Racket's memory safety holds for them.\n"
	";; The record is printed when the test body returned normally.\n"
	";;   racket kiln.rkt build N   checks that the solution and N tests expand\n"
	";;   racket kiln.rkt I         runs test I\n"
	"(require racket/port)\n"
	"(define args (current-command-line-arguments))\n"
	"(define build? (equal? (vector-ref args 0) \"build\"))\n"
	"(define nonce (let ([l (if build? \"\" (read-line (current-input-port) 'linefeed))])\n"
	"                (if (string? l) l \"\")))\n"
	"(define out (current-output-port))\n"
	"(define err (current-error-port))\n"
	"(define quit (exit-handler))\n"
	";; what a solution may require: racket, a few libraries beside it, kiln's\n"
	";; rackunit (PLTCOLLECTS); any other is loaded under the weak inspector,\n"
	";; which refuses compiled code\n"
	"(define libraries '(racket racket/hash racket/random racket/date srfi/1 rackunit))\n"
	"(for ([m (in-list libraries)]) (dynamic-require m #f))\n"
	"(define failure? (dynamic-require 'rackunit 'kiln-failure?))\n"
	"(define failure-message (dynamic-require 'rackunit 'kiln-failure-message))\n"
	"(define weak (make-inspector (current-code-inspector)))\n"
	"(define ns (make-base-namespace))\n"
	"(for ([m (in-list libraries)]) (namespace-attach-module (current-namespace) m ns))\n"
	"(define sol-path (string->path \"/tmp/w/kiln-solution.rkt\"))\n"
	"(define (text path)\n"
	"  (define s (and (file-exists? path)\n"
	"                 (call-with-input-file path (lambda (p) (port->string p)))))\n"
	"  (if (string? s) s \"\"))\n"
	"(define (die code fmt . vals)\n"
	"  (with-handlers ([void void])\n"
	"    (write-string (apply format fmt vals) err)\n"
	"    (newline err)\n"
	"    (flush-output err))\n"
	"  (quit code))\n"
	";; the forms of a text, and the language its \"#lang\" line names (racket\n"
	";; or racket/base; no line: racket); the reader takes no #reader or #lang\n"
	";; of its own (it would load a module of the text's choosing)\n"
	"(define lang-rx #px\"^((?:\\\\s*;[^\\n]*\\n)*\\\\s*)#lang[ \\t]+([^\\\\s]+)\")\n"
	"(define (forms path)\n"
	"  (define s (text path))\n"
	"  (define m (regexp-match lang-rx s))\n"
	"  (define lang (if m (string->symbol (caddr m)) 'racket))\n"
	"  (unless (memq lang '(racket racket/base))\n"
	"    (die 3 \"~a: #lang ~a: kiln runs #lang racket and racket/base\" path lang))\n"
	"  (define body (if m\n"
	"                   (string-append (cadr m)\n"
	"                                  (make-string (- (string-length (car m))\n"
	"                                                  (string-length (cadr m)))\n"
	"                                               #\\space)\n"
	"                                  (substring s (string-length (car m))))\n"
	"                   s))\n"
	"  (define p (open-input-string body))\n"
	"  (port-count-lines! p)\n"
	"  (values lang\n"
	"          (with-handlers ([exn:fail? (lambda (e) (die 3 \"~a\" (exn-message e)))])\n"
	"            (parameterize ([read-accept-reader #f] [read-accept-lang #f])\n"
	"              (let loop ()\n"
	"                (define f (read-syntax path p))\n"
	"                (if (eof-object? f) '() (cons f (loop))))))))\n"
	"(define (require-form? f)\n"
	"  (let ([e (syntax-e f)])\n"
	"    (and (pair? e) (identifier? (car e))\n"
	"         (eq? (syntax-e (car e)) 'require))))\n"
	";; every text is read now, with the reader's default parameters: the\n"
	";; solution's macros run before a test's module is made, and could\n"
	";; change them (read-decimal-as-inexact: 0.5 would read as 1/2)\n"
	"(define-values (sol-lang sol-forms) (forms \"/tmp/w/sol.rkt\"))\n"
	"(define-values (setup-lang setup-forms) (forms \"/tmp/w/setup.rkt\"))\n"
	"(define test-forms\n"
	"  (for/hash ([i (if build?\n"
	"                    (in-range (string->number (vector-ref args 1)))\n"
	"                    (in-value (string->number (vector-ref args 0))))])\n"
	"    (define-values (lang fs) (forms (format \"/tmp/w/t~a.rkt\" i)))\n"
	"    (values i fs)))\n"
	";; the solution: a module that provides all it defines\n"
	"(define (solution-module)\n"
	"  (datum->syntax #f `(module kiln-solution ,sol-lang ,@sol-forms\n"
	"                       (provide (all-defined-out)))))\n"
	";; a test: its requires (and the set-up's) at the module's top, the rest\n"
	";; in the body of kiln-body, which kiln calls: an abort out of it (to\n"
	";; the default prompt, which ends just one form of a module's body)\n"
	";; reaches kiln's prompt, not the next form\n"
	"(define (test-module i names)\n"
	"  (define all (append setup-forms (hash-ref test-forms i)))\n"
	"  (datum->syntax\n"
	"   #f `(module ,(string->symbol (format \"kiln-test-~a\" i)) racket\n"
	"         (require rackunit (only-in (file ,(path->string sol-path)) ,@names))\n"
	"         ,@(filter require-form? all)\n"
	"         (define (kiln-body)\n"
	"           ,@(filter (lambda (f) (not (require-form? f))) all)\n"
	"           (void))\n"
	"         (provide kiln-body))))\n"
	";; what the solution provides that the test sees: not a name racket or\n"
	";; kiln's rackunit exports (a solution's own let, =, #%app or\n"
	";; check-equal? would rewrite the test), computed before it runs\n"
	"(define (exported mod)\n"
	"  (define-values (vars stxs) (module->exports mod))\n"
	"  (for*/list ([l (list vars stxs)] [p (in-list l)] #:when (eqv? (car p) 0)\n"
	"              [n (in-list (cdr p))])\n"
	"    (car n)))\n"
	"(define taken\n"
	"  (for/hash ([n (in-list (append (exported 'racket) (exported 'rackunit)\n"
	"                                 '(kiln-body)))])\n"
	"    (values n #t)))\n"
	"(define (solution-names)\n"
	"  (filter (lambda (n) (not (hash-ref taken n #f))) (exported sol-path)))\n"
	"(define (declare stx name)\n"
	"  (parameterize ([current-module-declare-name (make-resolved-module-path name)])\n"
	"    (eval stx)))\n"
	";; under the weak inspector, in ns, with fresh values of what loading,\n"
	";; declaring and evaluating a module read: a parameter the solution set\n"
	";; (its macros run while it is declared) does not reach the test's\n"
	";; declaration (its own current-eval could swap the test for another)\n"
	"(define eval0 (current-eval))\n"
	"(define load0 (current-load))\n"
	"(define load/use-compiled0 (current-load/use-compiled))\n"
	"(define compiled-paths0 (use-compiled-file-paths))\n"
	"(define compiled-roots0 (current-compiled-file-roots))\n"
	"(define collection-paths0 (current-library-collection-paths))\n"
	"(define collection-links0 (current-library-collection-links))\n"
	"(define (sandboxed thunk)\n"
	"  (parameterize ([current-code-inspector weak] [current-namespace ns]\n"
	"                 [current-eval eval0] [current-load load0]\n"
	"                 [current-load/use-compiled load/use-compiled0]\n"
	"                 [use-compiled-file-paths compiled-paths0]\n"
	"                 [current-compiled-file-roots compiled-roots0]\n"
	"                 [current-library-collection-paths collection-paths0]\n"
	"                 [current-library-collection-links collection-links0]\n"
	"                 [current-load-relative-directory #f]\n"
	"                 [current-module-declare-name #f]\n"
	"                 [read-accept-compiled #f]\n"
	"                 [compile-enforce-module-constants #t])\n"
	"    (thunk)))\n"
	"(define (report-error e)\n"
	"  (if (exn? e) (exn-message e) (format \"uncaught exception: ~e\" e)))\n"
	"(cond\n"
	"  [build?\n"
	"   ;; no file written, no program run while the candidate's macros run\n"
	"   (define guard\n"
	"     (make-security-guard (current-security-guard)\n"
	"                          (lambda (who path modes)\n"
	"                            (when (or (memq 'write modes) (memq 'delete modes)\n"
	"                                      (memq 'execute modes))\n"
	"                              (error who \"kiln: not while building\")))\n"
	"                          (lambda (who host port mode)\n"
	"                            (error who \"kiln: no network\"))\n"
	"                          (lambda (who path target)\n"
	"                            (error who \"kiln: not while building\"))))\n"
	"   (with-handlers ([(lambda (e) #t)\n"
	"                    (lambda (e) (die 1 \"~a\" (report-error e)))])\n"
	"     (parameterize ([current-security-guard guard])\n"
	"       (sandboxed (lambda () (declare (solution-module) sol-path)))\n"
	"       (define names (sandboxed solution-names))\n"
	"       (for ([i (in-hash-keys test-forms)])\n"
	"         (sandboxed (lambda () (compile (test-module i names)))))))\n"
	"   (quit 0)]\n"
	"  [else\n"
	"   (define i (string->number (vector-ref args 0)))\n"
	"   (define test-path (string->path (format \"/tmp/w/kiln-test-~a.rkt\" i)))\n"
	"   (define result\n"
	"     (call-with-continuation-prompt\n"
	"      (lambda ()\n"
	"        (with-handlers ([(lambda (e) #t) (lambda (e) e)])\n"
	"          (sandboxed (lambda () (declare (solution-module) sol-path)))\n"
	"          (define names (sandboxed solution-names))\n"
	"          (sandboxed (lambda () (declare (test-module i names) test-path)))\n"
	"          (sandboxed (lambda () ((dynamic-require test-path 'kiln-body))))\n"
	"          'pass))\n"
	"      (default-continuation-prompt-tag)\n"
	"      (lambda _ 'aborted)))\n"
	"   (cond\n"
	"     [(eq? result 'pass)\n"
	"      (write-string (string-append \"\\n\" nonce \"\\tD\\n\") out)\n"
	"      (flush-output out)\n"
	"      (quit 0)]\n"
	"     [(eq? result 'aborted)\n"
	"      (die 3 \"test ~a: the test body was aborted (a continuation jump out of it)\" i)]\n"
	"     [(failure? result) (die 1 \"test ~a: ~a\" i (failure-message result))]\n"
	"     [else (die 3 \"test ~a: ~a\" i (report-error result))])])\n";

/* collects/rackunit/main.rkt: kiln's rackunit, first on PLTCOLLECTS */
static const char racket_rackunit[] =
	"#lang racket/base\n"
	";; kiln's rackunit (src/sandbox/lang_rt.c): the checks a Racket test\n"
	";; calls. A failed check raises a kiln-failure, a value no other module\n"
	";; can make; nothing here reads a parameter, so a solution cannot change\n"
	";; what a check does (rackunit's own current-check-handler could be set\n"
	";; by the solution to ignore failures).\n"
	"(provide check-equal? check-not-equal? check-eq? check-not-eq? check-eqv?\n"
	"         check-not-eqv? check-true check-false check-not-false check-pred\n"
	"         check-= check-within check-exn check-not-exn check fail\n"
	"         test-case test-begin\n"
	"         (protect-out kiln-failure? kiln-failure-message))\n"
	"(struct kiln-failure (message))\n"
	"(define (failed name msg fmt . vals)\n"
	"  (raise (kiln-failure (string-append (symbol->string name) \": \"\n"
	"                                      (if msg (format \"~a: \" msg) \"\")\n"
	"                                      (apply format fmt vals)))))\n"
	"(define (check-equal? a b [msg #f])\n"
	"  (unless (equal? a b) (failed 'check-equal? msg \"~e is not ~e\" a b)))\n"
	"(define (check-not-equal? a b [msg #f])\n"
	"  (when (equal? a b) (failed 'check-not-equal? msg \"both ~e\" a)))\n"
	"(define (check-eq? a b [msg #f])\n"
	"  (unless (eq? a b) (failed 'check-eq? msg \"~e is not ~e\" a b)))\n"
	"(define (check-not-eq? a b [msg #f])\n"
	"  (when (eq? a b) (failed 'check-not-eq? msg \"both ~e\" a)))\n"
	"(define (check-eqv? a b [msg #f])\n"
	"  (unless (eqv? a b) (failed 'check-eqv? msg \"~e is not ~e\" a b)))\n"
	"(define (check-not-eqv? a b [msg #f])\n"
	"  (when (eqv? a b) (failed 'check-not-eqv? msg \"both ~e\" a)))\n"
	"(define (check-true v [msg #f])\n"
	"  (unless (eq? v #t) (failed 'check-true msg \"~e\" v)))\n"
	"(define (check-false v [msg #f])\n"
	"  (unless (eq? v #f) (failed 'check-false msg \"~e\" v)))\n"
	"(define (check-not-false v [msg #f])\n"
	"  (unless v (failed 'check-not-false msg \"#f\")))\n"
	"(define (check-pred p v [msg #f])\n"
	"  (unless (p v) (failed 'check-pred msg \"~e fails ~e\" v p)))\n"
	"(define (check-= a b eps [msg #f])\n"
	"  (unless (<= (magnitude (- a b)) eps)\n"
	"    (failed 'check-= msg \"~e is not within ~e of ~e\" a eps b)))\n"
	";; equal?, numbers within eps, through pairs, vectors and boxes\n"
	"(define (within? a b eps)\n"
	"  (cond [(and (number? a) (number? b)) (<= (magnitude (- a b)) eps)]\n"
	"        [(and (pair? a) (pair? b))\n"
	"         (and (within? (car a) (car b) eps) (within? (cdr a) (cdr b) eps))]\n"
	"        [(and (vector? a) (vector? b) (= (vector-length a) (vector-length b)))\n"
	"         (for/and ([x (in-vector a)] [y (in-vector b)]) (within? x y eps))]\n"
	"        [(and (box? a) (box? b)) (within? (unbox a) (unbox b) eps)]\n"
	"        [else (equal? a b)]))\n"
	"(define (check-within a b eps [msg #f])\n"
	"  (unless (within? a b eps)\n"
	"    (failed 'check-within msg \"~e is not within ~e of ~e\" a eps b)))\n"
	";; what the thunk raised, or none\n"
	"(define (raised thunk)\n"
	"  (let/ec k\n"
	"    (with-handlers ([(lambda (e) (not (kiln-failure? e))) k])\n"
	"      (thunk)\n"
	"      none)))\n"
	"(define none (string->uninterned-symbol \"none\"))\n"
	"(define (check-exn want thunk [msg #f])\n"
	"  (define e (raised thunk))\n"
	"  (cond [(eq? e none) (failed 'check-exn msg \"no exception raised\")]\n"
	"        [(regexp? want)\n"
	"         (unless (and (exn? e) (regexp-match? want (exn-message e)))\n"
	"           (failed 'check-exn msg \"~e does not match ~e\" e want))]\n"
	"        [(not (want e)) (failed 'check-exn msg \"~e fails ~e\" e want)]))\n"
	"(define (check-not-exn thunk [msg #f])\n"
	"  (define e (raised thunk))\n"
	"  (unless (eq? e none)\n"
	"    (failed 'check-not-exn msg \"raised ~e\" (if (exn? e) (exn-message e) e))))\n"
	"(define (check op a b [msg #f])\n"
	"  (unless (op a b) (failed 'check msg \"(~e ~e ~e) is false\" op a b)))\n"
	"(define (fail [msg #f]) (failed 'fail msg \"failed\"))\n"
	"(define-syntax-rule (test-case name body ...) (let () body ... (void)))\n"
	"(define-syntax-rule (test-begin body ...) (let () body ... (void)))\n";

/* $1: racket, $2: how many tests. kiln's own modules are compiled first
 * when the job has 6 tests or more (raco make costs some 0.55 s of CPU,
 * a compiled runtime saves some 0.1 s a run; a compiled file older than
 * its source after /tmp/w is put back is compiled again in memory); then
 * the check, which runs no code of the candidate's but its macros, under
 * the weak inspector and a security guard that lets them write, delete
 * or run nothing. */
static const char racket_build_sh[] =
	"# kiln: checks that a Racket job expands (src/sandbox/lang_rt.c)\n"
	"set -e\n"
	"cd /tmp/w\n"
	"cc -O1 -shared -fPIC -DKILN_EXE=\"\\\"$1\\\"\" -o exe.so exe.c -ldl\n"
	"mkdir -p collects/rackunit\n"
	"mv rackunit.rkt collects/rackunit/main.rkt\n"
	"export LD_PRELOAD=/tmp/w/exe.so\n"
	"if [ \"$2\" -ge 6 ]; then\n"
	"\t\"$1\" -l- raco make kiln.rkt collects/rackunit/main.rkt\n"
	"fi\n"
	"exec \"$1\" /tmp/w/kiln.rkt build \"$2\"\n";

/* The interpreted languages whose job is kiln's runtime and the files it
 * reads: the runtime (rt_name), the solution (sol.EXT: with the set-up
 * behind it when setup_apart is 0, else the set-up in setup.EXT), each
 * test in t<i>.EXT; each run is the interpreter on the runtime with the
 * test's number. */
static const struct script {
	const char *lang, *rt_name, *rt, *ext;
	int setup_apart;
	/* a library file of kiln's, and a build script: the compile step
	 * runs it as build.sh INTERP NTESTS; it builds exe.so, which every
	 * run preloads */
	const char *lib_name, *lib, *build_sh;
} scripts[] = {
	/* the set-up runs in the test's environment */
	{ "lua", "kiln.lua", lua_rt, "lua", 1, NULL, NULL, NULL },
	/* the set-up runs in the test's interpreter */
	{ "tcl", "kiln.tcl", tcl_rt, "tcl", 1, NULL, NULL, NULL },
	/* the set-up's forms go into each test's module */
	{ "racket", "kiln.rkt", racket_rt, "rkt", 1, "rackunit.rkt",
	  racket_rackunit, racket_build_sh },
};

int kiln__render_script(const kiln_job *job, const char *lang,
			const char *interp, json_t *files, json_t *runs,
			json_t *compile, kiln_error *err)
{
	const struct script *sc = NULL;
	size_t n = job->program ? 1 : job->ntests;
	const char *sol = job->solution ? job->solution : "";
	const char *setup = job->setup ? job->setup : "";
	char name[32], path[64];
	char *s;
	int rc;

	for (size_t i = 0; i < sizeof(scripts) / sizeof(*scripts); i++)
		if (strcmp(scripts[i].lang, lang) == 0)
			sc = &scripts[i];
	if (!sc)
		return kiln_error_set(err, KILN_EINVAL, "no render for %s",
				      lang);
	snprintf(path, sizeof(path), "/tmp/w/%s", sc->rt_name);
	if ((rc = put(files, sc->rt_name, sc->rt, err)))
		return rc;
	s = malloc(strlen(sol) + strlen(setup) + 2);
	if (!s)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	sprintf(s, "%s\n%s", sol, sc->setup_apart ? "" : setup);
	snprintf(name, sizeof(name), "sol.%s", sc->ext);
	rc = put(files, name, s, err);
	free(s);
	snprintf(name, sizeof(name), "setup.%s", sc->ext);
	if (rc || (sc->setup_apart && (rc = put(files, name, setup, err))))
		return rc;
	if (sc->lib && (rc = put(files, sc->lib_name, sc->lib, err)))
		return rc;
	if (sc->build_sh) {
		char count[32];
		snprintf(count, sizeof(count), "%zu", n);
		if ((rc = put(files, "exe.c", exe_c, err)) ||
		    (rc = put(files, "build.sh", sc->build_sh, err)) ||
		    (rc = argv_add(compile, "/bin/sh", err)) ||
		    (rc = argv_add(compile, "/tmp/w/build.sh", err)) ||
		    (rc = argv_add(compile, interp, err)) ||
		    (rc = argv_add(compile, count, err)))
			return rc;
	}
	for (size_t i = 0; i < n; i++) {
		char arg[32];
		snprintf(name, sizeof(name), "t%zu.%s", i, sc->ext);
		snprintf(arg, sizeof(arg), "%zu", i);
		if ((rc = put(files, name, i < job->ntests ? job->tests[i] : "",
			      err)))
			return rc;
		/* with the build's readlink shim: env, under /usr */
		json_t *run = sc->build_sh ?
			json_pack("[sssss]", "/usr/bin/env",
				  "LD_PRELOAD=/tmp/w/exe.so", interp, path, arg) :
			json_pack("[sss]", interp, path, arg);
		if (json_array_append_new(runs, run))
			return kiln_error_set(err, KILN_ENOMEM,
					      "out of memory");
	}
	return 0;
}

/* ------------------------------------------------------------- OCaml */

/* Three compilation units, linked in this order (OCaml initializes units
 * in link order): kiln_<ID>_head.ml (the nonce, read from stdin before the
 * solution's top level runs, and the functions the end needs, bound
 * before the solution can shadow exit, print_string or Stdlib),
 * kiln_<ID>_sol.ml (the solution: a unit of its own, whose definitions
 * end where its file ends), and main.ml: the set-up, the tests, kiln's
 * end. main.ml opens the solution's unit over Stdlib with warnings 44
 * and 45 ("this open statement shadows ... (which is later used)") made
 * errors: the set-up and the tests see the solution's names and
 * Stdlib's, and a name both define that they use (a solution's `( = )`,
 * abs_float, module List, exception Not_found) is a compile error, never
 * the solution's silently. Each code test is a function; a test program
 * is the body of a local module, so an exception in it is caught like a
 * test's. A failed assert (Assert_failure) exits 1, any other exception
 * 3; the record goes to stdout only when the test returned. */
static const char ocaml_head[] =
	"(* kiln's OCaml runtime (src/sandbox/lang_rt.c) *)\n"
	"let kiln_$ID_nonce = try Stdlib.input_line Stdlib.stdin with _ -> \"\"\n"
	"(* stdin's buffer still holds the nonce: seek_in within it reread it\n"
	"   (hostile 9440); a closed channel seeks nowhere *)\n"
	"let () = try Stdlib.close_in Stdlib.stdin with _ -> ()\n"
	"let kiln_$ID_exit = Stdlib.exit\n"
	"let kiln_$ID_out = Stdlib.print_string\n"
	"let kiln_$ID_flush = Stdlib.flush\n"
	"let kiln_$ID_stdout = Stdlib.stdout\n"
	"let kiln_$ID_err = Stdlib.prerr_endline\n"
	"let kiln_$ID_show = Printexc.to_string\n"
	"let kiln_$ID_which = try int_of_string Sys.argv.(1) with _ -> -1\n"
	"let kiln_$ID_failed (e : exn) = match e with\n"
	"  | Assert_failure _ -> true | _ -> false\n"
	"let kiln_$ID_cat = Stdlib.( ^ )\n"
	"let kiln_$ID_fail = Stdlib.failwith\n";

/* main.ml's start: kiln's names, then the solution's over Stdlib's */
static const char ocaml_main[] =
	"(* kiln's OCaml runtime (src/sandbox/lang_rt.c) *)\n"
	"open Kiln_$ID_head\n"
	"[@@@ocaml.warning \"@44@45\"]\n"
	"open Kiln_$ID_sol\n";

static const char ocaml_tail[] =
	"let () =\n"
	"  (try kiln_$ID_run kiln_$ID_which with e ->\n"
	"    (try kiln_$ID_err (kiln_$ID_show e) with _ -> ());\n"
	"    kiln_$ID_exit (if kiln_$ID_failed e then 1 else 3));\n"
	"  kiln_$ID_out (kiln_$ID_cat \"\\n\"\n"
	"    (kiln_$ID_cat kiln_$ID_nonce \"\\tD\\n\"));\n"
	"  kiln_$ID_flush kiln_$ID_stdout;\n"
	"  kiln_$ID_exit 0\n";

int kiln__render_ocaml(const kiln_job *job, const char *id, json_t *files,
		       json_t *runs, json_t *compile, kiln_error *err)
{
	struct outs o = { .n = 0 };
	char name[64];
	FILE *f;
	int rc;

	snprintf(name, sizeof(name), "kiln_%s_head.ml", id);
	if ((f = out_file(&o, name)))
		subst(f, ocaml_head, id);
	snprintf(name, sizeof(name), "kiln_%s_sol.ml", id);
	if ((f = out_file(&o, name)))
		fprintf(f, "# 1 \"solution\"\n%s\n",
			job->solution ? job->solution : "");
	if ((f = out_file(&o, "main.ml"))) {
		subst(f, ocaml_main, id);
		if (job->setup && *job->setup)
			fprintf(f, "# 1 \"setup\"\n%s\n", job->setup);
		if (job->program) {
			fprintf(f, "let kiln_%s_run _ =\n  let module M = struct\n"
				"# 1 \"test program\"\n%s\n  end in ()\n", id,
				job->ntests ? job->tests[0] : "");
		} else {
			for (size_t i = 0; i < job->ntests; i++)
				fprintf(f, "let kiln_%s_t%zu () =\n# 1 \"test %zu\"\n"
					"begin\n%s\nend\n", id, i, i,
					job->tests[i]);
			fprintf(f, "let kiln_%s_run i = match i with\n", id);
			for (size_t i = 0; i < job->ntests; i++)
				fprintf(f, "  | %zu -> kiln_%s_t%zu ()\n", i, id, i);
			fprintf(f, "  | _ -> kiln_%s_fail \"no such test\"\n", id);
		}
		subst(f, ocaml_tail, id);
	}
	if ((f = out_file(&o, "build.sh")))
		subst(f, "# kiln: builds an OCaml job (src/sandbox/lang_rt.c)\n"
		      "set -e\ncd /tmp/w\n"
		      "exec ocamlopt -w -a -o prog kiln_$ID_head.ml"
		      " kiln_$ID_sol.ml main.ml\n", id);
	if ((rc = outs_finish(&o, files, err)) ||
	    (rc = argv_add(compile, "/bin/sh", err)) ||
	    (rc = argv_add(compile, "/tmp/w/build.sh", err)))
		return rc;
	for (size_t i = 0; i < (job->program ? 1 : job->ntests); i++) {
		char arg[32];
		snprintf(arg, sizeof(arg), "%zu", i);
		if (json_array_append_new(runs, json_pack("[ss]", "/tmp/w/prog",
							  arg)))
			return kiln_error_set(err, KILN_ENOMEM,
					      "out of memory");
	}
	return 0;
}
