/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Flood mode: when new flows without proof of a client behind them (SYNs,
 * the first packets of UDP flows) arrive faster than syn_flood_per_epoch,
 * or the half-open table is full, this CPU keeps no state for them for
 * QLB_FLOOD_HOLD_EPOCHS: they go to the ring, which any later packet of
 * theirs reaches again, at the cost of a few lookups and no insert.
 */
#ifndef QLB_FLOOD_BPF_H
#define QLB_FLOOD_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "qlb_abi.h"
#include "qlb_maps.bpf.h"
#include "qlb_stats.bpf.h"

/* New unverified flows per CPU and epoch above which the CPU floods: set by
 * the loader from the operator's rate per second. */
const volatile __u64 syn_flood_per_epoch = 2684;

static __always_inline struct qlb_flood *flood_of_cpu(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&flood_state, &zero);
}

static __always_inline void flood_enter(struct qlb_flood *f, __u64 epoch)
{
	if (f->until_epoch < epoch)
		count_event(QLB_EV_FLOOD_ENTERED);
	if (f->until_epoch < epoch + QLB_FLOOD_HOLD_EPOCHS)
		f->until_epoch = epoch + QLB_FLOOD_HOLD_EPOCHS;
}

/* Counts one unverified new flow; whether this CPU is in flood mode. */
static __always_inline int flood_note(__u64 now)
{
	struct qlb_flood *f = flood_of_cpu();
	__u64 epoch = now >> QLB_FLOOD_EPOCH_SHIFT;

	if (!f)
		return 0;
	if (f->epoch != epoch) {
		f->epoch = epoch;
		f->count = 0;
	}
	if (++f->count > syn_flood_per_epoch)
		flood_enter(f, epoch);
	return f->until_epoch >= epoch;
}

static __always_inline int flooding(__u64 now)
{
	struct qlb_flood *f = flood_of_cpu();

	return f && f->until_epoch >= now >> QLB_FLOOD_EPOCH_SHIFT;
}

/* An insert into the half-open table failed: it is full. */
static __always_inline void flood_table_full(__u64 now)
{
	struct qlb_flood *f = flood_of_cpu();

	if (f)
		flood_enter(f, now >> QLB_FLOOD_EPOCH_SHIFT);
}

#endif /* QLB_FLOOD_BPF_H */
