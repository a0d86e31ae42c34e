/* kiln dedup (kiln/dedup.h, docs/CURATE.md): exact and MinHash near
 * duplicates, the best member of each cluster kept.
 *
 * Documents are numbered 0..m-1 for the index (kept by earlier runs),
 * m..m+n-1 for this batch, in input order. Per document the memory holds
 * its union-find parent, its rank (what "best" compares), its exact key
 * and where its record of the docs file (or its input line) starts: ~60
 * bytes. The rest is in files of the work directory:
 *
 *   sigs     permutations uint64 a document (fixed size: document i at
 *            i * permutations * 8), the index's likewise in DIR/sigs.bin;
 *            written when something reads them (--index, --sigs-out,
 *            --dropped with a gzip input)
 *   docs     a record a document: u32 length, its "id" as JSON, u32 count,
 *            that many uint64 shingle hashes (for the exact Jaccard);
 *            written only with --index, or --dropped with a gzip input
 *   band.K   16-byte (key, id) records: key = xxh3 of band K's rows, and
 *            band.exact with the exact keys; sorted one file at a time
 *            (in memory, or as sorted runs merged), equal neighbours
 *            joined in the union-find
 *   spool    standard input's records, to read them a second time
 *
 * With --dropped, no --index and word tokens (r->recompute), nothing of
 * a document is written: pass 2 signs a dropped record again from its
 * line, and its kept neighbour from the neighbour's line (read by offset,
 * pread, unless pass 2 has passed it already and kept its figures in
 * memory until its last dropped member: at most --memory of them, which
 * clustering no longer needs). Pass 1 keeps (up to half of --memory) the
 * figures of a record one of whose band keys an earlier record had (a
 * blocked Bloom filter of the keys seen): the later member of any pair,
 * so that pass 2 signs only the earlier one. A gzip input cannot be
 * read by offset: then the work files as above. Only the records in
 * clusters are signed twice. Identifier tokens (SHA-1) cost more to sign
 * twice than to write.
 *
 * A record whose text equals an earlier one's (XXH3-128 and exact key,
 * a table of documents over th) is joined to it in pass 1 and neither
 * signed nor given band keys: they would be the earlier one's. Only where
 * nothing keeps every signature (no --index, no --sigs-out, and no work
 * files for --dropped).
 *
 * Pass 1 reads and signs; clustering joins; pass 2 reads the input again
 * and writes each record kept or dropped. The index's files are appended
 * last, its index.json replaced atomically (a run that stops before that
 * leaves the index as it was: a longer file is cut back to what
 * index.json counts). One run at a time uses an index: DIR/index-lock,
 * the run lock stores take (kiln_lock_path). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "curate/dedup_int.h"
#include "kiln/dedup.h"
#include "kiln/output.h"
#include "kiln/store.h"
#include "kiln/utf8.h"

const char *const kiln_dedup_presets[] = { "code", "datatrove", NULL };
static const char *const reasons[] = { "exact", "near", NULL };

#define NONE UINT32_MAX
#define MAX_DOCS (UINT32_MAX - 1)
#define MAX_ID_JSON 4096

void kiln_dedup_opts_default(kiln_dedup_opts *o)
{
	memset(o, 0, sizeof *o);
	o->preset = KILN_DEDUP_CODE;
	o->seed = -1;
	o->field = "solution";
	o->memory = 64u << 20;
}

int kiln_dedup_params(const kiln_dedup_opts *o, kiln_minhash_params *p,
		      kiln_error *err)
{
	if (o->preset < 0 || o->preset > KILN_DEDUP_DATATROVE ||
	    kiln_minhash_preset(kiln_dedup_presets[o->preset], p))
		return kiln_error_set(err, KILN_EINVAL, "unknown preset %d",
				      o->preset);
	if (o->ngram)
		p->ngram = o->ngram;
	if (o->permutations)
		p->permutations = o->permutations;
	if (o->bands)
		p->bands = o->bands;
	if (o->rows)
		p->rows = o->rows;
	if (o->seed >= 0)
		p->seed = o->seed;
	return kiln_minhash_check(p, err);
}

void kiln_dedup_stats_init(kiln_dedup_stats *st)
{
	memset(st, 0, sizeof *st);
	kiln_stage_stats_init(&st->stage, "dedup", reasons);
}

void kiln_dedup_stats_free(kiln_dedup_stats *st)
{
	kiln_stage_stats_free(&st->stage);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- the run's state ----------------------------------------------- */

typedef struct rank {
	double tests, mutation, reward;
	uint32_t len;
	uint8_t reparse;   /* has "dedup" or "dropped": set, not appended */
	uint8_t nosig;     /* fewer than ngram tokens */
	uint8_t near_later; /* kept, with a dropped member after it whose
			     * text differs (pass 2 signs it again) */
} rank;

typedef struct bkey {
	uint64_t key;
	uint32_t id, pad;
} bkey;

/* A document's signature, shingle set and id, kept from pass 1 or worked
 * out again from its input line: data[0, np) the signature, then nset
 * shingle hashes, then the id's JSON (idlen bytes). */
typedef struct dcache {
	size_t bytes;
	uint32_t nset, idlen;
	int sig;           /* 0: the id alone (for a record of the same text) */
	uint64_t data[];
} dcache;

typedef struct run {
	const kiln_dedup_opts *o;
	kiln_dedup_stats *st;
	kiln_error *err;
	kiln_minhash_params p;
	kiln_minhash *mh;
	double t0;
	char dir[4096];             /* the work directory */
	FILE *sigs, *docs, *spool;
	FILE **band;                /* bands + 1 (the last: exact keys) */
	int nband;
	bkey *bbuf;                 /* BBUF keys a band on their way to it */
	size_t *bbuf_n;
	/* the index */
	int idx_lock;               /* its run lock's fd, -1 if none */
	int idx_sigs, idx_docs;     /* fds, -1 if none */
	size_t m;                   /* its documents */
	uint64_t idx_docs_bytes;
	/* per document, m + n */
	size_t n, cap;
	uint32_t *parent, *best;
	rank *rk;
	uint64_t *ekey, *doff;
	uint64_t docs_bytes;
	/* scratch */
	uint64_t *sig, *sig2;
	unsigned char *rec, *rec2;
	size_t rec_cap, rec2_cap;
	int spooled;                /* some input came through the spool */
	int need_sets;              /* shingle sets kept: --dropped, --index */
	int need_sigs;              /* signatures kept: also --sigs-out */
	int need_docs;              /* the docs file written */
	/* --dropped without --index, no gzip input: the details recomputed
	 * in pass 2 from the input lines (doff: a line's offset in its
	 * input or the spool, dlen: its length) instead of work files */
	int recompute;
	uint32_t *dlen;
	uint64_t spool_bytes;
	size_t *first;              /* per input, its first document; + n */
	int *fds;                   /* per input, pass 2's pread fd or -1 */
	uint32_t *last;             /* a kept doc's last dropped member */
	const char *const *inputs;
	size_t ninputs;
	dcache **cache;             /* a doc's figures, while needed */
	size_t cache_bytes;
	/* pass 1 keeps the figures of a document some band key of which an
	 * earlier document had (it is in a cluster, the later member of a
	 * pair), up to pre_limit bytes, so that pass 2 need not sign it
	 * again: a blocked Bloom filter of the band keys seen */
	uint64_t *bloom;
	size_t bloom_mask, pre_limit;
	/* a record whose text equals an earlier one's is joined to it and
	 * not signed (r->same_text: nothing needs its signature) */
	int same_text;
	XXH128_hash_t *th;          /* per doc, its text's XXH3-128 */
	uint32_t *ttab;             /* open addressing over th: doc or NONE */
	size_t ttab_cap, ttab_n;
	char *tbuf, *idbuf;         /* a decoded field; an id's JSON */
	size_t tcap;
} run;

static int oom(run *r)
{
	return kiln_error_set(r->err, KILN_ENOMEM, "dedup: out of memory");
}

/* A failed call on a file: errno says what (ENOMEM, from fopen's
 * buffer, is out of memory like any other allocation). */
static int io_error(run *r, const char *what)
{
	int e = errno;

	return kiln_error_set(r->err, e == ENOMEM ? KILN_ENOMEM : KILN_EIO,
			      "dedup: %s: %s", what, strerror(e));
}

static void progress(run *r, const char *phase, size_t done, size_t total)
{
	if (r->o->progress) {
		kiln_dedup_progress p = { phase, done, total, now() - r->t0 };
		r->o->progress(r->o->ctx, &p);
	}
}

static int stopped(run *r)
{
	if (r->o->stop && *r->o->stop) {
		r->st->stopped = 1;
		return 1;
	}
	return 0;
}

static FILE *work_file(run *r, const char *name, const char *mode)
{
	char path[4200];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", r->dir, name);
	f = fopen(path, mode);
	if (f)
		setvbuf(f, NULL, _IOFBF, 1 << 16);
	return f;
}

static void work_cleanup(run *r)
{
	char path[4200];

	if (!r->dir[0])
		return;
	if (r->sigs)
		fclose(r->sigs);
	if (r->docs)
		fclose(r->docs);
	if (r->spool)
		fclose(r->spool);
	for (int b = 0; r->band && b < r->nband; b++)
		if (r->band[b])
			fclose(r->band[b]);
	static const char *const fixed[] = { "sigs", "docs", "spool", NULL };
	for (int i = 0; fixed[i]; i++) {
		snprintf(path, sizeof path, "%s/%s", r->dir, fixed[i]);
		unlink(path);
	}
	for (int b = 0; b < r->nband; b++) {
		snprintf(path, sizeof path, "%s/band.%d", r->dir, b);
		unlink(path);
	}
	rmdir(r->dir);
}

/* Makes room for document number r->n. */
static int grow_docs(run *r)
{
	if (r->n < r->cap)
		return 0;
	size_t cap = r->cap ? 2 * r->cap : 4096;
	void *p;
#define GROW(F) \
	if (!(p = realloc(r->F, cap * sizeof *r->F))) return oom(r); \
	r->F = p;
	GROW(parent) GROW(rk) GROW(ekey) GROW(doff)
	if (r->recompute) {
		GROW(dlen) GROW(cache)
		memset(r->cache + r->cap, 0, (cap - r->cap) * sizeof *r->cache);
	}
	if (r->same_text) {
		GROW(th)
	}
#undef GROW
	r->cap = cap;
	return 0;
}

/* The four bits that stand for band key x in its word of the blocked
 * Bloom filter (from the key's high bits; the word is chosen by its low
 * ones, & bloom_mask). */
static uint64_t bloom_bits(uint64_t x)
{
	return 1ull << (x >> 40 & 63) | 1ull << (x >> 46 & 63) |
	       1ull << (x >> 52 & 63) | 1ull << (x >> 58);
}

#define BBUF 512

/* Band b's buffered keys to its file. */
static int band_flush(run *r, int b)
{
	size_t n = r->bbuf_n[b];

	r->bbuf_n[b] = 0;
	if (n && fwrite(r->bbuf + (size_t)b * BBUF, sizeof(bkey), n,
			r->band[b]) != n)
		return io_error(r, "band keys");
	return 0;
}

static int band_put(run *r, int b, uint64_t key, uint32_t id)
{
	r->bbuf[(size_t)b * BBUF + r->bbuf_n[b]++] = (bkey){ key, id, 0 };
	return r->bbuf_n[b] == BBUF ? band_flush(r, b) : 0;
}

/* Writes document id's band keys; *seen (with r->bloom) 1 if an earlier
 * document may have had one of them (never 0 when one did). The filter's
 * words are fetched while the keys are written, so that their cache
 * misses overlap. */
static int write_bands(run *r, uint32_t id, const uint64_t *sig, int valid,
		       uint64_t ekey, int *seen)
{
	uint64_t keys[KILN_MINHASH_MAX_PERM];   /* bands <= permutations */
	int rc;

	*seen = 0;
	for (int b = 0; valid && b < r->p.bands; b++) {
		keys[b] = XXH3_64bits(sig + (size_t)b * (size_t)r->p.rows,
				      (size_t)r->p.rows * sizeof(uint64_t));
		if (r->bloom)
			__builtin_prefetch(&r->bloom[keys[b] & r->bloom_mask]);
	}
	for (int b = 0; valid && b < r->p.bands; b++)
		if ((rc = band_put(r, b, keys[b], id)))
			return rc;
	if (valid && r->bloom)
		for (int b = 0; b < r->p.bands; b++) {
			uint64_t *w = &r->bloom[keys[b] & r->bloom_mask];
			uint64_t m = bloom_bits(keys[b]);
			*seen |= !(m & ~*w);
			*w |= m;
		}
	return band_put(r, r->p.bands, ekey, id);
}

/* ---- the index ----------------------------------------------------- */

static json_t *params_json(const kiln_minhash_params *p)
{
	return json_pack("{s:s, s:i, s:i, s:i, s:i, s:I}", "tokens",
			 p->tokens == KILN_MINHASH_IDENT ? "identifiers" :
			 "words", "ngram", p->ngram, "permutations",
			 p->permutations, "bands", p->bands, "rows", p->rows,
			 "seed", (json_int_t)p->seed);
}

static int index_path(run *r, char *buf, size_t n, const char *name)
{
	if ((size_t)snprintf(buf, n, "%s/%s", r->o->index, name) >= n)
		return kiln_error_set(r->err, KILN_EINVAL, "dedup: --index: "
				      "path too long");
	return 0;
}

/* Reads DIR/index.json (if there) and opens the index's files. */
static int index_open(run *r)
{
	char path[4200];
	json_error_t je;
	json_t *meta = NULL, *want = NULL;
	struct stat sb;
	int rc = 0;

	r->idx_sigs = r->idx_docs = -1;
	if (!r->o->index)
		return 0;
	if (mkdir(r->o->index, 0777) && errno != EEXIST)
		return kiln_error_set(r->err, KILN_EIO, "dedup: --index: %s: "
				      "%s", r->o->index, strerror(errno));
	/* One run at a time appends: two would both count their documents
	 * from the same index.json and interleave their files. */
	if ((rc = index_path(r, path, sizeof path, "index")) ||
	    (rc = kiln_lock_path(path, 0, "index", &r->idx_lock, r->err)))
		return rc;
	if ((rc = index_path(r, path, sizeof path, "index.json")))
		return rc;
	if (stat(path, &sb) && errno == ENOENT)
		return 0;   /* a new index */
	meta = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!meta)
		return kiln_error_set(r->err, KILN_EPARSE, "dedup: %s:%d: %s",
				      path, je.line, je.text);
	want = params_json(&r->p);
	json_t *have = json_object_get(meta, "params");
	json_t *docs = json_object_get(meta, "docs");
	json_t *bytes = json_object_get(meta, "docs_bytes");
	if (!json_is_string(json_object_get(meta, "format")) ||
	    strcmp(json_string_value(json_object_get(meta, "format")),
		   "kiln-dedup-index") || !json_is_object(have) ||
	    !json_is_integer(docs) || json_integer_value(docs) < 0 ||
	    json_integer_value(docs) > (json_int_t)MAX_DOCS / 2 ||
	    !json_is_integer(bytes) || json_integer_value(bytes) < 0) {
		rc = kiln_error_set(r->err, KILN_EPARSE, "dedup: %s: not a kiln "
				    "dedup index (needs format, params, docs, "
				    "docs_bytes)", path);
		goto out;
	}
	if (!want || !json_equal(have, want)) {
		char *h = json_dumps(have, JSON_COMPACT | JSON_SORT_KEYS);
		char *w = want ? json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS)
			  : NULL;
		rc = kiln_error_set(r->err, KILN_EINVAL, "dedup: --index %s was "
				    "made with %s; this run's parameters are "
				    "%s", r->o->index, h ? h : "?", w ? w : "?");
		free(h), free(w);
		goto out;
	}
	r->m = (size_t)json_integer_value(docs);
	r->idx_docs_bytes = (uint64_t)json_integer_value(bytes);
	/* the files must hold at least what index.json counts */
	{
		static const char *const names[] = { "sigs.bin", "keys.bin",
						     "offsets.bin", "docs.bin" };
		uint64_t need[4] = { (uint64_t)r->m * (uint64_t)r->p.permutations
				     * 8, (uint64_t)r->m * 8, (uint64_t)r->m * 8,
				     r->idx_docs_bytes };
		for (int i = 0; i < 4; i++) {
			if ((rc = index_path(r, path, sizeof path, names[i])))
				goto out;
			if (stat(path, &sb) || (uint64_t)sb.st_size < need[i]) {
				rc = kiln_error_set(r->err, KILN_EPARSE, "dedup: "
						    "%s: shorter than index.json "
						    "says (%llu bytes)", path,
						    (unsigned long long)need[i]);
				goto out;
			}
		}
	}
	if (index_path(r, path, sizeof path, "sigs.bin") ||
	    (r->idx_sigs = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    index_path(r, path, sizeof path, "docs.bin") ||
	    (r->idx_docs = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = io_error(r, path);
		goto out;
	}
out:
	json_decref(meta);
	json_decref(want);
	return rc;
}

/* The index's documents into the per-document arrays and band files. */
static int index_load(run *r)
{
	char path[4200];
	FILE *keys = NULL, *offs = NULL, *sigs = NULL;
	size_t np = (size_t)r->p.permutations;
	int rc = 0;

	if (!r->m)
		return 0;
	if ((rc = index_path(r, path, sizeof path, "keys.bin")) ||
	    !(keys = fopen(path, "rb")) ||
	    (rc = index_path(r, path, sizeof path, "offsets.bin")) ||
	    !(offs = fopen(path, "rb")) ||
	    (rc = index_path(r, path, sizeof path, "sigs.bin")) ||
	    !(sigs = fopen(path, "rb"))) {
		rc = rc ? rc : io_error(r, path);
		goto out;
	}
	for (size_t i = 0; i < r->m; i++) {
		uint64_t ek, off;
		int valid = 0;
		if ((rc = grow_docs(r)))
			goto out;
		if (fread(&ek, 8, 1, keys) != 1 || fread(&off, 8, 1, offs) != 1
		    || fread(r->sig, 8, np, sigs) != np) {
			rc = kiln_error_set(r->err, KILN_EIO, "dedup: --index "
					    "%s: cannot read document %zu",
					    r->o->index, i);
			goto out;
		}
		if (off >= r->idx_docs_bytes) {
			rc = kiln_error_set(r->err, KILN_EPARSE, "dedup: --index "
					    "%s: document %zu's offset is past "
					    "docs.bin", r->o->index, i);
			goto out;
		}
		for (size_t k = 0; k < np && !valid; k++)
			valid = r->sig[k] != UINT64_MAX;
		r->parent[r->n] = (uint32_t)r->n;
		r->ekey[r->n] = ek;
		r->doff[r->n] = off;
		memset(&r->rk[r->n], 0, sizeof(rank));
		r->rk[r->n].nosig = !valid;
		int seen;
		if ((rc = write_bands(r, (uint32_t)r->n, r->sig, valid, ek,
				      &seen)))
			goto out;
		r->n++;
	}
	r->st->index_docs = r->m;
out:
	if (keys)
		fclose(keys);
	if (offs)
		fclose(offs);
	if (sigs)
		fclose(sigs);
	return rc;
}

/* Appends this batch's kept documents to the index, then index.json. */
static int index_append(run *r)
{
	static const char *const names[] = { "sigs.bin", "keys.bin",
					     "offsets.bin", "docs.bin" };
	char path[4200];
	FILE *f[4] = { 0 };
	size_t np = (size_t)r->p.permutations, added = 0;
	uint64_t bytes = r->idx_docs_bytes;
	uint64_t len0[4] = { (uint64_t)r->m * np * 8, (uint64_t)r->m * 8,
			     (uint64_t)r->m * 8, r->idx_docs_bytes };
	json_t *meta = NULL;
	char *text = NULL;
	int rc = 0;

	if (!r->o->index)
		return 0;
	for (int i = 0; i < 4; i++) {
		int fd;
		if ((rc = index_path(r, path, sizeof path, names[i])))
			goto out;
		if ((fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0666)) < 0 ||
		    ftruncate(fd, (off_t)len0[i]) ||
		    lseek(fd, (off_t)len0[i], SEEK_SET) < 0 ||
		    !(f[i] = fdopen(fd, "wb"))) {
			if (fd >= 0)
				close(fd);
			rc = io_error(r, path);
			goto out;
		}
	}
	if (fflush(r->sigs) || fflush(r->docs))
		return io_error(r, "work files");
	for (size_t i = r->m; i < r->n; i++) {
		if (r->parent[i] != i)
			continue;
		size_t j = i - r->m;
		uint32_t len[2];
		if (pread(fileno(r->sigs), r->sig, np * 8, (off_t)(j * np * 8)) !=
		    (ssize_t)(np * 8) ||
		    pread(fileno(r->docs), len, 4, (off_t)r->doff[i]) != 4 ||
		    pread(fileno(r->docs), &len[1], 4,
			  (off_t)(r->doff[i] + 4 + len[0])) != 4) {
			rc = io_error(r, "work files");
			goto out;
		}
		size_t reclen = 8 + len[0] + (size_t)len[1] * 8;
		if (reclen > r->rec_cap) {
			unsigned char *p = realloc(r->rec, reclen);
			if (!p) {
				rc = oom(r);
				goto out;
			}
			r->rec = p, r->rec_cap = reclen;
		}
		if (pread(fileno(r->docs), r->rec, reclen, (off_t)r->doff[i]) !=
		    (ssize_t)reclen) {
			rc = io_error(r, "work files");
			goto out;
		}
		if (fwrite(r->sig, 8, np, f[0]) != np ||
		    fwrite(&r->ekey[i], 8, 1, f[1]) != 1 ||
		    fwrite(&bytes, 8, 1, f[2]) != 1 ||
		    fwrite(r->rec, 1, reclen, f[3]) != reclen) {
			rc = io_error(r, r->o->index);
			goto out;
		}
		bytes += reclen;
		added++;
	}
	for (int i = 0; i < 4; i++) {
		int bad = fflush(f[i]) || fsync(fileno(f[i]));
		bad |= fclose(f[i]);
		f[i] = NULL;
		if (bad) {
			rc = io_error(r, r->o->index);
			goto out;
		}
	}
	meta = json_pack("{s:s, s:i, s:o, s:I, s:I}", "format",
			 "kiln-dedup-index", "version", 1, "params",
			 params_json(&r->p), "docs", (json_int_t)(r->m + added),
			 "docs_bytes", (json_int_t)bytes);
	text = meta ? json_dumps(meta, JSON_INDENT(1) | JSON_PRESERVE_ORDER) :
	       NULL;
	if (!text) {
		rc = oom(r);
		goto out;
	}
	if ((rc = index_path(r, path, sizeof path, "index.json")))
		goto out;
	size_t tl = strlen(text);
	text[tl] = '\n';
	rc = kiln_output_save(path, text, tl + 1, r->err);
	r->st->index_added = added;
out:
	for (int i = 0; i < 4; i++)
		if (f[i])
			fclose(f[i]);
	json_decref(meta);
	free(text);
	return rc;
}

/* ---- pass 1: read and sign ----------------------------------------- */

static double number_or(json_t *v)
{
	return json_is_number(v) ? json_number_value(v) : -INFINITY;
}

static int is_stream(const char *path)
{
	struct stat sb;

	return strcmp(path, "-") == 0 || stat(path, &sb) || !S_ISREG(sb.st_mode);
}

/* The inputs' bytes (a stream counts 256 MB), to size the Bloom filter. */
static uint64_t inputs_size(const char *const *inputs, size_t ninputs)
{
	uint64_t total = 0;
	struct stat sb;

	for (size_t k = 0; k < ninputs; k++)
		total += is_stream(inputs[k]) || stat(inputs[k], &sb) ?
			 256u << 20 : (uint64_t)sb.st_size;
	return total;
}

/* What dedup needs of one input line: the scanner's fast path, else
 * jansson (which also names what is wrong with a bad line). *rec is the
 * parsed record on the slow path (the fields point into it), else NULL. */
static int read_fields(run *r, const char *path, long lineno,
		       const char *line, size_t len, kiln__dedup_fields *f,
		       json_t **rec)
{
	json_t *v;
	int rc;

	*rec = NULL;
	/* (a NUL byte anywhere makes the scanner give up: no memchr here) */
	if ((len < 3 || memcmp(line, "\xef\xbb\xbf", 3)) &&
	    kiln_utf8_check(line, len) < 0) {
		rc = kiln__dedup_scan(line, len, r->o->field, f, &r->tbuf,
				      &r->tcap);
		if (rc < 0)
			return oom(r);
		if (rc == 1)
			return 0;
	}
	if ((rc = kiln_jsonl_parse_line(line, len, rec, r->err))) {
		kiln_error_prefix(r->err, "%s:%ld: ", path, lineno);
		return rc;
	}
	v = json_object_get(*rec, r->o->field);
	if (!json_is_string(v))
		return kiln_error_set(r->err, KILN_EPARSE, "%s:%ld: %s \"%s\"%s",
				      path, lineno, v ? "field" :
				      "no field", r->o->field, v ?
				      " is not a string" : "");
	memset(f, 0, sizeof *f);
	f->text = json_string_value(v);
	f->text_len = json_string_length(v);
	f->tests = number_or(json_object_get(*rec, "tests_passed"));
	f->reward = number_or(json_object_get(*rec, "reward"));
	f->reparse = json_object_get(*rec, "dedup") ||
		     json_object_get(*rec, "dropped");
	free(r->idbuf);
	r->idbuf = NULL;
	if ((v = json_object_get(*rec, "id"))) {
		if (!(r->idbuf = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT)))
			return oom(r);
		f->id = r->idbuf, f->id_len = strlen(r->idbuf);
	}
	return 0;
}

/* off: where the line starts in its input, or in the spool */
static void unite(uint32_t *p, uint32_t x, uint32_t y);

/* The earlier document with document i's text (th[i], ekey[i]), or NONE;
 * i is entered when there is none. -1 when out of memory. */
static long same_text_as(run *r, uint32_t i)
{
	if (2 * (r->ttab_n + 1) > r->ttab_cap) {
		size_t cap = r->ttab_cap ? 2 * r->ttab_cap : 1u << 14;
		uint32_t *t = malloc(cap * sizeof *t);
		if (!t)
			return -1;
		memset(t, 0xff, cap * sizeof *t);
		for (size_t k = 0; k < r->ttab_cap; k++) {
			uint32_t d = r->ttab[k];
			if (d == NONE)
				continue;
			size_t h = (size_t)r->th[d].low64 & (cap - 1);
			while (t[h] != NONE)
				h = (h + 1) & (cap - 1);
			t[h] = d;
		}
		free(r->ttab);
		r->ttab = t, r->ttab_cap = cap;
	}
	for (size_t h = (size_t)r->th[i].low64 & (r->ttab_cap - 1);;
	     h = (h + 1) & (r->ttab_cap - 1)) {
		uint32_t d = r->ttab[h];
		if (d == NONE) {
			r->ttab[h] = i;
			r->ttab_n++;
			return (long)NONE;
		}
		if (XXH128_isEqual(r->th[d], r->th[i]) && r->ekey[d] == r->ekey[i])
			return (long)d;
	}
}

/* The bytes of a dcache with (sig) r->sig and nset shingles, and an id
 * of idlen bytes. */
static size_t dcache_bytes(const run *r, int sig, size_t nset, size_t idlen)
{
	return sizeof(dcache) + ((sig ? (size_t)r->p.permutations : 0) +
				 nset) * 8 + idlen;
}

/* A dcache of (sig) r->sig, set[0, nset) and the id (malloc'd; NULL when
 * out of memory). */
static dcache *dcache_new(const run *r, int sig, const uint64_t *set,
			  size_t nset, const char *id, size_t idlen)
{
	size_t np = sig ? (size_t)r->p.permutations : 0;
	size_t bytes = dcache_bytes(r, sig, nset, idlen);
	dcache *e = malloc(bytes);

	if (!e)
		return NULL;
	e->bytes = bytes, e->nset = (uint32_t)nset, e->sig = sig;
	e->idlen = (uint32_t)idlen;
	memcpy(e->data, r->sig, np * 8);
	if (nset)
		memcpy(e->data + np, set, nset * 8);
	memcpy((char *)(e->data + np + nset), id, idlen);
	return e;
}

/* Keeps document i's figures (r->sig, its set of distinct shingles, its
 * id) for pass 2, if pre_limit allows. */
static int pre_keep(run *r, size_t i, const kiln__dedup_fields *f)
{
	const uint64_t *set;
	long n = kiln_minhash_last_set(r->mh, &set);   /* (words: recompute) */

	if (n < 0)
		return n == KILN_ENOMEM ? oom(r) : 0;
	size_t bytes = dcache_bytes(r, 1, (size_t)n, f->id_len);
	if (r->cache_bytes + bytes > r->pre_limit)
		return 0;
	if (!(r->cache[i] = dcache_new(r, 1, set, (size_t)n, f->id,
				       f->id_len)))
		return oom(r);
	r->cache_bytes += bytes;
	return 0;
}

static int sign_record(run *r, kiln_jsonl_reader *in, const char *line,
		       size_t linelen, uint64_t off)
{
	kiln__dedup_fields f;
	json_t *rec = NULL;
	const uint64_t *set = NULL;
	size_t np = (size_t)r->p.permutations;
	uint32_t hdr[2];
	long nset;
	int rc;

	if (r->n >= MAX_DOCS)
		return kiln_error_set(r->err, KILN_ELIMIT, "dedup: more than "
				      "%u documents", MAX_DOCS);
	if ((rc = grow_docs(r)) ||
	    (rc = read_fields(r, kiln_jsonl_path(in), kiln_jsonl_lineno(in),
			      line, linelen, &f, &rec)))
		goto out;
	double mutation = rec ? number_or(json_object_get(json_object_get(
					rec, "mutation"), "score")) : -INFINITY;
	size_t i = r->n;
	long same = (long)NONE;
	r->ekey[i] = kiln_minhash_exact_key(f.text, f.text_len);
	if (r->same_text) {
		r->th[i] = XXH3_128bits(f.text, f.text_len);
		if ((same = same_text_as(r, (uint32_t)i)) < 0) {
			rc = oom(r);
			goto out;
		}
	}
	if (same != (long)NONE)   /* its signature and bands are same's */
		nset = r->rk[same].nosig ? 0 : 1;
	else
		nset = kiln_minhash_sign(r->mh, f.text, f.text_len, r->sig,
					 r->need_sets ? &set : NULL, r->err);
	if (nset < 0) {
		kiln_error_prefix(r->err, "%s:%ld: \"%s\": ",
				  kiln_jsonl_path(in), kiln_jsonl_lineno(in),
				  r->o->field);
		rc = (int)nset;
		goto out;
	}
	if (!f.id || f.id_len > MAX_ID_JSON)   /* for tracing only */
		f.id = "null", f.id_len = 4;
	hdr[0] = (uint32_t)f.id_len;
	hdr[1] = r->need_sets ? (uint32_t)nset : 0;
	if (r->recompute)
		r->dlen[i] = (uint32_t)linelen;
	r->parent[i] = (uint32_t)i;
	r->rk[i] = (rank){ f.tests, mutation, f.reward,
			   f.text_len > UINT32_MAX ? UINT32_MAX :
			   (uint32_t)f.text_len, (uint8_t)f.reparse, !nset, 0 };
	r->doff[i] = r->recompute ? off : r->docs_bytes;
	if ((r->need_sigs && fwrite(r->sig, 8, np, r->sigs) != np) ||
	    (r->need_docs &&
	     (fwrite(&hdr[0], 4, 1, r->docs) != 1 ||
	      fwrite(f.id, 1, hdr[0], r->docs) != hdr[0] ||
	      fwrite(&hdr[1], 4, 1, r->docs) != 1 ||
	      fwrite(set, 8, hdr[1], r->docs) != hdr[1]))) {
		rc = io_error(r, "work files");
		goto out;
	}
	if (r->need_docs)
		r->docs_bytes += 8 + hdr[0] + (uint64_t)hdr[1] * 8;
	if (!nset)
		r->st->short_docs++;
	int seen = 0;
	if (same != (long)NONE)
		unite(r->parent, (uint32_t)same, (uint32_t)i);
	else if ((rc = write_bands(r, (uint32_t)i, r->sig, nset > 0,
				   r->ekey[i], &seen)))
		goto out;
	if (seen && (rc = pre_keep(r, i, &f)))
		goto out;
	r->n++;
out:
	json_decref(rec);
	return rc;
}

static int pass1(run *r, const char *const *inputs, size_t ninputs)
{
	int rc = 0;

	for (size_t k = 0; k < ninputs && !rc; k++) {
		kiln_jsonl_reader *in = NULL;
		const char *line;
		size_t len;
		int spool = is_stream(inputs[k]);

		if (spool && !r->spool) {
			if (!(r->spool = work_file(r, "spool", "w+b")))
				return io_error(r, "spool");
		}
		r->spooled |= spool;
		if (r->first)
			r->first[k] = r->n;
		if ((rc = kiln_jsonl_open(&in, inputs[k], 0, r->err)))
			return rc;
		kiln_jsonl_set_stop(in, r->o->stop);
		while ((rc = kiln_jsonl_next_line(in, &line, &len, r->err)) ==
		       0) {
			rc = sign_record(r, in, line, len, spool ?
					 r->spool_bytes : kiln_jsonl_offset(in));
			if (!rc && spool &&
			    (fwrite(line, 1, len, r->spool) != len ||
			     fputc('\n', r->spool) == EOF))
				rc = io_error(r, "spool");
			r->spool_bytes += spool ? len + 1 : 0;
			if (rc)
				break;
			if (((r->n - r->m) & 1023) == 0) {
				progress(r, "signing", r->n - r->m, 0);
				if (stopped(r))
					break;
			}
		}
		kiln_jsonl_close(in);
		if (rc == KILN_EEOF)
			rc = 0;
	}
	if (r->first)
		r->first[ninputs] = r->n;
	progress(r, "signing", r->n - r->m, r->n - r->m);
	return rc;
}

/* ---- clustering ---------------------------------------------------- */

static uint32_t find(uint32_t *p, uint32_t x)
{
	while (p[x] != x) {
		p[x] = p[p[x]];
		x = p[x];
	}
	return x;
}

static void unite(uint32_t *p, uint32_t x, uint32_t y)
{
	x = find(p, x), y = find(p, y);
	if (x < y)
		p[y] = x;
	else if (y < x)
		p[x] = y;
}

static int bkey_cmp(const void *a, const void *b)
{
	const bkey *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Sorts by key, then id: LSD radix sort of the keys' high 32 bits, 16 a
 * pass (stable: ids stay in order), then each run of keys whose high
 * halves are equal (equal keys, or one pair in 2^32) put in order by
 * insertion. */
static int sort_keys(bkey *a, size_t n)
{
	bkey *tmp;
	size_t *cnt;

	if (n < 65536) {
		qsort(a, n, sizeof *a, bkey_cmp);
		return 0;
	}
	tmp = malloc(n * sizeof *tmp);
	cnt = malloc(65536 * sizeof *cnt);
	if (!tmp || !cnt) {
		free(tmp), free(cnt);
		return -1;
	}
	for (int shift = 32; shift < 64; shift += 16) {
		memset(cnt, 0, 65536 * sizeof *cnt);
		for (size_t i = 0; i < n; i++)
			cnt[(a[i].key >> shift) & 0xffff]++;
		if (cnt[(a[0].key >> shift) & 0xffff] == n)
			continue;
		for (size_t d = 0, sum = 0; d < 65536; d++) {
			size_t c = cnt[d];
			cnt[d] = sum, sum += c;
		}
		for (size_t i = 0; i < n; i++)
			tmp[cnt[(a[i].key >> shift) & 0xffff]++] = a[i];
		memcpy(a, tmp, n * sizeof *a);
	}
	free(tmp), free(cnt);
	for (size_t i = 1; i < n; i++)
		if (a[i].key >> 32 == a[i - 1].key >> 32 &&
		    bkey_cmp(&a[i - 1], &a[i]) > 0) {
			bkey x = a[i];
			size_t j = i;
			for (; j && a[j - 1].key >> 32 == x.key >> 32 &&
			       bkey_cmp(&a[j - 1], &x) > 0; j--)
				a[j] = a[j - 1];
			a[j] = x;
		}
	return 0;
}

int kiln__dedup_sort_check(uint64_t seed, size_t n)
{
	bkey *a = malloc((n ? n : 1) * sizeof *a);
	uint64_t sum = 0, xor = 0;
	int bad = !a;

	for (size_t i = 0; a && i < n; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t hi = seed >> 60, lo = (seed >> 20) & 3;   /* collide */
		a[i] = (bkey){ hi << 32 | (seed & 1 ? lo : lo << 40),
			       (uint32_t)i, 0 };
		if (seed >> 59 & 1)
			a[i].key = seed;
		sum += a[i].key + a[i].id, xor ^= a[i].key * 31 + a[i].id;
	}
	if (!bad && sort_keys(a, n))
		bad = 1;
	for (size_t i = 0; !bad && i < n; i++) {
		sum -= a[i].key + a[i].id, xor ^= a[i].key * 31 + a[i].id;
		if (i && bkey_cmp(&a[i - 1], &a[i]) >= 0)
			bad = 1;
	}
	free(a);
	return bad || sum || xor ? -1 : 0;
}

static void join_sorted(run *r, const bkey *a, size_t n, bkey *prev,
			int *have)
{
	for (size_t i = 0; i < n; i++) {
		if (*have && prev->key == a[i].key) {
			unite(r->parent, prev->id, a[i].id);
			r->st->candidate_pairs++;
		}
		*prev = a[i], *have = 1;
	}
}

/* A band file larger than the memory: sorted runs, then a k-way merge
 * (a binary heap of the runs' heads). */
static int join_external(run *r, FILE *f, size_t n, int b)
{
	size_t chunk = r->o->memory / (2 * sizeof(bkey)), nrun = 0;
	bkey *buf = NULL, prev = { 0 };
	FILE **runs = NULL;
	struct head { bkey k; size_t run; } *heap = NULL;
	size_t nh = 0;
	int rc = 0, have = 0;
	char name[64], path[4200];

	if (chunk < 1024)
		chunk = 1024;
	r->st->external_sort = 1;
	nrun = (n + chunk - 1) / chunk;
	buf = malloc(chunk * sizeof *buf);
	runs = calloc(nrun, sizeof *runs);
	heap = malloc(nrun * sizeof *heap);
	if (!buf || !runs || !heap) {
		rc = oom(r);
		goto out;
	}
	rewind(f);
	for (size_t i = 0; i < nrun; i++) {
		size_t got = fread(buf, sizeof *buf, chunk, f);
		snprintf(name, sizeof name, "run.%d.%zu", b, i);
		if (!got || sort_keys(buf, got) ||
		    !(runs[i] = work_file(r, name, "w+b")) ||
		    fwrite(buf, sizeof *buf, got, runs[i]) != got ||
		    fflush(runs[i])) {
			rc = io_error(r, "sorted runs");
			goto out;
		}
		snprintf(path, sizeof path, "%s/%s", r->dir, name);
		unlink(path);   /* open, nameless: gone with the FILE */
		rewind(runs[i]);
	}
	free(buf);
	buf = NULL;
#define LESS(x, y) (bkey_cmp(&heap[x].k, &heap[y].k) < 0)
#define SWAP(x, y) do { struct head t_ = heap[x]; heap[x] = heap[y]; \
			heap[y] = t_; } while (0)
	for (size_t i = 0; i < nrun; i++) {
		if (fread(&heap[nh].k, sizeof(bkey), 1, runs[i]) != 1)
			continue;
		heap[nh].run = i;
		for (size_t c = nh++; c && LESS(c, (c - 1) / 2); c = (c - 1) / 2)
			SWAP(c, (c - 1) / 2);
	}
	while (nh) {
		join_sorted(r, &heap[0].k, 1, &prev, &have);
		if (fread(&heap[0].k, sizeof(bkey), 1, runs[heap[0].run]) != 1)
			heap[0] = heap[--nh];
		for (size_t c = 0;;) {
			size_t l = 2 * c + 1, m = c;
			if (l < nh && LESS(l, m))
				m = l;
			if (l + 1 < nh && LESS(l + 1, m))
				m = l + 1;
			if (m == c)
				break;
			SWAP(c, m);
			c = m;
		}
	}
#undef LESS
#undef SWAP
out:
	for (size_t i = 0; runs && i < nrun; i++)
		if (runs[i])
			fclose(runs[i]);
	free(runs), free(heap), free(buf);
	return rc;
}

/* Whether documents i and j have the same text (r->same_text; else 0). */
static int same_text(const run *r, uint32_t i, uint32_t j)
{
	return r->same_text && XXH128_isEqual(r->th[i], r->th[j]) &&
	       r->ekey[i] == r->ekey[j];
}

/* Better member of a cluster: the index's first, then the rank, then the
 * earlier one. */
static int better(const run *r, uint32_t i, uint32_t j)
{
	const rank *x = &r->rk[i], *y = &r->rk[j];

	if ((i < r->m) != (j < r->m))
		return i < r->m;
	if (i >= r->m) {
		if (x->tests != y->tests)
			return x->tests > y->tests;
		if (x->mutation != y->mutation)
			return x->mutation > y->mutation;
		if (x->reward != y->reward)
			return x->reward > y->reward;
		if (x->len != y->len)
			return x->len < y->len;
	}
	return i < j;
}

static int cluster(run *r)
{
	size_t n = r->n;
	int rc = 0;

	for (int b = 0; b < r->nband && !rc; b++) {
		FILE *f = r->band[b];
		long end;
		progress(r, "clustering", (size_t)b, (size_t)r->nband);
		if (stopped(r))
			return 0;
		if ((rc = band_flush(r, b)))
			return rc;
		if (fflush(f) || (end = ftell(f)) < 0)
			return io_error(r, "band keys");
		size_t cnt = (size_t)end / sizeof(bkey);
		if (cnt * sizeof(bkey) * 2 > r->o->memory) {
			rc = join_external(r, f, cnt, b);
		} else if (cnt) {
			bkey *a = malloc(cnt * sizeof *a), prev;
			int have = 0;
			rewind(f);
			if (!a)
				return oom(r);
			if (fread(a, sizeof *a, cnt, f) != cnt) {
				free(a);
				return io_error(r, "band keys");
			}
			if (sort_keys(a, cnt)) {
				free(a);
				return oom(r);
			}
			join_sorted(r, a, cnt, &prev, &have);
			free(a);
		}
		fclose(f);
		r->band[b] = NULL;
	}
	if (rc)
		return rc;
	/* parent[i] := the kept member of i's cluster; best[k] := its size */
	if (!(r->best = malloc((n ? n : 1) * sizeof *r->best)))
		return oom(r);
	for (size_t i = 0; i < n; i++) {
		r->parent[i] = find(r->parent, (uint32_t)i);
		r->best[i] = NONE;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t root = r->parent[i];
		if (r->best[root] == NONE || better(r, (uint32_t)i, r->best[root]))
			r->best[root] = (uint32_t)i;
	}
	for (size_t i = 0; i < n; i++)
		r->parent[i] = r->best[r->parent[i]];
	memset(r->best, 0, n * sizeof *r->best);
	for (size_t i = 0; i < n; i++)
		r->best[r->parent[i]]++;
	for (size_t i = r->m; i < n; i++)
		if (r->parent[i] == i && r->best[i] > 1)
			r->st->clusters++;
	if (r->recompute) {   /* pass 2's: when a kept doc's figures go */
		if (!(r->last = malloc((n ? n : 1) * sizeof *r->last)) ||
		    (!r->cache &&
		     !(r->cache = calloc(n ? n : 1, sizeof *r->cache))))
			return oom(r);
		for (size_t i = 0; i < n; i++)
			r->last[i] = NONE;
		for (size_t i = 0; i < n; i++) {
			uint32_t k = r->parent[i];
			if (k == i)
				continue;
			r->last[k] = (uint32_t)i;
			if (i > k && !same_text(r, (uint32_t)i, k))
				r->rk[k].near_later = 1;
		}
	}
	progress(r, "clustering", (size_t)r->nband, (size_t)r->nband);
	return 0;
}

/* ---- pass 2: write ------------------------------------------------- */

/* Document i's signature into sig, its docs record into *buf. */
static int read_doc(run *r, uint32_t i, uint64_t *sig, unsigned char **buf,
		    size_t *cap)
{
	size_t np = (size_t)r->p.permutations;
	int sfd = i < r->m ? r->idx_sigs : fileno(r->sigs);
	int dfd = i < r->m ? r->idx_docs : fileno(r->docs);
	uint64_t si = i < r->m ? i : i - r->m;
	uint64_t off = r->doff[i], end = i < r->m ? r->idx_docs_bytes :
					 r->docs_bytes;
	uint32_t len[2];

	if (pread(sfd, sig, np * 8, (off_t)(si * np * 8)) != (ssize_t)(np * 8)
	    || off + 4 > end || pread(dfd, &len[0], 4, (off_t)off) != 4 ||
	    len[0] > MAX_ID_JSON || off + 8 + len[0] > end ||
	    pread(dfd, &len[1], 4, (off_t)(off + 4 + len[0])) != 4 ||
	    off + 8 + len[0] + (uint64_t)len[1] * 8 > end)
		return kiln_error_set(r->err, KILN_EPARSE, "dedup: document "
				      "%u%s: record unreadable or damaged", i,
				      i < r->m ? " of the index" : "");
	size_t need = 8 + len[0] + (size_t)len[1] * 8 + 1;
	if (need > *cap) {
		unsigned char *p = realloc(*buf, need);
		if (!p)
			return oom(r);
		*buf = p, *cap = need;
	}
	if (pread(dfd, *buf, need - 1, (off_t)off) != (ssize_t)(need - 1))
		return io_error(r, "documents");
	return 0;
}

/* A double as kiln_out_write prints it (15 digits, a ".0" on integers). */
static void fmt_real(char *buf, size_t n, double x)
{
	snprintf(buf, n, "%.15g", x);
	if (!strpbrk(buf, ".eni"))
		strncat(buf, ".0", n - strlen(buf) - 1);
}

/* ---- pass 2's figures, recomputed (r->recompute) ------------------- */

static const char *dcache_id(const run *r, const dcache *e)
{
	return (const char *)(e->data + (e->sig ? (size_t)r->p.permutations +
					 e->nset : 0));
}

/* Reads line (document i's, at path:lineno) and, with sig, signs it as
 * pass 1 did, into *out (malloc'd). */
static int doc_figures(run *r, const char *path, long lineno,
		       const char *line, size_t len, int sig, dcache **out)
{
	kiln__dedup_fields f;
	json_t *rec = NULL;
	const uint64_t *set = NULL;
	long nset;
	int rc;

	*out = NULL;
	if ((rc = read_fields(r, path, lineno, line, len, &f, &rec)))
		goto out;
	nset = sig ? kiln_minhash_sign(r->mh, f.text, f.text_len, r->sig, &set,
				       r->err) : 0;
	if (nset < 0) {
		rc = (int)nset;
		goto out;
	}
	if (!f.id || f.id_len > MAX_ID_JSON)
		f.id = "null", f.id_len = 4;
	if (!(*out = dcache_new(r, sig, set, (size_t)nset, f.id, f.id_len)))
		rc = oom(r);
out:
	json_decref(rec);
	return rc;
}

/* The input holding document i. */
static size_t input_of(const run *r, uint32_t i)
{
	size_t k = 0;

	while (k + 1 < r->ninputs && r->first[k + 1] <= i)
		k++;
	return k;
}

/* Document i's figures read again from its input line (pread: i is
 * elsewhere in the input than pass 2). */
static int doc_reread(run *r, uint32_t i, int sig, dcache **out)
{
	const char *const *inputs = r->inputs;
	size_t k = input_of(r, i), len = r->dlen[i];
	int fd = r->fds[k];
	int rc;

	if (fd < 0) {
		if (is_stream(inputs[k]))
			fd = fileno(r->spool);
		else if ((fd = open(inputs[k], O_RDONLY | O_CLOEXEC)) < 0)
			return io_error(r, inputs[k]);
		r->fds[k] = fd;
	}
	if (len + 1 > r->rec_cap) {
		unsigned char *p = realloc(r->rec, len + 1);
		if (!p)
			return oom(r);
		r->rec = p, r->rec_cap = len + 1;
	}
	ssize_t got = pread(fd, r->rec, len, (off_t)r->doff[i]);
	if (got < 0)
		return io_error(r, inputs[k]);
	r->rec[len] = '\0';
	if ((size_t)got != len ||
	    (rc = doc_figures(r, inputs[k], 0, (const char *)r->rec, len, sig,
			      out)))
		return kiln_error_set(r->err, KILN_EIO, "dedup: %s changed "
				      "while it was read (record %zu)",
				      inputs[k], (size_t)(i - r->first[k]));
	return 0;
}

/* Keeps e as kept document k's figures until its last dropped member,
 * if the memory allows (--memory, free in pass 2): 1 if it does. */
static int cache_put(run *r, uint32_t k, dcache *e)
{
	if (r->cache_bytes + e->bytes > r->o->memory)
		return 0;
	r->cache[k] = e;
	r->cache_bytes += e->bytes;
	return 1;
}

static void cache_drop(run *r, uint32_t k)
{
	if (r->cache[k]) {
		r->cache_bytes -= r->cache[k]->bytes;
		free(r->cache[k]);
		r->cache[k] = NULL;
	}
}

/* drop_details' figures worked out again: document i (line, in hand)
 * dropped for k. */
static int drop_details_again(run *r, const char *path, long lineno,
			      const char *line, size_t len, uint32_t i,
			      uint32_t k, char **out)
{
	size_t np = (size_t)r->p.permutations;
	dcache *di = NULL, *dk = r->cache[k];
	char est[32] = "1.0", exact[32] = "1.0";
	int rc = 0, temp = 0, same = same_text(r, i, k);

	*out = NULL;
	if (!same && r->cache[i] && r->cache[i]->sig)   /* kept by pass 1 */
		di = r->cache[i], r->cache[i] = NULL,
		r->cache_bytes -= di->bytes;
	else if (!same &&
		 (rc = doc_figures(r, path, lineno, line, len, 1, &di)))
		return rc;
	if (dk && !same && !dk->sig)   /* the id alone: not enough */
		dk = NULL;
	if (!dk) {
		if ((rc = doc_reread(r, k, !same, &dk)))
			goto out;
		if (r->last[k] > i) {
			cache_drop(r, k);
			temp = !cache_put(r, k, dk);
		} else {
			temp = 1;
		}
	}
	if (!same) {   /* the same text: the same set and signature */
		fmt_real(est, sizeof est, kiln_minhash_estimate(di->data,
								dk->data, np));
		double j = kiln_minhash_jaccard(di->data + np, di->nset,
						dk->data + np, dk->nset);
		if (j < 0) {
			rc = oom(r);
			goto out;
		}
		fmt_real(exact, sizeof exact, j);
	}
	size_t need = dk->idlen + 160;
	if (!(*out = malloc(need))) {
		rc = oom(r);
		goto out;
	}
	snprintf(*out, need, "\"kept_id\":%.*s,\"kept_record\":%zu,"
		 "\"jaccard_estimated\":%s,\"jaccard_exact\":%s",
		 (int)dk->idlen, dcache_id(r, dk), (size_t)(k - r->m), est,
		 exact);
out:
	if (temp)
		free(dk);
	if (r->last[k] == i)   /* no member after i needs it */
		cache_drop(r, k);
	free(di);
	return rc;
}

/* The details of dropping i for k (after "stage" and "reason"), as JSON
 * members, into *out (malloc'd). */
static int drop_details(run *r, uint32_t i, uint32_t k, char **out)
{
	size_t np = (size_t)r->p.permutations;
	uint32_t li, lk, ni, nk;
	char est[32], exact[32];
	int rc;

	if ((rc = read_doc(r, i, r->sig, &r->rec, &r->rec_cap)) ||
	    (rc = read_doc(r, k, r->sig2, &r->rec2, &r->rec2_cap)))
		return rc;
	memcpy(&li, r->rec, 4), memcpy(&lk, r->rec2, 4);
	memcpy(&ni, r->rec + 4 + li, 4), memcpy(&nk, r->rec2 + 4 + lk, 4);
	/* the shingle hashes, aligned: moved to the buffer's start (k's id
	 * is printed first) */
	memmove(r->rec, r->rec + 8 + li, (size_t)ni * 8);
	fmt_real(est, sizeof est, kiln_minhash_estimate(r->sig, r->sig2, np));
	size_t need = lk + 160;
	if (!(*out = malloc(need)))
		return oom(r);
	int w = snprintf(*out, need, "\"kept_id\":%.*s,\"%s\":%zu,"
			 "\"jaccard_estimated\":%s", (int)lk,
			 (const char *)r->rec2 + 4, k < r->m ? "kept_index_doc" :
			 "kept_record", (size_t)(k < r->m ? k : k - r->m), est);
	memmove(r->rec2, r->rec2 + 8 + lk, (size_t)nk * 8);
	double j = kiln_minhash_jaccard((const uint64_t *)(void *)r->rec, ni,
					(const uint64_t *)(void *)r->rec2, nk);
	if (j < 0) {
		free(*out);
		return oom(r);
	}
	fmt_real(exact, sizeof exact, j);
	snprintf(*out + w, need - (size_t)w, ",\"jaccard_exact\":%s", exact);
	return 0;
}

/* Writes line with "key": {value} added as its last member: appended to
 * the text as it is, or, when the record has the key already, set through
 * jansson. */
static int add_member(run *r, kiln_out *o, const char *line, size_t len,
		      int reparse, const char *key, const char *reason,
		      const char *value)
{
	size_t e = len, b;
	char *buf;
	int rc;

	if (reparse) {
		json_t *rec = NULL, *v = NULL, *d;
		json_error_t je;
		char *text = malloc(strlen(value) + 3);
		if (!text)
			return oom(r);
		sprintf(text, "{%s}", value);
		v = json_loads(text, 0, &je);
		free(text);
		if (!v)
			return oom(r);
		if ((rc = kiln_jsonl_parse_line(line, len, &rec, r->err))) {
			json_decref(v);
			return rc;
		}
		if (reason) {   /* "dropped": the shared mark, then details */
			d = kiln_stage_mark(rec, "dedup", reason);
			rc = !d || json_object_update(d, v);
		} else {
			rc = json_object_set(rec, key, v);
		}
		json_decref(v);
		rc = rc ? oom(r) : kiln_out_write(o, rec, r->err);
		json_decref(rec);
		return rc;
	}
	while (e && (line[e - 1] == ' ' || line[e - 1] == '\t' ||
		     line[e - 1] == '\r'))
		e--;
	if (!e || line[e - 1] != '}')
		return kiln_error_set(r->err, KILN_EIO, "the input changed "
				      "while it was read");
	for (b = e - 1; b && (line[b - 1] == ' ' || line[b - 1] == '\t' ||
			      line[b - 1] == '\r'); b--)
		;
	/* the line up to its closing brace, then the member (built here) */
	char small[256];
	size_t vl = strlen(value), kl = strlen(key), n = 0;
	size_t need = kl + vl + (reason ? strlen(reason) : 0) + 64;
	if (!(buf = need <= sizeof small ? small : malloc(need)))
		return oom(r);
	if (!(b && line[b - 1] == '{'))
		buf[n++] = ',';
	buf[n++] = '"';
	memcpy(buf + n, key, kl), n += kl;
	memcpy(buf + n, "\":{", 3), n += 3;
	if (reason)
		n += (size_t)snprintf(buf + n, need - n, "\"stage\":\"dedup\","
				      "\"reason\":\"%s\",", reason);
	memcpy(buf + n, value, vl);
	n += vl;
	buf[n++] = '}', buf[n++] = '}';
	rc = kiln_out_write_line2(o, line, e - 1, buf, n, r->err);
	if (buf != small)
		free(buf);
	return rc;
}

static int write_record(run *r, kiln_jsonl_reader *in, const char *line,
			size_t len, uint32_t i, kiln_out *out, kiln_out *dropped)
{
	uint32_t k = r->parent[i];
	char *details = NULL;
	int rc;

	if (r->recompute && r->cache[i] &&
	    (k != i || r->last[i] == NONE || r->last[i] < i) &&
	    (k == i || same_text(r, i, k)))
		cache_drop(r, i);   /* pass 1 kept figures nothing needs */
	if (k == i) {
		char v[64];
		if (r->recompute && r->last[i] != NONE && r->last[i] > i &&
		    (!r->cache[i] || (r->rk[i].near_later &&
				      !r->cache[i]->sig))) {
			/* its dropped members come later */
			dcache *e;
			if ((rc = doc_figures(r, kiln_jsonl_path(in),
					      kiln_jsonl_lineno(in), line, len,
					      r->rk[i].near_later, &e)))
				return rc;
			cache_drop(r, i);
			if (!cache_put(r, i, e))
				free(e);
		}
		char digits[16], *d = digits + sizeof digits;
		uint32_t cs = r->best[i];
		do   /* (snprintf's %u, without its cost a kept record) */
			*--d = (char)('0' + cs % 10);
		while (cs /= 10);
		memcpy(v, "\"cluster_size\":", 15);
		memcpy(v + 15, d, (size_t)(digits + sizeof digits - d));
		v[15 + (digits + sizeof digits - d)] = '\0';
		r->st->stage.kept++;
		return add_member(r, out, line, len, r->rk[i].reparse, "dedup",
				  NULL, v);
	}
	const char *reason = r->ekey[i] == r->ekey[k] ? "exact" : "near";
	kiln_stage_drop(&r->st->stage, reason);
	if (!dropped)
		return 0;
	if ((rc = r->recompute ?
	     drop_details_again(r, kiln_jsonl_path(in), kiln_jsonl_lineno(in),
				line, len, i, k, &details) :
	     drop_details(r, i, k, &details)))
		return rc;
	rc = add_member(r, dropped, line, len, r->rk[i].reparse, "dropped",
			reason, details);
	free(details);
	return rc;
}

static int pass2(run *r, const char *const *inputs, size_t ninputs,
		 kiln_out *out, kiln_out *dropped)
{
	size_t i = r->m, total = r->n - r->m;
	int rc = 0;

	if (fflush(r->sigs) || fflush(r->docs) || (r->spool && fflush(r->spool)))
		return io_error(r, "work files");
	for (size_t k = 0; k < ninputs && !rc; k++) {
		kiln_jsonl_reader *in = NULL;
		const char *line;
		size_t len;
		char path[4200];
		const char *src = inputs[k];

		if (is_stream(inputs[k])) {   /* the spooled copy */
			snprintf(path, sizeof path, "%s/spool", r->dir);
			src = path;
		}
		if ((rc = kiln_jsonl_open(&in, src, 0, r->err)))
			return rc;
		while ((rc = kiln_jsonl_next_line(in, &line, &len, r->err)) ==
		       0) {
			if (i >= r->n) {
				rc = kiln_error_set(r->err, KILN_EIO, "dedup: "
						    "%s changed while it was "
						    "read (more records)",
						    inputs[k]);
				break;
			}
			rc = write_record(r, in, line, len, (uint32_t)i++, out,
					  dropped);
			if (rc) {
				kiln_error_prefix(r->err, "%s:%ld: ", src,
						  kiln_jsonl_lineno(in));
				break;
			}
			if (((i - r->m) & 1023) == 0) {
				progress(r, "writing", i - r->m, total);
				if (stopped(r))
					break;
			}
		}
		kiln_jsonl_close(in);
		if (rc == KILN_EEOF)
			rc = 0;
	}
	if (!rc && !r->st->stopped && i != r->n)
		rc = kiln_error_set(r->err, KILN_EIO, "dedup: the input changed "
				    "while it was read (%zu records, then %zu)",
				    r->n - r->m, i - r->m);
	progress(r, "writing", total, total);
	return rc;
}

/* ---- the stage ----------------------------------------------------- */

/* Whether a regular input starts with gzip's magic (its lines cannot be
 * read again by offset). Standard input is spooled as plain lines. */
static int any_gzip(const char *const *inputs, size_t ninputs)
{
	for (size_t k = 0; k < ninputs; k++) {
		unsigned char m[2];
		int fd;
		if (is_stream(inputs[k]))
			continue;
		if ((fd = open(inputs[k], O_RDONLY | O_CLOEXEC)) < 0)
			continue;   /* pass 1 says why */
		ssize_t got = read(fd, m, 2);
		close(fd);
		if (got == 2 && m[0] == 0x1f && m[1] == 0x8b)
			return 1;
	}
	return 0;
}

static int copy_sigs(run *r, const char *path)
{
	kiln_output *o = NULL;
	char buf[1 << 16];
	size_t got;
	int rc;

	if (fflush(r->sigs) || fseek(r->sigs, 0, SEEK_SET))
		return io_error(r, "signatures");
	if ((rc = kiln_output_open(&o, path, r->err)))
		return rc;
	while ((got = fread(buf, 1, sizeof buf, r->sigs)) > 0)
		if ((rc = kiln_output_write(o, buf, got, r->err))) {
			kiln_output_abort(o);
			return rc;
		}
	if (fseek(r->sigs, 0, SEEK_END)) {
		kiln_output_abort(o);
		return io_error(r, "signatures");
	}
	return kiln_output_commit(o, r->err);
}

static int save_params(run *r, const char *path)
{
	size_t np = (size_t)r->p.permutations;
	uint64_t *ab = malloc(2 * np * 8);
	int rc;

	if (!ab)
		return oom(r);
	memcpy(ab, kiln_minhash_a(r->mh), np * 8);
	memcpy(ab + np, kiln_minhash_b(r->mh), np * 8);
	rc = kiln_output_save(path, ab, 2 * np * 8, r->err);
	free(ab);
	return rc;
}

static int fill_params(run *r)
{
	kiln_stage_stats *s = &r->st->stage;
	json_t *curve = json_object();
	char key[16];

	s->params = params_json(&r->p);
	if (!s->params || !curve ||
	    json_object_set_new(s->params, "preset",
				json_string(kiln_dedup_presets[r->o->preset])) ||
	    json_object_set_new(s->params, "field",
				json_string(r->o->field)) ||
	    json_object_set_new(s->params, "threshold", json_real(
		kiln_minhash_threshold(r->p.bands, r->p.rows)))) {
		json_decref(curve);
		return oom(r);
	}
	for (int i = 1; i <= 19; i++) {
		snprintf(key, sizeof key, "%.2f", i * 0.05);
		json_object_set_new(curve, key, json_real(kiln_minhash_s_curve(
			r->p.bands, r->p.rows, i * 0.05)));
	}
	s->extra = json_pack("{s:o}", "s_curve", curve);
	return s->extra ? 0 : oom(r);
}

int kiln_dedup(const char *const *inputs, size_t ninputs, kiln_out *out,
	       kiln_out *dropped, const kiln_dedup_opts *o,
	       kiln_dedup_stats *st, kiln_error *err)
{
	run r;
	const char *tmp = o->tmpdir ? o->tmpdir : getenv("TMPDIR");
	double t;
	int rc;

	memset(&r, 0, sizeof r);
	r.o = o, r.st = st, r.err = err, r.t0 = now();
	r.idx_sigs = r.idx_docs = r.idx_lock = -1;
	r.inputs = inputs, r.ninputs = ninputs;
	if ((rc = kiln_dedup_params(o, &r.p, err)))
		return kiln_error_prefix(err, "dedup: ");
	/* Signing a record of words (xxh64 shingles) twice costs less than
	 * writing and reading its figures; of identifiers (SHA-1 a shingle,
	 * 256 permutations) more: 7.4 s of CPU against 6.6 s on the bench's
	 * 100,000 samples. */
	r.recompute = dropped && !o->index && ninputs &&
		      r.p.tokens == KILN_MINHASH_WORDS &&
		      !any_gzip(inputs, ninputs);
	r.need_sets = (dropped || o->index) && !r.recompute;
	r.need_sigs = r.need_sets || o->sigs_out;
	r.need_docs = r.need_sets;
	r.same_text = !r.need_sigs && !r.need_docs;
	if (!o->field || !*o->field)
		return kiln_error_set(err, KILN_EINVAL, "dedup: no field");
	for (size_t k = 0, streams = 0; k < ninputs; k++)
		if (is_stream(inputs[k]) && ++streams > 1)
			return kiln_error_set(err, KILN_EINVAL, "dedup: at most "
					      "one input may be a stream (%s)",
					      inputs[k]);
	if ((rc = kiln_minhash_new(&r.mh, &r.p, err)) || (rc = fill_params(&r)))
		goto out;
	r.nband = r.p.bands + 1;
	r.sig = malloc((size_t)r.p.permutations * 8);
	r.sig2 = malloc((size_t)r.p.permutations * 8);
	r.band = calloc((size_t)r.nband, sizeof *r.band);
	r.bbuf = malloc((size_t)r.nband * BBUF * sizeof *r.bbuf);
	r.bbuf_n = calloc((size_t)r.nband, sizeof *r.bbuf_n);
	if (r.recompute) {
		r.first = malloc((ninputs + 1) * sizeof *r.first);
		r.fds = malloc(ninputs * sizeof *r.fds);
		for (size_t k = 0; r.fds && k < ninputs; k++)
			r.fds[k] = -1;
	}
	if (r.recompute) {   /* the Bloom filter: ~24 bits a band key */
		size_t words = 1u << 10;
		uint64_t bytes = inputs_size(inputs, ninputs);
		while (words < (1u << 21) && words * 64 < bytes / 3)
			words *= 2;
		r.bloom = calloc(words, sizeof *r.bloom);
		r.bloom_mask = words - 1;
		r.pre_limit = o->memory / 2;
	}
	if (!r.sig || !r.sig2 || !r.band || !r.bbuf || !r.bbuf_n ||
	    (r.recompute && (!r.first || !r.fds || !r.bloom))) {
		rc = oom(&r);
		goto out;
	}
	snprintf(r.dir, sizeof r.dir, "%s/kiln-dedup.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(r.dir)) {
		rc = io_error(&r, r.dir);
		r.dir[0] = '\0';
		goto out;
	}
	if (!(r.sigs = work_file(&r, "sigs", "w+b")) ||
	    !(r.docs = work_file(&r, "docs", "w+b"))) {
		rc = io_error(&r, r.dir);
		goto out;
	}
	for (int b = 0; b < r.nband; b++) {
		char name[32];
		snprintf(name, sizeof name, "band.%d", b);
		if (!(r.band[b] = work_file(&r, name, "w+b"))) {
			rc = io_error(&r, r.dir);
			goto out;
		}
	}
	if ((rc = index_open(&r)) || (rc = index_load(&r)))
		goto out;
	t = now();
	rc = pass1(&r, inputs, ninputs);
	st->sign_seconds = now() - t;
	st->stage.entered = r.n - r.m;
	if (rc || st->stopped)
		goto out;
	if (o->params_out && (rc = save_params(&r, o->params_out)))
		goto out;
	if (o->sigs_out && (rc = copy_sigs(&r, o->sigs_out)))
		goto out;
	t = now();
	rc = cluster(&r);
	st->cluster_seconds = now() - t;
	if (rc || st->stopped)
		goto out;
	t = now();
	rc = pass2(&r, inputs, ninputs, out, dropped);
	st->write_seconds = now() - t;
	if (rc || st->stopped)
		goto out;
	rc = index_append(&r);
out:
	st->stage.seconds = now() - r.t0;
	if (!rc && st->stage.extra &&
	    json_object_update_new(st->stage.extra, json_pack(
		    "{s:I, s:I, s:I, s:I, s:b, s:{s:f, s:f, s:f}}",
		    "short_docs", (json_int_t)st->short_docs,
		    "clusters", (json_int_t)st->clusters,
		    "index_docs", (json_int_t)st->index_docs,
		    "index_added", (json_int_t)st->index_added,
		    "external_sort", st->external_sort, "phase_seconds",
		    "sign", st->sign_seconds, "cluster", st->cluster_seconds,
		    "write", st->write_seconds)))
		rc = oom(&r);
	work_cleanup(&r);
	if (r.idx_sigs >= 0)
		close(r.idx_sigs);
	if (r.idx_docs >= 0)
		close(r.idx_docs);
	kiln_unlock_path(r.idx_lock, 1);
	kiln_minhash_free(r.mh);
	free(r.tbuf), free(r.idbuf);
	free(r.band), free(r.sig), free(r.sig2), free(r.rec), free(r.rec2);
	free(r.bbuf), free(r.bbuf_n);
	free(r.parent), free(r.best), free(r.rk), free(r.ekey), free(r.doff);
	for (size_t i = 0; r.cache && i < r.n; i++)
		free(r.cache[i]);
	for (size_t k = 0; r.fds && k < ninputs; k++)
		if (r.fds[k] >= 0 && !is_stream(inputs[k]))
			close(r.fds[k]);
	free(r.cache), free(r.last), free(r.first), free(r.fds), free(r.dlen);
	free(r.th), free(r.ttab), free(r.bloom);
	return rc;
}
