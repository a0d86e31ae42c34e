/* The language table. A language is either run in-process by the warm
 * Python harness ("inproc") or written to files, optionally compiled, and
 * run as one process per test ("exec"). For exec languages kiln generates
 * the entry point: it runs the test body and only then writes the run's
 * nonce to fd 3, so an early exit(0) cannot pass a test.
 *
 * To add a language, add a row: its compile argv and a render function that
 * writes its files and the argv of each test's run. The render function
 * must keep the completion proof out of the candidate's reach (as render_c
 * does with a separate translation unit): a shell, whose script can read
 * everything its trailer could, is for that reason not in the table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/code.h" /* kiln_lang_canonical */
#include "sandbox_int.h"

enum lang_kind { LANG_INPROC, LANG_EXEC };

struct lang;
typedef int (*render_fn)(const struct lang *l, const kiln_job *job,
			 json_t *files, json_t *runs, kiln_error *err);

struct lang {
	const char *name;
	enum lang_kind kind;
	const char *const *compile;  /* argv, or NULL when interpreted */
	render_fn render;
};

/* Appends the solution and the test set-up to f; one place for the rule
 * that set-up (test-side code) comes after the solution it may use. */
static void put_code(FILE *f, const kiln_job *job)
{
	fprintf(f, "%s\n", job->solution ? job->solution : "");
	if (job->setup && *job->setup)
		fprintf(f, "%s\n", job->setup);
}

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

/* kiln's own translation unit of a C job: the entry point. It is linked
 * first, so its .preinit_array entry runs before any constructor of the
 * candidate's: it takes the run's nonce out of the environment, wiping the
 * bytes and renaming the variable in place (libc's environ is not set up
 * yet at that point, so unsetenv would do nothing), and keeps it in a
 * static the candidate's unit cannot name. */
static const char c_main_head[] =
	"#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
	"#include <unistd.h>\n"
	"static char kiln__nonce[64];\n"
	"static void kiln__grab(int argc, char **argv, char **envp)\n{\n"
	"\t(void)argc;\n\t(void)argv;\n"
	"\tfor (char **e = envp; e && *e; e++) {\n"
	"\t\tif (strncmp(*e, \"KILN_NONCE=\", 11) == 0) {\n"
	"\t\t\tsnprintf(kiln__nonce, sizeof(kiln__nonce), \"%s\", *e + 11);\n"
	"\t\t\tmemset(*e + 11, 0, strlen(*e + 11));\n"
	"\t\t\tmemcpy(*e, \"KILN_USED_\", 10);\n\t\t}\n\t}\n}\n"
	"__attribute__((section(\".preinit_array\"), used))\n"
	"static void (*kiln__pre)(int, char **, char **) = kiln__grab;\n"
	"static void kiln__done(void)\n{\n"
	"\tfflush(stdout);\n"
	"\tdprintf(3, \"%s\\tD\\n\", kiln__nonce);\n}\n";

static int render_c(const struct lang *l, const kiln_job *job, json_t *files,
		    json_t *runs, kiln_error *err)
{
	char *buf = NULL, *mbuf = NULL;
	size_t len = 0, mlen = 0;
	FILE *f = open_memstream(&buf, &len);
	FILE *m = f ? open_memstream(&mbuf, &mlen) : NULL;
	int rc;

	(void)l;
	if (!m) {
		if (f)
			fclose(f);
		free(buf);
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	}
	fputs(c_prelude, f);
	put_code(f, job);
	fputs(c_main_head, m);
	if (job->program) {
		fprintf(f, "#define main kiln_user_main\n%s\n#undef main\n",
			job->ntests ? job->tests[0] : "");
		fputs("int kiln_user_main();\n"
		      "int main(int argc, char **argv)\n{\n"
		      "\tint rc = ((int (*)(int, char **))kiln_user_main)"
		      "(argc, argv);\n"
		      "\tif (rc == 0)\n\t\tkiln__done();\n\treturn rc;\n}\n", m);
	} else {
		for (size_t i = 0; i < job->ntests; i++) {
			fprintf(f, "void kiln_test_%zu(void)\n{\n%s\n}\n",
				i, job->tests[i]);
			fprintf(m, "void kiln_test_%zu(void);\n", i);
		}
		fputs("int main(int argc, char **argv)\n{\n"
		      "\tlong i = argc > 1 ? strtol(argv[1], NULL, 10) : -1;\n"
		      "\tswitch (i) {\n", m);
		for (size_t i = 0; i < job->ntests; i++)
			fprintf(m, "\tcase %zu: kiln_test_%zu(); break;\n", i, i);
		fputs("\tdefault: return 2;\n\t}\n\tkiln__done();\n"
		      "\treturn 0;\n}\n", m);
	}
	rc = finish_file(f, &buf, files, "main.c", err);
	if (rc) {
		fclose(m);
		free(mbuf);
		return rc;
	}
	rc = finish_file(m, &mbuf, files, "kiln_main.c", err);
	if (rc)
		return rc;
	for (size_t i = 0; i < (job->program ? 1 : job->ntests); i++) {
		char arg[32];
		snprintf(arg, sizeof(arg), "%zu", i);
		json_array_append_new(runs, json_pack("[ss]", "/tmp/w/prog", arg));
	}
	return 0;
}

static const char *const c_compile[] = {
	"/usr/bin/cc", "-std=gnu17", "-O1", "-pipe", "-o", "/tmp/w/prog",
	"/tmp/w/kiln_main.c", "/tmp/w/main.c", "-lm", NULL
};

static const struct lang langs[] = {
	{ "python", LANG_INPROC, NULL, NULL },
	{ "c", LANG_EXEC, c_compile, render_c },
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

const char *kiln_lang_list(void) { return "python, c"; }

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
	req = json_object();
	if (!req)
		goto oom;
	json_object_set_new(req, "limits",
			    limits_json(timeout, cpu, lim->memory, lim->output));
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
		if (job->expect) {
			json_t *ex = json_array();
			for (size_t i = 0; ex && i < ntests; i++)
				json_array_append_new(ex, job->expect[i]
					? json_string(job->expect[i])
					: json_null());
			if (!ex || json_array_size(ex) != ntests) {
				json_decref(ex);
				rc = kiln_error_set(err, KILN_EPARSE,
						    "I/O test is not valid UTF-8");
				goto fail;
			}
			json_object_set_new(req, "expect", ex);
		}
		if (job->atol > 0)
			json_object_set_new(req, "atol", json_real(job->atol));
	} else {
		json_t *files = json_object(), *runs = json_array();
		json_object_set_new(req, "mode", json_string("exec"));
		json_object_set_new(req, "files", files);
		json_object_set_new(req, "runs", runs);
		if (!files || !runs)
			goto oom;
		rc = l->render(l, job, files, runs, err);
		if (rc)
			goto fail;
		if (l->compile) {
			json_t *argv = json_array();
			for (size_t i = 0; l->compile[i]; i++)
				json_array_append_new(argv,
					json_string(l->compile[i]));
			json_object_set_new(req, "compile", argv);
			json_object_set_new(req, "compile_limits",
				limits_json(lim->compile_ms, lim->compile_ms,
					    lim->compile_memory,
					    lim->output));
		}
		json_object_set_new(req, "env",
			json_pack("{ss ss ss ss}", "PATH", "/usr/bin:/bin",
				  "LANG", "C.UTF-8", "HOME", "/tmp",
				  "TMPDIR", "/tmp"));
	}
	*out = req;
	return 0;
oom:
	rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
fail:
	json_decref(req);
	return rc;
}
