/* kiln train: train the small GPT on code files or JSONL records. */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "kiln/train.h"

static const char help[] =
"usage: kiln train [options] -o MODEL.bin PATH...\n"
"\n"
"Trains a small GPT (docs/MODEL.md) from scratch on the CPU. Each PATH is a\n"
"file or a directory (walked recursively): code files are documents as they\n"
"are; .jsonl(.gz) files hold records with \"messages\" (chat samples, kiln\n"
"export), \"prompt\"+\"solution\" (tasks, candidates) or \"text\". Chat samples\n"
"train on the answer only. Prints a progress line on stderr and, at the end,\n"
"one JSON summary on stdout.\n"
"\n"
"data:\n"
"      --data PATH          a file or directory (repeatable; or positional)\n"
"      --ext SUFFIX         in directories, only files ending so (e.g. .py)\n"
"      --tok FILE|bytes     tokenizer from 'kiln tokenizer train', or the plain\n"
"                           byte tokenizer (default: bytes)\n"
"      --val-fraction F     documents held out for validation (0.05)\n"
"      --max-bytes SIZE     read at most this much data (1G)\n"
"model (ignored with --resume: the checkpoint's own):\n"
"      --layers N           transformer blocks (4)\n"
"      --heads N            attention heads (4)\n"
"      --d-model N          width, a multiple of --heads (128)\n"
"      --ctx N              context length (256)\n"
"training (ignored with --resume, except --steps):\n"
"      --steps N            total AdamW steps (1000)\n"
"      --batch N            sequences per step (16)\n"
"      --seq N              tokens per sequence (--ctx)\n"
"      --lr X               peak learning rate (1e-3)\n"
"      --min-lr X           final learning rate (lr/10)\n"
"      --warmup N           linear warm-up steps (min(100, steps/10))\n"
"      --weight-decay X     AdamW decay on matrices and embeddings (0.1)\n"
"      --clip X             global gradient-norm clip, 0 = off (1.0)\n"
"      --seed N             weights and data order (1)\n"
"      --eval-every N       validation loss every N steps, 0 = only at the\n"
"                           end (100)\n"
"      --eval-batches N     batches per validation, 0 = none (8)\n"
"checkpoints:\n"
"  -o, --output FILE        the checkpoint (weights, tokenizer, optimizer\n"
"                           state); written atomically\n"
"      --save-every N       also every N steps (0 = at the end only)\n"
"      --resume FILE        continue the run saved in FILE exactly (same data;\n"
"                           --steps may extend it)\n"
"      --threads N          threads (0 = one per core)\n"
"  -q, --quiet              no progress line\n"
"  -h, --help               this text\n"
"\n"
"Ctrl-C (SIGINT) or SIGTERM stops after the current step and saves.\n";

static volatile int stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

struct prog {
	int tty, quiet;
	double last;
};

static void on_progress(void *ctx, const kiln_train_progress *p)
{
	struct prog *g = ctx;
	char val[32] = "";
	double eta;

	if (g->quiet)
		return;
	if (p->event == KILN_TRAIN_DATA) {
		if (g->tty && p->seconds - g->last >= 0)
			fprintf(stderr, "\rreading data: %llu files, %.1f MB  ",
				(unsigned long long)p->files, p->bytes / 1e6);
		return;
	}
	if (p->event == KILN_TRAIN_EVAL || p->event == KILN_TRAIN_SAVE) {
		if (g->tty)
			fputs("\r\033[K", stderr);
		if (p->event == KILN_TRAIN_EVAL)
			fprintf(stderr, "step %llu: train loss %.4f, validation loss %.4f\n",
				(unsigned long long)p->step, p->loss, p->val_loss);
		return;
	}
	if (!g->tty) {
		/* a log: one line every 10% */
		uint64_t every = p->steps >= 10 ? p->steps / 10 : 1;

		if (p->step % every && p->step != p->steps)
			return;
		fprintf(stderr, "step %llu/%llu  loss %.4f  lr %.2e  %.0f tok/s\n",
			(unsigned long long)p->step,
			(unsigned long long)p->steps, p->loss, p->lr,
			p->tokens_per_s);
		return;
	}
	if (p->seconds - g->last < 0.2 && p->step != p->steps)
		return;
	g->last = p->seconds;
	if (!isnan(p->val_loss))
		snprintf(val, sizeof val, "  val %.4f", p->val_loss);
	eta = p->tokens_per_s > 0 && p->step ?
		p->seconds / p->step * (p->steps - p->step) : 0;
	fprintf(stderr, "\r\033[Kstep %llu/%llu  loss %.4f%s  lr %.2e  |g| %.2f  %.0f tok/s  ETA %.0fs",
		(unsigned long long)p->step, (unsigned long long)p->steps,
		p->loss, val, p->lr, p->grad_norm, p->tokens_per_s, eta);
}

static int parse_int(const char *s, long lo, long hi, long *v)
{
	char *end;

	*v = strtol(s, &end, 10);
	return *s && !*end && *v >= lo && *v <= hi ? 0 : -1;
}

static int parse_float(const char *s, double lo, double hi, double *v)
{
	char *end;

	*v = strtod(s, &end);
	return *s && !*end && isfinite(*v) && *v >= lo && *v <= hi ? 0 : -1;
}

enum { O_DATA = 256, O_EXT, O_TOK, O_VAL, O_MAXB, O_LAYERS, O_HEADS, O_DMODEL,
       O_CTX, O_STEPS, O_BATCH, O_SEQ, O_LR, O_MINLR, O_WARMUP, O_WD, O_CLIP,
       O_SEED, O_EVAL, O_EVALB, O_SAVE, O_RESUME, O_THREADS };

int cmd_train(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, O_DATA },
		{ "ext", required_argument, NULL, O_EXT },
		{ "tok", required_argument, NULL, O_TOK },
		{ "val-fraction", required_argument, NULL, O_VAL },
		{ "max-bytes", required_argument, NULL, O_MAXB },
		{ "layers", required_argument, NULL, O_LAYERS },
		{ "heads", required_argument, NULL, O_HEADS },
		{ "d-model", required_argument, NULL, O_DMODEL },
		{ "ctx", required_argument, NULL, O_CTX },
		{ "steps", required_argument, NULL, O_STEPS },
		{ "batch", required_argument, NULL, O_BATCH },
		{ "seq", required_argument, NULL, O_SEQ },
		{ "lr", required_argument, NULL, O_LR },
		{ "min-lr", required_argument, NULL, O_MINLR },
		{ "warmup", required_argument, NULL, O_WARMUP },
		{ "weight-decay", required_argument, NULL, O_WD },
		{ "clip", required_argument, NULL, O_CLIP },
		{ "seed", required_argument, NULL, O_SEED },
		{ "eval-every", required_argument, NULL, O_EVAL },
		{ "eval-batches", required_argument, NULL, O_EVALB },
		{ "save-every", required_argument, NULL, O_SAVE },
		{ "resume", required_argument, NULL, O_RESUME },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "output", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	kiln_train_opts o = { 0 };
	kiln_train_result r;
	kiln_error err = { 0 };
	struct prog prog = { 0 };
	const char **data = calloc((size_t)argc + 1, sizeof *data);
	double lr = 1e-3, min_lr = -1, x;
	long warmup = -1, v;
	int c, nd = 0, rc;
	struct sigaction sa = { 0 };

	if (!data)
		return 1;
	o.cfg = (kiln_gpt_config){ .n_layer = 4, .n_head = 4, .d_model = 128,
				   .n_ctx = 256 };
	o.batch = 16, o.steps = 1000, o.seed = 1;
	o.eval_every = 100, o.eval_batches = 8;
	o.hp = kiln_adamw_defaults();
#define INT(lo, hi, dst, name) do { \
		if (parse_int(optarg, lo, hi, &v)) { \
			cli_error("train", "--%s %s: expected an integer %ld..%ld", \
				  name, optarg, (long)(lo), (long)(hi)); \
			goto usage; \
		} \
		dst = v; \
	} while (0)
#define FLT(lo, hi, dst, name) do { \
		if (parse_float(optarg, lo, hi, &x)) { \
			cli_error("train", "--%s %s: expected a number in %g..%g", \
				  name, optarg, (double)(lo), (double)(hi)); \
			goto usage; \
		} \
		dst = x; \
	} while (0)
	while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
		switch (c) {
		case O_DATA: data[nd++] = optarg; break;
		case O_EXT: o.ext = optarg; break;
		case O_TOK: o.tokenizer = optarg; break;
		case O_VAL: FLT(0.0, 0.9, o.val_fraction, "val-fraction"); break;
		case O_MAXB: {
			long long b = cli_parse_size(optarg);

			if (b <= 0) {
				cli_error("train", "--max-bytes %s: expected a size such as 64M",
					  optarg);
				goto usage;
			}
			o.max_bytes = (uint64_t)b;
			break;
		}
		case O_LAYERS: INT(1, 256, o.cfg.n_layer, "layers"); break;
		case O_HEADS: INT(1, 256, o.cfg.n_head, "heads"); break;
		case O_DMODEL: INT(1, 16384, o.cfg.d_model, "d-model"); break;
		case O_CTX: INT(1, 65536, o.cfg.n_ctx, "ctx"); break;
		case O_STEPS: INT(1, 1000000000L, o.steps, "steps"); break;
		case O_BATCH: INT(1, 65536, o.batch, "batch"); break;
		case O_SEQ: INT(1, 65536, o.seq, "seq"); break;
		case O_LR: FLT(0.0, 10.0, lr, "lr"); break;
		case O_MINLR: FLT(0.0, 10.0, min_lr, "min-lr"); break;
		case O_WARMUP: INT(0, 1000000000L, warmup, "warmup"); break;
		case O_WD: FLT(0.0, 10.0, o.hp.weight_decay, "weight-decay"); break;
		case O_CLIP: FLT(0.0, 1e9, o.hp.grad_clip, "clip"); break;
		case O_SEED: INT(0, 0x7fffffffL, o.seed, "seed"); break;
		case O_EVAL: INT(0, 1000000000L, o.eval_every, "eval-every"); break;
		case O_EVALB: INT(0, 100000, o.eval_batches, "eval-batches"); break;
		case O_SAVE: INT(0, 1000000000L, o.save_every, "save-every"); break;
		case O_RESUME: o.resume = optarg; break;
		case O_THREADS: INT(0, 1024, o.threads, "threads"); break;
		case 'o': o.out = optarg; break;
		case 'q': prog.quiet = 1; break;
		case 'h':
			fputs(help, stdout);
			free(data);
			return 0;
		default:
			goto usage;
		}
	}
#undef INT
#undef FLT
	while (optind < argc)
		data[nd++] = argv[optind++];
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
	o.lr = (float)lr;
	o.min_lr = (float)(min_lr >= 0 ? min_lr : lr / 10);
	o.warmup = warmup >= 0 ? (uint64_t)warmup :
		   (o.steps / 10 < 100 ? o.steps / 10 : 100);
	o.stop = &stop_flag;
	prog.tty = isatty(STDERR_FILENO);
	o.progress = on_progress;
	o.progress_ctx = &prog;
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	rc = kiln_train_run(&o, &r, &err);
	if (prog.tty && !prog.quiet)
		fputs("\r\033[K", stderr);
	if (rc) {
		cli_error("train", "%s", err.msg);
		free(data);
		return 1;
	}
	if (!prog.quiet)
		fprintf(stderr,
			"trained %llu steps (%llu this run) in %.1fs: %.0f tokens/s; "
			"train loss %.4f, validation loss %.4f, unigram entropy %.4f%s\n"
			"saved %s\n",
			(unsigned long long)r.step,
			(unsigned long long)r.steps_this_run, r.seconds,
			r.tokens_per_s, r.train_loss, r.val_loss,
			r.unigram_entropy, r.interrupted ? " (interrupted)" : "",
			o.out);
	{
		json_t *j = json_pack(
			"{s:I, s:I, s:f, s:f, s:o, s:f, s:f, s:I, s:i, s:i, s:i, "
			"s:i, s:i, s:i, s:i, s:I, s:I, s:I, s:b, s:s}",
			"steps", (json_int_t)r.step,
			"steps_this_run", (json_int_t)r.steps_this_run,
			"tokens_per_s", r.tokens_per_s,
			"train_loss", (double)r.train_loss,
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

		if (j) {
			json_dumpf(j, stdout, JSON_COMPACT);
			putchar('\n');
			json_decref(j);
		}
	}
	free(data);
	return r.interrupted ? 130 : 0;
usage:
	fputs("Run 'kiln train --help' for the options.\n", stderr);
	free(data);
	return 2;
}
