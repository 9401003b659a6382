// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* qlb: one binary, subcommands in the style of ip(8) and ipvsadm(8). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "qlb.h"
#include "forecast.h"
#include "agent.h"
#include "sim.h"

static const char usage[] =
	"Usage: qlb [-v] COMMAND [ARGS]\n"
	"\n"
	"A queue-aware XDP load balancer.\n"
	"\n"
	"Commands:\n"
	"  attach IFACE [--backend-iface IFACE] [--mode native|generic|auto]\n"
	"  detach IFACE | --all [--purge]\n"
	"  vip add|del|list ADDR:PORT [--proto tcp|udp]\n"
	"  vip set ADDR:PORT --policy rr|wrr|lc|p2c|lcpu|lram|dlbqt|qlb\n"
	"  backend add|set|del|list VIP ADDR[:PORT] [--weight W] [--drain|--undrain]\n"
	"  stats [--json] [--watch SECONDS [--count N]]\n"
	"  status [--json]\n"
	"  conn list [--client ADDR] [--backend ADDR] [--open] [--limit N] [--json]\n"
	"  agent [--window S] [--health SPEC] [--history FILE] [--metrics-listen A]\n"
	"  sim [--policy LIST|all] [--mu-ratio 3:1] [--load RHO] ...  (simulator)\n"
	"  forecast train|eval|export ...  (LSTM and baseline load forecasts)\n"
	"\n"
	"Options:\n"
	"  -v, --verbose  libbpf and libxdp debug output on stderr\n"
	"  -h, --help     this text; 'qlb COMMAND --help' documents a command\n"
	"\n"
	"State lives in pinned maps under $QLB_PIN_DIR (default " QLB_DEFAULT_PIN_DIR ").\n"
	"Exit codes: 0 success, 1 system error, 2 bad input (nothing changed).\n";

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "attach", cmd_attach },
	{ "detach", cmd_detach },
	{ "vip", cmd_vip },
	{ "backend", cmd_backend },
	{ "stats", cmd_stats },
	{ "status", cmd_status },
	{ "conn", cmd_conn },
	{ "forecast", cmd_forecast },
	{ "agent", cmd_agent },
	{ "sim", cmd_sim },
};

int main(int argc, char **argv)
{
	size_t i;

	argv++;
	argc--;
	while (argc && argv[0][0] == '-') {
		if (!strcmp(argv[0], "-v") || !strcmp(argv[0], "--verbose")) {
			qlb_verbose = 1;
		} else if (!strcmp(argv[0], "-h") || !strcmp(argv[0], "--help")) {
			fputs(usage, stdout);
			return 0;
		} else {
			qlb_err("unknown option '%s' (see qlb --help)", argv[0]);
			return QLB_EXIT_USAGE;
		}
		argv++;
		argc--;
	}
	if (!argc) {
		fputs(usage, stderr);
		return QLB_EXIT_USAGE;
	}
	qlb_setup_library_logging();
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[0], commands[i].name))
			return commands[i].run(argc, argv);
	if (!strcmp(argv[0], "help")) {
		fputs(usage, stdout);
		return 0;
	}
	qlb_err("unknown command '%s' (see qlb --help)", argv[0]);
	return QLB_EXIT_USAGE;
}
