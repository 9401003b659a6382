/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The data plane's counters: per reason, per event, per backend (per CPU,
 * no atomics). */
#ifndef QLB_STATS_BPF_H
#define QLB_STATS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "qlb_abi.h"
#include "qlb_maps.bpf.h"

static __always_inline void count_reason(enum qlb_reason reason, __u32 bytes)
{
	__u32 key = reason;
	struct qlb_reason_stats *s = bpf_map_lookup_elem(&reason_stats, &key);

	if (s) {
		s->packets++;
		s->bytes += bytes;
	}
}

static __always_inline void count_event(enum qlb_event event)
{
	__u32 key = event;
	__u64 *n = bpf_map_lookup_elem(&event_stats, &key);

	if (n)
		(*n)++;
}

/* This CPU's counters of a backend. */
static __always_inline struct qlb_backend_stats *backend_stats_of(__u32 backend_id)
{
	__u32 key;

	if (backend_id >= QLB_MAX_BACKENDS)
		return NULL;
	key = QLB_BE_STATS_KEY(bpf_get_smp_processor_id(), backend_id);
	return bpf_map_lookup_elem(&backend_stats, &key);
}

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0;

	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) r += 1;
	return r;
}

static __always_inline void record_response_time(struct qlb_backend_stats *s,
						 __u64 rt_ns)
{
	__u32 bucket = log2_u64((rt_ns >> 10) | 1);

	if (bucket >= QLB_RT_BUCKETS)
		bucket = QLB_RT_BUCKETS - 1;
	s->rt_count++;
	s->rt_sum_ns += rt_ns;
	s->rt_hist[bucket]++;
}

#endif /* QLB_STATS_BPF_H */
