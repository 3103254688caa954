/* SPDX-License-Identifier: ISC */
/*
 * cpconnect wire protocol: message types, attribute tags, error classes and
 * limits shared by cpconnectd and libcpconnect.
 *
 * A session is a stream of imsg frames (see imsg.h).  Every payload is an
 * attribute list (see attr.h).  The peerid field of the imsg header carries
 * the request id chosen by the client; replies echo it.
 *
 *   client                         daemon
 *   HELLO {VERSION}         ->
 *                           <-     HELLO {VERSION, limits}  or
 * RESULT{status=ERROR} CONNECT {HOST, PORT...} ->
 *                           <-     RESULT {status=NEED_CA}      (unknown
 * anchors) CA_CERT {CERT} ...      -> CA_END {CA_HASH}        -> CONNECT
 * (again)         ->
 *                           <-     PEER_CERT {CERT} ...  (leaf first, TLS only)
 *                           <-     TLS_STATE {...}       (TLS only)
 *                           <-     RESULT {...} + socket descriptor
 *
 * TLS on a socket the program connected itself (STARTTLS, its own proxy
 * CONNECT), only on a session whose daemon announced CP_FEAT_HANDSHAKE
 * in its HELLO, so the library waits for that HELLO first:
 *   HANDSHAKE {HOST, PORT...} + socket descriptor ->
 *                           <-     as for a TLS CONNECT (NEED_CA, PEER_CERT,
 *                                  TLS_STATE, RESULT + the same socket)
 *
 * RESULT is always the last message of a request.  The socket it carries
 * is in blocking mode, with TCP_NODELAY on: the library relies on both.
 *
 * After a successful TLS RESULT, to a daemon that announced
 * CP_FEAT_RECORD, the library says which record layer took the
 * connection; it has no answer, and the daemon's audit line for that
 * request waits for it (a while at most):
 *   RECORD {RECORD}  (peerid: the request's) ->
 * A library that knows the record layer before it asks (kernel TLS off,
 * or known to be absent) says so in the CONNECT or HANDSHAKE instead
 * (CP_A_RECORD_KNOWN); a daemon that announced CP_FEAT_RECORD_KNOWN
 * then writes its line with the reply and waits for no RECORD, which
 * saves a message and a wake-up of the engine per connect.
 */
#ifndef CPPROTO_H
#define CPPROTO_H

#include <stdint.h>

/* 2: HELLO carries the daemon's request limits (the request budget). */
#define CP_PROTO_VERSION 2

/* Default path of the daemon socket; CPCONNECT_SOCKET overrides it. */
#define CP_DEFAULT_SOCKET "/run/cpconnect/cpconnect.sock"
/* A socket path with its NUL: sizeof(sun_path) on Linux. */
#define CP_SOCKET_PATH_MAX 108

/* Limits.  A frame larger than CP_MAX_MSG is a protocol error. */
#define CP_MAX_MSG (64 * 1024)
#define CP_MAX_HOST 253
#define CP_MAX_CERT (16 * 1024)
#define CP_MAX_CHAIN 10
#define CP_MAX_ALPN 255	  /* wire-format protocol list */
#define CP_MAX_ERRTEXT 512
#define CP_MAX_CA_CERTS 4096 /* anchors in one client-supplied set */
#define CP_MAX_RETRIES 1000  /* a CONNECT's retries (retry-max: at most 100) */
#define CP_MAX_SECRET 64
#define CP_MAX_KEY 32
#define CP_MAX_PROXY 280 /* "socks5://" [IPv6 or name] ":" port */
#define CP_MAX_TICKET (16 * 1024) /* a NewSessionTicket sent back */
#define CP_COOKIE_LEN 16
#define CP_IV_LEN 12

enum cp_msg_type {
	CP_MSG_HELLO = 1,
	CP_MSG_CONNECT,
	CP_MSG_CA_CERT,
	CP_MSG_CA_END,
	CP_MSG_PEER_CERT,
	CP_MSG_TLS_STATE,
	CP_MSG_RESULT,
	CP_MSG_TICKET, /* client -> daemon, no answer: a TLS 1.3 ticket */
	CP_MSG_HANDSHAKE, /* TLS on the socket that travels with it */
	CP_MSG_RECORD,    /* client -> daemon, no answer: the record layer */
	CP_MSG_MAX
};

/*
 * What a daemon can do beyond protocol 2, in the optional CP_A_FEATURES
 * of its HELLO (an ATTR_OPTIONAL tag: older libraries skip it, and a
 * daemon without it has none of these).  No protocol version of their
 * own: a library asks for a feature only of a daemon that announced it.
 */
#define CP_A_FEATURES 0x8002   /* u32, CP_FEAT_* bits */
#define CP_FEAT_HANDSHAKE 0x1u /* accepts HANDSHAKE */
#define CP_FEAT_RECORD 0x2u    /* accepts RECORD */
#define CP_FEAT_RECORD_KNOWN 0x4u /* CP_A_RECORD_KNOWN replaces RECORD */

/* Attribute tags.  Each message accepts only the tags listed for it. */
enum cp_attr_tag {
	/* HELLO */
	CP_A_VERSION = 1, /* u32 */
	CP_A_SOFTWARE,	  /* str, informational */
	/* The daemon's limits, in its HELLO only, all three or none (a daemon
	 * before them sends none): the library's wait follows them. */
	CP_A_REQUEST_TIMEOUT_MS,   /* u32, request-timeout */
	CP_A_HANDSHAKE_TIMEOUT_MS, /* u32, handshake-timeout */
	CP_A_MIN_RETRY_DELAY_MS,   /* u32, retry-delay */

	/* CONNECT */
	CP_A_HOST = 10,		/* str, required */
	CP_A_PORT,		/* u16, required, 1..65535 */
	CP_A_TLS,		/* u8 0/1 */
	CP_A_VERIFY,		/* u8 CP_VERIFY_* */
	CP_A_SNI,		/* str */
	CP_A_ALPN,		/* bytes, wire format (len-prefixed list) */
	CP_A_RETRIES,		/* u32 */
	CP_A_RETRY_DELAY_MS,	/* u32, first backoff delay */
	CP_A_CONNECT_TIMEOUT_MS, /* u32, per attempt */
	CP_A_TIMEOUT_MS,	/* u32, whole request */
	CP_A_FAMILY,		/* u8 CP_FAMILY_* */
	CP_A_CA_HASH,		/* bytes[32]: SHA-256 of the anchor set */

	/* CA_CERT, PEER_CERT */
	CP_A_CERT = 30, /* bytes, DER */

	/* TLS_STATE */
	CP_A_TLS_VERSION = 40, /* u16: 0x0303 or 0x0304 */
	CP_A_CIPHER_ID,	       /* u16: IANA cipher suite number */
	CP_A_TX_KEY,	       /* bytes */
	CP_A_TX_IV,	       /* bytes[12] */
	CP_A_TX_SEQ,	       /* u64 */
	CP_A_TX_SECRET,	       /* bytes, TLS 1.3 only */
	CP_A_RX_KEY,
	CP_A_RX_IV,
	CP_A_RX_SEQ,
	CP_A_RX_SECRET,

	/* RESULT */
	CP_A_STATUS = 60,  /* u8 CP_STATUS_* */
	CP_A_ECLASS,	   /* u8 CP_E_* */
	CP_A_ERRNO,	   /* u32 */
	CP_A_VERIFY_RESULT, /* u32, X509_V_* */
	CP_A_ERRTEXT,	   /* str */
	CP_A_CIPHER_NAME,  /* str */
	CP_A_ALPN_SELECTED, /* str */
	CP_A_RESUMED,	   /* u8 */
	CP_A_PEER_ADDR,	   /* str, numeric address */
	CP_A_PEER_PORT,	   /* u16 */
	CP_A_ATTEMPTS,	   /* u32 */
	CP_A_ELAPSED_MS,   /* u32 */
	CP_A_NO_PEER_CERT, /* u8: server sent no certificate */
	/* str: the upstream proxy the connection went through, as
	 * "http://HOST:PORT" or "socks5://HOST:PORT"; absent: none */
	CP_A_PROXY = 80,

	/* TICKET: CP_A_COOKIE and */
	CP_A_TICKET = 90, /* bytes: one NewSessionTicket message, header
	                     included */

	/* RECORD */
	CP_A_RECORD = 95, /* u8 CP_RECORD_*: which record layer */

	CP_A_MAX,

	/* RESULT, optional (ATTR_OPTIONAL, attr.h): older libraries skip
	 * them (and, without the cookie, send no ticket back). */
	CP_A_OCSP = 0x8000 + 60, /* u8 CP_OCSP_*: the stapled response */
	CP_A_COOKIE = 0x8001, /* bytes[16]: send TLS 1.3 tickets back with it */
	/* CONNECT (TLS) and HANDSHAKE, optional: u8 CP_RECORD_USER or
	 * _KERNEL, the record layer the library will take if the connection
	 * is handed over; to a daemon with CP_FEAT_RECORD_KNOWN no RECORD
	 * follows.  (0x8002 is CP_A_FEATURES.) */
	CP_A_RECORD_KNOWN = 0x8003,
};

enum cp_status {
	CP_STATUS_OK = 0,
	CP_STATUS_ERROR = 1,
	CP_STATUS_NEED_CA = 2,
};

/* Error classes: what went wrong, independent of errno. */
enum cp_eclass {
	CP_E_NONE = 0,
	CP_E_NONAME,	/* name not found */
	CP_E_REFUSED,	/* connection refused */
	CP_E_UNREACH,	/* host or network unreachable */
	CP_E_TIMEDOUT,	/* connect, handshake or request deadline */
	CP_E_PROTO,	/* malformed request, bad version */
	CP_E_LIMIT,	/* too many requests */
	CP_E_DENIED,	/* refused by policy */
	CP_E_TLS,	/* handshake failed */
	CP_E_VERIFY,	/* certificate did not verify (SSL_VERIFY_PEER) */
	CP_E_INTERNAL,	/* daemon-side failure (memory, descriptors) */
	CP_E_PROXY,	/* the upstream proxy failed or refused; see err */
	CP_E_MAX
};

/* What the stapled OCSP response said (tls.h has the checks). */
enum cp_ocsp {
	CP_OCSP_OFF = 0, /* not asked for: TCP, "ocsp off", no handshake */
	CP_OCSP_NONE,    /* asked for, none stapled (or a resumed session) */
	CP_OCSP_GOOD,
	CP_OCSP_REVOKED,
	CP_OCSP_UNKNOWN, /* the responder does not know the certificate */
	CP_OCSP_INVALID, /* a staple that does not verify */
	CP_OCSP_MAX
};

/* Which record layer carries a TLS connection after the hand-off. */
enum cp_record {
	CP_RECORD_UNKNOWN = 0, /* not reported (the audit line says "-") */
	CP_RECORD_USER,        /* libcpconnect's own (lib/record.c) */
	CP_RECORD_KERNEL,      /* kernel TLS (lib/ktls.c) */
	CP_RECORD_MAX
};

enum cp_verify_mode {
	CP_VERIFY_NONE = 0, /* report the result, let the caller decide */
	CP_VERIFY_PEER = 1, /* chain and host name must verify */
};

enum cp_family {
	CP_FAMILY_ANY = 0,
	CP_FAMILY_INET4 = 4,
	CP_FAMILY_INET6 = 6,
};

/* errno reported for a name that does not resolve. */
#define CP_ENONAME ENXIO

const char *cp_eclass_str(int eclass);
/* "off", "none", "good", "revoked", "unknown", "invalid". */
const char *cp_ocsp_str(int ocsp);
/* "-", "user", "kernel". */
const char *cp_record_str(int record);
const char *cp_msg_str(uint32_t type);

#endif
