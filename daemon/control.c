/* SPDX-License-Identifier: ISC */
/*
 * The control socket (control.h): bind, accept, the peer's uid, one
 * request line, the answer.  Every failure ends that connection only.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "ev.h"
#include "log.h"

void
obuf_printf(struct obuf *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, sizeof(o->buf) - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(o->buf) - o->len) {
		o->full = 1;
		o->buf[o->len] = '\0';
		return;
	}
	o->len += (size_t)n;
}

int
control_listen(const char *path, char *err, size_t errsz)
{
	struct sockaddr_un sun;
	mode_t old;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errsz, "control socket path too long: %s", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	         0)) == -1) {
		snprintf(err, errsz, "socket: %s", strerror(errno));
		return -1;
	}
	/* A stale socket: ours from a previous run, or nobody's.  A live
	 * daemon holds the client socket already, checked first. */
	unlink(path);
	/* Never a moment when it is open to all. */
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    chmod(path, 0600) == -1 || listen(fd, 16) == -1) {
		snprintf(
		    err, errsz, "control socket %s: %s", path, strerror(errno));
		umask(old);
		close(fd);
		return -1;
	}
	umask(old);
	return fd;
}

/* root, or the daemon's own user when it runs unprivileged. */
static int
peer_allowed(int fd, uid_t *uid)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1)
		return 0;
	*uid = uc.uid;
	return uc.uid == 0 || uc.uid == geteuid();
}

/* One line, bounded in size and time; 0 or -1 with err. */
static int
read_line(int fd, char *line, size_t max, char *err, size_t errsz)
{
	uint64_t deadline = ev_clock_ms() + CONTROL_TIMEOUT_MS;
	size_t got = 0;
	char *nl;

	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		uint64_t now = ev_clock_ms();
		ssize_t n;

		if (now >= deadline ||
		    poll(&pfd, 1, (int)(deadline - now)) <= 0) {
			snprintf(err, errsz, "no request line within %d ms",
			    CONTROL_TIMEOUT_MS);
			return -1;
		}
		n = recv(fd, line + got, max - 1 - got, MSG_DONTWAIT);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			snprintf(err, errsz, "no request line");
			return -1;
		}
		got += (size_t)n;
		line[got] = '\0';
		if ((nl = memchr(line, '\n', got)) != NULL) {
			if (nl != line + got - 1) {
				snprintf(err, errsz, "one request line only");
				return -1;
			}
			*nl = '\0';
			return 0;
		}
		if (got == max - 1) {
			snprintf(err, errsz, "request line too long");
			return -1;
		}
	}
}

static int
parse_cmd(const char *line, enum control_cmd *cmd)
{
	static const struct {
		const char *s;
		enum control_cmd c;
	} t[] = {
	    {"status", CONTROL_STATUS},
	    {"stats", CONTROL_STATS},
	    {"reload", CONTROL_RELOAD},
	    {"log verbose", CONTROL_VERBOSE},
	    {"log brief", CONTROL_BRIEF},
	    {"cache list", CONTROL_CACHE_LIST},
	    {"cache flush", CONTROL_CACHE_FLUSH},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(line, t[i].s) == 0) {
			*cmd = t[i].c;
			return 0;
		}
	return -1;
}

/* The whole answer, blocking but bounded: an administrator's tool that
 * does not read cannot hold the parent. */
static void
send_all(int fd, const char *p, size_t len)
{
	const struct timeval tv = {.tv_sec = 1};
	int fl = fcntl(fd, F_GETFL);

	if (fl != -1)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

static void
serve_one(int fd, control_fn *fn, void *arg)
{
	static struct obuf o;
	char line[CONTROL_MAX_LINE], err[512];
	enum control_cmd cmd;
	uid_t uid = (uid_t)-1;

	o.len = 0;
	o.full = 0;
	o.buf[0] = '\0';
	if (!peer_allowed(fd, &uid)) {
		log_warnx("control: uid %d refused", (int)uid);
		obuf_printf(&o, "error: permission denied\n");
	} else if (read_line(fd, line, sizeof(line), err, sizeof(err)) == -1) {
		log_warnx("control: uid %d: %s", (int)uid, err);
		obuf_printf(&o, "error: %s\n", err);
	} else if (parse_cmd(line, &cmd) == -1) {
		log_warnx("control: uid %d: unknown command", (int)uid);
		obuf_printf(&o, "error: unknown command (status, stats, "
		                "reload, log verbose, log brief, cache list, "
		                "cache flush)\n");
	} else if (fn(cmd, &o, err, sizeof(err), arg) == -1) {
		o.full = 0;
		obuf_printf(&o, "error: %s\n", err);
	} else {
		o.full = 0;
		obuf_printf(&o, "ok\n");
	}
	send_all(fd, o.buf, o.len);
}

void
control_accept(int lfd, control_fn *fn, void *arg)
{
	/* One per turn of the parent's loop: the engines' signing requests
	 * (answered between two turns) wait at most one request line. */
	int fd, budget = 1;

	while (budget-- > 0) {
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("control: accept");
			return;
		}
		serve_one(fd, fn, arg);
		close(fd);
	}
}
