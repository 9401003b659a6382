/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef QLB_HEALTH_H
#define QLB_HEALTH_H

#include <stdint.h>
#include "qlb_abi.h"

enum qlb_health_kind {
	QLB_HEALTH_NONE,
	QLB_HEALTH_TCP,		/* the connect must succeed */
	QLB_HEALTH_HTTP,	/* GET path must answer 2xx or 3xx */
};

struct qlb_health_opts {
	enum qlb_health_kind kind;
	char path[256];
	double interval_s;
	double timeout_s;
	uint32_t rise;		/* successes that bring a down backend up */
	uint32_t fall;		/* failures that take an up backend down */
};

enum qlb_probe_state {
	QLB_PROBE_IDLE,
	QLB_PROBE_CONNECTING,
	QLB_PROBE_READING,
};

struct qlb_probe {
	union qlb_addr addr;
	uint8_t family;
	uint8_t active;		/* probe this one */
	uint8_t up;		/* current verdict */
	uint8_t changed;	/* the verdict changed in the last run */
	uint16_t port;		/* host order */
	int fd;
	enum qlb_probe_state state;
	uint32_t oks, fails;	/* consecutive */
	double next_at;
	uint32_t got;
	char buf[64];
};

/* "none", "tcp", "http" or "http:/path". */
int qlb_health_parse(const char *spec, struct qlb_health_opts *o);
/* Runs every due probe until each has a verdict, its timeout passes, or the
 * deadline (CLOCK_MONOTONIC seconds) comes; updates up/changed. */
void qlb_health_run(struct qlb_probe *probes, uint32_t n, const struct qlb_health_opts *o,
		    double deadline);

#endif
