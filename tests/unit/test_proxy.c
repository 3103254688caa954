/* SPDX-License-Identifier: ISC */
/*
 * Upstream proxies without a network: the proxy keywords of the
 * configuration, the choice of a request's proxy, the policy of a name the
 * proxy resolves, the request bytes, the answers' parsing and outcomes,
 * the tunnel's state machine over a socket pair (nothing past the answer
 * read), and the credentials file format.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "cpproto.h"
#include "ev.h"
#include "pcred.h"
#include "policy.h"
#include "proxy.h"
#include "../cutest.h"

static char err[512];

static struct cpconf *
parse(const char *text)
{
	struct cpconf *c = NULL;

	if (conf_parse(&c, "x.conf", text, strlen(text), err, sizeof(err)) ==
	    -1)
		return NULL;
	return c;
}

/* ---- configuration ---- */

static void
test_conf_good(void)
{
	struct cpconf *c = parse("proxy \"http://proxy.example:3128\"\n"
	                         "proxy-credentials \"/etc/cp/p.cred\"\n"
	                         "destination \"*.corp.example\" {\n"
	                         "\tproxy none\n"
	                         "}\n"
	                         "destination git.example port 22 {\n"
	                         "\tproxy-resolve local\n"
	                         "\tproxy \"socks5://[::1]:1080\"\n"
	                         "}\n"
	                         "destination 10.0.0.0/8 {\n"
	                         "\tproxy \"socks5://10.1.2.3:1080\"\n"
	                         "}\n");

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->proxy.kind, PROXY_HTTP);
	CU_ASSERT_STRING_EQUAL(c->proxy.host, "proxy.example");
	CU_ASSERT_EQUAL(c->proxy.port, 3128);
	CU_ASSERT_STRING_EQUAL(c->proxy.cred_file, "/etc/cp/p.cred");
	CU_ASSERT_EQUAL(c->proxy.resolve, PROXY_REMOTE);
	CU_ASSERT_EQUAL(c->proxy.line, 1);
	CU_ASSERT_EQUAL(c->dests[0].proxy.kind, PROXY_NONE);
	CU_ASSERT_EQUAL(c->dests[1].proxy.kind, PROXY_SOCKS5);
	CU_ASSERT_STRING_EQUAL(c->dests[1].proxy.host, "::1");
	CU_ASSERT_EQUAL(c->dests[1].proxy.port, 1080);
	CU_ASSERT_EQUAL(c->dests[1].proxy.resolve, PROXY_LOCAL);
	CU_ASSERT_PTR_NULL(c->dests[1].proxy.cred_file);
	CU_ASSERT_EQUAL(c->dests[2].proxy.kind, PROXY_SOCKS5);
	conf_free(c);
}

static const struct {
	const char *text, *msg;
} bad[] = {
    {"proxy \"ftp://a.example:21\"\n",
        "x.conf:1: proxy: 'ftp://a.example:21' is not http://HOST:PORT, "
        "socks5://HOST:PORT or none"},
    {"proxy \"http://a.example\"\n",
        "x.conf:1: proxy: 'a.example' is not HOST:PORT (a host name, an "
        "IPv4 address or [an IPv6 address], and a port)"},
    {"proxy \"http://a.example:0\"\n",
        "x.conf:1: proxy: 'a.example:0' is not HOST:PORT (a host name, an "
        "IPv4 address or [an IPv6 address], and a port)"},
    {"proxy \"http://a.example:65536\"\n",
        "x.conf:1: proxy: 'a.example:65536' is not HOST:PORT (a host "
        "name, an IPv4 address or [an IPv6 address], and a port)"},
    {"proxy \"socks5://::1:1080\"\n",
        "x.conf:1: proxy: '::1:1080' is not HOST:PORT (a host name, an "
        "IPv4 address or [an IPv6 address], and a port)"},
    {"proxy \"socks5://[zz]:1080\"\n",
        "x.conf:1: proxy: '[zz]:1080' is not HOST:PORT (a host name, an "
        "IPv4 address or [an IPv6 address], and a port)"},
    {"proxy \"http://a.example:80/path\"\n",
        "x.conf:1: proxy: 'a.example:80/path' is not HOST:PORT (a host "
        "name, an IPv4 address or [an IPv6 address], and a port)"},
    {"proxy \"http://u:p@a.example:80\"\n",
        "x.conf:1: proxy: credentials do not go in the URL: use "
        "proxy-credentials"},
    {"proxy\n", "x.conf:1: 'proxy' needs a value"},
    {"proxy none\nproxy none\n",
        "x.conf:2: duplicate 'proxy' (first at line 1)"},
    {"proxy-credentials \"/a\"\n",
        "x.conf:1: proxy-credentials: no proxy URL in the same scope"},
    {"proxy none\nproxy-resolve local\n",
        "x.conf:2: proxy-resolve: no proxy URL in the same scope"},
    {"proxy \"http://a.example:1\"\ndestination b.example {\n"
     "\tproxy-credentials \"/a\"\n}\n",
        "x.conf:3: proxy-credentials: no proxy URL in the same scope"},
    {"proxy \"http://a.example:1\"\nproxy-credentials a.cred\n",
        "x.conf:2: proxy-credentials: 'a.cred' is not an absolute path"},
    {"proxy \"http://a.example:1\"\nproxy-resolve maybe\n",
        "x.conf:2: proxy-resolve: 'maybe' is not remote or local"},
};

static void
test_conf_bad(void)
{
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cpconf *c = parse(bad[i].text);

		CU_ASSERT_PTR_NULL(c);
		conf_free(c);
		if (strcmp(err, bad[i].msg) != 0)
			fprintf(stderr, "case %zu: got '%s'\n", i, err);
		CU_ASSERT_STRING_EQUAL(err, bad[i].msg);
	}
}

/* ---- the choice of a proxy ---- */

static const char *
chosen(const struct cpconf *c, const char *host, uint16_t port)
{
	const struct proxy_conf *x;
	static char buf[300];

	if (policy_proxy(c, host, port, &x, err, sizeof(err)) == -1)
		return "conflict";
	if (x == NULL)
		return "direct";
	snprintf(buf, sizeof(buf), "%s:%u", x->host, x->port);
	return buf;
}

static void
test_choice(void)
{
	struct cpconf *c = parse("proxy \"http://g.example:1\"\n"
	                         "destination \"*.example\" {\n"
	                         "\tproxy \"http://p1.example:2\"\n}\n"
	                         "destination \"*.b.example\" {\n"
	                         "\tproxy \"http://p2.example:3\"\n}\n"
	                         "destination \"x.b.example\" {\n"
	                         "\tproxy none\n}\n"
	                         "destination \"x.b.example\" port 443 {\n"
	                         "\tproxy \"http://p3.example:4\"\n}\n"
	                         "destination 192.0.2.0/24 {\n"
	                         "\tproxy \"http://p4.example:5\"\n}\n"
	                         "destination 192.0.2.128/25 {\n"
	                         "\tproxy none\n}\n"
	                         "destination other.example {\n"
	                         "\tverify required\n}\n");

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_STRING_EQUAL(chosen(c, "www.test", 80), "g.example:1");
	CU_ASSERT_STRING_EQUAL(chosen(c, "a.example", 80), "p1.example:2");
	/* The longer pattern wins, whatever the order. */
	CU_ASSERT_STRING_EQUAL(chosen(c, "y.b.example", 80), "p2.example:3");
	/* The exact name wins over patterns; a port list over none. */
	CU_ASSERT_STRING_EQUAL(chosen(c, "x.b.example", 80), "direct");
	CU_ASSERT_STRING_EQUAL(chosen(c, "X.B.Example.", 443), "p3.example:4");
	/* A block that says nothing of proxies does not count. */
	CU_ASSERT_STRING_EQUAL(chosen(c, "other.example", 80), "p1.example:2");
	/* Address blocks match literals, the longest prefix winning. */
	CU_ASSERT_STRING_EQUAL(chosen(c, "192.0.2.1", 80), "p4.example:5");
	CU_ASSERT_STRING_EQUAL(chosen(c, "192.0.2.200", 80), "direct");
	CU_ASSERT_STRING_EQUAL(chosen(c, "198.51.100.1", 80), "g.example:1");
	conf_free(c);

	c = parse("destination \"*.example\" port 443 {\n"
	          "\tproxy \"http://p1.example:2\"\n}\n"
	          "destination \"*.example\" port 443,8443 {\n"
	          "\tproxy \"http://p1.example:2\"\n}\n"
	          "destination \"*.example\" port 443:444 {\n"
	          "\tproxy \"socks5://p1.example:2\"\n}\n"
	          "destination \"a.example\" {\n"
	          "\tproxy \"socks5://p9.example:9\"\n}\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	/* Blocks that agree may tie; a tie that disagrees is an error. */
	CU_ASSERT_STRING_EQUAL(chosen(c, "b.example", 8443), "p1.example:2");
	CU_ASSERT_STRING_EQUAL(chosen(c, "b.example", 443), "conflict");
	CU_ASSERT_STRING_EQUAL(err,
	    "destination blocks at x.conf:2 and x.conf:8 name different "
	    "proxies for b.example");
	/* A tie below the winner does not matter. */
	CU_ASSERT_STRING_EQUAL(chosen(c, "a.example", 443), "p9.example:9");
	CU_ASSERT_STRING_EQUAL(chosen(c, "b.example", 80), "direct");
	conf_free(c);
}

/* ---- the policy of a name the proxy resolves ---- */

static void
test_remote_policy(void)
{
	struct cpconf *c = parse("deny to bad.example\n"
	                         "allow to 203.0.113.0/24 port 22\n"
	                         "allow to \"*.example\" port 443\n"
	                         "deny to 10.0.0.0/8\n"
	                         "allow to any port 80\n");
	struct cp_peer peer = {.uid = 1000, .gid = 1000};
	struct policy_result r;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(
	    policy_check_remote_name(c, &peer, "www.example", 443, 1, &r), 0);
	CU_ASSERT_STRING_EQUAL(policy_why(&r), "allowed by rule at x.conf:3");
	CU_ASSERT_EQUAL(
	    policy_check_remote_name(c, &peer, "bad.example", 443, 1, &r), -1);
	CU_ASSERT_STRING_EQUAL(policy_why(&r), "denied by rule at x.conf:1");
	/* Only an address rule would allow it: what the proxy resolves the
	 * name to is unknown. */
	CU_ASSERT_EQUAL(
	    policy_check_remote_name(c, &peer, "ssh.test", 22, 0, &r), -1);
	CU_ASSERT_STRING_EQUAL(policy_why(&r),
	    "denied: only the address rule at x.conf:2 allows ssh.test, and "
	    "the proxy resolves the name (proxy-resolve remote)");
	/* Address deny rules cannot see a name. */
	CU_ASSERT_EQUAL(
	    policy_check_remote_name(c, &peer, "intranet.test", 80, 0, &r), 0);
	/* Literals are judged in full: the address rules apply. */
	CU_ASSERT_EQUAL(
	    policy_check_remote_name(c, &peer, "10.1.2.3", 80, 0, &r), -1);
	CU_ASSERT_STRING_EQUAL(policy_why(&r), "denied by rule at x.conf:4");
	/* ... also an allow by an address rule: it is the address. */
	CU_ASSERT_EQUAL(
	    policy_check_remote_name(c, &peer, "203.0.113.9", 22, 0, &r), 0);
	conf_free(c);
}

/* ---- requests ---- */

static const struct proxy_cred cred = {"alice", 5, "s3cr:et", 7};

static void
test_requests(void)
{
	struct proxy_target t = {
	    PROXY_HTTP, "127.0.0.1:3128", "www.example", 443, NULL};
	char buf[PROXY_MAX_REQUEST];
	uint8_t b[PROXY_MAX_REQUEST];
	size_t n;

	n = proxy_http_request(&t, buf, sizeof(buf));
	CU_ASSERT_EQUAL(n, strlen(buf));
	CU_ASSERT_STRING_EQUAL(buf, "CONNECT www.example:443 HTTP/1.1\r\n"
	                            "Host: www.example:443\r\n\r\n");
	t.host = "2001:db8::1";
	t.cred = &cred;
	proxy_http_request(&t, buf, sizeof(buf));
	/* base64("alice:s3cr:et") */
	CU_ASSERT_STRING_EQUAL(buf,
	    "CONNECT [2001:db8::1]:443 HTTP/1.1\r\n"
	    "Host: [2001:db8::1]:443\r\n"
	    "Proxy-Authorization: Basic YWxpY2U6czNjcjpldA==\r\n\r\n");
	CU_ASSERT_EQUAL(proxy_http_request(&t, buf, 40), 0);

	t.kind = PROXY_SOCKS5;
	n = proxy_socks_connect(&t, b, sizeof(b));
	CU_ASSERT_EQUAL(n, 4 + 16 + 2);
	CU_ASSERT(b[0] == 5 && b[1] == 1 && b[2] == 0 && b[3] == 4);
	CU_ASSERT(b[4] == 0x20 && b[5] == 0x01 && b[19] == 1);
	CU_ASSERT(b[20] == 0x01 && b[21] == 0xbb);
	t.host = "192.0.2.7";
	n = proxy_socks_connect(&t, b, sizeof(b));
	CU_ASSERT_EQUAL(n, 10);
	CU_ASSERT(b[3] == 1 && b[4] == 192 && b[7] == 7);
	t.host = "www.example";
	n = proxy_socks_connect(&t, b, sizeof(b));
	CU_ASSERT_EQUAL(n, 5 + 11 + 2);
	CU_ASSERT(
	    b[3] == 3 && b[4] == 11 && memcmp(b + 5, "www.example", 11) == 0);
}

/* ---- answers ---- */

static void
test_http_parse(void)
{
	const char *h =
	    "HTTP/1.1 407 Proxy Auth\x01Required\r\nX: y\r\n\r\nDATA";
	char reason[80];

	CU_ASSERT_EQUAL(proxy_http_header_end(h, strlen(h)), strlen(h) - 4);
	CU_ASSERT_EQUAL(proxy_http_header_end(h, strlen(h) - 5), 0);
	CU_ASSERT_EQUAL(
	    proxy_http_status(h, strlen(h), reason, sizeof(reason)), 407);
	CU_ASSERT_STRING_EQUAL(reason, "Proxy Auth?Required");
	CU_ASSERT_EQUAL(proxy_http_status(
	                    "HTTP/1.0 200\r\n\r\n", 16, reason, sizeof(reason)),
	    200);
	CU_ASSERT_STRING_EQUAL(reason, "");
	CU_ASSERT_EQUAL(proxy_http_status("HTTP/2 200 OK\r\n\r\n", 17, reason,
	                    sizeof(reason)),
	    -1);
	CU_ASSERT_EQUAL(proxy_http_status("HTTP/1.1 20 OK\r\n\r\n", 18, reason,
	                    sizeof(reason)),
	    -1);
	CU_ASSERT_EQUAL(proxy_http_status("HTTP/1.1 200OK\r\n\r\n", 18, reason,
	                    sizeof(reason)),
	    -1);
	CU_ASSERT_EQUAL(proxy_http_status("HTTP/1.1 200 OK\n\r\n", 18, reason,
	                    sizeof(reason)),
	    -1);
	CU_ASSERT_EQUAL(
	    proxy_http_status("SSH-2.0-x\r\n\r\n", 13, reason, sizeof(reason)),
	    -1);
}

static void
test_outcomes(void)
{
	struct proxy_target t = {
	    PROXY_HTTP, "127.0.0.1:3128", "www.example", 443, NULL};
	static const struct {
		int status, eclass, err;
	} http[] = {
	    {200, CP_E_NONE, 0},
	    {204, CP_E_NONE, 0},
	    {407, CP_E_PROXY, EACCES},
	    {401, CP_E_PROXY, EACCES},
	    {403, CP_E_PROXY, EACCES},
	    {502, CP_E_UNREACH, EHOSTUNREACH},
	    {503, CP_E_PROXY, EAGAIN},
	    {504, CP_E_TIMEDOUT, ETIMEDOUT},
	    {400, CP_E_PROXY, EPROTO},
	    {500, CP_E_PROXY, EPROTO},
	    {301, CP_E_PROXY, EPROTO},
	};
	static const struct {
		unsigned rep;
		int eclass, err;
	} socks[] = {
	    {0, CP_E_NONE, 0},
	    {1, CP_E_PROXY, EIO},
	    {2, CP_E_PROXY, EACCES},
	    {3, CP_E_UNREACH, ENETUNREACH},
	    {4, CP_E_UNREACH, EHOSTUNREACH},
	    {5, CP_E_REFUSED, ECONNREFUSED},
	    {6, CP_E_UNREACH, EHOSTUNREACH},
	    {7, CP_E_PROXY, EOPNOTSUPP},
	    {8, CP_E_PROXY, EAFNOSUPPORT},
	    {9, CP_E_PROXY, EPROTO},
	    {255, CP_E_PROXY, EPROTO},
	};
	char text[512];
	size_t i;
	int e;

	for (i = 0; i < sizeof(http) / sizeof(http[0]); i++) {
		CU_ASSERT_EQUAL(proxy_http_outcome(&t, http[i].status, "R", &e,
		                    text, sizeof(text)),
		    http[i].eclass);
		CU_ASSERT_EQUAL(e, http[i].err);
		if (http[i].eclass != CP_E_NONE)
			CU_ASSERT_PTR_NOT_NULL(strstr(text, "127.0.0.1:3128"));
	}
	proxy_http_outcome(
	    &t, 407, "Proxy Authentication Required", &e, text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text,
	    "proxy 127.0.0.1:3128 requires authentication (HTTP 407 Proxy "
	    "Authentication Required)");
	t.cred = &cred;
	proxy_http_outcome(&t, 407, "", &e, text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(
	    text, "proxy 127.0.0.1:3128 rejected the credentials (HTTP 407)");
	for (i = 0; i < sizeof(socks) / sizeof(socks[0]); i++) {
		CU_ASSERT_EQUAL(proxy_socks_outcome(
		                    &t, socks[i].rep, &e, text, sizeof(text)),
		    socks[i].eclass);
		CU_ASSERT_EQUAL(e, socks[i].err);
	}
	proxy_socks_outcome(&t, 5, &e, text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text,
	    "proxy 127.0.0.1:3128: www.example port "
	    "443: connection refused (SOCKS5 reply 5)");
}

/* ---- the tunnel over a socket pair ---- */

struct done {
	int called, eclass, err;
	char text[512];
};

static void
on_done(void *arg, int eclass, int e, const char *text)
{
	struct done *d = arg;

	d->called++;
	d->eclass = eclass;
	d->err = e;
	snprintf(d->text, sizeof(d->text), "%s", text);
}

/*
 * Run a tunnel against a scripted proxy: each step is what the proxy
 * expects to have read (its length) and then sends.  The loop runs until
 * the tunnel ends, boundedly.
 */
struct step {
	size_t expect; /* bytes the proxy reads first */
	const void *send;
	size_t sendlen;
};

static void
run(const struct proxy_target *t, const struct step *steps, int nsteps,
    int close_after, struct done *d, int *peer_fd, int *our_fd)
{
	struct ev *ev = ev_new();
	struct proxy_tun *p;
	uint8_t buf[4096];
	int sv[2], i, rounds;

	memset(d, 0, sizeof(*d));
	CU_ASSERT_FATAL(
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	        sv) == 0);
	p = proxy_start(ev, sv[0], t, on_done, d);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(d->called, 0);
	for (i = 0; i < nsteps && !d->called; i++) {
		size_t got = 0;

		for (rounds = 0;
		     got < steps[i].expect && rounds < 100 && !d->called;
		     rounds++) {
			ssize_t n =
			    read(sv[1], buf + got, steps[i].expect - got);

			if (n > 0)
				got += (size_t)n;
			else
				ev_run_once(ev, 10);
		}
		if (d->called) /* the tunnel ended first */
			break;
		CU_ASSERT_EQUAL(got, steps[i].expect);
		if (steps[i].sendlen > 0)
			CU_ASSERT_EQUAL(
			    write(sv[1], steps[i].send, steps[i].sendlen),
			    (ssize_t)steps[i].sendlen);
	}
	if (close_after)
		shutdown(sv[1], SHUT_WR);
	for (rounds = 0; !d->called && rounds < 50; rounds++)
		ev_run_once(ev, 10);
	CU_ASSERT_EQUAL(d->called, 1);
	if (!d->called)
		proxy_cancel(p);
	ev_free(ev);
	*peer_fd = sv[1];
	*our_fd = sv[0];
}

static void
finish(int a, int b)
{
	close(a);
	close(b);
}

static const char http_req[] = "CONNECT www.example:443 HTTP/1.1\r\n"
                               "Host: www.example:443\r\n\r\n";

static void
test_tunnel_http(void)
{
	struct proxy_target t = {
	    PROXY_HTTP, "127.0.0.1:3128", "www.example", 443, NULL};
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n"
	                         "Content-Length: 5\r\n\r\nBANNER after it";
	struct step s[] = {{sizeof(http_req) - 1, ok, sizeof(ok) - 1}};
	struct done d;
	char buf[64];
	int a, b;
	ssize_t n;

	run(&t, s, 1, 0, &d, &a, &b);
	CU_ASSERT_EQUAL(d.eclass, CP_E_NONE);
	/* What followed the header is still in the socket, all of it. */
	n = read(b, buf, sizeof(buf));
	CU_ASSERT_EQUAL(n, 15);
	CU_ASSERT(n == 15 && memcmp(buf, "BANNER after it", 15) == 0);
	finish(a, b);

	/* One byte at a time: the header end found across reads. */
	{
		static const char h[] = "HTTP/1.0 200 OK\r\n\r\nX";
		struct step one[sizeof(h)];
		size_t i;

		for (i = 0; i < sizeof(h) - 1; i++)
			one[i] = (struct step){
			    i == 0 ? sizeof(http_req) - 1 : 0, h + i, 1};
		run(&t, one, (int)(sizeof(h) - 1), 0, &d, &a, &b);
		CU_ASSERT_EQUAL(d.eclass, CP_E_NONE);
		CU_ASSERT_EQUAL(read(b, buf, sizeof(buf)), 1);
		CU_ASSERT_EQUAL(buf[0], 'X');
		finish(a, b);
	}
}

static void
test_tunnel_http_errors(void)
{
	struct proxy_target t = {
	    PROXY_HTTP, "127.0.0.1:3128", "www.example", 443, NULL};
	static const char deny[] = "HTTP/1.1 407 Proxy Authentication "
	                           "Required\r\n\r\n";
	static const char badst[] = "HTTP/1.1 OK\r\n\r\n";
	static const char partial[] = "HTTP/1.1 200 OK\r\n";
	char big[PROXY_MAX_HEADER + 100];
	struct step s[1] = {{sizeof(http_req) - 1, deny, sizeof(deny) - 1}};
	struct done d;
	int a, b;

	run(&t, s, 1, 0, &d, &a, &b);
	CU_ASSERT_EQUAL(d.eclass, CP_E_PROXY);
	CU_ASSERT_EQUAL(d.err, EACCES);
	CU_ASSERT_STRING_EQUAL(d.text,
	    "proxy 127.0.0.1:3128 requires authentication (HTTP 407 Proxy "
	    "Authentication Required)");
	finish(a, b);

	s[0].send = badst;
	s[0].sendlen = sizeof(badst) - 1;
	run(&t, s, 1, 0, &d, &a, &b);
	CU_ASSERT_EQUAL(d.err, EPROTO);
	CU_ASSERT_STRING_EQUAL(
	    d.text, "proxy 127.0.0.1:3128 sent a malformed status line");
	finish(a, b);

	s[0].send = partial;
	s[0].sendlen = sizeof(partial) - 1;
	run(&t, s, 1, 1, &d, &a, &b);
	CU_ASSERT_EQUAL(d.err, ECONNRESET);
	CU_ASSERT_STRING_EQUAL(d.text, "proxy 127.0.0.1:3128 closed the "
	                               "connection before its answer");
	finish(a, b);

	/* Exactly the limit, then silence: refused without waiting. */
	memcpy(big, "HTTP/1.1 200 OK\r\n", 17);
	memset(big + 17, 'x', PROXY_MAX_HEADER - 17);
	s[0].send = big;
	s[0].sendlen = PROXY_MAX_HEADER;
	run(&t, s, 1, 0, &d, &a, &b);
	CU_ASSERT_EQUAL(d.err, EPROTO);
	CU_ASSERT_STRING_EQUAL(d.text, "proxy 127.0.0.1:3128 sent an answer "
	                               "header over 8192 bytes");
	finish(a, b);

	memcpy(big, "HTTP/1.1 200 OK\r\n", 17);
	memset(big + 17, 'x', sizeof(big) - 17);
	s[0].send = big;
	s[0].sendlen = sizeof(big);
	run(&t, s, 1, 0, &d, &a, &b);
	CU_ASSERT_EQUAL(d.err, EPROTO);
	CU_ASSERT_STRING_EQUAL(d.text, "proxy 127.0.0.1:3128 sent an answer "
	                               "header over 8192 bytes");
	finish(a, b);
}

static void
test_tunnel_socks(void)
{
	struct proxy_target t = {
	    PROXY_SOCKS5, "127.0.0.1:1080", "www.example", 443, &cred};
	static const uint8_t meth[] = {5, 2}, auth_ok[] = {1, 0},
	                     rep[] = {5, 0, 0, 3, 4, 'h', 'o', 's', 't', 0, 80,
	                         'S', 'S', 'H'},
	                     auth_bad[] = {1, 1}, meth_none[] = {5, 0xff},
	                     ver4[] = {4, 0}, rep5[] = {5, 5, 0, 1},
	                     rep_atyp[] = {5, 0, 0, 9};
	/* greeting 5 2 0 2; auth 1 5 alice 7 s3cr:et; connect 5 1 0 3 11
	 * www.example 1 187 */
	struct step s[] = {
	    {4, meth, 2}, {3 + 5 + 7, auth_ok, 2}, {5 + 11 + 2, rep, 14}};
	struct done d;
	char buf[16];
	int a, b;

	run(&t, s, 3, 0, &d, &a, &b);
	CU_ASSERT_EQUAL(d.eclass, CP_E_NONE);
	CU_ASSERT_EQUAL(read(b, buf, sizeof(buf)), 3);
	CU_ASSERT(memcmp(buf, "SSH", 3) == 0);
	finish(a, b);

	s[1].send = auth_bad;
	run(&t, s, 3, 0, &d, &a, &b);
	CU_ASSERT_EQUAL(d.err, EACCES);
	CU_ASSERT_STRING_EQUAL(
	    d.text, "proxy 127.0.0.1:1080 rejected the credentials");
	finish(a, b);

	s[0].send = meth_none;
	run(&t, s, 1, 0, &d, &a, &b);
	CU_ASSERT_EQUAL(d.err, EACCES);
	finish(a, b);

	s[0].send = ver4;
	run(&t, s, 1, 0, &d, &a, &b);
	CU_ASSERT_EQUAL(d.err, EPROTO);
	CU_ASSERT_STRING_EQUAL(d.text, "proxy 127.0.0.1:1080 is not a SOCKS5 "
	                               "proxy (version byte 0x04)");
	finish(a, b);

	s[0].send = meth;
	s[1].send = auth_ok;
	s[2].send = rep5;
	s[2].sendlen = 4;
	run(&t, s, 3, 0, &d, &a, &b);
	CU_ASSERT_EQUAL(d.eclass, CP_E_REFUSED);
	CU_ASSERT_EQUAL(d.err, ECONNREFUSED);
	finish(a, b);

	s[2].send = rep_atyp;
	run(&t, s, 3, 0, &d, &a, &b);
	CU_ASSERT_EQUAL(d.err, EPROTO);
	finish(a, b);

	/* A reply cut short. */
	s[2].send = rep;
	s[2].sendlen = 7;
	run(&t, s, 3, 1, &d, &a, &b);
	CU_ASSERT_EQUAL(d.err, ECONNRESET);
	finish(a, b);
}

/* ---- credentials ---- */

static void
test_cred_parse(void)
{
	struct proxy_cred c;
	const char *why = NULL;

	CU_ASSERT_EQUAL(pcred_parse("bob:pa:ss\n", 10, &c, &why), 0);
	CU_ASSERT(c.ulen == 3 && memcmp(c.user, "bob", 3) == 0);
	CU_ASSERT(c.plen == 5 && memcmp(c.pass, "pa:ss", 5) == 0);
	CU_ASSERT_EQUAL(pcred_parse("bob:x\r\n", 7, &c, &why), 0);
	CU_ASSERT_EQUAL(c.plen, 1);
	CU_ASSERT_EQUAL(pcred_parse("bob", 3, &c, &why), -1);
	CU_ASSERT_STRING_EQUAL(why, "not user:password");
	CU_ASSERT_EQUAL(pcred_parse(":x", 2, &c, &why), -1);
	CU_ASSERT_EQUAL(pcred_parse("x:", 2, &c, &why), -1);
	CU_ASSERT_EQUAL(pcred_parse("a:b\nc:d\n", 8, &c, &why), -1);
	CU_ASSERT_STRING_EQUAL(why, "more than one line");
	CU_ASSERT_EQUAL(pcred_parse("a:b\tc", 5, &c, &why), -1);
}

int
main(void)
{
	CU_pSuite s = cu_suite("proxy", NULL, NULL);

	cu_test(s, "configuration keywords", test_conf_good);
	cu_test(s, "configuration errors", test_conf_bad);
	cu_test(s, "the most specific block's proxy", test_choice);
	cu_test(s, "policy of a name the proxy resolves", test_remote_policy);
	cu_test(s, "request bytes", test_requests);
	cu_test(s, "HTTP answers parsed", test_http_parse);
	cu_test(s, "outcomes of answers", test_outcomes);
	cu_test(
	    s, "HTTP tunnel: nothing past the header read", test_tunnel_http);
	cu_test(s, "HTTP tunnel: failures", test_tunnel_http_errors);
	cu_test(s, "SOCKS5 tunnel", test_tunnel_socks);
	cu_test(s, "credentials file format", test_cred_parse);
	return cu_finish();
}
