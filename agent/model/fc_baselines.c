// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Classical streaming forecasters the LSTM has to beat. All share one state
 * struct and one update/forecast pair, switched on the kind, so the agent (and
 * `forecast eval`) can run each of them on the same series.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forecast.h"

static const char *const names[FC_BASELINE_COUNT] = {
	[FC_NAIVE] = "naive",	      [FC_SEASONAL_NAIVE] = "seasonal-naive",
	[FC_EWMA] = "ewma",	      [FC_HOLT] = "holt",
	[FC_HOLT_WINTERS] = "holt-winters",
};

const char *fc_baseline_name(enum fc_kind kind)
{
	return (unsigned)kind < FC_BASELINE_COUNT ? names[kind] : "?";
}

static int seasonal(const struct fc_baseline *b)
{
	return (b->kind == FC_SEASONAL_NAIVE || b->kind == FC_HOLT_WINTERS) && b->period >= 2;
}

int fc_baseline_init(struct fc_baseline *b, enum fc_kind kind, uint32_t period)
{
	memset(b, 0, sizeof(*b));
	if ((unsigned)kind >= FC_BASELINE_COUNT || period > FC_MAX_SEASON * 8u)
		return -EINVAL;
	b->kind = kind;
	b->period = period;
	b->alpha = 0.5;
	b->beta = 0.1;
	b->gamma = 0.1;
	if (seasonal(b)) {
		b->season = calloc(period, sizeof(double));
		b->history = calloc(period, sizeof(double));
		if (!b->season || !b->history) {
			fc_baseline_free(b);
			return -ENOMEM;
		}
	}
	fc_baseline_reset(b);
	return 0;
}

void fc_baseline_free(struct fc_baseline *b)
{
	if (!b)
		return;
	free(b->season);
	free(b->history);
	b->season = b->history = NULL;
}

void fc_baseline_reset(struct fc_baseline *b)
{
	b->level = b->trend = b->last = 0;
	b->seen = 0;
	if (b->season) {
		memset(b->season, 0, b->period * sizeof(double));
		memset(b->history, 0, b->period * sizeof(double));
	}
}

/* Holt-Winters starts from the first full season: level = its mean, season =
 * deviations from it, no trend. */
static void hw_start(struct fc_baseline *b)
{
	double sum = 0;

	for (uint32_t i = 0; i < b->period; i++)
		sum += b->history[i];
	b->level = sum / b->period;
	b->trend = 0;
	for (uint32_t i = 0; i < b->period; i++)
		b->season[i] = b->history[i] - b->level;
}

void fc_baseline_update(struct fc_baseline *b, double x)
{
	if (!isfinite(x)) {
		/* A missing window is filled with our own one-step forecast so that
		 * seasonal positions stay aligned. */
		if (!b->seen)
			return;
		x = fc_baseline_forecast(b, 1);
	}
	switch (b->kind) {
	case FC_NAIVE:
	case FC_SEASONAL_NAIVE:
		break;
	case FC_EWMA:
		b->level = b->seen ? b->alpha * x + (1 - b->alpha) * b->level : x;
		break;
	case FC_HOLT:
	case FC_HOLT_WINTERS:
		if (b->kind == FC_HOLT_WINTERS && seasonal(b)) {
			uint32_t idx = (uint32_t)(b->seen % b->period);

			if (b->seen < b->period)
				break; /* collecting the first season */
			{
				double lvl = b->alpha * (x - b->season[idx]) +
					     (1 - b->alpha) * (b->level + b->trend);

				b->trend = b->beta * (lvl - b->level) + (1 - b->beta) * b->trend;
				b->season[idx] = b->gamma * (x - lvl) + (1 - b->gamma) * b->season[idx];
				b->level = lvl;
			}
			break;
		}
		if (!b->seen) {
			b->level = x;
			b->trend = 0;
		} else {
			double lvl = b->alpha * x + (1 - b->alpha) * (b->level + b->trend);

			b->trend = b->beta * (lvl - b->level) + (1 - b->beta) * b->trend;
			b->level = lvl;
		}
		break;
	default:
		break;
	}
	if (b->history)
		b->history[b->seen % b->period] = x;
	b->last = x;
	b->seen++;
	if (b->kind == FC_HOLT_WINTERS && seasonal(b) && b->seen == b->period)
		hw_start(b);
}

double fc_baseline_forecast(const struct fc_baseline *b, uint32_t h)
{
	if (!b->seen)
		return 0;
	if (h < 1)
		h = 1;
	switch (b->kind) {
	case FC_SEASONAL_NAIVE:
		if (seasonal(b)) {
			uint64_t m = b->period, k = (h + m - 1) / m;
			uint64_t need = m * k - h + 1; /* value at seen-1+h-m*k must exist */

			if (b->seen >= need)
				return b->history[(b->seen - need) % m];
		}
		return b->last;
	case FC_EWMA:
		return b->level;
	case FC_HOLT:
		return b->level + h * b->trend;
	case FC_HOLT_WINTERS:
		if (seasonal(b)) {
			if (b->seen < b->period)
				return b->last;
			return b->level + h * b->trend +
			       b->season[(b->seen - 1 + h) % b->period];
		}
		return b->level + h * b->trend;
	case FC_NAIVE:
	default:
		return b->last;
	}
}

/* Mean squared horizon-h error of b's current parameters over x. */
static double score(struct fc_baseline *b, const double *x, size_t n, uint32_t h)
{
	double sse = 0;
	size_t cnt = 0;

	fc_baseline_reset(b);
	for (size_t t = 0; t < n; t++) {
		fc_baseline_update(b, x[t]);
		if (t + h < n && isfinite(x[t + h])) {
			double e = fc_baseline_forecast(b, h) - x[t + h];

			sse += e * e;
			cnt++;
		}
	}
	return cnt ? sse / (double)cnt : INFINITY;
}

int fc_baseline_fit(struct fc_baseline *b, const double *x, size_t n, uint32_t h)
{
	static const double alphas[] = { 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3,
					 0.4,  0.5,  0.6,  0.7, 0.8,  0.9, 1.0 };
	static const double betas[] = { 0.0, 0.001, 0.01, 0.05, 0.1, 0.2, 0.3 };
	static const double gammas[] = { 0.01, 0.05, 0.1, 0.2, 0.3, 0.5 };
	const size_t na = sizeof(alphas) / sizeof(alphas[0]);
	size_t nb = 1, ng = 1;
	double best = INFINITY, ba, bb, bg;

	if (!b || (!x && n))
		return -EINVAL;
	ba = b->alpha;
	bb = b->beta;
	bg = b->gamma;
	if (b->kind == FC_HOLT || b->kind == FC_HOLT_WINTERS)
		nb = sizeof(betas) / sizeof(betas[0]);
	if (b->kind == FC_HOLT_WINTERS && seasonal(b))
		ng = sizeof(gammas) / sizeof(gammas[0]);
	if (b->kind == FC_EWMA || b->kind == FC_HOLT || b->kind == FC_HOLT_WINTERS) {
		for (size_t i = 0; i < na; i++)
			for (size_t j = 0; j < nb; j++)
				for (size_t k = 0; k < ng; k++) {
					double s;

					b->alpha = alphas[i];
					b->beta = betas[j];
					b->gamma = gammas[k];
					s = score(b, x, n, h);
					/* strict: ties keep the earlier, smoother setting */
					if (s < best) {
						best = s;
						ba = b->alpha;
						bb = b->beta;
						bg = b->gamma;
					}
				}
		b->alpha = ba;
		b->beta = bb;
		b->gamma = bg;
	}
	fc_baseline_reset(b);
	return 0;
}
