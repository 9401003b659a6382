/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The policies' own state, for their files only (policy.c, dlbqt.c, sedq.c). */
#ifndef QLB_POLICY_IMPL_H
#define QLB_POLICY_IMPL_H

#include <stdint.h>

#include "policy.h"
#include "rng.h"

/* DLBQT, Section 4.3-4.4 and Table 5 of the paper. */
#define DLBQT_HISTORY 10	  /* windows averaged */

struct dlbqt_backend {
	uint64_t acc_arrivals, acc_completions; /* the window being accumulated */
	double acc_dt;
	uint64_t arrivals[DLBQT_HISTORY], completions[DLBQT_HISTORY];
	double dt[DLBQT_HISTORY];
	uint32_t len, pos;
};

struct sedq_backend {
	double lambda;		     /* EWMA arrival rate (sedq.c's LAMBDA_TAU_S), NAN before any */
	double lambda_last;	     /* arrival rate of the last window alone */
	double util_done, util_busy; /* decayed completions and busy server-seconds */
	double occ_done, occ_busy;   /* the same, busy as the open flows show it */
	double rt_n, rt_sum, rt_x;   /* decayed samples, sums of T and throughput per sample */
	double mu;		     /* capacity estimate (all servers), NAN = unknown */
	double pick_mu;		     /* the per-flow pick's rate (sedq.c's pick_rate) */
	double active_last;	     /* in system at the last window's end, NAN before */
	double age_s;		     /* since added, for slow start */
};

struct qlb_policy {
	enum qlb_policy_kind kind;
	uint32_t n;
	struct qlb_policy_opts o;
	struct qlb_rng rng;
	struct dlbqt_backend *dl;	/* dlbqt */
	struct sedq_backend *q;		/* sedq */
	double *share;			/* the shares behind the last weights */
	double *plan, *lo, *hi, *mu, *floor; /* sedq's scratch, [n] each */
	uint32_t *idx;			/* sedq's scratch, [n] */
	double overload_left_s;		/* sedq: picks by open flows alone until 0 */
};

/* Shared by the policies (policy.c, dlbqt.c, sedq.c). */
double qlb_pol_rate(uint64_t count, double dt);
/* Fills one estimate from a policy's view: mu is the whole backend's rate. */
void qlb_pol_est_fill(struct qlb_est *e, double lambda, double mu, uint32_t servers, double share);
/* Everything to one backend (the paper's LCPU, LRAM and DLBQT send every
 * request of a decision period to their single choice). */
void qlb_pol_winner_takes_all(double *share, uint32_t n, int winner);

void qlb_dlbqt_update(struct qlb_policy *p, const struct qlb_obs *obs, uint32_t n,
		      struct qlb_est *est);
void qlb_sedq_update(struct qlb_policy *p, const struct qlb_obs *obs, uint32_t n,
		     double lambda_hat, struct qlb_est *est);

#endif /* QLB_POLICY_IMPL_H */
