/* SPDX-License-Identifier: ISC */
/*
 * The placeholder table of the preload (see phtable.h): names handed out
 * as reserved addresses, and back.  A small array under one mutex; lookups
 * are rare (one per name resolution and one per connect), so a linear scan
 * of at most PH_SLOTS names is cheaper than keeping an index right.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "phtable.h"

#define PH_V4_NET 0xf0000000u /* 240.0.0.0/4 */
#define PH_CODE_MASK 0x0fffffffu
/* The last generation is never used: with the last slot it would make
 * 255.255.255.255, the broadcast address. */
#define PH_GEN_MAX ((1u << PH_GEN_BITS) - 2)

struct slot {
	uint64_t used; /* tick of the last lookup: eviction order */
	uint32_t gen;  /* 1..PH_GEN_MAX; 0: never used */
	size_t len;
	char name[PH_NAME_MAX + 1];
};

static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct slot slots[PH_SLOTS];
static unsigned nslots;
static uint64_t tick;

/* A fork while another thread holds the lock must not leave the child
 * with a lock nobody will release. */
static void
lock_prepare(void)
{
	pthread_mutex_lock(&mtx);
}

static void
lock_parent(void)
{
	pthread_mutex_unlock(&mtx);
}

static void
lock_child(void)
{
	pthread_mutex_init(&mtx, NULL);
}

static void
ph_init(void)
{
	pthread_atfork(lock_prepare, lock_parent, lock_child);
}

static void
ph_lock(void)
{
	pthread_once(&once, ph_init);
	pthread_mutex_lock(&mtx);
}

static uint32_t
slot_code(unsigned i)
{
	return slots[i].gen << PH_SLOT_BITS | i;
}

/* The slot to reuse for a new name: a free one, else the least recently
 * used, whose generation then moves on. */
static unsigned
slot_take(void)
{
	unsigned i, lru = 0;

	if (nslots < PH_SLOTS) {
		slots[nslots].gen = 1;
		return nslots++;
	}
	for (i = 1; i < PH_SLOTS; i++)
		if (slots[i].used < slots[lru].used)
			lru = i;
	slots[lru].gen = slots[lru].gen >= PH_GEN_MAX ? 1 : slots[lru].gen + 1;
	return lru;
}

uint32_t
ph_code(const char *name)
{
	size_t n = strlen(name);
	unsigned i;
	uint32_t code;

	ph_lock();
	for (i = 0; i < nslots; i++)
		if (slots[i].len == n && strcasecmp(slots[i].name, name) == 0)
			break;
	if (i == nslots) {
		i = slot_take();
		slots[i].len = n;
		memcpy(slots[i].name, name, n + 1);
	}
	slots[i].used = ++tick;
	code = slot_code(i);
	pthread_mutex_unlock(&mtx);
	return code;
}

int
ph_name(uint32_t code, char *buf, size_t bufsz)
{
	unsigned i = code & (PH_SLOTS - 1);
	int rv = -1;

	ph_lock();
	if (i < nslots && slot_code(i) == (code & PH_CODE_MASK) &&
	    slots[i].len < bufsz) {
		memcpy(buf, slots[i].name, slots[i].len + 1);
		slots[i].used = ++tick;
		rv = 0;
	}
	pthread_mutex_unlock(&mtx);
	return rv;
}

void
ph_reset(void)
{
	ph_lock();
	memset(slots, 0, sizeof(slots));
	nslots = 0;
	tick = 0;
	pthread_mutex_unlock(&mtx);
}

void
ph_addr4(uint32_t code, struct in_addr *out)
{
	out->s_addr = htonl(PH_V4_NET | (code & PH_CODE_MASK));
}

void
ph_addr6(uint32_t code, struct in6_addr *out)
{
	uint32_t c = htonl(code & PH_CODE_MASK);

	memset(out, 0, sizeof(*out));
	out->s6_addr[0] = 0x01;
	out->s6_addr[11] = 0xf0;
	memcpy(&out->s6_addr[12], &c, 4);
}

int
ph_is4(const struct in_addr *a, uint32_t *code)
{
	uint32_t v = ntohl(a->s_addr);

	if ((v & ~PH_CODE_MASK) != PH_V4_NET)
		return 0;
	*code = v & PH_CODE_MASK;
	return 1;
}

int
ph_is6(const struct in6_addr *a, uint32_t *code)
{
	static const unsigned char pfx[12] = {
	    0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0};
	struct in_addr v4;
	uint32_t c;

	if (IN6_IS_ADDR_V4MAPPED(a)) {
		memcpy(&v4, &a->s6_addr[12], 4);
		return ph_is4(&v4, code) ? 2 : 0;
	}
	if (memcmp(a->s6_addr, pfx, sizeof(pfx)) != 0)
		return 0;
	memcpy(&c, &a->s6_addr[12], 4);
	c = ntohl(c);
	if ((c & ~PH_CODE_MASK) != 0)
		return 0;
	*code = c;
	return 1;
}
