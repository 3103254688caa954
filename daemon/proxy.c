/* SPDX-License-Identifier: ISC */
/*
 * Tunnels through upstream proxies (proxy.h): HTTP CONNECT and SOCKS 5,
 * one non-blocking state machine per tunnel on the engine's loop.
 *
 * Every exit goes through tun_done(), which frees the tunnel before it
 * calls back: a function that may reach it returns right after.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "cpproto.h"
#include "ev.h"
#include "proxy.h"

enum tun_state {
	T_SEND,        /* writing out[] */
	T_HTTP_HEADER, /* reading the answer's header */
	T_SOCKS_METHOD,
	T_SOCKS_AUTH,
	T_SOCKS_REPLY,  /* VER REP RSV ATYP */
	T_SOCKS_DOMLEN, /* the length byte of a domain BND.ADDR */
	T_SOCKS_BOUND,  /* BND.ADDR and BND.PORT, skipped */
};

struct proxy_tun {
	struct ev *ev;
	struct ev_io io;
	int fd;
	struct proxy_target t; /* its host and name point at ours */
	char host[CP_MAX_HOST + 1], name[CP_MAX_PROXY];
	proxy_cb *cb;
	void *arg;
	enum tun_state st, after; /* after: the state once out[] is sent */
	uint8_t out[PROXY_MAX_REQUEST];
	size_t outlen, outoff;
	uint8_t in[PROXY_MAX_HEADER];
	size_t inlen, need; /* SOCKS: bytes wanted in in[] */
};

static void tun_io(struct ev_io *, uint32_t);

static void
tun_release(struct proxy_tun *p)
{
	ev_io_stop(p->ev, &p->io);
	/* The requests carry the credentials. */
	explicit_bzero(p->out, sizeof(p->out));
	explicit_bzero(p->in, sizeof(p->in));
	free(p);
}

static void
tun_done(struct proxy_tun *p, int eclass, int err, const char *text)
{
	proxy_cb *cb = p->cb;
	void *arg = p->arg;

	tun_release(p);
	cb(arg, eclass, err, text);
}

static void __attribute__((format(printf, 4, 5)))
tun_fail(struct proxy_tun *p, int eclass, int err, const char *fmt, ...)
{
	char text[CP_MAX_ERRTEXT];
	va_list ap;
	int n;

	n = snprintf(text, sizeof(text), "proxy %s ", p->t.name);
	if (n < 0 || (size_t)n >= sizeof(text))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(text + n, sizeof(text) - (size_t)n, fmt, ap);
	va_end(ap);
	tun_done(p, eclass, err, text);
}

/* ---- requests ---- */

static int
is_v6(const char *host)
{
	return strchr(host, ':') != NULL;
}

size_t
proxy_http_request(const struct proxy_target *t, char *buf, size_t sz)
{
	unsigned char up[2 * PROXY_MAX_CRED + 2];
	char b64[((sizeof(up) + 2) / 3) * 4 + 1];
	const char *lb = is_v6(t->host) ? "[" : "", *rb = *lb ? "]" : "";
	const struct proxy_cred *c = t->cred;
	int n;

	if (c == NULL || c->ulen == 0) {
		n = snprintf(buf, sz,
		    "CONNECT %s%s%s:%u HTTP/1.1\r\nHost: %s%s%s:%u\r\n\r\n", lb,
		    t->host, rb, t->port, lb, t->host, rb, t->port);
		return n > 0 && (size_t)n < sz ? (size_t)n : 0;
	}
	if (c->ulen > PROXY_MAX_CRED || c->plen > PROXY_MAX_CRED)
		return 0;
	memcpy(up, c->user, c->ulen);
	up[c->ulen] = ':';
	memcpy(up + c->ulen + 1, c->pass, c->plen);
	EVP_EncodeBlock((unsigned char *)b64, up, (int)(c->ulen + 1 + c->plen));
	explicit_bzero(up, sizeof(up));
	n = snprintf(buf, sz,
	    "CONNECT %s%s%s:%u HTTP/1.1\r\nHost: %s%s%s:%u\r\n"
	    "Proxy-Authorization: Basic %s\r\n\r\n",
	    lb, t->host, rb, t->port, lb, t->host, rb, t->port, b64);
	explicit_bzero(b64, sizeof(b64));
	return n > 0 && (size_t)n < sz ? (size_t)n : 0;
}

/* The greeting: no authentication, and username/password when we have
 * credentials. */
static size_t
socks_greeting(const struct proxy_target *t, uint8_t *b)
{
	b[0] = 5;
	if (t->cred == NULL) {
		b[1] = 1;
		b[2] = 0x00;
		return 3;
	}
	b[1] = 2;
	b[2] = 0x00;
	b[3] = 0x02;
	return 4;
}

static size_t
socks_auth(const struct proxy_cred *c, uint8_t *b, size_t sz)
{
	if (c->ulen == 0 || c->ulen > 255 || c->plen == 0 || c->plen > 255 ||
	    3 + c->ulen + c->plen > sz)
		return 0;
	b[0] = 1; /* RFC 1929: the sub-negotiation's version */
	b[1] = (uint8_t)c->ulen;
	memcpy(b + 2, c->user, c->ulen);
	b[2 + c->ulen] = (uint8_t)c->plen;
	memcpy(b + 3 + c->ulen, c->pass, c->plen);
	return 3 + c->ulen + c->plen;
}

size_t
proxy_socks_connect(const struct proxy_target *t, uint8_t *b, size_t sz)
{
	size_t hl = strlen(t->host), n = 4;
	struct in6_addr a6;
	struct in_addr a4;

	if (sz < 4 + 1 + 255 + 2)
		return 0;
	b[0] = 5;
	b[1] = 1; /* CONNECT */
	b[2] = 0;
	if (inet_pton(AF_INET, t->host, &a4) == 1) {
		b[3] = 1;
		memcpy(b + n, &a4, 4);
		n += 4;
	} else if (inet_pton(AF_INET6, t->host, &a6) == 1) {
		b[3] = 4;
		memcpy(b + n, &a6, 16);
		n += 16;
	} else {
		if (hl == 0 || hl > 255)
			return 0;
		b[3] = 3;
		b[n++] = (uint8_t)hl;
		memcpy(b + n, t->host, hl);
		n += hl;
	}
	b[n++] = (uint8_t)(t->port >> 8);
	b[n++] = (uint8_t)t->port;
	return n;
}

/* ---- answers ---- */

static size_t
header_end_from(const char *buf, size_t len, size_t from)
{
	size_t i;

	for (i = from > 3 ? from : 3; i < len; i++)
		if (buf[i] == '\n' && buf[i - 1] == '\r' &&
		    buf[i - 2] == '\n' && buf[i - 3] == '\r')
			return i + 1;
	return 0;
}

#ifdef CP_TEST_HOOKS
size_t
proxy_http_header_end(const char *buf, size_t len)
{
	return header_end_from(buf, len, 0);
}
#endif

/* "HTTP/1.x NNN reason\r\n": the reason may be empty. */
int
proxy_http_status(const char *h, size_t len, char *reason, size_t rsz)
{
	const char *eol = memchr(h, '\n', len), *r;
	size_t o = 0;
	int st;

	if (rsz > 0)
		reason[0] = '\0';
	if (eol == NULL || eol == h || eol[-1] != '\r' || eol - h < 12)
		return -1;
	if (memcmp(h, "HTTP/1.", 7) != 0 || (h[7] != '0' && h[7] != '1') ||
	    h[8] != ' ' || h[9] < '1' || h[9] > '5' || h[10] < '0' ||
	    h[10] > '9' || h[11] < '0' || h[11] > '9')
		return -1;
	st = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
	if (eol - h > 13 && h[12] != ' ')
		return -1;
	for (r = h + 13; r < eol - 1 && o + 1 < rsz && o < 64; r++)
		reason[o++] = *r >= 0x20 && *r < 0x7f ? *r : '?';
	if (rsz > 0)
		reason[o] = '\0';
	return st;
}

/* What we have of a header could still begin a valid one. */
static int
status_line_plausible(const char *h, size_t len)
{
	char reason[8];

	if (memcmp(h, "HTTP/", len < 5 ? len : 5) != 0)
		return 0;
	if (memchr(h, '\n', len) == NULL)
		return 1;
	return proxy_http_status(h, len, reason, sizeof(reason)) != -1;
}

static void
fmt_reason(char *buf, size_t sz, int status, const char *reason)
{
	snprintf(
	    buf, sz, "(HTTP %d%s%s)", status, reason[0] ? " " : "", reason);
}

int
proxy_http_outcome(const struct proxy_target *t, int status, const char *reason,
    int *err, char *text, size_t tsz)
{
	char why[96];

	fmt_reason(why, sizeof(why), status, reason);
	if (status >= 200 && status < 300) {
		*err = 0;
		text[0] = '\0';
		return CP_E_NONE;
	}
	switch (status) {
	case 401: /* what some proxies (tinyproxy) say to bad credentials */
	case 407:
		*err = EACCES;
		snprintf(text, tsz, "proxy %s %s %s", t->name,
		    t->cred != NULL ? "rejected the credentials"
		                    : "requires authentication",
		    why);
		return CP_E_PROXY;
	case 403:
		*err = EACCES;
		snprintf(text, tsz,
		    "proxy %s refused the tunnel to %s port %u %s", t->name,
		    t->host, t->port, why);
		return CP_E_PROXY;
	case 502:
		*err = EHOSTUNREACH;
		snprintf(text, tsz, "proxy %s could not reach %s port %u %s",
		    t->name, t->host, t->port, why);
		return CP_E_UNREACH;
	case 503:
		*err = EAGAIN;
		snprintf(text, tsz, "proxy %s is unavailable %s", t->name, why);
		return CP_E_PROXY;
	case 504:
		*err = ETIMEDOUT;
		snprintf(text, tsz,
		    "proxy %s timed out connecting to %s port %u %s", t->name,
		    t->host, t->port, why);
		return CP_E_TIMEDOUT;
	default:
		*err = EPROTO;
		snprintf(text, tsz,
		    "proxy %s refused the tunnel to %s port %u %s", t->name,
		    t->host, t->port, why);
		return CP_E_PROXY;
	}
}

int
proxy_socks_outcome(const struct proxy_target *t, unsigned rep, int *err,
    char *text, size_t tsz)
{
	static const struct {
		int eclass, err;
		const char *what;
	} m[] = {
	    [1] = {CP_E_PROXY, EIO, "general SOCKS server failure"},
	    [2] = {CP_E_PROXY, EACCES, "connection not allowed by ruleset"},
	    [3] = {CP_E_UNREACH, ENETUNREACH, "network unreachable"},
	    [4] = {CP_E_UNREACH, EHOSTUNREACH, "host unreachable"},
	    [5] = {CP_E_REFUSED, ECONNREFUSED, "connection refused"},
	    [6] = {CP_E_UNREACH, EHOSTUNREACH, "TTL expired"},
	    [7] = {CP_E_PROXY, EOPNOTSUPP, "command not supported"},
	    [8] = {CP_E_PROXY, EAFNOSUPPORT, "address type not supported"},
	};

	if (rep == 0) {
		*err = 0;
		text[0] = '\0';
		return CP_E_NONE;
	}
	if (rep >= sizeof(m) / sizeof(m[0])) {
		*err = EPROTO;
		snprintf(text, tsz,
		    "proxy %s: %s port %u: unknown SOCKS5 reply code %u",
		    t->name, t->host, t->port, rep);
		return CP_E_PROXY;
	}
	*err = m[rep].err;
	snprintf(text, tsz, "proxy %s: %s port %u: %s (SOCKS5 reply %u)",
	    t->name, t->host, t->port, m[rep].what, rep);
	return m[rep].eclass;
}

/* ---- the state machine ---- */

/* Send out[0..len), then read need bytes in state after. */
static void
send_then(struct proxy_tun *p, size_t len, enum tun_state after, size_t need)
{
	p->outlen = len;
	p->outoff = 0;
	p->st = T_SEND;
	p->after = after;
	p->inlen = 0;
	p->need = need;
	if (ev_io_set(p->ev, &p->io, EPOLLOUT) == -1)
		tun_fail(p, CP_E_INTERNAL, errno, "epoll: %s", strerror(errno));
}

static void
expect(struct proxy_tun *p, enum tun_state st, size_t need)
{
	p->st = st;
	p->inlen = 0;
	p->need = need;
}

static void
do_send(struct proxy_tun *p)
{
	ssize_t n;

	while (p->outoff < p->outlen) {
		n = send(p->fd, p->out + p->outoff, p->outlen - p->outoff,
		    MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0) {
			tun_fail(p, CP_E_PROXY, errno ? errno : EIO,
			    "closed the connection: %s", strerror(errno));
			return;
		}
		p->outoff += (size_t)n;
	}
	explicit_bzero(p->out, p->outlen);
	p->st = p->after;
	if (ev_io_set(p->ev, &p->io, EPOLLIN) == -1)
		tun_fail(p, CP_E_INTERNAL, errno, "epoll: %s", strerror(errno));
}

/* Read up to the bytes wanted; 1 when they are all there, 0 to wait, -1
 * when the tunnel ended. */
static int
read_exact(struct proxy_tun *p)
{
	ssize_t n;

	while (p->inlen < p->need) {
		n = recv(p->fd, p->in + p->inlen, p->need - p->inlen, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return 0;
		if (n == 0) {
			tun_fail(p, CP_E_PROXY, ECONNRESET,
			    "closed the connection before its answer");
			return -1;
		}
		if (n == -1) {
			tun_fail(p, CP_E_PROXY, errno, "connection lost: %s",
			    strerror(errno));
			return -1;
		}
		p->inlen += (size_t)n;
	}
	return 1;
}

/*
 * The HTTP answer.  Peek, then take from the socket only the bytes known
 * to be the header: those before the blank line, and the blank line.
 * What follows is the destination's.
 */
static void
http_header(struct proxy_tun *p)
{
	char tmp[PROXY_MAX_HEADER], reason[80], text[CP_MAX_ERRTEXT];
	size_t room = sizeof(p->in) - p->inlen, end, from, take;
	int status, eclass, err;
	ssize_t n;

	if (room == 0) {
		tun_fail(p, CP_E_PROXY, EPROTO,
		    "sent an answer header over %d bytes", PROXY_MAX_HEADER);
		return;
	}
	n = recv(p->fd, tmp, room, MSG_PEEK);
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n == 0) {
		tun_fail(p, CP_E_PROXY, ECONNRESET,
		    "closed the connection before its answer");
		return;
	}
	if (n == -1) {
		tun_fail(p, CP_E_PROXY, errno, "connection lost: %s",
		    strerror(errno));
		return;
	}
	from = p->inlen;
	memcpy(p->in + p->inlen, tmp, (size_t)n);
	/* Only the new bytes can complete the blank line. */
	end = header_end_from((char *)p->in, p->inlen + (size_t)n, from);
	take = end != 0 ? end - from : (size_t)n;
	/* The end lies past what we had: take is at least 1. */
	if (recv(p->fd, tmp, take, 0) != (ssize_t)take) {
		tun_fail(p, CP_E_PROXY, EIO, "answer lost while reading");
		return;
	}
	p->inlen += take;
	if (end == 0) {
		/* Not HTTP at all, or a bad first line: say so now rather
		 * than wait for a blank line that may never come. */
		if (!status_line_plausible((char *)p->in, p->inlen))
			tun_fail(p, CP_E_PROXY, EPROTO,
			    "sent a malformed status line");
		else if (p->inlen == sizeof(p->in))
			tun_fail(p, CP_E_PROXY, EPROTO,
			    "sent an answer header over %d bytes",
			    PROXY_MAX_HEADER);
		return;
	}
	if ((status = proxy_http_status(
	         (char *)p->in, p->inlen, reason, sizeof(reason))) == -1) {
		tun_fail(p, CP_E_PROXY, EPROTO, "sent a malformed status line");
		return;
	}
	/* 1xx before the tunnel is not a thing CONNECT has. */
	if (status < 200) {
		tun_fail(p, CP_E_PROXY, EPROTO,
		    "sent an interim answer (HTTP %d) to CONNECT", status);
		return;
	}
	eclass =
	    proxy_http_outcome(&p->t, status, reason, &err, text, sizeof(text));
	tun_done(p, eclass, err, text);
}

static void
socks_connect_req(struct proxy_tun *p)
{
	size_t n = proxy_socks_connect(&p->t, p->out, sizeof(p->out));

	if (n == 0) {
		tun_fail(p, CP_E_PROXY, EINVAL, "cannot carry the name %s",
		    p->t.host);
		return;
	}
	send_then(p, n, T_SOCKS_REPLY, 4);
}

static void
socks_method(struct proxy_tun *p)
{
	size_t n;

	if (p->in[0] != 5) {
		tun_fail(p, CP_E_PROXY, EPROTO,
		    "is not a SOCKS5 proxy (version byte 0x%02x)", p->in[0]);
		return;
	}
	if (p->in[1] == 0x00) {
		socks_connect_req(p);
		return;
	}
	if (p->in[1] == 0x02 && p->t.cred != NULL) {
		if ((n = socks_auth(p->t.cred, p->out, sizeof(p->out))) == 0) {
			tun_fail(p, CP_E_PROXY, EINVAL,
			    "credentials of a length SOCKS5 cannot carry");
			return;
		}
		send_then(p, n, T_SOCKS_AUTH, 2);
		return;
	}
	if (p->in[1] == 0xff)
		tun_fail(p, CP_E_PROXY, EACCES, "%s",
		    p->t.cred != NULL ? "accepts none of the offered "
		                        "authentication methods"
		                      : "requires authentication");
	else
		tun_fail(p, CP_E_PROXY, EPROTO,
		    "chose authentication method 0x%02x, which was not offered",
		    p->in[1]);
}

static void
socks_auth_reply(struct proxy_tun *p)
{
	if (p->in[0] != 1) {
		tun_fail(p, CP_E_PROXY, EPROTO,
		    "sent a bad authentication reply (version byte 0x%02x)",
		    p->in[0]);
		return;
	}
	if (p->in[1] != 0) {
		tun_fail(p, CP_E_PROXY, EACCES, "rejected the credentials");
		return;
	}
	socks_connect_req(p);
}

static void
socks_reply(struct proxy_tun *p)
{
	char text[CP_MAX_ERRTEXT];
	int eclass, err;

	if (p->in[0] != 5) {
		tun_fail(p, CP_E_PROXY, EPROTO,
		    "sent a bad reply (version byte 0x%02x)", p->in[0]);
		return;
	}
	if (p->in[1] != 0) {
		eclass = proxy_socks_outcome(
		    &p->t, p->in[1], &err, text, sizeof(text));
		tun_done(p, eclass, err, text);
		return;
	}
	switch (p->in[3]) {
	case 1:
		expect(p, T_SOCKS_BOUND, 4 + 2);
		break;
	case 4:
		expect(p, T_SOCKS_BOUND, 16 + 2);
		break;
	case 3:
		expect(p, T_SOCKS_DOMLEN, 1);
		break;
	default:
		tun_fail(p, CP_E_PROXY, EPROTO,
		    "sent a reply with address type %u", p->in[3]);
	}
}

static void
tun_step(struct proxy_tun *p)
{
	int r;

	if (p->st == T_SEND) {
		do_send(p);
		return;
	}
	if (p->st == T_HTTP_HEADER) {
		http_header(p);
		return;
	}
	if ((r = read_exact(p)) != 1)
		return;
	switch (p->st) {
	case T_SOCKS_METHOD:
		socks_method(p);
		break;
	case T_SOCKS_AUTH:
		socks_auth_reply(p);
		break;
	case T_SOCKS_REPLY:
		socks_reply(p);
		break;
	case T_SOCKS_DOMLEN:
		if (p->in[0] == 0) {
			tun_fail(p, CP_E_PROXY, EPROTO,
			    "sent a reply with an empty bound name");
			return;
		}
		expect(p, T_SOCKS_BOUND, (size_t)p->in[0] + 2);
		break;
	case T_SOCKS_BOUND:
		tun_done(p, CP_E_NONE, 0, "");
		break;
	default:
		break;
	}
}

static void
tun_io(struct ev_io *io, uint32_t revents)
{
	struct proxy_tun *p = io->arg;

	/* An error or hang-up shows in the send or recv that follows. */
	tun_step(p);
}

struct proxy_tun *
proxy_start(struct ev *ev, int fd, const struct proxy_target *t, proxy_cb *cb,
    void *arg)
{
	struct proxy_tun *p;
	size_t n;

	if (t == NULL || t->host == NULL || t->name == NULL || cb == NULL ||
	    (t->kind != PROXY_HTTP && t->kind != PROXY_SOCKS5)) {
		errno = EINVAL;
		return NULL;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->ev = ev;
	p->fd = fd;
	p->t = *t;
	/* The caller's strings may not outlive this call. */
	if (strlen(t->host) >= sizeof(p->host) ||
	    strlen(t->name) >= sizeof(p->name)) {
		tun_release(p);
		errno = EINVAL;
		return NULL;
	}
	memcpy(p->host, t->host, strlen(t->host) + 1);
	memcpy(p->name, t->name, strlen(t->name) + 1);
	p->t.host = p->host;
	p->t.name = p->name;
	p->cb = cb;
	p->arg = arg;
	if (t->kind == PROXY_HTTP) {
		n = proxy_http_request(t, (char *)p->out, sizeof(p->out));
		p->after = T_HTTP_HEADER;
	} else {
		n = socks_greeting(t, p->out);
		p->after = T_SOCKS_METHOD;
		p->need = 2;
	}
	if (n == 0) {
		tun_release(p);
		errno = EINVAL;
		return NULL;
	}
	p->outlen = n;
	p->st = T_SEND;
	/* The first write waits for the loop: no callback before we
	 * return. */
	if (ev_io_start(ev, &p->io, fd, EPOLLOUT, tun_io, p) == -1) {
		tun_release(p);
		return NULL;
	}
	return p;
}

void
proxy_cancel(struct proxy_tun *p)
{
	if (p != NULL)
		tun_release(p);
}
