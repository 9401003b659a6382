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

#endif /* QLB_ATTACH_H */
