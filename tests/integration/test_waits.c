/* SPDX-License-Identifier: ISC */
/*
 * How long the library waits for a daemon that does not answer: fake
 * daemons on Unix sockets (one that accepts and never reads, one that
 * answers HELLO and then nothing, with or without announcing its limits)
 * against the request budget, blocking and from an event loop; and a real
 * cpconnectd announcing its configured limits in HELLO.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cprops/client.h"
#include "cpproto.h"
#include "cutest.h"
#include "imsg.h"
#include "itest.h"
#include "msg.h"
#include "rawclient.h"

enum fake { F_MUTE, F_HELLO_OLD, F_HELLO_LIMITS };

struct fakedaemon {
	char path[128];
	int lfd;
	pid_t pid; /* 0 for F_MUTE: nobody ever accepts */
};

static int
listen_unix(const char *path)
{
	struct sockaddr_un sun;
	int l;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return -1;
	strcpy(sun.sun_path, path);
	unlink(path);
	if ((l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (bind(l, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(l, 16) == -1) {
		close(l);
		return -1;
	}
	return l;
}

/* Read until a HELLO frame arrives and answer it; 0 or -1. */
static int
answer_hello(int fd, const struct cp_limits *lim)
{
	struct imsgbuf ib;
	struct cp_hello h;
	struct imsg m;
	struct abuf b;
	int rv = -1, got = 0;

	imsgbuf_init(&ib, fd, CP_MAX_MSG);
	while (!got && imsg_read(&ib) > 0)
		while (!got && imsg_get(&ib, &m) == 1)
			got = m.hdr.type == CP_MSG_HELLO;
	if (got) {
		memset(&h, 0, sizeof(h));
		h.version = CP_PROTO_VERSION;
		snprintf(h.software, sizeof(h.software), "fake");
		if (lim != NULL)
			h.lim = *lim;
		abuf_init(&b);
		cp_hello_encode(&b, &h);
		if (imsg_compose(&ib, CP_MSG_HELLO, 0, 0, -1, b.buf, b.len) ==
		        0 &&
		    raw_flush(&ib) == 0)
			rv = 0;
		abuf_free(&b);
	}
	imsgbuf_clear(&ib);
	return rv;
}

/* The child: answer each session's HELLO, then keep it open, silent. */
static void __attribute__((noreturn))
fake_serve(int lfd, const struct cp_limits *lim)
{
	int fd;

	for (;;) {
		if ((fd = accept(lfd, NULL, NULL)) == -1)
			continue;
		if (answer_hello(fd, lim) == -1)
			close(fd); /* otherwise kept until we are killed */
	}
}

static int
fake_start(struct fakedaemon *f, enum fake kind, uint32_t request_ms)
{
	struct cp_limits lim = {1, request_ms, 10000, 250};

	snprintf(
	    f->path, sizeof(f->path), "%s/fake%d.sock", cu_tmpdir(), (int)kind);
	f->pid = 0;
	if ((f->lfd = listen_unix(f->path)) == -1)
		return -1;
	if (kind == F_MUTE)
		return 0;
	if ((f->pid = fork()) == -1)
		return -1;
	if (f->pid == 0) {
		/* A failed assertion must not leave it behind. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fake_serve(f->lfd, kind == F_HELLO_LIMITS ? &lim : NULL);
	}
	return 0;
}

static void
fake_stop(struct fakedaemon *f)
{
	if (f->pid > 0)
		tkill(f->pid);
	close(f->lfd);
	unlink(f->path);
	/* Sessions to it must not be reused by the next test. */
	cp_client_shutdown();
}

/* A blocking connect through the fake; its duration in ms, errno in *e. */
static uint64_t
timed_connect(cp_client *c, int *e, int *rv)
{
	uint64_t t0 = tnow_ms();

	*rv = cp_client_connect(c);
	*e = errno;
	return tnow_ms() - t0;
}

/*
 * One attempt of 1 s against a daemon that never answers: ETIMEDOUT after
 * the budget (lo_ms) plus the margin, well before hi_ms, and the error
 * names the daemon's socket.
 */
static void
expect_budget(enum fake kind, int tls, uint64_t lo_ms, uint64_t hi_ms)
{
	struct fakedaemon f;
	cp_client *c;
	uint64_t ms;
	int e, rv;

	CU_ASSERT_FATAL(fake_start(&f, kind, 0) == 0);
	cp_client_set_socket_path(f.path);
	c = tls ? cp_client_create_ssl(
	              "127.0.0.1", 443, NULL, NULL, SSL_VERIFY_PEER)
	        : cp_client_create("127.0.0.1", 80);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	cp_client_set_timeout(c, 1, 0);
	cp_client_set_retry(c, 0);
	ms = timed_connect(c, &e, &rv);
	CU_ASSERT_EQUAL(rv, -1);
	CU_ASSERT_EQUAL(e, ETIMEDOUT);
	CU_ASSERT(ms >= lo_ms);
	CU_ASSERT(ms < hi_ms);
	if (ms < lo_ms || ms >= hi_ms)
		fprintf(stderr, "\n  gave up after %llu ms: %s",
		    (unsigned long long)ms, cp_client_error(c));
	CU_ASSERT_PTR_NOT_NULL(strstr(cp_client_error(c), f.path));
	cp_client_destroy(c);
	fake_stop(&f);
}

static void
test_mute_tcp(void)
{
	expect_budget(F_MUTE, 0, 1000, 3000);
}

/* TLS: the handshake's share of the budget is the same second again. */
static void
test_mute_tls(void)
{
	expect_budget(F_MUTE, 1, 2000, 3500);
}

static void
test_hello_then_silence(void)
{
	expect_budget(F_HELLO_OLD, 0, 1000, 3000);
}

/* No timeout of the client's own: the daemon's announced request-timeout
 * (1 s here) bounds the wait. */
static void
test_announced_request_timeout(void)
{
	struct fakedaemon f;
	cp_client *c;
	uint64_t ms;
	int e, rv;

	CU_ASSERT_FATAL(fake_start(&f, F_HELLO_LIMITS, 1000) == 0);
	cp_client_set_socket_path(f.path);
	c = cp_client_create("127.0.0.1", 80);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	ms = timed_connect(c, &e, &rv);
	CU_ASSERT_EQUAL(rv, -1);
	CU_ASSERT_EQUAL(e, ETIMEDOUT);
	CU_ASSERT(ms >= 1000 && ms < 3000);
	CU_ASSERT_PTR_NOT_NULL(strstr(cp_client_error(c), f.path));
	/* The next request on that session knows the limit from the
	 * start (the session was broken by the timeout: a new one). */
	ms = timed_connect(c, &e, &rv);
	CU_ASSERT(rv == -1 && e == ETIMEDOUT && ms < 3000);
	cp_client_destroy(c);
	fake_stop(&f);
}

/* From an event loop: the descriptor becomes readable at the deadline,
 * and connect_finish then says ETIMEDOUT. */
static void
test_evloop_deadline(void)
{
	struct fakedaemon f;
	struct pollfd p;
	cp_client *c;
	uint64_t t0;
	int rv;

	CU_ASSERT_FATAL(fake_start(&f, F_MUTE, 0) == 0);
	cp_client_set_socket_path(f.path);
	c = cp_client_create("127.0.0.1", 80);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	cp_client_set_timeout(c, 1, 0);
	cp_client_set_retry(c, 0);
	t0 = tnow_ms();
	p.fd = cp_client_connect_start(c);
	CU_ASSERT_FATAL(p.fd >= 0);
	p.events = POLLIN;
	do {
		CU_ASSERT_EQUAL_FATAL(poll(&p, 1, 5000), 1);
	} while ((rv = cp_client_connect_finish(c)) == -2);
	CU_ASSERT_EQUAL(rv, -1);
	CU_ASSERT_EQUAL(errno, ETIMEDOUT);
	CU_ASSERT(tnow_ms() - t0 >= 1000 && tnow_ms() - t0 < 3000);
	CU_ASSERT_PTR_NOT_NULL(strstr(cp_client_error(c), f.path));
	cp_client_destroy(c);
	fake_stop(&f);
}

/* Send HELLO on a new session to path and read the daemon's; 0 or -1. */
static int
hello_of(const char *path, struct cp_hello *h)
{
	struct timeval tv = {5, 0}; /* a daemon that never answers */
	struct sockaddr_un sun;
	struct imsgbuf ib;
	struct imsg m;
	struct abuf b;
	char err[256];
	int fd, rv = -1, got = 0;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return -1;
	}
	imsgbuf_init(&ib, fd, CP_MAX_MSG);
	memset(h, 0, sizeof(*h));
	h->version = CP_PROTO_VERSION;
	abuf_init(&b);
	cp_hello_encode(&b, h);
	if (imsg_compose(&ib, CP_MSG_HELLO, 0, 0, -1, b.buf, b.len) == 0 &&
	    raw_flush(&ib) == 0) {
		/* The daemon answers HELLO at once, not with a result. */
		while (!got && imsg_read(&ib) > 0)
			while (!got && imsg_get(&ib, &m) == 1)
				got = m.hdr.type == CP_MSG_HELLO;
		if (got)
			rv = cp_hello_decode(m.data, m.datalen, h, err,
			    sizeof(err));
	}
	abuf_free(&b);
	imsgbuf_clear(&ib);
	close(fd);
	return rv;
}

/* The real daemon's HELLO carries its configured limits. */
static void
test_daemon_announces(void)
{
	struct tdaemon d;
	struct cp_hello h;
	int rv;

	CU_ASSERT_FATAL(tdaemon_start(&d,
			    "user nobody\nrequest-timeout 1500ms\n"
			    "handshake-timeout 700ms\nretry-delay 100ms\n",
			    NULL, NULL) == 0);
	rv = hello_of(d.sock, &h);
	tdaemon_stop(&d);
	CU_ASSERT_EQUAL_FATAL(rv, 0);
	CU_ASSERT_EQUAL(h.lim.known, 1);
	CU_ASSERT_EQUAL(h.lim.request_ms, 1500);
	CU_ASSERT_EQUAL(h.lim.handshake_ms, 700);
	CU_ASSERT_EQUAL(h.lim.retry_delay_ms, 100);
}

int
main(void)
{
	CU_pSuite s;

	signal(SIGPIPE, SIG_IGN);
	s = cu_suite("waiting for the daemon", NULL, NULL);
	cu_test(s, "mute daemon, 1 s, no retry: gives up after ~1 s",
	    test_mute_tcp);
	cu_test(
	    s, "mute daemon, TLS: the handshake's second added", test_mute_tls);
	cu_test(s, "HELLO then silence", test_hello_then_silence);
	cu_test(s, "no client timeout: the announced request-timeout",
	    test_announced_request_timeout);
	cu_test(
	    s, "event loop: readable at the deadline", test_evloop_deadline);
	cu_test(s, "cpconnectd announces its limits", test_daemon_announces);
	return cu_finish();
}
