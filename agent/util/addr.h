/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Endpoints as users write them. */
#ifndef QLB_ADDR_H
#define QLB_ADDR_H

#include <stddef.h>
#include <stdint.h>

#include "qlb_abi.h"

struct qlb_endpoint {
	union qlb_addr addr;
	uint8_t family;		/* QLB_FAMILY_* */
	uint16_t port;		/* host order; 0 if absent */
};

/* Parses "1.2.3.4", "1.2.3.4:80", "[2001:db8::1]" or "[2001:db8::1]:80".
 * port_required: 1 = must have a port, 0 = optional. Returns 0 or -EINVAL
 * with a reason in err. */
int qlb_parse_endpoint(const char *s, int port_required, struct qlb_endpoint *ep,
		       char *err, size_t errlen);
/* Whether a can be a VIP or a backend: 0, or -EINVAL with the class of
 * address it is in why (unspecified, loopback, multicast, broadcast or
 * reserved), which no client can reach through a balancer. */
int qlb_addr_unicast(const union qlb_addr *a, uint8_t family, char *why, size_t len);
/* Formats "1.2.3.4:80" or "[::1]:80" (port 0 omits it). */
char *qlb_format_endpoint(const union qlb_addr *a, uint8_t family, uint16_t port,
			  char *buf, size_t len);

#endif /* QLB_ADDR_H */
