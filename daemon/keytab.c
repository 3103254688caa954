/* SPDX-License-Identifier: ISC */
/*
 * The parent's key table (keytab.h): loads the client keys, sends the
 * certificates to each new engine and signs for the engines.
 *
 * OPENSSL_SUPPRESS_DEPRECATED: RSA_private_encrypt, deprecated in OpenSSL
 * 3 but supported for the whole 3.x series, is the raw RSA operation of a
 * PSS signature whose encoding this file has checked (keyring.c says why
 * the engine side needs the legacy methods too).
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
#include "keytab.h"

#define KEYS_MAX_CERTS 16           /* certificates in one chain file */
#define KEYS_MAX_FILE (1024 * 1024) /* bytes of a PEM file */

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
