// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `qlb doctor`: the host and pinned-state checks (doctor.h), reported. */
#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "args.h"
#include "cli.h"
#include "doctor.h"
#include "log.h"
#include "opts.h"
#include "pins.h"
#include "state.h"

static const struct qlb_cmd_spec doctor_spec = {
	.name = "doctor",
	.synopsis =
	"Usage: qlb doctor [IFACE ...] [--json]\n"
	"\n"
	"Check the host and the pinned state for what keeps a balancer from\n"
	"balancing, and print each problem with the command that fixes it: the bpffs\n"
	"under the pins and their ABI version; for each attached interface (and each\n"
	"IFACE named, before an attach) its XDP mode and why native was not used, its\n"
	"link and MTU; for a veth, its peer's NAPI (GRO or an XDP program) and TX\n"
	"checksum offload, looked at in the peer's namespace; for each backend its\n"
	"route, egress interface and neighbour entry, and where it is a local\n"
	"namespace, its route back through the balancer; IP forwarding here.\n",
	.epilog = "Exit status: 0 when all is well, 1 with findings, 2 bad input.\n",
	.opts = qlb_cli_json_opts,
	.max_pos = 8,
};

int cmd_doctor(int argc, char **argv)
{
	struct qlb_cli_json_args a = {};
	struct qlb_opts_result res;
	struct qlb_doctor d = {};
	struct qlb_state *st = NULL;
	char why[512], fix[256];
	const char *dir;
	uint32_t version = 0;
	int reachable = 1;
	json_t *root, *list, *ifs;
	int err;

	err = qlb_opts_parse(&doctor_spec, argc, argv, &a, &res);
	if (err)
		return err > 0 ? 0 : QLB_EXIT_USAGE;
	dir = qlb_pin_dir();
	if (qlb_pin_dir_fs(dir, "doctor", why, sizeof(why), fix, sizeof(fix))) {
		qlb_doctor_add(&d, "bpffs", dir, fix, "%s", why);
		reachable = 0;
	} else if (qlb_pins_abi_version(dir, &version)) {
		qlb_doctor_add(&d, "abi", dir, "qlb detach --all --purge",
			       "cannot read the ABI version of the pins under %s", dir);
	} else if (version && version != QLB_ABI_VERSION) {
		char what[64];

		if (version == QLB_PINS_ABI_OLD)
			snprintf(what, sizeof(what), "older than the abi pin");
		else if (version == QLB_PINS_ABI_INCOMPLETE)
			snprintf(what, sizeof(what), "incomplete");
		else
			snprintf(what, sizeof(what), "of ABI %u", version);
		qlb_doctor_add(&d, "abi", dir, "qlb detach --all --purge",
			       "the pins under %s are %s: this qlb speaks ABI %d and cannot read "
			       "them (purging drops their flows and counters)", dir, what,
			       QLB_ABI_VERSION);
	} else if (version) {
		struct qlb_error e = {};

		err = qlb_state_open(&st, 0, 0, &e);
		if (err) {
			qlb_fail(err, &e);
			goto out;
		}
	}
	err = qlb_doctor_run(st, res.pos, res.npos, &d);
	if (err) {
		qlb_err("doctor: %s", strerror(-err));
		goto out;
	}

	list = json_array();
	for (size_t i = 0; i < d.n; i++)
		json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:s}", "check", d.f[i].check,
						      "subject", d.f[i].subject, "problem",
						      d.f[i].problem, "fix", d.f[i].fix));
	ifs = json_array();
	for (unsigned int i = 0; i < d.nifaces; i++)
		json_array_append_new(ifs, json_pack("{s:s,s:s,s:s}", "iface", d.ifaces[i].name,
						     "role", d.ifaces[i].role, "mode",
						     d.ifaces[i].mode));
	root = json_pack("{s:s,s:i,s:o,s:i,s:o}", "pin_dir", dir, "abi", (int)version,
			 "interfaces", ifs, "backends", (int)d.nbackends, "findings", list);
	if (a.json) {
		json_dumpf(root, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		if (version == QLB_ABI_VERSION)
			printf("pins: %s (ABI %d)\n", dir, QLB_ABI_VERSION);
		else
			printf("pins: %s (%s)\n", dir, !reachable ? "not on a bpffs" :
			       version ? "unreadable" : "none yet");
		for (unsigned int i = 0; i < d.nifaces; i++)
			printf("interface %s: %s%s%s\n", d.ifaces[i].name, d.ifaces[i].mode,
			       d.ifaces[i].role[0] ? ", " : "", d.ifaces[i].role);
		printf("backends checked: %u\n", d.nbackends);
		for (size_t i = 0; i < d.n; i++) {
			printf("problem [%s] %s\n", d.f[i].check, d.f[i].problem);
			if (d.f[i].fix[0])
				printf("    fix: %s\n", d.f[i].fix);
		}
		printf(d.n ? "%zu problem%s found\n" : "no problems found\n", d.n,
		       d.n == 1 ? "" : "s");
	}
	json_decref(root);
	err = d.n ? 1 : 0;
out:
	qlb_doctor_free(&d);
	qlb_state_close(st);
	return err < 0 ? qlb_exit_code(err) : err;
}
