/* SPDX-License-Identifier: ISC */
/*
 * The daemon's TLS client.  Everything here serves the hand-off: OpenSSL
 * must stop reading exactly at the end of the handshake (no read-ahead, no
 * buffering BIO), never negotiate anything the library's record layer cannot
 * continue (AEAD suites only, no renegotiation, no compression, no early
 * data, no post-handshake authentication), and never send a byte after the
 * handshake (no close_notify when a connection is freed).
 */
#include <sys/epoll.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "cahash.h"
#include "cpproto.h"
#include "hostname.h"
#include "ocsp.h"
#include "tls.h"
#include "tlsexport.h"
#include "vcache.h"

#define TLS12_CIPHERS                                                          \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"           \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"           \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES                                                           \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"                       \
	"TLS_CHACHA20_POLY1305_SHA256"

/* Bounds on a trust directory: it is the administrator's, but a mistake
 * (pointing at /usr) must not eat the parent's memory. */
#define TLS_DIR_MAX_FILES 10000
#define TLS_DIR_MAX_FILE (4 * 1024 * 1024)

struct tlsc {
	SSL *ssl;
	X509_STORE *store; /* the anchors, for the OCSP signer; borrowed */
	int anchors_named; /* client anchors, named by anchors_hash */
	unsigned char anchors_hash[CP_CA_HASH_LEN];
	STACK_OF(X509_CRL) *crls; /* borrowed (tls_params) */
	int crl_all;
	int ocsp_mode;   /* TLS_OCSP_* */
	int ocsp;        /* CP_OCSP_* outcome */
	char ocsp_why[128];
	int events;
	int done;
	int failed;
	int failed_verify;
	int no_peer_cert;
	int sys_errno;
	long detached_vr; /* the verify result once tlsc_detach took ssl */
	char err[CP_MAX_ERRTEXT];
};

/* Describe the oldest queued OpenSSL error after prefix, then clear. */
static void
tls_ossl_err(char *err, size_t errsz, const char *prefix)
{
	unsigned long e = ERR_peek_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
	char buf[256];

	if (e != 0 && r == NULL) {
		ERR_error_string_n(e, buf, sizeof(buf));
		r = buf;
	}
	snprintf(err, errsz, "%s: %s", prefix, r != NULL ? r : "unknown error");
	ERR_clear_error();
}

static int
tls_load_pem_file(
    X509_STORE *st, const char *path, int *count, char *err, size_t errsz)
{
	struct stat sb;
	FILE *fp;
	X509 *x;

	if ((fp = fopen(path, "re")) == NULL) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* Not a regular file or absurdly large: not a certificate. */
	if (fstat(fileno(fp), &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    sb.st_size > TLS_DIR_MAX_FILE) {
		fclose(fp);
		return 0;
	}
	while ((x = PEM_read_X509(fp, NULL, NULL, NULL)) != NULL) {
		if (!X509_STORE_add_cert(st, x)) {
			X509_free(x);
			fclose(fp);
			tls_ossl_err(err, errsz, path);
			return -1;
		}
		X509_free(x);
		(*count)++;
	}
	/* The end of the file shows up as a "no start line" error. */
	ERR_clear_error();
	fclose(fp);
	return 0;
}

static int
tls_load_dir(X509_STORE *st, const char *dir, char *err, size_t errsz)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int count = 0, files = 0, rc = 0;

	if ((d = opendir(dir)) == NULL) {
		snprintf(err, errsz, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (++files > TLS_DIR_MAX_FILES) {
			snprintf(err, errsz, "%s: more than %d files", dir,
			    TLS_DIR_MAX_FILES);
			rc = -1;
		} else if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		               de->d_name) >= sizeof(path)) {
			snprintf(err, errsz, "%s: path too long", dir);
			rc = -1;
		} else
			rc = tls_load_pem_file(st, path, &count, err, errsz);
	}
	closedir(d);
	if (rc == 0 && count == 0) {
		snprintf(err, errsz, "%s: no certificate found", dir);
		rc = -1;
	}
	return rc;
}

static int
tls_load_store(
    SSL_CTX *ctx, const struct tls_settings *s, char *err, size_t errsz)
{
	X509_STORE *st = SSL_CTX_get_cert_store(ctx);
	const char *file = s->ca_file;
	char prefix[PATH_MAX + 32];

	if (s->store != NULL) {
		SSL_CTX_set1_cert_store(ctx, s->store);
		return 0;
	}
	if (file == NULL && s->ca_dir == NULL)
		file = TLS_DEFAULT_CA_FILE;
	if (file != NULL && !X509_STORE_load_file(st, file)) {
		snprintf(prefix, sizeof(prefix), "%s: cannot load", file);
		tls_ossl_err(err, errsz, prefix);
		return -1;
	}
	if (s->ca_dir != NULL && tls_load_dir(st, s->ca_dir, err, errsz) == -1)
		return -1;
	return 0;
}

/* Our tlsc, found from the SSL during verification. */
static int tls_exidx = -1;
/* The context's verification cache (vcache.h). */
static int tls_vcidx = -1;

static void
tls_vcache_exfree(
    void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	vcache_free(ptr);
}

/*
 * The cache is for verifications without CRLs (a CRL is checked against
 * the clock as well as the chain) under a store whose content has a name:
 * the context's own, fixed for the engine's life, or a client's anchor
 * set by its hash, which the daemon computed from the set itself
 * (cacache.c).  The store pointer alone would not do: a set that left
 * the anchor cache may come back at another address, another at its old.
 */
static struct vcache *
tls_vcache_for(
    SSL *ssl, const struct tlsc *c, X509_STORE_CTX *xctx, unsigned char *key)
{
	SSL_CTX *ctx = ssl != NULL ? SSL_get_SSL_CTX(ssl) : NULL;
	X509_STORE *st = X509_STORE_CTX_get0_store(xctx);
	unsigned char id[1 + CP_CA_HASH_LEN];
	struct vcache *vc;

	if (ctx == NULL || c == NULL || c->crls != NULL ||
	    (vc = SSL_CTX_get_ex_data(ctx, tls_vcidx)) == NULL)
		return NULL;
	memset(id, 0, sizeof(id));
	if (st == SSL_CTX_get_cert_store(ctx))
		id[0] = 'C'; /* the context's store: the cache is its own */
	else if (st == c->store && c->anchors_named) {
		id[0] = 'A';
		memcpy(id + 1, c->anchors_hash, CP_CA_HASH_LEN);
	} else
		return NULL;
	return vcache_key(xctx, id, sizeof(id), key) == 0 ? vc : NULL;
}

/*
 * The chain verification, with the connection's CRLs: OpenSSL looks them
 * up in the X509_STORE_CTX before the store, and the store is shared by
 * every connection of the context.
 */
static int
tls_verify_cert(X509_STORE_CTX *xctx, void *arg)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(
	    xctx, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tlsc *c = ssl != NULL ? SSL_get_ex_data(ssl, tls_exidx) : NULL;
	unsigned char key[SHA256_DIGEST_LENGTH];
	time_t now = time(NULL);
	struct vcache *vc;
	int ok;

	(void)arg;
	if (c != NULL && c->crls != NULL) {
		X509_STORE_CTX_set0_crls(xctx, c->crls);
		X509_STORE_CTX_set_flags(xctx, X509_V_FLAG_CRL_CHECK |
		    (c->crl_all ? X509_V_FLAG_CRL_CHECK_ALL : 0));
	}
	vc = tls_vcache_for(ssl, c, xctx, key);
	if (vc != NULL && vcache_hit(vc, key, xctx, now))
		return 1;
	ok = X509_verify_cert(xctx) > 0;
	if (ok && vc != NULL)
		vcache_put(vc, key, xctx, now);
	return ok;
}

static int
tls_ctx_setup(SSL_CTX *ctx, int minv, char *err, size_t errsz)
{
	if (!SSL_CTX_set_min_proto_version(ctx, minv) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) {
		tls_ossl_err(err, errsz, "protocol version");
		return -1;
	}
	if (!SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) ||
	    !SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES)) {
		tls_ossl_err(err, errsz, "cipher list");
		return -1;
	}
	/* An explicit cipher list replaces the system's @SECLEVEL: restate
	 * it (RSA >= 2048 bits, no SHA-1 signatures). */
	SSL_CTX_set_security_level(ctx, 2);
	SSL_CTX_set_options(
	    ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	SSL_CTX_clear_options(
	    ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_LEGACY_SERVER_CONNECT |
	             SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION);
	/* Reading ahead would swallow records that belong to the library. */
	SSL_CTX_set_read_ahead(ctx, 0);
	SSL_CTX_clear_mode(ctx, SSL_CTX_get_mode(ctx));
	SSL_CTX_set_post_handshake_auth(ctx, 0);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_cert_verify_callback(ctx, tls_verify_cert, NULL);
	SSL_CTX_set_verify_depth(ctx, CP_MAX_CHAIN);
	/* Room for a full chain of maximal certificates and their headers. */
	SSL_CTX_set_max_cert_list(ctx, CP_MAX_CHAIN * (CP_MAX_CERT + 512));
	return 0;
}

SSL_CTX *
tls_ctx_new(const struct tls_settings *s, char *err, size_t errsz)
{
	struct vcache *vc;
	SSL_CTX *ctx;
	int minv = s->min_version ? s->min_version : TLS1_2_VERSION;

	if (minv != TLS1_2_VERSION && minv != TLS1_3_VERSION) {
		snprintf(err, errsz,
		    "minimum TLS version 0x%04x not allowed "
		    "(TLS 1.2 or 1.3 only)",
		    (unsigned)minv);
		return NULL;
	}
	ERR_clear_error();
	if (tls_exidx < 0 &&
	    (tls_exidx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL)) < 0) {
		tls_ossl_err(err, errsz, "SSL_get_ex_new_index");
		return NULL;
	}
	if (tls_vcidx < 0 && (tls_vcidx = SSL_CTX_get_ex_new_index(0, NULL,
	                          NULL, NULL, tls_vcache_exfree)) < 0) {
		tls_ossl_err(err, errsz, "SSL_CTX_get_ex_new_index");
		return NULL;
	}
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		tls_ossl_err(err, errsz, "SSL_CTX_new");
		return NULL;
	}
	/* Without a cache every chain is verified; that is all it costs. */
	if (!s->no_vcache && (vc = vcache_new()) != NULL &&
	    !SSL_CTX_set_ex_data(ctx, tls_vcidx, vc))
		vcache_free(vc);
	if (tls_ctx_setup(ctx, minv, err, errsz) == -1 ||
	    tls_load_store(ctx, s, err, errsz) == -1)
		goto fail;
	if (tls_export_ctx_init(ctx) == -1) {
		snprintf(err, errsz, "cannot set up the TLS state export");
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static int
tls_is_ip(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 ||
	       inet_pton(AF_INET6, s, buf) == 1;
}

/* A host name (hostname.h), copied without its trailing dot into out
 * (CP_MAX_HOST + 1 bytes). */
static int
tls_dns_name(const char *s, char *out)
{
	size_t len = strnlen(s, CP_MAX_HOST + 2);

	if (!cp_hostname_ok(s, len))
		return -1;
	len = cp_hostname_len(s, len);
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

/* Wire-format ALPN list: non-empty entries that fill it exactly. */
static int
tls_alpn_ok(const unsigned char *p, size_t len)
{
	size_t i = 0;

	if (len == 0 || len > CP_MAX_ALPN)
		return 0;
	while (i < len) {
		if (p[i] == 0 || p[i] > len - i - 1)
			return 0;
		i += 1 + (size_t)p[i];
	}
	return 1;
}

/*
 * The name the certificate is checked against: the server name when the
 * client set one (it is also the SNI), else the host.  An address is
 * checked against IP subjectAltNames and sent as no SNI (RFC 6066 has
 * none for addresses).
 */
static int
tlsc_names(SSL *ssl, const struct tls_params *p, char *err, size_t errsz)
{
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
	char name[CP_MAX_HOST + 1];
	const char *sni = p->sni != NULL && p->sni[0] != '\0' ? p->sni : NULL;
	unsigned flags = X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS;

	/* RFC 6125: names are in subjectAltName; OpenSSL would otherwise
	 * fall back to the CN of a certificate without DNS SAN. */
	if (!p->cn_fallback)
		flags |= X509_CHECK_FLAG_NEVER_CHECK_SUBJECT;
	X509_VERIFY_PARAM_set_hostflags(vp, flags);
	if (sni == NULL && tls_is_ip(p->host)) {
		if (!X509_VERIFY_PARAM_set1_ip_asc(vp, p->host)) {
			snprintf(err, errsz, "bad address: %s", p->host);
			return -1;
		}
		return 0;
	}
	if (sni != NULL && (tls_is_ip(sni) || tls_dns_name(sni, name) == -1)) {
		snprintf(err, errsz, "bad server name (SNI)");
		return -1;
	}
	if (sni == NULL && tls_dns_name(p->host, name) == -1) {
		snprintf(err, errsz, "bad host name");
		return -1;
	}
	if (!X509_VERIFY_PARAM_set1_host(vp, name, 0)) {
		snprintf(err, errsz, "cannot set host name");
		return -1;
	}
	if (!SSL_set_tlsext_host_name(ssl, name)) {
		tls_ossl_err(err, errsz, "server name");
		return -1;
	}
	return 0;
}

/* CRLs for the verification callback, and the request for a staple. */
static int
tlsc_revocation(struct tlsc *c, const struct tls_params *p, char *err,
    size_t errsz)
{
	c->store = p->anchors != NULL
	               ? p->anchors
	               : SSL_CTX_get_cert_store(SSL_get_SSL_CTX(c->ssl));
	c->crls = p->crls;
	c->crl_all = p->crl_all;
	if (p->anchors != NULL && p->anchors_hash != NULL) {
		c->anchors_named = 1;
		memcpy(c->anchors_hash, p->anchors_hash, CP_CA_HASH_LEN);
	}
	c->ocsp_mode = p->ocsp;
	if (!SSL_set_ex_data(c->ssl, tls_exidx, c)) {
		tls_ossl_err(err, errsz, "SSL_set_ex_data");
		return -1;
	}
	if (p->ocsp != TLS_OCSP_OFF &&
	    !SSL_set_tlsext_status_type(c->ssl, TLSEXT_STATUSTYPE_ocsp)) {
		tls_ossl_err(err, errsz, "OCSP status request");
		return -1;
	}
	return 0;
}

static int
tlsc_setup(struct tlsc *c, int fd, const struct tls_params *p,
    char *err, size_t errsz)
{
	SSL *ssl = c->ssl;

	if (tls_export_attach(ssl) == -1) {
		snprintf(err, errsz, "cannot attach the TLS state export");
		return -1;
	}
	if (!SSL_set_fd(ssl, fd)) {
		tls_ossl_err(err, errsz, "SSL_set_fd");
		return -1;
	}
	SSL_set_connect_state(ssl);
	/* The destination's floor, which may be below the context's (the
	 * global one) as well as above. */
	if (p->min_version != 0 &&
	    ((p->min_version != TLS1_2_VERSION &&
	         p->min_version != TLS1_3_VERSION) ||
	        !SSL_set_min_proto_version(ssl, p->min_version))) {
		snprintf(err, errsz, "minimum TLS version 0x%04x not allowed",
		    (unsigned)p->min_version);
		return -1;
	}
	if (tlsc_names(ssl, p, err, errsz) == -1)
		return -1;
	SSL_set_verify(
	    ssl, p->verify_peer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	if (p->anchors != NULL &&
	    !SSL_set1_verify_cert_store(ssl, p->anchors)) {
		tls_ossl_err(err, errsz, "trust anchors");
		return -1;
	}
	if (tlsc_revocation(c, p, err, errsz) == -1)
		return -1;
	if (p->cert != NULL &&
	    (!SSL_use_certificate(ssl, p->cert) ||
	        (p->chain != NULL && !SSL_set1_chain(ssl, p->chain)) ||
	        !SSL_use_PrivateKey(ssl, p->key) ||
	        !SSL_check_private_key(ssl))) {
		tls_ossl_err(err, errsz, "client certificate");
		return -1;
	}
	/* SSL_set_alpn_protos returns 0 on success. */
	if (p->alpn != NULL &&
	    SSL_set_alpn_protos(ssl, p->alpn, (unsigned)p->alpnlen) != 0) {
		tls_ossl_err(err, errsz, "ALPN");
		return -1;
	}
	/* A session that cannot be offered costs a full handshake only. */
	if (p->session != NULL && !SSL_set_session(ssl, p->session))
		ERR_clear_error();
	return 0;
}

struct tlsc *
tlsc_new(
    SSL_CTX *ctx, int fd, const struct tls_params *p, char *err, size_t errsz)
{
	struct tlsc *c;

	if (ctx == NULL || fd < 0 || p == NULL || p->host == NULL) {
		snprintf(err, errsz, "tlsc_new: bad arguments");
		return NULL;
	}
	if (p->alpn != NULL && !tls_alpn_ok(p->alpn, p->alpnlen)) {
		snprintf(err, errsz, "malformed ALPN protocol list");
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	ERR_clear_error();
	if ((c->ssl = SSL_new(ctx)) == NULL) {
		tls_ossl_err(err, errsz, "SSL_new");
		free(c);
		return NULL;
	}
	if (tlsc_setup(c, fd, p, err, errsz) == -1) {
		tlsc_free(c);
		return NULL;
	}
	c->events = EPOLLOUT;
	return c;
}

static int
tlsc_fail(struct tlsc *c, int sslerr, int syserr)
{
	unsigned long e = ERR_peek_error();
	long vr = SSL_get_verify_result(c->ssl);
	char buf[256];

	c->failed = 1;
	if (e != 0 && ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED &&
	    vr != X509_V_OK) {
		c->failed_verify = 1;
		snprintf(c->err, sizeof(c->err),
		    "certificate verify failed: %s",
		    X509_verify_cert_error_string(vr));
	} else if (e != 0) {
		tls_ossl_err(c->err, sizeof(c->err), "handshake failed");
	} else if (sslerr == SSL_ERROR_SYSCALL && syserr != 0) {
		c->sys_errno = syserr;
		snprintf(c->err, sizeof(c->err), "handshake failed: %s",
		    strerror(syserr));
	} else if (sslerr == SSL_ERROR_SYSCALL ||
	           sslerr == SSL_ERROR_ZERO_RETURN) {
		snprintf(c->err, sizeof(c->err),
		    "handshake failed: connection closed by peer");
	} else {
		snprintf(buf, sizeof(buf), "SSL error %d", sslerr);
		snprintf(c->err, sizeof(c->err), "handshake failed: %s", buf);
	}
	ERR_clear_error();
	return -1;
}

/* The OCSP outcome becomes the verify result when the chain verified. */
static void
tlsc_ocsp_apply(struct tlsc *c)
{
	X509 *leaf = SSL_get0_peer_certificate(c->ssl);
	long code = X509_V_OK;

	if (c->ocsp_mode == TLS_OCSP_OFF || leaf == NULL)
		return;
	if (SSL_session_reused(c->ssl)) {
		c->ocsp = CP_OCSP_NONE;
		return;
	}
	/* Only the context's own anchors are the same for every connection:
	 * a result under a client's anchors is not kept. */
	c->ocsp = ocsp_staple_check(c->ssl, c->store,
	    c->store == SSL_CTX_get_cert_store(SSL_get_SSL_CTX(c->ssl)),
	    c->ocsp_why, sizeof(c->ocsp_why));
	switch (c->ocsp) {
	case CP_OCSP_REVOKED:
		code = X509_V_ERR_CERT_REVOKED;
		break;
	case CP_OCSP_UNKNOWN:
		code = X509_V_ERR_OCSP_CERT_UNKNOWN;
		break;
	case CP_OCSP_INVALID:
		code = X509_V_ERR_OCSP_VERIFY_FAILED;
		break;
	case CP_OCSP_NONE:
		if (c->ocsp_mode == TLS_OCSP_REQUIRE) {
			code = X509_V_ERR_OCSP_VERIFY_NEEDED;
			snprintf(c->ocsp_why, sizeof(c->ocsp_why),
			    "no stapled response, and the policy requires one");
		} else if (ocsp_must_staple(leaf)) {
			code = X509_V_ERR_OCSP_VERIFY_NEEDED;
			snprintf(c->ocsp_why, sizeof(c->ocsp_why),
			    "no stapled response for a must-staple "
			    "certificate");
		}
		break;
	}
	if (code != X509_V_OK && SSL_get_verify_result(c->ssl) == X509_V_OK)
		SSL_set_verify_result(c->ssl, code);
	else
		c->ocsp_why[0] = '\0'; /* the chain's own error stands */
}

/* The handshake completed: enforce what SSL_VERIFY_PEER cannot see, a
 * resumed session or a server without a certificate. */
static int
tlsc_done(struct tlsc *c)
{
	int verify = SSL_get_verify_mode(c->ssl) & SSL_VERIFY_PEER;

	c->no_peer_cert = SSL_get0_peer_certificate(c->ssl) == NULL;
	if (verify && c->no_peer_cert) {
		c->failed = c->failed_verify = 1;
		snprintf(c->err, sizeof(c->err), "no certificate presented");
		return -1;
	}
	tlsc_ocsp_apply(c);
	if (verify && SSL_get_verify_result(c->ssl) != X509_V_OK) {
		c->failed = c->failed_verify = 1;
		snprintf(c->err, sizeof(c->err),
		    "certificate verify failed: %s%s%s%s",
		    X509_verify_cert_error_string(
		        SSL_get_verify_result(c->ssl)),
		    c->ocsp_why[0] ? " (OCSP: " : "", c->ocsp_why,
		    c->ocsp_why[0] ? ")" : "");
		return -1;
	}
	c->done = 1;
	c->events = 0;
	return 1;
}

int
tlsc_handshake(struct tlsc *c)
{
	int r, e, syserr;

	if (c->done)
		return 1;
	if (c->failed)
		return -1;
	ERR_clear_error();
	errno = 0;
	r = SSL_connect(c->ssl);
	syserr = errno;
	if (r == 1)
		return tlsc_done(c);
	switch ((e = SSL_get_error(c->ssl, r))) {
	case SSL_ERROR_WANT_READ:
		c->events = EPOLLIN;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		c->events = EPOLLOUT;
		return 0;
	default:
		return tlsc_fail(c, e, syserr);
	}
}

int
tlsc_events(const struct tlsc *c)
{
	return c->events;
}

long
tlsc_verify_result(const struct tlsc *c)
{
	long vr = c->ssl != NULL ? SSL_get_verify_result(c->ssl) : c->detached_vr;

	if (vr == X509_V_OK && c->no_peer_cert)
		return X509_V_ERR_APPLICATION_VERIFICATION;
	return vr;
}

int
tlsc_verified(const struct tlsc *c)
{
	/* OpenSSL starts with X509_V_OK and keeps the peer certificate
	 * only after checking its chain: either tells it was checked. */
	return c->done || SSL_get0_peer_certificate(c->ssl) != NULL ||
	       SSL_get_verify_result(c->ssl) != X509_V_OK;
}

int
tlsc_no_peer_cert(const struct tlsc *c)
{
	return c->no_peer_cert;
}

int
tlsc_failed_verify(const struct tlsc *c)
{
	return c->failed_verify;
}

int
tlsc_sys_errno(const struct tlsc *c)
{
	return c->sys_errno;
}

const char *
tlsc_error(const struct tlsc *c)
{
	return c->err;
}

int
tlsc_version(const struct tlsc *c)
{
	return c->done ? SSL_version(c->ssl) : 0;
}

const char *
tlsc_cipher(const struct tlsc *c)
{
	const SSL_CIPHER *ci;

	if (!c->done || (ci = SSL_get_current_cipher(c->ssl)) == NULL)
		return "";
	return SSL_CIPHER_get_name(ci);
}

const unsigned char *
tlsc_alpn(const struct tlsc *c, size_t *len)
{
	const unsigned char *p = NULL;
	unsigned int n = 0;

	if (c->done)
		SSL_get0_alpn_selected(c->ssl, &p, &n);
	*len = n;
	return n > 0 ? p : NULL;
}

int
tlsc_resumed(const struct tlsc *c)
{
	return c->done && SSL_session_reused(c->ssl);
}

int
tlsc_ocsp(const struct tlsc *c)
{
	return c->ocsp;
}

void
tls_chain_free(unsigned char **der, size_t *lens, int n)
{
	int i;

	for (i = 0; der != NULL && i < n; i++)
		free(der[i]);
	free(der);
	free(lens);
}

static int
tls_der(struct tlsc *c, X509 *x, unsigned char **out, size_t *outlen)
{
	unsigned char *p;
	int len;

	if ((len = i2d_X509(x, NULL)) <= 0) {
		tls_ossl_err(c->err, sizeof(c->err), "peer certificate");
		return -1;
	}
	if (len > CP_MAX_CERT) {
		snprintf(c->err, sizeof(c->err),
		    "peer certificate of %d bytes "
		    "exceeds the limit of %d",
		    len, CP_MAX_CERT);
		return -1;
	}
	if ((*out = p = malloc((size_t)len)) == NULL) {
		snprintf(c->err, sizeof(c->err), "out of memory");
		return -1;
	}
	*outlen = (size_t)i2d_X509(x, &p);
	return 0;
}

int
tlsc_chain(struct tlsc *c, unsigned char ***der, size_t **lens, int *n)
{
	STACK_OF(X509) *sk = SSL_get_peer_cert_chain(c->ssl);
	X509 *leaf = SSL_get0_peer_certificate(c->ssl);
	int i, cnt = sk != NULL ? sk_X509_num(sk) : 0;

	*der = NULL;
	*lens = NULL;
	*n = 0;
	if (leaf == NULL)
		return 0;
	/* A resumed session keeps only its leaf once encoded: so it came
	 * to the other engines, and which engine resumed must not change
	 * what the client sees.  The rest of the chain, verified when the
	 * session was made, is kept with it (resume.h). */
	if (cnt == 0 || SSL_session_reused(c->ssl)) {
		cnt = 1;
		sk = NULL;
	}
	if (cnt > CP_MAX_CHAIN) {
		snprintf(c->err, sizeof(c->err),
		    "peer sent %d certificates, "
		    "more than the limit of %d",
		    cnt, CP_MAX_CHAIN);
		return -1;
	}
	*der = calloc((size_t)cnt, sizeof(**der));
	*lens = calloc((size_t)cnt, sizeof(**lens));
	if (*der == NULL || *lens == NULL) {
		snprintf(c->err, sizeof(c->err), "out of memory");
		goto fail;
	}
	for (i = 0; i < cnt; i++) {
		X509 *x = sk != NULL && sk_X509_num(sk) > 0
		              ? sk_X509_value(sk, i)
		              : leaf;

		if (tls_der(c, x, &(*der)[i], &(*lens)[i]) == -1)
			goto fail;
	}
	*n = cnt;
	return 0;
fail:
	tls_chain_free(*der, *lens, cnt);
	*der = NULL;
	*lens = NULL;
	return -1;
}

int
tlsc_export(
    struct tlsc *c, struct cp_tls_state *st, char *err, size_t errsz)
{
	if (!c->done) {
		snprintf(err, errsz, "export before the handshake completed");
		return -1;
	}
	/* Bytes OpenSSL holds are bytes the library would never see. */
	if (SSL_has_pending(c->ssl)) {
		snprintf(err, errsz,
		    "TLS data buffered past the handshake "
		    "(%d bytes); hand-off refused",
		    SSL_pending(c->ssl));
		return -1;
	}
	return tls_export(c->ssl, st, err, errsz);
}

SSL *
tlsc_ssl(struct tlsc *c)
{
	return c->ssl;
}

/* Only after the handshake: every accessor that may follow (the audit
 * line's tlsc_verified) answers from c->done. */
SSL *
tlsc_detach(struct tlsc *c)
{
	SSL *ssl = c->ssl;

	if (!c->done)
		return NULL;
	/* Whoever frees it sends nothing; it must still read. */
	SSL_set_quiet_shutdown(ssl, 1);
	c->detached_vr = SSL_get_verify_result(ssl);
	c->ssl = NULL;
	return ssl;
}

void
tlsc_free(struct tlsc *c)
{
	if (c == NULL)
		return;
	if (c->ssl != NULL) {
		/* Send nothing: the socket may belong to a client by now. */
		SSL_set_quiet_shutdown(c->ssl, 1);
		SSL_set_shutdown(
		    c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
		SSL_free(c->ssl);
	}
	free(c);
}

int
tlsc_spki_each(struct tlsc *c, int (*fn)(void *, const uint8_t *),
    void *arg)
{
	STACK_OF(X509) *chain = SSL_get0_verified_chain(c->ssl);
	unsigned char *der = NULL, md[32];
	int i, len;

	/* Only a verified chain counts: a pin on an unverified certificate
	 * would trust whatever the peer claims. */
	if (chain == NULL || SSL_get_verify_result(c->ssl) != X509_V_OK)
		return 0;
	for (i = 0; i < sk_X509_num(chain); i++) {
		X509_PUBKEY *pk = X509_get_X509_PUBKEY(sk_X509_value(chain, i));

		der = NULL;
		if ((len = i2d_X509_PUBKEY(pk, &der)) <= 0)
			continue;
		SHA256(der, (size_t)len, md);
		OPENSSL_free(der);
		if (fn(arg, md))
			return 1;
	}
	return 0;
}
