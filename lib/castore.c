/* SPDX-License-Identifier: ISC */
/*
 * Client-supplied trust anchors: read CA_file / CA_path in the library so
 * the daemon never has to open a client's paths, and cache the result so a
 * program passing /etc/ssl/certs on every connect reads it once.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "castore.h"
#include "cpproto.h"

/* Certificates held before duplicates are squeezed out. */
#define CA_RAW_MAX (2 * CP_MAX_CA_CERTS)
/* Distinct (CA_file, CA_path) pairs remembered. */
#define CA_CACHE_MAX 16
#define CA_MAGIC 0x43415354U

struct ca_item {
	unsigned char digest[SHA256_DIGEST_LENGTH];
	unsigned char *der; /* malloc'd */
	size_t len;
};

struct ca_vec {
	struct ca_item *it;
	size_t n, cap;
};

/* What identifies a file's contents without reading it. */
struct ca_ident {
	int present;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim, ctim;
};

struct ca_load {
	struct ca_vec all;
	size_t total; /* bytes read from all files */
	struct ca_ident fid, did;
	EVP_MD *sha256; /* fetched once: not once per certificate */
	char *err;
	size_t errsz;
};

/* Reading outcomes of one file. */
enum { CA_OK = 1, CA_SKIP = 0, CA_FATAL = -1, CA_OPEN = -2, CA_BAD = -3 };

static void ca_err(struct ca_load *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
ca_err(struct ca_load *ld, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	if (ld->err != NULL && ld->errsz > 0) {
		va_start(ap, fmt);
		vsnprintf(ld->err, ld->errsz, fmt, ap);
		va_end(ap);
	}
	errno = saved;
}

static int
item_cmp(const void *a, const void *b)
{
	const struct ca_item *x = a, *y = b;

	return cp_ca_order(x->digest, x->der, x->len, y->digest, y->der,
	    y->len);
}

/* Sort by SHA-256 of the DER and drop exact duplicates. */
static void
vec_compact(struct ca_vec *v)
{
	size_t i, j;

	if (v->n < 2)
		return;
	qsort(v->it, v->n, sizeof(*v->it), item_cmp);
	for (i = 1, j = 1; i < v->n; i++) {
		if (item_cmp(&v->it[i], &v->it[j - 1]) == 0) {
			free(v->it[i].der);
			continue;
		}
		v->it[j++] = v->it[i];
	}
	v->n = j;
}

static void
vec_free(struct ca_vec *v)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		free(v->it[i].der);
	free(v->it);
	memset(v, 0, sizeof(*v));
}

/*
 * Append *item, taking its DER (freed on failure).  -1 with errno ENOMEM,
 * or E2BIG for more than CP_MAX_CA_CERTS distinct certificates.
 */
static int
vec_push(struct ca_vec *v, struct ca_item *item)
{
	struct ca_item *p;
	size_t ncap;

	if (v->n == CA_RAW_MAX) {
		vec_compact(v);
		if (v->n > CP_MAX_CA_CERTS) {
			free(item->der);
			errno = E2BIG;
			return -1;
		}
	}
	if (v->n == v->cap) {
		ncap = v->cap ? v->cap * 2 : 64;
		if (ncap > CA_RAW_MAX)
			ncap = CA_RAW_MAX;
		if ((p = reallocarray(v->it, ncap, sizeof(*p))) == NULL) {
			free(item->der);
			errno = ENOMEM;
			return -1;
		}
		v->it = p;
		v->cap = ncap;
	}
	v->it[v->n++] = *item;
	return 0;
}

static int
ca_push(struct ca_load *ld, struct ca_vec *v, struct ca_item *item,
    const char *where)
{
	if (vec_push(v, item) == 0)
		return 0;
	if (errno == E2BIG)
		ca_err(ld, "%s: more than %d distinct certificates", where,
		    CP_MAX_CA_CERTS);
	else
		ca_err(ld, "%s: out of memory", where);
	return -1;
}

/* One DER TLV at p[0..n): its tag in *tag, its whole size in *size.
 * Definite lengths of at most four bytes only, as certificates have. */
static int
der_tlv(const unsigned char *p, size_t n, unsigned *tag, size_t *size)
{
	size_t len = 0, hdr = 2, i, k;

	if (n < 2)
		return -1;
	*tag = p[0];
	if (p[1] < 0x80)
		len = p[1];
	else {
		k = p[1] & 0x7f;
		if (k == 0 || k > 4 || n < 2 + k)
			return -1;
		for (i = 0; i < k; i++)
			len = len << 8 | p[2 + i];
		hdr += k;
	}
	if (len > n - hdr)
		return -1;
	*size = hdr + len;
	return 0;
}

/*
 * The outer shape of a certificate, SEQUENCE { SEQUENCE, SEQUENCE,
 * BIT STRING }, at the start of data; its size, or 0.  The library does
 * not decode the certificate: the daemon does, when it takes the set, and
 * refuses one that is malformed.  A fresh process saves the decoding of
 * every anchor of its bundle (about 1.4 M instructions each).
 */
static size_t
cert_shape(const unsigned char *data, size_t dlen)
{
	static const unsigned want[3] = {0x30, 0x30, 0x03};
	size_t size, inner, off, n;
	unsigned tag;
	int i;

	if (der_tlv(data, dlen, &tag, &size) == -1 || tag != 0x30)
		return 0;
	off = data[1] < 0x80 ? 2 : 2 + (size_t)(data[1] & 0x7f);
	for (i = 0; i < 3; i++, off += inner)
		if (der_tlv(data + off, size - off, &tag, &inner) == -1 ||
		    tag != want[i])
			return 0;
	n = size;
	return off == n ? n : 0;
}

/* A malloc'd copy of the certificate's DER; TRUSTED CERTIFICATE loses its
 * trust settings (one SEQUENCE after the certificate), which the wire
 * protocol cannot carry. */
static unsigned char *
ca_der(const unsigned char *data, long dlen, int trusted, size_t *lenp)
{
	size_t len = cert_shape(data, (size_t)dlen), aux;
	unsigned char *out;
	unsigned tag;

	if (len == 0)
		return NULL;
	if (len != (size_t)dlen &&
	    (!trusted ||
	        der_tlv(data + len, (size_t)dlen - len, &tag, &aux) == -1 ||
	        tag != 0x30 || len + aux != (size_t)dlen))
		return NULL;
	if ((out = malloc(len)) != NULL)
		memcpy(out, data, len);
	*lenp = len;
	return out;
}

/* One PEM block: CA_OK added, CA_SKIP not a certificate, CA_BAD, CA_FATAL. */
static int
ca_block(struct ca_load *ld, struct ca_vec *v, const char *name,
    const unsigned char *data, long dlen, const char *where)
{
	struct ca_item item;
	int trusted;

	trusted = strcmp(name, PEM_STRING_X509_TRUSTED) == 0;
	if (!trusted && strcmp(name, PEM_STRING_X509) != 0 &&
	    strcmp(name, PEM_STRING_X509_OLD) != 0)
		return CA_SKIP;
	if (dlen <= 0) {
		ca_err(ld, "%s: empty certificate", where);
		return CA_BAD;
	}
	if (!trusted && dlen > CP_MAX_CERT) {
		ca_err(ld, "%s: certificate of %ld bytes (limit %d)", where,
		    dlen, CP_MAX_CERT);
		return CA_FATAL;
	}
	memset(&item, 0, sizeof(item));
	if ((item.der = ca_der(data, dlen, trusted, &item.len)) == NULL) {
		ca_err(ld, "%s: malformed certificate", where);
		return CA_BAD;
	}
	if (item.len > CP_MAX_CERT) {
		ca_err(ld, "%s: certificate of %zu bytes (limit %d)", where,
		    item.len, CP_MAX_CERT);
		free(item.der);
		return CA_FATAL;
	}
	if (!EVP_Digest(
	        item.der, item.len, item.digest, NULL, ld->sha256, NULL)) {
		ca_err(ld, "%s: cannot hash", where);
		free(item.der);
		return CA_FATAL;
	}
	return ca_push(ld, v, &item, where) == 0 ? CA_OK : CA_FATAL;
}

/* 1 and a block, 0 at the end of the data, -1 on malformed PEM. */
static int
ca_pem_next(
    BIO *bio, char **name, char **header, unsigned char **data, long *dlen)
{
	unsigned long e;

	ERR_set_mark();
	if (PEM_read_bio(bio, name, header, data, dlen)) {
		ERR_pop_to_mark();
		return 1;
	}
	e = ERR_peek_last_error();
	ERR_pop_to_mark();
	/* No further "-----BEGIN" line: the normal end. */
	if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
	    ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
		return 0;
	return -1;
}

/* Add every certificate of a PEM buffer to v: the count, CA_BAD, CA_FATAL. */
static int
ca_parse(struct ca_load *ld, struct ca_vec *v, const unsigned char *buf,
    size_t len, const char *where)
{
	char *name, *header;
	unsigned char *data;
	long dlen;
	int count = 0, r;
	BIO *bio;

	if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL) {
		ca_err(ld, "%s: out of memory", where);
		return CA_FATAL;
	}
	for (;;) {
		name = header = NULL;
		data = NULL;
		if ((r = ca_pem_next(bio, &name, &header, &data, &dlen)) <= 0) {
			if (r < 0) {
				ca_err(ld, "%s: malformed PEM data", where);
				count = CA_BAD;
			}
			break;
		}
		r = ca_block(ld, v, name, data, dlen, where);
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(data);
		if (r < 0) {
			count = r;
			break;
		}
		count += r;
	}
	BIO_free(bio);
	return count;
}

static int
ca_read_fd(struct ca_load *ld, int fd, off_t size, const char *where,
    unsigned char **bufp, size_t *lenp)
{
	size_t cap = (size_t)size + 1, len = 0;
	unsigned char *buf, *p;
	ssize_t r;

	if ((buf = malloc(cap)) == NULL)
		goto nomem;
	for (;;) {
		if (len == cap) {
			/* The file grew since fstat. */
			if (cap > CA_MAX_FILE)
				goto toobig;
			cap = cap * 2 > CA_MAX_FILE + 1 ? CA_MAX_FILE + 1
			                                : cap * 2;
			if ((p = realloc(buf, cap)) == NULL)
				goto nomem;
			buf = p;
		}
		if ((r = read(fd, buf + len, cap - len)) == -1) {
			if (errno == EINTR)
				continue;
			ca_err(ld, "%s: %s", where, strerror(errno));
			free(buf);
			return CA_FATAL;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	*bufp = buf;
	*lenp = len;
	return CA_OK;
nomem:
	free(buf);
	ca_err(ld, "%s: out of memory", where);
	return CA_FATAL;
toobig:
	free(buf);
	ca_err(ld, "%s: larger than %d MiB", where, CA_MAX_FILE >> 20);
	return CA_FATAL;
}

/*
 * Read a whole regular file relative to dfd.  CA_OK, CA_SKIP (not a regular
 * file), CA_OPEN (cannot open, errno kept) or CA_FATAL; message in err.
 */
static int
ca_read(struct ca_load *ld, int dfd, const char *name, const char *where,
    struct stat *st, unsigned char **bufp, size_t *lenp)
{
	int fd, rc;

	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		ca_err(ld, "%s: %s", where, strerror(errno));
		return CA_OPEN;
	}
	if (fstat(fd, st) == -1) {
		ca_err(ld, "%s: %s", where, strerror(errno));
		close(fd);
		return CA_FATAL;
	}
	if (!S_ISREG(st->st_mode)) {
		ca_err(ld, "%s: not a regular file", where);
		close(fd);
		return CA_SKIP;
	}
	if (st->st_size > CA_MAX_FILE) {
		ca_err(ld, "%s: larger than %d MiB", where, CA_MAX_FILE >> 20);
		close(fd);
		return CA_FATAL;
	}
	if (ld->total + (size_t)st->st_size > CA_MAX_TOTAL) {
		ca_err(ld, "%s: more than %d MiB of files in all", where,
		    CA_MAX_TOTAL >> 20);
		close(fd);
		return CA_FATAL;
	}
	rc = ca_read_fd(ld, fd, st->st_size, where, bufp, lenp);
	close(fd);
	if (rc == CA_OK && (ld->total += *lenp) > CA_MAX_TOTAL) {
		ca_err(ld, "%s: more than %d MiB of files in all", where,
		    CA_MAX_TOTAL >> 20);
		free(*bufp);
		return CA_FATAL;
	}
	return rc;
}

static void
ca_ident_set(struct ca_ident *id, const struct stat *st)
{
	memset(id, 0, sizeof(*id));
	id->present = 1;
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = st->st_size;
	id->mtim = st->st_mtim;
	id->ctim = st->st_ctim;
}

static int
ca_ident_eq(const struct ca_ident *a, const struct ca_ident *b)
{
	if (a->present != b->present)
		return 0;
	return !a->present ||
	       (a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	           a->mtim.tv_sec == b->mtim.tv_sec &&
	           a->mtim.tv_nsec == b->mtim.tv_nsec &&
	           a->ctim.tv_sec == b->ctim.tv_sec &&
	           a->ctim.tv_nsec == b->ctim.tv_nsec);
}

/* The named bundle: every failure is an error, and it must hold one. */
static int
ca_load_file(struct ca_load *ld, const char *path)
{
	char where[PATH_MAX + 16];
	unsigned char *buf;
	struct stat st;
	size_t len;
	int rc;

	snprintf(where, sizeof(where), "CA_file %s", path);
	rc = ca_read(ld, AT_FDCWD, path, where, &st, &buf, &len);
	if (rc != CA_OK)
		return -1;
	ca_ident_set(&ld->fid, &st);
	rc = ca_parse(ld, &ld->all, buf, len, where);
	free(buf);
	if (rc == 0)
		ca_err(ld, "%s: no certificate found", where);
	return rc > 0 ? 0 : -1;
}

static int
ca_merge(struct ca_load *ld, struct ca_vec *fv, const char *where)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < fv->n; i++) {
		if (rc == 0)
			rc = ca_push(ld, &ld->all, &fv->it[i], where);
		else
			free(fv->it[i].der);
	}
	fv->n = 0;
	vec_free(fv);
	return rc;
}

/*
 * One directory entry.  Files that are not certificates (or not readable,
 * or broken) are skipped as OpenSSL's CApath lookup would; limits are
 * errors.
 */
static int
ca_dir_entry(struct ca_load *ld, int dfd, const char *dir, const char *name)
{
	char where[PATH_MAX + NAME_MAX + 16];
	struct ca_vec fv = {NULL, 0, 0};
	unsigned char *buf;
	struct stat st;
	size_t len;
	int rc;

	snprintf(where, sizeof(where), "CA_path %s/%s", dir, name);
	rc = ca_read(ld, dfd, name, where, &st, &buf, &len);
	/* Dangling links and unreadable files are skipped, but running out
	 * of descriptors or memory would silently drop anchors. */
	if (rc == CA_OPEN &&
	    (errno == EMFILE || errno == ENFILE || errno == ENOMEM))
		return -1;
	if (rc == CA_OPEN)
		return 0;
	if (rc != CA_OK)
		return rc == CA_SKIP ? 0 : -1;
	rc = ca_parse(ld, &fv, buf, len, where);
	free(buf);
	if (rc < 0) {
		vec_free(&fv);
		return rc == CA_BAD ? 0 : -1;
	}
	return ca_merge(ld, &fv, where);
}

static int
ca_load_dir(struct ca_load *ld, const char *path)
{
	struct dirent *de;
	struct stat st;
	size_t count = 0;
	int fd, rc = 0;
	DIR *d;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		ca_err(ld, "CA_path %s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	ca_ident_set(&ld->did, &st);
	if ((d = fdopendir(fd)) == NULL) {
		ca_err(ld, "CA_path %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	while (rc == 0) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno != 0) {
				ca_err(ld, "CA_path %s: %s", path,
				    strerror(errno));
				rc = -1;
			}
			break;
		}
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (++count > CA_MAX_DIRENT) {
			ca_err(ld, "CA_path %s: more than %d entries", path,
			    CA_MAX_DIRENT);
			rc = -1;
		} else if (de->d_type != DT_DIR)
			rc = ca_dir_entry(ld, dirfd(d), path, de->d_name);
	}
	closedir(d);
	return rc;
}

/* Move the loaded certificates into set, in hash order, and hash them. */
static int
ca_finish(struct ca_load *ld, struct ca_set *set, const char *ca_path)
{
	struct ca_vec *v = &ld->all;
	unsigned char(*dg)[CP_CA_HASH_LEN];
	size_t i;
	int rc;

	vec_compact(v);
	if (v->n > CP_MAX_CA_CERTS) {
		ca_err(ld, "more than %d distinct CA certificates",
		    CP_MAX_CA_CERTS);
		return -1;
	}
	if (v->n == 0) {
		ca_err(ld, "CA_path %s: no certificate found", ca_path);
		return -1;
	}
	set->der = calloc(v->n, sizeof(*set->der));
	set->len = calloc(v->n, sizeof(*set->len));
	if (set->der == NULL || set->len == NULL) {
		ca_set_free(set);
		ca_err(ld, "CA certificates: out of memory");
		return -1;
	}
	for (i = 0; i < v->n; i++) {
		set->der[i] = v->it[i].der;
		set->len[i] = v->it[i].len;
		v->it[i].der = NULL;
	}
	set->n = v->n;
	/* Sorted and hashed already: the set hash needs one pass more. */
	if ((dg = calloc(v->n, sizeof(*dg))) == NULL) {
		ca_set_free(set);
		ca_err(ld, "CA certificates: out of memory");
		return -1;
	}
	for (i = 0; i < v->n; i++)
		memcpy(dg[i], v->it[i].digest, CP_CA_HASH_LEN);
	rc = cp_ca_set_hash_sorted((const unsigned char *const *)set->der,
	    set->len, (const unsigned char(*)[CP_CA_HASH_LEN])dg, set->n,
	    set->hash);
	free(dg);
	if (rc == -1) {
		ca_err(ld, "CA certificates: cannot hash: %s", strerror(errno));
		ca_set_free(set);
		return -1;
	}
	return 0;
}

static int
ca_load(struct ca_set *set, const char *ca_file, const char *ca_path,
    struct ca_load *ld)
{
	int rc = 0;

	memset(set, 0, sizeof(*set));
	if (ld->err != NULL && ld->errsz > 0)
		ld->err[0] = '\0';
	if (ca_file == NULL && ca_path == NULL) {
		ca_err(ld, "neither CA_file nor CA_path given");
		return -1;
	}
	ERR_set_mark();
	if ((ld->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL) {
		ERR_pop_to_mark();
		ca_err(ld, "SHA-256 not available");
		return -1;
	}
	if (ca_file != NULL)
		rc = ca_load_file(ld, ca_file);
	if (rc == 0 && ca_path != NULL)
		rc = ca_load_dir(ld, ca_path);
	if (rc == 0)
		rc = ca_finish(ld, set, ca_path);
	ERR_pop_to_mark();
	EVP_MD_free(ld->sha256);
	ld->sha256 = NULL;
	vec_free(&ld->all);
	/* Skipped directory entries may have left a message behind. */
	if (rc == 0 && ld->err != NULL && ld->errsz > 0)
		ld->err[0] = '\0';
	return rc;
}

#ifdef CP_TEST_HOOKS
int
ca_set_load(struct ca_set *set, const char *ca_file, const char *ca_path,
    char *err, size_t errsz)
{
	struct ca_load ld;

	memset(&ld, 0, sizeof(ld));
	ld.err = err;
	ld.errsz = errsz;
	return ca_load(set, ca_file, ca_path, &ld);
}
#endif

void
ca_set_free(struct ca_set *set)
{
	size_t i;

	if (set == NULL)
		return;
	if (set->der != NULL)
		for (i = 0; i < set->n; i++)
			free(set->der[i]);
	free(set->der);
	free(set->len);
	memset(set, 0, sizeof(*set));
}

/*
 * The cache.  An entry holds one reference for being in the list and one
 * per ca_set_get caller; the last ca_set_put or eviction frees it.
 */
struct ca_entry {
	struct ca_set set; /* first: ca_set_put converts back */
	uint32_t magic;
	unsigned refs;
	char *file, *path;
	struct ca_ident fid, did;
	struct ca_entry *next;
};

static pthread_mutex_t ca_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ca_entry *ca_cache;

static void
ca_entry_free(struct ca_entry *e)
{
	ca_set_free(&e->set);
	free(e->file);
	free(e->path);
	e->magic = 0;
	free(e);
}

static int
ca_streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static int
ca_key_eq(const struct ca_entry *e, const char *file, const char *path)
{
	return ca_streq(e->file, file) && ca_streq(e->path, path);
}

/* Current identity of a path; -1 with a message if it cannot be stat'ed. */
static int
ca_stat(const char *what, const char *path, struct ca_ident *id, char *err,
    size_t errsz)
{
	struct stat st;

	memset(id, 0, sizeof(*id));
	if (path == NULL)
		return 0;
	if (stat(path, &st) == -1) {
		if (err != NULL && errsz > 0)
			snprintf(err, errsz, "%s %s: %s", what, path,
			    strerror(errno));
		return -1;
	}
	ca_ident_set(id, &st);
	return 0;
}

/* Unlink *pp from the list, dropping the list's reference; the entry is
 * returned if nobody else holds it, for freeing outside the lock. */
static struct ca_entry *
ca_unlink(struct ca_entry **pp)
{
	struct ca_entry *e = *pp;

	*pp = e->next;
	e->next = NULL;
	return --e->refs == 0 ? e : NULL;
}

/* A valid cached entry for the key, referenced, moved to the front. */
static struct ca_entry *
ca_lookup(const char *file, const char *path, const struct ca_ident *fid,
    const struct ca_ident *did)
{
	struct ca_entry **pp, *e;

	for (pp = &ca_cache; (e = *pp) != NULL; pp = &e->next) {
		if (!ca_key_eq(e, file, path))
			continue;
		if (!ca_ident_eq(&e->fid, fid) || !ca_ident_eq(&e->did, did))
			return NULL;
		*pp = e->next;
		e->next = ca_cache;
		ca_cache = e;
		e->refs++;
		return e;
	}
	return NULL;
}

/*
 * Insert a freshly loaded entry, replacing any older one of the same key
 * and evicting beyond CA_CACHE_MAX.  Entries to free are chained on *dead.
 */
static void
ca_insert(struct ca_entry *ne, struct ca_entry **dead)
{
	struct ca_entry **pp, *e;
	unsigned count = 1;

	for (pp = &ca_cache; (e = *pp) != NULL;) {
		if (ca_key_eq(e, ne->file, ne->path) || count >= CA_CACHE_MAX) {
			if ((e = ca_unlink(pp)) != NULL) {
				e->next = *dead;
				*dead = e;
			}
			continue;
		}
		count++;
		pp = &e->next;
	}
	ne->next = ca_cache;
	ca_cache = ne;
}

static void
ca_free_chain(struct ca_entry *e)
{
	struct ca_entry *next;

	for (; e != NULL; e = next) {
		next = e->next;
		ca_entry_free(e);
	}
}

static struct ca_entry *
ca_entry_load(const char *file, const char *path, char *err, size_t errsz)
{
	struct ca_load ld;
	struct ca_entry *e;

	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (file != NULL && (e->file = strdup(file)) == NULL) ||
	    (path != NULL && (e->path = strdup(path)) == NULL)) {
		if (err != NULL && errsz > 0)
			snprintf(err, errsz, "CA certificates: out of memory");
		if (e != NULL)
			ca_entry_free(e);
		return NULL;
	}
	memset(&ld, 0, sizeof(ld));
	ld.err = err;
	ld.errsz = errsz;
	if (ca_load(&e->set, file, path, &ld) == -1) {
		ca_entry_free(e);
		return NULL;
	}
	e->fid = ld.fid;
	e->did = ld.did;
	e->magic = CA_MAGIC;
	e->refs = 2; /* the cache and the caller */
	return e;
}

const struct ca_set *
ca_set_get(const char *ca_file, const char *ca_path, char *err, size_t errsz)
{
	struct ca_entry *e, *dead = NULL;
	struct ca_ident fid, did;

	if (err != NULL && errsz > 0)
		err[0] = '\0';
	if (ca_file == NULL && ca_path == NULL) {
		if (err != NULL && errsz > 0)
			snprintf(
			    err, errsz, "neither CA_file nor CA_path given");
		return NULL;
	}
	if (ca_stat("CA_file", ca_file, &fid, err, errsz) == -1 ||
	    ca_stat("CA_path", ca_path, &did, err, errsz) == -1)
		return NULL;
	pthread_mutex_lock(&ca_lock);
	e = ca_lookup(ca_file, ca_path, &fid, &did);
	pthread_mutex_unlock(&ca_lock);
	if (e != NULL)
		return &e->set;

	/* Read without the lock: a slow file system must not stall
	 * connects that use other anchors.  The last loader wins. */
	if ((e = ca_entry_load(ca_file, ca_path, err, errsz)) == NULL)
		return NULL;
	pthread_mutex_lock(&ca_lock);
	ca_insert(e, &dead);
	pthread_mutex_unlock(&ca_lock);
	ca_free_chain(dead);
	return &e->set;
}

void
ca_set_put(const struct ca_set *set)
{
	struct ca_entry *e = (struct ca_entry *)set;
	int last;

	if (e == NULL || e->magic != CA_MAGIC)
		return;
	pthread_mutex_lock(&ca_lock);
	last = --e->refs == 0;
	pthread_mutex_unlock(&ca_lock);
	if (last)
		ca_entry_free(e);
}

void
ca_cache_clear(void)
{
	struct ca_entry *dead = NULL, *e;

	pthread_mutex_lock(&ca_lock);
	while (ca_cache != NULL) {
		if ((e = ca_unlink(&ca_cache)) != NULL) {
			e->next = dead;
			dead = e;
		}
	}
	pthread_mutex_unlock(&ca_lock);
	ca_free_chain(dead);
}
