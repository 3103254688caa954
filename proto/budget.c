/* SPDX-License-Identifier: ISC */
/*
 * The time budget of one request (see budget.h).
 */
#include "budget.h"

/* Round r of the retries waits delay * 2^(r-1), at most the maximum. */
static uint64_t
delays_ms(uint64_t delay, uint32_t retries)
{
	uint64_t sum = 0;
	uint32_t r;

	for (r = 1; r <= retries && sum < CP_BUDGET_MAX_MS; r++) {
		if (delay > CP_BACKOFF_MAX_MS)
			delay = CP_BACKOFF_MAX_MS;
		sum += delay;
		delay *= 2;
	}
	return sum;
}

uint32_t
cp_budget_ms(const struct cp_connect *c, const struct cp_limits *l)
{
	uint64_t t = c->connect_timeout_ms, delay = c->retry_delay_ms, sum;
	uint64_t least =
	    l->known ? l->retry_delay_ms : CP_RETRY_DELAY_DEFAULT_MS;

	if (t == 0)
		return 0;
	/* The daemon raises a shorter delay to its own. */
	if (delay < least)
		delay = least;
	sum = t * ((uint64_t)c->retries + 1) + delays_ms(delay, c->retries);
	if (c->tls)
		sum += l->known && l->handshake_ms < t ? l->handshake_ms : t;
	if (l->known && sum > l->request_ms)
		sum = l->request_ms;
	return sum > CP_BUDGET_MAX_MS ? CP_BUDGET_MAX_MS : (uint32_t)sum;
}

uint32_t
cp_wait_ms(const struct cp_connect *c, const struct cp_limits *l)
{
	uint32_t t = c->timeout_ms;

	if (l->known && (t == 0 || l->request_ms < t))
		t = l->request_ms;
	if (t == 0)
		t = CP_WAIT_DEFAULT_MS;
	return t + CP_WAIT_MARGIN_MS;
}
