/* kiln_train_backward against finite differences of kiln_train_forward, for
 * every tensor of a tiny model; the ignore-index loss; determinism; the
 * initialisation of model.h; the learning-rate schedule.
 *
 * Finite differences in float32. The loss (~2.4) is a float: each forward
 * carries rounding noise of a few ulp (~5e-7), and a central difference
 * divides that by 2h. With h = 1e-3 the noise alone is ~3e-4, as large as
 * many gradients; with h = 1e-2 the noise drops to ~5e-5 but the h^2 term
 * of a central difference (the third derivative of GELU, softmax,
 * LayerNorm) reaches 5% on some coordinates. So each derivative here is
 * Richardson's extrapolation of two central differences,
 * (4 D(h/2) - D(h)) / 3 with h = 4e-2, whose error is O(h^4) plus ~4e-5
 * of noise. Prototyped on the same model in torch float32 against float64
 * autograd, over every coordinate of three random models, the worst
 * |fd - g| was 0.26 of the bound used here, |fd - g| <= 1e-2 |g| + 1e-4.
 * A wrong term in any backward formula is off by far more than 1%.
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

#define FD_H 4e-2
#define FD_RTOL 1e-2
#define FD_ATOL 1e-4

/* Two layers, two heads of 4, full context (T == n_ctx), vocab 11. */
static const kiln_gpt_config CFG = { .n_layer = 2, .n_head = 2,
				     .d_model = 8, .n_ctx = 7, .vocab = 11 };
enum { B = 2, T = 7 };

static void batch(int *in, int *tg, uint64_t s)
{
	for (int i = 0; i < B * T; i++) {
		in[i] = gpt_rng_int(&s, CFG.vocab);
		tg[i] = gpt_rng_int(&s, CFG.vocab);
	}
	tg[T + 0] = tg[T + 1] = tg[T + 2] = -1; /* a prompt in row 1 */
	in[3] = CFG.vocab - 1;
}

typedef struct fixture {
	kiln_gpt *m;
	kiln_trainer *tr;
	gpt_tensor t[GPT_MAX_TENSORS];
	int nt;
	int in[B * T], tg[B * T];
	const int *pos; /* kiln_train_forward_pos's; NULL: one sample a row */
	float *g; /* the analytic gradient */
} fixture;

static void fixture_new(fixture *f, uint64_t seed)
{
	kiln_error err;

	memset(f, 0, sizeof(*f));
	f->nt = gpt_tensor_list(&CFG, f->t);
	assert_int_equal(kiln_gpt_new(&f->m, &CFG, seed, &err), 0);
	assert_int_equal(f->m->n_params, kiln_gpt_param_count(&CFG));
	assert_int_equal(f->t[f->nt - 1].off + f->t[f->nt - 1].len,
			 f->m->n_params);
	gpt_randomise(f->m->params, f->t, f->nt, seed);
	batch(f->in, f->tg, seed + 1);
	assert_int_equal(kiln_trainer_new(&f->tr, f->m, B, T, &err), 0);
	f->g = malloc(f->m->n_params * sizeof(float));
	assert_non_null(f->g);
}

/* Forward and backward at the current weights; the gradient into f->g. */
static float fixture_grad(fixture *f)
{
	float loss = kiln_train_forward_pos(f->tr, f->in, f->tg, f->pos);

	kiln_train_backward(f->tr);
	memcpy(f->g, kiln_train_grads(f->tr), f->m->n_params * sizeof(float));
	return loss;
}

static void fixture_free(fixture *f)
{
	kiln_trainer_free(f->tr);
	kiln_gpt_free(f->m);
	free(f->g);
}

/* The derivative of the loss along dir (n floats from params + off): a
 * central difference of step h, with the steps the float weights really
 * took. */
static double central(fixture *f, size_t off, const float *dir, size_t n,
		      double h)
{
	float *p = f->m->params + off;
	float *save = malloc(n * sizeof(float));
	double lp, lm, step = 0, norm = 0;

	assert_non_null(save);
	memcpy(save, p, n * sizeof(float));
	for (size_t i = 0; i < n; i++)
		p[i] = (float)(save[i] + h * dir[i]);
	lp = kiln_train_forward_pos(f->tr, f->in, f->tg, f->pos);
	for (size_t i = 0; i < n; i++) {
		float hi = p[i];
		p[i] = (float)(save[i] - h * dir[i]);
		/* The projection of the real step on dir. */
		step += ((double)hi - (double)p[i]) * dir[i];
		norm += (double)dir[i] * dir[i];
	}
	lm = kiln_train_forward_pos(f->tr, f->in, f->tg, f->pos);
	memcpy(p, save, n * sizeof(float));
	free(save);
	return (lp - lm) / (step / norm);
}

static double richardson(fixture *f, size_t off, const float *dir, size_t n)
{
	double d1 = central(f, off, dir, n, FD_H);
	double d2 = central(f, off, dir, n, FD_H / 2);

	return (4 * d2 - d1) / 3;
}

/* How far fd is from the analytic a, as a fraction of the tolerance. */
static double fd_ratio(double fd, double a)
{
	double r = fabs(fd - a) / (FD_RTOL * fabs(a) + FD_ATOL);

	return r == r ? r : INFINITY;
}

/* For each tensor: its two largest analytic gradients, four random
 * coordinates, and one random direction through the whole tensor (which
 * sees a wrong gradient anywhere in it). Returns the number of failures;
 * *worst receives the largest fd_ratio. */
static int check_tensors(fixture *f, uint64_t seed, double *worst,
			 char *worst_at, size_t worst_len)
{
	const float one = 1.0f;
	int bad = 0;

	*worst = 0;
	for (int ti = 0; ti < f->nt; ti++) {
		const gpt_tensor *t = &f->t[ti];
		size_t idx[6], n = 0, top1 = 0, top2 = 0;
		float *dir = malloc(t->len * sizeof(float));
		double a = 0, fd, r;

		assert_non_null(dir);
		for (size_t j = 0; j < t->len; j++)
			if (fabsf(f->g[t->off + j]) > fabsf(f->g[t->off + top1]))
				top1 = j;
		top2 = top1 == 0 ? 1 % t->len : 0;
		for (size_t j = 0; j < t->len; j++)
			if (j != top1 && fabsf(f->g[t->off + j]) >
					 fabsf(f->g[t->off + top2]))
				top2 = j;
		idx[n++] = top1;
		idx[n++] = top2;
		while (n < 6)
			idx[n++] = gpt_rng_next(&seed) % t->len;
		for (size_t k = 0; k < n; k++) {
			size_t j = idx[k];
			a = f->g[t->off + j];
			fd = richardson(f, t->off + j, &one, 1);
			r = fd_ratio(fd, a);
			if (r > *worst) {
				*worst = r;
				snprintf(worst_at, worst_len, "%s[%zu]",
					 t->name, j);
			}
			if (!(r <= 1)) {
				printf("  FAIL %s[%zu]: backward %.6e, finite "
				       "differences %.6e\n", t->name, j, a, fd);
				bad++;
			}
		}
		/* A random direction of unit length through all of it. */
		a = 0;
		for (size_t j = 0; j < t->len; j++) {
			dir[j] = (float)((gpt_rng_next(&seed) & 1 ? 1.0 : -1.0) /
					 sqrt((double)t->len));
			a += (double)dir[j] * f->g[t->off + j];
		}
		fd = richardson(f, t->off, dir, t->len);
		r = fd_ratio(fd, a);
		if (r > *worst) {
			*worst = r;
			snprintf(worst_at, worst_len, "%s (direction)",
				 t->name);
		}
		if (!(r <= 1)) {
			printf("  FAIL %s along a random direction: backward "
			       "%.6e, finite differences %.6e\n", t->name, a,
			       fd);
			bad++;
		}
		free(dir);
	}
	return bad;
}

static void gradients_match_finite_differences(void **state)
{
	(void)state;
	for (uint64_t seed = 11; seed <= 12; seed++) {
		fixture f;
		double worst;
		char at[48] = "";
		int bad;

		fixture_new(&f, seed);
		printf("  model %d: loss %.6f\n", (int)(seed - 10),
		       fixture_grad(&f));
		bad = check_tensors(&f, seed * 7919, &worst, at, sizeof(at));
		printf("  model %d: %d tensors, worst |fd - g| is %.2f of the "
		       "tolerance, at %s\n", (int)(seed - 10), f.nt, worst, at);
		assert_int_equal(bad, 0);
		fixture_free(&f);
	}
}

/* Packed rows (kiln_train_forward_pos): row 0 holds samples of 3 and 4
 * tokens, row 1 of 2, 3 and 2; positions restart at each sample and
 * attention stays within it. The backward of the block-diagonal mask and
 * of the position embeddings by pos against finite differences, every
 * tensor as above. */
static void gradients_with_packed_rows(void **state)
{
	static const int pos[B * T] = { 0, 1, 2, 0, 1, 2, 3,
					0, 1, 0, 1, 2, 0, 1 };
	fixture f;
	double worst;
	char at[48] = "";
	int bad;

	(void)state;
	fixture_new(&f, 13);
	f.pos = pos;
	printf("  packed rows: loss %.6f\n", fixture_grad(&f));
	bad = check_tensors(&f, 13 * 7919, &worst, at, sizeof(at));
	printf("  packed rows: %d tensors, worst |fd - g| is %.2f of the "
	       "tolerance, at %s\n", f.nt, worst, at);
	assert_int_equal(bad, 0);
	/* wpe rows past the longest sample (4 tokens) get no gradient */
	for (size_t j = 4 * (size_t)CFG.d_model; j < 7 * (size_t)CFG.d_model;
	     j++)
		assert_true(f.g[f.t[1].off + j] == 0.0f);
	fixture_free(&f);
}

/* Mean cross-entropy over the counted targets, from the logits in double. */
static double ce_from_logits(const float *logits, const int *tg)
{
	double sum = 0;
	int n = 0;

	for (int i = 0; i < B * T; i++) {
		const float *z = logits + (size_t)i * CFG.vocab;
		double mx = z[0], s = 0;

		if (tg[i] < 0)
			continue;
		for (int v = 1; v < CFG.vocab; v++)
			mx = z[v] > mx ? z[v] : mx;
		for (int v = 0; v < CFG.vocab; v++)
			s += exp(z[v] - mx);
		sum += mx + log(s) - z[tg[i]];
		n++;
	}
	return sum / n;
}

/* Returns the derivative of the loss along a random direction through
 * every parameter, by finite differences and by backward. */
static void whole_direction(fixture *f, uint64_t seed, double *fd, double *a)
{
	size_t n = f->m->n_params;
	float *dir = malloc(n * sizeof(float));

	assert_non_null(dir);
	*a = 0;
	for (size_t j = 0; j < n; j++) {
		dir[j] = (float)((gpt_rng_next(&seed) & 1 ? 1.0 : -1.0) /
				 sqrt((double)n));
		*a += (double)dir[j] * f->g[j];
	}
	*fd = richardson(f, 0, dir, n);
	free(dir);
}

static void ignored_targets(void **state)
{
	fixture f;
	float loss;
	double fd, a;

	(void)state;
	fixture_new(&f, 21);

	/* The loss is the mean over counted targets only. */
	loss = kiln_train_forward(f.tr, f.in, f.tg);
	printf("  3 of %d targets ignored: loss %.7f, from the logits %.7f\n",
	       B * T, loss, ce_from_logits(kiln_train_logits(f.tr), f.tg));
	assert_true(fabs(loss - ce_from_logits(kiln_train_logits(f.tr),
					       f.tg)) < 1e-5);

	/* Every target ignored but one: the loss is that one position's
	 * cross-entropy (a mean over 1), and backward scales by 1, not by
	 * B*T. Position (1, 4): it attends to four earlier ones. */
	for (int i = 0; i < B * T; i++)
		if (i != T + 4)
			f.tg[i] = -1;
	f.tg[T + 4] = 5;
	loss = fixture_grad(&f);
	printf("  1 target counted: loss %.7f, from the logits %.7f\n", loss,
	       ce_from_logits(kiln_train_logits(f.tr), f.tg));
	assert_true(fabs(loss - ce_from_logits(kiln_train_logits(f.tr),
					       f.tg)) < 1e-5);
	whole_direction(&f, 5, &fd, &a);
	printf("  1 target counted: d loss along a random direction: "
	       "backward %.6e, finite differences %.6e\n", a, fd);
	assert_true(fd_ratio(fd, a) <= 1);
	/* Attention is causal and rows are independent: positions 5 and 6
	 * (of both rows) get no gradient through wpe, and no token of row 0
	 * or after position 4 of row 1 can change the loss. */
	for (size_t j = 5 * (size_t)CFG.d_model; j < 7 * (size_t)CFG.d_model;
	     j++)
		if (fabsf(f.g[f.t[1].off + j]) > 1e-12f)
			fail_msg("wpe[%zu] has gradient %g from a later position",
				 j, f.g[f.t[1].off + j]);
	{
		int in2[B * T];
		float l2;

		memcpy(in2, f.in, sizeof(in2));
		for (int t = 0; t < T; t++)
			in2[t] = (in2[t] + 1) % CFG.vocab;
		for (int t = 5; t < T; t++)
			in2[T + t] = (in2[T + t] + 1) % CFG.vocab;
		l2 = kiln_train_forward(f.tr, in2, f.tg);
		printf("  other rows and later tokens changed: loss %.7f\n",
		       l2);
		assert_true(fabs(l2 - loss) <= 1e-6);
	}
	fixture_free(&f);
}

static void same_seed_same_bits(void **state)
{
	const kiln_adamw hp = kiln_adamw_defaults();
	kiln_gpt *m[3];
	kiln_trainer *tr[2];
	kiln_error err;
	int in[B * T], tg[B * T];

	(void)state;
	/* The same seed, the same weights; another seed, others. */
	assert_int_equal(kiln_gpt_new(&m[0], &CFG, 31, &err), 0);
	assert_int_equal(kiln_gpt_new(&m[1], &CFG, 31, &err), 0);
	assert_int_equal(kiln_gpt_new(&m[2], &CFG, 32, &err), 0);
	assert_memory_equal(m[0]->params, m[1]->params,
			    m[0]->n_params * sizeof(float));
	assert_memory_not_equal(m[0]->params, m[2]->params,
				m[0]->n_params * sizeof(float));

	/* Five AdamW steps from GPT-2's init: bit-identical losses, norms,
	 * weights and moments. */
	batch(in, tg, 33);
	for (int i = 0; i < 2; i++)
		assert_int_equal(kiln_trainer_new(&tr[i], m[i], B, T, &err), 0);
	for (int s = 0; s < 5; s++) {
		float l[2], n[2];

		for (int i = 0; i < 2; i++) {
			l[i] = kiln_train_forward(tr[i], in, tg);
			kiln_train_backward(tr[i]);
			n[i] = kiln_train_adamw(tr[i], &hp, 1e-2f);
		}
		assert_memory_equal(&l[0], &l[1], sizeof(float));
		assert_memory_equal(&n[0], &n[1], sizeof(float));
		if (s == 4)
			printf("  5 steps: loss %.6f, grad norm %.6f, "
			       "identical in both runs\n", l[0], n[0]);
	}
	assert_memory_equal(m[0]->params, m[1]->params,
			    m[0]->n_params * sizeof(float));
	assert_memory_not_equal(m[0]->params, m[2]->params,
				m[0]->n_params * sizeof(float));
	for (int which = 1; which <= 2; which++)
		assert_memory_equal(kiln_train_moment(tr[0], which),
				    kiln_train_moment(tr[1], which),
				    m[0]->n_params * sizeof(float));
	assert_int_equal(kiln_train_step(tr[0]), 5);
	for (int i = 0; i < 2; i++)
		kiln_trainer_free(tr[i]);
	for (int i = 0; i < 3; i++)
		kiln_gpt_free(m[i]);
}

/* model.h's initialisation: N(0, 0.02), residual projections
 * N(0, 0.02/sqrt(2 n_layer)), biases 0, LayerNorm weights 1. The sample
 * standard deviation of n normal draws is within 5% of sigma with
 * overwhelming probability for n >= 2,000 (its relative error is
 * ~1/sqrt(2n) <= 1.6%). */
static void init_is_gpt2s(void **state)
{
	const kiln_gpt_config c = { .n_layer = 3, .n_head = 4, .d_model = 64,
				    .n_ctx = 32, .vocab = 100 };
	gpt_tensor t[GPT_MAX_TENSORS];
	int nt = gpt_tensor_list(&c, t);
	kiln_gpt *m;
	kiln_error err;

	(void)state;
	assert_int_equal(kiln_gpt_new(&m, &c, 42, &err), 0);
	for (int i = 0; i < nt; i++) {
		const float *p = m->params + t[i].off;
		const char *base = strchr(t[i].name, '.');
		double sum = 0, sq = 0, sd, want;

		base = base ? base + 1 : t[i].name;
		if (base[strlen(base) - 1] == 'b' || !t[i].decay) {
			float v = strncmp(base, "ln", 2) == 0 &&
					  base[strlen(base) - 1] == 'w'
					  ? 1.0f : 0.0f;
			for (size_t j = 0; j < t[i].len; j++)
				if (p[j] != v)
					fail_msg("%s[%zu] = %g, expected %g",
						 t[i].name, j, p[j], v);
			continue;
		}
		for (size_t j = 0; j < t[i].len; j++) {
			sum += p[j];
			sq += (double)p[j] * p[j];
		}
		sd = sqrt(sq / t[i].len - (sum / t[i].len) * (sum / t[i].len));
		want = strcmp(base, "proj_w") == 0 ||
				       strcmp(base, "fcproj_w") == 0
			       ? 0.02 / sqrt(2.0 * c.n_layer)
			       : 0.02;
		if (fabs(sd / want - 1) > 0.05 ||
		    fabs(sum / t[i].len) > 5 * want / sqrt((double)t[i].len))
			fail_msg("%s: mean %g, sd %g, expected N(0, %g)",
				 t[i].name, sum / t[i].len, sd, want);
	}
	kiln_gpt_free(m);
}

static void lr_schedule_shape(void **state)
{
	const uint64_t W = 100, N = 1100;
	const float hi = 1e-3f, lo = 1e-4f;
	const double slope = M_PI / 2 * (hi - lo) / (N - W);

	(void)state;
	/* Warm-up: linear from about 0 to max_lr. */
	assert_true(kiln_lr_schedule(0, W, N, hi, lo) >= 0);
	assert_true(kiln_lr_schedule(0, W, N, hi, lo) <= hi / W * 1.0001);
	for (uint64_t s = 0; s + 1 < W; s++) {
		double d = kiln_lr_schedule(s + 1, W, N, hi, lo) -
			   kiln_lr_schedule(s, W, N, hi, lo);
		if (fabs(d - hi / W) > 1e-3 * hi / W)
			fail_msg("warm-up step %d -> %d: lr rose by %g, not "
				 "%g", (int)s, (int)s + 1, d, hi / W);
	}
	assert_true(fabs(kiln_lr_schedule(W, W, N, hi, lo) - hi) <=
		    hi / W + 1e-9);
	/* Then a half cosine down to min_lr at total steps. */
	for (uint64_t s = W; s < N; s++)
		assert_true(kiln_lr_schedule(s + 1, W, N, hi, lo) <=
			    kiln_lr_schedule(s, W, N, hi, lo));
	for (int k = 1; k <= 3; k++) {
		double f = k / 4.0;
		double want = lo + 0.5 * (1 + cos(M_PI * f)) * (hi - lo);
		double got = kiln_lr_schedule(W + (uint64_t)(f * (N - W)), W,
					      N, hi, lo);
		if (fabs(got - want) > 2 * slope)
			fail_msg("at %.0f%% of the decay lr is %g, a cosine "
				 "gives %g", 100 * f, got, want);
	}
	printf("  lr: step 0 %.3g, %d %.3g, %d %.3g, %d %.3g, %d %.3g\n",
	       kiln_lr_schedule(0, W, N, hi, lo), (int)W,
	       kiln_lr_schedule(W, W, N, hi, lo), (int)(W + N) / 2,
	       kiln_lr_schedule((W + N) / 2, W, N, hi, lo), (int)N,
	       kiln_lr_schedule(N, W, N, hi, lo), (int)N + 100,
	       kiln_lr_schedule(N + 100, W, N, hi, lo));
	assert_true(fabs(kiln_lr_schedule(N, W, N, hi, lo) - lo) <=
		    1e-4 * (hi - lo));
	/* Never outside [min_lr, max_lr] after the warm-up, past the end
	 * included (a resumed run may ask). */
	for (uint64_t s = W; s < N + 300; s++) {
		float lr = kiln_lr_schedule(s, W, N, hi, lo);
		if (!(lr >= lo * (1 - 1e-6) && lr <= hi * (1 + 1e-6)))
			fail_msg("step %d: lr %g outside [%g, %g]", (int)s,
				 lr, lo, hi);
	}
	/* No warm-up: max_lr from the first step. */
	assert_true(fabs(kiln_lr_schedule(0, 0, N, hi, lo) - hi) <=
		    2 * M_PI / 2 * (hi - lo) / N);
	/* min_lr 0 ends at 0. */
	assert_true(fabs(kiln_lr_schedule(N, W, N, hi, 0.0f)) <= 1e-4 * hi);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(gradients_match_finite_differences),
		cmocka_unit_test(gradients_with_packed_rows),
		cmocka_unit_test(ignored_targets),
		cmocka_unit_test(same_seed_same_bits),
		cmocka_unit_test(init_is_gpt2s),
		cmocka_unit_test(lr_schedule_shape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
