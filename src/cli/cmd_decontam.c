#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kiln/decontam.h"

#define MAX_AGAINST 64

struct decontam_args {
	kiln_decontam_opts d;
	struct cli_curate io;
	const char *against[MAX_AGAINST];
	int nagainst;
	const char *allow[8];
	int nallow;
};

#define A struct decontam_args

static const kiln_opt decontam_opts[] = {
	CLI_CURATE_OPTS(A, io),
	KILN_OPT_ROW_STRINGS("against", 'a', A, against, nagainst,
		"[NAME=]FILE",
		"a benchmark to check against (repeatable; at least one): "
		"task JSON Lines, gzip or not, or one JSON array, in kiln's, "
		"HumanEval's, MBPP's, HumanEval+'s or HumanEval-X's format; "
		"NAME defaults to the file's name without .gz/.jsonl/.json"),
	KILN_OPT_ROW_STRINGS("allow", 0, A, allow, nallow, "FILE",
		"records (same formats) whose n-grams never count"),
	KILN_OPT_ROW_GROUP("matching"),
	KILN_OPT_ROW_INT("ngram", 'n', A, d.ngram, 4, 64, "N",
		"tokens an n-gram (of the normalised stream)"),
	KILN_OPT_ROW_INT("min-ngrams", 0, A, d.min_ngrams, 1, 1000000, "N",
		"flag a record that shares N n-grams with one item"),
	KILN_OPT_ROW_INT("min-shared", 0, A, d.min_shared, 1, 1000000, "N",
		"... or shares N that are --min-coverage of the item's "
		"n-grams or of the record's"),
	KILN_OPT_ROW_DOUBLE("min-coverage", 0, A, d.min_coverage, 0, 1, "F",
		"the share of the item's (or the record's) n-grams that, "
		"with --min-shared, flags"),
	KILN_OPT_ROW_GROUP("allow-list (n-grams that never count)"),
	KILN_OPT_ROW_INT("common", 0, A, d.common, 2, 1000000, "N",
		"an n-gram in N items of one benchmark is boilerplate"),
	KILN_OPT_ROW_INT("min-content", 0, A, d.min_content, 0, 64, "N",
		"an n-gram with fewer than N content tokens (words, numbers, "
		"keywords, builtins, attributes; not names or punctuation) is "
		"trivial code"),
	CLI_OPT_ON_ERROR(A, d.skip_bad),
	KILN_OPT_ROW_END,
};
#undef A

static void on_bad_line(void *ctx, const kiln_error *err)
{
	(void)ctx;
	cli_error("decontam", "%s (skipped)", err->msg);
}

static int run_decontam(int argc, char **argv)
{
	struct decontam_args a;
	kiln_decontam_index *ix = NULL;
	kiln_stage_stats st;
	kiln_error err;
	int rc, npos;

	memset(&a, 0, sizeof a);
	kiln_decontam_opts_default(&a.d);
	if ((rc = cli_parse(&cli_decontam, argc, argv, &a, sizeof a, &npos)) !=
	    CLI_GO)
		return rc;
	if (!a.nagainst) {
		cli_error("decontam", "--against FILE is required");
		return 2;
	}
	if (a.d.min_content > a.d.ngram) {
		cli_error("decontam", "--min-content %d is more than --ngram "
			  "%d", a.d.min_content, a.d.ngram);
		return 2;
	}
	a.d.bad_line = on_bad_line;
	for (int i = 0; i < a.nagainst; i++)
		if (kiln_output_check_distinct(a.io.output, a.against[i],
					       "--against", &err) ||
		    kiln_output_check_distinct(a.io.dropped_path, a.against[i],
					       "--against", &err)) {
			cli_error("decontam", "%s", err.msg);
			return 2;
		}
	if (kiln_decontam_index_new(&ix, &a.d, &err)) {
		cli_error("decontam", "%s", err.msg);
		return 2;
	}
	for (int i = 0; i < a.nagainst; i++) {
		const char *spec = a.against[i], *eq = strchr(spec, '=');
		const char *path = spec;
		char name[256] = "";

		/* NAME=FILE, where NAME has no '/' */
		if (eq && eq > spec && !memchr(spec, '/', (size_t)(eq - spec)) &&
		    eq - spec < (long)sizeof name) {
			memcpy(name, spec, (size_t)(eq - spec));
			name[eq - spec] = '\0';
			path = eq + 1;
		}
		if (kiln_decontam_index_add_file(ix, path, name, &err)) {
			cli_error("decontam", "--against: %s", err.msg);
			kiln_decontam_index_free(ix);
			return 1;
		}
	}
	for (int i = 0; i < a.nallow; i++)
		if (kiln_decontam_index_allow_file(ix, a.allow[i], &err)) {
			cli_error("decontam", "--allow: %s", err.msg);
			kiln_decontam_index_free(ix);
			return 1;
		}
	if (kiln_decontam_index_build(ix, &err)) {
		cli_error("decontam", "%s", err.msg);
		kiln_decontam_index_free(ix);
		return 1;
	}
	if ((rc = cli_curate_open("decontam", &a.io, npos, argv + 1))) {
		kiln_decontam_index_free(ix);
		return rc;
	}
	rc = kiln_decontam(ix, a.io.in, a.io.nin, a.io.out, a.io.dropped, &st,
			   &err);
	rc = cli_curate_finish("decontam", &a.io, rc, &err, &st);
	kiln_stage_stats_free(&st);
	kiln_decontam_index_free(ix);
	return rc;
}

const cli_cmd cli_decontam = {
	.name = "decontam", .run = run_decontam, .opts = decontam_opts,
	.summary = "drop samples that overlap a benchmark (n-grams)",
	.synopsis = "usage: kiln decontam --against FILE... [options] "
		    "[FILE...|-]",
	.about =
"Reads records (JSON Lines: tasks, candidates, verdicts, samples) and drops\n"
"those whose text overlaps an item of a benchmark. Each record and each\n"
"benchmark item becomes one normalised token stream: the prose fields\n"
"(prompt, text, docstring, description, question) as lower-case words, then\n"
"the code fields (declaration, solution, canonical_solution, code,\n"
"completion, test_setup, tests, test, test_list, challenge_test_list,\n"
"example_test ...) with names replaced by one placeholder (keywords,\n"
"builtins and attribute names kept), strings and comments as words, and no\n"
"white space at all. So a leak is found verbatim, with identifiers\n"
"renamed, with its prompt re-wrapped or its code re-laid-out. The n-grams\n"
"of the whole stream (across lines and fields) are matched against every\n"
"item's.\n"
"\n"
"A record is dropped (reason 'contaminated') when it shares --min-ngrams\n"
"counted n-grams with one item, or --min-shared that are --min-coverage of\n"
"the item's n-grams or of the record's. The dropped row and its 'decontam' field name the benchmark,\n"
"the item's id, the shared n-grams and the coverage (and, under 'also',\n"
"the best item of every other benchmark that flags it). Kept records get\n"
"\"decontam\": {\"ngrams\": N, \"nearest\": {...}} (the closest item, if any).\n",
	.after =
"Examples:\n"
"  kiln decontam -a ../shared/data/HumanEval.jsonl.gz -a ../shared/data/mbpp.jsonl \\\n"
"      --dropped leaks.jsonl --stats decontam.json samples.jsonl -o clean.jsonl\n"
"The --stats file holds, under 'benchmarks', each benchmark's items, counted\n"
"n-grams and the records it flagged. docs/CURATE.md has the rules.\n",
};
