/* SPDX-License-Identifier: ISC */
/*
 * cpconnectd configuration: the parsed form of cpconnectd.conf(5).
 *
 * The file is line-oriented.  Words are bare or "quoted" (\" and \\ are the
 * only escapes), # starts a comment, '{' '}' and ',' are tokens of their
 * own.  Global settings appear at most once each; rules and destination
 * blocks keep their file order.  See examples/cpconnectd.conf.
 *
 * Every error is reported as "file:line: message".
 *
 *	setting value			(socket, engines, connect-timeout, ...)
 *	allow|deny [from CLIENT] [to DEST] [port PORTS] [tcp] [tls]
 *	destination DEST [port PORTS] {
 *		verify, client-ca, min-tls, alpn, pin, client-certificate,
 *		cn-fallback, ocsp, crl-file, crl-check, proxy, proxy-credentials,
 *		proxy-resolve
 *	}
 *	CLIENT: any | user NAME|UID | group NAME|GID | uid UID | gid GID
 *	DEST:   any | name | "*.example.com" | address | address/prefix
 *	PORTS:  any | P | P:Q | P,Q:R,...
 *
 * Rules are tried in file order and the first match decides; a file with no
 * rule denies everything (see policy.h for special-purpose addresses).
 *
 * Parsing resolves user and group names (getpwnam_r, getgrnam_r) and checks
 * every value; it does no other I/O and never resolves host names.
 */
#ifndef CP_CONF_H
#define CP_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CONF_DEFAULT_PATH "/etc/cpconnect/cpconnectd.conf"
#define CONF_DEFAULT_USER "cpconnect"
#define CONF_MAX_FILE (1024 * 1024) /* bytes */
#define CONF_MAX_STR 1024           /* one word or string */
#define CONF_MAX_RULES 10000
#define CONF_MAX_DESTS 1000
#define CONF_MAX_PORTS 64 /* ranges in one port list */
#define CONF_MAX_PINS 16
#define CONF_MAX_ALPN 16

#define CONF_TLS12 0x0303 /* same values as TLS1_2_VERSION, TLS1_3_VERSION */
#define CONF_TLS13 0x0304

enum verdict { V_ALLOW, V_DENY };

/* Who a rule applies to; peers are identified by SO_PEERCRED. */
enum client_kind {
	CL_ANY,
	CL_UID, /* "user NAME|UID" or "uid UID" */
	CL_GID, /* "group NAME|GID" or "gid GID": primary or supplementary */
};

struct client_match {
	enum client_kind kind;
	uid_t uid;
	gid_t gid;
};

enum dest_kind {
	DEST_ANY,
	DEST_NAME,    /* exact host name, lower case, no trailing dot */
	DEST_PATTERN, /* "*.example.com": any name below it, any depth */
	DEST_ADDR,    /* address or CIDR range (a bare address is /32, /128) */
};

struct dest_match {
	enum dest_kind kind;
	char *name; /* DEST_NAME: the name; DEST_PATTERN: ".example.com" */
	int af;     /* DEST_ADDR: AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network order, host bits cleared */
	int prefix;
};

/* n == 0 means any port. */
struct portset {
	int n;
	struct {
		uint16_t lo, hi;
	} r[CONF_MAX_PORTS];
};

#define KIND_TCP 0x1
#define KIND_TLS 0x2

struct rule {
	enum verdict action;
	struct client_match who;
	struct dest_match dst;
	struct portset ports;
	unsigned kinds;   /* KIND_TCP | KIND_TLS */
	const char *file; /* points into struct cpconf */
	int line;
};

enum tls_verify {
	/* Clients may ask for SSL_VERIFY_NONE and inspect the result. */
	TLSV_OPTIONAL,
	/* The chain and host name are verified whatever the client asks; a
	 * failure ends the request with an error. */
	TLSV_REQUIRED,
};

/* OCSP stapling, in order of strictness (the strictest applies). */
enum tls_ocsp {
	OCSP_OFF,        /* no staple asked for, none checked */
	OCSP_IF_STAPLED, /* a staple must verify and say good; none is fine */
	OCSP_REQUIRE,    /* a valid staple saying good is required */
};

enum tls_client_ca {
	CLIENT_CA_ALLOWED,   /* clients may bring their own trust anchors */
	CLIENT_CA_FORBIDDEN, /* a request carrying anchors is refused */
};

/* Bits of dest_tls.set: which fields the block (or global part) named. */
#define TLSSET_VERIFY 0x01
#define TLSSET_CLIENT_CA 0x02
#define TLSSET_MIN 0x04
#define TLSSET_PINS 0x08
#define TLSSET_ALPN 0x10
#define TLSSET_CERT 0x20
#define TLSSET_CN 0x40
#define TLSSET_OCSP 0x80
#define TLSSET_CRL 0x100
#define TLSSET_CRLCHECK 0x200

/*
 * TLS policy.  The global one has these defaults:
 *	verify optional, client-ca allowed, min-tls 1.2, alpn any, no pins,
 *	no client certificate, cn-fallback no, ocsp if-stapled, no CRL
 *	file, crl-check leaf.
 * "verify optional" by default lets unchanged cprops programs that use
 * SSL_VERIFY_NONE keep working; a destination block may say
 * "verify required".  When neither the block nor the global part says
 * "verify" at all, a policy with pins or a client certificate is
 * "verify required": a pin or a key is only worth something if the peer is
 * verified.
 *
 * Pins are SHA-256 digests of a certificate's SubjectPublicKeyInfo; when
 * there are any, at least one certificate of the verified chain must match
 * one of them.  nalpn == 0 means any ALPN protocol may be requested, unless
 * alpn_none is set; otherwise every protocol a client offers must be in the
 * list.  alpn_none only appears in the policy of a request whose blocks'
 * lists have no protocol in common (policy_tls_request()).
 *
 * A certificate matches a name by its DNS subjectAltNames only, as RFC 6125
 * and the CA/Browser Forum require; cn_fallback lets one without any DNS
 * subjectAltName match by its subject common name, for legacy servers.
 */
struct dest_tls {
	enum tls_verify verify;
	enum tls_client_ca client_ca;
	int min_version; /* CONF_TLS12 or CONF_TLS13 */
	int npins;
	uint8_t pins[CONF_MAX_PINS][32];
	int nalpn;
	char *alpn[CONF_MAX_ALPN];
	int alpn_none;   /* no protocol may be offered */
	int cn_fallback; /* 1: the subject CN counts without a DNS SAN */
	enum tls_ocsp ocsp;
	char *crl_file; /* CRLs for this policy, NULL: none */
	int crl_line;   /* of crl-file, for errors about its data */
	int crl_all;    /* crl-check all: the whole chain, not the leaf */
	char *cert_file; /* client certificate chain (PEM) and its key */
	char *key_file;
	int cert_line;    /* of client-certificate, for errors about it */
	const char *file; /* the destination block; NULL for global */
	int line;
	unsigned set; /* TLSSET_* */
};

/*
 * An upstream proxy (proxy.h speaks to it):
 *	proxy "http://HOST:PORT" | "socks5://HOST:PORT" | none
 *	proxy-credentials "PATH"		user:password, read by the parent
 *	proxy-resolve remote | local	who resolves the destination's name
 * The three describe one proxy: proxy-credentials and proxy-resolve need a
 * "proxy URL" in the same scope (global part or block), so a block that
 * names another proxy never inherits the credentials meant for the global
 * one.  policy_proxy() picks the proxy of a request.
 */
enum proxy_kind {
	PROXY_UNSET = 0, /* the scope says nothing */
	PROXY_NONE,      /* "proxy none": connect directly */
	PROXY_HTTP,      /* HTTP CONNECT (RFC 9110 section 9.3.6) */
	PROXY_SOCKS5,    /* SOCKS 5 (RFC 1928, RFC 1929 for credentials) */
};

enum proxy_resolve {
	PROXY_REMOTE = 0, /* the proxy resolves the name (the default) */
	PROXY_LOCAL,      /* the daemon does, and the address rules apply */
};

#define PROXYSET_URL 0x1
#define PROXYSET_CRED 0x2
#define PROXYSET_RESOLVE 0x4

struct proxy_conf {
	enum proxy_kind kind;
	char *host; /* a name, or an address without brackets */
	uint16_t port;
	char *cred_file; /* NULL: no credentials */
	enum proxy_resolve resolve;
	const char *file; /* where "proxy" was said */
	int line;
	int cred_line, resolve_line;
	unsigned set; /* PROXYSET_* */
};

/* destination "host-or-range" [port P] { ... } */
struct destination {
	struct dest_match dst;
	struct portset ports;
	struct dest_tls own;    /* what the block says; owns its strings */
	struct dest_tls merged; /* global, then the block; borrows strings */
	const char *file;
	int line;
	struct proxy_conf proxy; /* kind PROXY_UNSET: the block says none */
};

/*
 * Global settings and their defaults.  Timeouts are upper bounds: a client
 * may ask for less, never for more.
 */
struct conf_global {
	char *socket_path;        /* socket: CP_DEFAULT_SOCKET */
	char *control_path;       /* control-socket: NULL, <socket>.ctl */
	mode_t socket_mode;       /* socket-mode: 0666, the rules decide */
	gid_t socket_gid;         /* socket-group: (gid_t)-1, unchanged */
	unsigned engines;         /* engines: 0, one per CPU; at most 256 */
	char *user;               /* user: CONF_DEFAULT_USER */
	int user_resolved;        /* 1 when "user" was given and looked up */
	uid_t user_uid;           /* valid when user_resolved */
	gid_t user_gid;           /* the user's primary group */
	char *ca_file;            /* ca-file: NULL, OpenSSL's default */
	char *ca_path;            /* ca-path: NULL, OpenSSL's default */
	int ca_file_line, ca_path_line; /* where they were set */
	unsigned connect_ms;      /* connect-timeout: 10s, per attempt */
	unsigned handshake_ms;    /* handshake-timeout: 10s */
	unsigned request_ms;      /* request-timeout: 30s, whole request */
	unsigned retry_max;       /* retry-max: 3 retries a client may ask */
	unsigned retry_delay_ms;  /* retry-delay: 250ms, least delay between
	                             attempts; smaller requests are raised */
	unsigned max_req_per_uid; /* max-requests-per-user: 64 in flight */
	unsigned max_req;         /* max-requests: 1024 in flight, all users */
	unsigned session_idle_ms; /* session-idle-timeout: 5m */
	unsigned max_sessions;    /* max-sessions: 1024 client sessions */
	unsigned max_sessions_per_uid; /* max-sessions-per-user: 256 */
	unsigned reload_ms; /* reload-interval: 60s; how often the parent
	                       looks for changed trust, CRL and client
	                       certificate files; 0: only at a reload */
	int session_cache;             /* session-cache: SESSCACHE_PER_USER */
	unsigned session_cache_size;   /* session-cache-size: 1024 sessions */
	int verify_cache;              /* verify-cache: 1, on (vcache.h) */
};

/* session-cache per-user | shared | off */
enum { SESSCACHE_OFF = 0, SESSCACHE_PER_USER = 1, SESSCACHE_SHARED = 2 };

struct cpconf {
	char *file; /* the name given to conf_parse(); rules point here */
	struct conf_global g;
	struct dest_tls tls; /* global TLS policy */
	struct rule *rules;
	size_t nrules;
	struct destination *dests;
	size_t ndests;
	struct proxy_conf proxy; /* global proxy; PROXY_UNSET: direct */
};

/* Parse text[0..len) named name (used in messages).  0 or -1 and err. */
int conf_parse(struct cpconf **out, const char *name, const char *text,
    size_t len, char *err, size_t errsz);
/*
 * Read a regular file of at most CONF_MAX_FILE bytes into *text (malloc'd,
 * not terminated).  With path NULL, CONF_DEFAULT_PATH is read if it exists.
 * 1 read, 0 no default file (the built-in policy applies), -1 and err.
 */
int conf_read(const char *path, char **text, size_t *len, char *err,
    size_t errsz);
/*
 * Read and parse a regular file of at most CONF_MAX_FILE bytes.  With path
 * NULL, CONF_DEFAULT_PATH is read if it exists, and the built-in default
 * policy (conf_default) is used if it does not.
 */
int conf_load(struct cpconf **out, const char *path, int unprivileged,
    char *err, size_t errsz);
/*
 * The built-in policy: any user may reach any public destination, any port,
 * TCP or TLS; special-purpose ranges are refused.  With unprivileged set
 * (a user's own daemon), getuid() may also reach 127.0.0.0/8 and ::1.
 */
int conf_default(struct cpconf **out, int unprivileged);
void conf_free(struct cpconf *);

/* "rule at file:line" for logs and denial messages. */
const char *conf_rule_str(const struct rule *, char *buf, size_t len);

#endif
