/* Training the small GPT (kiln/train.h): forward with saved activations,
 * backward, AdamW. The layout follows llm.c's train_gpt2.c: one allocation
 * per tensor family, pointers carved out of it, and shapes in comments.
 *
 * Notation: B batch, T sequence length, C d_model, NH heads, hs = C/NH,
 * V vocab, L layers, BT = B*T. A (r,c) array is row-major.
 *
 * Matrix products go to BLAS (sgemm); everything else is a plain loop under
 * OpenMP with a static partition in which every output element is written by
 * one thread in a fixed order, so a run is deterministic for a given thread
 * count. Attention is computed in row blocks of ATT_BLOCK so that the masked
 * upper triangle is mostly skipped.
 */
#include "kiln/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "model/gpt_int.h"

#define ATT_BLOCK 64

struct kiln_trainer {
	kiln_gpt *m;
	int B, T;
	float *grads;          /* (n_params) */
	kiln_gpt_tensors g;    /* views into grads */
	float *m1, *m2;        /* Adam moments (n_params) */
	unsigned char *decay;  /* (n_params) 1 = weight decay applies */
	uint64_t step;

	int *inputs, *targets; /* (BT) copies of the last batch */
	int *pos;              /* (BT) each token's position in its segment */
	int have_targets;
	int count;             /* targets counted in the loss */

	/* activations of the last forward */
	float *encoded;        /* (BT,C) */
	float *ln1, *ln1_mean, *ln1_rstd; /* (L,BT,C) (L,BT) (L,BT) */
	float *qkv;            /* (L,BT,3C) */
	float *att;            /* (L,B,NH,T,T) softmax, 0 above the diagonal */
	float *atty;           /* (L,BT,C) attention output before proj */
	float *res2;           /* (L,BT,C) residual after attention */
	float *ln2, *ln2_mean, *ln2_rstd;
	float *fch, *fch_gelu; /* (L,BT,4C) */
	float *res3;           /* (L,BT,C) residual after the MLP */
	float *lnf, *lnf_mean, *lnf_rstd; /* (BT,C) (BT) (BT) */
	float *logits;         /* (BT,V) */
	float *probs;          /* (BT,V) */
	float *row_loss;       /* (BT) */

	/* backward scratch */
	float *dres, *dsmall;  /* (BT,C) */
	float *dbig;           /* (BT,4C) */
	float *dqkv;           /* (BT,3C) */
	float *datt;           /* (B,NH,T,T) */
	float *dlogits;        /* (BT,V) */
};

kiln_adamw kiln_adamw_defaults(void)
{
	kiln_adamw hp = { .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f,
			  .weight_decay = 0.1f, .grad_clip = 1.0f };
	return hp;
}

float kiln_lr_schedule(uint64_t step, uint64_t warmup, uint64_t total,
		       float max_lr, float min_lr)
{
	double r;

	if (step < warmup)
		return max_lr * (float)(step + 1) / (float)warmup;
	if (step >= total || total <= warmup)
		return min_lr;
	r = (double)(step - warmup) / (double)(total - warmup);
	return min_lr + (max_lr - min_lr) * 0.5f * (float)(1.0 + cos(M_PI * r));
}

static void mark(unsigned char *mask, const float *base, const float *t,
		 size_t n)
{
	memset(mask + (t - base), 1, n);
}

void kiln_trainer_free(kiln_trainer *tr)
{
	if (!tr)
		return;
	kiln_gpt_tensors_free(&tr->g);
	float *bufs[] = { tr->grads, tr->m1, tr->m2, tr->encoded, tr->ln1,
		tr->ln1_mean, tr->ln1_rstd, tr->qkv, tr->att, tr->atty, tr->res2,
		tr->ln2, tr->ln2_mean, tr->ln2_rstd, tr->fch, tr->fch_gelu,
		tr->res3, tr->lnf, tr->lnf_mean, tr->lnf_rstd, tr->logits,
		tr->probs, tr->row_loss, tr->dres, tr->dsmall, tr->dbig,
		tr->dqkv, tr->datt, tr->dlogits };
	for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
		free(bufs[i]);
	free(tr->decay);
	free(tr->inputs);
	free(tr->targets);
	free(tr->pos);
	free(tr);
}

int kiln_trainer_new(kiln_trainer **out, kiln_gpt *m, int B, int T,
		     kiln_error *err)
{
	const kiln_gpt_config *c = &m->cfg;
	size_t L = (size_t)c->n_layer, C = (size_t)c->d_model, V = (size_t)c->vocab;
	size_t NH = (size_t)c->n_head, BT, np = m->n_params;
	kiln_trainer *tr;

	*out = NULL;
	if (B < 1 || T < 1 || T > c->n_ctx || (size_t)B * T > (1u << 24))
		return kiln_error_set(err, KILN_EINVAL,
			"trainer: batch %d x %d: need B >= 1 and 1 <= T <= n_ctx %d",
			B, T, c->n_ctx);
	BT = (size_t)B * T;
	tr = calloc(1, sizeof *tr);
	if (!tr)
		return kiln_error_set(err, KILN_ENOMEM, "trainer: out of memory");
	tr->m = m, tr->B = B, tr->T = T;
	tr->grads = kiln__falloc(np);
	tr->m1 = kiln__falloc(np);
	tr->m2 = kiln__falloc(np);
	tr->decay = calloc(np, 1);
	tr->inputs = calloc(BT, sizeof(int));
	tr->targets = calloc(BT, sizeof(int));
	tr->pos = calloc(BT, sizeof(int));
	tr->encoded = kiln__falloc(BT * C);
	tr->ln1 = kiln__falloc(L * BT * C);
	tr->ln1_mean = kiln__falloc(L * BT);
	tr->ln1_rstd = kiln__falloc(L * BT);
	tr->qkv = kiln__falloc(L * BT * 3 * C);
	tr->att = kiln__falloc(L * B * NH * T * T);
	tr->atty = kiln__falloc(L * BT * C);
	tr->res2 = kiln__falloc(L * BT * C);
	tr->ln2 = kiln__falloc(L * BT * C);
	tr->ln2_mean = kiln__falloc(L * BT);
	tr->ln2_rstd = kiln__falloc(L * BT);
	tr->fch = kiln__falloc(L * BT * 4 * C);
	tr->fch_gelu = kiln__falloc(L * BT * 4 * C);
	tr->res3 = kiln__falloc(L * BT * C);
	tr->lnf = kiln__falloc(BT * C);
	tr->lnf_mean = kiln__falloc(BT);
	tr->lnf_rstd = kiln__falloc(BT);
	tr->logits = kiln__falloc(BT * V);
	tr->probs = kiln__falloc(BT * V);
	tr->row_loss = kiln__falloc(BT);
	tr->dres = kiln__falloc(BT * C);
	tr->dsmall = kiln__falloc(BT * C);
	tr->dbig = kiln__falloc(BT * 4 * C);
	tr->dqkv = kiln__falloc(BT * 3 * C);
	tr->datt = kiln__falloc((size_t)B * NH * T * T);
	tr->dlogits = kiln__falloc(BT * V);
	if (!tr->grads || !tr->m1 || !tr->m2 || !tr->decay || !tr->inputs ||
	    !tr->targets || !tr->pos || !tr->encoded || !tr->ln1 || !tr->ln1_mean ||
	    !tr->ln1_rstd || !tr->qkv || !tr->att || !tr->atty || !tr->res2 ||
	    !tr->ln2 || !tr->ln2_mean || !tr->ln2_rstd || !tr->fch ||
	    !tr->fch_gelu || !tr->res3 || !tr->lnf || !tr->lnf_mean ||
	    !tr->lnf_rstd || !tr->logits || !tr->probs || !tr->row_loss ||
	    !tr->dres || !tr->dsmall || !tr->dbig || !tr->dqkv || !tr->datt ||
	    !tr->dlogits || kiln_gpt_tensors_map(&tr->g, c, tr->grads)) {
		kiln_trainer_free(tr);
		return kiln_error_set(err, KILN_ENOMEM,
			"trainer: out of memory for batch %d x %d", B, T);
	}
	memset(tr->grads, 0, np * sizeof(float));
	memset(tr->m1, 0, np * sizeof(float));
	memset(tr->m2, 0, np * sizeof(float));
	/* Weight decay on matrices and embeddings, as GPT-2 recipes do. */
	mark(tr->decay, m->params, m->w.wte, V * C);
	mark(tr->decay, m->params, m->w.wpe, (size_t)c->n_ctx * C);
	for (size_t l = 0; l < L; l++) {
		kiln_gpt_layer *w = &m->w.layer[l];

		mark(tr->decay, m->params, w->qkv_w, 3 * C * C);
		mark(tr->decay, m->params, w->proj_w, C * C);
		mark(tr->decay, m->params, w->fc_w, 4 * C * C);
		mark(tr->decay, m->params, w->fcproj_w, 4 * C * C);
	}
	*out = tr;
	return 0;
}

float *kiln_train_grads(kiln_trainer *tr) { return tr->grads; }
const float *kiln_train_logits(const kiln_trainer *tr) { return tr->logits; }
uint64_t kiln_train_step(const kiln_trainer *tr) { return tr->step; }
void kiln_train_set_step(kiln_trainer *tr, uint64_t step) { tr->step = step; }

float *kiln_train_moment(kiln_trainer *tr, int which)
{
	return which == 1 ? tr->m1 : which == 2 ? tr->m2 : NULL;
}

/* --- attention ------------------------------------------------------------
 *
 * qkv (BT,3C), pos (BT) -> att (B,NH,T,T), y (BT,C). For head h of sequence
 * b, q = qkv[b*T + t][h*hs ..], k at +C, v at +2C; pre = scale q k^T,
 * softmax over the columns of the row's segment, y = att v. Row t of a
 * sequence is position pos[t] of its segment, which starts at column
 * t - pos[t] (pos[t] = t: one segment, plain causal attention); row t
 * attends to columns t - pos[t] .. t. Segments are contiguous, so row block
 * [r0, r1) needs columns c0 .. r1-1 only, c0 = r0 - pos[r0] (the start of
 * the first row's segment). */
static void attention_forward(float *y, float *att, const float *qkv,
			      const int *pos, int B, int T, int C, int NH)
{
	int hs = C / NH, C3 = 3 * C;
	float scale = 1.0f / sqrtf((float)hs);

	#pragma omp parallel for schedule(dynamic) collapse(2)
	for (int b = 0; b < B; b++)
		for (int h = 0; h < NH; h++) {
			const float *q = qkv + (size_t)b * T * C3 + h * hs;
			const float *k = q + C, *v = q + 2 * C;
			const int *ps = pos + (size_t)b * T;
			float *a = att + ((size_t)b * NH + h) * T * T;
			float *o = y + (size_t)b * T * C + h * hs;

			for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) {
				int r1 = r0 + ATT_BLOCK < T ? r0 + ATT_BLOCK : T;
				int c0 = r0 - ps[r0];

				/* a[r0:r1, c0:r1] = scale q[r0:r1] k[c0:r1]^T */
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
					    r1 - r0, r1 - c0, hs, scale,
					    q + (size_t)r0 * C3, C3,
					    k + (size_t)c0 * C3, C3, 0.0f,
					    a + (size_t)r0 * T + c0, T);
				for (int r = r0; r < r1; r++) {
					float *row = a + (size_t)r * T, mx = -INFINITY;
					float sum = 0, inv;
					int s0 = r - ps[r];

					for (int t = 0; t < s0; t++)
						row[t] = 0;
					for (int t = s0; t <= r; t++)
						mx = row[t] > mx ? row[t] : mx;
					#pragma omp simd
					for (int t = s0; t <= r; t++)
						row[t] = kiln__expf(row[t] - mx);
					for (int t = s0; t <= r; t++)
						sum += row[t];
					inv = 1.0f / sum;
					for (int t = s0; t <= r; t++)
						row[t] *= inv;
					for (int t = r + 1; t < T; t++)
						row[t] = 0;
				}
				/* o[r0:r1] = a[r0:r1, c0:r1] v[c0:r1] */
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
					    r1 - r0, hs, r1 - c0, 1.0f,
					    a + (size_t)r0 * T + c0, T,
					    v + (size_t)c0 * C3, C3, 0.0f,
					    o + (size_t)r0 * C, C);
			}
		}
}

/* dy (BT,C) -> dqkv (BT,3C), which must be zero on entry. datt is scratch
 * (B,NH,T,T). The segments of pos as in attention_forward. */
static void attention_backward(float *dqkv, float *datt, const float *dy,
			       const float *att, const float *qkv,
			       const int *pos, int B, int T, int C, int NH)
{
	int hs = C / NH, C3 = 3 * C;
	float scale = 1.0f / sqrtf((float)hs);

	#pragma omp parallel for schedule(dynamic) collapse(2)
	for (int b = 0; b < B; b++)
		for (int h = 0; h < NH; h++) {
			size_t qo = (size_t)b * T * C3 + h * hs;
			const float *q = qkv + qo, *k = q + C, *v = q + 2 * C;
			float *dq = dqkv + qo, *dk = dq + C, *dv = dq + 2 * C;
			const int *ps = pos + (size_t)b * T;
			const float *a = att + ((size_t)b * NH + h) * T * T;
			float *da = datt + ((size_t)b * NH + h) * T * T;
			const float *dout = dy + (size_t)b * T * C + h * hs;

			for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) {
				int r1 = r0 + ATT_BLOCK < T ? r0 + ATT_BLOCK : T;
				int nr = r1 - r0, c0 = r0 - ps[r0], nc = r1 - c0;
				const float *ab = a + (size_t)r0 * T + c0;
				float *db = da + (size_t)r0 * T + c0;

				/* da[r0:r1, c0:r1] = dout[r0:r1] v[c0:r1]^T */
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
					    nr, nc, hs, 1.0f, dout + (size_t)r0 * C, C,
					    v + (size_t)c0 * C3, C3, 0.0f, db, T);
				/* dv[c0:r1] += a[r0:r1, c0:r1]^T dout[r0:r1] */
				cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans,
					    nc, hs, nr, 1.0f, ab, T,
					    dout + (size_t)r0 * C, C, 1.0f,
					    dv + (size_t)c0 * C3, C3);
				/* softmax backward, in place: da = a (da - <a, da>)
				 * over the row's segment, 0 elsewhere */
				for (int r = r0; r < r1; r++) {
					const float *ar = a + (size_t)r * T;
					float *dr = da + (size_t)r * T, dot = 0;
					int s0 = r - ps[r];

					for (int t = c0; t < s0; t++)
						dr[t] = 0;
					for (int t = s0; t <= r; t++)
						dot += ar[t] * dr[t];
					for (int t = s0; t <= r; t++)
						dr[t] = ar[t] * (dr[t] - dot);
					for (int t = r + 1; t < r1; t++)
						dr[t] = 0;
				}
				/* dq[r0:r1] = scale da[r0:r1, c0:r1] k[c0:r1] */
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
					    nr, hs, nc, scale, db, T,
					    k + (size_t)c0 * C3, C3, 0.0f,
					    dq + (size_t)r0 * C3, C3);
				/* dk[c0:r1] += scale da[r0:r1, c0:r1]^T q[r0:r1] */
				cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans,
					    nc, hs, nr, scale, db, T,
					    q + (size_t)r0 * C3, C3, 1.0f,
					    dk + (size_t)c0 * C3, C3);
			}
		}
}

/* --- other backward kernels ---------------------------------------------- */

/* Column sums: db (N) += sum over rows of dout (M,N); columns in blocks so
 * that each is summed by one thread, in row order. */
static void colsum_add(float *db, const float *dout, int M, int N)
{
	int nb = (N + 63) / 64;

	#pragma omp parallel for schedule(static)
	for (int jb = 0; jb < nb; jb++) {
		int j0 = jb * 64, j1 = j0 + 64 < N ? j0 + 64 : N;

		for (int i = 0; i < M; i++) {
			const float *row = dout + (size_t)i * N;

			for (int j = j0; j < j1; j++)
				db[j] += row[j];
		}
	}
}

/* For out (M,N) = inp (M,K) w^T + b:
 * dinp (M,K) = dout w (overwritten; skipped when NULL),
 * dw (N,K) += dout^T inp, db (N) += colsum(dout). */
static void matmul_backward(float *dinp, float *dw, float *db,
			    const float *dout, const float *inp, const float *w,
			    int M, int N, int K)
{
	if (dinp)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, N,
			    1.0f, dout, N, w, K, 0.0f, dinp, K);
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, M, 1.0f,
		    dout, N, inp, K, 1.0f, dw, K);
	if (db)
		colsum_add(db, dout, M, N);
}

/* out = LayerNorm(inp) w + b over rows of inp (N,C):
 * dinp (N,C) += ..., dw, db (C) += ... */
static void layernorm_backward(float *dinp, float *dw, float *db,
			       const float *dout, const float *inp,
			       const float *mean, const float *rstd,
			       const float *w, int N, int C)
{
	int nb = (C + 63) / 64;

	#pragma omp parallel for schedule(static)
	for (int i = 0; i < N; i++) {
		const float *x = inp + (size_t)i * C, *d = dout + (size_t)i * C;
		float *dx = dinp + (size_t)i * C;
		float mu = mean[i], s = rstd[i], dm = 0, dnm = 0;

		for (int j = 0; j < C; j++) {
			float dn = d[j] * w[j];

			dm += dn;
			dnm += dn * (x[j] - mu) * s;
		}
		dm /= (float)C, dnm /= (float)C;
		for (int j = 0; j < C; j++) {
			float norm = (x[j] - mu) * s;

			dx[j] += (d[j] * w[j] - dm - norm * dnm) * s;
		}
	}
	#pragma omp parallel for schedule(static)
	for (int jb = 0; jb < nb; jb++) {
		int j0 = jb * 64, j1 = j0 + 64 < C ? j0 + 64 : C;

		for (int i = 0; i < N; i++) {
			const float *x = inp + (size_t)i * C;
			const float *d = dout + (size_t)i * C;

			for (int j = j0; j < j1; j++) {
				dw[j] += d[j] * (x[j] - mean[i]) * rstd[i];
				db[j] += d[j];
			}
		}
	}
}

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */

/* dinp[i] = GELU'(inp[i]) dout[i]; dinp may equal dout. */
static void gelu_backward(float *dinp, const float *inp, const float *dout,
			  size_t n)
{
	#pragma omp parallel for simd schedule(static)
	for (size_t i = 0; i < n; i++) {
		float x = inp[i];
		float u = GELU_K * (x + 0.044715f * x * x * x);
		float t = kiln__tanhf(u);
		float du = GELU_K * (1.0f + 3.0f * 0.044715f * x * x);

		dinp[i] = (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du) *
			  dout[i];
	}
}

/* --- forward and backward ------------------------------------------------ */

float kiln_train_forward(kiln_trainer *tr, const int *inputs,
			 const int *targets)
{
	return kiln_train_forward_pos(tr, inputs, targets, NULL);
}

/* Is pos (T) a valid segmentation: 0 at the start, then each entry 0 (a new
 * segment) or one more than the one before? */
static int valid_pos(const int *pos, int T)
{
	if (pos[0] != 0)
		return 0;
	for (int t = 1; t < T; t++)
		if (pos[t] != 0 && pos[t] != pos[t - 1] + 1)
			return 0;
	return 1;
}

float kiln_train_forward_pos(kiln_trainer *tr, const int *inputs,
			     const int *targets, const int *pos)
{
	kiln_gpt *m = tr->m;
	const kiln_gpt_config *c = &m->cfg;
	int B = tr->B, T = tr->T, C = c->d_model, V = c->vocab, NH = c->n_head;
	size_t BT = (size_t)B * T;
	double sum = 0;

	for (size_t i = 0; i < BT; i++)
		if (inputs[i] < 0 || inputs[i] >= V ||
		    (targets && (targets[i] < -1 || targets[i] >= V)))
			return NAN; /* the caller's precondition, checked */
	if (pos) {
		for (int b = 0; b < B; b++)
			if (!valid_pos(pos + (size_t)b * T, T))
				return NAN;
		memcpy(tr->pos, pos, BT * sizeof(int));
	} else {
		for (size_t i = 0; i < BT; i++)
			tr->pos[i] = (int)(i % T);
	}
	memcpy(tr->inputs, inputs, BT * sizeof(int));
	tr->have_targets = targets != NULL;
	if (targets)
		memcpy(tr->targets, targets, BT * sizeof(int));

	/* encoded (BT,C) = wte[input] + wpe[pos] */
	#pragma omp parallel for schedule(static)
	for (size_t i = 0; i < BT; i++) {
		const float *te = m->w.wte + (size_t)inputs[i] * C;
		const float *pe = m->w.wpe + (size_t)tr->pos[i] * C;
		float *o = tr->encoded + i * C;

		for (int j = 0; j < C; j++)
			o[j] = te[j] + pe[j];
	}
	for (int l = 0; l < c->n_layer; l++) {
		const kiln_gpt_layer *w = &m->w.layer[l];
		const float *res = l ? tr->res3 + (size_t)(l - 1) * BT * C
				     : tr->encoded;
		float *ln1 = tr->ln1 + (size_t)l * BT * C;
		float *qkv = tr->qkv + (size_t)l * BT * 3 * C;
		float *att = tr->att + (size_t)l * B * NH * T * T;
		float *atty = tr->atty + (size_t)l * BT * C;
		float *res2 = tr->res2 + (size_t)l * BT * C;
		float *ln2 = tr->ln2 + (size_t)l * BT * C;
		float *fch = tr->fch + (size_t)l * BT * 4 * C;
		float *fchg = tr->fch_gelu + (size_t)l * BT * 4 * C;
		float *res3 = tr->res3 + (size_t)l * BT * C;

		kiln__layernorm(ln1, tr->ln1_mean + l * BT, tr->ln1_rstd + l * BT,
				res, w->ln1_w, w->ln1_b, (int)BT, C);
		kiln__matmul(qkv, ln1, w->qkv_w, w->qkv_b, (int)BT, 3 * C, C);
		attention_forward(atty, att, qkv, tr->pos, B, T, C, NH);
		kiln__matmul(res2, atty, w->proj_w, w->proj_b, (int)BT, C, C);
		#pragma omp parallel for schedule(static)
		for (size_t i = 0; i < BT * C; i++)
			res2[i] += res[i];
		kiln__layernorm(ln2, tr->ln2_mean + l * BT, tr->ln2_rstd + l * BT,
				res2, w->ln2_w, w->ln2_b, (int)BT, C);
		kiln__matmul(fch, ln2, w->fc_w, w->fc_b, (int)BT, 4 * C, C);
		kiln__gelu(fchg, fch, BT * 4 * C);
		kiln__matmul(res3, fchg, w->fcproj_w, w->fcproj_b, (int)BT, C,
			     4 * C);
		#pragma omp parallel for schedule(static)
		for (size_t i = 0; i < BT * C; i++)
			res3[i] += res2[i];
	}
	kiln__layernorm(tr->lnf, tr->lnf_mean, tr->lnf_rstd,
			tr->res3 + (size_t)(c->n_layer - 1) * BT * C,
			m->w.lnf_w, m->w.lnf_b, (int)BT, C);
	kiln__matmul(tr->logits, tr->lnf, m->w.wte, NULL, (int)BT, V, C);
	if (!targets)
		return 0;

	/* probs = softmax(logits); row_loss = -log probs[target] */
	#pragma omp parallel for schedule(static)
	for (size_t i = 0; i < BT; i++) {
		const float *lg = tr->logits + i * V;
		float *p = tr->probs + i * V, mx = -INFINITY, s = 0;

		for (int j = 0; j < V; j++)
			mx = lg[j] > mx ? lg[j] : mx;
		#pragma omp simd
		for (int j = 0; j < V; j++)
			p[j] = kiln__expf(lg[j] - mx);
		for (int j = 0; j < V; j++)
			s += p[j];
		for (int j = 0; j < V; j++)
			p[j] /= s;
		tr->row_loss[i] = targets[i] < 0 ? 0 :
			(mx + logf(s)) - lg[targets[i]];
	}
	tr->count = 0;
	for (size_t i = 0; i < BT; i++)
		if (targets[i] >= 0) {
			sum += tr->row_loss[i];
			tr->count++;
		}
	return tr->count ? (float)(sum / tr->count) : 0.0f;
}

void kiln_train_backward(kiln_trainer *tr)
{
	kiln_gpt *m = tr->m;
	const kiln_gpt_config *c = &m->cfg;
	int B = tr->B, T = tr->T, C = c->d_model, V = c->vocab, NH = c->n_head;
	int L = c->n_layer;
	size_t BT = (size_t)B * T;
	float inv = tr->count ? 1.0f / (float)tr->count : 0.0f;
	kiln_gpt_tensors *g = &tr->g;

	memset(tr->grads, 0, m->n_params * sizeof(float));
	if (!tr->have_targets)
		return;
	/* dlogits = (probs - onehot(target)) / count on counted rows */
	#pragma omp parallel for schedule(static)
	for (size_t i = 0; i < BT; i++) {
		float *d = tr->dlogits + i * V;
		const float *p = tr->probs + i * V;

		if (tr->targets[i] < 0) {
			memset(d, 0, (size_t)V * sizeof(float));
			continue;
		}
		for (int j = 0; j < V; j++)
			d[j] = p[j] * inv;
		d[tr->targets[i]] -= inv;
	}
	/* logits = lnf wte^T: dlnf = dlogits wte, dwte += dlogits^T lnf */
	matmul_backward(tr->dsmall, g->wte, NULL, tr->dlogits, tr->lnf,
			m->w.wte, (int)BT, V, C);
	memset(tr->dres, 0, BT * C * sizeof(float));
	layernorm_backward(tr->dres, g->lnf_w, g->lnf_b, tr->dsmall,
			   tr->res3 + (size_t)(L - 1) * BT * C, tr->lnf_mean,
			   tr->lnf_rstd, m->w.lnf_w, (int)BT, C);

	for (int l = L - 1; l >= 0; l--) {
		const kiln_gpt_layer *w = &m->w.layer[l];
		kiln_gpt_layer *gw = &g->layer[l];
		const float *res = l ? tr->res3 + (size_t)(l - 1) * BT * C
				     : tr->encoded;
		const float *ln1 = tr->ln1 + (size_t)l * BT * C;
		const float *qkv = tr->qkv + (size_t)l * BT * 3 * C;
		const float *att = tr->att + (size_t)l * B * NH * T * T;
		const float *atty = tr->atty + (size_t)l * BT * C;
		const float *res2 = tr->res2 + (size_t)l * BT * C;
		const float *ln2 = tr->ln2 + (size_t)l * BT * C;
		const float *fch = tr->fch + (size_t)l * BT * 4 * C;
		const float *fchg = tr->fch_gelu + (size_t)l * BT * 4 * C;

		/* MLP: dres is d(res3) and, through the residual, d(res2) */
		matmul_backward(tr->dbig, gw->fcproj_w, gw->fcproj_b, tr->dres,
				fchg, w->fcproj_w, (int)BT, C, 4 * C);
		gelu_backward(tr->dbig, fch, tr->dbig, BT * 4 * C);
		matmul_backward(tr->dsmall, gw->fc_w, gw->fc_b, tr->dbig, ln2,
				w->fc_w, (int)BT, 4 * C, C);
		layernorm_backward(tr->dres, gw->ln2_w, gw->ln2_b, tr->dsmall,
				   res2, tr->ln2_mean + l * BT,
				   tr->ln2_rstd + l * BT, w->ln2_w, (int)BT, C);
		/* attention: dres is now d(res2) and, through the residual,
		 * d(res) */
		matmul_backward(tr->dsmall, gw->proj_w, gw->proj_b, tr->dres,
				atty, w->proj_w, (int)BT, C, C);
		memset(tr->dqkv, 0, BT * 3 * C * sizeof(float));
		attention_backward(tr->dqkv, tr->datt, tr->dsmall, att, qkv,
				   tr->pos, B, T, C, NH);
		matmul_backward(tr->dsmall, gw->qkv_w, gw->qkv_b, tr->dqkv, ln1,
				w->qkv_w, (int)BT, 3 * C, C);
		layernorm_backward(tr->dres, gw->ln1_w, gw->ln1_b, tr->dsmall,
				   res, tr->ln1_mean + l * BT,
				   tr->ln1_rstd + l * BT, w->ln1_w, (int)BT, C);
	}
	/* encoded = wte[input] + wpe[pos]: scatter dres by columns, so each
	 * gradient element is summed by one thread in row order. */
	{
		int nb = (C + 63) / 64;

		#pragma omp parallel for schedule(static)
		for (int jb = 0; jb < nb; jb++) {
			int j0 = jb * 64, j1 = j0 + 64 < C ? j0 + 64 : C;

			for (size_t i = 0; i < BT; i++) {
				const float *d = tr->dres + i * C;
				float *te = g->wte + (size_t)tr->inputs[i] * C;
				float *pe = g->wpe + (size_t)tr->pos[i] * C;

				for (int j = j0; j < j1; j++) {
					te[j] += d[j];
					pe[j] += d[j];
				}
			}
		}
	}
}

float kiln_train_adamw(kiln_trainer *tr, const kiln_adamw *hp, float lr)
{
	size_t n = tr->m->n_params;
	float *p = tr->m->params, *g = tr->grads;
	double ss = 0, norm;
	float coef = 1.0f, bc1, bc2s, step_size;

	/* the global L2 norm, summed in a fixed order */
	{
		int nt = 64;
		double part[64] = { 0 };
		size_t chunk = (n + nt - 1) / nt;

		#pragma omp parallel for schedule(static)
		for (int t = 0; t < nt; t++) {
			size_t a = (size_t)t * chunk, b = a + chunk < n ? a + chunk : n;
			double s = 0;

			for (size_t i = a; i < b; i++)
				s += (double)g[i] * g[i];
			part[t] = s;
		}
		for (int t = 0; t < nt; t++)
			ss += part[t];
	}
	norm = sqrt(ss);
	if (hp->grad_clip > 0) {
		/* as torch.nn.utils.clip_grad_norm_ */
		double cc = hp->grad_clip / (norm + 1e-6);

		coef = cc < 1.0 ? (float)cc : 1.0f;
	}
	tr->step++;
	bc1 = (float)(1.0 - pow(hp->beta1, (double)tr->step));
	bc2s = (float)sqrt(1.0 - pow(hp->beta2, (double)tr->step));
	step_size = lr / bc1;
	/* as torch.optim.AdamW (single-tensor form) */
	#pragma omp parallel for schedule(static)
	for (size_t i = 0; i < n; i++) {
		float gi = g[i] * coef;
		float pi = p[i];

		if (tr->decay[i])
			pi *= 1.0f - lr * hp->weight_decay;
		tr->m1[i] = tr->m1[i] * hp->beta1 + (1.0f - hp->beta1) * gi;
		tr->m2[i] = tr->m2[i] * hp->beta2 + (1.0f - hp->beta2) * gi * gi;
		pi -= step_size * tr->m1[i] / (sqrtf(tr->m2[i]) / bc2s + hp->eps);
		p[i] = pi;
	}
	return (float)norm;
}
