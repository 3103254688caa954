/* SPDX-License-Identifier: ISC */
/*
 * The identity of a client-supplied set of trust anchors.
 *
 * The set hash is SHA-256 over the concatenation, for each distinct
 * certificate taken in ascending order of SHA-256(DER) (compared as
 * unsigned bytes, memcmp order), of
 *
 *	u32 length of the DER, network byte order || DER
 *
 * Exact duplicates (same DER bytes) count once, so the hash depends only on
 * the set, not on the order or repetition in which certificates were read.
 * The library sends it in CA_END and CONNECT (CP_A_CA_HASH); the daemon
 * recomputes it over the CA_CERT messages it received and keys its anchor
 * cache with it.
 */
#ifndef CP_CAHASH_H
#define CP_CAHASH_H

#include <stddef.h>

#define CP_CA_HASH_LEN 32

/*
 * Compute the set hash of der[0..n), in any order.  Every certificate must
 * be 1..CP_MAX_CERT bytes and n at most CP_MAX_CA_CERTS (n == 0 hashes the
 * empty set).  Returns 0, or -1 with errno EINVAL (bad length or count) or
 * ENOMEM.  The DER is not parsed.
 */
int cp_ca_set_hash(const unsigned char *const *der, const size_t *len, size_t n,
    unsigned char out[CP_CA_HASH_LEN]);
/*
 * The same for certificates already in cp_ca_order with their SHA-256
 * digests (a library that computed them to sort): no second pass over
 * the DER.  Duplicates, adjacent in that order, count once.
 */
int cp_ca_set_hash_sorted(const unsigned char *const *der, const size_t *len,
    const unsigned char (*digest)[CP_CA_HASH_LEN], size_t n,
    unsigned char out[CP_CA_HASH_LEN]);

/* The set's order: by SHA-256 of the DER, then length, then bytes (so the
 * order never depends on qsort for equal digests).  memcmp-style result. */
int cp_ca_order(const unsigned char *da, const unsigned char *dera,
    size_t lena, const unsigned char *db, const unsigned char *derb,
    size_t lenb);

#endif
