// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The DLBQT paper's algorithm, as published (policy "dlbqt"). */
#include <math.h>

#include "policy_impl.h"
#include "queueing.h"

#define DLBQT_MIN_WINDOW_S 1.0	  /* "never shorter than one second" */
#define DLBQT_MU_FLOOR 1e-3	  /* "a small lower bound on mu", per second */

/*
 * DLBQT as published (Sections 4.2-4.4, Algorithm 1). Kept flaws:
 *  - mu is completions per second, i.e. throughput: for any stable backend
 *    it equals lambda, so rho ~ 1 and W is noise or the 1000 penalty;
 *  - the single least-W backend takes every new flow of the window;
 *  - ties, including "everyone saturated", go to the first backend;
 *  - W of a backend just short of saturation (rho -> 1) exceeds the 1000
 *    penalty, so a saturated backend is preferred to it.
 */
void qlb_dlbqt_update(struct qlb_policy *p, const struct qlb_obs *obs, uint32_t n,
		      struct qlb_est *est)
{
	int best = -1;
	double best_w = INFINITY;

	for (uint32_t i = 0; i < n; i++) {
		struct dlbqt_backend *d = &p->dl[i];
		uint64_t arr = 0, done = 0;
		double dt = 0, lambda, mu, rho, w;

		d->acc_arrivals += obs[i].arrivals;
		d->acc_completions += obs[i].completions;
		d->acc_dt += obs[i].dt_s;
		if (d->acc_dt >= DLBQT_MIN_WINDOW_S - 1e-9) {
			d->arrivals[d->pos] = d->acc_arrivals;
			d->completions[d->pos] = d->acc_completions;
			d->dt[d->pos] = d->acc_dt;
			d->pos = (d->pos + 1) % DLBQT_HISTORY;
			if (d->len < DLBQT_HISTORY)
				d->len++;
			d->acc_arrivals = d->acc_completions = 0;
			d->acc_dt = 0;
		}
		for (uint32_t k = 0; k < d->len; k++) {
			arr += d->arrivals[k];
			done += d->completions[k];
			dt += d->dt[k];
		}
		/* average count / average window length = sum / sum */
		lambda = dt > 0 ? (double)arr / dt : 0;
		mu = dt > 0 ? (double)done / dt : 0;
		if (mu < DLBQT_MU_FLOOR)
			mu = DLBQT_MU_FLOOR;
		rho = lambda / mu;
		w = qlb_dlbqt_w(rho, mu);
		if (obs[i].healthy && w < best_w) {
			best_w = w;
			best = (int)i;
		}
		if (est) {
			qlb_pol_est_fill(&est[i], lambda, mu, obs[i].servers, 0);
			est[i].w_paper = w;
		}
	}
	qlb_pol_winner_takes_all(p->share, n, best);
	if (est)
		for (uint32_t i = 0; i < n; i++)
			est[i].share = p->share[i];
}
