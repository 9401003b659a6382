/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * ICMP and ICMPv6 for VIPs. Echo requests to a VIP are answered here, at
 * most icmp_reply_rate a second per CPU. Errors about a VIP's flows are
 * translated both ways, so that they reach the end that can act on them:
 *   - to the VIP (a router on the client's side could not carry a reply
 *     the VIP sent): the quoted reply gets its backend's address and port
 *     back, the error goes to that backend, which sent the reply; without
 *     this a "fragmentation needed" or "packet too big" never reaches the
 *     backend, and its large replies vanish (the PMTU black hole);
 *   - to a client (a router on the backend's side could not carry a request
 *     forwarded to a backend): the quoted request gets the VIP back.
 * The quoted IPv4 header's checksum, the quoted TCP or UDP checksum when
 * the quote holds it, the ICMP checksum and the outer IPv4 checksum are
 * fixed incrementally.
 */
#ifndef QLB_ICMP_BPF_H
#define QLB_ICMP_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "qlb_abi.h"
#include "qlb_maps.bpf.h"
#include "qlb_parse.bpf.h"
#include "qlb_stats.bpf.h"
#include "qlb_flow.bpf.h"
#include "qlb_nat.bpf.h"

#define ICMP_ECHOREPLY		0
#define ICMP_DEST_UNREACH	3
#define ICMP_ECHO		8
#define ICMP_TIME_EXCEEDED	11
#define ICMP_PARAMETERPROB	12
#define ICMPV6_DEST_UNREACH	1
#define ICMPV6_PKT_TOOBIG	2
#define ICMPV6_TIME_EXCEED	3
#define ICMPV6_PARAMPROB	4
#define ICMPV6_ECHO_REQUEST	128
#define ICMPV6_ECHO_REPLY	129
#define QLB_ICMP_REPLY_TTL	64

/* Echo replies per CPU and second; set by the loader. */
const volatile __u64 icmp_reply_rate = 1000;

static __always_inline int is_vip_addr(const struct packet *p)
{
	struct qlb_addr_key k = { .family = p->family };

	vip_addr_of(p, &k.addr);
	return bpf_map_lookup_elem(&vip_addrs, &k) != NULL;
}

/* One reply out of this CPU's budget for the current second. */
static __always_inline int icmp_budget_take(__u64 now)
{
	__u32 zero = 0;
	struct icmp_budget *b = bpf_map_lookup_elem(&icmp_budget, &zero);
	__u64 second = now / NSEC_PER_SEC;

	if (!b)
		return 0;
	if (b->second != second) {
		b->second = second;
		b->sent = 0;
	}
	if (b->sent >= icmp_reply_rate)
		return 0;
	b->sent++;
	return 1;
}

/* Sets the ICMP type, fixing the checksum for the first 16-bit word. */
static __always_inline void icmp_set_type(struct packet *p, __u8 type)
{
	__u16 old = *(__u16 *)p->icmp, new;

	p->icmp[0] = type;
	new = *(__u16 *)p->icmp;
	*p->l4_check = csum_apply(*p->l4_check, csum_acc16(0, old, new));
}

/* The echo request p, turned around into its reply. */
static __always_inline int echo_reply(struct packet *p, __u64 now)
{
	__u8 mac[6];

	if (!icmp_budget_take(now)) {
		count_reason(QLB_R_DROP_ICMP_RATE, p->bytes);
		return XDP_DROP;
	}
	__builtin_memcpy(mac, p->eth->h_source, 6);
	__builtin_memcpy(p->eth->h_source, p->eth->h_dest, 6);
	__builtin_memcpy(p->eth->h_dest, mac, 6);
	if (p->family == QLB_FAMILY_V4) {
		struct iphdr *ip = p->l3;
		__be32 a;
		__u16 old, new;

		if ((void *)(ip + 1) > p->data_end)
			return XDP_PASS;
		/* Swapped addresses leave the header's sum as it was. */
		a = ip->saddr;
		ip->saddr = ip->daddr;
		ip->daddr = a;
		old = *(__u16 *)&ip->ttl;
		ip->ttl = QLB_ICMP_REPLY_TTL;
		new = *(__u16 *)&ip->ttl;
		ip->check = csum_apply(ip->check, csum_acc16(0, old, new));
		icmp_set_type(p, ICMP_ECHOREPLY);
	} else {
		struct ipv6hdr *ip6 = p->l3;
		struct in6_addr a;

		if ((void *)(ip6 + 1) > p->data_end)
			return XDP_PASS;
		/* ICMPv6's pseudo-header sums the two addresses: a swap
		 * changes nothing. */
		a = ip6->saddr;
		ip6->saddr = ip6->daddr;
		ip6->daddr = a;
		ip6->hop_limit = QLB_ICMP_REPLY_TTL;
		icmp_set_type(p, ICMPV6_ECHO_REPLY);
	}
	count_reason(QLB_R_ICMP_ECHO_REPLY, p->bytes);
	return XDP_TX;
}

static __always_inline int icmp_is_error(const struct packet *p)
{
	__u8 t = p->icmp[0];

	if (p->family == QLB_FAMILY_V4)
		return t == ICMP_DEST_UNREACH || t == ICMP_TIME_EXCEEDED || t == ICMP_PARAMETERPROB;
	return t == ICMPV6_DEST_UNREACH || t == ICMPV6_PKT_TOOBIG || t == ICMPV6_TIME_EXCEED ||
	       t == ICMPV6_PARAMPROB;
}

/* Where the quoted packet's rewritable fields are. */
struct quote {
	__be32 *saddr, *daddr;	/* 1 or 4 words */
	__be16 *ports;		/* [0] source, [1] destination */
	__sum16 *ip_check;	/* IPv4 only */
	__sum16 *l4_check;	/* if the quote holds it (and, UDP over IPv4, it is set) */
	__u8 proto;
};

/* Finds the quoted IP header and the first 8 bytes of its TCP or UDP
 * header: 0, or the reason to pass the packet. */
static __always_inline int parse_quote(const struct packet *p, struct quote *q)
{
	void *data_end = p->data_end, *l4;
	__u8 *inner = p->icmp + QLB_ICMP_HLEN;

	if (p->family == QLB_FAMILY_V4) {
		struct iphdr *ip = (void *)inner;

		if ((void *)(ip + 1) > data_end || ip->version != 4 || ip->ihl != 5)
			return QLB_R_BAD_ICMP;
		q->proto = ip->protocol;
		q->saddr = &ip->saddr;
		q->daddr = &ip->daddr;
		q->ip_check = &ip->check;
		l4 = ip + 1;
	} else {
		struct ipv6hdr *ip6 = (void *)inner;

		if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
			return QLB_R_BAD_ICMP;
		q->proto = ip6->nexthdr;
		q->saddr = (__be32 *)&ip6->saddr;
		q->daddr = (__be32 *)&ip6->daddr;
		q->ip_check = NULL;
		l4 = ip6 + 1;
	}
	if (q->proto != IPPROTO_TCP && q->proto != IPPROTO_UDP)
		return QLB_R_PASS_NOT_L4;
	if (l4 + 8 > data_end)
		return QLB_R_BAD_ICMP;
	q->ports = l4;
	q->l4_check = NULL;
	if (q->proto == IPPROTO_TCP && l4 + 18 <= data_end)
		q->l4_check = l4 + 16;
	else if (q->proto == IPPROTO_UDP && (p->family == QLB_FAMILY_V6 || *(__u16 *)(l4 + 6)))
		q->l4_check = l4 + 6;
	return 0;
}

/* The flow-table key of the entry that knows the quoted packet: swapped
 * end for end (the quote went the other way from the one it is keyed by). */
static __always_inline void quote_key(const struct packet *p, const struct quote *q,
				      union flow_key *k)
{
	if (p->family == QLB_FAMILY_V4) {
		k->k4.saddr = *q->daddr;
		k->k4.daddr = *q->saddr;
		k->k4.sport = q->ports[1];
		k->k4.dport = q->ports[0];
		k->k4.proto = q->proto;
	} else {
		__builtin_memcpy(k->k6.saddr, q->daddr, 16);
		__builtin_memcpy(k->k6.daddr, q->saddr, 16);
		k->k6.sport = q->ports[1];
		k->k6.dport = q->ports[0];
		k->k6.proto = q->proto;
	}
}

/* Rewrites one address and port of the quote, fixing its checksums; the
 * change to the bytes the ICMP checksum covers is added to *icmp_acc. */
static __always_inline void quote_rewrite(const struct packet *p, const struct quote *q,
					  __be32 *addr, __be16 *port,
					  const union qlb_addr *new_addr, __be16 new_port,
					  __u32 *icmp_acc)
{
	__u32 acc_addr, acc;

	if (p->family == QLB_FAMILY_V4) {
		acc_addr = csum_acc32(0, *addr, new_addr->v4);
		*addr = new_addr->v4;
	} else {
		if ((void *)(addr + 4) > p->data_end)
			return;
		acc_addr = csum_acc128(0, addr, new_addr->v6);
		__builtin_memcpy(addr, new_addr->v6, 16);
	}
	acc = csum_acc16(acc_addr, *port, new_port);
	*port = new_port;
	*icmp_acc += acc;
	if (q->l4_check) {
		__u16 old = *q->l4_check, new = csum_apply(old, acc);

		if (!new && q->proto == IPPROTO_UDP)
			new = 0xffff;
		*q->l4_check = new;
		*icmp_acc = csum_acc16(*icmp_acc, old, new);
	}
	if (q->ip_check) {
		__u16 old = *q->ip_check, new = csum_apply(old, acc_addr);

		*q->ip_check = new;
		*icmp_acc = csum_acc16(*icmp_acc, old, new);
	}
}

static __always_inline struct qlb_flow *flow_of_key(__u8 family, const union flow_key *k)
{
	if (family == QLB_FAMILY_V4)
		return bpf_map_lookup_elem(&flows_v4, &k->k4);
	return bpf_map_lookup_elem(&flows_v6, &k->k6);
}

/* Folds a 32-bit one's-complement accumulator to 16 bits, so that sums of
 * many deltas cannot overflow it. */
static __always_inline __u32 csum_fold32(__u32 acc)
{
	acc = (acc & 0xffff) + (acc >> 16);
	return (acc & 0xffff) + (acc >> 16);
}

/*
 * An ICMP error about a flow of ours. to_vip: it is addressed to a VIP, and
 * quotes a reply the VIP sent to a client; else it is on its way to a
 * client and quotes a request we forwarded to a backend.
 */
static __always_inline int icmp_error(struct xdp_md *ctx, struct packet *p, int to_vip)
{
	union flow_key k = {};
	struct qlb_backend *be;
	struct qlb_flow *f;
	struct quote q;
	__u32 acc = 0;
	int reason = parse_quote(p, &q);

	if (reason) {
		/* Malformed only if it was meant for us. */
		if (!to_vip)
			reason = QLB_R_PASS_NOT_VIP;
		count_reason(reason, p->bytes);
		return XDP_PASS;
	}
	quote_key(p, &q, &k);
	f = flow_of_key(p->family, &k);
	if (!f || !!(f->flags & QLB_FLOW_F_RESPONSE) == to_vip) {
		count_reason(to_vip ? QLB_R_PASS_NOT_L4 : QLB_R_PASS_NOT_VIP, p->bytes);
		return XDP_PASS;
	}
	if (!to_vip) {
		/* The quoted request went to the backend: it gets the VIP back. */
		quote_rewrite(p, &q, q.daddr, &q.ports[1], &f->vip_addr, f->vip_port, &acc);
		*p->l4_check = csum_apply(*p->l4_check, csum_fold32(acc));
		__builtin_memcpy(p->eth->h_dest, f->client_mac, 6);
		__builtin_memcpy(p->eth->h_source, f->lb_mac, 6);
		return transmit(ctx, f->client_ifindex, QLB_R_ICMP_TO_CLIENT, p->bytes);
	}
	be = bpf_map_lookup_elem(&backends, &f->backend_id);
	if (!be || !(be->flags & QLB_BE_F_IN_USE)) {
		count_reason(QLB_R_PASS_NOT_L4, p->bytes);
		return XDP_PASS;
	}
	/* The quoted reply came from the backend: its address and port back,
	 * and the error goes to it. */
	quote_rewrite(p, &q, q.saddr, &q.ports[0], &be->addr, be->port ? be->port : q.ports[0],
		      &acc);
	/* The header checksum's pointer marks IPv4 in a way the verifier
	 * follows (as in rewrite_endpoint). */
	if (p->ip_check) {
		*p->ip_check = csum_apply(*p->ip_check, csum_acc32(0, *p->daddr, be->addr.v4));
		*p->daddr = be->addr.v4;
	} else {
		/* The outer destination is in ICMPv6's pseudo-header. */
		if ((void *)(p->daddr + 4) > p->data_end)
			return XDP_PASS;
		acc = csum_acc128(csum_fold32(acc), p->daddr, be->addr.v6);
		__builtin_memcpy(p->daddr, be->addr.v6, 16);
	}
	*p->l4_check = csum_apply(*p->l4_check, csum_fold32(acc));
	__builtin_memcpy(p->eth->h_dest, be->dmac, 6);
	__builtin_memcpy(p->eth->h_source, be->smac, 6);
	return transmit(ctx, be->ifindex, QLB_R_ICMP_TO_BACKEND, p->bytes);
}

/* An ICMP (ICMPv6) packet: ours if it is addressed to a VIP or is an error
 * about one of our flows; anything else goes to the kernel untouched. */
static __noinline int qlb_icmp(struct xdp_md *ctx, struct packet *p)
{
	int to_vip = is_vip_addr(p);
	__u8 type = p->icmp[0];

	if (to_vip && type == (p->family == QLB_FAMILY_V4 ? ICMP_ECHO : ICMPV6_ECHO_REQUEST))
		return echo_reply(p, coarse_now_ns());
	if (icmp_is_error(p))
		return icmp_error(ctx, p, to_vip);
	count_reason(QLB_R_PASS_NOT_L4, p->bytes);
	return XDP_PASS;
}

#endif /* QLB_ICMP_BPF_H */
