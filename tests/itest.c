/* SPDX-License-Identifier: ISC */
/*
 * Integration test support.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "cprops/client.h"
#include "cutest.h"
#include "itest.h"

static void
msleep(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static int
sock_answers(const char *path)
{
	struct sockaddr_un sun;
	int fd, rv;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	rv = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	return rv;
}

const char *tdaemon_bin = "cpconnectd";

/*
 * Every daemon started and not yet stopped, by value: a test that ends on a
 * fatal assertion never reaches its tdaemon_stop(), and its daemon must
 * still be stopped and its log still read.
 */
#define MAX_DAEMONS 16
static struct tdaemon running[MAX_DAEMONS];
static int nrunning;

static void
stop_leftovers(void)
{
	while (nrunning > 0) {
		struct tdaemon d = running[nrunning - 1];

		fprintf(stderr, "daemon %s left running by a test: stopped\n",
		    d.dir);
		tdaemon_stop(&d);
	}
}

static void
track(const struct tdaemon *d)
{
	if (nrunning == 0)
		cu_at_finish(stop_leftovers);
	if (nrunning < MAX_DAEMONS)
		running[nrunning++] = *d;
}

static void
untrack(const struct tdaemon *d)
{
	int i;

	for (i = 0; i < nrunning; i++)
		if (strcmp(running[i].dir, d->dir) == 0) {
			running[i] = running[--nrunning];
			return;
		}
}

int
tdaemon_start(struct tdaemon *d, const char *conf_text, const char *extra,
    const char *netns_cmd)
{
	char cmd[PATH_MAX + 2048], daemon[PATH_MAX];
	FILE *f;
	int i;

	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "/tmp/cpd.XXXXXX");
	if (mkdtemp(d->dir) == NULL)
		return -1;
	chmod(d->dir, 0755);
	snprintf(d->sock, sizeof(d->sock), "%s/sock", d->dir);
	snprintf(d->conf, sizeof(d->conf), "%s/conf", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/log", d->dir);
	if ((f = fopen(d->conf, "w")) == NULL)
		return -1;
	fputs(conf_text ? conf_text : "", f);
	fclose(f);
	if (realpath(cu_builddir(), daemon) == NULL)
		return -1;
	snprintf(cmd, sizeof(cmd), "%.1024s%s/%s -d -v -f %s -s %s "
		 "%.512s >%s 2>&1",
	    netns_cmd ? netns_cmd : "exec ", daemon, tdaemon_bin, d->conf, d->sock,
	    extra ? extra : "", d->log);
	if ((d->pid = fork()) == -1)
		return -1;
	if (d->pid == 0) {
		/* A test or benchmark killed before tdaemon_stop() takes its
		 * daemon along (SIGTERM: the daemon's own clean stop). */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (netns_cmd != NULL)
			execl("/usr/bin/unshare", "unshare", "-n", "sh", "-c",
			    cmd, (char *)NULL);
		else
			execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 200; i++) {
		if (sock_answers(d->sock)) {
			track(d);
			return 0;
		}
		if (waitpid(d->pid, NULL, WNOHANG) == d->pid) {
			d->pid = 0;
			break;
		}
		msleep(25);
	}
	snprintf(cmd, sizeof(cmd), "cat '%.64s' >&2", d->log);
	if (system(cmd) == -1)
		perror("system");
	/* Still starting after 5 s: stop it, so nothing outlives the test. */
	if (d->pid > 0) {
		track(d);
		tdaemon_stop(d);
	}
	return -1;
}

/* The parent is the process that listens: with a netns wrapper it is a
 * child of unshare's shell; find it by its socket path in the cmdline. */
pid_t
tdaemon_parent(const struct tdaemon *d)
{
	DIR *dir = opendir("/proc");
	struct dirent *de;
	pid_t found = 0;

	while (dir != NULL && (de = readdir(dir)) != NULL) {
		char path[64], buf[4096];
		ssize_t n;
		int fd;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%.16s/cmdline", de->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		if (strstr(buf, "cpconnectd") && strstr(buf, d->sock) &&
		    !strstr(buf, " -E ") && !strstr(buf, "sh -c") &&
		    !strstr(buf, "unshare")) {
			found = (pid_t)atoi(de->d_name);
			break;
		}
	}
	if (dir != NULL)
		closedir(dir);
	return found;
}

/* Signals that mean a crash, not a stop: a test sends SIGKILL or SIGTERM
 * on purpose, a bug brings these. */
static int
crash_signal(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGABRT ||
	       sig == SIGILL || sig == SIGFPE || sig == SIGSYS;
}

/* A log line that says the daemon misbehaved, whatever the test checked. */
static int
log_alarm(const char *line, unsigned long sigs_sent)
{
	static const char *const marks[] = {
	    "AddressSanitizer",
	    "LeakSanitizer",
	    "UndefinedBehaviorSanitizer",
	    "runtime error:",
	};
	const char *p;
	size_t i;
	int sig;

	for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		if (strstr(line, marks[i]) != NULL)
			return 1;
	/* daemon/cpconnectd.c reap(): "engine pid N killed by signal S" */
	if ((p = strstr(line, " killed by signal ")) != NULL) {
		sig = atoi(p + strlen(" killed by signal "));
		if (crash_signal(sig) && sig < (int)(8 * sizeof(sigs_sent)) &&
		    !(sigs_sent & (1UL << sig)))
			return 1;
	}
	return 0;
}

/* Next to run.sh's <program>.out; the path goes to out (PATH_MAX). */
static void
keep_log(const char *log, char *out, size_t outsz)
{
	static int serial;
	const char *dir = getenv("TESTLOG");
	char dflt[1100], cmd[4 * 1200];

	if (dir == NULL || *dir == '\0') {
		snprintf(
		    dflt, sizeof(dflt), "%.1024s/tests/log", cu_builddir());
		dir = dflt;
	}
	snprintf(out, outsz, "%.1024s/%.64s.daemon%d.log", dir,
	    program_invocation_short_name, ++serial);
	/* Sandboxed engines cannot symbolize their own sanitizer reports. */
	snprintf(cmd, sizeof(cmd),
	    "mkdir -p '%.1100s' && cp '%.64s' '%.1100s' && "
	    "{ sh tests/symbolize.sh '%.1100s' 2>/dev/null || :; }",
	    dir, log, out, out);
	if (strchr(out, '\'') != NULL || system(cmd) != 0)
		snprintf(out, outsz, "(not kept: %.64s)", log);
}

static void
daemon_failed(const char *why)
{
	/* Inside a test, the test fails; otherwise the program does. */
	if (CU_get_current_test() != NULL)
		CU_assertImplementation(
		    CU_FALSE, __LINE__, why, __FILE__, "", CU_FALSE);
	else
		cu_count_failure();
}

/* Read the whole log; report and keep it when it has an alarm. */
static void
check_log(const struct tdaemon *d, int status)
{
	char *line = NULL, kept[PATH_MAX], first[512] = "";
	size_t cap = 0;
	FILE *f;
	int n = 0;

	if ((f = fopen(d->log, "r")) != NULL) {
		while (getline(&line, &cap, f) != -1)
			if (log_alarm(line, d->sigs_sent) && n++ == 0) {
				line[strcspn(line, "\n")] = '\0';
				snprintf(first, sizeof(first), "%s", line);
			}
		fclose(f);
	}
	free(line);
	if (n == 0 && status != -1 && WIFSIGNALED(status) &&
	    crash_signal(WTERMSIG(status))) {
		snprintf(first, sizeof(first),
		    "daemon parent killed by signal "
		    "%d",
		    WTERMSIG(status));
		n = 1;
	}
	if (n == 0)
		return;
	keep_log(d->log, kept, sizeof(kept));
	fprintf(stderr, "FAIL daemon log %s: %d alarming line%s, first: %s\n",
	    kept, n, n == 1 ? "" : "s", first);
	daemon_failed("daemon log: sanitizer report or crash (see stderr)");
}

void
tdaemon_stop(struct tdaemon *d)
{
	pid_t p = tdaemon_parent(d);
	int i, status = -1;

	if (p > 0)
		kill(p, SIGTERM);
	if (d->pid > 0) {
		/* Engines drain for at most 5 s; then the parent exits. */
		for (i = 0; i < 400; i++) {
			if (waitpid(d->pid, &status, WNOHANG) == d->pid)
				break;
			msleep(25);
		}
		if (i == 400) {
			fprintf(stderr,
			    "daemon %s did not stop in 10 s: "
			    "killed\n",
			    d->dir);
			kill(d->pid, SIGKILL);
			waitpid(d->pid, NULL, 0);
			status = -1;
		}
	}
	d->pid = 0;
	untrack(d);
	check_log(d, status);
	unlink(d->conf);
	unlink(d->log);
	unlink(d->sock);
	rmdir(d->dir);
}

int
tdaemon_engines(const struct tdaemon *d, pid_t *pids, int max)
{
	pid_t parent = tdaemon_parent(d);
	char path[64], buf[1024], *p, *end;
	int fd, n = 0;
	ssize_t len;

	if (parent <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)parent,
	    (int)parent);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return 0;
	buf[len] = '\0';
	for (p = buf; n < max; p = end) {
		long v = strtol(p, &end, 10);

		if (end == p)
			break;
		pids[n++] = (pid_t)v;
	}
	return n;
}

long
tproc_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0) {
			kb = strtol(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

long
tdaemon_rss_kb(const struct tdaemon *d)
{
	pid_t pids[64], parent = tdaemon_parent(d);
	int i, n = tdaemon_engines(d, pids, 64);
	long total, kb;

	if (parent <= 0 || (total = tproc_rss_kb(parent)) < 0)
		return -1;
	for (i = 0; i < n; i++)
		if ((kb = tproc_rss_kb(pids[i])) > 0)
			total += kb;
	return total;
}

int
tfd_count(pid_t pid)
{
	char path[64];
	struct dirent *de;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((dir = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(dir)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

int
tdaemon_fds(const struct tdaemon *d)
{
	pid_t pids[64];
	int i, n = tdaemon_engines(d, pids, 64), total = 0, c;

	for (i = 0; i < n; i++)
		if ((c = tfd_count(pids[i])) > 0)
			total += c;
	return total;
}

int
tdaemon_log_has(const struct tdaemon *d, const char *s)
{
	char buf[65536 + 1];
	size_t keep = strlen(s), have = 0;
	ssize_t n;
	int fd, found = 0;

	if (keep == 0 || keep >= sizeof(buf) / 2 ||
	    (fd = open(d->log, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	/* The whole log, chunk by chunk; the tail of one chunk is kept so a
	 * line split between two reads is still found. */
	while (!found &&
	    (n = read(fd, buf + have, sizeof(buf) - 1 - have)) > 0) {
		have += (size_t)n;
		buf[have] = '\0';
		found = strstr(buf, s) != NULL;
		if (have > keep) {
			memmove(buf, buf + have - keep, keep);
			have = keep;
		}
	}
	close(fd);
	return found;
}

int
tdaemon_log_wait(const struct tdaemon *d, const char *s, int ms)
{
	int i;

	for (i = 0; i < ms / 10 && !tdaemon_log_has(d, s); i++)
		msleep(10);
	return tdaemon_log_has(d, s);
}

int
thttp_get(cp_client *c)
{
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	char buf[512];
	int n, got = 0;

	if (cp_client_write(c, req, sizeof(req) - 1) != sizeof(req) - 1)
		return 0;
	while (got < 8 && (n = cp_client_read(
	                       c, buf + got, (int)sizeof(buf) - 1 - got)) > 0)
		got += n;
	buf[got] = '\0';
	return strncmp(buf, "HTTP/1.", 7) == 0;
}

static int
log_line_has(const struct tdaemon *d, const char *a, const char *b)
{
	FILE *f = fopen(d->log, "re");
	char *line = NULL, *p;
	size_t cap = 0;
	int found = 0;

	if (f == NULL)
		return 0;
	while (!found && getline(&line, &cap, f) != -1)
		found = (p = strstr(line, a)) != NULL &&
		        strstr(p + strlen(a), b) != NULL;
	free(line);
	fclose(f);
	return found;
}

int
tdaemon_log_line_wait(
    const struct tdaemon *d, const char *a, const char *b, int ms)
{
	int i;

	for (i = 0; i < ms / 10 && !log_line_has(d, a, b); i++)
		msleep(10);
	return log_line_has(d, a, b);
}

int
tlisten(int family, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		s6->sin6_port = htons(*port);
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		s4->sin_port = htons(*port);
		len = sizeof(*s4);
	}
	if ((fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    listen(fd, 128) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) == -1) {
		close(fd);
		return -1;
	}
	*port = ntohs(family == AF_INET6
			  ? ((struct sockaddr_in6 *)&ss)->sin6_port
			  : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

uint16_t
tfree_port(int family)
{
	/* The kernel may hand the same free port out twice in a row: a suite
	 * that picks ports for several servers before starting them would
	 * then start two on one port, and talk to the wrong one. */
	static uint16_t given[256];
	static unsigned ngiven;
	unsigned i, try, n = ngiven < 256 ? ngiven : 256;
	uint16_t port = 0;
	int fd;

	for (try = 0; try < 32; try++) {
		port = 0;
		if ((fd = tlisten(family, &port)) == -1)
			return 0;
		close(fd);
		for (i = 0; i < n && given[i] != port; i++)
			;
		if (i == n)
			break;
	}
	given[ngiven++ % 256] = port;
	return port;
}

static void
echo_one(int c)
{
	char buf[65536];
	ssize_t n, w, off;

	while ((n = read(c, buf, sizeof(buf))) > 0)
		for (off = 0; off < n; off += w)
			if ((w = write(c, buf + off, (size_t)(n - off))) <= 0)
				return;
}

pid_t
techo_start(int lfd, int n)
{
	pid_t pid = fork();
	int i, c;

	if (pid != 0)
		return pid;
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < n; i++) {
		if ((c = accept(lfd, NULL, NULL)) == -1)
			_exit(1);
		if (fork() == 0) {
			echo_one(c);
			_exit(0);
		}
		close(c);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	}
	_exit(0);
}

void
tkill(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

uint64_t
tnow_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
tmsleep(int ms)
{
	msleep(ms);
}

int
tport_open(uint16_t port, int v6)
{
	struct sockaddr_in6 sin6;
	struct sockaddr_in sin;
	int fd, rv;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(port);
	sin6.sin6_addr = in6addr_loopback;
	if ((fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC,
		 0)) == -1)
		return 0;
	rv = v6 ? connect(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0
		: connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	close(fd);
	return rv;
}

#define MAX_SERVERS 64
static pid_t servers[MAX_SERVERS];
static int nservers;

pid_t
tserver_start(char *const argv[], uint16_t port, int v6)
{
	pid_t pid;
	int i, null;

	if (nservers == MAX_SERVERS || (pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		if (getenv("TEST_DEBUG") == NULL) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	servers[nservers++] = pid;
	for (i = 0; i < 200; i++) {
		if (tport_open(port, v6))
			return pid;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -1;
		msleep(25);
	}
	return -1;
}

void
tservers_stop(void)
{
	while (nservers > 0)
		tkill(servers[--nservers]);
}

int
tpki_make(char *out, size_t outsz, const char *dir)
{
	char cmd[PATH_MAX + 64];
	int n;

	n = snprintf(out, outsz, "%s/pki", dir);
	if (n < 0 || (size_t)n >= outsz || strchr(out, '\'') != NULL)
		return -1;
	snprintf(cmd, sizeof(cmd), "sh tests/pki/mkpki.sh '%s' >/dev/null", out);
	return system(cmd) == 0 ? 0 : -1;
}

char *
tpath(const char *dir, const char *name)
{
	static char buf[8][256];
	static int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

X509 *
tpki_cert(const char *dir, const char *name)
{
	FILE *f = fopen(tpath(dir, name), "re");
	X509 *x;

	if (f == NULL)
		return NULL;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

uint16_t
ts_server(const char *pki, uint16_t port, int v6, const char *leaf,
    int with_int, ...)
{
	char portarg[32], cert[64], key[64];
	const char *argv[32], *a;
	va_list ap;
	int i = 0;

	if (port == 0)
		port = tfree_port(v6 ? AF_INET6 : AF_INET);
	snprintf(portarg, sizeof(portarg), v6 ? "[::1]:%u" : "127.0.0.1:%u",
	    port);
	snprintf(cert, sizeof(cert), "%s.pem", leaf);
	snprintf(key, sizeof(key), "%s.key", leaf);
	argv[i++] = "openssl";
	argv[i++] = "s_server";
	argv[i++] = "-accept";
	argv[i++] = portarg;
	argv[i++] = "-www";
	argv[i++] = "-cert";
	argv[i++] = tpath(pki, cert);
	argv[i++] = "-key";
	argv[i++] = tpath(pki, key);
	if (with_int) {
		argv[i++] = "-cert_chain";
		argv[i++] = tpath(pki, "int.pem");
	}
	va_start(ap, with_int);
	while (i < 31 && (a = va_arg(ap, const char *)) != NULL)
		argv[i++] = a;
	va_end(ap);
	argv[i] = NULL;
	return tserver_start((char *const *)argv, port, v6) > 0 ? port : 0;
}
