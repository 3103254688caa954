/* SPDX-License-Identifier: ISC */
/*
 * Dealing clients to the engines (deal.h): the parent's accept and hand
 * over, and the engine's receipt.
 */
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <linux/sockios.h>

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "ctl.h"
#include "deal.h"
#include "log.h"

#define DEAL_BUDGET 64 /* clients per call: the parent has other work */
#define DEAL_MAXMSG 64 /* a frame is a bare header */

int
deal_chan_open(struct deal_chan *c, int *engine_end)
{
	int sv[2];

	if ((c->ib = malloc(sizeof(*c->ib))) == NULL)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
	        sv) == -1) {
		free(c->ib);
		c->ib = NULL;
		return -1;
	}
	imsgbuf_init(c->ib, sv[0], DEAL_MAXMSG);
	*engine_end = sv[1];
	return 0;
}

void
deal_chan_close(struct deal_chan *c)
{
	/* Clients still queued here close with it: the library replays a
	 * request that no engine answered. */
	if (c->ib == NULL)
		return;
	imsgbuf_clear(c->ib);
	close(c->ib->fd);
	free(c->ib);
	c->ib = NULL;
}

int
deal_chan_fd(const struct deal_chan *c)
{
	return c->ib != NULL ? c->ib->fd : -1;
}

int
deal_chan_blocked(const struct deal_chan *c)
{
	return c->ib != NULL && imsg_pending(c->ib);
}

int
deal_chan_flush(struct deal_chan *c)
{
	if (c->ib == NULL || imsg_write(c->ib) == -1)
		return -1;
	return 0;
}

/* Whether the engine has read everything dealt to it so far.  One that
 * has not is busy or stopped: while another keeps up, it is passed over,
 * so a stopped engine holds at most the one client it did not read. */
static int
caught_up(const struct deal_chan *c)
{
	int n;

	return ioctl(c->ib->fd, SIOCOUTQ, &n) == 0 && n == 0;
}

/* How far from next on the channel for the next client is, or -1 when
 * every one is blocked.  First choice: in turn, one that keeps up. */
static int
pick(struct deal_chan *const *chans, int n, unsigned next)
{
	const struct deal_chan *c;
	int i, any = -1;

	for (i = 0; i < n; i++) {
		c = chans[(next + (unsigned)i) % (unsigned)n];
		if (c->ib == NULL || deal_chan_blocked(c))
			continue;
		if (caught_up(c))
			return i;
		if (any == -1)
			any = i;
	}
	return any;
}

/* Hand fd to c; it is closed here either way.  A channel that would
 * block keeps the client queued until deal_chan_flush(). */
static void
give(struct deal_chan *c, int fd)
{
	if (imsg_compose(c->ib, CTL_CLIENT, 0, 0, fd, NULL, 0) == -1 ||
	    imsg_write(c->ib) == -1) {
		log_warn("passing a client to an engine");
		return;
	}
	/* imsg_write() closed fd once it was sent. */
}

int
deal_clients(int lfd, struct deal_chan *const *chans, int n, unsigned *next)
{
	int fd, i, dealt = 0;

	while (dealt < DEAL_BUDGET && (i = pick(chans, n, *next)) != -1) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EAGAIN || errno == EINTR ||
			    errno == ECONNABORTED)
				break;
			/* Out of descriptors or memory: the backlog stays
			 * readable, so the caller pauses. */
			log_warn("accept");
			return -1;
		}
		/* The turn moves on only for a client dealt. */
		give(chans[(*next + (unsigned)i) % (unsigned)n], fd);
		*next = (*next + (unsigned)i + 1) % (unsigned)n;
		dealt++;
	}
	return dealt;
}

void
deal_engine_init(struct imsgbuf *ib, int fd)
{
	imsgbuf_init(ib, fd, DEAL_MAXMSG);
	ib->accept_fds = 1;
}

int
deal_next(struct imsgbuf *ib)
{
	struct imsg m;
	ssize_t n;
	int got, reads = 0;

	for (;;) {
		while ((got = imsg_get(ib, &m)) == 1) {
			if (m.hdr.type == CTL_CLIENT && m.fd != -1)
				return m.fd;
			if (m.fd != -1)
				close(m.fd);
		}
		if (got == -1)
			return -1;
		/* One read per call, a second if the first brought only
		 * part of a frame. */
		if (reads++ == 2) {
			errno = EAGAIN;
			return -1;
		}
		if ((n = imsg_read(ib)) == 0)
			errno = 0;
		if (n <= 0)
			return -1;
	}
}
