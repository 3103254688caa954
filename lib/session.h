/* SPDX-License-Identifier: ISC */
/*
 * The library's side of the daemon protocol: one request on a pooled
 * session, usable blocking or from an event loop.
 */
#ifndef CP_SESSION_H
#define CP_SESSION_H

#include <openssl/x509.h>

#include "castore.h"
#include "msg.h"

struct dreply {
	struct cp_result res;
	int fd;		   /* the connection, -1 unless res.status is OK */
	int have_state;	   /* TLS: state is valid (and secret) */
	struct cp_tls_state state;
	/* Peer chain as DER, leaf first.  Parsing is left to the caller:
	 * with OpenSSL 3 it costs more than the rest of the reply. */
	unsigned char *der[CP_MAX_CHAIN];
	size_t derlen[CP_MAX_CHAIN];
	int nder;
};

struct dreq;

/*
 * Send c to the daemon at path, with its timeout_ms set to the request's
 * budget (budget.h).  cas (may be NULL) is the client's trust anchor set,
 * sent only when the daemon asks for it.  Returns NULL with errno and a
 * message in err (ECONNREFUSED: daemon not reachable).
 */
struct dreq *dreq_start(const char *path, const struct cp_connect *c,
    const struct ca_set *cas, char *err, size_t errsz);
/*
 * The same for TLS on fd, a socket the program connected itself (c->tls
 * set, c->connect_timeout_ms bounding the handshake): the daemon gets a
 * duplicate and hands the socket back.  A daemon that does not announce
 * CP_FEAT_HANDSHAKE fails the request with EOPNOTSUPP.
 */
struct dreq *dreq_start_handshake(const char *path, const struct cp_connect *c,
    const struct ca_set *cas, int fd, char *err, size_t errsz);
/* The session socket (dreq_wait polls it). */
int dreq_fd(const struct dreq *);
/*
 * For event loops: a descriptor, owned by the request, that is readable
 * whenever dreq_step has something to do (input arrived, queued output can
 * be written, the deadline passed).  -1 with errno and err.
 */
int dreq_event_fd(struct dreq *, char *err, size_t errsz);
/*
 * Make progress without blocking.  Returns 1 with the complete answer
 * moved to *out (the request is over: free it), 0 when more is needed
 * (*out untouched: a partial answer stays with the request), -1 on a
 * failure to talk to the daemon (errno, err), ETIMEDOUT once the daemon
 * has let the deadline pass.
 */
int dreq_step(struct dreq *, struct dreply *out, char *err,
    size_t errsz);
/* Wait for the answer until the request's deadline; 1 or -1 as above. */
int dreq_wait(struct dreq *, struct dreply *out, char *err,
    size_t errsz);
/* After its answer: tell a daemon that asks (CP_FEAT_RECORD) which record
 * layer took the connection (CP_RECORD_*), for its audit line.  Best
 * effort: a session that cannot take it at once is not pooled. */
void dreq_report_record(struct dreq *, int record);
/* End the request; its session goes back to the pool if it is clean. */
void dreq_free(struct dreq *);

void dreply_clear(struct dreply *);
/* Close every pooled session (cp_client_shutdown, fork children). */
void dsession_pool_clear(void);

/*
 * Send a TLS 1.3 NewSessionTicket message (header included) back to the
 * daemon at path with the cookie of its connection's RESULT, on a pooled
 * session or a new one; no answer is awaited.  0, or -1 with errno: the
 * ticket is lost, which costs a later full handshake only.
 */
int dsession_send_ticket(
    const char *path, const unsigned char *cookie, const void *msg, size_t len);

#endif
