/* The small GPT: parameters, initialisation, checkpoints and KV-cache
 * inference (kiln/model.h). Shapes are written as (rows, cols) in comments;
 * C = d_model, NH = n_head, hs = C / NH. */
#include "kiln/model.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cblas.h>
#include <omp.h>
#include <xxhash.h>

#include "kiln/rng.h"
#include "model/gpt_int.h"
#include "util/le.h"

/* --- configuration and layout ------------------------------------------- */

int kiln_gpt_config_check(const kiln_gpt_config *c, kiln_error *err)
{
	if (c->n_layer < 1 || c->n_layer > 256)
		return kiln_error_set(err, KILN_EINVAL,
				      "n_layer %d: expected 1..256", c->n_layer);
	if (c->n_head < 1 || c->n_head > 256)
		return kiln_error_set(err, KILN_EINVAL,
				      "n_head %d: expected 1..256", c->n_head);
	if (c->d_model < 1 || c->d_model > 16384 || c->d_model % c->n_head)
		return kiln_error_set(err, KILN_EINVAL,
			"d_model %d: expected 1..16384 and a multiple of n_head %d",
			c->d_model, c->n_head);
	if (c->n_ctx < 1 || c->n_ctx > 65536)
		return kiln_error_set(err, KILN_EINVAL,
				      "n_ctx %d: expected 1..65536", c->n_ctx);
	if (c->vocab < 2 || c->vocab > (1 << 20))
		return kiln_error_set(err, KILN_EINVAL,
				      "vocab %d: expected 2..1048576", c->vocab);
	/* Keep every parameter index within 2^40 floats (4 TiB). */
	if (kiln_gpt_param_count(c) > ((size_t)1 << 40))
		return kiln_error_set(err, KILN_EINVAL, "model too large");
	return 0;
}

size_t kiln_gpt_param_count(const kiln_gpt_config *c)
{
	size_t C = (size_t)c->d_model;
	size_t per_layer = 2 * C + 3 * C * C + 3 * C + C * C + C + 2 * C +
			   4 * C * C + 4 * C + 4 * C * C + C;

	return (size_t)c->vocab * C + (size_t)c->n_ctx * C +
	       (size_t)c->n_layer * per_layer + 2 * C;
}

int kiln_gpt_tensors_map(kiln_gpt_tensors *v, const kiln_gpt_config *c,
			 float *base)
{
	size_t C = (size_t)c->d_model;
	float *p = base;

	memset(v, 0, sizeof *v);
	v->layer = calloc((size_t)c->n_layer, sizeof *v->layer);
	if (!v->layer)
		return KILN_ENOMEM;
	v->wte = p, p += (size_t)c->vocab * C;
	v->wpe = p, p += (size_t)c->n_ctx * C;
	for (int l = 0; l < c->n_layer; l++) {
		kiln_gpt_layer *L = &v->layer[l];

		L->ln1_w = p, p += C;
		L->ln1_b = p, p += C;
		L->qkv_w = p, p += 3 * C * C;
		L->qkv_b = p, p += 3 * C;
		L->proj_w = p, p += C * C;
		L->proj_b = p, p += C;
		L->ln2_w = p, p += C;
		L->ln2_b = p, p += C;
		L->fc_w = p, p += 4 * C * C;
		L->fc_b = p, p += 4 * C;
		L->fcproj_w = p, p += 4 * C * C;
		L->fcproj_b = p, p += C;
	}
	v->lnf_w = p, p += C;
	v->lnf_b = p, p += C;
	return 0;
}

void kiln_gpt_tensors_free(kiln_gpt_tensors *v)
{
	free(v->layer);
	v->layer = NULL;
}

float *kiln__falloc(size_t n)
{
	size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
	void *p = NULL;

	if (!bytes)
		bytes = 64;
	if (posix_memalign(&p, 64, bytes))
		return NULL;
	return p;
}

void kiln_model_threads(int n)
{
	if (n <= 0)
		n = omp_get_num_procs();
	omp_set_num_threads(n);
	openblas_set_num_threads(n);
}

int kiln_model_threads_get(void)
{
	return omp_get_max_threads();
}

/* Weights come from splitmix64 (kiln_rng_split): a seed gives the same
 * weights as it always has. */
static void fill_normal(float *x, size_t n, float std, uint64_t *s)
{
	for (size_t i = 0; i < n; i += 2) {
		/* Box-Muller on two uniforms in (0, 1]. */
		double u1 = ((kiln_rng_split(s) >> 11) + 1.0) * 0x1.0p-53;
		double u2 = (kiln_rng_split(s) >> 11) * 0x1.0p-53;
		double r = sqrt(-2.0 * log(u1));

		x[i] = (float)(std * r * cos(2 * M_PI * u2));
		if (i + 1 < n)
			x[i + 1] = (float)(std * r * sin(2 * M_PI * u2));
	}
}

static void fill(float *x, size_t n, float v)
{
	for (size_t i = 0; i < n; i++)
		x[i] = v;
}

static int gpt_alloc(kiln_gpt **out, const kiln_gpt_config *cfg,
		     kiln_error *err)
{
	int rc = kiln_gpt_config_check(cfg, err);
	kiln_gpt *m;

	*out = NULL;
	if (rc)
		return rc;
	m = calloc(1, sizeof *m);
	if (!m)
		return kiln_error_set(err, KILN_ENOMEM, "model: out of memory");
	m->cfg = *cfg;
	m->n_params = kiln_gpt_param_count(cfg);
	m->params = kiln__falloc(m->n_params);
	if (!m->params || kiln_gpt_tensors_map(&m->w, cfg, m->params)) {
		size_t np = m->n_params;

		kiln_gpt_free(m);
		return kiln_error_set(err, KILN_ENOMEM,
				      "model: out of memory for %zu parameters", np);
	}
	*out = m;
	return 0;
}

int kiln_gpt_new(kiln_gpt **out, const kiln_gpt_config *cfg, uint64_t seed,
		 kiln_error *err)
{
	kiln_gpt *m;
	int rc = gpt_alloc(&m, cfg, err);
	uint64_t s = seed ^ 0x6b696c6e67707431ULL; /* "kilngpt1" */
	size_t C = (size_t)cfg->d_model;
	float resid_std = 0.02f / sqrtf(2.0f * (float)cfg->n_layer);

	*out = NULL;
	if (rc)
		return rc;
	fill_normal(m->w.wte, (size_t)cfg->vocab * C, 0.02f, &s);
	fill_normal(m->w.wpe, (size_t)cfg->n_ctx * C, 0.02f, &s);
	for (int l = 0; l < cfg->n_layer; l++) {
		kiln_gpt_layer *L = &m->w.layer[l];

		fill(L->ln1_w, C, 1), fill(L->ln1_b, C, 0);
		fill_normal(L->qkv_w, 3 * C * C, 0.02f, &s);
		fill(L->qkv_b, 3 * C, 0);
		fill_normal(L->proj_w, C * C, resid_std, &s);
		fill(L->proj_b, C, 0);
		fill(L->ln2_w, C, 1), fill(L->ln2_b, C, 0);
		fill_normal(L->fc_w, 4 * C * C, 0.02f, &s);
		fill(L->fc_b, 4 * C, 0);
		fill_normal(L->fcproj_w, 4 * C * C, resid_std, &s);
		fill(L->fcproj_b, C, 0);
	}
	fill(m->w.lnf_w, C, 1), fill(m->w.lnf_b, C, 0);
	*out = m;
	return 0;
}

void kiln_gpt_free(kiln_gpt *m)
{
	if (!m)
		return;
	kiln_gpt_tensors_free(&m->w);
	free(m->params);
	free(m);
}

/* --- checkpoints ----------------------------------------------------------
 *
 * Little-endian, docs/FORMATS.md:
 *   0  "KILNGPT1"            8 bytes
 *   8  version (1)           u32
 *  12  header size (64)      u32
 *  16  n_layer n_head d_model n_ctx vocab   5 x u32
 *  36  reserved (0)          u32
 *  40  n_params              u64
 *  48  tokenizer bytes       u64
 *  56  training-state bytes  u64
 *  64  parameters (n_params float32), tokenizer blob, training blob
 * end  XXH64 (seed 0) of every byte before it   u64
 */
#define CKPT_MAGIC "KILNGPT1"
#define CKPT_VERSION 1
#define CKPT_HEADER 64

static int write_all(int fd, XXH64_state_t *h, const void *p, size_t n)
{
	const char *c = p;

	if (h)
		XXH64_update(h, p, n);
	while (n) {
		ssize_t w = write(fd, c, n > (1 << 30) ? (1 << 30) : n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w, n -= (size_t)w;
	}
	return 0;
}

int kiln_gpt_save(const char *path, const kiln_gpt *m, const kiln_blob *tok,
		  const kiln_blob *train, kiln_error *err)
{
	unsigned char hdr[CKPT_HEADER] = { 0 };
	unsigned char sum[8];
	size_t tl = tok ? tok->len : 0, rl = train ? train->len : 0;
	size_t plen = strlen(path);
	char *tmp = malloc(plen + 16);
	XXH64_state_t *h = XXH64_createState();
	int fd = -1, rc = 0;

	if (!tmp || !h) {
		rc = kiln_error_set(err, KILN_ENOMEM, "%s: out of memory", path);
		goto out;
	}
	snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = kiln_error_set(err, KILN_EIO, "%s: cannot create: %s", tmp,
				    strerror(errno));
		goto out;
	}
	fchmod(fd, 0644); /* mkstemp's 0600 is too strict for a model file */
	memcpy(hdr, CKPT_MAGIC, 8);
	kiln__put32(hdr + 8, CKPT_VERSION);
	kiln__put32(hdr + 12, CKPT_HEADER);
	kiln__put32(hdr + 16, (uint32_t)m->cfg.n_layer);
	kiln__put32(hdr + 20, (uint32_t)m->cfg.n_head);
	kiln__put32(hdr + 24, (uint32_t)m->cfg.d_model);
	kiln__put32(hdr + 28, (uint32_t)m->cfg.n_ctx);
	kiln__put32(hdr + 32, (uint32_t)m->cfg.vocab);
	kiln__put64(hdr + 40, m->n_params);
	kiln__put64(hdr + 48, tl);
	kiln__put64(hdr + 56, rl);
	XXH64_reset(h, 0);
	/* The floats are written as they lie in memory: kiln builds only on
	 * little-endian hosts (checked in CMakeLists.txt). */
	if (write_all(fd, h, hdr, sizeof hdr) ||
	    write_all(fd, h, m->params, m->n_params * sizeof(float)) ||
	    (tl && write_all(fd, h, tok->data, tl)) ||
	    (rl && write_all(fd, h, train->data, rl))) {
		rc = kiln_error_set(err, KILN_EIO, "%s: write: %s", tmp,
				    strerror(errno));
		goto out;
	}
	kiln__put64(sum, XXH64_digest(h));
	if (write_all(fd, NULL, sum, sizeof sum) || fsync(fd)) {
		rc = kiln_error_set(err, KILN_EIO, "%s: write: %s", tmp,
				    strerror(errno));
		goto out;
	}
	if (close(fd)) {
		fd = -1;
		rc = kiln_error_set(err, KILN_EIO, "%s: close: %s", tmp,
				    strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path))
		rc = kiln_error_set(err, KILN_EIO, "%s: rename: %s", path,
				    strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	if (rc && tmp && tmp[0])
		unlink(tmp);
	free(tmp);
	XXH64_freeState(h);
	return rc;
}

static int read_all(int fd, void *p, size_t n)
{
	char *c = p;

	while (n) {
		ssize_t r = read(fd, c, n > (1 << 30) ? (1 << 30) : n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r, n -= (size_t)r;
	}
	return 0;
}

static int take_blob(kiln_blob *b, const unsigned char *src, size_t len)
{
	if (!b)
		return 0;
	b->len = len;
	b->data = malloc(len ? len : 1);
	if (!b->data)
		return -1;
	memcpy(b->data, src, len);
	return 0;
}

int kiln__gpt_parse(const unsigned char *buf, size_t size, const char *path,
		    kiln_gpt **out, kiln_blob *tok, kiln_blob *train,
		    kiln_error *err)
{
	kiln_gpt *m = NULL;
	kiln_gpt_config cfg;
	uint64_t np, tl, rl, need;
	int rc = 0;

	*out = NULL;
	if (tok)
		tok->data = NULL, tok->len = 0;
	if (train)
		train->data = NULL, train->len = 0;
	if (size < CKPT_HEADER + 8)
		return kiln_error_set(err, KILN_EPARSE,
			"%s: %zu bytes: too short for a kiln checkpoint", path,
			size);
	if (memcmp(buf, CKPT_MAGIC, 8))
		return kiln_error_set(err, KILN_EPARSE,
			"%s: not a kiln model checkpoint (bad magic)", path);
	if (kiln__get32(buf + 8) != CKPT_VERSION || kiln__get32(buf + 12) != CKPT_HEADER)
		return kiln_error_set(err, KILN_EPARSE,
			"%s: checkpoint version %u (header %u): this kiln reads version %d",
			path, kiln__get32(buf + 8), kiln__get32(buf + 12), CKPT_VERSION);
	for (int i = 0; i < 5; i++)
		if (kiln__get32(buf + 16 + 4 * i) > (1u << 30))
			return kiln_error_set(err, KILN_EPARSE,
				"%s: configuration field %d out of range", path, i);
	cfg.n_layer = (int)kiln__get32(buf + 16);
	cfg.n_head = (int)kiln__get32(buf + 20);
	cfg.d_model = (int)kiln__get32(buf + 24);
	cfg.n_ctx = (int)kiln__get32(buf + 28);
	cfg.vocab = (int)kiln__get32(buf + 32);
	if (kiln_gpt_config_check(&cfg, err)) {
		kiln_error_prefix(err, "%s: ", path);
		return KILN_EPARSE;
	}
	np = kiln__get64(buf + 40), tl = kiln__get64(buf + 48), rl = kiln__get64(buf + 56);
	if (np != kiln_gpt_param_count(&cfg))
		return kiln_error_set(err, KILN_EPARSE,
			"%s: %llu parameters, but the configuration needs %zu",
			path, (unsigned long long)np, kiln_gpt_param_count(&cfg));
	/* np <= 2^40 (config check), so np * 4 cannot overflow; tl and rl are
	 * bounded by the size before they are added. */
	need = CKPT_HEADER + np * 4;
	if (tl > size || rl > size || need + tl + rl + 8 != size)
		return kiln_error_set(err, KILN_EPARSE,
			"%s: %zu bytes, but the header describes %llu (truncated or corrupted)",
			path, size, (unsigned long long)(need + tl + rl + 8));
	if (XXH64(buf, size - 8, 0) != kiln__get64(buf + size - 8))
		return kiln_error_set(err, KILN_EPARSE,
				      "%s: checksum mismatch (corrupted file)", path);
	rc = gpt_alloc(&m, &cfg, err);
	if (rc)
		return rc;
	memcpy(m->params, buf + CKPT_HEADER, np * 4);
	if (take_blob(tok, buf + need, tl) ||
	    take_blob(train, buf + need + tl, rl)) {
		if (tok)
			free(tok->data), tok->data = NULL, tok->len = 0;
		if (train)
			free(train->data), train->data = NULL, train->len = 0;
		kiln_gpt_free(m);
		return kiln_error_set(err, KILN_ENOMEM, "%s: out of memory", path);
	}
	*out = m;
	return 0;
}

int kiln_gpt_load(const char *path, kiln_gpt **out, kiln_blob *tok,
		  kiln_blob *train, kiln_error *err)
{
	unsigned char *buf = NULL;
	struct stat st;
	int fd, rc = 0;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kiln_error_set(err, KILN_EIO, "%s: %s", path,
				      strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		rc = kiln_error_set(err, KILN_EIO, "%s: not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size < CKPT_HEADER + 8) {
		rc = kiln_error_set(err, KILN_EPARSE,
			"%s: %lld bytes: too short for a kiln checkpoint", path,
			(long long)st.st_size);
		goto out;
	}
	buf = malloc((size_t)st.st_size);
	if (!buf) {
		rc = kiln_error_set(err, KILN_ENOMEM, "%s: out of memory", path);
		goto out;
	}
	if (read_all(fd, buf, (size_t)st.st_size)) {
		rc = kiln_error_set(err, KILN_EIO, "%s: read failed", path);
		goto out;
	}
	rc = kiln__gpt_parse(buf, (size_t)st.st_size, path, out, tok, train,
			     err);
out:
	free(buf);
	close(fd);
	return rc;
}

/* --- shared kernels -------------------------------------------------------*/

/* Element counts below which a loop runs on one thread: a parallel region
 * costs microseconds (and far more on a busy machine, where a thread that
 * waits at the barrier can lose its core), which a decoding step's small
 * loops never win back. */
#define PAR_MIN (1L << 15)

/* out (M,N) = inp (M,K) @ w^T + bias, w is (N,K) as nn.Linear stores it. */
void kiln__matmul(float *out, const float *inp, const float *w,
		  const float *bias, int M, int N, int K)
{
	float beta = 0;

	if (bias) {
		#pragma omp parallel for schedule(static) if ((long)M * N > PAR_MIN)
		for (int i = 0; i < M; i++)
			memcpy(out + (size_t)i * N, bias, (size_t)N * sizeof(float));
		beta = 1;
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, inp,
		    K, w, K, beta, out, N);
}

/* The same product for a few rows (decoding steps): each weight row is read
 * once and dotted with every input row, four weight rows at a time so that
 * an input load feeds four sums. sgemm on 1..16 rows spends its time
 * packing and is no faster per row than one row alone; this is. Each
 * output element is one dot product in a fixed order whatever M is, so a
 * sequence decodes to the same logits alone or batched with others. */
void kiln__matmul_rows(float *out, const float *inp, const float *w,
		       const float *bias, int M, int N, int K)
{
	int nb = (N + 3) / 4;

	#pragma omp parallel for schedule(static) if ((long)M * N * K > 1L << 19)
	for (int b = 0; b < nb; b++) {
		int n0 = 4 * b;

		if (n0 + 4 <= N) {
			const float *w0 = w + (size_t)n0 * K, *w1 = w0 + K;
			const float *w2 = w1 + K, *w3 = w2 + K;

			for (int i = 0; i < M; i++) {
				const float *x = inp + (size_t)i * K;
				float a0 = 0, a1 = 0, a2 = 0, a3 = 0;

				#pragma omp simd reduction(+:a0, a1, a2, a3)
				for (int k = 0; k < K; k++) {
					a0 += x[k] * w0[k];
					a1 += x[k] * w1[k];
					a2 += x[k] * w2[k];
					a3 += x[k] * w3[k];
				}
				float *o = out + (size_t)i * N + n0;
				o[0] = a0 + (bias ? bias[n0] : 0);
				o[1] = a1 + (bias ? bias[n0 + 1] : 0);
				o[2] = a2 + (bias ? bias[n0 + 2] : 0);
				o[3] = a3 + (bias ? bias[n0 + 3] : 0);
			}
			continue;
		}
		for (int n = n0; n < N; n++) {
			const float *wr = w + (size_t)n * K;

			for (int i = 0; i < M; i++) {
				const float *x = inp + (size_t)i * K;
				float a = 0;

				#pragma omp simd reduction(+:a)
				for (int k = 0; k < K; k++)
					a += x[k] * wr[k];
				out[(size_t)i * N + n] = a + (bias ? bias[n] : 0);
			}
		}
	}
}

/* out (N,C) = LayerNorm(inp (N,C)) * w + b; mean and rstd (N) if non-NULL. */
void kiln__layernorm(float *out, float *mean, float *rstd, const float *inp,
		     const float *w, const float *b, int N, int C)
{
	#pragma omp parallel for schedule(static) if ((long)N * C > PAR_MIN)
	for (int i = 0; i < N; i++) {
		const float *x = inp + (size_t)i * C;
		float *o = out + (size_t)i * C;
		float m = 0, v = 0, s;

		for (int j = 0; j < C; j++)
			m += x[j];
		m /= (float)C;
		for (int j = 0; j < C; j++)
			v += (x[j] - m) * (x[j] - m);
		v /= (float)C;
		s = 1.0f / sqrtf(v + 1e-5f);
		for (int j = 0; j < C; j++)
			o[j] = (x[j] - m) * s * w[j] + b[j];
		if (mean)
			mean[i] = m, rstd[i] = s;
	}
}

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */

void kiln__gelu(float *out, const float *inp, size_t n)
{
	#pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
	for (size_t i = 0; i < n; i++) {
		float x = inp[i];
		float u = GELU_K * (x + 0.044715f * x * x * x);

		out[i] = 0.5f * x * (1.0f + kiln__tanhf(u));
	}
}

/* --- inference ------------------------------------------------------------*/

struct kiln_kv {
	int slots, T, C, L;
	int *len;        /* (slots) positions filled */
	float *k, *v;    /* (L, slots, T, C) */
};

int kiln_kv_new(kiln_kv **out, const kiln_gpt *m, int slots, kiln_error *err)
{
	kiln_kv *kv;
	size_t n;

	*out = NULL;
	if (slots < 1 || slots > 4096)
		return kiln_error_set(err, KILN_EINVAL,
				      "kv cache: %d slots: expected 1..4096", slots);
	kv = calloc(1, sizeof *kv);
	if (!kv)
		return kiln_error_set(err, KILN_ENOMEM, "kv cache: out of memory");
	kv->slots = slots, kv->T = m->cfg.n_ctx, kv->C = m->cfg.d_model;
	kv->L = m->cfg.n_layer;
	n = (size_t)kv->L * slots * kv->T * kv->C;
	kv->len = calloc((size_t)slots, sizeof *kv->len);
	kv->k = kiln__falloc(n);
	kv->v = kiln__falloc(n);
	if (!kv->len || !kv->k || !kv->v) {
		kiln_kv_free(kv);
		return kiln_error_set(err, KILN_ENOMEM,
				      "kv cache: out of memory for %d slots", slots);
	}
	*out = kv;
	return 0;
}

void kiln_kv_free(kiln_kv *kv)
{
	if (!kv)
		return;
	free(kv->len);
	free(kv->k);
	free(kv->v);
	free(kv);
}

/* Decoding steps have a few rows; prefills have many. */
#define INFER_FEW_ROWS 16

static void infer_matmul(float *out, const float *inp, const float *w,
			 const float *bias, int M, int N, int K)
{
	if (M <= INFER_FEW_ROWS)
		kiln__matmul_rows(out, inp, w, bias, M, N, K);
	else
		kiln__matmul(out, inp, w, bias, M, N, K);
}

int kiln_gpt_infer(const kiln_gpt *m, kiln_kv *kv, int n, const int *slot,
		   const int *pos, const int *tok, const unsigned char *want,
		   float *logits, kiln_error *err)
{
	const kiln_gpt_config *c = &m->cfg;
	int C = c->d_model, NH = c->n_head, hs = C / NH, T = c->n_ctx;
	float scale = 1.0f / sqrtf((float)hs);
	float *x, *ln, *qkv, *y, *h, *att;
	int nw = 0, rc = 0;

	if (n < 1)
		return kiln_error_set(err, KILN_EINVAL, "infer: no rows");
	if (kv->C != C || kv->T != T || kv->L != c->n_layer)
		return kiln_error_set(err, KILN_EINVAL,
				      "infer: cache made for another model");
	/* Validate every row first, so a bad call changes nothing. A row may
	 * extend its slot by one position or rewind it (a new sequence). */
	{
		int *len = malloc((size_t)kv->slots * sizeof *len);

		if (!len)
			return kiln_error_set(err, KILN_ENOMEM, "infer: out of memory");
		memcpy(len, kv->len, (size_t)kv->slots * sizeof *len);
		for (int i = 0; i < n && !rc; i++) {
			if (slot[i] < 0 || slot[i] >= kv->slots)
				rc = kiln_error_set(err, KILN_EINVAL,
					"infer: row %d: slot %d out of range 0..%d",
					i, slot[i], kv->slots - 1);
			else if (pos[i] < 0 || pos[i] >= T || pos[i] > len[slot[i]])
				rc = kiln_error_set(err, KILN_EINVAL,
					"infer: row %d: position %d (slot %d holds %d, context %d)",
					i, pos[i], slot[i], len[slot[i]], T);
			else if (tok[i] < 0 || tok[i] >= c->vocab)
				rc = kiln_error_set(err, KILN_EINVAL,
					"infer: row %d: token %d out of range 0..%d",
					i, tok[i], c->vocab - 1);
			else
				len[slot[i]] = pos[i] + 1;
			if (!want || want[i])
				nw++;
		}
		if (!rc)
			memcpy(kv->len, len, (size_t)kv->slots * sizeof *len);
		free(len);
		if (rc)
			return rc;
	}
	x = kiln__falloc((size_t)n * C);
	ln = kiln__falloc((size_t)n * C);
	qkv = kiln__falloc((size_t)n * 3 * C);
	y = kiln__falloc((size_t)n * C);
	h = kiln__falloc((size_t)n * 4 * C);
	att = kiln__falloc((size_t)n * NH * T);
	if (!x || !ln || !qkv || !y || !h || !att) {
		rc = kiln_error_set(err, KILN_ENOMEM, "infer: out of memory");
		goto out;
	}
	/* x (n,C) = wte[tok] + wpe[pos] */
	for (int i = 0; i < n; i++)
		for (int j = 0; j < C; j++)
			x[(size_t)i * C + j] = m->w.wte[(size_t)tok[i] * C + j] +
					       m->w.wpe[(size_t)pos[i] * C + j];
	for (int l = 0; l < c->n_layer; l++) {
		const kiln_gpt_layer *L = &m->w.layer[l];
		size_t lbase = (size_t)l * kv->slots * T * C;

		kiln__layernorm(ln, NULL, NULL, x, L->ln1_w, L->ln1_b, n, C);
		infer_matmul(qkv, ln, L->qkv_w, L->qkv_b, n, 3 * C, C);
		for (int i = 0; i < n; i++) {
			size_t at = lbase + ((size_t)slot[i] * T + pos[i]) * C;

			memcpy(kv->k + at, qkv + (size_t)i * 3 * C + C,
			       (size_t)C * sizeof(float));
			memcpy(kv->v + at, qkv + (size_t)i * 3 * C + 2 * C,
			       (size_t)C * sizeof(float));
		}
		/* y (n,C): each row attends to positions 0..pos of its slot. */
		#pragma omp parallel for schedule(dynamic) collapse(2) \
			if ((long)n * (pos[n - 1] + 1) * C > PAR_MIN)
		for (int i = 0; i < n; i++)
			for (int hd = 0; hd < NH; hd++) {
				const float *q = qkv + (size_t)i * 3 * C + hd * hs;
				const float *kb = kv->k + lbase +
						  (size_t)slot[i] * T * C + hd * hs;
				const float *vb = kv->v + lbase +
						  (size_t)slot[i] * T * C + hd * hs;
				float *a = att + ((size_t)i * NH + hd) * T;
				float *o = y + (size_t)i * C + hd * hs;
				float mx = -INFINITY, sum = 0;

				for (int t = 0; t <= pos[i]; t++) {
					float s = 0;

					for (int e = 0; e < hs; e++)
						s += q[e] * kb[(size_t)t * C + e];
					a[t] = s * scale;
					if (a[t] > mx)
						mx = a[t];
				}
				for (int t = 0; t <= pos[i]; t++) {
					a[t] = kiln__expf(a[t] - mx);
					sum += a[t];
				}
				for (int e = 0; e < hs; e++)
					o[e] = 0;
				for (int t = 0; t <= pos[i]; t++) {
					float p = a[t] / sum;

					for (int e = 0; e < hs; e++)
						o[e] += p * vb[(size_t)t * C + e];
				}
			}
		infer_matmul(ln, y, L->proj_w, L->proj_b, n, C, C);
		for (size_t i = 0; i < (size_t)n * C; i++)
			x[i] += ln[i];
		kiln__layernorm(ln, NULL, NULL, x, L->ln2_w, L->ln2_b, n, C);
		infer_matmul(h, ln, L->fc_w, L->fc_b, n, 4 * C, C);
		kiln__gelu(h, h, (size_t)n * 4 * C);
		infer_matmul(ln, h, L->fcproj_w, L->fcproj_b, n, C, 4 * C);
		for (size_t i = 0; i < (size_t)n * C; i++)
			x[i] += ln[i];
	}
	/* Final LayerNorm of the wanted rows, packed, then logits = ln wte^T. */
	{
		int r = 0;

		for (int i = 0; i < n; i++)
			if (!want || want[i])
				memmove(x + (size_t)r++ * C, x + (size_t)i * C,
					(size_t)C * sizeof(float));
		kiln__layernorm(ln, NULL, NULL, x, m->w.lnf_w, m->w.lnf_b, nw, C);
		infer_matmul(logits, ln, m->w.wte, NULL, nw, c->vocab, C);
	}
out:
	free(x), free(ln), free(qkv), free(y), free(h), free(att);
	return rc;
}
