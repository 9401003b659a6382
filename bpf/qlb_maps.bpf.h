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

/* LRU: a full table evicts the least recently used flow instead of
 * refusing new ones. Per-CPU LRU lists (one hash table, looked up from every
 * CPU) make that eviction local to the CPU that inserts, instead of a scan
 * of one global list under its lock on every new flow of a full table. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__uint(max_entries, QLB_FLOW_TABLE_SIZE);
	__type(key, struct qlb_flow4_key);
	__type(value, struct qlb_flow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flows_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__uint(max_entries, QLB_FLOW_TABLE_SIZE);
	__type(key, struct qlb_flow6_key);
	__type(value, struct qlb_flow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flows_v6 SEC(".maps");

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
	__type(value, __s64);
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

/* The ABI version of the pins, for userspace: no program reads it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct qlb_abi_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} abi SEC(".maps");

#endif /* QLB_MAPS_BPF_H */
