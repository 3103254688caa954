/* SPDX-License-Identifier: ISC */
/*
 * Seed corpus generator for the fuzz targets (see README):
 *
 *   gencorpus OUTDIR     writes OUTDIR/fuzz_{proto,conf,record,handoff}/
 *
 * `make fuzz-corpus` runs it on tests/fuzz/corpus, whose files are
 * committed.  Seeds are valid inputs built with the project's own encoders
 * (proto/msg.c) and key schedule, plus the usual near-misses, so that the
 * fuzzers start past the framing, the attribute rules and the AEAD check.
 * The output is the same at every run (fixed keys, fixed certificate).
 * Files named regress-* are regression inputs from fuzzing, committed by
 * hand; this program never writes or removes them.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "fuzzcert.h"
#include "imsg.h"
#include "msg.h"
#include "record.h"

static const char *outdir;
static unsigned nfiles;

struct buf {
	uint8_t *p;
	size_t len;
};

static void
die(const char *what)
{
	fprintf(stderr, "gencorpus: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
put(struct buf *b, const void *p, size_t n)
{
	if ((b->p = realloc(b->p, b->len + n + 1)) == NULL)
		die("realloc");
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void
put8(struct buf *b, unsigned v)
{
	uint8_t c = (uint8_t)v;

	put(b, &c, 1);
}

static void
put16(struct buf *b, size_t v)
{
	put8(b, (unsigned)(v >> 8));
	put8(b, (unsigned)v);
}

static void
reset(struct buf *b)
{
	b->len = 0;
}

static void
emit(const char *target, const char *name, const struct buf *b)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, target);
	if (mkdir(path, 0777) == -1 && errno != EEXIST)
		die(path);
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	if ((f = fopen(path, "wb")) == NULL)
		die(path);
	if ((b->len > 0 && fwrite(b->p, 1, b->len, f) != b->len) ||
	    fclose(f) != 0)
		die(path);
	nfiles++;
}

/* ---- messages ---- */

static uint8_t cert_der[4096];
static size_t cert_len;

static void
load_cert(void)
{
	BIO *bio = BIO_new_mem_buf(fuzz_cert_pem, -1);
	X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	unsigned char *p = cert_der;
	int n;

	if (x == NULL || (n = i2d_X509(x, NULL)) <= 0 ||
	    (size_t)n > sizeof(cert_der) || i2d_X509(x, &p) != n) {
		fprintf(stderr, "gencorpus: bad test certificate\n");
		exit(1);
	}
	cert_len = (size_t)n;
	X509_free(x);
	BIO_free(bio);
}

/* A daemon's HELLO announces its limits (protocol 2), a client's not. */
static void
hello(struct abuf *a, uint32_t version, int daemon)
{
	struct cp_hello h;

	memset(&h, 0, sizeof(h));
	h.version = version;
	snprintf(h.software, sizeof(h.software), "cpconnectd");
	if (daemon) {
		h.lim.known = 1;
		h.lim.request_ms = 30000;
		h.lim.handshake_ms = 10000;
		h.lim.retry_delay_ms = 250;
	}
	cp_hello_encode(a, &h);
}

static void
connect_req(struct abuf *a, int tls)
{
	struct cp_connect c;

	memset(&c, 0, sizeof(c));
	snprintf(c.host, sizeof(c.host), "fuzz.example");
	c.port = 443;
	c.verify = CP_VERIFY_PEER;
	c.retries = 3;
	c.retry_delay_ms = 250;
	c.connect_timeout_ms = 5000;
	c.timeout_ms = 30000;
	if (tls) {
		c.tls = 1;
		snprintf(c.sni, sizeof(c.sni), "www.fuzz.example");
		memcpy(c.alpn, "\x02h2\x08http/1.1", 12);
		c.alpnlen = 12;
		c.has_ca_hash = 1;
		memset(c.ca_hash, 0xab, CP_HASH_LEN);
		c.family = CP_FAMILY_INET6;
		c.record = CP_RECORD_USER;
	}
	cp_connect_encode(a, &c);
}

/* The TLS half of a CONNECT, for a socket the program connected. */
static void
handshake_req(struct abuf *a)
{
	struct cp_connect c;

	memset(&c, 0, sizeof(c));
	snprintf(c.host, sizeof(c.host), "mail.fuzz.example");
	c.port = 25;
	c.tls = 1;
	c.verify = CP_VERIFY_PEER;
	c.timeout_ms = 10000;
	snprintf(c.sni, sizeof(c.sni), "smtp.fuzz.example");
	c.record = CP_RECORD_KERNEL;
	cp_handshake_encode(a, &c);
}

static void
result(struct abuf *a, int status, int eclass, uint32_t verify)
{
	struct cp_result r;

	memset(&r, 0, sizeof(r));
	r.status = (uint8_t)status;
	r.eclass = (uint8_t)eclass;
	r.verify_result = verify;
	if (status == CP_STATUS_OK) {
		r.tls_version = 0x0304;
		snprintf(r.cipher, sizeof(r.cipher), "TLS_AES_128_GCM_SHA256");
		snprintf(r.alpn, sizeof(r.alpn), "h2");
		snprintf(r.peer_addr, sizeof(r.peer_addr), "2001:db8::1");
		r.peer_port = 443;
		r.attempts = 1;
		r.elapsed_ms = 12;
	} else if (status == CP_STATUS_ERROR) {
		r.err = EACCES;
		snprintf(r.errtext, sizeof(r.errtext),
		    "denied by rule at /etc/cpconnect/cpconnectd.conf:7");
	}
	cp_result_encode(a, &r);
}

/* The suites the daemon hands off, as fuzz_record numbers them. */
static const struct {
	uint16_t id, version;
	size_t keylen, hashlen;
	const char *md;
	int gcm12;
} suites[6] = {
    {0x1301, 0x0304, 16, 32, "SHA256", 0},
    {0x1302, 0x0304, 32, 48, "SHA384", 0},
    {0x1303, 0x0304, 32, 32, "SHA256", 0},
    {0xC02B, 0x0303, 16, 0, NULL, 1},
    {0xC02C, 0x0303, 32, 0, NULL, 1},
    {0xCCA9, 0x0303, 32, 0, NULL, 0},
};

static void
tls_dir(int s, struct cp_tls_dir *d, uint8_t fill)
{
	memset(d, 0, sizeof(*d));
	d->keylen = suites[s].keylen;
	if (suites[s].version == 0x0304) {
		d->secretlen = suites[s].hashlen;
		memset(d->secret, fill, d->secretlen);
		if (tls_rec_expand_label(suites[s].md, d->secret, d->secretlen,
		        "key", NULL, 0, d->key, d->keylen) == -1 ||
		    tls_rec_expand_label(suites[s].md, d->secret, d->secretlen,
		        "iv", NULL, 0, d->iv, CP_IV_LEN) == -1) {
			fprintf(stderr, "gencorpus: HKDF failed\n");
			exit(1);
		}
		return;
	}
	memset(d->key, fill, d->keylen);
	memset(d->iv, fill ^ 0x5a, suites[s].gcm12 ? 4 : CP_IV_LEN);
	d->seq = 1;
}

static void
tls_state(struct abuf *a, int s)
{
	struct cp_tls_state st;

	memset(&st, 0, sizeof(st));
	st.version = suites[s].version;
	st.cipher = suites[s].id;
	tls_dir(s, &st.tx, 0x11);
	tls_dir(s, &st.rx, 0x22);
	cp_tls_state_encode(a, &st);
	cp_tls_state_wipe(&st);
}

/* A frame as imsg writes it. */
static void
frame(
    struct buf *b, uint32_t type, uint32_t peerid, int fd, const struct abuf *a)
{
	struct imsg_hdr h;

	h.type = type;
	h.len = (uint32_t)(IMSG_HDR_SIZE + a->len) | (fd ? IMSG_FD_MARK : 0);
	h.peerid = peerid;
	h.pid = 4242;
	put(b, &h, sizeof(h));
	put(b, a->buf, a->len);
}

/* ---- fuzz_proto ---- */

enum {
	M_HELLO,
	M_HELLO_DAEMON,
	M_CONNECT,
	M_CONNECT_TLS,
	M_RESULT_OK,
	M_RESULT_ERR,
	M_RESULT_NEEDCA,
	M_STATE12,
	M_STATE13,
	M_CERT,
	M_CAEND,
	M_HANDSHAKE,
	M_N
};

static const struct {
	const char *name;
	uint32_t type;
} msgs[M_N] = {
    {"hello", CP_MSG_HELLO},
    {"hello-daemon", CP_MSG_HELLO},
    {"connect", CP_MSG_CONNECT},
    {"connect-tls", CP_MSG_CONNECT},
    {"result-ok", CP_MSG_RESULT},
    {"result-error", CP_MSG_RESULT},
    {"result-needca", CP_MSG_RESULT},
    {"tls-state-12", CP_MSG_TLS_STATE},
    {"tls-state-13", CP_MSG_TLS_STATE},
    {"cert", CP_MSG_PEER_CERT},
    {"ca-end", CP_MSG_CA_END},
    {"handshake", CP_MSG_HANDSHAKE},
};

static void
payload(struct abuf *a, int m)
{
	unsigned char hash[CP_HASH_LEN];

	abuf_init(a);
	switch (m) {
	case M_HELLO:
		hello(a, CP_PROTO_VERSION, 0);
		break;
	case M_HELLO_DAEMON:
		hello(a, CP_PROTO_VERSION, 1);
		break;
	case M_CONNECT:
		connect_req(a, 0);
		break;
	case M_CONNECT_TLS:
		connect_req(a, 1);
		break;
	case M_RESULT_OK:
		result(a, CP_STATUS_OK, CP_E_NONE, 0);
		break;
	case M_RESULT_ERR:
		result(a, CP_STATUS_ERROR, CP_E_DENIED, 0);
		break;
	case M_RESULT_NEEDCA:
		result(a, CP_STATUS_NEED_CA, CP_E_NONE, 0);
		break;
	case M_STATE12:
		tls_state(a, 3);
		break;
	case M_STATE13:
		tls_state(a, 1);
		break;
	case M_CERT:
		cp_cert_encode(a, cert_der, cert_len);
		break;
	case M_CAEND:
		memset(hash, 0xab, sizeof(hash));
		cp_ca_end_encode(a, hash);
		break;
	case M_HANDSHAKE:
		handshake_req(a);
		break;
	}
}

static void
gen_proto(void)
{
	/* raw mode byte: chunk size index << 4 | flags (see fuzz_proto.c) */
	static const uint8_t modes[] = {0xf0, 0x00, 0x71, 0xd8, 0xc2};
	struct buf b = {NULL, 0};
	struct abuf a;
	char name[64];
	size_t i;
	int m;

	for (m = 0; m < M_N; m++) {
		payload(&a, m);
		/* the bare payload: every decoder sees it directly too */
		reset(&b);
		put8(&b, modes[0]);
		frame(&b, msgs[m].type, 1, 0, &a);
		snprintf(name, sizeof(name), "%s", msgs[m].name);
		emit("fuzz_proto", name, &b);
		/* composed: one record (type, length / 16 or length) */
		reset(&b);
		put8(&b, 0x04);
		put8(&b, msgs[m].type | (a.len > 255 ? 32 : 0));
		put8(&b, (unsigned)(a.len > 255 ? (a.len + 15) / 16 : a.len));
		put(&b, a.buf, a.len);
		snprintf(name, sizeof(name), "compose-%s", msgs[m].name);
		emit("fuzz_proto", name, &b);
		abuf_free(&a);
	}
	/* A client's session, then a daemon's reply, in each raw mode. */
	for (i = 0; i < sizeof(modes); i++) {
		static const int client[] = {
		    M_HELLO, M_CONNECT_TLS, M_CERT, M_CAEND, M_CONNECT_TLS};
		static const int daemon[] = {
		    M_HELLO_DAEMON, M_CERT, M_STATE13, M_RESULT_OK};
		size_t j;

		reset(&b);
		put8(&b, modes[i]);
		for (j = 0; j < sizeof(client) / sizeof(client[0]); j++) {
			payload(&a, client[j]);
			frame(&b, msgs[client[j]].type, j ? 7 : 0, 0, &a);
			abuf_free(&a);
		}
		snprintf(name, sizeof(name), "session-client-%02x", modes[i]);
		emit("fuzz_proto", name, &b);
		reset(&b);
		put8(&b, modes[i]);
		for (j = 0; j < sizeof(daemon) / sizeof(daemon[0]); j++) {
			payload(&a, daemon[j]);
			frame(&b, msgs[daemon[j]].type, 7,
			    daemon[j] == M_RESULT_OK && (modes[i] & 1), &a);
			abuf_free(&a);
		}
		snprintf(name, sizeof(name), "session-daemon-%02x", modes[i]);
		emit("fuzz_proto", name, &b);
	}
	/* Composed frames with descriptors, and the engine's refusal. */
	for (i = 0; i < 2; i++) {
		reset(&b);
		put8(&b, i ? 0x0c : 0x04);
		put8(&b, CP_MSG_HELLO);
		put8(&b, 0);
		put8(&b, CP_MSG_RESULT | 16 | 64);
		put8(&b, 3);
		put(&b, "\x3c\x00\x01", 3);
		put8(&b, CP_MSG_RESULT | 16);
		put8(&b, 0);
		snprintf(
		    name, sizeof(name), "compose-fds%s", i ? "-refused" : "");
		emit("fuzz_proto", name, &b);
	}
	/* An unknown optional attribute (ATTR_OPTIONAL) is skipped. */
	payload(&a, M_CERT);
	abuf_bytes(&a, ATTR_OPTIONAL | 77, "later", 5);
	reset(&b);
	put8(&b, modes[0]);
	frame(&b, CP_MSG_PEER_CERT, 1, 0, &a);
	emit("fuzz_proto", "cert-optional-attribute", &b);
	abuf_free(&a);
	/* Near misses: a header claiming more than maxmsg, a bad length,
	 * the descriptor mark without a descriptor. */
	reset(&b);
	put8(&b, 0x32);
	put(&b,
	    "\x01\x00\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00\x00"
	    "\x00\x00",
	    16);
	emit("fuzz_proto", "oversized", &b);
	reset(&b);
	put8(&b, 0xf0);
	put(&b,
	    "\x01\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00"
	    "\x00\x00",
	    16);
	emit("fuzz_proto", "short-length", &b);
	reset(&b);
	put8(&b, 0xf0);
	put(&b,
	    "\x07\x00\x00\x00\x10\x00\x00\x80\x00\x00\x00\x00\x00\x00"
	    "\x00\x00",
	    16);
	emit("fuzz_proto", "mark-without-fd", &b);
	free(b.p);
}

/* ---- fuzz_conf ---- */

static const char *const conf_seeds[][2] = {
    {"empty", ""},
    {"rules", "allow from user root to 127.0.0.1/8 port 8000:9000 tcp\n"
              "deny from group root to \"*.example.com\" port 443 tls\n"
              "allow from uid 1000 to 10.1.2.3 port 80,443, 8080\n"
              "allow from gid 100 to fd00::/8 port any tcp tls\n"
              "deny to \"Blocked.Example.COM.\"\nallow\n"},
    {"destination", "destination \"api.example.com\" port 443 {\n"
                    "\tpin sha256 \"ypeBEsobvcr6wjGzmiPcTaeG7/gUfE5yuYB3ha/"
                    "uSLs=\"\n"
                    "\tclient-certificate \"/etc/c.crt\" key \"/etc/c.key\"\n"
                    "\tverify required\n\tclient-ca forbidden\n"
                    "\talpn \"h2\" \"http/1.1\"\n\tmin-tls 1.3\n"
                    "\tcn-fallback no\n}\n"
                    "destination 192.0.2.0/24 {\n\talpn any\n"
                    "\tclient-certificate none\n}\n"},
    {"globals", "socket \"/run/cpconnect/x.sock\"\nsocket-mode 0660\n"
                "socket-group 0\nengines 4\nuser root\n"
                "ca-file /etc/ssl/certs/ca-certificates.crt\n"
                "ca-path /etc/ssl/certs\nconnect-timeout 5s\n"
                "handshake-timeout 2500ms\nrequest-timeout 1m\nretry-max 5\n"
                "retry-delay 0\nmax-requests-per-user 10\nmax-requests 200\n"
                "session-idle-timeout 1h\nmax-sessions 300\n"
                "max-sessions-per-user 8\n"},
    {"tls-global", "verify optional\nclient-ca allowed\nmin-tls 1.2\n"
                   "alpn any\npin sha256 "
                   "\"PiPoFgA5WUoziU9lZOGxNIu9egCI1CxKy3PurtWcAJ0=\"\n"
                   "client-certificate \"/a\" key \"/b\"\n"
                   "cn-fallback yes\n"},
    {"strings", "socket \"/run/a \\\"b\\\" \\\\c\"  # comment\r\n"
                "allow to \"x.example\" # \"not a string\n"},
    {"bad-unterminated", "socket \"/run/x\n"},
    {"bad-escape", "socket \"/run/\\x\"\n"},
    {"bad-block", "destination \"a.example\" {\n\tengines 2\n}\n"},
    {"bad-open-block", "allow\ndestination any {\nverify required\n"},
    {"bad-duplicate", "engines 1\nengines 2\n"},
    {"bad-port", "allow port 0\nallow port 9:8\n"},
    {"bad-cidr", "allow to 10.0.0.0/33\n"},
    {"bad-pin",
        "pin sha256 \"ypeBEsobvcr6wjGzmiPcTaeG7/gUfE5yuYB3ha/uSLt=\"\n"},
    {"bad-nul", "allow\n\0deny\n"},
    {"bad-ctrl", "allow \x01\n"},
    {"bad-brace", "allow {\n"},
    {"bad-close", "}\n"},
    {"bad-user", "user no-such-user-here\n"},
    {"bad-words", "alpn a b c d e f g h i j k l m n o p q r s t u v w x y z "
                  "a b c d e f g h i j k l m n o p q r s t u v w x y z a b c "
                  "d e f g h i j k l m n\n"},
    {"crlf-lines", "allow\r\ndeny from any to any\r\n"},
    {"no-newline", "deny"},
};

static void
gen_conf(void)
{
	struct buf b = {NULL, 0};
	size_t i, n;

	for (i = 0; i < sizeof(conf_seeds) / sizeof(conf_seeds[0]); i++) {
		reset(&b);
		/* "bad-nul" has a NUL inside: its length is known */
		n = strcmp(conf_seeds[i][0], "bad-nul") == 0
		        ? 12
		        : strlen(conf_seeds[i][1]);
		put(&b, conf_seeds[i][1], n);
		emit("fuzz_conf", conf_seeds[i][0], &b);
	}
	free(b.p);
}

/* ---- fuzz_record: operations, see run_op in fuzz_record.c ---- */

static void
op_rec(struct buf *b, unsigned type, const void *p, size_t n)
{
	put8(b, 1);
	put8(b, type);
	put16(b, n);
	put(b, p, n);
}

static void
op_data(struct buf *b, unsigned op, const void *p, size_t n)
{
	put8(b, op);
	put16(b, n);
	put(b, p, n);
}

/* NewSessionTicket: lifetime, age_add, nonce, ticket, one extension. */
static void
nst(struct buf *m)
{
	static const uint8_t body[] = {0, 0, 0x1c, 0x20, 1, 2, 3, 4, 4, 'n',
	    'o', 'n', 'c', 0, 8, 't', 'i', 'c', 'k', 'e', 't', '!', '!', 0, 8,
	    0, 0x2a, 0, 4, 0, 0, 0x40, 0};

	put8(m, 4);
	put8(m, 0);
	put16(m, sizeof(body));
	put(m, body, sizeof(body));
}

static void
gen_record(void)
{
	static const uint8_t ku_req[] = {24, 0, 0, 1, 1};
	static const uint8_t ku[] = {24, 0, 0, 1, 0};
	static const uint8_t hr[] = {0, 0, 0, 0};
	struct buf b = {NULL, 0}, m = {NULL, 0};
	uint8_t *big;
	char name[64];
	int s, i;

	if ((big = calloc(1, TLS_REC_MAX_PLAIN + 1)) == NULL)
		die("calloc");
	nst(&m);
	for (s = 0; s < 6; s++) {
		int v13 = suites[s].version == 0x0304;

		/* a conversation: data, ticket or HelloRequest, rekeys,
		 * the client's data, close_notify; both descriptor modes */
		for (i = 0; i < 2; i++) {
			reset(&b);
			put8(&b, (unsigned)s | (i ? 0x80 : 0x40));
			op_data(&b, 2, "hello, world", 12);
			if (v13) {
				op_rec(&b, 22, m.p, m.len);
				put8(&b, 3);
				put8(&b, 1);
			} else
				op_rec(&b, 22, hr, sizeof(hr));
			op_data(&b, 2, "after the update", 16);
			op_data(&b, 5, "from the client", 15);
			put8(&b, 6);
			put8(&b, 1);
			op_data(&b, 2, "more", 4);
			put8(&b, 4);
			snprintf(name, sizeof(name), "talk-%04x%s",
			    suites[s].id, i ? "-blocking" : "");
			emit("fuzz_record", name, &b);
		}
		/* content types, alerts and sizes */
		reset(&b);
		put8(&b, (unsigned)s);
		op_rec(&b, 23, "data", 4);
		op_rec(&b, 23, "", 0);
		op_rec(&b, 21, "\x01\x5a", 2); /* user_canceled */
		op_rec(&b, 21, "\x02\x28", 2); /* handshake_failure */
		snprintf(name, sizeof(name), "alerts-%04x", suites[s].id);
		emit("fuzz_record", name, &b);
		/* 32 KB each: one suite of each kind */
		if (s == 0 || s == 3) {
			reset(&b);
			put8(&b, (unsigned)s | 0x60);
			op_rec(&b, 23, big, TLS_REC_MAX_PLAIN);
			op_rec(&b, 23, big, TLS_REC_MAX_PLAIN + 1);
			snprintf(
			    name, sizeof(name), "sizes-%04x", suites[s].id);
			emit("fuzz_record", name, &b);
		}
		/* the end of the sequence numbers */
		reset(&b);
		put8(&b, (unsigned)s | 0x10);
		for (i = 0; i < 4; i++)
			op_data(&b, 2, "x", 1);
		op_data(&b, 5, "y", 1);
		snprintf(name, sizeof(name), "late-%04x", suites[s].id);
		emit("fuzz_record", name, &b);
		/* raw: a header and a record that cannot open */
		reset(&b);
		put8(&b, (unsigned)s | 8);
		put(&b, "\x17\x03\x03\x00\x20", 5);
		put(&b, big, 32);
		snprintf(name, sizeof(name), "raw-%04x", suites[s].id);
		emit("fuzz_record", name, &b);
	}
	/* TLS 1.3 only: padding and the inner type, a fragmented ticket,
	 * KeyUpdate in every position, the rekey limit, empty records. */
	reset(&b);
	put8(&b, 0x02);
	op_rec(&b, 0, "padded\x17\0\0\0\0", 11);
	op_rec(&b, 0, "\0\0\0", 3);
	emit("fuzz_record", "inner-type-13", &b);
	reset(&b);
	put8(&b, 0x21);
	op_rec(&b, 22, m.p, 10);
	op_rec(&b, 22, m.p + 10, m.len - 10);
	op_rec(&b, 22, m.p, 3);
	op_rec(&b, 23, "x", 1);
	emit("fuzz_record", "fragments-13", &b);
	reset(&b);
	put8(&b, 0x00);
	op_rec(&b, 22, ku_req, sizeof(ku_req));
	op_rec(&b, 22, ku, sizeof(ku));
	reset(&m);
	put(&m, ku, sizeof(ku));
	nst(&m);
	op_rec(&b, 22, m.p, m.len);
	emit("fuzz_record", "keyupdate-raw-13", &b);
	reset(&b);
	put8(&b, 0x40);
	put8(&b, 8);
	put8(&b, 2);
	for (i = 0; i < 8; i++)
		op_data(&b, 5, "rekey", 5);
	put8(&b, 7);
	put8(&b, 40);
	emit("fuzz_record", "rekey-limit-13", &b);
	reset(&b);
	put8(&b, 0x22);
	for (i = 0; i < 34; i++)
		op_rec(&b, 23, "", 0);
	emit("fuzz_record", "empty-records-13", &b);
	free(big);
	free(b.p);
	free(m.p);
}

/* ---- fuzz_handoff: records, see daemon_op in fuzz_handoff.c ---- */

static void
ho_frame(struct buf *b, unsigned a, const struct abuf *p)
{
	put8(b, a);
	put16(b, p->len);
	put(b, p->buf, p->len);
}

static void
ho_stream(struct buf *b, const void *p, size_t n)
{
	put8(b, 6);
	put16(b, n);
	put(b, p, n);
}

/* A successful TLS reply: chain, state, result with the socket. */
static void
ho_tls_ok(struct buf *b, int s, uint32_t verify)
{
	struct abuf a;

	abuf_init(&a);
	cp_cert_encode(&a, cert_der, cert_len);
	ho_frame(b, 2, &a);
	abuf_free(&a);
	abuf_init(&a);
	tls_state(&a, s);
	ho_frame(b, 3, &a);
	abuf_free(&a);
	abuf_init(&a);
	result(&a, CP_STATUS_OK, CP_E_NONE, verify);
	ho_frame(b, 4 | 16, &a);
	abuf_free(&a);
}

static void
gen_handoff(void)
{
	struct buf b = {NULL, 0};
	struct abuf a;
	char name[64];
	int s, i;

	for (s = 0; s < 6; s++) {
		reset(&b);
		put8(&b, 0x11);
		ho_tls_ok(&b, s, 0);
		ho_stream(&b, "\x17\x03\x03\x00\x13", 5);
		snprintf(name, sizeof(name), "tls-ok-%04x", suites[s].id);
		emit("fuzz_handoff", name, &b);
	}
	/* SSL_VERIFY_NONE: a verify result for the caller */
	reset(&b);
	put8(&b, 0x03);
	ho_tls_ok(&b, 0, 18);
	emit("fuzz_handoff", "tls-verify-none", &b);
	/* the daemon's HELLO (request id 0), then the reply */
	reset(&b);
	put8(&b, 0x01);
	abuf_init(&a);
	hello(&a, CP_PROTO_VERSION, 1);
	put8(&b, 1 | 8);
	put8(&b, 0);
	put16(&b, a.len);
	put(&b, a.buf, a.len);
	abuf_free(&a);
	ho_tls_ok(&b, 2, 0);
	emit("fuzz_handoff", "hello-then-ok", &b);
	/* a session-level error: RESULT with request id 0 */
	reset(&b);
	put8(&b, 0x01);
	abuf_init(&a);
	result(&a, CP_STATUS_ERROR, CP_E_LIMIT, 0);
	put8(&b, 4 | 8);
	put8(&b, 0);
	put16(&b, a.len);
	put(&b, a.buf, a.len);
	abuf_free(&a);
	emit("fuzz_handoff", "session-error", &b);
	/* NEED_CA, the anchors, then the reply */
	reset(&b);
	put8(&b, 0x05);
	abuf_init(&a);
	result(&a, CP_STATUS_NEED_CA, CP_E_NONE, 0);
	ho_frame(&b, 4, &a);
	abuf_free(&a);
	ho_tls_ok(&b, 1, 0);
	emit("fuzz_handoff", "need-ca", &b);
	/* plain TCP */
	reset(&b);
	put8(&b, 0x00);
	abuf_init(&a);
	result(&a, CP_STATUS_OK, CP_E_NONE, 0);
	ho_frame(&b, 4 | 16, &a);
	abuf_free(&a);
	ho_stream(&b, "HTTP/1.0 200 OK\r\n\r\n", 19);
	emit("fuzz_handoff", "tcp-ok", &b);
	/* errors: denied, version, unexpected, descriptor misplaced */
	reset(&b);
	put8(&b, 0x01);
	abuf_init(&a);
	result(&a, CP_STATUS_ERROR, CP_E_DENIED, 0);
	ho_frame(&b, 4, &a);
	abuf_free(&a);
	emit("fuzz_handoff", "denied", &b);
	reset(&b);
	put8(&b, 0x01);
	abuf_init(&a);
	hello(&a, CP_PROTO_VERSION + 1, 1);
	ho_frame(&b, 1, &a);
	abuf_free(&a);
	emit("fuzz_handoff", "bad-version", &b);
	reset(&b);
	put8(&b, 0x01);
	abuf_init(&a);
	cp_cert_encode(&a, cert_der, cert_len);
	ho_frame(&b, 2 | 16, &a);
	abuf_free(&a);
	emit("fuzz_handoff", "fd-with-cert", &b);
	reset(&b);
	put8(&b, 0x01);
	for (i = 0; i < CP_MAX_CHAIN + 1; i++) {
		abuf_init(&a);
		cp_cert_encode(&a, cert_der, cert_len);
		ho_frame(&b, 2, &a);
		abuf_free(&a);
	}
	emit("fuzz_handoff", "chain-too-long", &b);
	reset(&b);
	put8(&b, 0x11);
	abuf_init(&a);
	tls_state(&a, 0);
	ho_frame(&b, 3, &a);
	abuf_free(&a);
	ho_tls_ok(&b, 0, 0);
	emit("fuzz_handoff", "two-states", &b);
	/* raw mode: the same replies as bytes, request id 1, the socket
	 * with the RESULT's first byte */
	for (s = 0; s < 2; s++) {
		struct buf r = {NULL, 0};
		size_t at = 0;

		reset(&b);
		put8(&b, s ? 0x08 : 0x09);
		abuf_init(&a);
		if (s == 0) {
			cp_cert_encode(&a, cert_der, cert_len);
			frame(&r, CP_MSG_PEER_CERT, 1, 0, &a);
			abuf_free(&a);
			abuf_init(&a);
			tls_state(&a, 3);
			frame(&r, CP_MSG_TLS_STATE, 1, 0, &a);
			abuf_free(&a);
			abuf_init(&a);
			at = r.len;
		}
		result(&a, CP_STATUS_OK, CP_E_NONE, 0);
		frame(&r, CP_MSG_RESULT, 1, 1, &a);
		abuf_free(&a);
		put16(&b, at);
		put(&b, r.p, r.len);
		snprintf(name, sizeof(name), "raw-%s", s ? "tcp-ok" : "tls-ok");
		emit("fuzz_handoff", name, &b);
		/* no socket at all */
		b.p[1] = b.p[2] = 0xff;
		snprintf(name, sizeof(name), "raw-%s-nofd", s ? "tcp" : "tls");
		emit("fuzz_handoff", name, &b);
		free(r.p);
	}
	free(b.p);
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gencorpus outdir\n");
		return 2;
	}
	outdir = argv[1];
	if (mkdir(outdir, 0777) == -1 && errno != EEXIST)
		die(outdir);
	load_cert();
	gen_proto();
	gen_conf();
	gen_record();
	gen_handoff();
	printf("gencorpus: %u files in %s\n", nfiles, outdir);
	return 0;
}
