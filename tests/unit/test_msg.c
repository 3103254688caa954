/* SPDX-License-Identifier: ISC */
/*
 * Typed messages: every encoder against its decoder, and every decoding
 * rule of HELLO, CONNECT, RESULT, TLS_STATE and the certificate messages.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cutest.h"
#include "msg.h"

static char err[256];

/* Expect a refusal whose message mentions `what' (NULL: any). */
static void
refused(int rc, const char *what)
{
	CU_ASSERT(rc == -1);
	if (rc != -1)
		return;
	CU_ASSERT(errno == EBADMSG);
	CU_ASSERT(err[0] != '\0');
	if (what != NULL && strstr(err, what) == NULL) {
		fprintf(stderr, "error \"%s\" does not mention \"%s\"\n", err,
		    what);
		CU_FAIL("error message does not name the attribute");
	}
}

static void
good_connect(struct cp_connect *c)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	strcpy(c->host, "www.example.com");
	c->port = 443;
	c->tls = 1;
	c->verify = CP_VERIFY_NONE;
	c->family = CP_FAMILY_INET6;
	strcpy(c->sni, "example.com");
	memcpy(c->alpn, "\x02h2\x08http/1.1", 12);
	c->alpnlen = 12;
	c->retries = 3;
	c->retry_delay_ms = 250;
	c->connect_timeout_ms = 5000;
	c->timeout_ms = 30000;
	c->has_ca_hash = 1;
	for (i = 0; i < CP_HASH_LEN; i++)
		c->ca_hash[i] = (unsigned char)(i * 7 + 1);
}

static int
connect_rt(const struct cp_connect *in, struct cp_connect *out)
{
	struct abuf b;
	int rc;

	abuf_init(&b);
	cp_connect_encode(&b, in);
	CU_ASSERT_FATAL(!abuf_failed(&b));
	err[0] = '\0';
	errno = 0;
	rc = cp_connect_decode(b.buf, b.len, out, err, sizeof(err));
	abuf_free(&b);
	return rc;
}

/* Decode a CONNECT built by hand from its attributes. */
static int
connect_raw(struct abuf *b, struct cp_connect *out)
{
	int rc;

	CU_ASSERT_FATAL(!abuf_failed(b));
	err[0] = '\0';
	errno = 0;
	rc = cp_connect_decode(b->buf, b->len, out, err, sizeof(err));
	abuf_free(b);
	return rc;
}

static void
t_hello(void)
{
	struct cp_hello in, out;
	struct abuf b;

	memset(&in, 0, sizeof(in));
	in.version = CP_PROTO_VERSION;
	strcpy(in.software, "libcpconnect 0.1.0");
	abuf_init(&b);
	cp_hello_encode(&b, &in);
	memset(&out, 0xa5, sizeof(out));
	CU_ASSERT_FATAL(
	    cp_hello_decode(b.buf, b.len, &out, err, sizeof(err)) == 0);
	CU_ASSERT(out.version == CP_PROTO_VERSION);
	CU_ASSERT(strcmp(out.software, in.software) == 0);
	abuf_free(&b);

	/* Software is optional; version 0 is not a version. */
	in.software[0] = '\0';
	in.version = 0x12345678;
	abuf_init(&b);
	cp_hello_encode(&b, &in);
	CU_ASSERT(cp_hello_decode(b.buf, b.len, &out, err, sizeof(err)) == 0);
	CU_ASSERT(out.version == 0x12345678 && out.software[0] == '\0');
	abuf_free(&b);
	in.version = 0;
	abuf_init(&b);
	cp_hello_encode(&b, &in);
	refused(
	    cp_hello_decode(b.buf, b.len, &out, err, sizeof(err)), "version");
	abuf_free(&b);
	/* Missing version. */
	abuf_init(&b);
	abuf_str(&b, CP_A_SOFTWARE, "x");
	refused(
	    cp_hello_decode(b.buf, b.len, &out, err, sizeof(err)), "version");
	abuf_free(&b);
	/* Software name too long for the struct. */
	abuf_init(&b);
	abuf_u32(&b, CP_A_VERSION, 1);
	memset(in.software, 'a', sizeof(in.software));
	abuf_bytes(&b, CP_A_SOFTWARE, in.software, sizeof(in.software));
	refused(
	    cp_hello_decode(b.buf, b.len, &out, err, sizeof(err)), "software");
	abuf_free(&b);
}

/* The daemon's limits travel in its HELLO, all three or none. */
static void
t_hello_limits(void)
{
	struct cp_hello in, out;
	struct abuf b;

	memset(&in, 0, sizeof(in));
	in.version = CP_PROTO_VERSION;
	in.lim.known = 1;
	in.lim.request_ms = 30000;
	in.lim.handshake_ms = 10000;
	in.lim.retry_delay_ms = 0;
	abuf_init(&b);
	cp_hello_encode(&b, &in);
	memset(&out, 0xa5, sizeof(out));
	CU_ASSERT_FATAL(
	    cp_hello_decode(b.buf, b.len, &out, err, sizeof(err)) == 0);
	CU_ASSERT(out.lim.known == 1 && out.lim.request_ms == 30000 &&
	    out.lim.handshake_ms == 10000 && out.lim.retry_delay_ms == 0);
	abuf_free(&b);
	/* A daemon before them: not known, all zero. */
	in.lim.known = 0;
	abuf_init(&b);
	cp_hello_encode(&b, &in);
	CU_ASSERT(cp_hello_decode(b.buf, b.len, &out, err, sizeof(err)) == 0);
	CU_ASSERT(out.lim.known == 0 && out.lim.request_ms == 0 &&
	    out.lim.handshake_ms == 0 && out.lim.retry_delay_ms == 0);
	abuf_free(&b);
	/* Only some of them. */
	abuf_init(&b);
	abuf_u32(&b, CP_A_VERSION, 1);
	abuf_u32(&b, CP_A_REQUEST_TIMEOUT_MS, 1000);
	refused(cp_hello_decode(b.buf, b.len, &out, err, sizeof(err)),
	    "together");
	abuf_free(&b);
	/* A request timeout of 0 or above an hour. */
	abuf_init(&b);
	abuf_u32(&b, CP_A_VERSION, 1);
	abuf_u32(&b, CP_A_REQUEST_TIMEOUT_MS, 0);
	abuf_u32(&b, CP_A_HANDSHAKE_TIMEOUT_MS, 1000);
	abuf_u32(&b, CP_A_MIN_RETRY_DELAY_MS, 1000);
	refused(cp_hello_decode(b.buf, b.len, &out, err, sizeof(err)),
	    "request timeout");
	abuf_free(&b);
	abuf_init(&b);
	abuf_u32(&b, CP_A_VERSION, 1);
	abuf_u32(&b, CP_A_REQUEST_TIMEOUT_MS, 1000);
	abuf_u32(&b, CP_A_HANDSHAKE_TIMEOUT_MS, 3600001);
	abuf_u32(&b, CP_A_MIN_RETRY_DELAY_MS, 1000);
	refused(cp_hello_decode(b.buf, b.len, &out, err, sizeof(err)),
	    "handshake timeout");
	abuf_free(&b);
}

static void
t_connect_roundtrip(void)
{
	struct cp_connect in, out;

	good_connect(&in);
	memset(&out, 0xa5, sizeof(out));
	CU_ASSERT_FATAL(connect_rt(&in, &out) == 0);
	CU_ASSERT(strcmp(out.host, in.host) == 0);
	CU_ASSERT(out.port == 443);
	CU_ASSERT(out.tls == 1);
	CU_ASSERT(out.verify == CP_VERIFY_NONE);
	CU_ASSERT(out.family == CP_FAMILY_INET6);
	CU_ASSERT(strcmp(out.sni, in.sni) == 0);
	CU_ASSERT(out.alpnlen == 12);
	CU_ASSERT(memcmp(out.alpn, in.alpn, 12) == 0);
	CU_ASSERT(out.retries == 3);
	CU_ASSERT(out.retry_delay_ms == 250);
	CU_ASSERT(out.connect_timeout_ms == 5000);
	CU_ASSERT(out.timeout_ms == 30000);
	CU_ASSERT(out.has_ca_hash == 1);
	CU_ASSERT(memcmp(out.ca_hash, in.ca_hash, CP_HASH_LEN) == 0);

	/* Longest host (four labels, 253 bytes), extreme numbers. */
	memset(in.host, 'h', CP_MAX_HOST);
	in.host[63] = in.host[127] = in.host[191] = '.';
	in.host[CP_MAX_HOST] = '\0';
	in.port = 65535;
	in.retries = 1000;
	in.timeout_ms = 3600 * 1000;
	CU_ASSERT_FATAL(connect_rt(&in, &out) == 0);
	CU_ASSERT(strlen(out.host) == CP_MAX_HOST);
	CU_ASSERT(out.port == 65535 && out.retries == 1000);
	CU_ASSERT(out.timeout_ms == 3600 * 1000);

	/* Plain TCP, nothing optional. */
	memset(&in, 0, sizeof(in));
	strcpy(in.host, "192.0.2.1");
	in.port = 80;
	CU_ASSERT_FATAL(connect_rt(&in, &out) == 0);
	CU_ASSERT(out.tls == 0 && out.sni[0] == '\0' && out.alpnlen == 0);
	CU_ASSERT(!out.has_ca_hash);
}

/* ok: a host to connect to; 2: an address, which is no server name. */
static const struct {
	const char *host;
	int ok;
} host_cases[] = {
    {"example.com", 1},
    {"a-b_c.EXAMPLE.org", 1},
    {"192.0.2.1", 2},
    {"::1", 2},
    {"fe80::1%eth0", 2},
    {"127.1", 0},
    {"a..b", 0},
    {"a b", 0},
    {" example.com", 0},
    {"example.com ", 0},
    {"a/b", 0},
    {"/etc/passwd", 0},
    {"a\tb", 0},
    {"a\nb", 0},
    {"a\rb", 0},
    {"\x01", 0},
    {"a\x7f", 0},
    {"caf\xc3\xa9", 0},
    {"a@b", 0},
    {"a\\b", 0},
    {"[::1]", 0},
    {"a;b", 0},
};

static void
t_connect_host(void)
{
	struct cp_connect in, out;
	size_t i;

	for (i = 0; i < sizeof(host_cases) / sizeof(host_cases[0]); i++) {
		int rc;

		good_connect(&in);
		strcpy(in.host, host_cases[i].host);
		rc = connect_rt(&in, &out);
		if (host_cases[i].ok) {
			CU_ASSERT(rc == 0);
			CU_ASSERT(rc != 0 ||
			          strcmp(out.host, host_cases[i].host) == 0);
		} else
			refused(rc, "host");
		/* The server name follows the same rule for names, and is
		 * never an address (RFC 6066). */
		good_connect(&in);
		strcpy(in.sni, host_cases[i].host);
		rc = connect_rt(&in, &out);
		if (host_cases[i].ok == 1) {
			CU_ASSERT(rc == 0);
		} else
			refused(rc, "server name");
	}
}

/* Attributes of a CONNECT, optionally leaving one out. */
static void
connect_attrs(struct abuf *b, uint16_t skip)
{
	abuf_init(b);
	if (skip != CP_A_HOST)
		abuf_str(b, CP_A_HOST, "example.com");
	if (skip != CP_A_PORT)
		abuf_u16(b, CP_A_PORT, 443);
	if (skip != CP_A_TLS)
		abuf_u8(b, CP_A_TLS, 1);
}

static void
t_connect_fields(void)
{
	struct cp_connect in, out;
	struct abuf b;

	/* Host with a NUL, empty host, host too long. */
	connect_attrs(&b, CP_A_HOST);
	abuf_bytes(&b, CP_A_HOST, "ex\0ample", 8);
	refused(connect_raw(&b, &out), "host");
	connect_attrs(&b, CP_A_HOST);
	abuf_bytes(&b, CP_A_HOST, "", 0);
	refused(connect_raw(&b, &out), "host");
	good_connect(&in);
	memset(in.host, 'h', CP_MAX_HOST);
	connect_attrs(&b, CP_A_HOST);
	abuf_bytes(&b, CP_A_HOST, in.host, CP_MAX_HOST + 1);
	refused(connect_raw(&b, &out), "host");

	/* Required attributes. */
	connect_attrs(&b, CP_A_HOST);
	refused(connect_raw(&b, &out), "host");
	connect_attrs(&b, CP_A_PORT);
	refused(connect_raw(&b, &out), "port");

	/* Port 0; a port of the wrong size. */
	good_connect(&in);
	in.port = 0;
	refused(connect_rt(&in, &out), "port");
	connect_attrs(&b, CP_A_PORT);
	abuf_u32(&b, CP_A_PORT, 443);
	refused(connect_raw(&b, &out), "port");

	/* tls, verify, family values. */
	connect_attrs(&b, CP_A_TLS);
	abuf_u8(&b, CP_A_TLS, 2);
	refused(connect_raw(&b, &out), "tls");
	good_connect(&in);
	in.verify = 2;
	refused(connect_rt(&in, &out), "verify");
	in.verify = CP_VERIFY_PEER;
	CU_ASSERT(connect_rt(&in, &out) == 0 && out.verify == CP_VERIFY_PEER);
	in.family = CP_FAMILY_ANY;
	CU_ASSERT(connect_rt(&in, &out) == 0 && out.family == CP_FAMILY_ANY);
	in.family = CP_FAMILY_INET4;
	CU_ASSERT(connect_rt(&in, &out) == 0 && out.family == CP_FAMILY_INET4);
	in.family = 1;
	refused(connect_rt(&in, &out), "family");
	in.family = 5;
	refused(connect_rt(&in, &out), "family");
	in.family = 7;
	refused(connect_rt(&in, &out), "family");
	in.family = 255;
	refused(connect_rt(&in, &out), "family");

	/* Bounds on retries and delays. */
	good_connect(&in);
	in.retries = 1001;
	refused(connect_rt(&in, &out), "retries");
	good_connect(&in);
	in.retry_delay_ms = 3600 * 1000 + 1;
	refused(connect_rt(&in, &out), "retry delay");
	good_connect(&in);
	in.connect_timeout_ms = 3600 * 1000 + 1;
	refused(connect_rt(&in, &out), "connect timeout");
	good_connect(&in);
	in.timeout_ms = UINT32_MAX;
	refused(connect_rt(&in, &out), "timeout");

	/* CA hash of the wrong size. */
	connect_attrs(&b, 0);
	abuf_bytes(&b, CP_A_CA_HASH, in.ca_hash, CP_HASH_LEN - 1);
	refused(connect_raw(&b, &out), "ca hash");

	/* Unknown attribute: a RESULT tag in a CONNECT. */
	connect_attrs(&b, 0);
	abuf_u8(&b, CP_A_STATUS, 0);
	refused(connect_raw(&b, &out), NULL);
}

static void
t_connect_defaults(void)
{
	struct cp_connect out;
	struct abuf b;

	/* Only host and port: TCP, verification on, any family. */
	connect_attrs(&b, CP_A_TLS);
	memset(&out, 0xa5, sizeof(out));
	CU_ASSERT_FATAL(connect_raw(&b, &out) == 0);
	CU_ASSERT(strcmp(out.host, "example.com") == 0);
	CU_ASSERT(out.port == 443);
	CU_ASSERT(out.tls == 0);
	CU_ASSERT(out.verify == CP_VERIFY_PEER);
	CU_ASSERT(out.family == CP_FAMILY_ANY);
	CU_ASSERT(out.sni[0] == '\0');
	CU_ASSERT(out.alpnlen == 0);
	CU_ASSERT(out.retries == 0 && out.retry_delay_ms == 0);
	CU_ASSERT(out.connect_timeout_ms == 0 && out.timeout_ms == 0);
	CU_ASSERT(!out.has_ca_hash);

	/* TLS without verify: verification stays on. */
	connect_attrs(&b, 0);
	CU_ASSERT_FATAL(connect_raw(&b, &out) == 0);
	CU_ASSERT(out.tls == 1 && out.verify == CP_VERIFY_PEER);
}

static const struct {
	const char *alpn;
	size_t len;
	int ok;
} alpn_cases[] = {
    {"\x02h2", 3, 1},
    {"\x08http/1.1", 9, 1},
    {"\x02h2\x08http/1.1", 12, 1},
    {"\x01"
     "a\x01"
     "b\x01"
     "c",
        6, 1},
    {"\x00\x02h2", 4, 0}, /* zero-length entry first */
    {"\x02h2\x00", 4, 0}, /* zero-length entry last */
    {"\x03h2", 3, 0},     /* overrun */
    {"\x02h2\x05"
     "abc",
        7, 0}, /* second entry overruns */
    {"\x02h", 2, 0},
    {"\x01", 1, 0}, /* below the attribute minimum */
    {"\xff"
     "ab",
        3, 0},
};

static void
t_connect_alpn(void)
{
	struct cp_connect in, out;
	size_t i;

	for (i = 0; i < sizeof(alpn_cases) / sizeof(alpn_cases[0]); i++) {
		int rc;

		good_connect(&in);
		memcpy(in.alpn, alpn_cases[i].alpn, alpn_cases[i].len);
		in.alpnlen = alpn_cases[i].len;
		rc = connect_rt(&in, &out);
		if (alpn_cases[i].ok) {
			CU_ASSERT(rc == 0);
			CU_ASSERT(out.alpnlen == alpn_cases[i].len);
			CU_ASSERT(memcmp(out.alpn, alpn_cases[i].alpn,
			              alpn_cases[i].len) == 0);
		} else
			refused(rc, "alpn");
	}

	/* The longest list: one name of 254 bytes. */
	good_connect(&in);
	in.alpn[0] = 254;
	memset(in.alpn + 1, 'p', 254);
	in.alpnlen = CP_MAX_ALPN;
	CU_ASSERT(connect_rt(&in, &out) == 0);
	CU_ASSERT(out.alpnlen == CP_MAX_ALPN);
	/* One byte more does not fit. */
	{
		unsigned char big[CP_MAX_ALPN + 1];
		struct abuf b;

		big[0] = 255;
		memset(big + 1, 'p', 255);
		connect_attrs(&b, 0);
		abuf_bytes(&b, CP_A_ALPN, big, sizeof(big));
		refused(connect_raw(&b, &out), "alpn");
	}
}

/* Server name, ALPN and trust anchors make no sense without TLS. */
static void
t_connect_plain_tls_attrs(void)
{
	struct cp_connect in, out;
	struct abuf b;

	good_connect(&in);
	in.tls = 0;
	in.alpnlen = 0;
	in.has_ca_hash = 0;
	refused(connect_rt(&in, &out), NULL);
	good_connect(&in);
	in.tls = 0;
	in.sni[0] = '\0';
	in.has_ca_hash = 0;
	refused(connect_rt(&in, &out), NULL);
	good_connect(&in);
	in.tls = 0;
	in.sni[0] = '\0';
	in.alpnlen = 0;
	refused(connect_rt(&in, &out), NULL);
	/* tls absent counts as plain TCP. */
	connect_attrs(&b, CP_A_TLS);
	abuf_str(&b, CP_A_SNI, "example.com");
	refused(connect_raw(&b, &out), NULL);
	/* All three off: fine, verify mode is irrelevant. */
	good_connect(&in);
	in.tls = 0;
	in.sni[0] = '\0';
	in.alpnlen = 0;
	in.has_ca_hash = 0;
	CU_ASSERT(connect_rt(&in, &out) == 0);
}

/* The record layer a library knows before it asks (CP_A_RECORD_KNOWN):
 * carried by a TLS CONNECT and a HANDSHAKE, absent by default, a real
 * record layer or nothing, never with plain TCP. */
static void
t_connect_record_known(void)
{
	struct cp_connect in, out;
	struct abuf b;

	good_connect(&in);
	CU_ASSERT_FATAL(connect_rt(&in, &out) == 0);
	CU_ASSERT(out.record == CP_RECORD_UNKNOWN);
	in.record = CP_RECORD_USER;
	CU_ASSERT_FATAL(connect_rt(&in, &out) == 0);
	CU_ASSERT(out.record == CP_RECORD_USER);
	in.record = CP_RECORD_KERNEL;
	CU_ASSERT_FATAL(connect_rt(&in, &out) == 0);
	CU_ASSERT(out.record == CP_RECORD_KERNEL);
	abuf_init(&b);
	cp_handshake_encode(&b, &in);
	CU_ASSERT_FATAL(
	    cp_handshake_decode(b.buf, b.len, &out, err, sizeof(err)) == 0);
	CU_ASSERT(out.record == CP_RECORD_KERNEL);
	abuf_free(&b);
	/* "Unknown" is said by leaving it out; past the last is no layer. */
	connect_attrs(&b, 0);
	abuf_u8(&b, CP_A_RECORD_KNOWN, CP_RECORD_UNKNOWN);
	refused(connect_raw(&b, &out), "record");
	connect_attrs(&b, 0);
	abuf_u8(&b, CP_A_RECORD_KNOWN, CP_RECORD_MAX);
	refused(connect_raw(&b, &out), "record");
	/* Plain TCP has no record layer. */
	good_connect(&in);
	in.tls = 0;
	in.sni[0] = '\0';
	in.alpnlen = 0;
	in.has_ca_hash = 0;
	in.record = CP_RECORD_USER;
	refused(connect_rt(&in, &out), NULL);
}

static void
good_result(struct cp_result *r)
{
	memset(r, 0, sizeof(*r));
	r->status = CP_STATUS_ERROR;
	r->eclass = CP_E_VERIFY;
	r->err = 111;
	r->verify_result = 62;
	strcpy(r->errtext, "certificate verify failed: hostname mismatch");
	r->tls_version = 0x0304;
	strcpy(r->cipher, "TLS_AES_256_GCM_SHA384");
	strcpy(r->alpn, "h2");
	r->resumed = 1;
	r->no_peer_cert = 1;
	strcpy(r->peer_addr, "2001:db8::1");
	r->peer_port = 8443;
	r->attempts = 4;
	r->elapsed_ms = 1234567;
}

static int
result_rt(const struct cp_result *in, struct cp_result *out)
{
	struct abuf b;
	int rc;

	abuf_init(&b);
	cp_result_encode(&b, in);
	CU_ASSERT_FATAL(!abuf_failed(&b));
	err[0] = '\0';
	errno = 0;
	rc = cp_result_decode(b.buf, b.len, out, err, sizeof(err));
	abuf_free(&b);
	return rc;
}

static void
t_result(void)
{
	struct cp_result in, out;
	struct abuf b;

	good_result(&in);
	memset(&out, 0xa5, sizeof(out));
	CU_ASSERT_FATAL(result_rt(&in, &out) == 0);
	CU_ASSERT(out.status == CP_STATUS_ERROR);
	CU_ASSERT(out.eclass == CP_E_VERIFY);
	CU_ASSERT(out.err == 111);
	CU_ASSERT(out.verify_result == 62);
	CU_ASSERT(strcmp(out.errtext, in.errtext) == 0);
	CU_ASSERT(out.tls_version == 0x0304);
	CU_ASSERT(strcmp(out.cipher, in.cipher) == 0);
	CU_ASSERT(strcmp(out.alpn, "h2") == 0);
	CU_ASSERT(out.resumed == 1);
	CU_ASSERT(out.no_peer_cert == 1);
	CU_ASSERT(strcmp(out.peer_addr, in.peer_addr) == 0);
	CU_ASSERT(out.peer_port == 8443);
	CU_ASSERT(out.attempts == 4);
	CU_ASSERT(out.elapsed_ms == 1234567);

	/* Success with nothing optional. */
	memset(&in, 0, sizeof(in));
	CU_ASSERT_FATAL(result_rt(&in, &out) == 0);
	CU_ASSERT(out.status == CP_STATUS_OK && out.eclass == CP_E_NONE);
	CU_ASSERT(out.tls_version == 0 && out.errtext[0] == '\0');
	in.status = CP_STATUS_NEED_CA;
	CU_ASSERT(result_rt(&in, &out) == 0 && out.status == CP_STATUS_NEED_CA);

	/* An error must say what kind. */
	good_result(&in);
	in.eclass = CP_E_NONE;
	refused(result_rt(&in, &out), "class");
	abuf_init(&b);
	abuf_u8(&b, CP_A_STATUS, CP_STATUS_ERROR);
	refused(
	    cp_result_decode(b.buf, b.len, &out, err, sizeof(err)), "class");
	abuf_free(&b);

	/* Ranges. */
	good_result(&in);
	in.status = 3;
	refused(result_rt(&in, &out), "status");
	good_result(&in);
	in.eclass = CP_E_MAX;
	refused(result_rt(&in, &out), "error class");
	good_result(&in);
	in.eclass = CP_E_MAX - 1;
	CU_ASSERT(result_rt(&in, &out) == 0);
	good_result(&in);
	in.err = 4096;
	refused(result_rt(&in, &out), "errno");
	good_result(&in);
	in.tls_version = 0x0302;
	refused(result_rt(&in, &out), "tls version");
	good_result(&in);
	in.tls_version = 0x0305;
	refused(result_rt(&in, &out), "tls version");
	good_result(&in);
	in.resumed = 2;
	refused(result_rt(&in, &out), "resumed");

	/* Longest texts fit their fields; one more byte is refused. */
	good_result(&in);
	memset(in.errtext, 'e', CP_MAX_ERRTEXT - 1);
	memset(in.cipher, 'c', 63);
	memset(in.alpn, 'a', 255);
	memset(in.peer_addr, '1', 63);
	CU_ASSERT_FATAL(result_rt(&in, &out) == 0);
	CU_ASSERT(strlen(out.errtext) == CP_MAX_ERRTEXT - 1);
	CU_ASSERT(strlen(out.cipher) == 63 && strlen(out.alpn) == 255);
	CU_ASSERT(strlen(out.peer_addr) == 63);
	{
		char big[CP_MAX_ERRTEXT + 1];

		memset(big, 'e', sizeof(big));
		abuf_init(&b);
		abuf_u8(&b, CP_A_STATUS, 0);
		abuf_bytes(&b, CP_A_ERRTEXT, big, CP_MAX_ERRTEXT);
		refused(cp_result_decode(b.buf, b.len, &out, err, sizeof(err)),
		    "error text");
		abuf_free(&b);
		abuf_init(&b);
		abuf_u8(&b, CP_A_STATUS, 0);
		abuf_bytes(&b, CP_A_CIPHER_NAME, big, 64);
		refused(cp_result_decode(b.buf, b.len, &out, err, sizeof(err)),
		    "cipher");
		abuf_free(&b);
		abuf_init(&b);
		abuf_u8(&b, CP_A_STATUS, 0);
		abuf_bytes(&b, CP_A_PEER_ADDR, big, 64);
		refused(cp_result_decode(b.buf, b.len, &out, err, sizeof(err)),
		    "peer address");
		abuf_free(&b);
	}
	/* Missing status. */
	abuf_init(&b);
	abuf_u8(&b, CP_A_ECLASS, CP_E_TLS);
	refused(
	    cp_result_decode(b.buf, b.len, &out, err, sizeof(err)), "status");
	abuf_free(&b);
}

static void
good_tls(struct cp_tls_state *s, int v13)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	s->version = v13 ? 0x0304 : 0x0303;
	s->cipher = v13 ? 0x1302 : 0xc02f;
	s->tx.keylen = s->rx.keylen = v13 ? 32 : 16;
	for (i = 0; i < CP_MAX_KEY; i++) {
		s->tx.key[i] = (unsigned char)(i + 1);
		s->rx.key[i] = (unsigned char)(0x80 + i);
	}
	for (i = 0; i < CP_IV_LEN; i++) {
		s->tx.iv[i] = (unsigned char)(0x40 + i);
		s->rx.iv[i] = (unsigned char)(0xc0 + i);
	}
	s->tx.seq = 7;
	s->rx.seq = UINT64_MAX - 3;
	if (v13) {
		s->tx.secretlen = s->rx.secretlen = 48;
		for (i = 0; i < 48; i++) {
			s->tx.secret[i] = (unsigned char)(3 * i);
			s->rx.secret[i] = (unsigned char)(5 * i);
		}
	}
}

static int
tls_rt(const struct cp_tls_state *in, struct cp_tls_state *out)
{
	struct abuf b;
	int rc;

	abuf_init(&b);
	cp_tls_state_encode(&b, in);
	CU_ASSERT_FATAL(!abuf_failed(&b));
	err[0] = '\0';
	errno = 0;
	rc = cp_tls_state_decode(b.buf, b.len, out, err, sizeof(err));
	abuf_free(&b);
	return rc;
}

static int
dir_eq(const struct cp_tls_dir *a, const struct cp_tls_dir *b)
{
	return a->keylen == b->keylen &&
	       memcmp(a->key, b->key, a->keylen) == 0 &&
	       memcmp(a->iv, b->iv, CP_IV_LEN) == 0 && a->seq == b->seq &&
	       a->secretlen == b->secretlen &&
	       memcmp(a->secret, b->secret, a->secretlen) == 0;
}

static int
all_zero(const void *p, size_t len)
{
	const unsigned char *c = p;

	while (len-- > 0)
		if (*c++ != 0)
			return 0;
	return 1;
}

static void
t_tls_state(void)
{
	struct cp_tls_state in, out;
	int v13;

	for (v13 = 0; v13 <= 1; v13++) {
		good_tls(&in, v13);
		memset(&out, 0xa5, sizeof(out));
		CU_ASSERT_FATAL(tls_rt(&in, &out) == 0);
		CU_ASSERT(out.version == in.version);
		CU_ASSERT(out.cipher == in.cipher);
		CU_ASSERT(dir_eq(&out.tx, &in.tx));
		CU_ASSERT(dir_eq(&out.rx, &in.rx));
	}

	/* TLS 1.3 needs both traffic secrets. */
	good_tls(&in, 1);
	in.tx.secretlen = 0;
	refused(tls_rt(&in, &out), "secret");
	good_tls(&in, 1);
	in.rx.secretlen = 0;
	refused(tls_rt(&in, &out), "secret");
	/* TLS 1.2 has none, and a refused state leaves no key behind. */
	good_tls(&in, 0);
	in.rx.secretlen = 32;
	memset(&out, 0xa5, sizeof(out));
	refused(tls_rt(&in, &out), "secret");
	CU_ASSERT(all_zero(&out, sizeof(out)));

	/* Versions and cipher. */
	good_tls(&in, 1);
	in.version = 0x0302;
	refused(tls_rt(&in, &out), "tls version");
	in.version = 0x0305;
	refused(tls_rt(&in, &out), "tls version");
	good_tls(&in, 1);
	in.cipher = 0;
	refused(tls_rt(&in, &out), "cipher");

	/* Key, secret sizes. */
	good_tls(&in, 0);
	in.tx.keylen = 15;
	refused(tls_rt(&in, &out), "tx key");
	good_tls(&in, 0);
	in.rx.keylen = 0;
	refused(tls_rt(&in, &out), "rx key");
	good_tls(&in, 1);
	in.tx.secretlen = 31;
	refused(tls_rt(&in, &out), "tx secret");
	good_tls(&in, 1);
	in.rx.secretlen = CP_MAX_SECRET;
	CU_ASSERT(tls_rt(&in, &out) == 0 && out.rx.secretlen == CP_MAX_SECRET);
	good_tls(&in, 1);
	in.tx.keylen = CP_MAX_KEY;
	CU_ASSERT(tls_rt(&in, &out) == 0 && out.tx.keylen == CP_MAX_KEY);
}

/* Sizes the encoder cannot produce: built by hand. */
static void
t_tls_state_raw(void)
{
	static const unsigned char zero[CP_MAX_SECRET + 8];
	struct cp_tls_state out;
	struct abuf b;
	size_t len;

	for (len = 0; len <= CP_IV_LEN + 2; len++) {
		abuf_init(&b);
		abuf_u16(&b, CP_A_TLS_VERSION, 0x0303);
		abuf_u16(&b, CP_A_CIPHER_ID, 0xc02f);
		abuf_bytes(&b, CP_A_TX_KEY, zero, 16);
		abuf_bytes(&b, CP_A_TX_IV, zero, len);
		abuf_u64(&b, CP_A_TX_SEQ, 0);
		abuf_bytes(&b, CP_A_RX_KEY, zero, 16);
		abuf_bytes(&b, CP_A_RX_IV, zero, CP_IV_LEN);
		abuf_u64(&b, CP_A_RX_SEQ, 0);
		err[0] = '\0';
		if (len == CP_IV_LEN) {
			CU_ASSERT(cp_tls_state_decode(b.buf, b.len, &out, err,
			              sizeof(err)) == 0);
		} else
			refused(cp_tls_state_decode(
			            b.buf, b.len, &out, err, sizeof(err)),
			    "tx iv");
		abuf_free(&b);
	}
	/* Key one byte over the maximum, secret one over. */
	abuf_init(&b);
	abuf_u16(&b, CP_A_TLS_VERSION, 0x0304);
	abuf_u16(&b, CP_A_CIPHER_ID, 0x1303);
	abuf_bytes(&b, CP_A_TX_KEY, zero, CP_MAX_KEY + 1);
	refused(cp_tls_state_decode(b.buf, b.len, &out, err, sizeof(err)),
	    "tx key");
	abuf_free(&b);
	abuf_init(&b);
	abuf_bytes(&b, CP_A_RX_SECRET, zero, CP_MAX_SECRET + 1);
	refused(cp_tls_state_decode(b.buf, b.len, &out, err, sizeof(err)),
	    "rx secret");
	abuf_free(&b);
	/* A missing sequence number. */
	abuf_init(&b);
	abuf_u16(&b, CP_A_TLS_VERSION, 0x0303);
	abuf_u16(&b, CP_A_CIPHER_ID, 0xc02f);
	abuf_bytes(&b, CP_A_TX_KEY, zero, 16);
	abuf_bytes(&b, CP_A_TX_IV, zero, CP_IV_LEN);
	abuf_bytes(&b, CP_A_RX_KEY, zero, 16);
	abuf_bytes(&b, CP_A_RX_IV, zero, CP_IV_LEN);
	abuf_u64(&b, CP_A_RX_SEQ, 0);
	refused(cp_tls_state_decode(b.buf, b.len, &out, err, sizeof(err)),
	    "tx seq");
	abuf_free(&b);
}

static void
t_cert(void)
{
	unsigned char *der;
	const unsigned char *p;
	size_t len;
	struct abuf b;
	static const size_t sizes[] = {1, 2, 1000, CP_MAX_CERT};
	size_t i;

	CU_ASSERT_FATAL((der = malloc(CP_MAX_CERT + 1)) != NULL);
	for (i = 0; i <= CP_MAX_CERT; i++)
		der[i] = (unsigned char)(i * 13);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		abuf_init(&b);
		cp_cert_encode(&b, der, sizes[i]);
		p = NULL;
		len = 0;
		CU_ASSERT(cp_cert_decode(
		              b.buf, b.len, &p, &len, err, sizeof(err)) == 0);
		CU_ASSERT(len == sizes[i]);
		CU_ASSERT(p != NULL && memcmp(p, der, sizes[i]) == 0);
		/* Points into the message, no copy. */
		CU_ASSERT(p == b.buf + ATTR_HDR);
		abuf_free(&b);
	}
	abuf_init(&b);
	cp_cert_encode(&b, der, 0);
	refused(cp_cert_decode(b.buf, b.len, &p, &len, err, sizeof(err)),
	    "certificate");
	abuf_free(&b);
	abuf_init(&b);
	cp_cert_encode(&b, der, CP_MAX_CERT + 1);
	refused(cp_cert_decode(b.buf, b.len, &p, &len, err, sizeof(err)),
	    "certificate");
	abuf_free(&b);
	/* Empty message: the certificate is required. */
	refused(
	    cp_cert_decode("", 0, &p, &len, err, sizeof(err)), "certificate");
	free(der);
}

static void
t_ca_end(void)
{
	unsigned char hash[CP_HASH_LEN + 1], out[CP_HASH_LEN];
	struct abuf b;
	size_t i;

	for (i = 0; i < sizeof(hash); i++)
		hash[i] = (unsigned char)(0xf0 ^ i);
	abuf_init(&b);
	cp_ca_end_encode(&b, hash);
	memset(out, 0, sizeof(out));
	CU_ASSERT(cp_ca_end_decode(b.buf, b.len, out, err, sizeof(err)) == 0);
	CU_ASSERT(memcmp(out, hash, CP_HASH_LEN) == 0);
	abuf_free(&b);
	for (i = 0; i <= sizeof(hash); i++) {
		if (i == CP_HASH_LEN)
			continue;
		abuf_init(&b);
		abuf_bytes(&b, CP_A_CA_HASH, hash, i);
		refused(cp_ca_end_decode(b.buf, b.len, out, err, sizeof(err)),
		    "ca hash");
		abuf_free(&b);
	}
	refused(cp_ca_end_decode("", 0, out, err, sizeof(err)), "ca hash");
}

/* TICKET, and the RESULT's cookie that goes with it. */
static void
t_ticket(void)
{
	unsigned char cookie[CP_COOKIE_LEN], msg[64];
	const unsigned char *ck, *m;
	struct cp_result r, o;
	struct abuf b;
	size_t len, i;

	for (i = 0; i < sizeof(cookie); i++)
		cookie[i] = (unsigned char)(0xa0 + i);
	memset(msg, 0x5a, sizeof(msg));
	msg[0] = 4; /* NewSessionTicket of 60 bytes */
	msg[1] = 0;
	msg[2] = 0;
	msg[3] = 60;
	abuf_init(&b);
	cp_ticket_encode(&b, cookie, msg, sizeof(msg));
	CU_ASSERT(cp_ticket_decode(
	              b.buf, b.len, &ck, &m, &len, err, sizeof(err)) == 0);
	CU_ASSERT(len == sizeof(msg) && memcmp(m, msg, len) == 0);
	CU_ASSERT(memcmp(ck, cookie, CP_COOKIE_LEN) == 0);
	abuf_free(&b);
	/* Not one whole NewSessionTicket: another type, a wrong length. */
	msg[0] = 24;
	abuf_init(&b);
	cp_ticket_encode(&b, cookie, msg, sizeof(msg));
	refused(cp_ticket_decode(b.buf, b.len, &ck, &m, &len, err, sizeof(err)),
	    "NewSessionTicket");
	abuf_free(&b);
	msg[0] = 4;
	abuf_init(&b);
	cp_ticket_encode(&b, cookie, msg, sizeof(msg) - 1);
	refused(cp_ticket_decode(b.buf, b.len, &ck, &m, &len, err, sizeof(err)),
	    "NewSessionTicket");
	abuf_free(&b);
	abuf_init(&b);
	abuf_bytes(&b, CP_A_COOKIE, cookie, CP_COOKIE_LEN - 1);
	abuf_bytes(&b, CP_A_TICKET, msg, sizeof(msg));
	refused(cp_ticket_decode(b.buf, b.len, &ck, &m, &len, err, sizeof(err)),
	    "cookie");
	abuf_free(&b);

	memset(&r, 0, sizeof(r));
	r.status = CP_STATUS_OK;
	r.resumed = 1;
	r.has_cookie = 1;
	memcpy(r.cookie, cookie, sizeof(cookie));
	abuf_init(&b);
	cp_result_encode(&b, &r);
	CU_ASSERT(cp_result_decode(b.buf, b.len, &o, err, sizeof(err)) == 0);
	CU_ASSERT(o.resumed == 1 && o.has_cookie == 1 &&
	          memcmp(o.cookie, cookie, sizeof(cookie)) == 0);
	abuf_free(&b);
	r.has_cookie = 0;
	abuf_init(&b);
	cp_result_encode(&b, &r);
	CU_ASSERT(cp_result_decode(b.buf, b.len, &o, err, sizeof(err)) == 0);
	CU_ASSERT(o.has_cookie == 0);
	abuf_free(&b);
}

/* Each decoder refuses the other messages: tags are per message. */
static void
t_cross(void)
{
	struct cp_connect c;
	struct cp_result r;
	struct cp_hello h;
	struct cp_tls_state s;
	const unsigned char *p;
	size_t len;
	struct abuf b;

	good_connect(&c);
	abuf_init(&b);
	cp_connect_encode(&b, &c);
	refused(cp_result_decode(b.buf, b.len, &r, err, sizeof(err)), NULL);
	refused(cp_hello_decode(b.buf, b.len, &h, err, sizeof(err)), NULL);
	refused(cp_tls_state_decode(b.buf, b.len, &s, err, sizeof(err)), NULL);
	refused(cp_cert_decode(b.buf, b.len, &p, &len, err, sizeof(err)), NULL);
	abuf_free(&b);
	good_result(&r);
	abuf_init(&b);
	cp_result_encode(&b, &r);
	refused(cp_connect_decode(b.buf, b.len, &c, err, sizeof(err)), NULL);
	abuf_free(&b);
}

static void
t_strings(void)
{
	CU_ASSERT(strcmp(cp_msg_str(CP_MSG_CONNECT), "CONNECT") == 0);
	CU_ASSERT(strcmp(cp_msg_str(CP_MSG_RESULT), "RESULT") == 0);
	CU_ASSERT(strcmp(cp_msg_str(0), "unknown") == 0);
	CU_ASSERT(strcmp(cp_msg_str(CP_MSG_MAX), "unknown") == 0);
	CU_ASSERT(strcmp(cp_msg_str(UINT32_MAX), "unknown") == 0);
	CU_ASSERT(strcmp(cp_eclass_str(CP_E_NONE), "success") == 0);
	CU_ASSERT(strcmp(cp_eclass_str(-1), "unknown error class") == 0);
	CU_ASSERT(strcmp(cp_eclass_str(CP_E_MAX), "unknown error class") == 0);
}

/* HELLO features: announced, read back, optional for older peers. */
static void
t_hello_features(void)
{
	static const struct attr_rule v2[] = {
	    {CP_A_VERSION, AT_U32, 1, 1, UINT32_MAX, "version"},
	};
	struct cp_hello in, out;
	struct attr_val v[1];
	struct abuf b;

	memset(&in, 0, sizeof(in));
	in.version = CP_PROTO_VERSION;
	in.features = CP_FEAT_HANDSHAKE | 0x80u; /* and a later one */
	abuf_init(&b);
	cp_hello_encode(&b, &in);
	CU_ASSERT_FATAL(
	    cp_hello_decode(b.buf, b.len, &out, err, sizeof(err)) == 0);
	CU_ASSERT(out.features == (CP_FEAT_HANDSHAKE | 0x80u));
	/* A decoder that knows only the version skips the tag. */
	CU_ASSERT((CP_A_FEATURES & ATTR_OPTIONAL) != 0);
	CU_ASSERT(attr_parse(b.buf, b.len, v2, 1, v, err, sizeof(err)) == 0);
	abuf_free(&b);
	/* None announced: 0, and nothing on the wire. */
	in.features = 0;
	abuf_init(&b);
	cp_hello_encode(&b, &in);
	CU_ASSERT(cp_hello_decode(b.buf, b.len, &out, err, sizeof(err)) == 0);
	CU_ASSERT(out.features == 0);
	CU_ASSERT(b.len == ATTR_HDR + 4); /* the version alone */
	abuf_free(&b);
	/* Twice: refused as any duplicate. */
	abuf_init(&b);
	abuf_u32(&b, CP_A_VERSION, 2);
	abuf_u32(&b, CP_A_FEATURES, 1);
	abuf_u32(&b, CP_A_FEATURES, 1);
	refused(
	    cp_hello_decode(b.buf, b.len, &out, err, sizeof(err)), "features");
	abuf_free(&b);
}

/* HANDSHAKE: CONNECT's TLS fields, nothing of the dial. */
static void
t_handshake(void)
{
	struct cp_connect in, out;
	struct abuf b;

	good_connect(&in);
	abuf_init(&b);
	cp_handshake_encode(&b, &in);
	CU_ASSERT_FATAL(!abuf_failed(&b));
	memset(&out, 0xa5, sizeof(out));
	CU_ASSERT_FATAL(
	    cp_handshake_decode(b.buf, b.len, &out, err, sizeof(err)) == 0);
	CU_ASSERT_STRING_EQUAL(out.host, in.host);
	CU_ASSERT(
	    out.port == 443 && out.tls == 1 && out.verify == CP_VERIFY_NONE);
	CU_ASSERT_STRING_EQUAL(out.sni, in.sni);
	CU_ASSERT(out.alpnlen == 12 && memcmp(out.alpn, in.alpn, 12) == 0);
	CU_ASSERT(out.timeout_ms == 30000);
	CU_ASSERT(out.has_ca_hash &&
	          memcmp(out.ca_hash, in.ca_hash, CP_HASH_LEN) == 0);
	/* What only a dial uses is not there. */
	CU_ASSERT(out.retries == 0 && out.retry_delay_ms == 0 &&
	          out.connect_timeout_ms == 0 && out.family == 0);
	/* A CONNECT is not a HANDSHAKE: its dial fields are refused. */
	abuf_free(&b);
	abuf_init(&b);
	cp_connect_encode(&b, &in);
	refused(cp_handshake_decode(b.buf, b.len, &out, err, sizeof(err)),
	    "unknown attribute");
	abuf_free(&b);
	/* Defaults: verification on. */
	abuf_init(&b);
	abuf_str(&b, CP_A_HOST, "mail.example.org");
	abuf_u16(&b, CP_A_PORT, 25);
	CU_ASSERT(
	    cp_handshake_decode(b.buf, b.len, &out, err, sizeof(err)) == 0);
	CU_ASSERT(out.verify == CP_VERIFY_PEER && out.tls == 1);
	abuf_free(&b);
	/* The same host, server name and ALPN rules as CONNECT's. */
	abuf_init(&b);
	abuf_str(&b, CP_A_HOST, "bad host");
	abuf_u16(&b, CP_A_PORT, 25);
	refused(
	    cp_handshake_decode(b.buf, b.len, &out, err, sizeof(err)), "host");
	abuf_free(&b);
	abuf_init(&b);
	abuf_str(&b, CP_A_HOST, "mail.example.org");
	abuf_u16(&b, CP_A_PORT, 25);
	abuf_str(&b, CP_A_SNI, "192.0.2.1");
	refused(cp_handshake_decode(b.buf, b.len, &out, err, sizeof(err)),
	    "server name");
	abuf_free(&b);
	abuf_init(&b);
	abuf_str(&b, CP_A_HOST, "mail.example.org");
	abuf_u16(&b, CP_A_PORT, 25);
	abuf_bytes(&b, CP_A_ALPN, "\x05h2", 3);
	refused(
	    cp_handshake_decode(b.buf, b.len, &out, err, sizeof(err)), "alpn");
	abuf_free(&b);
	/* Port and host required. */
	abuf_init(&b);
	abuf_str(&b, CP_A_HOST, "mail.example.org");
	refused(
	    cp_handshake_decode(b.buf, b.len, &out, err, sizeof(err)), "port");
	abuf_free(&b);
	CU_ASSERT_STRING_EQUAL(cp_msg_str(CP_MSG_HANDSHAKE), "HANDSHAKE");
}

int
main(void)
{
	CU_pSuite s;

	s = cu_suite("messages", NULL, NULL);
	cu_test(s, "HELLO", t_hello);
	cu_test(s, "HELLO limits", t_hello_limits);
	cu_test(s, "CONNECT round trip", t_connect_roundtrip);
	cu_test(s, "CONNECT host characters", t_connect_host);
	cu_test(s, "CONNECT fields", t_connect_fields);
	cu_test(s, "CONNECT defaults", t_connect_defaults);
	cu_test(s, "CONNECT ALPN", t_connect_alpn);
	cu_test(s, "CONNECT TLS attributes in plain TCP",
	    t_connect_plain_tls_attrs);
	cu_test(s, "CONNECT and HANDSHAKE: the record layer known",
	    t_connect_record_known);
	cu_test(s, "HELLO features", t_hello_features);
	cu_test(s, "HANDSHAKE", t_handshake);
	cu_test(s, "RESULT", t_result);
	cu_test(s, "TLS_STATE", t_tls_state);
	cu_test(s, "TLS_STATE sizes", t_tls_state_raw);
	cu_test(s, "certificates", t_cert);
	cu_test(s, "CA_END", t_ca_end);
	cu_test(s, "TICKET and the RESULT cookie", t_ticket);
	cu_test(s, "messages do not mix", t_cross);
	cu_test(s, "names", t_strings);
	return cu_finish();
}
