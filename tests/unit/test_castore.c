/* SPDX-License-Identifier: ISC */
/*
 * Client trust anchors: CA_file / CA_path loading, limits, the set hash and
 * the process-wide cache.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "../cutest.h"
#include "cahash.h"
#include "castore.h"
#include "cpproto.h"

#define NCERT 4

static EVP_PKEY *key;
static X509 *certs[NCERT];
static char *pems[NCERT]; /* PEM text of certs[i] */

/* A self-signed certificate; pad adds a comment extension of that size. */
static X509 *
mkcert(long serial, const char *cn, size_t pad)
{
	X509_EXTENSION *ext;
	X509_NAME *name;
	char *comment;
	X509 *x;
	int ok;

	if ((x = X509_new()) == NULL)
		return NULL;
	name = X509_get_subject_name(x);
	ok = X509_set_version(x, 2) &&
	     ASN1_INTEGER_set(X509_get_serialNumber(x), serial) &&
	     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	         (const unsigned char *)cn, -1, -1, 0) &&
	     X509_set_issuer_name(x, name) &&
	     X509_gmtime_adj(X509_getm_notBefore(x), 0) &&
	     X509_gmtime_adj(X509_getm_notAfter(x), 86400) &&
	     X509_set_pubkey(x, key);
	if (ok && pad > 0) {
		ok = 0;
		if ((comment = malloc(pad + 1)) != NULL) {
			memset(comment, 'p', pad);
			comment[pad] = '\0';
			ext = X509V3_EXT_conf_nid(
			    NULL, NULL, NID_netscape_comment, comment);
			ok = ext != NULL && X509_add_ext(x, ext, -1);
			X509_EXTENSION_free(ext);
			free(comment);
		}
	}
	if (!ok || !X509_sign(x, key, NULL)) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static char *
to_pem(X509 *x, int trusted)
{
	BUF_MEM *bm;
	char *s = NULL;
	BIO *b;

	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return NULL;
	if (trusted ? PEM_write_bio_X509_AUX(b, x) : PEM_write_bio_X509(b, x)) {
		BIO_get_mem_ptr(b, &bm);
		if ((s = malloc(bm->length + 1)) != NULL) {
			memcpy(s, bm->data, bm->length);
			s[bm->length] = '\0';
		}
	}
	BIO_free(b);
	return s;
}

static char *
key_pem(void)
{
	BUF_MEM *bm;
	char *s = NULL;
	BIO *b;

	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return NULL;
	if (PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)) {
		BIO_get_mem_ptr(b, &bm);
		s = strndup(bm->data, bm->length);
	}
	BIO_free(b);
	return s;
}

static int
der_of(X509 *x, unsigned char **der, size_t *len)
{
	int n;

	*der = NULL;
	if ((n = i2d_X509(x, der)) <= 0)
		return -1;
	*len = (size_t)n;
	return 0;
}

/* Hash of a list of certificates through the shared definition. */
static int
hash_of(X509 **xs, size_t n, unsigned char out[CP_CA_HASH_LEN])
{
	unsigned char *der[8];
	size_t len[8], i;
	int rc = 0;

	if (n > 8)
		return -1;
	for (i = 0; i < n; i++)
		if (der_of(xs[i], &der[i], &len[i]) == -1)
			rc = -1;
	if (rc == 0)
		rc = cp_ca_set_hash(
		    (const unsigned char *const *)der, len, n, out);
	for (i = 0; i < n; i++)
		OPENSSL_free(der[i]);
	return rc;
}

/* Paths under the test directory, interned so they stay valid. */
static char *paths[256];
static size_t npaths;

static const char *
tpath(const char *fmt, const char *a)
{
	char buf[PATH_MAX], *p;
	size_t i;
	int n;

	n = snprintf(buf, sizeof(buf), "%s/", cu_tmpdir());
	snprintf(buf + n, sizeof(buf) - (size_t)n, fmt, a);
	for (i = 0; i < npaths; i++)
		if (strcmp(paths[i], buf) == 0)
			return paths[i];
	if (npaths == sizeof(paths) / sizeof(paths[0]) ||
	    (p = strdup(buf)) == NULL)
		abort();
	paths[npaths++] = p;
	return p;
}

static int
write_file(const char *path, const char *a, const char *b, const char *c)
{
	const char *parts[3] = {a, b, c};
	FILE *f;
	int i, ok;

	if ((f = fopen(path, "we")) == NULL)
		return -1;
	for (i = 0, ok = 1; i < 3; i++)
		if (parts[i] != NULL && fputs(parts[i], f) == EOF)
			ok = 0;
	if (fclose(f) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

/* Concatenate PEM texts; idx ends with -1. */
static char *
bundle(const int *idx)
{
	size_t total = 1, i;
	char *s;

	for (i = 0; idx[i] >= 0; i++)
		total += strlen(pems[idx[i]]);
	if ((s = malloc(total)) == NULL)
		return NULL;
	s[0] = '\0';
	for (i = 0; idx[i] >= 0; i++)
		strcat(s, pems[idx[i]]);
	return s;
}

static int
write_bundle(const char *path, const int *idx)
{
	char *s;
	int rc;

	if ((s = bundle(idx)) == NULL)
		return -1;
	rc = write_file(path, s, NULL, NULL);
	free(s);
	return rc;
}

/* The set is sorted by SHA-256 and its hash matches cp_ca_set_hash. */
static void
check_set(const struct ca_set *set, X509 **xs, size_t n)
{
	unsigned char want[CP_CA_HASH_LEN], d0[32], d1[32];
	size_t i;

	CU_ASSERT_EQUAL_FATAL(set->n, n);
	CU_ASSERT_EQUAL(hash_of(xs, n, want), 0);
	CU_ASSERT(memcmp(set->hash, want, sizeof(want)) == 0);
	for (i = 0; i + 1 < set->n; i++) {
		SHA256(set->der[i], set->len[i], d0);
		SHA256(set->der[i + 1], set->len[i + 1], d1);
		CU_ASSERT(memcmp(d0, d1, sizeof(d0)) < 0);
	}
}

static int
suite_init(void)
{
	char cn[32];
	int i;

	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL)
		return -1;
	for (i = 0; i < NCERT; i++) {
		snprintf(cn, sizeof(cn), "Test CA %d", i);
		if ((certs[i] = mkcert(i + 1, cn, 0)) == NULL ||
		    (pems[i] = to_pem(certs[i], 0)) == NULL)
			return -1;
	}
	return 0;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) == -1 ? -1 : 0;
}

static int
suite_clean(void)
{
	int i;

	ca_cache_clear();
	for (i = 0; i < NCERT; i++) {
		X509_free(certs[i]);
		free(pems[i]);
	}
	EVP_PKEY_free(key);
	while (npaths > 0)
		free(paths[--npaths]);
	/* Some ten thousand files: do not leave them behind. */
	return nftw(cu_tmpdir(), rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0
	                                                                : -1;
}

static void
test_bundle(void)
{
	const int idx[] = {0, 1, 2, 0, -1};
	struct ca_set set;
	char err[256], *b, *kp;
	const char *p = tpath("bundle.pem", NULL);

	/* Text, a private key and a duplicate around the certificates. */
	b = bundle(idx);
	kp = key_pem();
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_PTR_NOT_NULL_FATAL(kp);
	CU_ASSERT_EQUAL_FATAL(write_file(p, "Some CA bundle\n\n", kp, b), 0);
	free(b);
	free(kp);
	CU_ASSERT_EQUAL_FATAL(ca_set_load(&set, p, NULL, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(err, "");
	check_set(&set, certs, 3);
	ca_set_free(&set);
	CU_ASSERT_EQUAL(set.n, 0);
	CU_ASSERT_PTR_NULL(set.der);
}

static void
test_order(void)
{
	const int i1[] = {0, 1, 2, -1}, i2[] = {2, 1, 0, 1, 2, -1},
	          i3[] = {0, 1, -1};
	struct ca_set s1, s2, s3;
	char err[256];
	const char *p1 = tpath("o1.pem", NULL), *p2 = tpath("o2.pem", NULL),
	           *p3 = tpath("o3.pem", NULL);

	CU_ASSERT_EQUAL_FATAL(write_bundle(p1, i1), 0);
	CU_ASSERT_EQUAL_FATAL(write_bundle(p2, i2), 0);
	CU_ASSERT_EQUAL_FATAL(write_bundle(p3, i3), 0);
	CU_ASSERT_EQUAL_FATAL(ca_set_load(&s1, p1, NULL, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(ca_set_load(&s2, p2, NULL, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(ca_set_load(&s3, p3, NULL, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(s1.n, 3);
	CU_ASSERT_EQUAL(s2.n, 3);
	CU_ASSERT(memcmp(s1.hash, s2.hash, sizeof(s1.hash)) == 0);
	CU_ASSERT_EQUAL(s3.n, 2);
	CU_ASSERT(memcmp(s1.hash, s3.hash, sizeof(s1.hash)) != 0);
	check_set(&s3, certs, 2);
	ca_set_free(&s1);
	ca_set_free(&s2);
	ca_set_free(&s3);
}

static void
test_dir(void)
{
	const int i12[] = {1, 2, -1};
	struct ca_set set;
	char err[256], *kp, *tp;
	const char *d = tpath("dir", NULL);

	CU_ASSERT_EQUAL_FATAL(mkdir(d, 0700), 0);
	CU_ASSERT_EQUAL_FATAL(
	    write_bundle(tpath("dir/a.pem", NULL), (const int[]){0, -1}), 0);
	CU_ASSERT_EQUAL_FATAL(write_bundle(tpath("dir/b.pem", NULL), i12), 0);
	/* A c_rehash link and a copy: the same certificate again. */
	CU_ASSERT_EQUAL(symlink("a.pem", tpath("dir/1a2b3c4d.0", NULL)), 0);
	CU_ASSERT_EQUAL(
	    write_file(tpath("dir/copy.crt", NULL), pems[0], NULL, NULL), 0);
	/* Things that are not certificates are skipped. */
	kp = key_pem();
	CU_ASSERT_EQUAL(
	    write_file(tpath("dir/key.pem", NULL), kp, NULL, NULL), 0);
	free(kp);
	CU_ASSERT_EQUAL(write_file(tpath("dir/README", NULL),
	                    "not a certificate\n", NULL, NULL),
	    0);
	CU_ASSERT_EQUAL(
	    write_file(tpath("dir/empty", NULL), "", NULL, NULL), 0);
	CU_ASSERT_EQUAL(write_file(tpath("dir/broken.pem", NULL),
	                    "-----BEGIN CERTIFICATE-----\n!!notbase64!!\n"
	                    "-----END CERTIFICATE-----\n",
	                    NULL, NULL),
	    0);
	CU_ASSERT_EQUAL(symlink("nowhere", tpath("dir/dangling.0", NULL)), 0);
	/* Opening a FIFO must not block the load. */
	CU_ASSERT_EQUAL(mkfifo(tpath("dir/fifo", NULL), 0600), 0);
	/* No recursion into subdirectories. */
	CU_ASSERT_EQUAL(mkdir(tpath("dir/sub", NULL), 0700), 0);
	CU_ASSERT_EQUAL(
	    write_file(tpath("dir/sub/c.pem", NULL), pems[3], NULL, NULL), 0);

	CU_ASSERT_EQUAL_FATAL(ca_set_load(&set, NULL, d, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(err, "");
	check_set(&set, certs, 3);
	ca_set_free(&set);

	/* A TRUSTED CERTIFICATE block counts as the plain certificate. */
	tp = to_pem(certs[3], 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(tp);
	CU_ASSERT(strstr(tp, "TRUSTED CERTIFICATE") != NULL);
	CU_ASSERT_EQUAL(
	    write_file(tpath("dir/trusted.pem", NULL), tp, NULL, NULL), 0);
	free(tp);
	CU_ASSERT_EQUAL_FATAL(ca_set_load(&set, NULL, d, err, sizeof(err)), 0);
	check_set(&set, certs, 4);
	ca_set_free(&set);
	CU_ASSERT_EQUAL(unlink(tpath("dir/trusted.pem", NULL)), 0);

	/* CA_file and CA_path together, overlapping. */
	CU_ASSERT_EQUAL_FATAL(
	    write_bundle(tpath("extra.pem", NULL), (const int[]){3, 1, -1}), 0);
	CU_ASSERT_EQUAL_FATAL(
	    ca_set_load(&set, tpath("extra.pem", NULL), d, err, sizeof(err)),
	    0);
	check_set(&set, certs, 4);
	ca_set_free(&set);
}

/* Expect failure with exactly this message. */
static void
expect_err(const char *file, const char *path, const char *want)
{
	struct ca_set set;
	char err[PATH_MAX + 100];

	memset(&set, 0xa5, sizeof(set));
	CU_ASSERT_EQUAL(ca_set_load(&set, file, path, err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(set.n, 0);
	CU_ASSERT_PTR_NULL(set.der);
	if (strcmp(err, want) != 0)
		fprintf(stderr, "\n  got \"%s\"\n want \"%s\"\n", err, want);
	CU_ASSERT_STRING_EQUAL(err, want);
}

static void
test_errors(void)
{
	char want[PATH_MAX + 100];
	const char *nf = tpath("no-such.pem", NULL), *nd = tpath("nodir", NULL);
	const char *txt = tpath("text.pem", NULL),
	           *ed = tpath("emptydir", NULL);
	const char *bad = tpath("bad.pem", NULL);
	const struct ca_set *cs;

	snprintf(
	    want, sizeof(want), "CA_file %s: No such file or directory", nf);
	expect_err(nf, NULL, want);
	snprintf(
	    want, sizeof(want), "CA_path %s: No such file or directory", nd);
	expect_err(NULL, nd, want);
	/* A good CA_file does not hide a bad CA_path. */
	CU_ASSERT_EQUAL_FATAL(
	    write_bundle(tpath("good.pem", NULL), (const int[]){0, -1}), 0);
	expect_err(tpath("good.pem", NULL), nd, want);

	CU_ASSERT_EQUAL_FATAL(write_file(txt, "hello\n", NULL, NULL), 0);
	snprintf(want, sizeof(want), "CA_path %s: Not a directory", txt);
	expect_err(NULL, txt, want);
	snprintf(want, sizeof(want), "CA_file %s: no certificate found", txt);
	expect_err(txt, NULL, want);
	CU_ASSERT_EQUAL_FATAL(mkdir(ed, 0700), 0);
	snprintf(want, sizeof(want), "CA_file %s: not a regular file", ed);
	expect_err(ed, NULL, want);
	snprintf(want, sizeof(want), "CA_path %s: no certificate found", ed);
	expect_err(NULL, ed, want);
	expect_err(NULL, NULL, "neither CA_file nor CA_path given");

	/* In the named file, a broken certificate is an error. */
	CU_ASSERT_EQUAL_FATAL(write_file(bad, pems[0],
	                          "-----BEGIN CERTIFICATE-----\nMIIB\n"
	                          "-----END CERTIFICATE-----\n",
	                          NULL),
	    0);
	snprintf(want, sizeof(want), "CA_file %s: malformed certificate", bad);
	expect_err(bad, NULL, want);

	/* The cached interface reports the same. */
	cs = ca_set_get(nf, NULL, want, sizeof(want));
	CU_ASSERT_PTR_NULL(cs);
	CU_ASSERT(strstr(want, "No such file or directory") != NULL);
	cs = ca_set_get(bad, NULL, want, sizeof(want));
	CU_ASSERT_PTR_NULL(cs);
	CU_ASSERT(strstr(want, "malformed certificate") != NULL);
}

static void
test_big_cert(void)
{
	char want[PATH_MAX + 100], *pem;
	const char *big = tpath("big.pem", NULL), *d = tpath("bigdir", NULL);
	unsigned char *der;
	size_t len = 0;
	X509 *x;

	x = mkcert(100, "Big CA", CP_MAX_CERT);
	CU_ASSERT_PTR_NOT_NULL_FATAL(x);
	CU_ASSERT_EQUAL_FATAL(der_of(x, &der, &len), 0);
	OPENSSL_free(der);
	CU_ASSERT_FATAL(len > CP_MAX_CERT);
	pem = to_pem(x, 0);
	X509_free(x);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pem);
	CU_ASSERT_EQUAL_FATAL(write_file(big, pems[0], pem, NULL), 0);
	snprintf(want, sizeof(want),
	    "CA_file %s: certificate of %zu bytes (limit %d)", big, len,
	    CP_MAX_CERT);
	expect_err(big, NULL, want);

	/* In a directory too, naming the file. */
	CU_ASSERT_EQUAL_FATAL(mkdir(d, 0700), 0);
	CU_ASSERT_EQUAL_FATAL(
	    write_file(tpath("bigdir/x.pem", NULL), pem, NULL, NULL), 0);
	free(pem);
	snprintf(want, sizeof(want),
	    "CA_path %s/x.pem: certificate of %zu bytes (limit %d)", d, len,
	    CP_MAX_CERT);
	expect_err(NULL, d, want);
}

static void
test_big_file(void)
{
	char want[PATH_MAX + 100];
	const char *p = tpath("huge.pem", NULL);
	int fd;

	/* Sparse: 8 MiB + 1 byte without writing them. */
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_EQUAL(
	    write(fd, pems[0], strlen(pems[0])), (ssize_t)strlen(pems[0]));
	CU_ASSERT_EQUAL(ftruncate(fd, CA_MAX_FILE + 1), 0);
	close(fd);
	snprintf(want, sizeof(want), "CA_file %s: larger than 8 MiB", p);
	expect_err(p, NULL, want);

	/* Exactly the limit is fine. */
	CU_ASSERT_EQUAL(truncate(p, CA_MAX_FILE), 0);
	{
		struct ca_set set;
		char err[PATH_MAX + 100];

		CU_ASSERT_EQUAL_FATAL(
		    ca_set_load(&set, p, NULL, err, sizeof(err)), 0);
		CU_ASSERT_EQUAL(set.n, 1);
		ca_set_free(&set);
	}
	CU_ASSERT_EQUAL(unlink(p), 0);
}

/* A PEM file of n distinct certificates, each repeated rep times. */
static int
write_many(const char *path, int n, int rep, int extra_dup)
{
	FILE *f;
	X509 *x;
	char *pem;
	int i, j, ok = 1;

	if ((f = fopen(path, "we")) == NULL)
		return -1;
	for (i = 0; ok && i < n; i++) {
		if ((x = mkcert(1000 + i, "Many", 0)) == NULL ||
		    (pem = to_pem(x, 0)) == NULL) {
			X509_free(x);
			ok = 0;
			break;
		}
		for (j = 0; j < rep + (i == 0 ? extra_dup : 0); j++)
			if (fputs(pem, f) == EOF)
				ok = 0;
		free(pem);
		X509_free(x);
	}
	if (fclose(f) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

static void
test_many_certs(void)
{
	char want[PATH_MAX + 100], err[PATH_MAX + 100];
	const char *p = tpath("many.pem", NULL);
	struct ca_set set;

	/* The limit exactly, each twice, plus one more copy: duplicates are
	 * squeezed out while reading. */
	CU_ASSERT_EQUAL_FATAL(write_many(p, CP_MAX_CA_CERTS, 2, 1), 0);
	CU_ASSERT_EQUAL_FATAL(ca_set_load(&set, p, NULL, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(set.n, CP_MAX_CA_CERTS);
	ca_set_free(&set);

	/* One more distinct certificate is too many. */
	CU_ASSERT_EQUAL_FATAL(write_many(p, CP_MAX_CA_CERTS + 1, 1, 0), 0);
	snprintf(want, sizeof(want), "more than %d distinct CA certificates",
	    CP_MAX_CA_CERTS);
	expect_err(p, NULL, want);
	CU_ASSERT_EQUAL(unlink(p), 0);
}

static void
test_many_entries(void)
{
	char want[PATH_MAX + 100], name[32];
	const char *d = tpath("bigdir2", NULL);
	int dfd, fd, i, ok = 1;

	CU_ASSERT_EQUAL_FATAL(mkdir(d, 0700), 0);
	dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CU_ASSERT_FATAL(dfd != -1);
	for (i = 0; ok && i <= CA_MAX_DIRENT; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		fd = openat(dfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd == -1)
			ok = 0;
		else
			close(fd);
	}
	CU_ASSERT_FATAL(ok);
	snprintf(want, sizeof(want), "CA_path %s: more than %d entries", d,
	    CA_MAX_DIRENT);
	expect_err(NULL, d, want);

	/* Down to the limit, with one certificate among them: accepted. */
	CU_ASSERT_EQUAL(unlinkat(dfd, "f0", 0), 0);
	CU_ASSERT_EQUAL(
	    write_file(tpath("bigdir2/f1", NULL), pems[2], NULL, NULL), 0);
	{
		struct ca_set set;
		char err[PATH_MAX + 100];

		CU_ASSERT_EQUAL_FATAL(
		    ca_set_load(&set, NULL, d, err, sizeof(err)), 0);
		check_set(&set, &certs[2], 1);
		ca_set_free(&set);
	}
	close(dfd);
}

/* Make sure a rewrite is visible even on coarse-grained timestamps. */
static int
bump_mtime(const char *path, time_t delta)
{
	struct timespec ts[2];
	struct stat st;

	if (stat(path, &st) == -1)
		return -1;
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	ts[1].tv_sec += delta;
	return utimensat(AT_FDCWD, path, ts, 0);
}

static void
test_cache(void)
{
	const struct ca_set *a, *b, *c, *dd, *e;
	const char *f = tpath("cache.pem", NULL), *d = tpath("cachedir", NULL);
	char err[PATH_MAX + 100];

	CU_ASSERT_EQUAL_FATAL(write_bundle(f, (const int[]){0, 1, -1}), 0);
	a = ca_set_get(f, NULL, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	check_set(a, certs, 2);
	b = ca_set_get(f, NULL, err, sizeof(err));
	CU_ASSERT_PTR_EQUAL(a, b);
	ca_set_put(b);

	/* A different content: a new set; the old one stays usable. */
	CU_ASSERT_EQUAL_FATAL(write_bundle(f, (const int[]){0, 1, 2, -1}), 0);
	CU_ASSERT_EQUAL(bump_mtime(f, 10), 0);
	b = ca_set_get(f, NULL, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_PTR_NOT_EQUAL(a, b);
	check_set(b, certs, 3);
	check_set(a, certs, 2);
	ca_set_put(a);

	/* A new mtime alone is enough to re-read. */
	CU_ASSERT_EQUAL(bump_mtime(f, 20), 0);
	c = ca_set_get(f, NULL, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_PTR_NOT_EQUAL(b, c);
	check_set(c, certs, 3);
	ca_set_put(c);

	/* A directory: a new entry changes its mtime. */
	CU_ASSERT_EQUAL_FATAL(mkdir(d, 0700), 0);
	CU_ASSERT_EQUAL_FATAL(
	    write_file(tpath("cachedir/a.pem", NULL), pems[3], NULL, NULL), 0);
	dd = ca_set_get(f, d, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(dd);
	check_set(dd, certs, 4);
	e = ca_set_get(f, d, err, sizeof(err));
	CU_ASSERT_PTR_EQUAL(dd, e);
	ca_set_put(e);
	CU_ASSERT_EQUAL_FATAL(symlink("a.pem", tpath("cachedir/x.0", NULL)), 0);
	CU_ASSERT_EQUAL(bump_mtime(d, 10), 0);
	e = ca_set_get(f, d, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_PTR_NOT_EQUAL(dd, e);
	check_set(e, certs, 4);
	ca_set_put(e);

	/* Clearing keeps held sets valid; the next get reads again. */
	ca_cache_clear();
	check_set(b, certs, 3);
	check_set(dd, certs, 4);
	c = ca_set_get(f, NULL, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_PTR_NOT_EQUAL(b, c);
	ca_set_put(c);
	ca_set_put(b);
	ca_set_put(dd);
	ca_set_put(NULL);

	/* A file that disappears is an error, not a stale answer. */
	CU_ASSERT_EQUAL(unlink(f), 0);
	CU_ASSERT_PTR_NULL(ca_set_get(f, NULL, err, sizeof(err)));
	CU_ASSERT(strstr(err, "No such file or directory") != NULL);
}

static void
test_cache_evict(void)
{
	const struct ca_set *first, *s, *again;
	char err[PATH_MAX + 100], name[32];
	int i;

	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "ev%d.pem", i);
		CU_ASSERT_EQUAL_FATAL(
		    write_file(tpath("%s", name), pems[i % NCERT], NULL, NULL),
		    0);
	}
	first = ca_set_get(tpath("ev0.pem", NULL), NULL, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(first);
	/* Fewer than the cache size: still cached. */
	for (i = 1; i < 10; i++) {
		snprintf(name, sizeof(name), "ev%d.pem", i);
		s = ca_set_get(tpath("%s", name), NULL, err, sizeof(err));
		CU_ASSERT_PTR_NOT_NULL_FATAL(s);
		ca_set_put(s);
	}
	again = ca_set_get(tpath("ev0.pem", NULL), NULL, err, sizeof(err));
	CU_ASSERT_PTR_EQUAL(first, again);
	ca_set_put(again);
	/* Many more: the oldest goes, even while someone holds it. */
	for (i = 10; i < 20; i++) {
		snprintf(name, sizeof(name), "ev%d.pem", i);
		s = ca_set_get(tpath("%s", name), NULL, err, sizeof(err));
		CU_ASSERT_PTR_NOT_NULL_FATAL(s);
		ca_set_put(s);
	}
	for (i = 1; i < 20; i++) {
		snprintf(name, sizeof(name), "ev%d.pem", i);
		s = ca_set_get(tpath("%s", name), NULL, err, sizeof(err));
		CU_ASSERT_PTR_NOT_NULL_FATAL(s);
		ca_set_put(s);
	}
	again = ca_set_get(tpath("ev0.pem", NULL), NULL, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(again);
	CU_ASSERT_PTR_NOT_EQUAL(first, again);
	CU_ASSERT(memcmp(first->hash, again->hash, sizeof(first->hash)) == 0);
	ca_set_put(again);
	ca_set_put(first);
	ca_cache_clear();
}

#define NTHREAD 4
#define NITER 200

static const char *thr_file;
static unsigned char thr_hash[CP_CA_HASH_LEN];

static void *
thr_main(void *arg)
{
	const struct ca_set *s;
	char err[256];
	int i, bad = 0;

	for (i = 0; i < NITER; i++) {
		if ((s = ca_set_get(thr_file, NULL, err, sizeof(err))) ==
		    NULL) {
			bad++;
			continue;
		}
		if (memcmp(s->hash, thr_hash, sizeof(thr_hash)) != 0)
			bad++;
		if (i % 50 == 0)
			ca_cache_clear();
		ca_set_put(s);
	}
	return (void *)(long)bad;
}

static void
test_threads(void)
{
	pthread_t t[NTHREAD];
	void *rv;
	int i, started = 0;
	long bad = 0;

	thr_file = tpath("thr.pem", NULL);
	CU_ASSERT_EQUAL_FATAL(
	    write_bundle(thr_file, (const int[]){3, 2, 1, -1}), 0);
	CU_ASSERT_EQUAL_FATAL(hash_of(&certs[1], 3, thr_hash), 0);
	for (i = 0; i < NTHREAD; i++)
		if (pthread_create(&t[i], NULL, thr_main, NULL) == 0)
			started++;
	CU_ASSERT_EQUAL(started, NTHREAD);
	for (i = 0; i < started; i++) {
		pthread_join(t[i], &rv);
		bad += (long)rv;
	}
	CU_ASSERT_EQUAL(bad, 0);
	ca_cache_clear();
}

int
main(void)
{
	CU_pSuite s;

	s = cu_suite("castore", suite_init, suite_clean);
	cu_test(s, "PEM bundle", test_bundle);
	cu_test(s, "hash ignores order and duplicates", test_order);
	cu_test(s, "CA_path directory", test_dir);
	cu_test(s, "error messages", test_errors);
	cu_test(s, "certificate size limit", test_big_cert);
	cu_test(s, "file size limit", test_big_file);
	cu_test(s, "certificate count limit", test_many_certs);
	cu_test(s, "directory entry limit", test_many_entries);
	cu_test(s, "cache hit and invalidation", test_cache);
	cu_test(s, "cache eviction", test_cache_evict);
	cu_test(s, "cache under threads", test_threads);
	return cu_finish();
}
