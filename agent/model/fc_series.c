// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Reading request-rate series: the gzip traces of data/traces/ and qlb agent
 * history CSVs. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "array.h"
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
	return QLB_ARRAY_PUSH(g->v, g->n, g->cap, 4096, v);
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

/* One pass over a trace file. */
struct reader {
	const char *path;
	const struct fc_series_opts *o;
	struct qlb_error *err;
	gzFile gz;
	char *line;
	size_t lineno;
	enum fmt fmt;
	int col, ts_col;	/* of the value and (history) of the timestamp */
	struct growable raw;	/* the rows kept, before aggregation */
	size_t rows;		/* rows read, offset included */
	/* History CSVs: lambda summed over consecutive rows of one ts. */
	char prev_ts[TS_MAX_LEN];
	double group;
	int have_group;
};

static int nomem(struct reader *r)
{
	qlb_error_set(r->err, 0, "out of memory");
	return -ENOMEM;
}

/* Finds the value column (requests, num_request, or lambda with ts). */
static int read_header(struct reader *r, struct fc_series *s)
{
	int got = read_line(r->gz, r->line, LINE_MAX_LEN), idx = 0;

	if (got <= 0) {
		qlb_error_set(r->err, 0, "%.60s: %s", r->path,
			      got ? "header line too long" : "empty file");
		return got ? got : -EINVAL;
	}
	for (char *tok = r->line, *next; tok; tok = next, idx++) {
		char *name;

		next = strchr(tok, ',');
		if (next)
			*next++ = '\0';
		name = trim(tok);
		if (!strcmp(name, "requests") && r->col < 0) {
			r->col = idx;
			r->fmt = FMT_REQUESTS;
		} else if (!strcmp(name, "num_request") && r->col < 0) {
			r->col = idx;
			r->fmt = FMT_NUM_REQUEST;
		} else if (!strcmp(name, "lambda")) {
			r->col = idx;
			r->fmt = FMT_HISTORY;
		} else if (!strcmp(name, "ts")) {
			r->ts_col = idx;
		}
	}
	if (r->col < 0 || (r->fmt == FMT_HISTORY && r->ts_col < 0)) {
		qlb_error_set(r->err, 0, "%.60s: header has no requests, num_request or ts+lambda "
			      "column", r->path);
		return -EINVAL;
	}
	strcpy(s->column, r->fmt == FMT_REQUESTS ? "requests" :
			  r->fmt == FMT_NUM_REQUEST ? "num_request" : "lambda");
	s->interval_s = r->fmt == FMT_REQUESTS ? 1.0 : r->fmt == FMT_NUM_REQUEST ? 60.0 : 0.0;
	return 0;
}

/* The value (and, for history, the ts) of the data line in r->line. */
static int parse_row(struct reader *r, const char *column, double *v, char ts[TS_MAX_LEN])
{
	char *f;

	if (r->fmt == FMT_HISTORY) {
		/* field() cuts the line, so fetch ts from a copy first */
		char *lc = strdup(r->line), *t;

		if (!lc)
			return nomem(r);
		t = field(lc, r->ts_col);
		snprintf(ts, TS_MAX_LEN, "%s", t ? t : "");
		free(lc);
		if (!t) {
			qlb_error_set(r->err, 0, "%.60s:%zu: missing ts field", r->path, r->lineno);
			return -EINVAL;
		}
	}
	f = field(r->line, r->col);
	if (!f) {
		qlb_error_set(r->err, 0, "%.60s:%zu: missing %s field", r->path, r->lineno, column);
		return -EINVAL;
	}
	if (parse_value(f, v)) {
		qlb_error_set(r->err, 0, "%.60s:%zu: bad %s value '%.16s'", r->path, r->lineno,
			      column, f);
		return -EINVAL;
	}
	return 0;
}

/* Counts one row, kept past the offset: 1 once the limit is reached. */
static int take(struct reader *r, double v)
{
	if (r->rows >= r->o->offset && push(&r->raw, v))
		return nomem(r);
	r->rows++;
	return r->o->limit && r->rows >= r->o->offset + r->o->limit;
}

/* One data row of a history CSV: rows of one ts add up to one value. */
static int take_history(struct reader *r, double v, const char *ts)
{
	int rc = 0;

	if (r->have_group && !strcmp(ts, r->prev_ts)) {
		r->group += v;	/* NaN stays NaN: the window is incomplete */
		return 0;
	}
	if (r->have_group) {
		rc = take(r, r->group);
		if (rc) {
			r->have_group = 0;
			return rc;
		}
	}
	snprintf(r->prev_ts, sizeof(r->prev_ts), "%s", ts);
	r->group = v;
	r->have_group = 1;
	return 0;
}

static int read_rows(struct reader *r, const char *column)
{
	char ts[TS_MAX_LEN];
	int got, rc;
	double v;

	while ((got = read_line(r->gz, r->line, LINE_MAX_LEN)) > 0) {
		r->lineno++;
		if (!*trim(r->line))
			continue;
		rc = parse_row(r, column, &v, ts);
		if (!rc)
			rc = r->fmt == FMT_HISTORY ? take_history(r, v, ts) : take(r, v);
		if (rc)
			return rc > 0 ? 0 : rc;
	}
	if (got < 0) {
		qlb_error_set(r->err, 0, "%.60s:%zu: line too long", r->path, r->lineno + 1);
		return got;
	}
	if (r->have_group && (rc = take(r, r->group)) < 0)
		return rc;
	{
		int gzerr;
		const char *msg = gzerror(r->gz, &gzerr);

		if (gzerr != Z_OK && gzerr != Z_BUF_ERROR) {
			qlb_error_set(r->err, 0, "%.60s: read error: %.50s", r->path, msg);
			return -EIO;
		}
	}
	return 0;
}

/* Sums every k rows kept into one point of s. */
static int aggregate(struct reader *r, struct fc_series *s, size_t k)
{
	if (r->rows <= r->o->offset) {
		qlb_error_set(r->err, 0, "%.60s: no rows after offset %zu", r->path, r->o->offset);
		return -EINVAL;
	}
	s->n = r->raw.n / k;
	s->v = malloc((s->n ? s->n : 1) * sizeof(double));
	if (!s->v)
		return nomem(r);
	for (size_t i = 0; i < s->n; i++) {
		double sum = 0;

		for (size_t j = 0; j < k; j++)
			sum += r->raw.v[i * k + j];
		s->v[i] = sum;
	}
	s->interval_s *= (double)k;
	if (!s->n) {
		qlb_error_set(r->err, 0, "%.60s: fewer rows than one aggregate of %zu", r->path, k);
		return -EINVAL;
	}
	return 0;
}

int fc_series_read(const char *path, const struct fc_series_opts *o, struct fc_series *s,
		   struct qlb_error *err)
{
	static const struct fc_series_opts none = { 0 };
	struct reader r = { .path = path, .o = o ? o : &none, .err = err, .lineno = 1,
			    .fmt = FMT_REQUESTS, .col = -1, .ts_col = -1 };
	int rc;

	memset(s, 0, sizeof(*s));
	r.gz = gzopen(path, "rb");
	if (!r.gz) {
		rc = errno ? -errno : -ENOMEM;
		qlb_error_set(err, 0, "%s: %s", path, errno ? strerror(errno) : "cannot open");
		return rc;
	}
	r.line = malloc(LINE_MAX_LEN);
	rc = r.line ? read_header(&r, s) : nomem(&r);
	if (!rc)
		rc = read_rows(&r, s->column);
	if (!rc)
		rc = aggregate(&r, s, r.o->aggregate ? r.o->aggregate : 1);
	free(r.raw.v);
	free(r.line);
	gzclose(r.gz);
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
