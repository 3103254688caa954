/* SPDX-License-Identifier: ISC */
/*
 * The engines' signing client (keyring.h): receives the certificates
 * from the parent and signs through it.
 *
 * OPENSSL_SUPPRESS_DEPRECATED: the engine side gives libssl an EVP_PKEY
 * whose private operation calls back into this file.  In OpenSSL 3.0 the
 * only ways to do that are a provider or a legacy EC_KEY / RSA with its
 * own EC_KEY_METHOD / RSA_METHOD, which are deprecated but supported for
 * the whole 3.x series; libssl then signs through the legacy EVP_PKEY
 * method (ECDSA_sign -> our sign, RSA_sign -> our sign for PKCS#1 v1.5,
 * RSA_private_encrypt(RSA_NO_PADDING) -> our priv_enc for PSS).  The
 * parent's side (keytab.c) does the signing itself.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "keyring.h"
#include "log.h"

static int
kerr(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	return -1;
}

struct kentry {
	char *cert_file, *key_file;
	struct client_cred cred;
};

struct keyring {
	int n;
	struct kentry e[KEYS_MAX];
};

static int kc_fd = -1;
static uint32_t kc_seq;
static int kc_stop;
static int kc_ec_idx = -1, kc_rsa_idx = -1;
static EC_KEY_METHOD *kc_ecm;
static RSA_METHOD *kc_rsam;

static uint64_t
kc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Messages for the engine's loop that a signing wait read off the channel
 * (session cache entries, flush orders, relayed tickets), in order, for
 * keyring_stashed().  Bounded: past KC_STASH_MAX the rest are dropped, as
 * a full channel would drop them.  Cache entries hold session secrets, so
 * every copy is wiped.
 */
#define KC_STASH_MAX 64
static struct {
	uint32_t type;
	size_t len;
	unsigned char *msg;
} kc_stash[KC_STASH_MAX];
static int kc_nstash, kc_stash_lost;

static void
kc_stash_add(uint32_t type, const void *msg, size_t len)
{
	unsigned char *p;

	if (kc_nstash == KC_STASH_MAX || (p = malloc(len)) == NULL) {
		kc_stash_lost++;
		return;
	}
	memcpy(p, msg, len);
	kc_stash[kc_nstash].type = type;
	kc_stash[kc_nstash].len = len;
	kc_stash[kc_nstash].msg = p;
	kc_nstash++;
}

void
keyring_stashed(keyring_msg_fn *fn, void *arg)
{
	int i, n = kc_nstash;

	/* fn may sign again, and so stash again: take the list first. */
	kc_nstash = 0;
	for (i = 0; i < n; i++) {
		fn(arg, kc_stash[i].type, kc_stash[i].msg, kc_stash[i].len);
		explicit_bzero(kc_stash[i].msg, kc_stash[i].len);
		free(kc_stash[i].msg);
	}
	if (kc_stash_lost > 0) {
		log_warnx("%d messages from the parent dropped during signing "
		          "waits",
		    kc_stash_lost);
		kc_stash_lost = 0;
	}
}

/*
 * One signature from the parent.  Synchronous: the engine loop waits here
 * (at most KEYS_SIGN_TIMEOUT_MS; the parent answers in well under a
 * millisecond).  Other messages that arrive meanwhile are a drain order
 * (remembered for the loop), a log level (applied), messages for the loop
 * (stashed) or stale answers (dropped).
 */
static int
kc_call(struct keys_sign_req *rq, uint8_t *out, size_t outmax)
{
	static union {
		struct keys_sign_rep rep;
		unsigned char raw[CTL_MAX_MSG];
	} in;
	struct keys_sign_rep rep;
	struct pollfd pfd;
	uint64_t deadline;
	uint32_t type;
	ssize_t n;
	int left, rv = -1;

	if (kc_fd == -1 || kc_stop == 2)
		return -1;
	rq->type = CTL_SIGN;
	rq->seq = ++kc_seq;
	if (send(kc_fd, rq, sizeof(*rq), MSG_DONTWAIT | MSG_NOSIGNAL) !=
	    (ssize_t)sizeof(*rq))
		return -1;
	deadline = kc_now_ms() + KEYS_SIGN_TIMEOUT_MS;
	for (;;) {
		uint64_t now = kc_now_ms();

		if (now >= deadline)
			break;
		left = (int)(deadline - now);
		pfd.fd = kc_fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, left) == -1 && errno != EINTR)
			break;
		n = recv(kc_fd, &in, sizeof(in), MSG_DONTWAIT);
		if (n == 0) {
			kc_stop = 2; /* the parent is gone */
			break;
		}
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			break;
		}
		if ((size_t)n < sizeof(type))
			continue;
		memcpy(&type, &in, sizeof(type));
		if (type == CTL_DRAIN) {
			if (kc_stop == 0)
				kc_stop = 1;
			continue;
		}
		/* Not for us, but not to be lost either. */
		if (type == CTL_VERBOSE &&
		    n == (ssize_t)sizeof(struct ctl_verbose)) {
			struct ctl_verbose v;

			memcpy(&v, &in, sizeof(v));
			log_set_verbose((int)v.level);
			continue;
		}
		if (type == CTL_SESS_PUT || type == CTL_SESS_FLUSH ||
		    type == CTL_TICKET) {
			kc_stash_add(type, &in, (size_t)n);
			explicit_bzero(&in, (size_t)n);
			continue;
		}
		if (type != CTL_SIG || n != (ssize_t)sizeof(rep))
			continue;
		memcpy(&rep, &in, sizeof(rep));
		explicit_bzero(&in, sizeof(rep));
		if (rep.seq != rq->seq)
			continue;
		if (rep.status == 0 && rep.len > 0 && rep.len <= outmax) {
			memcpy(out, rep.sig, rep.len);
			rv = (int)rep.len;
		}
		break;
	}
	explicit_bzero(&rep, sizeof(rep));
	explicit_bzero(rq, sizeof(*rq));
	return rv;
}

int
keyring_stop_seen(void)
{
	return kc_stop != 0;
}

static uint32_t
kc_id(void *p)
{
	return (uint32_t)((uintptr_t)p - 1);
}

static int
kc_ec_sign(int type, const unsigned char *dgst, int dlen, unsigned char *sig,
    unsigned int *siglen, const BIGNUM *kinv, const BIGNUM *r, EC_KEY *ec)
{
	struct keys_sign_req rq;
	void *id = EC_KEY_get_ex_data(ec, kc_ec_idx);
	int n;

	if (id == NULL || dlen <= 0 || dlen > KEYS_MAX_DATA)
		return 0;
	memset(&rq, 0, sizeof(rq));
	rq.key = kc_id(id);
	rq.op = KEYS_OP_ECDSA;
	rq.len = (uint32_t)dlen;
	memcpy(rq.data, dgst, (size_t)dlen);
	if ((n = kc_call(&rq, sig, (size_t)ECDSA_size(ec))) <= 0)
		return 0;
	*siglen = (unsigned int)n;
	return 1;
}

static ECDSA_SIG *
kc_ec_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv,
    const BIGNUM *r, EC_KEY *ec)
{
	unsigned char buf[KEYS_MAX_SIG];
	const unsigned char *p = buf;
	unsigned int len;

	if ((size_t)ECDSA_size(ec) > sizeof(buf) ||
	    !kc_ec_sign(0, dgst, dlen, buf, &len, kinv, r, ec))
		return NULL;
	return d2i_ECDSA_SIG(NULL, &p, (long)len);
}

static int
kc_rsa_sign(int type, const unsigned char *m, unsigned int mlen,
    unsigned char *sig, unsigned int *siglen, const RSA *rsa)
{
	struct keys_sign_req rq;
	void *id = RSA_get_ex_data(rsa, kc_rsa_idx);
	int n;

	memset(&rq, 0, sizeof(rq));
	switch (type) {
	case NID_sha256:
		rq.hash = KEYS_SHA256;
		break;
	case NID_sha384:
		rq.hash = KEYS_SHA384;
		break;
	case NID_sha512:
		rq.hash = KEYS_SHA512;
		break;
	default:
		return 0;
	}
	if (id == NULL || mlen > KEYS_MAX_DATA)
		return 0;
	rq.key = kc_id(id);
	rq.op = KEYS_OP_RSA_PKCS1;
	rq.len = mlen;
	memcpy(rq.data, m, mlen);
	if ((n = kc_call(&rq, sig, (size_t)RSA_size(rsa))) <= 0)
		return 0;
	*siglen = (unsigned int)n;
	return 1;
}

/* Only the raw operation of a PSS signature comes here. */
static int
kc_rsa_priv_enc(int flen, const unsigned char *from, unsigned char *to,
    RSA *rsa, int padding)
{
	struct keys_sign_req rq;
	void *id = RSA_get_ex_data(rsa, kc_rsa_idx);

	if (id == NULL || padding != RSA_NO_PADDING || flen != RSA_size(rsa) ||
	    flen > KEYS_MAX_DATA)
		return -1;
	memset(&rq, 0, sizeof(rq));
	rq.key = kc_id(id);
	rq.op = KEYS_OP_RSA_PSS;
	rq.len = (uint32_t)flen;
	memcpy(rq.data, from, (size_t)flen);
	return kc_call(&rq, to, (size_t)RSA_size(rsa));
}

/* The parent never decrypts. */
static int
kc_rsa_priv_dec(int flen, const unsigned char *from, unsigned char *to,
    RSA *rsa, int padding)
{
	return -1;
}

static int
kc_methods(void)
{
	int (*sign)(int, const unsigned char *, int, unsigned char *,
	    unsigned int *, const BIGNUM *, const BIGNUM *, EC_KEY *);
	int (*setup)(EC_KEY *, BN_CTX *, BIGNUM **, BIGNUM **);
	ECDSA_SIG *(*sign_sig)(const unsigned char *, int, const BIGNUM *,
	    const BIGNUM *, EC_KEY *);

	if (kc_ecm != NULL)
		return 0;
	kc_ec_idx = EC_KEY_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	kc_rsa_idx = RSA_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (kc_ec_idx < 0 || kc_rsa_idx < 0)
		return -1;
	if ((kc_ecm = EC_KEY_METHOD_new(EC_KEY_get_default_method())) == NULL)
		return -1;
	EC_KEY_METHOD_get_sign(kc_ecm, &sign, &setup, &sign_sig);
	EC_KEY_METHOD_set_sign(kc_ecm, kc_ec_sign, setup, kc_ec_sign_sig);
	if ((kc_rsam = RSA_meth_dup(RSA_PKCS1_OpenSSL())) == NULL ||
	    !RSA_meth_set1_name(kc_rsam, "cpconnectd parent key") ||
	    !RSA_meth_set_sign(kc_rsam, kc_rsa_sign) ||
	    !RSA_meth_set_priv_enc(kc_rsam, kc_rsa_priv_enc) ||
	    !RSA_meth_set_priv_dec(kc_rsam, kc_rsa_priv_dec))
		return -1;
	return 0;
}

/* A public key from the certificate whose private half is the parent's. */
static EVP_PKEY *
kc_key(X509 *cert, uint32_t type, uint32_t id)
{
	unsigned char *spki = NULL;
	const unsigned char *p;
	EVP_PKEY *pk = NULL;
	EC_KEY *ec = NULL;
	RSA *rsa = NULL;
	void *tag = (void *)((uintptr_t)id + 1);
	int len;

	if ((len = i2d_PUBKEY(X509_get0_pubkey(cert), &spki)) <= 0)
		return NULL;
	p = spki;
	if ((pk = EVP_PKEY_new()) == NULL)
		goto fail;
	if (type == KEYS_EC) {
		if ((ec = d2i_EC_PUBKEY(NULL, &p, len)) == NULL ||
		    !EC_KEY_set_method(ec, kc_ecm) ||
		    !EC_KEY_set_ex_data(ec, kc_ec_idx, tag) ||
		    !EVP_PKEY_assign_EC_KEY(pk, ec))
			goto fail;
	} else if (type == KEYS_RSA) {
		if ((rsa = d2i_RSA_PUBKEY(NULL, &p, len)) == NULL ||
		    !RSA_set_method(rsa, kc_rsam) ||
		    !RSA_set_ex_data(rsa, kc_rsa_idx, tag) ||
		    !EVP_PKEY_assign_RSA(pk, rsa))
			goto fail;
	} else
		goto fail;
	OPENSSL_free(spki);
	return pk;
fail:
	if (pk != NULL && EVP_PKEY_get0(pk) == NULL) {
		EC_KEY_free(ec);
		RSA_free(rsa);
	}
	EVP_PKEY_free(pk);
	OPENSSL_free(spki);
	return NULL;
}

static char *
kc_str(const unsigned char *p, size_t len)
{
	char *s;

	if (len == 0 || len > KEYS_MAX_PATH || memchr(p, '\0', len) != NULL ||
	    (s = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

static int
kc_entry(struct keyring *kr, const unsigned char *buf, size_t n, char *err,
    size_t errsz)
{
	struct keys_cert h;
	struct kentry *k;
	const unsigned char *p, *end;
	X509 *x;

	memcpy(&h, buf, sizeof(h));
	if (h.id != (uint32_t)kr->n || kr->n == KEYS_MAX ||
	    h.certlen > KEYS_MAX_PATH || h.keylen > KEYS_MAX_PATH ||
	    h.derlen > KEYS_MAX_CHAIN ||
	    sizeof(h) + h.certlen + h.keylen + h.derlen != n)
		return kerr(err, errsz, "malformed certificate message");
	k = &kr->e[kr->n++];
	p = buf + sizeof(h);
	k->cert_file = kc_str(p, h.certlen);
	k->key_file = kc_str(p + h.certlen, h.keylen);
	if (k->cert_file == NULL || k->key_file == NULL)
		return kerr(err, errsz, "malformed certificate message");
	p += h.certlen + h.keylen;
	end = p + h.derlen;
	while (p < end) {
		if ((x = d2i_X509(NULL, &p, (long)(end - p))) == NULL)
			return kerr(
			    err, errsz, "%s: bad certificate", k->cert_file);
		if (k->cred.cert == NULL) {
			k->cred.cert = x;
			continue;
		}
		if ((k->cred.chain == NULL &&
		        (k->cred.chain = sk_X509_new_null()) == NULL) ||
		    !sk_X509_push(k->cred.chain, x)) {
			X509_free(x);
			return kerr(err, errsz, "out of memory");
		}
	}
	if (k->cred.cert == NULL ||
	    (k->cred.key = kc_key(k->cred.cert, h.keytype, h.id)) == NULL) {
		ERR_clear_error();
		return kerr(err, errsz, "%s: cannot set up the delegated key",
		    k->cert_file);
	}
	return 0;
}

int
keyring_recv(
    struct keyring **out, int fd, int timeout_ms, char *err, size_t errsz)
{
	struct keys_cert_end end;
	struct keyring *kr;
	struct pollfd pfd;
	unsigned char *buf;
	uint64_t deadline = kc_now_ms() + (uint64_t)timeout_ms;
	uint32_t type;
	ssize_t n;
	int rv = -1;

	*out = NULL;
	if (kc_methods() == -1)
		return kerr(err, errsz, "cannot set up the key methods");
	if ((kr = calloc(1, sizeof(*kr))) == NULL ||
	    (buf = malloc(KEYS_MAX_CERTMSG + 1)) == NULL) {
		free(kr);
		return kerr(err, errsz, "out of memory");
	}
	for (;;) {
		uint64_t now = kc_now_ms();

		if (now >= deadline) {
			kerr(err, errsz, "no certificates from the parent");
			break;
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)(deadline - now)) == -1 &&
		    errno != EINTR) {
			kerr(err, errsz, "poll: %s", strerror(errno));
			break;
		}
		n = recv(fd, buf, KEYS_MAX_CERTMSG + 1, MSG_DONTWAIT);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			kerr(err, errsz, "channel to the parent: %s",
			    n == 0 ? "closed" : strerror(errno));
			break;
		}
		if ((size_t)n < sizeof(type) || n > KEYS_MAX_CERTMSG) {
			kerr(err, errsz, "malformed message from the parent");
			break;
		}
		memcpy(&type, buf, sizeof(type));
		if (type == CTL_CERT && (size_t)n >= sizeof(struct keys_cert)) {
			if (kc_entry(kr, buf, (size_t)n, err, errsz) == -1)
				break;
			continue;
		}
		if (type == CTL_CERT_END && n == (ssize_t)sizeof(end)) {
			memcpy(&end, buf, sizeof(end));
			if (end.nkeys != (uint32_t)kr->n) {
				kerr(err, errsz,
				    "%u certificates announced, "
				    "%d received",
				    end.nkeys, kr->n);
				break;
			}
			rv = 0;
			break;
		}
		if (type == CTL_DRAIN && n == (ssize_t)sizeof(type)) {
			kc_stop = 1;
			continue;
		}
		kerr(err, errsz, "unexpected message from the parent");
		break;
	}
	free(buf);
	if (rv == -1) {
		keyring_free(kr);
		return -1;
	}
	kc_fd = fd;
	*out = kr;
	return 0;
}

void
keyring_free(struct keyring *kr)
{
	int i;

	if (kr == NULL)
		return;
	for (i = 0; i < kr->n; i++) {
		free(kr->e[i].cert_file);
		free(kr->e[i].key_file);
		X509_free(kr->e[i].cred.cert);
		sk_X509_pop_free(kr->e[i].cred.chain, X509_free);
		EVP_PKEY_free(kr->e[i].cred.key);
	}
	free(kr);
}

const struct client_cred *
keyring_find(
    const struct keyring *kr, const char *cert_file, const char *key_file)
{
	int i;

	if (kr == NULL || cert_file == NULL || key_file == NULL)
		return NULL;
	for (i = 0; i < kr->n; i++)
		if (strcmp(kr->e[i].cert_file, cert_file) == 0 &&
		    strcmp(kr->e[i].key_file, key_file) == 0)
			return &kr->e[i].cred;
	return NULL;
}
