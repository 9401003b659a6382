// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Weighted Maglev (Eisenbud et al., NSDI '16, section 3.4) with weights that
 * hold in every round, not only the first: in each round a backend earns
 * credit equal to its weight and claims its next preferred slot whenever its
 * credit reaches the largest weight. After R rounds backend i has claimed
 * floor(R * w_i / w_max) slots, so shares follow the weights to within one
 * slot per backend, and a backend's preference list (hence most of its slots)
 * does not depend on the other backends.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "qlb.h"

/* xxHash: a well-kept, stable (version-independent output) fast hash from
 * Debian's libxxhash; stability matters because rings built by different
 * qlb versions must agree on where a backend's slots are. */
uint64_t qlb_backend_identity(const union qlb_addr *addr, uint8_t family,
			      uint16_t port)
{
	struct {
		union qlb_addr addr;
		uint16_t port;
		uint8_t family;
		uint8_t pad;
	} id;

	memset(&id, 0, sizeof(id));
	id.addr = *addr;
	id.port = port;
	id.family = family;
	return XXH64(&id, sizeof(id), 0x716c62);
}

static int by_identity(const void *a, const void *b)
{
	const struct qlb_maglev_backend *x = a, *y = b;

	if (x->offset_seed != y->offset_seed)
		return x->offset_seed < y->offset_seed ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

int qlb_maglev_build(const struct qlb_maglev_backend *in, int n, uint32_t *ring)
{
	const uint32_t m = QLB_RING_SIZE;
	struct qlb_maglev_backend *be = NULL;
	uint32_t *offset = NULL, *skip = NULL, *next = NULL;
	uint64_t *credit = NULL;
	uint32_t wmax = 0, filled = 0;
	int i, err = 0;

	for (i = 0; i < (int)m; i++)
		ring[i] = QLB_NO_BACKEND;
	for (i = 0; i < n; i++)
		if (in[i].weight > wmax)
			wmax = in[i].weight;
	if (!n || !wmax)
		return 0;

	be = malloc(n * sizeof(*be));
	offset = malloc(n * sizeof(*offset));
	skip = malloc(n * sizeof(*skip));
	next = calloc(n, sizeof(*next));
	credit = calloc(n, sizeof(*credit));
	if (!be || !offset || !skip || !next || !credit) {
		err = -ENOMEM;
		goto out;
	}
	/* Claim order must not depend on the order backends were added. */
	memcpy(be, in, n * sizeof(*be));
	qsort(be, n, sizeof(*be), by_identity);
	for (i = 0; i < n; i++) {
		uint64_t h2 = XXH64(&be[i].offset_seed, sizeof(be[i].offset_seed), 0x5eed);

		offset[i] = be[i].offset_seed % m;
		skip[i] = h2 % (m - 1) + 1;
	}

	while (filled < m) {
		for (i = 0; i < n && filled < m; i++) {
			uint32_t slot;

			if (!be[i].weight)
				continue;
			credit[i] += be[i].weight;
			if (credit[i] < wmax)
				continue;
			credit[i] -= wmax;
			do {
				slot = (offset[i] + (uint64_t)next[i] * skip[i]) % m;
				next[i]++;
			} while (ring[slot] != QLB_NO_BACKEND);
			ring[slot] = be[i].id;
			filled++;
		}
	}
out:
	free(be);
	free(offset);
	free(skip);
	free(next);
	free(credit);
	return err;
}
