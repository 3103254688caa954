/* SPDX-License-Identifier: ISC */
/*
 * Sessions with cpconnectd.  A session is a Unix stream connection that
 * starts with HELLO; HELLO and the first CONNECT are sent together, so a
 * new session costs no extra round trip.  Finished sessions are kept in a
 * small per-process pool: a connect then costs one round trip to the
 * daemon.  A session that the daemon closes before any reply to our
 * request (its idle timeout on a pooled session, or an engine draining
 * for a reload) is replaced, at most REPLAYS times, transparently: the
 * daemon never answers part of a request and then closes, so nothing
 * was done for it that a replay would repeat.
 *
 * Every request has a deadline, the budget of budget.h from the moment it
 * was sent; a daemon that has not answered by then is given up on.  For
 * event loops a request can have its own epoll descriptor, readable
 * whenever the library has something to do: an answer arrived, queued
 * output (trust anchors) can be written, or the deadline passed.
 */
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "budget.h"
#include "imsg.h"
#include "session.h"
#include "stop.h"

#define POOL_MAX 8
#define REPLAYS 2

struct dsession {
	struct dsession *next;
	struct imsgbuf ib;
	char path[CP_SOCKET_PATH_MAX]; /* the daemon it talks to */
	pid_t pid;
	uint32_t lastid;
	int hello_ok;
	struct cp_limits lim; /* the daemon's, from its HELLO */
	uint32_t features;    /* CP_FEAT_*, from its HELLO */
};

struct dreq {
	struct dsession *dc;
	char path[CP_SOCKET_PATH_MAX];
	struct cp_connect c;
	const struct ca_set *cas;
	uint32_t id;
	int pooled;	/* dc came from the pool: may be stale */
	int got_reply;	/* some message for this request arrived */
	int replays;	/* times sent again on a new session */
	int sent_ca;
	int upfd;   /* HANDSHAKE: our duplicate of the program's socket */
	int upsent; /* ... and the HANDSHAKE went out */
	int done, broken;
	struct dreply rep;	  /* the answer so far, kept across steps */
	uint64_t start, deadline; /* CLOCK_MONOTONIC ms */
	int efd, tfd;		  /* event loops: epoll set, deadline timer */
	int efd_sock;		  /* the session socket in efd, or -1 */
	uint32_t efd_events;	  /* what efd watches it for */
};

static pthread_mutex_t pool_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct dsession *pool;
static int npool;

static pthread_once_t pid_once = PTHREAD_ONCE_INIT;
static pid_t *pid_page;

static void
pid_page_init(void)
{
	long sz = sysconf(_SC_PAGESIZE);
	void *p;

	if (sz <= 0)
		return;
	p = mmap(NULL, (size_t)sz, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return;
	if (madvise(p, (size_t)sz, MADV_WIPEONFORK) == -1) {
		munmap(p, (size_t)sz);
		return;
	}
	pid_page = p;
}

/*
 * Our pid, to tell our sessions from those inherited across fork, without
 * a system call per request (getpid costs a microsecond on a VM): it is
 * kept in a page the kernel zeroes in every child, however it was forked.
 * Without such a page, getpid() each time.
 */
static pid_t
my_pid(void)
{
	pid_t pid;

	pthread_once(&pid_once, pid_page_init);
	if (pid_page == NULL)
		return getpid();
	if ((pid = __atomic_load_n(pid_page, __ATOMIC_RELAXED)) == 0) {
		pid = getpid();
		__atomic_store_n(pid_page, pid, __ATOMIC_RELAXED);
	}
	return pid;
}

static int
failf(char *err, size_t errsz, int e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	errno = e;
	return -1;
}

static void
dsession_close(struct dsession *dc)
{
	if (dc == NULL)
		return;
	close(dc->ib.fd);
	imsgbuf_clear(&dc->ib);
	free(dc);
}

static struct dsession *
dsession_open(const char *path, char *err, size_t errsz)
{
	struct sockaddr_un sun;
	struct dsession *dc;
	int fd, e;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		failf(err, errsz, ENAMETOOLONG, "daemon socket path too long");
		return NULL;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		failf(err, errsz, errno, "socket: %s", strerror(errno));
		return NULL;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		e = errno;
		close(fd);
		/* Fail closed: never connect by ourselves instead. */
		failf(err, errsz, ECONNREFUSED, "cpconnectd not reachable at "
		    "%s: %s", path, strerror(e));
		return NULL;
	}
	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1 ||
	    (dc = calloc(1, sizeof(*dc))) == NULL) {
		e = errno;
		close(fd);
		failf(err, errsz, e, "session: %s", strerror(e));
		return NULL;
	}
	imsgbuf_init(&dc->ib, fd, CP_MAX_MSG);
	dc->ib.accept_fds = 1;
	dc->pid = my_pid();
	snprintf(dc->path, sizeof(dc->path), "%s", path);
	return dc;
}

/* A pooled session of this process to the daemon at path (any daemon if
 * path is NULL), or NULL. */
static struct dsession *
pool_get(const char *path)
{
	struct dsession *dc, **dp;
	pid_t me = my_pid();

	pthread_mutex_lock(&pool_mtx);
	for (dp = &pool; (dc = *dp) != NULL;) {
		if (dc->pid != me) {
			/* Inherited across fork: the parent's session. */
			*dp = dc->next;
			npool--;
			close(dc->ib.fd);
			imsgbuf_clear(&dc->ib);
			free(dc);
			continue;
		}
		if (path == NULL || strcmp(dc->path, path) == 0) {
			*dp = dc->next;
			npool--;
			break;
		}
		dp = &dc->next;
	}
	pthread_mutex_unlock(&pool_mtx);
	return dc;
}

static void
pool_put(struct dsession *dc)
{
	pthread_mutex_lock(&pool_mtx);
	if (npool < POOL_MAX && dc->pid == my_pid()) {
		dc->next = pool;
		pool = dc;
		npool++;
		dc = NULL;
	}
	pthread_mutex_unlock(&pool_mtx);
	dsession_close(dc);
}

void
dsession_pool_clear(void)
{
	struct dsession *dc;

	while ((dc = pool_get(NULL)) != NULL)
		dsession_close(dc);
}

/* Queue b (and fd, then closed once sent, or now on failure). */
static int
compose_fd(
    struct dsession *dc, uint32_t type, uint32_t id, int fd, struct abuf *b)
{
	int rv;

	if (abuf_failed(b)) {
		if (fd != -1)
			close(fd);
		errno = b->failed;
		abuf_free(b);
		return -1;
	}
	rv = imsg_compose(
	    &dc->ib, type, id, (uint32_t)dc->pid, fd, b->buf, b->len);
	abuf_free(b);
	return rv;
}

static int
compose(struct dsession *dc, uint32_t type, uint32_t id, struct abuf *b)
{
	return compose_fd(dc, type, id, -1, b);
}

/* The request: a CONNECT, or a HANDSHAKE with a duplicate of the
 * program's socket (each sending its own: imsg closes what it sent). */
static int
send_connect(struct dreq *q)
{
	struct abuf b;
	int fd;

	abuf_init(&b);
	if (q->upfd == -1) {
		cp_connect_encode(&b, &q->c);
		return compose(q->dc, CP_MSG_CONNECT, q->id, &b);
	}
	if ((fd = fcntl(q->upfd, F_DUPFD_CLOEXEC, 0)) == -1) {
		abuf_free(&b);
		return -1;
	}
	cp_handshake_encode(&b, &q->c);
	q->upsent = 1;
	return compose_fd(q->dc, CP_MSG_HANDSHAKE, q->id, fd, &b);
}

/* A HANDSHAKE's budget: the handshake alone, no connection attempts. */
static uint32_t
handshake_budget(const struct cp_connect *c, const struct cp_limits *l)
{
	uint32_t t = c->connect_timeout_ms;

	if (t == 0)
		return 0;
	if (l->known && l->handshake_ms < t)
		t = l->handshake_ms;
	return t;
}

static int
send_hello(struct dsession *dc)
{
	struct cp_hello h;
	struct abuf b;

	memset(&h, 0, sizeof(h));
	h.version = CP_PROTO_VERSION;
	snprintf(h.software, sizeof(h.software), "libcpconnect");
	abuf_init(&b);
	cp_hello_encode(&b, &h);
	return compose(dc, CP_MSG_HELLO, 0, &b);
}

int
dsession_send_ticket(
    const char *path, const unsigned char *cookie, const void *msg, size_t len)
{
	struct dsession *dc = pool_get(path);
	struct abuf b;
	char err[128];
	int fresh = 0, rv, tries;

	for (tries = 0; tries < 2; tries++) {
		if (dc == NULL) {
			if ((dc = dsession_open(path, err, sizeof(err))) ==
			    NULL)
				return -1;
			fresh = 1;
			if (send_hello(dc) == -1)
				break;
		}
		abuf_init(&b);
		cp_ticket_encode(&b, cookie, msg, len);
		if (compose(dc, CP_MSG_TICKET, 0, &b) == 0 &&
		    (rv = imsg_write(&dc->ib)) != -1) {
			/* A session of our own making has told all it had
			 * to; a pooled one goes back, with its queue. */
			if (fresh && rv == 0)
				dsession_close(dc);
			else
				pool_put(dc);
			return 0;
		}
		/* The daemon closed the pooled session: once more, anew. */
		dsession_close(dc);
		dc = NULL;
		if (fresh)
			return -1;
	}
	dsession_close(dc);
	return -1;
}

static int
send_cas(struct dreq *q)
{
	struct abuf b;
	size_t i;

	for (i = 0; i < q->cas->n; i++) {
		abuf_init(&b);
		cp_cert_encode(&b, q->cas->der[i], q->cas->len[i]);
		if (compose(q->dc, CP_MSG_CA_CERT, q->id, &b) == -1)
			return -1;
	}
	abuf_init(&b);
	cp_ca_end_encode(&b, q->cas->hash);
	return compose(q->dc, CP_MSG_CA_END, q->id, &b);
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The deadline from the request's budget and what the daemon announced;
 * the event-loop timer follows it. */
static int
set_deadline(struct dreq *q)
{
	struct itimerspec its;

	q->deadline = q->start + cp_wait_ms(&q->c, &q->dc->lim);
	if (q->tfd == -1)
		return 0;
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = (time_t)(q->deadline / 1000);
	its.it_value.tv_nsec = (long)(q->deadline % 1000) * 1000000;
	return timerfd_settime(q->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Keep the epoll set watching the current session socket, for writing
 * too while output is queued. */
static int
efd_sync(struct dreq *q)
{
	struct epoll_event ev;
	uint32_t want;
	int fd;

	if (q->efd == -1 || q->dc == NULL)
		return 0;
	fd = q->dc->ib.fd;
	want = EPOLLIN | (imsg_pending(&q->dc->ib) ? EPOLLOUT : 0);
	if (fd == q->efd_sock && want == q->efd_events)
		return 0;
	memset(&ev, 0, sizeof(ev));
	ev.events = want;
	ev.data.fd = fd;
	if (epoll_ctl(q->efd, fd == q->efd_sock ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
		fd, &ev) == -1)
		return -1;
	q->efd_sock = fd;
	q->efd_events = want;
	return 0;
}

/* Drop the request's session (broken, stale, or the request is over). */
static void
req_detach(struct dreq *q)
{
	if (q->dc == NULL)
		return;
	if (q->efd != -1 && q->efd_sock == q->dc->ib.fd)
		epoll_ctl(q->efd, EPOLL_CTL_DEL, q->efd_sock, NULL);
	q->efd_sock = -1;
	dsession_close(q->dc);
	q->dc = NULL;
}

/* Attach a session (pooled or new) and queue the request on it; its
 * budget starts now. */
static int
req_attach(struct dreq *q, int allow_pool, char *err, size_t errsz)
{
	struct dsession *dc = allow_pool ? pool_get(q->path) : NULL;

	q->pooled = dc != NULL;
	if (dc == NULL) {
		if ((dc = dsession_open(q->path, err, errsz)) == NULL)
			return -1;
		if (send_hello(dc) == -1) {
			dsession_close(dc);
			return failf(err, errsz, errno, "hello: %s",
			    strerror(errno));
		}
	}
	q->dc = dc;
	q->id = ++dc->lastid;
	if (q->id == 0)
		q->id = ++dc->lastid;
	q->got_reply = 0;
	q->c.timeout_ms = q->upfd != -1 ? handshake_budget(&q->c, &dc->lim)
	                                : cp_budget_ms(&q->c, &dc->lim);
	q->start = now_ms();
	if (set_deadline(q) == -1 || efd_sync(q) == -1)
		return failf(err, errsz, errno, "request timer: %s",
		    strerror(errno));
	/* A HANDSHAKE waits for the daemon's HELLO (take_hello): only a
	 * daemon that announced it may be sent a socket. */
	if (q->upfd == -1 && send_connect(q) == -1)
		return failf(err, errsz, errno, "request: %s", strerror(errno));
	if (imsg_write(&dc->ib) == -1)
		return failf(err, errsz, errno, "cpconnectd: %s",
		    strerror(errno));
	return 0;
}

/* The session closed under a request it did not answer: send it again
 * on a new one.  1 when sent, 0 when that is not allowed (err kept). */
static int
replay(struct dreq *q, char *err, size_t errsz)
{
	int e = errno;

	if (q->got_reply || q->dc == NULL || q->replays >= REPLAYS ||
	    (e != EPIPE && e != ECONNRESET && e != ECONNABORTED))
		return 0;
	q->replays++;
	req_detach(q);
	return req_attach(q, 0, err, errsz) == 0;
}

struct dreq *
dreq_start(const char *path, const struct cp_connect *c,
    const struct ca_set *cas, char *err, size_t errsz)
{
	struct dreq *q;
	int e;

	if ((q = calloc(1, sizeof(*q))) == NULL) {
		failf(err, errsz, errno, "out of memory");
		return NULL;
	}
	snprintf(q->path, sizeof(q->path), "%s", path);
	q->c = *c;
	q->cas = cas;
	q->rep.fd = -1;
	q->efd = q->tfd = q->efd_sock = q->upfd = -1;
	if (req_attach(q, 1, err, errsz) == -1 && !replay(q, err, errsz)) {
		e = errno;
		dreq_free(q);
		errno = e;
		return NULL;
	}
	return q;
}

/*
 * A HANDSHAKE goes out on a new session, after the daemon's HELLO, and
 * never twice: once the daemon has the socket it may have written to it.
 */
struct dreq *
dreq_start_handshake(const char *path, const struct cp_connect *c,
    const struct ca_set *cas, int fd, char *err, size_t errsz)
{
	struct dreq *q;
	int e;

	if ((q = calloc(1, sizeof(*q))) == NULL) {
		failf(err, errsz, errno, "out of memory");
		return NULL;
	}
	snprintf(q->path, sizeof(q->path), "%s", path);
	q->c = *c;
	q->cas = cas;
	q->rep.fd = -1;
	q->efd = q->tfd = q->efd_sock = -1;
	q->replays = REPLAYS;
	if ((q->upfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		e = errno;
		failf(err, errsz, e, "dup: %s", strerror(e));
		free(q);
		errno = e;
		return NULL;
	}
	if (req_attach(q, 0, err, errsz) == -1) {
		e = errno;
		dreq_free(q);
		errno = e;
		return NULL;
	}
	return q;
}

int
dreq_event_fd(struct dreq *q, char *err, size_t errsz)
{
	struct epoll_event ev;

	if (q->efd != -1)
		return q->efd;
	if ((q->efd = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    (q->tfd = timerfd_create(CLOCK_MONOTONIC,
		 TFD_CLOEXEC | TFD_NONBLOCK)) == -1)
		return failf(err, errsz, errno, "event descriptor: %s",
		    strerror(errno));
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.fd = q->tfd;
	if (epoll_ctl(q->efd, EPOLL_CTL_ADD, q->tfd, &ev) == -1 ||
	    set_deadline(q) == -1 || efd_sync(q) == -1)
		return failf(err, errsz, errno, "event descriptor: %s",
		    strerror(errno));
	return q->efd;
}

static int
take_cert(struct dreply *out, const struct imsg *m, char *err,
    size_t errsz)
{
	const unsigned char *der;
	size_t len;

	if (cp_cert_decode(m->data, m->datalen, &der, &len, err, errsz) == -1)
		return -1;
	if (out->nder >= CP_MAX_CHAIN)
		return failf(err, errsz, EPROTO, "peer chain too long");
	if ((out->der[out->nder] = malloc(len)) == NULL)
		return failf(err, errsz, ENOMEM, "out of memory");
	memcpy(out->der[out->nder], der, len);
	out->derlen[out->nder++] = len;
	return 0;
}

/* The daemon does not know our anchors: send them, ask again, and give
 * the repeated request a budget of its own, as the daemon does. */
static int
send_anchors(struct dreq *q, char *err, size_t errsz)
{
	if (q->cas == NULL || q->sent_ca)
		return failf(err, errsz, EPROTO, "daemon asked for trust "
		    "anchors %s", q->cas == NULL ? "we did not offer" : "twice");
	q->sent_ca = 1;
	if (send_cas(q) == -1 || send_connect(q) == -1 ||
	    imsg_write(&q->dc->ib) == -1)
		return failf(err, errsz, errno, "cpconnectd: %s",
		    strerror(errno));
	q->start = now_ms();
	if (set_deadline(q) == -1)
		return failf(err, errsz, errno, "request timer: %s",
		    strerror(errno));
	return 0;
}

static int
take_result(struct dreq *q, struct imsg *m, char *err, size_t errsz)
{
	struct dreply *out = &q->rep;

	if (cp_result_decode(m->data, m->datalen, &out->res, err, errsz) ==
	    -1)
		return -1;
	if (out->res.status == CP_STATUS_NEED_CA)
		return send_anchors(q, err, errsz);
	if ((out->res.status == CP_STATUS_OK) != (m->fd != -1))
		return failf(err, errsz, EPROTO, "result %s a descriptor",
		    m->fd != -1 ? "with unexpected" : "without");
	out->fd = m->fd;
	m->fd = -1;
	q->done = 1;
	return 1;
}

static int send_handshake(struct dreq *, char *, size_t);

static int
take_hello(struct dreq *q, const struct imsg *m, char *err, size_t errsz)
{
	struct cp_hello h;

	if (cp_hello_decode(m->data, m->datalen, &h, err, errsz) == -1)
		return -1;
	if (h.version != CP_PROTO_VERSION)
		return failf(err, errsz, EPROTONOSUPPORT, "daemon speaks "
		    "protocol %u, library %u", h.version, CP_PROTO_VERSION);
	q->dc->hello_ok = 1;
	q->dc->lim = h.lim;
	q->dc->features = h.features;
	if (q->upfd != -1 && !q->upsent)
		return send_handshake(q, err, errsz);
	if (set_deadline(q) == -1)
		return failf(
		    err, errsz, errno, "request timer: %s", strerror(errno));
	return 0;
}

/* The daemon's HELLO is in: send it the socket if it said it takes one. */
static int
send_handshake(struct dreq *q, char *err, size_t errsz)
{
	if (!(q->dc->features & CP_FEAT_HANDSHAKE))
		return failf(err, errsz, EOPNOTSUPP,
		    "cpconnectd at %s cannot "
		    "run TLS on a connection the program opened (it is "
		    "older than this library)",
		    q->path);
	q->c.timeout_ms = handshake_budget(&q->c, &q->dc->lim);
	q->start = now_ms();
	if (set_deadline(q) == -1)
		return failf(err, errsz, errno, "request timer: %s",
		    strerror(errno));
	if (send_connect(q) == -1 || imsg_write(&q->dc->ib) == -1)
		return failf(
		    err, errsz, errno, "cpconnectd: %s", strerror(errno));
	return 0;
}

/* One message.  1: request complete, 0: continue, -1: broken session. */
static int
dispatch(struct dreq *q, struct imsg *m, char *err, size_t errsz)
{
	struct dreply *out = &q->rep;

	if (m->hdr.type == CP_MSG_HELLO)
		return take_hello(q, m, err, errsz);
	/* A session-level error carries id 0. */
	if (m->hdr.peerid != q->id && !(m->hdr.peerid == 0 &&
					   m->hdr.type == CP_MSG_RESULT))
		return failf(err, errsz, EPROTO, "reply for unknown request "
		    "%u", m->hdr.peerid);
	q->got_reply = 1;
	if (m->fd != -1 && m->hdr.type != CP_MSG_RESULT)
		return failf(err, errsz, EPROTO, "descriptor with %s",
		    cp_msg_str(m->hdr.type));
	switch (m->hdr.type) {
	case CP_MSG_PEER_CERT:
		return take_cert(out, m, err, errsz);
	case CP_MSG_TLS_STATE:
		if (out->have_state)
			return failf(err, errsz, EPROTO, "second TLS state");
		if (cp_tls_state_decode(m->data, m->datalen, &out->state, err,
			errsz) == -1)
			return -1;
		out->have_state = 1;
		return 0;
	case CP_MSG_RESULT:
		return take_result(q, m, err, errsz);
	default:
		return failf(err, errsz, EPROTO, "unexpected %s from daemon",
		    cp_msg_str(m->hdr.type));
	}
}

static int
drain(struct dreq *q, char *err, size_t errsz)
{
	struct imsg m;
	int rv;

	while ((rv = imsg_get(&q->dc->ib, &m)) == 1) {
		rv = dispatch(q, &m, err, errsz);
		if (m.fd != -1)
			close(m.fd);
		if (rv != 0)
			return rv;
	}
	if (rv == -1)
		return failf(err, errsz, errno, "bad message from daemon: %s",
		    strerror(errno));
	return 0;
}

static int
timed_out(struct dreq *q, char *err, size_t errsz)
{
	uint64_t ms = q->deadline - q->start;

	q->broken = 1;
	return failf(err, errsz, ETIMEDOUT, "cpconnectd at %s did not answer "
	    "within %u.%u s", q->path, (unsigned)(ms / 1000),
	    (unsigned)(ms % 1000 / 100));
}

/* Read what there is and handle it; 1, 0 or -1 as dreq_step. */
static int
step(struct dreq *q, char *err, size_t errsz)
{
	ssize_t n = -1;

	if (q->dc == NULL)
		return failf(err, errsz, EBADF, "no session");
	if (imsg_write(&q->dc->ib) == -1)
		goto lost;
	n = imsg_read(&q->dc->ib);
	if (n == -1 && errno == EAGAIN)
		return drain(q, err, errsz);
	if (n <= 0)
		goto lost;
	return drain(q, err, errsz);
lost:
	if (n == 0)
		errno = ECONNRESET;
	if (replay(q, err, errsz))
		return 0;
	if (q->dc == NULL)
		return -1; /* the replay failed: err says why */
	q->broken = 1;
	if (n == 0)
		return failf(err, errsz, ECONNRESET, "cpconnectd closed the "
		    "session");
	return failf(err, errsz, errno, "cpconnectd: %s", strerror(errno));
}

int
dreq_step(struct dreq *q, struct dreply *out, char *err, size_t errsz)
{
	int rv = step(q, err, errsz);

	if (rv == 0 && now_ms() >= q->deadline)
		return timed_out(q, err, errsz);
	if (rv == 0 && efd_sync(q) == -1)
		rv = failf(err, errsz, errno, "event descriptor: %s",
		    strerror(errno));
	if (rv == -1) {
		q->broken = 1;
		return -1;
	}
	if (rv == 1) {
		/* The caller owns the answer now; the secrets are moved,
		 * not copied. */
		*out = q->rep;
		explicit_bzero(&q->rep, sizeof(q->rep));
		q->rep.fd = -1;
	}
	return rv;
}

int
dreq_wait(struct dreq *q, struct dreply *out, char *err, size_t errsz)
{
	uint64_t now;
	int rv;

	/* The request was just sent: wait before the first read. */
	for (rv = 0;; rv = dreq_step(q, out, err, errsz)) {
		struct pollfd p = {.fd = dreq_fd(q), .events = POLLIN};

		if (rv != 0)
			break;
		if (imsg_pending(&q->dc->ib))
			p.events |= POLLOUT;
		if ((now = now_ms()) >= q->deadline)
			return timed_out(q, err, errsz);
		/* The deadline may move (HELLO): wake up for it each time. */
		if (poll(&p, 1, (int)(q->deadline - now)) == -1) {
			if (errno == EINTR && !cp_stopped())
				continue;
			q->broken = 1;
			if (errno == EINTR)
				return failf(err, errsz, ECANCELED,
				    CP_STOPPED_MSG);
			return failf(err, errsz, errno, "poll: %s",
			    strerror(errno));
		}
	}
	return rv;
}

int
dreq_fd(const struct dreq *q)
{
	return q->dc != NULL ? q->dc->ib.fd : -1;
}

void
dreq_report_record(struct dreq *q, int record)
{
	struct abuf b;

	if (q->dc == NULL || q->broken || !q->dc->hello_ok ||
	    !(q->dc->features & CP_FEAT_RECORD))
		return;
	/* The request said so, to a daemon that takes that instead. */
	if (q->c.record == record && (q->dc->features & CP_FEAT_RECORD_KNOWN))
		return;
	abuf_init(&b);
	cp_record_encode(&b, record);
	if (compose(q->dc, CP_MSG_RECORD, q->id, &b) == -1 ||
	    imsg_write(&q->dc->ib) == -1)
		q->broken = 1;
}

void
dreq_free(struct dreq *q)
{
	if (q == NULL)
		return;
	if (q->dc != NULL) {
		/* Only a session with nothing left in flight is reusable. */
		if (q->done && !q->broken && q->dc->hello_ok &&
		    !imsg_pending(&q->dc->ib) &&
		    q->dc->ib.rpos == q->dc->ib.rlen) {
			/* Closing efd below drops it from the epoll set. */
			pool_put(q->dc);
			q->dc = NULL;
		} else
			req_detach(q);
	}
	if (q->efd != -1)
		close(q->efd);
	if (q->tfd != -1)
		close(q->tfd);
	if (q->upfd != -1)
		close(q->upfd);
	dreply_clear(&q->rep);
	explicit_bzero(q, sizeof(*q));
	free(q);
}

void
dreply_clear(struct dreply *r)
{
	if (r->fd != -1)
		close(r->fd);
	while (r->nder > 0)
		free(r->der[--r->nder]);
	cp_tls_state_wipe(&r->state);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}
