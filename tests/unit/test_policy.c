/* SPDX-License-Identifier: ISC */
/*
 * Policy evaluation: first-match rules per client, destination, port and
 * kind; special-purpose ranges; the TLS policy of a destination; the
 * built-in default policies.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "policy.h"
#include "../cutest.h"

#define PUB4 "93.184.216.34"
#define PUB6 "2606:2800:220:1:248:1893:25c8:1946"

static struct policy_result res;

static struct cpconf *
cf(const char *text)
{
	struct cpconf *c = NULL;
	char err[256];

	if (conf_parse(&c, "p.conf", text, strlen(text), err, sizeof(err)))
		fprintf(stderr, "config: %s\n", err);
	CU_ASSERT_PTR_NOT_NULL(c);
	return c;
}

static struct cp_peer
who(uid_t uid, gid_t gid)
{
	struct cp_peer p;

	memset(&p, 0, sizeof(p));
	p.uid = uid;
	p.gid = gid;
	p.pid = 1234;
	return p;
}

static struct sockaddr_storage
sa(const char *addr)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1)
		s6->sin6_family = AF_INET6;
	else
		CU_FAIL("test address does not parse");
	return ss;
}

/* The address check; returns 0 (allow) or -1 and leaves res set. */
static int
addr(const struct cpconf *c, uid_t uid, gid_t gid, const char *host,
    const char *a, uint16_t port, int tls)
{
	struct cp_peer p = who(uid, gid);
	struct sockaddr_storage ss = sa(a);
	int r;

	memset(&res, 0xa5, sizeof(res));
	r = policy_check_addr(
	    c, &p, host, (struct sockaddr *)&ss, port, tls, &res);
	CU_ASSERT_EQUAL(r == 0, res.v == V_ALLOW);
	return r;
}

static int
name(const struct cpconf *c, uid_t uid, gid_t gid, const char *host,
    uint16_t port, int tls)
{
	struct cp_peer p = who(uid, gid);
	int r;

	memset(&res, 0xa5, sizeof(res));
	r = policy_check_name(c, &p, host, port, tls, &res);
	CU_ASSERT_EQUAL(r == 0, res.v == V_ALLOW);
	return r;
}

#define WHY(s)                                                                 \
	do {                                                                   \
		CU_ASSERT_STRING_EQUAL(policy_why(&res), s);                   \
		if (strcmp(res.why, s) != 0)                                   \
			fprintf(stderr, "line %d: why \"%s\"\n", __LINE__,     \
			    res.why);                                          \
	} while (0)

static void
test_clients(void)
{
	struct cpconf *c = cf("deny from user daemon to any\n"
	                      "allow from user root to any port 443\n"
	                      "allow from group daemon to any port 80\n"
	                      "allow from uid 1000 to any port 8080\n"
	                      "allow from gid 2000 to any port 9090\n");
	struct cp_peer p;
	gid_t groups[3] = {50, 1, 60};
	struct sockaddr_storage ss = sa(PUB4);

	if (c == NULL)
		return;
	CU_ASSERT_EQUAL(addr(c, 0, 0, "www.example.org", PUB4, 443, 1), 0);
	WHY("allowed by rule at p.conf:2");
	CU_ASSERT_PTR_EQUAL(res.rule, &c->rules[1]);
	CU_ASSERT_EQUAL(addr(c, 0, 0, "www.example.org", PUB4, 80, 0), -1);
	WHY("denied: no rule allows uid 0 to reach " PUB4 " port 80 (tcp)");
	CU_ASSERT_PTR_NULL(res.rule);
	/* primary group */
	CU_ASSERT_EQUAL(addr(c, 5, 1, NULL, PUB4, 80, 0), 0);
	WHY("allowed by rule at p.conf:3");
	/* the daemon user is denied first, whatever its group allows */
	CU_ASSERT_EQUAL(addr(c, 1, 1, NULL, PUB4, 80, 0), -1);
	WHY("denied by rule at p.conf:1");
	CU_ASSERT_PTR_EQUAL(res.rule, &c->rules[0]);
	CU_ASSERT_EQUAL(addr(c, 1000, 1000, NULL, PUB4, 8080, 1), 0);
	WHY("allowed by rule at p.conf:4");
	CU_ASSERT_EQUAL(addr(c, 1000, 1000, NULL, PUB4, 8081, 1), -1);
	CU_ASSERT_EQUAL(addr(c, 7, 2000, NULL, PUB4, 9090, 0), 0);
	WHY("allowed by rule at p.conf:5");
	CU_ASSERT_EQUAL(addr(c, 7, 2001, NULL, PUB4, 9090, 0), -1);

	/* supplementary groups count for group rules */
	p = who(5, 7);
	p.groups = groups;
	p.ngroups = 3;
	CU_ASSERT_EQUAL(
	    policy_check_addr(c, &p, NULL, (struct sockaddr *)&ss, 80, 0, &res),
	    0);
	WHY("allowed by rule at p.conf:3");
	p.ngroups = 1; /* only the first is looked at */
	CU_ASSERT_EQUAL(
	    policy_check_addr(c, &p, NULL, (struct sockaddr *)&ss, 80, 0, &res),
	    -1);
	p.groups = NULL;
	p.ngroups = 3;
	CU_ASSERT_EQUAL(
	    policy_check_addr(c, &p, NULL, (struct sockaddr *)&ss, 80, 0, &res),
	    -1);
	/* the same through the name check */
	CU_ASSERT_EQUAL(name(c, 5, 1, "www.example.org", 80, 0), 0);
	CU_ASSERT_EQUAL(name(c, 1, 1, "www.example.org", 80, 0), -1);
	WHY("denied by rule at p.conf:1");
	CU_ASSERT_EQUAL(name(c, 9, 9, "www.example.org", 80, 0), -1);
	WHY("denied: no rule allows uid 9 to reach www.example.org port 80 "
	    "(tcp)");
	conf_free(c);
}

static void
test_first_match(void)
{
	struct cpconf *c = cf("deny to \"bad.example.com\"\n"
	                      "allow to \"*.example.com\"\n"
	                      "allow to \"bad.example.com\"\n");

	if (c == NULL)
		return;
	CU_ASSERT_EQUAL(name(c, 5, 5, "bad.example.com", 443, 1), -1);
	WHY("denied by rule at p.conf:1");
	CU_ASSERT_EQUAL(addr(c, 5, 5, "bad.example.com", PUB4, 443, 1), -1);
	WHY("denied by rule at p.conf:1");
	CU_ASSERT_EQUAL(name(c, 5, 5, "good.example.com", 443, 1), 0);
	WHY("allowed by rule at p.conf:2 (pending the address check)");
	CU_ASSERT_EQUAL(addr(c, 5, 5, "good.example.com", PUB4, 443, 1), 0);
	WHY("allowed by rule at p.conf:2");
	conf_free(c);

	c = cf("allow to \"bad.example.com\"\n"
	       "deny to \"bad.example.com\"\n");
	if (c == NULL)
		return;
	CU_ASSERT_EQUAL(name(c, 5, 5, "bad.example.com", 443, 1), 0);
	CU_ASSERT_EQUAL(addr(c, 5, 5, "bad.example.com", PUB4, 443, 1), 0);
	WHY("allowed by rule at p.conf:1");
	conf_free(c);
}

static void
test_ports(void)
{
	static const struct {
		uint16_t port;
		int ok;
	} t[] = {{80, 1}, {443, 1}, {8000, 1}, {8005, 1}, {8010, 1}, {65535, 1},
	    {81, 0}, {442, 0}, {7999, 0}, {8011, 0}, {1, 0}, {65534, 0}};
	struct cpconf *c = cf("allow to any port 80,443,8000:8010\n"
	                      "allow to any port 65535\n");
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		CU_ASSERT_EQUAL(
		    addr(c, 5, 5, NULL, PUB4, t[i].port, 0), t[i].ok ? 0 : -1);
		CU_ASSERT_EQUAL(
		    name(c, 5, 5, "a.example", t[i].port, 1), t[i].ok ? 0 : -1);
	}
	CU_ASSERT_EQUAL(name(c, 5, 5, "a.example", 0, 1), -1);
	WHY("denied: port 0");
	CU_ASSERT_EQUAL(addr(c, 5, 5, NULL, PUB4, 0, 0), -1);
	WHY("denied: port 0");
	conf_free(c);
}

static void
test_kinds(void)
{
	struct cpconf *c = cf("allow to any port 443 tls\n"
	                      "allow to any port 80 tcp\n"
	                      "allow to any port 8443 tls tcp\n");

	if (c == NULL)
		return;
	CU_ASSERT_EQUAL(addr(c, 5, 5, NULL, PUB4, 443, 1), 0);
	CU_ASSERT_EQUAL(addr(c, 5, 5, NULL, PUB4, 443, 0), -1);
	WHY("denied: no rule allows uid 5 to reach " PUB4 " port 443 (tcp)");
	CU_ASSERT_EQUAL(addr(c, 5, 5, NULL, PUB4, 80, 0), 0);
	CU_ASSERT_EQUAL(addr(c, 5, 5, NULL, PUB4, 80, 1), -1);
	CU_ASSERT_EQUAL(addr(c, 5, 5, NULL, PUB4, 8443, 0), 0);
	CU_ASSERT_EQUAL(addr(c, 5, 5, NULL, PUB4, 8443, 1), 0);
	conf_free(c);
}

static void
test_patterns(void)
{
	static const struct {
		const char *host;
		int ok;
	} t[] = {
	    {"a.example.com", 1},
	    {"b.a.example.com", 1},
	    {"A.EXAMPLE.COM.", 1},
	    {"www.exact.org", 1},
	    {"WWW.Exact.Org.", 1},
	    {"example.com", 0},
	    {"example.com.", 0},
	    {"notexample.com", 0},
	    {"a.example.com.evil", 0},
	    {"a.example.co", 0},
	    {"exact.org", 0},
	    {"x.www.exact.org", 0},
	};
	struct cpconf *c = cf("allow to \"*.example.com\"\n"
	                      "allow to www.exact.org\n");
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		CU_ASSERT_EQUAL(
		    name(c, 5, 5, t[i].host, 443, 1), t[i].ok ? 0 : -1);
		CU_ASSERT_EQUAL(
		    addr(c, 5, 5, t[i].host, PUB4, 443, 1), t[i].ok ? 0 : -1);
	}
	/* a pattern never matches an address literal */
	CU_ASSERT_EQUAL(name(c, 5, 5, PUB4, 443, 1), -1);
	conf_free(c);
}

static void
test_cidr(void)
{
	struct cpconf *c = cf("allow from user root to 93.184.216.0/24\n"
	                      "allow from user root to 2606:2800:220::/48\n"
	                      "allow from user root to 1.2.3.4\n");

	if (c == NULL)
		return;
	CU_ASSERT_EQUAL(addr(c, 0, 0, NULL, "93.184.216.34", 443, 1), 0);
	WHY("allowed by rule at p.conf:1");
	CU_ASSERT_EQUAL(addr(c, 0, 0, NULL, "93.184.216.255", 443, 1), 0);
	CU_ASSERT_EQUAL(addr(c, 0, 0, NULL, "93.184.217.1", 443, 1), -1);
	CU_ASSERT_EQUAL(addr(c, 0, 0, NULL, "93.184.215.255", 443, 1), -1);
	CU_ASSERT_EQUAL(addr(c, 0, 0, NULL, PUB6, 443, 1), 0);
	WHY("allowed by rule at p.conf:2");
	CU_ASSERT_EQUAL(addr(c, 0, 0, NULL, "2606:2800:221::1", 443, 1), -1);
	CU_ASSERT_EQUAL(addr(c, 0, 0, NULL, "1.2.3.4", 443, 1), 0);
	CU_ASSERT_EQUAL(addr(c, 0, 0, NULL, "1.2.3.5", 443, 1), -1);
	/* a v4-mapped address is judged as the IPv4 address */
	CU_ASSERT_EQUAL(addr(c, 0, 0, NULL, "::ffff:93.184.216.34", 443, 1), 0);
	WHY("allowed by rule at p.conf:1");
	CU_ASSERT_EQUAL(addr(c, 0, 0, NULL, "::ffff:93.184.217.1", 443, 1), -1);
	/* other users get nothing */
	CU_ASSERT_EQUAL(addr(c, 5, 0, NULL, "93.184.216.34", 443, 1), -1);
	/* literal hosts are decided by the name check itself */
	CU_ASSERT_EQUAL(name(c, 0, 0, "93.184.216.34", 443, 1), 0);
	WHY("allowed by rule at p.conf:1");
	CU_ASSERT_EQUAL(name(c, 0, 0, "93.184.217.1", 443, 1), -1);
	CU_ASSERT_EQUAL(name(c, 0, 0, "2606:2800:220::5", 443, 1), 0);
	conf_free(c);
}

/* A name is provisionally allowed when an address rule might allow what
 * it resolves to; address denies are left to the address check. */
static void
test_name_then_address(void)
{
	struct cpconf *c = cf("deny to 93.184.216.0/24\n"
	                      "allow from user root to 8.8.8.0/24\n"
	                      "allow to \"*.example.com\"\n");

	if (c == NULL)
		return;
	CU_ASSERT_EQUAL(name(c, 5, 5, "www.example.com", 443, 1), 0);
	WHY("allowed by rule at p.conf:3 (pending the address check)");
	CU_ASSERT_EQUAL(addr(c, 5, 5, "www.example.com", PUB4, 443, 1), -1);
	WHY("denied by rule at p.conf:1");
	CU_ASSERT_EQUAL(addr(c, 5, 5, "www.example.com", "1.1.1.1", 443, 1), 0);
	WHY("allowed by rule at p.conf:3");
	CU_ASSERT_EQUAL(name(c, 0, 0, "dns.google", 443, 1), 0);
	WHY("allowed by rule at p.conf:2 (pending the address check)");
	CU_ASSERT_PTR_EQUAL(res.rule, &c->rules[1]);
	CU_ASSERT_EQUAL(addr(c, 0, 0, "dns.google", "8.8.8.8", 443, 1), 0);
	CU_ASSERT_EQUAL(addr(c, 0, 0, "dns.google", "1.1.1.1", 443, 1), -1);
	CU_ASSERT_EQUAL(name(c, 5, 5, "dns.google", 443, 1), -1);
	CU_ASSERT_EQUAL(name(c, 5, 5, PUB4, 443, 1), -1);
	WHY("denied by rule at p.conf:1");
	conf_free(c);
}

static void
test_special_default(void)
{
	static const struct {
		const char *a, *why;
	} t[] = {
	    {"10.0.0.5", "denied: 10.0.0.5 is a private address (no rule "
	                 "names it)"},
	    {"127.0.0.1", "denied: 127.0.0.1 is a loopback address (no "
	                  "rule names it)"},
	    {"169.254.169.254", "denied: 169.254.169.254 is a link-local "
	                        "address (no rule names it)"},
	    {"0.0.0.0", "denied: 0.0.0.0 is a this-network (unspecified) "
	                "address (no rule names it)"},
	    {"255.255.255.255", "denied: 255.255.255.255 is a broadcast "
	                        "address (no rule names it)"},
	    {"::1", "denied: ::1 is a loopback address (no rule names "
	            "it)"},
	    {"::", "denied: :: is an unspecified address (no rule names "
	           "it)"},
	    {"fe80::1", "denied: fe80::1 is a link-local address (no rule "
	                "names it)"},
	    {"fd12::1", "denied: fd12::1 is a unique-local (private) "
	                "address (no rule names it)"},
	    {"::ffff:127.0.0.1", "denied: ::ffff:127.0.0.1 is a loopback "
	                         "address (no rule names it)"},
	    {"64:ff9b::a00:5", "denied: 64:ff9b::a00:5 is a private "
	                       "address (no rule names it)"},
	    {"2002:a9fe:a9fe::1", "denied: 2002:a9fe:a9fe::1 is a "
	                          "link-local address (no rule names "
	                          "it)"},
	};
	struct cpconf *c = NULL;
	size_t i;

	CU_ASSERT_EQUAL_FATAL(conf_default(&c, 0), 0);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		CU_ASSERT_EQUAL(
		    addr(c, 0, 0, "svc.example", t[i].a, 80, 0), -1);
		WHY(t[i].why);
		CU_ASSERT_PTR_NULL(res.rule);
		/* the same literal, before any resolution */
		CU_ASSERT_EQUAL(name(c, 0, 0, t[i].a, 80, 0), -1);
		WHY(t[i].why);
	}
	CU_ASSERT_EQUAL(name(c, 0, 0, "svc.example", 80, 0), 0);
	WHY("allowed by rule at (built-in):1 (pending the address check)");
	CU_ASSERT_EQUAL(addr(c, 0, 0, "svc.example", PUB4, 80, 0), 0);
	WHY("allowed by rule at (built-in):1");
	CU_ASSERT_EQUAL(addr(c, 0, 0, "svc.example", PUB6, 80, 0), 0);
	CU_ASSERT_EQUAL(addr(c, 0, 0, NULL, "64:ff9b::5db8:d822", 80, 0), 0);
	CU_ASSERT_EQUAL(addr(c, 0, 0, NULL, "::ffff:" PUB4, 80, 0), 0);
	conf_free(c);
}

/* Only a rule naming the address by range opens it; its position among
 * the allow rules does not matter, a deny above it still wins. */
static void
test_special_named(void)
{
	struct cpconf *c = cf("allow to any\n"
	                      "allow from user root to 10.0.0.0/8 port 5432\n"
	                      "deny from user daemon to 192.168.0.0/16\n"
	                      "allow to 192.168.1.0/24\n"
	                      "allow from user root to fe80::/10\n"
	                      "allow to localhost\n"
	                      "allow to \"*.internal\"\n");

	if (c == NULL)
		return;
	CU_ASSERT_EQUAL(addr(c, 0, 0, "db.internal", "10.0.0.5", 5432, 0), 0);
	WHY("allowed by rule at p.conf:2");
	CU_ASSERT_EQUAL(addr(c, 0, 0, "db.internal", "10.0.0.5", 5433, 0), -1);
	WHY("denied: 10.0.0.5 is a private address (no rule names it)");
	CU_ASSERT_EQUAL(addr(c, 5, 5, "db.internal", "10.0.0.5", 5432, 0), -1);
	WHY("denied: 10.0.0.5 is a private address (no rule names it)");
	CU_ASSERT_EQUAL(addr(c, 1, 1, NULL, "192.168.1.1", 80, 0), -1);
	WHY("denied by rule at p.conf:3");
	CU_ASSERT_EQUAL(addr(c, 5, 5, NULL, "192.168.1.1", 80, 0), 0);
	WHY("allowed by rule at p.conf:4");
	CU_ASSERT_EQUAL(addr(c, 5, 5, NULL, "192.168.2.1", 80, 0), -1);
	CU_ASSERT_EQUAL(addr(c, 0, 0, NULL, "fe80::1", 80, 0), 0);
	WHY("allowed by rule at p.conf:5");
	CU_ASSERT_EQUAL(addr(c, 0, 0, NULL, "::ffff:10.0.0.5", 5432, 0), 0);
	WHY("allowed by rule at p.conf:2");
	CU_ASSERT_EQUAL(addr(c, 0, 0, NULL, "64:ff9b::a00:5", 5432, 0), 0);
	WHY("allowed by rule at p.conf:2");
	/* names do not open special addresses */
	CU_ASSERT_EQUAL(addr(c, 5, 5, "localhost", "127.0.0.1", 80, 0), -1);
	WHY("denied: 127.0.0.1 is a loopback address (no rule names it)");
	CU_ASSERT_EQUAL(addr(c, 5, 5, "db.internal", "10.1.1.1", 80, 0), -1);
	/* the literal itself, before resolution */
	CU_ASSERT_EQUAL(name(c, 0, 0, "10.0.0.5", 5432, 0), 0);
	CU_ASSERT_EQUAL(name(c, 0, 0, "10.0.0.5", 80, 0), -1);
	conf_free(c);
}

static void
test_bad_requests(void)
{
	struct cpconf *c = cf("allow to any\n");
	struct sockaddr_un su;
	struct cp_peer p = who(5, 5);
	char longname[400];

	if (c == NULL)
		return;
	CU_ASSERT_EQUAL(name(c, 5, 5, "2130706433", 80, 0), -1);
	WHY("denied: invalid host name");
	CU_ASSERT_PTR_NULL(res.rule);
	CU_ASSERT_EQUAL(name(c, 5, 5, "0x7f.1", 80, 0), -1);
	CU_ASSERT_EQUAL(name(c, 5, 5, "a b.example", 80, 0), -1);
	CU_ASSERT_EQUAL(name(c, 5, 5, "", 80, 0), -1);
	CU_ASSERT_EQUAL(name(c, 5, 5, NULL, 80, 0), -1);
	CU_ASSERT_EQUAL(name(c, 5, 5, "fe80::1%eth0", 80, 0), -1);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CU_ASSERT_EQUAL(name(c, 5, 5, longname, 80, 0), -1);
	WHY("denied: invalid host name");
	CU_ASSERT_EQUAL(name(c, 5, 5, "ok.example", 80, 0), 0);

	memset(&su, 0, sizeof(su));
	su.sun_family = AF_UNIX;
	CU_ASSERT_EQUAL(policy_check_addr(c, &p, "ok.example",
	                    (struct sockaddr *)&su, 80, 0, &res),
	    -1);
	WHY("denied: unsupported address family");
	CU_ASSERT_EQUAL(
	    policy_check_addr(c, &p, "ok.example", NULL, 80, 0, &res), -1);
	conf_free(c);
}

/* The request's TLS policy; fails the test when the blocks conflict. */
static const struct dest_tls *
tpol(const struct cpconf *c, const char *host, const char *sni, uint16_t port)
{
	static struct tls_policy tp;
	char err[256];

	if (policy_tls_request(c, host, sni, port, &tp, err, sizeof(err))) {
		fprintf(stderr, "tls policy %s/%s: %s\n", host, sni, err);
		CU_FAIL("policy_tls_request");
	}
	return &tp.t;
}

static void
test_tls_merge(void)
{
	struct cpconf *c = cf("min-tls 1.2\n"
	                      "alpn \"h2\" \"http/1.1\"\n"
	                      "verify optional\n"
	                      "destination \"api.example.com\" port 443 {\n"
	                      "  verify required\n"
	                      "  min-tls 1.3\n"
	                      "}\n"
	                      "destination \"*.example.com\" {\n"
	                      "  client-ca forbidden\n"
	                      "}\n"
	                      "destination 93.184.216.0/24 {\n"
	                      "  alpn any\n"
	                      "}\n");
	const struct dest_tls *t;

	if (c == NULL)
		return;
	/* Both blocks match: each gives its strictest field. */
	t = tpol(c, "api.example.com", NULL, 443);
	CU_ASSERT_EQUAL(t->verify, TLSV_REQUIRED);
	CU_ASSERT_EQUAL(t->min_version, CONF_TLS13);
	CU_ASSERT_EQUAL(t->nalpn, 2);
	CU_ASSERT_EQUAL(t->client_ca, CLIENT_CA_FORBIDDEN);
	t = tpol(c, "API.Example.COM.", NULL, 443);
	CU_ASSERT_EQUAL(t->min_version, CONF_TLS13);

	/* another port: the pattern block only */
	t = tpol(c, "api.example.com", NULL, 8443);
	CU_ASSERT_EQUAL(t->verify, TLSV_OPTIONAL);
	CU_ASSERT_EQUAL(t->client_ca, CLIENT_CA_FORBIDDEN);
	CU_ASSERT_EQUAL(t->min_version, CONF_TLS12);
	CU_ASSERT_EQUAL(t->nalpn, 2);
	CU_ASSERT_STRING_EQUAL(t->alpn[1], "http/1.1");

	t = tpol(c, PUB4, NULL, 443);
	CU_ASSERT_EQUAL(t->nalpn, 0);
	CU_ASSERT_EQUAL(t->alpn_none, 0);
	CU_ASSERT_EQUAL(tpol(c, "::ffff:" PUB4, NULL, 443)->nalpn, 0);

	/* No block: the global policy. */
	CU_ASSERT_EQUAL(tpol(c, "example.com", NULL, 443)->nalpn, 2);
	t = tpol(c, "other.org", NULL, 443);
	CU_ASSERT_EQUAL(t->verify, TLSV_OPTIONAL);
	CU_ASSERT_EQUAL(t->client_ca, CLIENT_CA_ALLOWED);
	CU_ASSERT_EQUAL(tpol(c, "93.184.217.1", NULL, 443)->nalpn, 2);
	CU_ASSERT_EQUAL(tpol(c, NULL, NULL, 443)->nalpn, 2);
	CU_ASSERT_EQUAL(tpol(c, "", "", 443)->nalpn, 2);
	CU_ASSERT_EQUAL(c->tls.nalpn, 2);
	CU_ASSERT_PTR_NULL(c->tls.file);
	conf_free(c);
}

/*
 * The server name's blocks apply as well as the host's, and a name with no
 * block brings the global policy: whichever name a client picks, the
 * stricter setting stays.
 */
static void
test_tls_sni(void)
{
	struct cpconf *c = cf("destination \"secure.example\" {\n"
	                      "  verify required\n"
	                      "  min-tls 1.3\n"
	                      "}\n"
	                      "destination 192.0.2.0/24 {\n"
	                      "  client-ca forbidden\n"
	                      "}\n"
	                      "destination \"legacy.example\" {\n"
	                      "  verify optional\n"
	                      "}\n");
	const struct dest_tls *t;

	if (c == NULL)
		return;
	/* By address, with the name of a stricter block. */
	t = tpol(c, "192.0.2.7", "secure.example", 443);
	CU_ASSERT_EQUAL(t->verify, TLSV_REQUIRED);
	CU_ASSERT_EQUAL(t->min_version, CONF_TLS13);
	CU_ASSERT_EQUAL(t->client_ca, CLIENT_CA_FORBIDDEN);
	/* The host's block stands whatever the server name. */
	t = tpol(c, "secure.example", "legacy.example", 443);
	CU_ASSERT_EQUAL(t->verify, TLSV_REQUIRED);
	CU_ASSERT_EQUAL(t->min_version, CONF_TLS13);
	t = tpol(c, "secure.example", "nothing.example", 443);
	CU_ASSERT_EQUAL(t->verify, TLSV_REQUIRED);
	t = tpol(c, "192.0.2.7", "legacy.example", 443);
	CU_ASSERT_EQUAL(t->verify, TLSV_OPTIONAL);
	CU_ASSERT_EQUAL(t->client_ca, CLIENT_CA_FORBIDDEN);
	/* An address as the server name (the handshake refuses it) only
	 * makes the policy stricter. */
	t = tpol(c, "legacy.example", "192.0.2.7", 443);
	CU_ASSERT_EQUAL(t->client_ca, CLIENT_CA_FORBIDDEN);
	conf_free(c);

	/* A name without a block brings the global setting back. */
	c = cf("verify required\n"
	       "min-tls 1.3\n"
	       "destination \"legacy.example\" {\n"
	       "  verify optional\n"
	       "  min-tls 1.2\n"
	       "}\n");
	if (c == NULL)
		return;
	t = tpol(c, "legacy.example", NULL, 443);
	CU_ASSERT_EQUAL(t->verify, TLSV_OPTIONAL);
	CU_ASSERT_EQUAL(t->min_version, CONF_TLS12);
	t = tpol(c, "legacy.example", "legacy.example.", 443);
	CU_ASSERT_EQUAL(t->verify, TLSV_OPTIONAL);
	t = tpol(c, "other.example", "legacy.example", 443);
	CU_ASSERT_EQUAL(t->verify, TLSV_REQUIRED);
	CU_ASSERT_EQUAL(t->min_version, CONF_TLS13);
	t = tpol(c, "legacy.example", "other.example", 443);
	CU_ASSERT_EQUAL(t->verify, TLSV_REQUIRED);
	conf_free(c);
}

/* cn-fallback holds only when every policy that applies says yes. */
static void
test_tls_cn_fallback(void)
{
	struct cpconf *c = cf("destination \"old.example\" {\n"
	                      "  cn-fallback yes\n"
	                      "}\n"
	                      "destination \"*.example\" port 8443 {\n"
	                      "  cn-fallback no\n"
	                      "}\n");

	if (c == NULL)
		return;
	CU_ASSERT_EQUAL(tpol(c, "old.example", NULL, 443)->cn_fallback, 1);
	CU_ASSERT_EQUAL(tpol(c, "old.example", NULL, 8443)->cn_fallback, 0);
	CU_ASSERT_EQUAL(tpol(c, "new.example", NULL, 443)->cn_fallback, 0);
	CU_ASSERT_EQUAL(
	    tpol(c, "old.example", "old.example.", 443)->cn_fallback, 1);
	/* The other name has the global "no". */
	CU_ASSERT_EQUAL(
	    tpol(c, "old.example", "new.example", 443)->cn_fallback, 0);
	CU_ASSERT_EQUAL(tpol(c, PUB4, "old.example", 443)->cn_fallback, 0);
	conf_free(c);

	c = cf("cn-fallback yes\n"
	       "destination \"new.example\" {\n"
	       "  cn-fallback no\n"
	       "}\n");
	if (c == NULL)
		return;
	CU_ASSERT_EQUAL(tpol(c, PUB4, "old.example", 443)->cn_fallback, 1);
	CU_ASSERT_EQUAL(tpol(c, PUB4, "new.example", 443)->cn_fallback, 0);
	CU_ASSERT_EQUAL(
	    tpol(c, "new.example", "old.example", 443)->cn_fallback, 0);
	conf_free(c);
}

static int
alpn_ok(const struct dest_tls *t, const char *wire)
{
	return policy_alpn_allowed(t, (const uint8_t *)wire, strlen(wire));
}

static void
test_alpn_pins(void)
{
	struct cpconf *c =
	    cf("alpn h2 http/1.1\n"
	       "destination a.example {\n"
	       "  pin sha256 ypeBEsobvcr6wjGzmiPcTaeG7/gUfE5yuYB3ha/uSLs=\n"
	       "  alpn any\n"
	       "}\n");
	const struct dest_tls *g, *d;
	uint8_t pin[32];

	if (c == NULL)
		return;
	g = &c->tls;
	d = &c->dests[0].merged;
	CU_ASSERT_EQUAL(policy_alpn_allowed(g, (const uint8_t *)"", 0), 1);
	CU_ASSERT_EQUAL(policy_alpn_allowed(g, (const uint8_t *)"\2h2", 3), 1);
	CU_ASSERT_EQUAL(
	    policy_alpn_allowed(g, (const uint8_t *)"\2h2\10http/1.1", 12), 1);
	CU_ASSERT_EQUAL(policy_alpn_allowed(g, (const uint8_t *)"\2h3", 3), 0);
	CU_ASSERT_EQUAL(
	    policy_alpn_allowed(g, (const uint8_t *)"\2h2\2h3", 6), 0);
	CU_ASSERT_EQUAL(policy_alpn_allowed(g, (const uint8_t *)"\1h", 2), 0);
	CU_ASSERT_EQUAL(policy_alpn_allowed(g, (const uint8_t *)"\5h2", 3), -1);
	CU_ASSERT_EQUAL(policy_alpn_allowed(g, (const uint8_t *)"\0", 1), -1);
	CU_ASSERT_EQUAL(policy_alpn_allowed(d, (const uint8_t *)"\2h3", 3), 1);
	CU_ASSERT_EQUAL(policy_alpn_allowed(d, (const uint8_t *)"\3h3", 3), -1);

	memset(pin, 0, sizeof(pin));
	CU_ASSERT_EQUAL(policy_pin_match(g, pin), 1); /* no pins */
	CU_ASSERT_EQUAL(policy_pin_match(d, pin), 0);
	memcpy(pin, d->pins[0], 32);
	CU_ASSERT_EQUAL(pin[0], 0xca);
	CU_ASSERT_EQUAL(policy_pin_match(d, pin), 1);
	CU_ASSERT_EQUAL(d->verify, TLSV_REQUIRED); /* pins imply it */

	/* The request's lists meet: "any" leaves the other list. */
	CU_ASSERT_EQUAL(
	    alpn_ok(tpol(c, "a.example", "b.example", 443), "\2h2\10http/1.1"),
	    1);
	CU_ASSERT_EQUAL(
	    alpn_ok(tpol(c, "a.example", "b.example", 443), "\2h3"), 0);
	conf_free(c);

	c = cf("destination a.example {\n"
	       "  alpn h2 http/1.1\n"
	       "}\n"
	       "destination b.example {\n"
	       "  alpn http/1.1 spdy/3\n"
	       "}\n"
	       "destination c.example {\n"
	       "  alpn h3\n"
	       "}\n");
	if (c == NULL)
		return;
	d = tpol(c, "a.example", "b.example", 443);
	CU_ASSERT_EQUAL_FATAL(d->nalpn, 1);
	CU_ASSERT_STRING_EQUAL(d->alpn[0], "http/1.1");
	CU_ASSERT_EQUAL(alpn_ok(d, "\10http/1.1"), 1);
	CU_ASSERT_EQUAL(alpn_ok(d, "\2h2"), 0);
	/* Nothing in common: no protocol at all, not "any". */
	d = tpol(c, "a.example", "c.example", 443);
	CU_ASSERT_EQUAL(d->nalpn, 0);
	CU_ASSERT_EQUAL(d->alpn_none, 1);
	CU_ASSERT_EQUAL(alpn_ok(d, "\2h2"), 0);
	CU_ASSERT_EQUAL(alpn_ok(d, "\2h3"), 0);
	CU_ASSERT_EQUAL(alpn_ok(d, ""), 1); /* offering none is fine */
	conf_free(c);
}

#define PIN_A "ypeBEsobvcr6wjGzmiPcTaeG7/gUfE5yuYB3ha/uSLs="
#define PIN_B "PiPoFgA5WUoziU9lZOGxNIu9egCI1CxKy3PurtWcAJ0="
#define PIN_G "LhrnIkB/lKWTHAaq5QPzZfLB9Ar4yMdUtmKuSp4gvvE="

/* Every block's pins are met, each by some certificate of the chain. */
static void
test_pin_sets(void)
{
	struct cpconf *c = cf("pin sha256 " PIN_G "\n"
	                      "destination a.example {\n"
	                      "  pin sha256 " PIN_A "\n"
	                      "}\n"
	                      "destination *.example {\n"
	                      "  pin sha256 " PIN_B "\n"
	                      "}\n"
	                      "destination any port 8443 {\n"
	                      "  verify required\n"
	                      "}\n");
	struct tls_policy tp;
	uint8_t spki[3][32];
	char err[256];

	if (c == NULL)
		return;
	memcpy(spki[0], c->dests[0].own.pins[0], 32); /* A */
	memcpy(spki[1], c->dests[1].own.pins[0], 32); /* B */
	memcpy(spki[2], c->tls.pins[0], 32);          /* G */
	CU_ASSERT_EQUAL_FATAL(policy_tls_request(c, "a.example", NULL, 443, &tp,
	                          err, sizeof(err)),
	    0);
	CU_ASSERT_EQUAL(tp.npinsets, 2);
	CU_ASSERT_EQUAL(tp.t.verify, TLSV_REQUIRED);
	CU_ASSERT_EQUAL(policy_pins_ok(&tp, spki, 2), 1);
	CU_ASSERT_EQUAL(policy_pins_ok(&tp, spki, 1), 0);
	CU_ASSERT_EQUAL(policy_pins_ok(&tp, spki + 1, 2), 0);
	CU_ASSERT_EQUAL(policy_pins_ok(&tp, spki, 0), 0);

	/* The "any" block inherits the global pins: all three sets. */
	CU_ASSERT_EQUAL_FATAL(policy_tls_request(c, "a.example", NULL, 8443,
	                          &tp, err, sizeof(err)),
	    0);
	CU_ASSERT_EQUAL(tp.npinsets, 3);
	CU_ASSERT_EQUAL(policy_pins_ok(&tp, spki, 3), 1);
	CU_ASSERT_EQUAL(policy_pins_ok(&tp, spki, 2), 0);

	/* By address with a pinned server name: its pins and, for the
	 * address, which no block matches, the global ones. */
	CU_ASSERT_EQUAL_FATAL(policy_tls_request(c, PUB4, "x.example", 443, &tp,
	                          err, sizeof(err)),
	    0);
	CU_ASSERT_EQUAL(tp.npinsets, 2);
	CU_ASSERT_EQUAL(policy_pins_ok(&tp, spki + 1, 2), 1);
	CU_ASSERT_EQUAL(policy_pins_ok(&tp, spki + 2, 1), 0);
	CU_ASSERT_EQUAL(policy_pins_ok(&tp, spki + 1, 1), 0);
	conf_free(c);

	c = cf("destination a.example {\n"
	       "  min-tls 1.3\n"
	       "}\n");
	if (c == NULL)
		return;
	CU_ASSERT_EQUAL_FATAL(policy_tls_request(c, "a.example", "b.example",
	                          443, &tp, err, sizeof(err)),
	    0);
	CU_ASSERT_EQUAL(tp.npinsets, 0);
	CU_ASSERT_EQUAL(policy_pins_ok(&tp, spki, 0), 1);
	conf_free(c);
}

/* 0, or -1 with the conflict message in err. */
static int
cert_of(const struct cpconf *c, const char *host, const char *sni,
    const char **file, char *err, size_t errsz)
{
	struct tls_policy tp;

	*file = "(failed)";
	if (policy_tls_request(c, host, sni, 443, &tp, err, errsz) == -1)
		return -1;
	*file = tp.t.cert_file != NULL ? tp.t.cert_file : "none";
	return 0;
}

/* The host chooses the client certificate; the server name may only
 * agree with it. */
static void
test_client_cert_rule(void)
{
	struct cpconf *c = cf("client-certificate /g.crt key /g.key\n"
	                      "destination \"a.example\" {\n"
	                      "  client-certificate /a.crt key /a.key\n"
	                      "}\n"
	                      "destination \"*.a.example\" {\n"
	                      "  client-certificate /a.crt key /a.key\n"
	                      "}\n"
	                      "destination \"b.example\" {\n"
	                      "  client-certificate none\n"
	                      "}\n"
	                      "destination \"*.b.example\" {\n"
	                      "  client-certificate /b.crt key /b.key\n"
	                      "}\n"
	                      "destination any {\n"
	                      "  min-tls 1.2\n"
	                      "}\n");
	const char *f;
	char err[256];

	if (c == NULL)
		return;
	CU_ASSERT_EQUAL(cert_of(c, "a.example", NULL, &f, err, 256), 0);
	CU_ASSERT_STRING_EQUAL(f, "/a.crt");
	CU_ASSERT_EQUAL(
	    cert_of(c, "x.a.example", "a.example", &f, err, 256), 0);
	CU_ASSERT_STRING_EQUAL(f, "/a.crt");
	/* "any" names none: it does not count. */
	CU_ASSERT_EQUAL(cert_of(c, "other.example", NULL, &f, err, 256), 0);
	CU_ASSERT_STRING_EQUAL(f, "/g.crt");
	CU_ASSERT_EQUAL(cert_of(c, "b.example", NULL, &f, err, 256), 0);
	CU_ASSERT_STRING_EQUAL(f, "none");
	/* A server name without a block of its own agrees with anything. */
	CU_ASSERT_EQUAL(
	    cert_of(c, "a.example", "other.example", &f, err, 256), 0);
	CU_ASSERT_STRING_EQUAL(f, "/a.crt");
	/* A server name cannot bring another destination's certificate, nor
	 * remove the host's. */
	CU_ASSERT_EQUAL(
	    cert_of(c, "other.example", "a.example", &f, err, 256), -1);
	CU_ASSERT_STRING_EQUAL(err,
	    "destination blocks name different client certificates "
	    "(p.conf:1 and p.conf:3)");
	CU_ASSERT_EQUAL(cert_of(c, PUB4, "a.example", &f, err, 256), -1);
	CU_ASSERT_EQUAL(cert_of(c, "a.example", "b.example", &f, err, 256), -1);
	CU_ASSERT_STRING_EQUAL(err,
	    "destination blocks name different client certificates "
	    "(p.conf:3 and p.conf:9)");
	/* The pattern block names one, "any" none: no conflict. */
	CU_ASSERT_EQUAL(cert_of(c, "x.b.example", NULL, &f, err, 256), 0);
	CU_ASSERT_STRING_EQUAL(f, "/b.crt");
	conf_free(c);

	c = cf("destination \"*.example\" {\n"
	       "  client-certificate /w.crt key /w.key\n"
	       "}\n"
	       "destination \"a.example\" {\n"
	       "  client-certificate /a.crt key /a.key\n"
	       "}\n"
	       "destination \"k.example\" {\n"
	       "  client-certificate /w.crt key /k.key\n"
	       "}\n");
	if (c == NULL)
		return;
	CU_ASSERT_EQUAL(cert_of(c, "a.example", NULL, &f, err, 256), -1);
	CU_ASSERT_STRING_EQUAL(err,
	    "destination blocks name different client certificates "
	    "(p.conf:2 and p.conf:5)");
	CU_ASSERT_EQUAL(cert_of(c, "k.example", NULL, &f, err, 256), -1);
	CU_ASSERT_EQUAL(cert_of(c, "w.example", NULL, &f, err, 256), 0);
	CU_ASSERT_STRING_EQUAL(f, "/w.crt");
	/* No global certificate: "the global default" disagrees. */
	CU_ASSERT_EQUAL(cert_of(c, PUB4, "w.example", &f, err, 256), -1);
	CU_ASSERT_STRING_EQUAL(err,
	    "destination blocks name different client certificates "
	    "(the global default and p.conf:2)");
	conf_free(c);
}

static void
test_default_unprivileged(void)
{
	struct cpconf *c = NULL;
	uid_t me = getuid(), other = me + 4242;

	CU_ASSERT_EQUAL_FATAL(conf_default(&c, 1), 0);
	CU_ASSERT_EQUAL(addr(c, me, 0, "localhost", "127.0.0.1", 8000, 0), 0);
	WHY("allowed by rule at (built-in):1");
	CU_ASSERT_EQUAL(addr(c, me, 0, NULL, "127.1.2.3", 8000, 1), 0);
	CU_ASSERT_EQUAL(addr(c, me, 0, "localhost", "::1", 8000, 1), 0);
	WHY("allowed by rule at (built-in):2");
	CU_ASSERT_EQUAL(addr(c, me, 0, NULL, "::ffff:127.0.0.1", 80, 0), 0);
	CU_ASSERT_EQUAL(name(c, me, 0, "127.0.0.1", 8000, 0), 0);
	CU_ASSERT_EQUAL(name(c, me, 0, "localhost", 8000, 0), 0);
	/* nothing special beyond loopback, nothing special for others */
	CU_ASSERT_EQUAL(addr(c, me, 0, NULL, "10.0.0.1", 80, 0), -1);
	CU_ASSERT_EQUAL(addr(c, me, 0, NULL, "169.254.169.254", 80, 0), -1);
	CU_ASSERT_EQUAL(addr(c, other, 0, NULL, "127.0.0.1", 8000, 0), -1);
	WHY("denied: 127.0.0.1 is a loopback address (no rule names it)");
	CU_ASSERT_EQUAL(addr(c, other, 0, NULL, "::1", 8000, 0), -1);
	CU_ASSERT_EQUAL(addr(c, other, 0, NULL, PUB4, 443, 1), 0);
	WHY("allowed by rule at (built-in):3");
	CU_ASSERT_EQUAL(addr(c, me, 0, NULL, PUB6, 443, 1), 0);
	conf_free(c);

	CU_ASSERT_EQUAL_FATAL(conf_default(&c, 0), 0);
	CU_ASSERT_EQUAL(addr(c, me, 0, NULL, "127.0.0.1", 8000, 0), -1);
	CU_ASSERT_EQUAL(addr(c, me, 0, NULL, "::1", 8000, 0), -1);
	CU_ASSERT_EQUAL(addr(c, me, 0, NULL, PUB4, 8000, 0), 0);
	conf_free(c);
}

static void
test_special_table(void)
{
	static const struct {
		const char *a, *what; /* NULL: public */
	} t[] = {
	    {"0.1.2.3", "a this-network (unspecified) address"},
	    {"10.255.255.255", "a private address"},
	    {"100.64.0.0", "a shared (carrier-grade NAT) address"},
	    {"100.127.255.255", "a shared (carrier-grade NAT) address"},
	    {"100.63.255.255", NULL},
	    {"100.128.0.0", NULL},
	    {"127.255.0.1", "a loopback address"},
	    {"169.254.0.1", "a link-local address"},
	    {"172.16.0.1", "a private address"},
	    {"172.31.255.255", "a private address"},
	    {"172.15.255.255", NULL},
	    {"172.32.0.0", NULL},
	    {"192.0.0.9", "an IETF protocol assignment address"},
	    {"192.0.2.1", "a documentation address"},
	    {"192.88.99.1", "a 6to4 relay anycast address"},
	    {"192.168.0.1", "a private address"},
	    {"192.169.0.0", NULL},
	    {"198.18.0.1", "a benchmarking address"},
	    {"198.19.255.255", "a benchmarking address"},
	    {"198.20.0.0", NULL},
	    {"198.17.255.255", NULL},
	    {"198.51.100.7", "a documentation address"},
	    {"203.0.113.7", "a documentation address"},
	    {"224.0.0.1", "a multicast address"},
	    {"239.255.255.255", "a multicast address"},
	    {"223.255.255.255", NULL},
	    {"240.0.0.1", "a reserved address"},
	    {"255.255.255.254", "a reserved address"},
	    {"255.255.255.255", "a broadcast address"},
	    {"1.1.1.1", NULL},
	    {"8.8.8.8", NULL},
	    {"::", "an unspecified address"},
	    {"::1", "a loopback address"},
	    {"::10.0.0.1", "an IPv4-compatible (deprecated) address"},
	    {"::ffff:10.1.1.1", "a private address"},
	    {"::ffff:8.8.8.8", NULL},
	    {"64:ff9b::808:808", NULL},
	    {"64:ff9b::c0a8:101", "a private address"},
	    {"64:ff9b:1::1", "a local-use NAT64 address"},
	    {"100::1", "a discard-only address"},
	    {"100:0:0:1::1", NULL},
	    {"2001:db8::1", "a documentation address"},
	    {"2001:db9::1", NULL},
	    {"3fff:fff::1", "a documentation address"},
	    {"2002:808:808::1", NULL},
	    {"2002:c0a8:101::1", "a private address"},
	    {"fc00::1", "a unique-local (private) address"},
	    {"fdff::1", "a unique-local (private) address"},
	    {"fbff::1", NULL},
	    {"fe80::1", "a link-local address"},
	    {"febf::1", "a link-local address"},
	    {"fec0::1", "a site-local (deprecated) address"},
	    {"ff02::1", "a multicast address"},
	    {PUB6, NULL},
	    {"2a00:1450:4001::1", NULL},
	};
	struct sockaddr_storage ss;
	struct sockaddr_un su;
	const char *w;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ss = sa(t[i].a);
		w = policy_special((struct sockaddr *)&ss);
		if (t[i].what == NULL) {
			CU_ASSERT_PTR_NULL(w);
		} else {
			CU_ASSERT(w != NULL && strcmp(w, t[i].what) == 0);
		}
		if ((w == NULL) != (t[i].what == NULL) ||
		    (w != NULL && strcmp(w, t[i].what) != 0))
			fprintf(
			    stderr, "%s: got %s\n", t[i].a, w ? w : "public");
	}
	memset(&su, 0, sizeof(su));
	su.sun_family = AF_UNIX;
	CU_ASSERT_PTR_NULL(policy_special((struct sockaddr *)&su));
	CU_ASSERT_PTR_NULL(policy_special(NULL));
}

/* Collects the crl-files policy_crl_each() names. */
struct crl_names {
	int n;
	char s[8][64];
};

static int
crl_name(void *arg, const char *path, const char *file, int line)
{
	struct crl_names *c = arg;

	if (c->n < 8)
		snprintf(c->s[c->n++], sizeof(c->s[0]), "%s@%d", path, line);
	return 0;
}

/* ocsp: the strictest wins; crl-check all wins; every crl-file counts,
 * the global one once however many blocks inherit it. */
static void
test_tls_revocation(void)
{
	struct cpconf *c = cf("crl-file \"/g.crl\"\n"               /* 1 */
	                      "destination \"a.example\" {\n"      /* 2 */
	                      "  ocsp require\n"
	                      "}\n"
	                      "destination \"*.example\" {\n"      /* 5 */
	                      "  ocsp off\n"
	                      "  crl-file \"/b.crl\"\n"            /* 7 */
	                      "  crl-check all\n"
	                      "}\n"
	                      "destination \"c.example\" {\n"      /* 10 */
	                      "  ocsp off\n"
	                      "}\n"
	                      "destination " PUB4 " {\n"
	                      "  ocsp off\n"
	                      "}\n");
	struct tls_policy tp;
	struct crl_names n;
	struct sockaddr_in sin;
	char err[256];

	if (c == NULL)
		return;
	CU_ASSERT_EQUAL(c->tls.ocsp, OCSP_IF_STAPLED);
	CU_ASSERT_EQUAL(tpol(c, "a.example", NULL, 443)->ocsp, OCSP_REQUIRE);
	CU_ASSERT_EQUAL(tpol(c, "b.example", NULL, 443)->ocsp, OCSP_OFF);
	CU_ASSERT_EQUAL(tpol(c, "c.example", NULL, 443)->ocsp, OCSP_OFF);
	/* The server name's block is stricter. */
	CU_ASSERT_EQUAL(
	    tpol(c, "c.example", "a.example", 443)->ocsp, OCSP_REQUIRE);
	CU_ASSERT_EQUAL(tpol(c, "other.org", NULL, 443)->ocsp, OCSP_IF_STAPLED);
	CU_ASSERT_EQUAL(tpol(c, "b.example", NULL, 443)->crl_all, 1);
	CU_ASSERT_EQUAL(tpol(c, "a.example", NULL, 443)->crl_all, 1);
	CU_ASSERT_EQUAL(tpol(c, "other.org", NULL, 443)->crl_all, 0);

	/* a.example: its own block (the global CRLs) and *.example's. */
	CU_ASSERT_EQUAL_FATAL(policy_tls_request(c, "a.example", NULL, 443, &tp,
	                          err, sizeof(err)),
	    0);
	CU_ASSERT_EQUAL(tp.ncrlsets, 2);
	memset(&n, 0, sizeof(n));
	CU_ASSERT_EQUAL(policy_crl_each(&tp, crl_name, &n), 0);
	CU_ASSERT_EQUAL_FATAL(n.n, 2);
	CU_ASSERT_STRING_EQUAL(n.s[0], "/g.crl@1");
	CU_ASSERT_STRING_EQUAL(n.s[1], "/b.crl@7");
	/* Inherited by two blocks and the global part: one set. */
	CU_ASSERT_EQUAL_FATAL(policy_tls_request(c, "c.example", "other.org",
	                          443, &tp, err, sizeof(err)),
	    0);
	CU_ASSERT_EQUAL(tp.ncrlsets, 2); /* and *.example's */
	CU_ASSERT_EQUAL_FATAL(policy_tls_request(c, "other.org", NULL, 443, &tp,
	                          err, sizeof(err)),
	    0);
	CU_ASSERT_EQUAL(tp.ncrlsets, 1);
	CU_ASSERT_PTR_NULL(tp.t.crl_file);
	/* The address connected folds in its block after the dial. */
	CU_ASSERT_EQUAL(tp.t.ocsp, OCSP_IF_STAPLED);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, PUB4, &sin.sin_addr);
	policy_tls_fold_addr(&tp, (struct sockaddr *)&sin, 443);
	CU_ASSERT_EQUAL(tp.t.ocsp, OCSP_IF_STAPLED);
	conf_free(c);
}

/* An empty configuration denies everything. */
static void
test_no_rules(void)
{
	struct cpconf *c = cf("engines 1\n");

	if (c == NULL)
		return;
	CU_ASSERT_EQUAL(name(c, 0, 0, "www.example.org", 443, 1), -1);
	CU_ASSERT_EQUAL(addr(c, 0, 0, NULL, PUB4, 443, 1), -1);
	WHY("denied: no rule allows uid 0 to reach " PUB4 " port 443 (tls)");
	conf_free(c);
}

int
main(void)
{
	CU_pSuite s = cu_suite("policy", NULL, NULL);

	cu_test(s, "user, group, uid, gid", test_clients);
	cu_test(s, "first match wins", test_first_match);
	cu_test(s, "port ranges and lists", test_ports);
	cu_test(s, "tcp and tls", test_kinds);
	cu_test(s, "host names and patterns", test_patterns);
	cu_test(s, "CIDR v4 and v6", test_cidr);
	cu_test(s, "name check, then address check", test_name_then_address);
	cu_test(s, "special ranges refused by default", test_special_default);
	cu_test(s, "special ranges opened by CIDR rules", test_special_named);
	cu_test(s, "bad requests", test_bad_requests);
	cu_test(s, "TLS policy merging", test_tls_merge);
	cu_test(s, "TLS policy of host and server name", test_tls_sni);
	cu_test(s, "cn-fallback: no wins", test_tls_cn_fallback);
	cu_test(s, "ALPN and pins", test_alpn_pins);
	cu_test(s, "every set of pins", test_pin_sets);
	cu_test(s, "ocsp, crl-file, crl-check", test_tls_revocation);
	cu_test(
	    s, "client certificate chosen by the host", test_client_cert_rule);
	cu_test(s, "default policy, unprivileged", test_default_unprivileged);
	cu_test(s, "special-purpose table", test_special_table);
	cu_test(s, "no rules: deny", test_no_rules);
	return cu_finish();
}
