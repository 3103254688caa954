/* SPDX-License-Identifier: ISC */
/*
 * The engine's own types, shared by its three parts: the loop (engine.c),
 * the client sessions (session.c) and the request pipeline (request.c).
 * Nothing outside the engine includes this.
 */
#ifndef CP_ENGINE_INT_H
#define CP_ENGINE_INT_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <stdarg.h>
#include <stdint.h>

#include <openssl/x509_vfy.h>

#include "cpproto.h"
#include "dial.h"
#include "engine.h"
#include "ev.h"
#include "imsg.h"
#include "msg.h"
#include "policy.h"
#include "resolve.h"
#include "resume.h"

struct ca_builder;
struct proxy_tun;
struct tlsc;

#define MAX_GROUPS 64
#define MAX_REQ_PER_SESSION 64 /* requests in flight on one session */
#define STAGGER_MS 250         /* RFC 8305 connection attempt delay */
#define DRAIN_MS 5000          /* bound on flushing replies when stopping */
/* Replies a session may have queued before we stop reading its requests:
 * a client that never reads cannot make us buffer without bound. */
#define SESSION_WQ_MAX (64 * 1024)
/* Trust anchors one uid may have in the making on an engine at once (four
 * full sets, forty of a system bundle). */
#define CA_UID_MAX_BYTES (8 * 1024 * 1024)
/* How often a lingering session looks whether its sockets were read. */
#define LINGER_CHECK_MS 500

/* Kinds of rate-limited log lines (log_info_rl), besides the audit
 * line's outcome classes. */
enum { LK_OK = 0, LK_SESSION = 1000, LK_LIMIT, LK_REFUSED };

struct session;

enum req_stage { ST_RESOLVE, ST_DIAL, ST_TLS, ST_DONE, ST_PROXY };

/* A request's TLS policy, merged once by req_tls_policy(). */
struct req_tls {
	int ready;
	int pin_mismatch; /* the chain verified, the pins did not match */
	struct tls_policy pol;
};

struct request {
	LIST_ENTRY(request) entry; /* in its session */
	struct session *s;
	uint32_t id;
	enum req_stage stage;
	struct cp_connect c;
	uint64_t start;
	struct ev_timer deadline;
	uint32_t handshake_ms; /* the handshake's own bound */
	struct resolve_req *rr;
	struct dial *dial;
	struct addr_list al; /* the destination's, or the proxy's */
	int fd; /* connected socket once dialed */
	struct sockaddr_storage peer;
	socklen_t peerlen;
	uint32_t attempts;
	struct ev_io io; /* the socket during the handshake */
	struct tlsc *tls;
	X509_STORE *anchors;
	STACK_OF(X509_CRL) *crls; /* several crl-files' CRLs together */
	struct req_tls rt;
	/* Through an upstream proxy (policy_proxy(), proxy.h): al holds the
	 * proxy's addresses, peer the destination's when the daemon knows
	 * it (dst, proxy-resolve local or an address), else nothing. */
	const struct proxy_conf *px;
	struct proxy_tun *tun;
	struct addr_list dst;         /* the destination's allowed addresses */
	size_t dsti;                  /* the one asked for */
	char pxname[CP_MAX_HOST + 8]; /* "HOST:PORT", for messages */
	struct resume_req rq; /* the session cache's part */
	int upgrade; /* HANDSHAKE: fd is the program's own socket */
};

struct uidcount {
	LIST_ENTRY(uidcount) entry;
	uid_t uid;
	uint32_t n;        /* requests in flight */
	uint32_t sessions; /* sessions open */
	uint32_t unread;   /* its sessions' sockets not yet received */
	uint64_t ca_bytes; /* its sessions' trust anchors being received */
};

struct session {
	LIST_ENTRY(session) entry;
	struct engine *e;
	struct ev_io io;
	struct imsgbuf ib;
	struct cp_peer peer;
	gid_t groups[MAX_GROUPS];
	int hello;
	int closing; /* flushing a final error, then close */
	int eof;     /* no more requests: close once the last reply is out */
	int lingering; /* closed but for sockets not yet read (session_close) */
	struct ev_timer idle;
	struct ev_timer resume; /* frames left in the buffer: go on */
	LIST_HEAD(, request) reqs;
	uint32_t nreqs;
	/* Sockets sent (or queued) that the client may not have received:
	 * each counts as a request in flight (session_unread()). */
	uint32_t unread;
	struct ca_builder *cab;
	uint64_t cab_bytes;      /* what cab holds, in its uid's ca_bytes */
	struct audit_hold *held; /* the last TLS request's line (audit.h) */
};

struct engine {
	const struct engine_env *env;
	const struct cpconf *conf;
	struct ev *ev;
	struct ev_io lio, cio; /* the client channel, the parent's channel */
	struct imsgbuf clients;
	struct resolver *res;
	struct ca_cache *cas;
	LIST_HEAD(, session) sessions;
	LIST_HEAD(, uidcount) uids;
	struct engine_stats st;
	struct resume *rs; /* TLS sessions (resume.h) */
	int stopping;
	uint32_t pid;       /* for the imsg header, informational */
	uint32_t uid_limit; /* this engine's share of max-requests-per-user */
	uint32_t uid_sessions; /* ... and of max-sessions-per-user */
	uint32_t peak;         /* sessions + requests since the last trim */
	uint32_t unread;       /* all sessions' sockets not yet received */
	size_t free_after_trim; /* free heap the last malloc_trim left */
	struct ev_timer stats_timer;
};

/* What the engine held at most since its last trim (engine.c): noted as
 * sessions and requests start, since a burst can come and go between two
 * of the loop's ticks. */
static inline void
engine_note_peak(struct engine *e)
{
	uint32_t now = e->st.sessions + e->st.inflight;

	if (now > e->peak)
		e->peak = now;
}

/* session.c: sessions, their messages, replies, per-uid accounting. */
struct uidcount *uid_slot(struct engine *, uid_t, int create);
void uid_drop(struct engine *, uid_t, int session);
void uid_release(struct engine *, uid_t);
int send_msg(
    struct session *, uint32_t type, uint32_t id, int fd, struct abuf *);
void send_result(
    struct session *, uint32_t id, const struct cp_result *, int fd);
void error_result(struct cp_result *, int eclass, int err, const char *fmt,
    va_list ap) __attribute__((format(printf, 4, 0)));
void session_error(struct session *, uint32_t id, int eclass, int err,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void session_flush(struct session *);
uint32_t session_unread(struct session *);
void sessions_unread_sync(struct engine *, const uid_t *uid);
void session_close(struct session *);
void session_free(struct session *); /* at once, whatever is unread */
void session_peer(struct cp_peer *, gid_t *groups, int fd);
const char *session_limit(struct engine *, const struct cp_peer *);
void session_refuse(
    struct engine *, int fd, const struct cp_peer *, const char *why);
struct session *session_new(
    struct engine *, int fd, const struct cp_peer *, const gid_t *groups);

/* request.c: a CONNECT through policy, resolve, dial, TLS and reply. */
void req_connect(struct session *, const struct imsg *);
/* HANDSHAKE: TLS on the program's socket, m->fd (taken, m->fd is -1). */
void req_handshake(struct session *, struct imsg *);
void req_unlink(struct request *);
void req_free(struct request *);

#endif
