/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The data plane's counters, summed over CPUs (stats.c). */
#ifndef QLB_STATS_H
#define QLB_STATS_H

#include <stdint.h>

#include "state.h"

struct qlb_stats_snapshot {
	/* flows_expired includes the flows the GC deleted (backend_gc), so
	 * that completions = flows_closed + flows_expired everywhere. */
	struct qlb_backend_stats be[QLB_MAX_BACKENDS];
	uint64_t active[QLB_MAX_BACKENDS];	/* backend_active, clamped at 0 */
	/* Open flows that left the table unseen (backend_gc): with closed and
	 * expired, active = flows_new - (closed + expired + evicted). */
	uint64_t evicted[QLB_MAX_BACKENDS];
	uint64_t event[QLB_EV_MAX];
	uint32_t flooding_cpus;	/* CPUs in flood mode now */
	struct qlb_vip_stats vip[QLB_MAX_VIPS];
	struct qlb_reason_stats reason[QLB_R_MAX];
	double at;		/* CLOCK_MONOTONIC seconds */
	/* qlb_stats_read's own: be[], active[] and vip[] are zero from
	 * these on, so that a read zeroes only what the last one filled. */
	uint32_t be_hi, vip_hi;
};

/* Reads the counters into snap, which starts zeroed (calloc) and is then
 * only ever passed here. */
int qlb_stats_read(struct qlb_state *st, struct qlb_stats_snapshot *snap);
const char *qlb_reason_name(enum qlb_reason r);
const char *qlb_event_name(enum qlb_event e);
/* Backend id's open flows by its counters: flows_new less closed, expired
 * and evicted, never below 0. */
uint64_t qlb_flows_open(const struct qlb_stats_snapshot *snap, uint32_t id);
/* Percentile (0..100) of a response-time histogram, in microseconds. */
double qlb_rt_percentile_us(const __u64 *hist, double pct);

#endif /* QLB_STATS_H */
