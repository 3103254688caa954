/* SPDX-License-Identifier: ISC */
/*
 * vm_client: the VM suite's client (tests/vm/guest.sh runs it inside a
 * VM whose kernel has TLS).  One connection through cpconnectd, then one
 * thing done with it, and one line of results on stdout:
 *
 *   vm_client [options] MODE HOST PORT [ARG]
 *     info              connect; print the path and exit
 *     get PATH          "GET /PATH" with plain write(2), the answer with
 *                       plain read(2) (EIO: a non-data record, handed to
 *                       cp_client_read); prints its SHA-256
 *     libget PATH       the same through cp_client_write/cp_client_read
 *     spliceget PATH    the same, the answer through splice(2) into a pipe
 *     cpropsget PATH    the same as cprops' cp_httpclient does it: by
 *                       use_ssl, SSL_read(client->ssl) or recv(client->fd)
 *     put BYTES         BYTES of a fixed pseudo-random stream, plain
 *                       write(2) (-l: cp_client_write), then close_notify
 *     sendfile FILE     sendfile(2) of FILE over the socket, close_notify
 *     keyupdate         print CONNECTED, read until a line "after-ku",
 *                       answer "reply-after-ku", read until "bye"
 *   vm_client gen BYTES FILE   write the pseudo-random stream to FILE
 *   options: -K off|auto|require   cp_client_set_ktls
 *            -k 0|1                cp_client_ktls() must say so
 *            -V 1.2|1.3            the negotiated version must be it
 *            -l                    library calls instead of plain ones
 *            -W MS                 wait up to MS at connect for tickets
 *            -R N                  our own KeyUpdate every N records
 *            -u                    connect in plaintext, then TLS on that
 *                                  connection (cp_client_connect_ssl)
 *
 * Exit status 0 when everything held, 1 with a reason on stderr.
 */
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cprops/client.h"
#include "ktls.h"
#include "record.h"

struct opt {
	int mode, want_ktls, lib, wait_ms, upgrade;
	const char *version;
	uint64_t rekey;
};

struct run {
	cp_client *c;
	int fd;
	EVP_MD_CTX *md;
	uint64_t bytes;
	unsigned eio; /* plain reads that met a non-data record before data */
	uint64_t t0;
};

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void __attribute__((noreturn, format(printf, 2, 3)))
die(struct run *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "vm_client: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (r != NULL && r->c != NULL && cp_client_error(r->c)[0])
		fprintf(stderr, ": %s", cp_client_error(r->c));
	fputc('\n', stderr);
	exit(1);
}

static void
hash_init(struct run *r)
{
	if ((r->md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(r->md, EVP_sha256(), NULL) != 1)
		die(r, "sha256");
	r->bytes = 0;
	r->t0 = now_us();
}

static void
hash_add(struct run *r, const void *p, size_t n)
{
	EVP_DigestUpdate(r->md, p, n);
	r->bytes += n;
}

/* "sha256=HEX bytes=N mbps=X" and the rest of the results. */
static void
report(struct run *r, const char *extra)
{
	unsigned char d[32];
	unsigned int n = 0, i;
	struct ktls_stats ks;
	struct ktls *k = client_ktls(r->c);
	double s = (double)(now_us() - r->t0) / 1e6;

	EVP_DigestFinal_ex(r->md, d, &n);
	printf("sha256=");
	for (i = 0; i < n; i++)
		printf("%02x", d[i]);
	memset(&ks, 0, sizeof(ks));
	if (k != NULL)
		ktls_stats(k, &ks);
	printf(" bytes=%llu mbps=%.1f ktls=%d eio=%u tickets=%llu "
	       "tickets_at_connect=%llu ku_in=%llu ku_out=%llu%s%s\n",
	    (unsigned long long)r->bytes,
	    s > 0 ? (double)r->bytes / s / 1e6 : 0.0, cp_client_ktls(r->c),
	    r->eio, (unsigned long long)ks.tickets,
	    (unsigned long long)ks.tickets_at_connect,
	    (unsigned long long)ks.key_updates_received,
	    (unsigned long long)ks.key_updates_sent, extra ? " " : "",
	    extra ? extra : "");
	EVP_MD_CTX_free(r->md);
	fflush(stdout);
}

/* A read as a program of the descriptor does it: plain read(2); EIO
 * means a non-data record is next, which cp_client_read takes care of
 * (and returns the data after it). */
static ssize_t
rd(struct run *r, const struct opt *o, char *buf, size_t len)
{
	ssize_t n;

	if (o->lib)
		return cp_client_read(r->c, buf, (int)len);
	n = read(r->fd, buf, len);
	if (n == -1 && errno == EIO) {
		n = cp_client_read(r->c, buf, (int)len);
		if (n > 0)
			r->eio++; /* not just close_notify at the end */
	}
	return n;
}

static void
wr(struct run *r, const struct opt *o, const void *p, size_t n)
{
	const char *b = p;
	ssize_t w;

	while (n > 0) {
		w = o->lib ? cp_client_write(r->c, b, (int)n)
		           : write(r->fd, b, n);
		if (w <= 0)
			die(r, "write: %s", strerror(errno));
		b += w;
		n -= (size_t)w;
	}
}

static void
do_get(struct run *r, const struct opt *o, const char *path)
{
	char buf[65536];
	ssize_t n;

	n = snprintf(buf, sizeof(buf), "GET /%s HTTP/1.0\r\n\r\n", path);
	wr(r, o, buf, (size_t)n);
	hash_init(r);
	while ((n = rd(r, o, buf, sizeof(buf))) > 0)
		hash_add(r, buf, (size_t)n);
	if (n < 0 && errno != ECONNABORTED)
		die(r, "read after %llu bytes: %s",
		    (unsigned long long)r->bytes, strerror(errno));
	report(r, n < 0 ? "end=truncated" : "end=close_notify");
}

/*
 * The request and the answer as cprops' cp_httpclient moves them: it
 * calls SSL_write/SSL_read on client->ssl when client->use_ssl is set,
 * send/recv on client->fd otherwise.  There is no SSL object, so on the
 * kernel path use_ssl must read 0 and the descriptor give plaintext.
 */
static void
do_cpropsget(struct run *r, const char *path)
{
	cp_client *c = r->c;
	char buf[65536];
	ssize_t n, w;
	size_t off;

	if (c->use_ssl || c->ssl != NULL)
		die(r, "use_ssl %d, ssl %p: cprops code would call SSL_read",
		    c->use_ssl, (void *)c->ssl);
	n = snprintf(buf, sizeof(buf), "GET /%s HTTP/1.0\r\n\r\n", path);
	for (off = 0; off < (size_t)n; off += (size_t)w)
		if ((w = send(c->fd, buf + off, (size_t)n - off, 0)) <= 0)
			die(r, "send: %s", strerror(errno));
	hash_init(r);
	while ((n = recv(c->fd, buf, sizeof(buf), 0)) > 0)
		hash_add(r, buf, (size_t)n);
	/* EIO: the server's close_notify, a record recv cannot return */
	if (n < 0 && errno != EIO)
		die(r, "recv after %llu bytes: %s",
		    (unsigned long long)r->bytes, strerror(errno));
	report(r, "end=recv");
}

/* The answer moved by the kernel: socket -> pipe -> us. */
static void
do_spliceget(struct run *r, const struct opt *o, const char *path)
{
	char buf[65536];
	ssize_t n, m;
	int p[2];

	if (pipe(p) == -1)
		die(r, "pipe: %s", strerror(errno));
	n = snprintf(buf, sizeof(buf), "GET /%s HTTP/1.0\r\n\r\n", path);
	wr(r, o, buf, (size_t)n);
	hash_init(r);
	for (;;) {
		n = splice(r->fd, NULL, p[1], NULL, sizeof(buf), 0);
		if (n == -1 && (errno == EINVAL || errno == EIO)) {
			/* A non-data record: splice says EINVAL. */
			if ((n = cp_client_read(r->c, buf, sizeof(buf))) > 0) {
				r->eio++;
				hash_add(r, buf, (size_t)n);
				continue;
			}
		}
		if (n <= 0)
			break;
		for (; n > 0; n -= m) {
			if ((m = read(p[0], buf, (size_t)n)) <= 0)
				die(r, "read pipe: %s", strerror(errno));
			hash_add(r, buf, (size_t)m);
		}
	}
	if (n < 0)
		die(r, "splice after %llu bytes: %s",
		    (unsigned long long)r->bytes, strerror(errno));
	report(r, "end=close_notify");
}

/* xorshift: the same stream on every run, cheap under emulation. */
static void
fill(unsigned char *p, size_t n, uint64_t *s)
{
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		*s ^= *s << 13;
		*s ^= *s >> 7;
		*s ^= *s << 17;
		memcpy(p + i, s, 8);
	}
}

static void
do_put(struct run *r, const struct opt *o, uint64_t total)
{
	unsigned char buf[65536];
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	size_t n;

	hash_init(r);
	while (r->bytes < total) {
		n = total - r->bytes < sizeof(buf) ? (size_t)(total - r->bytes)
		                                   : sizeof(buf);
		fill(buf, sizeof(buf), &seed);
		wr(r, o, buf, n);
		hash_add(r, buf, n);
	}
	report(r, NULL);
}

static void
do_sendfile(struct run *r, const char *file)
{
	unsigned char buf[65536];
	struct stat st;
	off_t off = 0;
	ssize_t n;
	int fd;

	if ((fd = open(file, O_RDONLY)) == -1 || fstat(fd, &st) == -1)
		die(r, "%s: %s", file, strerror(errno));
	hash_init(r);
	while (off < st.st_size)
		if (sendfile(r->fd, fd, &off, (size_t)(st.st_size - off)) <= 0)
			die(r, "sendfile: %s", strerror(errno));
	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		hash_add(r, buf, (size_t)n);
	close(fd);
	report(r, NULL);
}

/* Read lines until one is want; 0, or -1 at the end of the stream. */
static int
read_until(struct run *r, const struct opt *o, const char *want)
{
	char buf[4096], line[512];
	size_t ll = 0;
	ssize_t n, i;

	for (;;) {
		if ((n = rd(r, o, buf, sizeof(buf))) <= 0)
			return -1;
		for (i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (ll < sizeof(line) - 1)
					line[ll++] = buf[i];
				continue;
			}
			line[ll] = '\0';
			ll = 0;
			if (strcmp(line, want) == 0)
				return 0;
		}
	}
}

static void
do_keyupdate(struct run *r, const struct opt *o)
{
	static const char reply[] = "reply-after-ku\n";

	printf("CONNECTED\n");
	fflush(stdout);
	hash_init(r);
	if (read_until(r, o, "after-ku") == -1)
		die(r, "no after-ku line (%s)", strerror(errno));
	wr(r, o, reply, sizeof(reply) - 1);
	if (read_until(r, o, "bye") == -1)
		die(r, "no bye line (%s)", strerror(errno));
	report(r, "keyupdate=ok");
}

/* Test data, fast where /dev/urandom is not (an emulated CPU). */
static int
gen(uint64_t total, const char *file)
{
	unsigned char buf[65536];
	uint64_t seed = 0x2545f4914f6cdd1dULL, done = 0;
	size_t n;
	FILE *f = fopen(file, "w");

	if (f == NULL)
		die(NULL, "%s: %s", file, strerror(errno));
	while (done < total) {
		n = total - done < sizeof(buf) ? (size_t)(total - done)
		                               : sizeof(buf);
		fill(buf, sizeof(buf), &seed);
		if (fwrite(buf, 1, n, f) != n)
			die(NULL, "%s: %s", file, strerror(errno));
		done += n;
	}
	if (fclose(f) != 0)
		die(NULL, "%s: %s", file, strerror(errno));
	return 0;
}

static void
check(struct run *r, const struct opt *o)
{
	const char *v = cp_client_get_tls_version(r->c);

	fprintf(stderr, "vm_client: %s %s, record layer: %s\n", v,
	    cp_client_get_cipher(r->c), cp_client_ktls_info(r->c));
	if (o->want_ktls != -1 && cp_client_ktls(r->c) != o->want_ktls)
		die(r, "record layer is %s, expected %s",
		    cp_client_ktls_info(r->c),
		    o->want_ktls ? "kernel" : "user");
	if (o->version != NULL && (v == NULL || strcmp(v + 4, o->version) != 0))
		die(r, "version %s, expected TLSv%s", v ? v : "-", o->version);
	if (o->rekey && client_ktls(r->c) != NULL)
		ktls_set_rekey_limit(client_ktls(r->c), o->rekey);
}

static void
parse(struct opt *o, int argc, char **argv)
{
	int ch, m;

	memset(o, 0, sizeof(*o));
	o->mode = -1;
	o->want_ktls = -1;
	while ((ch = getopt(argc, argv, "K:k:lR:uV:W:")) != -1) {
		switch (ch) {
		case 'K':
			if (ktls_parse_mode(optarg, &m) == -1)
				die(NULL, "-K %s", optarg);
			o->mode = m;
			break;
		case 'k':
			o->want_ktls = atoi(optarg);
			break;
		case 'l':
			o->lib = 1;
			break;
		case 'R':
			o->rekey = strtoull(optarg, NULL, 10);
			break;
		case 'u':
			o->upgrade = 1;
			break;
		case 'V':
			o->version = optarg;
			break;
		case 'W':
			o->wait_ms = atoi(optarg);
			break;
		default:
			die(NULL, "bad option");
		}
	}
	if (argc - optind < 3)
		die(NULL, "usage: vm_client [options] MODE HOST PORT [ARG]");
}

int
main(int argc, char **argv)
{
	struct run r;
	struct opt o;
	const char *mode, *arg;
	int rv;

	if (argc == 4 && strcmp(argv[1], "gen") == 0)
		return gen(strtoull(argv[2], NULL, 10), argv[3]);
	parse(&o, argc, argv);
	mode = argv[optind];
	arg = argc - optind > 3 ? argv[optind + 3] : "";
	memset(&r, 0, sizeof(r));
	r.c = cp_client_create_ssl(argv[optind + 1], atoi(argv[optind + 2]),
	    NULL, NULL, SSL_VERIFY_PEER);
	if (r.c == NULL)
		die(NULL, "cp_client_create_ssl: %s", strerror(errno));
	if (o.mode != -1)
		cp_client_set_ktls(r.c, o.mode);
	ktls_set_connect_wait(o.wait_ms);
	if (o.upgrade) {
		/* The program's own plain connection, then TLS on it: the
		 * descriptor must stay the same on either record layer. */
		r.c->use_ssl = 0;
		if (cp_client_connect(r.c) != 0)
			die(&r, "plain connect: %s", cp_client_error(r.c));
		r.fd = cp_client_fd(r.c);
		if ((rv = cp_client_connect_ssl(r.c)) != 0)
			die(&r, "connect_ssl: %d: %s", rv,
			    cp_client_error(r.c));
		if (cp_client_fd(r.c) != r.fd)
			die(&r, "connect_ssl moved the descriptor %d to %d",
			    r.fd, cp_client_fd(r.c));
	} else if ((rv = cp_client_connect(r.c)) != 0)
		die(&r, "connect: %d", rv);
	r.fd = cp_client_fd(r.c);
	check(&r, &o);
	if (strcmp(mode, "info") == 0) {
		hash_init(&r);
		report(&r, NULL);
	} else if (strcmp(mode, "get") == 0 || strcmp(mode, "libget") == 0) {
		o.lib |= mode[0] == 'l';
		do_get(&r, &o, arg);
	} else if (strcmp(mode, "cpropsget") == 0)
		do_cpropsget(&r, arg);
	else if (strcmp(mode, "spliceget") == 0)
		do_spliceget(&r, &o, arg);
	else if (strcmp(mode, "put") == 0)
		do_put(&r, &o, strtoull(arg, NULL, 10));
	else if (strcmp(mode, "sendfile") == 0)
		do_sendfile(&r, arg);
	else if (strcmp(mode, "keyupdate") == 0)
		do_keyupdate(&r, &o);
	else
		die(&r, "unknown mode %s", mode);
	/* close_notify through the library, on either path. */
	if (cp_client_close(r.c) == -1)
		die(&r, "close");
	cp_client_destroy(r.c);
	return 0;
}
