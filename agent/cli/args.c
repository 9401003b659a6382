// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "addr.h"
#include "args.h"
#include "doctor.h"
#include "log.h"

const struct qlb_opt_choice qlb_cli_protos[] = {
	{ "tcp", IPPROTO_TCP }, { "udp", IPPROTO_UDP }, { NULL, 0 }
};

int qlb_cli_vip_key(const char *s, int proto, struct qlb_vip_key *k)
{
	struct qlb_endpoint ep;
	char err[160];

	if (qlb_parse_endpoint(s, 1, &ep, err, sizeof(err))) {
		qlb_err("%s", err);
		return -EINVAL;
	}
	memset(k, 0, sizeof(*k));
	k->addr = ep.addr;
	k->port = htons(ep.port);
	k->proto = (uint8_t)proto;
	k->family = ep.family;
	return 0;
}

const char *qlb_cli_vip_str(const struct qlb_vip_key *k, char *buf, size_t len)
{
	return qlb_format_endpoint(&k->addr, k->family, ntohs(k->port), buf, len);
}

int qlb_cli_need_args(char *const *pos, unsigned int npos, unsigned int n, const char *what)
{
	if (npos < n) {
		qlb_err("missing %s (see --help)", what);
		return -EINVAL;
	}
	if (npos > n) {
		qlb_err("unexpected argument '%s'", pos[n]);
		return -EINVAL;
	}
	return 0;
}

const void *qlb_cli_find_verb(const char *noun, const char *given, const void *verbs,
			      size_t n, size_t stride, const char *want)
{
	const char *v;

	if (!given) {
		qlb_err("missing command (see qlb %s --help)", noun);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		v = (const char *)verbs + i * stride;
		if (!strcmp(given, *(const char *const *)v))
			return v;
	}
	qlb_err("unknown %s command '%s': want %s", noun, given, want);
	return NULL;
}

const struct qlb_opt qlb_cli_json_opts[] = {
	{ QLB_O_FLAG("json", 'j', struct qlb_cli_json_args, json, "machine-readable output") },
	QLB_OPT_END
};

void qlb_cli_doctor_warn(struct qlb_state *st, int backend_id)
{
	struct qlb_doctor d = {};

	if (backend_id < 0)
		qlb_doctor_run(st, NULL, 0, &d);
	else
		qlb_doctor_run_backend(st, (uint32_t)backend_id, &d);
	for (size_t i = 0; i < d.n; i++)
		qlb_warn("%s%s%s%s", d.f[i].problem, d.f[i].fix[0] ? " (fix: " : "", d.f[i].fix,
			 d.f[i].fix[0] ? ")" : "");
	qlb_doctor_free(&d);
}
