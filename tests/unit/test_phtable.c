/* SPDX-License-Identifier: ISC */
/*
 * The preload's placeholder table: addresses in the reserved ranges and
 * back, one placeholder per name whatever its case, eviction of the least
 * recently used name with a new generation, so that an evicted address is
 * never taken for the new name, and threads.
 */
#include <arpa/inet.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "../cutest.h"
#include "../../preload/phtable.h"

static void
test_round_trip(void)
{
	uint32_t c, c2, back;
	struct in_addr a4;
	struct in6_addr a6;
	char buf[256], s[INET6_ADDRSTRLEN];

	ph_reset();
	c = ph_code("www.example.org");
	CU_ASSERT_EQUAL(ph_code("WWW.Example.ORG"), c);
	c2 = ph_code("other.example.org");
	CU_ASSERT_NOT_EQUAL(c, c2);
	ph_addr4(c, &a4);
	inet_ntop(AF_INET, &a4, s, sizeof(s));
	CU_ASSERT_EQUAL(strncmp(s, "240.", 4), 0);
	CU_ASSERT(ph_is4(&a4, &back) && back == c);
	ph_addr6(c, &a6);
	inet_ntop(AF_INET6, &a6, s, sizeof(s));
	CU_ASSERT_EQUAL(strncmp(s, "100::f0:", 8), 0);
	CU_ASSERT_EQUAL(ph_is6(&a6, &back), 1);
	CU_ASSERT_EQUAL(back, c);
	inet_pton(AF_INET6, "::ffff:240.0.4.0", &a6);
	CU_ASSERT_EQUAL(ph_is6(&a6, &back), 2);
	CU_ASSERT_EQUAL(ph_name(c, buf, sizeof(buf)), 0);
	CU_ASSERT_STRING_EQUAL(buf, "www.example.org");
	CU_ASSERT_EQUAL(ph_name(c, buf, 5), -1); /* does not fit */
	/* Not placeholders at all. */
	inet_pton(AF_INET, "127.0.0.1", &a4);
	CU_ASSERT(!ph_is4(&a4, &back));
	inet_pton(AF_INET, "239.255.255.255", &a4);
	CU_ASSERT(!ph_is4(&a4, &back));
	inet_pton(AF_INET6, "::1", &a6);
	CU_ASSERT(!ph_is6(&a6, &back));
	inet_pton(AF_INET6, "100::1", &a6);
	CU_ASSERT(!ph_is6(&a6, &back));
	inet_pton(AF_INET6, "100::f0:1000:0", &a6); /* above 28 bits */
	CU_ASSERT(!ph_is6(&a6, &back));
	/* Placeholders never handed out. */
	inet_pton(AF_INET, "240.255.255.1", &a4);
	CU_ASSERT(ph_is4(&a4, &back));
	CU_ASSERT_EQUAL(ph_name(back, buf, sizeof(buf)), -1);
	CU_ASSERT_EQUAL(ph_name(0, buf, sizeof(buf)), -1);
}

static void
test_eviction(void)
{
	char name[64], buf[256];
	uint32_t first, keep, c;
	struct in_addr a4;
	unsigned i;

	ph_reset();
	first = ph_code("first.test");
	keep = ph_code("keep.test");
	for (i = 0; i < PH_SLOTS - 2; i++) {
		snprintf(name, sizeof(name), "n%u.test", i);
		ph_code(name);
	}
	/* Full.  keep.test is used again: first.test is the oldest. */
	CU_ASSERT_EQUAL(ph_name(keep, buf, sizeof(buf)), 0);
	c = ph_code("new.test");
	CU_ASSERT_EQUAL(c & (PH_SLOTS - 1), first & (PH_SLOTS - 1));
	CU_ASSERT_NOT_EQUAL(c, first);
	/* The old address is unknown now, never "new.test". */
	CU_ASSERT_EQUAL(ph_name(first, buf, sizeof(buf)), -1);
	CU_ASSERT_EQUAL(ph_name(c, buf, sizeof(buf)), 0);
	CU_ASSERT_STRING_EQUAL(buf, "new.test");
	CU_ASSERT_EQUAL(ph_name(keep, buf, sizeof(buf)), 0);
	CU_ASSERT_STRING_EQUAL(buf, "keep.test");
	/* Slots reused again and again: a new address each time, never 0
	 * generation, never the broadcast address. */
	for (i = 0; i < 3 * PH_SLOTS; i++) {
		snprintf(name, sizeof(name), "g%u.test", i);
		c = ph_code(name);
		ph_addr4(c, &a4);
		if (a4.s_addr == htonl(0xffffffffu) ||
		    (c >> PH_SLOT_BITS) == 0 || c == first)
			break;
	}
	CU_ASSERT_EQUAL(i, 3 * PH_SLOTS);
}

#define NTHREADS 8
#define NLOOKUPS 2000

static void *
hammer(void *arg)
{
	long t = (long)arg, bad = 0;
	char name[64], buf[256];
	uint32_t c;
	int i;

	for (i = 0; i < NLOOKUPS; i++) {
		/* Fewer names than slots: nothing is evicted. */
		snprintf(name, sizeof(name), "t%ld-%d.test", t, i % 100);
		c = ph_code(name);
		if (ph_name(c, buf, sizeof(buf)) != 0 || strcmp(buf, name) != 0)
			bad++;
	}
	return (void *)bad;
}

static void
test_threads(void)
{
	pthread_t t[NTHREADS];
	void *bad;
	long i;

	ph_reset();
	for (i = 0; i < NTHREADS; i++)
		CU_ASSERT_FATAL(
		    pthread_create(&t[i], NULL, hammer, (void *)i) == 0);
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], &bad);
		CU_ASSERT_EQUAL((long)bad, 0);
	}
}

int
main(void)
{
	CU_pSuite s;

	s = cu_suite("preload placeholders", NULL, NULL);
	cu_test(s, "addresses and back", test_round_trip);
	cu_test(s, "eviction and generations", test_eviction);
	cu_test(s, "threads", test_threads);
	return cu_finish();
}
