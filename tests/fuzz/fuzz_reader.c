/* fuzz_reader - a whole file through the streaming JSON Lines reader.
 *
 * The input is written to a memfd and opened by its /proc/self/fd path
 * with kiln_jsonl_open(), with a small line cap (MAX_LINE = 64) so that
 * the cap, CRLF and blank-line paths are hit by short inputs; one input
 * size in eight (size % 8 == 7) uses BIG_LINE instead, just above the
 * reader's first 4096-byte line buffer, so that its growth is exercised
 * too. gzip input (1f 8b ...) is inflated like a real .jsonl.gz.
 *
 * Every result of kiln_jsonl_next() is checked against a reference model
 * written here: the file is decompressed in memory (inflate, gzip members
 * one after another, trailing non-gzip bytes ignored, plain text passed
 * through - gzread's rules), split on '\n', and each line is
 *   longer than the cap (a trailing '\r' counts)  -> KILN_ELIMIT, said
 *     as soon as the cap is passed (also for the cut-off last line of a
 *     broken stream)
 *   only ' ', '\t', '\r' after one trailing '\r' is dropped -> skipped
 *   otherwise -> whatever kiln_jsonl_parse_line() says of it,
 * with kiln_jsonl_lineno() counting every line. A clean stream must end in
 * KILN_EEOF after the last line; a corrupt or truncated gzip stream must
 * end in KILN_EIO after a prefix of its complete lines. Results must
 * match in code, line number, object and error-message prefix.
 *
 * Built for libFuzzer (KILN_LIBFUZZER), it also has a custom mutator:
 * random mutations of gzip bytes almost always just break the CRC, so for
 * a gzip input it usually inflates the first member, mutates the text and
 * deflates it again; now and then it mutates the raw bytes (corrupt-stream
 * paths) or gzips a plain input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "kiln/jsonl.h"
#include "fuzz.h"

#define MAX_LINE 64
#define BIG_LINE 5000
/* A gzip bomb in a fuzz input can only reach ~1032x its size; this just
 * bounds memory if -max_len is raised a lot. */
#define MAX_INFLATED (64u << 20)

struct ref {
	unsigned char *buf;
	size_t len, cap;
	int ok;          /* the stream ended cleanly */
	int truncated;   /* not ok: the input ended inside a member */
	int too_big;     /* gave up: over MAX_INFLATED */
};

static void ref_append(struct ref *r, const unsigned char *p, size_t n)
{
	if (n == 0)
		return;
	if (r->len + n > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		while (cap < r->len + n)
			cap *= 2;
		r->buf = realloc(r->buf, cap);
		if (!r->buf)
			FAIL("out of memory");
		r->cap = cap;
	}
	memcpy(r->buf + r->len, p, n);
	r->len += n;
}

/* gzread's view of a file, in memory. */
static void ref_decompress(const uint8_t *in, size_t n, struct ref *r)
{
	size_t pos = 0;
	int first = 1;

	memset(r, 0, sizeof(*r));
	r->ok = 1;
	for (;;) {
		z_stream zs;
		unsigned char out[16384];
		int ret;

		if (n - pos < 2 || in[pos] != 0x1f || in[pos + 1] != 0x8b) {
			if (first) /* not gzip at all: read as it is */
				ref_append(r, in, n);
			/* else: trailing garbage after a member, ignored */
			return;
		}
		first = 0;
		memset(&zs, 0, sizeof(zs));
		if (inflateInit2(&zs, 15 + 16) != Z_OK)
			FAIL("inflateInit2 failed");
		zs.next_in = (unsigned char *)(uintptr_t)(in + pos);
		zs.avail_in = (uInt)(n - pos);
		do {
			zs.next_out = out;
			zs.avail_out = sizeof(out);
			ret = inflate(&zs, Z_NO_FLUSH);
			ref_append(r, out, sizeof(out) - zs.avail_out);
			if (r->len > MAX_INFLATED) {
				r->too_big = 1;
				ret = Z_DATA_ERROR;
			}
		} while (ret == Z_OK);
		pos = n - zs.avail_in;
		inflateEnd(&zs);
		if (ret != Z_STREAM_END) {
			/* Z_BUF_ERROR: truncated; Z_DATA_ERROR: corrupt */
			r->ok = 0;
			r->truncated = ret == Z_BUF_ERROR;
			return;
		}
	}
}

static int is_blank(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

/* Walks the reference lines. next_expected() returns 1 and fills the
 * expected outcome of the next non-blank line, 0 when none is left. */
struct walk {
	const struct ref *ref;
	size_t max_line;
	size_t pos;
	long lineno;
};

struct expect {
	int rc;
	long lineno;
	json_t *obj;
	int complete;   /* the line ended in '\n' */
};

static int next_expected(struct walk *w, struct expect *e)
{
	const unsigned char *b = w->ref->buf;
	size_t len = w->ref->len;

	while (w->pos < len) {
		const unsigned char *start = b + w->pos;
		const unsigned char *nl = memchr(start, '\n', len - w->pos);
		size_t n = nl ? (size_t)(nl - start) : len - w->pos;
		kiln_error err;

		w->pos += n + (nl ? 1 : 0);
		w->lineno++;
		memset(e, 0, sizeof(*e));
		e->lineno = w->lineno;
		e->complete = nl != NULL;
		if (n > w->max_line) {
			e->rc = KILN_ELIMIT;
			return 1;
		}
		if (n && start[n - 1] == '\r')
			n--;
		if (is_blank(start, n))
			continue;
		e->rc = kiln_jsonl_parse_line((const char *)start, n, &e->obj,
					      &err);
		return 1;
	}
	return 0;
}

#ifdef KILN_LIBFUZZER
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			       unsigned int seed);

#define PLAIN_MAX (1u << 20)

/* gzip-compresses in[0..n) into out (cap bytes); returns the size or 0. */
static size_t gzip_to(const uint8_t *in, size_t n, uint8_t *out, size_t cap,
		      int level)
{
	z_stream zs;
	size_t len = 0;

	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return 0;
	zs.next_in = (unsigned char *)(uintptr_t)in;
	zs.avail_in = (uInt)n;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	if (deflate(&zs, Z_FINISH) == Z_STREAM_END)
		len = cap - zs.avail_out;
	deflateEnd(&zs);
	return len;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			       unsigned int seed)
{
	static uint8_t *plain, *out;
	size_t plen = 0, n;
	z_stream zs;

	if (!plain) {
		plain = malloc(PLAIN_MAX);
		out = malloc(PLAIN_MAX);
		if (!plain || !out)
			FAIL("out of memory");
	}
	if (size < 2 || data[0] != 0x1f || data[1] != 0x8b || seed % 8 == 0) {
		n = LLVMFuzzerMutate(data, size, max_size);
		if (seed % 16 == 1 && n <= PLAIN_MAX) {
			size_t z = gzip_to(data, n, out, max_size,
					   (int)(seed / 16 % 10));
			if (z) {
				memcpy(data, out, z);
				return z;
			}
		}
		return n;
	}
	/* Inflate what the first member gives (errors are fine). */
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 15 + 16) != Z_OK)
		return LLVMFuzzerMutate(data, size, max_size);
	zs.next_in = data;
	zs.avail_in = (uInt)size;
	zs.next_out = plain;
	zs.avail_out = PLAIN_MAX / 2;
	inflate(&zs, Z_FINISH);
	plen = PLAIN_MAX / 2 - zs.avail_out;
	inflateEnd(&zs);
	plen = LLVMFuzzerMutate(plain, plen, PLAIN_MAX);
	n = gzip_to(plain, plen, out, max_size, (int)(seed / 8 % 10));
	if (!n)
		return LLVMFuzzerMutate(data, size, max_size);
	memcpy(data, out, n);
	return n;
}
#endif

static int memfd = -1;
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kiln_jsonl_reader *r = NULL;
	struct ref ref;
	struct walk w;
	struct expect e;
	kiln_error err;
	char prefix[96];
	size_t off = 0;
	int rc, steps = 0;

	if (memfd < 0) {
		memfd = memfd_create("kiln-fuzz-reader", MFD_CLOEXEC);
		if (memfd < 0)
			FAIL("memfd_create failed");
		snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	}
	if (ftruncate(memfd, 0) != 0)
		FAIL("ftruncate failed");
	while (off < size) {
		ssize_t n = pwrite(memfd, data + off, size - off, (off_t)off);
		if (n <= 0)
			FAIL("pwrite failed");
		off += (size_t)n;
	}

	ref_decompress(data, size, &ref);
	if (ref.too_big) {
		free(ref.buf);
		return 0;
	}
	memset(&w, 0, sizeof(w));
	w.ref = &ref;
	w.max_line = size % 8 == 7 ? BIG_LINE : MAX_LINE;

	memset(&err, 0, sizeof(err));
	rc = kiln_jsonl_open(&r, path, w.max_line, &err);
	if (rc != 0)
		FAIL("kiln_jsonl_open failed: %s", err.msg);
	if (strcmp(kiln_jsonl_path(r), path) != 0)
		FAIL("kiln_jsonl_path changed");

	for (;; steps++) {
		json_t *obj = (json_t *)1;
		int have;

		memset(&err, 0, sizeof(err));
		rc = kiln_jsonl_next(r, &obj, &err);
		if (rc != 0 && obj != NULL)
			FAIL("kiln_jsonl_next returned %d with *obj set", rc);
		memset(&e, 0, sizeof(e));
		have = next_expected(&w, &e);

		if (rc == KILN_EEOF) {
			if (!ref.ok)
				FAIL("EEOF on a corrupt/truncated gzip stream");
			if (have)
				FAIL("EEOF but line %ld (rc %d) is left",
				     e.lineno, e.rc);
			break;
		}
		if (rc == KILN_EIO) {
			if (ref.ok)
				FAIL("EIO on a clean stream (step %d): %s",
				     steps, err.msg);
			/* A truncated stream keeps what it decompressed:
			 * every complete line must have come out first. */
			if (ref.truncated && have && e.complete)
				FAIL("EIO before line %ld of a truncated "
				     "stream", e.lineno);
			if (err.code != KILN_EIO || !err.msg[0])
				FAIL("EIO without message");
			json_decref(e.obj);
			break;
		}
		if (!have)
			FAIL("got rc %d at line %ld, expected the end", rc,
			     kiln_jsonl_lineno(r));
		/* An incomplete last line of a broken stream never comes
		 * out, except as too long: the cap is said as soon as it is
		 * passed, without waiting for the line's end. */
		if (!ref.ok && !e.complete &&
		    !(rc == KILN_ELIMIT && e.rc == KILN_ELIMIT))
			FAIL("incomplete last line of a broken stream returned");
		if (rc != e.rc)
			FAIL("line %ld: rc %d, expected %d", e.lineno, rc, e.rc);
		if (kiln_jsonl_lineno(r) != e.lineno)
			FAIL("lineno %ld, expected %ld", kiln_jsonl_lineno(r),
			     e.lineno);
		if (rc == 0) {
			if (!json_is_object(obj) || !json_equal(obj, e.obj))
				FAIL("line %ld: object differs", e.lineno);
			json_decref(obj);
		} else {
			if (rc != KILN_EPARSE && rc != KILN_ELIMIT)
				FAIL("line %ld: unexpected rc %d", e.lineno,
				     rc);
			snprintf(prefix, sizeof(prefix), "%s:%ld: ", path,
				 e.lineno);
			if (err.code != rc ||
			    strncmp(err.msg, prefix, strlen(prefix)) != 0)
				FAIL("line %ld: message '%s' lacks '%s'",
				     e.lineno, err.msg, prefix);
		}
		json_decref(e.obj);
	}
	kiln_jsonl_close(r);
	free(ref.buf);
	return 0;
}
