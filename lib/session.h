/*
 * The library's side of the daemon protocol: one request on a pooled
 * session, usable blocking or from an event loop.
 */
#ifndef CP_SESSION_H
#define CP_SESSION_H

#include <openssl/x509.h>

#include "castore.h"
#include "msg.h"

struct cpd_reply {
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

struct cpd_req;

/*
 * Send c to the daemon at path.  cas (may be NULL) is the client's trust
 * anchor set, sent only when the daemon asks for it.  Returns NULL with
 * errno and a message in err (ECONNREFUSED: daemon not reachable).
 */
struct cpd_req *cpd_start(const char *path, const struct cp_connect *c,
    const struct ca_set *cas, char *err, size_t errsz);
/* The descriptor to wait on for reading. */
int cpd_fd(const struct cpd_req *);
/*
 * Make progress without blocking.  Returns 1 when *out is complete (the
 * request is over: free it), 0 when more input is needed, -1 on a failure
 * to talk to the daemon (errno, err).
 */
int cpd_step(struct cpd_req *, struct cpd_reply *out, char *err,
    size_t errsz);
/* Wait for the reply at most timeout_ms (-1: no limit); 1 or -1 as above,
 * ETIMEDOUT when the daemon does not answer in time. */
int cpd_wait(struct cpd_req *, struct cpd_reply *out, int timeout_ms,
    char *err, size_t errsz);
/* End the request; its session goes back to the pool if it is clean. */
void cpd_free(struct cpd_req *);

void cpd_reply_clear(struct cpd_reply *);
/* Close every pooled session (cp_client_shutdown, fork children). */
void cpd_pool_clear(void);

#endif
