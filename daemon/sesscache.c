/* SPDX-License-Identifier: ISC */
/*
 * The TLS session cache (sesscache.h): a chained hash table on the key,
 * whose first bytes are already uniformly distributed (a SHA-256), and an
 * LRU list (<sys/queue.h>).  Memory is bounded by the entry count and
 * SC_MAX_DER per entry.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sesscache.h"

struct sesscache {
	struct sc_entry **tab;
	size_t nbuckets; /* a power of two */
	TAILQ_HEAD(sc_lru, sc_entry) lru;
	unsigned n, max;
	void (*obj_free)(void *);
};

static size_t
bucket(const struct sesscache *c, const uint8_t *key)
{
	uint64_t h;

	memcpy(&h, key, sizeof(h));
	return (size_t)(h & (c->nbuckets - 1));
}

struct sesscache *
sc_new(unsigned max, void (*obj_free)(void *))
{
	struct sesscache *c;
	size_t nb = 16;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	/* Sized for the largest bound the configuration allows. */
	while (nb < 100000 && nb < (size_t)max * 2)
		nb *= 2;
	if ((c->tab = calloc(nb, sizeof(*c->tab))) == NULL) {
		free(c);
		return NULL;
	}
	c->nbuckets = nb;
	TAILQ_INIT(&c->lru);
	c->max = max > 0 ? max : 1;
	c->obj_free = obj_free;
	return c;
}

static void
entry_free(struct sesscache *c, struct sc_entry *e)
{
	if (e->obj != NULL && c->obj_free != NULL)
		c->obj_free(e->obj);
	/* The DER holds a master secret. */
	explicit_bzero(e, sizeof(*e) + e->derlen);
	free(e);
}

/* Unlink e from its chain and the list, and free it. */
static void
entry_drop(struct sesscache *c, struct sc_entry *e)
{
	struct sc_entry **pp = &c->tab[bucket(c, e->m.key)];

	while (*pp != NULL && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp == e)
		*pp = e->hnext;
	TAILQ_REMOVE(&c->lru, e, lru);
	c->n--;
	entry_free(c, e);
}

static struct sc_entry *
find(const struct sesscache *c, const uint8_t *key)
{
	struct sc_entry *e;

	for (e = c->tab[bucket(c, key)]; e != NULL; e = e->hnext)
		if (memcmp(e->m.key, key, SC_KEYLEN) == 0)
			return e;
	return NULL;
}

void
sc_resize(struct sesscache *c, unsigned max)
{
	c->max = max > 0 ? max : 1;
	while (c->n > c->max && !TAILQ_EMPTY(&c->lru))
		entry_drop(c, TAILQ_LAST(&c->lru, sc_lru));
}

int
sc_put(struct sesscache *c, const struct sc_meta *m, const void *der,
    size_t derlen)
{
	struct sc_entry *e, *old;
	size_t b;

	if (derlen == 0 || derlen > SC_MAX_DER || m->nspki > SC_MAX_SPKI ||
	    m->chainlen >= derlen) {
		errno = EINVAL;
		return -1;
	}
	if ((e = calloc(1, sizeof(*e) + derlen)) == NULL)
		return -1;
	e->m = *m;
	e->m.label[sizeof(e->m.label) - 1] = '\0';
	e->derlen = derlen;
	memcpy(e->der, der, derlen);
	if ((old = find(c, m->key)) != NULL)
		entry_drop(c, old);
	b = bucket(c, m->key);
	e->hnext = c->tab[b];
	c->tab[b] = e;
	TAILQ_INSERT_HEAD(&c->lru, e, lru);
	c->n++;
	while (c->n > c->max && !TAILQ_EMPTY(&c->lru))
		entry_drop(c, TAILQ_LAST(&c->lru, sc_lru));
	return 0;
}

struct sc_entry *
sc_get(struct sesscache *c, const uint8_t *key, int64_t now)
{
	struct sc_entry *e = find(c, key);

	if (e == NULL)
		return NULL;
	if (e->m.expires <= now) {
		entry_drop(c, e);
		return NULL;
	}
	TAILQ_REMOVE(&c->lru, e, lru);
	TAILQ_INSERT_HEAD(&c->lru, e, lru);
	e->hits++;
	return e;
}

void
sc_del(struct sesscache *c, const uint8_t *key)
{
	struct sc_entry *e = find(c, key);

	if (e != NULL)
		entry_drop(c, e);
}

unsigned
sc_flush(struct sesscache *c, uint32_t uid)
{
	struct sc_entry *e, *next;
	unsigned n = 0;

	for (e = TAILQ_FIRST(&c->lru); e != NULL; e = next) {
		next = TAILQ_NEXT(e, lru);
		if (uid == (uint32_t)-1 || e->m.uid == uid) {
			entry_drop(c, e);
			n++;
		}
	}
	return n;
}

unsigned
sc_expire(struct sesscache *c, int64_t now)
{
	struct sc_entry *e, *next;
	unsigned n = 0;

	for (e = TAILQ_FIRST(&c->lru); e != NULL; e = next) {
		next = TAILQ_NEXT(e, lru);
		if (e->m.expires <= now) {
			entry_drop(c, e);
			n++;
		}
	}
	return n;
}

void
sc_foreach(
    struct sesscache *c, int (*fn)(void *, const struct sc_entry *), void *arg)
{
	struct sc_entry *e;

	TAILQ_FOREACH(e, &c->lru, lru)
		if (fn(arg, e))
			break;
}

unsigned
sc_count(const struct sesscache *c)
{
	return c->n;
}

unsigned
sc_max(const struct sesscache *c)
{
	return c->max;
}

void
sc_free(struct sesscache *c)
{
	if (c == NULL)
		return;
	sc_flush(c, (uint32_t)-1);
	free(c->tab);
	free(c);
}
