/* SPDX-License-Identifier: ISC */
/*
 * tcp_echo: send a line over plain TCP with the cprops cp_client API and
 * print what comes back.
 *
 *	tcp_echo host port [message]
 *
 * Against an echo server it prints the message it sent.  One attempt,
 * five seconds for it and for each read and write.
 *
 * Build: cc -o tcp_echo tcp_echo.c $(pkg-config --cflags --libs cpconnect)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cprops/client.h>

int
main(int argc, char *argv[])
{
	cp_client *client;
	char msg[1024], buf[1024];
	size_t got = 0, len;
	int n;

	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: tcp_echo host port [message]\n");
		return 2;
	}
	snprintf(msg, sizeof(msg), "%s\n", argc == 4 ? argv[3] : "hello");
	len = strlen(msg);

	if ((client = cp_client_create(argv[1], atoi(argv[2]))) == NULL) {
		perror("cp_client_create");
		return 1;
	}
	cp_client_set_retry(client, 0);
	cp_client_set_timeout(client, 5, 0);

	if (cp_client_connect(client) != 0) {
		fprintf(stderr, "connect: %s (%s)\n", cp_client_error(client),
		    strerror(errno));
		cp_client_destroy(client);
		return 1;
	}
	fprintf(stderr, "connected to %s port %d\n",
	    client->found_host != NULL ? client->found_host : client->host,
	    client->port);

	if (cp_client_write(client, msg, (int)len) != (int)len) {
		fprintf(stderr, "write: %s\n", cp_client_error(client));
		cp_client_destroy(client);
		return 1;
	}
	/* Until the whole line is back, the peer closes, or time runs out. */
	while (got < len &&
	       (n = cp_client_read(client, buf + got, (int)(len - got))) > 0)
		got += (size_t)n;
	fwrite(buf, 1, got, stdout);

	cp_client_close(client);
	cp_client_destroy(client);
	return got == len && memcmp(buf, msg, len) == 0 ? 0 : 1;
}
