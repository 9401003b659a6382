/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Queueing formulas, shared by the policies, the simulator and the tests:
 * M/M/c (c = 1 gives M/M/1; rho = lambda / (c mu)), the DLBQT paper's W,
 * the square-root split and the shortest-expected-delay comparison.
 */
#ifndef QLB_QUEUEING_H
#define QLB_QUEUEING_H

#include <stdint.h>

/* W when rho >= 1 (the DLBQT paper's Table 5). */
#define QLB_DLBQT_PENALTY_W 1000.0

/* The probability that an arrival waits (Erlang C). */
double qlb_erlang_c(uint32_t c, double lambda, double mu_per_server);
double qlb_mmc_time_in_system(uint32_t c, double lambda, double mu_per_server);
/* Per-server rate at which an M/M/c queue fed at lambda has mean time in
 * system t: the inverse of qlb_mmc_time_in_system, which falls from
 * infinity (mu -> lambda/c) to 0 (mu -> infinity). */
double qlb_mmc_invert_mu(uint32_t c, double lambda, double t);
/* DLBQT Eq. 8, rho / (mu (1 - rho)), with the paper's penalty at rho >= 1. */
double qlb_dlbqt_w(double rho, double mu);

/*
 * Square-root assignment: the split of a Poisson stream of total rate lambda
 * over independent M/M/1 servers of rates mu[0..n) that minimises the mean
 * time in system (lambda_i = mu_i - (S - lambda) sqrt(mu_i) / sum sqrt(mu_j)
 * over the servers it keeps, S their total rate; the slowest are dropped
 * while that goes negative). share[i] = lambda_i / lambda, summing to 1;
 * mu[i] <= 0 or NAN gets 0. lambda >= sum(mu) (overload) splits in
 * proportion to mu. Returns 0, or -EINVAL if no mu is positive.
 */
int qlb_sqrt_split(const double *mu, uint32_t n, double lambda, double *share);

/* The per-flow rule of lc (every mu 1) and sedq: whether backend b, with
 * active_b open flows and capacity mu_b, takes a new flow before a, which
 * it does only with a strictly smaller (active + 1) / mu. Compared without
 * division, as the data plane does. */
static inline int qlb_pick_prefers(double active_a, double mu_a, double active_b, double mu_b)
{
	return (active_b + 1) * mu_a < (active_a + 1) * mu_b;
}

#endif /* QLB_QUEUEING_H */
