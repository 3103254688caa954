/* SPDX-License-Identifier: ISC */
/*
 * Hand-made wire-protocol clients for the hostile-client tests.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cpproto.h"
#include "imsg.h"
#include "itest.h"
#include "msg.h"
#include "rawclient.h"

static int
raw_open_flags(const char *sockpath, int flags)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sockpath);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

int
raw_open(const char *sockpath)
{
	return raw_open_flags(sockpath, 0);
}

int
raw_open_nb(const char *sockpath)
{
	return raw_open_flags(sockpath, SOCK_NONBLOCK);
}

int
raw_frame(int fd, uint32_t type, uint32_t id, const void *p, size_t len)
{
	unsigned char buf[IMSG_HDR_SIZE + 4096];
	struct imsg_hdr h = {type, (uint32_t)(IMSG_HDR_SIZE + len), id, 0};

	if (len > sizeof(buf) - IMSG_HDR_SIZE)
		return -1;
	memcpy(buf, &h, sizeof(h));
	if (len > 0)
		memcpy(buf + IMSG_HDR_SIZE, p, len);
	return send(fd, buf, IMSG_HDR_SIZE + len, MSG_NOSIGNAL) ==
	               (ssize_t)(IMSG_HDR_SIZE + len)
	           ? 0
	           : -1;
}

int
raw_hello(int fd)
{
	struct cp_hello h = {.version = CP_PROTO_VERSION};
	struct abuf b;
	int rv;

	abuf_init(&b);
	cp_hello_encode(&b, &h);
	rv = raw_frame(fd, CP_MSG_HELLO, 0, b.buf, b.len);
	abuf_free(&b);
	return rv;
}

int
raw_connect(int fd, uint32_t id, const char *host, uint16_t port, int tls)
{
	struct cp_connect c;
	struct abuf b;
	int rv;

	memset(&c, 0, sizeof(c));
	snprintf(c.host, sizeof(c.host), "%s", host);
	c.port = port;
	c.tls = (uint8_t)tls;
	c.verify = CP_VERIFY_PEER;
	abuf_init(&b);
	cp_connect_encode(&b, &c);
	rv = raw_frame(fd, CP_MSG_CONNECT, id, b.buf, b.len);
	abuf_free(&b);
	return rv;
}

int
rawc_open(struct rawc *c, const char *sockpath, int nonblock)
{
	if ((c->fd = raw_open_flags(sockpath, nonblock ? SOCK_NONBLOCK : 0)) ==
	    -1)
		return -1;
	imsgbuf_init(&c->ib, c->fd, CP_MAX_MSG);
	c->ib.accept_fds = 1;
	return 0;
}

void
rawc_close(struct rawc *c)
{
	imsgbuf_clear(&c->ib);
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
}

/* The next RESULT already buffered: 1, 0 none yet, -1 protocol error. */
static int
next_result(struct rawc *c, struct cp_result *res, uint32_t *id)
{
	struct imsg m;
	int got;

	while ((got = imsg_get(&c->ib, &m)) == 1) {
		if (m.fd != -1)
			close(m.fd);
		if (m.hdr.type == CP_MSG_RESULT &&
		    cp_result_decode(m.data, m.datalen, res, NULL, 0) == 0) {
			if (id != NULL)
				*id = m.hdr.peerid;
			return 1;
		}
	}
	return got;
}

int
rawc_result(struct rawc *c, struct cp_result *res, uint32_t *id, int wait_ms)
{
	uint64_t t0 = tnow_ms();
	int rv;

	while ((rv = next_result(c, res, id)) == 0 &&
	       tnow_ms() - t0 < (uint64_t)wait_ms) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, 50) != 1)
			continue;
		if ((n = imsg_read(&c->ib)) == 0)
			return 0;
		if (n == -1 && errno != EAGAIN && errno != EINTR)
			return -1;
	}
	return rv == 1 ? 1 : -1;
}

int
raw_closed(int fd, int wait_ms)
{
	uint64_t t0 = tnow_ms();
	char buf[4096];

	uint64_t el;

	while ((el = tnow_ms() - t0) < (uint64_t)wait_ms) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int left = wait_ms - (int)el;
		ssize_t n;

		if (poll(&p, 1, left < 50 ? left : 50) != 1)
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
			return 1;
	}
	return 0;
}

int
raw_flush(struct imsgbuf *ib)
{
	struct pollfd pfd = {.fd = ib->fd, .events = POLLOUT};
	int r;

	while ((r = imsg_write(ib)) == 1)
		if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
			return -1;
	return r;
}
