// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `qlb attach` and `qlb detach`. */
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "args.h"
#include "attach.h"
#include "cli.h"
#include "log.h"
#include "netns.h"
#include "opts.h"
#include "pins.h"
#include "state.h"

struct attach_args {
	struct qlb_opt_list backend_ifaces;
	int mode;
	int replace;
};

static const char *const mode_names[] = { "auto", "native", "generic" };
static const struct qlb_opt_choice modes[] = {
	{ "native", 1 }, { "generic", 2 }, { "auto", 0 }, { NULL, 0 }
};

static const struct qlb_opt attach_opts[] = {
	{ QLB_O_LIST("backend-iface", 'b', "IFACE", struct attach_args, backend_ifaces,
		     "an interface towards backends, where their replies are\n"
		     "reverse-NATed; one per interface") },
	{ QLB_O_CHOICE("mode", 'm', "MODE", struct attach_args, mode, modes,
		       "native (driver), generic (skb) or auto: native,\n"
		       "else generic (default auto)") },
	{ QLB_O_FLAG("replace", 'R', struct attach_args, replace,
		     "upgrade in place: run this build's program on the\n"
		     "pinned maps wherever qlb is attached, swapped\n"
		     "atomically; no flow is lost") },
	QLB_OPT_END
};

static const struct qlb_cmd_spec attach_spec = {
	.name = "attach",
	.synopsis =
	"Usage: qlb attach IFACE [--backend-iface IFACE ...] [--mode native|generic|auto]\n"
	"       qlb attach --replace\n"
	"\n"
	"Attach the XDP program to IFACE, the client-facing interface, and to every\n"
	"interface named with --backend-iface. A backend is reached through the\n"
	"interface its route names, and that interface must carry qlb too. Without\n"
	"--backend-iface, IFACE carries both directions (XDP_TX). Interfaces qlb is\n"
	"attached to already are left as they are, so a later 'qlb attach IFACE -b\n"
	"NEW' adds NEW; 'qlb detach NEW' removes it. The program stays attached when\n"
	"qlb exits. Then the checks of 'qlb doctor' run and print what they find.\n"
	"--replace upgrades in place: this build's program, loaded on the pinned\n"
	"maps (pins of another ABI are refused), replaces the running one on every\n"
	"interface, each in one atomic step; flows, counters and rings stay.\n",
	.opts = attach_opts,
	.max_pos = 1,
};

/* Detaches what this command attached, newest first: all or nothing. */
static void undo(struct qlb_state *st, char *const *names, const int *attached, unsigned int n)
{
	while (n--)
		if (attached[n])
			qlb_detach(st, names[n], NULL);
}

/* -v: how each interface this command attached is attached. */
static void tell_attached(struct qlb_state *st, const char *ifname)
{
	static const char *const modes[] = { "unspec", "native", "generic", "hw" };
	struct qlb_iface info;
	char path[512];
	__u32 key = if_nametoindex(ifname);
	int fd;

	if (bpf_map_lookup_elem(st->maps.ifaces, &key, &info))
		return;
	snprintf(path, sizeof(path), "%s/link_%s", st->pin_dir, ifname);
	fd = bpf_obj_get(path);
	if (fd >= 0)
		close(fd);
	qlb_note("attached to %s (ifindex %u) in %s mode %s", ifname, key,
		 info.xdp_mode < 4 ? modes[info.xdp_mode] : "?",
		 fd >= 0 ? "via a pinned bpf_link" : "via libxdp's dispatcher");
}

static int replace(const struct attach_args *a, const struct qlb_opts_result *res)
{
	struct qlb_state *st = NULL;
	struct qlb_error e = {};
	unsigned int n = 0;
	int err;

	if (res->npos || a->backend_ifaces.n || a->mode)
		return qlb_usage_error("--replace takes no interface, --backend-iface or --mode: "
				       "it keeps the attachments as they are");
	err = qlb_state_open(&st, 0, 1, &e);
	if (!err)
		err = qlb_replace_program(st, &n, &e);
	if (!err)
		qlb_note("replaced the program on %u interface%s; flows, counters and rings kept", n,
			 n == 1 ? "" : "s");
	qlb_state_close(st);
	return qlb_fail(err, &e);
}

int cmd_attach(int argc, char **argv)
{
	struct attach_args a = {};
	char *names[1 + QLB_OPT_LIST_MAX];
	int attached[1 + QLB_OPT_LIST_MAX] = {};
	uint32_t roles[1 + QLB_OPT_LIST_MAX];
	struct qlb_opts_result res;
	struct qlb_state *st = NULL;
	struct qlb_error e = {};
	unsigned int n = 0, i, j;
	int err;

	err = qlb_opts_parse(&attach_spec, argc, argv, &a, &res);
	if (err)
		return err > 0 ? 0 : QLB_EXIT_USAGE;
	if (a.replace)
		return replace(&a, &res);
	if (res.npos != 1)
		return qlb_usage_error("missing interface (see qlb attach --help)");

	/* The client interface carries backends too unless named apart. */
	names[n] = res.pos[0];
	roles[n++] = a.backend_ifaces.n ? QLB_IF_CLIENT : QLB_IF_CLIENT | QLB_IF_BACKEND;
	for (i = 0; i < a.backend_ifaces.n; i++) {
		for (j = 1; j < n; j++)
			if (!strcmp(names[j], a.backend_ifaces.v[i]))
				return qlb_usage_error("--backend-iface %s given twice", names[j]);
		if (!strcmp(names[0], a.backend_ifaces.v[i])) {
			roles[0] |= QLB_IF_BACKEND;
			continue;
		}
		names[n] = (char *)a.backend_ifaces.v[i];
		roles[n++] = QLB_IF_BACKEND;
	}
	/* Every name before anything is touched. */
	for (i = 0; i < n; i++) {
		if (strlen(names[i]) >= IF_NAMESIZE)
			return qlb_usage_error("bad interface name '%s': longer than %d characters",
					       names[i], IF_NAMESIZE - 1);
		if (!if_nametoindex(names[i]))
			return qlb_usage_error("no interface named '%s'%s", names[i],
					       qlb_netns_is_host() ? "" :
					       " in this network namespace");
	}

	err = qlb_state_open(&st, 1, 1, &e);
	if (err)
		goto out;
	for (i = 0; i < n; i++) {
		err = qlb_attach(st, names[i], roles[i], mode_names[a.mode], &attached[i], &e);
		if (err) {
			undo(st, names, attached, i);
			goto out;
		}
		if (attached[i] && qlb_verbose)
			tell_attached(st, names[i]);
	}
	qlb_cli_doctor_warn(st, -1);
out:
	qlb_state_close(st);
	return qlb_fail(err, &e);
}

struct detach_args {
	int all, purge;
};

static const struct qlb_opt detach_opts[] = {
	{ QLB_O_FLAG("all", 'a', struct detach_args, all,
		     "detach from every interface qlb is attached to") },
	{ QLB_O_FLAG("purge", 'P', struct detach_args, purge,
		     "with --all: also remove every pinned map (flows and\n"
		     "counters go with them)") },
	QLB_OPT_END
};

static const struct qlb_cmd_spec detach_spec = {
	.name = "detach",
	.synopsis =
	"Usage: qlb detach IFACE\n"
	"       qlb detach --all [--purge]\n"
	"\n"
	"Detach the XDP program. VIPs, backends, counters and flows stay pinned\n"
	"under the pin directory unless --purge removes them. --all --purge also\n"
	"removes pins that another version of qlb left.\n",
	.opts = detach_opts,
	.max_pos = 1,
};

int cmd_detach(int argc, char **argv)
{
	struct detach_args a = {};
	struct qlb_opts_result res;
	struct qlb_state *st = NULL;
	struct qlb_error e = {};
	const char *dir;
	uint32_t version;
	int err;

	err = qlb_opts_parse(&detach_spec, argc, argv, &a, &res);
	if (err)
		return err > 0 ? 0 : QLB_EXIT_USAGE;
	if (a.all ? res.npos != 0 : res.npos != 1)
		return qlb_usage_error(a.all ? "--all takes no interface" :
				       "missing interface (see qlb detach --help)");
	if (a.purge && !a.all)
		return qlb_usage_error("--purge needs --all");
	dir = qlb_pin_dir();
	if (a.purge) {
		err = qlb_pin_dir_check(dir, &e);
		if (err)
			return qlb_fail(err, &e);
		if (access(dir, F_OK))
			return 0;	/* nothing pinned: nothing to do */
		/* Pins this qlb cannot read (another ABI, or half made) are
		 * removed without being read. */
		err = qlb_pins_abi_version(dir, &version);
		if (err || version != QLB_ABI_VERSION)
			goto purge;
	}
	err = qlb_state_open(&st, 0, 1, &e);
	if (err)
		return qlb_fail(err, &e);
	if (!a.all) {
		err = qlb_detach(st, res.pos[0], &e);
		qlb_state_close(st);
		return qlb_fail(err, &e);
	}
	for (;;) {
		struct qlb_iface info;
		__u32 key;

		if (bpf_map_get_next_key(st->maps.ifaces, NULL, &key) ||
		    bpf_map_lookup_elem(st->maps.ifaces, &key, &info))
			break;
		err = qlb_detach(st, info.name, NULL);
		if (err) {
			/* The interface may be gone (its namespace deleted). */
			bpf_map_delete_elem(st->maps.ifaces, &key);
			err = 0;
		}
	}
	qlb_state_close(st);
	if (!a.purge)
		return 0;
purge:
	err = qlb_pins_purge(dir);
	if (err)
		qlb_err("cannot remove %s: %s", dir, strerror(-err));
	return qlb_exit_code(err);
}
