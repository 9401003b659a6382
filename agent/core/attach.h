/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The XDP program on interfaces (attach.c). */
#ifndef QLB_ATTACH_H
#define QLB_ATTACH_H

#include <stdint.h>

#include "error.h"
#include "state.h"

/* Attaches the program to ifname in role (enum qlb_iface_role), or adds the
 * role where it is attached already; mode is "native", "generic" or "auto".
 * *attached: 1 if this call attached it. */
int qlb_attach(struct qlb_state *st, const char *ifname, uint32_t role,
	       const char *mode, int *attached, struct qlb_error *e);
int qlb_detach(struct qlb_state *st, const char *ifname, struct qlb_error *e);
/* Loads this build of the program on the pinned maps and swaps it, link by
 * link, for the one running: flows, counters and rings stay. *swapped: the
 * interfaces now running it (0 on failure, when every link is back). */
int qlb_replace_program(struct qlb_state *st, unsigned int *swapped, struct qlb_error *e);

#endif /* QLB_ATTACH_H */
