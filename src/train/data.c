/* Training data (kiln/data.h): files and JSONL records to one token stream
 * with a loss mask, a document-level split, and seeded batches. */
#include "kiln/data.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <xxhash.h>

#include "kiln/chat.h"
#include "kiln/jsonl.h"
#include "kiln/rng.h"

#define MAX_FILE ((size_t)256 << 20)
#define DEFAULT_MAX_BYTES ((uint64_t)1 << 30)

/* One document: prompt bytes (not counted) then answer bytes (counted). */
typedef struct doc {
	char *prompt, *answer;
	size_t plen, alen;
	int *ids;           /* encoded: prompt ids, answer ids, EOT */
	size_t nids, nprompt;
	size_t seq;         /* input order */
} doc;

/* A packing of a split's short chat samples into bins of T input tokens
 * (below, pack_bins): bin j holds item[first[j] .. first[j + 1]), span
 * indices in the order they sit. */
typedef struct packing {
	int valid, T;
	uint64_t seed, epoch, base; /* base: the cursor at the epoch's start */
	size_t *first, *item, n;
} packing;

/* One split's tokens. Packed documents (code, text) come first, in
 * [0, packed); chat samples follow, each a span [start, end) that batches
 * take from its own first token (see kiln_data_batch). */
typedef struct stream {
	int *ids;
	unsigned char *counted;
	size_t n, packed;
	size_t *span_start, *span_end;
	size_t nspans, cap_spans;
	/* For one T, made on first use: the aligned windows (a chat sample
	 * from its first token, T tokens at a time), of every sample when
	 * samples are not packed, else of those longer than a window; and the
	 * samples that are packed (their span indices). */
	int win_T;
	size_t *win_start, *win_len, nwin;
	size_t *short_span, nshort;
	/* The current epoch's packing of the short samples. Training packs
	 * every epoch in a fresh seeded order; validation once, in input
	 * order. */
	packing pk;
} stream;

struct kiln_dataset {
	stream s[2];
	int eot;
	int pack;            /* chat samples packed several to a window */
	kiln_data_stats st;
	double entropy;
	/* the current epoch's window order */
	uint64_t *perm;
	uint64_t perm_epoch, perm_n;
	int perm_T;
	uint64_t perm_seed;
	int have_perm;
};

typedef struct loader {
	const kiln_tok *tok;
	const kiln_data_opts *o;
	doc *docs;
	size_t ndocs, cap;
	kiln_data_stats st;
	uint64_t max_bytes;
	kiln_error *err;
} loader;

static int add_doc(loader *ld, char *prompt, size_t plen, char *answer,
		   size_t alen)
{
	if (ld->ndocs == ld->cap) {
		size_t cap = ld->cap ? 2 * ld->cap : 256;
		doc *d = realloc(ld->docs, cap * sizeof *d);

		if (!d) {
			free(prompt), free(answer);
			return kiln_error_set(ld->err, KILN_ENOMEM,
					      "data: out of memory");
		}
		ld->docs = d, ld->cap = cap;
	}
	ld->docs[ld->ndocs++] = (doc){ .prompt = prompt, .plen = plen,
				       .answer = answer, .alen = alen };
	return 0;
}

static int ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a >= b && !memcmp(s + a - b, suf, b);
}

/* A copy of a JSON string's bytes (which may hold NULs). */
static char *dup_str(const json_t *s, size_t *len)
{
	char *p;

	*len = json_string_length(s);
	p = malloc(*len + 1);
	if (p) {
		memcpy(p, json_string_value(s), *len);
		p[*len] = 0;
	}
	return p;
}

/* One JSONL record to a document. */
static int add_record(loader *ld, json_t *rec, const char *path, long line)
{
	json_t *msgs = json_object_get(rec, "messages");
	json_t *text = json_object_get(rec, "text");
	const char *prompt = json_string_value(json_object_get(rec, "prompt"));
	const char *sol = json_string_value(json_object_get(rec, "solution"));
	json_t *own = NULL;
	char *p = NULL, *a;
	size_t alen;
	int rc;

	if (!msgs && prompt && sol) {
		own = json_pack("[{s:s, s:s}, {s:s, s:s}]", "role", "user",
				"content", prompt, "role", "assistant",
				"content", sol);
		if (!own)
			return kiln_error_set(ld->err, KILN_ENOMEM,
					      "data: out of memory");
		msgs = own;
	}
	if (msgs) {
		size_t n = json_is_array(msgs) ? json_array_size(msgs) : 0;
		json_t *last = n ? json_array_get(msgs, n - 1) : NULL;
		const char *role = json_string_value(json_object_get(last, "role"));
		json_t *content = json_object_get(last, "content");
		json_t *head;

		if (!role || strcmp(role, "assistant") || !json_is_string(content)) {
			json_decref(own);
			return kiln_error_set(ld->err, KILN_EPARSE,
				"%s:%ld: the last message must be the assistant's, with string content",
				path, line);
		}
		head = json_array();
		for (size_t i = 0; head && i + 1 < n; i++)
			json_array_append(head, json_array_get(msgs, i));
		rc = head ? kiln_chat_render(head, 1, &p, ld->err) : KILN_ENOMEM;
		json_decref(head);
		if (rc) {
			json_decref(own);
			kiln_error_prefix(ld->err, "%s:%ld: ", path, line);
			return rc;
		}
		a = dup_str(content, &alen);
		rc = a ? add_doc(ld, p, strlen(p), a, alen) : KILN_ENOMEM;
		if (!a)
			free(p);
		json_decref(own);
		if (!rc)
			ld->st.records++;
		return rc == KILN_ENOMEM ?
			kiln_error_set(ld->err, rc, "data: out of memory") : rc;
	}
	if (json_is_string(text)) {
		a = dup_str(text, &alen);
		if (!a)
			return kiln_error_set(ld->err, KILN_ENOMEM,
					      "data: out of memory");
		rc = add_doc(ld, NULL, 0, a, alen);
		if (!rc)
			ld->st.records++;
		return rc;
	}
	return kiln_error_set(ld->err, KILN_EPARSE,
		"%s:%ld: a record needs \"messages\", \"prompt\" and \"solution\", or \"text\"",
		path, line);
}

static int read_jsonl(loader *ld, const char *path)
{
	kiln_jsonl_reader *r;
	json_t *rec;
	int rc = kiln_jsonl_open(&r, path, 0, ld->err);

	if (rc)
		return rc;
	for (;;) {
		rc = kiln_jsonl_next(r, &rec, ld->err);
		if (rc == KILN_EEOF) {
			rc = 0;
			break;
		}
		if (rc == 0) {
			rc = add_record(ld, rec, path, kiln_jsonl_lineno(r));
			json_decref(rec);
		}
		if (rc == KILN_EPARSE || rc == KILN_ELIMIT) {
			ld->st.bad_records++;
			if (ld->o->skip_bad)
				continue;
		}
		if (rc)
			break;
	}
	ld->st.files++;
	kiln_jsonl_close(r);
	return rc;
}

static int read_plain(loader *ld, const char *path)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0, want;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return kiln_error_set(ld->err, KILN_EIO, "%s: %s", path,
				      strerror(errno));
	if (fstat(fd, &st)) {
		close(fd);
		return kiln_error_set(ld->err, KILN_EIO, "%s: %s", path,
				      strerror(errno));
	}
	want = (size_t)st.st_size;
	if (want > MAX_FILE)
		want = MAX_FILE;
	if (ld->st.bytes + want > ld->max_bytes)
		want = (size_t)(ld->max_bytes - ld->st.bytes);
	buf = malloc(want + 1);
	if (!buf) {
		close(fd);
		return kiln_error_set(ld->err, KILN_ENOMEM, "%s: out of memory",
				      path);
	}
	while (n < want) {
		ssize_t r = read(fd, buf + n, want - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			free(buf), close(fd);
			return kiln_error_set(ld->err, KILN_EIO, "%s: read: %s",
					      path, strerror(e));
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = 0;
	if (memchr(buf, 0, n < 8192 ? n : 8192)) {
		free(buf);
		ld->st.skipped_files++;
		return 0;
	}
	ld->st.files++;
	ld->st.bytes += n;
	return add_doc(ld, NULL, 0, buf, n);
}

static int read_file(loader *ld, const char *path)
{
	int rc;

	if (ld->st.bytes >= ld->max_bytes)
		return 0;
	if (ends_with(path, ".jsonl") || ends_with(path, ".jsonl.gz")) {
		struct stat st;

		rc = read_jsonl(ld, path);
		if (!rc && !stat(path, &st))
			ld->st.bytes += (uint64_t)st.st_size;
	} else {
		rc = read_plain(ld, path);
	}
	if (!rc && ld->o->progress)
		ld->o->progress(ld->o->progress_ctx, ld->st.files, ld->st.bytes);
	return rc;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int walk(loader *ld, const char *dir, int depth)
{
	struct dirent **ents;
	int n, rc = 0;

	if (depth > 64)
		return kiln_error_set(ld->err, KILN_ELIMIT,
				      "%s: directories nested too deep", dir);
	n = scandir(dir, &ents, NULL, by_name);
	if (n < 0)
		return kiln_error_set(ld->err, KILN_EIO, "%s: %s", dir,
				      strerror(errno));
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		size_t len = strlen(dir) + strlen(name) + 2;
		char *p;
		struct stat st;

		if (rc || name[0] == '.' || ld->st.bytes >= ld->max_bytes)
			continue;
		p = malloc(len);
		if (!p) {
			rc = kiln_error_set(ld->err, KILN_ENOMEM, "out of memory");
			continue;
		}
		snprintf(p, len, "%s/%s", dir, name);
		if (lstat(p, &st) == 0) {
			if (S_ISDIR(st.st_mode))
				rc = walk(ld, p, depth + 1);
			else if (S_ISREG(st.st_mode) &&
				 (!ld->o->ext || !ld->o->ext[0] ||
				  ends_with(name, ld->o->ext)))
				rc = read_file(ld, p);
		}
		free(p);
	}
	for (int i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	return rc;
}

static void free_docs(loader *ld)
{
	for (size_t i = 0; i < ld->ndocs; i++) {
		free(ld->docs[i].prompt);
		free(ld->docs[i].answer);
		free(ld->docs[i].ids);
	}
	free(ld->docs);
}

/* Encodes every document (in parallel; the tokenizer is thread-safe). */
static int encode_docs(loader *ld)
{
	int eot = kiln_tok_eot(ld->tok), failed = 0;

	#pragma omp parallel for schedule(dynamic, 1)
	for (size_t i = 0; i < ld->ndocs; i++) {
		doc *d = &ld->docs[i];
		int *pi = NULL, *ai = NULL;
		size_t np = 0, na = 0;

		if ((d->plen && kiln_tok_encode(ld->tok, d->prompt, d->plen, &pi,
						&np, NULL)) ||
		    kiln_tok_encode(ld->tok, d->answer, d->alen, &ai, &na, NULL) ||
		    !(d->ids = malloc((np + na + 1) * sizeof(int)))) {
			#pragma omp atomic write
			failed = 1;
		} else {
			if (np)
				memcpy(d->ids, pi, np * sizeof(int));
			memcpy(d->ids + np, ai, na * sizeof(int));
			d->ids[np + na] = eot;
			d->nids = np + na + 1, d->nprompt = np;
		}
		free(pi), free(ai);
		free(d->prompt), free(d->answer);
		d->prompt = d->answer = NULL;
	}
	return failed ? kiln_error_set(ld->err, KILN_ENOMEM,
				       "data: out of memory while encoding") : 0;
}

static int stream_alloc(stream *s, size_t n)
{
	s->ids = malloc((n ? n : 1) * sizeof(int));
	s->counted = malloc(n ? n : 1);
	s->n = 0;
	return s->ids && s->counted ? 0 : -1;
}

/* A chat sample (one with a prompt) is trained from its own start, as it
 * is served; everything else is packed. */
static int aligned(const doc *d)
{
	return d->nprompt > 0;
}

static int stream_put(stream *s, const doc *d, size_t from, size_t to)
{
	if (from >= to)
		return 0;
	if (aligned(d)) {
		if (s->nspans == s->cap_spans) {
			size_t cap = s->cap_spans ? 2 * s->cap_spans : 64;
			size_t *a = realloc(s->span_start, cap * sizeof *a);

			if (!a)
				return -1;
			s->span_start = a;
			a = realloc(s->span_end, cap * sizeof *a);
			if (!a)
				return -1;
			s->span_end = a, s->cap_spans = cap;
		}
		s->span_start[s->nspans] = s->n;
		s->span_end[s->nspans++] = s->n + (to - from);
	}
	for (size_t j = from; j < to; j++) {
		s->ids[s->n] = d->ids[j];
		s->counted[s->n++] = j >= d->nprompt;
	}
	if (!aligned(d))
		s->packed = s->n;
	return 0;
}

/* Packed documents first, chat samples after them, each group in input
 * order. */
static int by_kind(const void *a, const void *b)
{
	const doc *x = a, *y = b;

	if (aligned(x) != aligned(y))
		return aligned(x) - aligned(y);
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int kiln_data_load(kiln_dataset **out, const kiln_tok *tok,
		   const char *const *paths, int npaths,
		   const kiln_data_opts *opts, kiln_error *err)
{
	kiln_data_opts defaults = { 0 };
	loader ld = { .tok = tok, .o = opts ? opts : &defaults, .err = err };
	kiln_dataset *d = NULL;
	double frac;
	size_t total = 0, nval = 0;
	unsigned char *is_val = NULL;
	uint64_t *counts = NULL;
	int rc = 0, by_docs;

	*out = NULL;
	ld.max_bytes = ld.o->max_bytes ? ld.o->max_bytes : DEFAULT_MAX_BYTES;
	frac = ld.o->val_fraction > 0 ? ld.o->val_fraction : 0.05;
	if (frac >= 1)
		return kiln_error_set(err, KILN_EINVAL,
				      "validation fraction %g: expected < 1", frac);
	for (int i = 0; i < npaths && !rc; i++) {
		struct stat st;

		if (stat(paths[i], &st))
			rc = kiln_error_set(err, KILN_EIO, "%s: %s", paths[i],
					    strerror(errno));
		else if (S_ISDIR(st.st_mode))
			rc = walk(&ld, paths[i], 0);
		else
			rc = read_file(&ld, paths[i]);
	}
	if (!rc && !ld.ndocs)
		rc = kiln_error_set(err, KILN_EINVAL,
				    "data: no documents found in %d path(s)", npaths);
	if (!rc)
		rc = encode_docs(&ld);
	if (rc)
		goto out;
	for (size_t i = 0; i < ld.ndocs; i++)
		ld.docs[i].seq = i;
	qsort(ld.docs, ld.ndocs, sizeof *ld.docs, by_kind);

	/* The split: by document when there are enough of them, else the
	 * tail of the stream. */
	is_val = calloc(ld.ndocs, 1);
	d = calloc(1, sizeof *d);
	if (!is_val || !d) {
		rc = kiln_error_set(err, KILN_ENOMEM, "data: out of memory");
		goto out;
	}
	for (size_t i = 0; i < ld.ndocs; i++)
		total += ld.docs[i].nids;
	by_docs = ld.ndocs >= 20;
	if (by_docs) {
		for (size_t i = 0; i < ld.ndocs; i++) {
			uint64_t h = kiln_rng_mix(ld.docs[i].seq ^
						  0x73706c6974ULL);

			is_val[i] = (double)(h >> 11) * 0x1.0p-53 < frac;
			if (is_val[i])
				nval += ld.docs[i].nids, ld.st.val_docs++;
		}
	} else {
		nval = (size_t)((double)total * frac);
	}
	/* The tail split moves a chat sample that does not fit in training
	 * whole to validation, which then holds more than nval tokens: each
	 * stream is sized by the same walk as the one that fills it (sized
	 * nval, two chat samples overran validation's arrays). */
	{
		size_t n0 = total - nval, n1 = nval, left = total - nval;

		for (size_t i = 0; !by_docs && i < ld.ndocs; i++) {
			const doc *dc = &ld.docs[i];
			size_t k = dc->nids < left ? dc->nids : left;

			if (k < dc->nids && aligned(dc))
				k = 0;
			if (i == 0)
				n0 = n1 = 0;
			n0 += k, n1 += dc->nids - k, left -= k;
		}
		if (stream_alloc(&d->s[0], n0) || stream_alloc(&d->s[1], n1)) {
			rc = kiln_error_set(err, KILN_ENOMEM,
					    "data: out of memory");
			goto out;
		}
	}
	{
		size_t train_left = total - nval;

		for (size_t i = 0; i < ld.ndocs && !rc; i++) {
			const doc *dc = &ld.docs[i];
			size_t k;

			if (by_docs) {
				if (stream_put(&d->s[is_val[i]], dc, 0, dc->nids))
					rc = KILN_ENOMEM;
				continue;
			}
			/* tail split: fill training first, the rest goes
			 * to validation */
			k = dc->nids < train_left ? dc->nids : train_left;
			if (k < dc->nids && aligned(dc))
				k = 0; /* a chat sample is never cut in two */
			if (stream_put(&d->s[0], dc, 0, k) ||
			    stream_put(&d->s[1], dc, k, dc->nids))
				rc = KILN_ENOMEM;
			train_left -= k;
		}
		if (rc) {
			rc = kiln_error_set(err, rc, "data: out of memory");
			goto out;
		}
	}
	d->eot = kiln_tok_eot(tok);
	d->pack = !ld.o->no_pack;
	ld.st.docs = ld.ndocs;
	for (int s = 0; s < 2; s++) {
		ld.st.tokens[s] = d->s[s].n;
		for (size_t j = 0; j < d->s[s].n; j++)
			ld.st.counted[s] += d->s[s].counted[j];
	}
	counts = calloc((size_t)kiln_tok_vocab(tok), sizeof *counts);
	if (!counts) {
		rc = kiln_error_set(err, KILN_ENOMEM, "data: out of memory");
		goto out;
	}
	for (size_t j = 0; j < d->s[0].n; j++)
		if (d->s[0].counted[j])
			counts[d->s[0].ids[j]]++;
	for (int v = 0; v < kiln_tok_vocab(tok); v++)
		if (counts[v]) {
			double p = (double)counts[v] / (double)ld.st.counted[0];

			d->entropy -= p * log(p);
		}
	d->st = ld.st;
	*out = d;
	d = NULL;
out:
	free(counts);
	free(is_val);
	free_docs(&ld);
	kiln_data_free(d);
	return rc;
}

void kiln_data_free(kiln_dataset *d)
{
	if (!d)
		return;
	for (int s = 0; s < 2; s++) {
		free(d->s[s].ids);
		free(d->s[s].counted);
		free(d->s[s].span_start);
		free(d->s[s].span_end);
		free(d->s[s].win_start);
		free(d->s[s].win_len);
		free(d->s[s].short_span);
		free(d->s[s].pk.first);
		free(d->s[s].pk.item);
	}
	free(d->perm);
	free(d);
}

void kiln_data_stats_get(const kiln_dataset *d, kiln_data_stats *st)
{
	*st = d->st;
}

double kiln_data_unigram_entropy(const kiln_dataset *d)
{
	return d->entropy;
}

/* Packed windows of a split: T+1 tokens at multiples of T from the
 * packed region. Training windows start at a per-epoch offset in 0..T-1
 * (below), so one window's room is kept for it when the region allows. */
static uint64_t packed_windows(const stream *s, int split, int T)
{
	if (s->packed <= (size_t)T)
		return 0;
	if (!split && s->packed > 2 * (size_t)T)
		return (s->packed - T) / (size_t)T;
	return (s->packed - 1) / (size_t)T;
}

/* The aligned windows of a split for T: each chat sample from its first
 * token, T tokens at a time (a longer sample continues in the next
 * window), the last one shorter. When samples are packed, only those that
 * do not fit in one window (more than T + 1 tokens) get windows of their
 * own; the others are listed for packing. Made once per T. */
static int aligned_windows(stream *s, int T, int pack)
{
	size_t n = 0, ns = 0;

	if (s->win_T == T)
		return 0;
	for (size_t i = 0; i < s->nspans; i++) {
		size_t len = s->span_end[i] - s->span_start[i];

		if (pack && len <= (size_t)T + 1)
			ns++;
		else
			n += len > 1 ? (len - 2) / (size_t)T + 1 : 0;
	}
	free(s->win_start), free(s->win_len), free(s->short_span);
	s->win_start = malloc((n ? n : 1) * sizeof *s->win_start);
	s->win_len = malloc((n ? n : 1) * sizeof *s->win_len);
	s->short_span = malloc((ns ? ns : 1) * sizeof *s->short_span);
	s->win_T = 0, s->nwin = 0, s->nshort = 0, s->pk.valid = 0;
	if (!s->win_start || !s->win_len || !s->short_span)
		return -1;
	for (size_t i = 0; i < s->nspans; i++) {
		if (pack && s->span_end[i] - s->span_start[i] <= (size_t)T + 1) {
			if (s->span_end[i] - s->span_start[i] > 1)
				s->short_span[s->nshort++] = i;
			continue;
		}
		for (size_t a = s->span_start[i]; a + 1 < s->span_end[i];
		     a += (size_t)T) {
			size_t left = s->span_end[i] - a;

			s->win_start[s->nwin] = a;
			s->win_len[s->nwin++] = left < (size_t)T + 1 ? left : (size_t)T + 1;
		}
	}
	s->win_T = T;
	return 0;
}

/* Bins open at once while packing: a sample goes to the first open bin
 * with room for it, else to a new bin, and when PACK_OPEN bins are open
 * the fullest is closed first. Linear in the samples; with short samples
 * the bins end nearly full (bench/README.md, "bench/train --chat"). */
#define PACK_OPEN 16

/* Packs the short samples of s into bins of T input tokens (a sample of n
 * tokens takes n - 1: its last token is only a target), into *pk: in the
 * order of s's short_span list shuffled by (seed, epoch) when shuffle is
 * set, else as listed. */
static int pack_bins(const stream *s, packing *pk, int shuffle, int T,
		     uint64_t seed, uint64_t epoch)
{
	size_t n = s->nshort, nb = 0, nopen = 0, open[PACK_OPEN];
	size_t *order = malloc((n ? n : 1) * sizeof *order);
	size_t *bin_of = malloc((n ? n : 1) * sizeof *bin_of);
	size_t *room = malloc((n ? n : 1) * sizeof *room);
	size_t *first = realloc(pk->first, (n + 1) * sizeof *first);
	size_t *item;

	if (first)
		pk->first = first;
	item = realloc(pk->item, (n ? n : 1) * sizeof *item);
	if (item)
		pk->item = item;
	pk->valid = 0;
	if (!order || !bin_of || !room || !first || !item) {
		free(order), free(bin_of), free(room);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	if (shuffle && n > 1) {
		uint64_t r = kiln_rng_mix(seed ^ 0x7061636bULL) ^
			     kiln_rng_mix(epoch + 0x62696e73ULL);

		for (size_t i = n - 1; i > 0; i--) {
			size_t j, t;

			r = kiln_rng_mix(r);
			j = (size_t)(r % (i + 1));
			t = order[i], order[i] = order[j], order[j] = t;
		}
	}
	for (size_t k = 0; k < n; k++) {
		size_t i = order[k], sp = s->short_span[i];
		size_t need = s->span_end[sp] - s->span_start[sp] - 1, o;

		for (o = 0; o < nopen && room[open[o]] < need; o++)
			;
		if (o == nopen) {
			if (nopen == PACK_OPEN) { /* close the fullest */
				size_t f = 0;

				for (size_t j = 1; j < nopen; j++)
					if (room[open[j]] < room[open[f]])
						f = j;
				memmove(open + f, open + f + 1,
					(nopen - f - 1) * sizeof *open);
				nopen--;
			}
			room[nb] = (size_t)T;
			open[nopen] = nb++;
			o = nopen++;
		}
		bin_of[k] = open[o];
		room[open[o]] -= need;
		if (!room[open[o]]) { /* full: closed */
			memmove(open + o, open + o + 1,
				(nopen - o - 1) * sizeof *open);
			nopen--;
		}
	}
	/* bin j's samples, in the order they were placed */
	memset(first, 0, (nb + 1) * sizeof *first);
	for (size_t k = 0; k < n; k++)
		first[bin_of[k] + 1]++;
	for (size_t j = 0; j < nb; j++)
		first[j + 1] += first[j];
	memcpy(room, first, nb * sizeof *room); /* room: the next free slot */
	for (size_t k = 0; k < n; k++)
		item[room[bin_of[k]]++] = s->short_span[order[k]];
	pk->n = nb, pk->T = T, pk->seed = seed, pk->epoch = epoch;
	pk->valid = 1;
	free(order), free(bin_of), free(room);
	return 0;
}

/* Windows of one epoch: packed documents, then the aligned windows, then
 * the bins of the packing pk (NULL: none). */
static uint64_t epoch_windows(const stream *s, int split, int T,
			      const packing *pk)
{
	return packed_windows(s, split, T) + s->nwin + (pk ? pk->n : 0);
}

/* Makes s's packing the one of the epoch that holds window `cursor` (for
 * validation: the one packing, and the cursor wraps); *epoch and *base
 * receive that epoch and the cursor at its first window, *n its windows.
 * Without packing every epoch has the same windows. With it an epoch's
 * windows depend on its packing, so epochs are walked from the cached
 * one (or from 0). */
static int locate(kiln_dataset *d, int split, int T, uint64_t seed,
		  uint64_t cursor, uint64_t *epoch, uint64_t *base,
		  uint64_t *n)
{
	stream *s = &d->s[split ? 1 : 0];
	packing *pk = &s->pk;

	if (aligned_windows(s, T, d->pack))
		return -1;
	if (!d->pack || !s->nshort || split) {
		if (d->pack && s->nshort && (!pk->valid || pk->T != T) &&
		    pack_bins(s, pk, 0, T, 0, 0))
			return -1;
		*n = epoch_windows(s, split, T, s->nshort ? pk : NULL);
		*epoch = *n ? cursor / *n : 0, *base = *epoch * *n;
		return 0;
	}
	if (!pk->valid || pk->T != T || pk->seed != seed ||
	    cursor < pk->base) {
		if (pack_bins(s, pk, 1, T, seed, 0))
			return -1;
		pk->base = 0;
	}
	while (cursor >= pk->base + epoch_windows(s, split, T, pk)) {
		uint64_t next = pk->base + epoch_windows(s, split, T, pk);

		if (pack_bins(s, pk, 1, T, seed, pk->epoch + 1))
			return -1;
		pk->base = next;
	}
	*epoch = pk->epoch, *base = pk->base;
	*n = epoch_windows(s, split, T, pk);
	return 0;
}

uint64_t kiln_data_windows(const kiln_dataset *d, int split, int T)
{
	kiln_dataset *dd = (kiln_dataset *)d;
	stream *s = &dd->s[split ? 1 : 0];
	packing tmp = { 0 };
	uint64_t n;

	if (T <= 0 || aligned_windows(s, T, dd->pack))
		return 0;
	if (!dd->pack || !s->nshort)
		return epoch_windows(s, split, T, NULL);
	/* packed in input order, leaving the epoch's packing alone */
	n = pack_bins(s, &tmp, 0, T, 0, 0) ? 0 :
	    epoch_windows(s, split, T, &tmp);
	free(tmp.first), free(tmp.item);
	return n;
}

uint64_t kiln_data_epoch_windows(kiln_dataset *d, int split, int T,
				 uint64_t seed, uint64_t epoch)
{
	uint64_t e = 0, base = 0, n = 0;

	if (T <= 0)
		return 0;
	for (;;) {
		if (locate(d, split, T, seed, base, &e, &base, &n) || !n)
			return 0;
		if (split || !d->pack || e >= epoch)
			return n;
		base += n;
	}
}

/* Where an epoch's packed training windows start: a seeded offset in
 * 0..T-1, so that a document does not sit at the same positions every
 * epoch (with little data, fixed windows let a model learn "what comes at
 * position p of window w" instead of reading its input). */
static size_t epoch_offset(const stream *s, uint64_t seed, uint64_t epoch,
			   int T)
{
	if (s->packed <= 2 * (size_t)T)
		return 0;
	return (size_t)(kiln_rng_mix(seed ^ kiln_rng_mix(epoch +
						       0x6f6666736574ULL)) %
			(uint64_t)T);
}

uint64_t kiln_data_fingerprint(const kiln_dataset *d)
{
	uint64_t h = 0;

	for (int s = 0; s < 2; s++) {
		h = XXH64(d->s[s].ids, d->s[s].n * sizeof(int), h);
		h = XXH64(d->s[s].counted, d->s[s].n, h);
	}
	return h;
}

/* Window order of one epoch: a Fisher-Yates shuffle seeded by (seed, epoch). */
static int make_perm(kiln_dataset *d, uint64_t nwin, uint64_t epoch, int T,
		     uint64_t seed)
{
	uint64_t s;

	if (d->have_perm && d->perm_epoch == epoch && d->perm_n == nwin &&
	    d->perm_T == T && d->perm_seed == seed)
		return 0;
	if (d->perm_n != nwin || !d->perm) {
		free(d->perm);
		d->perm = malloc(nwin * sizeof *d->perm);
		if (!d->perm) {
			d->have_perm = 0;
			return -1;
		}
	}
	for (uint64_t i = 0; i < nwin; i++)
		d->perm[i] = i;
	s = kiln_rng_mix(seed) ^ kiln_rng_mix(epoch + 0x65706f6368ULL);
	for (uint64_t i = nwin - 1; i > 0; i--) {
		uint64_t j, t;

		s = kiln_rng_mix(s);
		j = s % (i + 1);
		t = d->perm[i], d->perm[i] = d->perm[j], d->perm[j] = t;
	}
	d->perm_epoch = epoch, d->perm_n = nwin, d->perm_T = T;
	d->perm_seed = seed, d->have_perm = 1;
	return 0;
}

/* Fills one row (T tokens) from bin j of pk: each sample's tokens but its
 * last as inputs, at positions 0, 1, ... of its own; then padding, a
 * segment of its own (end-of-text in, nothing to learn). */
static void fill_bin(const kiln_dataset *d, const stream *s,
		     const packing *pk, size_t j, int T, int *in, int *tg,
		     int *pos)
{
	int t = 0, p = 0;

	for (size_t k = pk->first[j]; k < pk->first[j + 1]; k++) {
		size_t a = s->span_start[pk->item[k]];
		size_t len = s->span_end[pk->item[k]] - a;

		for (size_t i = 0; i + 1 < len; i++, t++) {
			in[t] = s->ids[a + i];
			tg[t] = s->counted[a + i + 1] ? s->ids[a + i + 1] : -1;
			if (pos)
				pos[t] = (int)i;
		}
	}
	for (; t < T; t++, p++) {
		in[t] = d->eot, tg[t] = -1;
		if (pos)
			pos[t] = p;
	}
}

int kiln_data_batch(kiln_dataset *d, int split, uint64_t *cursor,
		    uint64_t seed, int B, int T, int *inputs, int *targets,
		    int *pos, kiln_error *err)
{
	stream *s = &d->s[split ? 1 : 0];
	uint64_t npacked, epoch, base, nwin;

	if (T <= 0 || locate(d, split, T, seed, *cursor, &epoch, &base, &nwin))
		return kiln_error_set(err, KILN_ENOMEM, "data: out of memory");
	if (!nwin)
		return kiln_error_set(err, KILN_EINVAL,
			"data: the %s split has %zu tokens, fewer than one window of %d",
			split ? "validation" : "training", s->n, T + 1);
	npacked = packed_windows(s, split, T);
	for (int b = 0; b < B; b++, (*cursor)++) {
		uint64_t w;
		size_t at, len = (size_t)T + 1;
		int *in = inputs + (size_t)b * T, *tg = targets + (size_t)b * T;
		int *ps = pos ? pos + (size_t)b * T : NULL;

		if (locate(d, split, T, seed, *cursor, &epoch, &base, &nwin))
			return kiln_error_set(err, KILN_ENOMEM,
					      "data: out of memory");
		w = *cursor - base;
		if (!split) {
			if (make_perm(d, nwin, epoch, T, seed))
				return kiln_error_set(err, KILN_ENOMEM,
						      "data: out of memory");
			w = d->perm[w];
		}
		if (w >= npacked + s->nwin) {
			fill_bin(d, s, &s->pk, (size_t)(w - npacked - s->nwin),
				 T, in, tg, ps);
			continue;
		}
		if (w < npacked) {
			at = (size_t)w * T;
			if (!split)
				at += epoch_offset(s, seed, epoch, T);
		} else {
			at = s->win_start[w - npacked];
			len = s->win_len[w - npacked];
		}
		/* a short window is padded: end-of-text in, nothing to learn */
		for (int t = 0; t < T; t++) {
			if ((size_t)t + 1 < len) {
				in[t] = s->ids[at + t];
				tg[t] = s->counted[at + t + 1] ? s->ids[at + t + 1] : -1;
			} else {
				in[t] = (size_t)t < len ? s->ids[at + t] : d->eot;
				tg[t] = -1;
			}
			if (ps)
				ps[t] = t;
		}
	}
	return 0;
}
