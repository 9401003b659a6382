/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * qlb ABI: the keys and values of every pinned map, shared by the XDP
 * program (bpf/) and userspace (agent/). Rules: fixed-width types with byte
 * order in the type, explicit padding, no bitfields, no bool, and a size
 * assertion on every struct so both compilers agree on the layout.
 */
#ifndef QLB_ABI_H
#define QLB_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Kept in the pins (the abi map) and checked by every qlb process: pins of
 * another version are refused, not read with the wrong layout. */
#define QLB_ABI_VERSION 7

/* Sizes of the pinned maps. Changing one changes the ABI. */
#define QLB_MAX_VIPS		256
#define QLB_MAX_BACKENDS	4096
/* Entries per flow table (two per established flow: request and response). */
#define QLB_FLOW_TABLE_SIZE	(1 << 18)
/* Entries per half-open table (one per TCP flow awaiting its handshake). */
#define QLB_PENDING_TABLE_SIZE	(1 << 16)
#define QLB_MAX_IFACES		64
/* Maglev ring size: prime, >= 65537, so every skip value is coprime to it. */
#define QLB_RING_SIZE		65537
#define QLB_NO_BACKEND		0xffffffffu
#define QLB_MAX_WEIGHT		65535
/* Response-time histogram: bucket b holds samples in [2^b, 2^(b+1)) us. */
#define QLB_RT_BUCKETS		32
/* Backends a per-flow pick chooses among: the data path's loop bound. A VIP
 * with more eligible backends stays on its ring. */
#define QLB_MAX_VIP_PICK	64

#define QLB_FAMILY_V4		4
#define QLB_FAMILY_V6		6

/* IPv4 addresses live in v4 (== v6[0]); the remaining 12 bytes are zero. */
union qlb_addr {
	__be32 v4;
	__be32 v6[4];
	__u8 bytes[16];
};

/*
 * maglev_rings: an ARRAY_OF_MAPS holding two rings per VIP, slots
 * QLB_RING_KEY(vip_id, 0) and (vip_id, 1), each an mmapable ARRAY of
 * QLB_RING_SIZE backend ids. A VIP's ring_gen picks the active one; the
 * other is rewritten and made active by one update of the VIP's value.
 */
#define QLB_RING_KEY(vip_id, ring_gen)	((vip_id) * 2 + ((ring_gen) & 1))
#define QLB_RING_SLOTS			(2 * QLB_MAX_VIPS)

/* vips: (address, port, protocol) -> struct qlb_vip */
struct qlb_vip_key {
	union qlb_addr addr;
	__be16 port;
	__u8 proto;		/* IPPROTO_TCP or IPPROTO_UDP */
	__u8 family;		/* QLB_FAMILY_* */
};

enum qlb_vip_flags {
	QLB_VIP_F_NONE = 0,
};

/* How a VIP's backends are weighed: stored in qlb_vip.policy, so the values
 * are part of the ABI. */
enum qlb_policy_kind {
	QLB_POLICY_RR = 0,	/* equal weights */
	QLB_POLICY_WRR = 1,	/* configured static weights */
	QLB_POLICY_LC = 2,	/* least connections, per new flow in the data path */
	QLB_POLICY_P2C = 3,	/* power of two choices on active flows, per new flow */
	QLB_POLICY_LCPU = 4,	/* least CPU utilisation (the DLBQT paper's LCPU) */
	QLB_POLICY_LRAM = 5,	/* least memory utilisation (the paper's LRAM) */
	QLB_POLICY_DLBQT = 6,	/* the DLBQT paper's algorithm, flaws included */
	QLB_POLICY_SEDQ = 7,	/* ours, "qlb" on the command line: capacity from
				 * counters, square-root weights, per-flow shortest
				 * expected delay */
	QLB_POLICY_ORACLE = 8,	/* the simulator's only: knows the true rates;
				 * never stored */
	QLB_POLICY_MAX = 9,
};

struct qlb_vip {
	__u32 vip_id;		/* index into vip_stats */
	__u32 flags;		/* enum qlb_vip_flags */
	__u32 ring_gen;		/* bumped on every table switch; its parity
				 * picks the active ring (QLB_RING_KEY) */
	__u32 policy;		/* enum qlb_policy_kind; the agent applies it,
				 * `qlb vip set` chooses it */
	__u32 ring_id[2];	/* kernel map ids of the rings in its two
				 * maglev_rings slots, 0 for none yet; for
				 * userspace, which finds them here without
				 * a lookup in maglev_rings */
};

/* backends: backend id -> struct qlb_backend. A backend belongs to one VIP. */
enum qlb_backend_flags {
	QLB_BE_F_IN_USE = 1u << 0,
	QLB_BE_F_DRAIN = 1u << 1,	/* keep existing flows, take no new ones */
	QLB_BE_F_DOWN = 1u << 2,	/* failed its health checks: no new flows */
};

struct qlb_backend {
	union qlb_addr addr;
	__be16 port;
	__u8 family;
	__u8 pad0;
	__u32 vip_id;
	__u32 flags;		/* enum qlb_backend_flags */
	__u32 weight;		/* the operator's weight, 0..QLB_MAX_WEIGHT */
	__u32 ifindex;		/* egress interface towards the backend */
	__u8 dmac[6];		/* next hop's MAC (the backend's, or its router's) */
	__u8 smac[6];		/* egress interface's MAC */
	__u32 ring_slots;	/* slots held in the active ring (informational) */
	__u32 ring_weight;	/* the weight the ring was built with: the
				 * operator's, or the agent's policy's */
};

/*
 * vip_backends: vip id -> how the VIP's new flows are scheduled. RING hashes
 * them onto the Maglev ring; the others pick, per new flow, among ids[0..count)
 * (listed in every mode) by their live backend_active counts; more than
 * QLB_MAX_VIP_PICK eligible backends leave it RING and empty. Written by
 * userspace whenever the ring or the estimates change. A reader may see an
 * update half done; the data path re-checks the picked backend, so that
 * costs at most one odd pick.
 */
enum qlb_pick_mode {
	QLB_PICK_RING = 0,	/* weighted Maglev ring (hash of the 5-tuple) */
	QLB_PICK_LC,		/* fewest active flows, ties to the lowest index */
	QLB_PICK_P2C,		/* fewer active of two distinct random candidates */
	QLB_PICK_SED,		/* least (active + 1) / mu: shortest expected
				 * delay, ties to the lowest index */
};

struct qlb_vip_backends {
	__u32 count;		/* eligible backends, <= QLB_MAX_VIP_PICK */
	__u32 mode;		/* enum qlb_pick_mode */
	__u32 ids[QLB_MAX_VIP_PICK];	/* backend ids: in use, not drained,
					 * not down, ring_weight > 0 */
	__u32 mu[QLB_MAX_VIP_PICK];	/* capacity of ids[i], >= 1, in any
					 * common unit (only ratios count):
					 * SED's estimates; 1 for all in LC,
					 * which is SED with equal mu */
};

/*
 * flows_v4 / flows_v6: both directions of every established flow (a TCP
 * flow whose handshake the client completed, a UDP flow), each keyed by its
 * 5-tuple as it appears on the wire, so that any packet needs one lookup to
 * know whether it is a request of a known flow, a response to one, or
 * neither. IPv4 keys are 16 bytes, not 40: the key is hashed on every
 * packet, and the short key is most of the established path's cost saved.
 */
struct qlb_flow4_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct qlb_flow6_key {
	__be32 saddr[4];
	__be32 daddr[4];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

enum qlb_flow_flags {
	QLB_FLOW_F_RESPONSE = 1u << 0,	/* backend-to-client direction */
	QLB_FLOW_F_CLOSED = 1u << 1,	/* request entry: FIN or RST seen, counted */
	QLB_FLOW_F_SYN_RETRIED = 1u << 3, /* half-open entry: the client sent
					   * its SYN again, unanswered (the
					   * next retry gives the backend up) */
	QLB_FLOW_F_SYN_ACKED = 1u << 4,	/* half-open entry: the backend's
					 * SYN-ACK went back; expect_ack holds
					 * what the client's ACK must carry */
};

struct qlb_flow {
	__u32 backend_id;
	__u32 flags;		/* enum qlb_flow_flags */
	__u32 vip_id;
	__u32 client_ifindex;	/* response entry: where the client is */
	__u64 created_ns;	/* monotonic ns at the first packet (precise:
				 * flow durations start here) */
	__u64 last_seen_ns;	/* monotonic, tick resolution */
	__u64 req_ts_ns;	/* request entry: request awaiting its first
				 * response (monotonic ns), 0 if none */
	union qlb_addr vip_addr;/* response entry: the address to restore */
	__be16 vip_port;
	__u8 client_mac[6];	/* response entry: L2 next hop to the client */
	__u8 lb_mac[6];		/* response entry: our client-facing MAC */
	__u16 pad0;
	__be32 expect_ack;	/* half-open entry: the backend's ISN + 1 */
	__u32 pad1;
};

/*
 * backend_stats: per CPU and backend. "to" is the request direction (client
 * to backend), "from" the response direction. An mmapable ARRAY of
 * QLB_MAX_BACKENDS entries per possible CPU, CPU-major: entry
 * QLB_BE_STATS_KEY(cpu, id) holds what CPU cpu counted for backend id. Each
 * CPU writes only its own entries, with plain adds, as it would its copy of
 * a per-CPU array; userspace sums them through the mapping, where reading a
 * per-CPU array costs a syscall's checks per entry. The loader sizes it to
 * the possible CPUs.
 */
#define QLB_BE_STATS_KEY(cpu, id)	((cpu) * QLB_MAX_BACKENDS + (id))

/*
 * pending_v4 / pending_v6: TCP flows whose handshake has not completed,
 * keyed like a request entry, one struct qlb_flow each (the request's
 * fields and the client's L2 hop). A SYN writes only here, so a flood of
 * spoofed SYNs never touches the established flows; the client's ACK of
 * the backend's SYN-ACK (expect_ack) moves the flow into flows_v4/v6. Plain
 * hash tables: a full one is what a flood looks like (the SYN path then
 * keeps no state, see flood_state); the agent deletes stale entries.
 */

struct qlb_backend_stats {
	__u64 packets_to;
	__u64 bytes_to;
	__u64 packets_from;
	__u64 bytes_from;
	__u64 flows_new;	/* arrivals */
	__u64 flows_closed;	/* completions: FIN or RST seen */
	__u64 flows_expired;	/* completions: idle past the timeout */
	__u64 resets_from;	/* TCP RSTs the backend sent: refused or aborted
				 * flows, which look idle to lc/sed (the agent
				 * treats a burst of them as a failed backend) */
	__u64 rt_count;		/* response-time samples: request to the
				 * first response byte */
	__u64 rt_sum_ns;
	__u64 rt_hist[QLB_RT_BUCKETS];
	/* Flow durations, first packet to the first FIN/RST, of the flows
	 * that closed. With one request per connection this is the whole
	 * response time, transfer included, where the first byte alone says
	 * little about a large object. */
	__u64 dur_count;
	__u64 dur_sum_ns;
	/* Refused connections: flows the backend answered with a RST first
	 * (nothing listens, the backlog overflowed), never aborted ones, and
	 * flows it left unanswered through two SYN retries (silent). */
	__u64 refused;
};

/* backend_active: struct qlb_backend_load per backend id. active: the
 * established flows it has open: +1 when a flow enters the flow table
 * (handshake completed, UDP's first packet, a flow adopted), -1 when it
 * completes (first FIN/RST), expires in the data path, or is deleted idle by
 * the agent's flow GC. Not per-CPU: the data path reads it to pick, and it
 * changes once per flow, not per packet. Atomic adds on both sides
 * (userspace through mmap); a race can leave it at -1: readers clamp at 0.
 * placed: the flows placed on it in placed_epoch (coarse clock >>
 * QLB_PLACED_EPOCH_SHIFT) that are not established yet; the per-flow picks
 * add it, so that the SYNs of one round trip do not all go to the backend
 * that looked least loaded. It fades by itself, so junk SYNs cannot pile
 * up in it. */
#define QLB_PLACED_EPOCH_SHIFT	26
struct qlb_backend_load {
	__s64 active;
	__u32 placed_epoch;
	__u32 placed;
};

/* backend_refused: __u64 per backend id, the data plane's (coarse) clock when
 * the backend last refused a connection (a RST first, or two unanswered SYN
 * retries: qlb_backend_stats.refused), 0 if never. A refused flow closes at
 * once, so the backend looks idle to lc, sed and p2c, which would send it
 * every new flow until the agent's next window takes it out (and the ring
 * its share); instead new flows pass it over for refused_hold_ns after each
 * refusal: the per-flow picks unless every candidate is refusing, the ring
 * by taking the owner of one of the next slots. Written by the program,
 * reset by userspace when an id is reused. */

/* backend_gc: per backend id, written only by userspace (atomically, through
 * mmap): flows the GC deleted while open. They are completions like
 * flows_expired, and qlb_stats_read() folds them into it. */
struct qlb_backend_gc {
	__u64 flows_expired;
	__u64 flows_evicted;	/* open flows missing from the table, which
				 * backend_active still counted */
};

/* backend_est: indexed by backend id, written by the agent every window
 * for `qlb stats` and other readers; never touched by the data plane.
 * Rates are in thousandths per second, times in nanoseconds, ratios in
 * millionths (fixed point keeps the ABI free of floating point). */
struct qlb_backend_est {
	__u64 updated_ns;	/* CLOCK_MONOTONIC of the window's end; 0: never */
	__u64 lambda_milli;	/* arrival rate */
	__u64 mu_milli;		/* estimated service rate (capacity) */
	__u64 rho_micro;	/* utilisation lambda / mu */
	__u64 w_paper_ns;	/* DLBQT's W = rho / (mu (1 - rho)), Eq. 8 */
	__u64 t_system_ns;	/* M/M/1 or M/M/c expected time in system */
	__u64 share_micro;	/* share of new flows the weights give it */
	__u32 policy;		/* enum qlb_policy_kind that produced it */
	__u32 health_fails;	/* consecutive failed probes */
};

/*
 * servers: the (address, port, protocol, family) a backend answers from ->
 * struct qlb_server, so that a backend's packet of no known flow (the
 * SYN-ACK of a half-open flow, a reply of a flow placed without state) finds
 * the VIP to restore. One VIP per server endpoint: in NAT mode a second
 * would make their replies indistinguishable.
 */
struct qlb_server_key {
	union qlb_addr addr;
	__be16 port;
	__u8 proto;
	__u8 family;
};

struct qlb_server {
	__u32 backend_id;
	__u32 vip_id;
	union qlb_addr vip_addr;
	__be16 vip_port;
	__u8 pad[2];
};

/* An address of either family, as a map key: client_hops, vip_addrs. */
struct qlb_addr_key {
	union qlb_addr addr;
	__u8 family;
	__u8 pad[3];
};

/* client_hops: a client address -> the L2 hop towards it, written when a
 * client completes a handshake (never for a mere SYN, so a flood cannot
 * fill it), read for replies of flows placed without state. */
struct qlb_client_hop {
	__u32 ifindex;
	__u8 mac[6];		/* the client's L2 next hop */
	__u8 lb_mac[6];		/* our MAC on that link */
};

/* vip_addrs: a VIP's address -> how many VIPs (ports, protocols) it has,
 * for what is addressed to the address and not to a port: ICMP. */

/*
 * flood_state: per-CPU, one entry. New flows that arrive without proof of
 * a client behind them (a SYN, a UDP flow's first packet) are counted per
 * epoch (coarse clock >> QLB_FLOOD_EPOCH_SHIFT); above the program's
 * syn_flood_rate, or when a half-open insert fails, the CPU is in flood
 * mode until until_epoch: SYNs keep no state and go to the ring. Userspace
 * may set until_epoch to force it.
 */
#define QLB_FLOOD_EPOCH_SHIFT	27
#define QLB_FLOOD_HOLD_EPOCHS	8
struct qlb_flood {
	__u64 epoch;
	__u64 count;
	__u64 until_epoch;
};

/*
 * event_stats: per-CPU, indexed by enum qlb_event: what happened to flows
 * (the reasons count packets). X(ID, value, name, what it means).
 */
#define QLB_EVENTS(X) \
	X(SYN_HALF_OPEN, 0, "syn_half_open", "a SYN recorded in the half-open table") \
	X(SYN_STATELESS, 1, "syn_stateless", "a SYN sent by the ring with no state: flood mode") \
	X(HANDSHAKE_DONE, 2, "handshake_done", "a client's ACK completed a handshake") \
	X(ACK_UNVERIFIED, 3, "ack_unverified", \
	  "a half-open flow's packet that did not complete the handshake") \
	X(LOST_TO_RING, 4, "lost_to_ring", \
	  "a mid-flow packet of no known flow, sent by the ring, never by load") \
	X(REPLY_STATELESS, 5, "reply_stateless", "a backend's reply of a flow without state") \
	X(ADOPTED, 6, "flow_adopted", "a flow without state entered the table") \
	X(TABLE_FULL, 7, "flow_table_full", "an insert failed: the flow stays without state") \
	X(UDP_STATELESS, 8, "udp_stateless", "a new UDP flow sent by the ring: flood mode") \
	X(FLOOD_ENTERED, 9, "flood_entered", "a CPU went into flood mode")

enum qlb_event {
#define QLB_EVENT_ENUM_(id, value, name, what) QLB_EV_##id = value,
	QLB_EVENTS(QLB_EVENT_ENUM_)
#undef QLB_EVENT_ENUM_
	QLB_EV_MAX = 10,
};

#define QLB_EVENT_NAME_(id, value, name, what) [QLB_EV_##id] = name,
#define QLB_EVENT_NAMES { QLB_EVENTS(QLB_EVENT_NAME_) }

/* vip_stats: per-CPU, indexed by vip id. Per-VIP packet and byte totals
 * are the sums over its backends; counting them here too would cost a
 * lookup on every packet. */
struct qlb_vip_stats {
	__u64 flows_new;
	__u64 no_backend;
};

/*
 * reason_stats: per-CPU, indexed by enum qlb_reason. Every packet the
 * program sees is counted under exactly one reason. The one list of them:
 * X(ID, value, name in stats and metrics, action, what it means) makes the
 * enum here and the names in userspace (QLB_REASON_NAMES).
 */
#define QLB_REASONS(X) \
	X(FWD_TO_BACKEND, 0, "fwd_to_backend", "TX/REDIRECT", "forwarded, request direction") \
	X(FWD_TO_CLIENT, 1, "fwd_to_client", "TX/REDIRECT", "forwarded, response direction") \
	X(PASS_NOT_IP, 2, "pass_not_ip", "PASS", "not IP: ARP, LLDP, ...") \
	X(PASS_NOT_L4, 3, "pass_not_tcp_udp", "PASS", "neither TCP nor UDP: ICMP, ...") \
	X(PASS_NOT_VIP, 4, "pass_not_vip", "PASS", "TCP/UDP of no VIP and no known flow") \
	X(PASS_IPV4_FRAG, 5, "pass_ipv4_fragment", "PASS", "IPv4 fragment, left to the kernel") \
	X(PASS_IPV4_OPTIONS, 6, "pass_ipv4_options", "PASS", "IPv4 options, left to the kernel") \
	X(PASS_IPV6_FRAG, 7, "pass_ipv6_fragment", "PASS", "IPv6 fragment header") \
	X(PASS_IPV6_EXT, 8, "pass_ipv6_ext_headers", "PASS", \
	  "more IPv6 extension headers than QLB_MAX_IPV6_EXT") \
	X(BAD_ETH, 9, "pass_malformed_eth", "PASS", "truncated Ethernet header") \
	X(BAD_VLAN, 10, "pass_malformed_vlan", "PASS", "truncated 802.1Q tag") \
	X(BAD_IPV4, 11, "pass_malformed_ipv4", "PASS", \
	  "truncated or inconsistent IPv4 header (a length beyond the frame)") \
	X(BAD_IPV6, 12, "pass_malformed_ipv6", "PASS", "truncated IPv6 or extension header") \
	X(BAD_TCP, 13, "drop_malformed_tcp", "DROP", "truncated TCP header or bad data offset") \
	X(BAD_UDP, 14, "drop_malformed_udp", "DROP", "truncated UDP header or bad length") \
	X(DROP_NO_BACKEND, 15, "drop_no_backend", "DROP", "a VIP without a usable backend") \
	X(DROP_NO_TX_PORT, 16, "drop_no_tx_port", "DROP", "egress interface not in tx_ports") \
	X(PASS_STRAY_REPLY, 17, "pass_stray_reply", "PASS", \
	  "a backend's packet of no flow qlb can place: a late SYN-ACK, an unknown client") \
	X(ICMP_ECHO_REPLY, 18, "icmp_echo_reply", "TX", "an echo request to a VIP, answered") \
	X(DROP_ICMP_RATE, 19, "drop_icmp_rate", "DROP", \
	  "an echo request to a VIP over icmp_reply_rate") \
	X(ICMP_TO_BACKEND, 20, "icmp_error_to_backend", "TX/REDIRECT", \
	  "an ICMP error about a reply the VIP sent, translated for its backend") \
	X(ICMP_TO_CLIENT, 21, "icmp_error_to_client", "TX/REDIRECT", \
	  "an ICMP error about a request sent to a backend, translated for its client") \
	X(BAD_ICMP, 22, "pass_malformed_icmp", "PASS", \
	  "an ICMP error to a VIP with a truncated or unusable quoted header")

enum qlb_reason {
#define QLB_REASON_ENUM_(id, value, name, action, what) QLB_R_##id = value,
	QLB_REASONS(QLB_REASON_ENUM_)
#undef QLB_REASON_ENUM_
	QLB_R_MAX = 23,
};

/* { [QLB_R_ID] = "name", ... }, for a const char *[QLB_R_MAX]. */
#define QLB_REASON_NAME_(id, value, name, action, what) [QLB_R_##id] = name,
#define QLB_REASON_NAMES { QLB_REASONS(QLB_REASON_NAME_) }

struct qlb_reason_stats {
	__u64 packets;
	__u64 bytes;
};

/* ifaces: ifindex -> role, written by `qlb attach`. */
enum qlb_iface_role {
	QLB_IF_CLIENT = 1u << 0,
	QLB_IF_BACKEND = 1u << 1,
};

/* qlb_iface.native_err when native mode was not tried (--mode generic). */
#define QLB_IF_NATIVE_NOT_TRIED 1

struct qlb_iface {
	__u32 ifindex;
	__u32 role;		/* enum qlb_iface_role */
	__u32 xdp_mode;		/* enum xdp_attach_mode of libxdp */
	__s32 native_err;	/* in generic mode: why not native, the -errno of
				 * the native attempt or QLB_IF_NATIVE_NOT_TRIED;
				 * 0 otherwise */
	char name[16];
};

/* abi: one entry, written when the pins are created. */
struct qlb_abi_info {
	__u32 version;		/* QLB_ABI_VERSION of the qlb that created them */
	__u32 hash_seed;	/* the flow hash's seed: every program loaded on
				 * these pins (an upgrade too) hashes alike, so
				 * a flow without state keeps its ring slot */
};

/*
 * Whether backend b takes new flows of VIP vip_id: in use, of that VIP,
 * neither drained nor down. The one rule for the data path's pick, the
 * per-flow candidates (vip_backends) and the ring's weights.
 */
static inline __u32 qlb_backend_takes_new_flows(const struct qlb_backend *b, __u32 vip_id)
{
	return (b->flags & (QLB_BE_F_IN_USE | QLB_BE_F_DRAIN | QLB_BE_F_DOWN)) ==
		       QLB_BE_F_IN_USE && b->vip_id == vip_id;
}

#define QLB_ASSERT_SIZE(t, n) _Static_assert(sizeof(t) == (n), #t " size")
QLB_ASSERT_SIZE(union qlb_addr, 16);
QLB_ASSERT_SIZE(struct qlb_vip_key, 20);
QLB_ASSERT_SIZE(struct qlb_vip, 24);
QLB_ASSERT_SIZE(struct qlb_backend, 56);
QLB_ASSERT_SIZE(struct qlb_flow4_key, 16);
QLB_ASSERT_SIZE(struct qlb_flow6_key, 40);
QLB_ASSERT_SIZE(struct qlb_flow, 80);
QLB_ASSERT_SIZE(struct qlb_backend_load, 16);
QLB_ASSERT_SIZE(struct qlb_server_key, 20);
QLB_ASSERT_SIZE(struct qlb_server, 28);
QLB_ASSERT_SIZE(struct qlb_addr_key, 20);
QLB_ASSERT_SIZE(struct qlb_client_hop, 16);
QLB_ASSERT_SIZE(struct qlb_flood, 24);
QLB_ASSERT_SIZE(struct qlb_backend_stats, (13 + QLB_RT_BUCKETS) * 8);
QLB_ASSERT_SIZE(struct qlb_vip_stats, 16);
QLB_ASSERT_SIZE(struct qlb_backend_est, 64);
QLB_ASSERT_SIZE(struct qlb_vip_backends, 8 + 2 * 4 * QLB_MAX_VIP_PICK);
QLB_ASSERT_SIZE(struct qlb_backend_gc, 16);
QLB_ASSERT_SIZE(struct qlb_reason_stats, 16);
QLB_ASSERT_SIZE(struct qlb_iface, 32);
QLB_ASSERT_SIZE(struct qlb_abi_info, 8);
/* Every reason is counted in an array of QLB_R_MAX. */
#define QLB_REASON_LAST_(id, value, name, action, what) _Static_assert(value < QLB_R_MAX, #id);
QLB_REASONS(QLB_REASON_LAST_)
#undef QLB_REASON_LAST_
#define QLB_EVENT_LAST_(id, value, name, what) _Static_assert(value < QLB_EV_MAX, #id);
QLB_EVENTS(QLB_EVENT_LAST_)
#undef QLB_EVENT_LAST_

#endif /* QLB_ABI_H */
