/* SPDX-License-Identifier: ISC */
/*
 * TLS on a connection the program already opened: cp_client_connect_ssl
 * after a plain cp_client_connect (cprops' STARTTLS and own-proxy use),
 * against openssl s_server and the scripted STARTTLS server, through a
 * real cpconnectd.  The seed's return values, the same descriptor number
 * afterwards, both record-layer choices, the policy on the name and on
 * the socket's real peer, sockets the daemon must refuse (Unix, UDP,
 * unconnected, not a socket, unread server data), the time bound, and a
 * daemon too old for it.
 */
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509_vfy.h>

#include "cprops/client.h"
#include "cutest.h"
#include "imsg.h"
#include "itest.h"
#include "msg.h"
#include "rawclient.h"

static struct tdaemon dmn;
static char pki[128];
static uint16_t p_denied; /* TLS to 127.0.0.0/8 on this port is denied */

static int
suite_init(void)
{
	char conf[1024];

	if (tpki_make(pki, sizeof(pki), cu_tmpdir()) == -1)
		return -1;
	p_denied = tfree_port(AF_INET);
	snprintf(conf, sizeof(conf),
	    "user nobody\n"
	    "ca-file \"%s/ca.pem\"\n"
	    "client-ca allowed\n"
	    "deny from any to 127.0.0.0/8 port %u tls\n"
	    "deny from any to blocked.test\n"
	    "allow from any to localhost\n"
	    "allow from any to 127.0.0.0/8\n"
	    "allow from any to ::1\n",
	    pki, (unsigned)p_denied);
	if (tdaemon_start(&dmn, conf, NULL, NULL) == -1)
		return -1;
	cp_client_set_socket_path(dmn.sock);
	return 0;
}

static int
suite_clean(void)
{
	tservers_stop();
	tdaemon_stop(&dmn);
	return 0;
}

static uint16_t
s_server(const char *leaf, const char *a1)
{
	return ts_server(pki, 0, 0, leaf, 1, a1, (char *)NULL);
}

/* Plain connect, then TLS on it: the seed's values, the same fd. */
static void
upgrade_ok(int ktls_mode, const char *ver_arg, const char *want_ver)
{
	uint16_t port = s_server("valid", ver_arg);
	cp_client *c;
	int fd, fdfl, rv;

	CU_ASSERT_FATAL(port != 0);
	c = cp_client_create("localhost", port);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(cp_client_set_ktls(c, ktls_mode), 0);
	CU_ASSERT_EQUAL_FATAL(cp_client_connect(c), 0);
	fd = cp_client_fd(c);
	CU_ASSERT(fd >= 0);
	fdfl = fcntl(fd, F_GETFD);
	CU_ASSERT_PTR_NULL(cp_client_get_tls_version(c));
	rv = cp_client_connect_ssl(c);
	CU_ASSERT_EQUAL(rv, 0);
	if (rv != 0)
		fprintf(stderr, "upgrade: %s\n", cp_client_error(c));
	CU_ASSERT_EQUAL(cp_client_fd(c), fd);
	CU_ASSERT_EQUAL(c->fd, fd);
	CU_ASSERT_EQUAL(fcntl(fd, F_GETFD), fdfl); /* close-on-exec kept */
	CU_ASSERT_EQUAL(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
	/* As for any TLS connection: use_ssl says what fd carries, records
	 * (1) or, on the kernel path, plaintext (0). */
	CU_ASSERT_EQUAL(c->use_ssl, !cp_client_ktls(c));
	CU_ASSERT_EQUAL(cp_client_get_verify_result(c), X509_V_OK);
	CU_ASSERT_PTR_NOT_NULL(cp_client_get_server_certificate(c));
	CU_ASSERT(cp_client_verify_hostname(c));
	CU_ASSERT_STRING_EQUAL(cp_client_get_tls_version(c) ?: "", want_ver);
	CU_ASSERT_PTR_NOT_NULL(cp_client_ktls_info(c));
	if (ktls_mode == CP_KTLS_OFF)
		CU_ASSERT_EQUAL(cp_client_ktls(c), 0);
	CU_ASSERT(thttp_get(c));
	/* A second connect_ssl on a TLS connection: EISCONN. */
	CU_ASSERT_EQUAL(cp_client_connect_ssl(c), -1);
	CU_ASSERT_EQUAL(errno, EISCONN);
	cp_client_close(c);
	/* Closed, the client is the plain client it was. */
	CU_ASSERT_EQUAL(c->use_ssl, 0);
	CU_ASSERT_EQUAL(cp_client_connect(c), 0);
	CU_ASSERT_PTR_NULL(cp_client_get_tls_version(c));
	cp_client_destroy(c);
	tservers_stop();
}

static void
test_upgrade_user_space(void)
{
	upgrade_ok(CP_KTLS_OFF, "-tls1_3", "TLSv1.3");
	upgrade_ok(CP_KTLS_OFF, "-tls1_2", "TLSv1.2");
}

/* AUTO: the kernel's where it has TLS, else the fallback (here). */
static void
test_upgrade_auto(void)
{
	upgrade_ok(CP_KTLS_AUTO, "-tls1_2", "TLSv1.2");
	upgrade_ok(CP_KTLS_AUTO, "-tls1_3", "TLSv1.3");
}

/* cprops' way: a TLS client connected in plaintext first (use_ssl
 * cleared), then connect_ssl; its trust anchors and mode apply. */
static void
test_upgrade_ssl_client(void)
{
	uint16_t port = s_server("wrongname", NULL);
	cp_client *c;
	int fd, rv;

	CU_ASSERT_FATAL(port != 0);
	/* SSL_VERIFY_NONE: the connection stands, the code is returned. */
	c = cp_client_create_ssl(
	    "localhost", port, tpath(pki, "ca.pem"), NULL, SSL_VERIFY_NONE);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	c->use_ssl = 0;
	CU_ASSERT_EQUAL_FATAL(cp_client_connect(c), 0);
	/* Plaintext: no TLS to report yet. */
	CU_ASSERT_PTR_NULL(cp_client_get_tls_version(c));
	CU_ASSERT_PTR_NULL(cp_client_get_server_certificate(c));
	fd = c->fd;
	rv = cp_client_connect_ssl(c);
	CU_ASSERT_EQUAL(rv, X509_V_ERR_HOSTNAME_MISMATCH);
	if (rv != X509_V_ERR_HOSTNAME_MISMATCH)
		fprintf(stderr, "verify none: %d %s\n", rv, cp_client_error(c));
	CU_ASSERT_EQUAL(c->fd, fd);
	CU_ASSERT_EQUAL(
	    cp_client_get_verify_result(c), X509_V_ERR_HOSTNAME_MISMATCH);
	CU_ASSERT(thttp_get(c));
	/* Closed, it is the TLS client it was made: use_ssl 1 again, and
	 * the next connect is TLS from the start. */
	cp_client_close(c);
	CU_ASSERT_EQUAL(c->use_ssl, 1);
	CU_ASSERT_EQUAL(cp_client_connect(c), X509_V_ERR_HOSTNAME_MISMATCH);
	CU_ASSERT_PTR_NOT_NULL(cp_client_get_tls_version(c));
	cp_client_destroy(c);

	/* SSL_VERIFY_PEER: -1, EPROTO, the code kept, the connection
	 * closed rather than left to plaintext. */
	c = cp_client_create_ssl(
	    "localhost", port, NULL, NULL, SSL_VERIFY_PEER);
	c->use_ssl = 0;
	CU_ASSERT_EQUAL_FATAL(cp_client_connect(c), 0);
	CU_ASSERT_EQUAL(cp_client_connect_ssl(c), -1);
	CU_ASSERT_EQUAL(errno, EPROTO);
	CU_ASSERT_EQUAL(
	    cp_client_get_verify_result(c), X509_V_ERR_HOSTNAME_MISMATCH);
	CU_ASSERT_EQUAL(c->fd, -1);
	CU_ASSERT(strstr(cp_client_error(c), "verif") != NULL);
	cp_client_destroy(c);
	tservers_stop();
}

/* A plain client (cp_client_create) verifies by default. */
static void
test_wrong_name_fails(void)
{
	uint16_t port = s_server("wrongname", NULL);
	cp_client *c;

	CU_ASSERT_FATAL(port != 0);
	c = cp_client_create("localhost", port);
	CU_ASSERT_EQUAL_FATAL(cp_client_connect(c), 0);
	CU_ASSERT_EQUAL(cp_client_connect_ssl(c), -1);
	CU_ASSERT_EQUAL(errno, EPROTO);
	CU_ASSERT_EQUAL(cp_client_fd(c), -1);
	CU_ASSERT_EQUAL(c->use_ssl, 0);
	CU_ASSERT_EQUAL(
	    cp_client_get_verify_result(c), X509_V_ERR_HOSTNAME_MISMATCH);
	cp_client_destroy(c);
	tservers_stop();
}

static int
tcp_to(uint16_t port)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd != -1 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
		return fd;
	if (fd != -1)
		close(fd);
	return -1;
}

/*
 * The name is allowed, the address is not: denied.  Once as a program
 * that asks for what it is connected to, once as one that names an
 * allowed port while its own socket reaches the denied one.
 */
static void
test_denied_address(void)
{
	uint16_t ok = s_server("valid", NULL);
	uint16_t den = ts_server(pki, p_denied, 0, "valid", 1, (char *)NULL);
	cp_client *c;
	int fd;

	CU_ASSERT_FATAL(ok != 0 && den == p_denied);
	c = cp_client_create("localhost", p_denied);
	CU_ASSERT_EQUAL_FATAL(cp_client_connect(c), 0); /* TCP: allowed */
	CU_ASSERT_EQUAL(cp_client_connect_ssl(c), -1);
	CU_ASSERT_EQUAL(errno, EACCES);
	CU_ASSERT_EQUAL(cp_client_fd(c), -1);
	CU_ASSERT(strstr(cp_client_error(c), "denied") != NULL);
	cp_client_destroy(c);

	c = cp_client_create("localhost", ok);
	fd = tcp_to(p_denied);
	CU_ASSERT_FATAL(fd != -1);
	c->fd = fd; /* as a program that connected it itself */
	CU_ASSERT_EQUAL(cp_client_connect_ssl(c), -1);
	CU_ASSERT_EQUAL(errno, EACCES);
	CU_ASSERT(tdaemon_log_has(&dmn, "upgrade localhost port"));
	CU_ASSERT_EQUAL(c->fd, -1);
	cp_client_destroy(c);

	/* A name a rule denies, whatever the socket reaches. */
	c = cp_client_create("blocked.test", ok);
	fd = tcp_to(ok);
	CU_ASSERT_FATAL(fd != -1);
	c->fd = fd;
	CU_ASSERT_EQUAL(cp_client_connect_ssl(c), -1);
	if (errno != EACCES)
		fprintf(stderr, "blocked.test: %s: %s\n", strerror(errno),
		    cp_client_error(c));
	CU_ASSERT_EQUAL(errno, EACCES);
	CU_ASSERT_EQUAL(c->fd, -1);
	CU_ASSERT_EQUAL(fcntl(fd, F_GETFD), -1); /* closed, not leaked */
	cp_client_destroy(c);
	tservers_stop();
}

/* The library refuses what is not a connected TCP socket, and leaves
 * it alone. */
static void
test_library_refuses(void)
{
	cp_client *c = cp_client_create("localhost", 443);
	int sv[2], u;

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	c->fd = sv[0];
	CU_ASSERT_EQUAL(cp_client_connect_ssl(c), -1);
	CU_ASSERT_EQUAL(errno, EPROTOTYPE);
	CU_ASSERT(strstr(cp_client_error(c), "Unix socket") != NULL);
	CU_ASSERT_EQUAL(c->fd, sv[0]);
	CU_ASSERT(fcntl(sv[0], F_GETFD) != -1);
	u = socket(AF_INET, SOCK_DGRAM, 0);
	c->fd = u;
	CU_ASSERT_EQUAL(cp_client_connect_ssl(c), -1);
	CU_ASSERT_EQUAL(errno, EPROTOTYPE);
	CU_ASSERT(strstr(cp_client_error(c), "UDP") != NULL);
	close(u);
	u = socket(AF_INET, SOCK_STREAM, 0);
	c->fd = u;
	CU_ASSERT_EQUAL(cp_client_connect_ssl(c), -1);
	CU_ASSERT_EQUAL(errno, ENOTCONN);
	c->fd = -1;
	close(u);
	close(sv[0]);
	close(sv[1]);
	/* Neither TLS nor connected: EINVAL, as before. */
	CU_ASSERT_EQUAL(cp_client_connect_ssl(c), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	cp_client_destroy(c);
}

/* A HANDSHAKE by hand with descriptor fd (-1: none); the RESULT. */
static int
raw_handshake(int fd, struct cp_result *res)
{
	struct cp_connect hc;
	struct rawc rc;
	struct abuf b;
	uint32_t id;
	int rv;

	if (rawc_open(&rc, dmn.sock, 0) == -1)
		return -1;
	memset(&hc, 0, sizeof(hc));
	snprintf(hc.host, sizeof(hc.host), "localhost");
	hc.port = 443;
	hc.tls = 1;
	abuf_init(&b);
	cp_handshake_encode(&b, &hc);
	raw_hello(rc.fd);
	rv = imsg_compose(&rc.ib, CP_MSG_HANDSHAKE, 1, 0,
	    fd == -1 ? -1 : dup(fd), b.buf, b.len);
	abuf_free(&b);
	if (rv == 0)
		rv = raw_flush(&rc.ib);
	if (rv == 0)
		rv = rawc_result(&rc, res, &id, 5000) == 1 ? 0 : -1;
	rawc_close(&rc);
	return rv;
}

static int
result_says(const struct cp_result *r, const char *s)
{
	if (r->status == CP_STATUS_ERROR && strstr(r->errtext, s) != NULL)
		return 1;
	fprintf(stderr, "result %u: %s (wanted \"%s\")\n", r->status,
	    r->errtext, s);
	return 0;
}

/* What a hostile program may send the daemon directly. */
static void
test_daemon_refuses(void)
{
	struct cp_result r;
	int sv[2], p[2], u, t;

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CU_ASSERT_EQUAL(raw_handshake(sv[0], &r), 0);
	CU_ASSERT(result_says(&r, "a Unix socket, not TCP"));
	CU_ASSERT_EQUAL(r.eclass, CP_E_PROTO);
	u = socket(AF_INET, SOCK_DGRAM, 0);
	CU_ASSERT_EQUAL(raw_handshake(u, &r), 0);
	CU_ASSERT(result_says(&r, "datagram (UDP) socket"));
	t = socket(AF_INET, SOCK_STREAM, 0);
	CU_ASSERT_EQUAL(raw_handshake(t, &r), 0);
	CU_ASSERT(result_says(&r, "not connected"));
	CU_ASSERT_FATAL(pipe(p) == 0);
	CU_ASSERT_EQUAL(raw_handshake(p[0], &r), 0);
	CU_ASSERT(result_says(&r, "not a socket"));
	CU_ASSERT_EQUAL(raw_handshake(-1, &r), 0);
	CU_ASSERT(result_says(&r, "HANDSHAKE without a socket"));
	close(sv[0]);
	close(sv[1]);
	close(u);
	close(t);
	close(p[0]);
	close(p[1]);
	/* A descriptor with any other message ends the session. */
	{
		struct rawc rc;
		uint32_t id;
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		CU_ASSERT_FATAL(rawc_open(&rc, dmn.sock, 0) == 0);
		raw_hello(rc.fd);
		CU_ASSERT_EQUAL(
		    imsg_compose(&rc.ib, CP_MSG_CA_END, 1, 0, fd, "x", 1), 0);
		CU_ASSERT_EQUAL(raw_flush(&rc.ib), 0);
		CU_ASSERT_EQUAL(rawc_result(&rc, &r, &id, 5000), 1);
		CU_ASSERT(result_says(&r, "descriptor with CA_END"));
		rawc_close(&rc);
	}
	/* The daemon still serves. */
	{
		cp_client *c = cp_client_create("127.0.0.1", 9);

		CU_ASSERT_EQUAL(cp_client_connect(c), -1);
		CU_ASSERT_EQUAL(errno, ECONNREFUSED);
		cp_client_destroy(c);
	}
}

/* A server that talks first, unread: refused, connection closed. */
static void
test_unread_data(void)
{
	uint16_t port = 0; /* tlisten: 0 picks a free one */
	int lfd = tlisten(AF_INET, &port), a, i, n = 0;
	cp_client *c;

	CU_ASSERT_FATAL(lfd != -1);
	c = cp_client_create("127.0.0.1", port);
	CU_ASSERT_EQUAL_FATAL(cp_client_connect(c), 0);
	a = accept(lfd, NULL, NULL);
	CU_ASSERT_FATAL(a != -1);
	CU_ASSERT_EQUAL(write(a, "250 injected\r\n", 14), 14);
	for (i = 0; i < 200 && n == 0; i++) {
		ioctl(c->fd, FIONREAD, &n);
		if (n == 0)
			tmsleep(5);
	}
	CU_ASSERT(n == 14);
	CU_ASSERT_EQUAL(cp_client_connect_ssl(c), -1);
	CU_ASSERT_EQUAL(errno, EPROTO);
	CU_ASSERT(strstr(cp_client_error(c), "14 bytes from the server are "
	                                     "unread") != NULL);
	CU_ASSERT_EQUAL(c->fd, -1);
	cp_client_destroy(c);
	close(a);
	close(lfd);
}

/* A server that never answers the ClientHello: the client's timeout
 * bounds the handshake. */
static void
test_handshake_timeout(void)
{
	uint16_t port = 0; /* tlisten: 0 picks a free one */
	int lfd = tlisten(AF_INET, &port), a;
	uint64_t t0;
	cp_client *c;

	CU_ASSERT_FATAL(lfd != -1);
	c = cp_client_create("127.0.0.1", port);
	cp_client_set_timeout(c, 1, 0);
	CU_ASSERT_EQUAL_FATAL(cp_client_connect(c), 0);
	a = accept(lfd, NULL, NULL);
	t0 = tnow_ms();
	CU_ASSERT_EQUAL(cp_client_connect_ssl(c), -1);
	CU_ASSERT_EQUAL(errno, ETIMEDOUT);
	CU_ASSERT(tnow_ms() - t0 < 5000);
	CU_ASSERT(
	    strstr(cp_client_error(c), "TLS handshake timed out") != NULL);
	cp_client_destroy(c);
	close(a);
	close(lfd);
}

/* The scripted SMTP server: greeting, EHLO, STARTTLS by hand as a
 * cprops program does it, then connect_ssl and data. */
static int
read_reply(cp_client *c, char *buf, size_t sz)
{
	size_t n = 0, s = 0;
	char ch;

	/* Byte by byte: nothing past the reply may be read. */
	while (n + 1 < sz && cp_client_read(c, &ch, 1) == 1) {
		buf[n++] = ch;
		if (ch != '\n')
			continue;
		if (n - s > 4 && buf[s + 3] == ' ')
			break;
		s = n;
	}
	buf[n] = '\0';
	return (int)n;
}

static void
test_smtp_by_hand(void)
{
	uint16_t port = tfree_port(AF_INET);
	char ps[16], buf[2048];
	char *argv[] = {"build/tests/starttls_serve", "-P", "smtp", "-m", "ok",
	    "-p", ps, "-c", tpath(pki, "valid.pem"), "-k",
	    tpath(pki, "valid.key"), "-C", tpath(pki, "int.pem"), NULL};
	const char *b = getenv("B");
	char bin[128];
	cp_client *c;

	snprintf(bin, sizeof(bin), "%s/tests/starttls_serve", b ? b : "build");
	argv[0] = bin;
	snprintf(ps, sizeof(ps), "%u", port);
	CU_ASSERT_FATAL(tserver_start(argv, port, 0) > 0);
	c = cp_client_create("localhost", port);
	CU_ASSERT_EQUAL_FATAL(cp_client_connect(c), 0);
	read_reply(c, buf, sizeof(buf));
	CU_ASSERT(strstr(buf, "220 ready") != NULL);
	cp_client_write(c, "EHLO me\r\n", 9);
	read_reply(c, buf, sizeof(buf));
	CU_ASSERT(strstr(buf, "250-STARTTLS") != NULL);
	cp_client_write(c, "STARTTLS\r\n", 10);
	read_reply(c, buf, sizeof(buf));
	CU_ASSERT(strncmp(buf, "220 ", 4) == 0);
	CU_ASSERT_EQUAL(cp_client_connect_ssl(c), 0);
	CU_ASSERT_EQUAL(cp_client_write(c, "ping\n", 5), 5);
	memset(buf, 0, sizeof(buf));
	CU_ASSERT_EQUAL(cp_client_read(c, buf, 5), 5);
	CU_ASSERT_STRING_EQUAL(buf, "ping\n");
	cp_client_destroy(c);
	tservers_stop();
}

/* A daemon that does not announce HANDSHAKE is not sent the socket. */
static void
test_old_daemon(void)
{
	struct sockaddr_un sun;
	char path[sizeof(sun.sun_path) - 1];
	int lfd, fd, rv;
	uint16_t port = 0; /* tlisten: 0 picks a free one */
	int tl = tlisten(AF_INET, &port);
	pid_t pid;
	cp_client *c;

	snprintf(path, sizeof(path), "%s/old.sock", cu_tmpdir());
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	CU_ASSERT_FATAL(listen(lfd, 4) == 0);
	if ((pid = fork()) == 0) {
		struct cp_hello h = {.version = CP_PROTO_VERSION};
		struct imsgbuf ib;
		struct abuf b;
		char junk[4096];
		int n = 0;

		alarm(10);
		fd = accept(lfd, NULL, NULL);
		imsgbuf_init(&ib, fd, CP_MAX_MSG);
		abuf_init(&b);
		h.lim.known = 1;
		h.lim.request_ms = h.lim.handshake_ms = 5000;
		h.lim.retry_delay_ms = 250;
		cp_hello_encode(&b, &h);
		imsg_compose(&ib, CP_MSG_HELLO, 0, 0, -1, b.buf, b.len);
		raw_flush(&ib);
		/* Count what comes: the library's HELLO only. */
		while (read(fd, junk, sizeof(junk)) > 0)
			n++;
		_exit(0);
	}
	close(lfd);
	c = cp_client_create("127.0.0.1", port);
	fd = tcp_to(port);
	CU_ASSERT_FATAL(fd != -1);
	c->fd = fd;
	cp_client_set_socket_path(path);
	rv = cp_client_connect_ssl(c);
	cp_client_set_socket_path(dmn.sock);
	CU_ASSERT_EQUAL(rv, -1);
	CU_ASSERT_EQUAL(errno, EOPNOTSUPP);
	CU_ASSERT(
	    strstr(cp_client_error(c), "older than this library") != NULL);
	cp_client_destroy(c);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	close(tl);
}

int
main(void)
{
	CU_pSuite s;

	signal(SIGPIPE, SIG_IGN);
	s = cu_suite("starttls: TLS on the program's connection", suite_init,
	    suite_clean);
	cu_test(s, "upgrade, user-space record layer, 1.3 and 1.2",
	    test_upgrade_user_space);
	cu_test(s, "upgrade, kernel TLS where there is one", test_upgrade_auto);
	cu_test(s, "cprops TLS client connected plain first",
	    test_upgrade_ssl_client);
	cu_test(
	    s, "wrong name fails under SSL_VERIFY_PEER", test_wrong_name_fails);
	cu_test(s, "denied address, allowed name", test_denied_address);
	cu_test(
	    s, "library refuses Unix, UDP, unconnected", test_library_refuses);
	cu_test(s, "daemon refuses Unix, UDP, unconnected, pipe",
	    test_daemon_refuses);
	cu_test(s, "unread server data refused", test_unread_data);
	cu_test(s, "handshake bounded by the timeout", test_handshake_timeout);
	cu_test(s, "SMTP STARTTLS by hand", test_smtp_by_hand);
	cu_test(s, "daemon without HANDSHAKE", test_old_daemon);
	return cu_finish();
}
