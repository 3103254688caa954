/* SPDX-License-Identifier: ISC */
/*
 * Fuzz target: the upstream proxy tunnel (daemon/proxy.c) as it sees the
 * proxy's bytes (see README).  The engine's tunnel runs on a real event
 * loop over one end of a socketpair; the harness is the proxy on the
 * other end: it reads and drops whatever the tunnel sends, and answers
 * with the input.
 *
 * The first byte selects:
 *   bit 0     SOCKS 5 (else HTTP CONNECT)
 *   bit 1     the tunnel has credentials (Basic, or RFC 1929)
 *   bit 2     the destination is an IPv6 literal (else a name)
 *   bits 3-5  the answer goes out in chunks of chunks[] bytes, one chunk
 *             per turn of the loop
 * The rest is the proxy's byte stream; after it the proxy closes its
 * sending side.
 *
 * Properties checked besides the sanitizers: the callback comes exactly
 * once and never before proxy_start() returns; its class and errno are
 * among the documented ones and a failure's text names the proxy; a
 * tunnel that is up read not one byte past the answer (what is left in
 * the socket is exactly the rest of the input: an HTTP answer ends with
 * its blank line, within PROXY_MAX_HEADER bytes); it ends within a
 * bounded number of turns; no descriptor leaks.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpproto.h"
#include "ev.h"
#include "proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const size_t chunks[8] = {1, 2, 3, 7, 64, 512, 4096, 65536};

static void
check_at(int cond, const char *what, int line)
{
	if (!cond) {
		fprintf(
		    stderr, "fuzz_proxy.c:%d: check failed: %s\n", line, what);
		abort();
	}
}
#define check(c) check_at((c) != 0, #c, __LINE__)

struct outcome {
	int calls;
	int eclass, err;
	char text[512];
};

static void
done(void *arg, int eclass, int err, const char *text)
{
	struct outcome *o = arg;

	o->calls++;
	o->eclass = eclass;
	o->err = err;
	snprintf(o->text, sizeof(o->text), "%s", text != NULL ? text : "");
}

static int
allowed_errno(int e)
{
	return e == EACCES || e == EPROTO || e == ECONNRESET || e == EIO ||
	       e == EOPNOTSUPP || e == EAFNOSUPPORT || e == EAGAIN ||
	       e == ECONNREFUSED || e == ENETUNREACH || e == EHOSTUNREACH ||
	       e == ETIMEDOUT || e == EPIPE;
}

static void
check_outcome(const struct outcome *o, const char *name)
{
	check(o->calls == 1);
	switch (o->eclass) {
	case CP_E_NONE:
		check(o->err == 0);
		return;
	case CP_E_PROXY:
	case CP_E_REFUSED:
	case CP_E_UNREACH:
	case CP_E_TIMEDOUT:
		break;
	default:
		fprintf(stderr, "eclass %d: %s\n", o->eclass, o->text);
		check(0);
	}
	if (!allowed_errno(o->err)) {
		fprintf(stderr, "errno %d: %s\n", o->err, o->text);
		check(0);
	}
	check(strstr(o->text, name) != NULL);
}

/* What the tunnel sent: read and dropped, as far as there is. */
static void
drain(int fd)
{
	char junk[4096];

	while (recv(fd, junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
}

/* The length of a successful SOCKS 5 answer at p (RFC 1928, RFC 1929):
 * the method reply, the credentials' reply if asked for, the connect
 * reply by its address type; 0 if p[0..n) is none. */
static size_t
socks_answer_len(const uint8_t *p, size_t n)
{
	size_t k = 2, alen;

	if (n < 2 || p[0] != 5 || (p[1] != 0 && p[1] != 2))
		return 0;
	if (p[1] == 2) {
		if (n < 4 || p[2] != 1 || p[3] != 0)
			return 0;
		k = 4;
	}
	if (n < k + 5 || p[k] != 5 || p[k + 1] != 0)
		return 0;
	switch (p[k + 3]) {
	case 1:
		alen = 4;
		break;
	case 4:
		alen = 16;
		break;
	case 3:
		alen = 1 + (size_t)p[k + 4];
		break;
	default:
		return 0;
	}
	return k + 4 + alen + 2;
}

/* The tunnel is up: the socket holds exactly the input past the answer. */
static void
check_rest(int fd, const uint8_t *p, size_t n, size_t sent, int http)
{
	static uint8_t rest[65536 + 16];
	size_t got = 0, used;
	ssize_t r;

	while (got < sizeof(rest) &&
	       (r = recv(fd, rest + got, sizeof(rest) - got, MSG_DONTWAIT)) > 0)
		got += (size_t)r;
	check(got <= sent);
	used = sent - got;
	check(memcmp(rest, p + used, got) == 0);
	if (http) {
		check(used >= 4 && used <= PROXY_MAX_HEADER);
		check(memcmp(p + used - 4, "\r\n\r\n", 4) == 0);
		check(memcmp(p, "HTTP/1.", 7) == 0);
	} else
		check(used == socks_answer_len(p, used));
	(void)n;
}

static int
lowest_free_fd(void)
{
	int fd = dup(0);

	if (fd != -1)
		close(fd);
	return fd;
}

static void
run(const uint8_t *data, size_t size)
{
	static const struct proxy_cred cred = {"user", 4, "pass:word", 9};
	const uint8_t *p = data + 1;
	size_t n = size - 1, sent = 0, step = chunks[(data[0] >> 3) & 7];
	struct proxy_target t;
	struct proxy_tun *tun;
	struct outcome o;
	struct ev *ev;
	int sv[2], turns, closed = 0;
	ssize_t w;

	memset(&o, 0, sizeof(o));
	memset(&t, 0, sizeof(t));
	t.kind = data[0] & 1 ? PROXY_SOCKS5 : PROXY_HTTP;
	t.name = "127.0.0.1:3128";
	t.host = data[0] & 4 ? "2001:db8::7" : "example.com";
	t.port = 443;
	t.cred = data[0] & 2 ? &cred : NULL;
	check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	check(fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0);
	check(fcntl(sv[1], F_SETFL, O_NONBLOCK) == 0);
	check((ev = ev_new()) != NULL);
	tun = proxy_start(ev, sv[0], &t, done, &o);
	check(tun != NULL);
	check(o.calls == 0);
	/* Each turn: the proxy hears, answers a chunk, the loop runs.  The
	 * bound: every turn either sends a byte or ends the input, and after
	 * the end the tunnel has a few turns to see it. */
	for (turns = 0; o.calls == 0; turns++) {
		check(turns < (int)(n / step) + 1000);
		drain(sv[1]);
		if (sent < n) {
			size_t k = n - sent < step ? n - sent : step;

			w = send(
			    sv[1], p + sent, k, MSG_DONTWAIT | MSG_NOSIGNAL);
			check(w > 0 || (w == -1 && errno == EAGAIN));
			if (w > 0)
				sent += (size_t)w;
		} else if (!closed) {
			check(shutdown(sv[1], SHUT_WR) == 0);
			closed = 1;
		}
		check(ev_run_once(ev, 0) != -1);
	}
	/* No second call, whatever else the loop has. */
	check(ev_run_once(ev, 0) != -1);
	check_outcome(&o, t.name);
	/* FUZZ_VERBOSE=1: what became of each input, for writing seeds */
	if (getenv("FUZZ_VERBOSE") != NULL)
		fprintf(stderr,
		    "%s: class %d errno %d, %zu of %zu bytes sent: %s\n",
		    t.kind == PROXY_HTTP ? "http" : "socks5", o.eclass, o.err,
		    sent, n, o.text);
	if (o.eclass == CP_E_NONE)
		check_rest(sv[0], p, n, sent, t.kind == PROXY_HTTP);
	ev_free(ev);
	close(sv[0]);
	close(sv[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int before;

	if (size < 1)
		return 0;
	before = lowest_free_fd();
	run(data, size);
	check(lowest_free_fd() == before);
	return 0;
}
