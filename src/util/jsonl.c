#include "kiln/jsonl.h"
#include "kiln/utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Input is read with read(2) and, when it starts with the gzip magic,
 * inflated here rather than through gzread(): gzread() reports some
 * truncated streams as a clean end of file (when inflate() has consumed
 * the last input byte just as its output buffer fills, the next gzread()
 * sees end of input and stops without asking inflate() for the rest), so
 * a cut-off .jsonl.gz could read as a shorter, valid file. Semantics are
 * otherwise gzread()'s: plain input is passed through, gzip members are
 * read one after another, and bytes after a member that do not start
 * another member are ignored. */
enum in_mode { IN_LOOK, IN_PLAIN, IN_GZIP };

struct kiln_jsonl_reader {
	int fd;
	char *path;
	size_t max_line;
	long lineno;
	char *rbuf;          /* plain bytes (read or inflated) */
	size_t rlen, rpos;
	unsigned long long base; /* plain bytes before rbuf's */
	unsigned long long line_off; /* where the last line returned starts */
	unsigned char *zbuf; /* raw input not yet consumed: zs.next_in */
	z_stream zs;
	enum in_mode mode;
	int zinit;           /* zs is initialised */
	long members;        /* gzip members finished */
	int in_eof;          /* read(2) returned 0 */
	char *line;          /* a line read across refills */
	size_t line_cap;
	char *cur;           /* the current line: in rbuf, or line */
	int eof;
	int skipping;        /* inside a line already reported as too long */
	volatile int *stop;  /* kiln_jsonl_set_stop */
};

#define READ_CHUNK (256u << 10)

int kiln_jsonl_open(kiln_jsonl_reader **out, const char *path, size_t max_line,
		    kiln_error *err)
{
	kiln_jsonl_reader *r = calloc(1, sizeof(*r));
	int rc = KILN_ENOMEM;

	*out = NULL;
	if (!r)
		return kiln_error_set(err, KILN_ENOMEM, "%s: out of memory", path);
	r->fd = -1;
	r->path = strdup(path);
	r->rbuf = malloc(READ_CHUNK);
	r->zbuf = malloc(READ_CHUNK);
	r->max_line = max_line ? max_line : KILN_JSONL_MAX_LINE_DEFAULT;
	if (!r->path || !r->rbuf || !r->zbuf) {
		kiln_error_set(err, rc, "%s: out of memory", path);
		goto fail;
	}
	r->zs.next_in = r->zbuf;
	if (strcmp(path, "-") == 0)
		r->fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0);
	else
		r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		rc = kiln_error_set(err, KILN_EIO, "%s: cannot open: %s", path,
				    strerror(errno));
		goto fail;
	}
	*out = r;
	return 0;
fail:
	kiln_jsonl_close(r);
	return rc;
}

void kiln_jsonl_close(kiln_jsonl_reader *r)
{
	if (!r)
		return;
	if (r->zinit)
		inflateEnd(&r->zs);
	if (r->fd >= 0)
		close(r->fd);
	free(r->path);
	free(r->rbuf);
	free(r->zbuf);
	free(r->line);
	free(r);
}

long kiln_jsonl_lineno(const kiln_jsonl_reader *r) { return r->lineno; }
unsigned long long kiln_jsonl_offset(const kiln_jsonl_reader *r)
{
	return r->line_off;
}
const char *kiln_jsonl_path(const kiln_jsonl_reader *r) { return r->path; }

void kiln_jsonl_set_stop(kiln_jsonl_reader *r, volatile int *stop)
{
	r->stop = stop;
}

/* read(2), again after a signal unless the signal asked to stop (then
 * -1 with errno EINTR). */
static ssize_t read_some(kiln_jsonl_reader *r, void *buf, size_t len)
{
	ssize_t n;

	do
		n = read(r->fd, buf, len);
	while (n < 0 && errno == EINTR && !(r->stop && *r->stop));
	return n;
}

/* Appends raw input after what is left in zbuf. Returns 0 or KILN_EIO. */
static int fill_input(kiln_jsonl_reader *r, kiln_error *err)
{
	size_t have = r->zs.avail_in;
	ssize_t n;

	if (have && r->zs.next_in != r->zbuf)
		memmove(r->zbuf, r->zs.next_in, have);
	r->zs.next_in = r->zbuf;
	n = read_some(r, r->zbuf + have, READ_CHUNK - have);
	if (n < 0)
		return kiln_error_set(err, KILN_EIO, "%s:%ld: read failed: %s",
				      r->path, r->lineno + 1, strerror(errno));
	if (n == 0)
		r->in_eof = 1;
	r->zs.avail_in = (uInt)(have + (size_t)n);
	return 0;
}

/* Fills r->rbuf. Returns bytes available, 0 at EOF, or KILN_EIO /
 * KILN_ENOMEM. */
static int refill(kiln_jsonl_reader *r, kiln_error *err)
{
	int rc;

	if (r->rpos < r->rlen)
		return (int)(r->rlen - r->rpos);
	if (r->eof)
		return 0;
	for (;;) {
		switch (r->mode) {
		case IN_LOOK:
			/* At the start, or after a gzip member. */
			while (r->zs.avail_in < 2 && !r->in_eof)
				if ((rc = fill_input(r, err)) < 0)
					return rc;
			if (r->zs.avail_in >= 2 && r->zs.next_in[0] == 0x1f &&
			    r->zs.next_in[1] == 0x8b) {
				if (!r->zinit) {
					if (inflateInit2(&r->zs, 15 + 16) != Z_OK)
						return kiln_error_set(err,
							KILN_ENOMEM,
							"%s: out of memory",
							r->path);
					r->zinit = 1;
				} else if (inflateReset(&r->zs) != Z_OK) {
					return kiln_error_set(err, KILN_EIO,
						"%s: inflate failed", r->path);
				}
				r->mode = IN_GZIP;
				continue;
			}
			if (r->members == 0) {
				r->mode = IN_PLAIN;
				continue;
			}
			/* Not another member: trailing bytes, ignored. */
			r->eof = 1;
			return 0;
		case IN_PLAIN: {
			ssize_t n;

			if (r->zs.avail_in) { /* what IN_LOOK read ahead */
				n = (ssize_t)r->zs.avail_in;
				memcpy(r->rbuf, r->zs.next_in, (size_t)n);
				r->zs.avail_in = 0;
			} else if (r->in_eof) {
				n = 0;
			} else {
				n = read_some(r, r->rbuf, READ_CHUNK);
				if (n < 0)
					return kiln_error_set(err, KILN_EIO,
						"%s:%ld: read failed: %s",
						r->path, r->lineno + 1,
						strerror(errno));
			}
			if (n == 0) {
				r->in_eof = r->eof = 1;
				return 0;
			}
			r->base += r->rlen;
			r->rlen = (size_t)n;
			r->rpos = 0;
			return (int)n;
		}
		case IN_GZIP: {
			size_t got;
			int ret;

			r->zs.next_out = (unsigned char *)r->rbuf;
			r->zs.avail_out = READ_CHUNK;
			for (;;) {
				if (r->zs.avail_in == 0 && !r->in_eof &&
				    (rc = fill_input(r, err)) < 0)
					return rc;
				ret = inflate(&r->zs, Z_NO_FLUSH);
				if (ret == Z_STREAM_END) {
					r->members++;
					r->mode = IN_LOOK;
					break;
				}
				if (ret == Z_MEM_ERROR)
					return kiln_error_set(err, KILN_ENOMEM,
						"%s:%ld: out of memory",
						r->path, r->lineno + 1);
				if (ret != Z_OK && ret != Z_BUF_ERROR)
					return kiln_error_set(err, KILN_EIO,
						"%s:%ld: corrupt gzip data: %s",
						r->path, r->lineno + 1,
						r->zs.msg ? r->zs.msg
							  : "inflate failed");
				if (r->zs.avail_out == 0)
					break;
				if (ret == Z_BUF_ERROR && r->zs.avail_in == 0 &&
				    r->in_eof) {
					/* No progress and no more input. Hand
					 * over what came out; the error comes
					 * on the next call. */
					if (r->zs.avail_out < READ_CHUNK)
						break;
					return kiln_error_set(err, KILN_EIO,
						"%s:%ld: unexpected end of file "
						"in gzip data (truncated?)",
						r->path, r->lineno + 1);
				}
			}
			got = READ_CHUNK - r->zs.avail_out;
			if (got == 0)
				continue; /* an empty member: look further */
			r->base += r->rlen;
			r->rlen = got;
			r->rpos = 0;
			return (int)got;
		}
		}
	}
}

/* Skips the rest of a line reported as too long. Memory stays bounded
 * however long it is; the line's number does not change. */
static int skip_rest(kiln_jsonl_reader *r, kiln_error *err)
{
	while (r->skipping) {
		int avail = refill(r, err);
		char *start, *nl;

		if (avail <= 0)
			return avail; /* an error, or the end: done */
		start = r->rbuf + r->rpos;
		nl = memchr(start, '\n', (size_t)avail);
		if (nl) {
			r->rpos += (size_t)(nl - start) + 1;
			r->skipping = 0;
		} else {
			r->rpos += (size_t)avail;
		}
	}
	return 0;
}

/* Reads one raw line into r->cur (NUL-terminated, no newline: in rbuf
 * where it is there whole, its line end overwritten, else copied into
 * r->line). Returns its length, KILN_EEOF, KILN_EIO, or KILN_ELIMIT: the
 * line passed the cap, which is said at once (a line that never ends is
 * not waited for); the next call skips the rest of it. */
static long read_line(kiln_jsonl_reader *r, kiln_error *err)
{
	size_t len = 0;
	int got_any = 0, rc;

	if ((rc = skip_rest(r, err)) < 0)
		return rc;
	for (;;) {
		int avail = refill(r, err);
		char *start, *nl;
		size_t take;

		if (avail < 0)
			return avail;
		if (avail == 0)
			break;
		if (!got_any)
			r->line_off = r->base + r->rpos;
		got_any = 1;
		start = r->rbuf + r->rpos;
		nl = memchr(start, '\n', (size_t)avail);
		take = nl ? (size_t)(nl - start) : (size_t)avail;
		if (len + take > r->max_line) {
			r->rpos += take + (nl ? 1 : 0);
			r->skipping = !nl;
			r->lineno++;
			return kiln_error_set(err, KILN_ELIMIT,
					      "%s:%ld: line longer than %zu "
					      "bytes", r->path, r->lineno,
					      r->max_line);
		}
		if (nl && !len) {   /* all of it in rbuf: handed over there */
			r->rpos += take + 1;
			r->lineno++;
			if (take && start[take - 1] == '\r')
				take--;
			start[take] = '\0';
			r->cur = start;
			return (long)take;
		}
		if (len + take + 1 > r->line_cap) {
			size_t cap = r->line_cap ? r->line_cap : 4096;
			char *p;
			while (cap < len + take + 1)
				cap *= 2;
			p = realloc(r->line, cap);
			if (!p)
				return kiln_error_set(err, KILN_ENOMEM,
					"%s:%ld: out of memory",
					r->path, r->lineno + 1);
			r->line = p;
			r->line_cap = cap;
		}
		memcpy(r->line + len, start, take);
		len += take;
		r->rpos += take + (nl ? 1 : 0);
		if (nl)
			break;
	}
	if (!got_any)
		return KILN_EEOF;
	r->lineno++;
	if (len && r->line[len - 1] == '\r')
		len--;
	r->line[len] = '\0';
	r->cur = r->line;
	return (long)len;
}

static int is_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

int kiln_jsonl_next_line(kiln_jsonl_reader *r, const char **line,
			 size_t *len, kiln_error *err)
{
	for (;;) {
		long n = read_line(r, err);

		if (n < 0)
			return (int)n;
		if (is_blank(r->cur, (size_t)n))
			continue;
		*line = r->cur, *len = (size_t)n;
		return 0;
	}
}

int kiln_jsonl_next(kiln_jsonl_reader *r, json_t **obj, kiln_error *err)
{
	*obj = NULL;
	for (;;) {
		long n = read_line(r, err);
		int rc;

		if (n < 0)
			return (int)n;
		if (is_blank(r->cur, (size_t)n))
			continue;
		rc = kiln_jsonl_parse_line(r->cur, (size_t)n, obj, err);
		if (rc)
			kiln_error_prefix(err, "%s:%ld: ", r->path, r->lineno);
		return rc;
	}
}

/* Whether jansson's allocator failed while this thread parsed a line.
 * jansson 2.14 does not always say so itself: json_object() failing in
 * the parser gives no message at all, a string's copy failing gives
 * "string or '}' expected", and its lexer ignores a failure to grow its
 * token buffer (lex_save; akheron/jansson#362), so a line can even parse
 * with a character left out of a string. A failed allocation is not a
 * bad line and must not be skipped as one, nor read as other data
 * (tests/alloc/test_alloc_fail.c), so kiln watches jansson's allocator:
 * the functions installed before (the application's, or malloc) still
 * do the work. */
static _Thread_local int json_alloc_failed;
static json_malloc_t json_next_malloc;
static pthread_once_t json_watch_once = PTHREAD_ONCE_INIT;

static void *json_watch_malloc(size_t n)
{
	void *p = json_next_malloc(n);

	if (!p)
		json_alloc_failed = 1;
	return p;
}

static void json_watch_install(void)
{
	json_free_t next_free;

	json_get_alloc_funcs(&json_next_malloc, &next_free);
	json_set_alloc_funcs(json_watch_malloc, next_free);
}

int kiln_jsonl_parse_line(const char *buf, size_t len, json_t **obj,
			  kiln_error *err)
{
	json_error_t jerr;
	long bad = kiln_utf8_check(buf, len);
	json_t *v;

	const char *nul = memchr(buf, '\0', len);

	*obj = NULL;
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		return kiln_error_set(err, KILN_EPARSE, "a UTF-8 byte-order "
				      "mark (BOM) starts the line; remove it "
				      "(JSON Lines has none)");
	if (nul)
		return kiln_error_set(err, KILN_EPARSE, "a NUL byte at byte "
				      "%ld (binary data, not JSON Lines?)",
				      (long)(nul - buf) + 1);
	if (bad >= 0)
		return kiln_error_set(err, KILN_EPARSE,
				      "invalid UTF-8 at byte %ld", bad + 1);
	pthread_once(&json_watch_once, json_watch_install);
	json_alloc_failed = 0;
	v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (json_alloc_failed) {
		json_decref(v);
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	}
	if (!v)
		return kiln_error_set(err, KILN_EPARSE, "column %d: %s",
				      jerr.column, jerr.text);
	if (!json_is_object(v)) {
		json_decref(v);
		return kiln_error_set(err, KILN_EPARSE,
				      "expected a JSON object on the line");
	}
	*obj = v;
	return 0;
}

/* The JSONL writer on kiln_output (kiln/output.h): records are rendered
 * into one buffer; a file gets them in blocks of about 64 KiB, a stream
 * (standard output, a FIFO ...) one record at a time, so that a reader
 * downstream sees results as they come. Only whole records are marked, so
 * a partial output kept after an error ends at a record's end. */
#define OUT_BLOCK (64u << 10)

struct kiln_out {
	kiln_output *o;
	int stream;
	char *buf;          /* records not yet written */
	size_t len, cap;
	long records;       /* records handed to kiln_out_write */
	long written;       /* of those, in the output whole */
};

int kiln_out_open(kiln_out **out, const char *path, kiln_error *err)
{
	kiln_out *o = calloc(1, sizeof(*o));
	int rc;

	*out = NULL;
	if (!o)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	rc = kiln_output_open(&o->o, path, err);
	if (rc) {
		free(o);
		return rc;
	}
	o->stream = kiln_output_is_stream(o->o);
	*out = o;
	return 0;
}

/* Writes the buffered records. */
static int out_flush(kiln_out *o, kiln_error *err)
{
	int rc;

	/* also with nothing buffered: an earlier failure is said again */
	rc = kiln_output_write(o->o, o->buf, o->len, err);
	o->len = 0;
	if (rc)
		return rc;
	kiln_output_mark(o->o);
	o->written = o->records;
	return 0;
}

int kiln_out_write(kiln_out *o, const json_t *obj, kiln_error *err)
{
	const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER |
			     JSON_REAL_PRECISION(15);
	size_t n;

	/* Rendered straight into the buffer: json_dumpf makes a stdio call
	 * per token, a tenth of kiln generate's time. An allocation of
	 * jansson's that fails is out of memory, not a bad record. */
	pthread_once(&json_watch_once, json_watch_install);
	json_alloc_failed = 0;
	n = json_dumpb(obj, o->buf ? o->buf + o->len : NULL, o->cap - o->len,
		       flags);
	if (n == 0 && json_alloc_failed)
		return kiln_error_set(err, KILN_ENOMEM, "out of memory");
	if (n == 0)
		return kiln_error_set(err, KILN_EINVAL, "%s: a record that "
				      "cannot be written as JSON",
				      kiln_output_name(o->o));
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		char *b;
		while (cap < o->len + n + 1)
			cap *= 2;
		b = realloc(o->buf, cap);
		if (!b)
			return kiln_error_set(err, KILN_ENOMEM, "out of memory");
		o->buf = b;
		o->cap = cap;
		n = json_dumpb(obj, o->buf + o->len, o->cap - o->len, flags);
		if (n == 0)
			return kiln_error_set(err, json_alloc_failed ?
					      KILN_ENOMEM : KILN_EINVAL, "%s: %s",
					      kiln_output_name(o->o),
					      json_alloc_failed ? "out of memory"
					      : "a record that cannot be "
					      "written as JSON");
	}
	o->len += n;
	o->buf[o->len++] = '\n';
	o->records++;
	if (o->stream || o->len >= OUT_BLOCK)
		return out_flush(o, err);
	return 0;
}

int kiln_out_write_line(kiln_out *o, const char *line, size_t n,
			kiln_error *err)
{
	return kiln_out_write_line2(o, line, n, NULL, 0, err);
}

int kiln_out_write_line2(kiln_out *o, const char *a, size_t an,
			 const char *b, size_t bn, kiln_error *err)
{
	size_t n = an + bn;

	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		char *nb;
		while (cap < o->len + n + 1)
			cap *= 2;
		if (!(nb = realloc(o->buf, cap)))
			return kiln_error_set(err, KILN_ENOMEM, "out of memory");
		o->buf = nb;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, a, an);
	if (bn)
		memcpy(o->buf + o->len + an, b, bn);
	o->len += n;
	o->buf[o->len++] = '\n';
	o->records++;
	if (o->stream || o->len >= OUT_BLOCK)
		return out_flush(o, err);
	return 0;
}

long kiln_out_records(const kiln_out *o)
{
	return o->written;
}

const char *kiln_out_name(const kiln_out *o)
{
	return kiln_output_name(o->o);
}

int kiln_out_is_stream(const kiln_out *o)
{
	return o->stream;
}

static void out_free(kiln_out *o)
{
	free(o->buf);
	free(o);
}

int kiln_out_commit(kiln_out *o, kiln_error *err)
{
	int rc = out_flush(o, err);

	if (rc)
		kiln_output_abort(o->o);
	else
		rc = kiln_output_commit(o->o, err);
	out_free(o);
	return rc;
}

int kiln_out_keep_partial(kiln_out *o, char **kept, long *records,
			  kiln_error *err)
{
	int rc;

	/* What cannot be written now is not kept; the rest is. */
	out_flush(o, NULL);
	if (records)
		*records = kiln_out_records(o);
	rc = kiln_output_keep_partial(o->o, kept, err);
	if (rc && records)
		*records = 0;
	out_free(o);
	return rc;
}

void kiln_out_abort(kiln_out *o)
{
	if (!o)
		return;
	kiln_output_abort(o->o);
	out_free(o);
}
