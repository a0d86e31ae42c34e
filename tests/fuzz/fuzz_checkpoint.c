/* fuzz_checkpoint - model checkpoint files (kiln__gpt_parse, the body of
 * kiln_gpt_load).
 *
 * The input is used twice: as a checkpoint as it is, and with its last 8
 * bytes replaced by the right XXH64, so that what lies behind the checksum
 * (blob lengths, parameter counts, allocation) is reached too. Each parse
 * must either succeed or fail with KILN_EPARSE (or KILN_ENOMEM), a NULL
 * model, empty blobs and a message. A model that loads must have a valid
 * configuration, blobs that fit in the input, and must run one inference
 * row (whatever its weights: NaN and infinities included) without a crash.
 * Any failure calls abort().
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "kiln/model.h"
#include "model/gpt_int.h"
#include "fuzz.h"

static void one(const uint8_t *data, size_t size)
{
	kiln_gpt *m = (kiln_gpt *)1;
	kiln_blob tok = { (void *)1, 99 }, train = { (void *)1, 99 };
	kiln_error err = { 0 };
	int rc = kiln__gpt_parse(data, size, "input", &m, &tok, &train, &err);

	if (rc) {
		if (rc != KILN_EPARSE && rc != KILN_ENOMEM)
			FAIL("unexpected code %d (%s)", rc, err.msg);
		if (m || tok.data || train.data || tok.len || train.len)
			FAIL("a failed parse left something behind");
		if (!err.msg[0])
			FAIL("error without a message");
		return;
	}
	if (kiln_gpt_config_check(&m->cfg, NULL))
		FAIL("loaded an invalid configuration");
	if (m->n_params != kiln_gpt_param_count(&m->cfg) ||
	    64 + m->n_params * 4 + tok.len + train.len + 8 != size)
		FAIL("sizes do not add up");
	if (m->n_params < (1u << 20)) {
		kiln_kv *kv;
		int slot = 0, pos = 0, t = 0;
		float *lg = malloc(sizeof(float) * (size_t)m->cfg.vocab);

		if (lg && !kiln_kv_new(&kv, m, 1, NULL)) {
			if (kiln_gpt_infer(m, kv, 1, &slot, &pos, &t, NULL, lg, NULL))
				FAIL("one valid inference row refused");
			kiln_kv_free(kv);
		}
		free(lg);
	}
	free(tok.data);
	free(train.data);
	kiln_gpt_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *fixed;
	uint64_t h;

	one(data, size);
	if (size < 72)
		return 0;
	fixed = malloc(size);
	if (!fixed)
		return 0;
	memcpy(fixed, data, size);
	h = XXH64(fixed, size - 8, 0);
	for (int i = 0; i < 8; i++)
		fixed[size - 8 + i] = (uint8_t)(h >> (8 * i));
	one(fixed, size);
	free(fixed);
	return 0;
}
