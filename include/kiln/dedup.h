/* kiln/dedup.h - the dedup stage (src/curate/dedup.c; docs/CURATE.md).
 *
 * Exact duplicates first (kiln_minhash_exact_key of the normalised code),
 * then near duplicates by MinHash + LSH (kiln/minhash.h): two records are
 * candidates when all rows of one band of their signatures are equal, and
 * the clusters are the connected components of exact and candidate pairs.
 * A cluster keeps its best member: a record of the index (kept before)
 * first, then more tests_passed, higher mutation.score, higher reward,
 * shorter text, earlier in the input. Every other member is dropped with
 * the kept one's id and position and the estimated (signature) and exact
 * (shingle set) Jaccard similarity to it.
 *
 * Memory is bounded: what is kept per record in memory is a few dozen
 * bytes; signatures, shingle sets and band keys go to files in a temporary
 * directory as fixed-size or length-prefixed records, and band keys are
 * sorted in memory up to opts.memory bytes, beyond that externally (sorted
 * runs, merged).
 */
#ifndef KILN_DEDUP_H
#define KILN_DEDUP_H

#include <stddef.h>

#include "kiln/curate.h"
#include "kiln/error.h"
#include "kiln/jsonl.h"
#include "kiln/minhash.h"

enum { KILN_DEDUP_CODE = 0, KILN_DEDUP_DATATROVE = 1 };
extern const char *const kiln_dedup_presets[];   /* "code", "datatrove" */

typedef struct kiln_dedup_progress {
	const char *phase;   /* "signing", "clustering", "writing" */
	size_t done, total;  /* total 0: not known */
	double seconds;
} kiln_dedup_progress;

typedef struct kiln_dedup_opts {
	int preset;               /* KILN_DEDUP_CODE, KILN_DEDUP_DATATROVE */
	/* overrides of the preset's parameters (0: the preset's; seed -1) */
	int ngram, permutations, bands, rows;
	long long seed;
	const char *field;        /* the text to compare: "solution" */
	const char *index;        /* a directory: dedup against it and add
				     the kept records to it (NULL: none) */
	const char *tmpdir;       /* NULL: $TMPDIR or /tmp */
	size_t memory;            /* bytes for sorting band keys in memory,
				   and for --dropped figures kept */
	const char *sigs_out;     /* this batch's signatures, permutations
				     little-endian uint64 a record */
	const char *params_out;   /* the a's, then the b's (same format) */
	volatile int *stop;       /* set by a signal handler: stop early */
	void (*progress)(void *ctx, const kiln_dedup_progress *p);
	void *ctx;
} kiln_dedup_opts;

void kiln_dedup_opts_default(kiln_dedup_opts *o);
/* The MinHash parameters o stands for (preset and overrides), checked. */
int kiln_dedup_params(const kiln_dedup_opts *o, kiln_minhash_params *p,
		      kiln_error *err);

typedef struct kiln_dedup_stats {
	kiln_stage_stats stage;   /* entered, kept, dropped: exact, near */
	size_t short_docs;        /* fewer than ngram tokens: exact only */
	size_t index_docs;        /* records in the index before the run */
	size_t index_added;       /* kept records added to it */
	size_t clusters;          /* clusters of two or more in this batch */
	size_t candidate_pairs;   /* equal adjacent band keys seen (a record
				   * joined to an earlier one of the same text
				   * writes none) */
	int external_sort;        /* band keys did not fit opts.memory */
	double sign_seconds, cluster_seconds, write_seconds;
	int stopped;              /* opts.stop was set: nothing written */
} kiln_dedup_stats;

/* Dedups the records of inputs[0..n) (JSONL paths, "-" for stdin; read
 * twice, stdin through a temporary copy) and writes the kept ones, in
 * input order with a "dedup" field, to out, the dropped ones marked
 * (kiln_stage_mark) to dropped (may be NULL). st->stage must have been
 * initialised by kiln_dedup_stats_init; it gets the counts, params and
 * time. Returns 0 or a negative KILN_E* with err ("FILE:LINE: ..." for a
 * bad record). The outputs are not committed here. */
int kiln_dedup(const char *const *inputs, size_t n, kiln_out *out,
	       kiln_out *dropped, const kiln_dedup_opts *o,
	       kiln_dedup_stats *st, kiln_error *err);

void kiln_dedup_stats_init(kiln_dedup_stats *st);
void kiln_dedup_stats_free(kiln_dedup_stats *st);

#endif
