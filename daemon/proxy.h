/* SPDX-License-Identifier: ISC */
/*
 * The tunnel through an upstream proxy, on ev: HTTP CONNECT (RFC 9110
 * section 9.3.6, Basic credentials RFC 7617) or SOCKS 5 (RFC 1928, and
 * RFC 1929 username/password), on a socket already connected to the
 * proxy.
 *
 * Not one byte past the proxy's answer is read: SOCKS 5 replies are read
 * by their exact lengths, the HTTP header is peeked at and only its bytes
 * up to the blank line are consumed.  So what the destination sends first
 * (a banner, or anything a proxy passes on after its "200") stays in the
 * socket for the client, and a TLS handshake that follows reads the
 * server's records from their first byte.
 *
 * Bounds: the answer's size (an HTTP header of at most PROXY_MAX_HEADER
 * bytes, SOCKS 5 replies by their lengths) here; the time by the caller's
 * request deadline.
 */
#ifndef CP_PROXY_H
#define CP_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"

struct ev;
struct proxy_tun;

#define PROXY_MAX_HEADER 8192 /* bytes of an HTTP answer's header */
#define PROXY_MAX_CRED 255    /* bytes of a user name, of a password */
#define PROXY_MAX_REQUEST 2048

/* user:password, for the proxy only; the caller's memory. */
struct proxy_cred {
	const char *user;
	size_t ulen;
	const char *pass;
	size_t plen;
};

struct proxy_target {
	enum proxy_kind kind; /* PROXY_HTTP or PROXY_SOCKS5 */
	const char *name;     /* the proxy "HOST:PORT", for messages */
	const char *host;     /* destination: a name or an address literal */
	uint16_t port;
	const struct proxy_cred *cred; /* NULL: none */
};

/*
 * eclass CP_E_NONE: the tunnel is up, the socket's next byte is the
 * destination's.  Otherwise (the socket is then of no further use):
 *	CP_E_PROXY     the proxy failed or refused: err EACCES (credentials
 *	               wanted or rejected, forbidden by its rules), EPROTO
 *	               (a malformed or oversized answer, a lie), ECONNRESET
 *	               (closed early), EIO, EOPNOTSUPP, EAFNOSUPPORT, EAGAIN
 *	CP_E_REFUSED   the destination refused (SOCKS 5 reply 5)
 *	CP_E_UNREACH   it could not be reached: ENETUNREACH, EHOSTUNREACH
 *	CP_E_TIMEDOUT  the proxy's connect timed out (HTTP 504)
 * errtext names the proxy.  The tunnel is freed before cb runs.
 */
typedef void proxy_cb(void *arg, int eclass, int err, const char *errtext);

/* fd stays the caller's; t's strings are copied, its credentials must
 * outlive the tunnel.  cb is never called before this returns.  NULL with
 * errno (EINVAL, ENOMEM). */
struct proxy_tun *proxy_start(
    struct ev *, int fd, const struct proxy_target *, proxy_cb *cb, void *arg);
/* cb is not called. */
void proxy_cancel(struct proxy_tun *);

/* The pieces, for tests. */

/* The request bytes for t into buf; its length, or 0 if it does not fit
 * or t is unusable.  The caller wipes buf: it may hold the credentials. */
size_t proxy_http_request(const struct proxy_target *t, char *buf, size_t sz);
size_t proxy_socks_connect(
    const struct proxy_target *t, uint8_t *buf, size_t sz);
#ifdef CP_TEST_HOOKS
/* Bytes of an HTTP header complete in buf[0..len) (through its blank
 * line), or 0 if it is not complete yet. */
size_t proxy_http_header_end(const char *buf, size_t len);
#endif
/* The status of a complete header: 100..599, or -1 for a malformed status
 * line; the reason phrase, printable ASCII only, into reason. */
int proxy_http_status(const char *hdr, size_t len, char *reason, size_t rsz);
/* The outcome of an HTTP status and of a SOCKS 5 reply code, as cb gets
 * it; the text names the proxy. */
int proxy_http_outcome(const struct proxy_target *, int status,
    const char *reason, int *err, char *text, size_t tsz);
int proxy_socks_outcome(const struct proxy_target *, unsigned rep, int *err,
    char *text, size_t tsz);

#endif
