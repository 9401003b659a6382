/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The pinned state is the only state: every qlb process (CLI or agent) reads
 * VIPs and backends from the pinned maps, so nothing is lost when a process
 * dies and a new one picks up where it left off. A struct qlb_state is one
 * process's view: the maps' fds and mappings, and a snapshot of the VIPs and
 * backends that qlb_state_read() refreshes.
 */
#ifndef QLB_STATE_H
#define QLB_STATE_H

#include <stdint.h>

#include "addr.h"
#include "error.h"
#include "qlb_abi.h"

struct qlb_maps {
	int vips;
	int backends;
	int maglev_rings;
	int flows_v4;
	int flows_v6;
	int tx_ports;
	int ifaces;
	int backend_stats;
	int backend_est;
	int vip_stats;
	int reason_stats;
	int vip_backends;
	int backend_active;
	int backend_gc;
	int backend_refused;
	int abi;
	int pending_v4;
	int pending_v6;
	int servers;
	int client_hops;
	int flood_state;
	int event_stats;
	int vip_addrs;
};

struct qlb_vip_entry {
	struct qlb_vip_key key;
	struct qlb_vip val;
};

/* This process's mappings of the rings (ring.c), freed with the state. */
struct qlb_ring_cache;

struct qlb_state {
	char pin_dir[256];
	int lock_fd;
	struct qlb_maps maps;
	/* Snapshot read by qlb_state_read(). */
	int nvips;
	struct qlb_vip_entry vips[QLB_MAX_VIPS];
	struct qlb_backend backends[QLB_MAX_BACKENDS];
	__u32 ring_keys[QLB_RING_SIZE];	/* 0..QLB_RING_SIZE-1, for batch calls */
	struct qlb_ring_cache *rings;
	void (*rings_free)(struct qlb_ring_cache *rings);
	int ncpus;
	/* backend_active and backend_gc, mapped: shared with the program,
	 * changed only by atomic adds. */
	struct qlb_backend_load *active;
	struct qlb_backend_gc *gc;
	/* backends and backend_est, mapped: read whole into the snapshot,
	 * written a field or an entry at a time (qlb_backend_store_u32,
	 * qlb_backend_est_write), or whole through the syscall. */
	struct qlb_backend *be_map;
	struct qlb_backend_est *est_map;
	/* backend_stats, mapped: ncpus x QLB_MAX_BACKENDS, CPU-major
	 * (QLB_BE_STATS_KEY); the program's counters, read by summing. */
	struct qlb_backend_stats *stats_map;
	/* A mu estimate older than this does not count for SED (default
	 * QLB_MU_MAX_AGE_NS; an agent with a long window raises it). */
	uint64_t mu_max_age_ns;
	/* The agent's rate for sed's pick, per backend, when it differs from
	 * the published mu (the policy's pick_mu); 0: the published mu. Kept
	 * here, not in backend_est, since only the agent's own publishing
	 * reads it: a pick published by another process uses mu until the
	 * agent's next window. */
	uint64_t pick_mu_milli[QLB_MAX_BACKENDS];
};

#define QLB_MU_MAX_AGE_NS	(5 * 1000000000ull)

/* Opens the pinned maps of qlb_pin_dir(); with create, pins them first if
 * nothing is pinned. Takes the writers' lock when writable. */
int qlb_state_open(struct qlb_state **st, int create, int writable, struct qlb_error *e);
void qlb_state_close(struct qlb_state *st);
/* The writers' lock, for a process that keeps the state open (the agent)
 * and writes now and then. */
int qlb_state_lock(struct qlb_state *st, struct qlb_error *e);
void qlb_state_unlock(struct qlb_state *st);
int qlb_state_read(struct qlb_state *st);

struct qlb_vip_entry *qlb_find_vip(struct qlb_state *st, const struct qlb_vip_key *k);
/* The id of the VIP's backend at ep, or -1. */
int qlb_find_backend(struct qlb_state *st, uint32_t vip_id, const struct qlb_endpoint *ep);
int qlb_alloc_vip_id(struct qlb_state *st, uint32_t *id);
int qlb_alloc_backend_id(struct qlb_state *st, uint32_t *id);

/* Writes one 32-bit field of the snapshot's backend id (field points into
 * st->backends[id]) to the map, with one store through its mapping: for
 * fields the program does not read (ring_weight, ring_slots). */
void qlb_backend_store_u32(struct qlb_state *st, uint32_t id, const __u32 *field);
/* Zeroes backend id's counters on every CPU, so a reused id starts from
 * nothing. */
void qlb_backend_stats_zero(struct qlb_state *st, uint32_t id);
/* Writes backend id's estimates to backend_est, through its mapping. */
void qlb_backend_est_write(struct qlb_state *st, uint32_t id, const struct qlb_backend_est *e);
/* Zeroes one slot of a per-CPU map so a reused id starts from nothing. */
int qlb_zero_percpu(struct qlb_state *st, int map_fd, uint32_t key, size_t value_size);
/* A backend's open flows (backend_active), clamped at 0. */
uint64_t qlb_backend_active(const struct qlb_state *st, uint32_t id);
/* Adds to a backend's open flows, atomically with respect to the program. */
void qlb_backend_active_add(struct qlb_state *st, uint32_t id, int64_t delta);
/* What a backend is doing, in one word: "down" (failed its health checks),
 * "draining", "idle" (weight 0) or "up". */
const char *qlb_backend_state_name(const struct qlb_backend *b);

#endif /* QLB_STATE_H */
