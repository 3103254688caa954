/* SPDX-License-Identifier: ISC */
/*
 * Typed cpconnect messages: one struct per message, one encoder and one
 * strict decoder each, shared by the daemon and the library so both ends
 * agree on every rule.
 */
#ifndef CP_MSG_H
#define CP_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "attr.h"
#include "cpproto.h"

#define CP_HASH_LEN 32

/* What a daemon announces of its configuration in its HELLO. */
struct cp_limits {
	int known;		 /* 0: not announced (all fields 0) */
	uint32_t request_ms;	 /* whole request, at most */
	uint32_t handshake_ms;	 /* TLS handshake, at most */
	uint32_t retry_delay_ms; /* least first delay between attempts */
};

struct cp_hello {
	uint32_t version;
	char software[64];
	struct cp_limits lim; /* daemon to library only */
	uint32_t features;    /* CP_FEAT_*, daemon to library only */
};

struct cp_connect {
	char host[CP_MAX_HOST + 1];
	uint16_t port;
	uint8_t tls;
	uint8_t verify; /* CP_VERIFY_* */
	uint8_t family; /* CP_FAMILY_* */
	char sni[CP_MAX_HOST + 1];
	unsigned char alpn[CP_MAX_ALPN];
	size_t alpnlen;
	uint32_t retries;
	uint32_t retry_delay_ms;
	uint32_t connect_timeout_ms; /* 0: daemon default */
	uint32_t timeout_ms;	     /* 0: daemon default */
	int has_ca_hash;
	unsigned char ca_hash[CP_HASH_LEN];
	uint8_t record; /* CP_RECORD_*, known before the hand-off; 0: not */
};

struct cp_result {
	uint8_t status; /* CP_STATUS_* */
	uint8_t eclass; /* CP_E_* */
	uint32_t err;	/* errno */
	uint32_t verify_result;
	char errtext[CP_MAX_ERRTEXT];
	uint16_t tls_version;
	char cipher[64];
	char alpn[256];
	uint8_t resumed;
	uint8_t no_peer_cert;
	char peer_addr[64];
	uint16_t peer_port;
	uint32_t attempts;
	uint32_t elapsed_ms;
	uint8_t ocsp; /* CP_OCSP_* */
	char proxy[CP_MAX_PROXY]; /* "socks5://HOST:PORT"; "": direct */
	int has_cookie; /* TLS 1.3 tickets are wanted back (TICKET) */
	unsigned char cookie[CP_COOKIE_LEN];
};

/* One direction of the TLS record layer, seen from the TLS client. */
struct cp_tls_dir {
	unsigned char key[CP_MAX_KEY];
	size_t keylen;
	unsigned char iv[CP_IV_LEN]; /* TLS 1.2 GCM: 4-byte salt, rest 0 */
	uint64_t seq;
	unsigned char secret[CP_MAX_SECRET]; /* TLS 1.3 traffic secret */
	size_t secretlen;
};

struct cp_tls_state {
	uint16_t version; /* 0x0303, 0x0304 */
	uint16_t cipher;  /* IANA suite number */
	struct cp_tls_dir tx, rx;
};

/* Encoders append to b; check abuf_failed(b). */
void cp_hello_encode(struct abuf *b, const struct cp_hello *);
void cp_connect_encode(struct abuf *b, const struct cp_connect *);
/* HANDSHAKE: the TLS fields of a CONNECT (tls is implied, retries, delays,
 * the per-attempt timeout and the family have no meaning there). */
void cp_handshake_encode(struct abuf *b, const struct cp_connect *);
void cp_result_encode(struct abuf *b, const struct cp_result *);
void cp_tls_state_encode(struct abuf *b, const struct cp_tls_state *);
void cp_cert_encode(struct abuf *b, const void *der, size_t len);
void cp_ca_end_encode(struct abuf *b, const unsigned char hash[CP_HASH_LEN]);

/* Decoders return 0 or -1 with a reason in err (errno EBADMSG). */
int cp_hello_decode(const void *, size_t, struct cp_hello *, char *, size_t);
int cp_connect_decode(const void *, size_t, struct cp_connect *, char *,
    size_t);
int cp_handshake_decode(
    const void *, size_t, struct cp_connect *, char *, size_t);
int cp_result_decode(const void *, size_t, struct cp_result *, char *,
    size_t);
int cp_tls_state_decode(const void *, size_t, struct cp_tls_state *, char *,
    size_t);
/* *der points into the message. */
int cp_cert_decode(const void *, size_t, const unsigned char **der,
    size_t *len, char *, size_t);
/* TICKET: the cookie of the RESULT and one NewSessionTicket message. */
void cp_ticket_encode(struct abuf *b, const unsigned char cookie[CP_COOKIE_LEN],
    const void *msg, size_t len);
int cp_ticket_decode(const void *, size_t, const unsigned char **cookie,
    const unsigned char **msg, size_t *msglen, char *err, size_t errsz);
/* RECORD: which record layer took a TLS connection (CP_RECORD_*). */
void cp_record_encode(struct abuf *b, int record);
int cp_record_decode(
    const void *, size_t, int *record, char *err, size_t errsz);
int cp_ca_end_decode(const void *, size_t, unsigned char hash[CP_HASH_LEN],
    char *, size_t);

void cp_tls_state_wipe(struct cp_tls_state *);

/* The errno for a failed result (CP_E_* class, then err). */
int cp_result_errno(const struct cp_result *);

#endif
