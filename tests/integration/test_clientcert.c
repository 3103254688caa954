/* SPDX-License-Identifier: ISC */
/*
 * Client certificates through a real cpconnectd against openssl s_server
 * requiring one (-Verify 1): EC and RSA keys (TLS 1.3 RSA-PSS, TLS 1.2
 * PKCS#1 v1.5), the failure without a certificate, proof that the engines
 * never hold the key (they run as nobody, the key file is root's 0600, and
 * the private scalar is found in the parent's memory but in no engine's),
 * the parent's checks on hostile signing requests, cpconnectd -n on bad
 * keys, and a reload that changes the key.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "conf.h"
#include "cprops/client.h"
#include "cutest.h"
#include "itest.h"
#include "keyring.h"
#include "keytab.h"

static struct tdaemon dmn;
static char pki[128], cc[128];
static uint16_t port_ec, port_rsa13, port_rsa12, port_none;

static int
sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* A client certificate NAME (key type "ec" or "rsa") signed by the test
 * intermediate, NAME-chain.pem with the intermediate, NAME.key 0600. */
static int
client_cert(const char *name, const char *type, const char *cn)
{
	return sh("cd '%s' && umask 077 && "
	          "printf 'basicConstraints = critical,CA:FALSE\\n"
	          "keyUsage = critical,digitalSignature\\n"
	          "extendedKeyUsage = clientAuth\\n' >cli.ext && "
	          "openssl genpkey %s -out %s.key 2>/dev/null && "
	          "openssl req -new -key %s.key -subj '/CN=%s' -out %s.csr && "
	          "openssl x509 -req -in %s.csr -CA '%s/int.pem' "
	          "-CAkey '%s/int.key' -CAcreateserial -days 30 -sha256 "
	          "-extfile cli.ext -out %s.pem 2>/dev/null && "
	          "cat %s.pem '%s/int.pem' >%s-chain.pem && "
	          "chmod 644 %s.pem %s-chain.pem",
	    cc,
	    strcmp(type, "rsa") == 0
	        ? "-algorithm RSA -pkeyopt rsa_keygen_bits:2048"
	        : "-algorithm EC -pkeyopt ec_paramgen_curve:P-256",
	    name, name, cn, name, name, pki, pki, name, name, pki, name, name,
	    name);
}

/* s_server -www requiring a client certificate from the test CA; extra
 * arguments a1..a3 may be NULL.  0, or -1. */
static int
s_server(uint16_t port, const char *a1, const char *a2, const char *a3)
{
	return ts_server(pki, port, 0, "valid", 1, "-Verify", "1", "-CAfile",
	           tpath(pki, "ca.pem"), a1, a2, a3, (char *)NULL) != 0
	    ? 0
	    : -1;
}

static void
conf_text(char *buf, size_t bufsz, const char *ec_name)
{
	snprintf(buf, bufsz,
	    "user nobody\n"
	    "ca-file \"%s\"\n"
	    "allow from any to 127.0.0.0/8\n"
	    "allow from any to localhost\n"
	    "destination \"localhost\" {\n"
	    "\tclient-certificate \"%s\" key \"%s\"\n"
	    "}\n"
	    "destination \"127.0.0.1\" port %u,%u {\n"
	    "\tclient-certificate \"%s\" key \"%s\"\n"
	    "}\n",
	    tpath(pki, "ca.pem"), tpath(cc, ec_name), tpath(cc, "ec.key"),
	    port_rsa13, port_rsa12, tpath(cc, "rsa-chain.pem"),
	    tpath(cc, "rsa.key"));
}

static void
write_conf(const char *file, const char *ec_name)
{
	char text[4096];
	FILE *f = fopen(file, "w");

	if (f == NULL)
		return;
	conf_text(text, sizeof(text), ec_name);
	fputs(text, f);
	fclose(f);
}

static int
suite_init(void)
{
	char text[4096];

	snprintf(cc, sizeof(cc), "%s/cc", cu_tmpdir());
	if (tpki_make(pki, sizeof(pki), cu_tmpdir()) == -1 ||
	    sh("mkdir -p '%s' && chmod 755 '%s'", cc, cc) != 0 ||
	    client_cert("ec", "ec", "cpconnect test ec client") != 0 ||
	    client_cert("rsa", "rsa", "cpconnect test rsa client") != 0 ||
	    client_cert("other", "ec", "cpconnect test other client") != 0)
		return -1;
	port_ec = tfree_port(AF_INET);
	port_rsa13 = tfree_port(AF_INET);
	port_rsa12 = tfree_port(AF_INET);
	port_none = tfree_port(AF_INET);
	if (s_server(port_ec, NULL, NULL, NULL) == -1 ||
	    s_server(port_rsa13, "-tls1_3", NULL, NULL) == -1 ||
	    s_server(port_rsa12, "-tls1_2", "-client_sigalgs",
	        "RSA+SHA256:RSA+SHA384") == -1)
		return -1;
	conf_text(text, sizeof(text), "ec-chain.pem");
	if (tdaemon_start(&dmn, text, NULL, NULL) == -1)
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

/* GET / through the daemon; the page (s_server -www) into buf.  0 when
 * the connect succeeded and a page came back. */
static int
get_page(const char *host, uint16_t port, char *buf, size_t bufsz)
{
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	cp_client *c;
	size_t got = 0;
	int n, rv = -1;

	buf[0] = '\0';
	c = cp_client_create_ssl(host, port, NULL, NULL, SSL_VERIFY_PEER);
	if (c == NULL)
		return -1;
	if (cp_client_connect(c) != 0) {
		snprintf(buf, bufsz, "%s", cp_client_error(c));
		goto out;
	}
	if (cp_client_write(c, req, sizeof(req) - 1) != sizeof(req) - 1)
		goto out;
	while (got < bufsz - 1 &&
	       (n = cp_client_read(c, buf + got, (int)(bufsz - 1 - got))) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	if (strncmp(buf, "HTTP/1.", 7) == 0)
		rv = 0;
out:
	cp_client_destroy(c);
	return rv;
}

static int
log_count(const char *s)
{
	char line[1024];
	FILE *f = fopen(dmn.log, "r");
	int n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, s) != NULL)
			n++;
	fclose(f);
	return n;
}

static void
test_ec(void)
{
	static char page[65536];
	int before = log_count("signed with client key");

	CU_ASSERT_EQUAL_FATAL(
	    get_page("localhost", port_ec, page, sizeof(page)), 0);
	/* s_server -www lists the certificate the client presented. */
	CU_ASSERT_PTR_NOT_NULL(strstr(page, "CN=cpconnect test ec client"));
	CU_ASSERT(log_count("signed with client key") > before);
}

static void
test_rsa(void)
{
	static char page[65536];
	int rv;

	/* TLS 1.3: RSA-PSS, the parent checks the encoding and signs. */
	rv = get_page("127.0.0.1", port_rsa13, page, sizeof(page));
	CU_ASSERT_EQUAL(rv, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(page, "CN=cpconnect test rsa client"));
	CU_ASSERT_PTR_NOT_NULL(strstr(page, "TLSv1.3"));
	/* TLS 1.2, the server allows PKCS#1 v1.5 only. */
	rv = get_page("127.0.0.1", port_rsa12, page, sizeof(page));
	CU_ASSERT_EQUAL(rv, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(page, "CN=cpconnect test rsa client"));
	CU_ASSERT_PTR_NOT_NULL(strstr(page, "TLSv1.2"));
	CU_ASSERT_EQUAL(log_count("refused"), 0);
}

static void
test_no_cert(void)
{
	static char page[65536];

	/* 127.0.0.1 on this port matches no block: no certificate.  TLS 1.3
	 * reports the missing certificate after the client's Finished, so
	 * the handshake may complete, but no page ever comes back; a TLS
	 * 1.2 server fails the handshake itself. */
	CU_ASSERT_EQUAL(get_page("127.0.0.1", port_ec, page, sizeof(page)), -1);
	CU_ASSERT_PTR_NULL(strstr(page, "CN=cpconnect"));
	CU_ASSERT_EQUAL_FATAL(s_server(port_none, "-tls1_2", NULL, NULL), 0);
	CU_ASSERT_EQUAL(
	    get_page("127.0.0.1", port_none, page, sizeof(page)), -1);
}

/* A connect with server name sni; its error text into err.  The result of
 * cp_client_connect, errno in *e. */
static int
connect_sni(const char *host, uint16_t port, const char *sni, int *e, char *err,
    size_t errsz)
{
	cp_client *c;
	int rv;

	c = cp_client_create_ssl(host, port, NULL, NULL, SSL_VERIFY_PEER);
	if (c == NULL || cp_client_set_server_name(c, sni) == -1)
		return -2;
	errno = 0;
	rv = cp_client_connect(c);
	*e = errno;
	snprintf(err, errsz, "%s", cp_client_error(c));
	cp_client_destroy(c);
	return rv;
}

/*
 * The host decides the certificate: a server name whose block names
 * another one is refused before any connection, so that no client makes
 * the daemon present a destination's certificate elsewhere.
 */
static void
test_server_name(void)
{
	char err[512];
	int e;

	/* 127.0.0.1 on this port has no certificate, localhost has one. */
	CU_ASSERT_EQUAL(
	    connect_sni("127.0.0.1", port_ec, "localhost", &e, err, 512), -1);
	CU_ASSERT_EQUAL(e, EACCES);
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(err, "name different client certificates"));
	if (strstr(err, "client certificates") == NULL)
		fprintf(stderr, "  127.0.0.1/localhost: %s\n", err);
	/* A server name without a block: the host's certificate, and the
	 * server's certificate verified for that name. */
	CU_ASSERT_EQUAL(
	    connect_sni("localhost", port_ec, "test.example", &e, err, 512), 0);
	if (e != 0)
		fprintf(stderr, "  localhost/test.example: %s\n", err);
}

/* The private scalar of an EC key file, big-endian. */
static int
ec_scalar(const char *file, unsigned char out[32])
{
	EVP_PKEY *pk;
	BIGNUM *bn = NULL;
	FILE *f = fopen(file, "r");
	int rv = -1;

	if (f == NULL)
		return -1;
	pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (pk != NULL &&
	    EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_PRIV_KEY, &bn) &&
	    BN_bn2binpad(bn, out, 32) == 32)
		rv = 0;
	BN_clear_free(bn);
	EVP_PKEY_free(pk);
	return rv;
}

/* 1 if the process's readable memory holds pat (either byte order), 0 if
 * not, -1 if it could not be read at all. */
static int
mem_has(pid_t pid, const unsigned char *pat, size_t len)
{
	unsigned char rev[64], *buf;
	char line[512], file[64];
	unsigned long lo, hi;
	FILE *maps;
	int fd, found = 0;
	size_t i, total = 0;

	for (i = 0; i < len; i++)
		rev[i] = pat[len - 1 - i];
	snprintf(file, sizeof(file), "/proc/%d/maps", (int)pid);
	if ((maps = fopen(file, "r")) == NULL)
		return -1;
	snprintf(file, sizeof(file), "/proc/%d/mem", (int)pid);
	if ((fd = open(file, O_RDONLY)) == -1 ||
	    (buf = malloc(1 << 20)) == NULL) {
		fclose(maps);
		if (fd != -1)
			close(fd);
		return -1;
	}
	while (!found && fgets(line, sizeof(line), maps) != NULL) {
		char perms[8];

		/* Reading a mapping through /proc faults its pages in: a
		 * huge reserved one (a sanitizer's shadow) would exhaust
		 * memory, and no heap here is that large. */
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 ||
		    perms[0] != 'r' || strstr(line, "[vvar]") ||
		    strstr(line, "[vsyscall]") || hi - lo > (1UL << 30))
			continue;
		while (!found && lo < hi) {
			size_t want = hi - lo > (1 << 20) ? 1 << 20 : hi - lo;
			ssize_t n = pread(fd, buf, want, (off_t)lo);

			if (n <= 0)
				break;
			total += (size_t)n;
			found = memmem(buf, (size_t)n, pat, len) != NULL ||
			        memmem(buf, (size_t)n, rev, len) != NULL;
			/* Overlap so a match across chunks is seen. */
			lo += (size_t)n > len ? (size_t)n - len : (size_t)n;
		}
	}
	free(buf);
	close(fd);
	fclose(maps);
	return total > 0 ? found : -1;
}

static void
test_engine_has_no_key(void)
{
	unsigned char d[32];
	struct stat sb;
	pid_t pids[64];
	char file[64], line[256];
	int i, n, uid;

	/* The engines could not have read it... */
	CU_ASSERT_EQUAL_FATAL(stat(tpath(cc, "ec.key"), &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 07777, 0600);
	CU_ASSERT_EQUAL(sb.st_uid, 0);
	n = tdaemon_engines(&dmn, pids, 64);
	CU_ASSERT_FATAL(n > 0);
	for (i = 0; i < n; i++) {
		FILE *f;

		snprintf(file, sizeof(file), "/proc/%d/status", (int)pids[i]);
		uid = 0;
		if ((f = fopen(file, "r")) == NULL)
			continue;
		while (fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "Uid: %*d %d", &uid) == 1)
				break;
		fclose(f);
		CU_ASSERT_NOT_EQUAL(uid, 0);
	}
	/* ...and do not hold it: the scalar is in the parent, which signed
	 * (test_ec), and in no engine. */
	CU_ASSERT_EQUAL_FATAL(ec_scalar(tpath(cc, "ec.key"), d), 0);
	CU_ASSERT_EQUAL(mem_has(dmn.pid, d, sizeof(d)), 1);
	for (i = 0; i < n; i++)
		CU_ASSERT_EQUAL(mem_has(pids[i], d, sizeof(d)), 0);
	CU_ASSERT(log_count("signed with client key") > 0);
}

/* The parent's side, called directly: hostile requests are refused. */
static void
test_hostile_requests(void)
{
	struct keys_sign_req rq;
	struct keys_sign_rep rep;
	struct keytab *t = NULL;
	struct cpconf *cf = NULL;
	char err[512], text[2048];
	EVP_PKEY_CTX *vctx;
	X509 *x;
	FILE *f;
	int i;

	snprintf(text, sizeof(text),
	    "destination \"a.example\" {\n"
	    "\tclient-certificate \"%s\" key \"%s\"\n}\n"
	    "destination \"b.example\" {\n"
	    "\tclient-certificate \"%s\" key \"%s\"\n}\n",
	    tpath(cc, "ec-chain.pem"), tpath(cc, "ec.key"),
	    tpath(cc, "rsa-chain.pem"), tpath(cc, "rsa.key"));
	CU_ASSERT_EQUAL_FATAL(
	    conf_parse(&cf, "t.conf", text, strlen(text), err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(keytab_load(&t, cf, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(keytab_count(t), 2);

	memset(&rq, 0, sizeof(rq));
	rq.type = CTL_SIGN;
	rq.seq = 7;
	rq.op = KEYS_OP_ECDSA;
	rq.len = 32;
	for (i = 0; i < 32; i++)
		rq.data[i] = (uint8_t)i;
	keytab_sign(t, &rq, sizeof(rq) - 1, &rep); /* wrong size */
	CU_ASSERT_EQUAL(rep.status, EBADMSG);
	rq.key = 2; /* out of bounds */
	keytab_sign(t, &rq, sizeof(rq), &rep);
	CU_ASSERT_EQUAL(rep.status, ENOENT);
	rq.key = 0;
	rq.len = KEYS_MAX_DATA + 1;
	keytab_sign(t, &rq, sizeof(rq), &rep);
	CU_ASSERT_EQUAL(rep.status, EBADMSG);
	rq.len = 20; /* not a SHA-2 digest */
	keytab_sign(t, &rq, sizeof(rq), &rep);
	CU_ASSERT_EQUAL(rep.status, EINVAL);
	rq.op = 99;
	rq.len = 32;
	keytab_sign(t, &rq, sizeof(rq), &rep);
	CU_ASSERT_EQUAL(rep.status, EINVAL);
	rq.op = KEYS_OP_RSA_PKCS1; /* RSA operation on the EC key */
	rq.hash = KEYS_SHA256;
	keytab_sign(t, &rq, sizeof(rq), &rep);
	CU_ASSERT_EQUAL(rep.status, EINVAL);
	/* A raw RSA operation on anything but a PSS encoding: refused, so
	 * no engine can have a ciphertext decrypted. */
	rq.key = 1;
	rq.op = KEYS_OP_RSA_PSS;
	rq.len = 256;
	for (i = 0; i < 256; i++)
		rq.data[i] = (uint8_t)(i * 7 + 1);
	rq.data[0] = 0;
	rq.data[255] = 0xbc;
	keytab_sign(t, &rq, sizeof(rq), &rep);
	CU_ASSERT_EQUAL(rep.status, EINVAL);
	CU_ASSERT_EQUAL(rep.len, 0);

	/* A good request: a signature the certificate verifies. */
	rq.key = 0;
	rq.op = KEYS_OP_ECDSA;
	rq.hash = 0;
	rq.len = 32;
	for (i = 0; i < 32; i++)
		rq.data[i] = (uint8_t)i;
	keytab_sign(t, &rq, sizeof(rq), &rep);
	CU_ASSERT_EQUAL(rep.status, 0);
	CU_ASSERT_EQUAL(rep.seq, 7);
	CU_ASSERT_FATAL((f = fopen(tpath(cc, "ec.pem"), "r")) != NULL);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(x);
	vctx = EVP_PKEY_CTX_new(X509_get0_pubkey(x), NULL);
	CU_ASSERT(EVP_PKEY_verify_init(vctx) > 0);
	CU_ASSERT_EQUAL(
	    EVP_PKEY_verify(vctx, rep.sig, rep.len, rq.data, 32), 1);
	EVP_PKEY_CTX_free(vctx);
	X509_free(x);
	keytab_free(t);
	conf_free(cf);
}

/* What keyring_stashed() hands back, in order. */
struct stashed {
	int n;
	uint32_t type[4];
	size_t len[4];
	uint32_t uid;
};

static void
note_stashed(void *arg, uint32_t type, const void *msg, size_t len)
{
	struct stashed *st = arg;
	struct ctl_sess_flush f;

	if (st->n < 4) {
		st->type[st->n] = type;
		st->len[st->n] = len;
	}
	st->n++;
	if (type == CTL_SESS_FLUSH && len == sizeof(f)) {
		memcpy(&f, msg, sizeof(f));
		st->uid = f.uid;
	}
}

/*
 * The engine's side: messages for its loop that come while it waits for a
 * signature (a flush order, a relayed ticket) are kept for the loop, not
 * dropped.  A parent played by a child: it sends both before the answer.
 */
static void
test_sign_wait_keeps_messages(void)
{
	struct ctl_sess_flush fl = {CTL_SESS_FLUSH, 1234};
	struct {
		struct ctl_ticket h;
		unsigned char msg[8];
	} tk;
	struct stashed st = {0};
	struct keytab *t = NULL;
	struct keyring *kr = NULL;
	struct cpconf *cf = NULL;
	const struct client_cred *cred;
	char err[512], text[1024];
	unsigned char dgst[32] = {1, 2, 3}, sig[256];
	size_t siglen = sizeof(sig);
	EVP_PKEY_CTX *ctx;
	int sv[2], status = -1;
	pid_t pid;

	snprintf(text, sizeof(text), "client-certificate \"%s\" key \"%s\"\n",
	    tpath(cc, "ec-chain.pem"), tpath(cc, "ec.key"));
	CU_ASSERT_EQUAL_FATAL(
	    conf_parse(&cf, "t.conf", text, strlen(text), err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(keytab_load(&t, cf, err, sizeof(err)), 0);
	CU_ASSERT_FATAL(
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	CU_ASSERT_FATAL(keytab_send(t, sv[0]) == 0);
	CU_ASSERT_EQUAL_FATAL(
	    keyring_recv(&kr, sv[1], 2000, err, sizeof(err)), 0);
	memset(&tk, 0, sizeof(tk));
	tk.h.type = CTL_TICKET;
	tk.h.len = sizeof(tk.msg);
	if ((pid = fork()) == 0) {
		struct keys_sign_req rq;
		struct keys_sign_rep rep;

		alarm(10);
		if (recv(sv[0], &rq, sizeof(rq), 0) != (ssize_t)sizeof(rq) ||
		    send(sv[0], &fl, sizeof(fl), 0) == -1 ||
		    send(sv[0], &tk, sizeof(tk), 0) == -1)
			_exit(1);
		keytab_sign(t, &rq, sizeof(rq), &rep);
		_exit(send(sv[0], &rep, sizeof(rep), 0) == (ssize_t)sizeof(rep)
		          ? 0
		          : 1);
	}
	CU_ASSERT_FATAL(pid > 0);
	cred = keyring_find(kr, tpath(cc, "ec-chain.pem"), tpath(cc, "ec.key"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(cred);
	ctx = EVP_PKEY_CTX_new(cred->key, NULL);
	CU_ASSERT(EVP_PKEY_sign_init(ctx) > 0);
	CU_ASSERT_EQUAL(
	    EVP_PKEY_sign(ctx, sig, &siglen, dgst, sizeof(dgst)), 1);
	EVP_PKEY_CTX_free(ctx);
	waitpid(pid, &status, 0);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	keyring_stashed(note_stashed, &st);
	CU_ASSERT_EQUAL(st.n, 2);
	CU_ASSERT_EQUAL(st.type[0], CTL_SESS_FLUSH);
	CU_ASSERT_EQUAL(st.len[0], sizeof(fl));
	CU_ASSERT_EQUAL(st.uid, 1234);
	CU_ASSERT_EQUAL(st.type[1], CTL_TICKET);
	CU_ASSERT_EQUAL(st.len[1], sizeof(tk));
	/* Handed back once. */
	st.n = 0;
	keyring_stashed(note_stashed, &st);
	CU_ASSERT_EQUAL(st.n, 0);
	keyring_free(kr);
	close(sv[0]);
	close(sv[1]);
	keytab_free(t);
	conf_free(cf);
}

/* cpconnectd -n output and status for a configuration text. */
static int
check_conf(const char *text, char *out, size_t outsz)
{
	char file[256], cmd[512];
	FILE *f, *p;
	size_t got;
	int st;

	snprintf(file, sizeof(file), "%s/check.conf", cc);
	if ((f = fopen(file, "w")) == NULL)
		return -1;
	fputs(text, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "%s/cpconnectd -n -f %s 2>&1", cu_builddir(),
	    file);
	if ((p = popen(cmd, "r")) == NULL)
		return -1;
	got = fread(out, 1, outsz - 1, p);
	out[got] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
test_check(void)
{
	char text[2048], out[2048], want[512];

	/* A key that is not the certificate's, in a block, on line 3. */
	snprintf(text, sizeof(text),
	    "allow from any to any\n"
	    "destination \"x.example\" {\n"
	    "\tclient-certificate \"%s\" key \"%s\"\n}\n",
	    tpath(cc, "ec-chain.pem"), tpath(cc, "other.key"));
	CU_ASSERT_EQUAL(check_conf(text, out, sizeof(out)), 1);
	snprintf(want, sizeof(want),
	    "check.conf:3: key %s does not match "
	    "certificate %s",
	    tpath(cc, "other.key"), tpath(cc, "ec-chain.pem"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	/* Unreadable. */
	snprintf(text, sizeof(text),
	    "allow from any to any\n"
	    "destination \"x.example\" {\n"
	    "\tclient-certificate \"%s\" key \"/nonexistent/k.pem\"\n}\n",
	    tpath(cc, "ec-chain.pem"));
	CU_ASSERT_EQUAL(check_conf(text, out, sizeof(out)), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "check.conf:3: key "
	                                   "/nonexistent/k.pem: No such file"));
	/* An unsupported key type: P-521. */
	CU_ASSERT_EQUAL(sh("cd '%s' && umask 077 && openssl genpkey "
	                   "-algorithm EC -pkeyopt ec_paramgen_curve:P-521 "
	                   "-out p521.key 2>/dev/null && openssl req -new "
	                   "-x509 -key p521.key -subj /CN=p521 -days 1 "
	                   "-out p521.pem",
	                    cc),
	    0);
	snprintf(text, sizeof(text),
	    "client-certificate \"%s\" key \"%s\"\n"
	    "allow from any to any\n",
	    tpath(cc, "p521.pem"), tpath(cc, "p521.key"));
	CU_ASSERT_EQUAL(check_conf(text, out, sizeof(out)), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "unsupported key type"));
	/* The global keyword has its line too (here the second). */
	snprintf(text, sizeof(text),
	    "allow from any to any\n"
	    "client-certificate \"%s\" key \"%s\"\n",
	    tpath(cc, "ec-chain.pem"), tpath(cc, "other.key"));
	CU_ASSERT_EQUAL(check_conf(text, out, sizeof(out)), 1);
	snprintf(want, sizeof(want), "check.conf:2: key %s does not match",
	    tpath(cc, "other.key"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
	/* Both keys good (and, as root, the engine user exists). */
	snprintf(text, sizeof(text),
	    "client-certificate \"%s\" key \"%s\"\n"
	    "user nobody\n"
	    "allow from any to any\n"
	    "destination \"x.example\" {\n"
	    "\tclient-certificate \"%s\" key \"%s\"\n}\n",
	    tpath(cc, "ec-chain.pem"), tpath(cc, "ec.key"),
	    tpath(cc, "rsa-chain.pem"), tpath(cc, "rsa.key"));
	CU_ASSERT_EQUAL(check_conf(text, out, sizeof(out)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "configuration OK"));
}

/* SIGHUP: the new generation presents the new certificate. */
static void
test_reload(void)
{
	static char page[65536];
	int i;

	write_conf(dmn.conf, "other-chain.pem");
	/* other.pem with ec.key: a mismatch, refused, the old stays. */
	CU_ASSERT_EQUAL_FATAL(kill(dmn.pid, SIGHUP), 0);
	for (i = 0; i < 200 && !tdaemon_log_has(&dmn, "reload failed"); i++)
		tmsleep(25);
	CU_ASSERT(tdaemon_log_has(&dmn, "reload failed"));
	CU_ASSERT_EQUAL(get_page("localhost", port_ec, page, sizeof(page)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(page, "CN=cpconnect test ec client"));
	/* Now with its own key: other.key under the name ec.key. */
	CU_ASSERT_EQUAL_FATAL(sh("cd '%s' && cp ec.key ec.key.orig && "
	                         "cp other.key ec.key",
	                          cc),
	    0);
	CU_ASSERT_EQUAL_FATAL(kill(dmn.pid, SIGHUP), 0);
	for (i = 0; i < 200 && !tdaemon_log_has(&dmn, "configuration reloaded");
	     i++)
		tmsleep(25);
	CU_ASSERT(tdaemon_log_has(&dmn, "configuration reloaded"));
	tmsleep(300);
	CU_ASSERT_EQUAL(get_page("localhost", port_ec, page, sizeof(page)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(page, "CN=cpconnect test other client"));
	sh("cd '%s' && mv ec.key.orig ec.key", cc);
}

int
main(void)
{
	CU_pSuite s;

	s = cu_suite("client certificates", suite_init, suite_clean);
	cu_test(s, "EC key, signed by the parent", test_ec);
	cu_test(s, "RSA key: TLS 1.3 PSS, TLS 1.2 PKCS#1", test_rsa);
	cu_test(s, "no certificate: refused by the server", test_no_cert);
	cu_test(
	    s, "server name: the host's certificate or none", test_server_name);
	cu_test(s, "the engines never hold the key", test_engine_has_no_key);
	cu_test(s, "hostile signing requests", test_hostile_requests);
	cu_test(s, "a signing wait keeps the loop's messages",
	    test_sign_wait_keeps_messages);
	cu_test(s, "cpconnectd -n on bad keys", test_check);
	cu_test(s, "reload changes the key", test_reload);
	return cu_finish();
}
