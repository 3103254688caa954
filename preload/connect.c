/* SPDX-License-Identifier: ISC */
/*
 * libcpconnect-preload: connect(2) on TCP sockets, through cpconnectd.
 *
 * The daemon connects (a "tcp" request, judged by its policy for the
 * program's uid) and passes the connected socket; it then takes the
 * program's descriptor number with dup3(), with the program's flags and
 * options carried over.  UDP, raw and other IP sockets are refused:
 * only TCP goes through the daemon, and nothing goes around it.
 *
 * Non-blocking sockets: the request is made inside connect(), and connect
 * returns EINPROGRESS with the descriptor already connected, so that poll
 * reports it writable and SO_ERROR is 0 at once.  Completing it later in
 * the background cannot work: epoll and a poll() in progress watch the
 * open file, not the number, and would never see the new socket.
 * Failures are returned at once (ECONNREFUSED...), as connect(2) may.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cpproto.h"
#include "msg.h"
#include "phtable.h"
#include "pl.h"
#include "session.h"
#include "sockstate.h"

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

enum { K_PASS, K_ROUTE, K_REFUSE, K_CONNECTED };

struct dest {
	char host[CP_MAX_HOST + 1];  /* what the daemon is asked for */
	char addr[INET6_ADDRSTRLEN]; /* what the program gave */
	uint16_t port;
	uint8_t family; /* CP_FAMILY_* */
	int named;      /* host is the name behind a placeholder */
};

static int
sockopt_int(int fd, int name, int *v)
{
	socklen_t len = sizeof(*v);

	return getsockopt(fd, SOL_SOCKET, name, v, &len);
}

/*
 * What to do with a connect (or a send with an address) on fd: pass it to
 * libc (not IP, not ours to judge: the kernel answers), route it (an
 * unconnected TCP socket), refuse it (UDP, raw, SCTP...), or say it is
 * connected already.
 */
static int
classify(int fd, const struct sockaddr *sa, socklen_t len, int *type)
{
	int dom, proto, listening;
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);

	*type = 0;
	if (sa == NULL || len < sizeof(sa_family_t) ||
	    (sa->sa_family == AF_INET && len < sizeof(struct sockaddr_in)) ||
	    (sa->sa_family == AF_INET6 && len < 24) || /* SIN6_LEN_RFC2133 */
	    (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return K_PASS;
	if (sockopt_int(fd, SO_DOMAIN, &dom) == -1 || dom != sa->sa_family ||
	    sockopt_int(fd, SO_TYPE, type) == -1)
		return K_PASS;
	if (*type != SOCK_STREAM)
		return K_REFUSE;
	if (sockopt_int(fd, SO_PROTOCOL, &proto) == -1)
		return K_PASS;
	if (proto != IPPROTO_TCP && proto != IPPROTO_MPTCP)
		return K_REFUSE;
	/* Listening: the kernel refuses. */
	if (sockopt_int(fd, SO_ACCEPTCONN, &listening) == 0 && listening)
		return K_PASS;
	/* Connected, by us: the kernel would say 0 once for a socket the
	 * daemon connected without blocking, then EISCONN.  EISCONN from the
	 * start is what a blocking connect of the program's own gives. */
	if (getpeername(fd, (struct sockaddr *)&peer, &plen) == 0)
		return K_CONNECTED;
	return K_ROUTE;
}

static const char *
type_str(int type)
{
	return type == SOCK_DGRAM    ? "udp"
	       : type == SOCK_RAW    ? "raw"
	       : type == SOCK_STREAM ? "stream"
	                             : "non-TCP";
}

static void
addr_str(const struct sockaddr *sa, char *buf, size_t sz, unsigned *port)
{
	const void *a;

	if (sa->sa_family == AF_INET) {
		a = &((const struct sockaddr_in *)sa)->sin_addr;
		*port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
	} else {
		a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		*port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	}
	if (inet_ntop(sa->sa_family, a, buf, (socklen_t)sz) == NULL)
		snprintf(buf, sz, "?");
}

static int
refuse(const struct sockaddr *sa, int type, const char *call)
{
	char a[INET6_ADDRSTRLEN];
	unsigned port;

	addr_str(sa, a, sizeof(a), &port);
	pl_vlog("%s: %s %s port %u refused: only TCP connections go through "
	        "cpconnectd",
	    call, type_str(type), a, port);
	errno = EPERM;
	return -1;
}

/* The name behind a placeholder, or -1 (logged: it is our limit, not a
 * failure of the destination). */
static int
dest_name(uint32_t code, struct dest *d)
{
	if (ph_name(code, d->host, sizeof(d->host)) == 0) {
		d->named = 1;
		return 0;
	}
	pl_log("%s is a placeholder address this process did not hand out "
	       "(or no longer knows): names are known only in the process "
	       "that resolved them and its forks",
	    d->addr);
	errno = EHOSTUNREACH;
	return -1;
}

static int
dest_of(const struct sockaddr *sa, struct dest *d)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	struct in_addr v4;
	uint32_t code;
	unsigned port;
	int ph;

	memset(d, 0, sizeof(*d));
	addr_str(sa, d->addr, sizeof(d->addr), &port);
	d->port = (uint16_t)port;
	if (sa->sa_family == AF_INET) {
		d->family = CP_FAMILY_INET4;
		if (ph_is4(&((const struct sockaddr_in *)sa)->sin_addr, &code))
			return dest_name(code, d);
	} else if ((ph = ph_is6(&s6->sin6_addr, &code)) != 0) {
		/* A mapped IPv4 placeholder: the name over IPv4. */
		d->family = ph == 2 ? CP_FAMILY_INET4 : CP_FAMILY_INET6;
		return dest_name(code, d);
	} else if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		d->family = CP_FAMILY_INET4;
		memcpy(&v4, &s6->sin6_addr.s6_addr[12], sizeof(v4));
		inet_ntop(AF_INET, &v4, d->host, sizeof(d->host));
		return 0;
	} else
		d->family = CP_FAMILY_INET6;
	snprintf(d->host, sizeof(d->host), "%s", d->addr);
	return 0;
}

/*
 * The request for d.  Its budget (budget.h), and so the wait, is the
 * per-attempt timeout when there is a limit, else the daemon's
 * request-timeout; either way the daemon answers by then.  Signals do not
 * cut the wait short: lib/stop.c's flag is never set here.
 */
static void
request_of(
    const struct dest *d, const struct sockstate *ss, struct cp_connect *req)
{
	long limit = pl_conf()->timeout_ms;

	/* Linux bounds a blocking connect by SO_SNDTIMEO: so do we. */
	if (!(ss->fl & O_NONBLOCK) && ss->sndtimeo_ms > 0 &&
	    (limit == 0 || ss->sndtimeo_ms < limit))
		limit = ss->sndtimeo_ms;
	if (limit > 3600 * 1000)
		limit = 3600 * 1000;
	memset(req, 0, sizeof(*req));
	snprintf(req->host, sizeof(req->host), "%s", d->host);
	req->port = d->port;
	req->verify = CP_VERIFY_PEER;
	req->family = d->family;
	/* One connect(2) is one attempt: the program retries if it wants. */
	req->retries = 0;
	req->connect_timeout_ms = (uint32_t)limit;
}

static void
say_unreachable(const char *err)
{
	static int said;

	/* A set-up problem, not the destination's: said once, verbose or
	 * not. */
	if (!__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
		pl_log("%s", err);
}

/* Ask the daemon.  0 with *nfd the connected socket, or -1 with errno. */
static int
ask(const struct dest *d, const struct sockstate *ss, int *nfd,
    struct cp_result *res)
{
	struct cp_connect req;
	struct dreply rep;
	struct dreq *q;
	char err[CP_MAX_ERRTEXT + 128];
	int rv, e;

	request_of(d, ss, &req);
	memset(&rep, 0, sizeof(rep));
	rep.fd = -1;
	if ((q = dreq_start(pl_conf()->sock, &req, NULL, err, sizeof(err))) ==
	    NULL)
		rv = -1;
	else
		rv = dreq_wait(q, &rep, err, sizeof(err));
	e = errno;
	dreq_free(q);
	/* No session is kept open in the program between connects: it
	 * would be a descriptor the program does not know about. */
	dsession_pool_clear();
	if (rv == -1) {
		if (e == ECONNREFUSED)
			say_unreachable(err);
		else
			pl_vlog("tcp %s port %u: %s", d->host, d->port, err);
		errno = e;
		return -1;
	}
	*res = rep.res;
	if (rep.res.status != CP_STATUS_OK) {
		dreply_clear(&rep);
		errno = cp_result_errno(res);
		return -1;
	}
	*nfd = rep.fd;
	rep.fd = -1;
	dreply_clear(&rep);
	return 0;
}

static void
log_result(const struct dest *d, const struct cp_result *r)
{
	char ph[sizeof(d->addr) + 16] = "";

	if (!pl_conf()->verbose)
		return;
	if (d->named)
		snprintf(ph, sizeof(ph), " (placeholder %s)", d->addr);
	if (r->status == CP_STATUS_OK)
		pl_vlog("tcp %s port %u%s -> %s port %u: ok, %u ms", d->host,
		    d->port, ph, r->peer_addr, r->peer_port, r->elapsed_ms);
	else
		pl_vlog("tcp %s port %u%s: %s%s%s", d->host, d->port, ph,
		    cp_eclass_str(r->eclass), r->errtext[0] ? ": " : "",
		    r->errtext);
}

/* Put the daemon's socket nfd in the place of fd. */
static int
take_over(int fd, int nfd, const struct sockstate *ss, const struct dest *d)
{
	char what[256];
	int e;

	if (ss_apply(nfd, ss, what, sizeof(what)) == -1 ||
	    dup3(nfd, fd, ss->cloexec ? O_CLOEXEC : 0) == -1) {
		e = errno;
		pl_log("tcp %s port %u: connected, but could not take the "
		       "connection over: %s",
		    d->host, d->port, strerror(e));
		close(nfd);
		errno = e;
		return -1;
	}
	close(nfd);
	if (what[0] != '\0')
		pl_vlog("tcp %s port %u: options not carried over: %s", d->host,
		    d->port, what);
	return 0;
}

int
pl_route(int fd, const struct sockaddr *sa, socklen_t len)
{
	struct sockstate ss;
	struct cp_result res;
	struct dest d;
	int nfd;

	if (dest_of(sa, &d) == -1)
		return -1;
	if (d.port == 0) {
		/* The daemon takes ports 1..65535; the kernel refuses 0. */
		errno = ECONNREFUSED;
		return -1;
	}
	if (ss_save(fd, sa->sa_family, &ss) == -1)
		return -1;
	memset(&res, 0, sizeof(res));
	if (ask(&d, &ss, &nfd, &res) == -1) {
		if (res.eclass != CP_E_NONE)
			log_result(&d, &res);
		return -1;
	}
	log_result(&d, &res);
	if (take_over(fd, nfd, &ss, &d) == -1)
		return -1;
	if (ss.fl & O_NONBLOCK) {
		/* As the kernel says it: in progress; it is already done. */
		errno = EINPROGRESS;
		return -1;
	}
	return 0;
}

/* The interposed functions. */

int
connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	int type;

	switch (classify(fd, sa, len, &type)) {
	case K_ROUTE:
		return pl_route(fd, sa, len);
	case K_REFUSE:
		return refuse(sa, type, "connect");
	case K_CONNECTED:
		errno = EISCONN;
		return -1;
	default:
		return pl_real()->connect(fd, sa, len);
	}
}

/* Raw IP and packet sockets would go around the daemon. */
int
socket(int domain, int type, int protocol)
{
	int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (domain == AF_PACKET ||
	    (base == SOCK_RAW && (domain == AF_INET || domain == AF_INET6))) {
		pl_vlog("socket: %s socket refused: only TCP connections go "
		        "through cpconnectd",
		    domain == AF_PACKET ? "packet" : "raw IP");
		errno = EPERM;
		return -1;
	}
	return pl_real()->socket(domain, type, protocol);
}

/* TCP Fast Open (a send with MSG_FASTOPEN and an address) connects
 * through the daemon first, then sends; UDP with an address is refused. */
ssize_t
sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa,
    socklen_t len)
{
	int type;

	switch (sa != NULL ? classify(fd, sa, len, &type) : K_PASS) {
	case K_REFUSE:
		return refuse(sa, type, "sendto");
	case K_ROUTE:
		if (!(flags & MSG_FASTOPEN))
			break;
		if (pl_route(fd, sa, len) == -1 && errno != EINPROGRESS)
			return -1;
		return pl_real()->sendto(
		    fd, buf, n, flags & ~MSG_FASTOPEN, NULL, 0);
	default:
		break;
	}
	return pl_real()->sendto(fd, buf, n, flags, sa, len);
}

ssize_t
sendmsg(int fd, const struct msghdr *msg, int flags)
{
	const struct sockaddr *sa = msg != NULL ? msg->msg_name : NULL;
	struct msghdr m;
	int type;

	switch (
	    sa != NULL ? classify(fd, sa, msg->msg_namelen, &type) : K_PASS) {
	case K_REFUSE:
		return refuse(sa, type, "sendmsg");
	case K_ROUTE:
		if (!(flags & MSG_FASTOPEN))
			break;
		if (pl_route(fd, sa, msg->msg_namelen) == -1 &&
		    errno != EINPROGRESS)
			return -1;
		m = *msg;
		m.msg_name = NULL;
		m.msg_namelen = 0;
		return pl_real()->sendmsg(fd, &m, flags & ~MSG_FASTOPEN);
	default:
		break;
	}
	return pl_real()->sendmsg(fd, msg, flags);
}

int
sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags)
{
	unsigned int i;
	int type;

	for (i = 0; v != NULL && i < n; i++) {
		const struct msghdr *m = &v[i].msg_hdr;

		if (m->msg_name != NULL &&
		    classify(fd, m->msg_name, m->msg_namelen, &type) ==
		        K_REFUSE)
			return refuse(m->msg_name, type, "sendmmsg");
	}
	return pl_real()->sendmmsg(fd, v, n, flags);
}
