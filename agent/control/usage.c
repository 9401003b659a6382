// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Backends' CPU and memory utilisation (usage.h), from cgroup v1 files or a
 * Prometheus text endpoint.
 *
 * HTTP goes through libcurl (Debian's libcurl4-openssl-dev): a well-kept
 * client that gets timeouts, keep-alive, chunked and compressed bodies,
 * https and many concurrent requests right, none of which is worth writing
 * again. The exposition itself is read by the small, strict line parser
 * below: the text format is line-based, and Debian ships no C parser for it
 * (prometheus-cpp is a C++ library for exporting metrics, not reading them).
 * Strict, because a body cut short or garbled must give NAN, not a
 * plausible utilisation computed from half the CPUs.
 */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "usage.h"

#define CGROUP_ROOT "/sys/fs/cgroup"
#define MAX_BODY (16u << 20)
#define CPU_METRIC "node_cpu_seconds_total"
#define MEM_AVAIL_METRIC "node_memory_MemAvailable_bytes"
#define MEM_TOTAL_METRIC "node_memory_MemTotal_bytes"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;
static struct curl_slist *accept_header;

/* curl_global_init is not thread-safe: once per process. */
static void curl_init(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
	/* The classic text format, not OpenMetrics. */
	accept_header = curl_slist_append(NULL, "Accept: text/plain;version=0.0.4");
	if (!curl_init_result && !accept_header)
		curl_init_result = CURLE_OUT_OF_MEMORY;
}

static double clamp01(double x)
{
	return x < 0 ? 0 : x > 1 ? 1 : x;
}

/* ------------------------------------------------------------ parsing */

/* Relative, no empty, "." or ".." component: it stays under each mount. */
static int valid_cgroup_path(const char *s)
{
	size_t len = strlen(s);
	const char *c;

	if (!len || len >= sizeof(((struct qlb_usage_src *)0)->target) || s[0] == '/' ||
	    s[len - 1] == '/')
		return 0;
	for (c = s; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return 0;
	for (c = s; *c;) {
		const char *e = strchrnul(c, '/');
		size_t n = e - c;

		if (!n || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return 0;
		c = *e ? e + 1 : e;
	}
	return 1;
}

/* libcurl's own URL parser decides; we only insist on http(s) and a host. */
static int valid_url(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int ok;

	if (!u)
		return 0;
	ok = strlen(url) < sizeof(((struct qlb_usage_src *)0)->target) &&
	     !curl_url_set(u, CURLUPART_URL, url, 0) &&
	     !curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) &&
	     !curl_url_get(u, CURLUPART_HOST, &host, 0) &&
	     (!strcmp(scheme, "http") || !strcmp(scheme, "https")) && host[0];
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

int qlb_usage_parse(const char *spec, struct qlb_usage_src *src)
{
	const char *rest;

	memset(src, 0, sizeof(*src));
	src->cpu_util = src->mem_util = src->at = NAN;
	src->timeout_ms = QLB_USAGE_TIMEOUT_MS;
	if (!spec)
		return -EINVAL;
	if (!strncmp(spec, "cgroup:", 7)) {
		rest = spec + 7;
		if (!valid_cgroup_path(rest))
			return -EINVAL;
		src->kind = QLB_USAGE_CGROUP;
	} else if (!strncmp(spec, "prom:", 5)) {
		rest = spec + 5;
		pthread_once(&curl_once, curl_init);
		if (curl_init_result)
			return -ENOMEM;
		if (!valid_url(rest))
			return -EINVAL;
		src->kind = QLB_USAGE_PROM;
	} else {
		return -EINVAL;
	}
	snprintf(src->target, sizeof(src->target), "%s", rest);
	return 0;
}

/* ------------------------------------------------------------- cgroup */

static int read_i64(const char *ctrl, const char *rel, const char *file, int64_t *v)
{
	char path[sizeof(CGROUP_ROOT) + 600];
	long long x;
	FILE *f;
	int n;

	snprintf(path, sizeof(path), CGROUP_ROOT "/%s/%s/%s", ctrl, rel, file);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = fscanf(f, "%lld", &x);
	fclose(f);
	if (n != 1)
		return -EIO;
	*v = x;
	return 0;
}

/* v1 mounts cpu and cpuacct apart or together, as "cpu,cpuacct". */
static int read_cpu_file(const char *ctrl, const char *rel, const char *file, int64_t *v)
{
	int err = read_i64(ctrl, rel, file, v);

	return err == -ENOENT ? read_i64("cpu,cpuacct", rel, file, v) : err;
}

static int cgroup_sample(struct qlb_usage_src *s, double now_s)
{
	int64_t usage, quota, period, mem, limit;
	int err, merr;

	err = read_cpu_file("cpuacct", s->target, "cpuacct.usage", &usage);
	if (!err) {
		double busy = usage / 1e9, cpus = (double)sysconf(_SC_NPROCESSORS_ONLN);

		if (!read_cpu_file("cpu", s->target, "cpu.cfs_quota_us", &quota) && quota > 0 &&
		    !read_cpu_file("cpu", s->target, "cpu.cfs_period_us", &period) && period > 0)
			cpus = (double)quota / period;
		/* A counter that went back (a recreated group) primes again. */
		if (s->primed && now_s > s->at && busy >= s->busy_s && cpus > 0)
			s->cpu_util = clamp01((busy - s->busy_s) / (now_s - s->at) / cpus);
		s->busy_s = busy;
		s->primed = 1;
	}
	merr = read_i64("memory", s->target, "memory.usage_in_bytes", &mem);
	if (!merr)
		merr = read_i64("memory", s->target, "memory.limit_in_bytes", &limit);
	if (!merr) {
		/* No limit reads as ~2^63: the machine's RAM bounds it then. */
		double ram = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
		double cap = limit > 0 && (double)limit < ram ? (double)limit : ram;

		s->mem_util = cap > 0 ? clamp01(mem / cap) : NAN;
	}
	return err ? err : merr;
}

/* --------------------------------------------------------- exposition */

struct prom_vals {
	double idle, total;	/* node_cpu_seconds_total: idle, all modes */
	uint32_t ncpus;		/* series with mode="idle" */
	double mem_avail, mem_total;
};

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static const char *skip_blanks(const char *p, const char *end)
{
	while (p < end && is_blank(*p))
		p++;
	return p;
}

/* ASCII only: the format's names are [a-zA-Z_:][a-zA-Z0-9_:]*, labels the
 * same without ':'. */
static int is_name_char(char c, int first, int colon)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       (colon && c == ':') || (!first && c >= '0' && c <= '9');
}

static int token_is(const char *p, size_t n, const char *word)
{
	return n == strlen(word) && !memcmp(p, word, n);
}

/* A sample value as Go's ParseFloat writes it: digits, '.', exponent,
 * sign, or NaN and (+/-)Inf. */
static int parse_value(const char *p, size_t n, double *v)
{
	char buf[64], *end;

	if (token_is(p, n, "NaN")) {
		*v = NAN;
		return 0;
	}
	if (token_is(p, n, "+Inf") || token_is(p, n, "Inf") || token_is(p, n, "-Inf")) {
		*v = p[0] == '-' ? -INFINITY : INFINITY;
		return 0;
	}
	if (!n || n >= sizeof(buf))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789.eE+-", p[i]))
			return -1;
	memcpy(buf, p, n);
	buf[n] = 0;
	*v = strtod(buf, &end);
	return *end ? -1 : 0;
}

/* Walks a label set from just after '{' to just after '}'; copies the value
 * of the label "mode" into mode (empty if absent or too long). Returns the
 * position after '}', or NULL if malformed. */
static const char *parse_labels(const char *p, const char *end, char *mode, size_t mode_len)
{
	mode[0] = 0;
	for (p = skip_blanks(p, end); p < end && *p != '}'; p = skip_blanks(p, end)) {
		const char *name = p;
		size_t name_len, len = 0;
		int is_mode, fits = 1;

		if (!is_name_char(*p, 1, 0))
			return NULL;
		while (p < end && is_name_char(*p, 0, 0))
			p++;
		name_len = p - name;
		is_mode = token_is(name, name_len, "mode");
		p = skip_blanks(p, end);
		if (p >= end || *p++ != '=')
			return NULL;
		p = skip_blanks(p, end);
		if (p >= end || *p++ != '"')
			return NULL;
		while (p < end && *p != '"') {
			char c = *p++;

			if (c == '\\') {
				if (p >= end)
					return NULL;
				c = *p++;
				if (c == 'n')
					c = '\n';
				else if (c != '\\' && c != '"')
					return NULL;
			}
			if (is_mode && len + 1 < mode_len)
				mode[len++] = c;
			else
				fits = 0;
		}
		if (p >= end)
			return NULL;
		p = skip_blanks(p + 1, end);	/* past the closing quote */
		if (is_mode)
			mode[fits ? len : 0] = 0;
		if (p < end && *p == ',')
			p++;
		else if (p < end && *p != '}')
			return NULL;
	}
	return p < end ? p + 1 : NULL;
}

/* One sample line, [p, end) without its newline and leading blanks:
 * name [labels] value [timestamp]. */
static int parse_sample(const char *p, const char *end, struct prom_vals *v)
{
	const char *name = p, *tok;
	char mode[16] = "";
	size_t name_len;
	double value;

	if (!is_name_char(*p, 1, 1))
		return -1;
	while (p < end && is_name_char(*p, 0, 1))
		p++;
	name_len = p - name;
	tok = p;
	p = skip_blanks(p, end);
	if (p < end && *p == '{') {
		p = parse_labels(p + 1, end, mode, sizeof(mode));
		if (!p)
			return -1;
		tok = p;
		p = skip_blanks(p, end);
	}
	if (p == tok)	/* the value glued to the name or the labels */
		return -1;
	for (tok = p; p < end && !is_blank(*p); p++)
		;
	if (parse_value(tok, p - tok, &value))
		return -1;
	p = skip_blanks(p, end);
	if (p < end) {	/* a timestamp: an integer, in milliseconds */
		if (*p == '-')
			p++;
		tok = p;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
		if (p == tok || skip_blanks(p, end) != end)
			return -1;
	}

	if (token_is(name, name_len, CPU_METRIC) && mode[0]) {
		v->total += value;
		if (!strcmp(mode, "idle")) {
			v->idle += value;
			v->ncpus++;
		}
	} else if (token_is(name, name_len, MEM_AVAIL_METRIC)) {
		v->mem_avail = value;
	} else if (token_is(name, name_len, MEM_TOTAL_METRIC)) {
		v->mem_total = value;
	}
	return 0;
}

/* The text exposition format, version 0.0.4: every line a comment, blank,
 * or a well-formed sample, and the last one ended by a newline. */
static int prom_parse(const char *text, size_t len, struct prom_vals *v)
{
	const char *p = text, *end = text + len;

	*v = (struct prom_vals){ .mem_avail = NAN, .mem_total = NAN };
	if (!len || text[len - 1] != '\n' || memchr(text, 0, len))
		return -EBADMSG;
	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);

		p = skip_blanks(p, nl);
		if (p < nl && *p != '#' && parse_sample(p, nl, v))
			return -EBADMSG;
		p = nl + 1;
	}
	return 0;
}

/* --------------------------------------------------------------- HTTP */

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct qlb_usage_src *s = ctx;
	size_t n = size * nmemb;

	if (n > MAX_BODY - s->len)
		return 0;	/* aborts the transfer */
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 64 << 10;
		char *grown;

		while (cap < s->len + n + 1)
			cap *= 2;
		grown = realloc(s->body, cap);
		if (!grown)
			return 0;
		s->body = grown;
		s->cap = cap;
	}
	memcpy(s->body + s->len, data, n);
	s->len += n;
	return n;
}

/* Readies the source's handle for one GET. Options are set every time:
 * the source may have moved since (a map grows by realloc). */
static int prom_prepare(struct qlb_usage_src *s)
{
	CURL *c = s->curl;

	if (!c && !(c = s->curl = curl_easy_init()))
		return -ENOMEM;
	s->len = 0;
	if (curl_easy_setopt(c, CURLOPT_URL, s->target) ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") ||
	    /* Straight to the backend, whatever http_proxy says. */
	    curl_easy_setopt(c, CURLOPT_PROXY, "") ||
	    /* No SIGALRM for name lookups: the agent has threads. */
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms) ||
	    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "") ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, accept_header) ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, s) ||
	    curl_easy_setopt(c, CURLOPT_PRIVATE, s))
		return -ENOMEM;
	return 0;
}

static int curl_errno(CURLcode res)
{
	switch (res) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_WRITE_ERROR:
		return -EFBIG;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* Turns a finished transfer (res, or err if it never started) into values. */
static int prom_finish(struct qlb_usage_src *s, int err)
{
	struct prom_vals v;
	long status = 0;
	double busy;

	if (!err && (curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status) || status != 200))
		err = -EPROTO;
	if (!err)
		err = prom_parse(s->body, s->len, &v);
	if (err)
		return err;	/* the counters stay: the next rate spans two windows */
	if (v.mem_total > 0 && v.mem_avail >= 0)
		s->mem_util = clamp01(1 - v.mem_avail / v.mem_total);
	if (!v.ncpus || !isfinite(v.total) || !isfinite(v.idle))
		return 0;
	/* The idle share of all CPU time the exporter accounted, rather than
	 * of our clock's window: scrape latency does not bias it. A counter
	 * that went back or a CPU that came or went primes again. */
	busy = v.total - v.idle;
	if (s->primed && v.ncpus == s->ncpus && v.total > s->total_s && busy >= s->busy_s &&
	    v.total - s->total_s >= busy - s->busy_s)
		s->cpu_util = clamp01((busy - s->busy_s) / (v.total - s->total_s));
	s->busy_s = busy;
	s->total_s = v.total;
	s->ncpus = v.ncpus;
	s->primed = 1;
	return 0;
}

/* ----------------------------------------------------------- sampling */

/* Clears the values before a sample; 0 if it must happen, 1 if cached. */
static int sample_begin(struct qlb_usage_src *s, double now_s)
{
	if (now_s == s->at)
		return 1;
	s->cpu_util = s->mem_util = NAN;
	return 0;
}

static int sample_end(struct qlb_usage_src *s, double now_s, int err)
{
	s->at = now_s;
	s->err = err;
	return err;
}

int qlb_usage_sample(struct qlb_usage_src *s, double now_s, double *cpu_util,
		     double *mem_util)
{
	int err;

	if (sample_begin(s, now_s)) {
		err = s->err;
	} else {
		switch (s->kind) {
		case QLB_USAGE_CGROUP:
			err = cgroup_sample(s, now_s);
			break;
		case QLB_USAGE_PROM:
			err = prom_prepare(s);
			err = prom_finish(s, err ? err : curl_errno(curl_easy_perform(s->curl)));
			break;
		default:
			err = -EINVAL;
		}
		sample_end(s, now_s, err);
	}
	if (cpu_util)
		*cpu_util = s->cpu_util;
	if (mem_util)
		*mem_util = s->mem_util;
	return err;
}

void qlb_usage_free(struct qlb_usage_src *s)
{
	if (!s)
		return;
	if (s->curl)
		curl_easy_cleanup(s->curl);
	free(s->body);
	s->curl = NULL;
	s->body = NULL;
	s->len = s->cap = 0;
}

/* ---------------------------------------------------------------- map */

int qlb_usage_map_parse(const char *arg, struct qlb_usage_map *map)
{
	const char *eq = arg ? strchr(arg, '=') : NULL;
	struct qlb_usage_entry e, *grown;
	char addr[INET6_ADDRSTRLEN + 16], why[128];
	uint32_t i;
	int err;

	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, arg, eq - arg);
	addr[eq - arg] = 0;
	if (qlb_parse_endpoint(addr, 0, &e.ep, why, sizeof(why)))
		return -EINVAL;
	err = qlb_usage_parse(eq + 1, &e.src);
	if (err)
		return err;
	for (i = 0; i < map->n && !err; i++)
		if (map->e[i].ep.family == e.ep.family && map->e[i].ep.port == e.ep.port &&
		    !memcmp(&map->e[i].ep.addr, &e.ep.addr, sizeof(e.ep.addr)))
			err = -EEXIST;
	grown = err ? NULL : realloc(map->e, (map->n + 1) * sizeof(*map->e));
	if (!grown) {
		qlb_usage_free(&e.src);
		return err ? err : -ENOMEM;
	}
	map->e = grown;
	map->e[map->n++] = e;
	return 0;
}

struct qlb_usage_src *qlb_usage_map_find(struct qlb_usage_map *map, const union qlb_addr *addr,
					 uint8_t family, uint16_t port)
{
	struct qlb_usage_src *any = NULL;

	for (uint32_t i = 0; i < map->n; i++) {
		struct qlb_usage_entry *e = &map->e[i];

		if (e->ep.family != family || memcmp(&e->ep.addr, addr, sizeof(*addr)))
			continue;
		if (e->ep.port == port)
			return &e->src;
		if (!e->ep.port)
			any = &e->src;
	}
	return any;
}

void qlb_usage_map_sample(struct qlb_usage_map *map, double now_s)
{
	CURLM *multi = map->multi;
	CURLMsg *msg;
	uint32_t i;
	int running = 0, left;

	if (!multi && map->n)
		multi = map->multi = curl_multi_init();
	for (i = 0; i < map->n; i++) {
		struct qlb_usage_src *s = &map->e[i].src;
		int err;

		if (s->kind != QLB_USAGE_PROM || !multi) {
			/* cgroup files, or HTTP one by one if curl_multi failed */
			qlb_usage_sample(s, now_s, NULL, NULL);
			continue;
		}
		if (sample_begin(s, now_s))
			continue;
		err = prom_prepare(s);
		if (!err && curl_multi_add_handle(multi, s->curl))
			err = -ENOMEM;
		if (err)
			sample_end(s, now_s, prom_finish(s, err));
		else
			s->at = NAN;	/* in flight */
	}
	if (!multi)
		return;
	/* Each transfer has its own timeout, so this ends within one. */
	do {
		if (curl_multi_perform(multi, &running))
			break;
		if (running && curl_multi_poll(multi, NULL, 0, 100, NULL))
			break;
	} while (running);
	while ((msg = curl_multi_info_read(multi, &left))) {
		char *priv = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		curl_multi_remove_handle(multi, msg->easy_handle);
		if (priv) {
			struct qlb_usage_src *s = (struct qlb_usage_src *)priv;

			sample_end(s, now_s, prom_finish(s, curl_errno(msg->data.result)));
		}
	}
	/* Anything still attached (the loop broke off) failed this window. */
	for (i = 0; i < map->n; i++) {
		struct qlb_usage_src *s = &map->e[i].src;

		if (s->kind == QLB_USAGE_PROM && s->curl && isnan(s->at)) {
			curl_multi_remove_handle(multi, s->curl);
			sample_end(s, now_s, -EIO);
		}
	}
}

void qlb_usage_map_free(struct qlb_usage_map *map)
{
	if (!map)
		return;
	for (uint32_t i = 0; i < map->n; i++)
		qlb_usage_free(&map->e[i].src);
	if (map->multi)
		curl_multi_cleanup(map->multi);
	free(map->e);
	memset(map, 0, sizeof(*map));
}
