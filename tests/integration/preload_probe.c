/* SPDX-License-Identifier: ISC */
/*
 * preload_probe: what a program notices of libcpconnect-preload, run by
 * tests/integration/preload.sh under cpconnect-run in a namespace without
 * a network.  Prints "ok NAME" or "FAIL NAME (detail)" per check.
 *
 *   preload_probe ECHO_PORT REFUSED_PORT DENIED_PORT NAME
 *
 * ECHO_PORT: an echo server on 127.0.0.1; REFUSED_PORT: nothing listens
 * there; DENIED_PORT: the daemon's policy denies it; NAME: a name the
 * daemon resolves to 127.0.0.1.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fails;
static uint16_t echo_port, refused_port, denied_port;
static const char *name;

static void
check(const char *what, int cond, const char *detail)
{
	if (cond)
		printf("ok   %s\n", what);
	else {
		printf("FAIL %s (%s)\n", what, detail ? detail : "");
		fails++;
	}
	fflush(stdout);
}

static struct sockaddr_in
lo4(uint16_t port)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sin;
}

static int
connect4(int fd, uint16_t port)
{
	struct sockaddr_in sin = lo4(port);

	return connect(fd, (struct sockaddr *)&sin, sizeof(sin));
}

/* Write msg, read it back (polling when non-blocking), bounded. */
static int
echo(int fd, const char *msg)
{
	char buf[256];
	size_t got = 0, len = strlen(msg);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ssize_t n;
	int i;

	if (send(fd, msg, len, MSG_NOSIGNAL) != (ssize_t)len)
		return 0;
	for (i = 0; i < 50 && got < len; i++) {
		if (poll(&p, 1, 100) == 1 &&
		    (n = recv(fd, buf + got, sizeof(buf) - got, 0)) > 0)
			got += (size_t)n;
	}
	return got == len && memcmp(buf, msg, len) == 0;
}

static int
ndesc(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (d == NULL)
		return -1;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

static void
t_blocking(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), dup = fd, rv, e;
	struct sockaddr_in peer;
	socklen_t plen = sizeof(peer);
	int before = ndesc();

	rv = connect4(fd, echo_port);
	e = errno;
	check("blocking connect by address returns 0", rv == 0, strerror(e));
	check("the descriptor number is kept", fd == dup, NULL);
	check("getpeername: 127.0.0.1 and the port",
	    getpeername(fd, (struct sockaddr *)&peer, &plen) == 0 &&
	        peer.sin_family == AF_INET &&
	        peer.sin_addr.s_addr == htonl(INADDR_LOOPBACK) &&
	        ntohs(peer.sin_port) == echo_port,
	    NULL);
	check("echo through the routed socket", echo(fd, "hello"), NULL);
	rv = connect4(fd, echo_port);
	e = errno;
	check(
	    "a second connect: EISCONN", rv == -1 && e == EISCONN, strerror(e));
	check("no descriptor left behind by the daemon session",
	    ndesc() == before, NULL);
	close(fd);
}

struct optv {
	int level, name;
	const char *what;
};

static void
t_options(void)
{
	static const struct optv ints[] = {
	    {SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE"},
	    {SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF"},
	    {SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF"},
	    {IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY"},
	    {IPPROTO_TCP, TCP_KEEPIDLE, "TCP_KEEPIDLE"},
	};
	int vals[] = {1, 65536, 98304, 1, 77}, before[5], v, i, rv;
	struct timeval rtv = {1, 500000}, stv = {7, 0}, tv;
	struct linger lg = {1, 3}, l2;
	socklen_t len;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char what[64];

	for (i = 0; i < 5; i++) {
		setsockopt(
		    fd, ints[i].level, ints[i].name, &vals[i], sizeof(int));
		len = sizeof(int);
		getsockopt(fd, ints[i].level, ints[i].name, &before[i], &len);
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rtv, sizeof(rtv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &stv, sizeof(stv));
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	rv = connect4(fd, echo_port);
	check("connect with options set", rv == 0, strerror(errno));
	for (i = 0; i < 5; i++) {
		len = sizeof(v);
		v = -1;
		getsockopt(fd, ints[i].level, ints[i].name, &v, &len);
		snprintf(what, sizeof(what), "%s carried over", ints[i].what);
		check(what, v == before[i], NULL);
	}
	len = sizeof(tv);
	getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len);
	check("SO_RCVTIMEO carried over",
	    tv.tv_sec == 1 && tv.tv_usec / 1000 == 500, NULL);
	len = sizeof(tv);
	getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &len);
	check("SO_SNDTIMEO carried over", tv.tv_sec == 7, NULL);
	len = sizeof(l2);
	getsockopt(fd, SOL_SOCKET, SO_LINGER, &l2, &len);
	check("SO_LINGER carried over", l2.l_onoff && l2.l_linger == 3, NULL);
	check("FD_CLOEXEC kept", fcntl(fd, F_GETFD) & FD_CLOEXEC, NULL);
	check("echo after options", echo(fd, "opts"), NULL);
	close(fd);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	rv = connect4(fd, echo_port);
	check("connect without SOCK_CLOEXEC", rv == 0, strerror(errno));
	check("no FD_CLOEXEC when the program set none",
	    !(fcntl(fd, F_GETFD) & FD_CLOEXEC), NULL);
	len = sizeof(v);
	getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len);
	check("TCP_NODELAY not set when the program set none", v == 0, NULL);
	close(fd);
}

static void
t_nonblocking(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), rv, e, err;
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	socklen_t len = sizeof(err);

	rv = connect4(fd, echo_port);
	e = errno;
	check("non-blocking connect: -1 EINPROGRESS",
	    rv == -1 && e == EINPROGRESS, strerror(e));
	check("non-blocking: writable at once",
	    poll(&p, 1, 0) == 1 && (p.revents & POLLOUT) &&
	        !(p.revents & (POLLERR | POLLHUP)),
	    NULL);
	err = -1;
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
	check("non-blocking: SO_ERROR 0", err == 0, strerror(err));
	check("non-blocking: O_NONBLOCK kept", fcntl(fd, F_GETFL) & O_NONBLOCK,
	    NULL);
	rv = connect4(fd, echo_port);
	e = errno;
	check("non-blocking: connect again says EISCONN",
	    rv == -1 && e == EISCONN, strerror(e));
	check("non-blocking: echo", echo(fd, "nb"), NULL);
	close(fd);
	/* O_NONBLOCK set with fcntl, not at socket(): the same. */
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	rv = -2;
	{
		struct sockaddr_in6 s6;

		memset(&s6, 0, sizeof(s6));
		s6.sin6_family = AF_INET6;
		s6.sin6_port = htons(echo_port);
		/* ::ffff:127.0.0.1: an IPv4 destination on an IPv6 socket */
		inet_pton(AF_INET6, "::ffff:127.0.0.1", &s6.sin6_addr);
		rv = connect(fd, (struct sockaddr *)&s6, sizeof(s6));
	}
	e = errno;
	check("v4-mapped address on an IPv6 socket: EINPROGRESS",
	    rv == -1 && e == EINPROGRESS, strerror(e));
	check("v4-mapped: echo", echo(fd, "mapped"), NULL);
	close(fd);
}

static void
t_errors(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), rv, e;
	struct sockaddr_in sin = lo4(echo_port);

	rv = connect4(fd, refused_port);
	e = errno;
	check("nothing listening: ECONNREFUSED", rv == -1 && e == ECONNREFUSED,
	    strerror(e));
	close(fd);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	rv = connect4(fd, refused_port);
	e = errno;
	check("nothing listening, non-blocking: ECONNREFUSED at once",
	    rv == -1 && e == ECONNREFUSED, strerror(e));
	close(fd);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	rv = connect4(fd, denied_port);
	e = errno;
	check("denied by policy: EACCES", rv == -1 && e == EACCES, strerror(e));
	close(fd);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	inet_pton(AF_INET, "240.255.255.1", &sin.sin_addr);
	rv = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	e = errno;
	check("a placeholder never handed out: EHOSTUNREACH",
	    rv == -1 && e == EHOSTUNREACH, strerror(e));
	close(fd);
}

static void
t_refused_kinds(void)
{
	struct sockaddr_in sin = lo4(53);
	struct sockaddr_un sun;
	int fd = socket(AF_INET, SOCK_DGRAM, 0), rv, e;

	rv = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	e = errno;
	check("UDP connect: EPERM", rv == -1 && e == EPERM, strerror(e));
	rv = (int)sendto(fd, "x", 1, 0, (struct sockaddr *)&sin, sizeof(sin));
	e = errno;
	check("UDP sendto: EPERM", rv == -1 && e == EPERM, strerror(e));
	close(fd);
	fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	e = errno;
	check("raw socket: EPERM", fd == -1 && e == EPERM, strerror(e));
	if (fd != -1)
		close(fd);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "/nonexistent/probe");
	rv = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	e = errno;
	check("Unix sockets left to the kernel (ENOENT)",
	    rv == -1 && e == ENOENT, strerror(e));
	close(fd);
}

static int
is_placeholder4(const struct sockaddr *sa)
{
	const struct sockaddr_in *s = (const struct sockaddr_in *)sa;

	return sa->sa_family == AF_INET &&
	       (ntohl(s->sin_addr.s_addr) >> 28) == 0xf;
}

static int
is_placeholder6(const struct sockaddr *sa)
{
	const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;

	return sa->sa_family == AF_INET6 && s->sin6_addr.s6_addr[0] == 0x01 &&
	       s->sin6_addr.s6_addr[1] == 0 && s->sin6_addr.s6_addr[11] == 0xf0;
}

static int
gai(const char *host, const char *serv, int family, int flags,
    struct addrinfo **res)
{
	struct addrinfo h;

	memset(&h, 0, sizeof(h));
	h.ai_family = family;
	h.ai_socktype = SOCK_STREAM;
	h.ai_flags = flags;
	*res = NULL;
	return getaddrinfo(host, serv, &h, res);
}

static void
t_getaddrinfo(void)
{
	struct addrinfo *r, *r2;
	char host[256], serv[32];
	int rv;

	rv = gai(name, "80", AF_UNSPEC, AI_ADDRCONFIG | AI_CANONNAME, &r);
	check("getaddrinfo(name, AF_UNSPEC): a placeholder", rv == 0,
	    gai_strerror(rv));
	if (rv != 0)
		return;
	check("AF_UNSPEC: IPv4 placeholder first", is_placeholder4(r->ai_addr),
	    NULL);
	check("AF_UNSPEC: then the IPv6 placeholder",
	    r->ai_next != NULL && is_placeholder6(r->ai_next->ai_addr), NULL);
	check("the port is the service's",
	    ntohs(((struct sockaddr_in *)r->ai_addr)->sin_port) == 80, NULL);
	check("AI_CANONNAME: the name",
	    r->ai_canonname && strcmp(r->ai_canonname, name) == 0, NULL);
	rv = getnameinfo(r->ai_addr, r->ai_addrlen, host, sizeof(host), serv,
	    sizeof(serv), NI_NUMERICSERV);
	check("getnameinfo(placeholder): the name",
	    rv == 0 && strcmp(host, name) == 0 && strcmp(serv, "80") == 0,
	    gai_strerror(rv));
	rv = getnameinfo(r->ai_addr, r->ai_addrlen, host, sizeof(host), NULL, 0,
	    NI_NUMERICHOST);
	check("getnameinfo NI_NUMERICHOST: the number",
	    rv == 0 && strncmp(host, "240.", 4) == 0, host);
	rv = gai(name, "http", AF_INET, 0, &r2);
	check("the same name: the same placeholder",
	    rv == 0 &&
	        memcmp(&((struct sockaddr_in *)r->ai_addr)->sin_addr,
	            &((struct sockaddr_in *)r2->ai_addr)->sin_addr, 4) == 0,
	    gai_strerror(rv));
	check("service names resolve (http: 80)",
	    rv == 0 &&
	        ntohs(((struct sockaddr_in *)r2->ai_addr)->sin_port) == 80,
	    NULL);
	if (rv == 0)
		freeaddrinfo(r2);
	freeaddrinfo(r);
	rv = gai(name, NULL, AF_INET6, 0, &r);
	check("AF_INET6: the IPv6 placeholder only",
	    rv == 0 && is_placeholder6(r->ai_addr) && r->ai_next == NULL,
	    gai_strerror(rv));
	if (rv == 0)
		freeaddrinfo(r);
	rv = gai(name, NULL, AF_UNSPEC, AI_NUMERICHOST, &r);
	check("AI_NUMERICHOST with a name: EAI_NONAME", rv == EAI_NONAME,
	    gai_strerror(rv));
	rv = gai("127.0.0.1", "7", AF_UNSPEC, 0, &r);
	check("a literal is itself",
	    rv == 0 && !is_placeholder4(r->ai_addr) &&
	        ((struct sockaddr_in *)r->ai_addr)->sin_addr.s_addr ==
	            htonl(INADDR_LOOPBACK),
	    gai_strerror(rv));
	if (rv == 0)
		freeaddrinfo(r);
	rv = gai("localhost", "7", AF_INET, AI_ADDRCONFIG, &r);
	check("localhost is loopback, from libc",
	    rv == 0 && ((struct sockaddr_in *)r->ai_addr)->sin_addr.s_addr ==
	                   htonl(INADDR_LOOPBACK),
	    gai_strerror(rv));
	if (rv == 0)
		freeaddrinfo(r);
	rv = gai(NULL, "8080", AF_INET, AI_PASSIVE, &r);
	check("AI_PASSIVE without a node: the wildcard address",
	    rv == 0 && ((struct sockaddr_in *)r->ai_addr)->sin_addr.s_addr ==
	                   htonl(INADDR_ANY),
	    gai_strerror(rv));
	if (rv == 0)
		freeaddrinfo(r);
	rv = gai("not a name!", "80", AF_UNSPEC, 0, &r);
	check("an impossible name: EAI_NONAME", rv == EAI_NONAME,
	    gai_strerror(rv));
}

static void
t_hostent(void)
{
	struct hostent *he = gethostbyname(name), he2, *res = NULL;
	char buf[1024], nm[256];
	struct in_addr a;
	int herr = 0;

	check("gethostbyname: the IPv4 placeholder",
	    he != NULL && he->h_addrtype == AF_INET && he->h_length == 4 &&
	        (((unsigned char *)he->h_addr_list[0])[0] >> 4) == 0xf &&
	        strcmp(he->h_name, name) == 0,
	    hstrerror(h_errno));
	if (he == NULL)
		return;
	memcpy(&a, he->h_addr_list[0], 4);
	check("gethostbyname_r: the same",
	    gethostbyname_r(name, &he2, buf, sizeof(buf), &res, &herr) == 0 &&
	        res != NULL && memcmp(res->h_addr_list[0], &a, 4) == 0,
	    hstrerror(herr));
	check("gethostbyname_r with a small buffer: ERANGE",
	    gethostbyname_r(name, &he2, buf, 8, &res, &herr) == ERANGE &&
	        res == NULL,
	    NULL);
	he = gethostbyname2(name, AF_INET6);
	check("gethostbyname2 AF_INET6: the IPv6 placeholder",
	    he != NULL && he->h_length == 16 &&
	        ((unsigned char *)he->h_addr_list[0])[11] == 0xf0,
	    NULL);
	he = gethostbyaddr(&a, 4, AF_INET);
	snprintf(nm, sizeof(nm), "%s", he ? he->h_name : "");
	check(
	    "gethostbyaddr(placeholder): the name", strcmp(nm, name) == 0, nm);
}

static void
t_by_name(void)
{
	struct addrinfo *r, *ai;
	int fd = -1, rv = -1, e = 0;
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	char port[16];

	snprintf(port, sizeof(port), "%u", echo_port);
	if (gai(name, port, AF_UNSPEC, 0, &r) != 0) {
		check("connect by name", 0, "getaddrinfo failed");
		return;
	}
	for (ai = r; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM, 0);
		if ((rv = connect(fd, ai->ai_addr, ai->ai_addrlen)) == 0)
			break;
		e = errno;
		close(fd);
	}
	check("connect by name (the first placeholder)", rv == 0 && ai == r,
	    strerror(e));
	if (rv == 0) {
		check("by name: the peer is the real address",
		    getpeername(fd, (struct sockaddr *)&peer, &plen) == 0 &&
		        peer.ss_family == AF_INET &&
		        ((struct sockaddr_in *)&peer)->sin_addr.s_addr ==
		            htonl(INADDR_LOOPBACK),
		    NULL);
		check("by name: echo", echo(fd, "named"), NULL);
		close(fd);
	}
	freeaddrinfo(r);
}

static void
t_fastopen(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = lo4(echo_port);
	char buf[16] = "";
	ssize_t n;

	n = sendto(
	    fd, "tfo", 3, MSG_FASTOPEN, (struct sockaddr *)&sin, sizeof(sin));
	check("TCP Fast Open sendto: connects and sends", n == 3,
	    strerror(errno));
	if (n == 3)
		n = recv(fd, buf, sizeof(buf) - 1, 0);
	check("TCP Fast Open: the echo", n == 3 && memcmp(buf, "tfo", 3) == 0,
	    NULL);
	close(fd);
}

static void
t_fork(void)
{
	int st = -1, fd;
	pid_t pid = fork();

	if (pid == 0) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		_exit(
		    connect4(fd, echo_port) == 0 && echo(fd, "child") ? 0 : 1);
	}
	waitpid(pid, &st, 0);
	check("a forked child connects too",
	    WIFEXITED(st) && WEXITSTATUS(st) == 0, NULL);
}

#define NTHREADS 8

static void *
thread_main(void *arg)
{
	char host[64], port[16];
	struct addrinfo *r;
	int fd, ok = 0;

	snprintf(host, sizeof(host), "t%ld.%s", (long)(intptr_t)arg, name);
	snprintf(port, sizeof(port), "%u", echo_port);
	/* The daemon does not know these names: the placeholders must stay
	 * distinct and the answers must come back to the right thread. */
	if (gai(host, port, AF_INET, 0, &r) == 0) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		ok = connect(fd, r->ai_addr, r->ai_addrlen) == -1 &&
		     errno == ENXIO;
		close(fd);
		freeaddrinfo(r);
	}
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ok = ok && connect4(fd, echo_port) == 0 && echo(fd, "thread");
	close(fd);
	return (void *)(intptr_t)ok;
}

static void
t_threads(void)
{
	pthread_t t[NTHREADS];
	void *ok;
	int i, good = 0;

	for (i = 0; i < NTHREADS; i++)
		pthread_create(&t[i], NULL, thread_main, (void *)(intptr_t)i);
	for (i = 0; i < NTHREADS; i++)
		if (pthread_join(t[i], &ok) == 0 && ok)
			good++;
	check("8 threads resolve and connect at once", good == NTHREADS, NULL);
}

/* Last: it closes stderr.  Run with --verbose, the preload's log lines
 * must not go into a connection that took descriptor 2 (nor raise SIGPIPE
 * on it before it is connected). */
static void
t_stderr(void)
{
	int fd, rv;

	close(STDERR_FILENO);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	rv = connect4(fd, echo_port);
	check("a connection on descriptor 2", fd == STDERR_FILENO && rv == 0,
	    NULL);
	check("no log line written into it", echo(fd, "clean"), NULL);
	close(fd);
}

int
main(int argc, char *argv[])
{
	if (argc != 5) {
		fprintf(stderr, "usage: preload_probe ECHO_PORT REFUSED_PORT "
		                "DENIED_PORT NAME\n");
		return 2;
	}
	echo_port = (uint16_t)atoi(argv[1]);
	refused_port = (uint16_t)atoi(argv[2]);
	denied_port = (uint16_t)atoi(argv[3]);
	name = argv[4];
	t_blocking();
	t_options();
	t_nonblocking();
	t_errors();
	t_refused_kinds();
	t_getaddrinfo();
	t_hostent();
	t_by_name();
	t_fastopen();
	t_fork();
	t_threads();
	t_stderr();
	printf("probe: %d failed\n", fails);
	return fails != 0;
}
