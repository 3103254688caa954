/* SPDX-License-Identifier: ISC */
/*
 * Proxy credentials (proxy-credentials in cpconnectd.conf(5)): the parent
 * reads the files, the engines get their contents over the channel
 * (ctl.h, CTL_PCRED) and never open a file.
 *
 * A file holds one line "user:password" (the first ':' ends the user),
 * each part 1..255 bytes without control characters, optionally followed
 * by a newline.  It must be a regular file of at most PCRED_MAX_FILE
 * bytes that others may not read and only its owner may write.  Contents
 * are never logged; every copy is wiped when it is freed.
 */
#ifndef CP_PCRED_H
#define CP_PCRED_H

#include <stddef.h>

#include "proxy.h"

#define PCRED_MAX_FILE 1024
#define PCRED_MAX_PATH 4096

struct cpconf;
struct pcred;

/* Parent: read every file the configuration names.  0, or -1 with err
 * ("file:line: proxy-credentials PATH: why"); *out NULL when none. */
int pcred_load(
    struct pcred **out, const struct cpconf *, char *err, size_t errsz);
/* Parent: CTL_PCRED for each, then CTL_PCRED_END.  0 or -1. */
int pcred_send(const struct pcred *, int fd);

/* Engine: receive them (blocking, bounded by timeout_ms).  0 or -1. */
int pcred_recv(
    struct pcred **out, int fd, int timeout_ms, char *err, size_t errsz);
/* The credentials of a file, borrowed from the table, or NULL. */
const struct proxy_cred *pcred_find(const struct pcred *, const char *path);
int pcred_count(const struct pcred *);

/* Wipes and frees; NULL is fine. */
void pcred_free(struct pcred *);

/* One file's contents parsed as above; 0 or -1 with a reason in why
 * that never quotes the contents. */
int pcred_parse(
    const char *text, size_t len, struct proxy_cred *c, const char **why);

#endif
