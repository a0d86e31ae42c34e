/* kiln/teacher.h - the teacher engine: asking a model through the store.
 *
 * A stage that needs a teacher (generate, eval, and the coming rewrite,
 * judge and `kiln run`) hands the engine its units of work (tasks, say)
 * and three callbacks; the engine does the rest, resumably:
 *
 *   begin(unit)    the stage adds the unit's requests (kiln_teacher_add:
 *                  a store key and a rendered JSON body each);
 *   settled(unit)  every request of the unit has an outcome (an answer, or
 *                  a failure recorded in the store); the stage may add more
 *                  (a follow-up: the rest of the choices, a revision of a
 *                  critique) and is called again once those settle;
 *   complete(unit) the unit is settled and added nothing more: the stage
 *                  writes its output. Called in unit order, each unit once,
 *                  so a run killed and resumed writes exactly what an
 *                  uninterrupted run would.
 *
 * Every request is an item in the store (kiln/store.h) before it is sent.
 * A pending item whose exact request (the hash of base URL, path and body)
 * was answered before is answered from the store (the cache); the rest go
 * to the HTTP client (kiln/llm.h: retries, back-off, rate limits) and their
 * outcomes are committed in batches as they arrive. An item settled in an
 * earlier run is not sent again (retry_failed: a failed one is).
 *
 * Units with the same id (unit_id) are one unit: its requests are added
 * once; complete is called for each of them, with the first one's answers.
 *
 * Threads: the caller's runs the HTTP loop; kiln_teacher_run starts and
 * joins a store thread, which makes every callback (one at a time) and is
 * the only one to touch the store; the HTTP client parses answers on a
 * checker thread of its own. See docs/GENERATE.md, "How a run is laid
 * out", and docs/HACKING.md.
 */
#ifndef KILN_TEACHER_H
#define KILN_TEACHER_H

#include <jansson.h>
#include <stddef.h>

#include "kiln/error.h"
#include "kiln/llm.h"
#include "kiln/store.h"

typedef struct kiln_teacher_stats {
	long jobs;            /* requests the run needs in all */
	long already;         /* settled (answered or failed) before */
	long failed_before;   /* of those, failed */
	long cached;          /* answered from an identical earlier request */
	long sent;            /* answered by the server in this run */
	long failed;          /* gave up in this run (recorded in the store) */
	long input_tokens, output_tokens;  /* as the answers' usage says */
	long usage_unknown;   /* answers sent in this run without usage: their
			       * tokens are not in the counts above */
	double seconds;
	/* The first error of this run's failed requests ("" when none). */
	char first_error[300];
	/* Set when the run stopped on an error that a second run can get
	 * past, with what this one stored kept (the store stopped taking
	 * writes, the output could not be written, memory ran out): the
	 * message may say "run again to resume". Not set for a request or
	 * input that will fail the same way again. */
	int resumable;
} kiln_teacher_stats;

/* One request of a unit as the stage sees it. */
typedef struct kiln_teacher_slot {
	json_t *answer;       /* the parsed answer, borrowed; NULL when the
			       * request failed (failed set) or its stored
			       * answer no longer parses */
	int failed;
	long tag;             /* the stage's, from kiln_teacher_add */
} kiln_teacher_slot;

typedef struct kiln_teacher kiln_teacher;

typedef struct kiln_teacher_opts {
	kiln_llm_config llm;
	const char *path;      /* "/chat/completions" or "/completions" */
	int no_cache;          /* send even when the cache has the answer */
	int retry_failed;      /* send again what failed before */
	size_t units;
	/* The unit's id: the store's task id of its requests; units with the
	 * same id share them. */
	const char *(*unit_id)(void *ctx, size_t unit);
	int (*begin)(void *ctx, kiln_teacher *t, size_t unit, kiln_error *err);
	/* Optional: NULL adds nothing after begin. */
	int (*settled)(void *ctx, kiln_teacher *t, size_t unit,
		       const kiln_teacher_slot *slots, size_t n,
		       kiln_error *err);
	int (*complete)(void *ctx, size_t unit, const kiln_teacher_slot *slots,
			size_t n, kiln_error *err);
	/* Optional: after each outcome, on the store thread. */
	void (*progress)(void *ctx, const kiln_teacher_stats *st);
	void *ctx;
} kiln_teacher_opts;

void kiln_teacher_opts_default(kiln_teacher_opts *o);

/* Runs every unit to completion. Returns 0, or a negative KILN_E* with err
 * filled: a callback's error (passed on as it is), the store's, or
 * KILN_EIO when the run needed requests and every one of them failed (in
 * this run or an earlier one): err then gives the count and the first
 * error (complete has been called for every unit by then: a stage that
 * writes atomically drops its output). st is filled either way. */
int kiln_teacher_run(const kiln_teacher_opts *o, kiln_store *store,
		     kiln_teacher_stats *st, kiln_error *err);

/* From begin or settled only: adds request body (JSON text; taken, freed
 * even on error) to unit, as the store item (unit's id, index, kind,
 * hash of the request). It takes the next slot of the unit: slots are
 * numbered in the order of adding. tag is the stage's, handed back in the
 * slot. The outcome may be known at once (cached, or settled in an earlier
 * run); settled is then called without a round trip. */
int kiln_teacher_add(kiln_teacher *t, size_t unit, const char *kind,
		     int index, char *body, long tag, kiln_error *err);

#endif
