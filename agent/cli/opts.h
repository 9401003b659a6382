/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Declarative command-line options. Each command declares its options once,
 * in a table; parsing, the --help text and the wording of every bad-value
 * error come from it. getopt_long would leave each command its own loop,
 * reset and wording, and could not tell a single-valued option given twice.
 */
#ifndef QLB_OPTS_H
#define QLB_OPTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum qlb_opt_type {
	QLB_OPT_FLAG = 1,	/* no value: sets an int to 1 */
	QLB_OPT_STR,		/* const char *, pointing into argv */
	QLB_OPT_STRBUF,		/* copied into a char[max] */
	QLB_OPT_LIST,		/* struct qlb_opt_list: every value given */
	QLB_OPT_U32,		/* uint32_t in [min, max] */
	QLB_OPT_U64,		/* uint64_t in [min, max] */
	QLB_OPT_DOUBLE,		/* double in [min, max] */
	QLB_OPT_CHOICE,		/* int: the value of the name given */
	QLB_OPT_CUSTOM,		/* parse(value, dst, why, len) */
	QLB_OPT_SECTION,	/* no option: a heading in the help (name "") */
};

enum qlb_opt_flags {
	QLB_OPT_F_REPEAT = 1u << 0,	/* may be given more than once (LIST and
					 * CUSTOM accumulate) */
};

struct qlb_opt_choice {
	const char *name;
	int value;
};

#define QLB_OPT_LIST_MAX 64
struct qlb_opt_list {
	const char *v[QLB_OPT_LIST_MAX];
	unsigned int n;
};

struct qlb_opt {
	const char *name;	/* long name, without "--"; NULL ends a table */
	char short_name;	/* 0: none */
	uint8_t type;		/* enum qlb_opt_type */
	uint8_t flags;		/* enum qlb_opt_flags */
	uint8_t group;		/* options of one non-zero group exclude each other */
	const char *arg;	/* the value's name in the help: "IFACE" */
	const char *help;	/* '\n' starts a continuation line */
	size_t off;		/* of the value in the command's options struct */
	double min, max;	/* U32, U64, DOUBLE: inclusive; STRBUF: max = size */
	const struct qlb_opt_choice *choices;	/* CHOICE: ends with { NULL } */
	/* CUSTOM: 0, or -errno with a reason in why (no option name). */
	int (*parse)(const char *value, void *dst, char *why, size_t len);
};

struct qlb_cmd_spec {
	const char *name;	/* "attach", "forecast train": for messages */
	const char *synopsis;	/* "Usage: ..." lines and what the command does */
	const char *epilog;	/* after the options; may be NULL */
	const struct qlb_opt *opts;
	unsigned int max_pos;	/* positional arguments taken */
	int stop_at_pos;	/* options end at the first positional (main) */
};

struct qlb_opts_result {
	char *pos[8];		/* positional arguments, in order */
	unsigned int npos;
	unsigned int seen[64];	/* times each option of the table was given */
	int next;		/* with stop_at_pos: index of the first positional */
};

/*
 * Parses argv[1..argc) (argv[0] is the command's name) into base, which the
 * caller filled with defaults. Returns 0 to go on, 1 after printing --help
 * to stdout (the command exits 0), or -EINVAL after printing one line
 * naming the problem (the command exits 2).
 */
int qlb_opts_parse(const struct qlb_cmd_spec *spec, int argc, char **argv, void *base,
		   struct qlb_opts_result *res);
/* The --help text: synopsis, one line per option, epilog. */
void qlb_opts_help(const struct qlb_cmd_spec *spec, FILE *f);
/* 1 if the option named long_name was given. */
int qlb_opts_given(const struct qlb_cmd_spec *spec, const struct qlb_opts_result *res,
		   const char *long_name);

/* Table rows, as designated initializers, so that a row can add .flags or
 * .group: { QLB_O_FLAG("json", 'j', struct args, json, "JSON output") }. */
#define QLB_O_(l, s, t, st, f, h) \
	.name = (l), .short_name = (s), .type = (t), .off = offsetof(st, f), .help = (h)
#define QLB_O_FLAG(l, s, st, f, h)	QLB_O_(l, s, QLB_OPT_FLAG, st, f, h)
#define QLB_O_STR(l, s, a, st, f, h)	QLB_O_(l, s, QLB_OPT_STR, st, f, h), .arg = (a)
#define QLB_O_STRBUF(l, s, a, st, f, h)	QLB_O_(l, s, QLB_OPT_STRBUF, st, f, h), .arg = (a), \
	.max = sizeof(((st *)0)->f)
#define QLB_O_LIST(l, s, a, st, f, h)	QLB_O_(l, s, QLB_OPT_LIST, st, f, h), .arg = (a), \
	.flags = QLB_OPT_F_REPEAT
#define QLB_O_U32(l, s, a, st, f, lo, hi, h) \
	QLB_O_(l, s, QLB_OPT_U32, st, f, h), .arg = (a), .min = (lo), .max = (hi)
#define QLB_O_U64(l, s, a, st, f, lo, hi, h) \
	QLB_O_(l, s, QLB_OPT_U64, st, f, h), .arg = (a), .min = (lo), .max = (hi)
#define QLB_O_DOUBLE(l, s, a, st, f, lo, hi, h) \
	QLB_O_(l, s, QLB_OPT_DOUBLE, st, f, h), .arg = (a), .min = (lo), .max = (hi)
#define QLB_O_CHOICE(l, s, a, st, f, c, h) \
	QLB_O_(l, s, QLB_OPT_CHOICE, st, f, h), .arg = (a), .choices = (c)
#define QLB_O_CUSTOM(l, s, a, st, f, fn, h) \
	QLB_O_(l, s, QLB_OPT_CUSTOM, st, f, h), .arg = (a), .parse = (fn)
#define QLB_OPT_END { .name = NULL }

#endif /* QLB_OPTS_H */
