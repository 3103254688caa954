/* SPDX-License-Identifier: ISC */
/*
 * The kernel TLS choice through a real cpconnectd on this machine, whose
 * kernel has no TLS: auto falls back to the user-space record layer and
 * says why, require fails clearly (and the server is told goodbye), off
 * is off, the per-client setting beats CPCONNECT_KTLS, a mistyped
 * CPCONNECT_KTLS is an error before anything is asked of the daemon.
 * The audit line names the record layer the library took (its RECORD),
 * and a client that never says is still logged, "record -", in bounded
 * time; a RECORD that does not decode or names no held line harms none;
 * a request that said its record layer is logged with the reply.
 * What kernel TLS does where the kernel has it is the VM suite's
 * (tests/vm/).
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "cpproto.h"
#include "cprops/client.h"
#include "cutest.h"
#include "itest.h"
#include "ktls.h"
#include "msg.h"
#include "rawclient.h"

static struct tdaemon dmn;
static char pki[128];
static uint16_t port13, port12;
static int have_ktls; /* this kernel has TLS after all */

static int
kernel_has_tls(void)
{
	uint16_t port = 0; /* tlisten: 0 asks for any free port */
	struct sockaddr_in sin;
	char err[160];
	int l, a, rv = 0;

	if ((l = tlisten(AF_INET, &port)) == -1)
		return 0;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((a = socket(AF_INET, SOCK_STREAM, 0)) != -1 &&
	    connect(a, (struct sockaddr *)&sin, sizeof(sin)) == 0)
		rv = ktls_attach(a, err, sizeof(err)) == 0;
	close(a);
	close(l);
	return rv;
}

static int
suite_init(void)
{
	char conf[512];

	if (tpki_make(pki, sizeof(pki), cu_tmpdir()) == -1)
		return -1;
	snprintf(conf, sizeof(conf),
	    "user nobody\n"
	    "ca-file \"%s/ca.pem\"\n"
	    "allow from any to 127.0.0.0/8\n",
	    pki);
	if (tdaemon_start(&dmn, conf, NULL, NULL) == -1)
		return -1;
	cp_client_set_socket_path(dmn.sock);
	port13 =
	    ts_server(pki, 0, 0, "valid", 1, "-www", "-tls1_3", (char *)NULL);
	port12 =
	    ts_server(pki, 0, 0, "valid", 1, "-www", "-tls1_2", (char *)NULL);
	have_ktls = kernel_has_tls();
	if (have_ktls)
		printf("\n  (this kernel has TLS: the no-TLS cases are "
		       "skipped)\n");
	return port13 != 0 && port12 != 0 ? 0 : -1;
}

static int
suite_clean(void)
{
	tservers_stop();
	tdaemon_stop(&dmn);
	unsetenv("CPCONNECT_KTLS");
	return 0;
}

static cp_client *
tls_client(uint16_t port)
{
	return cp_client_create_ssl(
	    "localhost", port, NULL, NULL, SSL_VERIFY_PEER);
}

static void
test_auto_falls_back(void)
{
	uint16_t ports[2] = {port13, port12};
	const char *info;
	cp_client *c;
	int i;

	if (have_ktls)
		return;
	unsetenv("CPCONNECT_KTLS");
	for (i = 0; i < 2; i++) {
		c = tls_client(ports[i]);
		CU_ASSERT_FATAL(c != NULL);
		CU_ASSERT_FATAL(cp_client_connect(c) == 0);
		CU_ASSERT(cp_client_ktls(c) == 0);
		info = cp_client_ktls_info(c);
		CU_ASSERT(info != NULL &&
		          strncmp(info, "user space: this kernel has no TLS",
		              34) == 0);
		CU_ASSERT(info != NULL && strstr(info, "TCP_ULP") != NULL);
		CU_ASSERT(thttp_get(c));
		cp_client_destroy(c);
	}
}

static void
test_require_fails(void)
{
	cp_client *c;

	if (have_ktls)
		return;
	setenv("CPCONNECT_KTLS", "require", 1);
	c = tls_client(port13);
	CU_ASSERT_FATAL(c != NULL);
	errno = 0;
	CU_ASSERT(cp_client_connect(c) == -1);
	CU_ASSERT(errno == EOPNOTSUPP);
	CU_ASSERT(strstr(cp_client_error(c), "kernel TLS required") != NULL);
	CU_ASSERT(strstr(cp_client_error(c), "this kernel has no TLS") != NULL);
	CU_ASSERT(cp_client_fd(c) == -1);
	CU_ASSERT(cp_client_ktls(c) == 0);
	/* The same through the setter, whatever the environment says. */
	setenv("CPCONNECT_KTLS", "off", 1);
	CU_ASSERT(cp_client_set_ktls(c, CP_KTLS_REQUIRE) == 0);
	CU_ASSERT(cp_client_connect(c) == -1 && errno == EOPNOTSUPP);
	/* And back to the environment's choice. */
	CU_ASSERT(cp_client_set_ktls(c, -1) == 0);
	CU_ASSERT(cp_client_connect(c) == 0);
	CU_ASSERT(thttp_get(c));
	cp_client_destroy(c);
	unsetenv("CPCONNECT_KTLS");
}

static void
test_off(void)
{
	const char *info;
	cp_client *c = tls_client(port12);

	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT(cp_client_set_ktls(c, CP_KTLS_OFF) == 0);
	CU_ASSERT_FATAL(cp_client_connect(c) == 0);
	CU_ASSERT(cp_client_ktls(c) == 0);
	info = cp_client_ktls_info(c);
	CU_ASSERT(info != NULL && strcmp(info, "user space: kernel TLS is "
	                                       "off") == 0);
	/* records on the descriptor: cprops code must take the TLS branch */
	CU_ASSERT(c->use_ssl == 1);
	CU_ASSERT(thttp_get(c));
	cp_client_close(c);
	CU_ASSERT(cp_client_ktls_info(c) == NULL);
	CU_ASSERT(c->use_ssl == 1);
	cp_client_destroy(c);
}

static void
test_bad_values(void)
{
	cp_client *c = tls_client(port13);

	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT(cp_client_set_ktls(c, 3) == -1 && errno == EINVAL);
	CU_ASSERT(cp_client_set_ktls(NULL, CP_KTLS_AUTO) == -1);
	setenv("CPCONNECT_KTLS", "requir", 1);
	CU_ASSERT(cp_client_connect(c) == -1 && errno == EINVAL);
	CU_ASSERT(strstr(cp_client_error(c), "CPCONNECT_KTLS=requir") != NULL);
	CU_ASSERT(strstr(cp_client_error(c), "off, auto or require") != NULL);
	CU_ASSERT(cp_client_fd(c) == -1);
	unsetenv("CPCONNECT_KTLS");
	cp_client_destroy(c);
}

/* A TCP client has no record layer to choose; the variable is ignored. */
static void
test_tcp_ignores(void)
{
	cp_client *c;
	pid_t pid;
	uint16_t port = 0;
	int lfd;

	CU_ASSERT_FATAL((lfd = tlisten(AF_INET, &port)) != -1);
	pid = techo_start(lfd, 1);
	close(lfd);
	setenv("CPCONNECT_KTLS", "bogus", 1);
	c = cp_client_create("127.0.0.1", port);
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT(cp_client_connect(c) == 0);
	CU_ASSERT(cp_client_ktls(c) == 0);
	CU_ASSERT(cp_client_ktls_info(c) == NULL);
	cp_client_destroy(c);
	unsetenv("CPCONNECT_KTLS");
	tkill(pid);
}

/* "port P:": the start of the outcome in P's audit line. */
static const char *
port_at(uint16_t port)
{
	static char buf[32];

	snprintf(buf, sizeof(buf), "port %u: ok", (unsigned)port);
	return buf;
}

static void
test_audit_library(void)
{
	uint16_t port = ts_server(pki, 0, 0, "valid", 1, "-www", (char *)NULL);
	cp_client *c;

	CU_ASSERT_FATAL(port != 0);
	unsetenv("CPCONNECT_KTLS");
	c = tls_client(port);
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_FATAL(cp_client_connect(c) == 0);
	/* The program still holds the connection: the library told at
	 * once, not at its end, and well within the daemon's wait. */
	CU_ASSERT(tdaemon_log_line_wait(&dmn, port_at(port),
	    cp_client_ktls(c) ? ", record kernel" : ", record user",
	    AUDIT_HOLD_MS / 2));
	CU_ASSERT(thttp_get(c));
	cp_client_destroy(c);
}

/* A TLS CONNECT by hand, its RESULT read; the session stays open. */
static int
raw_tls(struct rawc *rc, uint16_t port, uint32_t id)
{
	struct cp_result res;
	uint32_t got = 0;

	if (rawc_open(rc, dmn.sock, 0) == -1)
		return -1;
	if (raw_hello(rc->fd) == -1 ||
	    raw_connect(rc->fd, id, "localhost", port, 1) == -1 ||
	    rawc_result(rc, &res, &got, 5000) != 1 ||
	    res.status != CP_STATUS_OK || got != id) {
		rawc_close(rc);
		return -1;
	}
	return 0;
}

static int
raw_record(int fd, uint32_t id, int record)
{
	struct abuf b;
	int rv;

	abuf_init(&b);
	cp_record_encode(&b, record);
	rv = raw_frame(fd, CP_MSG_RECORD, id, b.buf, b.len);
	abuf_free(&b);
	return rv;
}

static void
test_audit_unreported(void)
{
	uint16_t port = ts_server(pki, 0, 0, "valid", 1, "-www", (char *)NULL);
	struct rawc rc;

	CU_ASSERT_FATAL(port != 0);
	CU_ASSERT_FATAL(raw_tls(&rc, port, 7) == 0);
	/* Nothing comes: the line is written without, in bounded time. */
	CU_ASSERT(tdaemon_log_line_wait(
	    &dmn, port_at(port), ", record -", 3 * AUDIT_HOLD_MS));
	/* A late RECORD finds no line, and is no error. */
	CU_ASSERT(raw_record(rc.fd, 7, CP_RECORD_USER) == 0);
	CU_ASSERT(raw_hello(rc.fd) == 0); /* a second HELLO: an error */
	CU_ASSERT(raw_closed(rc.fd, 3000));
	rawc_close(&rc);
	CU_ASSERT(
	    !tdaemon_log_line_wait(&dmn, port_at(port), ", record user", 100));
}

/* A request that said its record layer (CP_A_RECORD_KNOWN): the line
 * is written with the reply, while the session stays open and no RECORD
 * comes; a RECORD that comes anyway finds no line and changes nothing. */
static void
test_audit_known(void)
{
	uint16_t port = ts_server(pki, 0, 0, "valid", 1, "-www", (char *)NULL);
	struct cp_connect c;
	struct cp_result res;
	struct rawc rc;
	struct abuf b;
	uint32_t got = 0;
	int rv;

	CU_ASSERT_FATAL(port != 0);
	CU_ASSERT_FATAL(rawc_open(&rc, dmn.sock, 0) == 0);
	memset(&c, 0, sizeof(c));
	snprintf(c.host, sizeof(c.host), "localhost");
	c.port = port;
	c.tls = 1;
	c.verify = CP_VERIFY_PEER;
	c.record = CP_RECORD_KERNEL;
	abuf_init(&b);
	cp_connect_encode(&b, &c);
	rv = raw_hello(rc.fd) == 0 &&
	     raw_frame(rc.fd, CP_MSG_CONNECT, 11, b.buf, b.len) == 0 &&
	     rawc_result(&rc, &res, &got, 5000) == 1 &&
	     res.status == CP_STATUS_OK && got == 11;
	abuf_free(&b);
	CU_ASSERT_FATAL(rv);
	CU_ASSERT(tdaemon_log_line_wait(
	    &dmn, port_at(port), ", record kernel", AUDIT_HOLD_MS / 2));
	CU_ASSERT(raw_record(rc.fd, 11, CP_RECORD_USER) == 0);
	rawc_close(&rc);
	CU_ASSERT(
	    !tdaemon_log_line_wait(&dmn, port_at(port), ", record user", 300));
	CU_ASSERT(
	    !tdaemon_log_line_wait(&dmn, port_at(port), ", record -", 300));
}

static void
test_audit_hostile_record(void)
{
	static const unsigned char junk[] = {0x00, 0x5f, 0x00, 0x09, 0xff};
	uint16_t port = ts_server(pki, 0, 0, "valid", 1, "-www", (char *)NULL);
	struct rawc rc;

	CU_ASSERT_FATAL(port != 0);
	CU_ASSERT_FATAL(raw_tls(&rc, port, 9) == 0);
	/* Junk, then another request's id: the line still waits for its
	 * own, and the session goes on. */
	CU_ASSERT(raw_frame(rc.fd, CP_MSG_RECORD, 9, junk, sizeof(junk)) == 0);
	CU_ASSERT(raw_record(rc.fd, 8, CP_RECORD_USER) == 0);
	CU_ASSERT(tdaemon_log_wait(&dmn, "bad RECORD", 2000));
	CU_ASSERT(raw_record(rc.fd, 9, CP_RECORD_KERNEL) == 0);
	CU_ASSERT(tdaemon_log_line_wait(
	    &dmn, port_at(port), ", record kernel", 2000));
	/* Closing with a line held writes it: a fresh request's. */
	rawc_close(&rc);
	CU_ASSERT_FATAL(raw_tls(&rc, port, 10) == 0);
	rawc_close(&rc);
	CU_ASSERT(tdaemon_log_line_wait(
	    &dmn, port_at(port), ", record -", AUDIT_HOLD_MS / 2));
}

int
main(void)
{
	CU_pSuite s;

	s = cu_suite(
	    "kernel TLS choice on this machine", suite_init, suite_clean);
	cu_test(s, "auto: user space, and why", test_auto_falls_back);
	cu_test(s, "require: a clear failure", test_require_fails);
	cu_test(s, "off", test_off);
	cu_test(s, "bad modes", test_bad_values);
	cu_test(s, "plain TCP ignores CPCONNECT_KTLS", test_tcp_ignores);
	cu_test(
	    s, "audit line: the library's record layer", test_audit_library);
	cu_test(
	    s, "audit line: a client that never says", test_audit_unreported);
	cu_test(s, "audit line: a RECORD that lies", test_audit_hostile_record);
	cu_test(s, "audit line: the record layer said in the request",
	    test_audit_known);
	return cu_finish();
}
