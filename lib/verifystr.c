/* SPDX-License-Identifier: ISC */
/*
 * Texts for OpenSSL codes, kept from the cprops API:
 * ssl_verification_error_str for an X509_V_* code, ssl_err_inf for an
 * SSL_get_error() code.
 */
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "cprops/client.h"

char *
ssl_verification_error_str(int code)
{
	const char *s;

	/* cp_client_connect reports a server without a certificate with
	 * this code, so say so. */
	if (code == X509_V_ERR_APPLICATION_VERIFICATION)
		return (char *)"no server certificate presented or "
		               "application verification failure";
	s = X509_verify_cert_error_string(code);
	if (s == NULL || s[0] == '\0')
		s = "unknown certificate verification error";
	return (char *)s;
}

/* cprops named the code and nothing else; programs may compare the text. */
char *
ssl_err_inf(int err)
{
	static const struct {
		int code;
		const char *name;
	} names[] = {
		{SSL_ERROR_NONE, "SSL_ERROR_NONE"},
		{SSL_ERROR_SSL, "SSL_ERROR_SSL"},
		{SSL_ERROR_WANT_READ, "SSL_ERROR_WANT_READ"},
		{SSL_ERROR_WANT_WRITE, "SSL_ERROR_WANT_WRITE"},
		{SSL_ERROR_WANT_X509_LOOKUP, "SSL_ERROR_WANT_X509_LOOKUP"},
		{SSL_ERROR_SYSCALL, "SSL_ERROR_SYSCALL"},
		{SSL_ERROR_ZERO_RETURN, "SSL_ERROR_ZERO_RETURN"},
		{SSL_ERROR_WANT_CONNECT, "SSL_ERROR_WANT_CONNECT"},
		{SSL_ERROR_WANT_ACCEPT, "SSL_ERROR_WANT_ACCEPT"},
		{SSL_ERROR_WANT_ASYNC, "SSL_ERROR_WANT_ASYNC"},
		{SSL_ERROR_WANT_ASYNC_JOB, "SSL_ERROR_WANT_ASYNC_JOB"},
		{SSL_ERROR_WANT_CLIENT_HELLO_CB, "SSL_ERROR_WANT_CLIENT_HELLO_CB"},
		{SSL_ERROR_WANT_RETRY_VERIFY, "SSL_ERROR_WANT_RETRY_VERIFY"},
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].code == err)
			return (char *)names[i].name;
	return (char *)"unknown";
}
