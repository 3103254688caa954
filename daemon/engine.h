/* SPDX-License-Identifier: ISC */
/*
 * An engine: one event loop that takes the clients the parent deals it,
 * decodes their requests and carries each one through policy -> resolve
 * -> dial -> tls -> reply.
 */
#ifndef CP_ENGINE_H
#define CP_ENGINE_H

#include <stdint.h>

#include <openssl/ssl.h>

#include "ctl.h"

struct cpconf;
struct keyring;
struct trust;
struct pcred;

struct engine_env {
	int id;			/* engine number, for logs */
	int nengines;		/* engines in this generation */
	int clients;            /* client channel from the parent (deal.h) */
	int ctlfd;		/* channel to the parent, or -1 */
	const struct cpconf *conf;
	SSL_CTX *ssl;		/* client context with the trust store */
	struct keyring *keys;	/* client certificates (keyring.h), or NULL */
	const struct trust *trust; /* anchors and CRLs (trust.h), or NULL */
	struct pcred *creds;	/* proxy credentials (pcred.h), or NULL */
	const char *resolvers;	/* c-ares server list, NULL: system */
};

/* Run until told to stop (SIGTERM, or the parent's channel closing).
 * Returns the exit status. */
int engine_run(const struct engine_env *);

#endif
