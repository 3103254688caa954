/* SPDX-License-Identifier: ISC */
/*
 * smtp_starttls: SMTP with STARTTLS written against cprops' cp_client API
 * only, as a cprops program does it: a TLS client connected in plaintext
 * first (use_ssl cleared for cp_client_connect), the SMTP dialogue, then
 * cp_client_connect_ssl on the same connection, then EHLO again under TLS.
 *
 *	smtp_starttls host port [CA_file]
 *
 * Prints the verification result and the server's EHLO reply under TLS.
 * Exit status 0 when the certificate verified and the server answered.
 *
 * Build: cc -o smtp_starttls smtp_starttls.c \
 *		$(pkg-config --cflags --libs cpconnect)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cprops/client.h>

/* One SMTP reply, read a byte at a time: nothing after it is taken in,
 * it belongs to TLS.  Its code, or -1. */
static int
reply(cp_client *c, char *buf, int sz)
{
	int n = 0, start = 0;
	char ch;

	while (n < sz - 1 && cp_client_read(c, &ch, 1) == 1) {
		buf[n++] = ch;
		if (ch != '\n')
			continue;
		if (n - start >= 4 && buf[start + 3] != '-') {
			buf[n] = '\0';
			return atoi(buf + start);
		}
		start = n;
	}
	return -1;
}

static int
command(cp_client *c, const char *cmd, char *buf, int sz)
{
	if (cp_client_write(c, cmd, (int)strlen(cmd)) != (int)strlen(cmd))
		return -1;
	return reply(c, buf, sz);
}

int
main(int argc, char *argv[])
{
	cp_client *client;
	char buf[4096];
	int rv;

	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: smtp_starttls host port [CA_file]\n");
		return 2;
	}
	client = cp_client_create_ssl(argv[1], atoi(argv[2]),
	    argc == 4 ? argv[3] : NULL, NULL, SSL_VERIFY_PEER);
	if (client == NULL) {
		perror("cp_client_create_ssl");
		return 1;
	}
	cp_client_set_retry(client, 0);
	cp_client_set_timeout(client, 5, 0);

	/* Plaintext first. */
	client->use_ssl = 0;
	if (cp_client_connect(client) != 0) {
		fprintf(stderr, "connect: %s\n", strerror(errno));
		return 1;
	}
	if (reply(client, buf, sizeof(buf)) != 220 ||
	    command(client, "EHLO localhost\r\n", buf, sizeof(buf)) != 250 ||
	    strstr(buf, "STARTTLS") == NULL ||
	    command(client, "STARTTLS\r\n", buf, sizeof(buf)) != 220) {
		fprintf(stderr, "no STARTTLS: %s", buf);
		return 1;
	}

	/* TLS on the same connection. */
	rv = cp_client_connect_ssl(client);
	if (rv != 0) {
		fprintf(stderr, "TLS: %s\n",
		    rv > 0 ? ssl_verification_error_str(rv) : strerror(errno));
		cp_client_destroy(client);
		return 1;
	}
	printf("verified, hostname %s\n",
	    cp_client_verify_hostname(client) ? "matches" : "does not match");
	if (command(client, "EHLO localhost\r\n", buf, sizeof(buf)) == -1) {
		fprintf(stderr, "EHLO under TLS: %s\n", strerror(errno));
		return 1;
	}
	fputs(buf, stdout);
	cp_client_close(client);
	cp_client_destroy(client);
	return 0;
}
