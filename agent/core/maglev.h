/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The weighted Maglev ring (maglev.c). */
#ifndef QLB_MAGLEV_H
#define QLB_MAGLEV_H

#include <stdint.h>

#include "qlb_abi.h"

struct qlb_maglev_backend {
	uint64_t offset_seed;	/* identity hash of the backend */
	uint32_t weight;
	uint32_t id;		/* value written into the ring */
};

/* Fills ring[QLB_RING_SIZE] so that backend i holds a share of slots
 * proportional to weight i. Backends with weight 0 get nothing; with no
 * weight at all, every slot is QLB_NO_BACKEND. Returns 0 or -ENOMEM. */
int qlb_maglev_build(const struct qlb_maglev_backend *be, int n, uint32_t *ring);
uint64_t qlb_backend_identity(const union qlb_addr *addr, uint8_t family,
			      uint16_t port);

#endif /* QLB_MAGLEV_H */
