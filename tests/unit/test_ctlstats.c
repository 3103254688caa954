/* SPDX-License-Identifier: ISC */
/*
 * The per-uid request counts of the statistics (ctlstats.c): a bounded
 * table that still shows a heavy user after many light ones came first,
 * never credits a uid with more than it did, and adds up to the total,
 * also merged across engines and with a table that does not add up.
 */
#include <stdint.h>
#include <string.h>

#include "../cutest.h"
#include "ctl.h"

#define NUIDS 200

static uint64_t truth[NUIDS];

static void
count(struct engine_stats *s, uint32_t uid)
{
	s->served++;
	truth[uid]++;
	ctl_stats_count(s, 0, 0, 0, uid, 1);
}

static const struct ctl_uid *
find(const struct engine_stats *s, uint32_t uid)
{
	uint32_t i;

	for (i = 0; i < s->nuids; i++)
		if (s->uids[i].uid == uid)
			return &s->uids[i];
	return NULL;
}

/* Nobody counted for more than they did; everything adds up. */
static void
check_sound(const struct engine_stats *s)
{
	uint64_t exact = 0;
	uint32_t i;

	CU_ASSERT(s->nuids <= CTL_UIDS);
	for (i = 0; i < s->nuids; i++) {
		const struct ctl_uid *u = &s->uids[i];

		CU_ASSERT(u->err <= u->n);
		CU_ASSERT(u->uid < NUIDS && u->n - u->err <= truth[u->uid]);
		exact += u->n - u->err;
	}
	CU_ASSERT_EQUAL(exact + ctl_stats_uid_other(s), s->served);
}

static void
test_exact_when_it_fits(void)
{
	struct engine_stats s;
	uint32_t uid;
	int i;

	memset(&s, 0, sizeof(s));
	memset(truth, 0, sizeof(truth));
	for (i = 0; i < 100; i++)
		count(&s, (uint32_t)i % CTL_UIDS);
	for (uid = 0; uid < CTL_UIDS; uid++) {
		CU_ASSERT(find(&s, uid) != NULL &&
		          find(&s, uid)->n == truth[uid] &&
		          find(&s, uid)->err == 0);
	}
	CU_ASSERT_EQUAL(ctl_stats_uid_other(&s), 0);
	check_sound(&s);
}

static void
test_heavy_user_after_light_ones(void)
{
	struct engine_stats s;
	const struct ctl_uid *u;
	uint32_t uid;
	int i;

	memset(&s, 0, sizeof(s));
	memset(truth, 0, sizeof(truth));
	/* 150 users with a request each fill the table many times over. */
	for (uid = 1; uid <= 150; uid++)
		count(&s, uid);
	for (i = 0; i < 500; i++) {
		count(&s, 199);
		if (i % 5 == 0)
			count(&s, 151 + (uint32_t)(i / 5) % 40); /* churn */
	}
	check_sound(&s);
	u = find(&s, 199);
	CU_ASSERT_FATAL(u != NULL);
	/* Counted exactly from its first request on: the light users it
	 * displaced are in err, not in its count. */
	CU_ASSERT(u->n - u->err >= 499);
	CU_ASSERT(u->n - u->err <= truth[199]);
	CU_ASSERT(ctl_stats_uid_other(&s) > 0);
}

static void
test_merge(void)
{
	struct engine_stats a, b, sum;
	const struct ctl_uid *u;
	uint32_t uid;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(truth, 0, sizeof(truth));
	for (uid = 0; uid < 40; uid++) {
		count(&a, uid);
		count(&b, 100 + uid);
	}
	for (uid = 0; uid < 300; uid++) {
		count(&a, 180);
		count(&b, 180);
	}
	memset(&sum, 0, sizeof(sum));
	ctl_stats_add(&sum, &a);
	ctl_stats_add(&sum, &b);
	CU_ASSERT_EQUAL(sum.served, a.served + b.served);
	check_sound(&sum);
	u = find(&sum, 180);
	CU_ASSERT_FATAL(u != NULL);
	CU_ASSERT(u->n - u->err >= 598 && u->n - u->err <= 600);
}

/* A table from an engine that does not add up (err above n, more
 * entries than there is room for) is not believed beyond its counts. */
static void
test_hostile_table(void)
{
	struct engine_stats bad, sum;
	uint32_t i;

	memset(&bad, 0, sizeof(bad));
	memset(truth, 0, sizeof(truth));
	bad.served = 10;
	bad.nuids = 1000;
	for (i = 0; i < CTL_UIDS; i++) {
		bad.uids[i].uid = i;
		bad.uids[i].n = 1;
		bad.uids[i].err = 5;
	}
	memset(&sum, 0, sizeof(sum));
	ctl_stats_add(&sum, &bad);
	CU_ASSERT(sum.nuids <= CTL_UIDS);
	for (i = 0; i < sum.nuids; i++)
		CU_ASSERT(sum.uids[i].err <= sum.uids[i].n);
	/* No entry claims a request for sure: all ten are "other". */
	CU_ASSERT_EQUAL(ctl_stats_uid_other(&sum), 10);
}

int
main(void)
{
	CU_pSuite s = cu_suite("per-uid statistics", NULL, NULL);

	cu_test(s, "exact while the uids fit", test_exact_when_it_fits);
	cu_test(s, "a heavy user after many light ones",
	    test_heavy_user_after_light_ones);
	cu_test(s, "engines' tables merged", test_merge);
	cu_test(s, "a table that does not add up", test_hostile_table);
	return cu_finish();
}
