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
 * Send c to the daemon at path, with its timeout_ms set to the request's
 * budget (budget.h).  cas (may be NULL) is the client's trust anchor set,
 * sent only when the daemon asks for it.  Returns NULL with errno and a
 * message in err (ECONNREFUSED: daemon not reachable).
 */
struct cpd_req *cpd_start(const char *path, const struct cp_connect *c,
    const struct ca_set *cas, char *err, size_t errsz);
/* The session socket (cpd_wait polls it). */
int cpd_fd(const struct cpd_req *);
/*
 * For event loops: a descriptor, owned by the request, that is readable
 * whenever cpd_step has something to do (input arrived, queued output can
 * be written, the deadline passed).  -1 with errno and err.
 */
int cpd_event_fd(struct cpd_req *, char *err, size_t errsz);
/*
 * Make progress without blocking.  Returns 1 with the complete answer
 * moved to *out (the request is over: free it), 0 when more is needed
 * (*out untouched: a partial answer stays with the request), -1 on a
 * failure to talk to the daemon (errno, err), ETIMEDOUT once the daemon
 * has let the deadline pass.
 */
int cpd_step(struct cpd_req *, struct cpd_reply *out, char *err,
    size_t errsz);
/* Wait for the answer until the request's deadline; 1 or -1 as above. */
int cpd_wait(struct cpd_req *, struct cpd_reply *out, char *err,
    size_t errsz);
/* End the request; its session goes back to the pool if it is clean. */
void cpd_free(struct cpd_req *);

void cpd_reply_clear(struct cpd_reply *);
/* Close every pooled session (cp_client_shutdown, fork children). */
void cpd_pool_clear(void);

#endif
