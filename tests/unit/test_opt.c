/* Options as data (kiln/opt.h): flags and JSON objects through one table,
 * every kind's checks, and the usage block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/opt.h"

struct inner {
	long timeout_ms;
	long long memory;
};

struct opts {
	int flag, jobs, mode, n, nks, nstr;
	long long seed;
	uint64_t useed;
	double temp, top_p;
	const char *path, *name;
	int ks[4];
	const char *strs[3];
	struct inner in;
};

static const char *const modes[] = { "stop", "skip", NULL };

#define O struct opts
static const kiln_opt inner_opts[] = {
	KILN_OPT_ROW_DURATION("timeout", 0, struct inner, timeout_ms, 1,
			      86400000, "per test"),
	KILN_OPT_ROW_SIZE("memory", 0, struct inner, memory, 0, 1LL << 40,
			  "address space; 0 = no limit"),
	KILN_OPT_ROW_END,
};

static const kiln_opt table[] = {
	KILN_OPT_ROW_FLAG("cold", 'C', O, flag, "a flag"),
	KILN_OPT_ROW_INT("jobs", 'j', O, jobs, 1, 1024, "N", "parallel"),
	KILN_OPT_ROW_INT("seed", 's', O, seed, 0, (1LL << 53) - 1, "S", "seed"),
	KILN_OPT_ROW_INT("useed", 0, O, useed, 0, INT64_MAX, "S", "unsigned"),
	KILN_OPT_ROW_DOUBLE("temperature", 't', O, temp, 0, 2, "T", "temp"),
	{ .name = "top-p", .kind = KILN_OPT_DOUBLE, KILN_OPT_F_(O, top_p),
	  .dlo = 0, .dhi = 1, .flags = KILN_OPT_LO_OPEN, .arg = "P",
	  .help = "nucleus" },
	KILN_OPT_ROW_ENUM("on-error", 0, O, mode, modes, NULL, "mode"),
	KILN_OPT_ROW_PATH("output", 'o', O, path, "FILE", "where"),
	KILN_OPT_ROW_STRING("model", 'm', O, name, "NAME", "any text"),
	KILN_OPT_ROW_LIST("pass-at", 'k', O, ks, nks, 1, 100, "LIST", "ks"),
	KILN_OPT_ROW_STRINGS("stop", 0, O, strs, nstr, "S", "stops"),
	KILN_OPT_ROW_INCLUDE(O, in, inner_opts),
	{ .name = "quiet", .short_name = 'q', .kind = KILN_OPT_FLAG,
	  KILN_OPT_F_(O, n), .flags = KILN_OPT_NO_JSON, .def = "",
	  .help = "cli only" },
	{ .name = "n", .kind = KILN_OPT_INT, .flags = KILN_OPT_HIDDEN,
	  KILN_OPT_F_(O, jobs), .lo = 1, .hi = 1024, .help = "alias" },
	KILN_OPT_ROW_END,
};
#undef O

static void defaults(struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->jobs = 4;
	o->temp = 0.8;
	o->top_p = 0.95;
	o->in.timeout_ms = 5000;
	o->in.memory = 512LL << 20;
	o->ks[0] = 1;
	o->nks = 1;
}

/* Parses a NULL-terminated argument list; returns the rc, err filled. */
static int parse(struct opts *o, kiln_error *err, int *npos, char **args)
{
	static char *argv[32];
	int argc = 1;

	argv[0] = "test";
	while (*args)
		argv[argc++] = *args++;
	argv[argc] = NULL;
	defaults(o);
	return kiln_opts_parse(table, argc, argv, o, npos, err);
}

#define PARSE(o, err, npos, ...) \
	parse(o, err, npos, (char *[]){ __VA_ARGS__, NULL })

static void flags_fill_the_struct(void **state)
{
	struct opts o;
	kiln_error err;
	int npos;
	char *argv[] = { "test", "in.jsonl", "-j", "8", "--seed=42", "-qC",
			 "--temperature", "0", "--top-p", "1", "--on-error",
			 "skip", "-oout.jsonl", "-k", "1,10,100", "--stop", "a",
			 "--stop", "b", "--timeout", "200ms", "--memory", "0",
			 "--", "-x", NULL };

	(void)state;
	defaults(&o);
	assert_int_equal(kiln_opts_parse(table, 25, argv, &o, &npos, &err), 0);
	assert_int_equal(o.jobs, 8);
	assert_int_equal(o.seed, 42);
	assert_int_equal(o.flag, 1);
	assert_int_equal(o.n, 1);
	assert_true(o.temp == 0.0 && o.top_p == 1.0);
	assert_int_equal(o.mode, 1);
	assert_string_equal(o.path, "out.jsonl");
	assert_int_equal(o.nks, 3);
	assert_int_equal(o.ks[2], 100);
	assert_int_equal(o.nstr, 2);
	assert_string_equal(o.strs[1], "b");
	assert_int_equal(o.in.timeout_ms, 200);
	assert_int_equal(o.in.memory, 0);
	/* operands, in order, at the front; "--" ends the options */
	assert_int_equal(npos, 2);
	assert_string_equal(argv[1], "in.jsonl");
	assert_string_equal(argv[2], "-x");
}

static void prefixes_aliases_and_help(void **state)
{
	struct opts o;
	kiln_error err;
	int npos;

	(void)state;
	assert_int_equal(PARSE(&o, &err, &npos, "--temp", "1.5"), 0);
	assert_true(o.temp == 1.5);
	assert_int_equal(PARSE(&o, &err, &npos, "--n", "3"), 0);
	assert_int_equal(o.jobs, 3);
	assert_int_equal(PARSE(&o, &err, &npos, "--s", "3"), KILN_EINVAL);
	assert_string_equal(err.msg, "ambiguous option '--s': --seed, --stop");
	assert_int_equal(PARSE(&o, &err, &npos, "--frob"), KILN_EINVAL);
	assert_string_equal(err.msg, "unknown option '--frob'");
	assert_int_equal(PARSE(&o, &err, &npos, "-Z"), KILN_EINVAL);
	assert_string_equal(err.msg, "unknown option '-Z'");
	assert_int_equal(PARSE(&o, &err, &npos, "-j"), KILN_EINVAL);
	assert_string_equal(err.msg, "-j (--jobs) needs a value (N)");
	assert_int_equal(PARSE(&o, &err, &npos, "--cold=1"), KILN_EINVAL);
	assert_int_equal(PARSE(&o, &err, &npos, "x", "--help"),
			 KILN_OPTS_HELP);
	assert_int_equal(PARSE(&o, &err, &npos, "-h"), KILN_OPTS_HELP);
	/* a value that starts with '-' is still the option's value */
	assert_int_equal(PARSE(&o, &err, &npos, "--temperature", "-1"),
			 KILN_EINVAL);
	assert_string_equal(err.msg,
			    "--temperature: -1 is out of range [0, 2]");
	/* "-" alone is an operand (standard input) */
	assert_int_equal(PARSE(&o, &err, &npos, "-"), 0);
	assert_int_equal(npos, 1);
}

/* Every kind's range error names the option and the range. */
static void flag_errors_name_option_and_range(void **state)
{
	static const struct {
		const char *flag, *value, *msg;
	} cases[] = {
		{ "--jobs", "0", "--jobs: 0 is out of range [1, 1024]" },
		{ "--jobs", "2x", "--jobs: '2x' is not an integer" },
		{ "--jobs", "", "--jobs: '' is not an integer" },
		{ "--jobs", "99999999999", "--jobs: 99999999999 is out of "
		  "range [1, 1024]" },
		/* overflow is an error, never clamped */
		{ "--seed", "99999999999999999999", "--seed: "
		  "99999999999999999999 is out of range [0, 9007199254740991]" },
		{ "--seed", "-1", "--seed: -1 is out of range "
		  "[0, 9007199254740991]" },
		{ "--useed", "9223372036854775808", "--useed: "
		  "9223372036854775808 is out of range "
		  "[0, 9223372036854775807]" },
		{ "--temperature", "nan", "--temperature: nan is out of "
		  "range [0, 2]" },
		{ "--temperature", "inf", "--temperature: inf is out of "
		  "range [0, 2]" },
		{ "--temperature", "-inf", "--temperature: -inf is out of "
		  "range [0, 2]" },
		{ "--temperature", "1e400", "--temperature: 1e400 is out of "
		  "range [0, 2]" },
		{ "--temperature", "2.0000001", "--temperature: 2.0000001 is "
		  "out of range [0, 2]" },
		{ "--temperature", "hot", "--temperature: 'hot' is not a "
		  "number" },
		{ "--top-p", "0", "--top-p: 0 is out of range (0, 1]" },
		{ "--timeout", "0", "--timeout: 0 is out of range [1ms, 24h]" },
		{ "--timeout", "25h", "--timeout: 25h is out of range "
		  "[1ms, 24h]" },
		{ "--timeout", "inf", "--timeout: inf is out of range "
		  "[1ms, 24h]" },
		{ "--timeout", "soon", "--timeout: 'soon' is not a duration "
		  "(e.g. 5s, 200ms, 2m)" },
		{ "--timeout", "-5s", "--timeout: '-5s' is not a duration "
		  "(e.g. 5s, 200ms, 2m)" },
		{ "--memory", "2T", "--memory: 2T is out of range [0, 1T]" },
		{ "--memory", "99999999999999999999G", "--memory: "
		  "99999999999999999999G is out of range [0, 1T]" },
		{ "--memory", "0.4", "--memory: '0.4' is not a whole number "
		  "of bytes" },
		{ "--memory", "5X", "--memory: '5X' is not a size (e.g. 512M, "
		  "64k, 1G)" },
		{ "--on-error", "maybe", "--on-error: 'maybe' is not one of "
		  "stop, skip" },
		{ "--output", "", "--output: an empty name" },
		{ "--pass-at", "0", "--pass-at: 0 is out of range [1, 100]" },
		{ "--pass-at", "1,2,3,4,5", "--pass-at: more than 4 values" },
		{ "--pass-at", "1,", "--pass-at: '1,' ends with a comma" },
		{ "--pass-at", "1,,2", "--pass-at: '1,,2' is not a list of "
		  "integers (e.g. 1,10)" },
		{ "--pass-at", "", "--pass-at: an empty list" },
		{ "--stop", "", "--stop: an empty value" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct opts o;
		kiln_error err = { 0, "" };
		int npos;

		assert_int_equal(PARSE(&o, &err, &npos, (char *)cases[i].flag,
				       (char *)cases[i].value), KILN_EINVAL);
		if (strcmp(err.msg, cases[i].msg))
			fail_msg("%s %s: got '%s', want '%s'", cases[i].flag,
				 cases[i].value, err.msg, cases[i].msg);
	}
}

static void repeated_strings_have_a_cap(void **state)
{
	struct opts o;
	kiln_error err;
	int npos;

	(void)state;
	assert_int_equal(PARSE(&o, &err, &npos, "--stop", "a", "--stop", "b",
			       "--stop", "c", "--stop", "d"), KILN_EINVAL);
	assert_string_equal(err.msg, "--stop: at most 3 values");
}

static int from_json(struct opts *o, const char *text, kiln_error *err)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);
	int rc;

	if (!j)
		fail_msg("bad test JSON %s: %s", text, jerr.text);
	defaults(o);
	rc = kiln_opts_from_json(table, j, o, err);
	json_decref(j);
	return rc;
}

static void json_fills_the_struct(void **state)
{
	struct opts o;
	kiln_error err;
	json_t *j;

	(void)state;
	/* strings are borrowed from the object: keep it while using o */
	j = json_loads("{\"jobs\": 8, \"seed\": 7, \"cold\": true, "
		       "\"temperature\": 0, \"top_p\": 0.5, \"on-error\": "
		       "\"skip\", \"output\": \"o.jsonl\", \"pass_at\": "
		       "[1, 10], \"stop\": [\"x\", \"y\"], \"timeout\": 1.5, "
		       "\"memory\": \"1G\", \"model\": \"m\"}", 0, NULL);
	assert_non_null(j);
	defaults(&o);
	assert_int_equal(kiln_opts_from_json(table, j, &o, &err), 0);
	assert_int_equal(o.jobs, 8);
	assert_int_equal(o.seed, 7);
	assert_int_equal(o.flag, 1);
	assert_true(o.temp == 0.0 && o.top_p == 0.5);
	assert_int_equal(o.mode, 1);
	assert_string_equal(o.path, "o.jsonl");
	assert_int_equal(o.nks, 2);
	assert_int_equal(o.ks[1], 10);
	assert_int_equal(o.nstr, 2);
	assert_string_equal(o.strs[0], "x");
	assert_int_equal(o.in.timeout_ms, 1500);  /* seconds, as the flag */
	assert_int_equal(o.in.memory, 1LL << 30);
	assert_string_equal(o.name, "m");
	json_decref(j);

	/* other spellings the flags accept: a list as text, bytes, "200ms" */
	assert_int_equal(from_json(&o, "{\"pass-at\": \"1,5\", \"memory\": "
				   "4096, \"timeout\": \"200ms\", \"cold\": "
				   "false}", &err), 0);
	assert_int_equal(o.nks, 2);
	assert_int_equal(o.ks[1], 5);
	assert_int_equal(o.in.memory, 4096);
	assert_int_equal(o.in.timeout_ms, 200);
	assert_int_equal(o.flag, 0);
}

/* The same checks and the same words as the flags, the key in quotes. */
static void json_errors_read_like_flag_errors(void **state)
{
	static const struct {
		const char *json, *msg;
	} cases[] = {
		{ "{\"temperature\": -1}",
		  "\"temperature\": -1 is out of range [0, 2]" },
		{ "{\"temperature\": 1e300}",
		  "\"temperature\": 1e+300 is out of range [0, 2]" },
		{ "{\"temperature\": 2.0000001}",
		  "\"temperature\": 2.0000001 is out of range [0, 2]" },
		{ "{\"top_p\": 0}", "\"top_p\": 0 is out of range (0, 1]" },
		{ "{\"jobs\": 0}", "\"jobs\": 0 is out of range [1, 1024]" },
		{ "{\"seed\": 9007199254740992}", "\"seed\": 9007199254740992 "
		  "is out of range [0, 9007199254740991]" },
		{ "{\"timeout\": 0}", "\"timeout\": 0 is out of range "
		  "[1ms, 24h]" },
		{ "{\"timeout\": \"soon\"}", "\"timeout\": 'soon' is not a "
		  "duration (e.g. 5s, 200ms, 2m)" },
		{ "{\"memory\": \"2T\"}", "\"memory\": 2T is out of range "
		  "[0, 1T]" },
		{ "{\"memory\": -1}", "\"memory\": '-1' is not a size (e.g. "
		  "512M, 64k, 1G)" },
		{ "{\"on_error\": \"maybe\"}", "\"on_error\": 'maybe' is not "
		  "one of stop, skip" },
		{ "{\"pass_at\": [1, 0]}", "\"pass_at\": 0 is out of range "
		  "[1, 100]" },
		{ "{\"pass_at\": []}", "\"pass_at\": an empty list" },
		{ "{\"output\": \"\"}", "\"output\": an empty name" },
		/* unknown keys, and the command line's own options */
		{ "{\"frobnicate\": 1}", "\"frobnicate\": unknown option" },
		{ "{\"quiet\": true}", "\"quiet\": unknown option" },
		{ "{\"n\": 2}", "\"n\": unknown option" }, /* an old alias */
		/* wrong JSON types */
		{ "{\"jobs\": \"8\"}", "\"jobs\": expected an integer, got a "
		  "string" },
		{ "{\"jobs\": 8.5}", "\"jobs\": expected an integer, got a "
		  "real number" },
		{ "{\"temperature\": \"0.5\"}", "\"temperature\": expected a "
		  "number, got a string" },
		{ "{\"cold\": 1}", "\"cold\": expected true or false, got an "
		  "integer" },
		{ "{\"output\": null}", "\"output\": expected a string, got "
		  "null" },
		{ "{\"on-error\": 1}", "\"on-error\": expected a string, got "
		  "an integer" },
		{ "{\"pass_at\": [\"1\"]}", "\"pass_at\": expected an array of "
		  "integers, got a string" },
		{ "{\"pass_at\": {}}", "\"pass_at\": expected an array of "
		  "integers, got an object" },
		{ "{\"stop\": [1]}", "\"stop\": expected an array of strings, "
		  "got an integer" },
		{ "{\"memory\": 1.5}", "\"memory\": expected bytes (an integer) "
		  "or a size such as \"512M\", got a real number" },
		{ "{\"timeout\": true}", "\"timeout\": expected seconds or a "
		  "duration such as \"200ms\", got a boolean" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct opts o;
		kiln_error err = { 0, "" };

		assert_int_equal(from_json(&o, cases[i].json, &err),
				 KILN_EINVAL);
		if (strcmp(err.msg, cases[i].msg))
			fail_msg("%s: got '%s', want '%s'", cases[i].json,
				 err.msg, cases[i].msg);
	}
	{
		struct opts o;
		kiln_error err;
		json_t *a = json_array();

		assert_int_equal(kiln_opts_from_json(table, a, &o, &err),
				 KILN_EINVAL);
		assert_string_equal(err.msg, "options: expected an object, "
				    "got an array");
		json_decref(a);
	}
}

static void usage_is_generated_from_the_table(void **state)
{
	struct opts o;
	char *text = NULL, *flat;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	(void)state;
	assert_non_null(f);
	defaults(&o);
	kiln_opts_usage(table, &o, f);
	fclose(f);
	/* the row, its range and its default, from the struct */
	assert_non_null(strstr(text, "  -j, --jobs N             parallel "
				     "(default 4; range [1, 1024])\n"));
	flat = strdup(text);
	assert_non_null(flat);
	for (char *p = flat, *q = flat;; ) { /* wrapped lines joined */
		if (*p == '\n' && p[1] == ' ') {
			*q++ = ' ';
			p += strspn(p + 1, " ") + 1;
			continue;
		}
		if (!(*q++ = *p++))
			break;
	}
	assert_non_null(strstr(flat, "(default 0.8; range [0, 2])"));
	assert_non_null(strstr(flat, "(default 0.95; range (0, 1])"));
	assert_non_null(strstr(flat, "--on-error stop|skip"));
	assert_non_null(strstr(flat, "(default 5s; range [1ms, 24h])"));
	assert_non_null(strstr(flat, "0 = no limit (default 512M; range "
				     "[0, 1T])"));
	assert_non_null(strstr(flat, "(default 1; each in [1, 100])"));
	free(flat);
	assert_null(strstr(text, "--help"));  /* the caller's to add */
	/* hidden aliases are parsed, not shown */
	assert_null(strstr(text, "--n "));
	{       /* every line fits 79 columns */
		char *line = text, *nl;
		while ((nl = strchr(line, '\n'))) {
			assert_true(nl - line <= 79);
			line = nl + 1;
		}
	}
	free(text);
}

/* kiln_opts_to_json gives what kiln_opts_from_json reads back to the same
 * options: a worker gets exactly what the flags said. */
static void json_round_trip(void **state)
{
	struct opts a, b;
	kiln_error err;
	json_t *j = NULL;
	int npos;

	(void)state;
	assert_int_equal(PARSE(&a, &err, &npos, "-j", "8", "--seed",
			       "9007199254740991", "-C", "-t", "0.3",
			       "--top-p", "0.1", "--on-error", "skip", "-o",
			       "x", "-k", "2,7", "--stop", "a", "--stop", "b",
			       "--timeout", "1.5", "--memory", "1536"), 0);
	assert_int_equal(kiln_opts_to_json(table, &a, &j, &err), 0);
	assert_null(json_object_get(j, "quiet"));  /* not a JSON option */
	assert_null(json_object_get(j, "n"));      /* a hidden alias */
	assert_string_equal(json_string_value(json_object_get(j, "timeout")),
			    "1500ms");
	assert_string_equal(json_string_value(json_object_get(j, "memory")),
			    "1536");
	defaults(&b);
	assert_int_equal(kiln_opts_from_json(table, j, &b, &err), 0);
	/* every field the same (strings by value: b's point into j) */
	a.n = b.n = 0;                             /* --quiet stays behind */
	assert_string_equal(b.path, a.path);
	for (int i = 0; i < a.nstr; i++)
		assert_string_equal(b.strs[i], a.strs[i]);
	b.path = a.path;
	memcpy(b.strs, a.strs, sizeof b.strs);
	assert_memory_equal(&a, &b, sizeof a);
	json_decref(j);

	/* a field outside its row's range is an unset default: left out */
	defaults(&a);
	a.jobs = 0;
	a.top_p = 0;
	assert_int_equal(kiln_opts_to_json(table, &a, &j, &err), 0);
	assert_null(json_object_get(j, "jobs"));
	assert_null(json_object_get(j, "top-p"));
	assert_null(json_object_get(j, "output"));  /* NULL */
	defaults(&b);
	assert_int_equal(kiln_opts_from_json(table, j, &b, &err), 0);
	json_decref(j);
}

static void set_by_name_and_parsers(void **state)
{
	struct opts o;
	kiln_error err;
	kiln_opt row;

	(void)state;
	defaults(&o);
	assert_int_equal(kiln_opts_set(table, "timeout", "2m", &o, &err), 0);
	assert_int_equal(o.in.timeout_ms, 120000);
	assert_int_equal(kiln_opts_find(table, "memory", &row), 0);
	assert_int_equal(row.off, offsetof(struct opts, in.memory));
	assert_int_equal(kiln_opts_find(table, "nope", &row), KILN_EINVAL);
	assert_int_equal(kiln_parse_size("512M"), 512LL << 20);
	assert_int_equal(kiln_parse_size("1.5k"), 1536);
	assert_int_equal(kiln_parse_size("-1"), -1);
	assert_int_equal(kiln_parse_size("nan"), -1);
	assert_int_equal(kiln_parse_duration_ms("1.5"), 1500);
	assert_int_equal(kiln_parse_duration_ms("200ms"), 200);
	assert_int_equal(kiln_parse_duration_ms("inf"), -1);
	assert_int_equal(kiln_parse_duration_ms("5 s"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(flags_fill_the_struct),
		cmocka_unit_test(prefixes_aliases_and_help),
		cmocka_unit_test(flag_errors_name_option_and_range),
		cmocka_unit_test(repeated_strings_have_a_cap),
		cmocka_unit_test(json_fills_the_struct),
		cmocka_unit_test(json_errors_read_like_flag_errors),
		cmocka_unit_test(usage_is_generated_from_the_table),
		cmocka_unit_test(json_round_trip),
		cmocka_unit_test(set_by_name_and_parsers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
