/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The flow table: both directions of every established flow, each keyed by
 * its 5-tuple as on the wire, so one lookup classifies any packet; when a
 * known flow is scheduled anew; how a flow's end is counted once.
 */
#ifndef QLB_FLOW_BPF_H
#define QLB_FLOW_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "qlb_abi.h"
#include "qlb_maps.bpf.h"
#include "qlb_parse.bpf.h"
#include "qlb_stats.bpf.h"

#define NSEC_PER_SEC 1000000000ull
#define EEXIST 17	/* vmlinux.h carries no errno values */

/* Set through the skeleton before load. */
const volatile __u32 hash_seed = 0;
const volatile __u64 udp_idle_timeout_ns = 30 * NSEC_PER_SEC;
const volatile __u64 tcp_idle_timeout_ns = 900 * NSEC_PER_SEC;
/* last_seen is written at most this often, to keep the cache line of an
 * established flow from bouncing between CPUs on every packet. */
const volatile __u64 last_seen_resolution_ns = NSEC_PER_SEC / 4;
/* A client's SYN again, this long after the last one, on a half-open flow
 * its backend has not answered is a retry. The second retry (Linux: 2 or 3 s after the
 * first SYN) gives the backend up as silent (dead without a RST, or
 * dropping SYNs): the flow goes elsewhere and the backend counts as
 * refusing. The first is left alone, so that one lost SYN-ACK (the eval's
 * veth rings drop a few) does not hold a live backend back. */
const volatile __u64 syn_unanswered_ns = NSEC_PER_SEC / 2;
extern unsigned int CONFIG_HZ __kconfig __weak;

/*
 * The flow clock: jiffies, read inline (the verifier inlines bpf_jiffies64),
 * where a clock helper call costs as much as a flow lookup. Scaled to ns
 * since boot it runs with CLOCK_MONOTONIC, a fixed offset apart (a few
 * hundred ms; tests/unit/test_pick.c prints it): plenty for idle timeouts
 * and refusal holds.
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

/* The open-flow count of a backend: +1 when a flow enters the flow table,
 * -1 when that flow completes. */
static __always_inline void active_add(__u32 backend_id, __s64 d)
{
	struct qlb_backend_load *l = bpf_map_lookup_elem(&backend_active, &backend_id);

	if (l)
		__sync_fetch_and_add(&l->active, d);
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

/* Counts a completion once per flow, whichever direction sees FIN/RST
 * first, with its duration. */
static __always_inline void note_close(struct qlb_flow *req, struct qlb_backend_stats *s,
				       __u8 tcp_flags)
{
	if (!(tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST)) || !claim_close(req))
		return;
	if (s) {
		__u64 t = bpf_ktime_get_ns();

		s->flows_closed++;
		if (t > req->created_ns) {
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

#endif /* QLB_FLOW_BPF_H */
