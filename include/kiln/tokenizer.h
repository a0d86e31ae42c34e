/* kiln/tokenizer.h - byte-level BPE: training, encoding, decoding, files.
 *
 * Ids. 0..255 are the bytes themselves; 256 .. 256+M-1 are the M merges in
 * the order they were learnt (merge i joins two earlier ids into id 256+i);
 * the last id, 256+M, is end-of-text (EOT). vocab = 257 + M. The plain byte
 * tokenizer is the case M = 0.
 *
 * Encoding. The input is first cut into chunks by the tokenizer's
 * pre-tokenizer (GPT-2 style, written for code, with or without digits
 * split; docs/FORMATS.md "Tokenizer file" gives the rules), and merges
 * never cross a chunk boundary. Within a chunk the
 * merges apply in the order they were learnt (lowest id first; equal pairs
 * left to right), exactly as GPT-2's bpe() does. Every byte sequence encodes
 * (every byte is an id), and decode(encode(x)) == x for every x: invalid
 * UTF-8, NULs and the empty input included. encode() never produces EOT.
 *
 * A kiln_tok is immutable once made: encode, decode and piece may be called
 * from many threads at once. Every function returns 0 or a negative KILN_E*
 * and fills err; none prints or exits.
 */
#ifndef KILN_TOKENIZER_H
#define KILN_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/error.h"

typedef struct kiln_tok kiln_tok;

/* Limits. A chunk is at most KILN_TOK_MAX_CHUNK bytes (longer runs are cut),
 * so no token is longer than that either. */
#define KILN_TOK_MAX_CHUNK 64
#define KILN_TOK_MAX_VOCAB (1 << 20)

/* Pre-tokenizers, stored in the tokenizer (and its file). GPT2: runs of one
 * byte class with an optional leading space; every tokenizer written before
 * digit splitting has it. DIGITS: the same, but every ASCII digit is a chunk
 * of its own (no leading space, never merged with anything), as LLaMA's and
 * GPT-4's tokenizers split numbers, so a number reads the same digit tokens
 * in " 5", "-5" and "(5". */
enum { KILN_TOK_PRETOK_GPT2 = 1, KILN_TOK_PRETOK_DIGITS = 2 };

/* The plain byte tokenizer: ids 0..255 are bytes, 256 is EOT; vocab 257. */
int kiln_tok_bytes(kiln_tok **out, kiln_error *err);

/* --- training ------------------------------------------------------------ */

enum { KILN_TOK_READING = 1, KILN_TOK_MERGING = 2, KILN_TOK_DONE = 3 };

typedef struct kiln_tok_train_stats {
	int phase;               /* KILN_TOK_READING, _MERGING, _DONE */
	uint64_t files;          /* files read (a truncated last one counts) */
	uint64_t bytes;          /* bytes read and pre-tokenized */
	uint64_t chunks;         /* chunks the pre-tokenizer cut them into */
	uint64_t unique_chunks;  /* distinct chunks */
	int merges;              /* merges learnt so far */
	int merges_wanted;       /* vocab - 257 */
	uint64_t tokens;         /* the corpus's length in tokens with the
				    merges so far (bytes / tokens is the
				    compression ratio) */
	int truncated;           /* max_bytes stopped the reading */
} kiln_tok_train_stats;

typedef struct kiln_tok_train_opts {
	/* In directories, read only files whose name ends with this (".py");
	 * NULL or "" reads every regular file. Files named in paths are
	 * always read. Entries whose name starts with '.' are skipped. */
	const char *ext;
	/* Stop reading after this many bytes (0: KILN_TOK_DEFAULT_MAX_BYTES);
	 * the file being read when the cap is hit is cut there. */
	uint64_t max_bytes;
	/* Called now and then (after each file, every 16 merges, at the
	 * end) with the figures so far. A nonzero return stops training
	 * with KILN_EINVAL "cancelled". May be NULL. */
	int (*progress)(void *ctx, const kiln_tok_train_stats *st);
	void *progress_ctx;
	/* If non-NULL, receives the final figures (also on failure: what
	 * was done until then). */
	kiln_tok_train_stats *stats;
	/* Nonzero: the tokenizer splits digits (KILN_TOK_PRETOK_DIGITS);
	 * 0 (the default): KILN_TOK_PRETOK_GPT2. */
	int split_digits;
} kiln_tok_train_opts;

#define KILN_TOK_DEFAULT_MAX_BYTES ((uint64_t)256 << 20)

/* Trains byte-level BPE to `vocab` ids in all (257 <= vocab <=
 * KILN_TOK_MAX_VOCAB): 256 byte ids, up to vocab-257 merges, then EOT as the
 * last id. Each step merges the most frequent adjacent pair of ids in the
 * corpus's chunks; ties go to the pair with the smaller left id, then the
 * smaller right id. The same corpus and vocab give the same tokenizer. If
 * the corpus runs out of pairs first, the tokenizer is smaller: check
 * kiln_tok_vocab(). Each path is a file or a directory, walked recursively
 * in byte order of names (symbolic links to directories are not followed).
 * opts may be NULL. */
int kiln_tok_train(kiln_tok **out, int vocab, const char *const *paths,
		   int npaths, const kiln_tok_train_opts *opts,
		   kiln_error *err);
/* The same on a buffer in memory (opts->ext is not used). */
int kiln_tok_train_mem(kiln_tok **out, int vocab, const void *data,
		       size_t n, const kiln_tok_train_opts *opts,
		       kiln_error *err);

/* --- use ------------------------------------------------------------------ */

int kiln_tok_vocab(const kiln_tok *t);
int kiln_tok_eot(const kiln_tok *t);  /* end-of-text id: vocab - 1 */
int kiln_tok_merges(const kiln_tok *t); /* vocab - 257 */
int kiln_tok_pretok(const kiln_tok *t); /* KILN_TOK_PRETOK_* */
/* The two ids that merge i (0 <= i < merges) joins into id 256+i. */
int kiln_tok_merge(const kiln_tok *t, int i, int *left, int *right);

/* Encodes n bytes into *ids (malloc'd, never NULL on success; at most n
 * ids); *nids receives the count. Fails only for memory. */
int kiln_tok_encode(const kiln_tok *t, const void *bytes, size_t n,
		    int **ids, size_t *nids, kiln_error *err);

/* The bytes of token `id` (not NUL-terminated), their length in *len; EOT
 * has none (len 0, non-NULL pointer). NULL for an id out of range. The
 * bytes live as long as t. */
const unsigned char *kiln_tok_piece(const kiln_tok *t, int id, size_t *len);

/* The bytes of n ids into *out (malloc'd, NUL-terminated; *len excludes the
 * NUL); EOT adds nothing. KILN_EINVAL names an id out of range. */
int kiln_tok_decode(const kiln_tok *t, const int *ids, size_t n, char **out,
		    size_t *len, kiln_error *err);

/* The pre-tokenizer `pretok` (KILN_TOK_PRETOK_*; anything else is GPT2):
 * the length of the first chunk of p[0..n) (1 <= len <= KILN_TOK_MAX_CHUNK;
 * 0 only when n == 0). A length shorter than n is final: bytes after p[n-1]
 * could not change it, so a stream can be cut anywhere and resumed at the
 * start of the first chunk that reached the cut. */
size_t kiln_tok_chunk_pretok(int pretok, const void *p, size_t n);
/* The same with KILN_TOK_PRETOK_GPT2. */
size_t kiln_tok_chunk(const void *p, size_t n);

/* --- files (docs/FORMATS.md, "Tokenizer file") ---------------------------- */

/* The tokenizer as a self-checking byte string (*buf malloc'd): what
 * kiln_tok_save writes, and what a model checkpoint embeds. */
int kiln_tok_serialize(const kiln_tok *t, unsigned char **buf, size_t *len,
		       kiln_error *err);
/* Checks everything (size, magic, version, counts, checksum, that each merge
 * joins earlier ids, no pair twice, token lengths) before it builds a
 * tokenizer: a truncated, foreign or corrupted input is KILN_EPARSE with a
 * message that says which check failed, never a crash. */
int kiln_tok_deserialize(kiln_tok **out, const void *buf, size_t len,
			 kiln_error *err);
/* Atomic: a temporary file in the same directory, fsync, rename. */
int kiln_tok_save(const kiln_tok *t, const char *path, kiln_error *err);
int kiln_tok_load(kiln_tok **out, const char *path, kiln_error *err);

void kiln_tok_free(kiln_tok *t);

#endif
