/* The model's files and inference API (kiln/model.h): checkpoints round-trip
 * exactly; truncated, foreign and corrupted files are clear errors; bad
 * inference calls are refused without changing the cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kiln/model.h"
#include "kiln/train.h"
#include "model/gpt_int.h"
#include "tmpdir.h"

static const kiln_gpt_config small = { .n_layer = 2, .n_head = 2,
				       .d_model = 16, .n_ctx = 12, .vocab = 37 };

static char *path_of(const char *name)
{
	static char path[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(path[i], sizeof path[i], "%s/%s", dir, name);
	return path[i];
}

static unsigned char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	unsigned char *b;
	long len;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)len);
	assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	*n = (size_t)len;
	return b;
}

static void spit(const char *path, const void *b, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, n, f), n);
	fclose(f);
}

static void init_is_seeded_and_shaped(void **state)
{
	kiln_gpt *a, *b, *c;
	(void)state;

	assert_int_equal(kiln_gpt_new(&a, &small, 5, NULL), 0);
	assert_int_equal(kiln_gpt_new(&b, &small, 5, NULL), 0);
	assert_int_equal(kiln_gpt_new(&c, &small, 6, NULL), 0);
	assert_memory_equal(a->params, b->params, a->n_params * sizeof(float));
	assert_true(memcmp(a->params, c->params, a->n_params * sizeof(float)));
	/* LayerNorm weights 1, biases 0, weights small */
	for (int i = 0; i < small.d_model; i++) {
		assert_true(a->w.layer[1].ln2_w[i] == 1.0f);
		assert_true(a->w.layer[1].fc_b[i] == 0.0f);
		assert_true(fabsf(a->w.wte[i]) < 0.2f);
	}
	/* the views tile the array exactly */
	assert_true(a->w.lnf_b + small.d_model == a->params + a->n_params);
	kiln_gpt_free(a), kiln_gpt_free(b), kiln_gpt_free(c);
}

static void config_check_refuses_nonsense(void **state)
{
	kiln_gpt_config c = small;
	kiln_gpt *m = NULL;
	kiln_error err;
	(void)state;

	c.d_model = 15; /* not a multiple of 2 heads */
	assert_int_equal(kiln_gpt_new(&m, &c, 1, &err), KILN_EINVAL);
	assert_non_null(strstr(err.msg, "d_model"));
	c = small, c.vocab = 1;
	assert_int_equal(kiln_gpt_config_check(&c, &err), KILN_EINVAL);
	c = small, c.n_layer = 0;
	assert_int_equal(kiln_gpt_config_check(&c, &err), KILN_EINVAL);
	assert_null(m);
}

static void checkpoint_round_trips_exactly(void **state)
{
	kiln_gpt *a, *b;
	kiln_blob tok = { "tokenizer-bytes", 15 }, train = { "state", 5 };
	kiln_blob t2, r2;
	kiln_error err;
	struct stat st;
	(void)state;

	assert_int_equal(kiln_gpt_new(&a, &small, 1, NULL), 0);
	assert_int_equal(kiln_gpt_save(path_of("a.bin"), a, &tok, &train, &err), 0);
	assert_int_equal(stat(path_of("a.bin"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(kiln_gpt_load(path_of("a.bin"), &b, &t2, &r2, &err), 0);
	assert_memory_equal(&a->cfg, &b->cfg, sizeof a->cfg);
	assert_int_equal(a->n_params, b->n_params);
	assert_memory_equal(a->params, b->params, a->n_params * sizeof(float));
	assert_int_equal(t2.len, 15);
	assert_memory_equal(t2.data, "tokenizer-bytes", 15);
	assert_int_equal(r2.len, 5);
	assert_memory_equal(r2.data, "state", 5);
	free(t2.data), free(r2.data);
	kiln_gpt_free(b);
	/* blobs are optional both ways */
	assert_int_equal(kiln_gpt_save(path_of("b.bin"), a, NULL, NULL, &err), 0);
	assert_int_equal(kiln_gpt_load(path_of("b.bin"), &b, &t2, NULL, &err), 0);
	assert_int_equal(t2.len, 0);
	free(t2.data);
	kiln_gpt_free(b);
	kiln_gpt_free(a);
}

static void damaged_checkpoints_are_clear_errors(void **state)
{
	static const char foreign[] =
		"#!/bin/sh\necho hello, this is not a model file at all\n"
		"padding padding padding padding padding padding\n";
	kiln_gpt *a, *b = NULL;
	kiln_blob tok = { "tok", 3 };
	kiln_error err;
	unsigned char *buf;
	size_t n;
	(void)state;

	assert_int_equal(kiln_gpt_new(&a, &small, 1, NULL), 0);
	assert_int_equal(kiln_gpt_save(path_of("c.bin"), a, &tok, NULL, &err), 0);
	buf = slurp(path_of("c.bin"), &n);

	/* every truncation, at a stride through the file, and the edges */
	for (size_t len = 0; len < n; len += (len < 80 ? 1 : 97)) {
		spit(path_of("t.bin"), buf, len);
		assert_int_equal(kiln_gpt_load(path_of("t.bin"), &b, NULL, NULL,
					       &err), KILN_EPARSE);
		assert_null(b);
	}
	spit(path_of("t.bin"), buf, n - 1);
	assert_int_equal(kiln_gpt_load(path_of("t.bin"), &b, NULL, NULL, &err),
			 KILN_EPARSE);
	assert_non_null(strstr(err.msg, "truncated"));

	/* one flipped bit in the weights: the checksum catches it */
	buf[64 + 100] ^= 0x10;
	spit(path_of("t.bin"), buf, n);
	assert_int_equal(kiln_gpt_load(path_of("t.bin"), &b, NULL, NULL, &err),
			 KILN_EPARSE);
	assert_non_null(strstr(err.msg, "checksum"));
	buf[64 + 100] ^= 0x10;

	/* a configuration that does not match the parameter count */
	buf[24] = 32; /* d_model 16 -> 32 */
	spit(path_of("t.bin"), buf, n);
	assert_int_equal(kiln_gpt_load(path_of("t.bin"), &b, NULL, NULL, &err),
			 KILN_EPARSE);
	assert_non_null(strstr(err.msg, "parameters"));
	buf[24] = 16;

	/* a huge blob length cannot make it read past the end */
	memset(buf + 48, 0xff, 8);
	spit(path_of("t.bin"), buf, n);
	assert_int_equal(kiln_gpt_load(path_of("t.bin"), &b, NULL, NULL, &err),
			 KILN_EPARSE);
	memset(buf + 48, 0, 8), buf[48] = 3;

	/* a foreign file, and a future version */
	spit(path_of("t.bin"), foreign, sizeof foreign - 1);
	assert_int_equal(kiln_gpt_load(path_of("t.bin"), &b, NULL, NULL, &err),
			 KILN_EPARSE);
	assert_non_null(strstr(err.msg, "not a kiln model"));
	buf[8] = 9;
	spit(path_of("t.bin"), buf, n);
	assert_int_equal(kiln_gpt_load(path_of("t.bin"), &b, NULL, NULL, &err),
			 KILN_EPARSE);
	assert_non_null(strstr(err.msg, "version"));
	buf[8] = 1;

	/* undamaged, it still loads (the edits above were undone) */
	spit(path_of("t.bin"), buf, n);
	assert_int_equal(kiln_gpt_load(path_of("t.bin"), &b, NULL, NULL, &err), 0);
	kiln_gpt_free(b);
	assert_int_equal(kiln_gpt_load(path_of("missing.bin"), &b, NULL, NULL,
				       &err), KILN_EIO);
	assert_int_equal(kiln_gpt_load(dir, &b, NULL, NULL, &err), KILN_EIO);
	free(buf);
	kiln_gpt_free(a);
}

static void bad_infer_calls_change_nothing(void **state)
{
	kiln_gpt *m;
	kiln_kv *kv;
	kiln_error err;
	float lg[2 * 37], lg2[37];
	int slot[2] = { 0, 0 }, pos[2] = { 0, 1 }, tok[2] = { 3, 4 };
	(void)state;

	assert_int_equal(kiln_gpt_new(&m, &small, 1, NULL), 0);
	assert_int_equal(kiln_kv_new(&kv, m, 2, &err), 0);
	assert_int_equal(kiln_gpt_infer(m, kv, 2, slot, pos, tok, NULL, lg, &err), 0);
	/* a gap: position 3 while slot 0 holds 2 */
	pos[0] = 3;
	assert_int_equal(kiln_gpt_infer(m, kv, 1, slot, pos, tok, NULL, lg2, &err),
			 KILN_EINVAL);
	assert_non_null(strstr(err.msg, "position 3"));
	/* bad slot, bad token, past the context */
	slot[0] = 2, pos[0] = 0;
	assert_int_equal(kiln_gpt_infer(m, kv, 1, slot, pos, tok, NULL, lg2, &err),
			 KILN_EINVAL);
	slot[0] = 0, tok[0] = 37;
	assert_int_equal(kiln_gpt_infer(m, kv, 1, slot, pos, tok, NULL, lg2, &err),
			 KILN_EINVAL);
	tok[0] = 3, pos[0] = 12;
	assert_int_equal(kiln_gpt_infer(m, kv, 1, slot, pos, tok, NULL, lg2, &err),
			 KILN_EINVAL);
	/* a row valid alone, after an invalid one in the same call: refused
	 * whole, so the next position is still 2 */
	{
		int s2[2] = { 0, 0 }, p2[2] = { 2, 9 }, t2[2] = { 5, 5 };

		assert_int_equal(kiln_gpt_infer(m, kv, 2, s2, p2, t2, NULL, lg,
						&err), KILN_EINVAL);
	}
	pos[0] = 2, tok[0] = 5;
	assert_int_equal(kiln_gpt_infer(m, kv, 1, slot, pos, tok, NULL, lg2, &err), 0);
	/* and rewinding a slot to position 0 starts a new sequence there:
	 * the first step's logits come back */
	pos[0] = 0, tok[0] = 3;
	assert_int_equal(kiln_gpt_infer(m, kv, 1, slot, pos, tok, NULL, lg2, &err), 0);
	for (int j = 0; j < 37; j++)
		assert_true(fabsf(lg2[j] - lg[j]) < 1e-5f);
	kiln_kv_free(kv);
	kiln_gpt_free(m);
}

static void want_mask_packs_rows(void **state)
{
	kiln_gpt *m;
	kiln_kv *kv;
	float all[3 * 37], some[37];
	int slot[3] = { 0, 1, 0 }, pos[3] = { 0, 0, 1 }, tok[3] = { 1, 2, 3 };
	unsigned char want[3] = { 0, 0, 1 };
	(void)state;

	assert_int_equal(kiln_gpt_new(&m, &small, 2, NULL), 0);
	assert_int_equal(kiln_kv_new(&kv, m, 2, NULL), 0);
	assert_int_equal(kiln_gpt_infer(m, kv, 3, slot, pos, tok, NULL, all, NULL), 0);
	assert_int_equal(kiln_gpt_infer(m, kv, 3, slot, pos, tok, want, some, NULL), 0);
	for (int j = 0; j < 37; j++)
		assert_true(fabsf(some[j] - all[2 * 37 + j]) < 1e-5f);
	kiln_kv_free(kv);
	kiln_gpt_free(m);
}

/* Decoding a sequence alone or in a batch with others must give the same
 * logits bit for bit: kiln serve's greedy answers must not depend on what
 * else the server is doing. */
static void batched_decoding_is_bitwise_the_same(void **state)
{
	kiln_gpt_config c = { .n_layer = 2, .n_head = 4, .d_model = 64,
			      .n_ctx = 24, .vocab = 301 };
	kiln_gpt *m;
	kiln_kv *alone, *batch;
	enum { S = 5, STEPS = 20 };
	static float la[S][STEPS][301], lb[S * 301];
	(void)state;

	assert_int_equal(kiln_gpt_new(&m, &c, 3, NULL), 0);
	assert_int_equal(kiln_kv_new(&alone, m, 1, NULL), 0);
	assert_int_equal(kiln_kv_new(&batch, m, S, NULL), 0);
	for (int s = 0; s < S; s++)
		for (int t = 0; t < STEPS; t++) {
			int slot = 0, tok = (s * 31 + t * 7) % 301;

			assert_int_equal(kiln_gpt_infer(m, alone, 1, &slot, &t, &tok,
							NULL, la[s][t], NULL), 0);
		}
	for (int t = 0; t < STEPS; t++) {
		int slot[S], pos[S], tok[S], n = 0;

		/* sequences join late and in a shuffled order */
		for (int s = S - 1; s >= 0; s--) {
			slot[n] = s, pos[n] = t, tok[n] = (s * 31 + t * 7) % 301;
			n++;
		}
		assert_int_equal(kiln_gpt_infer(m, batch, n, slot, pos, tok, NULL,
						lb, NULL), 0);
		for (int i = 0; i < n; i++)
			assert_memory_equal(lb + i * 301, la[slot[i]][t],
					    301 * sizeof(float));
	}
	kiln_kv_free(alone), kiln_kv_free(batch);
	kiln_gpt_free(m);
}

static void lr_schedule_shape(void **state)
{
	(void)state;
	/* linear warm-up to the peak, cosine to the floor, then the floor */
	assert_true(fabsf(kiln_lr_schedule(0, 10, 110, 1.0f, 0.1f) - 0.1f) < 1e-6f);
	assert_true(fabsf(kiln_lr_schedule(9, 10, 110, 1.0f, 0.1f) - 1.0f) < 1e-6f);
	assert_true(fabsf(kiln_lr_schedule(10, 10, 110, 1.0f, 0.1f) - 1.0f) < 1e-6f);
	assert_true(fabsf(kiln_lr_schedule(60, 10, 110, 1.0f, 0.1f) - 0.55f) < 1e-5f);
	assert_true(fabsf(kiln_lr_schedule(110, 10, 110, 1.0f, 0.1f) - 0.1f) < 1e-6f);
	assert_true(fabsf(kiln_lr_schedule(500, 10, 110, 1.0f, 0.1f) - 0.1f) < 1e-6f);
	for (uint64_t s = 10; s < 110; s++)
		assert_true(kiln_lr_schedule(s + 1, 10, 110, 1, 0.1f) <=
			    kiln_lr_schedule(s, 10, 110, 1, 0.1f));
}

/* The vectorizable exp and tanh of the kernels: close to libm over the
 * range, saturating outside it, and a NaN (a fuzzed or diverged checkpoint)
 * comes out NaN rather than through an undefined shift. */
static void expf_kernel_is_close_and_total(void **state)
{
	(void)state;
	for (float x = -87.0f; x <= 88.0f; x += 0.0137f) {
		float want = expf(x), got = kiln__expf(x);

		assert_true(fabsf(got - want) <= 4e-7f * want);
	}
	assert_true(kiln__expf(-1e30f) < 1e-37f && kiln__expf(-1e30f) >= 0);
	assert_true(kiln__expf(1e30f) > 1e38f && isfinite(kiln__expf(1e30f)));
	assert_true(isnan(kiln__expf(NAN)));
	assert_true(isnan(kiln__expf(-NAN)));
	assert_true(fabsf(kiln__tanhf(0.5f) - tanhf(0.5f)) < 1e-6f);
	assert_true(fabsf(kiln__tanhf(-20.0f) + 1.0f) < 1e-6f);
}

/* kiln_model_open: the model with its tokenizer, and the checks that they
 * can be used together. Regression: a weight of +inf made kiln serve's
 * sampler read out of bounds; such a checkpoint is now refused, naming the
 * weight. */
static void model_open_checks_the_pair(void **state)
{
	kiln_gpt_config cfg = small;
	kiln_gpt *a, *m = (kiln_gpt *)1;
	kiln_tok *t = NULL, *tok = (kiln_tok *)1;
	kiln_error err = { 0, "" };
	kiln_blob blob = { 0 }, tb = { 0 }, train = { (void *)"state", 5 }, got;
	unsigned char *buf;
	size_t d;

	(void)state;
	assert_int_equal(kiln_tok_bytes(&t, &err), 0);
	assert_int_equal(kiln_tok_serialize(t, &buf, &blob.len, &err), 0);
	blob.data = buf;
	cfg.vocab = kiln_tok_vocab(t);
	d = (size_t)cfg.d_model;
	assert_int_equal(kiln_gpt_new(&a, &cfg, 4, &err), 0);
	assert_int_equal(kiln_gpt_save(path_of("ok.bin"), a, &blob, &train,
				       &err), 0);
	assert_int_equal(kiln_model_open(path_of("ok.bin"), &m, &tok, &tb,
					 &got, &err), 0);
	assert_int_equal(kiln_tok_vocab(tok), cfg.vocab);
	assert_memory_equal(m->params, a->params, a->n_params * 4);
	assert_int_equal(tb.len, blob.len);
	assert_memory_equal(tb.data, blob.data, blob.len);
	assert_int_equal(got.len, 5);
	free(tb.data);
	free(got.data);
	kiln_tok_free(tok);
	kiln_gpt_free(m);

	/* non-finite weights, named by tensor and index */
	a->w.wte[65 * d + 3] = INFINITY;
	assert_int_equal(kiln_gpt_save(path_of("inf.bin"), a, &blob, NULL,
				       &err), 0);
	assert_int_equal(kiln_model_open(path_of("inf.bin"), &m, &tok, NULL,
					 NULL, &err), KILN_EPARSE);
	assert_null(m);
	assert_null(tok);
	assert_non_null(strstr(err.msg, "inf.bin: weight wte[65][3] is +inf"));
	a->w.wte[65 * d + 3] = 0;
	a->w.layer[1].fc_w[5 * d + 7] = NAN;
	a->w.lnf_b[2] = -INFINITY;
	assert_int_equal(kiln_gpt_save(path_of("nan.bin"), a, &blob, NULL,
				       &err), 0);
	assert_int_equal(kiln_model_open(path_of("nan.bin"), &m, &tok, NULL,
					 NULL, &err), KILN_EPARSE);
	assert_non_null(strstr(err.msg, "weight layer 1 fc_w[5][7] is NaN "
				       "(2 of "));
	a->w.layer[1].fc_w[5 * d + 7] = 0;
	assert_int_equal(kiln_gpt_check_finite(a, &err), KILN_EPARSE);
	assert_non_null(strstr(err.msg, "weight lnf_b[2] is -inf"));
	a->w.lnf_b[2] = 0;
	assert_int_equal(kiln_gpt_check_finite(a, &err), 0);

	/* a tokenizer of another vocabulary; none at all */
	kiln_gpt_free(a);
	cfg.vocab = 300;
	assert_int_equal(kiln_gpt_new(&a, &cfg, 4, &err), 0);
	assert_int_equal(kiln_gpt_save(path_of("vocab.bin"), a, &blob, NULL,
				       &err), 0);
	assert_int_equal(kiln_model_open(path_of("vocab.bin"), &m, &tok, NULL,
					 NULL, &err), KILN_EPARSE);
	assert_non_null(strstr(err.msg, "the tokenizer has 257 ids, the model "
				       "300"));
	assert_int_equal(kiln_gpt_save(path_of("notok.bin"), a, NULL, NULL,
				       &err), 0);
	assert_int_equal(kiln_model_open(path_of("notok.bin"), &m, &tok, NULL,
					 NULL, &err), KILN_EPARSE);
	assert_non_null(strstr(err.msg, "holds no tokenizer"));
	assert_int_equal(kiln_model_open(path_of("missing.bin"), &m, &tok,
					 NULL, NULL, &err), KILN_EIO);
	kiln_gpt_free(a);
	kiln_tok_free(t);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(init_is_seeded_and_shaped),
		cmocka_unit_test(config_check_refuses_nonsense),
		cmocka_unit_test(checkpoint_round_trips_exactly),
		cmocka_unit_test(damaged_checkpoints_are_clear_errors),
		cmocka_unit_test(model_open_checks_the_pair),
		cmocka_unit_test(bad_infer_calls_change_nothing),
		cmocka_unit_test(want_mask_packs_rows),
		cmocka_unit_test(batched_decoding_is_bitwise_the_same),
		cmocka_unit_test(lr_schedule_shape),
		cmocka_unit_test(expf_kernel_is_close_and_total),
	};
	return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
