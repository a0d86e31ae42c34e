/* kiln languages: the sandbox's languages, each with its toolchain's
 * version and whether a probe program builds and passes in the box. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "kiln/code.h"
#include "kiln/sandbox.h"

struct languages_args {
	int json;
};

#define A struct languages_args
static const kiln_opt languages_opts[] = {
	KILN_OPT_ROW_FLAG("json", 0, A, json,
		"one JSON object a language: language, version, ok, status, "
		"detail, seconds"),
	KILN_OPT_ROW_END,
};
#undef A

/* Runs lang's probe in box: "pass", or the verdict's status and detail. */
static int probe(kiln_box *box, const char *lang, char *status, size_t sn,
		 char *detail, size_t dn, kiln_error *err)
{
	const char *sol, *test;
	kiln_job job;
	json_t *res = NULL;
	const json_t *t;
	int rc;

	if (kiln_lang_probe(lang, &sol, &test))
		return kiln_error_set(err, KILN_EINVAL, "unknown language");
	memset(&job, 0, sizeof(job));
	job.language = lang;
	job.solution = sol;
	job.tests = &test;
	job.ntests = 1;
	rc = kiln_box_run(box, &job, &res, err);
	if (rc)
		return rc;
	snprintf(status, sn, "%s",
		 json_string_value(json_object_get(res, "status")) ?
		 json_string_value(json_object_get(res, "status")) : "?");
	t = json_array_get(json_object_get(res, "tests"), 0);
	snprintf(detail, dn, "%s", json_string_value(json_object_get(
		 t, "detail")) ? json_string_value(json_object_get(t, "detail"))
		 : "");
	if (!detail[0] && strcmp(status, "pass") != 0)
		snprintf(detail, dn, "%s", json_string_value(json_object_get(
			 res, "stderr")) ? json_string_value(json_object_get(
			 res, "stderr")) : "");
	/* one line */
	detail[strcspn(detail, "\n")] = 0;
	json_decref(res);
	return 0;
}

static int run_languages(int argc, char **argv)
{
	struct languages_args a;
	kiln_box_config cfg;
	kiln_box *box = NULL;
	kiln_error err;
	int rc, npos, failed = 0;
	size_t n;

	memset(&a, 0, sizeof(a));
	if ((rc = cli_parse(&cli_languages, argc, argv, &a, sizeof a,
			    &npos)) != CLI_GO)
		return rc;
	for (int i = 1; i <= npos; i++)
		if (!kiln_lang_known(argv[i])) {
			cli_error("languages", "unknown language '%s' "
				  "(known: %s)", argv[i], kiln_lang_list());
			return 2;
		}
	memset(&cfg, 0, sizeof(cfg));
	kiln_limits_default(&cfg.limits);
	cfg.limits.timeout_ms = 10000;
	if (kiln_box_open(&box, &cfg, &err)) {
		cli_error("languages", "%s", err.msg);
		return 1;
	}
	n = npos ? (size_t)npos : kiln_lang_count();
	for (size_t i = 0; i < n; i++) {
		const char *lang = npos ? kiln_lang_canonical(argv[i + 1])
				       : kiln_lang_name(i);
		char version[256], status[32], detail[512];
		struct timespec t0, t1;
		int ok;

		status[0] = detail[0] = 0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (kiln_lang_version(lang, version, sizeof(version), &err)) {
			snprintf(status, sizeof(status), "missing");
			snprintf(detail, sizeof(detail), "%s", err.msg);
			version[0] = 0;
		} else if (probe(box, lang, status, sizeof(status), detail,
				 sizeof(detail), &err)) {
			snprintf(status, sizeof(status), "sandbox_error");
			snprintf(detail, sizeof(detail), "%s", err.msg);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ok = strcmp(status, "pass") == 0;
		failed += !ok;
		if (a.json) {
			json_t *o = json_pack("{ss ss sb ss ss sf}", "language",
				lang, "version", version, "ok", ok, "status",
				status, "detail", detail, "seconds",
				(double)(t1.tv_sec - t0.tv_sec) +
				(t1.tv_nsec - t0.tv_nsec) / 1e9);
			if (cli_print_json("languages", o, JSON_COMPACT)) {
				json_decref(o);
				kiln_box_close(box);
				return 1;
			}
			json_decref(o);
		} else {
			printf("%-7s %-5s %s%s%s\n", lang, ok ? "ok" : status,
			       version[0] ? version : "-", ok ? "" : ": ",
			       ok ? "" : detail);
			fflush(stdout);
		}
	}
	kiln_box_close(box);
	return failed ? 1 : 0;
}

const cli_cmd cli_languages = {
	.name = "languages",
	.summary = "the sandbox's languages: toolchain versions, a probe each",
	.run = run_languages,
	.opts = languages_opts,
	.synopsis = "usage: kiln languages [--json] [LANGUAGE...]",
	.about =
"Lists the sandbox's languages (all, or the ones named), each with its\n"
"toolchain's version and whether a probe program (a solution and one test)\n"
"builds and passes in the box, with the box's default limits. Exits 1 if\n"
"any language listed fails (a toolchain missing, a probe that does not\n"
"pass), 2 for an unknown language. Toolchains: scripts/install-deps.sh.\n",
	.after =
"Example:\n"
"  kiln languages            # every language\n"
"  kiln languages --json go rust\n",
};
