// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Restoring harness for `make bench`. BPF_PROG_TEST_RUN with `repeat` does
 * not reset the packet between runs, so a program that rewrites it would be
 * measured on its own output. This program first copies the pristine frame
 * back over the packet, optionally makes it a new flow, and then tail-calls
 * the program under test. A run with an empty target ("restore only") gives
 * the harness's own cost, subtracted from the others.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define BENCH_FRAME_WORDS 10	/* 80-byte frames: Ethernet + IPv6 + TCP fit */

struct bench_frame {
	__u64 words[BENCH_FRAME_WORDS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bench_frame);
} pristine SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} flow_counter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} target SEC(".maps");

/* Byte offset of a 32-bit field to overwrite per run so that every run is
 * a new flow (the IPv4 source address); 0 keeps the flow. */
const volatile __u32 vary_offset = 0;

SEC("xdp")
int bench_harness(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bench_frame *f, *pkt = data;
	__u32 zero = 0, *n;
	int i;

	if ((void *)(pkt + 1) > data_end)
		return XDP_ABORTED;
	f = bpf_map_lookup_elem(&pristine, &zero);
	if (!f)
		return XDP_ABORTED;
	for (i = 0; i < BENCH_FRAME_WORDS; i++)
		pkt->words[i] = f->words[i];
	if (vary_offset && vary_offset + 4 <= sizeof(*pkt)) {
		n = bpf_map_lookup_elem(&flow_counter, &zero);
		if (n) {
			__u32 v = ++*n;

			__builtin_memcpy((__u8 *)pkt + (vary_offset & 0x3f), &v, 4);
		}
	}
	bpf_tail_call(ctx, &target, 0);
	return XDP_TX;	/* empty target: the harness alone */
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
