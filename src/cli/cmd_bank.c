#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli.h"
#include "kiln/bank.h"

struct bank_args {
	kiln_bank_opts b;
	const char *output;
	int list, quiet;
};

static const char *const bank_splits[] = { "all", "train", "heldout",
	"train-template", "heldout-template", NULL };
static const char *const bank_langs[] = { "python", "c", "lua", NULL };

#define A struct bank_args

static const kiln_opt bank_opts[] = {
	KILN_OPT_ROW_INT("tasks", 'n', A, b.n, 1, 10000000, "N",
		"how many tasks to write"),
	KILN_OPT_ROW_INT("seed", 's', A, b.seed, 0, CLI_MAX_SEED, "S",
		"the seed: the same seed and depth give the same tasks, "
		"byte for byte"),
	KILN_OPT_ROW_INT("depth", 'd', A, b.depth, 1, KILN_BANK_MAX_DEPTH,
		"D", "the most stages a task composes (a task's depth is "
		"drawn from 1..D)"),
	KILN_OPT_ROW_ENUM("split", 0, A, b.split, bank_splits, "SPLIT",
		"all, or only the tasks of the train or the heldout split: a "
		"task is heldout when it has a held-out parameter value or "
		"composition; *-template: when it has a held-out template "
		"(docs/BANK.md); ids are the same in every split"),
	KILN_OPT_ROW_ENUM("language", 'l', A, b.language, bank_langs, "LANG",
		"the language of the prompt, the reference, the tests and the "
		"wrong variants: python, c or lua"),
	KILN_OPT_ROW_INT("param-scale", 0, A, b.param_scale, 1, 1000, "S",
		"draw numeric parameters from ranges S times as wide (1..9 "
		"becomes 1..9S, -5..5 becomes -5S..5S): training data where "
		"a constant must be copied from the prompt; the split's "
		"held-out values stay held out"),
	KILN_OPT_ROW_PATH("output", 'o', A, output, "FILE",
		"write here (atomically) instead of stdout; after an error, "
		"the tasks before it go to FILE.partial"),
	KILN_OPT_ROW_FLAG("list-templates", 0, A, list,
		"print the templates (one JSON object a line) and exit"),
	CLI_OPT_QUIET(A, quiet, "no summary line"),
	KILN_OPT_ROW_END,
};
#undef A

static int list_templates(void)
{
	json_t *list;
	kiln_error err;
	size_t i;
	json_t *t;
	int rc = 0;

	if (kiln_bank_templates(&list, &err)) {
		cli_error("bank", "%s", err.msg);
		return 1;
	}
	json_array_foreach(list, i, t)
		if ((rc = cli_print_json("bank", t, JSON_COMPACT)) != 0)
			break;
	json_decref(list);
	return rc;
}

static int run_bank(int argc, char **argv)
{
	struct bank_args a = { .b = kiln_bank_opts_default() };
	kiln_bank_stats st;
	kiln_out *out = NULL;
	kiln_error err;
	struct timespec t0, t1;
	int rc, npos;

	if ((rc = cli_parse(&cli_bank, argc, argv, &a, sizeof a, &npos)) !=
	    CLI_GO)
		return rc;
	if (npos != 0) {
		cli_error("bank", "takes no operands (it reads nothing)");
		cli_usage(&cli_bank, &a, stderr);
		return 2;
	}
	if (a.list)
		return list_templates();
	if (kiln_out_open(&out, a.output, &err)) {
		cli_error("bank", "%s", err.msg);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = kiln_bank_write(&a.b, out, &st, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc) {
		char *kept = NULL;
		long k = 0;

		cli_error("bank", "%s", err.msg);
		if (kiln_out_keep_partial(out, &kept, &k, &err))
			cli_error("bank", "%s", err.msg);
		else if (kept)
			cli_error("bank", "stopped; the %ld tasks before it "
				  "are in %s (%s is unchanged)", k, kept,
				  a.output);
		free(kept);
		return 1;
	}
	if (kiln_out_commit(out, &err)) {
		cli_error("bank", "%s", err.msg);
		return 1;
	}
	if (!a.quiet) {
		fprintf(stderr, "kiln bank: %lld tasks (%lld hidden tests, "
			"%lld wrong variants) in %.2fs; drawn %lld: %lld "
			"duplicate, %lld trivial, %lld with too few variants, "
			"%lld of the other split\n  variants:", st.tasks,
			st.tests, st.variants,
			(double)(t1.tv_sec - t0.tv_sec) +
			(double)(t1.tv_nsec - t0.tv_nsec) / 1e9, st.drawn,
			st.duplicate, st.trivial, st.few_variants,
			st.other_split);
		for (int i = 0; kiln_bank_kind_name(i); i++)
			fprintf(stderr, " %s %lld", kiln_bank_kind_name(i),
				st.per_kind[i]);
		fprintf(stderr, "\n  depth:");
		for (int d = 1; d <= a.b.depth; d++)
			fprintf(stderr, " %d: %lld", d, st.per_depth[d]);
		fprintf(stderr, "\n");
	}
	return 0;
}

const cli_cmd cli_bank = {
	.name = "bank", .run = run_bank, .opts = bank_opts,
	.summary = "procedural tasks: hidden tests, planted wrong variants",
	.synopsis = "usage: kiln bank [-n N] [--seed S] [--depth D] "
		    "[--split all|train|heldout|...] [--language python|c|lua] "
		    "[-o FILE]",
	.about =
"Writes task records (docs/FORMATS.md) composed from the bank's templates\n"
"of primitives over integers, lists and strings (docs/BANK.md): each task\n"
"a pipeline of 1..D stages, phrased in one of four frames, with a reference\n"
"solution in Python, C or Lua, hidden tests whose answers kiln's own\n"
"interpreter computes (edge cases first, then random inputs) and at least\n"
"five planted wrong variants (off_by_one, wrong_branch, wrong_op,\n"
"dropped_case, dropped_step, wrong_order), each failing at least one\n"
"hidden test. No two tasks of a stream behave alike on the bank's probe\n"
"inputs.\n"
"  kiln bank -n 2000 --seed 7 | kiln verify      every reference passes\n",
};
