// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Error reporting and argument parsing shared by every command. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include "qlb.h"

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

static void vqlb_err(const char *fmt, va_list ap)
{
	fputs("qlb: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void qlb_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vqlb_err(fmt, ap);
	va_end(ap);
}

int qlb_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vqlb_err(fmt, ap);
	va_end(ap);
	return QLB_EXIT_USAGE;
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
		return QLB_EXIT_USAGE;
	default:
		return QLB_EXIT_FAIL;
	}
}

int qlb_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	/* strtoull alone takes "-1" and leading blanks */
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int qlb_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v;
	int err = qlb_parse_u64(s, min, max, &v);

	if (!err)
		*out = (uint32_t)v;
	return err;
}

int qlb_parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	if (!s)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end || !isfinite(v))
		return -EINVAL;
	if (errno || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int qlb_parse_proto(const char *s, uint8_t *proto)
{
	if (!strcmp(s, "tcp"))
		*proto = IPPROTO_TCP;
	else if (!strcmp(s, "udp"))
		*proto = IPPROTO_UDP;
	else
		return -EINVAL;
	return 0;
}

const char *qlb_proto_name(uint8_t proto)
{
	return proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : "?";
}

int qlb_parse_endpoint(const char *s, int port_required, struct qlb_endpoint *ep,
		       char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port = NULL, *close;
	size_t hlen;
	uint32_t p;

	memset(ep, 0, sizeof(*ep));
	if (s[0] == '[') {
		close = strchr(s, ']');
		if (!close) {
			snprintf(err, errlen, "bad address '%s': missing ']'", s);
			return -EINVAL;
		}
		hlen = close - s - 1;
		if (close[1] == ':')
			port = close + 2;
		else if (close[1]) {
			snprintf(err, errlen, "bad address '%s': junk after ']'", s);
			return -EINVAL;
		}
		s++;
		ep->family = QLB_FAMILY_V6;
	} else {
		close = strchr(s, ':');
		if (close && strchr(close + 1, ':')) {
			snprintf(err, errlen,
				 "bad address '%s': write IPv6 addresses in brackets, as [2001:db8::1]:80",
				 s);
			return -EINVAL;
		}
		hlen = close ? (size_t)(close - s) : strlen(s);
		if (close)
			port = close + 1;
		ep->family = QLB_FAMILY_V4;
	}
	if (hlen == 0 || hlen >= sizeof(host)) {
		snprintf(err, errlen, "bad address '%s'", s);
		return -EINVAL;
	}
	memcpy(host, s, hlen);
	host[hlen] = 0;
	if (inet_pton(ep->family == QLB_FAMILY_V4 ? AF_INET : AF_INET6, host,
		      ep->addr.bytes) != 1) {
		snprintf(err, errlen, "bad %s address '%s'",
			 ep->family == QLB_FAMILY_V4 ? "IPv4" : "IPv6", host);
		return -EINVAL;
	}
	if (port) {
		if (qlb_parse_u32(port, 1, 65535, &p)) {
			snprintf(err, errlen, "bad port '%s': want 1-65535", port);
			return -EINVAL;
		}
		ep->port = p;
	} else if (port_required) {
		snprintf(err, errlen, "missing port in '%s': want ADDR:PORT", s);
		return -EINVAL;
	}
	return 0;
}

char *qlb_format_endpoint(const union qlb_addr *a, uint8_t family, uint16_t port,
			  char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	inet_ntop(family == QLB_FAMILY_V4 ? AF_INET : AF_INET6, a->bytes, host,
		  sizeof(host));
	if (family == QLB_FAMILY_V6)
		snprintf(buf, len, port ? "[%s]:%u" : "[%s]", host, port);
	else
		snprintf(buf, len, port ? "%s:%u" : "%s", host, port);
	return buf;
}
