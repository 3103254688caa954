/* SPDX-License-Identifier: ISC */
/*
 * Certificate host name check: the backend of cp_client_verify_hostname.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "cpproto.h"
#include "hostcheck.h"
#include "hostname.h"

static void hc_err(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
hc_err(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errsz == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

static int
hc_result(int rc, const char *host, char *err, size_t errsz)
{
	if (rc == 1)
		return 1;
	if (rc == 0) {
		hc_err(err, errsz, "certificate does not match %s", host);
		return 0;
	}
	hc_err(err, errsz, "cannot check certificate against %s", host);
	return -1;
}

static int
hc_has_san(X509 *cert)
{
	return X509_get_ext_by_NID(cert, NID_subject_alt_name, -1) >= 0;
}

static int
hc_check_ip(X509 *cert, const char *host, char *err, size_t errsz)
{
	int rc;

	rc = X509_check_ip_asc(cert, host, 0);
	return hc_result(rc, host, err, errsz);
}

/* An IPv6 literal in brackets, as in a URL; 1 with the address copied. */
static int
hc_bracketed(const char *host, size_t len, char *buf, size_t bufsz)
{
	struct in6_addr a6;

	if (len < 3 || host[0] != '[' || host[len - 1] != ']' ||
	    len - 2 >= bufsz)
		return 0;
	memcpy(buf, host + 1, len - 2);
	buf[len - 2] = '\0';
	return inet_pton(AF_INET6, buf, &a6) == 1;
}

int
cp_hostcheck(X509 *cert, const char *host, char *err, size_t errsz)
{
	char buf[CP_MAX_HOST + 1];
	struct in6_addr a6;
	struct in_addr a4;
	size_t len;
	int rc;

	if (err != NULL && errsz > 0)
		err[0] = '\0';
	if (cert == NULL) {
		hc_err(err, errsz, "no server certificate");
		return -1;
	}
	if (host == NULL || host[0] == '\0') {
		hc_err(err, errsz, "empty host name");
		return -1;
	}
	len = strnlen(host, CP_MAX_HOST + 1);
	if (len > CP_MAX_HOST) {
		hc_err(
		    err, errsz, "host name longer than %d bytes", CP_MAX_HOST);
		return -1;
	}
	if (inet_pton(AF_INET, host, &a4) == 1 ||
	    inet_pton(AF_INET6, host, &a6) == 1)
		return hc_check_ip(cert, host, err, errsz);
	if (hc_bracketed(host, len, buf, sizeof(buf)))
		return hc_check_ip(cert, buf, err, errsz);

	/* The one host-name rule (hostname.h) also keeps OpenSSL's special
	 * cases away: a leading dot would ask X509_check_host for "any
	 * subdomain of", and a '*' in the host is never meaningful. */
	if (!cp_hostname_ok(host, len)) {
		hc_err(err, errsz, "invalid host name \"%.*s\"", CP_MAX_HOST,
		    host);
		return -1;
	}
	len = cp_hostname_len(host, len);
	memcpy(buf, host, len);
	buf[len] = '\0';
	/* The subject CN is never a host name: a CA that vouches for a
	 * name puts it in subjectAltName (RFC 6125, CA/B Baseline
	 * Requirements), and a CN-only certificate must not match. */
	ERR_set_mark();
	rc = X509_check_host(cert, buf, len,
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
		X509_CHECK_FLAG_NEVER_CHECK_SUBJECT,
	    NULL);
	ERR_pop_to_mark();
	if (rc == 0 && !hc_has_san(cert)) {
		hc_err(err, errsz, "certificate does not match %s: it has no "
		    "subjectAltName (the subject CN is not used)", buf);
		return 0;
	}
	return hc_result(rc, buf, err, errsz);
}
