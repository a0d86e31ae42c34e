/* kiln train: train the small GPT on code files or JSONL records. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "kiln/progress.h"
#include "kiln/train.h"

struct train_args {
	kiln_train_opts o;
	const char *data[1024];
	int ndata;
	double lr, min_lr, wd, clip;
	long long warmup;
	int quiet;
};

#define A struct train_args
static const kiln_opt train_opts[] = {
	KILN_OPT_ROW_GROUP("data:"),
	KILN_OPT_ROW_STRINGS("data", 0, A, data, ndata, "PATH",
		"a file or directory (repeatable; or positional)"),
	KILN_OPT_ROW_STRING("ext", 0, A, o.ext, "SUFFIX",
		"in directories, only files ending so (e.g. .py)"),
	{ .name = "tok", .kind = KILN_OPT_PATH, .arg = "FILE|bytes",
	  KILN_OPT_F_(A, o.tokenizer), .def = "bytes",
	  .help = "tokenizer from 'kiln tokenizer train', or the plain byte "
		  "tokenizer" },
	{ .name = "val-fraction", .kind = KILN_OPT_DOUBLE, .arg = "F",
	  KILN_OPT_F_(A, o.val_fraction), .dlo = 0, .dhi = 0.9, .def = "0.05",
	  .flags = KILN_OPT_LO_OPEN, /* the library reads 0 as 0.05 */
	  .help = "documents held out for validation" },
	{ .name = "max-bytes", .kind = KILN_OPT_SIZE, .arg = "SIZE",
	  KILN_OPT_F_(A, o.max_bytes), .lo = 1, .hi = 1LL << 50, .def = "1G",
	  .help = "read at most this much data" },
	KILN_OPT_ROW_GROUP("model (ignored with --resume: the checkpoint's "
			   "own):"),
	KILN_OPT_ROW_INT("layers", 0, A, o.cfg.n_layer, 1, 256, "N",
		"transformer blocks"),
	KILN_OPT_ROW_INT("heads", 0, A, o.cfg.n_head, 1, 256, "N",
		"attention heads"),
	KILN_OPT_ROW_INT("d-model", 0, A, o.cfg.d_model, 1, 16384, "N",
		"width, a multiple of --heads"),
	KILN_OPT_ROW_INT("ctx", 0, A, o.cfg.n_ctx, 1, 65536, "N",
		"context length"),
	KILN_OPT_ROW_GROUP("training (ignored with --resume, except --steps):"),
	KILN_OPT_ROW_INT("steps", 0, A, o.steps, 1, 1000000000, "N",
		"total AdamW steps"),
	KILN_OPT_ROW_INT("batch", 0, A, o.batch, 1, 65536, "N",
		"sequences per step"),
	{ .name = "seq", .kind = KILN_OPT_INT, .arg = "N",
	  KILN_OPT_F_(A, o.seq), .lo = 1, .hi = 65536, .def = "--ctx",
	  .help = "tokens per sequence" },
	KILN_OPT_ROW_DOUBLE("lr", 0, A, lr, 0, 10, "X", "peak learning rate"),
	{ .name = "min-lr", .kind = KILN_OPT_DOUBLE, .arg = "X",
	  KILN_OPT_F_(A, min_lr), .dlo = 0, .dhi = 10, .def = "lr/10",
	  .help = "final learning rate" },
	{ .name = "warmup", .kind = KILN_OPT_INT, .arg = "N",
	  KILN_OPT_F_(A, warmup), .lo = 0, .hi = 1000000000,
	  .def = "min(100, steps/10)", .help = "linear warm-up steps" },
	KILN_OPT_ROW_DOUBLE("weight-decay", 0, A, wd, 0, 10, "X",
		"AdamW decay on matrices and embeddings"),
	KILN_OPT_ROW_DOUBLE("clip", 0, A, clip, 0, 1e9, "X",
		"global gradient-norm clip, 0 = off"),
	KILN_OPT_ROW_INT("seed", 0, A, o.seed, 0, CLI_MAX_SEED, "N",
		"weights and data order"),
	KILN_OPT_ROW_FLAG("no-pack", 0, A, o.no_pack,
		"each chat sample in windows of its own (default: short "
		"samples packed several a window, each at positions 0.. of its "
		"own, attending only to itself)"),
	KILN_OPT_ROW_INT("eval-every", 0, A, o.eval_every, 0, 1000000000, "N",
		"validation loss every N steps, 0 = only at the end"),
	KILN_OPT_ROW_INT("eval-batches", 0, A, o.eval_batches, 0, 100000, "N",
		"batches per validation, 0 = none"),
	KILN_OPT_ROW_GROUP("checkpoints:"),
	KILN_OPT_ROW_PATH("output", 'o', A, o.out, "FILE",
		"the checkpoint (weights, tokenizer, optimizer state); "
		"written atomically"),
	{ .name = "save-every", .kind = KILN_OPT_INT, .arg = "N",
	  KILN_OPT_F_(A, o.save_every), .lo = 0, .hi = 1000000000,
	  .help = "also every N steps; 0 = at the end only" },
	KILN_OPT_ROW_PATH("resume", 0, A, o.resume, "FILE",
		"continue the run saved in FILE exactly (same data; --steps "
		"may extend it)"),
	KILN_OPT_ROW_INT("threads", 0, A, o.threads, 0, 1024, "N",
		"threads; 0 = one per core"),
	CLI_OPT_QUIET(A, quiet, "no progress line"),
	KILN_OPT_ROW_END,
};
#undef A

static volatile int stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* On a terminal the progress line; elsewhere a log of its own (a line
 * every 10% of the steps). */
struct prog {
	kiln_progress line;
};

static void on_progress(void *ctx, const kiln_train_progress *p)
{
	struct prog *g = ctx;
	char val[32] = "";
	double eta;

	if (g->line.quiet)
		return;
	if (p->event == KILN_TRAIN_DATA) {
		/* data events carry no time: one line a file, as read */
		if (kiln_progress_due(&g->line, p->seconds, 1))
			kiln_progress_show(&g->line, "reading data: %llu files, "
					   "%.1f MB", (unsigned long long)p->files,
					   p->bytes / 1e6);
		return;
	}
	if (p->event == KILN_TRAIN_EVAL || p->event == KILN_TRAIN_SAVE) {
		kiln_progress_clear(&g->line);
		if (p->event == KILN_TRAIN_EVAL)
			fprintf(stderr, "step %llu: train loss %.4f, validation loss %.4f\n",
				(unsigned long long)p->step, p->loss, p->val_loss);
		return;
	}
	if (!g->line.tty) {
		/* a log: one line every 10% */
		uint64_t every = p->steps >= 10 ? p->steps / 10 : 1;

		if (p->step % every && p->step != p->steps)
			return;
		fprintf(stderr, "step %llu/%llu  loss %.4f  lr %.2e  %.0f tok/s  "
			"%.0f counted/s\n", (unsigned long long)p->step,
			(unsigned long long)p->steps, p->loss, p->lr,
			p->tokens_per_s, p->counted_per_s);
		return;
	}
	if (!kiln_progress_due(&g->line, p->seconds, p->step == p->steps))
		return;
	if (!isnan(p->val_loss))
		snprintf(val, sizeof val, "  val %.4f", p->val_loss);
	eta = p->tokens_per_s > 0 && p->step ?
		p->seconds / p->step * (p->steps - p->step) : 0;
	kiln_progress_show(&g->line, "step %llu/%llu  loss %.4f%s  lr %.2e  "
			   "|g| %.2f  %.0f tok/s  ETA %.0fs",
			   (unsigned long long)p->step,
			   (unsigned long long)p->steps, p->loss, val, p->lr,
			   p->grad_norm, p->tokens_per_s, eta);
}

static int run_train(int argc, char **argv)
{
	struct train_args a;
	kiln_train_opts o;
	kiln_train_result r;
	kiln_error err = { 0 };
	struct prog prog = { 0 };
	const char **data = NULL;
	int nd = 0, rc, npos;
	struct sigaction sa = { 0 };

	memset(&a, 0, sizeof(a));
	a.o.cfg = (kiln_gpt_config){ .n_layer = 4, .n_head = 4, .d_model = 128,
				     .n_ctx = 256 };
	a.o.batch = 16, a.o.steps = 1000, a.o.seed = 1;
	a.o.eval_every = 100, a.o.eval_batches = 8;
	a.o.hp = kiln_adamw_defaults();
	a.lr = 1e-3, a.min_lr = -1, a.warmup = -1;
	a.wd = a.o.hp.weight_decay, a.clip = a.o.hp.grad_clip;
	if ((rc = cli_parse(&cli_train, argc, argv, &a, sizeof a, &npos)) !=
	    CLI_GO)
		return rc;
	o = a.o;
	o.hp.weight_decay = (float)a.wd;
	o.hp.grad_clip = (float)a.clip;
	data = calloc((size_t)(a.ndata + npos) + 1, sizeof *data);
	if (!data) {
		cli_error("train", "out of memory");
		return 1;
	}
	for (int i = 0; i < a.ndata; i++)
		data[nd++] = a.data[i];
	for (int i = 0; i < npos; i++)
		data[nd++] = argv[1 + i];
	if (!nd) {
		cli_error("train", "no data: give files or directories (--data PATH)");
		goto usage;
	}
	if (!o.out) {
		cli_error("train", "no output: give -o MODEL.bin");
		goto usage;
	}
	if (o.cfg.d_model % o.cfg.n_head) {
		cli_error("train", "--d-model %d is not a multiple of --heads %d",
			  o.cfg.d_model, o.cfg.n_head);
		goto usage;
	}
	if (o.seq > o.cfg.n_ctx) {
		cli_error("train", "--seq %d is longer than --ctx %d", o.seq,
			  o.cfg.n_ctx);
		goto usage;
	}
	o.data = data, o.ndata = nd;
	o.lr = (float)a.lr;
	o.min_lr = (float)(a.min_lr >= 0 ? a.min_lr : a.lr / 10);
	o.warmup = a.warmup >= 0 ? (uint64_t)a.warmup :
		   (o.steps / 10 < 100 ? o.steps / 10 : 100);
	o.stop = &stop_flag;
	kiln_progress_init(&prog.line, stderr, a.quiet, 0.2, 0);
	o.progress = on_progress;
	o.progress_ctx = &prog;
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	rc = kiln_train_run(&o, &r, &err);
	kiln_progress_clear(&prog.line);
	if (rc) {
		cli_error("train", "%s", err.msg);
		free(data);
		return 1;
	}
	if (!a.quiet)
		fprintf(stderr,
			"trained %llu steps (%llu this run) in %.1fs: %.0f tokens/s "
			"(%.0f counted by the loss); "
			"train loss %.4f, validation loss %.4f, unigram entropy %.4f%s\n"
			"saved %s\n",
			(unsigned long long)r.step,
			(unsigned long long)r.steps_this_run, r.seconds,
			r.tokens_per_s, r.counted_per_s, r.train_loss, r.val_loss,
			r.unigram_entropy, r.interrupted ? " (interrupted)" : "",
			o.out);
	{
		json_t *j = json_pack(
			"{s:I, s:I, s:f, s:f, s:I, s:b, s:o, s:o, s:f, s:f, s:I, "
			"s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:I, s:I, s:I, s:b, "
			"s:s}",
			"steps", (json_int_t)r.step,
			"steps_this_run", (json_int_t)r.steps_this_run,
			"tokens_per_s", r.tokens_per_s,
			"counted_per_s", r.counted_per_s,
			"counted_tokens", (json_int_t)r.counted,
			"packed", r.packed,
			"train_loss", isnan(r.train_loss) ? json_null() :
					json_real(r.train_loss),
			"val_loss", isnan(r.val_loss) ? json_null() :
					json_real(r.val_loss),
			"unigram_entropy", r.unigram_entropy,
			"seconds", r.seconds,
			"params", (json_int_t)r.n_params,
			"layers", r.cfg.n_layer, "heads", r.cfg.n_head,
			"d_model", r.cfg.d_model, "ctx", r.cfg.n_ctx,
			"vocab", r.cfg.vocab, "batch", r.batch, "seq", r.seq,
			"train_tokens", (json_int_t)r.data.tokens[0],
			"val_tokens", (json_int_t)r.data.tokens[1],
			"docs", (json_int_t)r.data.docs,
			"interrupted", r.interrupted, "output", o.out);

		/* the summary is the result: not written, not a success */
		if (cli_print_json("train", j, JSON_COMPACT)) {
			json_decref(j);
			free(data);
			return 1;
		}
		json_decref(j);
	}
	free(data);
	return r.interrupted ? 130 : 0;
usage:
	fputs("Run 'kiln train --help' for the options.\n", stderr);
	free(data);
	return 2;
}

const cli_cmd cli_train = {
	.name = "train", .run = run_train, .opts = train_opts,
	.summary = "train the small GPT on code files or chat samples (CPU)",
	.omp = CLI_OMP_PASSIVE,
	.synopsis = "usage: kiln train [options] -o MODEL.bin PATH...",
	.about =
"Trains a small GPT (docs/MODEL.md) from scratch on the CPU. Each PATH is a\n"
"file or a directory (walked recursively): code files are documents as they\n"
"are; .jsonl(.gz) files hold records with \"messages\" (chat samples, kiln\n"
"export), \"prompt\"+\"solution\" (tasks, candidates) or \"text\". Chat samples\n"
"train on the answer only, each from position 0 as it is served; short ones\n"
"are packed several to a window, each attending only to itself (--no-pack:\n"
"one a window, padded). Prints a progress line on stderr and, at the end,\n"
"one JSON summary on stdout (counted_per_s: answer tokens trained a second).\n",
	.after = "Ctrl-C (SIGINT) or SIGTERM stops after the current step (at "
		 "once during a\nvalidation) and saves. -o FILE is checked "
		 "before training; /dev/null or a\nFIFO gets the last "
		 "checkpoint, streamed.\n",
};
