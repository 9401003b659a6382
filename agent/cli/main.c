// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* qlb: one binary, subcommands in the style of ip(8) and ipvsadm(8). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "netns.h"
#include "opts.h"
#include "pins.h"

struct global_args {
	int verbose;
	const char *netns;
};

static const struct qlb_opt global_opts[] = {
	{ QLB_O_FLAG("verbose", 'v', struct global_args, verbose,
		     "libbpf and libxdp debug output on stderr") },
	{ QLB_O_STR("netns", 'n', "NETNS", struct global_args, netns,
		    "run the command in network namespace NETNS (a name\n"
		    "under /run/netns, or a path such as /proc/PID/ns/net),\n"
		    "keeping this host's mounts and so its pins (ip -n style)") },
	QLB_OPT_END
};

static const struct qlb_cmd_spec global_spec = {
	.name = "",
	.synopsis =
	"Usage: qlb [-v] [-n NETNS] COMMAND [ARGS]\n"
	"\n"
	"A queue-aware XDP load balancer.\n"
	"\n"
	"Commands:\n"
	"  attach IFACE [--backend-iface IFACE ...] [--mode native|generic|auto]\n"
	"  detach IFACE | --all [--purge]\n"
	"  vip add|del|list ADDR:PORT [--proto tcp|udp]\n"
	"  vip set ADDR:PORT --policy rr|wrr|lc|p2c|lcpu|lram|dlbqt|qlb\n"
	"  backend add|set|del|list VIP ADDR[:PORT] [--weight W] [--drain|--undrain]\n"
	"  stats [--json] [--watch SECONDS [--count N]]\n"
	"  status [--json]\n"
	"  conn list [--client ADDR] [--backend ADDR] [--open] [--limit N] [--json]\n"
	"  doctor [IFACE ...] [--json]  (what keeps the balancer from balancing)\n"
	"  agent [--window S] [--health SPEC] [--history FILE] [--metrics-listen A]\n"
	"  sim [--policy LIST|all] [--mu-ratio 3:1] [--load RHO] ...  (simulator)\n"
	"  forecast train|eval|export ...  (LSTM and baseline load forecasts)\n"
	"\n"
	"Options:\n",
	.epilog =
	"\n"
	"'qlb COMMAND --help' documents a command. State lives in pinned maps under\n"
	"$QLB_PIN_DIR, by default " QLB_DEFAULT_PIN_DIR " in the host's network namespace\n"
	"and " QLB_DEFAULT_PIN_DIR "/netns/NETNS in namespace NETNS.\n"
	"Exit codes: 0 success, 1 system error, 2 bad input (nothing changed).\n",
	.opts = global_opts,
	.stop_at_pos = 1,
};

static const struct qlb_cli_command commands[] = {
	{ "attach", cmd_attach },
	{ "detach", cmd_detach },
	{ "vip", cmd_vip },
	{ "backend", cmd_backend },
	{ "stats", cmd_stats },
	{ "status", cmd_status },
	{ "conn", cmd_conn },
	{ "doctor", cmd_doctor },
	{ "forecast", cmd_forecast },
	{ "agent", cmd_agent },
	{ "sim", cmd_sim },
};

int main(int argc, char **argv)
{
	struct global_args g = {};
	struct qlb_opts_result res;
	size_t i;
	int err;

	err = qlb_opts_parse(&global_spec, argc, argv, &g, &res);
	if (err)
		return err > 0 ? 0 : QLB_EXIT_USAGE;
	argv += res.next;
	argc -= res.next;
	if (!argc) {
		qlb_opts_help(&global_spec, stderr);
		return QLB_EXIT_USAGE;
	}
	qlb_verbose = g.verbose;
	qlb_setup_library_logging();
	if (!strcmp(argv[0], "help")) {
		qlb_opts_help(&global_spec, stdout);
		return 0;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[0], commands[i].name))
			break;
	if (i == sizeof(commands) / sizeof(commands[0])) {
		qlb_err("unknown command '%s' (see qlb --help)", argv[0]);
		return QLB_EXIT_USAGE;
	}
	if (g.netns) {
		err = qlb_netns_enter(g.netns);
		if (err) {
			qlb_err(err == -ENOENT || err == -EINVAL ?
				"no network namespace '%s' (see 'ip netns list')" :
				"cannot enter network namespace '%s': %s", g.netns, strerror(-err));
			return err == -ENOENT || err == -EINVAL ? QLB_EXIT_USAGE : QLB_EXIT_FAIL;
		}
	}
	return commands[i].run(argc, argv);
}
