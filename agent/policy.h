/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Scheduling policies and queueing estimators, shared by the agent (which
 * feeds them the data plane's counters every window) and the simulator
 * (which feeds them the same observations of simulated backends). Pure
 * computation: no BPF, no I/O, no global state.
 */
#ifndef QLB_POLICY_H
#define QLB_POLICY_H

#include <stdint.h>

enum qlb_policy_kind {
	QLB_POLICY_RR,		/* equal weights */
	QLB_POLICY_WRR,		/* configured static weights */
	QLB_POLICY_LC,		/* least connections, per new flow in the data path */
	QLB_POLICY_P2C,		/* power of two choices on active flows, per new flow */
	QLB_POLICY_LCPU,	/* least CPU utilisation (paper's LCPU) */
	QLB_POLICY_LRAM,	/* least memory utilisation (paper's LRAM) */
	QLB_POLICY_DLBQT,	/* the paper's algorithm, flaws included */
	QLB_POLICY_QLB,		/* ours */
	QLB_POLICY_ORACLE,	/* simulator only: knows the true service rates */
	QLB_POLICY_MAX,
};

const char *qlb_policy_name(enum qlb_policy_kind k);
/* Returns the kind for a name ("rr", "wrr", "lc", "p2c", "lcpu", "lram",
 * "dlbqt", "qlb", "oracle"), or -1. */
int qlb_policy_parse(const char *name);
/* 1 for policies decided per new flow in the data path (lc, p2c): their
 * weights only mark which backends are eligible. */
int qlb_policy_is_per_flow(enum qlb_policy_kind k);

/* What can be measured of one backend over one window. The agent fills it
 * from the per-CPU counters (deltas over the window); the simulator from
 * its simulated servers. Unknown values are NAN. */
struct qlb_obs {
	double dt_s;		/* window length, seconds */
	uint64_t arrivals;	/* new flows in the window */
	uint64_t completions;	/* flows that finished in the window */
	double active;		/* flows in the system at the end of the window (L) */
	uint64_t rt_samples;	/* response-time samples in the window */
	double rt_mean_s;	/* mean response time of those samples */
	double rt_p99_s;
	uint64_t dur_samples;	/* flows that closed in the window with a duration */
	double dur_mean_s;	/* their mean duration, first packet to FIN/RST */
	double cpu_util;	/* 0..1 from the metrics source, NAN if none */
	double mem_util;	/* 0..1 from the metrics source, NAN if none */
	uint32_t servers;	/* c: parallel servers the backend declares (>= 1) */
	uint32_t config_weight;	/* the operator's static weight */
	uint32_t healthy;	/* 0: down (health checks) - gets weight 0 */
	uint32_t pad;
	double true_mu;		/* simulator only (oracle): per-server service rate */
};

/* What the policy derived for one backend in the last window. */
struct qlb_est {
	double lambda;		/* arrivals per second (policy's own smoothing) */
	double mu;		/* estimated service rate per backend (all c servers), per second */
	double rho;		/* lambda / mu */
	double w_paper;		/* DLBQT Eq. 8: rho / (mu (1 - rho)), 1000 if rho >= 1 */
	double t_system;	/* M/M/1 or M/M/c expected time in system, seconds */
	double share;		/* fraction of new flows the weights give it */
};

struct qlb_policy_opts {
	double window_s;	/* the agent's window (dlbqt clamps to >= 1 s) */
	double max_step;	/* qlb: largest per-window weight change, relative (e.g. 0.25) */
	double deadband;	/* qlb: ignore share changes below this, absolute (e.g. 0.01) */
	double floor_share;	/* qlb: minimum share of a live backend (e.g. 0.02) */
	double slow_start_s;	/* qlb: ramp time of a new backend */
	double rho_target;	/* qlb: utilisation above which a backend is penalised */
	uint64_t seed;		/* p2c and tie-breaking */
};

void qlb_policy_opts_default(struct qlb_policy_opts *o);

struct qlb_policy;

int qlb_policy_create(enum qlb_policy_kind kind, uint32_t nbackends,
		      const struct qlb_policy_opts *opts, struct qlb_policy **out);
void qlb_policy_destroy(struct qlb_policy *p);
/* Backend i was added or replaced (slow start restarts, history resets). */
void qlb_policy_reset_backend(struct qlb_policy *p, uint32_t i);

/*
 * One window: obs[0..n) in, weights[0..n) out (0..65535; all zero means no
 * backend is usable). lambda_hat is the forecast total arrival rate for the
 * next window (NAN when there is no forecast); policies that plan ahead use
 * it instead of the measured rate. est (may be NULL) receives the
 * estimates. Returns 0 or -errno.
 */
int qlb_policy_update(struct qlb_policy *p, const struct qlb_obs *obs, uint32_t n,
		      double lambda_hat, uint32_t *weights, struct qlb_est *est);

/*
 * Per-flow choice for lc, p2c and qlb, as the data path makes it: given the
 * active-flow counts of the eligible backends (weights[i] > 0), returns the
 * index to send a new flow to, or -1 (qlb: -1 until every eligible backend
 * has a capacity estimate; sed picks least (active + 1) / mu). The simulator
 * uses it per arrival; the data plane implements the same rules in BPF.
 */
int qlb_policy_pick(struct qlb_policy *p, const double *active, const uint32_t *weights,
		    uint32_t n);

/* qlb's capacity estimate of backend i, the mu its pick divides by: NAN if
 * unknown, or for any other policy. Changes only in qlb_policy_update. */
double qlb_policy_pick_mu(const struct qlb_policy *p, uint32_t i);

/* The per-flow rule of lc (every mu 1) and qlb: whether backend b, with
 * active_b open flows and capacity mu_b, takes a new flow before a, which
 * it does only with a strictly smaller (active + 1) / mu. Compared without
 * division, as the data plane does. */
static inline int qlb_pick_prefers(double active_a, double mu_a, double active_b, double mu_b)
{
	return (active_b + 1) * mu_a < (active_a + 1) * mu_b;
}

/* M/M/c helpers (c = 1 gives M/M/1). rho = lambda / (c mu). */
double qlb_erlang_c(uint32_t c, double lambda, double mu_per_server);
double qlb_mmc_time_in_system(uint32_t c, double lambda, double mu_per_server);

/* ---- shared by the policies, the simulator and the tests ---- */

/*
 * Square-root assignment: the split of a Poisson stream of total rate lambda
 * over independent M/M/1 servers of rates mu[0..n) that minimises the mean
 * time in system (lambda_i = mu_i - (S - lambda) sqrt(mu_i) / sum sqrt(mu_j)
 * over the servers it keeps, S their total rate; the slowest are dropped
 * while that goes negative). share[i] = lambda_i / lambda, summing to 1;
 * mu[i] <= 0 or NAN gets 0. lambda >= sum(mu) (overload) splits in
 * proportion to mu. Returns 0, or -EINVAL if no mu is positive.
 */
int qlb_sqrt_split(const double *mu, uint32_t n, double lambda, double *share);

/* xoshiro256** seeded through splitmix64: one independent, deterministic
 * stream per instance (p2c, the simulator). */
struct qlb_rng {
	uint64_t s[4];
};

void qlb_rng_seed(struct qlb_rng *r, uint64_t seed);

static inline uint64_t qlb_rng_next(struct qlb_rng *r)
{
	uint64_t *s = r->s, x = s[1] * 5, result = ((x << 7) | (x >> 57)) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = (s[3] << 45) | (s[3] >> 19);
	return result;
}

/* Uniform in [0, 1), 53 bits. */
static inline double qlb_rng_uniform(struct qlb_rng *r)
{
	return (double)(qlb_rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform in [0, n), n >= 1 (Lemire's multiply-shift; bias < n / 2^64). */
static inline uint32_t qlb_rng_below(struct qlb_rng *r, uint32_t n)
{
	return (uint32_t)(((unsigned __int128)qlb_rng_next(r) * n) >> 64);
}

#endif /* QLB_POLICY_H */
