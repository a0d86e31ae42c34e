/* kiln's GPT against PyTorch: the test vectors of scripts/gpt-reference.py
 * (tests/data/gpt_ref.bin; format in that script and docs/MODEL.md), in the
 * way of llm.c's test_gpt2. Same weights, same batch: the logits, the loss,
 * every gradient, three AdamW steps, and the KV-cache inference path must
 * all land within float32 tolerances of torch.
 *
 * Tolerances (docs/MODEL.md, "Model reference test", has the reasoning):
 * float32 torch itself lands this far from float64 torch on these vectors:
 * logits 1.3e-6 abs, loss 2e-7, gradients 8e-7 of each tensor's largest
 * entry, parameters after three steps 1.1e-5 (a few ill-conditioned
 * coordinates; 2e-8 on average). The bounds below leave ~10x that for a
 * different summation order (BLAS, threads, FMA) and catch every semantic
 * slip tried (LayerNorm eps, exact GELU, scaling, decay on biases...). */
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

#ifndef KILN_GPT_REF
#define KILN_GPT_REF "tests/data/gpt_ref.bin"
#endif

#define TOL_LOGIT 1e-5      /* abs; logits are O(1) */
#define TOL_LOSS 1e-5       /* abs; the loss is ~4.4 */
#define TOL_GRAD 1e-4       /* of the tensor's largest |gradient| */
#define TOL_NORM 1e-4       /* relative, gradient norm before clipping */
#define TOL_STEP_LOSS 2e-5  /* abs, losses after AdamW steps */
#define TOL_PARAM_MAX 1e-4  /* abs, any weight after the steps ... */
#define TOL_PARAM_MEAN 1e-6 /* ... and the mean over each tensor */
#define TOL_KEY_BIAS 1e-3   /* abs, key biases after the steps (below) */

/* The file, parsed. */
static struct ref {
	kiln_gpt_config cfg;
	int B, T, S;
	size_t n_params;
	kiln_adamw hp;
	const float *params, *logits, *grads, *lr, *step_loss, *step_norm;
	const float *final;
	const int32_t *inputs, *targets;
	float loss, final_loss;
	gpt_tensor t[GPT_MAX_TENSORS];
	int nt;
	int *in, *tg; /* inputs / targets as int */
	unsigned char *blob;
} R;

static int load_ref(void **state)
{
	FILE *f = fopen(KILN_GPT_REF, "rb");
	int32_t h[13];
	float hf[5];
	size_t len, need, bt, off;
	long flen;

	(void)state;
	if (!f) {
		fprintf(stderr, "cannot open %s\n", KILN_GPT_REF);
		return -1;
	}
	fseek(f, 0, SEEK_END);
	flen = ftell(f);
	rewind(f);
	if (flen < 80) {
		fclose(f);
		return -1;
	}
	len = (size_t)flen;
	R.blob = malloc(len);
	if (!R.blob || fread(R.blob, 1, len, f) != len) {
		fclose(f);
		return -1;
	}
	fclose(f);
	if (memcmp(R.blob, "KILNGREF", 8) != 0) {
		fprintf(stderr, "%s: not a kiln GPT reference file\n",
			KILN_GPT_REF);
		return -1;
	}
	/* The file is little-endian, like every host kiln builds on. */
	memcpy(h, R.blob + 8, sizeof(h[0]) * 10);
	memcpy(hf, R.blob + 48, sizeof(hf));
	if (h[0] != 1) {
		fprintf(stderr, "%s: version %d, expected 1\n", KILN_GPT_REF,
			(int)h[0]);
		return -1;
	}
	R.cfg = (kiln_gpt_config){ .n_layer = h[1], .n_head = h[2],
				   .d_model = h[3], .n_ctx = h[4],
				   .vocab = h[5] };
	R.B = h[6];
	R.T = h[7];
	R.S = h[8];
	R.n_params = (size_t)h[9];
	R.hp = (kiln_adamw){ .beta1 = hf[0], .beta2 = hf[1], .eps = hf[2],
			     .weight_decay = hf[3], .grad_clip = hf[4] };
	R.nt = gpt_tensor_list(&R.cfg, R.t);
	if (R.nt < 0 || R.B <= 0 || R.T <= 0 || R.T > R.cfg.n_ctx ||
	    R.S <= 0 || R.S > 100)
		return -1;
	bt = (size_t)R.B * R.T;
	need = 80 + 4 * (3 * R.n_params + 2 * bt + bt * R.cfg.vocab + 2 +
			 3 * (size_t)R.S);
	if (len != need || R.t[R.nt - 1].off + R.t[R.nt - 1].len != R.n_params) {
		fprintf(stderr, "%s: %zu bytes, expected %zu\n", KILN_GPT_REF,
			len, need);
		return -1;
	}
	off = 80;
#define TAKE(dst, type, n)                                   \
	do {                                                 \
		dst = (const type *)(void *)(R.blob + off);  \
		off += sizeof(type) * (n);                   \
	} while (0)
	TAKE(R.params, float, R.n_params);
	TAKE(R.inputs, int32_t, bt);
	TAKE(R.targets, int32_t, bt);
	TAKE(R.logits, float, bt * R.cfg.vocab);
	memcpy(&R.loss, R.blob + off, 4);
	off += 4;
	TAKE(R.grads, float, R.n_params);
	TAKE(R.lr, float, R.S);
	TAKE(R.step_loss, float, R.S);
	TAKE(R.step_norm, float, R.S);
	memcpy(&R.final_loss, R.blob + off, 4);
	off += 4;
	TAKE(R.final, float, R.n_params);
#undef TAKE
	R.in = malloc(bt * sizeof(int));
	R.tg = malloc(bt * sizeof(int));
	if (!R.in || !R.tg)
		return -1;
	for (size_t i = 0; i < bt; i++) {
		R.in[i] = R.inputs[i];
		R.tg[i] = R.targets[i];
	}
	return 0;
}

static int free_ref(void **state)
{
	(void)state;
	free(R.blob);
	free(R.in);
	free(R.tg);
	return 0;
}

/* A kiln_gpt with the reference weights, and a trainer for B x T. */
static void make(kiln_gpt **m, kiln_trainer **tr)
{
	kiln_error err;

	assert_int_equal(kiln_gpt_new(m, &R.cfg, 1, &err), 0);
	assert_int_equal((*m)->n_params, R.n_params);
	memcpy((*m)->params, R.params, R.n_params * sizeof(float));
	if (tr)
		assert_int_equal(kiln_trainer_new(tr, *m, R.B, R.T, &err), 0);
}

/* Max |a - b| over n floats, and where. NaN counts as infinitely far. */
static double max_abs_diff(const float *a, const float *b, size_t n,
			   size_t *at)
{
	double worst = 0;

	*at = 0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)a[i] - (double)b[i]);
		if (d != d)
			d = INFINITY;
		if (d > worst) {
			worst = d;
			*at = i;
		}
	}
	return worst;
}

static double max_abs(const float *a, size_t n)
{
	double m = 0;

	for (size_t i = 0; i < n; i++)
		if (fabs(a[i]) > m)
			m = fabs(a[i]);
	return m;
}

static void logits_match(const char *what, const float *got,
			 const float *want, size_t n)
{
	size_t at;
	double d = max_abs_diff(got, want, n, &at);

	printf("  %-28s max abs err %.2e (row %zu, token %zu)\n", what, d,
	       at / (size_t)R.cfg.vocab, at % (size_t)R.cfg.vocab);
	assert_true(d <= TOL_LOGIT);
}

static void param_layout(void **state)
{
	float *base = calloc(R.n_params, sizeof(float));
	kiln_error err;

	(void)state;
	assert_non_null(base);
	assert_int_equal(kiln_gpt_config_check(&R.cfg, &err), 0);
	assert_int_equal(kiln_gpt_param_count(&R.cfg), R.n_params);
	assert_true(gpt_tensors_check_map(&R.cfg, base, R.t, R.nt));
	free(base);
}

static void forward_matches(void **state)
{
	kiln_gpt *m;
	kiln_trainer *tr;
	float loss;

	(void)state;
	make(&m, &tr);
	loss = kiln_train_forward(tr, R.in, R.tg);
	printf("  loss kiln %.7f torch %.7f (err %.2e)\n", loss, R.loss,
	       fabs(loss - R.loss));
	logits_match("logits (training forward)", kiln_train_logits(tr),
		     R.logits, (size_t)R.B * R.T * R.cfg.vocab);
	assert_true(fabs(loss - R.loss) <= TOL_LOSS);
	/* Without targets: no loss, the same logits. */
	assert_true(kiln_train_forward(tr, R.in, NULL) == 0.0f);
	logits_match("logits (no targets)", kiln_train_logits(tr), R.logits,
		     (size_t)R.B * R.T * R.cfg.vocab);
	kiln_trainer_free(tr);
	kiln_gpt_free(m);
}

/* Compares a gradient array with the reference, tensor by tensor; prints
 * the worst tensor and every one out of tolerance. */
static int grads_match(const float *g, const float *want, const char *when)
{
	double worst_rel = -1;
	int worst = 0, bad = 0;

	for (int i = 0; i < R.nt; i++) {
		const gpt_tensor *t = &R.t[i];
		size_t at;
		double d = max_abs_diff(g + t->off, want + t->off, t->len, &at);
		double scale = max_abs(want + t->off, t->len);
		double rel = d / (scale > 0 ? scale : 1);

		if (rel > worst_rel) {
			worst_rel = rel;
			worst = i;
		}
		if (!(rel <= TOL_GRAD)) {
			printf("  FAIL %s grad %s[%zu]: kiln %.7g torch %.7g "
			       "(max abs err %.2e, %.2e of the tensor's max "
			       "%.2e)\n", when, t->name, at, g[t->off + at],
			       want[t->off + at], d, rel, scale);
			bad++;
		}
	}
	printf("  %-28s worst tensor %s: %.2e of its max\n", when,
	       R.t[worst].name, worst_rel);
	return bad;
}

static void backward_matches(void **state)
{
	kiln_gpt *m;
	kiln_trainer *tr;
	float *g;

	(void)state;
	make(&m, &tr);
	g = kiln_train_grads(tr);
	/* Backward overwrites: whatever was there must not leak through
	 * (wpe rows T..n_ctx-1, unused here, must come out 0). */
	for (size_t i = 0; i < R.n_params; i++)
		g[i] = NAN;
	kiln_train_forward(tr, R.in, R.tg);
	kiln_train_backward(tr);
	assert_int_equal(grads_match(kiln_train_grads(tr), R.grads,
				     "gradients"), 0);
	/* Twice: the same gradients, not accumulated ones. */
	kiln_train_forward(tr, R.in, R.tg);
	kiln_train_backward(tr);
	assert_int_equal(grads_match(kiln_train_grads(tr), R.grads,
				     "gradients, 2nd backward"), 0);
	kiln_trainer_free(tr);
	kiln_gpt_free(m);
}

/* The weights after the steps. The key biases are apart: their gradient is
 * zero in exact arithmetic (softmax ignores a constant added to all of a
 * query's scores), so what Adam does with them is float32 noise divided by
 * eps, in torch and kiln alike; they get a loose bound (TOL_KEY_BIAS is 6%
 * of the summed learning rates, the most Adam could move them). */
static int params_match(const float *p)
{
	const size_t d = (size_t)R.cfg.d_model;
	double worst_max = 0, worst_mean = 0, kb = 0;
	int wmax = 0, wmean = 0, bad = 0;

	for (int i = 0; i < R.nt; i++) {
		const gpt_tensor *t = &R.t[i];
		double mx = 0, sum = 0;
		size_t at = 0, n = 0;

		for (size_t j = 0; j < t->len; j++) {
			double e = fabs((double)p[t->off + j] -
					(double)R.final[t->off + j]);
			if (e != e)
				e = INFINITY;
			if (t->key_bias && j >= d && j < 2 * d) {
				kb = e > kb ? e : kb;
				continue;
			}
			sum += e;
			n++;
			if (e > mx) {
				mx = e;
				at = j;
			}
		}
		if (mx > worst_max) {
			worst_max = mx;
			wmax = i;
		}
		if (sum / n > worst_mean) {
			worst_mean = sum / n;
			wmean = i;
		}
		if (!(mx <= TOL_PARAM_MAX) || !(sum / n <= TOL_PARAM_MEAN)) {
			printf("  FAIL final %s[%zu]: kiln %.7g torch %.7g "
			       "(max abs err %.2e, mean %.2e)\n", t->name, at,
			       p[t->off + at], R.final[t->off + at], mx,
			       sum / n);
			bad++;
		}
	}
	printf("  %-28s max abs err %.2e (%s), worst tensor mean %.2e (%s), "
	       "key biases %.2e\n", "params after the steps", worst_max,
	       R.t[wmax].name, worst_mean, R.t[wmean].name, kb);
	if (!(kb <= TOL_KEY_BIAS)) {
		printf("  FAIL key biases moved %.2e from torch\n", kb);
		bad++;
	}
	return bad;
}

static void adamw_steps_match(void **state)
{
	kiln_gpt *m;
	kiln_trainer *tr;
	float loss;
	int bad = 0;

	(void)state;
	make(&m, &tr);
	assert_int_equal(kiln_train_step(tr), 0);
	for (int s = 0; s < R.S; s++) {
		float norm;

		loss = kiln_train_forward(tr, R.in, R.tg);
		kiln_train_backward(tr);
		norm = kiln_train_adamw(tr, &R.hp, R.lr[s]);
		printf("  step %d (lr %g): loss kiln %.7f torch %.7f, grad norm "
		       "kiln %.6f torch %.6f\n", s, R.lr[s], loss,
		       R.step_loss[s], norm, R.step_norm[s]);
		if (!(fabs(loss - R.step_loss[s]) <= TOL_STEP_LOSS) ||
		    !(fabs(norm - R.step_norm[s]) <=
		      TOL_NORM * R.step_norm[s]))
			bad++;
	}
	assert_int_equal(kiln_train_step(tr), (uint64_t)R.S);
	bad += params_match(m->params);
	loss = kiln_train_forward(tr, R.in, R.tg);
	printf("  loss after %d steps: kiln %.7f torch %.7f\n", R.S, loss,
	       R.final_loss);
	if (!(fabs(loss - R.final_loss) <= TOL_STEP_LOSS))
		bad++;
	assert_int_equal(bad, 0);
	kiln_trainer_free(tr);
	kiln_gpt_free(m);
}

/* The KV-cache path (kiln_gpt_infer) against the reference logits and the
 * training forward's, four ways: token by token per sequence, one prefill
 * per sequence, batched decoding (one row per sequence per call, slots
 * mixed), and a prefill that wants only its last row. */
static void infer_matches(void **state)
{
	const int B = R.B, T = R.T, V = R.cfg.vocab;
	const size_t bt = (size_t)B * T;
	kiln_gpt *m;
	kiln_trainer *tr;
	kiln_kv *kv;
	kiln_error err;
	float *got = malloc(bt * V * sizeof(float));
	float *train = malloc(bt * V * sizeof(float));
	float *row = malloc((size_t)T * V * sizeof(float));
	int *slot = malloc(bt * sizeof(int)), *pos = malloc(bt * sizeof(int));
	int *tok = malloc(bt * sizeof(int));
	unsigned char *want = calloc((size_t)T, 1);

	(void)state;
	assert_non_null(got);
	assert_non_null(train);
	assert_non_null(row);
	assert_non_null(slot);
	assert_non_null(pos);
	assert_non_null(tok);
	assert_non_null(want);
	make(&m, &tr);
	kiln_train_forward(tr, R.in, NULL);
	memcpy(train, kiln_train_logits(tr), bt * V * sizeof(float));

	/* Token by token, one sequence after the other. */
	assert_int_equal(kiln_kv_new(&kv, m, B, &err), 0);
	for (int b = 0; b < B; b++)
		for (int t = 0; t < T; t++) {
			int s = b, p = t, k = R.in[b * T + t];
			assert_int_equal(kiln_gpt_infer(m, kv, 1, &s, &p, &k,
							NULL,
							got + (size_t)(b * T + t) * V,
							&err), 0);
		}
	logits_match("infer, token by token", got, R.logits, bt * V);
	logits_match("  = training forward", got, train, bt * V);
	kiln_kv_free(kv);

	/* One prefill per sequence. */
	assert_int_equal(kiln_kv_new(&kv, m, B, &err), 0);
	for (int b = 0; b < B; b++) {
		for (int t = 0; t < T; t++) {
			slot[t] = b;
			pos[t] = t;
		}
		assert_int_equal(kiln_gpt_infer(m, kv, T, slot, pos,
						R.in + b * T, NULL,
						got + (size_t)b * T * V, &err),
				 0);
	}
	logits_match("infer, prefill", got, R.logits, bt * V);
	kiln_kv_free(kv);

	/* Batched decoding: position t of every sequence in one call, the
	 * slots in reverse order so that row i is not slot i. */
	assert_int_equal(kiln_kv_new(&kv, m, B, &err), 0);
	for (int t = 0; t < T; t++) {
		for (int i = 0; i < B; i++) {
			slot[i] = B - 1 - i;
			pos[i] = t;
			tok[i] = R.in[(B - 1 - i) * T + t];
		}
		assert_int_equal(kiln_gpt_infer(m, kv, B, slot, pos, tok, NULL,
						row, &err), 0);
		for (int i = 0; i < B; i++)
			memcpy(got + (size_t)((B - 1 - i) * T + t) * V,
			       row + (size_t)i * V, V * sizeof(float));
	}
	logits_match("infer, batched decoding", got, R.logits, bt * V);
	kiln_kv_free(kv);

	/* A prefill of the last sequence that wants only its last row; then
	 * one more row can follow it in the same slot. */
	assert_int_equal(kiln_kv_new(&kv, m, B, &err), 0);
	for (int t = 0; t < T; t++) {
		slot[t] = B - 1;
		pos[t] = t;
	}
	want[T - 1] = 1;
	assert_int_equal(kiln_gpt_infer(m, kv, T - 1, slot, pos,
					R.in + (B - 1) * T, want + 1, row,
					&err), 0);
	logits_match("infer, prefill wanting last", row,
		     R.logits + ((size_t)(B - 1) * T + T - 2) * V, V);
	assert_int_equal(kiln_gpt_infer(m, kv, 1, slot, pos + T - 1,
					R.in + (B - 1) * T + T - 1, NULL, row,
					&err), 0);
	logits_match("infer, one more row", row,
		     R.logits + ((size_t)(B - 1) * T + T - 1) * V, V);

	/* Out of range: a clear KILN_EINVAL, never a write out of bounds. */
	{
		const int bad[4][3] = { /* slot, pos, token */
			{ 0, R.cfg.n_ctx, 0 }, { 0, 0, V }, { 0, 0, -1 },
			{ B, 0, 0 },
		};
		for (int i = 0; i < 4; i++)
			assert_int_equal(kiln_gpt_infer(m, kv, 1, &bad[i][0],
							&bad[i][1], &bad[i][2],
							NULL, row, &err),
					 KILN_EINVAL);
	}
	kiln_kv_free(kv);
	kiln_trainer_free(tr);
	kiln_gpt_free(m);
	free(got);
	free(train);
	free(row);
	free(slot);
	free(pos);
	free(tok);
	free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(param_layout),
		cmocka_unit_test(forward_matches),
		cmocka_unit_test(backward_matches),
		cmocka_unit_test(adamw_steps_match),
		cmocka_unit_test(infer_matches),
	};
	return cmocka_run_group_tests(tests, load_ref, free_ref);
}
