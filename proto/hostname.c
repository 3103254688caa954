/* SPDX-License-Identifier: ISC */
/*
 * Host names and address literals (hostname.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <string.h>

#include "cpproto.h"
#include "hostname.h"

static int
ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

size_t
cp_hostname_len(const char *s, size_t len)
{
	return len > 0 && s[len - 1] == '.' ? len - 1 : len;
}

int
cp_hostname_ok(const char *s, size_t len)
{
	size_t i, label = 0;
	int digits = 1;

	len = cp_hostname_len(s, len);
	if (len == 0 || len > CP_MAX_HOST)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			digits = 1;
			continue;
		}
		if (!ldh(c) || ++label > 63)
			return 0;
		if (c < '0' || c > '9')
			digits = 0;
	}
	return label > 0 && !digits;
}

int
cp_addr_literal(const char *s)
{
	struct in6_addr a6;
	struct in_addr a4;
	char buf[INET6_ADDRSTRLEN + 1];
	const char *pct;
	size_t n;

	if (inet_pton(AF_INET, s, &a4) == 1)
		return 1;
	/* A scope (fe80::1%eth0) is the kernel's business, not ours. */
	pct = strchr(s, '%');
	n = pct != NULL ? (size_t)(pct - s) : strlen(s);
	if (n == 0 || n >= sizeof(buf) || (pct != NULL && pct[1] == '\0'))
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (pct != NULL) {
		for (const char *p = pct + 1; *p != '\0'; p++)
			if (!ldh((unsigned char)*p) && *p != '.')
				return 0;
	}
	return inet_pton(AF_INET6, buf, &a6) == 1;
}

int
cp_host_ok(const char *s)
{
	return cp_addr_literal(s) || cp_hostname_ok(s, strlen(s));
}
