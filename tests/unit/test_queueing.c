// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Queueing formulas (agent/model/queueing.h): Erlang C against known values
 * and the square-root split.
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

static void test_erlang_c(void **state)
{
	(void)state;
	/* M/M/1: the probability of waiting is rho */
	for (double rho = 0.05; rho < 1; rho += 0.1)
		assert_near(qlb_erlang_c(1, rho * 7, 7), rho, 1e-12);
	/* c = 2, rho = 0.5 (a = 1): 1/3; c = 4, a = 2: 4/23 */
	assert_near(qlb_erlang_c(2, 1, 1), 1.0 / 3, 1e-12);
	assert_near(qlb_erlang_c(4, 2, 1), 4.0 / 23, 1e-12);
	assert_near(qlb_erlang_c(3, 0, 1), 0, 0);
	/* large c stays finite and in range (the naive a^c/c! overflows) */
	{
		double pw = qlb_erlang_c(2000, 1900, 1);

		assert_true(pw > 0 && pw < 1);
	}
	/* rho >= 1: always waiting, infinite time in system */
	assert_near(qlb_erlang_c(2, 2, 1), 1, 0);
	assert_near(qlb_erlang_c(1, 5, 1), 1, 0);
	assert_true(isinf(qlb_mmc_time_in_system(1, 1, 1)));
	assert_true(isinf(qlb_mmc_time_in_system(4, 5, 1)));
	/* times: M/M/1 1/(mu - lambda); M/M/2 at a = 1: 1 + (1/3)/(2 - 1) */
	assert_near(qlb_mmc_time_in_system(1, 0.5, 1), 2, 1e-12);
	assert_near(qlb_mmc_time_in_system(1, 70, 100), 1.0 / 30, 1e-12);
	assert_near(qlb_mmc_time_in_system(2, 1, 1), 4.0 / 3, 1e-12);
	assert_near(qlb_mmc_time_in_system(8, 0, 2), 0.5, 1e-12);
	/* bad input */
	assert_true(isnan(qlb_erlang_c(0, 1, 1)));
	assert_true(isnan(qlb_erlang_c(1, -1, 1)));
	assert_true(isnan(qlb_erlang_c(1, 1, 0)));
	assert_true(isnan(qlb_mmc_time_in_system(1, NAN, 1)));
}

static void test_sqrt_split(void **state)
{
	double share[4], mu[4];

	(void)state;
	/* mu = (3, 1), lambda = 2: theta = (4 - 2) / (sqrt 3 + 1),
	 * lambda_i = mu_i - theta sqrt(mu_i) = (1.7320508, 0.2679492) */
	mu[0] = 3, mu[1] = 1;
	assert_int_equal(qlb_sqrt_split(mu, 2, 2, share), 0);
	assert_near(share[0], 1.7320508075688772 / 2, 1e-12);
	assert_near(share[1], 0.2679491924311228 / 2, 1e-12);
	/* (10, 1) at 2: the slow one would go negative: everything to the fast */
	mu[0] = 10, mu[1] = 1;
	assert_int_equal(qlb_sqrt_split(mu, 2, 2, share), 0);
	assert_near(share[0], 1, 1e-12);
	assert_near(share[1], 0, 0);
	/* (4, 1, 1) at 3: theta = 3/4 -> (2.5, 0.25, 0.25) */
	mu[0] = 4, mu[1] = 1, mu[2] = 1;
	assert_int_equal(qlb_sqrt_split(mu, 3, 3, share), 0);
	assert_near(share[0], 2.5 / 3, 1e-12);
	assert_near(share[1], 0.25 / 3, 1e-12);
	assert_near(share[2], 0.25 / 3, 1e-12);
	/* overload: in proportion to mu; down or unknown backends get nothing */
	mu[0] = 3, mu[1] = 1, mu[2] = 0, mu[3] = NAN;
	assert_int_equal(qlb_sqrt_split(mu, 4, 5, share), 0);
	assert_near(share[0], 0.75, 1e-12);
	assert_near(share[1], 0.25, 1e-12);
	assert_near(share[2], 0, 0);
	assert_near(share[3], 0, 0);
	/* no load: the fastest takes it */
	assert_int_equal(qlb_sqrt_split(mu, 2, 0, share), 0);
	assert_near(share[0], 1, 1e-6);
	mu[0] = mu[1] = 0;
	assert_int_equal(qlb_sqrt_split(mu, 2, 1, share), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_erlang_c),
		cmocka_unit_test(test_sqrt_split),
	};

	return cmocka_run_group_tests_name("queueing", tests, NULL, NULL);
}
