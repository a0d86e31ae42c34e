/* Internals of the BPE tokenizer, shared by tokenizer.c (tables, encoding,
 * files) and tok_train.c (training). */
#ifndef KILN_MODEL_TOK_INT_H
#define KILN_MODEL_TOK_INT_H

#include <stdint.h>

#include "kiln/tokenizer.h"

struct kiln_tok {
	int vocab, nmerges, eot;  /* vocab = 257 + nmerges, eot = vocab - 1 */
	int pretok;               /* KILN_TOK_PRETOK_* */
	int32_t *merges;          /* [nmerges][2]: left, right */
	uint32_t *off;            /* [vocab + 1]: id i is pieces[off[i]..off[i+1]) */
	unsigned char *pieces;
	/* Rank lookup, open addressing: keys[h] = left << 32 | right (empty:
	 * UINT64_MAX), ranks[h] = merge index. */
	uint64_t *keys;
	int32_t *ranks;
	uint32_t mask;
	int shift;
};

/* Builds a tokenizer from a merge list ([n][2]) and its pre-tokenizer
 * (KILN_TOK_PRETOK_*), checking it as the file loader must: each merge joins
 * two earlier non-EOT ids, no pair twice, no token longer than
 * KILN_TOK_MAX_CHUNK. KILN_EPARSE names the bad merge. */
int kiln__tok_from_merges(kiln_tok **out, const int32_t *merges, int n,
			  int pretok, kiln_error *err);

#endif
