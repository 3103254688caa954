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
#include "ev.h"
#include "log.h"

#define DEAL_BUDGET 64 /* clients per call: the parent has other work */
#define DEAL_MAXMSG 64 /* a frame is a bare header */
#define STALL_MS 20    /* a client unread this long: the engine is stalled */

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
	c->unread_since = 0;
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

/*
 * Whether the engine has left a client unread for STALL_MS (as far as the
 * parent looked): stopped, or stuck.  It is passed over while another is
 * not, so a stopped engine holds the few clients of its first moments.
 * Not reading at once is no sign: an engine woken a moment ago has not
 * run yet, and a burst would all go to the one that ran.
 */
static int
stalled(struct deal_chan *c, uint64_t now)
{
	int n;

	if (ioctl(c->ib->fd, SIOCOUTQ, &n) == -1 || n == 0) {
		c->unread_since = 0;
		return 0;
	}
	return c->unread_since != 0 && now - c->unread_since >= STALL_MS;
}

/* How far from next on the channel for the next client is, or -1 when
 * every one is blocked.  First choice: in turn, one not stalled. */
static int
pick(struct deal_chan *const *chans, int n, unsigned next)
{
	struct deal_chan *c;
	uint64_t now = ev_clock_ms();
	int i, any = -1;

	for (i = 0; i < n; i++) {
		c = chans[(next + (unsigned)i) % (unsigned)n];
		if (c->ib == NULL || deal_chan_blocked(c))
			continue;
		if (!stalled(c, now))
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
	struct deal_chan *c;
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
		c = chans[(*next + (unsigned)i) % (unsigned)n];
		give(c, fd);
		if (c->unread_since == 0)
			c->unread_since = ev_clock_ms(); /* unread from now */
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
