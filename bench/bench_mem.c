/* SPDX-License-Identifier: ISC */
/*
 * Engine memory around a burst: 500 TLS requests stalled in the handshake
 * (a listener that never accepts), then their end.  The engine's RSS
 * before the burst (after a first, smaller one: its working size), at the
 * peak, and once the requests have timed out and the engine has had its
 * idle tick: what an allocator keeps after a burst is memory no one uses.
 *
 * usage: bench_mem [requests]
 */
#include <sys/socket.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"
#include "cpproto.h"
#include "itest.h"
#include "msg.h"
#include "rawclient.h"

#define PER_SESSION 25
#define MAX_SESSIONS 40
#define KEEP_KIB 2048 /* target: at most this much above the baseline */

static const char conf[] = "user nobody\n"
                           "engines 1\n"
                           "max-sessions-per-user 100\n"
                           "max-requests-per-user 2000\n"
                           "handshake-timeout 1s\n"
                           "connect-timeout 1s\n"
                           "allow from any to 127.0.0.0/8\n";

/* n stalled requests on n / PER_SESSION sessions; their end.  The
 * engine's RSS at the peak. */
static long
burst(const struct tdaemon *d, pid_t e, uint16_t port, int n)
{
	struct rawc s[MAX_SESSIONS];
	struct cp_result res;
	int ns = n < PER_SESSION ? 1 : n / PER_SESSION, i, j, answered = 0;
	long peak;

	for (i = 0; i < ns; i++) {
		if (rawc_open(&s[i], d->sock, 0) == -1 ||
		    raw_hello(s[i].fd) == -1) {
			fprintf(stderr, "bench_mem: session %d\n", i);
			exit(1);
		}
		for (j = 0; j < PER_SESSION; j++)
			if (raw_connect(s[i].fd, (uint32_t)j + 1, "127.0.0.1",
			        port, 1) == -1)
				exit(1);
	}
	usleep(500000);
	peak = tproc_rss_kb(e);
	for (i = 0; i < ns; i++)
		for (j = 0; j < PER_SESSION; j++)
			if (rawc_result(&s[i], &res, NULL, 5000) == 1 &&
			    res.status == CP_STATUS_ERROR)
				answered++;
	for (i = 0; i < ns; i++)
		rawc_close(&s[i]);
	if (answered != ns * PER_SESSION)
		fprintf(stderr, "bench_mem: %d of %d answered\n", answered,
		    ns * PER_SESSION);
	return peak;
}

int
main(int argc, char *argv[])
{
	int n = argc > 1 ? atoi(argv[1]) : 500, lfd, i;
	long rss0, peak, after = 0;
	struct tdaemon td;
	uint16_t port = 0;
	pid_t e[2];

	if (n < PER_SESSION)
		n = PER_SESSION;
	if (n > MAX_SESSIONS * PER_SESSION)
		n = MAX_SESSIONS * PER_SESSION;
	signal(SIGPIPE, SIG_IGN);
	if (tdaemon_start(&td, conf, NULL, NULL) == -1 ||
	    tdaemon_engines(&td, e, 2) < 1) {
		fprintf(stderr, "bench_mem: cannot start cpconnectd\n");
		return 1;
	}
	/* Listens, never accepts: the handshakes wait out their timeout. */
	if ((lfd = tlisten(AF_INET, &port)) == -1)
		return 1;
	/* A few requests first set the engine's working size (OpenSSL's
	 * tables, the allocator's arenas), which the burst is judged
	 * against; a bigger first burst would hide what bursts leave. */
	burst(&td, e[0], port, PER_SESSION);
	usleep(1500000);
	rss0 = tproc_rss_kb(e[0]);
	peak = burst(&td, e[0], port, n);
	/* The engine trims at its next once-a-second tick once idle. */
	for (i = 0; i < 30; i++) {
		usleep(100000);
		after = tproc_rss_kb(e[0]);
		if (after - rss0 < KEEP_KIB)
			break;
	}
	printf("memory: engine RSS around %d TLS requests stalled in the "
	       "handshake\n",
	    n);
	printf("  before %7.1f MiB  peak %7.1f MiB  after %7.1f MiB\n",
	    rss0 / 1024.0, peak / 1024.0, after / 1024.0);
	printf("TABLE mem|engine RSS before / at / after a burst of %d "
	       "stalled TLS requests|%.1f / %.1f / %.1f MiB|%.2f (after / "
	       "before)|after <= before + %d MiB: %s\n",
	    n, rss0 / 1024.0, peak / 1024.0, after / 1024.0,
	    rss0 > 0 ? (double)after / (double)rss0 : 0, KEEP_KIB / 1024,
	    after - rss0 <= KEEP_KIB ? "met" : "MISSED");
	close(lfd);
	tdaemon_stop(&td);
	return 0;
}
