#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kiln/dedup.h"
#include "kiln/progress.h"

/* What 'kiln dedup' is given: the library's options and the CLI's. */
struct dedup_args {
	kiln_dedup_opts d;
	const char *output, *dropped, *stats;
	int quiet;
};

#define A struct dedup_args

static const kiln_opt dedup_opts[] = {
	KILN_OPT_ROW_PATH("output", 'o', A, output, "FILE",
		"write the kept records here (atomically) instead of stdout"),
	KILN_OPT_ROW_PATH("dropped", 0, A, dropped, "FILE",
		"write the dropped records here, each with \"dropped\": the "
		"reason, the kept neighbour and the Jaccard similarities"),
	KILN_OPT_ROW_PATH("stats", 0, A, stats, "FILE",
		"write the stage's counts, parameters and S-curve here (JSON)"),
	KILN_OPT_ROW_ENUM("preset", 0, A, d.preset, kiln_dedup_presets, "NAME",
		"code: identifier tokens, 5-grams, 256 permutations, 25 bands "
		"x 10 rows (BigCode's); datatrove: words of the simplified "
		"text, 5-grams, 14 x 8 (datatrove's defaults)"),
	KILN_OPT_ROW_STRING("field", 0, A, d.field, "NAME",
		"the text field to compare"),
	KILN_OPT_ROW_PATH("index", 0, A, d.index, "DIR",
		"dedup against every record kept into DIR before, and add "
		"this run's kept records to it (made if missing); one run at "
		"a time"),
	KILN_OPT_ROW_GROUP("MinHash (the preset's unless given)"),
	{ .name = "ngram", .kind = KILN_OPT_INT, KILN_OPT_F_(A, d.ngram),
	  .lo = 1, .hi = KILN_MINHASH_MAX_NGRAM, .arg = "N", .def = "5",
	  .help = "tokens a shingle" },
	{ .name = "permutations", .kind = KILN_OPT_INT,
	  KILN_OPT_F_(A, d.permutations), .lo = 1, .hi = KILN_MINHASH_MAX_PERM,
	  .arg = "N", .def = "the preset's", .help = "signature length" },
	{ .name = "bands", .kind = KILN_OPT_INT, KILN_OPT_F_(A, d.bands),
	  .lo = 1, .hi = KILN_MINHASH_MAX_PERM, .arg = "B",
	  .def = "the preset's", .help = "LSH bands" },
	{ .name = "rows", .kind = KILN_OPT_INT, KILN_OPT_F_(A, d.rows),
	  .lo = 1, .hi = KILN_MINHASH_MAX_PERM, .arg = "R",
	  .def = "the preset's", .help = "signature values a band" },
	{ .name = "seed", .kind = KILN_OPT_INT, KILN_OPT_F_(A, d.seed),
	  .lo = 0, .hi = 0xffffffffLL, .arg = "N", .def = "the preset's",
	  .help = "numpy RandomState seed of the permutations" },
	KILN_OPT_ROW_GROUP("Resources and checks"),
	KILN_OPT_ROW_SIZE("memory", 0, A, d.memory, 1 << 20, 1LL << 40,
		"band keys sorted in memory up to this (beyond it in sorted "
		"runs on disk); half as much again for the figures of records "
		"in clusters kept for --dropped"),
	KILN_OPT_ROW_PATH("tmpdir", 0, A, d.tmpdir, "DIR",
		"work files here (default $TMPDIR or /tmp)"),
	KILN_OPT_ROW_PATH("sigs-out", 0, A, d.sigs_out, "FILE",
		"write the signatures (uint64 little-endian, permutations a "
		"record, input order) to compare with another implementation"),
	KILN_OPT_ROW_PATH("params-out", 0, A, d.params_out, "FILE",
		"write the permutations' a's, then b's (uint64 little-endian)"),
	CLI_OPT_QUIET(A, quiet, "no S-curve, progress bar or summary"),
	KILN_OPT_ROW_END,
};
#undef A

static void on_progress(void *ctx, const kiln_dedup_progress *p)
{
	kiln_progress *line = ctx;

	if (!kiln_progress_due(line, p->seconds, 0))
		return;
	if (p->total)
		kiln_progress_show(line, "%s %zu/%zu  %.1fs", p->phase, p->done,
				   p->total, p->seconds);
	else
		kiln_progress_show(line, "%s %zu  %.0f/s", p->phase, p->done,
				   p->seconds > 0 ? p->done / p->seconds : 0.0);
}

static void print_s_curve(const kiln_minhash_params *p, const char *preset)
{
	static const double s[] = { 0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95 };

	fprintf(stderr, "kiln: dedup: preset %s: %d-grams of %s, %d "
		"permutations, %d bands x %d rows (threshold %.2f)\n"
		"  Jaccard      ", preset, p->ngram, p->tokens ==
		KILN_MINHASH_IDENT ? "identifier tokens" : "words",
		p->permutations, p->bands, p->rows,
		kiln_minhash_threshold(p->bands, p->rows));
	for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
		fprintf(stderr, " %6.2f", s[i]);
	fprintf(stderr, "\n  P(candidate) ");
	for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
		fprintf(stderr, " %6.3f", kiln_minhash_s_curve(p->bands, p->rows,
							       s[i]));
	fputc('\n', stderr);
}

static int run_dedup(int argc, char **argv)
{
	struct dedup_args a;
	kiln_dedup_stats st;
	kiln_minhash_params mp;
	kiln_progress line;
	kiln_out *out = NULL, *dropped = NULL;
	kiln_error err;
	const char *stdin_only[] = { "-" };
	const char *const *inputs;
	size_t ninputs;
	char summary[256];
	int rc, npos;

	memset(&a, 0, sizeof a);
	kiln_dedup_opts_default(&a.d);
	if ((rc = cli_parse(&cli_dedup, argc, argv, &a, sizeof a, &npos)) !=
	    CLI_GO)
		return rc;
	inputs = npos ? (const char *const *)argv + 1 : stdin_only;
	ninputs = npos ? (size_t)npos : 1;
	if (kiln_dedup_params(&a.d, &mp, &err)) {
		cli_error("dedup", "%s", err.msg);
		return 2;
	}
	for (size_t i = 0; i < ninputs; i++)
		if (kiln_output_check_distinct(a.output, inputs[i], "an input",
					       &err) ||
		    kiln_output_check_distinct(a.dropped, inputs[i], "an input",
					       &err) ||
		    kiln_output_check_distinct(a.stats, inputs[i], "an input",
					       &err)) {
			cli_error("dedup", "%s", err.msg);
			return 2;
		}
	if (a.output && a.dropped) {   /* one file for both: refused */
		char *t1 = NULL, *t2 = NULL;
		int s1 = 1, s2 = 1, same;
		kiln_output_resolve(a.output, &s1, &t1, &err);
		kiln_output_resolve(a.dropped, &s2, &t2, &err);
		same = !s1 && !s2 && t1 && t2 && strcmp(t1, t2) == 0;
		free(t1), free(t2);
		if (same) {
			cli_error("dedup", "-o and --dropped are the same file");
			return 2;
		}
	}
	if (a.stats && kiln_output_check(a.stats, &err)) {
		cli_error("dedup", "--stats: %s", err.msg);
		return 1;
	}
	if (!a.quiet)
		print_s_curve(&mp, kiln_dedup_presets[a.d.preset]);
	kiln_progress_init(&line, stderr, a.quiet, 0.1, 0);
	a.d.progress = on_progress;
	a.d.ctx = &line;
	cli_catch_stop();
	a.d.stop = &cli_stop_sig;
	if (kiln_out_open(&out, a.output, &err) ||
	    (a.dropped && kiln_out_open(&dropped, a.dropped, &err))) {
		cli_error("dedup", "%s", err.msg);
		if (out)
			kiln_out_abort(out);
		return 1;
	}
	kiln_dedup_stats_init(&st);
	rc = kiln_dedup(inputs, ninputs, out, dropped, &a.d, &st, &err);
	kiln_progress_clear(&line);
	if (rc || st.stopped) {
		if (rc)
			cli_error("dedup", "%s; no output written", err.msg);
		else
			cli_error("dedup", "interrupted (%s); no output "
				  "written", cli_stop_sig == SIGINT ? "SIGINT" :
				  "SIGTERM");
		kiln_out_abort(out);
		if (dropped)
			kiln_out_abort(dropped);
		kiln_dedup_stats_free(&st);
		return rc ? 1 : 128 + cli_stop_sig;
	}
	rc = dropped ? kiln_out_commit(dropped, &err) : 0;
	if (rc)
		kiln_out_abort(out);
	else
		rc = kiln_out_commit(out, &err);
	if (rc) {
		cli_error("dedup", "%s", err.msg);
		if (a.d.index)
			cli_error("dedup", "--index %s already holds this "
				  "run's kept records", a.d.index);
		kiln_dedup_stats_free(&st);
		return 1;
	}
	rc = 0;
	if (a.stats && kiln_stage_stats_save(&st.stage, a.stats, &err)) {
		cli_error("dedup", "--stats: %s", err.msg);
		rc = 1;
	}
	if (!a.quiet) {
		kiln_stage_summary(&st.stage, summary, sizeof summary);
		fprintf(stderr, "kiln: dedup: %s in %.2fs (%.0f records/s)",
			summary, st.stage.seconds, st.stage.seconds > 0 ?
			st.stage.entered / st.stage.seconds : 0.0);
		if (a.d.index)
			fprintf(stderr, "; index %s: %zu + %zu records",
				a.d.index, st.index_docs, st.index_added);
		fputc('\n', stderr);
	}
	kiln_dedup_stats_free(&st);
	return rc;
}

const cli_cmd cli_dedup = {
	.name = "dedup", .run = run_dedup, .opts = dedup_opts,
	.summary = "drop exact and near duplicates; keep each cluster's best",
	.synopsis = "usage: kiln dedup [options] [FILE...|-]",
	.about =
"Reads JSON Lines records (verdicts of kiln verify, or anything with the\n"
"text field) and drops duplicates of the field's text: exact ones (the same\n"
"code once trailing whitespace and blank lines are gone), then near ones\n"
"(MinHash signatures, LSH bands: two records are candidates when every row\n"
"of one band agrees; clusters are the connected candidates). Each cluster\n"
"keeps its best member: more tests_passed, then higher mutation.score, then\n"
"higher reward, then shorter text, then the earlier one. Kept records go out\n"
"in input order with \"dedup\": {\"cluster_size\": N}; dropped ones, with\n"
"--dropped, carry \"dropped\": {\"stage\": \"dedup\", \"reason\": \"exact\"|\"near\",\n"
"\"kept_id\", \"kept_record\", \"jaccard_estimated\", \"jaccard_exact\"}.\n",
	.after =
"The S-curve of the bands and rows (how likely a pair of each similarity is\n"
"to be compared) is printed first. Memory stays bounded: signatures and\n"
"band keys live in work files (--tmpdir), sorted in --memory. With --index\n"
"DIR, records kept by earlier runs win over this run's. Formats and the\n"
"presets: docs/CURATE.md.\n",
};
