/*
 * Access policy: first-match allow/deny rules on (client, destination,
 * port, tcp/tls), and the TLS policy that applies to a destination.
 *
 * Everything here is a pure function of the parsed configuration and its
 * arguments: no I/O, no DNS, no allocation.
 *
 * Special-purpose addresses (loopback, private, link-local, CGN, multicast,
 * documentation, ...) are refused unless an allow rule names them with an
 * address or CIDR destination that contains them; "any" and host names never
 * count.  For such an address an allow rule that does not name it is passed
 * over (deny rules still apply), so the order of a general "allow ... to
 * any" and a specific "allow ... to 10.0.0.0/8" does not matter.
 * IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry;
 * NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses are refused when the
 * IPv4 address they embed is special.
 */
#ifndef CP_POLICY_H
#define CP_POLICY_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>

#include "conf.h"

/* The peer as SO_PEERCRED (and SO_PEERGROUPS, when known) describe it. */
struct cp_peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	const gid_t *groups; /* supplementary groups, may be NULL */
	int ngroups;
};

struct policy_result {
	enum verdict v;
	const struct rule *rule; /* the deciding rule; NULL for none */
	char why[256];           /* "allowed by rule at f:l", "denied: ..." */
};

/*
 * Before resolution.  A deny is final; an allow is provisional: every
 * address the name resolves to must still pass policy_check_addr().  A host
 * that is an address literal is judged completely here.  Returns 0 for
 * allow, -1 for deny (r->why says why).
 */
int policy_check_name(const struct cpconf *, const struct cp_peer *,
    const char *host, uint16_t port, int tls, struct policy_result *r);

/*
 * The final decision for one address about to be connected (sockaddr_in or
 * sockaddr_in6); host is the name the client asked for.  0 or -1.
 */
int policy_check_addr(const struct cpconf *, const struct cp_peer *,
    const char *host, const struct sockaddr *sa, uint16_t port, int tls,
    struct policy_result *r);

/*
 * The TLS policy for host (the name to be verified: the SNI name when the
 * client sets one, else the host) and port: the first destination block that
 * matches, merged over the global policy, or the global policy.  Never NULL.
 */
const struct dest_tls *policy_tls(
    const struct cpconf *, const char *host, uint16_t port);

/* 1 if the ALPN wire list (length-prefixed names) is allowed by t, 0 if
 * not, -1 if the list is malformed. */
int policy_alpn_allowed(
    const struct dest_tls *t, const uint8_t *wire, size_t len);

/* 1 if t has no pins or spki_sha256 is one of them. */
int policy_pin_match(const struct dest_tls *t, const uint8_t spki_sha256[32]);

/* Whether the address is special-purpose; the phrase, e.g. "a private
 * address", or NULL for a public address or an unknown family. */
const char *policy_special(const struct sockaddr *sa);

#endif
