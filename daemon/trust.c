/* SPDX-License-Identifier: ISC */
/*
 * Trust data (trust.h): the parent reads the trust store and the CRL files
 * into one buffer of DER objects, the engines decode that buffer.
 *
 * The buffer, in host byte order (it never leaves the machine):
 *	"CPTRUST1"  u32 count
 *	count x  { u32 kind, u32 group, u32 len, len bytes }
 * kind 1: a trust anchor (d2i_X509_AUX, so trust settings of a "TRUSTED
 * CERTIFICATE" survive), kind 2: a CRL of group, kind 3: the path of
 * group (a crl-file), which comes before its CRLs.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "conf.h"
#include "log.h"
#include "tls.h"
#include "trust.h"

#define TRUST_MAGIC "CPTRUST1"
#define TRUST_HDR 12
#define TRUST_REC 12
enum { TK_ANCHOR = 1, TK_CRL, TK_PATH };

struct crlgroup {
	char *path;
	STACK_OF(X509_CRL) *crls;
};

struct trust {
	/* parent: the encoded buffer */
	unsigned char *buf;
	size_t len, cap;
	uint32_t count;
	size_t nanchors, ncrls;
	/* engine: the decoded data */
	X509_STORE *store;
	struct crlgroup *groups;
	size_t ngroups;
};

/* Describe the oldest queued OpenSSL error, then clear the queue. */
static const char *
ossl_reason(char *buf, size_t sz)
{
	unsigned long e = ERR_peek_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	if (e != 0 && r == NULL) {
		ERR_error_string_n(e, buf, sz);
		r = buf;
	}
	ERR_clear_error();
	return r != NULL ? r : "not recognised";
}

/* ---- parent: reading ---- */

/* A regular file of at most TRUST_MAX_FILE bytes, read whole. */
static int
read_file(const char *path, unsigned char **out, size_t *outlen, char *err,
    size_t errsz)
{
	struct stat sb;
	unsigned char *buf;
	size_t off = 0;
	ssize_t n;
	int fd;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		snprintf(err, errsz, "%s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1) {
		snprintf(err, errsz, "%s", strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size > TRUST_MAX_FILE) {
		snprintf(err, errsz, "%s",
		    !S_ISREG(sb.st_mode) ? "not a regular file"
		                         : "larger than the limit of 16 MiB");
		close(fd);
		return -1;
	}
	if ((buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		snprintf(err, errsz, "out of memory");
		close(fd);
		return -1;
	}
	/* The size may change under us: never read past the bound. */
	while (off < (size_t)sb.st_size) {
		n = read(fd, buf + off, (size_t)sb.st_size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	*out = buf;
	*outlen = off;
	return 0;
}

static int
trust_put(
    struct trust *t, uint32_t kind, uint32_t group, const void *p, size_t len)
{
	size_t need = TRUST_REC + len, cap;
	uint32_t h[3] = {kind, group, (uint32_t)len};
	unsigned char *nb;

	if (t->count >= TRUST_MAX_OBJECTS || len > TRUST_MAX_FILE ||
	    t->len + need > TRUST_MAX_TOTAL) {
		errno = EFBIG;
		return -1;
	}
	if (t->len + need > t->cap) {
		cap = t->cap ? t->cap : 64 * 1024;
		while (cap < t->len + need)
			cap *= 2;
		if ((nb = realloc(t->buf, cap)) == NULL)
			return -1;
		t->buf = nb;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, h, sizeof(h));
	if (len > 0)
		memcpy(t->buf + t->len + TRUST_REC, p, len);
	t->len += need;
	t->count++;
	return 0;
}

/* Every certificate of a PEM file into st.  The number added, or -1. */
static int
pem_certs(X509_STORE *st, const unsigned char *data, size_t len, char *err,
    size_t errsz)
{
	STACK_OF(X509_INFO) *inf;
	BIO *bio;
	char rb[256];
	int i, n = 0;

	if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	inf = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (inf == NULL) {
		snprintf(err, errsz, "%s", ossl_reason(rb, sizeof(rb)));
		return -1;
	}
	for (i = 0; i < sk_X509_INFO_num(inf); i++) {
		X509_INFO *xi = sk_X509_INFO_value(inf, i);

		if (xi->x509 == NULL)
			continue;
		if (!X509_STORE_add_cert(st, xi->x509)) {
			snprintf(err, errsz, "certificate %d: %s", n + 1,
			    ossl_reason(rb, sizeof(rb)));
			sk_X509_INFO_pop_free(inf, X509_INFO_free);
			return -1;
		}
		n++;
	}
	sk_X509_INFO_pop_free(inf, X509_INFO_free);
	ERR_clear_error();
	return n;
}

/* "file:line: " of a keyword, or nothing for a default. */
static const char *
conf_where(const struct cpconf *cf, int line, char *buf, size_t bufsz)
{
	if (line <= 0)
		return "";
	snprintf(buf, bufsz, "%s:%d: ", cf->file, line);
	return buf;
}

static int
load_ca_file(X509_STORE *st, const char *path, const char *where, char *err,
    size_t errsz)
{
	unsigned char *data;
	size_t len;
	char why[256];
	int n;

	if (read_file(path, &data, &len, why, sizeof(why)) == -1) {
		snprintf(err, errsz, "%sca-file %s: %s", where, path, why);
		return -1;
	}
	n = pem_certs(st, data, len, why, sizeof(why));
	free(data);
	if (n <= 0) {
		snprintf(err, errsz, "%sca-file %s: cannot load: %s", where,
		    path, n == 0 ? "no certificate found" : why);
		return -1;
	}
	return 0;
}

/* Every PEM file of a directory; files that are not, or too large, are
 * passed over, as a directory of links and bundles has such. */
static int
load_ca_dir(
    X509_STORE *st, const char *dir, const char *where, char *err, size_t errsz)
{
	char path[PATH_MAX], why[256];
	struct dirent *de;
	unsigned char *data;
	size_t len;
	DIR *d;
	int files = 0, count = 0, n;

	if ((d = opendir(dir)) == NULL) {
		snprintf(err, errsz, "%sca-path %s: %s", where, dir,
		    strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (++files > TRUST_DIR_MAX_FILES) {
			snprintf(err, errsz, "%sca-path %s: more than %d files",
			    where, dir, TRUST_DIR_MAX_FILES);
			closedir(d);
			return -1;
		}
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		        de->d_name) >= sizeof(path) ||
		    read_file(path, &data, &len, why, sizeof(why)) == -1)
			continue;
		n = pem_certs(st, data, len, why, sizeof(why));
		free(data);
		if (n > 0)
			count += n;
	}
	closedir(d);
	if (count == 0) {
		snprintf(err, errsz, "%sca-path %s: no certificate found",
		    where, dir);
		return -1;
	}
	return 0;
}

/* The anchors of st into t, each once. */
static int
put_anchors(struct trust *t, X509_STORE *st, char *err, size_t errsz)
{
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(st);
	unsigned char *der;
	int i, len;

	for (i = 0; i < sk_X509_OBJECT_num(objs); i++) {
		X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));

		if (x == NULL)
			continue;
		der = NULL;
		if ((len = i2d_X509_AUX(x, &der)) <= 0) {
			snprintf(err, errsz, "cannot encode a trust anchor");
			return -1;
		}
		if (trust_put(t, TK_ANCHOR, 0, der, (size_t)len) == -1) {
			OPENSSL_free(der);
			snprintf(err, errsz, "trust store: %s",
			    errno == EFBIG ? "too large" : "out of memory");
			return -1;
		}
		OPENSSL_free(der);
		t->nanchors++;
	}
	return 0;
}

static int
load_store(struct trust *t, const struct cpconf *cf, char *err, size_t errsz)
{
	const char *file = cf->g.ca_file;
	char fw[PATH_MAX + 16], pw[PATH_MAX + 16];
	X509_STORE *st;
	int rv = -1;

	if ((st = X509_STORE_new()) == NULL) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	if (file == NULL && cf->g.ca_path == NULL)
		file = TLS_DEFAULT_CA_FILE;
	if ((file == NULL ||
	        load_ca_file(st, file,
	            conf_where(cf, cf->g.ca_file_line, fw, sizeof(fw)), err,
	            errsz) == 0) &&
	    (cf->g.ca_path == NULL ||
	        load_ca_dir(st, cf->g.ca_path,
	            conf_where(cf, cf->g.ca_path_line, pw, sizeof(pw)), err,
	            errsz) == 0))
		rv = put_anchors(t, st, err, errsz);
	X509_STORE_free(st);
	return rv;
}

/* A CRL whose next update has passed makes every certificate it covers
 * fail (X509_V_ERR_CRL_HAS_EXPIRED): worth a line in the log. */
static void
crl_warn(const char *where, const char *path, X509_CRL *crl)
{
	const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
	char iss[256];

	if (next == NULL || X509_cmp_current_time(next) > 0)
		return;
	X509_NAME_oneline(X509_CRL_get_issuer(crl), iss, sizeof(iss));
	log_warnx("%s: crl-file %s: the CRL of %s is past its next update: "
	          "the certificates it covers fail until it is replaced",
	    where, path, iss);
}

static int
put_crl(struct trust *t, uint32_t group, X509_CRL *crl)
{
	unsigned char *der = NULL;
	int len, rv;

	if ((len = i2d_X509_CRL(crl, &der)) <= 0)
		return -1;
	rv = trust_put(t, TK_CRL, group, der, (size_t)len);
	OPENSSL_free(der);
	if (rv == 0)
		t->ncrls++;
	return rv;
}

/* PEM ("X509 CRL" blocks, anything else between them ignored) or one
 * DER CRL.  The number of CRLs, or -1 with why set. */
static int
parse_crls(struct trust *t, uint32_t group, const unsigned char *data,
    size_t len, const char *where, const char *path, char *why, size_t whysz)
{
	const unsigned char *p = data;
	char rb[256];
	X509_CRL *crl;
	BIO *bio;
	int n = 0;

	if (len >= 11 && memmem(data, len, "-----BEGIN ", 11) != NULL) {
		if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL)
			return snprintf(why, whysz, "out of memory"), -1;
		while ((crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) !=
		       NULL) {
			crl_warn(where, path, crl);
			if (put_crl(t, group, crl) == -1) {
				X509_CRL_free(crl);
				BIO_free(bio);
				return snprintf(why, whysz, "too large"), -1;
			}
			X509_CRL_free(crl);
			n++;
		}
		/* The end of the data reads as "no start line"; anything
		 * else is a CRL that does not parse. */
		if (ERR_GET_REASON(ERR_peek_last_error()) !=
		    PEM_R_NO_START_LINE) {
			snprintf(why, whysz, "CRL %d: %s", n + 1,
			    ossl_reason(rb, sizeof(rb)));
			BIO_free(bio);
			return -1;
		}
		ERR_clear_error();
		BIO_free(bio);
		return n;
	}
	if ((crl = d2i_X509_CRL(NULL, &p, (long)len)) == NULL ||
	    p != data + len) {
		if (crl == NULL)
			snprintf(why, whysz, "not a PEM or DER CRL (%s)",
			    ossl_reason(rb, sizeof(rb)));
		else
			snprintf(why, whysz, "bytes after the DER CRL");
		X509_CRL_free(crl);
		return -1;
	}
	crl_warn(where, path, crl);
	n = put_crl(t, group, crl) == 0 ? 1 : -1;
	if (n == -1)
		snprintf(why, whysz, "too large");
	X509_CRL_free(crl);
	return n;
}

/* Paths of the crl-files already loaded: each once. */
static int
crl_seen(const struct trust *t, const char *path)
{
	size_t off = TRUST_HDR;
	uint32_t h[3];

	while (off < t->len) {
		memcpy(h, t->buf + off, sizeof(h));
		if (h[0] == TK_PATH && h[2] == strlen(path) &&
		    memcmp(t->buf + off + TRUST_REC, path, h[2]) == 0)
			return 1;
		off += TRUST_REC + h[2];
	}
	return 0;
}

static int
load_crl_file(struct trust *t, const struct cpconf *cf,
    const struct dest_tls *dt, uint32_t *group, char *err, size_t errsz)
{
	const char *path = dt->crl_file;
	char where[PATH_MAX + 16], why[512];
	unsigned char *data;
	size_t len;
	int n;

	if (path == NULL || crl_seen(t, path))
		return 0;
	snprintf(where, sizeof(where), "%s:%d",
	    dt->file != NULL ? dt->file : cf->file, dt->crl_line);
	if (trust_put(t, TK_PATH, *group, path, strlen(path)) == -1) {
		snprintf(err, errsz, "%s: crl-file %s: too many", where, path);
		return -1;
	}
	if (read_file(path, &data, &len, why, sizeof(why)) == -1)
		n = -1;
	else {
		n = parse_crls(
		    t, *group, data, len, where, path, why, sizeof(why));
		free(data);
	}
	if (n == 0)
		snprintf(why, sizeof(why), "no CRL found");
	if (n <= 0) {
		snprintf(err, errsz, "%s: crl-file %s: %s", where, path, why);
		return -1;
	}
	(*group)++;
	return 0;
}

int
trust_load(struct trust **out, const struct cpconf *cf, char *err, size_t errsz)
{
	struct trust *t;
	uint32_t group = 0;
	size_t i;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->buf = malloc(TRUST_HDR)) == NULL) {
		free(t);
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	t->len = t->cap = TRUST_HDR;
	if (load_store(t, cf, err, errsz) == -1 ||
	    load_crl_file(t, cf, &cf->tls, &group, err, errsz) == -1)
		goto fail;
	for (i = 0; i < cf->ndests; i++)
		if (load_crl_file(
		        t, cf, &cf->dests[i].own, &group, err, errsz) == -1)
			goto fail;
	memcpy(t->buf, TRUST_MAGIC, 8);
	memcpy(t->buf + 8, &t->count, 4);
	*out = t;
	return 0;
fail:
	trust_free(t);
	return -1;
}

int
trust_memfd(const struct trust *t, char *err, size_t errsz)
{
	size_t off = 0;
	ssize_t n;
	int fd;

	if ((fd = memfd_create(
	         "cpconnectd.trust", MFD_CLOEXEC | MFD_ALLOW_SEALING)) == -1)
		goto fail;
	while (off < t->len) {
		n = write(fd, t->buf + off, t->len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	if (fcntl(fd, F_ADD_SEALS,
	        F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) == -1)
		goto fail;
	return fd;
fail:
	snprintf(err, errsz, "trust data snapshot: %s", strerror(errno));
	if (fd != -1)
		close(fd);
	return -1;
}

size_t
trust_nanchors(const struct trust *t)
{
	return t->nanchors;
}

size_t
trust_ncrls(const struct trust *t)
{
	return t->ncrls;
}

/* ---- engine: decoding ---- */

static int
dec_anchor(struct trust *t, const unsigned char *p, size_t len)
{
	const unsigned char *q = p;
	X509 *x = d2i_X509_AUX(NULL, &q, (long)len);
	int ok = x != NULL && q == p + len && X509_STORE_add_cert(t->store, x);

	X509_free(x);
	t->nanchors += ok;
	return ok ? 0 : -1;
}

static int
dec_path(struct trust *t, uint32_t group, const unsigned char *p, size_t len)
{
	struct crlgroup *g;

	if (group != t->ngroups || len == 0 || len >= PATH_MAX ||
	    memchr(p, '\0', len) != NULL)
		return -1;
	if ((g = reallocarray(t->groups, t->ngroups + 1, sizeof(*g))) == NULL)
		return -1;
	t->groups = g;
	g = &t->groups[t->ngroups];
	if ((g->path = strndup((const char *)p, len)) == NULL)
		return -1;
	if ((g->crls = sk_X509_CRL_new_null()) == NULL) {
		free(g->path);
		return -1;
	}
	t->ngroups++;
	return 0;
}

static int
dec_crl(struct trust *t, uint32_t group, const unsigned char *p, size_t len)
{
	const unsigned char *q = p;
	X509_CRL *crl;

	if (group >= t->ngroups)
		return -1;
	if ((crl = d2i_X509_CRL(NULL, &q, (long)len)) == NULL || q != p + len ||
	    !sk_X509_CRL_push(t->groups[group].crls, crl)) {
		X509_CRL_free(crl);
		return -1;
	}
	t->ncrls++;
	return 0;
}

static int
trust_decode(struct trust *t, const unsigned char *b, size_t len)
{
	uint32_t count, h[3], i;
	size_t off = TRUST_HDR;
	int r;

	if (len < TRUST_HDR || memcmp(b, TRUST_MAGIC, 8) != 0)
		return -1;
	memcpy(&count, b + 8, 4);
	if (count > TRUST_MAX_OBJECTS)
		return -1;
	for (i = 0; i < count; i++) {
		if (len - off < TRUST_REC)
			return -1;
		memcpy(h, b + off, sizeof(h));
		off += TRUST_REC;
		if (h[2] > len - off)
			return -1;
		if (h[0] == TK_ANCHOR)
			r = dec_anchor(t, b + off, h[2]);
		else if (h[0] == TK_PATH)
			r = dec_path(t, h[1], b + off, h[2]);
		else if (h[0] == TK_CRL)
			r = dec_crl(t, h[1], b + off, h[2]);
		else
			r = -1;
		if (r == -1)
			return -1;
		off += h[2];
	}
	return off == len ? 0 : -1;
}

int
trust_recv(struct trust **out, int fd, char *err, size_t errsz)
{
	struct trust *t;
	struct stat sb;
	unsigned char *b;
	ssize_t n;

	*out = NULL;
	if (fstat(fd, &sb) == -1 || sb.st_size < TRUST_HDR ||
	    sb.st_size > TRUST_MAX_TOTAL + TRUST_HDR) {
		snprintf(err, errsz, "trust data from the parent: %s",
		    errno ? strerror(errno) : "bad size");
		return -1;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return snprintf(err, errsz, "out of memory"), -1;
	if ((b = malloc((size_t)sb.st_size)) == NULL ||
	    (t->store = X509_STORE_new()) == NULL) {
		free(b);
		trust_free(t);
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	n = pread(fd, b, (size_t)sb.st_size, 0);
	if (n != sb.st_size || trust_decode(t, b, (size_t)n) == -1) {
		ERR_clear_error();
		free(b);
		trust_free(t);
		snprintf(err, errsz, "trust data from the parent: malformed");
		return -1;
	}
	free(b);
	*out = t;
	return 0;
}

X509_STORE *
trust_store(const struct trust *t)
{
	return t != NULL ? t->store : NULL;
}

STACK_OF(X509_CRL) *
trust_crls(const struct trust *t, const char *path)
{
	size_t i;

	for (i = 0; t != NULL && path != NULL && i < t->ngroups; i++)
		if (strcmp(t->groups[i].path, path) == 0)
			return t->groups[i].crls;
	return NULL;
}

void
trust_crl_digest(const struct trust *t, EVP_MD_CTX *md)
{
	unsigned char fp[EVP_MAX_MD_SIZE];
	unsigned int n;
	size_t i;
	int j;

	for (i = 0; t != NULL && i < t->ngroups; i++) {
		EVP_DigestUpdate(md, t->groups[i].path,
		    strlen(t->groups[i].path) + 1);
		for (j = 0; j < sk_X509_CRL_num(t->groups[i].crls); j++)
			if (X509_CRL_digest(sk_X509_CRL_value(t->groups[i].crls,
			                        j),
			        EVP_sha256(), fp, &n))
				EVP_DigestUpdate(md, fp, n);
	}
}

void
trust_free(struct trust *t)
{
	size_t i;

	if (t == NULL)
		return;
	free(t->buf);
	X509_STORE_free(t->store);
	for (i = 0; i < t->ngroups; i++) {
		free(t->groups[i].path);
		sk_X509_CRL_pop_free(t->groups[i].crls, X509_CRL_free);
	}
	free(t->groups);
	free(t);
}

/* ---- watching the files ---- */

struct fstate {
	char *path;
	int exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

struct fwatch {
	struct fstate *f;
	size_t n;
};

static void
fstate_take(struct fstate *s)
{
	struct stat sb;

	memset(&sb, 0, sizeof(sb));
	s->exists = stat(s->path, &sb) == 0;
	s->dev = sb.st_dev;
	s->ino = sb.st_ino;
	s->size = sb.st_size;
	s->mtime = sb.st_mtim;
	s->ctime = sb.st_ctim;
}

static int
fstate_same(const struct fstate *a, const struct fstate *b)
{
	return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino &&
	       a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->ctime.tv_sec == b->ctime.tv_sec &&
	       a->ctime.tv_nsec == b->ctime.tv_nsec;
}

static void
fwatch_add(struct fwatch *w, const char *path)
{
	struct fstate *f;
	size_t i;

	if (path == NULL || w->n >= TRUST_MAX_WATCH)
		return;
	for (i = 0; i < w->n; i++)
		if (strcmp(w->f[i].path, path) == 0)
			return;
	if ((f = reallocarray(w->f, w->n + 1, sizeof(*f))) == NULL)
		return;
	w->f = f;
	memset(&f[w->n], 0, sizeof(f[w->n]));
	if ((f[w->n].path = strdup(path)) == NULL)
		return;
	fstate_take(&f[w->n]);
	w->n++;
}

/* The directory itself (files come and go) and each file in it. */
static void
fwatch_dir(struct fwatch *w, const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	fwatch_add(w, dir);
	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL && w->n < TRUST_MAX_WATCH)
		if (de->d_name[0] != '.' &&
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		        de->d_name) < sizeof(path))
			fwatch_add(w, path);
	closedir(d);
}

static void
fwatch_tls(struct fwatch *w, const struct dest_tls *t)
{
	fwatch_add(w, t->crl_file);
	fwatch_add(w, t->cert_file);
	fwatch_add(w, t->key_file);
}

struct fwatch *
fwatch_conf(const struct cpconf *cf)
{
	struct fwatch *w;
	size_t i;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	if (cf->g.ca_file == NULL && cf->g.ca_path == NULL)
		fwatch_add(w, TLS_DEFAULT_CA_FILE);
	fwatch_add(w, cf->g.ca_file);
	if (cf->g.ca_path != NULL)
		fwatch_dir(w, cf->g.ca_path);
	fwatch_tls(w, &cf->tls);
	for (i = 0; i < cf->ndests; i++)
		fwatch_tls(w, &cf->dests[i].own);
	return w;
}

int
fwatch_changed(struct fwatch *w, char *which, size_t whichsz)
{
	struct fstate now;
	int changed = 0;
	size_t i;

	for (i = 0; w != NULL && i < w->n; i++) {
		now = w->f[i];
		fstate_take(&now);
		if (fstate_same(&now, &w->f[i]))
			continue;
		if (!changed)
			snprintf(which, whichsz, "%s", w->f[i].path);
		changed = 1;
		w->f[i] = now;
	}
	return changed;
}

void
fwatch_free(struct fwatch *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < w->n; i++)
		free(w->f[i].path);
	free(w->f);
	free(w);
}
