/* SPDX-License-Identifier: ISC */
/*
 * Shared TLS session resumption through a real cpconnectd against openssl
 * s_server: every connect is made by a fresh process (fork), which checks
 * what the library says (cp_client_session_resumed) against what the
 * server says ("Reused" or "New" on its -www page).  TLS 1.2 and 1.3 (the
 * 1.3 ticket comes back through the library), per-user isolation, the
 * shared and off modes, the LRU bound, a reload that changes pins, the
 * return codes of a certificate that does not verify, and cpconnectctl
 * cache list / cache flush.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "cprops/client.h"
#include "cutest.h"
#include "itest.h"

static char pki[128];
static uid_t other_uid = (uid_t)-1; /* nobody, when we are root */
static gid_t other_gid;

#define R_NEW 0
#define R_RESUMED 1

static const char *
conf_for(const char *extra)
{
	static char conf[2048];

	snprintf(conf, sizeof(conf),
	    "user nobody\n"
	    "engines 2\n"
	    "ca-file \"%s/ca.pem\"\n"
	    "allow from any to 127.0.0.0/8\n"
	    "%s",
	    pki, extra != NULL ? extra : "");
	return conf;
}

/* What the fresh process reports: R_NEW, R_RESUMED, or 10 + what went
 * wrong. */
static int
child_main(const char *sock, uint16_t port, int verify, long expect)
{
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	char buf[16384];
	STACK_OF(X509) * chain;
	cp_client *c;
	int n, got = 0, resumed, reused;
	long rv;

	cp_client_set_socket_path(sock);
	if ((c = cp_client_create_ssl("localhost", port, NULL, NULL, verify)) ==
	    NULL)
		return 10;
	cp_client_set_retry(c, 0);
	rv = cp_client_connect(c);
	if (rv != expect)
		return 11;
	if (rv == -1)
		return R_NEW; /* nothing to resume: and reported as before */
	resumed = cp_client_session_resumed(c);
	/* The chain as sent, leaf and intermediate; after a resumed
	 * handshake the same, kept with the session, whichever engine
	 * resumed it. */
	chain = cp_client_get_peer_chain(c);
	if (chain == NULL || sk_X509_num(chain) != 2 ||
	    sk_X509_value(chain, 0) != c->server_certificate ||
	    X509_check_issued(
	        sk_X509_value(chain, 1), sk_X509_value(chain, 0)) != X509_V_OK)
		return 15;
	if (cp_client_write(c, req, sizeof(req) - 1) != sizeof(req) - 1)
		return 12;
	/* Reading is what brings a TLS 1.3 ticket back to the daemon. */
	while (
	    got < (int)sizeof(buf) - 1 &&
	    (n = cp_client_read(c, buf + got, (int)sizeof(buf) - 1 - got)) > 0)
		got += n;
	buf[got] = '\0';
	cp_client_destroy(c);
	if (strstr(buf, "Reused, TLSv1.") != NULL)
		reused = 1;
	else if (strstr(buf, "New, TLSv1.") != NULL)
		reused = 0;
	else
		return 13;
	if (reused != resumed)
		return 14; /* the library and the server disagree */
	return resumed ? R_RESUMED : R_NEW;
}

/* One connect in a fresh process running as uid (-1: ours). */
static int
fresh(
    const struct tdaemon *d, uid_t uid, uint16_t port, int verify, long expect)
{
	pid_t pid;
	int st;

	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		if (uid != (uid_t)-1 &&
		    (setgid(other_gid) == -1 || setuid(uid) == -1))
			_exit(20);
		_exit(child_main(d->sock, port, verify, expect));
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	if (WEXITSTATUS(st) >= 10)
		fprintf(
		    stderr, "  fresh process: failure %d\n", WEXITSTATUS(st));
	return WEXITSTATUS(st);
}

static int
verified(const struct tdaemon *d, uint16_t port)
{
	return fresh(d, (uid_t)-1, port, SSL_VERIFY_PEER, 0);
}

/* "cpconnectctl -s <ctl> args" output. */
static char *
ctl(const struct tdaemon *d, const char *args, int *rc)
{
	static char out[65536];
	char cmd[512];
	size_t got = 0, n;
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd), "%s/cpconnectctl -s %s.ctl %s 2>&1",
	    cu_builddir(), d->sock, args);
	out[0] = '\0';
	*rc = -1;
	if ((p = popen(cmd, "r")) == NULL)
		return out;
	while (got < sizeof(out) - 1 &&
	       (n = fread(out + got, 1, sizeof(out) - 1 - got, p)) > 0)
		got += n;
	out[got] = '\0';
	st = pclose(p);
	*rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return out;
}

static long
json_num(const char *js, const char *key)
{
	char pat[96];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	if ((p = strstr(js, pat)) == NULL)
		return -1;
	return strtol(p + strlen(pat), NULL, 10);
}

static long
cached(const struct tdaemon *d)
{
	int rc;

	return json_num(ctl(d, "--json cache list", &rc), "count");
}

/*
 * Sessions reach the parent, and through it the other engine, a moment
 * after the handshake (a TLS 1.3 one only once the library has read the
 * ticket): wait, bounded, until the parent holds at least n.
 */
static int
wait_cached(const struct tdaemon *d, long n)
{
	for (int i = 0; i < 60; i++) {
		if (cached(d) >= n) {
			tmsleep(50); /* the broadcast to the engines */
			return 1;
		}
		tmsleep(50);
	}
	return 0;
}

/* A counter of `cpconnectctl --json stats`, as the parent last heard it
 * from the engines (once a second): wait, bounded, for at least n. */
static long
wait_stat(const struct tdaemon *d, const char *key, long n)
{
	long v = -1;
	int rc;

	for (int i = 0; i < 60 && v < n; i++) {
		if ((v = json_num(ctl(d, "--json stats", &rc), key)) < n)
			tmsleep(50);
	}
	return v;
}

static uint16_t
server(const char *leaf, const char *version)
{
	return ts_server(pki, 0, 0, leaf, 1, version, (char *)NULL);
}

static int
suite_init(void)
{
	struct passwd *pw;

	if (tpki_make(pki, sizeof(pki), cu_tmpdir()) == -1)
		return -1;
	if (geteuid() == 0 && (pw = getpwnam("nobody")) != NULL) {
		other_uid = pw->pw_uid;
		other_gid = pw->pw_gid;
	}
	return 0;
}

static int
suite_clean(void)
{
	tservers_stop();
	return 0;
}

/* A second process resumes the first one's session, through either
 * engine; the daemon's log says so too. */
static void
two_processes(const char *version)
{
	struct tdaemon d;
	uint16_t port = server("valid", version);
	int i;

	CU_ASSERT_FATAL(port != 0);
	CU_ASSERT_FATAL(tdaemon_start(&d, conf_for(NULL), NULL, NULL) == 0);
	CU_ASSERT_EQUAL(verified(&d, port), R_NEW);
	CU_ASSERT(wait_cached(&d, 1));
	for (i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(verified(&d, port), R_RESUMED);
	CU_ASSERT(tdaemon_log_has(&d, "verify 0, resumed"));
	tdaemon_stop(&d);
}

static void
test_tls12(void)
{
	two_processes("-tls1_2");
}

static void
test_tls13(void)
{
	two_processes("-tls1_3");
}

/*
 * More TLS 1.3 connections waiting for tickets than an engine keeps
 * (RESUME_PENDING): a server that sends none fills every slot, each new
 * wait ends the oldest (its SSL object freed after the reply), and a
 * server that does send one is still resumed afterwards.  One process,
 * so one pooled session and one engine takes them all.
 */
static void
test_tls13_many_waits(void)
{
	struct tdaemon d;
	uint16_t quiet = ts_server(pki, 0, 0, "valid", 1, "-tls1_3",
	    "-num_tickets", "0", (char *)NULL);
	uint16_t port = server("valid", "-tls1_3");
	cp_client *c;
	int i, ok = 0;

	CU_ASSERT_FATAL(quiet != 0 && port != 0);
	CU_ASSERT_FATAL(tdaemon_start(&d, conf_for(NULL), NULL, NULL) == 0);
	cp_client_set_socket_path(d.sock);
	for (i = 0; i < 64 + 16; i++) {
		c = cp_client_create_ssl(
		    "localhost", quiet, NULL, NULL, SSL_VERIFY_PEER);
		if (c != NULL && cp_client_connect(c) == 0 &&
		    !cp_client_session_resumed(c))
			ok++;
		cp_client_destroy(c);
	}
	cp_client_shutdown();
	CU_ASSERT_EQUAL(ok, 64 + 16);
	CU_ASSERT_EQUAL(verified(&d, port), R_NEW);
	CU_ASSERT(wait_cached(&d, 1));
	CU_ASSERT_EQUAL(verified(&d, port), R_RESUMED);
	tdaemon_stop(&d);
}

/* Another uid does not get root's session; its own it does. */
static void
test_per_user(void)
{
	struct tdaemon d;
	uint16_t port = server("valid", "-tls1_3");

	CU_ASSERT_FATAL(port != 0 && other_uid != (uid_t)-1);
	CU_ASSERT_FATAL(tdaemon_start(&d, conf_for(NULL), NULL, NULL) == 0);
	CU_ASSERT_EQUAL(verified(&d, port), R_NEW);
	CU_ASSERT(wait_cached(&d, 1));
	CU_ASSERT_EQUAL(fresh(&d, other_uid, port, SSL_VERIFY_PEER, 0), R_NEW);
	CU_ASSERT(wait_cached(&d, 2));
	CU_ASSERT_EQUAL(
	    fresh(&d, other_uid, port, SSL_VERIFY_PEER, 0), R_RESUMED);
	CU_ASSERT_EQUAL(verified(&d, port), R_RESUMED);
	tdaemon_stop(&d);
}

static void
test_shared(void)
{
	struct tdaemon d;
	uint16_t port = server("valid", "-tls1_2");

	CU_ASSERT_FATAL(port != 0 && other_uid != (uid_t)-1);
	CU_ASSERT_FATAL(tdaemon_start(&d, conf_for("session-cache shared\n"),
	                    NULL, NULL) == 0);
	CU_ASSERT_EQUAL(verified(&d, port), R_NEW);
	CU_ASSERT(wait_cached(&d, 1));
	CU_ASSERT_EQUAL(
	    fresh(&d, other_uid, port, SSL_VERIFY_PEER, 0), R_RESUMED);
	tdaemon_stop(&d);
}

static void
test_off(void)
{
	struct tdaemon d;
	uint16_t port = server("valid", "-tls1_2");
	int rc;

	CU_ASSERT_FATAL(port != 0);
	CU_ASSERT_FATAL(tdaemon_start(&d, conf_for("session-cache off\n"), NULL,
	                    NULL) == 0);
	CU_ASSERT_EQUAL(verified(&d, port), R_NEW);
	tmsleep(200);
	CU_ASSERT_EQUAL(verified(&d, port), R_NEW);
	CU_ASSERT_EQUAL(verified(&d, port), R_NEW);
	CU_ASSERT_EQUAL(cached(&d), 0);
	CU_ASSERT(strstr(ctl(&d, "stats", &rc), "off") != NULL);
	/* Three full handshakes to one chain, on two engines at most: one
	 * engine at least verified it once and remembered it. */
	CU_ASSERT(wait_stat(&d, "cached", 1) >= 1);
	tdaemon_stop(&d);
}

/* verify-cache off: every full handshake verifies its chain. */
static void
test_verify_cache_off(void)
{
	struct tdaemon d;
	uint16_t port = server("valid", "-tls1_2");
	const char *o;
	int rc, i;

	CU_ASSERT_FATAL(port != 0);
	CU_ASSERT_FATAL(
	    tdaemon_start(&d, conf_for("session-cache off\nverify-cache off\n"),
	        NULL, NULL) == 0);
	for (i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(verified(&d, port), R_NEW);
	/* Once the parent has heard of all three handshakes. */
	CU_ASSERT_EQUAL(wait_stat(&d, "handshakes", 3), 3);
	o = ctl(&d, "--json stats", &rc);
	CU_ASSERT_EQUAL(json_num(o, "cached"), 0);
	tdaemon_stop(&d);
}

/* A program's own CA file: the engines keep its chains too, under the
 * anchor set's hash. */
static void
test_verify_cache_anchors(void)
{
	struct tdaemon d;
	uint16_t port = server("valid", "-tls1_2");
	char ca[256];
	cp_client *c;
	int i;

	CU_ASSERT_FATAL(port != 0);
	CU_ASSERT_FATAL(tdaemon_start(&d, conf_for("session-cache off\n"), NULL,
	                    NULL) == 0);
	snprintf(ca, sizeof(ca), "%s/ca.pem", pki);
	cp_client_set_socket_path(d.sock);
	for (i = 0; i < 3; i++) {
		c = cp_client_create_ssl(
		    "localhost", port, ca, NULL, SSL_VERIFY_PEER);
		CU_ASSERT_PTR_NOT_NULL_FATAL(c);
		cp_client_set_retry(c, 0);
		CU_ASSERT_EQUAL(cp_client_connect(c), 0);
		CU_ASSERT_EQUAL(cp_client_session_resumed(c), 0);
		cp_client_destroy(c);
	}
	cp_client_shutdown(); /* this process's pooled daemon session */
	CU_ASSERT(wait_stat(&d, "cached", 1) >= 1);
	tdaemon_stop(&d);
}

/* session-cache-size 2: the least recently used of three goes. */
static void
test_lru(void)
{
	struct tdaemon d;
	uint16_t a = server("valid", "-tls1_2"), b = server("valid", "-tls1_2"),
	         c = server("valid", "-tls1_2");

	CU_ASSERT_FATAL(a && b && c);
	CU_ASSERT_FATAL(tdaemon_start(&d, conf_for("session-cache-size 2\n"),
	                    NULL, NULL) == 0);
	CU_ASSERT_EQUAL(verified(&d, a), R_NEW);
	CU_ASSERT(wait_cached(&d, 1));
	CU_ASSERT_EQUAL(verified(&d, b), R_NEW);
	CU_ASSERT(wait_cached(&d, 2));
	CU_ASSERT_EQUAL(verified(&d, a), R_RESUMED); /* a is the newest */
	CU_ASSERT_EQUAL(verified(&d, c), R_NEW);     /* b goes */
	tmsleep(300);
	CU_ASSERT_EQUAL(cached(&d), 2);
	CU_ASSERT_EQUAL(verified(&d, b), R_NEW);
	tmsleep(300);
	CU_ASSERT_EQUAL(cached(&d), 2);
	tdaemon_stop(&d);
}

/* The SPKI SHA-256 of a certificate, base64, by the openssl tool. */
static int
spki_pin(const char *pem, char *out, size_t outlen)
{
	char cmd[512];
	FILE *p;
	size_t n;

	snprintf(cmd, sizeof(cmd),
	    "openssl x509 -in %s -pubkey -noout | "
	    "openssl pkey -pubin -outform der | "
	    "openssl dgst -sha256 -binary | base64",
	    pem);
	if ((p = popen(cmd, "r")) == NULL)
		return -1;
	if (fgets(out, (int)outlen, p) == NULL) {
		pclose(p);
		return -1;
	}
	if (pclose(p) != 0)
		return -1;
	n = strcspn(out, "\r\n");
	out[n] = '\0';
	return n == 44 ? 0 : -1;
}

/* Rewrite the daemon's file, reload, and wait until only the new
 * generation's two engines are left. */
static int
reload(struct tdaemon *d, const char *text)
{
	pid_t pids[8];
	FILE *f;
	int rc, i;

	if ((f = fopen(d->conf, "w")) == NULL)
		return -1;
	fputs(text, f);
	fclose(f);
	ctl(d, "reload", &rc);
	if (rc != 0)
		return -1;
	for (i = 0; i < 100; i++) {
		if (tdaemon_engines(d, pids, 8) == 2)
			return 0;
		tmsleep(50);
	}
	return -1;
}

/*
 * A pinned destination resumes (the pins are checked against the chain
 * digests kept with the session); a reload that changes the pins makes
 * the old sessions useless; a pin that no longer matches denies the
 * connection, resumed or not, with the verification failure of a full
 * handshake.
 */
static void
test_reload_pins(void)
{
	struct tdaemon d;
	char block[512], good[64], other[64];
	uint16_t port = server("valid", "-tls1_3");

	CU_ASSERT_FATAL(port != 0);
	CU_ASSERT_FATAL(
	    spki_pin(tpath(pki, "valid.pem"), good, sizeof(good)) == 0);
	CU_ASSERT_FATAL(
	    spki_pin(tpath(pki, "valid-rsa.pem"), other, sizeof(other)) == 0);
	snprintf(block, sizeof(block),
	    "destination \"localhost\" port %u {\n\tpin sha256 \"%s\"\n}\n",
	    port, good);
	CU_ASSERT_FATAL(tdaemon_start(&d, conf_for(block), NULL, NULL) == 0);
	CU_ASSERT_EQUAL(verified(&d, port), R_NEW);
	CU_ASSERT(wait_cached(&d, 1));
	CU_ASSERT_EQUAL(verified(&d, port), R_RESUMED);

	/* Another good pin besides: the sessions are of another policy. */
	snprintf(block, sizeof(block),
	    "destination \"localhost\" port %u {\n\tpin sha256 \"%s\"\n"
	    "\tpin sha256 \"%s\"\n}\n",
	    port, good, other);
	CU_ASSERT_FATAL(reload(&d, conf_for(block)) == 0);
	CU_ASSERT_EQUAL(verified(&d, port), R_NEW);
	CU_ASSERT(wait_cached(&d, 2));
	CU_ASSERT_EQUAL(verified(&d, port), R_RESUMED);

	/* The pin no longer matches: denied, as a full handshake is. */
	snprintf(block, sizeof(block),
	    "destination \"localhost\" port %u {\n\tpin sha256 \"%s\"\n}\n",
	    port, other);
	CU_ASSERT_FATAL(reload(&d, conf_for(block)) == 0);
	CU_ASSERT_EQUAL(fresh(&d, (uid_t)-1, port, SSL_VERIFY_PEER, -1), R_NEW);
	CU_ASSERT_EQUAL(fresh(&d, (uid_t)-1, port, SSL_VERIFY_NONE, -1), R_NEW);
	CU_ASSERT(tdaemon_log_has(&d, "matches a pinned key"));
	tdaemon_stop(&d);
}

/*
 * The sessions outlive the engines: after a reload that changes nothing
 * they depend on, the new engines got them from the parent and resume.
 */
static void
test_reload_keeps(void)
{
	struct tdaemon d;
	uint16_t port = server("valid", "-tls1_3");

	CU_ASSERT_FATAL(port != 0);
	CU_ASSERT_FATAL(tdaemon_start(&d, conf_for(NULL), NULL, NULL) == 0);
	CU_ASSERT_EQUAL(verified(&d, port), R_NEW);
	CU_ASSERT(wait_cached(&d, 1));
	CU_ASSERT_FATAL(reload(&d, conf_for("max-requests 500\n")) == 0);
	tmsleep(300); /* the new engines read their replica */
	CU_ASSERT_EQUAL(verified(&d, port), R_RESUMED);
	CU_ASSERT_EQUAL(verified(&d, port), R_RESUMED);
	tdaemon_stop(&d);
}

/*
 * A certificate that does not verify is never cached: every connect
 * reports it as the first did, -1 under SSL_VERIFY_PEER, the code under
 * SSL_VERIFY_NONE, with a full handshake each time.
 */
static void
test_verify_failure(void)
{
	struct tdaemon d;
	uint16_t port = server("wrongname", "-tls1_2");
	int i;

	CU_ASSERT_FATAL(port != 0);
	CU_ASSERT_FATAL(tdaemon_start(&d, conf_for(NULL), NULL, NULL) == 0);
	for (i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(fresh(&d, (uid_t)-1, port, SSL_VERIFY_NONE,
		                    X509_V_ERR_HOSTNAME_MISMATCH),
		    R_NEW);
		CU_ASSERT_EQUAL(
		    fresh(&d, (uid_t)-1, port, SSL_VERIFY_PEER, -1), R_NEW);
	}
	tmsleep(200);
	CU_ASSERT_EQUAL(cached(&d), 0);
	tdaemon_stop(&d);
}

/* cache list (text and JSON), stats, cache flush. */
static void
test_ctl_cache(void)
{
	struct tdaemon d;
	uint16_t port = server("valid", "-tls1_2");
	char *o;
	int rc;

	CU_ASSERT_FATAL(port != 0);
	CU_ASSERT_FATAL(tdaemon_start(&d, conf_for(NULL), NULL, NULL) == 0);
	CU_ASSERT_EQUAL(verified(&d, port), R_NEW);
	CU_ASSERT(wait_cached(&d, 1));
	CU_ASSERT_EQUAL(verified(&d, port), R_RESUMED);
	o = ctl(&d, "cache list", &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT(strstr(o, "localhost port") != NULL);
	CU_ASSERT(strstr(o, " 1.2 ") != NULL);
	o = ctl(&d, "--json cache list", &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT(strstr(o, "\"sessions\":[{\"id\":") != NULL);
	CU_ASSERT(strstr(o, "\"version\":\"1.2\"") != NULL);
	CU_ASSERT_EQUAL(json_num(o, "uid"), 0);
	CU_ASSERT(json_num(o, "expires_in") > 0);
	CU_ASSERT_EQUAL(wait_stat(&d, "hits", 1), 1);
	o = ctl(&d, "--json stats", &rc);
	CU_ASSERT_EQUAL(json_num(o, "hits"), 1);
	CU_ASSERT_EQUAL(json_num(o, "misses"), 1);
	o = ctl(&d, "cache flush", &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT(strstr(o, "flushed") != NULL && strstr(o, "1") != NULL);
	CU_ASSERT_EQUAL(cached(&d), 0);
	tmsleep(100); /* the flush reaches the engines */
	CU_ASSERT_EQUAL(verified(&d, port), R_NEW);
	o = ctl(&d, "--json cache flush", &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT(json_num(o, "flushed") >= 0);
	tdaemon_stop(&d);
}

int
main(void)
{
	CU_pSuite s;

	signal(SIGPIPE, SIG_IGN);
	s = cu_suite("session resumption", suite_init, suite_clean);
	cu_test(s, "TLS 1.2: a second process resumes", test_tls12);
	cu_test(s, "TLS 1.3: the ticket comes back, a second process resumes",
	    test_tls13);
	cu_test(s, "TLS 1.3: more waits for tickets than slots",
	    test_tls13_many_waits);
	cu_test(s, "session-cache off", test_off);
	cu_test(s, "verify-cache off", test_verify_cache_off);
	cu_test(s, "verify-cache: a program's own anchors",
	    test_verify_cache_anchors);
	cu_test(s, "session-cache-size: LRU", test_lru);
	cu_test(s, "pins: kept digests, reload, a pin that changed",
	    test_reload_pins);
	cu_test(
	    s, "a failed verification is never cached", test_verify_failure);
	cu_test(s, "a reload that changes nothing they need keeps them",
	    test_reload_keeps);
	cu_test(
	    s, "cpconnectctl cache list, cache flush, stats", test_ctl_cache);
	/* Running as another user needs root. */
	if (geteuid() == 0) {
		cu_test(
		    s, "per-user: another uid does not resume", test_per_user);
		cu_test(s, "session-cache shared", test_shared);
	} else
		printf("resume: per-user and shared checks need root; "
		       "not run\n");
	return cu_finish();
}
