/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Changes to VIPs and backends (config.c). */
#ifndef QLB_CONFIG_H
#define QLB_CONFIG_H

#include <stdint.h>

#include "state.h"

/* All return 0 or -errno (-EEXIST, -ENOENT, -ENOSPC, ...), keep the snapshot
 * in step with the maps, and leave the maps as they were on failure. */
int qlb_vip_add(struct qlb_state *st, const struct qlb_vip_key *k, uint32_t *vip_id);
int qlb_vip_del(struct qlb_state *st, const struct qlb_vip_key *k);
int qlb_vip_set_policy(struct qlb_state *st, const struct qlb_vip_key *k, uint32_t policy);
/* nb: address, port (network order), family, vip_id, weight, flags and the
 * resolved next hop (ifindex, dmac, smac). */
/* Whether nb's server endpoint (its address, and its port or its VIP's)
 * serves a backend already: -EEXIST for one of the same VIP (the same
 * server spelled another way), -EADDRINUSE for another VIP's (one endpoint
 * serves one VIP: its replies must name it), else 0. */
int qlb_backend_conflict(const struct qlb_state *st, const struct qlb_backend *nb);
int qlb_backend_insert(struct qlb_state *st, const struct qlb_backend *nb,
		       uint32_t *backend_id);
int qlb_backend_update(struct qlb_state *st, uint32_t id, uint32_t weight,
		       uint32_t flags);
int qlb_backend_remove(struct qlb_state *st, uint32_t id);
/* The agent's path: sets the ring weights of backends ids[0..n) of a VIP
 * and republishes its ring if any changed. */
int qlb_apply_ring_weights(struct qlb_state *st, uint32_t vip_id, const uint32_t *ids,
			   const uint32_t *ring_weights, uint32_t n, double *churn_pct);

#endif /* QLB_CONFIG_H */
