/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Runs a qlb subcommand in-process with its stdout and stderr captured. */
#ifndef CLI_CAPTURE_H
#define CLI_CAPTURE_H

struct captured {
	int rc;
	char out[65536];
	char err[4096];
};

typedef int (*cli_cmd_fn)(int argc, char **argv);

void run_cli_cmd(struct captured *c, cli_cmd_fn cmd, int argc, char **argv);

/* RUN_CLI_CMD(&c, cmd_sim, "sim", "--load", "0.5") */
#define RUN_CLI_CMD(c, cmd, ...)                                                     \
	do {                                                                         \
		char *argv_[] = { __VA_ARGS__, NULL };                               \
		run_cli_cmd((c), (cmd), (int)(sizeof(argv_) / sizeof(argv_[0])) - 1, \
			    argv_);                                                  \
	} while (0)

#endif
