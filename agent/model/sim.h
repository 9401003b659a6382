/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Discrete-event simulator of a load balancer in front of N queueing
 * backends, driven by the same policy code as the agent (agent/model/policy.h):
 * every window it hands the policy the qlb_obs the agent would measure and
 * routes the next window's arrivals by the weights it gets back (or per
 * arrival through qlb_policy_pick for lc and p2c).
 *
 * Backend i: c_i parallel servers of rate mu_i each, FIFO, a waiting room of
 * `queue` requests (arrivals beyond it are lost). Request sizes (mean 1) are
 * drawn with the arrivals, so every policy sees the same requests in the same
 * order (common random numbers); a request of size s takes s / mu_i.
 * Deterministic for a given seed; no global state, so runs in different
 * threads are independent.
 */
#ifndef QLB_SIM_H
#define QLB_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"

enum sim_service {
	SIM_SERVICE_EXP,	/* exponential: M/M/c */
	SIM_SERVICE_DET,	/* deterministic: M/D/c */
	SIM_SERVICE_PARETO,	/* Pareto, shape 2.2 (squared CV 2.27), mean 1 */
};

enum sim_arrivals {
	SIM_ARRIVALS_POISSON,
	SIM_ARRIVALS_UNIFORM,	/* inter-arrival times uniform on [0, 2/rate] (the DLBQT paper) */
	SIM_ARRIVALS_ONOFF,	/* two-state MMPP: 1.8x and 0.2x the mean rate, 5 s mean sojourn */
	SIM_ARRIVALS_TRACE,	/* Poisson at rate_series[k] (scaled) during window k, cycled */
};

struct sim_backend {
	double mu;		/* per-server service rate, requests/s */
	uint32_t servers;	/* c >= 1 */
	uint32_t weight;	/* the operator's static weight (wrr, qlb's prior) */
};

struct sim_result;

/* Called after every policy update with what the policy saw and answered
 * (est may be shared scratch; copy what you keep). */
typedef void (*sim_window_fn)(void *ctx, double t, const struct qlb_obs *obs,
			      const uint32_t *weights, const struct qlb_est *est, uint32_t n);

struct sim_config {
	enum qlb_policy_kind policy;
	const struct qlb_policy_opts *policy_opts; /* NULL: defaults, window_s, a seed from seed */
	uint32_t nbackends;
	const struct sim_backend *backends;	/* [nbackends] */
	enum sim_service service;
	uint32_t queue;			/* waiting room per backend, requests */
	enum sim_arrivals arrivals;
	const double *rate_series;	/* trace: relative rate per window (NAN = mean) */
	size_t rate_len;
	double load;			/* mean arrival rate / total capacity sum(c_i mu_i) */
	uint64_t requests;		/* arrivals to generate */
	double window_s;		/* policy window, simulated seconds */
	double warmup_frac;		/* leading share of requests left out of the metrics */
	int hide_cpu;			/* cpu_util = NAN, as for an agent without metrics */
	int occupancy;			/* qlb estimates capacity from busy_s
					 * (qlb_policy_opts.occupancy) */
	double refused_hold_s;		/* an arrival lost at a full backend makes the picks
					 * pass it over this long, as the data path does
					 * with a backend that refused (0: never) */
	int perfect_forecast;		/* every policy gets the next window's true rate as
					 * lambda_hat (else only the oracle does) */
	uint64_t seed;
	sim_window_fn on_window;	/* optional */
	void *ctx;
};

struct sim_result {
	uint64_t arrivals;	/* measured requests (after warm-up) */
	uint64_t completions;
	uint64_t drops;
	double rt_mean_s, rt_p50_s, rt_p99_s;	/* percentiles within 0.4% */
	double loss;		/* drops / arrivals */
	double throughput;	/* completions per second over the measured span */
	double jain;		/* Jain's index of the backends' utilisations */
	double beta;		/* imbalance factor of the same */
	double sim_s;		/* simulated time */
	uint64_t windows;
	uint64_t events;	/* arrivals + departures processed */
};

void sim_config_default(struct sim_config *c);
/* Runs one simulation. Returns 0, -EINVAL on a bad config, -ENOMEM. */
int sim_run(const struct sim_config *c, struct sim_result *r);

/* Utilisation fairness: Jain's index (sum u)^2 / (n sum u^2), and the
 * imbalance factor (max u - min u) / (mean u + eps). */
double sim_jain(const double *u, uint32_t n);
double sim_beta(const double *u, uint32_t n);


#endif /* QLB_SIM_H */
