// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * qlb data plane: an XDP program for both interfaces of a NAT-mode load
 * balancer. The packet's path, stage by stage:
 *
 *   parse (qlb_parse.bpf.h) -> flow lookup (qlb_flow.bpf.h):
 *     a request of a known flow  -> to_backend_known: DNAT (qlb_nat.bpf.h)
 *     a response of a known flow -> to_client: SNAT back to the VIP
 *     neither, to a VIP          -> to_backend_new: pick (qlb_pick.bpf.h),
 *                                   record both directions, DNAT
 *     anything else              -> XDP_PASS, untouched
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
#include "qlb_pick.bpf.h"
#include "qlb_nat.bpf.h"

/* A request of a known flow: one flow lookup (done), one array lookup. */
static __always_inline int to_backend_known(struct xdp_md *ctx, struct packet *p,
					    struct qlb_flow *req,
					    const struct qlb_backend *be, __u64 now)
{
	__u32 backend_id = req->backend_id;
	struct qlb_backend_stats *bs = backend_stats_of(backend_id);

	if (bs) {
		bs->packets_to++;
		bs->bytes_to += p->bytes;
	}
	if (now - req->last_seen_ns > last_seen_resolution_ns)
		req->last_seen_ns = now;
	/* The precise clock only where a response time starts. */
	if (p->payload_len && !req->req_ts_ns)
		req->req_ts_ns = bpf_ktime_get_ns();
	if (p->proto == IPPROTO_TCP)
		note_close(req, bs, p->tcp_flags, 0);
	return forward(ctx, p, be);
}

/* A new flow: pick a backend and record both directions. */
static __always_inline int to_backend_new(struct xdp_md *ctx, struct packet *p,
					  const struct qlb_vip *vip,
					  struct qlb_flow *old, __u64 now)
{
	struct qlb_flow req = {}, resp = {};
	struct qlb_backend_stats *bs;
	struct qlb_vip_stats *vs;
	struct qlb_backend *be;
	/* Read once: the ring below is the one this generation names. */
	__u32 vip_id = vip->vip_id, ring_gen = vip->ring_gen, backend_id;
	union {
		struct qlb_flow4_key k4;
		struct qlb_flow6_key k6;
	} rkey = {};
	int err;

	vs = bpf_map_lookup_elem(&vip_stats, &vip_id);
	if (old && claim_close(old)) {
		backend_id = old->backend_id;
		bs = backend_stats_of(backend_id);
		if (bs)
			bs->flows_expired++;
		active_add(backend_id, -1);
	}

	backend_id = qlb_pick(vip_id, ring_gen, hash_flow(p), now);
	be = bpf_map_lookup_elem(&backends, &backend_id);
	if (!be || !(be->flags & QLB_BE_F_IN_USE)) {
		if (vs)
			vs->no_backend++;
		count_reason(QLB_R_DROP_NO_BACKEND, p->bytes);
		return XDP_DROP;
	}
	bs = backend_stats_of(backend_id);

	req.backend_id = backend_id;
	req.vip_id = vip_id;
	/* Precise: a flow's duration is measured from here. */
	req.created_ns = bpf_ktime_get_ns();
	req.last_seen_ns = now;
	if (p->payload_len)
		req.req_ts_ns = req.created_ns;
	if (p->proto == IPPROTO_TCP && (p->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST))) {
		req.flags = QLB_FLOW_F_CLOSED;
		if (bs)
			bs->flows_closed++;
	}
	resp = req;
	resp.flags = QLB_FLOW_F_RESPONSE;
	/* A backend resets a mid-stream packet it knows nothing of (a flow
	 * the table lost): that says nothing about whether it listens. */
	if ((p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != TCP_FLAG_SYN)
		resp.flags |= QLB_FLOW_F_ANSWERED;
	resp.req_ts_ns = 0;
	resp.client_ifindex = ctx->ingress_ifindex;
	vip_addr_of(p, &resp.vip_addr);
	resp.vip_port = *p->dport;
	__builtin_memcpy(resp.client_mac, p->eth->h_source, 6);
	__builtin_memcpy(resp.lb_mac, p->eth->h_dest, 6);

	response_key(p, be, &rkey);
	if (p->family == QLB_FAMILY_V4) {
		err = bpf_map_update_elem(&flows_v4, &p->key.k4, &req, BPF_ANY) ||
		      bpf_map_update_elem(&flows_v4, &rkey.k4, &resp, BPF_ANY);
		if (err)
			bpf_map_delete_elem(&flows_v4, &p->key.k4);
	} else {
		err = bpf_map_update_elem(&flows_v6, &p->key.k6, &req, BPF_ANY) ||
		      bpf_map_update_elem(&flows_v6, &rkey.k6, &resp, BPF_ANY);
		if (err)
			bpf_map_delete_elem(&flows_v6, &p->key.k6);
	}
	if (err) {
		count_reason(QLB_R_DROP_CONN_FULL, p->bytes);
		return XDP_DROP;
	}

	if (vs)
		vs->flows_new++;
	if (bs) {
		bs->flows_new++;
		bs->packets_to++;
		bs->bytes_to += p->bytes;
	}
	/* A flow whose first packet closes it was never open. */
	if (!(req.flags & QLB_FLOW_F_CLOSED))
		active_add(backend_id, 1);
	return forward(ctx, p, be);
}

/* A response of a known flow: restore the VIP as its source. */
static __always_inline int to_client(struct xdp_md *ctx, struct packet *p,
				     struct qlb_flow *resp, __u64 now)
{
	__u32 backend_id = resp->backend_id;
	struct qlb_backend_stats *bs = backend_stats_of(backend_id);
	int refused = 0;

	if (bs) {
		bs->packets_from++;
		bs->bytes_from += p->bytes;
		if (p->tcp_flags & TCP_FLAG_RST)
			bs->resets_from++;
	}
	if (now - resp->last_seen_ns > last_seen_resolution_ns)
		resp->last_seen_ns = now;
	if (p->proto == IPPROTO_TCP && !(resp->flags & QLB_FLOW_F_ANSWERED)) {
		/* A RST before anything else refuses the connection. Every
		 * writer sets the same bits, so a plain store is enough. */
		refused = p->tcp_flags & TCP_FLAG_RST;
		if (refused)
			note_refused(backend_id, bs, now);
		else
			resp->flags |= QLB_FLOW_F_ANSWERED;
	}

	/* The request entry holds the response-time and close state; pure
	 * ACKs need neither, so they skip the second lookup. */
	if (p->payload_len || (p->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST))) {
		union {
			struct qlb_flow4_key k4;
			struct qlb_flow6_key k6;
		} rkey = {};
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
				note_close(req, bs, p->tcp_flags, refused);
		}
	}

	rewrite_endpoint(p, p->saddr, p->sport, &resp->vip_addr, resp->vip_port);
	__builtin_memcpy(p->eth->h_dest, resp->client_mac, 6);
	__builtin_memcpy(p->eth->h_source, resp->lb_mac, 6);
	return transmit(ctx, resp->client_ifindex, QLB_R_FWD_TO_CLIENT, p->bytes);
}

SEC("xdp")
int qlb_xdp(struct xdp_md *ctx)
{
	struct packet p = {};
	struct qlb_vip_key vk = {};
	struct qlb_backend *be;
	struct qlb_flow *flow;
	struct qlb_vip *vip;
	int reason;
	__u64 now;

	reason = parse_packet((void *)(long)ctx->data, (void *)(long)ctx->data_end, &p);
	if (reason != QLB_PARSED) {
		count_reason(reason, p.bytes);
		return (reason == QLB_R_BAD_TCP || reason == QLB_R_BAD_UDP) ?
			XDP_DROP : XDP_PASS;
	}

	/* One lookup tells a request of a known flow, a response to one, or
	 * neither; only the last needs the VIP table. */
	now = coarse_now_ns();
	flow = lookup_flow(&p);
	if (flow) {
		if (flow->flags & QLB_FLOW_F_RESPONSE)
			return to_client(ctx, &p, flow, now);
		be = bpf_map_lookup_elem(&backends, &flow->backend_id);
		if (be && (be->flags & QLB_BE_F_IN_USE) && !flow_expired(flow, &p, now) &&
		    !give_up_unanswered(&p, flow, be, now))
			return to_backend_known(ctx, &p, flow, be, now);
		/* Backend deleted, silent, or the flow ended: pick anew. */
	}

	vip_addr_of(&p, &vk.addr);
	vk.port = *p.dport;
	vk.proto = p.proto;
	vk.family = p.family;
	vip = bpf_map_lookup_elem(&vips, &vk);
	if (vip)
		return to_backend_new(ctx, &p, vip, flow, now);

	count_reason(QLB_R_PASS_NOT_VIP, p.bytes);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
