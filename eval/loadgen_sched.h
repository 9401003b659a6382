/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * qlb-loadgen's pure half: its command line and its seeded request
 * schedule. No I/O, no clock, no libcurl, so tests/unit/test_loadgen.c
 * can check it under ASan/UBSan. eval/loadgen.c sends what it schedules.
 */
#ifndef QLB_LOADGEN_SCHED_H
#define QLB_LOADGEN_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

#define LG_MAX_REQUESTS		10000000ull
#define LG_MAX_FILES		65536u
#define LG_MAX_INFLIGHT		65536u
#define LG_DEFAULT_INFLIGHT	4096u
#define LG_DEFAULT_TIMEOUT_S	10.0
#define LG_MIN_RATE		0.1	/* keeps 10^7 Poisson gaps within 2^64 ns */
#define LG_MAX_RATE		1e6
#define LG_MAX_TIMEOUT_S	3600.0

enum lg_arrivals {
	LG_ARR_UNIFORM,		/* inter-arrival U[0, 2/rate], as in the DLBQT paper */
	LG_ARR_POISSON,		/* exponential, mean 1/rate */
	LG_ARR_CONST,		/* exactly 1/rate */
};

struct lg_opts {
	const char *url;	/* "http://HOST[:PORT]/PATH/", from argv; NULL with --dump-schedule only */
	char **files;		/* nfiles names; one allocation with the strings */
	uint32_t nfiles;
	uint64_t requests, seed;
	double rate, timeout_s;
	enum lg_arrivals arrivals;
	uint32_t max_inflight;
	const char *log;	/* from argv, or NULL */
	int compressed, json, dump, help;
};

extern const char lg_usage[];

/*
 * Parses qlb-loadgen's arguments (argv[0] is the program). Returns 0 (with
 * o->help set for --help, and nothing else checked), or -EINVAL with the
 * problem in err, nothing printed. lg_opts_free() is safe either way.
 */
int lg_parse_args(int argc, char **argv, struct lg_opts *o, char *err, size_t errlen);
void lg_opts_free(struct lg_opts *o);

/*
 * The schedule: request i starts at the sum of i+1 inter-arrival gaps, in
 * integer nanoseconds from the run start, and asks for file perm[i % n] of
 * a fresh Fisher-Yates permutation drawn for every block of n requests.
 * Gaps and shuffles come from one qlb_rng seeded with the seed, so a seed
 * gives the same schedule, bit for bit, on every run of a build (Poisson
 * gaps also depend on libm's log1p).
 */
struct lg_sched {
	struct qlb_rng rng;
	enum lg_arrivals arrivals;
	double rate;
	uint64_t t_ns;
	uint32_t nfiles, pos;
	uint32_t *perm;
};

/* Returns 0 or -EINVAL (no files, rate out of range) or -ENOMEM. */
int lg_sched_init(struct lg_sched *s, enum lg_arrivals arrivals, double rate, uint64_t seed,
		  uint32_t nfiles);
void lg_sched_next(struct lg_sched *s, uint64_t *t_ns, uint32_t *file);
void lg_sched_free(struct lg_sched *s);

#endif /* QLB_LOADGEN_SCHED_H */
