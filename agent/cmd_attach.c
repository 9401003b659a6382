// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `qlb attach` and `qlb detach`. */
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "qlb.h"

static const char attach_usage[] =
	"Usage: qlb attach IFACE [--backend-iface IFACE] [--mode native|generic|auto]\n"
	"\n"
	"Attach the XDP program to IFACE, the client-facing interface. Backends\n"
	"reached through another interface need it named with --backend-iface,\n"
	"where the return path is reverse-NATed. Without it, IFACE carries both\n"
	"directions (XDP_TX). The program stays attached when qlb exits.\n"
	"  -b, --backend-iface IFACE  backend-facing interface\n"
	"  -m, --mode MODE            native (driver), generic (skb) or auto:\n"
	"                             native, else generic (default auto)\n"
	"  -h, --help                 this text\n";

static const char detach_usage[] =
	"Usage: qlb detach IFACE\n"
	"       qlb detach --all [--purge]\n"
	"\n"
	"Detach the XDP program. VIPs, backends, counters and flows stay pinned\n"
	"under the pin directory unless --purge removes them.\n"
	"  -a, --all    detach from every interface qlb is attached to\n"
	"  -P, --purge  with --all: also remove every pinned map\n"
	"  -h, --help   this text\n";

int cmd_attach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "backend-iface", required_argument, NULL, 'b' },
		{ "mode", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *iface, *backend_iface = NULL, *mode = "auto";
	struct qlb_state *st = NULL;
	int c, err;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "b:m:h", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			backend_iface = optarg;
			break;
		case 'm':
			mode = optarg;
			break;
		case 'h':
			fputs(attach_usage, stdout);
			return 0;
		default:
			qlb_err("unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
			return QLB_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		qlb_err(optind >= argc ? "missing interface (see --help)" :
			"unexpected argument '%s'", argv[optind + 1]);
		return QLB_EXIT_USAGE;
	}
	iface = argv[optind];
	if (strcmp(mode, "native") && strcmp(mode, "generic") && strcmp(mode, "auto")) {
		qlb_err("bad --mode '%s': want native, generic or auto", mode);
		return QLB_EXIT_USAGE;
	}
	/* Check both names before touching anything. */
	if (!if_nametoindex(iface) || (backend_iface && !if_nametoindex(backend_iface))) {
		qlb_err("no interface named '%s'",
			!if_nametoindex(iface) ? iface : backend_iface);
		return QLB_EXIT_USAGE;
	}
	if (backend_iface && !strcmp(backend_iface, iface))
		backend_iface = NULL;

	err = qlb_state_open(&st, 1, 1);
	if (err)
		goto out;
	err = qlb_attach(st, iface, backend_iface ? QLB_IF_CLIENT :
			 QLB_IF_CLIENT | QLB_IF_BACKEND, mode);
	if (!err && backend_iface) {
		err = qlb_attach(st, backend_iface, QLB_IF_BACKEND, mode);
		if (err)
			qlb_detach(st, iface);	/* all or nothing */
	}
out:
	qlb_state_close(st);
	return qlb_exit_code(err);
}

int cmd_detach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "purge", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct qlb_state *st = NULL;
	int c, err, all = 0, purge = 0;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "aPh", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			all = 1;
			break;
		case 'P':
			purge = 1;
			break;
		case 'h':
			fputs(detach_usage, stdout);
			return 0;
		default:
			qlb_err("unknown option '%s' (see --help)", argv[optind - 1]);
			return QLB_EXIT_USAGE;
		}
	}
	if (all ? optind != argc : optind + 1 != argc) {
		qlb_err(all ? "--all takes no interface" : "missing interface (see --help)");
		return QLB_EXIT_USAGE;
	}
	if (purge && !all) {
		qlb_err("--purge needs --all");
		return QLB_EXIT_USAGE;
	}
	if (purge && access(qlb_pin_dir(), F_OK))
		return 0;	/* nothing pinned: nothing to do */
	err = qlb_state_open(&st, 0, 1);
	if (err == -ENOENT && purge)	/* nothing usable pinned: clear what is */
		return qlb_exit_code(qlb_purge_pins(qlb_pin_dir()));
	if (err)
		return qlb_exit_code(err);
	if (!all) {
		err = qlb_detach(st, argv[optind]);
		qlb_state_close(st);
		return qlb_exit_code(err);
	}
	for (;;) {
		struct qlb_iface info;
		__u32 key;

		if (bpf_map_get_next_key(st->maps.ifaces, NULL, &key) ||
		    bpf_map_lookup_elem(st->maps.ifaces, &key, &info))
			break;
		err = qlb_detach(st, info.name);
		if (err) {
			/* The interface may be gone (its namespace deleted). */
			bpf_map_delete_elem(st->maps.ifaces, &key);
			err = 0;
		}
	}
	qlb_state_close(st);
	if (purge) {
		err = qlb_purge_pins(qlb_pin_dir());
		if (err)
			qlb_err("cannot remove %s: %s", qlb_pin_dir(), strerror(-err));
	}
	return qlb_exit_code(err);
}
