/* SPDX-License-Identifier: ISC */
/*
 * Kernel TLS for a handed-off connection (see ktls.h).
 *
 * Read path: recvmsg straight into the caller's buffer with room for the
 * TLS_GET_RECORD_TYPE control message; data records are returned as they
 * are, the others are handled here and reading goes on.  Handshake
 * messages are parsed as a stream (a ticket may span records, several may
 * share one) and skipped, except KeyUpdate and HelloRequest.
 *
 * Write path: send() in bounded pieces, so that a KeyUpdate the peer asked
 * for goes out (TLS_SET_RECORD_TYPE 22, then the new TLS_TX) between two
 * pieces of a long write, never after the next data record.
 *
 * Locking is that of record.c: the reader owns the RX side; the TX side is
 * under wlock; a reader that has something to send sets a bit in ctl and
 * tries the lock, and a writer that holds it sees the bit before its next
 * piece.
 */
#include <sys/socket.h>
#include <sys/utsname.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ktls.h"
#include "msg.h"
#include "recerr.h"
#include "record.h"
#include "kdf.h"
#include "stop.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

#define MAXPLAIN TLS_REC_MAX_PLAIN
#define CTLBUF (MAXPLAIN + 256) /* one whole non-data record */
#define WCHUNK (256 * 1024)     /* send() piece: bounds a KeyUpdate's delay */
#define HS_MAX (1 << 18)        /* largest handshake message accepted */
#define MAX_EMPTY 32            /* empty data records in a row, at most */

#define HS_HELLO_REQUEST 0
#define HS_NEW_SESSION_TICKET 4
#define HS_KEY_UPDATE 24

#define AL_CLOSE_NOTIFY 0
#define AL_UNEXPECTED 10
#define AL_BAD_RECORD_MAC 20
#define AL_RECORD_OVERFLOW 22
#define AL_ILLEGAL_PARAMETER 47
#define AL_DECODE_ERROR 50
#define AL_INTERNAL_ERROR 80
#define AL_USER_CANCELED 90
#define AL_NO_RENEGOTIATION 100

#define CTL_KEY_UPDATE 1 /* answer the peer's update_requested */
#define CTL_NO_RENEG 2   /* answer a TLS 1.2 HelloRequest */
#define CTL_OWN_UPDATE 4 /* a KeyUpdate of ours, unasked */

struct ktls {
	int fd;
	int tls13;
	int rekey; /* the kernel takes a second TLS_TX/TLS_RX */
	const struct rec_suite *suite;
	size_t secretlen;

	struct rec_err e; /* recerr.h */

	/* Reader. */
	unsigned char rxsecret[CP_MAX_SECRET];
	int eof;
	unsigned char hh[4]; /* header of the handshake message being read */
	size_t hhlen;
	size_t hlen, hleft; /* its body length, and what is still to come */
	unsigned char hb;   /* its first body byte */
	unsigned char *tbuf; /* a ticket being collected for ticket_fn */
	size_t tlen;
	tls_ticket_fn *ticket_fn;
	void *ticket_arg;
	unsigned char al[2];
	size_t allen;

	/* Writer, under wlock. */
	pthread_mutex_t wlock;
	unsigned char txsecret[CP_MAX_SECRET];
	int closed;
	int ctl; /* atomic CTL_* */
	uint64_t txrec, rekey_limit;

	struct ktls_stats st; /* atomic counters */
};

static int absent_errno; /* atomic: the kernel said it has no TLS */
static int rekeys = -1;  /* atomic: ktls_kernel_rekeys() once known */
#ifdef CP_TEST_HOOKS
static int connect_wait; /* test hook, milliseconds */
#endif

static int k_fail(struct ktls *, int, int, const char *, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- crypto_info ---- */

static void
put_be64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (unsigned char)v;
		v >>= 8;
	}
}

/* AES-GCM: salt = the implicit 4 bytes.  TLS 1.3 nonces are the 12-byte
 * IV XOR seq, which the kernel builds from salt || iv; TLS 1.2 sends an
 * explicit nonce that the kernel starts at iv and counts up with each
 * record: starting it at seq makes it the sequence number, as the
 * user-space encoder does. */
static void
gcm_fill(uint16_t version, const struct cp_tls_dir *d, unsigned char *salt,
    unsigned char *iv, unsigned char *key, unsigned char *seq)
{
	memcpy(salt, d->iv, 4);
	if (version == REC_V13)
		memcpy(iv, d->iv + 4, 8);
	else
		put_be64(iv, d->seq);
	memcpy(key, d->key, d->keylen);
	put_be64(seq, d->seq);
}

size_t
ktls_info_build(uint16_t version, uint16_t cipher, const struct cp_tls_dir *d,
    union ktls_info *o)
{
	const struct rec_suite *s = rec_suite_find(cipher);

	memset(o, 0, sizeof(*o));
	if (s == NULL || s->version != version || d->keylen != s->keylen)
		return 0;
	o->base.version = version;
	if (s->chacha) {
		o->base.cipher_type = TLS_CIPHER_CHACHA20_POLY1305;
		memcpy(o->chacha.iv, d->iv, sizeof(o->chacha.iv));
		memcpy(o->chacha.key, d->key, sizeof(o->chacha.key));
		put_be64(o->chacha.rec_seq, d->seq);
		return sizeof(o->chacha);
	}
	if (s->keylen == 16) {
		o->base.cipher_type = TLS_CIPHER_AES_GCM_128;
		gcm_fill(version, d, o->gcm128.salt, o->gcm128.iv,
		    o->gcm128.key, o->gcm128.rec_seq);
		return sizeof(o->gcm128);
	}
	o->base.cipher_type = TLS_CIPHER_AES_GCM_256;
	gcm_fill(version, d, o->gcm256.salt, o->gcm256.iv, o->gcm256.key,
	    o->gcm256.rec_seq);
	return sizeof(o->gcm256);
}

/* ---- the decision ---- */

enum ktls_choice
ktls_decide(
    int mode, uint16_t version, const struct ktls_caps *c, const char **why)
{
	if (mode == KTLS_OFF) {
		*why = "user space: kernel TLS is off";
		return KTLS_USE_USER;
	}
	if (!c->avail) {
		*why = mode == KTLS_REQUIRE
		           ? "this kernel has no TLS"
		           : "user space: this kernel has no TLS";
		return mode == KTLS_REQUIRE ? KTLS_FAIL : KTLS_USE_USER;
	}
	if (version != REC_V12 && version != REC_V13) {
		*why = mode == KTLS_REQUIRE
		           ? "the TLS version is not one for the kernel"
		           : "user space: TLS version not for the kernel";
		return mode == KTLS_REQUIRE ? KTLS_FAIL : KTLS_USE_USER;
	}
	if (version == REC_V12 || c->rekey) {
		*why = "kernel";
		return KTLS_USE_KERNEL;
	}
	if (mode == KTLS_REQUIRE) {
		*why = "kernel, required: this kernel cannot re-key TLS 1.3, "
		       "a KeyUpdate from the peer ends the connection";
		return KTLS_USE_KERNEL;
	}
	*why = "user space: this kernel cannot re-key TLS 1.3";
	return KTLS_USE_USER;
}

int
ktls_parse_mode(const char *s, int *mode)
{
	if (s == NULL || *s == '\0' || strcasecmp(s, "auto") == 0)
		*mode = KTLS_AUTO;
	else if (strcasecmp(s, "off") == 0)
		*mode = KTLS_OFF;
	else if (strcasecmp(s, "require") == 0)
		*mode = KTLS_REQUIRE;
	else
		return -1;
	return 0;
}

/* ---- what the kernel offers ---- */

int
ktls_attach(int fd, char *err, size_t errsz)
{
	int e = __atomic_load_n(&absent_errno, __ATOMIC_RELAXED);

	if (e == 0) {
		if (setsockopt(fd, SOL_TCP, TCP_ULP, "tls", 3) == 0)
			return 0;
		e = errno;
		/* The kernel has no TLS module, or cannot load it. */
		if (e == ENOENT || e == ENOPROTOOPT)
			__atomic_store_n(&absent_errno, e, __ATOMIC_RELAXED);
	}
	snprintf(err, errsz, "%s (TCP_ULP \"tls\": %s)",
	    e == ENOENT || e == ENOPROTOOPT ? "this kernel has no TLS"
	                                    : "cannot attach kernel TLS",
	    strerror(e));
	errno = e;
	return -1;
}

int
ktls_known_absent(void)
{
	return __atomic_load_n(&absent_errno, __ATOMIC_RELAXED) != 0;
}

int
ktls_stat_rekeys(const char *path)
{
	char line[128];
	FILE *f = fopen(path, "re");
	int found = 0;

	if (f == NULL)
		return -1;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strncmp(line, "TlsRxRekeyOk", 12) == 0;
	fclose(f);
	return found;
}

int
ktls_release_rekeys(const char *release)
{
	int major = 0, minor = 0;

	if (sscanf(release, "%d.%d", &major, &minor) != 2)
		return 0;
	return major > 6 || (major == 6 && minor >= 14);
}

int
ktls_kernel_rekeys(void)
{
	int v = __atomic_load_n(&rekeys, __ATOMIC_RELAXED);
	struct utsname u;

	if (v != -1)
		return v;
	if ((v = ktls_stat_rekeys("/proc/net/tls_stat")) == -1)
		v = uname(&u) == 0 && ktls_release_rekeys(u.release);
	__atomic_store_n(&rekeys, v, __ATOMIC_RELAXED);
	return v;
}

/* ---- errors ---- */

static void
stat_add(uint64_t *p)
{
	__atomic_add_fetch(p, 1, __ATOMIC_RELAXED);
}

static void send_fatal_alert(struct ktls *, int);

/* The first fatal error sticks for both directions; alert >= 0 goes to
 * the peer, best effort. */
static int
k_fail(struct ktls *k, int eno, int alert, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	eno = recerr_fatal(&k->e, eno, fmt, ap);
	va_end(ap);
	if (alert >= 0)
		send_fatal_alert(k, alert);
	errno = eno;
	return -1;
}

/* ---- keys ---- */

static int
derive(const struct ktls *k, const unsigned char *secret, struct cp_tls_dir *d)
{
	memset(d, 0, sizeof(*d));
	d->keylen = k->suite->keylen;
	if (rec_expand_label(k->suite->md, secret, k->secretlen, "key", d->key,
	        d->keylen) == -1 ||
	    rec_expand_label(k->suite->md, secret, k->secretlen, "iv", d->iv,
	        CP_IV_LEN) == -1)
		return -1;
	return 0;
}

/* RFC 8446 7.2: the next traffic secret of a direction, replacing it. */
static int
next_secret(const struct ktls *k, unsigned char *secret)
{
	unsigned char next[CP_MAX_SECRET];
	int rv;

	rv = rec_expand_label(k->suite->md, secret, k->secretlen, "traffic upd",
	    next, k->secretlen);
	if (rv == 0)
		memcpy(secret, next, k->secretlen);
	explicit_bzero(next, sizeof(next));
	return rv;
}

/* Install the keys of secret (sequence 0) for TLS_TX or TLS_RX. */
static int
install_secret(struct ktls *k, const unsigned char *secret, int opt)
{
	struct cp_tls_dir d;
	union ktls_info info;
	size_t len = 0;
	int rv = -1;

	if (derive(k, secret, &d) == 0 &&
	    (len = ktls_info_build(REC_V13, k->suite->id, &d, &info)) > 0)
		rv = setsockopt(k->fd, SOL_TLS, opt, &info, (socklen_t)len);
	explicit_bzero(&d, sizeof(d));
	explicit_bzero(&info, sizeof(info));
	if (rv == -1 && len == 0)
		errno = EINVAL;
	return rv;
}

/* ---- sending non-data records (wlock held, or trylocked) ---- */

static int
send_ctl(struct ktls *k, uint8_t type, const void *p, size_t n, int flags)
{
	union {
		char buf[CMSG_SPACE(1)];
		struct cmsghdr align;
	} cb;
	struct iovec iov = {(void *)p, n};
	struct msghdr m;
	struct cmsghdr *c;
	ssize_t r;

	memset(&m, 0, sizeof(m));
	memset(&cb, 0, sizeof(cb));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = cb.buf;
	m.msg_controllen = sizeof(cb.buf);
	c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_TLS;
	c->cmsg_type = TLS_SET_RECORD_TYPE;
	c->cmsg_len = CMSG_LEN(1);
	*CMSG_DATA(c) = type;
	do
		r = sendmsg(k->fd, &m, MSG_NOSIGNAL | flags);
	while (r == -1 && errno == EINTR && !cp_stopped());
	if (r == -1 && errno == EINTR)
		errno = ECANCELED;
	if (r >= 0 && (size_t)r != n)
		errno = EIO; /* the kernel sends a record whole or not */
	return r >= 0 && (size_t)r == n ? 0 : -1;
}

static void
send_fatal_alert(struct ktls *k, int desc)
{
	unsigned char a[2] = {2, (unsigned char)desc};

	if (pthread_mutex_trylock(&k->wlock) != 0)
		return;
	if (!k->closed && !__atomic_load_n(&k->e.wdead, __ATOMIC_ACQUIRE))
		(void)send_ctl(k, TLS_CT_ALERT, a, 2, MSG_DONTWAIT);
	k->closed = 1;
	pthread_mutex_unlock(&k->wlock);
}

/* A control record that did not fit now (EAGAIN: a non-blocking socket or
 * SO_SNDTIMEO) goes out with the next write; other errors end writing. */
static int
ctl_retry(struct ktls *k, int bit)
{
	int e = errno;

	if (e != EAGAIN && e != EWOULDBLOCK)
		return recerr_write(&k->e, e);
	__atomic_or_fetch(&k->ctl, bit, __ATOMIC_SEQ_CST);
	errno = e;
	return -1;
}

/* Our KeyUpdate under the old key, then the new TX key in the kernel. */
static int
tx_update(struct ktls *k, int request)
{
	unsigned char m[5] = {HS_KEY_UPDATE, 0, 0, 1, 0};

	m[4] = request ? 1 : 0;
	if (send_ctl(k, TLS_CT_HANDSHAKE, m, sizeof(m), 0) == -1)
		return ctl_retry(k, CTL_OWN_UPDATE);
	if (next_secret(k, k->txsecret) == -1 ||
	    install_secret(k, k->txsecret, TLS_TX) == -1)
		return k_fail(k, errno ? errno : EIO, -1,
		    "kernel TLS refused the new write key: %s",
		    strerror(errno ? errno : EIO));
	k->txrec = 0;
	stat_add(&k->st.key_updates_sent);
	return 0;
}

/* The TX record sequence number the kernel is at (it counts the
 * program's own writes too), or UINT64_MAX. */
static uint64_t
tx_seq(const struct ktls *k)
{
	union ktls_info info;
	socklen_t len;
	const unsigned char *p;
	uint64_t v = 0;
	int i;

	/* The kernel wants the exact size of the suite's crypto_info. */
	len = k->suite->chacha         ? sizeof(info.chacha)
	      : k->suite->keylen == 16 ? sizeof(info.gcm128)
	                               : sizeof(info.gcm256);
	if (getsockopt(k->fd, SOL_TLS, TLS_TX, &info, &len) == -1)
		return UINT64_MAX;
	p = k->suite->chacha         ? info.chacha.rec_seq
	    : k->suite->keylen == 16 ? info.gcm128.rec_seq
	                             : info.gcm256.rec_seq;
	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	explicit_bzero(&info, sizeof(info));
	return v;
}

/* AES-GCM under one key: RFC 8446 5.5.  Our count is a lower bound;
 * the kernel's is exact and asked only when ours says it is time. */
static int
rekey_due(struct ktls *k)
{
	uint64_t seq;

	if (!k->tls13 || !k->rekey || k->suite->chacha ||
	    k->txrec < k->rekey_limit)
		return 0;
	if ((seq = tx_seq(k)) == UINT64_MAX) {
		k->txrec = 0; /* ask again a limit later */
		return 0;
	}
	k->txrec = seq;
	return seq >= k->rekey_limit;
}

static int
ctl_emit(struct ktls *k)
{
	static const unsigned char noreneg[2] = {1, AL_NO_RENEGOTIATION};
	int ctl;

	if (k->closed)
		return 0;
	ctl = __atomic_exchange_n(&k->ctl, 0, __ATOMIC_SEQ_CST);
	if ((ctl & CTL_NO_RENEG) &&
	    send_ctl(k, TLS_CT_ALERT, noreneg, 2, 0) == -1) {
		__atomic_or_fetch(
		    &k->ctl, ctl & ~CTL_NO_RENEG, __ATOMIC_SEQ_CST);
		return ctl_retry(k, CTL_NO_RENEG);
	}
	if ((ctl & (CTL_KEY_UPDATE | CTL_OWN_UPDATE)) || rekey_due(k))
		return tx_update(k, 0);
	return 0;
}

/* Reader side: send now what was asked for, unless the writer is busy
 * (then it does, before its next piece). */
static void
ctl_kick(struct ktls *k)
{
	int saved = errno;

	if (pthread_mutex_trylock(&k->wlock) != 0)
		return;
	if (!recerr_no_send(&k->e))
		(void)ctl_emit(k);
	pthread_mutex_unlock(&k->wlock);
	errno = saved;
}

static void
ctl_post(struct ktls *k, int bit)
{
	__atomic_or_fetch(&k->ctl, bit, __ATOMIC_SEQ_CST);
	ctl_kick(k);
}

/* ---- write ---- */

static ssize_t
wr_locked(struct ktls *k, const unsigned char *buf, size_t len)
{
	size_t off = 0, n;
	ssize_t w;

	while (off < len) {
		if ((__atomic_load_n(&k->ctl, __ATOMIC_SEQ_CST) ||
		        rekey_due(k)) &&
		    ctl_emit(k) == -1)
			return off > 0 && !recerr_no_send(&k->e) ? (ssize_t)off
			                                         : -1;
		n = len - off < WCHUNK ? len - off : WCHUNK;
		w = send(k->fd, buf + off, n, MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w;
			k->txrec += ((size_t)w + MAXPLAIN - 1) / MAXPLAIN;
			continue;
		}
		if (w == -1 && errno == EINTR && !cp_stopped())
			continue;
		if (w == -1 && errno == EINTR)
			return recerr_write(&k->e, ECANCELED);
		if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return off > 0 ? (ssize_t)off : -1;
		return recerr_write(&k->e, w == 0 ? EPIPE : errno);
	}
	return (ssize_t)off;
}

ssize_t
ktls_write(struct ktls *k, const void *buf, size_t len)
{
	ssize_t rv;

	pthread_mutex_lock(&k->wlock);
	if (recerr_no_send(&k->e) || k->closed)
		rv = recerr_closed();
	else
		rv = wr_locked(k, buf, len);
	pthread_mutex_unlock(&k->wlock);
	if (__atomic_load_n(&k->ctl, __ATOMIC_SEQ_CST))
		ctl_kick(k);
	return rv;
}

int
ktls_close_notify(struct ktls *k)
{
	static const unsigned char cn[2] = {1, AL_CLOSE_NOTIFY};
	int rv = 0;

	pthread_mutex_lock(&k->wlock);
	if (recerr_no_send(&k->e))
		rv = recerr_closed();
	else if (!k->closed && (rv = ctl_emit(k)) == 0) {
		if ((rv = send_ctl(k, TLS_CT_ALERT, cn, 2, 0)) == -1)
			rv = recerr_write(&k->e, errno);
		k->closed = 1;
	}
	pthread_mutex_unlock(&k->wlock);
	return rv;
}

/* ---- read: non-data records ---- */

static int
rx_update(struct ktls *k)
{
	if (!k->rekey) {
		/* Decrypting on with the old key would fail on the next
		 * record; nothing more is to come through this socket. */
		k_fail(k, EPROTO, AL_INTERNAL_ERROR,
		    "the peer sent a TLS 1.3 KeyUpdate and this kernel's TLS "
		    "cannot re-key (Linux 6.14 can): connection ended "
		    "(CPCONNECT_KTLS=require forced kernel TLS)");
		shutdown(k->fd, SHUT_RDWR);
		return -1;
	}
	if (next_secret(k, k->rxsecret) == -1 ||
	    install_secret(k, k->rxsecret, TLS_RX) == -1)
		return k_fail(k, errno ? errno : EIO, AL_INTERNAL_ERROR,
		    "kernel TLS refused the new read key: %s",
		    strerror(errno ? errno : EIO));
	stat_add(&k->st.key_updates_received);
	return 0;
}

static int
hs_key_update(struct ktls *k)
{
	if (k->hlen != 1)
		return k_fail(
		    k, EPROTO, AL_DECODE_ERROR, "malformed KeyUpdate");
	if (k->hb > 1)
		return k_fail(k, EPROTO, AL_ILLEGAL_PARAMETER,
		    "bad KeyUpdate value %u", k->hb);
	if (rx_update(k) == -1)
		return -1;
	if (k->hb == 1)
		ctl_post(k, CTL_KEY_UPDATE);
	return 0;
}

/* One complete handshake message (its first body byte in hb). */
static int
hs_msg(struct ktls *k)
{
	uint8_t type = k->hh[0];

	k->hhlen = 0;
	if (k->tls13 && type == HS_NEW_SESSION_TICKET) {
		stat_add(&k->st.tickets);
		if (k->tbuf != NULL && k->tlen == 4 + k->hlen &&
		    k->ticket_fn != NULL)
			k->ticket_fn(k->ticket_arg, k->tbuf, k->tlen);
		k->tlen = 0;
		return 0;
	}
	if (k->tls13 && type == HS_KEY_UPDATE)
		return hs_key_update(k);
	if (!k->tls13 && type == HS_HELLO_REQUEST && k->hlen == 0) {
		ctl_post(k, CTL_NO_RENEG);
		return 0;
	}
	return k_fail(
	    k, EPROTO, AL_UNEXPECTED, "unexpected handshake message %u", type);
}

/* A ticket that goes back to the daemon is collected whole (bounded);
 * every other message body is skipped. */
static void
ticket_start(struct ktls *k)
{
	k->tlen = 0;
	if (!k->tls13 || k->hh[0] != HS_NEW_SESSION_TICKET ||
	    k->ticket_fn == NULL || 4 + k->hlen > TLS_REC_MAX_TICKET_LEN)
		return;
	if (k->tbuf == NULL &&
	    (k->tbuf = malloc(TLS_REC_MAX_TICKET_LEN)) == NULL)
		return;
	memcpy(k->tbuf, k->hh, 4);
	k->tlen = 4;
}

void
ktls_set_ticket_fn(struct ktls *k, tls_ticket_fn *fn, void *arg)
{
	k->ticket_fn = fn;
	k->ticket_arg = arg;
}

/* Handshake bytes as a stream: headers are collected, bodies skipped. */
static int
hs_feed(struct ktls *k, const unsigned char *p, size_t n)
{
	size_t take;

	while (n > 0) {
		if (k->hhlen < 4) {
			take = 4 - k->hhlen < n ? 4 - k->hhlen : n;
			memcpy(k->hh + k->hhlen, p, take);
			k->hhlen += take;
			p += take;
			n -= take;
			if (k->hhlen < 4)
				break;
			k->hlen = k->hleft = (size_t)k->hh[1] << 16 |
			                     (size_t)k->hh[2] << 8 | k->hh[3];
			if (k->hlen > HS_MAX)
				return k_fail(k, EPROTO, AL_UNEXPECTED,
				    "handshake message too large (%zu bytes)",
				    k->hlen);
			ticket_start(k);
		} else {
			take = k->hleft < n ? k->hleft : n;
			if (k->hleft == k->hlen)
				k->hb = p[0];
			if (k->tlen > 0) {
				memcpy(k->tbuf + k->tlen, p, take);
				k->tlen += take;
			}
			k->hleft -= take;
			p += take;
			n -= take;
		}
		if (k->hleft == 0 && hs_msg(k) == -1)
			return -1;
	}
	return 0;
}

static int
alert(struct ktls *k, unsigned level, unsigned desc)
{
	stat_add(&k->st.alerts_received);
	if (desc == AL_CLOSE_NOTIFY) {
		k->eof = 1;
		return 0;
	}
	/* TLS 1.3 6: every alert but these two is fatal, whatever level. */
	if (k->tls13 ? desc == AL_USER_CANCELED : level == 1)
		return 0;
	return k_fail(k, ECONNRESET, -1, "received fatal alert: %s",
	    tls_alert_name(desc));
}

static int
al_feed(struct ktls *k, const unsigned char *p, size_t n)
{
	while (n > 0 && !k->eof) {
		k->al[k->allen++] = *p++;
		n--;
		if (k->allen == 2) {
			k->allen = 0;
			if (alert(k, k->al[0], k->al[1]) == -1)
				return -1;
		}
	}
	return 0;
}

static int
control(struct ktls *k, int type, const unsigned char *p, size_t n)
{
	if ((k->hhlen > 0 || k->hleft > 0) && type != TLS_CT_HANDSHAKE)
		return k_fail(k, EPROTO, AL_UNEXPECTED,
		    "record inside a fragmented handshake message");
	if (type == TLS_CT_HANDSHAKE && n > 0)
		return hs_feed(k, p, n);
	if (type == TLS_CT_ALERT && n > 0)
		return al_feed(k, p, n);
	return k_fail(k, EPROTO, AL_UNEXPECTED,
	    "unexpected record (content type %d, %zu bytes)", type, n);
}

/* ---- read: the system call ---- */

/* One recvmsg; *type is the record's content type, -1 if none came. */
static ssize_t
rd_sys(struct ktls *k, void *buf, size_t len, int flags, int *type)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cb;
	struct iovec iov = {buf, len};
	struct msghdr m;
	struct cmsghdr *c;
	ssize_t r;

	memset(&m, 0, sizeof(m));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = cb.buf;
	m.msg_controllen = sizeof(cb.buf);
	*type = -1;
	do
		r = recvmsg(k->fd, &m, flags);
	while (r == -1 && errno == EINTR && !cp_stopped());
	if (r == -1 && errno == EINTR)
		errno = ECANCELED;
	if (r == -1)
		return -1;
	for (c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_TLS &&
		    c->cmsg_type == TLS_GET_RECORD_TYPE)
			*type = *CMSG_DATA(c);
	return r;
}

/* A failed recvmsg: EAGAIN is no error; the rest end the connection. */
static int
rd_error(struct ktls *k)
{
	int e = errno;

	if (e == EAGAIN || e == EWOULDBLOCK)
		return -1;
	if (e == ECANCELED)
		return k_fail(k, e, -1, CP_STOPPED_MSG);
	if (e == EBADMSG)
		return k_fail(k, e, AL_BAD_RECORD_MAC,
		    "bad record MAC (decryption failed in the kernel)");
	if (e == EMSGSIZE)
		return k_fail(k, e, AL_RECORD_OVERFLOW, "record overflow");
	return k_fail(k, e, -1, "read: %s", strerror(e));
}

/*
 * EKEYEXPIRED: the kernel waits for a new read key after a KeyUpdate that
 * the program read itself (recvmsg with a control buffer).  Its request
 * flag is lost with it, so ours goes out unasked: always allowed.
 */
static int
rd_recover(struct ktls *k)
{
	if (rx_update(k) == -1)
		return -1;
	ctl_post(k, CTL_OWN_UPDATE);
	return 0;
}

ssize_t
ktls_read(struct ktls *k, void *buf, size_t len)
{
	unsigned empty = 0;
	ssize_t n;
	int type;

	if (len == 0)
		return 0;
	if (recerr_is_fatal(&k->e))
		return recerr_fail(&k->e);
	if (k->eof)
		return 0;
	if (__atomic_load_n(&k->ctl, __ATOMIC_SEQ_CST))
		ctl_kick(k);
	for (;;) {
		n = rd_sys(k, buf, len, 0, &type);
		if (n == -1 && errno == EKEYEXPIRED && k->tls13) {
			if (rd_recover(k) == -1)
				return -1;
			continue;
		}
		if (n == -1)
			return rd_error(k);
		if (type == TLS_CT_APPDATA && n == 0 && ++empty < MAX_EMPTY)
			continue; /* an empty record */
		if (n > 0 && (type == TLS_CT_APPDATA || type == -1))
			return n;
		if (n == 0 && (type == -1 || type == TLS_CT_APPDATA))
			return k_fail(k, ECONNABORTED, -1,
			    "truncated: connection closed without "
			    "close_notify");
		/* The caller's buffer held a protocol record, not data. */
		if (control(k, type, buf, (size_t)n) == -1)
			return -1;
		explicit_bzero(buf, (size_t)n);
		if (k->eof)
			return 0;
	}
}

/* Whatever has arrived, of any type, read and dropped without waiting
 * (before close: see discard_unread() in client.c). */
void
ktls_discard(struct ktls *k)
{
	unsigned char *b = malloc(CTLBUF);
	int i, type;

	for (i = 0; b != NULL && i < 64; i++)
		if (rd_sys(k, b, CTLBUF, MSG_DONTWAIT, &type) <= 0)
			break;
	if (b != NULL)
		OPENSSL_cleanse(b, CTLBUF);
	free(b);
}

/* ---- the object ---- */

/* Non-data records that are already there, so a plain read(2) of the
 * program does not fail with EIO on the tickets sent after the handshake. */
static void
drain(struct ktls *k)
{
	struct pollfd pfd = {.fd = k->fd, .events = POLLIN};
	unsigned char one, *b;
	ssize_t n;
	int type;

	if ((b = malloc(CTLBUF)) == NULL)
		return; /* an optimisation only */
#ifdef CP_TEST_HOOKS
	if (__atomic_load_n(&connect_wait, __ATOMIC_RELAXED) > 0)
		(void)poll(
		    &pfd, 1, __atomic_load_n(&connect_wait, __ATOMIC_RELAXED));
#else
	(void)pfd;
#endif
	while (!recerr_is_fatal(&k->e) && !k->eof) {
		n = rd_sys(k, &one, 1, MSG_PEEK | MSG_DONTWAIT, &type);
		if (n <= 0 || type == TLS_CT_APPDATA || type == -1)
			break;
		n = rd_sys(k, b, CTLBUF, MSG_DONTWAIT, &type);
		if (n <= 0 || control(k, type, b, (size_t)n) == -1)
			break;
	}
	k->st.tickets_at_connect = k->st.tickets;
	OPENSSL_cleanse(b, CTLBUF);
	free(b);
}

static int
check_state(const struct cp_tls_state *st, const struct rec_suite *s, char *err,
    size_t errsz)
{
	size_t hl;

	if (s == NULL || st->version != s->version ||
	    st->tx.keylen != s->keylen || st->rx.keylen != s->keylen) {
		snprintf(err, errsz,
		    "TLS state: suite 0x%04x of version "
		    "0x%04x not for kernel TLS",
		    st->cipher, st->version);
		return -1;
	}
	hl = strcmp(s->md, "SHA384") == 0 ? 48 : 32;
	if (s->version == REC_V13 &&
	    (st->tx.secretlen != hl || st->rx.secretlen != hl)) {
		snprintf(err, errsz, "TLS 1.3 state without traffic secrets");
		return -1;
	}
	return 0;
}

static int
install_dir(struct ktls *k, const struct cp_tls_state *st, int opt, char *err,
    size_t errsz)
{
	union ktls_info info;
	size_t len;
	int rv, e;

	len = ktls_info_build(
	    st->version, st->cipher, opt == TLS_TX ? &st->tx : &st->rx, &info);
	rv = setsockopt(k->fd, SOL_TLS, opt, &info, (socklen_t)len);
	e = errno;
	explicit_bzero(&info, sizeof(info));
	if (rv == -1) {
		snprintf(err, errsz, "kernel TLS refused the %s key: %s",
		    opt == TLS_TX ? "write" : "read", strerror(e));
		errno = e;
	}
	return rv;
}

static struct ktls *
k_alloc(int fd, const struct cp_tls_state *st, int rekey)
{
	struct ktls *k;

	if ((k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	k->fd = fd;
	k->suite = rec_suite_find(st->cipher);
	k->tls13 = st->version == REC_V13;
	k->rekey = k->tls13 && rekey;
	k->secretlen = k->tls13 ? st->tx.secretlen : 0;
	k->rekey_limit = TLS_REC_GCM_REKEY_LIMIT;
	memcpy(k->txsecret, st->tx.secret, k->secretlen);
	memcpy(k->rxsecret, st->rx.secret, k->secretlen);
	recerr_init(&k->e);
	pthread_mutex_init(&k->wlock, NULL);
	return k;
}

struct ktls *
ktls_new_fn(int fd, const struct cp_tls_state *st, int rekey, tls_ticket_fn *fn,
    void *arg, int *installed, char *err, size_t errsz)
{
	struct ktls *k;
	int one = 1;

	*installed = 0;
	if (check_state(st, rec_suite_find(st->cipher), err, errsz) == -1) {
		errno = EPROTO;
		return NULL;
	}
	if ((k = k_alloc(fd, st, rekey)) == NULL) {
		snprintf(err, errsz, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	/* The keys as sent, as in record.c: not derived again to compare. */
	if (install_dir(k, st, TLS_TX, err, errsz) == -1 ||
	    (*installed = 1, install_dir(k, st, TLS_RX, err, errsz)) == -1) {
		ktls_free(k);
		return NULL;
	}
	/* The tickets drain() takes go back to the daemon too. */
	ktls_set_ticket_fn(k, fn, arg);
	/* Servers do not pad; the kernel then decrypts in place. */
	if (k->tls13)
		(void)setsockopt(
		    fd, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &one, sizeof(one));
	drain(k);
	return k;
}

void
ktls_free(struct ktls *k)
{
	if (k == NULL)
		return;
	recerr_destroy(&k->e);
	pthread_mutex_destroy(&k->wlock);
	if (k->tbuf != NULL)
		explicit_bzero(k->tbuf, TLS_REC_MAX_TICKET_LEN);
	free(k->tbuf);
	explicit_bzero(k, sizeof(*k));
	free(k);
}

const char *
ktls_error(const struct ktls *k)
{
	return recerr_str(&k->e);
}

void
ktls_stats(const struct ktls *k, struct ktls_stats *s)
{
	s->tickets = __atomic_load_n(&k->st.tickets, __ATOMIC_RELAXED);
	s->tickets_at_connect = k->st.tickets_at_connect;
	s->key_updates_received =
	    __atomic_load_n(&k->st.key_updates_received, __ATOMIC_RELAXED);
	s->key_updates_sent =
	    __atomic_load_n(&k->st.key_updates_sent, __ATOMIC_RELAXED);
	s->alerts_received =
	    __atomic_load_n(&k->st.alerts_received, __ATOMIC_RELAXED);
}

#ifdef CP_TEST_HOOKS
struct ktls *
ktls_test_new(const struct cp_tls_state *st)
{
	return k_alloc(-1, st, 0);
}

int
ktls_test_control(struct ktls *k, int type, const void *p, size_t n)
{
	return control(k, type, p, n);
}

void
ktls_set_rekey_limit(struct ktls *k, uint64_t records)
{
	pthread_mutex_lock(&k->wlock);
	k->rekey_limit = records ? records : TLS_REC_GCM_REKEY_LIMIT;
	pthread_mutex_unlock(&k->wlock);
}

void
ktls_set_connect_wait(int ms)
{
	__atomic_store_n(&connect_wait, ms, __ATOMIC_RELAXED);
}
#endif
