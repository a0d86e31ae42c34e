/* Internals shared by the stages on the teacher engine (src/pipeline/). */
#ifndef KILN_PIPELINE_INT_H
#define KILN_PIPELINE_INT_H

#include <jansson.h>

#include "kiln/generate.h"

/* The JSON text of a request for prompt with g's model, sampling options
 * and stop, this seed and n choices (chat, or /completions with
 * g->completions); keys in a fixed order, since the hash of the text is
 * the cache key. NULL when out of memory. Every stage's requests
 * (generate.c). */
char *kiln__request_body(const kiln_generate_opts *g, const char *prompt,
			 long seed, int n);

/* The text of an answer's first choice, or NULL. */
const char *kiln__answer_text(const json_t *answer, int completions);

/* A JSON string's text, or NULL when s is not a string or holds a NUL
 * byte (\u0000: no code or test of kiln's can), *nul then set when nul is
 * not NULL. */
const char *kiln__text_value(const json_t *s, int *nul);

#endif
