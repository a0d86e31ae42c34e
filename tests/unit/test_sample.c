/* The sampler on synthetic logits, stop sequences, and kiln_gen over the
 * byte tokenizer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/sample.h"
#include "kiln/tokenizer.h"

#define V 50

static kiln_sampler *sampler(double temperature, int top_k, double top_p,
			     uint64_t seed)
{
	kiln_sample_params p;
	kiln_sampler *s = NULL;
	kiln_error err = { 0, "" };

	kiln_sample_params_default(&p);
	p.temperature = temperature;
	p.top_k = top_k;
	p.top_p = top_p;
	p.seed = seed;
	if (kiln_sampler_new(&s, V, &p, &err))
		fail_msg("sampler: %s", err.msg);
	return s;
}

/* Logits with a known softmax: l[i] = log(w[i]). */
static void logits_from(float *l, const double *w)
{
	for (int i = 0; i < V; i++)
		l[i] = w[i] > 0 ? (float)log(w[i]) : -INFINITY;
}

static void random_logits(float *l, uint64_t seed)
{
	kiln_rng r;

	kiln_rng_seed(&r, seed);
	for (int i = 0; i < V; i++)
		l[i] = (float)(kiln_rng_double(&r) * 8 - 4);
}

static void greedy_picks_argmax(void **state)
{
	float l[V];

	(void)state;
	for (uint64_t t = 0; t < 100; t++) {
		kiln_sampler *s = sampler(0, 0, 1, t), *k1 = sampler(0.8, 1, 1, t);
		int best = 0;

		random_logits(l, t);
		for (int i = 1; i < V; i++)
			if (l[i] > l[best])
				best = i;
		assert_int_equal(kiln_sampler_pick(s, l), best);
		/* top-k 1 is greedy whatever the temperature */
		assert_int_equal(kiln_sampler_pick(k1, l), best);
		kiln_sampler_free(s);
		kiln_sampler_free(k1);
	}
}

static void greedy_ties_and_nan(void **state)
{
	float l[V];
	kiln_sampler *s = sampler(0, 0, 1, 1);

	(void)state;
	for (int i = 0; i < V; i++)
		l[i] = 1;
	assert_int_equal(kiln_sampler_pick(s, l), 0);
	l[7] = 3;
	l[9] = 3;
	assert_int_equal(kiln_sampler_pick(s, l), 7);
	l[3] = NAN;
	assert_int_equal(kiln_sampler_pick(s, l), 7);
	for (int i = 0; i < V; i++)
		l[i] = -INFINITY;
	assert_int_equal(kiln_sampler_pick(s, l), 0);
	kiln_sampler_free(s);
}

/* Draws n tokens; counts per id. */
static void draw(kiln_sampler *s, const float *l, int n, int *count)
{
	memset(count, 0, V * sizeof(*count));
	for (int i = 0; i < n; i++) {
		int t = kiln_sampler_pick(s, l);

		assert_true(t >= 0 && t < V);
		count[t]++;
	}
}

/* Pearson's chi-square of counts against probabilities w (sum 1). */
static double chi2(const int *count, const double *w, int n)
{
	double x = 0;

	for (int i = 0; i < V; i++)
		if (w[i] > 0) {
			double e = w[i] * n;

			x += (count[i] - e) * (count[i] - e) / e;
		} else if (count[i]) {
			return INFINITY;
		}
	return x;
}

static void temperature_shapes_distribution(void **state)
{
	double w[V], w2[V], sum = 0, sum2 = 0;
	float l[V];
	int count[V], n = 200000;
	kiln_sampler *s1 = sampler(1, 0, 1, 42), *s2 = sampler(0.5, 0, 1, 42);

	(void)state;
	for (int i = 0; i < V; i++) {
		w[i] = 1.0 + i % 7;
		sum += w[i];
	}
	for (int i = 0; i < V; i++) {
		w[i] /= sum;
		w2[i] = w[i] * w[i]; /* T = 0.5 squares the weights */
		sum2 += w2[i];
	}
	for (int i = 0; i < V; i++)
		w2[i] /= sum2;
	logits_from(l, w);
	/* 49 degrees of freedom: the 99.9th percentile is about 85. */
	draw(s1, l, n, count);
	assert_true(chi2(count, w, n) < 85);
	assert_true(chi2(count, w2, n) > 1000);
	draw(s2, l, n, count);
	assert_true(chi2(count, w2, n) < 85);
	assert_true(chi2(count, w, n) > 1000);
	kiln_sampler_free(s1);
	kiln_sampler_free(s2);
}

static void top_k_keeps_k_best(void **state)
{
	double w[V] = { 0 };
	float l[V];
	int count[V];
	kiln_sampler *s = sampler(1, 3, 1, 5);

	(void)state;
	for (int i = 0; i < V; i++)
		w[i] = 1;
	w[10] = 40;
	w[20] = 30;
	w[30] = 20;
	logits_from(l, w);
	draw(s, l, 90000, count);
	for (int i = 0; i < V; i++)
		if (i != 10 && i != 20 && i != 30)
			assert_int_equal(count[i], 0);
	/* renormalised: 4/9, 3/9, 2/9 */
	assert_true(fabs(count[10] / 90000.0 - 4.0 / 9) < 0.01);
	assert_true(fabs(count[20] / 90000.0 - 3.0 / 9) < 0.01);
	assert_true(fabs(count[30] / 90000.0 - 2.0 / 9) < 0.01);
	kiln_sampler_free(s);
}

static void top_p_keeps_smallest_set(void **state)
{
	double w[V] = { 0 };
	float l[V];
	int count[V];
	kiln_sampler *s;

	(void)state;
	/* 0.5, 0.3, 0.1, then 0.1 spread over the rest */
	w[4] = 0.5;
	w[8] = 0.3;
	w[15] = 0.1;
	for (int i = 0; i < V; i++)
		if (i != 4 && i != 8 && i != 15)
			w[i] = 0.1 / (V - 3);
	logits_from(l, w);

	/* p = 0.75: {4, 8} reaches it (0.8); {4} alone does not. */
	s = sampler(1, 0, 0.75, 9);
	draw(s, l, 80000, count);
	for (int i = 0; i < V; i++)
		if (i != 4 && i != 8)
			assert_int_equal(count[i], 0);
	assert_true(fabs(count[4] / 80000.0 - 5.0 / 8) < 0.01);
	kiln_sampler_free(s);

	/* p = 0.5 exactly: {4} reaches it. */
	s = sampler(1, 0, 0.5, 9);
	draw(s, l, 1000, count);
	assert_int_equal(count[4], 1000);
	kiln_sampler_free(s);

	/* p = 0.85: {4, 8, 15}. */
	s = sampler(1, 0, 0.85, 9);
	draw(s, l, 20000, count);
	assert_int_equal(count[4] + count[8] + count[15], 20000);
	assert_true(count[15] > 0);
	kiln_sampler_free(s);

	/* top-k first, then top-p on what is left: k 2, p 0.9 of {0.5,
	 * 0.3}/0.8 needs both. */
	s = sampler(1, 2, 0.9, 9);
	draw(s, l, 20000, count);
	assert_int_equal(count[4] + count[8], 20000);
	assert_true(count[8] > 0);
	kiln_sampler_free(s);
}

static void seeds_reproduce(void **state)
{
	float l[V];
	int a[200], b[200], c[200], same = 0;
	kiln_sampler *s1 = sampler(1, 0, 0.95, 77), *s2 = sampler(1, 0, 0.95, 77),
		     *s3 = sampler(1, 0, 0.95, 78);

	(void)state;
	random_logits(l, 3);
	for (int i = 0; i < 200; i++) {
		a[i] = kiln_sampler_pick(s1, l);
		b[i] = kiln_sampler_pick(s2, l);
		c[i] = kiln_sampler_pick(s3, l);
		same += a[i] == c[i];
	}
	assert_memory_equal(a, b, sizeof(a));
	assert_true(same < 100);
	kiln_sampler_free(s1);
	kiln_sampler_free(s2);
	kiln_sampler_free(s3);
}

static void params_checked(void **state)
{
	kiln_sample_params p;
	kiln_error err = { 0, "" };
	const char *stops[] = { "" };

	(void)state;
	kiln_sample_params_default(&p);
	assert_int_equal(kiln_sample_params_check(&p, &err), 0);
	p.top_p = 0;
	assert_int_equal(kiln_sample_params_check(&p, &err), KILN_EINVAL);
	kiln_sample_params_default(&p);
	p.temperature = -1;
	assert_int_equal(kiln_sample_params_check(&p, &err), KILN_EINVAL);
	kiln_sample_params_default(&p);
	p.temperature = NAN;
	assert_int_equal(kiln_sample_params_check(&p, &err), KILN_EINVAL);
	kiln_sample_params_default(&p);
	p.max_tokens = 0;
	assert_int_equal(kiln_sample_params_check(&p, &err), KILN_EINVAL);
	kiln_sample_params_default(&p);
	p.stop = stops;
	p.n_stop = 1;
	assert_int_equal(kiln_sample_params_check(&p, &err), KILN_EINVAL);
	assert_non_null(strstr(err.msg, "stop"));
}

static void stop_find(void **state)
{
	const char *stops[] = { "\ndef", "END" };
	size_t safe;

	(void)state;
	assert_int_equal(kiln_stop_find("abc", 3, 0, stops, 2, &safe), -1);
	assert_int_equal(safe, 3);
	/* a tail that may become a stop is held back */
	assert_int_equal(kiln_stop_find("abc\nde", 6, 0, stops, 2, &safe), -1);
	assert_int_equal(safe, 3);
	assert_int_equal(kiln_stop_find("abcEN", 5, 0, stops, 2, &safe), -1);
	assert_int_equal(safe, 3);
	/* a match that began before `from` */
	assert_int_equal(kiln_stop_find("abc\ndef x", 9, 5, stops, 2, &safe), 3);
	assert_int_equal(safe, 3);
	/* the earliest of two */
	assert_int_equal(kiln_stop_find("xENDy\ndef", 9, 0, stops, 2, &safe), 1);
	/* no stops: everything is safe */
	assert_int_equal(kiln_stop_find("abc", 3, 0, NULL, 0, &safe), -1);
	assert_int_equal(safe, 3);
}

/* Logits that make the byte tokenizer say `text`, then EOT. */
struct script {
	const char *text;
	size_t at;
};

static void next_logits(struct script *sc, float *l, int vocab, int eot)
{
	for (int i = 0; i < vocab; i++)
		l[i] = 0;
	if (sc->text[sc->at])
		l[(unsigned char)sc->text[sc->at++]] = 10;
	else
		l[eot] = 10;
}

/* Runs a kiln_gen on scripted logits; returns its text (static). */
static const char *run_gen(const char *text, const char *const *stop,
			   int n_stop, int max_tokens, enum kiln_finish *fin,
			   int *tokens)
{
	static char out[256];
	kiln_tok *tok = NULL;
	kiln_gen *g = NULL;
	kiln_sample_params p;
	kiln_error err = { 0, "" };
	struct script sc = { text, 0 };
	float l[257];
	size_t len, shown = 0;
	int next, rc;

	assert_int_equal(kiln_tok_bytes(&tok, &err), 0);
	kiln_sample_params_default(&p);
	p.temperature = 0;
	p.stop = stop;
	p.n_stop = n_stop;
	p.max_tokens = max_tokens;
	assert_int_equal(kiln_gen_new(&g, tok, kiln_tok_vocab(tok), &p, &err), 0);
	do {
		const char *t;

		next_logits(&sc, l, 257, kiln_tok_eot(tok));
		rc = kiln_gen_step(g, l, &next, &err);
		assert_true(rc == 0 || rc == 1);
		t = kiln_gen_text(g, &len);
		/* released text only grows and never shows a stop */
		assert_true(len >= shown);
		shown = len;
		for (int i = 0; i < n_stop; i++)
			assert_null(memmem(t, len, stop[i], strlen(stop[i])));
		if (rc == 0)
			assert_int_equal(next, (unsigned char)text[sc.at - 1]);
	} while (rc == 0);
	assert_true(len < sizeof(out));
	memcpy(out, kiln_gen_text(g, &len), len);
	out[len] = '\0';
	*fin = kiln_gen_finish(g);
	*tokens = kiln_gen_tokens(g);
	kiln_gen_free(g);
	kiln_tok_free(tok);
	return out;
}

static void gen_stops_across_tokens(void **state)
{
	const char *stops[] = { "\n\nclass", "xyz" };
	enum kiln_finish fin;
	int n;

	(void)state;
	/* every byte is a token: each stop spans several tokens */
	assert_string_equal(run_gen("def f():\n    pass\n\nclass A", stops, 2,
				    100, &fin, &n), "def f():\n    pass");
	assert_int_equal(fin, KILN_FINISH_STOP);
	assert_int_equal(n, 24);
	/* a false start of a stop is released in the end */
	assert_string_equal(run_gen("a\n\nclas", stops, 2, 100, &fin, &n),
			    "a\n\nclas");
	assert_int_equal(fin, KILN_FINISH_STOP); /* EOT */
	assert_int_equal(n, 8);
	/* max tokens */
	assert_string_equal(run_gen("abcdefgh", NULL, 0, 5, &fin, &n), "abcde");
	assert_int_equal(fin, KILN_FINISH_LENGTH);
	assert_int_equal(n, 5);
	/* max tokens while a stop's beginning is held: released at the end */
	assert_string_equal(run_gen("abxy", stops, 2, 4, &fin, &n), "abxy");
	assert_int_equal(fin, KILN_FINISH_LENGTH);
	/* a stop at the very start */
	assert_string_equal(run_gen("xyzabc", stops, 2, 100, &fin, &n), "");
	assert_int_equal(fin, KILN_FINISH_STOP);
	assert_int_equal(n, 3);
}

/* kiln_logprobs: log_softmax of the raw logits, the likeliest first (ties:
 * the lower id), -infinity as KILN_LOGPROB_MIN. */
static void logprobs_known_softmax(void **state)
{
	float l[V];
	kiln_token_logprob t;
	double sum = 0;

	(void)state;
	for (int i = 0; i < V; i++)
		l[i] = (float)log(1.0 + i % 7);  /* weights 1..7, ties */
	for (int i = 0; i < V; i++)
		sum += 1.0 + i % 7;
	kiln_logprobs(l, V, 3, 4, &t);
	assert_int_equal(t.id, 3);
	assert_true(fabs(t.logprob - log(4.0 / sum)) < 1e-5);
	assert_int_equal(t.n_top, 4);
	/* weight 7 at ids 6, 13, 20, 27, ...: the lowest ids first */
	assert_int_equal(t.top[0].id, 6);
	assert_int_equal(t.top[1].id, 13);
	assert_int_equal(t.top[2].id, 20);
	assert_int_equal(t.top[3].id, 27);
	assert_true(fabs(t.top[0].logprob - log(7.0 / sum)) < 1e-5);
	/* no alternatives asked; more than the vocabulary: all of it */
	kiln_logprobs(l, V, 0, 0, &t);
	assert_int_equal(t.n_top, 0);
	kiln_logprobs(l, 3, 0, KILN_SAMPLE_MAX_TOP_LOGPROBS, &t);
	assert_int_equal(t.n_top, 3);
	assert_int_equal(t.top[0].id, 2);
	/* NaN and -inf: no probability */
	l[5] = NAN;
	l[8] = -INFINITY;
	kiln_logprobs(l, V, 5, 2, &t);
	assert_true(t.logprob == KILN_LOGPROB_MIN);
	kiln_logprobs(l, V, 8, 2, &t);
	assert_true(t.logprob == KILN_LOGPROB_MIN);
	/* two +inf logits share the probability */
	l[10] = INFINITY;
	l[40] = INFINITY;
	kiln_logprobs(l, V, 40, 3, &t);
	assert_true(fabs(t.logprob - log(0.5)) < 1e-6);
	assert_int_equal(t.top[0].id, 10);
	assert_int_equal(t.top[1].id, 40);
	assert_true(t.top[2].logprob == KILN_LOGPROB_MIN);
}

/* kiln_gen_logprobs lists the tokens of the released text: one that
 * begins at a stop's cut is not listed, nor the end-of-text token. */
static void gen_logprobs_follow_text(void **state)
{
	const char *stops[] = { "xyz" };
	const char *text = "abxyzq";
	kiln_tok *tok = NULL;
	kiln_gen *g = NULL;
	kiln_sample_params p;
	kiln_error err = { 0, "" };
	struct script sc = { text, 0 };
	const kiln_token_logprob *lp;
	float l[257];
	size_t n, len;
	int next, rc;

	(void)state;
	assert_int_equal(kiln_tok_bytes(&tok, &err), 0);
	kiln_sample_params_default(&p);
	p.temperature = 0;
	p.stop = stops;
	p.n_stop = 1;
	p.logprobs = 1;
	p.top_logprobs = 2;
	assert_int_equal(kiln_gen_new(&g, tok, 257, &p, &err), 0);
	do {
		next_logits(&sc, l, 257, kiln_tok_eot(tok));
		rc = kiln_gen_step(g, l, &next, &err);
		assert_true(rc == 0 || rc == 1);
		lp = kiln_gen_logprobs(g, &n);
		kiln_gen_text(g, &len);
		/* while running: the tokens that begin in the released text */
		for (size_t i = 0; i < n; i++)
			assert_true(lp[i].offset < len || rc == 1);
	} while (rc == 0);
	lp = kiln_gen_logprobs(g, &n);
	assert_int_equal(n, 2);
	assert_int_equal(lp[0].id, 'a');
	assert_int_equal(lp[1].id, 'b');
	assert_int_equal(lp[1].offset, 1);
	assert_int_equal(lp[1].n_top, 2);
	assert_int_equal(lp[1].top[0].id, 'b');
	/* logit 10 among 256 zeros */
	assert_true(fabs(lp[1].logprob - (10 - log(exp(10) + 256))) < 1e-5);
	kiln_gen_free(g);
	/* without p.logprobs: nothing */
	p.logprobs = 0;
	assert_int_equal(kiln_gen_new(&g, tok, 257, &p, &err), 0);
	next_logits(&sc, l, 257, kiln_tok_eot(tok));
	kiln_gen_step(g, l, &next, &err);
	assert_null(kiln_gen_logprobs(g, &n));
	assert_int_equal(n, 0);
	kiln_gen_free(g);
	kiln_tok_free(tok);
}

/* Regression: a checkpoint with an infinite weight gives +inf logits;
 * exp(inf - inf) is NaN, no token survived the filter and the sampler read
 * the candidate before its array (a token id out of range; in kiln serve
 * the decode thread died). Every setting must now give a valid token: the
 * +inf logit (the lowest such id when there are several). */
static void infinite_logits_pick_a_valid_token(void **state)
{
	static const double temps[] = { 0, 0.7, 1, 2 };
	static const int ks[] = { 0, 1, 5 };
	static const double ps[] = { 1, 0.9, 0.1 };
	float l[V];

	(void)state;
	for (size_t a = 0; a < sizeof(temps) / sizeof(temps[0]); a++)
		for (size_t b = 0; b < sizeof(ks) / sizeof(ks[0]); b++)
			for (size_t c = 0; c < sizeof(ps) / sizeof(ps[0]); c++) {
				kiln_sampler *s = sampler(temps[a], ks[b], ps[c], 3);

				random_logits(l, 9);
				l[7] = INFINITY;
				assert_int_equal(kiln_sampler_pick(s, l), 7);
				l[3] = INFINITY;
				l[5] = NAN;
				assert_int_equal(kiln_sampler_pick(s, l), 3);
				for (int i = 0; i < V; i++)
					l[i] = INFINITY;
				assert_int_equal(kiln_sampler_pick(s, l), 0);
				for (int i = 0; i < V; i++)
					l[i] = i % 2 ? NAN : -INFINITY;
				assert_int_equal(kiln_sampler_pick(s, l), 0);
				l[12] = -INFINITY;
				l[13] = -3e38f;
				assert_int_equal(kiln_sampler_pick(s, l), 13);
				kiln_sampler_free(s);
			}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(greedy_picks_argmax),
		cmocka_unit_test(greedy_ties_and_nan),
		cmocka_unit_test(infinite_logits_pick_a_valid_token),
		cmocka_unit_test(temperature_shapes_distribution),
		cmocka_unit_test(top_k_keeps_k_best),
		cmocka_unit_test(top_p_keeps_smallest_set),
		cmocka_unit_test(seeds_reproduce),
		cmocka_unit_test(params_checked),
		cmocka_unit_test(stop_find),
		cmocka_unit_test(gen_stops_across_tokens),
		cmocka_unit_test(logprobs_known_softmax),
		cmocka_unit_test(gen_logprobs_follow_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
