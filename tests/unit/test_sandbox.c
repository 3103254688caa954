/* SPDX-License-Identifier: ISC */
/*
 * The engines' sandbox, checked from inside: a child sandboxes itself as an
 * engine would and probes what it can still do; each probe's result comes
 * back through a pipe as one line and is asserted here as its own test.
 * Also the sd_notify wrappers, against a datagram socket standing in for
 * systemd.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <linux/landlock.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../cutest.h"
#include "notify.h"
#include "sandbox.h"

#define CHILD_WAIT_MS 10000
#define MAX_CHECKS 40

struct check {
	char name[32];
	int ok;
	char detail[160];
};

static struct check checks[MAX_CHECKS];
static int nchecks;
static int landlock_abi = -1;
static char landlock_note[256];
static char engine_note[256];

/* ---- child side ---- */

static void
report(int out, const char *name, int ok, const char *fmt, ...)
{
	char line[256], detail[160];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	n = snprintf(
	    line, sizeof(line), "%s %d %s\n", name, ok ? 1 : 0, detail);
	if (n > 0 && write(out, line, (size_t)n) != n)
		_exit(4);
}

/* Expect a failure with this errno from a call that returned rc. */
static void
report_denied(int out, const char *name, long rc, int want)
{
	int e = errno;

	report(out, name, rc == -1 && e == want, "rc=%ld errno=%d (%s)", rc,
	    rc == -1 ? e : 0, rc == -1 ? strerror(e) : "succeeded");
}

static void
report_allowed(int out, const char *name, long rc)
{
	int e = errno;

	report(out, name, rc != -1, "rc=%ld errno=%d (%s)", rc,
	    rc == -1 ? e : 0, rc == -1 ? strerror(e) : "ok");
}

static void
probe_status(int out, int statusfd, uid_t nobody)
{
	char buf[8192];
	ssize_t n;

	/* Opened before Landlock; procfs renders it at read time. */
	n = pread(statusfd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	report(out, "seccomp_mode", strstr(buf, "Seccomp:\t2\n") != NULL,
	    "read %zd bytes", n);
	report(out, "no_new_privs", strstr(buf, "NoNewPrivs:\t1\n") != NULL,
	    "read %zd bytes", n);
	report(out, "uid_nobody", getuid() == nobody && geteuid() == nobody,
	    "uid=%u euid=%u", (unsigned)getuid(), (unsigned)geteuid());
	report_denied(out, "setuid0_denied", setuid(0), EPERM);
}

static void
probe_files(int out)
{
	char buf[64];
	int fd;

	report_denied(
	    out, "passwd_denied", open("/etc/passwd", O_RDONLY), EACCES);
	fd = open("/etc/hosts", O_RDONLY | O_CLOEXEC);
	report_allowed(out, "hosts_allowed", fd);
	if (fd != -1) {
		report_allowed(out, "hosts_read", read(fd, buf, sizeof(buf)));
		close(fd);
	}
	report_denied(
	    out, "hosts_write_denied", open("/etc/hosts", O_WRONLY), EPERM);
	report_denied(out, "tmp_create_denied",
	    open("/tmp", O_RDWR | O_TMPFILE, 0600), EPERM);
}

static void
probe_process(int out)
{
	char *const argv[] = {"true", NULL};
	char *const envp[] = {NULL};
	struct rlimit rl;
	pid_t pid;

	report_denied(
	    out, "execve_denied", execve("/bin/true", argv, envp), EPERM);
	pid = fork();
	if (pid == 0)
		_exit(0);
	report_denied(out, "fork_denied", pid, EPERM);
	report_denied(out, "kill_denied", kill(getppid(), 0), EPERM);
	report_denied(
	    out, "ptrace_denied", ptrace(PTRACE_TRACEME, 0, 0, 0), EPERM);
	report_allowed(
	    out, "prlimit_get", prlimit(0, RLIMIT_NOFILE, NULL, &rl));
	report_denied(out, "prlimit_set_denied",
	    prlimit(0, RLIMIT_NOFILE, &rl, NULL), EPERM);
}

static void
probe_memory(int out)
{
	void *p;
	int e;

	p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
	    -1, 0);
	e = errno;
	report(out, "mmap_exec_denied", p == MAP_FAILED && e == EPERM,
	    "errno=%d", p == MAP_FAILED ? e : 0);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	report(out, "mmap_rw_allowed", p != MAP_FAILED, "errno=%d",
	    p == MAP_FAILED ? errno : 0);
	if (p == MAP_FAILED)
		return;
	report_denied(out, "mprotect_exec_denied",
	    mprotect(p, 4096, PROT_READ | PROT_EXEC), EPERM);
	munmap(p, 4096);
}

static void
probe_bind(int out)
{
	struct sockaddr_in sin;
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) != -1) {
		report_denied(out, "tcp_bind_denied",
		    bind(fd, (struct sockaddr *)&sin, sizeof(sin)), EACCES);
		report_denied(out, "listen_denied", listen(fd, 1), EPERM);
		close(fd);
	}
	/* c-ares may bind its UDP sockets to port 0. */
	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) != -1) {
		report_allowed(out, "udp_bind_allowed",
		    bind(fd, (struct sockaddr *)&sin, sizeof(sin)));
		close(fd);
	}
}

static void
probe_sockets(int out, const struct sockaddr_in *lsin)
{
	int fd, sv[2], n;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	report_allowed(out, "socket_inet", fd);
	if (fd != -1) {
		report_allowed(out, "connect_loopback",
		    connect(fd, (const struct sockaddr *)lsin, sizeof(*lsin)));
		report_allowed(out, "ioctl_fionread", ioctl(fd, FIONREAD, &n));
		report_denied(out, "ioctl_fioasync_denied",
		    ioctl(fd, FIOASYNC, &n), EPERM);
		close(fd);
	}
	report_denied(out, "socket_netlink_denied",
	    socket(AF_NETLINK, SOCK_RAW, 0), EPERM);
	report_denied(
	    out, "socket_packet_denied", socket(AF_PACKET, SOCK_RAW, 0), EPERM);
	report_allowed(
	    out, "socketpair_unix", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	probe_bind(out);
}

static void __attribute__((noreturn))
engine_child(int out, const struct sockaddr_in *lsin, uid_t nobody)
{
	char err[256] = "";
	int statusfd, rc;

	statusfd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	rc = sandbox_engine("nobody", 0, err, sizeof(err));
	report(out, "sandbox_engine", rc == 0, "rc=%d err=%s", rc, err);
	if (rc == -1)
		_exit(3);
	probe_status(out, statusfd, nobody);
	probe_files(out);
	probe_process(out);
	probe_memory(out);
	probe_sockets(out, lsin);
	_exit(0);
}

/* ---- parent side ---- */

static int
listener(struct sockaddr_in *sin)
{
	socklen_t len = sizeof(*sin);
	int fd;

	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (bind(fd, (struct sockaddr *)sin, sizeof(*sin)) == -1 ||
	    listen(fd, 8) == -1 ||
	    getsockname(fd, (struct sockaddr *)sin, &len) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static long
ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 +
	       (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Read the child's lines until EOF or the deadline. */
static size_t
read_all(int fd, char *buf, size_t sz)
{
	struct timespec t0;
	struct pollfd pfd;
	size_t len = 0;
	ssize_t n;
	long left;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (len + 1 < sz && (left = CHILD_WAIT_MS - ms_since(&t0)) > 0) {
		if (poll(&pfd, 1, (int)left) <= 0)
			break;
		if ((n = read(fd, buf + len, sz - 1 - len)) <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return len;
}

/* Wait for pid, killing it when it overstays; returns the wait status. */
static int
reap(pid_t pid)
{
	struct timespec t0, d = {0, 10 * 1000 * 1000};
	int status = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (ms_since(&t0) > CHILD_WAIT_MS) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
		nanosleep(&d, NULL);
	}
	return status;
}

static void
parse_checks(char *buf)
{
	char *line, *save = NULL, *sp;
	struct check *c;

	for (line = strtok_r(buf, "\n", &save);
	     line != NULL && nchecks < MAX_CHECKS;
	     line = strtok_r(NULL, "\n", &save)) {
		c = &checks[nchecks++];
		if ((sp = strchr(line, ' ')) != NULL)
			*sp++ = '\0';
		snprintf(c->name, sizeof(c->name), "%s", line);
		c->ok = sp != NULL && sp[0] == '1';
		snprintf(c->detail, sizeof(c->detail), "%s",
		    sp != NULL && sp[0] != '\0' && sp[1] == ' ' ? sp + 2 : "");
	}
}

/* Landlock as the kernel reports it; recorded for the failure message. */
static void
probe_landlock(void)
{
	char lsm[160] = "securityfs not mounted";
	int fd;
	ssize_t n;

	landlock_abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	if ((fd = open("/sys/kernel/security/lsm", O_RDONLY)) != -1) {
		n = read(fd, lsm, sizeof(lsm) - 1);
		lsm[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	snprintf(landlock_note, sizeof(landlock_note),
	    "landlock ABI %d (%s); lsm: %s", landlock_abi,
	    landlock_abi < 0 ? strerror(errno) : "available", lsm);
	fprintf(stderr, "test_sandbox: %s\n", landlock_note);
}

static int
engine_init(void)
{
	struct sockaddr_in sin;
	struct passwd *pw;
	char buf[8192];
	int lfd, p[2], status;
	pid_t pid;

	probe_landlock();
	if (geteuid() != 0 || (pw = getpwnam("nobody")) == NULL) {
		fprintf(stderr, "test_sandbox: needs root and user nobody\n");
		return 1;
	}
	if ((lfd = listener(&sin)) == -1 || pipe2(p, O_CLOEXEC) == -1)
		return 1;
	fflush(NULL);
	if ((pid = fork()) == -1)
		return 1;
	if (pid == 0) {
		close(p[0]);
		engine_child(p[1], &sin, pw->pw_uid);
	}
	close(p[1]);
	read_all(p[0], buf, sizeof(buf));
	close(p[0]);
	status = reap(pid);
	close(lfd);
	snprintf(engine_note, sizeof(engine_note), "child status %#x", status);
	parse_checks(buf);
	return 0;
}

static void
expect(const char *name, unsigned line)
{
	char msg[300];
	int i;

	for (i = 0; i < nchecks; i++)
		if (strcmp(checks[i].name, name) == 0)
			break;
	if (i == nchecks) {
		snprintf(msg, sizeof(msg), "%s: not reported (%s)", name,
		    engine_note);
		CU_assertImplementation(
		    CU_FALSE, line, msg, __FILE__, "", CU_FALSE);
		return;
	}
	snprintf(msg, sizeof(msg), "%s: %s", name, checks[i].detail);
	if (!checks[i].ok)
		fprintf(stderr, "test_sandbox: FAILED %s\n", msg);
	CU_assertImplementation(checks[i].ok ? CU_TRUE : CU_FALSE, line, msg,
	    __FILE__, "", CU_FALSE);
}

#define EXPECT(n) expect(n, __LINE__)

static void
t_landlock_available(void)
{
	if (landlock_abi < 1)
		fprintf(stderr, "test_sandbox: Landlock MISSING: %s\n",
		    landlock_note);
	CU_ASSERT_TRUE(landlock_abi >= 1);
	EXPECT("sandbox_engine");
}

static void
t_identity(void)
{
	EXPECT("seccomp_mode");
	EXPECT("no_new_privs");
	EXPECT("uid_nobody");
	EXPECT("setuid0_denied");
}

static void
t_files(void)
{
	EXPECT("passwd_denied");
	EXPECT("hosts_allowed");
	EXPECT("hosts_read");
	EXPECT("hosts_write_denied");
	EXPECT("tmp_create_denied");
}

static void
t_process(void)
{
	EXPECT("execve_denied");
	EXPECT("fork_denied");
	EXPECT("kill_denied");
	EXPECT("ptrace_denied");
	EXPECT("prlimit_get");
	EXPECT("prlimit_set_denied");
}

static void
t_memory(void)
{
	EXPECT("mmap_exec_denied");
	EXPECT("mmap_rw_allowed");
	EXPECT("mprotect_exec_denied");
}

static void
t_sockets(void)
{
	EXPECT("socket_inet");
	EXPECT("connect_loopback");
	EXPECT("ioctl_fionread");
	EXPECT("ioctl_fioasync_denied");
	EXPECT("socket_netlink_denied");
	EXPECT("socket_packet_denied");
	EXPECT("socketpair_unix");
	EXPECT("udp_bind_allowed");
	EXPECT("listen_denied");
}

static void
t_tcp_bind(void)
{
	/* Landlock ABI 4 (Linux 6.7) is what refuses the bind. */
	CU_ASSERT_TRUE(landlock_abi >= 4);
	EXPECT("tcp_bind_denied");
}

/* With kill_on_violation the first forbidden call ends the process. */
static void
t_kill_on_violation(void)
{
	char *const argv[] = {"true", NULL};
	char *const envp[] = {NULL};
	char err[256] = "", buf[64];
	int p[2], status;
	pid_t pid;

	CU_ASSERT_FATAL(pipe2(p, O_CLOEXEC) == 0);
	fflush(NULL);
	CU_ASSERT_FATAL((pid = fork()) != -1);
	if (pid == 0) {
		close(p[0]);
		if (sandbox_engine("nobody", 1, err, sizeof(err)) != 0)
			_exit(3);
		if (write(p[1], "ready\n", 6) != 6)
			_exit(4);
		execve("/bin/true", argv, envp);
		_exit(5);
	}
	close(p[1]);
	read_all(p[0], buf, sizeof(buf));
	close(p[0]);
	status = reap(pid);
	CU_ASSERT_STRING_EQUAL(buf, "ready\n");
	CU_ASSERT_TRUE(WIFSIGNALED(status));
	CU_ASSERT_EQUAL(WIFSIGNALED(status) ? WTERMSIG(status) : -1, SIGSYS);
}

static void
t_drop_user_refusals(void)
{
	char err[256] = "";

	CU_ASSERT_EQUAL(
	    sandbox_drop_user("no-such-user-cpconnect", err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "no-such-user-cpconnect"));
	err[0] = '\0';
	CU_ASSERT_EQUAL(sandbox_drop_user("root", err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "uid or gid 0"));
	/* Nothing changed by the refusals. */
	CU_ASSERT_EQUAL(geteuid(), 0);
}

/* ---- notify ---- */

static int nfd = -1;
static char npath[108];

static int
notify_init(void)
{
	struct sockaddr_un sun;

	snprintf(npath, sizeof(npath), "%s/notify.sock", cu_tmpdir());
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", npath);
	unlink(npath);
	nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (nfd == -1 || bind(nfd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		return 1;
	return setenv("NOTIFY_SOCKET", npath, 1);
}

static int
notify_cleanup(void)
{
	if (nfd != -1)
		close(nfd);
	unlink(npath);
	unsetenv("NOTIFY_SOCKET");
	return 0;
}

/* The next datagram, or "" when none arrives in time. */
static const char *
next_msg(int wait_ms)
{
	static char buf[1024];
	struct pollfd pfd = {nfd, POLLIN, 0};
	ssize_t n = -1;

	if (poll(&pfd, 1, wait_ms) == 1)
		n = recv(nfd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static uint64_t
mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void
t_notify_messages(void)
{
	CU_ASSERT_TRUE(notify_ready() > 0);
	CU_ASSERT_STRING_EQUAL(next_msg(2000), "READY=1");
	CU_ASSERT_TRUE(notify_status("%d engines, %s", 2, "serving") > 0);
	CU_ASSERT_STRING_EQUAL(next_msg(2000), "STATUS=2 engines, serving");
	CU_ASSERT_TRUE(notify_stopping() > 0);
	CU_ASSERT_STRING_EQUAL(next_msg(2000), "STOPPING=1");
	CU_ASSERT_TRUE(notify_watchdog() > 0);
	CU_ASSERT_STRING_EQUAL(next_msg(2000), "WATCHDOG=1");
}

static void
t_notify_status_one_line(void)
{
	CU_ASSERT_TRUE(notify_status("evil\nREADY=1") > 0);
	CU_ASSERT_STRING_EQUAL(next_msg(2000), "STATUS=evil READY=1");
}

static void
t_notify_reloading(void)
{
	unsigned long long at = 0;
	uint64_t before, after;
	const char *m;

	before = mono_usec();
	CU_ASSERT_TRUE(notify_reloading() > 0);
	after = mono_usec();
	m = next_msg(2000);
	CU_ASSERT_EQUAL(sscanf(m, "RELOADING=1\nMONOTONIC_USEC=%llu", &at), 1);
	CU_ASSERT_TRUE(strncmp(m, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0);
	CU_ASSERT_TRUE(at >= before && at <= after);
}

static void
t_notify_unset(void)
{
	unsetenv("NOTIFY_SOCKET");
	CU_ASSERT_EQUAL(notify_ready(), 0);
	CU_ASSERT_EQUAL(notify_status("x"), 0);
	CU_ASSERT_EQUAL(notify_reloading(), 0);
	CU_ASSERT_STRING_EQUAL(next_msg(100), "");
	CU_ASSERT_EQUAL(setenv("NOTIFY_SOCKET", npath, 1), 0);
}

static void
t_notify_watchdog_usec(void)
{
	char pid[32];
	uint64_t u = 1;

	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	CU_ASSERT_EQUAL(notify_watchdog_usec(&u), 0);
	CU_ASSERT_EQUAL(u, 0);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("WATCHDOG_USEC", "30000000", 1);
	setenv("WATCHDOG_PID", pid, 1);
	CU_ASSERT_EQUAL(notify_watchdog_usec(&u), 1);
	CU_ASSERT_EQUAL(u, 30000000);
	/* Meant for another process (an engine inherited it): not ours. */
	snprintf(pid, sizeof(pid), "%d", (int)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1);
	CU_ASSERT_EQUAL(notify_watchdog_usec(&u), 0);
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

int
main(void)
{
	CU_pSuite s;

	s = cu_suite("sandbox_engine", engine_init, NULL);
	cu_test(s, "landlock available, sandbox applied", t_landlock_available);
	cu_test(s, "identity: seccomp, no_new_privs, uid", t_identity);
	cu_test(s, "files: landlock read-only list", t_files);
	cu_test(s, "process: exec, fork, kill, ptrace", t_process);
	cu_test(s, "memory: no executable pages", t_memory);
	cu_test(s, "sockets: inet/unix only, connect", t_sockets);
	cu_test(s, "landlock: no tcp bind", t_tcp_bind);
	s = cu_suite("sandbox_misc", NULL, NULL);
	cu_test(s, "kill on violation: SIGSYS", t_kill_on_violation);
	cu_test(s, "drop_user refusals", t_drop_user_refusals);
	s = cu_suite("notify", notify_init, notify_cleanup);
	cu_test(s, "ready/status/stopping/watchdog", t_notify_messages);
	cu_test(s, "status stays one line", t_notify_status_one_line);
	cu_test(s, "reloading with MONOTONIC_USEC", t_notify_reloading);
	cu_test(s, "nothing without NOTIFY_SOCKET", t_notify_unset);
	cu_test(s, "watchdog interval", t_notify_watchdog_usec);
	return cu_finish();
}
