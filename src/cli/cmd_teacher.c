/* kiln teacher-train: the embedded default teacher (docs/RUN.md, "The
 * default teacher").
 *
 * Bank tasks of the train split (kiln/bank.h: no held-out parameter value
 * or composition ever appears; --split train-template: no held-out
 * template) are rendered with the same built-in templates kiln generate
 * sends (kiln_template_default "solution" and "tests"), each into two chat
 * samples: the solution request -> a fenced reference solution, and the
 * tests request -> a fenced block of assert lines made from the task's own
 * hidden I/O tests (edge cases first, then the smallest random inputs).
 * The tasks: every depth-1 task of --depth1-seeds seeds (the same
 * operations in other phrasings, wordings and examples: the curriculum
 * that teaches each template), then --tasks tasks of depth <= --depth. A
 * BPE tokenizer is trained on those samples, then a small GPT on them
 * (kiln_train_run: chat samples train on the answer only, packed). The
 * result is an ordinary checkpoint for kiln serve, written atomically; the
 * same options (and thread count) give the same file. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "kiln/bank.h"
#include "kiln/output.h"
#include "kiln/progress.h"
#include "kiln/template.h"
#include "kiln/tokenizer.h"
#include "kiln/train.h"

struct teacher_args {
	const char *out;
	long long tasks, seed, steps;
	int depth, d1_seeds, split, vocab, layers, heads, d_model, ctx, batch, threads;
	int ntests, tests_every, quiet, hold_phrasing, split_digits;
	int param_scale;
	double minutes, lr;
	const char *keep;
};

static const char *const teacher_splits[] = { "train", "train-template",
					       NULL };

#define A struct teacher_args
static const kiln_opt teacher_opts[] = {
	KILN_OPT_ROW_PATH("output", 'o', A, out, "FILE",
		"the checkpoint (for kiln serve -m); written atomically"),
	KILN_OPT_ROW_GROUP("data (bank tasks of the train split):"),
	KILN_OPT_ROW_INT("tasks", 'n', A, tasks, 1, 1000000, "N",
		"bank tasks; each gives a solution and a tests sample"),
	KILN_OPT_ROW_INT("depth", 'd', A, depth, 1, KILN_BANK_MAX_DEPTH, "N",
		"the most stages a task composes"),
	KILN_OPT_ROW_INT("depth1-seeds", 0, A, d1_seeds, 0, 1000, "K",
		"also every depth-1 task of the split from K seeds (seed, "
		"seed+1, ...; about 7,100 each at --param-scale 10, 970 at "
		"1: the same operations with other constants, phrasings, "
		"wordings and examples)"),
	KILN_OPT_ROW_ENUM("split", 0, A, split, teacher_splits, "SPLIT",
		"train (held-out parameter values and compositions left out) "
		"or train-template (held-out templates left out; "
		"docs/BANK.md)"),
	KILN_OPT_ROW_INT("seed", 's', A, seed, 0, CLI_MAX_SEED, "N",
		"the bank's stream, the weights and the data order"),
	KILN_OPT_ROW_INT("param-scale", 0, A, param_scale, 1, 1000, "S",
		"the bank's parameter ranges S times as wide (kiln bank "
		"--param-scale): many constants per template, so that the "
		"model must copy the prompt's"),
	KILN_OPT_ROW_INT("tests-per-task", 0, A, ntests, 1, 32, "N",
		"assert lines in a tests answer (edge cases first)"),
	KILN_OPT_ROW_INT("tests-every", 0, A, tests_every, 1, 1000, "N",
		"a tests sample for every N-th task (every task has its "
		"solution sample)"),
	{ .name = "hold-out-phrasing", .kind = KILN_OPT_INT, .arg = "K",
	  KILN_OPT_F_(A, hold_phrasing), .lo = -1, .hi = 3, .def = "none",
	  .help = "leave out tasks of phrasing frame K (to measure unseen "
		  "phrasings)" },
	KILN_OPT_ROW_PATH("keep-data", 0, A, keep, "DIR",
		"also keep the samples and tokenizer in DIR"),
	KILN_OPT_ROW_GROUP("model and training:"),
	KILN_OPT_ROW_INT("vocab", 0, A, vocab, 300, 65536, "N",
		"BPE vocabulary"),
	KILN_OPT_ROW_FLAG("split-digits", 0, A, split_digits,
		"a tokenizer with every digit a token of its own (kiln "
		"tokenizer train --split-digits); not the default: it did not "
		"raise pass@1 (docs/RUN.md)"),
	KILN_OPT_ROW_INT("layers", 0, A, layers, 1, 64, "N", "transformer blocks"),
	KILN_OPT_ROW_INT("heads", 0, A, heads, 1, 64, "N", "attention heads"),
	KILN_OPT_ROW_INT("d-model", 0, A, d_model, 8, 4096, "N", "width"),
	KILN_OPT_ROW_INT("ctx", 0, A, ctx, 64, 8192, "N",
		"context (the longest prompt + answer must fit)"),
	KILN_OPT_ROW_INT("batch", 0, A, batch, 1, 4096, "N",
		"sequences per step"),
	KILN_OPT_ROW_INT("steps", 0, A, steps, 1, 100000000, "N",
		"AdamW steps (the result is a function of the options)"),
	KILN_OPT_ROW_DOUBLE("lr", 0, A, lr, 0, 1, "X", "peak learning rate"),
	KILN_OPT_ROW_DOUBLE("minutes", 0, A, minutes, 0, 1e6, "M",
		"stop training after M minutes even if steps remain, the "
		"learning rate decayed by then (0: no limit); such a run "
		"depends on the machine"),
	KILN_OPT_ROW_INT("threads", 0, A, threads, 0, 1024, "N",
		"threads; 0 = one per core (the same count gives the same "
		"model)"),
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

/* ----------------------------------------------------------- samples */

static json_t *chat(const char *user, const char *assistant)
{
	return json_pack("{s:[{s:s, s:s}, {s:s, s:s}]}", "messages", "role",
			 "user", "content", user, "role", "assistant",
			 "content", assistant);
}

static int append(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t n = strlen(s);

	if (*len + n + 1 > *cap) {
		size_t c = (*cap ? *cap * 2 : 1 << 16);
		char *p;

		while (c < *len + n + 1)
			c *= 2;
		if (!(p = realloc(*buf, c)))
			return -1;
		*buf = p, *cap = c;
	}
	memcpy(*buf + *len, s, n + 1);
	*len += n;
	return 0;
}

/* The tests answer: the first hidden tests (the bank's edge cases), then
 * the random ones with the shortest calls, n in all, as asserts. */
static char *tests_answer(const json_t *task, int n)
{
	const json_t *tests = json_object_get(task, "tests");
	size_t nt = json_array_size(tests), len = 0, cap = 0;
	char *buf = NULL, line[4096];
	int used[256] = { 0 }, k = 0, nedge = 4;

	if (append(&buf, &len, &cap, "```python\n"))
		return NULL;
	if (nt > 256)
		nt = 256;
	while (k < n && k < (int)nt) {
		int best = -1;
		size_t bl = 0;

		for (size_t i = 0; i < nt; i++) {
			const char *c = json_string_value(json_object_get(
				json_array_get(tests, i), "call"));
			size_t l = c ? strlen(c) : 0;

			if (used[i] || !c)
				continue;
			if (k < nedge) { /* in order: the edge cases */
				best = (int)i;
				break;
			}
			if (best < 0 || l < bl)
				best = (int)i, bl = l;
		}
		if (best < 0)
			break;
		used[best] = 1;
		{
			const json_t *t = json_array_get(tests, (size_t)best);
			const char *c = json_string_value(
				json_object_get(t, "call"));
			const char *e = json_string_value(
				json_object_get(t, "expect"));

			if (!c || !e)
				continue;
			snprintf(line, sizeof line, "assert %s == %s\n", c, e);
			if (append(&buf, &len, &cap, line))
				goto oom;
		}
		k++;
	}
	if (append(&buf, &len, &cap, "```"))
		goto oom;
	return buf;
oom:
	free(buf);
	return NULL;
}

/* One bank task into its two chat samples, written to f, their text
 * appended to the corpus (for the tokenizer). */
static int task_samples(const struct teacher_args *a, json_t *task,
			int tests, FILE *f, char **corpus, size_t *corpus_len,
			size_t *cap, kiln_error *err)
{
	const char *tsol = kiln_template_default("solution");
	const char *ttest = kiln_template_default("tests");
	const char *sol = json_string_value(json_object_get(task,
							    "solution"));
	char *p1 = NULL, *p2 = NULL, *ans1 = NULL, *ans2 = NULL;
	json_t *s1 = NULL, *s2 = NULL;
	int rc = 0;

	p1 = kiln_template_render(tsol, task, err);
	p2 = p1 && tests ? kiln_template_render(ttest, task, err) : NULL;
	ans2 = tests ? tests_answer(task, a->ntests) : NULL;
	if (p1 && (p2 || !tests) && sol && (ans2 || !tests) &&
	    (ans1 = malloc(strlen(sol) + 16))) {
		sprintf(ans1, "```python\n%s```", sol);
		s1 = chat(p1, ans1);
		s2 = tests ? chat(p2, ans2) : NULL;
	}
	if (!p1 || (tests && !p2))
		rc = err->code ? err->code : KILN_ENOMEM;
	else if (!s1 || (tests && !s2) ||
		 json_dumpf(s1, f, JSON_COMPACT) || fputc('\n', f) < 0 ||
		 append(corpus, corpus_len, cap, p1) ||
		 append(corpus, corpus_len, cap, "\n") ||
		 append(corpus, corpus_len, cap, ans1) ||
		 append(corpus, corpus_len, cap, "\n") ||
		 (tests &&
		  (json_dumpf(s2, f, JSON_COMPACT) || fputc('\n', f) < 0 ||
		   append(corpus, corpus_len, cap, p2) ||
		   append(corpus, corpus_len, cap, "\n") ||
		   append(corpus, corpus_len, cap, ans2) ||
		   append(corpus, corpus_len, cap, "\n"))))
		rc = kiln_error_set(err, KILN_EIO, "writing the samples");
	json_decref(s1);
	json_decref(s2);
	free(p1);
	free(p2);
	free(ans1);
	free(ans2);
	return rc;
}

/* Up to n tasks of one bank stream (all it has when it runs out first)
 * into samples; *ntasks counts them. */
static int stream_samples(const struct teacher_args *a, long long seed,
			  int depth, long long n, FILE *f, char **corpus,
			  size_t *corpus_len, size_t *cap, long long *ntasks,
			  long long *nsamples, kiln_error *err)
{
	kiln_bank_opts bo = kiln_bank_opts_default();
	kiln_bank *b = NULL;
	int rc;

	bo.n = 100000000;
	bo.seed = seed;
	bo.depth = depth;
	bo.param_scale = a->param_scale;
	bo.split = a->split ? KILN_BANK_TRAIN_TEMPLATE : KILN_BANK_TRAIN;
	if ((rc = kiln_bank_open(&b, &bo, err)))
		return rc;
	for (long long i = 0; i < n && !rc;) {
		json_t *task = NULL;
		json_int_t ph;

		if ((rc = kiln_bank_next(b, &task, err))) {
			if (rc == KILN_ELIMIT && i > 0)
				rc = 0; /* the templates ran out: what we have */
			break;
		}
		ph = json_integer_value(json_object_get(
			json_object_get(task, "bank"), "phrasing"));
		if (a->hold_phrasing < 0 || ph != a->hold_phrasing) {
			int tests = *ntasks % a->tests_every == 0;

			i++;
			rc = task_samples(a, task, tests, f, corpus,
					  corpus_len, cap, err);
			(*ntasks)++;
			*nsamples += 1 + tests;
		}
		json_decref(task);
	}
	kiln_bank_close(b);
	return rc;
}

/* Writes the chat samples to path, and their text (for the tokenizer) to
 * *corpus: the depth-1 tasks of --depth1-seeds seeds, then --tasks tasks
 * of depth <= --depth. */
static int make_samples(const struct teacher_args *a, const char *path,
			char **corpus, size_t *corpus_len, long long *ntasks,
			long long *nsamples, kiln_error *err)
{
	FILE *f = fopen(path, "w");
	size_t cap = 0;
	int rc = 0;

	*corpus = NULL, *corpus_len = 0, *ntasks = 0, *nsamples = 0;
	if (!f)
		return kiln_error_set(err, KILN_EIO, "%s: %s", path,
				      strerror(errno));
	for (int j = 0; j < a->d1_seeds && !rc; j++)
		rc = stream_samples(a, a->seed + j, 1, 100000000, f, corpus,
				    corpus_len, &cap, ntasks, nsamples, err);
	if (!rc)
		rc = stream_samples(a, a->seed, a->depth, a->tasks, f, corpus,
				    corpus_len, &cap, ntasks, nsamples, err);
	if (fclose(f) && !rc)
		rc = kiln_error_set(err, KILN_EIO, "%s: %s", path,
				    strerror(errno));
	return rc;
}

/* ---------------------------------------------------------- progress */

struct prog {
	kiln_progress line;
	double limit_s;   /* --minutes in seconds; 0: none */
};

static int on_tok(void *ctx, const kiln_tok_train_stats *st)
{
	struct prog *g = ctx;

	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (kiln_progress_due(&g->line, (double)ts.tv_sec + ts.tv_nsec / 1e9,
			      0))
		kiln_progress_show(&g->line, "tokenizer: %d/%d merges",
				   st->merges, st->merges_wanted);
	return stop_flag;
}

static void on_train(void *ctx, const kiln_train_progress *p)
{
	struct prog *g = ctx;
	double eta;
	int w = 30, fill;
	char bar[64];

	if (p->event != KILN_TRAIN_STEP)
		return;
	if (g->line.quiet)
		return;
	if (!g->line.tty) {
		uint64_t every = p->steps >= 10 ? p->steps / 10 : 1;

		if (p->step % every && p->step != p->steps)
			return;
		fprintf(stderr, "kiln teacher-train: step %llu/%llu  loss "
			"%.4f  %.0fs\n", (unsigned long long)p->step,
			(unsigned long long)p->steps, p->loss, p->seconds);
		return;
	}
	if (!kiln_progress_due(&g->line, p->seconds, p->step == p->steps))
		return;
	fill = p->steps ? (int)((double)w * p->step / p->steps) : w;
	eta = p->step ? p->seconds / p->step * (p->steps - p->step) : 0;
	if (g->limit_s > 0 && g->limit_s - p->seconds < eta) {
		/* the clock ends it first (kiln_train_opts.time_limit_s) */
		eta = g->limit_s > p->seconds ? g->limit_s - p->seconds : 0;
		fill = (int)((double)w * p->seconds / g->limit_s);
	}
	if (fill > w)
		fill = w;
	for (int i = 0; i < w; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[w] = '\0';
	kiln_progress_show(&g->line, "training the teacher [%s] %llu/%llu  "
			   "loss %.3f  %.0fs, ETA %.0fs", bar,
			   (unsigned long long)p->step,
			   (unsigned long long)p->steps, p->loss, p->seconds,
			   eta);
}

/* -------------------------------------------------------------- main */

static int rm_rf_dir(const char *dir, const char *const *names, int n)
{
	char p[4096];

	for (int i = 0; i < n; i++) {
		snprintf(p, sizeof p, "%s/%s", dir, names[i]);
		unlink(p);
	}
	return rmdir(dir);
}

static int run_teacher(int argc, char **argv)
{
	struct teacher_args a;
	kiln_error err = { 0 };
	struct prog prog = { 0 };
	struct sigaction sa = { 0 };
	kiln_tok_train_opts to = { 0 };
	kiln_tok *tok = NULL;
	kiln_train_opts o;
	kiln_train_result r;
	char dir[3800], samples[4200], tokp[4200], *corpus = NULL;
	const char *tmp = getenv("TMPDIR");
	const char *names[] = { "samples.jsonl", "tokenizer.bin" };
	const char *data[1];
	size_t corpus_len = 0;
	long long ntasks = 0, nsamples = 0;
	int rc, npos, status = 1;

	memset(&a, 0, sizeof a);
	a.tasks = 3000, a.seed = 1, a.depth = 2, a.ntests = 5;
	a.tests_every = 2;
	a.d1_seeds = 1;
	a.param_scale = 10;
	a.hold_phrasing = -1;
	a.vocab = 1024, a.layers = 4, a.heads = 4, a.d_model = 128;
	a.ctx = 384, a.batch = 4, a.steps = 3000, a.lr = 2e-3;
	a.minutes = 10;
	if ((rc = cli_parse(&cli_teacher, argc, argv, &a, sizeof a, &npos)) !=
	    CLI_GO)
		return rc;
	if (npos) {
		cli_error("teacher-train", "no operands expected");
		return 2;
	}
	if (!a.out) {
		cli_error("teacher-train", "no output: give -o MODEL.bin");
		return 2;
	}
	if (a.d_model % a.heads) {
		cli_error("teacher-train", "--d-model %d is not a multiple of "
			  "--heads %d", a.d_model, a.heads);
		return 2;
	}
	if (kiln_output_check(a.out, &err)) {
		cli_error("teacher-train", "%s", err.msg);
		return 1;
	}
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	kiln_progress_init(&prog.line, stderr, a.quiet, 0.2, 0);

	if (a.keep) {
		snprintf(dir, sizeof dir, "%s", a.keep);
		if (mkdir(dir, 0777) && errno != EEXIST) {
			cli_error("teacher-train", "%s: %s", dir,
				  strerror(errno));
			return 1;
		}
	} else {
		snprintf(dir, sizeof dir, "%s/kiln-teacher-XXXXXX",
			 tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(dir)) {
			cli_error("teacher-train", "mkdtemp %s: %s", dir,
				  strerror(errno));
			return 1;
		}
	}
	snprintf(samples, sizeof samples, "%s/%s", dir, names[0]);
	snprintf(tokp, sizeof tokp, "%s/%s", dir, names[1]);

	/* 1. the samples */
	if (!a.quiet)
		fprintf(stderr, "kiln teacher-train: the depth-1 tasks of %d "
			"seeds and %lld tasks of depth <= %d (seed %lld, %s "
			"split)\n", a.d1_seeds, a.tasks, a.depth, a.seed,
			teacher_splits[a.split]);
	if (make_samples(&a, samples, &corpus, &corpus_len, &ntasks, &nsamples,
			 &err)) {
		cli_error("teacher-train", "samples: %s", err.msg);
		goto out;
	}
	/* 2. the tokenizer */
	to.progress = on_tok;
	to.progress_ctx = &prog;
	to.split_digits = a.split_digits;
	if (kiln_tok_train_mem(&tok, a.vocab, corpus, corpus_len, &to, &err) ||
	    kiln_tok_save(tok, tokp, &err)) {
		kiln_progress_clear(&prog.line);
		cli_error("teacher-train", "tokenizer: %s", err.msg);
		goto out;
	}
	kiln_progress_clear(&prog.line);
	free(corpus);
	corpus = NULL;
	if (!a.quiet)
		fprintf(stderr, "kiln teacher-train: %lld chat samples, "
			"tokenizer of %d ids\n", nsamples,
			kiln_tok_vocab(tok));
	/* 3. the model */
	memset(&o, 0, sizeof o);
	data[0] = samples;
	o.data = data, o.ndata = 1;
	o.val_fraction = 0.01;
	o.tokenizer = tokp;
	o.cfg = (kiln_gpt_config){ .n_layer = a.layers, .n_head = a.heads,
				   .d_model = a.d_model, .n_ctx = a.ctx };
	o.out = a.out;
	o.batch = a.batch;
	o.steps = (uint64_t)a.steps;
	o.warmup = o.steps / 20 < 100 ? o.steps / 20 : 100;
	o.lr = (float)a.lr;
	o.min_lr = (float)a.lr / 10;
	o.hp = kiln_adamw_defaults();
	o.seed = (uint64_t)a.seed;
	o.threads = a.threads;
	o.stop = &stop_flag;
	o.time_limit_s = prog.limit_s = a.minutes * 60;
	o.progress = on_train;
	o.progress_ctx = &prog;
	memset(&r, 0, sizeof r);
	rc = kiln_train_run(&o, &r, &err);
	kiln_progress_clear(&prog.line);
	if (rc) {
		cli_error("teacher-train", "%s", err.msg);
		goto out;
	}
	if (r.interrupted && !r.time_limited) {
		cli_error("teacher-train", "stopped by a signal after %llu "
			  "steps; %s holds that model", (unsigned long long)
			  r.step, a.out);
		status = 130;
		goto out;
	}
	if (!a.quiet)
		fprintf(stderr, "kiln teacher-train: %llu steps in %.1fs%s, "
			"%zu parameters, train loss %.4f; saved %s\n",
			(unsigned long long)r.step, r.seconds,
			r.time_limited ? " (stopped by --minutes)" : "",
			r.n_params, r.train_loss, a.out);
	{
		json_t *j = json_pack(
			"{s:s, s:I, s:I, s:I, s:b, s:f, s:o, s:o, s:I, s:i, "
			"s:i, s:i, s:i, s:i, s:I}",
			"output", a.out, "tasks", (json_int_t)ntasks,
			"samples", (json_int_t)nsamples,
			"steps", (json_int_t)r.step,
			"stopped_by_time", r.time_limited,
			"seconds", r.seconds,
			"train_loss", isnan(r.train_loss) ? json_null() :
				json_real(r.train_loss),
			"val_loss", isnan(r.val_loss) ? json_null() :
				json_real(r.val_loss),
			"params", (json_int_t)r.n_params,
			"layers", r.cfg.n_layer, "heads", r.cfg.n_head,
			"d_model", r.cfg.d_model, "ctx", r.cfg.n_ctx,
			"vocab", r.cfg.vocab,
			"train_tokens", (json_int_t)r.data.tokens[0]);

		if (cli_print_json("teacher-train", j, JSON_COMPACT)) {
			json_decref(j);
			goto out;
		}
		json_decref(j);
	}
	status = 0;
out:
	free(corpus);
	kiln_tok_free(tok);
	if (!a.keep)
		rm_rf_dir(dir, names, 2);
	return status;
}

const cli_cmd cli_teacher = {
	.name = "teacher-train", .run = run_teacher, .opts = teacher_opts,
	.summary = "train the default teacher on bank tasks (CPU)",
	.omp = CLI_OMP_PASSIVE,
	.synopsis = "usage: kiln teacher-train [options] -o MODEL.bin",
	.about =
"Trains the small default teacher that 'kiln run' uses when no teacher is\n"
"configured (docs/RUN.md, \"The default teacher\"). Bank tasks of the train\n"
"split (docs/BANK.md: no held-out parameter value or composition; the\n"
"depth-1 tasks of several seeds, then deeper ones) are rendered with kiln\n"
"generate's built-in solution and tests templates into chat samples (a\n"
"fenced reference solution; a fenced block of assert lines from the\n"
"task's own tests, edge cases first), a BPE tokenizer is trained on them,\n"
"then a small GPT (docs/MODEL.md). The same options and thread count give\n"
"the same file. Prints a progress line on stderr and one JSON summary on\n"
"stdout.\n",
	.after = "Serve the result with 'kiln serve -m MODEL.bin'.\n",
};
