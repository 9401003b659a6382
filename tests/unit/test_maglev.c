// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * qlb_maglev_build against its definition: the round-by-round loop below
 * (each round every backend earns its weight and claims its next preferred
 * slot when its credit reaches the largest weight), kept here as the
 * oracle. The fast build must give the same ring, slot for slot, for any
 * weights, in any input order.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>

#include "maglev.h"
#include "rng.h"

static int by_identity(const void *a, const void *b)
{
	const struct qlb_maglev_backend *x = a, *y = b;

	if (x->offset_seed != y->offset_seed)
		return x->offset_seed < y->offset_seed ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* The definition, as qlb first shipped it. */
static void reference_build(const struct qlb_maglev_backend *in, int n, uint32_t *ring)
{
	const uint32_t m = QLB_RING_SIZE;
	struct qlb_maglev_backend *be = malloc(n * sizeof(*be));
	uint64_t *credit = calloc(n, sizeof(*credit));
	uint32_t *next = calloc(n, sizeof(*next)), wmax = 0, filled = 0;
	int i;

	assert_true(be && credit && next);
	for (i = 0; i < (int)m; i++)
		ring[i] = QLB_NO_BACKEND;
	for (i = 0; i < n; i++)
		wmax = in[i].weight > wmax ? in[i].weight : wmax;
	memcpy(be, in, n * sizeof(*be));
	qsort(be, n, sizeof(*be), by_identity);
	while (wmax && filled < m) {
		for (i = 0; i < n && filled < m; i++) {
			uint64_t h2 = XXH64(&be[i].offset_seed, sizeof(be[i].offset_seed), 0x5eed);
			uint32_t offset = be[i].offset_seed % m, skip = h2 % (m - 1) + 1, slot;

			if (!be[i].weight)
				continue;
			credit[i] += be[i].weight;
			if (credit[i] < wmax)
				continue;
			credit[i] -= wmax;
			do {
				slot = (offset + (uint64_t)next[i] * skip) % m;
				next[i]++;
			} while (ring[slot] != QLB_NO_BACKEND);
			ring[slot] = be[i].id;
			filled++;
		}
	}
	free(be);
	free(credit);
	free(next);
}

static void make_backends(struct qlb_maglev_backend *be, int n, struct qlb_rng *rng,
			  int kind)
{
	for (int i = 0; i < n; i++) {
		union qlb_addr a = { .v4 = 0x0a010001u + (uint32_t)i };

		be[i].offset_seed = qlb_backend_identity(&a, QLB_FAMILY_V4, 8080);
		be[i].id = (uint32_t)i * 7 + 3;
		switch (kind) {
		case 0:		/* equal */
			be[i].weight = 1;
			break;
		case 1:		/* anything, some zero */
			be[i].weight = qlb_rng_below(rng, 5) ? 1 + qlb_rng_below(rng, 65535) : 0;
			break;
		default:	/* one dwarfs the rest, as the qlb policy's floors do */
			be[i].weight = i == n / 2 ? 5000 : 1 + qlb_rng_below(rng, 3);
			break;
		}
	}
}

static void test_same_ring_as_definition(void **state)
{
	static const int sizes[] = { 1, 2, 3, 4, 5, 17, 100, 1000 };
	uint32_t *want = malloc(QLB_RING_SIZE * sizeof(*want));
	uint32_t *got = malloc(QLB_RING_SIZE * sizeof(*got));
	struct qlb_maglev_backend *be = malloc(1000 * sizeof(*be));
	struct qlb_rng rng;

	(void)state;
	assert_true(want && got && be);
	qlb_rng_seed(&rng, 42);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (int kind = 0; kind < 3; kind++) {
			make_backends(be, sizes[s], &rng, kind);
			reference_build(be, sizes[s], want);
			assert_int_equal(qlb_maglev_build(be, sizes[s], got), 0);
			if (memcmp(want, got, QLB_RING_SIZE * sizeof(*got)))
				fail_msg("%d backends, weights of kind %d: rings differ", sizes[s],
					 kind);
		}
	}
	free(want);
	free(got);
	free(be);
}

static void test_input_order_and_shares(void **state)
{
	uint32_t *a = malloc(QLB_RING_SIZE * sizeof(*a)), *b = malloc(QLB_RING_SIZE * sizeof(*b));
	struct qlb_maglev_backend be[300];
	uint32_t slots[300] = {}, wmax = 0;
	uint64_t wsum = 0;
	struct qlb_rng rng;
	int n = 300, i;

	(void)state;
	assert_true(a && b);
	qlb_rng_seed(&rng, 7);
	make_backends(be, n, &rng, 1);
	for (i = 0; i < n; i++) {
		be[i].id = i;
		wmax = be[i].weight > wmax ? be[i].weight : wmax;
		wsum += be[i].weight;
	}
	assert_int_equal(qlb_maglev_build(be, n, a), 0);
	for (i = n - 1; i > 0; i--) {	/* Fisher-Yates */
		int j = (int)qlb_rng_below(&rng, i + 1);
		struct qlb_maglev_backend t = be[i];

		be[i] = be[j];
		be[j] = t;
	}
	assert_int_equal(qlb_maglev_build(be, n, b), 0);
	assert_memory_equal(a, b, QLB_RING_SIZE * sizeof(*a));

	/* Every slot taken; shares within one slot of R w / wmax, R the rounds
	 * it took, so within 1 + n wmax / wsum of the weighted share. */
	for (i = 0; i < QLB_RING_SIZE; i++) {
		assert_true(a[i] < (uint32_t)n);
		slots[a[i]]++;
	}
	for (i = 0; i < n; i++) {
		double want = (double)QLB_RING_SIZE * be[i].weight / wsum;
		double tol = 2.0 + (double)n * be[i].weight / wsum;

		if (!be[i].weight)
			assert_int_equal(slots[be[i].id], 0);
		else if (slots[be[i].id] < want - tol || slots[be[i].id] > want + tol)
			fail_msg("weight %u: %u slots, want %.1f", be[i].weight, slots[be[i].id],
				 want);
	}
	free(a);
	free(b);
}

static void test_no_weight(void **state)
{
	uint32_t *ring = malloc(QLB_RING_SIZE * sizeof(*ring));
	struct qlb_maglev_backend be[2] = { { .offset_seed = 1, .id = 1 },
					    { .offset_seed = 2, .id = 2 } };

	(void)state;
	assert_non_null(ring);
	assert_int_equal(qlb_maglev_build(be, 2, ring), 0);
	assert_int_equal(qlb_maglev_build(be, 0, ring), 0);
	for (int i = 0; i < QLB_RING_SIZE; i++)
		assert_int_equal(ring[i], QLB_NO_BACKEND);
	free(ring);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_ring_as_definition),
		cmocka_unit_test(test_input_order_and_shares),
		cmocka_unit_test(test_no_weight),
	};

	return cmocka_run_group_tests_name("maglev", tests, NULL, NULL);
}
