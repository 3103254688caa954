/* SPDX-License-Identifier: ISC */
/*
 * Record-layer state export for the TLS hand-off, with public OpenSSL 3.0
 * API only: the keylog callback for the TLS 1.3 traffic secrets, the
 * session master secret and the TLS1-PRF KDF for TLS 1.2.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>

#include "kdf.h"
#include "tlsexport.h"

#define RANDOM_LEN 32
#define MASTER_LEN 48

static void keylog_cb(const SSL *, const char *);

/* Per-connection store filled by the keylog callback. */
struct secrets {
	unsigned char client[CP_MAX_SECRET];
	unsigned char server[CP_MAX_SECRET];
	size_t clientlen, serverlen;
	int waiting; /* counted in nwaiting: Finished seen, secrets not in */
};

static CRYPTO_ONCE once = CRYPTO_ONCE_STATIC_INIT;
static int exidx = -1;
static int nwaiting; /* connections waiting for their traffic secrets */

static void keylog_done(const SSL *, struct secrets *);

static void
secrets_free(
    void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	if (ptr != NULL)
		keylog_done(parent, ptr);
	OPENSSL_clear_free(ptr, sizeof(struct secrets));
}

static void
idx_init(void)
{
	exidx = SSL_get_ex_new_index(0, NULL, NULL, NULL, secrets_free);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode exactly the hex string s (up to NUL, space or newline). */
static int
unhex(const char *s, unsigned char *out, size_t max, size_t *len)
{
	size_t n = 0;
	int hi, lo;

	while (*s != '\0' && *s != '\n' && *s != ' ') {
		if (n == max || (hi = hexval(s[0])) < 0 ||
		    (lo = hexval(s[1])) < 0)
			return -1;
		out[n++] = (unsigned char)(hi << 4 | lo);
		s += 2;
	}
	*len = n;
	return n > 0 ? 0 : -1;
}

/*
 * OpenSSL formats every secret of a handshake as a keylog line (a
 * sprintf per byte: ~200,000 instructions for the five of a TLS 1.3
 * handshake, a twentieth of what verifying the chain costs) whenever a
 * keylog callback is set, and the callback can only be set on the
 * context.  We need two of them, the application traffic secrets, which
 * come once the server's Finished has been read.  So the callback is off
 * until this connection's msg callback sees that Finished, and off again
 * once every connection that saw one has both secrets (the client's
 * comes after our Finished is written, which may take another step) or is
 * gone.  Other connections' lines meanwhile are only formatted: each keeps
 * its own secrets (ex_data).  An engine is one thread; the switch and the
 * count are not for several threads sharing a context.
 */
static void
msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
    SSL *ssl, void *arg)
{
	const unsigned char *p = buf;
	struct secrets *s;

	/* TLS 1.2 needs no keylog: its master secret is in the session. */
	if (write_p || content_type != SSL3_RT_HANDSHAKE || len < 1 ||
	    p[0] != SSL3_MT_FINISHED || SSL_version(ssl) != TLS1_3_VERSION ||
	    exidx < 0 || (s = SSL_get_ex_data(ssl, exidx)) == NULL ||
	    s->waiting || (s->clientlen > 0 && s->serverlen > 0))
		return;
	s->waiting = 1;
	nwaiting++;
	SSL_CTX_set_keylog_callback(SSL_get_SSL_CTX(ssl), keylog_cb);
}

static void
keylog_done(const SSL *ssl, struct secrets *s)
{
	if (!s->waiting)
		return;
	s->waiting = 0;
	if (--nwaiting == 0 && ssl != NULL)
		SSL_CTX_set_keylog_callback(SSL_get_SSL_CTX(ssl), NULL);
}

/* "LABEL <client_random hex> <secret hex>": keep the two we hand off. */
static void
keylog_cb(const SSL *ssl, const char *line)
{
	static const char cl[] = "CLIENT_TRAFFIC_SECRET_0 ";
	static const char sl[] = "SERVER_TRAFFIC_SECRET_0 ";
	struct secrets *s;
	unsigned char *dst;
	size_t *dlen, len;
	const char *p;

	if (exidx < 0 || (s = SSL_get_ex_data(ssl, exidx)) == NULL)
		return;
	if (strncmp(line, cl, sizeof(cl) - 1) == 0) {
		dst = s->client;
		dlen = &s->clientlen;
	} else if (strncmp(line, sl, sizeof(sl) - 1) == 0) {
		dst = s->server;
		dlen = &s->serverlen;
	} else
		return;
	p = line + sizeof(cl) - 1;
	if ((p = strchr(p, ' ')) == NULL)
		return;
	if (unhex(p + 1, dst, CP_MAX_SECRET, &len) == 0)
		*dlen = len;
	else {
		explicit_bzero(dst, CP_MAX_SECRET);
		*dlen = 0;
	}
	if (s->clientlen > 0 && s->serverlen > 0)
		keylog_done(ssl, s);
}

int
tls_export_ctx_init(SSL_CTX *ctx)
{
	if (!CRYPTO_THREAD_run_once(&once, idx_init) || exidx < 0)
		return -1;
	SSL_CTX_set_keylog_callback(ctx, NULL); /* msg_cb() turns it on */
	return 0;
}

int
tls_export_attach(SSL *ssl)
{
	struct secrets *s;

	if (!CRYPTO_THREAD_run_once(&once, idx_init) || exidx < 0)
		return -1;
	SSL_set_msg_callback(ssl, msg_cb);
	if ((s = SSL_get_ex_data(ssl, exidx)) != NULL) {
		keylog_done(ssl, s);
		explicit_bzero(s, sizeof(*s));
		return 0;
	}
	if ((s = OPENSSL_zalloc(sizeof(*s))) == NULL)
		return -1;
	if (!SSL_set_ex_data(ssl, exidx, s)) {
		OPENSSL_free(s);
		return -1;
	}
	return 0;
}

int
tls_export_prf(const char *md, const void *secret, size_t secretlen,
    const char *label, const void *seed1, size_t seed1len, const void *seed2,
    size_t seed2len, void *out, size_t outlen)
{
	size_t llen = strlen(label);
	unsigned char seed[64 + 2 * RANDOM_LEN];
	OSSL_PARAM params[4];
	int rv;

	if (llen + seed1len + seed2len > sizeof(seed))
		return -1;
	memcpy(seed, label, llen);
	memcpy(seed + llen, seed1, seed1len);
	memcpy(seed + llen + seed1len, seed2, seed2len);
	params[0] = OSSL_PARAM_construct_utf8_string(
	    OSSL_KDF_PARAM_DIGEST, (char *)md, 0);
	params[1] = OSSL_PARAM_construct_octet_string(
	    OSSL_KDF_PARAM_SECRET, (void *)secret, secretlen);
	params[2] = OSSL_PARAM_construct_octet_string(
	    OSSL_KDF_PARAM_SEED, seed, llen + seed1len + seed2len);
	params[3] = OSSL_PARAM_construct_end();
	rv = rec_kdf_derive("TLS1-PRF", params, out, outlen);
	OPENSSL_cleanse(seed, sizeof(seed));
	return rv;
}

/* One TLS 1.3 direction: key and IV from the traffic secret, seq 0. */
static int
dir13(const struct rec_suite *suite, struct cp_tls_dir *d,
    const unsigned char *secret, size_t len)
{
	memcpy(d->secret, secret, len);
	d->secretlen = len;
	d->keylen = suite->keylen;
	d->seq = 0;
	if (rec_expand_label(
	        suite->md, secret, len, "key", d->key, suite->keylen) == -1 ||
	    rec_expand_label(suite->md, secret, len, "iv", d->iv, CP_IV_LEN) ==
	        -1)
		return -1;
	return 0;
}

static int
export13(SSL *ssl, const struct rec_suite *suite, struct cp_tls_state *st,
    char *err, size_t errsz)
{
	struct secrets *s = exidx < 0 ? NULL : SSL_get_ex_data(ssl, exidx);
	size_t hl = (size_t)EVP_MD_get_size(EVP_get_digestbyname(suite->md));

	if (s == NULL || s->clientlen == 0 || s->serverlen == 0) {
		snprintf(err, errsz,
		    "TLS 1.3 traffic secrets were not "
		    "captured (keylog callback not installed?)");
		return -1;
	}
	if (s->clientlen != hl || s->serverlen != hl) {
		snprintf(err, errsz,
		    "TLS 1.3 traffic secret has the wrong "
		    "length");
		return -1;
	}
	/* The daemon is the client: it writes with the client secret. */
	if (dir13(suite, &st->tx, s->client, s->clientlen) == -1 ||
	    dir13(suite, &st->rx, s->server, s->serverlen) == -1) {
		snprintf(err, errsz, "TLS 1.3 key derivation failed");
		return -1;
	}
	return 0;
}

/*
 * RFC 5246 6.3 key block for an AEAD suite (no MAC keys):
 * client_write_key, server_write_key, client_write_IV, server_write_IV.
 * The Finished records used sequence number 0 in both directions.
 */
static int
export12(SSL *ssl, const struct rec_suite *suite, struct cp_tls_state *st,
    char *err, size_t errsz)
{
	unsigned char ms[MASTER_LEN], cr[RANDOM_LEN], sr[RANDOM_LEN];
	unsigned char kb[2 * CP_MAX_KEY + 2 * CP_IV_LEN];
	size_t kl = suite->keylen, il = suite->fixed_ivlen, mslen;
	SSL_SESSION *sess = SSL_get_session(ssl);
	int rv = -1;

	if (sess == NULL ||
	    (mslen = SSL_SESSION_get_master_key(sess, ms, sizeof(ms))) == 0 ||
	    SSL_get_client_random(ssl, cr, sizeof(cr)) != sizeof(cr) ||
	    SSL_get_server_random(ssl, sr, sizeof(sr)) != sizeof(sr))
		snprintf(err, errsz, "TLS 1.2 master secret not available");
	else if (tls_export_prf(suite->md, ms, mslen, "key expansion", sr,
	             sizeof(sr), cr, sizeof(cr), kb, 2 * kl + 2 * il) == -1)
		snprintf(err, errsz, "TLS 1.2 key expansion failed");
	else {
		memcpy(st->tx.key, kb, kl);
		memcpy(st->rx.key, kb + kl, kl);
		memcpy(st->tx.iv, kb + 2 * kl, il);
		memcpy(st->rx.iv, kb + 2 * kl + il, il);
		st->tx.keylen = st->rx.keylen = kl;
		st->tx.seq = st->rx.seq = 1;
		rv = 0;
	}
	explicit_bzero(ms, sizeof(ms));
	explicit_bzero(kb, sizeof(kb));
	return rv;
}

static int
export_state(SSL *ssl, struct cp_tls_state *st, char *err, size_t errsz)
{
	const struct rec_suite *suite;
	const SSL_CIPHER *c;
	int ver = SSL_version(ssl);
	uint16_t id;

	if (!SSL_is_init_finished(ssl)) {
		snprintf(err, errsz, "TLS handshake not finished");
		return -1;
	}
	/* Bytes OpenSSL already read would never reach the new owner. */
	if (SSL_has_pending(ssl) || SSL_pending(ssl) > 0) {
		snprintf(err, errsz,
		    "OpenSSL holds data read past the "
		    "handshake; hand-off refused");
		return -1;
	}
	if (ver != TLS1_2_VERSION && ver != TLS1_3_VERSION) {
		snprintf(err, errsz, "%s cannot be handed off",
		    SSL_get_version(ssl));
		return -1;
	}
	if ((c = SSL_get_current_cipher(ssl)) == NULL) {
		snprintf(err, errsz, "no cipher negotiated");
		return -1;
	}
	id = SSL_CIPHER_get_protocol_id(c);
	if ((suite = rec_suite_find(id)) == NULL || suite->version != ver) {
		snprintf(err, errsz, "cipher %s cannot be handed off",
		    SSL_CIPHER_get_name(c));
		return -1;
	}
	st->version = (uint16_t)ver;
	st->cipher = id;
	if (ver == TLS1_3_VERSION)
		return export13(ssl, suite, st, err, errsz);
	return export12(ssl, suite, st, err, errsz);
}

int
tls_export(SSL *ssl, struct cp_tls_state *st, char *err, size_t errsz)
{
	struct secrets *s = exidx < 0 ? NULL : SSL_get_ex_data(ssl, exidx);
	int rv;

	memset(st, 0, sizeof(*st));
	rv = export_state(ssl, st, err, errsz);
	/* Secrets leave the daemon once, or not at all. */
	if (s != NULL) {
		keylog_done(ssl, s);
		explicit_bzero(s, sizeof(*s));
	}
	if (rv == -1)
		cp_tls_state_wipe(st);
	return rv;
}
