/* Internals shared by the stages on the teacher engine (src/pipeline/). */
#ifndef KILN_PIPELINE_INT_H
#define KILN_PIPELINE_INT_H

#include <jansson.h>

#include "kiln/generate.h"

/* The JSON text of a one-choice request for prompt with g's model,
 * sampling options and seed (chat, or /completions with g->completions);
 * keys in a fixed order, since the hash of the text is the cache key.
 * NULL when out of memory. The judge's and rewrite's requests. */
char *kiln__request_body(const kiln_generate_opts *g, const char *prompt);

/* The text of an answer's first choice, or NULL. */
const char *kiln__answer_text(const json_t *answer, int completions);

#endif
