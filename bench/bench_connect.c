/* SPDX-License-Identifier: ISC */
/*
 * Sequential connects to a loopback server: a direct connect() against
 * cp_client_connect() through cpconnectd, measured in the same run, with
 * the CPU time each spends (the library's and the engines' for ours), and
 * against what one process hop costs by itself: a helper that connects
 * as the engine does and passes the socket back (SCM_RIGHTS) when a byte
 * on a socketpair asks, the floor under any daemon that hands a socket on.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"
#include "cpproto.h"
#include "cprops/client.h"
#include "imsg.h"
#include "itest.h"

#define N_DEFAULT 2000
#define P1_TARGET_US 30 /* added by the daemon, at the median */

static pid_t
acceptor(int lfd)
{
	pid_t pid = fork();
	int c;

	if (pid != 0)
		return pid;
	for (;;)
		if ((c = accept(lfd, NULL, NULL)) != -1)
			close(c);
}

static uint64_t
direct_once(uint16_t port)
{
	struct sockaddr_in sin;
	uint64_t t0, t1;
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	t0 = bench_ns();
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 ||
	    connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		perror("connect");
		exit(1);
	}
	t1 = bench_ns();
	close(fd);
	return t1 - t0;
}

/* The engine's dial, without the daemon: non-blocking connect, its
 * completion, then blocking with TCP_NODELAY as a hand-off socket is. */
static int
dial_like_engine(uint16_t port)
{
	static const int one = 1;
	struct sockaddr_in sin;
	struct pollfd p;
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1 ||
	    (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 &&
	        errno != EINPROGRESS))
		_exit(1);
	p.fd = fd;
	p.events = POLLOUT;
	if (poll(&p, 1, 5000) != 1 || fcntl(fd, F_SETFL, 0) == -1 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1)
		_exit(1);
	return fd;
}

/* The helper: a byte in, a connected socket out, until EOF.  The socket
 * goes back as the engine's does, in an imsg frame (proto/imsg.c). */
static pid_t
hop_start(uint16_t port, struct imsgbuf *ib)
{
	struct imsgbuf out;
	int sv[2];
	char b;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1 ||
	    (pid = fork()) == -1) {
		perror("hop helper");
		exit(1);
	}
	if (pid != 0) {
		close(sv[1]);
		imsgbuf_init(ib, sv[0], CP_MAX_MSG);
		ib->accept_fds = 1;
		return pid;
	}
	close(sv[0]);
	imsgbuf_init(&out, sv[1], CP_MAX_MSG);
	while (read(sv[1], &b, 1) == 1)
		/* imsg closes the descriptor once sent */
		if (imsg_compose(&out, CP_MSG_RESULT, 0, 0,
		        dial_like_engine(port), NULL, 0) == -1 ||
		    imsg_write(&out) != 0)
			_exit(1);
	_exit(0);
}

static uint64_t
hop_once(struct imsgbuf *ib)
{
	struct imsg m;
	uint64_t t0, t1;
	char b = 'c';
	int r;

	t0 = bench_ns();
	if (write(ib->fd, &b, 1) != 1)
		goto fail;
	while ((r = imsg_get(ib, &m)) == 0)
		if (imsg_read(ib) <= 0)
			goto fail;
	if (r == -1 || m.fd == -1)
		goto fail;
	t1 = bench_ns();
	close(m.fd);
	return t1 - t0;
fail:
	fprintf(stderr, "hop helper: no socket back\n");
	exit(1);
}

static uint64_t
daemon_once(cp_client *c)
{
	uint64_t t0, t1;

	t0 = bench_ns();
	if (cp_client_connect(c) != 0) {
		fprintf(stderr, "cp_client_connect: %s\n", cp_client_error(c));
		exit(1);
	}
	t1 = bench_ns();
	cp_client_close(c);
	return t1 - t0;
}

int
main(int argc, char *argv[])
{
	int n = argc > 1 ? atoi(argv[1]) : N_DEFAULT, i, lfd;
	uint64_t *d, *p, *h, dm, d99, pm, p99, hm, dc = 0, pc = 0, ec, t;
	struct imsgbuf hib;
	struct tdaemon td;
	uint16_t port = 0;
	pid_t srv, hop;
	cp_client *c;

	if (n < 10)
		n = 10;
	if (tdaemon_start(&td, "user nobody\nallow from any to 127.0.0.0/8\n",
	        NULL, NULL) == -1) {
		fprintf(stderr, "bench: cannot start cpconnectd\n");
		return 1;
	}
	cp_client_set_socket_path(td.sock);
	if ((lfd = tlisten(AF_INET, &port)) == -1)
		return 1;
	srv = acceptor(lfd);
	hop = hop_start(port, &hib);
	d = calloc((size_t)n, sizeof(*d));
	p = calloc((size_t)n, sizeof(*p));
	h = calloc((size_t)n, sizeof(*h));
	c = cp_client_create("127.0.0.1", port);
	/* Warm up every path (page faults, pooled daemon session). */
	for (i = 0; i < 50; i++) {
		direct_once(port);
		daemon_once(c);
		hop_once(&hib);
	}
	/* Interleaved, so machine noise hits all three alike. */
	ec = bench_children_cpu_ns(td.pid);
	for (i = 0; i < n; i++) {
		t = bench_cpu_ns();
		d[i] = direct_once(port);
		dc += bench_cpu_ns() - t;
		t = bench_cpu_ns();
		p[i] = daemon_once(c);
		pc += bench_cpu_ns() - t;
		h[i] = hop_once(&hib);
	}
	ec = bench_children_cpu_ns(td.pid) - ec;
	dm = bench_quantile(d, (size_t)n, 0.5);
	d99 = bench_quantile(d, (size_t)n, 0.99);
	pm = bench_quantile(p, (size_t)n, 0.5);
	p99 = bench_quantile(p, (size_t)n, 0.99);
	hm = bench_quantile(h, (size_t)n, 0.5);
	printf("connect: %d sequential connects to 127.0.0.1\n", n);
	printf("  direct connect()        median %7.1f us  p99 %7.1f us\n",
	    dm / 1e3, d99 / 1e3);
	printf("  cp_client_connect()     median %7.1f us  p99 %7.1f us\n",
	    pm / 1e3, p99 / 1e3);
	printf("  added by the daemon     median %7.1f us  p99 %7.1f us  "
	       "ratio %.2f\n",
	    ((double)pm - (double)dm) / 1e3, ((double)p99 - (double)d99) / 1e3,
	    (double)pm / (double)dm);
	printf("  CPU per connect (mean)  direct %.1f us; ours: library %.1f "
	       "us + engines %.1f us\n",
	    dc / 1e3 / n, pc / 1e3 / n, ec / 1e3 / n);
	printf(
	    "  one process hop alone:  a helper connects as the engine does "
	    "and passes the socket back,\n"
	    "                          median %.1f us, %+.1f us over direct\n",
	    hm / 1e3, ((double)hm - (double)dm) / 1e3);
	/* The summary row of make bench (bench/run.sh). */
	printf("TABLE P1|TCP connect, %d sequential to 127.0.0.1: added by "
	       "the daemon|%.1f us vs %.1f us: +%.1f us (one hop alone: "
	       "%+.1f)|%.2f|added <= %d us: %s\n",
	    n, pm / 1e3, dm / 1e3, ((double)pm - (double)dm) / 1e3,
	    ((double)hm - (double)dm) / 1e3, (double)pm / (double)dm,
	    P1_TARGET_US,
	    ((double)pm - (double)dm) / 1e3 <= P1_TARGET_US ? "met" : "MISSED");
	cp_client_destroy(c);
	cp_client_shutdown();
	close(hib.fd);
	imsgbuf_clear(&hib);
	waitpid(hop, NULL, 0);
	kill(srv, SIGKILL);
	waitpid(srv, NULL, 0);
	tdaemon_stop(&td);
	free(d);
	free(p);
	free(h);
	return 0;
}
