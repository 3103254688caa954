/* SPDX-License-Identifier: ISC */
/*
 * Happy Eyeballs with retry rounds.  See dial.h.
 *
 * Every exit goes through dial_finish(), which frees the dial before it
 * calls back: a function that may reach it returns right after.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpproto.h"
#include "dial.h"
#include "ev.h"

enum verdict { V_UNCHECKED, V_ALLOWED, V_DENIED };

struct attempt {
	struct ev_io io;
	struct ev_timer tmo;
	struct dial *d;
	size_t idx;
	int fd; /* -1 when idle */
};

struct dial {
	struct ev *ev;
	struct addr_list al;
	struct dial_params p;
	dial_filter *filter;
	dial_cb *cb;
	void *arg;
	uint8_t verdict[CP_MAX_ADDRS];
	struct attempt att[CP_MAX_ADDRS];
	size_t next;       /* next address to start in this round */
	size_t inflight;   /* attempts waiting for the handshake */
	uint32_t round;    /* rounds started */
	uint32_t attempts; /* connect() calls */
	uint64_t start;
	struct ev_timer stagger, round_t, deadline;
	/* The most meaningful failure so far. */
	int eclass, err, deadline_hit;
	size_t eidx; /* its address; CP_MAX_ADDRS if none */
	size_t ndenied;
	char why[CP_MAX_ERRTEXT / 2]; /* first reason the filter gave */
};

static void start_next(struct dial *);
static int eclass_of(int);

/*
 * History: one slot per address and port, direct-mapped by a hash, the
 * newest outcome taking the slot.  Bounded by construction; an outcome
 * older than DIAL_HIST_TTL_MS counts for nothing.  Per engine process.
 */
struct hist {
	uint8_t addr[16];
	uint16_t port;
	uint8_t family; /* 0: empty */
	uint8_t failed;
	uint64_t when; /* ev_clock_ms() of the outcome */
};

static struct hist hist[DIAL_HIST_SLOTS];
static uint64_t nreordered;
static uint32_t hist_ttl_ms = DIAL_HIST_TTL_MS;

static void
hist_key(const struct sockaddr_storage *ss, struct hist *k)
{
	memset(k, 0, sizeof(*k));
	k->family = (uint8_t)ss->ss_family;
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		memcpy(k->addr, &s6->sin6_addr, 16);
		k->port = s6->sin6_port;
	} else {
		const struct sockaddr_in *s4 = (const void *)ss;

		memcpy(k->addr, &s4->sin_addr, 4);
		k->port = s4->sin_port;
	}
}

static struct hist *
hist_slot(const struct hist *k)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	size_t i;

	for (i = 0; i < sizeof(k->addr); i++)
		h = (h ^ k->addr[i]) * 16777619u;
	h = (h ^ k->port) * 16777619u;
	h = (h ^ k->family) * 16777619u;
	return &hist[h % DIAL_HIST_SLOTS];
}

static void
hist_note(const struct sockaddr_storage *ss, int failed)
{
	struct hist k, *h;

	hist_key(ss, &k);
	h = hist_slot(&k);
	*h = k;
	h->failed = (uint8_t)failed;
	h->when = ev_clock_ms();
}

static int
hist_failed(const struct sockaddr_storage *ss, uint64_t now)
{
	struct hist k, *h;

	hist_key(ss, &k);
	h = hist_slot(&k);
	return h->family == k.family && h->port == k.port &&
	       memcmp(h->addr, k.addr, sizeof(k.addr)) == 0 && h->failed &&
	       now - h->when < hist_ttl_ms;
}

/* Addresses that failed recently go last, the others keeping their
 * order (a stable partition). */
static void
hist_order(struct addr_list *al, uint64_t now)
{
	struct addr_list tmp;
	uint8_t bad[CP_MAX_ADDRS];
	size_t i, n = 0, nbad = 0;

	for (i = 0; i < al->n; i++)
		nbad += bad[i] = (uint8_t)hist_failed(&al->a[i], now);
	if (nbad == 0 || nbad == al->n)
		return;
	for (i = 0; i < al->n && !bad[i]; i++)
		;
	if (i == al->n - nbad)
		return; /* the failed ones are last already */
	tmp.n = al->n;
	for (i = 0; i < al->n; i++)
		if (!bad[i]) {
			tmp.a[n] = al->a[i];
			tmp.len[n++] = al->len[i];
		}
	for (i = 0; i < al->n; i++)
		if (bad[i]) {
			tmp.a[n] = al->a[i];
			tmp.len[n++] = al->len[i];
		}
	memcpy(al->a, tmp.a, al->n * sizeof(al->a[0]));
	memcpy(al->len, tmp.len, al->n * sizeof(al->len[0]));
	nreordered++;
}

/* What an attempt's end says about its address: a local shortage
 * (descriptors, memory) says nothing. */
static void
hist_attempt(const struct dial *d, size_t idx, int err)
{
	if (err == 0 || eclass_of(err) != CP_E_INTERNAL)
		hist_note(&d->al.a[idx], err != 0);
}

uint64_t
dial_reordered(void)
{
	return nreordered;
}

#ifdef CP_TEST_HOOKS
void
dial_history_reset(uint32_t ttl_ms)
{
	memset(hist, 0, sizeof(hist));
	hist_ttl_ms = ttl_ms;
}
#endif

static int
eclass_of(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return CP_E_REFUSED;
	case ETIMEDOUT:
		return CP_E_TIMEDOUT;
	case EMFILE:
	case ENFILE:
	case ENOMEM:
	case ENOBUFS:
		return CP_E_INTERNAL;
	default: /* ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL, ... */
		return CP_E_UNREACH;
	}
}

/* A refusal proves the host is there; a timeout that a route exists. */
static int
rank(int eclass)
{
	switch (eclass) {
	case CP_E_REFUSED:
		return 4;
	case CP_E_TIMEDOUT:
		return 3;
	case CP_E_UNREACH:
		return 2;
	case CP_E_INTERNAL:
		return 1;
	default:
		return 0;
	}
}

/* Keep the most meaningful failure; among equals the latest. */
static void
note_error(struct dial *d, size_t idx, int err)
{
	int ec = eclass_of(err);

	if (d->eclass != CP_E_NONE && rank(ec) < rank(d->eclass))
		return;
	d->eclass = ec;
	d->err = err;
	d->eidx = idx;
}

static void
fmt_addr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(s4->sin_port));
	}
}

/* Attempts. */

static void
attempt_close(struct dial *d, struct attempt *at)
{
	if (at->fd == -1)
		return;
	ev_io_stop(d->ev, &at->io);
	ev_timer_stop(d->ev, &at->tmo);
	close(at->fd);
	at->fd = -1;
	d->inflight--;
}

static void
dial_release(struct dial *d)
{
	size_t i;

	for (i = 0; i < d->al.n; i++)
		attempt_close(d, &d->att[i]);
	ev_timer_stop(d->ev, &d->stagger);
	ev_timer_stop(d->ev, &d->round_t);
	ev_timer_stop(d->ev, &d->deadline);
	free(d);
}

static void
fail_text(struct dial *d, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN + 16];
	size_t n;

	if (d->eidx >= d->al.n) {
		snprintf(buf, len, "no address allowed: %s", d->why);
		return;
	}
	fmt_addr(&d->al.a[d->eidx], addr, sizeof(addr));
	snprintf(buf, len, "connect to %s failed: %s (%u attempt%s)", addr,
	    strerror(d->err), d->attempts, d->attempts == 1 ? "" : "s");
	n = strlen(buf);
	if (d->deadline_hit && n < len)
		n += (size_t)snprintf(buf + n, len - n,
		    "; deadline of %u ms reached", d->p.timeout_ms);
	if (d->ndenied > 0 && n < len)
		snprintf(buf + n, len - n, "; %zu address%s denied: %s",
		    d->ndenied, d->ndenied == 1 ? "" : "es", d->why);
}

/* Report failure: the dial is gone when the callback runs. */
static void
dial_fail(struct dial *d)
{
	char text[CP_MAX_ERRTEXT];
	struct sockaddr_storage ss;
	socklen_t len = 0;
	dial_cb *cb = d->cb;
	void *arg = d->arg;
	uint32_t attempts = d->attempts;
	int eclass = d->eclass, err = d->err;

	if (d->eclass == CP_E_NONE) { /* nothing tried: all denied */
		eclass = CP_E_DENIED;
		err = EACCES;
	}
	fail_text(d, text, sizeof(text));
	if (d->eidx < d->al.n) {
		ss = d->al.a[d->eidx];
		len = d->al.len[d->eidx];
	}
	dial_release(d);
	cb(arg, -1, len ? (struct sockaddr *)&ss : NULL, len, eclass, err, text,
	    attempts);
}

static void
dial_win(struct dial *d, struct attempt *at)
{
	struct sockaddr_storage ss = d->al.a[at->idx];
	socklen_t len = d->al.len[at->idx];
	dial_cb *cb = d->cb;
	void *arg = d->arg;
	uint32_t attempts = d->attempts;
	int fd = at->fd;

	hist_attempt(d, at->idx, 0);
	/* Detach the winner; release closes the losers. */
	ev_io_stop(d->ev, &at->io);
	ev_timer_stop(d->ev, &at->tmo);
	at->fd = -1;
	d->inflight--;
	dial_release(d);
	cb(arg, fd, (struct sockaddr *)&ss, len, CP_E_NONE, 0, "", attempts);
}

/* A loopback connect can meet itself (simultaneous open on its own
 * ephemeral port) when nothing listens: that is a refusal. */
static int
self_connected(int fd, const struct sockaddr *dst)
{
	struct sockaddr_storage a;
	socklen_t la = sizeof(a);

	if (getsockname(fd, (struct sockaddr *)&a, &la) == -1 ||
	    a.ss_family != dst->sa_family)
		return 0;
	if (dst->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)&a, *y = (const void *)dst;

		return x->sin_port == y->sin_port &&
		    x->sin_addr.s_addr == y->sin_addr.s_addr;
	} else {
		const struct sockaddr_in6 *x = (const void *)&a, *y = (const void *)dst;

		return x->sin6_port == y->sin6_port &&
		    memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
	}
}

/* The result of a finished connect: SO_ERROR when poll said error (a
 * writable socket without one is connected: no system call for it),
 * ECONNREFUSED for a self-connect. */
static int
connect_result(int fd, const struct sockaddr *dst, int error_seen)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (error_seen &&
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err == 0 && self_connected(fd, dst))
		err = ECONNREFUSED;
	return err;
}

static void
attempt_failed(struct dial *d, struct attempt *at, int err)
{
	note_error(d, at->idx, err);
	hist_attempt(d, at->idx, err);
	attempt_close(d, at);
	/* Do not wait out the stagger: start the next address now. */
	ev_timer_stop(d->ev, &d->stagger);
	start_next(d);
}

static void
attempt_ready(struct ev_io *io, uint32_t revents)
{
	struct attempt *at = io->arg;
	int err;

	err = connect_result(at->fd,
	    (const struct sockaddr *)&at->d->al.a[at->idx],
	    (revents & (EPOLLERR | EPOLLHUP)) != 0);
	if (err == 0 && !(revents & EPOLLOUT))
		err = ECONNRESET;
	if (err != 0)
		attempt_failed(at->d, at, err);
	else
		dial_win(at->d, at);
}

static void
attempt_timeout(struct ev_timer *t)
{
	struct attempt *at = t->arg;

	attempt_failed(at->d, at, ETIMEDOUT);
}

/* 1 connected at once, 0 in flight, -1 failed (noted). */
static int
attempt_open(struct dial *d, size_t i)
{
	struct attempt *at = &d->att[i];
	const struct sockaddr *sa = (const struct sockaddr *)&d->al.a[i];
	struct pollfd pfd;
	int fd;

	fd = socket(
	    sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		note_error(d, i, errno);
		hist_attempt(d, i, errno);
		return -1;
	}
	at->fd = fd;
	d->inflight++;
	d->attempts++;
	if (connect(fd, sa, d->al.len[i]) == 0)
		return 1;
	if (errno != EINPROGRESS && errno != EINTR) {
		note_error(d, i, errno);
		hist_attempt(d, i, errno);
		attempt_close(d, at);
		return -1;
	}
	/* On loopback and fast links the handshake is often over already:
	 * one poll() instead of registering, waiting and unregistering. */
	pfd = (struct pollfd){.fd = fd, .events = POLLOUT};
	if (poll(&pfd, 1, 0) == 1) {
		int err = connect_result(
		    fd, sa, (pfd.revents & (POLLERR | POLLHUP)) != 0);

		if (err == 0)
			return 1;
		note_error(d, i, err);
		hist_attempt(d, i, err);
		attempt_close(d, at);
		return -1;
	}
	if (ev_io_start(d->ev, &at->io, fd, EPOLLOUT, attempt_ready, at) == 0 &&
	    ev_timer_start(d->ev, &at->tmo, d->p.connect_timeout_ms) == 0)
		return 0;
	note_error(d, i, errno);
	attempt_close(d, at);
	return -1;
}

static int
allowed(struct dial *d, size_t i)
{
	char why[sizeof(d->why)] = "denied by policy";

	if (d->verdict[i] == V_UNCHECKED) {
		d->verdict[i] = V_ALLOWED;
		if (d->filter != NULL &&
		    d->filter(d->arg, (struct sockaddr *)&d->al.a[i],
		        d->al.len[i], why, sizeof(why)) != 0) {
			d->verdict[i] = V_DENIED;
			if (d->ndenied++ == 0)
				snprintf(d->why, sizeof(d->why), "%s", why);
		}
	}
	return d->verdict[i] == V_ALLOWED;
}

static uint64_t
backoff_ms(const struct dial *d)
{
	uint64_t ms = d->p.retry_delay_ms;
	uint32_t k;

	/* Round r waits delay * 2^(r-1). */
	for (k = 1; k < d->round && ms < DIAL_BACKOFF_MAX_MS; k++)
		ms *= 2;
	return ms > DIAL_BACKOFF_MAX_MS ? DIAL_BACKOFF_MAX_MS : ms;
}

static void
round_over(struct dial *d)
{
	uint64_t wait, now = ev_clock_ms();

	if (d->ndenied == d->al.n || d->round > d->p.retries) {
		dial_fail(d);
		return;
	}
	wait = backoff_ms(d);
	/* A round that would start after the deadline is not worth it. */
	if (now + wait >= d->start + d->p.timeout_ms ||
	    ev_timer_start(d->ev, &d->round_t, wait) == -1)
		dial_fail(d);
}

static void
start_next(struct dial *d)
{
	size_t i;
	int r;

	while (d->next < d->al.n) {
		i = d->next++;
		if (!allowed(d, i))
			continue;
		if ((r = attempt_open(d, i)) == 1) {
			dial_win(d, &d->att[i]);
			return;
		}
		if (r == 0) {
			if (d->next < d->al.n &&
			    ev_timer_start(
			        d->ev, &d->stagger, d->p.stagger_ms) == -1)
				continue; /* cannot wait: start it now */
			return;
		}
	}
	if (d->inflight == 0)
		round_over(d);
}

static void
stagger_fired(struct ev_timer *t)
{
	start_next(t->arg);
}

static void
round_fired(struct ev_timer *t)
{
	struct dial *d = t->arg;

	d->round++;
	d->next = 0;
	start_next(d);
}

static void
deadline_fired(struct ev_timer *t)
{
	struct dial *d = t->arg;
	size_t i;

	d->deadline_hit = 1;
	for (i = 0; i < d->al.n; i++)
		if (d->att[i].fd != -1)
			note_error(d, i, ETIMEDOUT);
	if (d->eclass == CP_E_NONE) /* still waiting for the first try */
		note_error(d, 0, ETIMEDOUT);
	dial_fail(d);
}

static void
params_fix(struct dial_params *p)
{
	if (p->retries > DIAL_MAX_RETRIES)
		p->retries = DIAL_MAX_RETRIES;
	if (p->connect_timeout_ms == 0)
		p->connect_timeout_ms = DIAL_DEFAULT_CONNECT_TIMEOUT_MS;
	if (p->timeout_ms == 0)
		p->timeout_ms = DIAL_DEFAULT_TIMEOUT_MS;
	if (p->stagger_ms == 0)
		p->stagger_ms = DIAL_STAGGER_DEFAULT_MS;
	if (p->stagger_ms < DIAL_STAGGER_MIN_MS)
		p->stagger_ms = DIAL_STAGGER_MIN_MS;
	if (p->stagger_ms > DIAL_STAGGER_MAX_MS)
		p->stagger_ms = DIAL_STAGGER_MAX_MS;
}

static int
addrs_ok(const struct addr_list *al)
{
	size_t i;

	if (al == NULL || al->n == 0 || al->n > CP_MAX_ADDRS)
		return 0;
	for (i = 0; i < al->n; i++) {
		int af = al->a[i].ss_family;

		if (!(af == AF_INET &&
		        al->len[i] == sizeof(struct sockaddr_in)) &&
		    !(af == AF_INET6 &&
		        al->len[i] == sizeof(struct sockaddr_in6)))
			return 0;
	}
	return 1;
}

struct dial *
dial_start(struct ev *ev, const struct addr_list *al,
    const struct dial_params *p, dial_filter *filter, dial_cb *cb, void *arg)
{
	struct dial *d;
	size_t i;

	if (!addrs_ok(al) || p == NULL || cb == NULL) {
		errno = EINVAL;
		return NULL;
	}
	/* Not calloc: of the 4 KiB, only what this dial uses is set. */
	if ((d = malloc(sizeof(*d))) == NULL)
		return NULL;
	d->ev = ev;
	d->al.n = al->n;
	memcpy(d->al.a, al->a, al->n * sizeof(al->a[0]));
	memcpy(d->al.len, al->len, al->n * sizeof(al->len[0]));
	d->p = *p;
	params_fix(&d->p);
	d->filter = filter;
	d->cb = cb;
	d->arg = arg;
	memset(d->verdict, V_UNCHECKED, sizeof(d->verdict));
	d->next = d->inflight = 0;
	d->round = d->attempts = 0;
	d->eclass = CP_E_NONE;
	d->err = d->deadline_hit = 0;
	d->eidx = CP_MAX_ADDRS;
	d->ndenied = 0;
	d->why[0] = '\0';
	d->start = ev_clock_ms();
	hist_order(&d->al, d->start);
	for (i = 0; i < al->n; i++) {
		d->att[i] = (struct attempt){.d = d, .idx = i, .fd = -1};
		ev_timer_init(&d->att[i].tmo, attempt_timeout, &d->att[i]);
	}
	/* ev_timer_init() wants zeroed (or stopped) timers. */
	d->stagger = d->round_t = d->deadline = (struct ev_timer){0};
	ev_timer_init(&d->stagger, stagger_fired, d);
	ev_timer_init(&d->round_t, round_fired, d);
	ev_timer_init(&d->deadline, deadline_fired, d);
	/* The first round starts from the loop: no callback before we
	 * return, whatever happens to the first connect(). */
	if (ev_timer_start(ev, &d->round_t, 0) == -1 ||
	    ev_timer_start(ev, &d->deadline, d->p.timeout_ms) == -1) {
		dial_release(d);
		errno = ENOMEM;
		return NULL;
	}
	return d;
}

void
dial_cancel(struct dial *d)
{
	if (d != NULL)
		dial_release(d);
}
