/* SPDX-License-Identifier: ISC */
/*
 * A client that speaks the wire protocol by hand, for tests that must
 * behave as no library would: flood, lie, stop half-way, never read.
 */
#ifndef RAWCLIENT_H
#define RAWCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "imsg.h"

struct cp_result;

/* A session whose reader keeps what it has not consumed yet. */
struct rawc {
	int fd;
	struct imsgbuf ib;
};

/* A connected session to the daemon's socket (blocking), or -1. */
int raw_open(const char *sockpath);
/* As raw_open, non-blocking. */
int raw_open_nb(const char *sockpath);
/* One frame, header and payload in one write; 0, or -1 (short write,
 * EAGAIN included). */
int raw_frame(int fd, uint32_t type, uint32_t id, const void *p, size_t len);
int raw_hello(int fd);
/* A CONNECT for host:port (tls 0/1) with request id. */
int raw_connect(int fd, uint32_t id, const char *host, uint16_t port, int tls);
/* raw_open() (nonblock: raw_open_nb()) into c: 0 or -1. */
int rawc_open(struct rawc *c, const char *sockpath, int nonblock);
void rawc_close(struct rawc *c);
/*
 * Read frames until a RESULT arrives (any id), the peer closes, or wait_ms
 * passes.  1 with *res filled (and *id), 0 on end of file, -1 on timeout
 * or error.  Descriptors that arrive are closed.
 */
int rawc_result(
    struct rawc *c, struct cp_result *res, uint32_t *id, int wait_ms);
/* Write ib's queue until it is empty, waiting for room: 0, or -1 with
 * errno.  (The daemon and the library never wait so: tests only.) */
int raw_flush(struct imsgbuf *ib);
/* The peer closed (EOF or reset) within wait_ms, reading what comes. */
int raw_closed(int fd, int wait_ms);

#endif
