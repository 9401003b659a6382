// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Publishing a ring: two rings per VIP, flipped.
 *
 * Each VIP has two rings, in maglev_rings slots QLB_RING_KEY(vip_id, 0) and
 * (vip_id, 1); the program reads the one its VIP's ring_gen picks. A publish
 * writes the other one through a mapping this process keeps, then flips
 * ring_gen with one update of the VIP, which the hash table makes by
 * replacing the element whole under RCU: a new flow finds either the old
 * generation and the old, untouched ring, or the new generation and the
 * whole new ring. Nothing waits on the way, where swapping in a fresh inner
 * map made every publish wait out the RCU grace period that the kernel
 * adds to every map-in-map update.
 *
 * The ring a flip retired is the next publish's target, and a program that
 * read the old ring_gen just before the flip may still be reading it. It is
 * rewritten only after an RCU grace period that began after that flip
 * (grace.c): this process asks for one right after its flip, and its next
 * publish waits for it, which is long done when publishes are windows
 * apart. When the last flip was not this process's (the CLI's, or the
 * agent's before a restart), nothing tells when it happened, and the
 * publish waits out a fresh grace period before writing: the old cost, on
 * a path that is not the agent's window.
 *
 * An outer slot changes only when a ring is created (a VIP's ring 0 with
 * the VIP, its ring 1 at its first flip) and when the VIP is deleted, and a
 * slot is (re)filled only while the VIP does not name its ring in ring_id[]
 * (so the program cannot be reading it); the kernel waits out a grace
 * period on each of those updates. ring_id[] tells every process which
 * rings a VIP has without a lookup in maglev_rings, which older kernels
 * make wait out a grace period too.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "grace.h"
#include "maglev.h"
#include "pick.h"
#include "ring.h"

#define RING_STRIDE 8	/* an array map lays values round_up(size, 8) apart */

/* One ring of a VIP (an inner map of maglev_rings), as this process has it
 * open and mapped. */
struct qlb_ring_buf {
	uint32_t id;		/* kernel map id; 0: not open */
	int fd;
	uint8_t *mem;		/* QLB_RING_SIZE slots, RING_STRIDE bytes apart */
};

/* A VIP's two rings and this process's last flip between them. */
struct qlb_vip_rings {
	struct qlb_ring_buf buf[2];
	uint32_t flip_gen;	/* the ring_gen this process last flipped to */
	uint32_t flip_ids[2];	/* the VIP's ring_id[] then */
	uint64_t flip_ticket;	/* grace period after that flip (grace.c); 0: none */
};

struct qlb_ring_cache {
	struct qlb_vip_rings vip[QLB_MAX_VIPS];
	int layout_ok;		/* a mapped ring reads back as written */
};

static size_t ring_map_len(void)
{
	size_t page = sysconf(_SC_PAGESIZE);

	return ((size_t)QLB_RING_SIZE * RING_STRIDE + page - 1) / page * page;
}

static void ring_buf_close(struct qlb_ring_buf *b)
{
	if (b->mem)
		munmap(b->mem, ring_map_len());
	if (b->id)
		close(b->fd);
	*b = (struct qlb_ring_buf){ .fd = -1 };
}

static void vip_rings_close(struct qlb_vip_rings *r)
{
	ring_buf_close(&r->buf[0]);
	ring_buf_close(&r->buf[1]);
	memset(r, 0, sizeof(*r));
	r->buf[0].fd = r->buf[1].fd = -1;
}

static void cache_free(struct qlb_ring_cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < QLB_MAX_VIPS; i++)
		vip_rings_close(&c->vip[i]);
	free(c);
}

/* This process's rings of a VIP, the cache made on first use and freed with
 * the state. */
static struct qlb_vip_rings *rings_of(struct qlb_state *st, uint32_t vip_id)
{
	if (!st->rings) {
		st->rings = calloc(1, sizeof(*st->rings));
		if (!st->rings)
			return NULL;
		for (int i = 0; i < QLB_MAX_VIPS; i++)
			st->rings->vip[i].buf[0].fd = st->rings->vip[i].buf[1].fd = -1;
		st->rings_free = cache_free;
	}
	return &st->rings->vip[vip_id];
}

uint32_t qlb_ring_new_id(const struct qlb_state *st, uint32_t vip_id)
{
	return st->rings && vip_id < QLB_MAX_VIPS ? st->rings->vip[vip_id].buf[0].id : 0;
}

uint64_t qlb_ring_flip_ticket(const struct qlb_state *st, uint32_t vip_id)
{
	return st->rings && vip_id < QLB_MAX_VIPS ? st->rings->vip[vip_id].flip_ticket : 0;
}

/* Takes fd (a ring map) into b, mapped; closes fd on failure. */
static int ring_buf_take(struct qlb_ring_buf *b, int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	void *mem;
	int err;

	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		err = -errno;
		goto fail;
	}
	if (info.type != BPF_MAP_TYPE_ARRAY || info.value_size != sizeof(__u32) ||
	    info.max_entries != QLB_RING_SIZE || !(info.map_flags & BPF_F_MMAPABLE)) {
		err = -EINVAL;	/* not a ring: a map id reused after wrapping */
		goto fail;
	}
	mem = mmap(NULL, ring_map_len(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED) {
		err = -errno;
		goto fail;
	}
	*b = (struct qlb_ring_buf){ .id = info.id, .fd = fd, .mem = mem };
	return 0;
fail:
	close(fd);
	return err;
}

/* Ring `which` of a VIP, as ring_id[] names it: mapped from before, or
 * opened by id. */
static int ring_open(struct qlb_state *st, uint32_t vip_id, int which, uint32_t id)
{
	struct qlb_ring_buf *b = &rings_of(st, vip_id)->buf[which];
	int fd;

	if (b->id == id)
		return 0;
	ring_buf_close(b);
	fd = bpf_map_get_fd_by_id(id);
	return fd < 0 ? -errno : ring_buf_take(b, fd);
}

/* A fresh ring in slot `which` of a VIP. The update returns once no program
 * can see what the slot held before. */
static int ring_create(struct qlb_state *st, uint32_t vip_id, int which)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_MMAPABLE);
	struct qlb_ring_buf *b = &rings_of(st, vip_id)->buf[which];
	__u32 key = QLB_RING_KEY(vip_id, which);
	int fd, err;

	ring_buf_close(b);
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "qlb_ring", sizeof(__u32), sizeof(__u32),
			    QLB_RING_SIZE, &opts);
	if (fd < 0)
		return -errno;
	err = ring_buf_take(b, fd);
	if (!err && bpf_map_update_elem(st->maps.maglev_rings, &key, &b->fd, BPF_ANY))
		err = -errno;
	if (err)
		ring_buf_close(b);
	return err;
}

/*
 * Opens the ring a publish writes (*which) and, for the churn, the active
 * one (*active, NULL if none), and returns once the target may be written.
 * v is the VIP as the kernel has it (NULL: being added).
 */
static int ring_target(struct qlb_state *st, uint32_t vip_id, const struct qlb_vip *v,
		       int *which, struct qlb_ring_buf **active)
{
	struct qlb_vip_rings *r = rings_of(st, vip_id);
	int b, a, err;

	*active = NULL;
	if (!v) {
		/* A new VIP: a fresh ring 0, in place of whatever a command
		 * that died left; the update's grace period also outlasts
		 * every reader of an earlier VIP with this id. */
		vip_rings_close(r);
		*which = 0;
		return ring_create(st, vip_id, 0);
	}
	a = v->ring_gen & 1;
	b = !a;
	*which = b;
	if (v->ring_id[a]) {
		err = ring_open(st, vip_id, a, v->ring_id[a]);
		if (err)
			return err;
		*active = &r->buf[a];
	}
	/* Never active in this VIP's life: nobody can be reading it. */
	if (!v->ring_id[b])
		return ring_create(st, vip_id, b);
	err = ring_open(st, vip_id, b, v->ring_id[b]);
	if (err)
		return err;
	/* Retired by this process's own last flip: its grace period was
	 * asked for then. */
	if (r->flip_ticket && r->flip_gen == v->ring_gen &&
	    r->flip_ids[0] == v->ring_id[0] && r->flip_ids[1] == v->ring_id[1])
		return qlb_gp_wait(r->flip_ticket);
	return qlb_gp_sync();
}

/* Writes ring[] into b and counts each backend's slots; *moved (may be
 * NULL) gets the slots whose owner differs from old's. One pass. */
static void ring_write(const uint32_t *ring, struct qlb_ring_buf *b,
		       const struct qlb_ring_buf *old, uint32_t *slots, uint32_t *moved)
{
	const uint8_t *was = old && moved ? old->mem : NULL;
	uint32_t i, n = 0, id, prev;

	for (i = 0; i < QLB_RING_SIZE; i++) {
		id = ring[i];
		memcpy(b->mem + (size_t)i * RING_STRIDE, &id, sizeof(id));
		if (id < QLB_MAX_BACKENDS)
			slots[id]++;
		if (was) {
			memcpy(&prev, was + (size_t)i * RING_STRIDE, sizeof(prev));
			n += prev != id;
		}
	}
	if (was)
		*moved = n;
}

/* The first ring a process writes is read back through the syscall: the
 * program must see what the mapping shows. */
static int ring_check_layout(struct qlb_state *st, const struct qlb_ring_buf *b,
			     const uint32_t *ring)
{
	__u32 probe[2] = { 1, QLB_RING_SIZE - 1 }, v;
	int i;

	if (st->rings->layout_ok)
		return 0;
	for (i = 0; i < 2; i++) {
		if (bpf_map_lookup_elem(b->fd, &probe[i], &v))
			return -errno;
		/* Ring maps not laid out RING_STRIDE bytes apart. */
		if (v != ring[probe[i]])
			return -EOPNOTSUPP;
	}
	st->rings->layout_ok = 1;
	return 0;
}

void qlb_rings_delete(struct qlb_state *st, uint32_t vip_id)
{
	__u32 key;
	int i;

	if (vip_id >= QLB_MAX_VIPS)
		return;
	if (st->rings)
		vip_rings_close(&st->rings->vip[vip_id]);
	for (i = 0; i < 2; i++) {
		key = QLB_RING_KEY(vip_id, i);
		bpf_map_delete_elem(st->maps.maglev_rings, &key);
	}
}

int qlb_publish_ring(struct qlb_state *st, uint32_t vip_id, double *churn_pct)
{
	struct qlb_maglev_backend *mb;
	uint32_t *ring, slots[QLB_MAX_BACKENDS] = {}, moved = QLB_RING_SIZE;
	struct qlb_vip_rings *r;
	struct qlb_ring_buf *active;
	struct qlb_vip_entry *v = NULL;
	struct qlb_vip cur, next;
	int i, n = 0, which, err;

	if (vip_id >= QLB_MAX_VIPS)
		return -EINVAL;
	r = rings_of(st, vip_id);
	ring = malloc(QLB_RING_SIZE * sizeof(*ring));
	mb = malloc(QLB_MAX_BACKENDS * sizeof(*mb));
	if (!r || !ring || !mb) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < QLB_MAX_BACKENDS; i++) {
		const struct qlb_backend *b = &st->backends[i];

		if (!(b->flags & QLB_BE_F_IN_USE) || b->vip_id != vip_id)
			continue;
		mb[n].offset_seed = qlb_backend_identity(&b->addr, b->family, b->port);
		mb[n].weight = qlb_backend_takes_new_flows(b, vip_id) ? b->ring_weight : 0;
		mb[n].id = i;
		n++;
	}
	err = qlb_maglev_build(mb, n, ring);
	if (err)
		goto out;

	for (i = 0; i < st->nvips; i++)
		if (st->vips[i].val.vip_id == vip_id)
			v = &st->vips[i];
	/* Which ring is inactive comes from the snapshot: a stale one would
	 * name the active ring. Writers hold the lock, so this never fires
	 * unless one of them does not. */
	if (v && (bpf_map_lookup_elem(st->maps.vips, &v->key, &cur) ||
		  memcmp(&cur, &v->val, sizeof(cur)))) {
		err = -ESTALE;
		goto out;
	}
	err = ring_target(st, vip_id, v ? &v->val : NULL, &which, &active);
	if (err)
		goto out;
	ring_write(ring, &r->buf[which], active, slots, churn_pct ? &moved : NULL);
	err = ring_check_layout(st, &r->buf[which], ring);
	if (err)
		goto out;
	if (churn_pct)
		*churn_pct = 100.0 * moved / QLB_RING_SIZE;	/* no old ring: all new */

	if (v) {
		/* The flip. */
		next = v->val;
		next.ring_gen++;
		next.ring_id[which] = r->buf[which].id;
		if (bpf_map_update_elem(st->maps.vips, &v->key, &next, BPF_EXIST)) {
			err = -errno;
			goto out;
		}
		v->val = next;
		r->flip_gen = next.ring_gen;
		r->flip_ids[0] = next.ring_id[0];
		r->flip_ids[1] = next.ring_id[1];
		/* Without a ticket the next publish waits out its own. */
		if (qlb_gp_request(&r->flip_ticket))
			r->flip_ticket = 0;
	}

	for (i = 0; i < QLB_MAX_BACKENDS; i++) {
		struct qlb_backend *b = &st->backends[i];

		if (!(b->flags & QLB_BE_F_IN_USE) || b->vip_id != vip_id ||
		    b->ring_slots == slots[i])
			continue;
		b->ring_slots = slots[i];
		qlb_backend_store_u32(st, i, &b->ring_slots);
	}
	/* The per-flow picks follow the same eligibility as the ring. */
	err = qlb_publish_pick(st, vip_id);
out:
	free(ring);
	free(mb);
	return err;
}

