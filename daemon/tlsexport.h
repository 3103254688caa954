/* SPDX-License-Identifier: ISC */
/*
 * Extract the record-layer state of a finished OpenSSL client handshake so
 * the connection can be continued elsewhere (DESIGN.md, "The hand-off").
 *
 * TLS 1.3: the traffic secrets come from the keylog callback and are kept
 * per connection in SSL ex_data (wiped when exported or freed).  TLS 1.2:
 * the key block is computed from the session's master secret and randoms.
 */
#ifndef TLSEXPORT_H
#define TLSEXPORT_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "msg.h"

/* Install the keylog callback on a client SSL_CTX.  0 or -1. */
int tls_export_ctx_init(SSL_CTX *ctx);

/* Give ssl its secret store; before SSL_connect.  0 or -1. */
int tls_export_attach(SSL *ssl);

/*
 * After SSL_connect succeeded: fill st (tx = our writing direction).
 * Refused (-1 with a reason in err) when OpenSSL holds data read past the
 * handshake, for versions other than 1.2/1.3, for suites other than the
 * AEADs of rec_suite_find(), or when secrets are missing.  The captured
 * secrets are wiped either way; on failure st is wiped too.
 */
int tls_export(SSL *ssl, struct cp_tls_state *st, char *err, size_t errsz);

/* TLS 1.2 PRF (RFC 5246 5): PRF(secret, label, seed1 || seed2). */
int tls_export_prf(const char *md, const void *secret, size_t secretlen,
    const char *label, const void *seed1, size_t seed1len, const void *seed2,
    size_t seed2len, void *out, size_t outlen);

#endif
