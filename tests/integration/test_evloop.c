/* SPDX-License-Identifier: ISC */
/*
 * Event-loop connects (cp_client_connect_start, poll, connect_finish)
 * through a real cpconnectd to openssl s_server: a TLS answer arrives as
 * several messages (PEER_CERT..., TLS_STATE, RESULT) and may take several
 * calls to collect; a client trust-anchor set too large for one write to
 * the daemon socket must not stall when the program only waits for the
 * descriptor to become readable.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cprops/client.h"
#include "cutest.h"
#include "itest.h"

#define NCONNECTS 100
#define CONNECT_WAIT_MS 10000 /* per connect, far above what one takes */

static struct tdaemon dmn;
static char pki[128];

static int
suite_init(void)
{
	char conf[512];

	if (tpki_make(pki, sizeof(pki), cu_tmpdir()) == -1)
		return -1;
	snprintf(conf, sizeof(conf),
	    "user nobody\n"
	    "ca-file \"%s/ca.pem\"\n"
	    "allow from any to 127.0.0.0/8\n",
	    pki);
	if (tdaemon_start(&dmn, conf, NULL, NULL) == -1)
		return -1;
	cp_client_set_socket_path(dmn.sock);
	return 0;
}

static int
suite_clean(void)
{
	tservers_stop();
	tdaemon_stop(&dmn);
	return 0;
}

/*
 * The way the man page tells a program to do it: wait for the descriptor
 * to become readable, and only then call connect_finish.  -2 when no
 * answer came within ms.
 */
static int
evloop_connect(cp_client *c, int ms)
{
	uint64_t t0 = tnow_ms();
	struct pollfd p;
	int rv = -2, n;

	if ((p.fd = cp_client_connect_start(c)) == -1)
		return -1;
	p.events = POLLIN;
	while (rv == -2 && tnow_ms() - t0 < (uint64_t)ms) {
		n = poll(&p, 1, 100);
		if (n == 1)
			rv = cp_client_connect_finish(c);
		else if (n == -1 && errno != EINTR)
			return -1;
	}
	return rv;
}

/* n connects in a row to port; the number that succeeded. */
static int
run_connects(uint16_t port, const char *ca_file, int n)
{
	int i, ok = 0, rv;
	cp_client *c;

	for (i = 0; i < n; i++) {
		c = cp_client_create_ssl(
		    "localhost", port, ca_file, NULL, SSL_VERIFY_PEER);
		if (c == NULL)
			break;
		rv = evloop_connect(c, CONNECT_WAIT_MS);
		if (rv == 0 && thttp_get(c))
			ok++;
		else if (ok + 5 > i) /* say why, a few times */
			fprintf(stderr, "\n  connect %d: rv %d: %s", i, rv,
			    cp_client_error(c));
		cp_client_destroy(c);
		if (rv == -2)
			break; /* stalled: the next one would too */
	}
	return ok;
}

static void
test_tls_evloop(void)
{
	uint16_t port = ts_server(pki, 0, 0, "valid", 1, (char *)NULL);

	CU_ASSERT_FATAL(port != 0);
	CU_ASSERT_EQUAL(run_connects(port, NULL, NCONNECTS), NCONNECTS);
	tservers_stop();
}

/* A self-signed certificate of about 10 KiB (a long comment), distinct
 * for each i: filler for a large trust-anchor set. */
static X509 *
filler_cert(EVP_PKEY *k, int i)
{
	char cn[64], *pad;
	X509_EXTENSION *ext;
	X509_NAME *name;
	X509 *x;
	int ok;

	if ((x = X509_new()) == NULL || (pad = malloc(10001)) == NULL) {
		X509_free(x);
		return NULL;
	}
	memset(pad, 'x', 10000);
	pad[10000] = '\0';
	snprintf(cn, sizeof(cn), "filler %d", i);
	name = X509_get_subject_name(x);
	ext = X509V3_EXT_conf_nid(NULL, NULL, NID_netscape_comment, pad);
	ok = X509_set_version(x, 2) &&
	     ASN1_INTEGER_set(X509_get_serialNumber(x), i + 1) &&
	     X509_NAME_add_entry_by_txt(
	         name, "CN", MBSTRING_ASC, (unsigned char *)cn, -1, -1, 0) &&
	     X509_set_issuer_name(x, name) &&
	     X509_gmtime_adj(X509_getm_notBefore(x), 0) &&
	     X509_gmtime_adj(X509_getm_notAfter(x), 86400) &&
	     X509_set_pubkey(x, k) && ext != NULL && X509_add_ext(x, ext, -1) &&
	     X509_sign(x, k, EVP_sha256()) > 0;
	X509_EXTENSION_free(ext);
	free(pad);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/*
 * unknown.pem (the root of the unknownca leaf) and n fillers in one PEM
 * file: n of 100 make about 1 MiB of DER, several times what a Unix
 * socket takes in one write.
 */
static int
write_big_anchors(const char *path, int n)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	FILE *in = fopen(tpath(pki, "unknown.pem"), "r");
	FILE *out = fopen(path, "w");
	X509 *x;
	int i, ok = k != NULL && in != NULL && out != NULL;

	if (ok && (x = PEM_read_X509(in, NULL, NULL, NULL)) != NULL) {
		ok = PEM_write_X509(out, x);
		X509_free(x);
	} else
		ok = 0;
	for (i = 0; ok && i < n; i++) {
		if ((x = filler_cert(k, i)) == NULL)
			ok = 0;
		else
			ok = PEM_write_X509(out, x);
		X509_free(x);
	}
	if (in != NULL)
		fclose(in);
	if (out != NULL && fclose(out) != 0)
		ok = 0;
	EVP_PKEY_free(k);
	return ok ? 0 : -1;
}

/* The daemon does not know the set: it answers NEED_CA, the library sends
 * the anchors (more than the socket buffer) and asks again. */
static void
test_tls_evloop_anchors(void)
{
	uint16_t port = ts_server(pki, 0, 0, "unknownca", 0, (char *)NULL);
	char *anchors = tpath(cu_tmpdir(), "big-anchors.pem");

	CU_ASSERT_FATAL(port != 0);
	CU_ASSERT_FATAL(write_big_anchors(anchors, 100) == 0);
	CU_ASSERT_EQUAL(run_connects(port, anchors, NCONNECTS), NCONNECTS);
	tservers_stop();
}

int
main(void)
{
	CU_pSuite s;

	signal(SIGPIPE, SIG_IGN);
	s = cu_suite("event-loop connects", suite_init, suite_clean);
	cu_test(s, "100 TLS connects through connect_start/finish",
	    test_tls_evloop);
	cu_test(s, "the same with a 1 MiB client trust-anchor set",
	    test_tls_evloop_anchors);
	return cu_finish();
}
