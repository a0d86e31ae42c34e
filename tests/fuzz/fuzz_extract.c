/* fuzz_extract - a model's answer through extraction and test splitting.
 *
 * The input is one answer. For every language kiln reads ("python", "c",
 * another one, NULL and "", each also spelled in other case) and both
 * modes (kiln_extract_code, kiln_extract_tests):
 *   - success: code ends in '\n', is valid UTF-8 with no NUL, and every
 *     line of it is text of the answer (extraction cuts and dedents, it
 *     never writes); parts >= 1; how is one of the three names ("unfenced"
 *     only with no fenced block); blocks is at most the number of lines
 *     that open a fence (ref_fence_lines); truncated only with a block;
 *   - failure: KILN_EPARSE or KILN_ELIMIT, code NULL, a message; a valid
 *     answer under the caps fails only as "no code"/"no tests" (or a
 *     block/definition limit);
 *   - a language named in another case ("PyThOn3", "C") gives the very same
 *     result (kiln_lang_canonical's table).
 * Then kiln_split_tests() splits the answer itself and every extracted
 * test code, for python and c: success gives a preamble and non-empty
 * snippets ending in '\n', within KILN_SPLIT_MAX_OUT; failure gives NULLs
 * and a message that names the line ("line N: ...") or the input.
 * Any disagreement calls abort(), so libFuzzer and the replay test see it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/code.h"
#include "kiln/utf8.h"
#include "fuzz.h"

/* Whether a fence could open at s[i]: up to 3 spaces, then 3 or more '`'
 * or '~'. */
static int fence_at(const char *s, size_t n, size_t i)
{
	size_t j = i, k;

	while (j < n && j - i < 3 && s[j] == ' ')
		j++;
	for (k = j; k < n && (s[k] == '`' || s[k] == '~') && s[k] == s[j];)
		k++;
	return k - j >= 3;
}

/* Places that could open a fence: line starts, and the text right after
 * a "</think>" (the answer is read from there, as from a line start). */
static long ref_fence_lines(const char *s, size_t n)
{
	long count = 0;

	for (size_t i = 0; i < n;) {
		count += fence_at(s, n, i);
		while (i < n && s[i] != '\n') {
			if (n - i >= 8 && !memcmp(s + i, "</think>", 8))
				count += fence_at(s, n, i + 8);
			i++;
		}
		i++;
	}
	return count;
}

/* s with each CRLF as LF and a leading BOM dropped, as the library reads
 * it (every line of extracted code comes from this text). */
static char *lf_copy(const char *s, size_t n, size_t *outn)
{
	char *d = malloc(n + 1);
	size_t i = 0, j = 0;

	if (!d)
		FAIL("out of memory");
	if (n >= 3 && !memcmp(s, "\xef\xbb\xbf", 3))
		i = 3;
	for (; i < n; i++)
		if (!(s[i] == '\r' && i + 1 < n && s[i + 1] == '\n'))
			d[j++] = s[i];
	d[j] = '\0';
	*outn = j;
	return d;
}

struct input {
	const char *s;
	size_t n;
	const char *lf; /* s with LF line ends */
	size_t lfn;
	int clean;      /* valid UTF-8, no NUL, under the cap */
	long fences;
};

static void check_extracted(const struct input *in, const kiln_extracted *e,
			    const char *what)
{
	size_t len = strlen(e->code);
	const char *p, *nl;

	if (len == 0 || e->code[len - 1] != '\n')
		FAIL("%s: code does not end in a newline", what);
	if (kiln_utf8_check(e->code, len) >= 0)
		FAIL("%s: code is not valid UTF-8", what);
	if (e->parts < 1)
		FAIL("%s: %d parts", what, e->parts);
	if (!e->how || (strcmp(e->how, "fenced") && strcmp(e->how, "unfenced") &&
			strcmp(e->how, "fenced-untagged")))
		FAIL("%s: how is '%s'", what, e->how ? e->how : "NULL");
	if (!strcmp(e->how, "unfenced") && e->blocks != 0)
		FAIL("%s: unfenced with %d blocks", what, e->blocks);
	if (e->blocks < 0 || e->blocks > in->fences)
		FAIL("%s: %d blocks, at most %ld fence lines", what, e->blocks,
		     in->fences);
	if (e->truncated && e->blocks == 0)
		FAIL("%s: truncated without a block", what);
	for (p = e->code; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (nl > p && !memmem(in->lf, in->lfn, p, (size_t)(nl - p)))
			FAIL("%s: line '%.*s' is not in the answer", what,
			     (int)(nl - p), p);
	}
}

static void check_split(const char *code, size_t len, const char *lang,
			const char *what)
{
	kiln_error err = { 0, "" };
	char *pre = (char *)1, **t = (char **)1;
	size_t n = 99, total = 0;
	int rc = kiln_split_tests(code, len, lang, &pre, &t, &n, &err);

	if (rc) {
		if (rc != KILN_EPARSE && rc != KILN_ELIMIT)
			FAIL("%s: split returned %d (%s)", what, rc, err.msg);
		if (pre || t || n)
			FAIL("%s: failed split left output", what);
		if (!err.msg[0])
			FAIL("%s: split failed without a message", what);
		if (rc == KILN_EPARSE && strncmp(err.msg, "line ", 5) &&
		    strncmp(err.msg, "test code: ", 11))
			FAIL("%s: parse error '%s' names no line", what, err.msg);
		return;
	}
	if (!pre || (n && !t))
		FAIL("%s: split gave NULL output", what);
	total = strlen(pre);
	for (size_t i = 0; i < n; i++) {
		size_t k;

		if (!t[i])
			FAIL("%s: snippet %zu is NULL", what, i);
		k = strlen(t[i]);
		if (k == 0 || t[i][k - 1] != '\n')
			FAIL("%s: snippet %zu is empty or unterminated", what, i);
		total += k;
	}
	if (total > KILN_SPLIT_MAX_OUT)
		FAIL("%s: %zu bytes out", what, total);
	free(pre);
	kiln_tests_free(t, n);
}

/* One language, one mode; returns the result for comparison (the caller
 * frees code). */
static int run(const struct input *in, const char *lang, int tests,
	       kiln_extracted *e, kiln_error *err)
{
	char what[64];
	int rc;

	snprintf(what, sizeof(what), "%s %s", tests ? "tests" : "code",
		 lang ? lang : "NULL");
	memset(e, 0x55, sizeof(*e));
	memset(err, 0, sizeof(*err));
	rc = tests ? kiln_extract_tests(in->s, in->n, lang, e, err)
		   : kiln_extract_code(in->s, in->n, lang, e, err);
	if (rc) {
		if (rc != KILN_EPARSE && rc != KILN_ELIMIT)
			FAIL("%s: returned %d (%s)", what, rc, err->msg);
		if (e->code)
			FAIL("%s: failed with code set", what);
		if (!err->msg[0])
			FAIL("%s: failed without a message", what);
		if (in->clean && rc == KILN_EPARSE &&
		    strncmp(err->msg, tests ? "no tests in the answer" :
			    "no code in the answer", tests ? 22 : 21) &&
		    strncmp(err->msg, "no code in the answer", 21))
			FAIL("%s: valid answer refused: %s", what, err->msg);
		return rc;
	}
	if (!e->code)
		FAIL("%s: success without code", what);
	check_extracted(in, e, what);
	if (tests && lang && (!strcmp(lang, "python") || !strcmp(lang, "c")))
		check_split(e->code, strlen(e->code), lang, what);
	return 0;
}

static void same(int rc1, const kiln_extracted *a, const kiln_error *ea,
		 int rc2, const kiln_extracted *b, const kiln_error *eb,
		 const char *what)
{
	if (rc1 != rc2)
		FAIL("%s: %d, but %d in other case", what, rc1, rc2);
	if (rc1 == 0 && (strcmp(a->code, b->code) || a->blocks != b->blocks ||
			 a->parts != b->parts || a->truncated != b->truncated ||
			 strcmp(a->how, b->how)))
		FAIL("%s: another result in other case", what);
	if (rc1 && rc1 != KILN_ELIMIT && strcmp(ea->msg, eb->msg)) {
		/* Messages may quote the name as given; compare past it. */
		if (strncmp(ea->msg, eb->msg, 20))
			FAIL("%s: '%s' but '%s' in other case", what, ea->msg,
			     eb->msg);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Each language with its other-case spelling (NULL: none). */
	static const char *const langs[][2] = {
		{ "python", "PyThOn3" }, { "c", "C" }, { "rust", NULL },
		{ NULL, "" },
	};
	struct input in;
	char *lf;

	in.s = (const char *)data;
	in.n = size;
	lf = lf_copy(in.s, in.n, &in.lfn);
	in.lf = lf;
	in.clean = size <= KILN_EXTRACT_MAX_ANSWER &&
		   !memchr(data, '\0', size) &&
		   kiln_utf8_check(in.s, size) < 0;
	in.fences = ref_fence_lines(in.lf, in.lfn);

	for (size_t l = 0; l < sizeof(langs) / sizeof(langs[0]); l++) {
		for (int tests = 0; tests < 2; tests++) {
			kiln_extracted a, b;
			kiln_error ea, eb;
			int rc1 = run(&in, langs[l][0], tests, &a, &ea), rc2;

			if (langs[l][1]) {
				rc2 = run(&in, langs[l][1], tests, &b, &eb);
				same(rc1, &a, &ea, rc2, &b, &eb, langs[l][1]);
				if (!rc2)
					free(b.code);
			}
			if (!rc1)
				free(a.code);
		}
	}
	check_split(in.s, in.n, "python", "split python");
	check_split(in.s, in.n, "c", "split c");
	free(lf);
	return 0;
}
