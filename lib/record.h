/* SPDX-License-Identifier: ISC */
/*
 * User-space TLS 1.2 / 1.3 record layer that continues a connection whose
 * handshake was done by cpconnectd (see DESIGN.md, "The hand-off").
 *
 * Only the AEAD suites the daemon negotiates are supported: AES-128-GCM,
 * AES-256-GCM and ChaCha20-Poly1305.  The functions below are the whole
 * interface the rest of the library uses, so a kernel-TLS implementation
 * can later provide the same calls.
 *
 * Threads: one reader (tls_rec_read) and one writer (tls_rec_write,
 * tls_rec_close_notify, tls_rec_key_update) may run at the same time.
 * Everything the reader has to send (KeyUpdate answers, alerts) goes
 * through the writer's lock, and a KeyUpdate requested by the peer is
 * always sent before the next application data record.
 *
 * Non-blocking descriptors: -1 with errno EAGAIN; the call has to be
 * repeated later.  As with SSL_write, a write that returned EAGAIN must be
 * retried with at least the same length: the part already encrypted is not
 * encrypted again.
 */
#ifndef CP_RECORD_H
#define CP_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct cp_tls_state;
struct tls_rec;

/* TLS content types. */
#define TLS_CT_CCS 20
#define TLS_CT_ALERT 21
#define TLS_CT_HANDSHAKE 22
#define TLS_CT_APPDATA 23

/* Largest plaintext of one record (RFC 8446 5.1). */
#define TLS_REC_MAX_PLAIN 16384

/* Called from the reading thread with each whole TLS 1.3
 * NewSessionTicket message (its 4-byte header included), so that it can
 * go back to the daemon's session cache. */
typedef void tls_ticket_fn(void *arg, const unsigned char *msg, size_t len);

/* Session tickets kept for a future session cache (the newest ones). */
#define TLS_REC_MAX_TICKETS 4
#define TLS_REC_MAX_TICKET_LEN 16384

/* Default number of records protected by one AES-GCM key before we send
 * our own KeyUpdate (RFC 8446 5.5 allows 2^24.5 full-size records). */
#define TLS_REC_GCM_REKEY_LIMIT (1ULL << 24)

struct tls_rec_stats {
	uint64_t records_in;  /* protected records received */
	uint64_t records_out; /* protected records sent */
	uint64_t bytes_in;    /* application data bytes */
	uint64_t bytes_out;
	uint64_t key_updates_sent;
	uint64_t key_updates_received;
	uint64_t tickets; /* NewSessionTicket messages seen */
};

/*
 * Take over the TLS connection on fd with the state st (tx = our writing
 * direction).  The keys are copied: the caller wipes st.  The fd stays the
 * caller's (never closed here).  NULL with a message in err.
 */
struct tls_rec *tls_rec_new(int fd, const struct cp_tls_state *st, char *err,
    size_t errsz);

/* >0 bytes of application data, 0 after close_notify, -1 with errno:
 * EAGAIN, ECONNRESET (fatal alert received), EBADMSG (bad record MAC),
 * EPROTO (protocol violation), ECONNABORTED (EOF without close_notify),
 * or the errno of the failed recv. */
ssize_t tls_rec_read(struct tls_rec *, void *buf, size_t len);

/* len, or -1 with errno (EAGAIN, EPIPE after close_notify or a fatal
 * error, or the errno of the failed send). */
ssize_t tls_rec_write(struct tls_rec *, const void *buf, size_t len);

/* Send close_notify.  0, or -1 with errno (EAGAIN: call again). */
int tls_rec_close_notify(struct tls_rec *);

/* The first fatal error, "" when none, e.g.
 * "received fatal alert: handshake_failure". */
const char *tls_rec_error(const struct tls_rec *);

void tls_rec_stats(const struct tls_rec *, struct tls_rec_stats *);

/* Hand every NewSessionTicket from now on to fn (NULL: none). */
void tls_rec_set_ticket_fn(struct tls_rec *, tls_ticket_fn *fn, void *arg);

/* Wipe the keys and free; does not close the fd, sends nothing. */
void tls_rec_free(struct tls_rec *);

/* The name of a TLS alert description, "alert N" for unknown ones. */
const char *tls_alert_name(unsigned desc);

/* Test hooks: only in the test build (CP_TEST_HOOKS), never in the
 * library a program links. */
#ifdef CP_TEST_HOOKS

/* Send our own KeyUpdate (TLS 1.3 only); request_peer asks the peer to
 * update its keys too.  0 or -1 with errno (EAGAIN: the KeyUpdate is queued
 * and goes out with the next write). */
int tls_rec_key_update(struct tls_rec *, int request_peer);

/* Decrypted application data buffered in the object: poll() on the fd does
 * not see it. */
size_t tls_rec_pending(const struct tls_rec *);

/*
 * Copy the raw NewSessionTicket message (handshake header included) number
 * idx, 0 being the newest, into buf.  Returns its length, or -1 (ENOENT
 * no such ticket, ENOSPC buf too small).  Call it from the reader's thread.
 */
ssize_t tls_rec_ticket(const struct tls_rec *, unsigned idx, void *buf,
    size_t len);

/*
 * HKDF-Expand-Label of RFC 8446 7.1 with the digest md ("SHA256",
 * "SHA384").  0 or -1.
 */
int tls_rec_expand_label(const char *md, const unsigned char *secret,
    size_t secretlen, const char *label, const unsigned char *ctx,
    size_t ctxlen, unsigned char *out, size_t outlen);

/* Records per key before our own KeyUpdate (TLS 1.3; 0: the default). */
void tls_rec_set_rekey_limit(struct tls_rec *, uint64_t records);

/*
 * Protect and send one record of content type type with len bytes (up to
 * TLS_REC_MAX_PLAIN + 255, so a test can break the size limit), bypassing
 * every protocol rule.  0 or -1 with errno.
 */
int tls_rec_send_raw(struct tls_rec *, uint8_t type, const void *buf,
    size_t len);
#endif

#endif
