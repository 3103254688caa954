/* SPDX-License-Identifier: ISC */
/*
 * The parent's key table: it holds the client certificates' private keys
 * and signs for the engines, which hold only the certificates
 * (keyring.h).
 *
 * It only ever signs: ECDSA over a digest, RSA PKCS#1 v1.5 over a digest
 * (the DigestInfo is built by the parent), and RSA-PSS over an encoded
 * message that it first checks to be a well-formed EMSA-PSS encoding with
 * a salt as long as the hash, so that the raw RSA operation can never
 * serve as a decryption oracle.
 */
#ifndef CP_KEYTAB_H
#define CP_KEYTAB_H

#include <stddef.h>
#include <stdint.h>

#include "ctl.h"

struct cpconf;
struct keytab;

/*
 * Load every client certificate and key of the configuration: the global
 * one first, then each destination block's in file order, each distinct
 * (certificate, key) pair once.  Keys must be EC P-256 or P-384, or RSA of
 * 2048 to 4096 bits, unencrypted PEM, and match their certificate.
 * Returns 0 (with *out NULL when there is none) or -1 and err
 * ("file:line: ...").
 */
int keytab_load(
    struct keytab **out, const struct cpconf *, char *err, size_t errsz);
struct keytab *keytab_ref(struct keytab *);
void keytab_free(struct keytab *); /* drops a reference; NULL is fine */
int keytab_count(const struct keytab *);
/* Send the certificates to a new engine.  0 or -1 (errno). */
int keytab_send(const struct keytab *, int fd);
/*
 * Answer one datagram msg[0..len) of type CTL_SIGN from an engine of this
 * table's generation: fills rep (always, errors included).
 */
void keytab_sign(
    struct keytab *, const void *msg, size_t len, struct keys_sign_rep *rep);
/* Signatures made, all tables together. */
uint64_t keys_signatures(void);

#endif
