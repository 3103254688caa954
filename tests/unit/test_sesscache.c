/* SPDX-License-Identifier: ISC */
/*
 * The TLS session cache store (daemon/sesscache.c): replace by key, LRU
 * bound, lifetimes, flush by uid, resize, size checks, and the objects an
 * engine hangs on entries released exactly once; and the walk over the
 * chain kept with a session (resume_chain_each), on good and bad blobs.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cutest.h"
#include "resume.h"
#include "sesscache.h"

static int freed;

static void
obj_free(void *p)
{
	freed++;
}

static void
meta(struct sc_meta *m, int k, uint32_t uid, int64_t expires)
{
	memset(m, 0, sizeof(*m));
	memset(m->key, k, sizeof(m->key));
	m->uid = uid;
	m->expires = expires;
	snprintf(m->label, sizeof(m->label), "host%d port 443", k);
}

static void
t_put_get(void)
{
	struct sesscache *c = sc_new(4, obj_free);
	struct sc_meta m;
	struct sc_entry *e;
	uint8_t key[SC_KEYLEN];

	CU_ASSERT_FATAL(c != NULL);
	meta(&m, 1, 0, 100);
	CU_ASSERT(sc_put(c, &m, "one", 3) == 0);
	memset(key, 1, sizeof(key));
	CU_ASSERT_FATAL((e = sc_get(c, key, 50)) != NULL);
	CU_ASSERT(e->derlen == 3 && memcmp(e->der, "one", 3) == 0);
	CU_ASSERT_STRING_EQUAL(e->m.label, "host1 port 443");
	/* The same key again replaces: one entry, the new bytes. */
	e->obj = &freed;
	CU_ASSERT(sc_put(c, &m, "two!", 4) == 0);
	CU_ASSERT_EQUAL(freed, 1);
	CU_ASSERT_EQUAL(sc_count(c), 1);
	CU_ASSERT_FATAL((e = sc_get(c, key, 50)) != NULL);
	CU_ASSERT(e->derlen == 4 && memcmp(e->der, "two!", 4) == 0);
	CU_ASSERT_EQUAL(e->hits, 1);
	/* Expired: gone on lookup. */
	CU_ASSERT_PTR_NULL(sc_get(c, key, 100));
	CU_ASSERT_EQUAL(sc_count(c), 0);
	memset(key, 9, sizeof(key));
	CU_ASSERT_PTR_NULL(sc_get(c, key, 0));
	/* Sizes out of bounds. */
	CU_ASSERT(sc_put(c, &m, "", 0) == -1 && errno == EINVAL);
	CU_ASSERT(sc_put(c, &m, "x", SC_MAX_DER + 1) == -1 && errno == EINVAL);
	m.nspki = SC_MAX_SPKI + 1;
	CU_ASSERT(sc_put(c, &m, "x", 1) == -1 && errno == EINVAL);
	/* The chain kept after the session leaves room for a session. */
	m.nspki = 0;
	m.chainlen = 4;
	CU_ASSERT(sc_put(c, &m, "four", 4) == -1 && errno == EINVAL);
	m.chainlen = 3;
	CU_ASSERT(sc_put(c, &m, "four", 4) == 0);
	sc_free(c);
}

static void
t_lru(void)
{
	struct sesscache *c = sc_new(3, obj_free);
	struct sc_meta m;
	uint8_t key[SC_KEYLEN];
	int i;

	CU_ASSERT_FATAL(c != NULL);
	for (i = 1; i <= 3; i++) {
		meta(&m, i, 0, 100);
		CU_ASSERT(sc_put(c, &m, "d", 1) == 0);
	}
	memset(key, 1, sizeof(key));
	CU_ASSERT(sc_get(c, key, 0) != NULL); /* 1 is the most recent */
	meta(&m, 4, 0, 100);
	CU_ASSERT(sc_put(c, &m, "d", 1) == 0);
	CU_ASSERT_EQUAL(sc_count(c), 3);
	memset(key, 2, sizeof(key));
	CU_ASSERT_PTR_NULL(sc_get(c, key, 0)); /* 2 went */
	for (i = 1; i <= 4; i++) {
		memset(key, i, sizeof(key));
		if (i != 2)
			CU_ASSERT(sc_get(c, key, 0) != NULL);
	}
	/* A smaller bound drops the least recent: 1 and 3 here. */
	sc_resize(c, 1);
	CU_ASSERT_EQUAL(sc_count(c), 1);
	CU_ASSERT_EQUAL(sc_max(c), 1);
	memset(key, 4, sizeof(key));
	CU_ASSERT(sc_get(c, key, 0) != NULL);
	sc_free(c);
}

static int
first_key(void *arg, const struct sc_entry *e)
{
	*(int *)arg = e->m.key[0];
	return 1;
}

static void
t_flush_expire(void)
{
	struct sesscache *c = sc_new(16, obj_free);
	struct sc_meta m;
	int i, n = 0;

	CU_ASSERT_FATAL(c != NULL);
	for (i = 1; i <= 6; i++) {
		meta(&m, i, (uint32_t)(i % 2), i <= 2 ? 10 : 100);
		CU_ASSERT(sc_put(c, &m, "d", 1) == 0);
	}
	CU_ASSERT_EQUAL(sc_expire(c, 50), 2); /* 1 and 2 */
	CU_ASSERT_EQUAL(sc_flush(c, 1), 2);   /* 3 and 5: uid 1 */
	CU_ASSERT_EQUAL(sc_count(c), 2);
	sc_foreach(c, first_key, &n);
	CU_ASSERT_EQUAL(n, 6); /* the most recent first, then stop */
	CU_ASSERT_EQUAL(sc_flush(c, (uint32_t)-1), 2);
	CU_ASSERT_EQUAL(sc_count(c), 0);
	sc_free(c);
}

static int
collect(void *arg, const unsigned char *der, size_t len)
{
	size_t *got = arg;

	got[got[0] + 1] = len;
	got[0]++;
	return der[0] == 'x'; /* a certificate starting so stops the walk */
}

/* Each certificate's length (uint32_t), then its bytes. */
static size_t
blob_add(unsigned char *b, size_t off, uint32_t len, const char *bytes)
{
	memcpy(b + off, &len, sizeof(len));
	memcpy(b + off + sizeof(len), bytes, strlen(bytes));
	return off + sizeof(len) + strlen(bytes);
}

static void
t_chain_walk(void)
{
	unsigned char b[64];
	struct resume_req rq;
	size_t got[8], n;

	memset(&rq, 0, sizeof(rq));
	rq.chain = b;
	n = blob_add(b, 0, 3, "abc");
	n = blob_add(b, n, 2, "de");
	rq.chainlen = n;
	memset(got, 0, sizeof(got));
	CU_ASSERT_EQUAL(resume_chain_each(&rq, collect, got), 0);
	CU_ASSERT(got[0] == 2 && got[1] == 3 && got[2] == 2);
	/* A length past the end, a zero length, a cut length word: the
	 * walk ends there, having given only whole certificates. */
	n = blob_add(b, 0, 3, "abc");
	n = blob_add(b, n, 40, "de");
	rq.chainlen = n;
	memset(got, 0, sizeof(got));
	CU_ASSERT_EQUAL(resume_chain_each(&rq, collect, got), 0);
	CU_ASSERT(got[0] == 1 && got[1] == 3);
	n = blob_add(b, 0, 0, "");
	rq.chainlen = n + 3;
	memset(got, 0, sizeof(got));
	CU_ASSERT_EQUAL(resume_chain_each(&rq, collect, got), 0);
	CU_ASSERT_EQUAL(got[0], 0);
	rq.chainlen = 2;
	CU_ASSERT_EQUAL(resume_chain_each(&rq, collect, got), 0);
	CU_ASSERT_EQUAL(got[0], 0);
	/* The callback's non-zero answer stops it and is returned. */
	n = blob_add(b, 0, 1, "x");
	n = blob_add(b, n, 1, "y");
	rq.chainlen = n;
	CU_ASSERT_EQUAL(resume_chain_each(&rq, collect, got), 1);
	CU_ASSERT_EQUAL(got[0], 1);
	/* None kept. */
	rq.chain = NULL;
	rq.chainlen = 0;
	memset(got, 0, sizeof(got));
	CU_ASSERT_EQUAL(resume_chain_each(&rq, collect, got), 0);
	CU_ASSERT_EQUAL(got[0], 0);
}

int
main(void)
{
	CU_pSuite s = cu_suite("session cache store", NULL, NULL);

	cu_test(s, "put, get, replace, expire, bounds", t_put_get);
	cu_test(s, "least recently used first out, resize", t_lru);
	cu_test(s, "flush by uid, expire", t_flush_expire);
	cu_test(s, "the chain kept with a session", t_chain_walk);
	return cu_finish();
}
