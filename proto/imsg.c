/* SPDX-License-Identifier: ISC */
/*
 * imsg framing with descriptor passing.  See imsg.h for the format.
 *
 * Descriptor bookkeeping: Linux may return the bytes of several sendmsg()
 * calls in one recvmsg(), so a received descriptor is only known to belong
 * to some byte in the range that recvmsg() returned.  We remember that range
 * and let the first marked frame starting inside it claim the descriptor.
 * A descriptor whose range is passed without being claimed, or a marked
 * frame without a descriptor, is a protocol error: never a silent loss.
 */
#include <sys/socket.h>
#include <sys/uio.h>


#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg.h"

#define RBUF_MIN 4096
#define WIOV_MAX 16
#define CMSG_FDS 4 /* room to detect (and close) a burst of descriptors */

struct imsg_wmsg {
	struct imsg_wmsg *next;
	int fd;
	size_t len, off;
	unsigned char buf[]; /* header + payload */
};

void
imsgbuf_init(struct imsgbuf *ib, int fd, size_t maxmsg)
{
	memset(ib, 0, sizeof(*ib));
	ib->fd = fd;
	/* Bit 31 of the length is the descriptor mark. */
	ib->maxmsg = maxmsg > 0x7fffffff ? 0x7fffffff : maxmsg;
	ib->wtail = &ib->whead;
}

void
imsgbuf_clear(struct imsgbuf *ib)
{
	struct imsg_wmsg *w, *next;
	int i;

	for (w = ib->whead; w != NULL; w = next) {
		next = w->next;
		if (w->fd != -1)
			close(w->fd);
		free(w);
	}
	ib->whead = NULL;
	ib->wtail = &ib->whead;
	ib->wqueued = 0;
	for (i = 0; i < ib->nrfds; i++)
		close(ib->rfds[i].fd);
	ib->nrfds = 0;
	free(ib->rbuf);
	ib->rbuf = NULL;
	ib->rcap = ib->rpos = ib->rlen = 0;
}

static void
rfd_drop_head(struct imsgbuf *ib)
{
	memmove(&ib->rfds[0], &ib->rfds[1],
	    (size_t)(ib->nrfds - 1) * sizeof(ib->rfds[0]));
	ib->nrfds--;
}

/* Make room for at least one more byte; grow up to what a maximal frame
 * needs so that a frame never has to be assembled elsewhere. */
static int
rbuf_room(struct imsgbuf *ib)
{
	size_t want;
	unsigned char *p;

	if (ib->rpos > 0) {
		memmove(ib->rbuf, ib->rbuf + ib->rpos, ib->rlen - ib->rpos);
		ib->rlen -= ib->rpos;
		ib->rbase += ib->rpos;
		ib->rpos = 0;
	}
	if (ib->rlen < ib->rcap)
		return 0;
	want = ib->rcap ? ib->rcap * 2 : RBUF_MIN;
	if (want > ib->maxmsg + IMSG_HDR_SIZE)
		want = ib->maxmsg + IMSG_HDR_SIZE;
	if (want <= ib->rcap) {
		/* Full of bytes that imsg_get() should have consumed. */
		errno = EMSGSIZE;
		return -1;
	}
	if ((p = realloc(ib->rbuf, want)) == NULL)
		return -1;
	ib->rbuf = p;
	ib->rcap = want;
	return 0;
}

static int
take_fds(struct imsgbuf *ib, struct msghdr *mh, size_t n)
{
	struct cmsghdr *c;
	int bad = 0;

	for (c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
		size_t i, nfd;
		int fds[CMSG_FDS];

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (nfd > CMSG_FDS)
			nfd = CMSG_FDS;
		memcpy(fds, CMSG_DATA(c), nfd * sizeof(int));
		for (i = 0; i < nfd; i++) {
			if (!ib->accept_fds || nfd > 1 ||
			    ib->nrfds == IMSG_MAX_FDQ) {
				close(fds[i]);
				bad = 1;
				continue;
			}
			ib->rfds[ib->nrfds].fd = fds[i];
			ib->rfds[ib->nrfds].lo = ib->rbase + ib->rlen;
			ib->rfds[ib->nrfds].hi = ib->rbase + ib->rlen + n;
			ib->nrfds++;
		}
	}
	if (mh->msg_flags & MSG_CTRUNC) {
		errno = EMFILE;
		return -1;
	}
	if (bad) {
		errno = EBADMSG;
		return -1;
	}
	return 0;
}

ssize_t
imsg_read(struct imsgbuf *ib)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int) * CMSG_FDS)];
	} cm;
	struct msghdr mh;
	struct iovec iov;
	ssize_t n;

	if (rbuf_room(ib) == -1)
		return -1;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = ib->rbuf + ib->rlen;
	iov.iov_len = ib->rcap - ib->rlen;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof(cm.buf);
	do {
		n = recvmsg(ib->fd, &mh, MSG_CMSG_CLOEXEC);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	if (take_fds(ib, &mh, (size_t)n) == -1)
		return -1;
	ib->rlen += (size_t)n;
	return n;
}

int
imsg_get(struct imsgbuf *ib, struct imsg *m)
{
	struct imsg_hdr h;
	uint64_t start = ib->rbase + ib->rpos;
	size_t avail = ib->rlen - ib->rpos, len;
	int hasfd;

	/* A descriptor whose bytes have all been consumed was not claimed. */
	if (ib->nrfds > 0 && ib->rfds[0].hi <= start) {
		errno = EBADMSG;
		return -1;
	}
	if (avail < IMSG_HDR_SIZE)
		return 0;
	memcpy(&h, ib->rbuf + ib->rpos, sizeof(h));
	hasfd = (h.len & IMSG_FD_MARK) != 0;
	len = h.len & ~IMSG_FD_MARK;
	if (len < IMSG_HDR_SIZE) {
		errno = EBADMSG;
		return -1;
	}
	if (len > ib->maxmsg) {
		errno = EMSGSIZE;
		return -1;
	}
	if (avail < len)
		return 0;

	m->fd = -1;
	if (hasfd) {
		if (ib->nrfds == 0 || ib->rfds[0].lo > start ||
		    ib->rfds[0].hi <= start) {
			errno = EBADMSG;
			return -1;
		}
		m->fd = ib->rfds[0].fd;
		rfd_drop_head(ib);
	} else if (ib->nrfds > 0 && ib->rfds[0].hi <= start + len) {
		/* A descriptor came with this unmarked frame: no later
		 * frame can claim it.  Refuse before the frame is used. */
		errno = EBADMSG;
		return -1;
	}
	h.len = (uint32_t)len;
	m->hdr = h;
	m->data = ib->rbuf + ib->rpos + IMSG_HDR_SIZE;
	m->datalen = len - IMSG_HDR_SIZE;
	ib->rpos += len;
	return 1;
}

int
imsg_compose(struct imsgbuf *ib, uint32_t type, uint32_t peerid, uint32_t pid,
    int fd, const void *data, size_t len)
{
	struct imsg_wmsg *w;
	struct imsg_hdr h;

	if (len > ib->maxmsg - IMSG_HDR_SIZE || len > ib->maxmsg) {
		if (fd != -1)
			close(fd);
		errno = EMSGSIZE;
		return -1;
	}
	if ((w = malloc(sizeof(*w) + IMSG_HDR_SIZE + len)) == NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	h.type = type;
	h.len = (uint32_t)(IMSG_HDR_SIZE + len) | (fd != -1 ? IMSG_FD_MARK : 0);
	h.peerid = peerid;
	h.pid = pid;
	memcpy(w->buf, &h, sizeof(h));
	if (len > 0)
		memcpy(w->buf + IMSG_HDR_SIZE, data, len);
	w->next = NULL;
	w->fd = fd;
	w->len = IMSG_HDR_SIZE + len;
	w->off = 0;
	*ib->wtail = w;
	ib->wtail = &w->next;
	ib->wqueued += w->len;
	return 0;
}

/* One sendmsg(): -1 error, 0 queue empty, 1 progress and more queued,
 * 2 the socket would block. */
static int
write_once(struct imsgbuf *ib)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov[WIOV_MAX];
	struct msghdr mh;
	struct imsg_wmsg *w;
	ssize_t n;
	size_t left;
	int i = 0;

	if (ib->whead == NULL)
		return 0;
	memset(&mh, 0, sizeof(mh));
	/* A descriptor goes with its frame's first byte, so a frame carrying
	 * one always starts a sendmsg() and ends the previous one. */
	for (w = ib->whead; w != NULL && i < WIOV_MAX; w = w->next) {
		if (w->fd != -1 && i > 0)
			break;
		iov[i].iov_base = w->buf + w->off;
		iov[i].iov_len = w->len - w->off;
		i++;
	}
	mh.msg_iov = iov;
	mh.msg_iovlen = (size_t)i;
	if (ib->whead->fd != -1) {
		struct cmsghdr *c;

		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &ib->whead->fd, sizeof(int));
	}
	do {
		n = sendmsg(ib->fd, &mh, MSG_NOSIGNAL);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return errno == EAGAIN ? 2 : -1;

	if (ib->whead->fd != -1) {
		close(ib->whead->fd);
		ib->whead->fd = -1;
	}
	left = (size_t)n;
	ib->wqueued -= left;
	while ((w = ib->whead) != NULL && left >= w->len - w->off) {
		left -= w->len - w->off;
		ib->whead = w->next;
		free(w);
	}
	if (ib->whead == NULL)
		ib->wtail = &ib->whead;
	else
		ib->whead->off += left;
	return ib->whead != NULL;
}

/* A frame with a descriptor starts its own sendmsg(): keep going while
 * the socket takes more, so no frame waits behind the one before it. */
int
imsg_write(struct imsgbuf *ib)
{
	int r;

	while ((r = write_once(ib)) == 1)
		;
	if (r == 2) {
		errno = EAGAIN;
		return 1;
	}
	return r;
}

