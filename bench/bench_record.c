/* SPDX-License-Identifier: ISC */
/*
 * The user-space record layer's cost per full 16 KiB record, next to what
 * `openssl speed -evp` measures for the same AEAD on 16 KiB buffers: the
 * ratio is what the record layer adds to the cipher (nonce, AAD, tag,
 * framing, buffers and the system call), the part kernel TLS takes over.
 *
 * usage: bench_record [MiB per measurement [repeats]]
 *
 * Seal: tls_rec_write of 64 KiB buffers into a socketpair whose other
 * end a thread drains.  Open: tls_rec_read of records sealed beforehand,
 * fed by a thread.  Both counted in the CPU time of the measuring thread
 * (CLOCK_THREAD_CPUTIME_ID), best of the repeats; the draining and
 * feeding threads are not counted.
 */
#include <sys/socket.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "msg.h"
#include "record.h"
#include "kdf.h"

#define REC TLS_REC_MAX_PLAIN
#define CHUNK (4 * REC)

struct suite {
	uint16_t version, cipher;
	const char *name, *evp;
};

static const struct suite suites[] = {
    {0x0304, 0x1301, "TLS 1.3 AES-128-GCM", "aes-128-gcm"},
    {0x0304, 0x1302, "TLS 1.3 AES-256-GCM", "aes-256-gcm"},
    {0x0304, 0x1303, "TLS 1.3 ChaCha20-Poly1305", "chacha20-poly1305"},
    {0x0303, 0xC02B, "TLS 1.2 AES-128-GCM", "aes-128-gcm"},
    {0x0303, 0xC02C, "TLS 1.2 AES-256-GCM", "aes-256-gcm"},
    {0x0303, 0xCCA9, "TLS 1.2 ChaCha20-Poly1305", "chacha20-poly1305"},
};

struct pump {
	int fd;
	const unsigned char *buf; /* feed this, or drain when NULL */
	size_t len;
};

static double
cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *
pump_run(void *arg)
{
	struct pump *p = arg;
	unsigned char tmp[65536];
	size_t off = 0;
	ssize_t n;

	if (p->buf == NULL) {
		while (read(p->fd, tmp, sizeof(tmp)) > 0)
			;
		return NULL;
	}
	while (
	    off < p->len && (n = write(p->fd, p->buf + off, p->len - off)) > 0)
		off += (size_t)n;
	shutdown(p->fd, SHUT_WR);
	return NULL;
}

static void
make_state(const struct suite *su, struct cp_tls_state *st)
{
	const struct rec_suite *s = rec_suite_find(su->cipher);
	size_t hl = strcmp(s->md, "SHA384") == 0 ? 48 : 32;

	memset(st, 0, sizeof(*st));
	st->version = su->version;
	st->cipher = su->cipher;
	st->tx.keylen = s->keylen;
	st->tx.seq = su->version == 0x0303 ? 1 : 0;
	if (su->version == 0x0304) {
		st->tx.secretlen = hl;
		RAND_bytes(st->tx.secret, (int)hl);
		rec_expand_label(
		    s->md, st->tx.secret, hl, "key", st->tx.key, s->keylen);
		rec_expand_label(
		    s->md, st->tx.secret, hl, "iv", st->tx.iv, CP_IV_LEN);
	} else {
		RAND_bytes(st->tx.key, (int)s->keylen);
		RAND_bytes(st->tx.iv, s->chacha ? CP_IV_LEN : 4);
	}
	st->rx = st->tx;
}

static void
pair(int sv[2])
{
	int sz = 4 << 20;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1) {
		perror("socketpair");
		exit(1);
	}
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}

/* Seconds of CPU for sealing nrec records; the sealed stream in *out
 * when out is not NULL. */
static double
seal(const struct cp_tls_state *st, size_t nrec, unsigned char **out,
    size_t *outlen)
{
	static unsigned char plain[CHUNK];
	struct pump p = {0};
	pthread_t t;
	struct tls_rec *r;
	char err[128];
	size_t done = 0, cap = 0, len = 0;
	unsigned char *keep = NULL;
	double t0, t1;
	ssize_t n;
	int sv[2];

	pair(sv);
	if ((r = tls_rec_new(sv[0], st, err, sizeof(err))) == NULL) {
		fprintf(stderr, "bench_record: %s\n", err);
		exit(1);
	}
	p.fd = sv[1];
	if (out == NULL)
		pthread_create(&t, NULL, pump_run, &p);
	else
		keep = malloc(cap = nrec * (REC + 64));
	t0 = cpu_s();
	for (; done < nrec; done += CHUNK / REC) {
		if (tls_rec_write(r, plain, CHUNK) != CHUNK) {
			fprintf(stderr, "bench_record: write: %s\n",
			    strerror(errno));
			exit(1);
		}
		if (keep != NULL &&
		    (n = read(sv[1], keep + len, cap - len)) > 0)
			len += (size_t)n; /* collect what went out */
	}
	t1 = cpu_s();
	tls_rec_free(r);
	close(sv[0]);
	if (out == NULL)
		pthread_join(t, NULL);
	while (keep != NULL && len < cap &&
	       (n = read(sv[1], keep + len, cap - len)) > 0)
		len += (size_t)n;
	close(sv[1]);
	if (out != NULL) {
		*out = keep;
		*outlen = len;
	}
	return t1 - t0;
}

static double
open_recs(
    const struct cp_tls_state *st, const unsigned char *stream, size_t len)
{
	static unsigned char buf[CHUNK];
	struct cp_tls_state rs = *st;
	struct pump p;
	pthread_t t;
	struct tls_rec *r;
	char err[128];
	double t0, t1;
	ssize_t n;
	int sv[2];

	pair(sv);
	r = tls_rec_new(sv[0], &rs, err, sizeof(err));
	if (r == NULL) {
		fprintf(stderr, "bench_record: %s\n", err);
		exit(1);
	}
	p.fd = sv[1];
	p.buf = stream;
	p.len = len;
	pthread_create(&t, NULL, pump_run, &p);
	t0 = cpu_s();
	while ((n = tls_rec_read(r, buf, sizeof(buf))) > 0)
		;
	t1 = cpu_s();
	/* The stream ends without close_notify: that is the expected end. */
	if (n == -1 && errno != ECONNABORTED)
		fprintf(stderr, "bench_record: read: %s\n", tls_rec_error(r));
	pthread_join(t, NULL);
	tls_rec_free(r);
	close(sv[0]);
	close(sv[1]);
	return t1 - t0;
}

/* Bytes per second of `openssl speed -evp ALG -bytes 16384`, or 0. */
static double
speed1(const char *evp, int decrypt)
{
	char cmd[256], line[256];
	double v = 0;
	FILE *f;
	char *p;

	snprintf(cmd, sizeof(cmd),
	    "openssl speed -evp %s -bytes 16384 -seconds 1 -mr %s 2>/dev/null",
	    evp, decrypt ? "-decrypt" : "");
	if ((f = popen(cmd, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "+F:", 3) == 0 &&
		    (p = strrchr(line, ':')) != NULL)
			v = strtod(p + 1, NULL);
	pclose(f);
	return v;
}

/* The best of two runs, kept per cipher and direction: the machine is
 * shared, and the TLS 1.2 and 1.3 suites use the same ciphers. */
static double
speed(const char *evp, int decrypt)
{
	static struct {
		const char *evp;
		int dec;
		double v;
	} memo[8];
	static int n;
	double a, b;
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(memo[i].evp, evp) == 0 && memo[i].dec == decrypt)
			return memo[i].v;
	a = speed1(evp, decrypt);
	b = speed1(evp, decrypt);
	if (n < 8) {
		memo[n].evp = evp;
		memo[n].dec = decrypt;
		memo[n++].v = a > b ? a : b;
	}
	return a > b ? a : b;
}

int
main(int argc, char **argv)
{
	size_t mib = argc > 1 ? (size_t)atoi(argv[1]) : 64;
	int reps = argc > 2 ? atoi(argv[2]) : 5, i, k;
	size_t nrec = mib * 1024 * 1024 / REC, slen;
	unsigned char *stream;
	struct cp_tls_state st;
	double s, o, bs, bo, es, eo;

	printf("user-space record layer per 16 KiB record (CPU time, best of "
	       "%d x %zu MiB) against openssl speed -evp on 16 KiB "
	       "buffers\n",
	    reps, mib);
	printf("%-26s %10s %10s %10s %10s %7s %7s\n", "suite", "seal us",
	    "speed enc", "open us", "speed dec", "seal/x", "open/x");
	for (k = 0; k < (int)(sizeof(suites) / sizeof(suites[0])); k++) {
		make_state(&suites[k], &st);
		seal(&st, 64, &stream, &slen); /* warm-up, and a stream */
		free(stream);
		seal(&st, nrec, &stream, &slen);
		bs = bo = 1e9;
		for (i = 0; i < reps; i++) {
			if ((s = seal(&st, nrec, NULL, NULL)) < bs)
				bs = s;
			if ((o = open_recs(&st, stream, slen)) < bo)
				bo = o;
		}
		free(stream);
		es = speed(suites[k].evp, 0);
		eo = speed(suites[k].evp, 1);
		s = bs / (double)nrec * 1e6;
		o = bo / (double)nrec * 1e6;
		es = es > 0 ? 16384.0 / es * 1e6 : 0;
		eo = eo > 0 ? 16384.0 / eo * 1e6 : 0;
		printf("%-26s %10.2f %10.2f %10.2f %10.2f %7.2f %7.2f\n",
		    suites[k].name, s, es, o, eo, es > 0 ? s / es : 0,
		    eo > 0 ? o / eo : 0);
		fflush(stdout);
		cp_tls_state_wipe(&st);
	}
	printf("(us per record; seal/x and open/x: our cost over openssl "
	       "speed's)\n");
	return 0;
}
