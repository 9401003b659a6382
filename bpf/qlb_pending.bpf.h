/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The half-open table (pending_v4/v6 in qlb_abi.h): a SYN writes one entry
 * there and nothing else; the backend's SYN-ACK, which finds it through the
 * backend's server entry, records the ACK number the client must send; the
 * client's ACK that carries it moves the flow into the flow table, where it
 * counts as a new, open flow. A spoofed SYN gets no further than this table.
 */
#ifndef QLB_PENDING_BPF_H
#define QLB_PENDING_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "qlb_abi.h"
#include "qlb_maps.bpf.h"
#include "qlb_parse.bpf.h"
#include "qlb_stats.bpf.h"
#include "qlb_flow.bpf.h"
#include "qlb_pick.bpf.h"

static __always_inline struct qlb_flow *pending_lookup(__u8 family, const union flow_key *k)
{
	struct qlb_flow *f;

	if (family == QLB_FAMILY_V4) {
		f = bpf_map_lookup_elem(&pending_v4, &k->k4);
		KEEP_APART(f);
	} else {
		f = bpf_map_lookup_elem(&pending_v6, &k->k6);
	}
	return f;
}

static __always_inline int pending_insert(__u8 family, const union flow_key *k,
					  const struct qlb_flow *f, __u64 flags)
{
	if (family == QLB_FAMILY_V4)
		return bpf_map_update_elem(&pending_v4, &k->k4, f, flags);
	return bpf_map_update_elem(&pending_v6, &k->k6, f, flags);
}

static __always_inline void pending_delete(__u8 family, const union flow_key *k)
{
	if (family == QLB_FAMILY_V4)
		bpf_map_delete_elem(&pending_v4, &k->k4);
	else
		bpf_map_delete_elem(&pending_v6, &k->k6);
}

/* Inserts both entries of an established flow; on failure neither stays. */
static __always_inline int flow_insert(__u8 family, const union flow_key *req_key,
				       const struct qlb_flow *req, const union flow_key *resp_key,
				       const struct qlb_flow *resp)
{
	int err;

	if (family == QLB_FAMILY_V4) {
		err = bpf_map_update_elem(&flows_v4, &req_key->k4, req, BPF_ANY) ||
		      bpf_map_update_elem(&flows_v4, &resp_key->k4, resp, BPF_ANY);
		if (err)
			bpf_map_delete_elem(&flows_v4, &req_key->k4);
	} else {
		err = bpf_map_update_elem(&flows_v6, &req_key->k6, req, BPF_ANY) ||
		      bpf_map_update_elem(&flows_v6, &resp_key->k6, resp, BPF_ANY);
		if (err)
			bpf_map_delete_elem(&flows_v6, &req_key->k6);
	}
	return err;
}

/* The response entry of an established flow, from its request entry and
 * the client's L2 hop. */
static __always_inline void response_of(const struct qlb_flow *req, struct qlb_flow *resp,
					const union qlb_addr *vip, __be16 vip_port,
					__u32 client_ifindex, const __u8 *client_mac,
					const __u8 *lb_mac)
{
	__builtin_memset(resp, 0, sizeof(*resp));
	resp->backend_id = req->backend_id;
	resp->vip_id = req->vip_id;
	resp->flags = QLB_FLOW_F_RESPONSE;
	resp->created_ns = req->created_ns;
	resp->last_seen_ns = req->last_seen_ns;
	resp->client_ifindex = client_ifindex;
	resp->vip_addr = *vip;
	resp->vip_port = vip_port;
	__builtin_memcpy(resp->client_mac, client_mac, 6);
	__builtin_memcpy(resp->lb_mac, lb_mac, 6);
}

/* A flow enters the flow table: from here it is new and open. */
static __always_inline void count_established(__u32 backend_id, __u32 vip_id,
					      struct qlb_backend_stats *bs)
{
	struct qlb_vip_stats *vs = bpf_map_lookup_elem(&vip_stats, &vip_id);

	if (vs)
		vs->flows_new++;
	if (bs)
		bs->flows_new++;
	active_add(backend_id, 1);
}

static __always_inline int mac_equal(const __u8 *a, const __u8 *b)
{
	return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4]) |
		(a[5] ^ b[5])) == 0;
}

/* Remembers the L2 hop of a client that completed a handshake, for replies
 * of its flows placed without state; written only when it changed. */
static __always_inline void learn_client_hop(const struct packet *p, __u32 ifindex)
{
	struct qlb_addr_key k = { .family = p->family };
	struct qlb_client_hop hop = { .ifindex = ifindex }, *old;

	if (p->family == QLB_FAMILY_V4)
		k.addr.v4 = p->key.k4.saddr;
	else
		__builtin_memcpy(k.addr.v6, p->key.k6.saddr, 16);
	old = bpf_map_lookup_elem(&client_hops, &k);
	if (old && old->ifindex == ifindex &&
	    mac_equal(old->mac, p->eth->h_source) && mac_equal(old->lb_mac, p->eth->h_dest))
		return;
	__builtin_memcpy(hop.mac, p->eth->h_source, 6);
	__builtin_memcpy(hop.lb_mac, p->eth->h_dest, 6);
	bpf_map_update_elem(&client_hops, &k, &hop, BPF_ANY);
}

/*
 * Whether the client's packet p completes pend's handshake: an ACK of the
 * backend's SYN-ACK, with its ISN + 1. A spoofer who never saw the SYN-ACK
 * cannot send it.
 */
static __always_inline int completes_handshake(const struct packet *p,
					       const struct qlb_flow *pend)
{
	return (pend->flags & QLB_FLOW_F_SYN_ACKED) &&
	       (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK | TCP_FLAG_RST)) == TCP_FLAG_ACK &&
	       p->th && (void *)(p->th + 1) <= p->data_end && p->th->ack_seq == pend->expect_ack;
}

/*
 * Moves a half-open flow whose handshake p completes into the flow table.
 * 0 on success; otherwise the flow stays half-open (the flow table is full)
 * and keeps going to its backend from there.
 */
static __always_inline struct qlb_scratch *scratch_of_cpu(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch, &zero);
}

static __always_inline int promote(struct xdp_md *ctx, const struct packet *p,
				   const struct qlb_flow *pend, const struct qlb_backend *be,
				   struct qlb_backend_stats *bs, __u64 now)
{
	struct qlb_scratch *sc = scratch_of_cpu();
	union flow_key rkey = {};
	union qlb_addr vip = {};

	if (!sc)
		return -1;
	sc->req = *pend;
	sc->req.flags = 0;
	sc->req.expect_ack = 0;
	sc->req.last_seen_ns = now;
	/* Precise: the flow's duration is measured from here. */
	sc->req.created_ns = bpf_ktime_get_ns();
	if (p->payload_len && !sc->req.req_ts_ns)
		sc->req.req_ts_ns = bpf_ktime_get_ns();
	vip_addr_of(p, &vip);
	response_of(&sc->req, &sc->resp, &vip, *p->dport, pend->client_ifindex, pend->client_mac,
		    pend->lb_mac);
	response_key(p, be, &rkey);
	if (flow_insert(p->family, &p->key, &sc->req, &rkey, &sc->resp)) {
		count_event(QLB_EV_TABLE_FULL);
		return -1;
	}
	pending_delete(p->family, &p->key);
	placed_sub(pend->backend_id);
	count_established(pend->backend_id, pend->vip_id, bs);
	learn_client_hop(p, ctx->ingress_ifindex);
	count_event(QLB_EV_HANDSHAKE_DONE);
	return 0;
}

/*
 * Whether SYN p is a client's second retry on a half-open flow that its
 * backend has not answered (no SYN-ACK went back through here; retries at
 * least syn_unanswered_ns apart). If so the backend is marked refusing,
 * like one that sent a RST, and the caller places the flow anew; a late
 * SYN-ACK from the old backend then finds the flow placed elsewhere and
 * goes to our kernel, which resets it.
 */
static __always_inline int give_up_unanswered(struct qlb_flow *pend, __u64 now)
{
	if ((pend->flags & QLB_FLOW_F_SYN_ACKED) ||
	    now - pend->last_seen_ns < syn_unanswered_ns)
		return 0;
	pend->last_seen_ns = now;
	if (!(pend->flags & QLB_FLOW_F_SYN_RETRIED)) {
		/* Every writer sets the same bit: a plain store will do. */
		pend->flags |= QLB_FLOW_F_SYN_RETRIED;
		return 0;
	}
	note_refused(pend->backend_id, backend_stats_of(pend->backend_id), now);
	return 1;
}

/* The key of the request that a backend's packet p answers: client -> VIP. */
static __always_inline void request_key_of_reply(const struct packet *p,
						 const struct qlb_server *srv,
						 union flow_key *k)
{
	swap_key(p, k);
	if (p->family == QLB_FAMILY_V4) {
		k->k4.daddr = srv->vip_addr.v4;
		k->k4.dport = srv->vip_port;
	} else {
		__builtin_memcpy(k->k6.daddr, srv->vip_addr.v6, 16);
		k->k6.dport = srv->vip_port;
	}
}

/* The server entry of the endpoint that sent p, if a backend's. */
static __always_inline struct qlb_server *server_of(const struct packet *p)
{
	struct qlb_server_key k = { .port = *p->sport, .proto = p->proto, .family = p->family };

	if (p->family == QLB_FAMILY_V4)
		k.addr.v4 = p->key.k4.saddr;
	else
		__builtin_memcpy(k.addr.v6, p->key.k6.saddr, 16);
	return bpf_map_lookup_elem(&servers, &k);
}

static __always_inline struct qlb_client_hop *client_hop_of(const struct packet *p)
{
	struct qlb_addr_key k = { .family = p->family };

	if (p->family == QLB_FAMILY_V4)
		k.addr.v4 = p->key.k4.daddr;
	else
		__builtin_memcpy(k.addr.v6, p->key.k6.daddr, 16);
	return bpf_map_lookup_elem(&client_hops, &k);
}

#endif /* QLB_PENDING_BPF_H */
