/* SPDX-License-Identifier: ISC */
/*
 * Client-supplied trust anchors.
 *
 * A client that brings its own anchors sends them as CA_CERT messages (one
 * DER certificate each) followed by CA_END carrying the set hash.  The set
 * hash (proto/cahash.h) is SHA-256 over, for each distinct certificate in
 * ascending order of SHA-256(DER):  u32 DER length, network order || DER.
 * The daemon builds an X509_STORE holding exactly these anchors (no partial
 * chains: a chain must end at a self-signed certificate of the set) and
 * keeps it in a per-engine cache keyed by the hash, so later CONNECTs name
 * the set by CP_A_CA_HASH alone.
 */
#ifndef CP_CACACHE_H
#define CP_CACACHE_H

#include <stddef.h>

#include <openssl/x509.h>

#include "cahash.h"

/* Default bound on the DER bytes of one set. */
#define CA_SET_MAX_BYTES (2 * 1024 * 1024)

struct ca_builder;
struct ca_cache;

/* max_bytes bounds the DER bytes of the set (0: CA_SET_MAX_BYTES); the
 * count is bounded by CP_MAX_CA_CERTS. */
struct ca_builder *ca_builder_new(size_t max_bytes);
/* Add one DER certificate: it must parse as exactly one X.509 certificate
 * of at most CP_MAX_CERT bytes.  0, or -1 with err set. */
int ca_builder_add(struct ca_builder *, const unsigned char *der, size_t len,
    char *err, size_t errsz);
#ifdef CP_TEST_HOOKS
size_t ca_builder_count(const struct ca_builder *);
#endif
/*
 * Check that the set hashes to expected, build its store and insert it into
 * cache (which may be NULL: build only).  On success *store (if non-NULL)
 * receives a reference the caller frees with X509_STORE_free.  0, or -1 with
 * err set.  The builder is left unchanged either way.
 */
int ca_builder_finish(struct ca_builder *, const unsigned char *expected,
    struct ca_cache *, X509_STORE **store, char *err, size_t errsz);
void ca_builder_free(struct ca_builder *);

/* A cache of at most max_entries sets and max_bytes DER bytes in all; the
 * least recently used sets go first. */
struct ca_cache *ca_cache_new(size_t max_entries, size_t max_bytes);
/* A new reference to the store of this set, or NULL when not cached. */
X509_STORE *ca_cache_lookup(struct ca_cache *, const unsigned char *hash);
/* Insert (or refresh) a store of the given cost in bytes; the cache takes
 * its own reference.  0, or -1 (errno EFBIG: larger than the cache). */
int ca_cache_insert(
    struct ca_cache *, const unsigned char *hash, X509_STORE *, size_t cost);
#ifdef CP_TEST_HOOKS
size_t ca_cache_entries(const struct ca_cache *);
size_t ca_cache_bytes(const struct ca_cache *);
#endif
void ca_cache_free(struct ca_cache *);

#endif
