/* SPDX-License-Identifier: ISC */
/*
 * The engines' signing client: the client certificates the parent sent,
 * each with a delegated key whose private operation asks the parent
 * (keytab.h) for the signature over the channel.
 */
#ifndef CP_KEYRING_H
#define CP_KEYRING_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "ctl.h"

struct keyring;

struct client_cred {
	X509 *cert;
	STACK_OF(X509) * chain; /* may be NULL */
	EVP_PKEY *key;          /* signs through the parent */
};

/*
 * Receive the certificates on fd (blocking, bounded by timeout_ms) and
 * build the delegated keys; the same fd carries the signing requests
 * later.  0 or -1 and err.
 */
int keyring_recv(
    struct keyring **out, int fd, int timeout_ms, char *err, size_t errsz);
void keyring_free(struct keyring *);
/* The credential for a policy's certificate and key files, or NULL. */
const struct client_cred *keyring_find(
    const struct keyring *, const char *cert_file, const char *key_file);
/* 1 once a signing wait saw CTL_DRAIN or the end of the channel: the
 * engine loop must then drain as if it had read that itself. */
int keyring_stop_seen(void);
/* The messages for the loop (CTL_SESS_PUT, CTL_SESS_FLUSH, CTL_TICKET)
 * that signing waits read since the last call, each given to fn once, in
 * the order they came. */
typedef void keyring_msg_fn(
    void *arg, uint32_t type, const void *msg, size_t len);
void keyring_stashed(keyring_msg_fn *, void *arg);

#endif
