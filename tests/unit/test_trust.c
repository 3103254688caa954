/* SPDX-License-Identifier: ISC */
/*
 * Trust data (daemon/trust.c): the parent's loading of the trust store and
 * CRL files with its bounds and file:line errors, the engines' decoding of
 * the sealed buffer (hostile bytes refused, never read past), and the
 * file watch that notices a replaced or rewritten file.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "conf.h"
#include "cutest.h"
#include "itest.h"
#include "trust.h"

static char pki[128], rev[128], dir[128];
static char err[1024];

static int
sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static int
suite_init(void)
{
	snprintf(rev, sizeof(rev), "%s/rev", cu_tmpdir());
	snprintf(dir, sizeof(dir), "%s/files", cu_tmpdir());
	if (tpki_make(pki, sizeof(pki), cu_tmpdir()) == -1 ||
	    sh("sh tests/pki/mkrevoke.sh '%s' '%s' >/dev/null", pki, rev) !=
	        0 ||
	    sh("mkdir -p '%s'", dir) != 0)
		return -1;
	return 0;
}

static struct cpconf *
conf(const char *fmt, ...)
{
	struct cpconf *c = NULL;
	char text[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (conf_parse(&c, "t.conf", text, strlen(text), err, sizeof(err)) ==
	    -1) {
		fprintf(stderr, "conf: %s\n", err);
		CU_FAIL("conf_parse");
	}
	return c;
}

/* The parent loads, the engine decodes what the parent sealed. */
static struct trust *
round_trip(struct cpconf *c)
{
	struct trust *t = NULL, *e = NULL;
	int fd;

	if (c == NULL || trust_load(&t, c, err, sizeof(err)) == -1) {
		fprintf(stderr, "trust_load: %s\n", err);
		return NULL;
	}
	fd = trust_memfd(t, err, sizeof(err));
	trust_free(t);
	if (fd == -1)
		return NULL;
	/* Sealed: nobody writes to it any more. */
	CU_ASSERT_EQUAL(write(fd, "x", 1), -1);
	if (trust_recv(&e, fd, err, sizeof(err)) == -1)
		fprintf(stderr, "trust_recv: %s\n", err);
	close(fd);
	return e;
}

static void
test_round_trip(void)
{
	struct cpconf *c = conf("ca-file \"%s/ca.pem\"\n"
	                        "crl-file \"%s/chain-ok.crl\"\n"
	                        "destination a.example {\n"
	                        "  crl-file \"%s/int.crl.der\"\n"
	                        "}\n"
	                        "destination b.example {\n"
	                        "  crl-file \"%s/chain-ok.crl\"\n"
	                        "}\n",
	    pki, rev, rev, rev);
	struct trust *e = round_trip(c);
	STACK_OF(X509_OBJECT) *objs;

	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	objs = X509_STORE_get0_objects(trust_store(e));
	CU_ASSERT_EQUAL(sk_X509_OBJECT_num(objs), 1);
	CU_ASSERT_EQUAL(trust_nanchors(e), 1);
	/* chain-ok.crl: two CRLs; loaded once for both blocks. */
	CU_ASSERT_EQUAL(trust_ncrls(e), 3);
	CU_ASSERT_EQUAL(
	    sk_X509_CRL_num(trust_crls(e, tpath(rev, "chain-ok.crl"))), 2);
	CU_ASSERT_EQUAL(
	    sk_X509_CRL_num(trust_crls(e, tpath(rev, "int.crl.der"))), 1);
	CU_ASSERT_PTR_NULL(trust_crls(e, tpath(rev, "root.crl")));
	CU_ASSERT_PTR_NULL(trust_crls(e, NULL));
	trust_free(e);
	conf_free(c);
	/* ca-path: a directory, each certificate once. */
	c = conf("ca-path \"%s\"\n", pki);
	e = round_trip(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	/* root, unknown, int and the leaves: more than two, no repeats
	 * although ca.pem and root.pem are the same certificate. */
	CU_ASSERT(trust_nanchors(e) > 2);
	CU_ASSERT_EQUAL((int)trust_nanchors(e),
	    sk_X509_OBJECT_num(X509_STORE_get0_objects(trust_store(e))));
	trust_free(e);
	conf_free(c);
}

/* A bad file is an error of the line that names it. */
static void
expect_error(const char *crl, const char *want)
{
	struct cpconf *c = conf("ca-file \"%s/ca.pem\"\n"
	                        "allow from any to any\n"
	                        "crl-file \"%s\"\n",
	    pki, crl);
	struct trust *t = NULL;
	char where[512];

	if (c == NULL)
		return;
	CU_ASSERT_EQUAL(trust_load(&t, c, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(t);
	snprintf(where, sizeof(where), "t.conf:3: crl-file %s: ", crl);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, where));
	if (strstr(err, want) == NULL)
		fprintf(stderr, "got \"%s\", want \"%s\"\n", err, want);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
	conf_free(c);
}

static void
test_bad_files(void)
{
	char big[256];
	int fd;

	expect_error(tpath(dir, "none.crl"), "No such file or directory");
	expect_error(dir, "not a regular file");
	expect_error("/dev/null", "not a regular file");
	expect_error(tpath(rev, "good.pem"), "no CRL found");
	expect_error(tpath(rev, "broken.crl"), "CRL 1: ");
	CU_ASSERT_EQUAL(sh("head -c 300 /dev/urandom >'%s/noise.crl'", dir), 0);
	expect_error(tpath(dir, "noise.crl"), "");
	/* DER with bytes after it. */
	CU_ASSERT_EQUAL(sh("cat '%s/int.crl.der' '%s/int.crl.der' >'%s/2.der'",
	                    rev, rev, dir),
	    0);
	expect_error(tpath(dir, "2.der"), "bytes after the DER CRL");
	/* Larger than the bound: not even read. */
	snprintf(big, sizeof(big), "%s/big.crl", dir);
	fd = open(big, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_EQUAL(ftruncate(fd, TRUST_MAX_FILE + 1), 0);
	close(fd);
	expect_error(big, "larger than the limit");
	unlink(big);
}

static void
test_bad_store(void)
{
	struct cpconf *c = conf("ca-file \"%s/none.pem\"\n", dir);
	struct trust *t = NULL;

	/* Each with the file and line of its keyword. */
	CU_ASSERT_EQUAL(trust_load(&t, c, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "none.pem: No such file"));
	CU_ASSERT_EQUAL(strncmp(err, "t.conf:1: ca-file ", 18), 0);
	conf_free(c);
	c = conf("\nca-file \"%s/int.crl\"\n", rev);
	CU_ASSERT_EQUAL(trust_load(&t, c, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "no certificate found"));
	CU_ASSERT_EQUAL(strncmp(err, "t.conf:2: ca-file ", 18), 0);
	conf_free(c);
	CU_ASSERT_EQUAL(sh("mkdir -p '%s/empty'", dir), 0);
	c = conf("ca-path \"%s/empty\"\n", dir);
	CU_ASSERT_EQUAL(trust_load(&t, c, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "no certificate found"));
	CU_ASSERT_EQUAL(strncmp(err, "t.conf:1: ca-path ", 18), 0);
	conf_free(c);
}

/* A memfd holding the given bytes. */
static int
blob(const void *p, size_t len)
{
	int fd = memfd_create("t", MFD_CLOEXEC);

	if (fd != -1 && write(fd, p, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
recv_bytes(const unsigned char *p, size_t len)
{
	struct trust *t = NULL;
	int fd = blob(p, len), rv;

	if (fd == -1)
		return -2;
	rv = trust_recv(&t, fd, err, sizeof(err));
	close(fd);
	trust_free(t);
	return rv;
}

/* The engine refuses anything but exactly what the parent writes. */
static void
test_hostile_blob(void)
{
	struct cpconf *c = conf("ca-file \"%s/ca.pem\"\n"
	                        "crl-file \"%s/int.crl\"\n",
	    pki, rev);
	struct trust *t = NULL;
	unsigned char *b;
	struct stat st;
	size_t len, i;
	uint32_t v;
	int fd;

	CU_ASSERT_EQUAL_FATAL(trust_load(&t, c, err, sizeof(err)), 0);
	fd = trust_memfd(t, err, sizeof(err));
	trust_free(t);
	conf_free(c);
	CU_ASSERT_FATAL(fd != -1 && fstat(fd, &st) == 0);
	len = (size_t)st.st_size;
	b = malloc(len + 16);
	CU_ASSERT_FATAL(b != NULL && pread(fd, b, len, 0) == (ssize_t)len);
	close(fd);
	CU_ASSERT_EQUAL(recv_bytes(b, len), 0);
	/* Every truncation. */
	for (i = 0; i < len; i += 1 + i / 8)
		CU_ASSERT_EQUAL(recv_bytes(b, i), -1);
	/* Bytes after the last record. */
	memset(b + len, 0, 16);
	CU_ASSERT_EQUAL(recv_bytes(b, len + 16), -1);
	/* A count, a kind, a length that lie (records: anchor, path, CRL). */
	memcpy(&v, b + 8, 4);
	CU_ASSERT_EQUAL(v, 3);
	memcpy(b + 8, &(uint32_t){4}, 4);
	CU_ASSERT_EQUAL(recv_bytes(b, len), -1);
	memcpy(b + 8, &(uint32_t){0xffffffffu}, 4);
	CU_ASSERT_EQUAL(recv_bytes(b, len), -1);
	memcpy(b + 8, &v, 4);
	CU_ASSERT_EQUAL(recv_bytes(b, len), 0);
	memcpy(&v, b + 12, 4);
	memcpy(b + 12, &(uint32_t){9}, 4);
	CU_ASSERT_EQUAL(recv_bytes(b, len), -1);
	memcpy(b + 12, &v, 4);
	memcpy(&v, b + 20, 4);
	memcpy(b + 20, &(uint32_t){0xfffffff0u}, 4);
	CU_ASSERT_EQUAL(recv_bytes(b, len), -1);
	memcpy(b + 20, &v, 4);
	CU_ASSERT_EQUAL(recv_bytes(b, len), 0);
	/* The anchor's DER no longer a certificate. */
	b[24] ^= 0xff;
	CU_ASSERT_EQUAL(recv_bytes(b, len), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "malformed"));
	/* Too short, wrong magic. */
	CU_ASSERT_EQUAL(recv_bytes((const unsigned char *)"CPTRUST1", 8), -1);
	CU_ASSERT_EQUAL(
	    recv_bytes((const unsigned char *)"XPTRUST1\0\0\0\0", 12), -1);
	CU_ASSERT_EQUAL(
	    recv_bytes((const unsigned char *)"CPTRUST1\0\0\0\0", 12), 0);
	free(b);
}

static void
test_watch(void)
{
	struct cpconf *c;
	struct fwatch *w;
	char which[512];

	CU_ASSERT_EQUAL_FATAL(
	    sh("cp '%s/int.crl' '%s/w.crl' && cp '%s/ca.pem' '%s/w.pem' && "
	       "cp '%s/good.pem' '%s/c.pem' && cp '%s/good.key' '%s/c.key'",
	        rev, dir, pki, dir, rev, dir, rev, dir),
	    0);
	c = conf("ca-file \"%s/w.pem\"\n"
	         "destination a.example {\n"
	         "  crl-file \"%s/w.crl\"\n"
	         "  client-certificate \"%s/c.pem\" key \"%s/c.key\"\n"
	         "}\n",
	    dir, dir, dir, dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w = fwatch_conf(c));
	CU_ASSERT_EQUAL(fwatch_changed(w, which, sizeof(which)), 0);
	/* Rewritten in place, same size: the times tell. */
	CU_ASSERT_EQUAL(sh("cat '%s/w.crl' >'%s/x' && cat '%s/x' >'%s/w.crl'",
	                    dir, dir, dir, dir),
	    0);
	CU_ASSERT_EQUAL(fwatch_changed(w, which, sizeof(which)), 1);
	CU_ASSERT_STRING_EQUAL(which, tpath(dir, "w.crl"));
	CU_ASSERT_EQUAL(fwatch_changed(w, which, sizeof(which)), 0);
	/* Replaced by a rename. */
	CU_ASSERT_EQUAL(sh("cp '%s/w.pem' '%s/y' && mv '%s/y' '%s/w.pem'", dir,
	                    dir, dir, dir),
	    0);
	CU_ASSERT_EQUAL(fwatch_changed(w, which, sizeof(which)), 1);
	CU_ASSERT_STRING_EQUAL(which, tpath(dir, "w.pem"));
	/* The key, gone, then back. */
	CU_ASSERT_EQUAL(sh("mv '%s/c.key' '%s/c.key.old'", dir, dir), 0);
	CU_ASSERT_EQUAL(fwatch_changed(w, which, sizeof(which)), 1);
	CU_ASSERT_STRING_EQUAL(which, tpath(dir, "c.key"));
	CU_ASSERT_EQUAL(fwatch_changed(w, which, sizeof(which)), 0);
	CU_ASSERT_EQUAL(sh("mv '%s/c.key.old' '%s/c.key'", dir, dir), 0);
	CU_ASSERT_EQUAL(fwatch_changed(w, which, sizeof(which)), 1);
	CU_ASSERT_EQUAL(fwatch_changed(NULL, which, sizeof(which)), 0);
	fwatch_free(w);
	conf_free(c);
}

int
main(void)
{
	CU_pSuite s = cu_suite("trust data", suite_init, NULL);

	cu_test(s, "parent to engine, CRL files once", test_round_trip);
	cu_test(s, "bad CRL files: file:line errors", test_bad_files);
	cu_test(s, "bad trust store", test_bad_store);
	cu_test(s, "hostile bytes from the parent's memfd", test_hostile_blob);
	cu_test(s, "changed files are noticed", test_watch);
	return cu_finish();
}
