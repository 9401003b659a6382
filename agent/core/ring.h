/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Weights into a VIP's ring, and the atomic flip to it (ring.c). */
#ifndef QLB_RING_H
#define QLB_RING_H

#include <stdint.h>

#include "state.h"

/* Builds the VIP's weighted Maglev ring from the snapshot (ring_weight of
 * each backend that takes new flows), writes it into the VIP's inactive
 * ring and flips ring_gen: atomic for packets (see ring.c). A VIP not in the
 * snapshot (being added) gets a fresh ring 0, whose map id
 * qlb_ring_new_id() gives, for the caller to insert it with ring_gen 0.
 * Updates ring_slots in the snapshot and the backends map, then the VIP's
 * per-flow picks (qlb_publish_pick). churn_pct (may be NULL) receives the
 * share of slots that changed owner. The caller holds the lock and a fresh
 * snapshot; a VIP changed behind its back fails with -ESTALE, and rings
 * that do not map as the program reads them with -EOPNOTSUPP. */
int qlb_publish_ring(struct qlb_state *st, uint32_t vip_id, double *churn_pct);
/* The map id of the ring 0 that qlb_publish_ring() made for a new VIP. */
uint32_t qlb_ring_new_id(const struct qlb_state *st, uint32_t vip_id);
/* The grace period that frees the ring this process's last flip of the VIP
 * retired (grace.c), 0 if none. */
uint64_t qlb_ring_flip_ticket(const struct qlb_state *st, uint32_t vip_id);
/* Closes this process's mappings of a VIP's rings and deletes them from
 * maglev_rings (after the VIP itself is gone). */
void qlb_rings_delete(struct qlb_state *st, uint32_t vip_id);

#endif /* QLB_RING_H */
