/* SPDX-License-Identifier: ISC */
/*
 * A scripted STARTTLS server for the tests: it speaks the plaintext part
 * of SMTP, IMAP or POP3 up to STARTTLS, then runs OpenSSL's server side
 * with the test PKI and echoes what it reads back (SMTP's second EHLO
 * gets its answer).  Modes make it
 * misbehave the ways a client must survive:
 *   ok        the dialogue as a server offering STARTTLS has it
 *   none      no STARTTLS: not in EHLO, the command refused
 *   pipeline  plaintext sent right behind the STARTTLS reply, in the same
 *             write (the command injection of CVE-2011-0411, seen from
 *             the server's side)
 *   longline  a greeting line far longer than any client should take
 *   stall     a greeting, then silence
 *
 *   starttls_serve -P smtp|imap|pop3 -m MODE -p PORT -c CERT -k KEY
 *                  [-C CHAIN]
 * Listens on 127.0.0.1:PORT, says "ACCEPT" on stdout, and serves one
 * connection after another.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

enum proto { P_SMTP, P_IMAP, P_POP3 };
enum mode { M_OK, M_NONE, M_PIPELINE, M_LONGLINE, M_STALL };

static enum proto proto;
static enum mode mode;

static int
send_str(int fd, const char *s)
{
	size_t n = strlen(s);

	return send(fd, s, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

/* One line, CRLF or LF, at most sz - 1 bytes; -1 at EOF or error. */
static int
read_line(int fd, char *buf, size_t sz)
{
	size_t n = 0;
	char ch;

	while (n + 1 < sz) {
		if (recv(fd, &ch, 1, 0) != 1)
			return -1;
		if (ch == '\n')
			break;
		if (ch != '\r')
			buf[n++] = ch;
	}
	buf[n] = '\0';
	return 0;
}

static void
echo_tls(SSL *ssl)
{
	char buf[4096];
	int n;

	static const char ehlo[] = "250-localhost\r\n250 AUTH PLAIN\r\n";

	/* SMTP's second EHLO, under TLS, is answered as a server would. */
	while ((n = SSL_read(ssl, buf, sizeof(buf))) > 0) {
		if (proto == P_SMTP && n >= 5 &&
		    strncmp(buf, "EHLO ", 5) == 0) {
			if (SSL_write(ssl, ehlo, sizeof(ehlo) - 1) !=
			    (int)sizeof(ehlo) - 1)
				break;
		} else if (SSL_write(ssl, buf, n) != n)
			break;
	}
	SSL_shutdown(ssl);
}

static void
start_tls(SSL_CTX *ctx, int fd)
{
	SSL *ssl = SSL_new(ctx);

	if (ssl == NULL)
		return;
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) == 1)
		echo_tls(ssl);
	else
		ERR_print_errors_fp(stderr);
	SSL_free(ssl);
}

/* The reply to STARTTLS (or STLS), with the injection when asked. */
static int
go_ahead(int fd, const char *reply)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "%s%s", reply,
	    mode == M_PIPELINE ? "250 injected\r\n" : "");
	return send_str(fd, buf);
}

static int
greet(int fd)
{
	static const char *const g[] = {
	    [P_SMTP] = "220-localhost ESMTP starttls_serve\r\n"
	               "220 ready\r\n",
	    [P_IMAP] = "* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n",
	    [P_POP3] = "+OK POP3 ready\r\n",
	};
	char big[10000];

	if (mode == M_LONGLINE) {
		memset(big, 'x', sizeof(big) - 3);
		memcpy(big, proto == P_SMTP ? "220 " : "+OK ", 4);
		memcpy(big + sizeof(big) - 3, "\r\n", 3);
		return send_str(fd, big);
	}
	return send_str(fd, g[proto]);
}

/* The plaintext dialogue: 1 when TLS is to start now, 0 when not. */
static int
dialogue(int fd)
{
	char line[1024];

	if (greet(fd) == -1)
		return 0;
	if (mode == M_STALL) {
		sleep(30);
		return 0;
	}
	while (read_line(fd, line, sizeof(line)) == 0) {
		if (proto == P_SMTP && (strncasecmp(line, "EHLO ", 5) == 0 ||
		                           strncasecmp(line, "HELO ", 5) == 0))
			send_str(fd, mode == M_NONE ? "250-localhost\r\n"
			                              "250 8BITMIME\r\n"
			                            : "250-localhost\r\n"
			                              "250-PIPELINING\r\n"
			                              "250-STARTTLS\r\n"
			                              "250 8BITMIME\r\n");
		else if (proto == P_SMTP && strcasecmp(line, "STARTTLS") == 0) {
			if (mode == M_NONE)
				send_str(fd, "502 5.5.1 not supported\r\n");
			else
				return go_ahead(fd, "220 2.0.0 go ahead\r\n") ==
				       0;
		} else if (proto == P_IMAP &&
		           strcasecmp(line, "a001 STARTTLS") == 0) {
			if (mode == M_NONE)
				send_str(fd, "a001 BAD unknown command\r\n");
			else
				return go_ahead(fd,
				           "* NOTE untagged first\r\n"
				           "a001 OK begin TLS\r\n") == 0;
		} else if (proto == P_POP3 && strcasecmp(line, "STLS") == 0) {
			if (mode == M_NONE)
				send_str(fd, "-ERR unknown command\r\n");
			else
				return go_ahead(fd, "+OK begin TLS\r\n") == 0;
		} else if (strncasecmp(line, "QUIT", 4) == 0 ||
		           strncasecmp(line, "a002 LOGOUT", 11) == 0) {
			send_str(fd, "221 bye\r\n");
			return 0;
		} else
			send_str(fd, proto == P_POP3   ? "-ERR what?\r\n"
			             : proto == P_IMAP ? "* BAD what?\r\n"
			                               : "500 what?\r\n");
	}
	return 0;
}

static int
listen_on(int port)
{
	struct sockaddr_in sin;
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 16) == -1)
		return -1;
	return fd;
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr, "usage: starttls_serve -P smtp|imap|pop3 -m "
	                "ok|none|pipeline|longline|stall -p port -c cert "
	                "-k key [-C chain]\n");
	exit(2);
}

static SSL_CTX *
make_ctx(const char *cert, const char *key, const char *chain)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	X509 *x = NULL;
	FILE *f;

	if (ctx == NULL ||
	    SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		return NULL;
	if (chain == NULL)
		return ctx;
	if ((f = fopen(chain, "r")) == NULL)
		return NULL;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL || SSL_CTX_add0_chain_cert(ctx, x) != 1)
		return NULL;
	return ctx;
}

int
main(int argc, char *argv[])
{
	const char *cert = NULL, *key = NULL, *chain = NULL;
	struct timeval tv = {10, 0};
	SSL_CTX *ctx;
	int ch, port = 0, lfd, fd;

	while ((ch = getopt(argc, argv, "P:m:p:c:k:C:")) != -1) {
		switch (ch) {
		case 'P':
			proto = strcmp(optarg, "smtp") == 0   ? P_SMTP
			        : strcmp(optarg, "imap") == 0 ? P_IMAP
			        : strcmp(optarg, "pop3") == 0
			            ? P_POP3
			            : (usage(), P_SMTP);
			break;
		case 'm':
			mode = strcmp(optarg, "ok") == 0         ? M_OK
			       : strcmp(optarg, "none") == 0     ? M_NONE
			       : strcmp(optarg, "pipeline") == 0 ? M_PIPELINE
			       : strcmp(optarg, "longline") == 0 ? M_LONGLINE
			       : strcmp(optarg, "stall") == 0    ? M_STALL
			                                      : (usage(), M_OK);
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'c':
			cert = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'C':
			chain = optarg;
			break;
		default:
			usage();
		}
	}
	if (port <= 0 || port > 65535 || cert == NULL || key == NULL)
		usage();
	signal(SIGPIPE, SIG_IGN);
	if ((ctx = make_ctx(cert, key, chain)) == NULL) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	if ((lfd = listen_on(port)) == -1) {
		perror("starttls_serve: listen");
		return 1;
	}
	/* tests/lib.sh's t_server waits for this line. */
	printf("ACCEPT\n");
	fflush(stdout);
	for (;;) {
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		/* One client at a time, none for ever. */
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (dialogue(fd))
			start_tls(ctx, fd);
		close(fd);
	}
}
