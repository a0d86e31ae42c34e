/* Internals shared by the curation stages (src/curate/). */
#ifndef KILN_CURATE_INT_H
#define KILN_CURATE_INT_H

#include <jansson.h>

#include "kiln/error.h"

/* The mutator process (src/curate/mutate.py, embedded): one reply per
 * request object, in order, as a JSON array in *replies. It parses and
 * compiles the code it is given, never runs it. */
int kiln__mutator_call(const json_t *requests, const char *python,
		       json_t **replies, kiln_error *err);

#endif
