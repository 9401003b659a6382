/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* How the data path picks a backend for a VIP's new flows (pick.c). */
#ifndef QLB_PICK_H
#define QLB_PICK_H

#include <stdint.h>

#include "state.h"

/* The data-path pick mode of a policy (enum qlb_policy_kind): lc and p2c
 * pick per flow; sedq picks by SED when every eligible backend has a fresh
 * mu (have_mu), else it stays on the ring, as every other policy does. */
enum qlb_pick_mode qlb_pick_mode_of(uint32_t policy, int have_mu);
/* Rebuilds the VIP's vip_backends entry from the snapshot: the backends
 * that take new flows with ring_weight > 0, the pick mode of its policy
 * and, for SED, each one's mu from backend_est. Writes only when it
 * changed. qlb_publish_ring() calls it; the agent calls it every window,
 * after publishing its estimates, to keep SED's mu fresh. */
int qlb_publish_pick(struct qlb_state *st, uint32_t vip_id);

#endif /* QLB_PICK_H */
