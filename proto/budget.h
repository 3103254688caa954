/* SPDX-License-Identifier: ISC */
/*
 * The time budget of one request, defined once: the library sends it as
 * the request's whole timeout, so the daemon answers by then, and waits
 * for the answer that long plus a margin.
 *
 *   budget = attempts x per-attempt timeout
 *          + the backoff delays between attempts (as the daemon's dialer)
 *          + the TLS handshake (the per-attempt timeout, or less when the
 *            daemon's handshake-timeout is shorter)
 *
 * capped by the daemon's request-timeout.  A request without a per-attempt
 * timeout has the daemon's request-timeout as its budget.  The daemon's
 * figures come from its HELLO (struct cp_limits); before it arrives, and
 * from a daemon that does not send them, the defaults below apply.
 */
#ifndef CP_BUDGET_H
#define CP_BUDGET_H

#include <stdint.h>

#include "msg.h"

#define CP_WAIT_DEFAULT_MS 60000         /* no request-timeout announced */
#define CP_WAIT_MARGIN_MS 500            /* the answer's way back, scheduling */
#define CP_RETRY_DELAY_DEFAULT_MS 250    /* the daemon's default retry-delay */
#define CP_BACKOFF_MAX_MS 10000          /* the dialer's longest delay */
#define CP_BUDGET_MAX_MS (3600u * 1000u) /* what CONNECT can carry */

/* The budget of c (0 when c has no per-attempt timeout: the daemon's
 * request-timeout decides), from c's timeout, retries, delay and tls. */
uint32_t cp_budget_ms(const struct cp_connect *c, const struct cp_limits *l);

/* How long to wait for the answer to c, sent with c->timeout_ms as its
 * whole timeout (0: the daemon's): the daemon's deadline plus the margin. */
uint32_t cp_wait_ms(const struct cp_connect *c, const struct cp_limits *l);

#endif
