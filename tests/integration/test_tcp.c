/* SPDX-License-Identifier: ISC */
/*
 * Plain TCP through a real cpconnectd: round trips, the network-less
 * namespace, retries, error classes, hostile clients and bounds.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cprops/client.h"
#include "cpproto.h"
#include "cutest.h"
#include "fakedns.h"
#include "imsg.h"
#include "itest.h"
#include "msg.h"

static struct tdaemon dmn;
static struct fakedns *dns;
static uint16_t echo4_port, echo6_port;
static pid_t echo4_pid, echo6_pid;

static const char conf_text[] =
    "# integration tests: loopback is allowed explicitly\n"
    "user nobody\n"
    "session-idle-timeout 1s\n"
    "max-sessions-per-user 1000\n" /* "500 idle sessions" below */
    "allow from any to 127.0.0.0/8\n"
    "allow from any to ::1\n"
    "allow from any to any\n";

static const struct fakedns_rec names[] = {
	{"echo.test", FAKEDNS_A, "127.0.0.1", 0},
	{"echo.test", FAKEDNS_AAAA, "::1", 0},
	{"v4only.test", FAKEDNS_A, "127.0.0.1", 0},
	{"private.test", FAKEDNS_A, "10.1.2.3", 0},
};

static int
suite_init(void)
{
	char extra[128];
	uint16_t dport;
	int l4, l6;

	if (fakedns_start(&dns, names, sizeof(names) / sizeof(names[0]),
		&dport) == -1)
		return -1;
	snprintf(extra, sizeof(extra), "-R %s", fakedns_servers(dns));
	if (tdaemon_start(&dmn, conf_text, extra, NULL) == -1)
		return -1;
	cp_client_set_socket_path(dmn.sock);
	echo4_port = echo6_port = 0;
	if ((l4 = tlisten(AF_INET, &echo4_port)) == -1 ||
	    (l6 = tlisten(AF_INET6, &echo6_port)) == -1)
		return -1;
	echo4_pid = techo_start(l4, 1000);
	echo6_pid = techo_start(l6, 1000);
	close(l4);
	close(l6);
	return 0;
}

static int
suite_clean(void)
{
	tkill(echo4_pid);
	tkill(echo6_pid);
	tdaemon_stop(&dmn);
	fakedns_stop(dns);
	return 0;
}

/* Connect, echo msg, check it comes back; returns the client (open). */
static cp_client *
echo_roundtrip(const char *host, uint16_t port, const char *msg)
{
	char buf[256];
	cp_client *c = cp_client_create(host, port);
	int n, got = 0, len = (int)strlen(msg);

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	n = cp_client_connect(c);
	if (n != 0)
		fprintf(stderr, "connect %s:%u: %s\n", host, port,
		    cp_client_error(c));
	CU_ASSERT_EQUAL_FATAL(n, 0);
	CU_ASSERT(cp_client_fd(c) >= 0);
	CU_ASSERT_EQUAL(cp_client_write(c, msg, len), len);
	while (got < len && (n = cp_client_read(c, buf + got,
				 (int)sizeof(buf) - got)) > 0)
		got += n;
	CU_ASSERT_EQUAL(got, len);
	CU_ASSERT(memcmp(buf, msg, (size_t)len) == 0);
	return c;
}

static void
test_echo_v4(void)
{
	cp_client *c = echo_roundtrip("127.0.0.1", echo4_port, "hello v4");

	CU_ASSERT_STRING_EQUAL(cp_client_get_peer_address(c), "127.0.0.1");
	CU_ASSERT_EQUAL(cp_client_get_peer_port(c), echo4_port);
	CU_ASSERT_STRING_EQUAL(c->found_host, "127.0.0.1");
	CU_ASSERT_EQUAL(cp_client_close(c), 0);
	CU_ASSERT_EQUAL(cp_client_fd(c), -1);
	cp_client_destroy(c);
}

static void
test_echo_v6(void)
{
	cp_client *c = echo_roundtrip("::1", echo6_port, "hello v6");

	CU_ASSERT_STRING_EQUAL(cp_client_get_peer_address(c), "::1");
	cp_client_close(c);
	cp_client_destroy(c);
}

/* A name with both families: IPv6 is tried first (RFC 8305). */
static void
test_echo_name(void)
{
	cp_client *c = echo_roundtrip("echo.test", echo6_port, "by name");

	CU_ASSERT_STRING_EQUAL(cp_client_get_peer_address(c), "::1");
	cp_client_close(c);
	/* Forcing IPv4 on the same name. */
	CU_ASSERT_EQUAL(cp_client_set_family(c, AF_INET), 0);
	c->port = echo4_port;
	CU_ASSERT_EQUAL(cp_client_connect(c), 0);
	CU_ASSERT_STRING_EQUAL(cp_client_get_peer_address(c), "127.0.0.1");
	cp_client_destroy(c);
}

/*
 * Connect history: a name with both families, a server on 127.0.0.1
 * only.  The first connect pays for the refused ::1, the next one goes to
 * 127.0.0.1 at once (the engine remembers the refusal): the audit lines
 * say how many connect() calls each took.  The pooled session keeps both
 * connects on one engine: they go back to back, well within its idle
 * timeout, and the log is read only after both.
 */
static void
test_history(void)
{
	char want[160];
	uint16_t port = 0;
	int l = tlisten(AF_INET, &port), i;
	pid_t echo;
	cp_client *c;

	CU_ASSERT_FATAL(l != -1);
	echo = techo_start(l, 10);
	close(l);
	for (i = 0; i < 2; i++) {
		c = echo_roundtrip("echo.test", port, "history");
		CU_ASSERT_STRING_EQUAL(cp_client_get_peer_address(c), "127.0.0.1");
		cp_client_destroy(c);
	}
	for (i = 0; i < 2; i++) {
		snprintf(want, sizeof(want),
		    "tcp echo.test port %u -> 127.0.0.1 port %u: ok, verify -, "
		    "%d attempts",
		    port, port, 2 - i);
		CU_ASSERT(tdaemon_log_wait(&dmn, want, 2000));
		if (!tdaemon_log_has(&dmn, want))
			fprintf(stderr, "  no \"%s\" in the log\n", want);
	}
	tkill(echo);
}

static int
nodelay_of(int fd)
{
	int v = -1;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) == -1)
		return -1;
	return v != 0;
}

/* The descriptor arrives blocking, with TCP_NODELAY on unless the client
 * asked for Nagle. */
static void
test_nodelay(void)
{
	cp_client *c = echo_roundtrip("127.0.0.1", echo4_port, "nodelay");
	int fl = fcntl(cp_client_fd(c), F_GETFL);

	CU_ASSERT(fl != -1 && !(fl & O_NONBLOCK));
	CU_ASSERT_EQUAL(nodelay_of(cp_client_fd(c)), 1);
	cp_client_close(c);
	CU_ASSERT_EQUAL(cp_client_set_nodelay(c, 0), 0);
	CU_ASSERT_EQUAL(cp_client_connect(c), 0);
	CU_ASSERT_EQUAL(nodelay_of(cp_client_fd(c)), 0);
	cp_client_close(c);
	CU_ASSERT_EQUAL(cp_client_set_nodelay(c, 1), 0);
	CU_ASSERT_EQUAL(cp_client_connect(c), 0);
	CU_ASSERT_EQUAL(nodelay_of(cp_client_fd(c)), 1);
	cp_client_destroy(c);
	CU_ASSERT_EQUAL(cp_client_set_nodelay(NULL, 1), -1);
}

/* The reason the product exists: a process without any network reaches a
 * loopback server of the host through the daemon. */
static void
test_netns_client(void)
{
	pid_t pid = fork();
	int status;

	CU_ASSERT_FATAL(pid != -1);
	if (pid == 0) {
		struct sockaddr_in sin;
		char buf[64];
		cp_client *c;
		int fd, n;

		if (unshare(CLONE_NEWNET) == -1)
			_exit(10);
		/* No interface is up here, not even lo. */
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(echo4_port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
			_exit(11);
		close(fd);
		if ((c = cp_client_create("127.0.0.1", echo4_port)) == NULL ||
		    cp_client_connect(c) != 0)
			_exit(12);
		if (cp_client_write(c, "from netns", 10) != 10)
			_exit(13);
		for (n = 0; n < 10;) {
			int r = cp_client_read(c, buf + n, 10 - n);

			if (r <= 0)
				_exit(14);
			n += r;
		}
		_exit(memcmp(buf, "from netns", 10) == 0 ? 0 : 15);
	}
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status));
	if (WEXITSTATUS(status) != 0)
		fprintf(stderr, "netns child exit %d\n", WEXITSTATUS(status));
	CU_ASSERT_EQUAL(WEXITSTATUS(status), 0);
}

/* The server starts listening ~1 s after the request: the retries with
 * backoff reach it.  Driven through the event-loop API. */
static void
test_retry_late_server(void)
{
	uint16_t port = tfree_port(AF_INET);
	cp_client *c = cp_client_create("127.0.0.1", port);
	uint64_t t0 = tnow_ms();
	int fd, lfd = -1, rv = -2;
	pid_t echo = -1;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	cp_client_set_retry(c, 10);
	fd = cp_client_connect_start(c);
	CU_ASSERT_FATAL(fd >= 0);
	while (rv == -2 && tnow_ms() - t0 < 15000) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		if (lfd == -1 && tnow_ms() - t0 >= 1000) {
			lfd = tlisten(AF_INET, &port);
			CU_ASSERT_FATAL(lfd != -1);
			echo = techo_start(lfd, 1);
		}
		if (poll(&p, 1, 100) == 1)
			rv = cp_client_connect_finish(c);
	}
	CU_ASSERT_EQUAL(rv, 0);
	CU_ASSERT(tnow_ms() - t0 >= 1000);
	CU_ASSERT(lfd != -1);
	CU_ASSERT_EQUAL(cp_client_write(c, "late", 4), 4);
	cp_client_destroy(c);
	if (lfd != -1)
		close(lfd);
	tkill(echo);
}

static void
test_refused(void)
{
	cp_client *c = cp_client_create("127.0.0.1", tfree_port(AF_INET));

	cp_client_set_retry(c, 0); /* one attempt */
	CU_ASSERT_EQUAL(cp_client_connect(c), -1);
	CU_ASSERT_EQUAL(errno, ECONNREFUSED);
	CU_ASSERT_PTR_NOT_NULL(strstr(cp_client_error(c), "refused"));
	CU_ASSERT_PTR_NOT_NULL(strstr(cp_client_error(c), "1 attempt"));
	CU_ASSERT_EQUAL(cp_client_fd(c), -1);
	cp_client_set_retry(c, 2); /* three attempts */
	CU_ASSERT_EQUAL(cp_client_connect(c), -1);
	CU_ASSERT_EQUAL(errno, ECONNREFUSED);
	CU_ASSERT_PTR_NOT_NULL(strstr(cp_client_error(c), "3 attempts"));
	cp_client_destroy(c);
}

static void
test_noname(void)
{
	cp_client *c = cp_client_create("nonexistent.test", 80);

	CU_ASSERT_EQUAL(cp_client_connect(c), -1);
	CU_ASSERT_EQUAL(errno, CP_ENONAME);
	CU_ASSERT_PTR_NOT_NULL(strstr(cp_client_error(c), "nonexistent.test"));
	cp_client_destroy(c);
}

/* Private ranges are refused unless a rule names them, for literals and for
 * names resolving to them; nothing is sent on the network. */
static void
test_denied(void)
{
	cp_client *c = cp_client_create("10.1.2.3", 80);

	CU_ASSERT_EQUAL(cp_client_connect(c), -1);
	CU_ASSERT_EQUAL(errno, EACCES);
	CU_ASSERT_PTR_NOT_NULL(strstr(cp_client_error(c), "private"));
	cp_client_destroy(c);
	c = cp_client_create("private.test", 80);
	CU_ASSERT_EQUAL(cp_client_connect(c), -1);
	CU_ASSERT_EQUAL(errno, EACCES);
	cp_client_destroy(c);
}

/* A target that never answers, inside a namespace of our own: the daemon's
 * only route leads into a veth pair whose far end has no address, so the
 * SYNs are dropped there and never leave the namespace. */
static void
test_timeout(void)
{
	struct tdaemon d2;
	cp_client *c;
	uint64_t t0;

	CU_ASSERT_FATAL(tdaemon_start(&d2,
			    "user nobody\nallow from any to 192.0.2.0/24\n",
			    NULL,
			    "ip link set lo up && "
			    "ip link add v0 type veth peer name v1 && "
			    "ip addr add 192.0.2.1/24 dev v0 && "
			    "ip link set v0 up && ip link set v1 up && "
			    "ip neigh add 192.0.2.2 lladdr 02:00:00:00:00:02 "
			    "dev v0 && exec ") == 0);
	cp_client_set_socket_path(d2.sock);
	c = cp_client_create("192.0.2.2", 80);
	cp_client_set_retry(c, 1);
	cp_client_set_timeout(c, 0, 300000);
	t0 = tnow_ms();
	CU_ASSERT_EQUAL(cp_client_connect(c), -1);
	CU_ASSERT_EQUAL(errno, ETIMEDOUT);
	CU_ASSERT(tnow_ms() - t0 >= 550);
	CU_ASSERT(tnow_ms() - t0 < 10000);
	cp_client_destroy(c);
	cp_client_set_socket_path(dmn.sock);
	tdaemon_stop(&d2);
}

static void
test_daemon_absent(void)
{
	cp_client *c = cp_client_create("127.0.0.1", echo4_port);

	cp_client_set_socket_path("/nonexistent/cpconnect.sock");
	CU_ASSERT_EQUAL(cp_client_connect(c), -1);
	CU_ASSERT_EQUAL(errno, ECONNREFUSED);
	CU_ASSERT_PTR_NOT_NULL(strstr(cp_client_error(c), "not reachable"));
	CU_ASSERT_EQUAL(cp_client_fd(c), -1);
	cp_client_set_socket_path(dmn.sock);
	cp_client_destroy(c);
}

static void
test_no_sigpipe(void)
{
	cp_client *c = echo_roundtrip("127.0.0.1", echo4_port, "x");
	char big[65536];
	int i, rv = 0;

	signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill the test */
	memset(big, 'a', sizeof(big));
	shutdown(cp_client_fd(c), SHUT_RDWR);
	for (i = 0; i < 4 && rv >= 0; i++)
		rv = cp_client_write(c, big, sizeof(big));
	CU_ASSERT_EQUAL(rv, -1);
	CU_ASSERT_EQUAL(errno, EPIPE);
	cp_client_destroy(c);
	signal(SIGPIPE, SIG_IGN);
}

/* Unconnected clients: errors, no crash. */
static void
test_unconnected(void)
{
	cp_client *c = cp_client_create("127.0.0.1", 1);
	char b[4];

	CU_ASSERT_EQUAL(cp_client_read(c, b, 4), -1);
	CU_ASSERT_EQUAL(errno, ENOTCONN);
	CU_ASSERT_EQUAL(cp_client_write(c, b, 4), -1);
	CU_ASSERT_EQUAL(cp_client_close(c), 0);
	CU_ASSERT_PTR_NULL(cp_client_get_server_certificate(c));
	CU_ASSERT_EQUAL(cp_client_verify_hostname(c), 0);
	cp_client_destroy(c);
	CU_ASSERT_PTR_NULL(cp_client_create(NULL, 80));
	CU_ASSERT_PTR_NULL(cp_client_create("x", 0));
	CU_ASSERT_PTR_NULL(cp_client_create("x", 65536));
	CU_ASSERT_EQUAL(cp_client_read(NULL, b, 4), -1);
	cp_client_destroy(NULL);
}

/* This program links no cp_string: the string calls say so. */
static void
test_no_cp_string(void)
{
	cp_client *c = cp_client_create("127.0.0.1", echo4_port);
	cp_string *fake = (cp_string *)(void *)&c; /* never touched */
	char b[3];

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL_FATAL(cp_client_connect(c), 0);
	CU_ASSERT_EQUAL(cp_client_read_string(c, fake, 4), -1);
	CU_ASSERT_EQUAL(errno, ENOSYS);
	CU_ASSERT_PTR_NOT_NULL(strstr(cp_client_error(c), "libcprops"));
	CU_ASSERT_EQUAL(cp_client_write_string(c, fake), -1);
	CU_ASSERT_EQUAL(errno, ENOSYS);
	/* The connection is untouched. */
	CU_ASSERT_EQUAL(cp_client_write(c, "abc", 3), 3);
	CU_ASSERT_EQUAL(cp_client_read(c, b, 3), 3);
	CU_ASSERT(memcmp(b, "abc", 3) == 0);
	cp_client_destroy(c);
}

/* Hostile clients, by hand on the raw socket. */

static int
raw_session(void)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", dmn.sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read until EOF (bounded); returns the RESULT error class seen, or -1,
 * and whether the daemon closed within the time. */
static int
expect_error_then_close(int fd, int *closed, int wait_ms)
{
	struct imsgbuf ib;
	struct imsg m;
	struct cp_result r;
	uint64_t t0 = tnow_ms();
	int eclass = -1;

	*closed = 0;
	imsgbuf_init(&ib, fd, CP_MAX_MSG);
	while (tnow_ms() - t0 < (uint64_t)wait_ms) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, 100) != 1)
			continue;
		if ((n = imsg_read(&ib)) <= 0) {
			*closed = n == 0;
			break;
		}
		while (imsg_get(&ib, &m) == 1) {
			if (m.hdr.type == CP_MSG_RESULT &&
			    cp_result_decode(m.data, m.datalen, &r, NULL, 0) ==
				0 &&
			    r.status == CP_STATUS_ERROR)
				eclass = r.eclass;
			if (m.fd != -1)
				close(m.fd);
		}
	}
	imsgbuf_clear(&ib);
	return eclass;
}

static int
send_frame(int fd, uint32_t type, uint32_t len, const void *p, size_t plen)
{
	struct imsg_hdr h = {type, len, 1, 0};

	if (write(fd, &h, sizeof(h)) != sizeof(h))
		return -1;
	if (plen > 0 && write(fd, p, plen) != (ssize_t)plen)
		return -1;
	return 0;
}

static int
send_hello(int fd, uint32_t version)
{
	struct cp_hello h = {.version = version};
	struct abuf b;
	int rv;

	abuf_init(&b);
	cp_hello_encode(&b, &h);
	rv = send_frame(fd, CP_MSG_HELLO, (uint32_t)(16 + b.len), b.buf, b.len);
	abuf_free(&b);
	return rv;
}

static void
test_hostile_garbage(void)
{
	int fd = raw_session(), closed;

	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT(write(fd, "GET / HTTP/1.0\r\n\r\n", 18) == 18);
	CU_ASSERT_EQUAL(expect_error_then_close(fd, &closed, 3000), CP_E_PROTO);
	CU_ASSERT(closed);
	close(fd);
}

static void
test_hostile_lying_length(void)
{
	int fd = raw_session(), closed;

	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_EQUAL(send_hello(fd, CP_PROTO_VERSION), 0);
	CU_ASSERT_EQUAL(send_frame(fd, CP_MSG_CONNECT, 0x7fffffff, NULL, 0), 0);
	CU_ASSERT_EQUAL(expect_error_then_close(fd, &closed, 3000), CP_E_PROTO);
	CU_ASSERT(closed);
	close(fd);
}

static void
test_hostile_half_message(void)
{
	int fd = raw_session(), closed;
	uint64_t t0 = tnow_ms();

	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT(write(fd, "\x01\x00\x00\x00\x40\x00", 6) == 6);
	/* Then silence: the idle timeout (1 s here) ends the session. */
	expect_error_then_close(fd, &closed, 5000);
	CU_ASSERT(closed);
	CU_ASSERT(tnow_ms() - t0 >= 900);
	close(fd);
}

static void
test_hostile_descriptor(void)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cm;
	struct msghdr mh;
	struct iovec iov;
	struct imsg_hdr h = {CP_MSG_HELLO, 16 | IMSG_FD_MARK, 0, 0};
	struct cmsghdr *c;
	int fd = raw_session(), closed, sent = 0;

	CU_ASSERT_FATAL(fd != -1);
	memset(&mh, 0, sizeof(mh));
	memset(&cm, 0, sizeof(cm));
	iov.iov_base = &h;
	iov.iov_len = sizeof(h);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.b;
	mh.msg_controllen = sizeof(cm.b);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &sent, sizeof(int)); /* our stdin */
	CU_ASSERT(sendmsg(fd, &mh, 0) == sizeof(h));
	expect_error_then_close(fd, &closed, 3000);
	CU_ASSERT(closed);
	close(fd);
}

static void
test_hostile_order_and_version(void)
{
	struct cp_connect req;
	struct abuf b;
	int fd = raw_session(), closed;

	CU_ASSERT_FATAL(fd != -1);
	memset(&req, 0, sizeof(req));
	snprintf(req.host, sizeof(req.host), "127.0.0.1");
	req.port = 80;
	abuf_init(&b);
	cp_connect_encode(&b, &req);
	CU_ASSERT_EQUAL(send_frame(fd, CP_MSG_CONNECT, (uint32_t)(16 + b.len),
			    b.buf, b.len),
	    0);
	abuf_free(&b);
	CU_ASSERT_EQUAL(expect_error_then_close(fd, &closed, 3000), CP_E_PROTO);
	CU_ASSERT(closed);
	close(fd);

	fd = raw_session();
	CU_ASSERT_EQUAL(send_hello(fd, 99), 0);
	CU_ASSERT_EQUAL(expect_error_then_close(fd, &closed, 3000), CP_E_PROTO);
	CU_ASSERT(closed);
	close(fd);

	/* HELLO starts a session once. */
	fd = raw_session();
	CU_ASSERT_EQUAL(send_hello(fd, CP_PROTO_VERSION), 0);
	CU_ASSERT_EQUAL(send_hello(fd, CP_PROTO_VERSION), 0);
	CU_ASSERT_EQUAL(expect_error_then_close(fd, &closed, 3000), CP_E_PROTO);
	CU_ASSERT(closed);
	close(fd);
}

/* 500 idle sessions while others are served; descriptors come back. */
static void
test_idle_sessions(void)
{
	static int fds[500];
	int base, i, n, opened = 0;
	cp_client *c;

	base = tdaemon_fds(&dmn);
	CU_ASSERT(base > 0);
	for (i = 0; i < 500; i++)
		if ((fds[i] = raw_session()) != -1)
			opened++;
	CU_ASSERT_EQUAL(opened, 500);
	c = echo_roundtrip("127.0.0.1", echo4_port, "still served");
	cp_client_destroy(c);
	for (i = 0; i < 500; i++)
		if (fds[i] != -1)
			close(fds[i]);
	/* The library keeps one pooled session open: close it too. */
	cp_client_shutdown();
	for (i = 0; i < 100; i++) {
		if ((n = tdaemon_fds(&dmn)) <= base)
			break;
		usleep(50000);
	}
	CU_ASSERT(n <= base);
	if (n > base)
		fprintf(stderr, "daemon descriptors: %d, baseline %d\n", n,
		    base);
}

/* After everything above, nothing is left open in the daemon. */
static void
test_no_leak(void)
{
	cp_client *c;
	int base, n, i;

	cp_client_shutdown();
	base = tdaemon_fds(&dmn);
	for (i = 0; i < 50; i++) {
		c = echo_roundtrip("127.0.0.1", echo4_port, "leak check");
		cp_client_destroy(c);
		c = cp_client_create("127.0.0.1", tfree_port(AF_INET));
		cp_client_set_retry(c, 0);
		CU_ASSERT_EQUAL(cp_client_connect(c), -1);
		cp_client_destroy(c);
	}
	cp_client_shutdown();
	for (i = 0; i < 100; i++) {
		if ((n = tdaemon_fds(&dmn)) <= base)
			break;
		usleep(50000);
	}
	CU_ASSERT(n <= base);
	CU_ASSERT(tdaemon_log_has(&dmn, "ok"));
}

int
main(void)
{
	CU_pSuite s;

	signal(SIGPIPE, SIG_IGN);
	s = cu_suite("tcp", suite_init, suite_clean);
	cu_test(s, "echo IPv4", test_echo_v4);
	cu_test(s, "echo IPv6", test_echo_v6);
	cu_test(s, "echo by name", test_echo_name);
	cu_test(s, "connect history orders the addresses", test_history);
	cu_test(s, "TCP_NODELAY and blocking mode on the descriptor",
	    test_nodelay);
	cu_test(s, "client in a network-less namespace", test_netns_client);
	cu_test(s, "retry reaches a late server", test_retry_late_server);
	cu_test(s, "refused", test_refused);
	cu_test(s, "name not found", test_noname);
	cu_test(s, "private range denied", test_denied);
	cu_test(s, "connect timeout", test_timeout);
	cu_test(s, "daemon absent: fail closed", test_daemon_absent);
	cu_test(s, "no SIGPIPE", test_no_sigpipe);
	cu_test(s, "unconnected client", test_unconnected);
	cu_test(s, "string calls without cp_string", test_no_cp_string);
	cu_test(s, "hostile: garbage", test_hostile_garbage);
	cu_test(s, "hostile: lying length", test_hostile_lying_length);
	cu_test(s, "hostile: half message", test_hostile_half_message);
	cu_test(s, "hostile: descriptor", test_hostile_descriptor);
	cu_test(s, "hostile: order and version",
	    test_hostile_order_and_version);
	cu_test(s, "500 idle sessions", test_idle_sessions);
	cu_test(s, "no descriptor leak", test_no_leak);
	return cu_finish();
}
