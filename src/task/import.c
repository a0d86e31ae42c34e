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
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/task.h"

int kiln_import_format_parse(const char *name, kiln_import_format *fmt,
			     kiln_error *err)
{
	if (strcmp(name, "humaneval") == 0)
		*fmt = KILN_IMPORT_HUMANEVAL;
	else if (strcmp(name, "mbpp") == 0)
		*fmt = KILN_IMPORT_MBPP;
	else
		return kiln_error_set(err, KILN_EINVAL,
				      "unknown format '%s' (known: humaneval, "
				      "mbpp)", name);
	return 0;
}

static int need_string(const json_t *in, const char *key, const char **out,
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

static char *concat(const char *a, const char *b, const char *c)
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

static int is_identifier(const char *s)
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
static char *prompt_helpers(const char *prompt, const char *entry)
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

	if ((rc = need_string(in, "task_id", &id, err)) ||
	    (rc = need_string(in, "prompt", &prompt, err)) ||
	    (rc = need_string(in, "canonical_solution", &sol, err)) ||
	    (rc = need_string(in, "test", &test, err)) ||
	    (rc = need_string(in, "entry_point", &entry, err)))
		return rc;
	/* The task_id becomes the task's id, which joins candidates and
	 * results to their task: an empty one would make an id-less task. */
	if (!*id)
		return kiln_error_set(err, KILN_EPARSE,
				      "field 'task_id' is empty");
	if (!is_identifier(entry))
		return kiln_error_set(err, KILN_EPARSE,
				      "entry_point '%.64s' is not an identifier",
				      entry);
	solution = concat(prompt, sol, "");
	call = concat("\n\ncheck(", entry, ")\n");
	tests = call ? concat(test, call, "") : NULL;
	setup = prompt_helpers(prompt, entry);
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

static int import_mbpp(const json_t *in, json_t **out, kiln_error *err)
{
	const json_t *id = json_object_get(in, "task_id");
	const json_t *tests = json_object_get(in, "test_list");
	const json_t *chal = json_object_get(in, "challenge_test_list");
	const json_t *setup_v = json_object_get(in, "test_setup_code");
	const char *text = NULL, *code = NULL, *setup = "";
	char idbuf[64], *prompt = NULL, *p;
	size_t plen;
	json_t *t;
	int rc;

	if (!json_is_integer(id))
		return kiln_error_set(err, KILN_EPARSE,
				      "field 'task_id' must be an integer");
	if ((rc = need_string(in, "text", &text, err)) ||
	    (rc = need_string(in, "code", &code, err)))
		return rc;
	if (setup_v && !json_is_null(setup_v)) {
		if (!json_is_string(setup_v))
			return kiln_error_set(err, KILN_EPARSE,
				"field 'test_setup_code' must be a string");
		setup = json_string_value(setup_v);
	}
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
		      "source", "mbpp", "source_id", json_integer_value(id),
		      "license", "CC-BY-4.0");
	free(prompt);
	if (!t)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	if (json_is_array(chal) && json_array_size(chal) > 0)
		json_object_set(t, "challenge_tests", (json_t *)chal);
	*out = t;
	return 0;
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
	}
	return kiln_error_set(err, KILN_EINVAL, "unknown import format");
}
