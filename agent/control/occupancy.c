// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Occupancy sampler (occupancy.h). One thread, one writer per integral:
 * relaxed atomics are enough, since a reader only wants a recent value.
 * Each sample weighs by the time since the previous one, so a late wake-up
 * stretches a sample rather than losing the time.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "occupancy.h"

struct qlb_occupancy {
	const struct qlb_state *st;
	uint32_t servers;
	uint32_t span;		/* ids sampled, written by the caller */
	int stop;
	struct timespec period;
	pthread_t thread;
	uint64_t busy_ns[QLB_MAX_BACKENDS];
};

static void *sample_loop(void *arg)
{
	struct qlb_occupancy *o = arg;
	uint64_t last = qlb_mono_ns(), now, dt;
	uint32_t id, span;

	while (!__atomic_load_n(&o->stop, __ATOMIC_RELAXED)) {
		nanosleep(&o->period, NULL);
		now = qlb_mono_ns();
		dt = now - last;
		last = now;
		span = __atomic_load_n(&o->span, __ATOMIC_RELAXED);
		for (id = 0; id < span; id++) {
			uint64_t open = qlb_backend_active(o->st, id);

			if (!open)
				continue;
			if (open > o->servers)
				open = o->servers;
			__atomic_store_n(&o->busy_ns[id], o->busy_ns[id] + open * dt,
					 __ATOMIC_RELAXED);
		}
	}
	return NULL;
}

int qlb_occupancy_start(const struct qlb_state *st, uint32_t servers, double period_s,
			struct qlb_occupancy **out)
{
	struct qlb_occupancy *o;
	int err;

	if (!st || !servers || !(period_s > 0) || period_s >= 1)
		return -EINVAL;
	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->st = st;
	o->servers = servers;
	o->period.tv_nsec = (long)(period_s * 1e9);
	err = pthread_create(&o->thread, NULL, sample_loop, o);
	if (err) {
		free(o);
		return -err;
	}
	*out = o;
	return 0;
}

void qlb_occupancy_set_span(struct qlb_occupancy *o, uint32_t span)
{
	__atomic_store_n(&o->span, span < QLB_MAX_BACKENDS ? span : QLB_MAX_BACKENDS,
			 __ATOMIC_RELAXED);
}

uint64_t qlb_occupancy_busy_ns(const struct qlb_occupancy *o, uint32_t id)
{
	return id < QLB_MAX_BACKENDS ? __atomic_load_n(&o->busy_ns[id], __ATOMIC_RELAXED) : 0;
}

void qlb_occupancy_stop(struct qlb_occupancy *o)
{
	if (!o)
		return;
	__atomic_store_n(&o->stop, 1, __ATOMIC_RELAXED);
	pthread_join(o->thread, NULL);
	free(o);
}
