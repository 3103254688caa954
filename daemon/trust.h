/* SPDX-License-Identifier: ISC */
/*
 * Trust data: the trust store (ca-file, ca-path, or the default bundle)
 * and the certificate revocation lists of every crl-file.
 *
 * The parent reads and checks every file (trust_load), and hands the
 * engines the result as a sealed memfd of DER objects (trust_memfd); an
 * engine decodes it (trust_recv) and never opens a file of its own.  A
 * broken or oversized file is an error of the configuration line that
 * names it ("file:line: crl-file PATH: ..."), so a reload or a refresh with
 * a broken file keeps the data the engines have.
 *
 * The parent also remembers what it read (fwatch): device, inode, size,
 * modification and change times of each file, including the client
 * certificates and keys, so that it notices a file replaced or rewritten
 * and reloads that data without a SIGHUP (cpconnectd.c).
 *
 * Bounds, as every file may be hostile: TRUST_MAX_FILE bytes per file,
 * TRUST_MAX_TOTAL bytes of DER in all, TRUST_MAX_OBJECTS certificates and
 * CRLs, TRUST_DIR_MAX_FILES files in a ca-path directory.
 */
#ifndef CP_TRUST_H
#define CP_TRUST_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

struct cpconf;

#define TRUST_MAX_FILE (16 * 1024 * 1024)
#define TRUST_MAX_TOTAL (64 * 1024 * 1024)
#define TRUST_MAX_OBJECTS 100000
#define TRUST_DIR_MAX_FILES 10000
#define TRUST_MAX_WATCH 4096 /* files watched for changes */

struct trust;

/* Parent: read the trust store and every crl-file of cf.  0, or -1 with
 * err set. */
int trust_load(
    struct trust **out, const struct cpconf *cf, char *err, size_t errsz);
/* A sealed, read-only memfd holding the data, for an engine; -1 and err. */
int trust_memfd(const struct trust *, char *err, size_t errsz);
/* What was loaded, for the log. */
size_t trust_nanchors(const struct trust *);
size_t trust_ncrls(const struct trust *);

/* Engine: decode what trust_memfd() wrote, read from fd (not closed).
 * 0, or -1 with err set. */
int trust_recv(struct trust **out, int fd, char *err, size_t errsz);
/* The trust anchors; borrowed. */
X509_STORE *trust_store(const struct trust *);
/* The CRLs of the crl-file at path; borrowed; NULL when it is unknown.
 * A file with no CRL is an error at load time, never an empty stack. */
STACK_OF(X509_CRL) *trust_crls(const struct trust *, const char *path);

/* Every CRL with its file's path, into md: a cached TLS session is good
 * only for the CRLs it was checked against (resume.c). */
void trust_crl_digest(const struct trust *, EVP_MD_CTX *md);

void trust_free(struct trust *);

/*
 * The files behind a configuration's data: the trust store (the
 * directory of ca-path and each file in it), every crl-file, every client
 * certificate and key.  Taken before the data is read, so a change made
 * while it is read is seen at the next look.
 */
struct fwatch;

struct fwatch *fwatch_conf(const struct cpconf *cf);
/*
 * 1 when a file changed since the last call (or since fwatch_conf), and
 * its path in which; the new state is remembered either way, so a file
 * that stays broken is reported once.  0 when nothing changed.
 */
int fwatch_changed(struct fwatch *, char *which, size_t whichsz);
void fwatch_free(struct fwatch *);

#endif
