/* SPDX-License-Identifier: ISC */
/*
 * Encoders and strict decoders for each cpconnect message.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hostname.h"
#include "msg.h"

#define NRULES(r) (sizeof(r) / sizeof((r)[0]))
#define MAX_MS (3600u * 1000u)

static int
bad(char *err, size_t errsz, const char *what)
{
	if (err != NULL && errsz > 0)
		snprintf(err, errsz, "%s", what);
	errno = EBADMSG;
	return -1;
}

const char *
cp_eclass_str(int e)
{
	static const char *const s[CP_E_MAX] = {
		[CP_E_NONE] = "success",
		[CP_E_NONAME] = "name not found",
		[CP_E_REFUSED] = "connection refused",
		[CP_E_UNREACH] = "unreachable",
		[CP_E_TIMEDOUT] = "timed out",
		[CP_E_PROTO] = "protocol error",
		[CP_E_LIMIT] = "too many requests",
		[CP_E_DENIED] = "denied by policy",
		[CP_E_TLS] = "TLS handshake failed",
		[CP_E_VERIFY] = "certificate verification failed",
		[CP_E_INTERNAL] = "internal error",
		[CP_E_PROXY] = "proxy failure",
	};

	if (e < 0 || e >= CP_E_MAX)
		return "unknown error class";
	return s[e];
}

const char *
cp_ocsp_str(int o)
{
	static const char *const s[CP_OCSP_MAX] = {
		[CP_OCSP_OFF] = "off",
		[CP_OCSP_NONE] = "none",
		[CP_OCSP_GOOD] = "good",
		[CP_OCSP_REVOKED] = "revoked",
		[CP_OCSP_UNKNOWN] = "unknown",
		[CP_OCSP_INVALID] = "invalid",
	};

	if (o < 0 || o >= CP_OCSP_MAX)
		return "?";
	return s[o];
}

const char *
cp_msg_str(uint32_t t)
{
	static const char *const s[CP_MSG_MAX] = {
		[CP_MSG_HELLO] = "HELLO",
		[CP_MSG_CONNECT] = "CONNECT",
		[CP_MSG_CA_CERT] = "CA_CERT",
		[CP_MSG_CA_END] = "CA_END",
		[CP_MSG_PEER_CERT] = "PEER_CERT",
		[CP_MSG_TLS_STATE] = "TLS_STATE",
		[CP_MSG_RESULT] = "RESULT",
		[CP_MSG_TICKET] = "TICKET",
		[CP_MSG_HANDSHAKE] = "HANDSHAKE",
		[CP_MSG_RECORD] = "RECORD",
	};

	if (t == 0 || t >= CP_MSG_MAX)
		return "unknown";
	return s[t];
}

const char *
cp_record_str(int r)
{
	static const char *const s[CP_RECORD_MAX] = {
		[CP_RECORD_UNKNOWN] = "-",
		[CP_RECORD_USER] = "user",
		[CP_RECORD_KERNEL] = "kernel",
	};

	if (r < 0 || r >= CP_RECORD_MAX)
		return "?";
	return s[r];
}

/* HELLO */

enum {
	H_VERSION,
	H_SOFTWARE,
	H_REQUEST,
	H_HANDSHAKE,
	H_DELAY,
	H_FEATURES,
	H_N
};

static const struct attr_rule hello_rules[H_N] = {
    [H_VERSION] = {CP_A_VERSION, AT_U32, 1, 1, UINT32_MAX, "version"},
    [H_SOFTWARE] = {CP_A_SOFTWARE, AT_STR, 0, 0, 63, "software"},
    [H_REQUEST] = {CP_A_REQUEST_TIMEOUT_MS, AT_U32, 0, 1, MAX_MS,
        "request timeout"},
    [H_HANDSHAKE] = {CP_A_HANDSHAKE_TIMEOUT_MS, AT_U32, 0, 1, MAX_MS,
        "handshake timeout"},
    [H_DELAY] = {CP_A_MIN_RETRY_DELAY_MS, AT_U32, 0, 0, MAX_MS, "retry delay"},
    [H_FEATURES] = {CP_A_FEATURES, AT_U32, 0, 0, UINT32_MAX, "features"},
};

void
cp_hello_encode(struct abuf *b, const struct cp_hello *h)
{
	abuf_u32(b, CP_A_VERSION, h->version);
	if (h->software[0] != '\0')
		abuf_str(b, CP_A_SOFTWARE, h->software);
	if (h->lim.known) {
		abuf_u32(b, CP_A_REQUEST_TIMEOUT_MS, h->lim.request_ms);
		abuf_u32(b, CP_A_HANDSHAKE_TIMEOUT_MS, h->lim.handshake_ms);
		abuf_u32(b, CP_A_MIN_RETRY_DELAY_MS, h->lim.retry_delay_ms);
	}
	if (h->features != 0)
		abuf_u32(b, CP_A_FEATURES, h->features);
}

int
cp_hello_decode(const void *p, size_t len, struct cp_hello *h, char *err,
    size_t errsz)
{
	struct attr_val v[H_N];
	int n;

	if (attr_parse(p, len, hello_rules, H_N, v, err, errsz) == -1)
		return -1;
	memset(h, 0, sizeof(*h));
	h->version = (uint32_t)v[H_VERSION].num;
	attr_str(&v[H_SOFTWARE], h->software, sizeof(h->software));
	/* Half a set of limits would be read as defaults for the rest. */
	n = v[H_REQUEST].present + v[H_HANDSHAKE].present + v[H_DELAY].present;
	if (n != 0 && n != 3)
		return bad(err, errsz, "HELLO limits: request timeout, "
		    "handshake timeout and retry delay come together");
	h->lim.known = n == 3;
	h->lim.request_ms = (uint32_t)v[H_REQUEST].num;
	h->lim.handshake_ms = (uint32_t)v[H_HANDSHAKE].num;
	h->lim.retry_delay_ms = (uint32_t)v[H_DELAY].num;
	/* Bits we do not know are a later daemon's: not ours to use. */
	h->features = (uint32_t)v[H_FEATURES].num;
	return 0;
}

/* CONNECT */

enum {
	C_HOST,
	C_PORT,
	C_TLS,
	C_VERIFY,
	C_SNI,
	C_ALPN,
	C_RETRIES,
	C_DELAY,
	C_CTIMEOUT,
	C_TIMEOUT,
	C_FAMILY,
	C_CAHASH,
	C_RECORD,
	C_N
};

static const struct attr_rule connect_rules[C_N] = {
    [C_HOST] = {CP_A_HOST, AT_STR, 1, 1, CP_MAX_HOST, "host"},
    [C_PORT] = {CP_A_PORT, AT_U16, 1, 1, 65535, "port"},
    [C_TLS] = {CP_A_TLS, AT_U8, 0, 0, 1, "tls"},
    [C_VERIFY] = {CP_A_VERIFY, AT_U8, 0, 0, 1, "verify"},
    [C_SNI] = {CP_A_SNI, AT_STR, 0, 1, CP_MAX_HOST, "server name"},
    [C_ALPN] = {CP_A_ALPN, AT_BYTES, 0, 2, CP_MAX_ALPN, "alpn"},
    [C_RETRIES] = {CP_A_RETRIES, AT_U32, 0, 0, CP_MAX_RETRIES, "retries"},
    [C_DELAY] = {CP_A_RETRY_DELAY_MS, AT_U32, 0, 0, MAX_MS, "retry delay"},
    [C_CTIMEOUT] = {CP_A_CONNECT_TIMEOUT_MS, AT_U32, 0, 0, MAX_MS,
        "connect timeout"},
    [C_TIMEOUT] = {CP_A_TIMEOUT_MS, AT_U32, 0, 0, MAX_MS, "timeout"},
    [C_FAMILY] = {CP_A_FAMILY, AT_U8, 0, 0, 6, "family"},
    [C_CAHASH] = {CP_A_CA_HASH, AT_BYTES, 0, CP_HASH_LEN, CP_HASH_LEN,
        "ca hash"},
    [C_RECORD] = {CP_A_RECORD_KNOWN, AT_U8, 0, CP_RECORD_USER,
        CP_RECORD_MAX - 1, "record"},
};

/* ALPN wire format: a list of non-empty length-prefixed names. */
static int
valid_alpn(const unsigned char *p, size_t len)
{
	size_t off = 0;

	while (off < len) {
		if (p[off] == 0 || p[off] > len - off - 1)
			return 0;
		off += 1 + p[off];
	}
	return 1;
}

void
cp_connect_encode(struct abuf *b, const struct cp_connect *c)
{
	abuf_str(b, CP_A_HOST, c->host);
	abuf_u16(b, CP_A_PORT, c->port);
	abuf_u8(b, CP_A_TLS, c->tls);
	abuf_u8(b, CP_A_VERIFY, c->verify);
	if (c->sni[0] != '\0')
		abuf_str(b, CP_A_SNI, c->sni);
	if (c->alpnlen > 0)
		abuf_bytes(b, CP_A_ALPN, c->alpn, c->alpnlen);
	abuf_u32(b, CP_A_RETRIES, c->retries);
	abuf_u32(b, CP_A_RETRY_DELAY_MS, c->retry_delay_ms);
	abuf_u32(b, CP_A_CONNECT_TIMEOUT_MS, c->connect_timeout_ms);
	abuf_u32(b, CP_A_TIMEOUT_MS, c->timeout_ms);
	abuf_u8(b, CP_A_FAMILY, c->family);
	if (c->has_ca_hash)
		abuf_bytes(b, CP_A_CA_HASH, c->ca_hash, CP_HASH_LEN);
	if (c->record != CP_RECORD_UNKNOWN)
		abuf_u8(b, CP_A_RECORD_KNOWN, c->record);
}

int
cp_connect_decode(const void *p, size_t len, struct cp_connect *c, char *err,
    size_t errsz)
{
	struct attr_val v[C_N];

	if (attr_parse(p, len, connect_rules, C_N, v, err, errsz) == -1)
		return -1;
	memset(c, 0, sizeof(*c));
	attr_str(&v[C_HOST], c->host, sizeof(c->host));
	if (!cp_host_ok(c->host))
		return bad(err, errsz, "attribute host: not a host name or "
		    "address");
	c->port = (uint16_t)v[C_PORT].num;
	c->tls = (uint8_t)v[C_TLS].num;
	c->verify = v[C_VERIFY].present ? (uint8_t)v[C_VERIFY].num
					: CP_VERIFY_PEER;
	attr_str(&v[C_SNI], c->sni, sizeof(c->sni));
	if (c->sni[0] != '\0' && !cp_hostname_ok(c->sni, strlen(c->sni)))
		return bad(err, errsz, "attribute server name: not a host "
		    "name");
	if (v[C_ALPN].present) {
		if (!valid_alpn(v[C_ALPN].p, v[C_ALPN].len))
			return bad(err, errsz, "attribute alpn: malformed "
			    "protocol list");
		memcpy(c->alpn, v[C_ALPN].p, v[C_ALPN].len);
		c->alpnlen = v[C_ALPN].len;
	}
	c->retries = (uint32_t)v[C_RETRIES].num;
	c->retry_delay_ms = (uint32_t)v[C_DELAY].num;
	c->connect_timeout_ms = (uint32_t)v[C_CTIMEOUT].num;
	c->timeout_ms = (uint32_t)v[C_TIMEOUT].num;
	c->family = (uint8_t)v[C_FAMILY].num;
	if (c->family != CP_FAMILY_ANY && c->family != CP_FAMILY_INET4 &&
	    c->family != CP_FAMILY_INET6)
		return bad(err, errsz, "attribute family: must be 0, 4 or 6");
	if (v[C_CAHASH].present) {
		c->has_ca_hash = 1;
		memcpy(c->ca_hash, v[C_CAHASH].p, CP_HASH_LEN);
	}
	c->record = (uint8_t)v[C_RECORD].num;
	if (c->tls == 0 && (c->sni[0] != '\0' || c->alpnlen > 0 ||
	                       c->has_ca_hash || c->record))
		return bad(err, errsz, "TLS attributes in a plain TCP request");
	return 0;
}

/* HANDSHAKE: a CONNECT's TLS part, for a socket already connected. */

enum {
	K_HOST,
	K_PORT,
	K_VERIFY,
	K_SNI,
	K_ALPN,
	K_TIMEOUT,
	K_CAHASH,
	K_RECORD,
	K_N
};

static const struct attr_rule handshake_rules[K_N] = {
    [K_HOST] = {CP_A_HOST, AT_STR, 1, 1, CP_MAX_HOST, "host"},
    [K_PORT] = {CP_A_PORT, AT_U16, 1, 1, 65535, "port"},
    [K_VERIFY] = {CP_A_VERIFY, AT_U8, 0, 0, 1, "verify"},
    [K_SNI] = {CP_A_SNI, AT_STR, 0, 1, CP_MAX_HOST, "server name"},
    [K_ALPN] = {CP_A_ALPN, AT_BYTES, 0, 2, CP_MAX_ALPN, "alpn"},
    [K_TIMEOUT] = {CP_A_TIMEOUT_MS, AT_U32, 0, 0, MAX_MS, "timeout"},
    [K_CAHASH] = {CP_A_CA_HASH, AT_BYTES, 0, CP_HASH_LEN, CP_HASH_LEN,
        "ca hash"},
    [K_RECORD] = {CP_A_RECORD_KNOWN, AT_U8, 0, CP_RECORD_USER,
        CP_RECORD_MAX - 1, "record"},
};

void
cp_handshake_encode(struct abuf *b, const struct cp_connect *c)
{
	abuf_str(b, CP_A_HOST, c->host);
	abuf_u16(b, CP_A_PORT, c->port);
	abuf_u8(b, CP_A_VERIFY, c->verify);
	if (c->sni[0] != '\0')
		abuf_str(b, CP_A_SNI, c->sni);
	if (c->alpnlen > 0)
		abuf_bytes(b, CP_A_ALPN, c->alpn, c->alpnlen);
	abuf_u32(b, CP_A_TIMEOUT_MS, c->timeout_ms);
	if (c->has_ca_hash)
		abuf_bytes(b, CP_A_CA_HASH, c->ca_hash, CP_HASH_LEN);
	if (c->record != CP_RECORD_UNKNOWN)
		abuf_u8(b, CP_A_RECORD_KNOWN, c->record);
}

/* The same checks as CONNECT's for the same fields: the policy sees one
 * kind of request either way. */
int
cp_handshake_decode(
    const void *p, size_t len, struct cp_connect *c, char *err, size_t errsz)
{
	struct attr_val v[K_N];

	if (attr_parse(p, len, handshake_rules, K_N, v, err, errsz) == -1)
		return -1;
	memset(c, 0, sizeof(*c));
	attr_str(&v[K_HOST], c->host, sizeof(c->host));
	if (!cp_host_ok(c->host))
		return bad(err, errsz,
		    "attribute host: not a host name or "
		    "address");
	c->port = (uint16_t)v[K_PORT].num;
	c->tls = 1;
	c->verify =
	    v[K_VERIFY].present ? (uint8_t)v[K_VERIFY].num : CP_VERIFY_PEER;
	attr_str(&v[K_SNI], c->sni, sizeof(c->sni));
	if (c->sni[0] != '\0' && !cp_hostname_ok(c->sni, strlen(c->sni)))
		return bad(err, errsz,
		    "attribute server name: not a host "
		    "name");
	if (v[K_ALPN].present) {
		if (!valid_alpn(v[K_ALPN].p, v[K_ALPN].len))
			return bad(err, errsz,
			    "attribute alpn: malformed "
			    "protocol list");
		memcpy(c->alpn, v[K_ALPN].p, v[K_ALPN].len);
		c->alpnlen = v[K_ALPN].len;
	}
	c->timeout_ms = (uint32_t)v[K_TIMEOUT].num;
	if (v[K_CAHASH].present) {
		c->has_ca_hash = 1;
		memcpy(c->ca_hash, v[K_CAHASH].p, CP_HASH_LEN);
	}
	c->record = (uint8_t)v[K_RECORD].num;
	return 0;
}

/* RESULT */

enum {
	R_STATUS,
	R_ECLASS,
	R_ERRNO,
	R_VERIFY,
	R_ERRTEXT,
	R_TLSVER,
	R_CIPHER,
	R_ALPN,
	R_RESUMED,
	R_NOCERT,
	R_ADDR,
	R_PORT,
	R_ATTEMPTS,
	R_ELAPSED,
	R_OCSP,
	R_PROXY,
	R_COOKIE,
	R_N
};

static const struct attr_rule result_rules[R_N] = {
	[R_STATUS] = {CP_A_STATUS, AT_U8, 1, 0, 2, "status"},
	[R_ECLASS] = {CP_A_ECLASS, AT_U8, 0, 0, CP_E_MAX - 1, "error class"},
	[R_ERRNO] = {CP_A_ERRNO, AT_U32, 0, 0, 4095, "errno"},
	[R_VERIFY] = {CP_A_VERIFY_RESULT, AT_U32, 0, 0, 100000,
	    "verify result"},
	[R_ERRTEXT] = {CP_A_ERRTEXT, AT_STR, 0, 0, CP_MAX_ERRTEXT - 1,
	    "error text"},
	[R_TLSVER] = {CP_A_TLS_VERSION, AT_U16, 0, 0x0303, 0x0304,
	    "tls version"},
	[R_CIPHER] = {CP_A_CIPHER_NAME, AT_STR, 0, 1, 63, "cipher"},
	[R_ALPN] = {CP_A_ALPN_SELECTED, AT_STR, 0, 1, 255, "alpn"},
	[R_RESUMED] = {CP_A_RESUMED, AT_U8, 0, 0, 1, "resumed"},
	[R_NOCERT] = {CP_A_NO_PEER_CERT, AT_U8, 0, 0, 1, "no peer cert"},
	[R_ADDR] = {CP_A_PEER_ADDR, AT_STR, 0, 1, 63, "peer address"},
	[R_PORT] = {CP_A_PEER_PORT, AT_U16, 0, 0, 65535, "peer port"},
	[R_ATTEMPTS] = {CP_A_ATTEMPTS, AT_U32, 0, 0, UINT32_MAX, "attempts"},
	[R_ELAPSED] = {CP_A_ELAPSED_MS, AT_U32, 0, 0, UINT32_MAX, "elapsed"},
	[R_OCSP] = {CP_A_OCSP, AT_U8, 0, 0, CP_OCSP_MAX - 1, "ocsp"},
	[R_PROXY] = {CP_A_PROXY, AT_STR, 0, 1, CP_MAX_PROXY - 1, "proxy"},
	[R_COOKIE] = {CP_A_COOKIE, AT_BYTES, 0, CP_COOKIE_LEN, CP_COOKIE_LEN,
	    "ticket cookie"},
};

void
cp_result_encode(struct abuf *b, const struct cp_result *r)
{
	abuf_u8(b, CP_A_STATUS, r->status);
	abuf_u8(b, CP_A_ECLASS, r->eclass);
	abuf_u32(b, CP_A_ERRNO, r->err);
	abuf_u32(b, CP_A_VERIFY_RESULT, r->verify_result);
	if (r->errtext[0] != '\0')
		abuf_str(b, CP_A_ERRTEXT, r->errtext);
	if (r->tls_version != 0)
		abuf_u16(b, CP_A_TLS_VERSION, r->tls_version);
	if (r->cipher[0] != '\0')
		abuf_str(b, CP_A_CIPHER_NAME, r->cipher);
	if (r->alpn[0] != '\0')
		abuf_str(b, CP_A_ALPN_SELECTED, r->alpn);
	abuf_u8(b, CP_A_RESUMED, r->resumed);
	abuf_u8(b, CP_A_NO_PEER_CERT, r->no_peer_cert);
	if (r->peer_addr[0] != '\0')
		abuf_str(b, CP_A_PEER_ADDR, r->peer_addr);
	abuf_u16(b, CP_A_PEER_PORT, r->peer_port);
	abuf_u32(b, CP_A_ATTEMPTS, r->attempts);
	abuf_u32(b, CP_A_ELAPSED_MS, r->elapsed_ms);
	if (r->ocsp != CP_OCSP_OFF)
		abuf_u8(b, CP_A_OCSP, r->ocsp);
	if (r->proxy[0] != '\0')
		abuf_str(b, CP_A_PROXY, r->proxy);
	if (r->has_cookie)
		abuf_bytes(b, CP_A_COOKIE, r->cookie, CP_COOKIE_LEN);
}

int
cp_result_decode(const void *p, size_t len, struct cp_result *r, char *err,
    size_t errsz)
{
	struct attr_val v[R_N];

	if (attr_parse(p, len, result_rules, R_N, v, err, errsz) == -1)
		return -1;
	memset(r, 0, sizeof(*r));
	r->status = (uint8_t)v[R_STATUS].num;
	r->eclass = (uint8_t)v[R_ECLASS].num;
	r->err = (uint32_t)v[R_ERRNO].num;
	r->verify_result = (uint32_t)v[R_VERIFY].num;
	attr_str(&v[R_ERRTEXT], r->errtext, sizeof(r->errtext));
	r->tls_version = (uint16_t)v[R_TLSVER].num;
	attr_str(&v[R_CIPHER], r->cipher, sizeof(r->cipher));
	attr_str(&v[R_ALPN], r->alpn, sizeof(r->alpn));
	r->resumed = (uint8_t)v[R_RESUMED].num;
	r->no_peer_cert = (uint8_t)v[R_NOCERT].num;
	attr_str(&v[R_ADDR], r->peer_addr, sizeof(r->peer_addr));
	r->peer_port = (uint16_t)v[R_PORT].num;
	r->attempts = (uint32_t)v[R_ATTEMPTS].num;
	r->elapsed_ms = (uint32_t)v[R_ELAPSED].num;
	r->ocsp = (uint8_t)v[R_OCSP].num;
	attr_str(&v[R_PROXY], r->proxy, sizeof(r->proxy));
	if (v[R_COOKIE].present) {
		r->has_cookie = 1;
		memcpy(r->cookie, v[R_COOKIE].p, CP_COOKIE_LEN);
	}
	if (r->status == CP_STATUS_ERROR && r->eclass == CP_E_NONE)
		return bad(err, errsz, "error result without error class");
	return 0;
}

/* TLS_STATE */

enum {
	T_VER,
	T_CIPHER,
	T_TXKEY,
	T_TXIV,
	T_TXSEQ,
	T_TXSEC,
	T_RXKEY,
	T_RXIV,
	T_RXSEQ,
	T_RXSEC,
	T_N
};

static const struct attr_rule tls_rules[T_N] = {
	[T_VER] = {CP_A_TLS_VERSION, AT_U16, 1, 0x0303, 0x0304, "tls version"},
	[T_CIPHER] = {CP_A_CIPHER_ID, AT_U16, 1, 1, 0xffff, "cipher id"},
	[T_TXKEY] = {CP_A_TX_KEY, AT_BYTES, 1, 16, CP_MAX_KEY, "tx key"},
	[T_TXIV] = {CP_A_TX_IV, AT_BYTES, 1, CP_IV_LEN, CP_IV_LEN, "tx iv"},
	[T_TXSEQ] = {CP_A_TX_SEQ, AT_U64, 1, 0, UINT64_MAX, "tx seq"},
	[T_TXSEC] = {CP_A_TX_SECRET, AT_BYTES, 0, 32, CP_MAX_SECRET,
	    "tx secret"},
	[T_RXKEY] = {CP_A_RX_KEY, AT_BYTES, 1, 16, CP_MAX_KEY, "rx key"},
	[T_RXIV] = {CP_A_RX_IV, AT_BYTES, 1, CP_IV_LEN, CP_IV_LEN, "rx iv"},
	[T_RXSEQ] = {CP_A_RX_SEQ, AT_U64, 1, 0, UINT64_MAX, "rx seq"},
	[T_RXSEC] = {CP_A_RX_SECRET, AT_BYTES, 0, 32, CP_MAX_SECRET,
	    "rx secret"},
};

static void
dir_encode(struct abuf *b, const struct cp_tls_dir *d, int tx)
{
	abuf_bytes(b, tx ? CP_A_TX_KEY : CP_A_RX_KEY, d->key, d->keylen);
	abuf_bytes(b, tx ? CP_A_TX_IV : CP_A_RX_IV, d->iv, CP_IV_LEN);
	abuf_u64(b, tx ? CP_A_TX_SEQ : CP_A_RX_SEQ, d->seq);
	if (d->secretlen > 0)
		abuf_bytes(b, tx ? CP_A_TX_SECRET : CP_A_RX_SECRET, d->secret,
		    d->secretlen);
}

void
cp_tls_state_encode(struct abuf *b, const struct cp_tls_state *s)
{
	abuf_u16(b, CP_A_TLS_VERSION, s->version);
	abuf_u16(b, CP_A_CIPHER_ID, s->cipher);
	dir_encode(b, &s->tx, 1);
	dir_encode(b, &s->rx, 0);
}

static void
dir_decode(struct cp_tls_dir *d, const struct attr_val *v)
{
	memcpy(d->key, v[0].p, v[0].len);
	d->keylen = v[0].len;
	memcpy(d->iv, v[1].p, CP_IV_LEN);
	d->seq = v[2].num;
	if (v[3].present) {
		memcpy(d->secret, v[3].p, v[3].len);
		d->secretlen = v[3].len;
	}
}

int
cp_tls_state_decode(const void *p, size_t len, struct cp_tls_state *s,
    char *err, size_t errsz)
{
	struct attr_val v[T_N];
	int r = 0;

	if (attr_parse(p, len, tls_rules, T_N, v, err, errsz) == -1)
		return -1;
	memset(s, 0, sizeof(*s));
	s->version = (uint16_t)v[T_VER].num;
	s->cipher = (uint16_t)v[T_CIPHER].num;
	dir_decode(&s->tx, &v[T_TXKEY]);
	dir_decode(&s->rx, &v[T_RXKEY]);
	if (s->version == 0x0304 && (!v[T_TXSEC].present ||
					!v[T_RXSEC].present))
		r = bad(err, errsz, "TLS 1.3 state without traffic secrets");
	else if (s->version == 0x0303 && (v[T_TXSEC].present ||
					     v[T_RXSEC].present))
		r = bad(err, errsz, "TLS 1.2 state with traffic secrets");
	if (r == -1)
		cp_tls_state_wipe(s);
	explicit_bzero(v, sizeof(v));
	return r;
}

/* TICKET */

static const struct attr_rule ticket_rules[] = {
	{CP_A_COOKIE, AT_BYTES, 1, CP_COOKIE_LEN, CP_COOKIE_LEN, "cookie"},
	{CP_A_TICKET, AT_BYTES, 1, 4, CP_MAX_TICKET, "ticket"},
};

void
cp_ticket_encode(struct abuf *b, const unsigned char cookie[CP_COOKIE_LEN],
    const void *msg, size_t len)
{
	abuf_bytes(b, CP_A_COOKIE, cookie, CP_COOKIE_LEN);
	abuf_bytes(b, CP_A_TICKET, msg, len);
}

int
cp_ticket_decode(const void *p, size_t len, const unsigned char **cookie,
    const unsigned char **msg, size_t *msglen, char *err, size_t errsz)
{
	struct attr_val v[2];
	const unsigned char *m;

	if (attr_parse(p, len, ticket_rules, 2, v, err, errsz) == -1)
		return -1;
	m = v[1].p;
	/* One whole NewSessionTicket message: type 4, its own length. */
	if (m[0] != 4 || ((size_t)m[1] << 16 | (size_t)m[2] << 8 | m[3]) !=
	                     v[1].len - 4)
		return bad(err, errsz, "ticket is not one NewSessionTicket");
	*cookie = v[0].p;
	*msg = m;
	*msglen = v[1].len;
	return 0;
}

/* RECORD */

static const struct attr_rule record_rules[] = {
	{CP_A_RECORD, AT_U8, 1, CP_RECORD_USER, CP_RECORD_MAX - 1, "record"},
};

void
cp_record_encode(struct abuf *b, int record)
{
	abuf_u8(b, CP_A_RECORD, (uint8_t)record);
}

int
cp_record_decode(const void *p, size_t len, int *record, char *err,
    size_t errsz)
{
	struct attr_val v[1];

	if (attr_parse(p, len, record_rules, 1, v, err, errsz) == -1)
		return -1;
	*record = (int)v[0].num;
	return 0;
}

/* CA_CERT, PEER_CERT, CA_END */

static const struct attr_rule cert_rules[] = {
	{CP_A_CERT, AT_BYTES, 1, 1, CP_MAX_CERT, "certificate"},
};

static const struct attr_rule ca_end_rules[] = {
	{CP_A_CA_HASH, AT_BYTES, 1, CP_HASH_LEN, CP_HASH_LEN, "ca hash"},
};

void
cp_cert_encode(struct abuf *b, const void *der, size_t len)
{
	abuf_bytes(b, CP_A_CERT, der, len);
}

int
cp_cert_decode(const void *p, size_t len, const unsigned char **der,
    size_t *dlen, char *err, size_t errsz)
{
	struct attr_val v[1];

	if (attr_parse(p, len, cert_rules, 1, v, err, errsz) == -1)
		return -1;
	*der = v[0].p;
	*dlen = v[0].len;
	return 0;
}

void
cp_ca_end_encode(struct abuf *b, const unsigned char hash[CP_HASH_LEN])
{
	abuf_bytes(b, CP_A_CA_HASH, hash, CP_HASH_LEN);
}

int
cp_ca_end_decode(const void *p, size_t len, unsigned char hash[CP_HASH_LEN],
    char *err, size_t errsz)
{
	struct attr_val v[1];

	if (attr_parse(p, len, ca_end_rules, 1, v, err, errsz) == -1)
		return -1;
	memcpy(hash, v[0].p, CP_HASH_LEN);
	return 0;
}

void
cp_tls_state_wipe(struct cp_tls_state *s)
{
	explicit_bzero(s, sizeof(*s));
}

/* The errno a program sees for a failed RESULT: one mapping for the
 * library and the preload. */
int
cp_result_errno(const struct cp_result *r)
{
	switch (r->eclass) {
	case CP_E_NONAME:
		return CP_ENONAME;
	case CP_E_REFUSED:
		return ECONNREFUSED;
	case CP_E_UNREACH:
		return r->err ? (int)r->err : EHOSTUNREACH;
	case CP_E_TIMEDOUT:
		return ETIMEDOUT;
	case CP_E_LIMIT:
		return EAGAIN;
	case CP_E_DENIED:
		return EACCES;
	case CP_E_TLS:
	case CP_E_VERIFY:
	case CP_E_PROTO:
		return EPROTO;
	default:
		return r->err ? (int)r->err : EIO;
	}
}
