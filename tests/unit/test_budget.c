/* SPDX-License-Identifier: ISC */
/*
 * The request budget (proto/budget.c): what the library sends as a
 * request's whole timeout and how long it waits for the answer, with and
 * without the limits a daemon announces in its HELLO.
 */
#include <string.h>

#include "../cutest.h"
#include "budget.h"

static const struct cp_limits none = {0, 0, 0, 0};
/* A daemon announcing request-timeout 30s, handshake-timeout 10s,
 * retry-delay 1s. */
static const struct cp_limits daemon30 = {1, 30000, 10000, 1000};

static struct cp_connect
req(uint32_t timeout_ms, uint32_t retries, int tls)
{
	struct cp_connect c;

	memset(&c, 0, sizeof(c));
	c.connect_timeout_ms = timeout_ms;
	c.retries = retries;
	c.tls = (uint8_t)tls;
	return c;
}

static void
t_no_client_timeout(void)
{
	struct cp_connect c = req(0, 3, 1);

	/* The daemon's request-timeout decides; unknown: the default. */
	CU_ASSERT_EQUAL(cp_budget_ms(&c, &none), 0);
	CU_ASSERT_EQUAL(
	    cp_wait_ms(&c, &none), CP_WAIT_DEFAULT_MS + CP_WAIT_MARGIN_MS);
	CU_ASSERT_EQUAL(cp_wait_ms(&c, &daemon30), 30000 + CP_WAIT_MARGIN_MS);
}

static void
t_one_attempt(void)
{
	struct cp_connect c = req(1000, 0, 0);

	/* One second and no retry is one second, not seven. */
	CU_ASSERT_EQUAL(cp_budget_ms(&c, &none), 1000);
	c.timeout_ms = cp_budget_ms(&c, &none);
	CU_ASSERT_EQUAL(cp_wait_ms(&c, &none), 1000 + CP_WAIT_MARGIN_MS);
	/* TLS: the handshake gets the same time again. */
	c = req(1000, 0, 1);
	CU_ASSERT_EQUAL(cp_budget_ms(&c, &none), 2000);
	CU_ASSERT_EQUAL(cp_budget_ms(&c, &daemon30), 2000);
}

static void
t_retries(void)
{
	struct cp_connect c = req(1000, 3, 0);

	/* 4 attempts, delays 250 + 500 + 1000 (the default delay). */
	CU_ASSERT_EQUAL(cp_budget_ms(&c, &none), 4000 + 1750);
	/* The daemon's delay of 1 s: 1 + 2 + 4 s. */
	CU_ASSERT_EQUAL(cp_budget_ms(&c, &daemon30), 4000 + 7000);
	/* A longer delay of the client's own stands. */
	c.retry_delay_ms = 2000;
	CU_ASSERT_EQUAL(cp_budget_ms(&c, &daemon30), 4000 + 14000);
	/* Each delay is at most the dialer's maximum. */
	c = req(100, 10, 0);
	c.retry_delay_ms = 8000;
	CU_ASSERT_EQUAL(cp_budget_ms(&c, &none), 1100 + 8000 + 9 * 10000);
}

static void
t_caps(void)
{
	struct cp_connect c = req(20000, 3, 1);

	/* Capped by the daemon's request-timeout, and so is the wait. */
	CU_ASSERT_EQUAL(cp_budget_ms(&c, &daemon30), 30000);
	c.timeout_ms = 90000; /* sent before the limits were known */
	CU_ASSERT_EQUAL(cp_wait_ms(&c, &daemon30), 30000 + CP_WAIT_MARGIN_MS);
	/* The handshake's share is the daemon's shorter bound. */
	c = req(20000, 0, 1);
	CU_ASSERT_EQUAL(cp_budget_ms(&c, &daemon30), 30000);
	c = req(15000, 0, 1);
	CU_ASSERT_EQUAL(cp_budget_ms(&c, &daemon30), 25000);
	/* Never more than a CONNECT can carry. */
	c = req(3600000, 1000, 1);
	CU_ASSERT_EQUAL(cp_budget_ms(&c, &none), CP_BUDGET_MAX_MS);
}

int
main(void)
{
	CU_pSuite s;

	s = cu_suite("request budget", NULL, NULL);
	cu_test(s, "no client timeout", t_no_client_timeout);
	cu_test(s, "one attempt", t_one_attempt);
	cu_test(s, "retries and delays", t_retries);
	cu_test(s, "bounds", t_caps);
	return cu_finish();
}
