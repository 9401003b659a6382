/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * `qlb doctor`: checks of the host and of the pinned state that find why a
 * balancer does not balance, each finding with the command that fixes it.
 */
#ifndef QLB_DOCTOR_H
#define QLB_DOCTOR_H

#include <stddef.h>
#include <stdint.h>

struct qlb_state;

struct qlb_finding {
	const char *check;	/* "bpffs", "abi", "xdp-mode", "link-down", "veth-napi",
				 * "veth-csum", "mtu", "backend-route",
				 * "backend-iface", "backend-neigh", "backend-return",
				 * "forwarding" */
	char subject[64];	/* the interface or backend it is about */
	char problem[384];
	char fix[256];		/* a command; "" when there is none to give */
};

/* One line per interface checked, for the report. */
struct qlb_doctor_iface {
	char name[16];
	char role[16];		/* "client", "backend", "client+backend", "" */
	char mode[48];		/* "native", "generic (as asked)", "not attached" */
};

struct qlb_doctor {
	struct qlb_finding *f;
	size_t n, cap;
	struct qlb_doctor_iface ifaces[64];
	unsigned int nifaces;
	unsigned int nbackends;
};

/* Adds a finding; the strings are formatted and cut to fit. */
void qlb_doctor_add(struct qlb_doctor *d, const char *check, const char *subject,
		    const char *fix, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/*
 * The checks of interfaces, backends and sysctls in this network namespace:
 * of every interface st has attached and each one named in extra[0..n)
 * (st may be NULL), of every backend of st. Never prints. 0 or -errno (the
 * findings so far stay in d).
 */
int qlb_doctor_run(struct qlb_state *st, char *const *extra, unsigned int n,
		   struct qlb_doctor *d);
void qlb_doctor_free(struct qlb_doctor *d);
/* A backend's own checks (route, interface, neighbour, return path), as
 * `qlb backend add` runs them. */
int qlb_doctor_run_backend(struct qlb_state *st, uint32_t id, struct qlb_doctor *d);

#endif /* QLB_DOCTOR_H */
