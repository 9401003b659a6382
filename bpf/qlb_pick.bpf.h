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

/* Flows placed on a backend and not established yet: the SYNs of one round
 * trip, which a pick must see, or they would all go to one backend. */
static __always_inline void placed_add(__u32 backend_id, __u64 now)
{
	struct qlb_backend_load *l = bpf_map_lookup_elem(&backend_active, &backend_id);
	__u32 epoch = now >> QLB_PLACED_EPOCH_SHIFT;

	if (!l)
		return;
	/* Plain stores: a lost increment costs one slightly odd pick. */
	if (l->placed_epoch != epoch) {
		l->placed_epoch = epoch;
		l->placed = 1;
	} else {
		l->placed++;
	}
}

/* A placed flow that got established (counted in active from now) or ended
 * before it began. */
static __always_inline void placed_sub(__u32 backend_id)
{
	struct qlb_backend_load *l = bpf_map_lookup_elem(&backend_active, &backend_id);

	if (l && l->placed)
		l->placed--;
}

/* A backend's flows as a pick sees them: open ones (never below 0: races
 * can leave the counter off by a little) and those placed this or the last
 * epoch, at most QLB_ACTIVE_MAX, so that (active + 1) * mu fits in 64
 * bits. A refusing backend looks full: any other candidate wins over it. */
static __always_inline __u64 active_of(__u32 backend_id, __u64 now)
{
	struct qlb_backend_load *l = bpf_map_lookup_elem(&backend_active, &backend_id);
	__u32 epoch = now >> QLB_PLACED_EPOCH_SHIFT;
	__s64 v;

	if (!l || refusing(backend_id, now))
		return l ? QLB_ACTIVE_MAX : 0;
	v = l->active;
	if (v < 0)
		v = 0;
	if (l->placed_epoch == epoch || l->placed_epoch + 1 == epoch)
		v += l->placed;
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
 * The owner of the flow's slot in the VIP's active ring, the one its
 * ring_gen picks; QLB_NO_BACKEND if it has none. A refusing backend's new
 * flows go to the owners of the next slots, which Maglev spreads over the
 * others in proportion to their weights; if those refuse too, to the
 * flow's own slot anyway. Every packet of a flow without state comes here,
 * so that it reaches the same backend as long as the ring stays.
 *
 * Global functions (this one and qlb_flow_pick), so that the verifier checks
 * each once, on its own, instead of every turn of their loops once per
 * path into them (past its limit), and the code after them once, not once
 * per branch. A call costs a few ns.
 */
__noinline __u32 qlb_ring_pick(__u32 vip_id, __u32 ring_gen, __u32 hash, __u64 now)
{
	__u32 slot = hash % QLB_RING_SIZE, ring_key = QLB_RING_KEY(vip_id, ring_gen);
	__u32 n, id, *rid;
	void *ring;

	ring = bpf_map_lookup_elem(&maglev_rings, &ring_key);
	rid = ring ? bpf_map_lookup_elem(ring, &slot) : NULL;
	if (!rid)
		return QLB_NO_BACKEND;
	id = *rid;
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

/*
 * The backend id for a new flow of a VIP by its per-flow mode, or
 * QLB_NO_BACKEND if it has none: then the ring decides (pick_backend). A
 * pick is checked against the backend itself, since vip_backends can be
 * read half updated and a drained or down backend must get no new flow.
 * Apart from qlb_ring_pick, so that no call chain holds both frames.
 */
__noinline __u32 qlb_flow_pick(__u32 vip_id, __u64 now)
{
	struct qlb_vip_backends *vb = bpf_map_lookup_elem(&vip_backends, &vip_id);
	struct qlb_backend *be;
	__u32 n, id;

	n = vb && vb->mode != QLB_PICK_RING ? vb->count : 0;
	if (n && n <= QLB_MAX_VIP_PICK) {
		id = pick_among(vb, n, now);
		be = bpf_map_lookup_elem(&backends, &id);
		if (be && qlb_backend_takes_new_flows(be, vip_id))
			return id;
	}
	return QLB_NO_BACKEND;
}

/* The backend for a new flow of a VIP: per flow, else by the ring. */
static __always_inline __u32 pick_backend(__u32 vip_id, __u32 ring_gen, __u32 hash, __u64 now)
{
	__u32 id = qlb_flow_pick(vip_id, now);

	return id != QLB_NO_BACKEND ? id : qlb_ring_pick(vip_id, ring_gen, hash, now);
}

#endif /* QLB_PICK_BPF_H */
