/* SPDX-License-Identifier: ISC */
/*
 * Cipher suite table and TLS key derivations (kdf.h).
 */
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/kdf.h>

#include "kdf.h"

const struct rec_suite *
rec_suite_find(uint16_t id)
{
	static const struct rec_suite suites[] = {
	    {0x1301, REC_V13, 0, 16, 12, "SHA256", EVP_aes_128_gcm},
	    {0x1302, REC_V13, 0, 32, 12, "SHA384", EVP_aes_256_gcm},
	    {0x1303, REC_V13, 1, 32, 12, "SHA256", EVP_chacha20_poly1305},
	    {0xC02B, REC_V12, 0, 16, 4, "SHA256", EVP_aes_128_gcm},
	    {0xC02F, REC_V12, 0, 16, 4, "SHA256", EVP_aes_128_gcm},
	    {0xC02C, REC_V12, 0, 32, 4, "SHA384", EVP_aes_256_gcm},
	    {0xC030, REC_V12, 0, 32, 4, "SHA384", EVP_aes_256_gcm},
	    {0xCCA9, REC_V12, 1, 32, 12, "SHA256", EVP_chacha20_poly1305},
	    {0xCCA8, REC_V12, 1, 32, 12, "SHA256", EVP_chacha20_poly1305},
	};
	size_t i;

	for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		if (suites[i].id == id)
			return &suites[i];
	return NULL;
}

/* The two KDFs, fetched once: in OpenSSL 3 a fetch is a locked lookup
 * that costs more than the derivation itself. */
static EVP_KDF *rec_kdf_hkdf, *rec_kdf_prf;
static pthread_once_t rec_kdf_once = PTHREAD_ONCE_INIT;

static void
rec_kdf_fetch(void)
{
	rec_kdf_hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	rec_kdf_prf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
}

int
rec_kdf_derive(const char *name, const OSSL_PARAM *params, void *out,
    size_t outlen)
{
	EVP_KDF_CTX *kctx;
	EVP_KDF *kdf;
	int ok = 0;

	pthread_once(&rec_kdf_once, rec_kdf_fetch);
	kdf = strcmp(name, "HKDF") == 0 ? rec_kdf_hkdf : rec_kdf_prf;
	if (kdf != NULL && (kctx = EVP_KDF_CTX_new(kdf)) != NULL) {
		ok = EVP_KDF_derive(kctx, out, outlen, params) == 1;
		EVP_KDF_CTX_free(kctx);
	}
	return ok ? 0 : -1;
}

int
rec_expand_label_ctx(const char *md, const unsigned char *secret, size_t slen,
    const char *label, const unsigned char *ctx, size_t ctxlen,
    unsigned char *out, size_t outlen)
{
	static const char prefix[] = "tls13 ";
	unsigned char info[2 + 1 + 255 + 1 + 255];
	size_t llen = strlen(label), plen = sizeof(prefix) - 1, ilen;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	OSSL_PARAM params[5];

	if (llen > 255 - plen || ctxlen > 255 || outlen == 0 || outlen > 255 ||
	    slen == 0)
		return -1;
	info[0] = (unsigned char)(outlen >> 8);
	info[1] = (unsigned char)outlen;
	info[2] = (unsigned char)(plen + llen);
	memcpy(info + 3, prefix, plen);
	memcpy(info + 3 + plen, label, llen);
	info[3 + plen + llen] = (unsigned char)ctxlen;
	if (ctxlen > 0)
		memcpy(info + 4 + plen + llen, ctx, ctxlen);
	ilen = 4 + plen + llen + ctxlen;

	params[0] = OSSL_PARAM_construct_utf8_string(
	    OSSL_KDF_PARAM_DIGEST, (char *)md, 0);
	params[1] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	params[2] = OSSL_PARAM_construct_octet_string(
	    OSSL_KDF_PARAM_KEY, (void *)secret, slen);
	params[3] =
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, ilen);
	params[4] = OSSL_PARAM_construct_end();
	return rec_kdf_derive("HKDF", params, out, outlen);
}

int
rec_expand_label(const char *md, const unsigned char *secret, size_t slen,
    const char *label, unsigned char *out, size_t outlen)
{
	return rec_expand_label_ctx(
	    md, secret, slen, label, NULL, 0, out, outlen);
}

