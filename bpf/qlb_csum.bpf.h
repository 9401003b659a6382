/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Incremental Internet checksum update (RFC 1624, eqn. 3: HC' = ~(~HC + ~m
 * + m')). One's-complement sums are byte-order independent, so packet words
 * are summed as they lie in memory. No helper call: this is on every
 * forwarded packet. */
#ifndef QLB_CSUM_BPF_H
#define QLB_CSUM_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* Accumulates ~old + new for one 16-bit word. */
static __always_inline __u32 csum_acc16(__u32 acc, __u16 old, __u16 new)
{
	return acc + (__u16)~old + new;
}

static __always_inline __u32 csum_acc32(__u32 acc, __u32 old, __u32 new)
{
	acc = csum_acc16(acc, old & 0xffff, new & 0xffff);
	return csum_acc16(acc, old >> 16, new >> 16);
}

static __always_inline __u32 csum_acc128(__u32 acc, const __u32 *old,
					 const __u32 *new)
{
	acc = csum_acc32(acc, old[0], new[0]);
	acc = csum_acc32(acc, old[1], new[1]);
	acc = csum_acc32(acc, old[2], new[2]);
	return csum_acc32(acc, old[3], new[3]);
}

/* Applies an accumulated delta to a checksum field. */
static __always_inline __u16 csum_apply(__u16 check, __u32 acc)
{
	acc += (__u16)~check;
	acc = (acc & 0xffff) + (acc >> 16);
	acc = (acc & 0xffff) + (acc >> 16);
	return (__u16)~acc;
}

#endif /* QLB_CSUM_BPF_H */
