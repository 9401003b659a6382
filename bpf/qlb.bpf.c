// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * qlb data plane: an XDP program for both interfaces of a NAT-mode load
 * balancer. The packet's path, stage by stage:
 *
 *   parse (qlb_parse.bpf.h) -> flow lookup (qlb_flow.bpf.h):
 *     a request of an established flow  -> to_backend_known: DNAT
 *                                          (qlb_nat.bpf.h)
 *     a response of an established flow -> to_client: SNAT back to the VIP
 *     to a VIP, no established flow     -> to_vip:
 *       a SYN: pick (qlb_pick.bpf.h), one half-open entry
 *         (qlb_pending.bpf.h), or in flood mode (qlb_flood.bpf.h) the ring
 *         and no state;
 *       the client's ACK of the handshake: the flow becomes established;
 *       any other packet: the ring, never a pick by load;
 *     from a backend's server endpoint   -> from_server: the SYN-ACK of a
 *       half-open flow, or the reply of a flow without state
 *     anything else                      -> XDP_PASS, untouched
 *   ICMP (qlb_icmp.bpf.h): echo requests to a VIP answered; errors about a
 *     VIP's flows translated for the backend or the client.
 *
 * A request goes out of the backend's interface with its next-hop MAC; a
 * response to the client's L2 next hop, learned from the request. Every
 * packet is counted under one enum qlb_reason (qlb_stats.bpf.h).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "qlb_abi.h"
#include "qlb_maps.bpf.h"
#include "qlb_parse.bpf.h"
#include "qlb_stats.bpf.h"
#include "qlb_flow.bpf.h"
#include "qlb_flood.bpf.h"
#include "qlb_pick.bpf.h"
#include "qlb_pending.bpf.h"
#include "qlb_nat.bpf.h"
#include "qlb_icmp.bpf.h"

static __always_inline void count_to_backend(struct qlb_backend_stats *bs, const struct packet *p)
{
	if (bs) {
		bs->packets_to++;
		bs->bytes_to += p->bytes;
	}
}

static __always_inline int drop_no_backend(const struct packet *p, __u32 vip_id)
{
	struct qlb_vip_stats *vs = bpf_map_lookup_elem(&vip_stats, &vip_id);

	if (vs)
		vs->no_backend++;
	count_reason(QLB_R_DROP_NO_BACKEND, p->bytes);
	return XDP_DROP;
}

static __always_inline struct qlb_backend *backend_in_use(__u32 id)
{
	struct qlb_backend *be = bpf_map_lookup_elem(&backends, &id);

	return be && (be->flags & QLB_BE_F_IN_USE) ? be : NULL;
}

/* A request of an established flow: one flow lookup (done), one array
 * lookup. */
static __always_inline int to_backend_known(struct xdp_md *ctx, struct packet *p,
					    struct qlb_flow *req,
					    const struct qlb_backend *be, __u64 now)
{
	struct qlb_backend_stats *bs = backend_stats_of(req->backend_id);

	count_to_backend(bs, p);
	if (now - req->last_seen_ns > last_seen_resolution_ns)
		req->last_seen_ns = now;
	/* The precise clock only where a response time starts. */
	if (p->payload_len && !req->req_ts_ns)
		req->req_ts_ns = bpf_ktime_get_ns();
	if (p->proto == IPPROTO_TCP)
		note_close(req, bs, p->tcp_flags);
	return forward(ctx, p, be);
}

/* A packet of a flow without state: to its slot's owner in the ring, which
 * every packet of the flow reaches while the ring stays. */
static __always_inline int to_ring(struct xdp_md *ctx, struct packet *p, const struct qlb_vip *vip,
				   __u64 now)
{
	__u32 vip_id = vip->vip_id, id;
	struct qlb_backend *be;

	id = qlb_ring_pick(vip_id, vip->ring_gen, hash_flow(p), now);
	be = backend_in_use(id);
	if (!be)
		return drop_no_backend(p, vip_id);
	count_to_backend(backend_stats_of(id), p);
	return forward(ctx, p, be);
}

/* The request entry of a new flow placed on backend_id. */
static __always_inline void new_request(struct qlb_flow *f, const struct xdp_md *ctx,
					const struct packet *p, __u32 backend_id, __u32 vip_id,
					__u64 now)
{
	__builtin_memset(f, 0, sizeof(*f));
	f->backend_id = backend_id;
	f->vip_id = vip_id;
	/* The coarse clock: a TCP flow's duration is measured from its
	 * handshake (promote), which reads the precise one. */
	f->created_ns = now;
	f->last_seen_ns = now;
	if (p->payload_len)
		f->req_ts_ns = bpf_ktime_get_ns();
	f->client_ifindex = ctx->ingress_ifindex;
	__builtin_memcpy(f->client_mac, p->eth->h_source, 6);
	__builtin_memcpy(f->lb_mac, p->eth->h_dest, 6);
}

/* A client's SYN of no established flow: one half-open entry, no more. The
 * insert comes first, and finds a retry's entry (rare) by failing. */
static __always_inline int tcp_syn(struct xdp_md *ctx, struct packet *p, const struct qlb_vip *vip,
				   __u64 now)
{
	/* Read once: the ring below is the one this generation names. */
	__u32 vip_id = vip->vip_id, ring_gen = vip->ring_gen, id;
	struct qlb_scratch *sc = scratch_of_cpu();
	struct qlb_flow *old;
	struct qlb_backend *be;
	int err;

	if (flood_note(now)) {
		count_event(QLB_EV_SYN_STATELESS);
		return to_ring(ctx, p, vip, now);
	}
	id = pick_backend(vip_id, ring_gen, hash_flow(p), now);
	be = backend_in_use(id);
	if (!be || !sc)
		return drop_no_backend(p, vip_id);
	new_request(&sc->req, ctx, p, id, vip_id, now);
	err = pending_insert(p->family, &p->key, &sc->req, BPF_NOEXIST);
	if (err == -EEXIST) {
		old = pending_lookup(p->family, &p->key);
		if (!old)
			return to_ring(ctx, p, vip, now);
		/* A retry: to the same backend, unless it stays silent. */
		be = backend_in_use(old->backend_id);
		if (be && qlb_backend_takes_new_flows(be, vip_id) && !give_up_unanswered(old, now)) {
			count_to_backend(backend_stats_of(old->backend_id), p);
			return forward(ctx, p, be);
		}
		/* Given up: placed anew, where the refusal no longer lets the
		 * pick go. */
		placed_sub(old->backend_id);
		id = pick_backend(vip_id, ring_gen, hash_flow(p), now);
		be = backend_in_use(id);
		if (!be)
			return drop_no_backend(p, vip_id);
		sc->req.backend_id = id;
		err = pending_insert(p->family, &p->key, &sc->req, BPF_ANY);
	}
	if (err) {
		/* Full: a flood. The ring, so that the rest of the flow finds
		 * the same backend without state. */
		flood_table_full(now);
		count_event(QLB_EV_SYN_STATELESS);
		return to_ring(ctx, p, vip, now);
	}
	placed_add(id, now);
	count_event(QLB_EV_SYN_HALF_OPEN);
	count_to_backend(backend_stats_of(id), p);
	return forward(ctx, p, be);
}

/* A client's packet of a half-open flow, other than a SYN. */
static __always_inline int tcp_half_open(struct xdp_md *ctx, struct packet *p,
					 const struct qlb_vip *vip, struct qlb_flow *pend, __u64 now)
{
	struct qlb_backend *be = backend_in_use(pend->backend_id);
	struct qlb_backend_stats *bs;

	if (!be) {
		pending_delete(p->family, &p->key);
		count_event(QLB_EV_LOST_TO_RING);
		return to_ring(ctx, p, vip, now);
	}
	bs = backend_stats_of(pend->backend_id);
	count_to_backend(bs, p);
	if (p->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST)) {
		/* Given up before it began: never a flow. */
		pending_delete(p->family, &p->key);
		placed_sub(pend->backend_id);
	} else if (!completes_handshake(p, pend) || promote(ctx, p, pend, be, bs, now)) {
		count_event(QLB_EV_ACK_UNVERIFIED);
	}
	return forward(ctx, p, be);
}

/* A new UDP flow: established at once (there is no handshake), unless
 * this CPU floods. */
static __always_inline int udp_new(struct xdp_md *ctx, struct packet *p, const struct qlb_vip *vip,
				   __u64 now)
{
	__u32 vip_id = vip->vip_id, ring_gen = vip->ring_gen, id;
	struct qlb_scratch *sc = scratch_of_cpu();
	union flow_key rkey = {};
	struct qlb_backend_stats *bs;
	struct qlb_backend *be;
	union qlb_addr vaddr = {};

	if (flood_note(now)) {
		count_event(QLB_EV_UDP_STATELESS);
		return to_ring(ctx, p, vip, now);
	}
	id = pick_backend(vip_id, ring_gen, hash_flow(p), now);
	be = backend_in_use(id);
	if (!be || !sc)
		return drop_no_backend(p, vip_id);
	bs = backend_stats_of(id);
	new_request(&sc->req, ctx, p, id, vip_id, now);
	sc->req.created_ns = bpf_ktime_get_ns();
	vip_addr_of(p, &vaddr);
	response_of(&sc->req, &sc->resp, &vaddr, *p->dport, ctx->ingress_ifindex,
		    p->eth->h_source, p->eth->h_dest);
	response_key(p, be, &rkey);
	if (flow_insert(p->family, &p->key, &sc->req, &rkey, &sc->resp)) {
		count_event(QLB_EV_TABLE_FULL);
		return to_ring(ctx, p, vip, now);
	}
	count_established(id, vip_id, bs);
	count_to_backend(bs, p);
	return forward(ctx, p, be);
}

/* The end of an established flow that a new one replaces (the backend was
 * deleted, the flow closed or idled out and the client reused its port):
 * counted once, and out of the table, so that the new flow's packets do not
 * find it. */
static __always_inline void retire(const struct packet *p, struct qlb_flow *old)
{
	struct qlb_backend *be = backend_in_use(old->backend_id);
	union flow_key rkey = {};

	if (claim_close(old)) {
		struct qlb_backend_stats *bs = backend_stats_of(old->backend_id);

		if (bs)
			bs->flows_expired++;
		active_add(old->backend_id, -1);
	}
	/* Its response entry too, if its backend still says where that is
	 * (else the agent's GC takes it as an orphan). */
	if (be)
		response_key(p, be, &rkey);
	if (p->family == QLB_FAMILY_V4) {
		bpf_map_delete_elem(&flows_v4, &p->key.k4);
		if (be)
			bpf_map_delete_elem(&flows_v4, &rkey.k4);
	} else {
		bpf_map_delete_elem(&flows_v6, &p->key.k6);
		if (be)
			bpf_map_delete_elem(&flows_v6, &rkey.k6);
	}
}

/* A packet to a VIP of no established flow. Out of line, like from_server:
 * the new-flow paths' entries would not fit in one stack frame with the
 * rest. */
static __noinline int to_vip(struct xdp_md *ctx, struct packet *p, const struct qlb_vip *vip,
				  struct qlb_flow *old, __u64 now)
{
	struct qlb_flow *pend;

	if (old)
		retire(p, old);
	if (p->proto == IPPROTO_UDP)
		return udp_new(ctx, p, vip, now);
	if ((p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN)
		return tcp_syn(ctx, p, vip, now);
	pend = pending_lookup(p->family, &p->key);
	if (pend)
		return tcp_half_open(ctx, p, vip, pend, now);
	/* Mid-flow, of no flow we know (it began in flood mode, or its entry
	 * was lost): a pick by load would send it to a backend that resets
	 * it; the ring sends it where it began, if the ring is unchanged. */
	count_event(QLB_EV_LOST_TO_RING);
	return to_ring(ctx, p, vip, now);
}

/* Restores the VIP as p's source and sends it to the client's L2 hop. */
static __always_inline int snat_to_client(struct xdp_md *ctx, struct packet *p,
					  const union qlb_addr *vip, __be16 vip_port,
					  __u32 ifindex, const __u8 *client_mac, const __u8 *lb_mac)
{
	rewrite_endpoint(p, p->saddr, p->sport, vip, vip_port);
	__builtin_memcpy(p->eth->h_dest, client_mac, 6);
	__builtin_memcpy(p->eth->h_source, lb_mac, 6);
	return transmit(ctx, ifindex, QLB_R_FWD_TO_CLIENT, p->bytes);
}

static __always_inline void count_from_backend(struct qlb_backend_stats *bs,
					       const struct packet *p)
{
	if (bs) {
		bs->packets_from++;
		bs->bytes_from += p->bytes;
		if (p->tcp_flags & TCP_FLAG_RST)
			bs->resets_from++;
	}
}

/* The backend's answer to a half-open flow: its SYN-ACK (the ACK number
 * the client must send is kept), or a RST, which refuses it. */
static __always_inline int reply_half_open(struct xdp_md *ctx, struct packet *p,
					   const struct qlb_server *srv, struct qlb_flow *pend,
					   const union flow_key *req_key, __u64 now)
{
	struct qlb_backend_stats *bs = backend_stats_of(srv->backend_id);

	count_from_backend(bs, p);
	if (p->tcp_flags & TCP_FLAG_RST) {
		if (!(pend->flags & QLB_FLOW_F_SYN_ACKED))
			note_refused(srv->backend_id, bs, now);
		pending_delete(p->family, req_key);
		placed_sub(srv->backend_id);
	} else if ((p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == (TCP_FLAG_SYN | TCP_FLAG_ACK) &&
		   p->th && (void *)(p->th + 1) <= p->data_end) {
		/* Every writer stores the same values. */
		pend->expect_ack = bpf_htonl(bpf_ntohl(p->th->seq) + 1);
		pend->flags |= QLB_FLOW_F_SYN_ACKED;
	}
	return snat_to_client(ctx, p, &srv->vip_addr, srv->vip_port, pend->client_ifindex,
			      pend->client_mac, pend->lb_mac);
}

/*
 * The reply of a flow without state (placed in flood mode, or lost): to the
 * client's L2 hop, learned from its handshakes. A reply other than a SYN-ACK
 * or a RST shows that the backend holds the connection, so, unless this CPU
 * floods, the flow is adopted: it enters the table as a new, open flow.
 */
static __always_inline int reply_stateless(struct xdp_md *ctx, struct packet *p,
					   const struct qlb_server *srv,
					   const union flow_key *req_key, __u64 now)
{
	struct qlb_backend_stats *bs = backend_stats_of(srv->backend_id);
	struct qlb_client_hop *hop = client_hop_of(p);
	struct qlb_scratch *sc = scratch_of_cpu();

	if (!hop) {
		count_reason(QLB_R_PASS_STRAY_REPLY, p->bytes);
		return XDP_PASS;
	}
	count_from_backend(bs, p);
	count_event(QLB_EV_REPLY_STATELESS);
	if (sc && !(p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_RST)) && !flooding(now)) {
		__builtin_memset(&sc->req, 0, sizeof(sc->req));
		sc->req.backend_id = srv->backend_id;
		sc->req.vip_id = srv->vip_id;
		sc->req.created_ns = bpf_ktime_get_ns();
		sc->req.last_seen_ns = now;
		response_of(&sc->req, &sc->resp, &srv->vip_addr, srv->vip_port, hop->ifindex,
			    hop->mac, hop->lb_mac);
		if (!flow_insert(p->family, req_key, &sc->req, &p->key, &sc->resp)) {
			count_established(srv->backend_id, srv->vip_id, bs);
			count_event(QLB_EV_ADOPTED);
		}
	}
	return snat_to_client(ctx, p, &srv->vip_addr, srv->vip_port, hop->ifindex, hop->mac,
			      hop->lb_mac);
}

/* A packet from a backend's server endpoint of no established flow. */
static __noinline int from_server(struct xdp_md *ctx, struct packet *p,
				       const struct qlb_server *srv, __u64 now)
{
	union flow_key req_key = {};
	struct qlb_flow *pend;

	request_key_of_reply(p, srv, &req_key);
	if (p->proto == IPPROTO_TCP) {
		pend = pending_lookup(p->family, &req_key);
		if (pend) {
			/* Placed elsewhere since (the backend was given up):
			 * our kernel resets it. */
			if (pend->backend_id != srv->backend_id) {
				count_reason(QLB_R_PASS_STRAY_REPLY, p->bytes);
				return XDP_PASS;
			}
			return reply_half_open(ctx, p, srv, pend, &req_key, now);
		}
	}
	return reply_stateless(ctx, p, srv, &req_key, now);
}

/* A response of an established flow: restore the VIP as its source. */
static __always_inline int to_client(struct xdp_md *ctx, struct packet *p,
				     struct qlb_flow *resp, __u64 now)
{
	struct qlb_backend_stats *bs = backend_stats_of(resp->backend_id);

	count_from_backend(bs, p);
	if (now - resp->last_seen_ns > last_seen_resolution_ns)
		resp->last_seen_ns = now;

	/* The request entry holds the response-time and close state; pure
	 * ACKs need neither, so they skip the second lookup. */
	if (p->payload_len || (p->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST))) {
		union flow_key rkey = {};
		struct qlb_flow *req;

		/* The request went client -> VIP; this packet goes backend ->
		 * client, so swap, then put the VIP back as destination. */
		swap_key(p, &rkey);
		if (p->family == QLB_FAMILY_V4) {
			rkey.k4.daddr = resp->vip_addr.v4;
			rkey.k4.dport = resp->vip_port;
			req = bpf_map_lookup_elem(&flows_v4, &rkey.k4);
			KEEP_APART(req);
		} else {
			__builtin_memcpy(rkey.k6.daddr, resp->vip_addr.v6, 16);
			rkey.k6.dport = resp->vip_port;
			req = bpf_map_lookup_elem(&flows_v6, &rkey.k6);
		}
		if (req && !(req->flags & QLB_FLOW_F_RESPONSE)) {
			__u64 req_ts = req->req_ts_ns;

			if (p->payload_len && req_ts) {
				req->req_ts_ns = 0;
				if (bs)
					record_response_time(bs, bpf_ktime_get_ns() - req_ts);
			}
			if (p->proto == IPPROTO_TCP)
				note_close(req, bs, p->tcp_flags);
		}
	}
	return snat_to_client(ctx, p, &resp->vip_addr, resp->vip_port, resp->client_ifindex,
			      resp->client_mac, resp->lb_mac);
}

SEC("xdp")
int qlb_xdp(struct xdp_md *ctx)
{
	struct packet p = {};
	struct qlb_vip_key vk = {};
	struct qlb_server *srv;
	struct qlb_backend *be;
	struct qlb_flow *flow;
	struct qlb_vip *vip;
	int reason;
	__u64 now;

	reason = parse_packet((void *)(long)ctx->data, (void *)(long)ctx->data_end, &p);
	if (reason == QLB_PARSED_ICMP)
		return qlb_icmp(ctx, &p);
	if (reason != QLB_PARSED) {
		count_reason(reason, p.bytes);
		return (reason == QLB_R_BAD_TCP || reason == QLB_R_BAD_UDP) ?
			XDP_DROP : XDP_PASS;
	}

	/* One lookup tells a request of an established flow, a response to
	 * one, or neither; only the last needs the other tables. */
	now = coarse_now_ns();
	flow = lookup_flow(&p);
	if (flow) {
		/* A SYN-ACK answers a new handshake, never an established flow
		 * (a stale response entry can share its key). */
		if ((flow->flags & QLB_FLOW_F_RESPONSE) && !(p.tcp_flags & TCP_FLAG_SYN))
			return to_client(ctx, &p, flow, now);
		be = backend_in_use(flow->backend_id);
		if (!(flow->flags & QLB_FLOW_F_RESPONSE) && be && !flow_expired(flow, &p, now))
			return to_backend_known(ctx, &p, flow, be, now);
		/* Backend deleted, or the flow ended: a new one. */
	}

	vip_addr_of(&p, &vk.addr);
	vk.port = *p.dport;
	vk.proto = p.proto;
	vk.family = p.family;
	vip = bpf_map_lookup_elem(&vips, &vk);
	if (vip)
		return to_vip(ctx, &p, vip, flow && !(flow->flags & QLB_FLOW_F_RESPONSE) ? flow : NULL,
			      now);
	srv = server_of(&p);
	if (srv)
		return from_server(ctx, &p, srv, now);

	count_reason(QLB_R_PASS_NOT_VIP, p.bytes);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
