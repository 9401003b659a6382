// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Reading the per-CPU counters and summing them over CPUs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>

#include "clock.h"
#include "stats.h"

static const char *const reason_names[QLB_R_MAX] = QLB_REASON_NAMES;

const char *qlb_reason_name(enum qlb_reason r)
{
	return r < QLB_R_MAX && reason_names[r] ? reason_names[r] : "unknown";
}

static const char *const event_names[QLB_EV_MAX] = QLB_EVENT_NAMES;

const char *qlb_event_name(enum qlb_event e)
{
	return e < QLB_EV_MAX && event_names[e] ? event_names[e] : "unknown";
}

/* Sums `ncpus` per-CPU copies of a struct made only of __u64 counters. */
static void sum_u64s(void *dst, const void *percpu, int ncpus, size_t size)
{
	const __u64 *src = percpu;
	__u64 *d = dst;
	size_t i, n = size / sizeof(__u64);
	int c;

	memset(dst, 0, size);
	for (c = 0; c < ncpus; c++)
		for (i = 0; i < n; i++)
			d[i] += src[c * n + i];
}

/* Reads keys [0, nkeys) of a per-CPU array in one batch syscall and sums
 * each key over CPUs into out[nkeys]. */
static int read_percpu_array(struct qlb_state *st, int fd, __u32 nkeys,
			     size_t size, void *out)
{
	size_t stride = (size_t)st->ncpus * size;
	__u32 count = nkeys, out_batch, k;
	void *buf;
	int err = 0;

	if (!nkeys)
		return 0;
	buf = malloc(stride * nkeys);
	if (!buf)
		return -ENOMEM;
	if (bpf_map_lookup_batch(fd, NULL, &out_batch, st->ring_keys, buf, &count, NULL) &&
	    errno != ENOENT)
		err = -errno;
	else if (count != nkeys)
		err = -EIO;
	for (k = 0; !err && k < nkeys; k++)
		sum_u64s((char *)out + k * size, (char *)buf + k * stride, st->ncpus, size);
	free(buf);
	return err;
}

/* Sums backends [0, hi) of backend_stats over CPUs into out, through the
 * mapping (CPU-major, so each CPU's is one run of memory). */
static void sum_backend_stats(const struct qlb_state *st, uint32_t hi,
			      struct qlb_backend_stats *out)
{
	size_t n = hi * sizeof(*out) / sizeof(__u64), i;
	__u64 *d = (__u64 *)out;

	/* Counters move under us: whole 64-bit loads. */
	for (int cpu = 0; cpu < st->ncpus; cpu++) {
		const __u64 *src = (const __u64 *)&st->stats_map[QLB_BE_STATS_KEY(cpu, 0)];

		for (i = 0; i < n; i++)
			d[i] = (cpu ? d[i] : 0) + __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	}
}

/* How many CPUs are in flood mode now (flood_state), by the program's clock,
 * which runs with CLOCK_MONOTONIC a fraction of an epoch apart. */
static int read_flooding(struct qlb_state *st, uint32_t *n)
{
	struct qlb_flood *f = calloc(st->ncpus, sizeof(*f));
	uint64_t epoch = qlb_mono_ns() >> QLB_FLOOD_EPOCH_SHIFT;
	__u32 zero = 0;
	int err = 0;

	if (!f)
		return -ENOMEM;
	*n = 0;
	if (bpf_map_lookup_elem(st->maps.flood_state, &zero, f))
		err = -errno;
	for (int c = 0; !err && c < st->ncpus; c++)
		*n += f[c].until_epoch >= epoch;
	free(f);
	return err;
}

int qlb_stats_read(struct qlb_state *st, struct qlb_stats_snapshot *snap)
{
	size_t size = sizeof(struct qlb_backend_stats);
	struct timespec ts;
	int err, i, hi;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snap->at = ts.tv_sec + ts.tv_nsec / 1e9;

	/* Up to the highest live id; past it, zero what the last read
	 * filled. */
	for (i = QLB_MAX_BACKENDS; i > 0; i--)
		if (st->backends[i - 1].flags & QLB_BE_F_IN_USE)
			break;
	if (snap->be_hi > (uint32_t)i) {
		memset(&snap->be[i], 0, (snap->be_hi - i) * size);
		memset(&snap->active[i], 0, (snap->be_hi - i) * sizeof(snap->active[0]));
		memset(&snap->evicted[i], 0, (snap->be_hi - i) * sizeof(snap->evicted[0]));
	}
	snap->be_hi = i;
	sum_backend_stats(st, i, snap->be);
	for (hi = i, i = 0; i < hi; i++) {
		snap->active[i] = 0;
		snap->evicted[i] = 0;
		if (!(st->backends[i].flags & QLB_BE_F_IN_USE)) {
			memset(&snap->be[i], 0, size);
			continue;
		}
		/* The GC's deletions of open flows are completions too. */
		snap->be[i].flows_expired += __atomic_load_n(&st->gc[i].flows_expired,
							     __ATOMIC_RELAXED);
		snap->evicted[i] = __atomic_load_n(&st->gc[i].flows_evicted, __ATOMIC_RELAXED);
		snap->active[i] = qlb_backend_active(st, i);
	}
	/* VIPs likewise, up to the highest id in use. */
	for (i = hi = 0; i < st->nvips; i++)
		if (st->vips[i].val.vip_id < QLB_MAX_VIPS &&
		    st->vips[i].val.vip_id + 1 > (uint32_t)hi)
			hi = st->vips[i].val.vip_id + 1;
	if (snap->vip_hi > (uint32_t)hi)
		memset(&snap->vip[hi], 0, (snap->vip_hi - hi) * sizeof(snap->vip[0]));
	snap->vip_hi = hi;
	err = read_percpu_array(st, st->maps.vip_stats, hi, sizeof(snap->vip[0]), snap->vip);
	if (!err)
		err = read_percpu_array(st, st->maps.reason_stats, QLB_R_MAX,
					sizeof(snap->reason[0]), snap->reason);
	if (!err)
		err = read_percpu_array(st, st->maps.event_stats, QLB_EV_MAX,
					sizeof(snap->event[0]), snap->event);
	if (!err)
		err = read_flooding(st, &snap->flooding_cpus);
	return err;
}

uint64_t qlb_flows_open(const struct qlb_stats_snapshot *snap, uint32_t id)
{
	const struct qlb_backend_stats *s = &snap->be[id];
	uint64_t done = s->flows_closed + s->flows_expired + snap->evicted[id];

	return s->flows_new > done ? s->flows_new - done : 0;
}

double qlb_rt_percentile_us(const __u64 *hist, double pct)
{
	uint64_t total = 0, seen = 0, rank;
	int b;

	for (b = 0; b < QLB_RT_BUCKETS; b++)
		total += hist[b];
	if (!total)
		return 0;
	rank = (uint64_t)(pct / 100.0 * total + 0.5);
	if (rank < 1)
		rank = 1;
	for (b = 0; b < QLB_RT_BUCKETS; b++) {
		seen += hist[b];
		if (seen >= rank) {
			/* Interpolate inside [2^b, 2^(b+1)) us. */
			double lo = b ? (double)(1ull << b) : 0;
			double hi = (double)(1ull << (b + 1));
			double within = (double)(rank - (seen - hist[b])) / hist[b];

			return lo + within * (hi - lo);
		}
	}
	return (double)(1ull << QLB_RT_BUCKETS);
}
