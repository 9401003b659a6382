// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Online forecaster selection for the agent, and threshold scaling signals.
 *
 * No single forecaster wins everywhere: the LSTM beats the smoothers on
 * per-minute traces it was trained for, while on a VIP's per-second counts
 * (a different time scale, more Poisson noise) a well-tuned EWMA may be as
 * good, and on a random walk nothing beats naive. So every candidate runs on
 * the same stream, each forecast is scored when its window arrives, and the
 * lowest rolling MAE decides what the policy gets. The cost is a handful of
 * baseline updates and one LSTM step per VIP per window (docs/bench.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "forecaster.h"

/* The compiled model's one inclusion (its array is static). */
#include "fc_default_model.h"

extern char **environ;

enum { C_NAIVE, C_EWMA, C_HOLT, C_SNAIVE, C_LSTM };

struct cand {
	int kind;		/* C_* */
	const char *name;
	struct fc_baseline b;	/* baselines */
	double *pend;		/* [horizon] forecasts awaiting their window, NAN = none */
	double *err;		/* [validation] absolute errors, ring */
	double sum;		/* of err[0..scored) */
	double fc;		/* latest forecast for t+horizon */
};

struct qlb_forecaster {
	struct qlb_forecaster_opts o;	/* model pointer cleared */
	enum qlb_forecaster_status status;
	int have_lstm;
	struct fc_model model;
	struct fc_lstm_state ls;
	double *lstm_out;		/* [model horizon] */
	uint32_t nc;
	struct cand c[QLB_FC_MAX_CANDIDATES];
	double *hist;			/* [fit_len] last observations, ring (refits) */
	double *scratch;		/* [fit_len] the same in time order */
	uint64_t t;			/* windows seen */
	uint64_t scored_total;
	uint32_t err_pos, scored;
	int winner;			/* index into c */
	double *block;
};

void qlb_forecaster_opts_default(struct qlb_forecaster_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->validation = 30;
	o->warmup = 30;
	o->horizon = 1;
	o->model_scale = 60;
	o->refit = 30;
	o->fit_len = 120;
}

const char *qlb_forecaster_status_name(enum qlb_forecaster_status s)
{
	switch (s) {
	case QLB_FC_STATUS_FILE: return "model file";
	case QLB_FC_STATUS_COMPILED: return "compiled model";
	case QLB_FC_STATUS_FALLBACK_COMPILED: return "compiled model (model file rejected)";
	case QLB_FC_STATUS_FALLBACK_NONE: return "baselines only (no usable model)";
	case QLB_FC_STATUS_NONE: return "baselines only";
	}
	return "?";
}

enum qlb_forecaster_status qlb_forecaster_status(const struct qlb_forecaster *f)
{
	return f->status;
}

int qlb_forecaster_load_default(struct fc_model *m, struct qlb_error *err)
{
	return fc_model_deserialize(m, qlb_default_model, qlb_default_model_len, err);
}

static int check_opts(const struct qlb_forecaster_opts *o, struct qlb_error *err)
{
	if (o->validation < 1 || o->validation > QLB_FC_MAX_VALIDATION) {
		qlb_error_set(err, 0, "validation must be 1-%u windows", QLB_FC_MAX_VALIDATION);
		return -EINVAL;
	}
	if (o->warmup < 1) {
		qlb_error_set(err, 0, "warmup must be >= 1 window");
		return -EINVAL;
	}
	if (o->horizon < 1 || o->horizon > FC_MAX_HORIZON) {
		qlb_error_set(err, 0, "horizon must be 1-%d windows", FC_MAX_HORIZON);
		return -EINVAL;
	}
	if (!isfinite(o->model_scale) || o->model_scale <= 0) {
		qlb_error_set(err, 0, "model scale must be > 0");
		return -EINVAL;
	}
	if (o->season > FC_MAX_SEASON) {
		qlb_error_set(err, 0, "season must be 0-%d windows", FC_MAX_SEASON);
		return -EINVAL;
	}
	if (o->refit && (o->fit_len < 2 || o->fit_len > QLB_FC_MAX_FIT)) {
		qlb_error_set(err, 0, "fit length must be 2-%u windows", QLB_FC_MAX_FIT);
		return -EINVAL;
	}
	return 0;
}

/* err = reason + what we fell back to, the fallback never cut off. */
static void set_err(struct qlb_error *err, const char *why, const char *then)
{
	int room = QLB_ERROR_LEN - 1 - (int)strlen(then);

	qlb_error_set(err, 0, "%.*s%s", room > 0 ? room : 0, why, then);
}

/* Loads what f->o.model asks for; on failure falls back and says so in err. */
static void load_model(struct qlb_forecaster *f, const char *want, struct qlb_error *err)
{
	struct qlb_error why = {}, cwhy = {};
	int file = want && *want && strcmp(want, "compiled");

	if (want && !strcmp(want, "none")) {
		f->status = QLB_FC_STATUS_NONE;
		return;
	}
	/* fc_model_load's reasons start with the path */
	if (file && !fc_model_load(&f->model, want, &why)) {
		if (f->model.arch.horizon >= f->o.horizon) {
			f->have_lstm = 1;
			f->status = QLB_FC_STATUS_FILE;
			return;
		}
		qlb_error_set(&why, 0, "%.60s: model horizon %u < %u needed", want,
			 f->model.arch.horizon, f->o.horizon);
		fc_model_free(&f->model);
	}
	if (!qlb_forecaster_load_default(&f->model, &cwhy)) {
		if (f->model.arch.horizon >= f->o.horizon) {
			f->have_lstm = 1;
			f->status = file ? QLB_FC_STATUS_FALLBACK_COMPILED : QLB_FC_STATUS_COMPILED;
			if (file)
				set_err(err, why.msg, "; using the compiled model");
			return;
		}
		qlb_error_set(&cwhy, 0, "compiled model horizon %u < %u needed",
			 f->model.arch.horizon, f->o.horizon);
		fc_model_free(&f->model);
	}
	f->status = QLB_FC_STATUS_FALLBACK_NONE;
	set_err(err, file ? why.msg : cwhy.msg, "; no usable model, baselines only");
}

int qlb_forecaster_create(const struct qlb_forecaster_opts *o, struct qlb_forecaster **out,
			  struct qlb_error *err)
{
	struct qlb_forecaster *f;
	static const int kinds[] = { C_NAIVE, C_EWMA, C_HOLT, C_SNAIVE, C_LSTM };
	size_t per, total;
	double *p;
	int rc;

	if (err)
		err->msg[0] = '\0';
	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	if (o)
		f->o = *o;
	else
		qlb_forecaster_opts_default(&f->o);
	rc = check_opts(&f->o, err);
	if (rc) {
		free(f);
		return rc;
	}
	load_model(f, f->o.model, err);
	f->o.model = NULL;	/* not ours to keep */

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct cand *c = &f->c[f->nc];

		if ((kinds[i] == C_SNAIVE && !f->o.season) || (kinds[i] == C_LSTM && !f->have_lstm))
			continue;
		c->kind = kinds[i];
		if (c->kind == C_LSTM) {
			c->name = "lstm";
		} else {
			static const enum fc_kind fk[] = { [C_NAIVE] = FC_NAIVE, [C_EWMA] = FC_EWMA,
							   [C_HOLT] = FC_HOLT,
							   [C_SNAIVE] = FC_SEASONAL_NAIVE };

			rc = fc_baseline_init(&c->b, fk[c->kind], f->o.season);
			if (rc)
				goto fail;
			c->name = fc_baseline_name(fk[c->kind]);
		}
		f->nc++;
	}

	/* One block: per candidate pend[h] + err[V]; hist and scratch [fit_len];
	 * the LSTM's output [model horizon]. */
	per = (size_t)f->o.horizon + f->o.validation;
	total = per * f->nc + 2 * (size_t)(f->o.refit ? f->o.fit_len : 0) +
		(f->have_lstm ? f->model.arch.horizon : 0);
	f->block = calloc(total, sizeof(double));
	if (!f->block) {
		rc = -ENOMEM;
		goto fail;
	}
	p = f->block;
	for (uint32_t i = 0; i < f->nc; i++) {
		f->c[i].pend = p;
		for (uint32_t k = 0; k < f->o.horizon; k++)
			p[k] = NAN;
		p += f->o.horizon;
		f->c[i].err = p;
		p += f->o.validation;
		f->c[i].fc = NAN;
	}
	if (f->o.refit) {
		f->hist = p;
		p += f->o.fit_len;
		f->scratch = p;
		p += f->o.fit_len;
	}
	if (f->have_lstm) {
		f->lstm_out = p;
		rc = fc_lstm_state_init(&f->ls, &f->model);
		if (rc)
			goto fail;
	}
	*out = f;
	return 0;
fail:
	qlb_forecaster_destroy(f);
	return rc;
}

void qlb_forecaster_destroy(struct qlb_forecaster *f)
{
	if (!f)
		return;
	for (uint32_t i = 0; i < f->nc; i++)
		fc_baseline_free(&f->c[i].b);
	if (f->have_lstm) {
		fc_lstm_state_free(&f->ls);
		fc_model_free(&f->model);
	}
	free(f->block);
	free(f);
}

/* Every candidate's forecast of this window against what arrived. A
 * candidate without one is charged the error of forecasting 0, so all are
 * always scored on the same windows. */
static void score(struct qlb_forecaster *f, uint32_t slot, double x)
{
	uint32_t V = f->o.validation, i;
	int any = 0;

	for (i = 0; i < f->nc; i++)
		any |= isfinite(f->c[i].pend[slot]);
	if (!any)
		return;
	for (i = 0; i < f->nc; i++) {
		struct cand *c = &f->c[i];
		double e = isfinite(c->pend[slot]) ? fabs(c->pend[slot] - x) : fabs(x);

		if (f->scored == V)
			c->sum -= c->err[f->err_pos];
		c->err[f->err_pos] = e;
		c->sum += e;
	}
	if (f->scored < V)
		f->scored++;
	if (++f->err_pos == V) {
		f->err_pos = 0;
		/* once per lap: the running sums would otherwise drift */
		for (i = 0; i < f->nc; i++) {
			double s = 0;

			for (uint32_t k = 0; k < f->scored; k++)
				s += f->c[i].err[k];
			f->c[i].sum = s;
		}
	}
	f->scored_total++;
}

/* Regrids EWMA's and Holt's smoothing parameters on the recent windows and
 * replays them, so the smoothers track the VIP's own noise level. */
static void refit(struct qlb_forecaster *f)
{
	uint32_t L = f->o.fit_len;
	size_t n = f->t < L ? (size_t)f->t : L, start = (size_t)((f->t - n) % L);

	for (size_t k = 0; k < n; k++)
		f->scratch[k] = f->hist[(start + k) % L];
	for (uint32_t i = 0; i < f->nc; i++) {
		struct cand *c = &f->c[i];

		if (c->kind != C_EWMA && c->kind != C_HOLT)
			continue;
		if (fc_baseline_fit(&c->b, f->scratch, n, f->o.horizon))
			continue;	/* keeps the old parameters; state reset below */
		fc_baseline_reset(&c->b);
		for (size_t k = 0; k < n; k++)
			fc_baseline_update(&c->b, f->scratch[k]);
	}
}

double qlb_forecaster_step(struct qlb_forecaster *f, double x, struct qlb_forecast_info *info)
{
	uint32_t h = f->o.horizon, slot = (uint32_t)(f->t % h), i;
	double ret = NAN;
	int best = -1;

	if (!isfinite(x) || x < 0)
		x = NAN;
	if (isfinite(x))
		score(f, slot, x);
	if (f->hist)
		f->hist[f->t % f->o.fit_len] = x;
	f->t++;
	for (i = 0; i < f->nc; i++)
		if (f->c[i].kind != C_LSTM)
			fc_baseline_update(&f->c[i].b, x);
	if (f->o.refit && (f->t + f->o.refit_phase) % f->o.refit == 0 && f->t >= (uint64_t)h + 2)
		refit(f);

	for (i = 0; i < f->nc; i++) {
		struct cand *c = &f->c[i];
		double v;

		if (c->kind == C_LSTM) {
			fc_lstm_step_raw(&f->model, &f->ls, x * f->o.model_scale, f->lstm_out);
			v = f->lstm_out[h - 1] / f->o.model_scale;
		} else {
			v = c->b.seen ? fc_baseline_forecast(&c->b, h) : NAN;
		}
		/* a negative rate is never right; Holt extrapolates below 0 */
		c->fc = isfinite(v) ? fmax(v, 0) : NAN;
		c->pend[slot] = c->fc;
	}

	/* lowest rolling MAE; ties go to the earlier (simpler) candidate */
	if (f->scored)
		for (i = 0; i < f->nc; i++)
			if (best < 0 || f->c[i].sum < f->c[best].sum)
				best = (int)i;
	f->winner = best < 0 ? 0 : best;
	if (f->scored_total >= f->o.warmup && isfinite(f->c[f->winner].fc))
		ret = f->c[f->winner].fc;

	if (info) {
		memset(info, 0, sizeof(*info));
		info->winner = f->c[f->winner].name;
		info->warm = isfinite(ret);
		info->lambda_hat = ret;
		info->scored = f->scored;
		info->n = f->nc;
		info->windows = f->t;
		for (i = 0; i < f->nc; i++) {
			info->c[i].name = f->c[i].name;
			info->c[i].mae = f->scored ? f->c[i].sum / f->scored : NAN;
			info->c[i].forecast = f->c[i].fc;
		}
	}
	return ret;
}

/* --------------------------------------------------------------- scaling */

void qlb_scaler_opts_default(struct qlb_scaler_opts *o)
{
	o->theta_up = 0.8;
	o->theta_down = 0.3;
	o->k = 3;
	o->cooldown = 10;
}

int qlb_scaler_init(struct qlb_scaler *s, const struct qlb_scaler_opts *o)
{
	struct qlb_scaler_opts d;

	if (!o) {
		qlb_scaler_opts_default(&d);
		o = &d;
	}
	if (!isfinite(o->theta_up) || !isfinite(o->theta_down) || o->theta_down < 0 ||
	    o->theta_down >= o->theta_up || o->k < 1)
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	s->o = *o;
	s->last_util = NAN;
	return 0;
}

int qlb_scaler_step(struct qlb_scaler *s, double lambda_hat, double mu,
		    struct qlb_scale_event *ev)
{
	int dir = 0;
	double u;

	/* The cooldown is time: it runs down on every window, usable or not. */
	int cooling = s->cooldown_left > 0;

	if (cooling)
		s->cooldown_left--;
	if (!isfinite(lambda_hat) || lambda_hat < 0 || !isfinite(mu) || mu <= 0) {
		/* unknown is not "still above": the streaks must be unbroken */
		s->above = s->below = 0;
		s->last_util = NAN;
		return 0;
	}
	u = lambda_hat / mu;
	s->last_util = u;
	s->above = u > s->o.theta_up ? s->above + 1 : 0;
	s->below = u < s->o.theta_down ? s->below + 1 : 0;
	/* Streaks keep counting through a cooldown, so a load that stays high
	 * fires again as soon as it ends. */
	if (cooling)
		return 0;
	if (s->above >= s->o.k)
		dir = QLB_SCALE_UP;
	else if (s->below >= s->o.k)
		dir = QLB_SCALE_DOWN;
	if (!dir)
		return 0;
	if (ev) {
		ev->dir = dir;
		ev->utilisation = u;
		ev->lambda_hat = lambda_hat;
		ev->mu = mu;
		ev->threshold = dir > 0 ? s->o.theta_up : s->o.theta_down;
		ev->windows = dir > 0 ? s->above : s->below;
	}
	if (dir > 0)
		s->ups++;
	else
		s->downs++;
	s->above = s->below = 0;
	s->cooldown_left = s->o.cooldown;
	return 1;
}

const char *qlb_scale_dir_name(int dir)
{
	return dir > 0 ? "scale-up" : dir < 0 ? "scale-down" : "none";
}

int qlb_scale_event_format(const struct qlb_scale_event *ev, const char *vip, char *buf,
			   size_t len)
{
	int n;

	if (!ev || !buf || !len)
		return -EINVAL;
	n = snprintf(buf, len,
		     "%s %s: forecast utilisation %.3f %s %.2f for %u windows "
		     "(lambda_hat %.3f/s, mu %.3f/s)",
		     qlb_scale_dir_name(ev->dir), vip ? vip : "-", ev->utilisation,
		     ev->dir > 0 ? ">" : "<", ev->threshold, ev->windows, ev->lambda_hat, ev->mu);
	return n < 0 ? -EINVAL : 0;
}

/* ----------------------------------------------------------- the hook */

static int is_ours(const char *kv)
{
	return !strncmp(kv, "QLB_SCALE_", 10) || !strncmp(kv, "QLB_VIP=", 8);
}

/* Only async-signal-safe calls from here on: the agent has threads (the
 * metrics server), so the child of fork() may not malloc or take locks. */
static void __attribute__((noreturn)) exec_hook(const char *cmd, char *const envp[], int maxfd)
{
	struct sigaction sa;
	sigset_t none;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	/* the agent ignores SIGPIPE; a hook's pipelines must not */
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0 && fd != 0) {
		dup2(fd, 0);
		close(fd);
	}
	/* BPF map fds and the metrics socket are not the hook's business */
	if (close_range(3, ~0u, 0))
		for (fd = 3; fd < maxfd; fd++)
			close(fd);
	execve("/bin/sh", (char *const[]){ "sh", "-c", (char *)cmd, NULL }, envp);
	_exit(127);
}

int qlb_scale_run_hook(const char *cmd, const struct qlb_scale_event *ev, const char *vip)
{
	char dir[40], util[64], lam[64], mu[64], win[40], *vipv;
	size_t n = 0, k = 0;
	char **envp;
	long maxfd = sysconf(_SC_OPEN_MAX);
	pid_t pid;
	int status, rc = 0;

	if (!cmd || !*cmd || !ev)
		return -EINVAL;
	if (!vip)
		vip = "";
	while (environ && environ[n])
		n++;
	envp = calloc(n + 7, sizeof(*envp));
	vipv = malloc(strlen(vip) + sizeof("QLB_VIP="));
	if (!envp || !vipv) {
		free(envp);
		free(vipv);
		return -ENOMEM;
	}
	snprintf(dir, sizeof(dir), "QLB_SCALE_DIRECTION=%s", ev->dir > 0 ? "up" : "down");
	snprintf(util, sizeof(util), "QLB_SCALE_UTILISATION=%.4f", ev->utilisation);
	snprintf(lam, sizeof(lam), "QLB_SCALE_LAMBDA_HAT=%.3f", ev->lambda_hat);
	snprintf(mu, sizeof(mu), "QLB_SCALE_MU=%.3f", ev->mu);
	snprintf(win, sizeof(win), "QLB_SCALE_WINDOWS=%u", ev->windows);
	strcpy(vipv, "QLB_VIP=");
	strcat(vipv, vip);
	envp[k++] = dir;
	envp[k++] = util;
	envp[k++] = lam;
	envp[k++] = mu;
	envp[k++] = win;
	envp[k++] = vipv;
	/* inherited values of our names would make getenv() ambiguous */
	for (size_t i = 0; i < n; i++)
		if (!is_ours(environ[i]))
			envp[k++] = environ[i];
	envp[k] = NULL;
	if (maxfd < 0 || maxfd > 65536)
		maxfd = 65536;

	pid = fork();
	if (pid < 0) {
		rc = -errno;
	} else if (pid == 0) {
		/* Intermediate: start the hook and leave at once. The hook is
		 * re-parented to init (or a subreaper), which reaps it. Exit code
		 * = errno of a failed fork. */
		pid_t g = fork();

		if (g == 0)
			exec_hook(cmd, envp, (int)maxfd);
		_exit(g < 0 ? (errno & 0xff ? errno & 0xff : EAGAIN) : 0);
	} else {
		while (waitpid(pid, &status, 0) < 0) {
			if (errno == EINTR)
				continue;
			if (errno != ECHILD)	/* ECHILD: SIGCHLD ignored, reaped */
				rc = -errno;
			status = 0;
			break;
		}
		if (!rc && WIFEXITED(status) && WEXITSTATUS(status))
			rc = -WEXITSTATUS(status);
		else if (!rc && WIFSIGNALED(status))
			rc = -ECHILD;
	}
	free(envp);
	free(vipv);
	return rc;
}

/* ------------------------------------------------------------- metrics */

static void sample(FILE *f, const char *name, const char *labels, const char *extra, double v)
{
	fprintf(f, "%s{%s%s%s} ", name, labels, extra && *labels ? "," : "", extra ? extra : "");
	if (isnan(v))
		fputs("NaN\n", f);
	else if (v == floor(v) && fabs(v) < 1e15)
		fprintf(f, "%.0f\n", v);	/* counters, flags: exact */
	else
		fprintf(f, "%.6g\n", v);
}

void qlb_forecast_metrics_write(FILE *f, const char *labels, const struct qlb_forecast_info *fi,
				const struct qlb_scaler *s)
{
	char extra[64];

	if (!labels)
		labels = "";
	if (fi) {
		sample(f, "qlb_vip_forecast_lambda_hat", labels, NULL, fi->lambda_hat);
		sample(f, "qlb_vip_forecast_warm", labels, NULL, fi->warm);
		for (uint32_t i = 0; i < fi->n; i++) {
			snprintf(extra, sizeof(extra), "forecaster=\"%s\"", fi->c[i].name);
			sample(f, "qlb_vip_forecast_mae", labels, extra, fi->c[i].mae);
			sample(f, "qlb_vip_forecast_in_use", labels, extra,
			       fi->winner && !strcmp(fi->winner, fi->c[i].name));
		}
	}
	if (s) {
		sample(f, "qlb_vip_forecast_utilisation", labels, NULL, s->last_util);
		sample(f, "qlb_vip_scale_events_total", labels, "direction=\"up\"", (double)s->ups);
		sample(f, "qlb_vip_scale_events_total", labels, "direction=\"down\"",
		       (double)s->downs);
	}
}
