// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Walking the flow tables (both families) from userspace, and collecting
 * idle flows. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>

#include "array.h"
#include "clock.h"
#include "flows.h"

static void entry_from_v4(const struct qlb_flow4_key *k, struct qlb_flow_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->family = QLB_FAMILY_V4;
	e->saddr.v4 = k->saddr;
	e->daddr.v4 = k->daddr;
	e->sport = ntohs(k->sport);
	e->dport = ntohs(k->dport);
	e->proto = k->proto;
}

static void entry_from_v6(const struct qlb_flow6_key *k, struct qlb_flow_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->family = QLB_FAMILY_V6;
	memcpy(e->saddr.v6, k->saddr, 16);
	memcpy(e->daddr.v6, k->daddr, 16);
	e->sport = ntohs(k->sport);
	e->dport = ntohs(k->dport);
	e->proto = k->proto;
}

/* Entries per batch read: one syscall each instead of two per entry. */
#define FLOW_BATCH 4096

union flow_key {
	struct qlb_flow4_key k4;
	struct qlb_flow6_key k6;
};

/* keys: room for FLOW_BATCH of the larger key; the kernel packs them at
 * the map's own key size. */
static int foreach_in(int fd, int v6, qlb_flow_fn fn, void *ctx, void *keys,
		      struct qlb_flow *vals)
{
	size_t ksize = v6 ? sizeof(struct qlb_flow6_key) : sizeof(struct qlb_flow4_key);
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 batch, count, i;
	void *in = NULL;
	struct qlb_flow_entry e;
	int err, ret;

	do {
		count = FLOW_BATCH;
		/* Whole buckets at a time, so entries that come and go
		 * meanwhile never make the walk start over. */
		err = bpf_map_lookup_batch(fd, in, &batch, keys, vals, &count, &opts);
		if (err && errno != ENOENT)
			return -errno;
		for (i = 0; i < count; i++) {
			void *k = (char *)keys + i * ksize;

			if (v6)
				entry_from_v6(k, &e);
			else
				entry_from_v4(k, &e);
			e.val = vals[i];
			ret = fn(&e, ctx);
			if (ret)
				return ret;
		}
		in = &batch;
	} while (!err);
	return 0;
}

static int foreach_pair(int fd4, int fd6, qlb_flow_fn fn, void *ctx)
{
	void *keys = malloc(FLOW_BATCH * sizeof(union flow_key));
	struct qlb_flow *vals = malloc(FLOW_BATCH * sizeof(*vals));
	int ret = -ENOMEM;

	if (keys && vals) {
		ret = foreach_in(fd4, 0, fn, ctx, keys, vals);
		if (!ret)
			ret = foreach_in(fd6, 1, fn, ctx, keys, vals);
	}
	free(keys);
	free(vals);
	return ret > 0 ? 0 : ret;
}

int qlb_flows_foreach(struct qlb_state *st, qlb_flow_fn fn, void *ctx)
{
	return foreach_pair(st->maps.flows_v4, st->maps.flows_v6, fn, ctx);
}

int qlb_pending_foreach(struct qlb_state *st, qlb_flow_fn fn, void *ctx)
{
	return foreach_pair(st->maps.pending_v4, st->maps.pending_v6, fn, ctx);
}

/* ---- garbage collection of idle flows ---- */

/* The wire key of a flow-table entry (ports in network order). */
static void make_key(union flow_key *k, uint8_t family, const union qlb_addr *saddr,
		     const union qlb_addr *daddr, __be16 sport, __be16 dport, uint8_t proto)
{
	memset(k, 0, sizeof(*k));
	if (family == QLB_FAMILY_V4) {
		k->k4.saddr = saddr->v4;
		k->k4.daddr = daddr->v4;
		k->k4.sport = sport;
		k->k4.dport = dport;
		k->k4.proto = proto;
	} else {
		memcpy(k->k6.saddr, saddr->v6, 16);
		memcpy(k->k6.daddr, daddr->v6, 16);
		k->k6.sport = sport;
		k->k6.dport = dport;
		k->k6.proto = proto;
	}
}

/* An entry to delete after the walk, which then sees each entry once. */
struct gc_victim {
	union flow_key key;	/* request entry, or an orphaned response */
	union flow_key rkey;	/* the request's response entry, if has_resp */
	uint64_t created_ns;	/* identifies the flow: both entries carry it */
	uint64_t timeout_ns;
	uint8_t family;
	uint8_t orphan;		/* key is a response entry without its request */
	uint8_t has_resp;
};

struct gc_ctx {
	struct qlb_state *st;
	uint64_t now, tcp_idle_ns, udp_idle_ns, linger_ns;
	struct gc_victim *v;
	size_t n, cap;
	struct qlb_gc_result res;
	/* Per backend id: open request entries the walk saw, and flows_new
	 * before it (reconcile_active). */
	uint32_t *open_seen;
	uint64_t *new_before;
};

static int flow_fd(const struct qlb_state *st, uint8_t family)
{
	return family == QLB_FAMILY_V4 ? st->maps.flows_v4 : st->maps.flows_v6;
}

static uint64_t open_timeout(const struct gc_ctx *g, uint8_t proto)
{
	return proto == IPPROTO_UDP ? g->udp_idle_ns : g->tcp_idle_ns;
}

/* Flow times come from the program's jiffies clock, which runs at
 * CLOCK_MONOTONIC's rate but can sit a fixed offset from it, up to a few
 * hundred ms (test_refused_backend_passed_over prints it): nothing against
 * idle timeouts of seconds. */
static int idle_past(const struct qlb_flow *f, uint64_t now, uint64_t timeout_ns)
{
	return now > f->last_seen_ns && now - f->last_seen_ns > timeout_ns;
}

static int same_flow(const struct qlb_flow *a, const struct qlb_flow *b)
{
	return a->created_ns == b->created_ns && a->backend_id == b->backend_id;
}

/* The response entry of a request entry: from the backend's address and
 * port to the client. Found and of the same flow, or -ENOENT. */
static int response_of(struct gc_ctx *g, const struct qlb_flow_entry *e,
		       union flow_key *rkey, struct qlb_flow *resp)
{
	const struct qlb_backend *b;

	if (e->val.backend_id >= QLB_MAX_BACKENDS)
		return -ENOENT;
	b = &g->st->backends[e->val.backend_id];
	if (!(b->flags & QLB_BE_F_IN_USE) || b->family != e->family)
		return -ENOENT;
	make_key(rkey, e->family, &b->addr, &e->saddr, b->port ? b->port : htons(e->dport),
		 htons(e->sport), e->proto);
	if (bpf_map_lookup_elem(flow_fd(g->st, e->family), rkey, resp) ||
	    !(resp->flags & QLB_FLOW_F_RESPONSE) || !same_flow(resp, &e->val))
		return -ENOENT;
	return 0;
}

static int gc_visit(const struct qlb_flow_entry *e, void *ctx)
{
	struct gc_ctx *g = ctx;
	struct gc_victim v = { .family = e->family, .created_ns = e->val.created_ns };
	struct qlb_flow resp;

	g->res.scanned++;
	if (!(e->val.flags & (QLB_FLOW_F_RESPONSE | QLB_FLOW_F_CLOSED)) &&
	    e->val.backend_id < QLB_MAX_BACKENDS)
		g->open_seen[e->val.backend_id]++;
	if (e->val.flags & QLB_FLOW_F_RESPONSE) {
		/* Responses go with their request; alone only when orphaned
		 * (request evicted, or replaced by a rescheduled flow), which
		 * the second phase checks. */
		v.timeout_ns = open_timeout(g, e->proto);
		if (!idle_past(&e->val, g->now, v.timeout_ns))
			return 0;
		v.orphan = 1;
	} else {
		v.timeout_ns = (e->val.flags & QLB_FLOW_F_CLOSED) ? g->linger_ns :
			       open_timeout(g, e->proto);
		if (!idle_past(&e->val, g->now, v.timeout_ns))
			return 0;
		/* Idle means idle both ways: a response stream (a UDP feed, a
		 * half-closed download) keeps the flow. */
		if (!response_of(g, e, &v.rkey, &resp)) {
			if (!idle_past(&resp, g->now, v.timeout_ns))
				return 0;
			v.has_resp = 1;
		}
	}
	make_key(&v.key, e->family, &e->saddr, &e->daddr, htons(e->sport), htons(e->dport),
		 e->proto);
	return QLB_ARRAY_PUSH(g->v, g->n, g->cap, 1024, v);
}

/* Deletes the entry at key if it is still the flow seen in the walk and
 * still idle, and returns what was deleted in *f. The deletion and the read
 * are one operation, so the accounting follows what was really removed; a
 * packet that refreshed the entry since gets it put back. */
static int take_if_idle(struct gc_ctx *g, const struct gc_victim *v, const union flow_key *key,
			struct qlb_flow *f)
{
	int fd = flow_fd(g->st, v->family);

	/* Cheap check first: most races show here, without a delete. */
	if (bpf_map_lookup_elem(fd, key, f) || f->created_ns != v->created_ns ||
	    !idle_past(f, g->now, v->timeout_ns))
		return -EAGAIN;
	if (bpf_map_lookup_and_delete_elem(fd, key, f))
		return -errno;
	if (f->created_ns != v->created_ns || !idle_past(f, g->now, v->timeout_ns)) {
		bpf_map_update_elem(fd, key, f, BPF_NOEXIST);
		return -EAGAIN;
	}
	return 0;
}

/* A request entry and its response; an open one is a completion. */
static int gc_request(struct gc_ctx *g, const struct gc_victim *v)
{
	struct qlb_flow f, resp;
	uint32_t id;

	if (take_if_idle(g, v, &v->key, &f))
		return 0;
	if (v->has_resp)
		take_if_idle(g, v, &v->rkey, &resp);
	if (f.flags & QLB_FLOW_F_CLOSED) {
		g->res.closed++;
		return 1;
	}
	g->res.expired++;
	id = f.backend_id;
	/* A backend deleted since owns nothing any more. */
	if (id < QLB_MAX_BACKENDS && (g->st->backends[id].flags & QLB_BE_F_IN_USE) &&
	    g->st->backends[id].vip_id == f.vip_id) {
		qlb_backend_active_add(g->st, id, -1);
		__atomic_fetch_add(&g->st->gc[id].flows_expired, 1, __ATOMIC_RELAXED);
	}
	return 1;
}

/* A response entry whose request is gone or belongs to another flow. */
static void gc_orphan(struct gc_ctx *g, const struct gc_victim *v)
{
	const struct qlb_flow4_key *k4 = &v->key.k4;
	const struct qlb_flow6_key *k6 = &v->key.k6;
	union flow_key req_key;
	struct qlb_flow f, req;
	union qlb_addr client = {};

	/* Its request went client -> VIP: swap, and put the VIP back. */
	if (bpf_map_lookup_elem(flow_fd(g->st, v->family), &v->key, &f))
		return;
	if (v->family == QLB_FAMILY_V4)
		client.v4 = k4->daddr;
	else
		memcpy(client.v6, k6->daddr, 16);
	make_key(&req_key, v->family, &client, &f.vip_addr,
		 v->family == QLB_FAMILY_V4 ? k4->dport : k6->dport, f.vip_port,
		 v->family == QLB_FAMILY_V4 ? k4->proto : k6->proto);
	if (!bpf_map_lookup_elem(flow_fd(g->st, v->family), &req_key, &req) &&
	    same_flow(&req, &f))
		return;
	if (!take_if_idle(g, v, &v->key, &f))
		g->res.orphans++;
}

/* flows_new of a backend, over the CPUs. */
static uint64_t flows_new_of(const struct qlb_state *st, uint32_t id)
{
	uint64_t sum = 0;

	for (int cpu = 0; cpu < st->ncpus; cpu++)
		sum += __atomic_load_n(&st->stats_map[QLB_BE_STATS_KEY(cpu, id)].flows_new,
				       __ATOMIC_RELAXED);
	return sum;
}

static int backend_live(const struct qlb_state *st, uint32_t id)
{
	return st->backends[id].flags & QLB_BE_F_IN_USE;
}

/*
 * An open flow that leaves the table unseen (the table is no LRU, but a
 * pinned map can be rewritten from outside, or its entry deleted) would
 * stay in backend_active for good, and lc and sed would shun its backend
 * more every time. The walk counts the open flows
 * each backend really has; the excess of backend_active over that count is
 * the leak, less what the walk could have missed: a flow opened while it ran
 * may be in backend_active and not in the count (a flow closed meanwhile is
 * out of both, or only counted, which errs the safe way). So
 *   leak >= active(after the walk) - seen - opened(during the walk),
 * and subtracting that never takes a live flow off the count. Under steady
 * load a backend keeps at most the flows of one walk's length of excess.
 */
static void reconcile_active(struct gc_ctx *g)
{
	struct qlb_state *st = g->st;

	if (!st->active || !st->stats_map)
		return;
	for (uint32_t id = 0; id < QLB_MAX_BACKENDS; id++) {
		int64_t active, opened, excess;

		if (!backend_live(st, id))
			continue;
		/* In this order: a flow in `active` has its flows_new
		 * counted already (the program counts it first). */
		active = __atomic_load_n(&st->active[id].active, __ATOMIC_RELAXED);
		opened = (int64_t)(flows_new_of(st, id) - g->new_before[id]);
		excess = active - (int64_t)g->open_seen[id] - opened;
		if (excess > 0) {
			qlb_backend_active_add(st, id, -excess);
			__atomic_fetch_add(&st->gc[id].flows_evicted, (uint64_t)excess,
					   __ATOMIC_RELAXED);
			g->res.reclaimed += (uint64_t)excess;
		}
	}
}

int qlb_flows_gc(struct qlb_state *st, uint64_t tcp_idle_ns, uint64_t udp_idle_ns,
		 uint64_t closed_linger_ns, struct qlb_gc_result *res)
{
	struct gc_ctx g = { .st = st, .now = qlb_mono_ns(), .tcp_idle_ns = tcp_idle_ns,
			    .udp_idle_ns = udp_idle_ns, .linger_ns = closed_linger_ns };
	int err, deleted = 0;
	size_t i;

	g.open_seen = calloc(QLB_MAX_BACKENDS, sizeof(*g.open_seen));
	g.new_before = calloc(QLB_MAX_BACKENDS, sizeof(*g.new_before));
	if (!g.open_seen || !g.new_before) {
		err = -ENOMEM;
		goto out;
	}
	for (uint32_t id = 0; st->stats_map && id < QLB_MAX_BACKENDS; id++)
		if (backend_live(st, id))
			g.new_before[id] = flows_new_of(st, id);
	err = qlb_flows_foreach(st, gc_visit, &g);
	/* Before the deletions, which take flows off both sides alike. */
	if (!err)
		reconcile_active(&g);
	/* Requests first: they take their responses along, so the orphans
	 * left are the real ones. */
	for (i = 0; !err && i < g.n; i++)
		if (!g.v[i].orphan)
			deleted += gc_request(&g, &g.v[i]);
	for (i = 0; !err && i < g.n; i++)
		if (g.v[i].orphan)
			gc_orphan(&g, &g.v[i]);
out:
	free(g.v);
	free(g.open_seen);
	free(g.new_before);
	if (res)
		*res = g.res;
	return err ? err : deleted;
}

/* ---- the half-open tables ---- */

struct pending_key {
	union flow_key key;
	uint8_t family;
};

struct pending_gc {
	uint64_t now, timeout_ns, deleted;
	struct pending_key *keys;
	size_t n, cap;
};

static int pending_visit(const struct qlb_flow_entry *e, void *ctx)
{
	struct pending_gc *g = ctx;
	struct pending_key k = { .family = e->family };

	if (!idle_past(&e->val, g->now, g->timeout_ns))
		return 0;
	make_key(&k.key, e->family, &e->saddr, &e->daddr, htons(e->sport), htons(e->dport),
		 e->proto);
	return QLB_ARRAY_PUSH(g->keys, g->n, g->cap, 1024, k);
}

int qlb_pending_gc(struct qlb_state *st, uint64_t timeout_ns, uint64_t *deleted)
{
	struct pending_gc g = { .now = qlb_mono_ns(), .timeout_ns = timeout_ns };
	int err = qlb_pending_foreach(st, pending_visit, &g);

	for (size_t i = 0; !err && i < g.n; i++) {
		const struct pending_key *k = &g.keys[i];
		int fd = k->family == QLB_FAMILY_V4 ? st->maps.pending_v4 : st->maps.pending_v6;
		struct qlb_flow f;

		/* A packet may have refreshed it since the walk. */
		if (!bpf_map_lookup_elem(fd, &k->key, &f) && idle_past(&f, g.now, timeout_ns) &&
		    !bpf_map_delete_elem(fd, &k->key))
			g.deleted++;
	}
	free(g.keys);
	if (deleted)
		*deleted = g.deleted;
	return err;
}
