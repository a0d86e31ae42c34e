/* kiln/rng.h - the one pseudo-random generator of kiln.
 *
 *   kiln_rng           xoshiro256**, seeded through splitmix64: the same
 *                      seed gives the same draws on every machine. The
 *                      sampler, retry jitter and anything else that draws
 *                      many numbers uses it.
 *   kiln_rng_split     splitmix64 itself, one step of a 64-bit state: the
 *                      stream behind model weight initialisation, kept as
 *                      it is so that a seed gives the same weights.
 *   kiln_rng_mix       splitmix64's output for one state, as a stateless
 *                      hash of a 64-bit value (shuffles, splits).
 *
 * Not for secrets: none of these is a cryptographic generator.
 */
#ifndef KILN_RNG_H
#define KILN_RNG_H

#include <stdint.h>

typedef struct kiln_rng {
	uint64_t s[4];
} kiln_rng;

void kiln_rng_seed(kiln_rng *r, uint64_t seed);
uint64_t kiln_rng_next(kiln_rng *r);
/* Uniform in [0, 1), 53 random bits. */
double kiln_rng_double(kiln_rng *r);

/* Adds the golden-ratio increment to *state and returns the mixed value. */
uint64_t kiln_rng_split(uint64_t *state);
/* kiln_rng_split on a copy of z: the same z gives the same value. */
uint64_t kiln_rng_mix(uint64_t z);

#endif
