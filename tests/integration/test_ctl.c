/* SPDX-License-Identifier: ISC */
/*
 * cpconnectctl against a daemon of our own: status, stats and metrics
 * after requests that succeed, are denied and are refused, in text and
 * JSON; reload with a good and a broken file; log verbose at run time;
 * a non-root client refused; garbage on the control socket.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cprops/client.h"
#include "cutest.h"
#include "itest.h"

static struct tdaemon d;
static char ctlsock[96];
static uint16_t echo_port;
static pid_t echo_pid;

static const char conf_text[] = "user nobody\n"
                                "engines 2\n"
                                "allow from any to 127.0.0.0/8\n";

static int
has(const char *hay, const char *needle)
{
	return hay != NULL && strstr(hay, needle) != NULL;
}

/* Output of "cpconnectctl -s <ctlsock> args" (stdout and stderr), and its
 * exit status in *rc. */
static char *
ctl(const char *args, int *rc)
{
	static char out[65536];
	char cmd[512];
	size_t got = 0, n;
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd), "%s/cpconnectctl -s %s %s 2>&1",
	    cu_builddir(), ctlsock, args);
	out[0] = '\0';
	if ((p = popen(cmd, "r")) == NULL)
		return out;
	while (got < sizeof(out) - 1 &&
	       (n = fread(out + got, 1, sizeof(out) - 1 - got, p)) > 0)
		got += n;
	out[got] = '\0';
	st = pclose(p);
	*rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return out;
}

/* The number after "key": in a JSON text, or -1. */
static long
json_num(const char *js, const char *key)
{
	char pat[96];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	if ((p = strstr(js, pat)) == NULL)
		return -1;
	return strtol(p + strlen(pat), NULL, 10);
}

static int
request(const char *host, uint16_t port)
{
	cp_client *c = cp_client_create(host, port);
	int rv;

	if (c == NULL)
		return -2;
	cp_client_set_retry(c, 0);
	rv = cp_client_connect(c);
	cp_client_destroy(c);
	return rv;
}

static int
suite_init(void)
{
	int lfd = tlisten(AF_INET, &echo_port);

	if (lfd == -1 || (echo_pid = techo_start(lfd, 100)) == -1)
		return -1;
	close(lfd);
	if (tdaemon_start(&d, conf_text, NULL, NULL) == -1)
		return -1;
	snprintf(ctlsock, sizeof(ctlsock), "%s.ctl", d.sock);
	cp_client_set_socket_path(d.sock);
	return 0;
}

static int
suite_clean(void)
{
	tdaemon_stop(&d);
	tkill(echo_pid);
	return 0;
}

/* Counts reach the parent once a second: wait for them. */
static int
wait_requests(long want)
{
	int rc;

	for (int i = 0; i < 40; i++) {
		if (json_num(ctl("--json stats", &rc), "requests") >= want)
			return 1;
		tmsleep(100);
	}
	return 0;
}

static void
test_stats(void)
{
	char *o;
	int rc;

	CU_ASSERT_EQUAL(request("127.0.0.1", echo_port), 0);
	CU_ASSERT_EQUAL(request("127.0.0.1", echo_port), 0);
	CU_ASSERT_EQUAL(request("10.0.0.1", 80), -1); /* denied */
	CU_ASSERT_EQUAL(request("127.0.0.1", tfree_port(AF_INET)), -1);
	CU_ASSERT_FATAL(wait_requests(4));

	o = ctl("--json stats", &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT(o[0] == '{');
	CU_ASSERT_EQUAL(json_num(o, "requests"), 4);
	CU_ASSERT_EQUAL(json_num(o, "ok"), 2);
	CU_ASSERT_EQUAL(json_num(o, "denied"), 1);
	CU_ASSERT_EQUAL(json_num(o, "refused"), 1);
	CU_ASSERT_EQUAL(json_num(o, "tcp"), 4);
	CU_ASSERT_EQUAL(json_num(o, "tls"), 0);
	CU_ASSERT_EQUAL(json_num(o, "0"), 4); /* uid 0 */
	CU_ASSERT(json_num(o, "p50") > 0);
	CU_ASSERT(json_num(o, "p99") >= json_num(o, "p50"));
	CU_ASSERT(has(o, "\"session-cache\":{\"mode\":\"per-user\""));
	CU_ASSERT_EQUAL(json_num(o, "hits"), 0); /* no TLS here */

	o = ctl("stats", &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT(has(o, "outcome.denied"));
	CU_ASSERT(has(o, "latency.p90"));
	CU_ASSERT(has(o, "restarts"));
}

static void
test_status(void)
{
	char *o;
	int rc;

	o = ctl("status", &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT(has(o, "engines              2"));
	CU_ASSERT(has(o, d.conf));
	o = ctl("--json status", &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(json_num(o, "engines"), 2);
	CU_ASSERT(json_num(o, "generation") >= 1);
	CU_ASSERT(json_num(o, "uptime") >= 0);
	CU_ASSERT(json_num(o, "sessions") >= 0);
	CU_ASSERT(json_num(o, "inflight") >= 0);
	CU_ASSERT(has(o, "\"config\":\""));
	/* The client socket by mistake: said so, not "truncated". */
	{
		char args[160];

		snprintf(args, sizeof(args), "-s %s status", d.sock);
		o = ctl(args, &rc);
		CU_ASSERT_EQUAL(rc, 1);
		CU_ASSERT(has(o, "not cpconnectd's control socket"));
	}
}

/* Every line a # HELP, a # TYPE, or "cpconnect_name[{labels}] value". */
static int
metric_line_ok(const char *l)
{
	const char *sp;

	if (strncmp(l, "# HELP cpconnect_", 17) == 0 ||
	    strncmp(l, "# TYPE cpconnect_", 17) == 0)
		return 1;
	if (strncmp(l, "cpconnect_", 10) != 0 || (sp = strrchr(l, ' ')) == NULL)
		return 0;
	return sp[1] >= '0' && sp[1] <= '9';
}

static void
test_metrics(void)
{
	char *o, *line, *save = NULL;
	int rc, bad = 0, n = 0;

	o = ctl("metrics", &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT(has(o, "# TYPE cpconnect_requests_total counter"));
	CU_ASSERT(has(o, "cpconnect_requests_total{outcome=\"ok\"} 2\n"));
	CU_ASSERT(has(o, "cpconnect_requests_total{outcome=\"denied\"} 1\n"));
	CU_ASSERT(has(o, "# TYPE cpconnect_engines gauge"));
	CU_ASSERT(has(
	    o, "cpconnect_request_duration_seconds_bucket{le=\"+Inf\"} 4\n"));
	CU_ASSERT(has(o, "cpconnect_request_duration_seconds_count 4\n"));
	for (line = strtok_r(o, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save), n++)
		if (!metric_line_ok(line)) {
			fprintf(stderr, "  bad metrics line: %s\n", line);
			bad++;
		}
	CU_ASSERT(n > 20);
	CU_ASSERT_EQUAL(bad, 0);
}

static int
write_conf(const char *text)
{
	FILE *f = fopen(d.conf, "w");
	int rv;

	if (f == NULL)
		return -1;
	rv = fputs(text, f) < 0 ? -1 : 0;
	return fclose(f) != 0 ? -1 : rv;
}

static void
test_reload(void)
{
	char *o, buf[512];
	long gen;
	int rc;

	gen = json_num(ctl("--json status", &rc), "generation");
	CU_ASSERT_FATAL(write_conf(conf_text) == 0);
	o = ctl("reload", &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(
	    json_num(ctl("--json status", &rc), "generation"), gen + 1);
	CU_ASSERT_FATAL(
	    write_conf("user nobody\nengines 2\nbogus here\n") == 0);
	o = ctl("reload", &rc);
	CU_ASSERT_EQUAL(rc, 1);
	snprintf(buf, sizeof(buf), "%s:3:", d.conf);
	CU_ASSERT(has(o, buf));
	if (!has(o, buf))
		fprintf(stderr, "  reload answer: %s\n", o);
	o = ctl("--json reload", &rc);
	CU_ASSERT_EQUAL(rc, 1);
	CU_ASSERT_EQUAL(
	    json_num(ctl("--json status", &rc), "generation"), gen + 1);
	CU_ASSERT_FATAL(write_conf(conf_text) == 0);
	ctl("reload", &rc);
	CU_ASSERT_EQUAL(rc, 0);
	/* The counts of the drained generation stay. */
	CU_ASSERT(wait_requests(4));
	CU_ASSERT_EQUAL(request("127.0.0.1", echo_port), 0);
}

static void
test_log(void)
{
	int rc, i;

	ctl("log verbose", &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(json_num(ctl("--json status", &rc), "verbose"), 1);
	for (i = 0; i < 20 && !tdaemon_log_has(&d, "verbose logging on"); i++)
		tmsleep(50);
	CU_ASSERT(tdaemon_log_has(&d, "log level: verbose"));
	/* A debug line from an engine. */
	CU_ASSERT(tdaemon_log_has(&d, "verbose logging on"));
	CU_ASSERT_EQUAL(request("127.0.0.1", echo_port), 0);
	ctl("log brief", &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(json_num(ctl("--json status", &rc), "verbose"), 0);
	ctl("log loud", &rc);
	CU_ASSERT_EQUAL(rc, 2);
}

/* Connect, send bytes (may be none), the answer's text. */
static void
raw(const char *bytes, size_t len, char *out, size_t outsz)
{
	struct sockaddr_un sun;
	size_t got = 0;
	ssize_t n;
	int fd;

	out[0] = '\0';
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", ctlsock);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		return;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		if (len > 0)
			(void)!write(fd, bytes, len);
		while (got < outsz - 1 &&
		       (n = read(fd, out + got, outsz - 1 - got)) > 0)
			got += (size_t)n;
	}
	out[got] = '\0';
	close(fd);
}

static void
test_garbage(void)
{
	char big[4096], out[1024];
	int rc;

	raw("bogus\n", 6, out, sizeof(out));
	CU_ASSERT(has(out, "error: unknown command"));
	raw("stats\nstatus\n", 13, out, sizeof(out));
	CU_ASSERT(has(out, "error: one request line only"));
	memset(big, 'A', sizeof(big));
	raw(big, sizeof(big), out, sizeof(out));
	CU_ASSERT(has(out, "error: request line too long"));
	raw("stat", 4, out, sizeof(out)); /* no newline: times out */
	CU_ASSERT(has(out, "error: no request line"));
	raw("\0\xff\n", 3, out, sizeof(out));
	CU_ASSERT(has(out, "error:"));
	/* The daemon carries on. */
	ctl("status", &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(request("127.0.0.1", echo_port), 0);
}

/* The commands on an empty cache (test_resume fills one). */
static void
test_cache(void)
{
	char *o;
	int rc;

	o = ctl("cache list", &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT(has(o, "mode") && has(o, "per-user"));
	CU_ASSERT(has(o, "max") && has(o, "1024"));
	o = ctl("--json cache list", &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT(has(o, "\"mode\":\"per-user\",\"count\":0,\"max\":1024,"
	                 "\"sessions\":[]}"));
	o = ctl("--json cache flush", &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(json_num(o, "flushed"), 0);
	o = ctl("cache drop", &rc);
	CU_ASSERT_EQUAL(rc, 2); /* usage */
}

static void
test_not_root(void)
{
	struct passwd *pw = getpwnam("nobody");
	char out[256];
	int st;
	pid_t pid;

	CU_ASSERT_FATAL(pw != NULL);
	if ((pid = fork()) == 0) {
		if (setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1)
			_exit(3);
		raw("status\n", 7, out, sizeof(out));
		/* The socket is 0600: connect() itself fails, or the
		 * daemon refuses the uid. */
		_exit(out[0] == '\0' || has(out, "error: permission denied")
		          ? 0
		          : 1);
	}
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	          WEXITSTATUS(st) == 0);
	CU_ASSERT_EQUAL(request("127.0.0.1", echo_port), 0);
}

int
main(void)
{
	CU_pSuite s;

	signal(SIGPIPE, SIG_IGN);
	if (geteuid() != 0) {
		/* The control socket serves root and the daemon's user; the
		 * non-root test needs to become nobody. */
		printf("ctl: 0 passed, 0 failed (needs root)\n");
		return 0;
	}
	s = cu_suite("cpconnectctl", suite_init, suite_clean);
	cu_test(s, "stats after ok, denied, refused", test_stats);
	cu_test(s, "status", test_status);
	cu_test(s, "metrics: Prometheus text format", test_metrics);
	cu_test(s, "reload: good, broken (file:line), good", test_reload);
	cu_test(s, "log verbose, log brief", test_log);
	cu_test(s, "garbage on the control socket", test_garbage);
	cu_test(s, "cache list, cache flush", test_cache);
	cu_test(s, "a non-root client is refused", test_not_root);
	return cu_finish();
}
