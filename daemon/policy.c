/* SPDX-License-Identifier: ISC */
/*
 * Policy evaluation: pure functions over a parsed configuration.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cpproto.h"
#include "conf.h"
#include "hostname.h"
#include "policy.h"

/* Bound on supplementary groups we look at; the kernel's is 65536. */
#define MAX_GROUPS 65536

/* An address as the policy sees it. */
struct paddr {
	int af; /* AF_INET (also for v4-mapped) or AF_INET6 */
	uint8_t a[16];
	int has4; /* NAT64 or 6to4: an IPv4 address rides inside */
	uint8_t v4[4];
	int raw_af; /* as given, for paddr_text() */
	uint8_t raw[16];
};

/* The address as the client gave it, for a denial's reason: formatted
 * only then, not on every allowed connect. */
static const char *
paddr_text(const struct paddr *p, char *buf, size_t len)
{
	if (inet_ntop(p->raw_af, p->raw, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}

struct special {
	int af;
	uint8_t net[16];
	int prefix;
	const char *what;
};

/*
 * Special-purpose ranges (IANA registries, RFC 6890 and successors).  The
 * first match gives the phrase, so narrower ranges come first.
 */
static const struct special specials[] = {
    {AF_INET, {0}, 8, "a this-network (unspecified) address"},
    {AF_INET, {10}, 8, "a private address"},
    {AF_INET, {100, 64}, 10, "a shared (carrier-grade NAT) address"},
    {AF_INET, {127}, 8, "a loopback address"},
    {AF_INET, {169, 254}, 16, "a link-local address"},
    {AF_INET, {172, 16}, 12, "a private address"},
    {AF_INET, {192, 0, 0}, 24, "an IETF protocol assignment address"},
    {AF_INET, {192, 0, 2}, 24, "a documentation address"},
    {AF_INET, {192, 88, 99}, 24, "a 6to4 relay anycast address"},
    {AF_INET, {192, 168}, 16, "a private address"},
    {AF_INET, {198, 18}, 15, "a benchmarking address"},
    {AF_INET, {198, 51, 100}, 24, "a documentation address"},
    {AF_INET, {203, 0, 113}, 24, "a documentation address"},
    {AF_INET, {224}, 4, "a multicast address"},
    {AF_INET, {255, 255, 255, 255}, 32, "a broadcast address"},
    {AF_INET, {240}, 4, "a reserved address"},
    {AF_INET6, {[15] = 1}, 128, "a loopback address"},
    {AF_INET6, {0}, 128, "an unspecified address"},
    {AF_INET6, {0}, 96, "an IPv4-compatible (deprecated) address"},
    {AF_INET6, {0x01, 0x00}, 64, "a discard-only address"},
    {AF_INET6, {0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48,
        "a local-use NAT64 address"},
    {AF_INET6, {0x20, 0x01, 0x0d, 0xb8}, 32, "a documentation address"},
    {AF_INET6, {0x3f, 0xff}, 20, "a documentation address"},
    {AF_INET6, {0xfc}, 7, "a unique-local (private) address"},
    {AF_INET6, {0xfe, 0x80}, 10, "a link-local address"},
    {AF_INET6, {0xfe, 0xc0}, 10, "a site-local (deprecated) address"},
    {AF_INET6, {0xff}, 8, "a multicast address"},
};

static int
in_net(const uint8_t *a, const uint8_t *net, int prefix)
{
	int whole = prefix / 8, rest = prefix % 8;
	uint8_t mask;

	if (memcmp(a, net, whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = 0xff << (8 - rest);
	return (a[whole] & mask) == (net[whole] & mask);
}

static const char *
special_of(int af, const uint8_t *a)
{
	size_t i;

	for (i = 0; i < sizeof(specials) / sizeof(specials[0]); i++)
		if (specials[i].af == af &&
		    in_net(a, specials[i].net, specials[i].prefix))
			return specials[i].what;
	return NULL;
}

static const char *
paddr_special(const struct paddr *p)
{
	const char *w;

	if ((w = special_of(p->af, p->a)) == NULL && p->has4)
		w = special_of(AF_INET, p->v4);
	return w;
}

static int
paddr_from_sa(const struct sockaddr *sa, struct paddr *p)
{
	static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
	const struct sockaddr_in6 *s6;
	const uint8_t *b;

	memset(p, 0, sizeof(*p));
	if (sa == NULL)
		return -1;
	if (sa->sa_family == AF_INET) {
		p->af = AF_INET;
		memcpy(p->a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		p->raw_af = AF_INET;
		memcpy(p->raw, p->a, 4);
		return 0;
	}
	if (sa->sa_family != AF_INET6)
		return -1;
	s6 = (const struct sockaddr_in6 *)sa;
	b = s6->sin6_addr.s6_addr;
	p->raw_af = AF_INET6;
	memcpy(p->raw, b, 16);
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		p->af = AF_INET;
		memcpy(p->a, b + 12, 4);
		return 0;
	}
	p->af = AF_INET6;
	memcpy(p->a, b, 16);
	if (memcmp(b, nat64, 12) == 0) {
		p->has4 = 1;
		memcpy(p->v4, b + 12, 4);
	} else if (b[0] == 0x20 && b[1] == 0x02) {
		p->has4 = 1; /* 6to4: 2002:V4ADDR::/48 */
		memcpy(p->v4, b + 2, 4);
	}
	return 0;
}

#ifdef CP_TEST_HOOKS
const char *
policy_special(const struct sockaddr *sa)
{
	struct paddr p;

	if (paddr_from_sa(sa, &p) == -1)
		return NULL;
	return paddr_special(&p);
}
#endif

/* ---- matching ---- */

static int
client_match(const struct client_match *w, const struct cp_peer *peer)
{
	int i;

	switch (w->kind) {
	case CL_ANY:
		return 1;
	case CL_UID:
		return peer->uid == w->uid;
	case CL_GID:
		if (peer->gid == w->gid)
			return 1;
		for (i = 0; peer->groups != NULL && i < peer->ngroups &&
		            i < MAX_GROUPS;
		     i++)
			if (peer->groups[i] == w->gid)
				return 1;
		return 0;
	}
	return 0;
}

static int
port_match(const struct portset *ps, uint16_t port)
{
	int i;

	if (ps->n == 0)
		return 1;
	for (i = 0; i < ps->n; i++)
		if (port >= ps->r[i].lo && port <= ps->r[i].hi)
			return 1;
	return 0;
}

/* Length of a host name without its final dot; 0 if unusable. */
static size_t
host_len(const char *host)
{
	size_t n;

	if (host == NULL)
		return 0;
	n = strnlen(host, CP_MAX_HOST + 2);
	if (n > CP_MAX_HOST + 1)
		return 0;
	if (n > 0 && host[n - 1] == '.')
		n--;
	return n;
}

static int
name_match(const struct dest_match *d, const char *host)
{
	size_t hl = host_len(host), dl;

	if (hl == 0 || d->name == NULL)
		return 0;
	dl = strlen(d->name);
	if (d->kind == DEST_NAME)
		return hl == dl && strncasecmp(host, d->name, hl) == 0;
	if (d->kind == DEST_PATTERN)
		return hl > dl && strncasecmp(host + hl - dl, d->name, dl) == 0;
	return 0;
}

/* Whether an address destination contains the address. */
static int
addr_in(const struct dest_match *d, const struct paddr *p)
{
	if (d->kind != DEST_ADDR)
		return 0;
	if (d->af == p->af && in_net(p->a, d->addr, d->prefix))
		return 1;
	return d->af == AF_INET && p->has4 && in_net(p->v4, d->addr, d->prefix);
}

static int
rule_applies(
    const struct rule *r, const struct cp_peer *peer, uint16_t port, int tls)
{
	return (r->kinds & (tls ? KIND_TLS : KIND_TCP)) &&
	       port_match(&r->ports, port) && client_match(&r->who, peer);
}

/* ---- results ---- */

static int
verdict(struct policy_result *res, enum verdict v, const struct rule *r,
    const char *fmt, const char *arg)
{
	char rs[200];
	const char *what = arg != NULL ? arg : "";

	res->v = v;
	res->rule = r;
	res->allow_fmt = NULL;
	/* An allow's reason is rarely read: policy_why() formats it. */
	if (v == V_ALLOW && r != NULL && arg == NULL) {
		res->allow_fmt = fmt;
		res->why[0] = '\0';
		return 0;
	}
	if (r != NULL)
		what = conf_rule_str(r, rs, sizeof(rs));
	snprintf(res->why, sizeof(res->why), fmt, what);
	return v == V_ALLOW ? 0 : -1;
}

const char *
policy_why(struct policy_result *res)
{
	char rs[200];

	if (res->v == V_ALLOW && res->allow_fmt != NULL && res->rule != NULL) {
		snprintf(res->why, sizeof(res->why), res->allow_fmt,
		    conf_rule_str(res->rule, rs, sizeof(rs)));
		res->allow_fmt = NULL;
	}
	return res->why;
}

static int
no_rule(struct policy_result *res, const struct cp_peer *peer, const char *dest,
    uint16_t port, int tls)
{
	res->v = V_DENY;
	res->rule = NULL;
	snprintf(res->why, sizeof(res->why),
	    "denied: no rule allows uid %u to reach %.64s port %u (%s)",
	    (unsigned)peer->uid, dest, port, tls ? "tls" : "tcp");
	return -1;
}

static int
check_paddr(const struct cpconf *c, const struct cp_peer *peer,
    const char *host, const struct paddr *pa, uint16_t port, int tls,
    struct policy_result *res)
{
	const char *special = paddr_special(pa);
	const struct rule *r;
	size_t i;
	int passed = 0;
	char msg[200], text[INET6_ADDRSTRLEN];

	for (i = 0; i < c->nrules; i++) {
		r = &c->rules[i];
		if (!rule_applies(r, peer, port, tls))
			continue;
		if (r->dst.kind != DEST_ANY && !name_match(&r->dst, host) &&
		    !addr_in(&r->dst, pa))
			continue;
		if (r->action == V_DENY)
			return verdict(res, V_DENY, r, "denied by %s", NULL);
		/* Only a rule that names a special address may allow it. */
		if (special != NULL && !addr_in(&r->dst, pa)) {
			passed = 1;
			continue;
		}
		return verdict(res, V_ALLOW, r, "allowed by %s", NULL);
	}
	if (!passed)
		return no_rule(
		    res, peer, paddr_text(pa, text, sizeof(text)), port, tls);
	snprintf(msg, sizeof(msg), "%s is %s",
	    paddr_text(pa, text, sizeof(text)), special);
	return verdict(res, V_DENY, NULL, "denied: %s (no rule names it)", msg);
}

static int
bad_request(struct policy_result *res, const char *why)
{
	res->v = V_DENY;
	res->rule = NULL;
	snprintf(res->why, sizeof(res->why), "denied: %s", why);
	return -1;
}

int
policy_check_addr(const struct cpconf *c, const struct cp_peer *peer,
    const char *host, const struct sockaddr *sa, uint16_t port, int tls,
    struct policy_result *res)
{
	struct paddr pa;

	if (port == 0)
		return bad_request(res, "port 0");
	if (paddr_from_sa(sa, &pa) == -1)
		return bad_request(res, "unsupported address family");
	return check_paddr(c, peer, host, &pa, port, tls, res);
}

/* An address literal as a sockaddr; 0, or -1 for anything else. */
static int
literal(const char *host, struct sockaddr_storage *ss)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		return 0;
	}
	return -1;
}

int
policy_check_name(const struct cpconf *c, const struct cp_peer *peer,
    const char *host, uint16_t port, int tls, struct policy_result *res)
{
	struct sockaddr_storage ss;
	const struct rule *r;
	size_t i, n;

	if (port == 0)
		return bad_request(res, "port 0");
	n = host != NULL ? strnlen(host, CP_MAX_HOST + 2) : 0;
	if (n == 0 || n > CP_MAX_HOST + 1)
		return bad_request(res, "invalid host name");
	if (literal(host, &ss) == 0)
		return policy_check_addr(
		    c, peer, host, (struct sockaddr *)&ss, port, tls, res);
	if (!cp_hostname_ok(host, n))
		return bad_request(res, "invalid host name");
	for (i = 0; i < c->nrules; i++) {
		r = &c->rules[i];
		if (!rule_applies(r, peer, port, tls))
			continue;
		/* An address rule may or may not match what the name
		 * resolves to: a deny is left to the address check, an allow
		 * makes the name worth resolving. */
		if (r->dst.kind == DEST_ADDR && r->action == V_DENY)
			continue;
		if (r->dst.kind == DEST_NAME || r->dst.kind == DEST_PATTERN) {
			if (!name_match(&r->dst, host))
				continue;
		}
		if (r->action == V_DENY)
			return verdict(res, V_DENY, r, "denied by %s", NULL);
		return verdict(res, V_ALLOW, r,
		    "allowed by %s (pending the address check)", NULL);
	}
	return no_rule(res, peer, host, port, tls);
}

int
policy_check_remote_name(const struct cpconf *c, const struct cp_peer *peer,
    const char *host, uint16_t port, int tls, struct policy_result *res)
{
	struct sockaddr_storage ss;
	const struct rule *r, *addr_allow = NULL;
	char rs[200];
	size_t i;

	if (policy_check_name(c, peer, host, port, tls, res) == -1)
		return -1;
	if (literal(host, &ss) == 0)
		return 0;
	/* The name rules in order; an address rule cannot be told. */
	for (i = 0; i < c->nrules; i++) {
		r = &c->rules[i];
		if (!rule_applies(r, peer, port, tls))
			continue;
		if (r->dst.kind == DEST_ADDR) {
			if (r->action == V_ALLOW && addr_allow == NULL)
				addr_allow = r;
			continue;
		}
		if (r->dst.kind != DEST_ANY && !name_match(&r->dst, host))
			continue;
		if (r->action == V_DENY)
			return verdict(res, V_DENY, r, "denied by %s", NULL);
		return verdict(res, V_ALLOW, r, "allowed by %s", NULL);
	}
	if (addr_allow == NULL)
		return no_rule(res, peer, host, port, tls);
	conf_rule_str(addr_allow, rs, sizeof(rs));
	res->v = V_DENY;
	res->rule = addr_allow;
	snprintf(res->why, sizeof(res->why),
	    "denied: only the address %.100s allows %.64s, and the "
	    "proxy resolves the name (proxy-resolve remote)",
	    rs, host);
	return -1;
}

/* ---- the TLS policy of a request ---- */

/* A name a destination block may match: a host name or an address. */
struct tname {
	const char *s;
	int lit; /* an address literal, in pa */
	struct paddr pa;
};

static int
tname_init(struct tname *n, const char *s)
{
	struct sockaddr_storage ss;

	memset(n, 0, sizeof(*n));
	if (s == NULL || host_len(s) == 0)
		return -1;
	n->s = s;
	n->lit = literal(s, &ss) == 0 &&
	         paddr_from_sa((struct sockaddr *)&ss, &n->pa) == 0;
	return 0;
}

static int
dest_applies(const struct destination *d, const struct tname *n, uint16_t port)
{
	if (n->s == NULL || !port_match(&d->ports, port))
		return 0;
	if (d->dst.kind == DEST_ANY)
		return 1;
	return n->lit ? addr_in(&d->dst, &n->pa) : name_match(&d->dst, n->s);
}

/* Keep in m only the ALPN protocols that t allows too. */
static void
alpn_meet(struct dest_tls *m, const struct dest_tls *t)
{
	int i, j, n = 0;

	if (m->alpn_none || (t->nalpn == 0 && !t->alpn_none))
		return;
	if (m->nalpn == 0) {
		m->nalpn = t->nalpn;
		memcpy(m->alpn, t->alpn, sizeof(m->alpn));
		m->alpn_none = t->alpn_none;
		return;
	}
	for (i = 0; i < m->nalpn; i++)
		for (j = 0; j < t->nalpn; j++)
			if (strcmp(m->alpn[i], t->alpn[j]) == 0) {
				m->alpn[n++] = m->alpn[i];
				break;
			}
	m->nalpn = n;
	m->alpn_none = n == 0;
}

/* A block's CRLs are its own crl-file or the global one it inherits:
 * either way one set, counted once. */
static void
tls_fold_crl(struct tls_policy *p, const struct dest_tls *t, long idx)
{
	const struct cpconf *c = p->conf;

	if (t->crl_file == NULL)
		return;
	if (idx < 0 || (t->crl_file == c->tls.crl_file &&
	                   !(c->dests[idx].own.set & TLSSET_CRL))) {
		if (!p->global_crl) {
			p->global_crl = 1;
			p->ncrlsets++;
		}
	} else if (!(p->crls[idx / 8] & (1u << (idx % 8)))) {
		p->crls[idx / 8] |= 1u << (idx % 8);
		p->ncrlsets++;
	}
}

/* One applicable policy (a block's merged one, or the global one) joins
 * the request's; idx is the block's index, -1 for the global policy. */
static void
tls_fold(struct tls_policy *p, const struct dest_tls *t, long idx)
{
	struct dest_tls *m = &p->t;

	if (t->verify == TLSV_REQUIRED)
		m->verify = TLSV_REQUIRED;
	if (t->client_ca == CLIENT_CA_FORBIDDEN)
		m->client_ca = CLIENT_CA_FORBIDDEN;
	if (t->min_version > m->min_version)
		m->min_version = t->min_version;
	if (!t->cn_fallback)
		m->cn_fallback = 0;
	alpn_meet(m, t);
	if (t->ocsp > m->ocsp)
		m->ocsp = t->ocsp;
	if (t->crl_all)
		m->crl_all = 1;
	tls_fold_crl(p, t, idx);
	if (t->npins == 0)
		return;
	if (idx < 0 && !p->global_pins) {
		p->global_pins = 1;
		p->npinsets++;
	} else if (idx >= 0 && !(p->pinned[idx / 8] & (1u << (idx % 8)))) {
		p->pinned[idx / 8] |= 1u << (idx % 8);
		p->npinsets++;
	}
}

/* Fold in the blocks that apply to name, or the global policy if none. */
static void
tls_fold_name(struct tls_policy *p, const struct cpconf *c,
    const struct tname *n, uint16_t port)
{
	size_t i;
	int found = 0;

	for (i = 0; i < c->ndests && i < CONF_MAX_DESTS; i++)
		if (dest_applies(&c->dests[i], n, port)) {
			tls_fold(p, &c->dests[i].merged, (long)i);
			found = 1;
		}
	if (!found)
		tls_fold(p, &c->tls, -1);
}

void
policy_tls_fold_addr(struct tls_policy *p, const struct sockaddr *sa,
    uint16_t port)
{
	const struct cpconf *c = p->conf;
	struct tname n;
	size_t i;

	memset(&n, 0, sizeof(n));
	if (paddr_from_sa(sa, &n.pa) == -1)
		return;
	n.s = "";
	n.lit = 1;
	for (i = 0; i < c->ndests && i < CONF_MAX_DESTS; i++)
		if (c->dests[i].dst.kind != DEST_ANY &&
		    dest_applies(&c->dests[i], &n, port))
			tls_fold(p, &c->dests[i].merged, (long)i);
}

static int
str_same(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int
cert_same(const struct dest_tls *a, const struct dest_tls *b)
{
	return str_same(a->cert_file, b->cert_file) &&
	       str_same(a->key_file, b->key_file);
}

static int
cert_conflict(const struct cpconf *c, const struct dest_tls *a,
    const struct dest_tls *b, char *err, size_t errsz)
{
	char wa[128], wb[128];
	const struct dest_tls *t[2] = {a, b};
	char *w[2] = {wa, wb};
	int i;

	for (i = 0; i < 2; i++)
		if (t[i]->cert_line > 0)
			snprintf(w[i], sizeof(wa), "%.96s:%d",
			    t[i]->file != NULL ? t[i]->file : c->file,
			    t[i]->cert_line);
		else
			snprintf(w[i], sizeof(wa), "the global default");
	snprintf(err, errsz,
	    "destination blocks name different client certificates "
	    "(%s and %s)",
	    wa, wb);
	return -1;
}

/*
 * The host decides the client certificate (what its blocks name, else the
 * global setting); the server name may only agree with it.  Blocks that
 * do not name one do not count.
 */
static int
tls_pick_cert(struct tls_policy *p, const struct cpconf *c,
    const struct tname *host, const struct tname *sni, uint16_t port, char *err,
    size_t errsz)
{
	const struct dest_tls *pick = NULL, *o;
	size_t i;

	for (i = 0; i < c->ndests && i < CONF_MAX_DESTS; i++) {
		o = &c->dests[i].own;
		if (!(o->set & TLSSET_CERT) ||
		    !dest_applies(&c->dests[i], host, port))
			continue;
		if (pick == NULL)
			pick = o;
		else if (!cert_same(pick, o))
			return cert_conflict(c, pick, o, err, errsz);
	}
	if (pick == NULL)
		pick = &c->tls;
	for (i = 0; i < c->ndests && i < CONF_MAX_DESTS; i++) {
		o = &c->dests[i].own;
		if ((o->set & TLSSET_CERT) &&
		    dest_applies(&c->dests[i], sni, port) &&
		    !cert_same(pick, o))
			return cert_conflict(c, pick, o, err, errsz);
	}
	p->t.cert_file = pick->cert_file;
	p->t.key_file = pick->key_file;
	p->t.cert_line = pick->cert_line;
	return 0;
}

int
policy_tls_request(const struct cpconf *c, const char *host, const char *sni,
    uint16_t port, struct tls_policy *out, char *err, size_t errsz)
{
	struct tname h, n;

	memset(out, 0, sizeof(*out));
	out->conf = c;
	out->t.verify = TLSV_OPTIONAL;
	out->t.client_ca = CLIENT_CA_ALLOWED;
	out->t.min_version = CONF_TLS12;
	out->t.cn_fallback = 1; /* every policy folded in must say yes */
	out->t.ocsp = OCSP_OFF;  /* the strictest folded in wins */
	tname_init(&h, host);
	tls_fold_name(out, c, &h, port);
	/* No server name: only the host's blocks. */
	if (tname_init(&n, sni) == 0)
		tls_fold_name(out, c, &n, port);
	return tls_pick_cert(out, c, &h, &n, port, err, errsz);
}

static int
pins_met(const struct dest_tls *t, const uint8_t (*spki)[32], int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (policy_pin_match(t, spki[i]))
			return 1;
	return 0;
}

int
policy_pins_ok(const struct tls_policy *p, const uint8_t (*spki)[32], int n)
{
	const struct cpconf *c = p->conf;
	size_t i;

	if (p->npinsets == 0)
		return 1;
	if (p->global_pins && !pins_met(&c->tls, spki, n))
		return 0;
	for (i = 0; i < c->ndests && i < CONF_MAX_DESTS; i++)
		if ((p->pinned[i / 8] & (1u << (i % 8))) &&
		    !pins_met(&c->dests[i].merged, spki, n))
			return 0;
	return 1;
}

int
policy_crl_each(const struct tls_policy *p,
    int (*fn)(void *, const char *, const char *, int), void *arg)
{
	const struct cpconf *c = p->conf;
	const struct dest_tls *t;
	size_t i;
	int r;

	if (p->global_crl &&
	    (r = fn(arg, c->tls.crl_file, c->file, c->tls.crl_line)) != 0)
		return r;
	for (i = 0; i < c->ndests && i < CONF_MAX_DESTS; i++) {
		if (!(p->crls[i / 8] & (1u << (i % 8))))
			continue;
		t = &c->dests[i].own;
		if ((r = fn(arg, t->crl_file, t->file != NULL ? t->file : c->file,
		         t->crl_line)) != 0)
			return r;
	}
	return 0;
}

int
policy_alpn_allowed(const struct dest_tls *t, const uint8_t *wire, size_t len)
{
	size_t i = 0, l;
	int j, ok = 1, found;

	while (i < len) {
		l = wire[i];
		if (l == 0 || l > len - i - 1)
			return -1;
		found = t->nalpn == 0 && !t->alpn_none;
		for (j = 0; j < t->nalpn && !found; j++)
			found = strlen(t->alpn[j]) == l &&
			        memcmp(t->alpn[j], wire + i + 1, l) == 0;
		if (!found)
			ok = 0;
		i += 1 + l;
	}
	return ok;
}

int
policy_pin_match(const struct dest_tls *t, const uint8_t spki_sha256[32])
{
	int i;

	if (t->npins == 0)
		return 1;
	for (i = 0; i < t->npins; i++)
		if (memcmp(t->pins[i], spki_sha256, 32) == 0)
			return 1;
	return 0;
}

/* ---- the upstream proxy of a request ---- */

/* How specific a block's destination is for the host it matched. */
static int
dest_rank(const struct destination *d)
{
	int r = 0;

	switch (d->dst.kind) {
	case DEST_ANY:
		r = 0;
		break;
	case DEST_ADDR:
		r = 1 + d->dst.prefix;
		break;
	case DEST_PATTERN:
		r = 1 + (int)strlen(d->dst.name);
		break;
	case DEST_NAME:
		r = 1000;
		break;
	}
	return 2 * r + (d->ports.n > 0);
}

static int
proxy_same(const struct proxy_conf *a, const struct proxy_conf *b)
{
	if (a->kind != b->kind)
		return 0;
	if (a->kind == PROXY_NONE)
		return 1;
	return a->port == b->port && a->resolve == b->resolve &&
	       str_same(a->host, b->host) &&
	       str_same(a->cred_file, b->cred_file);
}

int
policy_proxy(const struct cpconf *c, const char *host, uint16_t port,
    const struct proxy_conf **out, char *err, size_t errsz)
{
	const struct destination *best = NULL, *d;
	const struct proxy_conf *x;
	struct tname n;
	int rank = -1, rk;
	size_t i;

	*out = NULL;
	if (tname_init(&n, host) == -1)
		return 0;
	for (i = 0; i < c->ndests && i < CONF_MAX_DESTS; i++) {
		d = &c->dests[i];
		if (d->proxy.kind == PROXY_UNSET || !dest_applies(d, &n, port))
			continue;
		if ((rk = dest_rank(d)) > rank) {
			best = d;
			rank = rk;
		}
	}
	/* Only a tie at the top counts. */
	for (i = 0; best != NULL && i < c->ndests && i < CONF_MAX_DESTS; i++) {
		d = &c->dests[i];
		if (d == best || d->proxy.kind == PROXY_UNSET ||
		    !dest_applies(d, &n, port) || dest_rank(d) != rank ||
		    proxy_same(&best->proxy, &d->proxy))
			continue;
		snprintf(err, errsz,
		    "destination blocks at %.96s:%d and %.96s:%d name "
		    "different proxies for %.64s",
		    best->file, best->proxy.line, d->file, d->proxy.line, host);
		return -1;
	}
	x = best != NULL ? &best->proxy : &c->proxy;
	if (x->kind == PROXY_HTTP || x->kind == PROXY_SOCKS5)
		*out = x;
	return 0;
}
