/* kiln/export.h - the last curation stage: verified records to a training
 * set (docs/CURATE.md, "kiln export").
 *
 *   - samples: chat SFT JSONL, one "sample" record a line
 *       {"messages": [{"role": "user", "content": PROMPT},
 *                     {"role": "assistant", "content": SOLUTION}],
 *        "meta": {...}}
 *     whose "meta" has the same keys and the same JSON types on every line
 *     (docs/FORMATS.md, "sample"), so Hugging Face datasets' JSON loader
 *     reads it as it is, and kiln train reads it (kiln/data.h);
 *   - pairs (optional): preference pairs {"prompt", "chosen", "rejected",
 *     "meta"} by AceCoder's rule (below);
 *   - dropped records (optional), each with its reason, and the stage's
 *     counts (kiln/curate.h);
 *   - the funnel of the stages before it (their --stats files) and a
 *     manifest: parameters, sha256 of every input, kiln's version.
 *
 * A record is kept as a sample when its licence is allowed (when a list
 * is given) and its status is "pass"; else it is dropped with reason
 * "license", "unverified" (no status) or "failed" (another status).
 *
 * Pairs: records are grouped by (id, tests_total): the candidates of one
 * task judged on the same tests. In a group the record with the highest
 * pass fraction (tests_passed / tests_total; the earliest on ties) is
 * "chosen" when its fraction is at least pair_min_pass; each record whose
 * fraction is at least pair_min_gap below it is "rejected" against it,
 * the lowest fractions first (the earliest on ties), at most
 * pairs_per_task of them. Fractions are compared with a tolerance of
 * 1e-9, so 0.7 - 0.3 counts as the 0.4 it is. A rejected record whose
 * solution is the chosen one's text (a flaky test) gives no pair. Every
 * record whose licence is allowed and that has test counts takes part,
 * kept as a sample or not (a failed candidate is what "rejected" is).
 */
#ifndef KILN_EXPORT_H
#define KILN_EXPORT_H

#include <stddef.h>

#include <jansson.h>

#include "kiln/curate.h"
#include "kiln/error.h"
#include "kiln/jsonl.h"

#define KILN_EXPORT_PAIR_MIN_PASS 0.8
#define KILN_EXPORT_PAIR_MIN_GAP 0.4
#define KILN_EXPORT_PAIRS_PER_TASK 4

typedef struct kiln_export_opts {
	/* Task records joined by "id": a record without "prompt" takes its
	 * task's, and "license", "origin", "source", "language" fall back
	 * to the task's. NULL: none (every record must carry its prompt). */
	const char *tasks;
	/* Candidate records (kiln generate's) joined by "id" and
	 * "candidate": a record (a verdict of kiln verify, which keeps only
	 * id and candidate of its input) takes the fields it lacks from its
	 * candidate (solution, teacher, origin, ...). NULL: none. */
	const char *candidates;
	/* Allowed licences, compared without case; nlicenses 0: any
	 * licence, and a record without one, is allowed. */
	const char *const *licenses;
	size_t nlicenses;
	double pair_min_pass;      /* [0, 1] */
	double pair_min_gap;       /* (0, 1] */
	int pairs_per_task;        /* >= 1 */
} kiln_export_opts;

void kiln_export_opts_default(kiln_export_opts *o);

typedef struct kiln_export_stats {
	/* The stage's funnel row: "export", entered, kept (samples written),
	 * dropped per reason (license, failed, unverified), params; extra
	 * holds the pair counts. */
	kiln_stage_stats stage;
	size_t pairs;              /* pairs written */
	size_t pair_tasks;         /* groups that gave at least one pair */
	/* Every file read: [{"role": "records"|"tasks"|"candidates"|"funnel",
	 * "path",
	 * "sha256", "bytes"}] (sha256 and bytes null for standard input). */
	json_t *inputs;
} kiln_export_stats;

void kiln_export_stats_free(kiln_export_stats *st);

/* Reads the record files (paths[i]; "-" is standard input), in order,
 * and writes samples (input order), pairs (when pairs is not NULL; after
 * the samples are read, groups in order of first appearance) and dropped
 * records (when dropped is not NULL). st is initialised here; free it
 * with kiln_export_stats_free, also after an error. A malformed line, or
 * a record without a string "id", "solution" or prompt (its own or its
 * task's), or with bad test counts, is KILN_EPARSE naming the file, the
 * line and the field; the caller then must not commit the outputs. */
int kiln_export(const char *const *paths, size_t npaths, kiln_out *samples,
		kiln_out *pairs, kiln_out *dropped,
		const kiln_export_opts *o, kiln_export_stats *st,
		kiln_error *err);

/* The funnel: the stats files of the stages before export (as their
 * --stats option writes them, kiln_stage_stats_save), in the order given,
 * then export's own row. Returns {"stages": [row...], "notes": [text...]}
 * (a new reference) or NULL with err set. Each row is the stats file's
 * object with "file" (its path) added; every reason is there with its
 * count, zero ones included. A note says where the counts do not add up
 * (entered != kept + dropped) or where a stage's entered is not the kept
 * of the stage before it. Each file is added to st->inputs. */
json_t *kiln_export_funnel(const char *const *stats_paths, size_t n,
			   kiln_export_stats *st, kiln_error *err);

/* The funnel as a table for a terminal (malloc'd), or NULL when out of
 * memory. */
char *kiln_export_funnel_table(const json_t *funnel);

/* What export wrote, for the manifest (NULL: not written). */
typedef struct kiln_export_outputs {
	const char *samples, *pairs, *dropped, *stats;
} kiln_export_outputs;

/* The manifest (docs/FORMATS.md, "export manifest"): kiln's version, the
 * parameters, every input with its sha256, the outputs (with sha256 when
 * they are regular files, read after they were committed), the counts and
 * the funnel (NULL: export's own row only). A new reference, or NULL with
 * err set. */
json_t *kiln_export_manifest(const kiln_export_stats *st, const json_t *funnel,
			     const kiln_export_outputs *outs, kiln_error *err);

/* sha256 of a file's bytes as 64 lower-case hex digits (hex[65]) and its
 * size. */
int kiln_sha256_file(const char *path, char hex[65], unsigned long long *bytes,
		     kiln_error *err);

#endif
