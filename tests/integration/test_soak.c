/* SPDX-License-Identifier: ISC */
/*
 * Soak: 10 000 mixed requests through one daemon from four client
 * processes at once, with five SIGHUP reloads on the way.  The mix: plain
 * TCP to a loopback echo server, verified TLS to openssl s_server, and
 * requests meant to fail: denied by policy, refused port, certificate that
 * does not verify.  Every request must end as intended (the successes with
 * a round trip of data, the failures with their error class), and after
 * the run the daemon's descriptors and memory are where they were after a
 * warm-up, with the old engines gone.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509_vfy.h>

#include "cprops/client.h"
#include "cutest.h"
#include "itest.h"

#define WORKERS 4
#define MAXE 16
#ifndef SOAK_REQUESTS
#define SOAK_REQUESTS 10000
#endif
#define RELOADS 5
#define WARM_AFTER_RELOAD 400 /* requests: see test_soak() */
/* Same reasoning as test_hostile.c: malloc keeps what it freed for reuse,
 * and under ASan the quarantine holds freed memory by design. */
#ifdef __SANITIZE_ADDRESS__
#define RSS_SLACK_KB (-1L)
#define SOAK_MS 300000
#else
#define RSS_SLACK_KB (4L * 1024)
#define SOAK_MS 120000
#endif

enum kind { K_TCP, K_TLS, K_DENIED, K_REFUSED, K_BADCERT, K_MAX };

static const char *const kind_name[K_MAX] = {
    "tcp", "tls", "denied by policy", "refused port", "bad certificate"};

/* Out of ten requests: four TCP, three TLS, one of each failure. */
static const enum kind mix[10] = {K_TCP, K_TLS, K_DENIED, K_TCP, K_TLS,
    K_REFUSED, K_TCP, K_TLS, K_BADCERT, K_TCP};

/* Shared with the workers (MAP_SHARED): counters only, atomic. */
struct tally {
	unsigned done;
	unsigned as_intended[K_MAX];
	unsigned not_intended[K_MAX];
	unsigned printed;
};

static struct tdaemon dmn;
static char pki[128];
static uint16_t echo_port, refused_port;
static uint16_t www_port[WORKERS], expired_port[WORKERS];
static pid_t echo_pid;
static int refused_fd;
static struct tally *tally;

static const char conf_fmt[] = "user nobody\n"
                               "engines 2\n"
                               "ca-file \"%s/ca.pem\"\n"
                               "allow from any to 127.0.0.0/8\n"
                               "# generation %d\n";

static int
write_conf(int gen)
{
	char text[1024];
	FILE *f;
	int rv;

	snprintf(text, sizeof(text), conf_fmt, pki, gen);
	if ((f = fopen(dmn.conf, "w")) == NULL)
		return -1;
	rv = fputs(text, f) < 0 ? -1 : 0;
	return fclose(f) != 0 ? -1 : rv;
}

static int
suite_init(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char conf[1024];
	int l, i;

	if (tpki_make(pki, sizeof(pki), cu_tmpdir()) == -1)
		return -1;
	echo_port = 0;
	if ((l = tlisten(AF_INET, &echo_port)) == -1)
		return -1;
	echo_pid = techo_start(l, 1000000);
	close(l);
	/* Bound but not listening: connections are refused, and no other
	 * program on the machine can take the port meanwhile. */
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((refused_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) ==
	        -1 ||
	    bind(refused_fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(refused_fd, (struct sockaddr *)&sin, &len) == -1)
		return -1;
	refused_port = ntohs(sin.sin_port);
	/* s_server serves one connection at a time: one pair per worker. */
	for (i = 0; i < WORKERS; i++) {
		www_port[i] = ts_server(pki, 0, 0, "valid", 1, (char *)NULL);
		expired_port[i] =
		    ts_server(pki, 0, 0, "expired", 1, (char *)NULL);
		if (www_port[i] == 0 || expired_port[i] == 0)
			return -1;
	}
	snprintf(conf, sizeof(conf), conf_fmt, pki, 0);
	if (tdaemon_start(&dmn, conf, NULL, NULL) == -1)
		return -1;
	cp_client_set_socket_path(dmn.sock);
	tally = mmap(NULL, sizeof(*tally), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return tally == MAP_FAILED ? -1 : 0;
}

static int
suite_clean(void)
{
	char cmd[128];

	cp_client_shutdown();
	tdaemon_stop(&dmn);
	tservers_stop();
	tkill(echo_pid);
	close(refused_fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", cu_tmpdir());
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- one request ---- */

static int
echo_ok(cp_client *c)
{
	char buf[8];
	int n, got = 0;

	if (cp_client_write(c, "soak", 4) != 4)
		return 0;
	while (got < 4 && (n = cp_client_read(c, buf + got, 4 - got)) > 0)
		got += n;
	return got == 4 && memcmp(buf, "soak", 4) == 0;
}

/* 1 when the request ended as its kind intends; why in text otherwise. */
static int
request(enum kind k, int w, char *text, size_t textsz)
{
	cp_client *c = NULL;
	int rv, err, ok = 0;
	long verify = 0;

	switch (k) {
	case K_TCP:
		c = cp_client_create("127.0.0.1", echo_port);
		break;
	case K_TLS:
		c = cp_client_create_ssl(
		    "localhost", www_port[w], NULL, NULL, SSL_VERIFY_PEER);
		break;
	case K_DENIED: /* a private range no rule names */
		c = cp_client_create("10.0.0.1", 80);
		break;
	case K_REFUSED:
		c = cp_client_create("127.0.0.1", refused_port);
		break;
	case K_BADCERT:
		c = cp_client_create_ssl(
		    "localhost", expired_port[w], NULL, NULL, SSL_VERIFY_PEER);
		break;
	default:
		break;
	}
	if (c == NULL) {
		snprintf(text, textsz, "create failed");
		return 0;
	}
	cp_client_set_retry(c, 0);
	cp_client_set_timeout(c, 10, 0);
	errno = 0;
	rv = cp_client_connect(c);
	err = errno;
	verify = cp_client_get_verify_result(c);
	switch (k) {
	case K_TCP:
		ok = rv == 0 && echo_ok(c);
		break;
	case K_TLS:
		ok = rv == 0 && thttp_get(c);
		break;
	case K_DENIED:
		ok = rv == -1 && err == EACCES;
		break;
	case K_REFUSED:
		ok = rv == -1 && err == ECONNREFUSED;
		break;
	case K_BADCERT:
		ok = rv == -1 && err == EPROTO &&
		     verify == X509_V_ERR_CERT_HAS_EXPIRED;
		break;
	default:
		break;
	}
	if (!ok)
		snprintf(text, textsz, "rv %d errno %d (%s) verify %ld: %s", rv,
		    err, strerror(err), verify, cp_client_error(c));
	cp_client_destroy(c);
	return ok;
}

/* A client process: every WORKERS-th request of the mix, from w on. */
static void __attribute__((noreturn)) worker(int w)
{
	char text[700];
	int i;

	alarm(SOAK_MS / 1000 + 30);
	for (i = w; i < SOAK_REQUESTS; i += WORKERS) {
		enum kind k = mix[i % 10];

		if (request(k, w, text, sizeof(text)))
			__atomic_fetch_add(
			    &tally->as_intended[k], 1, __ATOMIC_RELAXED);
		else {
			__atomic_fetch_add(
			    &tally->not_intended[k], 1, __ATOMIC_RELAXED);
			if (__atomic_fetch_add(
			        &tally->printed, 1, __ATOMIC_RELAXED) < 20)
				fprintf(stderr, "  request %d (%s): %s\n", i,
				    kind_name[k], text);
		}
		__atomic_fetch_add(&tally->done, 1, __ATOMIC_RELAXED);
	}
	_exit(0);
}

/* ---- the daemon's state ---- */

static int
alive(pid_t pid)
{
	char path[64], line[128];
	FILE *f;
	int live = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "State:", 6) == 0) {
			live = strchr(line, 'Z') == NULL;
			break;
		}
	fclose(f);
	return live;
}

/* Engines listed (zombies too, until reaped) and how many are alive. */
static int
engines(int *live)
{
	pid_t e[MAXE];
	int i, n = tdaemon_engines(&dmn, e, MAXE);

	for (*live = 0, i = 0; i < n; i++)
		*live += alive(e[i]);
	return n;
}

static int
daemon_fds(void)
{
	pid_t p = tdaemon_parent(&dmn);
	int n = p > 0 ? tfd_count(p) : -1;

	return n < 0 ? -1 : n + tdaemon_fds(&dmn);
}

/* Engines of old generations are gone, the two of the current one run. */
static int
settled(int ms)
{
	uint64_t t0 = tnow_ms();
	int live;

	do {
		if (engines(&live) == 2 && live == 2)
			return 1;
		tmsleep(50);
	} while (tnow_ms() - t0 < (uint64_t)ms);
	return 0;
}

static int
count_in_log(const char *s)
{
	char *line = NULL;
	size_t cap = 0;
	FILE *f;
	int n = 0;

	if ((f = fopen(dmn.log, "r")) == NULL)
		return -1;
	while (getline(&line, &cap, f) != -1)
		n += strstr(line, s) != NULL;
	free(line);
	fclose(f);
	return n;
}

static int
reload(int gen)
{
	pid_t p = tdaemon_parent(&dmn);

	return p > 0 && write_conf(gen) == 0 && kill(p, SIGHUP) == 0 ? 0 : -1;
}

/* ---- the test ---- */

static void
test_soak(void)
{
	pid_t pids[WORKERS];
	int i, k, reloads = 0, reloaded0, fds0, fds1 = -1, status;
	unsigned want[K_MAX] = {0}, bad = 0;
	long rss0, rss1 = -1;
	uint64_t t0, t1;
	char text[700];

	/* Warm-up: every kind, and a reload, before the baseline. */
	for (i = 0; i < 100; i++)
		if (!request(mix[i % 10], i % WORKERS, text, sizeof(text))) {
			fprintf(stderr, "  warm-up %d (%s): %s\n", i,
			    kind_name[mix[i % 10]], text);
			CU_FAIL("warm-up request not as intended");
		}
	CU_ASSERT_FATAL(reload(0) == 0);
	CU_ASSERT_FATAL(settled(10000));
	/* Enough for every engine of the new generation to reach its
	 * working set: the TLS 1.3 connections that wait for tickets
	 * (resume.h) and the caches, all bounded.  A session stays with its
	 * engine, and new sessions are dealt in turn: a fresh one every 50
	 * requests reaches them all. */
	for (i = 0; i < WARM_AFTER_RELOAD; i++) {
		if (i % 50 == 0)
			cp_client_shutdown();
		CU_ASSERT(
		    request(mix[i % 10], i % WORKERS, text, sizeof(text)));
	}
	cp_client_shutdown();
	tmsleep(200);
	fds0 = daemon_fds();
	rss0 = tdaemon_rss_kb(&dmn);
	reloaded0 = count_in_log("configuration reloaded");
	CU_ASSERT_FATAL(fds0 > 0 && rss0 > 0);

	memset(tally, 0, sizeof(*tally));
	t0 = tnow_ms();
	for (i = 0; i < WORKERS; i++) {
		if ((pids[i] = fork()) == 0)
			worker(i);
		CU_ASSERT_FATAL(pids[i] > 0);
	}
	/* Reloads spread over the run: at 1/6, 2/6 ... 5/6 of the requests. */
	while (
	    __atomic_load_n(&tally->done, __ATOMIC_RELAXED) < SOAK_REQUESTS &&
	    tnow_ms() - t0 < SOAK_MS) {
		unsigned done = __atomic_load_n(&tally->done, __ATOMIC_RELAXED);

		if (reloads < RELOADS && done >= (unsigned)(reloads + 1) *
		                                     SOAK_REQUESTS /
		                                     (RELOADS + 1)) {
			CU_ASSERT(reload(reloads + 1) == 0);
			reloads++;
		}
		tmsleep(20);
	}
	for (i = 0; i < WORKERS; i++) {
		uint64_t w0 = tnow_ms();

		while (waitpid(pids[i], &status, WNOHANG) != pids[i]) {
			if (tnow_ms() - w0 > 30000) {
				kill(pids[i], SIGKILL);
				waitpid(pids[i], &status, 0);
				break;
			}
			tmsleep(20);
		}
		CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	t1 = tnow_ms();

	/* Every request ended as intended, and each kind got its share. */
	for (i = 0; i < SOAK_REQUESTS; i++)
		want[mix[i % 10]]++;
	printf("\n    [soak] %u requests by %d processes in %llu ms, %d "
	       "reloads:",
	    tally->done, WORKERS, (unsigned long long)(t1 - t0), reloads);
	for (k = 0; k < K_MAX; k++) {
		printf("\n      %-17s %5u as intended, %u not", kind_name[k],
		    tally->as_intended[k], tally->not_intended[k]);
		CU_ASSERT_EQUAL(tally->as_intended[k], want[k]);
		bad += tally->not_intended[k];
	}
	CU_ASSERT_EQUAL(tally->done, SOAK_REQUESTS);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(reloads, RELOADS);
	CU_ASSERT(t1 - t0 <= SOAK_MS);

	/* Flat at the end: the old generations have drained and left, and
	 * descriptors and memory are back at the warm-up's level. */
	cp_client_shutdown();
	CU_ASSERT(settled(15000));
	for (i = 0; i < 100; i++) {
		fds1 = daemon_fds();
		rss1 = tdaemon_rss_kb(&dmn);
		if (fds1 >= 0 && fds1 <= fds0 &&
		    (RSS_SLACK_KB < 0 || rss1 <= rss0 + RSS_SLACK_KB))
			break;
		tmsleep(100);
	}
	printf("\n    [soak] descriptors %d -> %d, RSS %ld -> %ld KiB, "
	       "%d reloads logged ",
	    fds0, fds1, rss0, rss1,
	    count_in_log("configuration reloaded") - reloaded0);
	CU_ASSERT(fds1 >= 0 && fds1 <= fds0);
	if (RSS_SLACK_KB >= 0)
		CU_ASSERT(rss1 <= rss0 + RSS_SLACK_KB);
	CU_ASSERT_EQUAL(
	    count_in_log("configuration reloaded") - reloaded0, RELOADS);
}

int
main(void)
{
	CU_pSuite s;

	signal(SIGPIPE, SIG_IGN);
	s = cu_suite("soak", suite_init, suite_clean);
	cu_test(s, "10000 mixed requests, 4 processes, 5 reloads", test_soak);
	return cu_finish();
}
