/* A whole training run (kiln_train_run in kiln/train.h): data, model,
 * schedule, evaluation and resumable checkpoints. */
#include "kiln/train.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kiln/output.h"
#include "kiln/tokenizer.h"

/* Training-state blob inside a checkpoint (docs/FORMATS.md), little-endian:
 *   0 "KILNTRS1"  8 version (1)  12 header size (128)
 *  16 step  24 data cursor  32 seed  40 total steps  48 warm-up   (u64)
 *  56 B  60 T                                                      (u32)
 *  64 lr  68 min_lr  72 beta1  76 beta2  80 eps  84 weight decay
 *  88 grad clip                                                    (f32)
 *  92 chat samples packed (u32: 1 packed, 0 each in windows of its own, as
 *     every checkpoint before packing, whose field was reserved, says)
 *  96 data fingerprint  104 n_params                               (u64)
 * 112 reserved up to 128, then Adam's m and v, n_params f32 each. */
#define TRS_MAGIC "KILNTRS1"
#define TRS_HEADER 128

typedef struct train_state {
	uint64_t step, cursor, seed, steps, warmup, fingerprint, n_params;
	uint32_t B, T, pack;
	float lr, min_lr;
	kiln_adamw hp;
} train_state;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void put(unsigned char *p, const void *v, size_t n)
{
	memcpy(p, v, n); /* little-endian host (CMakeLists.txt checks) */
}

static int state_save(kiln_blob *b, const train_state *s, kiln_trainer *tr)
{
	size_t np = s->n_params;
	unsigned char *p = calloc(1, TRS_HEADER + 2 * np * sizeof(float));
	uint32_t ver = 1, hdr = TRS_HEADER;

	if (!p)
		return KILN_ENOMEM;
	memcpy(p, TRS_MAGIC, 8);
	put(p + 8, &ver, 4), put(p + 12, &hdr, 4);
	put(p + 16, &s->step, 8), put(p + 24, &s->cursor, 8);
	put(p + 32, &s->seed, 8), put(p + 40, &s->steps, 8);
	put(p + 48, &s->warmup, 8);
	put(p + 56, &s->B, 4), put(p + 60, &s->T, 4);
	put(p + 64, &s->lr, 4), put(p + 68, &s->min_lr, 4);
	put(p + 72, &s->hp.beta1, 4), put(p + 76, &s->hp.beta2, 4);
	put(p + 80, &s->hp.eps, 4), put(p + 84, &s->hp.weight_decay, 4);
	put(p + 88, &s->hp.grad_clip, 4), put(p + 92, &s->pack, 4);
	put(p + 96, &s->fingerprint, 8), put(p + 104, &s->n_params, 8);
	memcpy(p + TRS_HEADER, kiln_train_moment(tr, 1), np * sizeof(float));
	memcpy(p + TRS_HEADER + np * sizeof(float), kiln_train_moment(tr, 2),
	       np * sizeof(float));
	b->data = p;
	b->len = TRS_HEADER + 2 * np * sizeof(float);
	return 0;
}

/* The most steps a run may have: far beyond any run (2^40), and small
 * enough that step counts stay exact in a double and in JSON. */
#define MAX_STEPS (1ULL << 40)

/* A number read from a file is checked before it is used: a learning rate,
 * a beta or a step count out of range trains to nonsense (or divides by
 * zero in the bias correction) without a word. Names the field. */
static int bad_field(const char *path, const char *field, double v,
		     const char *want, kiln_error *err)
{
	return kiln_error_set(err, KILN_EPARSE, "%s: training state: %s is %g "
			      "(must be %s); a damaged or foreign checkpoint?",
			      path, field, v, want);
}

static int state_check(const train_state *s, const float *moments,
		       const char *path, kiln_error *err)
{
	const struct { const char *name; float v, lo, hi; int lo_open, hi_open;
		       const char *want; } f[] = {
		{ "lr", s->lr, 0, 10, 0, 0, "in [0, 10]" },
		{ "min_lr", s->min_lr, 0, 10, 0, 0, "in [0, 10]" },
		{ "beta1", s->hp.beta1, 0, 1, 0, 1, "in [0, 1)" },
		{ "beta2", s->hp.beta2, 0, 1, 0, 1, "in [0, 1)" },
		{ "eps", s->hp.eps, 0, 1, 1, 0, "in (0, 1]" },
		{ "weight_decay", s->hp.weight_decay, 0, 10, 0, 0,
		  "in [0, 10]" },
		{ "grad_clip", s->hp.grad_clip, 0, 1e9f, 0, 0,
		  "in [0, 1e9]" },
	};

	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
		float v = f[i].v;

		/* written so that NaN fails every comparison */
		if (!(isfinite(v) && (f[i].lo_open ? v > f[i].lo : v >= f[i].lo)
		      && (f[i].hi_open ? v < f[i].hi : v <= f[i].hi)))
			return bad_field(path, f[i].name, v, f[i].want, err);
	}
	if (s->steps < 1 || s->steps > MAX_STEPS)
		return kiln_error_set(err, KILN_EPARSE, "%s: training state: "
				      "total steps is %llu (must be in [1, "
				      "2^40])", path,
				      (unsigned long long)s->steps);
	if (s->step > s->steps)
		return kiln_error_set(err, KILN_EPARSE, "%s: training state: "
				      "step %llu is past the total steps %llu",
				      path, (unsigned long long)s->step,
				      (unsigned long long)s->steps);
	if (s->warmup > MAX_STEPS)
		return kiln_error_set(err, KILN_EPARSE, "%s: training state: "
				      "warmup is %llu steps (must be at most "
				      "2^40)", path,
				      (unsigned long long)s->warmup);
	/* Adam's moments: m finite, v finite and >= 0 (its square root is
	 * taken) */
	for (uint64_t i = 0; i < 2 * s->n_params; i++) {
		float v = moments[i];

		if (!isfinite(v) || (i >= s->n_params && v < 0))
			return kiln_error_set(err, KILN_EPARSE, "%s: training "
				"state: Adam's %s moment %llu is %g (must be "
				"finite%s)", path, i < s->n_params ? "first" :
				"second", (unsigned long long)(i % s->n_params),
				v, i < s->n_params ? "" : " and >= 0");
	}
	return 0;
}

/* Reads the header of a state blob; the moments stay in the blob. */
static int state_load(train_state *s, const kiln_blob *b, size_t n_params,
		      const char *path, kiln_error *err)
{
	const unsigned char *p = b->data;
	uint32_t ver, hdr;

	if (b->len < TRS_HEADER || memcmp(p, TRS_MAGIC, 8))
		return kiln_error_set(err, KILN_EPARSE,
			"%s: no training state in this checkpoint (a model for inference only?)",
			path);
	memcpy(&ver, p + 8, 4), memcpy(&hdr, p + 12, 4);
	if (ver != 1 || hdr != TRS_HEADER)
		return kiln_error_set(err, KILN_EPARSE,
				      "%s: training state version %u: expected 1",
				      path, ver);
	memcpy(&s->step, p + 16, 8), memcpy(&s->cursor, p + 24, 8);
	memcpy(&s->seed, p + 32, 8), memcpy(&s->steps, p + 40, 8);
	memcpy(&s->warmup, p + 48, 8);
	memcpy(&s->B, p + 56, 4), memcpy(&s->T, p + 60, 4);
	memcpy(&s->lr, p + 64, 4), memcpy(&s->min_lr, p + 68, 4);
	memcpy(&s->hp.beta1, p + 72, 4), memcpy(&s->hp.beta2, p + 76, 4);
	memcpy(&s->hp.eps, p + 80, 4), memcpy(&s->hp.weight_decay, p + 84, 4);
	memcpy(&s->hp.grad_clip, p + 88, 4), memcpy(&s->pack, p + 92, 4);
	memcpy(&s->fingerprint, p + 96, 8), memcpy(&s->n_params, p + 104, 8);
	if (s->n_params != n_params ||
	    b->len != TRS_HEADER + 2 * n_params * sizeof(float))
		return kiln_error_set(err, KILN_EPARSE,
			"%s: training state is %zu bytes, but the model has %zu parameters",
			path, b->len, n_params);
	if (s->B < 1 || s->T < 1 || s->B > (1u << 20) || s->T > (1u << 20))
		return kiln_error_set(err, KILN_EPARSE,
				      "%s: training state: bad batch %u x %u", path,
				      s->B, s->T);
	if (s->pack > 1)
		return bad_field(path, "pack", s->pack, "0 or 1", err);
	return state_check(s, (const float *)((const char *)b->data +
					      TRS_HEADER), path, err);
}

/* Copies the file at from into the stream at to (kiln/output.h). */
static int copy_to_stream(const char *from, const char *to, kiln_error *err)
{
	kiln_output *out = NULL;
	char buf[1 << 16];
	int fd = open(from, O_RDONLY | O_CLOEXEC), rc;
	ssize_t n;

	if (fd < 0)
		return kiln_error_set(err, KILN_EIO, "%s: %s", from,
				      strerror(errno));
	rc = kiln_output_open(&out, to, err);
	while (!rc && (n = read(fd, buf, sizeof buf)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = kiln_error_set(err, KILN_EIO, "%s: %s", from,
					    strerror(errno));
		else
			rc = kiln_output_write(out, buf, (size_t)n, err);
	}
	close(fd);
	if (rc)
		kiln_output_abort(out);
	else
		rc = kiln_output_commit(out, err);
	return rc;
}

/* Writes the checkpoint by kiln's rule for outputs (kiln/output.h): a
 * regular file (a link to one followed) is replaced atomically; anything
 * else (/dev/null, a FIFO) is streamed to, never replaced: the checkpoint
 * is written to a private temporary directory and copied there, whole or
 * not at all. */
static int save(const kiln_train_opts *o, const kiln_gpt *m,
		const kiln_blob *tokb, const train_state *s, kiln_trainer *tr,
		kiln_error *err)
{
	kiln_blob st = { 0 };
	char *target = NULL, tmpdir[] = "/tmp/kiln-ckpt-XXXXXX", tmp[64];
	int stream, rc = state_save(&st, s, tr);

	if (rc)
		return kiln_error_set(err, rc, "checkpoint: out of memory");
	rc = kiln_output_resolve(o->out, &stream, &target, err);
	if (rc)
		goto out;
	if (!stream) {
		rc = kiln_gpt_save(target, m, tokb, &st, err);
		goto out;
	}
	if (!mkdtemp(tmpdir)) {
		rc = kiln_error_set(err, KILN_EIO, "%s: a temporary directory "
				    "in /tmp: %s", o->out, strerror(errno));
		goto out;
	}
	snprintf(tmp, sizeof tmp, "%s/checkpoint.bin", tmpdir);
	rc = kiln_gpt_save(tmp, m, tokb, &st, err);
	if (!rc)
		rc = copy_to_stream(tmp, o->out, err);
	unlink(tmp);
	rmdir(tmpdir);
out:
	free(target);
	free(st.data);
	return rc;
}

/* Is a stop asked for? */
static int stopping(const kiln_train_opts *o)
{
	return o->stop && *o->stop;
}

/* Mean validation loss over the first `batches` batches of the validation
 * split (the same ones every time, so evaluations compare). */
static float evaluate(const kiln_train_opts *o, kiln_trainer *tr,
		      kiln_dataset *d, int B, int T, int batches, int *in,
		      int *tg, int *pos)
{
	uint64_t cursor = 0;
	double sum = 0;
	int done = 0;

	if (!kiln_data_windows(d, KILN_SPLIT_VAL, T))
		return NAN;
	for (int i = 0; i < batches; i++) {
		/* a stop is acted on here too: a validation can be long */
		if (stopping(o))
			return NAN;
		if (kiln_data_batch(d, KILN_SPLIT_VAL, &cursor, 0, B, T, in, tg,
				    pos, NULL))
			return NAN;
		sum += kiln_train_forward_pos(tr, in, tg, pos);
		done++;
	}
	return done ? (float)(sum / done) : NAN;
}

static void report(const kiln_train_opts *o, kiln_train_progress *p)
{
	if (o->progress)
		o->progress(o->progress_ctx, p);
}

static void data_progress(void *ctx, uint64_t files, uint64_t bytes)
{
	const kiln_train_opts *o = ctx;
	kiln_train_progress p = { .event = KILN_TRAIN_DATA, .files = files,
				  .bytes = bytes, .loss = NAN,
				  .val_loss = NAN };
	report(o, &p);
}

int kiln_train_run(const kiln_train_opts *o, kiln_train_result *res,
		   kiln_error *err)
{
	kiln_tok *tok = NULL;
	kiln_blob tokb = { 0 }, stb = { 0 };
	kiln_gpt *m = NULL;
	kiln_dataset *d = NULL;
	kiln_trainer *tr = NULL;
	train_state s = { 0 };
	int *in = NULL, *tg = NULL, *pos = NULL, rc, out_stream = 0;
	uint64_t counted = 0;
	float losses[10];
	int nloss = 0;
	double t0 = now(), train_secs = 0;
	kiln_train_progress pr = { .loss = NAN, .val_loss = NAN };
	kiln_data_opts dopt = { .ext = o->ext, .val_fraction = o->val_fraction,
				.max_bytes = o->max_bytes,
				.progress = data_progress,
				.progress_ctx = (void *)o };

	memset(res, 0, sizeof *res);
	res->val_loss = NAN;
	if (!o->out)
		return kiln_error_set(err, KILN_EINVAL, "no output checkpoint");
	/* The output is checked before any work: a missing or read-only
	 * directory used to fail only after the whole run. The checkpoint
	 * may replace the one resumed from (read whole first), but no data
	 * file and not the tokenizer. */
	if ((rc = kiln_output_check(o->out, err)))
		return rc;
	{
		/* a stream (/dev/null, a FIFO) gets one checkpoint, the last:
		 * --save-every would concatenate several */
		char *target = NULL;

		rc = kiln_output_resolve(o->out, &out_stream, &target, err);
		free(target);
		if (rc)
			return rc;
	}
	for (int i = 0; i < o->ndata; i++)
		if ((rc = kiln_output_check_distinct(o->out, o->data[i],
						     "a data path", err)))
			return rc;
	if (o->tokenizer && !o->resume &&
	    (rc = kiln_output_check_distinct(o->out, o->tokenizer,
					     "the tokenizer", err)))
		return rc;
	kiln_model_threads(o->threads);

	/* the model and tokenizer: resumed, or new */
	if (o->resume) {
		rc = kiln_model_open(o->resume, &m, &tok, &tokb, &stb, err);
		if (rc)
			goto out;
		rc = state_load(&s, &stb, m->n_params, o->resume, err);
		if (rc)
			goto out;
		if (s.T > (uint32_t)m->cfg.n_ctx) {
			rc = kiln_error_set(err, KILN_EPARSE, "%s: training "
				"state: sequence length %u is longer than the "
				"model's context %d", o->resume, s.T,
				m->cfg.n_ctx);
			goto out;
		}
		if (o->steps > s.steps)
			s.steps = o->steps; /* a run may be extended */
	} else {
		kiln_gpt_config cfg = o->cfg;

		if (!o->tokenizer || !strcmp(o->tokenizer, "bytes"))
			rc = kiln_tok_bytes(&tok, err);
		else
			rc = kiln_tok_load(&tok, o->tokenizer, err);
		if (rc)
			goto out;
		rc = kiln_tok_serialize(tok, (unsigned char **)&tokb.data,
					&tokb.len, err);
		if (rc)
			goto out;
		cfg.vocab = kiln_tok_vocab(tok);
		rc = kiln_gpt_new(&m, &cfg, o->seed, err);
		if (rc)
			goto out;
		s.seed = o->seed, s.steps = o->steps, s.warmup = o->warmup;
		s.B = (uint32_t)o->batch;
		s.T = (uint32_t)(o->seq ? o->seq : cfg.n_ctx);
		s.lr = o->lr, s.min_lr = o->min_lr, s.hp = o->hp;
		s.pack = !o->no_pack;
		s.n_params = m->n_params;
	}
	rc = kiln_trainer_new(&tr, m, (int)s.B, (int)s.T, err);
	if (rc)
		goto out;
	if (o->resume) {
		memcpy(kiln_train_moment(tr, 1), (char *)stb.data + TRS_HEADER,
		       m->n_params * sizeof(float));
		memcpy(kiln_train_moment(tr, 2),
		       (char *)stb.data + TRS_HEADER + m->n_params * sizeof(float),
		       m->n_params * sizeof(float));
		kiln_train_set_step(tr, s.step);
		free(stb.data);
		stb.data = NULL;
	}

	/* the data */
	dopt.no_pack = !s.pack;
	rc = kiln_data_load(&d, tok, o->data, o->ndata, &dopt, err);
	if (rc)
		goto out;
	if (o->resume && kiln_data_fingerprint(d) != s.fingerprint) {
		rc = kiln_error_set(err, KILN_EINVAL,
			"%s: the data differs from the run this checkpoint comes from",
			o->resume);
		goto out;
	}
	s.fingerprint = kiln_data_fingerprint(d);
	kiln_data_stats_get(d, &res->data);
	res->unigram_entropy = kiln_data_unigram_entropy(d);
	if (!kiln_data_windows(d, KILN_SPLIT_TRAIN, (int)s.T)) {
		rc = kiln_error_set(err, KILN_EINVAL,
			"data: %llu training tokens: fewer than one window of %u",
			(unsigned long long)res->data.tokens[0], s.T + 1);
		goto out;
	}
	in = malloc((size_t)s.B * s.T * sizeof *in);
	tg = malloc((size_t)s.B * s.T * sizeof *tg);
	pos = malloc((size_t)s.B * s.T * sizeof *pos);
	if (!in || !tg || !pos) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		goto out;
	}

	pr.steps = s.steps;
	while (s.step < s.steps && !(o->stop && *o->stop)) {
		double ts = now();
		uint64_t at = s.step;
		float lr;

		/* a time limit: the schedule follows whichever of the steps
		 * and the time is further along, so a run the clock ends has
		 * still decayed its learning rate */
		if (o->time_limit_s > 0) {
			double f = (ts - t0) / o->time_limit_s;

			if (f >= 1) {
				res->time_limited = 1;
				break;
			}
			if (f * (double)s.steps > (double)at)
				at = (uint64_t)(f * (double)s.steps);
		}
		lr = kiln_lr_schedule(at, s.warmup, s.steps, s.lr, s.min_lr);

		rc = kiln_data_batch(d, KILN_SPLIT_TRAIN, &s.cursor, s.seed,
				     (int)s.B, (int)s.T, in, tg, pos, err);
		if (rc)
			goto out;
		for (size_t i = 0; i < (size_t)s.B * s.T; i++)
			counted += tg[i] >= 0;
		pr.loss = kiln_train_forward_pos(tr, in, tg, pos);
		kiln_train_backward(tr);
		pr.grad_norm = kiln_train_adamw(tr, &s.hp, lr);
		s.step++;
		res->steps_this_run++;
		train_secs += now() - ts;
		losses[nloss++ % 10] = pr.loss;
		pr.event = KILN_TRAIN_STEP, pr.step = s.step, pr.lr = lr;
		pr.tokens_per_s = (double)res->steps_this_run * s.B * s.T /
				  train_secs;
		pr.counted_per_s = (double)counted / train_secs;
		pr.seconds = now() - t0;
		report(o, &pr);
		if (!isfinite(pr.loss)) {
			rc = kiln_error_set(err, KILN_EINVAL,
				"step %llu: the loss is %f (diverged; lower --lr?)",
				(unsigned long long)s.step, pr.loss);
			goto out;
		}
		if (o->eval_every && o->eval_batches > 0 &&
		    s.step % o->eval_every == 0 && s.step < s.steps) {
			float v = evaluate(o, tr, d, (int)s.B, (int)s.T,
					   o->eval_batches, in, tg, pos);

			if (!stopping(o)) { /* a cut-short one says nothing */
				pr.val_loss = v;
				pr.event = KILN_TRAIN_EVAL;
				report(o, &pr);
			}
		}
		if (o->save_every && s.step % o->save_every == 0 &&
		    s.step < s.steps && !stopping(o) && !out_stream) {
			rc = save(o, m, &tokb, &s, tr, err);
			if (rc)
				goto out;
			pr.event = KILN_TRAIN_SAVE, pr.path = o->out;
			report(o, &pr);
		}
	}
	/* The last validation: not when stopped (it would delay the save
	 * that the stop asked for). */
	if (o->eval_batches > 0 && !stopping(o)) {
		float v = evaluate(o, tr, d, (int)s.B, (int)s.T,
				   o->eval_batches, in, tg, pos);

		if (!stopping(o)) {
			pr.val_loss = v;
			pr.event = KILN_TRAIN_EVAL;
			report(o, &pr);
		}
	}
	rc = save(o, m, &tokb, &s, tr, err);
	if (rc)
		goto out;
	pr.event = KILN_TRAIN_SAVE, pr.path = o->out;
	report(o, &pr);

	res->step = s.step;
	res->interrupted = s.step < s.steps;
	{
		int k = nloss < 10 ? nloss : 10;
		double sum = 0;

		for (int i = 0; i < k; i++)
			sum += losses[i];
		res->train_loss = k ? (float)(sum / k) : NAN;
	}
	res->val_loss = pr.val_loss;
	res->tokens_per_s = train_secs > 0 ?
		(double)res->steps_this_run * s.B * s.T / train_secs : 0;
	res->counted = counted;
	res->counted_per_s = train_secs > 0 ? (double)counted / train_secs : 0;
	res->packed = (int)s.pack;
	res->seconds = now() - t0;
	res->n_params = m->n_params;
	res->cfg = m->cfg;
	res->batch = (int)s.B, res->seq = (int)s.T;
out:
	free(in), free(tg), free(pos);
	free(tokb.data), free(stb.data);
	kiln_trainer_free(tr);
	kiln_data_free(d);
	kiln_gpt_free(m);
	kiln_tok_free(tok);
	return rc;
}
