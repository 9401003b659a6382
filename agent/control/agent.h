/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The agent: the control loop of every window (agent.c). */
#ifndef QLB_AGENT_H
#define QLB_AGENT_H

#include "forecaster.h"
#include "health.h"
#include "policy.h"
#include "state.h"
#include "stats.h"
#include "usage.h"

struct qlb_agent_opts {
	double window_s;
	uint32_t servers;		/* c of M/M/c */
	struct qlb_health_opts health;
	struct qlb_policy_opts policy;
	char history_path[512];
	char metrics_listen[64];	/* "ADDR:PORT" or "none" */
	struct qlb_usage_map usage;	/* CPU/memory sources for lcpu/lram/qlb */
	struct qlb_forecaster_opts forecast;
	char forecast_model[512];	/* "compiled", "none" or a model file */
	int forecast_off;		/* --forecast off: the policy plans on the measured rate */
	struct qlb_scaler_opts scale;
	char on_scale[1024];		/* shell command run on a scale event */
};

void qlb_agent_opts_default(struct qlb_agent_opts *o);
/* One backend's window as the policies see it, from two counter snapshots
 * (no CPU or memory reading: NAN). */
void qlb_observe(const struct qlb_state *st, const struct qlb_stats_snapshot *cur,
		 const struct qlb_stats_snapshot *prev, uint32_t id, double dt, uint32_t servers,
		 struct qlb_obs *ob);
/* Gives a VIP's policy slots slot_backend[0..cap) to the backends ids[0..n)
 * (n <= cap): a backend keeps its slot from window to window, the slot of
 * one that left is freed, and a newcomer takes the lowest free slot, reset
 * (qlb_policy_reset_backend). */
void qlb_seat_backends(struct qlb_policy *pol, uint32_t *slot_backend, uint32_t cap,
		       const uint32_t *ids, uint32_t n);
/* Runs until SIGINT or SIGTERM, printing what it does. Returns 0 or -errno. */
int qlb_agent_run(const struct qlb_agent_opts *o);

#endif /* QLB_AGENT_H */
