// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Ring publishes and flips: established flows keep their backend across
 * weight changes, drains and many flips, and the retired ring is not
 * rewritten before a grace period.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/if_ether.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>

#include "clock.h"
#include "dp_harness.h"
#include "dp_test.h"
#include "flows.h"
#include "grace.h"
#include "pick.h"
#include "policy.h"
#include "ring.h"
#include "stats.h"

static void test_flow_stays_across_switch_and_add(void **state)
{
	struct dp *dp = *state;
	uint32_t vid, ids[2], daddr, gen;
	int i;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	ids[0] = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	ids[1] = dp_backend(dp, vid, "10.1.0.2", 80, 1);

	for (i = 0; i < 64; i++) {
		uint16_t sport = 50000 + i;
		uint32_t owner, other;

		daddr = backend_of(dp, sport, TH_SYN);
		owner = daddr == dp->st->backends[ids[0]].addr.v4 ? ids[0] : ids[1];
		other = owner == ids[0] ? ids[1] : ids[0];

		/* Table switch: the owner loses every slot. */
		gen = dp->st->vips[0].val.ring_gen;
		assert_int_equal(qlb_backend_update(dp->st, owner, 0, 0), 0);
		assert_int_equal(dp->st->backends[owner].ring_slots, 0);
		assert_true(dp->st->vips[0].val.ring_gen > gen);
		assert_int_equal(backend_of(dp, sport, TH_ACK), daddr);
		/* New flows avoid it. */
		assert_int_equal(backend_of(dp, sport + 1000, TH_SYN),
				 dp->st->backends[other].addr.v4);
		assert_int_equal(qlb_backend_update(dp->st, owner, 1, 0), 0);
	}

	/* A backend added with a dominant weight does not move old flows. */
	daddr = backend_of(dp, 60000, TH_SYN);
	assert_int_not_equal(dp_backend(dp, vid, "10.1.0.3", 80, 1000), QLB_NO_BACKEND);
	assert_int_equal(backend_of(dp, 60000, TH_ACK), daddr);
}

static void test_drain_keeps_established(void **state)
{
	struct dp *dp = *state;
	uint32_t vid, a, b, daddr;
	int i;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	a = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	b = dp_backend(dp, vid, "10.1.0.2", 80, 1);
	assert_int_equal(qlb_backend_update(dp->st, b, 1, QLB_BE_F_DRAIN), 0);
	for (i = 0; i < 200; i++)
		assert_int_equal(backend_of(dp, 30000 + i, TH_SYN),
				 dp->st->backends[a].addr.v4);
	/* An established flow on a backend drained afterwards stays there. */
	assert_int_equal(qlb_backend_update(dp->st, b, 1, 0), 0);
	for (i = 0; i < 200; i++) {
		daddr = backend_of(dp, 31000 + i, TH_SYN);
		if (daddr == dp->st->backends[b].addr.v4)
			break;
	}
	assert_int_equal(daddr, dp->st->backends[b].addr.v4);
	assert_int_equal(qlb_backend_update(dp->st, b, 1, QLB_BE_F_DRAIN), 0);
	assert_int_equal(backend_of(dp, 31000 + i, TH_ACK), dp->st->backends[b].addr.v4);
}

/* ---- ring flips: two rings per VIP, the retired one kept for a grace
 * period ---- */

/* The first VIP as the kernel has it. */
static struct qlb_vip kernel_vip(struct dp *dp)
{
	struct qlb_vip v;

	assert_int_equal(bpf_map_lookup_elem(dp->st->maps.vips, &dp->st->vips[0].key, &v), 0);
	return v;
}

/* Ring `which` of VIP v read through syscalls, as the program finds it: the
 * map in its maglev_rings slot, which must be the one ring_id[] names. */
static void kernel_ring(struct dp *dp, const struct qlb_vip *v, int which, uint32_t *ring)
{
	__u32 key = QLB_RING_KEY(v->vip_id, which), id, count = QLB_RING_SIZE, out;
	int fd, err;

	assert_int_equal(bpf_map_lookup_elem(dp->st->maps.maglev_rings, &key, &id), 0);
	assert_int_equal(id, v->ring_id[which]);
	fd = bpf_map_get_fd_by_id(id);
	assert_true(fd >= 0);
	err = bpf_map_lookup_batch(fd, NULL, &out, dp->st->ring_keys, ring, &count, NULL);
	assert_true(!err || errno == ENOENT);
	assert_int_equal(count, QLB_RING_SIZE);
	close(fd);
}

static uint32_t slots_of(const uint32_t *ring, uint32_t id)
{
	uint32_t i, n = 0;

	for (i = 0; i < QLB_RING_SIZE; i++)
		n += ring[i] == id;
	return n;
}

/* A publish writes the inactive ring and flips ring_gen: the active ring is
 * then the whole new one, and the retired one is left as it was. */
static void test_ring_flip_keeps_retired_ring(void **state)
{
	struct dp *dp = *state;
	uint32_t *before = malloc(QLB_RING_SIZE * 4), *ring = malloc(QLB_RING_SIZE * 4);
	uint32_t vid, a, b;
	struct qlb_vip v0, v1;
	int i;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	a = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	b = dp_backend(dp, vid, "10.1.0.2", 80, 1);
	v0 = kernel_vip(dp);
	assert_int_not_equal(v0.ring_id[0], 0);
	assert_int_not_equal(v0.ring_id[1], 0);
	kernel_ring(dp, &v0, v0.ring_gen & 1, before);
	assert_true(slots_of(before, a) > 30000 && slots_of(before, b) > 30000);

	assert_int_equal(qlb_backend_update(dp->st, a, 0, 0), 0);
	v1 = kernel_vip(dp);
	assert_int_equal(v1.ring_gen, v0.ring_gen + 1);
	/* The same two rings, the other one active. */
	assert_memory_equal(v1.ring_id, v0.ring_id, sizeof(v0.ring_id));
	kernel_ring(dp, &v1, v1.ring_gen & 1, ring);
	assert_int_equal(slots_of(ring, b), QLB_RING_SIZE);
	kernel_ring(dp, &v1, v0.ring_gen & 1, ring);
	assert_memory_equal(ring, before, QLB_RING_SIZE * 4);
	for (i = 0; i < 50; i++)
		assert_int_equal(backend_of(dp, 40000 + i, TH_SYN),
				 dp->st->backends[b].addr.v4);
	free(before);
	free(ring);
}

/* A grace period the test holds back, in place of the kernel's. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int hold, calls;
} held = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };

static int held_grace_period(void)
{
	pthread_mutex_lock(&held.mu);
	held.calls++;
	while (held.hold)
		pthread_cond_wait(&held.cv, &held.mu);
	pthread_mutex_unlock(&held.mu);
	return 0;
}

static void hold_grace_periods(int hold)
{
	pthread_mutex_lock(&held.mu);
	held.hold = hold;
	pthread_cond_broadcast(&held.cv);
	pthread_mutex_unlock(&held.mu);
}

/* A publish on its own thread. Static, as is its thread: a failed
 * assertion leaves the test, and the teardown then joins it. */
static struct publisher {
	struct qlb_state *st;
	uint32_t id, weight;
	int err;
	int done;	/* atomic */
	int started;
	pthread_t thread;
} pub;

static void *publish_weight(void *arg)
{
	struct publisher *p = arg;

	p->err = qlb_backend_update(p->st, p->id, p->weight, 0);
	__atomic_store_n(&p->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int teardown_release(void **state)
{
	hold_grace_periods(0);
	if (pub.started)
		pthread_join(pub.thread, NULL);
	pub.started = 0;
	qlb_gp_set_op(NULL);
	return teardown(state);
}

/* Runs a publish on its own thread and checks that it does not finish, nor
 * touch any ring, while grace periods are held back; then releases them. */
static void assert_publish_waits(struct dp *dp, struct qlb_state *st, uint32_t id,
				 uint32_t weight)
{
	uint32_t *r0 = malloc(QLB_RING_SIZE * 4), *r1 = malloc(QLB_RING_SIZE * 4);
	uint32_t *now = malloc(QLB_RING_SIZE * 4);
	struct qlb_vip v = kernel_vip(dp), after;

	kernel_ring(dp, &v, 0, r0);
	kernel_ring(dp, &v, 1, r1);
	pub = (struct publisher){ .st = st, .id = id, .weight = weight };
	assert_int_equal(pthread_create(&pub.thread, NULL, publish_weight, &pub), 0);
	pub.started = 1;
	usleep(200 * 1000);
	assert_false(__atomic_load_n(&pub.done, __ATOMIC_ACQUIRE));
	after = kernel_vip(dp);
	assert_memory_equal(&after, &v, sizeof(v));
	kernel_ring(dp, &v, 0, now);
	assert_memory_equal(now, r0, QLB_RING_SIZE * 4);
	kernel_ring(dp, &v, 1, now);
	assert_memory_equal(now, r1, QLB_RING_SIZE * 4);

	hold_grace_periods(0);
	assert_int_equal(pthread_join(pub.thread, NULL), 0);
	pub.started = 0;
	assert_int_equal(pub.err, 0);
	after = kernel_vip(dp);
	assert_int_equal(after.ring_gen, v.ring_gen + 1);
	/* The ring that was active stays as it was. */
	kernel_ring(dp, &after, v.ring_gen & 1, now);
	assert_memory_equal(now, v.ring_gen & 1 ? r1 : r0, QLB_RING_SIZE * 4);
	free(r0);
	free(r1);
	free(now);
}

/*
 * The ring a flip retired is not rewritten before a grace period that began
 * after the flip: the next publish waits for the one this process asked for
 * at its flip, and after a flip by another process (a second state on the
 * same pins) for a fresh one.
 */
static void test_retired_ring_waits_for_grace_period(void **state)
{
	struct dp *dp = *state;
	struct qlb_state *other;
	uint32_t vid, a, b;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	a = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	b = dp_backend(dp, vid, "10.1.0.2", 80, 1);
	assert_int_equal(qlb_gp_sync(), 0);

	/* Our own flip; its grace period held back. */
	qlb_gp_set_op(held_grace_period);
	hold_grace_periods(1);
	assert_int_equal(qlb_backend_update(dp->st, a, 0, 0), 0);
	assert_int_equal(backend_of(dp, 41000, TH_SYN), dp->st->backends[b].addr.v4);
	assert_publish_waits(dp, dp->st, a, 1);
	assert_true(held.calls > 0);

	/* Another process's flip: nothing says when it happened. */
	assert_int_equal(qlb_gp_sync(), 0);
	assert_int_equal(qlb_state_open(&other, 0, 0, NULL), 0);
	assert_int_equal(qlb_state_read(other), 0);
	assert_int_equal(qlb_backend_update(other, b, 0, 0), 0);
	assert_int_equal(qlb_gp_sync(), 0);	/* even once its own is done */
	assert_int_equal(qlb_state_read(dp->st), 0);
	hold_grace_periods(1);
	assert_publish_waits(dp, dp->st, b, 1);
	qlb_state_close(other);
	qlb_gp_set_op(NULL);
	assert_int_equal(qlb_gp_sync(), 0);
}

/* Many flips back to back, with the kernel's grace periods: each new flow
 * follows the ring of its generation, and every flow keeps its backend. */
static void test_flows_survive_many_flips(void **state)
{
	struct dp *dp = *state;
	uint32_t vid, ids[2], owner[100];
	int k, j;

	vid = dp_vip(dp, VIP4, 80, IPPROTO_TCP);
	ids[0] = dp_backend(dp, vid, "10.1.0.1", 80, 1);
	ids[1] = dp_backend(dp, vid, "10.1.0.2", 80, 0);
	for (k = 0; k < 100; k++) {
		uint32_t on = ids[k & 1], off = ids[!(k & 1)];
		uint32_t gen = dp->st->vips[0].val.ring_gen;

		assert_int_equal(qlb_backend_update(dp->st, on, 1, 0), 0);
		assert_int_equal(qlb_backend_update(dp->st, off, 0, 0), 0);
		assert_int_equal(dp->st->vips[0].val.ring_gen, gen + 2);
		owner[k] = dp->st->backends[on].addr.v4;
		assert_int_equal(backend_of(dp, 20000 + k, TH_SYN), owner[k]);
		for (j = 0; j <= k; j++)
			assert_int_equal(backend_of(dp, 20000 + j, TH_ACK), owner[j]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_flow_stays_across_switch_and_add, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_drain_keeps_established, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring_flip_keeps_retired_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retired_ring_waits_for_grace_period, setup,
						teardown_release),
		cmocka_unit_test_setup_teardown(test_flows_survive_many_flips, setup, teardown),
	};

	return cmocka_run_group_tests_name("ring", tests, NULL, NULL);
}
