// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Weighted Maglev (Eisenbud et al., NSDI '16, section 3.4) with weights that
 * hold in every round, not only the first: in each round a backend earns
 * credit equal to its weight and claims its next preferred slot whenever its
 * credit reaches the largest weight. After R rounds backend i has claimed
 * floor(R * w_i / w_max) slots, so shares follow the weights to within one
 * slot per backend, and a backend's preference list (hence most of its slots)
 * does not depend on the other backends.
 *
 * The build yields exactly the ring of that round-by-round loop (checked
 * against it in tests/unit/test_maglev.c), faster in four ways, most of all
 * when one weight dwarfs the others, as the sedq policy's floors make them
 * (figures: docs/design/ring-and-flip.md):
 *  - backends are put in identity order by a radix sort, not qsort;
 *  - claims are listed in the loop's order, (round, backend), by a counting
 *    sort of each backend's claim rounds, instead of visiting every backend
 *    in every round (m w_max / sum(w) rounds of n visits);
 *  - a claim probes four slots of its permutation at once, without a
 *    branch per probe (the loop's exit mispredicted once per claim);
 *  - the last claims, which walk m / free slots each, compute instead which
 *    free slot their permutation reaches first.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "maglev.h"

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

#define RING_M QLB_RING_SIZE
/* Claims left to the free-slot search: it costs ~TAIL^2 / 2 multiplications
 * where walking would cost ~m ln(TAIL) probes. */
#define TAIL 256
/* Below this many backends a claim's probes depend on its own previous
 * claim, and a predicted branch beats the branch-free probe. */
#define FEW_BACKENDS 4

/* One backend's walk along its permutation offset + j * skip (mod m): what
 * each claim touches, 16 bytes, four to a cache line. */
struct claimer {
	uint32_t pos;		/* next slot of the permutation to try */
	uint32_t skip, skip4;	/* skip and 4 * skip, mod m */
	uint32_t id;
};

/* The rest of a backend's claiming. */
struct claims {
	uint32_t q, rem;	/* w_max = q * weight + rem */
	uint32_t weight, nclaims;
};

static inline uint32_t add_mod(uint32_t p, uint32_t d)
{
	p += d;
	return p >= RING_M ? p - RING_M : p;
}

static inline unsigned is_used(const uint64_t *used, uint32_t p)
{
	return (unsigned)(used[p / 64] >> (p % 64)) & 1;
}

/* x^-1 mod m (m prime, Fermat). */
static uint32_t inverse_mod(uint32_t x)
{
	uint64_t r = 1, b = x;

	for (uint32_t e = RING_M - 2; e; e >>= 1, b = b * b % RING_M)
		if (e & 1)
			r = r * b % RING_M;
	return (uint32_t)r;
}

/* Calls body with round set to the round of each of c's claims, in order:
 * claim k (from 1) falls in round ceil(k * w_max / weight), stepped here
 * without a division. */
#define FOR_EACH_CLAIM_ROUND(c, round, body)                                   \
	do {                                                                   \
		uint32_t whole_ = 0, frac_ = 0;                                \
		for (uint32_t k_ = 0; k_ < (c)->nclaims; k_++) {               \
			whole_ += (c)->q;                                      \
			frac_ += (c)->rem;                                     \
			if (frac_ >= (c)->weight) {                            \
				frac_ -= (c)->weight;                          \
				whole_++;                                      \
			}                                                      \
			round = whole_ + (frac_ > 0);                          \
			body;                                                  \
		}                                                              \
	} while (0)

/* The first free slot of x's permutation from x->pos. */
static inline __attribute__((always_inline)) uint32_t
walk(const uint64_t *used, const struct claimer *x, int few)
{
	uint32_t a = x->pos, b, c, d;
	unsigned mask;

	if (few) {
		while (is_used(used, a))
			a = add_mod(a, x->skip);
		return a;
	}
	b = add_mod(a, x->skip);
	c = add_mod(b, x->skip);
	d = add_mod(c, x->skip);
	for (;;) {
		mask = is_used(used, a) | is_used(used, b) << 1 | is_used(used, c) << 2 |
		       is_used(used, d) << 3;
		if (__builtin_expect(mask != 0xf, 1))
			break;
		a = add_mod(a, x->skip4);
		b = add_mod(b, x->skip4);
		c = add_mod(c, x->skip4);
		d = add_mod(d, x->skip4);
	}
	/* Selects, not jumps: which one is free is anyone's guess. */
	mask = __builtin_ctz(~mask);
	a = mask & 1 ? b : a;
	c = mask & 1 ? d : c;
	return mask & 2 ? c : a;
}

/* Claims order[0..count) by walking; few is a constant in each caller, so
 * each gets its own loop. */
static inline __attribute__((always_inline)) void
claim_walking(struct claimer *c, const uint32_t *order, uint32_t count, uint64_t *used,
	      uint32_t *ring, int few)
{
	for (uint32_t k = 0; k < count; k++) {
		struct claimer *x = &c[order[k]];
		uint32_t p = walk(used, x, few);

		used[p / 64] |= 1ull << (p % 64);
		ring[p] = x->id;
		x->pos = add_mod(p, x->skip);
	}
}

/* The free slot x's permutation reaches first: the one the fewest steps
 * (slot - pos) / skip mod m ahead (inv: skip^-1 mod m, 0 until needed).
 * Returns its index in free_slots. */
static uint32_t nearest_free(const struct claimer *x, uint32_t *inv, const uint32_t *free_slots,
			     uint32_t nfree)
{
	uint32_t best = 0, bestd = RING_M;

	if (!*inv)
		*inv = inverse_mod(x->skip);
	for (uint32_t f = 0; f < nfree; f++) {
		uint32_t d = (uint32_t)((uint64_t)(free_slots[f] + RING_M - x->pos) * *inv %
					RING_M);

		if (d < bestd) {
			bestd = d;
			best = f;
		}
	}
	return best;
}

/* Sorts be[0..n) by (offset_seed, id) with stable radix passes of a byte
 * each, least significant first (tmp: room for n more); a pass where every
 * backend has the same byte moves nothing and is skipped. It beats qsort
 * at the backend counts that matter (docs/design/ring-and-flip.md). */
static void sort_by_identity(struct qlb_maglev_backend *be, struct qlb_maglev_backend *tmp,
			     uint32_t n)
{
	struct qlb_maglev_backend *src = be, *dst = tmp, *swap;
	uint32_t count[256], i, d;

	for (int pass = 0; pass < 12; pass++) {
		int shift = pass < 4 ? pass * 8 : (pass - 4) * 8;
#define DIGIT(b) (pass < 4 ? ((b)->id >> shift) & 0xff : ((b)->offset_seed >> shift) & 0xff)
		memset(count, 0, sizeof(count));
		for (i = 0; i < n; i++)
			count[DIGIT(&src[i])]++;
		if (count[DIGIT(&src[0])] == n)
			continue;	/* one digit for all: nothing moves */
		for (d = 0, i = 0; d < 256; d++) {
			uint32_t c = count[d];

			count[d] = i;
			i += c;
		}
		for (i = 0; i < n; i++)
			dst[count[DIGIT(&src[i])]++] = src[i];
#undef DIGIT
		swap = src;
		src = dst;
		dst = swap;
	}
	if (src != be)
		memcpy(be, src, n * sizeof(*be));
}

/* One build's working set. */
struct build {
	struct qlb_maglev_backend *be;	/* weighted backends, identity order (+ room to sort) */
	struct claimer *c;
	struct claims *cl;
	uint32_t *inv;		/* skip^-1 per backend, 0 until needed */
	uint32_t *start;	/* per round: first index in order */
	uint32_t *order;	/* claims as (round, backend) */
	uint64_t *used;		/* ring slots taken */
	uint32_t nl, wmax, rounds, total;
};

static void build_free(struct build *b)
{
	free(b->be);
	free(b->c);
	free(b->cl);
	free(b->inv);
	free(b->start);
	free(b->order);
	free(b->used);
}

/* Each weighted backend's permutation and number of claims; claim order
 * must not depend on the order backends were added. */
static void build_claimers(struct build *b, const struct qlb_maglev_backend *in, int n)
{
	const uint32_t m = RING_M;

	b->nl = 0;
	for (int i = 0; i < n; i++)
		if (in[i].weight)
			b->be[b->nl++] = in[i];
	sort_by_identity(b->be, b->be + b->nl, b->nl);
	b->total = 0;
	for (uint32_t j = 0; j < b->nl; j++) {
		const struct qlb_maglev_backend *be = &b->be[j];
		uint64_t h2 = XXH64(&be->offset_seed, sizeof(be->offset_seed), 0x5eed);

		b->c[j] = (struct claimer){
			.pos = be->offset_seed % m,
			.skip = h2 % (m - 1) + 1,
			.id = be->id,
		};
		b->c[j].skip4 = (uint32_t)(4ull * b->c[j].skip % m);
		b->cl[j] = (struct claims){
			.q = b->wmax / be->weight,
			.rem = b->wmax % be->weight,
			.weight = be->weight,
			.nclaims = (uint32_t)((uint64_t)b->rounds * be->weight / b->wmax),
		};
		b->total += b->cl[j].nclaims;
	}
}

/* Counting sort of all claims by round, stable: within a round, in
 * identity order, as the round-by-round loop visits them. */
static int order_claims(struct build *b)
{
	b->order = malloc(b->total * sizeof(*b->order));
	if (!b->order)
		return -ENOMEM;
	for (uint32_t j = 0; j < b->nl; j++) {
		uint32_t r;

		FOR_EACH_CLAIM_ROUND(&b->cl[j], r, b->start[r + 1]++);
	}
	for (uint32_t r = 1; r <= b->rounds + 1; r++)
		b->start[r] += b->start[r - 1];
	for (uint32_t j = 0; j < b->nl; j++) {
		uint32_t r;

		FOR_EACH_CLAIM_ROUND(&b->cl[j], r, b->order[b->start[r]++] = j);
	}
	return 0;
}

/* Up to TAIL free slots, a word of the bitmap at a time. */
static uint32_t collect_free(const uint64_t *used, uint32_t *free_slots)
{
	uint32_t nfree = 0;

	for (uint32_t w = 0; w < (RING_M + 63) / 64 && nfree < TAIL; w++) {
		uint64_t free_bits = ~used[w];

		while (free_bits && nfree < TAIL) {
			uint32_t p = w * 64 + (uint32_t)__builtin_ctzll(free_bits);

			if (p >= RING_M)
				break;
			free_slots[nfree++] = p;
			free_bits &= free_bits - 1;
		}
	}
	return nfree;
}

/* Claims from k on, each taking the free slot its permutation reaches
 * first, until the ring is full. */
static void claim_tail(struct build *b, uint32_t k, uint32_t *ring)
{
	uint32_t free_slots[TAIL], nfree = collect_free(b->used, free_slots);

	for (; k < RING_M && k < b->total && nfree; k++) {
		struct claimer *x = &b->c[b->order[k]];
		uint32_t f = 0;

		if (is_used(b->used, x->pos))
			f = nearest_free(x, &b->inv[b->order[k]], free_slots, nfree);
		else
			while (free_slots[f] != x->pos)
				f++;
		b->used[free_slots[f] / 64] |= 1ull << (free_slots[f] % 64);
		ring[free_slots[f]] = x->id;
		x->pos = add_mod(free_slots[f], x->skip);
		free_slots[f] = free_slots[--nfree];
	}
}

int qlb_maglev_build(const struct qlb_maglev_backend *in, int n, uint32_t *ring)
{
	const uint32_t m = RING_M;
	struct build b = {0};
	uint64_t wsum = 0;
	uint32_t k;
	int err;

	for (uint32_t i = 0; i < m; i++)
		ring[i] = QLB_NO_BACKEND;
	for (int i = 0; i < n; i++) {
		if (in[i].weight > b.wmax)
			b.wmax = in[i].weight;
		wsum += in[i].weight;
		b.nl += in[i].weight > 0;
	}
	if (!b.nl)
		return 0;
	/* Rounds enough for m claims: a backend has claimed more than
	 * rounds * w / w_max - 1 of them, so all together more than m. */
	b.rounds = (uint32_t)(((uint64_t)(m + b.nl) * b.wmax + wsum - 1) / wsum);
	b.be = malloc(2 * b.nl * sizeof(*b.be));
	b.c = malloc(b.nl * sizeof(*b.c));
	b.cl = malloc(b.nl * sizeof(*b.cl));
	b.inv = calloc(b.nl, sizeof(*b.inv));
	b.start = calloc(b.rounds + 2, sizeof(*b.start));
	b.used = calloc((m + 63) / 64, sizeof(*b.used));
	if (!b.be || !b.c || !b.cl || !b.inv || !b.start || !b.used) {
		err = -ENOMEM;
		goto out;
	}
	build_claimers(&b, in, n);
	err = order_claims(&b);
	if (err)
		goto out;
	/* The first m - TAIL claims walk their permutation to a free slot. */
	k = b.total < m - TAIL ? b.total : m - TAIL;
	if (b.nl < FEW_BACKENDS)
		claim_walking(b.c, b.order, k, b.used, ring, 1);
	else
		claim_walking(b.c, b.order, k, b.used, ring, 0);
	claim_tail(&b, k, ring);
out:
	build_free(&b);
	return err;
}
