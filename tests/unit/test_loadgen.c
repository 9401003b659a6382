// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * qlb-loadgen's pure half (eval/loadgen_sched.h): the seeded schedule
 * (determinism, one permutation of the files per block, the inter-arrival
 * distributions) and the command line. The sending half is checked end to
 * end by tests/e2e/loadgen.bats against nginx.
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

#include <cmocka.h>

#include "assert_near.h"
#include "loadgen_sched.h"

#define DRAWS 100000

/* ------------------------------------------------------------ schedule */

static void test_deterministic(void **state)
{
	struct lg_sched a, b, c;
	uint64_t ta, tb, tc;
	uint32_t fa, fb, fc;
	int differ = 0;

	(void)state;
	for (int arr = LG_ARR_UNIFORM; arr <= LG_ARR_CONST; arr++) {
		assert_int_equal(lg_sched_init(&a, arr, 1234.5, 42, 5), 0);
		assert_int_equal(lg_sched_init(&b, arr, 1234.5, 42, 5), 0);
		assert_int_equal(lg_sched_init(&c, arr, 1234.5, 43, 5), 0);
		for (int i = 0; i < DRAWS; i++) {
			lg_sched_next(&a, &ta, &fa);
			lg_sched_next(&b, &tb, &fb);
			lg_sched_next(&c, &tc, &fc);
			assert_int_equal(ta, tb);
			assert_int_equal(fa, fb);
			differ += ta != tc || fa != fc;
		}
		/* Another seed: other gaps (but const) and another file order. */
		assert_true(differ > DRAWS / 2);
		differ = 0;
		lg_sched_free(&a);
		lg_sched_free(&b);
		lg_sched_free(&c);
	}
}

/* The schedule of a seed is part of the evaluation's record: a change to
 * the generator that moves it must be deliberate (and change these). */
static void test_pinned(void **state)
{
	static const uint64_t want_t[] = { 1679254, 3641449, 5623169, 5832040, 6639453, 6943085 };
	static const uint32_t want_f[] = { 1, 0, 2, 1, 0, 2 };
	struct lg_sched s;
	uint64_t t;
	uint32_t f;

	(void)state;
	assert_int_equal(lg_sched_init(&s, LG_ARR_UNIFORM, 1000, 7, 3), 0);
	for (size_t i = 0; i < sizeof(want_t) / sizeof(want_t[0]); i++) {
		lg_sched_next(&s, &t, &f);
		assert_int_equal(t, want_t[i]);
		assert_int_equal(f, want_f[i]);
	}
	lg_sched_free(&s);
}

static void check_blocks(uint32_t nfiles, uint32_t blocks)
{
	uint32_t *seen = calloc(nfiles, sizeof(*seen)), f;
	struct lg_sched s;
	uint64_t t, prev = 0;

	assert_non_null(seen);
	assert_int_equal(lg_sched_init(&s, LG_ARR_POISSON, 500, nfiles, nfiles), 0);
	for (uint32_t b = 1; b <= blocks; b++) {
		for (uint32_t i = 0; i < nfiles; i++) {
			lg_sched_next(&s, &t, &f);
			assert_true(f < nfiles);
			assert_int_equal(seen[f], b - 1); /* once in every block */
			seen[f] = b;
			assert_true(t >= prev);
			prev = t;
		}
	}
	lg_sched_free(&s);
	free(seen);
}

static void test_permutation_blocks(void **state)
{
	(void)state;
	check_blocks(1, 100);
	check_blocks(2, 5000);
	check_blocks(7, 3000);
	check_blocks(1000, 20);
}

/* Not always the same permutation: every file shows up first. */
static void test_permutations_vary(void **state)
{
	uint32_t first[4] = { 0 }, f;
	struct lg_sched s;
	uint64_t t;

	(void)state;
	assert_int_equal(lg_sched_init(&s, LG_ARR_UNIFORM, 100, 3, 4), 0);
	for (int b = 0; b < 4000; b++) {
		lg_sched_next(&s, &t, &f);
		first[f]++;
		for (int i = 1; i < 4; i++)
			lg_sched_next(&s, &t, &f);
	}
	for (int i = 0; i < 4; i++)
		assert_true(first[i] > 800 && first[i] < 1200);
	lg_sched_free(&s);
}

struct gap_stats {
	double mean, cv;
	uint64_t min, max;
};

static struct gap_stats gaps(enum lg_arrivals arr, double rate, uint64_t seed)
{
	struct gap_stats g = { .min = UINT64_MAX };
	double sum = 0, sum2 = 0;
	struct lg_sched s;
	uint64_t t, prev = 0, d;
	uint32_t f;

	assert_int_equal(lg_sched_init(&s, arr, rate, seed, 3), 0);
	for (int i = 0; i < DRAWS; i++) {
		lg_sched_next(&s, &t, &f);
		d = t - prev;
		prev = t;
		sum += d;
		sum2 += (double)d * d;
		g.min = d < g.min ? d : g.min;
		g.max = d > g.max ? d : g.max;
	}
	lg_sched_free(&s);
	g.mean = sum / DRAWS;
	g.cv = sqrt(sum2 / DRAWS - g.mean * g.mean) / g.mean;
	return g;
}

static void test_uniform(void **state)
{
	static const double rates[] = { 0.1, 3, 2000, 1e6 };

	(void)state;
	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		struct gap_stats g = gaps(LG_ARR_UNIFORM, rates[i], 1 + i);
		double mean = 1e9 / rates[i];

		assert_true(g.max <= (uint64_t)(2 * mean)); /* and min >= 0: unsigned */
		assert_near(g.mean, mean, 0.03 * mean);
		assert_near(g.cv, 1 / sqrt(3), 0.03); /* U[0, 2m]: sd = m / sqrt(3) */
		assert_true(g.min < 0.01 * mean && g.max > 1.99 * mean);
	}
}

static void test_poisson(void **state)
{
	static const double rates[] = { 0.1, 250, 1e5 };

	(void)state;
	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		struct gap_stats g = gaps(LG_ARR_POISSON, rates[i], 100 + i);
		double mean = 1e9 / rates[i];

		assert_near(g.mean, mean, 0.03 * mean);
		assert_near(g.cv, 1.0, 0.03); /* exponential: sd = mean */
		assert_true(g.max > 8 * mean); /* a tail: P(gap > 8m) = e^-8 */
	}
}

static void test_const(void **state)
{
	struct gap_stats g = gaps(LG_ARR_CONST, 3000, 9);

	(void)state;
	assert_int_equal(g.min, 333333);
	assert_int_equal(g.max, 333333);
}

static void test_sched_init_errors(void **state)
{
	struct lg_sched s;

	(void)state;
	assert_int_equal(lg_sched_init(&s, LG_ARR_UNIFORM, 100, 1, 0), -EINVAL);
	assert_int_equal(lg_sched_init(&s, LG_ARR_UNIFORM, 100, 1, LG_MAX_FILES + 1), -EINVAL);
	assert_int_equal(lg_sched_init(&s, LG_ARR_UNIFORM, 0, 1, 1), -EINVAL);
	assert_int_equal(lg_sched_init(&s, LG_ARR_UNIFORM, NAN, 1, 1), -EINVAL);
	assert_int_equal(lg_sched_init(&s, LG_ARR_UNIFORM, 2e6, 1, 1), -EINVAL);
	assert_int_equal(lg_sched_init(&s, (enum lg_arrivals)7, 100, 1, 1), -EINVAL);
	lg_sched_free(&s);
}

/* ------------------------------------------------------------ arguments */

/* Parses "qlb-loadgen" + the NULL-terminated arguments. */
static int parse(struct lg_opts *o, char *err, size_t errlen, ...)
{
	char *argv[40] = { "qlb-loadgen" };
	int argc = 1;
	va_list ap;

	va_start(ap, errlen);
	while ((argv[argc] = va_arg(ap, char *)))
		assert_true(++argc < 40);
	va_end(ap);
	err[0] = 0;
	return lg_parse_args(argc, argv, o, err, errlen);
}

#define BASE "--url", "http://10.0.0.1:8080/", "--files", "a,b,c", "--requests", "10", \
	"--rate", "100", "--seed", "5"

static void test_parse_good(void **state)
{
	struct lg_opts o;
	char err[256];

	(void)state;
	assert_int_equal(parse(&o, err, sizeof(err), BASE, NULL), 0);
	assert_string_equal(o.url, "http://10.0.0.1:8080/");
	assert_int_equal(o.nfiles, 3);
	assert_string_equal(o.files[0], "a");
	assert_string_equal(o.files[2], "c");
	assert_int_equal(o.requests, 10);
	assert_near(o.rate, 100, 0);
	assert_int_equal(o.seed, 5);
	assert_int_equal(o.arrivals, LG_ARR_UNIFORM);
	assert_near(o.timeout_s, LG_DEFAULT_TIMEOUT_S, 0);
	assert_int_equal(o.max_inflight, LG_DEFAULT_INFLIGHT);
	assert_null(o.log);
	assert_false(o.json || o.dump || o.help || o.compressed);
	lg_opts_free(&o);

	assert_int_equal(parse(&o, err, sizeof(err), "--files", "x/1k.bin,x/1k.bin",
			       "--url", "http://[::1]/d/", "--requests", "10000000", "--rate",
			       "0.5", "--seed", "18446744073709551615", "--arrivals", "poisson",
			       "--timeout", "0.25", "--max-inflight", "1", "--log", "/tmp/l.csv",
			       "--json", "--compressed", NULL), 0);
	assert_int_equal(o.nfiles, 2);
	assert_string_equal(o.files[1], "x/1k.bin");
	assert_int_equal(o.requests, 10000000);
	assert_int_equal(o.seed, UINT64_MAX);
	assert_int_equal(o.arrivals, LG_ARR_POISSON);
	assert_near(o.timeout_s, 0.25, 0);
	assert_int_equal(o.max_inflight, 1);
	assert_string_equal(o.log, "/tmp/l.csv");
	assert_true(o.json);
	assert_true(o.compressed);
	lg_opts_free(&o);

	/* The schedule alone needs no URL. */
	assert_int_equal(parse(&o, err, sizeof(err), "--dump-schedule", "--files", "a",
			       "--requests", "3", "--rate", "1", "--seed", "0", "--arrivals",
			       "const", NULL), 0);
	assert_true(o.dump);
	assert_null(o.url);
	assert_int_equal(o.arrivals, LG_ARR_CONST);
	lg_opts_free(&o);

	assert_int_equal(parse(&o, err, sizeof(err), "--help", NULL), 0);
	assert_true(o.help);
	lg_opts_free(&o);
}

static void test_parse_errors(void **state)
{
	/* Each after a good BASE (later options win); msg: the start of err. */
	static const struct {
		const char *arg, *val, *msg;
	} bad[] = {
		{ "--url", "https://10.0.0.1/", "--url:" },
		{ "--url", "http://10.0.0.1", "--url:" },
		{ "--url", "http:///", "--url:" },
		{ "--url", "http://10.0.0.1/a b/", "--url:" },
		{ "--url", "http://10.0.0.1/?q=/", "--url:" },
		{ "--files", "", "--files: bad name ''" },
		{ "--files", "a,,b", "--files: bad name ''" },
		{ "--files", "a,", "--files: bad name ''" },
		{ "--files", "/etc/passwd", "--files: bad name" },
		{ "--files", "a b", "--files: bad name" },
		{ "--files", "a?x=1", "--files: bad name" },
		{ "--requests", "0", "--requests:" },
		{ "--requests", "10000001", "--requests:" },
		{ "--requests", "-1", "--requests:" },
		{ "--requests", "1e3", "--requests:" },
		{ "--requests", " 5", "--requests:" },
		{ "--rate", "0", "--rate:" },
		{ "--rate", "0.05", "--rate:" },
		{ "--rate", "1e7", "--rate:" },
		{ "--rate", "nan", "--rate:" },
		{ "--rate", "inf", "--rate:" },
		{ "--rate", "100x", "--rate:" },
		{ "--seed", "-1", "--seed:" },
		{ "--seed", "18446744073709551616", "--seed:" },
		{ "--seed", "", "--seed:" },
		{ "--arrivals", "exp", "--arrivals:" },
		{ "--timeout", "0", "--timeout:" },
		{ "--timeout", "3601", "--timeout:" },
		{ "--max-inflight", "0", "--max-inflight:" },
		{ "--max-inflight", "65537", "--max-inflight:" },
		{ "--log", "", "--log:" },
		{ "--bogus", NULL, "unknown option '--bogus'" },
		{ "-x", NULL, "unknown option '-x'" },
		{ "--json=1", NULL, "unknown option '--json=1'" },
		{ "--compressed=gzip", NULL, "unknown option '--compressed=gzip'" },
		{ "--rate", NULL, "option '--rate' needs a value" },
		{ "extra", NULL, "unexpected argument 'extra'" },
	};
	struct lg_opts o;
	char err[256], many[LG_MAX_FILES * 2 + 2];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(&o, err, sizeof(err), BASE, bad[i].arg, bad[i].val, NULL),
				 -EINVAL);
		if (strncmp(err, bad[i].msg, strlen(bad[i].msg)))
			fail_msg("%s '%s': '%s', want '%s...'", bad[i].arg, bad[i].val, err,
				 bad[i].msg);
		lg_opts_free(&o);
	}

	/* 65536 names are fine, one more is not. */
	for (size_t i = 0; i < LG_MAX_FILES; i++)
		memcpy(many + 2 * i, "x,", 2);
	many[2 * LG_MAX_FILES - 1] = 0;
	assert_int_equal(parse(&o, err, sizeof(err), BASE, "--files", many, NULL), 0);
	assert_int_equal(o.nfiles, LG_MAX_FILES);
	lg_opts_free(&o);
	memcpy(many + 2 * LG_MAX_FILES - 1, ",x", 3);
	assert_int_equal(parse(&o, err, sizeof(err), BASE, "--files", many, NULL), -EINVAL);
	lg_opts_free(&o);
}

/* BASE without one of its options (but --url with --dump-schedule). */
static void test_parse_required(void **state)
{
	static char *const base[] = { BASE };
	char *argv[16] = { "qlb-loadgen" }, err[256], want[64];
	const int n = sizeof(base) / sizeof(base[0]);
	struct lg_opts o;

	(void)state;
	for (int skip = 0; skip < n; skip += 2) {
		int argc = 1;

		for (int i = 0; i < n; i++)
			if (i / 2 != skip / 2)
				argv[argc++] = base[i];
		argv[argc] = NULL;
		assert_int_equal(lg_parse_args(argc, argv, &o, err, sizeof(err)), -EINVAL);
		snprintf(want, sizeof(want), "%s is required", base[skip]);
		assert_string_equal(err, want);
		lg_opts_free(&o);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_pinned),
		cmocka_unit_test(test_permutation_blocks),
		cmocka_unit_test(test_permutations_vary),
		cmocka_unit_test(test_uniform),
		cmocka_unit_test(test_poisson),
		cmocka_unit_test(test_const),
		cmocka_unit_test(test_sched_init_errors),
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_required),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
