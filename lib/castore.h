/* SPDX-License-Identifier: ISC */
/*
 * Client-supplied trust anchors (CA_file / CA_path of cp_client_create_ssl).
 *
 * The daemon never opens a client's paths: the library reads them here and
 * sends the certificates as DER.  Every certificate found is an anchor, as
 * with OpenSSL's CAfile; duplicates count once.
 */
#ifndef CP_CASTORE_H
#define CP_CASTORE_H

#include <stddef.h>

#include "cahash.h"

/* Limits on what the library reads (besides CP_MAX_CA_CERTS, CP_MAX_CERT). */
#define CA_MAX_FILE (8 * 1024 * 1024)   /* one file */
#define CA_MAX_TOTAL (64 * 1024 * 1024) /* all files of one set */
#define CA_MAX_DIRENT 20000             /* entries in CA_path */

/*
 * n distinct certificates, DER, sorted by SHA-256(DER) ascending; hash is
 * their set hash (cp_ca_set_hash).
 */
struct ca_set {
	unsigned char **der;
	size_t *len;
	size_t n;
	unsigned char hash[CP_CA_HASH_LEN];
};

/*
 * The anchors of ca_file (a PEM bundle) and/or every regular file of the
 * directory ca_path (either may be NULL, not both), through a process-wide
 * cache, valid while the file and the directory keep their device, inode,
 * size and times.  Returns a shared, read-only set to release with
 * ca_set_put, or NULL with a message in err.  Thread-safe.
 */
const struct ca_set *ca_set_get(
    const char *ca_file, const char *ca_path, char *err, size_t errsz);
void ca_set_put(const struct ca_set *set);

#ifdef CP_TEST_HOOKS
/* The same read, uncached, into *set: 0, or -1 with a message in err and
 * *set empty.  Release with ca_set_free. */
int ca_set_load(struct ca_set *set, const char *ca_file, const char *ca_path,
    char *err, size_t errsz);
#endif
void ca_set_free(struct ca_set *set);
/* Forget every cached set; sets still held stay valid until put. */
void ca_cache_clear(void);

#endif
