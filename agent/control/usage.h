/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * CPU and memory utilisation of backends, for the lcpu and lram policies
 * (struct qlb_obs.cpu_util, mem_util: 0..1, NAN when unknown). A source is
 * given per backend as a string:
 *
 *   cgroup:REL   a cgroup v1 path relative to each controller's mount, e.g.
 *                cgroup:qlbt/b1. CPU: the growth of
 *                /sys/fs/cgroup/cpuacct/REL/cpuacct.usage (or under
 *                cpu,cpuacct/) over the window, divided by the window and by
 *                the CPUs the group may use: cpu.cfs_quota_us /
 *                cpu.cfs_period_us under cpu/REL (or cpu,cpuacct/REL), else
 *                every online CPU. Memory: memory.usage_in_bytes /
 *                memory.limit_in_bytes under memory/REL (no limit: the
 *                machine's RAM).
 *   prom:URL     a Prometheus text endpoint such as node_exporter's,
 *                prom:http://10.200.1.11:9100/metrics. CPU: 1 - the idle
 *                share of node_cpu_seconds_total over the window (all modes
 *                but idle count as busy, iowait and steal included),
 *                averaged over CPUs. Memory: 1 - node_memory_MemAvailable_bytes
 *                / node_memory_MemTotal_bytes.
 *
 * CPU is a rate, so the first sample of a source primes it and gives NAN, as
 * does a sample after the counters went back (a restarted exporter or a
 * recreated cgroup). Any failure gives NAN for what it spoils; nothing here
 * exits or blocks longer than the source's timeout.
 */
#ifndef QLB_USAGE_H
#define QLB_USAGE_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

enum qlb_usage_kind {
	QLB_USAGE_CGROUP = 1,
	QLB_USAGE_PROM,
};

#define QLB_USAGE_TIMEOUT_MS	250	/* prom: default whole-request timeout */

struct qlb_usage_src {
	enum qlb_usage_kind kind;
	char target[512];	/* cgroup: REL; prom: URL */
	uint32_t timeout_ms;	/* prom: whole request; the caller may change it */
	/* Results of the last sample, NAN if unknown. */
	double cpu_util, mem_util;
	/* Private: the previous counters, and the HTTP client. */
	int primed;
	int err;		/* what the last sample returned */
	double at;		/* now_s of the last sample, NAN before any */
	double busy_s;		/* cgroup: cpuacct.usage; prom: non-idle CPU seconds */
	double total_s;		/* prom: CPU seconds of all modes */
	uint32_t ncpus;		/* prom: CPUs reporting idle time */
	void *curl;		/* CURL *, kept so the connection is reused */
	char *body;
	size_t len, cap;
};

/* Parses "cgroup:REL" or "prom:URL" into *src (zeroed first). REL must be
 * relative, without "." or ".." components; URL must be http or https.
 * Returns 0 or -EINVAL. Free with qlb_usage_free(). */
int qlb_usage_parse(const char *spec, struct qlb_usage_src *src);

/*
 * Samples the source at now_s (CLOCK_MONOTONIC seconds, once per window):
 * *cpu_util and *mem_util (either may be NULL) get 0..1 or NAN, and are kept
 * in src->cpu_util, src->mem_util. A second call with the same now_s returns
 * the same values without sampling again, so that backends sharing a source
 * (one host, several ports) do not see a zero-length window. Returns 0 when
 * the source answered (CPU may still be NAN while priming), else -errno, with
 * NAN for what could not be read: -ENOENT (no such cgroup), -ETIMEDOUT,
 * -ECONNREFUSED, -EHOSTUNREACH, -EPROTO (HTTP status not 200), -EBADMSG
 * (malformed exposition), -EFBIG (over 16 MiB), -ENOMEM, -EIO.
 */
int qlb_usage_sample(struct qlb_usage_src *src, double now_s, double *cpu_util,
		     double *mem_util);

void qlb_usage_free(struct qlb_usage_src *src);

/* ---- which source belongs to which backend: `--usage ADDR=SPEC` ---- */

struct qlb_usage_entry {
	struct qlb_endpoint ep;	/* port 0: every port of the address */
	struct qlb_usage_src src;
};

struct qlb_usage_map {
	struct qlb_usage_entry *e;
	uint32_t n;
	void *multi;		/* CURLM *, kept so connections are reused */
};

/*
 * Adds one "ADDR=SPEC" to the map (zero-initialise the map first), ADDR as
 * qlb_parse_endpoint takes it with an optional port: "10.200.1.11=cgroup:qlbt/b1",
 * "[2001:db8::11]:8080=prom:http://[2001:db8::11]:9100/metrics". Returns 0,
 * -EINVAL (bad syntax), -EEXIST (the same ADDR twice) or -ENOMEM.
 */
int qlb_usage_map_parse(const char *arg, struct qlb_usage_map *map);

/* The source of a backend (port in host order): the entry with its exact
 * port, else the one for its address without a port, else NULL. */
struct qlb_usage_src *qlb_usage_map_find(struct qlb_usage_map *map, const union qlb_addr *addr,
					 uint8_t family, uint16_t port);

/* Samples every source of the map at now_s, the HTTP ones concurrently, so
 * that a window costs at most one timeout however many backends are down.
 * Read the results from each entry's src.cpu_util and src.mem_util. */
void qlb_usage_map_sample(struct qlb_usage_map *map, double now_s);

void qlb_usage_map_free(struct qlb_usage_map *map);

#endif /* QLB_USAGE_H */
