/* SPDX-License-Identifier: ISC */
/*
 * The check of a stapled OCSP response (RFC 6960) after a handshake; see
 * tls.h for what is checked and what each outcome does.
 *
 * Verified outcomes are kept in a small per-process cache keyed by the
 * SHA-256 of the staple and of the leaf, so that the next handshake with
 * the same server, which staples the same bytes for hours, costs two
 * digests instead of decoding the response and its certificates and
 * verifying a signature.  A cached outcome is used only while the
 * response's validity window holds, and only for the trust anchors it was
 * verified under (the caller says whether they are the daemon's own).
 * The engine is single-threaded: no locking.
 */
#ifndef CP_OCSP_H
#define CP_OCSP_H

#include <stddef.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#define OCSP_CACHE_ENTRIES 64

/*
 * The staple of a completed handshake on ssl, checked against the anchors
 * of store (borrowed).  Returns CP_OCSP_NONE, _GOOD, _REVOKED, _UNKNOWN or
 * _INVALID, with a reason in why for all but NONE and GOOD.  cacheable: 1
 * when store is the same for every connection.
 */
int ocsp_staple_check(
    SSL *ssl, X509_STORE *store, int cacheable, char *why, size_t whysz);

/* RFC 7633: the leaf's TLS Feature extension lists status_request.  One
 * that is there but does not decode counts. */
int ocsp_must_staple(X509 *leaf);

#endif
