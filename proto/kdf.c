/* SPDX-License-Identifier: ISC */
/*
 * Cipher suite table and TLS key derivations (kdf.h).
 */
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
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

/* What the record layer and the derivations use, fetched once: in
 * OpenSSL 3 a fetch is a locked lookup that costs more than a derivation
 * itself, and an EVP_CipherInit_ex with the legacy EVP_aes_128_gcm() and
 * the like fetches by name on every call. */
static EVP_KDF *rec_kdf_hkdf, *rec_kdf_prf;
static EVP_MD *rec_sha256, *rec_sha384;
static EVP_CIPHER *rec_aes128, *rec_aes256, *rec_chacha;
static pthread_once_t rec_fetch_once = PTHREAD_ONCE_INIT;

static void
rec_fetch(void)
{
	rec_kdf_hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	rec_kdf_prf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
	rec_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	rec_sha384 = EVP_MD_fetch(NULL, "SHA384", NULL);
	rec_aes128 = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
	rec_aes256 = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	rec_chacha = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
}

const EVP_CIPHER *
rec_suite_cipher(const struct rec_suite *s)
{
	const EVP_CIPHER *c;

	(void)pthread_once(&rec_fetch_once, rec_fetch);
	c = s->chacha ? rec_chacha : s->keylen == 16 ? rec_aes128 : rec_aes256;
	return c != NULL ? c : s->aead();
}

#define HMAC_MAX_BLOCK 128 /* SHA-384 */
#define HKDF_MAX_INFO (2 + 1 + 255 + 1 + 255) /* an HkdfLabel */

/*
 * HMAC (RFC 2104) over a digest fetched once.  EVP_KDF and EVP_MAC look
 * the digest up by name for every key, which made a TLS 1.3 key or IV
 * cost about three times the hashing itself; the traffic secrets and their
 * derivations are what every hand-off needs.  Keys longer than a block
 * are hashed first, as the RFC says.
 */
static int
hmac2(const EVP_MD *md, const unsigned char *key, size_t klen,
    const unsigned char *a, size_t alen, const unsigned char *b, size_t blen,
    unsigned char *out, unsigned int *outlen)
{
	unsigned char k[HMAC_MAX_BLOCK], pad[HMAC_MAX_BLOCK];
	unsigned char inner[EVP_MAX_MD_SIZE];
	unsigned int ilen = 0;
	size_t bs = (size_t)EVP_MD_get_block_size(md), i;
	EVP_MD_CTX *c;
	int ok = 0;

	if (bs == 0 || bs > sizeof(k) || (c = EVP_MD_CTX_new()) == NULL)
		return -1;
	memset(k, 0, bs);
	if (klen > bs) {
		if (EVP_DigestInit_ex2(c, md, NULL) != 1 ||
		    EVP_DigestUpdate(c, key, klen) != 1 ||
		    EVP_DigestFinal_ex(c, k, &ilen) != 1)
			goto out;
	} else
		memcpy(k, key, klen);
	for (i = 0; i < bs; i++)
		pad[i] = k[i] ^ 0x36;
	if (EVP_DigestInit_ex2(c, md, NULL) != 1 ||
	    EVP_DigestUpdate(c, pad, bs) != 1 ||
	    (alen > 0 && EVP_DigestUpdate(c, a, alen) != 1) ||
	    (blen > 0 && EVP_DigestUpdate(c, b, blen) != 1) ||
	    EVP_DigestFinal_ex(c, inner, &ilen) != 1)
		goto out;
	for (i = 0; i < bs; i++)
		pad[i] = k[i] ^ 0x5c;
	ok = EVP_DigestInit_ex2(c, md, NULL) == 1 &&
	     EVP_DigestUpdate(c, pad, bs) == 1 &&
	     EVP_DigestUpdate(c, inner, ilen) == 1 &&
	     EVP_DigestFinal_ex(c, out, outlen) == 1;
out:
	EVP_MD_CTX_free(c);
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(inner, sizeof(inner));
	return ok ? 0 : -1;
}

/* RFC 5869 HKDF-Expand: T(i) = HMAC(PRK, T(i-1) | info | i). */
static int
hkdf_expand(const EVP_MD *md, const unsigned char *prk, size_t plen,
    const unsigned char *info, size_t ilen, unsigned char *out, size_t outlen)
{
	unsigned char t[EVP_MAX_MD_SIZE], msg[HKDF_MAX_INFO + 1];
	unsigned int tlen = 0;
	size_t hl = (size_t)EVP_MD_get_size(md), done = 0, n, mlen;
	int i, rv = 0;

	if (hl == 0 || hl > sizeof(t) || ilen > sizeof(msg) - 1 ||
	    outlen > 255 * hl)
		return -1;
	for (i = 1; done < outlen && rv == 0; i++) {
		/* T(i-1) is the key-side "a"; info | i follows. */
		memcpy(msg, info, ilen);
		msg[ilen] = (unsigned char)i;
		mlen = ilen + 1;
		rv = hmac2(
		    md, prk, plen, t, i > 1 ? tlen : 0, msg, mlen, t, &tlen);
		if (rv == 0 && tlen != hl)
			rv = -1;
		n = outlen - done < hl ? outlen - done : hl;
		if (rv == 0)
			memcpy(out + done, t, n);
		done += n;
	}
	OPENSSL_cleanse(t, sizeof(t));
	return rv;
}

int
rec_kdf_derive(const char *name, const OSSL_PARAM *params, void *out,
    size_t outlen)
{
	EVP_KDF_CTX *kctx;
	EVP_KDF *kdf;
	int ok = 0;

	pthread_once(&rec_fetch_once, rec_fetch);
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
	unsigned char info[HKDF_MAX_INFO];
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

	pthread_once(&rec_fetch_once, rec_fetch);
	if (strcmp(md, "SHA256") == 0 && rec_sha256 != NULL)
		return hkdf_expand(
		    rec_sha256, secret, slen, info, ilen, out, outlen);
	if (strcmp(md, "SHA384") == 0 && rec_sha384 != NULL)
		return hkdf_expand(
		    rec_sha384, secret, slen, info, ilen, out, outlen);
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

