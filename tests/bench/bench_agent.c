// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The agent's cost per control window, for one VIP of 10, 100, 1,000 and
 * 4,096 backends (QLB_MAX_BACKENDS), on the real BPF object (private pins,
 * private netns), phase by phase as agent.c's run_window() runs them:
 *   read     qlb_state_read + qlb_stats_read (the counters, summed over
 *            CPUs through backend_stats's mapping)
 *   compute  the policy's slots seated (qlb_seat_backends), one qlb_obs
 *            per slot, built as agent.c's observe() builds it, and
 *            qlb_policy_update with the qlb policy
 *   ring     qlb_apply_ring_weights: Maglev build, the VIP's inactive ring
 *            written through its mapping (with the churn against the
 *            active one), the flip of ring_gen
 *   est      every backend's backend_est entry written, as agent.c's
 *            publish_est() writes it
 *   total    read + compute + ring + est (before the maps were mapped,
 *            est was left out of it: ~1.2 ms of syscalls at 1,000)
 *   cpu      the CPU time of total (this thread's); the rest of "total" is
 *            the thread not running (a shared machine)
 *   maglev   qlb_maglev_build alone on the same backends (the CPU part of
 *            "ring", timed apart)
 *   grace    from the flip until the RCU grace period that frees the
 *            retired ring for the next publish has elapsed (a helper
 *            thread waits it out): a publish sooner than that after the
 *            last would wait for the rest. The bench waits it out between
 *            windows, untimed, as an agent's window (0.1 s or more) does.
 * Between windows (untimed) every backend's counters advance by a window of
 * synthetic traffic, so the policy estimates from real deltas; the ring
 * weights alternate between two vectors 25% apart (the qlb policy's default
 * max step), so every window rebuilds the whole ring and flips to it.
 * Figures and how to read them: docs/bench.md.
 *
 * The reference, measured once per window in the same run: a fresh
 * 65,537-entry array map filled with one batch update, i.e. the kernel's
 * share of a ring swap that creates a new inner map, as rings were
 * published before they were double-buffered; a yardstick of the
 * machine's speed.
 */
#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "clock.h"
#include "agent.h"
#include "config.h"
#include "dp_harness.h"
#include "grace.h"
#include "maglev.h"
#include "policy.h"
#include "ring.h"
#include "stats.h"

#define WINDOWS (getenv("BENCH_WINDOWS") ? atoi(getenv("BENCH_WINDOWS")) : 100)
#define WARMUP 3
#define WINDOW_S 1.0		/* the synthetic traffic's window */
#define TARGET_MS 2.0		/* at 1,000 backends */
#define TARGET_N 1000

enum { PH_READ, PH_COMPUTE, PH_RING, PH_TOTAL, PH_CPU, PH_MAGLEV, PH_EST, PH_GRACE, PH_REF,
       PH_MAX };

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of v[0..n) (sorts v). */
static double percentile(double *v, int n, double pct)
{
	int rank = (int)ceil(pct / 100.0 * n);

	qsort(v, n, sizeof(*v), cmp_double);
	return v[rank < 1 ? 0 : rank - 1];
}

/* Backend i's capacity, flows/s: 50 to 200, scattered over the ids. */
static double capacity(uint32_t i)
{
	return 50.0 * (1 + (i * 2654435761u >> 16) % 4);
}

/* One window of M/M/1 traffic at 70% load on every backend, all counted on
 * CPU 0 (through backend_stats's mapping, as the program counts). */
static void advance_counters(struct dp *dp, const uint32_t *ids, uint32_t n,
			     struct qlb_backend_stats *total)
{
	for (uint32_t i = 0; i < n; i++) {
		struct qlb_backend_stats *s = &total[i];
		double mu = capacity(ids[i]), lambda = 0.7 * mu, t = 1 / (mu - lambda);
		uint64_t a = (uint64_t)(lambda * WINDOW_S);

		s->flows_new += a;
		s->flows_closed += a;
		s->rt_count += a;
		s->rt_sum_ns += (uint64_t)(a * t * 1e9);
		s->rt_hist[(int)log2(t * 1e6)] += a;
		memcpy(&dp->st->stats_map[QLB_BE_STATS_KEY(0, ids[i])], s, sizeof(*s));
	}
}

/* The reference: what the kernel side of one ring swap costs at least. */
static double reference_ms(const uint32_t *keys, const uint32_t *ring)
{
	__u32 count = QLB_RING_SIZE;
	double t0 = qlb_mono_s();
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "qlb_ref", sizeof(__u32), sizeof(__u32),
				QLB_RING_SIZE, NULL);

	if (fd < 0)
		return NAN;
	if (bpf_map_update_batch(fd, keys, ring, &count, NULL))
		count = 0;
	close(fd);
	return count == QLB_RING_SIZE ? (qlb_mono_s() - t0) * 1e3 : NAN;
}

/* The ring weights of window w: the qlb policy's scale (share x 10,000) for
 * capacity-proportional shares, and every other window 25% up for odd
 * slots and 20% down for even ones. */
static void ring_weights(const uint32_t *ids, uint32_t n, int w, uint32_t *weights)
{
	double total = 0;

	for (uint32_t i = 0; i < n; i++)
		total += capacity(ids[i]);
	for (uint32_t i = 0; i < n; i++) {
		double x = 10000.0 * capacity(ids[i]) / total;

		if (w & 1)
			x *= i & 1 ? 1.25 : 0.8;
		weights[i] = x < 1 ? 1 : (uint32_t)lround(x);
	}
}

/* qlb_maglev_build alone, on the backends qlb_publish_ring would give it. */
static double maglev_ms(const struct qlb_state *st, const uint32_t *ids, uint32_t n,
			struct qlb_maglev_backend *mb, uint32_t *ring)
{
	double t0;

	for (uint32_t i = 0; i < n; i++) {
		const struct qlb_backend *b = &st->backends[ids[i]];

		mb[i] = (struct qlb_maglev_backend){
			.offset_seed = qlb_backend_identity(&b->addr, b->family, b->port),
			.weight = b->ring_weight,
			.id = ids[i],
		};
	}
	t0 = qlb_mono_s();
	return qlb_maglev_build(mb, n, ring) ? NAN : (qlb_mono_s() - t0) * 1e3;
}

/*
 * n backends on the VIP, weight 0 until the first window. The first goes
 * through dp_backend (tx port, per-id resets); the others copy it with
 * their own address and id, go into the map in one batch, and one ring is
 * published for all: dp_backend publishes a ring per insert (~20 ms here),
 * which would make 4,096 inserts take minutes.
 */
static int add_backends(struct dp *dp, uint32_t vid, uint32_t *ids, uint32_t n)
{
	struct qlb_state *st = dp->st;
	struct qlb_backend *batch = calloc(n, sizeof(*batch));
	__u32 count = n - 1;
	int err = -1;

	ids[0] = dp_backend(dp, vid, "10.1.0.1", 8080, 0);
	if (!batch || ids[0] == QLB_NO_BACKEND)
		goto out;
	for (uint32_t i = 1; i < n; i++) {
		uint32_t ip = 0x0a010001 + i;	/* 10.1.0.1 + i */

		if (qlb_alloc_backend_id(st, &ids[i]))
			goto out;
		st->backends[ids[i]] = st->backends[ids[0]];
		st->backends[ids[i]].addr.v4 = htonl(ip);
		batch[i - 1] = st->backends[ids[i]];
	}
	if (n > 1 && bpf_map_update_batch(st->maps.backends, ids + 1, batch, &count, NULL))
		goto out;
	err = qlb_publish_ring(st, vid, NULL);
out:
	free(batch);
	return err;
}

struct run {
	double ms[PH_MAX][2];	/* median, p99 */
	double churn_pct;	/* median */
	double setup_s;
};

static int run_size(struct dp *dp, uint32_t n, int windows, struct run *r)
{
	struct qlb_stats_snapshot *cur = calloc(1, sizeof(*cur)), *prev = calloc(1, sizeof(*prev));
	uint32_t cap = n < 8 ? 8 : 2 * n;	/* the agent's policy slots */
	struct qlb_obs *obs = calloc(cap, sizeof(*obs));
	struct qlb_est *est = calloc(cap, sizeof(*est));
	uint32_t *pw = calloc(cap, sizeof(*pw)), *ids = calloc(n, sizeof(*ids));
	uint32_t *slot = malloc(cap * sizeof(*slot));
	uint32_t *weights = calloc(n, sizeof(*weights)), *ring = calloc(QLB_RING_SIZE, 4);
	struct qlb_backend_stats *total = calloc(n, sizeof(*total));
	struct qlb_maglev_backend *mb = calloc(n, sizeof(*mb));
	double *t[PH_MAX], *churn = calloc(windows, sizeof(double));
	struct qlb_policy_opts po;
	struct qlb_policy *pol = NULL;
	int err = -1, w, ph;
	uint32_t vid, i;
	double t0;

	for (ph = 0; ph < PH_MAX; ph++)
		t[ph] = calloc(windows, sizeof(double));
	for (ph = 0; ph < PH_MAX; ph++)
		if (!t[ph])
			goto out;
	if (!cur || !prev || !obs || !est || !pw || !ids || !weights || !ring || !total ||
	    !churn || !mb || !slot)
		goto out;
	for (i = 0; i < cap; i++)
		slot[i] = QLB_NO_BACKEND;
	qlb_policy_opts_default(&po);
	if (qlb_policy_create(QLB_POLICY_SEDQ, cap, &po, &pol))
		goto out;

	t0 = qlb_mono_s();
	vid = dp_vip(dp, "10.0.0.100", 80, IPPROTO_TCP);
	if (vid == QLB_NO_BACKEND || add_backends(dp, vid, ids, n)) {
		fprintf(stderr, "bench: cannot add the VIP or its %u backends\n", n);
		goto out;
	}
	r->setup_s = qlb_mono_s() - t0;

	if (qlb_state_read(dp->st) || qlb_stats_read(dp->st, prev))
		goto out;
	for (w = -WARMUP; w < windows; w++) {
		double ts[5], cpu0, cpu1, ref, pct = 0, t_grace;

		advance_counters(dp, ids, n, total);
		ref = reference_ms(dp->st->ring_keys, ring);

		cpu0 = cpu_s();
		ts[0] = qlb_mono_s();
		if (qlb_state_read(dp->st) || qlb_stats_read(dp->st, cur))
			goto out;
		ts[1] = qlb_mono_s();
		/* The policy's slots, seated as the agent seats them. */
		qlb_seat_backends(pol, slot, cap, ids, n);
		for (i = 0; i < cap; i++) {
			if (slot[i] != QLB_NO_BACKEND) {
				qlb_observe(dp->st, cur, prev, slot[i], WINDOW_S, 1, &obs[i]);
				continue;
			}
			memset(&obs[i], 0, sizeof(obs[i]));
			obs[i].dt_s = WINDOW_S;
			obs[i].servers = 1;
			obs[i].rt_mean_s = obs[i].rt_p99_s = NAN;
			obs[i].cpu_util = obs[i].mem_util = obs[i].true_mu = NAN;
		}
		if (qlb_policy_update(pol, obs, cap, NAN, pw, est))
			goto out;
		ts[2] = qlb_mono_s();
		ring_weights(ids, n, w, weights);
		if (qlb_apply_ring_weights(dp->st, vid, ids, weights, n, &pct))
			goto out;
		ts[3] = qlb_mono_s();
		for (i = 0; i < n; i++) {
			struct qlb_backend_est e = { .updated_ns = (__u64)(ts[3] * 1e9),
						     .share_micro = (__u64)(est[i].share * 1e6) };

			qlb_backend_est_write(dp->st, ids[i], &e);
		}
		ts[4] = qlb_mono_s();
		cpu1 = cpu_s();
		if (qlb_gp_wait(qlb_ring_flip_ticket(dp->st, vid)))
			goto out;
		t_grace = qlb_mono_s() - ts[3];
		{
			struct qlb_stats_snapshot *tmp = prev;

			prev = cur;
			cur = tmp;
		}
		if (w < 0)
			continue;
		t[PH_READ][w] = (ts[1] - ts[0]) * 1e3;
		t[PH_COMPUTE][w] = (ts[2] - ts[1]) * 1e3;
		t[PH_RING][w] = (ts[3] - ts[2]) * 1e3;
		t[PH_TOTAL][w] = (ts[4] - ts[0]) * 1e3;
		t[PH_EST][w] = (ts[4] - ts[3]) * 1e3;
		t[PH_CPU][w] = (cpu1 - cpu0) * 1e3;
		t[PH_GRACE][w] = t_grace * 1e3;
		t[PH_REF][w] = ref;
		t[PH_MAGLEV][w] = maglev_ms(dp->st, ids, n, mb, ring);
		churn[w] = pct;
		if (isnan(ref) || pct <= 0) {
			fprintf(stderr, "bench: reference failed or the ring did not change\n");
			goto out;
		}
	}
	for (ph = 0; ph < PH_MAX; ph++) {
		r->ms[ph][0] = percentile(t[ph], windows, 50);
		r->ms[ph][1] = percentile(t[ph], windows, 99);
	}
	r->churn_pct = percentile(churn, windows, 50);
	err = 0;
out:
	{
		struct qlb_vip_key k = { .port = htons(80), .proto = IPPROTO_TCP,
					 .family = QLB_FAMILY_V4 };

		inet_pton(AF_INET, "10.0.0.100", &k.addr);
		qlb_state_read(dp->st);
		qlb_vip_del(dp->st, &k);
	}
	qlb_policy_destroy(pol);
	for (ph = 0; ph < PH_MAX; ph++)
		free(t[ph]);
	free(churn);
	free(mb);
	free(total);
	free(ring);
	free(weights);
	free(ids);
	free(pw);
	free(slot);
	free(est);
	free(obs);
	free(prev);
	free(cur);
	return err;
}

int main(void)
{
	uint32_t sizes[] = { 10, 100, 1000, QLB_MAX_BACKENDS }, nsizes = 4;
	struct run r[4];
	int windows = WINDOWS, ret = 1;
	struct dp dp;
	size_t s;

	/* BENCH_SIZES=1000 (or "10,100") runs only those sizes. */
	if (getenv("BENCH_SIZES")) {
		char *p = getenv("BENCH_SIZES");

		for (nsizes = 0; nsizes < 4 && *p; p += *p == ',') {
			unsigned long v = strtoul(p, &p, 10);

			if (!v || v > QLB_MAX_BACKENDS || (*p && *p != ',')) {
				fprintf(stderr, "bench: bad BENCH_SIZES\n");
				return 1;
			}
			sizes[nsizes++] = v;
		}
	}

	if (windows < 1)
		windows = 1;
	if (dp_setup(&dp)) {
		fprintf(stderr, "bench: cannot load qlb (root and bpffs needed)\n");
		return 1;
	}
	for (s = 0; s < nsizes; s++)
		if (run_size(&dp, sizes[s], windows, &r[s]))
			goto out;

	printf("Agent control window, one VIP, qlb policy, %d windows per size (+%d warm-up),\n"
	       "ring weights alternating 25%% apart; ms, median / p99\n\n", windows, WARMUP);
	printf("%8s %15s %15s %15s %15s %15s %7s %8s\n", "backends", "read", "compute", "ring",
	       "total", "total cpu", "churn%", "tot/ref");
	for (s = 0; s < nsizes; s++) {
		printf("%8u", sizes[s]);
		for (int ph = PH_READ; ph <= PH_CPU; ph++)
			printf(" %7.3f/%7.3f", r[s].ms[ph][0], r[s].ms[ph][1]);
		printf(" %7.2f %8.2f\n", r[s].churn_pct,
		       r[s].ms[PH_TOTAL][0] / r[s].ms[PH_REF][0]);
	}
	printf("\n%8s %15s %15s %15s %15s %8s\n", "backends", "maglev (in ring)", "est publish",
	       "grace", "ref", "ring/ref");
	for (s = 0; s < nsizes; s++) {
		printf("%8u", sizes[s]);
		for (int ph = PH_MAGLEV; ph <= PH_REF; ph++)
			printf(" %7.3f/%7.3f", r[s].ms[ph][0], r[s].ms[ph][1]);
		printf(" %8.2f\n", r[s].ms[PH_RING][0] / r[s].ms[PH_REF][0]);
	}
	printf("\nref: a fresh %d-entry array map filled by one batch update: the kernel's\n"
	       "     share of the fresh-map swap that rings no longer do (measured every\n"
	       "     window; ratios of medians)\n"
	       "total: read + compute + ring + est publish; total cpu: its CPU time\n"
	       "maglev: qlb_maglev_build alone on the same backends, part of 'ring'\n"
	       "est publish: agent.c's per-backend backend_est writes, part of 'total'\n"
	       "grace: flip to the end of the grace period that frees the retired ring,\n"
	       "     waited out by a helper thread, not in 'total'\n",
	       QLB_RING_SIZE);
	for (s = 0; s < nsizes; s++)
		if (sizes[s] == TARGET_N)
			printf("target: total <= %.1f ms at %u backends: %.3f ms median, %.3f ms of "
			       "CPU (%s)\n", TARGET_MS, TARGET_N, r[s].ms[PH_TOTAL][0],
			       r[s].ms[PH_CPU][0],
			       r[s].ms[PH_TOTAL][0] <= TARGET_MS ? "met" : "NOT met");
	printf("setup (adding the backends, untimed above):");
	for (s = 0; s < nsizes; s++)
		printf(" %u: %.1f s%s", sizes[s], r[s].setup_s,
		       s + 1 < nsizes ? "," : "\n");
	ret = 0;
out:
	dp_teardown(&dp);
	return ret;
}
