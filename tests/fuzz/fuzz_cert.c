/* SPDX-License-Identifier: ISC */
/*
 * Fuzz target: a certificate from a hostile server, parsed as an engine
 * parses it, with the engines' built-in EC and RSA key decoding
 * (keydecode.h) in effect.  The input is the certificate's DER, as the
 * Certificate message carries it.
 *
 * Besides the sanitizers, one property: the route keydecode selects
 * changes no key's meaning.  The same SubjectPublicKeyInfo decoded by the
 * default provider's decoder (OSSL_DECODER, which no ENGINE redirects)
 * gives the same key, or both fail.  Then what the engine does with a
 * server's key runs on it: its size and security bits (the security
 * level), the pin digest's input (the SPKI's DER, which must be the bytes
 * the certificate carries), the self-signature check, and the host name
 * check.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "keydecode.h"

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define MAX_DER (64 * 1024) /* larger than any chain the engines keep */

static void
check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_cert: property failed: %s\n", what);
		abort();
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[128];

	if (keydecode_init(err, sizeof(err)) == -1) {
		fprintf(stderr, "fuzz_cert: %s\n", err);
		abort();
	}
	return 0;
}

/* The provider's decoding of spki (DER), or NULL. */
static EVP_PKEY *
provider_key(const unsigned char *spki, size_t len)
{
	OSSL_DECODER_CTX *d;
	EVP_PKEY *k = NULL;

	d = OSSL_DECODER_CTX_new_for_pkey(&k, "DER", "SubjectPublicKeyInfo",
	    NULL, EVP_PKEY_PUBLIC_KEY, NULL, NULL);
	if (d == NULL || OSSL_DECODER_from_data(d, &spki, &len) != 1 ||
	    len != 0) {
		EVP_PKEY_free(k);
		k = NULL;
	}
	OSSL_DECODER_CTX_free(d);
	return k;
}

static void
use_key(X509 *x, EVP_PKEY *k)
{
	unsigned char *spki = NULL;
	EVP_PKEY *pk;
	int len;

	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki);
	if (len <= 0)
		return;
	pk = provider_key(spki, (size_t)len);
	/* Only EC and RSA take the built-in route; what the provider cannot
	 * decode, the built-in decoder must not make a key of either. */
	if (k == NULL)
		check(pk == NULL || (EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC &&
		                        EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA),
		    "the provider decodes an EC or RSA key the engine cannot");
	else if (pk == NULL)
		check(EVP_PKEY_get_base_id(k) != EVP_PKEY_EC &&
		          EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA,
		    "the engine decodes an EC or RSA key the provider refuses");
	else if (!EVP_PKEY_is_a(pk, "SM2"))
		/* (An SM2 key shares the EC OID: the provider makes an SM2
		 * key of it, the built-in decoder an EC key on that curve.) */
		check(EVP_PKEY_eq(k, pk) == 1, "the two decodings differ");
	if (k != NULL) {
		(void)EVP_PKEY_get_bits(k);
		(void)EVP_PKEY_get_security_bits(k);
		(void)X509_verify(x, k);
	}
	EVP_PKEY_free(pk);
	OPENSSL_free(spki);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const unsigned char *p = data;
	X509 *x;

	if (size > MAX_DER)
		return 0;
	if ((x = d2i_X509(NULL, &p, (long)size)) == NULL) {
		ERR_clear_error();
		return 0;
	}
	use_key(x, X509_get0_pubkey(x));
	(void)X509_check_host(x, "fuzz.example", 0,
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL);
	X509_free(x);
	ERR_clear_error();
	return 0;
}
