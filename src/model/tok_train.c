/* Training byte-level BPE (kiln_tok_train).
 *
 * 1. Read: files are read in 1 MiB blocks, cut into chunks by the
 *    pre-tokenizer (kiln_tok_chunk_pretok) and each distinct chunk is counted once
 *    in a hash table (XXH3 of its bytes). Single-byte chunks only need a
 *    count per byte: no merge can touch them.
 * 2. Words: every distinct chunk of 2+ bytes becomes a word, an array of ids
 *    (its bytes) with the chunk's count as its frequency.
 * 3. Pairs: each adjacent pair of ids has a count (sum of the frequencies of
 *    its occurrences) and the list of words it occurs in. A max-heap orders
 *    pairs by count, then by (left, right) ascending (the tie rule).
 * 4. Merge: take the top pair (x, y), make id z, and rewrite only the words
 *    in its list. Each occurrence changes the counts of its neighbours:
 *    (a, x) -> (a, z) and (y, b) -> (z, b). (A pair counts overlapping
 *    occurrences, "aaa" has (a, a) twice, as in GPT-2's and Hugging Face's
 *    trainers; the merge itself goes left to right.) Old pairs only lose counts and
 *    pairs with z are all new, so the heap is updated lazily: a popped entry
 *    whose count is stale is pushed back with the true count, and the pairs
 *    with z are pushed once, when the merge is done. Each pair thus has at
 *    most one entry, and the order is a total one: training is
 *    deterministic.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "model/tok_int.h"

#define READ_BLOCK (1 << 20)
#define MAX_DEPTH 64

typedef struct chunk_ent {
	uint64_t h, count, off; /* off into arena */
	uint32_t len;           /* 0: empty slot */
} chunk_ent;

typedef struct word {
	uint64_t freq, off;     /* ids are syms[off .. off+len) */
	uint32_t len;
} word;

typedef struct pair {
	int32_t l, r;
	int64_t count;
	int32_t *w;             /* words it occurs (or occurred) in */
	uint32_t nw, cw;
} pair;

typedef struct heap_ent {
	int64_t count;
	int32_t p;
} heap_ent;

typedef struct trainer {
	const kiln_tok_train_opts *opts;
	int pretok;             /* KILN_TOK_PRETOK_* */
	kiln_tok_train_stats st;
	uint64_t max_bytes;
	const char *ext;
	size_t extlen;
	kiln_error *err;
	unsigned char *rbuf;

	/* distinct chunks of 2+ bytes */
	chunk_ent *tab;
	size_t mask, used;
	unsigned char *arena;
	size_t alen, acap;
	uint64_t single[256];

	/* merging */
	word *words;
	size_t nwords;
	int32_t *syms;
	pair *pv;
	size_t np, cp;
	uint64_t *pkeys;        /* pair map: left << 32 | right -> pv index */
	int32_t *pidx;
	size_t pmask;
	int pshift;
	heap_ent *hv;
	size_t nh, ch;
	int32_t *fresh;         /* pairs made by the current merge */
	size_t nfresh, cfresh;
	int32_t *merges;
	int nmerges, want;
} trainer;

static int nomem(trainer *tr)
{
	return kiln_error_set(tr->err, KILN_ENOMEM, "tokenizer training: out"
			      " of memory");
}

static int grow(void *pp, size_t *cap, size_t need, size_t elem)
{
	void **p = pp;
	size_t c = *cap ? *cap : 16;
	void *q;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	q = realloc(*p, c * elem);
	if (!q)
		return -1;
	*p = q;
	*cap = c;
	return 0;
}

static int report(trainer *tr)
{
	if (tr->opts && tr->opts->progress &&
	    tr->opts->progress(tr->opts->progress_ctx, &tr->st) != 0)
		return kiln_error_set(tr->err, KILN_EINVAL, "tokenizer "
				      "training: cancelled");
	return 0;
}

/* --- 1. counting chunks ---------------------------------------------------- */

static int tab_grow(trainer *tr)
{
	size_t n = tr->tab ? (tr->mask + 1) * 2 : 1 << 10;
	chunk_ent *t = calloc(n, sizeof(*t));

	if (!t)
		return nomem(tr);
	if (tr->tab)
		for (size_t i = 0; i <= tr->mask; i++) {
			size_t h;
			if (!tr->tab[i].len)
				continue;
			h = tr->tab[i].h & (n - 1);
			while (t[h].len)
				h = (h + 1) & (n - 1);
			t[h] = tr->tab[i];
		}
	free(tr->tab);
	tr->tab = t;
	tr->mask = n - 1;
	return 0;
}

static int count_chunk(trainer *tr, const unsigned char *p, size_t len)
{
	uint64_t h;
	size_t i;

	tr->st.chunks++;
	if (len == 1) {
		tr->single[p[0]]++;
		return 0;
	}
	if ((tr->used + 1) * 2 > (tr->tab ? tr->mask + 1 : 0) && tab_grow(tr))
		return KILN_ENOMEM;
	h = XXH3_64bits(p, len);
	for (i = h & tr->mask; tr->tab[i].len; i = (i + 1) & tr->mask) {
		chunk_ent *e = &tr->tab[i];
		if (e->h == h && e->len == len &&
		    memcmp(tr->arena + e->off, p, len) == 0) {
			e->count++;
			return 0;
		}
	}
	if (tr->used >= INT32_MAX)
		return kiln_error_set(tr->err, KILN_ELIMIT, "tokenizer "
				      "training: more than %d distinct chunks",
				      INT32_MAX);
	if (grow(&tr->arena, &tr->acap, tr->alen + len, 1))
		return nomem(tr);
	memcpy(tr->arena + tr->alen, p, len);
	tr->tab[i] = (chunk_ent){ .h = h, .count = 1, .off = tr->alen,
				  .len = (uint32_t)len };
	tr->alen += len;
	tr->used++;
	tr->st.unique_chunks++;
	return 0;
}

/* Counts the chunks of p[0..n); without eof, stops before a chunk that
 * reaches the end (more bytes could lengthen it). *used: bytes counted. */
static int feed(trainer *tr, const unsigned char *p, size_t n, int eof,
		size_t *used)
{
	size_t i = 0;
	int rc = 0;

	while (i < n) {
		size_t len = kiln_tok_chunk_pretok(tr->pretok, p + i, n - i);
		if (len == n - i && !eof)
			break;
		rc = count_chunk(tr, p + i, len);
		if (rc)
			break;
		i += len;
	}
	*used = i;
	return rc;
}

static int read_file(trainer *tr, const char *path)
{
	size_t carry = 0;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kiln_error_set(tr->err, KILN_EIO, "%s: %s", path,
				      strerror(errno));
	tr->st.files++;
	for (;;) {
		size_t room = READ_BLOCK - carry, used;
		uint64_t left = tr->max_bytes - tr->st.bytes;
		ssize_t r = 0;
		int eof;

		if (room > left)
			room = (size_t)left;
		if (room > 0) {
			r = read(fd, tr->rbuf + carry, room);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				rc = kiln_error_set(tr->err, KILN_EIO, "%s: %s",
						    path, strerror(errno));
				break;
			}
		} else
			tr->st.truncated = 1;
		tr->st.bytes += (uint64_t)r;
		eof = r == 0;
		rc = feed(tr, tr->rbuf, carry + (size_t)r, eof, &used);
		if (rc || eof)
			break;
		carry = carry + (size_t)r - used;
		memmove(tr->rbuf, tr->rbuf + used, carry);
	}
	close(fd);
	if (rc == 0)
		rc = report(tr);
	return rc;
}

static int ext_ok(const trainer *tr, const char *name)
{
	size_t n = strlen(name);
	return tr->extlen == 0 || (n >= tr->extlen &&
		memcmp(name + n - tr->extlen, tr->ext, tr->extlen) == 0);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk(trainer *tr, const char *path, int depth);

static int walk_dir(trainer *tr, const char *path, int depth)
{
	DIR *d;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	if (depth > MAX_DEPTH)
		return kiln_error_set(tr->err, KILN_ELIMIT, "%s: directories "
				      "nested more than %d deep", path,
				      MAX_DEPTH);
	d = opendir(path);
	if (!d)
		return kiln_error_set(tr->err, KILN_EIO, "%s: %s", path,
				      strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (grow(&names, &cap, n + 1, sizeof(char *)) ||
		    !(names[n] = strdup(e->d_name))) {
			rc = nomem(tr);
			goto out;
		}
		n++;
	}
	if (n > 1) /* names is NULL in an empty directory */
		qsort(names, n, sizeof(char *), cmp_str);
	for (size_t i = 0; i < n && rc == 0; i++) {
		char *child;
		struct stat st;

		if (tr->st.bytes >= tr->max_bytes)
			break;
		if (asprintf(&child, "%s/%s", path, names[i]) < 0) {
			rc = nomem(tr);
			break;
		}
		if (lstat(child, &st) != 0)
			rc = kiln_error_set(tr->err, KILN_EIO, "%s: %s", child,
					    strerror(errno));
		else if (S_ISDIR(st.st_mode))
			rc = walk(tr, child, depth + 1);
		else if (ext_ok(tr, names[i]) &&
			 (S_ISREG(st.st_mode) ||
			  (S_ISLNK(st.st_mode) && stat(child, &st) == 0 &&
			   S_ISREG(st.st_mode))))
			rc = read_file(tr, child);
		free(child);
	}
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

static int walk(trainer *tr, const char *path, int depth)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return kiln_error_set(tr->err, KILN_EIO, "%s: %s", path,
				      strerror(errno));
	if (S_ISDIR(st.st_mode))
		return walk_dir(tr, path, depth);
	if (S_ISREG(st.st_mode) || depth == 0)
		return read_file(tr, path); /* FIFOs and the like if named */
	return 0;
}

/* --- 3. pairs -------------------------------------------------------------- */

static int pmap_grow(trainer *tr)
{
	size_t n = tr->pkeys ? (tr->pmask + 1) * 2 : 1 << 10;
	int bits = 0;
	uint64_t *k = malloc(n * sizeof(*k));
	int32_t *v = malloc(n * sizeof(*v));

	if (!k || !v) {
		free(k);
		free(v);
		return nomem(tr);
	}
	while (((size_t)1 << bits) < n)
		bits++;
	for (size_t i = 0; i < n; i++)
		k[i] = UINT64_MAX;
	free(tr->pkeys);
	free(tr->pidx);
	tr->pkeys = k;
	tr->pidx = v;
	tr->pmask = n - 1;
	tr->pshift = 64 - bits;
	for (size_t p = 0; p < tr->np; p++) {
		uint64_t key = (uint64_t)(uint32_t)tr->pv[p].l << 32 |
			       (uint32_t)tr->pv[p].r;
		size_t h = (size_t)((key * 0x9E3779B97F4A7C15ull) >> tr->pshift);
		while (k[h] != UINT64_MAX)
			h = (h + 1) & tr->pmask;
		k[h] = key;
		v[h] = (int32_t)p;
	}
	return 0;
}

/* The index of pair (l, r), made if missing (and then listed in fresh);
 * negative on error. */
static int32_t pair_get(trainer *tr, int32_t l, int32_t r)
{
	uint64_t key = (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
	size_t h;

	if ((tr->np + 1) * 2 > (tr->pkeys ? tr->pmask + 1 : 0) && pmap_grow(tr))
		return -1;
	h = (size_t)((key * 0x9E3779B97F4A7C15ull) >> tr->pshift);
	for (; tr->pkeys[h] != UINT64_MAX; h = (h + 1) & tr->pmask)
		if (tr->pkeys[h] == key)
			return tr->pidx[h];
	if (tr->np >= INT32_MAX || grow(&tr->pv, &tr->cp, tr->np + 1,
					 sizeof(pair)) ||
	    grow(&tr->fresh, &tr->cfresh, tr->nfresh + 1, sizeof(int32_t))) {
		nomem(tr);
		return -1;
	}
	tr->pv[tr->np] = (pair){ .l = l, .r = r };
	tr->pkeys[h] = key;
	tr->pidx[h] = (int32_t)tr->np;
	tr->fresh[tr->nfresh++] = (int32_t)tr->np;
	return (int32_t)tr->np++;
}

/* Adds f occurrences of (l, r) in word w. */
static int pair_inc(trainer *tr, int32_t l, int32_t r, uint64_t f, int32_t w)
{
	int32_t i = pair_get(tr, l, r);
	pair *p;

	if (i < 0)
		return KILN_ENOMEM;
	p = &tr->pv[i];
	p->count += (int64_t)f;
	if (p->nw == 0 || p->w[p->nw - 1] != w) {
		size_t cw = p->cw;
		if (p->nw == UINT32_MAX ||
		    grow(&p->w, &cw, (size_t)p->nw + 1, sizeof(int32_t)))
			return nomem(tr);
		p->cw = (uint32_t)cw;
		p->w[p->nw++] = w;
	}
	return 0;
}

/* Removes f occurrences of (l, r), which exists. */
static int pair_dec(trainer *tr, int32_t l, int32_t r, uint64_t f)
{
	int32_t i = pair_get(tr, l, r);

	if (i < 0)
		return KILN_ENOMEM;
	tr->pv[i].count -= (int64_t)f;
	return 0;
}

static int heap_before(const trainer *tr, heap_ent a, heap_ent b)
{
	const pair *pa, *pb;

	if (a.count != b.count)
		return a.count > b.count;
	pa = &tr->pv[a.p];
	pb = &tr->pv[b.p];
	if (pa->l != pb->l)
		return pa->l < pb->l;
	return pa->r < pb->r;
}

static int heap_push(trainer *tr, int32_t p)
{
	size_t i;

	if (grow(&tr->hv, &tr->ch, tr->nh + 1, sizeof(heap_ent)))
		return nomem(tr);
	i = tr->nh++;
	tr->hv[i] = (heap_ent){ tr->pv[p].count, p };
	while (i > 0 && heap_before(tr, tr->hv[i], tr->hv[(i - 1) / 2])) {
		heap_ent t = tr->hv[i];
		tr->hv[i] = tr->hv[(i - 1) / 2];
		tr->hv[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
	return 0;
}

static heap_ent heap_pop(trainer *tr)
{
	heap_ent top = tr->hv[0];
	size_t i = 0;

	tr->hv[0] = tr->hv[--tr->nh];
	for (;;) {
		size_t c = 2 * i + 1, best = i;
		if (c < tr->nh && heap_before(tr, tr->hv[c], tr->hv[best]))
			best = c;
		if (c + 1 < tr->nh && heap_before(tr, tr->hv[c + 1], tr->hv[best]))
			best = c + 1;
		if (best == i)
			break;
		heap_ent t = tr->hv[i];
		tr->hv[i] = tr->hv[best];
		tr->hv[best] = t;
		i = best;
	}
	return top;
}

/* --- 2 and 4. words and merging ------------------------------------------ */

static int build_words(trainer *tr)
{
	size_t o = 0;
	int rc;

	tr->words = malloc((tr->used ? tr->used : 1) * sizeof(word));
	tr->syms = malloc((tr->alen ? tr->alen : 1) * sizeof(int32_t));
	if (!tr->words || !tr->syms)
		return nomem(tr);
	for (size_t i = 0; tr->tab && i <= tr->mask; i++) {
		const chunk_ent *e = &tr->tab[i];
		if (!e->len)
			continue;
		for (uint32_t j = 0; j < e->len; j++)
			tr->syms[o + j] = tr->arena[e->off + j];
		tr->words[tr->nwords++] = (word){ .freq = e->count, .off = o,
						  .len = e->len };
		o += e->len;
	}
	/* The table and the chunk bytes are not needed any more. */
	free(tr->tab);
	tr->tab = NULL;
	free(tr->arena);
	tr->arena = NULL;
	for (size_t w = 0; w < tr->nwords; w++) {
		const int32_t *s = tr->syms + tr->words[w].off;
		for (uint32_t j = 0; j + 1 < tr->words[w].len; j++) {
			rc = pair_inc(tr, s[j], s[j + 1], tr->words[w].freq,
				      (int32_t)w);
			if (rc)
				return rc;
		}
	}
	tr->nfresh = 0;
	for (size_t p = 0; p < tr->np; p++)
		if ((rc = heap_push(tr, (int32_t)p)))
			return rc;
	return 0;
}

/* Rewrites word w with (x, y) -> z, left to right, updating the counts. */
static int merge_word(trainer *tr, int32_t w, int32_t x, int32_t y, int32_t z)
{
	word *wd = &tr->words[w];
	int32_t *s = tr->syms + wd->off;
	uint64_t f = wd->freq;
	uint32_t i = 0, o = 0, n = wd->len;
	int rc = 0;

	while (i < n) {
		if (i + 1 < n && s[i] == x && s[i + 1] == y) {
			rc = pair_dec(tr, x, y, f);
			if (!rc && o > 0)
				rc = pair_dec(tr, s[o - 1], x, f) ||
				     pair_inc(tr, s[o - 1], z, f, w);
			if (!rc && i + 2 < n)
				rc = pair_dec(tr, y, s[i + 2], f) ||
				     pair_inc(tr, z, s[i + 2], f, w);
			if (rc)
				return KILN_ENOMEM;
			s[o++] = z;
			i += 2;
			tr->st.tokens -= f;
		} else
			s[o++] = s[i++];
	}
	wd->len = o;
	return 0;
}

static int merge_all(trainer *tr)
{
	int rc = 0;

	tr->st.phase = KILN_TOK_MERGING;
	if ((rc = report(tr)))
		return rc;
	while (tr->nmerges < tr->want) {
		heap_ent top;
		int32_t *wl, x, y, z;
		uint32_t nw;
		pair *p;

		/* the top entry, with its count brought up to date */
		for (;;) {
			if (tr->nh == 0)
				return 0; /* no pair left: a smaller vocab */
			top = tr->hv[0];
			if (tr->pv[top.p].count == top.count)
				break;
			heap_pop(tr);
			if (tr->pv[top.p].count > 0 &&
			    (rc = heap_push(tr, top.p)))
				return rc;
		}
		heap_pop(tr);
		p = &tr->pv[top.p];
		x = p->l;
		y = p->r;
		z = 256 + tr->nmerges;
		wl = p->w;
		nw = p->nw;
		p->w = NULL;
		p->nw = p->cw = 0;
		tr->merges[2 * tr->nmerges] = x;
		tr->merges[2 * tr->nmerges + 1] = y;
		tr->nfresh = 0;
		for (uint32_t k = 0; k < nw && rc == 0; k++)
			rc = merge_word(tr, wl[k], x, y, z);
		free(wl);
		for (size_t k = 0; k < tr->nfresh && rc == 0; k++)
			if (tr->pv[tr->fresh[k]].count > 0)
				rc = heap_push(tr, tr->fresh[k]);
		if (rc)
			return rc;
		tr->st.merges = ++tr->nmerges;
		if (tr->nmerges % 16 == 0 && (rc = report(tr)))
			return rc;
	}
	return 0;
}

/* --- the API ------------------------------------------------------------------ */

static void trainer_free(trainer *tr)
{
	free(tr->rbuf);
	free(tr->tab);
	free(tr->arena);
	free(tr->words);
	free(tr->syms);
	for (size_t i = 0; i < tr->np; i++)
		free(tr->pv[i].w);
	free(tr->pv);
	free(tr->pkeys);
	free(tr->pidx);
	free(tr->hv);
	free(tr->fresh);
	free(tr->merges);
}

static int train(kiln_tok **out, int vocab, const char *const *paths,
		 int npaths, const void *data, size_t n,
		 const kiln_tok_train_opts *opts, kiln_error *err)
{
	trainer tr = { .opts = opts, .err = err,
		       .pretok = opts && opts->split_digits
				 ? KILN_TOK_PRETOK_DIGITS
				 : KILN_TOK_PRETOK_GPT2 };
	int rc = 0;

	*out = NULL;
	if (vocab < 257 || vocab > KILN_TOK_MAX_VOCAB) {
		rc = kiln_error_set(err, KILN_EINVAL, "tokenizer training: "
				    "vocab %d out of range (257..%d)", vocab,
				    KILN_TOK_MAX_VOCAB);
		goto out;
	}
	tr.want = vocab - 257;
	tr.st.merges_wanted = tr.want;
	tr.st.phase = KILN_TOK_READING;
	tr.max_bytes = opts && opts->max_bytes ? opts->max_bytes
					       : KILN_TOK_DEFAULT_MAX_BYTES;
	tr.ext = opts && opts->ext ? opts->ext : "";
	tr.extlen = strlen(tr.ext);
	tr.merges = malloc(((size_t)tr.want ? (size_t)tr.want : 1) * 2 *
			   sizeof(int32_t));
	if (!tr.merges) {
		rc = nomem(&tr);
		goto out;
	}
	if (paths) {
		if (npaths <= 0) {
			rc = kiln_error_set(err, KILN_EINVAL, "tokenizer "
					    "training: no input paths");
			goto out;
		}
		tr.rbuf = malloc(READ_BLOCK);
		if (!tr.rbuf) {
			rc = nomem(&tr);
			goto out;
		}
		for (int i = 0; i < npaths && rc == 0 &&
				tr.st.bytes < tr.max_bytes; i++)
			rc = walk(&tr, paths[i], 0);
	} else {
		size_t used;
		if (n > tr.max_bytes) {
			n = (size_t)tr.max_bytes;
			tr.st.truncated = 1;
		}
		tr.st.bytes = n;
		rc = feed(&tr, data, n, 1, &used);
	}
	if (rc)
		goto out;
	tr.st.tokens = tr.st.bytes;
	if ((rc = build_words(&tr)) || (rc = merge_all(&tr)))
		goto out;
	rc = kiln__tok_from_merges(out, tr.merges, tr.nmerges, tr.pretok,
				   err);
	if (rc)
		goto out;
	tr.st.phase = KILN_TOK_DONE;
	rc = report(&tr);
	if (rc) {
		kiln_tok_free(*out);
		*out = NULL;
	}
out:
	if (opts && opts->stats)
		*opts->stats = tr.st;
	trainer_free(&tr);
	return rc;
}

int kiln_tok_train(kiln_tok **out, int vocab, const char *const *paths,
		   int npaths, const kiln_tok_train_opts *opts,
		   kiln_error *err)
{
	if (!paths || npaths <= 0) {
		*out = NULL;
		return kiln_error_set(err, KILN_EINVAL, "tokenizer training: "
				      "no input paths");
	}
	return train(out, vocab, paths, npaths, NULL, 0, opts, err);
}

int kiln_tok_train_mem(kiln_tok **out, int vocab, const void *data,
		       size_t n, const kiln_tok_train_opts *opts,
		       kiln_error *err)
{
	return train(out, vocab, NULL, 0, n ? data : "", n, opts, err);
}
