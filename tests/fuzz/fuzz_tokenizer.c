/* fuzz_tokenizer - tokenizer files and the tokenizer itself.
 *
 * The input is used four ways:
 *   A. as a tokenizer file, as it is;
 *   B. the same with its last 8 bytes replaced by the right checksum, so
 *      that the checks behind the checksum (counts, merges) are reached;
 *   C. as a merge list: a well-formed header is put in front of the input's
 *      8-byte records (at most 300; each value folded into 0 .. id+1, so
 *      that most merges are valid and some point at EOT or beyond) and the
 *      checksum after them;
 *   D. as a training corpus (vocab 257 + the first byte).
 * A, B and C must either load or fail with KILN_EPARSE, a NULL tokenizer and
 * a message; training must succeed. Every tokenizer made must then:
 *   - serialize back to the same bytes (A, B, C) and load again (D);
 *   - have pieces of at most KILN_TOK_MAX_CHUNK bytes, none for EOT;
 *   - encode the input (and its reversal) to ids below EOT and decode them
 *     back to the same bytes; on the input's first 512 bytes, give the same
 *     ids as ref_encode (tests/unit/tok_ref.h: merges in rank order, written
 *     from the documented rules);
 *   - (D) encode its corpus to exactly the token count training reported,
 *     and, for inputs up to 512 bytes, have learnt the same merges as
 *     ref_train (a full recount of every pair before each merge).
 * The pre-tokenizer must cut the input as ref_chunk does (both of them:
 * ref_chunk_pretok with digits split).
 * Any failure calls abort(), so libFuzzer and the replay test see it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "kiln/tokenizer.h"
#include "../unit/tok_ref.h"
#include "fuzz.h"

#define MAX_SYNTH_MERGES 300

/* ref_encode is slow (every merge over every chunk): it checks the first
 * REF_BYTES of an input only. */
#define REF_BYTES 512

static void check_encoding(const kiln_tok *t, const unsigned char *p, size_t n,
			   int with_ref)
{
	int *ids, *ref;
	size_t nids, nref, len;
	char *back;
	kiln_error err;

	if (kiln_tok_encode(t, p, n, &ids, &nids, &err) != 0)
		FAIL("encode of %zu bytes failed: %s", n, err.msg);
	if (nids > n)
		FAIL("%zu ids for %zu bytes", nids, n);
	for (size_t i = 0; i < nids; i++)
		if (ids[i] < 0 || ids[i] >= kiln_tok_eot(t))
			FAIL("id %d at %zu (eot %d)", ids[i], i,
			     kiln_tok_eot(t));
	if (with_ref) {
		int *pre;
		size_t npre, m = n < REF_BYTES ? n : REF_BYTES;

		ref = malloc((m ? m : 1) * sizeof(int));
		if (!ref)
			abort();
		nref = ref_encode(t, p, m, ref);
		if (m < n) {
			if (kiln_tok_encode(t, p, m, &pre, &npre, &err) != 0)
				FAIL("encode: %s", err.msg);
		} else {
			pre = ids;
			npre = nids;
		}
		if (nref != npre || memcmp(pre, ref, npre * sizeof(int)) != 0)
			FAIL("encode gives %zu ids, the reference %zu (or "
			     "others)", npre, nref);
		if (pre != ids)
			free(pre);
		free(ref);
	}
	if (kiln_tok_decode(t, ids, nids, &back, &len, &err) != 0)
		FAIL("decode failed: %s", err.msg);
	if (len != n || memcmp(back, p, n) != 0 || back[n] != '\0')
		FAIL("round trip of %zu bytes gave %zu others", n, len);
	free(back);
	free(ids);
}

static void check_tok(const kiln_tok *t, const uint8_t *data, size_t size,
		      const unsigned char *file, size_t flen)
{
	unsigned char *ser, *rev;
	size_t slen, len;
	kiln_error err;

	if (kiln_tok_vocab(t) != 257 + kiln_tok_merges(t) ||
	    kiln_tok_eot(t) != kiln_tok_vocab(t) - 1)
		FAIL("vocab %d, merges %d, eot %d", kiln_tok_vocab(t),
		     kiln_tok_merges(t), kiln_tok_eot(t));
	for (int id = 0; id < kiln_tok_vocab(t); id++) {
		if (!kiln_tok_piece(t, id, &len) || len > KILN_TOK_MAX_CHUNK ||
		    (id == kiln_tok_eot(t)) != (len == 0))
			FAIL("id %d: piece of %zu bytes", id, len);
	}
	if (kiln_tok_serialize(t, &ser, &slen, &err) != 0)
		FAIL("serialize: %s", err.msg);
	if (file && (slen != flen || memcmp(ser, file, flen) != 0))
		FAIL("serialized to other bytes (%zu, loaded from %zu)", slen,
		     flen);
	if (!file) {
		kiln_tok *u;
		if (kiln_tok_deserialize(&u, ser, slen, &err) != 0)
			FAIL("a trained tokenizer does not load: %s", err.msg);
		kiln_tok_free(u);
	}
	free(ser);
	check_encoding(t, data, size, 1);
	rev = malloc(size ? size : 1);
	if (!rev)
		abort();
	for (size_t i = 0; i < size; i++)
		rev[i] = data[size - 1 - i];
	check_encoding(t, rev, size, 0);
	free(rev);
}

static void try_load(const unsigned char *b, size_t len, const uint8_t *data,
		     size_t size)
{
	kiln_tok *t = (kiln_tok *)1;
	kiln_error err = { 0, "" };
	int rc = kiln_tok_deserialize(&t, b, len, &err);

	if (rc == 0) {
		if (!t)
			FAIL("loaded, but no tokenizer");
		check_tok(t, data, size, b, len);
		kiln_tok_free(t);
		return;
	}
	if (rc != KILN_EPARSE || t != NULL)
		FAIL("rc %d, tokenizer %p", rc, (void *)t);
	if (err.code != rc || err.msg[0] == '\0' ||
	    strnlen(err.msg, sizeof(err.msg)) == sizeof(err.msg))
		FAIL("no clear message (code %d)", err.code);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t nm = size / 8 < MAX_SYNTH_MERGES ? size / 8 : MAX_SYNTH_MERGES;
	size_t slen = 32 + 8 * nm + 8;
	unsigned char *b;
	kiln_tok *t;
	kiln_tok_train_stats st;
	kiln_tok_train_opts o = { .stats = &st };
	kiln_error err;

	/* the pre-tokenizer */
	for (size_t i = 0; i < size;) {
		size_t len = kiln_tok_chunk(data + i, size - i);
		if (len != ref_chunk(data + i, size - i) || len == 0)
			FAIL("chunk at %zu: %zu, reference %zu", i, len,
			     ref_chunk(data + i, size - i));
		i += len;
	}
	for (size_t i = 0; i < size;) {
		size_t len = kiln_tok_chunk_pretok(KILN_TOK_PRETOK_DIGITS,
						   data + i, size - i);
		size_t ref = ref_chunk_pretok(KILN_TOK_PRETOK_DIGITS,
					      data + i, size - i);
		if (len != ref || len == 0)
			FAIL("digits-split chunk at %zu: %zu, reference %zu",
			     i, len, ref);
		i += len;
	}

	/* A and B */
	try_load(data, size, data, size);
	if (size >= 8) {
		b = malloc(size);
		if (!b)
			abort();
		memcpy(b, data, size);
		reseal(b, size);
		try_load(b, size, data, size);
		free(b);
	}

	/* C */
	b = malloc(slen);
	if (!b)
		abort();
	memcpy(b, "KILNTOK1", 8);
	put32(b + 8, 1);
	put32(b + 12, (uint32_t)(257 + nm));
	put32(b + 16, (uint32_t)nm);
	put32(b + 20, (uint32_t)(256 + nm));
	put32(b + 24, 1);
	put32(b + 28, KILN_TOK_MAX_CHUNK);
	for (size_t i = 0; i < nm; i++)
		for (int k = 0; k < 2; k++) {
			const uint8_t *q = data + 8 * i + 4 * k;
			uint32_t v = (uint32_t)q[0] | (uint32_t)q[1] << 8 |
				     (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
			put32(b + 32 + 8 * i + 4 * k,
			      v % (uint32_t)(256 + i + 2));
		}
	reseal(b, slen);
	try_load(b, slen, data, size);
	free(b);

	/* D */
	if (kiln_tok_train_mem(&t, 257 + (size ? data[0] : 0), data, size, &o,
			       &err) != 0)
		FAIL("training on %zu bytes failed: %s", size, err.msg);
	if (st.bytes != size)
		FAIL("training read %llu of %zu bytes",
		     (unsigned long long)st.bytes, size);
	check_tok(t, data, size, NULL, 0);
	{
		int *ids;
		size_t nids;
		if (kiln_tok_encode(t, data, size, &ids, &nids, &err) != 0)
			FAIL("encode: %s", err.msg);
		if (nids != st.tokens)
			FAIL("training counted %llu tokens, encoding gives %zu",
			     (unsigned long long)st.tokens, nids);
		free(ids);
	}
	/* the same merges as a full recount (slow: small inputs only) */
	if (size <= REF_BYTES) {
		int want = size ? data[0] : 0, *ref = malloc(2 * 256 * sizeof(int));
		int nref;

		if (!ref)
			abort();
		nref = ref_train(data, size, want, ref);
		if (nref != kiln_tok_merges(t))
			FAIL("%d merges, the reference %d", kiln_tok_merges(t),
			     nref);
		for (int i = 0; i < nref; i++) {
			int l, r;
			kiln_tok_merge(t, i, &l, &r);
			if (l != ref[2 * i] || r != ref[2 * i + 1])
				FAIL("merge %d: (%d, %d), the reference (%d, %d)",
				     i, l, r, ref[2 * i], ref[2 * i + 1]);
		}
		free(ref);
	}
	kiln_tok_free(t);
	return 0;
}
