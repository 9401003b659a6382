// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The agent's window bookkeeping (agent/control/agent.h): backends keep
 * their slots as others come and go.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent.h"
#include "cli.h"
#include "forecast.h"
#include "policy.h"
#include "queueing.h"
#include "rng.h"
#include "sim.h"
#include "cli_capture.h"
#include "assert_near.h"
#include "../traces.h"

/* The agent's slot seating against its definition (the search it was):
 * a backend keeps its slot, a departed one's slot is freed, a newcomer takes
 * the lowest free slot. Random comings and goings over many windows. */
static void seat_reference(uint32_t *slot, uint32_t cap, const uint32_t *ids, uint32_t n)
{
	uint32_t i, j;

	for (j = 0; j < cap; j++) {
		int still = 0;

		for (i = 0; i < n && !still; i++)
			still = ids[i] == slot[j];
		if (!still)
			slot[j] = QLB_NO_BACKEND;
	}
	for (i = 0; i < n; i++) {
		int seated = 0;

		for (j = 0; j < cap && !seated; j++)
			seated = slot[j] == ids[i];
		for (j = 0; j < cap && !seated; j++) {
			if (slot[j] != QLB_NO_BACKEND)
				continue;
			slot[j] = ids[i];
			seated = 1;
		}
	}
}

static void test_seat_backends(void **state)
{
	enum { CAP = 64 };
	uint32_t got[CAP], want[CAP], ids[CAP / 2], n, i, w;
	struct qlb_policy_opts o;
	struct qlb_policy *pol;
	struct qlb_rng rng;

	(void)state;
	qlb_policy_opts_default(&o);
	assert_int_equal(qlb_policy_create(QLB_POLICY_WRR, CAP, &o, &pol), 0);
	qlb_rng_seed(&rng, 7);
	for (i = 0; i < CAP; i++)
		got[i] = want[i] = QLB_NO_BACKEND;
	for (w = 0; w < 500; w++) {
		/* Up to CAP / 2 distinct ids out of 48, in increasing order as
		 * the agent lists them. */
		for (n = 0, i = 0; i < 48 && n < CAP / 2; i++)
			if (qlb_rng_next(&rng) % 3)
				ids[n++] = i * 85;
		qlb_seat_backends(pol, got, CAP, ids, n);
		seat_reference(want, CAP, ids, n);
		assert_memory_equal(got, want, sizeof(got));
	}
	qlb_policy_destroy(pol);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seat_backends),
	};

	return cmocka_run_group_tests_name("agent", tests, NULL, NULL);
}
