/* Byte-level BPE: the pre-tokenizer, the tables, encoding, decoding and the
 * tokenizer file. Training is in tok_train.c. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "model/tok_int.h"
#include "util/le.h"

#define EMPTY_KEY UINT64_MAX
#define NO_RANK INT32_MAX

/* --- the pre-tokenizer ----------------------------------------------------
 *
 * Four byte classes. Letters are ASCII letters, '_' and every byte >= 0x80
 * (so identifiers and UTF-8 words stay whole); whitespace is space and
 * \t \n \v \f \r; digits 0-9; everything else is punctuation. A chunk is
 *   - an optional space, then a run of letters, of digits or of punctuation;
 *   - or a run of whitespace; when a run of two or more ends with a space
 *     and something other than whitespace follows, that space is left to
 *     start the next chunk (as GPT-2's \s+(?!\S)), so "\n    x" is "\n   "
 *     and " x" (GPT-2 would also split "\n\tx" into "\n", "\t", "x"; here
 *     only a space is left over, so tab indentation stays with its newline);
 * and a chunk longer than KILN_TOK_MAX_CHUNK bytes is cut after that many
 * (the rest is split again from there, without a leading space).
 *
 * KILN_TOK_PRETOK_DIGITS differs in one thing: every digit is a chunk of
 * its own (no leading space, no run), so a number is its digits wherever
 * it stands (" 5", "-5", "(5" all hold the token "5"). A space before a
 * digit is then a chunk " " (or ends a whitespace run, which keeps it). */
enum { C_WS, C_LETTER, C_DIGIT, C_PUNCT };

static inline int byte_class(unsigned c)
{
	if (c == ' ' || (c >= '\t' && c <= '\r'))
		return C_WS;
	if ((c | 32) - 'a' < 26 || c == '_' || c >= 0x80)
		return C_LETTER;
	if (c - '0' < 10)
		return C_DIGIT;
	return C_PUNCT;
}

size_t kiln_tok_chunk_pretok(int pretok, const void *vp, size_t n)
{
	const unsigned char *p = vp;
	size_t i, max = n < KILN_TOK_MAX_CHUNK ? n : KILN_TOK_MAX_CHUNK;
	int c, digits = pretok == KILN_TOK_PRETOK_DIGITS;

	if (n == 0)
		return 0;
	c = byte_class(p[0]);
	if (digits && c == C_DIGIT)
		return 1;
	if (c == C_WS) {
		if (p[0] == ' ' && n > 1 && byte_class(p[1]) != C_WS &&
		    !(digits && byte_class(p[1]) == C_DIGIT)) {
			c = byte_class(p[1]);
			for (i = 2; i < max && byte_class(p[i]) == c; i++)
				;
			return i;
		}
		/* one byte past the cap: a run of exactly 64 before a word
		 * still leaves its space to the word */
		max = n < KILN_TOK_MAX_CHUNK + 1 ? n : KILN_TOK_MAX_CHUNK + 1;
		for (i = 1; i < max && byte_class(p[i]) == C_WS; i++)
			;
		/* stopped at a non-space byte: leave it a trailing ' '
		 * (not to a split digit, which takes none) */
		if (i < max && i > 1 && p[i - 1] == ' ' &&
		    !(digits && byte_class(p[i]) == C_DIGIT))
			i--;
		return i < KILN_TOK_MAX_CHUNK ? i : KILN_TOK_MAX_CHUNK;
	}
	for (i = 1; i < max && byte_class(p[i]) == c; i++)
		;
	return i;
}

size_t kiln_tok_chunk(const void *p, size_t n)
{
	return kiln_tok_chunk_pretok(KILN_TOK_PRETOK_GPT2, p, n);
}

/* --- tables ----------------------------------------------------------------- */

static inline uint64_t pair_key(int l, int r)
{
	return (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
}

static inline uint32_t key_slot(uint64_t k, int shift)
{
	return (uint32_t)((k * 0x9E3779B97F4A7C15ull) >> shift);
}

static inline int32_t rank_of(const kiln_tok *t, int l, int r)
{
	uint64_t k = pair_key(l, r);
	uint32_t h = key_slot(k, t->shift);

	for (;;) {
		if (t->keys[h] == k)
			return t->ranks[h];
		if (t->keys[h] == EMPTY_KEY)
			return NO_RANK;
		h = (h + 1) & t->mask;
	}
}

void kiln_tok_free(kiln_tok *t)
{
	if (!t)
		return;
	free(t->merges);
	free(t->off);
	free(t->pieces);
	free(t->keys);
	free(t->ranks);
	free(t);
}

int kiln__tok_from_merges(kiln_tok **out, const int32_t *merges, int n,
			  int pretok, kiln_error *err)
{
	kiln_tok *t = NULL;
	size_t total = 256, slots = 4;
	int bits = 2, rc = KILN_ENOMEM;

	*out = NULL;
	if (n < 0 || n > KILN_TOK_MAX_VOCAB - 257)
		return kiln_error_set(err, KILN_EINVAL, "%d merges: out of "
				      "range (0..%d)", n,
				      KILN_TOK_MAX_VOCAB - 257);
	if (pretok != KILN_TOK_PRETOK_GPT2 && pretok != KILN_TOK_PRETOK_DIGITS)
		return kiln_error_set(err, KILN_EINVAL, "unknown pre-tokenizer "
				      "%d", pretok);
	t = calloc(1, sizeof(*t));
	if (!t)
		goto nomem;
	t->pretok = pretok;
	t->nmerges = n;
	t->vocab = 257 + n;
	t->eot = t->vocab - 1;
	t->merges = malloc(((size_t)n ? (size_t)n : 1) * 2 * sizeof(int32_t));
	t->off = malloc(((size_t)t->vocab + 1) * sizeof(uint32_t));
	if (!t->merges || !t->off)
		goto nomem;
	if (n)
		memcpy(t->merges, merges, (size_t)n * 2 * sizeof(int32_t));

	/* Offsets first (lengths are checked before anything is copied). */
	for (int i = 0; i <= 256; i++)
		t->off[i] = (uint32_t)i;
	for (int i = 0; i < n; i++) {
		int l = merges[2 * i], r = merges[2 * i + 1], id = 256 + i;
		size_t len;

		if (l < 0 || l >= id || r < 0 || r >= id) {
			rc = kiln_error_set(err, KILN_EPARSE, "merge %d (id %d)"
					    " joins %d and %d: each must be an"
					    " earlier id (0..%d)", i, id, l, r,
					    id - 1);
			goto fail;
		}
		len = (t->off[l + 1] - t->off[l]) + (t->off[r + 1] - t->off[r]);
		if (len > KILN_TOK_MAX_CHUNK) {
			rc = kiln_error_set(err, KILN_EPARSE, "merge %d (id %d)"
					    " makes a token of %zu bytes (at most"
					    " %d)", i, id, len,
					    KILN_TOK_MAX_CHUNK);
			goto fail;
		}
		total += len;
		t->off[id + 1] = (uint32_t)total;
	}
	/* The EOT id: no bytes. off[eot + 1] == off[eot]. */
	t->off[t->eot + 1] = (uint32_t)total;
	t->pieces = malloc(total);
	if (!t->pieces)
		goto nomem;
	for (int i = 0; i < 256; i++)
		t->pieces[i] = (unsigned char)i;
	for (int i = 0; i < n; i++) {
		int l = merges[2 * i], r = merges[2 * i + 1];
		unsigned char *d = t->pieces + t->off[256 + i];
		size_t ll = t->off[l + 1] - t->off[l];

		memcpy(d, t->pieces + t->off[l], ll);
		memcpy(d + ll, t->pieces + t->off[r], t->off[r + 1] - t->off[r]);
	}

	/* Rank table at most half full. */
	while (slots < 2 * (size_t)n) {
		slots *= 2;
		bits++;
	}
	t->mask = (uint32_t)(slots - 1);
	t->shift = 64 - bits;
	t->keys = malloc(slots * sizeof(uint64_t));
	t->ranks = malloc(slots * sizeof(int32_t));
	if (!t->keys || !t->ranks)
		goto nomem;
	for (size_t i = 0; i < slots; i++)
		t->keys[i] = EMPTY_KEY;
	for (int i = 0; i < n; i++) {
		uint64_t k = pair_key(merges[2 * i], merges[2 * i + 1]);
		uint32_t h = key_slot(k, t->shift);

		while (t->keys[h] != EMPTY_KEY && t->keys[h] != k)
			h = (h + 1) & t->mask;
		if (t->keys[h] == k) {
			rc = kiln_error_set(err, KILN_EPARSE, "merge %d (id %d)"
					    " repeats the pair (%d, %d) of "
					    "merge %d", i, 256 + i,
					    merges[2 * i], merges[2 * i + 1],
					    t->ranks[h]);
			goto fail;
		}
		t->keys[h] = k;
		t->ranks[h] = i;
	}
	*out = t;
	return 0;
nomem:
	rc = kiln_error_set(err, KILN_ENOMEM, "tokenizer: out of memory");
fail:
	kiln_tok_free(t);
	return rc;
}

int kiln_tok_bytes(kiln_tok **out, kiln_error *err)
{
	return kiln__tok_from_merges(out, NULL, 0, KILN_TOK_PRETOK_GPT2, err);
}

int kiln_tok_vocab(const kiln_tok *t) { return t->vocab; }
int kiln_tok_eot(const kiln_tok *t) { return t->eot; }
int kiln_tok_merges(const kiln_tok *t) { return t->nmerges; }
int kiln_tok_pretok(const kiln_tok *t) { return t->pretok; }

int kiln_tok_merge(const kiln_tok *t, int i, int *left, int *right)
{
	if (i < 0 || i >= t->nmerges)
		return KILN_EINVAL;
	*left = t->merges[2 * i];
	*right = t->merges[2 * i + 1];
	return 0;
}

/* --- encoding ----------------------------------------------------------------
 *
 * One chunk p[0..n) (n <= KILN_TOK_MAX_CHUNK) into ids. sym[0..m) are the
 * current ids, rank[i] the merge rank of (sym[i], sym[i+1]). Each step
 * merges the leftmost pair of lowest rank; a pair of lower rank than the one
 * just merged can appear only by a merge that has already been done, so this
 * is the same as applying the merges in rank order, each to all its
 * occurrences left to right. */
static size_t encode_chunk(const kiln_tok *t, const unsigned char *p,
			   size_t n, int *ids)
{
	int sym[KILN_TOK_MAX_CHUNK];
	int32_t rank[KILN_TOK_MAX_CHUNK];
	size_t m = n;

	for (size_t i = 0; i < n; i++)
		sym[i] = p[i];
	if (n < 2)
		goto done;
	for (size_t i = 0; i + 1 < m; i++)
		rank[i] = rank_of(t, sym[i], sym[i + 1]);
	for (;;) {
		int32_t best = NO_RANK;
		size_t at = 0;

		for (size_t i = 0; i + 1 < m; i++)
			if (rank[i] < best) {
				best = rank[i];
				at = i;
			}
		if (best == NO_RANK)
			break;
		/* sym[at], sym[at+1] -> 256 + best; rank[at+1] goes. */
		sym[at] = 256 + best;
		memmove(sym + at + 1, sym + at + 2, (m - at - 2) * sizeof(int));
		if (at + 2 < m - 1)
			memmove(rank + at + 1, rank + at + 2,
				(m - 1 - at - 2) * sizeof(int32_t));
		m--;
		if (at + 1 < m)
			rank[at] = rank_of(t, sym[at], sym[at + 1]);
		if (at > 0)
			rank[at - 1] = rank_of(t, sym[at - 1], sym[at]);
	}
done:
	memcpy(ids, sym, m * sizeof(int));
	return m;
}

int kiln_tok_encode(const kiln_tok *t, const void *bytes, size_t n,
		    int **ids, size_t *nids, kiln_error *err)
{
	const unsigned char *p = bytes;
	size_t o = 0;
	int *v;

	*ids = NULL;
	*nids = 0;
	if (n > SIZE_MAX / sizeof(int) - 1)
		return kiln_error_set(err, KILN_ELIMIT, "encode: %zu bytes is"
				      " too long", n);
	v = malloc((n ? n : 1) * sizeof(int));
	if (!v)
		return kiln_error_set(err, KILN_ENOMEM, "encode: out of "
				      "memory for %zu ids", n);
	if (t->nmerges == 0) {
		for (size_t i = 0; i < n; i++)
			v[i] = p[i];
		o = n;
	} else {
		for (size_t i = 0; i < n;) {
			size_t len = kiln_tok_chunk_pretok(t->pretok, p + i,
							   n - i);
			o += encode_chunk(t, p + i, len, v + o);
			i += len;
		}
		if (o < n) {
			int *s = realloc(v, (o ? o : 1) * sizeof(int));
			if (s)
				v = s;
		}
	}
	*ids = v;
	*nids = o;
	return 0;
}

/* --- decoding ------------------------------------------------------------- */

const unsigned char *kiln_tok_piece(const kiln_tok *t, int id, size_t *len)
{
	if (id < 0 || id >= t->vocab) {
		*len = 0;
		return NULL;
	}
	*len = t->off[id + 1] - t->off[id];
	return t->pieces + t->off[id];
}

int kiln_tok_decode(const kiln_tok *t, const int *ids, size_t n, char **out,
		    size_t *len, kiln_error *err)
{
	size_t total = 0;
	char *s;

	*out = NULL;
	*len = 0;
	for (size_t i = 0; i < n; i++) {
		if (ids[i] < 0 || ids[i] >= t->vocab)
			return kiln_error_set(err, KILN_EINVAL, "decode: id %d"
					      " at position %zu is out of range"
					      " (vocab %d)", ids[i], i,
					      t->vocab);
		/* each piece <= 64 bytes: no overflow before SIZE_MAX/64 ids */
		total += t->off[ids[i] + 1] - t->off[ids[i]];
	}
	s = malloc(total + 1);
	if (!s)
		return kiln_error_set(err, KILN_ENOMEM, "decode: out of memory"
				      " for %zu bytes", total);
	total = 0;
	for (size_t i = 0; i < n; i++) {
		size_t l = t->off[ids[i] + 1] - t->off[ids[i]];
		memcpy(s + total, t->pieces + t->off[ids[i]], l);
		total += l;
	}
	s[total] = '\0';
	*out = s;
	*len = total;
	return 0;
}

/* --- the file -----------------------------------------------------------------
 *
 *   0  "KILNTOK1"                                  8 bytes
 *   8  version (1)                                 u32
 *  12  vocab                                       u32
 *  16  merges M = vocab - 257                      u32
 *  20  end-of-text id = vocab - 1                  u32
 *  24  pre-tokenizer (1: the rules above; 2: the    u32
 *      same with digits split; files written before
 *      digit splitting all hold 1)
 *  28  chunk cap (KILN_TOK_MAX_CHUNK = 64)         u32
 *  32  M x (left u32, right u32)
 *  32+8M  XXH64 (seed 0) of every byte before it  u64
 * All little-endian. */
#define TOK_MAGIC "KILNTOK1"
#define TOK_VERSION 1
#define TOK_HEADER 32

int kiln_tok_serialize(const kiln_tok *t, unsigned char **buf, size_t *len,
		       kiln_error *err)
{
	size_t n = TOK_HEADER + 8 * (size_t)t->nmerges + 8;
	unsigned char *b = malloc(n), *p;

	*buf = NULL;
	*len = 0;
	if (!b)
		return kiln_error_set(err, KILN_ENOMEM, "tokenizer: out of "
				      "memory");
	memcpy(b, TOK_MAGIC, 8);
	kiln__put32(b + 8, TOK_VERSION);
	kiln__put32(b + 12, (uint32_t)t->vocab);
	kiln__put32(b + 16, (uint32_t)t->nmerges);
	kiln__put32(b + 20, (uint32_t)t->eot);
	kiln__put32(b + 24, (uint32_t)t->pretok);
	kiln__put32(b + 28, KILN_TOK_MAX_CHUNK);
	p = b + TOK_HEADER;
	for (int i = 0; i < 2 * t->nmerges; i++, p += 4)
		kiln__put32(p, (uint32_t)t->merges[i]);
	kiln__put64(p, XXH64(b, n - 8, 0));
	*buf = b;
	*len = n;
	return 0;
}

int kiln_tok_deserialize(kiln_tok **out, const void *buf, size_t len,
			 kiln_error *err)
{
	const unsigned char *b = buf;
	uint32_t version, vocab, nm, eot, pretok, cap;
	int32_t *merges = NULL;
	size_t want;
	int rc;

	*out = NULL;
	if (len == 0)
		return kiln_error_set(err, KILN_EPARSE, "empty: no tokenizer");
	if (len < 8 || memcmp(b, TOK_MAGIC, 8) != 0) {
		if (len < 8 && memcmp(b, TOK_MAGIC, len) == 0)
			return kiln_error_set(err, KILN_EPARSE, "truncated: "
					      "%zu bytes, a tokenizer has at "
					      "least %d", len, TOK_HEADER + 8);
		return kiln_error_set(err, KILN_EPARSE, "not a kiln tokenizer"
				      " (no KILNTOK1 magic)");
	}
	if (len < TOK_HEADER + 8)
		return kiln_error_set(err, KILN_EPARSE, "truncated: %zu bytes,"
				      " a tokenizer has at least %d", len,
				      TOK_HEADER + 8);
	version = kiln__get32(b + 8);
	vocab = kiln__get32(b + 12);
	nm = kiln__get32(b + 16);
	eot = kiln__get32(b + 20);
	pretok = kiln__get32(b + 24);
	cap = kiln__get32(b + 28);
	if (version != TOK_VERSION)
		return kiln_error_set(err, KILN_EPARSE, "unsupported tokenizer"
				      " version %u (this kiln reads %d)",
				      version, TOK_VERSION);
	if (vocab < 257 || vocab > KILN_TOK_MAX_VOCAB)
		return kiln_error_set(err, KILN_EPARSE, "vocab %u out of range"
				      " (257..%d)", vocab, KILN_TOK_MAX_VOCAB);
	if (nm != vocab - 257)
		return kiln_error_set(err, KILN_EPARSE, "%u merges do not fit "
				      "vocab %u (expected %u)", nm, vocab,
				      vocab - 257);
	if (eot != vocab - 1)
		return kiln_error_set(err, KILN_EPARSE, "end-of-text id %u is "
				      "not the last id (%u)", eot, vocab - 1);
	if ((pretok != KILN_TOK_PRETOK_GPT2 &&
	     pretok != KILN_TOK_PRETOK_DIGITS) || cap != KILN_TOK_MAX_CHUNK)
		return kiln_error_set(err, KILN_EPARSE, "unknown pre-tokenizer"
				      " %u with chunk cap %u (this kiln has %d"
				      " and %d with %d)", pretok, cap,
				      KILN_TOK_PRETOK_GPT2,
				      KILN_TOK_PRETOK_DIGITS,
				      KILN_TOK_MAX_CHUNK);
	want = TOK_HEADER + 8 * (size_t)nm + 8;
	if (len < want)
		return kiln_error_set(err, KILN_EPARSE, "truncated: %zu bytes,"
				      " %u merges need %zu", len, nm, want);
	if (len > want)
		return kiln_error_set(err, KILN_EPARSE, "%zu unexpected bytes "
				      "after the checksum", len - want);
	if (XXH64(b, want - 8, 0) != kiln__get64(b + want - 8))
		return kiln_error_set(err, KILN_EPARSE, "checksum mismatch: "
				      "the tokenizer is corrupted");
	merges = malloc(((size_t)nm ? nm : 1) * 2 * sizeof(int32_t));
	if (!merges)
		return kiln_error_set(err, KILN_ENOMEM, "tokenizer: out of "
				      "memory");
	for (size_t i = 0; i < 2 * (size_t)nm; i++) {
		uint32_t v = kiln__get32(b + TOK_HEADER + 4 * i);
		/* anything >= vocab is caught as "not an earlier id" */
		merges[i] = v > (uint32_t)INT32_MAX ? INT32_MAX : (int32_t)v;
	}
	rc = kiln__tok_from_merges(out, merges, (int)nm, (int)pretok, err);
	free(merges);
	return rc;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int kiln_tok_save(const kiln_tok *t, const char *path, kiln_error *err)
{
	unsigned char *buf = NULL;
	char *tmp = NULL, *d = NULL;
	size_t len;
	int fd = -1, rc;

	rc = kiln_tok_serialize(t, &buf, &len, err);
	if (rc)
		return rc;
	if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0) {
		tmp = NULL;
		rc = kiln_error_set(err, KILN_ENOMEM, "%s: out of memory",
				    path);
		goto out;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = kiln_error_set(err, KILN_EIO, "%s: cannot create a "
				    "temporary file: %s", path,
				    strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if (fchmod(fd, 0644) != 0 || write_all(fd, buf, len) != 0 ||
	    fsync(fd) != 0) {
		rc = kiln_error_set(err, KILN_EIO, "%s: write failed: %s",
				    path, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = kiln_error_set(err, KILN_EIO, "%s: write failed: %s",
				    path, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		rc = kiln_error_set(err, KILN_EIO, "%s: rename failed: %s",
				    path, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	/* make the rename itself durable */
	d = strdup(path);
	if (d) {
		int dfd = open(dirname(d), O_RDONLY | O_DIRECTORY);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
out:
	if (fd >= 0)
		close(fd);
	if (tmp)
		unlink(tmp);
	free(tmp);
	free(d);
	free(buf);
	return rc;
}

int kiln_tok_load(kiln_tok **out, const char *path, kiln_error *err)
{
	const size_t cap = TOK_HEADER + 8 * (size_t)KILN_TOK_MAX_VOCAB + 8;
	unsigned char *buf = NULL;
	struct stat st;
	size_t len = 0;
	int fd, rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kiln_error_set(err, KILN_EIO, "%s: %s", path,
				      strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = kiln_error_set(err, KILN_EIO, "%s: not a regular file",
				    path);
		goto out;
	}
	if ((uint64_t)st.st_size > cap) {
		rc = kiln_error_set(err, KILN_EPARSE, "%s: %lld bytes is too "
				    "big for a tokenizer (at most %zu)", path,
				    (long long)st.st_size, cap);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		rc = kiln_error_set(err, KILN_ENOMEM, "%s: out of memory",
				    path);
		goto out;
	}
	/* read to the end, never past the cap: the size may change */
	for (;;) {
		ssize_t r = read(fd, buf + len, (size_t)st.st_size + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = kiln_error_set(err, KILN_EIO, "%s: %s", path,
					    strerror(errno));
			goto out;
		}
		if (r == 0 || (len += (size_t)r) == (size_t)st.st_size + 1)
			break;
	}
	if (len > (size_t)st.st_size) {
		rc = kiln_error_set(err, KILN_EIO, "%s: the file grew while "
				    "being read", path);
		goto out;
	}
	rc = kiln_tok_deserialize(out, buf, len, err);
	if (rc)
		kiln_error_prefix(err, "%s: ", path);
out:
	close(fd);
	free(buf);
	return rc;
}
