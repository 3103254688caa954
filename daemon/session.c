/* SPDX-License-Identifier: ISC */
/*
 * Client sessions: a Unix stream connection from one program, its
 * identity (SO_PEERCRED), its messages in (HELLO, CONNECT, client trust
 * anchors) and its replies out, with the bounds that keep one client from
 * costing the others: sessions per uid, queued replies, idle time.
 */
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>

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
#include "log.h"

static void discard_input(int);
static void session_io(struct ev_io *, uint32_t);
static void session_read(struct session *);
static void session_process(struct session *);
static void session_resume(struct ev_timer *);
static void session_dispatch(struct session *, struct imsg *);
static void handle_hello(struct session *, const struct imsg *);
static void handle_ca_cert(struct session *, const struct imsg *);
static void handle_ca_end(struct session *, const struct imsg *);
static void handle_ticket(struct session *, const struct imsg *);
static void handle_record(struct session *, const struct imsg *);
static void session_update_events(struct session *);
static void unread_add(struct session *, int64_t);
static int cab_account(struct session *, int64_t);
static int session_throttled(const struct session *);
static void session_idle(struct ev_timer *);

/* A new session: who it is, whether it may, and its set-up. */

struct session *
session_new(
    struct engine *e, int fd, const struct cp_peer *peer, const gid_t *groups)
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
	/* HANDSHAKE brings the program's socket; any other message with a
	 * descriptor is refused in session_dispatch().  At most
	 * IMSG_MAX_FDQ wait unclaimed per session. */
	s->ib.accept_fds = 1;
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
	LIST_INIT(&s->reqs);
	LIST_INSERT_HEAD(&e->sessions, s, entry);
	e->st.sessions++;
	engine_note_peak(e);
	return s;
}

void
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

/* Why a new session of this peer is refused, or NULL. */
const char *
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

/*
 * A session we will not serve still gets a reason before the close, so
 * the program reports "too many sessions" rather than a reset.  One
 * small datagram on a fresh socket: it fits, or the client loses only the
 * reason.
 */
void
session_refuse(
    struct engine *e, int fd, const struct cp_peer *peer, const char *why)
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
	if (!abuf_failed(&b) &&
	    imsg_compose(&ib, CP_MSG_RESULT, 0, e->pid, -1, b.buf, b.len) == 0)
		(void)imsg_write(&ib);
	imsgbuf_clear(&ib);
	abuf_free(&b);
	discard_input(fd);
	close(fd);
}

/*
 * Closing a Unix socket with unread input resets the connection, and the
 * peer may then lose what we sent before: read (bounded) what has arrived.
 */
static void
discard_input(int fd)
{
	char buf[4096];
	int i;

	shutdown(fd, SHUT_RD);
	for (i = 0; i < 16 && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0; i++)
		;
}

/* Input: frames in, a bounded number per turn, to their handlers. */

static void
session_io(struct ev_io *io, uint32_t revents)
{
	struct session *s = io->arg;
	int was_throttled = session_throttled(s);

	/* Lingering, only the end of the peer is watched: with it go the
	 * sockets it never read. */
	if (s->lingering) {
		if (revents & (EPOLLHUP | EPOLLERR))
			session_free(s);
		return;
	}
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
session_read(struct session *s)
{
	ssize_t n;

	n = imsg_read(&s->ib);
	if (n == 0 && !s->eof &&
	    (s->nreqs > 0 || imsg_pending(&s->ib) || s->ib.rpos < s->ib.rlen)) {
		/* Half-closed, or shut by a draining engine: answer what
		 * was asked, then close. */
		s->eof = 1;
		session_process(s);
		session_flush(s);
		return;
	}
	if (n == 0 || (n == -1 && errno != EAGAIN)) {
		if (n == -1 && errno != ECONNRESET)
			log_info_rl(s->peer.uid, LK_SESSION,
			    "uid %u pid %d: %s", (unsigned)s->peer.uid,
			    (int)s->peer.pid,
			    errno == EBADMSG ? "descriptor not expected"
			                     : strerror(errno));
		session_close(s);
		return;
	}
	session_process(s);
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
		ev_timer_start(
		    s->e->ev, &s->idle, s->e->conf->g.session_idle_ms);
		session_dispatch(s, &m); /* m.fd is dispatch's */
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
session_dispatch(struct session *s, struct imsg *m)
{
	/* Only a HANDSHAKE carries a descriptor; req_handshake takes it. */
	if (m->fd != -1 && (m->hdr.type != CP_MSG_HANDSHAKE || !s->hello)) {
		close(m->fd);
		m->fd = -1;
		if (m->hdr.type != CP_MSG_HANDSHAKE) {
			session_error(s, m->hdr.peerid, CP_E_PROTO, EPROTO,
			    "descriptor with %s", cp_msg_str(m->hdr.type));
			return;
		}
	}
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
		audit_flush(s); /* the lines in the order of the requests */
		req_connect(s, m);
		break;
	case CP_MSG_HANDSHAKE:
		audit_flush(s);
		req_handshake(s, m);
		break;
	case CP_MSG_CA_CERT:
		handle_ca_cert(s, m);
		break;
	case CP_MSG_CA_END:
		handle_ca_end(s, m);
		break;
	case CP_MSG_TICKET:
		handle_ticket(s, m);
		break;
	case CP_MSG_RECORD:
		handle_record(s, m);
		break;
	default:
		session_error(s, m->hdr.peerid, CP_E_PROTO, EPROTO,
		    "unexpected message type %u", m->hdr.type);
	}
}

/* A TLS 1.3 ticket sent back (resume.h).  It has no answer: one that
 * does not decode is dropped with a log line, the session goes on. */
static void
handle_ticket(struct session *s, const struct imsg *m)
{
	const unsigned char *cookie, *msg;
	char err[128];
	size_t len;

	if (cp_ticket_decode(m->data, m->datalen, &cookie, &msg, &len, err,
	        sizeof(err)) == -1) {
		log_info_rl(s->peer.uid, LK_SESSION,
		    "uid %u pid %d: bad TICKET: %s", (unsigned)s->peer.uid,
		    (int)s->peer.pid, err);
		return;
	}
	resume_ticket(s->e, (uint32_t)s->peer.uid, cookie, msg, len);
}

/* The record layer the library took for a TLS request (audit.h); no
 * answer either, and one that does not decode is dropped likewise. */
static void
handle_record(struct session *s, const struct imsg *m)
{
	char err[128];
	int record;

	if (cp_record_decode(m->data, m->datalen, &record, err, sizeof(err)) ==
	    -1) {
		log_info_rl(s->peer.uid, LK_SESSION,
		    "uid %u pid %d: bad RECORD: %s", (unsigned)s->peer.uid,
		    (int)s->peer.pid, err);
		return;
	}
	audit_record(s, m->hdr.peerid, record);
}

static void
handle_hello(struct session *s, const struct imsg *m)
{
	struct cp_hello h;
	struct abuf b;
	char err[256];

	if (cp_hello_decode(m->data, m->datalen, &h, err, sizeof(err)) == -1) {
		session_error(
		    s, m->hdr.peerid, CP_E_PROTO, EPROTO, "bad HELLO: %s", err);
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
	h.features = CP_FEAT_HANDSHAKE | CP_FEAT_RECORD | CP_FEAT_RECORD_KNOWN;
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
handle_ca_cert(struct session *s, const struct imsg *m)
{
	const unsigned char *der;
	size_t len;
	char err[256];

	if (cp_cert_decode(m->data, m->datalen, &der, &len, err, sizeof(err)) ==
	    -1) {
		session_error(s, m->hdr.peerid, CP_E_PROTO, EPROTO,
		    "bad CA_CERT: %s", err);
		return;
	}
	if (s->cab == NULL && (s->cab = ca_builder_new(0)) == NULL) {
		session_error(
		    s, m->hdr.peerid, CP_E_INTERNAL, ENOMEM, "out of memory");
		return;
	}
	/* Each set is bounded; so are one user's sets in the making, or
	 * many sessions would each hold a full one. */
	if (cab_account(s, (int64_t)len) == -1) {
		session_error(s, m->hdr.peerid, CP_E_LIMIT, EAGAIN,
		    "CA_CERT: this user's trust anchors being sent exceed "
		    "%d bytes",
		    CA_UID_MAX_BYTES);
		return;
	}
	if (ca_builder_add(s->cab, der, len, err, sizeof(err)) == -1)
		session_error(
		    s, m->hdr.peerid, CP_E_PROTO, EPROTO, "CA_CERT: %s", err);
}

/* The bytes of s's set in the making, in its uid's total: -1 when adding
 * n would pass CA_UID_MAX_BYTES. */
static int
cab_account(struct session *s, int64_t n)
{
	struct uidcount *u = uid_slot(s->e, s->peer.uid, 0);

	if (u == NULL)
		return n > 0 ? -1 : 0;
	if (n > 0 && u->ca_bytes + (uint64_t)n > CA_UID_MAX_BYTES)
		return -1;
	u->ca_bytes = (uint64_t)((int64_t)u->ca_bytes + n);
	s->cab_bytes = (uint64_t)((int64_t)s->cab_bytes + n);
	return 0;
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
	rv = ca_builder_finish(s->cab, hash, s->e->cas, NULL, err, sizeof(err));
	ca_builder_free(s->cab);
	s->cab = NULL;
	cab_account(s, -(int64_t)s->cab_bytes);
	if (rv == -1)
		session_error(s, m->hdr.peerid, CP_E_PROTO, EPROTO,
		    "client trust anchors: %s", err);
}

/* Output and the end of a session. */

/*
 * A write that fails for any other reason than EAGAIN ends the session:
 * the frames it could not send are dropped with their descriptors, so
 * the same failure cannot come back on every turn of the loop (it did,
 * at full CPU, for ETOOMANYREFS).
 */
void
session_flush(struct session *s)
{
	if (s->closing != 2 && imsg_write(&s->ib) == -1) {
		if (errno != EPIPE && errno != ECONNRESET)
			log_warn("uid %u pid %d: write, closing the session",
			    (unsigned)s->peer.uid, (int)s->peer.pid);
		imsgbuf_clear(&s->ib);
		s->closing = 2;
	}
	if ((s->closing || (s->eof && s->nreqs == 0)) &&
	    !imsg_pending(&s->ib)) {
		s->closing = 2; /* session_idle() closes it */
		ev_timer_start(s->e->ev, &s->idle, 0);
	}
	session_update_events(s);
}

static void
session_update_events(struct session *s)
{
	uint32_t ev =
	    s->closing || s->eof || session_throttled(s) ? 0 : EPOLLIN;

	if (imsg_pending(&s->ib) && s->closing != 2)
		ev |= EPOLLOUT;
	if (ev_io_set(s->e->ev, &s->io, ev) == -1)
		log_warn("epoll");
}

/* Replies not yet read by the client hold back its next requests. */
static int
session_throttled(const struct session *s)
{
	return s->ib.wqueued >= SESSION_WQ_MAX;
}

static void
session_idle(struct ev_timer *t)
{
	struct session *s = t->arg;

	if (s->lingering) {
		if (session_unread(s) == 0)
			session_free(s);
		else
			ev_timer_start(s->e->ev, &s->idle, LINGER_CHECK_MS);
		return;
	}
	/* A closing session whose last reply is out: close it from the
	 * loop, never under a caller's feet. */
	if (s->closing == 2) {
		session_close(s);
		return;
	}
	/* A socket the client has not taken is a request still open: the
	 * session cannot go (and forget it) before the client reads it. */
	if (s->nreqs > 0 || session_unread(s) > 0) {
		ev_timer_start(
		    s->e->ev, &s->idle, s->e->conf->g.session_idle_ms);
		return;
	}
	log_debug("uid %u pid %d: idle session closed", (unsigned)s->peer.uid,
	    (int)s->peer.pid);
	session_close(s);
}

/*
 * The end of a session.  One whose client has sockets it has not read
 * lingers instead: everything but the socket and its counts goes, and it
 * is freed once the client has read them or is gone.  Closed at once, the
 * session would forget sockets the kernel still holds in flight for the
 * engines' user, and a client could pile them up session after session.
 */
void
session_close(struct session *s)
{
	struct request *r;

	if (s->e->stopping || session_unread(s) == 0) {
		session_free(s);
		return;
	}
	while ((r = LIST_FIRST(&s->reqs)) != NULL) {
		req_unlink(r);
		req_free(r);
	}
	audit_flush(s);
	imsgbuf_clear(&s->ib); /* the queued sockets are closed */
	if (s->cab != NULL)
		ca_builder_free(s->cab);
	s->cab = NULL;
	cab_account(s, -(int64_t)s->cab_bytes);
	ev_timer_stop(s->e->ev, &s->resume);
	if (ev_io_set(s->e->ev, &s->io, 0) == -1)
		log_warn("epoll");
	s->closing = 2;
	s->lingering = 1;
	ev_timer_start(s->e->ev, &s->idle, LINGER_CHECK_MS);
	log_debug("uid %u pid %d: session ends once %u sockets are read",
	    (unsigned)s->peer.uid, (int)s->peer.pid, (unsigned)s->unread);
}

void
session_free(struct session *s)
{
	struct engine *e = s->e;
	struct request *r;

	while ((r = LIST_FIRST(&s->reqs)) != NULL) {
		req_unlink(r);
		req_free(r);
	}
	audit_flush(s);
	unread_add(s, -(int64_t)s->unread);
	ev_io_stop(e->ev, &s->io);
	ev_timer_stop(e->ev, &s->idle);
	ev_timer_stop(e->ev, &s->resume);
	close(s->io.fd);
	imsgbuf_clear(&s->ib);
	if (s->cab != NULL)
		ca_builder_free(s->cab);
	cab_account(s, -(int64_t)s->cab_bytes);
	LIST_REMOVE(s, entry);
	uid_drop(e, s->peer.uid, 1);
	e->st.sessions--;
	free(s);
}

/* Replies. */

void
send_result(struct session *s, uint32_t id, const struct cp_result *res, int fd)
{
	struct abuf b;

	abuf_init(&b);
	cp_result_encode(&b, res);
	if (send_msg(s, CP_MSG_RESULT, id, fd, &b) == -1)
		log_warn("session uid %u: result", (unsigned)s->peer.uid);
	abuf_free(&b);
	session_flush(s);
}

int
send_msg(struct session *s, uint32_t type, uint32_t id, int fd, struct abuf *b)
{
	int r;

	if (abuf_failed(b)) {
		if (fd != -1)
			close(fd);
		errno = b->failed;
		return -1;
	}
	r = imsg_compose(&s->ib, type, id, s->e->pid, fd, b->buf, b->len);
	if (r == 0 && fd != -1)
		unread_add(s, 1);
	return r;
}

/*
 * A socket handed to a client counts as a request in flight until the
 * client has received it.  Until then it is a descriptor in flight in the
 * kernel, charged to the engines' user: past RLIMIT_NOFILE of those,
 * every hand-off to every client fails with ETOOMANYREFS, so a client
 * that asks and never reads must not pile them up.  The kernel only says
 * "all read" (SIOCOUTQ 0), so the count is an upper bound, brought up to
 * date by session_unread() when a limit is near.
 */
static void
unread_add(struct session *s, int64_t n)
{
	struct uidcount *u = uid_slot(s->e, s->peer.uid, 0);

	s->unread = (uint32_t)(s->unread + n);
	s->e->unread = (uint32_t)(s->e->unread + n);
	if (u != NULL)
		u->unread = (uint32_t)(u->unread + n);
}

uint32_t
session_unread(struct session *s)
{
	int q;

	if (s->unread == 0 || imsg_pending(&s->ib))
		return s->unread;
	if (ioctl(s->io.fd, SIOCOUTQ, &q) == -1) {
		/* The count then only ends with the session: say why. */
		log_info_rl(s->peer.uid, LK_SESSION, "uid %u: SIOCOUTQ: %s",
		    (unsigned)s->peer.uid, strerror(errno));
		return s->unread;
	}
	if (q == 0)
		unread_add(s, -(int64_t)s->unread);
	return s->unread;
}

/* Every session of uid (or every session, uid NULL) brought up to date:
 * only when a limit would refuse a request. */
void
sessions_unread_sync(struct engine *e, const uid_t *uid)
{
	struct session *s;

	LIST_FOREACH(s, &e->sessions, entry)
		if (s->unread > 0 && (uid == NULL || s->peer.uid == *uid))
			(void)session_unread(s);
}

void
error_result(
    struct cp_result *res, int eclass, int err, const char *fmt, va_list ap)
{
	memset(res, 0, sizeof(*res));
	res->status = CP_STATUS_ERROR;
	res->eclass = (uint8_t)eclass;
	res->err = (uint32_t)err;
	vsnprintf(res->errtext, sizeof(res->errtext), fmt, ap);
}

/* A request-less error (protocol): answer and close the session. */
void
session_error(
    struct session *s, uint32_t id, int eclass, int err, const char *fmt, ...)
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

/* Per-uid accounting: requests in flight and sessions open. */

struct uidcount *
uid_slot(struct engine *e, uid_t uid, int create)
{
	struct uidcount *u;

	LIST_FOREACH(u, &e->uids, entry)
		if (u->uid == uid)
			return u;
	if (!create || (u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	u->uid = uid;
	LIST_INSERT_HEAD(&e->uids, u, entry);
	return u;
}

void
uid_drop(struct engine *e, uid_t uid, int session)
{
	struct uidcount *u;

	LIST_FOREACH(u, &e->uids, entry)
		if (u->uid == uid) {
			if (session)
				u->sessions--;
			else
				u->n--;
			if (u->n == 0 && u->sessions == 0) {
				LIST_REMOVE(u, entry);
				free(u);
			}
			return;
		}
}

void
uid_release(struct engine *e, uid_t uid)
{
	uid_drop(e, uid, 0);
}
