/* SPDX-License-Identifier: ISC */
/*
 * hostileproxy: an HTTP CONNECT or SOCKS5 proxy for tests that misbehaves
 * on purpose, one way per request (test_proxyd.c).
 *
 *   hostileproxy http PORT LOG
 *   hostileproxy socks5 PORT LOG [MODE]
 *
 * It listens on 127.0.0.1:PORT and appends one line per request to LOG:
 * what it was asked for (and the credentials it was given).  It never
 * connects anywhere: a tunnel that "succeeds" sends BANNER and echoes.
 *
 * HTTP: the behaviour is chosen by the port of the CONNECT request:
 *	1 200, with "BANNER\n" in the same write as the header, then echo
 *	2 407, 3 403, 4 502, 5 503, 6 504, 7 418
 *	8 a malformed status line	9 no answer at all (stall)
 *	10 close without answering	11 a header that never ends
 *	12 an SSH banner, not HTTP	13 200 dribbled a byte at a time
 * SOCKS5: MODE decides the method negotiation:
 *	ok (default)	no authentication, or username/password when the
 *			client offers it (alice:secret is right)
 *	noacc		0xFF, no acceptable method
 *	gssapi		chooses GSSAPI, which nobody offered
 *	ver4		answers with version 4
 *	authfail	asks for username/password and rejects them
 *	close, stall	closes, or says nothing, after the greeting
 * then the CONNECT's port (ok mode): 1 success with a domain BND.ADDR,
 * BANNER and echo; 100 + N reply code N; 23 a reply with version 4;
 * 26 an empty domain BND.ADDR; 27 address type 9; 29 a reply cut short.
 * An IPv4 destination ending in .2 gets reply 4 (host unreachable), any
 * other IPv4 one success.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *logpath, *mode = "ok";

static void
logline(const char *s)
{
	FILE *f = fopen(logpath, "a");

	if (f != NULL) {
		fprintf(f, "%s\n", s);
		fclose(f);
	}
}

static int
readn(int fd, unsigned char *b, size_t n)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = read(fd, b + got, n - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static void
say(int fd, const void *b, size_t n)
{
	if (write(fd, b, n) != (ssize_t)n)
		_exit(1);
}

static void
says(int fd, const char *s)
{
	say(fd, s, strlen(s));
}

/* Until the client closes. */
static void
wait_close(int fd)
{
	char b[512];

	while (read(fd, b, sizeof(b)) > 0)
		;
}

static void
echo(int fd)
{
	char b[4096];
	ssize_t n;

	while ((n = read(fd, b, sizeof(b))) > 0)
		say(fd, b, (size_t)n);
}

/* ---- HTTP ---- */

static void
http_status(int fd, const char *line)
{
	char b[256];

	snprintf(b, sizeof(b), "%s\r\nProxy-Agent: hostile\r\n\r\n", line);
	says(fd, b);
}

static void
http(int fd)
{
	char req[8192 + 1], line[8300];
	const char *colon, *sp;
	size_t len = 0;
	ssize_t n;
	int port, i;

	while (len < sizeof(req) - 1) {
		if ((n = read(fd, req + len, sizeof(req) - 1 - len)) <= 0)
			return;
		len += (size_t)n;
		req[len] = '\0';
		if (strstr(req, "\r\n\r\n") != NULL)
			break;
	}
	sp = strstr(req, " HTTP/");
	colon = sp != NULL ? memrchr(req, ':', (size_t)(sp - req)) : NULL;
	port = colon != NULL ? atoi(colon + 1) : 0;
	snprintf(line, sizeof(line), "http %.*s auth=%s",
	    (int)strcspn(req, "\r"), req,
	    strstr(req, "Proxy-Authorization: Basic ") ? "yes" : "no");
	logline(line);
	switch (port) {
	case 1:
		says(fd, "HTTP/1.1 200 Connection established\r\n"
		         "Proxy-Agent: hostile\r\n\r\nBANNER\n");
		echo(fd);
		break;
	case 2:
		http_status(fd, "HTTP/1.1 407 Proxy Authentication Required\r\n"
		                "Proxy-Authenticate: Basic realm=\"t\"");
		break;
	case 3:
		http_status(fd, "HTTP/1.1 403 Forbidden");
		break;
	case 4:
		http_status(fd, "HTTP/1.1 502 Bad Gateway");
		break;
	case 5:
		http_status(fd, "HTTP/1.1 503 Service Unavailable");
		break;
	case 6:
		http_status(fd, "HTTP/1.1 504 Gateway Timeout");
		break;
	case 7:
		http_status(fd, "HTTP/1.1 418 I'm a teapot");
		break;
	case 8:
		says(fd, "HTTP/1.1 abc\r\n\r\n");
		wait_close(fd);
		break;
	case 9:
		wait_close(fd);
		break;
	case 10:
		break;
	case 11:
		says(fd, "HTTP/1.1 200 OK\r\n");
		for (i = 0; i < 400; i++)
			says(fd, "X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
		wait_close(fd);
		break;
	case 12:
		says(fd, "SSH-2.0-OpenSSH_9.2\r\n");
		wait_close(fd);
		break;
	case 13: {
		static const char h[] = "HTTP/1.0 200 OK\r\n\r\nBANNER\n";

		for (i = 0; h[i] != '\0'; i++) {
			say(fd, h + i, 1);
			usleep(3000);
		}
		echo(fd);
		break;
	}
	default:
		http_status(fd, "HTTP/1.1 400 Bad Request");
	}
}

/* ---- SOCKS5 ---- */

static void
socks_rep(int fd, int ver, int rep)
{
	unsigned char b[10] = {(unsigned char)ver, (unsigned char)rep, 0, 1};

	say(fd, b, sizeof(b));
}

static int
socks_auth(int fd, char *who, size_t whosz)
{
	unsigned char h[2], u[256], p[256], l;

	if (readn(fd, h, 2) == -1 || readn(fd, u, h[1]) == -1 ||
	    readn(fd, &l, 1) == -1 || readn(fd, p, l) == -1)
		return -1;
	snprintf(who, whosz, " auth=%.*s:%.*s ver=%u", h[1], u, l, p, h[0]);
	return h[1] == 5 && memcmp(u, "alice", 5) == 0 && l == 6 &&
	               memcmp(p, "secret", 6) == 0
	           ? 0
	           : 1;
}

static void
socks_connect(int fd, const char *who)
{
	unsigned char h[4], a[256], pb[2], l = 0;
	char dst[300], line[400], ip[INET6_ADDRSTRLEN];
	int port, ok = 1;

	if (readn(fd, h, 4) == -1)
		return;
	if (h[3] == 1) {
		if (readn(fd, a, 4) == -1)
			return;
		inet_ntop(AF_INET, a, ip, sizeof(ip));
		snprintf(dst, sizeof(dst), "atyp=1 %s", ip);
		ok = a[3] != 2;
	} else if (h[3] == 4) {
		if (readn(fd, a, 16) == -1)
			return;
		inet_ntop(AF_INET6, a, ip, sizeof(ip));
		snprintf(dst, sizeof(dst), "atyp=4 %s", ip);
	} else if (h[3] == 3) {
		if (readn(fd, &l, 1) == -1 || readn(fd, a, l) == -1)
			return;
		snprintf(dst, sizeof(dst), "atyp=3 %.*s", l, a);
	} else
		return;
	if (readn(fd, pb, 2) == -1)
		return;
	port = pb[0] << 8 | pb[1];
	snprintf(line, sizeof(line), "socks %s port %d%s", dst, port, who);
	logline(line);
	if (!ok) {
		socks_rep(fd, 5, 4);
		return;
	}
	if (port > 100 && port < 356) {
		socks_rep(fd, 5, port - 100);
		return;
	}
	switch (port) {
	case 23:
		socks_rep(fd, 4, 0);
		break;
	case 26:
		say(fd, "\x05\x00\x00\x03\x00\x00\x50", 7);
		wait_close(fd);
		break;
	case 27:
		say(fd, "\x05\x00\x00\x09\x00\x00\x00\x00\x00\x00", 10);
		wait_close(fd);
		break;
	case 29:
		say(fd, "\x05\x00\x00\x01\x7f\x00", 6);
		break;
	default: {
		/* BND.ADDR a name, then the destination's first bytes in the
		 * same write. */
		static const char rep_ok[] =
		    "\x05\x00\x00\x03\x07hostile\x04\x38"
		    "BANNER\n";

		say(fd, rep_ok, sizeof(rep_ok) - 1);
		echo(fd);
	}
	}
}

static void
socks(int fd)
{
	unsigned char h[2], m[256], rep[2] = {5, 0};
	char who[600] = "", line[700];
	int i, offered2 = 0, r;

	if (readn(fd, h, 2) == -1 || readn(fd, m, h[1]) == -1)
		return;
	snprintf(
	    line, sizeof(line), "socks greeting ver=%u methods=%u", h[0], h[1]);
	logline(line);
	for (i = 0; i < h[1]; i++)
		offered2 |= m[i] == 2;
	if (strcmp(mode, "close") == 0)
		return;
	if (strcmp(mode, "stall") == 0) {
		wait_close(fd);
		return;
	}
	if (strcmp(mode, "noacc") == 0)
		rep[1] = 0xff;
	else if (strcmp(mode, "gssapi") == 0)
		rep[1] = 1;
	else if (strcmp(mode, "ver4") == 0)
		rep[0] = 4;
	else if (strcmp(mode, "authfail") == 0 || offered2)
		rep[1] = 2;
	say(fd, rep, 2);
	if (rep[0] != 5 || (rep[1] != 0 && rep[1] != 2)) {
		wait_close(fd);
		return;
	}
	if (rep[1] == 2) {
		if ((r = socks_auth(fd, who, sizeof(who))) == -1)
			return;
		if (strcmp(mode, "authfail") == 0)
			r = 1;
		say(fd, r == 0 ? "\x01\x00" : "\x01\x01", 2);
		if (r != 0) {
			snprintf(
			    line, sizeof(line), "socks auth rejected%s", who);
			logline(line);
			wait_close(fd);
			return;
		}
	}
	socks_connect(fd, who);
}

int
main(int argc, char *argv[])
{
	struct sockaddr_in sin;
	int lfd, fd, one = 1, sock;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: hostileproxy http|socks5 PORT LOG "
		                "[MODE]\n");
		return 2;
	}
	sock = strcmp(argv[1], "socks5") == 0;
	logpath = argv[3];
	if (argc == 5)
		mode = argv[4];
	signal(SIGCHLD, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)atoi(argv[2]));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ==
	        -1 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 64) == -1) {
		perror("hostileproxy: listen");
		return 1;
	}
	for (;;) {
		if ((fd = accept(lfd, NULL, NULL)) == -1) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (fork() == 0) {
			close(lfd);
			/* A test that forgets a connection cannot keep us. */
			alarm(20);
			if (sock)
				socks(fd);
			else
				http(fd);
			_exit(0);
		}
		close(fd);
	}
}
