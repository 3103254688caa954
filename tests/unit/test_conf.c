/* SPDX-License-Identifier: ISC */
/*
 * Configuration parser: good files with every keyword, a table of bad
 * files with their exact messages, file loading, defaults, limits and
 * random input.
 */
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cpproto.h"
#include "conf.h"
#include "hostname.h"
#include "../cutest.h"

#define GOOD "tests/conf/good.conf"

static char err[512];

static struct cpconf *
parse_ok(const char *text)
{
	struct cpconf *c = NULL;
	int r;

	r = conf_parse(&c, "t.conf", text, strlen(text), err, sizeof(err));
	CU_ASSERT_EQUAL(r, 0);
	if (r != 0)
		fprintf(stderr, "unexpected error: %s\n", err);
	return c;
}

static int
b4(const uint8_t *a, int x, int y, int z, int w)
{
	return a[0] == x && a[1] == y && a[2] == z && a[3] == w;
}

static void
test_good_globals(void)
{
	struct cpconf *c = NULL;

	CU_ASSERT_EQUAL_FATAL(conf_load(&c, GOOD, 0, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(c->file, GOOD);
	CU_ASSERT_STRING_EQUAL(c->g.socket_path, "/run/cpconnect/test.sock");
	CU_ASSERT_EQUAL(c->g.socket_mode, 0660);
	CU_ASSERT_EQUAL(c->g.socket_gid, 1); /* daemon */
	CU_ASSERT_EQUAL(c->g.engines, 4);
	CU_ASSERT_STRING_EQUAL(c->g.user, "daemon");
	CU_ASSERT_EQUAL(c->g.user_resolved, 1);
	CU_ASSERT_EQUAL(c->g.user_uid, 1);
	CU_ASSERT_EQUAL(c->g.user_gid, 1);
	CU_ASSERT_STRING_EQUAL(
	    c->g.ca_file, "/etc/ssl/certs/ca-certificates.crt");
	CU_ASSERT_STRING_EQUAL(c->g.ca_path, "/etc/ssl/certs");
	CU_ASSERT_EQUAL(c->g.connect_ms, 5000);
	CU_ASSERT_EQUAL(c->g.handshake_ms, 2500);
	CU_ASSERT_EQUAL(c->g.request_ms, 60000);
	CU_ASSERT_EQUAL(c->g.retry_max, 5);
	CU_ASSERT_EQUAL(c->g.retry_delay_ms, 0);
	CU_ASSERT_EQUAL(c->g.max_req_per_uid, 10);
	CU_ASSERT_EQUAL(c->g.max_req, 200);
	CU_ASSERT_EQUAL(c->g.session_idle_ms, 3600000);
	CU_ASSERT_EQUAL(c->g.max_sessions, 300);
	/* global TLS policy */
	CU_ASSERT_EQUAL(c->tls.verify, TLSV_OPTIONAL);
	CU_ASSERT_EQUAL(c->tls.client_ca, CLIENT_CA_ALLOWED);
	CU_ASSERT_EQUAL(c->tls.min_version, CONF_TLS12);
	CU_ASSERT_EQUAL_FATAL(c->tls.nalpn, 2);
	CU_ASSERT_STRING_EQUAL(c->tls.alpn[0], "h2");
	CU_ASSERT_STRING_EQUAL(c->tls.alpn[1], "http/1.1");
	CU_ASSERT_EQUAL(c->tls.npins, 1);
	CU_ASSERT(b4(c->tls.pins[0], 0xca, 0x97, 0x81, 0x12));
	CU_ASSERT_EQUAL(c->tls.pins[0][31], 0xbb);
	CU_ASSERT_STRING_EQUAL(c->tls.cert_file, "/etc/cpconnect/global.crt");
	CU_ASSERT_STRING_EQUAL(c->tls.key_file, "/etc/cpconnect/global.key");
	CU_ASSERT_PTR_NULL(c->tls.file);
	conf_free(c);
}

static void
test_good_rules(void)
{
	struct cpconf *c = NULL;
	const struct rule *r;
	uint8_t a6[16];

	CU_ASSERT_EQUAL_FATAL(conf_load(&c, GOOD, 0, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(c->nrules, 8);
	r = c->rules;
	CU_ASSERT_EQUAL(r[0].action, V_DENY);
	CU_ASSERT_EQUAL(r[0].who.kind, CL_UID);
	CU_ASSERT_EQUAL(r[0].who.uid, 65534);
	CU_ASSERT_EQUAL(r[0].dst.kind, DEST_ANY);
	CU_ASSERT_EQUAL(r[0].ports.n, 0);
	CU_ASSERT_EQUAL(r[0].kinds, KIND_TCP | KIND_TLS);
	CU_ASSERT_EQUAL(r[0].line, 25);
	CU_ASSERT_PTR_EQUAL(r[0].file, c->file);

	CU_ASSERT_EQUAL(r[1].action, V_ALLOW);
	CU_ASSERT_EQUAL(r[1].who.uid, 0);
	CU_ASSERT_EQUAL(r[1].dst.kind, DEST_ADDR);
	CU_ASSERT_EQUAL(r[1].dst.af, AF_INET);
	CU_ASSERT(b4(r[1].dst.addr, 127, 0, 0, 0)); /* host bits cleared */
	CU_ASSERT_EQUAL(r[1].dst.prefix, 8);
	CU_ASSERT_EQUAL(r[1].ports.n, 1);
	CU_ASSERT_EQUAL(r[1].ports.r[0].lo, 8000);
	CU_ASSERT_EQUAL(r[1].ports.r[0].hi, 9000);
	CU_ASSERT_EQUAL(r[1].kinds, KIND_TCP);

	CU_ASSERT_EQUAL(r[2].who.kind, CL_GID);
	CU_ASSERT_EQUAL(r[2].who.gid, 1);
	CU_ASSERT_EQUAL(r[2].dst.kind, DEST_PATTERN);
	CU_ASSERT_STRING_EQUAL(r[2].dst.name, ".example.com");
	CU_ASSERT_EQUAL(r[2].kinds, KIND_TLS);

	CU_ASSERT_EQUAL(r[3].who.kind, CL_UID);
	CU_ASSERT_EQUAL(r[3].who.uid, 1000);
	CU_ASSERT(b4(r[3].dst.addr, 10, 1, 2, 3));
	CU_ASSERT_EQUAL(r[3].dst.prefix, 32);
	CU_ASSERT_EQUAL_FATAL(r[3].ports.n, 3);
	CU_ASSERT_EQUAL(r[3].ports.r[0].lo, 80);
	CU_ASSERT_EQUAL(r[3].ports.r[1].hi, 443);
	CU_ASSERT_EQUAL(r[3].ports.r[2].lo, 8080);

	CU_ASSERT_EQUAL(r[4].who.kind, CL_GID);
	CU_ASSERT_EQUAL(r[4].who.gid, 100);
	CU_ASSERT_EQUAL(r[4].dst.af, AF_INET6);
	CU_ASSERT_EQUAL(r[4].dst.prefix, 8);
	inet_pton(AF_INET6, "fd00::", a6);
	CU_ASSERT(memcmp(r[4].dst.addr, a6, 16) == 0);
	CU_ASSERT_EQUAL(r[4].ports.n, 0);
	CU_ASSERT_EQUAL(r[4].kinds, KIND_TCP | KIND_TLS);

	/* names are folded to lower case, the final dot dropped */
	CU_ASSERT_EQUAL(r[5].dst.kind, DEST_NAME);
	CU_ASSERT_STRING_EQUAL(r[5].dst.name, "blocked.example.com");

	CU_ASSERT_EQUAL(r[6].who.kind, CL_ANY);
	CU_ASSERT_EQUAL(r[6].ports.n, 2);
	CU_ASSERT_EQUAL(r[7].dst.kind, DEST_ANY);
	CU_ASSERT_EQUAL(r[7].who.kind, CL_ANY);
	CU_ASSERT_EQUAL(r[7].line, 32);
	conf_free(c);
}

static void
test_good_destinations(void)
{
	struct cpconf *c = NULL;
	const struct destination *d;

	CU_ASSERT_EQUAL_FATAL(conf_load(&c, GOOD, 0, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(c->ndests, 3);
	d = &c->dests[0];
	CU_ASSERT_EQUAL(d->dst.kind, DEST_NAME);
	CU_ASSERT_STRING_EQUAL(d->dst.name, "api.example.com");
	CU_ASSERT_EQUAL(d->ports.n, 1);
	CU_ASSERT_EQUAL(d->ports.r[0].lo, 443);
	CU_ASSERT_EQUAL(d->line, 34);
	CU_ASSERT_EQUAL(d->own.npins, 2);
	CU_ASSERT_EQUAL(d->merged.npins, 2);
	CU_ASSERT(b4(d->merged.pins[0], 0x3e, 0x23, 0xe8, 0x16));
	CU_ASSERT(b4(d->merged.pins[1], 0x2e, 0x7d, 0x2c, 0x03));
	CU_ASSERT_EQUAL(d->merged.verify, TLSV_REQUIRED);
	CU_ASSERT_EQUAL(d->merged.client_ca, CLIENT_CA_FORBIDDEN);
	CU_ASSERT_EQUAL(d->merged.min_version, CONF_TLS13);
	CU_ASSERT_EQUAL_FATAL(d->merged.nalpn, 1);
	CU_ASSERT_STRING_EQUAL(d->merged.alpn[0], "h2");
	CU_ASSERT_STRING_EQUAL(d->merged.cert_file, "/etc/cpconnect/api.crt");
	CU_ASSERT_STRING_EQUAL(d->merged.key_file, "/etc/cpconnect/api.key");
	CU_ASSERT_STRING_EQUAL(d->merged.file, GOOD);
	CU_ASSERT_EQUAL(d->merged.line, 34);

	/* alpn any and client-certificate none undo the global ones; the
	 * rest comes from the global policy */
	d = &c->dests[1];
	CU_ASSERT_EQUAL(d->dst.kind, DEST_PATTERN);
	CU_ASSERT_STRING_EQUAL(d->dst.name, ".internal.example");
	CU_ASSERT_EQUAL(d->merged.nalpn, 0);
	CU_ASSERT_PTR_NULL(d->merged.cert_file);
	CU_ASSERT_EQUAL(d->merged.npins, 1);
	CU_ASSERT_EQUAL(d->merged.verify, TLSV_OPTIONAL);
	CU_ASSERT_EQUAL(d->merged.min_version, CONF_TLS12);

	d = &c->dests[2];
	CU_ASSERT_EQUAL(d->dst.kind, DEST_ADDR);
	CU_ASSERT(b4(d->dst.addr, 192, 0, 2, 0));
	CU_ASSERT_EQUAL(d->dst.prefix, 24);
	CU_ASSERT_EQUAL(d->merged.verify, TLSV_REQUIRED);
	CU_ASSERT_EQUAL(d->merged.nalpn, 2);
	CU_ASSERT_STRING_EQUAL(
	    d->merged.cert_file, "/etc/cpconnect/global.crt");
	conf_free(c);
}

static void
test_defaults_empty(void)
{
	struct cpconf *c = parse_ok("# nothing but a comment\n\n   \t\n");

	if (c == NULL)
		return;
	CU_ASSERT_STRING_EQUAL(c->g.socket_path, CP_DEFAULT_SOCKET);
	CU_ASSERT_EQUAL(c->g.socket_mode, 0666);
	CU_ASSERT_EQUAL(c->g.socket_gid, (gid_t)-1);
	CU_ASSERT_EQUAL(c->g.engines, 0);
	CU_ASSERT_STRING_EQUAL(c->g.user, CONF_DEFAULT_USER);
	CU_ASSERT_EQUAL(c->g.user_resolved, 0);
	CU_ASSERT_PTR_NULL(c->g.ca_file);
	CU_ASSERT_PTR_NULL(c->g.ca_path);
	CU_ASSERT_EQUAL(c->g.connect_ms, 10000);
	CU_ASSERT_EQUAL(c->g.handshake_ms, 10000);
	CU_ASSERT_EQUAL(c->g.request_ms, 30000);
	CU_ASSERT_EQUAL(c->g.retry_max, 3);
	CU_ASSERT_EQUAL(c->g.retry_delay_ms, 250);
	CU_ASSERT_EQUAL(c->g.max_req_per_uid, 64);
	CU_ASSERT_EQUAL(c->g.max_req, 1024);
	CU_ASSERT_EQUAL(c->g.session_idle_ms, 300000);
	CU_ASSERT_EQUAL(c->g.max_sessions, 1024);
	CU_ASSERT_EQUAL(c->tls.verify, TLSV_OPTIONAL);
	CU_ASSERT_EQUAL(c->tls.client_ca, CLIENT_CA_ALLOWED);
	CU_ASSERT_EQUAL(c->tls.min_version, CONF_TLS12);
	CU_ASSERT_EQUAL(c->tls.nalpn, 0);
	CU_ASSERT_EQUAL(c->tls.npins, 0);
	CU_ASSERT_PTR_NULL(c->tls.cert_file);
	CU_ASSERT_EQUAL(c->tls.cn_fallback, 0);
	CU_ASSERT_EQUAL(c->nrules, 0);
	CU_ASSERT_EQUAL(c->ndests, 0);
	conf_free(c);
}

/* cn-fallback: global, per block, and inherited like the rest. */
static void
test_session_cache(void)
{
	struct cpconf *c = parse_ok("");

	if (c == NULL)
		return;
	CU_ASSERT_EQUAL(c->g.session_cache, SESSCACHE_PER_USER);
	CU_ASSERT_EQUAL(c->g.session_cache_size, 1024);
	conf_free(c);
	if ((c = parse_ok("session-cache shared\nsession-cache-size 7\n")) ==
	    NULL)
		return;
	CU_ASSERT_EQUAL(c->g.session_cache, SESSCACHE_SHARED);
	CU_ASSERT_EQUAL(c->g.session_cache_size, 7);
	conf_free(c);
	if ((c = parse_ok("session-cache off\n")) == NULL)
		return;
	CU_ASSERT_EQUAL(c->g.session_cache, SESSCACHE_OFF);
	conf_free(c);
	if ((c = parse_ok("session-cache per-user\n")) == NULL)
		return;
	CU_ASSERT_EQUAL(c->g.session_cache, SESSCACHE_PER_USER);
	CU_ASSERT_EQUAL(c->g.verify_cache, 1);
	conf_free(c);
	if ((c = parse_ok("verify-cache off\n")) == NULL)
		return;
	CU_ASSERT_EQUAL(c->g.verify_cache, 0);
	conf_free(c);
	if ((c = parse_ok("verify-cache on\n")) == NULL)
		return;
	CU_ASSERT_EQUAL(c->g.verify_cache, 1);
	conf_free(c);
}

static void
test_cn_fallback(void)
{
	struct cpconf *c = parse_ok("cn-fallback yes\n"
	                            "destination a.example {\n"
	                            "  cn-fallback no\n"
	                            "}\n"
	                            "destination b.example {\n"
	                            "  min-tls 1.3\n"
	                            "}\n");

	if (c == NULL)
		return;
	CU_ASSERT_EQUAL(c->tls.cn_fallback, 1);
	CU_ASSERT(c->tls.set & TLSSET_CN);
	CU_ASSERT_EQUAL(c->dests[0].merged.cn_fallback, 0);
	CU_ASSERT_EQUAL(c->dests[1].merged.cn_fallback, 1);
	CU_ASSERT(!(c->dests[1].own.set & TLSSET_CN));
	conf_free(c);

	c = parse_ok("destination a.example {\n"
	             "  cn-fallback yes\n"
	             "}\n");
	if (c == NULL)
		return;
	CU_ASSERT_EQUAL(c->tls.cn_fallback, 0);
	CU_ASSERT_EQUAL(c->dests[0].merged.cn_fallback, 1);
	conf_free(c);
}

/* ocsp, crl-file, crl-check: global, per block, inherited; and
 * reload-interval. */
static void
test_revocation(void)
{
	struct cpconf *c = parse_ok("ocsp require\n"
	                            "crl-file \"/etc/g.crl\"\n"
	                            "reload-interval 5s\n"
	                            "destination a.example {\n"
	                            "  ocsp off\n"
	                            "  crl-file \"/etc/a.crl\"\n"
	                            "  crl-check all\n"
	                            "}\n"
	                            "destination b.example {\n"
	                            "  min-tls 1.3\n"
	                            "}\n");

	if (c == NULL)
		return;
	CU_ASSERT_EQUAL(c->g.reload_ms, 5000);
	CU_ASSERT_EQUAL(c->tls.ocsp, OCSP_REQUIRE);
	CU_ASSERT_STRING_EQUAL(c->tls.crl_file, "/etc/g.crl");
	CU_ASSERT_EQUAL(c->tls.crl_line, 2);
	CU_ASSERT_EQUAL(c->tls.crl_all, 0);
	CU_ASSERT_EQUAL(c->dests[0].merged.ocsp, OCSP_OFF);
	CU_ASSERT_STRING_EQUAL(c->dests[0].merged.crl_file, "/etc/a.crl");
	CU_ASSERT_EQUAL(c->dests[0].merged.crl_line, 6);
	CU_ASSERT_EQUAL(c->dests[0].merged.crl_all, 1);
	CU_ASSERT_EQUAL(c->dests[1].merged.ocsp, OCSP_REQUIRE);
	CU_ASSERT_PTR_EQUAL(c->dests[1].merged.crl_file, c->tls.crl_file);
	CU_ASSERT_EQUAL(c->dests[1].merged.crl_all, 0);
	conf_free(c);
	/* The defaults. */
	c = parse_ok("engines 1\n");
	if (c == NULL)
		return;
	CU_ASSERT_EQUAL(c->g.reload_ms, 60000);
	CU_ASSERT_EQUAL(c->tls.ocsp, OCSP_IF_STAPLED);
	CU_ASSERT_PTR_NULL(c->tls.crl_file);
	conf_free(c);
	c = parse_ok("reload-interval 0\n");
	if (c != NULL)
		CU_ASSERT_EQUAL(c->g.reload_ms, 0);
	conf_free(c);
}

static const struct bad {
	const char *text;
	const char *msg;
} bad[] = {
    {"foo 1\n", "bad.conf:1: unknown keyword 'foo'"},
    {"engines 2\n\nengines 3\n",
        "bad.conf:3: duplicate 'engines' (first at line 1)"},
    {"engines 300\n", "bad.conf:1: engines: 300 is out of range (0..256)"},
    {"session-cache yes\n", "bad.conf:1: session-cache: 'yes' is not "
                            "per-user, shared or off"},
    {"verify-cache no\n", "bad.conf:1: verify-cache: 'no' is not on or off"},
    {"verify-cache\n", "bad.conf:1: 'verify-cache' needs a value"},
    {"destination a.example {\n verify-cache off\n}\n",
        "bad.conf:2: 'verify-cache' is not allowed in a destination "
        "block"},
    {"session-cache-size 0\n",
        "bad.conf:1: session-cache-size: 0 is out of range (1..100000)"},
    {"destination a.example {\n session-cache off\n}\n",
        "bad.conf:2: 'session-cache' is not allowed in a destination "
        "block"},
    {"engines x\n", "bad.conf:1: engines: 'x' is not a number"},
    {"engines -1\n", "bad.conf:1: engines: '-1' is not a number"},
    {"engines 99999999999999999999\n",
        "bad.conf:1: engines: '99999999999999999999' is not a number"},
    {"engines\n", "bad.conf:1: 'engines' needs a value"},
    {"engines 1 2\n", "bad.conf:1: 'engines' takes one value"},
    {"connect-timeout 5\n",
        "bad.conf:1: connect-timeout: invalid duration '5' (a number "
        "with ms, s, m or h)"},
    {"connect-timeout 5 s\n", "bad.conf:1: 'connect-timeout' takes one "
                              "value"},
    {"connect-timeout 10m\n",
        "bad.conf:1: connect-timeout: 10m is out of range (100ms..5m)"},
    {"connect-timeout 99ms\n",
        "bad.conf:1: connect-timeout: 99ms is out of range (100ms..5m)"},
    {"handshake-timeout 5000000h\n",
        "bad.conf:1: handshake-timeout: invalid duration '5000000h' (a "
        "number with ms, s, m or h)"},
    {"request-timeout 2h\n",
        "bad.conf:1: request-timeout: 2h is out of range (100ms..1h)"},
    {"retry-max 101\n", "bad.conf:1: retry-max: 101 is out of range "
                        "(0..100)"},
    {"retry-delay 2m\n", "bad.conf:1: retry-delay: 2m is out of range "
                         "(0..1m)"},
    {"max-requests 0\n", "bad.conf:1: max-requests: 0 is out of range "
                         "(1..1000000)"},
    {"max-requests-per-user 100001\n",
        "bad.conf:1: max-requests-per-user: 100001 is out of range "
        "(1..100000)"},
    {"max-sessions 0\n", "bad.conf:1: max-sessions: 0 is out of range "
                         "(1..1000000)"},
    {"session-idle-timeout 500ms\n",
        "bad.conf:1: session-idle-timeout: 500ms is out of range "
        "(1s..24h)"},
    {"socket relative.sock\n",
        "bad.conf:1: socket: 'relative.sock' is not an absolute path"},
    {"socket \"/run/cpconnect/0123456789012345678901234567890123456789"
     "01234567890123456789012345678901234567890123456789.sock\"\n",
        "bad.conf:1: socket: path too long (limit 107 bytes)"},
    {"socket-mode 0999\n", "bad.conf:1: socket-mode: '0999' is not an "
                           "octal mode (0000..0777)"},
    {"socket-mode 1777\n", "bad.conf:1: socket-mode: '1777' is not an "
                           "octal mode (0000..0777)"},
    {"socket-group no-such-group-cpc\n",
        "bad.conf:1: unknown group 'no-such-group-cpc'"},
    {"user no-such-user-cpc\n", "bad.conf:1: unknown user 'no-such-user-cpc'"},
    {"user 4000000000\n", "bad.conf:1: unknown user '4000000000'"},
    {"user root\n", "bad.conf:1: user 'root' has uid or gid 0: the engines "
                    "must not run as root"},
    {"user 0\n", "bad.conf:1: user '0' has uid or gid 0: the engines must "
                 "not run as root"},
    {"ca-file certs.pem\n",
        "bad.conf:1: ca-file: 'certs.pem' is not an absolute path"},
    {"ca-path \"\"\n", "bad.conf:1: ca-path: '' is not an absolute "
                       "path"},
    {"min-tls 1.1\n", "bad.conf:1: min-tls: '1.1' is not 1.2 or 1.3"},
    {"verify maybe\n",
        "bad.conf:1: verify: 'maybe' is not optional or required"},
    {"client-ca yes\n",
        "bad.conf:1: client-ca: 'yes' is not allowed or forbidden"},
    {"cn-fallback maybe\n",
        "bad.conf:1: cn-fallback: 'maybe' is not yes or no"},
    {"cn-fallback\n", "bad.conf:1: 'cn-fallback' needs a value"},
    {"destination a.example {\n cn-fallback yes\n cn-fallback no\n}\n",
        "bad.conf:3: duplicate 'cn-fallback' (first at line 2)"},
    {"pin sha256 \"abc\"\n",
        "bad.conf:1: pin: 'abc' is not a base64 SHA-256 digest"},
    /* 32 bytes, but the last symbol carries bits past the end */
    {"pin sha256 ypeBEsobvcr6wjGzmiPcTaeG7/gUfE5yuYB3ha/uSLt=\n",
        "bad.conf:1: pin: 'ypeBEsobvcr6wjGzmiPcTaeG7/gUfE5yuYB3ha/uSLt=' "
        "is not a base64 SHA-256 digest"},
    {"pin md5 x\n", "bad.conf:1: pin: expected 'sha256' and a base64 digest"},
    {"pin sha256\n", "bad.conf:1: pin: expected 'sha256' and a base64 digest"},
    {"client-certificate \"/a\"\n",
        "bad.conf:1: client-certificate: expected \"cert-file\" key "
        "\"key-file\", or none"},
    {"client-certificate a.crt key /b.key\n",
        "bad.conf:1: client-certificate: 'a.crt' is not an absolute "
        "path"},
    {"alpn\n", "bad.conf:1: 'alpn' needs a value"},
    {"alpn \"\"\n", "bad.conf:1: alpn: a protocol name is 1..255 bytes"},
    {"alpn a b c d e f g h i j k l m n o p q\n",
        "bad.conf:1: alpn: too many protocols (limit 16)"},
    {"allow from bob\n",
        "bad.conf:1: from: expected any, user, group, uid or gid"},
    {"allow from\n", "bad.conf:1: from: expected any, user, group, uid or gid"},
    {"allow from user no-such-user-cpc to any\n",
        "bad.conf:1: unknown user 'no-such-user-cpc'"},
    {"deny from group no-such-group-cpc\n",
        "bad.conf:1: unknown group 'no-such-group-cpc'"},
    {"allow from uid abc\n", "bad.conf:1: uid: 'abc' is not a number"},
    {"allow from gid root\n", "bad.conf:1: gid: 'root' is not a number"},
    {"allow to\n", "bad.conf:1: to: expected a destination"},
    {"allow to ,\n", "bad.conf:1: expected a destination, found ','"},
    {"allow to 10.0.0.0/33\n",
        "bad.conf:1: '10.0.0.0/33' is not a valid address or range"},
    {"allow to ::1/129\n",
        "bad.conf:1: '::1/129' is not a valid address or range"},
    {"allow to 300.1.1.1\n",
        "bad.conf:1: '300.1.1.1' is not a valid address or range"},
    {"allow to 10.0.0\n",
        "bad.conf:1: '10.0.0' is not a valid address or range"},
    {"allow to 10.0.0.0/\n",
        "bad.conf:1: '10.0.0.0/' is not a valid address or range"},
    {"allow to fe80::1%eth0\n",
        "bad.conf:1: 'fe80::1%eth0' is not a valid address or range"},
    {"allow to \"a..b\"\n",
        "bad.conf:1: 'a..b' is not a host name, pattern or address"},
    {"allow to \"foo.*.com\"\n",
        "bad.conf:1: 'foo.*.com' is not a host name, pattern or address"},
    {"allow to \"*\"\n",
        "bad.conf:1: '*' is not a host name, pattern or address"},
    {"allow to \"*.\"\n",
        "bad.conf:1: '*.' is not a host name, pattern or address"},
    {"allow to \"a.123\"\n",
        "bad.conf:1: 'a.123' is not a host name, pattern or address"},
    {"allow to any port 0\n", "bad.conf:1: port: 0 is out of range (1..65535)"},
    {"allow to any port 70000\n",
        "bad.conf:1: port: invalid port '70000' (1..65535)"},
    {"allow to any port 9000:8000\n",
        "bad.conf:1: port: empty range '9000:8000'"},
    {"allow to any port 1:x\n", "bad.conf:1: port: invalid range '1:x'"},
    {"allow to any port 80,\n", "bad.conf:1: port: list ends with ','"},
    {"allow to any port\n", "bad.conf:1: 'port' needs a value"},
    {"allow to any port 80 port 81\n", "bad.conf:1: unexpected 'port' in rule"},
    {"allow to any tcp tcp\n", "bad.conf:1: unexpected 'tcp' in rule"},
    {"allow to any udp\n", "bad.conf:1: unexpected 'udp' in rule"},
    {"allow any\n", "bad.conf:1: unexpected 'any' in rule"},
    {"destination \"a.example\" {\n\tengines 2\n}\n",
        "bad.conf:2: 'engines' is not allowed in a destination block"},
    {"destination \"a.example\" {\n\tallow to any\n}\n",
        "bad.conf:2: 'allow' is not allowed in a destination block"},
    {"destination \"a.example\" {\n\tdestination \"b.example\" {\n",
        "bad.conf:2: 'destination' is not allowed in a destination "
        "block"},
    {"\n\ndestination \"a.example\" {\n\tverify required\n",
        "bad.conf:3: destination block is not closed"},
    {"verify required\n}\n", "bad.conf:2: '}' without a destination block"},
    {"destination \"a.example\" {\n} engines 2\n",
        "bad.conf:2: unexpected 'engines' after '}'"},
    {"destination \"a.example\"\n",
        "bad.conf:1: destination: expected destination \"host\" [port "
        "P] {"},
    {"destination \"a.example\" foo {\n}\n",
        "bad.conf:1: destination: expected destination \"host\" [port "
        "P] {"},
    {"destination \"a.example\" port 443 444 {\n}\n",
        "bad.conf:1: destination: expected destination \"host\" [port "
        "P] {"},
    {"destination \"a.example\" port {\n}\n",
        "bad.conf:1: 'port' needs a value"},
    {"destination \"a.example\" {\n\talpn h2\n\talpn h3\n}\n",
        "bad.conf:3: duplicate 'alpn' (first at line 2)"},
    {"socket \"/a\nb\"\n", "bad.conf:1: unterminated string"},
    {"socket \"/a\\\n", "bad.conf:1: unterminated string"},
    {"socket \"/a\\n\"\n", "bad.conf:1: invalid escape '\\n' in string"},
    {"socket \"/a\tb\x01\"\n", "bad.conf:1: invalid character 0x01 in string"},
    {"engines \x01\n", "bad.conf:1: invalid character 0x01"},
    {"\"engines\" 2\n", "bad.conf:1: expected a keyword, found 'engines'"},
    {"{\n", "bad.conf:1: expected a keyword, found '{'"},
    {"engines 2 {\n", "bad.conf:1: unexpected '{'"},
    {"verify required }\n", "bad.conf:1: unexpected '}'"},
    {"ocsp maybe\n",
        "bad.conf:1: ocsp: 'maybe' is not off, if-stapled or require"},
    {"ocsp\n", "bad.conf:1: 'ocsp' needs a value"},
    {"crl-file x.crl\n", "bad.conf:1: crl-file: 'x.crl' is not an "
                         "absolute path"},
    {"crl-file \"/a\" \"/b\"\n", "bad.conf:1: 'crl-file' takes one value"},
    {"crl-check some\n", "bad.conf:1: crl-check: 'some' is not leaf or all"},
    {"destination a {\n ocsp off\n ocsp require\n}\n",
        "bad.conf:3: duplicate 'ocsp' (first at line 2)"},
    {"destination a {\n reload-interval 1s\n}\n",
        "bad.conf:2: 'reload-interval' is not allowed in a destination "
        "block"},
    {"reload-interval 2d\n", "bad.conf:1: reload-interval: invalid "
                             "duration '2d' (a number with ms, s, m or h)"},
    {"reload-interval 25h\n", "bad.conf:1: reload-interval: 25h is out of "
                              "range (0 (off)..24h)"},
};

static void
test_bad_table(void)
{
	struct cpconf *c;
	size_t i;
	int r;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = (struct cpconf *)1;
		err[0] = '\0';
		r = conf_parse(&c, "bad.conf", bad[i].text, strlen(bad[i].text),
		    err, sizeof(err));
		CU_ASSERT_EQUAL(r, -1);
		CU_ASSERT_PTR_NULL(c);
		if (r != -1 || strcmp(err, bad[i].msg) != 0)
			fprintf(stderr, "case %zu: got \"%s\"\n  want \"%s\"\n",
			    i, r == -1 ? err : "(accepted)", bad[i].msg);
		CU_ASSERT_STRING_EQUAL(err, bad[i].msg);
		if (r == 0)
			conf_free(c);
	}
}

/* Cases a table of C strings cannot hold: NUL bytes, long lines. */
static void
test_bad_generated(void)
{
	static const char nul[] = "engines 2\nengines\0 3\n";
	static char bigbuf[8192];
	struct cpconf *c;
	char *big = bigbuf;
	size_t i, o;

	CU_ASSERT_EQUAL(
	    conf_parse(&c, "bad.conf", nul, sizeof(nul) - 1, err, sizeof(err)),
	    -1);
	CU_ASSERT_STRING_EQUAL(err, "bad.conf:2: NUL byte in file");

	o = (size_t)snprintf(big, 8192, "alpn");
	for (i = 0; i < 160; i++)
		o += (size_t)snprintf(big + o, 8192 - o, " p%zu", i);
	CU_ASSERT_EQUAL(
	    conf_parse(&c, "bad.conf", big, o, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(
	    err, "bad.conf:1: too many words on one line (limit 160)");

	memcpy(big, "socket /", 8);
	memset(big + 8, 'a', 1100);
	CU_ASSERT_EQUAL(
	    conf_parse(&c, "bad.conf", big, 1108, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "bad.conf:1: word too long (limit 1024 "
	                            "bytes)");

	memcpy(big, "socket \"/", 9);
	memset(big + 9, 'a', 1100);
	memcpy(big + 1109, "\"\n", 2);
	CU_ASSERT_EQUAL(
	    conf_parse(&c, "bad.conf", big, 1111, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "bad.conf:1: string too long (limit 1024 "
	                            "bytes)");
}

static void
test_too_many_rules(void)
{
	const char *line = "allow to any port 443\n";
	size_t ll = strlen(line), n = CONF_MAX_RULES + 1, i;
	struct cpconf *c = NULL;
	char *text = malloc(ll * n + 1);

	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	for (i = 0; i < n; i++)
		memcpy(text + i * ll, line, ll);
	CU_ASSERT_EQUAL(
	    conf_parse(&c, "big.conf", text, ll * (n - 1), err, sizeof(err)),
	    0);
	CU_ASSERT_EQUAL(c != NULL ? c->nrules : 0, CONF_MAX_RULES);
	conf_free(c);
	CU_ASSERT_EQUAL(
	    conf_parse(&c, "big.conf", text, ll * n, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "big.conf:10001: too many rules (limit "
	                            "10000)");
	free(text);
}

static void
test_error_buffer_small(void)
{
	struct cpconf *c;
	char small[8];

	memset(small, 'x', sizeof(small));
	CU_ASSERT_EQUAL(
	    conf_parse(&c, "bad.conf", "foo\n", 4, small, sizeof(small)), -1);
	CU_ASSERT_STRING_EQUAL(small, "bad.con");
	CU_ASSERT_EQUAL(conf_parse(&c, "bad.conf", "foo\n", 4, NULL, 0), -1);
}

/* A port list as long as the manual allows fits on one line, and one
 * entry more is refused for what it is. */
static void
test_port_list_limit(void)
{
	char text[1024];
	struct cpconf *c;
	size_t n;
	int i;

	n = (size_t)snprintf(text, sizeof(text), "allow to any port ");
	for (i = 0; i < CONF_MAX_PORTS; i++)
		n += (size_t)snprintf(
		    text + n, sizeof(text) - n, "%s%d", i ? "," : "", 1000 + i);
	snprintf(text + n, sizeof(text) - n, " tls\n");
	if ((c = parse_ok(text)) != NULL) {
		CU_ASSERT_EQUAL(c->rules[0].ports.n, CONF_MAX_PORTS);
		conf_free(c);
	}
	snprintf(text + n, sizeof(text) - n, ",2000\n");
	CU_ASSERT_EQUAL(
	    conf_parse(&c, "bad.conf", text, strlen(text), err, sizeof(err)),
	    -1);
	CU_ASSERT(strstr(err, "too many ports (limit 64)") != NULL);
}

static void
test_syntax_variants(void)
{
	/* CRLF, no final newline, comments after values, quoted values,
	 * escapes, a bare 0 duration, spaces around commas */
	const char *t = "engines \"2\"   # two\r\n"
	                "socket \"/tmp/a \\\"b\\\\c\"\r\n"
	                "allow from user root to \"API.example.com\" "
	                "port 80 , 443,1000:2000 tls\r\n"
	                "allow from user 4242 to ::ffff:10.0.0.1/104\r\n"
	                "user 65534\r\n"
	                "retry-delay 0";
	struct cpconf *c = parse_ok(t);

	if (c == NULL)
		return;
	CU_ASSERT_EQUAL(c->g.engines, 2);
	CU_ASSERT_STRING_EQUAL(c->g.socket_path, "/tmp/a \"b\\c");
	CU_ASSERT_STRING_EQUAL(c->g.user, "nobody");
	CU_ASSERT_EQUAL(c->g.user_uid, 65534);
	CU_ASSERT_EQUAL(c->g.retry_delay_ms, 0);
	CU_ASSERT_EQUAL_FATAL(c->nrules, 2);
	CU_ASSERT_STRING_EQUAL(c->rules[0].dst.name, "api.example.com");
	CU_ASSERT_EQUAL(c->rules[0].ports.n, 3);
	CU_ASSERT_EQUAL(c->rules[0].ports.r[2].lo, 1000);
	CU_ASSERT_EQUAL(c->rules[0].ports.r[2].hi, 2000);
	CU_ASSERT_EQUAL(c->rules[1].who.uid, 4242);
	CU_ASSERT_EQUAL(c->rules[1].dst.af, AF_INET6);
	CU_ASSERT_EQUAL(c->rules[1].dst.prefix, 104);
	CU_ASSERT_EQUAL(c->rules[1].dst.addr[12], 10);
	CU_ASSERT_EQUAL(c->rules[1].dst.addr[13], 0);
	CU_ASSERT_EQUAL(c->rules[1].dst.addr[15], 0);
	conf_free(c);
}

static void
test_cidr_masking(void)
{
	struct cpconf *c = parse_ok("allow to 192.168.77.200/20\n"
	                            "allow to fe80::1234:5678/10\n"
	                            "allow to 0.0.0.0/0\n"
	                            "allow to 2001:db8::1\n");

	if (c == NULL)
		return;
	CU_ASSERT(b4(c->rules[0].dst.addr, 192, 168, 64, 0));
	CU_ASSERT_EQUAL(c->rules[1].dst.addr[0], 0xfe);
	CU_ASSERT_EQUAL(c->rules[1].dst.addr[1], 0x80);
	CU_ASSERT_EQUAL(c->rules[1].dst.addr[14], 0);
	CU_ASSERT_EQUAL(c->rules[2].dst.prefix, 0);
	CU_ASSERT_EQUAL(c->rules[3].dst.prefix, 128);
	CU_ASSERT_EQUAL(c->rules[3].dst.addr[15], 1);
	conf_free(c);
}

/* No "verify" anywhere: pins or a client certificate make it required. */
static void
test_implied_verify(void)
{
	struct cpconf *c = parse_ok(
	    "destination a.example {\n"
	    "  pin sha256 PiPoFgA5WUoziU9lZOGxNIu9egCI1CxKy3PurtWcAJ0=\n"
	    "}\n"
	    "destination b.example {\n"
	    "  client-certificate /c.pem key /k.pem\n"
	    "}\n"
	    "destination c.example {\n"
	    "  min-tls 1.3\n"
	    "}\n"
	    "destination d.example {\n"
	    "  pin sha256 PiPoFgA5WUoziU9lZOGxNIu9egCI1CxKy3PurtWcAJ0=\n"
	    "  verify optional\n"
	    "}\n");

	if (c == NULL)
		return;
	CU_ASSERT_EQUAL_FATAL(c->ndests, 4);
	CU_ASSERT_EQUAL(c->dests[0].merged.verify, TLSV_REQUIRED);
	CU_ASSERT_EQUAL(c->dests[1].merged.verify, TLSV_REQUIRED);
	CU_ASSERT_EQUAL(c->dests[2].merged.verify, TLSV_OPTIONAL);
	CU_ASSERT_EQUAL(c->dests[3].merged.verify, TLSV_OPTIONAL);
	CU_ASSERT_EQUAL(c->tls.verify, TLSV_OPTIONAL);
	conf_free(c);

	/* An explicit global "verify" is inherited as it is. */
	c = parse_ok("verify optional\n"
	             "destination b.example {\n"
	             "  client-certificate /c.pem key /k.pem\n"
	             "}\n");
	if (c == NULL)
		return;
	CU_ASSERT_EQUAL(c->dests[0].merged.verify, TLSV_OPTIONAL);
	conf_free(c);

	/* Global pins without "verify" make the global policy required. */
	c = parse_ok(
	    "pin sha256 PiPoFgA5WUoziU9lZOGxNIu9egCI1CxKy3PurtWcAJ0=\n");
	if (c == NULL)
		return;
	CU_ASSERT_EQUAL(c->tls.verify, TLSV_REQUIRED);
	conf_free(c);
}

static void
test_hostname_ok(void)
{
	static const struct {
		const char *s;
		int ok;
	} t[] = {
	    {"example.com", 1},
	    {"example.com.", 1},
	    {"a", 1},
	    {"xn--bcher-kva.example", 1},
	    {"_srv.example", 1},
	    {"a-b.c-d.e", 1},
	    {"host1.example2", 1},
	    {"1host.9example", 1},
	    {"Z.A", 1},
	    {"caf\xc3\xa9.example", 0},
	    {"a@b.example", 0},
	    {"a[b.example", 0},
	    {"", 0},
	    {".", 0},
	    {"a..b", 0},
	    {".a", 0},
	    {"a b", 0},
	    {"a/b", 0},
	    {"10.0.0.1", 0},
	    {"2130706433", 0},
	    {"0x7f.1", 0},
	    {"1.2.3.a", 1},
	    {"::1", 0},
	    {"*.example.com", 0},
	};
	char label[80], name[300];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		CU_ASSERT_EQUAL(
		    cp_hostname_ok(t[i].s, strlen(t[i].s)), t[i].ok);
		if (cp_hostname_ok(t[i].s, strlen(t[i].s)) != t[i].ok)
			fprintf(stderr, "hostname '%s'\n", t[i].s);
	}
	memset(label, 'a', 64);
	label[64] = '\0';
	CU_ASSERT_EQUAL(cp_hostname_ok(label, 64), 0);
	CU_ASSERT_EQUAL(cp_hostname_ok(label, 63), 1);
	/* 4 labels of 63 plus 3 dots = 255 > 253 */
	snprintf(name, sizeof(name), "%.63s.%.63s.%.63s.%.63s", label, label,
	    label, label);
	CU_ASSERT_EQUAL(cp_hostname_ok(name, strlen(name)), 0);
	CU_ASSERT_EQUAL(cp_hostname_ok(name, 253), 1);
	/* Hosts to connect to: names and address literals. */
	CU_ASSERT(cp_host_ok("example.com"));
	CU_ASSERT(cp_host_ok("10.0.0.1"));
	CU_ASSERT(cp_host_ok("::1"));
	CU_ASSERT(cp_host_ok("fe80::1%eth0"));
	CU_ASSERT(!cp_host_ok("fe80::1%"));
	CU_ASSERT(!cp_host_ok("fe80::1%a/b"));
	CU_ASSERT(!cp_host_ok("127.1"));
	CU_ASSERT(!cp_host_ok("[::1]"));
	CU_ASSERT(!cp_host_ok("a b"));
	CU_ASSERT(!cp_host_ok(""));
}

static void
test_rule_str(void)
{
	struct cpconf *c;
	char buf[128];

	c = parse_ok("\n\nallow from any to any\n");
	if (c == NULL)
		return;
	CU_ASSERT_STRING_EQUAL(
	    conf_rule_str(&c->rules[0], buf, sizeof(buf)), "rule at t.conf:3");
	CU_ASSERT_STRING_EQUAL(
	    conf_rule_str(NULL, buf, sizeof(buf)), "no rule");
	conf_free(c);
}

static void
test_default_policy(void)
{
	struct cpconf *c = NULL;
	char buf[128];

	CU_ASSERT_EQUAL_FATAL(conf_default(&c, 0), 0);
	CU_ASSERT_EQUAL(c->nrules, 1);
	CU_ASSERT_EQUAL(c->rules[0].action, V_ALLOW);
	CU_ASSERT_EQUAL(c->rules[0].who.kind, CL_ANY);
	CU_ASSERT_EQUAL(c->rules[0].dst.kind, DEST_ANY);
	CU_ASSERT_STRING_EQUAL(conf_rule_str(&c->rules[0], buf, sizeof(buf)),
	    "rule at (built-in):1");
	CU_ASSERT_EQUAL(c->tls.verify, TLSV_OPTIONAL);
	CU_ASSERT_STRING_EQUAL(c->g.socket_path, CP_DEFAULT_SOCKET);
	conf_free(c);

	CU_ASSERT_EQUAL_FATAL(conf_default(&c, 1), 0);
	CU_ASSERT_EQUAL_FATAL(c->nrules, 3);
	CU_ASSERT_EQUAL(c->rules[0].who.kind, CL_UID);
	CU_ASSERT_EQUAL(c->rules[0].who.uid, getuid());
	CU_ASSERT(b4(c->rules[0].dst.addr, 127, 0, 0, 0));
	CU_ASSERT_EQUAL(c->rules[0].dst.prefix, 8);
	CU_ASSERT_EQUAL(c->rules[1].dst.af, AF_INET6);
	CU_ASSERT_EQUAL(c->rules[1].dst.prefix, 128);
	CU_ASSERT_EQUAL(c->rules[1].dst.addr[15], 1);
	CU_ASSERT_EQUAL(c->rules[2].who.kind, CL_ANY);
	CU_ASSERT_EQUAL(c->rules[2].dst.kind, DEST_ANY);
	conf_free(c);
}

static int
write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int ok;

	if (fd == -1)
		return -1;
	ok = write(fd, data, len) == (ssize_t)len && fchmod(fd, mode) == 0;
	close(fd);
	return ok ? 0 : -1;
}

static void
test_load_errors(void)
{
	struct cpconf *c = (struct cpconf *)1;
	char path[256], want[600];
	char *big;

	CU_ASSERT_EQUAL(
	    conf_load(&c, "tests/conf/no-such.conf", 0, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT_STRING_EQUAL(
	    err, "tests/conf/no-such.conf: No such file or directory");

	CU_ASSERT_EQUAL(conf_load(&c, "tests/conf", 0, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "tests/conf: not a regular file");

	CU_ASSERT_EQUAL(
	    conf_load(&c, "tests/conf/bad-keyword.conf", 0, err, sizeof(err)),
	    -1);
	CU_ASSERT_STRING_EQUAL(err, "tests/conf/bad-keyword.conf:4: unknown "
	                            "keyword 'bogus-keyword'");
	CU_ASSERT_EQUAL(
	    conf_load(&c, "tests/conf/bad-block.conf", 0, err, sizeof(err)),
	    -1);
	CU_ASSERT_STRING_EQUAL(err, "tests/conf/bad-block.conf:3: 'engines' "
	                            "is not allowed in a destination block");

	snprintf(path, sizeof(path), "%s/ww.conf", cu_tmpdir());
	CU_ASSERT_EQUAL_FATAL(write_file(path, "engines 1\n", 10, 0666), 0);
	CU_ASSERT_EQUAL(conf_load(&c, path, 0, err, sizeof(err)), -1);
	snprintf(
	    want, sizeof(want), "%s: refusing a world-writable file", path);
	CU_ASSERT_STRING_EQUAL(err, want);
	unlink(path);

	/* exactly the limit is fine, one byte more is not */
	snprintf(path, sizeof(path), "%s/big.conf", cu_tmpdir());
	big = malloc(CONF_MAX_FILE + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	memset(big, '\n', CONF_MAX_FILE + 1);
	big[0] = '#';
	CU_ASSERT_EQUAL_FATAL(write_file(path, big, CONF_MAX_FILE, 0644), 0);
	CU_ASSERT_EQUAL(conf_load(&c, path, 0, err, sizeof(err)), 0);
	conf_free(c);
	CU_ASSERT_EQUAL_FATAL(
	    write_file(path, big, CONF_MAX_FILE + 1, 0644), 0);
	CU_ASSERT_EQUAL(conf_load(&c, path, 0, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: file too large (limit 1 MiB)", path);
	CU_ASSERT_STRING_EQUAL(err, want);
	unlink(path);
	free(big);
}

/* The shipped example must stay valid. */
static void
test_example_parses(void)
{
	struct cpconf *c = NULL;
	int r;

	r = conf_load(&c, "examples/cpconnectd.conf", 0, err, sizeof(err));
	if (r != 0)
		fprintf(stderr, "example: %s\n", err);
	CU_ASSERT_EQUAL_FATAL(r, 0);
	CU_ASSERT(c->nrules >= 3);
	CU_ASSERT(c->ndests >= 1);
	/* its comments quote this rule's line in a denial message */
	CU_ASSERT_EQUAL(c->rules[0].action, V_DENY);
	CU_ASSERT_EQUAL(c->rules[0].line, 103);
	conf_free(c);
}

/* Random bytes and mutations of the good file: an answer, never a crash;
 * a failure always names the file and a line. */
static void
test_random_input(void)
{
	struct cpconf *c;
	char *good = NULL, buf[4096];
	size_t glen = 0, len, j;
	FILE *f;
	int i, r, bad_err = 0;
	unsigned seed = (unsigned)time(NULL);
	time_t start = time(NULL);

	f = fopen(GOOD, "re");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	good = malloc(sizeof(buf));
	CU_ASSERT_PTR_NOT_NULL_FATAL(good);
	glen = fread(good, 1, sizeof(buf), f);
	fclose(f);
	srandom(seed);
	for (i = 0; i < 3000 && time(NULL) - start < 20; i++) {
		if (i % 2) {
			len = (size_t)random() % 512;
			/* % 25 also picks the string's NUL */
			for (j = 0; j < len; j++)
				buf[j] =
				    "ab {}\"#,\n\\*./:0123456789"[random() %
				                                  25];
		} else {
			len = glen;
			memcpy(buf, good, glen);
			for (j = 0; j < 4; j++)
				buf[random() % glen] = (char)random();
		}
		err[0] = '\0';
		c = NULL;
		r = conf_parse(&c, "fuzz.conf", buf, len, err, sizeof(err));
		if ((r == 0) != (c != NULL) ||
		    (r == -1 && strncmp(err, "fuzz.conf:", 10) != 0))
			bad_err++;
		conf_free(c);
	}
	if (bad_err)
		fprintf(stderr, "random input: seed %u\n", seed);
	CU_ASSERT_EQUAL(bad_err, 0);
	free(good);
}

int
main(void)
{
	CU_pSuite s = cu_suite("conf", NULL, NULL);

	cu_test(s, "good file: global settings", test_good_globals);
	cu_test(s, "good file: rules", test_good_rules);
	cu_test(s, "good file: destination blocks", test_good_destinations);
	cu_test(s, "empty file: documented defaults", test_defaults_empty);
	cu_test(s, "cn-fallback", test_cn_fallback);
	cu_test(s, "ocsp, crl-file, crl-check, reload-interval",
	    test_revocation);
	cu_test(s, "session-cache, session-cache-size", test_session_cache);
	cu_test(s, "bad files: exact messages", test_bad_table);
	cu_test(s, "bad files: NUL, long lines", test_bad_generated);
	cu_test(s, "rule count limit", test_too_many_rules);
	cu_test(s, "small error buffer", test_error_buffer_small);
	cu_test(s, "syntax variants", test_syntax_variants);
	cu_test(s, "a full port list on one line", test_port_list_limit);
	cu_test(s, "CIDR host bits cleared", test_cidr_masking);
	cu_test(s, "pins and keys imply verify", test_implied_verify);
	cu_test(s, "host name syntax", test_hostname_ok);
	cu_test(s, "rule strings", test_rule_str);
	cu_test(s, "built-in default policy", test_default_policy);
	cu_test(s, "file loading errors", test_load_errors);
	cu_test(s, "example configuration parses", test_example_parses);
	cu_test(s, "random input", test_random_input);
	return cu_finish();
}
