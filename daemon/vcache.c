/* SPDX-License-Identifier: ISC */
/*
 * The verification cache.  See vcache.h.
 *
 * Building and checking a chain (two signatures, names, extensions) is a
 * quarter of a full handshake's work, and a program that connects to the
 * same server again and again presents the same chain each time.  The
 * daemon outlives the programs, so it can remember the outcome, as a
 * browser's certificate verifier does.  Only the chain's verification is
 * remembered: the handshake still proves the server holds the leaf's key
 * (CertificateVerify), and pins, stapled OCSP responses and the policy
 * are checked on every connect.
 *
 * The key is a SHA-256 over everything the outcome depends on: the trust
 * store (by a name its caller gives, tls.c), every verification parameter the
 * connection may set, and each certificate the server sent, in order.  Only a
 * success is kept, so an error is always found afresh and reported in full.  An
 * outcome lasts at most VC_TTL and never past the first notAfter in its chain;
 * a clock set back before the time it was made ends it too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509_vfy.h>

#include "vcache.h"

#define VC_MAX_NAMES 8 /* hosts in one verification parameter */

struct vc_entry {
	unsigned char key[SHA256_DIGEST_LENGTH];
	STACK_OF(X509) *chain; /* verified, leaf first; NULL: a free slot */
	time_t born, until;
	uint64_t used; /* the tick of the last hit or put */
};

struct vcache {
	struct vc_entry e[VC_SLOTS];
	uint64_t tick;
};

static uint64_t nhits;

struct vcache *
vcache_new(void)
{
	return calloc(1, sizeof(struct vcache));
}

static void
entry_clear(struct vc_entry *e)
{
	sk_X509_pop_free(e->chain, X509_free);
	memset(e, 0, sizeof(*e));
}

void
vcache_free(struct vcache *vc)
{
	size_t i;

	if (vc == NULL)
		return;
	for (i = 0; i < VC_SLOTS; i++)
		entry_clear(&vc->e[i]);
	free(vc);
}

uint64_t
vcache_hits(void)
{
	return nhits;
}

/* A length first, so no two sequences of fields hash alike. */
static int
key_bytes(EVP_MD_CTX *md, const void *p, size_t n)
{
	uint32_t len = (uint32_t)n;

	return EVP_DigestUpdate(md, &len, sizeof(len)) &&
	       (n == 0 || EVP_DigestUpdate(md, p, n));
}

static int
key_str(EVP_MD_CTX *md, const char *s)
{
	/* NULL and "" differ: the empty string has its terminator. */
	return s == NULL ? key_bytes(md, "", 0)
	                 : key_bytes(md, s, strlen(s) + 1);
}

static int
key_cert(EVP_MD_CTX *md, X509 *x)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der), ok;

	ok = n > 0 && key_bytes(md, der, (size_t)n);
	OPENSSL_free(der);
	return ok;
}

static int
key_param(EVP_MD_CTX *md, X509_VERIFY_PARAM *vp)
{
	struct {
		unsigned long flags;
		uint32_t inh, hostflags;
		int depth, level;
	} num;
	const char *h;
	char *ip;
	int i, ok;

	/* A fixed time is not now: such an outcome is not for later. */
	if (X509_VERIFY_PARAM_get_flags(vp) & X509_V_FLAG_USE_CHECK_TIME)
		return 0;
	memset(&num, 0, sizeof(num));
	num.flags = X509_VERIFY_PARAM_get_flags(vp);
	num.inh = X509_VERIFY_PARAM_get_inh_flags(vp);
	num.hostflags = X509_VERIFY_PARAM_get_hostflags(vp);
	num.depth = X509_VERIFY_PARAM_get_depth(vp);
	num.level = X509_VERIFY_PARAM_get_auth_level(vp);
	if (!key_bytes(md, &num, sizeof(num)))
		return 0;
	for (i = 0; (h = X509_VERIFY_PARAM_get0_host(vp, i)) != NULL; i++)
		if (i == VC_MAX_NAMES || !key_str(md, h))
			return 0;
	ip = X509_VERIFY_PARAM_get1_ip_asc(vp);
	ok = key_bytes(md, &i, sizeof(i)) && key_str(md, ip) &&
	     key_str(md, X509_VERIFY_PARAM_get0_email(vp));
	OPENSSL_free(ip);
	return ok;
}

int
vcache_key(X509_STORE_CTX *xctx, const void *store_id, size_t idlen,
    unsigned char key[SHA256_DIGEST_LENGTH])
{
	STACK_OF(X509) *sent = X509_STORE_CTX_get0_untrusted(xctx);
	X509 *leaf = X509_STORE_CTX_get0_cert(xctx);
	EVP_MD_CTX *md;
	unsigned int len = 0;
	int i, n, ok;

	if (leaf == NULL || store_id == NULL || (md = EVP_MD_CTX_new()) == NULL)
		return -1;
	/* Nothing here may leave an error behind: the handshake reports the
	 * first one in the queue. */
	ERR_set_mark();
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
	     key_bytes(md, "cpconnect vcache 1", 18) &&
	     key_bytes(md, store_id, idlen) &&
	     key_param(md, X509_STORE_CTX_get0_param(xctx)) &&
	     key_cert(md, leaf);
	/* What the server sent, how many and in order; libssl puts the leaf
	 * first, and it is in the key already. */
	n = sk_X509_num(sent);
	ok = ok && key_bytes(md, &n, sizeof(n));
	for (i = 0; ok && i < n; i++)
		if (i > 0 || sk_X509_value(sent, i) != leaf)
			ok = key_cert(md, sk_X509_value(sent, i));
	ok = ok && EVP_DigestFinal_ex(md, key, &len) &&
	     len == SHA256_DIGEST_LENGTH;
	EVP_MD_CTX_free(md);
	ERR_pop_to_mark();
	return ok ? 0 : -1;
}

static struct vc_entry *
entry_find(struct vcache *vc, const unsigned char *key)
{
	size_t i;

	for (i = 0; i < VC_SLOTS; i++)
		if (vc->e[i].chain != NULL &&
		    memcmp(vc->e[i].key, key, SHA256_DIGEST_LENGTH) == 0)
			return &vc->e[i];
	return NULL;
}

/* The chain as X509_verify_cert leaves it: this connection's leaf, then
 * the rest of the chain that was verified with the same bytes. */
static STACK_OF(X509) *
chain_for(const struct vc_entry *e, X509 *leaf)
{
	STACK_OF(X509) *sk = sk_X509_new_reserve(NULL, sk_X509_num(e->chain));
	int i;

	if (sk == NULL || !X509_up_ref(leaf)) {
		sk_X509_free(sk);
		return NULL;
	}
	sk_X509_push(sk, leaf); /* cannot fail: reserved */
	for (i = 1; i < sk_X509_num(e->chain); i++) {
		if (!X509_up_ref(sk_X509_value(e->chain, i))) {
			sk_X509_pop_free(sk, X509_free);
			return NULL;
		}
		sk_X509_push(sk, sk_X509_value(e->chain, i));
	}
	return sk;
}

int
vcache_hit(struct vcache *vc, const unsigned char *key, X509_STORE_CTX *xctx,
    time_t now)
{
	struct vc_entry *e;
	STACK_OF(X509) *sk;
	X509 *leaf;

	if (vc == NULL || xctx == NULL ||
	    (leaf = X509_STORE_CTX_get0_cert(xctx)) == NULL ||
	    (e = entry_find(vc, key)) == NULL)
		return 0;
	if (now < e->born || now >= e->until) {
		entry_clear(e);
		return 0;
	}
	if ((sk = chain_for(e, leaf)) == NULL)
		return 0; /* out of memory: verify, which may say why */
	X509_STORE_CTX_set0_verified_chain(xctx, sk);
	X509_STORE_CTX_set_error(xctx, X509_V_OK);
	X509_STORE_CTX_set_error_depth(xctx, 0);
	X509_STORE_CTX_set_current_cert(xctx, leaf);
	e->used = ++vc->tick;
	nhits++;
	return 1;
}

/* The first notAfter of the chain, or -1 if one cannot be read or the
 * chain is too big to keep. */
static time_t
chain_expiry(STACK_OF(X509) *chain)
{
	time_t first = -1, t;
	size_t bytes = 0;
	struct tm tm;
	int i, n;

	for (i = 0; i < sk_X509_num(chain); i++) {
		if ((n = i2d_X509(sk_X509_value(chain, i), NULL)) <= 0 ||
		    (bytes += (size_t)n) > VC_MAX_BYTES)
			return -1;
		memset(&tm, 0, sizeof(tm));
		if (!ASN1_TIME_to_tm(
		        X509_get0_notAfter(sk_X509_value(chain, i)), &tm) ||
		    (t = timegm(&tm)) == (time_t)-1)
			return -1;
		if (first == -1 || t < first)
			first = t;
	}
	return first;
}

static struct vc_entry *
slot_for(struct vcache *vc, const unsigned char *key)
{
	struct vc_entry *e = entry_find(vc, key), *old = &vc->e[0];
	size_t i;

	if (e != NULL)
		return e;
	for (i = 0; i < VC_SLOTS; i++) {
		if (vc->e[i].chain == NULL)
			return &vc->e[i];
		if (vc->e[i].used < old->used)
			old = &vc->e[i];
	}
	return old;
}

void
vcache_put(struct vcache *vc, const unsigned char *key, X509_STORE_CTX *xctx,
    time_t now)
{
	STACK_OF(X509) *chain;
	struct vc_entry *e;
	time_t until;

	if (vc == NULL || X509_STORE_CTX_get_error(xctx) != X509_V_OK ||
	    (chain = X509_STORE_CTX_get1_chain(xctx)) == NULL)
		return;
	until = chain_expiry(chain);
	if (sk_X509_num(chain) < 1 || until <= now) {
		sk_X509_pop_free(chain, X509_free);
		return;
	}
	if (until - now > VC_TTL)
		until = now + VC_TTL;
	e = slot_for(vc, key);
	entry_clear(e);
	memcpy(e->key, key, SHA256_DIGEST_LENGTH);
	e->chain = chain;
	e->born = now;
	e->until = until;
	e->used = ++vc->tick;
}
