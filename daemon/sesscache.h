/* SPDX-License-Identifier: ISC */
/*
 * The TLS session cache: resumable sessions under a 32-byte key (the
 * SHA-256 of everything a session may be resumed for, resume.h), bounded
 * in count, least recently used first out, each with its lifetime.
 *
 * The parent holds the authoritative copy, one per daemon; every engine
 * holds a replica, so that a lookup on the request path costs no round
 * trip.  An engine that gets a new session stores it in its replica and
 * sends it to the parent (CTL_SESS_PUT, ctl.h), which keeps it and passes
 * it on to the other engines and to engines started later.  The parent
 * only stores the DER bytes it is given; engines decode them (obj).
 */
#ifndef CP_SESSCACHE_H
#define CP_SESSCACHE_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include "cpproto.h"

#define SC_KEYLEN 32
/* A session with its leaf, and the rest of its chain when that fits:
 * with more, a resumed handshake shows the leaf alone. */
#define SC_MAX_DER (CP_MAX_CERT + 4096)
#define SC_MAX_SPKI (CP_MAX_CHAIN + 2)
#define SC_LABEL 560 /* "host port N [server name S]" */

/* What travels with a session: its identity, the verification it was
 * made under, and how to show it. */
struct sc_meta {
	uint8_t key[SC_KEYLEN];
	uint32_t uid;     /* of the client whose handshake made it */
	uint16_t version; /* 0x0303 or 0x0304 */
	uint8_t nspki;    /* SPKI digests of the verified chain */
	uint8_t shared;   /* made under session-cache shared */
	uint8_t ocsp;     /* CP_OCSP_*: the staple of the handshake that made it */
	uint32_t verify_result;
	/* The last chainlen bytes of the DER are the verified chain below
	 * the leaf (resume.c), which an encoded session does not keep. */
	uint32_t chainlen;
	int64_t created, expires; /* wall clock, seconds */
	uint8_t spki[SC_MAX_SPKI][32];
	char label[SC_LABEL];
};

struct sc_entry {
	struct sc_entry *hnext;    /* hash chain */
	TAILQ_ENTRY(sc_entry) lru; /* most recent first */
	struct sc_meta m;
	uint64_t hits;
	void *obj; /* the engine's decoded session, or NULL */
	size_t derlen;
	unsigned char der[];
};

struct sesscache;

/* A cache of at most max entries; obj_free releases an entry's obj. */
struct sesscache *sc_new(unsigned max, void (*obj_free)(void *));
void sc_free(struct sesscache *);
/* A new bound; the least recently used entries above it go. */
void sc_resize(struct sesscache *, unsigned max);
/* Store (replacing the entry of the same key): 0, or -1 (ENOMEM,
 * EINVAL for a size out of bounds). */
int sc_put(
    struct sesscache *, const struct sc_meta *, const void *der, size_t derlen);
/* The live entry for key, made the most recent; NULL when none (an
 * expired one is dropped).  Valid until the next sc_put/sc_del/sc_flush. */
struct sc_entry *sc_get(struct sesscache *, const uint8_t *key, int64_t now);
void sc_del(struct sesscache *, const uint8_t *key);
/* Drop every entry, or only uid's when uid is not (uint32_t)-1; the
 * number dropped. */
unsigned sc_flush(struct sesscache *, uint32_t uid);
/* Drop the expired entries; the number dropped. */
unsigned sc_expire(struct sesscache *, int64_t now);
/* Most recent first, until fn returns non-zero. */
void sc_foreach(
    struct sesscache *, int (*fn)(void *, const struct sc_entry *), void *arg);
unsigned sc_count(const struct sesscache *);
unsigned sc_max(const struct sesscache *);

#endif
