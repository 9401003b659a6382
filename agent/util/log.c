// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Messages of the two processes that print (the CLI and the agent): one
 * prefix each, and libbpf's and libxdp's output routed through -v. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include "log.h"

int qlb_verbose;
static int libs_quiet;

/* libbpf and libxdp report what they try as well as what fails; qlb prints
 * its own error where it handles one, so without -v only libbpf warnings
 * outside a quiet section get through. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!qlb_verbose && (level != LIBBPF_WARN || libs_quiet))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int libxdp_print(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	if (!qlb_verbose && (level != LIBXDP_WARN || libs_quiet))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

void qlb_setup_library_logging(void)
{
	libbpf_set_print(libbpf_print);
	libxdp_set_print(libxdp_print);
}

void qlb_libs_quiet(int quiet)
{
	libs_quiet = quiet;
}

static const char *prefix = "qlb";

void qlb_log_prefix(const char *p)
{
	prefix = p;
}

static void vlog(const char *kind, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: %s", prefix, kind);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

/* The printers differ only in the kind they print and what they return:
 * one body for all, since C cannot forward "..." without a va_list twin. */
#define QLB_PRINTER(type, name, kind, ret)		\
	type name(const char *fmt, ...)			\
	{						\
		va_list ap;				\
							\
		va_start(ap, fmt);			\
		vlog(kind, fmt, ap);			\
		va_end(ap);				\
		ret;					\
	}

QLB_PRINTER(void, qlb_err, "", return)
QLB_PRINTER(void, qlb_warn, "warning: ", return)
QLB_PRINTER(void, qlb_note, "", return)
QLB_PRINTER(int, qlb_usage_error, "", return QLB_EXIT_USAGE)

int qlb_fail(int err, const struct qlb_error *e)
{
	if (err)
		qlb_err("%s", e && e->msg[0] ? e->msg : strerror(-err));
	return qlb_exit_code(err);
}

int qlb_exit_code(int err)
{
	switch (-err) {
	case 0:
		return QLB_EXIT_OK;
	case EINVAL:
	case ENOENT:
	case EEXIST:
	case ENODEV:
	case ERANGE:
	case EHOSTUNREACH:	/* a backend address with no route */
	case EMEDIUMTYPE:	/* the pin directory is not on a bpffs */
	case EADDRINUSE:	/* a server endpoint of another VIP */
	case ESTALE:		/* pins that the running program does not use */
		return QLB_EXIT_USAGE;
	default:
		return QLB_EXIT_FAIL;
	}
}

