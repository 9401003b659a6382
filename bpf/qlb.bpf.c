// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * qlb data plane: an XDP program for both interfaces of a NAT-mode load
 * balancer.
 *
 * One lookup in the flow table of the packet's family (flows_v4/flows_v6,
 * keyed by the 5-tuple on the wire) tells a request of a known flow, a
 * response to one, or neither.
 *
 * Request path (client -> VIP): a known flow keeps its backend; a new one is
 * given a backend by the VIP's pick mode: hashed onto its weighted Maglev
 * ring, or picked by live active-flow counts (lc, p2c, sed). It is DNATed to
 * the backend and sent out of the backend's interface with the backend's
 * next-hop MAC.
 *
 * Response path (backend -> client): the response entry recorded with the
 * request restores the VIP as source; the packet is sent to the client's L2
 * next hop, learned from the request.
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
/* How long new flows pass over a backend after it refused a connection
 * (backend_refused in qlb_abi.h): a dead backend costs about one failed
 * connection per hold, not a window's worth of them. */
const volatile __u64 refused_hold_ns = NSEC_PER_SEC;
/* A client's SYN again, this long after the last one, on a flow its backend
 * has not answered is a retry. The second retry (Linux: 2 or 3 s after the
 * first SYN) gives the backend up as silent (dead without a RST, or
 * dropping SYNs): the flow goes elsewhere and the backend counts as
 * refusing. The first is left alone, so that one lost SYN-ACK (the eval's
 * veth rings drop a few) does not hold a live backend back. */
const volatile __u64 syn_unanswered_ns = NSEC_PER_SEC / 2;
/* Ring slots tried past a refusing backend's before giving up on others. */
#define QLB_RING_REFUSED_PROBES 8

extern unsigned int CONFIG_HZ __kconfig __weak;

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

struct packet {
	union {
		struct qlb_flow4_key k4;
		struct qlb_flow6_key k6;
	} key;				/* the 5-tuple as on the wire */
	__u8 family;
	__u8 proto;
	__u8 tcp_flags;
	struct ethhdr *eth;
	void *data_end;
	__be32 *saddr;			/* point into the IP header */
	__be32 *daddr;
	__sum16 *ip_check;		/* IPv4 only */
	__sum16 *l4_check;		/* NULL: no L4 checksum (UDP over IPv4, 0) */
	__be16 *sport;
	__be16 *dport;
	__u32 payload_len;
	__u32 bytes;
};

/*
 * The flow clock: jiffies, read inline (the verifier inlines bpf_jiffies64),
 * where a clock helper call costs as much as a flow lookup. Scaled to ns
 * since boot it runs with CLOCK_MONOTONIC, a fixed offset apart (256 ms
 * behind here, as test_dataplane prints): plenty for idle timeouts and refusal holds.
 * HZ is a load-time constant, so the verifier keeps one branch.
 */
static __always_inline __u64 coarse_now_ns(void)
{
	__u64 j = bpf_jiffies64();

	if (CONFIG_HZ == 1000)
		return (j - (__u32)(-300 * 1000)) * (NSEC_PER_SEC / 1000);
	if (CONFIG_HZ == 250)
		return (j - (__u32)(-300 * 250)) * (NSEC_PER_SEC / 250);
	if (CONFIG_HZ == 300)
		return (j - (__u32)(-300 * 300)) * (NSEC_PER_SEC / 300);
	if (CONFIG_HZ == 100)
		return (j - (__u32)(-300 * 100)) * (NSEC_PER_SEC / 100);
	return bpf_ktime_get_coarse_ns();
}

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

static __always_inline __u32 hash_flow(const struct packet *p)
{
	__u32 h = hash_seed;

	if (p->family == QLB_FAMILY_V4) {
		h = hash_mix(h, p->key.k4.saddr);
		h = hash_mix(h, p->key.k4.daddr);
	} else {
		int i;

		for (i = 0; i < 4; i++) {
			h = hash_mix(h, p->key.k6.saddr[i]);
			h = hash_mix(h, p->key.k6.daddr[i]);
		}
	}
	h = hash_mix(h, ((__u32)*p->sport << 16) | *p->dport);
	h = hash_mix(h, p->proto);
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

/*
 * The verifier inlines a map lookup only where one call site always sees the
 * same map; if clang merged the two families' lookups into one call taking
 * either map, every packet would pay an out-of-line, retpolined call. The
 * empty asm after one of them keeps the two call sites apart.
 */
#define KEEP_APART(v) asm volatile("" : "+r"(v))

/* The destination address in qlb_addr form (IPv4 in the first word). */
static __always_inline void vip_addr_of(const struct packet *p, union qlb_addr *a)
{
	if (p->family == QLB_FAMILY_V4)
		a->v4 = p->key.k4.daddr;
	else
		__builtin_memcpy(a->v6, p->key.k6.daddr, 16);
}

static __always_inline struct qlb_flow *lookup_flow(const struct packet *p)
{
	struct qlb_flow *f;

	if (p->family == QLB_FAMILY_V4) {
		f = bpf_map_lookup_elem(&flows_v4, &p->key.k4);
		KEEP_APART(f);
	} else {
		f = bpf_map_lookup_elem(&flows_v6, &p->key.k6);
	}
	return f;
}

/* Fills the key of the packet going the other way between the same two
 * endpoints. */
static __always_inline void swap_key(const struct packet *p, void *out)
{
	if (p->family == QLB_FAMILY_V4) {
		struct qlb_flow4_key *k = out;

		k->saddr = p->key.k4.daddr;
		k->daddr = p->key.k4.saddr;
		k->sport = p->key.k4.dport;
		k->dport = p->key.k4.sport;
		k->proto = p->proto;
	} else {
		struct qlb_flow6_key *k = out;

		__builtin_memcpy(k->saddr, p->key.k6.daddr, 16);
		__builtin_memcpy(k->daddr, p->key.k6.saddr, 16);
		k->sport = p->key.k6.dport;
		k->dport = p->key.k6.sport;
		k->proto = p->proto;
	}
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

/* The open-flow count of a backend: +1 when a flow is scheduled to it, -1
 * when that flow completes. */
static __always_inline void active_add(__u32 backend_id, __s64 d)
{
	__s64 *a = bpf_map_lookup_elem(&backend_active, &backend_id);

	if (a)
		__sync_fetch_and_add(a, d);
}

/* Marks a request entry closed; 1 for the one caller that did, so that a
 * completion is counted once per flow however many CPUs (or the agent's GC)
 * see it end. */
static __always_inline int claim_close(struct qlb_flow *req)
{
	if (req->flags & QLB_FLOW_F_CLOSED)
		return 0;
	return !(__sync_fetch_and_or(&req->flags, QLB_FLOW_F_CLOSED) & QLB_FLOW_F_CLOSED);
}

/* Counts a completion once per flow, whichever direction sees FIN/RST first.
 * A refused connection is a completion but no duration sample: its round
 * trip says nothing of how fast the backend serves. */
static __always_inline void note_close(struct qlb_flow *req, struct qlb_backend_stats *s,
				       __u8 tcp_flags, int refused)
{
	if (!(tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST)) || !claim_close(req))
		return;
	if (s) {
		__u64 t = bpf_ktime_get_ns();

		s->flows_closed++;
		if (!refused && t > req->created_ns) {
			s->dur_count++;
			s->dur_sum_ns += t - req->created_ns;
		}
	}
	active_add(req->backend_id, -1);
}

static __always_inline void note_refused(__u32 backend_id, struct qlb_backend_stats *s,
					 __u64 now)
{
	__u64 *refused = bpf_map_lookup_elem(&backend_refused, &backend_id);

	if (refused)
		*refused = now;
	if (s)
		s->refused++;
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
		if (!c && p->proto == IPPROTO_UDP)
			c = 0xffff;
		*p->l4_check = c;
	}
}

/* Whether a known request flow must be scheduled anew. */
static __always_inline int flow_expired(const struct qlb_flow *f,
					const struct packet *p, __u64 now)
{
	__u64 idle = now - f->last_seen_ns;

	if (p->proto == IPPROTO_UDP)
		return idle > udp_idle_timeout_ns;
	/* A TCP flow moves only on a fresh SYN: after a close, or after the
	 * old flow went idle and its client reused the port. */
	if ((p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != TCP_FLAG_SYN)
		return 0;
	return (f->flags & QLB_FLOW_F_CLOSED) || idle > tcp_idle_timeout_ns;
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

/* This CPU's counters of a backend. */
static __always_inline struct qlb_backend_stats *backend_stats_of(__u32 backend_id)
{
	__u32 key;

	if (backend_id >= QLB_MAX_BACKENDS)
		return NULL;
	key = QLB_BE_STATS_KEY(bpf_get_smp_processor_id(), backend_id);
	return bpf_map_lookup_elem(&backend_stats, &key);
}

/* The key of the responses to request p once it goes to backend be: they
 * come from the backend's address and port. out is a qlb_flow4_key or
 * qlb_flow6_key by p's family. */
static __always_inline void response_key(const struct packet *p, const struct qlb_backend *be,
					 void *out)
{
	__be16 port = be->port ? be->port : *p->dport;

	if (p->family == QLB_FAMILY_V4) {
		struct qlb_flow4_key *k = out;

		k->saddr = be->addr.v4;
		k->daddr = p->key.k4.saddr;
		k->sport = port;
		k->dport = p->key.k4.sport;
		k->proto = p->proto;
	} else {
		struct qlb_flow6_key *k = out;

		__builtin_memcpy(k->saddr, be->addr.v6, 16);
		__builtin_memcpy(k->daddr, p->key.k6.saddr, 16);
		k->sport = port;
		k->dport = p->key.k6.sport;
		k->proto = p->proto;
	}
}

/*
 * Whether p is a client's second SYN retry on a TCP flow that its backend
 * has not answered (no SYN-ACK went back through here; retries at least
 * syn_unanswered_ns apart). If so the backend is marked refusing, like one
 * that sent a RST, and the flow's response entry goes, so that a late
 * answer from it reaches our kernel (which resets it) and not the client;
 * the caller schedules the flow anew. Only retried SYNs pay the response
 * entry's lookup.
 */
static __always_inline int give_up_unanswered(const struct packet *p, struct qlb_flow *req,
					      const struct qlb_backend *be, __u64 now)
{
	union {
		struct qlb_flow4_key k4;
		struct qlb_flow6_key k6;
	} rkey = {};
	struct qlb_flow *resp;

	/* A closed flow's SYN never gets here: flow_expired moved it. */
	if (p->proto != IPPROTO_TCP ||
	    (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != TCP_FLAG_SYN ||
	    now - req->last_seen_ns < syn_unanswered_ns)
		return 0;
	response_key(p, be, &rkey);
	if (p->family == QLB_FAMILY_V4)
		resp = bpf_map_lookup_elem(&flows_v4, &rkey.k4);
	else
		resp = bpf_map_lookup_elem(&flows_v6, &rkey.k6);
	if (!resp || (resp->flags & (QLB_FLOW_F_RESPONSE | QLB_FLOW_F_ANSWERED)) !=
			     QLB_FLOW_F_RESPONSE)
		return 0;
	if (!(req->flags & QLB_FLOW_F_SYN_RETRIED)) {
		/* Every writer sets the same bit: a plain store will do. */
		req->flags |= QLB_FLOW_F_SYN_RETRIED;
		return 0;
	}
	if (p->family == QLB_FAMILY_V4)
		bpf_map_delete_elem(&flows_v4, &rkey.k4);
	else
		bpf_map_delete_elem(&flows_v6, &rkey.k6);
	note_refused(req->backend_id, backend_stats_of(req->backend_id), now);
	return 1;
}

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

#define QLB_ACTIVE_MAX 0xffffffffull

/* Whether the backend refused a connection within refused_hold_ns. */
static __always_inline int refusing(__u32 backend_id, __u64 now)
{
	__u64 *refused = bpf_map_lookup_elem(&backend_refused, &backend_id);

	return refused && *refused && now - *refused < refused_hold_ns;
}

/* A backend's open flows as a pick sees them: never below 0 (races can
 * leave the counter off by a little) and at most QLB_ACTIVE_MAX, so that
 * (active + 1) * mu fits in 64 bits. A refusing backend looks full: any
 * other candidate wins over it. */
static __always_inline __u64 active_of(__u32 backend_id, __u64 now)
{
	__s64 *a = bpf_map_lookup_elem(&backend_active, &backend_id);
	__s64 v = a ? *a : 0;

	if (refusing(backend_id, now))
		return QLB_ACTIVE_MAX;
	if (v < 0)
		return 0;
	return v > (__s64)QLB_ACTIVE_MAX ? QLB_ACTIVE_MAX : v;
}

/* Restates an index bound for the verifier: clang knows the index is below
 * n <= QLB_MAX_VIP_PICK and would drop a plain mask, so the empty asm hides
 * the value from it first. */
static __always_inline __u32 pick_index(__u32 i)
{
	asm volatile("" : "+r"(i));
	return i & (QLB_MAX_VIP_PICK - 1);
}

/*
 * The per-flow rules. LC and SED are one: the least (active + 1) / mu,
 * compared by cross-multiplying, so there is no division and no rounding;
 * ties go to the lowest index. For LC userspace sets every mu to 1.
 */
static __always_inline __u32 pick_among(const struct qlb_vip_backends *vb, __u32 n,
					 __u64 now)
{
	__u64 best_a1, best_mu, a1, mu;
	__u32 i, best;

	if (vb->mode == QLB_PICK_P2C) {
		__u32 r = bpf_get_prandom_u32(), j;

		if (n == 1)
			return vb->ids[0];
		/* Two distinct candidates. */
		i = pick_index(r % n);
		j = pick_index((i + 1 + (r >> 16) % (n - 1)) % n);
		return active_of(vb->ids[j], now) < active_of(vb->ids[i], now) ? vb->ids[j] :
										 vb->ids[i];
	}
	/* The winner is kept as an id, not an index: no constant tells the
	 * loop's exits apart, so the verifier checks what follows once. */
	best = vb->ids[0];
	best_a1 = active_of(best, now) + 1;
	best_mu = vb->mu[0];
	for (i = 1; i < QLB_MAX_VIP_PICK && i < n; i++) {
		a1 = active_of(vb->ids[i], now) + 1;
		mu = vb->mu[i];
		if (a1 * best_mu < best_a1 * mu) {
			best = vb->ids[i];
			best_a1 = a1;
			best_mu = mu;
		}
	}
	return best;
}

/*
 * The backend id for a new flow of a VIP: by its per-flow mode, else from
 * its active ring, the one its ring_gen picks (hash: the flow's);
 * QLB_NO_BACKEND if neither has one. A pick is
 * checked against the backend itself, since vip_backends can be read half
 * updated and a drained or down backend must get no new flow; a failed pick
 * falls back to the ring.
 *
 * A global function, so that the verifier checks it once, on its own,
 * instead of every turn of the pick loop once per path into to_backend_new
 * (past its limit), and the code after it once, not once per branch. The
 * call costs a few ns per new flow.
 */
__noinline __u32 qlb_schedule(__u32 vip_id, __u32 ring_gen, __u32 hash, __u64 now)
{
	struct qlb_vip_backends *vb = bpf_map_lookup_elem(&vip_backends, &vip_id);
	__u32 slot = hash % QLB_RING_SIZE, ring_key = QLB_RING_KEY(vip_id, ring_gen);
	__u32 n, id, *rid;
	struct qlb_backend *be;
	void *ring;

	n = vb && vb->mode != QLB_PICK_RING ? vb->count : 0;
	if (n && n <= QLB_MAX_VIP_PICK) {
		id = pick_among(vb, n, now);
		be = bpf_map_lookup_elem(&backends, &id);
		if (be && qlb_backend_takes_new_flows(be, vip_id))
			return id;
	}
	ring = bpf_map_lookup_elem(&maglev_rings, &ring_key);
	rid = ring ? bpf_map_lookup_elem(ring, &slot) : NULL;
	if (!rid)
		return QLB_NO_BACKEND;
	id = *rid;
	/* A refusing backend's new flows go to the owners of the next slots,
	 * which Maglev spreads over the others in proportion to their
	 * weights; if those refuse too, to the flow's own slot anyway. */
	for (n = 0; n <= QLB_RING_REFUSED_PROBES; n++) {
		if (!refusing(*rid, now))
			return *rid;
		slot = slot + 1 < QLB_RING_SIZE ? slot + 1 : 0;
		rid = bpf_map_lookup_elem(ring, &slot);
		if (!rid)
			break;
	}
	return id;
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

	backend_id = qlb_schedule(vip_id, ring_gen, hash_flow(p), now);
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

	p->family = QLB_FAMILY_V4;
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
	__builtin_memcpy(p->key.k6.saddr, &ip6->saddr, 16);
	__builtin_memcpy(p->key.k6.daddr, &ip6->daddr, 16);
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
	struct qlb_backend *be;
	struct qlb_flow *flow;
	struct qlb_vip *vip;
	int vlan_bad = 0, proto, reason;
	__u64 now;

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
		/* Backend deleted, silent, or the flow ended: schedule it anew. */
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
