/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * NAT: a request's destination becomes the backend's address and port, a
 * response's source the VIP again, with the IPv4 and L4 checksums fixed
 * incrementally (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')). One's-complement
 * sums are byte-order independent, so packet words are summed as they lie
 * in memory. No helper call: this is on every forwarded packet.
 */
#ifndef QLB_NAT_BPF_H
#define QLB_NAT_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "qlb_abi.h"
#include "qlb_maps.bpf.h"
#include "qlb_parse.bpf.h"
#include "qlb_stats.bpf.h"

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

/* Rewrites one address and port, fixing the IPv4 and L4 checksums. */
static __always_inline void rewrite_endpoint(struct packet *p, __be32 *addr,
					     __be16 *port,
					     const union qlb_addr *new_addr,
					     __be16 new_port)
{
	__u32 acc;

	/* Only IPv4 has a header checksum; its pointer marks the family in a
	 * way the verifier can follow. */
	if (p->ip_check) {
		acc = csum_acc32(0, *addr, new_addr->v4);
		*p->ip_check = csum_apply(*p->ip_check, acc);
		*addr = new_addr->v4;
	} else {
		/* The verifier does not tie the family to the header it came
		 * from, so it needs the IPv6 bound restated here. */
		if ((void *)(addr + 4) > p->data_end)
			return;
		acc = csum_acc128(0, addr, new_addr->v6);
		__builtin_memcpy(addr, new_addr->v6, 16);
	}
	acc = csum_acc16(acc, *port, new_port);
	*port = new_port;
	if (p->l4_check) {
		__u16 c = csum_apply(*p->l4_check, acc);

		/* In UDP, 0 means "no checksum"; its one's-complement twin is 0xffff. */
		if (!c && p->proto == IPPROTO_UDP)
			c = 0xffff;
		*p->l4_check = c;
	}
}

static __always_inline int transmit(struct xdp_md *ctx, __u32 ifindex,
				    enum qlb_reason reason, __u32 bytes)
{
	int ret;

	if (ifindex == ctx->ingress_ifindex) {
		count_reason(reason, bytes);
		return XDP_TX;
	}
	ret = bpf_redirect_map(&tx_ports, ifindex, XDP_DROP);
	count_reason(ret == XDP_REDIRECT ? reason : QLB_R_DROP_NO_TX_PORT, bytes);
	return ret;
}

static __always_inline int forward(struct xdp_md *ctx, struct packet *p,
				   const struct qlb_backend *be)
{
	rewrite_endpoint(p, p->daddr, p->dport, &be->addr,
			 be->port ? be->port : *p->dport);
	__builtin_memcpy(p->eth->h_dest, be->dmac, 6);
	__builtin_memcpy(p->eth->h_source, be->smac, 6);
	return transmit(ctx, be->ifindex, QLB_R_FWD_TO_BACKEND, p->bytes);
}

#endif /* QLB_NAT_BPF_H */
