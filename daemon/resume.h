/* SPDX-License-Identifier: ISC */
/*
 * Shared TLS session resumption, the engine's part.
 *
 * A session may be resumed only for exactly what it was made for: the key
 * (SHA-256) covers the uid (session-cache per-user), host, port, server
 * name, ALPN offer, the trust anchors (the store's digest or the client's
 * set), the client certificate, and every TLS setting of the policy that
 * applies (verify mode, minimum version, pins, CN fallback, ALPN rules).
 * A reload that changes any of them changes the key: the old sessions are
 * never offered again and age out.  Only sessions whose chain verified
 * are kept, with the SPKI digests of that chain, so that a resumed
 * handshake passes the same pin check as a full one, and with the chain
 * below the leaf, which an encoded session drops: a resumed handshake
 * shows the client the chain it was made with, on every engine.
 *
 * TLS 1.2 sessions are complete when the handshake is.  A TLS 1.3 ticket
 * arrives after the hand-off, in the program's record stream: the engine
 * keeps the connection's SSL object (on memory BIOs, never the socket)
 * and the server's first application traffic key for a bounded time
 * under a random cookie the library receives in the RESULT; the library
 * sends each NewSessionTicket message back (CP_MSG_TICKET) on any of its
 * sessions, the parent relays it to the engine holding the cookie, and
 * that engine seals it as the record the SSL object expects next and lets
 * OpenSSL build the session: lifetime, age_add, nonce, extensions, all as
 * OpenSSL itself would keep them.
 */
#ifndef CP_RESUME_H
#define CP_RESUME_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "sesscache.h"

#define RESUME_COOKIE 16
#define RESUME_PENDING 64    /* TLS 1.3 connections awaiting tickets */
#define RESUME_WAIT_MS 10000 /* how long one waits for its tickets */
#define RESUME_TICKETS 4     /* tickets taken from one connection */
#define RESUME_DEAD 4        /* waits ended, their SSL not yet freed */

struct engine;
struct cp_tls_state;
struct tls_policy;
struct tlsc;

/* What a request asks to resume, and what it was offered. */
struct resume_req {
	int on;      /* the cache applies to this request */
	int offered; /* a session was offered (meta below is its) */
	int ocsp_off; /* the policy says "ocsp off" */
	uint8_t key[SC_KEYLEN];
	SSL_SESSION *sess; /* the offered one, referenced */
	struct sc_meta m;
	/* The offered session's chain below the leaf, as it was kept (an
	 * encoded session keeps only the leaf), or NULL. */
	unsigned char *chain;
	size_t chainlen;
};

/* What the key is made of. */
struct resume_in {
	uint32_t uid;
	const char *host, *sni;
	uint16_t port;
	const unsigned char *alpn;
	size_t alpnlen;
	const unsigned char *ca_hash; /* client anchors' hash, or NULL */
	X509 *client_cert;            /* or NULL */
	const struct tls_policy *tp;
	int verify_peer;
};

void resume_init(struct engine *);
void resume_finish(struct engine *);
/* Once a second: forget the connections whose tickets did not come. */
void resume_tick(struct engine *);

/* Before the handshake: the key and, when the cache has one, a session
 * to offer (rq->sess). */
void resume_lookup(
    struct engine *, const struct resume_in *, struct resume_req *);
/* The pin check's input for a resumed handshake: the stored digests. */
/* A resumed handshake's chain below the leaf, as the session was kept
 * with it: fn for each certificate's DER, leaf's issuer first, until it
 * returns non-zero (that value is returned). */
int resume_chain_each(const struct resume_req *,
    int (*fn)(void *, const unsigned char *, size_t), void *arg);
int resume_spki(const struct resume_req *, const uint8_t (**spki)[32]);
/*
 * After a handshake the policy accepted, with its exported state st: keep
 * its session (TLS 1.2), or take its SSL object out of tls (tlsc_detach)
 * to wait for its tickets (TLS 1.3): then the cookie is set and 1
 * returned.  0 when nothing is awaited.
 */
int resume_handshake_done(struct engine *, struct resume_req *, struct tlsc *,
    const struct cp_tls_state *st, const char *label, uint32_t uid,
    uint8_t cookie[RESUME_COOKIE]);
/* After a reply went out: free the SSL objects whose wait a new one
 * ended (resume_handshake_done() only sets them aside). */
void resume_reap(struct engine *);
/* Drop what the request holds (the offered session). */
void resume_req_clear(struct resume_req *);

/* A NewSessionTicket the library sent back (uid: SO_PEERCRED). */
void resume_ticket(struct engine *, uint32_t uid,
    const uint8_t cookie[RESUME_COOKIE], const unsigned char *msg, size_t len);
/* Channel messages from the parent: a session (CTL_SESS_PUT), a flush
 * (CTL_SESS_FLUSH), a relayed ticket (CTL_TICKET). */
void resume_ctl(struct engine *, uint32_t type, const void *msg, size_t n);

#endif
