/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Cursor-style header parsers: each checks `p + 1 > data_end` before it
 * touches a header and advances the cursor past it. */
#ifndef QLB_PARSE_BPF_H
#define QLB_PARSE_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* vmlinux.h carries types, not macros. */
#define ETH_P_IP	0x0800
#define ETH_P_IPV6	0x86DD
#define ETH_P_8021Q	0x8100
#define ETH_P_8021AD	0x88A8
#define IPPROTO_HOPOPTS	0
#define IPPROTO_TCP	6
#define IPPROTO_UDP	17
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

#endif /* QLB_PARSE_BPF_H */
