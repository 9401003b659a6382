// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Per-flow scheduling: what the data path needs to pick a backend for each
 * new flow by live active-flow counts (vip_backends), and those counts.
 */
#include <errno.h>
#include <string.h>

#include <bpf/bpf.h>

#include "clock.h"
#include "pick.h"

enum qlb_pick_mode qlb_pick_mode_of(uint32_t policy, int have_mu)
{
	switch (policy) {
	case QLB_POLICY_LC:
		return QLB_PICK_LC;
	case QLB_POLICY_P2C:
		return QLB_PICK_P2C;
	case QLB_POLICY_SEDQ:
		/* Without a capacity for every candidate, SED would guess; the
		 * ring carries the policy's weights meanwhile. */
		return have_mu ? QLB_PICK_SED : QLB_PICK_RING;
	default:
		return QLB_PICK_RING;
	}
}

/* The agent's rate for a backend's sed pick (its capacity estimate, or
 * the policy's pick_mu) if it is recent, else 0. */
static uint64_t fresh_mu(struct qlb_state *st, uint32_t id, uint64_t now)
{
	struct qlb_backend_est e;

	memcpy(&e, &st->est_map[id], sizeof(e));
	if (!e.updated_ns)
		return 0;
	if (now > e.updated_ns && now - e.updated_ns > st->mu_max_age_ns)
		return 0;
	return st->pick_mu_milli[id] ? st->pick_mu_milli[id] : e.mu_milli;
}

int qlb_publish_pick(struct qlb_state *st, uint32_t vip_id)
{
	struct qlb_vip_backends vb = {}, cur;
	uint64_t mu[QLB_MAX_VIP_PICK], max_mu = 0, now = 0;
	uint32_t policy = QLB_POLICY_WRR, i;
	int have_mu = 1, shift = 0, too_many = 0;
	__u32 key = vip_id;

	if (vip_id >= QLB_MAX_VIPS)
		return -EINVAL;
	/* A VIP not (or no longer) in the snapshot has no backends: it gets
	 * an empty entry. */
	for (i = 0; i < (uint32_t)st->nvips; i++)
		if (st->vips[i].val.vip_id == vip_id)
			policy = st->vips[i].val.policy;
	if (policy == QLB_POLICY_SEDQ)
		now = qlb_mono_ns();
	for (i = 0; i < QLB_MAX_BACKENDS; i++) {
		const struct qlb_backend *b = &st->backends[i];

		if (!qlb_backend_takes_new_flows(b, vip_id) || !b->ring_weight)
			continue;
		if (vb.count == QLB_MAX_VIP_PICK) {
			too_many = 1;
			break;
		}
		mu[vb.count] = now ? fresh_mu(st, i, now) : 0;
		have_mu &= mu[vb.count] > 0;
		if (mu[vb.count] > max_mu)
			max_mu = mu[vb.count];
		vb.ids[vb.count++] = i;
	}
	vb.mode = qlb_pick_mode_of(policy, have_mu && vb.count);
	/* A per-flow pick must see every candidate: with more than the data
	 * path's bound, the VIP stays on its ring. */
	if (too_many) {
		memset(&vb, 0, sizeof(vb));
		vb.mode = QLB_PICK_RING;
	}
	if (vb.mode == QLB_PICK_SED) {
		/* Only ratios count: scale into 32 bits, keeping each >= 1. */
		while ((max_mu >> shift) > UINT32_MAX)
			shift++;
		for (i = 0; i < vb.count; i++)
			vb.mu[i] = mu[i] >> shift ? mu[i] >> shift : 1;
	} else if (vb.mode == QLB_PICK_LC) {
		/* The data path's LC is SED with equal capacities. */
		for (i = 0; i < vb.count; i++)
			vb.mu[i] = 1;
	}
	if (!bpf_map_lookup_elem(st->maps.vip_backends, &key, &cur) &&
	    !memcmp(&cur, &vb, sizeof(vb)))
		return 0;
	return bpf_map_update_elem(st->maps.vip_backends, &key, &vb, BPF_ANY) ? -errno : 0;
}
