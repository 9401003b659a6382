// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Scheduling policies (agent/policy.h): the baselines (rr, wrr, lc, p2c,
 * lcpu, lram), the DLBQT paper's algorithm as published, ours (qlb) and the
 * simulator's oracle. Each turns one window of per-backend observations into
 * Maglev weights proportional to the share of new flows a backend should get.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

#define WEIGHT_SCALE 10000.0	/* weight = share x this: 0.01% resolution */
#define MAX_BACKENDS (1u << 20)

/* DLBQT, Section 4.3-4.4 and Table 5 of the paper. */
#define DLBQT_HISTORY 10	  /* windows averaged */
#define DLBQT_MIN_WINDOW_S 1.0	  /* "never shorter than one second" */
#define DLBQT_MU_FLOOR 1e-3	  /* "a small lower bound on mu", per second */
#define DLBQT_PENALTY_W 1000.0	  /* W when rho >= 1 */

/*
 * qlb's smoothing. Capacity changes slowly (hardware, noisy neighbours): its
 * evidence is pooled over ~30 s. One window's mean response time at rho 0.9
 * is off by ~30% (an M/M/1 queue relaxes over seconds), but mu = X + 1/T
 * only inherits (1 - rho) of that error. The arrival rate that sizes the
 * split follows load changes within a few windows.
 */
#define QLB_MU_TAU_S 30.0
#define QLB_LAMBDA_TAU_S 2.0
#define QLB_DRAIN_S 5.0
#define QLB_BISECT_ITERS 200

static const char *const policy_names[QLB_POLICY_MAX] = {
	[QLB_POLICY_RR] = "rr",	      [QLB_POLICY_WRR] = "wrr",	    [QLB_POLICY_LC] = "lc",
	[QLB_POLICY_P2C] = "p2c",     [QLB_POLICY_LCPU] = "lcpu",   [QLB_POLICY_LRAM] = "lram",
	[QLB_POLICY_DLBQT] = "dlbqt", [QLB_POLICY_QLB] = "qlb",	    [QLB_POLICY_ORACLE] = "oracle",
};

const char *qlb_policy_name(enum qlb_policy_kind k)
{
	return (unsigned)k < QLB_POLICY_MAX ? policy_names[k] : "?";
}

int qlb_policy_parse(const char *name)
{
	for (int k = 0; name && k < QLB_POLICY_MAX; k++)
		if (!strcmp(name, policy_names[k]))
			return k;
	return -1;
}

int qlb_policy_is_per_flow(enum qlb_policy_kind k)
{
	return k == QLB_POLICY_LC || k == QLB_POLICY_P2C;
}

void qlb_policy_opts_default(struct qlb_policy_opts *o)
{
	*o = (struct qlb_policy_opts){
		.window_s = 1.0,
		.max_step = 0.25,
		.deadband = 0.01,
		.floor_share = 0.02,
		.slow_start_s = 30.0,
		/* The optimal split of a 3:1 pair at 90% load runs the fast
		 * backend at 0.915: a lower target would cost latency there. */
		.rho_target = 0.95,
		.seed = 1,
	};
}

/* ------------------------------------------------------------ helpers */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void qlb_rng_seed(struct qlb_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

double qlb_erlang_c(uint32_t c, double lambda, double mu_per_server)
{
	double a, b = 1.0;

	if (!c || !(mu_per_server > 0) || !(lambda >= 0) || !isfinite(lambda) ||
	    !isfinite(mu_per_server))
		return NAN;
	a = lambda / mu_per_server;
	if (a >= c)
		return 1.0; /* unstable: every arrival waits */
	/* Erlang B by its recursion, which stays in [0, 1] for any c, unlike
	 * the textbook sum of a^k / k!. */
	for (uint32_t k = 1; k <= c; k++)
		b = a * b / (k + a * b);
	return c * b / (c - a * (1.0 - b));
}

double qlb_mmc_time_in_system(uint32_t c, double lambda, double mu_per_server)
{
	double pw = qlb_erlang_c(c, lambda, mu_per_server);

	if (isnan(pw))
		return NAN;
	if (lambda >= c * mu_per_server)
		return INFINITY;
	return 1.0 / mu_per_server + pw / (c * mu_per_server - lambda);
}

/* DLBQT Eq. 8 with the paper's penalty. */
static double paper_w(double rho, double mu)
{
	if (isnan(rho) || !(mu > 0))
		return NAN;
	return rho < 1.0 ? rho / (mu * (1.0 - rho)) : DLBQT_PENALTY_W;
}

/* Per-server rate at which an M/M/c queue fed at lambda has mean time in
 * system t: the inverse of qlb_mmc_time_in_system, which falls from
 * infinity (mu -> lambda/c) to 0 (mu -> infinity). */
static double mmc_invert_mu(uint32_t c, double lambda, double t)
{
	double lo = lambda / c, hi = lo + 1.0 / t;

	if (c == 1)
		return lambda + 1.0 / t;
	while (qlb_mmc_time_in_system(c, lambda, hi) > t)
		hi *= 2.0;
	for (int i = 0; i < QLB_BISECT_ITERS && hi - lo > 1e-12 * hi; i++) {
		double mid = 0.5 * (lo + hi);

		if (qlb_mmc_time_in_system(c, lambda, mid) > t)
			lo = mid;
		else
			hi = mid;
	}
	return 0.5 * (lo + hi);
}

int qlb_sqrt_split(const double *mu, uint32_t n, double lambda, double *share)
{
	double total = 0, sum_mu, sum_sqrt, theta;
	int dropped;

	for (uint32_t i = 0; i < n; i++) {
		share[i] = mu[i] > 0 && isfinite(mu[i]) ? 1.0 : 0.0; /* 1 = kept */
		total += share[i] > 0 ? mu[i] : 0;
	}
	if (!(total > 0))
		return -EINVAL;
	if (!(lambda < total)) { /* overload (or NAN): equalise utilisation */
		for (uint32_t i = 0; i < n; i++)
			share[i] = share[i] > 0 ? mu[i] / total : 0;
		return 0;
	}
	/* At lambda -> 0 the fastest takes everything; keep the limit finite. */
	if (!(lambda > 1e-9 * total))
		lambda = 1e-9 * total;
	do {
		sum_mu = sum_sqrt = 0;
		for (uint32_t i = 0; i < n; i++)
			if (share[i] > 0) {
				sum_mu += mu[i];
				sum_sqrt += sqrt(mu[i]);
			}
		theta = (sum_mu - lambda) / sum_sqrt;
		/* Dropping a server raises theta, so all those below it can go
		 * at once: none of them would come back. */
		dropped = 0;
		for (uint32_t i = 0; i < n; i++)
			if (share[i] > 0 && sqrt(mu[i]) <= theta) {
				share[i] = 0;
				dropped = 1;
			}
	} while (dropped);
	for (uint32_t i = 0; i < n; i++)
		share[i] = share[i] > 0 ? (mu[i] - theta * sqrt(mu[i])) / lambda : 0;
	return 0;
}

/* ------------------------------------------------------------- state */

struct dlbqt_backend {
	uint64_t acc_arrivals, acc_completions; /* the window being accumulated */
	double acc_dt;
	uint64_t arrivals[DLBQT_HISTORY], completions[DLBQT_HISTORY];
	double dt[DLBQT_HISTORY];
	uint32_t len, pos;
};

struct qlb_backend {
	double lambda;		     /* EWMA arrival rate (QLB_LAMBDA_TAU_S), NAN before any */
	double lambda_last;	     /* arrival rate of the last window alone */
	double util_done, util_busy; /* decayed completions and busy server-seconds */
	double rt_n, rt_sum, rt_x;   /* decayed samples, sums of T and throughput per sample */
	double mu;		     /* capacity estimate (all servers), NAN = unknown */
	double age_s;		     /* since added, for slow start */
};

struct qlb_policy {
	enum qlb_policy_kind kind;
	uint32_t n;
	struct qlb_policy_opts o;
	struct qlb_rng rng;
	struct dlbqt_backend *dl;	/* dlbqt */
	struct qlb_backend *q;		/* qlb */
	double *share;			/* the shares behind the last weights */
	double *plan, *lo, *hi, *mu, *floor; /* qlb's scratch, [n] each */
	uint32_t *idx;			/* qlb's scratch, [n] */
};

int qlb_policy_create(enum qlb_policy_kind kind, uint32_t nbackends,
		      const struct qlb_policy_opts *opts, struct qlb_policy **out)
{
	struct qlb_policy *p;
	struct qlb_policy_opts o;

	if (opts)
		o = *opts;
	else
		qlb_policy_opts_default(&o);
	if (!out || (unsigned)kind >= QLB_POLICY_MAX || !nbackends || nbackends > MAX_BACKENDS ||
	    !(o.window_s > 0) || !(o.max_step > 0) || !(o.deadband >= 0 && o.deadband < 1) ||
	    !(o.floor_share >= 0 && o.floor_share <= 0.5) || !(o.slow_start_s >= 0) ||
	    !(o.rho_target > 0 && o.rho_target <= 1))
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->kind = kind;
	p->n = nbackends;
	p->o = o;
	qlb_rng_seed(&p->rng, o.seed);
	p->share = calloc(6 * (size_t)nbackends, sizeof(double));
	if (kind == QLB_POLICY_DLBQT)
		p->dl = calloc(nbackends, sizeof(*p->dl));
	if (kind == QLB_POLICY_QLB) {
		p->q = calloc(nbackends, sizeof(*p->q));
		p->idx = calloc(nbackends, sizeof(*p->idx));
	}
	if (!p->share || (kind == QLB_POLICY_DLBQT && !p->dl) ||
	    (kind == QLB_POLICY_QLB && (!p->q || !p->idx))) {
		qlb_policy_destroy(p);
		return -ENOMEM;
	}
	p->plan = p->share + nbackends;
	p->lo = p->plan + nbackends;
	p->hi = p->lo + nbackends;
	p->mu = p->hi + nbackends;
	p->floor = p->mu + nbackends;
	for (uint32_t i = 0; i < nbackends; i++)
		qlb_policy_reset_backend(p, i);
	*out = p;
	return 0;
}

void qlb_policy_destroy(struct qlb_policy *p)
{
	if (!p)
		return;
	free(p->dl);
	free(p->q);
	free(p->idx);
	free(p->share);
	free(p);
}

void qlb_policy_reset_backend(struct qlb_policy *p, uint32_t i)
{
	if (!p || i >= p->n)
		return;
	p->share[i] = 0;
	if (p->dl)
		memset(&p->dl[i], 0, sizeof(p->dl[i]));
	if (p->q)
		p->q[i] = (struct qlb_backend){ .lambda = NAN, .mu = NAN };
}

/* ------------------------------------------------------------ outputs */

static double rate(uint64_t count, double dt)
{
	return dt > 0 ? (double)count / dt : NAN;
}

/* Fills one estimate from a policy's view: mu is the whole backend's rate. */
static void est_fill(struct qlb_est *e, double lambda, double mu, uint32_t servers, double share)
{
	uint32_t c = servers ? servers : 1;

	e->lambda = lambda;
	e->mu = mu;
	e->rho = mu > 0 ? lambda / mu : NAN;
	e->w_paper = paper_w(e->rho, mu);
	e->t_system = mu > 0 ? qlb_mmc_time_in_system(c, lambda, mu / c) : NAN;
	e->share = share;
}

static void shares_to_weights(const double *share, uint32_t n, uint32_t *weights)
{
	for (uint32_t i = 0; i < n; i++) {
		double w = round(share[i] * WEIGHT_SCALE);

		weights[i] = share[i] > 0 ? (w < 1 ? 1 : w > 65535 ? 65535 : (uint32_t)w) : 0;
	}
}

/* Equal shares over the healthy backends. */
static void equal_shares(const struct qlb_obs *obs, uint32_t n, double *share)
{
	uint32_t live = 0;

	for (uint32_t i = 0; i < n; i++)
		live += obs[i].healthy != 0;
	for (uint32_t i = 0; i < n; i++)
		share[i] = obs[i].healthy ? 1.0 / live : 0;
}

/* Everything to one backend (the paper's LCPU, LRAM and DLBQT send every
 * request of a decision period to their single choice). */
static void winner_takes_all(double *share, uint32_t n, int winner)
{
	for (uint32_t i = 0; i < n; i++)
		share[i] = (int)i == winner ? 1.0 : 0.0;
}

/* ----------------------------------------------------------- policies */

static void update_static(struct qlb_policy *p, const struct qlb_obs *obs, uint32_t n)
{
	double total = 0;

	if (p->kind == QLB_POLICY_RR) {
		equal_shares(obs, n, p->share);
		return;
	}
	for (uint32_t i = 0; i < n; i++)
		total += obs[i].healthy ? obs[i].config_weight : 0;
	/* every configured weight 0: the operator wants no traffic */
	for (uint32_t i = 0; i < n; i++)
		p->share[i] = obs[i].healthy && total > 0 ? obs[i].config_weight / total : 0;
}

/* lcpu / lram: the least utilised healthy backend, ties to the first; rr
 * while any healthy backend's utilisation is unknown. */
static void update_least_util(struct qlb_policy *p, const struct qlb_obs *obs, uint32_t n)
{
	int best = -1;
	double best_u = INFINITY;

	for (uint32_t i = 0; i < n; i++) {
		double u = p->kind == QLB_POLICY_LCPU ? obs[i].cpu_util : obs[i].mem_util;

		if (!obs[i].healthy)
			continue;
		if (isnan(u)) {
			equal_shares(obs, n, p->share);
			return;
		}
		if (u < best_u) {
			best_u = u;
			best = (int)i;
		}
	}
	winner_takes_all(p->share, n, best);
}

/* Per-flow policies: the weights only say who may be picked. The share
 * reported is what the data path actually gave each backend. */
static void update_per_flow(struct qlb_policy *p, const struct qlb_obs *obs, uint32_t n,
			    uint32_t *weights, struct qlb_est *est)
{
	uint64_t total = 0;

	for (uint32_t i = 0; i < n; i++)
		total += obs[i].arrivals;
	for (uint32_t i = 0; i < n; i++) {
		weights[i] = obs[i].healthy ? 1 : 0;
		p->share[i] = total ? (double)obs[i].arrivals / (double)total : 0;
	}
	if (est)
		for (uint32_t i = 0; i < n; i++)
			est_fill(&est[i], rate(obs[i].arrivals, obs[i].dt_s), NAN, obs[i].servers,
				 p->share[i]);
}

/*
 * DLBQT as published (Sections 4.2-4.4, Algorithm 1). Kept flaws:
 *  - mu is completions per second, i.e. throughput: for any stable backend
 *    it equals lambda, so rho ~ 1 and W is noise or the 1000 penalty;
 *  - the single least-W backend takes every new flow of the window;
 *  - ties, including "everyone saturated", go to the first backend;
 *  - W of a backend just short of saturation (rho -> 1) exceeds the 1000
 *    penalty, so a saturated backend is preferred to it.
 */
static void update_dlbqt(struct qlb_policy *p, const struct qlb_obs *obs, uint32_t n,
			 struct qlb_est *est)
{
	int best = -1;
	double best_w = INFINITY;

	for (uint32_t i = 0; i < n; i++) {
		struct dlbqt_backend *d = &p->dl[i];
		uint64_t arr = 0, done = 0;
		double dt = 0, lambda, mu, rho, w;

		d->acc_arrivals += obs[i].arrivals;
		d->acc_completions += obs[i].completions;
		d->acc_dt += obs[i].dt_s;
		if (d->acc_dt >= DLBQT_MIN_WINDOW_S - 1e-9) {
			d->arrivals[d->pos] = d->acc_arrivals;
			d->completions[d->pos] = d->acc_completions;
			d->dt[d->pos] = d->acc_dt;
			d->pos = (d->pos + 1) % DLBQT_HISTORY;
			if (d->len < DLBQT_HISTORY)
				d->len++;
			d->acc_arrivals = d->acc_completions = 0;
			d->acc_dt = 0;
		}
		for (uint32_t k = 0; k < d->len; k++) {
			arr += d->arrivals[k];
			done += d->completions[k];
			dt += d->dt[k];
		}
		/* average count / average window length = sum / sum */
		lambda = dt > 0 ? (double)arr / dt : 0;
		mu = dt > 0 ? (double)done / dt : 0;
		if (mu < DLBQT_MU_FLOOR)
			mu = DLBQT_MU_FLOOR;
		rho = lambda / mu;
		w = paper_w(rho, mu);
		if (obs[i].healthy && w < best_w) {
			best_w = w;
			best = (int)i;
		}
		if (est) {
			est_fill(&est[i], lambda, mu, obs[i].servers, 0);
			est[i].w_paper = w;
		}
	}
	winner_takes_all(p->share, n, best);
	if (est)
		for (uint32_t i = 0; i < n; i++)
			est[i].share = p->share[i];
}

/* Oracle: the square-root split with the true rates and the true load. */
static void update_oracle(struct qlb_policy *p, const struct qlb_obs *obs, uint32_t n,
			  double lambda_hat, struct qlb_est *est)
{
	double total = 0;

	for (uint32_t i = 0; i < n; i++) {
		p->plan[i] = obs[i].healthy ? obs[i].true_mu * (obs[i].servers ? obs[i].servers : 1)
					    : 0;
		total += rate(obs[i].arrivals, obs[i].dt_s);
	}
	if (isfinite(lambda_hat) && lambda_hat >= 0)
		total = lambda_hat;
	if (qlb_sqrt_split(p->plan, n, total, p->share))
		memset(p->share, 0, n * sizeof(double));
	if (est)
		for (uint32_t i = 0; i < n; i++)
			est_fill(&est[i], rate(obs[i].arrivals, obs[i].dt_s), p->plan[i],
				 obs[i].servers, p->share[i]);
}

/* ---------------------------------------------------------------- qlb */

/*
 * Capacity estimate of one backend from one window, folded into decayed
 * sums so that a window weighs by the evidence it carries and an idle
 * window (no completions) leaves the estimate where it was.
 *
 *  - With a utilisation reading (cpu_util), the utilisation law: completions
 *    per busy server-second is the per-server service rate, whatever the
 *    service-time distribution.
 *  - Without one, the M/M/c model inverted at the measured throughput X and
 *    mean response time T: mu such that T_mmc(X, mu) = T (M/M/1:
 *    mu = X + 1/T). At X -> 0 it is c / T, so an idle fast backend and an
 *    idle slow one still differ. In steady state X = lambda; during an
 *    overload X is the service rate itself, where the arrival rate would
 *    have the model believe the backend keeps up. X and T are averaged per
 *    response-time sample so that a mean T meets the load it was measured
 *    under: inverting each window and averaging the results instead is
 *    biased by E[1/T] > 1/E[T] (+10% on M/M/1).
 *
 * Worst error of the final estimate over 5 seeds, one backend at 100/s per
 * server, 300k requests, rho 0.3..0.9 (qlb sim runs, see tests/unit/
 * test_policy.c for the asserted version):
 *
 *                         exp c=1  exp c=4  det c=1  det c=4  pareto c=1  c=4
 *   utilisation law         2.1%     1.2%     0.1%     0.0%      2.1%    1.6%
 *   M/M/c inversion         3.4%     2.0%     18%      8.1%      8.2%    3.5%
 *   (per-window inversion    11%      4.4%     21%      9.2%       17%    6.2%)
 *
 * The inversion is exact only for exponential service (deterministic
 * service queues less than M/M/1 says, so mu comes out high), hence the
 * utilisation law whenever there is a utilisation reading.
 *
 * Throughput (DLBQT's mu) is not capacity: a stable backend completes what
 * it receives, so it only ever says rho ~ 1 (1.00 +- 0.06 in the same runs).
 */
/* The decays of a window of dt, computed once for all the backends that
 * share it (two exp() a backend were a tenth of a window's update). */
struct qlb_decay {
	double dt, mu, lambda_gain;
};

static void decay_for(struct qlb_decay *d, double dt)
{
	if (d->dt == dt)
		return;
	d->dt = dt;
	d->mu = exp(-dt / QLB_MU_TAU_S);
	d->lambda_gain = 1 - exp(-dt / QLB_LAMBDA_TAU_S);
}

/*
 * The response time the M/M/c inversion below is fed. The data plane
 * measures two: request to first response byte, and a closed flow's whole
 * duration. When flows carry one response each (HTTP with a connection per
 * request, most L4 traffic through a balancer), the duration is the time in
 * system, transfer included; the first byte leaves out the transfer, which
 * for large objects is most of the work (on 1 KB - 6.8 MB files it put mu
 * 5-10x too high). Keep-alive flows carry many responses and last for
 * their idle time too, so those fall back to the first byte.
 */
#define QLB_RESPONSES_PER_FLOW_MAX 1.5

static int response_time_of(const struct qlb_obs *ob, uint64_t *samples, double *mean_s)
{
	if (ob->dur_samples && isfinite(ob->dur_mean_s) && ob->dur_mean_s > 0 &&
	    (double)ob->rt_samples <= QLB_RESPONSES_PER_FLOW_MAX * (double)ob->dur_samples) {
		*samples = ob->dur_samples;
		*mean_s = ob->dur_mean_s;
		return 1;
	}
	if (ob->rt_samples && isfinite(ob->rt_mean_s) && ob->rt_mean_s > 0) {
		*samples = ob->rt_samples;
		*mean_s = ob->rt_mean_s;
		return 1;
	}
	return 0;
}

static void qlb_estimate(struct qlb_backend *b, const struct qlb_obs *ob, struct qlb_decay *dk)
{
	uint32_t c = ob->servers ? ob->servers : 1;
	double dt = ob->dt_s, decay, lambda = rate(ob->arrivals, dt), rt_mean_s;
	uint64_t rt_samples;

	decay_for(dk, dt);
	decay = dk->mu;
	b->age_s += dt;
	b->lambda_last = lambda;
	b->lambda = isnan(b->lambda) ? lambda
				     : b->lambda + dk->lambda_gain * (lambda - b->lambda);
	b->util_done *= decay;
	b->util_busy *= decay;
	b->rt_n *= decay;
	b->rt_sum *= decay;
	b->rt_x *= decay;
	if (isfinite(ob->cpu_util) && ob->cpu_util > 0 && ob->completions) {
		b->util_done += (double)ob->completions;
		b->util_busy += ob->cpu_util * c * dt;
	}
	if (response_time_of(ob, &rt_samples, &rt_mean_s)) {
		double k = (double)rt_samples;

		b->rt_n += k;
		b->rt_sum += k * rt_mean_s;
		b->rt_x += k * rate(ob->completions, dt);
	}
	if (b->util_busy > 0)
		b->mu = c * b->util_done / b->util_busy;
	else if (b->rt_n > 0)
		b->mu = c * mmc_invert_mu(c, b->rt_x / b->rt_n, b->rt_sum / b->rt_n);
}

/* fmin(fmax(x, lo), hi), inline: the bisection below calls it ~50 times a
 * backend a window, and libm's fmax and fmin are calls. With bounds that
 * are numbers, two branch-free compares (maxsd, minsd) give the same for
 * any x, NaN included; NaN bounds lose to a number, as in libm. */
static inline double clamp(double x, double lo, double hi, int nan_bounds)
{
	if (nan_bounds) {
		x = x > lo || isnan(lo) ? x : lo;
		return x < hi || isnan(hi) ? x : hi;
	}
	x = x > lo ? x : lo;
	return x < hi ? x : hi;
}

/* Euclidean projection of target[] onto {lo <= s <= hi, sum s = 1}: the
 * shares closest to the plan that respect the floor and the step limits.
 * Needs sum(lo) <= 1 <= sum(hi); lo = hi = 0 keeps an entry out (idx:
 * room for n indices, the entries that are in). */
static void project_shares(const double *target, const double *lo, const double *hi,
			   uint32_t n, double *out, uint32_t *idx)
{
	double a = -2.0, b = 3.0, sum = 0;
	uint32_t i, k, m = 0;
	int nan_bounds = 0;

	/* An entry kept out adds 0 to every sum: leave it out of the loop. */
	for (i = 0; i < n; i++) {
		if (lo[i] != 0 || hi[i] != 0)
			idx[m++] = i;
		nan_bounds |= isnan(lo[i]) || isnan(hi[i]);
	}
	for (int it = 0; it < QLB_BISECT_ITERS && b - a > 1e-15; it++) {
		double nu = 0.5 * (a + b), s = 0;

		for (k = 0; k < m; k++) {
			i = idx[k];
			s += clamp(target[i] + nu, lo[i], hi[i], nan_bounds);
		}
		if (s > 1)
			b = nu;
		else
			a = nu;
	}
	for (i = 0; i < n; i++) {
		out[i] = clamp(target[i] + 0.5 * (a + b), lo[i], hi[i], nan_bounds);
		sum += out[i];
	}
	for (i = 0; i < n; i++)
		out[i] /= sum;
}

/* Scales the healthy entries of x to sum to 1; all zero -> equal. */
static void normalise(double *x, const struct qlb_obs *obs, uint32_t n)
{
	double sum = 0;

	for (uint32_t i = 0; i < n; i++)
		sum += obs[i].healthy ? x[i] : 0;
	for (uint32_t i = 0; i < n; i++) {
		if (!obs[i].healthy)
			x[i] = 0;
		else if (!(sum > 0))
			x[i] = 1.0;
	}
	if (!(sum > 0))
		for (uint32_t i = 0; i < n; i++)
			sum += x[i];
	for (uint32_t i = 0; i < n; i++)
		x[i] /= sum;
}

/* The split qlb aims for: square-root assignment on the estimates (mu[],
 * healthy ones > 0), capped at rho_target, ramped for slow start. Fills
 * p->plan, summing to 1. */
static void qlb_plan(struct qlb_policy *p, const struct qlb_obs *obs, uint32_t n,
		     const double *mu, double load)
{
	double total_mu = 0, cap, excess = 0, room = 0;
	int measured = 0;

	for (uint32_t i = 0; i < n; i++) {
		total_mu += mu[i];
		measured |= obs[i].healthy && p->q[i].mu > 0;
	}
	if (!measured) {
		/* Nothing measured: the operator's weights (equal if none). */
		for (uint32_t i = 0; i < n; i++)
			p->plan[i] = obs[i].healthy ? obs[i].config_weight : 0;
	} else {
		qlb_sqrt_split(mu, n, load, p->plan);
		/* Near saturation the M/M/1 curve is steep and an estimate a few
		 * percent high means an unstable queue: keep each backend's
		 * planned rho under rho_target (or the overall load, if higher)
		 * and move the excess to those with room, in proportion to it. */
		cap = fmax(p->o.rho_target, load / total_mu);
		for (uint32_t i = 0; i < n && load > 0; i++) {
			double want = p->plan[i] * load, lim = cap * mu[i];

			p->hi[i] = fmax(lim - want, 0); /* room left */
			if (want > lim) {
				excess += want - lim;
				p->plan[i] = lim / load;
			}
			room += p->hi[i];
		}
		if (excess > 0 && room > 0)
			for (uint32_t i = 0; i < n; i++)
				p->plan[i] += excess * p->hi[i] / room / load;
	}
	for (uint32_t i = 0; i < n; i++)
		if (p->o.slow_start_s > 0 && p->q[i].age_s < p->o.slow_start_s)
			p->plan[i] *= p->q[i].age_s / p->o.slow_start_s;
	normalise(p->plan, obs, n);
}

/*
 * Moves the shares from where they are towards p->plan, within bounds:
 *  - a floor, so that every live backend keeps being measured; it never
 *    exceeds half a fair share (so it can hold for all at once) nor plans
 *    more than QLB_FLOOR_MAX_RHO of a known backend's capacity (a 2% floor
 *    of a large pool would swamp one slow backend);
 *  - at most max_step relative change a window, except that once a backend
 *    is above rho_target damping yields: it may shed down to its floor, and
 *    the others may take up to their planned share, at once;
 *  - a deadband on the effect of the change the plan asks for: the larger
 *    of the share and the utilisation (share x load / mu) it would move, so
 *    that a small share that matters to a slow backend is not ignored.
 * A newcomer (or a backend back from down) starts at its floor.
 */
#define QLB_FLOOR_MAX_RHO 0.2

/* Above rho_target, on the smoothed or the last window's arrival rate. */
static int saturated(const struct qlb_backend *b, double rho_target)
{
	return b->mu > 0 && fmax(b->lambda, b->lambda_last) > rho_target * b->mu;
}

static void qlb_damp(struct qlb_policy *p, const struct qlb_obs *obs, uint32_t n,
		     const double *mu, double load, uint32_t live)
{
	double base_floor = fmin(p->o.floor_share, 0.5 / live), step = p->o.max_step;
	double old_sum = 0, new_sum = 0, sum_lo = 0, sum_hi = 0, moved = 0, *floor = p->floor;
	int membership_changed = 0, emergency = 0;

	for (uint32_t i = 0; i < n; i++) {
		floor[i] = base_floor;
		if (p->q[i].mu > 0 && load > 0)
			floor[i] = fmin(floor[i], QLB_FLOOR_MAX_RHO * p->q[i].mu / load);
		if (!obs[i].healthy) {
			membership_changed |= p->share[i] > 0;
			p->share[i] = 0;
		} else if (!(p->share[i] > 0)) {
			p->share[i] = -floor[i]; /* marks a newcomer */
			new_sum += floor[i];
			membership_changed = 1;
		} else {
			old_sum += p->share[i];
		}
	}
	/* The newcomers take exactly their floor, the others make room. */
	for (uint32_t i = 0; i < n; i++) {
		if (p->share[i] < 0)
			p->share[i] = old_sum > 0 ? -p->share[i] : 1.0 / live;
		else if (p->share[i] > 0)
			p->share[i] *= (1 - new_sum) / old_sum;
	}
	for (uint32_t i = 0; i < n; i++)
		emergency |= obs[i].healthy && saturated(&p->q[i], p->o.rho_target);
	for (uint32_t i = 0; i < n; i++) {
		double prev = p->share[i];
		int sat = saturated(&p->q[i], p->o.rho_target);

		p->lo[i] = fmax(floor[i], sat ? 0 : prev * (1 - step));
		p->hi[i] = fmax(prev * (1 + step), p->lo[i]);
		if (emergency && !sat)
			p->hi[i] = fmax(p->hi[i], p->plan[i]);
		if (!obs[i].healthy)
			p->lo[i] = p->hi[i] = 0;
		sum_lo += p->lo[i];
		sum_hi += p->hi[i];
	}
	/* Renormalising after a membership change, or shedding, can leave the
	 * bounds infeasible; then only the floor (resp. nothing) binds. */
	for (uint32_t i = 0; i < n && sum_lo > 1; i++)
		p->lo[i] = obs[i].healthy ? floor[i] : 0;
	for (uint32_t i = 0; i < n && sum_hi < 1; i++)
		p->hi[i] = obs[i].healthy ? 1 : 0;
	/* The deadband looks at where the plan wants to go, not at the damped
	 * step: a step limit below the deadband must not freeze the shares. */
	for (uint32_t i = 0; i < n; i++) {
		double d = fabs(p->plan[i] - p->share[i]);

		moved = fmax(moved, mu[i] > 0 && load > mu[i] ? d * load / mu[i] : d);
	}
	if (!membership_changed && moved < p->o.deadband)
		return;
	project_shares(p->plan, p->lo, p->hi, n, p->share, p->idx);
}

/*
 * The rate at which a backend can take new flows over the next few windows:
 * its capacity, less what working off a backlog within QLB_DRAIN_S needs.
 * The backlog is the excess of the flows in it over Little's law at its
 * usual arrival rate and response time, so that long-lived connections
 * that are always there do not count; a queue left by a burst, a slow
 * start or a capacity drop does, and drains in seconds instead of at the
 * small margin the steady-state split leaves it.
 */
static double planning_rate(const struct qlb_backend *b, const struct qlb_obs *ob)
{
	double excess;

	if (!(b->mu > 0) || !(b->rt_n > 0) || isnan(b->lambda) || !isfinite(ob->active))
		return b->mu;
	excess = ob->active - b->lambda * (b->rt_sum / b->rt_n);
	return excess > 0 ? fmax(b->mu - excess / QLB_DRAIN_S, 0) : b->mu;
}

static void update_qlb(struct qlb_policy *p, const struct qlb_obs *obs, uint32_t n,
		       double lambda_hat, struct qlb_est *est)
{
	double *mu = p->mu, known = 0, smooth = 0, last = 0, load;
	struct qlb_decay dk = { .dt = NAN };
	uint32_t live = 0, nknown = 0;

	for (uint32_t i = 0; i < n; i++) {
		qlb_estimate(&p->q[i], &obs[i], &dk);
		live += obs[i].healthy != 0;
		smooth += p->q[i].lambda;
		last += p->q[i].lambda_last;
		if (obs[i].healthy && p->q[i].mu > 0) {
			known += p->q[i].mu;
			nknown++;
		}
	}
	/* Planning for too little load piles it on the fast backends, which
	 * saturate; for too much, only spreads it a little wider: follow a
	 * rise at once and a fall smoothly. A forecast overrides both. */
	load = fmax(smooth, last);
	if (isfinite(lambda_hat) && lambda_hat >= 0)
		load = lambda_hat;
	if (!live) {
		memset(p->share, 0, n * sizeof(double));
	} else {
		double total = 0;

		for (uint32_t i = 0; i < n; i++) {
			mu[i] = obs[i].healthy ? planning_rate(&p->q[i], &obs[i]) : 0;
			total += mu[i] > 0 ? mu[i] : 0;
		}
		/* A backend not measured yet is assumed average until it is; if
		 * every one is busy with a backlog, plan on capacity alone. */
		for (uint32_t i = 0; i < n; i++)
			if (obs[i].healthy && (!(p->q[i].mu > 0) || !(total > 0)))
				mu[i] = p->q[i].mu > 0 ? p->q[i].mu : nknown ? known / nknown : 0;
		qlb_plan(p, obs, n, mu, load);
		qlb_damp(p, obs, n, mu, load, live);
	}
	if (est)
		for (uint32_t i = 0; i < n; i++)
			est_fill(&est[i], isnan(p->q[i].lambda) ? 0 : p->q[i].lambda, p->q[i].mu,
				 obs[i].servers, p->share[i]);
}

int qlb_policy_update(struct qlb_policy *p, const struct qlb_obs *obs, uint32_t n,
		      double lambda_hat, uint32_t *weights, struct qlb_est *est)
{
	if (!p || !obs || !weights || n != p->n)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++)
		if (!(obs[i].dt_s > 0) || !isfinite(obs[i].dt_s))
			return -EINVAL;

	switch (p->kind) {
	case QLB_POLICY_LC:
	case QLB_POLICY_P2C:
		update_per_flow(p, obs, n, weights, est);
		return 0;
	case QLB_POLICY_RR:
	case QLB_POLICY_WRR:
		update_static(p, obs, n);
		break;
	case QLB_POLICY_LCPU:
	case QLB_POLICY_LRAM:
		update_least_util(p, obs, n);
		break;
	case QLB_POLICY_DLBQT:
		update_dlbqt(p, obs, n, est);
		est = NULL;
		break;
	case QLB_POLICY_QLB:
		update_qlb(p, obs, n, lambda_hat, est);
		est = NULL;
		break;
	case QLB_POLICY_ORACLE:
		update_oracle(p, obs, n, lambda_hat, est);
		est = NULL;
		break;
	default:
		return -EINVAL;
	}
	shares_to_weights(p->share, n, weights);
	/* Policies without a queueing model estimate no capacity. */
	if (est)
		for (uint32_t i = 0; i < n; i++)
			est_fill(&est[i], rate(obs[i].arrivals, obs[i].dt_s), NAN, obs[i].servers,
				 p->share[i]);
	return 0;
}

/* ------------------------------------------------------------ per flow */

/* The r-th eligible index (0-based). */
static int nth_eligible(const uint32_t *weights, uint32_t n, uint32_t r)
{
	for (uint32_t i = 0; i < n; i++)
		if (weights[i] && !r--)
			return (int)i;
	return -1;
}

/* A uniformly random eligible index other than `not`: a few blind draws
 * (almost always enough), then an exact draw over the eligible list. */
static int random_eligible(struct qlb_policy *p, const uint32_t *weights, uint32_t n, int not)
{
	uint32_t m = 0;

	for (int tries = 0; tries < 8; tries++) {
		uint32_t i = qlb_rng_below(&p->rng, n);

		if (weights[i] && (int)i != not)
			return (int)i;
	}
	for (uint32_t i = 0; i < n; i++)
		m += weights[i] && (int)i != not;
	if (!m)
		return -1;
	m = qlb_rng_below(&p->rng, m);
	if (not >= 0 && weights[not]) {
		int k = nth_eligible(weights, n, m);

		return k >= not ? nth_eligible(weights, n, m + 1) : k;
	}
	return nth_eligible(weights, n, m);
}

double qlb_policy_pick_mu(const struct qlb_policy *p, uint32_t i)
{
	return p && p->kind == QLB_POLICY_QLB && i < p->n ? p->q[i].mu : NAN;
}

int qlb_policy_pick(struct qlb_policy *p, const double *active, const uint32_t *weights,
		    uint32_t n)
{
	int best = -1, a, b;

	if (!p || !active || !weights || !n)
		return -1;
	if (p->kind == QLB_POLICY_LC) {
		for (uint32_t i = 0; i < n; i++)
			if (weights[i] && (best < 0 || active[i] < active[best]))
				best = (int)i;
		return best;
	}
	if (p->kind == QLB_POLICY_QLB) {
		/* sed: argmin (active + 1) / mu_hat over the eligible backends,
		 * ties to the lowest index, compared without division as the data
		 * plane does. Only when every eligible backend has a finite
		 * mu_hat > 0; otherwise -1 and the caller uses the weights. */
		for (uint32_t i = 0; i < n; i++) {
			double mu = p->q[i].mu;

			if (!weights[i])
				continue;
			if (!(mu > 0) || !isfinite(mu))
				return -1;
			if (best < 0 || qlb_pick_prefers(active[best], p->q[best].mu, active[i], mu))
				best = (int)i;
		}
		return best;
	}
	if (p->kind != QLB_POLICY_P2C)
		return -1;
	a = random_eligible(p, weights, n, -1);
	if (a < 0)
		return -1;
	b = random_eligible(p, weights, n, a);
	if (b < 0)
		return a;
	return active[b] < active[a] ? b : a;
}
