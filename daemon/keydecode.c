/* SPDX-License-Identifier: ISC */
/*
 * Fast public-key decoding for the engines (keydecode.h).
 *
 * Why: OpenSSL 3.0 decodes the key of each certificate it parses
 * (d2i_X509, so libssl on every Certificate message) with an
 * OSSL_DECODER chain it builds afresh from every key manager and decoder
 * of the loaded providers: 90 us per certificate here, two certificates
 * per handshake, 46% of an engine's instructions per TLS 1.3 connect.
 * Its own built-in EC and RSA decoders (the ones of OpenSSL 1.1) take 18
 * and 8 us; the parsing itself is the same code on both routes.
 * libcrypto takes the built-in route for a key type when an ENGINE is
 * registered for that type's methods, so this file registers one whose
 * methods are the built-in ones: it adds no code of its own to any
 * operation, it only selects libcrypto's built-in EC and RSA
 * implementations over the default provider's.
 *
 * Scope: only the engines call this, before they parse anything, so
 * every EC and RSA key in an engine (anchors, chains, client keys) is of
 * one kind.  Other key types (Ed25519, RSA-PSS keys) keep the providers.
 * The client keys (keyring.c) were built-in (legacy) keys already.  One
 * difference to know: the built-in EC method names curves the OpenSSL way
 * ("prime256v1"), not by their NIST aliases ("P-256"); libssl uses the
 * former, and nothing else in an engine makes keys by name.
 *
 * OPENSSL_SUPPRESS_DEPRECATED: the ENGINE and EVP_PKEY_METHOD calls are
 * deprecated in 3.0 but part of the whole 3.x series.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <stdio.h>

#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "keydecode.h"

static const int kd_nids[] = {EVP_PKEY_EC, EVP_PKEY_RSA};

/* ENGINE_PKEY_METHS_PTR: the list, or one type's built-in method. */
static int
kd_pkey_meths(ENGINE *e, EVP_PKEY_METHOD **pm, const int **nids, int nid)
{
	size_t i;

	if (pm == NULL) {
		*nids = kd_nids;
		return (int)(sizeof(kd_nids) / sizeof(kd_nids[0]));
	}
	*pm = NULL;
	for (i = 0; i < sizeof(kd_nids) / sizeof(kd_nids[0]); i++)
		if (kd_nids[i] == nid)
			*pm = (EVP_PKEY_METHOD *)EVP_PKEY_meth_find(nid);
	return *pm != NULL;
}

int
keydecode_init(char *err, size_t errsz)
{
	/* Kept for the life of the process: the method table holds no
	 * reference of its own. */
	static ENGINE *e;

	if (e != NULL)
		return 0;
	if ((e = ENGINE_new()) == NULL) {
		snprintf(err, errsz, "ENGINE_new failed");
		return -1;
	}
	if (!ENGINE_set_id(e, "cpconnect-builtin") ||
	    !ENGINE_set_name(e, "libcrypto's built-in EC and RSA methods") ||
	    !ENGINE_set_pkey_meths(e, kd_pkey_meths) ||
	    !ENGINE_register_pkey_meths(e)) {
		ENGINE_unregister_pkey_meths(e);
		ENGINE_free(e);
		e = NULL;
		ERR_clear_error();
		snprintf(
		    err, errsz, "cannot register the built-in key methods");
		return -1;
	}
	return 0;
}
