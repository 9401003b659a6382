/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The commands of the qlb binary, one per noun (main.c dispatches). */
#ifndef QLB_CLI_H
#define QLB_CLI_H

/* A command, or a verb of one that parses its own options (forecast's). */
struct qlb_cli_command {
	const char *name;
	int (*run)(int argc, char **argv);
};

int cmd_attach(int argc, char **argv);
int cmd_detach(int argc, char **argv);
int cmd_vip(int argc, char **argv);
int cmd_backend(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_conn(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_agent(int argc, char **argv);
int cmd_sim(int argc, char **argv);
int cmd_forecast(int argc, char **argv);

#endif /* QLB_CLI_H */
