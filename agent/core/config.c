// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Changes to VIPs and backends, shared by the CLI, the agent and the tests.
 * Each change is ordered so that a packet never meets a half-made state: a
 * ring exists before its VIP, a backend exists before a ring points at it,
 * and leaves the ring before it is cleared. On failure, what was written is
 * undone. Callers hold the state lock and a fresh snapshot.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "config.h"
#include "pick.h"
#include "ring.h"

static const struct qlb_vip_entry *vip_of_id(const struct qlb_state *st, uint32_t vip_id)
{
	for (int i = 0; i < st->nvips; i++)
		if (st->vips[i].val.vip_id == vip_id)
			return &st->vips[i];
	return NULL;
}

/* The endpoint backend b answers from (its port, or its VIP's), and the
 * entry that leads its replies back to the VIP. */
static int server_of(const struct qlb_state *st, const struct qlb_backend *b, uint32_t id,
		     struct qlb_server_key *k, struct qlb_server *srv)
{
	const struct qlb_vip_entry *v = vip_of_id(st, b->vip_id);

	if (!v)
		return -ENOENT;
	memset(k, 0, sizeof(*k));
	k->addr = b->addr;
	k->port = b->port ? b->port : v->key.port;
	k->proto = v->key.proto;
	k->family = b->family;
	if (srv) {
		memset(srv, 0, sizeof(*srv));
		srv->backend_id = id;
		srv->vip_id = b->vip_id;
		srv->vip_addr = v->key.addr;
		srv->vip_port = v->key.port;
	}
	return 0;
}

static void server_delete(struct qlb_state *st, const struct qlb_backend *b, uint32_t id)
{
	struct qlb_server_key k;
	struct qlb_server srv;

	if (!server_of(st, b, id, &k, NULL) &&
	    !bpf_map_lookup_elem(st->maps.servers, &k, &srv) && srv.backend_id == id)
		bpf_map_delete_elem(st->maps.servers, &k);
}

/* vip_addrs counts the VIPs of each address (qlb_abi.h): +1 or -1. */
static int vip_addr_count(struct qlb_state *st, const struct qlb_vip_key *k, int d)
{
	struct qlb_addr_key ak = { .addr = k->addr, .family = k->family };
	__u32 n = 0;

	bpf_map_lookup_elem(st->maps.vip_addrs, &ak, &n);
	n += d;
	if (!n)
		return bpf_map_delete_elem(st->maps.vip_addrs, &ak) && errno != ENOENT ? -errno : 0;
	return bpf_map_update_elem(st->maps.vip_addrs, &ak, &n, BPF_ANY) ? -errno : 0;
}

int qlb_vip_add(struct qlb_state *st, const struct qlb_vip_key *k, uint32_t *vip_id)
{
	struct qlb_vip v = { .policy = QLB_POLICY_WRR };
	int err;

	if (qlb_find_vip(st, k))
		return -EEXIST;
	if (st->nvips >= QLB_MAX_VIPS || qlb_alloc_vip_id(st, &v.vip_id))
		return -ENOSPC;
	/* Ring 0 first, then the VIP that names it with ring_gen 0. */
	err = qlb_publish_ring(st, v.vip_id, NULL);
	v.ring_id[0] = qlb_ring_new_id(st, v.vip_id);
	if (!err)
		err = qlb_zero_percpu(st, st->maps.vip_stats, v.vip_id,
				      sizeof(struct qlb_vip_stats));
	if (!err)
		err = vip_addr_count(st, k, 1);
	if (!err && bpf_map_update_elem(st->maps.vips, k, &v, BPF_NOEXIST)) {
		err = -errno;
		vip_addr_count(st, k, -1);
	}
	if (err) {
		qlb_rings_delete(st, v.vip_id);
		return err;
	}
	st->vips[st->nvips].key = *k;
	st->vips[st->nvips].val = v;
	st->nvips++;
	if (vip_id)
		*vip_id = v.vip_id;
	return 0;
}

int qlb_vip_set_policy(struct qlb_state *st, const struct qlb_vip_key *k, uint32_t policy)
{
	struct qlb_vip_entry *v = qlb_find_vip(st, k);

	if (!v)
		return -ENOENT;
	v->val.policy = policy;
	if (bpf_map_update_elem(st->maps.vips, k, &v->val, BPF_EXIST))
		return -errno;
	/* lc and p2c take effect at once, not at the agent's next window. */
	return qlb_publish_pick(st, v->val.vip_id);
}

int qlb_vip_del(struct qlb_state *st, const struct qlb_vip_key *k)
{
	struct qlb_vip_entry *v = qlb_find_vip(st, k);
	__u32 id, key;
	int i;

	if (!v)
		return -ENOENT;
	id = v->val.vip_id;
	if (bpf_map_delete_elem(st->maps.vips, k))
		return -errno;
	vip_addr_count(st, k, -1);
	for (i = 0; i < QLB_MAX_BACKENDS; i++) {
		struct qlb_backend *b = &st->backends[i];

		if (!(b->flags & QLB_BE_F_IN_USE) || b->vip_id != id)
			continue;
		server_delete(st, b, i);
		memset(b, 0, sizeof(*b));
		key = i;
		bpf_map_update_elem(st->maps.backends, &key, b, BPF_ANY);
	}
	/* No new flow finds the VIP now; a program that found it before
	 * still has its ring until the deletion's grace period. */
	qlb_rings_delete(st, id);
	*v = st->vips[--st->nvips];
	/* Empties its vip_backends entry for the next VIP with this id. */
	qlb_publish_pick(st, id);
	return 0;
}

int qlb_backend_conflict(const struct qlb_state *st, const struct qlb_backend *nb)
{
	struct qlb_server_key sk;
	struct qlb_server srv;
	int err = server_of(st, nb, 0, &sk, NULL);

	if (err)
		return err;
	if (bpf_map_lookup_elem(st->maps.servers, &sk, &srv))
		return 0;
	return srv.vip_id == nb->vip_id ? -EEXIST : -EADDRINUSE;
}

int qlb_backend_insert(struct qlb_state *st, const struct qlb_backend *nb,
		       uint32_t *backend_id)
{
	struct qlb_endpoint ep = { .addr = nb->addr, .family = nb->family,
				   .port = ntohs(nb->port) };
	struct qlb_backend empty = {};
	struct qlb_server_key sk;
	struct qlb_server srv;
	__u32 id, ifindex = nb->ifindex;
	int err;

	if (qlb_find_backend(st, nb->vip_id, &ep) >= 0)
		return -EEXIST;
	if (qlb_alloc_backend_id(st, &id))
		return -ENOSPC;
	err = qlb_backend_conflict(st, nb);
	if (!err)
		err = server_of(st, nb, id, &sk, &srv);
	if (err)
		return err;
	/* A redirect target before any ring points at the backend. */
	if (bpf_map_update_elem(st->maps.tx_ports, &ifindex, &ifindex, BPF_ANY))
		return -errno;
	/* A reused id starts with no counts, no open flows, no refusal and
	 * no GC completions. */
	qlb_backend_stats_zero(st, id);
	if (bpf_map_update_elem(st->maps.backend_refused, &id, &(__u64){ 0 }, BPF_ANY))
		return -errno;
	memset(&st->active[id], 0, sizeof(st->active[id]));
	memset(&st->gc[id], 0, sizeof(st->gc[id]));
	st->backends[id] = *nb;
	st->backends[id].flags |= QLB_BE_F_IN_USE;
	st->backends[id].ring_weight = nb->weight;
	err = bpf_map_update_elem(st->maps.backends, &id, &st->backends[id], BPF_ANY) ? -errno : 0;
	if (!err && bpf_map_update_elem(st->maps.servers, &sk, &srv, BPF_NOEXIST))
		err = -errno;
	if (!err)
		err = qlb_publish_ring(st, nb->vip_id, NULL);
	if (err) {
		server_delete(st, &st->backends[id], id);
		st->backends[id] = empty;
		bpf_map_update_elem(st->maps.backends, &id, &empty, BPF_ANY);
		return err;
	}
	if (backend_id)
		*backend_id = id;
	return 0;
}

/* Backend id's slot if it is in use, else NULL. */
static struct qlb_backend *backend_in_use(struct qlb_state *st, uint32_t id)
{
	if (id >= QLB_MAX_BACKENDS || !(st->backends[id].flags & QLB_BE_F_IN_USE))
		return NULL;
	return &st->backends[id];
}

int qlb_backend_update(struct qlb_state *st, uint32_t id, uint32_t weight,
		       uint32_t flags)
{
	struct qlb_backend *b = backend_in_use(st, id), old;
	int err;

	if (!b)
		return -ENOENT;
	old = *b;
	b->weight = weight;
	b->ring_weight = weight;	/* until the agent's policy decides */
	b->flags = flags | QLB_BE_F_IN_USE;
	err = bpf_map_update_elem(st->maps.backends, &id, b, BPF_EXIST) ? -errno : 0;
	if (!err)
		err = qlb_publish_ring(st, b->vip_id, NULL);
	if (err) {
		*b = old;
		bpf_map_update_elem(st->maps.backends, &id, b, BPF_ANY);
	}
	return err;
}

int qlb_backend_remove(struct qlb_state *st, uint32_t id)
{
	struct qlb_backend *b = backend_in_use(st, id), old;
	int err;

	if (!b)
		return -ENOENT;
	old = *b;
	/* Out of the ring first, so no new flow picks it meanwhile. */
	b->flags = 0;
	err = qlb_publish_ring(st, old.vip_id, NULL);
	if (err) {
		*b = old;
		return err;
	}
	server_delete(st, &old, id);
	memset(b, 0, sizeof(*b));
	return bpf_map_update_elem(st->maps.backends, &id, b, BPF_ANY) ? -errno : 0;
}

int qlb_apply_ring_weights(struct qlb_state *st, uint32_t vip_id, const uint32_t *ids,
			   const uint32_t *ring_weights, uint32_t n, double *churn_pct)
{
	uint32_t i, changed = 0;

	for (i = 0; i < n; i++) {
		struct qlb_backend *b;

		if (ids[i] >= QLB_MAX_BACKENDS)
			return -EINVAL;
		b = &st->backends[ids[i]];
		if (!(b->flags & QLB_BE_F_IN_USE) || b->vip_id != vip_id)
			return -ENOENT;
		if (b->ring_weight == ring_weights[i])
			continue;
		b->ring_weight = ring_weights[i];
		qlb_backend_store_u32(st, ids[i], &b->ring_weight);
		changed++;
	}
	if (!changed) {
		if (churn_pct)
			*churn_pct = 0;
		return 0;
	}
	return qlb_publish_ring(st, vip_id, churn_pct);
}
