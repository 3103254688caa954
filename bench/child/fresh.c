/* SPDX-License-Identifier: ISC */
/*
 * The program bench_fresh starts afresh for every connect: one verified
 * TLS connect, a small HTTP request, the whole answer, exit.  Built like a
 * user's program: the installed static library and OpenSSL only.
 *
 *	fresh daemon SOCKET HOST PORT [CA_FILE]
 *		through cpconnectd (the daemon's trust store, or CA_FILE as
 *		a cprops program would pass it); exit 0 full handshake, 1
 *		resumed
 *	fresh inproc CA_FILE HOST PORT
 *		the same with OpenSSL in this process; exit 0
 * Any failure exits with 10 or more.
 */
#include <sys/socket.h>

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "cprops/client.h"

static const char req[] = "GET / HTTP/1.0\r\n\r\n";

static int
via_daemon(const char *sock, const char *host, int port, const char *ca)
{
	char buf[16384];
	cp_client *c;
	int n, resumed;

	cp_client_set_socket_path(sock);
	if ((c = cp_client_create_ssl(
	         host, port, (char *)ca, NULL, SSL_VERIFY_PEER)) == NULL)
		return 10;
	cp_client_set_retry(c, 0);
	if (cp_client_connect(c) != 0)
		return 11;
	resumed = cp_client_session_resumed(c);
	if (cp_client_write(c, req, sizeof(req) - 1) != sizeof(req) - 1)
		return 12;
	while ((n = cp_client_read(c, buf, sizeof(buf))) > 0)
		;
	cp_client_destroy(c);
	return n < 0 ? 13 : resumed;
}

static int
tcp_connect(const char *host, const char *port)
{
	struct addrinfo hints, *res, *ai;
	int fd = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		         ai->ai_protocol)) == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static int
in_process(const char *ca, const char *host, const char *port)
{
	char buf[16384];
	SSL_CTX *ctx;
	SSL *ssl;
	int fd, n;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_load_verify_locations(ctx, ca, NULL))
		return 10;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if ((fd = tcp_connect(host, port)) == -1 ||
	    (ssl = SSL_new(ctx)) == NULL)
		return 11;
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, host);
	SSL_set1_host(ssl, host);
	if (SSL_connect(ssl) != 1 || SSL_get_verify_result(ssl) != X509_V_OK)
		return 12;
	if (SSL_write(ssl, req, sizeof(req) - 1) != sizeof(req) - 1)
		return 13;
	while ((n = SSL_read(ssl, buf, sizeof(buf))) > 0)
		;
	SSL_shutdown(ssl);
	SSL_free(ssl);
	close(fd);
	SSL_CTX_free(ctx);
	return 0;
}

int
main(int argc, char *argv[])
{
	if (argc >= 5 && strcmp(argv[1], "daemon") == 0)
		return via_daemon(
		    argv[2], argv[3], atoi(argv[4]), argc > 5 ? argv[5] : NULL);
	if (argc == 5 && strcmp(argv[1], "inproc") == 0)
		return in_process(argv[2], argv[3], argv[4]);
	fprintf(stderr, "usage: fresh daemon SOCKET HOST PORT [CA_FILE] | "
	                "inproc CA_FILE HOST PORT\n");
	return 2;
}
