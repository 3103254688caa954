/* SPDX-License-Identifier: ISC */
/*
 * The user-space record layer against published vectors (RFC 8448 section 3
 * "Simple 1-RTT Handshake", the TLS 1.2 PRF vectors of the IETF TLS list),
 * independent EVP computations, and itself over socketpairs.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "cutest.h"
#include "kdf.h"
#include "msg.h"
#include "record.h"
#include "tlsexport.h"

/* RFC 8448 3: application traffic secrets and keys. */
static const char c_ap_secret[] =
    "9e 40 64 6c e7 9a 7f 9d c0 5a f8 88 9b ce 65 52"
    "87 5a fa 0b 06 df 00 87 f7 92 eb b7 c1 75 04 a5";
static const char c_ap_key[] =
    "17 42 2d da 59 6e d5 d9 ac d8 90 e3 c6 3f 50 51";
static const char c_ap_iv[] = "5b 78 92 3d ee 08 57 90 33 e5 23 d9";
static const char s_ap_secret[] =
    "a1 1a f9 f0 55 31 f8 56 ad 47 11 6b 45 a9 50 32"
    "82 04 b4 f4 4b fb 6b 3a 4b 4f 1f 3f cb 63 16 43";
static const char s_ap_key[] =
    "9f 02 28 3b 6c 9c 07 ef c2 6b b9 f2 ac 92 e3 56";
static const char s_ap_iv[] = "cf 78 2b 88 dd 83 54 9a ad f1 e9 84";

/* {server} NewSessionTicket record (first record under the server keys). */
static const char s_nst_rec[] =
    "17 03 03 00 de 3a 6b 8f 90 41 4a 97 d6 95 9c 34 87 68 0d e5 13 4a 2b 24"
    "0e 6c ff ac 11 6e 95 d4 1d 6a f8 f6 b5 80 dc f3 d1 1d 63 c7 58 db 28 9a"
    "01 59 40 25 2f 55 71 3e 06 1d c1 3e 07 88 91 a3 8e fb cf 57 53 ad 8e f1"
    "70 ad 3c 73 53 d1 6d 9d a7 73 b9 ca 7f 2b 9f a1 b6 c0 d4 a3 d0 3f 75 e0"
    "9c 30 ba 1e 62 97 2a c4 6f 75 f7 b9 81 be 63 43 9b 29 99 ce 13 06 46 15"
    "13 98 91 d5 e4 c5 b4 06 f1 6e 3f c1 81 a7 7c a4 75 84 00 25 db 2f 0a 77"
    "f8 1b 5a b0 5b 94 c0 13 46 75 5f 69 23 2c 86 51 9d 86 cb ee ac 87 aa c3"
    "47 d1 43 f9 60 5d 64 f6 50 db 4d 02 3e 70 e9 52 ca 49 fe 51 37 12 1c 74"
    "bc 26 97 68 7e 24 87 46 d6 df 35 30 05 f3 bc e1 86 96 12 9c 81 53 55 6b"
    "3b 6c 67 79 b3 7b f1 59 85 68 4f";
/* {client} and {server} application_data records: payload 00 01 .. 31. */
static const char c_app_rec[] =
    "17 03 03 00 43 a2 3f 70 54 b6 2c 94 d0 af fa fe 82 28 ba 55 cb ef ac ea"
    "42 f9 14 aa 66 bc ab 3f 2b 98 19 a8 a5 b4 6b 39 5b d5 4a 9a 20 44 1e 2b"
    "62 97 4e 1f 5a 62 92 a2 97 70 14 bd 1e 3d ea e6 3a ee bb 21 69 49 15 e4";
static const char s_app_rec[] =
    "17 03 03 00 43 2e 93 7e 11 ef 4a c7 40 e5 38 ad 36 00 5f c4 a4 69 32 fc"
    "32 25 d0 5f 82 aa 1b 36 e3 0e fa f9 7d 90 e6 df fc 60 2d cb 50 1a 59 a8"
    "fc c4 9c 4b f2 e5 f0 a2 1c 00 47 c2 ab f3 32 54 0d d0 32 e1 67 c2 95 5d";
/* {client} and {server} close_notify alert records. */
static const char c_alert_rec[] =
    "17 03 03 00 13 c9 87 27 60 65 56 66 b7 4d 7f f1 15 3e fd 6d b6 d0 b0 e3";
static const char s_alert_rec[] =
    "17 03 03 00 13 b5 8f d6 71 66 eb f5 99 d2 47 20 cf be 7e fa 7a 88 64 a9";

static size_t
unhex(const char *s, unsigned char *out, size_t max)
{
	size_t n = 0;
	unsigned v;

	while (*s != '\0') {
		if (*s == ' ') {
			s++;
			continue;
		}
		if (n == max || sscanf(s, "%2x", &v) != 1) {
			fprintf(stderr, "bad hex in test vector\n");
			exit(2);
		}
		out[n++] = (unsigned char)v;
		s += 2;
	}
	return n;
}

static int
hexeq(const unsigned char *p, size_t len, const char *hex)
{
	unsigned char want[512];
	size_t n = unhex(hex, want, sizeof(want));

	return n == len && memcmp(p, want, n) == 0;
}

static void
payload50(unsigned char *p)
{
	int i;

	for (i = 0; i < 50; i++)
		p[i] = (unsigned char)i;
}

/* The RFC 8448 client state: tx = client keys, rx = server keys. */
static void
rfc_state(struct cp_tls_state *st)
{
	memset(st, 0, sizeof(*st));
	st->version = 0x0304;
	st->cipher = 0x1301;
	st->tx.keylen = unhex(c_ap_key, st->tx.key, sizeof(st->tx.key));
	unhex(c_ap_iv, st->tx.iv, sizeof(st->tx.iv));
	st->tx.secretlen = unhex(c_ap_secret, st->tx.secret, CP_MAX_SECRET);
	st->rx.keylen = unhex(s_ap_key, st->rx.key, sizeof(st->rx.key));
	unhex(s_ap_iv, st->rx.iv, sizeof(st->rx.iv));
	st->rx.secretlen = unhex(s_ap_secret, st->rx.secret, CP_MAX_SECRET);
}

/* The server's view of the same connection. */
static void
rfc_state_server(struct cp_tls_state *st)
{
	struct cp_tls_dir d;

	rfc_state(st);
	d = st->tx;
	st->tx = st->rx;
	st->rx = d;
}

static void
mkpair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		perror("socketpair");
		exit(2);
	}
}

static void
writeall(int fd, const void *p, size_t n)
{
	CU_ASSERT_FATAL(write(fd, p, n) == (ssize_t)n);
}

static void
test_rfc8448_keys(void)
{
	unsigned char secret[48], out[32];
	size_t sl;

	sl = unhex(c_ap_secret, secret, sizeof(secret));
	CU_ASSERT(tls_rec_expand_label(
	              "SHA256", secret, sl, "key", NULL, 0, out, 16) == 0);
	CU_ASSERT(hexeq(out, 16, c_ap_key));
	CU_ASSERT(tls_rec_expand_label(
	              "SHA256", secret, sl, "iv", NULL, 0, out, 12) == 0);
	CU_ASSERT(hexeq(out, 12, c_ap_iv));
	sl = unhex(s_ap_secret, secret, sizeof(secret));
	CU_ASSERT(tls_rec_expand_label(
	              "SHA256", secret, sl, "key", NULL, 0, out, 16) == 0);
	CU_ASSERT(hexeq(out, 16, s_ap_key));
	CU_ASSERT(tls_rec_expand_label(
	              "SHA256", secret, sl, "iv", NULL, 0, out, 12) == 0);
	CU_ASSERT(hexeq(out, 12, s_ap_iv));
	/* Limits: labels are at most 255 - 6 bytes. */
	CU_ASSERT(
	    tls_rec_expand_label("SHA256", secret, sl,
	        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	        "xxxxxxxxxxxxxxxxxxxxxx",
	        NULL, 0, out, 16) == -1);
}

/* HKDF-Expand for L <= HashLen is HMAC(PRK, info || 0x01): compute the
 * "traffic upd" step independently of the KDF API. */
static void
test_traffic_upd(void)
{
	static const unsigned char info_hdr[] = {0x00, 0x20, 0x11};
	static const char lbl[] = "tls13 traffic upd";
	unsigned char secret[48], info[64], want[64], got[32];
	unsigned int wl = 0;
	size_t sl, il;

	sl = unhex(c_ap_secret, secret, sizeof(secret));
	memcpy(info, info_hdr, sizeof(info_hdr));
	memcpy(info + 3, lbl, sizeof(lbl) - 1);
	il = 3 + sizeof(lbl) - 1;
	info[il++] = 0x00; /* empty context */
	info[il++] = 0x01; /* HKDF counter */
	CU_ASSERT_FATAL(
	    HMAC(EVP_sha256(), secret, (int)sl, info, il, want, &wl) != NULL);
	CU_ASSERT_FATAL(wl == 32);
	CU_ASSERT(tls_rec_expand_label("SHA256", secret, sl, "traffic upd",
	              NULL, 0, got, 32) == 0);
	CU_ASSERT(memcmp(got, want, 32) == 0);
	/* With a context, the context bytes take the place of the 0 length. */
	info[il - 2] = 2;
	info[il - 1] = 0xab;
	info[il] = 0xcd;
	info[il + 1] = 0x01;
	CU_ASSERT_FATAL(HMAC(EVP_sha256(), secret, (int)sl, info, il + 2, want,
	                    &wl) != NULL);
	CU_ASSERT(tls_rec_expand_label("SHA256", secret, sl, "traffic upd",
	              (const unsigned char *)"\xab\xcd", 2, got, 32) == 0);
	CU_ASSERT(memcmp(got, want, 32) == 0);
}

/* The server's flight after the handshake: NewSessionTicket, data,
 * close_notify, decrypted with the published keys. */
static void
test_rfc8448_server_records(void)
{
	unsigned char wire[512], buf[256], want[50];
	struct cp_tls_state st;
	struct tls_rec_stats stats;
	struct tls_rec *r;
	char err[128];
	size_t n = 0;
	int sv[2];

	mkpair(sv);
	n += unhex(s_nst_rec, wire + n, sizeof(wire) - n);
	n += unhex(s_app_rec, wire + n, sizeof(wire) - n);
	n += unhex(s_alert_rec, wire + n, sizeof(wire) - n);
	writeall(sv[1], wire, n);
	rfc_state(&st);
	r = tls_rec_new(sv[0], &st, err, sizeof(err));
	cp_tls_state_wipe(&st);
	CU_ASSERT_FATAL(r != NULL);
	payload50(want);
	CU_ASSERT(tls_rec_read(r, buf, sizeof(buf)) == 50);
	CU_ASSERT(memcmp(buf, want, 50) == 0);
	tls_rec_stats(r, &stats);
	CU_ASSERT(stats.tickets == 1);
	/* All three records were there: the alert is read ahead. */
	CU_ASSERT(stats.records_in == 3);
	/* 222 - 16 (tag) - 1 (type) = 205: header 04 00 00 c9 + 201. */
	CU_ASSERT(tls_rec_ticket(r, 0, buf, sizeof(buf)) == 205);
	CU_ASSERT(buf[0] == 4 && buf[1] == 0 && buf[2] == 0 && buf[3] == 0xc9);
	CU_ASSERT(
	    tls_rec_ticket(r, 1, buf, sizeof(buf)) == -1 && errno == ENOENT);
	CU_ASSERT(tls_rec_ticket(r, 0, buf, 10) == -1 && errno == ENOSPC);
	CU_ASSERT(tls_rec_read(r, buf, sizeof(buf)) == 0);
	CU_ASSERT(tls_rec_read(r, buf, sizeof(buf)) == 0);
	CU_ASSERT_STRING_EQUAL(tls_rec_error(r), "");
	tls_rec_free(r);
	close(sv[0]);
	close(sv[1]);
}

/* Our writing side must produce the published client records exactly. */
static void
test_rfc8448_client_records(void)
{
	unsigned char buf[256], p[50];
	struct cp_tls_state st;
	struct tls_rec *r;
	char err[128];
	int sv[2];

	mkpair(sv);
	rfc_state(&st);
	r = tls_rec_new(sv[0], &st, err, sizeof(err));
	CU_ASSERT_FATAL(r != NULL);
	payload50(p);
	CU_ASSERT(tls_rec_write(r, p, sizeof(p)) == 50);
	CU_ASSERT(read(sv[1], buf, sizeof(buf)) == 72);
	CU_ASSERT(hexeq(buf, 72, c_app_rec));
	CU_ASSERT(tls_rec_close_notify(r) == 0);
	CU_ASSERT(read(sv[1], buf, sizeof(buf)) == 24);
	CU_ASSERT(hexeq(buf, 24, c_alert_rec));
	CU_ASSERT(tls_rec_write(r, p, 1) == -1 && errno == EPIPE);
	tls_rec_free(r);
	cp_tls_state_wipe(&st);
	close(sv[0]);
	close(sv[1]);
}

/* One byte at a time on a non-blocking socket: every partial state must be
 * kept across EAGAIN. */
static void
test_partial_nonblocking(void)
{
	unsigned char wire[512], buf[256], want[50];
	struct cp_tls_state st;
	struct tls_rec *r;
	size_t n = 0, i;
	ssize_t got = -1;
	int sv[2], eagain = 0;
	char err[128];

	mkpair(sv);
	n += unhex(s_nst_rec, wire + n, sizeof(wire) - n);
	n += unhex(s_app_rec, wire + n, sizeof(wire) - n);
	CU_ASSERT_FATAL(fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0);
	rfc_state(&st);
	r = tls_rec_new(sv[0], &st, err, sizeof(err));
	cp_tls_state_wipe(&st);
	CU_ASSERT_FATAL(r != NULL);
	for (i = 0; i < n; i++) {
		writeall(sv[1], wire + i, 1);
		got = tls_rec_read(r, buf, sizeof(buf));
		if (got == -1 && errno == EAGAIN)
			eagain++;
		else
			break;
	}
	CU_ASSERT(i == n - 1);
	CU_ASSERT(eagain == (int)n - 1);
	payload50(want);
	CU_ASSERT(got == 50 && memcmp(buf, want, 50) == 0);
	tls_rec_free(r);
	close(sv[0]);
	close(sv[1]);
}

static void
test_small_reads(void)
{
	unsigned char wire[512], buf[8], want[50], all[50];
	struct cp_tls_state st;
	struct tls_rec *r;
	size_t n = 0, off = 0;
	ssize_t got;
	int sv[2];
	char err[128];

	mkpair(sv);
	n += unhex(s_app_rec, wire + n, sizeof(wire) - n);
	writeall(sv[1], wire, n);
	rfc_state(&st);
	st.rx.seq = 1; /* the ticket record is left out here */
	r = tls_rec_new(sv[0], &st, err, sizeof(err));
	cp_tls_state_wipe(&st);
	CU_ASSERT_FATAL(r != NULL);
	while (off < 50 && (got = tls_rec_read(r, buf, 7)) > 0) {
		CU_ASSERT(got <= 7);
		memcpy(all + off, buf, (size_t)got);
		off += (size_t)got;
		CU_ASSERT(tls_rec_pending(r) == 50 - off);
	}
	payload50(want);
	CU_ASSERT(off == 50 && memcmp(all, want, 50) == 0);
	tls_rec_free(r);
	close(sv[0]);
	close(sv[1]);
}

/* A flipped bit: bad_record_mac locally and as an alert to the peer. */
static void
test_tamper(void)
{
	unsigned char wire[512], buf[256];
	struct cp_tls_state st, peer;
	struct tls_rec *r, *p;
	size_t n;
	int sv[2];
	char err[128];

	mkpair(sv);
	n = unhex(s_app_rec, wire, sizeof(wire));
	wire[40] ^= 0x01;
	writeall(sv[1], wire, n);
	rfc_state(&st);
	st.rx.seq = 1;
	r = tls_rec_new(sv[0], &st, err, sizeof(err));
	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT(tls_rec_read(r, buf, sizeof(buf)) == -1 && errno == EBADMSG);
	CU_ASSERT(strstr(tls_rec_error(r), "bad record MAC") != NULL);
	CU_ASSERT(tls_rec_read(r, buf, sizeof(buf)) == -1 && errno == EBADMSG);
	CU_ASSERT(tls_rec_write(r, "x", 1) == -1 && errno == EPIPE);
	/* The peer (server keys) reads our alert. */
	rfc_state_server(&peer);
	p = tls_rec_new(sv[1], &peer, err, sizeof(err));
	CU_ASSERT_FATAL(p != NULL);
	CU_ASSERT(
	    tls_rec_read(p, buf, sizeof(buf)) == -1 && errno == ECONNRESET);
	CU_ASSERT_STRING_EQUAL(
	    tls_rec_error(p), "received fatal alert: bad_record_mac");
	tls_rec_free(p);
	tls_rec_free(r);
	cp_tls_state_wipe(&st);
	cp_tls_state_wipe(&peer);
	close(sv[0]);
	close(sv[1]);
}

static void
test_header_overflow(void)
{
	static const unsigned char big[5] = {0x17, 0x03, 0x03, 0x41, 0x01};
	static const unsigned char ccs[6] = {0x14, 0x03, 0x03, 0x00, 0x01, 1};
	unsigned char buf[64];
	struct cp_tls_state st;
	struct tls_rec *r;
	int sv[2];
	char err[128];

	/* 2^14 + 257 bytes of ciphertext: refused from the header alone. */
	mkpair(sv);
	writeall(sv[1], big, sizeof(big));
	rfc_state(&st);
	r = tls_rec_new(sv[0], &st, err, sizeof(err));
	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT(tls_rec_read(r, buf, sizeof(buf)) == -1 && errno == EMSGSIZE);
	CU_ASSERT(strstr(tls_rec_error(r), "record overflow") != NULL);
	tls_rec_free(r);
	close(sv[0]);
	close(sv[1]);

	/* A ChangeCipherSpec after the handshake. */
	mkpair(sv);
	writeall(sv[1], ccs, sizeof(ccs));
	r = tls_rec_new(sv[0], &st, err, sizeof(err));
	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT(tls_rec_read(r, buf, sizeof(buf)) == -1 && errno == EPROTO);
	CU_ASSERT(strstr(tls_rec_error(r), "unexpected record type") != NULL);
	tls_rec_free(r);
	cp_tls_state_wipe(&st);
	close(sv[0]);
	close(sv[1]);
}

/* TLS 1.2 PRF vectors (IETF TLS list, "TLS 1.2 Test vectors"). */
static void
test_prf(void)
{
	unsigned char secret[16], seed[16], out[148];

	unhex("9b be 43 6b a9 40 f0 17 b1 76 52 84 9a 71 db 35", secret, 16);
	unhex("a0 ba 9f 93 6c da 31 18 27 a6 f7 96 ff d5 19 8c", seed, 16);
	/* The seed in two parts, as for server_random || client_random. */
	CU_ASSERT(tls_export_prf("SHA256", secret, 16, "test label", seed, 5,
	              seed + 5, 11, out, 100) == 0);
	CU_ASSERT(hexeq(out, 100,
	    "e3 f2 29 ba 72 7b e1 7b 8d 12 26 20 55 7c d4 53 c2 aa b2 1d 07 c3"
	    "d4 95 32 9b 52 d4 e6 1e db 5a 6b 30 17 91 e9 0d 35 c9 c9 a4 6b 4e"
	    "14 ba f9 af 0f a0 22 f7 07 7d ef 17 ab fd 37 97 c0 56 4b ab 4f bc"
	    "91 66 6e 9d ef 9b 97 fc e3 4f 79 67 89 ba a4 80 82 d1 22 ee 42 c5"
	    "a7 2e 5a 51 10 ff f7 01 87 34 7b 66"));
	unhex("b8 0b 73 3d 6c ee fc dc 71 56 6e a4 8e 55 67 df", secret, 16);
	unhex("cd 66 5c f6 a8 44 7d d6 ff 8b 27 55 5e db 74 65", seed, 16);
	CU_ASSERT(tls_export_prf("SHA384", secret, 16, "test label", seed, 16,
	              seed, 0, out, 148) == 0);
	CU_ASSERT(hexeq(out, 148,
	    "7b 0c 18 e9 ce d4 10 ed 18 04 f2 cf a3 4a 33 6a 1c 14 df fb 49 00"
	    "bb 5f d7 94 21 07 e8 1c 83 cd e9 ca 0f aa 60 be 9f e3 4f 82 b1 23"
	    "3c 91 46 a0 e5 34 cb 40 0f ed 27 00 88 4f 9d c2 36 f8 0e dd 8b fa"
	    "96 11 44 c9 e8 d7 92 ec a7 22 a7 b3 2f c3 d4 16 d4 73 eb c2 c5 fd"
	    "4a bf da d0 5d 91 84 25 9b 5b f8 cd 4d 90 fa 0d 31 e2 de c4 79 e4"
	    "f1 a2 60 66 f2 ee a9 a6 92 36 a3 e5 26 55 c9 e9 ae e6 91 c8 f3 a2"
	    "68 54 30 8d 5e aa 3b e8 5e 09 90 70 3d 73 e5 6f"));
}

/* ---- state for loopback pairs ---- */

static void
rnd(void *p, size_t n)
{
	CU_ASSERT_FATAL(RAND_bytes(p, (int)n) == 1);
}

static void
mkdir13(struct cp_tls_dir *d, const char *md, size_t hl, size_t kl)
{
	memset(d, 0, sizeof(*d));
	rnd(d->secret, hl);
	d->secretlen = hl;
	d->keylen = kl;
	CU_ASSERT_FATAL(tls_rec_expand_label(md, d->secret, hl, "key", NULL, 0,
	                    d->key, kl) == 0);
	CU_ASSERT_FATAL(tls_rec_expand_label(
	                    md, d->secret, hl, "iv", NULL, 0, d->iv, 12) == 0);
}

static void
mkdir12(struct cp_tls_dir *d, size_t kl, size_t il)
{
	memset(d, 0, sizeof(*d));
	rnd(d->key, kl);
	rnd(d->iv, il);
	d->keylen = kl;
	d->seq = 1;
}

static const struct suite {
	uint16_t version, cipher;
	size_t keylen, ivlen, hashlen;
	const char *md;
} suites[] = {
    {0x0304, 0x1301, 16, 12, 32, "SHA256"},
    {0x0304, 0x1302, 32, 12, 48, "SHA384"},
    {0x0304, 0x1303, 32, 12, 32, "SHA256"},
    {0x0303, 0xC02B, 16, 4, 0, "SHA256"},
    {0x0303, 0xC030, 32, 4, 0, "SHA384"},
    {0x0303, 0xCCA8, 32, 12, 0, "SHA256"},
};
#define NSUITES (sizeof(suites) / sizeof(suites[0]))

struct pair {
	int sv[2];
	struct tls_rec *a, *b;
};

static void
pair_open(struct pair *p, const struct suite *s)
{
	struct cp_tls_state sa, sb;
	char err[128];

	memset(&sa, 0, sizeof(sa));
	sa.version = s->version;
	sa.cipher = s->cipher;
	if (s->version == 0x0304) {
		mkdir13(&sa.tx, s->md, s->hashlen, s->keylen);
		mkdir13(&sa.rx, s->md, s->hashlen, s->keylen);
	} else {
		mkdir12(&sa.tx, s->keylen, s->ivlen);
		mkdir12(&sa.rx, s->keylen, s->ivlen);
	}
	sb = sa;
	sb.tx = sa.rx;
	sb.rx = sa.tx;
	mkpair(p->sv);
	p->a = tls_rec_new(p->sv[0], &sa, err, sizeof(err));
	p->b = tls_rec_new(p->sv[1], &sb, err, sizeof(err));
	cp_tls_state_wipe(&sa);
	cp_tls_state_wipe(&sb);
	CU_ASSERT_FATAL(p->a != NULL && p->b != NULL);
}

static void
pair_close(struct pair *p)
{
	tls_rec_free(p->a);
	tls_rec_free(p->b);
	close(p->sv[0]);
	if (p->sv[1] != -1)
		close(p->sv[1]);
}

static void
fill(unsigned char *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (unsigned char)(seed >> 16);
	}
}

/* Read exactly n bytes; bounded by the number of calls. */
static int
read_exact(struct tls_rec *r, unsigned char *p, size_t n)
{
	size_t off = 0;
	ssize_t got;
	int calls = 0;

	while (off < n && calls++ < 100000) {
		got = tls_rec_read(r, p + off, n - off);
		if (got <= 0)
			return -1;
		off += (size_t)got;
	}
	return off == n ? 0 : -1;
}

/* Many sizes, both directions, every suite. */
static void
test_loopback(void)
{
	static const size_t sizes[] = {1, 2, 15, 16, 17, 255, 1000, 16383,
	    16384, 16385, 32768, 50000, 65536 + 7};
	unsigned char *out = malloc(70000), *in = malloc(70000);
	size_t i, k;
	struct pair p;

	CU_ASSERT_FATAL(out != NULL && in != NULL);
	for (i = 0; i < NSUITES; i++) {
		pair_open(&p, &suites[i]);
		for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			fill(out, sizes[k], (unsigned)(i * 100 + k));
			CU_ASSERT(tls_rec_write(p.a, out, sizes[k]) ==
			          (ssize_t)sizes[k]);
			memset(in, 0, sizes[k]);
			CU_ASSERT(read_exact(p.b, in, sizes[k]) == 0);
			CU_ASSERT(memcmp(in, out, sizes[k]) == 0);
			CU_ASSERT(tls_rec_write(p.b, out, sizes[k]) ==
			          (ssize_t)sizes[k]);
			CU_ASSERT(read_exact(p.a, in, sizes[k]) == 0);
			CU_ASSERT(memcmp(in, out, sizes[k]) == 0);
		}
		CU_ASSERT(tls_rec_close_notify(p.a) == 0);
		CU_ASSERT(tls_rec_read(p.b, in, 10) == 0);
		CU_ASSERT_STRING_EQUAL(tls_rec_error(p.b), "");
		pair_close(&p);
	}
	free(out);
	free(in);
}

/* Independent decryption of our TLS 1.2 records with plain EVP calls. */
static void
check12(const struct suite *s, int gcm)
{
	unsigned char wire[128], pt[16], nonce[12], aad[13];
	struct cp_tls_state st;
	struct tls_rec *r;
	EVP_CIPHER_CTX *c;
	const unsigned char *ct;
	char err[128];
	int sv[2], l = 0, l2 = 0, i;
	size_t n, ctlen;

	memset(&st, 0, sizeof(st));
	st.version = s->version;
	st.cipher = s->cipher;
	mkdir12(&st.tx, s->keylen, s->ivlen);
	mkdir12(&st.rx, s->keylen, s->ivlen);
	st.tx.seq = 7;
	mkpair(sv);
	r = tls_rec_new(sv[0], &st, err, sizeof(err));
	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT(tls_rec_write(r, "hello", 5) == 5);
	n = (size_t)read(sv[1], wire, sizeof(wire));
	ctlen = 5 + 16 + (gcm ? 8 : 0);
	CU_ASSERT_FATAL(n == 5 + ctlen);
	CU_ASSERT(wire[0] == 23 && wire[1] == 3 && wire[2] == 3 &&
	          wire[3] == 0 && wire[4] == ctlen);
	memcpy(nonce, st.tx.iv, 12);
	if (gcm) {
		/* salt || explicit nonce, the explicit part is seq 7. */
		CU_ASSERT(hexeq(wire + 5, 8, "00 00 00 00 00 00 00 07"));
		memcpy(nonce + 4, wire + 5, 8);
		ct = wire + 13;
	} else {
		nonce[11] ^= 7;
		ct = wire + 5;
	}
	memcpy(aad, "\0\0\0\0\0\0\0\x07\x17\x03\x03\x00\x05", 13);
	c = EVP_CIPHER_CTX_new();
	i = EVP_DecryptInit_ex(c,
	        gcm ? (s->keylen == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm())
	            : EVP_chacha20_poly1305(),
	        NULL, st.tx.key, nonce) == 1 &&
	    EVP_CIPHER_CTX_ctrl(
	        c, EVP_CTRL_AEAD_SET_TAG, 16, (void *)(ct + 5)) == 1 &&
	    EVP_DecryptUpdate(c, NULL, &l, aad, 13) == 1 &&
	    EVP_DecryptUpdate(c, pt, &l, ct, 5) == 1 &&
	    EVP_DecryptFinal_ex(c, pt + l, &l2) == 1;
	CU_ASSERT(i == 1);
	CU_ASSERT(l + l2 == 5 && memcmp(pt, "hello", 5) == 0);
	EVP_CIPHER_CTX_free(c);
	tls_rec_free(r);
	cp_tls_state_wipe(&st);
	close(sv[0]);
	close(sv[1]);
}

static void
test_tls12_records(void)
{
	check12(&suites[3], 1);
	check12(&suites[4], 1);
	check12(&suites[5], 0);
}

static void
test_key_update(void)
{
	struct tls_rec_stats sa, sb;
	unsigned char buf[64];
	struct pair p;

	pair_open(&p, &suites[0]);
	/* a asks b to update too: b answers before its next data. */
	CU_ASSERT(tls_rec_key_update(p.a, 1) == 0);
	CU_ASSERT(tls_rec_write(p.a, "one", 3) == 3);
	CU_ASSERT(read_exact(p.b, buf, 3) == 0 && memcmp(buf, "one", 3) == 0);
	tls_rec_stats(p.b, &sb);
	CU_ASSERT(sb.key_updates_received == 1);
	CU_ASSERT(sb.key_updates_sent == 1);
	CU_ASSERT(tls_rec_write(p.b, "two", 3) == 3);
	CU_ASSERT(read_exact(p.a, buf, 3) == 0 && memcmp(buf, "two", 3) == 0);
	tls_rec_stats(p.a, &sa);
	CU_ASSERT(sa.key_updates_sent == 1 && sa.key_updates_received == 1);
	/* Without a request, b does not answer. */
	CU_ASSERT(tls_rec_key_update(p.a, 0) == 0);
	CU_ASSERT(tls_rec_write(p.a, "three", 5) == 5);
	CU_ASSERT(read_exact(p.b, buf, 5) == 0);
	tls_rec_stats(p.b, &sb);
	CU_ASSERT(sb.key_updates_received == 2 && sb.key_updates_sent == 1);
	CU_ASSERT(tls_rec_write(p.b, "four", 4) == 4);
	CU_ASSERT(read_exact(p.a, buf, 4) == 0 && memcmp(buf, "four", 4) == 0);
	pair_close(&p);
	/* TLS 1.2 has no KeyUpdate. */
	pair_open(&p, &suites[3]);
	CU_ASSERT(tls_rec_key_update(p.a, 0) == -1 && errno == EOPNOTSUPP);
	pair_close(&p);
}

/* The AES-GCM usage limit triggers our own KeyUpdate; not for ChaCha. */
static void
test_rekey_limit(void)
{
	struct tls_rec_stats sa, sb;
	unsigned char buf[1000], in[1000];
	struct pair p;
	int i, ok = 1;

	pair_open(&p, &suites[0]);
	tls_rec_set_rekey_limit(p.a, 3);
	for (i = 0; i < 10; i++) {
		fill(buf, sizeof(buf), (unsigned)i);
		ok &= tls_rec_write(p.a, buf, sizeof(buf)) == sizeof(buf);
		ok &= read_exact(p.b, in, sizeof(in)) == 0;
		ok &= memcmp(in, buf, sizeof(in)) == 0;
	}
	CU_ASSERT(ok);
	tls_rec_stats(p.a, &sa);
	tls_rec_stats(p.b, &sb);
	/* Three data records per key: updates before records 4, 7, 10. */
	CU_ASSERT(sa.key_updates_sent == 3);
	CU_ASSERT(sb.key_updates_received == sa.key_updates_sent);
	CU_ASSERT(sb.key_updates_sent == 0);
	pair_close(&p);

	pair_open(&p, &suites[2]);
	tls_rec_set_rekey_limit(p.a, 3);
	for (i = 0; i < 10; i++) {
		ok &= tls_rec_write(p.a, buf, sizeof(buf)) == sizeof(buf);
		ok &= read_exact(p.b, in, sizeof(in)) == 0;
	}
	CU_ASSERT(ok);
	tls_rec_stats(p.a, &sa);
	CU_ASSERT(sa.key_updates_sent == 0);
	pair_close(&p);
}

/* A syntactically valid NewSessionTicket with a 40-byte ticket. */
static size_t
make_nst(unsigned char *m)
{
	size_t n = 0;

	m[n++] = 4;
	m[n++] = 0;
	m[n++] = 0;
	m[n++] = 0;                                       /* length, below */
	memcpy(m + n, "\0\0\x0e\x10\x01\x02\x03\x04", 8); /* lifetime, age */
	n += 8;
	m[n++] = 2; /* nonce */
	m[n++] = 0xaa;
	m[n++] = 0xbb;
	m[n++] = 0;
	m[n++] = 40; /* ticket */
	memset(m + n, 0x5a, 40);
	n += 40;
	memcpy(m + n, "\0\x08\0\x2a\0\x04\0\0\x40\0", 10); /* early_data ext */
	n += 10;
	m[3] = (unsigned char)(n - 4);
	return n;
}

/* What the ticket callback saw. */
struct seen {
	int n;
	size_t len[4];
	unsigned char first[128];
};

static void
seen_ticket(void *arg, const unsigned char *m, size_t len)
{
	struct seen *s = arg;

	if (s->n == 0 && len <= sizeof(s->first))
		memcpy(s->first, m, len);
	if (s->n < 4)
		s->len[s->n] = len;
	s->n++;
}

static void
test_handshake_fragments(void)
{
	struct seen seen;
	unsigned char m[128], two[256], buf[128];
	struct tls_rec_stats sb;
	struct pair p;
	size_t n;

	pair_open(&p, &suites[1]);
	memset(&seen, 0, sizeof(seen));
	tls_rec_set_ticket_fn(p.b, seen_ticket, &seen);
	n = make_nst(m);
	/* One ticket in three records, then two tickets in one record. */
	CU_ASSERT(tls_rec_send_raw(p.a, 22, m, 3) == 0);
	CU_ASSERT(tls_rec_send_raw(p.a, 22, m + 3, 20) == 0);
	CU_ASSERT(tls_rec_send_raw(p.a, 22, m + 23, n - 23) == 0);
	memcpy(two, m, n);
	memcpy(two + n, m, n);
	two[n + 5] = 0x77; /* tell the two apart */
	CU_ASSERT(tls_rec_send_raw(p.a, 22, two, 2 * n) == 0);
	CU_ASSERT(tls_rec_write(p.a, "data", 4) == 4);
	CU_ASSERT(read_exact(p.b, buf, 4) == 0 && memcmp(buf, "data", 4) == 0);
	tls_rec_stats(p.b, &sb);
	CU_ASSERT(sb.tickets == 3);
	CU_ASSERT(tls_rec_ticket(p.b, 0, buf, sizeof(buf)) == (ssize_t)n);
	CU_ASSERT(buf[5] == 0x77);
	CU_ASSERT(tls_rec_ticket(p.b, 2, buf, sizeof(buf)) == (ssize_t)n);
	CU_ASSERT(memcmp(buf, m, n) == 0);
	/* Each whole message, header included, went to the callback too
	 * (the daemon's session cache). */
	CU_ASSERT_EQUAL(seen.n, 3);
	CU_ASSERT(seen.len[0] == n && seen.len[1] == n && seen.len[2] == n);
	CU_ASSERT(memcmp(seen.first, m, n) == 0);
	pair_close(&p);

	/* Application data inside a fragmented message. */
	pair_open(&p, &suites[0]);
	CU_ASSERT(tls_rec_send_raw(p.a, 22, m, 10) == 0);
	CU_ASSERT(tls_rec_write(p.a, "data", 4) == 4);
	CU_ASSERT(tls_rec_read(p.b, buf, 4) == -1 && errno == EPROTO);
	CU_ASSERT(strstr(tls_rec_error(p.b), "fragmented") != NULL);
	pair_close(&p);

	/* A ticket whose lengths do not add up. */
	pair_open(&p, &suites[0]);
	m[4 + 8] = 200; /* nonce length past the end */
	CU_ASSERT(tls_rec_send_raw(p.a, 22, m, n) == 0);
	CU_ASSERT(tls_rec_read(p.b, buf, 4) == -1 && errno == EPROTO);
	CU_ASSERT(strstr(tls_rec_error(p.b), "NewSessionTicket") != NULL);
	pair_close(&p);
}

static void
bad_hs(const struct suite *s, const void *msg, size_t n, const char *why)
{
	unsigned char buf[16];
	struct pair p;

	pair_open(&p, s);
	CU_ASSERT(tls_rec_send_raw(p.a, 22, msg, n) == 0);
	CU_ASSERT(tls_rec_read(p.b, buf, sizeof(buf)) == -1);
	CU_ASSERT(errno == EPROTO);
	if (strstr(tls_rec_error(p.b), why) == NULL) {
		fprintf(stderr, "error \"%s\" lacks \"%s\"\n",
		    tls_rec_error(p.b), why);
		CU_FAIL("wrong error");
	}
	/* The alert reached a. */
	CU_ASSERT(tls_rec_read(p.a, buf, sizeof(buf)) == -1);
	CU_ASSERT(strstr(tls_rec_error(p.a), "received fatal alert") != NULL);
	pair_close(&p);
}

static void
test_bad_handshake(void)
{
	unsigned char m[128];
	size_t n;

	bad_hs(&suites[0], "\x18\0\0\x01\x02", 5, "bad KeyUpdate value");
	bad_hs(&suites[0], "\x18\0\0\x02\x00\x00", 6, "malformed KeyUpdate");
	m[0] = 24;
	m[1] = m[2] = 0;
	m[3] = 1;
	m[4] = 0;
	n = make_nst(m + 5);
	bad_hs(&suites[0], m, 5 + n, "KeyUpdate not at the end");
	bad_hs(&suites[0], "\x0d\0\0\0", 4, "unexpected handshake message 13");
	bad_hs(&suites[3], "\x04\0\0\0", 4, "unexpected handshake message 4");
	bad_hs(&suites[0], "", 0, "empty handshake record");
	bad_hs(&suites[0], "\x04\xff\xff\xff", 4, "too large");
}

/* TLS 1.2 HelloRequest: a no_renegotiation warning, and data goes on. */
static void
test_hello_request(void)
{
	struct tls_rec_stats sa, sb;
	unsigned char buf[16];
	struct pair p;

	pair_open(&p, &suites[3]);
	CU_ASSERT(tls_rec_send_raw(p.a, 22, "\0\0\0\0", 4) == 0);
	CU_ASSERT(tls_rec_write(p.a, "abc", 3) == 3);
	CU_ASSERT(read_exact(p.b, buf, 3) == 0 && memcmp(buf, "abc", 3) == 0);
	tls_rec_stats(p.b, &sb);
	CU_ASSERT(sb.records_out == 1); /* the warning */
	CU_ASSERT(tls_rec_write(p.b, "xyz", 3) == 3);
	CU_ASSERT(read_exact(p.a, buf, 3) == 0 && memcmp(buf, "xyz", 3) == 0);
	tls_rec_stats(p.a, &sa);
	CU_ASSERT(sa.records_in == 2);
	CU_ASSERT_STRING_EQUAL(tls_rec_error(p.a), "");
	pair_close(&p);
}

static void
test_alerts(void)
{
	unsigned char buf[16];
	struct pair p;

	pair_open(&p, &suites[0]);
	CU_ASSERT(tls_rec_send_raw(p.a, 21, "\x02\x28", 2) == 0);
	CU_ASSERT(
	    tls_rec_read(p.b, buf, sizeof(buf)) == -1 && errno == ECONNRESET);
	CU_ASSERT_STRING_EQUAL(
	    tls_rec_error(p.b), "received fatal alert: handshake_failure");
	pair_close(&p);
	/* TLS 1.3: a "warning" other than user_canceled is fatal too. */
	pair_open(&p, &suites[2]);
	CU_ASSERT(tls_rec_send_raw(p.a, 21, "\x01\x5a", 2) == 0);
	CU_ASSERT(tls_rec_send_raw(p.a, 21, "\x01\x2a", 2) == 0);
	CU_ASSERT(tls_rec_read(p.b, buf, sizeof(buf)) == -1);
	CU_ASSERT_STRING_EQUAL(
	    tls_rec_error(p.b), "received fatal alert: bad_certificate");
	pair_close(&p);
	/* TLS 1.2 warnings are ignored. */
	pair_open(&p, &suites[5]);
	CU_ASSERT(tls_rec_send_raw(p.a, 21, "\x01\x2a", 2) == 0);
	CU_ASSERT(tls_rec_write(p.a, "ok", 2) == 2);
	CU_ASSERT(read_exact(p.b, buf, 2) == 0 && memcmp(buf, "ok", 2) == 0);
	pair_close(&p);
	/* Malformed alert. */
	pair_open(&p, &suites[0]);
	CU_ASSERT(tls_rec_send_raw(p.a, 21, "\x02\x28\x00", 3) == 0);
	CU_ASSERT(tls_rec_read(p.b, buf, sizeof(buf)) == -1 && errno == EPROTO);
	pair_close(&p);
	CU_ASSERT_STRING_EQUAL(tls_alert_name(20), "bad_record_mac");
	CU_ASSERT_STRING_EQUAL(tls_alert_name(200), "alert 200");
}

static void
test_plaintext_overflow(void)
{
	unsigned char *big = calloc(1, 16384 + 255), buf[16];
	struct pair p;
	size_t i;

	CU_ASSERT_FATAL(big != NULL);
	for (i = 0; i < NSUITES; i++) {
		pair_open(&p, &suites[i]);
		CU_ASSERT(tls_rec_send_raw(p.a, 23, big, 16385) == 0);
		CU_ASSERT(tls_rec_read(p.b, buf, sizeof(buf)) == -1 &&
		          errno == EMSGSIZE);
		CU_ASSERT(strstr(tls_rec_error(p.b), "overflow") != NULL);
		pair_close(&p);
	}
	free(big);
}

static void
test_truncated(void)
{
	unsigned char buf[16];
	struct pair p;

	pair_open(&p, &suites[0]);
	CU_ASSERT(tls_rec_write(p.a, "abc", 3) == 3);
	/* Half a record, then EOF. */
	CU_ASSERT(write(p.sv[0], "\x17\x03\x03\x00\x20\x01", 6) == 6);
	shutdown(p.sv[0], SHUT_WR);
	CU_ASSERT(read_exact(p.b, buf, 3) == 0);
	CU_ASSERT(
	    tls_rec_read(p.b, buf, sizeof(buf)) == -1 && errno == ECONNABORTED);
	CU_ASSERT(strstr(tls_rec_error(p.b), "truncated") != NULL);
	pair_close(&p);
}

/* The peer sent data and left: our write fails, its data still reads. */
static void
test_write_error(void)
{
	unsigned char buf[16];
	struct pair p;

	pair_open(&p, &suites[2]);
	CU_ASSERT(tls_rec_write(p.b, "last", 4) == 4);
	close(p.sv[1]);
	p.sv[1] = -1;
	CU_ASSERT(tls_rec_write(p.a, "x", 1) == -1 && errno == EPIPE);
	CU_ASSERT(strstr(tls_rec_error(p.a), "write:") != NULL);
	CU_ASSERT(tls_rec_write(p.a, "x", 1) == -1 && errno == EPIPE);
	CU_ASSERT(read_exact(p.a, buf, 4) == 0 && memcmp(buf, "last", 4) == 0);
	CU_ASSERT(
	    tls_rec_read(p.a, buf, sizeof(buf)) == -1 && errno == ECONNABORTED);
	pair_close(&p);
}

/* Non-blocking writes with a tiny send buffer: SSL_write retry rules. */
static void
test_nonblocking_write(void)
{
	size_t total = 1 << 20, got = 0;
	unsigned char *out = malloc(total), *in = malloc(total);
	int sz = 4096, eagain = 0, loops = 0;
	ssize_t w = -1, n;
	struct pair p;

	CU_ASSERT_FATAL(out != NULL && in != NULL);
	fill(out, total, 42);
	pair_open(&p, &suites[1]);
	CU_ASSERT(
	    setsockopt(p.sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)) == 0);
	CU_ASSERT(fcntl(p.sv[0], F_SETFL, O_NONBLOCK) == 0);
	CU_ASSERT(fcntl(p.sv[1], F_SETFL, O_NONBLOCK) == 0);
	while (got < total && loops++ < 100000) {
		if (w != (ssize_t)total) {
			w = tls_rec_write(p.a, out, total);
			if (w == -1 && errno == EAGAIN) {
				/* A retry must not be shorter. */
				if (eagain++ == 0)
					CU_ASSERT(
					    tls_rec_write(p.a, out, 1) == -1 &&
					    errno == EINVAL);
			} else
				CU_ASSERT(w == (ssize_t)total);
		}
		n = tls_rec_read(p.b, in + got, total - got);
		if (n > 0)
			got += (size_t)n;
		else
			CU_ASSERT(n == -1 && errno == EAGAIN);
	}
	CU_ASSERT(w == (ssize_t)total);
	CU_ASSERT(eagain > 0);
	CU_ASSERT(got == total && memcmp(in, out, total) == 0);
	pair_close(&p);
	free(out);
	free(in);
}

/*
 * The first fatal error is the one every failure reports, also within the
 * read that hit it: here the no_renegotiation answer to a HelloRequest
 * finds the write sequence exhausted, then the next message in the record
 * is malformed.  (Found by tests/fuzz/fuzz_record: the read returned
 * EPROTO with the text "write sequence exhausted", the next one
 * EOVERFLOW.)
 */
static void
test_first_error_sticks(void)
{
	static const unsigned char two[] = {0, 0, 0, 0, 0, 0, 0, 1, 0};
	struct cp_tls_state sa, sb;
	unsigned char buf[16];
	char err[128];
	struct pair p;

	memset(&sa, 0, sizeof(sa));
	sa.version = suites[3].version;
	sa.cipher = suites[3].cipher;
	mkdir12(&sa.tx, suites[3].keylen, suites[3].ivlen);
	mkdir12(&sa.rx, suites[3].keylen, suites[3].ivlen);
	sb = sa;
	sb.tx = sa.rx;
	sb.rx = sa.tx;
	sb.tx.seq = UINT64_MAX;
	mkpair(p.sv);
	p.a = tls_rec_new(p.sv[0], &sa, err, sizeof(err));
	p.b = tls_rec_new(p.sv[1], &sb, err, sizeof(err));
	CU_ASSERT_FATAL(p.a != NULL && p.b != NULL);
	CU_ASSERT(tls_rec_send_raw(p.a, 22, two, sizeof(two)) == 0);
	CU_ASSERT(
	    tls_rec_read(p.b, buf, sizeof(buf)) == -1 && errno == EOVERFLOW);
	CU_ASSERT_STRING_EQUAL(tls_rec_error(p.b), "write sequence exhausted");
	CU_ASSERT(
	    tls_rec_read(p.b, buf, sizeof(buf)) == -1 && errno == EOVERFLOW);
	pair_close(&p);
}

/* Nor does a read go on after its KeyUpdate answer failed: a close_notify
 * behind it is not a clean end (it returned 0; found by fuzz_record). */
static void
test_no_record_after_failure(void)
{
	struct cp_tls_state sa, sb;
	unsigned char buf[16];
	char err[128];
	struct pair p;

	memset(&sa, 0, sizeof(sa));
	sa.version = suites[0].version;
	sa.cipher = suites[0].cipher;
	mkdir13(&sa.tx, suites[0].md, suites[0].hashlen, suites[0].keylen);
	mkdir13(&sa.rx, suites[0].md, suites[0].hashlen, suites[0].keylen);
	sb = sa;
	sb.tx = sa.rx;
	sb.rx = sa.tx;
	sb.tx.seq = UINT64_MAX;
	mkpair(p.sv);
	p.a = tls_rec_new(p.sv[0], &sa, err, sizeof(err));
	p.b = tls_rec_new(p.sv[1], &sb, err, sizeof(err));
	CU_ASSERT_FATAL(p.a != NULL && p.b != NULL);
	/* What b is asked for goes out under a's new keys: a rekeys too. */
	CU_ASSERT(tls_rec_key_update(p.a, 1) == 0);
	CU_ASSERT(tls_rec_close_notify(p.a) == 0);
	CU_ASSERT(
	    tls_rec_read(p.b, buf, sizeof(buf)) == -1 && errno == EOVERFLOW);
	CU_ASSERT(
	    tls_rec_read(p.b, buf, sizeof(buf)) == -1 && errno == EOVERFLOW);
	pair_close(&p);
}

static void
test_bad_state(void)
{
	struct cp_tls_state st;
	struct tls_rec *r;
	char err[128];
	int sv[2];

	mkpair(sv);
	rfc_state(&st);
	st.cipher = 0x1304; /* AES-128-CCM */
	CU_ASSERT(tls_rec_new(sv[0], &st, err, sizeof(err)) == NULL);
	CU_ASSERT(strstr(err, "unsupported cipher suite") != NULL);
	rfc_state(&st);
	st.cipher = 0xC02B;
	CU_ASSERT(tls_rec_new(sv[0], &st, err, sizeof(err)) == NULL);
	CU_ASSERT(strstr(err, "is not for TLS version") != NULL);
	rfc_state(&st);
	st.rx.secretlen = 0;
	CU_ASSERT(tls_rec_new(sv[0], &st, err, sizeof(err)) == NULL);
	CU_ASSERT(strstr(err, "secrets") != NULL);
	/* Keys are taken as the daemon sent them, not derived again from
	 * the secrets: a key that is not its secret's still sets up. */
	rfc_state(&st);
	st.tx.key[0] ^= 1;
	r = tls_rec_new(sv[0], &st, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(r);
	tls_rec_free(r);
	rfc_state(&st);
	st.tx.keylen = 32;
	CU_ASSERT(tls_rec_new(sv[0], &st, err, sizeof(err)) == NULL);
	CU_ASSERT(tls_rec_new(-1, &st, err, sizeof(err)) == NULL);
	cp_tls_state_wipe(&st);
	close(sv[0]);
	close(sv[1]);
}

/* Every suite's fetched AEAD is the one its legacy name says, with the
 * suite's key length. */
static void
test_suite_ciphers(void)
{
	static const uint16_t ids[] = {0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F,
	    0xC02C, 0xC030, 0xCCA9, 0xCCA8};
	const struct rec_suite *su;
	const EVP_CIPHER *c;
	size_t i;

	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		su = rec_suite_find(ids[i]);
		CU_ASSERT_FATAL(su != NULL);
		c = rec_suite_cipher(su);
		CU_ASSERT_FATAL(c != NULL);
		CU_ASSERT_EQUAL(
		    EVP_CIPHER_get_nid(c), EVP_CIPHER_get_nid(su->aead()));
		CU_ASSERT_EQUAL(
		    (size_t)EVP_CIPHER_get_key_length(c), su->keylen);
		CU_ASSERT(rec_suite_cipher(su) == c); /* fetched once */
	}
	CU_ASSERT(rec_suite_find(0x1304) == NULL);
}

int
main(void)
{
	CU_pSuite s;

	s = cu_suite("record_vectors", NULL, NULL);
	cu_test(s, "RFC 8448 application keys", test_rfc8448_keys);
	cu_test(s, "traffic upd label", test_traffic_upd);
	cu_test(s, "RFC 8448 server records", test_rfc8448_server_records);
	cu_test(s, "RFC 8448 client records", test_rfc8448_client_records);
	cu_test(s, "TLS 1.2 PRF vectors", test_prf);
	cu_test(s, "TLS 1.2 records, independent EVP", test_tls12_records);

	s = cu_suite("record_layer", NULL, NULL);
	cu_test(s, "partial records, non-blocking", test_partial_nonblocking);
	cu_test(s, "small reads", test_small_reads);
	cu_test(s, "tampered record", test_tamper);
	cu_test(s, "header checks", test_header_overflow);
	cu_test(s, "plaintext overflow", test_plaintext_overflow);
	cu_test(s, "loopback, all suites", test_loopback);
	cu_test(s, "each suite's AEAD, fetched once", test_suite_ciphers);
	cu_test(s, "KeyUpdate", test_key_update);
	cu_test(s, "AES-GCM rekey limit", test_rekey_limit);
	cu_test(s, "handshake fragments", test_handshake_fragments);
	cu_test(s, "bad handshake messages", test_bad_handshake);
	cu_test(s, "TLS 1.2 HelloRequest", test_hello_request);
	cu_test(s, "alerts", test_alerts);
	cu_test(s, "truncation", test_truncated);
	cu_test(s, "write error, reads go on", test_write_error);
	cu_test(s, "non-blocking write", test_nonblocking_write);
	cu_test(s, "bad state", test_bad_state);
	cu_test(s, "the first error sticks", test_first_error_sticks);
	cu_test(s, "no record after a failure", test_no_record_after_failure);
	return cu_finish();
}
