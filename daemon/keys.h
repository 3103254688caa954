/* SPDX-License-Identifier: ISC */
/*
 * Client-certificate keys: the parent holds the private keys, the engines
 * hold only the certificates and ask the parent for each signature.
 *
 * Parent and engine talk over the engine's channel (descriptor 4, a
 * SOCK_SEQPACKET socket pair: one datagram is one message).  Every
 * message starts with a 32-bit type word in host byte order (both ends are
 * the same binary on the same machine) and has a fixed size, except
 * CTL_CERT whose size is given by its header:
 *
 *	engine -> parent	CTL_STATS (struct ctl_stats, engine.h)
 *				CTL_SIGN  (struct keys_sign_req)
 *	parent -> engine	CTL_CERT  (struct keys_cert + paths + DER
 *chain), one per key, then CTL_CERT_END, right after the engine is started
 *				CTL_SIG   (struct keys_sign_rep)
 *				CTL_DRAIN (uint32_t): stop accepting, finish
 *				the requests in flight, exit
 *
 * The parent treats every datagram from an engine as hostile: exact sizes,
 * key ids in bounds, lengths in bounds, and it only ever signs: ECDSA over
 * a digest, RSA PKCS#1 v1.5 over a digest (the DigestInfo is built by the
 * parent), and RSA-PSS over an encoded message that it first checks to be
 * a well-formed EMSA-PSS encoding with a salt as long as the hash, so that
 * the raw RSA operation can never serve as a decryption oracle.
 */
#ifndef CP_KEYS_H
#define CP_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

struct cpconf;

enum ctl_type {
	CTL_STATS = 1,
	CTL_SIGN = 2,
	CTL_SIG = 3,
	CTL_CERT = 4,
	CTL_CERT_END = 5,
	CTL_DRAIN = 6,
};

#define KEYS_MAX 256               /* distinct keys in one configuration */
#define KEYS_MAX_DATA 512          /* RSA 4096: one modulus */
#define KEYS_MAX_SIG 1024          /* a signature */
#define KEYS_MAX_CHAIN (60 * 1024) /* DER bytes of one certificate chain */
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

/* Parent side */

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

/* Engine side */

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

#endif
