/* SPDX-License-Identifier: ISC */
/*
 * c-ares on the ev loop.
 *
 * One channel per request.  ares_cancel() and ares_destroy() act on every
 * query of a channel, so a shared channel could not time out or cancel one
 * request alone; with a channel each, a request owns its sockets and
 * timers, and a slow or lost answer only ever holds up its own request.
 * Channels are made from options saved once from a template channel, so
 * resolv.conf is parsed once per resolver, not once per request.
 *
 * A and AAAA are separate ares_getaddrinfo() calls on that channel: when
 * the request's deadline comes with one family answered, the request
 * succeeds with that family instead of failing whole.
 */
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ares.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cpproto.h"
#include "ev.h"
#include "hostname.h"
#include "resolve.h"

#define RS_TRIES 3
#define RS_TRY_MIN_MS 100
#define RS_TRY_MAX_MS 2000
#define RS_MAX_NODES 1024 /* answers looked at per family */

struct rsock {
	struct ev_io io;
	struct resolve_req *rq;
	LIST_ENTRY(rsock) entry;
};

/* What one family's query brought back. */
struct rfam {
	int status; /* ARES_*; meaningful once done */
	int done;
	size_t n;
	struct sockaddr_storage a[CP_MAX_ADDRS];
	socklen_t len[CP_MAX_ADDRS];
};

struct resolve_req {
	struct resolver *r;
	TAILQ_ENTRY(resolve_req) entry;
	ares_channel ch;
	LIST_HEAD(, rsock) socks;
	struct ev_timer ares_t;   /* c-ares' own retransmission timer */
	struct ev_timer deadline; /* the request's timeout */
	struct ev_timer deliver;  /* runs the callback outside c-ares */
	struct rfam f6, f4;
	int nfam; /* queries asked: 1 or 2 */
	int literal;
	struct addr_list lit;
	uint16_t port;
	uint32_t timeout_ms;
	resolve_cb *cb;
	void *arg;
};

struct resolver {
	struct ev *ev;
	struct ares_options opts;
	int optmask;
	struct ares_addr_port_node *servers; /* NULL: keep the saved ones */
	TAILQ_HEAD(, resolve_req) reqs;
};

static int lib_users;

static void req_finish(struct resolve_req *);
static void req_arm_ares_timer(struct resolve_req *);

static int
lib_ref(void)
{
	if (lib_users == 0 && ares_library_init(ARES_LIB_INIT_ALL) != 0)
		return -1;
	lib_users++;
	return 0;
}

static void
lib_unref(void)
{
	if (--lib_users == 0)
		ares_library_cleanup();
}

/* Template: the configuration every request's channel starts from. */
static int
template_load(struct resolver *r, const char *servers, char *err, size_t errsz)
{
	struct ares_options o;
	ares_channel ch;
	int rc, mask = 0;

	memset(&o, 0, sizeof(o));
	if (servers != NULL)
		mask |= ARES_OPT_DOMAINS; /* ndomains 0: names are absolute */
	if ((rc = ares_init_options(&ch, &o, mask)) != ARES_SUCCESS) {
		snprintf(err, errsz, "resolver: %s", ares_strerror(rc));
		return -1;
	}
	if (servers != NULL &&
	    ((rc = ares_set_servers_ports_csv(ch, servers)) != ARES_SUCCESS ||
	        (rc = ares_get_servers_ports(ch, &r->servers)) !=
	            ARES_SUCCESS)) {
		snprintf(err, errsz, "resolver servers \"%.64s\": %s", servers,
		    ares_strerror(rc));
		ares_destroy(ch);
		return -1;
	}
	rc = ares_save_options(ch, &r->opts, &r->optmask);
	ares_destroy(ch);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errsz, "resolver: %s", ares_strerror(rc));
		ares_destroy_options(&r->opts);
		return -1;
	}
	return 0;
}

struct resolver *
resolver_new(struct ev *ev, const char *servers, char *err, size_t errsz)
{
	struct resolver *r;

	if (servers != NULL && *servers == '\0') {
		snprintf(err, errsz, "resolver: empty server list");
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL || lib_ref() == -1) {
		snprintf(err, errsz, "resolver: out of memory");
		free(r);
		return NULL;
	}
	r->ev = ev;
	TAILQ_INIT(&r->reqs);
	if (template_load(r, servers, err, errsz) == -1) {
		if (r->servers != NULL)
			ares_free_data(r->servers);
		lib_unref();
		free(r);
		return NULL;
	}
	return r;
}

void
resolver_free(struct resolver *r)
{
	struct resolve_req *rq;

	if (r == NULL)
		return;
	while ((rq = TAILQ_FIRST(&r->reqs)) != NULL)
		resolve_cancel(rq);
	ares_destroy_options(&r->opts);
	if (r->servers != NULL)
		ares_free_data(r->servers);
	free(r);
	lib_unref();
}

/* Literals. */

static int
family_ok(int family, int af)
{
	if (family == CP_FAMILY_INET4)
		return af == AF_INET;
	if (family == CP_FAMILY_INET6)
		return af == AF_INET6;
	return 1;
}

static int
parse_scope(const char *s, uint32_t *scope)
{
	char *end;
	unsigned long v;

	if (*s == '\0' || strlen(s) >= IF_NAMESIZE)
		return -1;
	if (*s >= '0' && *s <= '9') {
		errno = 0;
		v = strtoul(s, &end, 10);
		if (errno != 0 || *end != '\0' || v > UINT32_MAX)
			return -1;
		*scope = (uint32_t)v;
		return 0;
	}
	return (*scope = if_nametoindex(s)) == 0 ? -1 : 0;
}

/* host as IPv6, possibly "[addr]" and "%scope"; 1 yes, 0 no. */
static int
literal6(const char *host, uint16_t port, struct sockaddr_in6 *sin6)
{
	char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 4], *pct;
	size_t len = strlen(host);

	if (len >= sizeof(buf))
		return 0;
	if (host[0] == '[') {
		if (len < 3 || host[len - 1] != ']')
			return 0;
		memcpy(buf, host + 1, len - 2);
		buf[len - 2] = '\0';
	} else
		memcpy(buf, host, len + 1);
	memset(sin6, 0, sizeof(*sin6));
	if ((pct = strchr(buf, '%')) != NULL) {
		*pct++ = '\0';
		if (parse_scope(pct, &sin6->sin6_scope_id) == -1)
			return 0;
	}
	if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) != 1)
		return 0;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	return 1;
}

/*
 * RFC 6761 6.3: "localhost" and names below it are loopback, answered
 * here and never sent to a resolver.  (c-ares 1.18.1 also leaks the name
 * on each of its own localhost answers; valgrind, cf. c-ares issue 439.)
 */
static int
localhost_name(const char *h)
{
	size_t n = strlen(h), k = sizeof("localhost") - 1;

	if (n > 0 && h[n - 1] == '.')
		n--;
	return n >= k && strncasecmp(h + n - k, "localhost", k) == 0 &&
	    (n == k || h[n - k - 1] == '.');
}

/* ::1 then 127.0.0.1, as Happy Eyeballs orders them. */
static int
localhost_addrs(uint16_t port, int family, struct addr_list *out)
{
	struct sockaddr_in6 sin6;
	struct sockaddr_in sin;

	if (family_ok(family, AF_INET6)) {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_addr = in6addr_loopback;
		sin6.sin6_port = htons(port);
		memcpy(&out->a[out->n], &sin6, sizeof(sin6));
		out->len[out->n++] = sizeof(sin6);
	}
	if (family_ok(family, AF_INET)) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin.sin_port = htons(port);
		memcpy(&out->a[out->n], &sin, sizeof(sin));
		out->len[out->n++] = sizeof(sin);
	}
	return 1;
}

int
resolve_literal(
    const char *host, uint16_t port, int family, struct addr_list *out)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;

	memset(out, 0, sizeof(*out));
	memset(&sin, 0, sizeof(sin));
	if (host == NULL)
		return 0;
	if (inet_pton(AF_INET, host, &sin.sin_addr) == 1) {
		if (!family_ok(family, AF_INET))
			goto wrong;
		sin.sin_family = AF_INET;
		sin.sin_port = htons(port);
		memcpy(&out->a[0], &sin, sizeof(sin));
		out->len[0] = sizeof(sin);
	} else if (literal6(host, port, &sin6)) {
		if (!family_ok(family, AF_INET6))
			goto wrong;
		memcpy(&out->a[0], &sin6, sizeof(sin6));
		out->len[0] = sizeof(sin6);
	} else
		return localhost_name(host) ? localhost_addrs(port, family, out)
					    : 0;
	out->n = 1;
	return 1;
wrong:
	errno = EAFNOSUPPORT;
	return -1;
}

/* Sockets c-ares opens: watched by ev, closed with the channel. */

static void
sock_ready(struct ev_io *io, uint32_t revents)
{
	struct rsock *s = io->arg;
	struct resolve_req *rq = s->rq;
	ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;

	if (revents & (EPOLLIN | EPOLLERR | EPOLLHUP))
		rfd = io->fd;
	if (revents & EPOLLOUT)
		wfd = io->fd;
	/* s may be freed inside: c-ares can close the socket. */
	ares_process_fd(rq->ch, rfd, wfd);
	req_arm_ares_timer(rq);
	req_finish(rq);
}

static struct rsock *
sock_find(struct resolve_req *rq, int fd)
{
	struct rsock *s;

	LIST_FOREACH(s, &rq->socks, entry)
	if (s->io.fd == fd)
		return s;
	return NULL;
}

static void
sock_drop(struct resolve_req *rq, struct rsock *s)
{
	ev_io_stop(rq->r->ev, &s->io);
	LIST_REMOVE(s, entry);
	free(s);
}

static void
sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct resolve_req *rq = data;
	struct rsock *s = sock_find(rq, fd);
	uint32_t ev = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);

	if (ev == 0) {
		if (s != NULL)
			sock_drop(rq, s);
		return;
	}
	if (s != NULL) {
		ev_io_set(rq->r->ev, &s->io, ev);
		return;
	}
	/* Without a watcher the query would stall: the deadline ends it. */
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return;
	s->rq = rq;
	if (ev_io_start(rq->r->ev, &s->io, fd, ev, sock_ready, s) == -1) {
		free(s);
		return;
	}
	LIST_INSERT_HEAD(&rq->socks, s, entry);
}

/* c-ares sets FD_CLOEXEC itself; make sure of it for every version. */
static int
sock_created(ares_socket_t fd, int type, void *data)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl == -1 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) == -1)
		return -1;
	return 0;
}

/* Timers. */

static void
ares_timer_fired(struct ev_timer *t)
{
	struct resolve_req *rq = t->arg;

	ares_process_fd(rq->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	req_arm_ares_timer(rq);
	req_finish(rq);
}

static void
req_arm_ares_timer(struct resolve_req *rq)
{
	struct timeval tv, *tvp;
	uint64_t ms;

	if (rq->ch == NULL)
		return;
	if ((tvp = ares_timeout(rq->ch, NULL, &tv)) == NULL) {
		ev_timer_stop(rq->r->ev, &rq->ares_t);
		return;
	}
	ms = (uint64_t)tvp->tv_sec * 1000 + (uint64_t)tvp->tv_usec / 1000;
	/* Round up so a timer does not fire just before c-ares' time. */
	if (tvp->tv_usec % 1000 != 0)
		ms++;
	ev_timer_start(rq->r->ev, &rq->ares_t, ms);
}

/* Results. */

static void
fam_add(struct rfam *f, const struct ares_addrinfo_node *n, uint16_t port)
{
	struct sockaddr_storage ss;
	size_t i, want;

	want = n->ai_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                : sizeof(struct sockaddr_in);
	if (f->n >= CP_MAX_ADDRS || n->ai_addr == NULL ||
	    n->ai_addrlen < want || n->ai_addr->sa_family != n->ai_family)
		return;
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, n->ai_addr, want);
	if (n->ai_family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)&ss)->sin_port = htons(port);
	for (i = 0; i < f->n; i++)
		if (memcmp(&f->a[i], &ss, want) == 0)
			return;
	f->a[f->n] = ss;
	f->len[f->n++] = (socklen_t)want;
}

static void
fam_fill(struct rfam *f, int af, const struct ares_addrinfo *ai, uint16_t port)
{
	const struct ares_addrinfo_node *n;
	size_t seen = 0;

	for (n = ai->nodes; n != NULL && seen < RS_MAX_NODES;
	     n = n->ai_next, seen++)
		if (n->ai_family == af)
			fam_add(f, n, port);
}

static void
got_answer(struct resolve_req *rq, struct rfam *f, int af, int status,
    struct ares_addrinfo *ai)
{
	/* Also reached from ares_destroy() after cancel: rq->ch is NULL. */
	if (rq->ch == NULL) {
		ares_freeaddrinfo(ai);
		return;
	}
	f->done = 1;
	f->status = status;
	if (status == ARES_SUCCESS && ai != NULL)
		fam_fill(f, af, ai, rq->port);
	ares_freeaddrinfo(ai);
	if (status == ARES_SUCCESS && f->n == 0)
		f->status = ARES_ENODATA;
}

static void
got6(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	got_answer(arg, &((struct resolve_req *)arg)->f6, AF_INET6, status, ai);
}

static void
got4(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	got_answer(arg, &((struct resolve_req *)arg)->f4, AF_INET, status, ai);
}

/* RFC 8305 section 4: alternate families, IPv6 first. */
static void
interleave(const struct rfam *f6, const struct rfam *f4, struct addr_list *al)
{
	const struct rfam *f;
	size_t i6 = 0, i4 = 0, *i;

	memset(al, 0, sizeof(*al));
	while (al->n < CP_MAX_ADDRS && (i6 < f6->n || i4 < f4->n)) {
		if (i4 >= f4->n || (i6 < f6->n && al->n % 2 == 0)) {
			f = f6;
			i = &i6;
		} else {
			f = f4;
			i = &i4;
		}
		al->a[al->n] = f->a[*i];
		al->len[al->n++] = f->len[(*i)++];
	}
}

struct rerr {
	int eclass, err;
	const char *text;
};

static void
map_status(int st, struct rerr *e)
{
	switch (st) {
	case ARES_ENOTFOUND:
	case ARES_ENODATA:
	case ARES_ENONAME:
		*e = (struct rerr){CP_E_NONAME, CP_ENONAME, "name not found"};
		break;
	case ARES_ETIMEOUT:
		*e = (struct rerr){
		    CP_E_TIMEDOUT, ETIMEDOUT, "no answer from the DNS servers"};
		break;
	case ARES_ESERVFAIL:
		*e = (struct rerr){CP_E_UNREACH, EHOSTUNREACH,
		    "DNS server failure (SERVFAIL)"};
		break;
	case ARES_EREFUSED:
		*e = (struct rerr){
		    CP_E_UNREACH, EHOSTUNREACH, "DNS server refused the query"};
		break;
	case ARES_ECONNREFUSED:
		/* c-ares' verdict once every server failed, refused (also a
		 * SERVFAIL answer) or could not be reached. */
		*e = (struct rerr){CP_E_UNREACH, ECONNREFUSED,
		    "no usable answer from the DNS servers (failure or "
		    "refusal)"};
		break;
	case ARES_EBADRESP:
	case ARES_EFORMERR:
		*e = (struct rerr){CP_E_UNREACH, EPROTO,
		    "malformed answer from the DNS server"};
		break;
	case ARES_EBADNAME:
		*e = (struct rerr){CP_E_NONAME, CP_ENONAME, "malformed name"};
		break;
	case ARES_ENOMEM:
		*e = (struct rerr){CP_E_INTERNAL, ENOMEM, "out of memory"};
		break;
	default:
		*e = (struct rerr){CP_E_INTERNAL, EIO, ares_strerror(st)};
	}
}

/* An authoritative "no such name" beats a server trouble, which beats
 * "no data" for one family. */
static int
status_rank(int st)
{
	if (st == ARES_ENOTFOUND)
		return 3;
	if (st == ARES_ENODATA || st == ARES_ENONAME)
		return 1;
	return 2;
}

static int
pick_status(const struct resolve_req *rq)
{
	const struct rfam *a = &rq->f6, *b = &rq->f4;

	if (rq->nfam == 1)
		return a->done ? a->status : b->status;
	return status_rank(a->status) >= status_rank(b->status) ? a->status
	                                                        : b->status;
}

static void
req_release(struct resolve_req *rq)
{
	struct ev *ev = rq->r->ev;
	ares_channel ch = rq->ch;

	ev_timer_stop(ev, &rq->ares_t);
	ev_timer_stop(ev, &rq->deadline);
	ev_timer_stop(ev, &rq->deliver);
	rq->ch = NULL; /* late c-ares callbacks see this */
	if (ch != NULL)
		ares_destroy(ch);
	while (!LIST_EMPTY(&rq->socks))
		sock_drop(rq, LIST_FIRST(&rq->socks));
	TAILQ_REMOVE(&rq->r->reqs, rq, entry);
	free(rq);
}

/* Hand the result over; timed_out: the deadline came first. */
static void
req_deliver(struct resolve_req *rq, int timed_out)
{
	struct addr_list al;
	struct rerr e = {CP_E_NONE, 0, ""};
	resolve_cb *cb = rq->cb;
	void *arg = rq->arg;

	if (rq->literal)
		al = rq->lit;
	else
		interleave(&rq->f6, &rq->f4, &al);
	if (al.n == 0 && timed_out)
		map_status(ARES_ETIMEOUT, &e);
	else if (al.n == 0)
		map_status(pick_status(rq), &e);
	req_release(rq);
	cb(arg, &al, e.eclass, e.err, e.text);
}

static int
req_complete(const struct resolve_req *rq)
{
	if (rq->literal)
		return 1;
	if (rq->nfam == 2)
		return rq->f6.done && rq->f4.done;
	return rq->f6.done || rq->f4.done;
}

/* After c-ares ran: deliver when every query is answered. */
static void
req_finish(struct resolve_req *rq)
{
	if (req_complete(rq))
		req_deliver(rq, 0);
}

static void
deadline_fired(struct ev_timer *t)
{
	req_deliver(t->arg, 1);
}

static void
deliver_fired(struct ev_timer *t)
{
	req_finish(t->arg);
}

/* Request set-up. */

static int
req_channel(struct resolve_req *rq)
{
	struct resolver *r = rq->r;
	struct ares_options o = r->opts;
	uint32_t try_ms;

	/* Tries back off (t, 2t, 4t = 7t): sized so that the last try is
	 * cut short by our deadline, which is the one that reports. */
	try_ms = rq->timeout_ms / 6;
	if (try_ms < RS_TRY_MIN_MS)
		try_ms = RS_TRY_MIN_MS;
	if (try_ms > RS_TRY_MAX_MS)
		try_ms = RS_TRY_MAX_MS;
	o.timeout = (int)try_ms;
	o.tries = RS_TRIES;
	o.sock_state_cb = sock_state;
	o.sock_state_cb_data = rq;
	if (ares_init_options(&rq->ch, &o,
	        r->optmask | ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS |
	            ARES_OPT_TRIES) != ARES_SUCCESS) {
		rq->ch = NULL;
		return -1;
	}
	/* Saved options keep only port-53 IPv4 servers: restore all. */
	if (r->servers != NULL &&
	    ares_set_servers_ports(rq->ch, r->servers) != ARES_SUCCESS) {
		ares_destroy(rq->ch);
		rq->ch = NULL;
		return -1;
	}
	ares_set_socket_callback(rq->ch, sock_created, NULL);
	return 0;
}

static void
req_query(struct resolve_req *rq, const char *host, int family)
{
	struct ares_addrinfo_hints h;

	memset(&h, 0, sizeof(h));
	h.ai_socktype = SOCK_STREAM;
	h.ai_protocol = IPPROTO_TCP;
	h.ai_flags = ARES_AI_NOSORT; /* we order; no probing connect()s */
	rq->nfam = family == CP_FAMILY_ANY ? 2 : 1;
	/* Either call may answer at once (hosts file): req_finish waits. */
	if (family != CP_FAMILY_INET4) {
		h.ai_family = AF_INET6;
		ares_getaddrinfo(rq->ch, host, NULL, &h, got6, rq);
	}
	if (family != CP_FAMILY_INET6) {
		h.ai_family = AF_INET;
		ares_getaddrinfo(rq->ch, host, NULL, &h, got4, rq);
	}
}

static struct resolve_req *
req_new(struct resolver *r, uint16_t port, uint32_t timeout_ms, resolve_cb *cb,
    void *arg)
{
	struct resolve_req *rq;

	if ((rq = calloc(1, sizeof(*rq))) == NULL)
		return NULL;
	rq->r = r;
	rq->port = port;
	rq->timeout_ms = timeout_ms ? timeout_ms : RESOLVE_DEFAULT_TIMEOUT_MS;
	rq->cb = cb;
	rq->arg = arg;
	LIST_INIT(&rq->socks);
	ev_timer_init(&rq->ares_t, ares_timer_fired, rq);
	ev_timer_init(&rq->deadline, deadline_fired, rq);
	ev_timer_init(&rq->deliver, deliver_fired, rq);
	TAILQ_INSERT_TAIL(&r->reqs, rq, entry);
	return rq;
}

static int
req_arm(struct resolve_req *rq)
{
	struct ev *ev = rq->r->ev;

	/* The callback must not run before resolve_start() returns: an
	 * answer already there is delivered from the loop. */
	if (req_complete(rq) && ev_timer_start(ev, &rq->deliver, 0) == -1)
		return -1;
	return ev_timer_start(ev, &rq->deadline, rq->timeout_ms);
}

struct resolve_req *
resolve_start(struct resolver *r, const char *host, uint16_t port, int family,
    uint32_t timeout_ms, resolve_cb *cb, void *arg)
{
	struct resolve_req *rq;
	int lit;

	if (family != CP_FAMILY_ANY && family != CP_FAMILY_INET4 &&
	    family != CP_FAMILY_INET6) {
		errno = EINVAL;
		return NULL;
	}
	if ((rq = req_new(r, port, timeout_ms, cb, arg)) == NULL)
		return NULL;
	if ((lit = resolve_literal(host, port, family, &rq->lit)) == 1)
		rq->literal = 1;
	else if (lit == -1 || !cp_hostname_ok(host, strlen(host))) {
		req_release(rq);
		errno = lit == -1 ? EAFNOSUPPORT : EINVAL;
		return NULL;
	} else if (req_channel(rq) == -1) {
		req_release(rq);
		errno = ENOMEM;
		return NULL;
	} else {
		req_query(rq, host, family);
		req_arm_ares_timer(rq);
	}
	if (req_arm(rq) == -1) {
		req_release(rq);
		errno = ENOMEM;
		return NULL;
	}
	return rq;
}

void
resolve_cancel(struct resolve_req *rq)
{
	if (rq != NULL)
		req_release(rq);
}
