// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Queueing formulas (queueing.h). */
#include <errno.h>
#include <math.h>

#include "queueing.h"

#define BISECT_ITERS 200

double qlb_erlang_c(uint32_t c, double lambda, double mu_per_server)
{
	double a, b = 1.0;

	if (!c || !(mu_per_server > 0) || !(lambda >= 0) || !isfinite(lambda) ||
	    !isfinite(mu_per_server))
		return NAN;
	a = lambda / mu_per_server;
	if (a >= c)
		return 1.0; /* unstable: every arrival waits */
	/* Erlang B by its recursion, which stays in [0, 1] for any c, unlike
	 * the textbook sum of a^k / k!. */
	for (uint32_t k = 1; k <= c; k++)
		b = a * b / (k + a * b);
	return c * b / (c - a * (1.0 - b));
}

double qlb_mmc_time_in_system(uint32_t c, double lambda, double mu_per_server)
{
	double pw = qlb_erlang_c(c, lambda, mu_per_server);

	if (isnan(pw))
		return NAN;
	if (lambda >= c * mu_per_server)
		return INFINITY;
	return 1.0 / mu_per_server + pw / (c * mu_per_server - lambda);
}

double qlb_dlbqt_w(double rho, double mu)
{
	if (isnan(rho) || !(mu > 0))
		return NAN;
	return rho < 1.0 ? rho / (mu * (1.0 - rho)) : QLB_DLBQT_PENALTY_W;
}

double qlb_mmc_invert_mu(uint32_t c, double lambda, double t)
{
	double lo = lambda / c, hi = lo + 1.0 / t;

	if (c == 1)
		return lambda + 1.0 / t;
	while (qlb_mmc_time_in_system(c, lambda, hi) > t)
		hi *= 2.0;
	for (int i = 0; i < BISECT_ITERS && hi - lo > 1e-12 * hi; i++) {
		double mid = 0.5 * (lo + hi);

		if (qlb_mmc_time_in_system(c, lambda, mid) > t)
			lo = mid;
		else
			hi = mid;
	}
	return 0.5 * (lo + hi);
}

int qlb_sqrt_split(const double *mu, uint32_t n, double lambda, double *share)
{
	double total = 0, sum_mu, sum_sqrt, theta;
	int dropped;

	for (uint32_t i = 0; i < n; i++) {
		share[i] = mu[i] > 0 && isfinite(mu[i]) ? 1.0 : 0.0; /* 1 = kept */
		total += share[i] > 0 ? mu[i] : 0;
	}
	if (!(total > 0))
		return -EINVAL;
	if (!(lambda < total)) { /* overload (or NAN): equalise utilisation */
		for (uint32_t i = 0; i < n; i++)
			share[i] = share[i] > 0 ? mu[i] / total : 0;
		return 0;
	}
	/* At lambda -> 0 the fastest takes everything; keep the limit finite. */
	if (!(lambda > 1e-9 * total))
		lambda = 1e-9 * total;
	do {
		sum_mu = sum_sqrt = 0;
		for (uint32_t i = 0; i < n; i++)
			if (share[i] > 0) {
				sum_mu += mu[i];
				sum_sqrt += sqrt(mu[i]);
			}
		theta = (sum_mu - lambda) / sum_sqrt;
		/* Dropping a server raises theta, so all those below it can go
		 * at once: none of them would come back. */
		dropped = 0;
		for (uint32_t i = 0; i < n; i++)
			if (share[i] > 0 && sqrt(mu[i]) <= theta) {
				share[i] = 0;
				dropped = 1;
			}
	} while (dropped);
	for (uint32_t i = 0; i < n; i++)
		share[i] = share[i] > 0 ? (mu[i] - theta * sqrt(mu[i])) / lambda : 0;
	return 0;
}
