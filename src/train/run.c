/* A whole training run (kiln_train_run in kiln/train.h): data, model,
 * schedule, evaluation and resumable checkpoints. */
#include "kiln/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln/tokenizer.h"

/* Training-state blob inside a checkpoint (docs/FORMATS.md), little-endian:
 *   0 "KILNTRS1"  8 version (1)  12 header size (128)
 *  16 step  24 data cursor  32 seed  40 total steps  48 warm-up   (u64)
 *  56 B  60 T                                                      (u32)
 *  64 lr  68 min_lr  72 beta1  76 beta2  80 eps  84 weight decay
 *  88 grad clip                                                    (f32)
 *  92 reserved (u32)  96 data fingerprint  104 n_params            (u64)
 * 112 reserved up to 128, then Adam's m and v, n_params f32 each. */
#define TRS_MAGIC "KILNTRS1"
#define TRS_HEADER 128

typedef struct train_state {
	uint64_t step, cursor, seed, steps, warmup, fingerprint, n_params;
	uint32_t B, T;
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
	put(p + 88, &s->hp.grad_clip, 4);
	put(p + 96, &s->fingerprint, 8), put(p + 104, &s->n_params, 8);
	memcpy(p + TRS_HEADER, kiln_train_moment(tr, 1), np * sizeof(float));
	memcpy(p + TRS_HEADER + np * sizeof(float), kiln_train_moment(tr, 2),
	       np * sizeof(float));
	b->data = p;
	b->len = TRS_HEADER + 2 * np * sizeof(float);
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
	memcpy(&s->hp.grad_clip, p + 88, 4);
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
	return 0;
}

static int save(const kiln_train_opts *o, const kiln_gpt *m,
		const kiln_blob *tokb, const train_state *s, kiln_trainer *tr,
		kiln_error *err)
{
	kiln_blob st = { 0 };
	int rc = state_save(&st, s, tr);

	if (rc)
		return kiln_error_set(err, rc, "checkpoint: out of memory");
	rc = kiln_gpt_save(o->out, m, tokb, &st, err);
	free(st.data);
	return rc;
}

/* Mean validation loss over the first `batches` batches of the validation
 * split (the same ones every time, so evaluations compare). */
static float evaluate(kiln_trainer *tr, kiln_dataset *d, int B, int T,
		      int batches, int *in, int *tg)
{
	uint64_t cursor = 0;
	double sum = 0;
	int done = 0;

	if (!kiln_data_windows(d, KILN_SPLIT_VAL, T))
		return NAN;
	for (int i = 0; i < batches; i++) {
		if (kiln_data_batch(d, KILN_SPLIT_VAL, &cursor, 0, B, T, in, tg,
				    NULL))
			return NAN;
		sum += kiln_train_forward(tr, in, tg);
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
	int *in = NULL, *tg = NULL, rc;
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
	kiln_model_threads(o->threads);

	/* the model and tokenizer: resumed, or new */
	if (o->resume) {
		rc = kiln_model_open(o->resume, &m, &tok, &tokb, &stb, err);
		if (rc)
			goto out;
		rc = state_load(&s, &stb, m->n_params, o->resume, err);
		if (rc)
			goto out;
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
	if (!in || !tg) {
		rc = kiln_error_set(err, KILN_ENOMEM, "out of memory");
		goto out;
	}

	pr.steps = s.steps;
	while (s.step < s.steps && !(o->stop && *o->stop)) {
		double ts = now();
		float lr = kiln_lr_schedule(s.step, s.warmup, s.steps, s.lr,
					    s.min_lr);

		rc = kiln_data_batch(d, KILN_SPLIT_TRAIN, &s.cursor, s.seed,
				     (int)s.B, (int)s.T, in, tg, err);
		if (rc)
			goto out;
		pr.loss = kiln_train_forward(tr, in, tg);
		kiln_train_backward(tr);
		pr.grad_norm = kiln_train_adamw(tr, &s.hp, lr);
		s.step++;
		res->steps_this_run++;
		train_secs += now() - ts;
		losses[nloss++ % 10] = pr.loss;
		pr.event = KILN_TRAIN_STEP, pr.step = s.step, pr.lr = lr;
		pr.tokens_per_s = (double)res->steps_this_run * s.B * s.T /
				  train_secs;
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
			pr.val_loss = evaluate(tr, d, (int)s.B, (int)s.T,
					       o->eval_batches, in, tg);
			pr.event = KILN_TRAIN_EVAL;
			report(o, &pr);
		}
		if (o->save_every && s.step % o->save_every == 0 &&
		    s.step < s.steps) {
			rc = save(o, m, &tokb, &s, tr, err);
			if (rc)
				goto out;
			pr.event = KILN_TRAIN_SAVE, pr.path = o->out;
			report(o, &pr);
		}
	}
	if (o->eval_batches > 0) {
		pr.val_loss = evaluate(tr, d, (int)s.B, (int)s.T, o->eval_batches,
				       in, tg);
		pr.event = KILN_TRAIN_EVAL;
		report(o, &pr);
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
	res->seconds = now() - t0;
	res->n_params = m->n_params;
	res->cfg = m->cfg;
	res->batch = (int)s.B, res->seq = (int)s.T;
out:
	free(in), free(tg);
	free(tokb.data), free(stb.data);
	kiln_trainer_free(tr);
	kiln_data_free(d);
	kiln_gpt_free(m);
	kiln_tok_free(tok);
	return rc;
}
