/* kiln/task.h - task and candidate records, and importers.
 *
 * A task record (JSON, see docs/FORMATS.md): id, prompt, language,
 * entry_point?, solution?, tests? (a list of independent snippets, or one
 * test program as a string), test_setup?, origin, source, license.
 * A candidate record: id, candidate (index), solution, tests, teacher, ...
 * Unknown fields are carried through by every stage.
 */
#ifndef KILN_TASK_H
#define KILN_TASK_H

#include <jansson.h>

#include "kiln/error.h"
#include "kiln/sandbox.h"

/* Fills job from a task or candidate record. The job borrows strings from
 * rec (keep rec alive) and owns its tests array: kiln_job_release() it. */
int kiln_job_from_record(const json_t *rec, kiln_job *job, kiln_error *err);
void kiln_job_release(kiln_job *job);

typedef enum kiln_import_format {
	KILN_IMPORT_HUMANEVAL,       /* openai/human-eval */
	KILN_IMPORT_MBPP,            /* mbpp.jsonl */
	KILN_IMPORT_HUMANEVAL_X,     /* THUDM/CodeGeeX, any of six languages */
	KILN_IMPORT_MBPP_SANITIZED,  /* sanitized-mbpp.json: one JSON array */
	KILN_IMPORT_EVALPLUS,        /* HumanEval+ native (evalplus) */
} kiln_import_format;

/* "humaneval", "mbpp", "humaneval-x", "mbpp-sanitized", "evalplus". */
int kiln_import_format_parse(const char *name, kiln_import_format *fmt,
			     kiln_error *err);
const char *kiln_import_format_list(void);

/* What an importer stamps as source and license unless told otherwise
 * (the publisher's: HumanEval MIT, MBPP CC-BY-4.0, HumanEval-X and
 * HumanEval+ Apache-2.0). */
const char *kiln_import_default_source(kiln_import_format fmt);
const char *kiln_import_default_license(kiln_import_format fmt);

/* Converts one published record into a new kiln task record. For
 * evalplus the task's I/O tests have no "expect" yet: see
 * kiln_evalplus_expect (kiln/evalplus.h), and kiln_evalplus_parse_line
 * for records with integers beyond 64 bits, which no json_t holds. */
int kiln_import_record(kiln_import_format fmt, const json_t *in,
		       json_t **task, kiln_error *err);

/* Internal: the evalplus importer on a json_t (import_evalplus.c). */
int kiln__import_evalplus_record(const json_t *in, json_t **task,
				 kiln_error *err);

#endif
