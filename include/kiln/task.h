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
	KILN_IMPORT_HUMANEVAL,
	KILN_IMPORT_MBPP,
} kiln_import_format;

int kiln_import_format_parse(const char *name, kiln_import_format *fmt,
			     kiln_error *err);

/* Converts one published record into a new kiln task record. */
int kiln_import_record(kiln_import_format fmt, const json_t *in,
		       json_t **task, kiln_error *err);

#endif
