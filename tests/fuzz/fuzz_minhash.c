/* fuzz_minhash - any bytes through kiln dedup's text pipeline.
 *
 * The input is one document. For both presets (code: identifier tokens
 * and SHA-1; datatrove: the Unicode simplification and words):
 *   - kiln_minhash_sign and kiln_minhash_sign_ref agree: both fail (invalid
 *     UTF-8: KILN_EPARSE, with a message) or both give the same signature,
 *     and a signature with no shingle is all ones;
 *   - the distinct shingle set has as many hashes as sign returned, with no
 *     repeat, and its Jaccard similarity with itself is 1;
 *   - the simplification's ASCII pass equals the general pipeline on
 *     ASCII input, and then its output never holds "  " nor starts or
 *     ends with a space (outside ASCII a removed mark may leave "  ", as
 *     in Python).
 * Any disagreement calls abort().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/minhash.h"
#include "fuzz.h"

static void one(const char *preset, const char *s, size_t n)
{
	kiln_minhash_params p;
	kiln_minhash *m;
	kiln_error err;
	uint64_t sig[256], ref[256];
	const uint64_t *set;

	if (kiln_minhash_preset(preset, &p) || kiln_minhash_new(&m, &p, &err))
		FAIL("%s: no minhash", preset);
	long a = kiln_minhash_sign(m, s, n, sig, &set, &err);
	long b = kiln_minhash_sign_ref(m, s, n, ref, &err);
	if ((a < 0) != (b < 0))
		FAIL("%s: fast %ld, plain %ld", preset, a, b);
	if (a >= 0) {
		if (memcmp(sig, ref, (size_t)p.permutations * 8))
			FAIL("%s: signatures differ", preset);
		for (int k = 0; a == 0 && k < p.permutations; k++)
			if (sig[k] != UINT64_MAX)
				FAIL("%s: no shingle but a value", preset);
		if (a > 0 && kiln_minhash_jaccard(set, (size_t)a, set,
						  (size_t)a) != 1.0)
			FAIL("%s: set not equal to itself (repeats?)", preset);
		/* asking for no set (word tokens: no distinct-shingle table),
		 * then for the set afterwards */
		uint64_t sig2[256];
		const uint64_t *set2;
		long c = kiln_minhash_sign(m, s, n, sig2, NULL, &err);
		if (c < 0 || memcmp(sig, sig2, (size_t)p.permutations * 8))
			FAIL("%s: signature without the set differs", preset);
		long d = kiln_minhash_last_set(m, &set2);
		if (p.tokens == KILN_MINHASH_WORDS && a > 0 &&
		    (d != a || kiln_minhash_jaccard(set, (size_t)a, set2,
						    (size_t)d) != 1.0))
			FAIL("%s: the set afterwards differs", preset);
	} else if (!err.msg[0]) {
		FAIL("%s: an error without a message", preset);
	}
	kiln_minhash_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	char *a = NULL, *b = NULL;
	size_t na, nb;
	kiln_error err;
	int ascii = 1;

	if (size > 1 << 16)
		return 0;
	one("code", s, size);
	one("datatrove", s, size);
	for (size_t i = 0; i < size; i++)
		ascii &= data[i] < 0x80;
	int ra = kiln_minhash_simplify(s, size, 0, &a, &na, &err);
	int rb = kiln_minhash_simplify(s, size, 1, &b, &nb, &err);
	if (ra != rb)
		FAIL("simplify: %d and %d", ra, rb);
	if (!ra) {
		if (ascii && (na != nb || memcmp(a, b, na)))
			FAIL("simplify: ASCII pass differs");
		if (ascii && na && (a[0] == ' ' || a[na - 1] == ' ' || strstr(a, "  ")))
			FAIL("simplify: whitespace left");
	}
	free(a), free(b);
	return 0;
}
