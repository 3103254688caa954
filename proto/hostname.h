/* SPDX-License-Identifier: ISC */
/*
 * The one rule for what a host name is, for the configuration, the
 * policy, the resolver, TLS and the library alike: if they disagreed, a
 * name the policy judged could be resolved or verified as another.
 */
#ifndef CP_HOSTNAME_H
#define CP_HOSTNAME_H

#include <stddef.h>

/*
 * 1 if s[0..len) is a DNS host name: labels of 1 to 63 letters, digits,
 * '-' or '_' (ASCII, whatever the locale says), separated by single dots,
 * at most 253 characters, one trailing dot allowed; and a last label that
 * is not all digits, so that "127.1" or "10.0.0.1" is never a name (and
 * no inet_aton() form slips past the address rules as one).  0 otherwise.
 */
int cp_hostname_ok(const char *s, size_t len);

/* The length of s without its trailing dot, for comparing names. */
size_t cp_hostname_len(const char *s, size_t len);

/* 1 if s is an IPv4 dotted quad or an IPv6 address (with an optional
 * %scope), as inet_pton() reads them. */
int cp_addr_literal(const char *s);

/* A host to connect to: a host name or an address literal. */
int cp_host_ok(const char *s);

#endif
