/* kiln/decontam.h - drop samples that overlap a benchmark (kiln
 * decontam; docs/CURATE.md, "kiln decontam").
 *
 * Every record becomes one normalised token stream (kiln/code.h): its
 * prose fields (prompt, text, docstring, ...) as words, then its code
 * fields (solution, code, canonical_solution, tests, test_list, ...) with
 * names replaced by a placeholder and strings and comments as words. So
 * white space, line breaks, indentation, quotes and identifier names do
 * not matter: a leak that was re-wrapped, re-laid-out or renamed gives the
 * same stream. The n-grams of that stream (default 10 tokens, across line
 * and field boundaries) are compared with those of every benchmark item.
 *
 * The allow-list: an n-gram never counts when
 *  - it holds fewer than min_content content tokens (words, numbers,
 *    strings, keywords, builtins, attribute names), or none but numbers:
 *    names and punctuation, as in `def f(a, b): return a + b`, or a list
 *    of numbers;
 *  - it occurs in common or more items of one benchmark file (boilerplate:
 *    HumanEval's check() header, HumanEval-X's #include lines, a for-loop
 *    head);
 *  - it occurs in an --allow file.
 *
 * A record is contaminated by a benchmark item when they share at least
 * min_ngrams of the counted n-grams, or at least min_shared of them that
 * are min_coverage of the item's counted n-grams or of the record's (a
 * short item, or a short record, leaked whole). The hit names the
 * benchmark (the file), the item's id, the shared n-grams and the
 * coverage (of the item).
 *
 * Two streams make a record's n-grams: the one above, and every field as
 * words (so code that sits in a prose field, as MBPP's asserts in kiln's
 * MBPP prompts, meets the benchmark's tests). Numbers are data: an n-gram
 * of numbers and punctuation alone (a shared list literal) never counts.
 */
#ifndef KILN_DECONTAM_H
#define KILN_DECONTAM_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kiln/curate.h"
#include "kiln/error.h"
#include "kiln/jsonl.h"

typedef struct kiln_decontam_opts {
	int ngram;            /* tokens an n-gram [4, 64]; default 10 */
	int common;           /* items of one benchmark that make an n-gram
				 boilerplate [2, ...]; default 4 */
	int min_content;      /* content tokens an n-gram needs; default 3 */
	int min_ngrams;       /* shared n-grams that flag; default 8 */
	int min_shared;       /* with min_coverage; default 2 */
	double min_coverage;  /* share of the item or record; default 0.15 */
	int skip_bad;         /* go on after a bad input line */
	void (*bad_line)(void *ctx, const kiln_error *err);
	void *ctx;
} kiln_decontam_opts;

void kiln_decontam_opts_default(kiln_decontam_opts *o);

typedef struct kiln_decontam_index kiln_decontam_index;

/* A new, empty index with o's n-gram rules (copied). */
int kiln_decontam_index_new(kiln_decontam_index **ix,
			    const kiln_decontam_opts *o, kiln_error *err);
void kiln_decontam_index_free(kiln_decontam_index *ix);

/* Adds a benchmark file: JSON Lines (gzip or not) or one JSON array of
 * records (sanitized-mbpp.json), in kiln's task format, HumanEval's,
 * MBPP's, HumanEval+'s or HumanEval-X's. name is the benchmark's name
 * (NULL: the file's name without its directory and .gz/.jsonl/.json).
 * Item ids: task_id (an integer one is "mbpp/N" as kiln import writes it),
 * else id, else NAME:LINE. */
int kiln_decontam_index_add_file(kiln_decontam_index *ix, const char *path,
				 const char *name, kiln_error *err);
/* Adds one record as an item of benchmark name (which is copied). */
int kiln_decontam_index_add(kiln_decontam_index *ix, const char *name,
			    const json_t *rec, kiln_error *err);
/* Adds a file whose n-grams never count (the --allow list). */
int kiln_decontam_index_allow_file(kiln_decontam_index *ix,
				   const char *path, kiln_error *err);
/* Ends adding: applies the allow-list and builds the lookup table. */
int kiln_decontam_index_build(kiln_decontam_index *ix, kiln_error *err);

/* What the index holds: per benchmark, its name, items and counted
 * n-grams (a new object), and n-grams allow-listed in all. */
json_t *kiln_decontam_index_info(const kiln_decontam_index *ix);

typedef struct kiln_decontam_hit {
	const char *benchmark, *id;   /* borrowed from the index */
	size_t ngrams;                /* shared counted n-grams */
	double coverage;              /* ngrams / the item's counted n-grams */
} kiln_decontam_hit;

/* Checks one record: *flagged is 1 when it is contaminated; *best is the
 * item it shares most with (ngrams 0: none); *nbench the benchmarks that
 * flag it (their best items in hits[0..*nbench), best first, at most
 * maxhits), *grams the record's counted n-grams. */
int kiln_decontam_check(kiln_decontam_index *ix, const json_t *rec,
			int *flagged, kiln_decontam_hit *hits, size_t maxhits,
			size_t *nbench, kiln_decontam_hit *best, size_t *grams,
			kiln_error *err);

/* The stage: reads records from the inputs, in turn, writes the clean ones to out (each
 * with "decontam": {"ngrams": N, "nearest": {...}?}), the contaminated
 * ones to dropped (may be NULL), marked
 * "dropped": {"stage": "decontam", "reason": "contaminated", "benchmark",
 * "id", "ngrams", "coverage", "also": [...]} and with the same hit in
 * "decontam". st is initialised here (free it with kiln_stage_stats_free);
 * its extra holds the per-benchmark counts. */
int kiln_decontam(kiln_decontam_index *ix, kiln_jsonl_reader *const *inputs,
		  size_t ninputs, kiln_out *out, kiln_out *dropped,
		  kiln_stage_stats *st, kiln_error *err);

#endif
