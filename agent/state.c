// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The pinned state is the only state: every qlb process (CLI or agent) reads
 * VIPs and backends from the pinned maps, so nothing is lost when a process
 * dies and a new one picks up where it left off.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "qlb.h"

#define QLB_LOCK_PATH "/run/qlb.lock"

const char *qlb_pin_dir(void)
{
	const char *d = getenv("QLB_PIN_DIR");

	return d && *d ? d : QLB_DEFAULT_PIN_DIR;
}

static const struct {
	const char *name;
	size_t offset;
} map_pins[] = {
#define PIN(n) { #n, offsetof(struct qlb_maps, n) }
	PIN(vips), PIN(backends), PIN(maglev_rings), PIN(flows_v4),
	PIN(flows_v6), PIN(tx_ports), PIN(ifaces), PIN(backend_stats),
	PIN(backend_est), PIN(vip_stats), PIN(reason_stats), PIN(vip_backends),
	PIN(backend_active), PIN(backend_gc),
#undef PIN
};

#define ACTIVE_MAP_SIZE	(QLB_MAX_BACKENDS * sizeof(__s64))
#define GC_MAP_SIZE	(QLB_MAX_BACKENDS * sizeof(struct qlb_backend_gc))

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
	st->active = map_mmap(st->maps.backend_active, ACTIVE_MAP_SIZE);
	st->gc = map_mmap(st->maps.backend_gc, GC_MAP_SIZE);
	return st->active && st->gc ? 0 : -errno;
}

static void close_pins(struct qlb_state *st)
{
	size_t i;

	if (st->active)
		munmap(st->active, ACTIVE_MAP_SIZE);
	if (st->gc)
		munmap(st->gc, GC_MAP_SIZE);
	st->active = NULL;
	st->gc = NULL;
	for (i = 0; i < sizeof(map_pins) / sizeof(map_pins[0]); i++) {
		int *fd = (int *)((char *)&st->maps + map_pins[i].offset);

		if (*fd >= 0)
			close(*fd);
		*fd = -1;
	}
}

int qlb_state_open(struct qlb_state **out, int create, int writable)
{
	struct qlb_state *st;
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

	if (writable) {
		err = qlb_state_lock(st);
		if (err)
			goto fail;
	}

	err = open_pins(st);
	if (err == -ENOENT && create) {
		close_pins(st);
		err = qlb_loader_create_pins(st->pin_dir);
		if (!err)
			err = open_pins(st);
	}
	if (err) {
		if (err == -ENOENT)
			qlb_err("no qlb state under %s: run 'qlb attach' or 'qlb vip add' first",
				st->pin_dir);
		else
			qlb_err("cannot open pinned maps under %s: %s", st->pin_dir,
				strerror(-err));
		goto fail;
	}
	*out = st;
	return 0;
fail:
	qlb_state_close(st);
	return err;
}

/* One writer at a time: a command reads the snapshot, decides, and writes;
 * two of them interleaving could publish a stale ring. */
int qlb_state_lock(struct qlb_state *st)
{
	if (st->lock_fd < 0)
		st->lock_fd = open(QLB_LOCK_PATH, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (st->lock_fd < 0 || flock(st->lock_fd, LOCK_EX)) {
		int err = -errno;

		qlb_err("cannot lock %s: %s", QLB_LOCK_PATH, strerror(errno));
		return err;
	}
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
	close_pins(st);
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	for (int i = 0; i < QLB_MAX_VIPS; i++)
		free(st->last_ring[i]);
	free(st);
}

int qlb_state_read(struct qlb_state *st)
{
	struct qlb_vip_key key, next, *prev = NULL;
	__u32 out_batch, count = QLB_MAX_BACKENDS;
	int err;

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

	/* Arrays support batch lookup: one syscall for all backends. */
	err = bpf_map_lookup_batch(st->maps.backends, NULL, &out_batch, st->batch_keys,
				   st->backends, &count, NULL);
	if (err && errno != ENOENT)
		return -errno;
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

/*
 * Fills a new ring map through mmap: one pass over memory instead of a
 * 65,537-entry batch update (~13 ms of kernel time). An array map lays its
 * elements out round_up(value_size, 8) bytes apart; the first fill of a
 * process checks that against lookups, and falls back to the batch update
 * if the kernel ever lays it out otherwise.
 */
#define RING_STRIDE 8

static int fill_ring(struct qlb_state *st, int fd, const uint32_t *ring)
{
	size_t page = sysconf(_SC_PAGESIZE);
	size_t len = ((size_t)QLB_RING_SIZE * RING_STRIDE + page - 1) / page * page;
	__u32 count = QLB_RING_SIZE, probe[2] = { 1, QLB_RING_SIZE - 1 }, v;
	uint8_t *mem;
	int i;

	if (st->ring_mmap_ok >= 0) {
		mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (mem != MAP_FAILED) {
			for (i = 0; i < QLB_RING_SIZE; i++)
				memcpy(mem + (size_t)i * RING_STRIDE, &ring[i], sizeof(ring[i]));
			munmap(mem, len);
			if (st->ring_mmap_ok)
				return 0;
			st->ring_mmap_ok = 1;
			for (i = 0; i < 2; i++)
				if (bpf_map_lookup_elem(fd, &probe[i], &v) || v != ring[probe[i]])
					st->ring_mmap_ok = -1;
			if (st->ring_mmap_ok > 0)
				return 0;
		} else {
			st->ring_mmap_ok = -1;
		}
	}
	if (bpf_map_update_batch(fd, st->ring_keys, ring, &count, NULL) ||
	    count != QLB_RING_SIZE)
		return errno ? -errno : -EIO;
	return 0;
}

static int swap_in_ring(struct qlb_state *st, uint32_t vip_id, const uint32_t *ring)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_MMAPABLE);
	int fd, err;

	/* A fresh inner map, filled while no packet can see it. */
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "qlb_ring", sizeof(__u32),
			    sizeof(__u32), QLB_RING_SIZE, &opts);
	if (fd < 0)
		return -errno;
	err = fill_ring(st, fd, ring);
	/* The switch: one pointer update in the outer map. The kernel returns
	 * once no program can still see the old ring (an RCU grace period). */
	if (!err && bpf_map_update_elem(st->maps.maglev_rings, &vip_id, &fd, BPF_ANY))
		err = -errno;
	close(fd);
	return err;
}

/* Reads the VIP's current ring back from the kernel, to measure churn the
 * first time this process publishes it. */
static int read_ring(struct qlb_state *st, uint32_t vip_id, uint32_t *ring)
{
	__u32 inner_id, count = QLB_RING_SIZE, out_batch;
	int fd, err = 0;

	if (bpf_map_lookup_elem(st->maps.maglev_rings, &vip_id, &inner_id))
		return -errno;
	fd = bpf_map_get_fd_by_id(inner_id);
	if (fd < 0)
		return -errno;
	if (bpf_map_lookup_batch(fd, NULL, &out_batch, st->ring_keys, ring, &count, NULL) &&
	    errno != ENOENT)
		err = -errno;
	else if (count != QLB_RING_SIZE)
		err = -EIO;
	close(fd);
	return err;
}

int qlb_publish_ring(struct qlb_state *st, uint32_t vip_id, double *churn_pct)
{
	struct qlb_maglev_backend *mb;
	uint32_t *ring, *old = NULL, slots[QLB_MAX_BACKENDS] = {};
	struct qlb_vip_entry *v = NULL;
	int i, n = 0, err;

	ring = malloc(QLB_RING_SIZE * sizeof(*ring));
	mb = malloc(QLB_MAX_BACKENDS * sizeof(*mb));
	if (!ring || !mb) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < QLB_MAX_BACKENDS; i++) {
		const struct qlb_backend *b = &st->backends[i];

		if (!(b->flags & QLB_BE_F_IN_USE) || b->vip_id != vip_id)
			continue;
		mb[n].offset_seed = qlb_backend_identity(&b->addr, b->family, b->port);
		mb[n].weight = (b->flags & (QLB_BE_F_DRAIN | QLB_BE_F_DOWN)) ? 0 : b->ring_weight;
		mb[n].id = i;
		n++;
	}
	err = qlb_maglev_build(mb, n, ring);
	if (err)
		goto out;
	if (churn_pct) {
		uint32_t moved = 0;

		/* The ring this process published last, else the kernel's. */
		old = st->last_ring[vip_id];
		if (!old) {
			old = malloc(QLB_RING_SIZE * sizeof(*old));
			if (old && read_ring(st, vip_id, old)) {
				free(old);
				old = NULL;
			}
			st->last_ring[vip_id] = old;
		}
		if (old) {
			for (i = 0; i < QLB_RING_SIZE; i++)
				moved += old[i] != ring[i];
			*churn_pct = 100.0 * moved / QLB_RING_SIZE;
		} else {
			*churn_pct = 100.0;	/* no old ring: everything is new */
		}
	}
	err = swap_in_ring(st, vip_id, ring);
	if (err)
		goto out;
	if (st->last_ring[vip_id])
		memcpy(st->last_ring[vip_id], ring, QLB_RING_SIZE * sizeof(*ring));

	for (i = 0; i < QLB_RING_SIZE; i++)
		if (ring[i] != QLB_NO_BACKEND)
			slots[ring[i]]++;
	for (i = 0; i < QLB_MAX_BACKENDS; i++) {
		struct qlb_backend *b = &st->backends[i];
		__u32 key = i;

		if (!(b->flags & QLB_BE_F_IN_USE) || b->vip_id != vip_id ||
		    b->ring_slots == slots[i])
			continue;
		b->ring_slots = slots[i];
		bpf_map_update_elem(st->maps.backends, &key, b, BPF_EXIST);
	}
	for (i = 0; i < st->nvips; i++)
		if (st->vips[i].val.vip_id == vip_id)
			v = &st->vips[i];
	if (v) {
		v->val.ring_gen++;
		bpf_map_update_elem(st->maps.vips, &v->key, &v->val, BPF_EXIST);
	}
	/* The per-flow picks follow the same eligibility as the ring. */
	err = qlb_publish_pick(st, vip_id);
out:
	free(ring);
	free(mb);
	return err;
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

/* Seeds the flow hash so that outsiders cannot aim flows at one backend. */
uint32_t qlb_random_seed(void)
{
	uint32_t seed = 0;

	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = (uint32_t)getpid() * 2654435761u;
	return seed;
}
