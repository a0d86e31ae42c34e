/* The batcher (kiln/batch.h) in-process: what kiln serve, the local
 * teacher and the lab stand on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/batch.h"

static const kiln_gpt_config cfg0 = { .n_layer = 2, .n_head = 2,
				      .d_model = 32, .n_ctx = 64,
				      .vocab = 257 };

struct fixture {
	kiln_gpt *m;
	kiln_tok *tok;
	kiln_batcher *b;
};

static void setup_with(struct fixture *f, int max_batch, float scale)
{
	kiln_batcher_config c;
	kiln_error err = { 0, "" };

	assert_int_equal(kiln_tok_bytes(&f->tok, &err), 0);
	assert_int_equal(kiln_gpt_new(&f->m, &cfg0, 7, &err), 0);
	for (size_t i = 0; i < 257u * 32u; i++)
		f->m->w.wte[i] *= scale;
	kiln_batcher_config_default(&c);
	c.max_batch = max_batch;
	c.prefill_chunk = 5; /* prompts take several steps */
	if (kiln_batcher_new(&f->b, f->m, f->tok, &c, &err))
		fail_msg("%s", err.msg);
}

static void teardown_f(struct fixture *f)
{
	kiln_batcher_free(f->b);
	kiln_gpt_free(f->m);
	kiln_tok_free(f->tok);
}

static kiln_sample_params params(double t, uint64_t seed, int max_tokens)
{
	kiln_sample_params p;

	kiln_sample_params_default(&p);
	p.temperature = t;
	p.seed = seed;
	p.max_tokens = max_tokens;
	return p;
}

/* Choice i's whole text (malloc'd). */
static char *text_of(kiln_batch_req *r, int i, enum kiln_finish *f)
{
	char *t;
	size_t n;

	assert_int_equal(kiln_batch_read(r, i, 0, &t, &n, f, NULL, NULL), 0);
	assert_int_equal(strlen(t), n);
	return t;
}

static int collect(void *ctx, const char *text, size_t n)
{
	char *buf = ctx;
	size_t have = strlen(buf);

	memcpy(buf + have, text, n);
	buf[have + n] = '\0';
	return 0;
}

static void ref_text(struct fixture *f, const char *prompt,
		     const kiln_sample_params *p, char *buf)
{
	kiln_sample_result res;
	kiln_kv *kv;
	int *ids, n;

	buf[0] = '\0';
	assert_int_equal(kiln_sample_prompt(f->tok, prompt, strlen(prompt),
					    64, &ids, &n, NULL), 0);
	assert_int_equal(kiln_kv_new(&kv, f->m, 1, NULL), 0);
	assert_int_equal(kiln_sample_run(f->m, kv, 0, f->tok, ids, n, p,
			 collect, buf, &res, NULL), 0);
	kiln_kv_free(kv);
	free(ids);
}

/* Many requests at once, each choice equal to the one-sequence driver. */
static void batched_equals_alone(void **state)
{
	static const char *prompts[] = { "def add(a, b):\n", "import os\n",
		"", "class Stack:\n    def", "x = [1, 2, 3]\n" };
	struct fixture f;
	kiln_batch_req *r[5];
	char want[4096];
	kiln_error err = { 0, "" };

	(void)state;
	setup_with(&f, 3, 4);
	for (int i = 0; i < 5; i++) {
		kiln_sample_params p = params(i % 2 ? 0.9 : 0, 11 + i, 20);

		if (kiln_batch_submit_text(f.b, prompts[i], strlen(prompts[i]),
					   2, &p, &r[i], &err))
			fail_msg("%s", err.msg);
	}
	for (int i = 0; i < 5; i++) {
		assert_int_equal(kiln_batch_wait(r[i], NULL, -1), 1);
		assert_int_equal(kiln_batch_status(r[i], &err), 1);
		for (int c = 0; c < 2; c++) {
			kiln_sample_params p = params(i % 2 ? 0.9 : 0,
						      11 + i + c, 20);
			enum kiln_finish fin;
			char *got = text_of(r[i], c, &fin);

			ref_text(&f, prompts[i], &p, want);
			assert_string_equal(got, want);
			assert_int_not_equal(fin, KILN_FINISH_NONE);
			free(got);
		}
		assert_int_equal(kiln_batch_prompt_tokens(r[i]),
				 prompts[i][0] ? (int)strlen(prompts[i]) : 1);
		kiln_batch_release(r[i]);
	}
	teardown_f(&f);
}

/* Seeds are seed + i modulo 2^64: distinct within a request, and choice 1
 * of UINT64_MAX is choice 0 of seed 0. */
static void seeds_wrap_without_repeating(void **state)
{
	struct fixture f;
	kiln_sample_params p = params(1.0, UINT64_MAX, 24);
	kiln_batch_req *a, *b;
	char *a0, *a1, *b0;

	(void)state;
	setup_with(&f, 4, 1);
	assert_int_equal(kiln_batch_submit_text(f.b, "x", 1, 2, &p, &a, NULL), 0);
	p.seed = 0;
	assert_int_equal(kiln_batch_submit_text(f.b, "x", 1, 1, &p, &b, NULL), 0);
	kiln_batch_wait(a, NULL, -1);
	kiln_batch_wait(b, NULL, -1);
	a0 = text_of(a, 0, NULL);
	a1 = text_of(a, 1, NULL);
	b0 = text_of(b, 0, NULL);
	assert_string_not_equal(a0, a1);
	assert_string_equal(a1, b0);
	free(a0), free(a1), free(b0);
	kiln_batch_release(a);
	kiln_batch_release(b);
	teardown_f(&f);
}

/* Waiting for news: the pieces read after each wait add up to the whole. */
static void streaming_reads_add_up(void **state)
{
	struct fixture f;
	kiln_sample_params p = params(0.8, 5, 40);
	kiln_batch_req *r;
	char acc[4096] = "", *t, *whole;
	size_t from = 0, n;
	uint64_t seen = 0;
	enum kiln_finish fin = KILN_FINISH_NONE;
	int wakes = 0, done = 0;

	(void)state;
	setup_with(&f, 2, 4);
	assert_int_equal(kiln_batch_submit_text(f.b, "abc", 3, 1, &p, &r, NULL), 0);
	{
		uint64_t zero = 0; /* the first look never waits */

		assert_true(kiln_batch_wait(r, &zero, 0) >= 0);
		assert_true(zero > 0);
	}
	while (!done) {
		int st = kiln_batch_wait(r, &seen, 10000);

		assert_true(st == 0 || st == 1);
		done = st == 1;
		wakes++;
		assert_int_equal(kiln_batch_read(r, 0, from, &t, &n, &fin, NULL,
						 NULL), 0);
		memcpy(acc + from, t, n + 1);
		from += n;
		free(t);
	}
	assert_int_not_equal(fin, KILN_FINISH_NONE);
	whole = text_of(r, 0, NULL);
	assert_string_equal(acc, whole);
	assert_true(wakes >= 2);
	/* a first wait with seen = 0 returns at once, even when nothing
	 * changes any more */
	seen = 0;
	assert_int_equal(kiln_batch_wait(r, &seen, 0), 1);
	assert_true(seen > 0);
	assert_int_equal(kiln_batch_wait(r, &seen, 0), 1);
	free(whole);
	kiln_batch_release(r);
	teardown_f(&f);
}

/* Regression (kiln serve's decode thread died): a model whose weights
 * give +inf logits is answered with valid tokens, and the batcher goes on
 * serving. (kiln_model_open refuses such a file; a model made in memory
 * reaches the batcher anyway.) */
static void infinite_weights_keep_the_decoder_alive(void **state)
{
	struct fixture f;
	kiln_sample_params p = params(1.0, 3, 8);
	kiln_batch_req *r;
	kiln_error err = { 0, "" };
	char *t;
	size_t n;
	int tokens;

	(void)state;
	setup_with(&f, 2, 1);
	/* logit of 'A' = lnf(x)[0] * inf with lnf(x)[0] = 1 > 0: +inf */
	f.m->w.wte[65 * 32] = INFINITY;
	f.m->w.lnf_w[0] = 0;
	f.m->w.lnf_b[0] = 1;
	for (int k = 0; k < 3; k++) {
		p.top_p = k == 2 ? 0.5 : 1;
		p.top_k = k == 1 ? 5 : 0;
		assert_int_equal(kiln_batch_submit_text(f.b, "hello", 5, 2, &p,
							&r, &err), 0);
		assert_int_equal(kiln_batch_wait(r, NULL, 20000), 1);
		assert_int_equal(kiln_batch_status(r, &err), 1);
		/* the +inf logit wins; then 'A' makes every logit NaN and
		 * token 0 (a NUL byte) follows, as documented */
		assert_int_equal(kiln_batch_read(r, 0, 0, &t, &n, NULL,
						 &tokens, NULL), 0);
		assert_int_equal(t[0], 'A');
		assert_int_equal(n, 8);
		assert_int_equal(tokens, 8);
		free(t);
		kiln_batch_release(r);
	}
	teardown_f(&f);
}

static void cancel_stop_and_bad_arguments(void **state)
{
	struct fixture f;
	kiln_sample_params p = params(0, 1, 60);
	kiln_batch_req *r, *q;
	kiln_error err = { 0, "" };
	int ids[64] = { 0 }, active, queued;

	(void)state;
	setup_with(&f, 1, 1);
	assert_int_equal(kiln_batch_submit(f.b, ids, 0, 1, &p, &r, &err),
			 KILN_EINVAL);
	assert_int_equal(kiln_batch_submit(f.b, ids, 64, 1, &p, &r, &err),
			 KILN_EINVAL);
	assert_non_null(strstr(err.msg, "expected 1 .. 63"));
	ids[3] = 257;
	assert_int_equal(kiln_batch_submit(f.b, ids, 5, 1, &p, &r, &err),
			 KILN_EINVAL);
	assert_non_null(strstr(err.msg, "prompt token 3 is 257"));
	ids[3] = 0;
	assert_int_equal(kiln_batch_submit(f.b, ids, 5, 0, &p, &r, &err),
			 KILN_EINVAL);
	p.top_p = 0;
	assert_int_equal(kiln_batch_submit(f.b, ids, 5, 1, &p, &r, &err),
			 KILN_EINVAL);
	p.top_p = 1;
	memset(ids, 'a', sizeof(ids));
	assert_int_equal(kiln_batch_submit_text(f.b, (char *)ids, 64, 1, &p,
						&r, &err), KILN_EINVAL);
	assert_non_null(strstr(err.msg, "the prompt is 64 tokens"));

	/* cancel: the request ends, its choices as far as they got */
	assert_int_equal(kiln_batch_submit_text(f.b, "a", 1, 3, &p, &r, &err), 0);
	assert_int_equal(kiln_batch_submit_text(f.b, "b", 1, 1, &p, &q, &err), 0);
	kiln_batch_cancel(r);
	assert_int_equal(kiln_batch_wait(r, NULL, 20000), 1);
	assert_int_equal(kiln_batch_status(r, &err), 1);
	kiln_batch_release(r);
	assert_int_equal(kiln_batch_wait(q, NULL, 20000), 1);
	kiln_batch_release(q);

	/* stop: what waits fails with KILN_EINVAL; new requests refused */
	p.max_tokens = 60;
	assert_int_equal(kiln_batch_submit_text(f.b, "a", 1, 4, &p, &r, &err), 0);
	kiln_batcher_stop(f.b);
	assert_int_equal(kiln_batch_wait(r, NULL, 20000), 1);
	assert_int_equal(kiln_batch_status(r, &err), KILN_EINVAL);
	assert_string_equal(err.msg, "stopping");
	kiln_batcher_stats(f.b, &active, &queued);
	assert_int_equal(active + queued, 0);
	assert_int_equal(kiln_batch_submit_text(f.b, "a", 1, 1, &p, &q, &err),
			 KILN_EINVAL);
	kiln_batch_release(r);
	teardown_f(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(batched_equals_alone),
		cmocka_unit_test(seeds_wrap_without_repeating),
		cmocka_unit_test(streaming_reads_add_up),
		cmocka_unit_test(infinite_weights_keep_the_decoder_alive),
		cmocka_unit_test(cancel_stop_and_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
