/* SPDX-License-Identifier: ISC */
/*
 * The daemon's TLS client against real `openssl s_server` peers on loopback,
 * using the test PKI from tests/pki/mkpki.sh; the anchor set hash and the
 * anchor cache.
 */
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "../cutest.h"
#include "cacache.h"
#include "cahash.h"
#include "cpproto.h"
#include "itest.h"
#include "msg.h"
#include "record.h"
#include "tls.h"
#include "vcache.h"

#define MAX_SERVERS 8
#define WAIT_MS 5000

struct server {
	pid_t pid;
	int port;
	int in; /* write end of its stdin: kept open so it never sees EOF */
	char log[PATH_MAX];
};

struct vcase {
	const char *host;
	long want;
};

static char pki[256];
static SSL_CTX *ctx;
static struct server *live[MAX_SERVERS];

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void
pkipath(char *buf, size_t sz, const char *name)
{
	snprintf(buf, sz, "%s/%s", pki, name);
}

static int
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int s, port = -1;

	if ((s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(s, (struct sockaddr *)&sin, &sl) == 0)
		port = ntohs(sin.sin_port);
	close(s);
	return port;
}

static int
file_has(const char *path, const char *needle)
{
	char buf[8192];
	ssize_t n;
	int fd, found;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	found = strstr(buf, needle) != NULL;
	return found;
}

/* Bounded: TERM, up to 2 s, then KILL and reap. */
static void
server_stop(struct server *s)
{
	long end;
	int i;

	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	end = now_ms() + 2000;
	while (waitpid(s->pid, NULL, WNOHANG) == 0) {
		if (now_ms() > end) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, NULL, 0);
			break;
		}
		usleep(10000);
	}
	s->pid = -1;
	if (s->in != -1)
		close(s->in);
	s->in = -1;
	for (i = 0; i < MAX_SERVERS; i++)
		if (live[i] == s)
			live[i] = NULL;
}

static void
server_child(struct server *s, int in, int fd, const char *const *args)
{
	const char *argv[48];
	char accept[32];
	int i = 0, j;

	snprintf(accept, sizeof(accept), "127.0.0.1:%d", s->port);
	argv[i++] = "openssl";
	argv[i++] = "s_server";
	argv[i++] = "-accept";
	argv[i++] = accept;
	for (j = 0; args[j] != NULL && i < 46; j++)
		argv[i++] = args[j];
	argv[i] = NULL;
	dup2(in, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	execvp("openssl", (char *const *)argv);
	_exit(127);
}

static int
server_try(struct server *s, const char *const *args)
{
	int p[2], log;
	long end;

	if ((s->port = free_port()) == -1 || pipe2(p, O_CLOEXEC) == -1)
		return -1;
	/*
	 * Truncate the log here, not in the child: a port used earlier by this
	 * program leaves a log saying ACCEPT, which the loop below would
	 * otherwise read before the new server has even bound.
	 */
	snprintf(
	    s->log, sizeof(s->log), "%s/s_server.%d.log", cu_tmpdir(), s->port);
	if ((log = open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		 0600)) == -1) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if ((s->pid = fork()) == -1) {
		close(p[0]);
		close(p[1]);
		close(log);
		return -1;
	}
	if (s->pid == 0)
		server_child(s, p[0], log, args);
	close(log);
	close(p[0]);
	s->in = p[1];
	end = now_ms() + WAIT_MS;
	while (now_ms() < end) {
		if (file_has(s->log, "ACCEPT"))
			return 0;
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
			s->pid = -1; /* port taken meanwhile, or bad args */
			break;
		}
		usleep(10000);
	}
	server_stop(s);
	return -1;
}

/* Start s_server with args (NULL-terminated); a few tries for the port. */
static int
server_start(struct server *s, const char *const *args)
{
	int i, tries;

	memset(s, 0, sizeof(*s));
	s->in = -1;
	for (tries = 0; tries < 3; tries++) {
		if (server_try(s, args) == 0) {
			for (i = 0; i < MAX_SERVERS; i++)
				if (live[i] == NULL) {
					live[i] = s;
					break;
				}
			return 0;
		}
	}
	return -1;
}

static int
tcp_connect(int port)
{
	struct sockaddr_in sin;
	struct pollfd pfd;
	int s;

	if ((s = socket(
	         AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) == -1 &&
	    errno != EINPROGRESS) {
		close(s);
		return -1;
	}
	pfd.fd = s;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, WAIT_MS) != 1) {
		close(s);
		return -1;
	}
	return s;
}

/* Drive the handshake with a bounded poll loop. */
static int
drive(struct tlsc *c, int fd)
{
	struct pollfd pfd;
	long end = now_ms() + WAIT_MS, left;
	int r;

	while ((r = tlsc_handshake(c)) == 0) {
		if ((left = end - now_ms()) <= 0)
			return -2;
		pfd.fd = fd;
		pfd.events = tlsc_events(c) == EPOLLIN ? POLLIN : POLLOUT;
		if (poll(&pfd, 1, (int)left) == -1 && errno != EINTR)
			return -2;
	}
	return r;
}

struct hs {
	int fd;
	struct tlsc *c;
	int rc;
};

static void
hs_run(struct hs *h, SSL_CTX *cx, int port, const struct tls_params *p)
{
	char err[256];

	h->c = NULL;
	h->rc = -3;
	if ((h->fd = tcp_connect(port)) == -1)
		return;
	if ((h->c = tlsc_new(cx, h->fd, p, err, sizeof(err))) == NULL) {
		fprintf(stderr, "tlsc_new: %s\n", err);
		return;
	}
	h->rc = drive(h->c, h->fd);
}

static void
hs_done(struct hs *h)
{
	tlsc_free(h->c);
	if (h->fd != -1)
		close(h->fd);
	h->c = NULL;
	h->fd = -1;
}

static void
cert_args(const char **a, int *i, const char *name, const char *chain,
    char bufs[3][PATH_MAX])
{
	char f[64];

	snprintf(f, sizeof(f), "%s.pem", name);
	pkipath(bufs[0], PATH_MAX, f);
	snprintf(f, sizeof(f), "%s.key", name);
	pkipath(bufs[1], PATH_MAX, f);
	a[(*i)++] = "-cert";
	a[(*i)++] = bufs[0];
	a[(*i)++] = "-key";
	a[(*i)++] = bufs[1];
	if (chain != NULL) {
		snprintf(f, sizeof(f), "%s.pem", chain);
		pkipath(bufs[2], PATH_MAX, f);
		a[(*i)++] = "-cert_chain";
		a[(*i)++] = bufs[2];
	}
}

/* Start a server for leaf name (with issuer chain, or NULL) and extra
 * options (NULL-terminated). */
static int
leaf_server_v(struct server *s, const char *name, const char *chain, int conns,
    const char *const *extra)
{
	const char *a[24];
	char bufs[3][PATH_MAX], n[16];
	int i = 0, j;

	cert_args(a, &i, name, chain, bufs);
	snprintf(n, sizeof(n), "%d", conns);
	a[i++] = "-naccept";
	a[i++] = n;
	for (j = 0; extra != NULL && extra[j] != NULL && i < 23; j++)
		a[i++] = extra[j];
	a[i] = NULL;
	return server_start(s, a);
}

static int
leaf_server(struct server *s, const char *name, const char *chain, int conns,
    const char *extra1, const char *extra2)
{
	const char *const extra[] = {extra1, extra2, NULL};

	return leaf_server_v(s, name, chain, conns, extra);
}

/*
 * For each host: verify_peer=0 completes and reports want; verify_peer=1
 * completes only when want is X509_V_OK, else fails as a verify failure
 * whose message names the X509 error.
 */
static void
check_leaf(SSL_CTX *cx, X509_STORE *anchors, const char *name,
    const char *chain, const struct vcase *vc, size_t n)
{
	struct tls_params p;
	struct server s;
	struct hs h;
	char want[256];
	size_t i;
	int vp;

	CU_ASSERT_FATAL(
	    leaf_server(&s, name, chain, (int)(2 * n), NULL, NULL) == 0);
	for (i = 0; i < n; i++) {
		for (vp = 0; vp <= 1; vp++) {
			memset(&p, 0, sizeof(p));
			p.host = vc[i].host;
			p.verify_peer = vp;
			p.anchors = anchors;
			hs_run(&h, cx, s.port, &p);
			CU_ASSERT_PTR_NOT_NULL(h.c);
			if (h.c == NULL) {
				hs_done(&h);
				continue;
			}
			CU_ASSERT_EQUAL(
			    tlsc_verify_result(h.c), vc[i].want);
			CU_ASSERT_EQUAL(tlsc_verified(h.c), 1);
			if (tlsc_verify_result(h.c) != vc[i].want)
				fprintf(stderr, "%s %s vp=%d: got %ld (%s)\n",
				    name, vc[i].host, vp,
				    tlsc_verify_result(h.c),
				    tlsc_error(h.c));
			if (vp == 0 || vc[i].want == X509_V_OK) {
				CU_ASSERT_EQUAL(h.rc, 1);
				CU_ASSERT_EQUAL(tlsc_no_peer_cert(h.c), 0);
			} else {
				CU_ASSERT_EQUAL(h.rc, -1);
				CU_ASSERT_EQUAL(tlsc_failed_verify(h.c), 1);
				snprintf(want, sizeof(want),
				    "certificate verify failed: %s",
				    X509_verify_cert_error_string(vc[i].want));
				CU_ASSERT_STRING_EQUAL(
				    tlsc_error(h.c), want);
			}
			hs_done(&h);
		}
	}
	server_stop(&s);
}

static void
test_valid(void)
{
	static const struct vcase vc[] = {
	    {"localhost", X509_V_OK},
	    {"test.example", X509_V_OK},
	    {"TEST.Example.", X509_V_OK},
	    {"127.0.0.1", X509_V_OK},
	    {"::1", X509_V_OK},
	    {"other.example", X509_V_ERR_HOSTNAME_MISMATCH},
	    {"127.0.0.2", X509_V_ERR_IP_ADDRESS_MISMATCH},
	};

	check_leaf(ctx, NULL, "valid", "int", vc, sizeof(vc) / sizeof(vc[0]));
}

static void
test_valid_rsa(void)
{
	static const struct vcase vc[] = {{"localhost", X509_V_OK}};

	check_leaf(ctx, NULL, "valid-rsa", "int", vc, 1);
}

static void
test_expired(void)
{
	static const struct vcase vc[] = {
	    {"localhost", X509_V_ERR_CERT_HAS_EXPIRED},
	};

	check_leaf(ctx, NULL, "expired", "int", vc, 1);
}

static void
test_notyet(void)
{
	static const struct vcase vc[] = {
	    {"localhost", X509_V_ERR_CERT_NOT_YET_VALID},
	};

	check_leaf(ctx, NULL, "notyet", "int", vc, 1);
}

static void
test_wrongname(void)
{
	static const struct vcase vc[] = {
	    {"localhost", X509_V_ERR_HOSTNAME_MISMATCH},
	    {"wrong.example", X509_V_OK},
	};

	check_leaf(ctx, NULL, "wrongname", "int", vc, 2);
}

static void
test_wildcard(void)
{
	static const struct vcase vc[] = {
	    {"a.wild.test", X509_V_OK},
	    {"a.b.wild.test", X509_V_ERR_HOSTNAME_MISMATCH},
	    {"wild.test", X509_V_ERR_HOSTNAME_MISMATCH},
	};

	check_leaf(ctx, NULL, "wildcard", "int", vc, 3);
}

static void
test_ipsan(void)
{
	static const struct vcase vc[] = {
	    {"127.0.0.1", X509_V_OK},
	    {"localhost", X509_V_ERR_HOSTNAME_MISMATCH},
	    {"::1", X509_V_ERR_IP_ADDRESS_MISMATCH},
	};

	check_leaf(ctx, NULL, "ipsan", "int", vc, 3);
}

/* No subjectAltName, CN=localhost: no name matches (RFC 6125) unless the
 * caller allows the CN fallback; an address never matches a CN. */
static void
test_cnonly(void)
{
	static const struct vcase vc[] = {
	    {"localhost", X509_V_ERR_HOSTNAME_MISMATCH},
	    {"127.0.0.1", X509_V_ERR_IP_ADDRESS_MISMATCH},
	};
	struct tls_params p;
	struct server s;
	struct hs h;

	check_leaf(ctx, NULL, "cnonly", "int", vc, 2);
	CU_ASSERT_FATAL(leaf_server(&s, "cnonly", "int", 3, NULL, NULL) == 0);
	memset(&p, 0, sizeof(p));
	p.cn_fallback = 1;
	p.verify_peer = 1;
	p.host = "localhost";
	hs_run(&h, ctx, s.port, &p);
	CU_ASSERT_EQUAL(h.rc, 1);
	if (h.c != NULL)
		CU_ASSERT_EQUAL(tlsc_verify_result(h.c), X509_V_OK);
	hs_done(&h);
	p.host = "127.0.0.1";
	p.verify_peer = 0;
	hs_run(&h, ctx, s.port, &p);
	CU_ASSERT_EQUAL(h.rc, 1);
	if (h.c != NULL)
		CU_ASSERT_EQUAL(tlsc_verify_result(h.c),
		    X509_V_ERR_IP_ADDRESS_MISMATCH);
	hs_done(&h);
	/* The fallback applies to the server name as well. */
	p.host = "127.0.0.1";
	p.sni = "localhost";
	hs_run(&h, ctx, s.port, &p);
	CU_ASSERT_EQUAL(h.rc, 1);
	if (h.c != NULL)
		CU_ASSERT_EQUAL(tlsc_verify_result(h.c), X509_V_OK);
	hs_done(&h);
	server_stop(&s);
}

static void
test_selfsigned(void)
{
	static const struct vcase vc[] = {
	    {"localhost", X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT},
	};

	check_leaf(ctx, NULL, "selfsigned", NULL, vc, 1);
}

static void
test_unknownca(void)
{
	static const struct vcase leaf[] = {
	    {"localhost", X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY},
	};
	static const struct vcase full[] = {
	    {"localhost", X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN},
	};

	check_leaf(ctx, NULL, "unknownca", NULL, leaf, 1);
	check_leaf(ctx, NULL, "unknownca", "unknown", full, 1);
}

static void
test_missing_intermediate(void)
{
	static const struct vcase vc[] = {
	    {"localhost", X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY},
	};

	check_leaf(ctx, NULL, "valid", NULL, vc, 1);
}

static int
pem_der(const char *name, unsigned char **der, size_t *len)
{
	char path[PATH_MAX];
	unsigned char *p;
	FILE *fp;
	X509 *x;
	int n;

	pkipath(path, sizeof(path), name);
	if ((fp = fopen(path, "re")) == NULL)
		return -1;
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	if (x == NULL || (n = i2d_X509(x, NULL)) <= 0 ||
	    (*der = p = malloc((size_t)n)) == NULL) {
		X509_free(x);
		return -1;
	}
	*len = (size_t)i2d_X509(x, &p);
	X509_free(x);
	return 0;
}

static void
test_chain(void)
{
	unsigned char **der, *leaf = NULL, *inter = NULL;
	size_t *lens, leaflen = 0, intlen = 0;
	struct tls_params p;
	struct server s;
	struct hs h;
	int n = -1;

	CU_ASSERT_FATAL(pem_der("valid.pem", &leaf, &leaflen) == 0);
	CU_ASSERT_FATAL(pem_der("int.pem", &inter, &intlen) == 0);
	CU_ASSERT_FATAL(leaf_server(&s, "valid", "int", 2, NULL, NULL) == 0);
	memset(&p, 0, sizeof(p));
	p.host = "localhost";
	p.verify_peer = 1;
	hs_run(&h, ctx, s.port, &p);
	CU_ASSERT_EQUAL(h.rc, 1);
	if (h.rc == 1) {
		CU_ASSERT_EQUAL(tlsc_chain(h.c, &der, &lens, &n), 0);
		CU_ASSERT_EQUAL(n, 2);
		if (n == 2) {
			CU_ASSERT(lens[0] == leaflen &&
			          memcmp(der[0], leaf, leaflen) == 0);
			CU_ASSERT(lens[1] == intlen &&
			          memcmp(der[1], inter, intlen) == 0);
		}
		tls_chain_free(der, lens, n);
		CU_ASSERT_EQUAL(tlsc_resumed(h.c), 0);
	}
	hs_done(&h);
	server_stop(&s);
	CU_ASSERT_FATAL(leaf_server(&s, "valid", NULL, 1, NULL, NULL) == 0);
	p.verify_peer = 0;
	hs_run(&h, ctx, s.port, &p);
	CU_ASSERT_EQUAL(h.rc, 1);
	if (h.rc == 1) {
		CU_ASSERT_EQUAL(tlsc_chain(h.c, &der, &lens, &n), 0);
		CU_ASSERT_EQUAL(n, 1);
		tls_chain_free(der, lens, n);
	}
	hs_done(&h);
	server_stop(&s);
	free(leaf);
	free(inter);
}

/* A completed handshake whose peer chain breaks a bound: the chain is
 * refused with a message containing want, the connection itself is fine. */
static void
chain_bound_case(const char *leaf, const char *chain, const char *want)
{
	struct tls_params p;
	unsigned char **der;
	struct server s;
	size_t *lens;
	struct hs h;
	int n = -1;

	CU_ASSERT_FATAL(leaf_server(&s, leaf, chain, 1, NULL, NULL) == 0);
	memset(&p, 0, sizeof(p));
	p.host = "localhost";
	hs_run(&h, ctx, s.port, &p);
	CU_ASSERT_EQUAL(h.rc, 1);
	if (h.rc == 1) {
		CU_ASSERT_EQUAL(tlsc_chain(h.c, &der, &lens, &n), -1);
		CU_ASSERT_EQUAL(n, 0);
		CU_ASSERT_PTR_NULL(der);
		CU_ASSERT_PTR_NOT_NULL(strstr(tlsc_error(h.c), want));
	}
	hs_done(&h);
	server_stop(&s);
}

static void
test_chain_bounds(void)
{
	char from[PATH_MAX], to[512], want[128];
	FILE *in, *out;
	char buf[8192];
	size_t n;
	int i;

	/* CP_MAX_CHAIN + 1 intermediates after the leaf. */
	pkipath(from, sizeof(from), "int.pem");
	snprintf(to, sizeof(to), "%s/longchain.pem", pki);
	out = fopen(to, "we");
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	for (i = 0; i <= CP_MAX_CHAIN; i++) {
		in = fopen(from, "re");
		CU_ASSERT_PTR_NOT_NULL_FATAL(in);
		while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
			CU_ASSERT(fwrite(buf, 1, n, out) == n);
		fclose(in);
	}
	CU_ASSERT_FATAL(fclose(out) == 0);
	snprintf(want, sizeof(want),
	    "peer sent %d certificates, more than the limit of %d",
	    CP_MAX_CHAIN + 2, CP_MAX_CHAIN);
	chain_bound_case("valid", "longchain", want);
	snprintf(
	    want, sizeof(want), " bytes exceeds the limit of %d", CP_MAX_CERT);
	chain_bound_case("big", "int", want);
}

struct handoff_case {
	const char *leaf;
	const char *opts[5];
	int version;
	uint16_t cipher;
	size_t keylen, secretlen;
	uint64_t seq;
};

/* Read until want arrives, skipping what the record layer hides. */
static int
rec_expect(struct tls_rec *r, int fd, const char *want)
{
	char buf[256];
	size_t have = 0, wl = strlen(want);
	struct pollfd pfd;
	long end = now_ms() + WAIT_MS;
	ssize_t n;

	while (have < wl && now_ms() < end) {
		n = tls_rec_read(r, buf + have, sizeof(buf) - 1 - have);
		if (n > 0) {
			have += (size_t)n;
			continue;
		}
		if (n == 0 || errno != EAGAIN)
			return -1;
		pfd.fd = fd;
		pfd.events = POLLIN;
		poll(&pfd, 1, 100);
	}
	return have >= wl && memcmp(buf, want, wl) == 0 ? 0 : -1;
}

/* Both directions of the handed-off connection work. */
static void
handoff_io(struct hs *h, struct server *s, const struct cp_tls_state *st)
{
	static const char up[] = "client-to-server-over-handoff\n";
	static const char down[] = "server-to-client\n";
	struct tls_rec *r;
	char err[256];
	long end;
	int seen = 0;

	r = tls_rec_new(h->fd, st, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(
	    tls_rec_write(r, up, sizeof(up) - 1), (ssize_t)(sizeof(up) - 1));
	end = now_ms() + WAIT_MS;
	while (!(seen = file_has(s->log, "client-to-server-over-handoff")) &&
	       now_ms() < end)
		usleep(10000);
	CU_ASSERT(seen);
	CU_ASSERT(write(s->in, down, sizeof(down) - 1) ==
	          (ssize_t)(sizeof(down) - 1));
	CU_ASSERT_EQUAL(rec_expect(r, h->fd, down), 0);
	tls_rec_free(r);
}

/*
 * The negotiated state leaves the daemon's TLS client complete: exported
 * right after the handshake, it lets the library's record layer talk to
 * the server in both directions.
 */
static void
test_handoff(void)
{
	static const struct handoff_case hc[] = {
	    {"valid",
	        {"-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384", NULL},
	        0x0304, 0x1302, 32, 48, 0},
	    {"valid",
	        {"-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256",
	            NULL},
	        0x0304, 0x1303, 32, 32, 0},
	    {"valid",
	        {"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256", NULL},
	        0x0303, 0xC02B, 16, 0, 1},
	    {"valid-rsa",
	        {"-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305", NULL},
	        0x0303, 0xCCA8, 32, 0, 1},
	};
	struct cp_tls_state st;
	struct tls_params p;
	struct server s;
	struct hs h;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(hc) / sizeof(hc[0]); i++) {
		CU_ASSERT_FATAL(
		    leaf_server_v(&s, hc[i].leaf, "int", 1, hc[i].opts) == 0);
		memset(&p, 0, sizeof(p));
		p.host = "localhost";
		p.verify_peer = 1;
		hs_run(&h, ctx, s.port, &p);
		CU_ASSERT_EQUAL(h.rc, 1);
		if (h.rc == 1) {
			memset(&st, 0, sizeof(st));
			CU_ASSERT_EQUAL(
			    tlsc_export(h.c, &st, err, sizeof(err)), 0);
			CU_ASSERT_EQUAL(st.version, hc[i].version);
			CU_ASSERT_EQUAL(st.cipher, hc[i].cipher);
			CU_ASSERT_EQUAL(st.tx.keylen, hc[i].keylen);
			CU_ASSERT_EQUAL(st.rx.keylen, hc[i].keylen);
			CU_ASSERT_EQUAL(st.tx.secretlen, hc[i].secretlen);
			CU_ASSERT(
			    st.tx.seq == hc[i].seq && st.rx.seq == hc[i].seq);
			if (st.version == hc[i].version)
				handoff_io(&h, &s, &st);
			cp_tls_state_wipe(&st);
		}
		hs_done(&h);
		server_stop(&s);
	}
}

/* One handshake against a server started with the given options, with
 * the connection's own minimum version (0: the context's). */
static void
version_case_min(SSL_CTX *cx, int minv, const char *const *opts, int want_rc,
    int want_version, const char *want_prefix)
{
	struct tls_params p;
	struct server s;
	struct hs h;

	CU_ASSERT_FATAL(leaf_server_v(&s, "valid", "int", 1, opts) == 0);
	memset(&p, 0, sizeof(p));
	p.host = "localhost";
	p.verify_peer = 1;
	p.min_version = minv;
	hs_run(&h, cx, s.port, &p);
	CU_ASSERT_EQUAL(h.rc, want_rc);
	if (h.c != NULL && h.rc == 1) {
		CU_ASSERT_EQUAL(tlsc_version(h.c), want_version);
		CU_ASSERT_NSTRING_EQUAL(
		    tlsc_cipher(h.c), want_prefix, strlen(want_prefix));
	} else if (h.c != NULL) {
		CU_ASSERT_EQUAL(tlsc_failed_verify(h.c), 0);
		CU_ASSERT_EQUAL(tlsc_verify_result(h.c), X509_V_OK);
		CU_ASSERT_STRING_EQUAL(tlsc_error(h.c), want_prefix);
	}
	hs_done(&h);
	server_stop(&s);
}

static void
version_case(SSL_CTX *cx, const char *const *opts, int want_rc,
    int want_version, const char *want_prefix)
{
	version_case_min(cx, 0, opts, want_rc, want_version, want_prefix);
}

static void
test_versions(void)
{
	static const char *const o12[] = {"-tls1_2", NULL};
	static const char *const o13[] = {"-tls1_3", NULL};
	static const char *const chacha[] = {
	    "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256", NULL};
	/* Nothing but CBC on TLS 1.2: the server finds no common suite. */
	static const char *const cbc[] = {
	    "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0", NULL};
	struct tls_settings ts = {TLS1_3_VERSION, NULL, NULL, NULL, 0};
	char ca[PATH_MAX], err[256];
	SSL_CTX *c13;

	version_case(ctx, o12, 1, 0x0303, "ECDHE-ECDSA-");
	version_case(ctx, o13, 1, 0x0304, "TLS_AES_");
	version_case(ctx, chacha, 1, 0x0304, "TLS_CHACHA20_POLY1305_SHA256");
	version_case(
	    ctx, cbc, -1, 0, "handshake failed: sslv3 alert handshake failure");
	pkipath(ca, sizeof(ca), "ca.pem");
	ts.ca_file = ca;
	c13 = tls_ctx_new(&ts, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c13);
	version_case(
	    c13, o12, -1, 0, "handshake failed: tlsv1 alert protocol version");
	version_case(c13, o13, 1, 0x0304, "TLS_");
	/* A connection's floor goes below the context's, or above it. */
	version_case_min(c13, TLS1_2_VERSION, o12, 1, 0x0303, "ECDHE-ECDSA-");
	version_case_min(ctx, TLS1_3_VERSION, o12, -1, 0,
	    "handshake failed: tlsv1 alert protocol version");
	SSL_CTX_free(c13);
}

static void
alpn_case(
    const char *srv, const unsigned char *offer, size_t len, const char *want)
{
	const unsigned char *sel;
	struct tls_params p;
	struct server s;
	struct hs h;
	size_t n = 99;

	CU_ASSERT_FATAL(leaf_server(&s, "valid", "int", 1,
	                    srv != NULL ? "-alpn" : NULL, srv) == 0);
	memset(&p, 0, sizeof(p));
	p.host = "localhost";
	p.verify_peer = 1;
	p.alpn = offer;
	p.alpnlen = len;
	hs_run(&h, ctx, s.port, &p);
	CU_ASSERT_EQUAL(h.rc, 1);
	if (h.rc == 1) {
		sel = tlsc_alpn(h.c, &n);
		CU_ASSERT_EQUAL(n, strlen(want));
		if (*want != '\0') {
			CU_ASSERT(sel != NULL && memcmp(sel, want, n) == 0);
		} else {
			CU_ASSERT_PTR_NULL(sel);
		}
	}
	hs_done(&h);
	server_stop(&s);
}

static void
test_alpn(void)
{
	static const unsigned char offer[] = "\x02h2\x08http/1.1";
	static const unsigned char bad1[] = "\x09http/1.1";
	static const unsigned char bad2[] = "\x00\x02h2";
	struct tls_params p;
	char err[256];
	int fd;

	alpn_case("http/1.1", offer, sizeof(offer) - 1, "http/1.1");
	alpn_case("h2,http/1.1", offer, sizeof(offer) - 1, "h2");
	alpn_case(NULL, offer, sizeof(offer) - 1, "");
	alpn_case("http/1.1", NULL, 0, "");
	/* Malformed lists never reach OpenSSL. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(fd != -1);
	memset(&p, 0, sizeof(p));
	p.host = "localhost";
	p.alpn = bad1;
	p.alpnlen = sizeof(bad1) - 1;
	CU_ASSERT_PTR_NULL(tlsc_new(ctx, fd, &p, err, sizeof(err)));
	CU_ASSERT_STRING_EQUAL(err, "malformed ALPN protocol list");
	p.alpn = bad2;
	p.alpnlen = sizeof(bad2) - 1;
	CU_ASSERT_PTR_NULL(tlsc_new(ctx, fd, &p, err, sizeof(err)));
	p.alpn = offer;
	p.alpnlen = 0;
	CU_ASSERT_PTR_NULL(tlsc_new(ctx, fd, &p, err, sizeof(err)));
	close(fd);
}

/* A set of anchors from PEM files of the PKI, through the builder. */
static X509_STORE *
anchors_from(struct ca_cache *cache, const char *const *names, size_t n,
    unsigned char hash[CP_CA_HASH_LEN])
{
	const unsigned char *dp[4];
	unsigned char *der[4];
	size_t len[4], i, ok = 0;
	struct ca_builder *b;
	X509_STORE *st = NULL;
	char err[256];

	if (n > 4 || (b = ca_builder_new(0)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (pem_der(names[i], &der[i], &len[i]) == -1)
			break;
		dp[i] = der[i];
		ok++;
		if (ca_builder_add(b, der[i], len[i], err, sizeof(err)) == -1)
			break;
	}
	if (ok == n && cp_ca_set_hash(dp, len, n, hash) == 0 &&
	    ca_builder_finish(b, hash, cache, &st, err, sizeof(err)) == -1)
		fprintf(stderr, "anchors: %s\n", err);
	for (i = 0; i < ok; i++)
		free(der[i]);
	ca_builder_free(b);
	return st;
}

static void
test_anchors(void)
{
	static const char *const unk[] = {"unknown.pem"};
	static const char *const inter[] = {"int.pem"};
	static const struct vcase ok[] = {{"localhost", X509_V_OK}};
	static const struct vcase nochain[] = {
	    {"localhost", X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY},
	};
	static const struct vcase noroot[] = {
	    {"localhost", X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT},
	};
	unsigned char h1[CP_CA_HASH_LEN], h2[CP_CA_HASH_LEN];
	struct ca_cache *cache;
	X509_STORE *st, *again;

	cache = ca_cache_new(4, 1024 * 1024);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cache);
	st = anchors_from(cache, unk, 1, h1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	/* The client's root makes the unknown CA's leaf verify ... */
	check_leaf(ctx, st, "unknownca", NULL, ok, 1);
	/* ... and only it is trusted: the system's root is not. */
	check_leaf(ctx, st, "valid", "int", nochain, 1);
	again = ca_cache_lookup(cache, h1);
	CU_ASSERT_PTR_EQUAL(again, st);
	X509_STORE_free(again);
	X509_STORE_free(st);
	/* An intermediate alone is no anchor: partial chains are off, so
	 * the chain stops at the intermediate, whose issuer is missing. */
	st = anchors_from(cache, inter, 1, h2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	check_leaf(ctx, st, "valid", "int", noroot, 1);
	X509_STORE_free(st);
	CU_ASSERT_EQUAL(ca_cache_entries(cache), 2);
	ca_cache_free(cache);
}

static int
sni_server(struct server *s)
{
	const char *a[24];
	char bufs[3][PATH_MAX], c2[PATH_MAX], k2[PATH_MAX];
	int i = 0;

	cert_args(a, &i, "wrongname", "int", bufs);
	pkipath(c2, sizeof(c2), "selfsigned.pem");
	pkipath(k2, sizeof(k2), "selfsigned.key");
	a[i++] = "-cert2";
	a[i++] = c2;
	a[i++] = "-key2";
	a[i++] = k2;
	a[i++] = "-servername";
	a[i++] = "test.example";
	a[i++] = "-servername_fatal";
	a[i++] = "-naccept";
	a[i++] = "4";
	a[i] = NULL;
	return server_start(s, a);
}

static void
sni_case(int port, X509_STORE *st, const char *host, const char *sni,
    int want_rc, long want)
{
	struct tls_params p;
	struct hs h;

	memset(&p, 0, sizeof(p));
	p.host = host;
	p.sni = sni;
	p.anchors = st;
	hs_run(&h, ctx, port, &p);
	CU_ASSERT_EQUAL(h.rc, want_rc);
	if (h.c != NULL && want_rc == 1)
		CU_ASSERT_EQUAL(tlsc_verify_result(h.c), want);
	if (h.c != NULL && want_rc == -1) {
		CU_ASSERT_STRING_EQUAL(tlsc_error(h.c),
		    "handshake failed: tlsv1 unrecognized name");
		CU_ASSERT_EQUAL(tlsc_failed_verify(h.c), 0);
	}
	hs_done(&h);
}

/*
 * The server presents the self-signed certificate only to clients that
 * send SNI test.example, wrongname to clients without SNI, and a fatal
 * alert to any other name.  The client trusts root and the self-signed
 * certificate.
 */
static void
test_sni(void)
{
	static const char *const names[] = {"ca.pem", "selfsigned.pem"};
	unsigned char hash[CP_CA_HASH_LEN];
	X509_STORE *st;
	struct server s;

	st = anchors_from(NULL, names, 2, hash);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_FATAL(sni_server(&s) == 0);
	sni_case(s.port, st, "test.example", NULL, 1, X509_V_OK);
	/* No SNI for an address: the default certificate answers. */
	sni_case(
	    s.port, st, "127.0.0.1", NULL, 1, X509_V_ERR_IP_ADDRESS_MISMATCH);
	sni_case(s.port, st, "127.0.0.1", "test.example", 1, X509_V_OK);
	sni_case(s.port, st, "localhost", NULL, -1, 0);
	server_stop(&s);
	X509_STORE_free(st);
}

/* One handshake to port for host with server name sni: its verify result,
 * or -1 when the handshake did not complete. */
static long
name_case(int port, const char *host, const char *sni)
{
	struct tls_params p;
	struct hs h;
	long vr = -1;

	memset(&p, 0, sizeof(p));
	p.host = host;
	p.sni = sni;
	hs_run(&h, ctx, port, &p);
	if (h.rc == 1)
		vr = tlsc_verify_result(h.c);
	hs_done(&h);
	return vr;
}

/* With a server name set, the certificate is checked for that name and
 * the host does not count. */
static void
test_sni_verified(void)
{
	struct server s;

	CU_ASSERT_FATAL(
	    leaf_server(&s, "wrongname", "int", 4, NULL, NULL) == 0);
	CU_ASSERT_EQUAL(
	    name_case(s.port, "127.0.0.1", "wrong.example"), X509_V_OK);
	CU_ASSERT_EQUAL(
	    name_case(s.port, "localhost", "WRONG.example."), X509_V_OK);
	CU_ASSERT_EQUAL(name_case(s.port, "127.0.0.1", NULL),
	    X509_V_ERR_IP_ADDRESS_MISMATCH);
	CU_ASSERT_EQUAL(name_case(s.port, "wrong.example", "localhost"),
	    X509_V_ERR_HOSTNAME_MISMATCH);
	server_stop(&s);
	CU_ASSERT_FATAL(leaf_server(&s, "valid", "int", 2, NULL, NULL) == 0);
	CU_ASSERT_EQUAL(name_case(s.port, "localhost", "wrong.example"),
	    X509_V_ERR_HOSTNAME_MISMATCH);
	CU_ASSERT_EQUAL(name_case(s.port, "127.0.0.1", "other.example"),
	    X509_V_ERR_HOSTNAME_MISMATCH);
	server_stop(&s);
}

/*
 * A hostile peer, in process: after the ClientHello it either resets the
 * connection, closes it, or answers with something that is not TLS.
 */
static void
peer_case(int mode, const char *want, int want_errno)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	struct linger lg = {1, 0};
	struct cp_tls_state st;
	struct tls_params p;
	struct pollfd pfd;
	struct tlsc *c;
	char buf[4096], err[256];
	int ls, cs, as;

	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(ls != -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(bind(ls, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	CU_ASSERT_FATAL(listen(ls, 1) == 0);
	CU_ASSERT_FATAL(getsockname(ls, (struct sockaddr *)&sin, &sl) == 0);
	cs = tcp_connect(ntohs(sin.sin_port));
	CU_ASSERT_FATAL(cs != -1);
	as = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
	CU_ASSERT_FATAL(as != -1);
	memset(&p, 0, sizeof(p));
	p.host = "localhost";
	p.verify_peer = 1;
	c = tlsc_new(ctx, cs, &p, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(tlsc_handshake(c), 0);
	CU_ASSERT_EQUAL(tlsc_events(c), EPOLLIN);
	pfd.fd = as;
	pfd.events = POLLIN;
	CU_ASSERT(poll(&pfd, 1, WAIT_MS) == 1);
	CU_ASSERT(read(as, buf, sizeof(buf)) > 0);
	if (mode == 0)
		setsockopt(as, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	else if (mode == 2)
		CU_ASSERT(
		    write(as, "HTTP/1.1 400 Bad Request\r\n\r\n", 28) == 28);
	close(as);
	CU_ASSERT_EQUAL(drive(c, cs), -1);
	CU_ASSERT_STRING_EQUAL(tlsc_error(c), want);
	CU_ASSERT_EQUAL(tlsc_sys_errno(c), want_errno);
	CU_ASSERT_EQUAL(tlsc_failed_verify(c), 0);
	CU_ASSERT_EQUAL(tlsc_no_peer_cert(c), 0);
	/* No certificate came: nothing was verified, whatever the (initial)
	 * verify result says. */
	CU_ASSERT_EQUAL(tlsc_verified(c), 0);
	CU_ASSERT_EQUAL(tlsc_verify_result(c), X509_V_OK);
	/* A failed connection stays failed and has nothing to export. */
	CU_ASSERT_EQUAL(tlsc_handshake(c), -1);
	CU_ASSERT_EQUAL(tlsc_export(c, &st, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "export before the handshake completed");
	tlsc_free(c);
	close(cs);
	close(ls);
}

static void
test_peer_failures(void)
{
	peer_case(0, "handshake failed: Connection reset by peer", ECONNRESET);
	peer_case(1, "handshake failed: unexpected eof while reading", 0);
	peer_case(2, "handshake failed: wrong version number", 0);
}

static void
test_bad_params(void)
{
	static const char *const bad[] = {"", "[::1]", "a..b", ".a", "a b",
	    "fe80::1%lo", "host/x", "\xc3\xa9.example"};
	struct tls_params p;
	char err[256], longname[300];
	size_t i;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(fd != -1);
	memset(&p, 0, sizeof(p));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p.host = bad[i];
		CU_ASSERT_PTR_NULL(tlsc_new(ctx, fd, &p, err, sizeof(err)));
	}
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	p.host = longname;
	CU_ASSERT_PTR_NULL(tlsc_new(ctx, fd, &p, err, sizeof(err)));
	p.host = "localhost";
	p.sni = "127.0.0.1";
	CU_ASSERT_PTR_NULL(tlsc_new(ctx, fd, &p, err, sizeof(err)));
	CU_ASSERT_STRING_EQUAL(err, "bad server name (SNI)");
	p.host = NULL;
	CU_ASSERT_PTR_NULL(tlsc_new(ctx, fd, &p, err, sizeof(err)));
	p.host = "localhost";
	p.sni = NULL;
	CU_ASSERT_PTR_NULL(tlsc_new(ctx, -1, &p, err, sizeof(err)));
	p.min_version = TLS1_1_VERSION;
	CU_ASSERT_PTR_NULL(tlsc_new(ctx, fd, &p, err, sizeof(err)));
	CU_ASSERT_STRING_EQUAL(err, "minimum TLS version 0x0302 not allowed");
	close(fd);
}

static void
test_ctx_errors(void)
{
	struct tls_settings ts;
	char err[512], path[PATH_MAX];

	memset(&ts, 0, sizeof(ts));
	ts.min_version = TLS1_1_VERSION;
	CU_ASSERT_PTR_NULL(tls_ctx_new(&ts, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not allowed"));
	ts.min_version = TLS1_2_VERSION;
	pkipath(path, sizeof(path), "does-not-exist.pem");
	ts.ca_file = path;
	CU_ASSERT_PTR_NULL(tls_ctx_new(&ts, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
	/* A key file holds no certificate. */
	pkipath(path, sizeof(path), "root.key");
	CU_ASSERT_PTR_NULL(tls_ctx_new(&ts, err, sizeof(err)));
	snprintf(path, sizeof(path), "%s/emptydir", cu_tmpdir());
	CU_ASSERT_FATAL(mkdir(path, 0700) == 0 || errno == EEXIST);
	ts.ca_file = NULL;
	ts.ca_dir = path;
	CU_ASSERT_PTR_NULL(tls_ctx_new(&ts, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "no certificate found"));
}

static int
copy_file(const char *from, const char *to)
{
	char buf[8192];
	FILE *in, *out;
	size_t n;
	int rc = 0;

	if ((in = fopen(from, "re")) == NULL)
		return -1;
	if ((out = fopen(to, "we")) == NULL) {
		fclose(in);
		return -1;
	}
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			rc = -1;
	fclose(in);
	if (fclose(out) != 0)
		rc = -1;
	return rc;
}

/* The store is read at creation: removing the files afterwards changes
 * nothing.  Also covers a ca_dir with non-certificate files in it. */
static void
test_store_in_memory(void)
{
	static const struct vcase vc[] = {{"localhost", X509_V_OK}};
	char dir[512], from[PATH_MAX], to[600], err[512];
	struct tls_settings ts;
	SSL_CTX *c;

	snprintf(dir, sizeof(dir), "%s/castore", cu_tmpdir());
	CU_ASSERT_FATAL(mkdir(dir, 0700) == 0);
	pkipath(from, sizeof(from), "ca.pem");
	snprintf(to, sizeof(to), "%s/root.pem", dir);
	CU_ASSERT_FATAL(copy_file(from, to) == 0);
	pkipath(from, sizeof(from), "int.key");
	snprintf(to, sizeof(to), "%s/junk.key", dir);
	CU_ASSERT_FATAL(copy_file(from, to) == 0);
	memset(&ts, 0, sizeof(ts));
	ts.ca_dir = dir;
	c = tls_ctx_new(&ts, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	unlink(to);
	snprintf(to, sizeof(to), "%s/root.pem", dir);
	unlink(to);
	rmdir(dir);
	check_leaf(c, NULL, "valid", "int", vc, 1);
	SSL_CTX_free(c);
}

/* Independent computation of the set hash for two distinct inputs. */
static void
manual_hash(const unsigned char *a, size_t alen, const unsigned char *b,
    size_t blen, unsigned char out[32])
{
	unsigned char da[32], db[32], l[4];
	const unsigned char *p[2];
	size_t pl[2], i;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	SHA256(a, alen, da);
	SHA256(b, blen, db);
	p[0] = memcmp(da, db, 32) < 0 ? a : b;
	pl[0] = p[0] == a ? alen : blen;
	p[1] = p[0] == a ? b : a;
	pl[1] = p[0] == a ? blen : alen;
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	for (i = 0; i < 2; i++) {
		l[0] = (unsigned char)(pl[i] >> 24);
		l[1] = (unsigned char)(pl[i] >> 16);
		l[2] = (unsigned char)(pl[i] >> 8);
		l[3] = (unsigned char)pl[i];
		EVP_DigestUpdate(md, l, 4);
		EVP_DigestUpdate(md, p[i], pl[i]);
	}
	EVP_DigestFinal_ex(md, out, NULL);
	EVP_MD_CTX_free(md);
}

static void
test_cahash(void)
{
	static const unsigned char empty_sha[32] = {
	    0xe3,
	    0xb0,
	    0xc4,
	    0x42,
	    0x98,
	    0xfc,
	    0x1c,
	    0x14,
	    0x9a,
	    0xfb,
	    0xf4,
	    0xc8,
	    0x99,
	    0x6f,
	    0xb9,
	    0x24,
	    0x27,
	    0xae,
	    0x41,
	    0xe4,
	    0x64,
	    0x9b,
	    0x93,
	    0x4c,
	    0xa4,
	    0x95,
	    0x99,
	    0x1b,
	    0x78,
	    0x52,
	    0xb8,
	    0x55,
	};
	unsigned char h1[32], h2[32], h3[32], want[32];
	const unsigned char *d[3];
	size_t l[3];

	d[0] = (const unsigned char *)"first certificate";
	l[0] = 17;
	d[1] = (const unsigned char *)"second";
	l[1] = 6;
	manual_hash(d[0], l[0], d[1], l[1], want);
	CU_ASSERT_EQUAL(cp_ca_set_hash(d, l, 2, h1), 0);
	CU_ASSERT_EQUAL(memcmp(h1, want, 32), 0);
	/* Order and repetition do not matter. */
	d[2] = d[0];
	l[2] = l[0];
	d[0] = d[1];
	l[0] = l[1];
	d[1] = d[2];
	l[1] = l[2];
	CU_ASSERT_EQUAL(cp_ca_set_hash(d, l, 3, h2), 0);
	CU_ASSERT_EQUAL(memcmp(h1, h2, 32), 0);
	/* A different set hashes differently. */
	CU_ASSERT_EQUAL(cp_ca_set_hash(d, l, 1, h3), 0);
	CU_ASSERT_NOT_EQUAL(memcmp(h1, h3, 32), 0);
	CU_ASSERT_EQUAL(cp_ca_set_hash(NULL, NULL, 0, h3), 0);
	CU_ASSERT_EQUAL(memcmp(h3, empty_sha, 32), 0);
	l[0] = 0;
	errno = 0;
	CU_ASSERT_EQUAL(cp_ca_set_hash(d, l, 1, h3), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	l[0] = CP_MAX_CERT + 1;
	CU_ASSERT_EQUAL(cp_ca_set_hash(d, l, 1, h3), -1);
	CU_ASSERT_EQUAL(cp_ca_set_hash(d, l, CP_MAX_CA_CERTS + 1, h3), -1);
}

static void
test_builder(void)
{
	unsigned char *der, *junk, h[32], bad[32];
	const unsigned char *dp;
	struct ca_builder *b;
	X509_STORE *st;
	char err[256];
	size_t len;

	CU_ASSERT_FATAL(pem_der("root.pem", &der, &len) == 0);
	b = ca_builder_new(0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL(
	    ca_builder_finish(b, h, NULL, &st, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "empty trust anchor set");
	CU_ASSERT_EQUAL(ca_builder_add(b, der, len - 1, err, sizeof(err)), -1);
	junk = malloc(len + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(junk);
	memcpy(junk, der, len);
	junk[len] = 0;
	CU_ASSERT_EQUAL(ca_builder_add(b, junk, len + 1, err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(ca_builder_add(b, junk, 0, err, sizeof(err)), -1);
	free(junk);
	CU_ASSERT_EQUAL(ca_builder_count(b), 0);
	CU_ASSERT_EQUAL(ca_builder_add(b, der, len, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(ca_builder_add(b, der, len, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(ca_builder_count(b), 2);
	dp = der;
	CU_ASSERT_FATAL(cp_ca_set_hash(&dp, &len, 1, h) == 0);
	memcpy(bad, h, 32);
	bad[31] ^= 1;
	CU_ASSERT_EQUAL(
	    ca_builder_finish(b, bad, NULL, &st, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "trust anchor set hash mismatch");
	CU_ASSERT_PTR_NULL(st);
	/* Duplicates do not change the set. */
	CU_ASSERT_EQUAL(
	    ca_builder_finish(b, h, NULL, &st, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL(st);
	X509_STORE_free(st);
	ca_builder_free(b);
	/* Byte bound. */
	b = ca_builder_new(len + 10);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL(ca_builder_add(b, der, len, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(ca_builder_add(b, der, len, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "exceed"));
	ca_builder_free(b);
	free(der);
}

static void
test_cache_lru(void)
{
	unsigned char h[4][32];
	X509_STORE *st[4], *got;
	struct ca_cache *c;
	int i;

	c = ca_cache_new(3, 1000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	for (i = 0; i < 4; i++) {
		memset(h[i], i + 1, 32);
		st[i] = X509_STORE_new();
		CU_ASSERT_PTR_NOT_NULL_FATAL(st[i]);
	}
	for (i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(ca_cache_insert(c, h[i], st[i], 100), 0);
	CU_ASSERT_EQUAL(ca_cache_entries(c), 3);
	CU_ASSERT_EQUAL(ca_cache_bytes(c), 300);
	/* Touch 0, so 1 is the least recently used. */
	got = ca_cache_lookup(c, h[0]);
	CU_ASSERT_PTR_EQUAL(got, st[0]);
	X509_STORE_free(got);
	CU_ASSERT_EQUAL(ca_cache_insert(c, h[3], st[3], 100), 0);
	CU_ASSERT_EQUAL(ca_cache_entries(c), 3);
	CU_ASSERT_PTR_NULL(ca_cache_lookup(c, h[1]));
	got = ca_cache_lookup(c, h[2]);
	CU_ASSERT_PTR_EQUAL(got, st[2]);
	X509_STORE_free(got);
	/* Now 2, 3, 0 from most to least recent.  850 bytes need two
	 * evictions: 0 for the count, then 3 for the bytes. */
	CU_ASSERT_EQUAL(ca_cache_insert(c, h[1], st[1], 850), 0);
	CU_ASSERT_EQUAL(ca_cache_entries(c), 2);
	CU_ASSERT_EQUAL(ca_cache_bytes(c), 950);
	got = ca_cache_lookup(c, h[2]);
	CU_ASSERT_PTR_EQUAL(got, st[2]);
	X509_STORE_free(got);
	CU_ASSERT_PTR_NULL(ca_cache_lookup(c, h[0]));
	CU_ASSERT_PTR_NULL(ca_cache_lookup(c, h[3]));
	/* Re-inserting a hash replaces it without growing. */
	CU_ASSERT_EQUAL(ca_cache_insert(c, h[2], st[0], 50), 0);
	CU_ASSERT_EQUAL(ca_cache_entries(c), 2);
	CU_ASSERT_EQUAL(ca_cache_bytes(c), 900);
	got = ca_cache_lookup(c, h[2]);
	CU_ASSERT_PTR_EQUAL(got, st[0]);
	X509_STORE_free(got);
	errno = 0;
	CU_ASSERT_EQUAL(ca_cache_insert(c, h[3], st[3], 1001), -1);
	CU_ASSERT_EQUAL(errno, EFBIG);
	CU_ASSERT_PTR_NULL(ca_cache_new(0, 10));
	ca_cache_free(c);
	for (i = 0; i < 4; i++)
		X509_STORE_free(st[i]);
}

/* One connect to port with p: its handshake result and verify result. */
static int
vc_connect(SSL_CTX *cx, int port, const struct tls_params *p, long *vr)
{
	struct hs h;
	int rc;

	hs_run(&h, cx, port, p);
	rc = h.rc;
	*vr = h.c != NULL ? tlsc_verify_result(h.c) : -1;
	hs_done(&h);
	return rc;
}

static STACK_OF(X509_CRL) *
load_crls(const char *path)
{
	STACK_OF(X509_CRL) *sk = sk_X509_CRL_new_null();
	FILE *f = fopen(path, "re");
	X509_CRL *crl;

	while (sk != NULL && f != NULL &&
	       (crl = PEM_read_X509_CRL(f, NULL, NULL, NULL)) != NULL)
		sk_X509_CRL_push(sk, crl);
	if (f != NULL)
		fclose(f);
	return sk;
}

/*
 * The context's verification cache (vcache.h): the second connect to the
 * same chain finds it verified, with the same result and chain.  A
 * failure, a client's anchors and CRLs are verified every time, and a
 * chain kept as good does not hide its revocation from a CRL.
 */
static void
test_vcache(void)
{
	char rev[PATH_MAX], ca[PATH_MAX], err[512], cmd[4 * PATH_MAX];
	unsigned char set1[CP_CA_HASH_LEN], set2[CP_CA_HASH_LEN];
	STACK_OF(X509_CRL) *crls;
	struct tls_settings ts;
	struct tls_params p;
	X509_STORE *anchors;
	unsigned char **der;
	struct server s;
	uint64_t h0;
	size_t *lens;
	SSL_CTX *cx;
	struct hs h;
	long vr;
	int n = -1;

	snprintf(rev, sizeof(rev), "%s/rev", pki);
	snprintf(cmd, sizeof(cmd),
	    "sh tests/pki/mkrevoke.sh '%s' '%s' >/dev/null && "
	    "cp '%s/revoked.pem' '%s/revoked.key' '%s'",
	    pki, rev, rev, rev, pki);
	CU_ASSERT_FATAL(system(cmd) == 0);
	memset(&ts, 0, sizeof(ts));
	pkipath(ca, sizeof(ca), "ca.pem");
	ts.ca_file = ca;
	cx = tls_ctx_new(&ts, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(cx);
	CU_ASSERT_FATAL(leaf_server(&s, "revoked", "int", 16, NULL, NULL) == 0);
	memset(&p, 0, sizeof(p));
	p.host = "localhost";
	p.verify_peer = 1;
	h0 = vcache_hits();
	CU_ASSERT_EQUAL(vc_connect(cx, s.port, &p, &vr), 1);
	CU_ASSERT_EQUAL(vr, X509_V_OK);
	CU_ASSERT_EQUAL(vcache_hits(), h0);
	hs_run(&h, cx, s.port, &p);
	CU_ASSERT_EQUAL(h.rc, 1);
	CU_ASSERT_EQUAL(vcache_hits(), h0 + 1);
	if (h.rc == 1) {
		CU_ASSERT_EQUAL(tlsc_verify_result(h.c), X509_V_OK);
		CU_ASSERT_EQUAL(tlsc_chain(h.c, &der, &lens, &n), 0);
		CU_ASSERT_EQUAL(n, 2); /* as without the cache (test_chain) */
		if (n >= 0)
			tls_chain_free(der, lens, n);
	}
	hs_done(&h);

	/* A failure, verified each time. */
	p.host = "other.example";
	CU_ASSERT_EQUAL(vc_connect(cx, s.port, &p, &vr), -1);
	CU_ASSERT_EQUAL(vr, X509_V_ERR_HOSTNAME_MISMATCH);
	CU_ASSERT_EQUAL(vc_connect(cx, s.port, &p, &vr), -1);
	CU_ASSERT_EQUAL(vr, X509_V_ERR_HOSTNAME_MISMATCH);
	CU_ASSERT_EQUAL(vcache_hits(), h0 + 1);

	/* A client's anchors: kept under the set's hash only, apart from
	 * the context's store and from another set. */
	p.host = "localhost";
	anchors = X509_STORE_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(anchors);
	CU_ASSERT_FATAL(X509_STORE_load_file(anchors, ca) == 1);
	p.anchors = anchors;
	CU_ASSERT_EQUAL(vc_connect(cx, s.port, &p, &vr), 1);
	CU_ASSERT_EQUAL(vc_connect(cx, s.port, &p, &vr), 1);
	CU_ASSERT_EQUAL(vcache_hits(), h0 + 1); /* no name: not kept */
	memset(set1, 0x11, sizeof(set1));
	memset(set2, 0x22, sizeof(set2));
	p.anchors_hash = set1;
	CU_ASSERT_EQUAL(vc_connect(cx, s.port, &p, &vr), 1);
	CU_ASSERT_EQUAL(vcache_hits(), h0 + 1);
	CU_ASSERT_EQUAL(vc_connect(cx, s.port, &p, &vr), 1);
	CU_ASSERT_EQUAL(vr, X509_V_OK);
	CU_ASSERT_EQUAL(vcache_hits(), h0 + 2);
	p.anchors_hash = set2;
	CU_ASSERT_EQUAL(vc_connect(cx, s.port, &p, &vr), 1);
	CU_ASSERT_EQUAL(vcache_hits(), h0 + 2);
	p.anchors = NULL;
	p.anchors_hash = NULL;
	h0++;

	/* The CRL revokes the leaf the cache holds as good. */
	crls = load_crls(tpath(rev, "int.crl"));
	CU_ASSERT_FATAL(crls != NULL && sk_X509_CRL_num(crls) == 1);
	p.crls = crls;
	CU_ASSERT_EQUAL(vc_connect(cx, s.port, &p, &vr), -1);
	CU_ASSERT_EQUAL(vr, X509_V_ERR_CERT_REVOKED);
	CU_ASSERT_EQUAL(vcache_hits(), h0 + 1);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	/* Good under an older CRL: verified every time all the same. */
	crls = load_crls(tpath(rev, "int-empty.crl"));
	CU_ASSERT_FATAL(crls != NULL && sk_X509_CRL_num(crls) == 1);
	p.crls = crls;
	CU_ASSERT_EQUAL(vc_connect(cx, s.port, &p, &vr), 1);
	CU_ASSERT_EQUAL(vr, X509_V_OK);
	CU_ASSERT_EQUAL(vc_connect(cx, s.port, &p, &vr), 1);
	CU_ASSERT_EQUAL(vcache_hits(), h0 + 1);
	p.crls = NULL;
	CU_ASSERT_EQUAL(vc_connect(cx, s.port, &p, &vr), 1);
	CU_ASSERT_EQUAL(vcache_hits(), h0 + 2);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	X509_STORE_free(anchors);
	server_stop(&s);
	SSL_CTX_free(cx);
}

static int
suite_init(void)
{
	struct tls_settings ts;
	char ca[PATH_MAX], err[512];

	signal(SIGPIPE, SIG_IGN);
	if (tpki_make(pki, sizeof(pki), cu_tmpdir()) == -1) {
		fprintf(stderr, "tests/pki/mkpki.sh failed\n");
		return -1;
	}
	memset(&ts, 0, sizeof(ts));
	ts.min_version = TLS1_2_VERSION;
	pkipath(ca, sizeof(ca), "ca.pem");
	ts.ca_file = ca;
	if ((ctx = tls_ctx_new(&ts, err, sizeof(err))) == NULL) {
		fprintf(stderr, "tls_ctx_new: %s\n", err);
		return -1;
	}
	return 0;
}

static int
suite_clean(void)
{
	int i;

	for (i = 0; i < MAX_SERVERS; i++)
		if (live[i] != NULL)
			server_stop(live[i]);
	SSL_CTX_free(ctx);
	ctx = NULL;
	return 0;
}

int
main(void)
{
	CU_pSuite s;

	s = cu_suite("cahash", NULL, NULL);
	cu_test(s, "set hash", test_cahash);
	s = cu_suite("tls", suite_init, suite_clean);
	cu_test(s, "builder", test_builder);
	cu_test(s, "cache LRU", test_cache_lru);
	cu_test(s, "bad parameters", test_bad_params);
	cu_test(s, "peer failures", test_peer_failures);
	cu_test(s, "context errors", test_ctx_errors);
	cu_test(s, "valid", test_valid);
	cu_test(s, "valid RSA", test_valid_rsa);
	cu_test(s, "expired", test_expired);
	cu_test(s, "not yet valid", test_notyet);
	cu_test(s, "wrong name", test_wrongname);
	cu_test(s, "wildcard", test_wildcard);
	cu_test(s, "IP SAN only", test_ipsan);
	cu_test(s, "CN only", test_cnonly);
	cu_test(s, "self-signed", test_selfsigned);
	cu_test(s, "unknown CA", test_unknownca);
	cu_test(s, "missing intermediate", test_missing_intermediate);
	cu_test(s, "peer chain", test_chain);
	cu_test(s, "peer chain bounds", test_chain_bounds);
	cu_test(s, "versions and ciphers", test_versions);
	cu_test(s, "ALPN", test_alpn);
	cu_test(s, "SNI", test_sni);
	cu_test(s, "server name verified, not the host", test_sni_verified);
	cu_test(s, "hand-off", test_handoff);
	cu_test(s, "client anchors", test_anchors);
	cu_test(s, "store in memory", test_store_in_memory);
	cu_test(s, "verification cache", test_vcache);
	return cu_finish();
}
