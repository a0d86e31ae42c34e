/* kiln/data.h - training data for the small GPT: documents turned into one
 * token stream with a loss mask, split into training and validation, and
 * cut into batches.
 *
 * Inputs (each path a file or a directory walked recursively, names in byte
 * order, hidden entries skipped):
 *   - a file ending in .jsonl or .jsonl.gz: one record a line, either
 *       {"messages": [...]}  a chat sample (kiln export): rendered through
 *                            the chat template (kiln/chat.h); the loss
 *                            counts the last assistant message and the
 *                            end-of-text token only,
 *       {"prompt", "solution"} a task or candidate: the same as a user
 *                            message and an assistant answer,
 *       {"text"}             plain text, every token counted;
 *   - any other file (in a directory: only names ending in opts->ext when
 *     it is set): its bytes as one document, every token counted. Files
 *     with NUL bytes in their first 8 KiB are taken as binary and skipped.
 * Every document ends with the tokenizer's end-of-text token.
 *
 * The split is by document (a fixed hash of the document's index decides),
 * so no text is in both halves. Code and text are packed: windows of T+1
 * tokens at multiples of T of their stream; training windows are shifted
 * by a seeded offset in 0..T-1 that changes every epoch. Chat samples
 * start at position 0 of their own: a sample of at most T+1 tokens is
 * packed whole with others into a window (each sample at positions
 * 0, 1, ... of its own, attending only to itself: pos in kiln_data_batch,
 * kiln_train_forward_pos), a longer one gets windows of its own, T tokens
 * at a time. Training packs anew every epoch, in an order seeded by
 * (seed, epoch); validation packs once, in input order. With no_pack every
 * chat sample gets windows of its own. Training windows are visited in a
 * fresh seeded order every epoch, and a cursor (windows consumed so far)
 * is the whole data position, so a resumed run sees exactly the batches an
 * uninterrupted run would.
 */
#ifndef KILN_DATA_H
#define KILN_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/error.h"
#include "kiln/tokenizer.h"

typedef struct kiln_dataset kiln_dataset;

enum { KILN_SPLIT_TRAIN = 0, KILN_SPLIT_VAL = 1 };

typedef struct kiln_data_opts {
	const char *ext;      /* in directories, only names ending so */
	double val_fraction;  /* of documents; default 0.05 when 0 */
	uint64_t max_bytes;   /* stop reading past this; 0 = 1 GiB */
	int skip_bad;         /* skip malformed JSONL records (else stop) */
	int no_pack;          /* each chat sample in windows of its own (else
				 short ones are packed several a window) */
	/* Progress while reading (files, bytes); may be NULL. */
	void (*progress)(void *ctx, uint64_t files, uint64_t bytes);
	void *progress_ctx;
} kiln_data_opts;

typedef struct kiln_data_stats {
	uint64_t files, skipped_files, bytes;
	uint64_t docs, val_docs, records, bad_records;
	uint64_t tokens[2];   /* per split, end-of-text tokens included */
	uint64_t counted[2];  /* tokens the loss counts, per split */
} kiln_data_stats;

int kiln_data_load(kiln_dataset **out, const kiln_tok *tok,
		   const char *const *paths, int npaths,
		   const kiln_data_opts *opts, kiln_error *err);
void kiln_data_free(kiln_dataset *d);

void kiln_data_stats_get(const kiln_dataset *d, kiln_data_stats *st);

/* Windows of T+1 tokens available in a split (0 if it is too short). With
 * packing, training repacks every epoch, so this is the count of the
 * packing in input order (validation's); an epoch's may differ by a few
 * windows: kiln_data_epoch_windows. */
uint64_t kiln_data_windows(const kiln_dataset *d, int split, int T);

/* The windows of training epoch `epoch` for seed (for validation: of its
 * one packing); epoch e's windows follow epoch e-1's in the cursor. 0 if
 * the split is too short (or out of memory). */
uint64_t kiln_data_epoch_windows(kiln_dataset *d, int split, int T,
				 uint64_t seed, uint64_t epoch);

/* The entropy, in nats, of the training split's unigram distribution over
 * counted tokens: the loss of the best model that ignores context. */
double kiln_data_unigram_entropy(const kiln_dataset *d);

/* A hash of both splits' tokens and masks: a resumed run checks that it
 * trains on the same data. */
uint64_t kiln_data_fingerprint(const kiln_dataset *d);

/* Fills inputs and targets ([B][T] each) with the next B windows of a split
 * from *cursor, which advances by B. Training windows come in a seeded
 * order per epoch; validation windows in order, wrapping. Targets the loss
 * does not count are -1. pos ([B][T]; may be NULL when only the tokens
 * are wanted) receives each token's position in its own sample, as
 * kiln_train_forward_pos takes it: t in an unpacked window; in a packed
 * one 0, 1, ... for each sample, then for the padding. KILN_EINVAL when
 * the split has no window. */
int kiln_data_batch(kiln_dataset *d, int split, uint64_t *cursor,
		    uint64_t seed, int B, int T, int *inputs, int *targets,
		    int *pos, kiln_error *err);

#endif
