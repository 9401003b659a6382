/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Picking a backend for a new flow: by the VIP's per-flow mode (lc, p2c,
 * sed: live open-flow counts, and mu for sed), else its weighted Maglev
 * ring; a backend that refused a connection is passed over for a while.
 */
#ifndef QLB_PICK_BPF_H
#define QLB_PICK_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "qlb_abi.h"
#include "qlb_maps.bpf.h"

/* How long new flows pass over a backend after it refused a connection
 * (backend_refused in qlb_abi.h): a dead backend costs about one failed
 * connection per hold, not a window's worth of them. */
const volatile __u64 refused_hold_ns = NSEC_PER_SEC;
/* Ring slots tried past a refusing backend's before giving up on others. */
#define QLB_RING_REFUSED_PROBES 8

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
__noinline __u32 qlb_pick(__u32 vip_id, __u32 ring_gen, __u32 hash, __u64 now)
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

#endif /* QLB_PICK_BPF_H */
