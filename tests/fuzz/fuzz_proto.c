/* SPDX-License-Identifier: ISC */
/*
 * Fuzz target: the wire protocol as an engine sees client bytes (see
 * README).  Every input goes through each message decoder directly, and
 * through a real socketpair into imsg_read()/imsg_get(), each frame then
 * going to the decoder its type names.
 *
 * The first byte selects the mode:
 *   bit 0     raw mode: the first write carries a descriptor
 *   bit 1     small maxmsg (64) instead of CP_MAX_MSG
 *   bit 2     frames are built with imsg_compose() from records instead
 *             of written raw (see compose_records)
 *   bit 3     the reader refuses descriptors, as the engine does
 *   bits 4-7  raw mode: write chunk size, from chunks[], for the first
 *             SMALL_WRITES writes (then 4 KiB: a byte at a time through
 *             8 KB made an input cost 16,000 system calls, and every frame
 *             header after the first few meets the same code)
 *
 * Both ends are non-blocking and every write is followed by a read, as in
 * the engine's event loop: the writer never waits for buffer space the
 * reader has not been given a chance to free.  (The first version of this
 * harness composed every frame, then wrote them all with a blocking
 * imsg_write() before reading anything; a few thousand small frames fill
 * the socket buffer and it hung in its own write.)
 *
 * Properties checked besides the sanitizers: a decoded message encodes to
 * something that decodes to the same struct; composed frames arrive
 * exactly as composed (type, peerid, pid, payload, descriptor), or the
 * stream fails with the errno the first offending frame calls for; every
 * received descriptor is close-on-exec; no descriptor leaks; the pump
 * never stalls.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg.h"
#include "msg.h"

#define SMALL_MAXMSG 64
#define SMALL_WRITES 256
#define TEST_PID 0x1234u

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const size_t chunks[16] = {
    1, 2, 3, 4, 5, 7, 8, 13, 16, 17, 31, 64, 100, 256, 1024, 4096};

static void
check_at(int cond, const char *what, int line)
{
	if (!cond) {
		fprintf(
		    stderr, "fuzz_proto.c:%d: check failed: %s\n", line, what);
		abort();
	}
}
#define check(c) check_at((c) != 0, #c, __LINE__)

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

	if (cp_connect_decode(p, len, &a, err, sizeof(err)) == -1) {
		check(err[0] != '\0');
		return;
	}
	abuf_init(&ab);
	cp_connect_encode(&ab, &a);
	check(!abuf_failed(&ab));
	check(cp_connect_decode(ab.buf, ab.len, &b, err, sizeof(err)) == 0);
	check(memcmp(&a, &b, sizeof(a)) == 0);
	check(a.host[0] != '\0' && a.port != 0);
	abuf_free(&ab);
}

static void
rt_handshake(const void *p, size_t len)
{
	struct cp_connect a, b;
	struct abuf ab;
	char err[128];

	if (cp_handshake_decode(p, len, &a, err, sizeof(err)) == -1) {
		check(err[0] != '\0');
		return;
	}
	abuf_init(&ab);
	cp_handshake_encode(&ab, &a);
	check(!abuf_failed(&ab));
	check(cp_handshake_decode(ab.buf, ab.len, &b, err, sizeof(err)) == 0);
	check(memcmp(&a, &b, sizeof(a)) == 0);
	check(a.host[0] != '\0' && a.port != 0 && a.tls == 1);
	abuf_free(&ab);
}

static void
rt_result(const void *p, size_t len)
{
	struct cp_result a, b;
	struct abuf ab;
	char err[128];

	if (cp_result_decode(p, len, &a, err, sizeof(err)) == -1) {
		check(err[0] != '\0');
		return;
	}
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

	if (cp_tls_state_decode(p, len, &a, err, sizeof(err)) == -1) {
		check(err[0] != '\0');
		return;
	}
	abuf_init(&ab);
	cp_tls_state_encode(&ab, &a);
	check(!abuf_failed(&ab));
	check(cp_tls_state_decode(ab.buf, ab.len, &b, err, sizeof(err)) == 0);
	check(memcmp(&a, &b, sizeof(a)) == 0);
	abuf_free(&ab);
	cp_tls_state_wipe(&a);
	cp_tls_state_wipe(&b);
}

/* A valid certificate or CA_END message is one attribute, and whatever
 * unknown optional attributes (ATTR_OPTIONAL) the decoder skipped: the
 * encoder gives back the same value, and the very same bytes when nothing
 * was skipped. */
static void
rt_cert(const void *p, size_t len)
{
	const unsigned char *der, *der2;
	size_t dlen, dlen2;
	unsigned char hash[CP_HASH_LEN], hash2[CP_HASH_LEN];
	struct abuf ab;
	char err[128];

	if (cp_cert_decode(p, len, &der, &dlen, err, sizeof(err)) == 0) {
		check(dlen >= 1 && dlen <= CP_MAX_CERT);
		abuf_init(&ab);
		cp_cert_encode(&ab, der, dlen);
		check(cp_cert_decode(ab.buf, ab.len, &der2, &dlen2, err,
		          sizeof(err)) == 0);
		check(dlen2 == dlen && memcmp(der2, der, dlen) == 0);
		check(ab.len <= len);
		check(ab.len < len || memcmp(ab.buf, p, len) == 0);
		abuf_free(&ab);
	}
	if (cp_ca_end_decode(p, len, hash, err, sizeof(err)) == 0) {
		abuf_init(&ab);
		cp_ca_end_encode(&ab, hash);
		check(cp_ca_end_decode(
		          ab.buf, ab.len, hash2, err, sizeof(err)) == 0);
		check(memcmp(hash, hash2, sizeof(hash)) == 0);
		check(ab.len <= len);
		check(ab.len < len || memcmp(ab.buf, p, len) == 0);
		abuf_free(&ab);
	}
}

/* TICKET: one whole NewSessionTicket and a cookie, and back. */
static void
rt_ticket(const void *p, size_t len)
{
	const unsigned char *ck, *m, *ck2, *m2;
	size_t mlen, mlen2;
	struct abuf ab;
	char err[128];

	if (cp_ticket_decode(p, len, &ck, &m, &mlen, err, sizeof(err)) != 0)
		return;
	check(mlen >= 4 && mlen <= CP_MAX_TICKET && m[0] == 4);
	check(((size_t)m[1] << 16 | (size_t)m[2] << 8 | m[3]) == mlen - 4);
	abuf_init(&ab);
	cp_ticket_encode(&ab, ck, m, mlen);
	check(cp_ticket_decode(ab.buf, ab.len, &ck2, &m2, &mlen2, err,
	          sizeof(err)) == 0);
	check(mlen2 == mlen && memcmp(m2, m, mlen) == 0 &&
	      memcmp(ck2, ck, CP_COOKIE_LEN) == 0);
	abuf_free(&ab);
}

/* RECORD: one known record layer, and back. */
static void
rt_record(const void *p, size_t len)
{
	struct abuf ab;
	char err[128];
	int r, r2;

	if (cp_record_decode(p, len, &r, err, sizeof(err)) != 0)
		return;
	check(r > CP_RECORD_UNKNOWN && r < CP_RECORD_MAX);
	check(strcmp(cp_record_str(r), "?") != 0);
	abuf_init(&ab);
	cp_record_encode(&ab, r);
	check(cp_record_decode(ab.buf, ab.len, &r2, err, sizeof(err)) == 0);
	check(r2 == r);
	abuf_free(&ab);
}

static void
decode_all(const void *p, size_t len)
{
	rt_hello(p, len);
	rt_connect(p, len);
	rt_result(p, len);
	rt_tls_state(p, len);
	rt_cert(p, len);
	rt_ticket(p, len);
	rt_record(p, len);
	/* The names the engine logs with must exist for any type. */
	if (len >= 4) {
		uint32_t t;

		memcpy(&t, p, sizeof(t));
		check(cp_msg_str(t) != NULL);
		check(cp_eclass_str((int)(int8_t)t) != NULL);
	}
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
	case CP_MSG_HANDSHAKE:
		rt_handshake(p, len);
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
	case CP_MSG_TICKET:
		rt_ticket(p, len);
		break;
	case CP_MSG_RECORD:
		rt_record(p, len);
		break;
	default:
		break;
	}
}

/* A frame as composed, to compare with what the reader gets. */
struct frame {
	uint32_t type, peerid;
	const uint8_t *p;
	size_t n;
	int fd; /* composed with a descriptor */
};

struct pump {
	struct imsgbuf tx, rx;
	int sv[2];
	int compose;
	/* compose mode: the frames queued, and how many arrived */
	struct frame *f;
	size_t nf, got;
	/* raw mode */
	const uint8_t *p;
	size_t len, off, chunk;
	unsigned writes;
	int fd;   /* raw mode: still to send with the first byte */
	int dead; /* the reader refused the stream: errno below */
	int rerr;
	int eof;
	int shut;
};

static void
claim_fd(int fd)
{
	struct stat st;

	check(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	/* It must be the descriptor we sent: /dev/null. */
	check(fstat(fd, &st) == 0 && S_ISCHR(st.st_mode));
	close(fd);
}

/* Take every complete frame. */
static void
drain(struct pump *pp)
{
	struct imsg m;
	int r;

	while ((r = imsg_get(&pp->rx, &m)) == 1) {
		check(m.hdr.len >= IMSG_HDR_SIZE && m.hdr.len <= pp->rx.maxmsg);
		check(m.datalen == m.hdr.len - IMSG_HDR_SIZE);
		check(pp->rx.accept_fds || m.fd == -1);
		if (pp->compose) {
			const struct frame *e;

			check(pp->got < pp->nf);
			e = &pp->f[pp->got++];
			check(m.hdr.type == e->type);
			check(m.hdr.peerid == e->peerid);
			check(m.hdr.pid == TEST_PID);
			check(m.datalen == e->n);
			check(e->n == 0 || memcmp(m.data, e->p, e->n) == 0);
			check((m.fd != -1) == e->fd);
		}
		if (m.fd != -1)
			claim_fd(m.fd);
		decode_typed(m.hdr.type, m.data, m.datalen);
	}
	if (r == -1) {
		check(errno == EBADMSG || errno == EMSGSIZE);
		pp->dead = 1;
		pp->rerr = errno;
	}
}

static int
devnull(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	check(fd != -1);
	return fd;
}

/*
 * Records of (A, B, payload): type A & 15, a descriptor with the frame if
 * A & 16, payload length B (B * 16 if A & 32, for frames large enough to
 * make the reader grow its buffer), peerid A >> 6.  A length beyond the
 * input is cut short.
 */
static void
compose_records(struct pump *pp, const uint8_t *p, size_t len)
{
	pp->f = calloc(len / 2 + 1, sizeof(*pp->f));
	check(pp->f != NULL);
	while (len >= 2) {
		struct frame *e = &pp->f[pp->nf];
		size_t n = (p[0] & 32) ? (size_t)p[1] * 16 : p[1];

		e->type = p[0] & 15;
		e->fd = (p[0] & 16) != 0;
		e->peerid = p[0] >> 6;
		p += 2;
		len -= 2;
		if (n > len)
			n = len;
		e->p = p;
		e->n = n;
		check(imsg_compose(&pp->tx, e->type, e->peerid, TEST_PID,
		          e->fd ? devnull() : -1, p, n) == 0);
		pp->nf++;
		p += n;
		len -= n;
	}
}

/* Raw mode: one chunk, non-blocking.  1 if bytes went out. */
static int
send_chunk(struct pump *pp)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *c;
	size_t n = pp->len - pp->off;
	ssize_t w;

	if (n > pp->chunk && pp->writes < SMALL_WRITES)
		n = pp->chunk;
	else if (n > 4096)
		n = 4096;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = (void *)(uintptr_t)(pp->p + pp->off);
	iov.iov_len = n;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (pp->fd != -1) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &pp->fd, sizeof(int));
	}
	w = sendmsg(pp->sv[0], &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w == -1) {
		check(errno == EAGAIN);
		return 0;
	}
	if (pp->fd != -1) {
		close(pp->fd);
		pp->fd = -1;
	}
	pp->off += (size_t)w;
	pp->writes++;
	return w > 0;
}

/* One step of the writer: 1 if it made progress. */
static int
write_step(struct pump *pp)
{
	size_t before;

	if (pp->compose) {
		if (!imsg_pending(&pp->tx))
			return 0;
		before = pp->tx.wqueued;
		check(imsg_write(&pp->tx) != -1);
		return pp->tx.wqueued != before;
	}
	if (pp->off == pp->len)
		return 0;
	return send_chunk(pp);
}

static int
write_done(const struct pump *pp)
{
	return pp->compose ? !imsg_pending(&pp->tx) : pp->off == pp->len;
}

/* One step of the reader, as the engine's session_read(): 1 if it made
 * progress. */
static int
read_step(struct pump *pp)
{
	ssize_t n = imsg_read(&pp->rx);

	if (n == -1 && errno == EAGAIN)
		return 0;
	if (n == 0) {
		pp->eof = 1;
		return 1;
	}
	if (n == -1) {
		/* bad descriptor, descriptor limit, or a buffer that
		 * imsg_get() should have emptied */
		check(errno == EBADMSG || errno == EMFILE || errno == EMSGSIZE);
		pp->dead = 1;
		pp->rerr = errno;
		return 1;
	}
	drain(pp);
	return 1;
}

/* Compose mode: what the stream must have done, given the frames. */
static void
check_outcome(const struct pump *pp)
{
	size_t k, big = pp->nf, withfd = pp->nf;

	for (k = 0; k < pp->nf; k++) {
		if (big == pp->nf && IMSG_HDR_SIZE + pp->f[k].n > pp->rx.maxmsg)
			big = k;
		if (withfd == pp->nf && pp->f[k].fd && !pp->rx.accept_fds)
			withfd = k;
	}
	if (big == pp->nf && withfd == pp->nf) {
		check(!pp->dead && pp->eof && pp->got == pp->nf);
		return;
	}
	check(pp->dead);
	/* The read that brings a refused descriptor is refused whole, with
	 * the frames before it that came in the same read: it may even
	 * come with the header of an earlier oversized frame. */
	if (pp->rerr == EBADMSG)
		check(withfd < pp->nf && pp->got <= withfd && pp->got <= big);
	else
		check(pp->rerr == EMSGSIZE && big < withfd && pp->got == big);
}

static void
through_socket(const uint8_t *data, size_t size)
{
	struct pump pp;
	uint8_t mode = data[0];
	int idle = 0, sndbuf = 4096;

	memset(&pp, 0, sizeof(pp));
	pp.fd = -1;
	check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
	          pp.sv) == 0);
	/* A small send buffer: the writer meets a full socket after a few
	 * frames, as with a client that writes faster than the engine reads,
	 * not after thousands (the old hang needed some 3,750). */
	check(setsockopt(pp.sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
	          sizeof(sndbuf)) == 0);
	imsgbuf_init(&pp.tx, pp.sv[0], CP_MAX_MSG);
	imsgbuf_init(&pp.rx, pp.sv[1], (mode & 2) ? SMALL_MAXMSG : CP_MAX_MSG);
	pp.rx.accept_fds = !(mode & 8);
	pp.compose = (mode & 4) != 0;
	if (pp.compose)
		compose_records(&pp, data + 1, size - 1);
	else {
		pp.p = data + 1;
		pp.len = size - 1;
		pp.chunk = chunks[mode >> 4];
		if (mode & 1)
			pp.fd = devnull();
	}

	while (!pp.dead && !pp.eof) {
		int w = write_step(&pp), r;

		if (write_done(&pp) && !pp.shut) {
			check(shutdown(pp.sv[0], SHUT_WR) == 0);
			pp.shut = 1;
		}
		r = read_step(&pp);
		/* Bytes queued in the socket are always readable, and a
		 * reader that stops reading is dead: two idle rounds in a
		 * row would mean a lost wake-up, i.e. a hang in an engine. */
		idle = w || r ? 0 : idle + 1;
		check(idle < 2);
	}
	if (pp.compose)
		check_outcome(&pp);
	else if (pp.fd != -1)
		close(pp.fd);
	imsgbuf_clear(&pp.tx);
	imsgbuf_clear(&pp.rx);
	close(pp.sv[0]);
	close(pp.sv[1]);
	free(pp.f);
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
