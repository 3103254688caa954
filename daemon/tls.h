/* SPDX-License-Identifier: ISC */
/*
 * The daemon's TLS client: a hardened client SSL_CTX whose trust store is
 * held in memory, and one non-blocking handshake per connection whose
 * record-layer state can be exported afterwards (see tlsexport.h).
 */
#ifndef CP_TLS_H
#define CP_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#define TLS_DEFAULT_CA_FILE "/etc/ssl/certs/ca-certificates.crt"

struct cp_tls_state;

struct tls_settings {
	int min_version;     /* TLS1_2_VERSION or TLS1_3_VERSION; 0: 1.2 */
	const char *ca_file; /* PEM bundle */
	const char *ca_dir;  /* optional directory of PEM files */
	X509_STORE *store;   /* the trust store itself (trust.h): up-ref'd,
	                        ca_file and ca_dir are then not read */
	int no_vcache;       /* 1: verify every chain (vcache.h) */
};

/*
 * A client context.  The trust store (store, or ca_file, then every PEM
 * file in ca_dir) is read completely now, because the sandboxed engine
 * cannot open files later.  ca_file and ca_dir both NULL select
 * TLS_DEFAULT_CA_FILE.  Returns NULL with a message in err.
 */
SSL_CTX *tls_ctx_new(const struct tls_settings *, char *err, size_t errsz);

/* What a stapled OCSP response must be (conf.h enum tls_ocsp, same
 * values). */
enum { TLS_OCSP_OFF, TLS_OCSP_IF_STAPLED, TLS_OCSP_REQUIRE };

/*
 * Revocation.  CRLs (crls, set) are checked by the chain verification
 * itself: for the leaf, or each certificate of the chain with crl_all; a
 * certificate whose issuer has no CRL among them fails
 * (X509_V_ERR_UNABLE_TO_GET_CRL), as does an expired CRL.  A revoked
 * certificate is X509_V_ERR_CERT_REVOKED.
 *
 * OCSP: unless TLS_OCSP_OFF, the client asks for a stapled response
 * (status_request) and checks it once the handshake is done: a
 * successful basic response, signed by the leaf's issuer or by a
 * responder that issuer certified for id-kp-OCSPSigning (whose chain
 * verifies against the trust anchors), with a single response for the
 * leaf's certificate ID (name and key hash of its issuer, its serial)
 * whose thisUpdate is not in the future and nextUpdate not in the past,
 * TLS_OCSP_SKEW seconds either way (without nextUpdate, thisUpdate at
 * most TLS_OCSP_MAXAGE old).  Outcomes (CP_OCSP_*), with the verify
 * result they give when the chain itself verified:
 *	good	nothing changes
 *	revoked	X509_V_ERR_CERT_REVOKED
 *	unknown	X509_V_ERR_OCSP_CERT_UNKNOWN
 *	invalid	X509_V_ERR_OCSP_VERIFY_FAILED (any check above failed)
 *	none	with TLS_OCSP_REQUIRE, or a leaf with the TLS Feature
 *		status_request (must-staple, RFC 7633):
 *		X509_V_ERR_OCSP_VERIFY_NEEDED; else nothing changes
 * Under verify_peer such a result fails the handshake like any
 * verification error; otherwise it is the result the client sees.  A
 * resumed session has no staple and is not checked again.
 */
#define TLS_OCSP_SKEW 300
#define TLS_OCSP_MAXAGE (24 * 3600)
#define TLS_OCSP_MAX_RESP (64 * 1024) /* a larger staple is invalid */

struct tls_params {
	const char *host; /* without sni: checked against the certificate
	                     and sent as SNI unless it is an IP literal (no
	                     brackets) */
	const char *sni;  /* the server name: sent as SNI and checked
	                     against the certificate instead of host; NULL
	                     or "": none */
	const unsigned char *alpn; /* wire format, may be NULL */
	size_t alpnlen;
	int verify_peer;     /* 1: a bad chain or name fails the handshake;
	                        0: finish it and report */
	int cn_fallback;     /* 1: a certificate without DNS subjectAltName
	                        may match by its subject CN (legacy) */
	int min_version;     /* TLS1_2_VERSION or TLS1_3_VERSION, this
	                        connection's floor; 0: the context's */
	X509_STORE *anchors; /* NULL: the context's store; else up-ref'd */
	const unsigned char *anchors_hash; /* the anchor set's hash (cahash.h,
	                                      CP_CA_HASH_LEN), which names its
	                                      content; NULL: not known */
	/* Client certificate, presented when the server asks: leaf, the
	 * rest of the chain (may be NULL) and a key whose signing is
	 * delegated to the parent (keyring.h).  All NULL: none.  Up-ref'd. */
	X509 *cert;
	STACK_OF(X509) *chain;
	EVP_PKEY *key;
	int ocsp;                 /* TLS_OCSP_* */
	STACK_OF(X509_CRL) *crls; /* borrowed, outlives the handshake;
	                             NULL: no CRL check */
	int crl_all;              /* 1: CRLs for the whole chain */
	/* A session to offer for resumption (resume.h), or NULL. */
	SSL_SESSION *session;
};

struct tlsc;

/*
 * Prepare a handshake on the connected non-blocking socket fd.  The fd stays
 * the caller's: it is never closed here.  Returns NULL with err set.
 */
struct tlsc *tlsc_new(
    SSL_CTX *, int fd, const struct tls_params *, char *err, size_t errsz);

/* Returns 1 done, 0 in progress (wait for tlsc_events()), -1 failed
 * (tlsc_error(), tlsc_failed_verify()). */
int tlsc_handshake(struct tlsc *);
/* EPOLLIN or EPOLLOUT: what the handshake waits for. */
int tlsc_events(const struct tlsc *);

/*
 * X509_V_* result of the chain and name check (X509_V_OK until checked).  A
 * completed handshake without a server certificate gives
 * X509_V_ERR_APPLICATION_VERIFICATION.
 */
long tlsc_verify_result(const struct tlsc *);
/* 1 once the server's chain has been checked (tlsc_verify_result() is
 * then its result), 0 while or if the handshake never got that far. */
int tlsc_verified(const struct tlsc *);
int tlsc_no_peer_cert(const struct tlsc *);
/* 1 when the handshake failed because the certificate did not verify
 * (CP_E_VERIFY), 0 for any other failure (CP_E_TLS). */
int tlsc_failed_verify(const struct tlsc *);
/* errno of a failed socket read or write during the handshake, else 0. */
int tlsc_sys_errno(const struct tlsc *);
/* Last error, "" when none. */
const char *tlsc_error(const struct tlsc *);

/* After a completed handshake: 0x0303 or 0x0304, cipher (OpenSSL name),
 * selected ALPN (NULL, *len 0 when none), 1 when the session was resumed. */
int tlsc_version(const struct tlsc *);
const char *tlsc_cipher(const struct tlsc *);
const unsigned char *tlsc_alpn(const struct tlsc *, size_t *len);
int tlsc_resumed(const struct tlsc *);
/* The OCSP outcome (CP_OCSP_*), CP_OCSP_OFF until checked. */
int tlsc_ocsp(const struct tlsc *);

/*
 * The certificates the server sent, leaf first, as DER copies: *der[i] of
 * (*lens)[i] bytes, *n of them.  More than CP_MAX_CHAIN certificates or one
 * above CP_MAX_CERT bytes is an error (-1, tlsc_error()).  Free with
 * tls_chain_free().  *n is 0 when there is no peer certificate.
 */
int tlsc_chain(
    struct tlsc *, unsigned char ***der, size_t **lens, int *n);
void tls_chain_free(unsigned char **der, size_t *lens, int n);

/* Record-layer state for the hand-off; refuses when OpenSSL buffered any
 * byte past the handshake.  0 or -1 with err set. */
int tlsc_export(
    struct tlsc *, struct cp_tls_state *, char *err, size_t errsz);

/* Call fn with the SHA-256 of each SubjectPublicKeyInfo of the verified
 * chain, leaf first, until it returns non-zero; returns 1 then, 0 if no
 * certificate matched or the chain did not verify. */
int tlsc_spki_each(struct tlsc *, int (*fn)(void *, const uint8_t *),
    void *arg);

/* The connection's SSL object, still the tlsc's. */
SSL *tlsc_ssl(struct tlsc *);
/* Take the SSL object out of a completed handshake (the TLS 1.3 ticket
 * wait, resume.h): the tlsc no longer frees it, and answers only
 * tlsc_verify_result, tlsc_verified, tlsc_error and tlsc_free from then
 * on. */
SSL *tlsc_detach(struct tlsc *);

/* Free without sending anything (no close_notify); fd is not closed. */
void tlsc_free(struct tlsc *);

#endif
