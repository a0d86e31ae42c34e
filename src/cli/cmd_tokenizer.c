/* kiln tokenizer train|encode|decode|info: byte-level BPE (kiln/tokenizer.h). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "kiln/output.h"
#include "kiln/progress.h"
#include "kiln/tokenizer.h"

#define CMD "tokenizer"
/* encode reads its whole input: at most this much */
#define ENCODE_MAX_INPUT ((size_t)1 << 30)

struct tok_args {
	const char *tok, *output, *ext;
	long long max_bytes;
	int vocab, quiet, eot, stats, split_digits;
};

#define A struct tok_args
static const kiln_opt train_opts[] = {
	{ .name = "vocab", .short_name = 'v', .kind = KILN_OPT_INT,
	  KILN_OPT_F_(A, vocab), .lo = 257, .hi = KILN_TOK_MAX_VOCAB,
	  .arg = "N", .def = "", .help = "ids in all; required" },
	KILN_OPT_ROW_PATH("output", 'o', A, output, "FILE",
		"where to write it, atomically"),
	KILN_OPT_ROW_STRING("ext", 'e', A, ext, "EXT",
		"in directories, read only files ending in EXT (e.g. .py); "
		"files named on the line are always read"),
	KILN_OPT_ROW_SIZE("max-bytes", 0, A, max_bytes, 1, 1LL << 50,
		"stop reading after SIZE bytes (suffixes k, M, G)"),
	KILN_OPT_ROW_FLAG("split-digits", 0, A, split_digits,
		"every digit its own token: no leading space, no merges "
		"(stored in the file)"),
	CLI_OPT_QUIET(A, quiet, "no progress on stderr, only the summary"),
	KILN_OPT_ROW_END,
};

#define TOK_ROW KILN_OPT_ROW_PATH("tok", 't', A, tok, "FILE", \
				  "the tokenizer (required)")
static const kiln_opt encode_opts[] = {
	TOK_ROW,
	KILN_OPT_ROW_FLAG("eot", 0, A, eot, "end with the end-of-text id"),
	KILN_OPT_ROW_FLAG("stats", 0, A, stats, "on stderr: bytes, tokens, "
			  "bytes/token, encoding speed"),
	KILN_OPT_ROW_END,
};

static const kiln_opt tok_only_opts[] = {
	TOK_ROW,
	KILN_OPT_ROW_END,
};
#undef A

static int tok_cmd_train(int argc, char **argv);
static int cmd_encode(int argc, char **argv);
static int cmd_decode(int argc, char **argv);
static int cmd_info(int argc, char **argv);

static const cli_cmd tok_train = {
	.name = "train", .parent = CMD, .run = tok_cmd_train,
	.summary = "learn a tokenizer from code files",
	.opts = train_opts,
	.synopsis = "usage: kiln tokenizer train --vocab N [options] PATH...",
	.about =
"Learns byte-level BPE from files and directories (walked recursively in\n"
"byte order of names; names starting with '.' are skipped): 256 byte ids,\n"
"N-257 merges of the most frequent adjacent pairs, and end-of-text as the\n"
"last id. The same input and N give the same file. A corpus that runs out\n"
"of pairs gives a smaller vocabulary (the summary says so). With\n"
"--split-digits every ASCII digit is a chunk of its own (a number is its\n"
"digits wherever it stands: \" 5\", \"-5\" and \"(5\" hold the same token);\n"
"the file records it, and encoding with it does the same.\n",
};

static const cli_cmd tok_encode = {
	.name = "encode", .parent = CMD, .run = cmd_encode,
	.summary = "bytes -> token ids",
	.opts = encode_opts,
	.synopsis = "usage: kiln tokenizer encode --tok FILE [options] "
		    "[INPUT|-]",
	.about =
"Writes the token ids of INPUT (default: standard input) to standard output,\n"
"separated by spaces, with a newline at the end. Inputs up to 1 GiB.\n",
};

static const cli_cmd tok_decode = {
	.name = "decode", .parent = CMD, .run = cmd_decode,
	.summary = "token ids -> bytes",
	.opts = tok_only_opts,
	.synopsis = "usage: kiln tokenizer decode --tok FILE [INPUT|-]",
	.about =
"Reads token ids (decimal, separated by white space) from INPUT (default:\n"
"standard input) and writes their bytes to standard output, as they come.\n"
"The end-of-text id writes nothing. An id that is not a number or not in\n"
"the vocabulary stops with an error that gives its position.\n",
};

static const cli_cmd tok_info = {
	.name = "info", .parent = CMD, .run = cmd_info,
	.summary = "a tokenizer file's figures, as JSON",
	.opts = tok_only_opts,
	.synopsis = "usage: kiln tokenizer info --tok FILE",
	.about =
"Prints one JSON object: vocab, merges, eot, the file's size, token lengths\n"
"and the first merges (as text, where they are valid UTF-8).\n",
};

static const cli_cmd *const tok_cmds[] = {
	&tok_train, &tok_encode, &tok_decode, &tok_info, NULL,
};

static int run_tokenizer(int argc, char **argv)
{
	return cli_dispatch(&cli_tokenizer, argc, argv);
}

/* Parses a subcommand's options; the tokenizer is required except for
 * train. Returns CLI_GO or the exit status. */
static int tok_parse(const cli_cmd *cmd, int argc, char **argv,
		     struct tok_args *a, int *npos)
{
	int rc = cli_parse(cmd, argc, argv, a, sizeof *a, npos);

	if (rc == CLI_GO && cmd != &tok_train && !a->tok) {
		cli_error(CMD, "%s: --tok is required", cmd->name);
		cli_usage(cmd, a, stderr);
		return 2;
	}
	return rc;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* --- train ---------------------------------------------------------------- */

/* Writes the tokenizer file by kiln's rule for outputs (kiln/output.h):
 * a regular file atomically, /dev/null or a FIFO streamed to. */
static int save_tok(const kiln_tok *tok, const char *path, kiln_error *err)
{
	unsigned char *buf = NULL;
	size_t len;
	int rc = kiln_tok_serialize(tok, &buf, &len, err);

	if (!rc)
		rc = kiln_output_save(path, buf, len, err);
	free(buf);
	return rc;
}

struct progress {
	kiln_progress line;  /* on a terminal; elsewhere a line every 10 s */
	double start;
};

static int on_progress(void *ctx, const kiln_tok_train_stats *st)
{
	struct progress *p = ctx;
	double t = now_s() - p->start;

	if (st->phase == KILN_TOK_DONE ||
	    !kiln_progress_due(&p->line, t, st->phase == KILN_TOK_MERGING &&
						st->merges == 0))
		return 0;
	if (st->phase == KILN_TOK_READING)
		kiln_progress_show(&p->line, "reading: %llu files, %.1f MB, "
				   "%llu distinct chunks  %.0fs",
				   (unsigned long long)st->files,
				   st->bytes / 1e6,
				   (unsigned long long)st->unique_chunks, t);
	else
		kiln_progress_show(&p->line, "merging: %d/%d  %.2f bytes/token  "
				   "%.0fs", st->merges, st->merges_wanted,
				   st->tokens ? (double)st->bytes / st->tokens
				   : 0.0, t);
	return 0;
}

static int tok_cmd_train(int argc, char **argv)
{
	struct tok_args a = { .output = "tok.bin", .max_bytes = 256LL << 20 };
	const char *output;
	kiln_tok_train_opts to = { 0 };
	kiln_tok_train_stats st = { 0 };
	struct progress prog = { 0 };
	kiln_tok *tok = NULL;
	kiln_error err;
	long vocab;
	int rc, npos;

	if ((rc = tok_parse(&tok_train, argc, argv, &a, &npos)) != CLI_GO)
		return rc;
	output = a.output, vocab = a.vocab;
	to.ext = a.ext;
	to.max_bytes = (uint64_t)a.max_bytes;
	to.split_digits = a.split_digits;
	if (!vocab || npos < 1) {
		cli_error(CMD, "train: %s", !vocab ? "--vocab is required"
			  : "expected at least one PATH");
		cli_usage(&tok_train, &a, stderr);
		return 2;
	}
	/* before reading anything: the output can be written, and is not one
	 * of the inputs */
	rc = kiln_output_check(output, &err);
	for (int i = 0; !rc && i < npos; i++)
		rc = kiln_output_check_distinct(output, argv[1 + i], "an input",
						&err);
	if (rc) {
		cli_error(CMD, "train: %s", err.msg);
		return 1;
	}
	kiln_progress_init(&prog.line, stderr, a.quiet, 0.2, 10.0);
	prog.start = now_s();
	to.progress = on_progress;
	to.progress_ctx = &prog;
	to.stats = &st;
	rc = kiln_tok_train(&tok, (int)vocab, (const char *const *)argv + 1,
			    npos, &to, &err);
	kiln_progress_clear(&prog.line);
	if (rc == 0 && st.bytes == 0)
		rc = kiln_error_set(&err, KILN_EINVAL, "no data: %llu files "
				    "read, 0 bytes (%s)",
				    (unsigned long long)st.files, to.ext ?
				    "none ending in --ext?" : "empty files or "
				    "directories");
	if (rc == 0)
		rc = save_tok(tok, output, &err);
	if (rc) {
		cli_error(CMD, "train: %s", err.msg);
		kiln_tok_free(tok);
		return 1;
	}
	fprintf(stderr, "kiln tokenizer: read %.1f MB from %llu files%s: "
		"%llu chunks, %llu distinct\n", st.bytes / 1e6,
		(unsigned long long)st.files,
		st.truncated ? " (stopped at --max-bytes)" : "",
		(unsigned long long)st.chunks,
		(unsigned long long)st.unique_chunks);
	if (st.merges < st.merges_wanted)
		fprintf(stderr, "kiln tokenizer: the corpus ran out of pairs: "
			"vocab %d, not %ld\n", kiln_tok_vocab(tok), vocab);
	fprintf(stderr, "kiln tokenizer: %d merges, vocab %d (end-of-text "
		"%d); %.3f bytes/token on the corpus; %.1f s -> %s\n",
		st.merges, kiln_tok_vocab(tok), kiln_tok_eot(tok),
		st.tokens ? (double)st.bytes / st.tokens : 0.0,
		now_s() - prog.start, output);
	kiln_tok_free(tok);
	return 0;
}

/* --- encode --------------------------------------------------------------- */

static int read_input(const char *path, char **data, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	size_t n = 0, cap = 0;
	char *b = NULL;

	if (!f) {
		cli_error(CMD, "encode: %s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		size_t r;
		if (n == cap) {
			char *p;
			if (cap >= ENCODE_MAX_INPUT) {
				cli_error(CMD, "encode: %s: more than %zu "
					  "bytes", path, ENCODE_MAX_INPUT);
				goto fail;
			}
			cap = cap ? cap * 2 : 1 << 16;
			p = realloc(b, cap + 1);
			if (!p) {
				cli_error(CMD, "encode: %s: out of memory",
					  path);
				goto fail;
			}
			b = p;
		}
		r = fread(b + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		cli_error(CMD, "encode: %s: read error", path);
		goto fail;
	}
	if (f != stdin)
		fclose(f);
	*data = b;
	*len = n;
	return 0;
fail:
	if (f != stdin)
		fclose(f);
	free(b);
	return -1;
}

static int cmd_encode(int argc, char **argv)
{
	struct tok_args a = { 0 };
	const char *tokpath, *input = "-";
	int eot, stats, rc, npos;
	kiln_tok *tok = NULL;
	char *data = NULL;
	int *ids = NULL;
	size_t len = 0, nids = 0;
	kiln_error err;
	double t0, t1;

	if ((rc = tok_parse(&tok_encode, argc, argv, &a, &npos)) != CLI_GO)
		return rc;
	rc = 1;
	tokpath = a.tok, eot = a.eot, stats = a.stats;
	if (npos > 1) {
		cli_error(CMD, "encode: expected at most one INPUT");
		return 2;
	}
	if (npos == 1)
		input = argv[1];
	if (kiln_tok_load(&tok, tokpath, &err)) {
		cli_error(CMD, "encode: %s", err.msg);
		return 1;
	}
	if (read_input(input, &data, &len))
		goto out;
	t0 = now_s();
	if (kiln_tok_encode(tok, data, len, &ids, &nids, &err)) {
		cli_error(CMD, "encode: %s: %s", input, err.msg);
		goto out;
	}
	t1 = now_s();
	for (size_t i = 0; i < nids; i++)
		printf(i ? " %d" : "%d", ids[i]);
	if (eot)
		printf(nids ? " %d" : "%d", kiln_tok_eot(tok));
	putchar('\n');
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_error(CMD, "encode: standard output: %s", strerror(errno));
		goto out;
	}
	if (stats)
		fprintf(stderr, "kiln tokenizer: %zu bytes, %zu tokens, %.3f "
			"bytes/token, encoded in %.3f s (%.1f MB/s)\n", len,
			nids, nids ? (double)len / nids : 0.0, t1 - t0,
			t1 > t0 ? len / 1e6 / (t1 - t0) : 0.0);
	rc = 0;
out:
	free(ids);
	free(data);
	kiln_tok_free(tok);
	return rc;
}

/* --- decode --------------------------------------------------------------- */

static int cmd_decode(int argc, char **argv)
{
	struct tok_args a = { 0 };
	const char *tokpath, *input = "-", *name;
	kiln_tok *tok = NULL;
	kiln_error err;
	FILE *f = NULL;
	char word[24];
	size_t wl = 0, nth = 0;
	int rc, npos;

	if ((rc = tok_parse(&tok_decode, argc, argv, &a, &npos)) != CLI_GO)
		return rc;
	rc = 1;
	tokpath = a.tok;
	if (npos > 1) {
		cli_error(CMD, "decode: expected at most one INPUT");
		return 2;
	}
	if (npos == 1)
		input = argv[1];
	if (kiln_tok_load(&tok, tokpath, &err)) {
		cli_error(CMD, "decode: %s", err.msg);
		return 1;
	}
	f = strcmp(input, "-") == 0 ? stdin : fopen(input, "rb");
	name = f == stdin ? "standard input" : input;
	if (!f) {
		cli_error(CMD, "decode: %s: %s", input, strerror(errno));
		goto out;
	}
	/* one id a word; a word is digits only, at most 7 of them */
	for (;;) {
		int ch = getc(f);
		if (ch == EOF || ch == ' ' || (ch >= '\t' && ch <= '\r')) {
			const unsigned char *piece;
			size_t plen;
			long id;

			if (wl > 0) {
				word[wl] = '\0';
				nth++;
				id = strtol(word, NULL, 10);
				if (wl > 7 || strspn(word, "0123456789") != wl ||
				    !(piece = kiln_tok_piece(tok, (int)id,
							     &plen))) {
					cli_error(CMD, "decode: %s: word %zu: "
						  "'%s' is not an id (0..%d)",
						  name, nth, word,
						  kiln_tok_vocab(tok) - 1);
					goto out;
				}
				fwrite(piece, 1, plen, stdout);
				wl = 0;
			}
			if (ch == EOF)
				break;
			continue;
		}
		if (wl < sizeof(word) - 1)
			word[wl++] = (char)ch;
		else
			wl = sizeof(word) - 1; /* too long: reported above */
	}
	if (ferror(f)) {
		cli_error(CMD, "decode: %s: read error", name);
		goto out;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_error(CMD, "decode: standard output: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (f && f != stdin)
		fclose(f);
	kiln_tok_free(tok);
	return rc;
}

/* --- info ------------------------------------------------------------------- */

static int cmd_info(int argc, char **argv)
{
	struct tok_args a = { 0 };
	const char *tokpath;
	kiln_tok *tok = NULL;
	unsigned char *ser = NULL;
	size_t serlen, maxlen = 0, sum = 0, hist[KILN_TOK_MAX_CHUNK + 1] = { 0 };
	json_t *o = NULL, *first, *lens;
	kiln_error err;
	int rc, n, npos;

	if ((rc = tok_parse(&tok_info, argc, argv, &a, &npos)) != CLI_GO)
		return rc;
	rc = 1;
	tokpath = a.tok;
	if (npos) {
		cli_error(CMD, "info: unexpected arguments");
		return 2;
	}
	if (kiln_tok_load(&tok, tokpath, &err) ||
	    kiln_tok_serialize(tok, &ser, &serlen, &err)) {
		cli_error(CMD, "info: %s", err.msg);
		goto out;
	}
	n = kiln_tok_eot(tok);
	for (int id = 0; id < n; id++) {
		size_t l;
		kiln_tok_piece(tok, id, &l);
		sum += l;
		hist[l]++;
		if (l > maxlen)
			maxlen = l;
	}
	first = json_array();
	for (int i = 0; i < kiln_tok_merges(tok) && i < 20; i++) {
		size_t l;
		const unsigned char *p = kiln_tok_piece(tok, 256 + i, &l);
		json_t *js = json_stringn((const char *)p, l);
		if (js)
			json_array_append_new(first, js);
	}
	lens = json_object();
	for (size_t l = 1; l <= maxlen; l++)
		if (hist[l]) {
			char k[8];
			snprintf(k, sizeof(k), "%zu", l);
			json_object_set_new(lens, k, json_integer((json_int_t)hist[l]));
		}
	o = json_pack("{s:s, s:s, s:b, s:i, s:i, s:i, s:I, s:I, s:f, s:o, s:o}",
		      "path", tokpath, "format", "KILNTOK1",
		      "split_digits",
		      kiln_tok_pretok(tok) == KILN_TOK_PRETOK_DIGITS,
		      "vocab", kiln_tok_vocab(tok),
		      "merges", kiln_tok_merges(tok), "eot", n,
		      "file_bytes", (json_int_t)serlen,
		      "longest_token_bytes", (json_int_t)maxlen,
		      "mean_token_bytes", n ? (double)sum / n : 0.0,
		      "token_bytes_histogram", lens,
		      "first_merges", first);
	/* to a full stdout: an error, not exit 0 */
	rc = cli_print_json(CMD ": info", o, JSON_COMPACT |
			    JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
out:
	json_decref(o);
	free(ser);
	kiln_tok_free(tok);
	return rc;
}

const cli_cmd cli_tokenizer = {
	.name = CMD, .run = run_tokenizer,
	.summary = "train, use and inspect a byte-level BPE tokenizer",
	.subs = tok_cmds,
	.synopsis = "usage: kiln tokenizer <command> [options]",
	.about =
"Byte-level BPE for the small GPT: ids 0..255 are bytes, then the learnt\n"
"merges, then end-of-text as the last id. Every byte sequence encodes, and\n"
"decoding gives it back exactly. File format: docs/FORMATS.md.\n",
	.after = "Run 'kiln tokenizer <command> --help' for its options.\n",
};
