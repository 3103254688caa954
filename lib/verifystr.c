/*
 * ssl_verification_error_str: the text for an X509_V_* code, kept from the
 * cprops API.
 */
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
