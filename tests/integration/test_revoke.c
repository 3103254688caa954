/* SPDX-License-Identifier: ISC */
/*
 * Revocation through a real cpconnectd against openssl s_server: OCSP
 * staples (-status_file) that are good, revoked, expired, signed by the
 * wrong key or for another certificate, missing under if-stapled and
 * require, a must-staple leaf; CRLs for the leaf and, with crl-check all,
 * the chain; the strictest block winning; files replaced while the daemon
 * runs (CRL, trust store, client certificate) taking effect without a
 * SIGHUP, a broken one keeping the old data; cpconnectd -n on broken CRL
 * files.  The material comes from tests/pki/mkrevoke.sh.  TLS 1.3 by
 * default, TLS 1.2 where s_server is told -tls1_2.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509_vfy.h>

#include "cprops/client.h"
#include "cutest.h"
#include "itest.h"

static struct tdaemon dmn;
static char pki[128], rev[128], live[128];

/* The servers, by what they present and staple. */
enum {
	S_GOOD,          /* good.pem, good.ocsp */
	S_GOOD12,        /* the same, TLS 1.2 */
	S_DELEGATED,     /* good.pem, good-delegated.ocsp */
	S_REVOKED,       /* revoked.pem, revoked.ocsp */
	S_REVOKED12,     /* the same, TLS 1.2 */
	S_EXPIRED,       /* good.pem, expired.ocsp */
	S_WRONGKEY,      /* good.pem, wrongkey.ocsp */
	S_NOTRESPONDER,  /* good.pem, notresponder.ocsp */
	S_BADSIG,        /* good.pem, badsig.ocsp */
	S_OTHER,         /* good.pem, other.ocsp (for must.pem) */
	S_UNKNOWN,       /* valid.pem, unknown.ocsp */
	S_NOSTAPLE,      /* good.pem, no staple: ocsp if-stapled */
	S_REQUIRE,       /* good.pem, no staple: a block says require */
	S_REQUIRE_OK,    /* good.pem, good.ocsp, require */
	S_MUST,          /* must.pem, no staple */
	S_MUST12,        /* the same, TLS 1.2 */
	S_MUST_OK,       /* must.pem, must.ocsp */
	S_MUST_OFF,      /* must.pem, no staple, ocsp off */
	S_OFF_REVOKED,   /* revoked.pem, revoked.ocsp, ocsp off */
	S_CRL_REVOKED,   /* revoked.pem, crl-file int.crl */
	S_CRL_REVOKED12, /* the same, TLS 1.2 */
	S_CRL_GOOD,      /* good.pem, crl-file int.crl */
	S_CRL_DER,       /* revoked.pem, crl-file int.crl.der */
	S_CRL_NOISSUER,  /* leaf2 (int2), crl-file int.crl: no CRL of int2 */
	S_ALL_REVOKED,   /* leaf2, chain-bad.crl, crl-check all */
	S_ALL_OK,        /* good.pem, chain-ok.crl, crl-check all */
	S_ALL_MISSING,   /* good.pem, int.crl only, crl-check all */
	S_LIVE,          /* revoked.pem, crl-file live/live.crl */
	S_STRICT,        /* good.pem, no staple: 127.0.0.1 off, localhost
	                    require */
	S_CLIENT,        /* valid.pem, asks for a client certificate */
	S_N
};

static const struct srv {
	const char *leaf, *ocsp, *chain;
	int tls12;
	const char *block; /* the destination block's body, or NULL */
} srvs[S_N] = {
    [S_GOOD] = {"good", "good.ocsp", "int.pem", 0, NULL},
    [S_GOOD12] = {"good", "good.ocsp", "int.pem", 1, NULL},
    [S_DELEGATED] = {"good", "good-delegated.ocsp", "int.pem", 0, NULL},
    [S_REVOKED] = {"revoked", "revoked.ocsp", "int.pem", 0, NULL},
    [S_REVOKED12] = {"revoked", "revoked.ocsp", "int.pem", 1, NULL},
    [S_EXPIRED] = {"good", "expired.ocsp", "int.pem", 0, NULL},
    [S_WRONGKEY] = {"good", "wrongkey.ocsp", "int.pem", 0, NULL},
    [S_NOTRESPONDER] = {"good", "notresponder.ocsp", "int.pem", 0, NULL},
    [S_BADSIG] = {"good", "badsig.ocsp", "int.pem", 0, NULL},
    [S_OTHER] = {"good", "other.ocsp", "int.pem", 0, NULL},
    [S_UNKNOWN] = {"valid", "unknown.ocsp", "int.pem", 0, NULL},
    [S_NOSTAPLE] = {"good", NULL, "int.pem", 0, NULL},
    [S_REQUIRE] = {"good", NULL, "int.pem", 0, "ocsp require"},
    [S_REQUIRE_OK] = {"good", "good.ocsp", "int.pem", 0, "ocsp require"},
    [S_MUST] = {"must", NULL, "int.pem", 0, NULL},
    [S_MUST12] = {"must", NULL, "int.pem", 1, NULL},
    [S_MUST_OK] = {"must", "must.ocsp", "int.pem", 0, NULL},
    [S_MUST_OFF] = {"must", NULL, "int.pem", 0, "ocsp off"},
    [S_OFF_REVOKED] = {"revoked", "revoked.ocsp", "int.pem", 0, "ocsp off"},
    [S_CRL_REVOKED] = {"revoked", NULL, "int.pem", 0, "crl-file @int.crl"},
    [S_CRL_REVOKED12] = {"revoked", NULL, "int.pem", 1, "crl-file @int.crl"},
    [S_CRL_GOOD] = {"good", NULL, "int.pem", 0, "crl-file @int.crl"},
    [S_CRL_DER] = {"revoked", NULL, "int.pem", 0, "crl-file @int.crl.der"},
    [S_CRL_NOISSUER] = {"leaf2", NULL, "int2.pem", 0, "crl-file @int.crl"},
    [S_ALL_REVOKED] = {"leaf2", NULL, "int2.pem", 0,
        "crl-file @chain-bad.crl\n\tcrl-check all"},
    [S_ALL_OK] = {"good", NULL, "int.pem", 0,
        "crl-file @chain-ok.crl\n\tcrl-check all"},
    [S_ALL_MISSING] = {"good", NULL, "int.pem", 0,
        "crl-file @int.crl\n\tcrl-check all"},
    [S_LIVE] = {"revoked", NULL, "int.pem", 0, "crl-file @@live.crl"},
    [S_STRICT] = {"good", NULL, "int.pem", 0, "ocsp off"},
    [S_CLIENT] = {"good", NULL, "int.pem", 0,
        "client-certificate @@client.pem key @@client.key"},
};

static uint16_t port[S_N];

static int
sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* "@name" is rev/name, "@@name" live/name, in quotes. */
static void
expand(char *out, size_t outsz, const char *body)
{
	size_t o = 0;
	const char *p = body, *dir;

	while (*p != '\0' && o + 1 < outsz) {
		if (*p != '@') {
			out[o++] = *p++;
			continue;
		}
		dir = rev;
		p++;
		if (*p == '@') {
			dir = live;
			p++;
		}
		o += (size_t)snprintf(out + o, outsz - o, "\"%s/", dir);
		while (*p != '\0' && *p != ' ' && *p != '\n' && o + 2 < outsz)
			out[o++] = *p++;
		if (o + 1 < outsz)
			out[o++] = '"';
	}
	out[o < outsz ? o : outsz - 1] = '\0';
}

static void
conf_text(char *buf, size_t sz)
{
	char body[1024];
	size_t o;
	int i;

	o = (size_t)snprintf(buf, sz,
	    "user nobody\n"
	    "engines 2\n"
	    "ca-file \"%s/ca.pem\"\n"
	    "reload-interval 300ms\n"
	    "allow from any to 127.0.0.0/8\n"
	    "destination \"localhost\" port %u {\n\tocsp require\n}\n",
	    live, port[S_STRICT]);
	for (i = 0; i < S_N && o < sz; i++) {
		if (srvs[i].block == NULL)
			continue;
		expand(body, sizeof(body), srvs[i].block);
		o += (size_t)snprintf(buf + o, sz - o,
		    "destination \"127.0.0.1\" port %u {\n\t%s\n}\n", port[i],
		    body);
	}
}

/* A client certificate of int, NAME.pem and NAME.key in live. */
static int
client_cert(const char *name, const char *cn)
{
	return sh("cd '%s' && umask 077 && "
	          "printf 'basicConstraints = critical,CA:FALSE\\n"
	          "keyUsage = critical,digitalSignature\\n"
	          "extendedKeyUsage = clientAuth\\n' >cli.ext && "
	          "openssl genpkey -algorithm EC -pkeyopt "
	          "ec_paramgen_curve:P-256 -out %s.key 2>/dev/null && "
	          "openssl req -new -key %s.key -subj '/CN=%s' -out %s.csr && "
	          "openssl x509 -req -in %s.csr -CA '%s/int.pem' "
	          "-CAkey '%s/int.key' -CAcreateserial -days 30 -sha256 "
	          "-extfile cli.ext -out %s.crt 2>/dev/null && "
	          "cat %s.crt '%s/int.pem' >%s.pem",
	    live, name, name, cn, name, name, pki, pki, name, name, pki, name);
}

static pid_t pids[S_N];

/* s_server for server i, not waited for: they start in parallel. */
static int
start_server(int i)
{
	const struct srv *s = &srvs[i];
	char portarg[32], cert[256], key[256], chain[256], staple[256];
	char *argv[24];
	int n = 0, null;

	snprintf(portarg, sizeof(portarg), "127.0.0.1:%u", port[i]);
	snprintf(cert, sizeof(cert), "%s/%s.pem", rev, s->leaf);
	snprintf(key, sizeof(key), "%s/%s.key", rev, s->leaf);
	snprintf(chain, sizeof(chain), "%s/%s", rev, s->chain);
	argv[n++] = "openssl";
	argv[n++] = "s_server";
	argv[n++] = "-accept";
	argv[n++] = portarg;
	argv[n++] = "-www";
	argv[n++] = "-cert";
	argv[n++] = cert;
	argv[n++] = "-key";
	argv[n++] = key;
	argv[n++] = "-cert_chain";
	argv[n++] = chain;
	if (s->ocsp != NULL) {
		snprintf(staple, sizeof(staple), "%s/%s", rev, s->ocsp);
		argv[n++] = "-status_file";
		argv[n++] = staple;
	}
	if (s->tls12)
		argv[n++] = "-tls1_2";
	if (i == S_CLIENT) {
		argv[n++] = "-Verify";
		argv[n++] = "1";
		argv[n++] = "-CAfile";
		argv[n++] = tpath(pki, "ca.pem");
	}
	argv[n] = NULL;
	if ((pids[i] = fork()) == -1)
		return -1;
	if (pids[i] == 0) {
		if ((null = open("/dev/null", O_RDWR)) != -1) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	return 0;
}

/* Every server accepts, within 20 s, and is our s_server: one that died
 * (its port taken meanwhile by another program, which would then answer
 * in its place) starts again on another port, up to 3 times. */
static int
servers_wait(void)
{
	int i, n, dead, again = 0;

	for (i = 0; i < S_N; i++) {
		dead = 0;
		for (n = 0; n < 800 && !tport_open(port[i], 0); n++) {
			if ((dead = waitpid(pids[i], NULL, WNOHANG) == pids[i]))
				break;
			tmsleep(25);
		}
		/* Answering, but maybe only just dying of a taken port. */
		if (!dead && n < 800) {
			tmsleep(n == 0 ? 50 : 0);
			dead = waitpid(pids[i], NULL, WNOHANG) == pids[i];
		}
		if (dead) {
			pids[i] = 0;
			if (++again > 3)
				break;
			port[i] = tfree_port(AF_INET);
			if (start_server(i) == -1)
				return -1;
			i--; /* wait for it again */
			continue;
		}
		if (n == 800)
			break;
	}
	if (i < S_N) {
		fprintf(
		    stderr, "server %d on port %u did not start\n", i, port[i]);
		return -1;
	}
	return 0;
}

static int
suite_init(void)
{
	static char text[16384];
	int i;

	snprintf(rev, sizeof(rev), "%s/rev", cu_tmpdir());
	snprintf(live, sizeof(live), "%s/live", cu_tmpdir());
	if (tpki_make(pki, sizeof(pki), cu_tmpdir()) == -1 ||
	    sh("sh tests/pki/mkrevoke.sh '%s' '%s' >/dev/null", pki, rev) !=
	        0 ||
	    sh("mkdir -p '%s' && cp '%s/root.pem' '%s/ca.pem' && "
	       "cp '%s/int-empty.crl' '%s/live.crl'",
	        live, pki, live, rev, live) != 0 ||
	    client_cert("client", "cpconnect test first client") != 0 ||
	    client_cert("second", "cpconnect test second client") != 0)
		return -1;
	for (i = 0; i < S_N; i++)
		port[i] = tfree_port(AF_INET);
	for (i = 0; i < S_N; i++)
		if (start_server(i) == -1)
			return -1;
	if (servers_wait() == -1)
		return -1;
	conf_text(text, sizeof(text));
	if (tdaemon_start(&dmn, text, NULL, NULL) == -1)
		return -1;
	cp_client_set_socket_path(dmn.sock);
	return 0;
}

static int
suite_clean(void)
{
	int i;

	for (i = 0; i < S_N; i++)
		if (pids[i] > 0)
			tkill(pids[i]);
	tdaemon_stop(&dmn);
	return 0;
}

struct outcome {
	int rc;           /* cp_client_connect() */
	long vr;          /* cp_client_get_verify_result() */
	char ocsp[16];    /* cp_client_get_ocsp_status(), "-" for NULL */
	int resumed;      /* cp_client_session_resumed() */
	char page[65536]; /* what s_server -www answered, when connected */
};

/* One connect to 127.0.0.1 (or host) at server i's port. */
static void
try_host(const char *host, int i, int mode, struct outcome *o)
{
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	const char *st;
	cp_client *c;
	size_t got = 0;
	int n;

	memset(o, 0, sizeof(*o));
	o->rc = -2;
	if ((c = cp_client_create_ssl(host, port[i], NULL, NULL, mode)) == NULL)
		return;
	cp_client_set_timeout(c, 10, 0);
	o->rc = cp_client_connect(c);
	o->vr = cp_client_get_verify_result(c);
	/* For the log, when an outcome is not the one expected. */
	if (o->rc != 0)
		fprintf(stderr, "server %d (port %u): %d, verify %ld: %s\n", i,
		    port[i], o->rc, o->vr, cp_client_error(c));
	st = cp_client_get_ocsp_status(c);
	snprintf(o->ocsp, sizeof(o->ocsp), "%s", st != NULL ? st : "-");
	o->resumed = cp_client_session_resumed(c);
	if (o->rc >= 0 &&
	    cp_client_write(c, req, sizeof(req) - 1) == sizeof(req) - 1)
		while (got < sizeof(o->page) - 1 &&
		       (n = cp_client_read(c, o->page + got,
		            (int)(sizeof(o->page) - 1 - got))) > 0)
			got += (size_t)n;
	o->page[got] = '\0';
	cp_client_destroy(c);
}

static void
try(int i, int mode, struct outcome *o)
{
	try_host("127.0.0.1", i, mode, o);
}

#define PEER SSL_VERIFY_PEER
#define NONE SSL_VERIFY_NONE

/* Connected and verified, a page came back, the OCSP outcome as given. */
#define ASSERT_OK(o, st)                                                       \
	do {                                                                   \
		CU_ASSERT_EQUAL((o).rc, 0);                                    \
		CU_ASSERT_EQUAL((o).vr, X509_V_OK);                            \
		CU_ASSERT_STRING_EQUAL((o).ocsp, st);                          \
		CU_ASSERT_EQUAL(strncmp((o).page, "HTTP/1.", 7), 0);           \
	} while (0)

static void
test_good(void)
{
	static struct outcome o;

	try(S_GOOD, PEER, &o);
	ASSERT_OK(o, "good");
	CU_ASSERT_PTR_NOT_NULL(strstr(o.page, "TLSv1.3"));
	try(S_GOOD12, PEER, &o);
	ASSERT_OK(o, "good");
	CU_ASSERT_PTR_NOT_NULL(strstr(o.page, "TLSv1.2"));
	/* Again: with two engines, one of them sees it twice and takes
	 * the outcome from its cache. */
	try(S_GOOD, PEER, &o);
	ASSERT_OK(o, "good");
	try(S_GOOD, PEER, &o);
	ASSERT_OK(o, "good");
	CU_ASSERT(tdaemon_log_has(&dmn, "OCSP outcome from the cache: good"));
	/* A resumed session (TLS 1.2: kept at once) has no staple of its
	 * own: it reports the one its first handshake verified. */
	try(S_GOOD12, PEER, &o);
	ASSERT_OK(o, "good");
	CU_ASSERT(o.resumed);
	/* (the audit line follows the reply) */
	CU_ASSERT(tdaemon_log_wait(&dmn, "verify 0, resumed, ocsp good", 5000));
	/* A responder the issuer certified for OCSP signing. */
	try(S_DELEGATED, PEER, &o);
	ASSERT_OK(o, "good");
	CU_ASSERT(tdaemon_log_wait(&dmn, "ok, verify 0, ocsp good", 5000));
}

static void
test_revoked(void)
{
	static struct outcome o;
	int i, s[2] = {S_REVOKED, S_REVOKED12};

	for (i = 0; i < 2; i++) {
		/* SSL_VERIFY_PEER: -1, and the code stays available. */
		try(s[i], PEER, &o);
		CU_ASSERT_EQUAL(o.rc, -1);
		CU_ASSERT_EQUAL(o.vr, X509_V_ERR_CERT_REVOKED);
		CU_ASSERT_STRING_EQUAL(o.ocsp, "revoked");
		/* SSL_VERIFY_NONE: connected, the positive code. */
		try(s[i], NONE, &o);
		CU_ASSERT_EQUAL(o.rc, X509_V_ERR_CERT_REVOKED);
		CU_ASSERT_EQUAL(o.vr, X509_V_ERR_CERT_REVOKED);
		CU_ASSERT_STRING_EQUAL(o.ocsp, "revoked");
		CU_ASSERT_EQUAL(strncmp(o.page, "HTTP/1.", 7), 0);
	}
	CU_ASSERT(tdaemon_log_wait(&dmn, "verify 23, ocsp revoked", 5000));
	/* Cached or not, revoked stays revoked. */
	CU_ASSERT(tdaemon_log_has(&dmn, "OCSP outcome from the cache: revoked"));
	/* "ocsp off": not asked for, not checked. */
	try(S_OFF_REVOKED, PEER, &o);
	ASSERT_OK(o, "-");
}

/* Staples that do not verify fail, whatever they say. */
static void
test_invalid(void)
{
	static struct outcome o;
	static const int bad[] = {
	    S_EXPIRED, S_WRONGKEY, S_NOTRESPONDER, S_BADSIG, S_OTHER};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		try(bad[i], PEER, &o);
		CU_ASSERT_EQUAL(o.rc, -1);
		CU_ASSERT_EQUAL(o.vr, X509_V_ERR_OCSP_VERIFY_FAILED);
		CU_ASSERT_STRING_EQUAL(o.ocsp, "invalid");
		try(bad[i], NONE, &o);
		CU_ASSERT_EQUAL(o.rc, X509_V_ERR_OCSP_VERIFY_FAILED);
	}
	CU_ASSERT(tdaemon_log_has(&dmn, "outside its validity period"));
	CU_ASSERT(tdaemon_log_has(&dmn, "response for another certificate"));
	CU_ASSERT(tdaemon_log_has(&dmn, "not signed by the issuer"));
	/* A responder that does not know the certificate. */
	try(S_UNKNOWN, PEER, &o);
	CU_ASSERT_EQUAL(o.rc, -1);
	CU_ASSERT_EQUAL(o.vr, X509_V_ERR_OCSP_CERT_UNKNOWN);
	CU_ASSERT_STRING_EQUAL(o.ocsp, "unknown");
	try(S_UNKNOWN, NONE, &o);
	CU_ASSERT_EQUAL(o.rc, X509_V_ERR_OCSP_CERT_UNKNOWN);
}

static void
test_missing(void)
{
	static struct outcome o;

	/* if-stapled, the default: none is fine. */
	try(S_NOSTAPLE, PEER, &o);
	ASSERT_OK(o, "none");
	/* require: none fails; a good one passes. */
	try(S_REQUIRE, PEER, &o);
	CU_ASSERT_EQUAL(o.rc, -1);
	CU_ASSERT_EQUAL(o.vr, X509_V_ERR_OCSP_VERIFY_NEEDED);
	CU_ASSERT_STRING_EQUAL(o.ocsp, "none");
	try(S_REQUIRE, NONE, &o);
	CU_ASSERT_EQUAL(o.rc, X509_V_ERR_OCSP_VERIFY_NEEDED);
	try(S_REQUIRE_OK, PEER, &o);
	ASSERT_OK(o, "good");
	/* require wants a staple on every connection: nothing resumed, even
	 * once the tickets had time to come back. */
	usleep(300000);
	try(S_REQUIRE_OK, PEER, &o);
	ASSERT_OK(o, "good");
	CU_ASSERT(!o.resumed);
}

static void
test_must_staple(void)
{
	static struct outcome o;

	try(S_MUST, PEER, &o);
	CU_ASSERT_EQUAL(o.rc, -1);
	CU_ASSERT_EQUAL(o.vr, X509_V_ERR_OCSP_VERIFY_NEEDED);
	try(S_MUST12, PEER, &o);
	CU_ASSERT_EQUAL(o.rc, -1);
	CU_ASSERT_EQUAL(o.vr, X509_V_ERR_OCSP_VERIFY_NEEDED);
	try(S_MUST, NONE, &o);
	CU_ASSERT_EQUAL(o.rc, X509_V_ERR_OCSP_VERIFY_NEEDED);
	CU_ASSERT(tdaemon_log_has(&dmn, "must-staple"));
	try(S_MUST_OK, PEER, &o);
	ASSERT_OK(o, "good");
	/* "ocsp off" turns the feature off too (cpconnectd.conf(5)). */
	try(S_MUST_OFF, PEER, &o);
	ASSERT_OK(o, "-");
}

static void
test_crl_leaf(void)
{
	static struct outcome o;

	try(S_CRL_REVOKED, PEER, &o);
	CU_ASSERT_EQUAL(o.rc, -1);
	CU_ASSERT_EQUAL(o.vr, X509_V_ERR_CERT_REVOKED);
	try(S_CRL_REVOKED12, PEER, &o);
	CU_ASSERT_EQUAL(o.rc, -1);
	CU_ASSERT_EQUAL(o.vr, X509_V_ERR_CERT_REVOKED);
	try(S_CRL_REVOKED, NONE, &o);
	CU_ASSERT_EQUAL(o.rc, X509_V_ERR_CERT_REVOKED);
	CU_ASSERT_EQUAL(strncmp(o.page, "HTTP/1.", 7), 0);
	try(S_CRL_DER, PEER, &o);
	CU_ASSERT_EQUAL(o.vr, X509_V_ERR_CERT_REVOKED);
	try(S_CRL_GOOD, PEER, &o);
	ASSERT_OK(o, "none");
	/* A crl-file without a CRL of the leaf's issuer: fail closed. */
	try(S_CRL_NOISSUER, PEER, &o);
	CU_ASSERT_EQUAL(o.rc, -1);
	CU_ASSERT_EQUAL(o.vr, X509_V_ERR_UNABLE_TO_GET_CRL);
}

static void
test_crl_chain(void)
{
	static struct outcome o;

	/* int2 is revoked by the root. */
	try(S_ALL_REVOKED, PEER, &o);
	CU_ASSERT_EQUAL(o.rc, -1);
	CU_ASSERT_EQUAL(o.vr, X509_V_ERR_CERT_REVOKED);
	try(S_ALL_OK, PEER, &o);
	ASSERT_OK(o, "none");
	/* No CRL of the root for int: fail closed. */
	try(S_ALL_MISSING, PEER, &o);
	CU_ASSERT_EQUAL(o.rc, -1);
	CU_ASSERT_EQUAL(o.vr, X509_V_ERR_UNABLE_TO_GET_CRL);
}

/* Every block that applies, the strictest winning: the name's block says
 * require, the address's off. */
static void
test_strictest(void)
{
	static struct outcome o;

	try(S_STRICT, PEER, &o);
	ASSERT_OK(o, "-");
	try_host("localhost", S_STRICT, PEER, &o);
	CU_ASSERT_EQUAL(o.rc, -1);
	CU_ASSERT_EQUAL(o.vr, X509_V_ERR_OCSP_VERIFY_NEEDED);
}

/* Wait (bounded) until server i gives want for the verify result. */
static int
wait_vr(int i, long want, struct outcome *o)
{
	int n;

	for (n = 0; n < 60; n++) {
		try(i, PEER, o);
		if (o->vr == want)
			return 1;
		tmsleep(250);
	}
	return 0;
}

static int
log_count(const char *s)
{
	char line[2048];
	FILE *f = fopen(dmn.log, "r");
	int n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, s) != NULL)
			n++;
	fclose(f);
	return n;
}

static void
test_crl_replaced(void)
{
	static struct outcome o;
	int broken;

	/* int-empty.crl: revoked.pem is not on it yet. */
	try(S_LIVE, PEER, &o);
	ASSERT_OK(o, "none");
	/* Replaced (rename, as an updater would), no SIGHUP. */
	CU_ASSERT_EQUAL_FATAL(sh("cp '%s/int.crl' '%s/new.crl' && "
	                         "mv '%s/new.crl' '%s/live.crl'",
	                          rev, live, live, live),
	    0);
	CU_ASSERT(wait_vr(S_LIVE, X509_V_ERR_CERT_REVOKED, &o));
	CU_ASSERT(tdaemon_log_has(&dmn, "live.crl changed: trust store"));
	/* Broken (whole, by a rename: written in place, the file could be
	 * seen empty, then broken, two changes): logged once, the old data
	 * stays. */
	broken = log_count("does not load");
	CU_ASSERT_EQUAL_FATAL(sh("cp '%s/broken.crl' '%s/new.crl' && "
	                         "mv '%s/new.crl' '%s/live.crl'",
	                          rev, live, live, live),
	    0);
	for (int n = 0; n < 40 && log_count("does not load") == broken; n++)
		tmsleep(100);
	CU_ASSERT_EQUAL(log_count("does not load"), broken + 1);
	tmsleep(800);
	CU_ASSERT_EQUAL(log_count("does not load"), broken + 1);
	try(S_LIVE, PEER, &o);
	CU_ASSERT_EQUAL(o.vr, X509_V_ERR_CERT_REVOKED);
	/* Good again: it loads. */
	CU_ASSERT_EQUAL_FATAL(sh("cp '%s/int-empty.crl' '%s/new.crl' && "
	                         "mv '%s/new.crl' '%s/live.crl'",
	                          rev, live, live, live),
	    0);
	CU_ASSERT(wait_vr(S_LIVE, X509_V_OK, &o));
}

static void
test_store_replaced(void)
{
	static struct outcome o;

	try(S_GOOD, PEER, &o);
	ASSERT_OK(o, "good");
	/* A trust store without our root. */
	CU_ASSERT_EQUAL_FATAL(sh("cp '%s/unknown.pem' '%s/new.pem' && "
	                         "mv '%s/new.pem' '%s/ca.pem'",
	                          pki, live, live, live),
	    0);
	CU_ASSERT(
	    wait_vr(S_GOOD, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, &o));
	CU_ASSERT_EQUAL_FATAL(sh("cp '%s/root.pem' '%s/new.pem' && "
	                         "mv '%s/new.pem' '%s/ca.pem'",
	                          pki, live, live, live),
	    0);
	CU_ASSERT(wait_vr(S_GOOD, X509_V_OK, &o));
}

static void
test_client_cert_replaced(void)
{
	static struct outcome o;
	int n;

	try(S_CLIENT, PEER, &o);
	CU_ASSERT_EQUAL(o.rc, 0);
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(o.page, "CN=cpconnect test first client"));
	/* Key first, then certificate: in between the pair does not match,
	 * which keeps the old pair. */
	CU_ASSERT_EQUAL_FATAL(
	    sh("cd '%s' && cp second.key new.key && "
	       "mv new.key client.key && sleep 0.5 && "
	       "cp second.pem new.pem && mv new.pem client.pem",
	        live),
	    0);
	for (n = 0; n < 40; n++) {
		try(S_CLIENT, PEER, &o);
		if (strstr(o.page, "CN=cpconnect test second client") != NULL)
			break;
		tmsleep(250);
	}
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(o.page, "CN=cpconnect test second client"));
}

/* cpconnectd -n: errors name the line of the crl-file statement. */
static int
check_conf(const char *text, char *out, size_t outsz)
{
	char file[256], cmd[512];
	FILE *f, *p;
	size_t got;
	int st;

	snprintf(file, sizeof(file), "%s/check.conf", live);
	if ((f = fopen(file, "w")) == NULL)
		return -1;
	/* The user last, so the lines the tests name stay where they are. */
	fprintf(f, "%s\nuser nobody\n", text);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "%s/cpconnectd -n -f %s 2>&1", cu_builddir(),
	    file);
	if ((p = popen(cmd, "r")) == NULL)
		return -1;
	got = fread(out, 1, outsz - 1, p);
	out[got] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
test_check(void)
{
	char text[2048], out[2048], want[512];

	snprintf(text, sizeof(text),
	    "ca-file \"%s/root.pem\"\n"
	    "allow from any to any\n"
	    "destination \"x.example\" {\n"
	    "\tcrl-file \"%s/broken.crl\"\n"
	    "}\n",
	    pki, rev);
	CU_ASSERT_EQUAL(check_conf(text, out, sizeof(out)), 1);
	snprintf(
	    want, sizeof(want), "check.conf:4: crl-file %s/broken.crl: ", rev);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	/* Missing, a certificate instead of a CRL, bad keywords. */
	snprintf(text, sizeof(text), "crl-file \"%s/none.crl\"\n", rev);
	CU_ASSERT_EQUAL(check_conf(text, out, sizeof(out)), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "check.conf:1: crl-file"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "No such file"));
	snprintf(text, sizeof(text), "crl-file \"%s/good.pem\"\n", rev);
	CU_ASSERT_EQUAL(check_conf(text, out, sizeof(out)), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "no CRL found"));
	CU_ASSERT_EQUAL(check_conf("ocsp sometimes\n", out, sizeof(out)), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "check.conf:1: ocsp: 'sometimes'"));
	CU_ASSERT_EQUAL(check_conf("crl-check most\n", out, sizeof(out)), 1);
	CU_ASSERT_EQUAL(
	    check_conf("crl-file relative.crl\n", out, sizeof(out)), 1);
	/* A good one. */
	snprintf(text, sizeof(text),
	    "ca-file \"%s/root.pem\"\nocsp require\ncrl-check all\n"
	    "crl-file \"%s/chain-ok.crl\"\nreload-interval 0\n"
	    "allow from any to any\n",
	    pki, rev);
	CU_ASSERT_EQUAL(check_conf(text, out, sizeof(out)), 0);
}

/* The command line's --json says it. */
static void
test_cli(void)
{
	char cmd[512], out[8192];
	FILE *p;
	size_t got;

	snprintf(cmd, sizeof(cmd),
	    "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | CPCONNECT_SOCKET=%s "
	    "%s/cpconnect --tls --json 127.0.0.1 %u 2>&1",
	    dmn.sock, cu_builddir(), port[S_GOOD]);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p = popen(cmd, "r"));
	got = fread(out, 1, sizeof(out) - 1, p);
	out[got] = '\0';
	pclose(p);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"ocsp\":\"good\""));
}

int
main(void)
{
	CU_pSuite s;

	s = cu_suite("revocation", suite_init, suite_clean);
	cu_test(s, "good staple, direct and delegated", test_good);
	cu_test(s, "revoked staple: -1, or the code", test_revoked);
	cu_test(s, "staples that do not verify, unknown", test_invalid);
	cu_test(s, "no staple: if-stapled, require", test_missing);
	cu_test(s, "must-staple", test_must_staple);
	cu_test(s, "CRL: the leaf", test_crl_leaf);
	cu_test(s, "CRL: the chain (crl-check all)", test_crl_chain);
	cu_test(s, "the strictest block wins", test_strictest);
	cu_test(s, "cpconnect --json", test_cli);
	cu_test(s, "CRL replaced while running", test_crl_replaced);
	cu_test(s, "trust store replaced while running", test_store_replaced);
	cu_test(s, "client certificate replaced while running",
	    test_client_cert_replaced);
	cu_test(s, "cpconnectd -n on CRL files", test_check);
	return cu_finish();
}
