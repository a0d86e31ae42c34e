/* What every curation stage shares (docs/CURATE.md): the stage's counts
 * (entered, kept, dropped per reason), its parameters and time, written as
 * one JSON object with --stats; the "dropped" mark on a dropped record;
 * the one-line summary. */
#ifndef KILN_CURATE_H
#define KILN_CURATE_H

#include <stddef.h>

#include <jansson.h>

#include "kiln/error.h"

#define KILN_STAGE_REASONS_MAX 16

typedef struct kiln_stage_stats {
	const char *stage;          /* "select", "dedup", ... (static) */
	size_t entered, kept;
	size_t nreasons;
	const char *reason[KILN_STAGE_REASONS_MAX];   /* static strings */
	size_t dropped[KILN_STAGE_REASONS_MAX];
	json_t *params;             /* owned: the stage's parameters */
	json_t *extra;              /* owned, optional: more figures */
	double seconds;
} kiln_stage_stats;

/* reasons: every reason the stage can give, NULL-terminated (at most
 * KILN_STAGE_REASONS_MAX); each is reported, with zero counts. */
void kiln_stage_stats_init(kiln_stage_stats *s, const char *stage,
			   const char *const *reasons);
void kiln_stage_stats_free(kiln_stage_stats *s);

/* Counts one dropped record under reason (which must be one of the
 * stage's reasons: returns -1 otherwise). */
int kiln_stage_drop(kiln_stage_stats *s, const char *reason);

/* Marks rec as dropped by s's stage for reason: sets rec["dropped"] to
 * {"stage", "reason"} and returns that object (borrowed) for the details,
 * or NULL when out of memory. Does not count (kiln_stage_drop does). */
json_t *kiln_stage_mark(json_t *rec, const char *stage, const char *reason);

/* The stats as a JSON object (new reference; NULL when out of memory). */
json_t *kiln_stage_stats_json(const kiln_stage_stats *s);

/* Writes the stats to path atomically. */
int kiln_stage_stats_save(const kiln_stage_stats *s, const char *path,
			  kiln_error *err);

/* "1000 in, 950 kept, 50 dropped (exact 30, near 20)" into buf. */
void kiln_stage_summary(const kiln_stage_stats *s, char *buf, size_t n);

/* A record's verdict: its "verdict" object (kiln verify --carry), else
 * the record itself (a plain verdict, whose fields are at the top). */
const json_t *kiln_rec_verdict(const json_t *rec);

/* Reads a stats file written by kiln_stage_stats_save (for the funnel):
 * a new reference, or NULL with err set (file, what is wrong). */
json_t *kiln_stage_stats_load(const char *path, kiln_error *err);

#endif
