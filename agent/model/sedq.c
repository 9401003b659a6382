// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * sedq, ours (policy "qlb" on the command line): every window it estimates
 * each backend's capacity mu from the counters (sedq_estimate: lambda and
 * mu), splits the forecast load by the square-root rule over those
 * capacities (sedq_plan), damps the change (sedq_damp) and hands the data
 * path mu for its per-flow shortest-expected-delay pick.
 */
#include <math.h>
#include <string.h>

#include "policy_impl.h"
#include "queueing.h"

/*
 * Smoothing. Capacity changes slowly (hardware, noisy neighbours): its
 * evidence is pooled over tens of seconds. One window's mean response time
 * near saturation is far off (an M/M/1 queue relaxes over seconds), but
 * mu = X + 1/T only inherits (1 - rho) of that error. The arrival rate
 * that sizes the split follows load changes within a few windows.
 */
#define MU_TAU_S 30.0
#define LAMBDA_TAU_S 2.0
#define DRAIN_S 5.0
/* Pooled busy server-seconds below which occupancy is no evidence yet. */
#define OCCUPANCY_MIN_S 0.05
#define BISECT_ITERS 200

/*
 * Capacity estimate of one backend from one window, folded into decayed
 * sums so that a window weighs by the evidence it carries and an idle
 * window (no completions) leaves the estimate where it was.
 *
 *  - With a utilisation reading (cpu_util), the utilisation law: completions
 *    per busy server-second is the per-server service rate, whatever the
 *    service-time distribution.
 *  - Without one, if asked (opts.occupancy), and where each flow carries
 *    one response (so that a flow is open while its request is in the
 *    system), the same law on the data plane's occupancy: busy_s, the
 *    server-seconds with a flow open. It needs no model of the service,
 *    and counts the time a CPU quota holds a request back as busy. It is
 *    right only for a backend that serves at most c flows at once: one
 *    whose transfers overlap (a file server's sendfile, drained by the
 *    kernel while the worker is elsewhere) has flows open all the time
 *    under load, and the law then says "capacity = throughput", DLBQT's
 *    flaw, which holds the split where it is. Hence off by default.
 *    Where the backend is mostly idle it sees the speed of a request
 *    served alone, which under a quota is more than the quota allows.
 *  - Without either, the M/M/c model inverted at the measured throughput X and
 *    mean response time T: mu such that T_mmc(X, mu) = T (M/M/1:
 *    mu = X + 1/T). At X -> 0 it is c / T, so an idle fast backend and an
 *    idle slow one still differ. In steady state X = lambda; during an
 *    overload X is the service rate itself, where the arrival rate would
 *    have the model believe the backend keeps up. X and T are averaged per
 *    response-time sample so that a mean T meets the load it was measured
 *    under: inverting each window and averaging the results instead is
 *    biased by E[1/T] > 1/E[T] (docs/design/agent-and-estimators.md has the
 *    measured errors of each way).
 *
 * The inversion is exact only for exponential service (deterministic
 * service queues less than M/M/1 says, so mu comes out high; a quota's
 * bursts make it higher still), hence the utilisation law wherever it has
 * a reading it can trust.
 *
 * Throughput (DLBQT's mu) is not capacity: a stable backend completes what
 * it receives, so it only ever says rho ~ 1.
 */
/* The decays of a window of dt, computed once for all the backends that
 * share it rather than two exp() a backend. */
struct sedq_decay {
	double dt, mu, lambda_gain;
};

static void decay_for(struct sedq_decay *d, double dt)
{
	if (d->dt == dt)
		return;
	d->dt = dt;
	d->mu = exp(-dt / MU_TAU_S);
	d->lambda_gain = 1 - exp(-dt / LAMBDA_TAU_S);
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

static int one_response_flows(const struct qlb_obs *ob)
{
	return ob->dur_samples &&
	       (double)ob->rt_samples <= QLB_RESPONSES_PER_FLOW_MAX * (double)ob->dur_samples;
}

static int response_time_of(const struct qlb_obs *ob, uint64_t *samples, double *mean_s)
{
	if (one_response_flows(ob) && isfinite(ob->dur_mean_s) && ob->dur_mean_s > 0) {
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

/*
 * The rate the per-flow pick divides by. The capacity estimate is pooled
 * over tens of seconds, which is right for capacity and wrong for the next
 * second: a heavy request can hold a backend's servers for seconds (heavy-
 * tailed service), a CPU quota can run out, and meanwhile the pick would go
 * on queueing new flows there in proportion to a capacity it is not
 * delivering. So in a window where the backend had work waiting from start
 * to end, what it completed is what it can do now, if that is less. Bounded
 * trust in that one window: never below half the estimate, since a stall
 * usually ends within the window after it, and a pick that had moved
 * everything to slower backends would leave them a backlog of seconds.
 */
#define PICK_MU_MIN_FRACTION 0.5

static double pick_rate(const struct sedq_backend *b, const struct qlb_obs *ob, uint32_t c)
{
	double served;

	if (!(b->mu > 0) || !isfinite(b->mu))
		return b->mu;
	if (!(b->active_last > c) || !(ob->active > c) || !(ob->dt_s > 0))
		return b->mu;
	served = qlb_pol_rate(ob->completions, ob->dt_s);
	return fmax(fmin(served, b->mu), b->mu * PICK_MU_MIN_FRACTION);
}

static void sedq_estimate(struct sedq_backend *b, const struct qlb_obs *ob, struct sedq_decay *dk,
			  int use_occupancy)
{
	uint32_t c = ob->servers ? ob->servers : 1;
	double dt = ob->dt_s, decay, lambda = qlb_pol_rate(ob->arrivals, dt), rt_mean_s;
	uint64_t rt_samples;

	decay_for(dk, dt);
	decay = dk->mu;
	b->age_s += dt;
	b->lambda_last = lambda;
	b->lambda = isnan(b->lambda) ? lambda
				     : b->lambda + dk->lambda_gain * (lambda - b->lambda);
	b->util_done *= decay;
	b->util_busy *= decay;
	b->occ_done *= decay;
	b->occ_busy *= decay;
	b->rt_n *= decay;
	b->rt_sum *= decay;
	b->rt_x *= decay;
	if (isfinite(ob->cpu_util) && ob->cpu_util > 0 && ob->completions) {
		b->util_done += (double)ob->completions;
		b->util_busy += ob->cpu_util * c * dt;
	}
	if (use_occupancy && one_response_flows(ob) && isfinite(ob->busy_s) && ob->busy_s > 0 &&
	    ob->completions) {
		b->occ_done += (double)ob->completions;
		b->occ_busy += ob->busy_s;
	}
	if (response_time_of(ob, &rt_samples, &rt_mean_s)) {
		double k = (double)rt_samples;

		b->rt_n += k;
		b->rt_sum += k * rt_mean_s;
		b->rt_x += k * qlb_pol_rate(ob->completions, dt);
	}
	if (b->util_busy > 0)
		b->mu = c * b->util_done / b->util_busy;
	else if (b->occ_busy > OCCUPANCY_MIN_S)
		b->mu = c * b->occ_done / b->occ_busy;
	else if (b->rt_n > 0)
		b->mu = c * qlb_mmc_invert_mu(c, b->rt_x / b->rt_n, b->rt_sum / b->rt_n);
	b->pick_mu = pick_rate(b, ob, c);
	b->active_last = ob->active;
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
	for (int it = 0; it < BISECT_ITERS && b - a > 1e-15; it++) {
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
static void sedq_plan(struct qlb_policy *p, const struct qlb_obs *obs, uint32_t n,
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
static int saturated(const struct sedq_backend *b, double rho_target)
{
	return b->mu > 0 && fmax(b->lambda, b->lambda_last) > rho_target * b->mu;
}

static void sedq_damp(struct qlb_policy *p, const struct qlb_obs *obs, uint32_t n,
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
 * its capacity, less what working off a backlog within DRAIN_S needs.
 * The backlog is the excess of the flows in it over Little's law at its
 * usual arrival rate and response time, so that long-lived connections
 * that are always there do not count; a queue left by a burst, a slow
 * start or a capacity drop does, and drains in seconds instead of at the
 * small margin the steady-state split leaves it.
 */
static double planning_rate(const struct sedq_backend *b, const struct qlb_obs *ob)
{
	double excess;

	if (!(b->mu > 0) || !(b->rt_n > 0) || isnan(b->lambda) || !isfinite(ob->active))
		return b->mu;
	excess = ob->active - b->lambda * (b->rt_sum / b->rt_n);
	return excess > 0 ? fmax(b->mu - excess / DRAIN_S, 0) : b->mu;
}

/*
 * Overload: arrivals above the estimated capacity of the whole pool, over
 * the last window and the smoothed rate alike. Then requests will be lost
 * wherever backlogs fill, and how many depends on how much work the
 * backlogs hold: a pick by capacity keeps the slow backends' queues short,
 * so the fast ones fill and refuse while the slow ones still have room.
 * Until OVERLOAD_HOLD_S after the last overloaded window the pick goes by
 * open flows alone, as lc does, which fills every backlog before any
 * refuses. Held that long because bursts recur: re-entering at each one
 * loses the requests of its first window. Its cost: under overload the
 * mean response time is lc's.
 */
#define OVERLOAD_HOLD_S 30.0

static void pick_for_overload(struct qlb_policy *p, const struct qlb_obs *obs, uint32_t n,
			      double arrival_rate, double capacity)
{
	double sum = 0, dt = n ? obs[0].dt_s : 0;
	uint32_t k = 0;

	if (arrival_rate > capacity)
		p->overload_left_s = OVERLOAD_HOLD_S;
	else if (p->overload_left_s > 0)
		p->overload_left_s = fmax(p->overload_left_s - dt, 0);
	if (!(p->overload_left_s > 0))
		return;
	for (uint32_t i = 0; i < n; i++)
		if (obs[i].healthy && p->q[i].pick_mu > 0) {
			sum += p->q[i].pick_mu;
			k++;
		}
	for (uint32_t i = 0; i < n && k; i++)
		if (p->q[i].pick_mu > 0)
			p->q[i].pick_mu = sum / k;
}

void qlb_sedq_update(struct qlb_policy *p, const struct qlb_obs *obs, uint32_t n,
		     double lambda_hat, struct qlb_est *est)
{
	double *mu = p->mu, known = 0, smooth = 0, last = 0, load;
	struct sedq_decay dk = { .dt = NAN };
	uint32_t live = 0, nknown = 0;

	for (uint32_t i = 0; i < n; i++) {
		sedq_estimate(&p->q[i], &obs[i], &dk, p->o.occupancy);
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
		sedq_plan(p, obs, n, mu, load);
		sedq_damp(p, obs, n, mu, load, live);
		pick_for_overload(p, obs, n, fmin(last, smooth), nknown == live ? known : INFINITY);
	}
	if (est)
		for (uint32_t i = 0; i < n; i++) {
			qlb_pol_est_fill(&est[i], isnan(p->q[i].lambda) ? 0 : p->q[i].lambda, p->q[i].mu,
				 obs[i].servers, p->share[i]);
			est[i].pick_mu = p->q[i].pick_mu;
		}
}
