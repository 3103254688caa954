/* SPDX-License-Identifier: ISC */
/*
 * Set hash of client-supplied trust anchors; see cahash.h for the
 * definition.  libcrypto only: linked by both the daemon and the library.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "cahash.h"
#include "cpproto.h"

struct cahash_item {
	unsigned char digest[SHA256_DIGEST_LENGTH];
	const unsigned char *der;
	size_t len;
};

int
cp_ca_order(const unsigned char *da, const unsigned char *dera, size_t lena,
    const unsigned char *db, const unsigned char *derb, size_t lenb)
{
	int c;

	if ((c = memcmp(da, db, CP_CA_HASH_LEN)) != 0)
		return c;
	/* Equal digests of different bytes do not occur in practice; order
	 * them anyway so the result never depends on qsort's whims. */
	if (lena != lenb)
		return lena < lenb ? -1 : 1;
	return memcmp(dera, derb, lena);
}

static int
cahash_cmp(const void *a, const void *b)
{
	const struct cahash_item *x = a, *y = b;

	return cp_ca_order(x->digest, x->der, x->len, y->digest, y->der,
	    y->len);
}

static int
cahash_same(const struct cahash_item *x, const struct cahash_item *y)
{
	return x->len == y->len &&
	       memcmp(x->digest, y->digest, sizeof(x->digest)) == 0 &&
	       memcmp(x->der, y->der, x->len) == 0;
}

static int
cahash_digest(
    struct cahash_item *it, size_t n, unsigned char out[CP_CA_HASH_LEN])
{
	EVP_MD_CTX *md;
	unsigned char lenbuf[4];
	unsigned int outlen = 0;
	size_t i;
	int ok;

	if ((md = EVP_MD_CTX_new()) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	for (i = 0; ok && i < n; i++) {
		if (i > 0 && cahash_same(&it[i - 1], &it[i]))
			continue;
		lenbuf[0] = (unsigned char)(it[i].len >> 24);
		lenbuf[1] = (unsigned char)(it[i].len >> 16);
		lenbuf[2] = (unsigned char)(it[i].len >> 8);
		lenbuf[3] = (unsigned char)it[i].len;
		ok = EVP_DigestUpdate(md, lenbuf, sizeof(lenbuf)) &&
		     EVP_DigestUpdate(md, it[i].der, it[i].len);
	}
	ok = ok && EVP_DigestFinal_ex(md, out, &outlen) &&
	     outlen == CP_CA_HASH_LEN;
	EVP_MD_CTX_free(md);
	if (!ok) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

int
cp_ca_set_hash(const unsigned char *const *der, const size_t *len, size_t n,
    unsigned char out[CP_CA_HASH_LEN])
{
	struct cahash_item *it;
	size_t i;
	int rc;

	if (n > CP_MAX_CA_CERTS || (n > 0 && (der == NULL || len == NULL))) {
		errno = EINVAL;
		return -1;
	}
	if ((it = calloc(n ? n : 1, sizeof(*it))) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (der[i] == NULL || len[i] == 0 || len[i] > CP_MAX_CERT) {
			free(it);
			errno = EINVAL;
			return -1;
		}
		it[i].der = der[i];
		it[i].len = len[i];
		if (SHA256(der[i], len[i], it[i].digest) == NULL) {
			free(it);
			errno = ENOMEM;
			return -1;
		}
	}
	qsort(it, n, sizeof(*it), cahash_cmp);
	rc = cahash_digest(it, n, out);
	free(it);
	return rc;
}

int
cp_ca_set_hash_sorted(const unsigned char *const *der, const size_t *len,
    const unsigned char (*digest)[CP_CA_HASH_LEN], size_t n,
    unsigned char out[CP_CA_HASH_LEN])
{
	struct cahash_item *it;
	size_t i;
	int rc;

	if (n > CP_MAX_CA_CERTS ||
	    (n > 0 && (der == NULL || len == NULL || digest == NULL))) {
		errno = EINVAL;
		return -1;
	}
	if ((it = calloc(n ? n : 1, sizeof(*it))) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (der[i] == NULL || len[i] == 0 || len[i] > CP_MAX_CERT ||
		    (i > 0 && cp_ca_order(digest[i - 1], der[i - 1], len[i - 1],
		                  digest[i], der[i], len[i]) > 0)) {
			free(it);
			errno = EINVAL;
			return -1;
		}
		it[i].der = der[i];
		it[i].len = len[i];
		memcpy(it[i].digest, digest[i], CP_CA_HASH_LEN);
	}
	rc = cahash_digest(it, n, out);
	free(it);
	return rc;
}
