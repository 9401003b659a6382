// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Scheduling policies (policy.h): the registry, the baselines (rr, wrr, lc,
 * p2c, lcpu, lram) and the simulator's oracle, the per-flow picks, and the
 * window update that dispatches to each. The DLBQT paper's algorithm is in
 * dlbqt.c, ours (sedq) in sedq.c. Each turns one window of per-backend
 * observations into Maglev weights proportional to the share of new flows a
 * backend should get.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "policy_impl.h"
#include "queueing.h"

#define WEIGHT_SCALE 10000.0	/* weight = share x this: 0.01% resolution */
#define MAX_BACKENDS (1u << 20)

static const char *const policy_names[QLB_POLICY_MAX] = {
	[QLB_POLICY_RR] = "rr",	      [QLB_POLICY_WRR] = "wrr",	    [QLB_POLICY_LC] = "lc",
	[QLB_POLICY_P2C] = "p2c",     [QLB_POLICY_LCPU] = "lcpu",   [QLB_POLICY_LRAM] = "lram",
	[QLB_POLICY_DLBQT] = "dlbqt", [QLB_POLICY_SEDQ] = "qlb",	    [QLB_POLICY_ORACLE] = "oracle",
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
	if (kind == QLB_POLICY_SEDQ) {
		p->q = calloc(nbackends, sizeof(*p->q));
		p->idx = calloc(nbackends, sizeof(*p->idx));
	}
	if (!p->share || (kind == QLB_POLICY_DLBQT && !p->dl) ||
	    (kind == QLB_POLICY_SEDQ && (!p->q || !p->idx))) {
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
		p->q[i] = (struct sedq_backend){ .lambda = NAN, .mu = NAN, .pick_mu = NAN,
						  .active_last = NAN };
}

/* ------------------------------------------------------------ outputs */

double qlb_pol_rate(uint64_t count, double dt)
{
	return dt > 0 ? (double)count / dt : NAN;
}

void qlb_pol_est_fill(struct qlb_est *e, double lambda, double mu, uint32_t servers, double share)
{
	uint32_t c = servers ? servers : 1;

	e->lambda = lambda;
	e->mu = mu;
	e->rho = mu > 0 ? lambda / mu : NAN;
	e->w_paper = qlb_dlbqt_w(e->rho, mu);
	e->t_system = mu > 0 ? qlb_mmc_time_in_system(c, lambda, mu / c) : NAN;
	e->share = share;
	e->pick_mu = mu;
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

void qlb_pol_winner_takes_all(double *share, uint32_t n, int winner)
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
	qlb_pol_winner_takes_all(p->share, n, best);
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
			qlb_pol_est_fill(&est[i], qlb_pol_rate(obs[i].arrivals, obs[i].dt_s), NAN, obs[i].servers,
				 p->share[i]);
}

/* Oracle: the square-root split with the true rates and the true load. */
static void update_oracle(struct qlb_policy *p, const struct qlb_obs *obs, uint32_t n,
			  double lambda_hat, struct qlb_est *est)
{
	double total = 0;

	for (uint32_t i = 0; i < n; i++) {
		p->plan[i] = obs[i].healthy ? obs[i].true_mu * (obs[i].servers ? obs[i].servers : 1)
					    : 0;
		total += qlb_pol_rate(obs[i].arrivals, obs[i].dt_s);
	}
	if (isfinite(lambda_hat) && lambda_hat >= 0)
		total = lambda_hat;
	if (qlb_sqrt_split(p->plan, n, total, p->share))
		memset(p->share, 0, n * sizeof(double));
	if (est)
		for (uint32_t i = 0; i < n; i++)
			qlb_pol_est_fill(&est[i], qlb_pol_rate(obs[i].arrivals, obs[i].dt_s), p->plan[i],
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
		qlb_dlbqt_update(p, obs, n, est);
		est = NULL;
		break;
	case QLB_POLICY_SEDQ:
		qlb_sedq_update(p, obs, n, lambda_hat, est);
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
			qlb_pol_est_fill(&est[i], qlb_pol_rate(obs[i].arrivals, obs[i].dt_s), NAN, obs[i].servers,
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
	return p && p->kind == QLB_POLICY_SEDQ && i < p->n ? p->q[i].pick_mu : NAN;
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
	if (p->kind == QLB_POLICY_SEDQ) {
		/* sed: argmin (active + 1) / mu_hat over the eligible backends,
		 * ties to the lowest index, compared without division as the data
		 * plane does. Only when every eligible backend has a finite
		 * mu_hat > 0; otherwise -1 and the caller uses the weights. */
		for (uint32_t i = 0; i < n; i++) {
			double mu = p->q[i].pick_mu;

			if (!weights[i])
				continue;
			if (!(mu > 0) || !isfinite(mu))
				return -1;
			if (best < 0 ||
			    qlb_pick_prefers(active[best], p->q[best].pick_mu, active[i], mu))
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
