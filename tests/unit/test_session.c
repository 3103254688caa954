/* SPDX-License-Identifier: ISC */
/*
 * The library's side of the daemon protocol (lib/session.c, lib/client.c)
 * against a scripted daemon on a Unix socket: here, the event-loop connect
 * (cp_client_connect_start / cp_client_connect_finish) with a TLS reply
 * that does not arrive in one read.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cprops/client.h>

#include "cutest.h"
#include "fuzz/fuzzcert.h"
#include "imsg.h"
#include "msg.h"
#include "rawclient.h"
#include "record.h"
#include "session.h"

#define HOST "fuzz.example"

static int lfd = -1;
static char sock_path[96];
static unsigned char der[1024];
static size_t derlen;

static int
setup(void)
{
	struct sockaddr_un sun;
	BIO *bio = BIO_new_mem_buf(fuzz_cert_pem, -1);
	X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	unsigned char *p = der;
	int n;

	if (x == NULL || (n = i2d_X509(x, NULL)) <= 0 ||
	    (size_t)n > sizeof(der) || i2d_X509(x, &p) != n)
		return -1;
	derlen = (size_t)n;
	X509_free(x);
	BIO_free(bio);
	snprintf(sock_path, sizeof(sock_path), "%s/session.sock", cu_tmpdir());
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	if ((lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(lfd, 4) == -1)
		return -1;
	return cp_client_set_socket_path(sock_path);
}

static int
teardown(void)
{
	close(lfd);
	unlink(sock_path);
	rmdir(cu_tmpdir());
	return 0;
}

/* A TLS 1.3 state whose keys match its secrets. */
static void
state13(struct cp_tls_state *st)
{
	struct cp_tls_dir *d[2] = {&st->tx, &st->rx};
	int i;

	memset(st, 0, sizeof(*st));
	st->version = 0x0304;
	st->cipher = 0x1301;
	for (i = 0; i < 2; i++) {
		d[i]->secretlen = 32;
		memset(d[i]->secret, 0x11 * (i + 1), 32);
		d[i]->keylen = 16;
		CU_ASSERT_FATAL(tls_rec_expand_label("SHA256", d[i]->secret, 32,
		                    "key", NULL, 0, d[i]->key, 16) == 0);
		CU_ASSERT_FATAL(tls_rec_expand_label("SHA256", d[i]->secret, 32,
		                    "iv", NULL, 0, d[i]->iv, 12) == 0);
	}
}

/* The daemon's side: accept, read the request, learn its id (and, with
 * req, what it asked). */
static int
daemon_accept_req(struct imsgbuf *ib, uint32_t *id, struct cp_connect *req)
{
	struct imsg m;
	char err[256];
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	CU_ASSERT_FATAL(fd != -1);
	imsgbuf_init(ib, fd, CP_MAX_MSG);
	*id = 0;
	while (*id == 0) {
		CU_ASSERT_FATAL(imsg_read(ib) > 0);
		while (imsg_get(ib, &m) == 1) {
			if (m.hdr.type != CP_MSG_CONNECT)
				continue;
			*id = m.hdr.peerid;
			if (req != NULL)
				CU_ASSERT_FATAL(
				    cp_connect_decode(m.data, m.datalen, req,
				        err, sizeof(err)) == 0);
		}
	}
	return fd;
}

static int
daemon_accept(struct imsgbuf *ib, uint32_t *id)
{
	return daemon_accept_req(ib, id, NULL);
}

static void
send_msg(struct imsgbuf *ib, uint32_t type, uint32_t id, int fd, struct abuf *b)
{
	CU_ASSERT_FATAL(!abuf_failed(b));
	CU_ASSERT_FATAL(imsg_compose(ib, type, id, 0, fd, b->buf, b->len) == 0);
	abuf_free(b);
}

static void
send_chain(struct imsgbuf *ib, uint32_t id, int n)
{
	struct cp_tls_state st;
	struct abuf b;
	int i;

	for (i = 0; i < n; i++) {
		abuf_init(&b);
		cp_cert_encode(&b, der, derlen);
		send_msg(ib, CP_MSG_PEER_CERT, id, -1, &b);
	}
	state13(&st);
	abuf_init(&b);
	cp_tls_state_encode(&b, &st);
	cp_tls_state_wipe(&st);
	send_msg(ib, CP_MSG_TLS_STATE, id, -1, &b);
}

static void
send_result(struct imsgbuf *ib, uint32_t id, int *conn)
{
	struct cp_result r;
	struct abuf b;

	CU_ASSERT_FATAL(
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, conn) == 0);
	memset(&r, 0, sizeof(r));
	r.status = CP_STATUS_OK;
	r.tls_version = 0x0304;
	snprintf(r.cipher, sizeof(r.cipher), "TLS_AES_128_GCM_SHA256");
	abuf_init(&b);
	cp_result_encode(&b, &r);
	/* imsg closes the descriptor it sends */
	send_msg(ib, CP_MSG_RESULT, id, conn[0], &b);
}

/* One step, once the daemon's bytes are there. */
static int
step(cp_client *c, int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	CU_ASSERT_FATAL(poll(&p, 1, 5000) == 1);
	return cp_client_connect_finish(c);
}

/* Call cp_client_connect_finish until it is done. */
static int
finish(cp_client *c, int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int rv = -2, n = 0;

	while (rv == -2 && n++ < 100) {
		CU_ASSERT_FATAL(poll(&p, 1, 5000) == 1);
		rv = cp_client_connect_finish(c);
	}
	return rv;
}

static void
check_connected(cp_client *c, int rv, int nchain)
{
	STACK_OF(X509) * chain;

	CU_ASSERT_EQUAL(rv, 0);
	if (rv != 0)
		fprintf(stderr, "  connect: %s\n", cp_client_error(c));
	CU_ASSERT_PTR_NOT_NULL(cp_client_get_server_certificate(c));
	chain = cp_client_get_peer_chain(c);
	CU_ASSERT(chain != NULL && sk_X509_num(chain) == nchain);
}

/*
 * The chain and the state in one read, the RESULT in a later one: the
 * first cp_client_connect_finish has nothing to return yet, and must keep
 * what it took from the session.  (It threw it away: "daemon sent no TLS
 * state"; found by tests/fuzz/fuzz_handoff.)
 */
static void
test_reply_in_two_reads(void)
{
	struct imsgbuf ib;
	uint32_t id;
	cp_client *c =
	    cp_client_create_ssl(HOST, 443, NULL, NULL, SSL_VERIFY_PEER);
	int fd, srv, conn[2], rv;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	fd = cp_client_connect_start(c);
	CU_ASSERT_FATAL(fd >= 0);
	srv = daemon_accept(&ib, &id);
	send_chain(&ib, id, 1);
	CU_ASSERT_FATAL(raw_flush(&ib) == 0);
	rv = step(c, fd);
	CU_ASSERT(rv == -2 && errno == EAGAIN);
	send_result(&ib, id, conn);
	CU_ASSERT_FATAL(raw_flush(&ib) == 0);
	check_connected(c, finish(c, fd), 1);
	cp_client_destroy(c);
	dsession_pool_clear();
	imsgbuf_clear(&ib);
	close(srv);
	close(conn[1]);
}

/* A reply larger than the session's first read (4 KiB) in one write: a
 * full chain of ten certificates, the state, the result. */
static void
test_reply_larger_than_a_read(void)
{
	struct imsgbuf ib;
	uint32_t id;
	cp_client *c =
	    cp_client_create_ssl(HOST, 443, NULL, NULL, SSL_VERIFY_PEER);
	int fd, srv, conn[2];

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	fd = cp_client_connect_start(c);
	CU_ASSERT_FATAL(fd >= 0);
	srv = daemon_accept(&ib, &id);
	send_chain(&ib, id, CP_MAX_CHAIN);
	send_result(&ib, id, conn);
	CU_ASSERT_FATAL(raw_flush(&ib) == 0);
	check_connected(c, finish(c, fd), CP_MAX_CHAIN);
	cp_client_destroy(c);
	dsession_pool_clear();
	imsgbuf_clear(&ib);
	close(srv);
	close(conn[1]);
}

/* A connect given up half-way keeps nothing: the chain it had is freed
 * (LeakSanitizer), no descriptor stays open. */
static void
test_close_half_way(void)
{
	struct imsgbuf ib;
	uint32_t id;
	cp_client *c =
	    cp_client_create_ssl(HOST, 443, NULL, NULL, SSL_VERIFY_PEER);
	int fd, srv, before = dup(0);

	close(before);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	fd = cp_client_connect_start(c);
	CU_ASSERT_FATAL(fd >= 0);
	srv = daemon_accept(&ib, &id);
	send_chain(&ib, id, 2);
	CU_ASSERT_FATAL(raw_flush(&ib) == 0);
	CU_ASSERT(step(c, fd) == -2);
	CU_ASSERT(cp_client_close(c) == 0);
	cp_client_destroy(c);
	dsession_pool_clear();
	imsgbuf_clear(&ib);
	close(srv);
	fd = dup(0);
	CU_ASSERT_EQUAL(fd, before);
	close(fd);
}

/* The daemon's HELLO, announcing features. */
static void
send_hello(struct imsgbuf *ib, uint32_t features)
{
	struct cp_hello h;
	struct abuf b;

	memset(&h, 0, sizeof(h));
	h.version = CP_PROTO_VERSION;
	h.features = features;
	abuf_init(&b);
	cp_hello_encode(&b, &h);
	send_msg(ib, CP_MSG_HELLO, 0, -1, &b);
}

/* What the library sent on the session after its request, up to the
 * session's end: how many RECORDs, and the last one's record layer. */
static int
records_until_eof(struct imsgbuf *ib, int *last)
{
	struct pollfd p = {.fd = ib->fd, .events = POLLIN};
	struct imsg m;
	char err[128];
	int n = 0, k = 0;
	ssize_t r = 1;

	while (r > 0 && k++ < 100) {
		CU_ASSERT_FATAL(poll(&p, 1, 5000) == 1);
		if ((r = imsg_read(ib)) <= 0)
			break;
		while (imsg_get(ib, &m) == 1) {
			if (m.hdr.type != CP_MSG_RECORD)
				continue;
			n++;
			CU_ASSERT(cp_record_decode(m.data, m.datalen, last, err,
			              sizeof(err)) == 0);
		}
	}
	return n;
}

/*
 * With kernel TLS off the library knows its record layer before it asks:
 * the CONNECT says so, and to a daemon that announced it takes that, no
 * RECORD follows the hand-off; to one that did not, the RECORD does.
 */
static void
test_record_known(void)
{
	static const uint32_t feats[2] = {
	    CP_FEAT_RECORD | CP_FEAT_RECORD_KNOWN, CP_FEAT_RECORD};
	struct cp_connect req;
	struct imsgbuf ib;
	uint32_t id;
	cp_client *c;
	int fd, srv, conn[2], i, last = -1;

	for (i = 0; i < 2; i++) {
		c = cp_client_create_ssl(
		    HOST, 443, NULL, NULL, SSL_VERIFY_PEER);
		CU_ASSERT_PTR_NOT_NULL_FATAL(c);
		CU_ASSERT_FATAL(cp_client_set_ktls(c, CP_KTLS_OFF) == 0);
		fd = cp_client_connect_start(c);
		CU_ASSERT_FATAL(fd >= 0);
		srv = daemon_accept_req(&ib, &id, &req);
		CU_ASSERT(req.record == CP_RECORD_USER);
		send_hello(&ib, feats[i]);
		send_chain(&ib, id, 1);
		send_result(&ib, id, conn);
		CU_ASSERT_FATAL(raw_flush(&ib) == 0);
		check_connected(c, finish(c, fd), 1);
		CU_ASSERT(cp_client_ktls(c) == 0);
		cp_client_destroy(c);
		dsession_pool_clear();
		CU_ASSERT_EQUAL(records_until_eof(&ib, &last), i);
		if (i == 1)
			CU_ASSERT_EQUAL(last, CP_RECORD_USER);
		imsgbuf_clear(&ib);
		close(srv);
		close(conn[1]);
	}
}

/*
 * A socket path longer than a socket address holds is refused, from the
 * environment or from the setter: cut short it would name another socket,
 * here a listener at the first 107 bytes that must see no connection.
 */
static void
test_long_socket_path(void)
{
	struct sockaddr_un sun;
	char shortp[CP_SOCKET_PATH_MAX], longp[160];
	cp_client *c;
	int l, a;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(shortp, sizeof(shortp), "/tmp/cp-long.%d.", (int)getpid());
	memset(
	    shortp + strlen(shortp), 'a', sizeof(shortp) - 1 - strlen(shortp));
	shortp[sizeof(shortp) - 1] = '\0';
	snprintf(longp, sizeof(longp), "%sbbbbbbbbbb", shortp);
	memcpy(sun.sun_path, shortp, strlen(shortp));
	unlink(shortp);
	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	CU_ASSERT_FATAL(l != -1);
	CU_ASSERT_FATAL(bind(l, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	CU_ASSERT_FATAL(listen(l, 4) == 0);

	errno = 0;
	CU_ASSERT_EQUAL(cp_client_set_socket_path(longp), -1);
	CU_ASSERT_EQUAL(errno, ENAMETOOLONG);
	CU_ASSERT_STRING_EQUAL(cp_client_socket_path(), sock_path);

	CU_ASSERT(cp_client_set_socket_path(NULL) == 0);
	setenv("CPCONNECT_SOCKET", longp, 1);
	c = cp_client_create("127.0.0.1", 9);
	CU_ASSERT_FATAL(c != NULL);
	errno = 0;
	CU_ASSERT_EQUAL(cp_client_connect(c), -1);
	CU_ASSERT_EQUAL(errno, ENAMETOOLONG);
	CU_ASSERT(strstr(cp_client_error(c), "too long") != NULL);
	a = accept(l, NULL, NULL);
	CU_ASSERT(a == -1 && errno == EAGAIN);
	if (a != -1)
		close(a);
	cp_client_destroy(c);
	/* Empty is unset. */
	setenv("CPCONNECT_SOCKET", "", 1);
	CU_ASSERT_STRING_EQUAL(cp_client_socket_path(), CP_DEFAULT_SOCKET);
	unsetenv("CPCONNECT_SOCKET");
	CU_ASSERT(cp_client_set_socket_path(sock_path) == 0);
	close(l);
	unlink(shortp);
}

int
main(void)
{
	CU_pSuite s;

	s = cu_suite("session", setup, teardown);
	cu_test(s, "event-loop connect, reply in two reads",
	    test_reply_in_two_reads);
	cu_test(s, "event-loop connect, reply larger than a read",
	    test_reply_larger_than_a_read);
	cu_test(s, "event-loop connect given up half-way", test_close_half_way);
	cu_test(s, "record layer known before the request", test_record_known);
	cu_test(s, "a socket path too long is refused", test_long_socket_path);
	return cu_finish();
}
