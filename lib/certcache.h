/* SPDX-License-Identifier: ISC */
/*
 * Decoded peer certificates, kept by their DER.
 *
 * OpenSSL 3.0 takes some 150 us here to decode one certificate (most of it
 * in its public-key decoders), about a tenth of a whole handshake.  A
 * program usually reconnects to the same few servers, whose certificates
 * do not change between connections: those are decoded once.
 */
#ifndef CP_CERTCACHE_H
#define CP_CERTCACHE_H

#include <stddef.h>

#include <openssl/x509.h>

/*
 * The certificate of exactly these len bytes of DER (trailing bytes are an
 * error), as a new reference for the caller to X509_free, or NULL.  The
 * object may be shared with other clients: callers must not modify it.
 */
X509 *cert_decode(const unsigned char *der, size_t len);
void cert_cache_clear(void);

#endif
