/* SPDX-License-Identifier: ISC */
/*
 * The parent's copy of the TLS session cache (sesscache.h): the one that
 * outlives engines and reloads, answers cpconnectctl "cache list" and
 * "cache flush", and fills the replica of every engine started later.
 * It stores what engines send as opaque bytes: the parent never decodes
 * a session.
 */
#ifndef CP_PCACHE_H
#define CP_PCACHE_H

#include <stddef.h>
#include <stdint.h>

struct obuf;

/* The configuration's session-cache and session-cache-size, at start and
 * at each reload; a changed mode drops every session. */
void pcache_config(int mode, unsigned size);
/* A CTL_SESS_PUT datagram of n bytes from an engine: kept, and passed on
 * to the n_out channels out[] (the other engines). */
void pcache_put(const void *msg, size_t n, const int *out, int n_out);
/*
 * Fill a new engine's replica, as far as its channel takes it now, from
 * the *done-th session on (most recent first); call again on later turns
 * until it returns 1.  A session sent twice, or missed because the order
 * changed in between, costs nothing: the replica replaces by key, and a
 * new session reaches every engine anyway.
 */
int pcache_replay(int fd, unsigned *done);
/* Drop every session, here and in the engines on out[]; the count. */
unsigned pcache_flush(const int *out, int n_out);
/* "count", "max", "mode", then one "session ..." line per session. */
void pcache_list(struct obuf *);
/* The "session-cache.*" lines of stats (with the engines' hits, misses). */
void pcache_stats(struct obuf *, uint64_t hits, uint64_t misses);

#endif
