/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Routes and next hops, from the kernel's tables (neigh.c). */
#ifndef QLB_NEIGH_H
#define QLB_NEIGH_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "qlb_abi.h"

struct qlb_nexthop {
	uint32_t ifindex;
	uint8_t dmac[6];
	uint8_t smac[6];
};

struct qlb_route_info {
	uint32_t ifindex;	/* egress interface */
	uint8_t type;		/* RTN_UNICAST, RTN_LOCAL, ... */
	uint8_t has_gateway;	/* else the next hop is addr itself */
	uint16_t neigh_state;	/* NUD_* of the next hop on ifindex; 0: no entry */
	union qlb_addr nexthop;
	uint8_t mac[6];		/* the next hop's, when neigh_state is usable */
};

/* What the kernel's route and neighbour tables say of the way to addr, in
 * this network namespace, without asking for a resolution.
 * -EHOSTUNREACH without a route. */
int qlb_route_query(const union qlb_addr *addr, uint8_t family, struct qlb_route_info *ri);

/* Resolves the egress interface and the next hop's MAC for addr through the
 * kernel's route and neighbour tables, asking the kernel to resolve an
 * unknown neighbour and waiting up to timeout_ms. */
int qlb_resolve_nexthop(const union qlb_addr *addr, uint8_t family,
			int timeout_ms, struct qlb_nexthop *nh, struct qlb_error *e);

#endif /* QLB_NEIGH_H */
