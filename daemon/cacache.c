/* SPDX-License-Identifier: ISC */
/*
 * Client-supplied trust anchors: a builder that collects and checks one set,
 * and a small LRU cache of the resulting stores.  The cache is per engine
 * and the engine is single-threaded, so there is no locking; the entry
 * count is small, so a linear list is enough.
 */
#include <sys/queue.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "cacache.h"
#include "cpproto.h"

struct ca_builder {
	unsigned char **der;
	size_t *len;
	size_t n, cap;
	size_t bytes, max_bytes;
};

struct ca_entry {
	TAILQ_ENTRY(ca_entry) lru; /* most recently used first */
	unsigned char hash[CP_CA_HASH_LEN];
	X509_STORE *store;
	size_t cost;
};

struct ca_cache {
	TAILQ_HEAD(ca_lru, ca_entry) lru;
	size_t entries, bytes;
	size_t max_entries, max_bytes;
};

struct ca_builder *
ca_builder_new(size_t max_bytes)
{
	struct ca_builder *b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	b->max_bytes = max_bytes ? max_bytes : CA_SET_MAX_BYTES;
	return b;
}

static int
ca_builder_grow(struct ca_builder *b)
{
	unsigned char **d;
	size_t *l, cap;

	if (b->n < b->cap)
		return 0;
	cap = b->cap ? b->cap * 2 : 16;
	if (cap > CP_MAX_CA_CERTS)
		cap = CP_MAX_CA_CERTS;
	if ((d = reallocarray(b->der, cap, sizeof(*d))) == NULL)
		return -1;
	b->der = d;
	if ((l = reallocarray(b->len, cap, sizeof(*l))) == NULL)
		return -1;
	b->len = l;
	b->cap = cap;
	return 0;
}

/* Exactly one certificate, nothing after it. */
static int
ca_der_ok(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x;

	if ((x = d2i_X509(NULL, &p, (long)len)) == NULL) {
		ERR_clear_error();
		return 0;
	}
	X509_free(x);
	return p == der + len;
}

int
ca_builder_add(struct ca_builder *b, const unsigned char *der, size_t len,
    char *err, size_t errsz)
{
	unsigned char *copy;

	if (b->n >= CP_MAX_CA_CERTS) {
		snprintf(err, errsz, "too many trust anchors (limit %d)",
		    CP_MAX_CA_CERTS);
		return -1;
	}
	if (der == NULL || len == 0 || len > CP_MAX_CERT) {
		snprintf(err, errsz,
		    "trust anchor of %zu bytes: must be "
		    "1..%d",
		    len, CP_MAX_CERT);
		return -1;
	}
	if (len > b->max_bytes - b->bytes) {
		snprintf(
		    err, errsz, "trust anchors exceed %zu bytes", b->max_bytes);
		return -1;
	}
	if (!ca_der_ok(der, len)) {
		snprintf(err, errsz,
		    "trust anchor %zu is not a DER X.509 "
		    "certificate",
		    b->n + 1);
		return -1;
	}
	if (ca_builder_grow(b) == -1 || (copy = malloc(len)) == NULL) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	memcpy(copy, der, len);
	b->der[b->n] = copy;
	b->len[b->n] = len;
	b->n++;
	b->bytes += len;
	return 0;
}

#ifdef CP_TEST_HOOKS
size_t
ca_builder_count(const struct ca_builder *b)
{
	return b->n;
}
#endif

static X509_STORE *
ca_build_store(const struct ca_builder *b, char *err, size_t errsz)
{
	X509_STORE *st;
	const unsigned char *p;
	X509 *x;
	size_t i;

	if ((st = X509_STORE_new()) == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	/* Only complete chains to one of these anchors count. */
	X509_VERIFY_PARAM_clear_flags(
	    X509_STORE_get0_param(st), X509_V_FLAG_PARTIAL_CHAIN);
	for (i = 0; i < b->n; i++) {
		p = b->der[i];
		if ((x = d2i_X509(NULL, &p, (long)b->len[i])) == NULL ||
		    !X509_STORE_add_cert(st, x)) {
			X509_free(x);
			X509_STORE_free(st);
			ERR_clear_error();
			snprintf(
			    err, errsz, "cannot add trust anchor %zu", i + 1);
			return NULL;
		}
		X509_free(x);
	}
	return st;
}

int
ca_builder_finish(struct ca_builder *b, const unsigned char *expected,
    struct ca_cache *cache, X509_STORE **store, char *err, size_t errsz)
{
	unsigned char h[CP_CA_HASH_LEN];
	X509_STORE *st;

	if (store != NULL)
		*store = NULL;
	if (b->n == 0) {
		snprintf(err, errsz, "empty trust anchor set");
		return -1;
	}
	if (cp_ca_set_hash(
	        (const unsigned char *const *)b->der, b->len, b->n, h) == -1) {
		snprintf(err, errsz, "cannot hash the trust anchor set");
		return -1;
	}
	if (expected == NULL || CRYPTO_memcmp(h, expected, sizeof(h)) != 0) {
		snprintf(err, errsz, "trust anchor set hash mismatch");
		return -1;
	}
	if ((st = ca_build_store(b, err, errsz)) == NULL)
		return -1;
	if (cache != NULL && ca_cache_insert(cache, h, st, b->bytes) == -1) {
		snprintf(err, errsz,
		    "trust anchor set of %zu bytes does not "
		    "fit the cache",
		    b->bytes);
		X509_STORE_free(st);
		return -1;
	}
	if (store != NULL)
		*store = st;
	else
		X509_STORE_free(st);
	return 0;
}

void
ca_builder_free(struct ca_builder *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->n; i++)
		free(b->der[i]);
	free(b->der);
	free(b->len);
	free(b);
}

struct ca_cache *
ca_cache_new(size_t max_entries, size_t max_bytes)
{
	struct ca_cache *c;

	if (max_entries == 0 || max_bytes == 0) {
		errno = EINVAL;
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	TAILQ_INIT(&c->lru);
	c->max_entries = max_entries;
	c->max_bytes = max_bytes;
	return c;
}

static void
ca_remove(struct ca_cache *c, struct ca_entry *e)
{
	TAILQ_REMOVE(&c->lru, e, lru);
	c->entries--;
	c->bytes -= e->cost;
	X509_STORE_free(e->store);
	free(e);
}

static struct ca_entry *
ca_find(struct ca_cache *c, const unsigned char *hash)
{
	struct ca_entry *e;

	TAILQ_FOREACH(e, &c->lru, lru)
		if (memcmp(e->hash, hash, CP_CA_HASH_LEN) == 0)
			return e;
	return NULL;
}

X509_STORE *
ca_cache_lookup(struct ca_cache *c, const unsigned char *hash)
{
	struct ca_entry *e;

	if (c == NULL || hash == NULL || (e = ca_find(c, hash)) == NULL)
		return NULL;
	if (!X509_STORE_up_ref(e->store))
		return NULL;
	TAILQ_REMOVE(&c->lru, e, lru);
	TAILQ_INSERT_HEAD(&c->lru, e, lru);
	return e->store;
}

int
ca_cache_insert(
    struct ca_cache *c, const unsigned char *hash, X509_STORE *st, size_t cost)
{
	struct ca_entry *e;

	if (cost > c->max_bytes) {
		errno = EFBIG;
		return -1;
	}
	if ((e = ca_find(c, hash)) != NULL)
		ca_remove(c, e);
	while (!TAILQ_EMPTY(&c->lru) &&
	       (c->entries >= c->max_entries || cost > c->max_bytes - c->bytes))
		ca_remove(c, TAILQ_LAST(&c->lru, ca_lru));
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -1;
	if (!X509_STORE_up_ref(st)) {
		free(e);
		errno = ENOMEM;
		return -1;
	}
	memcpy(e->hash, hash, CP_CA_HASH_LEN);
	e->store = st;
	e->cost = cost;
	TAILQ_INSERT_HEAD(&c->lru, e, lru);
	c->entries++;
	c->bytes += cost;
	return 0;
}

#ifdef CP_TEST_HOOKS
size_t
ca_cache_entries(const struct ca_cache *c)
{
	return c->entries;
}

size_t
ca_cache_bytes(const struct ca_cache *c)
{
	return c->bytes;
}
#endif

void
ca_cache_free(struct ca_cache *c)
{
	if (c == NULL)
		return;
	while (!TAILQ_EMPTY(&c->lru))
		ca_remove(c, TAILQ_FIRST(&c->lru));
	free(c);
}
