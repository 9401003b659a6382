/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Messages, for the two processes that print: the CLI (prefix "qlb") and
 * the agent ("qlb agent"). Everything below them returns -errno and, where
 * that is not enough, a struct qlb_error; they print it here, once.
 */
#ifndef QLB_LOG_H
#define QLB_LOG_H

#include "error.h"

/* Exit codes of the CLI. */
enum {
	QLB_EXIT_OK = 0,
	QLB_EXIT_FAIL = 1,	/* the system refused: permissions, kernel, ... */
	QLB_EXIT_USAGE = 2,	/* bad input: nothing was changed */
};

extern int qlb_verbose;

/* The process's prefix, "qlb" until set. */
void qlb_log_prefix(const char *prefix);
/* "<prefix>: message" on one line to stderr. */
void qlb_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "<prefix>: warning: message". */
void qlb_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "<prefix>: message", for what the agent reports as it runs. */
void qlb_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* qlb_err for bad input: returns QLB_EXIT_USAGE. */
int qlb_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Maps a -errno to an exit code: input errors (-EINVAL, -ENOENT, -EEXIST,
 * -ENODEV, -ERANGE, -EHOSTUNREACH, -EMEDIUMTYPE) are usage errors. */
int qlb_exit_code(int err);
/* Prints e's message (else strerror) if err is an error; its exit code. */
int qlb_fail(int err, const struct qlb_error *e);

/* Routes libbpf's and libxdp's messages: all with -v, else warnings only. */
void qlb_setup_library_logging(void);
/* Silences even warnings, around calls whose failure qlb expects and
 * handles (libxdp probing for its dispatcher). */
void qlb_libs_quiet(int quiet);

#endif /* QLB_LOG_H */
