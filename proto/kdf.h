/* SPDX-License-Identifier: ISC */
/*
 * The cipher suites cpconnect hands off, and the TLS key derivations both
 * sides need: the daemon (daemon/tlsexport.c, deriving the keys it hands
 * off) and the library's record layer (lib/record.c, deriving new keys on
 * KeyUpdate) must agree byte for byte, so there is one implementation.
 */
#ifndef CP_KDF_H
#define CP_KDF_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/core.h>
#include <openssl/evp.h>

#define REC_V12 0x0303
#define REC_V13 0x0304

/* The AEAD suites cpconnect hands off; nothing else is negotiated. */
struct rec_suite {
	uint16_t id;      /* IANA number */
	uint16_t version; /* REC_V12 or REC_V13 */
	int chacha;       /* ChaCha20-Poly1305 (else AES-GCM) */
	size_t keylen;
	size_t fixed_ivlen; /* TLS 1.2 key block IV length; 12 for 1.3 */
	const char *md;     /* PRF / HKDF hash */
	const EVP_CIPHER *(*aead)(void);
};

/* The suite with IANA number id, or NULL. */
const struct rec_suite *rec_suite_find(uint16_t id);
/* Its AEAD, fetched from the default provider once per process (an
 * EVP_CipherInit_ex with the legacy EVP_aes_128_gcm() and the like looks
 * the implementation up by name for every key); the legacy one if the
 * fetch failed.  Not to be freed. */
const EVP_CIPHER *rec_suite_cipher(const struct rec_suite *);

/* One derivation with "HKDF" or "TLS1-PRF" (fetched once per process):
 * 0, or -1 on any failure. */
int rec_kdf_derive(const char *name, const OSSL_PARAM *params, void *out,
    size_t outlen);

/* RFC 8446 7.1 HKDF-Expand-Label(secret, label, context, outlen): 0, or
 * -1 (bad lengths, OpenSSL failure). */
int rec_expand_label_ctx(const char *md, const unsigned char *secret,
    size_t slen, const char *label, const unsigned char *ctx, size_t ctxlen,
    unsigned char *out, size_t outlen);
/* The traffic key derivations use an empty context. */
int rec_expand_label(const char *md, const unsigned char *secret, size_t slen,
    const char *label, unsigned char *out, size_t outlen);

#endif
