/* SPDX-License-Identifier: ISC */
/*
 * Carrying a socket's settings over to the socket that replaces it.
 *
 * getsockopt() cannot tell a value the program set from the default, so
 * an option is carried over when its value differs from that of a fresh
 * socket of the same family in the same network namespace, probed once
 * per process.  The daemon's socket comes from another namespace with its
 * own defaults: copying defaults would impose ours on it.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pl.h"
#include "sockstate.h"

struct optdef {
	int level, name;
	unsigned len;
	int family;  /* 0: both */
	int doubled; /* the kernel reports twice what was set */
	const char *str;
};

#define INT sizeof(int)
static const struct optdef defs[] = {
    {SOL_SOCKET, SO_KEEPALIVE, INT, 0, 0, "SO_KEEPALIVE"},
    {SOL_SOCKET, SO_RCVBUF, INT, 0, 1, "SO_RCVBUF"},
    {SOL_SOCKET, SO_SNDBUF, INT, 0, 1, "SO_SNDBUF"},
    {SOL_SOCKET, SO_RCVTIMEO, sizeof(struct timeval), 0, 0, "SO_RCVTIMEO"},
    {SOL_SOCKET, SO_SNDTIMEO, sizeof(struct timeval), 0, 0, "SO_SNDTIMEO"},
    {SOL_SOCKET, SO_LINGER, sizeof(struct linger), 0, 0, "SO_LINGER"},
    {SOL_SOCKET, SO_OOBINLINE, INT, 0, 0, "SO_OOBINLINE"},
    {SOL_SOCKET, SO_RCVLOWAT, INT, 0, 0, "SO_RCVLOWAT"},
    {SOL_SOCKET, SO_PRIORITY, INT, 0, 0, "SO_PRIORITY"},
    {IPPROTO_TCP, TCP_NODELAY, INT, 0, 0, "TCP_NODELAY"},
    {IPPROTO_TCP, TCP_CORK, INT, 0, 0, "TCP_CORK"},
    {IPPROTO_TCP, TCP_KEEPIDLE, INT, 0, 0, "TCP_KEEPIDLE"},
    {IPPROTO_TCP, TCP_KEEPINTVL, INT, 0, 0, "TCP_KEEPINTVL"},
    {IPPROTO_TCP, TCP_KEEPCNT, INT, 0, 0, "TCP_KEEPCNT"},
    {IPPROTO_TCP, TCP_USER_TIMEOUT, INT, 0, 0, "TCP_USER_TIMEOUT"},
    {IPPROTO_TCP, TCP_NOTSENT_LOWAT, INT, 0, 0, "TCP_NOTSENT_LOWAT"},
    {IPPROTO_TCP, TCP_CONGESTION, SS_OPTLEN, 0, 0, "TCP_CONGESTION"},
    {IPPROTO_IP, IP_TOS, INT, AF_INET, 0, "IP_TOS"},
    {IPPROTO_IP, IP_TTL, INT, AF_INET, 0, "IP_TTL"},
    {IPPROTO_IPV6, IPV6_TCLASS, INT, AF_INET6, 0, "IPV6_TCLASS"},
    {IPPROTO_IPV6, IPV6_UNICAST_HOPS, INT, AF_INET6, 0, "IPV6_UNICAST_HOPS"},
};
#undef INT
#define NDEFS (sizeof(defs) / sizeof(defs[0]))

_Static_assert(NDEFS <= SS_MAXOPT, "SS_MAXOPT too small");

/* The values of a fresh socket, per family (0: IPv4, 1: IPv6). */
struct defaults {
	int known;
	unsigned char val[NDEFS][SS_OPTLEN];
	int have[NDEFS];
};
static struct defaults fresh[2];
static pthread_once_t fresh_once[2] = {PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT};

static int
applies(const struct optdef *d, int family)
{
	return d->family == 0 || d->family == family;
}

static int
read_opt(int fd, const struct optdef *d, unsigned char *val)
{
	socklen_t len = d->len;

	memset(val, 0, SS_OPTLEN);
	return getsockopt(fd, d->level, d->name, val, &len);
}

static void
probe(int idx)
{
	int family = idx == 0 ? AF_INET : AF_INET6;
	struct defaults *f = &fresh[idx];
	size_t i;
	int fd;

	/* Without a probe every value that is not 0 is carried over. */
	if ((fd = pl_real()->socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0)) ==
	    -1)
		return;
	for (i = 0; i < NDEFS; i++)
		if (applies(&defs[i], family))
			f->have[i] = read_opt(fd, &defs[i], f->val[i]) == 0;
	f->known = 1;
	close(fd);
}

static void
probe4(void)
{
	probe(0);
}

static void
probe6(void)
{
	probe(1);
}

static const struct defaults *
defaults(int family)
{
	int idx = family == AF_INET6;

	pthread_once(&fresh_once[idx], idx ? probe6 : probe4);
	return &fresh[idx];
}

static int
is_default(const struct defaults *f, size_t i, const unsigned char *val)
{
	static const unsigned char zero[SS_OPTLEN];

	if (f->known && f->have[i])
		return memcmp(f->val[i], val, SS_OPTLEN) == 0;
	return memcmp(zero, val, SS_OPTLEN) == 0;
}

static long
tv_ms(const unsigned char *val)
{
	struct timeval tv;

	memcpy(&tv, val, sizeof(tv));
	return (long)tv.tv_sec * 1000 + (long)tv.tv_usec / 1000 +
	       (tv.tv_sec == 0 && tv.tv_usec > 0);
}

/* The daemon hands sockets over with TCP_NODELAY on (cpproto.h); the
 * program gets its own setting, default or not. */
static int
always_carried(const struct optdef *d)
{
	return d->level == IPPROTO_TCP && d->name == TCP_NODELAY;
}

int
ss_save(int fd, int family, struct sockstate *s)
{
	const struct defaults *f = defaults(family);
	unsigned char val[SS_OPTLEN];
	size_t i;
	int fdfl;

	memset(s, 0, sizeof(*s));
	if ((s->fl = fcntl(fd, F_GETFL)) == -1 ||
	    (fdfl = fcntl(fd, F_GETFD)) == -1)
		return -1;
	s->cloexec = (fdfl & FD_CLOEXEC) != 0;
	if (s->fl & O_ASYNC) {
		s->owner = fcntl(fd, F_GETOWN);
		s->sig = fcntl(fd, F_GETSIG);
	}
	for (i = 0; i < NDEFS; i++) {
		if (!applies(&defs[i], family) ||
		    read_opt(fd, &defs[i], val) == -1 ||
		    (is_default(f, i, val) && !always_carried(&defs[i])))
			continue;
		if (defs[i].level == SOL_SOCKET && defs[i].name == SO_SNDTIMEO)
			s->sndtimeo_ms = tv_ms(val);
		s->opt[s->nopt].def = (int)i;
		memcpy(s->opt[s->nopt].val, val, SS_OPTLEN);
		s->nopt++;
	}
	return 0;
}

static int
set_opt(int nfd, const struct optdef *d, const unsigned char *val)
{
	int v;

	if (d->doubled) {
		/* Set half of what the kernel reports: it doubles it again. */
		memcpy(&v, val, sizeof(v));
		v /= 2;
		return setsockopt(nfd, d->level, d->name, &v, sizeof(v));
	}
	if (d->level == IPPROTO_TCP && d->name == TCP_CONGESTION)
		return setsockopt(nfd, d->level, d->name, val,
		    (socklen_t)strnlen((const char *)val, SS_OPTLEN));
	return setsockopt(nfd, d->level, d->name, val, d->len);
}

int
ss_apply(int nfd, const struct sockstate *s, char *what, size_t whatsz)
{
	/* The flags F_SETFL can change. */
	const int settable =
	    O_APPEND | O_ASYNC | O_DIRECT | O_NOATIME | O_NONBLOCK;
	size_t off = 0;
	int i;

	what[0] = '\0';
	for (i = 0; i < s->nopt; i++) {
		const struct optdef *d = &defs[s->opt[i].def];

		if (set_opt(nfd, d, s->opt[i].val) == 0 || off >= whatsz)
			continue;
		off += (size_t)snprintf(what + off, whatsz - off, "%s%s (%s)",
		    off ? ", " : "", d->str, strerror(errno));
	}
	if (s->fl & O_ASYNC) {
		if (fcntl(nfd, F_SETOWN, s->owner) == -1 ||
		    (s->sig != 0 && fcntl(nfd, F_SETSIG, s->sig) == -1))
			return -1;
	}
	if (fcntl(nfd, F_SETFL, s->fl & settable) == -1)
		return -1;
	return 0;
}
