// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * `qlb agent`: the control loop. Every window it reads the data plane's
 * per-CPU counters, turns their deltas into one observation per backend,
 * runs the VIP's policy (agent/model/policy.h), applies the weights by swapping
 * in a new ring when they changed, probes backend health, and publishes
 * what it estimated: to the backend_est map (for `qlb stats`), a Prometheus
 * endpoint and an optional CSV history.
 *
 * The agent holds no state the data plane needs: killing it leaves the last
 * ring in place and every flow where it was.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "addr.h"
#include "agent.h"
#include "clock.h"
#include "config.h"
#include "flows.h"
#include "forecast.h"
#include "health.h"
#include "history.h"
#include "log.h"
#include "maglev.h"
#include "metrics.h"
#include "occupancy.h"
#include "pick.h"
#include "policy.h"
#include "stats.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A VIP's policy and the mapping of its slots to backend ids. Slots keep
 * their backend across windows, so a policy's history survives backends
 * coming and going; a slot whose backend left is reset before reuse. */
struct vip_ctl {
	uint32_t vip_id;
	int in_use;
	int kind;
	uint32_t cap;
	struct qlb_policy *pol;
	uint32_t *slot_backend;		/* [cap], QLB_NO_BACKEND if free */
	double churn_pct;
	struct qlb_forecaster *fc;
	struct qlb_scaler sc;
	struct qlb_forecast_info fi;
	int scale_fired;
	struct qlb_scale_event ev;
};

struct agent {
	struct qlb_agent_opts o;
	struct qlb_state *st;
	struct qlb_stats_snapshot *cur, *prev;
	int have_prev;
	struct qlb_probe probes[QLB_MAX_BACKENDS];
	uint64_t identity[QLB_MAX_BACKENDS];	/* who held the id last window */
	struct vip_ctl vips[QLB_MAX_VIPS];
	/* Scratch, sized for the largest VIP. */
	struct qlb_obs *obs;
	struct qlb_est *est;
	uint32_t *weights, *ids;
	uint32_t scratch_cap;
	FILE *history;
	struct qlb_metrics_server *metrics;
	/* Busy server-ns per backend at this window's read and the last's. */
	struct qlb_occupancy *occ;
	uint64_t occ_at[2][QLB_MAX_BACKENDS];
	uint64_t *occ_cur, *occ_prev;
	struct qlb_vip_report reports[QLB_MAX_VIPS];
	double last_window_cost_s;
	uint64_t windows;
};

void qlb_agent_opts_default(struct qlb_agent_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->window_s = 1.0;
	o->servers = 1;
	o->health.kind = QLB_HEALTH_TCP;
	o->health.rise = 2;
	o->health.fall = 2;
	snprintf(o->metrics_listen, sizeof(o->metrics_listen), "127.0.0.1:9464");
	qlb_policy_opts_default(&o->policy);
	qlb_forecaster_opts_default(&o->forecast);
	snprintf(o->forecast_model, sizeof(o->forecast_model), "compiled");
	qlb_scaler_opts_default(&o->scale);
}

static uint64_t backend_identity(const struct qlb_backend *b)
{
	return qlb_backend_identity(&b->addr, b->family, b->port) ^
	       ((uint64_t)b->vip_id << 48) ^ 1;
}

static int grow_scratch(struct agent *a, uint32_t cap)
{
	if (cap <= a->scratch_cap)
		return 0;
	free(a->obs);
	free(a->est);
	free(a->weights);
	free(a->ids);
	a->obs = calloc(cap, sizeof(*a->obs));
	a->est = calloc(cap, sizeof(*a->est));
	a->weights = calloc(cap, sizeof(*a->weights));
	a->ids = calloc(cap, sizeof(*a->ids));
	if (!a->obs || !a->est || !a->weights || !a->ids) {
		a->scratch_cap = 0;
		return -ENOMEM;
	}
	a->scratch_cap = cap;
	return 0;
}

/* The policy and its slots; a VIP's forecaster outlives policy changes. */
static void vip_ctl_free_policy(struct vip_ctl *v)
{
	qlb_policy_destroy(v->pol);
	free(v->slot_backend);
	v->pol = NULL;
	v->slot_backend = NULL;
	v->cap = 0;
}

static void vip_ctl_free(struct vip_ctl *v)
{
	vip_ctl_free_policy(v);
	qlb_forecaster_destroy(v->fc);
	memset(v, 0, sizeof(*v));
}

static int vip_ctl_forecaster(struct agent *a, struct vip_ctl *v, uint32_t vip_id)
{
	struct qlb_forecaster_opts fo = a->o.forecast;
	struct qlb_error err = {};
	int ret;

	if (v->fc)
		return 0;
	fo.model = a->o.forecast_model;
	fo.refit_phase = vip_id;	/* VIPs re-fit in different windows */
	ret = qlb_forecaster_create(&fo, &v->fc, &err);
	if (ret)
		return ret;
	if (err.msg[0])
		qlb_note("VIP %u forecast: %s (%s)", vip_id, err.msg,
			qlb_forecaster_status_name(qlb_forecaster_status(v->fc)));
	return qlb_scaler_init(&v->sc, &a->o.scale);
}

void qlb_seat_backends(struct qlb_policy *pol, uint32_t *slot_backend, uint32_t cap,
		       const uint32_t *ids, uint32_t n)
{
	/* Per id: 1 to be seated, 2 seated. A table, not a search of the
	 * slots per backend, which is n x cap a window. */
	uint8_t seat[QLB_MAX_BACKENDS] = {};
	uint32_t i, j;

	for (i = 0; i < n; i++)
		if (ids[i] < QLB_MAX_BACKENDS)
			seat[ids[i]] = 1;
	/* Free the slots of backends that left. */
	for (j = 0; j < cap; j++) {
		uint32_t id = slot_backend[j];

		if (id == QLB_NO_BACKEND)
			continue;
		if (id < QLB_MAX_BACKENDS && seat[id] == 1)
			seat[id] = 2;
		else
			slot_backend[j] = QLB_NO_BACKEND;
	}
	/* Seat newcomers in free slots, lowest first, fresh. */
	for (i = 0, j = 0; i < n; i++) {
		if (ids[i] >= QLB_MAX_BACKENDS || seat[ids[i]] != 1)
			continue;
		while (j < cap && slot_backend[j] != QLB_NO_BACKEND)
			j++;
		if (j == cap)
			break;
		slot_backend[j] = ids[i];
		seat[ids[i]] = 2;
		qlb_policy_reset_backend(pol, j);
	}
}

/* Gives the VIP a policy of the right kind with a slot for each backend it
 * has now, keeping the slots of backends it already had. */
static int vip_ctl_sync(struct agent *a, struct vip_ctl *v, int kind, const uint32_t *ids,
			uint32_t n)
{
	uint32_t i, cap = v->cap;
	int err;

	if (!v->pol || v->kind != kind || n > v->cap) {
		vip_ctl_free_policy(v);
		cap = n < 8 ? 8 : 2 * n;
		v->slot_backend = malloc(cap * sizeof(*v->slot_backend));
		if (!v->slot_backend)
			return -ENOMEM;
		for (i = 0; i < cap; i++)
			v->slot_backend[i] = QLB_NO_BACKEND;
		a->o.policy.window_s = a->o.window_s;
		err = qlb_policy_create(kind, cap, &a->o.policy, &v->pol);
		if (err)
			return err;
		v->kind = kind;
		v->cap = cap;
	}
	qlb_seat_backends(v->pol, v->slot_backend, v->cap, ids, n);
	return grow_scratch(a, v->cap);
}

static uint64_t delta(uint64_t now, uint64_t before)
{
	return now >= before ? now - before : 0;
}

void qlb_observe(const struct qlb_state *st, const struct qlb_stats_snapshot *cur,
		 const struct qlb_stats_snapshot *prev, uint32_t id, double dt, uint32_t servers,
		 struct qlb_obs *ob)
{
	const struct qlb_backend *b = &st->backends[id];
	const struct qlb_backend_stats *c = &cur->be[id], *p = &prev->be[id];
	__u64 hist[QLB_RT_BUCKETS];
	uint64_t done = c->flows_closed + c->flows_expired;
	int k;

	memset(ob, 0, sizeof(*ob));
	ob->dt_s = dt;
	ob->arrivals = delta(c->flows_new, p->flows_new);
	ob->completions = delta(done, p->flows_closed + p->flows_expired);
	/* Live count from the data plane, the one lc/p2c/sed pick on. */
	ob->active = (double)cur->active[id];
	ob->rt_samples = delta(c->rt_count, p->rt_count);
	ob->rt_mean_s = ob->rt_samples ?
		delta(c->rt_sum_ns, p->rt_sum_ns) / 1e9 / ob->rt_samples : NAN;
	for (k = 0; k < QLB_RT_BUCKETS; k++)
		hist[k] = delta(c->rt_hist[k], p->rt_hist[k]);
	ob->rt_p99_s = ob->rt_samples ? qlb_rt_percentile_us(hist, 99) / 1e6 : NAN;
	ob->dur_samples = delta(c->dur_count, p->dur_count);
	ob->dur_mean_s = ob->dur_samples ?
		delta(c->dur_sum_ns, p->dur_sum_ns) / 1e9 / ob->dur_samples : NAN;
	ob->busy_s = NAN;
	ob->cpu_util = NAN;
	ob->mem_util = NAN;
	ob->servers = servers;
	ob->config_weight = b->weight;
	ob->healthy = !(b->flags & (QLB_BE_F_DOWN | QLB_BE_F_DRAIN));
	ob->true_mu = NAN;
}

/* One backend's window, as the policies see it: the counters' deltas, and
 * CPU and memory where a --usage source knows them. */
static void observe(struct agent *a, uint32_t id, double dt, struct qlb_obs *ob)
{
	const struct qlb_backend *b = &a->st->backends[id];

	qlb_observe(a->st, a->cur, a->prev, id, dt, a->o.servers, ob);
	if (a->occ)
		ob->busy_s = (double)(a->occ_cur[id] - a->occ_prev[id]) / 1e9;
	if (a->o.usage.n) {
		struct qlb_usage_src *u = qlb_usage_map_find(&a->o.usage, &b->addr, b->family,
							     ntohs(b->port));

		if (u) {
			ob->cpu_util = u->cpu_util;
			ob->mem_util = u->mem_util;
		}
	}
}

static void publish_est(struct agent *a, uint32_t id, int kind, const struct qlb_est *e,
			double now)
{
	struct qlb_backend_est out = {};

#define FIX(x, scale) (isfinite(x) && (x) > 0 ? (__u64)((x) * (scale) + 0.5) : 0)
	out.updated_ns = (__u64)(now * 1e9);
	out.lambda_milli = FIX(e->lambda, 1e3);
	out.mu_milli = FIX(e->mu, 1e3);
	out.rho_micro = FIX(e->rho, 1e6);
	out.w_paper_ns = FIX(e->w_paper, 1e9);
	out.t_system_ns = FIX(e->t_system, 1e9);
	out.share_micro = FIX(e->share, 1e6);
	a->st->pick_mu_milli[id] = FIX(e->pick_mu, 1e3);
#undef FIX
	out.policy = kind;
	out.health_fails = a->probes[id].fails;
	qlb_backend_est_write(a->st, id, &out);
}

/*
 * Passive health: a backend that refuses or aborts most of a window's new
 * flows (its kernel answers RST: the server died, the port closed) looks
 * idle to lc and sed, which would then pour every new flow into it until the
 * next probes fail. Taken out at once; the probes bring it back after
 * `rise` successes. The data plane already passes over a refusing backend
 * (refused_hold_ns), so it draws about one new flow a second: refusing
 * every new flow of the window is enough then.
 */
#define QLB_PASSIVE_MIN_RESETS 10

static void passive_health(struct agent *a)
{
	uint32_t i;
	char buf[64];

	for (i = 0; i < QLB_MAX_BACKENDS; i++) {
		struct qlb_backend *b = &a->st->backends[i];
		struct qlb_probe *p = &a->probes[i];
		uint64_t resets, refused, arrivals;

		if (!(b->flags & QLB_BE_F_IN_USE) || (b->flags & QLB_BE_F_DOWN) ||
		    a->o.health.kind == QLB_HEALTH_NONE)
			continue;
		resets = delta(a->cur->be[i].resets_from, a->prev->be[i].resets_from);
		refused = delta(a->cur->be[i].refused, a->prev->be[i].refused);
		arrivals = delta(a->cur->be[i].flows_new, a->prev->be[i].flows_new);
		if ((resets < QLB_PASSIVE_MIN_RESETS || 2 * resets < arrivals) &&
		    (!refused || refused < arrivals))
			continue;
		qlb_format_endpoint(&b->addr, b->family, ntohs(b->port), buf, sizeof(buf));
		qlb_note("backend %s is down (reset %llu, refused %llu of %llu new flows)", buf,
			 (unsigned long long)resets, (unsigned long long)refused,
			 (unsigned long long)arrivals);
		p->up = 0;
		p->oks = 0;
		qlb_backend_update(a->st, i, b->weight, b->flags | QLB_BE_F_DOWN);
	}
}

/* The flags backend i should have after its probes; 0 if it needs no
 * change (or the id changed hands while it was probed). */
static uint32_t health_flags(const struct agent *a, uint32_t i)
{
	const struct qlb_backend *b = &a->st->backends[i];
	const struct qlb_probe *p = &a->probes[i];
	uint32_t flags;

	if (!p->active || !(b->flags & QLB_BE_F_IN_USE) ||
	    a->identity[i] != backend_identity(b))
		return 0;
	flags = p->up ? b->flags & ~QLB_BE_F_DOWN : b->flags | QLB_BE_F_DOWN;
	return flags == b->flags ? 0 : flags;
}

/* Health: probe, unlocked (probes wait on the network, not on the maps),
 * then mark backends down or up, under the lock and on a fresh snapshot
 * like every writer, since a change publishes the ring. */
static void run_health(struct agent *a, double deadline)
{
	uint32_t i, flags, changes = 0;
	int err;

	for (i = 0; i < QLB_MAX_BACKENDS; i++) {
		const struct qlb_backend *b = &a->st->backends[i];
		struct qlb_probe *p = &a->probes[i];
		uint64_t who = backend_identity(b);

		p->active = (b->flags & QLB_BE_F_IN_USE) && a->o.health.kind != QLB_HEALTH_NONE;
		if (!p->active)
			continue;
		if (a->identity[i] != who) {
			/* A new backend starts up, as the data plane treats it. */
			*p = (struct qlb_probe){ .addr = b->addr, .family = b->family, .up = 1,
						 .fd = -1, .next_at = 0 };
			a->identity[i] = who;
		}
		p->port = ntohs(b->port);
		if (!p->port) {
			const struct qlb_vip_entry *v = NULL;
			int j;

			for (j = 0; j < a->st->nvips && !v; j++)
				if (a->st->vips[j].val.vip_id == b->vip_id)
					v = &a->st->vips[j];
			p->port = v ? ntohs(v->key.port) : 0;
		}
	}
	qlb_health_run(a->probes, QLB_MAX_BACKENDS, &a->o.health, deadline);
	for (i = 0; i < QLB_MAX_BACKENDS; i++)
		changes += health_flags(a, i) != 0;
	if (!changes || qlb_state_lock(a->st, NULL))
		return;
	err = qlb_state_read(a->st);
	if (err)
		qlb_err("cannot read the state: %s", strerror(-err));
	for (i = 0; !err && i < QLB_MAX_BACKENDS; i++) {
		const struct qlb_backend *b = &a->st->backends[i];
		char buf[64];

		flags = health_flags(a, i);
		if (!flags)
			continue;
		qlb_format_endpoint(&b->addr, b->family, ntohs(b->port), buf, sizeof(buf));
		qlb_note("backend %s is %s", buf,
			flags & QLB_BE_F_DOWN ? "down" : "up");
		/* Through the ring at once: a down backend takes no new flow. */
		qlb_backend_update(a->st, i, b->weight, flags);
	}
	qlb_state_unlock(a->st);
}

static int run_vip(struct agent *a, struct qlb_vip_entry *v, double dt, double now)
{
	struct vip_ctl *vc = &a->vips[v->val.vip_id];
	uint32_t ids[QLB_MAX_BACKENDS], n = 0, i, live = 0;
	int kind = (int)v->val.policy, err;
	double lambda_obs = 0, lambda_hat, mu_total = 0;

	if (kind < 0 || kind >= QLB_POLICY_MAX || kind == QLB_POLICY_ORACLE)
		kind = QLB_POLICY_WRR;
	for (i = 0; i < QLB_MAX_BACKENDS; i++)
		if ((a->st->backends[i].flags & QLB_BE_F_IN_USE) &&
		    a->st->backends[i].vip_id == v->val.vip_id)
			ids[n++] = i;
	vc->in_use = 1;
	vc->vip_id = v->val.vip_id;
	if (!n)
		return 0;
	err = vip_ctl_sync(a, vc, kind, ids, n);
	if (!err)
		err = vip_ctl_forecaster(a, vc, v->val.vip_id);
	if (err)
		return err;

	for (i = 0; i < vc->cap; i++) {
		uint32_t id = vc->slot_backend[i];

		if (id == QLB_NO_BACKEND) {
			memset(&a->obs[i], 0, sizeof(a->obs[i]));
			a->obs[i].dt_s = dt;
			a->obs[i].servers = 1;
			a->obs[i].rt_mean_s = a->obs[i].rt_p99_s = a->obs[i].dur_mean_s = NAN;
			a->obs[i].cpu_util = a->obs[i].mem_util = a->obs[i].true_mu = NAN;
			continue;
		}
		observe(a, id, dt, &a->obs[i]);
	}
	/* The forecast sees the VIP's total arrival rate; NAN until it is
	 * warm, when the policy plans on the measured rate. */
	for (i = 0; i < vc->cap; i++)
		if (vc->slot_backend[i] != QLB_NO_BACKEND)
			lambda_obs += a->obs[i].arrivals / dt;
	lambda_hat = qlb_forecaster_step(vc->fc, lambda_obs, &vc->fi);
	err = qlb_policy_update(vc->pol, a->obs, vc->cap, a->o.forecast_off ? NAN : lambda_hat,
				a->weights, a->est);
	if (err)
		return err;
	for (i = 0; i < vc->cap; i++)
		if (vc->slot_backend[i] != QLB_NO_BACKEND && a->obs[i].healthy &&
		    isfinite(a->est[i].mu) && a->est[i].mu > 0)
			mu_total += a->est[i].mu;
	vc->scale_fired = qlb_scaler_step(&vc->sc, lambda_hat, mu_total, &vc->ev);

	/* The ring carries the policy's weights; drain and down stay flags. */
	for (i = 0; i < vc->cap; i++) {
		if (vc->slot_backend[i] == QLB_NO_BACKEND)
			continue;
		a->ids[live] = vc->slot_backend[i];
		a->weights[live] = a->weights[i] > QLB_MAX_WEIGHT ? QLB_MAX_WEIGHT : a->weights[i];
		live++;
	}
	err = qlb_apply_ring_weights(a->st, v->val.vip_id, a->ids, a->weights, live,
				     &vc->churn_pct);
	if (err)
		return err;
	for (i = 0; i < vc->cap; i++) {
		uint32_t id = vc->slot_backend[i];

		if (id == QLB_NO_BACKEND)
			continue;
		publish_est(a, id, kind, &a->est[i], now);
		if (a->history)
			qlb_history_row(a->history, now, v, &a->st->backends[id], &a->obs[i],
					&a->est[i], a->st->backends[id].ring_weight, vc->churn_pct);
	}
	/* The per-flow table carries this window's mu for sed. */
	err = qlb_publish_pick(a->st, v->val.vip_id);
	if (err)
		return err;
	a->reports[v->val.vip_id] = (struct qlb_vip_report){
		.vip_id = v->val.vip_id, .valid = 1, .fi = vc->fi, .sc = &vc->sc,
		.churn_pct = vc->churn_pct,
	};
	return 0;
}

/* Scale events: logged, counted (metrics), and handed to --on-scale. Runs
 * unlocked: starting a hook forks. */
static void report_scale_events(struct agent *a)
{
	char vbuf[64], line[256];
	int i;

	for (i = 0; i < a->st->nvips; i++) {
		const struct qlb_vip_entry *v = &a->st->vips[i];
		struct vip_ctl *vc = &a->vips[v->val.vip_id];

		if (!vc->scale_fired)
			continue;
		vc->scale_fired = 0;
		qlb_format_endpoint(&v->key.addr, v->key.family, ntohs(v->key.port), vbuf,
				    sizeof(vbuf));
		qlb_scale_event_format(&vc->ev, vbuf, line, sizeof(line));
		qlb_note("%s", line);
		if (a->o.on_scale[0] && qlb_scale_run_hook(a->o.on_scale, &vc->ev, vbuf))
			qlb_err("cannot run --on-scale command");
	}
}

#define QLB_GC_TCP_IDLE_NS	(900ull * 1000000000ull)
#define QLB_GC_UDP_IDLE_NS	(30ull * 1000000000ull)
#define QLB_GC_CLOSED_LINGER_NS	(10ull * 1000000000ull)
/* A handshake not completed in this long never will: past a client's second
 * SYN retry, which gives its backend up. */
#define QLB_GC_PENDING_IDLE_NS	(10ull * 1000000000ull)
#define QLB_GC_PERIOD_S		5.0
/* Fine against a response time of milliseconds, and a window's integral
 * then averages a thousand samples. */
#define OCCUPANCY_PERIOD_S	0.001

static uint64_t gc_every(const struct agent *a)
{
	uint64_t n = (uint64_t)(QLB_GC_PERIOD_S / a->o.window_s);

	return n ? n : 1;
}

static int run_window(struct agent *a, double deadline)
{
	struct qlb_stats_snapshot *tmp;
	uint64_t *occ_tmp;
	double t0 = mono_now(), dt;
	int err, i;

	err = qlb_state_lock(a->st, NULL);
	if (err)
		return err;
	err = qlb_state_read(a->st);
	if (!err)
		err = qlb_stats_read(a->st, a->cur);
	if (err)
		goto out;
	if (a->o.usage.n)
		qlb_usage_map_sample(&a->o.usage, a->cur->at);
	if (a->occ) {
		qlb_occupancy_set_span(a->occ, a->cur->be_hi);
		for (i = 0; i < (int)a->cur->be_hi; i++)
			a->occ_cur[i] = qlb_occupancy_busy_ns(a->occ, i);
	}
	if (a->have_prev) {
		passive_health(a);
		dt = a->cur->at - a->prev->at;
		for (i = 0; i < a->st->nvips && dt > 0; i++) {
			err = run_vip(a, &a->st->vips[i], dt, a->cur->at);
			if (err) {
				qlb_err("VIP %u: %s", a->st->vips[i].val.vip_id,
					strerror(-err));
				err = 0;	/* one VIP's trouble stops no other */
			}
		}
		if (a->history)
			fflush(a->history);
	}
	a->last_window_cost_s = mono_now() - t0;
	qlb_state_unlock(a->st);
	report_scale_events(a);
	/* Flows that went idle without a FIN, every few seconds; the walk is
	 * atomic per entry and needs no lock. Timeouts match the data plane's
	 * so a GC'd TCP flow was dead anyway. */
	if (a->windows % gc_every(a) == 0) {
		struct qlb_gc_result gc;

		if (qlb_flows_gc(a->st, QLB_GC_TCP_IDLE_NS, QLB_GC_UDP_IDLE_NS,
				 QLB_GC_CLOSED_LINGER_NS, &gc) < 0)
			qlb_err("flow GC failed");
		else if (gc.reclaimed)
			/* Open flows vanished from the table behind the data
			 * plane's back: their next packets go by the ring. */
			qlb_note("%llu open flows were missing from the flow table",
				 (unsigned long long)gc.reclaimed);
		if (qlb_pending_gc(a->st, QLB_GC_PENDING_IDLE_NS, NULL))
			qlb_err("half-open GC failed");
	}
	/* Probes run unlocked: they wait on the network, not on the maps. */
	run_health(a, deadline);
	if (a->metrics)
		qlb_metrics_publish(a->metrics, a->st, a->cur, a->last_window_cost_s, a->windows,
				    a->reports);
	tmp = a->prev;
	a->prev = a->cur;
	a->cur = tmp;
	occ_tmp = a->occ_prev;
	a->occ_prev = a->occ_cur;
	a->occ_cur = occ_tmp;
	a->have_prev = 1;
	a->windows++;
	return 0;
out:
	qlb_state_unlock(a->st);
	return err;
}

/*
 * What the agent was told must be what it runs on: a --usage address that
 * names no backend, or a --forecast model file it cannot use, is refused
 * (-EINVAL after one line) instead of being ignored or replaced.
 */
static int check_inputs(struct agent *a)
{
	const char *model = a->o.forecast_model;
	struct qlb_error why = {};
	struct fc_model m = {};
	char buf[64];
	uint32_t u, i;

	if (qlb_state_read(a->st))
		return -EIO;
	for (u = 0; u < a->o.usage.n; u++) {
		const struct qlb_endpoint *ep = &a->o.usage.e[u].ep;

		for (i = 0; i < QLB_MAX_BACKENDS; i++) {
			const struct qlb_backend *b = &a->st->backends[i];

			if ((b->flags & QLB_BE_F_IN_USE) && b->family == ep->family &&
			    !memcmp(&b->addr, &ep->addr, sizeof(b->addr)) &&
			    (!ep->port || ep->port == ntohs(b->port)))
				break;
		}
		if (i == QLB_MAX_BACKENDS) {
			qlb_err("--usage %s: no backend has that address",
				qlb_format_endpoint(&ep->addr, ep->family, ep->port, buf,
						    sizeof(buf)));
			return -EINVAL;
		}
	}
	if (a->o.forecast_off || !strcmp(model, "compiled") || !strcmp(model, "none"))
		return 0;
	if (fc_model_load(&m, model, &why)) {
		qlb_err("--forecast %s", why.msg);
		return -EINVAL;
	}
	if (m.arch.horizon < a->o.forecast.horizon) {
		qlb_err("--forecast %s: model horizon %u < %u needed", model, m.arch.horizon,
			a->o.forecast.horizon);
		fc_model_free(&m);
		return -EINVAL;
	}
	fc_model_free(&m);
	return 0;
}

int qlb_agent_run(const struct qlb_agent_opts *o)
{
	struct qlb_error e = {};
	struct agent *a;
	double next;
	int err, i;

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->o = *o;
	if (!a->o.health.interval_s)
		a->o.health.interval_s = a->o.window_s;
	a->o.health.timeout_s = a->o.health.interval_s < 1 ? a->o.health.interval_s : 1;
	for (i = 0; i < QLB_MAX_BACKENDS; i++)
		a->probes[i].fd = -1;
	a->cur = calloc(1, sizeof(*a->cur));
	a->prev = calloc(1, sizeof(*a->prev));
	if (!a->cur || !a->prev) {
		err = -ENOMEM;
		goto out;
	}
	err = qlb_state_open(&a->st, 0, 0, &e);
	if (err) {
		qlb_fail(err, &e);
		goto out;
	}
	err = check_inputs(a);
	if (err)
		goto out;
	/* sed trusts a mu for three windows, and at least the default 5 s. */
	if (3 * o->window_s * 1e9 > a->st->mu_max_age_ns)
		a->st->mu_max_age_ns = (uint64_t)(3 * o->window_s * 1e9);
	if (o->history_path[0]) {
		err = qlb_history_open(o->history_path, &a->history);
		if (err) {
			qlb_err("cannot open history file %s: %s", o->history_path, strerror(-err));
			goto out;
		}
	}
	if (strcmp(o->metrics_listen, "none")) {
		err = qlb_metrics_start(o->metrics_listen, &a->metrics);
		if (err) {
			qlb_err("cannot serve metrics on %s: %s", o->metrics_listen, strerror(-err));
			goto out;
		}
	}
	/* Occupancy goes to the history and, with --occupancy, to the capacity
	 * estimate, which falls back to response times without it: sampled
	 * only where one of them reads it, and a failure to start is only
	 * noted. */
	a->occ_cur = a->occ_at[0];
	a->occ_prev = a->occ_at[1];
	err = o->history_path[0] || o->policy.occupancy ?
		qlb_occupancy_start(a->st, o->servers, OCCUPANCY_PERIOD_S, &a->occ) : 0;
	if (err) {
		qlb_err("cannot sample occupancy: %s", strerror(-err));
		a->occ = NULL;
		err = 0;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	qlb_note("window %.3g s, pins %s%s%s", o->window_s, a->st->pin_dir,
		a->metrics ? ", metrics on " : "", a->metrics ? o->metrics_listen : "");

	next = mono_now();
	while (!stop_requested) {
		double now;

		next += o->window_s;
		err = run_window(a, next);
		if (err) {
			qlb_err("%s", strerror(-err));
			break;
		}
		if (qlb_verbose)
			qlb_note("window %llu took %.3f ms",
				(unsigned long long)a->windows, a->last_window_cost_s * 1e3);
		now = mono_now();
		if (next > now)
			usleep((useconds_t)((next - now) * 1e6));
		else
			next = now;	/* overran: start again from now */
	}
	qlb_note("stopping after %llu windows",
		(unsigned long long)a->windows);
out:
	qlb_occupancy_stop(a->occ);
	if (a->metrics)
		qlb_metrics_stop(a->metrics);
	if (a->history)
		fclose(a->history);
	for (i = 0; i < QLB_MAX_VIPS; i++)
		vip_ctl_free(&a->vips[i]);
	free(a->obs);
	free(a->est);
	free(a->weights);
	free(a->ids);
	qlb_state_close(a->st);
	free(a->cur);
	free(a->prev);
	free(a);
	return err;
}
