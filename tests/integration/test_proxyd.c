/* SPDX-License-Identifier: ISC */
/*
 * Upstream proxies through a real cpconnectd: tinyproxy (HTTP CONNECT,
 * with and without Basic credentials) and microsocks (SOCKS5, with and
 * without username/password) from Debian, started here on loopback, plain
 * TCP and TLS end to end against openssl s_server with verification;
 * names the proxy resolves and names the daemon resolves; the test's own
 * hostile proxy (hostileproxy.c) for every failure; the CLI's --json.
 *
 * The real proxies run in a mount namespace of their own whose /etc/hosts
 * knows the test's names: only they can resolve them, so a request that
 * works by name proves the proxy did the resolving.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "cprops/client.h"
#include "cutest.h"
#include "fakedns.h"
#include "itest.h"

static char pki[128], dir[256];
static uint16_t echo_port, tls_port, tp_port, tpa_port, ms_port, msa_port;
static char hosts[300], good_cred[300], bad_cred[300];
static pid_t echo_pid;

/* ---- helpers ---- */

static int
has(const char *hay, const char *needle)
{
	return hay != NULL && strstr(hay, needle) != NULL;
}

/* No CUnit assertion here: suite_init() writes files too. */
static int
write_file(const char *path, int mode, const char *fmt, ...)
{
	va_list ap;
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
	return chmod(path, (mode_t)mode);
}

/* A proxy program inside its own mount namespace, where /etc/hosts is
 * ours.  Its pid (killed by tservers_stop()), or -1. */
static pid_t
start_proxy(const char *cmd, uint16_t port)
{
	char sh[1024];
	char *argv[] = {
	    "unshare", geteuid() == 0 ? "-m" : "-rm", "sh", "-c", sh, NULL};

	snprintf(sh, sizeof(sh), "mount --bind %s /etc/hosts && exec %s", hosts,
	    cmd);
	return tserver_start(argv, port, 0);
}

static pid_t
start_hostile(
    const char *kind, uint16_t port, const char *log, const char *mode)
{
	char bin[300], p[16];
	char *argv[] = {bin, (char *)kind, p, (char *)log, (char *)mode, NULL};

	snprintf(bin, sizeof(bin), "%s/tests/hostileproxy", cu_builddir());
	snprintf(p, sizeof(p), "%u", port);
	unlink(log);
	return tserver_start(argv, port, 0);
}

static int
daemon_up(struct tdaemon *d, const char *extra, const char *fmt, ...)
{
	char conf[4096];
	va_list ap;
	int n;

	n = snprintf(conf, sizeof(conf), "ca-file \"%s/ca.pem\"\n", pki);
	va_start(ap, fmt);
	n += vsnprintf(conf + n, sizeof(conf) - (size_t)n, fmt, ap);
	va_end(ap);
	/* Last, so the lines the tests name stay where they are; as root the
	 * engines need a user that exists on every machine. */
	if (n < 0 || (size_t)n + sizeof("user nobody\n") > sizeof(conf))
		return -1;
	strcat(conf, "user nobody\n");
	if (tdaemon_start(d, conf, extra, NULL) == -1)
		return -1;
	cp_client_set_socket_path(d->sock);
	return 0;
}

struct outcome {
	int rv, err;
	long verify;
	char text[512];
	char proxy[300];
	char peer[64];
	char first[64]; /* what the destination said first, TCP */
};

/* Echo "ping" (after reading a BANNER line, when want_banner) on a
 * connected plain client: 1 if it came back. */
static int
echo_ok(cp_client *c, int want_banner, char *first, size_t fsz)
{
	char buf[64];
	int n, got = 0;

	if (want_banner) {
		while (
		    got < 7 && (n = cp_client_read(c, buf + got, 7 - got)) > 0)
			got += n;
		snprintf(first, fsz, "%.*s", got, buf);
		if (got != 7 || memcmp(buf, "BANNER\n", 7) != 0)
			return 0;
		got = 0;
	}
	if (cp_client_write(c, "ping", 4) != 4)
		return 0;
	while (got < 4 && (n = cp_client_read(c, buf + got, 4 - got)) > 0)
		got += n;
	return got == 4 && memcmp(buf, "ping", 4) == 0;
}

/* An HTTP GET over the TLS connection to s_server -www: 1 if it answered. */
static int
https_ok(cp_client *c)
{
	static const char get[] = "GET / HTTP/1.0\r\n\r\n";
	char buf[32];
	int n, got = 0;

	if (cp_client_write(c, (void *)get, sizeof(get) - 1) !=
	    (int)sizeof(get) - 1)
		return 0;
	while (got < 12 && (n = cp_client_read(c, buf + got, 12 - got)) > 0)
		got += n;
	return got >= 12 && memcmp(buf, "HTTP/1.0 200", 12) == 0;
}

/*
 * One request.  tls: -1 plain TCP (echo, banner first when banner),
 * else TLS with that verification mode against the test root.
 */
static void
attempt(const char *host, uint16_t port, int tls, const char *sni, int banner,
    struct outcome *o)
{
	cp_client *c;

	memset(o, 0, sizeof(*o));
	if (tls < 0)
		c = cp_client_create(host, port);
	else
		c = cp_client_create_ssl(
		    host, port, tpath(pki, "ca.pem"), NULL, tls);
	if (c == NULL) {
		o->rv = -2;
		return;
	}
	cp_client_set_retry(c, 0);
	if (sni != NULL)
		cp_client_set_server_name(c, sni);
	errno = 0;
	o->rv = cp_client_connect(c);
	o->err = errno;
	o->verify = cp_client_get_verify_result(c);
	snprintf(o->text, sizeof(o->text), "%s", cp_client_error(c));
	snprintf(
	    o->proxy, sizeof(o->proxy), "%s", cp_client_get_proxy(c) ?: "");
	snprintf(o->peer, sizeof(o->peer), "%s",
	    cp_client_get_peer_address(c) ?: "");
	if (o->rv == 0 && tls < 0 &&
	    !echo_ok(c, banner, o->first, sizeof(o->first)))
		o->rv = -3;
	if (o->rv == 0 && tls >= 0 && !https_ok(c))
		o->rv = -4;
	cp_client_destroy(c);
	if (getenv("TEST_DEBUG"))
		fprintf(stderr, "  %s:%u: rv %d errno %d: %s\n", host, port,
		    o->rv, o->err, o->text);
}

static char *
slurp(const char *path)
{
	static char buf[65536];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (f != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

/* ---- suite ---- */

static const char *
tinyproxy_conf(const char *name, uint16_t port, int auth)
{
	char *path = tpath(dir, name);

	write_file(path, 0600,
	    "Port %u\nListen 127.0.0.1\nTimeout 10\nMaxClients 50\n"
	    "LogLevel Critical\nDisableViaHeader Yes\n"
	    "ConnectPort %u\nConnectPort %u\n%s",
	    port, echo_port, tls_port, auth ? "BasicAuth alice secret\n" : "");
	return path;
}

static int
suite_init(void)
{
	char cmd[600];
	int lfd;

	snprintf(dir, sizeof(dir), "%s", cu_tmpdir());
	if (tpki_make(pki, sizeof(pki), dir) == -1)
		return -1;
	if ((lfd = tlisten(AF_INET, &echo_port)) == -1)
		return -1;
	echo_pid = techo_start(lfd, 1000);
	close(lfd);
	if ((tls_port = ts_server(pki, 0, 0, "valid", 1, (char *)NULL)) == 0)
		return -1;
	snprintf(hosts, sizeof(hosts), "%s", tpath(dir, "hosts"));
	if (write_file(hosts, 0644,
	        "127.0.0.1 localhost\n"
	        "127.0.0.1 echo.test tls.test good.test bad.test "
	        "none.test\n") == -1)
		return -1;
	snprintf(good_cred, sizeof(good_cred), "%s", tpath(dir, "good.cred"));
	snprintf(bad_cred, sizeof(bad_cred), "%s", tpath(dir, "bad.cred"));
	if (write_file(good_cred, 0600, "alice:secret\n") == -1 ||
	    write_file(bad_cred, 0600, "alice:wrong\n") == -1)
		return -1;
	tp_port = tfree_port(AF_INET);
	snprintf(cmd, sizeof(cmd), "tinyproxy -d -c %s",
	    tinyproxy_conf("tp.conf", tp_port, 0));
	if (start_proxy(cmd, tp_port) == -1)
		return -1;
	tpa_port = tfree_port(AF_INET);
	snprintf(cmd, sizeof(cmd), "tinyproxy -d -c %s",
	    tinyproxy_conf("tpa.conf", tpa_port, 1));
	if (start_proxy(cmd, tpa_port) == -1)
		return -1;
	ms_port = tfree_port(AF_INET);
	snprintf(cmd, sizeof(cmd), "microsocks -i 127.0.0.1 -p %u", ms_port);
	if (start_proxy(cmd, ms_port) == -1)
		return -1;
	msa_port = tfree_port(AF_INET);
	snprintf(cmd, sizeof(cmd),
	    "microsocks -i 127.0.0.1 -p %u -u alice -P secret", msa_port);
	if (start_proxy(cmd, msa_port) == -1)
		return -1;
	return 0;
}

static int
suite_clean(void)
{
	tservers_stop();
	if (echo_pid > 0)
		tkill(echo_pid);
	return 0;
}

/* ---- real proxies ---- */

static void
through_real(const char *scheme, uint16_t port)
{
	struct tdaemon d;
	struct outcome o;
	char want[64];

	snprintf(want, sizeof(want), "%s://127.0.0.1:%u", scheme, port);
	CU_ASSERT_FATAL(daemon_up(&d, NULL,
	                    "allow to 127.0.0.0/8\nallow to any\n"
	                    "proxy \"%s\"\n",
	                    want) == 0);
	/* An address: checked here, asked for as one. */
	attempt("127.0.0.1", echo_port, -1, NULL, 0, &o);
	CU_ASSERT_EQUAL(o.rv, 0);
	CU_ASSERT_STRING_EQUAL(o.proxy, want);
	CU_ASSERT_STRING_EQUAL(o.peer, "127.0.0.1");
	/* A name only the proxy can resolve. */
	attempt("echo.test", echo_port, -1, NULL, 0, &o);
	CU_ASSERT_EQUAL(o.rv, 0);
	CU_ASSERT_STRING_EQUAL(o.peer, "");
	/* TLS end to end, verified, by address and by name. */
	attempt("127.0.0.1", tls_port, SSL_VERIFY_PEER, NULL, 0, &o);
	CU_ASSERT_EQUAL(o.rv, 0);
	CU_ASSERT_EQUAL(o.verify, X509_V_OK);
	attempt("tls.test", tls_port, SSL_VERIFY_PEER, "test.example", 0, &o);
	CU_ASSERT_EQUAL(o.rv, 0);
	CU_ASSERT_EQUAL(o.verify, X509_V_OK);
	/* The name verified is the client's, not the proxy's. */
	attempt("tls.test", tls_port, SSL_VERIFY_PEER, NULL, 0, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT(has(o.text, "certificate"));
	/* Nothing listens there: the proxy says so. */
	attempt("127.0.0.1", tfree_port(AF_INET), -1, NULL, 0, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT(has(o.text, want + strlen(scheme) + 3));
	CU_ASSERT(tdaemon_log_wait(&d, " via ", 5000));
	tdaemon_stop(&d);
}

static void
test_tinyproxy(void)
{
	struct tdaemon d;
	struct outcome o;

	through_real("http", tp_port);
	/* tinyproxy refuses ports its ConnectPort lines do not name. */
	CU_ASSERT_FATAL(
	    daemon_up(&d, NULL,
	        "allow to 127.0.0.0/8\nproxy \"http://127.0.0.1:%u\"\n",
	        tp_port) == 0);
	attempt("127.0.0.1", 9, -1, NULL, 0, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, EACCES);
	CU_ASSERT(
	    has(o.text, "refused the tunnel to 127.0.0.1 port 9 (HTTP 403"));
	tdaemon_stop(&d);
}

static void
test_microsocks(void)
{
	through_real("socks5", ms_port);
}

/* Credentials: right, missing, wrong; read by the parent only, never in
 * the log; still there for the next generation after a reload. */
static void
with_credentials(
    const char *scheme, uint16_t port, const char *missing, const char *wrong)
{
	struct tdaemon d;
	struct outcome o;
	char want[128];

	CU_ASSERT_FATAL(daemon_up(&d, NULL,
	                    "allow to 127.0.0.0/8\nallow to any\n"
	                    "destination good.test {\n"
	                    "\tproxy \"%s://127.0.0.1:%u\"\n"
	                    "\tproxy-credentials \"%s\"\n}\n"
	                    "destination bad.test {\n"
	                    "\tproxy \"%s://127.0.0.1:%u\"\n"
	                    "\tproxy-credentials \"%s\"\n}\n"
	                    "destination none.test {\n"
	                    "\tproxy \"%s://127.0.0.1:%u\"\n}\n",
	                    scheme, port, good_cred, scheme, port, bad_cred,
	                    scheme, port) == 0);
	attempt("good.test", echo_port, -1, NULL, 0, &o);
	CU_ASSERT_EQUAL(o.rv, 0);
	attempt("good.test", tls_port, SSL_VERIFY_PEER, "test.example", 0, &o);
	CU_ASSERT_EQUAL(o.rv, 0);
	attempt("none.test", echo_port, -1, NULL, 0, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, EACCES);
	snprintf(want, sizeof(want), "proxy 127.0.0.1:%u %s", port, missing);
	CU_ASSERT(has(o.text, want));
	CU_ASSERT(tdaemon_log_wait(&d, want, 5000));
	attempt("bad.test", echo_port, -1, NULL, 0, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, EACCES);
	snprintf(want, sizeof(want), "proxy 127.0.0.1:%u %s", port, wrong);
	CU_ASSERT(has(o.text, want));
	/* A new generation of engines gets the credentials again. */
	CU_ASSERT_FATAL(kill(tdaemon_parent(&d), SIGHUP) == 0);
	tmsleep(300);
	attempt("good.test", echo_port, -1, NULL, 0, &o);
	CU_ASSERT_EQUAL(o.rv, 0);
	CU_ASSERT(!tdaemon_log_has(&d, "secret"));
	CU_ASSERT(!tdaemon_log_has(&d, "wrong"));
	CU_ASSERT(!tdaemon_log_has(&d, "YWxpY2U6"));
	tdaemon_stop(&d);
}

static void
test_tinyproxy_auth(void)
{
	/* tinyproxy answers bad credentials with 401, not 407. */
	with_credentials("http", tpa_port, "requires authentication (HTTP 407",
	    "rejected the credentials (HTTP 401");
}

static void
test_microsocks_auth(void)
{
	with_credentials("socks5", msa_port, "requires authentication",
	    "rejected the credentials");
}

/* Credentials files the parent refuses, with file:line. */
static void
test_credentials_files(void)
{
	struct tdaemon d;
	char *loose = tpath(dir, "loose.cred"), *junk = tpath(dir, "junk.cred");

	CU_ASSERT_FATAL(write_file(loose, 0644, "alice:secret\n") == 0);
	CU_ASSERT_FATAL(write_file(junk, 0600, "alice\n") == 0);
	CU_ASSERT_EQUAL(daemon_up(&d, NULL,
	                    "allow to any\nproxy \"http://127.0.0.1:1\"\n"
	                    "proxy-credentials \"%s\"\n",
	                    loose),
	    -1);
	CU_ASSERT(tdaemon_log_has(&d, ":4: proxy-credentials "));
	CU_ASSERT(tdaemon_log_has(&d, "readable by others"));
	tdaemon_stop(&d);
	CU_ASSERT_EQUAL(daemon_up(&d, NULL,
	                    "allow to any\nproxy \"http://127.0.0.1:1\"\n"
	                    "proxy-credentials \"%s\"\n",
	                    junk),
	    -1);
	CU_ASSERT(tdaemon_log_has(&d, "not user:password"));
	CU_ASSERT(!tdaemon_log_has(&d, "alice"));
	tdaemon_stop(&d);
}

/* ---- the hostile proxy ---- */

static const struct {
	uint16_t port;
	int err;
	const char *text;
} http_cases[] = {
    {2, EACCES,
        "requires authentication (HTTP 407 Proxy Authentication "
        "Required)"},
    {3, EACCES, "refused the tunnel to h.test port 3 (HTTP 403 Forbidden)"},
    {4, EHOSTUNREACH,
        "could not reach h.test port 4 (HTTP 502 Bad "
        "Gateway)"},
    {5, EAGAIN, "is unavailable (HTTP 503 Service Unavailable)"},
    {6, ETIMEDOUT, "timed out connecting to h.test port 6 (HTTP 504"},
    {7, EPROTO,
        "refused the tunnel to h.test port 7 (HTTP 418 I'm a "
        "teapot)"},
    {8, EPROTO, "sent a malformed status line"},
    {9, ETIMEDOUT, "did not answer within"},
    {10, ECONNRESET, "closed the connection before its answer"},
    {11, EPROTO, "sent an answer header over 8192 bytes"},
    {12, EPROTO, "sent a malformed status line"},
};

static void
test_hostile_http(void)
{
	char log[300], want[300];
	struct tdaemon d;
	struct outcome o;
	uint16_t hp = tfree_port(AF_INET);
	size_t i;

	snprintf(log, sizeof(log), "%s", tpath(dir, "hhttp.log"));
	CU_ASSERT_FATAL(start_hostile("http", hp, log, NULL) > 0);
	CU_ASSERT_FATAL(daemon_up(&d, NULL,
	                    "request-timeout 1s\nallow to any\n"
	                    "proxy \"http://127.0.0.1:%u\"\n",
	                    hp) == 0);
	/* Bytes the proxy sent after its 200, in the same write: the
	 * client's, first in its stream. */
	attempt("h.test", 1, -1, NULL, 1, &o);
	CU_ASSERT_EQUAL(o.rv, 0);
	CU_ASSERT_STRING_EQUAL(o.first, "BANNER\n");
	attempt("h.test", 13, -1, NULL, 1, &o);
	CU_ASSERT_EQUAL(o.rv, 0);
	CU_ASSERT_STRING_EQUAL(o.first, "BANNER\n");
	CU_ASSERT(has(slurp(log), "http CONNECT h.test:1 HTTP/1.1 auth=no"));
	for (i = 0; i < sizeof(http_cases) / sizeof(http_cases[0]); i++) {
		attempt("h.test", http_cases[i].port, -1, NULL, 0, &o);
		CU_ASSERT_EQUAL(o.rv, -1);
		CU_ASSERT_EQUAL(o.err, http_cases[i].err);
		snprintf(want, sizeof(want), "proxy 127.0.0.1:%u", hp);
		CU_ASSERT(has(o.text, want));
		CU_ASSERT(has(o.text, http_cases[i].text));
		CU_ASSERT(tdaemon_log_wait(&d, http_cases[i].text, 5000));
		if (!has(o.text, http_cases[i].text))
			fprintf(stderr, "  port %u: %s\n", http_cases[i].port,
			    o.text);
	}
	tdaemon_stop(&d);
}

static const struct {
	uint16_t port;
	int err;
	const char *text;
} socks_cases[] = {
    {101, EIO, "general SOCKS server failure (SOCKS5 reply 1)"},
    {102, EACCES, "connection not allowed by ruleset (SOCKS5 reply 2)"},
    {103, ENETUNREACH, "network unreachable (SOCKS5 reply 3)"},
    {104, EHOSTUNREACH, "host unreachable (SOCKS5 reply 4)"},
    {105, ECONNREFUSED, "connection refused (SOCKS5 reply 5)"},
    {106, EHOSTUNREACH, "TTL expired (SOCKS5 reply 6)"},
    {107, EOPNOTSUPP, "command not supported (SOCKS5 reply 7)"},
    {108, EAFNOSUPPORT, "address type not supported (SOCKS5 reply 8)"},
    {109, EPROTO, "unknown SOCKS5 reply code 9"},
    {23, EPROTO, "sent a bad reply (version byte 0x04)"},
    {26, EPROTO, "sent a reply with an empty bound name"},
    {27, EPROTO, "sent a reply with address type 9"},
    {29, ECONNRESET, "closed the connection before its answer"},
};

static const struct {
	const char *mode;
	int err;
	const char *text;
} socks_modes[] = {
    {"noacc", EACCES, "requires authentication"},
    {"gssapi", EPROTO,
        "chose authentication method 0x01, which was not "
        "offered"},
    {"ver4", EPROTO, "is not a SOCKS5 proxy (version byte 0x04)"},
    {"close", ECONNRESET, "closed the connection before its answer"},
    {"stall", ETIMEDOUT, "did not answer within"},
};

static void
test_hostile_socks(void)
{
	char log[300], want[300], conf[2048], *l;
	uint16_t hp = tfree_port(AF_INET), mp[5];
	struct tdaemon d;
	struct outcome o;
	size_t i, n = 0;

	snprintf(log, sizeof(log), "%s", tpath(dir, "hsocks.log"));
	CU_ASSERT_FATAL(start_hostile("socks5", hp, log, "ok") > 0);
	n += (size_t)snprintf(conf + n, sizeof(conf) - n,
	    "request-timeout 1s\nallow to any\n"
	    "proxy \"socks5://127.0.0.1:%u\"\n"
	    "destination auth.test {\n\tproxy \"socks5://127.0.0.1:%u\"\n"
	    "\tproxy-credentials \"%s\"\n}\n",
	    hp, hp, good_cred);
	for (i = 0; i < 5; i++) {
		mp[i] = tfree_port(AF_INET);
		CU_ASSERT_FATAL(start_hostile("socks5", mp[i],
		                    tpath(dir, socks_modes[i].mode),
		                    socks_modes[i].mode) > 0);
		n += (size_t)snprintf(conf + n, sizeof(conf) - n,
		    "destination %s.test {\n"
		    "\tproxy \"socks5://127.0.0.1:%u\"\n}\n",
		    socks_modes[i].mode, mp[i]);
	}
	CU_ASSERT_FATAL(daemon_up(&d, NULL, "%s", conf) == 0);
	attempt("s.test", 1, -1, NULL, 1, &o);
	CU_ASSERT_EQUAL(o.rv, 0);
	CU_ASSERT_STRING_EQUAL(o.first, "BANNER\n");
	attempt("auth.test", 1, -1, NULL, 1, &o);
	CU_ASSERT_EQUAL(o.rv, 0);
	l = slurp(log);
	/* The name goes to the proxy (ATYP 3); the credentials as RFC 1929
	 * has them. */
	CU_ASSERT(has(l, "socks atyp=3 s.test port 1\n"));
	CU_ASSERT(has(l, "socks atyp=3 auth.test port 1 auth=alice:secret "
	                 "ver=1\n"));
	for (i = 0; i < sizeof(socks_cases) / sizeof(socks_cases[0]); i++) {
		attempt("s.test", socks_cases[i].port, -1, NULL, 0, &o);
		CU_ASSERT_EQUAL(o.rv, -1);
		CU_ASSERT_EQUAL(o.err, socks_cases[i].err);
		CU_ASSERT(has(o.text, socks_cases[i].text));
		CU_ASSERT(tdaemon_log_wait(&d, socks_cases[i].text, 5000));
		if (!has(o.text, socks_cases[i].text))
			fprintf(stderr, "  port %u: %s\n", socks_cases[i].port,
			    o.text);
	}
	for (i = 0; i < 5; i++) {
		snprintf(want, sizeof(want), "%s.test", socks_modes[i].mode);
		attempt(want, 1, -1, NULL, 0, &o);
		CU_ASSERT_EQUAL(o.rv, -1);
		CU_ASSERT_EQUAL(o.err, socks_modes[i].err);
		CU_ASSERT(has(o.text, socks_modes[i].text));
		snprintf(want, sizeof(want), "proxy 127.0.0.1:%u", mp[i]);
		CU_ASSERT(has(o.text, want));
		if (!has(o.text, socks_modes[i].text))
			fprintf(
			    stderr, "  %s: %s\n", socks_modes[i].mode, o.text);
	}
	tdaemon_stop(&d);
}

/* The proxy itself does not answer: the dial's failure, naming it. */
static void
test_proxy_down(void)
{
	struct tdaemon d;
	struct outcome o;
	uint16_t dead = tfree_port(AF_INET);
	char want[64];

	CU_ASSERT_FATAL(
	    daemon_up(&d, NULL,
	        "allow to any\nproxy \"socks5://127.0.0.1:%u\"\n", dead) == 0);
	attempt("x.test", 1, -1, NULL, 0, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, ECONNREFUSED);
	snprintf(want, sizeof(want), "proxy 127.0.0.1:%u: connect to", dead);
	CU_ASSERT(has(o.text, want));
	tdaemon_stop(&d);
}

/* ---- resolution and policy ---- */

static void
test_resolution(void)
{
	static const struct fakedns_rec recs[] = {
	    {"two.test", FAKEDNS_A, "127.0.0.2", 0},
	    {"two.test", FAKEDNS_A, "127.0.0.1", 0},
	    {"deny.test", FAKEDNS_A, "127.0.0.3", 0},
	    {"a.rem", FAKEDNS_A, "127.0.0.1", 0},
	    {"b.named", FAKEDNS_A, "127.0.0.1", 0},
	};
	char log[300], extra[64], want[128];
	uint16_t hp = tfree_port(AF_INET), dnsport;
	struct fakedns *dns;
	struct tdaemon d;
	struct outcome o;
	char *l;

	snprintf(log, sizeof(log), "%s", tpath(dir, "hres.log"));
	CU_ASSERT_FATAL(start_hostile("socks5", hp, log, "ok") > 0);
	CU_ASSERT_FATAL(fakedns_start(&dns, recs,
	                    sizeof(recs) / sizeof(recs[0]), &dnsport) == 0);
	snprintf(extra, sizeof(extra), "-R %s", fakedns_servers(dns));
	CU_ASSERT_FATAL(daemon_up(&d, extra,
	                    "deny to 127.0.0.3\n"
	                    "allow to \"*.named\"\n"
	                    "allow to 127.0.0.0/8\n"
	                    "destination \"*.test\" {\n"
	                    "\tproxy \"socks5://127.0.0.1:%u\"\n"
	                    "\tproxy-resolve local\n}\n"
	                    "destination \"*.rem\" {\n"
	                    "\tproxy \"socks5://127.0.0.1:%u\"\n}\n"
	                    "destination \"*.named\" {\n"
	                    "\tproxy \"socks5://127.0.0.1:%u\"\n}\n"
	                    "destination 127.0.0.1 port %u {\n"
	                    "\tproxy none\n}\n"
	                    "destination \"*.tie\" port 1 {\n"
	                    "\tproxy \"socks5://127.0.0.1:%u\"\n}\n"
	                    "destination \"*.tie\" port 1:2 {\n"
	                    "\tproxy \"http://127.0.0.1:%u\"\n}\n",
	                    hp, hp, hp, echo_port, hp, hp) == 0);
	/* Local: the daemon resolves, the rules see the addresses, the
	 * proxy gets an address; an unreachable one moves on to the next. */
	attempt("two.test", 1, -1, NULL, 1, &o);
	CU_ASSERT_EQUAL(o.rv, 0);
	CU_ASSERT_STRING_EQUAL(o.peer, "127.0.0.1");
	l = slurp(log);
	CU_ASSERT(has(l, "socks atyp=1 127.0.0.1 port 1\n"));
	CU_ASSERT(!has(l, "two.test"));
	attempt("deny.test", 1, -1, NULL, 0, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, EACCES);
	snprintf(want, sizeof(want),
	    "no address allowed: denied by rule at "
	    "%s:2",
	    d.conf);
	CU_ASSERT(has(o.text, want));
	CU_ASSERT(!has(slurp(log), "127.0.0.3"));
	/* Remote: only name rules can apply; a name only an address rule
	 * allows is refused, and nobody asked the DNS. */
	attempt("a.rem", 1, -1, NULL, 0, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, EACCES);
	CU_ASSERT(has(o.text, "proxy-resolve remote"));
	CU_ASSERT_EQUAL(fakedns_queries_for(dns, "a.rem"), 0);
	attempt("b.named", 1, -1, NULL, 1, &o);
	CU_ASSERT_EQUAL(o.rv, 0);
	CU_ASSERT_STRING_EQUAL(o.peer, "");
	CU_ASSERT(has(slurp(log), "socks atyp=3 b.named port 1\n"));
	CU_ASSERT_EQUAL(fakedns_queries_for(dns, "b.named"), 0);
	/* proxy none exempts a block. */
	attempt("127.0.0.1", echo_port, -1, NULL, 0, &o);
	CU_ASSERT_EQUAL(o.rv, 0);
	CU_ASSERT_STRING_EQUAL(o.proxy, "");
	/* Equally specific blocks naming different proxies. */
	attempt("x.tie", 1, -1, NULL, 0, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, EACCES);
	CU_ASSERT(has(o.text, "name different proxies for x.tie"));
	tdaemon_stop(&d);
	fakedns_stop(dns);
}

/* ---- the command line ---- */

static void
test_cli(void)
{
	char cmd[600], out[4096], want[128];
	struct tdaemon d;
	FILE *p;
	size_t n;

	CU_ASSERT_FATAL(
	    daemon_up(&d, NULL,
	        "allow to 127.0.0.0/8\nproxy \"http://127.0.0.1:%u\"\n",
	        tp_port) == 0);
	snprintf(cmd, sizeof(cmd),
	    "%s/cpconnect -S %s -t --ca-file %s -j 127.0.0.1 %u </dev/null",
	    cu_builddir(), d.sock, tpath(pki, "ca.pem"), tls_port);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p = popen(cmd, "r"));
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	CU_ASSERT_EQUAL(pclose(p), 0);
	snprintf(
	    want, sizeof(want), "\"proxy\":\"http://127.0.0.1:%u\"", tp_port);
	CU_ASSERT(has(out, want));
	CU_ASSERT(has(out, "\"verify_result\":0"));
	snprintf(cmd, sizeof(cmd),
	    "%s/cpconnect -S %s -i 127.0.0.1 %u </dev/null 2>&1 >/dev/null",
	    cu_builddir(), d.sock, echo_port);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p = popen(cmd, "r"));
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	pclose(p);
	snprintf(want, sizeof(want), "proxy: http://127.0.0.1:%u\n", tp_port);
	CU_ASSERT(has(out, want));
	tdaemon_stop(&d);
}

int
main(void)
{
	CU_pSuite s = cu_suite("proxyd", suite_init, suite_clean);

	cu_test(s, "tinyproxy: TCP and TLS, by address and by name",
	    test_tinyproxy);
	cu_test(s, "microsocks: TCP and TLS, by address and by name",
	    test_microsocks);
	cu_test(s, "tinyproxy with Basic credentials", test_tinyproxy_auth);
	cu_test(s, "microsocks with username/password", test_microsocks_auth);
	cu_test(s, "credentials files refused", test_credentials_files);
	cu_test(s, "hostile HTTP proxy: every failure", test_hostile_http);
	cu_test(s, "hostile SOCKS5 proxy: every failure", test_hostile_socks);
	cu_test(s, "proxy not listening", test_proxy_down);
	cu_test(s, "local and remote resolution, proxy none, ties",
	    test_resolution);
	cu_test(s, "cpconnect --json and --info", test_cli);
	return cu_finish();
}
