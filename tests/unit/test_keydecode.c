/* SPDX-License-Identifier: ISC */
/*
 * keydecode_init() against the test PKI: before it, a parsed certificate's
 * key comes from the default provider; after it, EC and RSA keys come from
 * libcrypto's built-in methods, and everything the engines do with such
 * keys still works: chain signatures verify (and a forged one does not),
 * the chain verifies against the store, ECDHE on the NIST curves derives
 * the same secret on both sides, ECDSA and RSA (PKCS#1 and PSS) sign and
 * verify.  Ed25519 keys keep the provider.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "../cutest.h"
#include "itest.h"
#include "keydecode.h"

static char pki[256];

/* A certificate of the PKI as a server sends it (DER), parsed now. */
static X509 *
parsed(const char *name)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	X509 *x = tpki_cert(pki, name), *y = NULL;
	int n = x != NULL ? i2d_X509(x, &der) : 0;

	if (n > 0) {
		p = der;
		y = d2i_X509(NULL, &p, n);
	}
	OPENSSL_free(der);
	X509_free(x);
	return y;
}

/* 1: k is a built-in key, 0: a provider's.  A provider's key has its
 * key manager's description ("OpenSSL EC implementation"), a built-in
 * one its ASN.1 method's ("OpenSSL EC algorithm"). */
static int
key_builtin(const EVP_PKEY *k)
{
	const char *d = k != NULL ? EVP_PKEY_get0_description(k) : NULL;

	return d != NULL && strstr(d, "implementation") == NULL;
}

static int
builtin(const X509 *x)
{
	return key_builtin(X509_get0_pubkey(x));
}

static EVP_PKEY *before_ec, *before_rsa;

static void
test_before(void)
{
	X509 *e2 = parsed("valid.pem"), *r2 = parsed("valid-rsa.pem");

	CU_ASSERT_FATAL(e2 != NULL && r2 != NULL);
	CU_ASSERT(!builtin(e2));
	CU_ASSERT(!builtin(r2));
	before_ec = X509_get_pubkey(e2);
	before_rsa = X509_get_pubkey(r2);
	X509_free(e2);
	X509_free(r2);
}

static void
test_init(void)
{
	char err[128];

	CU_ASSERT_EQUAL(keydecode_init(err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(keydecode_init(err, sizeof(err)), 0); /* once */
}

static void
test_parsed_keys(void)
{
	X509 *leaf = parsed("valid.pem"), *rsa = parsed("valid-rsa.pem");
	X509 *inter = parsed("int.pem"), *root = parsed("root.pem");
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();

	CU_ASSERT_FATAL(leaf != NULL && inter != NULL && root != NULL);
	CU_ASSERT_FATAL(rsa != NULL);
	CU_ASSERT(builtin(leaf));
	CU_ASSERT(builtin(inter));
	CU_ASSERT(builtin(rsa));
	/* The same keys as the provider's. */
	CU_ASSERT_EQUAL(EVP_PKEY_eq(X509_get0_pubkey(leaf), before_ec), 1);
	CU_ASSERT_EQUAL(EVP_PKEY_eq(X509_get0_pubkey(rsa), before_rsa), 1);
	/* Signatures of the chain, by built-in keys. */
	CU_ASSERT_EQUAL(X509_verify(leaf, X509_get0_pubkey(inter)), 1);
	CU_ASSERT_EQUAL(X509_verify(rsa, X509_get0_pubkey(inter)), 1);
	CU_ASSERT_EQUAL(X509_verify(inter, X509_get0_pubkey(root)), 1);
	CU_ASSERT_NOT_EQUAL(X509_verify(leaf, X509_get0_pubkey(root)), 1);
	/* And the whole chain, as the engines verify it. */
	CU_ASSERT_FATAL(st != NULL && ctx != NULL && untrusted != NULL);
	CU_ASSERT(X509_STORE_add_cert(st, root) == 1);
	CU_ASSERT(sk_X509_push(untrusted, inter) > 0);
	CU_ASSERT_FATAL(X509_STORE_CTX_init(ctx, st, leaf, untrusted) == 1);
	CU_ASSERT_EQUAL(X509_verify_cert(ctx), 1);
	CU_ASSERT_EQUAL(X509_STORE_CTX_get_error(ctx), X509_V_OK);
	X509_STORE_CTX_free(ctx);
	sk_X509_free(untrusted);
	X509_STORE_free(st);
	X509_free(leaf);
	X509_free(inter);
	X509_free(root);
	X509_free(rsa);
}

/* A byte of the signature changed: the built-in verifier says no. */
static void
test_forged(void)
{
	X509 *leaf = tpki_cert(pki, "valid.pem"), *inter = parsed("int.pem"),
	     *f;
	unsigned char *der = NULL;
	const unsigned char *p;
	int n = i2d_X509(leaf, &der);

	CU_ASSERT_FATAL(n > 20 && inter != NULL);
	der[n - 5] ^= 0x01; /* inside the signature's last INTEGER */
	p = der;
	f = d2i_X509(NULL, &p, n);
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_NOT_EQUAL(X509_verify(f, X509_get0_pubkey(inter)), 1);
	X509_free(f);
	X509_free(leaf);
	X509_free(inter);
	OPENSSL_free(der);
}

static int
derive(EVP_PKEY *mine, EVP_PKEY *peer, unsigned char *out, size_t *len)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(mine, NULL);
	int ok = c != NULL && EVP_PKEY_derive_init(c) == 1 &&
	         EVP_PKEY_derive_set_peer(c, peer) == 1 &&
	         EVP_PKEY_derive(c, out, len) == 1;

	EVP_PKEY_CTX_free(c);
	return ok;
}

/* A key share as libssl makes one: by the group's OpenSSL name (its
 * group table's internal name, which the built-in method knows; the
 * built-in method does not know the NIST aliases such as "P-256", which
 * nothing in an engine uses). */
static EVP_PKEY *
ec_gen(const char *group)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *k = NULL;

	if (c == NULL || EVP_PKEY_keygen_init(c) != 1 ||
	    EVP_PKEY_CTX_set_group_name(c, group) != 1 ||
	    EVP_PKEY_keygen(c, &k) != 1)
		k = NULL;
	EVP_PKEY_CTX_free(c);
	return k;
}

/* ECDHE as libssl does it: generate by group name, then derive. */
static void
test_ecdhe(void)
{
	static const char *groups[] = {"prime256v1", "secp384r1", "secp521r1"};
	unsigned char s1[128], s2[128];
	size_t i, l1, l2;

	for (i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		EVP_PKEY *a = ec_gen(groups[i]), *b = ec_gen(groups[i]);

		CU_ASSERT_FATAL(a != NULL && b != NULL);
		CU_ASSERT(key_builtin(a) && key_builtin(b));
		l1 = sizeof(s1);
		l2 = sizeof(s2);
		CU_ASSERT(derive(a, b, s1, &l1));
		CU_ASSERT(derive(b, a, s2, &l2));
		CU_ASSERT(l1 == l2 && l1 > 0 && memcmp(s1, s2, l1) == 0);
		EVP_PKEY_free(a);
		EVP_PKEY_free(b);
	}
}

static int
sign_verify(EVP_PKEY *k, int pss, int tamper)
{
	unsigned char msg[] = "CertificateVerify", sig[1024];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	int ok;

	ok = m != NULL &&
	     EVP_DigestSignInit(m, &pc, EVP_sha256(), NULL, k) == 1 &&
	     (!pss || EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) ==
	                  1) &&
	     EVP_DigestSign(m, sig, &siglen, msg, sizeof(msg)) == 1;
	EVP_MD_CTX_free(m);
	if (!ok)
		return -1;
	if (tamper)
		sig[siglen / 2] ^= 0x40;
	m = EVP_MD_CTX_new();
	pc = NULL;
	ok = m != NULL &&
	     EVP_DigestVerifyInit(m, &pc, EVP_sha256(), NULL, k) == 1 &&
	     (!pss || EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) ==
	                  1) &&
	     EVP_DigestVerify(m, sig, siglen, msg, sizeof(msg)) == 1;
	EVP_MD_CTX_free(m);
	return ok;
}

static void
test_signatures(void)
{
	EVP_PKEY *ec = ec_gen("prime256v1"), *rsa = EVP_RSA_gen(2048);

	CU_ASSERT_FATAL(ec != NULL && rsa != NULL);
	CU_ASSERT(key_builtin(ec) && key_builtin(rsa));
	CU_ASSERT_EQUAL(sign_verify(ec, 0, 0), 1);
	CU_ASSERT_EQUAL(sign_verify(ec, 0, 1), 0);
	CU_ASSERT_EQUAL(sign_verify(rsa, 0, 0), 1);
	CU_ASSERT_EQUAL(sign_verify(rsa, 0, 1), 0);
	CU_ASSERT_EQUAL(sign_verify(rsa, 1, 0), 1);
	CU_ASSERT_EQUAL(sign_verify(rsa, 1, 1), 0);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(rsa);
}

/* Key types the engine does not take keep the provider. */
static void
test_others_unchanged(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	const char *d;

	CU_ASSERT_FATAL(k != NULL);
	d = EVP_PKEY_get0_description(k);
	CU_ASSERT(d != NULL && !key_builtin(k));
	EVP_PKEY_free(k);
}

static int
suite_init(void)
{
	return tpki_make(pki, sizeof(pki), cu_tmpdir()) == -1 ? -1 : 0;
}

static int
suite_clean(void)
{
	EVP_PKEY_free(before_ec);
	EVP_PKEY_free(before_rsa);
	return 0;
}

int
main(void)
{
	CU_pSuite s = cu_suite("keydecode", suite_init, suite_clean);

	cu_test(s, "before: the provider's keys", test_before);
	cu_test(s, "keydecode_init", test_init);
	cu_test(s, "after: built-in keys, the same keys, the chain verifies",
	    test_parsed_keys);
	cu_test(s, "a forged signature fails", test_forged);
	cu_test(s, "ECDHE on P-256, P-384, P-521", test_ecdhe);
	cu_test(
	    s, "ECDSA, RSA PKCS#1 and PSS sign and verify", test_signatures);
	cu_test(s, "Ed25519 keeps the provider", test_others_unchanged);
	return cu_finish();
}
