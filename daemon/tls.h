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
};

/*
 * A client context.  The trust store (ca_file, then every PEM file in
 * ca_dir) is read completely now, because the sandboxed engine cannot open
 * files later.  ca_file and ca_dir both NULL select TLS_DEFAULT_CA_FILE.
 * Returns NULL with a message in err.
 */
SSL_CTX *tls_ctx_new(const struct tls_settings *, char *err, size_t errsz);

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
	/* Client certificate, presented when the server asks: leaf, the
	 * rest of the chain (may be NULL) and a key whose signing is
	 * delegated to the parent (keyring.h).  All NULL: none.  Up-ref'd. */
	X509 *cert;
	STACK_OF(X509) *chain;
	EVP_PKEY *key;
};

struct tls_conn;

/*
 * Prepare a handshake on the connected non-blocking socket fd.  The fd stays
 * the caller's: it is never closed here.  Returns NULL with err set.
 */
struct tls_conn *tls_conn_new(
    SSL_CTX *, int fd, const struct tls_params *, char *err, size_t errsz);

/* Returns 1 done, 0 in progress (wait for tls_conn_events()), -1 failed
 * (tls_conn_error(), tls_conn_failed_verify()). */
int tls_conn_handshake(struct tls_conn *);
/* EPOLLIN or EPOLLOUT: what the handshake waits for. */
int tls_conn_events(const struct tls_conn *);

/*
 * X509_V_* result of the chain and name check (X509_V_OK until checked).  A
 * completed handshake without a server certificate gives
 * X509_V_ERR_APPLICATION_VERIFICATION.
 */
long tls_conn_verify_result(const struct tls_conn *);
/* 1 once the server's chain has been checked (tls_conn_verify_result() is
 * then its result), 0 while or if the handshake never got that far. */
int tls_conn_verified(const struct tls_conn *);
int tls_conn_no_peer_cert(const struct tls_conn *);
/* 1 when the handshake failed because the certificate did not verify
 * (CP_E_VERIFY), 0 for any other failure (CP_E_TLS). */
int tls_conn_failed_verify(const struct tls_conn *);
/* errno of a failed socket read or write during the handshake, else 0. */
int tls_conn_sys_errno(const struct tls_conn *);
/* Last error, "" when none. */
const char *tls_conn_error(const struct tls_conn *);

/* After a completed handshake: 0x0303 or 0x0304, cipher (OpenSSL name),
 * selected ALPN (NULL, *len 0 when none), 1 when the session was resumed. */
int tls_conn_version(const struct tls_conn *);
const char *tls_conn_cipher(const struct tls_conn *);
const unsigned char *tls_conn_alpn(const struct tls_conn *, size_t *len);
int tls_conn_resumed(const struct tls_conn *);

/*
 * The certificates the server sent, leaf first, as DER copies: *der[i] of
 * (*lens)[i] bytes, *n of them.  More than CP_MAX_CHAIN certificates or one
 * above CP_MAX_CERT bytes is an error (-1, tls_conn_error()).  Free with
 * tls_chain_free().  *n is 0 when there is no peer certificate.
 */
int tls_conn_chain(
    struct tls_conn *, unsigned char ***der, size_t **lens, int *n);
void tls_chain_free(unsigned char **der, size_t *lens, int n);

/* Record-layer state for the hand-off; refuses when OpenSSL buffered any
 * byte past the handshake.  0 or -1 with err set. */
int tls_conn_export(
    struct tls_conn *, struct cp_tls_state *, char *err, size_t errsz);

/* Call fn with the SHA-256 of each SubjectPublicKeyInfo of the verified
 * chain, leaf first, until it returns non-zero; returns 1 then, 0 if no
 * certificate matched or the chain did not verify. */
int tls_conn_spki_each(struct tls_conn *, int (*fn)(void *, const uint8_t *),
    void *arg);

/* Free without sending anything (no close_notify); fd is not closed. */
void tls_conn_free(struct tls_conn *);

#endif
