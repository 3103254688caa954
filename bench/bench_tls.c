/* SPDX-License-Identifier: ISC */
/*
 * TLS through cpconnectd against the same work done in-process, measured
 * in one run against one loopback TLS server of our own:
 *
 * 1. sequential full TLS 1.3 handshakes (chain and host name verified, no
 *    resumption): in-process OpenSSL against cp_client_connect(), with
 *    the CPU time each spends: the in-process client against the library
 *    plus the daemon's engines; then the same in-process handshake done
 *    by a helper process that a pipe wakes for each one, against
 *    in-process: what one process hop costs without the daemon;
 * 2. bulk transfer for each AEAD the daemon negotiates, download and
 *    upload: cp_client_read/cp_client_write on the handed-off connection
 *    (the library's record layer) against SSL_read/SSL_write on an
 *    in-process OpenSSL connection with the same suite.
 *
 * usage: bench_tls [handshakes [MiB per transfer [repeats]]]
 *
 * The server is a separate process (one per listener, one connection at a
 * time), so both clients talk to the very same server.  In a transfer the
 * server does the other half of the cipher work (encrypts what we
 * download, decrypts what we upload): that is the same work for both
 * clients, but if the server is the slower side, the wall-clock rate shows
 * the server's speed and hides the client's.  So the client's own CPU time
 * (CLOCK_THREAD_CPUTIME_ID: user and system time of the client) is
 * measured too, and its rate compared: that is the record layer's cost,
 * whatever the server does.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
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

#define N_DEFAULT 500
#define MIB_DEFAULT 1024
#define REPEATS_DEFAULT 5
#define REPEATS_MAX 12
#define WARMUP 20
#define APPBUF (64 * 1024) /* application buffers, both sides */
#define SRVREC (16 * 1024) /* the server's SSL_write size: one record */
#define IOTIMEOUT 20       /* seconds: any connect, read or write */
#define WATCHDOG 600       /* seconds, the whole run */
#define HOST "localhost"

/* What the in-process client offers: the daemon's lists. */
#define CLIENT_TLS12                                                           \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"           \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"           \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define CLIENT_TLS13                                                           \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"                       \
	"TLS_CHACHA20_POLY1305_SHA256"

struct suite {
	const char *label;
	const char *cipher; /* OpenSSL name, the only one the server takes */
	int tls13;
};

static const struct suite suites[] = {
    {"1.3 AES-128-GCM", "TLS_AES_128_GCM_SHA256", 1},
    {"1.3 AES-256-GCM", "TLS_AES_256_GCM_SHA384", 1},
    {"1.3 CHACHA20", "TLS_CHACHA20_POLY1305_SHA256", 1},
    {"1.2 AES-128-GCM", "ECDHE-ECDSA-AES128-GCM-SHA256", 0},
    {"1.2 AES-256-GCM", "ECDHE-ECDSA-AES256-GCM-SHA384", 0},
    {"1.2 CHACHA20", "ECDHE-ECDSA-CHACHA20-POLY1305", 0},
};
#define NSUITES (sizeof(suites) / sizeof(suites[0]))
#define NSERVERS (NSUITES + 1) /* [0]: the handshake server */

enum { DOWN, UP, NDIRS };
static const char *const dirname[NDIRS] = {"down", "up"};

static char tmpd[64], pki[96];
static pid_t servers[NSERVERS];
static uint16_t ports[NSERVERS];
static struct tdaemon td;
static int td_up;
/* The same daemon with verify-cache off: every chain verified. */
static struct tdaemon td_nv;
static int td_nv_up;
static unsigned char *iobuf;
/* The in-process handshake in a helper process: what one more process
 * hop costs by itself (see bench_handshakes). */
static pid_t helper_pid;
static int helper_req = -1, helper_rep = -1;

static void
cleanup(void)
{
	char cmd[128];
	size_t i;

	for (i = 0; i < NSERVERS; i++)
		if (servers[i] > 0) {
			kill(servers[i], SIGKILL);
			waitpid(servers[i], NULL, 0);
			servers[i] = 0;
		}
	if (helper_pid > 0) {
		kill(helper_pid, SIGKILL);
		waitpid(helper_pid, NULL, 0);
		helper_pid = 0;
	}
	if (td_up) {
		tdaemon_stop(&td);
		td_up = 0;
	}
	if (td_nv_up) {
		tdaemon_stop(&td_nv);
		td_nv_up = 0;
	}
	if (tmpd[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpd);
		if (system(cmd) != 0)
			fprintf(stderr, "bench_tls: cannot remove %s\n", tmpd);
		tmpd[0] = '\0';
	}
}

static void __attribute__((noreturn, format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "bench_tls: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	ERR_print_errors_fp(stderr);
	cleanup();
	exit(1);
}

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
put64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t
get64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* ---- the server (child processes) ---- */

/* si < 0: the handshake server (TLS 1.3, any suite); else suites[si]. */
static SSL_CTX *
server_ctx(int si)
{
	SSL_CTX *ctx;
	X509 *inter;
	FILE *f;
	int ok;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		fail("server: SSL_CTX_new");
	if (si < 0 || suites[si].tls13) {
		ok = SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) &&
		     (si < 0 ||
		         SSL_CTX_set_ciphersuites(ctx, suites[si].cipher));
	} else {
		ok = SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) &&
		     SSL_CTX_set_cipher_list(ctx, suites[si].cipher);
	}
	if (!ok)
		fail("server: cannot restrict the suite");
	/* Leaf, intermediate sent along, key. */
	if (SSL_CTX_use_certificate_file(
	        ctx, pkifile("valid.pem"), SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(
	        ctx, pkifile("valid.key"), SSL_FILETYPE_PEM) != 1)
		fail("server: cannot load valid.pem/valid.key");
	if ((f = fopen(pkifile("int.pem"), "r")) == NULL ||
	    (inter = PEM_read_X509(f, NULL, NULL, NULL)) == NULL)
		fail("server: cannot read int.pem");
	fclose(f);
	if (SSL_CTX_add0_chain_cert(ctx, inter) != 1)
		fail("server: cannot add the intermediate");
	/* Every handshake full: no tickets, no session cache. */
	SSL_CTX_set_options(
	    ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* Upload: the server reads big chunks (one read for several
	 * records), so its side costs as little as it can. */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_default_read_buffer_len(ctx, APPBUF);
	return ctx;
}

static int
ssl_read_full(SSL *ssl, unsigned char *p, size_t len)
{
	int n;

	while (len > 0) {
		if ((n = SSL_read(ssl, p, (int)len)) <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Command: 'D' (send count bytes) or 'U' (take count bytes, answer one
 * byte), then 8 bytes of count; or nothing (a handshake only). */
static void
serve(SSL *ssl, unsigned char *buf)
{
	unsigned char cmd[9];
	uint64_t left;
	size_t n;
	int r;

	if (ssl_read_full(ssl, cmd, sizeof(cmd)) == -1)
		return;
	left = get64(cmd + 1);
	if (cmd[0] == 'D') {
		for (; left > 0; left -= n) {
			n = left < SRVREC ? (size_t)left : SRVREC;
			if (SSL_write(ssl, buf, (int)n) <= 0)
				return;
		}
	} else if (cmd[0] == 'U') {
		for (; left > 0; left -= (size_t)r) {
			n = left < APPBUF ? (size_t)left : APPBUF;
			if ((r = SSL_read(ssl, buf, (int)n)) <= 0)
				return;
		}
		if (SSL_write(ssl, "k", 1) != 1)
			return;
	} else
		return;
	/* Until the client closes. */
	while (SSL_read(ssl, buf, APPBUF) > 0)
		;
}

static void __attribute__((noreturn)) server_loop(int lfd, SSL_CTX *ctx)
{
	unsigned char *buf;
	SSL *ssl;
	int fd;

	if ((buf = calloc(1, APPBUF)) == NULL)
		_exit(1);
	for (;;) {
		if ((fd = accept(lfd, NULL, NULL)) == -1)
			continue;
		if ((ssl = SSL_new(ctx)) != NULL && SSL_set_fd(ssl, fd) == 1 &&
		    SSL_accept(ssl) == 1) {
			serve(ssl, buf);
			SSL_shutdown(ssl);
		}
		SSL_free(ssl);
		ERR_clear_error();
		close(fd);
	}
}

static void
servers_start(void)
{
	SSL_CTX *ctx;
	size_t i;
	pid_t pid;
	int lfd;

	for (i = 0; i < NSERVERS; i++) {
		if ((lfd = tlisten(AF_INET, &ports[i])) == -1)
			fail("cannot listen on 127.0.0.1");
		ctx = server_ctx((int)i - 1);
		fflush(NULL);
		if ((pid = fork()) == -1)
			fail("fork: %s", strerror(errno));
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			signal(SIGPIPE, SIG_IGN);
			server_loop(lfd, ctx);
		}
		servers[i] = pid;
		SSL_CTX_free(ctx);
		close(lfd);
	}
}

/* ---- the in-process client ---- */

static SSL_CTX *
client_ctx(void)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, CLIENT_TLS12) ||
	    !SSL_CTX_set_ciphersuites(ctx, CLIENT_TLS13) ||
	    SSL_CTX_load_verify_locations(ctx, pkifile("ca.pem"), NULL) != 1)
		fail("client: cannot set up the SSL_CTX");
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

/*
 * What the daemon does for a request, in-process: resolve the name,
 * connect, handshake, verify chain and host name.
 */
static SSL *
ossl_connect(SSL_CTX *ctx, uint16_t port)
{
	struct addrinfo hints, *res;
	struct timeval tv = {IOTIMEOUT, 0};
	char serv[8];
	X509_VERIFY_PARAM *vp;
	SSL *ssl;
	int fd, e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(serv, sizeof(serv), "%u", port);
	if ((e = getaddrinfo(HOST, serv, &hints, &res)) != 0)
		fail("getaddrinfo %s: %s", HOST, gai_strerror(e));
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, res->ai_addr, res->ai_addrlen) == -1)
		fail("connect %s:%u: %s", HOST, port, strerror(errno));
	freeaddrinfo(res);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1 ||
	    SSL_set_tlsext_host_name(ssl, HOST) != 1)
		fail("client: SSL_new");
	vp = SSL_get0_param(ssl);
	X509_VERIFY_PARAM_set_hostflags(
	    vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (X509_VERIFY_PARAM_set1_host(vp, HOST, 0) != 1)
		fail("client: X509_VERIFY_PARAM_set1_host");
	if (SSL_connect(ssl) != 1 || SSL_get_verify_result(ssl) != X509_V_OK)
		fail("in-process SSL_connect to %s:%u failed", HOST, port);
	return ssl;
}

static void
ossl_close(SSL *ssl)
{
	int fd = SSL_get_fd(ssl);

	SSL_shutdown(ssl);
	SSL_free(ssl);
	close(fd);
}

static uint64_t
ossl_handshake(SSL_CTX *ctx)
{
	uint64_t t0, t1;
	SSL *ssl;

	t0 = bench_ns();
	ssl = ossl_connect(ctx, ports[0]);
	t1 = bench_ns();
	if (SSL_session_reused(ssl))
		fail("in-process: session resumed");
	ossl_close(ssl);
	return t1 - t0;
}

/* ---- through the daemon ---- */

static cp_client *
cp_new(uint16_t port)
{
	cp_client *c;

	/* NULL CA file: the daemon's trust store (the same ca.pem). */
	c = cp_client_create_ssl(HOST, port, NULL, NULL, SSL_VERIFY_PEER);
	if (c == NULL)
		fail("cp_client_create_ssl");
	cp_client_set_family(c, AF_INET);
	cp_client_set_retry(c, 0);
	cp_client_set_timeout(c, IOTIMEOUT, 0);
	return c;
}

static void
cp_open(cp_client *c)
{
	int rv;

	if ((rv = cp_client_connect(c)) != 0)
		fail("cp_client_connect to %s:%d: %d: %s", HOST, c->port, rv,
		    cp_client_error(c));
}

static uint64_t
cp_handshake(cp_client *c)
{
	uint64_t t0, t1;

	t0 = bench_ns();
	cp_open(c);
	t1 = bench_ns();
	if (strcmp(cp_client_get_tls_version(c), "TLSv1.3") != 0)
		fail("daemon: %s negotiated", cp_client_get_tls_version(c));
	cp_client_close(c);
	return t1 - t0;
}

/* ---- bulk transfer ---- */

struct xfer {
	uint64_t wall; /* ns */
	uint64_t cpu;  /* ns of the client thread */
};

/* Both clients behind one interface, so the transfer loop is the same. */
struct conn {
	SSL *ssl;
	cp_client *c;
};

static int
conn_read(struct conn *k, unsigned char *p, int len)
{
	if (k->ssl != NULL)
		return SSL_read(k->ssl, p, len);
	return cp_client_read(k->c, (char *)p, len);
}

static int
conn_write(struct conn *k, const unsigned char *p, int len)
{
	if (k->ssl != NULL)
		return SSL_write(k->ssl, p, len);
	return cp_client_write(k->c, (const char *)p, len);
}

static const char *
conn_name(const struct conn *k)
{
	return k->ssl != NULL ? "in-process OpenSSL" : "cp_client";
}

static struct xfer
transfer(struct conn *k, int dir, uint64_t total)
{
	unsigned char cmd[9];
	struct xfer x;
	uint64_t t0, c0, left;
	int n, want;

	cmd[0] = dir == DOWN ? 'D' : 'U';
	put64(cmd + 1, total);
	t0 = bench_ns();
	c0 = bench_cpu_ns();
	if (conn_write(k, cmd, sizeof(cmd)) != (int)sizeof(cmd))
		fail("%s: cannot send the command", conn_name(k));
	for (left = total; left > 0; left -= (uint64_t)n) {
		want = left < APPBUF ? (int)left : APPBUF;
		n = dir == DOWN ? conn_read(k, iobuf, want)
		                : conn_write(k, iobuf, want);
		if (n <= 0)
			fail("%s: short %s: %llu of %llu bytes", conn_name(k),
			    dirname[dir], (unsigned long long)(total - left),
			    (unsigned long long)total);
	}
	/* Upload: done when the server has it all. */
	if (dir == UP && (conn_read(k, cmd, 1) != 1 || cmd[0] != 'k'))
		fail("%s: no acknowledgement after the upload", conn_name(k));
	x.cpu = bench_cpu_ns() - c0;
	x.wall = bench_ns() - t0;
	return x;
}

static struct xfer
ossl_bulk(SSL_CTX *ctx, int si, int dir, uint64_t total)
{
	struct conn k = {NULL, NULL};
	struct xfer x;

	k.ssl = ossl_connect(ctx, ports[si + 1]);
	if (strcmp(SSL_get_cipher_name(k.ssl), suites[si].cipher) != 0)
		fail("in-process: %s negotiated, not %s",
		    SSL_get_cipher_name(k.ssl), suites[si].cipher);
	x = transfer(&k, dir, total);
	ossl_close(k.ssl);
	return x;
}

static struct xfer
cp_bulk(int si, int dir, uint64_t total)
{
	struct conn k = {NULL, NULL};
	struct xfer x;

	k.c = cp_new(ports[si + 1]);
	cp_open(k.c);
	if (strcmp(cp_client_get_cipher(k.c), suites[si].cipher) != 0)
		fail("daemon: %s negotiated, not %s", cp_client_get_cipher(k.c),
		    suites[si].cipher);
	x = transfer(&k, dir, total);
	cp_client_destroy(k.c);
	return x;
}

/* ---- main ---- */

/* Something hung: take the daemon and the servers down with us. */
static void
watchdog(int sig)
{
	static const char msg[] = "bench_tls: timed out\n";
	size_t i;

	for (i = 0; i < NSERVERS; i++)
		if (servers[i] > 0)
			kill(servers[i], SIGKILL);
	if (td_up && td.pid > 0)
		kill(td.pid, SIGTERM);
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(1);
}

static void
setup(void)
{
	char conf[256], conf_nv[300];

	snprintf(tmpd, sizeof(tmpd), "/tmp/cpbench.XXXXXX");
	if (mkdtemp(tmpd) == NULL) {
		tmpd[0] = '\0';
		fail("mkdtemp: %s", strerror(errno));
	}
	if (tpki_make(pki, sizeof(pki), tmpd) == -1)
		fail("cannot generate the test PKI (tests/pki/mkpki.sh)");
	snprintf(conf, sizeof(conf),
	    "user nobody\n"
	    "ca-file \"%s/ca.pem\"\n"
	    "allow from any to 127.0.0.0/8\n",
	    pki);
	if (tdaemon_start(&td, conf, NULL, NULL) == -1)
		fail("cannot start cpconnectd");
	td_up = 1;
	snprintf(conf_nv, sizeof(conf_nv), "%sverify-cache off\n", conf);
	if (tdaemon_start(&td_nv, conf_nv, NULL, NULL) == -1)
		fail("cannot start cpconnectd (verify-cache off)");
	td_nv_up = 1;
	cp_client_set_socket_path(td.sock);
	servers_start();
}

/* A child that sleeps on a pipe and does one in-process handshake per
 * byte it reads, answering with its wall and CPU time: the same work as
 * ossl_handshake(), one process hop away, as the engine is. */
static void
helper_start(SSL_CTX *ctx)
{
	int req[2], rep[2];
	uint64_t v[2], t;
	char b;

	if (pipe2(req, O_CLOEXEC) == -1 || pipe2(rep, O_CLOEXEC) == -1 ||
	    (helper_pid = fork()) == -1)
		fail("helper: %s", strerror(errno));
	if (helper_pid == 0) {
		close(req[1]);
		close(rep[0]);
		while (read(req[0], &b, 1) == 1) {
			t = bench_cpu_ns();
			v[0] = ossl_handshake(ctx);
			v[1] = bench_cpu_ns() - t;
			if (write(rep[1], v, sizeof(v)) != (ssize_t)sizeof(v))
				_exit(1);
		}
		_exit(0);
	}
	close(req[0]);
	close(rep[1]);
	helper_req = req[1];
	helper_rep = rep[0];
}

/* The wall time as the caller sees it (the pipe included); *cpu gets
 * the helper's CPU time. */
static uint64_t
helper_handshake(uint64_t *cpu)
{
	uint64_t v[2], t0 = bench_ns();
	char b = 'h';

	if (write(helper_req, &b, 1) != 1 ||
	    read(helper_rep, v, sizeof(v)) != (ssize_t)sizeof(v))
		fail("the helper process died");
	*cpu += v[1];
	return bench_ns() - t0;
}

/* CPU times, ns, summed over the connects of a series. */
struct hs_cpu {
	uint64_t inproc, lib, engine, helper;
};

/* In-process against the daemon, interleaved, alternating who goes
 * first: P2. */
static void
hs_daemon(SSL_CTX *ctx, cp_client *c, pid_t daemon, int n, uint64_t *o,
    uint64_t *p, struct hs_cpu *cpu)
{
	uint64_t t, e0 = bench_children_cpu_ns(daemon);
	int i;

	for (i = 0; i < n; i++) {
		if (i % 2 == 0) {
			t = bench_cpu_ns();
			o[i] = ossl_handshake(ctx);
			cpu->inproc += bench_cpu_ns() - t;
		}
		t = bench_cpu_ns();
		p[i] = cp_handshake(c);
		cpu->lib += bench_cpu_ns() - t;
		if (i % 2 == 1) {
			t = bench_cpu_ns();
			o[i] = ossl_handshake(ctx);
			cpu->inproc += bench_cpu_ns() - t;
		}
	}
	cpu->engine = bench_children_cpu_ns(daemon) - e0;
}

/* The helper against in-process, alternating, with no daemon around:
 * what the process hop alone costs. */
static void
hs_helper(SSL_CTX *ctx, int n, uint64_t *o, uint64_t *h, struct hs_cpu *cpu)
{
	int i;

	for (i = 0; i < n; i++) {
		if (i % 2 == 0)
			h[i] = helper_handshake(&cpu->helper);
		o[i] = ossl_handshake(ctx);
		if (i % 2 == 1)
			h[i] = helper_handshake(&cpu->helper);
	}
}

/* The daemon at sock (its pid) against in-process, after a warm-up:
 * the medians of both and the ratio, and CPU as hs_daemon counts it. */
struct hs_run {
	uint64_t om, o99, pm, p99;
	struct hs_cpu cpu;
};

static void
hs_series(SSL_CTX *ctx, const struct tdaemon *d, int n, uint64_t *o,
    uint64_t *p, struct hs_run *r)
{
	cp_client *c;
	int i;

	memset(r, 0, sizeof(*r));
	cp_client_set_socket_path(d->sock);
	c = cp_new(ports[0]);
	/* Warm up every path (page faults, pooled daemon session, and the
	 * engines' caches, as a long-running daemon has them). */
	for (i = 0; i < WARMUP; i++) {
		ossl_handshake(ctx);
		cp_handshake(c);
	}
	hs_daemon(ctx, c, d->pid, n, o, p, &r->cpu);
	cp_client_destroy(c);
	cp_client_set_socket_path(td.sock);
	r->om = bench_quantile(o, (size_t)n, 0.5);
	r->o99 = bench_quantile(o, (size_t)n, 0.99);
	r->pm = bench_quantile(p, (size_t)n, 0.5);
	r->p99 = bench_quantile(p, (size_t)n, 0.99);
}

static void
bench_handshakes(SSL_CTX *ctx, int n)
{
	uint64_t *o, *p, *h, *o2, hm, o2m;
	struct hs_run on, off;
	struct hs_cpu cpu = {0, 0, 0, 0};
	double ratio;
	int i;

	if ((o = calloc((size_t)n, sizeof(*o))) == NULL ||
	    (p = calloc((size_t)n, sizeof(*p))) == NULL ||
	    (h = calloc((size_t)n, sizeof(*h))) == NULL ||
	    (o2 = calloc((size_t)n, sizeof(*o2))) == NULL)
		fail("out of memory");
	hs_series(ctx, &td, n, o, p, &on);
	hs_series(ctx, &td_nv, n, o, p, &off);
	helper_start(ctx);
	for (i = 0; i < WARMUP; i++)
		helper_handshake(&cpu.helper);
	cpu.helper = 0;
	hs_helper(ctx, n, o2, h, &cpu);
	close(helper_req);
	close(helper_rep);
	waitpid(helper_pid, NULL, 0);
	helper_pid = 0;
	hm = bench_quantile(h, (size_t)n, 0.5);
	o2m = bench_quantile(o2, (size_t)n, 0.5);
	ratio = (double)on.pm / (double)on.om;
	printf("handshake: %d sequential full TLS 1.3 connects to %s "
	       "(resolve, chain + host name verified, no resumption)\n",
	    n, HOST);
	printf("  in-process OpenSSL      median %7.1f us  p99 %7.1f us\n",
	    on.om / 1e3, on.o99 / 1e3);
	printf("  cp_client_connect()     median %7.1f us  p99 %7.1f us\n",
	    on.pm / 1e3, on.p99 / 1e3);
	printf("  ratio ours/in-process   median %7.2f     p99 %7.2f     "
	       "(target <= 1.05 at the median%s)\n",
	    ratio, (double)on.p99 / (double)on.o99,
	    ratio <= 1.05 ? ": met" : ": MISSED");
	printf("  CPU per connect (mean)  in-process %.1f us; ours: library "
	       "%.1f us + engines %.1f us\n",
	    on.cpu.inproc / 1e3 / n, on.cpu.lib / 1e3 / n,
	    on.cpu.engine / 1e3 / n);
	printf("  the engines verified the chain once and then found it in "
	       "their verification cache;\n"
	       "  in-process OpenSSL verifies it on every connect.  With "
	       "verify-cache off (every chain verified):\n"
	       "                          median %.1f us against %.1f us "
	       "(ratio %.2f), CPU library %.1f us + engines %.1f us\n",
	    off.pm / 1e3, off.om / 1e3, (double)off.pm / (double)off.om,
	    off.cpu.lib / 1e3 / n, off.cpu.engine / 1e3 / n);
	printf("  one process hop alone:  the in-process handshake in a helper "
	       "process woken by a pipe,\n"
	       "                          median %.1f us against %.1f us "
	       "(ratio %.2f), CPU %.1f us\n",
	    hm / 1e3, o2m / 1e3, (double)hm / (double)o2m,
	    cpu.helper / 1e3 / n);
	printf("TABLE P2|TLS 1.3 connect, %d sequential, verified: "
	       "cp_client_connect vs in-process OpenSSL|%.1f us vs %.1f us "
	       "(verify-cache off: %.2f; one hop alone: %.2f)|%.2f|"
	       "<= 1.05: %s\n",
	    n, on.pm / 1e3, on.om / 1e3, (double)off.pm / (double)off.om,
	    (double)hm / (double)o2m, ratio, ratio <= 1.05 ? "met" : "MISSED");
	free(o);
	free(p);
	free(h);
	free(o2);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
dmedian(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double
rate(uint64_t bytes, uint64_t ns)
{
	return ns > 0 ? (double)bytes / (double)ns : 0; /* GB/s */
}

static void
bench_bulk(SSL_CTX *ctx, uint64_t total, int reps)
{
	struct xfer x[NSUITES][NDIRS][2][REPEATS_MAX];
	uint64_t w[2][REPEATS_MAX], u[2][REPEATS_MAX], pr[REPEATS_MAX];
	double wr[2], cr[2], ratio, worst = 0, ratios[NSUITES * NDIRS];
	const char *worst_at = "";
	size_t si;
	int r, d, k, below = 0, nr = 0;

	/* Interleaved: every (suite, direction) pair back to back, the
	 * order alternating between repeats. */
	for (r = 0; r < reps; r++)
		for (si = 0; si < NSUITES; si++)
			for (d = 0; d < NDIRS; d++) {
				if (r % 2 == 0) {
					x[si][d][0][r] =
					    ossl_bulk(ctx, (int)si, d, total);
					x[si][d][1][r] =
					    cp_bulk((int)si, d, total);
				} else {
					x[si][d][1][r] =
					    cp_bulk((int)si, d, total);
					x[si][d][0][r] =
					    ossl_bulk(ctx, (int)si, d, total);
				}
			}
	printf("\nbulk: %llu MiB per transfer, 64 KiB buffers, median of %d "
	       "run%s; GB/s = 10^9 bytes/s\n",
	    (unsigned long long)(total >> 20), reps, reps > 1 ? "s" : "");
	printf("  wall: elapsed time; cpu: the client's own CPU time "
	       "(user + system)\n");
	printf("  %-16s %-4s | %8s %8s %6s | %8s %8s %6s\n", "suite", "dir",
	    "openssl", "ours", "ratio", "openssl", "ours", "ratio");
	printf("  %-16s %-4s | %24s | %24s\n", "", "", "wall GB/s", "cpu GB/s");
	for (si = 0; si < NSUITES; si++)
		for (d = 0; d < NDIRS; d++) {
			for (k = 0; k < 2; k++) {
				for (r = 0; r < reps; r++) {
					w[k][r] = x[si][d][k][r].wall;
					u[k][r] = x[si][d][k][r].cpu;
				}
				wr[k] = rate(total,
				    bench_quantile(w[k], (size_t)reps, 0.5));
				cr[k] = rate(total,
				    bench_quantile(u[k], (size_t)reps, 0.5));
			}
			/* Each run of ours against the in-process run beside
			 * it: the machine's drift cancels out of the pair. */
			for (r = 0; r < reps; r++)
				pr[r] = (uint64_t)(1e6 *
				                   (double)x[si][d][0][r].wall /
				                   (double)x[si][d][1][r].wall);
			ratio = bench_quantile(pr, (size_t)reps, 0.5) / 1e6;
			if (ratio < 0.95)
				below++;
			if (nr == 0 || ratio < worst) {
				worst = ratio;
				worst_at = suites[si].label;
			}
			ratios[nr++] = ratio;
			printf("  %-16s %-4s | %8.2f %8.2f %6.2f%s| %8.2f "
			       "%8.2f %6.2f\n",
			    suites[si].label, dirname[d], wr[0], wr[1], ratio,
			    ratio < 0.95 ? "!" : " ", cr[0], cr[1],
			    cr[1] / cr[0]);
		}
	printf("  wall ratio: ours/in-process, the median over the repeats of "
	       "each pair of runs back to back\n");
	printf("  ratio = ours/in-process (target >= 0.95 on wall time; "
	       "'!' below it: %d)\n",
	    below);
	printf("TABLE bulk|TLS bulk, %llu MiB x %d suites x down/up: the "
	       "handed-off connection vs in-process OpenSSL (wall)|median "
	       "ratio %.2f|%.2f (worst, %s)|>= 0.95 for each: %s\n",
	    (unsigned long long)(total >> 20), (int)NSUITES,
	    dmedian(ratios, (size_t)nr), worst, worst_at,
	    below == 0 ? "met" : "MISSED");
}

int
main(int argc, char *argv[])
{
	int n = argc > 1 ? atoi(argv[1]) : N_DEFAULT;
	long mib = argc > 2 ? atol(argv[2]) : MIB_DEFAULT;
	int reps = argc > 3 ? atoi(argv[3]) : REPEATS_DEFAULT;
	SSL_CTX *ctx;

	if (n < 10)
		n = 10;
	if (mib < 1)
		mib = 1;
	if (reps < 1)
		reps = 1;
	if (reps > REPEATS_MAX)
		reps = REPEATS_MAX;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, watchdog);
	alarm(WATCHDOG);
	if ((iobuf = calloc(1, APPBUF)) == NULL)
		fail("out of memory");
	setup();
	ctx = client_ctx();
	bench_handshakes(ctx, n);
	fflush(stdout);
	bench_bulk(ctx, (uint64_t)mib << 20, reps);
	SSL_CTX_free(ctx);
	cp_client_shutdown();
	cleanup();
	free(iobuf);
	return 0;
}
