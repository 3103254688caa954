/* SPDX-License-Identifier: ISC */
/*
 * The parent <-> engine channel: every message type and structure that
 * crosses it, as proto/cpproto.h is for the client protocol.
 *
 * The channel is the engine's descriptor 4, a SOCK_SEQPACKET socket pair:
 * one datagram is one message.  Every message starts with a 32-bit type
 * word in host byte order (both ends are the same binary on the same
 * machine) and has a fixed size, except CTL_CERT whose size is given by
 * its header:
 *
 *	engine -> parent	CTL_STATS (struct ctl_stats), once a second:
 *				the engine's totals since its start
 *				CTL_SIGN  (struct keys_sign_req)
 *	parent -> engine	CTL_CERT  (struct keys_cert + paths + DER
 *				chain), one per key, then CTL_CERT_END,
 *				right after the engine is started
 *				CTL_SIG   (struct keys_sign_rep)
 *				CTL_PCRED (struct pcred_msg + path + user +
 *				password), one per proxy-credentials file,
 *				then CTL_PCRED_END, right after CTL_CERT_END
 *				CTL_DRAIN (uint32_t): stop accepting, finish
 *				the requests in flight, exit
 *				CTL_VERBOSE (struct ctl_verbose): the log
 *				level, set at run time (cpconnectctl log)
 *				CTL_SESS_FLUSH (struct ctl_sess_flush):
 *				forget the cached TLS sessions
 *	both ways		CTL_SESS_PUT (struct ctl_sess + DER): a
 *				resumable TLS session (sesscache.h); from
 *				an engine it is kept and passed on to the
 *				other engines
 *				CTL_TICKET (struct ctl_ticket + message): a
 *				TLS 1.3 ticket a client sent to another
 *				engine than the one waiting for it
 *				(resume.h), relayed by the parent
 *
 * Clients come on a channel of their own (deal.h), so no synchronous
 * wait on this one (a signature) can swallow a client.
 *
 * The parent treats every datagram from an engine as hostile: exact
 * sizes, key ids in bounds, lengths in bounds (keytab.h says what it
 * signs).
 */
#ifndef CP_CTL_H
#define CP_CTL_H

#include <stdint.h>

#include "sesscache.h"

enum ctl_type {
	CTL_STATS = 1,
	CTL_SIGN = 2,
	CTL_SIG = 3,
	CTL_CERT = 4,
	CTL_CERT_END = 5,
	CTL_DRAIN = 6,
	CTL_VERBOSE = 7,
	CTL_PCRED = 8,
	CTL_PCRED_END = 9,
	CTL_SESS_PUT = 10,
	CTL_SESS_FLUSH = 11,
	CTL_TICKET = 12,
	CTL_CLIENT = 13, /* on the client channel, not this one: deal.h */
};

/* ---- CTL_STATS ---- */

/*
 * Outcomes are indexed by the client protocol's error class (CP_E_*,
 * cpproto.h): 0 is success.  Latency buckets are log-spaced upper bounds
 * in milliseconds (ctl_lat_ms[]); the last one takes everything slower.
 * Per-uid counts are bounded to CTL_UIDS uids, kept as in Metwally's
 * "space-saving": a uid not in a full table takes the place of the one
 * with the least count, and inherits that count as its err.  n - err is
 * exact: what the uid did since it came in.  So a heavy user shows
 * however many light ones came first, and nobody is counted for more
 * than they did; the rest of served is "other".
 */
#define CTL_OUTCOMES 16
#define CTL_KINDS 2 /* 0 TCP, 1 TLS */
#define CTL_LAT_BUCKETS 16
#define CTL_UIDS 16

static const uint32_t ctl_lat_ms[CTL_LAT_BUCKETS] = {1, 2, 5, 10, 20, 50, 100,
    200, 500, 1000, 2000, 5000, 10000, 20000, 60000, UINT32_MAX};

struct ctl_uid {
	uint32_t uid;
	uint32_t pad;
	uint64_t n;   /* requests answered, err included */
	uint64_t err; /* ... of which by the uids it displaced */
};

struct engine_stats {
	uint64_t served;   /* requests answered */
	uint64_t failed;   /* ... of which with an error */
	uint32_t inflight; /* requests in progress */
	uint32_t sessions; /* client sessions open */
	uint64_t outcome[CTL_OUTCOMES];
	uint64_t kind[CTL_KINDS];
	uint64_t handshakes; /* TLS handshakes completed */
	uint64_t dial_reordered; /* dials ordered by the history (dial.h) */
	uint64_t verify_cached;  /* chains verified before (vcache.h) */
	uint64_t lat[CTL_LAT_BUCKETS];
	uint64_t lat_sum_ms; /* of every counted request */
	uint32_t nuids, pad;
	struct ctl_uid uids[CTL_UIDS];
	uint64_t cache_hits;   /* TLS handshakes that resumed */
	uint64_t cache_misses; /* ... that found no session to offer,
	                          or offered one the server declined */
};

/* Counting one answered request (request.c); the parent sums these. */
void ctl_stats_count(struct engine_stats *, unsigned eclass, int tls,
    int handshake, uint32_t uid, uint32_t ms);
/* Adds src to dst: every counter, and src's uids into dst's table. */
void ctl_stats_add(struct engine_stats *dst, const struct engine_stats *src);
/* The requests of s no uid entry accounts for exactly: served less every
 * entry's n - err. */
uint64_t ctl_stats_uid_other(const struct engine_stats *);
/* The latency below which pct percent of the counted requests finished,
 * in ms, by bucket upper bound; 0 when none. */
uint32_t ctl_stats_pct(const struct engine_stats *, unsigned pct);

struct ctl_verbose {
	uint32_t type; /* CTL_VERBOSE */
	uint32_t level;
};

struct ctl_stats {
	uint32_t type; /* CTL_STATS */
	uint32_t pad;
	struct engine_stats st;
};

/* ---- CTL_SESS_PUT, CTL_SESS_FLUSH, CTL_TICKET ---- */

struct ctl_sess {
	uint32_t type;   /* CTL_SESS_PUT */
	uint32_t derlen; /* 1..SC_MAX_DER bytes of DER follow */
	struct sc_meta m;
};

struct ctl_sess_flush {
	uint32_t type; /* CTL_SESS_FLUSH */
	uint32_t uid;  /* (uint32_t)-1: every user's */
};

#define CTL_TICKET_MAX CP_MAX_TICKET

struct ctl_ticket {
	uint32_t type;  /* CTL_TICKET */
	uint32_t owner; /* pid of the engine the cookie names */
	uint32_t uid;   /* of the client that sent it */
	uint32_t len;   /* 1..CTL_TICKET_MAX bytes of message follow */
	uint8_t cookie[16];
};

/* The largest datagram on the channel. */
#define CTL_MAX_MSG (sizeof(struct ctl_sess) + SC_MAX_DER)

/* ---- CTL_SIGN, CTL_SIG, CTL_CERT, CTL_CERT_END ---- */

#define KEYS_MAX 256               /* distinct keys in one configuration */
#define KEYS_MAX_DATA 512          /* RSA 4096: one modulus */
#define KEYS_MAX_SIG 1024          /* a signature */
#define KEYS_MAX_CHAIN (60 * 1024) /* DER bytes of one certificate chain */
#define KEYS_MAX_PATH 4096         /* bytes of a file name in CTL_CERT */
#define KEYS_MAX_CERTMSG (KEYS_MAX_CHAIN + 2 * 4096 + 64)
#define KEYS_SIGN_TIMEOUT_MS 2000

enum keys_type { KEYS_EC = 1, KEYS_RSA = 2 };

enum keys_op {
	KEYS_OP_ECDSA = 1,     /* data: a SHA-256/384/512 digest */
	KEYS_OP_RSA_PKCS1 = 2, /* data: a digest; hash names it */
	KEYS_OP_RSA_PSS = 3, /* data: EMSA-PSS encoded message, modulus size */
};

enum keys_hash { KEYS_SHA256 = 1, KEYS_SHA384 = 2, KEYS_SHA512 = 3 };

struct keys_sign_req {
	uint32_t type; /* CTL_SIGN */
	uint32_t seq;  /* echoed in the reply */
	uint32_t key;  /* key id: index in the table, file order */
	uint32_t op;   /* KEYS_OP_* */
	uint32_t hash; /* KEYS_OP_RSA_PKCS1: KEYS_SHA*; else 0 */
	uint32_t len;  /* bytes of data used */
	uint8_t data[KEYS_MAX_DATA];
};

struct keys_sign_rep {
	uint32_t type; /* CTL_SIG */
	uint32_t seq;
	int32_t status; /* 0 signed, else an errno value */
	uint32_t len;   /* bytes of sig */
	uint8_t sig[KEYS_MAX_SIG];
};

struct keys_cert {
	uint32_t type; /* CTL_CERT */
	uint32_t id;
	uint32_t keytype; /* KEYS_EC or KEYS_RSA */
	uint32_t certlen; /* cert file path bytes, no NUL */
	uint32_t keylen;  /* key file path bytes, no NUL */
	uint32_t derlen;  /* DER certificates, leaf first, back to back */
	                  /* followed by the two paths and the DER chain */
};

struct keys_cert_end {
	uint32_t type; /* CTL_CERT_END */
	uint32_t nkeys;
};

/* ---- CTL_PCRED, CTL_PCRED_END (pcred.h) ---- */

struct pcred_msg {
	uint32_t type;    /* CTL_PCRED */
	uint32_t pathlen; /* the file's name as the configuration says it */
	uint32_t ulen;    /* 1..255 */
	uint32_t plen;    /* 1..255 */
	                  /* followed by the path, the user, the password */
};

struct pcred_end {
	uint32_t type; /* CTL_PCRED_END */
	uint32_t n;
};

#endif
