/* SPDX-License-Identifier: ISC */
/*
 * In-process proof of the TLS hand-off: an OpenSSL server thread on a
 * loopback socket, an OpenSSL client that does only the handshake, then
 * tls_export(), SSL_free() without SSL_shutdown(), and the user-space
 * record layer continues the connection, for TLS 1.2 and 1.3 and every
 * AEAD suite.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "cutest.h"
#include "msg.h"
#include "record.h"
#include "tlsexport.h"

#define BULK (8u << 20)
#define IO_TIMEOUT 30 /* seconds; a hang becomes a failure */

struct cfg {
	const char *name;
	int version;
	const char *ciphers;
	uint16_t id;
};

static const struct cfg cfgs[] = {
    {"1.3 AES-128-GCM", TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", 0x1301},
    {"1.3 AES-256-GCM", TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384", 0x1302},
    {"1.3 ChaCha20", TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256", 0x1303},
    {"1.2 AES-128-GCM", TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256",
        0xC02B},
    {"1.2 AES-256-GCM", TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384",
        0xC02C},
    {"1.2 ChaCha20", TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305", 0xCCA9},
};
#define NCFGS (sizeof(cfgs) / sizeof(cfgs[0]))

struct conn;
typedef void (*server_fn)(struct conn *);

struct conn {
	const struct cfg *cfg;
	server_fn srv;
	int lfd, cfd, sfd;
	SSL_CTX *sctx;
	SSL *s;
	pthread_t thr;
	struct tls_rec *rec;
	int sfail; /* failed server-side checks */
	char swhy[256];
	/* Scenario data. */
	unsigned char digest[32];
	size_t total;
	int count;
};

static EVP_PKEY *pkey;
static X509 *cert;

/* ---- helpers ---- */

#define SCHECK(c, cond)                                                        \
	do {                                                                   \
		if (!(cond))                                                   \
			sfail(c, __LINE__, #cond);                             \
	} while (0)

static void
sfail(struct conn *c, int line, const char *what)
{
	if (c->sfail++ == 0)
		snprintf(
		    c->swhy, sizeof(c->swhy), "server line %d: %s", line, what);
}

static void
pattern(unsigned char *p, size_t n, size_t pos, unsigned salt)
{
	size_t i, x;

	for (i = 0; i < n; i++) {
		x = pos + i;
		p[i] = (unsigned char)(x * 131 + (x >> 8) * 7 + salt);
	}
}

static void
timeouts(int fd)
{
	struct timeval tv = {IO_TIMEOUT, 0};
	int one = 1;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int
s_read_exact(SSL *s, void *p, size_t n)
{
	size_t off = 0, want;
	int r;

	while (off < n) {
		want = n - off > (1u << 20) ? 1u << 20 : n - off;
		if ((r = SSL_read(s, (char *)p + off, (int)want)) <= 0)
			return -1;
		off += (size_t)r;
	}
	return 0;
}

static int
s_write(SSL *s, const void *p, size_t n)
{
	size_t off = 0, want;

	while (off < n) {
		want = n - off > (1u << 20) ? 1u << 20 : n - off;
		if (SSL_write(s, (const char *)p + off, (int)want) != (int)want)
			return -1;
		off += want;
	}
	return 0;
}

/* Client side: exactly n bytes through the record layer. */
static int
c_read_exact(struct tls_rec *r, void *p, size_t n)
{
	size_t off = 0;
	ssize_t got;

	while (off < n) {
		if ((got = tls_rec_read(r, (char *)p + off, n - off)) <= 0)
			return -1;
		off += (size_t)got;
	}
	return 0;
}

static int
make_cert(void)
{
	X509_NAME *name;

	if ((pkey = EVP_EC_gen("P-256")) == NULL || (cert = X509_new()) == NULL)
		return -1;
	name = X509_get_subject_name(cert);
	if (!X509_set_version(cert, 2) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(cert), 1) ||
	    X509_gmtime_adj(X509_getm_notBefore(cert), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(cert), 86400) == NULL ||
	    !X509_set_pubkey(cert, pkey) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	        (const unsigned char *)"localhost", -1, -1, 0) ||
	    !X509_set_issuer_name(cert, name) ||
	    X509_sign(cert, pkey, EVP_sha256()) == 0)
		return -1;
	return 0;
}

static int
suite_init(void)
{
	return make_cert();
}

static int
suite_clean(void)
{
	X509_free(cert);
	EVP_PKEY_free(pkey);
	return 0;
}

static int
ctx_limit(SSL_CTX *ctx, const struct cfg *cfg)
{
	if (!SSL_CTX_set_min_proto_version(ctx, cfg->version) ||
	    !SSL_CTX_set_max_proto_version(ctx, cfg->version))
		return -1;
	if (cfg->version == TLS1_3_VERSION)
		return SSL_CTX_set_ciphersuites(ctx, cfg->ciphers) ? 0 : -1;
	return SSL_CTX_set_cipher_list(ctx, cfg->ciphers) ? 0 : -1;
}

static int
listen_lo(int *port)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 4) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) == -1) {
		close(fd);
		return -1;
	}
	*port = ntohs(sin.sin_port);
	return fd;
}

static int
connect_lo(int port)
{
	struct sockaddr_in sin;
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		return -1;
	}
	timeouts(fd);
	return fd;
}

static void *
server_main(void *arg)
{
	struct conn *c = arg;

	if ((c->sfd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
		sfail(c, __LINE__, "accept");
		return NULL;
	}
	timeouts(c->sfd);
	if ((c->s = SSL_new(c->sctx)) == NULL || !SSL_set_fd(c->s, c->sfd) ||
	    SSL_accept(c->s) != 1)
		sfail(c, __LINE__, "SSL_accept");
	else if (c->srv != NULL)
		c->srv(c);
	/* Never SSL_shutdown here: scenarios decide what the peer sees. */
	SSL_free(c->s);
	close(c->sfd);
	ERR_clear_error();
	return NULL;
}

/* Server side up; the TLS handshake happens in the server thread. */
static int
server_start(struct conn *c, const struct cfg *cfg, server_fn srv, int *port)
{
	memset(c, 0, sizeof(*c));
	c->cfg = cfg;
	c->srv = srv;
	c->cfd = c->sfd = -1;
	if ((c->lfd = listen_lo(port)) == -1 ||
	    (c->sctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    ctx_limit(c->sctx, cfg) == -1 ||
	    SSL_CTX_use_certificate(c->sctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey(c->sctx, pkey) != 1 ||
	    pthread_create(&c->thr, NULL, server_main, c) != 0)
		return -1;
	return 0;
}

/* A client handshake; *sslp is ready for tls_export(). */
static int
client_handshake(struct conn *c, int port, int keylog, SSL **sslp)
{
	SSL_CTX *ctx;
	SSL *ssl = NULL;
	int rv = -1;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return -1;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (ctx_limit(ctx, c->cfg) == 0 &&
	    (!keylog || tls_export_ctx_init(ctx) == 0) &&
	    (c->cfd = connect_lo(port)) != -1 && (ssl = SSL_new(ctx)) != NULL &&
	    (!keylog || tls_export_attach(ssl) == 0) &&
	    SSL_set_fd(ssl, c->cfd) == 1 && SSL_connect(ssl) == 1)
		rv = 0;
	SSL_CTX_free(ctx); /* the SSL keeps its own reference */
	if (rv == -1) {
		ERR_print_errors_fp(stderr);
		SSL_free(ssl);
		ssl = NULL;
	}
	*sslp = ssl;
	return rv;
}

static int
is_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n > 0)
		if (b[--n] != 0)
			return 0;
	return 1;
}

/* The whole hand-off; c->rec continues the connection. */
static int
hand_off(struct conn *c, const struct cfg *cfg, server_fn srv)
{
	struct cp_tls_state st;
	char err[256] = "";
	SSL *ssl;
	int port;

	CU_ASSERT_FATAL(server_start(c, cfg, srv, &port) == 0);
	CU_ASSERT_FATAL(client_handshake(c, port, 1, &ssl) == 0);
	if (tls_export(ssl, &st, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: tls_export: %s\n", cfg->name, err);
		CU_FAIL("tls_export");
		SSL_free(ssl);
		return -1;
	}
	CU_ASSERT(st.cipher == cfg->id);
	CU_ASSERT(st.version == cfg->version);
	/* The keylog callback (OpenSSL formats every secret while one is
	 * set) is off again once the secrets are out. */
	CU_ASSERT(SSL_CTX_get_keylog_callback(SSL_get_SSL_CTX(ssl)) == NULL);
	CU_ASSERT(st.tx.seq == (cfg->version == TLS1_3_VERSION ? 0 : 1));
	CU_ASSERT(st.rx.seq == st.tx.seq);
	CU_ASSERT((st.tx.secretlen != 0) == (cfg->version == TLS1_3_VERSION));
	/* Exported once: the captured secrets are gone. */
	if (cfg->version == TLS1_3_VERSION) {
		struct cp_tls_state again;

		CU_ASSERT(tls_export(ssl, &again, err, sizeof(err)) == -1);
		CU_ASSERT(strstr(err, "not captured") != NULL);
		CU_ASSERT(is_zero(&again, sizeof(again)));
	}
	SSL_free(ssl); /* no SSL_shutdown: the connection lives on */
	c->rec = tls_rec_new(c->cfd, &st, err, sizeof(err));
	cp_tls_state_wipe(&st);
	if (c->rec == NULL)
		fprintf(stderr, "%s: tls_rec_new: %s\n", cfg->name, err);
	CU_ASSERT_FATAL(c->rec != NULL);
	return 0;
}

static void
finish(struct conn *c)
{
	pthread_join(c->thr, NULL);
	if (c->sfail)
		fprintf(stderr, "%s: %s\n", c->cfg->name, c->swhy);
	CU_ASSERT(c->sfail == 0);
	tls_rec_free(c->rec);
	if (c->cfd != -1)
		close(c->cfd);
	close(c->lfd);
	SSL_CTX_free(c->sctx);
}

static int
is13(const struct conn *c)
{
	return c->cfg->version == TLS1_3_VERSION;
}

/* ---- echo ---- */

static void
srv_echo(struct conn *c)
{
	char buf[64];
	int n;

	n = SSL_read(c->s, buf, sizeof(buf));
	SCHECK(c, n == 13 && memcmp(buf, "hello handoff", 13) == 0);
	SCHECK(c, n > 0 && SSL_write(c->s, buf, n) == n);
}

static void
test_echo(void)
{
	char buf[64];
	struct conn c;
	size_t i;

	for (i = 0; i < NCFGS; i++) {
		if (hand_off(&c, &cfgs[i], srv_echo) == -1) {
			finish(&c);
			continue;
		}
		CU_ASSERT(tls_rec_write(c.rec, "hello handoff", 13) == 13);
		CU_ASSERT(c_read_exact(c.rec, buf, 13) == 0);
		CU_ASSERT(memcmp(buf, "hello handoff", 13) == 0);
		finish(&c);
	}
}

/* ---- 8 MiB each way ---- */

static void
srv_bulk(struct conn *c)
{
	unsigned char *buf = malloc(1 << 16);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t off;
	int n;

	SCHECK(c, buf != NULL && md != NULL);
	if (buf == NULL || md == NULL)
		goto out;
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	for (off = 0; off < BULK; off += (size_t)n) {
		if ((n = SSL_read(c->s, buf, 1 << 16)) <= 0)
			break;
		EVP_DigestUpdate(md, buf, (size_t)n);
	}
	SCHECK(c, off == BULK);
	EVP_DigestFinal_ex(md, c->digest, NULL);
	for (off = 0; off < BULK; off += 1 << 16) {
		pattern(buf, 1 << 16, off, 3);
		if (s_write(c->s, buf, 1 << 16) == -1)
			break;
	}
	SCHECK(c, off == BULK);
out:
	EVP_MD_CTX_free(md);
	free(buf);
}

static void
test_bulk(void)
{
	unsigned char *buf = malloc(300000), *want = malloc(300000);
	unsigned char d1[32], d2[32];
	EVP_MD_CTX *mc = EVP_MD_CTX_new(), *mr = EVP_MD_CTX_new();
	size_t off, n, k;
	ssize_t got;
	struct conn c;
	int ok;

	CU_ASSERT_FATAL(buf != NULL && want != NULL && mc && mr);
	for (k = 0; k < NCFGS; k++) {
		if (hand_off(&c, &cfgs[k], srv_bulk) == -1) {
			finish(&c);
			continue;
		}
		EVP_DigestInit_ex(mc, EVP_sha256(), NULL);
		EVP_DigestInit_ex(mr, EVP_sha256(), NULL);
		/* Odd-sized writes so records do not line up with them. */
		for (off = 0, ok = 1; off < BULK && ok; off += n) {
			n = BULK - off < 300000 ? BULK - off : 300000;
			pattern(buf, n, off, 1);
			EVP_DigestUpdate(mc, buf, n);
			ok = tls_rec_write(c.rec, buf, n) == (ssize_t)n;
		}
		CU_ASSERT(ok);
		for (off = 0, ok = 1; off < BULK && ok; off += (size_t)got) {
			n = BULK - off < 100000 ? BULK - off : 100000;
			if ((got = tls_rec_read(c.rec, buf, n)) <= 0)
				break;
			pattern(want, (size_t)got, off, 3);
			ok = memcmp(buf, want, (size_t)got) == 0;
			EVP_DigestUpdate(mr, buf, (size_t)got);
		}
		CU_ASSERT(ok && off == BULK);
		EVP_DigestFinal_ex(mc, d1, NULL);
		EVP_DigestFinal_ex(mr, d2, NULL);
		finish(&c);
		/* What the server hashed is what we sent. */
		CU_ASSERT(memcmp(c.digest, d1, 32) == 0);
	}
	EVP_MD_CTX_free(mc);
	EVP_MD_CTX_free(mr);
	free(buf);
	free(want);
}

/* ---- record sizes ---- */

static const size_t fixed_sizes[] = {1, 2, 3, 15, 16, 17, 31, 32, 33, 255, 256,
    257, 1000, 1023, 1024, 1025, 4095, 4096, 4097, 8191, 8192, 8193, 12345,
    16127, 16383, 16384};
#define NFIXED (sizeof(fixed_sizes) / sizeof(fixed_sizes[0]))
#define NSAMPLES 24

static size_t sizes[NFIXED + NSAMPLES];

static void
make_sizes(void)
{
	unsigned seed = 12345;
	size_t i;

	memcpy(sizes, fixed_sizes, sizeof(fixed_sizes));
	for (i = 0; i < NSAMPLES; i++) {
		seed = seed * 1103515245u + 12345u;
		sizes[NFIXED + i] = 1 + (seed >> 8) % 16384;
	}
}

static void
srv_sizes(struct conn *c)
{
	unsigned char buf[16384], want[16384];
	size_t i;

	for (i = 0; i < NFIXED + NSAMPLES; i++) {
		if (s_read_exact(c->s, buf, sizes[i]) == -1) {
			sfail(c, __LINE__, "read");
			return;
		}
		pattern(want, sizes[i], i, 5);
		SCHECK(c, memcmp(buf, want, sizes[i]) == 0);
		pattern(buf, sizes[i], i, 9);
		/* One SSL_write of <= 16384 bytes is one record. */
		SCHECK(c, SSL_write(c->s, buf, (int)sizes[i]) == (int)sizes[i]);
	}
}

static void
test_sizes(void)
{
	unsigned char buf[16384], want[16384];
	struct tls_rec_stats st;
	struct conn c;
	size_t i, k;
	int ok;

	make_sizes();
	for (k = 0; k < NCFGS; k++) {
		if (hand_off(&c, &cfgs[k], srv_sizes) == -1) {
			finish(&c);
			continue;
		}
		for (i = 0, ok = 1; i < NFIXED + NSAMPLES && ok; i++) {
			pattern(buf, sizes[i], i, 5);
			ok = tls_rec_write(c.rec, buf, sizes[i]) ==
			     (ssize_t)sizes[i];
			ok = ok && c_read_exact(c.rec, buf, sizes[i]) == 0;
			pattern(want, sizes[i], i, 9);
			ok = ok && memcmp(buf, want, sizes[i]) == 0;
		}
		CU_ASSERT(ok);
		tls_rec_stats(c.rec, &st);
		CU_ASSERT(st.records_out == NFIXED + NSAMPLES);
		finish(&c);
	}
}

/* ---- KeyUpdate (1.3) and HelloRequest (1.2) ---- */

static void
srv_key_update(struct conn *c)
{
	unsigned char buf[100000], want[100000];

	SCHECK(c, SSL_key_update(c->s, SSL_KEY_UPDATE_NOT_REQUESTED) == 1);
	SCHECK(c, SSL_write(c->s, "ku1", 3) == 3);
	SCHECK(
	    c, s_read_exact(c->s, buf, 4) == 0 && memcmp(buf, "ack1", 4) == 0);
	SCHECK(c, SSL_key_update(c->s, SSL_KEY_UPDATE_REQUESTED) == 1);
	SCHECK(c, SSL_write(c->s, "ku2", 3) == 3);
	/* Readable only if the client switched keys with its answer. */
	SCHECK(
	    c, s_read_exact(c->s, buf, 4) == 0 && memcmp(buf, "ack2", 4) == 0);
	SCHECK(c, s_read_exact(c->s, buf, sizeof(buf)) == 0);
	pattern(want, sizeof(want), 0, 11);
	SCHECK(c, memcmp(buf, want, sizeof(want)) == 0);
	pattern(buf, sizeof(buf), 0, 12);
	SCHECK(c, s_write(c->s, buf, sizeof(buf)) == 0);
}

static void
srv_hello_request(struct conn *c)
{
	unsigned long e;
	char buf[16];
	int n;

	SCHECK(c, SSL_renegotiate(c->s) == 1);
	SCHECK(c, SSL_do_handshake(c->s) == 1); /* sends HelloRequest */
	SCHECK(c, SSL_write(c->s, "after", 5) == 5);
	/* The client answers no_renegotiation, which OpenSSL, having asked,
	 * turns into a handshake_failure alert. */
	n = SSL_read(c->s, buf, sizeof(buf));
	SCHECK(c, n <= 0 && SSL_get_error(c->s, n) == SSL_ERROR_SSL);
	e = ERR_peek_error();
	SCHECK(c, ERR_GET_REASON(e) == SSL_R_NO_RENEGOTIATION);
	c->count = ERR_GET_REASON(e);
}

static void
test_key_update(void)
{
	unsigned char buf[100000], want[100000];
	struct tls_rec_stats st;
	struct conn c;
	size_t k;

	for (k = 0; k < NCFGS; k++) {
		if (hand_off(&c, &cfgs[k],
		        cfgs[k].version == TLS1_3_VERSION
		            ? srv_key_update
		            : srv_hello_request) == -1) {
			finish(&c);
			continue;
		}
		if (!is13(&c)) {
			CU_ASSERT(c_read_exact(c.rec, buf, 5) == 0 &&
			          memcmp(buf, "after", 5) == 0);
			CU_ASSERT(tls_rec_read(c.rec, buf, 5) == -1 &&
			          errno == ECONNRESET);
			CU_ASSERT_STRING_EQUAL(tls_rec_error(c.rec),
			    "received fatal alert: handshake_failure");
			finish(&c);
			continue;
		}
		CU_ASSERT(c_read_exact(c.rec, buf, 3) == 0 &&
		          memcmp(buf, "ku1", 3) == 0);
		tls_rec_stats(c.rec, &st);
		CU_ASSERT(st.key_updates_received == 1);
		CU_ASSERT(st.key_updates_sent == 0);
		CU_ASSERT(tls_rec_write(c.rec, "ack1", 4) == 4);
		CU_ASSERT(c_read_exact(c.rec, buf, 3) == 0 &&
		          memcmp(buf, "ku2", 3) == 0);
		tls_rec_stats(c.rec, &st);
		CU_ASSERT(st.key_updates_received == 2);
		CU_ASSERT(st.key_updates_sent == 1);
		CU_ASSERT(tls_rec_write(c.rec, "ack2", 4) == 4);
		pattern(buf, sizeof(buf), 0, 11);
		CU_ASSERT(
		    tls_rec_write(c.rec, buf, sizeof(buf)) == sizeof(buf));
		CU_ASSERT(c_read_exact(c.rec, buf, sizeof(buf)) == 0);
		pattern(want, sizeof(want), 0, 12);
		CU_ASSERT(memcmp(buf, want, sizeof(want)) == 0);
		finish(&c);
	}
}

/* ---- NewSessionTicket ---- */

static void
srv_tickets(struct conn *c)
{
	int i;

	for (i = 0; i < 3; i++)
		SCHECK(c, SSL_new_session_ticket(c->s) == 1);
	SCHECK(c, SSL_write(c->s, "after tickets", 13) == 13);
}

static void
test_tickets(void)
{
	unsigned char buf[TLS_REC_MAX_TICKET_LEN];
	struct tls_rec_stats st;
	struct conn c;
	size_t k;
	ssize_t n;

	for (k = 0; k < 3; k++) {
		if (hand_off(&c, &cfgs[k], srv_tickets) == -1) {
			finish(&c);
			continue;
		}
		CU_ASSERT(c_read_exact(c.rec, buf, 13) == 0 &&
		          memcmp(buf, "after tickets", 13) == 0);
		tls_rec_stats(c.rec, &st);
		/* Two at the end of the handshake (OpenSSL's default). */
		CU_ASSERT(st.tickets == 5);
		n = tls_rec_ticket(c.rec, 0, buf, sizeof(buf));
		CU_ASSERT(n > 4 && buf[0] == 4);
		CU_ASSERT(tls_rec_ticket(c.rec, TLS_REC_MAX_TICKETS - 1, buf,
		              sizeof(buf)) > 0);
		CU_ASSERT(tls_rec_ticket(c.rec, TLS_REC_MAX_TICKETS, buf,
		              sizeof(buf)) == -1);
		finish(&c);
	}
}

/* ---- close_notify both ways ---- */

static void
srv_close(struct conn *c)
{
	char buf[16];
	int n;

	SCHECK(c, SSL_shutdown(c->s) == 0); /* sent, not yet received */
	/* Half-closed: the client may still send. */
	SCHECK(
	    c, s_read_exact(c->s, buf, 3) == 0 && memcmp(buf, "bye", 3) == 0);
	n = SSL_read(c->s, buf, sizeof(buf));
	SCHECK(c, n <= 0 && SSL_get_error(c->s, n) == SSL_ERROR_ZERO_RETURN);
}

static void
test_close_notify(void)
{
	char buf[16];
	struct conn c;
	size_t k;

	for (k = 0; k < NCFGS; k++) {
		if (hand_off(&c, &cfgs[k], srv_close) == -1) {
			finish(&c);
			continue;
		}
		CU_ASSERT(tls_rec_read(c.rec, buf, sizeof(buf)) == 0);
		CU_ASSERT(tls_rec_read(c.rec, buf, sizeof(buf)) == 0);
		CU_ASSERT(tls_rec_write(c.rec, "bye", 3) == 3);
		CU_ASSERT(tls_rec_close_notify(c.rec) == 0);
		CU_ASSERT(tls_rec_write(c.rec, "x", 1) == -1 && errno == EPIPE);
		CU_ASSERT_STRING_EQUAL(tls_rec_error(c.rec), "");
		finish(&c);
	}
}

/* ---- truncation ---- */

static void
srv_truncate(struct conn *c)
{
	SCHECK(c, SSL_write(c->s, "x", 1) == 1);
	/* TCP FIN without close_notify. */
	shutdown(c->sfd, SHUT_WR);
}

static void
test_truncation(void)
{
	char buf[16];
	struct conn c;
	size_t k;

	for (k = 0; k < NCFGS; k++) {
		if (hand_off(&c, &cfgs[k], srv_truncate) == -1) {
			finish(&c);
			continue;
		}
		CU_ASSERT(c_read_exact(c.rec, buf, 1) == 0 && buf[0] == 'x');
		CU_ASSERT(tls_rec_read(c.rec, buf, sizeof(buf)) == -1);
		CU_ASSERT(errno == ECONNABORTED);
		CU_ASSERT(strstr(tls_rec_error(c.rec), "truncated") != NULL);
		finish(&c);
	}
}

/* ---- fatal alerts, both directions ---- */

/* The client sends a record OpenSSL cannot open: OpenSSL answers with a
 * fatal bad_record_mac alert. */
static void
srv_bad_mac(struct conn *c)
{
	char buf[16];
	int n;

	n = SSL_read(c->s, buf, sizeof(buf));
	SCHECK(c, n <= 0 && SSL_get_error(c->s, n) == SSL_ERROR_SSL);
}

/* The server sends garbage: we must answer with bad_record_mac. */
static void
srv_garbage(struct conn *c)
{
	unsigned char rec[5 + 40] = {0x17, 0x03, 0x03, 0x00, 40};
	unsigned long e;
	char buf[16];
	int n;

	memset(rec + 5, 0xa5, 40);
	SCHECK(c, write(c->sfd, rec, sizeof(rec)) == sizeof(rec));
	n = SSL_read(c->s, buf, sizeof(buf));
	SCHECK(c, n <= 0 && SSL_get_error(c->s, n) == SSL_ERROR_SSL);
	e = ERR_peek_error();
	SCHECK(c, ERR_GET_REASON(e) == SSL_R_SSLV3_ALERT_BAD_RECORD_MAC);
}

static void
test_alerts(void)
{
	unsigned char rec[5 + 32] = {0x17, 0x03, 0x03, 0x00, 32};
	char buf[16];
	struct conn c;
	size_t k;

	for (k = 0; k < NCFGS; k++) {
		if (hand_off(&c, &cfgs[k], srv_bad_mac) == -1) {
			finish(&c);
			continue;
		}
		memset(rec + 5, 0x5a, 32);
		CU_ASSERT(write(c.cfd, rec, sizeof(rec)) == sizeof(rec));
		CU_ASSERT(tls_rec_read(c.rec, buf, sizeof(buf)) == -1);
		CU_ASSERT(errno == ECONNRESET);
		CU_ASSERT_STRING_EQUAL(tls_rec_error(c.rec),
		    "received fatal alert: bad_record_mac");
		finish(&c);

		if (hand_off(&c, &cfgs[k], srv_garbage) == -1) {
			finish(&c);
			continue;
		}
		CU_ASSERT(tls_rec_read(c.rec, buf, sizeof(buf)) == -1);
		CU_ASSERT(errno == EBADMSG);
		CU_ASSERT(
		    strstr(tls_rec_error(c.rec), "bad record MAC") != NULL);
		finish(&c);
	}
}

/* ---- refusals ---- */

static void
srv_early_write(struct conn *c)
{
	SCHECK(c, SSL_write(c->s, "pending", 7) == 7);
}

static void
refused(
    const struct cfg *cfg, server_fn srv, int keylog, int peek, const char *why)
{
	struct cp_tls_state st;
	char err[256] = "", b;
	struct conn c;
	SSL *ssl;
	int port;

	CU_ASSERT_FATAL(server_start(&c, cfg, srv, &port) == 0);
	CU_ASSERT_FATAL(client_handshake(&c, port, keylog, &ssl) == 0);
	/* SSL_peek reads a whole record and keeps it in OpenSSL. */
	if (peek)
		CU_ASSERT(SSL_peek(ssl, &b, 1) == 1);
	memset(&st, 0xff, sizeof(st));
	CU_ASSERT(tls_export(ssl, &st, err, sizeof(err)) == -1);
	CU_ASSERT(is_zero(&st, sizeof(st)));
	if (strstr(err, why) == NULL) {
		fprintf(
		    stderr, "%s: \"%s\" lacks \"%s\"\n", cfg->name, err, why);
		CU_FAIL("wrong refusal");
	}
	SSL_free(ssl);
	finish(&c);
}

static void
test_refusals(void)
{
	static const struct cfg cbc = {"1.2 AES-128-CBC", TLS1_2_VERSION,
	    "ECDHE-ECDSA-AES128-SHA256", 0xC023};
	static const struct cfg ccm = {"1.3 AES-128-CCM", TLS1_3_VERSION,
	    "TLS_AES_128_CCM_SHA256", 0x1304};
	size_t k;

	for (k = 0; k < NCFGS; k++)
		refused(&cfgs[k], srv_early_write, 1, 1, "past the handshake");
	refused(&cbc, NULL, 1, 0, "cannot be handed off");
	refused(&ccm, NULL, 1, 0, "cannot be handed off");
	refused(&cfgs[0], NULL, 0, 0, "not captured");
}

/* ---- one reader and one writer thread during server KeyUpdates ---- */

#define DUPLEX (4u << 20)

static void
srv_echo_rekey(struct conn *c)
{
	unsigned char buf[16384];
	size_t done = 0;
	int n, iter = 0;

	while (done < DUPLEX) {
		if ((n = SSL_read(c->s, buf, sizeof(buf))) <= 0)
			break;
		if (++iter % 8 == 0 &&
		    SSL_key_update(c->s, SSL_KEY_UPDATE_REQUESTED) == 1)
			c->count++;
		if (SSL_write(c->s, buf, n) != n)
			break;
		done += (size_t)n;
	}
	SCHECK(c, done == DUPLEX);
	/* Drain our KeyUpdate answers up to the client's close_notify. */
	n = SSL_read(c->s, buf, sizeof(buf));
	SCHECK(c, n <= 0 && SSL_get_error(c->s, n) == SSL_ERROR_ZERO_RETURN);
}

struct writer {
	struct tls_rec *rec;
	int ok;
};

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	unsigned char *buf = malloc(70000);
	unsigned seed = 99;
	size_t off, n;

	w->ok = buf != NULL;
	for (off = 0; off < DUPLEX && w->ok; off += n) {
		seed = seed * 1103515245u + 12345u;
		n = 1 + (seed >> 8) % 70000;
		if (n > DUPLEX - off)
			n = DUPLEX - off;
		pattern(buf, n, off, 21);
		w->ok = tls_rec_write(w->rec, buf, n) == (ssize_t)n;
	}
	free(buf);
	return NULL;
}

static void
test_two_threads(void)
{
	unsigned char *buf = malloc(50000), *want = malloc(50000);
	struct tls_rec_stats st;
	struct writer w;
	pthread_t wt;
	struct conn c;
	size_t off, k;
	ssize_t got = 0;
	int ok;

	CU_ASSERT_FATAL(buf != NULL && want != NULL);
	for (k = 0; k < 3; k++) {
		if (hand_off(&c, &cfgs[k], srv_echo_rekey) == -1) {
			finish(&c);
			continue;
		}
		w.rec = c.rec;
		CU_ASSERT_FATAL(
		    pthread_create(&wt, NULL, writer_main, &w) == 0);
		for (off = 0, ok = 1; off < DUPLEX && ok; off += (size_t)got) {
			if ((got = tls_rec_read(c.rec, buf, 50000)) <= 0)
				break;
			pattern(want, (size_t)got, off, 21);
			ok = memcmp(buf, want, (size_t)got) == 0;
		}
		pthread_join(wt, NULL);
		CU_ASSERT(w.ok);
		CU_ASSERT(ok && off == DUPLEX);
		CU_ASSERT(tls_rec_close_notify(c.rec) == 0);
		if (off != DUPLEX)
			fprintf(stderr, "%s: %s\n", cfgs[k].name,
			    tls_rec_error(c.rec));
		tls_rec_stats(c.rec, &st);
		finish(&c);
		/* Every server update seen; each request answered, possibly
		 * several by one of ours. */
		CU_ASSERT(c.count > 0);
		CU_ASSERT(st.key_updates_received == (uint64_t)c.count);
		CU_ASSERT(st.key_updates_sent >= 1);
		CU_ASSERT(st.key_updates_sent <= st.key_updates_received);
	}
	free(buf);
	free(want);
}

int
main(void)
{
	CU_pSuite s;

	s = cu_suite("handoff", suite_init, suite_clean);
	cu_test(s, "echo", test_echo);
	cu_test(s, "8 MiB each way", test_bulk);
	cu_test(s, "record sizes", test_sizes);
	cu_test(s, "KeyUpdate / HelloRequest", test_key_update);
	cu_test(s, "NewSessionTicket", test_tickets);
	cu_test(s, "close_notify", test_close_notify);
	cu_test(s, "truncation", test_truncation);
	cu_test(s, "fatal alerts", test_alerts);
	cu_test(s, "refusals", test_refusals);
	cu_test(s, "reader and writer threads", test_two_threads);
	return cu_finish();
}
