// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Endpoints as users write them: 1.2.3.4:80, [2001:db8::1]:80. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "parse.h"

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

int qlb_addr_unicast(const union qlb_addr *a, uint8_t family, char *why, size_t len)
{
	const char *what = NULL;

	if (family == QLB_FAMILY_V4) {
		uint32_t v = ntohl(a->v4);

		if (v >> 24 == 0)
			what = "an unspecified (0.0.0.0/8) address";
		else if (v >> 24 == 127)
			what = "a loopback address";
		else if (v == 0xffffffffu)
			what = "the broadcast address";
		else if (v >> 28 == 0xe)
			what = "a multicast address";
		else if (v >> 28 == 0xf)
			what = "a reserved (240.0.0.0/4) address";
	} else {
		static const uint8_t zero[16], loop[16] = { [15] = 1 };

		if (!memcmp(a->bytes, zero, 16))
			what = "the unspecified address";
		else if (!memcmp(a->bytes, loop, 16))
			what = "the loopback address";
		else if (a->bytes[0] == 0xff)
			what = "a multicast address";
		else if (!memcmp(a->bytes, zero, 10) && a->bytes[10] == 0xff && a->bytes[11] == 0xff)
			what = "an IPv4-mapped address (use the IPv4 address)";
	}
	if (!what)
		return 0;
	snprintf(why, len, "%s", what);
	return -EINVAL;
}
