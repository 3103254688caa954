/* SPDX-License-Identifier: ISC */
/*
 * Kernel TLS without a kernel that has it: the crypto_info built from a
 * cp_tls_state for each AEAD and version, byte for byte against the
 * layouts of linux/tls.h and against the records the user-space encoder
 * writes (the nonce and AAD the kernel would build from those fields);
 * the off/auto/require decision with made-up capabilities; how re-key
 * support is detected; and what attaching does on this machine.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "cutest.h"
#include "itest.h"
#include "ktls.h"
#include "msg.h"
#include "record.h"
#include "kdf.h"

struct suite_case {
	uint16_t version, cipher;
	int type; /* TLS_CIPHER_* */
	size_t infolen;
};

static const struct suite_case suites[] = {
    {0x0304, 0x1301, TLS_CIPHER_AES_GCM_128, 40},
    {0x0304, 0x1302, TLS_CIPHER_AES_GCM_256, 56},
    {0x0304, 0x1303, TLS_CIPHER_CHACHA20_POLY1305, 56},
    {0x0303, 0xC02B, TLS_CIPHER_AES_GCM_128, 40},
    {0x0303, 0xC02F, TLS_CIPHER_AES_GCM_128, 40},
    {0x0303, 0xC02C, TLS_CIPHER_AES_GCM_256, 56},
    {0x0303, 0xC030, TLS_CIPHER_AES_GCM_256, 56},
    {0x0303, 0xCCA9, TLS_CIPHER_CHACHA20_POLY1305, 56},
    {0x0303, 0xCCA8, TLS_CIPHER_CHACHA20_POLY1305, 56},
};
#define NSUITES (sizeof(suites) / sizeof(suites[0]))

static void
be64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

/* The ABI, as linux/tls.h lays it out on every architecture. */
static void
test_layouts(void)
{
	CU_ASSERT(sizeof(struct tls_crypto_info) == 4);
	CU_ASSERT(sizeof(struct tls12_crypto_info_aes_gcm_128) == 40);
	CU_ASSERT(offsetof(struct tls12_crypto_info_aes_gcm_128, iv) == 4);
	CU_ASSERT(offsetof(struct tls12_crypto_info_aes_gcm_128, key) == 12);
	CU_ASSERT(offsetof(struct tls12_crypto_info_aes_gcm_128, salt) == 28);
	CU_ASSERT(
	    offsetof(struct tls12_crypto_info_aes_gcm_128, rec_seq) == 32);
	CU_ASSERT(sizeof(struct tls12_crypto_info_aes_gcm_256) == 56);
	CU_ASSERT(offsetof(struct tls12_crypto_info_aes_gcm_256, key) == 12);
	CU_ASSERT(offsetof(struct tls12_crypto_info_aes_gcm_256, salt) == 44);
	CU_ASSERT(
	    offsetof(struct tls12_crypto_info_aes_gcm_256, rec_seq) == 48);
	CU_ASSERT(sizeof(struct tls12_crypto_info_chacha20_poly1305) == 56);
	CU_ASSERT(
	    offsetof(struct tls12_crypto_info_chacha20_poly1305, key) == 16);
	CU_ASSERT(offsetof(struct tls12_crypto_info_chacha20_poly1305,
	              rec_seq) == 48);
	CU_ASSERT(SOL_TLS == 282);
	CU_ASSERT(TLS_TX == 1 && TLS_RX == 2);
	CU_ASSERT(TLS_SET_RECORD_TYPE == 1 && TLS_GET_RECORD_TYPE == 2);
}

/* A direction with recognisable bytes: key 0x10.., iv 0xa0.. */
static void
pattern_dir(struct cp_tls_dir *d, size_t keylen, int gcm12, uint64_t seq)
{
	size_t i;

	memset(d, 0, sizeof(*d));
	d->keylen = keylen;
	for (i = 0; i < keylen; i++)
		d->key[i] = (unsigned char)(0x10 + i);
	for (i = 0; i < CP_IV_LEN; i++)
		d->iv[i] = gcm12 && i >= 4 ? 0 : (unsigned char)(0xa0 + i);
	d->seq = seq;
}

/* The bytes the kernel reads, built by hand from the header's offsets. */
static void
expect_bytes(
    const struct suite_case *sc, const struct cp_tls_dir *d, unsigned char *w)
{
	int chacha = sc->type == TLS_CIPHER_CHACHA20_POLY1305;
	size_t keyoff = chacha ? 16 : 12;
	size_t saltoff = sc->type == TLS_CIPHER_AES_GCM_128 ? 28 : 44;

	memset(w, 0, 64);
	w[0] = (unsigned char)sc->version; /* host order: little endian */
	w[1] = (unsigned char)(sc->version >> 8);
	w[2] = (unsigned char)sc->type;
	memcpy(w + keyoff, d->key, d->keylen);
	be64(w + sc->infolen - 8, d->seq);
	if (chacha) {
		memcpy(w + 4, d->iv, 12);
		return;
	}
	memcpy(w + saltoff, d->iv, 4);
	if (sc->version == 0x0304)
		memcpy(w + 4, d->iv + 4, 8);
	else
		be64(w + 4, d->seq); /* explicit nonce starts at seq */
}

static void
test_info_bytes(void)
{
	unsigned char want[64];
	union ktls_info info;
	struct cp_tls_dir d;
	size_t i, n;

	for (i = 0; i < NSUITES; i++) {
		const struct suite_case *sc = &suites[i];
		const struct rec_suite *s = rec_suite_find(sc->cipher);

		pattern_dir(&d, s->keylen, sc->version == 0x0303 && !s->chacha,
		    0x0102030405060708ULL);
		n = ktls_info_build(sc->version, sc->cipher, &d, &info);
		CU_ASSERT(n == sc->infolen);
		CU_ASSERT(info.base.version == sc->version);
		CU_ASSERT(info.base.cipher_type == sc->type);
		expect_bytes(sc, &d, want);
		CU_ASSERT(n <= sizeof(want) && memcmp(&info, want, n) == 0);
		if (memcmp(&info, want, n) != 0)
			fprintf(stderr, "suite 0x%04x: crypto_info differs\n",
			    sc->cipher);
	}
}

static void
test_info_refused(void)
{
	union ktls_info info;
	struct cp_tls_dir d;

	pattern_dir(&d, 16, 0, 0);
	CU_ASSERT(ktls_info_build(0x0303, 0x1301, &d, &info) == 0);
	CU_ASSERT(ktls_info_build(0x0304, 0xC02B, &d, &info) == 0);
	CU_ASSERT(ktls_info_build(0x0304, 0x1302, &d, &info) == 0); /* 16 */
	CU_ASSERT(ktls_info_build(0x0304, 0x1304, &d, &info) == 0); /* CCM */
	CU_ASSERT(ktls_info_build(0x0301, 0x002F, &d, &info) == 0);
}

/* A sender state for suite sc: random keys (TLS 1.3: from a random
 * secret, as tls_rec_new checks), sequence seq. */
static void
random_state(const struct suite_case *sc, uint64_t seq, struct cp_tls_state *st)
{
	const struct rec_suite *s = rec_suite_find(sc->cipher);
	size_t hl = strcmp(s->md, "SHA384") == 0 ? 48 : 32;
	struct cp_tls_dir *d = &st->tx;

	memset(st, 0, sizeof(*st));
	st->version = sc->version;
	st->cipher = sc->cipher;
	d->keylen = s->keylen;
	d->seq = seq;
	if (sc->version == 0x0304) {
		d->secretlen = hl;
		RAND_bytes(d->secret, (int)hl);
		rec_expand_label(
		    s->md, d->secret, hl, "key", d->key, s->keylen);
		rec_expand_label(s->md, d->secret, hl, "iv", d->iv, CP_IV_LEN);
	} else {
		RAND_bytes(d->key, (int)s->keylen);
		RAND_bytes(d->iv, s->chacha ? CP_IV_LEN : 4);
	}
	st->rx = st->tx;
}

/* Seal one record from the crypto_info alone, the way the kernel
 * does; the record's length in out. */
static size_t
kernel_seal(const struct suite_case *sc, const union ktls_info *ki,
    const unsigned char *pt, size_t n, unsigned char *out)
{
	int chacha = sc->type == TLS_CIPHER_CHACHA20_POLY1305;
	int gcm12 = !chacha && sc->version == 0x0303;
	const unsigned char *key, *seq;
	unsigned char nonce[12], aad[13], in[64], *p;
	size_t inl = n, aadl, i, hdr = gcm12 ? 13 : 5;
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	const EVP_CIPHER *c;
	int l;

	if (chacha) {
		memcpy(nonce, ki->chacha.iv, 12);
		key = ki->chacha.key;
		seq = ki->chacha.rec_seq;
		c = EVP_chacha20_poly1305();
	} else if (sc->type == TLS_CIPHER_AES_GCM_128) {
		memcpy(nonce, ki->gcm128.salt, 4);
		memcpy(nonce + 4, ki->gcm128.iv, 8);
		key = ki->gcm128.key;
		seq = ki->gcm128.rec_seq;
		c = EVP_aes_128_gcm();
	} else {
		memcpy(nonce, ki->gcm256.salt, 4);
		memcpy(nonce + 4, ki->gcm256.iv, 8);
		key = ki->gcm256.key;
		seq = ki->gcm256.rec_seq;
		c = EVP_aes_256_gcm();
	}
	if (!gcm12)
		for (i = 0; i < 8; i++)
			nonce[4 + i] ^= seq[i];
	memcpy(in, pt, n);
	if (sc->version == 0x0304)
		in[inl++] = TLS_CT_APPDATA;
	out[0] = TLS_CT_APPDATA;
	out[1] = out[2] = 3;
	l = (int)(inl + 16 + (gcm12 ? 8 : 0));
	out[3] = (unsigned char)(l >> 8);
	out[4] = (unsigned char)l;
	if (gcm12)
		memcpy(out + 5, nonce + 4, 8);
	if (sc->version == 0x0304) {
		memcpy(aad, out, 5);
		aadl = 5;
	} else {
		memcpy(aad, seq, 8);
		memcpy(aad + 8, out, 3);
		aad[11] = (unsigned char)(n >> 8);
		aad[12] = (unsigned char)n;
		aadl = 13;
	}
	p = out + hdr;
	EVP_EncryptInit_ex(x, c, NULL, key, nonce);
	EVP_EncryptUpdate(x, NULL, &l, aad, (int)aadl);
	EVP_EncryptUpdate(x, p, &l, in, (int)inl);
	EVP_EncryptFinal_ex(x, p + l, &l);
	EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, 16, p + inl);
	EVP_CIPHER_CTX_free(x);
	return hdr + inl + 16;
}

/* What the kernel would send is what the user-space encoder sends. */
static void
test_info_seals_like_user_space(void)
{
	static const char msg[] = "kernel or user space, same record";
	unsigned char got[256], want[256];
	struct cp_tls_state st;
	union ktls_info ki;
	struct tls_rec *r;
	char err[128];
	size_t i, wl;
	ssize_t gl;
	int sv[2];

	for (i = 0; i < NSUITES; i++) {
		const struct suite_case *sc = &suites[i];

		random_state(sc, 7, &st);
		CU_ASSERT_FATAL(ktls_info_build(sc->version, sc->cipher, &st.tx,
		                    &ki) == sc->infolen);
		wl = kernel_seal(
		    sc, &ki, (const unsigned char *)msg, sizeof(msg) - 1, want);
		CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
		r = tls_rec_new(sv[0], &st, err, sizeof(err));
		CU_ASSERT_FATAL(r != NULL);
		CU_ASSERT(tls_rec_write(r, msg, sizeof(msg) - 1) ==
		          (ssize_t)sizeof(msg) - 1);
		gl = read(sv[1], got, sizeof(got));
		CU_ASSERT(gl == (ssize_t)wl && memcmp(got, want, wl) == 0);
		if (gl != (ssize_t)wl || memcmp(got, want, wl) != 0)
			fprintf(stderr, "suite 0x%04x: records differ\n",
			    sc->cipher);
		tls_rec_free(r);
		close(sv[0]);
		close(sv[1]);
		cp_tls_state_wipe(&st);
	}
}

struct decide_case {
	int mode, avail, rekey;
	uint16_t version;
	enum ktls_choice want;
	const char *why; /* a word the reason must contain */
};

static const struct decide_case decisions[] = {
    {KTLS_OFF, 1, 1, 0x0303, KTLS_USE_USER, "off"},
    {KTLS_OFF, 1, 1, 0x0304, KTLS_USE_USER, "off"},
    {KTLS_OFF, 0, 0, 0x0304, KTLS_USE_USER, "off"},
    {KTLS_AUTO, 0, 0, 0x0303, KTLS_USE_USER, "no TLS"},
    {KTLS_AUTO, 0, 0, 0x0304, KTLS_USE_USER, "no TLS"},
    {KTLS_AUTO, 1, 0, 0x0303, KTLS_USE_KERNEL, "kernel"},
    {KTLS_AUTO, 1, 0, 0x0304, KTLS_USE_USER, "cannot re-key"},
    {KTLS_AUTO, 1, 1, 0x0303, KTLS_USE_KERNEL, "kernel"},
    {KTLS_AUTO, 1, 1, 0x0304, KTLS_USE_KERNEL, "kernel"},
    {KTLS_REQUIRE, 0, 0, 0x0303, KTLS_FAIL, "no TLS"},
    {KTLS_REQUIRE, 0, 0, 0x0304, KTLS_FAIL, "no TLS"},
    {KTLS_REQUIRE, 1, 0, 0x0303, KTLS_USE_KERNEL, "kernel"},
    {KTLS_REQUIRE, 1, 0, 0x0304, KTLS_USE_KERNEL, "KeyUpdate"},
    {KTLS_REQUIRE, 1, 1, 0x0304, KTLS_USE_KERNEL, "kernel"},
    {KTLS_AUTO, 1, 1, 0x0302, KTLS_USE_USER, "version"},
    {KTLS_REQUIRE, 1, 1, 0x0302, KTLS_FAIL, "version"},
};

static void
test_decide(void)
{
	struct ktls_caps caps;
	const char *why;
	size_t i;

	for (i = 0; i < sizeof(decisions) / sizeof(decisions[0]); i++) {
		const struct decide_case *d = &decisions[i];

		caps.avail = d->avail;
		caps.rekey = d->rekey;
		why = NULL;
		CU_ASSERT(
		    ktls_decide(d->mode, d->version, &caps, &why) == d->want);
		CU_ASSERT(why != NULL && strstr(why, d->why) != NULL);
		/* User space is said to be user space, and only it. */
		CU_ASSERT(why != NULL && (strncmp(why, "user space", 10) ==
		                             0) == (d->want == KTLS_USE_USER));
	}
}

static void
test_parse_mode(void)
{
	int m = -1;

	CU_ASSERT(ktls_parse_mode(NULL, &m) == 0 && m == KTLS_AUTO);
	CU_ASSERT(ktls_parse_mode("", &m) == 0 && m == KTLS_AUTO);
	CU_ASSERT(ktls_parse_mode("auto", &m) == 0 && m == KTLS_AUTO);
	CU_ASSERT(ktls_parse_mode("off", &m) == 0 && m == KTLS_OFF);
	CU_ASSERT(ktls_parse_mode("OFF", &m) == 0 && m == KTLS_OFF);
	CU_ASSERT(ktls_parse_mode("require", &m) == 0 && m == KTLS_REQUIRE);
	CU_ASSERT(ktls_parse_mode("Require", &m) == 0 && m == KTLS_REQUIRE);
	m = 7;
	CU_ASSERT(ktls_parse_mode("requir", &m) == -1 && m == 7);
	CU_ASSERT(ktls_parse_mode("on", &m) == -1);
	CU_ASSERT(ktls_parse_mode("1", &m) == -1);
	CU_ASSERT(ktls_parse_mode("off ", &m) == -1);
	/* The public constants are the same numbers. */
	CU_ASSERT(KTLS_OFF == 0 && KTLS_AUTO == 1 && KTLS_REQUIRE == 2);
}

static void
test_release(void)
{
	CU_ASSERT(ktls_release_rekeys("6.14.0") == 1);
	CU_ASSERT(ktls_release_rekeys("6.14.0-rc1") == 1);
	CU_ASSERT(ktls_release_rekeys("6.18.44-fc-v1045") == 1);
	CU_ASSERT(ktls_release_rekeys("7.3.4+deb13-cloud-amd64") == 1);
	CU_ASSERT(ktls_release_rekeys("6.13.12") == 0);
	CU_ASSERT(ktls_release_rekeys("6.12.117+deb12-cloud-amd64") == 0);
	CU_ASSERT(ktls_release_rekeys("5.14.0-570.el9.x86_64") == 0);
	CU_ASSERT(ktls_release_rekeys("") == 0);
	CU_ASSERT(ktls_release_rekeys("linux") == 0);
}

static int
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* The 6.12 and the 6.14 layouts of /proc/net/tls_stat. */
static void
test_stat_file(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/tls_stat", cu_tmpdir());
	CU_ASSERT_FATAL(
	    write_file(path, "TlsCurrTxSw                     \t0\n"
	                     "TlsCurrRxSw                     \t0\n"
	                     "TlsDecryptRetry                 \t0\n"
	                     "TlsRxNoPadViolation             \t0\n") == 0);
	CU_ASSERT(ktls_stat_rekeys(path) == 0);
	CU_ASSERT_FATAL(
	    write_file(path, "TlsCurrTxSw                     \t1\n"
	                     "TlsRxNoPadViolation             \t0\n"
	                     "TlsRxRekeyOk                    \t0\n"
	                     "TlsRxRekeyError                 \t0\n"
	                     "TlsTxRekeyOk                    \t0\n") == 0);
	CU_ASSERT(ktls_stat_rekeys(path) == 1);
	unlink(path);
	CU_ASSERT(ktls_stat_rekeys(path) == -1);
}

static int
tcp_pair(int *a, int *b)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	uint16_t port = 0; /* tlisten: 0 asks for any free port */
	int l;

	if ((l = tlisten(AF_INET, &port)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*a = socket(AF_INET, SOCK_STREAM, 0);
	if (*a == -1 || connect(*a, (struct sockaddr *)&sin, sl) == -1 ||
	    (*b = accept(l, NULL, NULL)) == -1) {
		close(l);
		return -1;
	}
	close(l);
	return 0;
}

/*
 * On this machine's kernel there is no TLS: attaching says so with the
 * kernel's errno, and the answer is kept (no second module request).
 * Where the kernel has TLS, the attach works and the rest is the VM
 * suite's.
 */
static void
test_attach_here(void)
{
	char err[160];
	int a = -1, b = -1, rv, e;

	CU_ASSERT_FATAL(tcp_pair(&a, &b) == 0);
	rv = ktls_attach(a, err, sizeof(err));
	e = errno;
	if (rv == 0) {
		printf("\n  (this kernel has TLS: attach works)\n");
	} else {
		CU_ASSERT(e == ENOENT || e == ENOPROTOOPT);
		CU_ASSERT(strstr(err, "this kernel has no TLS") != NULL);
		CU_ASSERT(strstr(err, "TCP_ULP") != NULL);
		CU_ASSERT(ktls_attach(b, err, sizeof(err)) == -1 && errno == e);
	}
	close(a);
	close(b);
}

/* What the ticket callback saw. */
struct seen {
	int n;
	size_t len;
	unsigned char m[96];
};

static void
seen_ticket(void *arg, const unsigned char *m, size_t len)
{
	struct seen *s = arg;

	if (len <= sizeof(s->m))
		memcpy(s->m, m, len);
	s->len = len;
	s->n++;
}

/*
 * NewSessionTickets from control records go back whole, header included,
 * however the records split them; one above the bound is skipped only.
 */
static void
test_ticket_fn(void)
{
	unsigned char m[64], big[4 + 64];
	struct cp_tls_state st;
	struct ktls_stats ks;
	struct seen seen;
	struct ktls *k;

	memset(&seen, 0, sizeof(seen));
	random_state(&suites[0], 0, &st);
	CU_ASSERT_FATAL((k = ktls_test_new(&st)) != NULL);
	cp_tls_state_wipe(&st);
	ktls_set_ticket_fn(k, seen_ticket, &seen);
	memset(m, 0x33, sizeof(m));
	m[0] = 4;
	m[1] = m[2] = 0;
	m[3] = sizeof(m) - 4;
	CU_ASSERT(ktls_test_control(k, TLS_CT_HANDSHAKE, m, 2) == 0);
	CU_ASSERT(ktls_test_control(k, TLS_CT_HANDSHAKE, m + 2, 30) == 0);
	CU_ASSERT_EQUAL(seen.n, 0);
	CU_ASSERT(ktls_test_control(k, TLS_CT_HANDSHAKE, m + 32, 32) == 0);
	CU_ASSERT_EQUAL(seen.n, 1);
	CU_ASSERT(seen.len == sizeof(m) && memcmp(seen.m, m, sizeof(m)) == 0);
	/* A header announcing more than a ticket may be: counted, not sent. */
	memset(big, 0, sizeof(big));
	big[0] = 4;
	big[1] = (TLS_REC_MAX_TICKET_LEN >> 16) & 0xff;
	big[2] = (TLS_REC_MAX_TICKET_LEN >> 8) & 0xff;
	big[3] = TLS_REC_MAX_TICKET_LEN & 0xff;
	CU_ASSERT(ktls_test_control(k, TLS_CT_HANDSHAKE, big, 4) == 0);
	for (int i = 0; i < TLS_REC_MAX_TICKET_LEN / 64; i++)
		CU_ASSERT_FATAL(
		    ktls_test_control(k, TLS_CT_HANDSHAKE, big + 4, 64) == 0);
	ktls_stats(k, &ks);
	CU_ASSERT_EQUAL(ks.tickets, 2);
	CU_ASSERT_EQUAL(seen.n, 1);
	ktls_free(k);
}

int
main(void)
{
	CU_pSuite s;

	s = cu_suite("kernel TLS without the kernel", NULL, NULL);
	cu_test(s, "linux/tls.h layouts", test_layouts);
	cu_test(
	    s, "crypto_info bytes for each AEAD and version", test_info_bytes);
	cu_test(
	    s, "crypto_info refused for mismatched suites", test_info_refused);
	cu_test(s, "crypto_info seals the records user space seals",
	    test_info_seals_like_user_space);
	cu_test(s, "off/auto/require with made-up capabilities", test_decide);
	cu_test(s, "CPCONNECT_KTLS values", test_parse_mode);
	cu_test(s, "re-key support from the kernel release", test_release);
	cu_test(s, "re-key support from tls_stat", test_stat_file);
	cu_test(s, "attaching on this machine", test_attach_here);
	cu_test(s, "tickets go to the ticket callback", test_ticket_fn);
	return cu_finish();
}
