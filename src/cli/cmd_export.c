/* kiln export: verified records to a training set (docs/CURATE.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kiln/curate.h"
#include "kiln/export.h"
#include "kiln/jsonl.h"
#include "kiln/output.h"

#define LISTS_MAX 64

struct export_args {
	kiln_export_opts e;
	const char *output, *pairs, *manifest, *dropped, *stats;
	const char *allow[LISTS_MAX];
	int nallow;
	const char *funnel[LISTS_MAX];
	int nfunnel;
	int quiet;
};

#define A struct export_args

static const kiln_opt export_opts[] = {
	KILN_OPT_ROW_PATH("output", 'o', A, output, "FILE",
		"write the chat samples here (atomically) instead of stdout"),
	KILN_OPT_ROW_PATH("tasks", 0, A, e.tasks, "FILE",
		"task records joined by id: the prompt of a record that has "
		"none, and licence, origin, source, language when the record "
		"lacks them"),
	KILN_OPT_ROW_PATH("candidates", 0, A, e.candidates, "FILE",
		"candidate records (kiln generate's) joined by id and "
		"candidate: a verdict of kiln verify takes the solution, "
		"teacher, ... of its candidate"),
	KILN_OPT_ROW_STRINGS("allow-license", 0, A, allow, nallow, "LIST",
		"keep only records under these licences (comma-separated, "
		"any case, repeatable: mit,cc-by-4.0); others and records "
		"without one are dropped (reason 'license'); default: any"),
	KILN_OPT_ROW_GROUP("preference pairs (AceCoder's rule)"),
	KILN_OPT_ROW_PATH("pairs", 0, A, pairs, "FILE",
		"write {prompt, chosen, rejected, meta} pairs here: per task "
		"and test set, the best candidate against those far enough "
		"below it"),
	KILN_OPT_ROW_DOUBLE("pair-min-pass", 0, A, e.pair_min_pass, 0, 1, "X",
		"the chosen one passes at least this fraction of the tests"),
	{ .name = "pair-min-gap", .kind = KILN_OPT_DOUBLE, .arg = "X",
	  KILN_OPT_F_(A, e.pair_min_gap), .dlo = 0, .dhi = 1,
	  .flags = KILN_OPT_LO_OPEN,
	  .help = "and beats the rejected one by at least this fraction" },
	KILN_OPT_ROW_INT("pairs-per-task", 0, A, e.pairs_per_task, 1, 1000000,
		"N", "at most N pairs per task and test set"),
	KILN_OPT_ROW_GROUP("what the run was"),
	KILN_OPT_ROW_PATH("manifest", 0, A, manifest, "FILE",
		"write the manifest (JSON): parameters, sha256 of every "
		"input and output, counts, the funnel, kiln's version"),
	KILN_OPT_ROW_STRINGS("funnel", 0, A, funnel, nfunnel, "LIST",
		"the --stats files of the stages before export, in pipeline "
		"order (comma-separated, repeatable): the funnel goes into "
		"the manifest and, as a table, to stderr"),
	KILN_OPT_ROW_PATH("dropped", 0, A, dropped, "FILE",
		"write dropped records here, each with "
		"\"dropped\": {stage, reason, ...}"),
	KILN_OPT_ROW_PATH("stats", 0, A, stats, "FILE",
		"write export's own stage statistics (JSON) here"),
	CLI_OPT_QUIET(A, quiet, "no summary and no funnel table"),
	KILN_OPT_ROW_END,
};
#undef A

/* Splits each item at commas into *out (malloc'd copies in *store). */
static int split_lists(const char *opt, const char *const *items, int n,
		       char **store, const char ***out, size_t *nout)
{
	size_t cap = 0, len = 0;
	const char **v;
	char *p, *tok, *save = NULL;

	for (int i = 0; i < n; i++)
		cap += strlen(items[i]) + 1;
	*store = p = malloc(cap + 1);
	*out = v = calloc(cap + 1, sizeof *v);
	*nout = 0;
	if (!p || !v) {
		cli_error("export", "out of memory");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		size_t l = strlen(items[i]);

		memcpy(p + len, items[i], l + 1);
		if (l == 0 || items[i][0] == ',' || items[i][l - 1] == ',' ||
		    strstr(items[i], ",,")) {
			cli_error("export", "--%s: an empty item in '%s'", opt,
				  items[i]);
			return 2;
		}
		for (tok = strtok_r(p + len, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save))
			v[(*nout)++] = tok;
		len += l + 1;
	}
	return 0;
}

/* An output must not be an input, nor another output. */
static int check_outputs(const char *const *outs, const char *const *onames,
			 size_t nouts, const char *const *ins,
			 const char *const *inames, size_t nins)
{
	kiln_error err;
	char what[64];

	for (size_t i = 0; i < nouts; i++) {
		if (!outs[i])
			continue;
		for (size_t j = 0; j < nins; j++)
			if (kiln_output_check_distinct(outs[i], ins[j],
						       inames[j], &err)) {
				cli_error("export", "%s: %s", onames[i],
					  err.msg);
				return 2;
			}
		for (size_t j = 0; j < i; j++) {
			snprintf(what, sizeof what, "%s", onames[j]);
			if (outs[j] && kiln_output_check_distinct(outs[i],
						outs[j], what, &err)) {
				cli_error("export", "%s: %s", onames[i],
					  err.msg);
				return 2;
			}
		}
	}
	for (size_t i = 3; i < nouts; i++)   /* written at the end */
		if (outs[i] && kiln_output_check(outs[i], &err)) {
			cli_error("export", "%s: %s", onames[i], err.msg);
			return 1;
		}
	return 0;
}

/* A run that failed: -o keeps its whole samples in FILE.partial (the
 * curation rule), the other outputs are dropped. */
static void give_up(kiln_out *samples, kiln_out *pairs, kiln_out *dropped,
		    const char *output)
{
	kiln_error err;
	char *kept = NULL;
	long n = 0;
	int stream = samples && kiln_out_is_stream(samples);

	if (pairs)
		kiln_out_abort(pairs);
	if (dropped)
		kiln_out_abort(dropped);
	if (!samples)
		return;
	if (kiln_out_keep_partial(samples, &kept, &n, &err))
		cli_error("export", "%s; no samples kept", err.msg);
	else if (kept)
		cli_error("export", "the %ld sample%s written before the error "
			  "%s in %s (%s is unchanged)", n, n == 1 ? "" : "s",
			  n == 1 ? "is" : "are", kept, output);
	else if (!stream && output)
		cli_error("export", "%s is unchanged", output);
	free(kept);
}

static int save_json(const char *path, const json_t *j, kiln_error *err)
{
	return kiln_output_save_json(path, j, JSON_INDENT(1) |
				     JSON_PRESERVE_ORDER |
				     JSON_REAL_PRECISION(15), err);
}

static int run_export(int argc, char **argv)
{
	struct export_args a;
	kiln_export_stats st = { 0 };
	kiln_out *samples = NULL, *pairs = NULL, *dropped = NULL;
	char *lic_store = NULL, *fun_store = NULL, *table;
	const char **lic = NULL, **fun = NULL, **inputs = NULL;
	const char **ins = NULL, **inames = NULL;
	size_t nlic = 0, nfun = 0, ninputs, nins = 0;
	json_t *funnel = NULL, *manifest = NULL;
	kiln_error err;
	char line[1024];
	int rc, npos, stdin_used = 0;

	memset(&a, 0, sizeof a);
	kiln_export_opts_default(&a.e);
	if ((rc = cli_parse(&cli_export, argc, argv, &a, sizeof a, &npos)) !=
	    CLI_GO)
		return rc;
	if ((rc = split_lists("allow-license", a.allow, a.nallow, &lic_store,
			      &lic, &nlic)) ||
	    (rc = split_lists("funnel", a.funnel, a.nfunnel, &fun_store, &fun,
			      &nfun)))
		goto out;
	a.e.licenses = lic;
	a.e.nlicenses = nlic;

	/* the record files, then every input by name for the checks */
	static const char *const dash[] = { "-" };
	inputs = npos ? (const char **)argv + 1 : (const char **)dash;
	ninputs = npos ? (size_t)npos : 1;
	ins = calloc(ninputs + nfun + 2, sizeof *ins);
	inames = calloc(ninputs + nfun + 2, sizeof *inames);
	if (!ins || !inames) {
		cli_error("export", "out of memory");
		rc = 1;
		goto out;
	}
	for (size_t i = 0; i < ninputs; i++) {
		if (strcmp(inputs[i], "-") == 0 && stdin_used++) {
			cli_error("export", "standard input ('-') given twice");
			rc = 2;
			goto out;
		}
		ins[nins] = inputs[i], inames[nins++] = "the input";
	}
	if (a.e.tasks)
		ins[nins] = a.e.tasks, inames[nins++] = "--tasks";
	if (a.e.candidates)
		ins[nins] = a.e.candidates, inames[nins++] = "--candidates";
	for (size_t i = 0; i < nfun; i++)
		ins[nins] = fun[i], inames[nins++] = "--funnel";
	{
		const char *outs[] = { a.output, a.pairs, a.dropped,
				       a.manifest, a.stats };
		static const char *const onames[] = { "-o", "--pairs",
			"--dropped", "--manifest", "--stats" };

		if ((rc = check_outputs(outs, onames, 5, ins, inames, nins)))
			goto out;
	}

	rc = 1;
	if (kiln_out_open(&samples, a.output, &err) ||
	    (a.pairs && kiln_out_open(&pairs, a.pairs, &err)) ||
	    (a.dropped && kiln_out_open(&dropped, a.dropped, &err))) {
		cli_error("export", "%s", err.msg);
		give_up(samples, pairs, dropped, a.output);
		goto out;
	}
	if (kiln_export(inputs, ninputs, samples, pairs, dropped, &a.e, &st,
			&err) ||
	    !(funnel = kiln_export_funnel(fun, nfun, &st, &err))) {
		cli_error("export", "%s", err.msg);
		give_up(samples, pairs, dropped, a.output);
		goto out;
	}
	/* commit: the samples first (the dataset), then the rest */
	{
		kiln_out *o = samples;

		samples = NULL;
		if (kiln_out_commit(o, &err)) {
			cli_error("export", "%s", err.msg);
			give_up(NULL, pairs, dropped, NULL);
			goto out;
		}
		o = pairs, pairs = NULL;
		if (o && kiln_out_commit(o, &err)) {
			cli_error("export", "%s", err.msg);
			give_up(NULL, NULL, dropped, NULL);
			goto out;
		}
		o = dropped, dropped = NULL;
		if (o && kiln_out_commit(o, &err)) {
			cli_error("export", "%s", err.msg);
			goto out;
		}
	}
	if (a.stats && kiln_stage_stats_save(&st.stage, a.stats, &err)) {
		cli_error("export", "%s", err.msg);
		goto out;
	}
	if (a.manifest) {
		kiln_export_outputs outs = { .samples = a.output ? a.output :
					     "-", .pairs = a.pairs,
					     .dropped = a.dropped,
					     .stats = a.stats };

		manifest = kiln_export_manifest(&st, funnel, &outs, &err);
		if (!manifest || save_json(a.manifest, manifest, &err)) {
			cli_error("export", "%s", err.msg);
			goto out;
		}
	}
	if (!a.quiet) {
		kiln_stage_summary(&st.stage, line, sizeof line);
		if (a.pairs)
			cli_error("export", "%s; %zu pair%s from %zu task%s",
				  line, st.pairs, st.pairs == 1 ? "" : "s",
				  st.pair_tasks, st.pair_tasks == 1 ? "" : "s");
		else
			cli_error("export", "%s", line);
		if (nfun) {
			table = kiln_export_funnel_table(funnel);
			if (table)
				fprintf(stderr, "kiln: export: funnel\n%s",
					table);
			free(table);
		}
	}
	rc = 0;
out:
	json_decref(manifest);
	json_decref(funnel);
	kiln_export_stats_free(&st);
	free(ins);
	free(inames);
	free(lic);
	free(fun);
	free(lic_store);
	free(fun_store);
	return rc;
}

const cli_cmd cli_export = {
	.name = "export", .run = run_export, .opts = export_opts,
	.summary = "verified records to chat SFT samples and preference "
		   "pairs",
	.synopsis = "usage: kiln export [options] [FILE...|-]",
	.about =
"Turns verified records (carrying id, solution, status, tests_passed and\n"
"tests_total, and the task's prompt; --tasks and --candidates join what\n"
"verdicts lack; docs/CURATE.md) into chat samples for supervised\n"
"fine-tuning, one a line:\n"
"\n"
"  {\"messages\": [{\"role\": \"user\", \"content\": PROMPT},\n"
"                {\"role\": \"assistant\", \"content\": SOLUTION}],\n"
"   \"meta\": {id, candidate, language, teacher, scores, cluster, origin,\n"
"            license, source, provenance}}\n"
"\n"
"Every line has the same keys and types (empty strings and -1 for what a\n"
"record does not say), so Hugging Face datasets loads the file as it is;\n"
"kiln train reads it too. A record is kept when its licence is allowed\n"
"and its status is pass; else it is dropped, with reason license, failed\n"
"or unverified (no status).\n",
	.after =
"Pairs: per task and test set (id, tests_total), the candidate with the\n"
"most tests passed is chosen if it passes at least --pair-min-pass of them;\n"
"each candidate at least --pair-min-gap below it is rejected against it,\n"
"lowest first, at most --pairs-per-task (docs/CURATE.md).\n"
"A malformed line or a record without id, solution or prompt is an error\n"
"naming the file, line and field: nothing is written to -o (the samples\n"
"before it go to FILE.partial) and kiln exits 1. Formats: docs/FORMATS.md.\n",
};
