/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The flow tables: walking them, and their garbage collection (flows.c). */
#ifndef QLB_FLOWS_H
#define QLB_FLOWS_H

#include <stdint.h>

#include "state.h"

struct qlb_flow_entry {
	union qlb_addr saddr, daddr;
	uint16_t sport, dport;	/* host order */
	uint8_t family, proto;
	struct qlb_flow val;
};

/* Returns 0 to go on, > 0 to stop, < 0 to stop with that error. */
typedef int (*qlb_flow_fn)(const struct qlb_flow_entry *e, void *ctx);
/* Calls fn for every entry, request and response, of both flow tables. */
int qlb_flows_foreach(struct qlb_state *st, qlb_flow_fn fn, void *ctx);
/* Calls fn for every entry of both half-open tables. */
int qlb_pending_foreach(struct qlb_state *st, qlb_flow_fn fn, void *ctx);

struct qlb_gc_result {
	uint64_t scanned;	/* entries walked, both directions */
	uint64_t expired;	/* open flows deleted idle (backend_gc completions) */
	uint64_t closed;	/* closed flows deleted after the linger */
	uint64_t orphans;	/* idle response entries whose request was gone */
	uint64_t reclaimed;	/* open flows backend_active counted that the table
				 * no longer had: taken off it, and counted as
				 * evicted (backend_gc) */
};

/*
 * Deletes flows idle (both directions) beyond their protocol's timeout, and
 * closed ones idle beyond closed_linger_ns (so that TIME_WAIT stragglers
 * still find them), request and response entries together, plus idle
 * response entries left without their request. An open flow deleted counts
 * as a completion of its backend (backend_gc) and leaves backend_active.
 * Open flows missing from the table are taken off backend_active too, as
 * evictions (nothing is known of how they ended).
 * res may be NULL. Returns the number of flows deleted, or -errno.
 */
int qlb_flows_gc(struct qlb_state *st, uint64_t tcp_idle_ns, uint64_t udp_idle_ns,
		 uint64_t closed_linger_ns, struct qlb_gc_result *res);

/* Deletes half-open entries idle beyond timeout_ns: handshakes that never
 * completed (a spoofed SYN, a client gone). 0 or -errno; *deleted (may be
 * NULL) gets how many. */
int qlb_pending_gc(struct qlb_state *st, uint64_t timeout_ns, uint64_t *deleted);

#endif /* QLB_FLOWS_H */
