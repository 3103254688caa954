/* SPDX-License-Identifier: ISC */
/*
 * Test DNS responder: one thread, one UDP socket on 127.0.0.1, a queue of
 * delayed answers.  See fakedns.h.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "fakedns.h"

#define DNS_HDR 12
#define DNS_MAXMSG 512
#define DNS_MAXNAME 255
#define FD_PENDING 256

struct frec {
	char name[DNS_MAXNAME + 1];
	uint16_t type;
	int has_addr;
	uint8_t addr[16];
	int delay_ms;
	unsigned queries;
};

struct pending {
	uint64_t due;
	struct sockaddr_in to;
	size_t len;
	uint8_t buf[DNS_MAXMSG];
};

struct fakedns {
	int fd;
	int wake[2];
	pthread_t thr;
	pthread_mutex_t mu; /* counters */
	struct frec *recs;
	size_t nrecs;
	unsigned queries, malformed;
	struct pending *q;
	size_t nq;
	char servers[32];
};

/* A parsed question. */
struct question {
	char name[DNS_MAXNAME + 1];
	uint16_t type, id, flags;
	size_t end; /* offset just past the question */
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

/* Uncompressed name at off; dotted form into name.  -1 if malformed. */
static int
parse_name(const uint8_t *m, size_t len, size_t *off, char *name)
{
	size_t o = *off, nl = 0, wire = 1; /* the root label */
	uint8_t l;

	while (o < len && (l = m[o++]) != 0) {
		wire += 1 + (size_t)l;
		/* No compression in a question, no oversized names. */
		if (l > 63 || o + l > len || wire > DNS_MAXNAME)
			return -1;
		if (nl > 0)
			name[nl++] = '.';
		if (memchr(m + o, '\0', l) != NULL ||
		    memchr(m + o, '.', l) != NULL)
			return -1;
		memcpy(name + nl, m + o, l);
		nl += l;
		o += l;
	}
	if (o > len || m[o - 1] != 0 || nl == 0)
		return -1;
	name[nl] = '\0';
	*off = o;
	return 0;
}

static int
parse_query(const uint8_t *m, size_t len, struct question *q)
{
	size_t off = DNS_HDR;

	if (len < DNS_HDR || len > DNS_MAXMSG)
		return -1;
	q->id = get16(m);
	q->flags = get16(m + 2);
	/* A query (QR 0), opcode QUERY, one question, nothing else but an
	 * optional EDNS record. */
	if ((q->flags & 0x8000) || ((q->flags >> 11) & 0xf) != 0 ||
	    get16(m + 4) != 1 || get16(m + 6) != 0 || get16(m + 8) != 0 ||
	    get16(m + 10) > 1)
		return -1;
	if (parse_name(m, len, &off, q->name) == -1 || off + 4 > len)
		return -1;
	q->type = get16(m + off);
	if (get16(m + off + 2) != 1) /* class IN */
		return -1;
	q->end = off + 4;
	return 0;
}

static size_t
rdlen(uint16_t type)
{
	return type == FAKEDNS_AAAA ? 16 : 4;
}

/* Build the answer; returns its delay, or FAKEDNS_NEVER. */
static int
build_answer(struct fakedns *d, const uint8_t *m, const struct question *q,
    uint8_t *out, size_t *outlen)
{
	size_t i, o = q->end, an = 0;
	int known = 0, rcode = 0, delay = 0;

	memcpy(out, m, q->end);
	put16(out + 6, 0);
	put16(out + 8, 0);
	put16(out + 10, 0);
	pthread_mutex_lock(&d->mu);
	for (i = 0; i < d->nrecs; i++) {
		struct frec *r = &d->recs[i];

		if (strcasecmp(r->name, q->name) != 0)
			continue;
		if (!known++)
			r->queries++;
		if (r->type == FAKEDNS_SERVFAIL || r->type == FAKEDNS_REFUSED)
			rcode = r->type & 0xff;
		else if (r->type != q->type)
			continue;
		if (r->delay_ms == FAKEDNS_NEVER || delay == FAKEDNS_NEVER)
			delay = FAKEDNS_NEVER;
		else if (r->delay_ms > delay)
			delay = r->delay_ms;
		if (!r->has_addr || rcode != 0 ||
		    o + 12 + rdlen(r->type) > DNS_MAXMSG)
			continue;
		put16(out + o, 0xc00c); /* the question's name */
		put16(out + o + 2, r->type);
		put16(out + o + 4, 1);
		put16(out + o + 6, 0);
		put16(out + o + 8, 60);
		put16(out + o + 10, (uint16_t)rdlen(r->type));
		memcpy(out + o + 12, r->addr, rdlen(r->type));
		o += 12 + rdlen(r->type);
		an++;
	}
	pthread_mutex_unlock(&d->mu);
	if (!known)
		rcode = 3; /* NXDOMAIN */
	if (rcode != 0) {
		o = q->end;
		an = 0;
	}
	/* QR, AA, RD as asked, RA. */
	put16(out + 2,
	    (uint16_t)(0x8000 | 0x0400 | (q->flags & 0x0100) | 0x0080 | rcode));
	put16(out + 6, (uint16_t)an);
	*outlen = o;
	return delay;
}

static void
send_due(struct fakedns *d, int all_now)
{
	uint64_t t = now_ms();
	size_t i = 0;

	while (i < d->nq) {
		struct pending *p = &d->q[i];

		if (!all_now && p->due > t) {
			i++;
			continue;
		}
		sendto(d->fd, p->buf, p->len, 0, (struct sockaddr *)&p->to,
		    sizeof(p->to));
		d->q[i] = d->q[--d->nq];
	}
}

static void
handle_packet(struct fakedns *d, const uint8_t *m, size_t len,
    const struct sockaddr_in *from)
{
	struct question q;
	struct pending *p;
	int delay;

	if (parse_query(m, len, &q) == -1) {
		pthread_mutex_lock(&d->mu);
		d->malformed++;
		pthread_mutex_unlock(&d->mu);
		return;
	}
	pthread_mutex_lock(&d->mu);
	d->queries++;
	pthread_mutex_unlock(&d->mu);
	if (d->nq == FD_PENDING)
		return; /* as if lost */
	p = &d->q[d->nq];
	if ((delay = build_answer(d, m, &q, p->buf, &p->len)) == FAKEDNS_NEVER)
		return;
	p->to = *from;
	p->due = now_ms() + (uint64_t)delay;
	d->nq++;
}

static int
poll_timeout(const struct fakedns *d)
{
	uint64_t t = now_ms(), first = UINT64_MAX;
	size_t i;

	for (i = 0; i < d->nq; i++)
		if (d->q[i].due < first)
			first = d->q[i].due;
	if (first == UINT64_MAX)
		return -1;
	return first <= t ? 0 : (int)(first - t);
}

static void *
serve(void *arg)
{
	struct fakedns *d = arg;
	struct pollfd pfd[2];
	struct sockaddr_in from;
	socklen_t flen;
	uint8_t m[DNS_MAXMSG + 1];
	ssize_t n;

	pfd[0] = (struct pollfd){.fd = d->fd, .events = POLLIN};
	pfd[1] = (struct pollfd){.fd = d->wake[0], .events = POLLIN};
	for (;;) {
		if (poll(pfd, 2, poll_timeout(d)) == -1 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		send_due(d, 0);
		if (!(pfd[0].revents & POLLIN))
			continue;
		flen = sizeof(from);
		n = recvfrom(
		    d->fd, m, sizeof(m), 0, (struct sockaddr *)&from, &flen);
		if (n > 0 && flen == sizeof(from))
			handle_packet(d, m, (size_t)n, &from);
		send_due(d, 0);
	}
	return NULL;
}

static int
copy_table(struct fakedns *d, const struct fakedns_rec *t, size_t n)
{
	size_t i;

	if (n > FAKEDNS_MAX_RECS || (n > 0 && t == NULL))
		return -1;
	if ((d->recs = calloc(n ? n : 1, sizeof(*d->recs))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		struct frec *r = &d->recs[i];
		int af = t[i].type == FAKEDNS_AAAA ? AF_INET6 : AF_INET;

		if (t[i].name == NULL || strlen(t[i].name) > DNS_MAXNAME ||
		    t[i].delay_ms < FAKEDNS_NEVER)
			return -1;
		strcpy(r->name, t[i].name);
		r->type = t[i].type;
		r->delay_ms = t[i].delay_ms;
		if (t[i].addr != NULL) {
			if (inet_pton(af, t[i].addr, r->addr) != 1)
				return -1;
			r->has_addr = 1;
		}
	}
	d->nrecs = n;
	return 0;
}

static int
open_socket(struct fakedns *d, uint16_t *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	if ((d->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(d->fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(d->fd, (struct sockaddr *)&sin, &len) == -1)
		return -1;
	*port = ntohs(sin.sin_port);
	snprintf(
	    d->servers, sizeof(d->servers), "127.0.0.1:%u", (unsigned)*port);
	return 0;
}

static void
release(struct fakedns *d)
{
	if (d->fd != -1)
		close(d->fd);
	if (d->wake[0] != -1) {
		close(d->wake[0]);
		close(d->wake[1]);
	}
	pthread_mutex_destroy(&d->mu);
	free(d->recs);
	free(d->q);
	free(d);
}

int
fakedns_start(struct fakedns **dp, const struct fakedns_rec *table, size_t n,
    uint16_t *port)
{
	struct fakedns *d;
	uint16_t p = 0;
	int e;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return -1;
	d->fd = d->wake[0] = d->wake[1] = -1;
	pthread_mutex_init(&d->mu, NULL);
	if (copy_table(d, table, n) == -1) {
		release(d);
		errno = EINVAL;
		return -1;
	}
	if ((d->q = calloc(FD_PENDING, sizeof(*d->q))) == NULL ||
	    pipe2(d->wake, O_CLOEXEC) == -1 || open_socket(d, &p) == -1)
		e = errno;
	else
		e = pthread_create(&d->thr, NULL, serve, d);
	if (e != 0) {
		release(d);
		errno = e;
		return -1;
	}
	if (port != NULL)
		*port = p;
	*dp = d;
	return 0;
}

void
fakedns_stop(struct fakedns *d)
{
	if (d == NULL)
		return;
	(void)!write(d->wake[1], "x", 1);
	pthread_join(d->thr, NULL);
	release(d);
}

const char *
fakedns_servers(const struct fakedns *d)
{
	return d->servers;
}

unsigned
fakedns_queries(struct fakedns *d)
{
	unsigned n;

	pthread_mutex_lock(&d->mu);
	n = d->queries;
	pthread_mutex_unlock(&d->mu);
	return n;
}

unsigned
fakedns_queries_for(struct fakedns *d, const char *name)
{
	unsigned n = 0;
	size_t i;

	pthread_mutex_lock(&d->mu);
	for (i = 0; i < d->nrecs; i++)
		if (strcasecmp(d->recs[i].name, name) == 0) {
			n = d->recs[i].queries;
			break;
		}
	pthread_mutex_unlock(&d->mu);
	return n;
}

unsigned
fakedns_malformed(struct fakedns *d)
{
	unsigned n;

	pthread_mutex_lock(&d->mu);
	n = d->malformed;
	pthread_mutex_unlock(&d->mu);
	return n;
}
