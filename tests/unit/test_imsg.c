/* SPDX-License-Identifier: ISC */
/*
 * imsg framing over real AF_UNIX stream sockets: round trips, frames split
 * at every byte, size limits, lying headers, descriptor passing (right
 * frame, close-on-exec, no leak on every error path), MSG_CTRUNC and
 * non-blocking writes.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../cutest.h"
#include "imsg.h"
#include "../rawclient.h"

#define MAXMSG (64 * 1024)

/* Both ends of a connection, each with its imsgbuf. */
struct conn {
	int sv[2];
	struct imsgbuf tx, rx;
};

static int
conn_open(struct conn *c, size_t maxmsg)
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c->sv) == -1)
		return -1;
	imsgbuf_init(&c->tx, c->sv[0], maxmsg);
	imsgbuf_init(&c->rx, c->sv[1], maxmsg);
	c->rx.accept_fds = 1;
	return 0;
}

static void
conn_close(struct conn *c)
{
	imsgbuf_clear(&c->tx);
	imsgbuf_clear(&c->rx);
	if (c->sv[0] != -1)
		close(c->sv[0]);
	if (c->sv[1] != -1)
		close(c->sv[1]);
	c->sv[0] = c->sv[1] = -1;
}

/* Open descriptors of this process. */
static int
nfds(void)
{
	DIR *d;
	struct dirent *e;
	int n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory itself */
}

static ino_t
fd_ino(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == -1)
		return 0;
	return st.st_ino;
}

/* A fresh pipe read end (write end closed); its inode in *ino. */
static int
pipe_end(ino_t *ino)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	close(p[1]);
	*ino = fd_ino(p[0]);
	return p[0];
}

static size_t
mkframe(unsigned char *buf, uint32_t type, uint32_t len, uint32_t peerid,
    uint32_t pid, const void *data, size_t dlen)
{
	struct imsg_hdr h = {type, len, peerid, pid};

	memcpy(buf, &h, sizeof(h));
	if (dlen > 0)
		memcpy(buf + IMSG_HDR_SIZE, data, dlen);
	return IMSG_HDR_SIZE + dlen;
}

/* Raw send of bytes with nfd descriptors in one SCM_RIGHTS message. */
static ssize_t
sendraw(int s, const void *buf, size_t len, const int *fds, int nfd)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} cm;
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *c;

	memset(&mh, 0, sizeof(mh));
	memset(&cm, 0, sizeof(cm));
	iov.iov_base = (void *)(uintptr_t)buf;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfd > 0) {
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfd);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfd);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfd);
	}
	return sendmsg(s, &mh, MSG_NOSIGNAL);
}

/* Read once, then take one frame; the result of imsg_get(). */
static int
read_get(struct imsgbuf *ib, struct imsg *m)
{
	int r;

	if ((r = imsg_get(ib, m)) != 0)
		return r;
	if (imsg_read(ib) == -1)
		return -1;
	return imsg_get(ib, m);
}

static void
fill(unsigned char *p, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 8));
}

static int
check_fill(const unsigned char *p, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != (unsigned char)(seed * 131 + i * 7 + (i >> 8)))
			return 0;
	return 1;
}

static void
t_roundtrip(void)
{
	struct conn c;
	struct imsg m;

	CU_ASSERT_FATAL(conn_open(&c, MAXMSG) == 0);
	CU_ASSERT(imsg_compose(&c.tx, 7, 42, 99, -1, "hello", 5) == 0);
	CU_ASSERT(imsg_pending(&c.tx));
	CU_ASSERT(raw_flush(&c.tx) == 0);
	CU_ASSERT(!imsg_pending(&c.tx));
	CU_ASSERT(imsg_read(&c.rx) == IMSG_HDR_SIZE + 5);
	CU_ASSERT_FATAL(imsg_get(&c.rx, &m) == 1);
	CU_ASSERT(m.hdr.type == 7);
	CU_ASSERT(m.hdr.len == IMSG_HDR_SIZE + 5);
	CU_ASSERT(m.hdr.peerid == 42);
	CU_ASSERT(m.hdr.pid == 99);
	CU_ASSERT(m.fd == -1);
	CU_ASSERT(m.datalen == 5);
	CU_ASSERT(memcmp(m.data, "hello", 5) == 0);
	CU_ASSERT(imsg_get(&c.rx, &m) == 0);

	/* An empty payload is a frame too. */
	CU_ASSERT(imsg_compose(&c.tx, 8, 0, 0, -1, NULL, 0) == 0);
	CU_ASSERT(raw_flush(&c.tx) == 0);
	CU_ASSERT_FATAL(read_get(&c.rx, &m) == 1);
	CU_ASSERT(m.hdr.type == 8 && m.datalen == 0 && m.fd == -1);
	conn_close(&c);
}

static void
t_several(void)
{
	struct conn c;
	struct imsg m;
	unsigned char buf[300];
	size_t total = 0;
	ssize_t n;
	unsigned i;

	CU_ASSERT_FATAL(conn_open(&c, MAXMSG) == 0);
	for (i = 0; i < 12; i++) {
		fill(buf, i * 25, i);
		CU_ASSERT(
		    imsg_compose(&c.tx, 100 + i, i, 0, -1, buf, i * 25) == 0);
		total += IMSG_HDR_SIZE + i * 25;
	}
	/* Twelve frames fit in one sendmsg() ... */
	CU_ASSERT(imsg_write(&c.tx) == 0);
	/* ... and arrive in one recvmsg(). */
	n = imsg_read(&c.rx);
	CU_ASSERT(n == (ssize_t)total);
	for (i = 0; i < 12; i++) {
		CU_ASSERT_FATAL(imsg_get(&c.rx, &m) == 1);
		CU_ASSERT(m.hdr.type == 100 + i);
		CU_ASSERT(m.hdr.peerid == i);
		CU_ASSERT(m.datalen == i * 25);
		CU_ASSERT(check_fill(m.data, m.datalen, i));
	}
	CU_ASSERT(imsg_get(&c.rx, &m) == 0);
	conn_close(&c);
}

/* Two frames written one byte at a time: nothing until each is complete. */
static void
t_split_bytes(void)
{
	struct conn c;
	struct imsg m;
	unsigned char raw[2 * (IMSG_HDR_SIZE + 37)], pl[37];
	size_t len1, len, i;
	int r, got = 0;

	CU_ASSERT_FATAL(conn_open(&c, MAXMSG) == 0);
	fill(pl, sizeof(pl), 3);
	len1 = mkframe(raw, 1, IMSG_HDR_SIZE + 37, 5, 6, pl, sizeof(pl));
	len = len1 + mkframe(raw + len1, 2, IMSG_HDR_SIZE + 30, 7, 8, pl, 30);
	for (i = 0; i < len; i++) {
		CU_ASSERT_FATAL(write(c.sv[0], raw + i, 1) == 1);
		CU_ASSERT_FATAL(imsg_read(&c.rx) == 1);
		r = imsg_get(&c.rx, &m);
		if (i + 1 == len1 || i + 1 == len) {
			CU_ASSERT_FATAL(r == 1);
			got++;
			CU_ASSERT(m.hdr.type == (uint32_t)got);
			CU_ASSERT(m.datalen == (got == 1 ? 37u : 30u));
			CU_ASSERT(memcmp(m.data, pl, m.datalen) == 0);
			CU_ASSERT(m.fd == -1);
			CU_ASSERT(imsg_get(&c.rx, &m) == 0);
		} else
			CU_ASSERT(r == 0);
	}
	CU_ASSERT(got == 2);
	conn_close(&c);
}

/* One frame cut in two at every possible offset. */
static void
t_split_every(void)
{
	unsigned char raw[IMSG_HDR_SIZE + 40], pl[40];
	size_t len, k;

	fill(pl, sizeof(pl), 9);
	len = mkframe(raw, 3, sizeof(raw), 11, 12, pl, sizeof(pl));
	for (k = 1; k < len; k++) {
		struct conn c;
		struct imsg m;

		CU_ASSERT_FATAL(conn_open(&c, MAXMSG) == 0);
		CU_ASSERT_FATAL(write(c.sv[0], raw, k) == (ssize_t)k);
		CU_ASSERT(imsg_read(&c.rx) == (ssize_t)k);
		CU_ASSERT(imsg_get(&c.rx, &m) == 0);
		CU_ASSERT_FATAL(
		    write(c.sv[0], raw + k, len - k) == (ssize_t)(len - k));
		CU_ASSERT(imsg_read(&c.rx) == (ssize_t)(len - k));
		CU_ASSERT_FATAL(imsg_get(&c.rx, &m) == 1);
		CU_ASSERT(
		    m.hdr.type == 3 && m.hdr.peerid == 11 && m.hdr.pid == 12);
		CU_ASSERT(m.datalen == sizeof(pl));
		CU_ASSERT(memcmp(m.data, pl, sizeof(pl)) == 0);
		CU_ASSERT(imsg_get(&c.rx, &m) == 0);
		conn_close(&c);
	}
}

/* A frame carrying a descriptor, one byte at a time: the descriptor comes
 * with the first byte and is handed out with the complete frame. */
static void
t_split_fd(void)
{
	struct conn c;
	struct imsg m;
	unsigned char raw[IMSG_HDR_SIZE + 20], pl[20];
	size_t len, i;
	ino_t ino;
	int fd, base;

	base = nfds();
	CU_ASSERT_FATAL(conn_open(&c, MAXMSG) == 0);
	fill(pl, sizeof(pl), 1);
	len = mkframe(
	    raw, 4, (IMSG_HDR_SIZE + 20) | IMSG_FD_MARK, 0, 0, pl, sizeof(pl));
	CU_ASSERT_FATAL((fd = pipe_end(&ino)) != -1);
	CU_ASSERT_FATAL(sendraw(c.sv[0], raw, 1, &fd, 1) == 1);
	close(fd);
	for (i = 0;; i++) {
		CU_ASSERT_FATAL(imsg_read(&c.rx) == 1);
		if (i + 1 == len)
			break;
		CU_ASSERT(imsg_get(&c.rx, &m) == 0);
		CU_ASSERT_FATAL(write(c.sv[0], raw + i + 1, 1) == 1);
	}
	CU_ASSERT_FATAL(imsg_get(&c.rx, &m) == 1);
	CU_ASSERT(m.hdr.len == len);
	CU_ASSERT(m.datalen == sizeof(pl));
	CU_ASSERT_FATAL(m.fd != -1);
	CU_ASSERT(fd_ino(m.fd) == ino);
	close(m.fd);
	CU_ASSERT(imsg_get(&c.rx, &m) == 0);
	conn_close(&c);
	CU_ASSERT(nfds() == base);
}

static void
t_maxmsg(void)
{
	struct conn c;
	struct imsg m;
	unsigned char *big, raw[IMSG_HDR_SIZE];
	size_t max = 1024, got = 0;
	ino_t ino;
	int fd, base;

	base = nfds();
	CU_ASSERT_FATAL((big = malloc(MAXMSG)) != NULL);
	fill(big, MAXMSG, 5);
	CU_ASSERT_FATAL(conn_open(&c, max) == 0);

	/* Exactly maxmsg, header included, passes. */
	CU_ASSERT(
	    imsg_compose(&c.tx, 1, 0, 0, -1, big, max - IMSG_HDR_SIZE) == 0);
	CU_ASSERT(raw_flush(&c.tx) == 0);
	CU_ASSERT_FATAL(read_get(&c.rx, &m) == 1);
	CU_ASSERT(m.hdr.len == max);
	CU_ASSERT(m.datalen == max - IMSG_HDR_SIZE);
	CU_ASSERT(check_fill(m.data, m.datalen, 5));

	/* One byte more is refused by the sender, descriptor closed... */
	errno = 0;
	CU_ASSERT(imsg_compose(
	              &c.tx, 1, 0, 0, -1, big, max - IMSG_HDR_SIZE + 1) == -1);
	CU_ASSERT(errno == EMSGSIZE);
	CU_ASSERT_FATAL((fd = pipe_end(&ino)) != -1);
	errno = 0;
	CU_ASSERT(imsg_compose(&c.tx, 1, 0, 0, fd, big, max) == -1);
	CU_ASSERT(errno == EMSGSIZE);
	CU_ASSERT(!imsg_pending(&c.tx));

	/* ... and by the receiver when a peer sends it anyway. */
	mkframe(raw, 1, (uint32_t)max + 1, 0, 0, NULL, 0);
	CU_ASSERT_FATAL(write(c.sv[0], raw, sizeof(raw)) == sizeof(raw));
	CU_ASSERT_FATAL(write(c.sv[0], big, max + 1 - IMSG_HDR_SIZE) ==
	                (ssize_t)(max + 1 - IMSG_HDR_SIZE));
	errno = 0;
	CU_ASSERT(read_get(&c.rx, &m) == -1);
	CU_ASSERT(errno == EMSGSIZE);
	conn_close(&c);

	/* The protocol's own maximum, read in as many pieces as it takes. */
	CU_ASSERT_FATAL(conn_open(&c, MAXMSG) == 0);
	CU_ASSERT(
	    imsg_compose(&c.tx, 2, 1, 2, -1, big, MAXMSG - IMSG_HDR_SIZE) == 0);
	CU_ASSERT(raw_flush(&c.tx) == 0);
	for (;;) {
		int r = read_get(&c.rx, &m);

		CU_ASSERT_FATAL(r != -1);
		if (r == 1)
			break;
		CU_ASSERT_FATAL(++got < 1000);
	}
	CU_ASSERT(m.hdr.len == MAXMSG);
	CU_ASSERT(check_fill(m.data, m.datalen, 5));
	conn_close(&c);
	free(big);
	CU_ASSERT(nfds() == base);
}

static void
t_truncated_eof(void)
{
	struct conn c;
	struct imsg m;
	unsigned char raw[IMSG_HDR_SIZE + 10];

	/* Half a header, then the peer goes away. */
	CU_ASSERT_FATAL(conn_open(&c, MAXMSG) == 0);
	mkframe(raw, 1, sizeof(raw), 0, 0, "0123456789", 10);
	CU_ASSERT_FATAL(write(c.sv[0], raw, 9) == 9);
	close(c.sv[0]);
	c.sv[0] = -1;
	CU_ASSERT(imsg_read(&c.rx) == 9);
	CU_ASSERT(imsg_get(&c.rx, &m) == 0);
	CU_ASSERT(imsg_read(&c.rx) == 0);
	CU_ASSERT(imsg_get(&c.rx, &m) == 0);
	conn_close(&c);

	/* A whole header, part of the payload. */
	CU_ASSERT_FATAL(conn_open(&c, MAXMSG) == 0);
	CU_ASSERT_FATAL(
	    write(c.sv[0], raw, IMSG_HDR_SIZE + 4) == IMSG_HDR_SIZE + 4);
	close(c.sv[0]);
	c.sv[0] = -1;
	CU_ASSERT(imsg_read(&c.rx) == IMSG_HDR_SIZE + 4);
	CU_ASSERT(imsg_get(&c.rx, &m) == 0);
	CU_ASSERT(imsg_read(&c.rx) == 0);
	CU_ASSERT(imsg_get(&c.rx, &m) == 0);
	conn_close(&c);
}

static const struct {
	uint32_t len;
	int err;
} badlen_cases[] = {
    {0, EBADMSG},
    {1, EBADMSG},
    {IMSG_HDR_SIZE - 1, EBADMSG},
    {IMSG_FD_MARK, EBADMSG},
    {IMSG_FD_MARK | (IMSG_HDR_SIZE - 1), EBADMSG},
    {MAXMSG + 1, EMSGSIZE},
    {0x7fffffff, EMSGSIZE},
    {0xffffffff, EMSGSIZE},
    {IMSG_FD_MARK | (MAXMSG + 1), EMSGSIZE},
};

static void
t_lying_len(void)
{
	size_t i;

	for (i = 0; i < sizeof(badlen_cases) / sizeof(badlen_cases[0]); i++) {
		struct conn c;
		struct imsg m;
		unsigned char raw[IMSG_HDR_SIZE + 16];

		CU_ASSERT_FATAL(conn_open(&c, MAXMSG) == 0);
		memset(raw, 'x', sizeof(raw));
		mkframe(raw, 1, badlen_cases[i].len, 0, 0, NULL, 0);
		CU_ASSERT_FATAL(
		    write(c.sv[0], raw, sizeof(raw)) == sizeof(raw));
		errno = 0;
		CU_ASSERT(read_get(&c.rx, &m) == -1);
		CU_ASSERT(errno == badlen_cases[i].err);
		conn_close(&c);
	}
}

static void
t_fd_basic(void)
{
	struct conn c;
	struct imsg m;
	ino_t ino;
	int p[2], fd, base, flags;
	char ch;

	base = nfds();
	CU_ASSERT_FATAL(conn_open(&c, MAXMSG) == 0);
	CU_ASSERT_FATAL(pipe(p) == 0); /* not O_CLOEXEC on purpose */
	ino = fd_ino(p[0]);
	CU_ASSERT(imsg_compose(&c.tx, 9, 1, 2, p[0], "fd", 2) == 0);
	CU_ASSERT(raw_flush(&c.tx) == 0);
	/* The sender's copy is closed once sent. */
	CU_ASSERT(fcntl(p[0], F_GETFD) == -1 && errno == EBADF);
	CU_ASSERT_FATAL(read_get(&c.rx, &m) == 1);
	CU_ASSERT(m.hdr.type == 9);
	CU_ASSERT(m.hdr.len == IMSG_HDR_SIZE + 2); /* mark stripped */
	CU_ASSERT(m.datalen == 2 && memcmp(m.data, "fd", 2) == 0);
	CU_ASSERT_FATAL((fd = m.fd) != -1);
	CU_ASSERT(fd_ino(fd) == ino);
	flags = fcntl(fd, F_GETFD);
	CU_ASSERT(flags != -1 && (flags & FD_CLOEXEC));
	/* And it really is the pipe. */
	CU_ASSERT(write(p[1], "z", 1) == 1);
	CU_ASSERT(read(fd, &ch, 1) == 1 && ch == 'z');
	close(fd);
	close(p[1]);
	CU_ASSERT(imsg_get(&c.rx, &m) == 0);
	conn_close(&c);
	CU_ASSERT(nfds() == base);
}

/* Frames with and without descriptors, sent in one burst so that the
 * kernel may glue them together in one recvmsg(). */
static void
t_fd_interleaved(void)
{
	static const int pattern[] = {1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 1, 0};
	enum { N = sizeof(pattern) / sizeof(pattern[0]) };
	struct conn c;
	struct imsg m;
	ino_t ino[N];
	unsigned char pl[50];
	int i, got = 0, base, tries = 0;

	base = nfds();
	CU_ASSERT_FATAL(conn_open(&c, MAXMSG) == 0);
	for (i = 0; i < N; i++) {
		int fd = -1;

		ino[i] = 0;
		if (pattern[i])
			CU_ASSERT_FATAL((fd = pipe_end(&ino[i])) != -1);
		fill(pl, sizeof(pl), (unsigned)i);
		CU_ASSERT(imsg_compose(&c.tx, (uint32_t)i, 0, 0, fd, pl,
		              (size_t)i * 4) == 0);
	}
	CU_ASSERT(raw_flush(&c.tx) == 0);
	while (got < N) {
		int r = imsg_get(&c.rx, &m);

		CU_ASSERT_FATAL(r != -1);
		if (r == 0) {
			CU_ASSERT_FATAL(imsg_read(&c.rx) > 0);
			CU_ASSERT_FATAL(++tries < 100);
			continue;
		}
		CU_ASSERT(m.hdr.type == (uint32_t)got);
		CU_ASSERT(check_fill(m.data, m.datalen, (unsigned)got));
		if (pattern[got]) {
			CU_ASSERT(m.fd != -1 && fd_ino(m.fd) == ino[got]);
		} else {
			CU_ASSERT(m.fd == -1);
		}
		if (m.fd != -1)
			close(m.fd);
		got++;
	}
	CU_ASSERT(imsg_get(&c.rx, &m) == 0);
	conn_close(&c);
	CU_ASSERT(nfds() == base);
}

/* A marked frame that arrives without a descriptor. */
static void
t_fd_mark_without_fd(void)
{
	struct conn c;
	struct imsg m;
	unsigned char raw[IMSG_HDR_SIZE + 4];

	CU_ASSERT_FATAL(conn_open(&c, MAXMSG) == 0);
	mkframe(raw, 1, sizeof(raw) | IMSG_FD_MARK, 0, 0, "abcd", 4);
	CU_ASSERT_FATAL(write(c.sv[0], raw, sizeof(raw)) == sizeof(raw));
	errno = 0;
	CU_ASSERT(read_get(&c.rx, &m) == -1);
	CU_ASSERT(errno == EBADMSG);
	conn_close(&c);
}

/* A descriptor sent with a frame that has no mark: the stream is refused
 * before it runs dry, and the descriptor does not leak. */
static void
t_fd_without_mark(void)
{
	struct conn c;
	struct imsg m;
	unsigned char raw[IMSG_HDR_SIZE + 4];
	ino_t ino;
	int fd, r, base, i;

	base = nfds();
	CU_ASSERT_FATAL(conn_open(&c, MAXMSG) == 0);
	mkframe(raw, 1, sizeof(raw), 0, 0, "abcd", 4);
	CU_ASSERT_FATAL((fd = pipe_end(&ino)) != -1);
	CU_ASSERT_FATAL(
	    sendraw(c.sv[0], raw, sizeof(raw), &fd, 1) == sizeof(raw));
	close(fd);
	CU_ASSERT(imsg_read(&c.rx) == sizeof(raw));
	for (i = 0; i < 3; i++) {
		r = imsg_get(&c.rx, &m);
		if (r != 1)
			break;
		CU_ASSERT(m.fd == -1);
	}
	CU_ASSERT(r == -1 && errno == EBADMSG);
	conn_close(&c);
	CU_ASSERT(nfds() == base);
}

/*
 * Stricter: the frame that came with a stray descriptor is itself refused,
 * not handed to the caller first (who would act on it, e.g. start a
 * CONNECT, before noticing the error on the next imsg_get()).
 */
static void
t_fd_without_mark_strict(void)
{
	struct conn c;
	struct imsg m;
	unsigned char raw[IMSG_HDR_SIZE + 4];
	ino_t ino;
	int fd;

	CU_ASSERT_FATAL(conn_open(&c, MAXMSG) == 0);
	mkframe(raw, 1, sizeof(raw), 0, 0, "abcd", 4);
	CU_ASSERT_FATAL((fd = pipe_end(&ino)) != -1);
	CU_ASSERT_FATAL(
	    sendraw(c.sv[0], raw, sizeof(raw), &fd, 1) == sizeof(raw));
	close(fd);
	CU_ASSERT(imsg_read(&c.rx) == sizeof(raw));
	errno = 0;
	CU_ASSERT(imsg_get(&c.rx, &m) == -1);
	CU_ASSERT(errno == EBADMSG);
	conn_close(&c);
}

/* The receiver accepts no descriptors: one arrives anyway. */
static void
t_fd_not_accepted(void)
{
	struct conn c;
	ino_t ino;
	int fd, base;

	base = nfds();
	CU_ASSERT_FATAL(conn_open(&c, MAXMSG) == 0);
	c.rx.accept_fds = 0;
	CU_ASSERT_FATAL((fd = pipe_end(&ino)) != -1);
	CU_ASSERT(imsg_compose(&c.tx, 1, 0, 0, fd, "x", 1) == 0);
	CU_ASSERT(raw_flush(&c.tx) == 0);
	errno = 0;
	CU_ASSERT(imsg_read(&c.rx) == -1);
	CU_ASSERT(errno == EBADMSG);
	/* Closed at once, not only by imsgbuf_clear(). */
	CU_ASSERT(nfds() == base + 2);
	conn_close(&c);
	CU_ASSERT(nfds() == base);
}

/* Two descriptors in one SCM_RIGHTS message: both closed, error. */
static void
t_two_fds(void)
{
	struct conn c;
	unsigned char raw[IMSG_HDR_SIZE];
	ino_t ino;
	int fds[2], base;

	base = nfds();
	CU_ASSERT_FATAL(conn_open(&c, MAXMSG) == 0);
	mkframe(raw, 1, sizeof(raw) | IMSG_FD_MARK, 0, 0, NULL, 0);
	CU_ASSERT_FATAL((fds[0] = pipe_end(&ino)) != -1);
	CU_ASSERT_FATAL((fds[1] = pipe_end(&ino)) != -1);
	CU_ASSERT_FATAL(
	    sendraw(c.sv[0], raw, sizeof(raw), fds, 2) == sizeof(raw));
	close(fds[0]);
	close(fds[1]);
	errno = 0;
	CU_ASSERT(imsg_read(&c.rx) == -1);
	CU_ASSERT(errno == EBADMSG);
	CU_ASSERT(nfds() == base + 2);
	conn_close(&c);
	CU_ASSERT(nfds() == base);
}

/* More descriptors than the receive queue holds, none claimed. */
static void
t_fd_queue_full(void)
{
	struct conn c;
	ino_t ino;
	int i, fd, base, err = 0;

	base = nfds();
	CU_ASSERT_FATAL(conn_open(&c, MAXMSG) == 0);
	for (i = 0; i <= IMSG_MAX_FDQ; i++) {
		CU_ASSERT_FATAL((fd = pipe_end(&ino)) != -1);
		CU_ASSERT(imsg_compose(&c.tx, 1, 0, 0, fd, NULL, 0) == 0);
	}
	CU_ASSERT(raw_flush(&c.tx) == 0);
	for (i = 0; i <= IMSG_MAX_FDQ + 1; i++)
		if (imsg_read(&c.rx) == -1) {
			err = errno;
			break;
		}
	CU_ASSERT(err == EBADMSG);
	conn_close(&c);
	CU_ASSERT(nfds() == base);
}

/* Valgrind keeps RLIMIT_NOFILE to itself: the kernel never truncates. */
static int
under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p != NULL && strstr(p, "vgpreload") != NULL;
}

/* The receiver cannot install the descriptor: never a silent loss. */
static void
t_ctrunc(void)
{
	struct conn c;
	ino_t ino;
	pid_t pid;
	int fd, st;

	if (under_valgrind()) {
		fprintf(stderr, "(skipped under valgrind) ");
		CU_PASS("skipped under valgrind");
		return;
	}
	CU_ASSERT_FATAL(conn_open(&c, MAXMSG) == 0);
	CU_ASSERT_FATAL((fd = pipe_end(&ino)) != -1);
	CU_ASSERT(imsg_compose(&c.tx, 1, 0, 0, fd, "y", 1) == 0);
	CU_ASSERT(raw_flush(&c.tx) == 0);
	CU_ASSERT_FATAL((pid = fork()) != -1);
	if (pid == 0) {
		struct rlimit rl;
		ssize_t n;

		if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
			_exit(10);
		rl.rlim_cur = 64;
		if (rl.rlim_max < rl.rlim_cur)
			_exit(11);
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			_exit(12);
		/* Fill every free slot under the limit. */
		while (dup(0) != -1)
			;
		if (errno != EMFILE)
			_exit(13);
		n = imsg_read(&c.rx);
		if (n != -1)
			_exit(14);
		_exit(errno == EMFILE ? 0 : 15);
	}
	CU_ASSERT(waitpid(pid, &st, 0) == pid);
	CU_ASSERT(WIFEXITED(st));
	if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
		fprintf(stderr, "child exit %d ", WEXITSTATUS(st));
	CU_ASSERT(WEXITSTATUS(st) == 0);
	conn_close(&c);
}

/*
 * Non-blocking sender: queue frames until the socket is full, then drain
 * the other side while finishing the writes.  Every fifth frame carries a
 * descriptor.
 */
static void
t_nonblock(void)
{
	enum { PL = 1000, NMAX = 4000 };
	struct conn c;
	struct imsg m;
	static ino_t ino[NMAX];
	unsigned char pl[PL];
	int n = 0, got = 0, r, base, loops = 0, full = 0;

	base = nfds();
	CU_ASSERT_FATAL(conn_open(&c, MAXMSG) == 0);
	CU_ASSERT_FATAL(fcntl(c.sv[0], F_SETFL, O_NONBLOCK) == 0);
	CU_ASSERT_FATAL(fcntl(c.sv[1], F_SETFL, O_NONBLOCK) == 0);
	while (n < NMAX) {
		int fd = -1;

		ino[n] = 0;
		if (n % 5 == 0)
			CU_ASSERT_FATAL((fd = pipe_end(&ino[n])) != -1);
		fill(pl, PL, (unsigned)n);
		CU_ASSERT_FATAL(
		    imsg_compose(&c.tx, (uint32_t)n, (uint32_t)n * 3, 0, fd, pl,
		        PL - (size_t)(n % 7)) == 0);
		n++;
		if ((r = imsg_write(&c.tx)) == 1) {
			full = 1;
			break;
		}
		CU_ASSERT_FATAL(r == 0);
	}
	CU_ASSERT_FATAL(full);
	/* A few more behind the full socket. */
	for (r = 0; r < 20; r++, n++) {
		ino[n] = 0;
		fill(pl, PL, (unsigned)n);
		CU_ASSERT_FATAL(
		    imsg_compose(&c.tx, (uint32_t)n, (uint32_t)n * 3, 0, -1, pl,
		        PL - (size_t)(n % 7)) == 0);
	}
	CU_ASSERT(imsg_write(&c.tx) == 1);

	while (got < n) {
		CU_ASSERT_FATAL(++loops < 100000);
		r = imsg_get(&c.rx, &m);
		CU_ASSERT_FATAL(r != -1);
		if (r == 1) {
			CU_ASSERT(m.hdr.type == (uint32_t)got);
			CU_ASSERT(m.hdr.peerid == (uint32_t)got * 3);
			CU_ASSERT(m.datalen == PL - (size_t)(got % 7));
			CU_ASSERT(check_fill(m.data, m.datalen, (unsigned)got));
			if (ino[got] != 0) {
				CU_ASSERT(
				    m.fd != -1 && fd_ino(m.fd) == ino[got]);
			} else {
				CU_ASSERT(m.fd == -1);
			}
			if (m.fd != -1)
				close(m.fd);
			got++;
			continue;
		}
		if (imsg_read(&c.rx) == -1) {
			CU_ASSERT_FATAL(errno == EAGAIN);
		}
		if (imsg_pending(&c.tx)) {
			CU_ASSERT_FATAL(imsg_write(&c.tx) != -1);
		}
	}
	CU_ASSERT(!imsg_pending(&c.tx));
	CU_ASSERT(imsg_get(&c.rx, &m) == 0);
	CU_ASSERT(imsg_read(&c.rx) == -1 && errno == EAGAIN);
	conn_close(&c);
	CU_ASSERT(nfds() == base);
}

/* Descriptors never sent, or received and never claimed, are closed by
 * imsgbuf_clear(). */
static void
t_clear_closes(void)
{
	struct conn c;
	ino_t ino;
	int i, fd, base;

	base = nfds();
	CU_ASSERT_FATAL(conn_open(&c, MAXMSG) == 0);
	for (i = 0; i < 5; i++) {
		CU_ASSERT_FATAL((fd = pipe_end(&ino)) != -1);
		CU_ASSERT(imsg_compose(&c.tx, 1, 0, 0, fd, "q", 1) == 0);
	}
	CU_ASSERT(nfds() == base + 2 + 5);
	imsgbuf_clear(&c.tx);
	CU_ASSERT(nfds() == base + 2);
	CU_ASSERT(!imsg_pending(&c.tx));

	/* Received, not claimed. */
	imsgbuf_init(&c.tx, c.sv[0], MAXMSG);
	CU_ASSERT_FATAL((fd = pipe_end(&ino)) != -1);
	CU_ASSERT(imsg_compose(&c.tx, 1, 0, 0, fd, "q", 1) == 0);
	CU_ASSERT(raw_flush(&c.tx) == 0);
	CU_ASSERT(imsg_read(&c.rx) > 0);
	CU_ASSERT(nfds() == base + 3);
	conn_close(&c);
	CU_ASSERT(nfds() == base);
}

/* Writing to a closed peer fails with EPIPE and no SIGPIPE. */
static void
t_write_epipe(void)
{
	struct conn c;

	CU_ASSERT_FATAL(conn_open(&c, MAXMSG) == 0);
	close(c.sv[1]);
	c.sv[1] = -1;
	CU_ASSERT(imsg_compose(&c.tx, 1, 0, 0, -1, "a", 1) == 0);
	errno = 0;
	CU_ASSERT(imsg_write(&c.tx) == -1);
	CU_ASSERT(errno == EPIPE);
	conn_close(&c);
}

int
main(void)
{
	CU_pSuite s;

	s = cu_suite("imsg framing", NULL, NULL);
	cu_test(s, "round trip", t_roundtrip);
	cu_test(s, "several frames, one read", t_several);
	cu_test(s, "split one byte at a time", t_split_bytes);
	cu_test(s, "split at every offset", t_split_every);
	cu_test(s, "maxmsg limits", t_maxmsg);
	cu_test(s, "truncated then EOF", t_truncated_eof);
	cu_test(s, "lying length", t_lying_len);
	cu_test(s, "write to closed peer", t_write_epipe);

	s = cu_suite("imsg descriptors", NULL, NULL);
	cu_test(s, "descriptor round trip, cloexec", t_fd_basic);
	cu_test(s, "descriptor split one byte at a time", t_split_fd);
	cu_test(s, "descriptors interleaved", t_fd_interleaved);
	cu_test(s, "mark without descriptor", t_fd_mark_without_fd);
	cu_test(s, "descriptor without mark", t_fd_without_mark);
	cu_test(s, "descriptor without mark refused at once",
	    t_fd_without_mark_strict);
	cu_test(s, "descriptor not accepted", t_fd_not_accepted);
	cu_test(s, "two descriptors in one message", t_two_fds);
	cu_test(s, "descriptor queue full", t_fd_queue_full);
	cu_test(s, "MSG_CTRUNC is EMFILE", t_ctrunc);
	cu_test(s, "non-blocking writes", t_nonblock);
	cu_test(s, "imsgbuf_clear closes descriptors", t_clear_closes);
	return cu_finish();
}
