/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Userspace side of qlb: the pinned state and the operations on it. */
#ifndef QLB_H
#define QLB_H

#include <stdint.h>
#include <stdio.h>
#include "qlb_abi.h"

#define QLB_DEFAULT_PIN_DIR "/sys/fs/bpf/qlb"

/* Exit codes of the CLI. */
enum {
	QLB_EXIT_OK = 0,
	QLB_EXIT_FAIL = 1,	/* the system refused: permissions, kernel, ... */
	QLB_EXIT_USAGE = 2,	/* bad input: nothing was changed */
};

extern int qlb_verbose;

/* Routes libbpf's and libxdp's messages: all with -v, else warnings only. */
void qlb_setup_library_logging(void);
/* Silences even warnings, around calls whose failure qlb expects and
 * handles (libxdp probing for its dispatcher). */
void qlb_libs_quiet(int quiet);

/* Prints "qlb: <message>" on one line to stderr. */
void qlb_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same, for bad input: returns QLB_EXIT_USAGE. */
int qlb_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Maps a -errno from a command to an exit code: input errors (-EINVAL,
 * -ENOENT, -EEXIST, -ENODEV, -ERANGE) are usage errors. */
int qlb_exit_code(int err);

/* ---- addresses (addr.c) ---- */
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
int qlb_parse_proto(const char *s, uint8_t *proto);
const char *qlb_proto_name(uint8_t proto);
/* Formats "1.2.3.4:80" or "[::1]:80" (port 0 omits it). */
char *qlb_format_endpoint(const union qlb_addr *a, uint8_t family, uint16_t port,
			  char *buf, size_t len);
/* Strict number parsers for options: the whole string, no sign on the
 * integers, finite doubles. Return 0, -EINVAL (not a number of that kind)
 * or -ERANGE (outside [min, max]); callers word the error. */
int qlb_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);
int qlb_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
int qlb_parse_double(const char *s, double min, double max, double *out);

/* ---- pinned state (state.c) ---- */
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
};

struct qlb_vip_entry {
	struct qlb_vip_key key;
	struct qlb_vip val;
};

/* One ring of a VIP (an inner map of maglev_rings), as this process has it
 * open and mapped. */
struct qlb_ring_buf {
	uint32_t id;		/* kernel map id; 0: not open */
	int fd;
	uint8_t *mem;		/* QLB_RING_SIZE slots, 8 bytes apart */
};

/* A VIP's two rings and this process's last flip between them. */
struct qlb_vip_rings {
	struct qlb_ring_buf buf[2];
	uint32_t flip_gen;	/* the ring_gen this process last flipped to */
	uint32_t flip_ids[2];	/* the VIP's ring_id[] then */
	uint64_t flip_ticket;	/* grace period after that flip (grace.c); 0: none */
};

struct qlb_state {
	char pin_dir[256];
	int lock_fd;
	struct qlb_maps maps;
	/* Snapshot read by qlb_state_read(). */
	int nvips;
	struct qlb_vip_entry vips[QLB_MAX_VIPS];
	struct qlb_backend backends[QLB_MAX_BACKENDS];
	__u32 ring_keys[QLB_RING_SIZE];	/* 0..QLB_RING_SIZE-1, for batch calls */
	struct qlb_vip_rings rings[QLB_MAX_VIPS];
	int ring_layout_ok;		/* a mapped ring reads back as written */
	int ncpus;
	/* backend_active and backend_gc, mapped: shared with the program,
	 * changed only by atomic adds. */
	__s64 *active;
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
};

#define QLB_MU_MAX_AGE_NS	(5 * 1000000000ull)

/* $QLB_PIN_DIR, else the default of this network namespace: QLB_DEFAULT_PIN_DIR
 * in the host's, QLB_DEFAULT_PIN_DIR/netns/NAME in a namespace named NAME
 * under /run/netns (ino-N for an unnamed one), so that balancers in two
 * namespaces of one host never share pins by accident. */
const char *qlb_pin_dir(void);
/* 0 if dir, or the nearest directory above it that exists, is on a bpffs;
 * else -EMEDIUMTYPE with why, and in fix the command to type instead of
 * `qlb cmd` (or what sets a bpffs up). */
int qlb_pin_dir_fs(const char *dir, const char *cmd, char *why, size_t wlen, char *fix,
		   size_t flen);
/* The same, after one line that says why and what to type. */
int qlb_pin_dir_check(const char *dir);
/* The ABI version of the pins under dir, without a word: 0 with *version 0
 * when nothing is pinned there, QLB_PINS_ABI_OLD for pins older than the abi
 * map, QLB_PINS_ABI_INCOMPLETE for pins whose creation did not finish. */
#define QLB_PINS_ABI_OLD	0xffffffffu
#define QLB_PINS_ABI_INCOMPLETE	0xfffffffeu
int qlb_pins_abi_version(const char *dir, uint32_t *version);
/* 0 if the pins under dir are of this ABI or absent (*version 0); else
 * -EPROTO after one line saying what to do. */
int qlb_pins_abi_check(const char *dir, uint32_t *version);
/* Opens the pinned maps; with create, loads the BPF object once to create
 * and pin them. Takes an exclusive lock when writable. */
int qlb_state_open(struct qlb_state **st, int create, int writable);
void qlb_state_close(struct qlb_state *st);
/* The writers' lock, for a process that keeps the state open (the agent)
 * and writes now and then. */
int qlb_state_lock(struct qlb_state *st);
void qlb_state_unlock(struct qlb_state *st);
int qlb_state_read(struct qlb_state *st);

struct qlb_vip_entry *qlb_find_vip(struct qlb_state *st, const struct qlb_vip_key *k);
int qlb_find_backend(struct qlb_state *st, uint32_t vip_id,
		     const struct qlb_endpoint *ep);
int qlb_alloc_vip_id(struct qlb_state *st, uint32_t *id);
int qlb_alloc_backend_id(struct qlb_state *st, uint32_t *id);

/* Builds the VIP's weighted Maglev ring from the snapshot (ring_weight of
 * each backend; drained and down backends get none), writes it into the
 * VIP's inactive ring and flips ring_gen: atomic for packets (see state.c).
 * A VIP not in the snapshot (being added) gets a fresh ring 0, named by
 * st->rings[vip_id].buf[0].id, for the caller to insert it with ring_gen 0.
 * Updates ring_slots in the snapshot and the backends map, then the VIP's
 * per-flow picks (qlb_publish_pick). churn_pct (may be NULL) receives the
 * share of slots that changed owner. The caller holds the lock and a fresh
 * snapshot; a VIP changed behind its back fails with -ESTALE. */
int qlb_publish_ring(struct qlb_state *st, uint32_t vip_id, double *churn_pct);
/* Closes this process's mappings of a VIP's rings and deletes them from
 * maglev_rings (after the VIP itself is gone). */
void qlb_rings_delete(struct qlb_state *st, uint32_t vip_id);
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
uint32_t qlb_random_seed(void);

/* ---- network namespaces (netns.c) ---- */
struct stat;
/* Joins the network namespace NAME (under /run/netns) or PATH
 * (/proc/PID/ns/net) and nothing else: the mounts stay the host's. */
int qlb_netns_enter(const char *name);
/* 1 if this process is in the host's network namespace (PID 1's). */
int qlb_netns_is_host(void);
/* The name under /run/netns of the namespace file ns, or -ENOENT. */
int qlb_netns_name_of(const struct stat *ns, char *buf, size_t len);
/* This process's namespace: "" for the host's, its name, or "ino-N" for an
 * unnamed one (returns 1 then). */
int qlb_netns_self_name(char *buf, size_t len);
/* Opens the namespace that the current one knows as nsid (a veth peer's
 * IFLA_LINK_NETNSID) and names it: its /run/netns name, "" for the host's,
 * or "pid-N" for a process's. -ENOENT if none is found. */
int qlb_netns_open_nsid(int32_t nsid, int *fd, char *name, size_t len);
/* Moves this thread into the namespace fd; *saved is where it was, for
 * qlb_netns_restore(). */
int qlb_netns_switch(int fd, int *saved);
void qlb_netns_restore(int saved);

/* ---- RCU grace periods for userspace (grace.c) ---- */
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

/* ---- per-flow scheduling (pick.c) ---- */
/* The data-path pick mode of a policy (enum qlb_policy_kind): lc and p2c
 * pick per flow; qlb picks by SED when every eligible backend has a fresh
 * mu (have_mu), else it stays on the ring, as every other policy does. */
enum qlb_pick_mode qlb_pick_mode_of(uint32_t policy, int have_mu);
/* Rebuilds the VIP's vip_backends entry from the snapshot: its eligible
 * backends (in use, not drained or down, ring_weight > 0), the pick mode of
 * its policy and, for SED, each one's mu from backend_est. Writes only when
 * it changed. qlb_publish_ring() calls it; the agent calls it every window,
 * after publishing its estimates, to keep SED's mu fresh. */
int qlb_publish_pick(struct qlb_state *st, uint32_t vip_id);
/* A backend's open flows (backend_active), clamped at 0. */
uint64_t qlb_backend_active(const struct qlb_state *st, uint32_t id);
/* Adds to a backend's open flows, atomically with respect to the program. */
void qlb_backend_active_add(struct qlb_state *st, uint32_t id, int64_t delta);

/* ---- changes to VIPs and backends (config.c) ---- */
/* All return 0 or -errno (-EEXIST, -ENOENT, -ENOSPC, ...), keep the snapshot
 * in step with the maps, and leave the maps as they were on failure. */
int qlb_vip_add(struct qlb_state *st, const struct qlb_vip_key *k, uint32_t *vip_id);
int qlb_vip_del(struct qlb_state *st, const struct qlb_vip_key *k);
int qlb_vip_set_policy(struct qlb_state *st, const struct qlb_vip_key *k, uint32_t policy);
/* nb: address, port (network order), family, vip_id, weight, flags and the
 * resolved next hop (ifindex, dmac, smac). */
int qlb_backend_insert(struct qlb_state *st, const struct qlb_backend *nb,
		       uint32_t *backend_id);
int qlb_backend_update(struct qlb_state *st, uint32_t id, uint32_t weight,
		       uint32_t flags);
int qlb_backend_remove(struct qlb_state *st, uint32_t id);
/* The agent's path: sets the ring weights of backends ids[0..n) of a VIP
 * and republishes its ring if any changed. */
int qlb_apply_ring_weights(struct qlb_state *st, uint32_t vip_id, const uint32_t *ids,
			   const uint32_t *ring_weights, uint32_t n, double *churn_pct);

/* ---- Maglev (maglev.c) ---- */
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

/* ---- neighbour resolution (neigh.c) ---- */
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
			int timeout_ms, struct qlb_nexthop *nh, char *err,
			size_t errlen);

/* ---- attachment (loader.c) ---- */
struct qlb_bpf;
/* Opens the skeleton with its maps bound to the pins under pin_dir (created
 * at load if absent) and a random flow-hash seed. */
int qlb_skel_open(const char *pin_dir, struct qlb_bpf **skel);
/* Writes this ABI's version into a loaded skeleton's pinned abi map: the
 * last step of creating pins. */
int qlb_skel_stamp_abi(struct qlb_bpf *skel);
/* Loads the BPF object once so that libbpf creates and pins its maps. */
int qlb_loader_create_pins(const char *pin_dir);
/* Attaches the program to ifname in role (enum qlb_iface_role), or adds the
 * role where it is attached already. *attached: 1 if this call attached it. */
int qlb_attach(struct qlb_state *st, const char *ifname, uint32_t role,
	       const char *mode, int *attached);
int qlb_detach(struct qlb_state *st, const char *ifname);
/* Removes every pin of the pin directory; used by `qlb detach --all --purge`. */
int qlb_purge_pins(const char *pin_dir);

/* ---- flow tables (flows.c) ---- */
struct qlb_flow_entry {
	union qlb_addr saddr, daddr;
	uint16_t sport, dport;	/* host order */
	uint8_t family, proto;
	struct qlb_flow val;
};

/* CLOCK_MONOTONIC in ns: the clock of flow times (to a fixed offset) and of the
 * agent's estimates. */
uint64_t qlb_mono_ns(void);

/* Returns 0 to go on, > 0 to stop, < 0 to stop with that error. */
typedef int (*qlb_flow_fn)(const struct qlb_flow_entry *e, void *ctx);
/* Calls fn for every entry, request and response, of both flow tables. */
int qlb_flows_foreach(struct qlb_state *st, qlb_flow_fn fn, void *ctx);

struct qlb_gc_result {
	uint64_t scanned;	/* entries walked, both directions */
	uint64_t expired;	/* open flows deleted idle (backend_gc completions) */
	uint64_t closed;	/* closed flows deleted after the linger */
	uint64_t orphans;	/* idle response entries whose request was gone */
	uint64_t reclaimed;	/* open flows backend_active counted that the table
				 * no longer had (evicted): taken off it */
};

/*
 * Deletes flows idle (both directions) beyond their protocol's timeout, and
 * closed ones idle beyond closed_linger_ns (so that TIME_WAIT stragglers
 * still find them), request and response entries together, plus idle
 * response entries left without their request. An open flow deleted counts
 * as a completion of its backend (backend_gc) and leaves backend_active.
 * Open flows the table lost to LRU eviction are taken off backend_active
 * too (not completions: nothing is known of how they ended).
 * res may be NULL. Returns the number of flows deleted, or -errno.
 */
int qlb_flows_gc(struct qlb_state *st, uint64_t tcp_idle_ns, uint64_t udp_idle_ns,
		 uint64_t closed_linger_ns, struct qlb_gc_result *res);

/* ---- statistics (stats.c) ---- */
struct qlb_stats_snapshot {
	/* flows_expired includes the flows the GC deleted (backend_gc), so
	 * that completions = flows_closed + flows_expired everywhere. */
	struct qlb_backend_stats be[QLB_MAX_BACKENDS];
	uint64_t active[QLB_MAX_BACKENDS];	/* backend_active, clamped at 0 */
	struct qlb_vip_stats vip[QLB_MAX_VIPS];
	struct qlb_reason_stats reason[QLB_R_MAX];
	double at;		/* CLOCK_MONOTONIC seconds */
	/* qlb_stats_read's own: be[], active[] and vip[] are zero from
	 * these on, so that a read zeroes only what the last one filled. */
	uint32_t be_hi, vip_hi;
};

/* Reads the counters into snap, which starts zeroed (calloc) and is then
 * only ever passed here. */
int qlb_stats_read(struct qlb_state *st, struct qlb_stats_snapshot *snap);
const char *qlb_reason_name(enum qlb_reason r);
/* Percentile (0..100) of a response-time histogram, in microseconds. */
double qlb_rt_percentile_us(const __u64 *hist, double pct);

/* ---- commands ---- */
int cmd_attach(int argc, char **argv);
int cmd_detach(int argc, char **argv);
int cmd_vip(int argc, char **argv);
int cmd_backend(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_conn(int argc, char **argv);
int cmd_doctor(int argc, char **argv);

#endif /* QLB_H */
