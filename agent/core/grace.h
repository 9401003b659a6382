/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* RCU grace periods for userspace (grace.c). */
#ifndef QLB_GRACE_H
#define QLB_GRACE_H

#include <stdint.h>

/* A ticket for a grace period that begins after this call, run by a helper
 * thread (started on first use). 0 or -errno. */
int qlb_gp_request(uint64_t *ticket);
/* Blocks until the ticket's grace period has elapsed. 0 or -errno. */
int qlb_gp_wait(uint64_t ticket);
/* 1 if it has, else 0; does not block. */
int qlb_gp_done(uint64_t ticket);
/* A whole grace period from now: request and wait. */
int qlb_gp_sync(void);
/* Tests: the operation that waits out one grace period (NULL: the kernel's
 * map-in-map update). */
void qlb_gp_set_op(int (*op)(void));

#endif /* QLB_GRACE_H */
