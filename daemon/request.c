/* SPDX-License-Identifier: ISC */
/*
 * The request pipeline: one CONNECT from its decoding to its one RESULT,
 * in the order the data flows, top-down:
 *   request (decode, limits, name policy) -> resolve -> dial (policy per
 *   address) -> tls (policy on the handshake) -> reply
 * Through an upstream proxy (the proxy stage, below the dial stage):
 *   request -> [resolve the destination: proxy-resolve local, policy per
 *   address] -> resolve the proxy -> dial the proxy -> proxy (the tunnel)
 *   -> tls (end to end through the tunnel) -> reply
 * A HANDSHAKE enters with the program's socket in place of resolve and
 * dial: request (name policy) -> the socket and its peer's address
 * (policy) -> tls -> reply.
 * Every stage hands the request to the next or ends it with req_fail().
 */
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "cacache.h"
#include "conf.h"
#include "engine_int.h"
#include "keyring.h"
#include "log.h"
#include "pcred.h"
#include "proxy.h"
#include "tls.h"
#include "trust.h"

_Static_assert((int)TLS_OCSP_OFF == (int)OCSP_OFF &&
                   (int)TLS_OCSP_IF_STAPLED == (int)OCSP_IF_STAPLED &&
                   (int)TLS_OCSP_REQUIRE == (int)OCSP_REQUIRE,
    "tls.h and conf.h name the OCSP policies alike");

static struct request *req_admit(
    struct session *, uint32_t id, struct cp_connect *);
static int req_end_if_upgrade_denied(struct request *);
static int sockopt_int(int fd, int opt, int *v);
static const char *socket_unfit(struct request *, int *unread);
static uint16_t peer_port(const struct request *);
static int refuse_if_over_limits(
    struct session *, uint32_t id, const char *host);
static int id_in_use(struct session *, uint32_t id);
static int req_end_if_tls_denied(struct request *);
static int req_end_if_anchors_missing(struct request *);
static void req_resolve(struct request *);
static void req_resolved(
    void *, const struct addr_list *, int, int, const char *);
static void req_dial(struct request *);
static int req_proxy_choose(struct request *, struct policy_result *);
static void req_proxy_dst(struct request *);
static void req_proxy_resolve(struct request *);
static void req_proxy_resolved(
    void *, const struct addr_list *, int, int, const char *);
static void req_proxy_start(struct request *);
static void req_proxied(void *, int, int, const char *);
static int req_filter(
    void *, const struct sockaddr *, socklen_t, char *, size_t);
static void req_dialed(void *, int, const struct sockaddr *, socklen_t, int,
    int, const char *, uint32_t);
static void req_tls_step(struct request *);
static void req_tls_io(struct ev_io *, uint32_t);
static int req_tls_start(struct request *);
static int req_tls_crls(struct request *, struct tls_params *);
static const struct tls_policy *req_tls_policy(struct request *);
static int req_end_if_handshake_denied(struct request *);
static void req_reply_tcp(struct request *);
static void fd_blocking(int);
static void req_reply_tls(struct request *);
static int send_chain(struct request *);
static int send_state(struct request *, struct cp_result *, char *, size_t);
static void req_resume_lookup(struct request *, const struct tls_params *);
static void req_finish(struct request *, struct cp_result *, int fd);
static void req_fail(struct request *, int eclass, int err, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));
static void req_timeout(struct ev_timer *);
static void fmt_peer(const struct request *, char *, size_t, uint16_t *);
static struct request *req_new(struct session *, uint32_t id);
static void apply_bounds(const struct cpconf *, struct cp_connect *);

/* The entry of the pipeline: decode, limits, the name-level policy and
 * the request's bounds, before any network work. */
void
req_connect(struct session *s, const struct imsg *m)
{
	struct cp_connect c;
	struct policy_result pr;
	struct request *r;
	char err[256];

	if (cp_connect_decode(m->data, m->datalen, &c, err, sizeof(err)) ==
	    -1) {
		session_error(s, m->hdr.peerid, CP_E_PROTO, EPROTO,
		    "bad CONNECT: %s", err);
		return;
	}
	if ((r = req_admit(s, m->hdr.peerid, &c)) == NULL)
		return;
	if (req_proxy_choose(r, &pr) == -1)
		return;
	if (pr.v != V_ALLOW) {
		req_fail(r, CP_E_DENIED, EACCES, "%s", pr.why);
		return;
	}
	if (r->c.tls &&
	    (req_end_if_tls_denied(r) || req_end_if_anchors_missing(r)))
		return;
	req_resolve(r);
}

/*
 * The other entry: TLS on a socket the program connected itself
 * (HANDSHAKE).  The same pipeline without resolve and dial: the socket
 * takes the dialed one's place once it is found to be what a dial gives,
 * and its real peer passes the address rules as a dialed address would,
 * so no program launders a denied destination through its own socket.
 */
void
req_handshake(struct session *s, struct imsg *m)
{
	struct cp_connect c;
	struct request *r;
	char err[256];
	int fd = m->fd;

	m->fd = -1;
	if (fd == -1) {
		session_error(s, m->hdr.peerid, CP_E_PROTO, EPROTO,
		    "HANDSHAKE without a socket");
		return;
	}
	if (cp_handshake_decode(m->data, m->datalen, &c, err, sizeof(err)) ==
	    -1) {
		close(fd);
		session_error(s, m->hdr.peerid, CP_E_PROTO, EPROTO,
		    "bad HANDSHAKE: %s", err);
		return;
	}
	if ((r = req_admit(s, m->hdr.peerid, &c)) == NULL) {
		close(fd);
		return;
	}
	r->fd = fd; /* closed with the request, the program keeps its own */
	r->upgrade = 1;
	r->stage = ST_TLS;
	if (req_end_if_upgrade_denied(r) || req_end_if_tls_denied(r) ||
	    req_end_if_anchors_missing(r))
		return;
	req_tls_step(r);
}

/* What both entries do first: the id, the limits and the request's
 * bounds and deadline.  NULL when the request was answered here. */
static struct request *
req_admit(struct session *s, uint32_t id, struct cp_connect *c)
{
	struct uidcount *u;
	struct request *r;

	if (id_in_use(s, id)) {
		session_error(s, id, CP_E_PROTO, EPROTO,
		    "request id %u already in use", id);
		return NULL;
	}
	if (refuse_if_over_limits(s, id, c->host))
		return NULL;
	if ((u = uid_slot(s->e, s->peer.uid, 1)) == NULL) {
		session_error(s, id, CP_E_INTERNAL, ENOMEM, "out of memory");
		return NULL;
	}
	u->n++; /* req_unlink() gives it back */
	if ((r = req_new(s, id)) == NULL) {
		uid_release(s->e, s->peer.uid);
		session_error(s, id, CP_E_INTERNAL, ENOMEM, "out of memory");
		return NULL;
	}
	/* The client's own timeout, where it set one, bounds the handshake
	 * as it bounds each connection attempt (cp_client_set_timeout). */
	r->handshake_ms = s->e->conf->g.handshake_ms;
	if (c->connect_timeout_ms != 0 &&
	    c->connect_timeout_ms < r->handshake_ms)
		r->handshake_ms = c->connect_timeout_ms;
	apply_bounds(s->e->conf, c);
	r->c = *c;
	explicit_bzero(c, sizeof(*c));
	if (ev_timer_start(s->e->ev, &r->deadline, r->c.timeout_ms) == -1) {
		req_fail(r, CP_E_INTERNAL, errno, "timer: %s", strerror(errno));
		return NULL;
	}
	return r;
}

/*
 * HANDSHAKE: the name and port the program gave pass the name rules, the
 * socket is what a dial would have given, and the address and port it is
 * really connected to pass the address rules; else the request ends
 * here (1).
 */
static int
req_end_if_upgrade_denied(struct request *r)
{
	struct policy_result pr;
	const char *why;
	int unread;

	if (policy_check_name(r->s->e->conf, &r->s->peer, r->c.host, r->c.port,
	        1, &pr) == -1 ||
	    pr.v != V_ALLOW) {
		req_fail(r, CP_E_DENIED, EACCES, "%s", pr.why);
		return 1;
	}
	if ((why = socket_unfit(r, &unread)) != NULL && unread > 0) {
		req_fail(r, CP_E_PROTO, EPROTO,
		    "the program's socket: %d bytes from the server are "
		    "unread: TLS has to start on a clean stream (data ahead "
		    "of the handshake is refused, see CVE-2011-0411)",
		    unread);
		return 1;
	}
	if (why != NULL) {
		req_fail(
		    r, CP_E_PROTO, EPROTO, "the program's socket: %s", why);
		return 1;
	}
	if (policy_check_addr(r->s->e->conf, &r->s->peer, r->c.host,
	        (const struct sockaddr *)&r->peer, peer_port(r), 1,
	        &pr) == -1 ||
	    pr.v != V_ALLOW) {
		req_fail(r, CP_E_DENIED, EACCES, "%s", pr.why);
		return 1;
	}
	return 0;
}

static int
sockopt_int(int fd, int opt, int *v)
{
	socklen_t len = sizeof(*v);

	*v = -1;
	return getsockopt(fd, SOL_SOCKET, opt, v, &len);
}

/*
 * A connected TCP socket, its peer now in r->peer, and nothing from the
 * server waiting to be read (*unread, the count): bytes that came before
 * our ClientHello would be taken for the handshake, or they are
 * plaintext injected ahead of the upgrade (the STARTTLS command
 * injection of CVE-2011-0411), which no program may read as if it had
 * come under TLS.  Then NULL, and the socket is non-blocking for the
 * loop; else what is wrong with it.
 */
static const char *
socket_unfit(struct request *r, int *unread)
{
	struct tcp_info ti;
	struct stat st;
	socklen_t len;
	int v, fl;

	*unread = 0;
	if (fstat(r->fd, &st) == -1 || !S_ISSOCK(st.st_mode))
		return "not a socket";
	if (sockopt_int(r->fd, SO_DOMAIN, &v) == -1 ||
	    (v != AF_INET && v != AF_INET6))
		return v == AF_UNIX ? "a Unix socket, not TCP"
		                    : "not an IP socket, not TCP";
	if (sockopt_int(r->fd, SO_TYPE, &v) == -1 || v != SOCK_STREAM)
		return v == SOCK_DGRAM ? "a datagram (UDP) socket, not TCP"
		                       : "not a stream socket, not TCP";
	if (sockopt_int(r->fd, SO_PROTOCOL, &v) == -1 || v != IPPROTO_TCP)
		return "a stream socket, but not TCP";
	len = sizeof(r->peer);
	if (getpeername(r->fd, (struct sockaddr *)&r->peer, &len) == -1)
		return "not connected";
	r->peerlen = len;
	len = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(r->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == -1 ||
	    ti.tcpi_state != TCP_ESTABLISHED)
		return "not an established connection (the server may have "
		       "closed it)";
	if (ioctl(r->fd, FIONREAD, unread) == -1)
		return "its input queue cannot be read (FIONREAD)";
	if (*unread != 0)
		return "unread data from the server";
	if ((fl = fcntl(r->fd, F_GETFL)) == -1 ||
	    fcntl(r->fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return "it cannot be made non-blocking";
	return NULL;
}

static uint16_t
peer_port(const struct request *r)
{
	const struct sockaddr *sa = (const struct sockaddr *)&r->peer;

	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

/*
 * The limit a new request would pass, or NULL; *unread: how many of the
 * requests counted are sockets not yet received.  Those counts are
 * brought up to date only when they would refuse.
 */
static const char *
limit_reached(struct session *s, uint32_t *unread)
{
	struct engine *e = s->e;
	struct uidcount *u = uid_slot(e, s->peer.uid, 0);
	uint32_t max = e->conf->g.max_req;

	if (s->nreqs + s->unread >= MAX_REQ_PER_SESSION &&
	    s->nreqs + session_unread(s) >= MAX_REQ_PER_SESSION) {
		*unread = s->unread;
		return "too many requests in flight on this session";
	}
	if (u != NULL && u->n + u->unread >= e->uid_limit) {
		sessions_unread_sync(e, &s->peer.uid);
		if (u->n + u->unread >= e->uid_limit) {
			*unread = u->unread;
			return "too many requests in flight for this user";
		}
	}
	if (e->st.inflight + e->unread >= max) {
		sessions_unread_sync(e, NULL);
		if (e->st.inflight + e->unread >= max) {
			*unread = e->unread;
			return "too many requests in flight";
		}
	}
	return NULL;
}

/* Over a limit: answer the CONNECT with the reason and return 1. */
static int
refuse_if_over_limits(struct session *s, uint32_t id, const char *host)
{
	uint32_t unread = 0;
	const char *why = limit_reached(s, &unread);
	struct cp_result res;

	if (why == NULL)
		return 0;
	memset(&res, 0, sizeof(res));
	res.status = CP_STATUS_ERROR;
	res.eclass = CP_E_LIMIT;
	res.err = EAGAIN;
	if (unread > 0)
		snprintf(res.errtext, sizeof(res.errtext),
		    "%s (%u of them sockets not yet received)", why,
		    (unsigned)unread);
	else
		snprintf(res.errtext, sizeof(res.errtext), "%s", why);
	log_info_rl(s->peer.uid, LK_LIMIT, "uid %u pid %d: %s: %s",
	    (unsigned)s->peer.uid, (int)s->peer.pid, host, res.errtext);
	s->e->st.served++;
	s->e->st.failed++;
	send_result(s, id, &res, -1);
	return 1;
}

static int
id_in_use(struct session *s, uint32_t id)
{
	struct request *r;

	LIST_FOREACH(r, &s->reqs, entry)
		if (r->id == id)
			return 1;
	return 0;
}

/* TLS policy decisions that need no network (the blocks agree, ALPN
 * allowed): 1 when the request ended here, refused. */
static int
req_end_if_tls_denied(struct request *r)
{
	const struct tls_policy *tp = req_tls_policy(r);

	if (tp == NULL)
		return 1;
	if (r->c.alpnlen > 0 &&
	    policy_alpn_allowed(&tp->t, r->c.alpn, r->c.alpnlen) != 1) {
		req_fail(r, CP_E_DENIED, EACCES,
		    "policy: ALPN protocols not "
		    "allowed for %s",
		    r->c.host);
		return 1;
	}
	return 0;
}

/*
 * Client trust anchors: known to the cache, or the request ends here (1),
 * refused by the policy or answered with NEED_CA so that the client sends
 * the set and asks again; r is freed then.
 */
static int
req_end_if_anchors_missing(struct request *r)
{
	const struct tls_policy *tp;
	struct cp_result res;

	if (!r->c.has_ca_hash)
		return 0;
	if ((tp = req_tls_policy(r)) == NULL)
		return 1;
	if (tp->t.client_ca != CLIENT_CA_ALLOWED) {
		req_fail(r, CP_E_DENIED, EACCES,
		    "policy: client trust "
		    "anchors are not accepted for %s",
		    r->c.host);
		return 1;
	}
	if ((r->anchors = ca_cache_lookup(r->s->e->cas, r->c.ca_hash)) != NULL)
		return 0;
	/* Unknown set: ask for it; the client sends it and asks again. */
	memset(&res, 0, sizeof(res));
	res.status = CP_STATUS_NEED_CA;
	req_unlink(r);
	send_result(r->s, r->id, &res, -1);
	req_free(r);
	return 1;
}

/* Stage: resolve. */

static void
req_resolve(struct request *r)
{
	int lit;

	r->stage = ST_RESOLVE;
	lit = resolve_literal(r->c.host, r->c.port, r->c.family, &r->al);
	if (lit == 1 && r->px != NULL) {
		req_proxy_dst(r);
		return;
	}
	if (lit == 1) {
		req_dial(r);
		return;
	}
	if (lit == 0 && r->px != NULL && r->px->resolve == PROXY_REMOTE) {
		req_proxy_resolve(r);
		return;
	}
	if (lit == -1) {
		req_fail(r, CP_E_NONAME, CP_ENONAME,
		    "%s: address of the wrong family", r->c.host);
		return;
	}
	r->rr = resolve_start(r->s->e->res, r->c.host, r->c.port, r->c.family,
	    r->c.timeout_ms, req_resolved, r);
	if (r->rr == NULL)
		req_fail(
		    r, CP_E_INTERNAL, errno, "resolve: %s", strerror(errno));
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
	if (r->px != NULL)
		req_proxy_dst(r);
	else
		req_dial(r);
}

/* Stage: dial.  Every address is checked against the policy right before
 * it is connected: the address actually used is the one checked. */

/* The dialer keeps its own copy of the addresses. */
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
	/* The proxy is the administrator's choice, not the client's: the
	 * destination rules are for where the tunnel leads. */
	r->dial = dial_start(r->s->e->ev, &r->al, &dp,
	    r->px != NULL ? NULL : req_filter, req_dialed, r);
	if (r->dial == NULL)
		req_fail(r, CP_E_INTERNAL, errno, "dial: %s", strerror(errno));
}

static int
req_filter(void *arg, const struct sockaddr *sa, socklen_t len, char *why,
    size_t whysz)
{
	struct request *r = arg;
	struct policy_result pr;

	if (policy_check_addr(r->s->e->conf, &r->s->peer, r->c.host, sa,
	        r->c.port, r->c.tls, &pr) == -1 ||
	    pr.v != V_ALLOW) {
		snprintf(why, whysz, "%s", pr.why);
		return -1;
	}
	return 0;
}

static void
req_dialed(void *arg, int fd, const struct sockaddr *sa, socklen_t len,
    int eclass, int err, const char *errtext, uint32_t attempts)
{
	struct request *r = arg;

	r->dial = NULL;
	r->attempts += attempts;
	if (r->px != NULL) {
		if (fd == -1) {
			req_fail(r,
			    eclass == CP_E_TIMEDOUT ? CP_E_TIMEDOUT
			                            : CP_E_PROXY,
			    err, "proxy %s: %s", r->pxname, errtext);
			return;
		}
		r->fd = fd;
		req_proxy_start(r);
		return;
	}
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

/* Stage: proxy.  The destination's policy was checked on its name, or on
 * its addresses when the daemon knows them; the proxy's address is not
 * the client's choice and is not checked against the rules. */

/* The request's proxy, and the name policy that goes with it; -1 when
 * the request ended here. */
static int
req_proxy_choose(struct request *r, struct policy_result *pr)
{
	const struct cpconf *cf = r->s->e->conf;
	struct addr_list tmp;
	char err[256];
	int rv;

	if (policy_proxy(cf, r->c.host, r->c.port, &r->px, err, sizeof(err)) ==
	    -1) {
		req_fail(r, CP_E_DENIED, EACCES, "policy: %s", err);
		return -1;
	}
	/* A name the proxy resolves is judged by the name rules alone; an
	 * address, or localhost (answered here, RFC 6761), in full. */
	if (r->px != NULL && r->px->resolve == PROXY_REMOTE &&
	    resolve_literal(r->c.host, r->c.port, r->c.family, &tmp) == 0)
		rv = policy_check_remote_name(
		    cf, &r->s->peer, r->c.host, r->c.port, r->c.tls, pr);
	else
		rv = policy_check_name(
		    cf, &r->s->peer, r->c.host, r->c.port, r->c.tls, pr);
	if (rv == -1)
		pr->v = V_DENY;
	if (r->px != NULL)
		snprintf(r->pxname, sizeof(r->pxname), "%s%s%s:%u",
		    strchr(r->px->host, ':') ? "[" : "", r->px->host,
		    strchr(r->px->host, ':') ? "]" : "", r->px->port);
	return 0;
}

/* The destination's addresses in r->al: keep those the policy allows,
 * then find the proxy. */
static void
req_proxy_dst(struct request *r)
{
	char why[CP_MAX_ERRTEXT / 2] = "", first[sizeof(why)] = "";
	size_t i;

	memset(&r->dst, 0, sizeof(r->dst));
	for (i = 0; i < r->al.n; i++) {
		if (req_filter(r, (struct sockaddr *)&r->al.a[i], r->al.len[i],
		        why, sizeof(why)) == -1) {
			if (first[0] == '\0') /* as the dialer reports it */
				memcpy(first, why, sizeof(first));
			continue;
		}
		r->dst.a[r->dst.n] = r->al.a[i];
		r->dst.len[r->dst.n++] = r->al.len[i];
	}
	if (r->dst.n == 0) {
		req_fail(
		    r, CP_E_DENIED, EACCES, "no address allowed: %s", first);
		return;
	}
	r->dsti = 0;
	req_proxy_resolve(r);
}

static void
req_proxy_resolve(struct request *r)
{
	int lit;

	r->stage = ST_RESOLVE;
	memset(&r->al, 0, sizeof(r->al));
	lit = resolve_literal(r->px->host, r->px->port, CP_FAMILY_ANY, &r->al);
	if (lit == 1) {
		req_dial(r);
		return;
	}
	r->rr = resolve_start(r->s->e->res, r->px->host, r->px->port,
	    CP_FAMILY_ANY, r->c.timeout_ms, req_proxy_resolved, r);
	if (r->rr == NULL)
		req_fail(
		    r, CP_E_INTERNAL, errno, "resolve: %s", strerror(errno));
}

static void
req_proxy_resolved(void *arg, const struct addr_list *al, int eclass, int err,
    const char *errtext)
{
	struct request *r = arg;

	r->rr = NULL;
	if (eclass != CP_E_NONE) {
		req_fail(r,
		    eclass == CP_E_TIMEDOUT ? CP_E_TIMEDOUT : CP_E_PROXY, err,
		    "proxy %s: %s", r->pxname, errtext);
		return;
	}
	r->al = *al;
	req_dial(r);
}

/* What the proxy is asked for: the address when the daemon chose it,
 * else the name. */
static void
req_proxy_start(struct request *r)
{
	struct proxy_target t;
	char addr[INET6_ADDRSTRLEN];
	uint16_t port;

	memset(&r->peer, 0, sizeof(r->peer));
	r->peerlen = 0;
	memset(&t, 0, sizeof(t));
	t.kind = r->px->kind;
	t.name = r->pxname;
	t.host = r->c.host;
	t.port = r->c.port;
	t.cred = pcred_find(r->s->e->env->creds, r->px->cred_file);
	if (r->px->cred_file != NULL && t.cred == NULL) {
		req_fail(r, CP_E_INTERNAL, ENOKEY,
		    "proxy %s: credentials %s are not loaded", r->pxname,
		    r->px->cred_file);
		return;
	}
	if (r->dst.n > 0) {
		r->peer = r->dst.a[r->dsti];
		r->peerlen = r->dst.len[r->dsti];
		fmt_peer(r, addr, sizeof(addr), &port);
		t.host = addr;
	}
	r->stage = ST_PROXY;
	if ((r->tun = proxy_start(r->s->e->ev, r->fd, &t, req_proxied, r)) ==
	    NULL)
		req_fail(r, CP_E_INTERNAL, errno, "proxy %s: %s", r->pxname,
		    strerror(errno));
}

static void
req_proxied(void *arg, int eclass, int err, const char *errtext)
{
	struct request *r = arg;

	r->tun = NULL;
	if (eclass == CP_E_NONE) {
		if (r->c.tls)
			req_tls_step(r);
		else
			req_reply_tcp(r);
		return;
	}
	/* The proxy could not reach this address: the next one, if the
	 * daemon resolved the name, through a new tunnel. */
	if ((eclass == CP_E_REFUSED || eclass == CP_E_UNREACH ||
	        eclass == CP_E_TIMEDOUT) &&
	    r->dsti + 1 < r->dst.n) {
		log_debug("%s; trying the next address", errtext);
		close(r->fd);
		r->fd = -1;
		r->dsti++;
		req_dial(r);
		return;
	}
	req_fail(r, eclass, err, "%s", errtext);
}

/* Stage: TLS.  The handshake runs on the engine loop; the socket is handed
 * over with the record-layer state only when OpenSSL holds no unread byte. */

static void
req_tls_step(struct request *r)
{
	int rv;

	if (r->tls == NULL && req_tls_start(r) == -1)
		return; /* failed and freed */
	rv = tlsc_handshake(r->tls);
	if (rv == 0) {
		/* The socket joins the loop only once the handshake has to
		 * wait: the dialer hands it over connected and writable. */
		uint32_t want = (uint32_t)tlsc_events(r->tls);

		if ((r->io.active ? ev_io_set(r->s->e->ev, &r->io, want)
		                  : ev_io_start(r->s->e->ev, &r->io, r->fd,
		                        want, req_tls_io, r)) == -1)
			req_fail(r, CP_E_INTERNAL, errno, "epoll: %s",
			    strerror(errno));
		return;
	}
	if (rv == 1) {
		if (!req_end_if_handshake_denied(r))
			req_reply_tls(r);
		return;
	}
	if (tlsc_failed_verify(r->tls))
		req_fail(r, CP_E_VERIFY, EPROTO, "%s", tlsc_error(r->tls));
	else if (tlsc_sys_errno(r->tls) != 0)
		req_fail(r, CP_E_TLS, tlsc_sys_errno(r->tls), "%s",
		    tlsc_error(r->tls));
	else
		req_fail(r, CP_E_TLS, EPROTO, "%s", tlsc_error(r->tls));
}

static void
req_tls_io(struct ev_io *io, uint32_t revents)
{
	req_tls_step(io->arg);
}

/* 0, or -1 when the request ended (failed and freed). */
static int
req_tls_start(struct request *r)
{
	const struct tls_policy *tp;
	const struct dest_tls *dt;
	struct tls_params p;
	char err[256];
	int64_t left;

	if ((tp = req_tls_policy(r)) == NULL)
		return -1;
	/* The program's own socket: the port it really reaches. */
	policy_tls_fold_addr(&r->rt.pol, (const struct sockaddr *)&r->peer,
	    r->upgrade ? peer_port(r) : r->c.port);
	dt = &tp->t;
	memset(&p, 0, sizeof(p));
	p.host = r->c.host;
	p.sni = r->c.sni[0] ? r->c.sni : NULL;
	p.alpn = r->c.alpnlen ? r->c.alpn : NULL;
	p.alpnlen = r->c.alpnlen;
	/* "verify required": the client's SSL_VERIFY_NONE is not honoured. */
	p.verify_peer =
	    r->c.verify == CP_VERIFY_PEER || dt->verify == TLSV_REQUIRED;
	p.cn_fallback = dt->cn_fallback;
	p.min_version = dt->min_version;
	p.anchors = r->anchors;
	p.anchors_hash = r->anchors != NULL ? r->c.ca_hash : NULL;
	p.ocsp = (int)dt->ocsp;
	if (req_tls_crls(r, &p) == -1)
		return -1;
	/* A client certificate: its key stays in the parent, which signs
	 * for us (keyring.h). */
	if (dt->cert_file != NULL) {
		const struct client_cred *cc = keyring_find(
		    r->s->e->env->keys, dt->cert_file, dt->key_file);

		if (cc == NULL) {
			req_fail(r, CP_E_TLS, ENOKEY,
			    "client certificate %s "
			    "for %s is not loaded",
			    dt->cert_file, r->c.host);
			return -1;
		}
		p.cert = cc->cert;
		p.chain = cc->chain;
		p.key = cc->key;
	}
	req_resume_lookup(r, &p);
	p.session = r->rq.sess;
	r->stage = ST_TLS;
	/* The handshake has its own bound inside the request's. */
	left = (int64_t)r->c.timeout_ms - (int64_t)(ev_clock_ms() - r->start);
	if (left > r->handshake_ms &&
	    ev_timer_start(r->s->e->ev, &r->deadline, r->handshake_ms) == -1) {
		req_fail(r, CP_E_INTERNAL, errno, "timer: %s", strerror(errno));
		return -1;
	}
	if ((r->tls = tlsc_new(
	         r->s->e->env->ssl, r->fd, &p, err, sizeof(err))) == NULL) {
		req_fail(r, CP_E_TLS, EPROTO, "%s", err);
		return -1;
	}
	return 0;
}

/* One crl-file's CRLs join the request's (struct crl_join). */
struct crl_join {
	const struct trust *trust;
	STACK_OF(X509_CRL) *one; /* the only set so far, borrowed */
	STACK_OF(X509_CRL) *all; /* two sets or more: owned, of borrowed CRLs */
	const char *missing;
};

static int
crl_join(void *arg, const char *path, const char *file, int line)
{
	struct crl_join *j = arg;
	STACK_OF(X509_CRL) *sk = trust_crls(j->trust, path);
	int i;

	(void)file;
	(void)line;
	if (sk == NULL) {
		j->missing = path;
		return 1;
	}
	if (j->one == NULL) {
		j->one = sk;
		return 0;
	}
	if (j->all == NULL && (j->all = sk_X509_CRL_dup(j->one)) == NULL)
		return -1;
	for (i = 0; i < sk_X509_CRL_num(sk); i++)
		if (!sk_X509_CRL_push(j->all, sk_X509_CRL_value(sk, i)))
			return -1;
	return 0;
}

/* The CRLs of every crl-file that applies (policy.h): all of them are
 * checked.  They come from the parent (trust.h) and live as long as the
 * engine; a union of several sets is the request's own. */
static int
req_tls_crls(struct request *r, struct tls_params *p)
{
	const struct tls_policy *tp = &r->rt.pol;
	struct crl_join j = {.trust = r->s->e->env->trust};
	int rv;

	if (tp->ncrlsets == 0)
		return 0;
	rv = policy_crl_each(tp, crl_join, &j);
	if (rv != 0) {
		sk_X509_CRL_free(j.all);
		req_fail(r, CP_E_INTERNAL, rv == 1 ? ENOENT : ENOMEM,
		    "crl-file %s is not loaded", j.missing ? j.missing : "?");
		return -1;
	}
	r->crls = j.all;
	p->crls = j.all != NULL ? j.all : j.one;
	p->crl_all = tp->t.crl_all;
	return 0;
}
/* A session to offer, from the cache, for exactly this request's
 * destination, names, anchors, client certificate and policy. */
static void
req_resume_lookup(struct request *r, const struct tls_params *p)
{
	struct resume_in in;

	memset(&in, 0, sizeof(in));
	in.uid = (uint32_t)r->s->peer.uid;
	in.host = r->c.host;
	in.port = r->c.port;
	in.sni = r->c.sni;
	in.alpn = r->c.alpn;
	in.alpnlen = r->c.alpnlen;
	in.ca_hash = r->c.has_ca_hash ? r->c.ca_hash : NULL;
	in.client_cert = p->cert;
	in.tp = &r->rt.pol;
	in.verify_peer = p->verify_peer;
	resume_lookup(r->s->e, &in, &r->rq);
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

/* Policy on the finished handshake: minimum version and SPKI pins.  1
 * when the request ended here, refused: the connection is closed without
 * a byte of application data. */
static int
req_end_if_handshake_denied(struct request *r)
{
	const struct tls_policy *tp = req_tls_policy(r);
	struct spki_list l;

	if (tp == NULL)
		return 1;
	if (tlsc_version(r->tls) < tp->t.min_version) {
		req_fail(r, CP_E_DENIED, EACCES,
		    "policy: TLS version below "
		    "the minimum for %s",
		    r->c.host);
		return 1;
	}
	if (tp->npinsets > 0) {
		const uint8_t(*d)[32] = (const uint8_t(*)[32])l.d;

		l.n = 0;
		/* A resumed handshake shows no chain: the one verified when
		 * the session was made is checked again. */
		if (tlsc_resumed(r->tls))
			l.n = resume_spki(&r->rq, &d);
		else
			tlsc_spki_each(r->tls, spki_add, &l);
		if (!policy_pins_ok(tp, d, l.n)) {
			r->rt.pin_mismatch = l.n > 0;
			req_fail(r, CP_E_VERIFY, EPROTO,
			    "certificate verify failed: no certificate of "
			    "the chain matches a pinned key for %s",
			    r->c.host);
			return 1;
		}
	}
	return 0;
}

/* Stage: reply.  Hand-off descriptors are blocking, as a program's own
 * connect()ed socket would be; the file status flags travel with them. */

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

/*
 * Hand-off descriptors are blocking, as a program's own connect()ed
 * socket would be; the file status flags travel with the descriptor.
 * The dialer made it with SOCK_NONBLOCK and no other status flag, so one
 * F_SETFL clears it without asking first.  TCP_NODELAY too, as curl and
 * most clients set it: a small request right after the TLS handshake
 * would otherwise wait for the delayed ACK (~40 ms); cp_client_set_nodelay
 * turns it off in the program.
 */
static void
fd_blocking(int fd)
{
	static const int one = 1;

	if (fcntl(fd, F_SETFL, 0) == -1)
		log_warn("F_SETFL");
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1)
		log_warn("TCP_NODELAY");
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
	res.verify_result = (uint32_t)tlsc_verify_result(r->tls);
	res.no_peer_cert = (uint8_t)tlsc_no_peer_cert(r->tls);
	res.tls_version = (uint16_t)tlsc_version(r->tls);
	snprintf(res.cipher, sizeof(res.cipher), "%s", tlsc_cipher(r->tls));
	alpn = tlsc_alpn(r->tls, &alpnlen);
	if (alpn != NULL && alpnlen < sizeof(res.alpn)) {
		memcpy(res.alpn, alpn, alpnlen);
		res.alpn[alpnlen] = '\0';
	}
	res.resumed = (uint8_t)tlsc_resumed(r->tls);
	/* A resumed session rests on the staple its first handshake had. */
	res.ocsp = res.resumed && r->rq.offered ? r->rq.m.ocsp
	                                        : (uint8_t)tlsc_ocsp(r->tls);
	if (send_chain(r) == -1) {
		req_fail(r, CP_E_TLS, EPROTO, "peer chain: %s",
		    tlsc_error(r->tls));
		return;
	}
	if (send_state(r, &res, err, sizeof(err)) == -1) {
		req_fail(r, CP_E_TLS, EPROTO, "hand-off refused: %s", err);
		return;
	}
	ev_io_stop(r->s->e->ev, &r->io);
	fd = r->fd;
	r->fd = -1;
	fd_blocking(fd);
	req_finish(r, &res, fd);
}

static int
send_cert(void *arg, const unsigned char *der, size_t len)
{
	struct request *r = arg;
	struct abuf b;
	int rv;

	abuf_init(&b);
	cp_cert_encode(&b, der, len);
	rv = send_msg(r->s, CP_MSG_PEER_CERT, r->id, -1, &b);
	abuf_free(&b);
	return rv;
}

/* The chain, leaf first.  A resumed handshake has only the leaf: the
 * rest comes from what the session was kept with (resume.h). */
static int
send_chain(struct request *r)
{
	unsigned char **der;
	size_t *lens;
	int i, n, rv = 0;

	if (tlsc_chain(r->tls, &der, &lens, &n) == -1)
		return -1;
	for (i = 0; i < n && rv == 0; i++)
		rv = send_cert(r, der[i], lens[i]);
	tls_chain_free(der, lens, n);
	if (rv == 0 && n == 1 && tlsc_resumed(r->tls))
		rv = resume_chain_each(&r->rq, send_cert, r);
	return rv;
}

static int
send_state(struct request *r, struct cp_result *res, char *err, size_t errsz)
{
	struct cp_tls_state ts;
	char label[SC_LABEL];
	struct abuf b;
	int rv;

	if (tlsc_export(r->tls, &ts, err, errsz) == -1)
		return -1;
	/* Before the secrets are wiped: a TLS 1.3 ticket wait needs the
	 * server's key. */
	snprintf(label, sizeof(label), "%s port %u%s%s", r->c.host,
	    (unsigned)r->c.port, r->c.sni[0] ? " server name " : "", r->c.sni);
	if (resume_handshake_done(r->s->e, &r->rq, r->tls, &ts, label,
	        (uint32_t)r->s->peer.uid, res->cookie))
		res->has_cookie = 1;
	abuf_init(&b);
	cp_tls_state_encode(&b, &ts);
	cp_tls_state_wipe(&ts);
	rv = send_msg(r->s, CP_MSG_TLS_STATE, r->id, -1, &b);
	abuf_free(&b); /* wipes */
	if (rv == -1)
		snprintf(err, errsz, "tls state: %s", strerror(errno));
	return rv;
}

/* The end of every request: exactly one RESULT, and the audit line. */

static void
req_finish(struct request *r, struct cp_result *res, int fd)
{
	struct session *s = r->s;

	res->attempts = r->attempts;
	res->elapsed_ms = (uint32_t)(ev_clock_ms() - r->start);
	if (r->px != NULL)
		snprintf(res->proxy, sizeof(res->proxy), "%s://%s",
		    r->px->kind == PROXY_HTTP ? "http" : "socks5", r->pxname);
	fmt_peer(r, res->peer_addr, sizeof(res->peer_addr), &res->peer_port);
	s->e->st.served++;
	if (res->status != CP_STATUS_OK)
		s->e->st.failed++;
	ctl_stats_count(&s->e->st,
	    res->status == CP_STATUS_OK ? CP_E_NONE : res->eclass, r->c.tls,
	    res->status == CP_STATUS_OK && r->c.tls, (uint32_t)s->peer.uid,
	    res->elapsed_ms);
	req_unlink(r);
	send_result(s, r->id, res, fd);
	/* The client is on its way: the line and the frees cost it nothing
	 * now. */
	audit_request(r, res);
	req_free(r);
	resume_reap(s->e);
}

static void
req_fail(struct request *r, int eclass, int err, const char *fmt, ...)
{
	struct cp_result res;
	va_list ap;

	va_start(ap, fmt);
	error_result(&res, eclass, err, fmt, ap);
	va_end(ap);
	if (r->tls != NULL) {
		res.verify_result = (uint32_t)tlsc_verify_result(r->tls);
		res.ocsp = (uint8_t)tlsc_ocsp(r->tls);
	}
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
	    [ST_PROXY] = "proxy",
	};

	if (r->stage == ST_PROXY) {
		req_fail(r, CP_E_TIMEDOUT, ETIMEDOUT,
		    "proxy %s did not answer within %u ms", r->pxname,
		    (unsigned)(ev_clock_ms() - r->start));
		return;
	}
	if (r->px != NULL && r->stage == ST_DIAL) {
		req_fail(r, CP_E_TIMEDOUT, ETIMEDOUT,
		    "proxy %s: connect timed out after %u ms", r->pxname,
		    (unsigned)(ev_clock_ms() - r->start));
		return;
	}
	req_fail(r, CP_E_TIMEDOUT, ETIMEDOUT, "%s timed out after %u ms",
	    what[r->stage], (unsigned)(ev_clock_ms() - r->start));
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

/* Life cycle. */

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
	LIST_INSERT_HEAD(&s->reqs, r, entry);
	s->nreqs++;
	s->e->st.inflight++;
	engine_note_peak(s->e);
	ev_timer_init(&r->deadline, req_timeout, r);
	return r;
}

static void
apply_bounds(const struct cpconf *cf, struct cp_connect *c)
{
	if (c->retries > cf->g.retry_max)
		c->retries = cf->g.retry_max;
	if (c->retry_delay_ms < cf->g.retry_delay_ms)
		c->retry_delay_ms = cf->g.retry_delay_ms;
	if (c->connect_timeout_ms == 0 ||
	    c->connect_timeout_ms > cf->g.connect_ms)
		c->connect_timeout_ms = cf->g.connect_ms;
	if (c->timeout_ms == 0 || c->timeout_ms > cf->g.request_ms)
		c->timeout_ms = cf->g.request_ms;
}

void
req_unlink(struct request *r)
{
	struct session *s = r->s;

	LIST_REMOVE(r, entry);
	s->nreqs--;
	s->e->st.inflight--;
	uid_release(s->e, s->peer.uid);
}

void
req_free(struct request *r)
{
	struct ev *ev = r->s->e->ev;

	ev_timer_stop(ev, &r->deadline);
	if (r->rr != NULL)
		resolve_cancel(r->rr);
	if (r->dial != NULL)
		dial_cancel(r->dial);
	if (r->tun != NULL)
		proxy_cancel(r->tun);
	ev_io_stop(ev, &r->io);
	if (r->tls != NULL)
		tlsc_free(r->tls);
	if (r->anchors != NULL)
		X509_STORE_free(r->anchors);
	sk_X509_CRL_free(r->crls);
	resume_req_clear(&r->rq);
	if (r->fd != -1)
		close(r->fd);
	explicit_bzero(&r->c, sizeof(r->c));
	free(r);
}
