/* Sampling: one token from logits, stop sequences, one sequence
 * (kiln/sample.h). The rng is util/rng.c (kiln/rng.h). */
#include "kiln/sample.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

#define GEN_TEXT_MAX ((size_t)1 << 30) /* bytes of one completion */
#define GEN_LOGPROBS_MAX ((size_t)1 << 22) /* tokens recorded */

/* --------------------------------------------------------- parameters */

void kiln_sample_params_default(kiln_sample_params *p)
{
	memset(p, 0, sizeof(*p));
	p->temperature = 1.0;
	p->top_p = 1.0;
	p->max_tokens = 256;
}

int kiln_sample_params_check(const kiln_sample_params *p, kiln_error *err)
{
	if (!(p->temperature >= 0) || !isfinite(p->temperature))
		return kiln_error_set(err, KILN_EINVAL,
			"temperature must be a finite number >= 0");
	if (p->top_k < 0)
		return kiln_error_set(err, KILN_EINVAL, "top_k must be >= 0");
	if (!(p->top_p > 0 && p->top_p <= 1))
		return kiln_error_set(err, KILN_EINVAL,
				      "top_p must be in (0, 1]");
	if (p->max_tokens < 1)
		return kiln_error_set(err, KILN_EINVAL,
				      "max_tokens must be >= 1");
	if (p->n_stop < 0 || p->n_stop > KILN_SAMPLE_MAX_STOP)
		return kiln_error_set(err, KILN_EINVAL,
			"at most %d stop sequences", KILN_SAMPLE_MAX_STOP);
	for (int i = 0; i < p->n_stop; i++) {
		size_t n = p->stop[i] ? strlen(p->stop[i]) : 0;

		if (n == 0 || n > KILN_SAMPLE_MAX_STOP_LEN)
			return kiln_error_set(err, KILN_EINVAL,
				"stop sequence %d: must be 1 to %d bytes", i,
				KILN_SAMPLE_MAX_STOP_LEN);
	}
	if (p->top_logprobs < 0 ||
	    p->top_logprobs > KILN_SAMPLE_MAX_TOP_LOGPROBS)
		return kiln_error_set(err, KILN_EINVAL,
			"top_logprobs must be 0 to %d",
			KILN_SAMPLE_MAX_TOP_LOGPROBS);
	return 0;
}

/* ------------------------------------------------------------ sampler */

struct cand {
	float p;  /* probability (unnormalised) */
	int id;
};

struct kiln_sampler {
	int vocab;
	double temperature, top_p;
	int top_k;
	kiln_rng rng;
	struct cand *c; /* vocab entries of scratch */
};

int kiln_sampler_new(kiln_sampler **out, int vocab,
		     const kiln_sample_params *p, kiln_error *err)
{
	kiln_sampler *s;
	int rc;

	*out = NULL;
	if (vocab < 1)
		return kiln_error_set(err, KILN_EINVAL, "vocab must be >= 1");
	if ((rc = kiln_sample_params_check(p, err)))
		return rc;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->c = malloc((size_t)vocab * sizeof(*s->c)))) {
		free(s);
		return kiln_error_set(err, KILN_ENOMEM, "sampler: out of memory");
	}
	s->vocab = vocab;
	s->temperature = p->temperature;
	s->top_k = p->top_k;
	s->top_p = p->top_p;
	kiln_rng_seed(&s->rng, p->seed);
	*out = s;
	return 0;
}

void kiln_sampler_free(kiln_sampler *s)
{
	if (s) {
		free(s->c);
		free(s);
	}
}

/* NaN reads as -infinity. */
static float logit(const float *l, int i)
{
	return isnan(l[i]) ? -INFINITY : l[i];
}

static int argmax(const float *l, int n)
{
	int best = 0;
	float bv = logit(l, 0);

	for (int i = 1; i < n; i++)
		if (logit(l, i) > bv) {
			bv = logit(l, i);
			best = i;
		}
	return best;
}

/* Descending probability, then ascending id: a total order, so the result
 * does not depend on qsort's algorithm. */
static int cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->p != y->p)
		return x->p < y->p ? 1 : -1;
	return (x->id > y->id) - (x->id < y->id);
}

/* Puts the k best of c[0..n) (in cand_cmp's order) first, in no particular
 * order: Hoare-style quickselect, expected O(n). */
static void select_top(struct cand *c, int n, int k)
{
	int lo = 0, hi = n - 1;

	while (lo < hi) {
		struct cand pivot = c[lo + (hi - lo) / 2], t;
		int i = lo, j = hi;

		while (i <= j) {
			while (cand_cmp(&c[i], &pivot) < 0)
				i++;
			while (cand_cmp(&c[j], &pivot) > 0)
				j--;
			if (i <= j) {
				t = c[i];
				c[i] = c[j];
				c[j] = t;
				i++;
				j--;
			}
		}
		if (k - 1 <= j)
			hi = j;
		else if (k - 1 >= i)
			lo = i;
		else
			break;
	}
}

int kiln_sampler_pick(kiln_sampler *s, const float *logits)
{
	int n = s->vocab, m = 0;
	float mx = logit(logits, argmax(logits, n));
	double total = 0, u, acc;

	/* +inf: exp(inf - inf) would be NaN and no token would survive the
	 * filter below; the infinite logits (the first of them) win, as
	 * they would in the limit. All -inf or NaN: token 0, as documented. */
	if (s->temperature <= 0 || s->top_k == 1 || isinf(mx))
		return argmax(logits, n);
	/* Probabilities up to a constant: exp((l - max) / T). */
	for (int i = 0; i < n; i++) {
		float l = logit(logits, i);
		float p = l == -INFINITY ? 0.0f
			: expf((float)((l - mx) / s->temperature));

		if (p > 0) {
			s->c[m].p = p;
			s->c[m].id = i;
			total += p;
			m++;
		}
	}
	if (s->top_k > 0 && s->top_k < m) {
		select_top(s->c, m, s->top_k);
		m = s->top_k;
		total = 0;
		for (int i = 0; i < m; i++)
			total += s->c[i].p;
	}
	if (s->top_p < 1) {
		/* The nucleus lies among the tokens of probability >= t =
		 * (1 - top_p) / m: the others hold less than 1 - top_p
		 * together. Only those are sorted. */
		double t = (1 - s->top_p) / m * total, need = s->top_p * total;
		int k = 0;

		for (int i = 0; i < m; i++)
			if (s->c[i].p >= t)
				s->c[k++] = s->c[i];
		qsort(s->c, (size_t)k, sizeof(*s->c), cand_cmp);
		acc = 0;
		for (m = 0; m < k;) {
			acc += s->c[m++].p;
			if (acc >= need)
				break;
		}
		total = acc;
	}
	if (m == 0 || !(total > 0))
		return argmax(logits, n); /* nothing survived: cannot happen
					     with finite mx, kept as a guard */
	/* Inverse CDF over the kept candidates. */
	u = kiln_rng_double(&s->rng) * total;
	acc = 0;
	for (int i = 0; i < m; i++) {
		acc += s->c[i].p;
		if (u < acc)
			return s->c[i].id;
	}
	return s->c[m - 1].id; /* rounding: u == total */
}

/* -------------------------------------------------- log-probabilities */

static float clamp_logprob(double lp)
{
	return lp > KILN_LOGPROB_MIN ? (float)lp : KILN_LOGPROB_MIN;
}

/* l[i] - logsumexp(l): with +infinite logits, the k of them share the
 * probability (each -log k) and every other token has none. */
static float log_softmax_at(const float *l, int i, double lse,
			    int n_inf)
{
	float x = logit(l, i);

	if (n_inf)
		return x == INFINITY ? clamp_logprob(-log((double)n_inf))
				     : KILN_LOGPROB_MIN;
	if (x == -INFINITY || !isfinite(lse))
		return KILN_LOGPROB_MIN;
	return clamp_logprob((double)x - lse);
}

void kiln_logprobs(const float *logits, int vocab, int id, int n_top,
		   kiln_token_logprob *out)
{
	float mx = logit(logits, argmax(logits, vocab));
	double sum = 0, lse = -INFINITY;
	int n_inf = 0, k = 0;

	if (n_top > vocab)
		n_top = vocab;
	if (n_top > KILN_SAMPLE_MAX_TOP_LOGPROBS)
		n_top = KILN_SAMPLE_MAX_TOP_LOGPROBS;
	if (n_top < 0)
		n_top = 0;
	if (mx == INFINITY) {
		for (int i = 0; i < vocab; i++)
			n_inf += logit(logits, i) == INFINITY;
	} else if (mx != -INFINITY) {
		for (int i = 0; i < vocab; i++) {
			float x = logit(logits, i);

			if (x != -INFINITY)
				sum += exp((double)x - (double)mx);
		}
		lse = (double)mx + log(sum);
	}
	out->id = id;
	out->logprob = log_softmax_at(logits, id, lse, n_inf);
	/* The n_top best by (logit descending, id ascending): insertion
	 * into a sorted array; a token enters only if it beats the last. */
	for (int i = 0; i < vocab && n_top; i++) {
		float x = logit(logits, i);
		int j;

		if (k == n_top && !(x > logit(logits, out->top[k - 1].id)))
			continue;
		j = k < n_top ? k++ : k - 1;
		while (j > 0 && x > logit(logits, out->top[j - 1].id)) {
			out->top[j] = out->top[j - 1];
			j--;
		}
		out->top[j].id = i;
	}
	for (int j = 0; j < k; j++)
		out->top[j].logprob = log_softmax_at(logits, out->top[j].id,
						     lse, n_inf);
	out->n_top = k;
}

/* ----------------------------------------------------- stop sequences */

long kiln_stop_find(const char *text, size_t len, size_t from,
		    const char *const *stop, int n_stop, size_t *safe)
{
	long best = -1;
	size_t hold = 0;

	for (int i = 0; i < n_stop; i++) {
		size_t sl = strlen(stop[i]);
		/* A new match ends after `from`: it starts at from - sl + 1 or
		 * later. */
		size_t start = from >= sl ? from - sl + 1 : 0;

		if (sl == 0)
			continue;
		for (size_t j = start; j + sl <= len; j++)
			if (text[j] == stop[i][0] &&
			    memcmp(text + j, stop[i], sl) == 0) {
				if (best < 0 || (long)j < best)
					best = (long)j;
				break;
			}
		/* The longest tail of text that begins stop[i]. */
		for (size_t k = sl - 1 < len ? sl - 1 : len; k > hold; k--)
			if (memcmp(text + len - k, stop[i], k) == 0) {
				hold = k;
				break;
			}
	}
	if (safe)
		*safe = best >= 0 ? (size_t)best : len - hold;
	return best;
}

/* ------------------------------------------------------- one sequence */

struct kiln_gen {
	const kiln_tok *tok;
	kiln_sampler *sampler;
	const char *const *stop;
	int n_stop, max_tokens, tokens, eot;
	enum kiln_finish finish;
	kiln_buf text;  /* everything decoded (cut at a stop once found) */
	size_t shown;   /* bytes of text released */
	int logprobs, top_logprobs, vocab;
	kiln_token_logprob *lp; /* one per token of text (not end-of-text) */
	size_t n_lp, cap_lp;
};

int kiln_gen_new(kiln_gen **out, const kiln_tok *tok, int vocab,
		 const kiln_sample_params *p, kiln_error *err)
{
	kiln_gen *g;
	int rc;

	*out = NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return kiln_error_set(err, KILN_ENOMEM, "gen: out of memory");
	if ((rc = kiln_sampler_new(&g->sampler, vocab, p, err))) {
		free(g);
		return rc;
	}
	g->tok = tok;
	g->stop = p->stop;
	g->n_stop = p->n_stop;
	g->max_tokens = p->max_tokens;
	g->eot = kiln_tok_eot(tok);
	g->text.max = GEN_TEXT_MAX;
	g->logprobs = p->logprobs != 0;
	g->top_logprobs = p->top_logprobs;
	g->vocab = vocab;
	*out = g;
	return 0;
}

void kiln_gen_free(kiln_gen *g)
{
	if (g) {
		kiln_sampler_free(g->sampler);
		free(g->text.p);
		free(g->lp);
		free(g);
	}
}

int kiln_gen_step(kiln_gen *g, const float *logits, int *next,
		  kiln_error *err)
{
	size_t before = g->text.len, safe;
	const unsigned char *piece;
	size_t plen;
	long at;
	int t;

	*next = -1;
	if (g->finish != KILN_FINISH_NONE)
		return 1;
	t = kiln_sampler_pick(g->sampler, logits);
	g->tokens++;
	if (t == g->eot) {
		g->finish = KILN_FINISH_STOP;
		g->shown = g->text.len;
		return 1;
	}
	piece = kiln_tok_piece(g->tok, t, &plen);
	if (plen && kiln__buf_add(&g->text, piece, plen))
		return kiln_error_set(err, KILN_ENOMEM,
				      "gen: completion text too long");
	if (g->logprobs) {
		if (g->n_lp == g->cap_lp) {
			size_t cap = g->cap_lp ? 2 * g->cap_lp : 64;
			kiln_token_logprob *lp;

			if (cap > GEN_LOGPROBS_MAX ||
			    !(lp = realloc(g->lp, cap * sizeof(*lp))))
				return kiln_error_set(err, KILN_ENOMEM,
					"gen: out of memory for logprobs");
			g->lp = lp;
			g->cap_lp = cap;
		}
		kiln_logprobs(logits, g->vocab, t, g->top_logprobs,
			      &g->lp[g->n_lp]);
		g->lp[g->n_lp++].offset = before;
	}
	at = kiln_stop_find(g->text.p, g->text.len, before, g->stop,
			    g->n_stop, &safe);
	if (at >= 0) {
		/* the tokens that begin at or after the cut are not shown */
		while (g->n_lp && g->lp[g->n_lp - 1].offset >= (size_t)at)
			g->n_lp--;
		g->text.len = (size_t)at;
		g->text.p[at] = '\0';
		g->finish = KILN_FINISH_STOP;
		g->shown = g->text.len;
		return 1;
	}
	if (safe > g->shown)
		g->shown = safe;
	if (g->tokens >= g->max_tokens) {
		g->finish = KILN_FINISH_LENGTH;
		g->shown = g->text.len;
		return 1;
	}
	*next = t;
	return 0;
}

const char *kiln_gen_text(const kiln_gen *g, size_t *len)
{
	*len = g->shown;
	return g->text.p ? g->text.p : "";
}

enum kiln_finish kiln_gen_finish(const kiln_gen *g)
{
	return g->finish;
}

int kiln_gen_tokens(const kiln_gen *g)
{
	return g->tokens;
}

const kiln_token_logprob *kiln_gen_logprobs(const kiln_gen *g, size_t *n)
{
	size_t k = g->n_lp;

	if (g->finish == KILN_FINISH_NONE)
		while (k && g->lp[k - 1].offset >= g->shown)
			k--;
	*n = k;
	return g->lp;
}

/* ------------------------------------------ one sequence on one slot */

int kiln_sample_prompt(const kiln_tok *tok, const char *text, size_t len,
		       int n_ctx, int **ids, int *n, kiln_error *err)
{
	size_t nids = 0;
	int rc;

	*ids = NULL;
	*n = 0;
	if ((rc = kiln_tok_encode(tok, text, len, ids, &nids, err)))
		return rc;
	if (nids == 0) {
		int *one = realloc(*ids, sizeof(**ids));

		if (!one) {
			free(*ids);
			*ids = NULL;
			return kiln_error_set(err, KILN_ENOMEM,
					      "prompt: out of memory");
		}
		*ids = one;
		one[0] = kiln_tok_eot(tok);
		nids = 1;
	}
	*n = nids > INT32_MAX ? INT32_MAX : (int)nids;
	if (nids > (size_t)n_ctx - 1) {
		free(*ids);
		*ids = NULL;
		return kiln_error_set(err, KILN_ELIMIT,
			"the prompt is %zu tokens; the model's context is %d "
			"tokens (at most %d for the prompt)", nids, n_ctx,
			n_ctx - 1);
	}
	return 0;
}

int kiln_sample_run(const kiln_gpt *m, kiln_kv *kv, int slot,
		    const kiln_tok *tok, const int *prompt, int n_prompt,
		    const kiln_sample_params *p, kiln_sample_text_fn on_text,
		    void *ctx, kiln_sample_result *res, kiln_error *err)
{
	int V = m->cfg.vocab, T = m->cfg.n_ctx;
	int *slots = NULL, *pos = NULL;
	unsigned char *want = NULL;
	float *logits = NULL;
	kiln_gen *g = NULL;
	kiln_sample_params q = *p;
	size_t sent = 0;
	int rc, next, done = 0;

	memset(res, 0, sizeof(*res));
	if (n_prompt < 1 || n_prompt > T - 1)
		return kiln_error_set(err, KILN_EINVAL,
			"prompt is %d tokens; the context holds %d (at most %d "
			"for the prompt)", n_prompt, T, T - 1);
	if (q.max_tokens > T - n_prompt)
		q.max_tokens = T - n_prompt;
	if ((rc = kiln_gen_new(&g, tok, V, &q, err)))
		return rc;
	slots = malloc((size_t)n_prompt * sizeof(*slots));
	pos = malloc((size_t)n_prompt * sizeof(*pos));
	want = calloc((size_t)n_prompt, 1);
	logits = malloc((size_t)V * sizeof(*logits));
	if (!slots || !pos || !want || !logits) {
		rc = kiln_error_set(err, KILN_ENOMEM, "sample: out of memory");
		goto out;
	}
	for (int i = 0; i < n_prompt; i++) {
		slots[i] = slot;
		pos[i] = i;
	}
	want[n_prompt - 1] = 1;
	if ((rc = kiln_gpt_infer(m, kv, n_prompt, slots, pos, prompt, want,
				 logits, err)))
		goto out;
	for (int at = n_prompt;; at++) {
		const char *text;
		size_t len;

		rc = kiln_gen_step(g, logits, &next, err);
		if (rc < 0)
			goto out;
		text = kiln_gen_text(g, &len);
		if (on_text && len > sent && !done) {
			if (on_text(ctx, text + sent, len - sent))
				done = 1;
			sent = len;
		}
		if (rc == 1 || done)
			break;
		if ((rc = kiln_gpt_infer(m, kv, 1, &slot, &at, &next, NULL,
					 logits, err)))
			goto out;
	}
	rc = 0;
	res->finish = done ? KILN_FINISH_STOP : kiln_gen_finish(g);
	res->prompt_tokens = n_prompt;
	res->completion_tokens = kiln_gen_tokens(g);
out:
	kiln_gen_free(g);
	free(slots);
	free(pos);
	free(want);
	free(logits);
	return rc;
}
