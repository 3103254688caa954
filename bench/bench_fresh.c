/* SPDX-License-Identifier: ISC */
/*
 * P3: a program started afresh for every connection.  Each sample is one
 * fork + exec of the small program bench/child/fresh.c (built like a
 * user's program), one verified TLS connect to a loopback openssl
 * s_server, a small HTTP request and its answer, and exit; the time is
 * measured from fork to the end of waitpid, the whole life of the
 * process.
 *
 *	resumed:  the program connects through cpconnectd, which verifies
 *	          with its own trust store and resumes a session kept from
 *	          an earlier process (TLS 1.3 tickets come back through the
 *	          library);
 *	cold:     the program loads the same trust store into OpenSSL and
 *	          makes a full handshake, as a program without the daemon has
 *	          to: it cannot resume what an earlier process negotiated.
 *
 * The trust store of both is the system bundle plus the test root, the
 * size of a real one.  Samples alternate, so both see the same machine.
 * Also shown, not in the table: the daemon path when the program passes
 * the same bundle as its own CA_file (cprops' cp_client_create_ssl
 * argument), which the library then reads and offers as client anchors.
 *
 * usage: bench_fresh [samples]
 */
#include <sys/wait.h>

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"
#include "itest.h"

#define N_DEFAULT 200
#define WARMUP 10
#define HOST "localhost"
#define SYSTEM_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
#define TARGET 0.6

static struct tdaemon td;
static int td_up;
static char tmpd[64], pki[128], bundle[192], child[PATH_MAX], portstr[16];

static void
cleanup(void)
{
	char cmd[128];

	tservers_stop();
	if (td_up)
		tdaemon_stop(&td);
	td_up = 0;
	if (tmpd[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpd);
		if (system(cmd) != 0)
			fprintf(
			    stderr, "bench_fresh: cannot remove %s\n", tmpd);
		tmpd[0] = '\0';
	}
}

static void __attribute__((noreturn, format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bench_fresh: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	cleanup();
	exit(1);
}

/* The system bundle, when there is one, and the test root after it. */
static void
make_bundle(void)
{
	char cmd[512];

	snprintf(bundle, sizeof(bundle), "%s/bundle.pem", tmpd);
	snprintf(cmd, sizeof(cmd),
	    "{ cat %s 2>/dev/null; cat %s/ca.pem; } > %s", SYSTEM_BUNDLE, pki,
	    bundle);
	if (system(cmd) != 0)
		fail("cannot write %s", bundle);
}

static void
setup(void)
{
	char conf[512], self[PATH_MAX];
	ssize_t n;
	uint16_t port;

	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) <= 0)
		fail("readlink: %s", strerror(errno));
	self[n] = '\0';
	snprintf(child, sizeof(child), "%s/fresh", dirname(self));
	if (access(child, X_OK) != 0)
		fail("%s: %s (make benches builds it)", child, strerror(errno));
	snprintf(tmpd, sizeof(tmpd), "/tmp/cpbench.XXXXXX");
	if (mkdtemp(tmpd) == NULL) {
		tmpd[0] = '\0';
		fail("mkdtemp: %s", strerror(errno));
	}
	if (tpki_make(pki, sizeof(pki), tmpd) == -1)
		fail("cannot generate the test PKI (tests/pki/mkpki.sh)");
	make_bundle();
	snprintf(conf, sizeof(conf),
	    "user nobody\n"
	    "ca-file \"%s\"\n"
	    "allow from any to 127.0.0.0/8\n",
	    bundle);
	if (tdaemon_start(&td, conf, NULL, NULL) == -1)
		fail("cannot start cpconnectd");
	td_up = 1;
	if ((port = ts_server(pki, 0, 0, "valid", 1, "-quiet", (char *)NULL)) ==
	    0)
		fail("cannot start openssl s_server");
	snprintf(portstr, sizeof(portstr), "%u", port);
}

/* One fresh process; its exit status in *st.  Nanoseconds. */
static uint64_t
run(char *const argv[], int *st)
{
	uint64_t t0 = bench_ns();
	pid_t pid;
	int s;

	if ((pid = fork()) == -1)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		execv(child, argv);
		_exit(127);
	}
	if (waitpid(pid, &s, 0) != pid || !WIFEXITED(s))
		fail("the child did not exit");
	*st = WEXITSTATUS(s);
	return bench_ns() - t0;
}

static uint64_t
resumed_once(const char *ca, int *resumed)
{
	char *argv[] = {
	    "fresh", "daemon", td.sock, HOST, portstr, (char *)ca, NULL};
	uint64_t t;
	int st;

	t = run(argv, &st);
	if (st > 1)
		fail("daemon connect failed (status %d)", st);
	*resumed += st;
	return t;
}

static uint64_t
cold_once(void)
{
	char *argv[] = {"fresh", "inproc", bundle, HOST, portstr, NULL};
	uint64_t t;
	int st;

	t = run(argv, &st);
	if (st != 0)
		fail("in-process connect failed (status %d)", st);
	return t;
}

int
main(int argc, char *argv[])
{
	int n = argc > 1 ? atoi(argv[1]) : N_DEFAULT, i, r = 0, rca = 0, w = 0;
	uint64_t *a, *b, *c, am, bm, cm, a90, b90, c90;
	double ratio, ratio_ca;

	if (n < 10 || n > 100000)
		fail("samples: 10..100000");
	signal(SIGPIPE, SIG_IGN);
	setup();
	a = calloc((size_t)n, sizeof(*a));
	b = calloc((size_t)n, sizeof(*b));
	c = calloc((size_t)n, sizeof(*c));
	if (a == NULL || b == NULL || c == NULL)
		fail("out of memory");
	/* The first process makes the session the others resume; then the
	 * page cache, the daemon's sessions and the server are warm. */
	for (i = 0; i < WARMUP; i++) {
		resumed_once(NULL, &w);
		resumed_once(bundle, &w);
		cold_once();
	}
	for (i = 0; i < n; i++) {
		if (i % 2 == 0) {
			a[i] = resumed_once(NULL, &r);
			b[i] = cold_once();
			c[i] = resumed_once(bundle, &rca);
		} else {
			c[i] = resumed_once(bundle, &rca);
			b[i] = cold_once();
			a[i] = resumed_once(NULL, &r);
		}
	}
	am = bench_quantile(a, (size_t)n, 0.5);
	a90 = bench_quantile(a, (size_t)n, 0.9);
	bm = bench_quantile(b, (size_t)n, 0.5);
	b90 = bench_quantile(b, (size_t)n, 0.9);
	cm = bench_quantile(c, (size_t)n, 0.5);
	c90 = bench_quantile(c, (size_t)n, 0.9);
	ratio = (double)am / (double)bm;
	ratio_ca = (double)cm / (double)bm;
	printf("fresh process: %d samples each, fork + exec + verified TLS "
	       "connect + GET + exit, trust store of %s + test root\n",
	    n, SYSTEM_BUNDLE);
	printf("  cold, in-process OpenSSL        median %7.1f us  p90 "
	       "%7.1f us\n",
	    bm / 1e3, b90 / 1e3);
	printf("  through the daemon, resumed     median %7.1f us  p90 "
	       "%7.1f us  (%d/%d resumed)\n",
	    am / 1e3, a90 / 1e3, r, n);
	printf("  ... the program passing CA_file median %7.1f us  p90 "
	       "%7.1f us  (%d/%d resumed)\n",
	    cm / 1e3, c90 / 1e3, rca, n);
	printf("  ratio resumed/cold %.2f (target <= %.1f), with CA_file "
	       "%.2f\n",
	    ratio, TARGET, ratio_ca);
	printf("TABLE P3|fresh process, verified TLS connect: resumed through "
	       "the daemon vs cold in-process|%.0f us vs %.0f us|%.2f|"
	       "<= %.1f: %s\n",
	    am / 1e3, bm / 1e3, ratio, TARGET,
	    ratio <= TARGET ? "met" : "MISSED");
	free(a);
	free(b);
	free(c);
	cleanup();
	return r == n && ratio <= TARGET ? 0 : 1;
}
