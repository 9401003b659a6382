// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Utilisation sources (agent/control/usage.h): spec and --usage parsing; the cgroup
 * v1 source on real cgroups made here (qlbtest-PID under cpu, cpuacct and
 * memory) with a busy child held to 20% of a CPU, an idle one, and one that
 * allocates a known amount under a memory limit; the Prometheus source
 * against a small HTTP server on 127.0.0.1 in a thread, serving
 * node_exporter-like text, malformed text, errors and silence.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "usage.h"

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ------------------------------------------------------------ parsing */

static void test_parse_specs(void **state)
{
	static const char *const good[] = {
		"cgroup:qlbt/b1", "cgroup:a", "cgroup:system.slice/nginx@1.service",
		"prom:http://127.0.0.1:9100/metrics", "prom:https://node.example/metrics",
		"prom:http://[::1]:9100/metrics",
	};
	static const char *const bad[] = {
		"", "cgroup", "cgroup:", "cgroup:/qlbt/b1", "cgroup:qlbt/../b1", "cgroup:./b1",
		"cgroup:qlbt//b1", "cgroup:qlbt/", "cgroup:qlbt/b 1", "cgroup:..", "prom:",
		"prom:ftp://127.0.0.1/metrics", "prom:127.0.0.1:9100/metrics", "prom:http://",
		"prom:http://127.0.0.1/me trics", "unix:/run/x", "CGROUP:a",
	};
	struct qlb_usage_src src;
	char longpath[600];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(qlb_usage_parse(good[i], &src), 0);
		assert_string_equal(src.target, strchr(good[i], ':') + 1);
		assert_int_equal(src.kind, good[i][0] == 'c' ? QLB_USAGE_CGROUP : QLB_USAGE_PROM);
		assert_int_equal(src.timeout_ms, QLB_USAGE_TIMEOUT_MS);
		assert_true(isnan(src.cpu_util) && isnan(src.mem_util));
		qlb_usage_free(&src);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(qlb_usage_parse(bad[i], &src), -EINVAL);
		qlb_usage_free(&src);
	}
	assert_int_equal(qlb_usage_parse(NULL, &src), -EINVAL);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = 0;
	memcpy(longpath, "cgroup:", 7);
	assert_int_equal(qlb_usage_parse(longpath, &src), -EINVAL);
}

static void test_usage_map(void **state)
{
	static const char *const bad[] = {
		"10.200.1.11", "=cgroup:x", "10.200.1.11=", "10.200.1.300=cgroup:x",
		"2001:db8::11=cgroup:x", "10.200.1.11=bogus:x", "10.200.1.11:0=cgroup:x",
		"[2001:db8::11=cgroup:x",
	};
	struct qlb_usage_map map = {};
	struct qlb_endpoint ep;
	char why[128];
	size_t i;

	(void)state;
	assert_int_equal(qlb_usage_map_parse("10.200.1.11=cgroup:qlbt/b1", &map), 0);
	assert_int_equal(qlb_usage_map_parse("10.200.1.11:8080=prom:http://10.200.1.11:9100/metrics",
					     &map), 0);
	assert_int_equal(qlb_usage_map_parse("[2001:db8::11]=cgroup:qlbt/b6", &map), 0);
	assert_int_equal(qlb_usage_map_parse("10.200.1.11=cgroup:qlbt/other", &map), -EEXIST);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(qlb_usage_map_parse(bad[i], &map), -EINVAL);
	assert_int_equal(map.n, 3);

	/* The exact port first, then the address alone. */
	assert_int_equal(qlb_parse_endpoint("10.200.1.11", 0, &ep, why, sizeof(why)), 0);
	assert_ptr_equal(qlb_usage_map_find(&map, &ep.addr, ep.family, 8080), &map.e[1].src);
	assert_ptr_equal(qlb_usage_map_find(&map, &ep.addr, ep.family, 80), &map.e[0].src);
	assert_string_equal(qlb_usage_map_find(&map, &ep.addr, ep.family, 0)->target, "qlbt/b1");
	assert_int_equal(qlb_parse_endpoint("[2001:db8::11]", 0, &ep, why, sizeof(why)), 0);
	assert_string_equal(qlb_usage_map_find(&map, &ep.addr, ep.family, 80)->target, "qlbt/b6");
	assert_int_equal(qlb_parse_endpoint("10.200.1.12", 0, &ep, why, sizeof(why)), 0);
	assert_null(qlb_usage_map_find(&map, &ep.addr, ep.family, 80));
	qlb_usage_map_free(&map);
	assert_int_equal(map.n, 0);
	assert_null(map.e);
}

/* ------------------------------------------------------------- cgroup */

static const char *const controllers[] = { "cpu", "cpuacct", "memory" };
static char cg_name[64];
static pid_t children[4];

static int cg_path(char *buf, size_t len, const char *ctrl, const char *file)
{
	return snprintf(buf, len, "/sys/fs/cgroup/%s/%s%s%s", ctrl, cg_name, file ? "/" : "",
			file ? file : "") >= (int)len ? -ENAMETOOLONG : 0;
}

static int cg_write(const char *ctrl, const char *file, const char *fmt, ...)
{
	char path[256], val[64];
	va_list ap;
	FILE *f;
	int ok;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	if (cg_path(path, sizeof(path), ctrl, file))
		return -ENAMETOOLONG;
	f = fopen(path, "we");
	if (!f)
		return -errno;
	ok = fputs(val, f) >= 0;
	return fclose(f) || !ok ? -EIO : 0;
}

static void kill_children(void)
{
	for (size_t i = 0; i < sizeof(children) / sizeof(children[0]); i++) {
		if (children[i] <= 0)
			continue;
		kill(children[i], SIGKILL);
		waitpid(children[i], NULL, 0);
		children[i] = 0;
	}
}

static void remove_cgroups(const char *name_prefix_or_exact, int stale)
{
	for (size_t c = 0; c < sizeof(controllers) / sizeof(controllers[0]); c++) {
		char dir[128], path[400];
		struct dirent *de;
		DIR *d;

		snprintf(dir, sizeof(dir), "/sys/fs/cgroup/%s", controllers[c]);
		d = opendir(dir);
		if (!d)
			continue;
		while ((de = readdir(d))) {
			int pid;

			if (stale ? sscanf(de->d_name, "qlbtest-%d", &pid) != 1 || !kill(pid, 0) ||
				    errno != ESRCH
				  : strcmp(de->d_name, name_prefix_or_exact))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			rmdir(path);
		}
		closedir(d);
	}
}

/* Every exit path: the group teardown, and the next run for a test that
 * crashed (its cgroups name a dead pid; its children died with it). */
static int cgroup_teardown(void **state)
{
	(void)state;
	kill_children();
	if (cg_name[0])
		remove_cgroups(cg_name, 0);
	return 0;
}

static int cgroup_setup(void **state)
{
	(void)state;
	if (geteuid() || access("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", W_OK) ||
	    access("/sys/fs/cgroup/cpuacct/cpuacct.usage", R_OK) ||
	    access("/sys/fs/cgroup/memory/memory.limit_in_bytes", W_OK)) {
		cg_name[0] = 0;
		return 0;	/* the tests skip */
	}
	remove_cgroups(NULL, 1);
	snprintf(cg_name, sizeof(cg_name), "qlbtest-%d", (int)getpid());
	for (size_t c = 0; c < sizeof(controllers) / sizeof(controllers[0]); c++) {
		char path[256];

		cg_path(path, sizeof(path), controllers[c], NULL);
		if (mkdir(path, 0755) && errno != EEXIST) {
			cgroup_teardown(state);
			cg_name[0] = 0;
			return -1;
		}
	}
	return 0;
}

enum child_kind { CHILD_BUSY, CHILD_ALLOC };

/* A child in our cgroups, started once it is there: a busy loop, or one
 * that touches mb MiB and waits. Dies with us. Returns its slot or -1. */
static int spawn_in_cgroup(enum child_kind kind, size_t mb)
{
	int go[2], ready[2], slot = -1;
	pid_t parent = getpid(), pid;
	char c = 0;

	for (size_t i = 0; i < sizeof(children) / sizeof(children[0]) && slot < 0; i++)
		if (children[i] <= 0)
			slot = (int)i;
	if (slot < 0 || pipe2(go, O_CLOEXEC) || pipe2(ready, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent || read(go[0], &c, 1) != 1)
			_exit(1);
		if (kind == CHILD_BUSY) {
			volatile unsigned long spin = 0;

			for (;;)
				spin++;
		} else {
			size_t len = mb << 20;
			char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (p == MAP_FAILED)
				_exit(1);
			for (size_t off = 0; off < len; off += 4096)
				p[off] = 1;
			if (write(ready[1], "r", 1) != 1)
				_exit(1);
			for (;;)
				pause();
		}
	}
	children[slot] = pid;
	close(go[0]);
	close(ready[1]);
	for (size_t i = 0; i < sizeof(controllers) / sizeof(controllers[0]); i++)
		if (cg_write(controllers[i], "cgroup.procs", "%d", (int)pid))
			slot = -1;
	if (slot >= 0 && write(go[1], "g", 1) != 1)
		slot = -1;
	if (slot >= 0 && kind == CHILD_ALLOC) {
		struct pollfd pfd = { .fd = ready[0], .events = POLLIN };

		if (poll(&pfd, 1, 5000) != 1 || read(ready[0], &c, 1) != 1)
			slot = -1;
	}
	close(go[1]);
	close(ready[0]);
	return slot;
}

static void stop_child(int slot)
{
	kill(children[slot], SIGKILL);
	waitpid(children[slot], NULL, 0);
	children[slot] = 0;
}

/* src reading the test's cgroup. */
static void cgroup_source(struct qlb_usage_src *src)
{
	char spec[96];

	snprintf(spec, sizeof(spec), "cgroup:%s", cg_name);
	assert_int_equal(qlb_usage_parse(spec, src), 0);
}

static void test_cgroup_cpu_quota(void **state)
{
	struct qlb_usage_src src;
	double cpu, mem, t;
	int slot;

	(void)state;
	if (!cg_name[0])
		skip();
	/* 20% of one CPU. */
	assert_int_equal(cg_write("cpu", "cpu.cfs_period_us", "100000"), 0);
	assert_int_equal(cg_write("cpu", "cpu.cfs_quota_us", "20000"), 0);
	cgroup_source(&src);
	slot = spawn_in_cgroup(CHILD_BUSY, 0);
	assert_true(slot >= 0);

	t = qlb_mono_s();
	assert_int_equal(qlb_usage_sample(&src, t, &cpu, &mem), 0);
	assert_true(isnan(cpu));	/* primes */
	assert_true(mem >= 0 && mem <= 1);
	sleep_s(0.5);
	t = qlb_mono_s();
	assert_int_equal(qlb_usage_sample(&src, t, &cpu, &mem), 0);
	printf("# busy child at a 20%% quota: cpu_util %.3f\n", cpu);
	assert_true(cpu >= 0.85 && cpu <= 1.0);
	/* The same window again: the same answer, not a zero-length rate. */
	assert_int_equal(qlb_usage_sample(&src, t, &cpu, NULL), 0);
	assert_true(cpu >= 0.85);

	stop_child(slot);
	assert_int_equal(qlb_usage_sample(&src, qlb_mono_s(), &cpu, NULL), 0);
	sleep_s(0.3);
	assert_int_equal(qlb_usage_sample(&src, qlb_mono_s(), &cpu, NULL), 0);
	printf("# idle cgroup: cpu_util %.3f\n", cpu);
	assert_true(cpu >= 0 && cpu < 0.02);
	qlb_usage_free(&src);
}

static void test_cgroup_cpu_no_quota(void **state)
{
	long ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct qlb_usage_src src;
	double cpu;
	int slot;

	(void)state;
	if (!cg_name[0])
		skip();
	/* No quota: one busy thread is 1/ncpus of what the group may use. */
	assert_int_equal(cg_write("cpu", "cpu.cfs_quota_us", "-1"), 0);
	cgroup_source(&src);
	slot = spawn_in_cgroup(CHILD_BUSY, 0);
	assert_true(slot >= 0);
	assert_int_equal(qlb_usage_sample(&src, qlb_mono_s(), &cpu, NULL), 0);
	sleep_s(0.4);
	assert_int_equal(qlb_usage_sample(&src, qlb_mono_s(), &cpu, NULL), 0);
	stop_child(slot);
	printf("# busy child, no quota, %ld CPUs: cpu_util %.3f\n", ncpus, cpu);
	assert_true(cpu > 0.1 && cpu <= 1.0 / ncpus + 0.05);
	qlb_usage_free(&src);
}

static void test_cgroup_memory(void **state)
{
	struct qlb_usage_src src;
	double cpu, mem;
	int slot;

	(void)state;
	if (!cg_name[0])
		skip();
	/* 32 MiB touched under a 64 MiB limit. */
	assert_int_equal(cg_write("memory", "memory.limit_in_bytes", "%d", 64 << 20), 0);
	cgroup_source(&src);
	slot = spawn_in_cgroup(CHILD_ALLOC, 32);
	assert_true(slot >= 0);
	assert_int_equal(qlb_usage_sample(&src, qlb_mono_s(), &cpu, &mem), 0);
	stop_child(slot);
	printf("# 32 MiB of 64 MiB: mem_util %.3f\n", mem);
	assert_true(mem >= 0.48 && mem <= 0.65);
	qlb_usage_free(&src);

	/* A group that is not there: an error and NAN, no crash. */
	assert_int_equal(qlb_usage_parse("cgroup:qlbtest-none/nowhere", &src), 0);
	assert_int_equal(qlb_usage_sample(&src, qlb_mono_s(), &cpu, &mem), -ENOENT);
	assert_true(isnan(cpu) && isnan(mem));
	qlb_usage_free(&src);
}

/* ------------------------------------------------------- HTTP server */

struct server {
	int fd;
	uint16_t port;
	pthread_t thread;
	pthread_mutex_t lock;
	char *response;		/* the whole HTTP response */
	int hang;		/* read the request, then say nothing */
	int requests;
	int stop;
};

static struct server srv = { .fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER };

static void read_request(int c)
{
	char buf[4096];
	size_t got = 0;

	while (got < sizeof(buf) - 1) {
		struct pollfd pfd = { .fd = c, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 2000) != 1)
			return;
		n = read(c, buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			return;
		got += n;
		buf[got] = 0;
		if (strstr(buf, "\r\n\r\n"))
			return;
	}
}

static void *serve(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&srv.stop, __ATOMIC_ACQUIRE)) {
		struct pollfd pfd = { .fd = srv.fd, .events = POLLIN };
		char *resp;
		int c, hang;

		if (poll(&pfd, 1, 50) != 1)
			continue;
		c = accept4(srv.fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		read_request(c);
		pthread_mutex_lock(&srv.lock);
		resp = strdup(srv.response ? srv.response : "");
		hang = srv.hang;
		srv.requests++;
		pthread_mutex_unlock(&srv.lock);
		if (hang) {
			/* Until the client gives up. */
			pfd = (struct pollfd){ .fd = c, .events = POLLIN };
			poll(&pfd, 1, 3000);
		} else if (resp) {
			size_t off = 0, len = strlen(resp);

			while (off < len) {
				ssize_t n = send(c, resp + off, len - off, MSG_NOSIGNAL);

				if (n <= 0)
					break;
				off += n;
			}
		}
		free(resp);
		close(c);
	}
	return NULL;
}

/* Sets what the server answers; content_length < 0 means the body's. */
static void serve_raw(int status, const char *body, long content_length, int hang)
{
	size_t len = strlen(body) + 256;
	char *r = malloc(len);

	assert_non_null(r);
	snprintf(r, len,
		 "HTTP/1.1 %d X\r\nContent-Type: text/plain; version=0.0.4\r\n"
		 "Content-Length: %ld\r\nConnection: close\r\n\r\n%s",
		 status, content_length < 0 ? (long)strlen(body) : content_length, body);
	pthread_mutex_lock(&srv.lock);
	free(srv.response);
	srv.response = r;
	srv.hang = hang;
	pthread_mutex_unlock(&srv.lock);
}

static void serve_body(const char *body)
{
	serve_raw(200, body, -1, 0);
}

static int requests(void)
{
	int n;

	pthread_mutex_lock(&srv.lock);
	n = srv.requests;
	pthread_mutex_unlock(&srv.lock);
	return n;
}

static int server_teardown(void **state)
{
	(void)state;
	if (srv.fd >= 0) {
		__atomic_store_n(&srv.stop, 1, __ATOMIC_RELEASE);
		pthread_join(srv.thread, NULL);
		close(srv.fd);
		srv.fd = -1;
	}
	free(srv.response);
	srv.response = NULL;
	return 0;
}

static int server_setup(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);

	(void)state;
	srv.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (srv.fd < 0 || bind(srv.fd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(srv.fd, 16) || getsockname(srv.fd, (struct sockaddr *)&a, &alen) ||
	    pthread_create(&srv.thread, NULL, serve, NULL)) {
		if (srv.fd >= 0)
			close(srv.fd);
		srv.fd = -1;
		return -1;
	}
	srv.port = ntohs(a.sin_port);
	return 0;
}

/* node_exporter's text for two CPUs: cpu0 and cpu1 idle, user and system
 * seconds, plus what a real page carries around them. */
static const char *node_text(double idle0, double user0, double idle1, double user1)
{
	static char buf[2048];

	snprintf(buf, sizeof(buf),
		 "# HELP go_gc_duration_seconds A summary of the pause duration.\n"
		 "# TYPE go_gc_duration_seconds summary\n"
		 "go_gc_duration_seconds{quantile=\"0.5\"} 2.1e-05\n"
		 "go_gc_duration_seconds_sum 0.0123\n"
		 "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n"
		 "# TYPE node_cpu_seconds_total counter\n"
		 "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} %.2f\n"
		 "node_cpu_seconds_total{cpu=\"0\",mode=\"iowait\"} 1.5\n"
		 "node_cpu_seconds_total{cpu=\"0\",mode=\"system\"} 50\n"
		 "node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} %.2f\n"
		 "node_cpu_seconds_total{cpu=\"1\",mode=\"idle\"} %.2f\n"
		 "node_cpu_seconds_total{cpu=\"1\",mode=\"iowait\"} 1.5\n"
		 "node_cpu_seconds_total{cpu=\"1\",mode=\"system\"} 50\n"
		 "node_cpu_seconds_total{cpu=\"1\",mode=\"user\"} %.2f\n"
		 "\n"
		 "# HELP node_memory_MemAvailable_bytes Memory information field MemAvailable_bytes.\n"
		 "# TYPE node_memory_MemAvailable_bytes gauge\n"
		 "node_memory_MemAvailable_bytes 3.221225472e+09\n"
		 "node_memory_MemTotal_bytes 4.294967296e+09\n"
		 "node_filesystem_avail_bytes{device=\"/dev/sda1\",fstype=\"ext4\",mountpoint=\"/\"} 1e+10\n"
		 "node_textfile_scrape_error 0\n"
		 "weird_labels{path=\"a\\\\b\\\"c\\nd\",} +Inf 1700000000000\n"
		 "  spaced_metric  {  a = \"b\" , c=\"d\"  }   NaN   \n",
		 idle0, user0, idle1, user1);
	return buf;
}

/* src reading the test's node_exporter. */
static void prom_source(struct qlb_usage_src *src)
{
	char spec[96];

	assert_true(srv.fd >= 0);
	snprintf(spec, sizeof(spec), "prom:http://127.0.0.1:%u/metrics", srv.port);
	assert_int_equal(qlb_usage_parse(spec, src), 0);
}

static void test_prom_node_exporter(void **state)
{
	struct qlb_usage_src src;
	double cpu, mem, t = 100;
	int before;

	(void)state;
	prom_source(&src);

	serve_body(node_text(1000, 100, 900, 200));
	assert_int_equal(qlb_usage_sample(&src, t, &cpu, &mem), 0);
	assert_true(isnan(cpu));	/* primes */
	assert_float_equal(mem, 0.25, 1e-12);

	/* One second of each CPU: cpu0 0.5 s idle, cpu1 0.3 s idle. */
	serve_body(node_text(1000.5, 100.5, 900.3, 200.7));
	assert_int_equal(qlb_usage_sample(&src, t += 1, &cpu, &mem), 0);
	assert_float_equal(cpu, 0.6, 1e-9);
	assert_float_equal(mem, 0.25, 1e-12);

	/* The same window: no second request, the same values. */
	before = requests();
	assert_int_equal(qlb_usage_sample(&src, t, &cpu, &mem), 0);
	assert_int_equal(requests(), before);
	assert_float_equal(cpu, 0.6, 1e-9);

	/* Fully busy, then fully idle. */
	serve_body(node_text(1000.5, 101.5, 900.3, 201.7));
	assert_int_equal(qlb_usage_sample(&src, t += 1, &cpu, NULL), 0);
	assert_float_equal(cpu, 1.0, 1e-9);
	serve_body(node_text(1002.5, 101.5, 902.3, 201.7));
	assert_int_equal(qlb_usage_sample(&src, t += 1, &cpu, NULL), 0);
	assert_float_equal(cpu, 0.0, 1e-9);

	/* The exporter restarted: its counters went back. Primes again. */
	serve_body(node_text(10, 1, 10, 1));
	assert_int_equal(qlb_usage_sample(&src, t += 1, &cpu, &mem), 0);
	assert_true(isnan(cpu));
	assert_float_equal(mem, 0.25, 1e-12);
	serve_body(node_text(10.5, 1.5, 10.5, 1.5));
	assert_int_equal(qlb_usage_sample(&src, t += 1, &cpu, NULL), 0);
	assert_float_equal(cpu, 0.5, 1e-9);
	qlb_usage_free(&src);
}

static void test_prom_malformed(void **state)
{
	static const char *const bad[] = {
		"node_load1 1",				/* no final newline: cut short */
		"node_load1\n",				/* no value */
		"1node 1\n",				/* name */
		"node_load1 1x\n",			/* value */
		"node_load1 1 2 3\n",			/* junk after the timestamp */
		"node_load1 1 12.5\n",			/* timestamp not an integer */
		"node_cpu_seconds_total{cpu=\"0\" mode=\"idle\"} 1\n",	/* no comma */
		"node_cpu_seconds_total{cpu=0} 1\n",	/* unquoted */
		"node_cpu_seconds_total{cpu=\"0\"\n",	/* unterminated */
		"node_cpu_seconds_total{cpu=\"0} 1\n",	/* unterminated value */
		"x{a=\"\\t\"} 1\n",			/* unknown escape */
		"x{,} 1\n",
		"x{a=\"b\"}1\n",			/* value glued on */
		"<html>Not Found</html>\n",
	};
	static const char *const good[] = {
		"\n\n# only comments\n   \n",
		"x 1\n", "x{} 1\n", "x{a=\"b\",} -1.5e-3 -17\n", "x +Inf\n", "x -Inf\n",
		"x NaN\n", "\tx\t1\t\n",
	};
	struct qlb_usage_src src;
	double cpu, mem;
	size_t i;

	(void)state;
	prom_source(&src);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		serve_body(bad[i]);
		if (qlb_usage_sample(&src, 10.0 + i, &cpu, &mem) != -EBADMSG)
			fail_msg("accepted: %s", bad[i]);
		assert_true(isnan(cpu) && isnan(mem));
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		serve_body(good[i]);
		if (qlb_usage_sample(&src, 100.0 + i, &cpu, &mem))
			fail_msg("rejected: %s", good[i]);
		/* Valid, but no node metrics: nothing to say. */
		assert_true(isnan(cpu) && isnan(mem));
	}
	qlb_usage_free(&src);
}

static void test_prom_failures(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct qlb_usage_src src;
	double cpu, mem, t0;
	char spec[96];
	int fd;

	(void)state;
	prom_source(&src);

	serve_raw(500, "oops\n", -1, 0);
	assert_int_equal(qlb_usage_sample(&src, 1, &cpu, &mem), -EPROTO);
	assert_true(isnan(cpu) && isnan(mem));

	/* The connection closes before the promised length. */
	serve_raw(200, node_text(1, 1, 1, 1), 100000, 0);
	assert_int_equal(qlb_usage_sample(&src, 2, &cpu, &mem), -EIO);
	assert_true(isnan(cpu) && isnan(mem));

	/* A server that never answers costs the timeout, no more. */
	src.timeout_ms = 200;
	serve_raw(200, "", -1, 1);
	t0 = qlb_mono_s();
	assert_int_equal(qlb_usage_sample(&src, 3, &cpu, &mem), -ETIMEDOUT);
	assert_true(qlb_mono_s() - t0 < 1.5);
	assert_true(isnan(cpu) && isnan(mem));
	qlb_usage_free(&src);

	/* Nobody listening: a port we held and let go. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	close(fd);
	snprintf(spec, sizeof(spec), "prom:http://127.0.0.1:%u/metrics", ntohs(a.sin_port));
	assert_int_equal(qlb_usage_parse(spec, &src), 0);
	assert_int_equal(qlb_usage_sample(&src, 4, &cpu, &mem), -ECONNREFUSED);
	assert_true(isnan(cpu) && isnan(mem));
	qlb_usage_free(&src);
	serve_raw(200, "", -1, 0);
}

static void test_map_sample(void **state)
{
	struct qlb_usage_map map = {};
	char arg[160];

	(void)state;
	assert_true(srv.fd >= 0);
	snprintf(arg, sizeof(arg), "127.0.0.1:8080=prom:http://127.0.0.1:%u/metrics", srv.port);
	assert_int_equal(qlb_usage_map_parse(arg, &map), 0);
	snprintf(arg, sizeof(arg), "127.0.0.2=prom:http://127.0.0.1:%u/metrics", srv.port);
	assert_int_equal(qlb_usage_map_parse(arg, &map), 0);
	assert_int_equal(qlb_usage_map_parse("127.0.0.3=cgroup:qlbtest-none/nowhere", &map), 0);

	serve_body(node_text(1000, 100, 900, 200));
	qlb_usage_map_sample(&map, 1.0);
	for (uint32_t i = 0; i < 2; i++) {
		assert_int_equal(map.e[i].src.err, 0);
		assert_true(isnan(map.e[i].src.cpu_util));
		assert_float_equal(map.e[i].src.mem_util, 0.25, 1e-12);
	}
	serve_body(node_text(1000.5, 100.5, 900.3, 200.7));
	qlb_usage_map_sample(&map, 2.0);
	for (uint32_t i = 0; i < 2; i++) {
		assert_int_equal(map.e[i].src.err, 0);
		assert_float_equal(map.e[i].src.cpu_util, 0.6, 1e-9);
	}
	assert_int_equal(map.e[2].src.err, -ENOENT);
	assert_true(isnan(map.e[2].src.cpu_util) && isnan(map.e[2].src.mem_util));
	qlb_usage_map_free(&map);
}

static int setup(void **state)
{
	/* Without root and cgroup v1, the cgroup tests skip; the server must run. */
	if (cgroup_setup(state))
		return -1;
	return server_setup(state);
}

static int teardown(void **state)
{
	server_teardown(state);
	return cgroup_teardown(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_specs),
		cmocka_unit_test(test_usage_map),
		cmocka_unit_test(test_cgroup_cpu_quota),
		cmocka_unit_test(test_cgroup_cpu_no_quota),
		cmocka_unit_test(test_cgroup_memory),
		cmocka_unit_test(test_prom_node_exporter),
		cmocka_unit_test(test_prom_malformed),
		cmocka_unit_test(test_prom_failures),
		cmocka_unit_test(test_map_sample),
	};

	return cmocka_run_group_tests_name("usage", tests, setup, teardown);
}
