/* SPDX-License-Identifier: ISC */
/*
 * Fuzz target: the library's user-space TLS record layer (lib/record.c)
 * as it sees server bytes (see README).
 *
 * A client record state (the library's side) and the matching server
 * state are set up with fixed keys for one of the six suites the daemon
 * hands off; the client reads from one end of a socketpair with
 * tls_rec_read(), as cp_client_read() does, and the harness plays the
 * server on the other end.  The first byte selects:
 *   bits 0-2  the suite: suites[] (6 and 7 wrap around)
 *   bit 3     raw mode: the rest of the input is the server's byte stream
 *   bit 4     sequence numbers start 3 records before they run out
 *   bits 5-6  the client's read size, from readsz[]
 *   bit 7     blocking mode: the client's descriptor is blocking, as under
 *             cp_client_read(); the server's bytes are all written before
 *             the client reads (else both ends are non-blocking and the
 *             client reads after every step of the server)
 * Without raw mode the rest is a list of operations (see run_op): records
 * the harness protects with the server's keys, so the fuzzer gets past the
 * AEAD check and reaches what the record layer does with the plaintext
 * (alerts, NewSessionTicket, KeyUpdate, HelloRequest, padding, sizes),
 * interleaved with raw bytes, server KeyUpdates, close_notify and the
 * client's own writes and KeyUpdates.
 *
 * The server side is the record layer too (tls_rec_send_raw() seals any
 * content type and length), so this target also checks that the client's
 * records (KeyUpdate answers, alerts, data) always open at the server.
 * Properties checked besides the sanitizers: the application data the
 * client returns is a prefix of what the server sent as application data
 * (until the stream is spoilt by raw bytes); errors are the documented
 * ones, never an internal error, and they stick; a 0 return follows a
 * close_notify; the server opens every client record and receives a prefix
 * of the client's data; a kept session ticket is one whole
 * NewSessionTicket message; no descriptor leaks.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msg.h"
#include "record.h"

#define BUFSZ (64 * 1024)
#define MAX_STEPS 100000 /* pump rounds before we call it a hang */

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct suite {
	uint16_t id, version;
	size_t keylen, hashlen; /* hashlen: TLS 1.3 only */
	const char *md;
	int gcm12;
};

static const struct suite suites[8] = {
    {0x1301, 0x0304, 16, 32, "SHA256", 0},
    {0x1302, 0x0304, 32, 48, "SHA384", 0},
    {0x1303, 0x0304, 32, 32, "SHA256", 0},
    {0xC02B, 0x0303, 16, 0, NULL, 1},
    {0xC02C, 0x0303, 32, 0, NULL, 1},
    {0xCCA9, 0x0303, 32, 0, NULL, 0},
    {0x1301, 0x0304, 16, 32, "SHA256", 0},
    {0xC02F, 0x0303, 16, 0, NULL, 1},
};

static const size_t readsz[4] = {1, 7, 16384, BUFSZ};

static void
check_at(int cond, const char *what, int line)
{
	if (!cond) {
		fprintf(
		    stderr, "fuzz_record.c:%d: check failed: %s\n", line, what);
		abort();
	}
}
#define check(c) check_at((c) != 0, #c, __LINE__)

/* ---- fixed keys ---- */

static void
dir_keys(
    const struct suite *s, struct cp_tls_dir *d, uint8_t fill, uint64_t seq)
{
	memset(d, 0, sizeof(*d));
	d->keylen = s->keylen;
	d->seq = seq;
	if (s->version == 0x0304) {
		d->secretlen = s->hashlen;
		memset(d->secret, fill, d->secretlen);
		check(tls_rec_expand_label(s->md, d->secret, d->secretlen,
		          "key", NULL, 0, d->key, d->keylen) == 0);
		check(tls_rec_expand_label(s->md, d->secret, d->secretlen, "iv",
		          NULL, 0, d->iv, CP_IV_LEN) == 0);
		return;
	}
	memset(d->key, fill, d->keylen);
	/* TLS 1.2 GCM: a 4-byte salt, the rest is the explicit nonce. */
	memset(d->iv, fill ^ 0x5a, s->gcm12 ? 4 : CP_IV_LEN);
}

/* The keys are derived once per suite: HKDF is a good part of the cost
 * of an input otherwise. */
static void
make_states(unsigned idx, int late, struct cp_tls_state *client,
    struct cp_tls_state *server)
{
	static struct cp_tls_state cache[8];
	static int ready[8];
	const struct suite *s = &suites[idx];
	/* DESIGN.md: TLS 1.3 starts at 0, TLS 1.2 at 1 */
	uint64_t seq = late ? UINT64_MAX - 3 : s->version == 0x0304 ? 0 : 1;

	if (!ready[idx]) {
		cache[idx].version = s->version;
		cache[idx].cipher = s->id;
		dir_keys(s, &cache[idx].tx, 0x11, 0);
		dir_keys(s, &cache[idx].rx, 0x22, 0);
		ready[idx] = 1;
	}
	*client = cache[idx];
	client->tx.seq = client->rx.seq = seq;
	*server = *client;
	server->tx = client->rx;
	server->rx = client->tx;
}

/* ---- byte streams we expect ---- */

struct stream {
	uint8_t *buf;
	size_t len, got; /* expected bytes, bytes received */
};

static void
stream_add(struct stream *s, const uint8_t *p, size_t n)
{
	if (n == 0)
		return;
	check((s->buf = realloc(s->buf, s->len + n)) != NULL);
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

/* Received bytes must continue what was sent. */
static void
stream_got(struct stream *s, const uint8_t *p, size_t n)
{
	check(s->got + n <= s->len);
	check(memcmp(s->buf + s->got, p, n) == 0);
	s->got += n;
}

/* ---- the connection ---- */

struct conn {
	const struct suite *suite;
	int tls13;
	int blocking;
	int sv[2]; /* client, server */
	struct tls_rec *c, *s;
	size_t rsz;
	uint8_t *buf, *sbuf;    /* the client's, the server's (a thread) */
	struct stream down, up; /* server to client, client to server */
	int spoilt;             /* raw bytes went to the client */
	int close_sent;         /* a close_notify went to the client */
	int full;               /* blocking mode: the server's buffer is full */
	int c_dead, c_errno;    /* the client failed, with that errno */
	int c_eof;
	int up_short; /* a client write failed: part may be lost */
	int s_done;   /* the server has read its last */
	int s_eof;    /* ... and it was a close_notify */
	int s_errno;  /* ... or it failed with that errno */
	int steps;
};

static int
allowed_client_errno(int e)
{
	/* record.h, plus the two limits: record overflow (EMSGSIZE) and the
	 * end of the sequence numbers (EOVERFLOW).  EIO ("decryption
	 * failed", "read key update failed") would be our own bug. */
	return e == ECONNRESET || e == EBADMSG || e == EPROTO ||
	       e == ECONNABORTED || e == EMSGSIZE || e == EOVERFLOW;
}

/* One tls_rec_read() by the client: 1 progress, 0 nothing to read. */
static int
client_read(struct conn *k, size_t want)
{
	ssize_t n;
	int e;

	if (k->c_dead || k->c_eof)
		return 0;
	if (want > BUFSZ)
		want = BUFSZ;
	n = tls_rec_read(k->c, k->buf, want);
	if (n > 0) {
		check((size_t)n <= want);
		if (!k->spoilt)
			stream_got(&k->down, k->buf, (size_t)n);
		return 1;
	}
	if (n == 0) {
		check(k->close_sent || k->spoilt);
		k->c_eof = 1;
		/* and it stays at the end */
		check(tls_rec_read(k->c, k->buf, want) == 0);
		return 1;
	}
	if (errno == EAGAIN) {
		check(!k->blocking);
		return 0;
	}
	e = errno;
	if (!allowed_client_errno(e)) {
		fprintf(stderr, "client read: errno %d: %s\n", e,
		    tls_rec_error(k->c));
		check(0);
	}
	check(tls_rec_error(k->c)[0] != '\0');
	/* The first error sticks. */
	check(tls_rec_read(k->c, k->buf, want) == -1 && errno == e);
	k->c_dead = 1;
	k->c_errno = e;
	return 1;
}

/* The server reads what the client sent: 1 progress, 0 nothing. */
static int
server_read(struct conn *k)
{
	ssize_t n;

	if (k->s_done)
		return 0;
	n = tls_rec_read(k->s, k->sbuf, BUFSZ);
	if (n > 0) {
		stream_got(&k->up, k->sbuf, (size_t)n);
		return 1;
	}
	if (n == -1 && errno == EAGAIN)
		return 0;
	k->s_done = 1;
	k->s_errno = n == -1 ? errno : 0;
	if (n == 0) {
		k->s_eof = 1;
		return 1;
	}
	/* The client's records always open: what may end the stream is a
	 * fatal alert from the client, the client's end going away, or the
	 * end of the server's own sequence numbers (either direction: the
	 * first error ends both). */
	if (errno != ECONNRESET && errno != ECONNABORTED &&
	    errno != EOVERFLOW) {
		fprintf(stderr, "server read: %s\n", tls_rec_error(k->s));
		check(0);
	}
	return 1;
}

/* Non-blocking mode: let both ends run until neither can do more.  1 if
 * anything moved: a caller waiting for room in a socket must not call
 * again when nothing did (the end that would read has stopped). */
static int
pump(struct conn *k)
{
	int moved, any = 0;

	if (k->blocking)
		return 0;
	do {
		/* a zero-length write sends what the server has queued */
		(void)tls_rec_write(k->s, "", 0);
		moved = client_read(k, k->rsz);
		moved |= server_read(k);
		any |= moved;
		check(++k->steps < MAX_STEPS);
	} while (moved);
	return any;
}

/* A server write that returned EAGAIN: in non-blocking mode the client
 * reads and the server tries again; in blocking mode the client does not
 * read until the end, so the server stops sending;
 * 1 to try again. */
static int
server_blocked(struct conn *k)
{
	if (errno != EAGAIN)
		return 0;
	/* Non-blocking: a client that failed or saw the end reads no more,
	 * and the socket stays full; so it does in blocking mode till the
	 * end. */
	if (k->blocking || !pump(k)) {
		k->full = 1;
		return 0;
	}
	return 1;
}

static void
send_raw_bytes(struct conn *k, const uint8_t *p, size_t n)
{
	ssize_t w;

	while (n > 0 && !k->full) {
		w = send(k->sv[1], p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w == -1 && errno == EPIPE)
			return;
		if (w == -1) {
			check(errno == EAGAIN);
			if (!server_blocked(k))
				return;
			continue;
		}
		k->spoilt = 1;
		p += w;
		n -= (size_t)w;
	}
}

/* What the client makes of a record of type t with plaintext p[0..n), as
 * tls_rec_send_raw() seals it: application data goes to the expected
 * stream, a close_notify is noted. */
static void
expect_record(struct conn *k, uint8_t t, const uint8_t *p, size_t n)
{
	if (k->tls13) {
		/* inner plaintext: p || t, then the zero padding is cut */
		if (t == 0) {
			while (n > 0 && p[n - 1] == 0)
				n--;
			if (n == 0)
				return;
			t = p[--n];
		}
	}
	if (n > TLS_REC_MAX_PLAIN)
		return;
	if (t == TLS_CT_APPDATA)
		stream_add(&k->down, p, n);
	if (t == TLS_CT_ALERT && n == 2 && p[1] == 0)
		k->close_sent = 1;
}

/* Read and drop what is queued on fd. */
static void
discard(int fd)
{
	char junk[4096];

	while (recv(fd, junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
}

/* ---- the operations ---- */

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

static size_t
get16(struct in *in)
{
	size_t v = get8(in);

	return v << 8 | get8(in);
}

/* n bytes of payload, or what is left. */
static const uint8_t *
take(struct in *in, size_t *n)
{
	const uint8_t *p = in->p;

	if (*n > in->n)
		*n = in->n;
	in->p += *n;
	in->n -= *n;
	return p;
}

/*
 * One operation; its first byte % 9 says which:
 *   0 L16 bytes     raw bytes to the client
 *   1 T L16 bytes   one record of content type T (TLS 1.3: the inner
 *                   type; T = 0 makes the bytes the whole inner
 *                   plaintext, content type and padding included)
 *   2 L16 bytes     application data (tls_rec_write: split in records)
 *   3 R             server KeyUpdate, update_requested = R & 1
 *   4               server close_notify
 *   5 L16 bytes     the client writes
 *   6 R             client KeyUpdate
 *   7 L8            the client reads L8 + 1 bytes now
 *   8 N             the client rekeys (AES-GCM) every N + 1 records
 */
static void
run_op(struct conn *k, struct in *in)
{
	unsigned op = get8(in) % 9, t;
	const uint8_t *p;
	size_t n;
	ssize_t w;
	int r;

	switch (op) {
	case 0:
		n = get16(in);
		p = take(in, &n);
		send_raw_bytes(k, p, n);
		break;
	case 1:
		t = get8(in);
		n = get16(in);
		p = take(in, &n);
		if (n > TLS_REC_MAX_PLAIN + 255)
			n = TLS_REC_MAX_PLAIN + 255;
		do
			r = tls_rec_send_raw(k->s, (uint8_t)t, p, n);
		while (r == -1 && server_blocked(k));
		/* EAGAIN: sealed, and queued for the next write */
		if (r == 0 || errno == EAGAIN)
			expect_record(k, (uint8_t)t, p, n);
		break;
	case 2:
		n = get16(in);
		p = take(in, &n);
		/* Expected even if it fails: the records sealed before the
		 * failure (the end of the sequence numbers) are sent, and a
		 * failed server sends nothing after that. */
		stream_add(&k->down, p, n);
		do
			w = tls_rec_write(k->s, p, n);
		while (w == -1 && server_blocked(k));
		check(w == -1 || (size_t)w == n);
		break;
	case 3:
		(void)tls_rec_key_update(k->s, get8(in) & 1);
		break;
	case 4:
		if (tls_rec_close_notify(k->s) == 0 || errno == EAGAIN)
			k->close_sent = 1;
		break;
	case 5:
		n = get16(in);
		p = take(in, &n);
		if (k->c_dead || k->c_eof)
			break;
		stream_add(&k->up, p, n); /* a prefix of it, as above */
		do
			w = tls_rec_write(k->c, p, n);
		while (w == -1 && errno == EAGAIN && pump(k));
		check(w == -1 || (size_t)w == n);
		if (w == -1)
			k->up_short = 1;
		break;
	case 6:
		(void)tls_rec_key_update(k->c, get8(in) & 1);
		break;
	case 7:
		n = get8(in) + 1;
		/* blocking: the client reads at the end only, or it would
		 * wait for bytes the server has not sent yet */
		if (!k->blocking)
			(void)client_read(k, n);
		break;
	case 8:
		tls_rec_set_rekey_limit(k->c, get8(in) + 1);
		break;
	}
	if (!k->blocking)
		/* what the server sent, the client reads, and back */
		pump(k);
	else {
		while (server_read(k))
			;
		/* A server that has read its last still takes the bytes, as
		 * a peer's kernel would until it closes: else the client's
		 * next blocking write waits for ever. */
		if (k->s_done)
			discard(k->sv[1]);
	}
}

/*
 * Blocking mode, at the end: the server reads in a thread of its own,
 * since the client may have to send (KeyUpdate answers, alerts) before
 * its read returns.  One thread for every input: creating one under ASan
 * costs more than the rest of an input.  (Per process: a corpus runner's
 * child does not inherit it.)
 */
static pthread_mutex_t job_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t job_cv = PTHREAD_COND_INITIALIZER;
static struct conn *job;
static int job_busy;
static pid_t worker_pid;

static void *
server_thread(void *arg)
{
	struct conn *k;
	struct pollfd pfd;

	for (;;) {
		pthread_mutex_lock(&job_mtx);
		while (job == NULL)
			pthread_cond_wait(&job_cv, &job_mtx);
		k = job;
		pthread_mutex_unlock(&job_mtx);
		pfd.fd = k->sv[1];
		pfd.events = POLLIN;
		while (!k->s_done)
			if (server_read(k) == 0)
				check(poll(&pfd, 1, 10000) == 1);
		pthread_mutex_lock(&job_mtx);
		job = NULL;
		job_busy = 0;
		pthread_cond_broadcast(&job_cv);
		pthread_mutex_unlock(&job_mtx);
	}
	return arg;
}

static void
server_start(struct conn *k)
{
	pthread_t thr;

	if (worker_pid != getpid()) {
		check(pthread_create(&thr, NULL, server_thread, NULL) == 0);
		check(pthread_detach(thr) == 0);
		worker_pid = getpid();
	}
	pthread_mutex_lock(&job_mtx);
	job = k;
	job_busy = 1;
	pthread_cond_broadcast(&job_cv);
	pthread_mutex_unlock(&job_mtx);
}

static void
server_wait(void)
{
	pthread_mutex_lock(&job_mtx);
	while (job_busy)
		pthread_cond_wait(&job_cv, &job_mtx);
	pthread_mutex_unlock(&job_mtx);
}

static void
finish(struct conn *k)
{
	int fl, r;

	/* Flush the server and close its sending side: the client now
	 * reads to the end of the stream. */
	if (!k->full)
		(void)tls_rec_write(k->s, "", 0);
	check(shutdown(k->sv[1], SHUT_WR) == 0);
	if (k->blocking) {
		fl = fcntl(k->sv[1], F_GETFL);
		check(fl != -1 &&
		      fcntl(k->sv[1], F_SETFL, fl & ~O_NONBLOCK) == 0);
		server_start(k);
	}
	while (!k->c_dead && !k->c_eof) {
		check(client_read(k, k->rsz));
		if (!k->blocking)
			pump(k);
		check(++k->steps < MAX_STEPS);
	}
	/* The client says goodbye, then goes away. */
	while ((r = tls_rec_close_notify(k->c)) == -1 && errno == EAGAIN)
		if (!pump(k))
			break; /* the server stopped reading */
	check(shutdown(k->sv[0], SHUT_WR) == 0);
	if (k->blocking)
		server_wait();
	else
		while (!k->s_done) {
			check(server_read(k) == 1 || k->s_done);
			check(++k->steps < MAX_STEPS);
		}

	/* A client that could send, sent its close_notify last; the server
	 * reads it unless its own sequence numbers ran out first. */
	if (r == 0 && k->s_errno != EOVERFLOW)
		check(k->s_eof);
	/* The server saw every byte the client managed to send. */
	if (k->s_eof && !k->up_short)
		check(k->up.got == k->up.len);
}

/* A kept ticket is one whole NewSessionTicket message. */
static void
check_tickets(const struct conn *k)
{
	struct tls_rec_stats st;
	ssize_t n;

	tls_rec_stats(k->c, &st);
	if (st.tickets == 0) {
		check(tls_rec_ticket(k->c, 0, k->buf, BUFSZ) == -1 &&
		      errno == ENOENT);
		return;
	}
	n = tls_rec_ticket(k->c, 0, k->buf, BUFSZ);
	check(n >= 4 + 13 && n <= 4 + TLS_REC_MAX_TICKET_LEN);
	check(k->buf[0] == 4);
	check((size_t)n == 4 + ((size_t)k->buf[1] << 16 |
	                           (size_t)k->buf[2] << 8 | k->buf[3]));
}

static int
lowest_free_fd(void)
{
	int fd = dup(0);

	if (fd != -1)
		close(fd);
	return fd;
}

static void
run(const uint8_t *data, size_t size)
{
	/* static: 64 KiB buffers are mapped afresh by ASan at each malloc */
	static uint8_t cbuf[BUFSZ], sbuf[BUFSZ];
	struct cp_tls_state cst, sst;
	struct conn k;
	struct in in = {data + 1, size - 1};
	uint8_t mode = data[0];
	char err[256];
	int fl;

	memset(&k, 0, sizeof(k));
	k.suite = &suites[mode & 7];
	k.tls13 = k.suite->version == 0x0304;
	k.blocking = (mode & 0x80) != 0;
	k.rsz = readsz[(mode >> 5) & 3];
	k.buf = cbuf;
	k.sbuf = sbuf;
	check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, k.sv) == 0);
	/* the server never blocks; the client only in blocking mode */
	check(fcntl(k.sv[1], F_SETFL, O_NONBLOCK) == 0);
	if (!k.blocking)
		check(fcntl(k.sv[0], F_SETFL, O_NONBLOCK) == 0);
	make_states(mode & 7, mode & 0x10, &cst, &sst);
	k.c = tls_rec_new(k.sv[0], &cst, err, sizeof(err));
	k.s = tls_rec_new(k.sv[1], &sst, err, sizeof(err));
	check(k.c != NULL && k.s != NULL);
	cp_tls_state_wipe(&cst);
	cp_tls_state_wipe(&sst);

	if (mode & 8)
		send_raw_bytes(&k, in.p, in.n);
	else
		while (in.n > 0 && !k.full)
			run_op(&k, &in);
	finish(&k);
	/* FUZZ_VERBOSE=1: what became of each input, for writing seeds */
	if (getenv("FUZZ_VERBOSE") != NULL) {
		struct tls_rec_stats st;

		tls_rec_stats(k.c, &st);
		fprintf(stderr,
		    "client: %zu of %zu bytes, %llu records, %llu tickets, "
		    "%llu/%llu key updates in/out, %s; server: %zu of %zu "
		    "bytes, %s\n",
		    k.down.got, k.down.len, (unsigned long long)st.records_in,
		    (unsigned long long)st.tickets,
		    (unsigned long long)st.key_updates_received,
		    (unsigned long long)st.key_updates_sent,
		    k.c_eof ? "close_notify" : tls_rec_error(k.c), k.up.got,
		    k.up.len, k.s_eof ? "close_notify" : tls_rec_error(k.s));
	}
	check_tickets(&k);
	/* the record layer never closes the descriptor */
	fl = fcntl(k.sv[0], F_GETFD);
	check(fl != -1);
	tls_rec_free(k.c);
	tls_rec_free(k.s);
	close(k.sv[0]);
	close(k.sv[1]);
	free(k.down.buf);
	free(k.up.buf);
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
