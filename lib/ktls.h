/* SPDX-License-Identifier: ISC */
/*
 * Kernel TLS for a handed-off connection: the record-layer state the daemon
 * sent is installed into the socket (TCP_ULP "tls", SOL_TLS TLS_TX/TLS_RX),
 * so the descriptor carries plaintext and the kernel seals and opens the
 * records.  What the kernel leaves to user space is done here: non-data
 * records (NewSessionTicket, KeyUpdate, HelloRequest, alerts) come through
 * recvmsg with TLS_GET_RECORD_TYPE, ours go out with TLS_SET_RECORD_TYPE.
 *
 * The calls mirror record.h, so client.c drives either path the same way.
 * Threads: one reader and one writer at a time, as in record.h; whatever the
 * reader has to send (a KeyUpdate answer, alerts) goes through the writer's
 * lock, and our new TX key is in place before the next data record.
 */
#ifndef CP_KTLS_H
#define CP_KTLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/tls.h>

#include "record.h"

struct cp_tls_state;
struct cp_tls_dir;
struct ktls;

/* The modes of cp_client_set_ktls() and CPCONNECT_KTLS (same values as
 * CP_KTLS_* in <cprops/client.h>). */
#define KTLS_OFF 0
#define KTLS_AUTO 1
#define KTLS_REQUIRE 2

/* One crypto_info of linux/tls.h, whichever the cipher. */
union ktls_info {
	struct tls_crypto_info base;
	struct tls12_crypto_info_aes_gcm_128 gcm128;
	struct tls12_crypto_info_aes_gcm_256 gcm256;
	struct tls12_crypto_info_chacha20_poly1305 chacha;
};

/*
 * The crypto_info for one direction d of a connection of TLS version
 * version (0x0303, 0x0304) and IANA suite cipher: its length, or 0 for a
 * suite the kernel path does not take.  Pure: unit-tested against the
 * layouts of linux/tls.h.  The caller wipes out.
 */
size_t ktls_info_build(uint16_t version, uint16_t cipher,
    const struct cp_tls_dir *d, union ktls_info *out);

/* What the kernel offers, as far as the decision needs it. */
struct ktls_caps {
	int avail; /* TCP_ULP "tls" attached to the socket */
	int rekey; /* TLS_TX/TLS_RX may be set again (TLS 1.3 KeyUpdate) */
};

enum ktls_choice {
	KTLS_USE_KERNEL,
	KTLS_USE_USER,
	KTLS_FAIL,
};

/*
 * The policy, pure (unit-tested with made-up capabilities): mode
 * KTLS_OFF/AUTO/REQUIRE, version 0x0303 or 0x0304.  *why says why, in
 * words fit for cp_client_ktls_info() and error messages.
 */
enum ktls_choice ktls_decide(
    int mode, uint16_t version, const struct ktls_caps *caps, const char **why);

/* "off", "auto", "require" (any case); NULL or "" is auto.  0 or -1. */
int ktls_parse_mode(const char *s, int *mode);

/*
 * Attach the kernel TLS layer to the connected TCP socket fd.  0, or -1
 * with errno (ENOENT or ENOPROTOOPT: this kernel has no TLS; that answer
 * is kept for the life of the process, so later connects do not ask the
 * kernel to load a module again) and a message in err.
 */
int ktls_attach(int fd, char *err, size_t errsz);
/* 1 once ktls_attach() has found that this kernel has no TLS. */
int ktls_known_absent(void);

/*
 * Whether the kernel, once its TLS module is loaded, can re-key TLS 1.3:
 * the rekey counters of /proc/net/tls_stat (they came with the feature,
 * Linux 6.14, and come with its backports); where that file cannot be
 * read, the kernel release from uname (>= 6.14).  Cached.
 */
int ktls_kernel_rekeys(void);
/* Its two parts: 1 or 0 from a tls_stat file (-1: cannot be read), and
 * from a kernel release string. */
int ktls_stat_rekeys(const char *path);
int ktls_release_rekeys(const char *release);

/*
 * Install st into fd (ktls_attach done) and take the connection over,
 * with ktls_set_ticket_fn(fn, arg) before the first read.  rekey: the
 * kernel can re-key.  Consumes the non-data records that have already
 * arrived (tickets), so that a plain read(2) does not stop at them.  NULL
 * with errno and a message in err; *installed tells whether a key went
 * into the socket (if not, the caller may still use user space).
 */
struct ktls *ktls_new_fn(int fd, const struct cp_tls_state *st, int rekey,
    tls_ticket_fn *fn, void *arg, int *installed, char *err, size_t errsz);

/* Hand every TLS 1.3 NewSessionTicket from now on to fn (NULL: none);
 * messages above TLS_REC_MAX_TICKET_LEN bytes are skipped only. */
void ktls_set_ticket_fn(struct ktls *, tls_ticket_fn *fn, void *arg);

/* As tls_rec_read / tls_rec_write / tls_rec_close_notify (record.h). */
ssize_t ktls_read(struct ktls *, void *buf, size_t len);
ssize_t ktls_write(struct ktls *, const void *buf, size_t len);
int ktls_close_notify(struct ktls *);
const char *ktls_error(const struct ktls *);
/* Read and drop what has arrived, without waiting (before a close). */
void ktls_discard(struct ktls *);
/* Wipe and free; the descriptor stays open. */
void ktls_free(struct ktls *);

struct ktls_stats {
	uint64_t tickets;            /* NewSessionTicket messages skipped */
	uint64_t tickets_at_connect; /* of which before ktls_new returned */
	uint64_t key_updates_received;
	uint64_t key_updates_sent;
	uint64_t alerts_received;
};
void ktls_stats(const struct ktls *, struct ktls_stats *);

/* Test hooks, in the test build only (CP_TEST_HOOKS). */

#ifdef CP_TEST_HOOKS
/* The kernel record layer of a connected client (client.c), or NULL. */
struct _cp_client;
struct ktls *client_ktls(struct _cp_client *);
/* Records under one TX key before our own KeyUpdate (0: the default). */
void ktls_set_rekey_limit(struct ktls *, uint64_t records);
/* ktls_new waits up to ms for the first non-data record (tests: makes
 * "tickets that already arrived" deterministic); 0 by default. */
void ktls_set_connect_wait(int ms);
/* A ktls on no socket, and one non-data record fed to it as if recvmsg had
 * returned it: the control-record parser without a kernel. */
struct ktls *ktls_test_new(const struct cp_tls_state *st);
int ktls_test_control(struct ktls *, int type, const void *p, size_t n);
#endif

#endif
