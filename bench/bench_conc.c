/* SPDX-License-Identifier: ISC */
/*
 * 64 processes at once, each making full verified TLS 1.3 connects to
 * one loopback server: through cpconnectd against in-process OpenSSL
 * doing the same work, measured in one run, the rounds alternating.  Wall
 * time from the moment every process is ready to the last one's end; the
 * ratio is ours over in-process (lower is better).
 *
 * The server has one process per client process, so no connection waits
 * for a free server.  With four, each serving one connection until its
 * client closed, the benchmark measured how long a connection holds a
 * server (the hand-off's latency) more than the work: 16-22% of the CPU
 * stayed idle in our rounds.  Printed along: the idle share of each
 * path's rounds, and the CPU each engine spent (an engine that takes more
 * than its share leaves the others idle).
 *
 * usage: bench_conc [processes [connects each [rounds]]]
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "bench_common.h"
#include "cprops/client.h"
#include "itest.h"

#define PROCS_DEFAULT 64
#define EACH_DEFAULT 5
#define ROUNDS_DEFAULT 3
#define MAX_ROUNDS 9
#define MAX_PROCS 512
#define HOST "localhost"
#define TARGET 1.10 /* wall time, ours / in-process */
#define WATCHDOG 600
#define MAX_ENGINES 64

static char tmpd[64], pki[96];
static pid_t servers[MAX_PROCS];
static int nservers;
static struct tdaemon td;
static int td_up;

static const char *
pkifile(const char *name)
{
	static char buf[4][128];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", pki, name);
	return buf[i];
}

static void
cleanup(void)
{
	char cmd[128];
	int i;

	for (i = 0; i < nservers; i++)
		if (servers[i] > 0) {
			kill(servers[i], SIGKILL);
			waitpid(servers[i], NULL, 0);
			servers[i] = 0;
		}
	if (td_up)
		tdaemon_stop(&td);
	td_up = 0;
	if (tmpd[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpd);
		if (system(cmd) != 0)
			fprintf(stderr, "bench_conc: cannot remove %s\n", tmpd);
		tmpd[0] = '\0';
	}
}

static void __attribute__((noreturn)) fail(const char *what)
{
	fprintf(stderr, "bench_conc: %s\n", what);
	ERR_print_errors_fp(stderr);
	cleanup();
	exit(1);
}

/* ---- the server: nservers processes accepting on one socket ---- */

static SSL_CTX *
server_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	X509 *inter;
	FILE *f;

	if (ctx == NULL ||
	    !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    SSL_CTX_use_certificate_file(
	        ctx, pkifile("valid.pem"), SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(
	        ctx, pkifile("valid.key"), SSL_FILETYPE_PEM) != 1)
		fail("server: certificate");
	if ((f = fopen(pkifile("int.pem"), "r")) == NULL ||
	    (inter = PEM_read_X509(f, NULL, NULL, NULL)) == NULL)
		fail("server: int.pem");
	fclose(f);
	if (SSL_CTX_add0_chain_cert(ctx, inter) != 1)
		fail("server: chain");
	/* Every handshake full. */
	SSL_CTX_set_options(
	    ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;
}

static void __attribute__((noreturn)) serve(int lfd, SSL_CTX *ctx)
{
	char buf[256];
	SSL *ssl;
	int fd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		if ((fd = accept(lfd, NULL, NULL)) == -1)
			continue;
		if ((ssl = SSL_new(ctx)) != NULL && SSL_set_fd(ssl, fd) == 1 &&
		    SSL_accept(ssl) == 1) {
			while (SSL_read(ssl, buf, sizeof(buf)) > 0)
				;
			SSL_shutdown(ssl);
		}
		SSL_free(ssl);
		ERR_clear_error();
		close(fd);
	}
}

static uint16_t
servers_start(int n)
{
	uint16_t port = 0;
	SSL_CTX *ctx;
	int lfd, i;

	if ((lfd = tlisten(AF_INET, &port)) == -1)
		fail("cannot listen on 127.0.0.1");
	listen(lfd, 512);
	ctx = server_ctx();
	for (i = 0; i < n; i++) {
		fflush(NULL);
		if ((servers[i] = fork()) == -1)
			fail("fork");
		if (servers[i] == 0)
			serve(lfd, ctx);
		nservers = i + 1;
	}
	SSL_CTX_free(ctx);
	close(lfd);
	return port;
}

/* ---- the clients ---- */

/* In-process: what the daemon does for a request. */
static int
ossl_once(SSL_CTX *ctx, uint16_t port)
{
	struct addrinfo hints, *res;
	char serv[8];
	SSL *ssl;
	int fd, ok;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(serv, sizeof(serv), "%u", port);
	if (getaddrinfo(HOST, serv, &hints, &res) != 0)
		return -1;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ok = fd != -1 && connect(fd, res->ai_addr, res->ai_addrlen) == 0;
	freeaddrinfo(res);
	if (!ok || (ssl = SSL_new(ctx)) == NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	X509_VERIFY_PARAM_set_hostflags(
	    SSL_get0_param(ssl), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	ok = SSL_set_fd(ssl, fd) == 1 &&
	     SSL_set_tlsext_host_name(ssl, HOST) == 1 &&
	     X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl), HOST, 0) == 1 &&
	     SSL_connect(ssl) == 1 && SSL_get_verify_result(ssl) == X509_V_OK;
	if (ok)
		SSL_shutdown(ssl);
	SSL_free(ssl);
	close(fd);
	return ok ? 0 : -1;
}

static SSL_CTX *
client_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL ||
	    !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    SSL_CTX_load_verify_locations(ctx, pkifile("ca.pem"), NULL) != 1)
		return NULL;
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

/* One client process: set up, wait for the start, connect each times. */
static void __attribute__((noreturn))
client(int daemon, uint16_t port, int each, int go)
{
	SSL_CTX *ctx = NULL;
	cp_client *c = NULL;
	char b;
	int i, bad = 0;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (daemon) {
		c = cp_client_create_ssl(
		    HOST, port, NULL, NULL, SSL_VERIFY_PEER);
		if (c == NULL || cp_client_set_family(c, AF_INET) == -1)
			_exit(2);
		cp_client_set_retry(c, 0);
		cp_client_set_timeout(c, 60, 0);
	} else if ((ctx = client_ctx()) == NULL)
		_exit(2);
	if (read(go, &b, 1) < 0)
		_exit(2);
	for (i = 0; i < each; i++) {
		if (daemon) {
			if (cp_client_connect(c) != 0) {
				if (bad++ == 0)
					fprintf(stderr, "bench_conc: %s\n",
					    cp_client_error(c));
			}
			cp_client_close(c);
		} else if (ossl_once(ctx, port) == -1)
			bad++;
	}
	_exit(bad ? 1 : 0);
}

/* What the rounds of one path add up to, besides their wall times. */
struct path_stats {
	uint64_t idle[MAX_ROUNDS]; /* the machine's idle share, per million */
	int nidle;
	uint64_t engine_ns[MAX_ENGINES]; /* daemon: each engine's CPU */
	int nengines;
};

/* Wall ns for procs processes x each connects, or 0 if any failed. */
static uint64_t
round_of(int daemon, uint16_t port, int procs, int each, struct path_stats *ps)
{
	int go[2], i, st, failed = 0, ne = 0, idle_ok;
	uint64_t t0, i0, a0, i1, a1, e0[MAX_ENGINES];
	pid_t pid, eng[MAX_ENGINES];

	if (pipe(go) == -1)
		fail("pipe");
	fflush(NULL);
	for (i = 0; i < procs; i++) {
		if ((pid = fork()) == -1)
			fail("fork");
		if (pid == 0) {
			close(go[1]);
			client(daemon, port, each, go[0]);
		}
	}
	close(go[0]);
	usleep(300000); /* every process set up and waiting */
	if (daemon)
		ne = bench_children(td.pid, eng, MAX_ENGINES);
	for (i = 0; i < ne; i++)
		e0[i] = bench_pid_cpu_ns(eng[i]);
	idle_ok = bench_idle_ticks(&i0, &a0) == 0;
	t0 = bench_ns();
	close(go[1]); /* go */
	for (i = 0; i < procs; i++)
		if (wait(&st) == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			failed++;
	t0 = bench_ns() - t0;
	if (ps != NULL && idle_ok && bench_idle_ticks(&i1, &a1) == 0 &&
	    a1 > a0 && ps->nidle < MAX_ROUNDS)
		ps->idle[ps->nidle++] = (i1 - i0) * 1000000 / (a1 - a0);
	for (i = 0; ps != NULL && i < ne; i++)
		ps->engine_ns[i] += bench_pid_cpu_ns(eng[i]) - e0[i];
	if (ps != NULL && ne > ps->nengines)
		ps->nengines = ne;
	if (failed)
		fprintf(stderr, "bench_conc: %d of %d %s processes failed\n",
		    failed, procs, daemon ? "cp_client" : "in-process");
	return failed ? 0 : t0;
}

static double
median_idle(struct path_stats *s)
{
	if (s->nidle == 0)
		return 0;
	return bench_quantile(s->idle, (size_t)s->nidle, 0.5) / 1e6;
}

/* Where the CPU went: idle time says something waits (a server, an
 * engine), unequal engines say one took more than its share. */
static void
print_spread(struct path_stats *os, struct path_stats *ps)
{
	int i;

	printf(
	    "  CPU idle, median round: in-process %.1f%%, cp_client %.1f%%\n",
	    100 * median_idle(os), 100 * median_idle(ps));
	printf("  engines' CPU, all rounds:");
	for (i = 0; i < ps->nengines; i++)
		printf(" %.0f", ps->engine_ns[i] / 1e6);
	printf(" ms\n");
}

static void
watchdog(int sig)
{
	static const char msg[] = "bench_conc: timed out\n";

	(void)!write(2, msg, sizeof(msg) - 1);
	kill(0, SIGKILL);
	_exit(1);
}

int
main(int argc, char *argv[])
{
	int procs = argc > 1 ? atoi(argv[1]) : PROCS_DEFAULT;
	int each = argc > 2 ? atoi(argv[2]) : EACH_DEFAULT;
	int rounds = argc > 3 ? atoi(argv[3]) : ROUNDS_DEFAULT, r;
	uint64_t o[MAX_ROUNDS], p[MAX_ROUNDS], om, pm;
	struct path_stats os = {0}, ps = {0};
	char conf[256];
	uint16_t port;

	if (procs < 1 || procs > MAX_PROCS)
		procs = PROCS_DEFAULT;
	if (each < 1)
		each = EACH_DEFAULT;
	if (rounds < 1 || rounds > MAX_ROUNDS)
		rounds = ROUNDS_DEFAULT;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, watchdog);
	alarm(WATCHDOG);
	snprintf(tmpd, sizeof(tmpd), "/tmp/cpbench.XXXXXX");
	if (mkdtemp(tmpd) == NULL) {
		tmpd[0] = '\0';
		fail("mkdtemp");
	}
	if (tpki_make(pki, sizeof(pki), tmpd) == -1)
		fail("cannot generate the test PKI (tests/pki/mkpki.sh)");
	snprintf(conf, sizeof(conf),
	    "user nobody\n"
	    "ca-file \"%s/ca.pem\"\n"
	    "max-sessions-per-user 1024\n"
	    "max-requests-per-user 1024\n"
	    "allow from any to 127.0.0.0/8\n",
	    pki);
	if (tdaemon_start(&td, conf, NULL, NULL) == -1)
		fail("cannot start cpconnectd");
	td_up = 1;
	cp_client_set_socket_path(td.sock);
	port = servers_start(procs);
	/* Warm up both paths (the daemon's engines, page cache). */
	round_of(1, port, 4, 2, NULL);
	round_of(0, port, 4, 2, NULL);
	for (r = 0; r < rounds; r++) {
		if (r % 2 == 0) {
			o[r] = round_of(0, port, procs, each, &os);
			p[r] = round_of(1, port, procs, each, &ps);
		} else {
			p[r] = round_of(1, port, procs, each, &ps);
			o[r] = round_of(0, port, procs, each, &os);
		}
		if (o[r] == 0 || p[r] == 0)
			fail("a round failed");
	}
	om = bench_quantile(o, (size_t)rounds, 0.5);
	pm = bench_quantile(p, (size_t)rounds, 0.5);
	printf("concurrency: %d processes x %d full TLS 1.3 connects to %s "
	       "(verified), median of %d rounds\n",
	    procs, each, HOST, rounds);
	printf("  in-process OpenSSL      %8.1f ms  %6.0f connects/s\n",
	    om / 1e6, procs * each / (om / 1e9));
	printf("  cp_client_connect()     %8.1f ms  %6.0f connects/s\n",
	    pm / 1e6, procs * each / (pm / 1e9));
	print_spread(&os, &ps);
	printf("TABLE conc|%d processes x %d TLS connects at once: wall "
	       "time, cp_client vs in-process|%.0f ms vs %.0f ms|%.2f|<= "
	       "%.2f: %s\n",
	    procs, each, pm / 1e6, om / 1e6, (double)pm / (double)om, TARGET,
	    (double)pm / (double)om <= TARGET ? "met" : "MISSED");
	cleanup();
	return 0;
}
