/* SPDX-License-Identifier: ISC */
/*
 * The verification cache against real chains of the test PKI: a success
 * is found again with the same chain it verified; a different name,
 * certificate, rule or store is verified afresh; failures are never kept;
 * an outcome ends at VC_TTL, at the chain's first notAfter and when the
 * clock goes back; a chain above VC_MAX_BYTES is not kept; the oldest
 * entry makes room.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "../cutest.h"
#include "itest.h"
#include "vcache.h"

static char pki[256];
static X509_STORE *store, *store2;
static X509 *leaf, *inter, *other, *big;
static STACK_OF(X509) *sent;     /* leaf and intermediate, as a server sends */
static STACK_OF(X509) *sent_ex;  /* the expired leaf and the intermediate */
static STACK_OF(X509) *sent_big; /* a leaf above VC_MAX_BYTES, and int */

/* What one verification through the cache did. */
struct vr {
	int hit;    /* answered from the cache */
	long err;   /* the X509 error left in the context */
	int nchain; /* the verified chain's length */
	int same_leaf, same_root;
};

struct vopts {
	X509_STORE *st;
	X509 *leaf;
	STACK_OF(X509) *sent;
	const char *host;
	unsigned hostflags;
	int depth; /* 0: the default */
	time_t now;
};

static X509 *root;

static struct vr
verify(struct vcache *vc, const struct vopts *o)
{
	unsigned char key[SHA256_DIGEST_LENGTH];
	X509_STORE_CTX *x = X509_STORE_CTX_new();
	X509_VERIFY_PARAM *vp;
	STACK_OF(X509) *ch;
	X509_STORE *st;
	struct vr r;

	memset(&r, 0, sizeof(r));
	r.err = -1;
	if (x == NULL ||
	    !X509_STORE_CTX_init(x, o->st ? o->st : store,
	        o->leaf ? o->leaf : leaf, o->sent ? o->sent : sent)) {
		X509_STORE_CTX_free(x);
		return r;
	}
	X509_STORE_CTX_set_default(x, "ssl_server");
	vp = X509_STORE_CTX_get0_param(x);
	X509_VERIFY_PARAM_set1_host(vp, o->host ? o->host : "localhost", 0);
	X509_VERIFY_PARAM_set_hostflags(vp, o->hostflags);
	if (o->depth)
		X509_VERIFY_PARAM_set_depth(vp, o->depth);
	st = o->st ? o->st : store;
	CU_ASSERT_EQUAL_FATAL(vcache_key(x, &st, sizeof(st), key), 0);
	r.hit = vcache_hit(vc, key, x, o->now);
	if (!r.hit && X509_verify_cert(x) > 0)
		vcache_put(vc, key, x, o->now);
	r.err = X509_STORE_CTX_get_error(x);
	if ((ch = X509_STORE_CTX_get0_chain(x)) != NULL) {
		r.nchain = sk_X509_num(ch);
		r.same_leaf =
		    sk_X509_value(ch, 0) == (o->leaf ? o->leaf : leaf);
		r.same_root =
		    r.nchain > 0 &&
		    X509_cmp(sk_X509_value(ch, r.nchain - 1), root) == 0;
	}
	X509_STORE_CTX_free(x);
	return r;
}

/* One verification through the cache: hit or not, and the X509 error. */
static void
expect(struct vcache *vc, const struct vopts *o, int hit, long err)
{
	struct vr r = verify(vc, o);

	CU_ASSERT_EQUAL(r.hit, hit);
	CU_ASSERT_EQUAL(r.err, err);
}

static time_t
not_after(X509 *x)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	CU_ASSERT_FATAL(ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1);
	return timegm(&tm);
}

/*
 * The chain's first notAfter: the PKI is made certificate by certificate,
 * so the leaf may end a second after the intermediate that signed it.
 */
static time_t
chain_end(void)
{
	time_t end = not_after(leaf), t;

	if ((t = not_after(inter)) < end)
		end = t;
	if ((t = not_after(root)) < end)
		end = t;
	return end;
}

static void
test_hit(void)
{
	struct vcache *vc = vcache_new();
	struct vopts o = {.now = time(NULL)};
	uint64_t h0 = vcache_hits();
	struct vr r;

	CU_ASSERT_PTR_NOT_NULL_FATAL(vc);
	r = verify(vc, &o);
	CU_ASSERT_EQUAL(r.hit, 0);
	CU_ASSERT_EQUAL(r.err, X509_V_OK);
	CU_ASSERT_EQUAL(r.nchain, 3);
	r = verify(vc, &o);
	CU_ASSERT_EQUAL(r.hit, 1);
	CU_ASSERT_EQUAL(r.err, X509_V_OK);
	/* As X509_verify_cert leaves it: this leaf, up to the anchor. */
	CU_ASSERT_EQUAL(r.nchain, 3);
	CU_ASSERT_EQUAL(r.same_leaf, 1);
	CU_ASSERT_EQUAL(r.same_root, 1);
	CU_ASSERT_EQUAL(vcache_hits(), h0 + 1);
	vcache_free(vc);
}

static void
test_misses(void)
{
	struct vcache *vc = vcache_new();
	struct vopts o = {.now = time(NULL)}, m;
	STACK_OF(X509) *alone = sk_X509_new_null();

	CU_ASSERT_PTR_NOT_NULL_FATAL(vc);
	CU_ASSERT_PTR_NOT_NULL_FATAL(alone);
	sk_X509_push(alone, leaf);
	CU_ASSERT_EQUAL(verify(vc, &o).hit, 0);
	CU_ASSERT_EQUAL(verify(vc, &o).hit, 1);

	/* Another name: verified, and its failure is never kept. */
	m = o;
	m.host = "other.example";
	expect(vc, &m, 0, X509_V_ERR_HOSTNAME_MISMATCH);
	expect(vc, &m, 0, X509_V_ERR_HOSTNAME_MISMATCH);

	/* The same leaf without its intermediate: other bytes sent. */
	m = o;
	m.sent = alone;
	expect(vc, &m, 0, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);

	/* Another certificate for the same name, expired. */
	m = o;
	m.leaf = other;
	m.sent = sent_ex;
	expect(vc, &m, 0, X509_V_ERR_CERT_HAS_EXPIRED);

	/* Other rules, another store with the same anchors. */
	m = o;
	m.hostflags = X509_CHECK_FLAG_NEVER_CHECK_SUBJECT;
	CU_ASSERT_EQUAL(verify(vc, &m).hit, 0);
	CU_ASSERT_EQUAL(verify(vc, &m).hit, 1);
	m = o;
	m.depth = 3;
	CU_ASSERT_EQUAL(verify(vc, &m).hit, 0);
	m = o;
	m.st = store2;
	CU_ASSERT_EQUAL(verify(vc, &m).hit, 0);

	/* Good, but too big to keep. */
	m = o;
	m.leaf = big;
	m.sent = sent_big;
	expect(vc, &m, 0, X509_V_OK);
	expect(vc, &m, 0, X509_V_OK);

	/* And the first is still there. */
	CU_ASSERT_EQUAL(verify(vc, &o).hit, 1);
	sk_X509_free(alone);
	vcache_free(vc);
}

static void
test_lifetime(void)
{
	struct vcache *vc = vcache_new();
	time_t t = time(NULL), end = chain_end();
	struct vopts o = {.now = t}, m;

	CU_ASSERT_PTR_NOT_NULL_FATAL(vc);
	CU_ASSERT_EQUAL(verify(vc, &o).hit, 0);
	m = o;
	m.now = t + VC_TTL - 1;
	CU_ASSERT_EQUAL(verify(vc, &m).hit, 1);
	m.now = t + VC_TTL;
	CU_ASSERT_EQUAL(verify(vc, &m).hit, 0); /* and kept again, at t+TTL */
	m.now = t + VC_TTL - 1;
	CU_ASSERT_EQUAL(verify(vc, &m).hit, 0); /* the clock went back */
	vcache_free(vc);

	/* Kept 10 s before the chain expires: not a second past it. */
	CU_ASSERT_FATAL(end > t);
	vc = vcache_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(vc);
	m = o;
	m.now = end - 10;
	CU_ASSERT_EQUAL(verify(vc, &m).hit, 0);
	m.now = end - 1;
	CU_ASSERT_EQUAL(verify(vc, &m).hit, 1);
	m.now = end;
	CU_ASSERT_EQUAL(verify(vc, &m).hit, 0);
	vcache_free(vc);
}

/* VC_SLOTS + 1 outcomes (one depth each): the least recently used goes. */
static void
test_lru(void)
{
	struct vcache *vc = vcache_new();
	struct vopts o = {.now = time(NULL)};
	int i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(vc);
	for (i = 0; i < VC_SLOTS; i++) {
		o.depth = 10 + i;
		CU_ASSERT_EQUAL(verify(vc, &o).hit, 0);
	}
	o.depth = 10; /* used again: now the newest */
	CU_ASSERT_EQUAL(verify(vc, &o).hit, 1);
	o.depth = 10 + VC_SLOTS; /* replaces depth 11 */
	CU_ASSERT_EQUAL(verify(vc, &o).hit, 0);
	o.depth = 10;
	CU_ASSERT_EQUAL(verify(vc, &o).hit, 1);
	o.depth = 10 + VC_SLOTS;
	CU_ASSERT_EQUAL(verify(vc, &o).hit, 1);
	o.depth = 11; /* kept again, in the place of depth 12 */
	CU_ASSERT_EQUAL(verify(vc, &o).hit, 0);
	o.depth = 12;
	CU_ASSERT_EQUAL(verify(vc, &o).hit, 0);
	o.depth = 14;
	CU_ASSERT_EQUAL(verify(vc, &o).hit, 1);
	vcache_free(vc);
}

/* A verification at a set time is not one for later. */
static void
test_not_kept(void)
{
	unsigned char key[SHA256_DIGEST_LENGTH];
	X509_STORE_CTX *x = X509_STORE_CTX_new();

	CU_ASSERT_PTR_NOT_NULL_FATAL(x);
	CU_ASSERT_FATAL(X509_STORE_CTX_init(x, store, leaf, sent) == 1);
	CU_ASSERT_EQUAL(vcache_key(x, "s", 1, key), 0);
	CU_ASSERT_EQUAL(vcache_key(x, NULL, 0, key), -1); /* no store name */
	X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(x), time(NULL));
	CU_ASSERT_EQUAL(vcache_key(x, "s", 1, key), -1);
	X509_STORE_CTX_free(x);
	/* No cache: every lookup misses, nothing is kept. */
	CU_ASSERT_EQUAL(vcache_hit(NULL, key, NULL, 0), 0);
	vcache_free(NULL);
}

static int
suite_init(void)
{
	if (tpki_make(pki, sizeof(pki), cu_tmpdir()) == -1 ||
	    (store = X509_STORE_new()) == NULL ||
	    (store2 = X509_STORE_new()) == NULL ||
	    !X509_STORE_load_file(store, tpath(pki, "ca.pem")) ||
	    !X509_STORE_load_file(store2, tpath(pki, "ca.pem")) ||
	    (leaf = tpki_cert(pki, "valid.pem")) == NULL ||
	    (inter = tpki_cert(pki, "int.pem")) == NULL ||
	    (other = tpki_cert(pki, "expired.pem")) == NULL ||
	    (big = tpki_cert(pki, "big.pem")) == NULL ||
	    (root = tpki_cert(pki, "root.pem")) == NULL ||
	    (sent = sk_X509_new_null()) == NULL ||
	    (sent_ex = sk_X509_new_null()) == NULL ||
	    (sent_big = sk_X509_new_null()) == NULL) {
		fprintf(stderr, "test PKI: cannot load\n");
		return -1;
	}
	sk_X509_push(sent, leaf);
	sk_X509_push(sent, inter);
	sk_X509_push(sent_ex, other);
	sk_X509_push(sent_ex, inter);
	sk_X509_push(sent_big, big);
	sk_X509_push(sent_big, inter);
	return 0;
}

static int
suite_clean(void)
{
	sk_X509_free(sent);
	sk_X509_free(sent_ex);
	sk_X509_free(sent_big);
	X509_free(big);
	X509_free(leaf);
	X509_free(inter);
	X509_free(other);
	X509_free(root);
	X509_STORE_free(store);
	X509_STORE_free(store2);
	return 0;
}

int
main(void)
{
	CU_pSuite s = cu_suite("vcache", suite_init, suite_clean);

	cu_test(s, "a success is found again", test_hit);
	cu_test(s, "anything else is verified", test_misses);
	cu_test(s, "lifetime", test_lifetime);
	cu_test(s, "least recently used", test_lru);
	cu_test(s, "not kept", test_not_kept);
	return cu_finish();
}
