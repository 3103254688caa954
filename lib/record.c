/* SPDX-License-Identifier: ISC */
/*
 * User-space TLS 1.2 / 1.3 record layer on libcrypto EVP AEADs.
 *
 * Read path: large reads into rbuf, then every complete record in it is
 * opened, straight into the caller's buffer when it fits (the tail that
 * does not fit goes to pbuf), so bulk data is copied once, by the cipher.
 * Write path: records are sealed from the caller's buffer into wbuf, up to
 * three at a time, and sent with one send().
 *
 * Locking: the reader owns the rx side, the writer owns the tx side under
 * wlock.  When the reader needs to send (KeyUpdate answer, alerts) it sets
 * a bit in ctl and tries the lock; if the writer holds it, the writer sees
 * the bit before its next record (and after unlocking), so application
 * data never goes out under keys the peer asked us to retire.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "msg.h"
#include "recerr.h"
#include "record.h"
#include "kdf.h"
#include "stop.h"

#define HDR 5
#define TAG 16
#define EXPL 8 /* TLS 1.2 AES-GCM explicit nonce */
#define MAXPLAIN TLS_REC_MAX_PLAIN
#define MAXCT13 (MAXPLAIN + 256)
#define MAXCT12 (MAXPLAIN + 2048)
#define MAXREC (HDR + MAXCT12)
#define RBUFSZ (4 * MAXREC)
/* send_raw may exceed the limit by 255 bytes, for tests */
#define OUTREC (HDR + EXPL + MAXPLAIN + 256 + TAG)
#define CTLROOM 64 /* one control record: alert or KeyUpdate */
/* Records per send(): three full ones (49 KiB) fit in one 64 KiB TCP
 * segment (loopback's MSS, a GSO burst).  With four, every send was a full
 * segment and a sliver of 141 bytes, and uploads over loopback ran at 0.55
 * to 0.6 of the speed three give (bench_tls, every suite). */
#define WRECS 3
#define WBUFSZ (WRECS * OUTREC + 4 * CTLROOM)
/* Largest NewSessionTicket: nonce<255>, ticket<2^16-1>, exts<2^16-2>. */
#define HS_MAX (4 + 4 + 1 + 255 + 2 + 65535 + 2 + 65534)
#define MAX_EMPTY 32 /* consecutive empty records tolerated */

#define HS_HELLO_REQUEST 0
#define HS_NEW_SESSION_TICKET 4
#define HS_KEY_UPDATE 24

#define AL_CLOSE_NOTIFY 0
#define AL_UNEXPECTED 10
#define AL_BAD_RECORD_MAC 20
#define AL_RECORD_OVERFLOW 22
#define AL_ILLEGAL_PARAMETER 47
#define AL_DECODE_ERROR 50
#define AL_PROTOCOL_VERSION 70
#define AL_INTERNAL_ERROR 80
#define AL_USER_CANCELED 90
#define AL_NO_RENEGOTIATION 100

#define CTL_KEY_UPDATE 1 /* answer the peer's update_requested */
#define CTL_NO_RENEG 2   /* answer a TLS 1.2 HelloRequest */

struct rec_dir {
	EVP_CIPHER_CTX *ctx;
	unsigned char key[CP_MAX_KEY];
	unsigned char iv[CP_IV_LEN];
	unsigned char secret[CP_MAX_SECRET];
	uint64_t seq;
	uint64_t nrec; /* records under the current key */
};

struct tls_rec {
	int fd;
	int tls13;
	int gcm12;
	int notsock;
	const struct rec_suite *suite;
	size_t secretlen;

	struct rec_err e; /* recerr.h */

	/* Reader. */
	struct rec_dir rx;
	unsigned char *rbuf;
	size_t roff, rlen;
	unsigned char *pbuf;
	size_t poff, plen;
	unsigned char *hs;
	size_t hslen, hscap;
	int eof;
	unsigned empty;
	unsigned char *tickets[TLS_REC_MAX_TICKETS];
	size_t ticketlen[TLS_REC_MAX_TICKETS];
	size_t tnext, tcount;
	tls_ticket_fn *ticket_fn;
	void *ticket_arg;

	/* Writer, under wlock. */
	pthread_mutex_t wlock;
	struct rec_dir tx;
	unsigned char *wbuf;
	size_t woff, wlen;
	size_t wdone; /* bytes of an unfinished tls_rec_write taken */
	int closed;
	uint64_t rekey_limit;
	int ctl;   /* atomic CTL_* */
	int wpend; /* atomic: wbuf holds unsent bytes */

	struct tls_rec_stats st; /* atomic counters */
};

static int rec_fail(struct tls_rec *, int, int, const char *, ...)
    __attribute__((format(printf, 4, 5)));

const char *
tls_alert_name(unsigned d)
{
	static const struct {
		unsigned d;
		const char *name;
	} names[] = {
	    {0, "close_notify"},
	    {10, "unexpected_message"},
	    {20, "bad_record_mac"},
	    {22, "record_overflow"},
	    {40, "handshake_failure"},
	    {42, "bad_certificate"},
	    {43, "unsupported_certificate"},
	    {44, "certificate_revoked"},
	    {45, "certificate_expired"},
	    {46, "certificate_unknown"},
	    {47, "illegal_parameter"},
	    {48, "unknown_ca"},
	    {49, "access_denied"},
	    {50, "decode_error"},
	    {51, "decrypt_error"},
	    {70, "protocol_version"},
	    {71, "insufficient_security"},
	    {80, "internal_error"},
	    {86, "inappropriate_fallback"},
	    {90, "user_canceled"},
	    {100, "no_renegotiation"},
	    {109, "missing_extension"},
	    {110, "unsupported_extension"},
	    {112, "unrecognized_name"},
	    {113, "bad_certificate_status_response"},
	    {115, "unknown_psk_identity"},
	    {116, "certificate_required"},
	    {120, "no_application_protocol"},
	};
	static __thread char unknown[24];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].d == d)
			return names[i].name;
	snprintf(unknown, sizeof(unknown), "alert %u", d);
	return unknown;
}

static void
stat_add(uint64_t *p, uint64_t n)
{
	__atomic_add_fetch(p, n, __ATOMIC_RELAXED);
}

static void
put_be64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (unsigned char)v;
		v >>= 8;
	}
}

/* Per-record nonce: iv XOR seq, or salt || seq for TLS 1.2 AES-GCM. */
static void
make_nonce(const struct tls_rec *r, const struct rec_dir *d,
    unsigned char nonce[CP_IV_LEN])
{
	unsigned char s[8];
	int i;

	memcpy(nonce, d->iv, CP_IV_LEN);
	put_be64(s, d->seq);
	for (i = 0; i < 8; i++)
		nonce[4 + i] = r->gcm12 ? s[i] : nonce[4 + i] ^ s[i];
}

/* TLS 1.3: the record header; TLS 1.2: seq, type, version, length. */
static size_t
make_aad(const struct tls_rec *r, uint64_t seq, const unsigned char *h,
    size_t plen, unsigned char aad[13])
{
	if (r->tls13) {
		memcpy(aad, h, HDR);
		return HDR;
	}
	put_be64(aad, seq);
	aad[8] = h[0];
	aad[9] = h[1];
	aad[10] = h[2];
	aad[11] = (unsigned char)(plen >> 8);
	aad[12] = (unsigned char)plen;
	return 13;
}

/* ---- keys ---- */

static int
dir_init(struct tls_rec *r, struct rec_dir *d, int enc)
{
	if (d->ctx == NULL && (d->ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -1;
	if (EVP_CipherInit_ex(d->ctx, rec_suite_cipher(r->suite), NULL, d->key,
	        NULL, enc) != 1)
		return -1;
	return 0;
}

static int
derive_keys(const struct tls_rec *r, const unsigned char *secret,
    unsigned char *key, unsigned char *iv)
{
	if (rec_expand_label(r->suite->md, secret, r->secretlen, "key", key,
	        r->suite->keylen) == -1 ||
	    rec_expand_label(
	        r->suite->md, secret, r->secretlen, "iv", iv, CP_IV_LEN) == -1)
		return -1;
	return 0;
}

/* RFC 8446 7.2: next traffic secret, then new key and IV, seq 0. */
static int
dir_update(struct tls_rec *r, struct rec_dir *d, int enc)
{
	unsigned char next[CP_MAX_SECRET];
	int rv = -1;

	if (rec_expand_label(r->suite->md, d->secret, r->secretlen,
	        "traffic upd", next, r->secretlen) == 0) {
		memcpy(d->secret, next, r->secretlen);
		if (derive_keys(r, d->secret, d->key, d->iv) == 0 &&
		    dir_init(r, d, enc) == 0)
			rv = 0;
		d->seq = d->nrec = 0;
	}
	explicit_bzero(next, sizeof(next));
	return rv;
}

static void
dir_wipe(struct rec_dir *d)
{
	EVP_CIPHER_CTX_free(d->ctx);
	explicit_bzero(d, sizeof(*d));
}

/* ---- errors ---- */

static void send_fatal_alert(struct tls_rec *, int);

/*
 * The first fatal error sticks: both directions fail with it from now on.
 * alert >= 0 is sent to the peer, best effort.
 */
static int
rec_fail(struct tls_rec *r, int eno, int alert, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	eno = recerr_fatal(&r->e, eno, fmt, ap);
	va_end(ap);
	if (alert >= 0)
		send_fatal_alert(r, alert);
	errno = eno;
	return -1;
}

/* ---- write side (wlock held) ---- */

static ssize_t
wr_sys(struct tls_rec *r, const void *p, size_t n, int dontwait)
{
	ssize_t w;

	if (!r->notsock) {
		w = send(
		    r->fd, p, n, MSG_NOSIGNAL | (dontwait ? MSG_DONTWAIT : 0));
		if (w != -1 || errno != ENOTSOCK)
			return w;
		r->notsock = 1;
	}
	if (dontwait) {
		errno = EAGAIN;
		return -1;
	}
	return write(r->fd, p, n);
}

/* Send wbuf.  -1 with EAGAIN keeps the rest for the next call. */
static int
wr_flush(struct tls_rec *r, int dontwait)
{
	ssize_t n;

	while (r->woff < r->wlen) {
		n = wr_sys(r, r->wbuf + r->woff, r->wlen - r->woff, dontwait);
		if (n >= 0) {
			r->woff += (size_t)n;
			continue;
		}
		if (errno == EINTR && !cp_stopped())
			continue;
		if (errno == EINTR)
			return recerr_write(&r->e, ECANCELED);
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			__atomic_store_n(&r->wpend, 1, __ATOMIC_RELAXED);
			return -1;
		}
		return recerr_write(&r->e, errno);
	}
	r->woff = r->wlen = 0;
	__atomic_store_n(&r->wpend, 0, __ATOMIC_RELAXED);
	return 0;
}

/* Protect one record and append it to wbuf; the caller made room. */
static int
seal(struct tls_rec *r, uint8_t type, const unsigned char *in, size_t n)
{
	struct rec_dir *d = &r->tx;
	unsigned char *h = r->wbuf + r->wlen, *p, nonce[CP_IV_LEN], aad[13];
	size_t clen, body, aadlen, ol = 0;
	int l;

	if (d->seq == UINT64_MAX)
		return rec_fail(r, EOVERFLOW, -1, "write sequence exhausted");
	body = n + (r->tls13 ? 1 : 0);
	clen = body + TAG + (r->gcm12 ? EXPL : 0);
	h[0] = r->tls13 ? TLS_CT_APPDATA : type;
	h[1] = 3;
	h[2] = 3;
	h[3] = (unsigned char)(clen >> 8);
	h[4] = (unsigned char)clen;
	p = h + HDR;
	make_nonce(r, d, nonce);
	if (r->gcm12) {
		memcpy(p, nonce + 4, EXPL);
		p += EXPL;
	}
	aadlen = make_aad(r, d->seq, h, n, aad);
	if (EVP_EncryptInit_ex(d->ctx, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_EncryptUpdate(d->ctx, NULL, &l, aad, (int)aadlen) != 1)
		goto fail;
	if (n > 0) {
		if (EVP_EncryptUpdate(d->ctx, p, &l, in, (int)n) != 1)
			goto fail;
		ol = (size_t)l;
	}
	if (r->tls13) {
		if (EVP_EncryptUpdate(d->ctx, p + ol, &l, &type, 1) != 1)
			goto fail;
		ol += (size_t)l;
	}
	if (EVP_EncryptFinal_ex(d->ctx, p + ol, &l) != 1)
		goto fail;
	ol += (size_t)l;
	if (ol != body || EVP_CIPHER_CTX_ctrl(
	                      d->ctx, EVP_CTRL_AEAD_GET_TAG, TAG, p + ol) != 1)
		goto fail;
	d->seq++;
	d->nrec++;
	r->wlen += HDR + clen;
	stat_add(&r->st.records_out, 1);
	return 0;
fail:
	return rec_fail(r, EIO, -1, "record encryption failed");
}

static int
seal_alert(struct tls_rec *r, int level, int desc)
{
	unsigned char a[2];

	a[0] = (unsigned char)level;
	a[1] = (unsigned char)desc;
	return seal(r, TLS_CT_ALERT, a, 2);
}

/* Our KeyUpdate under the old keys, then the new tx keys. */
static int
tx_update(struct tls_rec *r, int request)
{
	unsigned char m[5] = {HS_KEY_UPDATE, 0, 0, 1, 0};

	m[4] = request ? 1 : 0;
	if (seal(r, TLS_CT_HANDSHAKE, m, sizeof(m)) == -1)
		return -1;
	if (dir_update(r, &r->tx, 1) == -1)
		return rec_fail(r, EIO, -1, "write key update failed");
	stat_add(&r->st.key_updates_sent, 1);
	return 0;
}

static int
rekey_due(const struct tls_rec *r)
{
	return r->tls13 && !r->suite->chacha && r->tx.nrec >= r->rekey_limit;
}

/* Turn the reader's requests, and a due rekey, into records in wbuf. */
static int
ctl_emit(struct tls_rec *r)
{
	int ctl;

	if (r->closed || r->wlen + 2 * CTLROOM > WBUFSZ)
		return 0;
	ctl = __atomic_exchange_n(&r->ctl, 0, __ATOMIC_SEQ_CST);
	if ((ctl & CTL_NO_RENEG) && seal_alert(r, 1, AL_NO_RENEGOTIATION) == -1)
		return -1;
	if ((ctl & CTL_KEY_UPDATE) || rekey_due(r))
		return tx_update(r, 0);
	return 0;
}

/* Reader side: send control records now if the writer is not busy. */
static void
ctl_kick(struct tls_rec *r)
{
	int saved = errno;

	if (pthread_mutex_trylock(&r->wlock) != 0)
		return;
	if (!recerr_no_send(&r->e) && ctl_emit(r) == 0)
		(void)wr_flush(r, 0);
	pthread_mutex_unlock(&r->wlock);
	errno = saved;
}

static void
send_fatal_alert(struct tls_rec *r, int desc)
{
	if (pthread_mutex_trylock(&r->wlock) != 0)
		return;
	/* wbuf holds whole records only, so appending keeps order. */
	if (!r->closed && !__atomic_load_n(&r->e.wdead, __ATOMIC_ACQUIRE) &&
	    r->wlen + CTLROOM <= WBUFSZ && seal_alert(r, 2, desc) == 0)
		(void)wr_flush(r, 1);
	r->closed = 1;
	pthread_mutex_unlock(&r->wlock);
}

static int
wr_fill(struct tls_rec *r, const unsigned char *buf, size_t len)
{
	size_t n;

	while (r->wlen + OUTREC + 2 * CTLROOM <= WBUFSZ) {
		if (ctl_emit(r) == -1)
			return -1;
		if (r->wdone == len)
			break;
		n = len - r->wdone;
		if (n > MAXPLAIN)
			n = MAXPLAIN;
		if (seal(r, TLS_CT_APPDATA, buf + r->wdone, n) == -1)
			return -1;
		r->wdone += n;
		stat_add(&r->st.bytes_out, n);
	}
	return 0;
}

static ssize_t
wr_locked(struct tls_rec *r, const unsigned char *buf, size_t len)
{
	size_t done;

	if (recerr_no_send(&r->e) || r->closed)
		return recerr_closed();
	if (r->wdone > len) {
		errno = EINVAL; /* a retry must pass the same buffer */
		return -1;
	}
	if (wr_flush(r, 0) == -1)
		return -1;
	do {
		if (wr_fill(r, buf, len) == -1 || wr_flush(r, 0) == -1)
			return -1;
	} while (r->wdone < len);
	done = r->wdone;
	r->wdone = 0;
	return (ssize_t)done;
}

ssize_t
tls_rec_write(struct tls_rec *r, const void *buf, size_t len)
{
	ssize_t rv;
	int saved;

	pthread_mutex_lock(&r->wlock);
	rv = wr_locked(r, buf, len);
	pthread_mutex_unlock(&r->wlock);
	/* A request the reader posted while we held the lock. */
	if (__atomic_load_n(&r->ctl, __ATOMIC_SEQ_CST)) {
		saved = errno;
		ctl_kick(r);
		errno = saved;
	}
	return rv;
}

int
tls_rec_close_notify(struct tls_rec *r)
{
	int rv = -1;

	pthread_mutex_lock(&r->wlock);
	if (recerr_no_send(&r->e))
		rv = recerr_closed();
	else if (r->closed)
		rv = wr_flush(r, 0);
	else if (wr_flush(r, 0) == 0 && ctl_emit(r) == 0 &&
	         seal_alert(r, 1, AL_CLOSE_NOTIFY) == 0) {
		r->closed = 1;
		r->wdone = 0;
		rv = wr_flush(r, 0);
	}
	pthread_mutex_unlock(&r->wlock);
	return rv;
}

#ifdef CP_TEST_HOOKS
int
tls_rec_key_update(struct tls_rec *r, int request_peer)
{
	int rv = -1;

	if (!r->tls13) {
		errno = EOPNOTSUPP;
		return -1;
	}
	pthread_mutex_lock(&r->wlock);
	if (recerr_no_send(&r->e) || r->closed)
		rv = recerr_closed();
	else if (wr_flush(r, 0) == 0) {
		/* Our update also answers a pending request. */
		__atomic_and_fetch(&r->ctl, ~CTL_KEY_UPDATE, __ATOMIC_SEQ_CST);
		if (tx_update(r, request_peer) == 0)
			rv = wr_flush(r, 0);
	}
	pthread_mutex_unlock(&r->wlock);
	return rv;
}

int
tls_rec_send_raw(struct tls_rec *r, uint8_t type, const void *p, size_t n)
{
	int rv = -1;

	if (n > MAXPLAIN + 255) {
		errno = EMSGSIZE;
		return -1;
	}
	pthread_mutex_lock(&r->wlock);
	if (recerr_no_send(&r->e))
		rv = recerr_closed();
	else if (wr_flush(r, 0) == 0 && seal(r, type, p, n) == 0)
		rv = wr_flush(r, 0);
	pthread_mutex_unlock(&r->wlock);
	return rv;
}
#endif

/* ---- read side ---- */

/* Fill rbuf.  1 data, -1 error or EAGAIN. */
static int
rd_sys(struct tls_rec *r)
{
	size_t left = r->rlen - r->roff;
	ssize_t n;

	if (left == 0)
		r->roff = r->rlen = 0;
	else if (RBUFSZ - r->rlen < MAXREC) {
		memmove(r->rbuf, r->rbuf + r->roff, left);
		r->roff = 0;
		r->rlen = left;
	}
	for (;;) {
		n = read(r->fd, r->rbuf + r->rlen, RBUFSZ - r->rlen);
		if (n > 0) {
			r->rlen += (size_t)n;
			return 1;
		}
		if (n == 0)
			return rec_fail(r, ECONNABORTED, -1,
			    "truncated: connection closed without "
			    "close_notify");
		if (errno == EINTR && !cp_stopped())
			continue;
		if (errno == EINTR)
			return rec_fail(r, ECANCELED, -1, CP_STOPPED_MSG);
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -1;
		return rec_fail(r, errno, -1, "read: %s", strerror(errno));
	}
}

static int
rd_header(struct tls_rec *r, const unsigned char *h, size_t *clen)
{
	size_t len = (size_t)h[3] << 8 | h[4], min, max;

	if (r->tls13 ? h[0] != TLS_CT_APPDATA
	             : (h[0] < TLS_CT_ALERT || h[0] > TLS_CT_APPDATA))
		return rec_fail(r, EPROTO, AL_UNEXPECTED,
		    "unexpected record type %u", h[0]);
	if (h[1] != 3 || (!r->tls13 && h[2] != 3))
		return rec_fail(r, EPROTO, AL_PROTOCOL_VERSION,
		    "bad record version %u.%u", h[1], h[2]);
	max = r->tls13 ? MAXCT13 : MAXCT12;
	min = TAG + (r->tls13 ? 1 : 0) + (r->gcm12 ? EXPL : 0);
	if (len > max)
		return rec_fail(r, EMSGSIZE, AL_RECORD_OVERFLOW,
		    "record overflow: %zu-byte record", len);
	if (len < min)
		return rec_fail(r, EPROTO, AL_DECODE_ERROR,
		    "record too short (%zu bytes)", len);
	*clen = len;
	return 0;
}

/*
 * Open the record at h: the first a bytes of plaintext go to out1, the
 * rest to r->pbuf.  *n is the plaintext length.
 */
static int
rec_open(struct tls_rec *r, const unsigned char *h, size_t clen,
    unsigned char *out1, size_t a, size_t *n)
{
	struct rec_dir *d = &r->rx;
	const unsigned char *in = h + HDR;
	unsigned char nonce[CP_IV_LEN], aad[13];
	size_t len = clen - TAG, aadlen;
	int l1 = 0, l2 = 0, l3 = 0, ok;

	if (d->seq == UINT64_MAX)
		return rec_fail(r, EOVERFLOW, -1, "read sequence exhausted");
	make_nonce(r, d, nonce);
	if (r->gcm12) {
		memcpy(nonce + 4, in, EXPL);
		in += EXPL;
		len -= EXPL;
	}
	aadlen = make_aad(r, d->seq, h, len, aad);
	ok =
	    EVP_DecryptInit_ex(d->ctx, NULL, NULL, NULL, nonce) == 1 &&
	    EVP_CIPHER_CTX_ctrl(
	        d->ctx, EVP_CTRL_AEAD_SET_TAG, TAG, (void *)(in + len)) == 1 &&
	    EVP_DecryptUpdate(d->ctx, NULL, &l1, aad, (int)aadlen) == 1 &&
	    (a == 0 || EVP_DecryptUpdate(d->ctx, out1, &l1, in, (int)a) == 1) &&
	    (a == len || EVP_DecryptUpdate(d->ctx, r->pbuf, &l2, in + a,
	                     (int)(len - a)) == 1) &&
	    EVP_DecryptFinal_ex(d->ctx, r->pbuf + l2, &l3) == 1;
	if (!ok)
		return rec_fail(r, EBADMSG, AL_BAD_RECORD_MAC,
		    "bad record MAC (decryption failed)");
	if ((a > 0 && (size_t)l1 != a) || (size_t)(l2 + l3) != len - a)
		return rec_fail(
		    r, EIO, AL_INTERNAL_ERROR, "record decryption failed");
	d->seq++;
	stat_add(&r->st.records_in, 1);
	*n = len;
	return 0;
}

static unsigned char
byte_at(const unsigned char *p1, size_t a, const unsigned char *p2, size_t i)
{
	return i < a ? p1[i] : p2[i - a];
}

/* TLS 1.3 inner plaintext: strip the zero padding, take the type. */
static int
inner_type(struct tls_rec *r, const unsigned char *p1, size_t a, size_t *n,
    uint8_t *type)
{
	while (*n > 0 && byte_at(p1, a, r->pbuf, *n - 1) == 0)
		(*n)--;
	if (*n == 0)
		return rec_fail(
		    r, EPROTO, AL_UNEXPECTED, "record without content type");
	(*n)--;
	*type = byte_at(p1, a, r->pbuf, *n);
	return 0;
}

static void
ticket_keep(struct tls_rec *r, const unsigned char *p, size_t len)
{
	unsigned char *t;

	if (len > TLS_REC_MAX_TICKET_LEN || (t = malloc(len)) == NULL)
		return; /* the cache is an optimisation only */
	memcpy(t, p, len);
	if (r->tickets[r->tnext] != NULL)
		OPENSSL_clear_free(
		    r->tickets[r->tnext], r->ticketlen[r->tnext]);
	r->tickets[r->tnext] = t;
	r->ticketlen[r->tnext] = len;
	r->tnext = (r->tnext + 1) % TLS_REC_MAX_TICKETS;
	if (r->tcount < TLS_REC_MAX_TICKETS)
		r->tcount++;
}

static size_t
get16(const unsigned char *p)
{
	return (size_t)p[0] << 8 | p[1];
}

/* RFC 8446 4.6.1: lifetime, age_add, nonce<0..255>, ticket<1..2^16-1>,
 * extensions<0..2^16-2>; every length checked.  m is the whole message. */
static int
rd_ticket(struct tls_rec *r, const unsigned char *m, size_t len)
{
	const unsigned char *p = m + 4;
	size_t off = 8, l, end;

	if (len < off + 1)
		goto bad;
	l = p[off++];
	if (len - off < l + 2)
		goto bad;
	off += l;
	l = get16(p + off);
	off += 2;
	if (l == 0 || len - off < l + 2)
		goto bad;
	off += l;
	l = get16(p + off);
	off += 2;
	if (len - off != l)
		goto bad;
	for (end = len; off < end; off += l) {
		if (end - off < 4)
			goto bad;
		l = get16(p + off + 2);
		off += 4;
		if (end - off < l)
			goto bad;
	}
	stat_add(&r->st.tickets, 1);
	ticket_keep(r, m, 4 + len);
	if (r->ticket_fn != NULL)
		r->ticket_fn(r->ticket_arg, m, 4 + len);
	return 0;
bad:
	return rec_fail(
	    r, EPROTO, AL_DECODE_ERROR, "malformed NewSessionTicket");
}

static int
rd_key_update(struct tls_rec *r, const unsigned char *p, size_t len, int last)
{
	if (len != 1)
		return rec_fail(
		    r, EPROTO, AL_DECODE_ERROR, "malformed KeyUpdate");
	if (p[0] > 1)
		return rec_fail(r, EPROTO, AL_ILLEGAL_PARAMETER,
		    "bad KeyUpdate value %u", p[0]);
	/* RFC 8446 5.1: no handshake data may span a key change. */
	if (!last)
		return rec_fail(r, EPROTO, AL_UNEXPECTED,
		    "KeyUpdate not at the end of a record");
	if (dir_update(r, &r->rx, 0) == -1)
		return rec_fail(
		    r, EIO, AL_INTERNAL_ERROR, "read key update failed");
	stat_add(&r->st.key_updates_received, 1);
	if (p[0] == 1) {
		__atomic_or_fetch(&r->ctl, CTL_KEY_UPDATE, __ATOMIC_SEQ_CST);
		ctl_kick(r);
	}
	return 0;
}

/* m: the message with its 4-byte header, len: its body length. */
static int
rd_hs_msg(struct tls_rec *r, const unsigned char *m, size_t len, int last)
{
	const unsigned char *p = m + 4;
	uint8_t type = m[0];

	if (r->tls13 && type == HS_NEW_SESSION_TICKET)
		return rd_ticket(r, m, len);
	if (r->tls13 && type == HS_KEY_UPDATE)
		return rd_key_update(r, p, len, last);
	if (!r->tls13 && type == HS_HELLO_REQUEST) {
		if (len != 0)
			return rec_fail(r, EPROTO, AL_DECODE_ERROR,
			    "malformed HelloRequest");
		__atomic_or_fetch(&r->ctl, CTL_NO_RENEG, __ATOMIC_SEQ_CST);
		ctl_kick(r);
		return 0;
	}
	return rec_fail(
	    r, EPROTO, AL_UNEXPECTED, "unexpected handshake message %u", type);
}

static int
hs_reserve(struct tls_rec *r, size_t need)
{
	unsigned char *n;
	size_t cap = r->hscap ? r->hscap : 4096;

	if (need <= r->hscap)
		return 0;
	while (cap < need)
		cap *= 2;
	if ((n = malloc(cap)) == NULL)
		return rec_fail(r, ENOMEM, AL_INTERNAL_ERROR, "out of memory");
	if (r->hslen > 0)
		memcpy(n, r->hs, r->hslen);
	OPENSSL_clear_free(r->hs, r->hscap);
	r->hs = n;
	r->hscap = cap;
	return 0;
}

/* Append a handshake fragment (p1[0..a) then pbuf) and run every complete
 * message; a partial one waits for the next record. */
static int
rd_hs(struct tls_rec *r, const unsigned char *p1, size_t a, size_t n)
{
	const unsigned char *m;
	size_t mlen, off = 0, c1 = n < a ? n : a;

	if (n == 0)
		return rec_fail(
		    r, EPROTO, AL_UNEXPECTED, "empty handshake record");
	if (hs_reserve(r, r->hslen + n) == -1)
		return -1;
	memcpy(r->hs + r->hslen, p1, c1);
	memcpy(r->hs + r->hslen + c1, r->pbuf, n - c1);
	r->hslen += n;
	while (r->hslen - off >= 4) {
		m = r->hs + off;
		mlen = (size_t)m[1] << 16 | (size_t)m[2] << 8 | m[3];
		if (mlen > HS_MAX)
			return rec_fail(r, EPROTO, AL_UNEXPECTED,
			    "handshake message too large (%zu bytes)", mlen);
		if (r->hslen - off - 4 < mlen)
			break;
		off += 4 + mlen;
		if (rd_hs_msg(r, m, mlen, off == r->hslen) == -1)
			return -1;
	}
	memmove(r->hs, r->hs + off, r->hslen - off);
	r->hslen -= off;
	return 1;
}

static int
rd_alert(struct tls_rec *r, const unsigned char *p1, size_t a, size_t n)
{
	int level, desc;

	if (n != 2)
		return rec_fail(r, EPROTO, AL_DECODE_ERROR,
		    "malformed alert (%zu bytes)", n);
	level = byte_at(p1, a, r->pbuf, 0);
	desc = byte_at(p1, a, r->pbuf, 1);
	if (desc == AL_CLOSE_NOTIFY) {
		r->eof = 1;
		return 0;
	}
	/* TLS 1.3 6: every alert but these two is fatal, whatever level. */
	if (r->tls13 ? desc == AL_USER_CANCELED : level == 1)
		return 1;
	return rec_fail(r, ECONNRESET, -1, "received fatal alert: %s",
	    tls_alert_name((unsigned)desc));
}

/* Application data: a bytes are already in place; the rest is pbuf. */
static int
rd_app(struct tls_rec *r, size_t a, size_t n, size_t *got)
{
	if (n == 0) {
		if (++r->empty > MAX_EMPTY)
			return rec_fail(
			    r, EPROTO, AL_UNEXPECTED, "too many empty records");
		return 1;
	}
	r->empty = 0;
	stat_add(&r->st.bytes_in, n);
	if (n <= a) {
		*got += n;
		return 1;
	}
	*got += a;
	r->poff = 0;
	r->plen = n - a;
	return 0;
}

/* Open and dispatch the complete record at roff.  1 go on, 0 stop. */
static int
rd_one(struct tls_rec *r, unsigned char *ubuf, size_t room, size_t clen,
    size_t *got)
{
	const unsigned char *h = r->rbuf + r->roff;
	size_t len = clen - TAG - (r->gcm12 ? EXPL : 0), a, n = 0;
	uint8_t type = h[0];

	a = type == TLS_CT_APPDATA ? (len < room ? len : room) : 0;
	if (rec_open(r, h, clen, ubuf, a, &n) == -1)
		return -1;
	r->roff += HDR + clen;
	if (r->tls13 && inner_type(r, ubuf, a, &n, &type) == -1)
		return -1;
	if (n > MAXPLAIN)
		return rec_fail(r, EMSGSIZE, AL_RECORD_OVERFLOW,
		    "record overflow: %zu bytes of plaintext", n);
	if (r->hslen > 0 && type != TLS_CT_HANDSHAKE)
		return rec_fail(r, EPROTO, AL_UNEXPECTED,
		    "record inside a fragmented handshake message");
	switch (type) {
	case TLS_CT_APPDATA:
		return rd_app(r, a, n, got);
	case TLS_CT_HANDSHAKE:
		return rd_hs(r, ubuf, a, n);
	case TLS_CT_ALERT:
		return rd_alert(r, ubuf, a, n);
	}
	return rec_fail(
	    r, EPROTO, AL_UNEXPECTED, "unexpected content type %u", type);
}

static int
rd_records(struct tls_rec *r, unsigned char *buf, size_t len, size_t *got)
{
	size_t clen = 0;
	int rv;

	while (*got < len && !r->eof) {
		/* Sending an answer (KeyUpdate, no_renegotiation) may have
		 * failed for good under our feet: no record after that. */
		if (recerr_is_fatal(&r->e))
			return recerr_fail(&r->e);
		if (r->rlen - r->roff < HDR)
			return 1;
		if (rd_header(r, r->rbuf + r->roff, &clen) == -1)
			return -1;
		if (r->rlen - r->roff < HDR + clen)
			return 1;
		rv = rd_one(r, buf + *got, len - *got, clen, got);
		if (rv <= 0)
			return rv;
	}
	return 1;
}

ssize_t
tls_rec_read(struct tls_rec *r, void *buf, size_t len)
{
	size_t got = 0;

	if (len == 0)
		return 0;
	if (r->poff < r->plen) {
		got = r->plen - r->poff < len ? r->plen - r->poff : len;
		memcpy(buf, r->pbuf + r->poff, got);
		r->poff += got;
		return (ssize_t)got;
	}
	if (recerr_is_fatal(&r->e))
		return recerr_fail(&r->e);
	if (r->eof)
		return 0;
	if (__atomic_load_n(&r->ctl, __ATOMIC_SEQ_CST) ||
	    __atomic_load_n(&r->wpend, __ATOMIC_RELAXED))
		ctl_kick(r);
	for (;;) {
		/* Data already opened is returned; a later error sticks. */
		if (rd_records(r, buf, len, &got) == -1)
			return got > 0 ? (ssize_t)got : -1;
		if (got > 0 || r->eof)
			return (ssize_t)got;
		if (rd_sys(r) == -1)
			return -1;
	}
}

/* ---- object ---- */

static int
check_state(const struct cp_tls_state *st, const struct rec_suite *s, char *err,
    size_t errsz)
{
	size_t hl;

	if (s == NULL) {
		snprintf(
		    err, errsz, "unsupported cipher suite 0x%04x", st->cipher);
		return -1;
	}
	if (st->version != s->version) {
		snprintf(err, errsz,
		    "cipher suite 0x%04x is not for TLS "
		    "version 0x%04x",
		    st->cipher, st->version);
		return -1;
	}
	if (st->tx.keylen != s->keylen || st->rx.keylen != s->keylen) {
		snprintf(err, errsz, "key length does not match cipher suite");
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

static void
dir_copy(struct rec_dir *d, const struct cp_tls_dir *s)
{
	memcpy(d->key, s->key, s->keylen);
	memcpy(d->iv, s->iv, CP_IV_LEN);
	memcpy(d->secret, s->secret, s->secretlen);
	d->seq = s->seq;
}

/*
 * Record buffers (about 150 KiB a connection) are kept for reuse: fresh
 * memory costs a page fault per page, and programs often connect again and
 * again.  The plaintext buffer is wiped before it is kept.  Bounded; after
 * fork() the child's copy is its own.
 */
#define BUFCACHE_MAX 4

static pthread_mutex_t bufcache_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct {
	unsigned char *r, *p, *w;
} bufcache[BUFCACHE_MAX];
static int nbufcache;

static void
bufs_get(struct tls_rec *r)
{
	pthread_mutex_lock(&bufcache_mtx);
	if (nbufcache > 0) {
		nbufcache--;
		r->rbuf = bufcache[nbufcache].r;
		r->pbuf = bufcache[nbufcache].p;
		r->wbuf = bufcache[nbufcache].w;
	}
	pthread_mutex_unlock(&bufcache_mtx);
	if (r->rbuf == NULL) {
		r->rbuf = malloc(RBUFSZ);
		r->pbuf = malloc(MAXCT12);
		r->wbuf = malloc(WBUFSZ);
	}
}

static void
bufs_put(struct tls_rec *r)
{
	if (r->pbuf != NULL)
		OPENSSL_cleanse(r->pbuf, MAXCT12);
	if (r->rbuf != NULL && r->pbuf != NULL && r->wbuf != NULL) {
		pthread_mutex_lock(&bufcache_mtx);
		if (nbufcache < BUFCACHE_MAX) {
			bufcache[nbufcache].r = r->rbuf;
			bufcache[nbufcache].p = r->pbuf;
			bufcache[nbufcache].w = r->wbuf;
			nbufcache++;
			r->rbuf = r->pbuf = r->wbuf = NULL;
		}
		pthread_mutex_unlock(&bufcache_mtx);
	}
	free(r->rbuf);
	free(r->pbuf);
	free(r->wbuf);
}

static int
rec_setup(
    struct tls_rec *r, const struct cp_tls_state *st, char *err, size_t errsz)
{
	bufs_get(r);
	if (r->rbuf == NULL || r->pbuf == NULL || r->wbuf == NULL) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	/* The daemon's keys are used as sent, not derived again from the
	 * secrets to compare: that took half the library's instructions per
	 * TLS 1.3 connect, and keys that did not match their secrets would
	 * show at the first KeyUpdate as a failed record, not go unnoticed. */
	dir_copy(&r->tx, &st->tx);
	dir_copy(&r->rx, &st->rx);
	if (dir_init(r, &r->tx, 1) == -1 || dir_init(r, &r->rx, 0) == -1) {
		snprintf(err, errsz, "cannot set up the %s cipher",
		    r->suite->chacha ? "ChaCha20-Poly1305" : "AES-GCM");
		return -1;
	}
	return 0;
}

struct tls_rec *
tls_rec_new(int fd, const struct cp_tls_state *st, char *err, size_t errsz)
{
	const struct rec_suite *s = rec_suite_find(st->cipher);
	struct tls_rec *r;

	if (fd < 0) {
		snprintf(err, errsz, "bad descriptor");
		return NULL;
	}
	if (check_state(st, s, err, errsz) == -1)
		return NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	r->fd = fd;
	r->suite = s;
	r->tls13 = s->version == REC_V13;
	r->gcm12 = !r->tls13 && !s->chacha;
	r->secretlen = r->tls13 ? st->tx.secretlen : 0;
	r->rekey_limit = TLS_REC_GCM_REKEY_LIMIT;
	recerr_init(&r->e);
	pthread_mutex_init(&r->wlock, NULL);
	if (rec_setup(r, st, err, errsz) == -1) {
		tls_rec_free(r);
		return NULL;
	}
	return r;
}

void
tls_rec_set_ticket_fn(struct tls_rec *r, tls_ticket_fn *fn, void *arg)
{
	r->ticket_fn = fn;
	r->ticket_arg = arg;
}

void
tls_rec_free(struct tls_rec *r)
{
	size_t i;

	if (r == NULL)
		return;
	dir_wipe(&r->rx);
	dir_wipe(&r->tx);
	bufs_put(r);
	OPENSSL_clear_free(r->hs, r->hscap);
	for (i = 0; i < TLS_REC_MAX_TICKETS; i++)
		OPENSSL_clear_free(r->tickets[i], r->ticketlen[i]);
	recerr_destroy(&r->e);
	pthread_mutex_destroy(&r->wlock);
	explicit_bzero(r, sizeof(*r));
	free(r);
}

const char *
tls_rec_error(const struct tls_rec *r)
{
	return recerr_str(&r->e);
}

void
tls_rec_stats(const struct tls_rec *r, struct tls_rec_stats *s)
{
	s->records_in = __atomic_load_n(&r->st.records_in, __ATOMIC_RELAXED);
	s->records_out = __atomic_load_n(&r->st.records_out, __ATOMIC_RELAXED);
	s->bytes_in = __atomic_load_n(&r->st.bytes_in, __ATOMIC_RELAXED);
	s->bytes_out = __atomic_load_n(&r->st.bytes_out, __ATOMIC_RELAXED);
	s->key_updates_sent =
	    __atomic_load_n(&r->st.key_updates_sent, __ATOMIC_RELAXED);
	s->key_updates_received =
	    __atomic_load_n(&r->st.key_updates_received, __ATOMIC_RELAXED);
	s->tickets = __atomic_load_n(&r->st.tickets, __ATOMIC_RELAXED);
}

#ifdef CP_TEST_HOOKS
ssize_t
tls_rec_ticket(const struct tls_rec *r, unsigned idx, void *buf, size_t len)
{
	size_t k;

	if (idx >= r->tcount) {
		errno = ENOENT;
		return -1;
	}
	k = (r->tnext + TLS_REC_MAX_TICKETS - 1 - idx) % TLS_REC_MAX_TICKETS;
	if (len < r->ticketlen[k]) {
		errno = ENOSPC;
		return -1;
	}
	memcpy(buf, r->tickets[k], r->ticketlen[k]);
	return (ssize_t)r->ticketlen[k];
}

size_t
tls_rec_pending(const struct tls_rec *r)
{
	return r->plen - r->poff;
}

int
tls_rec_expand_label(const char *md, const unsigned char *secret,
    size_t secretlen, const char *label, const unsigned char *ctx,
    size_t ctxlen, unsigned char *out, size_t outlen)
{
	return rec_expand_label_ctx(
	    md, secret, secretlen, label, ctx, ctxlen, out, outlen);
}

void
tls_rec_set_rekey_limit(struct tls_rec *r, uint64_t records)
{
	pthread_mutex_lock(&r->wlock);
	r->rekey_limit = records ? records : TLS_REC_GCM_REKEY_LIMIT;
	pthread_mutex_unlock(&r->wlock);
}
#endif
