/* Importers for benchmark files as their authors publish them.
 *
 * HumanEval (openai/human-eval): task_id, prompt, canonical_solution, test,
 * entry_point. The prompt is a function header with its docstring; the
 * reference solution is prompt + canonical_solution; the test is one
 * program defining check(candidate), so kiln appends the call
 * check(<entry_point>) to make it self-contained.
 *
 * MBPP (google-research/mbpp): task_id, text, code, test_list,
 * test_setup_code, challenge_test_list. Each assert of test_list becomes
 * its own test snippet; the setup code is kept as test_setup. The prompt
 * follows the MBPP paper: the description, then the tests the code should
 * pass.
 *
 * HumanEval-X (THUDM/CodeGeeX), six files: task_id ("CPP/3"), prompt,
 * declaration, canonical_solution, test, example_test, no entry_point.
 * The language is the task_id's prefix; the entry point is derived (the
 * Python test's final check(NAME), else the function the declaration
 * ends with); the test is kept as published (a whole program in C++,
 * Java and JavaScript; Go's test_setup is the test file's header).
 *
 * Sanitized MBPP (mbpp/sanitized-mbpp.json): one JSON array of records
 * with task_id, prompt, code, test_imports, test_list: as MBPP, the
 * imports becoming test_setup.
 *
 * HumanEval+ (evalplus) is in import_evalplus.c: its inputs need the
 * sandbox to get their expected outputs.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/task.h"
#include "task/task_int.h"

/* What each importer stamps when --source and --license are not given:
 * what the publisher's repository says (shared/data/SOURCES.md). */
static const struct format_row {
	const char *name, *source, *license;
} formats[] = {
	[KILN_IMPORT_HUMANEVAL] = { "humaneval", "humaneval", "MIT" },
	[KILN_IMPORT_MBPP] = { "mbpp", "mbpp", "CC-BY-4.0" },
	[KILN_IMPORT_HUMANEVAL_X] = { "humaneval-x", "humaneval-x",
				      "Apache-2.0" },
	[KILN_IMPORT_MBPP_SANITIZED] = { "mbpp-sanitized", "mbpp-sanitized",
					 "CC-BY-4.0" },
	[KILN_IMPORT_EVALPLUS] = { "evalplus", "humanevalplus",
				   "Apache-2.0" },
};
#define NFORMATS (sizeof(formats) / sizeof(formats[0]))

int kiln_import_format_parse(const char *name, kiln_import_format *fmt,
			     kiln_error *err)
{
	for (size_t i = 0; i < NFORMATS; i++)
		if (strcmp(name, formats[i].name) == 0) {
			*fmt = (kiln_import_format)i;
			return 0;
		}
	return kiln_error_set(err, KILN_EINVAL,
			      "unknown format '%s' (known: %s)", name,
			      kiln_import_format_list());
}

const char *kiln_import_format_list(void)
{
	return "humaneval, mbpp, humaneval-x, mbpp-sanitized, evalplus";
}

const char *kiln_import_default_source(kiln_import_format fmt)
{
	return (size_t)fmt < NFORMATS ? formats[fmt].source : "";
}

const char *kiln_import_default_license(kiln_import_format fmt)
{
	return (size_t)fmt < NFORMATS ? formats[fmt].license : "";
}

int kiln__need_string(const json_t *in, const char *key, const char **out,
		       kiln_error *err)
{
	const json_t *v = json_object_get(in, key);
	if (!json_is_string(v))
		return kiln_error_set(err, KILN_EPARSE,
				      "field '%s' is missing or not a string",
				      key);
	*out = json_string_value(v);
	return 0;
}

char *kiln__concat3(const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
	char *s = malloc(la + lb + lc + 1);
	if (!s)
		return NULL;
	memcpy(s, a, la);
	memcpy(s + la, b, lb);
	memcpy(s + la + lb, c, lc + 1);
	return s;
}

int kiln__is_identifier(const char *s)
{
	if (!*s || !(isalpha((unsigned char)*s) || *s == '_'))
		return 0;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_'))
			return 0;
	return 1;
}

/* The helpers a HumanEval prompt gives besides the function under test
 * (HumanEval/32's poly, /38's encode_cyclic, /50's encode_shift), with the
 * prompt's top-level imports: the tests use them to check the answer, so
 * they are test-side code (test_setup, which runs after the solution): a
 * candidate that redefined poly must not decide what the tests compute
 * with it. Returns a new string, "" when there are none, or NULL (out of
 * memory). A block is a top-level "def NAME(" and the indented or blank
 * lines after it. */
char *kiln__prompt_helpers(const char *prompt, const char *entry)
{
	size_t n = strlen(prompt), elen = strlen(entry), k = 0;
	char *out = malloc(n + 1);
	int keep = 0, helpers = 0;

	if (!out)
		return NULL;
	for (const char *p = prompt; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);

		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
			/* a top-level line: what follows belongs to it */
			if (strncmp(p, "def ", 4) == 0) {
				const char *name = p + 4;
				keep = !(strncmp(name, entry, elen) == 0 &&
					 name[elen] == '(');
				helpers += keep;
			} else {
				keep = strncmp(p, "import ", 7) == 0 ||
				       strncmp(p, "from ", 5) == 0;
			}
		}
		if (keep) {
			memcpy(out + k, p, len);
			k += len;
		}
		p += len;
	}
	out[helpers ? k : 0] = '\0';
	return out;
}

static int import_humaneval(const json_t *in, json_t **out, kiln_error *err)
{
	const char *id = NULL, *prompt = NULL, *sol = NULL, *test = NULL;
	const char *entry = NULL;
	char *solution = NULL, *tests = NULL, *call = NULL, *setup = NULL;
	json_t *t = NULL;
	int rc;

	if ((rc = kiln__need_string(in, "task_id", &id, err)) ||
	    (rc = kiln__need_string(in, "prompt", &prompt, err)) ||
	    (rc = kiln__need_string(in, "canonical_solution", &sol, err)) ||
	    (rc = kiln__need_string(in, "test", &test, err)) ||
	    (rc = kiln__need_string(in, "entry_point", &entry, err)))
		return rc;
	/* The task_id becomes the task's id, which joins candidates and
	 * results to their task: an empty one would make an id-less task. */
	if (!*id)
		return kiln_error_set(err, KILN_EPARSE,
				      "field 'task_id' is empty");
	if (!kiln__is_identifier(entry))
		return kiln_error_set(err, KILN_EPARSE,
				      "entry_point '%.64s' is not an identifier",
				      entry);
	solution = kiln__concat3(prompt, sol, "");
	call = kiln__concat3("\n\ncheck(", entry, ")\n");
	tests = call ? kiln__concat3(test, call, "") : NULL;
	setup = kiln__prompt_helpers(prompt, entry);
	if (!solution || !tests || !setup)
		goto oom;
	t = json_pack("{ss ss ss ss ss ss ss ss ss ss}",
		      "id", id, "prompt", prompt, "language", "python",
		      "entry_point", entry, "solution", solution,
		      "tests", tests, "origin", "human",
		      "source", "humaneval", "source_id", id,
		      "license", "MIT");
	if (!t || (*setup && json_object_set_new(t, "test_setup",
						  json_string(setup)) != 0))
		goto oom;
	*out = t;
	rc = 0;
	goto out;
oom:
	rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
out:
	free(solution);
	free(tests);
	free(call);
	free(setup);
	return rc;
}

/* The name called by the first assert: "assert name(" -> name. */
static json_t *mbpp_entry_point(const json_t *tests)
{
	const char *s = json_string_value(json_array_get(tests, 0));
	const char *p, *q;
	char name[128];

	if (!s || strncmp(s, "assert", 6) != 0)
		return json_null();
	p = s + 6;
	while (*p == ' ' || *p == '(')
		p++;
	for (q = p; isalnum((unsigned char)*q) || *q == '_'; q++)
		;
	if (*q != '(' || q == p || (size_t)(q - p) >= sizeof(name))
		return json_null();
	memcpy(name, p, (size_t)(q - p));
	name[q - p] = '\0';
	return json_string(name);
}

/* An MBPP-shaped task: the prompt in the MBPP paper's form (the
 * description, then the tests the code should pass), one test per
 * assert. */
static int mbpp_task(const json_t *id, const char *text, const char *code,
		     const json_t *tests, const char *setup,
		     kiln_import_format fmt, json_t **out, kiln_error *err)
{
	char idbuf[64], *prompt = NULL, *p;
	size_t plen;
	json_t *t;

	if (!json_is_array(tests) || json_array_size(tests) == 0)
		return kiln_error_set(err, KILN_EPARSE,
				      "field 'test_list' must be a non-empty list");
	plen = strlen(text) + 64;
	for (size_t i = 0; i < json_array_size(tests); i++) {
		const json_t *s = json_array_get(tests, i);
		if (!json_is_string(s) ||
		    strspn(json_string_value(s), " \t\r\n") ==
		    json_string_length(s))
			return kiln_error_set(err, KILN_EPARSE,
					      "test_list[%zu] must be a "
					      "non-empty string", i);
		plen += json_string_length(s) + 1;
	}
	prompt = malloc(plen);
	if (!prompt)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	p = prompt + sprintf(prompt, "%s\nYour code should pass these tests:\n",
			     text);
	for (size_t i = 0; i < json_array_size(tests); i++)
		p += sprintf(p, "\n%s", json_string_value(json_array_get(tests,
									  i)));
	snprintf(idbuf, sizeof(idbuf), "mbpp/%" JSON_INTEGER_FORMAT,
		 json_integer_value(id));
	t = json_pack("{ss ss ss so* ss sO ss ss ss sI ss}",
		      "id", idbuf, "prompt", prompt, "language", "python",
		      "entry_point", mbpp_entry_point(tests),
		      "solution", code, "tests", tests,
		      "test_setup", setup, "origin", "human",
		      "source", kiln_import_default_source(fmt),
		      "source_id", json_integer_value(id),
		      "license", kiln_import_default_license(fmt));
	free(prompt);
	if (!t)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	*out = t;
	return 0;
}

static int import_mbpp(const json_t *in, json_t **out, kiln_error *err)
{
	const json_t *id = json_object_get(in, "task_id");
	const json_t *chal = json_object_get(in, "challenge_test_list");
	const json_t *setup_v = json_object_get(in, "test_setup_code");
	const char *text = NULL, *code = NULL, *setup = "";
	int rc;

	if (!json_is_integer(id))
		return kiln_error_set(err, KILN_EPARSE,
				      "field 'task_id' must be an integer");
	if ((rc = kiln__need_string(in, "text", &text, err)) ||
	    (rc = kiln__need_string(in, "code", &code, err)))
		return rc;
	if (setup_v && !json_is_null(setup_v)) {
		if (!json_is_string(setup_v))
			return kiln_error_set(err, KILN_EPARSE,
				"field 'test_setup_code' must be a string");
		setup = json_string_value(setup_v);
	}
	if ((rc = mbpp_task(id, text, code, json_object_get(in, "test_list"),
			    setup, KILN_IMPORT_MBPP, out, err)))
		return rc;
	if (json_is_array(chal) && json_array_size(chal) > 0 &&
	    json_object_set(*out, "challenge_tests", (json_t *)chal) != 0) {
		json_decref(*out);
		*out = NULL;
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	}
	return 0;
}

/* The sanitized MBPP: prompt (the description), code, test_list, and
 * test_imports (import lines the asserts need), which become test_setup. */
static int import_mbpp_sanitized(const json_t *in, json_t **out,
				 kiln_error *err)
{
	const json_t *id = json_object_get(in, "task_id");
	const json_t *imports = json_object_get(in, "test_imports");
	const char *text = NULL, *code = NULL;
	size_t len = 1;
	char *setup;
	int rc;

	if (!json_is_integer(id))
		return kiln_error_set(err, KILN_EPARSE,
				      "field 'task_id' must be an integer");
	if ((rc = kiln__need_string(in, "prompt", &text, err)) ||
	    (rc = kiln__need_string(in, "code", &code, err)))
		return rc;
	if (imports && !json_is_array(imports))
		return kiln_error_set(err, KILN_EPARSE,
				      "field 'test_imports' must be a list");
	for (size_t i = 0; i < json_array_size(imports); i++) {
		if (!json_is_string(json_array_get(imports, i)))
			return kiln_error_set(err, KILN_EPARSE,
					      "test_imports[%zu] must be a "
					      "string", i);
		len += json_string_length(json_array_get(imports, i)) + 1;
	}
	setup = malloc(len);
	if (!setup)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	setup[0] = '\0';
	for (size_t i = 0, k = 0; i < json_array_size(imports); i++) {
		const json_t *s = json_array_get(imports, i);
		memcpy(setup + k, json_string_value(s), json_string_length(s));
		k += json_string_length(s);
		setup[k++] = '\n';
		setup[k] = '\0';
	}
	rc = mbpp_task(id, text, code, json_object_get(in, "test_list"),
		       setup, KILN_IMPORT_MBPP_SANITIZED, out, err);
	free(setup);
	return rc;
}

/* HumanEval-X's languages, by the task_id's prefix. */
static const struct {
	const char *prefix, *language;
} hx_langs[] = {
	{ "Python/", "python" }, { "CPP/", "cpp" }, { "Go/", "go" },
	{ "Java/", "java" }, { "JavaScript/", "javascript" },
	{ "Rust/", "rust" },
};

static int is_ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '$';
}

/* Copies the identifier that ends just before end (after blanks) into
 * name; 0 if there is none. */
static int ident_before(const char *start, const char *end, char *name,
			size_t cap)
{
	const char *q;

	while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (q = end; q > start && is_ident_char(q[-1]); q--)
		;
	if (q == end || (size_t)(end - q) >= cap ||
	    isdigit((unsigned char)*q))
		return 0;
	memcpy(name, q, (size_t)(end - q));
	name[end - q] = '\0';
	return 1;
}

/* The identifier after word (a whole word) on the line [p, end). */
static int ident_after(const char *p, const char *end, const char *word,
		       char *name, size_t cap)
{
	const char *line = p;
	size_t wl = strlen(word);

	for (; p + wl < end; p++) {
		const char *q;

		if (memcmp(p, word, wl) != 0 ||
		    (p > line && is_ident_char(p[-1])) ||
		    (p[wl] != ' ' && p[wl] != '\t'))
			continue;
		q = p + wl;
		while (q < end && (*q == ' ' || *q == '\t'))
			q++;
		p = q;
		while (q < end && is_ident_char(*q))
			q++;
		return ident_before(p, q, name, cap);
	}
	return 0;
}

/* The name a C-family function header [line, end) declares: the
 * identifier before its first '(' (a Rust generic list "<'a>" between
 * them skipped); 0 for none or a control keyword (for, if, ...). */
static int header_name(const char *line, const char *end, char *name,
		       size_t cap)
{
	static const char *const keywords[] = { "for", "if", "while",
		"switch", "catch", "return", "sizeof" };
	const char *paren = memchr(line, '(', (size_t)(end - line));
	const char *q;

	if (!paren)
		return 0;
	q = paren;
	while (q > line && (q[-1] == ' ' || q[-1] == '\t'))
		q--;
	if (q > line && q[-1] == '>') {
		int depth = 0;
		do {
			q--;
			depth += *q == '>' ? 1 : *q == '<' ? -1 : 0;
		} while (q > line && depth > 0);
		if (depth)
			return 0;
	}
	if (!ident_before(line, q, name, cap))
		return 0;
	for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
		if (strcmp(name, keywords[i]) == 0)
			return 0;
	return 1;
}

/* HumanEval-X's entry point: in Python, the test's last "check(NAME)";
 * otherwise the function the declaration ends with: the last line with a
 * '(' that ends with '{' (a definition's header: CPP/38's declaration also
 * holds the helper's body), else the last line with a '(', and on it the
 * identifier before the '(' (C++, Go, Java, Rust), or for JavaScript's
 * "const NAME = (...) => {" the name after const/function. */
static int hx_entry_point(const char *lang, const char *decl,
			  const char *test, char *name, size_t cap)
{
	const char *line = NULL, *end = NULL, *any = NULL, *any_end = NULL;

	if (strcmp(lang, "python") == 0) {
		const char *c = NULL, *p;

		for (p = strstr(test, "check("); p; p = strstr(p + 1, "check("))
			if (p == test || p[-1] == '\n')
				c = p;
		if (c) {
			const char *q = strchr(c + 6, ')');
			if (q && ident_before(c + 6, q, name, cap) &&
			    c + 6 + strlen(name) == q)
				return 1;
		}
	}
	for (const char *p = decl; *p;) {
		const char *nl = strchr(p, '\n');
		const char *e = nl ? nl : p + strlen(p), *t = e;

		while (t > p && (t[-1] == ' ' || t[-1] == '\t' ||
				 t[-1] == '\r'))
			t--;
		if (memchr(p, '(', (size_t)(e - p))) {
			char tmp[128];
			any = p, any_end = e;
			if (t > p && t[-1] == '{' &&
			    (strcmp(lang, "javascript") == 0 ||
			     strcmp(lang, "python") == 0 ||
			     header_name(p, e, tmp, sizeof(tmp))))
				line = p, end = e;
		}
		p = nl ? nl + 1 : e;
	}
	if (!line)
		line = any, end = any_end;
	if (!line)
		return 0;
	if (strcmp(lang, "javascript") == 0)
		return ident_after(line, end, "const", name, cap) ||
		       ident_after(line, end, "function", name, cap) ||
		       ident_after(line, end, "let", name, cap) ||
		       ident_after(line, end, "var", name, cap);
	if (strcmp(lang, "python") == 0)
		return ident_after(line, end, "def", name, cap);
	return header_name(line, end, name, cap);
}

/* Rust: a function the canonical solution defines ("fn NAME") and the
 * test calls is the one under test (the declaration's may be a helper):
 * the last such, if any, replaces name. */
static void hx_tested_in_solution(const char *lang, const char *sol,
				  const char *test, char *name, size_t cap)
{
	char tmp[128];

	if (strcmp(lang, "rust") != 0)
		return;
	for (const char *p = sol; *p;) {
		const char *nl = strchr(p, '\n');
		const char *e = nl ? nl : p + strlen(p);
		char call[140];

		if (ident_after(p, e, "fn", tmp, sizeof(tmp)) &&
		    strlen(tmp) < cap) {
			snprintf(call, sizeof(call), "%s(", tmp);
			if (strstr(test, call))
				strcpy(name, tmp);
		}
		p = nl ? nl + 1 : e;
	}
}

/* prompt + decl without HumanEval-X's "use rand::Rng;", "use
 * regex::Regex;" and "use md5;" lines; NULL when out of memory. */
static char *rust_std_only(const char *prompt, const char *decl)
{
	static const char *const drop[] = { "use rand::Rng;\n",
					    "use regex::Regex;\n",
					    "use md5;\n" };
	char *s = kiln__concat3(prompt, decl, "");

	for (size_t i = 0; s && i < sizeof(drop) / sizeof(drop[0]); i++) {
		char *p = strstr(s + strlen(prompt), drop[i]);
		if (p)
			memmove(p, p + strlen(drop[i]),
				strlen(p + strlen(drop[i])) + 1);
	}
	return s;
}

static int import_humaneval_x(const json_t *in, json_t **out, kiln_error *err)
{
	const char *id = NULL, *prompt = NULL, *sol = NULL, *test = NULL;
	const char *decl = "", *lang = NULL, *go_setup = NULL;
	char entry[128], *solution = NULL, *full_prompt = NULL;
	char *tests = NULL, *setup = NULL;
	const json_t *v;
	json_t *t = NULL;
	int rc;

	if ((rc = kiln__need_string(in, "task_id", &id, err)) ||
	    (rc = kiln__need_string(in, "prompt", &prompt, err)) ||
	    (rc = kiln__need_string(in, "canonical_solution", &sol, err)) ||
	    (rc = kiln__need_string(in, "test", &test, err)))
		return rc;
	for (size_t i = 0; i < sizeof(hx_langs) / sizeof(hx_langs[0]); i++)
		if (strncmp(id, hx_langs[i].prefix,
			    strlen(hx_langs[i].prefix)) == 0 &&
		    id[strlen(hx_langs[i].prefix)])
			lang = hx_langs[i].language;
	if (!lang)
		return kiln_error_set(err, KILN_EPARSE,
				      "task_id '%.64s' does not start with a "
				      "HumanEval-X language (Python/, CPP/, "
				      "Go/, Java/, JavaScript/, Rust/)", id);
	v = json_object_get(in, "declaration");
	if (v && !json_is_string(v))
		return kiln_error_set(err, KILN_EPARSE,
				      "field 'declaration' is not a string");
	if (v)
		decl = json_string_value(v);
	v = json_object_get(in, "entry_point");
	if (json_is_string(v) && kiln__is_identifier(json_string_value(v)) &&
	    json_string_length(v) < sizeof(entry))
		strcpy(entry, json_string_value(v));
	else if (!hx_entry_point(lang, decl, test, entry, sizeof(entry)))
		return kiln_error_set(err, KILN_EPARSE,
				      "%s: no entry point found in the "
				      "declaration", id);
	else
		/* Rust/10, 32 and 50 declare a helper (is_palindrome_10,
		 * poly, encode_shift): the tested function is defined in
		 * the canonical solution */
		hx_tested_in_solution(lang, sol, test, entry, sizeof(entry));
	if (strcmp(lang, "go") == 0 &&
	    (rc = kiln__need_string(in, "test_setup", &go_setup, err)))
		return rc;
	/* Rust's prompt is only the doc comment: the declaration is what
	 * names the function to write, less the lines that use crates
	 * outside the standard library (rand, regex, md5: the sandbox has
	 * no crates; the few tasks that call them fail to compile, as
	 * docs/VERIFY.md names them) */
	full_prompt = strcmp(lang, "rust") == 0 ? rust_std_only(prompt, decl)
						: kiln__concat3(prompt, "", "");
	solution = full_prompt ? kiln__concat3(full_prompt, sol, "") : NULL;
	if (strcmp(lang, "python") == 0) {
		/* the test already ends with check(NAME): run as published */
		tests = kiln__concat3(test, "", "");
		setup = kiln__prompt_helpers(prompt, entry);
	} else {
		tests = kiln__concat3(test, "", "");
		setup = kiln__concat3(go_setup ? go_setup : "", "", "");
	}
	if (!solution || !tests || !setup)
		goto oom;
	t = json_pack("{ss ss ss ss ss ss ss ss ss ss}",
		      "id", id, "prompt", full_prompt, "language", lang,
		      "entry_point", entry, "solution", solution,
		      "tests", tests, "origin", "human",
		      "source", kiln_import_default_source(
				KILN_IMPORT_HUMANEVAL_X),
		      "source_id", id,
		      "license", kiln_import_default_license(
				KILN_IMPORT_HUMANEVAL_X));
	if (!t || (*setup && json_object_set_new(t, "test_setup",
						  json_string(setup)) != 0))
		goto oom;
	*out = t;
	t = NULL;
	rc = 0;
	goto out;
oom:
	rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
out:
	json_decref(t);
	free(full_prompt);
	free(solution);
	free(tests);
	free(setup);
	return rc;
}

int kiln_import_record(kiln_import_format fmt, const json_t *in,
		       json_t **task, kiln_error *err)
{
	*task = NULL;
	switch (fmt) {
	case KILN_IMPORT_HUMANEVAL:
		return import_humaneval(in, task, err);
	case KILN_IMPORT_MBPP:
		return import_mbpp(in, task, err);
	case KILN_IMPORT_HUMANEVAL_X:
		return import_humaneval_x(in, task, err);
	case KILN_IMPORT_MBPP_SANITIZED:
		return import_mbpp_sanitized(in, task, err);
	case KILN_IMPORT_EVALPLUS:
		return kiln__import_evalplus_record(in, task, err);
	}
	return kiln_error_set(err, KILN_EINVAL, "unknown import format");
}
