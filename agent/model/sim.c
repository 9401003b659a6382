// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Discrete-event simulator (agent/sim.h). Arrivals form one time-ordered
 * stream, so the only event queue needed is a binary heap of departures
 * (at most sum c_i entries); the next arrival and the next window boundary
 * are single timestamps compared against the heap's top. Weighted routing
 * draws from an alias table rebuilt when the weights change: O(1) a request.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "queueing.h"
#include "rng.h"
#include "sim.h"

#define PARETO_SHAPE 2.2
#define ONOFF_HIGH 1.8		/* x mean rate while on */
#define ONOFF_LOW 0.2		/* x mean rate while off */
#define ONOFF_MEAN_S 5.0	/* mean sojourn in each state */
#define P99 0.99

/* One seed, independent streams: arrivals and sizes (the seed itself, so
 * that every policy sees the same requests), routing, the policy's own. */
#define SEED_ROUTE 0x5851f42d4c957f2dull
#define SEED_POLICY 0x2545f4914f6cdd1dull

/* Response-time histogram keyed by a double's top bits: exponent + 7
 * mantissa bits, i.e. bins 1/128 of an octave wide (midpoint within 0.4%),
 * from 2^-40 s (~1 ps) to 2^30 s. */
#define HIST_SHIFT 45
#define HIST_LO 0x1p-40
#define HIST_HI 0x1p30

struct job {
	double arrival_t, size;
};

struct departure {
	double t, arrival_t;
	uint32_t backend;
};

struct backend {
	double mu;
	uint32_t c, busy;
	struct job *q;		/* FIFO ring of waiting jobs */
	uint32_t qcap, qhead, qlen;
	double t_last, busy_area, n_area, busy_total;
	/* the current window */
	uint64_t w_arrivals, w_completions;
	double w_rt_sum;
	double *w_rt;
	uint32_t w_rt_len;
	size_t w_rt_cap;
};

/* Piecewise-constant arrival rate: `rate` until `seg_end`. */
struct arrival_gen {
	enum sim_arrivals kind;
	double mean_rate, rate, seg_end, series_mean, window_s;
	const double *series;
	size_t series_len, seg;
	int on;
	struct qlb_rng rng;
};

struct sim {
	const struct sim_config *cfg;
	uint32_t n;
	struct backend *be;
	double *active;		/* in system per backend, for per-flow picks */
	struct departure *heap;
	uint32_t heap_len;
	struct arrival_gen gen;
	struct qlb_rng route_rng;
	struct qlb_policy *policy;
	int per_flow;
	int qlb_sed;		/* qlb: sed per arrival once every eligible backend has a mu */
	/* lc's and qlb's per-arrival pick as a tournament tree over the
	 * backends: qlb_policy_pick's answer in O(log n) per arrival or
	 * departure instead of a scan of all n per arrival (1,000 backends x
	 * 10 M requests took 15 s). tour[1] is the winner, tour[size + i]
	 * backend i's leaf; PICK_NONE for an ineligible one. */
	int indexed;		/* lc or qlb */
	int tour_ok;		/* qlb: every eligible backend has a mu */
	uint32_t tour_size;
	uint32_t *tour;
	double *pick_mu;	/* 1 for lc: least active */
	/* Backends that lost an arrival (full), passed over by every pick
	 * until refused_until, like the data path's refusing backends. */
	uint8_t *refusing;
	double *refused_until, next_refusal_end;
	/* window and routing */
	struct qlb_obs *obs;
	struct qlb_est *est;
	uint32_t *weights, *prev_weights;
	double *alias_prob;
	uint32_t *alias, *alias_small, *alias_large;
	int routable;
	/* measured span */
	double t_warm;
	double *busy_at_warm, *util;
	uint64_t *hist;
	size_t hist_bins;
	uint64_t hist_base;
	double rt_sum;
	struct sim_result *r;
};

void sim_config_default(struct sim_config *c)
{
	*c = (struct sim_config){
		.policy = QLB_POLICY_SEDQ,
		.service = SIM_SERVICE_EXP,
		.queue = 1000,
		.arrivals = SIM_ARRIVALS_POISSON,
		.load = 0.7,
		.requests = 1000000,
		.window_s = 1.0,
		.warmup_frac = 0.1,
		.refused_hold_s = 1.0,
		.seed = 1,
	};
}

/* ------------------------------------------------------------- metrics */

double sim_jain(const double *u, uint32_t n)
{
	double s = 0, s2 = 0;

	for (uint32_t i = 0; i < n; i++) {
		s += u[i];
		s2 += u[i] * u[i];
	}
	/* Multilabel RNN/DRL paper, Eq. 4: F = (sum u)^2 / (N sum u^2). */
	return s2 > 0 ? s * s / (n * s2) : 1.0; /* all idle: perfectly even */
}

double sim_beta(const double *u, uint32_t n)
{
	double lo = INFINITY, hi = -INFINITY, s = 0;

	for (uint32_t i = 0; i < n; i++) {
		lo = fmin(lo, u[i]);
		hi = fmax(hi, u[i]);
		s += u[i];
	}
	/* Multilabel RNN/DRL paper, Eq. 5: beta = (max u - min u) / (mean u + eps). */
	return n ? (hi - lo) / (s / n + 1e-9) : NAN;
}

static uint64_t hist_key(double x)
{
	uint64_t bits;

	x = fmin(fmax(x, HIST_LO), HIST_HI);
	memcpy(&bits, &x, sizeof(bits));
	return bits >> HIST_SHIFT;
}

static double hist_mid(uint64_t key)
{
	uint64_t lo_bits = key << HIST_SHIFT, hi_bits = (key + 1) << HIST_SHIFT;
	double lo, hi;

	memcpy(&lo, &lo_bits, sizeof(lo));
	memcpy(&hi, &hi_bits, sizeof(hi));
	return sqrt(lo * hi);
}

static double hist_quantile(const struct sim *s, uint64_t count, double q)
{
	uint64_t rank = (uint64_t)ceil(q * (double)count), seen = 0;

	if (!count)
		return NAN;
	if (!rank)
		rank = 1;
	for (size_t k = 0; k < s->hist_bins; k++) {
		seen += s->hist[k];
		if (seen >= rank)
			return hist_mid(s->hist_base + k);
	}
	return NAN;
}

/* k-th smallest (0-based) of x[0..n), reordering x (Hoare's selection). */
static double select_kth(double *x, uint32_t n, uint32_t k)
{
	int64_t lo = 0, hi = (int64_t)n - 1;

	while (lo < hi) {
		double pivot = x[lo + (hi - lo) / 2];
		int64_t i = lo, j = hi;

		while (i <= j) {
			while (x[i] < pivot)
				i++;
			while (x[j] > pivot)
				j--;
			if (i <= j) {
				double tmp = x[i];

				x[i++] = x[j];
				x[j--] = tmp;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			break; /* between j and i everything equals the pivot */
	}
	return x[k];
}

/* ------------------------------------------------------------ the heap */

static void heap_sift_down(struct departure *h, uint32_t len, uint32_t i)
{
	struct departure e = h[i];

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= len)
			break;
		if (c + 1 < len && h[c + 1].t < h[c].t)
			c++;
		if (!(h[c].t < e.t))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = e;
}

static void heap_push(struct departure *h, uint32_t *len, struct departure e)
{
	uint32_t i = (*len)++;

	while (i) {
		uint32_t parent = (i - 1) / 2;

		if (!(e.t < h[parent].t))
			break;
		h[i] = h[parent];
		i = parent;
	}
	h[i] = e;
}

/* --------------------------------------------------------- random draws */

static double exp1(struct qlb_rng *r)
{
	return -log1p(-qlb_rng_uniform(r));
}

static double draw_size(enum sim_service kind, struct qlb_rng *r)
{
	switch (kind) {
	case SIM_SERVICE_DET:
		return 1.0;
	case SIM_SERVICE_PARETO:
		/* x_m (1 - U)^(-1/a) has mean x_m a / (a - 1) = 1. */
		return (PARETO_SHAPE - 1) / PARETO_SHAPE *
		       pow(1.0 - qlb_rng_uniform(r), -1.0 / PARETO_SHAPE);
	default:
		return exp1(r);
	}
}

static double series_rate(const struct arrival_gen *g, size_t k)
{
	double v = g->series[k % g->series_len];

	return g->mean_rate * (isfinite(v) && v >= 0 ? v : g->series_mean) / g->series_mean;
}

/* Moves the rate schedule to its next segment. */
static void next_segment(struct arrival_gen *g)
{
	if (g->kind == SIM_ARRIVALS_TRACE) {
		g->seg++;
		g->rate = series_rate(g, g->seg);
		g->seg_end = (double)(g->seg + 1) * g->window_s;
	} else { /* on/off */
		g->on = !g->on;
		g->rate = g->mean_rate * (g->on ? ONOFF_HIGH : ONOFF_LOW);
		g->seg_end += ONOFF_MEAN_S * exp1(&g->rng);
	}
}

static void gen_init(struct arrival_gen *g, const struct sim_config *c, double mean_rate)
{
	memset(g, 0, sizeof(*g));
	g->kind = c->arrivals;
	g->mean_rate = g->rate = mean_rate;
	g->seg_end = INFINITY;
	g->window_s = c->window_s;
	qlb_rng_seed(&g->rng, c->seed);
	if (g->kind == SIM_ARRIVALS_TRACE) {
		double sum = 0;
		size_t k = 0;

		g->series = c->rate_series;
		g->series_len = c->rate_len;
		for (size_t i = 0; i < c->rate_len; i++)
			if (isfinite(c->rate_series[i]) && c->rate_series[i] >= 0) {
				sum += c->rate_series[i];
				k++;
			}
		g->series_mean = sum / (double)k;
		g->rate = series_rate(g, 0);
		g->seg_end = g->window_s;
	} else if (g->kind == SIM_ARRIVALS_ONOFF) {
		g->on = 1;
		g->rate = mean_rate * ONOFF_HIGH;
		g->seg_end = ONOFF_MEAN_S * exp1(&g->rng);
	}
}

/* The next arrival after t. Poisson processes with a piecewise-constant
 * rate spend one unit-exponential of "rate x time" across segments. */
static double gen_next(struct arrival_gen *g, double t)
{
	double e;

	if (g->kind == SIM_ARRIVALS_UNIFORM)
		return t + 2.0 * qlb_rng_uniform(&g->rng) / g->mean_rate;
	e = exp1(&g->rng);
	/* "not <" also steps over zero-rate segments when e is exactly 0 */
	while (!(e < g->rate * (g->seg_end - t))) {
		e -= g->rate * (g->seg_end - t);
		t = g->seg_end;
		next_segment(g);
	}
	return t + e / g->rate;
}

/* The true mean rate of the window starting at t (the oracle's forecast). */
static double gen_true_rate(const struct arrival_gen *g, double t)
{
	if (g->kind == SIM_ARRIVALS_TRACE)
		return series_rate(g, (size_t)(t / g->window_s + 0.5));
	return g->kind == SIM_ARRIVALS_ONOFF ? g->rate : g->mean_rate;
}

/* ------------------------------------------------------------- routing */

/* Vose's alias method over the weights; routable = 0 if all are zero. */
static void alias_build(struct sim *s)
{
	uint32_t n = s->n, ns = 0, nl = 0;
	double total = 0;

	for (uint32_t i = 0; i < n; i++)
		total += s->weights[i];
	s->routable = total > 0;
	if (!s->routable)
		return;
	for (uint32_t i = 0; i < n; i++) {
		s->alias_prob[i] = s->weights[i] * (double)n / total;
		s->alias[i] = i;
		if (s->alias_prob[i] < 1.0)
			s->alias_small[ns++] = i;
		else
			s->alias_large[nl++] = i;
	}
	while (ns && nl) {
		uint32_t small = s->alias_small[--ns], large = s->alias_large[nl - 1];

		s->alias[small] = large;
		s->alias_prob[large] -= 1.0 - s->alias_prob[small];
		if (s->alias_prob[large] < 1.0) {
			nl--;
			s->alias_small[ns++] = large;
		}
	}
	while (nl)
		s->alias_prob[s->alias_large[--nl]] = 1.0;
	while (ns)
		s->alias_prob[s->alias_small[--ns]] = 1.0;
}

#define PICK_NONE UINT32_MAX
/* As the data path's ring (QLB_RING_REFUSED_PROBES). */
#define SIM_RING_REFUSED_PROBES 8

/* The better of two tournament entries by qlb_policy_pick's rule; ties to
 * a, the lower indices. */
static uint32_t pick_better(const struct sim *s, uint32_t a, uint32_t b)
{
	if (a == PICK_NONE)
		return b;
	if (b == PICK_NONE)
		return a;
	if (s->refusing[a] != s->refusing[b])
		return s->refusing[a] ? b : a;
	return qlb_pick_prefers(s->active[a], s->pick_mu[a], s->active[b], s->pick_mu[b]) ? b : a;
}

static void pick_index_update(struct sim *s, uint32_t i)
{
	for (uint32_t k = (s->tour_size + i) / 2; k; k /= 2)
		s->tour[k] = pick_better(s, s->tour[2 * k], s->tour[2 * k + 1]);
}

/* After the weights (eligibility) or the estimates changed: at the start
 * and once per window. */
static void pick_index_build(struct sim *s)
{
	uint32_t i;

	s->tour_ok = 1;
	for (i = 0; i < s->tour_size; i++) {
		double mu = 1;

		if (i < s->n && s->qlb_sed) {
			mu = qlb_policy_pick_mu(s->policy, i);
			if (s->weights[i] && !(mu > 0 && isfinite(mu)))
				s->tour_ok = 0;
		}
		if (i < s->n)
			s->pick_mu[i] = mu;
		s->tour[s->tour_size + i] = i < s->n && s->weights[i] ? i : PICK_NONE;
	}
	for (i = s->tour_size - 1; i; i--)
		s->tour[i] = pick_better(s, s->tour[2 * i], s->tour[2 * i + 1]);
}

static int route(struct sim *s)
{
	double u;
	uint32_t i;

	if (s->indexed && s->per_flow)	/* lc */
		return s->tour[1] == PICK_NONE ? -1 : (int)s->tour[1];
	if (s->per_flow)
		return qlb_policy_pick(s->policy, s->active, s->weights, s->n);
	/* qlb: sed per flow once every eligible backend has a capacity
	 * estimate, as the data plane does; the weights until then. */
	if (s->qlb_sed && s->tour_ok && s->tour[1] != PICK_NONE)
		return (int)s->tour[1];
	if (!s->routable)
		return -1;
	/* The ring passes a refusing backend's slot to the next ones, which
	 * Maglev spreads over the others by weight: a fresh draw, as often as
	 * the data path probes, then the flow's own draw anyway. */
	for (int probe = 0; probe <= SIM_RING_REFUSED_PROBES; probe++) {
		u = qlb_rng_uniform(&s->route_rng) * s->n;
		i = (uint32_t)u;
		if (i >= s->n)
			i = s->n - 1;
		i = u - i < s->alias_prob[i] ? i : s->alias[i];
		if (!s->refusing[i])
			break;
	}
	return (int)i;
}

/* Every refusal that ended by t, out; the picks see the backends again. */
static void refusals_expire(struct sim *s, double t)
{
	s->next_refusal_end = INFINITY;
	for (uint32_t i = 0; i < s->n; i++) {
		if (s->refusing[i] && s->refused_until[i] <= t) {
			s->refusing[i] = 0;
			if (s->indexed)
				pick_index_update(s, i);
		}
		if (s->refusing[i] && s->refused_until[i] < s->next_refusal_end)
			s->next_refusal_end = s->refused_until[i];
	}
}

static void refusal_start(struct sim *s, uint32_t i, double t)
{
	if (!(s->cfg->refused_hold_s > 0))
		return;
	s->refusing[i] = 1;
	s->refused_until[i] = t + s->cfg->refused_hold_s;
	if (s->refused_until[i] < s->next_refusal_end)
		s->next_refusal_end = s->refused_until[i];
}

/* ------------------------------------------------------------ backends */

static void advance(struct backend *b, double t)
{
	double dt = t - b->t_last;

	b->busy_area += b->busy * dt;
	b->n_area += (b->busy + b->qlen) * dt;
	b->busy_total += b->busy * dt;
	b->t_last = t;
}

static int queue_push(struct backend *b, struct job j)
{
	if (b->qlen == b->qcap) {
		uint32_t cap = b->qcap ? 2 * b->qcap : 16;
		struct job *q = malloc(cap * sizeof(*q));

		if (!q)
			return -ENOMEM;
		for (uint32_t k = 0; k < b->qlen; k++)
			q[k] = b->q[(b->qhead + k) % b->qcap];
		free(b->q);
		b->q = q;
		b->qcap = cap;
		b->qhead = 0;
	}
	b->q[(b->qhead + b->qlen++) % b->qcap] = j;
	return 0;
}

static struct job queue_pop(struct backend *b)
{
	struct job j = b->q[b->qhead];

	b->qhead = (b->qhead + 1) % b->qcap;
	b->qlen--;
	return j;
}

static int record_window_rt(struct backend *b, double rt)
{
	if (QLB_ARRAY_PUSH(b->w_rt, b->w_rt_len, b->w_rt_cap, 64, rt))
		return -ENOMEM;
	b->w_completions++;
	b->w_rt_sum += rt;
	return 0;
}

/* ------------------------------------------------------------- events */

static int arrive(struct sim *s, double t, double size)
{
	int counted = t >= s->t_warm, i;
	struct backend *b;

	if (t >= s->next_refusal_end)
		refusals_expire(s, t);
	i = route(s);

	s->r->arrivals += counted;
	if (i < 0) {
		s->r->drops += counted;
		return 0;
	}
	b = &s->be[i];
	advance(b, t);
	b->w_arrivals++;
	if (b->busy < b->c) {
		b->busy++;
		heap_push(s->heap, &s->heap_len,
			  (struct departure){ t + size / b->mu, t, (uint32_t)i });
	} else if (b->qlen < s->cfg->queue) {
		if (queue_push(b, (struct job){ t, size }))
			return -ENOMEM;
	} else {
		s->r->drops += counted;
		refusal_start(s, (uint32_t)i, t);
	}
	s->active[i] = b->busy + b->qlen;
	if (s->indexed)
		pick_index_update(s, (uint32_t)i);
	return 0;
}

static int depart(struct sim *s)
{
	struct departure d = s->heap[0];
	struct backend *b = &s->be[d.backend];
	double rt = d.t - d.arrival_t;

	advance(b, d.t);
	if (record_window_rt(b, rt))
		return -ENOMEM;
	if (d.arrival_t >= s->t_warm) {
		s->r->completions++;
		s->rt_sum += rt;
		s->hist[hist_key(rt) - s->hist_base]++;
	}
	if (b->qlen) {
		struct job j = queue_pop(b);

		/* the freed server takes the next job: replace the top in place */
		s->heap[0] = (struct departure){ d.t + j.size / b->mu, j.arrival_t, d.backend };
	} else {
		b->busy--;
		s->heap[0] = s->heap[--s->heap_len];
	}
	if (s->heap_len)
		heap_sift_down(s->heap, s->heap_len, 0);
	s->active[d.backend] = b->busy + b->qlen;
	if (s->indexed)
		pick_index_update(s, d.backend);
	return 0;
}

static int close_window(struct sim *s, double t)
{
	const struct sim_config *c = s->cfg;
	double dt = c->window_s, lambda_hat = NAN;
	int rc, changed = 0;

	for (uint32_t i = 0; i < s->n; i++) {
		struct backend *b = &s->be[i];
		struct qlb_obs *o = &s->obs[i];

		advance(b, t);
		*o = (struct qlb_obs){
			.dt_s = dt,
			.arrivals = b->w_arrivals,
			.completions = b->w_completions,
			.active = b->busy + b->qlen,
			.rt_samples = b->w_rt_len,
			.rt_mean_s = b->w_rt_len ? b->w_rt_sum / b->w_rt_len : NAN,
			.rt_p99_s = b->w_rt_len ? select_kth(b->w_rt, b->w_rt_len,
							     (uint32_t)ceil(P99 * b->w_rt_len) - 1)
						: NAN,
			/* A flow is open exactly while it is in the system. */
			.busy_s = b->busy_area,
			.dur_samples = b->w_rt_len,
			.dur_mean_s = b->w_rt_len ? b->w_rt_sum / b->w_rt_len : NAN,
			.cpu_util = c->hide_cpu ? NAN : b->busy_area / (b->c * dt),
			.mem_util = b->n_area / ((double)(b->c + c->queue) * dt),
			.servers = b->c,
			.config_weight = c->backends[i].weight,
			.healthy = 1,
			.true_mu = b->mu,
		};
		b->w_arrivals = b->w_completions = 0;
		b->w_rt_sum = b->busy_area = b->n_area = 0;
		b->w_rt_len = 0;
	}
	if (c->policy == QLB_POLICY_ORACLE || c->perfect_forecast)
		lambda_hat = gen_true_rate(&s->gen, t);
	memcpy(s->prev_weights, s->weights, s->n * sizeof(*s->weights));
	rc = qlb_policy_update(s->policy, s->obs, s->n, lambda_hat, s->weights, s->est);
	if (rc)
		return rc;
	if (c->on_window)
		c->on_window(c->ctx, t, s->obs, s->weights, s->est, s->n);
	for (uint32_t i = 0; i < s->n && !changed; i++)
		changed = s->prev_weights[i] != s->weights[i];
	if (changed && !s->per_flow)
		alias_build(s);
	if (s->indexed)
		pick_index_build(s);
	s->r->windows++;
	return 0;
}

/* ---------------------------------------------------------------- run */

static int config_valid(const struct sim_config *c)
{
	if (!c || !c->nbackends || !c->backends || !(c->load > 0) || !isfinite(c->load) ||
	    !c->requests || !(c->window_s > 0) || !isfinite(c->window_s) ||
	    !(c->refused_hold_s >= 0) || !isfinite(c->refused_hold_s) ||
	    !(c->warmup_frac >= 0 && c->warmup_frac < 1) || (unsigned)c->policy >= QLB_POLICY_MAX ||
	    (unsigned)c->service > SIM_SERVICE_PARETO || (unsigned)c->arrivals > SIM_ARRIVALS_TRACE)
		return 0;
	for (uint32_t i = 0; i < c->nbackends; i++)
		if (!(c->backends[i].mu > 0) || !isfinite(c->backends[i].mu) ||
		    !c->backends[i].servers || c->backends[i].servers > 1000000)
			return 0;
	if (c->arrivals == SIM_ARRIVALS_TRACE) {
		double sum = 0;

		if (!c->rate_series || !c->rate_len)
			return 0;
		for (size_t i = 0; i < c->rate_len; i++)
			sum += isfinite(c->rate_series[i]) && c->rate_series[i] > 0 ? c->rate_series[i] : 0;
		if (!(sum > 0))
			return 0;
	}
	return 1;
}

static void sim_free(struct sim *s)
{
	if (s->be)
		for (uint32_t i = 0; i < s->n; i++) {
			free(s->be[i].q);
			free(s->be[i].w_rt);
		}
	free(s->be);
	free(s->active);
	free(s->heap);
	free(s->obs);
	free(s->est);
	free(s->weights);
	free(s->prev_weights);
	free(s->util);
	free(s->alias_prob);
	free(s->alias);
	free(s->alias_small);
	free(s->alias_large);
	free(s->busy_at_warm);
	free(s->hist);
	free(s->tour);
	free(s->pick_mu);
	free(s->refusing);
	free(s->refused_until);
	qlb_policy_destroy(s->policy);
}

static int sim_alloc(struct sim *s, const struct sim_config *c)
{
	struct qlb_policy_opts po;
	uint64_t servers = 0;
	uint32_t n = c->nbackends;

	for (uint32_t i = 0; i < n; i++)
		servers += c->backends[i].servers;
	if (servers > UINT32_MAX / 2)
		return -EINVAL;
	s->n = n;
	s->be = calloc(n, sizeof(*s->be));
	s->active = calloc(n, sizeof(*s->active));
	s->heap = calloc(servers, sizeof(*s->heap));
	s->obs = calloc(n, sizeof(*s->obs));
	s->est = calloc(n, sizeof(*s->est));
	s->weights = calloc(n, sizeof(*s->weights));
	s->prev_weights = calloc(n, sizeof(*s->prev_weights));
	s->util = calloc(n, sizeof(*s->util));
	s->alias_prob = calloc(n, sizeof(*s->alias_prob));
	s->alias = calloc(n, sizeof(*s->alias));
	s->alias_small = calloc(n, sizeof(*s->alias_small));
	s->alias_large = calloc(n, sizeof(*s->alias_large));
	s->busy_at_warm = calloc(n, sizeof(*s->busy_at_warm));
	s->hist_base = hist_key(HIST_LO);
	s->hist_bins = hist_key(HIST_HI) - s->hist_base + 1;
	s->hist = calloc(s->hist_bins, sizeof(*s->hist));
	for (s->tour_size = 1; s->tour_size < n; s->tour_size *= 2)
		;
	s->tour = calloc(2 * (size_t)s->tour_size, sizeof(*s->tour));
	s->pick_mu = calloc(n, sizeof(*s->pick_mu));
	s->refusing = calloc(n, sizeof(*s->refusing));
	s->refused_until = calloc(n, sizeof(*s->refused_until));
	s->next_refusal_end = INFINITY;
	if (!s->refusing || !s->refused_until || !s->be || !s->active || !s->heap || !s->obs || !s->est || !s->weights ||
	    !s->prev_weights || !s->util ||
	    !s->alias_prob || !s->alias || !s->alias_small || !s->alias_large ||
	    !s->busy_at_warm || !s->hist || !s->tour || !s->pick_mu)
		return -ENOMEM;
	if (c->policy_opts) {
		po = *c->policy_opts;
	} else {
		qlb_policy_opts_default(&po);
		po.window_s = c->window_s;
		po.seed = c->seed ^ SEED_POLICY;
		po.occupancy = c->occupancy;
	}
	return qlb_policy_create(c->policy, n, &po, &s->policy);
}

/* Until its first window closes the policy has seen nothing; like the
 * agent, the data path starts from the operator's weights (all 0: equal). */
static void initial_weights(struct sim *s)
{
	uint64_t total = 0;

	for (uint32_t i = 0; i < s->n; i++)
		total += s->cfg->backends[i].weight;
	for (uint32_t i = 0; i < s->n; i++)
		s->weights[i] = total ? s->cfg->backends[i].weight : 1;
}

static void finish(struct sim *s, double t_end)
{
	struct sim_result *r = s->r;
	double span = t_end - s->t_warm;

	r->sim_s = t_end;
	r->loss = r->arrivals ? (double)r->drops / (double)r->arrivals : NAN;
	r->rt_mean_s = r->completions ? s->rt_sum / (double)r->completions : NAN;
	r->rt_p50_s = hist_quantile(s, r->completions, 0.5);
	r->rt_p99_s = hist_quantile(s, r->completions, P99);
	r->throughput = span > 0 ? (double)r->completions / span : NAN;
	for (uint32_t i = 0; i < s->n; i++)
		s->util[i] = span > 0 ? (s->be[i].busy_total - s->busy_at_warm[i]) /
						(s->be[i].c * span)
				      : 0;
	r->jain = sim_jain(s->util, s->n);
	r->beta = sim_beta(s->util, s->n);
}

int sim_run(const struct sim_config *c, struct sim_result *r)
{
	struct sim s = { .cfg = c, .r = r, .t_warm = INFINITY };
	uint64_t generated = 0, warm_index;
	double capacity = 0, t_arrival, next_size, t = 0;
	uint64_t window = 0;
	int rc;

	if (!r || !config_valid(c))
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	rc = sim_alloc(&s, c);
	if (rc)
		goto out;
	for (uint32_t i = 0; i < s.n; i++) {
		s.be[i].mu = c->backends[i].mu;
		s.be[i].c = c->backends[i].servers;
		capacity += s.be[i].mu * s.be[i].c;
	}
	s.per_flow = qlb_policy_is_per_flow(c->policy);
	s.qlb_sed = c->policy == QLB_POLICY_SEDQ;
	s.indexed = c->policy == QLB_POLICY_LC || s.qlb_sed;
	gen_init(&s.gen, c, c->load * capacity);
	qlb_rng_seed(&s.route_rng, c->seed ^ SEED_ROUTE);
	initial_weights(&s);
	alias_build(&s);
	if (s.indexed)
		pick_index_build(&s);
	warm_index = (uint64_t)(c->warmup_frac * (double)c->requests);

	t_arrival = gen_next(&s.gen, 0);
	next_size = draw_size(c->service, &s.gen.rng);
	for (;;) {
		double t_dep = s.heap_len ? s.heap[0].t : INFINITY;
		double t_arr = generated < c->requests ? t_arrival : INFINITY;
		double t_win = (double)(window + 1) * c->window_s;

		if (t_dep == INFINITY && t_arr == INFINITY)
			break;
		t = fmin(t_dep, t_arr);
		if (t >= t_win) {
			rc = close_window(&s, t_win);
			if (rc)
				goto out;
			window++;
			continue;
		}
		if (t_dep <= t_arr) {
			rc = depart(&s);
		} else {
			if (generated == warm_index) {
				s.t_warm = t;
				for (uint32_t i = 0; i < s.n; i++) {
					advance(&s.be[i], t);
					s.busy_at_warm[i] = s.be[i].busy_total;
				}
			}
			rc = arrive(&s, t, next_size);
			generated++;
			t_arrival = gen_next(&s.gen, t);
			next_size = draw_size(c->service, &s.gen.rng);
		}
		if (rc)
			goto out;
		r->events++;
	}
	for (uint32_t i = 0; i < s.n; i++)
		advance(&s.be[i], t);
	finish(&s, t);
out:
	sim_free(&s);
	return rc;
}
