/* SPDX-License-Identifier: ISC */
/*
 * Our implementation of the OpenBSD imsg wire format.
 *
 * Frame: a 16-byte header in host byte order followed by the payload.
 *   u32 type; u32 len; u32 peerid; u32 pid;
 * len counts header and payload.  Bit 31 of len (IMSG_FD_MARK) says that a
 * descriptor travels with the frame; it is sent with the frame's first byte.
 * At most one descriptor per frame.
 *
 * The buffers work on blocking and non-blocking sockets: imsg_read() does
 * at most one system call, imsg_write() writes until the queue is empty or
 * the socket would block; both report EAGAIN.
 */
#ifndef CP_IMSG_H
#define CP_IMSG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define IMSG_HDR_SIZE 16
#define IMSG_FD_MARK 0x80000000u
#define IMSG_MAX_FDQ 8 /* descriptors received but not yet claimed */

struct imsg_hdr {
	uint32_t type;
	uint32_t len;
	uint32_t peerid;
	uint32_t pid;
};

struct imsg {
	struct imsg_hdr hdr; /* len without IMSG_FD_MARK */
	int fd;		     /* -1 or the descriptor; owned by the caller */
	const unsigned char *data;
	size_t datalen;
};

struct imsg_wmsg;

struct imsgbuf {
	int fd;
	int accept_fds; /* 0: any descriptor received is a protocol error */
	size_t maxmsg;	/* frames above this are refused (header included) */

	unsigned char *rbuf;
	size_t rcap, rpos, rlen; /* unparsed bytes are rbuf[rpos..rlen) */
	uint64_t rbase;		 /* stream offset of rbuf[0] */
	struct {
		int fd;
		uint64_t lo, hi; /* stream range of the recvmsg() it came in */
	} rfds[IMSG_MAX_FDQ];
	int nrfds;

	struct imsg_wmsg *whead, **wtail;
	size_t wqueued; /* bytes queued for writing */
};

void imsgbuf_init(struct imsgbuf *, int fd, size_t maxmsg);
/* Free buffers and queued descriptors; does not close ib->fd. */
void imsgbuf_clear(struct imsgbuf *);

/*
 * Read once from the socket.  Returns bytes read (> 0), 0 on end of file,
 * -1 on error with errno (EAGAIN included).  A truncated control message
 * (descriptor limit reached) is reported as -1 with errno EMFILE: the
 * descriptor is lost and the stream can no longer be trusted.
 */
ssize_t imsg_read(struct imsgbuf *);

/*
 * Take the next complete frame.  Returns 1 and fills *m, 0 if more bytes are
 * needed, -1 on a protocol error with errno:
 *   EBADMSG  bad length, missing descriptor or descriptor not expected
 *   EMSGSIZE frame larger than ib->maxmsg
 * m->data points into the buffer and is valid until the next imsg_read() or
 * imsg_get().  m->fd belongs to the caller.
 */
int imsg_get(struct imsgbuf *, struct imsg *m);

/*
 * Queue one frame.  fd (or -1) is sent with it and closed once sent unless
 * the caller keeps a dup.  Returns 0, or -1 with errno (EMSGSIZE, ENOMEM);
 * on failure fd is closed as well, so it is never leaked.
 */
int imsg_compose(struct imsgbuf *, uint32_t type, uint32_t peerid,
    uint32_t pid, int fd, const void *data, size_t len);

/* Write queued frames until done or the socket would block.  Returns 0
 * when all is written, 1 when bytes remain (errno EAGAIN), -1 on error
 * with errno. */
int imsg_write(struct imsgbuf *);

static inline int
imsg_pending(const struct imsgbuf *ib)
{
	return ib->whead != NULL;
}

#endif
