/* SPDX-License-Identifier: ISC */
/*
 * Happy Eyeballs dialer (RFC 8305 section 5) with retry rounds, on ev.
 *
 * Addresses are tried in the order given (resolve.c interleaves families).
 * The first connect() starts at once; the next one starts when the
 * previous has failed or stagger_ms have passed, earlier attempts staying
 * in flight.  The first socket to connect wins and every other one is
 * closed.  When all addresses of a round have failed, a new round starts
 * after a backoff (retry_delay_ms, doubled each round, at most 10 s), as
 * long as retries remain and the round can start before the deadline.
 *
 * History (RFC 8305 section 4 keeps such state): the outcome of the last
 * connect to each address and port is remembered for DIAL_HIST_TTL_MS in
 * a small table of the engine's, and a dial tries the addresses that
 * failed recently after the others, keeping the resolver's order among
 * equals.  So "localhost" with nothing on ::1 pays for the refusal once,
 * not on every connect.  History only orders: every address is still
 * checked by the filter and tried when the others fail.
 */
#ifndef CP_DIAL_H
#define CP_DIAL_H

#include <sys/socket.h>

#include <stdint.h>

#include "resolve.h"

struct ev;
struct dial;

#define DIAL_STAGGER_DEFAULT_MS 250
#define DIAL_STAGGER_MIN_MS 10 /* RFC 8305: never less */
#define DIAL_STAGGER_MAX_MS 2000
#define DIAL_BACKOFF_MAX_MS 10000
#define DIAL_MAX_RETRIES 1000
#define DIAL_DEFAULT_CONNECT_TIMEOUT_MS 30000
#define DIAL_DEFAULT_TIMEOUT_MS 120000
#define DIAL_HIST_SLOTS 256      /* remembered addresses (direct-mapped) */
#define DIAL_HIST_TTL_MS 10000   /* how long an outcome is remembered */

struct dial_params {
	uint32_t retries;            /* extra rounds after the first */
	uint32_t retry_delay_ms;     /* first backoff; 0: retry at once */
	uint32_t connect_timeout_ms; /* per attempt; 0: default */
	uint32_t timeout_ms;         /* whole dial; 0: default */
	uint32_t stagger_ms;         /* 0: DIAL_STAGGER_DEFAULT_MS */
};

/*
 * Policy hook, called once per address right before its first connect():
 * 0 allows; -1 denies, with a reason in why.  A denied address is skipped
 * in every round, and its reason is kept for the final error.
 */
typedef int dial_filter(void *arg, const struct sockaddr *sa, socklen_t len,
    char *why, size_t whysz);

/*
 * Success: fd is connected, non-blocking, close-on-exec and now the
 * caller's, sa/len its peer, eclass CP_E_NONE.  Failure: fd -1, sa/len the
 * address of the failure reported (NULL/0 if none was tried), eclass one
 * of CP_E_REFUSED (ECONNREFUSED), CP_E_UNREACH (ENETUNREACH, EHOSTUNREACH
 * and the like), CP_E_TIMEDOUT (ETIMEDOUT: attempt or whole deadline),
 * CP_E_DENIED (EACCES: every address refused by the filter; errtext is
 * its reason), CP_E_INTERNAL (descriptors, memory).  attempts counts the
 * connect() calls made.  The dial is freed before cb runs.
 */
typedef void dial_cb(void *arg, int fd, const struct sockaddr *sa,
    socklen_t len, int eclass, int err, const char *errtext, uint32_t attempts);

/* filter may be NULL.  cb is never called before this returns.  NULL with
 * errno (EINVAL: no addresses; ENOMEM). */
struct dial *dial_start(struct ev *, const struct addr_list *,
    const struct dial_params *, dial_filter *filter, dial_cb *cb, void *arg);
/* Closes every socket in flight; cb is not called. */
void dial_cancel(struct dial *);

/* Dials whose order the history changed, since the process started. */
uint64_t dial_reordered(void);
#ifdef CP_TEST_HOOKS
/* Forget every outcome; remember them for ttl_ms from now on. */
void dial_history_reset(uint32_t ttl_ms);
#endif

#endif
