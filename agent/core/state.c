// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * One process's view of the pinned state (state.h): the maps opened and
 * mapped, the writers' lock, the snapshot of VIPs and backends, ids, and
 * the few writes that go straight through a mapping.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "pins.h"
#include "state.h"

static const struct {
	const char *name;
	size_t offset;
} map_pins[] = {
#define PIN(n) { #n, offsetof(struct qlb_maps, n) }
	PIN(vips), PIN(backends), PIN(maglev_rings), PIN(flows_v4),
	PIN(flows_v6), PIN(tx_ports), PIN(ifaces), PIN(backend_stats),
	PIN(backend_est), PIN(vip_stats), PIN(reason_stats), PIN(vip_backends),
	PIN(backend_active), PIN(backend_gc), PIN(backend_refused), PIN(abi),
	PIN(pending_v4), PIN(pending_v6), PIN(servers), PIN(client_hops),
	PIN(flood_state), PIN(event_stats), PIN(vip_addrs),
#undef PIN
};

/* The mapped arrays; an array map lays values round_up(size, 8) apart, as
 * C lays these structs out in an array. */
static const struct {
	size_t offset;		/* of the pointer in struct qlb_state */
	size_t fd_offset;	/* of the map's fd in struct qlb_maps */
	size_t size;		/* QLB_MAX_BACKENDS entries */
	int per_cpu;		/* that many per possible CPU */
} mapped[] = {
#define MAPPED(p, m, t, c) { offsetof(struct qlb_state, p), offsetof(struct qlb_maps, m), \
			     QLB_MAX_BACKENDS * sizeof(t), c }
	MAPPED(active, backend_active, struct qlb_backend_load, 0),
	MAPPED(gc, backend_gc, struct qlb_backend_gc, 0),
	MAPPED(be_map, backends, struct qlb_backend, 0),
	MAPPED(est_map, backend_est, struct qlb_backend_est, 0),
	MAPPED(stats_map, backend_stats, struct qlb_backend_stats, 1),
#undef MAPPED
};
_Static_assert(sizeof(struct qlb_backend) % 8 == 0, "backends stride");
_Static_assert(sizeof(struct qlb_backend_est) % 8 == 0, "backend_est stride");
_Static_assert(sizeof(struct qlb_backend_stats) % 8 == 0, "backend_stats stride");

static size_t mapped_size(const struct qlb_state *st, size_t i)
{
	return mapped[i].size * (mapped[i].per_cpu ? (size_t)st->ncpus : 1);
}

static void *map_mmap(int fd, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

static int open_pins(struct qlb_state *st)
{
	char path[512];
	size_t i;

	for (i = 0; i < sizeof(map_pins) / sizeof(map_pins[0]); i++) {
		int *fd = (int *)((char *)&st->maps + map_pins[i].offset);

		snprintf(path, sizeof(path), "%s/%s", st->pin_dir, map_pins[i].name);
		*fd = bpf_obj_get(path);
		if (*fd < 0)
			return -errno;
	}
	for (i = 0; i < sizeof(mapped) / sizeof(mapped[0]); i++) {
		void **p = (void **)((char *)st + mapped[i].offset);
		int fd = *(int *)((char *)&st->maps + mapped[i].fd_offset);

		*p = map_mmap(fd, mapped_size(st, i));
		if (!*p)
			return -errno;
	}
	return 0;
}

/*
 * Whether every pinned map that the running program (the pinned qlb_xdp)
 * uses is the map it uses, and not one made again under the same name after
 * its pin was removed: writing there would change nothing the program sees.
 * 0, -ESTALE with the map named in e, or 0 when no program runs.
 */
static int pins_match_program(struct qlb_state *st, struct qlb_error *e)
{
	__u32 ids[64], nids = 64, len;
	struct bpf_prog_info pinfo = {};
	char path[512];
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/qlb_xdp", st->pin_dir);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	pinfo.nr_map_ids = nids;
	pinfo.map_ids = (__u64)(unsigned long)ids;
	len = sizeof(pinfo);
	if (bpf_obj_get_info_by_fd(fd, &pinfo, &len))
		err = -errno;
	close(fd);
	if (err)
		return 0;	/* nothing to compare with: not this check's business */
	nids = pinfo.nr_map_ids < 64 ? pinfo.nr_map_ids : 64;
	for (size_t i = 0; i < sizeof(map_pins) / sizeof(map_pins[0]); i++) {
		int pfd = *(int *)((char *)&st->maps + map_pins[i].offset);
		struct bpf_map_info pinned = {}, used;
		int used_by_prog = 0, same = 0;

		len = sizeof(pinned);
		if (bpf_obj_get_info_by_fd(pfd, &pinned, &len))
			continue;
		for (__u32 k = 0; k < nids; k++) {
			int ufd = bpf_map_get_fd_by_id(ids[k]);

			if (ufd < 0)
				continue;
			memset(&used, 0, sizeof(used));
			len = sizeof(used);
			if (!bpf_obj_get_info_by_fd(ufd, &used, &len) &&
			    !strncmp(used.name, pinned.name, sizeof(used.name))) {
				used_by_prog = 1;
				same |= used.id == pinned.id;
			}
			close(ufd);
		}
		if (used_by_prog && !same)
			return qlb_error_set(e, -ESTALE, "the pinned map %s under %s is not the one "
					     "the running program uses (its pin was removed and made "
					     "again): 'qlb detach --all --purge', then set up again",
					     map_pins[i].name, st->pin_dir);
	}
	return 0;
}

static void close_pins(struct qlb_state *st)
{
	size_t i;

	for (i = 0; i < sizeof(mapped) / sizeof(mapped[0]); i++) {
		void **p = (void **)((char *)st + mapped[i].offset);

		if (*p)
			munmap(*p, mapped_size(st, i));
		*p = NULL;
	}
	for (i = 0; i < sizeof(map_pins) / sizeof(map_pins[0]); i++) {
		int *fd = (int *)((char *)&st->maps + map_pins[i].offset);

		if (*fd >= 0)
			close(*fd);
		*fd = -1;
	}
}

int qlb_state_open(struct qlb_state **out, int create, int writable, struct qlb_error *e)
{
	struct qlb_state *st;
	uint32_t version;
	int err;

	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	memset(&st->maps, 0xff, sizeof(st->maps));
	for (uint32_t k = 0; k < QLB_RING_SIZE; k++)
		st->ring_keys[k] = k;
	st->lock_fd = -1;
	st->mu_max_age_ns = QLB_MU_MAX_AGE_NS;
	snprintf(st->pin_dir, sizeof(st->pin_dir), "%s", qlb_pin_dir());
	st->ncpus = libbpf_num_possible_cpus();
	if (st->ncpus <= 0) {
		err = st->ncpus ? st->ncpus : -EINVAL;
		goto fail;
	}

	err = qlb_pin_dir_check(st->pin_dir, e);
	if (err)
		goto fail;
	if (writable) {
		err = qlb_state_lock(st, e);
		if (err)
			goto fail;
	}
	err = qlb_pins_abi_check(st->pin_dir, &version, e);
	if (err)
		goto fail;
	if (!version && create) {
		err = qlb_pins_create(st->pin_dir);
		if (err) {
			qlb_error_set(e, err, "cannot create the pinned maps under %s: %s",
				      st->pin_dir, strerror(-err));
			goto fail;
		}
	} else if (!version) {
		err = qlb_error_set(e, -ENOENT, "no qlb state under %s: run 'qlb attach' or "
				    "'qlb vip add' first", st->pin_dir);
		goto fail;
	}
	err = open_pins(st);
	if (err) {
		qlb_error_set(e, err, "cannot open the pinned maps under %s: %s%s", st->pin_dir,
			      strerror(-err), err == -ENOENT ? " (some are missing: 'qlb detach "
			      "--all --purge' removes the rest)" : "");
		goto fail;
	}
	err = pins_match_program(st, e);
	if (err)
		goto fail;
	*out = st;
	return 0;
fail:
	qlb_state_close(st);
	return err;
}

/* One writer at a time: a command reads the snapshot, decides, and writes;
 * two of them interleaving could publish a stale ring. */
/* One lock per pin directory: /run/qlb.lock for the default one, else
 * /run/qlb-<pin dir with '/' as '_'>.lock, so that deployments with their
 * own pins (a test next to a live balancer) never wait for each other. */
static void lock_path(const char *dir, char *buf, size_t len)
{
	size_t i, n;

	if (!strcmp(dir, QLB_DEFAULT_PIN_DIR)) {
		snprintf(buf, len, "/run/qlb.lock");
		return;
	}
	n = (size_t)snprintf(buf, len, "/run/qlb-%s.lock", dir);
	for (i = strlen("/run/qlb-"); i < n && i < len; i++)
		if (buf[i] == '/')
			buf[i] = '_';
}

int qlb_state_lock(struct qlb_state *st, struct qlb_error *e)
{
	char path[PATH_MAX];

	lock_path(st->pin_dir, path, sizeof(path));
	if (st->lock_fd < 0)
		st->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (st->lock_fd < 0 || flock(st->lock_fd, LOCK_EX))
		return qlb_error_set(e, -errno, "cannot lock %s: %s", path, strerror(errno));
	return 0;
}

void qlb_state_unlock(struct qlb_state *st)
{
	if (st->lock_fd >= 0)
		flock(st->lock_fd, LOCK_UN);
}

void qlb_state_close(struct qlb_state *st)
{
	if (!st)
		return;
	if (st->rings_free)
		st->rings_free(st->rings);
	close_pins(st);
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	free(st);
}

int qlb_state_read(struct qlb_state *st)
{
	struct qlb_vip_key key, next, *prev = NULL;

	st->nvips = 0;
	while (st->nvips < QLB_MAX_VIPS &&
	       !bpf_map_get_next_key(st->maps.vips, prev, &next)) {
		struct qlb_vip_entry *e = &st->vips[st->nvips];

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(st->maps.vips, &key, &e->val))
			continue;	/* deleted while we walked */
		e->key = key;
		st->nvips++;
	}

	/* From the mapping: a copy of memory, where a batch lookup cost a
	 * syscall's worth of checks per backend. */
	memcpy(st->backends, st->be_map, sizeof(st->backends));
	return 0;
}

struct qlb_vip_entry *qlb_find_vip(struct qlb_state *st, const struct qlb_vip_key *k)
{
	int i;

	for (i = 0; i < st->nvips; i++)
		if (!memcmp(&st->vips[i].key, k, sizeof(*k)))
			return &st->vips[i];
	return NULL;
}

int qlb_find_backend(struct qlb_state *st, uint32_t vip_id,
		     const struct qlb_endpoint *ep)
{
	int i;

	for (i = 0; i < QLB_MAX_BACKENDS; i++) {
		const struct qlb_backend *b = &st->backends[i];

		if ((b->flags & QLB_BE_F_IN_USE) && b->vip_id == vip_id &&
		    b->family == ep->family && ntohs(b->port) == ep->port &&
		    !memcmp(&b->addr, &ep->addr, sizeof(b->addr)))
			return i;
	}
	return -ENOENT;
}

int qlb_alloc_vip_id(struct qlb_state *st, uint32_t *id)
{
	uint8_t used[QLB_MAX_VIPS] = {};
	uint32_t i;

	for (i = 0; i < (uint32_t)st->nvips; i++)
		used[st->vips[i].val.vip_id] = 1;
	for (i = 0; i < QLB_MAX_VIPS; i++) {
		if (!used[i]) {
			*id = i;
			return 0;
		}
	}
	return -ENOSPC;
}

/* A deleted backend's id is reused last: flow-table entries that still name
 * it must not land on a newcomer. So allocate the free id that follows the
 * highest id in use, wrapping around. */
int qlb_alloc_backend_id(struct qlb_state *st, uint32_t *id)
{
	uint32_t i, start = 0;

	for (i = 0; i < QLB_MAX_BACKENDS; i++)
		if (st->backends[i].flags & QLB_BE_F_IN_USE)
			start = i + 1;
	for (i = 0; i < QLB_MAX_BACKENDS; i++) {
		uint32_t c = (start + i) % QLB_MAX_BACKENDS;

		if (!(st->backends[c].flags & QLB_BE_F_IN_USE)) {
			*id = c;
			return 0;
		}
	}
	return -ENOSPC;
}

void qlb_backend_store_u32(struct qlb_state *st, uint32_t id, const __u32 *field)
{
	size_t off = (const char *)field - (const char *)&st->backends[id];

	__atomic_store_n((__u32 *)((char *)&st->be_map[id] + off), *field, __ATOMIC_RELAXED);
}

void qlb_backend_stats_zero(struct qlb_state *st, uint32_t id)
{
	for (int cpu = 0; id < QLB_MAX_BACKENDS && cpu < st->ncpus; cpu++)
		memset(&st->stats_map[QLB_BE_STATS_KEY(cpu, id)], 0, sizeof(*st->stats_map));
}

void qlb_backend_est_write(struct qlb_state *st, uint32_t id, const struct qlb_backend_est *e)
{
	if (id < QLB_MAX_BACKENDS)
		memcpy(&st->est_map[id], e, sizeof(*e));
}

/* Zeroes a per-CPU stats slot so a reused id starts from nothing. */
int qlb_zero_percpu(struct qlb_state *st, int map_fd, uint32_t key, size_t value_size)
{
	void *zeros = calloc(st->ncpus, (value_size + 7) / 8 * 8);
	int err = 0;

	if (!zeros)
		return -ENOMEM;
	if (bpf_map_update_elem(map_fd, &key, zeros, BPF_ANY))
		err = -errno;
	free(zeros);
	return err;
}

uint64_t qlb_backend_active(const struct qlb_state *st, uint32_t id)
{
	int64_t v;

	if (id >= QLB_MAX_BACKENDS || !st->active)
		return 0;
	v = __atomic_load_n(&st->active[id].active, __ATOMIC_RELAXED);
	return v > 0 ? (uint64_t)v : 0;
}

void qlb_backend_active_add(struct qlb_state *st, uint32_t id, int64_t delta)
{
	if (id < QLB_MAX_BACKENDS && st->active)
		__atomic_fetch_add(&st->active[id].active, delta, __ATOMIC_RELAXED);
}

const char *qlb_backend_state_name(const struct qlb_backend *b)
{
	if (b->flags & QLB_BE_F_DOWN)
		return "down";	/* failed the agent's health checks */
	if (b->flags & QLB_BE_F_DRAIN)
		return "draining";
	return b->weight ? "up" : "idle";
}
