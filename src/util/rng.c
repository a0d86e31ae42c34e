/* The one pseudo-random generator (kiln/rng.h). */
#include "kiln/rng.h"

uint64_t kiln_rng_split(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t kiln_rng_mix(uint64_t z)
{
	return kiln_rng_split(&z);
}

void kiln_rng_seed(kiln_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = kiln_rng_split(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* xoshiro256** (Blackman and Vigna). */
uint64_t kiln_rng_next(kiln_rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

double kiln_rng_double(kiln_rng *r)
{
	return (double)(kiln_rng_next(r) >> 11) * 0x1.0p-53;
}
