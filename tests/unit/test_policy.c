// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The policies (agent/model/policy.h), each on fluid backends that answer as
 * an M/M/1 queue without noise: names and errors, the static and per-flow
 * rules, DLBQT as its paper has it, and sedq's estimator and control loop.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent.h"
#include "cli.h"
#include "forecast.h"
#include "policy.h"
#include "queueing.h"
#include "rng.h"
#include "sim.h"
#include "cli_capture.h"
#include "assert_near.h"
#include "../traces.h"

#define MAXN 8

static struct qlb_policy *make_policy(enum qlb_policy_kind k, uint32_t n,
				      const struct qlb_policy_opts *o)
{
	struct qlb_policy *p = NULL;

	assert_int_equal(qlb_policy_create(k, n, o, &p), 0);
	assert_non_null(p);
	return p;
}

/* What the agent would see of a backend of capacity mu (all servers, one
 * M/M/1 queue) fed at lambda for dt seconds, in steady state and without
 * noise: enough to exercise the control loops deterministically. Fed past
 * its capacity it completes mu dt and queues the rest. */
static struct qlb_obs fluid_obs(double mu, double lambda, double dt, int with_cpu)
{
	uint64_t k = (uint64_t)llround(lambda * dt), done;
	double rho;

	lambda = (double)k / dt; /* whole requests, and everything consistent with them */
	rho = lambda / mu;
	done = rho < 1 ? k : (uint64_t)llround(mu * dt);
	return (struct qlb_obs){
		.dt_s = dt,
		.arrivals = k,
		.completions = done,
		.active = rho < 1 ? rho / (1 - rho) : (lambda - mu) * dt,
		.rt_samples = done,
		.rt_mean_s = done ? (rho < 1 ? 1 / (mu - lambda) : 10.0) : NAN,
		.rt_p99_s = NAN,
		.cpu_util = with_cpu ? fmin(rho, 1) : NAN,
		.mem_util = NAN,
		.servers = 1,
		.config_weight = 1,
		.healthy = 1,
		.true_mu = mu,
	};
}

/* One window of n fluid backends at total load `load` split by the shares
 * the policy gave last time; returns the update's result. */
static int fluid_step(struct qlb_policy *p, const double *mu, uint32_t n, double load,
		      double *share, uint32_t *w, struct qlb_est *est)
{
	struct qlb_obs obs[MAXN];
	int rc;

	for (uint32_t i = 0; i < n; i++)
		obs[i] = fluid_obs(mu[i], share[i] * load, 1.0, 1);
	rc = qlb_policy_update(p, obs, n, NAN, w, est);
	for (uint32_t i = 0; i < n; i++)
		share[i] = est[i].share;
	return rc;
}

/* ------------------------------------------------------------ formulas */

static void test_names(void **state)
{
	(void)state;
	for (int k = 0; k < QLB_POLICY_MAX; k++)
		assert_int_equal(qlb_policy_parse(qlb_policy_name(k)), k);
	assert_int_equal(qlb_policy_parse("least-conn"), -1);
	assert_int_equal(qlb_policy_parse(NULL), -1);
	assert_string_equal(qlb_policy_name(QLB_POLICY_MAX), "?");
	assert_true(qlb_policy_is_per_flow(QLB_POLICY_LC));
	assert_true(qlb_policy_is_per_flow(QLB_POLICY_P2C));
	assert_false(qlb_policy_is_per_flow(QLB_POLICY_SEDQ));
	assert_false(qlb_policy_is_per_flow(QLB_POLICY_DLBQT));
}

/* ----------------------------------------------------- policy rules */

static void test_create_errors(void **state)
{
	struct qlb_policy_opts o;
	struct qlb_policy *p = NULL;
	struct qlb_obs obs[2] = { fluid_obs(1, 0.5, 1, 1), fluid_obs(1, 0.5, 1, 1) };
	uint32_t w[2];

	(void)state;
	qlb_policy_opts_default(&o);
	assert_int_equal(qlb_policy_create(QLB_POLICY_MAX, 2, &o, &p), -EINVAL);
	assert_int_equal(qlb_policy_create(QLB_POLICY_RR, 0, &o, &p), -EINVAL);
	o.floor_share = 0.7;
	assert_int_equal(qlb_policy_create(QLB_POLICY_SEDQ, 2, &o, &p), -EINVAL);
	qlb_policy_opts_default(&o);
	o.rho_target = 0;
	assert_int_equal(qlb_policy_create(QLB_POLICY_SEDQ, 2, &o, &p), -EINVAL);
	assert_null(p);
	p = make_policy(QLB_POLICY_SEDQ, 2, NULL);
	assert_int_equal(qlb_policy_update(p, obs, 1, NAN, w, NULL), -EINVAL);
	obs[1].dt_s = 0;
	assert_int_equal(qlb_policy_update(p, obs, 2, NAN, w, NULL), -EINVAL);
	qlb_policy_destroy(p);
	qlb_policy_destroy(NULL);
}

/* Every policy: a down backend gets weight 0; with none up, all are 0;
 * every weight is in 0..65535 and an estimate is filled for each. */
static void test_unhealthy_gets_zero(void **state)
{
	(void)state;
	for (int k = 0; k < QLB_POLICY_MAX; k++) {
		struct qlb_policy *p = make_policy(k, 3, NULL);
		struct qlb_obs obs[3];
		struct qlb_est est[3];
		uint32_t w[3];
		uint64_t sum = 0;

		for (int round = 0; round < 5; round++) {
			for (int i = 0; i < 3; i++)
				obs[i] = fluid_obs(100.0 * (i + 1), 30, 1, 1);
			obs[0].healthy = 0;
			obs[0].cpu_util = obs[0].mem_util = 0; /* looks idle: must still lose */
			assert_int_equal(qlb_policy_update(p, obs, 3, NAN, w, est), 0);
		}
		assert_int_equal(w[0], 0);
		for (int i = 0; i < 3; i++) {
			assert_true(w[i] <= 65535);
			assert_true(isfinite(est[i].lambda));
			sum += w[i];
		}
		if (!sum)
			fail_msg("%s gave no weight to any healthy backend", qlb_policy_name(k));
		for (int i = 0; i < 3; i++)
			obs[i].healthy = 0;
		assert_int_equal(qlb_policy_update(p, obs, 3, NAN, w, est), 0);
		assert_int_equal(w[0] + w[1] + w[2], 0);
		qlb_policy_destroy(p);
	}
}

static void test_static_policies(void **state)
{
	struct qlb_obs obs[3];
	uint32_t w[3];

	(void)state;
	for (int i = 0; i < 3; i++)
		obs[i] = fluid_obs(100, 10, 1, 1);
	obs[0].config_weight = 1, obs[1].config_weight = 3, obs[2].config_weight = 0;
	{
		struct qlb_policy *rr = make_policy(QLB_POLICY_RR, 3, NULL);

		assert_int_equal(qlb_policy_update(rr, obs, 3, NAN, w, NULL), 0);
		assert_int_equal(w[0], 3333);
		assert_int_equal(w[1], 3333);
		assert_int_equal(w[2], 3333);
		qlb_policy_destroy(rr);
	}
	{
		struct qlb_policy *wrr = make_policy(QLB_POLICY_WRR, 3, NULL);

		assert_int_equal(qlb_policy_update(wrr, obs, 3, NAN, w, NULL), 0);
		assert_int_equal(w[0], 2500);
		assert_int_equal(w[1], 7500);
		assert_int_equal(w[2], 0);
		qlb_policy_destroy(wrr);
	}
}

static void test_lcpu_lram(void **state)
{
	struct qlb_obs obs[3];
	uint32_t w[3];
	struct qlb_policy *lcpu = make_policy(QLB_POLICY_LCPU, 3, NULL);
	struct qlb_policy *lram = make_policy(QLB_POLICY_LRAM, 3, NULL);

	(void)state;
	for (int i = 0; i < 3; i++)
		obs[i] = fluid_obs(100, 10, 1, 1);
	obs[0].cpu_util = 0.5, obs[1].cpu_util = 0.2, obs[2].cpu_util = 0.2; /* tie: first */
	obs[0].mem_util = 0.1, obs[1].mem_util = 0.3, obs[2].mem_util = 0.2;
	assert_int_equal(qlb_policy_update(lcpu, obs, 3, NAN, w, NULL), 0);
	assert_true(w[0] == 0 && w[1] == 10000 && w[2] == 0);
	assert_int_equal(qlb_policy_update(lram, obs, 3, NAN, w, NULL), 0);
	assert_true(w[0] == 10000 && w[1] == 0 && w[2] == 0);
	/* unknown utilisation: round robin */
	obs[2].cpu_util = NAN;
	assert_int_equal(qlb_policy_update(lcpu, obs, 3, NAN, w, NULL), 0);
	assert_true(w[0] == 3333 && w[1] == 3333 && w[2] == 3333);
	qlb_policy_destroy(lcpu);
	qlb_policy_destroy(lram);
}

static void test_lc_p2c_pick(void **state)
{
	struct qlb_policy *lc = make_policy(QLB_POLICY_LC, 4, NULL);
	struct qlb_policy *p2c = make_policy(QLB_POLICY_P2C, 4, NULL);
	struct qlb_policy *p2c_again = make_policy(QLB_POLICY_P2C, 4, NULL);
	double active[4] = { 3, 1, 1, 0 };
	uint32_t w[4] = { 1, 1, 1, 0 };
	int count[4] = { 0 };

	(void)state;
	/* lc: the fewest active among the eligible, ties to the lowest index */
	assert_int_equal(qlb_policy_pick(lc, active, w, 4), 1);
	w[1] = 0;
	assert_int_equal(qlb_policy_pick(lc, active, w, 4), 2);
	w[0] = w[2] = 0;
	assert_int_equal(qlb_policy_pick(lc, active, w, 4), -1);

	/* p2c: two distinct draws, so with two eligible the less loaded
	 * always wins; never an ineligible one; seeded and reproducible */
	w[0] = 1, w[1] = 0, w[2] = 1, w[3] = 0;
	for (int i = 0; i < 1000; i++)
		assert_int_equal(qlb_policy_pick(p2c, active, w, 4), 2);
	w[0] = w[1] = w[2] = w[3] = 1;
	qlb_policy_destroy(p2c);
	p2c = make_policy(QLB_POLICY_P2C, 4, NULL);
	for (int i = 0; i < 4000; i++) {
		int a = qlb_policy_pick(p2c, active, w, 4), b = qlb_policy_pick(p2c_again, active, w, 4);

		assert_true(a >= 0 && a < 4);
		assert_int_equal(a, b);
		count[a]++;
	}
	/* the most loaded only wins against itself, which two distinct draws
	 * rule out; the idle one wins whenever drawn (1 - (3/4)(2/3) = 1/2) */
	assert_int_equal(count[0], 0);
	assert_true(count[3] > 1800 && count[3] < 2200);
	w[0] = w[1] = w[2] = 0;
	assert_int_equal(qlb_policy_pick(p2c, active, w, 4), 3);
	w[3] = 0;
	assert_int_equal(qlb_policy_pick(p2c, active, w, 4), -1);
	/* weight-based policies do not pick per flow */
	{
		struct qlb_policy *q = make_policy(QLB_POLICY_SEDQ, 4, NULL);

		w[0] = 1;
		assert_int_equal(qlb_policy_pick(q, active, w, 4), -1);
		qlb_policy_destroy(q);
	}
	qlb_policy_destroy(lc);
	qlb_policy_destroy(p2c);
	qlb_policy_destroy(p2c_again);
}

/* ---------------------------------------------------------------- dlbqt */

static void test_dlbqt_rules(void **state)
{
	struct qlb_policy *p = make_policy(QLB_POLICY_DLBQT, 3, NULL);
	struct qlb_obs obs[3];
	struct qlb_est est[3];
	uint32_t w[3];

	(void)state;
	/* identical servers: identical W, the first in the list wins */
	for (int i = 0; i < 3; i++)
		obs[i] = fluid_obs(100, 50, 1, 1);
	obs[1].completions = 40; /* rho = 50/40 >= 1: the paper's penalty */
	assert_int_equal(qlb_policy_update(p, obs, 3, NAN, w, est), 0);
	assert_near(est[1].w_paper, 1000, 0);
	assert_near(est[0].w_paper, est[2].w_paper, 0);
	assert_true(w[0] == 10000 && w[1] == 0 && w[2] == 0);
	/* every server saturated: all W = 1000, still the first */
	qlb_policy_reset_backend(p, 0);
	qlb_policy_reset_backend(p, 2);
	for (int i = 0; i < 3; i++)
		obs[i].completions = 10;
	assert_int_equal(qlb_policy_update(p, obs, 3, NAN, w, est), 0);
	for (int i = 0; i < 3; i++)
		assert_near(est[i].w_paper, 1000, 0);
	assert_true(w[0] == 10000 && w[1] == 0 && w[2] == 0);
	/* the first down: the next one */
	obs[0].healthy = 0;
	assert_int_equal(qlb_policy_update(p, obs, 3, NAN, w, est), 0);
	assert_true(w[0] == 0 && w[1] == 10000 && w[2] == 0);
	qlb_policy_destroy(p);
}

/* Windows shorter than 1 s accumulate; lambda and mu average ten windows. */
static void test_dlbqt_windows(void **state)
{
	struct qlb_policy_opts o;
	struct qlb_policy *p;
	struct qlb_obs obs = fluid_obs(100, 40, 0.25, 1);
	struct qlb_est est;
	uint32_t w;

	(void)state;
	qlb_policy_opts_default(&o);
	o.window_s = 0.25;
	p = make_policy(QLB_POLICY_DLBQT, 1, &o);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(qlb_policy_update(p, &obs, 1, NAN, &w, &est), 0);
		assert_near(est.lambda, 0, 0); /* nothing complete yet */
		assert_near(est.mu, 1e-3, 0);  /* the lower bound */
	}
	assert_int_equal(qlb_policy_update(p, &obs, 1, NAN, &w, &est), 0);
	assert_near(est.lambda, 40, 1e-9); /* 4 x 10 arrivals over 1 s */
	assert_near(est.mu, 40, 1e-9);
	assert_near(est.rho, 1, 1e-12);
	assert_near(est.w_paper, 1000, 0);
	qlb_policy_destroy(p);

	/* ten 1 s windows of 10 arrivals, then one of 120: (9 x 10 + 120) / 10 */
	p = make_policy(QLB_POLICY_DLBQT, 1, NULL);
	obs = fluid_obs(100, 10, 1, 1);
	for (int i = 0; i < 10; i++)
		assert_int_equal(qlb_policy_update(p, &obs, 1, NAN, &w, &est), 0);
	obs.arrivals = 120;
	assert_int_equal(qlb_policy_update(p, &obs, 1, NAN, &w, &est), 0);
	assert_near(est.lambda, 21, 1e-9);
	assert_near(est.mu, 10, 1e-9);
	assert_near(est.w_paper, 1000, 0);
	qlb_policy_destroy(p);
}

/* ------------------------------------------------------------------ qlb */

/* A step change in the observations moves no share by more than max_step
 * (relative) a window, and the shares still reach the new optimum. */
static void test_sedq_damping(void **state)
{
	struct qlb_policy_opts o;
	struct qlb_policy *p;
	double mu[2] = { 100, 100 }, share[2] = { 0.5, 0.5 }, load = 100;
	struct qlb_est est[2];
	uint32_t w[2];
	int changes = 0;

	(void)state;
	qlb_policy_opts_default(&o);
	p = make_policy(QLB_POLICY_SEDQ, 2, &o);
	for (int t = 0; t < 60; t++)
		assert_int_equal(fluid_step(p, mu, 2, load, share, w, est), 0);
	assert_near(share[0], 0.5, 0.011);
	mu[0] = 400; /* backend 0 gets four times faster */
	for (int t = 0; t < 120; t++) {
		double before[2] = { share[0], share[1] };

		assert_int_equal(fluid_step(p, mu, 2, load, share, w, est), 0);
		for (int i = 0; i < 2; i++) {
			if (fabs(share[i] - before[i]) > o.max_step * before[i] + 1e-12)
				fail_msg("window %d: share %d moved %.4f -> %.4f, more than %g", t, i,
					 before[i], share[i], o.max_step);
			changes += share[i] != before[i];
		}
		assert_int_equal(w[0], (uint32_t)lround(share[0] * 10000));
	}
	/* sqrt split of (400, 100) at 100 drops the slow one: it keeps the floor */
	assert_near(share[1], o.floor_share, 0.005);
	assert_true(changes >= 4); /* it did move, in several steps */
	qlb_policy_destroy(p);
}

/* Damping yields to saturation: when the load jumps so that the fast
 * backend would be overloaded, the shares go to the new plan at once. */
static void test_sedq_saturation_overrides_damping(void **state)
{
	struct qlb_policy_opts o;
	struct qlb_policy *p;
	double mu[2] = { 300, 100 }, share[2] = { 0.5, 0.5 }, want[2];
	struct qlb_est est[2];
	uint32_t w[2];

	(void)state;
	qlb_policy_opts_default(&o);
	p = make_policy(QLB_POLICY_SEDQ, 2, &o);
	for (int t = 0; t < 60; t++) /* light load: all on the fast one */
		assert_int_equal(fluid_step(p, mu, 2, 40, share, w, est), 0);
	assert_near(share[1], o.floor_share, 0.005);
	assert_int_equal(qlb_sqrt_split(mu, 2, 360, want), 0);
	for (int t = 0; t < 2; t++) /* load 0.9: the fast one would get 353/s */
		assert_int_equal(fluid_step(p, mu, 2, 360, share, w, est), 0);
	/* far beyond +25% a window from the floor */
	assert_near(share[1], want[1], 0.02);
	assert_near(share[0], want[0], 0.02);
	qlb_policy_destroy(p);
}

/* The floor keeps a backend the plan would drop measurable (weight > 0). */
static void test_sedq_floor(void **state)
{
	struct qlb_policy *p = make_policy(QLB_POLICY_SEDQ, 2, NULL);
	double mu[2] = { 1000, 10 }, share[2] = { 0.5, 0.5 };
	struct qlb_est est[2];
	uint32_t w[2];

	(void)state;
	for (int t = 0; t < 100; t++)
		assert_int_equal(fluid_step(p, mu, 2, 40, share, w, est), 0);
	assert_near(share[1], 0.02, 1e-3);
	assert_true(w[1] >= 1);
	assert_near(est[1].mu, 10, 0.5); /* and it is still measured */
	/* at higher load 2% would be 20% of the slow backend's capacity: the
	 * floor shrinks so as not to swamp it */
	for (int t = 0; t < 100; t++)
		assert_int_equal(fluid_step(p, mu, 2, 500, share, w, est), 0);
	assert_true(share[1] * 500 <= 0.2 * est[1].mu * 1.02);
	assert_true(w[1] >= 1);
	qlb_policy_destroy(p);
}

/* A replaced backend restarts at the floor and ramps over slow_start_s. */
static void test_sedq_slow_start(void **state)
{
	struct qlb_policy_opts o;
	struct qlb_policy *p;
	double mu[2] = { 100, 100 }, share[2] = { 0.5, 0.5 }, prev;
	struct qlb_est est[2];
	uint32_t w[2];

	(void)state;
	qlb_policy_opts_default(&o);
	o.slow_start_s = 20;
	p = make_policy(QLB_POLICY_SEDQ, 2, &o);
	for (int t = 0; t < 60; t++)
		assert_int_equal(fluid_step(p, mu, 2, 100, share, w, est), 0);
	assert_near(share[1], 0.5, 0.011);
	qlb_policy_reset_backend(p, 1);
	assert_int_equal(fluid_step(p, mu, 2, 100, share, w, est), 0);
	assert_true(share[1] <= o.floor_share * (1 + o.max_step) + 1e-9);
	assert_true(w[1] >= 1);
	prev = share[1];
	for (int t = 1; t < 60; t++) {
		assert_int_equal(fluid_step(p, mu, 2, 100, share, w, est), 0);
		assert_true(share[1] >= prev - 1e-12); /* only up */
		if (t == 8)
			assert_true(share[1] < 0.35); /* still ramping */
		prev = share[1];
	}
	assert_near(share[1], 0.5, 0.011);
	qlb_policy_destroy(p);
}

/* Idle or nearly idle, a fast and a slow backend still score differently:
 * capacity comes from response times (1/T), not from throughput. */
static void test_sedq_idle_fast_vs_slow(void **state)
{
	struct qlb_policy *p = make_policy(QLB_POLICY_SEDQ, 2, NULL);
	struct qlb_obs obs[2];
	struct qlb_est est[2];
	uint32_t w[2];
	double mu_before;

	(void)state;
	for (int t = 0; t < 40; t++) {
		obs[0] = fluid_obs(300, 1, 1, 0); /* one request a second each, no cpu */
		obs[1] = fluid_obs(100, 1, 1, 0);
		assert_int_equal(qlb_policy_update(p, obs, 2, NAN, w, est), 0);
	}
	assert_near(est[0].mu, 300, 3);
	assert_near(est[1].mu, 100, 3);
	assert_below(est[0].t_system, est[1].t_system);
	assert_true(w[0] > w[1]);
	/* a window with nothing at all keeps the estimate */
	mu_before = est[1].mu;
	for (int i = 0; i < 2; i++)
		obs[i] = fluid_obs(100, 0, 1, 0);
	assert_int_equal(qlb_policy_update(p, obs, 2, NAN, w, est), 0);
	assert_near(est[1].mu, mu_before, 1e-9 * mu_before);
	/* the same with a utilisation reading */
	qlb_policy_destroy(p);
	p = make_policy(QLB_POLICY_SEDQ, 2, NULL);
	for (int t = 0; t < 40; t++) {
		obs[0] = fluid_obs(300, 3, 1, 1);
		obs[1] = fluid_obs(100, 3, 1, 1);
		assert_int_equal(qlb_policy_update(p, obs, 2, NAN, w, est), 0);
	}
	assert_near(est[0].mu, 300, 1e-6);
	assert_near(est[1].mu, 100, 1e-6);
	qlb_policy_destroy(p);
}

/* A backend that answers its first byte at once and spends its time on the
 * transfer: with one response per flow, the estimate follows the flows'
 * whole durations; with keep-alive flows (many responses each, lasting
 * their idle time too), the first byte. */
static void test_sedq_mu_from_flow_durations(void **state)
{
	const double mu = 100, lambda = 60, first_byte_s = 0.001;
	struct qlb_policy *p;
	struct qlb_obs ob;
	struct qlb_est est;
	uint32_t w;

	(void)state;
	for (int keepalive = 0; keepalive < 2; keepalive++) {
		p = make_policy(QLB_POLICY_SEDQ, 1, NULL);
		for (int t = 0; t < 40; t++) {
			ob = fluid_obs(mu, lambda, 1, 0);
			ob.dur_samples = ob.completions;
			ob.dur_mean_s = ob.rt_mean_s; /* M/M/1 time in system */
			ob.rt_mean_s = first_byte_s;
			if (keepalive)
				ob.rt_samples = 20 * ob.completions;
			assert_int_equal(qlb_policy_update(p, &ob, 1, NAN, &w, &est), 0);
		}
		if (keepalive)
			assert_near(est.mu, lambda + 1 / first_byte_s, 1);
		else
			assert_near(est.mu, mu, 1);
		qlb_policy_destroy(p);
	}
}

/* With opts.occupancy and without a usage source, where each flow carries
 * one response, the data plane's occupancy gives capacity by the
 * utilisation law, whatever the service: here deterministic (a response
 * time the M/M/1 inversion reads as a faster backend). Keep-alive flows are
 * open while idle, so their occupancy says nothing and the inversion stays;
 * a usage source comes first; without the option, occupancy is ignored. */
static void test_sedq_mu_from_occupancy(void **state)
{
	const double mu = 200, lambda = 150, service_s = 1 / mu;
	/* M/D/1 time in system: less than M/M/1's 1 / (mu - lambda) */
	const double t_md1 = service_s + (lambda / mu) * service_s / (2 * (1 - lambda / mu));
	struct qlb_policy_opts o;
	struct qlb_policy *p;
	struct qlb_obs ob;
	struct qlb_est est;
	uint32_t w;

	(void)state;
	qlb_policy_opts_default(&o);
	o.occupancy = 1;
	for (int kind = 0; kind < 4; kind++) { /* occupancy, keep-alive, usage too, option off */
		p = make_policy(QLB_POLICY_SEDQ, 1, kind == 3 ? NULL : &o);
		for (int t = 0; t < 40; t++) {
			ob = fluid_obs(mu, lambda, 1, kind == 2);
			ob.dur_samples = ob.completions;
			ob.rt_mean_s = ob.dur_mean_s = t_md1;
			ob.busy_s = (double)ob.completions * service_s;
			if (kind == 1)
				ob.rt_samples = 20 * ob.completions;
			if (kind == 2)
				ob.cpu_util = 0.5; /* the usage source's word wins */
			assert_int_equal(qlb_policy_update(p, &ob, 1, NAN, &w, &est), 0);
		}
		if (kind == 0)
			assert_near(est.mu, mu, 1e-6 * mu);
		else if (kind == 1 || kind == 3)
			assert_near(est.mu, lambda + 1 / t_md1, 1e-6 * mu);
		else
			assert_near(est.mu, lambda / 0.5, 1e-6 * mu);
		qlb_policy_destroy(p);
	}
	/* No occupancy worth the name yet: the inversion until there is. */
	p = make_policy(QLB_POLICY_SEDQ, 1, &o);
	ob = fluid_obs(mu, lambda, 1, 0);
	ob.dur_samples = ob.completions;
	ob.rt_mean_s = ob.dur_mean_s = t_md1;
	ob.busy_s = 0.01;
	assert_int_equal(qlb_policy_update(p, &ob, 1, NAN, &w, &est), 0);
	assert_near(est.mu, lambda + 1 / t_md1, 1e-6 * mu);
	qlb_policy_destroy(p);
}

/* sed's pick rate: a backend that had work waiting all window and served
 * less than its estimate is picked at what it served, never below half the
 * estimate; otherwise at the estimate. The capacity estimate itself does
 * not move for one window. */
static void test_sedq_pick_rate_follows_a_stall(void **state)
{
	struct qlb_policy *p = make_policy(QLB_POLICY_SEDQ, 2, NULL);
	struct qlb_obs obs[2];
	struct qlb_est est[2];
	uint32_t w[2];

	(void)state;
	for (int t = 0; t < 40; t++) {
		obs[0] = fluid_obs(300, 150, 1, 1);
		obs[1] = fluid_obs(100, 50, 1, 1);
		assert_int_equal(qlb_policy_update(p, obs, 2, NAN, w, est), 0);
	}
	assert_near(est[0].pick_mu, est[0].mu, 1e-9);
	assert_near(qlb_policy_pick_mu(p, 0), est[0].mu, 1e-9);
	/* Backlogged over two window ends, 240 of 300 served: 240. */
	for (int t = 0; t < 2; t++) {
		obs[0] = fluid_obs(300, 150, 1, 1);
		obs[0].active = 40;
		obs[0].completions = 240;
		obs[1] = fluid_obs(100, 50, 1, 1);
		assert_int_equal(qlb_policy_update(p, obs, 2, NAN, w, est), 0);
	}
	assert_near(est[0].pick_mu, 240, 1);
	assert_near(qlb_policy_pick_mu(p, 0), est[0].pick_mu, 1e-9);
	assert_below(280, est[0].mu);
	/* A stall (nothing served): half the estimate, not 0. */
	obs[0].completions = 0;
	obs[0].cpu_util = 1;
	assert_int_equal(qlb_policy_update(p, obs, 2, NAN, w, est), 0);
	assert_near(est[0].pick_mu, est[0].mu / 2, 1e-6);
	/* Its queue gone: the estimate again. */
	obs[0] = fluid_obs(300, 150, 1, 1);
	assert_int_equal(qlb_policy_update(p, obs, 2, NAN, w, est), 0);
	assert_near(est[0].pick_mu, est[0].mu, 1e-9);
	qlb_policy_destroy(p);
}

/* Arrivals above the pool's capacity: sed's pick goes by open flows alone
 * (one rate for all) for 30 s after the last such window, then by capacity
 * again. */
static void test_sedq_overload_picks_like_lc(void **state)
{
	struct qlb_policy *p = make_policy(QLB_POLICY_SEDQ, 2, NULL);
	struct qlb_obs obs[2];
	struct qlb_est est[2];
	uint32_t w[2];
	int t;

	(void)state;
	for (t = 0; t < 40; t++) {
		obs[0] = fluid_obs(300, 150, 1, 1);
		obs[1] = fluid_obs(100, 50, 1, 1);
		assert_int_equal(qlb_policy_update(p, obs, 2, NAN, w, est), 0);
	}
	assert_below(2 * est[1].pick_mu, est[0].pick_mu);
	/* One window at 1.5x the pool's capacity is not yet overload: the
	 * smoothed rate must say so too. */
	obs[0] = fluid_obs(300, 450, 1, 1);
	obs[1] = fluid_obs(100, 150, 1, 1);
	assert_int_equal(qlb_policy_update(p, obs, 2, NAN, w, est), 0);
	assert_below(2 * est[1].pick_mu, est[0].pick_mu);
	for (t = 0; t < 5; t++)
		assert_int_equal(qlb_policy_update(p, obs, 2, NAN, w, est), 0);
	assert_near(est[0].pick_mu, est[1].pick_mu, 1e-9);
	assert_below(2 * est[1].mu, est[0].mu);	/* the capacities stay apart */
	/* Back under capacity: lc-like for 30 more seconds. */
	for (t = 0; t < 25; t++) {
		obs[0] = fluid_obs(300, 150, 1, 1);
		obs[1] = fluid_obs(100, 50, 1, 1);
		assert_int_equal(qlb_policy_update(p, obs, 2, NAN, w, est), 0);
	}
	assert_near(est[0].pick_mu, est[1].pick_mu, 1e-9);
	for (t = 0; t < 15; t++)
		assert_int_equal(qlb_policy_update(p, obs, 2, NAN, w, est), 0);
	assert_below(2 * est[1].pick_mu, est[0].pick_mu);
	qlb_policy_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_unhealthy_gets_zero),
		cmocka_unit_test(test_static_policies),
		cmocka_unit_test(test_lcpu_lram),
		cmocka_unit_test(test_lc_p2c_pick),
		cmocka_unit_test(test_dlbqt_rules),
		cmocka_unit_test(test_dlbqt_windows),
		cmocka_unit_test(test_sedq_damping),
		cmocka_unit_test(test_sedq_saturation_overrides_damping),
		cmocka_unit_test(test_sedq_floor),
		cmocka_unit_test(test_sedq_slow_start),
		cmocka_unit_test(test_sedq_idle_fast_vs_slow),
		cmocka_unit_test(test_sedq_mu_from_flow_durations),
		cmocka_unit_test(test_sedq_mu_from_occupancy),
		cmocka_unit_test(test_sedq_pick_rate_follows_a_stall),
		cmocka_unit_test(test_sedq_overload_picks_like_lc),
	};

	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
