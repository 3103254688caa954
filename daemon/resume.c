/* SPDX-License-Identifier: ISC */
/*
 * Shared TLS session resumption, the engine's part (resume.h): the cache
 * key, the replica of the parent's cache, and the wait for TLS 1.3
 * tickets.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "conf.h"
#include "ctl.h"
#include "engine_int.h"
#include "log.h"
#include "msg.h"
#include "ocsp.h"
#include "resume.h"
#include "tls.h"
#include "trust.h"

#define HDR 5
#define TAG 16

/* A TLS 1.3 connection whose tickets may still come. */
struct pending {
	SSL *ssl;       /* on memory BIOs; NULL: free slot */
	uint64_t rnd;   /* the cookie's secret part */
	uint64_t until; /* CLOCK_MONOTONIC ms */
	uint32_t uid;
	int tickets;
	const EVP_CIPHER *aead;
	unsigned char key[CP_MAX_KEY], iv[CP_IV_LEN];
	size_t keylen;
	uint64_t seq; /* of the next record the SSL object expects */
	struct sc_meta m;
	unsigned char *chain; /* below the leaf, for keep() */
	size_t chainlen;
};

struct resume {
	struct sesscache *sc;
	int mode;          /* SESSCACHE_* */
	uint8_t trust[32]; /* digest of the configured trust store */
	struct pending pend[RESUME_PENDING];
	/* SSL objects a new wait pushed out, freed by resume_reap() once the
	 * reply is out: a cold SSL_free was 2.4% of an engine's time, all of
	 * it before the reply (perf). */
	SSL *dead[RESUME_DEAD];
	int ndead;
	EVP_CIPHER_CTX *cctx;
};

static int64_t
wall_now(void)
{
	return (int64_t)time(NULL);
}

static void
sess_free(void *p)
{
	SSL_SESSION_free(p);
}

/* The trust store's identity: every certificate in it, in store order. */
static void
trust_digest(SSL_CTX *ctx, const struct trust *tr, uint8_t out[32])
{
	STACK_OF(X509_OBJECT) * objs;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char fp[EVP_MAX_MD_SIZE];
	unsigned int n;
	int i;

	memset(out, 0, 32);
	if (md == NULL || !EVP_DigestInit_ex(md, EVP_sha256(), NULL))
		goto done;
	objs = ctx != NULL
	           ? X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx))
	           : NULL;
	for (i = 0; objs != NULL && i < sk_X509_OBJECT_num(objs); i++) {
		X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));

		if (x != NULL && X509_digest(x, EVP_sha256(), fp, &n))
			EVP_DigestUpdate(md, fp, n);
	}
	/* A session resumed is not checked again: new CRLs, new sessions. */
	trust_crl_digest(tr, md);
	EVP_DigestFinal_ex(md, out, &n);
done:
	EVP_MD_CTX_free(md);
}

void
resume_init(struct engine *e)
{
	struct resume *rs;

	if ((rs = calloc(1, sizeof(*rs))) == NULL)
		fatal("session cache");
	rs->mode = e->conf->g.session_cache;
	if (rs->mode != SESSCACHE_OFF) {
		rs->sc = sc_new(e->conf->g.session_cache_size, sess_free);
		rs->cctx = EVP_CIPHER_CTX_new();
		if (rs->sc == NULL || rs->cctx == NULL)
			fatal("session cache");
		trust_digest(e->env->ssl, e->env->trust, rs->trust);
	}
	e->rs = rs;
}

static void
pend_free(struct pending *p)
{
	if (p->ssl != NULL) {
		/* On memory BIOs, and quiet: nothing reaches the server. */
		SSL_set_shutdown(
		    p->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
		SSL_free(p->ssl);
	}
	free(p->chain);
	explicit_bzero(p, sizeof(*p));
}

/* pend_free(), the SSL_free part after the reply (resume_reap()) when
 * there is room to hold it. */
static void
pend_free_later(struct resume *rs, struct pending *p)
{
	if (p->ssl != NULL && rs->ndead < RESUME_DEAD) {
		rs->dead[rs->ndead++] = p->ssl;
		p->ssl = NULL;
	}
	pend_free(p);
}

void
resume_reap(struct engine *e)
{
	struct resume *rs = e->rs;
	SSL *ssl;

	if (rs == NULL)
		return;
	while (rs->ndead > 0) {
		ssl = rs->dead[--rs->ndead];
		SSL_set_shutdown(
		    ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
		SSL_free(ssl);
	}
}

void
resume_finish(struct engine *e)
{
	struct resume *rs = e->rs;
	int i;

	if (rs == NULL)
		return;
	resume_reap(e);
	for (i = 0; i < RESUME_PENDING; i++)
		pend_free(&rs->pend[i]);
	sc_free(rs->sc);
	EVP_CIPHER_CTX_free(rs->cctx);
	free(rs);
	e->rs = NULL;
}

void
resume_tick(struct engine *e)
{
	struct resume *rs = e->rs;
	uint64_t now = ev_clock_ms();
	int i;

	if (rs == NULL)
		return;
	resume_reap(e); /* a request that ended without a reply */
	if (rs->sc == NULL)
		return;
	for (i = 0; i < RESUME_PENDING; i++)
		if (rs->pend[i].ssl != NULL && rs->pend[i].until <= now)
			pend_free(&rs->pend[i]);
}

/* ---- The key ---- */

static void
h_bytes(EVP_MD_CTX *md, const void *p, size_t len)
{
	uint32_t l = (uint32_t)len;

	EVP_DigestUpdate(md, &l, sizeof(l));
	if (len > 0)
		EVP_DigestUpdate(md, p, len);
}

static void
h_str(EVP_MD_CTX *md, const char *s)
{
	h_bytes(md, s != NULL ? s : "", s != NULL ? strlen(s) : 0);
}

static void
h_int(EVP_MD_CTX *md, int64_t v)
{
	EVP_DigestUpdate(md, &v, sizeof(v));
}

/* Every TLS setting of one policy block that decides what a handshake
 * may be accepted for. */
static void
h_dest(EVP_MD_CTX *md, const struct dest_tls *t)
{
	int i;

	h_int(md, t->verify);
	h_int(md, t->client_ca);
	h_int(md, t->min_version);
	h_int(md, t->cn_fallback);
	h_int(md, t->alpn_none);
	h_int(md, t->nalpn);
	for (i = 0; i < t->nalpn && i < CONF_MAX_ALPN; i++)
		h_str(md, t->alpn[i]);
	h_int(md, t->ocsp);
	h_str(md, t->crl_file);
	h_int(md, t->crl_all);
	h_str(md, t->cert_file);
	h_str(md, t->key_file);
	h_int(md, t->npins);
	for (i = 0; i < t->npins && i < CONF_MAX_PINS; i++)
		h_bytes(md, t->pins[i], 32);
}

static void
h_policy(EVP_MD_CTX *md, const struct tls_policy *tp)
{
	const struct cpconf *c = tp->conf;
	size_t i;

	h_dest(md, &tp->t);
	h_int(md, tp->global_pins);
	if (tp->global_pins)
		h_dest(md, &c->tls);
	for (i = 0; i < c->ndests && i < CONF_MAX_DESTS; i++)
		if (tp->pinned[i / 8] & (1u << (i % 8))) {
			h_int(md, (int64_t)i);
			h_dest(md, &c->dests[i].merged);
		}
}

static int
make_key(const struct resume *rs, const struct resume_in *in, uint8_t *key)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char fp[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	int ok;

	if (md == NULL || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(md);
		return -1;
	}
	h_str(md, "cpconnect session v1");
	/* shared: any user's handshake serves every user. */
	h_int(md, rs->mode == SESSCACHE_SHARED ? -1 : (int64_t)in->uid);
	h_str(md, in->host);
	h_int(md, in->port);
	h_str(md, in->sni);
	h_bytes(md, in->alpn, in->alpnlen);
	if (in->ca_hash != NULL)
		h_bytes(md, in->ca_hash, CP_HASH_LEN);
	else
		h_bytes(md, rs->trust, sizeof(rs->trust));
	if (in->client_cert != NULL &&
	    X509_digest(in->client_cert, EVP_sha256(), fp, &n))
		h_bytes(md, fp, n);
	else
		h_bytes(md, NULL, 0);
	h_int(md, in->verify_peer);
	h_policy(md, in->tp);
	ok = EVP_DigestFinal_ex(md, key, &n);
	EVP_MD_CTX_free(md);
	return ok ? 0 : -1;
}

/* ---- Lookup ---- */

void
resume_lookup(
    struct engine *e, const struct resume_in *in, struct resume_req *rq)
{
	struct resume *rs = e->rs;
	struct sc_entry *ent;
	const unsigned char *p;

	memset(rq, 0, sizeof(*rq));
	/* A resumed handshake has no staple: "ocsp require" asks for fresh
	 * evidence on every connection, so it neither offers nor keeps. */
	if (rs == NULL || rs->sc == NULL || in->tp->t.ocsp == OCSP_REQUIRE ||
	    make_key(rs, in, rq->key) == -1)
		return;
	rq->on = 1;
	rq->ocsp_off = in->tp->t.ocsp == OCSP_OFF;
	if ((ent = sc_get(rs->sc, rq->key, wall_now())) == NULL)
		return;
	if (ent->obj == NULL) {
		p = ent->der;
		ent->obj = d2i_SSL_SESSION(
		    NULL, &p, (long)(ent->derlen - ent->m.chainlen));
	}
	if (ent->obj == NULL || !SSL_SESSION_is_resumable(ent->obj)) {
		sc_del(rs->sc, rq->key);
		return;
	}
	/* A copy: the entry may go before the reply does. */
	if (ent->m.chainlen > 0 &&
	    (rq->chain = malloc(ent->m.chainlen)) != NULL) {
		memcpy(rq->chain, ent->der + ent->derlen - ent->m.chainlen,
		    ent->m.chainlen);
		rq->chainlen = ent->m.chainlen;
	}
	SSL_SESSION_up_ref(ent->obj);
	rq->sess = ent->obj;
	rq->offered = 1;
	rq->m = ent->m;
}

int
resume_chain_each(const struct resume_req *rq,
    int (*fn)(void *, const unsigned char *, size_t), void *arg)
{
	size_t off = 0;
	uint32_t len;
	int rv;

	/* Each certificate's length (uint32_t, host order), then its DER;
	 * made by chain_encode() in this binary, checked all the same. */
	while (rq->chain != NULL && rq->chainlen - off >= sizeof(len)) {
		memcpy(&len, rq->chain + off, sizeof(len));
		off += sizeof(len);
		if (len == 0 || len > rq->chainlen - off)
			return 0;
		if ((rv = fn(arg, rq->chain + off, len)) != 0)
			return rv;
		off += len;
	}
	return 0;
}

int
resume_spki(const struct resume_req *rq, const uint8_t (**spki)[32])
{
	*spki = (const uint8_t(*)[32])rq->m.spki;
	return rq->offered ? rq->m.nspki : 0;
}

void
resume_req_clear(struct resume_req *rq)
{
	if (rq->sess != NULL)
		SSL_SESSION_free(rq->sess);
	rq->sess = NULL;
	free(rq->chain);
	rq->chain = NULL;
	rq->chainlen = 0;
}

/* ---- Keeping a session ---- */

/* The session's lifetime, and no longer than its leaf is valid: a
 * resumed handshake would not notice an expired certificate. */
static int64_t
sess_expiry(SSL_SESSION *s, int64_t now)
{
	X509 *leaf = SSL_SESSION_get0_peer(s);
	int64_t t = (int64_t)SSL_SESSION_get_time(s) +
	            (int64_t)SSL_SESSION_get_timeout(s);
	unsigned long hint = SSL_SESSION_get_ticket_lifetime_hint(s);
	int days, secs;

	/* The server's word on its ticket (RFC 5077, RFC 8446 4.6.1). */
	if (SSL_SESSION_has_ticket(s) && hint > 0 &&
	    (int64_t)SSL_SESSION_get_time(s) + (int64_t)hint < t)
		t = (int64_t)SSL_SESSION_get_time(s) + (int64_t)hint;
	if (leaf != NULL &&
	    ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(leaf))) {
		int64_t na = now + (int64_t)days * 86400 + secs;

		if (na < t)
			t = na;
	}
	return t;
}

static void
send_put(struct engine *e, const struct sc_meta *m, const unsigned char *der,
    size_t derlen)
{
	static unsigned char buf[CTL_MAX_MSG];
	struct ctl_sess h;

	if (e->env->ctlfd == -1)
		return;
	memset(&h, 0, sizeof(h));
	h.type = CTL_SESS_PUT;
	h.derlen = (uint32_t)derlen;
	h.m = *m;
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), der, derlen);
	/* Best effort: a session the parent misses is a full handshake
	 * for the other engines, nothing more. */
	if (send(e->env->ctlfd, buf, sizeof(h) + derlen,
	        MSG_DONTWAIT | MSG_NOSIGNAL) == -1)
		log_debug("session cache: to the parent: %s", strerror(errno));
	explicit_bzero(buf, sizeof(h) + derlen);
}

/*
 * The verified chain below the leaf of a full handshake, in the form
 * keep() stores after the session: each certificate's length (uint32_t),
 * then its DER.  NULL and *len 0 when there is none or it would not fit.
 */
static unsigned char *
chain_encode(SSL *ssl, size_t *len)
{
	STACK_OF(X509) *sk = SSL_get_peer_cert_chain(ssl);
	unsigned char *out, *p, *at;
	uint32_t n;
	size_t total = 0;
	int i, l;

	*len = 0;
	for (i = 1; sk != NULL && i < sk_X509_num(sk); i++) {
		if ((l = i2d_X509(sk_X509_value(sk, i), NULL)) <= 0)
			return NULL;
		total += sizeof(n) + (size_t)l;
	}
	/* At most half an entry: the session and its leaf come first. */
	if (total == 0 || total > SC_MAX_DER / 2 ||
	    (out = malloc(total)) == NULL)
		return NULL;
	for (p = out, i = 1; i < sk_X509_num(sk); i++) {
		at = p;
		p += sizeof(n);
		n = (uint32_t)i2d_X509(sk_X509_value(sk, i), &p);
		memcpy(at, &n, sizeof(n));
	}
	*len = total;
	return out;
}

/* Keep s, with the chain below its leaf, under m's key, here and
 * (through the parent) in every engine. */
static void
keep(struct engine *e, struct sc_meta *m, SSL_SESSION *s,
    const unsigned char *chain, size_t chainlen)
{
	struct resume *rs = e->rs;
	unsigned char *der = NULL, *p;
	struct sc_entry *ent;
	int64_t now = wall_now();
	size_t len;
	int l;

	if (!SSL_SESSION_is_resumable(s))
		return;
	m->created = now;
	m->expires = sess_expiry(s, now);
	m->version = (uint16_t)SSL_SESSION_get_protocol_version(s);
	if (m->expires <= now || (l = i2d_SSL_SESSION(s, NULL)) <= 0 ||
	    (size_t)l > SC_MAX_DER)
		return;
	/* The chain goes along when it fits; without it a resumed
	 * handshake shows the leaf alone. */
	if ((size_t)l + chainlen > SC_MAX_DER)
		chainlen = 0;
	len = (size_t)l + chainlen;
	m->chainlen = (uint32_t)chainlen;
	if ((der = malloc(len)) == NULL)
		return;
	p = der;
	i2d_SSL_SESSION(s, &p);
	if (chainlen > 0)
		memcpy(der + l, chain, chainlen);
	if (sc_put(rs->sc, m, der, len) == 0 &&
	    (ent = sc_get(rs->sc, m->key, now)) != NULL) {
		ent->hits = 0;
		SSL_SESSION_up_ref(s);
		ent->obj = s;
	}
	send_put(e, m, der, len);
	OPENSSL_clear_free(der, len);
	log_debug("session cache: kept a TLS %s session for %s",
	    m->version == TLS1_3_VERSION ? "1.3" : "1.2", m->label);
}

static int
spki_add(void *arg, const uint8_t *spki)
{
	struct sc_meta *m = arg;

	memcpy(m->spki[m->nspki++], spki, 32);
	return m->nspki == SC_MAX_SPKI;
}

static const EVP_CIPHER *
suite_aead(uint16_t suite, size_t *keylen)
{
	switch (suite) {
	case 0x1301:
		*keylen = 16;
		return EVP_aes_128_gcm();
	case 0x1302:
		*keylen = 32;
		return EVP_aes_256_gcm();
	case 0x1303:
		*keylen = 32;
		return EVP_chacha20_poly1305();
	}
	return NULL;
}

/* A slot for a TLS 1.3 connection: a free one, or the one that waited
 * the longest. */
static struct pending *
pend_slot(struct resume *rs, uint32_t *idx)
{
	uint64_t now = ev_clock_ms();
	int i, old = 0;

	for (i = 0; i < RESUME_PENDING; i++) {
		if (rs->pend[i].ssl != NULL && rs->pend[i].until <= now)
			pend_free_later(rs, &rs->pend[i]);
		if (rs->pend[i].ssl == NULL)
			break;
		if (rs->pend[i].until < rs->pend[old].until)
			old = i;
	}
	if (i == RESUME_PENDING) {
		pend_free_later(rs, &rs->pend[old]);
		i = old;
	}
	*idx = (uint32_t)i;
	return &rs->pend[i];
}

/* Wait for the tickets of a TLS 1.3 connection: take its SSL object. */
static int
await_tickets(struct engine *e, const struct sc_meta *m,
    const struct resume_req *rq, struct tlsc *tls,
    const struct cp_tls_state *st, uint32_t uid, uint8_t *cookie)
{
	int resumed = tlsc_resumed(tls);
	struct resume *rs = e->rs;
	struct pending *p;
	const EVP_CIPHER *aead;
	size_t keylen = 0;
	uint32_t idx;
	BIO *rb, *wb;
	SSL *ssl;

	if ((aead = suite_aead(st->cipher, &keylen)) == NULL ||
	    keylen != st->rx.keylen)
		return 0;
	rb = BIO_new(BIO_s_mem());
	wb = BIO_new(BIO_s_mem());
	if (rb == NULL || wb == NULL) {
		BIO_free(rb);
		BIO_free(wb);
		return 0;
	}
	p = pend_slot(rs, &idx);
	if (RAND_bytes((unsigned char *)&p->rnd, sizeof(p->rnd)) != 1 ||
	    (ssl = tlsc_detach(tls)) == NULL) {
		BIO_free(rb);
		BIO_free(wb);
		return 0;
	}
	/* The socket is the client's now: the SSL object never sees it. */
	SSL_set_bio(ssl, rb, wb);
	/* Its record buffers (about 34 KiB, empty now) come back when a
	 * ticket is fed to it: up to RESUME_PENDING objects wait here. */
	(void)SSL_free_buffers(ssl);
	p->ssl = ssl;
	p->until = ev_clock_ms() + RESUME_WAIT_MS;
	p->uid = uid;
	p->aead = aead;
	p->keylen = keylen;
	memcpy(p->key, st->rx.key, keylen);
	memcpy(p->iv, st->rx.iv, CP_IV_LEN);
	p->seq = 0; /* the SSL object read no application record */
	p->m = *m;
	/* A full handshake's SSL object keeps its chain until a ticket
	 * comes; a resumed one has only what the session was kept with. */
	if (resumed && rq->chainlen > 0 &&
	    (p->chain = malloc(rq->chainlen)) != NULL) {
		memcpy(p->chain, rq->chain, rq->chainlen);
		p->chainlen = rq->chainlen;
	}
	memcpy(cookie, &e->pid, 4);
	memcpy(cookie + 4, &idx, 4);
	memcpy(cookie + 8, &p->rnd, 8);
	return 1;
}

int
resume_handshake_done(struct engine *e, struct resume_req *rq, struct tlsc *tls,
    const struct cp_tls_state *st, const char *label, uint32_t uid,
    uint8_t cookie[RESUME_COOKIE])
{
	SSL *ssl = tlsc_ssl(tls);
	int resumed = tlsc_resumed(tls);
	SSL_SESSION *s;
	struct sc_meta m;

	if (!rq->on)
		return 0;
	if (resumed)
		e->st.cache_hits++;
	else
		e->st.cache_misses++;
	memset(&m, 0, sizeof(m));
	if (resumed) {
		m = rq->m; /* verified when it was made */
	} else {
		/* Only a chain that verified may be resumed: a failure is
		 * reported afresh by every full handshake. */
		if (tlsc_verify_result(tls) != X509_V_OK ||
		    tlsc_no_peer_cert(tls))
			return 0;
		/* The same for a must-staple certificate (RFC 7633), unless
		 * the policy asked for no OCSP at all. */
		if (!rq->ocsp_off && SSL_get0_peer_certificate(ssl) != NULL &&
		    ocsp_must_staple(SSL_get0_peer_certificate(ssl)))
			return 0;
		m.verify_result = X509_V_OK;
		m.ocsp = (uint8_t)tlsc_ocsp(tls);
		tlsc_spki_each(tls, spki_add, &m);
	}
	memcpy(m.key, rq->key, SC_KEYLEN);
	m.uid = uid;
	m.shared = e->rs->mode == SESSCACHE_SHARED;
	snprintf(m.label, sizeof(m.label), "%s", label);
	if (st->version == 0x0304)
		return await_tickets(e, &m, rq, tls, st, uid, cookie);
	/* TLS 1.2: the session is complete; a resumed one is kept again
	 * only when the server renewed its ticket. */
	if ((s = SSL_get1_session(ssl)) == NULL)
		return 0;
	if (resumed && s != rq->sess)
		keep(e, &m, s, rq->chain, rq->chainlen);
	else if (!resumed) {
		unsigned char *chain;
		size_t chainlen;

		chain = chain_encode(ssl, &chainlen);
		keep(e, &m, s, chain, chainlen);
		free(chain);
	}
	SSL_SESSION_free(s);
	return 0;
}

/* ---- TLS 1.3 tickets ---- */

/* msg as the TLS 1.3 record that p's SSL object expects next. */
static int
seal(struct resume *rs, struct pending *p, const unsigned char *msg, size_t len,
    unsigned char *out, size_t *outlen)
{
	unsigned char nonce[CP_IV_LEN], type = 22; /* handshake */
	size_t clen = len + 1 + TAG;
	int n, i;

	memcpy(nonce, p->iv, CP_IV_LEN);
	for (i = 0; i < 8; i++)
		nonce[CP_IV_LEN - 1 - i] ^= (unsigned char)(p->seq >> (8 * i));
	out[0] = 23; /* application_data */
	out[1] = 3;
	out[2] = 3;
	out[3] = (unsigned char)(clen >> 8);
	out[4] = (unsigned char)clen;
	if (!EVP_EncryptInit_ex(rs->cctx, p->aead, NULL, NULL, NULL) ||
	    !EVP_CIPHER_CTX_ctrl(
	        rs->cctx, EVP_CTRL_AEAD_SET_IVLEN, CP_IV_LEN, NULL) ||
	    !EVP_EncryptInit_ex(rs->cctx, NULL, NULL, p->key, nonce) ||
	    !EVP_EncryptUpdate(rs->cctx, NULL, &n, out, HDR) ||
	    !EVP_EncryptUpdate(rs->cctx, out + HDR, &n, msg, (int)len) ||
	    !EVP_EncryptUpdate(rs->cctx, out + HDR + len, &n, &type, 1) ||
	    !EVP_EncryptFinal_ex(rs->cctx, out + HDR + len + 1, &n) ||
	    !EVP_CIPHER_CTX_ctrl(
	        rs->cctx, EVP_CTRL_AEAD_GET_TAG, TAG, out + HDR + len + 1))
		return -1;
	p->seq++;
	*outlen = HDR + clen;
	return 0;
}

/* Let OpenSSL read the ticket as if from the server, then keep the
 * session it made of it. */
static void
take_ticket(
    struct engine *e, struct pending *p, const unsigned char *msg, size_t len)
{
	static unsigned char rec[HDR + CP_MAX_TICKET + 1 + TAG];
	SSL_SESSION *before, *s;
	unsigned char b;
	size_t rlen;
	int r;

	before = SSL_get0_session(p->ssl);
	if (seal(e->rs, p, msg, len, rec, &rlen) == -1 ||
	    BIO_write(SSL_get_rbio(p->ssl), rec, (int)rlen) != (int)rlen) {
		pend_free(p);
		return;
	}
	ERR_clear_error();
	r = SSL_read(p->ssl, &b, 1);
	if (r > 0 || SSL_get_error(p->ssl, r) != SSL_ERROR_WANT_READ) {
		unsigned long ec = ERR_peek_error();

		log_debug("session cache: ticket for %s not taken: %s",
		    p->m.label,
		    ec != 0 ? ERR_reason_error_string(ec) : "not a ticket");
		ERR_clear_error();
		pend_free(p);
		return;
	}
	if ((s = SSL_get0_session(p->ssl)) != NULL && s != before) {
		if (p->chain == NULL)
			p->chain = chain_encode(p->ssl, &p->chainlen);
		keep(e, &p->m, s, p->chain, p->chainlen);
	}
	if (++p->tickets >= RESUME_TICKETS)
		pend_free(p);
}

static void
relay(struct engine *e, uint32_t owner, uint32_t uid, const uint8_t *cookie,
    const unsigned char *msg, size_t len)
{
	static unsigned char buf[sizeof(struct ctl_ticket) + CTL_TICKET_MAX];
	struct ctl_ticket h;

	if (e->env->ctlfd == -1 || len > CTL_TICKET_MAX)
		return;
	memset(&h, 0, sizeof(h));
	h.type = CTL_TICKET;
	h.owner = owner;
	h.uid = uid;
	h.len = (uint32_t)len;
	memcpy(h.cookie, cookie, RESUME_COOKIE);
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), msg, len);
	if (send(e->env->ctlfd, buf, sizeof(h) + len,
	        MSG_DONTWAIT | MSG_NOSIGNAL) == -1)
		log_debug("session cache: ticket relay: %s", strerror(errno));
}

void
resume_ticket(struct engine *e, uint32_t uid,
    const uint8_t cookie[RESUME_COOKIE], const unsigned char *msg, size_t len)
{
	struct resume *rs = e->rs;
	uint32_t owner, idx;
	uint64_t rnd;
	struct pending *p;

	if (rs == NULL || rs->sc == NULL)
		return;
	memcpy(&owner, cookie, 4);
	memcpy(&idx, cookie + 4, 4);
	memcpy(&rnd, cookie + 8, 8);
	if (owner != e->pid) {
		relay(e, owner, uid, cookie, msg, len);
		return;
	}
	if (idx >= RESUME_PENDING)
		return;
	p = &rs->pend[idx];
	/* The cookie's owner only: nobody else feeds its connection. */
	if (p->ssl == NULL || p->rnd != rnd || p->uid != uid ||
	    p->until <= ev_clock_ms())
		return;
	take_ticket(e, p, msg, len);
}

static void
ctl_put(struct engine *e, const void *msg, size_t n)
{
	struct ctl_sess h;

	if (n < sizeof(h))
		return;
	memcpy(&h, msg, sizeof(h));
	if (h.derlen == 0 || h.derlen != n - sizeof(h) ||
	    h.m.nspki > SC_MAX_SPKI)
		return;
	sc_put(
	    e->rs->sc, &h.m, (const unsigned char *)msg + sizeof(h), h.derlen);
	explicit_bzero(&h, sizeof(h));
}

void
resume_ctl(struct engine *e, uint32_t type, const void *msg, size_t n)
{
	struct ctl_sess_flush f;
	struct ctl_ticket t;

	if (e->rs == NULL || e->rs->sc == NULL)
		return;
	switch (type) {
	case CTL_SESS_PUT:
		ctl_put(e, msg, n);
		break;
	case CTL_SESS_FLUSH:
		if (n == sizeof(f)) {
			memcpy(&f, msg, sizeof(f));
			sc_flush(e->rs->sc, f.uid);
		}
		break;
	case CTL_TICKET:
		if (n < sizeof(t))
			break;
		memcpy(&t, msg, sizeof(t));
		if (t.owner == e->pid && t.len >= 4 &&
		    t.len <= CTL_TICKET_MAX && t.len == n - sizeof(t))
			resume_ticket(e, t.uid, t.cookie,
			    (const unsigned char *)msg + sizeof(t), t.len);
		break;
	}
}
