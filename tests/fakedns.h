/* SPDX-License-Identifier: ISC */
/*
 * A tiny DNS responder for tests: a thread answering UDP queries on
 * 127.0.0.1:<ephemeral port> from a fixed table.
 *
 *   name known, records of the type asked   answers (AA, TTL 60)
 *   name known, no records of that type     NOERROR, no answers (NODATA)
 *   name unknown                            NXDOMAIN
 *   a FAKEDNS_SERVFAIL / _REFUSED record    that rcode for every type
 *
 * delay_ms delays the answer for (name, type); FAKEDNS_NEVER drops the
 * query.  A record with addr NULL carries only a delay.  Answers that would
 * not fit in 512 bytes are cut to the records that fit (never truncated
 * with TC: there is no TCP side).  Queries are parsed strictly; malformed
 * ones are dropped and counted.
 */
#ifndef FAKEDNS_H
#define FAKEDNS_H

#include <stddef.h>
#include <stdint.h>

#define FAKEDNS_A 1
#define FAKEDNS_AAAA 28
#define FAKEDNS_SERVFAIL 0xff02 /* answer rcode 2 to every type */
#define FAKEDNS_REFUSED 0xff05  /* answer rcode 5 to every type */

#define FAKEDNS_NEVER (-1)
#define FAKEDNS_MAX_RECS 256

struct fakedns_rec {
	const char *name; /* without trailing dot; matched ignoring case */
	uint16_t type;    /* FAKEDNS_A, FAKEDNS_AAAA, FAKEDNS_SERVFAIL... */
	const char *addr; /* numeric address of that type, or NULL */
	int delay_ms;     /* 0 now, > 0 later, FAKEDNS_NEVER never */
};

struct fakedns;

/* The table is copied.  Returns 0, or -1 with errno (EINVAL: bad record). */
int fakedns_start(struct fakedns **, const struct fakedns_rec *table, size_t n,
    uint16_t *port);
/* Stops the thread, closes the socket, frees everything. */
void fakedns_stop(struct fakedns *);

/* "127.0.0.1:<port>", the form resolver_new() takes. */
const char *fakedns_servers(const struct fakedns *);
/* Well-formed queries received in all, and for one name (any type). */
unsigned fakedns_queries(struct fakedns *);
unsigned fakedns_queries_for(struct fakedns *, const char *name);
/* Malformed packets received and dropped. */
unsigned fakedns_malformed(struct fakedns *);

#endif
