/*
 * The engine: client sessions and their requests.
 *
 * Data flows one way through a request:
 *   decode -> limits -> policy (name) -> resolve -> dial (policy per
 *   address) -> tls -> reply
 * and every stage either hands the request to the next or ends it with
 * req_fail().  A request always ends with exactly one RESULT message.
 */
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509_vfy.h>

#include "cacache.h"
#include "conf.h"
#include "cpproto.h"
#include "dial.h"
#include "engine.h"
#include "ev.h"
#include "imsg.h"
#include "keys.h"
#include "log.h"
#include "msg.h"
#include "policy.h"
#include "resolve.h"
#include "tls.h"

#define MAX_GROUPS 64
#define MAX_REQ_PER_SESSION 64 /* requests in flight on one session */
#define STAGGER_MS 250	       /* RFC 8305 connection attempt delay */
#define DRAIN_MS 5000	       /* bound on flushing replies when stopping */
/* Replies a session may have queued before we stop reading its requests:
 * a client that never reads cannot make us buffer without bound. */
#define SESSION_WQ_MAX (64 * 1024)

/* Kinds of rate-limited log lines (log_info_rl), besides the audit
 * line's outcome classes. */
enum { LK_OK = 0, LK_SESSION = 1000, LK_LIMIT, LK_REFUSED };

struct session;

enum req_stage { ST_RESOLVE, ST_DIAL, ST_TLS, ST_DONE };

/* A request's TLS policy, merged once by req_tls_policy(). */
struct req_tls {
	int ready;
	int pin_mismatch; /* the chain verified, the pins did not match */
	struct tls_policy pol;
};

struct request {
	struct request *next;
	struct session *s;
	uint32_t id;
	enum req_stage stage;
	struct cp_connect c;
	uint64_t start;
	struct ev_timer deadline;
	struct resolve_req *rr;
	struct dial *dial;
	struct addr_list al;
	int fd; /* connected socket once dialed */
	struct sockaddr_storage peer;
	socklen_t peerlen;
	uint32_t attempts;
	struct ev_io io; /* the socket during the handshake */
	struct tls_conn *tls;
	X509_STORE *anchors;
	struct req_tls rt;
};

struct uidcount {
	struct uidcount *next;
	uid_t uid;
	uint32_t n;	   /* requests in flight */
	uint32_t sessions; /* sessions open */
};

struct session {
	struct session *next, **prevp;
	struct engine *e;
	struct ev_io io;
	struct imsgbuf ib;
	struct cp_peer peer;
	gid_t groups[MAX_GROUPS];
	int hello;
	int closing; /* flushing a final error, then close */
	int eof;     /* no more requests: close once the last reply is out */
	struct ev_timer idle;
	struct ev_timer resume; /* frames left in the buffer: go on */
	struct request *reqs;
	uint32_t nreqs;
	struct ca_builder *cab;
};

struct engine {
	const struct engine_env *env;
	const struct cpconf *conf;
	struct ev *ev;
	struct ev_io lio, cio;
	struct resolver *res;
	struct ca_cache *cas;
	struct session *sessions;
	struct uidcount *uids;
	struct engine_stats st;
	int stopping;
	uint32_t pid; /* for the imsg header, informational */
	uint32_t uid_limit; /* this engine's share of max-requests-per-user */
	uint32_t uid_sessions; /* ... and of max-sessions-per-user */
	struct ev_timer stats_timer;
};

static volatile sig_atomic_t got_term;

#ifdef CP_TEST_HOOKS
/*
 * Test hook, only in the test build (CPCONNECTD_TEST_HOOKS in the
 * environment of build/tests/cpconnectd-hooks): prove the sandbox
 * from inside a real engine by trying what it must not do.  Harmless by
 * construction: with the sandbox up both attempts fail; without it the
 * engine is replaced by /bin/true, exits, and the test sees that.
 */
static void
sandbox_probe(void)
{
	char *const argv[] = {"true", NULL};
	int fd;

	if ((fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC)) == -1)
		log_info("test hook: open /etc/passwd refused: %s",
		    strerror(errno));
	else {
		log_warnx("test hook: open /etc/passwd succeeded");
		close(fd);
	}
	execv("/bin/true", argv);
	log_info("test hook: exec /bin/true refused: %s", strerror(errno));
}
#endif

static void session_close(struct session *);
static void session_flush(struct session *);
static void req_resolved(void *, const struct addr_list *, int, int,
    const char *);
static void req_dialed(void *, int, const struct sockaddr *, socklen_t, int,
    int, const char *, uint32_t);
static void req_tls_step(struct request *);

/* Per-uid accounting: requests in flight. */

static struct uidcount *
uid_slot(struct engine *e, uid_t uid, int create)
{
	struct uidcount *u;

	for (u = e->uids; u != NULL; u = u->next)
		if (u->uid == uid)
			return u;
	if (!create || (u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	u->uid = uid;
	u->next = e->uids;
	e->uids = u;
	return u;
}

static void
uid_drop(struct engine *e, uid_t uid, int session)
{
	struct uidcount *u, **up;

	for (up = &e->uids; (u = *up) != NULL; up = &u->next)
		if (u->uid == uid) {
			if (session)
				u->sessions--;
			else
				u->n--;
			if (u->n == 0 && u->sessions == 0) {
				*up = u->next;
				free(u);
			}
			return;
		}
}

static void
uid_release(struct engine *e, uid_t uid)
{
	uid_drop(e, uid, 0);
}

/* Replies */

static int
send_msg(struct session *s, uint32_t type, uint32_t id, int fd,
    struct abuf *b)
{
	int r;

	if (abuf_failed(b)) {
		if (fd != -1)
			close(fd);
		errno = b->failed;
		return -1;
	}
	r = imsg_compose(&s->ib, type, id, s->e->pid, fd, b->buf, b->len);
	return r;
}

static void
send_result(struct session *s, uint32_t id, const struct cp_result *res,
    int fd)
{
	struct abuf b;

	abuf_init(&b);
	cp_result_encode(&b, res);
	if (send_msg(s, CP_MSG_RESULT, id, fd, &b) == -1)
		log_warn("session uid %u: result", (unsigned)s->peer.uid);
	abuf_free(&b);
	session_flush(s);
}

static void
error_result(struct cp_result *res, int eclass, int err, const char *fmt,
    va_list ap)
{
	memset(res, 0, sizeof(*res));
	res->status = CP_STATUS_ERROR;
	res->eclass = (uint8_t)eclass;
	res->err = (uint32_t)err;
	vsnprintf(res->errtext, sizeof(res->errtext), fmt, ap);
}

/* A request-less error (protocol): answer and close the session. */
static void
session_error(struct session *s, uint32_t id, int eclass, int err,
    const char *fmt, ...)
{
	struct cp_result res;
	va_list ap;

	va_start(ap, fmt);
	error_result(&res, eclass, err, fmt, ap);
	va_end(ap);
	log_info_rl(s->peer.uid, LK_SESSION, "uid %u pid %d: %s",
	    (unsigned)s->peer.uid, (int)s->peer.pid, res.errtext);
	send_result(s, id, &res, -1);
	s->closing = 1;
	session_flush(s);
}

/* Request life cycle */

static void
req_unlink(struct request *r)
{
	struct session *s = r->s;
	struct request **rp;

	for (rp = &s->reqs; *rp != NULL; rp = &(*rp)->next)
		if (*rp == r) {
			*rp = r->next;
			break;
		}
	s->nreqs--;
	s->e->st.inflight--;
	uid_release(s->e, s->peer.uid);
}

static void
req_free(struct request *r)
{
	struct ev *ev = r->s->e->ev;

	ev_timer_stop(ev, &r->deadline);
	if (r->rr != NULL)
		resolve_cancel(r->rr);
	if (r->dial != NULL)
		dial_cancel(r->dial);
	ev_io_stop(ev, &r->io);
	if (r->tls != NULL)
		tls_conn_free(r->tls);
	if (r->anchors != NULL)
		X509_STORE_free(r->anchors);
	if (r->fd != -1)
		close(r->fd);
	explicit_bzero(&r->c, sizeof(r->c));
	free(r);
}

static void
fmt_peer(const struct request *r, char *buf, size_t sz, uint16_t *port)
{
	const struct sockaddr *sa = (const struct sockaddr *)&r->peer;

	buf[0] = '\0';
	*port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, buf, (socklen_t)sz);
		*port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, buf, (socklen_t)sz);
		*port = ntohs(in6->sin6_port);
	}
}

/* The verify result as the audit line says it: "-" when no chain was
 * checked (TCP, or a handshake that ended before the certificate). */
static const char *
req_verify_str(
    const struct request *r, const struct cp_result *res, char *buf, size_t sz)
{
	if (r->tls == NULL || !tls_conn_verified(r->tls))
		return "-";
	snprintf(buf, sz, "%u%s", (unsigned)res->verify_result,
	    r->rt.pin_mismatch ? " (chain ok, pin mismatch)" : "");
	return buf;
}

/* The audit line: who, where, outcome, verify result, time taken. */
static void
req_log(const struct request *r, const struct cp_result *res)
{
	const struct session *s = r->s;
	char vbuf[64];

	/* The server name too: it is the name verified. */
	log_info_rl(s->peer.uid,
	    res->status == CP_STATUS_OK ? LK_OK : 1 + res->eclass,
	    "uid %u gid %u pid %d: %s %s port %u%s%s -> %s port %u%s%s: "
	    "%s%s%s, verify %s, %u attempts, %u ms",
	    (unsigned)s->peer.uid, (unsigned)s->peer.gid, (int)s->peer.pid,
	    r->c.tls ? "tls" : "tcp", r->c.host, r->c.port,
	    r->c.sni[0] ? " server name " : "", r->c.sni,
	    res->peer_addr[0] ? res->peer_addr : "-", res->peer_port,
	    res->status == CP_STATUS_OK && res->alpn[0] ? " alpn " : "",
	    res->status == CP_STATUS_OK ? res->alpn : "",
	    res->status == CP_STATUS_OK ? "ok" : cp_eclass_str(res->eclass),
	    res->errtext[0] ? ", " : "", res->errtext,
	    req_verify_str(r, res, vbuf, sizeof(vbuf)), (unsigned)res->attempts,
	    (unsigned)res->elapsed_ms);
}

static void
req_finish(struct request *r, struct cp_result *res, int fd)
{
	struct session *s = r->s;

	res->attempts = r->attempts;
	res->elapsed_ms = (uint32_t)(ev_clock_ms() - r->start);
	fmt_peer(r, res->peer_addr, sizeof(res->peer_addr), &res->peer_port);
	req_log(r, res);
	s->e->st.served++;
	if (res->status != CP_STATUS_OK)
		s->e->st.failed++;
	req_unlink(r);
	send_result(s, r->id, res, fd);
	req_free(r);
}

static void
req_fail(struct request *r, int eclass, int err, const char *fmt, ...)
{
	struct cp_result res;
	va_list ap;

	va_start(ap, fmt);
	error_result(&res, eclass, err, fmt, ap);
	va_end(ap);
	if (r->tls != NULL)
		res.verify_result = (uint32_t)tls_conn_verify_result(r->tls);
	req_finish(r, &res, -1);
}

static void
req_timeout(struct ev_timer *t)
{
	struct request *r = t->arg;
	static const char *const what[] = {
		[ST_RESOLVE] = "name resolution",
		[ST_DIAL] = "connect",
		[ST_TLS] = "TLS handshake",
		[ST_DONE] = "request",
	};

	req_fail(r, CP_E_TIMEDOUT, ETIMEDOUT, "%s timed out after %u ms",
	    what[r->stage], (unsigned)(ev_clock_ms() - r->start));
}

/* Stage: dial.  Every address is checked against the policy right before
 * it is connected: the address actually used is the one checked. */

static int
req_filter(void *arg, const struct sockaddr *sa, socklen_t len, char *why,
    size_t whysz)
{
	struct request *r = arg;
	struct policy_result pr;

	if (policy_check_addr(r->s->e->conf, &r->s->peer, r->c.host, sa,
		r->c.port, r->c.tls, &pr) == -1 || pr.v != V_ALLOW) {
		snprintf(why, whysz, "%s", pr.why);
		return -1;
	}
	return 0;
}

static void
req_dial(struct request *r)
{
	struct dial_params dp;
	uint64_t left, elapsed = ev_clock_ms() - r->start;

	left = r->c.timeout_ms > elapsed ? r->c.timeout_ms - elapsed : 1;
	memset(&dp, 0, sizeof(dp));
	dp.retries = r->c.retries;
	dp.retry_delay_ms = r->c.retry_delay_ms;
	dp.connect_timeout_ms = r->c.connect_timeout_ms;
	dp.timeout_ms = (uint32_t)left;
	dp.stagger_ms = STAGGER_MS;
	r->stage = ST_DIAL;
	r->dial = dial_start(r->s->e->ev, &r->al, &dp, req_filter, req_dialed,
	    r);
	if (r->dial == NULL)
		req_fail(r, CP_E_INTERNAL, errno, "dial: %s", strerror(errno));
}

static void
req_resolved(void *arg, const struct addr_list *al, int eclass, int err,
    const char *errtext)
{
	struct request *r = arg;

	r->rr = NULL;
	if (eclass != CP_E_NONE) {
		req_fail(r, eclass, err, "%s: %s", r->c.host, errtext);
		return;
	}
	r->al = *al;
	req_dial(r);
}

static void
req_resolve(struct request *r)
{
	int lit;

	r->stage = ST_RESOLVE;
	lit = resolve_literal(r->c.host, r->c.port, r->c.family, &r->al);
	if (lit == 1) {
		req_dial(r);
		return;
	}
	if (lit == -1) {
		req_fail(r, CP_E_NONAME, CP_ENONAME,
		    "%s: address of the wrong family", r->c.host);
		return;
	}
	r->rr = resolve_start(r->s->e->res, r->c.host, r->c.port,
	    r->c.family, r->c.timeout_ms, req_resolved, r);
	if (r->rr == NULL)
		req_fail(r, CP_E_INTERNAL, errno, "resolve: %s",
		    strerror(errno));
}

/* Stage: reply for a plain TCP connection. */
/* Hand-off descriptors are blocking, as a program's own connect()ed
 * socket would be; the file status flags travel with the descriptor. */
static void
fd_blocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl != -1 && (fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

static void
req_reply_tcp(struct request *r)
{
	struct cp_result res;
	int fd = r->fd;

	memset(&res, 0, sizeof(res));
	res.status = CP_STATUS_OK;
	r->fd = -1; /* the descriptor now travels with the reply */
	fd_blocking(fd);
	req_finish(r, &res, fd);
}

static void
req_dialed(void *arg, int fd, const struct sockaddr *sa, socklen_t len,
    int eclass, int err, const char *errtext, uint32_t attempts)
{
	struct request *r = arg;

	r->dial = NULL;
	r->attempts = attempts;
	if (sa != NULL && len <= sizeof(r->peer)) {
		memcpy(&r->peer, sa, len);
		r->peerlen = len;
	}
	if (fd == -1) {
		req_fail(r, eclass, err, "%s", errtext);
		return;
	}
	r->fd = fd;
	if (r->c.tls)
		req_tls_step(r);
	else
		req_reply_tcp(r);
}

/* Stage: TLS.  The handshake runs on the engine loop; the socket is handed
 * over with the record-layer state only when OpenSSL holds no unread byte. */

static void
req_tls_io(struct ev_io *io, uint32_t revents)
{
	req_tls_step(io->arg);
}

static int
send_chain(struct request *r)
{
	unsigned char **der;
	size_t *lens;
	int i, n, rv = 0;

	if (tls_conn_chain(r->tls, &der, &lens, &n) == -1)
		return -1;
	for (i = 0; i < n && rv == 0; i++) {
		struct abuf b;

		abuf_init(&b);
		cp_cert_encode(&b, der[i], lens[i]);
		rv = send_msg(r->s, CP_MSG_PEER_CERT, r->id, -1, &b);
		abuf_free(&b);
	}
	tls_chain_free(der, lens, n);
	return rv;
}

static int
send_state(struct request *r, char *err, size_t errsz)
{
	struct cp_tls_state ts;
	struct abuf b;
	int rv;

	if (tls_conn_export(r->tls, &ts, err, errsz) == -1)
		return -1;
	abuf_init(&b);
	cp_tls_state_encode(&b, &ts);
	cp_tls_state_wipe(&ts);
	rv = send_msg(r->s, CP_MSG_TLS_STATE, r->id, -1, &b);
	abuf_free(&b); /* wipes */
	if (rv == -1)
		snprintf(err, errsz, "tls state: %s", strerror(errno));
	return rv;
}

static void
req_reply_tls(struct request *r)
{
	struct cp_result res;
	const unsigned char *alpn;
	size_t alpnlen;
	char err[256];
	int fd;

	memset(&res, 0, sizeof(res));
	res.status = CP_STATUS_OK;
	res.verify_result = (uint32_t)tls_conn_verify_result(r->tls);
	res.no_peer_cert = (uint8_t)tls_conn_no_peer_cert(r->tls);
	res.tls_version = (uint16_t)tls_conn_version(r->tls);
	snprintf(res.cipher, sizeof(res.cipher), "%s", tls_conn_cipher(r->tls));
	alpn = tls_conn_alpn(r->tls, &alpnlen);
	if (alpn != NULL && alpnlen < sizeof(res.alpn)) {
		memcpy(res.alpn, alpn, alpnlen);
		res.alpn[alpnlen] = '\0';
	}
	res.resumed = (uint8_t)tls_conn_resumed(r->tls);
	if (send_chain(r) == -1) {
		req_fail(r, CP_E_TLS, EPROTO, "peer chain: %s",
		    tls_conn_error(r->tls));
		return;
	}
	if (send_state(r, err, sizeof(err)) == -1) {
		req_fail(r, CP_E_TLS, EPROTO, "hand-off refused: %s", err);
		return;
	}
	ev_io_stop(r->s->e->ev, &r->io);
	fd = r->fd;
	r->fd = -1;
	fd_blocking(fd);
	req_finish(r, &res, fd);
}

/*
 * The TLS policy of the request: the blocks of the host and of the server
 * name together, the strictest setting winning (policy.h), so that neither
 * name gets around the other's pins or "verify required".  Merged on the
 * first call; NULL when the blocks conflict, and the request is failed.
 */
static const struct tls_policy *
req_tls_policy(struct request *r)
{
	char err[256];

	if (r->rt.ready)
		return &r->rt.pol;
	if (policy_tls_request(r->s->e->conf, r->c.host, r->c.sni, r->c.port,
	        &r->rt.pol, err, sizeof(err)) == -1) {
		req_fail(r, CP_E_DENIED, EACCES, "policy: %s", err);
		return NULL;
	}
	r->rt.ready = 1;
	return &r->rt.pol;
}

static void
req_tls_start(struct request *r)
{
	const struct tls_policy *tp;
	const struct dest_tls *dt;
	struct tls_params p;
	char err[256];
	int64_t left;

	if ((tp = req_tls_policy(r)) == NULL)
		return;
	policy_tls_fold_addr(&r->rt.pol, (const struct sockaddr *)&r->peer,
	    r->c.port);
	dt = &tp->t;
	memset(&p, 0, sizeof(p));
	p.host = r->c.host;
	p.sni = r->c.sni[0] ? r->c.sni : NULL;
	p.alpn = r->c.alpnlen ? r->c.alpn : NULL;
	p.alpnlen = r->c.alpnlen;
	/* "verify required": the client's SSL_VERIFY_NONE is not honoured. */
	p.verify_peer = r->c.verify == CP_VERIFY_PEER ||
	    dt->verify == TLSV_REQUIRED;
	p.cn_fallback = dt->cn_fallback;
	p.min_version = dt->min_version;
	p.anchors = r->anchors;
	/* A client certificate: its key stays in the parent, which signs
	 * for us (keys.h). */
	if (dt->cert_file != NULL) {
		const struct client_cred *cc = keyring_find(r->s->e->env->keys,
		    dt->cert_file, dt->key_file);

		if (cc == NULL) {
			req_fail(r, CP_E_TLS, ENOKEY, "client certificate %s "
			    "for %s is not loaded", dt->cert_file, r->c.host);
			return;
		}
		p.cert = cc->cert;
		p.chain = cc->chain;
		p.key = cc->key;
	}
	r->stage = ST_TLS;
	/* The handshake has its own bound inside the request's. */
	left = (int64_t)r->c.timeout_ms - (int64_t)(ev_clock_ms() - r->start);
	if (left > r->s->e->conf->g.handshake_ms &&
	    ev_timer_start(r->s->e->ev, &r->deadline,
		r->s->e->conf->g.handshake_ms) == -1) {
		req_fail(r, CP_E_INTERNAL, errno, "timer: %s", strerror(errno));
		return;
	}
	if ((r->tls = tls_conn_new(r->s->e->env->ssl, r->fd, &p, err,
		 sizeof(err))) == NULL) {
		req_fail(r, CP_E_TLS, EPROTO, "%s", err);
		return;
	}
	if (ev_io_start(r->s->e->ev, &r->io, r->fd, EPOLLOUT, req_tls_io,
		r) == -1)
		req_fail(r, CP_E_INTERNAL, errno, "epoll: %s", strerror(errno));
}

/* The SPKI digests of the verified chain, for the pin check. */
struct spki_list {
	int n;
	uint8_t d[CP_MAX_CHAIN + 2][32]; /* the chain and its anchor */
};

static int
spki_add(void *arg, const uint8_t *spki)
{
	struct spki_list *l = arg;

	memcpy(l->d[l->n++], spki, 32);
	return l->n == (int)(sizeof(l->d) / sizeof(l->d[0]));
}

/* Policy on the finished handshake: minimum version and SPKI pins.  The
 * connection is closed without a byte of application data. */
static int
tls_policy_after(struct request *r)
{
	const struct tls_policy *tp = req_tls_policy(r);
	struct spki_list l;

	if (tp == NULL)
		return 0;
	if (tls_conn_version(r->tls) < tp->t.min_version) {
		req_fail(r, CP_E_DENIED, EACCES, "policy: TLS version below "
		    "the minimum for %s", r->c.host);
		return 0;
	}
	if (tp->npinsets > 0) {
		l.n = 0;
		tls_conn_spki_each(r->tls, spki_add, &l);
		if (!policy_pins_ok(tp, (const uint8_t(*)[32])l.d, l.n)) {
			r->rt.pin_mismatch = l.n > 0;
			req_fail(r, CP_E_VERIFY, EPROTO,
			    "certificate verify failed: no certificate of "
			    "the chain matches a pinned key for %s",
			    r->c.host);
			return 0;
		}
	}
	return 1;
}

static void
req_tls_step(struct request *r)
{
	int rv;

	if (r->tls == NULL) {
		req_tls_start(r);
		if (r->tls == NULL)
			return; /* failed and freed */
	}
	rv = tls_conn_handshake(r->tls);
	if (rv == 0) {
		if (ev_io_set(r->s->e->ev, &r->io,
			(uint32_t)tls_conn_events(r->tls)) == -1)
			req_fail(r, CP_E_INTERNAL, errno, "epoll: %s",
			    strerror(errno));
		return;
	}
	if (rv == 1) {
		if (tls_policy_after(r))
			req_reply_tls(r);
		return;
	}
	if (tls_conn_failed_verify(r->tls))
		req_fail(r, CP_E_VERIFY, EPROTO, "%s", tls_conn_error(r->tls));
	else if (tls_conn_sys_errno(r->tls) != 0)
		req_fail(r, CP_E_TLS, tls_conn_sys_errno(r->tls), "%s",
		    tls_conn_error(r->tls));
	else
		req_fail(r, CP_E_TLS, EPROTO, "%s", tls_conn_error(r->tls));
}

/* Stage: request.  Decoding, limits, the name-level policy decision and
 * the request's bounds, before any network work. */

static void
apply_bounds(const struct cpconf *cf, struct cp_connect *c)
{
	if (c->retries > cf->g.retry_max)
		c->retries = cf->g.retry_max;
	if (c->retry_delay_ms < cf->g.retry_delay_ms)
		c->retry_delay_ms = cf->g.retry_delay_ms;
	if (c->connect_timeout_ms == 0 || c->connect_timeout_ms > cf->g.connect_ms)
		c->connect_timeout_ms = cf->g.connect_ms;
	if (c->timeout_ms == 0 || c->timeout_ms > cf->g.request_ms)
		c->timeout_ms = cf->g.request_ms;
}

static struct request *
req_new(struct session *s, uint32_t id)
{
	struct request *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->s = s;
	r->id = id;
	r->fd = -1;
	r->start = ev_clock_ms();
	r->next = s->reqs;
	s->reqs = r;
	s->nreqs++;
	s->e->st.inflight++;
	ev_timer_init(&r->deadline, req_timeout, r);
	return r;
}

static int
limits_ok(struct session *s, uint32_t id, const char *host)
{
	const struct cpconf *cf = s->e->conf;
	struct uidcount *u = uid_slot(s->e, s->peer.uid, 0);
	const char *why = NULL;
	struct cp_result res;

	if (s->nreqs >= MAX_REQ_PER_SESSION)
		why = "too many requests in flight on this session";
	else if (u != NULL && u->n >= s->e->uid_limit)
		why = "too many requests in flight for this user";
	else if (s->e->st.inflight >= cf->g.max_req)
		why = "too many requests in flight";
	if (why == NULL)
		return 1;
	memset(&res, 0, sizeof(res));
	res.status = CP_STATUS_ERROR;
	res.eclass = CP_E_LIMIT;
	res.err = EAGAIN;
	snprintf(res.errtext, sizeof(res.errtext), "%s", why);
	log_info_rl(s->peer.uid, LK_LIMIT, "uid %u pid %d: %s: %s",
	    (unsigned)s->peer.uid, (int)s->peer.pid, host, why);
	s->e->st.served++;
	s->e->st.failed++;
	send_result(s, id, &res, -1);
	return 0;
}

static int
anchors_ok(struct request *r)
{
	const struct tls_policy *tp;
	struct cp_result res;

	if (!r->c.has_ca_hash)
		return 1;
	if ((tp = req_tls_policy(r)) == NULL)
		return 0;
	if (tp->t.client_ca != CLIENT_CA_ALLOWED) {
		req_fail(r, CP_E_DENIED, EACCES, "policy: client trust "
		    "anchors are not accepted for %s", r->c.host);
		return 0;
	}
	if ((r->anchors = ca_cache_lookup(r->s->e->cas, r->c.ca_hash)) !=
	    NULL)
		return 1;
	/* Unknown set: ask for it; the client sends it and asks again. */
	memset(&res, 0, sizeof(res));
	res.status = CP_STATUS_NEED_CA;
	req_unlink(r);
	send_result(r->s, r->id, &res, -1);
	req_free(r);
	return 0;
}

/* TLS policy decisions that need no network: the blocks agree, ALPN
 * allowed. */
static int
tls_policy_ok(struct request *r)
{
	const struct tls_policy *tp = req_tls_policy(r);

	if (tp == NULL)
		return 0;
	if (r->c.alpnlen > 0 &&
	    policy_alpn_allowed(&tp->t, r->c.alpn, r->c.alpnlen) != 1) {
		req_fail(r, CP_E_DENIED, EACCES, "policy: ALPN protocols not "
		    "allowed for %s", r->c.host);
		return 0;
	}
	return 1;
}

static int
id_in_use(struct session *s, uint32_t id)
{
	struct request *r;

	for (r = s->reqs; r != NULL; r = r->next)
		if (r->id == id)
			return 1;
	return 0;
}

static void
handle_connect(struct session *s, const struct imsg *m)
{
	struct cp_connect c;
	struct policy_result pr;
	struct uidcount *u;
	struct request *r;
	char err[256];

	if (cp_connect_decode(m->data, m->datalen, &c, err, sizeof(err)) ==
	    -1) {
		session_error(s, m->hdr.peerid, CP_E_PROTO, EPROTO,
		    "bad CONNECT: %s", err);
		return;
	}
	if (id_in_use(s, m->hdr.peerid)) {
		session_error(s, m->hdr.peerid, CP_E_PROTO, EPROTO,
		    "request id %u already in use", m->hdr.peerid);
		return;
	}
	if (!limits_ok(s, m->hdr.peerid, c.host))
		return;
	if ((u = uid_slot(s->e, s->peer.uid, 1)) == NULL) {
		session_error(s, m->hdr.peerid, CP_E_INTERNAL, ENOMEM,
		    "out of memory");
		return;
	}
	u->n++; /* req_unlink() gives it back */
	if ((r = req_new(s, m->hdr.peerid)) == NULL) {
		uid_release(s->e, s->peer.uid);
		session_error(s, m->hdr.peerid, CP_E_INTERNAL, ENOMEM,
		    "out of memory");
		return;
	}
	apply_bounds(s->e->conf, &c);
	r->c = c;
	explicit_bzero(&c, sizeof(c));
	if (ev_timer_start(s->e->ev, &r->deadline, r->c.timeout_ms) == -1) {
		req_fail(r, CP_E_INTERNAL, errno, "timer: %s",
		    strerror(errno));
		return;
	}
	if (policy_check_name(s->e->conf, &s->peer, r->c.host, r->c.port,
		r->c.tls, &pr) == -1 || pr.v != V_ALLOW) {
		req_fail(r, CP_E_DENIED, EACCES, "%s", pr.why);
		return;
	}
	if (r->c.tls && !tls_policy_ok(r))
		return;
	if (r->c.tls && !anchors_ok(r))
		return;
	req_resolve(r);
}

/* Client-supplied trust anchors: CA_CERT* then CA_END{hash}. */

static void
handle_ca_cert(struct session *s, const struct imsg *m)
{
	const unsigned char *der;
	size_t len;
	char err[256];

	if (cp_cert_decode(m->data, m->datalen, &der, &len, err,
		sizeof(err)) == -1) {
		session_error(s, m->hdr.peerid, CP_E_PROTO, EPROTO,
		    "bad CA_CERT: %s", err);
		return;
	}
	if (s->cab == NULL && (s->cab = ca_builder_new(0)) == NULL) {
		session_error(s, m->hdr.peerid, CP_E_INTERNAL, ENOMEM,
		    "out of memory");
		return;
	}
	if (ca_builder_add(s->cab, der, len, err, sizeof(err)) == -1)
		session_error(s, m->hdr.peerid, CP_E_PROTO, EPROTO,
		    "CA_CERT: %s", err);
}

static void
handle_ca_end(struct session *s, const struct imsg *m)
{
	unsigned char hash[CP_HASH_LEN];
	char err[256];
	int rv;

	if (cp_ca_end_decode(m->data, m->datalen, hash, err, sizeof(err)) ==
	    -1) {
		session_error(s, m->hdr.peerid, CP_E_PROTO, EPROTO,
		    "bad CA_END: %s", err);
		return;
	}
	if (s->cab == NULL) {
		session_error(s, m->hdr.peerid, CP_E_PROTO, EPROTO,
		    "CA_END without CA_CERT");
		return;
	}
	rv = ca_builder_finish(s->cab, hash, s->e->cas, NULL, err,
	    sizeof(err));
	ca_builder_free(s->cab);
	s->cab = NULL;
	if (rv == -1)
		session_error(s, m->hdr.peerid, CP_E_PROTO, EPROTO,
		    "client trust anchors: %s", err);
}

static void
handle_hello(struct session *s, const struct imsg *m)
{
	struct cp_hello h;
	struct abuf b;
	char err[256];

	if (cp_hello_decode(m->data, m->datalen, &h, err, sizeof(err)) ==
	    -1) {
		session_error(s, m->hdr.peerid, CP_E_PROTO, EPROTO,
		    "bad HELLO: %s", err);
		return;
	}
	if (h.version != CP_PROTO_VERSION) {
		session_error(s, m->hdr.peerid, CP_E_PROTO, EPROTONOSUPPORT,
		    "protocol version %u not supported (daemon speaks %u)",
		    h.version, CP_PROTO_VERSION);
		return;
	}
	s->hello = 1;
	memset(&h, 0, sizeof(h));
	h.version = CP_PROTO_VERSION;
	snprintf(h.software, sizeof(h.software), "cpconnectd");
	/* The library bounds its wait for our answers by these. */
	h.lim.known = 1;
	h.lim.request_ms = s->e->conf->g.request_ms;
	h.lim.handshake_ms = s->e->conf->g.handshake_ms;
	h.lim.retry_delay_ms = s->e->conf->g.retry_delay_ms;
	abuf_init(&b);
	cp_hello_encode(&b, &h);
	if (send_msg(s, CP_MSG_HELLO, m->hdr.peerid, -1, &b) == -1)
		log_warn("hello");
	abuf_free(&b);
	/* Now, not with the first result: the limits bound the library's
	 * wait for that result. */
	session_flush(s);
}

static void
session_dispatch(struct session *s, const struct imsg *m)
{
	if (!s->hello && m->hdr.type != CP_MSG_HELLO) {
		session_error(s, m->hdr.peerid, CP_E_PROTO, EPROTO,
		    "%s before HELLO", cp_msg_str(m->hdr.type));
		return;
	}
	switch (m->hdr.type) {
	case CP_MSG_HELLO:
		if (s->hello) {
			session_error(s, m->hdr.peerid, CP_E_PROTO, EPROTO,
			    "second HELLO");
			return;
		}
		handle_hello(s, m);
		break;
	case CP_MSG_CONNECT:
		handle_connect(s, m);
		break;
	case CP_MSG_CA_CERT:
		handle_ca_cert(s, m);
		break;
	case CP_MSG_CA_END:
		handle_ca_end(s, m);
		break;
	default:
		session_error(s, m->hdr.peerid, CP_E_PROTO, EPROTO,
		    "unexpected message type %u", m->hdr.type);
	}
}

/* Sessions */

static void
session_idle(struct ev_timer *t)
{
	struct session *s = t->arg;

	/* A closing session whose last reply is out: close it from the
	 * loop, never under a caller's feet. */
	if (s->closing == 2) {
		session_close(s);
		return;
	}
	if (s->nreqs > 0) {
		ev_timer_start(s->e->ev, &s->idle, s->e->conf->g.session_idle_ms);
		return;
	}
	log_debug("uid %u pid %d: idle session closed", (unsigned)s->peer.uid,
	    (int)s->peer.pid);
	session_close(s);
}

/* Replies not yet read by the client hold back its next requests. */
static int
session_throttled(const struct session *s)
{
	return s->ib.wqueued >= SESSION_WQ_MAX;
}

static void
session_update_events(struct session *s)
{
	uint32_t ev = s->closing || s->eof || session_throttled(s) ? 0
								      : EPOLLIN;

	if (imsg_pending(&s->ib))
		ev |= EPOLLOUT;
	if (ev_io_set(s->e->ev, &s->io, ev) == -1)
		log_warn("epoll");
}

static void
session_flush(struct session *s)
{
	if (imsg_write(&s->ib) == -1) {
		if (errno != EPIPE && errno != ECONNRESET)
			log_warn("uid %u: write", (unsigned)s->peer.uid);
		s->closing = 2; /* peer gone: nothing left to flush */
	}
	if ((s->closing || (s->eof && s->nreqs == 0)) &&
	    !imsg_pending(&s->ib)) {
		s->closing = 2; /* session_idle() closes it */
		ev_timer_start(s->e->ev, &s->idle, 0);
	}
	session_update_events(s);
}

/*
 * Handle the frames already read, a bounded number per turn of the loop
 * so one session cannot starve the others, and none while the session's
 * replies are not drained.  What is left waits for the resume timer or
 * for the queue to drain (session_io).
 */
static void
session_process(struct session *s)
{
	struct imsg m;
	int rv, budget = 64;

	while (!s->closing && !session_throttled(s) && budget-- > 0) {
		if ((rv = imsg_get(&s->ib, &m)) == 0)
			return;
		if (rv == -1) {
			session_error(s, 0, CP_E_PROTO, EPROTO,
			    "malformed message: %s", strerror(errno));
			return;
		}
		if (m.fd != -1)
			close(m.fd); /* cannot happen: accept_fds is 0 */
		ev_timer_start(s->e->ev, &s->idle, s->e->conf->g.session_idle_ms);
		session_dispatch(s, &m);
	}
	if (!s->closing && !session_throttled(s))
		ev_timer_start(s->e->ev, &s->resume, 0);
}

static void
session_resume(struct ev_timer *t)
{
	session_process(t->arg);
}

static void
session_read(struct session *s)
{
	ssize_t n;

	n = imsg_read(&s->ib);
	if (n == 0 && !s->eof && (s->nreqs > 0 || imsg_pending(&s->ib) ||
				     s->ib.rpos < s->ib.rlen)) {
		/* Half-closed, or shut by a draining engine: answer what
		 * was asked, then close. */
		s->eof = 1;
		session_process(s);
		session_flush(s);
		return;
	}
	if (n == 0 || (n == -1 && errno != EAGAIN)) {
		if (n == -1 && errno != ECONNRESET)
			log_info_rl(s->peer.uid, LK_SESSION, "uid %u pid %d: %s",
			    (unsigned)s->peer.uid, (int)s->peer.pid,
			    errno == EBADMSG ? "descriptor not expected"
					     : strerror(errno));
		session_close(s);
		return;
	}
	session_process(s);
}

static void
session_io(struct ev_io *io, uint32_t revents)
{
	struct session *s = io->arg;
	int was_throttled = session_throttled(s);

	if (s->eof && (revents & (EPOLLHUP | EPOLLERR))) {
		session_close(s); /* the peer is gone altogether */
		return;
	}
	if (revents & EPOLLOUT)
		session_flush(s);
	if (s->closing == 2 && !imsg_pending(&s->ib))
		return;
	if (was_throttled && !session_throttled(s))
		session_process(s); /* frames held back while throttled */
	else if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
		session_read(s);
}

static void
session_close(struct session *s)
{
	struct engine *e = s->e;
	struct request *r;

	while ((r = s->reqs) != NULL) {
		req_unlink(r);
		req_free(r);
	}
	ev_io_stop(e->ev, &s->io);
	ev_timer_stop(e->ev, &s->idle);
	ev_timer_stop(e->ev, &s->resume);
	close(s->io.fd);
	imsgbuf_clear(&s->ib);
	if (s->cab != NULL)
		ca_builder_free(s->cab);
	if ((*s->prevp = s->next) != NULL)
		s->next->prevp = s->prevp;
	uid_drop(e, s->peer.uid, 1);
	e->st.sessions--;
	free(s);
}

static void
session_peer(struct cp_peer *peer, gid_t *groups, int fd)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	socklen_t glen = MAX_GROUPS * sizeof(gid_t);

	memset(&uc, 0, sizeof(uc));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1)
		log_warn("SO_PEERCRED");
	peer->uid = uc.uid;
	peer->gid = uc.gid;
	peer->pid = uc.pid;
	peer->groups = groups;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0)
		peer->ngroups = (int)(glen / sizeof(gid_t));
	else
		peer->ngroups = 0; /* more than MAX_GROUPS: primary only */
}

/*
 * A session we will not serve still gets a reason before the close, so
 * the program reports "too many sessions" rather than a reset.  One
 * small datagram on a fresh socket: it fits, or the client loses only the
 * reason.
 */
static void
session_refuse(struct engine *e, int fd, const struct cp_peer *peer,
    const char *why)
{
	struct imsgbuf ib;
	struct cp_result res;
	struct abuf b;

	log_info_rl(peer->uid, LK_REFUSED, "uid %u pid %d: session refused: %s",
	    (unsigned)peer->uid, (int)peer->pid, why);
	memset(&res, 0, sizeof(res));
	res.status = CP_STATUS_ERROR;
	res.eclass = CP_E_LIMIT;
	res.err = EAGAIN;
	snprintf(res.errtext, sizeof(res.errtext), "%s", why);
	abuf_init(&b);
	cp_result_encode(&b, &res);
	imsgbuf_init(&ib, fd, CP_MAX_MSG);
	if (!abuf_failed(&b) && imsg_compose(&ib, CP_MSG_RESULT, 0, e->pid, -1,
				    b.buf, b.len) == 0)
		(void)imsg_write(&ib);
	imsgbuf_clear(&ib);
	abuf_free(&b);
	close(fd);
}

/* Why a new session of this peer is refused, or NULL. */
static const char *
session_limit(struct engine *e, const struct cp_peer *peer)
{
	const struct uidcount *u;

	if (e->st.sessions >= e->conf->g.max_sessions)
		return "too many sessions open";
	u = uid_slot(e, peer->uid, 0);
	if (u != NULL && u->sessions >= e->uid_sessions)
		return "too many sessions open for this user";
	return NULL;
}

static struct session *
session_new(struct engine *e, int fd, const struct cp_peer *peer,
    const gid_t *groups)
{
	struct uidcount *u;
	struct session *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->e = e;
	s->peer = *peer;
	memcpy(s->groups, groups, sizeof(s->groups));
	s->peer.groups = s->groups;
	imsgbuf_init(&s->ib, fd, CP_MAX_MSG);
	ev_timer_init(&s->idle, session_idle, s);
	ev_timer_init(&s->resume, session_resume, s);
	if (ev_io_start(e->ev, &s->io, fd, EPOLLIN, session_io, s) == -1) {
		free(s);
		return NULL;
	}
	if ((u = uid_slot(e, peer->uid, 1)) == NULL) {
		ev_io_stop(e->ev, &s->io);
		free(s);
		return NULL;
	}
	u->sessions++;
	ev_timer_start(e->ev, &s->idle, e->conf->g.session_idle_ms);
	if ((s->next = e->sessions) != NULL)
		s->next->prevp = &s->next;
	e->sessions = s;
	s->prevp = &e->sessions;
	e->st.sessions++;
	return s;
}

static void
engine_accept(struct ev_io *io, uint32_t revents)
{
	struct engine *e = io->arg;
	struct cp_peer peer;
	gid_t groups[MAX_GROUPS];
	const char *why;
	int fd, budget = 32;

	while (budget-- > 0) {
		fd = accept4(e->env->lfd, NULL, NULL,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		session_peer(&peer, groups, fd);
		if ((why = session_limit(e, &peer)) != NULL)
			session_refuse(e, fd, &peer, why);
		else if (session_new(e, fd, &peer, groups) == NULL) {
			log_warn("session");
			session_refuse(e, fd, &peer, "out of memory");
		}
	}
}

/* Tell the parent how we are doing, for systemd's STATUS=. */
static void
stats_send(struct engine *e)
{
	struct ctl_stats cs;

	memset(&cs, 0, sizeof(cs));
	cs.type = CTL_STATS;
	cs.st = e->st;
	if (send(e->env->ctlfd, &cs, sizeof(cs), MSG_DONTWAIT | MSG_NOSIGNAL) ==
		-1 &&
	    errno != EAGAIN)
		e->stopping = 1; /* parent gone */
}

static void
stats_tick(struct ev_timer *t)
{
	struct engine *e = t->arg;

	stats_send(e);
	log_rl_flush();
	ev_timer_start(e->ev, t, 1000);
}

static void
on_term(int sig)
{
	got_term = 1;
}

static void
ctl_io(struct ev_io *io, uint32_t revents)
{
	struct engine *e = io->arg;
	struct keys_sign_rep buf;
	uint32_t type;
	ssize_t n;
	int budget = 16;

	/* CTL_DRAIN, or the end of file when the parent is gone: stop
	 * accepting and drain.  A signature that arrives here came after
	 * its wait timed out: dropped. */
	while (budget-- > 0) {
		n = recv(io->fd, &buf, sizeof(buf), MSG_DONTWAIT);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			e->stopping = 1;
			ev_io_stop(e->ev, io);
			return;
		}
		if ((size_t)n < sizeof(type))
			continue;
		memcpy(&type, &buf, sizeof(type));
		if (type == CTL_DRAIN)
			e->stopping = 1;
	}
}

/*
 * Drain: no new sessions, and no new requests on the open ones.  Shutting
 * the read side makes a client's next request fail at its own write
 * (EPIPE, and the library replays it on a new session, served by the new
 * engines), while everything already sent is still read, answered and
 * flushed before the session closes.  No request is lost in between.
 */
static void
engine_drain(struct engine *e)
{
	struct session *s;

	ev_io_stop(e->ev, &e->lio);
	for (s = e->sessions; s != NULL; s = s->next)
		if (shutdown(s->io.fd, SHUT_RD) == -1 && errno != ENOTCONN)
			log_warn("uid %u: shutdown", (unsigned)s->peer.uid);
}

/* Done draining: every session has closed, or nothing is in flight and
 * the clients that do not read their replies had DRAIN_MS. */
static int
engine_drained(const struct engine *e, uint64_t drain_start)
{
	if (!e->stopping)
		return 0;
	if (e->sessions == NULL)
		return 1;
	return e->st.inflight == 0 && ev_clock_ms() - drain_start > DRAIN_MS;
}

/* Replies still queued: a draining engine sends them before it exits. */
static int
output_pending(const struct engine *e)
{
	const struct session *s;

	for (s = e->sessions; s != NULL; s = s->next)
		if (imsg_pending(&s->ib) && s->closing != 2)
			return 1;
	return 0;
}

/* Engines share nothing, so each takes an equal share of a per-user
 * limit: a user never has more than the limit says. */
static uint32_t
share(uint32_t limit, int nengines)
{
	uint32_t n = nengines > 0 ? limit / (uint32_t)nengines : limit;

	return n > 0 ? n : 1;
}

int
engine_run(const struct engine_env *env)
{
	struct engine e;
	uint64_t drain_start = 0;
	struct sigaction sa;
	char err[256];

	memset(&e, 0, sizeof(e));
	e.env = env;
	e.conf = env->conf;
	e.pid = (uint32_t)getpid();
	e.uid_limit = share(e.conf->g.max_req_per_uid, env->nengines);
	e.uid_sessions = share(e.conf->g.max_sessions_per_uid, env->nengines);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

#ifdef CP_TEST_HOOKS
	if (getenv("CPCONNECTD_TEST_HOOKS") != NULL)
		sandbox_probe();
#endif
	if ((e.ev = ev_new()) == NULL)
		fatal("event loop");
	if ((e.res = resolver_new(e.ev, env->resolvers, err, sizeof(err))) ==
	    NULL)
		fatalx("resolver: %s", err);
	if ((e.cas = ca_cache_new(64, 8 * 1024 * 1024)) == NULL)
		fatal("trust anchor cache");
	if (ev_io_start(e.ev, &e.lio, env->lfd, EPOLLIN | EPOLLEXCLUSIVE,
		engine_accept, &e) == -1)
		fatal("epoll");
	if (env->ctlfd != -1) {
		if (ev_io_start(e.ev, &e.cio, env->ctlfd, EPOLLIN, ctl_io,
			&e) == -1)
			fatal("epoll");
		ev_timer_init(&e.stats_timer, stats_tick, &e);
		ev_timer_start(e.ev, &e.stats_timer, 0);
	}

	for (;;) {
		if (keyring_stop_seen())
			e.stopping = 1;
		/* Drain before judging whether draining is done. */
		if (e.stopping && drain_start == 0) {
			engine_drain(&e);
			drain_start = ev_clock_ms();
		}
		if (got_term || engine_drained(&e, drain_start))
			break;
		if (ev_run_once(e.ev, e.stopping ? 100 : 1000) == -1)
			fatal("epoll_wait");
	}
	/* Even when told to stop at once, finished replies go out (bounded):
	 * a client must not lose a connection the daemon already made. */
	for (int i = 0; i < 10 && output_pending(&e); i++)
		ev_run_once(e.ev, 100);
	while (e.sessions != NULL)
		session_close(e.sessions);
	/* The last counts, so the parent's totals lose nothing. */
	if (env->ctlfd != -1)
		stats_send(&e);
	log_rl_flush();
	ev_timer_stop(e.ev, &e.stats_timer);
	resolver_free(e.res);
	ca_cache_free(e.cas);
	ev_free(e.ev);
	return 0;
}
