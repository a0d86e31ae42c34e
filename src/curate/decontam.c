/* kiln decontam: samples that overlap a benchmark, by n-grams of
 * normalised token streams (kiln/decontam.h says the rules).
 *
 * The index: every (n-gram hash, item) pair of every benchmark file is
 * collected, sorted and grouped by hash; a group that the allow-list
 * rules out is dropped, the others become a key with its items (the
 * postings), and an open-addressing table over the keys answers lookups.
 * A record's n-grams are looked up one by one, counting shared n-grams per
 * item in an array that is reset through the list of items touched.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xxhash.h>
#include <zlib.h>

#include "kiln/code.h"
#include "kiln/decontam.h"

struct bench {
	char *name;
	size_t items, ngrams, flagged;
};

struct item {
	uint32_t bench;
	uint32_t ngrams;          /* counted n-grams (after the allow-list) */
	char *id;
};

struct pair {
	uint64_t h;
	uint32_t item;
};

struct kiln_decontam_index {
	kiln_decontam_opts o;
	struct bench *b;
	size_t nb, capb;
	struct item *it;
	size_t nit, capit;
	struct pair *p;           /* while adding */
	size_t np, capp;
	uint64_t *allow;          /* while adding */
	size_t nallow, capallow;
	size_t allowlisted;       /* distinct n-grams ruled out */
	int built;
	/* built */
	uint64_t *keys;
	uint32_t *start;          /* nkeys + 1 offsets into post */
	uint32_t *post;
	size_t nkeys;
	uint32_t *slot;           /* key index + 1; 0 empty */
	size_t mask;
	/* scratch of checks */
	uint32_t *count, *touched;
	uint32_t *bbest;          /* per benchmark: item + 1 */
	kiln_norm st;
	uint64_t *g;
	size_t ng, capg;
};

void kiln_decontam_opts_default(kiln_decontam_opts *o)
{
	memset(o, 0, sizeof *o);
	o->ngram = 10;
	o->common = 4;
	o->min_content = 3;
	o->min_ngrams = 8;
	o->min_shared = 2;
	o->min_coverage = 0.15;
}

/* ---------------------------------------------------- record -> stream */

/* Read as prose (words), then as code, in this order. */
static const char *const prose_fields[] = {
	"prompt", "text", "docstring", "description", "question", NULL,
};
static const char *const code_fields[] = {
	"declaration", "import", "solution", "canonical_solution", "code",
	"completion", "test_setup", "test_setup_code", "test_imports",
	"tests", "test", "test_list", "challenge_tests",
	"challenge_test_list", "example_test", NULL,
};

static int add_value(kiln_norm *st, const json_t *v, const char *lang,
		     unsigned flags, int depth, kiln_error *err)
{
	size_t i;
	const char *k;
	json_t *e;
	int rc;

	if (json_is_string(v))
		return kiln_code_normalize(st, json_string_value(v),
					   json_string_length(v), lang, flags,
					   err);
	if (depth > 2)
		return 0;
	if (json_is_array(v)) {
		json_array_foreach(v, i, e)
			if ((rc = add_value(st, e, lang, flags, depth + 1, err)))
				return rc;
	} else if (json_is_object(v)) {   /* I/O tests: call, expect */
		json_object_foreach((json_t *)v, k, e)
			if ((rc = add_value(st, e, lang, flags, depth + 1, err)))
				return rc;
	}
	return 0;
}

/* The language of a benchmark record without a "language" field, from
 * its id's prefix (HumanEval-X: CPP/0, Java/0, JavaScript/0, Go/0,
 * Rust/0); anything else is Python. */
static const char *lang_of(const json_t *rec)
{
	const char *lang = json_string_value(json_object_get(rec, "language"));
	const char *id = json_string_value(json_object_get(rec, "task_id"));
	static const char *const fam[] = { "CPP/", "Java/", "JavaScript/",
					   "Go/", "Rust/", "C/", NULL };

	if (lang)
		return lang;
	for (int i = 0; id && fam[i]; i++)
		if (!strncmp(id, fam[i], strlen(fam[i])))
			return "cpp";   /* the C family's rules */
	return NULL;
}

/* One of the record's two streams into ix->st (*fields: how many fields
 * it had): all_prose 0: the prose fields as words, then the code fields
 * with names as the placeholder; all_prose 1: every field as words (code
 * that sits in a prose field, as MBPP's asserts in kiln's prompts, meets
 * the benchmark's tests there). */
static int record_stream(kiln_decontam_index *ix, const json_t *rec,
			 int all_prose, int *fields, kiln_error *err)
{
	const char *lang = lang_of(rec);
	int rc;

	ix->st.n = 0;
	*fields = 0;
	for (int i = 0; prose_fields[i]; i++) {
		const json_t *v = json_object_get(rec, prose_fields[i]);
		if (!v)
			continue;
		++*fields;
		if ((rc = add_value(&ix->st, v, lang, KILN_NORM_PROSE, 0, err)))
			return rc;
	}
	for (int i = 0; code_fields[i]; i++) {
		const json_t *v = json_object_get(rec, code_fields[i]);
		if (!v)
			continue;
		++*fields;
		if ((rc = add_value(&ix->st, v, lang, all_prose ?
				    KILN_NORM_PROSE : KILN_NORM_NAMES |
				    KILN_NORM_WORDS, 0, err)))
			return rc;
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Appends the counted n-grams of ix->st to ix->g: those with at least
 * min_content content tokens, one of them not a number. */
static int stream_grams(kiln_decontam_index *ix, kiln_error *err)
{
	const uint64_t *v = ix->st.v;
	size_t n = ix->st.n, N = (size_t)ix->o.ngram, content = 0, words = 0;

	if (n < N)
		return 0;
	if (ix->ng + n - N + 1 > ix->capg) {
		size_t cap = ix->ng + n - N + 1;
		uint64_t *g = realloc(ix->g, cap * sizeof *g);
		if (!g)
			return kiln_error_set(err, KILN_ENOMEM,
					      "decontam: out of memory");
		ix->g = g;
		ix->capg = cap;
	}
	for (size_t i = 0; i < N; i++) {
		content += v[i] & 1;
		words += (v[i] & 3) == 1;
	}
	for (size_t i = 0;; i++) {
		if (content >= (size_t)ix->o.min_content && words)
			ix->g[ix->ng++] = XXH64(v + i, N * sizeof *v, 0);
		if (i + N >= n)
			break;
		content += (v[i + N] & 1) - (v[i] & 1);
		words += ((v[i + N] & 3) == 1) - ((v[i] & 3) == 1);
	}
	return 0;
}

/* The record's distinct counted n-grams, of both streams, into
 * ix->g[0, ng), sorted. */
static int record_grams(kiln_decontam_index *ix, const json_t *rec,
			int *fields, kiln_error *err)
{
	size_t k = 0;
	int rc;

	ix->ng = 0;
	for (int all_prose = 0; all_prose < 2; all_prose++)
		if ((rc = record_stream(ix, rec, all_prose, fields, err)) ||
		    (rc = stream_grams(ix, err)))
			return rc;
	if (ix->ng)
		qsort(ix->g, ix->ng, sizeof *ix->g, cmp_u64);
	for (size_t i = 0; i < ix->ng; i++)
		if (!k || ix->g[k - 1] != ix->g[i])
			ix->g[k++] = ix->g[i];
	ix->ng = k;
	return 0;
}

/* ------------------------------------------------------------ building */

int kiln_decontam_index_new(kiln_decontam_index **out,
			    const kiln_decontam_opts *o, kiln_error *err)
{
	kiln_decontam_index *ix;

	*out = NULL;
	if (o->ngram < 4 || o->ngram > 64 || o->common < 2 ||
	    o->min_content < 0 || o->min_content > o->ngram ||
	    o->min_ngrams < 1 || o->min_shared < 1 ||
	    !(o->min_coverage >= 0 && o->min_coverage <= 1))
		return kiln_error_set(err, KILN_EINVAL, "decontam: options "
				      "out of range");
	ix = calloc(1, sizeof *ix);
	if (!ix)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	ix->o = *o;
	*out = ix;
	return 0;
}

void kiln_decontam_index_free(kiln_decontam_index *ix)
{
	if (!ix)
		return;
	for (size_t i = 0; i < ix->nb; i++)
		free(ix->b[i].name);
	for (size_t i = 0; i < ix->nit; i++)
		free(ix->it[i].id);
	free(ix->b);
	free(ix->it);
	free(ix->p);
	free(ix->allow);
	free(ix->keys);
	free(ix->start);
	free(ix->post);
	free(ix->slot);
	free(ix->count);
	free(ix->touched);
	free(ix->bbest);
	kiln_norm_free(&ix->st);
	free(ix->g);
	free(ix);
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t c = *cap ? *cap : 64;
	void *q;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	q = realloc(*p, c * size);
	if (!q)
		return KILN_ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}

static int bench_of(kiln_decontam_index *ix, const char *name, uint32_t *b)
{
	for (size_t i = 0; i < ix->nb; i++)
		if (!strcmp(ix->b[i].name, name)) {
			*b = (uint32_t)i;
			return 0;
		}
	if (grow((void **)&ix->b, &ix->capb, ix->nb + 1, sizeof *ix->b))
		return KILN_ENOMEM;
	memset(&ix->b[ix->nb], 0, sizeof *ix->b);
	if (!(ix->b[ix->nb].name = strdup(name)))
		return KILN_ENOMEM;
	*b = (uint32_t)ix->nb++;
	return 0;
}

/* The item's id (malloc'd): task_id, an integer one as kiln import names
 * MBPP's; else id; else NAME:LINE. */
static char *item_id(const json_t *rec, const char *name, long line)
{
	const json_t *t = json_object_get(rec, "task_id");
	const char *s = json_string_value(t);
	char buf[300];

	if (!s)
		s = json_string_value(json_object_get(rec, "id"));
	if (s)
		return strdup(s);
	if (json_is_number(t) && fabs(json_number_value(t)) < 1e15 &&
	    json_number_value(t) == (double)(long long)json_number_value(t))
		snprintf(buf, sizeof buf, "mbpp/%lld",
			 (long long)json_number_value(t));
	else
		snprintf(buf, sizeof buf, "%.200s:%ld", name, line);
	return strdup(buf);
}

static int add_item(kiln_decontam_index *ix, const char *name,
		    const json_t *rec, long line, kiln_error *err)
{
	struct item *it;
	uint32_t b;
	int fields, rc;

	if (ix->built)
		return kiln_error_set(err, KILN_EINVAL, "decontam: the index "
				      "is already built");
	if (ix->nit >= UINT32_MAX - 1)
		return kiln_error_set(err, KILN_ELIMIT, "decontam: too many "
				      "benchmark items");
	if (bench_of(ix, name, &b) ||
	    grow((void **)&ix->it, &ix->capit, ix->nit + 1, sizeof *ix->it))
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	if ((rc = record_grams(ix, rec, &fields, err)))
		return rc;
	if (grow((void **)&ix->p, &ix->capp, ix->np + ix->ng, sizeof *ix->p))
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	it = &ix->it[ix->nit];
	it->bench = b;
	it->ngrams = 0;
	if (!(it->id = item_id(rec, name, line)))
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	for (size_t i = 0; i < ix->ng; i++)
		ix->p[ix->np++] = (struct pair){ ix->g[i], (uint32_t)ix->nit };
	ix->nit++;
	ix->b[b].items++;
	return 0;
}

int kiln_decontam_index_add(kiln_decontam_index *ix, const char *name,
			    const json_t *rec, kiln_error *err)
{
	return add_item(ix, name, rec, (long)ix->nit + 1, err);
}

static int allow_record(kiln_decontam_index *ix, const json_t *rec,
			kiln_error *err)
{
	int fields, rc;

	if ((rc = record_grams(ix, rec, &fields, err)))
		return rc;
	if (grow((void **)&ix->allow, &ix->capallow, ix->nallow + ix->ng,
		 sizeof *ix->allow))
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	if (ix->ng)
		memcpy(ix->allow + ix->nallow, ix->g, ix->ng * sizeof *ix->g);
	ix->nallow += ix->ng;
	return 0;
}

/* A whole file (gzip or not), at most 1 GiB, NUL-terminated. */
static char *slurp(const char *path, size_t *len, kiln_error *err)
{
	gzFile f = gzopen(path, "rb");
	size_t cap = 1 << 16, n = 0;
	char *buf = NULL;

	if (!f) {
		kiln_error_set(err, KILN_EIO, "%s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		int got;
		if (n + 1 >= cap || !buf) {
			char *b;
			if (buf)
				cap *= 2;
			if (cap > (1u << 30) ||
			    !(b = realloc(buf, cap))) {
				kiln_error_set(err, cap > (1u << 30) ?
					       KILN_ELIMIT : KILN_ENOMEM,
					       "%s: too large to read whole",
					       path);
				goto fail;
			}
			buf = b;
		}
		got = gzread(f, buf + n, (unsigned)(cap - 1 - n));
		if (got < 0) {
			kiln_error_set(err, KILN_EIO, "%s: read failed", path);
			goto fail;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	gzclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
fail:
	gzclose(f);
	free(buf);
	return NULL;
}

typedef int (*rec_fn)(kiln_decontam_index *ix, const char *name,
		      const json_t *rec, long line, kiln_error *err);

/* A benchmark file, read whole (gzip or not): one JSON array of records,
 * or JSON Lines. Integers too large for 64 bits (HumanEval+'s inputs) are
 * read as reals: the fields decontam reads are text, and kiln's JSON Lines
 * reader refuses such numbers. */
static int for_records(kiln_decontam_index *ix, const char *path,
		       const char *name, rec_fn fn, kiln_error *err)
{
	const size_t flags = JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL;
	size_t len, i = 0;
	char *text = slurp(path, &len, err);
	json_error_t je;
	json_t *a, *e;
	long line = 0;
	int rc = 0;

	if (!text)
		return err ? err->code : KILN_EIO;
	while (i < len && strchr(" \t\r\n", text[i]))
		i++;
	if (i < len && text[i] == '[') {
		a = json_loadb(text, len, flags, &je);
		free(text);
		if (!json_is_array(a)) {
			json_decref(a);
			return kiln_error_set(err, KILN_EPARSE, "%s:%d: %s",
					      path, je.line, a ? "not an array"
					      " of records" : je.text);
		}
		json_array_foreach(a, i, e) {
			if (!json_is_object(e))
				rc = kiln_error_set(err, KILN_EPARSE, "%s: "
						    "element %zu is not an "
						    "object", path, i);
			else if ((rc = fn(ix, name, e, (long)i + 1, err)))
				kiln_error_prefix(err, "%s: element %zu: ",
						  path, i);
			if (rc)
				break;
		}
		json_decref(a);
		return rc;
	}
	for (i = 0; i < len && !rc;) {
		char *nl = memchr(text + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - text) : len, k = i;

		line++;
		while (k < end && strchr(" \t\r", text[k]))
			k++;
		if (k < end) {
			e = json_loadb(text + i, end - i, flags, &je);
			if (!json_is_object(e))
				rc = kiln_error_set(err, KILN_EPARSE, "%s:%ld: "
						    "%s", path, line, e ?
						    "not a JSON object" :
						    je.text);
			else if ((rc = fn(ix, name, e, line, err)))
				kiln_error_prefix(err, "%s:%ld: ", path, line);
			json_decref(e);
		}
		i = end + 1;
	}
	free(text);
	return rc;
}

/* The benchmark name of a path: its base name without .gz, .jsonl,
 * .json. */
static void name_of(const char *path, char *buf, size_t n)
{
	const char *base = strrchr(path, '/');
	static const char *const ext[] = { ".gz", ".jsonl", ".json", NULL };
	size_t len;

	snprintf(buf, n, "%s", base ? base + 1 : path);
	for (int i = 0; ext[i]; i++) {
		size_t k = strlen(ext[i]);
		len = strlen(buf);
		if (len > k && !strcmp(buf + len - k, ext[i]))
			buf[len - k] = '\0';
	}
}

int kiln_decontam_index_add_file(kiln_decontam_index *ix, const char *path,
				 const char *name, kiln_error *err)
{
	char buf[256];

	if (!name || !*name) {
		name_of(path, buf, sizeof buf);
		name = buf;
	}
	return for_records(ix, path, name, add_item, err);
}

static int allow_fn(kiln_decontam_index *ix, const char *name,
		    const json_t *rec, long line, kiln_error *err)
{
	(void)name, (void)line;
	return allow_record(ix, rec, err);
}

int kiln_decontam_index_allow_file(kiln_decontam_index *ix,
				   const char *path, kiln_error *err)
{
	if (ix->built)
		return kiln_error_set(err, KILN_EINVAL, "decontam: the index "
				      "is already built");
	return for_records(ix, path, "allow", allow_fn, err);
}

static int cmp_pair(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;

	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	return x->item < y->item ? -1 : x->item > y->item;
}

static int is_allowed(const kiln_decontam_index *ix, uint64_t h)
{
	return ix->nallow && bsearch(&h, ix->allow, ix->nallow,
				     sizeof *ix->allow, cmp_u64);
}

int kiln_decontam_index_build(kiln_decontam_index *ix, kiln_error *err)
{
	uint32_t *per = NULL;
	size_t cap = 16, k = 0, np = 0;
	int rc = KILN_ENOMEM;

	if (ix->built)
		return 0;
	if (ix->nallow)
		qsort(ix->allow, ix->nallow, sizeof *ix->allow, cmp_u64);
	if (ix->np)
		qsort(ix->p, ix->np, sizeof *ix->p, cmp_pair);
	per = calloc(ix->nb ? ix->nb : 1, sizeof *per);
	ix->keys = malloc((ix->np ? ix->np : 1) * sizeof *ix->keys);
	ix->start = malloc((ix->np + 1) * sizeof *ix->start);
	ix->post = malloc((ix->np ? ix->np : 1) * sizeof *ix->post);
	ix->count = calloc(ix->nit ? ix->nit : 1, sizeof *ix->count);
	ix->touched = malloc((ix->nit ? ix->nit : 1) * sizeof *ix->touched);
	ix->bbest = calloc(ix->nb ? ix->nb : 1, sizeof *ix->bbest);
	if (!per || !ix->keys || !ix->start || !ix->post || !ix->count ||
	    !ix->touched || !ix->bbest)
		goto out;
	for (size_t i = 0; i < ix->np;) {
		size_t j = i;
		int trivial = is_allowed(ix, ix->p[i].h);

		while (j < ix->np && ix->p[j].h == ix->p[i].h)
			j++;
		for (size_t q = i; q < j && !trivial; q++)
			if (++per[ix->it[ix->p[q].item].bench] >=
			    (uint32_t)ix->o.common)
				trivial = 1;
		for (size_t q = i; q < j; q++)
			per[ix->it[ix->p[q].item].bench] = 0;
		if (trivial) {
			ix->allowlisted++;
		} else {
			ix->keys[k] = ix->p[i].h;
			ix->start[k++] = (uint32_t)np;
			for (size_t q = i; q < j; q++) {
				struct item *it = &ix->it[ix->p[q].item];
				ix->post[np++] = ix->p[q].item;
				it->ngrams++;
				ix->b[it->bench].ngrams++;
			}
		}
		i = j;
	}
	ix->start[k] = (uint32_t)np;
	ix->nkeys = k;
	while (cap < 2 * k)
		cap *= 2;
	ix->slot = calloc(cap, sizeof *ix->slot);
	if (!ix->slot)
		goto out;
	ix->mask = cap - 1;
	for (size_t i = 0; i < k; i++) {
		size_t s = (size_t)(ix->keys[i] >> 17) & ix->mask;
		while (ix->slot[s])
			s = (s + 1) & ix->mask;
		ix->slot[s] = (uint32_t)i + 1;
	}
	free(ix->p);
	free(ix->allow);
	ix->p = NULL;
	ix->allow = NULL;
	ix->np = ix->capp = ix->nallow = ix->capallow = 0;
	ix->built = 1;
	rc = 0;
out:
	free(per);
	if (rc)
		return kiln_error_set(err, rc, "decontam: out of memory "
				      "building the index");
	return 0;
}

json_t *kiln_decontam_index_info(const kiln_decontam_index *ix)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < ix->nb; i++)
		if (json_object_set_new(o, ix->b[i].name, json_pack(
			"{s:I, s:I, s:I}",
			"items", (json_int_t)ix->b[i].items,
			"ngrams", (json_int_t)ix->b[i].ngrams,
			"flagged", (json_int_t)ix->b[i].flagged))) {
			json_decref(o);
			return NULL;
		}
	return o;
}

/* ------------------------------------------------------------ checking */

static const uint32_t *lookup(const kiln_decontam_index *ix, uint64_t h,
			      size_t *n)
{
	size_t s = (size_t)(h >> 17) & ix->mask;

	for (uint32_t k; (k = ix->slot[s]) != 0; s = (s + 1) & ix->mask)
		if (ix->keys[k - 1] == h) {
			*n = ix->start[k] - ix->start[k - 1];
			return ix->post + ix->start[k - 1];
		}
	*n = 0;
	return NULL;
}

/* a is a better match than b. */
static int better(const kiln_decontam_hit *a, const kiln_decontam_hit *b)
{
	return a->ngrams != b->ngrams ? a->ngrams > b->ngrams :
	       a->coverage > b->coverage;
}

int kiln_decontam_check(kiln_decontam_index *ix, const json_t *rec,
			int *flagged, kiln_decontam_hit *hits, size_t maxhits,
			size_t *nbench, kiln_decontam_hit *best, size_t *grams,
			kiln_error *err)
{
	size_t nt = 0, nh = 0;
	int fields, rc;

	*flagged = 0;
	*nbench = 0;
	*grams = 0;
	memset(best, 0, sizeof *best);
	if (!ix->built && (rc = kiln_decontam_index_build(ix, err)))
		return rc;
	if ((rc = record_grams(ix, rec, &fields, err)))
		return rc;
	if (!fields)
		return kiln_error_set(err, KILN_EPARSE, "no prompt, solution "
				      "or tests (nor any other text field "
				      "decontam reads)");
	*grams = ix->ng;
	for (size_t i = 0; i < ix->ng; i++) {
		size_t n;
		const uint32_t *post = lookup(ix, ix->g[i], &n);

		for (size_t q = 0; q < n; q++)
			if (ix->count[post[q]]++ == 0)
				ix->touched[nt++] = post[q];
	}
	for (size_t t = 0; t < nt; t++) {
		uint32_t item = ix->touched[t];
		const struct item *it = &ix->it[item];
		kiln_decontam_hit h = {
			.benchmark = ix->b[it->bench].name, .id = it->id,
			.ngrams = ix->count[item],
			.coverage = it->ngrams ? (double)ix->count[item] /
				    it->ngrams : 0,
		};
		uint32_t *bb = &ix->bbest[it->bench];

		if (better(&h, best))
			*best = h;
		if (h.ngrams >= (size_t)ix->o.min_ngrams ||
		    (h.ngrams >= (size_t)ix->o.min_shared &&
		     (h.coverage >= ix->o.min_coverage ||
		      (double)h.ngrams / (double)ix->ng >=
		      ix->o.min_coverage))) {
			const struct item *o = *bb ? &ix->it[*bb - 1] : NULL;
			if (!o || h.ngrams > ix->count[*bb - 1] ||
			    (h.ngrams == ix->count[*bb - 1] &&
			     h.coverage > (double)ix->count[*bb - 1] /
					  o->ngrams))
				*bb = item + 1;
		}
	}
	/* each flagging benchmark's best item, best first */
	for (size_t t = 0; t < nt; t++) {
		uint32_t item = ix->touched[t];
		uint32_t *bb = &ix->bbest[ix->it[item].bench];

		if (*bb == item + 1) {
			const struct item *it = &ix->it[item];
			kiln_decontam_hit h = {
				.benchmark = ix->b[it->bench].name,
				.id = it->id, .ngrams = ix->count[item],
				.coverage = (double)ix->count[item] /
					    it->ngrams,
			};
			size_t pos = nh < maxhits ? nh : maxhits;

			while (pos > 0 && better(&h, &hits[pos - 1])) {
				if (pos < maxhits)
					hits[pos] = hits[pos - 1];
				pos--;
			}
			if (pos < maxhits)
				hits[pos] = h;
			nh++;
			*flagged = 1;
		}
	}
	for (size_t t = 0; t < nt; t++) {
		ix->bbest[ix->it[ix->touched[t]].bench] = 0;
		ix->count[ix->touched[t]] = 0;
	}
	*nbench = nh;
	return 0;
}

/* --------------------------------------------------------------- stage */

static const char *const reasons[] = { "contaminated", NULL };

#define MAX_HITS 16

static json_t *hit_json(const kiln_decontam_hit *h)
{
	return json_pack("{s:s, s:s, s:I, s:f}", "benchmark", h->benchmark,
			 "id", h->id, "ngrams", (json_int_t)h->ngrams,
			 "coverage", (double)(long)(h->coverage * 1e4 + 0.5) /
			 1e4);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int mark(kiln_decontam_index *ix, json_t *rec,
		const kiln_decontam_hit *hits, size_t nh)
{
	json_t *d = kiln_stage_mark(rec, "decontam", "contaminated");
	json_t *h = hit_json(&hits[0]), *also = json_array();

	if (!d || !h || !also || json_object_update(d, h) ||
	    json_object_set(rec, "decontam", h))
		goto fail;
	for (size_t i = 1; i < nh && i < MAX_HITS; i++)
		if (json_array_append_new(also, hit_json(&hits[i])))
			goto fail;
	if (json_array_size(also) &&
	    (json_object_set(d, "also", also) ||
	     json_object_set(json_object_get(rec, "decontam"), "also", also)))
		goto fail;
	for (size_t i = 0; i < nh && i < MAX_HITS; i++)
		for (size_t b = 0; b < ix->nb; b++)
			if (ix->b[b].name == hits[i].benchmark)
				ix->b[b].flagged++;
	json_decref(h);
	json_decref(also);
	return 0;
fail:
	json_decref(h);
	json_decref(also);
	return KILN_ENOMEM;
}

int kiln_decontam(kiln_decontam_index *ix, kiln_jsonl_reader *const *inputs,
		  size_t ninputs, kiln_out *out, kiln_out *dropped,
		  kiln_stage_stats *st, kiln_error *err)
{
	kiln_decontam_hit hits[MAX_HITS], best;
	double t0 = now();
	size_t bad = 0;
	json_t *rec;
	int rc;

	kiln_stage_stats_init(st, "decontam", reasons);
	st->params = json_pack("{s:i, s:i, s:i, s:i, s:i, s:f}",
			       "ngram", ix->o.ngram, "common", ix->o.common,
			       "min_content", ix->o.min_content,
			       "min_ngrams", ix->o.min_ngrams,
			       "min_shared", ix->o.min_shared,
			       "min_coverage", ix->o.min_coverage);
	if (!st->params)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	if (!ix->built && (rc = kiln_decontam_index_build(ix, err)))
		return rc;
	for (size_t f = 0; f < ninputs; f++) {
	kiln_jsonl_reader *in = inputs[f];

	while ((rc = kiln_jsonl_next(in, &rec, err)) != KILN_EEOF) {
		size_t nh, grams;
		int flagged;

		if (rc == KILN_EPARSE || rc == KILN_ELIMIT) {
			if (!ix->o.skip_bad)
				return rc;
			bad++;
			if (ix->o.bad_line)
				ix->o.bad_line(ix->o.ctx, err);
			continue;
		}
		if (rc)
			return rc;
		rc = kiln_decontam_check(ix, rec, &flagged, hits, MAX_HITS,
					 &nh, &best, &grams, err);
		if (rc) {
			kiln_error_prefix(err, "%s:%ld: ", kiln_jsonl_path(in),
					  kiln_jsonl_lineno(in));
			json_decref(rec);
			return rc;
		}
		st->entered++;
		if (flagged) {
			if (mark(ix, rec, hits, nh)) {
				json_decref(rec);
				return kiln_error_set(err, KILN_ENOMEM,
						      "out of memory");
			}
			kiln_stage_drop(st, "contaminated");
			rc = dropped ? kiln_out_write(dropped, rec, err) : 0;
		} else {
			json_t *d = json_pack("{s:I}", "ngrams",
					      (json_int_t)grams);
			if (d && best.ngrams)
				json_object_set_new(d, "nearest",
						    hit_json(&best));
			if (!d || json_object_set_new(rec, "decontam", d)) {
				json_decref(rec);
				return kiln_error_set(err, KILN_ENOMEM,
						      "out of memory");
			}
			st->kept++;
			rc = kiln_out_write(out, rec, err);
		}
		json_decref(rec);
		if (rc)
			return rc;
	}
	}
	st->seconds = now() - t0;
	st->extra = json_pack("{s:o?, s:I, s:I}",
			      "benchmarks", kiln_decontam_index_info(ix),
			      "allowlisted_ngrams", (json_int_t)ix->allowlisted,
			      "bad_lines", (json_int_t)bad);
	if (!st->extra)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	return 0;
}
