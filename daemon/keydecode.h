/* SPDX-License-Identifier: ISC */
/*
 * The public keys of the certificates an engine parses, decoded by
 * OpenSSL's own EC and RSA code (keydecode.c): a handshake parses every
 * certificate the server sends, and OpenSSL 3.0's generic decoder costs
 * several times the handshake's own work on them.
 */
#ifndef CP_KEYDECODE_H
#define CP_KEYDECODE_H

#include <stddef.h>

/* Once per process, before any certificate is parsed.  0, or -1 with
 * err: the process then decodes as before, only slower. */
int keydecode_init(char *err, size_t errsz);

#endif
