/* SPDX-License-Identifier: ISC */
/*
 * Host name and address check of a server certificate, with the rules the
 * daemon applies (OpenSSL's X509_check_host without partial wildcards,
 * X509_check_ip_asc for address literals): subjectAltName DNS and IP
 * entries, RFC 6125 wildcards in the left-most label only, never the
 * subject CN (the daemon's default; a destination the daemon's policy
 * gives "cn-fallback yes" still fails this check).
 */
#ifndef CP_HOSTCHECK_H
#define CP_HOSTCHECK_H

#include <stddef.h>

#include <openssl/x509.h>

/*
 * host is a DNS name in A-label form (one trailing dot allowed), an IPv4 or
 * IPv6 literal, or an IPv6 literal in brackets.  Returns 1 if cert matches,
 * 0 if not, -1 on a bad argument or an internal error, with a message in
 * err (which may be NULL).
 */
int cp_hostcheck(X509 *cert, const char *host, char *err, size_t errsz);

#endif
