/* SPDX-License-Identifier: ISC */
/*
 * https_get: fetch a page over TLS with the cprops cp_client API.
 *
 *	https_get host port CA_file|- none|peer [path]
 *
 * CA_file is a PEM file of trust anchors, or "-" for the daemon's trust
 * store; "none" asks for SSL_VERIFY_NONE (connect anyway and report the
 * verification result), "peer" for SSL_VERIFY_PEER.  The response goes to
 * standard output, the connection details to standard error.
 *
 * Build: cc -o https_get https_get.c $(pkg-config --cflags --libs cpconnect)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cprops/client.h>

static void
usage(void)
{
	fprintf(stderr, "usage: https_get host port CA_file|- none|peer "
	                "[path]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	cp_client *client;
	X509 *cert;
	char buf[4096], req[1024], subject[256];
	const char *ca_file, *path;
	int mode = SSL_VERIFY_PEER, port, rv, n;

	if (argc != 5 && argc != 6)
		usage();
	port = atoi(argv[2]);
	ca_file = strcmp(argv[3], "-") == 0 ? NULL : argv[3];
	if (strcmp(argv[4], "none") == 0)
		mode = SSL_VERIFY_NONE;
	else if (strcmp(argv[4], "peer") == 0)
		mode = SSL_VERIFY_PEER;
	else
		usage();
	path = argc == 6 ? argv[5] : "/";

	cp_client_init();
	cp_client_ssl_init();

	client = cp_client_create_ssl(argv[1], port, ca_file, NULL, mode);
	if (client == NULL) {
		perror("cp_client_create_ssl");
		return 1;
	}
	cp_client_set_retry(client, 1);
	cp_client_set_timeout(client, 10, 0);

	rv = cp_client_connect(client);
	if (rv == -1) {
		fprintf(stderr, "connect failed: %s (verify result %ld: %s)\n",
		    cp_client_error(client),
		    cp_client_get_verify_result(client),
		    ssl_verification_error_str(
		        (int)cp_client_get_verify_result(client)));
		cp_client_destroy(client);
		return 1;
	}
	if (rv > 0)
		fprintf(stderr, "verify result: %d (%s)\n", rv,
		    ssl_verification_error_str(rv));
	else
		fprintf(stderr, "verify result: 0 (ok)\n");

	cert = cp_client_get_server_certificate(client);
	if (cert != NULL) {
		X509_NAME_oneline(
		    X509_get_subject_name(cert), subject, sizeof(subject));
		fprintf(stderr, "subject: %s\n", subject);
	} else
		fprintf(stderr, "subject: (no certificate)\n");
	fprintf(stderr, "hostname: %s\n",
	    cp_client_verify_hostname(client) ? "match" : "mismatch");

	snprintf(req, sizeof(req),
	    "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n", path,
	    argv[1]);
	if (cp_client_write(client, req, (int)strlen(req)) !=
	    (int)strlen(req)) {
		fprintf(stderr, "write: %s\n", cp_client_error(client));
		cp_client_close(client);
		cp_client_destroy(client);
		return 1;
	}
	while ((n = cp_client_read(client, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	fflush(stdout);
	if (n < 0)
		fprintf(stderr, "read: %s\n", cp_client_error(client));

	cp_client_close(client);
	cp_client_destroy(client);
	cp_client_ssl_shutdown();
	cp_client_shutdown();
	return n < 0 ? 1 : 0;
}
