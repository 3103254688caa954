/* SPDX-License-Identifier: ISC */
/*
 * The statistics engines report over the channel (ctl.h): counting in an
 * engine, summing and percentiles in the parent.
 */
#include <string.h>

#include "ctl.h"

/* n requests of uid, err of them perhaps another's (ctl.h). */
static void
uid_add(struct engine_stats *s, uint32_t uid, uint64_t n, uint64_t err)
{
	struct ctl_uid *u, *least = NULL;
	uint32_t i;

	if (err > n) /* an engine's table is not trusted to add up */
		err = n;
	for (i = 0; i < s->nuids; i++) {
		u = &s->uids[i];
		if (u->uid == uid) {
			u->n += n;
			u->err += err;
			return;
		}
		if (least == NULL || u->n < least->n)
			least = u;
	}
	/* Bounded: a local user must not grow our datagram at will. */
	if (s->nuids < CTL_UIDS) {
		u = &s->uids[s->nuids++];
		u->uid = uid;
		u->n = n;
		u->err = err;
		return;
	}
	least->uid = uid;
	least->err = least->n + err;
	least->n += n;
}

uint64_t
ctl_stats_uid_other(const struct engine_stats *s)
{
	uint64_t exact = 0;
	uint32_t i;

	for (i = 0; i < s->nuids && i < CTL_UIDS; i++)
		exact += s->uids[i].n - s->uids[i].err;
	return s->served > exact ? s->served - exact : 0;
}

void
ctl_stats_count(struct engine_stats *s, unsigned eclass, int tls, int handshake,
    uint32_t uid, uint32_t ms)
{
	unsigned b;

	s->outcome[eclass < CTL_OUTCOMES ? eclass : CTL_OUTCOMES - 1]++;
	s->kind[tls ? 1 : 0]++;
	if (handshake)
		s->handshakes++;
	for (b = 0; b < CTL_LAT_BUCKETS - 1 && ms > ctl_lat_ms[b]; b++)
		;
	s->lat[b]++;
	s->lat_sum_ms += ms;
	uid_add(s, uid, 1, 0);
}

void
ctl_stats_add(struct engine_stats *d, const struct engine_stats *s)
{
	uint32_t i, n = s->nuids < CTL_UIDS ? s->nuids : CTL_UIDS;

	d->served += s->served;
	d->failed += s->failed;
	d->inflight += s->inflight;
	d->sessions += s->sessions;
	for (i = 0; i < CTL_OUTCOMES; i++)
		d->outcome[i] += s->outcome[i];
	for (i = 0; i < CTL_KINDS; i++)
		d->kind[i] += s->kind[i];
	d->handshakes += s->handshakes;
	d->cache_hits += s->cache_hits;
	d->cache_misses += s->cache_misses;
	d->dial_reordered += s->dial_reordered;
	d->verify_cached += s->verify_cached;
	for (i = 0; i < CTL_LAT_BUCKETS; i++)
		d->lat[i] += s->lat[i];
	d->lat_sum_ms += s->lat_sum_ms;
	for (i = 0; i < n; i++)
		uid_add(d, s->uids[i].uid, s->uids[i].n, s->uids[i].err);
}

uint32_t
ctl_stats_pct(const struct engine_stats *s, unsigned pct)
{
	uint64_t total = 0, seen = 0, want;
	unsigned b;

	for (b = 0; b < CTL_LAT_BUCKETS; b++)
		total += s->lat[b];
	if (total == 0)
		return 0;
	/* The smallest bucket holding at least pct% of the requests. */
	want = (total * pct + 99) / 100;
	for (b = 0; b < CTL_LAT_BUCKETS; b++) {
		seen += s->lat[b];
		if (seen >= want)
			break;
	}
	return ctl_lat_ms[b < CTL_LAT_BUCKETS ? b : CTL_LAT_BUCKETS - 1];
}
