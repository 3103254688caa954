/* SPDX-License-Identifier: ISC */
/*
 * TLS through a real cpconnectd against real peers (openssl s_server,
 * gnutls-serv, nginx) with the test PKI: the seed's return codes for every
 * PKI case in both verification modes, versions and ciphers, data integrity
 * over the handed-off socket, client trust anchors, and the network-less
 * namespace over TLS.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509_vfy.h>

#include "cprops/client.h"
#include "cutest.h"
#include "itest.h"

static struct tdaemon dmn;
static char pki[128];

/* Start a server process and wait (bounded) until it accepts on port. */

/* s_server on [::1] or 127.0.0.1; unused extra arguments are NULL. */
static uint16_t
s_server6(int v6, const char *leaf, int with_int, const char *a1,
    const char *a2, const char *a3, const char *a4)
{
	return ts_server(pki, 0, v6, leaf, with_int, a1, a2, a3, a4,
	    (char *)NULL);
}

static uint16_t
s_server(const char *leaf, int with_int, const char *a1, const char *a2,
    const char *a3, const char *a4)
{
	return s_server6(0, leaf, with_int, a1, a2, a3, a4);
}

static int
suite_init(void)
{
	char conf[512];

	if (tpki_make(pki, sizeof(pki), cu_tmpdir()) == -1)
		return -1;
	snprintf(conf, sizeof(conf),
	    "user nobody\n"
	    "ca-file \"%s/ca.pem\"\n"
	    "allow from any to 127.0.0.0/8\n"
	    "allow from any to ::1\n",
	    pki);
	if (tdaemon_start(&dmn, conf, NULL, NULL) == -1)
		return -1;
	cp_client_set_socket_path(dmn.sock);
	return 0;
}

static int
suite_clean(void)
{
	tservers_stop();
	tdaemon_stop(&dmn);
	return 0;
}

/* A small HTTP GET on a connected client; 1 if a status line came back. */
static int
http_get(cp_client *c)
{
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	char buf[4096];
	int n, got = 0;

	if (cp_client_write(c, req, sizeof(req) - 1) != sizeof(req) - 1)
		return 0;
	while (got < (int)sizeof(buf) - 1 &&
	    (n = cp_client_read(c, buf + got, (int)sizeof(buf) - 1 - got)) > 0)
		got += n;
	buf[got] = '\0';
	return strncmp(buf, "HTTP/1.", 7) == 0;
}

struct pki_case {
	const char *leaf;
	int with_int;
	const char *host;
	long code; /* expected verify result */
};

static const struct pki_case cases[] = {
	{"valid", 1, "localhost", X509_V_OK},
	{"valid", 1, "127.0.0.1", X509_V_OK},
	{"valid", 1, "::1", X509_V_OK},
	{"valid-rsa", 1, "localhost", X509_V_OK},
	{"wildcard", 1, "127.0.0.1", X509_V_ERR_IP_ADDRESS_MISMATCH},
	{"ipsan", 1, "127.0.0.1", X509_V_OK},
	{"cnonly", 1, "localhost", X509_V_ERR_HOSTNAME_MISMATCH},
	{"expired", 1, "localhost", X509_V_ERR_CERT_HAS_EXPIRED},
	{"notyet", 1, "localhost", X509_V_ERR_CERT_NOT_YET_VALID},
	{"wrongname", 1, "localhost", X509_V_ERR_HOSTNAME_MISMATCH},
	{"selfsigned", 0, "localhost", X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT},
	{"unknownca", 0, "localhost",
	    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY},
	{"valid", 0, "localhost", X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY},
};

static void
run_case(const struct pki_case *pc, uint16_t port)
{
	cp_client *c;
	int rv;

	/* SSL_VERIFY_PEER: success only when it verifies. */
	c = cp_client_create_ssl(pc->host, port, NULL, NULL, SSL_VERIFY_PEER);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	rv = cp_client_connect(c);
	if (pc->code == X509_V_OK) {
		CU_ASSERT_EQUAL(rv, 0);
		CU_ASSERT(http_get(c));
		CU_ASSERT(cp_client_verify_hostname(c));
	} else {
		CU_ASSERT_EQUAL(rv, -1);
		CU_ASSERT_EQUAL(errno, EPROTO);
		CU_ASSERT_EQUAL(cp_client_get_verify_result(c), pc->code);
		CU_ASSERT_EQUAL(cp_client_fd(c), -1);
	}
	if (rv != (pc->code == X509_V_OK ? 0 : -1))
		fprintf(stderr, "%s/%s PEER: rv %d verify %ld: %s\n", pc->leaf,
		    pc->host, rv, cp_client_get_verify_result(c),
		    cp_client_error(c));
	cp_client_destroy(c);

	/* SSL_VERIFY_NONE: the connection stands, the code is returned. */
	c = cp_client_create_ssl(pc->host, port, NULL, NULL, SSL_VERIFY_NONE);
	rv = cp_client_connect(c);
	CU_ASSERT_EQUAL(rv, pc->code);
	if (rv != pc->code)
		fprintf(stderr, "%s/%s NONE: rv %d: %s\n", pc->leaf, pc->host,
		    rv, cp_client_error(c));
	if (rv >= 0) {
		CU_ASSERT_PTR_NOT_NULL(cp_client_get_server_certificate(c));
		CU_ASSERT_EQUAL(cp_client_get_verify_result(c), pc->code);
		CU_ASSERT(http_get(c));
	}
	cp_client_destroy(c);
}

static void
test_pki_cases(void)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint16_t port = s_server6(strchr(cases[i].host, ':') != NULL,
		    cases[i].leaf, cases[i].with_int, NULL, NULL, NULL, NULL);

		CU_ASSERT_FATAL(port != 0);
		run_case(&cases[i], port);
	}
	tservers_stop();
}

struct suite_case {
	const char *version_arg, *cipher_opt, *cipher;
	const char *want_version, *want_cipher;
};

static void
test_versions_ciphers(void)
{
	static const struct suite_case sc[] = {
		{"-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256", "TLSv1.3",
		    "TLS_AES_128_GCM_SHA256"},
		{"-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384", "TLSv1.3",
		    "TLS_AES_256_GCM_SHA384"},
		{"-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256",
		    "TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256"},
		{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256",
		    "TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256"},
		{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384",
		    "TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384"},
		{"-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305",
		    "TLSv1.2", "ECDHE-ECDSA-CHACHA20-POLY1305"},
	};
	size_t i;

	for (i = 0; i < sizeof(sc) / sizeof(sc[0]); i++) {
		uint16_t port = s_server("valid", 1, sc[i].version_arg,
		    sc[i].cipher_opt, sc[i].cipher, NULL);
		cp_client *c;

		CU_ASSERT_FATAL(port != 0);
		c = cp_client_create_ssl("localhost", port, NULL, NULL,
		    SSL_VERIFY_PEER);
		CU_ASSERT_EQUAL_FATAL(cp_client_connect(c), 0);
		CU_ASSERT_STRING_EQUAL(cp_client_get_tls_version(c),
		    sc[i].want_version);
		CU_ASSERT_STRING_EQUAL(cp_client_get_cipher(c),
		    sc[i].want_cipher);
		CU_ASSERT(http_get(c));
		cp_client_destroy(c);
	}
	/* A server that offers no AEAD suite: the daemon negotiates none. */
	{
		uint16_t port = s_server("valid-rsa", 1, "-tls1_2", "-cipher",
		    "AES128-SHA256", NULL);
		cp_client *c = cp_client_create_ssl("localhost", port, NULL,
		    NULL, SSL_VERIFY_PEER);

		CU_ASSERT_EQUAL(cp_client_connect(c), -1);
		CU_ASSERT_EQUAL(errno, EPROTO);
		CU_ASSERT_PTR_NOT_NULL(strstr(cp_client_error(c), "handshake"));
		cp_client_destroy(c);
	}
	tservers_stop();
}

/* Each key exchange group a server may insist on (a HelloRetryRequest
 * when it is not the first one offered), with an EC and an RSA
 * certificate: the engines' EC and RSA keys come from libcrypto's
 * built-in methods (keydecode.c), so both kinds of key, for key exchange
 * and for signatures, are exercised here. */
static void
test_groups_keys(void)
{
	static const struct {
		const char *leaf, *version, *group;
	} gc[] = {
	    {"valid", "-tls1_3", "X25519"},
	    {"valid", "-tls1_3", "P-256"},
	    {"valid", "-tls1_3", "P-384"},
	    {"valid", "-tls1_3", "P-521"},
	    {"valid", "-tls1_2", "P-256"},
	    {"valid-rsa", "-tls1_3", "P-256"},
	    {"valid-rsa", "-tls1_3", "X25519"},
	    {"valid-rsa", "-tls1_2", "P-384"},
	    {"valid-rsa", "-tls1_2", "X25519"},
	};
	size_t i;

	for (i = 0; i < sizeof(gc) / sizeof(gc[0]); i++) {
		uint16_t port = s_server(
		    gc[i].leaf, 1, gc[i].version, "-groups", gc[i].group, NULL);
		cp_client *c;
		int rv;

		CU_ASSERT_FATAL(port != 0);
		c = cp_client_create_ssl(
		    "localhost", port, NULL, NULL, SSL_VERIFY_PEER);
		rv = cp_client_connect(c);
		CU_ASSERT_EQUAL(rv, 0);
		if (rv != 0)
			fprintf(stderr, "  %s %s %s: %s\n", gc[i].leaf,
			    gc[i].version, gc[i].group, cp_client_error(c));
		else
			CU_ASSERT(http_get(c));
		cp_client_destroy(c);
	}
	tservers_stop();
}

static void
test_alpn_sni(void)
{
	uint16_t port = s_server("valid", 1, "-alpn", "h2,http/1.1", NULL, NULL);
	cp_client *c = cp_client_create_ssl("127.0.0.1", port, NULL, NULL,
	    SSL_VERIFY_PEER);

	CU_ASSERT_EQUAL(cp_client_set_alpn(c, "foo,http/1.1"), 0);
	CU_ASSERT_EQUAL(cp_client_set_server_name(c, "test.example"), 0);
	CU_ASSERT_EQUAL_FATAL(cp_client_connect(c), 0);
	CU_ASSERT_STRING_EQUAL(cp_client_get_alpn(c), "http/1.1");
	CU_ASSERT(cp_client_verify_hostname(c));
	cp_client_destroy(c);
	tservers_stop();
}

/* A connect under SSL_VERIFY_PEER: 0, or the verify result when it
 * failed (-1 for a failure with none). */
static long
verify_peer(const char *host, const char *sni, uint16_t port)
{
	cp_client *c =
	    cp_client_create_ssl(host, port, NULL, NULL, SSL_VERIFY_PEER);
	long rv = -1;

	if (c == NULL)
		return -1;
	if (sni != NULL)
		cp_client_set_server_name(c, sni);
	if (cp_client_connect(c) == 0)
		rv = 0;
	else if (cp_client_get_verify_result(c) != X509_V_OK)
		rv = cp_client_get_verify_result(c);
	cp_client_destroy(c);
	return rv;
}

/*
 * A certificate with a CN and no subjectAltName matches no name (the PKI
 * case above) unless the policy says "cn-fallback yes"; when the blocks
 * that apply disagree, "no" wins.
 *	cnonly on P (block "localhost": yes) and N (also "any": no)
 */
static void
test_cn_fallback(void)
{
	struct tdaemon d;
	char conf[1024];
	uint16_t p, n;
	cp_client *c;

	p = s_server("cnonly", 1, NULL, NULL, NULL, NULL);
	n = s_server("cnonly", 1, NULL, NULL, NULL, NULL);
	CU_ASSERT_FATAL(p != 0 && n != 0);
	snprintf(conf, sizeof(conf),
	    "user nobody\n"
	    "ca-file \"%s/ca.pem\"\n"
	    "allow from any to 127.0.0.0/8\n"
	    "destination \"localhost\" port %u,%u {\n"
	    "	cn-fallback yes\n"
	    "}\n"
	    "destination any port %u {\n"
	    "	cn-fallback no\n"
	    "}\n",
	    pki, p, n, n);
	CU_ASSERT_FATAL(tdaemon_start(&d, conf, NULL, NULL) == 0);
	cp_client_set_socket_path(d.sock);
	CU_ASSERT_EQUAL(verify_peer("localhost", NULL, p), 0);
	/* The fallback is the daemon's: the library's own check still
	 * finds no name in the certificate. */
	c = cp_client_create_ssl("localhost", p, NULL, NULL, SSL_VERIFY_PEER);
	CU_ASSERT_EQUAL(cp_client_connect(c), 0);
	CU_ASSERT_EQUAL(cp_client_verify_hostname(c), 0);
	cp_client_destroy(c);
	CU_ASSERT_EQUAL(verify_peer("127.0.0.1", "localhost", p),
	    X509_V_ERR_HOSTNAME_MISMATCH); /* the address's policy: no */
	CU_ASSERT_EQUAL(
	    verify_peer("localhost", NULL, n), X509_V_ERR_HOSTNAME_MISMATCH);
	tdaemon_stop(&d);

	/* Globally, and a block that says no. */
	snprintf(conf, sizeof(conf),
	    "user nobody\n"
	    "ca-file \"%s/ca.pem\"\n"
	    "allow from any to 127.0.0.0/8\n"
	    "cn-fallback yes\n"
	    "destination any port %u {\n"
	    "	cn-fallback no\n"
	    "}\n",
	    pki, n);
	CU_ASSERT_FATAL(tdaemon_start(&d, conf, NULL, NULL) == 0);
	cp_client_set_socket_path(d.sock);
	CU_ASSERT_EQUAL(verify_peer("localhost", NULL, p), 0);
	CU_ASSERT_EQUAL(verify_peer("127.0.0.1", "localhost", p), 0);
	CU_ASSERT_EQUAL(
	    verify_peer("localhost", NULL, n), X509_V_ERR_HOSTNAME_MISMATCH);
	tdaemon_stop(&d);
	cp_client_set_socket_path(dmn.sock);
	tservers_stop();
}

/* Data integrity over the handed-off socket: 64 MiB each way through
 * gnutls-serv's echo, a writer thread and a reading main thread checking a
 * pseudo-random stream. */

static uint32_t
xs(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Printable lines: gnutls-serv's echo mode handles text, not NUL bytes. */
static void
fill(unsigned char *p, size_t n, uint32_t *s)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint32_t v = xs(s);

		p[i] = v % 61 == 0 ? '\n' : (unsigned char)('!' + v % 90);
	}
}

struct writer {
	cp_client *c;
	size_t total;
	int failed;
};

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	static unsigned char buf[65536];
	uint32_t seed = 12345;
	size_t sent = 0, n, step = 1;

	while (sent < w->total) {
		/* Sizes 1..64 KiB, all sizes up to 16 KiB appear. */
		n = step <= 16384 ? step : 1 + (step * 7919) % sizeof(buf);
		step++;
		if (n > w->total - sent)
			n = w->total - sent;
		fill(buf, n, &seed);
		if (cp_client_write(w->c, (char *)buf, (int)n) != (int)n) {
			w->failed = 1;
			break;
		}
		sent += n;
	}
	return NULL;
}

static void
integrity(cp_client *c, size_t total)
{
	static unsigned char buf[70000], want[70000];
	struct writer w = {c, total, 0};
	uint32_t seed = 12345;
	pthread_t t;
	size_t got = 0;
	int n, bad = 0;

	CU_ASSERT_FATAL(pthread_create(&t, NULL, writer_main, &w) == 0);
	while (got < total && (n = cp_client_read(c, (char *)buf,
				   (int)sizeof(buf))) > 0) {
		fill(want, (size_t)n, &seed);
		if (memcmp(buf, want, (size_t)n) != 0)
			bad = 1;
		got += (size_t)n;
	}
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(got, total);
	CU_ASSERT_FALSE(bad);
	CU_ASSERT_FALSE(w.failed);
	if (got != total || bad || w.failed)
		fprintf(stderr, "integrity: got %zu of %zu, bad %d: %s\n", got,
		    total, bad, cp_client_error(c));
}

static uint16_t
gnutls_echo(const char *priority)
{
	char port_arg[32], prio[128];
	uint16_t port = tfree_port(AF_INET);
	char *argv[] = {"gnutls-serv", "--echo", "-q", port_arg,
	    "--x509certfile", tpath(pki, "valid-chain.pem"), "--x509keyfile",
	    tpath(pki, "valid.key"), prio, NULL};

	snprintf(port_arg, sizeof(port_arg), "--port=%u", port);
	snprintf(prio, sizeof(prio), "--priority=%s", priority);
	return tserver_start(argv, port, 0) > 0 ? port : 0;
}

static void
test_integrity_gnutls(void)
{
	static const char *const prios[] = {
		"NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM",
		"NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+CHACHA20-POLY1305",
		"NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM",
		"NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+CHACHA20-POLY1305",
	};
	size_t i;

	for (i = 0; i < sizeof(prios) / sizeof(prios[0]); i++) {
		uint16_t port = gnutls_echo(prios[i]);
		cp_client *c;

		CU_ASSERT_FATAL(port != 0);
		c = cp_client_create_ssl("localhost", port, NULL, NULL,
		    SSL_VERIFY_PEER);
		CU_ASSERT_EQUAL_FATAL(cp_client_connect(c), 0);
		/* The big run once; the others prove each suite. */
		integrity(c, i == 0 ? (size_t)64 << 20 : (size_t)4 << 20);
		CU_ASSERT_EQUAL(cp_client_close(c), 0);
		cp_client_destroy(c);
	}
	tservers_stop();
}

static void
test_nginx(void)
{
	char dir[256], conf[2048], path[300], cmd[600];
	uint16_t port = tfree_port(AF_INET);
	FILE *f;
	cp_client *c;
	char buf[8192];
	int n, got = 0;
	char *argv[] = {"nginx", "-c", path, "-p", dir, NULL};
	static const char req[] =
	    "GET /hello.txt HTTP/1.1\r\nHost: localhost\r\n"
	    "Connection: close\r\n\r\n";

	snprintf(dir, sizeof(dir), "%s/nginx", cu_tmpdir());
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/logs %s/html", dir, dir);
	CU_ASSERT_FATAL(system(cmd) == 0);
	snprintf(path, sizeof(path), "%s/html/hello.txt", dir);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("hello from nginx\n", f);
	fclose(f);
	snprintf(conf, sizeof(conf),
	    "daemon off; master_process off; pid %s/nginx.pid;\n"
	    "error_log %s/logs/error.log;\n"
	    "events { worker_connections 64; }\n"
	    "http { access_log off; server {\n"
	    " listen 127.0.0.1:%u ssl; server_name localhost;\n"
	    " ssl_certificate %s; ssl_certificate_key %s;\n"
	    " ssl_protocols TLSv1.2 TLSv1.3;\n"
	    " root %s/html; } }\n",
	    dir, dir, port, tpath(pki, "valid-chain.pem"), tpath(pki, "valid.key"),
	    dir);
	snprintf(path, sizeof(path), "%s/nginx.conf", dir);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(conf, f);
	fclose(f);
	CU_ASSERT_FATAL(tserver_start(argv, port, 0) > 0);
	c = cp_client_create_ssl("localhost", port, NULL, NULL,
	    SSL_VERIFY_PEER);
	CU_ASSERT_EQUAL_FATAL(cp_client_connect(c), 0);
	CU_ASSERT_EQUAL(cp_client_write(c, req, sizeof(req) - 1),
	    (int)sizeof(req) - 1);
	while (got < (int)sizeof(buf) - 1 &&
	    (n = cp_client_read(c, buf + got, (int)sizeof(buf) - 1 - got)) > 0)
		got += n;
	buf[got > 0 ? got : 0] = '\0';
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "200 OK"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "hello from nginx"));
	/* nginx ends with close_notify: the library reports a clean EOF. */
	CU_ASSERT_EQUAL(cp_client_read(c, buf, sizeof(buf)), 0);
	cp_client_destroy(c);
	tservers_stop();
}

/* The client brings its own trust anchors: the unknown root makes the
 * unknownca leaf verify, and the daemon's own store is not used. */
static void
test_client_anchors(void)
{
	uint16_t p1 = s_server("unknownca", 0, NULL, NULL, NULL, NULL);
	uint16_t p2 = s_server("valid", 1, NULL, NULL, NULL, NULL);
	cp_client *c;
	int i;

	CU_ASSERT_FATAL(p1 != 0 && p2 != 0);
	for (i = 0; i < 2; i++) { /* the second time from the daemon's cache */
		c = cp_client_create_ssl("localhost", p1,
		    tpath(pki, "unknown.pem"), NULL, SSL_VERIFY_PEER);
		CU_ASSERT_EQUAL(cp_client_connect(c), 0);
		CU_ASSERT(http_get(c));
		cp_client_destroy(c);
	}
	c = cp_client_create_ssl("localhost", p2, tpath(pki, "unknown.pem"), NULL,
	    SSL_VERIFY_PEER);
	CU_ASSERT_EQUAL(cp_client_connect(c), -1);
	CU_ASSERT_EQUAL(cp_client_get_verify_result(c),
	    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
	cp_client_destroy(c);
	c = cp_client_create_ssl("localhost", p2, "/nonexistent/ca.pem", NULL,
	    SSL_VERIFY_PEER);
	CU_ASSERT_EQUAL(cp_client_connect(c), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(cp_client_error(c), "/nonexistent"));
	cp_client_destroy(c);
	tservers_stop();
}

static void
test_netns_tls(void)
{
	uint16_t port = s_server("valid", 1, NULL, NULL, NULL, NULL);
	pid_t pid;
	int status;

	CU_ASSERT_FATAL(port != 0);
	pid = fork();
	if (pid == 0) {
		cp_client *c;

		if (unshare(CLONE_NEWNET) == -1)
			_exit(10);
		c = cp_client_create_ssl("localhost", port, NULL, NULL,
		    SSL_VERIFY_PEER);
		if (cp_client_connect(c) != 0)
			_exit(11);
		_exit(http_get(c) ? 0 : 12);
	}
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	tservers_stop();
}

/* The peer chain, leaf first, as the server sent it. */
static void
test_chain(void)
{
	uint16_t port = s_server("valid", 1, NULL, NULL, NULL, NULL);
	cp_client *c = cp_client_create_ssl("localhost", port, NULL, NULL,
	    SSL_VERIFY_PEER);
	STACK_OF(X509) *chain;

	CU_ASSERT_EQUAL_FATAL(cp_client_connect(c), 0);
	chain = cp_client_get_peer_chain(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(chain);
	CU_ASSERT_EQUAL(sk_X509_num(chain), 2);
	CU_ASSERT_PTR_EQUAL(sk_X509_value(chain, 0),
	    cp_client_get_server_certificate(c));
	cp_client_destroy(c);
	tservers_stop();
}

/* A chain of 10 certificates of almost 16 KiB each passes whole: the
 * daemon accepts it, sends every certificate, the library rebuilds it. */
static void
test_big_chain(void)
{
	char dir[128], cmd[4096], cert[160], key[160], chainf[160];
	char portarg[32], *argv[16];
	uint16_t port = tfree_port(AF_INET);
	STACK_OF(X509) *chain;
	cp_client *c;
	int i, rv;

	snprintf(dir, sizeof(dir), "%s/big", cu_tmpdir());
	/* 900 names: each certificate just under 16 KiB. */
	snprintf(cmd, sizeof(cmd),
	    "set -e; mkdir -p %s; cd %s; san=DNS:localhost; i=0; "
	    "while [ $i -lt 900 ]; do san=$san,DNS:n$(printf %%05d $i)"
	    ".big.test; i=$((i+1)); done; : >chain.pem; for n in 0 1 2 3 4 "
	    "5 6 7 8 9; do openssl req -x509 -newkey ec -pkeyopt "
	    "ec_paramgen_curve:P-256 -nodes -keyout k$n.pem -out c$n.pem "
	    "-days 2 -subj /CN=big$n -addext \"subjectAltName=$san\" "
	    "2>/dev/null; [ $n -gt 0 ] && cat c$n.pem >>chain.pem; done; "
	    "for n in 0 9; do s=$(openssl x509 -in c$n.pem -outform der | "
	    "wc -c); [ $s -le 16384 ] && [ $s -gt 15000 ]; done",
	    dir, dir);
	CU_ASSERT_FATAL(system(cmd) == 0);
	snprintf(cert, sizeof(cert), "%s/c0.pem", dir);
	snprintf(key, sizeof(key), "%s/k0.pem", dir);
	snprintf(chainf, sizeof(chainf), "%s/chain.pem", dir);
	snprintf(portarg, sizeof(portarg), "127.0.0.1:%u", port);
	i = 0;
	argv[i++] = "openssl";
	argv[i++] = "s_server";
	argv[i++] = "-accept";
	argv[i++] = portarg;
	argv[i++] = "-www";
	argv[i++] = "-cert";
	argv[i++] = cert;
	argv[i++] = "-key";
	argv[i++] = key;
	argv[i++] = "-cert_chain";
	argv[i++] = chainf;
	argv[i] = NULL;
	CU_ASSERT_FATAL(tserver_start(argv, port, 0) > 0);
	c = cp_client_create_ssl("localhost", port, NULL, NULL,
	    SSL_VERIFY_NONE);
	rv = cp_client_connect(c);
	/* Self-signed and unrelated: connected, with a verify code. */
	CU_ASSERT(rv > 0);
	if (rv < 0)
		fprintf(stderr, "  big chain: %s\n", cp_client_error(c));
	chain = cp_client_get_peer_chain(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(chain);
	CU_ASSERT_EQUAL(sk_X509_num(chain), 10);
	CU_ASSERT(http_get(c));
	cp_client_destroy(c);
	tservers_stop();
}

int
main(void)
{
	CU_pSuite s;

	signal(SIGPIPE, SIG_IGN);
	s = cu_suite("tls through cpconnectd", suite_init, suite_clean);
	cu_test(s, "PKI cases, both verification modes", test_pki_cases);
	cu_test(s, "versions and AEAD ciphers", test_versions_ciphers);
	cu_test(s, "key exchange groups, EC and RSA keys", test_groups_keys);
	cu_test(s, "ALPN and server name", test_alpn_sni);
	cu_test(s, "cn-fallback: CN-only certificates", test_cn_fallback);
	cu_test(s, "64 MiB each way via gnutls-serv", test_integrity_gnutls);
	cu_test(s, "nginx", test_nginx);
	cu_test(s, "client trust anchors", test_client_anchors);
	cu_test(s, "network-less namespace over TLS", test_netns_tls);
	cu_test(s, "peer chain", test_chain);
	cu_test(s, "10 certificates of 16 KiB", test_big_chain);
	return cu_finish();
}
