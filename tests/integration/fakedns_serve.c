/* SPDX-License-Identifier: ISC */
/*
 * fakedns_serve: the test DNS responder (tests/fakedns.h) as a command,
 * for shell suites that start a daemon with -R.
 *
 *   fakedns_serve NAME=ADDR...
 *
 * ADDR with a ':' is an AAAA record, else an A record; "never" makes
 * every query for NAME go unanswered.  Prints the -R argument
 * ("127.0.0.1:PORT") on a line of its own, then answers until it is
 * killed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fakedns.h"

int
main(int argc, char *argv[])
{
	struct fakedns_rec recs[FAKEDNS_MAX_RECS];
	struct fakedns *d;
	uint16_t port;
	char *eq;
	int i, n = 0;

	for (i = 1; i < argc && n < FAKEDNS_MAX_RECS - 1; i++) {
		if ((eq = strchr(argv[i], '=')) == NULL) {
			fprintf(stderr, "fakedns_serve: %s: not NAME=ADDR\n",
			    argv[i]);
			return 2;
		}
		*eq = '\0';
		recs[n].name = argv[i];
		if (strcmp(eq + 1, "never") == 0) {
			recs[n] = (struct fakedns_rec){
			    argv[i], FAKEDNS_A, NULL, FAKEDNS_NEVER};
			recs[++n] = (struct fakedns_rec){
			    argv[i], FAKEDNS_AAAA, NULL, FAKEDNS_NEVER};
			n++;
			continue;
		}
		recs[n].addr = eq + 1;
		recs[n].type = strchr(eq + 1, ':') ? FAKEDNS_AAAA : FAKEDNS_A;
		recs[n].delay_ms = 0;
		n++;
	}
	if (fakedns_start(&d, recs, (size_t)n, &port) == -1) {
		fprintf(stderr, "fakedns_serve: %s\n", strerror(errno));
		return 1;
	}
	printf("%s\n", fakedns_servers(d));
	fflush(stdout);
	for (;;)
		pause();
}
