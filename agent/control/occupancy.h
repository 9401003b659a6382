/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Occupancy: how long each backend had flows open, sampled from the data
 * plane's live counts (backend_active, mapped) by a thread of its own. The
 * window's counters say how many flows a backend finished, not for how much
 * of the window it was working; this integral, min(open flows, servers)
 * over time, is that "busy time", from which the utilisation law gives a
 * capacity without a usage source (sedq.c). Reading the mapped counts is a
 * load per backend, so sampling every millisecond costs next to nothing,
 * and it runs off the window's path: a window reads the integrals only.
 */
#ifndef QLB_OCCUPANCY_H
#define QLB_OCCUPANCY_H

#include <stdint.h>

#include "state.h"

struct qlb_occupancy;

/* Starts sampling st's counts every period_s for backend ids below
 * qlb_occupancy_set_span's bound (none until it is called), counting at
 * most servers flows of a backend as busy. st must outlive it. Returns 0
 * or -errno. */
int qlb_occupancy_start(const struct qlb_state *st, uint32_t servers, double period_s,
			struct qlb_occupancy **out);
/* Sample ids [0, span) from now on. */
void qlb_occupancy_set_span(struct qlb_occupancy *o, uint32_t span);
/* Busy server-nanoseconds of backend id since the start (monotonic). */
uint64_t qlb_occupancy_busy_ns(const struct qlb_occupancy *o, uint32_t id);
/* Stops the thread and frees; NULL is a no-op. */
void qlb_occupancy_stop(struct qlb_occupancy *o);

#endif /* QLB_OCCUPANCY_H */
