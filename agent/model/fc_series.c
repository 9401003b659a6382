// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Reading request-rate series: gzip request-rate traces (data/traces/) and qlb agent history CSVs. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "forecast.h"

#define LINE_MAX_LEN 65536
#define TS_MAX_LEN 128

enum fmt { FMT_REQUESTS, FMT_NUM_REQUEST, FMT_HISTORY };

struct growable {
	double *v;
	size_t n, cap;
};

static int push(struct growable *g, double v)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 4096;
		double *nv = realloc(g->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		g->v = nv;
		g->cap = cap;
	}
	g->v[g->n++] = v;
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	if (e - s >= 2 && s[0] == '"' && e[-1] == '"') {
		e[-1] = '\0';
		s++;
	}
	return s;
}

/* Returns the idx-th comma-separated field (0-based) of line, NUL-terminated
 * in place, or NULL if the line has fewer fields. */
static char *field(char *line, int idx)
{
	char *p = line;

	for (int i = 0; i < idx; i++) {
		p = strchr(p, ',');
		if (!p)
			return NULL;
		p++;
	}
	{
		char *end = strchr(p, ',');

		if (end)
			*end = '\0';
	}
	return trim(p);
}

/* 0 with *v = value or NaN for an empty/NA field; -EINVAL for garbage. */
static int parse_value(const char *s, double *v)
{
	char *end;

	if (!*s || !strcasecmp(s, "nan") || !strcasecmp(s, "na") || !strcasecmp(s, "null")) {
		*v = NAN;
		return 0;
	}
	errno = 0;
	*v = strtod(s, &end);
	if (end == s || *end || errno == ERANGE || !isfinite(*v))
		return -EINVAL;
	return 0;
}

/* Reads one line; -E2BIG if longer than the buffer, 0 at EOF, 1 otherwise. */
static int read_line(gzFile gz, char *buf, int cap)
{
	size_t len;

	if (!gzgets(gz, buf, cap))
		return 0;
	len = strlen(buf);
	if (len == (size_t)cap - 1 && buf[len - 1] != '\n' && !gzeof(gz))
		return -E2BIG;
	return 1;
}

int fc_series_read(const char *path, const struct fc_series_opts *o, struct fc_series *s,
		   struct qlb_error *err)
{
	struct fc_series_opts none = { 0 };
	struct growable raw = { 0 };
	char *line = NULL, prev_ts[TS_MAX_LEN] = "";
	size_t rows = 0, lineno = 1, k;
	double group = 0;
	int have_group = 0, col = -1, ts_col = -1, rc = 0, r;
	enum fmt fmt = FMT_REQUESTS;
	gzFile gz;

	if (!o)
		o = &none;
	memset(s, 0, sizeof(*s));
	k = o->aggregate ? o->aggregate : 1;
	gz = gzopen(path, "rb");
	if (!gz) {
		rc = errno ? -errno : -ENOMEM;
		qlb_error_set(err, 0, "%s: %s", path, errno ? strerror(errno) : "cannot open");
		return rc;
	}
	line = malloc(LINE_MAX_LEN);
	if (!line) {
		gzclose(gz);
		qlb_error_set(err, 0, "out of memory");
		return -ENOMEM;
	}

	r = read_line(gz, line, LINE_MAX_LEN);
	if (r <= 0) {
		qlb_error_set(err, 0, "%.60s: %s", path, r ? "header line too long" : "empty file");
		rc = r ? r : -EINVAL;
		goto out;
	}
	{
		int idx = 0;

		for (char *tok = line, *next; tok; tok = next, idx++) {
			char *name;

			next = strchr(tok, ',');
			if (next)
				*next++ = '\0';
			name = trim(tok);
			if (!strcmp(name, "requests") && col < 0) {
				col = idx;
				fmt = FMT_REQUESTS;
			} else if (!strcmp(name, "num_request") && col < 0) {
				col = idx;
				fmt = FMT_NUM_REQUEST;
			} else if (!strcmp(name, "lambda")) {
				col = idx;
				fmt = FMT_HISTORY;
			} else if (!strcmp(name, "ts")) {
				ts_col = idx;
			}
		}
	}
	if (col < 0 || (fmt == FMT_HISTORY && ts_col < 0)) {
		qlb_error_set(err, 0,
			 "%.60s: header has no requests, num_request or ts+lambda column", path);
		rc = -EINVAL;
		goto out;
	}
	strcpy(s->column, fmt == FMT_REQUESTS ? "requests" :
			  fmt == FMT_NUM_REQUEST ? "num_request" : "lambda");
	s->interval_s = fmt == FMT_REQUESTS ? 1.0 : fmt == FMT_NUM_REQUEST ? 60.0 : 0.0;

	while ((r = read_line(gz, line, LINE_MAX_LEN)) > 0) {
		char copy[TS_MAX_LEN], *f;
		double v;

		lineno++;
		if (!*trim(line))
			continue;
		if (fmt == FMT_HISTORY) {
			/* field() cuts the line, so fetch ts from a copy first */
			char *lc = strdup(line), *ts;

			if (!lc) {
				rc = -ENOMEM;
				qlb_error_set(err, 0, "out of memory");
				goto out;
			}
			ts = field(lc, ts_col);
			snprintf(copy, sizeof(copy), "%s", ts ? ts : "");
			free(lc);
			if (!ts) {
				qlb_error_set(err, 0, "%.60s:%zu: missing ts field", path, lineno);
				rc = -EINVAL;
				goto out;
			}
		}
		f = field(line, col);
		if (!f) {
			qlb_error_set(err, 0, "%.60s:%zu: missing %s field", path, lineno,
				 s->column);
			rc = -EINVAL;
			goto out;
		}
		if (parse_value(f, &v)) {
			qlb_error_set(err, 0, "%.60s:%zu: bad %s value '%.16s'", path, lineno,
				 s->column, f);
			rc = -EINVAL;
			goto out;
		}
		if (fmt == FMT_HISTORY) {
			if (have_group && !strcmp(copy, prev_ts)) {
				group += v; /* NaN stays NaN: the window is incomplete */
				continue;
			}
			if (have_group) {
				if (rows >= o->offset && (rc = push(&raw, group)))
					goto nomem;
				rows++;
				if (o->limit && rows >= o->offset + o->limit) {
					have_group = 0;
					break;
				}
			}
			memcpy(prev_ts, copy, sizeof(prev_ts));
			group = v;
			have_group = 1;
			continue;
		}
		if (rows >= o->offset && (rc = push(&raw, v)))
			goto nomem;
		rows++;
		if (o->limit && rows >= o->offset + o->limit)
			break;
	}
	if (r < 0) {
		qlb_error_set(err, 0, "%.60s:%zu: line too long", path, lineno + 1);
		rc = r;
		goto out;
	}
	if (have_group) {
		if (rows >= o->offset && (rc = push(&raw, group)))
			goto nomem;
		rows++;
	}
	{
		int gzerr;
		const char *msg = gzerror(gz, &gzerr);

		if (gzerr != Z_OK && gzerr != Z_BUF_ERROR) {
			qlb_error_set(err, 0, "%.60s: read error: %.50s", path, msg);
			rc = -EIO;
			goto out;
		}
	}
	if (rows <= o->offset) {
		qlb_error_set(err, 0, "%.60s: no rows after offset %zu", path, o->offset);
		rc = -EINVAL;
		goto out;
	}
	s->n = raw.n / k;
	s->v = malloc((s->n ? s->n : 1) * sizeof(double));
	if (!s->v)
		goto nomem;
	for (size_t i = 0; i < s->n; i++) {
		double sum = 0;

		for (size_t j = 0; j < k; j++)
			sum += raw.v[i * k + j];
		s->v[i] = sum;
	}
	s->interval_s *= (double)k;
	if (!s->n) {
		qlb_error_set(err, 0, "%.60s: fewer rows than one aggregate of %zu", path, k);
		rc = -EINVAL;
	}
	goto out;
nomem:
	rc = -ENOMEM;
	qlb_error_set(err, 0, "out of memory");
out:
	free(raw.v);
	free(line);
	gzclose(gz);
	if (rc)
		fc_series_free(s);
	return rc;
}

void fc_series_free(struct fc_series *s)
{
	if (!s)
		return;
	free(s->v);
	s->v = NULL;
	s->n = 0;
}
