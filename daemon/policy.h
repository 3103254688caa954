/* SPDX-License-Identifier: ISC */
/*
 * Access policy: first-match allow/deny rules on (client, destination,
 * port, tcp/tls), and the TLS policy that applies to a request.
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
	const char *allow_fmt;   /* an allow not yet put into why */
	char why[256];           /* "denied: ...": policy_why() for allows */
};

/* The reason of a result, "allowed by rule at f:l" or "denied: ...";
 * an allow's is formatted on the first call. */
const char *policy_why(struct policy_result *);

/*
 * Before resolution.  A deny is final; an allow is provisional: every
 * address the name resolves to must still pass policy_check_addr().  A host
 * that is an address literal is judged completely here.  Returns 0 for
 * allow, -1 for deny (r->why says why).
 */
int policy_check_name(const struct cpconf *, const struct cp_peer *,
    const char *host, uint16_t port, int tls, struct policy_result *r);

/*
 * The decision for a name the proxy resolves (proxy-resolve remote): the
 * daemon never sees the address, so the first rule that matches by name
 * (a name, a pattern or any) decides, and address rules are passed over:
 * address deny rules and the refusal of special-purpose addresses cannot
 * apply to it, and a name that only an address rule would allow is
 * refused (what it resolves to is unknown).  An address literal is judged
 * completely, as by policy_check_name().  0 or -1.
 */
int policy_check_remote_name(const struct cpconf *, const struct cp_peer *,
    const char *host, uint16_t port, int tls, struct policy_result *r);

/*
 * The upstream proxy of a request to host, port (conf.h, struct
 * proxy_conf).  The destination blocks that match the host (an address
 * block: an address literal only; the server name plays no part) and say
 * "proxy" compete, and the most specific one wins:
 *	an exact name, then patterns by length ("*.b.example" before
 *	"*.example"), or for a literal the longest prefix, then "any";
 *	between blocks equally specific, one with a port list.
 * Blocks that tie and name different proxies fail the request (-1, err
 * names both), as client certificates do.  No block: the global proxy.
 * *out is the proxy (PROXY_HTTP or PROXY_SOCKS5), NULL for a direct
 * connection.
 */
int policy_proxy(const struct cpconf *, const char *host, uint16_t port,
    const struct proxy_conf **out, char *err, size_t errsz);

/*
 * The final decision for one address about to be connected (sockaddr_in or
 * sockaddr_in6); host is the name the client asked for.  0 or -1.
 */
int policy_check_addr(const struct cpconf *, const struct cp_peer *,
    const char *host, const struct sockaddr *sa, uint16_t port, int tls,
    struct policy_result *r);

/*
 * The TLS policy of one request, merged once when the request arrives.
 *
 * Every destination block whose port matches and whose destination matches
 * the host applies, and so does every block that matches the server name
 * the client set (sni: NULL or "" for none); for a name that no block
 * matches, the global policy stands in.  A block is taken with the global
 * settings it does not override (struct destination.merged).  The
 * strictest setting wins, field by field, so no client gets around a pin
 * or "verify required" by its choice of host or server name:
 *	verify		required if any says so
 *	client-ca	forbidden if any says so
 *	min-tls		the highest
 *	cn-fallback	yes only if all say so
 *	alpn		only protocols that every list allows ("any" allows
 *			all; lists with nothing in common allow none)
 *	pin		every set of pins must be met (policy_pins_ok())
 *	ocsp		the strictest: require, then if-stapled, then off
 *	crl-file	every file that applies is checked (policy_crl_each())
 *	crl-check	all if any says so
 *	client-certificate
 *			chosen by the host: the blocks matching the host that
 *			name one must name the same, else the global one
 *			applies; a block matching the server name that names
 *			another one makes the request fail, so a server name
 *			neither brings a certificate meant for another
 *			destination nor drops the host's.
 *
 * Address blocks match a host that is an address literal, never a name
 * that resolves into them.  The result borrows the configuration's strings
 * and refers to it for the pins: the configuration must outlive it.
 * Returns 0, or -1 with err set when the client certificates conflict.
 */
struct tls_policy {
	struct dest_tls t; /* merged settings; t.npins is 0, see below */
	const struct cpconf *conf;
	int npinsets;    /* sets of pins that apply */
	int global_pins; /* the global pins are one of them */
	uint8_t pinned[(CONF_MAX_DESTS + 7) / 8]; /* bit i: dests[i] */
	int ncrlsets;   /* crl-files that apply (t.crl_file is NULL) */
	int global_crl; /* the global crl-file is one of them */
	uint8_t crls[(CONF_MAX_DESTS + 7) / 8]; /* bit i: dests[i] */
};

int policy_tls_request(const struct cpconf *, const char *host, const char *sni,
    uint16_t port, struct tls_policy *out, char *err, size_t errsz);

/*
 * After the dial: fold in the blocks naming the address actually connected
 * (an address or range), so a client cannot step around
 * "destination 10.0.0.0/8 { verify required }" by asking for a name that
 * resolves there.  Blocks matching everything were folded in already.
 */
void policy_tls_fold_addr(struct tls_policy *, const struct sockaddr *sa,
    uint16_t port);

/*
 * 1 if the SHA-256 digests of the SubjectPublicKeyInfos of the verified
 * chain, spki[0..n), meet every set of pins of p: each set has a digest
 * among them.  1 as well when no pins apply.
 */
int policy_pins_ok(
    const struct tls_policy *p, const uint8_t (*spki)[32], int n);

/*
 * Call fn with the path and the configuration line (file, line) of each
 * crl-file that applies to p, until it returns non-zero (returned then);
 * 0 when all were called.
 */
int policy_crl_each(const struct tls_policy *p,
    int (*fn)(void *, const char *path, const char *file, int line),
    void *arg);

/* 1 if the ALPN wire list (length-prefixed names) is allowed by t, 0 if
 * not, -1 if the list is malformed. */
int policy_alpn_allowed(
    const struct dest_tls *t, const uint8_t *wire, size_t len);

/* 1 if t has no pins or spki_sha256 is one of them. */
int policy_pin_match(const struct dest_tls *t, const uint8_t spki_sha256[32]);

#ifdef CP_TEST_HOOKS
/* Whether the address is special-purpose; the phrase, e.g. "a private
 * address", or NULL for a public address or an unknown family. */
const char *policy_special(const struct sockaddr *sa);
#endif

#endif
