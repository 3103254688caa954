/* SPDX-License-Identifier: ISC */
/*
 * Fuzz target: the hand-off as the library sees daemon bytes (see README).
 *
 * The harness plays cpconnectd on a Unix socket.  A program's connect goes
 * through the public event-loop API (cp_client_connect_start, then
 * cp_client_connect_finish until done: what cp_client_connect is made of),
 * so every daemon byte meets lib/session.c (framing, HELLO, PEER_CERT,
 * TLS_STATE, RESULT with the socket, NEED_CA and the client's anchors) and
 * lib/client.c (adoption: the leaf certificate decoded, the cp_tls_state
 * installed in a record layer by tls_rec_new), then the program reads and
 * writes a little on the connection it got.
 *
 * The first byte selects:
 *   bit 0  TLS (cp_client_create_ssl), else plain TCP
 *   bit 1  SSL_VERIFY_NONE, else SSL_VERIFY_PEER
 *   bit 2  the client brings its own trust anchor (CA_file), which the
 *          daemon may ask for (RESULT status NEED_CA)
 *   bit 3  raw mode: the next two bytes are an offset (big-endian), the
 *          rest is the daemon's byte stream; the connection's socket
 *          travels with the byte at that offset, if there is one
 *   bit 4  TLS 1.3 keys in a TLS_STATE are made to match its secrets,
 *          as the daemon's do (the library takes the keys as sent and
 *          derives from the secrets only at a KeyUpdate)
 * Without raw mode the rest is a list of records, see daemon_op.  A fresh
 * session has request id 1, which raw-mode inputs can rely on.
 *
 * A daemon that closes the session before answering makes the library
 * send the request again on a new one (lib/session.c, REPLAYS): the
 * harness accepts those and closes them unanswered.
 *
 * Properties checked besides the sanitizers: what the library sends is
 * well formed (HELLO first, then CONNECT for this host, and CA_CERT and
 * CA_END only when asked, all with one request id); at most 1 + REPLAYS
 * sessions per connect, each one accepted while the connect runs; the
 * documented return values and a message with every error;
 * on a plain connection bytes pass unchanged both ways; no descriptor
 * leaks once the client is destroyed and the pool emptied.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cprops/client.h>

#include "fuzzcert.h"
#include "imsg.h"
#include "msg.h"
#include "record.h"
#include "kdf.h"
#include "session.h"

#define HOST "fuzz.example"
#define PORT 443
#define MAX_STEPS 100000
#define REPLAYS 2 /* lib/session.c's */

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_at(int cond, const char *what, int line)
{
	if (!cond) {
		fprintf(stderr, "fuzz_handoff.c:%d: check failed: %s\n", line,
		    what);
		abort();
	}
}
#define check(c) check_at((c) != 0, #c, __LINE__)

/* ---- the daemon's socket, made once ---- */

static char dir[64], sock_path[96], ca_path[96];
static int lfd = -1;
static pid_t owner;

static void
cleanup(void)
{
	/* not in a corpus runner's children: they share the parent's */
	if (getpid() != owner)
		return;
	unlink(sock_path);
	unlink(ca_path);
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sockaddr_un sun;
	FILE *f;

	snprintf(dir, sizeof(dir), "/tmp/fuzz_handoff.XXXXXX");
	check(mkdtemp(dir) != NULL);
	snprintf(sock_path, sizeof(sock_path), "%s/cpconnect.sock", dir);
	snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", dir);
	owner = getpid();
	atexit(cleanup);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	check(lfd != -1);
	check(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	check(listen(lfd, 16) == 0);
	check(cp_client_set_socket_path(sock_path) == 0);
	check((f = fopen(ca_path, "w")) != NULL);
	check(fputs(fuzz_cert_pem, f) >= 0 && fclose(f) == 0);
	return 0;
}

/* ---- what the daemon sends: bytes, with descriptors at some offsets ---- */

struct outq {
	uint8_t *buf;
	size_t len, off;
	struct {
		size_t at;
		int fd;
	} fds[64];
	int nfds, nextfd;
};

static void
out_add(struct outq *o, const void *p, size_t n)
{
	if (n == 0)
		return;
	check((o->buf = realloc(o->buf, o->len + n)) != NULL);
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

/* A descriptor goes with the byte at the current end; one per frame. */
static int
out_fd(struct outq *o, int fd)
{
	if (o->nfds == (int)(sizeof(o->fds) / sizeof(o->fds[0]))) {
		close(fd);
		return 0;
	}
	o->fds[o->nfds].at = o->len;
	o->fds[o->nfds++].fd = fd;
	return 1;
}

/* Send what the socket takes, non-blocking: 1 if bytes went out.  A
 * descriptor starts a sendmsg() of its own, like imsg_write(). */
static int
out_write(struct outq *o, int s)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *c;
	size_t end = o->len;
	ssize_t w;
	int withfd;

	if (o->off == o->len)
		return 0;
	withfd = o->nextfd < o->nfds && o->fds[o->nextfd].at == o->off;
	if (o->nextfd + withfd < o->nfds)
		end = o->fds[o->nextfd + withfd].at;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = o->buf + o->off;
	iov.iov_len = end - o->off;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (withfd) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &o->fds[o->nextfd].fd, sizeof(int));
	}
	w = sendmsg(s, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w == -1) {
		/* the library may have closed the session already */
		check(errno == EAGAIN || errno == EPIPE || errno == ECONNRESET);
		if (errno != EAGAIN)
			o->off = o->len; /* nobody reads any more */
		return 0;
	}
	if (withfd) {
		close(o->fds[o->nextfd].fd);
		o->fds[o->nextfd++].fd = -1;
	}
	o->off += (size_t)w;
	return w > 0;
}

static void
out_free(struct outq *o)
{
	int i;

	for (i = 0; i < o->nfds; i++)
		if (o->fds[i].fd != -1)
			close(o->fds[i].fd);
	free(o->buf);
}

/* ---- one connect ---- */

struct run {
	uint8_t mode;
	int tls, ca;
	cp_client *c;
	int srv;              /* our end of the library's session */
	int conn[2];          /* the connection: passed, ours */
	struct imsgbuf rx;    /* from the library */
	struct outq out;      /* to the library */
	uint32_t id;          /* the library's request id */
	int hellos, connects; /* what the library sent */
	int need_ca;          /* RESULT NEED_CA frames we sent */
	int ca_certs, ca_ends;
	int lib_eof;
	uint8_t *stream; /* bytes for the connection, after */
	size_t streamlen;
};

/* What the library sends us: always well formed. */
static void
library_frames(struct run *k)
{
	struct cp_connect cn;
	struct cp_hello h;
	struct imsg m;
	const unsigned char *der;
	unsigned char hash[CP_HASH_LEN];
	size_t dlen;
	char err[256];
	ssize_t n;
	int r;

	while (!k->lib_eof) {
		n = imsg_read(&k->rx);
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0) {
			/* gone: a broken session is closed, not reused */
			check(n == 0 || errno == ECONNRESET);
			k->lib_eof = 1;
			return;
		}
		while ((r = imsg_get(&k->rx, &m)) == 1) {
			check(m.fd == -1);
			switch (m.hdr.type) {
			case CP_MSG_HELLO:
				check(k->hellos++ == 0 && k->connects == 0);
				check(m.hdr.peerid == 0);
				check(cp_hello_decode(m.data, m.datalen, &h,
				          err, sizeof(err)) == 0);
				check(h.version == CP_PROTO_VERSION);
				break;
			case CP_MSG_CONNECT:
				check(k->hellos == 1);
				check(cp_connect_decode(m.data, m.datalen, &cn,
				          err, sizeof(err)) == 0);
				check(strcmp(cn.host, HOST) == 0 &&
				      cn.port == PORT);
				check(cn.tls == k->tls);
				check(cn.has_ca_hash == (k->tls && k->ca));
				if (k->connects++ == 0)
					k->id = m.hdr.peerid;
				check(m.hdr.peerid == k->id && k->id != 0);
				/* again: only after the anchors */
				check(k->connects == 1 + k->ca_ends);
				break;
			case CP_MSG_CA_CERT:
				check(k->tls && k->ca && k->need_ca > 0);
				check(m.hdr.peerid == k->id);
				check(cp_cert_decode(m.data, m.datalen, &der,
				          &dlen, err, sizeof(err)) == 0);
				k->ca_certs++;
				break;
			case CP_MSG_CA_END:
				check(k->ca_certs == 1 && k->ca_ends++ == 0);
				check(m.hdr.peerid == k->id);
				check(cp_ca_end_decode(m.data, m.datalen, hash,
				          err, sizeof(err)) == 0);
				break;
			default:
				check(0);
			}
		}
		check(r == 0);
	}
}

/* A request sent again on a new session: it must be a request like the
 * first; this daemon hangs up without an answer. */
static int
replayed(void)
{
	struct cp_connect cn;
	struct imsgbuf ib;
	struct imsg m;
	char err[256];
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	int hello = 0, conn = 0;

	if (fd == -1) {
		check(errno == EAGAIN);
		return 0;
	}
	imsgbuf_init(&ib, fd, CP_MAX_MSG);
	/* the library wrote HELLO and CONNECT before it returned */
	while (conn == 0 && imsg_read(&ib) > 0)
		while (imsg_get(&ib, &m) == 1) {
			check(m.fd == -1);
			if (m.hdr.type == CP_MSG_HELLO)
				check(hello++ == 0);
			else {
				check(
				    hello == 1 && m.hdr.type == CP_MSG_CONNECT);
				check(cp_connect_decode(m.data, m.datalen, &cn,
				          err, sizeof(err)) == 0);
				check(strcmp(cn.host, HOST) == 0);
				conn++;
			}
		}
	check(conn == 1);
	imsgbuf_clear(&ib);
	close(fd);
	return 1;
}

/* Mode bit 4: derive the TLS 1.3 keys of a TLS_STATE from its secrets. */
static void
fix_keys(const uint8_t **p, size_t *n, struct abuf *b)
{
	const struct rec_suite *s;
	struct cp_tls_state st;
	struct cp_tls_dir *d[2];
	size_t hl;
	int i;

	if (cp_tls_state_decode(*p, *n, &st, NULL, 0) == -1)
		return;
	s = rec_suite_find(st.cipher);
	if (s == NULL || s->version != REC_V13 || st.version != REC_V13)
		goto out;
	hl = strcmp(s->md, "SHA384") == 0 ? 48 : 32;
	d[0] = &st.tx;
	d[1] = &st.rx;
	for (i = 0; i < 2; i++) {
		if (d[i]->secretlen != hl)
			goto out;
		d[i]->keylen = s->keylen;
		check(tls_rec_expand_label(s->md, d[i]->secret, hl, "key", NULL,
		          0, d[i]->key, s->keylen) == 0);
		check(tls_rec_expand_label(s->md, d[i]->secret, hl, "iv", NULL,
		          0, d[i]->iv, CP_IV_LEN) == 0);
	}
	cp_tls_state_encode(b, &st);
	check(!abuf_failed(b));
	*p = b->buf;
	*n = b->len;
out:
	cp_tls_state_wipe(&st);
}

struct in {
	const uint8_t *p;
	size_t n;
};

static unsigned
get8(struct in *in)
{
	unsigned v = 0;

	if (in->n > 0) {
		v = in->p[0];
		in->p++;
		in->n--;
	}
	return v;
}

static const uint8_t *
take16(struct in *in, size_t *n)
{
	const uint8_t *p;

	*n = get8(in);
	*n = *n << 8 | get8(in);
	if (*n > in->n)
		*n = in->n;
	p = in->p;
	in->p += *n;
	in->n -= *n;
	return p;
}

/* The connection's socket, for a frame that carries one. */
static int
conn_fd(struct run *k)
{
	int fd = dup(k->conn[0]);

	check(fd != -1);
	return fd;
}

/*
 * One record: A [ID] [T] L16 bytes.  A & 7 says what:
 *   0  raw bytes to the library
 *   1  HELLO          2  PEER_CERT      3  TLS_STATE      4, 7  RESULT
 *   5  a frame of type T (the next byte): unknown, CONNECT...
 *   6  bytes the connection carries once handed over
 * A & 8: request id ID (the next byte) instead of the library's;
 * A & 16: the connection's socket travels with the frame.
 */
static void
daemon_op(struct run *k, struct in *in)
{
	static const uint32_t types[8] = {0, CP_MSG_HELLO, CP_MSG_PEER_CERT,
	    CP_MSG_TLS_STATE, CP_MSG_RESULT, 0, 0, CP_MSG_RESULT};
	unsigned a = get8(in), what = a & 7;
	struct imsg_hdr h;
	struct cp_result res;
	const uint8_t *p;
	size_t n;
	struct abuf b;
	int fd = 0;

	h.type = types[what];
	h.peerid = k->id;
	h.pid = 0;
	if (a & 8)
		h.peerid = get8(in);
	if (what == 5)
		h.type = get8(in);
	p = take16(in, &n);
	if (what == 0) {
		out_add(&k->out, p, n);
		return;
	}
	if (what == 6) {
		check((k->stream = realloc(k->stream, k->streamlen + n + 1)) !=
		      NULL);
		memcpy(k->stream + k->streamlen, p, n);
		k->streamlen += n;
		return;
	}
	abuf_init(&b);
	if (h.type == CP_MSG_TLS_STATE && (k->mode & 16))
		fix_keys(&p, &n, &b);
	if (h.type == CP_MSG_RESULT &&
	    cp_result_decode(p, n, &res, NULL, 0) == 0 &&
	    res.status == CP_STATUS_NEED_CA)
		k->need_ca++;
	if (a & 16)
		fd = out_fd(&k->out, conn_fd(k));
	h.len = (uint32_t)(IMSG_HDR_SIZE + n) | (fd ? IMSG_FD_MARK : 0);
	out_add(&k->out, &h, sizeof(h));
	out_add(&k->out, p, n);
	abuf_free(&b);
}

/* The program uses the connection it got. */
static void
use_connection(struct run *k, int rv)
{
	char buf[4096];
	STACK_OF(X509) * chain;
	int fd = cp_client_fd(k->c), n, i;
	size_t got = 0;
	ssize_t w;

	check(fd >= 0);
	check(rv == 0 || (k->tls && rv > 0 && (k->mode & 2)));
	if (k->tls) {
		(void)cp_client_get_tls_version(k->c);
		(void)cp_client_get_cipher(k->c);
		(void)cp_client_get_alpn(k->c);
		(void)cp_client_get_verify_result(k->c);
		(void)cp_client_verify_hostname(k->c);
		if ((chain = cp_client_get_peer_chain(k->c)) != NULL)
			check(sk_X509_num(chain) >= 1 &&
			      sk_X509_value(chain, 0) ==
			          cp_client_get_server_certificate(k->c));
	}
	(void)cp_client_get_peer_address(k->c);
	(void)cp_client_get_peer_port(k->c);
	/* What the peer sends; EOF after it.  Whatever does not fit in the
	 * socket is left out. */
	for (w = 0; (size_t)w < k->streamlen;) {
		n = (int)send(k->conn[1], k->stream + w,
		    k->streamlen - (size_t)w, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n <= 0)
			break;
		w += n;
	}
	check(shutdown(k->conn[1], SHUT_WR) == 0);
	for (i = 0; i < 64; i++) {
		n = cp_client_read(k->c, buf, sizeof(buf));
		if (n <= 0) {
			check(n == 0 || cp_client_error(k->c)[0] != '\0');
			break;
		}
		/* plain TCP: the bytes as they were sent */
		if (!k->tls) {
			check(got + (size_t)n <= k->streamlen);
			check(memcmp(buf, k->stream + got, (size_t)n) == 0);
			got += (size_t)n;
		}
	}
	if (getenv("FUZZ_VERBOSE") != NULL)
		fprintf(stderr, "read: %d %s\n", n, cp_client_error(k->c));
	n = cp_client_write(k->c, "ping", 4);
	if (!k->tls) {
		check(n == 4);
		check(recv(k->conn[1], buf, sizeof(buf), MSG_DONTWAIT) == 4 &&
		      memcmp(buf, "ping", 4) == 0);
	}
}

static void
run(const uint8_t *data, size_t size)
{
	struct run k;
	struct in in = {data + 1, size - 1};
	int rv = -2, fd, steps = 0, moved, shut = 0, sessions = 1;

	memset(&k, 0, sizeof(k));
	k.mode = data[0];
	k.tls = k.mode & 1;
	k.ca = (k.mode & 4) != 0;
	if (k.tls)
		k.c = cp_client_create_ssl(HOST, PORT, k.ca ? ca_path : NULL,
		    NULL, (k.mode & 2) ? SSL_VERIFY_NONE : SSL_VERIFY_PEER);
	else
		k.c = cp_client_create(HOST, PORT);
	check(k.c != NULL);
	check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, k.conn) == 0);
	fd = cp_client_connect_start(k.c);
	if (fd == -1) {
		fprintf(stderr, "connect: %s\n", cp_client_error(k.c));
		check(0);
	}
	k.srv = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	check(k.srv != -1);
	imsgbuf_init(&k.rx, k.srv, CP_MAX_MSG);
	library_frames(&k);
	check(k.hellos == 1 && k.connects == 1);

	if (k.mode & 8) {
		size_t at = get8(&in);

		at = at << 8 | get8(&in);
		if (at < in.n) {
			out_add(&k.out, in.p, at);
			out_fd(&k.out, conn_fd(&k));
			out_add(&k.out, in.p + at, in.n - at);
		} else
			out_add(&k.out, in.p, in.n);
	} else
		while (in.n > 0)
			daemon_op(&k, &in);

	/* The library reads until its reply is complete, we read what it
	 * sends meanwhile; when all is written, the daemon hangs up. */
	do {
		moved = out_write(&k.out, k.srv);
		if (!shut && k.out.off == k.out.len) {
			shutdown(k.srv, SHUT_WR);
			shut = 1;
		}
		rv = cp_client_connect_finish(k.c);
		check(rv != -2 || errno == EAGAIN);
		library_frames(&k);
		sessions += replayed();
		check(sessions <= 1 + REPLAYS);
		/* each round the library reads or we write: bounded */
		check(++steps < MAX_STEPS);
		(void)moved;
	} while (rv == -2);

	/* FUZZ_VERBOSE=1: what became of each input, for writing seeds */
	if (getenv("FUZZ_VERBOSE") != NULL)
		fprintf(stderr, "connect: %d %s\n", rv,
		    rv == -1 ? cp_client_error(k.c) : "");
	if (rv == -1)
		check(
		    cp_client_error(k.c)[0] != '\0' && cp_client_fd(k.c) == -1);
	else
		use_connection(&k, rv);
	cp_client_destroy(k.c);
	dsession_pool_clear();
	/* no session opened after the connect was over */
	check(accept4(lfd, NULL, NULL, SOCK_CLOEXEC) == -1 && errno == EAGAIN);
	imsgbuf_clear(&k.rx);
	out_free(&k.out);
	close(k.srv);
	close(k.conn[0]);
	close(k.conn[1]);
	free(k.stream);
}

static int
lowest_free_fd(void)
{
	int fd = dup(0);

	if (fd != -1)
		close(fd);
	return fd;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int before;

	if (size < 1)
		return 0;
	before = lowest_free_fd();
	run(data, size);
	check(lowest_free_fd() == before);
	return 0;
}
