/* SPDX-License-Identifier: ISC */
/*
 * Name resolution that never blocks the event loop: c-ares driven by ev.
 *
 * Each request gets its own c-ares channel, duplicated from a template
 * made once by resolver_new(), so a request can be cancelled or timed out
 * without touching the others (ares_cancel() works on a whole channel).
 * A and AAAA are asked separately; when the request's own deadline comes
 * with one family answered, that family's addresses are the result.
 */
#ifndef CP_RESOLVE_H
#define CP_RESOLVE_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

struct ev;
struct resolver;
struct resolve_req;

#define CP_MAX_ADDRS 16

/* Addresses ordered for Happy Eyeballs: families interleaved, IPv6 first. */
struct addr_list {
	size_t n;
	struct sockaddr_storage a[CP_MAX_ADDRS];
	socklen_t len[CP_MAX_ADDRS];
};

/*
 * servers: NULL to use the system's resolv.conf, else a c-ares server CSV
 * such as "127.0.0.1:5353,[::1]:53"; with explicit servers no search
 * domains are applied.  On failure returns NULL with a message in err.
 */
struct resolver *resolver_new(
    struct ev *, const char *servers, char *err, size_t errsz);
/* Cancels every pending request; their callbacks are not called. */
void resolver_free(struct resolver *);

/*
 * 1 if host is a numeric IPv4 (dotted quad) or IPv6 address (optionally in
 * brackets, optionally with a %scope), filling out with one address and
 * port, or "localhost" or a name below it (RFC 6761: ::1 and 127.0.0.1 as
 * the family allows, never asked of DNS); 0 if it is none of these; -1 with
 * errno EAFNOSUPPORT if it is a literal of a family that family
 * (CP_FAMILY_*) excludes.
 */
int resolve_literal(
    const char *host, uint16_t port, int family, struct addr_list *out);

/*
 * eclass CP_E_NONE: al->n > 0.  Otherwise al is empty and:
 *   CP_E_NONAME   err ENXIO      no such name, or no address of the family
 *   CP_E_TIMEDOUT err ETIMEDOUT  no answer within the request's timeout
 *   CP_E_UNREACH  server failure, refusal or unreadable answers
 *   CP_E_INTERNAL out of memory or descriptors
 * errtext describes the failure without repeating the host name.
 */
typedef void resolve_cb(void *arg, const struct addr_list *al, int eclass,
    int err, const char *errtext);

/*
 * Start resolving host (literals are answered too, without a query).
 * timeout_ms 0 means RESOLVE_DEFAULT_TIMEOUT_MS.  cb is never called before
 * this returns.  NULL with errno on immediate failure: EINVAL (malformed
 * name), EAFNOSUPPORT (literal of the wrong family), ENOMEM.
 */
#define RESOLVE_DEFAULT_TIMEOUT_MS 10000
struct resolve_req *resolve_start(struct resolver *, const char *host,
    uint16_t port, int family, uint32_t timeout_ms, resolve_cb *cb, void *arg);
/* Stop a request; its callback is not called afterwards. */
void resolve_cancel(struct resolve_req *);

#endif
