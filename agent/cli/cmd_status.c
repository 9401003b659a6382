// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `qlb status`: where qlb is attached, how, and how much state it holds. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <jansson.h>

#include "args.h"
#include "cli.h"
#include "flows.h"
#include "log.h"
#include "opts.h"
#include "state.h"

static const struct qlb_cmd_spec status_spec = {
	.name = "status",
	.synopsis =
	"Usage: qlb status [--json]\n"
	"\n"
	"Where qlb is attached, how, and how much state it holds.\n",
	.opts = qlb_cli_json_opts,
};

static int count_request_flow(const struct qlb_flow_entry *e, void *ctx)
{
	if (!(e->val.flags & QLB_FLOW_F_RESPONSE))
		++*(long *)ctx;
	return 0;
}

/* The kernel id of the pinned (running) program, 0 if none. */
static __u32 program_id(const struct qlb_state *st)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/qlb_xdp", st->pin_dir);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		info.id = 0;
	close(fd);
	return info.id;
}

int cmd_status(int argc, char **argv)
{
	struct qlb_cli_json_args a = {};
	struct qlb_error e = {};
	struct qlb_opts_result res;
	struct qlb_state *st = NULL;
	json_t *root, *ifs;
	__u32 key, next, *prev = NULL;
	int err, nbackends = 0, i;
	long nflows = 0, npending = 0;

	err = qlb_opts_parse(&status_spec, argc, argv, &a, &res);
	if (err)
		return err > 0 ? 0 : QLB_EXIT_USAGE;
	err = qlb_state_open(&st, 0, 0, &e);
	if (err)
		return qlb_fail(err, &e);
	qlb_state_read(st);
	for (i = 0; i < QLB_MAX_BACKENDS; i++)
		nbackends += !!(st->backends[i].flags & QLB_BE_F_IN_USE);
	ifs = json_array();
	while (!bpf_map_get_next_key(st->maps.ifaces, prev, &next)) {
		struct qlb_iface info;
		char path[512];
		int link_fd;
		static const char *const modes[] = { "unspec", "native", "generic", "hw" };

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(st->maps.ifaces, &key, &info))
			continue;
		snprintf(path, sizeof(path), "%s/link_%s", st->pin_dir, info.name);
		link_fd = bpf_obj_get(path);
		if (link_fd >= 0)
			close(link_fd);
		json_array_append_new(ifs, json_pack("{s:s,s:i,s:s,s:s,s:s}",
			"iface", info.name, "ifindex", (int)info.ifindex,
			"role", info.role == (QLB_IF_CLIENT | QLB_IF_BACKEND) ? "client+backend" :
				info.role & QLB_IF_CLIENT ? "client" : "backend",
			"mode", info.xdp_mode < 4 ? modes[info.xdp_mode] : "?",
			"attachment", link_fd >= 0 ? "bpf_link" : "libxdp-dispatcher"));
	}
	qlb_flows_foreach(st, count_request_flow, &nflows);
	qlb_pending_foreach(st, count_request_flow, &npending);
	root = json_pack("{s:s,s:o,s:i,s:i,s:I,s:I,s:I,s:{s:i,s:i}}", "pin_dir", st->pin_dir,
			 "interfaces", ifs, "vips", st->nvips, "backends", nbackends,
			 "flows", (json_int_t)nflows,
			 "flow_capacity", (json_int_t)QLB_FLOW_TABLE_SIZE,
			 "half_open", (json_int_t)npending,
			 "program", "id", (int)program_id(st), "abi", QLB_ABI_VERSION);
	if (a.json) {
		json_dumpf(root, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		json_t *f;
		size_t idx;

		printf("pin directory: %s\n", st->pin_dir);
		if (!json_array_size(ifs))
			printf("not attached to any interface\n");
		json_array_foreach(ifs, idx, f)
			printf("attached: %-12s ifindex %-4lld role %-15s mode %-8s via %s\n",
			       json_string_value(json_object_get(f, "iface")),
			       json_integer_value(json_object_get(f, "ifindex")),
			       json_string_value(json_object_get(f, "role")),
			       json_string_value(json_object_get(f, "mode")),
			       json_string_value(json_object_get(f, "attachment")));
		printf("program: id %u, ABI %d\n", program_id(st), QLB_ABI_VERSION);
		printf("vips: %d, backends: %d, flows: %ld (tables hold %d entries per family, two per flow), half-open: %ld\n",
		       st->nvips, nbackends, nflows, QLB_FLOW_TABLE_SIZE, npending);
	}
	json_decref(root);
	qlb_state_close(st);
	return 0;
}

