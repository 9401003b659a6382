/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The agent's Prometheus endpoint (metrics.c). */
#ifndef QLB_METRICS_H
#define QLB_METRICS_H

#include <stdint.h>

#include "forecaster.h"
#include "state.h"
#include "stats.h"

/* What the agent publishes per VIP besides the per-backend estimates. */
struct qlb_vip_report {
	uint32_t vip_id;
	int valid;
	struct qlb_forecast_info fi;
	const struct qlb_scaler *sc;
	double churn_pct;
};
struct qlb_metrics_server;

/* 0 if s is "none", "ADDR:PORT" or "[ADDR6]:PORT"; -EINVAL otherwise. */
int qlb_metrics_parse_listen(const char *s);
int qlb_metrics_start(const char *listen, struct qlb_metrics_server **out);
/* Replaces the exposition with one built from this window's state. */
void qlb_metrics_publish(struct qlb_metrics_server *m, struct qlb_state *st,
			 const struct qlb_stats_snapshot *snap, double window_cost_s,
			 uint64_t windows, const struct qlb_vip_report *vips);
void qlb_metrics_stop(struct qlb_metrics_server *m);

#endif /* QLB_METRICS_H */
