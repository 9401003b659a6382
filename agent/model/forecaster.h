/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The agent's forecast hook and scaling signals.
 *
 * qlb_forecaster: one per VIP. Every window it takes the VIP's observed total
 * arrival rate, steps every candidate forecaster (naive, EWMA, Holt, optional
 * seasonal naive, the LSTM), scores each candidate's earlier forecast of this
 * window against what arrived (rolling MAE over the last `validation`
 * windows) and returns the forecast of the current winner: the λ̂ that
 * qlb_policy_update() takes.
 *
 * qlb_scaler: threshold auto-scaling on the forecast utilisation Σλ̂ / Σμ̂
 * (θ_up / θ_down held for k windows, then a cooldown), and
 * qlb_scale_run_hook() to run an operator's command on each event.
 *
 * No global state; every function returns 0 or -errno unless it says
 * otherwise.
 */
#ifndef QLB_FORECASTER_H
#define QLB_FORECASTER_H

#include <stdint.h>
#include <stdio.h>

#include "forecast.h"

/* ------------------------------------------------------------ forecaster */

/* naive, ewma, holt, seasonal-naive, lstm */
#define QLB_FC_MAX_CANDIDATES 5
#define QLB_FC_MAX_VALIDATION 100000u
#define QLB_FC_MAX_FIT 20000u

struct qlb_forecaster_opts {
	/* NULL, "" or "compiled": the compiled default model; "none": baselines
	 * only; anything else: a model file (`qlb forecast train --out`). */
	const char *model;
	uint32_t validation;	/* windows in the rolling MAE (default 30) */
	uint32_t warmup;	/* scored windows before a forecast is returned (30) */
	uint32_t horizon;	/* forecast window t+horizon (default 1: the next) */
	/* Model units per arrival/s. The compiled model was trained on requests
	 * per minute, so 60 (the default) feeds it λ·60 and divides its
	 * forecast by 60, whatever the window length. 1 for a model trained
	 * on an agent history CSV (λ column, per second). */
	double model_scale;
	uint32_t season;	/* > 0: add seasonal naive, period in windows (0) */
	uint32_t refit;		/* regrid EWMA/Holt parameters every this many
				 * windows, 0 = never (30) */
	uint32_t fit_len;	/* ... on the last this many windows (120) */
	uint32_t refit_phase;	/* offset of that schedule, e.g. the VIP id: a
				 * refit is the costly step, so VIPs take turns */
};

enum qlb_forecaster_status {
	QLB_FC_STATUS_FILE,		/* the model file given is in use */
	QLB_FC_STATUS_COMPILED,		/* the compiled model, as asked */
	QLB_FC_STATUS_FALLBACK_COMPILED, /* the file was rejected: compiled model */
	QLB_FC_STATUS_FALLBACK_NONE,	/* no usable model at all: baselines only */
	QLB_FC_STATUS_NONE,		/* baselines only, as asked ("none") */
};

/* Per-window report. Names point to static strings. */
struct qlb_forecast_info {
	const char *winner;	/* forecaster in use (lowest rolling MAE) */
	int warm;		/* 0: the step returned NAN (use the measured rate) */
	double lambda_hat;	/* what the step returned, arrivals/s */
	uint32_t scored;	/* windows in the rolling MAE now (<= validation) */
	uint32_t n;		/* candidates */
	uint64_t windows;	/* steps so far */
	struct {
		const char *name;
		double mae;	 /* rolling MAE, arrivals/s; NAN before any score */
		double forecast; /* its forecast for t+horizon, arrivals/s */
	} c[QLB_FC_MAX_CANDIDATES];
};

struct qlb_forecaster;

void qlb_forecaster_opts_default(struct qlb_forecaster_opts *o);
/*
 * o may be NULL (defaults). err is always written: "" when the model asked
 * for is in use, else why not. A model that cannot be used (missing,
 * truncated, corrupt, horizon too short) is not fatal: creation succeeds
 * with the compiled model, or with the baselines alone if that fails too,
 * and qlb_forecaster_status() says which. Fails only on bad options
 * (-EINVAL, err says which) or -ENOMEM.
 */
int qlb_forecaster_create(const struct qlb_forecaster_opts *o, struct qlb_forecaster **out,
			  struct qlb_error *err);
void qlb_forecaster_destroy(struct qlb_forecaster *f);
enum qlb_forecaster_status qlb_forecaster_status(const struct qlb_forecaster *f);
const char *qlb_forecaster_status_name(enum qlb_forecaster_status s);
/*
 * One window: lambda_observed is the VIP's total arrival rate over the
 * window that just ended (arrivals/s; NAN or < 0 = missing window). Returns
 * λ̂ (arrivals/s, >= 0) for window t+horizon from the candidate with the
 * lowest rolling MAE (ties to the simpler one), or NAN until `warmup`
 * windows have been scored. info may be NULL. Allocates nothing (refits
 * work in preallocated scratch). Deterministic.
 */
double qlb_forecaster_step(struct qlb_forecaster *f, double lambda_observed,
			   struct qlb_forecast_info *info);

/* Loads the compiled default model (agent/fc_default_model.h). */
int qlb_forecaster_load_default(struct fc_model *m, struct qlb_error *err);

/* -------------------------------------------------------------- scaling */

struct qlb_scaler_opts {
	double theta_up;	/* utilisation above which to scale up (0.8) */
	double theta_down;	/* utilisation below which to scale down (0.3) */
	uint32_t k;		/* consecutive windows beyond a threshold (3) */
	uint32_t cooldown;	/* windows after an event in which none fires (10) */
};

enum qlb_scale_dir {
	QLB_SCALE_DOWN = -1,
	QLB_SCALE_UP = 1,
};

struct qlb_scale_event {
	int dir;		/* enum qlb_scale_dir */
	double utilisation;	/* lambda_hat / mu of the window that fired */
	double lambda_hat;	/* forecast total arrival rate, /s */
	double mu;		/* total estimated capacity, /s */
	double threshold;	/* the θ crossed */
	uint32_t windows;	/* consecutive windows beyond it */
};

/* Plain struct so it can live inside the agent's per-VIP state. */
struct qlb_scaler {
	struct qlb_scaler_opts o;
	uint32_t above, below;	/* current streaks */
	uint32_t cooldown_left;
	uint64_t ups, downs;	/* events so far (for the metric) */
	double last_util;	/* last utilisation seen, NAN if none */
};

void qlb_scaler_opts_default(struct qlb_scaler_opts *o);
/* o may be NULL. -EINVAL unless 0 <= theta_down < theta_up, k >= 1. */
int qlb_scaler_init(struct qlb_scaler *s, const struct qlb_scaler_opts *o);
/*
 * One window: lambda_hat_total = Σλ̂ (the forecaster's return, NAN before
 * it is warm), mu_total = Σμ̂ over the backends that can take load. Returns
 * 1 and fills ev when an event fires, else 0. A NAN, negative or zero-
 * capacity window fires nothing and breaks both streaks.
 */
int qlb_scaler_step(struct qlb_scaler *s, double lambda_hat_total, double mu_total,
		    struct qlb_scale_event *ev);
const char *qlb_scale_dir_name(int dir);	/* "scale-up", "scale-down" */
/* One log line (no newline): "scale-up VIP: forecast utilisation ...". */
int qlb_scale_event_format(const struct qlb_scale_event *ev, const char *vip, char *buf,
			   size_t len);
/*
 * Runs `/bin/sh -c cmd` detached, with QLB_SCALE_DIRECTION (up|down),
 * QLB_SCALE_UTILISATION, QLB_SCALE_LAMBDA_HAT, QLB_SCALE_MU,
 * QLB_SCALE_WINDOWS and QLB_VIP added to the environment, stdin from
 * /dev/null, no inherited descriptors above 2 and default signal
 * dispositions. The command runs as a grandchild (double fork), so there is
 * nothing to reap later; the caller only waits for the intermediate child,
 * which exits right after its fork. Safe in a threaded process. Returns 0
 * once the command is started (its own exit status is not reported) or
 * -errno.
 */
int qlb_scale_run_hook(const char *cmd, const struct qlb_scale_event *ev, const char *vip);

/*
 * Prometheus samples for one VIP (labels e.g. `vip="10.0.0.1:80"`):
 * qlb_vip_forecast_lambda_hat, qlb_vip_forecast_warm,
 * qlb_vip_forecast_mae{forecaster}, qlb_vip_forecast_in_use{forecaster},
 * qlb_vip_forecast_utilisation and qlb_vip_scale_events_total{direction}.
 * fi or s may be NULL (their lines are left out).
 */
void qlb_forecast_metrics_write(FILE *f, const char *labels, const struct qlb_forecast_info *fi,
				const struct qlb_scaler *s);

#endif /* QLB_FORECASTER_H */
