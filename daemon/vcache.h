/* SPDX-License-Identifier: ISC */
/*
 * The verification cache (vcache.c): a chain an engine verified a moment
 * ago, presented again byte for byte under the same trust store and the
 * same rules (name, flags, depth, security level), is not verified again
 * until the first of its certificates expires or VC_TTL passes.
 */
#ifndef CP_VCACHE_H
#define CP_VCACHE_H

#include <time.h>

#include <openssl/sha.h>
#include <openssl/x509.h>

#define VC_SLOTS 128 /* chains kept, least recently used replaced */
#define VC_TTL 300   /* seconds an outcome is trusted at most */
#define VC_MAX_BYTES                                                           \
	(16 * 1024) /* of DER in a chain kept: the cache's                     \
	               memory stays a few MiB at most */

struct vcache;

struct vcache *vcache_new(void);
void vcache_free(struct vcache *);

/* What identifies the verification xctx is about to do, under the trust
 * store that store_id names (the same bytes for the same content, and
 * never for another); -1 if it cannot be kept (no leaf, a fixed time, an
 * encoding failed). */
int vcache_key(X509_STORE_CTX *xctx, const void *store_id, size_t idlen,
    unsigned char key[SHA256_DIGEST_LENGTH]);

/* 1: verified before, and xctx now holds that outcome (X509_V_OK and the
 * verified chain, leaf first), as X509_verify_cert would have left it;
 * 0: not known, verify. */
int vcache_hit(struct vcache *, const unsigned char *key, X509_STORE_CTX *xctx,
    time_t now);

/* Keeps the outcome of a verification that succeeded with X509_V_OK, of
 * a chain of VC_MAX_BYTES at most; anything else is not kept. */
void vcache_put(struct vcache *, const unsigned char *key, X509_STORE_CTX *xctx,
    time_t now);

/* Verifications answered from the cache, in this process. */
uint64_t vcache_hits(void);

#endif
