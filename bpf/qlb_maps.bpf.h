/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Every map of the data plane, named by role and pinned by name under the
 * pin root that userspace gives libbpf (/sys/fs/bpf/qlb by default). */
#ifndef QLB_MAPS_BPF_H
#define QLB_MAPS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "qlb_abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, QLB_MAX_VIPS);
	__type(key, struct qlb_vip_key);
	__type(value, struct qlb_vip);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vips SEC(".maps");

/* Mmapable: userspace reads all of it every window with one copy, not a
 * syscall's checks per entry. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, QLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct qlb_backend);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} backends SEC(".maps");

/* Two Maglev rings per VIP (QLB_RING_KEY in qlb_abi.h): the VIP's ring_gen
 * picks the active one. Userspace fills the other through mmap and flips
 * ring_gen with one update of the VIP, so a packet sees either the old ring
 * or the new one, never a mix; a retired ring is rewritten only after an RCU
 * grace period, once no program can still be reading it (agent/core/ring.c). */
struct maglev_ring {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, QLB_RING_SIZE);
	/* Userspace fills a new ring through mmap, not 65,537 map updates. */
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u32);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, QLB_RING_SLOTS);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct maglev_ring);
} maglev_rings SEC(".maps");

/* Plain hash tables, not LRU: only flows with a client behind them get in
 * (qlb_abi.h), and an established flow leaves when it ends or idles out
 * (the agent's GC), never because a newer one needed the room. A full table
 * places new flows without state (by the ring) instead of evicting. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, QLB_FLOW_TABLE_SIZE);
	__type(key, struct qlb_flow4_key);
	__type(value, struct qlb_flow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flows_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, QLB_FLOW_TABLE_SIZE);
	__type(key, struct qlb_flow6_key);
	__type(value, struct qlb_flow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flows_v6 SEC(".maps");

/* Half-open TCP flows (qlb_abi.h), apart from the established ones. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, QLB_PENDING_TABLE_SIZE);
	__type(key, struct qlb_flow4_key);
	__type(value, struct qlb_flow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pending_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, QLB_PENDING_TABLE_SIZE);
	__type(key, struct qlb_flow6_key);
	__type(value, struct qlb_flow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pending_v6 SEC(".maps");

/* A backend's server endpoint -> its backend and VIP (qlb_abi.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, QLB_MAX_BACKENDS);
	__type(key, struct qlb_server_key);
	__type(value, struct qlb_server);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} servers SEC(".maps");

/* L2 hops of clients that completed a handshake. LRU: a client that has
 * not been seen for long is the one to forget. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, QLB_FLOW_TABLE_SIZE);
	__type(key, struct qlb_addr_key);
	__type(value, struct qlb_client_hop);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} client_hops SEC(".maps");

/* Addresses that are VIPs, for ICMP (qlb_abi.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, QLB_MAX_VIPS);
	__type(key, struct qlb_addr_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vip_addrs SEC(".maps");

/* The echo replies this CPU sent in the current second (qlb_icmp.bpf.h). */
struct icmp_budget {
	__u64 second;
	__u64 sent;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct icmp_budget);
} icmp_budget SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct qlb_flood);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flood_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, QLB_EV_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} event_stats SEC(".maps");

/* Redirect targets; a devmap lets the kernel bulk frames per device. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, QLB_MAX_IFACES);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tx_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, QLB_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct qlb_iface);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ifaces SEC(".maps");

/* Per CPU and backend, CPU-major (QLB_BE_STATS_KEY in qlb_abi.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	/* x the possible CPUs: the loader sets it before loading. */
	__uint(max_entries, QLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct qlb_backend_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} backend_stats SEC(".maps");

/* The per-flow schedule of each VIP (struct qlb_vip_backends). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, QLB_MAX_VIPS);
	__type(key, __u32);
	__type(value, struct qlb_vip_backends);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vip_backends SEC(".maps");

/* Open flows per backend. Mmapable: userspace subtracts what its GC deletes
 * with an atomic add on the shared page, as the program does, instead of a
 * read-modify-write through syscalls that would lose concurrent updates. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, QLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct qlb_backend_load);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} backend_active SEC(".maps");

/* When each backend last refused a connection (qlb_abi.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, QLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} backend_refused SEC(".maps");

/* Userspace's own completions (flow GC); the program never looks. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, QLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct qlb_backend_gc);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} backend_gc SEC(".maps");

/* Written by the agent, read by qlb stats; the program never looks.
 * Mmapable: the agent writes every backend's every window. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, QLB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct qlb_backend_est);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} backend_est SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, QLB_MAX_VIPS);
	__type(key, __u32);
	__type(value, struct qlb_vip_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vip_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, QLB_R_MAX);
	__type(key, __u32);
	__type(value, struct qlb_reason_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} reason_stats SEC(".maps");

/* Room to build a new flow's entries in: they would not fit on the stack
 * with the rest of the program. Private to the program, so not pinned. */
struct qlb_scratch {
	struct qlb_flow req;
	struct qlb_flow resp;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct qlb_scratch);
} scratch SEC(".maps");

/* The ABI version of the pins, for userspace: no program reads it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct qlb_abi_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} abi SEC(".maps");

#endif /* QLB_MAPS_BPF_H */
