/* SPDX-License-Identifier: ISC */
/*
 * cp_hostcheck (the backend of cp_client_verify_hostname) against
 * certificates built in memory, and ssl_verification_error_str.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cprops/client.h"
#include "../cutest.h"
#include "hostcheck.h"

struct hc_case {
	const char *cn;  /* subject CN, or NULL */
	const char *san; /* subjectAltName in openssl.cnf syntax, or NULL */
	const char *host;
	int want;
};

static const struct hc_case exact_cases[] = {
    {NULL, "DNS:www.example.com", "www.example.com", 1},
    {NULL, "DNS:www.example.com", "example.com", 0},
    {NULL, "DNS:www.example.com", "www.example.org", 0},
    {NULL, "DNS:www.example.com", "ww.example.com", 0},
    {NULL, "DNS:www.example.com", "www.example.com.evil", 0},
    {NULL, "DNS:a.example.com,DNS:b.example.net", "b.example.net", 1},
    {NULL, "DNS:www.example.com", "WWW.Example.COM", 1},
    {NULL, "DNS:WWW.EXAMPLE.COM", "www.example.com", 1},
    {NULL, "DNS:www.example.com", "www.example.com.", 1},
    {NULL, "DNS:xn--bcher-kva.example", "xn--bcher-kva.example", 1},
    {NULL, "DNS:xn--bcher-kva.example", "xn--bcher-kvb.example", 0},
};

static const struct hc_case wildcard_cases[] = {
    {NULL, "DNS:*.example.com", "a.example.com", 1},
    {NULL, "DNS:*.example.com", "A.EXAMPLE.com", 1},
    {NULL, "DNS:*.example.com", "a.example.com.", 1},
    {NULL, "DNS:*.example.com", "a.b.example.com", 0},
    {NULL, "DNS:*.example.com", "example.com", 0},
    {NULL, "DNS:*.example.com", "a.example.org", 0},
    /* Partial wildcards are refused (the daemon's flag). */
    {NULL, "DNS:f*.example.com", "foo.example.com", 0},
    {NULL, "DNS:*o.example.com", "foo.example.com", 0},
    /* Only the left-most label may be a wildcard. */
    {NULL, "DNS:www.*.example.com", "www.a.example.com", 0},
    {NULL, "DNS:a.*.com", "a.example.com", 0},
    /* Not over a public suffix-like single label. */
    {NULL, "DNS:*.com", "example.com", 0},
    /* A wildcard may cover an A-label but not sit inside one. */
    {NULL, "DNS:*.example.com", "xn--bcher-kva.example.com", 1},
    {NULL, "DNS:*.xn--bcher-kva.example", "www.xn--bcher-kva.example", 1},
    {NULL, "DNS:xn--*.example.com", "xn--bcher-kva.example.com", 0},
};

static const struct hc_case ip_cases[] = {
    {NULL, "IP:192.0.2.10", "192.0.2.10", 1},
    {NULL, "IP:192.0.2.10", "192.0.2.11", 0},
    {NULL, "IP:192.0.2.10,IP:127.0.0.1", "127.0.0.1", 1},
    {NULL, "IP:2001:db8::1", "2001:db8::1", 1},
    {NULL, "IP:2001:db8::1", "2001:0db8:0000:0000:0000:0000:0000:0001", 1},
    {NULL, "IP:2001:0db8:0:0:0:0:0:1", "2001:DB8::1", 1},
    {NULL, "IP:2001:db8::1", "[2001:db8::1]", 1},
    {NULL, "IP:2001:db8::1", "2001:db8::2", 0},
    {NULL, "IP:::1", "::1", 1},
    /* An IPv4 address is not its IPv4-mapped IPv6 form. */
    {NULL, "IP:192.0.2.10", "::ffff:192.0.2.10", 0},
    /* An address literal never matches a DNS entry or the CN. */
    {NULL, "DNS:127.0.0.1", "127.0.0.1", 0},
    {"127.0.0.1", NULL, "127.0.0.1", 0},
    {NULL, "DNS:www.example.com,IP:192.0.2.10", "www.example.com", 1},
    /* ... and a name never matches an IP entry. */
    {NULL, "IP:192.0.2.10", "host.example", 0},
};

/* The subject CN never names the host (RFC 6125 6.4.4 as CAs practise
 * it): only subjectAltName entries count. */
static const struct hc_case cn_cases[] = {
    {"www.example.com", NULL, "www.example.com", 0},
    {"www.example.com", NULL, "other.example.com", 0},
    {"*.example.com", NULL, "a.example.com", 0},
    {"www.example.com", "DNS:other.example.com", "www.example.com", 0},
    {"www.example.com", "DNS:other.example.com", "other.example.com", 1},
    /* Not even when the subjectAltName holds addresses only. */
    {"www.example.com", "IP:192.0.2.10", "www.example.com", 0},
    {"www.example.com", "DNS:www.example.com", "www.example.com", 1},
    {NULL, NULL, "www.example.com", 0},
};

/* Hosts refused before any matching, whatever the certificate says. */
static const struct hc_case bad_cases[] = {
    {NULL, "DNS:www.example.com", "", -1},
    {NULL, "DNS:www.example.com", ".", -1},
    /* OpenSSL reads a leading dot as "any subdomain": refuse it. */
    {NULL, "DNS:www.example.com", ".example.com", -1},
    {NULL, "DNS:www.example.com", "www..example.com", -1},
    {NULL, "DNS:www.example.com", "www.example.com..", -1},
    {NULL, "DNS:*.example.com", "*.example.com", -1},
    {NULL, "DNS:www.example.com", "www.example.com/x", -1},
    {NULL, "DNS:xn--bcher-kva.example",
        "b\xc3\xbc"
        "cher.example",
        -1},
    {NULL, "IP:2001:db8::1", "[2001:db8::1", -1},
};

static X509 *
make_cert(const char *cn, const char *san)
{
	X509_EXTENSION *ext;
	X509_NAME *name;
	X509 *x;

	if ((x = X509_new()) == NULL)
		return NULL;
	X509_set_version(x, 2);
	name = X509_get_subject_name(x);
	if (cn != NULL && !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	                      (const unsigned char *)cn, -1, -1, 0))
		goto fail;
	if (san != NULL) {
		ext =
		    X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
		if (ext == NULL)
			goto fail;
		if (!X509_add_ext(x, ext, -1)) {
			X509_EXTENSION_free(ext);
			goto fail;
		}
		X509_EXTENSION_free(ext);
	}
	return x;
fail:
	X509_free(x);
	return NULL;
}

static void
run_cases(const struct hc_case *c, size_t n)
{
	char err[256];
	size_t i;
	X509 *x;
	int rc;

	for (i = 0; i < n; i++) {
		x = make_cert(c[i].cn, c[i].san);
		CU_ASSERT_PTR_NOT_NULL_FATAL(x);
		err[0] = 'x';
		rc = cp_hostcheck(x, c[i].host, err, sizeof(err));
		if (rc != c[i].want)
			fprintf(stderr,
			    "\n  host \"%s\" cn %s san %s: got %d, "
			    "want %d (%s)\n",
			    c[i].host, c[i].cn ? c[i].cn : "-",
			    c[i].san ? c[i].san : "-", rc, c[i].want, err);
		CU_ASSERT_EQUAL(rc, c[i].want);
		/* Every failure explains itself; success leaves no text. */
		if (rc == 1) {
			CU_ASSERT_STRING_EQUAL(err, "");
		} else {
			CU_ASSERT(strlen(err) > 0);
		}
		X509_free(x);
	}
}

#define RUN(t) run_cases((t), sizeof(t) / sizeof((t)[0]))

static void
test_exact(void)
{
	RUN(exact_cases);
}

static void
test_wildcard(void)
{
	RUN(wildcard_cases);
}

static void
test_ip(void)
{
	RUN(ip_cases);
}

static void
test_cn(void)
{
	RUN(cn_cases);
}

static void
test_bad_host(void)
{
	RUN(bad_cases);
}

static void
test_bad_args(void)
{
	char host[400], err[128];
	X509 *x;

	x = make_cert("www.example.com", "DNS:www.example.com");
	CU_ASSERT_PTR_NOT_NULL_FATAL(x);
	CU_ASSERT_EQUAL(
	    cp_hostcheck(NULL, "www.example.com", err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "no server certificate");
	CU_ASSERT_EQUAL(cp_hostcheck(x, NULL, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "empty host name");
	CU_ASSERT_EQUAL(cp_hostcheck(x, "", err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "empty host name");

	/* Longer than any DNS name. */
	memset(host, 'a', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	CU_ASSERT_EQUAL(cp_hostcheck(x, host, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "longer"));
	/* A 64-byte label is not a DNS label. */
	memset(host, 'a', 64);
	strcpy(host + 64, ".example.com");
	CU_ASSERT_EQUAL(cp_hostcheck(x, host, err, sizeof(err)), -1);

	/* A NULL or tiny error buffer is allowed. */
	CU_ASSERT_EQUAL(cp_hostcheck(x, "www.example.com", NULL, 0), 1);
	CU_ASSERT_EQUAL(cp_hostcheck(x, "nope.example.com", NULL, 0), 0);
	CU_ASSERT_EQUAL(cp_hostcheck(x, "nope.example.com", err, 1), 0);
	CU_ASSERT_STRING_EQUAL(err, "");
	X509_free(x);
}

static void
test_verify_str(void)
{
	const char *s;

	CU_ASSERT_STRING_EQUAL(ssl_verification_error_str(X509_V_OK), "ok");
	CU_ASSERT_STRING_EQUAL(
	    ssl_verification_error_str(X509_V_ERR_CERT_HAS_EXPIRED),
	    "certificate has expired");
	CU_ASSERT_STRING_EQUAL(
	    ssl_verification_error_str(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT),
	    "self-signed certificate");
	CU_ASSERT_STRING_EQUAL(
	    ssl_verification_error_str(X509_V_ERR_HOSTNAME_MISMATCH),
	    "hostname mismatch");
	CU_ASSERT_STRING_EQUAL(
	    ssl_verification_error_str(X509_V_ERR_APPLICATION_VERIFICATION),
	    "no server certificate presented or application verification "
	    "failure");
	s = ssl_verification_error_str(999999);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT(strlen(s) > 0);
	s = ssl_verification_error_str(-7);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT(strlen(s) > 0);
}

int
main(void)
{
	CU_pSuite s;

	s = cu_suite("hostname", NULL, NULL);
	cu_test(s, "exact and case-insensitive names", test_exact);
	cu_test(s, "wildcards", test_wildcard);
	cu_test(s, "address literals", test_ip);
	cu_test(s, "no CN fallback", test_cn);
	cu_test(s, "refused host names", test_bad_host);
	cu_test(s, "bad arguments", test_bad_args);
	cu_test(s, "verification error strings", test_verify_str);
	return cu_finish();
}
