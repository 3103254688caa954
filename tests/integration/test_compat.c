/* SPDX-License-Identifier: ISC */
/*
 * cprops compatibility beyond the basic calls, through a real cpconnectd:
 * cp_client_init's return value, cp_client_connect_ssl, the cp_string I/O
 * functions (with a cp_string of our own, as libcprops would provide it),
 * cp_client_stop_all from a signal handler, and the macros and helper
 * (ssl_err_inf) that cprops programs take from the header.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cprops/client.h"
#include "cutest.h"
#include "itest.h"

static struct tdaemon dmn;
static char pki[128];
static uint16_t echo_port;
static pid_t echo_pid;

/*
 * The three cp_string functions libcpconnect calls, with cprops'
 * signatures; a program using cprops' strings gets them from libcprops.
 */
struct _cp_string {
	int size;
	int len;
	char *data;
};

cp_string *cp_string_cat_bin(cp_string *, void *, int);
char *cp_string_data(cp_string *);
int cp_string_len(cp_string *);

static int cat_fails; /* the next cp_string_cat_bin runs out of memory */

cp_string *
cp_string_cat_bin(cp_string *s, void *bin, int len)
{
	char *p;

	if (cat_fails) {
		cat_fails = 0;
		return NULL;
	}

	if (s->len + len > s->size) {
		if ((p = realloc(s->data, (size_t)(s->len + len))) == NULL)
			return NULL;
		s->data = p;
		s->size = s->len + len;
	}
	memcpy(s->data + s->len, bin, (size_t)len);
	s->len += len;
	return s;
}

char *
cp_string_data(cp_string *s)
{
	return s->data;
}

int
cp_string_len(cp_string *s)
{
	return s->len;
}

static void
str_free(cp_string *s)
{
	free(s->data);
	memset(s, 0, sizeof(*s));
}

static int
suite_init(void)
{
	char conf[512];
	int l;

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
	if ((l = tlisten(AF_INET, &echo_port)) == -1)
		return -1;
	echo_pid = techo_start(l, 100);
	close(l);
	return 0;
}

static int
suite_clean(void)
{
	tkill(echo_pid);
	tservers_stop();
	tdaemon_stop(&dmn);
	return 0;
}

static void
test_init_returns_int(void)
{
	int rc;

	/* cprops' own example does exactly this. */
	rc = cp_client_init();
	CU_ASSERT_EQUAL(rc, 0);
	cp_client_shutdown();
}

static void
test_string_io(void)
{
	cp_string out = {0, 0, NULL}, in = {0, 0, NULL};
	cp_client *c;
	char chunk[1000];
	int i;

	for (i = 0; i < 10; i++) {
		memset(chunk, 'a' + i, sizeof(chunk));
		CU_ASSERT_PTR_NOT_NULL(
		    cp_string_cat_bin(&out, chunk, (int)sizeof(chunk)));
	}
	c = cp_client_create("127.0.0.1", echo_port);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL_FATAL(cp_client_connect(c), 0);
	CU_ASSERT_EQUAL(cp_client_write_string(c, &out), 10000);
	/* Exactly len bytes, in as many reads as it takes. */
	CU_ASSERT_EQUAL(cp_client_read_string(c, &in, 6000), 6000);
	CU_ASSERT_EQUAL(in.len, 6000);
	/* len 0: to the end of the stream, appended. */
	CU_ASSERT_EQUAL(cp_client_close_write(c), 0);
	CU_ASSERT_EQUAL(cp_client_read_string(c, &in, 0), 4000);
	CU_ASSERT_EQUAL(in.len, 10000);
	CU_ASSERT(in.len == 10000 && memcmp(in.data, out.data, 10000) == 0);
	CU_ASSERT_EQUAL(c->bytes_read, 10000);
	CU_ASSERT_EQUAL(c->bytes_sent, 10000);
	cp_client_close(c);
	/* The program's cp_string runs out of memory: an error, not a short
	 * read that looks like success. */
	CU_ASSERT_EQUAL_FATAL(cp_client_connect(c), 0);
	CU_ASSERT_EQUAL(cp_client_write(c, "abcd", 4), 4);
	cat_fails = 1;
	CU_ASSERT_EQUAL(cp_client_read_string(c, &in, 4), -1);
	CU_ASSERT_EQUAL(errno, ENOMEM);
	CU_ASSERT_PTR_NOT_NULL(strstr(cp_client_error(c), "out of memory"));
	CU_ASSERT_EQUAL(in.len, 10000);
	/* Hostile arguments. */
	CU_ASSERT_EQUAL(cp_client_read_string(c, NULL, 0), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_EQUAL(cp_client_read_string(c, &in, -1), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_EQUAL(cp_client_write_string(NULL, &in), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	cp_client_close(c);
	/* Not connected: -1, nothing appended. */
	CU_ASSERT_EQUAL(cp_client_read_string(c, &in, 10), -1);
	CU_ASSERT_EQUAL(errno, ENOTCONN);
	CU_ASSERT_EQUAL(in.len, 10000);
	cp_client_destroy(c);
	str_free(&in);
	str_free(&out);
}

static void
test_connect_ssl(void)
{
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	cp_string q = {0, 0, NULL}, r = {0, 0, NULL};
	cp_client *c;
	uint16_t port;
	int n;

	/* A plain client is refused, with a message, and stays usable. */
	c = cp_client_create("127.0.0.1", echo_port);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(cp_client_connect_ssl(c), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(cp_client_error(c), "not a TLS client"));
	CU_ASSERT_EQUAL(cp_client_fd(c), -1);
	CU_ASSERT_EQUAL(cp_client_connect(c), 0);
	cp_client_destroy(c);
	CU_ASSERT_EQUAL(cp_client_connect_ssl(NULL), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);

	port = ts_server(pki, 0, 0, "valid", 1, (char *)NULL);
	CU_ASSERT_FATAL(port != 0);
	c = cp_client_create_ssl("localhost", port, NULL, NULL, SSL_VERIFY_PEER);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL_FATAL(cp_client_connect_ssl(c), 0);
	CU_ASSERT_PTR_NOT_NULL(cp_client_get_server_certificate(c));
	CU_ASSERT(cp_client_verify_hostname(c));
	/* The string functions over the TLS record layer. */
	cp_string_cat_bin(&q, (void *)req, (int)sizeof(req) - 1);
	CU_ASSERT_EQUAL(cp_client_write_string(c, &q), (int)sizeof(req) - 1);
	n = cp_client_read_string(c, &r, 0);
	CU_ASSERT(n > 12 && n == r.len);
	CU_ASSERT(r.len > 12 && memcmp(r.data, "HTTP/1.0 200", 12) == 0);
	cp_client_destroy(c);
	str_free(&q);
	str_free(&r);
}

/*
 * A forked child never talks over its parent's pooled daemon session: the
 * daemon's audit line names the child's own pid (SO_PEERCRED is taken
 * when a session is opened).
 */
static void
test_fork_own_session(void)
{
	char needle[64];
	cp_client *c;
	pid_t pid;
	int st, i;

	c = cp_client_create("127.0.0.1", echo_port);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL_FATAL(cp_client_connect(c), 0); /* pools a session */
	cp_client_close(c);
	pid = fork();
	CU_ASSERT_FATAL(pid != -1);
	if (pid == 0) {
		st = cp_client_connect(c) == 0 ? 0 : 1;
		cp_client_destroy(c);
		cp_client_shutdown();
		_exit(st);
	}
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	snprintf(needle, sizeof(needle), "pid %d: tcp 127.0.0.1", (int)pid);
	for (i = 0; i < 200 && !tdaemon_log_has(&dmn, needle); i++)
		tmsleep(10);
	CU_ASSERT(tdaemon_log_has(&dmn, needle));
	/* The parent's pooled session still works, and still is ours. */
	CU_ASSERT_EQUAL(cp_client_connect(c), 0);
	cp_client_destroy(c);
}

static void
on_alarm(int sig)
{
	(void)sig;
	cp_client_stop_all();
}

/* SIGALRM in ms, handled without SA_RESTART, as cprops programs would. */
static void
alarm_in(int ms)
{
	struct itimerval it;
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	memset(&it, 0, sizeof(it));
	it.it_value.tv_sec = ms / 1000;
	it.it_value.tv_usec = (ms % 1000) * 1000;
	setitimer(ITIMER_REAL, &it, NULL);
}

/* A blocked read ends with ECANCELED soon after the signal; then every
 * call fails alike until cp_client_init. */
static void
check_stop_read(cp_client *c)
{
	char buf[64];
	uint64_t t0;

	t0 = tnow_ms();
	alarm_in(150);
	CU_ASSERT_EQUAL(cp_client_read(c, buf, sizeof(buf)), -1);
	CU_ASSERT_EQUAL(errno, ECANCELED);
	CU_ASSERT(tnow_ms() - t0 < 2500);
	CU_ASSERT_PTR_NOT_NULL(strstr(cp_client_error(c), "cp_client_stop_all"));
	CU_ASSERT_EQUAL(cp_client_write(c, "x", 1), -1);
	CU_ASSERT_EQUAL(errno, ECANCELED);
	/* Still the program's to close. */
	CU_ASSERT(cp_client_fd(c) >= 0);
	CU_ASSERT_EQUAL(cp_client_close(c), 0);
	CU_ASSERT_EQUAL(cp_client_connect(c), -1);
	CU_ASSERT_EQUAL(errno, ECANCELED);
	CU_ASSERT_EQUAL(cp_client_init(), 0);
}

static void
test_stop_all_tcp(void)
{
	cp_client *c;
	char buf[8];

	c = cp_client_create("127.0.0.1", echo_port);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	cp_client_set_timeout(c, 3, 0); /* bounds the test if stop fails */
	CU_ASSERT_EQUAL_FATAL(cp_client_connect(c), 0);
	check_stop_read(c);
	/* Started over. */
	CU_ASSERT_EQUAL(cp_client_connect(c), 0);
	CU_ASSERT_EQUAL(cp_client_write(c, "ping", 4), 4);
	CU_ASSERT_EQUAL(cp_client_read(c, buf, 4), 4);
	cp_client_destroy(c);
}

static void
test_stop_all_tls(void)
{
	cp_client *c;
	uint16_t port;

	/* -rev answers only lines: nothing comes until we send one. */
	port = ts_server(pki, 0, 0, "valid", 1, "-rev", (char *)NULL);
	CU_ASSERT_FATAL(port != 0);
	c = cp_client_create_ssl("localhost", port, NULL, NULL, SSL_VERIFY_PEER);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	cp_client_set_timeout(c, 3, 0);
	CU_ASSERT_EQUAL_FATAL(cp_client_connect(c), 0);
	check_stop_read(c);
	cp_client_destroy(c);
}

/* A daemon that accepts and never answers: the connect's wait stops. */
static void
test_stop_all_connect(void)
{
	struct sockaddr_un sun;
	char path[160];
	cp_client *c;
	uint64_t t0;
	int l;

	snprintf(path, sizeof(path), "%s/mute.sock", cu_tmpdir());
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	CU_ASSERT_FATAL(strlen(path) < sizeof(sun.sun_path));
	strcpy(sun.sun_path, path);
	unlink(path);
	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(l != -1);
	CU_ASSERT_FATAL(bind(l, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	CU_ASSERT_FATAL(listen(l, 4) == 0);
	cp_client_set_socket_path(path);
	c = cp_client_create("127.0.0.1", echo_port);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	cp_client_set_timeout(c, 1, 0); /* the wait is bounded regardless */
	t0 = tnow_ms();
	alarm_in(150);
	CU_ASSERT_EQUAL(cp_client_connect(c), -1);
	CU_ASSERT_EQUAL(errno, ECANCELED);
	CU_ASSERT(tnow_ms() - t0 < 2500);
	CU_ASSERT_EQUAL(cp_client_fd(c), -1);
	CU_ASSERT_EQUAL(cp_client_init(), 0);
	/* The daemon again: the stopped session was not kept for reuse. */
	cp_client_set_socket_path(dmn.sock);
	CU_ASSERT_EQUAL(cp_client_connect(c), 0);
	cp_client_destroy(c);
	close(l);
	unlink(path);
}

/* cprops' client.h defines these; programs use them as arguments. */
static void
test_header_macros(void)
{
	cp_client *c = cp_client_create("127.0.0.1", echo_port);

	CU_ASSERT_EQUAL(DEFAULT_RETRIES, 3);
	CU_ASSERT_EQUAL(DEFAULT_CLIENT_TIMEOUT, 300);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->retry, DEFAULT_RETRIES);
	cp_client_set_timeout(c, DEFAULT_CLIENT_TIMEOUT, 0);
	CU_ASSERT_EQUAL(c->timeout.tv_sec, DEFAULT_CLIENT_TIMEOUT);
	cp_client_destroy(c);
}

/* cprops took any retry count; the daemon's retry-max bounds it anyway,
 * so a large one must not make the request malformed. */
static void
test_many_retries(void)
{
	cp_client *c = cp_client_create("127.0.0.1", echo_port);

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	cp_client_set_retry(c, 100000);
	CU_ASSERT_EQUAL(cp_client_connect(c), 0);
	if (cp_client_fd(c) == -1)
		fprintf(stderr, "\n  retry 100000: %s", cp_client_error(c));
	CU_ASSERT_EQUAL(c->retry, 100000);
	cp_client_destroy(c);
}

/* cprops' socket code names SSL_get_error codes with ssl_err_inf. */
static void
test_ssl_err_inf(void)
{
	char so[256];
	char *(*fn)(int);
	void *h;

	CU_ASSERT_STRING_EQUAL(ssl_err_inf(SSL_ERROR_NONE), "SSL_ERROR_NONE");
	CU_ASSERT_STRING_EQUAL(ssl_err_inf(SSL_ERROR_SSL), "SSL_ERROR_SSL");
	CU_ASSERT_STRING_EQUAL(ssl_err_inf(SSL_ERROR_WANT_READ),
	    "SSL_ERROR_WANT_READ");
	CU_ASSERT_STRING_EQUAL(ssl_err_inf(SSL_ERROR_WANT_WRITE),
	    "SSL_ERROR_WANT_WRITE");
	CU_ASSERT_STRING_EQUAL(ssl_err_inf(SSL_ERROR_SYSCALL),
	    "SSL_ERROR_SYSCALL");
	CU_ASSERT_STRING_EQUAL(ssl_err_inf(SSL_ERROR_ZERO_RETURN),
	    "SSL_ERROR_ZERO_RETURN");
	CU_ASSERT_STRING_EQUAL(ssl_err_inf(SSL_ERROR_WANT_CONNECT),
	    "SSL_ERROR_WANT_CONNECT");
	CU_ASSERT_STRING_EQUAL(ssl_err_inf(SSL_ERROR_WANT_ACCEPT),
	    "SSL_ERROR_WANT_ACCEPT");
	CU_ASSERT_STRING_EQUAL(ssl_err_inf(SSL_ERROR_WANT_X509_LOOKUP),
	    "SSL_ERROR_WANT_X509_LOOKUP");
	CU_ASSERT_STRING_EQUAL(ssl_err_inf(-1), "unknown");
	CU_ASSERT_STRING_EQUAL(ssl_err_inf(1000), "unknown");
	/* The shared object exports it, as cprops' did. */
	snprintf(so, sizeof(so), "%s/libcpconnect.so.0", cu_builddir());
	h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	*(void **)&fn = dlsym(h, "ssl_err_inf");
	CU_ASSERT_PTR_NOT_NULL(fn);
	if (fn != NULL)
		CU_ASSERT_STRING_EQUAL(fn(SSL_ERROR_WANT_READ),
		    "SSL_ERROR_WANT_READ");
	dlclose(h);
}

int
main(void)
{
	CU_pSuite s;

	signal(SIGPIPE, SIG_IGN);
	s = cu_suite("cprops compatibility", suite_init, suite_clean);
	cu_test(s, "cp_client_init returns 0", test_init_returns_int);
	cu_test(s, "cp_string read and write", test_string_io);
	cu_test(s, "cp_client_connect_ssl", test_connect_ssl);
	cu_test(s, "a forked child has its own daemon session",
	    test_fork_own_session);
	cu_test(s, "cp_client_stop_all: blocked TCP read", test_stop_all_tcp);
	cu_test(s, "cp_client_stop_all: blocked TLS read", test_stop_all_tls);
	cu_test(s, "cp_client_stop_all: waiting for the daemon",
	    test_stop_all_connect);
	cu_test(s, "DEFAULT_RETRIES and DEFAULT_CLIENT_TIMEOUT",
	    test_header_macros);
	cu_test(s, "ssl_err_inf", test_ssl_err_inf);
	cu_test(s, "a retry count above the protocol's", test_many_retries);
	return cu_finish();
}
