/* SPDX-License-Identifier: ISC */
/*
 * Client-certificate keys (see keys.h).
 *
 * OPENSSL_SUPPRESS_DEPRECATED: the engine side gives libssl an EVP_PKEY
 * whose private operation calls back into this file.  In OpenSSL 3.0 the
 * only ways to do that are a provider or a legacy EC_KEY / RSA with its
 * own EC_KEY_METHOD / RSA_METHOD, which are deprecated but supported for
 * the whole 3.x series; libssl then signs through the legacy EVP_PKEY
 * method (ECDSA_sign -> our sign, RSA_sign -> our sign for PKCS#1 v1.5,
 * RSA_private_encrypt(RSA_NO_PADDING) -> our priv_enc for PSS).  The
 * parent side also uses RSA_private_encrypt for the raw RSA operation of
 * a PSS signature whose encoding it has checked.
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

#include "conf.h"
#include "keys.h"

#define KEYS_MAX_CERTS 16           /* certificates in one chain file */
#define KEYS_MAX_FILE (1024 * 1024) /* bytes of a PEM file */
#define KEYS_MAX_PATH 4096

/* ---- parent ---- */

struct keyent {
	char *cert_file, *key_file;
	EVP_PKEY *key;
	int type;
	unsigned char *der;
	size_t derlen;
};

struct keytab {
	int refs;
	int n;
	struct keyent e[KEYS_MAX];
};

static uint64_t nsigned;

static int
kerr(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	return -1;
}

static const char *
ossl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	return r != NULL ? r : "unknown error";
}

static FILE *
open_pem(const char *path, const char *where, const char *what, char *err,
    size_t errsz)
{
	struct stat sb;
	FILE *fp;

	if ((fp = fopen(path, "re")) == NULL) {
		kerr(err, errsz, "%s: %s %s: %s", where, what, path,
		    strerror(errno));
		return NULL;
	}
	if (fstat(fileno(fp), &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    sb.st_size > KEYS_MAX_FILE) {
		kerr(err, errsz,
		    "%s: %s %s: not a regular file of at most %d "
		    "bytes",
		    where, what, path, KEYS_MAX_FILE);
		fclose(fp);
		return NULL;
	}
	return fp;
}

/* The chain file: leaf first, as DER back to back; *leaf up-ref'd. */
static int
load_chain(
    struct keyent *k, const char *where, X509 **leaf, char *err, size_t errsz)
{
	unsigned char *p;
	X509 *x;
	FILE *fp;
	int n = 0, len;

	*leaf = NULL;
	if ((fp = open_pem(k->cert_file, where, "certificate", err, errsz)) ==
	    NULL)
		return -1;
	if ((k->der = malloc(KEYS_MAX_CHAIN)) == NULL) {
		fclose(fp);
		return kerr(err, errsz, "%s: out of memory", where);
	}
	ERR_clear_error();
	while ((x = PEM_read_X509(fp, NULL, NULL, NULL)) != NULL) {
		len = i2d_X509(x, NULL);
		if (++n > KEYS_MAX_CERTS || len <= 0 ||
		    (size_t)len > KEYS_MAX_CHAIN - k->derlen) {
			X509_free(x);
			fclose(fp);
			return kerr(err, errsz,
			    "%s: certificate %s: chain "
			    "too large (at most %d certificates, %d bytes)",
			    where, k->cert_file, KEYS_MAX_CERTS,
			    KEYS_MAX_CHAIN);
		}
		p = k->der + k->derlen;
		k->derlen += (size_t)i2d_X509(x, &p);
		if (*leaf == NULL)
			*leaf = x;
		else
			X509_free(x);
	}
	fclose(fp);
	if (*leaf == NULL)
		return kerr(err, errsz,
		    "%s: certificate %s: no PEM "
		    "certificate found",
		    where, k->cert_file);
	ERR_clear_error(); /* the end of the file */
	return 0;
}

static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

static int
key_type_ok(struct keyent *k, const char *where, char *err, size_t errsz)
{
	char grp[64];
	int nid, bits = EVP_PKEY_get_bits(k->key);

	switch (EVP_PKEY_get_base_id(k->key)) {
	case EVP_PKEY_EC:
		if (!EVP_PKEY_get_group_name(k->key, grp, sizeof(grp), NULL))
			break;
		if ((nid = OBJ_txt2nid(grp)) == NID_undef)
			nid = EC_curve_nist2nid(grp);
		if (nid != NID_X9_62_prime256v1 && nid != NID_secp384r1)
			break;
		k->type = KEYS_EC;
		return 0;
	case EVP_PKEY_RSA:
		if (bits < 2048 || bits > 4096)
			break;
		k->type = KEYS_RSA;
		return 0;
	}
	return kerr(err, errsz,
	    "%s: key %s: unsupported key type (EC P-256 "
	    "or P-384, or RSA of 2048 to 4096 bits)",
	    where, k->key_file);
}

static int
load_key(
    struct keyent *k, const char *where, X509 *leaf, char *err, size_t errsz)
{
	FILE *fp;

	if ((fp = open_pem(k->key_file, where, "key", err, errsz)) == NULL)
		return -1;
	ERR_clear_error();
	k->key = PEM_read_PrivateKey(fp, NULL, no_passphrase, NULL);
	fclose(fp);
	if (k->key == NULL) {
		kerr(err, errsz,
		    "%s: key %s: cannot read an unencrypted PEM "
		    "private key: %s",
		    where, k->key_file, ossl_reason());
		ERR_clear_error();
		return -1;
	}
	if (key_type_ok(k, where, err, errsz) == -1)
		return -1;
	if (X509_check_private_key(leaf, k->key) != 1) {
		ERR_clear_error();
		return kerr(err, errsz,
		    "%s: key %s does not match certificate "
		    "%s",
		    where, k->key_file, k->cert_file);
	}
	return 0;
}

static int
keytab_add(struct keytab *t, const struct dest_tls *dt, const char *where,
    char *err, size_t errsz)
{
	struct keyent *k;
	X509 *leaf = NULL;
	int i, rv;

	if (dt->cert_file == NULL || dt->key_file == NULL)
		return 0;
	for (i = 0; i < t->n; i++)
		if (strcmp(t->e[i].cert_file, dt->cert_file) == 0 &&
		    strcmp(t->e[i].key_file, dt->key_file) == 0)
			return 0;
	if (t->n == KEYS_MAX)
		return kerr(err, errsz, "%s: more than %d client certificates",
		    where, KEYS_MAX);
	if (strlen(dt->cert_file) > KEYS_MAX_PATH ||
	    strlen(dt->key_file) > KEYS_MAX_PATH)
		return kerr(err, errsz,
		    "%s: client-certificate: path too "
		    "long",
		    where);
	k = &t->e[t->n++];
	if ((k->cert_file = strdup(dt->cert_file)) == NULL ||
	    (k->key_file = strdup(dt->key_file)) == NULL)
		return kerr(err, errsz, "%s: out of memory", where);
	rv = load_chain(k, where, &leaf, err, errsz);
	if (rv == 0)
		rv = load_key(k, where, leaf, err, errsz);
	X509_free(leaf);
	return rv;
}

int
keytab_load(
    struct keytab **out, const struct cpconf *cf, char *err, size_t errsz)
{
	struct keytab *t;
	char where[1100];
	size_t i;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return kerr(err, errsz, "out of memory");
	t->refs = 1;
	/* Errors name the line of the client-certificate keyword. */
	snprintf(where, sizeof(where), "%s:%d", cf->file, cf->tls.cert_line);
	if (keytab_add(t, &cf->tls, where, err, errsz) == -1)
		goto fail;
	for (i = 0; i < cf->ndests; i++) {
		snprintf(where, sizeof(where), "%s:%d", cf->dests[i].file,
		    cf->dests[i].own.cert_line);
		if (keytab_add(t, &cf->dests[i].own, where, err, errsz) == -1)
			goto fail;
	}
	if (t->n == 0) {
		keytab_free(t);
		return 0;
	}
	*out = t;
	return 0;
fail:
	keytab_free(t);
	return -1;
}

struct keytab *
keytab_ref(struct keytab *t)
{
	if (t != NULL)
		t->refs++;
	return t;
}

void
keytab_free(struct keytab *t)
{
	int i;

	if (t == NULL || --t->refs > 0)
		return;
	for (i = 0; i < t->n; i++) {
		free(t->e[i].cert_file);
		free(t->e[i].key_file);
		free(t->e[i].der);
		EVP_PKEY_free(t->e[i].key); /* clears the key material */
	}
	free(t);
}

int
keytab_count(const struct keytab *t)
{
	return t != NULL ? t->n : 0;
}

uint64_t
keys_signatures(void)
{
	return nsigned;
}

int
keytab_send(const struct keytab *t, int fd)
{
	struct keys_cert_end end;
	struct keys_cert h;
	unsigned char *buf;
	size_t len;
	int i;

	if ((buf = malloc(KEYS_MAX_CERTMSG)) == NULL)
		return -1;
	for (i = 0; i < keytab_count(t); i++) {
		const struct keyent *k = &t->e[i];

		memset(&h, 0, sizeof(h));
		h.type = CTL_CERT;
		h.id = (uint32_t)i;
		h.keytype = (uint32_t)k->type;
		h.certlen = (uint32_t)strlen(k->cert_file);
		h.keylen = (uint32_t)strlen(k->key_file);
		h.derlen = (uint32_t)k->derlen;
		len = 0;
		memcpy(buf, &h, sizeof(h));
		len += sizeof(h);
		memcpy(buf + len, k->cert_file, h.certlen);
		len += h.certlen;
		memcpy(buf + len, k->key_file, h.keylen);
		len += h.keylen;
		memcpy(buf + len, k->der, k->derlen);
		len += k->derlen;
		if (send(fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len) {
			free(buf);
			return -1;
		}
	}
	free(buf);
	end.type = CTL_CERT_END;
	end.nkeys = (uint32_t)keytab_count(t);
	if (send(fd, &end, sizeof(end), MSG_NOSIGNAL) != (ssize_t)sizeof(end))
		return -1;
	return 0;
}

static const EVP_MD *
md_by_hash(uint32_t h)
{
	switch (h) {
	case KEYS_SHA256:
		return EVP_sha256();
	case KEYS_SHA384:
		return EVP_sha384();
	case KEYS_SHA512:
		return EVP_sha512();
	}
	return NULL;
}

static const EVP_MD *
md_by_len(uint32_t len)
{
	switch (len) {
	case 32:
		return EVP_sha256();
	case 48:
		return EVP_sha384();
	case 64:
		return EVP_sha512();
	}
	return NULL;
}

/* Sign a digest of md's size with the key's own scheme (ECDSA, or RSA
 * PKCS#1 v1.5 with the DigestInfo built here). */
static int
sign_digest(EVP_PKEY *key, int rsa, const EVP_MD *md, const uint8_t *d,
    size_t dlen, struct keys_sign_rep *rep)
{
	EVP_PKEY_CTX *ctx;
	size_t siglen = sizeof(rep->sig);
	int ok;

	if (md == NULL || dlen != (size_t)EVP_MD_get_size(md))
		return EINVAL;
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL)) == NULL)
		return ENOMEM;
	ok = EVP_PKEY_sign_init(ctx) > 0 &&
	     (!rsa ||
	         EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0) &&
	     EVP_PKEY_CTX_set_signature_md(ctx, md) > 0 &&
	     EVP_PKEY_sign(ctx, rep->sig, &siglen, d, dlen) > 0;
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	if (!ok)
		return EIO;
	rep->len = (uint32_t)siglen;
	return 0;
}

static int
mgf1(uint8_t *mask, size_t len, const uint8_t *seed, size_t seedlen,
    const EVP_MD *md)
{
	unsigned char out[EVP_MAX_MD_SIZE], ctr[4];
	EVP_MD_CTX *ctx;
	size_t done = 0, n;
	uint32_t c;
	int ok = 1;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	for (c = 0; done < len && ok; c++) {
		ctr[0] = (unsigned char)(c >> 24);
		ctr[1] = (unsigned char)(c >> 16);
		ctr[2] = (unsigned char)(c >> 8);
		ctr[3] = (unsigned char)c;
		ok = EVP_DigestInit_ex(ctx, md, NULL) &&
		     EVP_DigestUpdate(ctx, seed, seedlen) &&
		     EVP_DigestUpdate(ctx, ctr, 4) &&
		     EVP_DigestFinal_ex(ctx, out, NULL);
		n = len - done < (size_t)EVP_MD_get_size(md)
		        ? len - done
		        : (size_t)EVP_MD_get_size(md);
		memcpy(mask + done, out, n);
		done += n;
	}
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

/*
 * em[0..len) (len = modulus bytes) is an EMSA-PSS encoding (RFC 8017
 * 9.1.1) for md with a salt as long as the hash: at least 2048 - 2 * 512
 * bits of it are fixed, so no ciphertext an attacker wants decrypted can
 * be blinded into this shape.
 */
static int
pss_shape_ok(const uint8_t *em, size_t len, int modbits, const EVP_MD *md)
{
	size_t hlen = (size_t)EVP_MD_get_size(md), emlen, dblen, i;
	int embits = modbits - 1, ok = 1;
	unsigned topmask;
	uint8_t db[KEYS_MAX_DATA];

	emlen = ((size_t)embits + 7) / 8;
	if (len == emlen + 1) {
		if (em[0] != 0)
			return 0;
		em++;
	} else if (len != emlen)
		return 0;
	if (emlen < 2 * hlen + 2 + 32 || em[emlen - 1] != 0xbc)
		return 0;
	topmask = 0xffu >> (8 * emlen - (size_t)embits);
	if ((em[0] & ~topmask) != 0)
		return 0;
	dblen = emlen - hlen - 1;
	if (mgf1(db, dblen, em + dblen, hlen, md) == -1)
		return 0;
	for (i = 0; i < dblen; i++)
		db[i] ^= em[i];
	db[0] &= (uint8_t)topmask;
	for (i = 0; i < dblen - hlen - 1; i++)
		if (db[i] != 0)
			ok = 0;
	if (db[dblen - hlen - 1] != 0x01)
		ok = 0;
	explicit_bzero(db, sizeof(db));
	return ok;
}

static int
sign_pss(
    EVP_PKEY *key, const uint8_t *em, size_t len, struct keys_sign_rep *rep)
{
	const EVP_MD *mds[] = {EVP_sha256(), EVP_sha384(), EVP_sha512()};
	int bits = EVP_PKEY_get_bits(key), i, n, shape = 0;
	RSA *rsa;

	if (len != (size_t)EVP_PKEY_get_size(key))
		return EINVAL;
	for (i = 0; i < 3 && !shape; i++)
		shape = pss_shape_ok(em, len, bits, mds[i]);
	if (!shape)
		return EINVAL;
	if ((rsa = (RSA *)EVP_PKEY_get0_RSA(key)) == NULL)
		return EIO;
	n = RSA_private_encrypt((int)len, em, rep->sig, rsa, RSA_NO_PADDING);
	ERR_clear_error();
	if (n <= 0)
		return EIO;
	rep->len = (uint32_t)n;
	return 0;
}

void
keytab_sign(
    struct keytab *t, const void *msg, size_t len, struct keys_sign_rep *rep)
{
	struct keys_sign_req rq;
	struct keyent *k;
	int st;

	memset(rep, 0, sizeof(*rep));
	rep->type = CTL_SIG;
	if (len != sizeof(rq)) {
		rep->status = EBADMSG;
		return;
	}
	memcpy(&rq, msg, sizeof(rq));
	rep->seq = rq.seq;
	if (rq.type != CTL_SIGN || rq.len > KEYS_MAX_DATA)
		st = EBADMSG;
	else if (t == NULL || rq.key >= (uint32_t)t->n)
		st = ENOENT;
	else {
		k = &t->e[rq.key];
		switch (rq.op) {
		case KEYS_OP_ECDSA:
			st = k->type != KEYS_EC
			         ? EINVAL
			         : sign_digest(k->key, 0, md_by_len(rq.len),
			               rq.data, rq.len, rep);
			break;
		case KEYS_OP_RSA_PKCS1:
			st = k->type != KEYS_RSA
			         ? EINVAL
			         : sign_digest(k->key, 1, md_by_hash(rq.hash),
			               rq.data, rq.len, rep);
			break;
		case KEYS_OP_RSA_PSS:
			st = k->type != KEYS_RSA
			         ? EINVAL
			         : sign_pss(k->key, rq.data, rq.len, rep);
			break;
		default:
			st = EINVAL;
		}
	}
	explicit_bzero(&rq, sizeof(rq));
	rep->status = st;
	if (st != 0) {
		explicit_bzero(rep->sig, sizeof(rep->sig));
		rep->len = 0;
	} else
		nsigned++;
}

/* ---- engine ---- */

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
 * One signature from the parent.  Synchronous: the engine loop waits here
 * (at most KEYS_SIGN_TIMEOUT_MS; the parent answers in well under a
 * millisecond).  Other messages that arrive meanwhile are a drain order
 * (remembered for the loop) or stale answers (dropped).
 */
static int
kc_call(struct keys_sign_req *rq, uint8_t *out, size_t outmax)
{
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
		n = recv(kc_fd, &rep, sizeof(rep), MSG_DONTWAIT);
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
		memcpy(&type, &rep, sizeof(type));
		if (type == CTL_DRAIN) {
			if (kc_stop == 0)
				kc_stop = 1;
			continue;
		}
		if (type != CTL_SIG || n != (ssize_t)sizeof(rep) ||
		    rep.seq != rq->seq)
			continue;
		if (rep.status == 0 && rep.len > 0 && rep.len <= outmax) {
			memcpy(out, rep.sig, rep.len);
			rv = (int)rep.len;
		}
		break;
	}
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
