/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Cursor-style header parsers: each checks `p + 1 > data_end` before it
 * touches a header and advances the cursor past it. */
#ifndef QLB_PARSE_BPF_H
#define QLB_PARSE_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "qlb_abi.h"

/* vmlinux.h carries types, not macros. */
#define ETH_P_IP	0x0800
#define ETH_P_IPV6	0x86DD
#define ETH_P_8021Q	0x8100
#define ETH_P_8021AD	0x88A8
#define IPPROTO_HOPOPTS	0
#define IPPROTO_ICMP	1
#define IPPROTO_TCP	6
#define IPPROTO_UDP	17
#define IPPROTO_ICMPV6	58
#define IPPROTO_ROUTING	43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_DSTOPTS	60
#define IP_MF		0x2000
#define IP_OFFSET	0x1FFF

/* IPv6 extension headers skipped before giving up on a packet. */
#define QLB_MAX_IPV6_EXT 4

struct hdr_cursor {
	void *pos;
};

struct ipv6_opt_hdr_min {
	__u8 nexthdr;
	__u8 hdrlen;
};

/* Returns the EtherType in network order, or -1 if truncated. *vlan_bad is
 * set when the Ethernet header was fine but the 802.1Q tag was cut. */
static __always_inline int parse_ethhdr(struct hdr_cursor *c, void *data_end,
					struct ethhdr **eth, int *vlan_bad)
{
	struct ethhdr *e = c->pos;
	struct vlan_hdr *v;
	__be16 proto;

	if ((void *)(e + 1) > data_end)
		return -1;
	c->pos = e + 1;
	*eth = e;
	proto = e->h_proto;
	if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
		return proto;
	v = c->pos;
	if ((void *)(v + 1) > data_end) {
		*vlan_bad = 1;
		return -1;
	}
	c->pos = v + 1;
	return v->h_vlan_encapsulated_proto;
}

static __always_inline struct iphdr *parse_iphdr(struct hdr_cursor *c,
						 void *data_end)
{
	struct iphdr *ip = c->pos;

	if ((void *)(ip + 1) > data_end)
		return NULL;
	return ip;
}

static __always_inline struct ipv6hdr *parse_ipv6hdr(struct hdr_cursor *c,
						     void *data_end)
{
	struct ipv6hdr *ip6 = c->pos;

	if ((void *)(ip6 + 1) > data_end)
		return NULL;
	c->pos = ip6 + 1;
	return ip6;
}

enum ipv6_ext_result {
	IPV6_EXT_OK,
	IPV6_EXT_TRUNCATED,
	IPV6_EXT_FRAGMENT,
	IPV6_EXT_TOO_MANY,
};

/* Skips hop-by-hop, routing and destination-options headers; *nexthdr ends
 * on the upper-layer protocol. */
static __always_inline enum ipv6_ext_result
skip_ipv6_ext(struct hdr_cursor *c, void *data_end, __u8 *nexthdr)
{
	struct ipv6_opt_hdr_min *opt;
	int i;

	for (i = 0; i < QLB_MAX_IPV6_EXT; i++) {
		switch (*nexthdr) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			break;
		case IPPROTO_FRAGMENT:
			return IPV6_EXT_FRAGMENT;
		default:
			return IPV6_EXT_OK;
		}
		opt = c->pos;
		if ((void *)(opt + 1) > data_end)
			return IPV6_EXT_TRUNCATED;
		if (c->pos + (opt->hdrlen + 1) * 8 > data_end)
			return IPV6_EXT_TRUNCATED;
		*nexthdr = opt->nexthdr;
		c->pos += (opt->hdrlen + 1) * 8;
	}
	switch (*nexthdr) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_DSTOPTS:
		return IPV6_EXT_TOO_MANY;
	case IPPROTO_FRAGMENT:
		return IPV6_EXT_FRAGMENT;
	}
	return IPV6_EXT_OK;
}

/* The TCP header including options must be inside the packet. */
static __always_inline struct tcphdr *parse_tcphdr(struct hdr_cursor *c,
						   void *data_end)
{
	struct tcphdr *th = c->pos;
	__u32 len;

	if ((void *)(th + 1) > data_end)
		return NULL;
	len = th->doff * 4;
	if (len < sizeof(*th) || c->pos + len > data_end)
		return NULL;
	c->pos += len;
	return th;
}

static __always_inline struct udphdr *parse_udphdr(struct hdr_cursor *c,
						   void *data_end)
{
	struct udphdr *uh = c->pos;

	if ((void *)(uh + 1) > data_end)
		return NULL;
	if (bpf_ntohs(uh->len) < sizeof(*uh))
		return NULL;
	c->pos = uh + 1;
	return uh;
}

/* The flags byte of a TCP header. */
#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

/* A flow-table key of either family. */
union flow_key {
	struct qlb_flow4_key k4;
	struct qlb_flow6_key k6;
};

/* What the stages after the parse need of a packet: its 5-tuple as on the
 * wire (the flow-table key), and where to rewrite it. */
struct packet {
	union flow_key key;		/* the 5-tuple as on the wire */
	__u8 family;
	__u8 proto;
	__u8 tcp_flags;
	struct ethhdr *eth;
	void *l3;			/* the IP header */
	void *data_end;
	__be32 *saddr;			/* point into the IP header */
	__be32 *daddr;
	__sum16 *ip_check;		/* IPv4 only */
	__sum16 *l4_check;		/* NULL: no L4 checksum (UDP over IPv4, 0) */
	__be16 *sport;
	__be16 *dport;
	struct tcphdr *th;		/* TCP only */
	__u8 *icmp;			/* ICMP or ICMPv6 only: its 8-byte header */
	__u32 payload_len;
	__u32 bytes;
};

/* Not reasons: the parse found a TCP or UDP packet for the stages after it,
 * or an ICMP (ICMPv6) one with its 8-byte header. Every other result is the
 * enum qlb_reason the packet is counted under. */
#define QLB_PARSED (-1)
#define QLB_PARSED_ICMP (-2)
#define QLB_ICMP_HLEN 8

/* Parses L4 at the cursor. ip_payload is what the IP header says follows it. */
static __always_inline int parse_l4(struct hdr_cursor *c, void *data_end,
				    struct packet *p, __u8 proto, __u32 ip_payload)
{
	void *l4 = c->pos;

	p->proto = proto;
	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = parse_tcphdr(c, data_end);
		__u32 hlen;

		if (!th)
			return QLB_R_BAD_TCP;
		hlen = c->pos - l4;
		if (hlen > ip_payload)
			return QLB_R_BAD_TCP;
		p->payload_len = ip_payload - hlen;
		p->tcp_flags = ((__u8 *)th)[13];
		p->th = th;
		p->sport = &th->source;
		p->dport = &th->dest;
		p->l4_check = &th->check;
	} else if (proto == IPPROTO_UDP) {
		struct udphdr *uh = parse_udphdr(c, data_end);
		__u32 ulen;

		if (!uh)
			return QLB_R_BAD_UDP;
		ulen = bpf_ntohs(uh->len);
		if (ulen > ip_payload)
			return QLB_R_BAD_UDP;
		p->payload_len = ulen - sizeof(*uh);
		p->sport = &uh->source;
		p->dport = &uh->dest;
		p->l4_check = (p->family == QLB_FAMILY_V4 && !uh->check) ? NULL : &uh->check;
	} else if ((proto == IPPROTO_ICMP && p->family == QLB_FAMILY_V4) ||
		   (proto == IPPROTO_ICMPV6 && p->family == QLB_FAMILY_V6)) {
		if (l4 + QLB_ICMP_HLEN > data_end || ip_payload < QLB_ICMP_HLEN)
			return QLB_R_PASS_NOT_L4;
		p->icmp = l4;
		p->payload_len = ip_payload - QLB_ICMP_HLEN;
		p->l4_check = (__sum16 *)(l4 + 2);
		return QLB_PARSED_ICMP;
	} else {
		return QLB_R_PASS_NOT_L4;
	}
	if (p->family == QLB_FAMILY_V4) {
		p->key.k4.sport = *p->sport;
		p->key.k4.dport = *p->dport;
		p->key.k4.proto = proto;
	} else {
		p->key.k6.sport = *p->sport;
		p->key.k6.dport = *p->dport;
		p->key.k6.proto = proto;
	}
	return QLB_PARSED;
}

static __always_inline int parse_ipv4(struct hdr_cursor *c, void *data_end,
				      struct packet *p)
{
	struct iphdr *ip = parse_iphdr(c, data_end);
	__u32 tot_len;

	if (!ip)
		return QLB_R_BAD_IPV4;
	tot_len = bpf_ntohs(ip->tot_len);
	if (ip->version != 4 || ip->ihl < 5 || tot_len < ip->ihl * 4 ||
	    (void *)ip + tot_len > data_end)
		return QLB_R_BAD_IPV4;
	if (ip->ihl != 5)
		return QLB_R_PASS_IPV4_OPTIONS;
	if (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return QLB_R_PASS_IPV4_FRAG;
	c->pos = ip + 1;

	p->family = QLB_FAMILY_V4;
	p->l3 = ip;
	p->key.k4.saddr = ip->saddr;
	p->key.k4.daddr = ip->daddr;
	p->saddr = &ip->saddr;
	p->daddr = &ip->daddr;
	p->ip_check = &ip->check;
	return parse_l4(c, data_end, p, ip->protocol, tot_len - sizeof(*ip));
}

static __always_inline int parse_ipv6(struct hdr_cursor *c, void *data_end,
				      struct packet *p)
{
	struct ipv6hdr *ip6 = parse_ipv6hdr(c, data_end);
	__u32 payload, ext_len;
	__u8 nexthdr;

	if (!ip6)
		return QLB_R_BAD_IPV6;
	payload = bpf_ntohs(ip6->payload_len);
	if (ip6->version != 6 || (void *)(ip6 + 1) + payload > data_end)
		return QLB_R_BAD_IPV6;
	nexthdr = ip6->nexthdr;
	switch (skip_ipv6_ext(c, data_end, &nexthdr)) {
	case IPV6_EXT_OK:
		break;
	case IPV6_EXT_FRAGMENT:
		return QLB_R_PASS_IPV6_FRAG;
	case IPV6_EXT_TOO_MANY:
		return QLB_R_PASS_IPV6_EXT;
	default:
		return QLB_R_BAD_IPV6;
	}
	ext_len = c->pos - (void *)(ip6 + 1);
	if (ext_len > payload)
		return QLB_R_BAD_IPV6;

	p->family = QLB_FAMILY_V6;
	p->l3 = ip6;
	__builtin_memcpy(p->key.k6.saddr, &ip6->saddr, 16);
	__builtin_memcpy(p->key.k6.daddr, &ip6->daddr, 16);
	p->saddr = (__be32 *)&ip6->saddr;
	p->daddr = (__be32 *)&ip6->daddr;
	return parse_l4(c, data_end, p, nexthdr, payload - ext_len);
}

/* Ethernet, then IPv4 or IPv6, then TCP or UDP: QLB_PARSED with p filled,
 * or the reason the packet goes no further. */
static __always_inline int parse_packet(void *data, void *data_end, struct packet *p)
{
	struct hdr_cursor c = { .pos = data };
	int vlan_bad = 0, proto;

	p->bytes = data_end - data;
	p->data_end = data_end;
	proto = parse_ethhdr(&c, data_end, &p->eth, &vlan_bad);
	if (proto < 0)
		return vlan_bad ? QLB_R_BAD_VLAN : QLB_R_BAD_ETH;
	if (proto == bpf_htons(ETH_P_IP))
		return parse_ipv4(&c, data_end, p);
	if (proto == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(&c, data_end, p);
	return QLB_R_PASS_NOT_IP;
}

#endif /* QLB_PARSE_BPF_H */
