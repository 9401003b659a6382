// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Reference for `make bench`: the least a forwarding XDP program does (parse
 * Ethernet/IPv4/TCP, swap MACs, XDP_TX), measured in the same run as qlb so
 * the ratio survives a noisy machine. Uses qlb's own parsers. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "qlb_parse.bpf.h"

SEC("xdp")
int ref_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct hdr_cursor c = { .pos = data };
	struct ethhdr *eth;
	struct iphdr *ip;
	int vlan_bad = 0;
	__u8 tmp[6];

	if (parse_ethhdr(&c, data_end, &eth, &vlan_bad) != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ip = parse_iphdr(&c, data_end);
	if (!ip || ip->ihl != 5 || ip->protocol != IPPROTO_TCP)
		return XDP_PASS;
	c.pos = ip + 1;
	if (!parse_tcphdr(&c, data_end))
		return XDP_DROP;
	__builtin_memcpy(tmp, eth->h_source, 6);
	__builtin_memcpy(eth->h_source, eth->h_dest, 6);
	__builtin_memcpy(eth->h_dest, tmp, 6);
	return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
