// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The occupancy sampler (agent/control/occupancy.h) on open-flow counts
 * that the test sets, standing in for the mapped backend_active: the
 * integral is min(open, servers) times the time they were open, whatever
 * the thread's wake-ups, and ids outside the span are not sampled.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "clock.h"
#include "occupancy.h"

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&t, NULL);
}

static void set_open(struct qlb_backend_load *l, int64_t v)
{
	__atomic_store_n(&l->active, v, __ATOMIC_RELAXED);
}

static void test_integral(void **state)
{
	static struct qlb_backend_load load[QLB_MAX_BACKENDS];
	struct qlb_state *st = calloc(1, sizeof(*st));
	struct qlb_occupancy *o = NULL;
	uint64_t t0, t1, b0, b1, b2, b3;

	(void)state;
	assert_non_null(st);
	st->active = load;
	assert_int_equal(qlb_occupancy_start(st, 2, 0.001, &o), 0);
	qlb_occupancy_set_span(o, 3);
	set_open(&load[2], 1);
	set_open(&load[3], 5); /* outside the span */
	sleep_ms(50);
	/* From here on: id 0 has one flow open, id 1 three (two servers). */
	t0 = qlb_mono_ns();
	b0 = qlb_occupancy_busy_ns(o, 0);
	set_open(&load[0], 1);
	set_open(&load[1], 3);
	b2 = qlb_occupancy_busy_ns(o, 2);
	sleep_ms(300);
	set_open(&load[0], 0);
	set_open(&load[1], 0);
	t1 = qlb_mono_ns();
	sleep_ms(20); /* the last sample lands */
	b1 = qlb_occupancy_busy_ns(o, 0) - b0;
	b3 = qlb_occupancy_busy_ns(o, 1);
	/* Each sample covers the time since the one before: the integral is
	 * off by at most a sample's worth at either end (a few ms here, a
	 * late wake-up on a loaded machine). */
	assert_in_range(b1, t1 - t0 - 30000000, t1 - t0 + 30000000);
	assert_in_range(b3, 2 * (t1 - t0) - 60000000, 2 * (t1 - t0) + 60000000);
	/* id 2 kept counting, id 3 never did */
	assert_true(qlb_occupancy_busy_ns(o, 2) > b2 + 250000000);
	assert_int_equal(qlb_occupancy_busy_ns(o, 3), 0);
	/* idle: no more */
	b0 = qlb_occupancy_busy_ns(o, 0);
	sleep_ms(30);
	assert_int_equal(qlb_occupancy_busy_ns(o, 0), b0);
	assert_int_equal(qlb_occupancy_busy_ns(o, QLB_MAX_BACKENDS), 0);
	qlb_occupancy_stop(o);
	qlb_occupancy_stop(NULL);
	free(st);
}

static void test_bad_arguments(void **state)
{
	struct qlb_state st = {};
	struct qlb_occupancy *o = (void *)&st;

	(void)state;
	assert_int_equal(qlb_occupancy_start(NULL, 1, 0.001, &o), -EINVAL);
	assert_int_equal(qlb_occupancy_start(&st, 0, 0.001, &o), -EINVAL);
	assert_int_equal(qlb_occupancy_start(&st, 1, 0, &o), -EINVAL);
	assert_int_equal(qlb_occupancy_start(&st, 1, 1, &o), -EINVAL);
	assert_ptr_equal(o, (void *)&st); /* untouched on error */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_integral),
		cmocka_unit_test(test_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
