/* SPDX-License-Identifier: ISC */
/*
 * The parent's copy of the TLS session cache (pcache.h).  Every datagram
 * comes from an engine, which faces the network: sizes are checked before
 * anything is kept or passed on.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "control.h"
#include "ctl.h"
#include "log.h"
#include "pcache.h"
#include "sesscache.h"

static struct sesscache *cache;
static int cache_mode = SESSCACHE_OFF;
static unsigned char buf[CTL_MAX_MSG];

static const char *
mode_str(int mode)
{
	return mode == SESSCACHE_SHARED     ? "shared"
	       : mode == SESSCACHE_PER_USER ? "per-user"
	                                    : "off";
}

void
pcache_config(int mode, unsigned size)
{
	if (cache != NULL && mode != cache_mode) {
		log_info("session-cache %s: the cached sessions are dropped",
		    mode_str(mode));
		sc_free(cache);
		cache = NULL;
	}
	cache_mode = mode;
	if (mode == SESSCACHE_OFF)
		return;
	if (cache == NULL && (cache = sc_new(size, NULL)) == NULL) {
		log_warn("session cache");
		return;
	}
	sc_resize(cache, size);
}

void
pcache_put(const void *msg, size_t n, const int *out, int n_out)
{
	struct ctl_sess h;
	int i;

	if (cache == NULL || n < sizeof(h) || n > sizeof(buf))
		return;
	memcpy(&h, msg, sizeof(h));
	if (h.derlen == 0 || h.derlen != n - sizeof(h) ||
	    h.m.nspki > SC_MAX_SPKI)
		return;
	if (sc_put(cache, &h.m, (const unsigned char *)msg + sizeof(h),
	        h.derlen) == -1) {
		log_warn("session cache");
		return;
	}
	/* A full channel costs that engine a full handshake, no more. */
	for (i = 0; i < n_out; i++)
		if (send(out[i], msg, n, MSG_DONTWAIT | MSG_NOSIGNAL) == -1 &&
		    errno != EAGAIN)
			log_debug(
			    "session cache: to an engine: %s", strerror(errno));
	explicit_bzero(&h, sizeof(h));
}

struct replay {
	int fd;
	int64_t now;
	unsigned skip, sent;
	int full;
};

static int
replay_one(void *arg, const struct sc_entry *e)
{
	struct replay *r = arg;
	struct ctl_sess h;

	if (r->skip > 0) {
		r->skip--;
		return 0;
	}
	if (e->m.expires <= r->now) {
		r->sent++;
		return 0;
	}
	memset(&h, 0, sizeof(h));
	h.type = CTL_SESS_PUT;
	h.derlen = (uint32_t)e->derlen;
	h.m = e->m;
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), e->der, e->derlen);
	if (send(r->fd, buf, sizeof(h) + e->derlen,
	        MSG_DONTWAIT | MSG_NOSIGNAL) == -1) {
		r->full = 1; /* the rest on a later turn */
		return 1;
	}
	r->sent++;
	return 0;
}

int
pcache_replay(int fd, unsigned *done)
{
	struct replay r = {.fd = fd, .now = (int64_t)time(NULL), .skip = *done};

	if (cache == NULL || *done >= sc_count(cache))
		return 1;
	sc_foreach(cache, replay_one, &r);
	explicit_bzero(buf, sizeof(buf));
	*done += r.sent;
	if (r.sent > 0)
		log_debug("session cache: %u sessions to a new engine", r.sent);
	return !r.full;
}

unsigned
pcache_flush(const int *out, int n_out)
{
	struct ctl_sess_flush f = {.type = CTL_SESS_FLUSH, .uid = (uint32_t)-1};
	unsigned n = cache != NULL ? sc_flush(cache, (uint32_t)-1) : 0;
	int i;

	for (i = 0; i < n_out; i++)
		if (send(out[i], &f, sizeof(f), MSG_DONTWAIT | MSG_NOSIGNAL) ==
		    -1)
			log_warn("session cache: flush to an engine");
	return n;
}

struct lister {
	struct obuf *b;
	int64_t now;
	unsigned listed;
};

/* Room kept for the last lines and "ok": a partial line never goes out. */
#define LIST_ROOM 1024

/* session <id> <uid> <version> <age s> <expires in s> <per-user|shared>
 * <destination...>: the destination last, it has spaces. */
static int
list_one(void *arg, const struct sc_entry *e)
{
	struct lister *l = arg;

	if (l->b->len > sizeof(l->b->buf) - LIST_ROOM)
		return 1;
	l->listed++;
	obuf_printf(l->b,
	    "session %02x%02x%02x%02x%02x%02x %u %s %lld %lld %s %s\n",
	    e->m.key[0], e->m.key[1], e->m.key[2], e->m.key[3], e->m.key[4],
	    e->m.key[5], (unsigned)e->m.uid,
	    e->m.version == 0x0304 ? "1.3" : "1.2",
	    (long long)(l->now - e->m.created),
	    (long long)(e->m.expires - l->now),
	    e->m.shared ? "shared" : "per-user", e->m.label);
	return l->b->full;
}

void
pcache_list(struct obuf *b)
{
	struct lister l = {.b = b, .now = (int64_t)time(NULL)};

	if (cache != NULL)
		sc_expire(cache, l.now);
	obuf_printf(b, "mode %s\n", mode_str(cache_mode));
	obuf_printf(b, "count %u\n", cache != NULL ? sc_count(cache) : 0);
	obuf_printf(b, "max %u\n", cache != NULL ? sc_max(cache) : 0);
	if (cache == NULL)
		return;
	sc_foreach(cache, list_one, &l);
	/* The least recently used ones that did not fit. */
	if (l.listed < sc_count(cache))
		obuf_printf(b, "unlisted %u\n", sc_count(cache) - l.listed);
}

void
pcache_stats(struct obuf *b, uint64_t hits, uint64_t misses)
{
	obuf_printf(b, "session-cache.mode %s\n", mode_str(cache_mode));
	obuf_printf(b, "session-cache.entries %u\n",
	    cache != NULL ? sc_count(cache) : 0);
	obuf_printf(b, "session-cache.hits %llu\n", (unsigned long long)hits);
	obuf_printf(
	    b, "session-cache.misses %llu\n", (unsigned long long)misses);
}
