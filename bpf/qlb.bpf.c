// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * qlb data plane: an XDP program for both interfaces of a NAT-mode load
 * balancer.
 *
 * Request path (client -> VIP): a packet for a VIP is pinned to its backend
 * by conn_table, or, when it starts a new flow, hashed onto the VIP's
 * weighted Maglev ring. It is DNATed to the backend and sent out of the
 * backend's interface with the backend's next-hop MAC.
 *
 * Response path (backend -> client): nat_table maps the backend-side 5-tuple
 * back to the VIP; the packet is SNATed to the VIP and sent to the client's
 * L2 next hop, learned from the request.
 *
 * Anything else passes to the kernel untouched. Every packet is counted
 * under one enum qlb_reason.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "qlb_abi.h"
#include "qlb_maps.bpf.h"
#include "qlb_parse.bpf.h"
#include "qlb_csum.bpf.h"

#define NSEC_PER_SEC 1000000000ull

/* Set through the skeleton before load. */
const volatile __u32 hash_seed = 0;
const volatile __u64 udp_idle_timeout_ns = 30 * NSEC_PER_SEC;
const volatile __u64 tcp_idle_timeout_ns = 900 * NSEC_PER_SEC;
/* last_seen is written at most this often, to keep the cache line of an
 * established flow from bouncing between CPUs on every packet. */
const volatile __u64 last_seen_resolution_ns = NSEC_PER_SEC / 4;

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

struct packet {
	struct qlb_flow_key key;	/* as on the wire */
	struct ethhdr *eth;
	void *data_end;
	__be32 *saddr;			/* points into the IP header */
	__be32 *daddr;
	__sum16 *ip_check;		/* IPv4 only */
	__sum16 *l4_check;		/* NULL: no L4 checksum (UDP over IPv4, 0) */
	__be16 *sport;
	__be16 *dport;
	__u32 payload_len;
	__u32 bytes;
	__u8 tcp_flags;
};

static __always_inline void count_reason(enum qlb_reason reason, __u32 bytes)
{
	__u32 key = reason;
	struct qlb_reason_stats *s = bpf_map_lookup_elem(&reason_stats, &key);

	if (s) {
		s->packets++;
		s->bytes += bytes;
	}
}

static __always_inline __u32 rotl32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

/* MurmurHash3's block and finalisation steps over the flow key words. */
static __always_inline __u32 hash_mix(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51;
	k = rotl32(k, 15);
	k *= 0x1b873593;
	h ^= k;
	h = rotl32(h, 13);
	return h * 5 + 0xe6546b64;
}

static __always_inline __u32 hash_flow(const struct qlb_flow_key *k)
{
	__u32 h = hash_seed;

	h = hash_mix(h, k->saddr.v6[0]);
	h = hash_mix(h, k->daddr.v6[0]);
	if (k->family == QLB_FAMILY_V6) {
		h = hash_mix(h, k->saddr.v6[1]);
		h = hash_mix(h, k->saddr.v6[2]);
		h = hash_mix(h, k->saddr.v6[3]);
		h = hash_mix(h, k->daddr.v6[1]);
		h = hash_mix(h, k->daddr.v6[2]);
		h = hash_mix(h, k->daddr.v6[3]);
	}
	h = hash_mix(h, ((__u32)k->sport << 16) | k->dport);
	h = hash_mix(h, k->proto);
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
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

/* Counts a completion once per flow, whichever direction sees FIN/RST first. */
static __always_inline void note_close(struct qlb_conn *conn,
				       struct qlb_backend_stats *s, __u8 tcp_flags)
{
	if (!(tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST)))
		return;
	if (conn->flags & QLB_CONN_F_CLOSED)
		return;
	if (__sync_fetch_and_or(&conn->flags, QLB_CONN_F_CLOSED) & QLB_CONN_F_CLOSED)
		return;
	if (s)
		s->flows_closed++;
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
		if (!c && p->key.proto == IPPROTO_UDP)
			c = 0xffff;
		*p->l4_check = c;
	}
}

static __always_inline int conn_expired(const struct qlb_conn *conn,
					const struct packet *p, __u64 now)
{
	__u64 idle = now - conn->last_seen_ns;

	if (p->key.proto == IPPROTO_UDP)
		return idle > udp_idle_timeout_ns;
	/* A TCP flow moves only on a fresh SYN: after a close, or after the
	 * old flow went idle and its client reused the port. */
	if ((p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != TCP_FLAG_SYN)
		return 0;
	return (conn->flags & QLB_CONN_F_CLOSED) || idle > tcp_idle_timeout_ns;
}

/* Picks a backend for a new flow and records both directions of it. */
static __always_inline int schedule_flow(struct xdp_md *ctx, struct packet *p,
					 const struct qlb_vip *vip, __u32 *backend_id, __u64 now)
{
	struct qlb_flow_key rkey = {};
	struct qlb_conn conn = {};
	struct qlb_nat nat = {};
	struct qlb_backend *be;
	__u32 vip_id = vip->vip_id;
	__u32 slot, *id;
	void *ring;

	ring = bpf_map_lookup_elem(&maglev_rings, &vip_id);
	if (!ring)
		return QLB_R_DROP_NO_BACKEND;
	slot = hash_flow(&p->key) % QLB_RING_SIZE;
	id = bpf_map_lookup_elem(ring, &slot);
	if (!id || *id == QLB_NO_BACKEND)
		return QLB_R_DROP_NO_BACKEND;
	be = bpf_map_lookup_elem(&backends, id);
	if (!be || !(be->flags & QLB_BE_F_IN_USE))
		return QLB_R_DROP_NO_BACKEND;

	conn.backend_id = *id;
	conn.created_ns = now;
	conn.last_seen_ns = now;
	if (bpf_map_update_elem(&conn_table, &p->key, &conn, BPF_ANY))
		return QLB_R_DROP_CONN_FULL;

	rkey.saddr = be->addr;
	rkey.daddr = p->key.saddr;
	rkey.sport = be->port ? be->port : p->key.dport;
	rkey.dport = p->key.sport;
	rkey.proto = p->key.proto;
	rkey.family = p->key.family;
	nat.vip_addr = p->key.daddr;
	nat.vip_port = p->key.dport;
	__builtin_memcpy(nat.client_mac, p->eth->h_source, 6);
	__builtin_memcpy(nat.lb_mac, p->eth->h_dest, 6);
	nat.backend_id = *id;
	nat.client_ifindex = ctx->ingress_ifindex;
	nat.vip_id = vip_id;
	if (bpf_map_update_elem(&nat_table, &rkey, &nat, BPF_ANY)) {
		bpf_map_delete_elem(&conn_table, &p->key);
		return QLB_R_DROP_CONN_FULL;
	}
	*backend_id = *id;
	return QLB_R_FWD_TO_BACKEND;
}

static __always_inline int to_backend(struct xdp_md *ctx, struct packet *p,
				      const struct qlb_vip *vip)
{
	__u32 vip_id = vip->vip_id, backend_id = QLB_NO_BACKEND;
	struct qlb_backend_stats *bs;
	struct qlb_vip_stats *vs;
	struct qlb_backend *be = NULL;
	struct qlb_conn *conn;
	__u64 now = bpf_ktime_get_coarse_ns();
	int reason;

	vs = bpf_map_lookup_elem(&vip_stats, &vip_id);
	if (vs) {
		vs->packets_to++;
		vs->bytes_to += p->bytes;
	}

	conn = bpf_map_lookup_elem(&conn_table, &p->key);
	if (conn) {
		be = bpf_map_lookup_elem(&backends, &conn->backend_id);
		if (!be || !(be->flags & QLB_BE_F_IN_USE)) {
			conn = NULL;	/* backend deleted: reschedule */
		} else if (conn_expired(conn, p, now)) {
			if (!(conn->flags & QLB_CONN_F_CLOSED)) {
				bs = bpf_map_lookup_elem(&backend_stats, &conn->backend_id);
				if (bs)
					bs->flows_expired++;
			}
			conn = NULL;
		}
	}

	if (!conn) {
		reason = schedule_flow(ctx, p, vip, &backend_id, now);
		if (reason != QLB_R_FWD_TO_BACKEND) {
			if (vs && reason == QLB_R_DROP_NO_BACKEND)
				vs->no_backend++;
			count_reason(reason, p->bytes);
			return XDP_DROP;
		}
		conn = bpf_map_lookup_elem(&conn_table, &p->key);
		be = bpf_map_lookup_elem(&backends, &backend_id);
		if (!conn || !be) {
			count_reason(QLB_R_DROP_CONN_FULL, p->bytes);
			return XDP_DROP;
		}
		if (vs)
			vs->flows_new++;
		bs = bpf_map_lookup_elem(&backend_stats, &backend_id);
		if (bs)
			bs->flows_new++;
	} else {
		backend_id = conn->backend_id;
		bs = bpf_map_lookup_elem(&backend_stats, &backend_id);
		if (now - conn->last_seen_ns > last_seen_resolution_ns)
			conn->last_seen_ns = now;
	}
	if (!be)
		return XDP_DROP;	/* unreachable; keeps the verifier's view simple */

	if (bs) {
		bs->packets_to++;
		bs->bytes_to += p->bytes;
	}
	if (p->payload_len && !conn->req_ts_ns)
		conn->req_ts_ns = bpf_ktime_get_ns();
	if (p->key.proto == IPPROTO_TCP)
		note_close(conn, bs, p->tcp_flags);

	rewrite_endpoint(p, p->daddr, p->dport, &be->addr,
			 be->port ? be->port : p->key.dport);
	__builtin_memcpy(p->eth->h_dest, be->dmac, 6);
	__builtin_memcpy(p->eth->h_source, be->smac, 6);
	return transmit(ctx, be->ifindex, QLB_R_FWD_TO_BACKEND, p->bytes);
}

static __always_inline int to_client(struct xdp_md *ctx, struct packet *p,
				     struct qlb_nat *nat)
{
	struct qlb_backend_stats *bs;
	struct qlb_vip_stats *vs;
	__u32 backend_id = nat->backend_id, vip_id = nat->vip_id;

	bs = bpf_map_lookup_elem(&backend_stats, &backend_id);
	if (bs) {
		bs->packets_from++;
		bs->bytes_from += p->bytes;
	}
	vs = bpf_map_lookup_elem(&vip_stats, &vip_id);
	if (vs) {
		vs->packets_from++;
		vs->bytes_from += p->bytes;
	}

	/* The request-side entry holds the response-time and close state; pure
	 * ACKs need neither, so they skip the second lookup. */
	if (p->payload_len || (p->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST))) {
		struct qlb_flow_key fkey = {
			.saddr = p->key.daddr,
			.daddr = nat->vip_addr,
			.sport = p->key.dport,
			.dport = nat->vip_port,
			.proto = p->key.proto,
			.family = p->key.family,
		};
		struct qlb_conn *conn = bpf_map_lookup_elem(&conn_table, &fkey);

		if (conn) {
			__u64 req_ts = conn->req_ts_ns;

			if (p->payload_len && req_ts) {
				conn->req_ts_ns = 0;
				if (bs)
					record_response_time(bs, bpf_ktime_get_ns() - req_ts);
			}
			if (p->key.proto == IPPROTO_TCP)
				note_close(conn, bs, p->tcp_flags);
		}
	}

	rewrite_endpoint(p, p->saddr, p->sport, &nat->vip_addr, nat->vip_port);
	__builtin_memcpy(p->eth->h_dest, nat->client_mac, 6);
	__builtin_memcpy(p->eth->h_source, nat->lb_mac, 6);
	return transmit(ctx, nat->client_ifindex, QLB_R_FWD_TO_CLIENT, p->bytes);
}

/* Parses L4 at the cursor. ip_payload is what the IP header says follows it. */
static __always_inline int parse_l4(struct hdr_cursor *c, void *data_end,
				    struct packet *p, __u8 proto, __u32 ip_payload)
{
	void *l4 = c->pos;

	p->key.proto = proto;
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
		p->l4_check = (p->key.family == QLB_FAMILY_V4 && !uh->check) ? NULL : &uh->check;
	} else {
		return QLB_R_PASS_NOT_L4;
	}
	p->key.sport = *p->sport;
	p->key.dport = *p->dport;
	return -1;
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

	p->key.family = QLB_FAMILY_V4;
	p->key.saddr.v4 = ip->saddr;
	p->key.daddr.v4 = ip->daddr;
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

	p->key.family = QLB_FAMILY_V6;
	__builtin_memcpy(&p->key.saddr, &ip6->saddr, 16);
	__builtin_memcpy(&p->key.daddr, &ip6->daddr, 16);
	p->saddr = (__be32 *)&ip6->saddr;
	p->daddr = (__be32 *)&ip6->daddr;
	return parse_l4(c, data_end, p, nexthdr, payload - ext_len);
}

SEC("xdp")
int qlb_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct hdr_cursor c = { .pos = data };
	struct packet p = {};
	struct qlb_vip_key vk = {};
	struct qlb_vip *vip;
	struct qlb_nat *nat;
	int vlan_bad = 0, proto, reason;

	p.bytes = data_end - data;
	p.data_end = data_end;
	proto = parse_ethhdr(&c, data_end, &p.eth, &vlan_bad);
	if (proto < 0) {
		count_reason(vlan_bad ? QLB_R_BAD_VLAN : QLB_R_BAD_ETH, p.bytes);
		return XDP_PASS;
	}
	if (proto == bpf_htons(ETH_P_IP))
		reason = parse_ipv4(&c, data_end, &p);
	else if (proto == bpf_htons(ETH_P_IPV6))
		reason = parse_ipv6(&c, data_end, &p);
	else
		reason = QLB_R_PASS_NOT_IP;
	if (reason >= 0) {
		count_reason(reason, p.bytes);
		return (reason == QLB_R_BAD_TCP || reason == QLB_R_BAD_UDP) ?
			XDP_DROP : XDP_PASS;
	}

	vk.addr = p.key.daddr;
	vk.port = p.key.dport;
	vk.proto = p.key.proto;
	vk.family = p.key.family;
	vip = bpf_map_lookup_elem(&vips, &vk);
	if (vip)
		return to_backend(ctx, &p, vip);

	nat = bpf_map_lookup_elem(&nat_table, &p.key);
	if (nat)
		return to_client(ctx, &p, nat);

	count_reason(QLB_R_PASS_NOT_VIP, p.bytes);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
