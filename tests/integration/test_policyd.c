/* SPDX-License-Identifier: ISC */
/*
 * Policy through a real cpconnectd: allow and deny rules per user, group,
 * uid and gid with first match winning, special-purpose ranges, names that
 * resolve to forbidden addresses, ports and request kinds, the TLS policy
 * of destination blocks against openssl s_server, and hostile
 * configuration files checked with -n.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509_vfy.h>

#include "cprops/client.h"
#include "cutest.h"
#include "fakedns.h"
#include "itest.h"

static char pki[128];
static uint16_t echo_a, echo_b; /* two loopback echo servers */
static pid_t echo_a_pid, echo_b_pid;

static int
daemon_up(struct tdaemon *d, const char *conf, const char *extra)
{
	if (tdaemon_start(d, conf, extra, NULL) == -1)
		return -1;
	cp_client_set_socket_path(d->sock);
	return 0;
}

/* "rule at <conf>:<line>" as the daemon writes it. */
static const char *
rule_at(const struct tdaemon *d, int line)
{
	static char buf[128];

	snprintf(buf, sizeof(buf), "rule at %s:%d", d->conf, line);
	return buf;
}

static int
has(const char *hay, const char *needle)
{
	return hay != NULL && strstr(hay, needle) != NULL;
}

/* ---- servers ---- */

/* s_server -www on 127.0.0.1 with leaf and the intermediate; one optional
 * extra argument.  The port, or 0. */
static uint16_t
s_server(const char *leaf, const char *extra)
{
	return ts_server(pki, 0, 0, leaf, 1, extra, (char *)NULL);
}

/* ---- clients ---- */

struct outcome {
	int rv;
	int err;
	long verify;
	char text[512];
};

/* Echo a short message on a connected plain client: 1 if it came back. */
static int
echo_ok(cp_client *c)
{
	char buf[16];
	int n, got = 0;

	if (cp_client_write(c, "policy", 6) != 6)
		return 0;
	while (got < 6 && (n = cp_client_read(c, buf + got, 6 - got)) > 0)
		got += n;
	return got == 6 && memcmp(buf, "policy", 6) == 0;
}

/* One request; tls < 0 is plain TCP, otherwise the verification mode. */
static void
attempt(const char *host, uint16_t port, int tls, const char *ca,
    const char *sni, struct outcome *o)
{
	cp_client *c;

	memset(o, 0, sizeof(*o));
	if (tls < 0)
		c = cp_client_create(host, port);
	else
		c = cp_client_create_ssl(host, port, ca, NULL, tls);
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
	if (o->rv == 0 && tls < 0 && !echo_ok(c))
		o->rv = -3;
	cp_client_destroy(c);
}

static void
show(const char *what, const struct outcome *o)
{
	fprintf(stderr, "  %s: rv %d errno %d verify %ld: %s\n", what, o->rv,
	    o->err, o->verify, o->text);
}

/*
 * Fork a child that takes the given ids and connects to 127.0.0.1:port.
 * Exit status: 0 connected and echoed, 1 connected but no echo, 2 the ids
 * could not be taken, 3 no client, 10 + errno when the connect failed.
 * The child's error text comes back in text.
 */
static int
as_user(uid_t uid, gid_t gid, const gid_t *groups, int ngroups, uint16_t port,
    char *text, size_t textlen)
{
	int p[2], status, code;
	ssize_t n;
	size_t got = 0;
	pid_t pid;

	text[0] = '\0';
	if (pipe(p) == -1)
		return -1;
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		cp_client *c;
		const char *e;

		close(p[0]);
		if (setgroups((size_t)ngroups, groups) == -1 ||
		    setresgid(gid, gid, gid) == -1 ||
		    setresuid(uid, uid, uid) == -1)
			_exit(2);
		if ((c = cp_client_create("127.0.0.1", port)) == NULL)
			_exit(3);
		cp_client_set_retry(c, 0);
		if (cp_client_connect(c) != 0) {
			code = errno;
			e = cp_client_error(c);
			if (write(p[1], e, strlen(e)) == -1)
				_exit(4);
			_exit(10 + (code < 200 ? code : 199));
		}
		_exit(echo_ok(c) ? 0 : 1);
	}
	close(p[1]);
	while (got < textlen - 1 &&
	       (n = read(p[0], text + got, textlen - 1 - got)) > 0)
		got += (size_t)n;
	text[got] = '\0';
	close(p[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* ---- suite ---- */

static int
suite_init(void)
{
	int la, lb;

	if (tpki_make(pki, sizeof(pki), cu_tmpdir()) == -1)
		return -1;
	echo_a = echo_b = 0;
	if ((la = tlisten(AF_INET, &echo_a)) == -1 ||
	    (lb = tlisten(AF_INET, &echo_b)) == -1)
		return -1;
	echo_a_pid = techo_start(la, 1000);
	echo_b_pid = techo_start(lb, 1000);
	close(la);
	close(lb);
	return 0;
}

static int
suite_clean(void)
{
	tservers_stop();
	tkill(echo_a_pid);
	tkill(echo_b_pid);
	return 0;
}

/*
 * Two unprivileged users, told apart by SO_PEERCRED: uid 4242 (primary
 * gid 4242, supplementary 4343) and nobody (65534/65534).  Rules:
 *	2 allow uid 4242 to echo_a		first match beats line 3
 *	3 deny gid 4343				a supplementary group
 *	4 deny user nobody to echo_a
 *	5 allow group nogroup to echo_b tcp
 *	6 deny uid 4242				never reached for echo_b
 */
static void
test_users_groups(void)
{
	struct tdaemon d;
	char conf[1024], text[512];
	const gid_t g4242[] = {4343};
	const gid_t gnobody[] = {65534};
	int rc;

	snprintf(conf, sizeof(conf),
	    "user nobody\n"
	    "allow from uid 4242 to 127.0.0.1 port %u\n"
	    "deny from gid 4343\n"
	    "deny from user nobody to 127.0.0.1 port %u\n"
	    "allow from group nogroup to 127.0.0.0/8 port %u tcp\n"
	    "deny from uid 4242\n",
	    echo_a, echo_a, echo_b);
	CU_ASSERT_FATAL(daemon_up(&d, conf, NULL) == 0);

	/* uid 4242: line 2 allows echo_a before line 3 can deny. */
	rc = as_user(4242, 4242, g4242, 1, echo_a, text, sizeof(text));
	CU_ASSERT_EQUAL(rc, 0);
	if (rc != 0)
		fprintf(stderr, "  4242 -> a: %d: %s\n", rc, text);

	/* uid 4242 to echo_b: denied by line 3 through group 4343. */
	rc = as_user(4242, 4242, g4242, 1, echo_b, text, sizeof(text));
	CU_ASSERT_EQUAL(rc, 10 + EACCES);
	CU_ASSERT(has(text, rule_at(&d, 3)));
	if (rc != 10 + EACCES || !has(text, rule_at(&d, 3)))
		fprintf(stderr, "  4242 -> b: %d: %s\n", rc, text);

	/* The same uid without group 4343 falls through to line 6. */
	rc = as_user(4242, 4242, NULL, 0, echo_b, text, sizeof(text));
	CU_ASSERT_EQUAL(rc, 10 + EACCES);
	CU_ASSERT(has(text, rule_at(&d, 6)));
	if (!has(text, rule_at(&d, 6)))
		fprintf(stderr, "  4242/nogroups -> b: %d: %s\n", rc, text);

	/* 4343 as the primary group is a match too. */
	rc = as_user(4242, 4343, NULL, 0, echo_b, text, sizeof(text));
	CU_ASSERT_EQUAL(rc, 10 + EACCES);
	CU_ASSERT(has(text, rule_at(&d, 3)));

	/* nobody: denied echo_a by line 4, allowed echo_b by line 5. */
	rc = as_user(65534, 65534, gnobody, 1, echo_a, text, sizeof(text));
	CU_ASSERT_EQUAL(rc, 10 + EACCES);
	CU_ASSERT(has(text, rule_at(&d, 4)));
	CU_ASSERT(has(text, "denied"));
	if (!has(text, rule_at(&d, 4)))
		fprintf(stderr, "  nobody -> a: %d: %s\n", rc, text);
	rc = as_user(65534, 65534, gnobody, 1, echo_b, text, sizeof(text));
	CU_ASSERT_EQUAL(rc, 0);
	if (rc != 0)
		fprintf(stderr, "  nobody -> b: %d: %s\n", rc, text);

	/* Another uid that no rule names: nothing allows it. */
	rc = as_user(4444, 4444, NULL, 0, echo_b, text, sizeof(text));
	CU_ASSERT_EQUAL(rc, 10 + EACCES);
	CU_ASSERT(has(text, "no rule allows uid 4444"));

	/* Every request left a log line naming the peer's uid. */
	CU_ASSERT(tdaemon_log_wait(&d, "4242", 2000));
	CU_ASSERT(tdaemon_log_has(&d, "65534"));
	tdaemon_stop(&d);
}

struct special_case {
	const char *host;
	const char *phrase;
};

/* "allow from any to any" never opens a special-purpose address; the
 * refusal comes before any connect, so it is quick. */
static void
test_special_ranges(void)
{
	static const struct special_case sc[] = {
	    {"10.1.2.3", "a private address"},
	    {"169.254.169.254", "a link-local address"},
	    {"192.168.1.1", "a private address"},
	    {"172.16.0.1", "a private address"},
	    {"fc00::1", "a unique-local (private) address"},
	    {"fe80::1", "a link-local address"},
	    {"127.0.0.1", "a loopback address"}, {"::1", "a loopback address"},
	    {"100.64.0.1", "carrier-grade NAT"},
	    {"224.0.0.1", "a multicast address"}, {"0.0.0.0", "this-network"},
	    {"192.0.2.1", "a documentation address"},
	    {"::ffff:10.0.0.1", "a private address"},      /* v4-mapped */
	    {"64:ff9b::a00:1", "a private address"},       /* NAT64 */
	    {"2002:a9fe:a9fe::1", "a link-local address"}, /* 6to4 */
	};
	struct tdaemon d;
	struct outcome o;
	uint64_t t0;
	size_t i;

	CU_ASSERT_FATAL(
	    daemon_up(&d, "user nobody\nallow from any to any\n", NULL) == 0);
	for (i = 0; i < sizeof(sc) / sizeof(sc[0]); i++) {
		t0 = tnow_ms();
		attempt(sc[i].host, 80, -1, NULL, NULL, &o);
		CU_ASSERT_EQUAL(o.rv, -1);
		CU_ASSERT_EQUAL(o.err, EACCES);
		CU_ASSERT(has(o.text, sc[i].phrase));
		CU_ASSERT(has(o.text, "no rule names it"));
		CU_ASSERT(tnow_ms() - t0 < 2000);
		if (o.rv != -1 || o.err != EACCES || !has(o.text, sc[i].phrase))
			show(sc[i].host, &o);
		/* The same for TLS. */
		attempt(sc[i].host, 443, SSL_VERIFY_PEER, NULL, NULL, &o);
		CU_ASSERT_EQUAL(o.rv, -1);
		CU_ASSERT_EQUAL(o.err, EACCES);
		CU_ASSERT(has(o.text, sc[i].phrase));
	}
	tdaemon_stop(&d);
}

/*
 * Names: a name resolving to a special address is refused although an
 * "allow to any" and a name rule allow the name; a name denied by a rule is
 * never resolved; an explicit range opens loopback wherever it appears.
 *	2 deny to "bad.test"
 *	3 allow to "*.ok.test"
 *	4 allow to any
 *	5 deny to 127.0.0.2
 *	6 allow to 127.0.0.0/8 port echo_a
 */
static void
test_names(void)
{
	static const struct fakedns_rec recs[] = {
	    {"evil.test", FAKEDNS_A, "10.0.0.1", 0},
	    {"evil6.test", FAKEDNS_AAAA, "fe80::1", 0},
	    {"good.test", FAKEDNS_A, "127.0.0.1", 0},
	    {"bad.test", FAKEDNS_A, "127.0.0.1", 0},
	    {"www.ok.test", FAKEDNS_A, "127.0.0.1", 0},
	    {"two.test", FAKEDNS_A, "127.0.0.2", 0},
	};
	struct fakedns *dns;
	struct tdaemon d;
	struct outcome o;
	char conf[512], extra[128];
	uint16_t dport;

	CU_ASSERT_FATAL(fakedns_start(&dns, recs,
	                    sizeof(recs) / sizeof(recs[0]), &dport) == 0);
	snprintf(extra, sizeof(extra), "-R %s", fakedns_servers(dns));
	snprintf(conf, sizeof(conf),
	    "user nobody\n"
	    "deny to \"bad.test\"\n"
	    "allow to \"*.ok.test\"\n"
	    "allow to any\n"
	    "deny to 127.0.0.2\n"
	    "allow to 127.0.0.0/8 port %u\n",
	    echo_a);
	CU_ASSERT_FATAL(daemon_up(&d, conf, extra) == 0);

	attempt("evil.test", echo_a, -1, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, EACCES);
	CU_ASSERT(has(o.text, "10.0.0.1 is a private address"));
	if (o.err != EACCES)
		show("evil.test", &o);
	attempt("evil6.test", echo_a, -1, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, EACCES);
	CU_ASSERT(has(o.text, "link-local"));

	/* good.test: 127.0.0.1 is named by line 6. */
	attempt("good.test", echo_a, -1, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, 0);
	if (o.rv != 0)
		show("good.test", &o);
	/* ... but only on that port: "to any" and names never open it. */
	attempt("good.test", echo_b, -1, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, EACCES);
	CU_ASSERT(has(o.text, "loopback"));
	attempt("www.ok.test", echo_b, -1, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, EACCES);
	CU_ASSERT(has(o.text, "loopback"));
	attempt("www.ok.test", echo_a, -1, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, 0);

	/* A name denied by a rule: refused before resolution. */
	attempt("bad.test", echo_a, -1, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, EACCES);
	CU_ASSERT(has(o.text, rule_at(&d, 2)));
	CU_ASSERT_EQUAL(fakedns_queries_for(dns, "bad.test"), 0);
	/* Case and a final dot do not escape a name rule. */
	attempt("BAD.Test.", echo_a, -1, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, EACCES);
	CU_ASSERT(has(o.text, rule_at(&d, 2)));

	/* The deny on line 5 wins over the range on line 6, by name and
	 * by literal. */
	attempt("two.test", echo_a, -1, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, EACCES);
	CU_ASSERT(has(o.text, rule_at(&d, 5)));
	if (!has(o.text, rule_at(&d, 5)))
		show("two.test", &o);
	attempt("127.0.0.2", echo_a, -1, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.err, EACCES);
	CU_ASSERT(has(o.text, rule_at(&d, 5)));
	attempt("127.0.0.1", echo_a, -1, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, 0);

	tdaemon_stop(&d);
	fakedns_stop(dns);
}

/* Port ranges, lists and the tcp/tls kinds. */
static void
test_ports_kinds(void)
{
	struct tdaemon d;
	struct outcome o;
	char conf[1024];
	uint16_t tlsport;

	tlsport = s_server("valid", NULL);
	CU_ASSERT_FATAL(tlsport != 0);
	snprintf(conf, sizeof(conf),
	    "user nobody\n"
	    "ca-file \"%s/ca.pem\"\n"
	    "allow from any to 127.0.0.1 port %u tls\n"
	    "allow from any to 127.0.0.1 port 1000:65535 tcp\n"
	    "allow from any to 127.0.0.1 port 7,9:11\n",
	    pki, tlsport);
	CU_ASSERT_FATAL(daemon_up(&d, conf, NULL) == 0);

	attempt("127.0.0.1", echo_a, -1, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, 0);
	if (o.rv != 0)
		show("tcp echo_a", &o);
	/* A TLS request to the same place: only tcp is allowed there. */
	attempt("127.0.0.1", echo_a, SSL_VERIFY_NONE, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, EACCES);
	CU_ASSERT(has(o.text, "(tls)"));
	/* TLS to the s_server port: allowed (line 3) and verified. */
	attempt("127.0.0.1", tlsport, SSL_VERIFY_PEER, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, 0);
	if (o.rv != 0)
		show("tls tlsport", &o);
	/* Below the range: no rule; the refusal comes before a connect. */
	attempt("127.0.0.1", 999, -1, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, EACCES);
	CU_ASSERT(has(o.text, "no rule allows"));
	CU_ASSERT(has(o.text, "port 999 (tcp)"));
	/* Port lists: 10 is in 9:11 (nothing listens: refused, not denied),
	 * 8 is not. */
	attempt("127.0.0.1", 10, -1, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, ECONNREFUSED);
	attempt("127.0.0.1", 8, -1, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, EACCES);
	attempt("127.0.0.1", 7, SSL_VERIFY_NONE, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, ECONNREFUSED);
	/* 127.0.0.2 is not named by any rule. */
	attempt("127.0.0.2", echo_a, -1, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.err, EACCES);
	CU_ASSERT(has(o.text, "no rule allows"));
	tdaemon_stop(&d);
	tservers_stop();
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

/*
 * TLS policy of destination blocks:
 *	wrongname on W (block: verify required) and W2 (no block)
 *	valid on P (block "localhost": good pin; block "127.0.0.1": other pin)
 *	valid on CF (block: client-ca forbidden)
 *	valid -tls1_2 on T12 (block "localhost": min-tls 1.3)
 */
static void
test_tls_policy(void)
{
	struct tdaemon d;
	struct outcome o;
	char conf[2048], good[64], other[64];
	uint16_t w, w2, p, p2, cf, t12;

	CU_ASSERT_FATAL(
	    spki_pin(tpath(pki, "valid.pem"), good, sizeof(good)) == 0);
	CU_ASSERT_FATAL(
	    spki_pin(tpath(pki, "valid-rsa.pem"), other, sizeof(other)) == 0);
	CU_ASSERT(strcmp(good, other) != 0);
	w = s_server("wrongname", NULL);
	w2 = s_server("wrongname", NULL);
	p = s_server("valid", NULL);
	p2 = s_server("valid", NULL);
	cf = s_server("valid", NULL);
	t12 = s_server("valid", "-tls1_2");
	CU_ASSERT_FATAL(w && w2 && p && p2 && cf && t12);
	snprintf(conf, sizeof(conf),
	    "user nobody\n"
	    "ca-file \"%s/ca.pem\"\n"
	    "allow from any to 127.0.0.0/8\n"
	    "destination any port %u {\n"
	    "	verify required\n"
	    "}\n"
	    "destination \"localhost\" port %u {\n"
	    "	pin sha256 \"%s\"\n"
	    "}\n"
	    "destination 127.0.0.1 port %u {\n"
	    "	pin sha256 \"%s\"\n"
	    "}\n"
	    "destination \"localhost\" port %u {\n"
	    "	pin sha256 \"%s\"\n"
	    "}\n"
	    "destination any port %u {\n"
	    "	client-ca forbidden\n"
	    "}\n"
	    "destination \"localhost\" port %u {\n"
	    "	min-tls 1.3\n"
	    "}\n",
	    pki, w, p, good, p, other, p2, good, cf, t12);
	CU_ASSERT_FATAL(daemon_up(&d, conf, NULL) == 0);

	/* Without a block the client's SSL_VERIFY_NONE stands. */
	attempt("localhost", w2, SSL_VERIFY_NONE, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, X509_V_ERR_HOSTNAME_MISMATCH);
	if (o.rv != X509_V_ERR_HOSTNAME_MISMATCH)
		show("wrongname, no block", &o);
	/* "verify required" makes it ineffective. */
	attempt("localhost", w, SSL_VERIFY_NONE, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, EPROTO);
	CU_ASSERT_EQUAL(o.verify, X509_V_ERR_HOSTNAME_MISMATCH);
	if (o.rv != -1)
		show("wrongname, verify required", &o);

	/* Pins: the right key, by name. */
	attempt("localhost", p2, SSL_VERIFY_PEER, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, 0);
	if (o.rv != 0)
		show("pin match", &o);
	/* A pin implies "verify required": SSL_VERIFY_NONE changes nothing
	 * for a chain that verifies. */
	attempt("localhost", p2, SSL_VERIFY_NONE, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, 0);
	/* By name, to an address whose block pins another key: both apply. */
	attempt("localhost", p, SSL_VERIFY_PEER, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT(has(o.text, "pinned"));
	/* Another key, by address literal. */
	attempt("127.0.0.1", p, SSL_VERIFY_PEER, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, EPROTO);
	CU_ASSERT(has(o.text, "pinned"));
	if (!has(o.text, "pinned"))
		show("pin mismatch", &o);
	attempt("127.0.0.1", p, SSL_VERIFY_NONE, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, EPROTO);
	CU_ASSERT(has(o.text, "pinned"));

	/* client-ca forbidden: a CA_file is refused, the daemon's store
	 * is fine. */
	attempt("localhost", cf, SSL_VERIFY_PEER, tpath(pki, "ca.pem"), NULL, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, EACCES);
	CU_ASSERT(has(o.text, "trust anchors"));
	if (o.err != EACCES)
		show("client-ca forbidden", &o);
	attempt("localhost", cf, SSL_VERIFY_PEER, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, 0);
	/* Elsewhere client anchors are allowed. */
	attempt("localhost", p2, SSL_VERIFY_PEER, tpath(pki, "ca.pem"), NULL,
	    &o);
	CU_ASSERT_EQUAL(o.rv, 0);
	if (o.rv != 0)
		show("client-ca allowed", &o);

	/* min-tls 1.3 against a TLS 1.2 server; the same server by address
	 * (no block) works. */
	attempt("localhost", t12, SSL_VERIFY_PEER, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT(o.err == EACCES || o.err == EPROTO);
	if (o.rv != -1)
		show("min-tls 1.3", &o);
	attempt("127.0.0.1", t12, SSL_VERIFY_PEER, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, 0);
	if (o.rv != 0)
		show("tls 1.2, no block", &o);
	tdaemon_stop(&d);
	tservers_stop();
}

/*
 * The host's blocks apply whatever server name (SNI) a client chooses: a
 * name with other blocks, or none, must not escape pins, "verify required"
 * or min-tls set for the host.
 */
static void
test_tls_policy_sni(void)
{
	struct tdaemon d;
	struct outcome o;
	char conf[1024], other[64];
	uint16_t p, w, t12;

	CU_ASSERT_FATAL(
	    spki_pin(tpath(pki, "valid-rsa.pem"), other, sizeof(other)) == 0);
	p = s_server("valid", NULL);
	w = s_server("unknownca", NULL);
	t12 = s_server("valid", "-tls1_2");
	CU_ASSERT_FATAL(p && w && t12);
	snprintf(conf, sizeof(conf),
	    "user nobody\n"
	    "ca-file \"%s/ca.pem\"\n"
	    "allow from any to 127.0.0.0/8\n"
	    "destination \"localhost\" port %u {\n"
	    "	pin sha256 \"%s\"\n"
	    "}\n"
	    "destination 127.0.0.0/8 port %u {\n"
	    "	verify required\n"
	    "}\n"
	    "destination \"localhost\" port %u {\n"
	    "	min-tls 1.3\n"
	    "}\n",
	    pki, p, other, w, t12);
	CU_ASSERT_FATAL(daemon_up(&d, conf, NULL) == 0);

	attempt("localhost", p, SSL_VERIFY_PEER, NULL, "test.example", &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT(has(o.text, "pinned"));
	if (o.rv != -1)
		show("pin escaped by SNI", &o);
	attempt("127.0.0.1", w, SSL_VERIFY_NONE, NULL, "localhost", &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, EPROTO);
	if (o.rv != -1)
		show("verify required escaped by SNI", &o);
	attempt("localhost", t12, SSL_VERIFY_PEER, NULL, "test.example", &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	if (o.rv != -1)
		show("min-tls escaped by SNI", &o);
	/* An address block applies to the address connected, also when the
	 * client asked for a name that resolves there. */
	attempt("localhost", w, SSL_VERIFY_NONE, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, EPROTO);
	if (o.rv != -1)
		show("verify required escaped by a name", &o);
	tdaemon_stop(&d);
	tservers_stop();
}

/*
 * The other way round: the server name is the name verified, and its
 * blocks apply as well as the host's, so connecting by address does not
 * get around the name's pins or "verify required".
 *	valid on P (block "localhost": other pin)
 *	unknownca on U (block "localhost": verify required)
 *	valid on V and wrongname on W: no block
 */
static void
test_tls_server_name(void)
{
	struct tdaemon d;
	struct outcome o;
	char conf[1024], other[64];
	uint16_t p, u, v, w;

	CU_ASSERT_FATAL(
	    spki_pin(tpath(pki, "valid-rsa.pem"), other, sizeof(other)) == 0);
	p = s_server("valid", NULL);
	u = s_server("unknownca", NULL);
	v = s_server("valid", NULL);
	w = s_server("wrongname", NULL);
	CU_ASSERT_FATAL(p && u && v && w);
	snprintf(conf, sizeof(conf),
	    "user nobody\n"
	    "ca-file \"%s/ca.pem\"\n"
	    "allow from any to 127.0.0.0/8\n"
	    "destination \"localhost\" port %u {\n"
	    "	pin sha256 \"%s\"\n"
	    "}\n"
	    "destination \"localhost\" port %u {\n"
	    "	verify required\n"
	    "}\n",
	    pki, p, other, u);
	CU_ASSERT_FATAL(daemon_up(&d, conf, NULL) == 0);

	/* The certificate is checked for the server name, not the host. */
	attempt("localhost", v, SSL_VERIFY_PEER, NULL, "wrong.example", &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, EPROTO);
	CU_ASSERT_EQUAL(o.verify, X509_V_ERR_HOSTNAME_MISMATCH);
	if (o.rv != -1)
		show("valid, server name wrong.example", &o);
	attempt("127.0.0.1", w, SSL_VERIFY_PEER, NULL, "wrong.example", &o);
	CU_ASSERT_EQUAL(o.rv, 0);
	if (o.rv != 0)
		show("wrongname, server name wrong.example", &o);
	attempt("127.0.0.1", w, SSL_VERIFY_NONE, NULL, "Wrong.Example.", &o);
	CU_ASSERT_EQUAL(o.rv, 0);
	CU_ASSERT_EQUAL(o.verify, X509_V_OK);
	attempt("127.0.0.1", v, SSL_VERIFY_NONE, NULL, "wrong.example", &o);
	CU_ASSERT_EQUAL(o.rv, X509_V_ERR_HOSTNAME_MISMATCH);

	/* The server name's blocks apply to a connection by address. */
	attempt("127.0.0.1", p, SSL_VERIFY_PEER, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, 0);
	attempt("127.0.0.1", p, SSL_VERIFY_PEER, NULL, "localhost", &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, EPROTO);
	CU_ASSERT(has(o.text, "pinned"));
	if (!has(o.text, "pinned"))
		show("pin escaped by address", &o);
	attempt("127.0.0.1", u, SSL_VERIFY_NONE, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
	attempt("127.0.0.1", u, SSL_VERIFY_NONE, NULL, "localhost", &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, EPROTO);
	CU_ASSERT_EQUAL(o.verify, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
	if (o.rv != -1)
		show("verify required escaped by address", &o);
	tdaemon_stop(&d);
	tservers_stop();
}

/*
 * min-tls per block both ways: a block may ask for more than the global
 * setting, and one may allow less (when no other block that applies keeps
 * the global value).  TLS 1.2 servers on L (block: 1.2) and H (none).
 */
static void
test_min_tls_blocks(void)
{
	struct tdaemon d;
	struct outcome o;
	char conf[1024];
	uint16_t l, h;

	l = s_server("valid", "-tls1_2");
	h = s_server("valid", "-tls1_2");
	CU_ASSERT_FATAL(l && h);
	snprintf(conf, sizeof(conf),
	    "user nobody\n"
	    "ca-file \"%s/ca.pem\"\n"
	    "allow from any to 127.0.0.0/8\n"
	    "min-tls 1.3\n"
	    "destination \"localhost\" port %u {\n"
	    "	min-tls 1.2\n"
	    "}\n",
	    pki, l);
	CU_ASSERT_FATAL(daemon_up(&d, conf, NULL) == 0);
	attempt("localhost", l, SSL_VERIFY_PEER, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, 0);
	if (o.rv != 0)
		show("min-tls 1.2 in a block under a global 1.3", &o);
	attempt("localhost", h, SSL_VERIFY_PEER, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	CU_ASSERT_EQUAL(o.err, EPROTO);
	/* The address has no block: the global 1.3 holds. */
	attempt("127.0.0.1", l, SSL_VERIFY_PEER, NULL, "localhost", &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	tdaemon_stop(&d);
	tservers_stop();
}

/* A line of the daemon's log has both key and want, or will within 2 s
 * (the audit line is written after the reply). */
static int
log_line_has(const struct tdaemon *d, const char *key, const char *want)
{
	char line[2048];
	FILE *f;
	int found = 0, i;

	for (i = 0; i < 200 && !found; i++) {
		if (i > 0)
			usleep(10000);
		if ((f = fopen(d->log, "r")) == NULL)
			continue;
		while (!found && fgets(line, sizeof(line), f) != NULL)
			found = strstr(line, key) != NULL &&
			    strstr(line, want) != NULL;
		fclose(f);
	}
	if (!found)
		fprintf(stderr, "  no log line with \"%s\" and \"%s\"\n", key,
		    want);
	return found;
}

/*
 * The audit line carries the real verify result: "-" when no chain was
 * checked, the X509_V_* code when one was, and a pin failure on a chain
 * that verified said as such.
 *	valid on P (block: other pin), wrongname on W (verify required),
 *	a TCP echo server on echo_a (no TLS at all)
 */
static void
test_audit_verify(void)
{
	struct tdaemon d;
	struct outcome o;
	char conf[1024], other[64], key[64];
	uint16_t p, w;

	CU_ASSERT_FATAL(
	    spki_pin(tpath(pki, "valid-rsa.pem"), other, sizeof(other)) == 0);
	p = s_server("valid", NULL);
	w = s_server("wrongname", NULL);
	CU_ASSERT_FATAL(p && w);
	snprintf(conf, sizeof(conf),
	    "user nobody\n"
	    "ca-file \"%s/ca.pem\"\n"
	    "allow from any to 127.0.0.0/8\n"
	    "destination 127.0.0.1 port %u {\n"
	    "	pin sha256 \"%s\"\n"
	    "}\n"
	    "destination 127.0.0.1 port %u {\n"
	    "	verify required\n"
	    "}\n",
	    pki, p, other, w);
	CU_ASSERT_FATAL(daemon_up(&d, conf, NULL) == 0);

	attempt("127.0.0.1", p, SSL_VERIFY_PEER, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	snprintf(key, sizeof(key), "tls 127.0.0.1 port %u ->", p);
	CU_ASSERT(log_line_has(&d, key, "verify 0 (chain ok, pin mismatch)"));
	attempt("127.0.0.1", w, SSL_VERIFY_NONE, NULL, "localhost", &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	snprintf(key, sizeof(key),
	    "tls 127.0.0.1 port %u server name localhost ->", w);
	CU_ASSERT(log_line_has(&d, key, ", verify 62, "));
	/* An echo server answers the ClientHello with itself: the
	 * handshake fails before any certificate. */
	attempt("127.0.0.1", echo_a, SSL_VERIFY_PEER, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, -1);
	snprintf(key, sizeof(key), "tls 127.0.0.1 port %u ->", echo_a);
	CU_ASSERT(log_line_has(&d, key, "TLS handshake failed"));
	CU_ASSERT(log_line_has(&d, key, ", verify -, "));
	attempt("127.0.0.1", echo_a, -1, NULL, NULL, &o);
	CU_ASSERT_EQUAL(o.rv, 0);
	snprintf(key, sizeof(key), "tcp 127.0.0.1 port %u ->", echo_a);
	CU_ASSERT(log_line_has(&d, key, ": ok, verify -, "));
	tdaemon_stop(&d);
	tservers_stop();
}

/* ---- hostile configuration files, checked with -n ---- */

struct conf_case {
	const char *text;
	int line;          /* 0: the file is good */
	const char *words; /* in the message */
};

static int
check_conf(const char *text, size_t len, char *errout, size_t errlen,
    char *path, size_t pathlen)
{
	char cmd[1024], errpath[300];
	FILE *f;
	size_t n;
	int st;

	snprintf(path, pathlen, "%s/check.conf", cu_tmpdir());
	snprintf(errpath, sizeof(errpath), "%s/check.err", cu_tmpdir());
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fwrite(text, 1, len, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "%s/cpconnectd -n -f %s >/dev/null 2>%s",
	    cu_builddir(), path, errpath);
	st = system(cmd);
	errout[0] = '\0';
	if ((f = fopen(errpath, "r")) != NULL) {
		n = fread(errout, 1, errlen - 1, f);
		errout[n] = '\0';
		fclose(f);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
test_hostile_conf(void)
{
	static const struct conf_case cc[] = {
	    {"user nobody\nallow from any to any\n", 0, NULL},
	    {"# comments, and the user (root checks it exists)\n\n"
	     "user nobody\n",
	        0, NULL},
	    {"user nobody\n"
	     "destination \"x.test\" port 443 {\n"
	     "\tverify required\n\tmin-tls 1.3\n}\n",
	        0, NULL},
	    {"engines 2\n\nbogus-keyword yes\n", 3, "unknown keyword"},
	    {"engines 2\nengines 3\n", 2, "engines"},
	    {"allow to any port 0\n", 1, "port"},
	    {"allow to any port 70000\n", 1, "port"},
	    {"allow to any port 9:3\n", 1, "port"},
	    {"\nallow to 10.0.0.0/33\n", 2, "not a valid address"},
	    {"allow from user no-such-user-cpd\n", 1,
	        "unknown user 'no-such-user-cpd'"},
	    {"allow from group no-such-group-cpd\n", 1,
	        "unknown group 'no-such-group-cpd'"},
	    {"allow from uid x12\n", 1, "not a number"},
	    {"user \"unterminated\n", 1, "unterminated string"},
	    {"min-tls 1.1\n", 1, "min-tls"},
	    {"connect-timeout 10years\n", 1, "connect-timeout"},
	    {"engines 100000\n", 1, "engines"},
	    {"allow to any banana\n", 1, "unexpected"},
	    {"destination \"a.test\" {\n\tverify required\n\tengines 2\n}\n", 3,
	        NULL},
	    {"destination \"a.test\" {\n\tverify required\n", 0, NULL},
	    {"pin sha256 \"not-base64!\"\n", 1, "pin"},
	    {"verify sometimes\n", 1, "verify"},
	    {"allow from any to any\n\x01\x02\n", 2, "invalid character"},
	};
	char err[2048], path[300], want[400];
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cc) / sizeof(cc[0]); i++) {
		rc = check_conf(cc[i].text, strlen(cc[i].text), err,
		    sizeof(err), path, sizeof(path));
		if (cc[i].line == 0 && cc[i].words == NULL &&
		    strchr(cc[i].text, '{') != NULL &&
		    strchr(cc[i].text, '}') == NULL) {
			/* An unclosed block: bad, wherever it is reported. */
			CU_ASSERT_EQUAL(rc, 1);
			snprintf(want, sizeof(want), "%s:", path);
			CU_ASSERT(has(err, want));
			continue;
		}
		if (cc[i].line == 0) {
			CU_ASSERT_EQUAL(rc, 0);
			if (rc != 0)
				fprintf(stderr, "  case %zu: rc %d: %s", i, rc,
				    err);
			continue;
		}
		snprintf(want, sizeof(want), "%s:%d: ", path, cc[i].line);
		CU_ASSERT_EQUAL(rc, 1);
		CU_ASSERT(has(err, want));
		if (cc[i].words != NULL)
			CU_ASSERT(has(err, cc[i].words));
		if (rc != 1 || !has(err, want) ||
		    (cc[i].words && !has(err, cc[i].words)))
			fprintf(stderr, "  case %zu: rc %d, want '%s' '%s': %s",
			    i, rc, want, cc[i].words ? cc[i].words : "", err);
	}

	/* A NUL byte in the middle of a line. */
	rc = check_conf("allow to any\nengines \0 2\n", 25, err, sizeof(err),
	    path, sizeof(path));
	CU_ASSERT_EQUAL(rc, 1);
	snprintf(want, sizeof(want), "%s:2: ", path);
	CU_ASSERT(has(err, want));
	if (rc != 1 || !has(err, want))
		fprintf(stderr, "  NUL: rc %d: %s", rc, err);

	/* A word longer than the limit. */
	{
		static char big[4096];

		memcpy(big, "user ", 5);
		memset(big + 5, 'a', 2000);
		memcpy(big + 2005, "\n", 2);
		rc = check_conf(
		    big, strlen(big), err, sizeof(err), path, sizeof(path));
		CU_ASSERT_EQUAL(rc, 1);
		snprintf(want, sizeof(want), "%s:1: ", path);
		CU_ASSERT(has(err, want));
	}

	/* A file larger than the limit (1 MiB of comments). */
	{
		size_t len = 1024 * 1024 + 100;
		char *huge = malloc(len);

		CU_ASSERT_PTR_NOT_NULL_FATAL(huge);
		memset(huge, '#', len);
		for (i = 79; i < len; i += 80)
			huge[i] = '\n';
		rc =
		    check_conf(huge, len, err, sizeof(err), path, sizeof(path));
		free(huge);
		CU_ASSERT_EQUAL(rc, 1);
		CU_ASSERT(has(err, path));
	}

	/* A file that does not exist. */
	snprintf(path, sizeof(path),
	    "%s/cpconnectd -n -f %s/absent.conf "
	    ">/dev/null 2>&1",
	    cu_builddir(), cu_tmpdir());
	rc = system(path);
	CU_ASSERT(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);
	/* A directory. */
	snprintf(path, sizeof(path), "%s/cpconnectd -n -f %s >/dev/null 2>&1",
	    cu_builddir(), cu_tmpdir());
	rc = system(path);
	CU_ASSERT(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);
}

int
main(void)
{
	CU_pSuite s;

	signal(SIGPIPE, SIG_IGN);
	s = cu_suite("policy through cpconnectd", suite_init, suite_clean);
	cu_test(s, "users, groups, uids, gids: first match", test_users_groups);
	cu_test(s, "special ranges refused by default", test_special_ranges);
	cu_test(s, "names resolving to forbidden addresses", test_names);
	cu_test(s, "port ranges and tcp/tls kinds", test_ports_kinds);
	cu_test(s, "TLS policy of destination blocks", test_tls_policy);
	cu_test(s, "TLS policy not escaped by SNI", test_tls_policy_sni);
	cu_test(
	    s, "server name verified, its blocks apply", test_tls_server_name);
	cu_test(s, "min-tls per block, up and down", test_min_tls_blocks);
	cu_test(s, "audit line: the real verify result", test_audit_verify);
	cu_test(s, "hostile configuration files", test_hostile_conf);
	return cu_finish();
}
