/* SPDX-License-Identifier: ISC */
/*
 * A small LRU cache of decoded certificates (see certcache.h).  Lookups
 * compare the whole DER, never a digest of it, so a hit is the same
 * certificate byte for byte.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "certcache.h"
#include "cpproto.h"

#define CERTCACHE_SLOTS 16

struct slot {
	unsigned char *der;
	size_t len;
	X509 *x;
	uint64_t used; /* LRU clock */
};

static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
static struct slot slots[CERTCACHE_SLOTS];
static uint64_t clock_now;

static X509 *
decode(const unsigned char *der, size_t len)
{
	const unsigned char *q = der;
	X509 *x;

	if (len == 0 || len > CP_MAX_CERT)
		return NULL;
	if ((x = d2i_X509(NULL, &q, (long)len)) != NULL && q != der + len) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

static X509 *
lookup(const unsigned char *der, size_t len)
{
	X509 *x = NULL;
	int i;

	pthread_mutex_lock(&mtx);
	for (i = 0; i < CERTCACHE_SLOTS; i++) {
		if (slots[i].x != NULL && slots[i].len == len &&
		    memcmp(slots[i].der, der, len) == 0) {
			slots[i].used = ++clock_now;
			x = slots[i].x;
			X509_up_ref(x);
			break;
		}
	}
	pthread_mutex_unlock(&mtx);
	return x;
}

/* Keep x (one more reference) in place of the least recently used slot. */
static void
insert(const unsigned char *der, size_t len, X509 *x)
{
	struct slot old = {NULL, 0, NULL, 0};
	unsigned char *copy;
	int i, v = 0;

	if ((copy = malloc(len)) == NULL)
		return;
	memcpy(copy, der, len);
	X509_up_ref(x);
	pthread_mutex_lock(&mtx);
	for (i = 0; i < CERTCACHE_SLOTS; i++) {
		if (slots[i].x == NULL) {
			v = i;
			break;
		}
		if (slots[i].used < slots[v].used)
			v = i;
	}
	old = slots[v];
	slots[v].der = copy;
	slots[v].len = len;
	slots[v].x = x;
	slots[v].used = ++clock_now;
	pthread_mutex_unlock(&mtx);
	/* Freed outside the lock: X509_free may be slow. */
	X509_free(old.x);
	free(old.der);
}

X509 *
cert_decode(const unsigned char *der, size_t len)
{
	X509 *x;

	if ((x = lookup(der, len)) != NULL)
		return x;
	/* Two threads may both miss and decode: harmless, one slot wins. */
	if ((x = decode(der, len)) != NULL)
		insert(der, len, x);
	return x;
}

void
cert_cache_clear(void)
{
	struct slot old[CERTCACHE_SLOTS];
	int i;

	pthread_mutex_lock(&mtx);
	memcpy(old, slots, sizeof(old));
	memset(slots, 0, sizeof(slots));
	pthread_mutex_unlock(&mtx);
	for (i = 0; i < CERTCACHE_SLOTS; i++) {
		X509_free(old[i].x);
		free(old[i].der);
	}
}
