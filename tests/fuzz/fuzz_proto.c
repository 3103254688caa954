/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target for the wire protocol (see README).
 *
 * Every input goes through each message decoder directly, and through a
 * real socketpair into imsg_read()/imsg_get(), each frame then going to the
 * decoder its type names.  The first byte selects the mode:
 *   bit 0   the first write carries a descriptor
 *   bit 1   small maxmsg (64) instead of CP_MAX_MSG
 *   bit 2   frames are built with imsg_compose() from (type, len, payload)
 *           records instead of written raw
 *   bits 3+ write chunk size - 1 (1..32 bytes)
 * Properties checked besides the sanitizers: a decoded message encodes to
 * something that decodes to the same struct; no descriptor leaks.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg.h"
#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(int cond)
{
	if (!cond)
		abort();
}

static void
rt_hello(const void *p, size_t len)
{
	struct cp_hello a, b;
	struct abuf ab;

	if (cp_hello_decode(p, len, &a, NULL, 0) == -1)
		return;
	abuf_init(&ab);
	cp_hello_encode(&ab, &a);
	check(!abuf_failed(&ab));
	check(cp_hello_decode(ab.buf, ab.len, &b, NULL, 0) == 0);
	check(memcmp(&a, &b, sizeof(a)) == 0);
	abuf_free(&ab);
}

static void
rt_connect(const void *p, size_t len)
{
	struct cp_connect a, b;
	struct abuf ab;
	char err[128];

	if (cp_connect_decode(p, len, &a, err, sizeof(err)) == -1)
		return;
	abuf_init(&ab);
	cp_connect_encode(&ab, &a);
	check(!abuf_failed(&ab));
	check(cp_connect_decode(ab.buf, ab.len, &b, err, sizeof(err)) == 0);
	check(memcmp(&a, &b, sizeof(a)) == 0);
	check(a.host[0] != '\0' && a.port != 0);
	abuf_free(&ab);
}

static void
rt_result(const void *p, size_t len)
{
	struct cp_result a, b;
	struct abuf ab;
	char err[128];

	if (cp_result_decode(p, len, &a, err, sizeof(err)) == -1)
		return;
	abuf_init(&ab);
	cp_result_encode(&ab, &a);
	check(!abuf_failed(&ab));
	check(cp_result_decode(ab.buf, ab.len, &b, err, sizeof(err)) == 0);
	check(memcmp(&a, &b, sizeof(a)) == 0);
	abuf_free(&ab);
}

static void
rt_tls_state(const void *p, size_t len)
{
	struct cp_tls_state a, b;
	struct abuf ab;
	char err[128];

	if (cp_tls_state_decode(p, len, &a, err, sizeof(err)) == -1)
		return;
	abuf_init(&ab);
	cp_tls_state_encode(&ab, &a);
	check(!abuf_failed(&ab));
	check(cp_tls_state_decode(ab.buf, ab.len, &b, err, sizeof(err)) == 0);
	check(memcmp(&a, &b, sizeof(a)) == 0);
	abuf_free(&ab);
	cp_tls_state_wipe(&a);
	cp_tls_state_wipe(&b);
}

/* A valid certificate or CA_END message is exactly one attribute: the
 * encoder must give back the very same bytes. */
static void
rt_cert(const void *p, size_t len)
{
	const unsigned char *der;
	size_t dlen;
	unsigned char hash[CP_HASH_LEN];
	struct abuf ab;
	char err[128];

	if (cp_cert_decode(p, len, &der, &dlen, err, sizeof(err)) == 0) {
		check(dlen >= 1 && dlen <= CP_MAX_CERT);
		abuf_init(&ab);
		cp_cert_encode(&ab, der, dlen);
		check(ab.len == len && memcmp(ab.buf, p, len) == 0);
		abuf_free(&ab);
	}
	if (cp_ca_end_decode(p, len, hash, err, sizeof(err)) == 0) {
		abuf_init(&ab);
		cp_ca_end_encode(&ab, hash);
		check(ab.len == len && memcmp(ab.buf, p, len) == 0);
		abuf_free(&ab);
	}
}

static void
decode_all(const void *p, size_t len)
{
	rt_hello(p, len);
	rt_connect(p, len);
	rt_result(p, len);
	rt_tls_state(p, len);
	rt_cert(p, len);
}

static void
decode_typed(uint32_t type, const void *p, size_t len)
{
	switch (type) {
	case CP_MSG_HELLO:
		rt_hello(p, len);
		break;
	case CP_MSG_CONNECT:
		rt_connect(p, len);
		break;
	case CP_MSG_RESULT:
		rt_result(p, len);
		break;
	case CP_MSG_TLS_STATE:
		rt_tls_state(p, len);
		break;
	case CP_MSG_CA_CERT:
	case CP_MSG_PEER_CERT:
	case CP_MSG_CA_END:
		rt_cert(p, len);
		break;
	default:
		break;
	}
}

/* Take every complete frame; 0 to go on, -1 once the stream is dead. */
static int
drain(struct imsgbuf *ib)
{
	struct imsg m;
	int r;

	while ((r = imsg_get(ib, &m)) == 1) {
		check(m.hdr.len >= IMSG_HDR_SIZE && m.hdr.len <= ib->maxmsg);
		check(m.datalen == m.hdr.len - IMSG_HDR_SIZE);
		if (m.fd != -1) {
			check(fcntl(m.fd, F_GETFD) & FD_CLOEXEC);
			close(m.fd);
		}
		decode_typed(m.hdr.type, m.data, m.datalen);
	}
	if (r == -1)
		check(errno == EBADMSG || errno == EMSGSIZE);
	return r;
}

static int
send_chunk(int s, const uint8_t *p, size_t len, int fd)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *c;

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = (void *)(uintptr_t)p;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (fd != -1) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(s, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)len
	           ? 0
	           : -1;
}

/* Queue (type, len, payload) records as well-formed frames. */
static void
compose_records(struct imsgbuf *ib, const uint8_t *p, size_t len, int fd)
{
	while (len >= 2) {
		uint32_t type = p[0] & 7;
		size_t n = p[1];

		p += 2;
		len -= 2;
		if (n > len)
			n = len;
		if (imsg_compose(ib, type, 0, 0, fd, p, n) == -1)
			break;
		fd = -1;
		p += n;
		len -= n;
	}
	if (fd != -1)
		close(fd);
}

static void
through_socket(const uint8_t *data, size_t size)
{
	struct imsgbuf tx, rx;
	int sv[2], fd = -1, dead = 0;
	uint8_t mode = data[0];
	size_t chunk = (size_t)(mode >> 3) + 1, off = 0;
	const uint8_t *p = data + 1;
	size_t len = size - 1;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	imsgbuf_init(&tx, sv[0], CP_MAX_MSG);
	imsgbuf_init(&rx, sv[1], (mode & 2) ? 64 : CP_MAX_MSG);
	rx.accept_fds = 1;
	if (mode & 1)
		check((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) != -1);

	if (mode & 4) {
		compose_records(&tx, p, len, fd);
		while (!dead && imsg_pending(&tx)) {
			check(imsg_write(&tx) != -1);
			if (imsg_read(&rx) <= 0 || drain(&rx) == -1)
				dead = 1;
		}
	} else {
		while (!dead && off < len) {
			size_t n = len - off < chunk ? len - off : chunk;

			check(send_chunk(sv[0], p + off, n, fd) == 0);
			if (fd != -1) {
				close(fd);
				fd = -1;
			}
			off += n;
			if (imsg_read(&rx) <= 0 || drain(&rx) == -1)
				dead = 1;
		}
		if (fd != -1)
			close(fd);
	}
	shutdown(sv[0], SHUT_WR);
	while (!dead && imsg_read(&rx) > 0)
		if (drain(&rx) == -1)
			dead = 1;
	if (!dead)
		(void)drain(&rx);
	imsgbuf_clear(&tx);
	imsgbuf_clear(&rx);
	close(sv[0]);
	close(sv[1]);
}

static int
lowest_free_fd(void)
{
	int fd = dup(0);

	if (fd != -1)
		close(fd);
	return fd;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int before;

	decode_all(data, size);
	if (size < 1)
		return 0;
	before = lowest_free_fd();
	through_socket(data, size);
	check(lowest_free_fd() == before); /* no descriptor leaked */
	return 0;
}
