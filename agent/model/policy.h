/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Scheduling policies and their estimators, shared by the agent (which
 * feeds them the data plane's counters every window) and the simulator
 * (which feeds them the same observations of simulated backends). Pure
 * computation: no BPF, no I/O, no global state.
 */
#ifndef QLB_POLICY_H
#define QLB_POLICY_H

#include <stdint.h>

#include "qlb_abi.h"	/* enum qlb_policy_kind: VIPs store it */

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
	double busy_s;		/* server-seconds with a flow open: the integral of
				 * min(open flows, servers) over the window, as the
				 * data plane's counts show it; NAN if unknown */
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
	double pick_mu;		/* the rate a per-flow pick (sed) divides by for the
				 * next window: mu, unless the policy trusts mu less */
};

struct qlb_policy_opts {
	double window_s;	/* the agent's window (dlbqt clamps to >= 1 s) */
	double max_step;	/* qlb: largest per-window weight change, relative (e.g. 0.25) */
	double deadband;	/* qlb: ignore share changes below this, absolute (e.g. 0.01) */
	double floor_share;	/* qlb: minimum share of a live backend (e.g. 0.02) */
	double slow_start_s;	/* qlb: ramp time of a new backend */
	double rho_target;	/* qlb: utilisation above which a backend is penalised */
	uint64_t seed;		/* p2c and tie-breaking */
	int occupancy;		/* qlb: capacity from busy_s where there is no
				 * cpu_util (off by default: sedq.c says why) */
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
 * Per-flow choice for lc, p2c and sedq, as the data path makes it: given the
 * active-flow counts of the eligible backends (weights[i] > 0), returns the
 * index to send a new flow to, or -1 (sedq: -1 until every eligible backend
 * has a capacity estimate; it picks least (active + 1) / mu). The simulator
 * uses it per arrival; the data plane implements the same rules in BPF.
 */
int qlb_policy_pick(struct qlb_policy *p, const double *active, const uint32_t *weights,
		    uint32_t n);

/* sedq's capacity estimate of backend i, the mu its pick divides by: NAN if
 * unknown, or for any other policy. Changes only in qlb_policy_update. */
double qlb_policy_pick_mu(const struct qlb_policy *p, uint32_t i);

#endif /* QLB_POLICY_H */
