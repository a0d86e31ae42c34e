/* Packed training rows (kiln_train_forward_pos) are exact per sample: a
 * sample packed with others gets the logits, the loss and the gradient it
 * gets alone at the start of a row, within float tolerance.
 *
 * The model is test_gpt_ref's shape (2 layers, 4 heads, d_model 36: no
 * SIMD width divides it; vocab 67) with n_ctx 160 and rows of T = 150, so
 * that attention's row blocks of 64 start inside samples (a block's
 * columns begin at its first row's sample, not at 0) and samples cross
 * block edges. Weights random (uniform +-0.5, LayerNorm weights 1 +-0.35,
 * non-zero biases), so every path carries signal.
 *
 * Bounds: logits 1e-5 times the largest logit (7.2 here: about 20 float32
 * ulps; measured 5e-6, 1.5 ulps), losses 1e-5 abs, each gradient tensor's
 * max abs error 1e-4 of the tensor's largest gradient (test_gpt_ref's
 * bounds for kiln against torch, where the logits are smaller; here both
 * sides are kiln in another summation order). A token that sees another
 * sample, or a wrong position, is off by far more.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/model.h"
#include "kiln/train.h"

#include "gpt_tensors.h"

static const kiln_gpt_config CFG = { .n_layer = 2, .n_head = 4,
				     .d_model = 36, .n_ctx = 160, .vocab = 67 };
enum { B = 2, T = 150 };

/* The samples of each row: lengths in input positions (row 0 ends in 6
 * positions of padding, row 1 is full), and how many of each sample's
 * first targets are a prompt (not counted). */
static const int LEN[B][4] = { { 20, 45, 70, 9 }, { 33, 90, 27, 0 } };
static const int PROMPT[B][4] = { { 5, 12, 30, 2 }, { 0, 40, 10, 0 } };
#define NSAMPLES 7

typedef struct sample {
	int row, at, len, prompt;
} sample;

static int samples(sample *s)
{
	int n = 0;

	for (int b = 0; b < B; b++)
		for (int i = 0, at = 0; i < 4 && LEN[b][i]; at += LEN[b][i++])
			s[n++] = (sample){ b, at, LEN[b][i], PROMPT[b][i] };
	return n;
}

static void randomise(kiln_gpt *m, uint64_t seed)
{
	gpt_tensor t[GPT_MAX_TENSORS];

	gpt_randomise(m->params, t, gpt_tensor_list(&CFG, t), seed);
}

/* The packed batch: random tokens and targets, prompts and padding
 * uncounted, pos restarting at each sample and at the padding. */
static void packed_batch(int *in, int *tg, int *pos, uint64_t seed)
{
	sample s[NSAMPLES];
	int n = samples(s);

	for (int i = 0; i < B * T; i++) {
		in[i] = gpt_rng_int(&seed, CFG.vocab);
		tg[i] = -1;
		pos[i] = i % T; /* the padding: one segment to the row's end */
	}
	for (int k = 0; k < n; k++)
		for (int j = 0; j < s[k].len; j++) {
			int i = s[k].row * T + s[k].at + j;

			pos[i] = j;
			tg[i] = j < s[k].prompt ? -1 : gpt_rng_int(&seed, CFG.vocab);
		}
	for (int t = 144; t < T; t++)
		pos[t] = t - 144;
}

/* One sample alone at the start of a row of a B = 1 trainer (pos NULL:
 * plain causal attention), other tokens after it, uncounted. */
static float alone(kiln_trainer *tr, const sample *s, const int *in,
		   const int *tg, int backward)
{
	int in1[T], tg1[T];
	float loss;

	for (int t = 0; t < T; t++) {
		in1[t] = (t * 7 + 3) % CFG.vocab;
		tg1[t] = -1;
	}
	memcpy(in1, in + s->row * T + s->at, (size_t)s->len * sizeof(int));
	memcpy(tg1, tg + s->row * T + s->at, (size_t)s->len * sizeof(int));
	loss = kiln_train_forward(tr, in1, tg1);
	if (backward)
		kiln_train_backward(tr);
	return loss;
}

static void packed_sample_equals_sample_alone(void **state)
{
	kiln_gpt *m;
	kiln_trainer *packed, *one;
	kiln_error err;
	sample s[NSAMPLES];
	int n = samples(s), in[B * T], tg[B * T], pos[B * T], tgk[B * T];
	float *lp = malloc((size_t)B * T * CFG.vocab * sizeof(float));
	double worst = 0;

	(void)state;
	assert_non_null(lp);
	assert_int_equal(kiln_gpt_new(&m, &CFG, 1, &err), 0);
	randomise(m, 77);
	packed_batch(in, tg, pos, 78);
	assert_int_equal(kiln_trainer_new(&packed, m, B, T, &err), 0);
	assert_int_equal(kiln_trainer_new(&one, m, 1, T, &err), 0);

	/* logits: every row of every sample */
	kiln_train_forward_pos(packed, in, tg, pos);
	memcpy(lp, kiln_train_logits(packed),
	       (size_t)B * T * CFG.vocab * sizeof(float));
	for (int k = 0; k < n; k++) {
		const float *la;

		alone(one, &s[k], in, tg, 0);
		la = kiln_train_logits(one);
		for (int j = 0; j < s[k].len; j++)
			for (int v = 0; v < CFG.vocab; v++) {
				double e = fabs(
					(double)lp[((size_t)s[k].row * T +
						    s[k].at + j) * CFG.vocab + v] -
					la[(size_t)j * CFG.vocab + v]);

				worst = e > worst ? e : worst;
			}
	}
	{
		double big = 0;

		for (size_t i = 0; i < (size_t)B * T * CFG.vocab; i++)
			big = fabs(lp[i]) > big ? fabs(lp[i]) : big;
		printf("  logits of %d packed samples against each alone: max "
		       "abs error %.2e (largest logit %.1f)\n", n, worst, big);
		assert_true(worst <= 1e-5 * (big > 1 ? big : 1));
	}

	/* the loss of each sample: its targets alone counted in the packed
	 * batch, against it alone */
	worst = 0;
	for (int k = 0; k < n; k++) {
		float a, b;

		for (int i = 0; i < B * T; i++)
			tgk[i] = -1;
		memcpy(tgk + s[k].row * T + s[k].at, tg + s[k].row * T + s[k].at,
		       (size_t)s[k].len * sizeof(int));
		b = kiln_train_forward_pos(packed, in, tgk, pos);
		a = alone(one, &s[k], in, tg, 0);
		worst = fabs((double)a - b) > worst ? fabs((double)a - b) : worst;
	}
	printf("  loss of each packed sample against it alone: max abs "
	       "error %.2e\n", worst);
	assert_true(worst <= 1e-5);

	/* the gradient: the packed batch's mean over all counted targets is
	 * the mean of the samples' losses weighted by their counted targets,
	 * so its gradient is the same mix of the gradients alone */
	{
		size_t np = m->n_params;
		double *mix = calloc(np, sizeof(double));
		const float *gp;
		gpt_tensor t[GPT_MAX_TENSORS];
		int nt = gpt_tensor_list(&CFG, t), total = 0;
		double wr = 0;
		const char *wname = "";

		assert_non_null(mix);
		for (int k = 0; k < n; k++)
			total += s[k].len - s[k].prompt;
		for (int k = 0; k < n; k++) {
			const float *g;
			double w = (double)(s[k].len - s[k].prompt) / total;

			alone(one, &s[k], in, tg, 1);
			g = kiln_train_grads(one);
			for (size_t i = 0; i < np; i++)
				mix[i] += w * g[i];
		}
		kiln_train_forward_pos(packed, in, tg, pos);
		kiln_train_backward(packed);
		gp = kiln_train_grads(packed);
		for (int i = 0; i < nt; i++) {
			double mx = 0, e = 0, r;

			for (size_t j = t[i].off; j < t[i].off + t[i].len; j++) {
				mx = fabs(mix[j]) > mx ? fabs(mix[j]) : mx;
				e = fabs(mix[j] - gp[j]) > e ?
				    fabs(mix[j] - gp[j]) : e;
			}
			r = mx > 0 ? e / mx : e;
			if (r > wr)
				wr = r, wname = t[i].name;
			if (!(r <= 1e-4))
				printf("  FAIL %s: max abs error %.3e of %.3e\n",
				       t[i].name, e, mx);
		}
		printf("  gradient of the packed batch against the mix of the "
		       "samples' alone: worst %.2e of a tensor's largest, at "
		       "%s\n", wr, wname);
		assert_true(wr <= 1e-4);
		free(mix);
	}
	kiln_trainer_free(packed);
	kiln_trainer_free(one);
	kiln_gpt_free(m);
	free(lp);
}

/* Tokens of other samples in the row change nothing in a sample's logits:
 * the mask keeps attention within it. */
static void other_samples_do_not_leak(void **state)
{
	kiln_gpt *m;
	kiln_trainer *tr;
	kiln_error err;
	int in[B * T], tg[B * T], pos[B * T], in2[B * T];
	float *l1 = malloc((size_t)B * T * CFG.vocab * sizeof(float));
	double worst = 0;

	(void)state;
	assert_non_null(l1);
	assert_int_equal(kiln_gpt_new(&m, &CFG, 2, &err), 0);
	randomise(m, 91);
	packed_batch(in, tg, pos, 92);
	assert_int_equal(kiln_trainer_new(&tr, m, B, T, &err), 0);
	kiln_train_forward_pos(tr, in, NULL, pos);
	memcpy(l1, kiln_train_logits(tr),
	       (size_t)B * T * CFG.vocab * sizeof(float));
	/* change every token of row 0 but the third sample's (65..134) */
	memcpy(in2, in, sizeof in);
	for (int t = 0; t < T; t++)
		if (t < 65 || t >= 135)
			in2[t] = (in2[t] + 1) % CFG.vocab;
	kiln_train_forward_pos(tr, in2, NULL, pos);
	for (int t = 65; t < 135; t++)
		for (int v = 0; v < CFG.vocab; v++) {
			size_t i = (size_t)t * CFG.vocab + v;
			double e = fabs((double)l1[i] - kiln_train_logits(tr)[i]);

			worst = e > worst ? e : worst;
		}
	printf("  a sample's logits with its neighbours changed: max abs "
	       "change %.2e\n", worst);
	assert_true(worst <= 1e-6);
	kiln_trainer_free(tr);
	kiln_gpt_free(m);
	free(l1);
}

/* A pos that is not a segmentation is refused (NaN), not read. */
static void invalid_pos_is_refused(void **state)
{
	kiln_gpt *m;
	kiln_trainer *tr;
	kiln_error err;
	int in[B * T], tg[B * T], pos[B * T];

	(void)state;
	assert_int_equal(kiln_gpt_new(&m, &CFG, 3, &err), 0);
	packed_batch(in, tg, pos, 5);
	assert_int_equal(kiln_trainer_new(&tr, m, B, T, &err), 0);
	assert_false(isnan(kiln_train_forward_pos(tr, in, tg, pos)));
	pos[T] = 1; /* a row must start a segment */
	assert_true(isnan(kiln_train_forward_pos(tr, in, tg, pos)));
	pos[T] = 0;
	pos[30] = 12; /* a jump inside a segment */
	assert_true(isnan(kiln_train_forward_pos(tr, in, tg, pos)));
	pos[30] = -1;
	assert_true(isnan(kiln_train_forward_pos(tr, in, tg, pos)));
	kiln_trainer_free(tr);
	kiln_gpt_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(packed_sample_equals_sample_alone),
		cmocka_unit_test(other_samples_do_not_leak),
		cmocka_unit_test(invalid_pos_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
