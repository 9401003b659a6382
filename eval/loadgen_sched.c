// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* qlb-loadgen's command line and seeded schedule (see loadgen_sched.h). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen_sched.h"
#include "parse.h"	/* qlb_parse_u64, qlb_parse_double */

const char lg_usage[] =
	"usage: qlb-loadgen --url http://HOST[:PORT]/ --files NAME,NAME,... --requests N\n"
	"                   --rate R --seed S [options]\n"
	"\n"
	"Open-loop HTTP/1.1 load from a seeded schedule: request i starts at its\n"
	"scheduled time whether or not earlier ones have finished, on a new TCP\n"
	"connection (\"Connection: close\"), and GETs URL + NAME, the names taken in\n"
	"a fresh random order in every block of as many requests as there are names.\n"
	"\n"
	"  --url URL           http:// URL ending in '/'; the names are appended\n"
	"  --files LIST        comma-separated names of [A-Za-z0-9._~%/-], 1..65536\n"
	"  --requests N        requests to schedule, 1..10000000\n"
	"  --rate R            mean requests per second, 0.1..1000000\n"
	"  --seed S            seed of the schedule, 0..2^64-1\n"
	"  --arrivals KIND     uniform (inter-arrival U[0, 2/R], as in the DLBQT paper),\n"
	"                      poisson or const (default uniform)\n"
	"  --timeout SEC       per request, 0.001..3600 (default 10); the run ends at\n"
	"                      the last scheduled start + SEC\n"
	"  --max-inflight N    requests in flight at most, 1..65536 (default 4096); a\n"
	"                      request due while N are in flight is not sent, but\n"
	"                      counted as dropped_client\n"
	"  --log FILE          one CSV row per request, in completion order:\n"
	"                      idx,file,sched_us,start_us,connect_us,ttfb_us,total_us,\n"
	"                      bytes,http_status,curl_code; sched_us and start_us from\n"
	"                      the run start, the others durations from start_us\n"
	"                      (connect_us and ttfb_us by libcurl, 0 if not reached);\n"
	"                      dropped requests have empty start..total and curl_code\n"
	"  --compressed        ask for a gzip-encoded response (Accept-Encoding), as\n"
	"                      curl --compressed does; bytes counts the decoded body\n"
	"  --json              summary as one JSON object\n"
	"  --dump-schedule     print \"offset_us file\" lines and exit without sending\n"
	"                      (--url is optional then)\n"
	"  --help              this text\n"
	"\n"
	"Summary: requests, sent, ok (2xx and the whole body), failed (curl error or\n"
	"not 2xx; timeouts are failures too), timeouts, dropped_client, bytes (body),\n"
	"duration_s (first start to last completion), rps and bits_per_s (ok requests\n"
	"and body bytes over duration_s), mean_ms, p50_ms, p99_ms (response times of\n"
	"ok requests, completion - start), max_lag_ms (latest start after its\n"
	"schedule), seed, rate.\n"
	"Exit status: 0 done (whatever the responses), 1 runtime failure or\n"
	"interrupted, 2 bad arguments.\n";

enum {
	OPT_URL = 256, OPT_FILES, OPT_REQUESTS, OPT_RATE, OPT_SEED, OPT_ARRIVALS, OPT_TIMEOUT,
	OPT_MAX_INFLIGHT, OPT_LOG, OPT_COMPRESSED, OPT_JSON, OPT_DUMP, OPT_HELP = 'h',
};

static const struct option options[] = {
	{ "url", required_argument, NULL, OPT_URL },
	{ "files", required_argument, NULL, OPT_FILES },
	{ "requests", required_argument, NULL, OPT_REQUESTS },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "arrivals", required_argument, NULL, OPT_ARRIVALS },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "max-inflight", required_argument, NULL, OPT_MAX_INFLIGHT },
	{ "log", required_argument, NULL, OPT_LOG },
	{ "compressed", no_argument, NULL, OPT_COMPRESSED },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "dump-schedule", no_argument, NULL, OPT_DUMP },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

__attribute__((format(printf, 3, 4)))
static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out,
		     char *err, size_t errlen)
{
	if (qlb_parse_u64(s, lo, hi, out))
		return bad(err, errlen, "--%s: '%s' is not an integer in %llu..%llu", opt, s,
			   (unsigned long long)lo, (unsigned long long)hi);
	return 0;
}

static int parse_num(const char *opt, const char *s, double lo, double hi, double *out,
		     char *err, size_t errlen)
{
	if (qlb_parse_double(s, lo, hi, out))
		return bad(err, errlen, "--%s: '%s' is not a number in %g..%g", opt, s, lo, hi);
	return 0;
}

static int url_ok(const char *u)
{
	const char *host = u + 7, *path;

	if (strncmp(u, "http://", 7))
		return 0;
	path = strchr(host, '/');
	if (!path || path == host || path[strlen(path) - 1] != '/')
		return 0;
	for (const char *p = host; *p; p++)
		if (*p <= ' ' || *p == 0x7f || *p == '?' || *p == '#')
			return 0;
	return 1;
}

static int name_ok(const char *n)
{
	if (!*n || *n == '/')
		return 0;
	return strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~%/-") ==
	       strlen(n);
}

/* Splits s on ',' into o->files: the pointers, then a copy of s. */
static int parse_files(const char *s, struct lg_opts *o, char *err, size_t errlen)
{
	size_t len = strlen(s), n = 1;
	char *buf, *tok;

	for (const char *p = s; *p; p++)
		n += *p == ',';
	if (n > LG_MAX_FILES)
		return bad(err, errlen, "--files: more than %u names", LG_MAX_FILES);
	free(o->files);
	o->nfiles = 0;
	o->files = malloc(n * sizeof(*o->files) + len + 1);
	if (!o->files)
		return bad(err, errlen, "--files: out of memory");
	buf = memcpy(o->files + n, s, len + 1);
	while ((tok = strsep(&buf, ",")))
		o->files[o->nfiles++] = tok;
	for (uint32_t i = 0; i < o->nfiles; i++)
		if (!name_ok(o->files[i]))
			return bad(err, errlen, "--files: bad name '%s' (want [A-Za-z0-9._~%%/-], "
				   "not starting with '/')", o->files[i]);
	return 0;
}

static int parse_arrivals(const char *s, enum lg_arrivals *a, char *err, size_t errlen)
{
	static const char *const names[] = { "uniform", "poisson", "const" };

	for (int i = 0; i < 3; i++) {
		if (!strcmp(s, names[i])) {
			*a = (enum lg_arrivals)i;
			return 0;
		}
	}
	return bad(err, errlen, "--arrivals: '%s' is not uniform, poisson or const", s);
}

static int parse_opt(int c, const char *arg, struct lg_opts *o, char *err, size_t errlen)
{
	uint64_t v;
	int rc;

	switch (c) {
	case OPT_URL:
		if (!url_ok(arg))
			return bad(err, errlen, "--url: '%s' is not http://HOST[:PORT]/ ending in '/'",
				   arg);
		o->url = arg;
		return 0;
	case OPT_FILES:
		return parse_files(arg, o, err, errlen);
	case OPT_REQUESTS:
		return parse_u64("requests", arg, 1, LG_MAX_REQUESTS, &o->requests, err, errlen);
	case OPT_RATE:
		return parse_num("rate", arg, LG_MIN_RATE, LG_MAX_RATE, &o->rate, err, errlen);
	case OPT_SEED:
		return parse_u64("seed", arg, 0, UINT64_MAX, &o->seed, err, errlen);
	case OPT_ARRIVALS:
		return parse_arrivals(arg, &o->arrivals, err, errlen);
	case OPT_TIMEOUT:
		return parse_num("timeout", arg, 0.001, LG_MAX_TIMEOUT_S, &o->timeout_s, err,
				 errlen);
	case OPT_MAX_INFLIGHT:
		rc = parse_u64("max-inflight", arg, 1, LG_MAX_INFLIGHT, &v, err, errlen);
		o->max_inflight = (uint32_t)v;
		return rc;
	case OPT_LOG:
		if (!*arg)
			return bad(err, errlen, "--log: empty file name");
		o->log = arg;
		return 0;
	case OPT_COMPRESSED:
		o->compressed = 1;
		return 0;
	case OPT_JSON:
		o->json = 1;
		return 0;
	case OPT_DUMP:
		o->dump = 1;
		return 0;
	default:
		o->help = 1;
		return 0;
	}
}

int lg_parse_args(int argc, char **argv, struct lg_opts *o, char *err, size_t errlen)
{
	int c, rc, have_seed = 0;

	*o = (struct lg_opts){
		.arrivals = LG_ARR_UNIFORM,
		.timeout_s = LG_DEFAULT_TIMEOUT_S,
		.max_inflight = LG_DEFAULT_INFLIGHT,
	};
	optind = 0; /* glibc: a full reset, for callers that parse twice */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (c == '?')
			return bad(err, errlen, "unknown option '%s'", argv[optind - 1]);
		if (c == ':')
			return bad(err, errlen, "option '%s' needs a value", argv[optind - 1]);
		rc = parse_opt(c, optarg, o, err, errlen);
		if (rc)
			return rc;
		have_seed |= c == OPT_SEED;
	}
	if (o->help)
		return 0;
	if (optind < argc)
		return bad(err, errlen, "unexpected argument '%s'", argv[optind]);
	if (!o->url && !o->dump)
		return bad(err, errlen, "--url is required");
	if (!o->files)
		return bad(err, errlen, "--files is required");
	if (!o->requests)
		return bad(err, errlen, "--requests is required");
	if (!o->rate)
		return bad(err, errlen, "--rate is required");
	if (!have_seed)
		return bad(err, errlen, "--seed is required");
	return 0;
}

void lg_opts_free(struct lg_opts *o)
{
	free(o->files);
	o->files = NULL;
	o->nfiles = 0;
}

/* ------------------------------------------------------------ schedule */

static void shuffle(struct lg_sched *s)
{
	for (uint32_t i = 0; i < s->nfiles; i++)
		s->perm[i] = i;
	for (uint32_t i = s->nfiles - 1; i > 0; i--) {
		uint32_t j = qlb_rng_below(&s->rng, i + 1), t = s->perm[i];

		s->perm[i] = s->perm[j];
		s->perm[j] = t;
	}
}

/* Truncated to whole ns: the mean gap is 1/rate - 0.5 ns. */
static uint64_t gap_ns(struct lg_sched *s)
{
	switch (s->arrivals) {
	case LG_ARR_UNIFORM:
		return (uint64_t)(2e9 * qlb_rng_uniform(&s->rng) / s->rate);
	case LG_ARR_POISSON:
		return (uint64_t)(-log1p(-qlb_rng_uniform(&s->rng)) * 1e9 / s->rate);
	default:
		return (uint64_t)(1e9 / s->rate);
	}
}

int lg_sched_init(struct lg_sched *s, enum lg_arrivals arrivals, double rate, uint64_t seed,
		  uint32_t nfiles)
{
	*s = (struct lg_sched){ .arrivals = arrivals, .rate = rate, .nfiles = nfiles };
	if (!nfiles || nfiles > LG_MAX_FILES || !(rate >= LG_MIN_RATE && rate <= LG_MAX_RATE) ||
	    arrivals > LG_ARR_CONST)
		return -EINVAL;
	s->perm = malloc(nfiles * sizeof(*s->perm));
	if (!s->perm)
		return -ENOMEM;
	qlb_rng_seed(&s->rng, seed);
	s->pos = nfiles; /* the first call shuffles */
	return 0;
}

void lg_sched_next(struct lg_sched *s, uint64_t *t_ns, uint32_t *file)
{
	if (s->pos == s->nfiles) {
		shuffle(s);
		s->pos = 0;
	}
	*file = s->perm[s->pos++];
	s->t_ns += gap_ns(s);
	*t_ns = s->t_ns;
}

void lg_sched_free(struct lg_sched *s)
{
	free(s->perm);
	s->perm = NULL;
}
