// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * LSTM forecaster: optional dense+ReLU front, 1..3 stacked LSTM layers and a
 * linear head giving every horizon 1..H from the top hidden state at once
 * (direct multi-output: one pass per window, no recursive feeding of its own
 * forecasts, so errors do not compound across horizons).
 *
 * Inputs per step are the normalised level x[t], optionally its change
 * x[t]-x[t-1] (scaled, see FC_DIFF_GAIN) and the values one season before
 * each target. With FC_ARCH_RESIDUAL the head forecasts x[t+k] - x[t], so an
 * untrained model starts out close to the naive forecast.
 *
 * Weights are float (the file format and the agent's streaming step use
 * float); training runs the forward and backward passes in double so that the
 * gradient can be checked against finite differences tightly.
 *
 * Training is "stateful" truncated BPTT: the training series is cut into
 * `batch` contiguous streams, each walked in chunks of `window` steps with
 * the state carried from chunk to chunk and a loss at every step. This is
 * exactly how the agent runs the model (one endless stream), unlike training
 * on independent zero-state windows.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "forecast.h"

/* ------------------------------------------------------------- PRNG */

/* splitmix64: tiny, seedable, good enough for weight init and shuffling. */
static uint64_t prng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static double prng_sym(uint64_t *s)
{
	return (double)(prng_next(s) >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

/* ------------------------------------------------------ architecture */

int fc_arch_validate(const struct fc_arch *a, struct qlb_error *err)
{

	if (a->hidden < 1 || a->hidden > FC_MAX_HIDDEN)
		qlb_error_set(err, 0, "hidden size %u out of range 1..%d", a->hidden,
			 FC_MAX_HIDDEN);
	else if (a->layers < 1 || a->layers > FC_MAX_LAYERS)
		qlb_error_set(err, 0, "layer count %u out of range 1..%d", a->layers,
			 FC_MAX_LAYERS);
	else if (a->mlp > FC_MAX_MLP)
		qlb_error_set(err, 0, "MLP width %u out of range 0..%d", a->mlp, FC_MAX_MLP);
	else if (a->horizon < 1 || a->horizon > FC_MAX_HORIZON)
		qlb_error_set(err, 0, "horizon %u out of range 1..%d", a->horizon,
			 FC_MAX_HORIZON);
	else if (a->window < 1 || a->window > FC_MAX_WINDOW)
		qlb_error_set(err, 0, "window %u out of range 1..%d", a->window,
			 FC_MAX_WINDOW);
	else if (a->season && (a->season < a->horizon || a->season > FC_MAX_SEASON))
		qlb_error_set(err, 0, "season %u out of range horizon..%d (or 0)", a->season,
			 FC_MAX_SEASON);
	else if (a->flags & ~FC_ARCH_KNOWN_FLAGS)
		qlb_error_set(err, 0, "unknown architecture flags 0x%x", a->flags);
	else
		return 0;
	return -EINVAL;
}

static uint32_t arch_inputs(const struct fc_arch *a)
{
	return 1 + !!(a->flags & FC_ARCH_DIFF_INPUT) + (a->season ? a->horizon : 0);
}

size_t fc_arch_param_count(const struct fc_arch *a)
{
	size_t n = 0, in = arch_inputs(a), h = a->hidden;

	if (fc_arch_validate(a, NULL))
		return 0;
	if (a->mlp) {
		n += (size_t)a->mlp * in + a->mlp;
		in = a->mlp;
	}
	for (uint32_t l = 0; l < a->layers; l++) {
		n += 4 * h * (in + h) + 4 * h;
		in = h;
	}
	return n + (size_t)a->horizon * h + a->horizon;
}

/* Points the weight views into params, in file order. */
static void model_bind(struct fc_model *m)
{
	float *p = m->params;
	uint32_t in = m->n_input, h = m->arch.hidden;

	m->mlp_w = m->mlp_b = NULL;
	if (m->arch.mlp) {
		m->mlp_w = p;
		p += (size_t)m->arch.mlp * in;
		m->mlp_b = p;
		p += m->arch.mlp;
		in = m->arch.mlp;
	}
	for (uint32_t l = 0; l < FC_MAX_LAYERS; l++) {
		m->lstm_w[l] = m->lstm_b[l] = NULL;
		m->lstm_in[l] = 0;
		if (l >= m->arch.layers)
			continue;
		m->lstm_in[l] = in;
		m->lstm_w[l] = p;
		p += (size_t)4 * h * (in + h);
		m->lstm_b[l] = p;
		p += 4 * h;
		in = h;
	}
	m->out_w = p;
	p += (size_t)m->arch.horizon * h;
	m->out_b = p;
}

/* Allocates params for a validated arch; weights left zero. */
static int model_alloc(struct fc_model *m, const struct fc_arch *a)
{
	memset(m, 0, sizeof(*m));
	if (fc_arch_validate(a, NULL))
		return -EINVAL;
	m->arch = *a;
	m->n_input = arch_inputs(a);
	m->n_params = fc_arch_param_count(a);
	m->params = calloc(m->n_params, sizeof(float));
	if (!m->params)
		return -ENOMEM;
	model_bind(m);
	m->prep = (struct fc_prep){ .norm = FC_NORM_MINMAX, .impute = FC_IMPUTE_MEAN,
				    .winsor_lo_pct = 0, .winsor_hi_pct = 100,
				    .clip_lo = -INFINITY, .clip_hi = INFINITY,
				    .mean = 0, .min = 0, .max = 1 };
	return 0;
}

int fc_model_alloc_internal(struct fc_model *m, const struct fc_arch *a)
{
	return model_alloc(m, a);
}

static void fill_uniform(float *w, size_t n, double scale, uint64_t *rng)
{
	for (size_t i = 0; i < n; i++)
		w[i] = (float)(scale * prng_sym(rng));
}

int fc_model_init(struct fc_model *m, const struct fc_arch *a, uint64_t seed)
{
	uint64_t rng = seed ^ 0x51b1f0cafe5eedull;
	uint32_t h = a->hidden;
	int err = model_alloc(m, a);

	if (err)
		return err;
	if (a->mlp) {
		/* He-uniform keeps ReLU activations from dying or exploding. */
		fill_uniform(m->mlp_w, (size_t)a->mlp * m->n_input, sqrt(6.0 / m->n_input), &rng);
		for (uint32_t j = 0; j < a->mlp; j++)
			m->mlp_b[j] = 0.1f;
	}
	for (uint32_t l = 0; l < a->layers; l++) {
		fill_uniform(m->lstm_w[l], (size_t)4 * h * (m->lstm_in[l] + h), 1.0 / sqrt(h),
			     &rng);
		/* Forget-gate bias 1: remember by default (Jozefowicz et al. 2015). */
		for (uint32_t j = 0; j < 4 * h; j++)
			m->lstm_b[l][j] = (j >= h && j < 2 * h) ? 1.0f : 0.0f;
	}
	/* Small head: a residual model starts close to the naive forecast. */
	fill_uniform(m->out_w, (size_t)a->horizon * h, 0.1 / sqrt(h), &rng);
	return 0;
}

void fc_model_free(struct fc_model *m)
{
	if (!m)
		return;
	free(m->params);
	memset(m, 0, sizeof(*m));
}

int fc_model_copy(struct fc_model *dst, const struct fc_model *src)
{
	int err = model_alloc(dst, &src->arch);

	if (err)
		return err;
	memcpy(dst->params, src->params, src->n_params * sizeof(float));
	dst->prep = src->prep;
	memcpy(dst->note, src->note, sizeof(dst->note));
	return 0;
}

/* ------------------------------------------------------- streaming step */

int fc_lstm_state_init(struct fc_lstm_state *s, const struct fc_model *m)
{
	uint32_t h = m->arch.hidden, L = m->arch.layers, maxin = m->n_input;
	size_t floats;
	float *p;

	memset(s, 0, sizeof(*s));
	for (uint32_t l = 0; l < L; l++)
		if (m->lstm_in[l] > maxin)
			maxin = m->lstm_in[l];
	if (m->arch.mlp > maxin)
		maxin = m->arch.mlp;
	floats = 2 * (size_t)L * h + m->n_input + (maxin + h) + 4 * (size_t)h + m->arch.season +
		 m->arch.horizon;
	s->block = calloc(floats, sizeof(float));
	if (!s->block)
		return -ENOMEM;
	p = s->block;
	s->h = p;
	p += (size_t)L * h;
	s->c = p;
	p += (size_t)L * h;
	s->feat = p;
	p += m->n_input;
	s->xh = p;
	p += maxin + h;
	s->gates = p;
	p += 4 * (size_t)h;
	s->ring = p;
	p += m->arch.season;
	s->y = p;
	s->layers = L;
	s->hidden = h;
	s->n_input = m->n_input;
	s->horizon = m->arch.horizon;
	s->season = m->arch.season;
	s->last_raw = NAN;
	return 0;
}

void fc_lstm_state_reset(struct fc_lstm_state *s)
{
	memset(s->h, 0, (size_t)s->layers * s->hidden * sizeof(float));
	memset(s->c, 0, (size_t)s->layers * s->hidden * sizeof(float));
	memset(s->ring, 0, (size_t)s->season * sizeof(float));
	s->seen = 0;
	s->last_raw = NAN;
}

void fc_lstm_state_free(struct fc_lstm_state *s)
{
	if (!s)
		return;
	free(s->block);
	memset(s, 0, sizeof(*s));
}

/* Four accumulators break the add dependency chain (no -ffast-math here). */
static inline float dot_f(const float *a, const float *b, uint32_t n)
{
	float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	uint32_t i = 0;

	for (; i + 4 <= n; i += 4) {
		s0 += a[i] * b[i];
		s1 += a[i + 1] * b[i + 1];
		s2 += a[i + 2] * b[i + 2];
		s3 += a[i + 3] * b[i + 3];
	}
	for (; i < n; i++)
		s0 += a[i] * b[i];
	return (s0 + s1) + (s2 + s3);
}

static inline float sigmoid_f(float x)
{
	return 1.0f / (1.0f + expf(-x));
}

void fc_lstm_step(const struct fc_model *m, struct fc_lstm_state *s, float x_t, float *out)
{
	const uint32_t h = m->arch.hidden, hz = m->arch.horizon, season = m->arch.season;
	const float *in = s->feat;
	uint32_t n_in = m->n_input;

	s->feat[0] = x_t;
	if (m->arch.flags & FC_ARCH_DIFF_INPUT)
		s->feat[1] = FC_DIFF_GAIN * (x_t - (s->seen ? s->prev : x_t));
	if (season) {
		float *lag = s->feat + m->n_input - hz;

		/* x[t+k-season] sits (season-k) slots behind the newest in the ring. */
		for (uint32_t k = 1; k <= hz; k++) {
			uint64_t back = season - k; /* 0 = x_t itself */

			if (back && s->seen >= back)
				lag[k - 1] = s->ring[(s->seen - back) % season];
			else
				lag[k - 1] = x_t;
		}
		s->ring[s->seen % season] = x_t;
	}
	s->prev = x_t;
	s->seen++;

	if (m->arch.mlp) {
		float *z = s->xh;

		for (uint32_t j = 0; j < m->arch.mlp; j++) {
			float a = m->mlp_b[j] + dot_f(m->mlp_w + (size_t)j * n_in, in, n_in);

			z[j] = a > 0 ? a : 0;
		}
		in = z;
		n_in = m->arch.mlp;
	}
	for (uint32_t l = 0; l < m->arch.layers; l++) {
		const float *w = m->lstm_w[l], *b = m->lstm_b[l];
		float *hl = s->h + (size_t)l * h, *cl = s->c + (size_t)l * h;
		uint32_t cols = n_in + h;

		if (in != s->xh)
			memcpy(s->xh, in, n_in * sizeof(float));
		memcpy(s->xh + n_in, hl, h * sizeof(float));
		for (uint32_t j = 0; j < 4 * h; j++)
			s->gates[j] = b[j] + dot_f(w + (size_t)j * cols, s->xh, cols);
		for (uint32_t j = 0; j < h; j++) {
			float ig = sigmoid_f(s->gates[j]);
			float fg = sigmoid_f(s->gates[h + j]);
			float gg = tanhf(s->gates[2 * h + j]);
			float og = sigmoid_f(s->gates[3 * h + j]);

			cl[j] = fg * cl[j] + ig * gg;
			hl[j] = og * tanhf(cl[j]);
		}
		in = hl;
		n_in = h;
	}
	for (uint32_t k = 0; k < hz; k++) {
		float y = m->out_b[k] + dot_f(m->out_w + (size_t)k * h, in, h);

		out[k] = (m->arch.flags & FC_ARCH_RESIDUAL) ? y + x_t : y;
	}
}

void fc_lstm_step_raw(const struct fc_model *m, struct fc_lstm_state *s, double raw_t,
		      double *out)
{
	float xn = (float)fc_prep_apply(&m->prep, raw_t, &s->last_raw);

	fc_lstm_step(m, s, xn, s->y);
	for (uint32_t k = 0; k < m->arch.horizon; k++) {
		double v = fc_prep_invert(&m->prep, s->y[k]);

		out[k] = v > 0 ? v : 0;
	}
}

double fc_lstm_stream_loss(const struct fc_model *m, const float *x, size_t n, size_t from,
			   size_t warmup, int l1)
{
	struct fc_lstm_state s;
	uint32_t hz = m->arch.horizon;
	size_t start = from > warmup ? from - warmup : 0, cnt = 0;
	double sum = 0;

	if (fc_lstm_state_init(&s, m))
		return NAN;
	for (size_t t = start; t < n; t++) {
		fc_lstm_step(m, &s, x[t], s.y);
		if (t < from)
			continue;
		for (uint32_t k = 1; k <= hz && t + k < n; k++) {
			double e = (double)s.y[k - 1] - x[t + k];

			sum += l1 ? fabs(e) : e * e;
			cnt++;
		}
	}
	fc_lstm_state_free(&s);
	return cnt ? sum / (double)cnt : NAN;
}

/* ------------------------------------------------- training (double) */

/* Activations of one chunk, kept for the backward pass. */
struct layer_trace {
	double *xh;    /* [W][in + h]: input then previous h */
	double *gates; /* [W][4h]: i, f, g, o after their nonlinearity */
	double *c;     /* [W][h] */
	double *tc;    /* [W][h] tanh(c) */
	double *c0;    /* [h] cell state before the chunk */
};

struct workspace {
	uint32_t window;
	double *feat;	  /* [W][n_input] */
	double *mlp_pre;  /* [W][mlp] */
	double *mlp_out;  /* [W][mlp] */
	double *y;	  /* [W][horizon] */
	struct layer_trace lt[FC_MAX_LAYERS];
	double *dh_next, *dc_next, *dxh, *da, *dh; /* backward scratch */
	double *dz;
};

static void ws_free(struct workspace *ws)
{
	free(ws->feat);
	free(ws->mlp_pre);
	free(ws->mlp_out);
	free(ws->y);
	for (int l = 0; l < FC_MAX_LAYERS; l++) {
		free(ws->lt[l].xh);
		free(ws->lt[l].gates);
		free(ws->lt[l].c);
		free(ws->lt[l].tc);
		free(ws->lt[l].c0);
	}
	free(ws->dh_next);
	free(ws->dc_next);
	free(ws->dxh);
	free(ws->da);
	free(ws->dh);
	free(ws->dz);
	memset(ws, 0, sizeof(*ws));
}

static int ws_init(struct workspace *ws, const struct fc_model *m, uint32_t window)
{
	size_t W = window, h = m->arch.hidden, mlp = m->arch.mlp ? m->arch.mlp : 1;
	size_t maxin = m->n_input > mlp ? m->n_input : mlp;

	if (maxin < h)
		maxin = h;
	memset(ws, 0, sizeof(*ws));
	ws->window = window;
	ws->feat = calloc(W * m->n_input, sizeof(double));
	ws->mlp_pre = calloc(W * mlp, sizeof(double));
	ws->mlp_out = calloc(W * mlp, sizeof(double));
	ws->y = calloc(W * m->arch.horizon, sizeof(double));
	ws->dh_next = calloc(m->arch.layers * h, sizeof(double));
	ws->dc_next = calloc(m->arch.layers * h, sizeof(double));
	ws->dxh = calloc(maxin + h, sizeof(double));
	ws->da = calloc(4 * h, sizeof(double));
	ws->dh = calloc(maxin + h, sizeof(double));
	ws->dz = calloc(maxin, sizeof(double));
	if (!ws->feat || !ws->mlp_pre || !ws->mlp_out || !ws->y || !ws->dh_next || !ws->dc_next ||
	    !ws->dxh || !ws->da || !ws->dh || !ws->dz)
		goto nomem;
	for (uint32_t l = 0; l < m->arch.layers; l++) {
		size_t cols = m->lstm_in[l] + h;
		struct layer_trace *t = &ws->lt[l];

		t->xh = calloc(W * cols, sizeof(double));
		t->gates = calloc(W * 4 * h, sizeof(double));
		t->c = calloc(W * h, sizeof(double));
		t->tc = calloc(W * h, sizeof(double));
		t->c0 = calloc(h, sizeof(double));
		if (!t->xh || !t->gates || !t->c || !t->tc || !t->c0)
			goto nomem;
	}
	return 0;
nomem:
	ws_free(ws);
	return -ENOMEM;
}

static inline double sigmoid_d(double x)
{
	return 1.0 / (1.0 + exp(-x));
}

/* Features at global position p: x[p] and, with a season, the value one
 * season before each target (x[p] while that is before the series start). */
static void build_features(const struct fc_model *m, const float *x, size_t p, double *feat)
{
	feat[0] = x[p];
	if (m->arch.flags & FC_ARCH_DIFF_INPUT)
		feat[1] = FC_DIFF_GAIN * (double)(x[p] - (p ? x[p - 1] : x[p]));
	if (!m->arch.season)
		return;
	feat += m->n_input - m->arch.horizon;
	for (uint32_t k = 1; k <= m->arch.horizon; k++) {
		size_t back = m->arch.season - k;

		feat[k - 1] = p >= back ? x[p - back] : x[p];
	}
}

/* Where each parameter block's gradient sits in the flat vector, in the
 * order of fc_arch_param_count(). */
struct grad_view {
	double *mlp_w, *mlp_b;
	double *w[FC_MAX_LAYERS], *b[FC_MAX_LAYERS];
	double *out_w, *out_b;
};

static void grad_view_bind(const struct fc_model *m, double *grad, struct grad_view *gv)
{
	const uint32_t H = m->arch.hidden, mlp = m->arch.mlp;
	double *gp = grad;

	gv->mlp_w = grad;
	gv->mlp_b = NULL;
	if (mlp) {
		gv->mlp_w = gp;
		gp += (size_t)mlp * m->n_input;
		gv->mlp_b = gp;
		gp += mlp;
	}
	for (uint32_t l = 0; l < m->arch.layers; l++) {
		gv->w[l] = gp;
		gp += (size_t)4 * H * (m->lstm_in[l] + H);
		gv->b[l] = gp;
		gp += 4 * H;
	}
	gv->out_w = gp;
	gp += (size_t)m->arch.horizon * H;
	gv->out_b = gp;
}

/* ReLU layer in front of the LSTM; keeps the pre-activation for backward. */
static void mlp_forward(const struct fc_model *m, const double *feat, double *pre, double *z)
{
	const uint32_t nin = m->n_input;

	for (uint32_t j = 0; j < m->arch.mlp; j++) {
		const float *w = m->mlp_w + (size_t)j * nin;
		double a = m->mlp_b[j];

		for (uint32_t k = 0; k < nin; k++)
			a += (double)w[k] * feat[k];
		pre[j] = a;
		z[j] = a > 0 ? a : 0;
	}
}

/* One LSTM cell at step t of layer l: records [x, h], the gates, c and
 * tanh(c) for backward and updates (hs, cs) in place. */
static void lstm_layer_forward(const struct fc_model *m, struct layer_trace *lt, uint32_t l,
			       size_t t, const double *in, uint32_t n_in, double *hs, double *cs)
{
	const uint32_t H = m->arch.hidden, cols = n_in + H;
	double *xh = lt->xh + t * cols, *g = lt->gates + t * 4 * H;
	double *c = lt->c + t * H, *tc = lt->tc + t * H;

	memcpy(xh, in, n_in * sizeof(double));
	memcpy(xh + n_in, hs, H * sizeof(double));
	for (uint32_t j = 0; j < 4 * H; j++) {
		const float *w = m->lstm_w[l] + (size_t)j * cols;
		double a = m->lstm_b[l][j];

		for (uint32_t k = 0; k < cols; k++)
			a += (double)w[k] * xh[k];
		g[j] = a;
	}
	for (uint32_t j = 0; j < H; j++) {
		g[j] = sigmoid_d(g[j]);
		g[H + j] = sigmoid_d(g[H + j]);
		g[2 * H + j] = tanh(g[2 * H + j]);
		g[3 * H + j] = sigmoid_d(g[3 * H + j]);
		c[j] = g[H + j] * cs[j] + g[j] * g[2 * H + j];
		tc[j] = tanh(c[j]);
		cs[j] = c[j];
		hs[j] = g[3 * H + j] * tc[j];
	}
}

/* Forward step t of the chunk; adds its squared (l1: absolute) errors to
 * *err_sum one by one, so the sum rounds as a single running total. */
static void forward_step(const struct fc_model *m, struct workspace *ws, const float *x,
			 size_t start, size_t t, double *h_state, double *c_state, int l1,
			 double *err_sum)
{
	const uint32_t H = m->arch.hidden, hz = m->arch.horizon, nin = m->n_input;
	const uint32_t mlp = m->arch.mlp;
	double *feat = ws->feat + t * nin, *y = ws->y + t * hz;
	const double *in = feat;
	uint32_t n_in = nin;

	build_features(m, x, start + t, feat);
	if (mlp) {
		double *z = ws->mlp_out + t * mlp;

		mlp_forward(m, feat, ws->mlp_pre + t * mlp, z);
		in = z;
		n_in = mlp;
	}
	for (uint32_t l = 0; l < m->arch.layers; l++) {
		double *hs = h_state + (size_t)l * H, *cs = c_state + (size_t)l * H;

		lstm_layer_forward(m, &ws->lt[l], l, t, in, n_in, hs, cs);
		in = hs;
		n_in = H;
	}
	for (uint32_t k = 0; k < hz; k++) {
		const float *w = m->out_w + (size_t)k * H;
		double a = m->out_b[k], e;

		for (uint32_t j = 0; j < H; j++)
			a += (double)w[j] * in[j];
		if (m->arch.flags & FC_ARCH_RESIDUAL)
			a += x[start + t];
		y[k] = a;
		e = a - x[start + t + 1 + k];
		*err_sum += l1 ? fabs(e) : e * e;
	}
}

/* Head gradient at step t; leaves dL/dh_top in ws->dh. */
static void head_backward(const struct fc_model *m, struct workspace *ws, const float *x,
			  size_t start, size_t t, const struct grad_view *gv, double scale, int l1)
{
	const uint32_t H = m->arch.hidden, hz = m->arch.horizon, L = m->arch.layers;
	const double *y = ws->y + t * hz;
	const double *otop = ws->lt[L - 1].gates + t * 4 * H + 3 * H;
	const double *tctop = ws->lt[L - 1].tc + t * H;
	double *dh = ws->dh;

	for (uint32_t j = 0; j < H; j++)
		dh[j] = 0;
	for (uint32_t k = 0; k < hz; k++) {
		double e = y[k] - x[start + t + 1 + k];
		double dy = l1 ? scale * (double)((e > 0) - (e < 0)) : scale * 2.0 * e;
		const float *w = m->out_w + (size_t)k * H;
		double *gw = gv->out_w + (size_t)k * H;

		gv->out_b[k] += dy;
		for (uint32_t j = 0; j < H; j++) {
			gw[j] += dy * otop[j] * tctop[j];
			dh[j] += dy * w[j];
		}
	}
}

/* Layer l at step t: takes dL/dh from ws->dh (plus the carry from step t+1)
 * and leaves there what flows to the layer, or MLP, below. */
static void lstm_layer_backward(const struct fc_model *m, struct workspace *ws, uint32_t l,
				size_t t, const struct grad_view *gv)
{
	const uint32_t H = m->arch.hidden, n_in = m->lstm_in[l], cols = n_in + H;
	const struct layer_trace *lt = &ws->lt[l];
	const double *xh = lt->xh + t * cols, *g = lt->gates + t * 4 * H;
	const double *tc = lt->tc + t * H;
	const double *cprev = t ? lt->c + (t - 1) * H : lt->c0;
	double *dhn = ws->dh_next + (size_t)l * H, *dcn = ws->dc_next + (size_t)l * H;
	double *da = ws->da, *dxh = ws->dxh, *dh = ws->dh;
	const float *w = m->lstm_w[l];
	double *gw = gv->w[l], *gb = gv->b[l];

	for (uint32_t j = 0; j < H; j++) {
		double i = g[j], f = g[H + j], gg = g[2 * H + j];
		double o = g[3 * H + j];
		double dht = dh[j] + dhn[j];
		double dc = dcn[j] + dht * o * (1 - tc[j] * tc[j]);

		da[j] = dc * gg * i * (1 - i);
		da[H + j] = dc * cprev[j] * f * (1 - f);
		da[2 * H + j] = dc * i * (1 - gg * gg);
		da[3 * H + j] = dht * tc[j] * o * (1 - o);
		dcn[j] = dc * f;
	}
	memset(dxh, 0, cols * sizeof(double));
	for (uint32_t r = 0; r < 4 * H; r++) {
		const float *wr = w + (size_t)r * cols;
		double *gr = gw + (size_t)r * cols, d = da[r];

		gb[r] += d;
		for (uint32_t k = 0; k < cols; k++) {
			gr[k] += d * xh[k];
			dxh[k] += d * wr[k];
		}
	}
	memcpy(dhn, dxh + n_in, H * sizeof(double));
	memcpy(dh, dxh, n_in * sizeof(double));
}

static void mlp_backward(const struct fc_model *m, struct workspace *ws, size_t t,
			 const struct grad_view *gv)
{
	const uint32_t nin = m->n_input, mlp = m->arch.mlp;
	const double *pre = ws->mlp_pre + t * mlp;
	const double *feat = ws->feat + t * nin;

	for (uint32_t j = 0; j < mlp; j++) {
		double dz = pre[j] > 0 ? ws->dh[j] : 0;
		double *gr = gv->mlp_w + (size_t)j * nin;

		gv->mlp_b[j] += dz;
		for (uint32_t k = 0; k < nin; k++)
			gr[k] += dz * feat[k];
	}
}

/*
 * Runs x[start..start+len) from state (h, c) [layers][hidden] (updated to the
 * final state), adds the squared (l1: absolute) error of every step and
 * horizon to *sse and, if grad != NULL, adds d(scale * sum)/dparams to grad
 * (backpropagation through time over the chunk).
 */
static void chunk_pass(const struct fc_model *m, struct workspace *ws, const float *x,
		       size_t start, size_t len, double *h_state, double *c_state, double *sse,
		       double *grad, double scale, int l1)
{
	const uint32_t H = m->arch.hidden, L = m->arch.layers;
	struct grad_view gv;
	double err_sum = 0;

	for (uint32_t l = 0; l < L; l++)
		memcpy(ws->lt[l].c0, c_state + (size_t)l * H, H * sizeof(double));
	for (size_t t = 0; t < len; t++)
		forward_step(m, ws, x, start, t, h_state, c_state, l1, &err_sum);
	*sse += err_sum;
	if (!grad)
		return;

	grad_view_bind(m, grad, &gv);
	memset(ws->dh_next, 0, (size_t)L * H * sizeof(double));
	memset(ws->dc_next, 0, (size_t)L * H * sizeof(double));
	for (size_t t = len; t-- > 0;) {
		head_backward(m, ws, x, start, t, &gv, scale, l1);
		for (uint32_t l = L; l-- > 0;)
			lstm_layer_backward(m, ws, l, t, &gv);
		if (m->arch.mlp)
			mlp_backward(m, ws, t, &gv);
	}
}

int fc_lstm_window_loss(const struct fc_model *m, const float *x, size_t n, size_t start,
			size_t len, int l1, double *loss, double *grad)
{
	struct workspace ws;
	double *h, *c, sse = 0;
	size_t state = (size_t)m->arch.layers * m->arch.hidden;
	double scale;
	int err;

	if (!m || !x || !loss || !len || len > FC_MAX_WINDOW || start + len + m->arch.horizon > n)
		return -EINVAL;
	err = ws_init(&ws, m, (uint32_t)len);
	if (err)
		return err;
	h = calloc(state, sizeof(double));
	c = calloc(state, sizeof(double));
	if (!h || !c) {
		free(h);
		free(c);
		ws_free(&ws);
		return -ENOMEM;
	}
	scale = 1.0 / ((double)len * m->arch.horizon);
	if (grad)
		memset(grad, 0, m->n_params * sizeof(double));
	chunk_pass(m, &ws, x, start, len, h, c, &sse, grad, scale, l1);
	*loss = sse * scale;
	free(h);
	free(c);
	ws_free(&ws);
	return 0;
}

void fc_train_opts_default(struct fc_train_opts *o)
{
	*o = (struct fc_train_opts){
		/* tuned on the traces in data/traces/, see docs/forecast-accuracy.md */
		.epochs = 40, .batch = 4, .lr = 3e-3, .clip = 1.0, .val_frac = 0.1, .seed = 1,
		.l1 = 1,
	};
}

/* How the training part of the series is cut: B parallel streams of
 * `chunks` windows each, and a validation tail of val_len points. */
struct train_plan {
	size_t n_fit, val_len, seg, chunks;
	uint32_t streams;
};

static int train_plan(const struct fc_model *m, size_t n, const struct fc_train_opts *o,
		      struct train_plan *p)
{
	const uint32_t W = m->arch.window, hz = m->arch.horizon;
	uint32_t B = o->batch ? o->batch : 1;

	p->val_len = o->val_frac > 0 && o->val_frac < 0.5 ? (size_t)(o->val_frac * (double)n) : 0;
	if (p->val_len && p->val_len < 4 * (size_t)hz)
		p->val_len = 0;
	p->n_fit = n - p->val_len;
	/* origins 0..n_fit-hz-1; each stream needs at least one chunk plus a shift */
	if (p->n_fit < (size_t)hz + 1)
		return -EINVAL;
	/* Short series (tests, CI slices) get fewer streams rather than none. */
	if ((p->n_fit - hz) / B < 2 * (size_t)W)
		B = (uint32_t)((p->n_fit - hz) / (2 * (size_t)W));
	if (B < 1)
		return -EINVAL;
	p->streams = B;
	p->seg = (p->n_fit - hz) / B;
	p->chunks = (p->seg - W) / W;
	return 0;
}

/* Buffers of one training run: gradient, Adam moments, the streams'
 * carried LSTM state and the best parameters seen. */
struct trainer {
	struct workspace ws;
	double *grad, *adam_m, *adam_v, *hs, *cs;
	float *best;
	uint64_t step;
};

static void trainer_free(struct trainer *tr)
{
	free(tr->grad);
	free(tr->adam_m);
	free(tr->adam_v);
	free(tr->hs);
	free(tr->cs);
	free(tr->best);
	ws_free(&tr->ws);
}

static int trainer_init(struct trainer *tr, const struct fc_model *m, uint32_t streams)
{
	const size_t P = m->n_params, state = (size_t)m->arch.layers * m->arch.hidden;
	int err;

	memset(tr, 0, sizeof(*tr));
	err = ws_init(&tr->ws, m, m->arch.window);
	if (err)
		return err;
	tr->grad = calloc(P, sizeof(double));
	tr->adam_m = calloc(P, sizeof(double));
	tr->adam_v = calloc(P, sizeof(double));
	tr->hs = calloc(streams * state, sizeof(double));
	tr->cs = calloc(streams * state, sizeof(double));
	tr->best = malloc(P * sizeof(float));
	if (!tr->grad || !tr->adam_m || !tr->adam_v || !tr->hs || !tr->cs || !tr->best) {
		trainer_free(tr);
		return -ENOMEM;
	}
	memcpy(tr->best, m->params, P * sizeof(float));
	return 0;
}

/* One Adam update from tr->grad, clipped to a global norm of `clip`. */
static void adam_step(struct fc_model *m, struct trainer *tr, double lr, double clip)
{
	const double b1 = 0.9, b2 = 0.999;
	double norm2 = 0, clipf = 1.0, c1, c2;

	for (size_t i = 0; i < m->n_params; i++)
		norm2 += tr->grad[i] * tr->grad[i];
	if (clip > 0 && sqrt(norm2) > clip)
		clipf = clip / sqrt(norm2);
	tr->step++;
	c1 = 1.0 - pow(b1, (double)tr->step);
	c2 = 1.0 - pow(b2, (double)tr->step);
	for (size_t i = 0; i < m->n_params; i++) {
		double g = tr->grad[i] * clipf;

		tr->adam_m[i] = b1 * tr->adam_m[i] + (1 - b1) * g;
		tr->adam_v[i] = b2 * tr->adam_v[i] + (1 - b2) * g * g;
		m->params[i] -= (float)(lr * (tr->adam_m[i] / c1) / (sqrt(tr->adam_v[i] / c2) + 1e-8));
	}
}

/* One epoch of truncated BPTT; returns the mean training loss. */
static double train_epoch(struct fc_model *m, struct trainer *tr, const float *x,
			  const struct train_plan *p, const struct fc_train_opts *o, size_t shift,
			  double lr)
{
	const uint32_t W = m->arch.window, hz = m->arch.horizon, B = p->streams;
	const size_t state = (size_t)m->arch.layers * m->arch.hidden;
	const double scale = 1.0 / ((double)B * W * hz);
	double epoch_sse = 0;
	size_t terms = 0;

	memset(tr->hs, 0, B * state * sizeof(double));
	memset(tr->cs, 0, B * state * sizeof(double));
	for (size_t ch = 0; ch < p->chunks; ch++) {
		double sse = 0;

		memset(tr->grad, 0, m->n_params * sizeof(double));
		for (uint32_t b = 0; b < B; b++)
			chunk_pass(m, &tr->ws, x, b * p->seg + shift + ch * W, W, tr->hs + b * state,
				   tr->cs + b * state, &sse, tr->grad, scale, o->l1);
		epoch_sse += sse;
		terms += (size_t)B * W * hz;
		adam_step(m, tr, lr, o->clip);
	}
	return epoch_sse / (terms ? (double)terms : 1.0);
}

/* Keeps the parameters of the best validation epoch (or the last epoch,
 * without a validation tail) and logs the epoch if asked to. */
static void epoch_keep_best(struct fc_model *m, struct trainer *tr, const float *x, size_t n,
			    const struct train_plan *p, const struct fc_train_opts *o, uint32_t ep,
			    double train_loss, double *best_val, struct fc_train_report *rep,
			    double t0)
{
	const size_t P = m->n_params;

	if (rep) {
		if (ep == 0)
			rep->first_epoch_loss = train_loss;
		rep->last_epoch_loss = train_loss;
	}
	if (p->val_len) {
		size_t warm = (size_t)m->arch.season + 8 * (size_t)m->arch.window;
		double val = fc_lstm_stream_loss(m, x, n, p->n_fit, warm, o->l1);

		if (o->log)
			fprintf(o->log, "epoch %3u  train %s %.6g  val %.6g  (%.1fs)\n", ep + 1,
				o->l1 ? "mae" : "mse", train_loss, val, qlb_mono_s() - t0);
		if (val < *best_val) {
			*best_val = val;
			memcpy(tr->best, m->params, P * sizeof(float));
			if (rep) {
				rep->best_val_loss = val;
				rep->best_epoch = ep + 1;
			}
		}
		return;
	}
	memcpy(tr->best, m->params, P * sizeof(float));
	if (rep)
		rep->best_epoch = ep + 1;
	if (o->log)
		fprintf(o->log, "epoch %3u  train %s %.6g  (%.1fs)\n", ep + 1, o->l1 ? "mae" : "mse",
			train_loss, qlb_mono_s() - t0);
}

int fc_train(struct fc_model *m, const float *x, size_t n, const struct fc_train_opts *o,
	     struct fc_train_report *rep)
{
	struct train_plan plan;
	struct trainer tr;
	double t0 = qlb_mono_s(), best_val = INFINITY;
	uint64_t rng;
	int err;

	if (!m || !x || !o || !o->epochs || !(o->lr > 0))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isfinite(x[i]))
			return -EINVAL;
	err = train_plan(m, n, o, &plan);
	if (err)
		return err;
	err = trainer_init(&tr, m, plan.streams);
	if (err)
		return err;
	if (rep) {
		memset(rep, 0, sizeof(*rep));
		rep->best_val_loss = NAN;
	}
	rng = o->seed * 0x2545f4914f6cdd1dull + 7;
	for (uint32_t ep = 0; ep < o->epochs; ep++) {
		/* shift chunk boundaries each epoch so no step is always first */
		size_t shift = ep ? prng_next(&rng) % m->arch.window : 0;
		double lr = o->lr * (1.0 - 0.9 * ep / (double)o->epochs);
		double loss = train_epoch(m, &tr, x, &plan, o, shift, lr);

		epoch_keep_best(m, &tr, x, n, &plan, o, ep, loss, &best_val, rep, t0);
		if (!isfinite(loss)) {
			err = -ERANGE;
			break;
		}
	}
	memcpy(m->params, tr.best, m->n_params * sizeof(float));
	if (rep)
		rep->seconds = qlb_mono_s() - t0;
	trainer_free(&tr);
	return err;
}

int fc_model_train_series(struct fc_model *m, const struct fc_arch *a,
			  const struct fc_prep_opts *p, const struct fc_train_opts *o,
			  const double *x, size_t n, struct fc_train_report *rep,
			  struct qlb_error *err)
{
	float *xn;
	int rc;

	memset(m, 0, sizeof(*m));
	rc = fc_arch_validate(a, err);
	if (rc)
		return rc;
	rc = fc_model_init(m, a, o->seed);
	if (rc) {
		qlb_error_set(err, 0, "cannot allocate the model");
		return rc;
	}
	rc = fc_prep_fit(&m->prep, x, n, p->lo_pct, p->hi_pct, p->norm, p->impute);
	if (rc) {
		qlb_error_set(err, 0, "cannot fit preprocessing: need >= 2 finite values");
		fc_model_free(m);
		return rc;
	}
	xn = malloc((n ? n : 1) * sizeof(*xn));
	if (!xn) {
		fc_model_free(m);
		qlb_error_set(err, 0, "out of memory");
		return -ENOMEM;
	}
	fc_prep_apply_series(&m->prep, x, n, xn);
	rc = fc_train(m, xn, n, o, rep);
	free(xn);
	if (rc == -EINVAL)
		qlb_error_set(err, 0,
			 "series of %zu points too short to train with window %u, horizon %u",
			 n, a->window, a->horizon);
	else if (rc == -ERANGE)
		qlb_error_set(err, 0, "training diverged (non-finite loss); lower --lr");
	else if (rc)
		qlb_error_set(err, 0, "training failed: %s", strerror(-rc));
	if (rc)
		fc_model_free(m);
	return rc;
}
