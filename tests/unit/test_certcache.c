/* SPDX-License-Identifier: ISC */
/*
 * The library's cache of decoded peer certificates: hits are the same
 * object, misses and evictions decode again, bad DER is refused, and
 * references outlive the cache.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "../cutest.h"
#include "certcache.h"
#include "cpproto.h"

#define NCERTS 24 /* more than the cache holds */

static unsigned char *der[NCERTS];
static int derlen[NCERTS];

/* A self-signed EC certificate with CN "cert <i>", as DER. */
static int
make_cert(int i)
{
	EVP_PKEY *k;
	X509 *x;
	char cn[32];
	int ok = 0;

	if ((k = EVP_EC_gen("P-256")) == NULL || (x = X509_new()) == NULL)
		return 0;
	snprintf(cn, sizeof(cn), "cert %d", i);
	ASN1_INTEGER_set(X509_get_serialNumber(x), i + 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	if (X509_set_pubkey(x, k) && X509_sign(x, k, EVP_sha256()) > 0) {
		der[i] = NULL;
		derlen[i] = i2d_X509(x, &der[i]);
		ok = derlen[i] > 0;
	}
	X509_free(x);
	EVP_PKEY_free(k);
	return ok;
}

static int
suite_init(void)
{
	int i;

	for (i = 0; i < NCERTS; i++)
		if (!make_cert(i))
			return -1;
	return 0;
}

static int
suite_clean(void)
{
	int i;

	cert_cache_clear();
	for (i = 0; i < NCERTS; i++)
		OPENSSL_free(der[i]);
	return 0;
}

static int
has_cn(X509 *x, int i)
{
	char want[32], got[64];

	snprintf(want, sizeof(want), "cert %d", i);
	return x != NULL &&
	    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName,
		got, sizeof(got)) > 0 &&
	    strcmp(got, want) == 0;
}

static void
test_hit(void)
{
	X509 *a, *b;

	cert_cache_clear();
	a = cert_decode(der[0], (size_t)derlen[0]);
	b = cert_decode(der[0], (size_t)derlen[0]);
	CU_ASSERT(has_cn(a, 0));
	CU_ASSERT_PTR_EQUAL(a, b); /* decoded once */
	X509_free(a);
	/* b is still a reference of its own. */
	CU_ASSERT(has_cn(b, 0));
	X509_free(b);
	/* Another certificate is another object. */
	a = cert_decode(der[1], (size_t)derlen[1]);
	CU_ASSERT(has_cn(a, 1));
	X509_free(a);
}

static void
test_bad_der(void)
{
	unsigned char *longer;

	CU_ASSERT_PTR_NULL(cert_decode(der[0], 0));
	CU_ASSERT_PTR_NULL(cert_decode(der[0], (size_t)derlen[0] - 1));
	CU_ASSERT_PTR_NULL(cert_decode((const unsigned char *)"\x30\x03" "abc", 5));
	CU_ASSERT_PTR_NULL(cert_decode(der[0], CP_MAX_CERT + 1));
	/* A valid certificate followed by a byte: refused, also after a hit
	 * on the exact bytes. */
	longer = malloc((size_t)derlen[0] + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(longer);
	memcpy(longer, der[0], (size_t)derlen[0]);
	longer[derlen[0]] = 0;
	X509_free(cert_decode(der[0], (size_t)derlen[0]));
	CU_ASSERT_PTR_NULL(cert_decode(longer, (size_t)derlen[0] + 1));
	free(longer);
}

static void
test_eviction(void)
{
	X509 *first, *again, *x;
	int i;

	cert_cache_clear();
	first = cert_decode(der[0], (size_t)derlen[0]);
	CU_ASSERT(has_cn(first, 0));
	for (i = 1; i < NCERTS; i++) {
		x = cert_decode(der[i], (size_t)derlen[i]);
		CU_ASSERT(has_cn(x, i));
		X509_free(x);
	}
	/* Evicted long ago: decoded anew, equal content. */
	again = cert_decode(der[0], (size_t)derlen[0]);
	CU_ASSERT(has_cn(again, 0));
	CU_ASSERT_PTR_NOT_EQUAL(first, again);
	CU_ASSERT_EQUAL(X509_cmp(first, again), 0);
	/* The latest one is still cached: a hit. */
	x = cert_decode(der[NCERTS - 1], (size_t)derlen[NCERTS - 1]);
	CU_ASSERT_PTR_NOT_NULL(x);
	X509_free(x);
	x = cert_decode(der[NCERTS - 1], (size_t)derlen[NCERTS - 1]);
	CU_ASSERT(has_cn(x, NCERTS - 1));
	X509_free(x);
	/* References outlive clearing the cache. */
	cert_cache_clear();
	CU_ASSERT(has_cn(first, 0));
	CU_ASSERT(has_cn(again, 0));
	X509_free(first);
	X509_free(again);
}

static void *
hammer(void *arg)
{
	long bad = 0;
	X509 *x;
	int i, k = (int)(long)arg;

	for (i = 0; i < 2000; i++) {
		k = (k * 7 + 3) % NCERTS;
		x = cert_decode(der[k], (size_t)derlen[k]);
		if (!has_cn(x, k))
			bad++;
		X509_free(x);
		if (i % 500 == 0 && k == 0)
			cert_cache_clear();
	}
	return (void *)bad;
}

static void
test_threads(void)
{
	pthread_t t[4];
	void *bad;
	long i;

	for (i = 0; i < 4; i++)
		CU_ASSERT_FATAL(pthread_create(&t[i], NULL, hammer, (void *)i) == 0);
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], &bad);
		CU_ASSERT_EQUAL((long)bad, 0);
	}
}

int
main(void)
{
	CU_pSuite s;

	s = cu_suite("certificate cache", suite_init, suite_clean);
	cu_test(s, "a hit is the same object", test_hit);
	cu_test(s, "bad DER refused", test_bad_der);
	cu_test(s, "eviction and references", test_eviction);
	cu_test(s, "threads", test_threads);
	return cu_finish();
}
