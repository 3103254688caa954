/* SPDX-License-Identifier: ISC */
/*
 * The parent deals clients to the engines.
 *
 * A session stays with the engine that took it.  When the engines
 * accepted for themselves, the kernel woke the first engine waiting on
 * the listening socket, and it took most of a burst while its siblings
 * idled: 626 ms of one engine's CPU against 32 ms of the other's in
 * bench_conc, 32 of 32 clients on one engine in test_service.  So the
 * parent accepts, and passes each client to the next engine of the
 * current generation in turn, passing over an engine that has left a
 * client unread for a while.  It reads nothing from a client: who it is
 * (SO_PEERCRED) and what it wants are the engine's business, and an
 * engine never holds the listening socket.
 *
 * The client channel is an engine's descriptor 3: a stream socket pair
 * that carries imsg frames (imsg.h) of type CTL_CLIENT, empty, each with
 * one descriptor.
 */
#ifndef CP_DEAL_H
#define CP_DEAL_H

#include <stdint.h>

#include "imsg.h"

/* The parent's end of one engine's client channel; a copy of it is the
 * same channel (the buffer, which points into itself, is not copied). */
struct deal_chan {
	struct imsgbuf *ib;    /* NULL once closed */
	uint64_t unread_since; /* ms: first seen with a client unread */
};

/* A new channel: the parent keeps c, *engine_end goes to the engine (the
 * caller closes it after the fork).  0, or -1 with errno. */
int deal_chan_open(struct deal_chan *c, int *engine_end);
void deal_chan_close(struct deal_chan *c);
/* The parent's socket of c, or -1. */
int deal_chan_fd(const struct deal_chan *c);
/* Whether a client waits in c for room in the socket. */
int deal_chan_blocked(const struct deal_chan *c);
/* Write what c holds (the socket is writable): 0, or -1 when the engine
 * is gone. */
int deal_chan_flush(struct deal_chan *c);

/*
 * Accept from the non-blocking lfd, a bounded number, and pass each
 * client to the next of the n channels from *next on that is not
 * blocked.  Stops when the backlog is empty or every channel is blocked.
 * Returns the number dealt, or -1 when accept failed for want of
 * descriptors or memory: then wait a moment before the next call.
 */
int deal_clients(
    int lfd, struct deal_chan *const *chans, int n, unsigned *next);

/* Engine: read clients from fd, its end of the channel (non-blocking). */
void deal_engine_init(struct imsgbuf *ib, int fd);
/* Engine: the next client from its channel: a descriptor; or -1 with
 * errno EAGAIN (none now), 0 (the parent is gone) or the error. */
int deal_next(struct imsgbuf *ib);

#endif
