/* SPDX-License-Identifier: ISC */
/*
 * libcpconnect-preload: settings, libc's own functions, and the log.
 *
 * The settings are read from the environment when the preload is loaded,
 * before the program's main() can change it, so a program that edits its
 * environment does not change where its connections go.
 */
#include <sys/socket.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpproto.h"
#include "pl.h"

static pthread_once_t conf_once = PTHREAD_ONCE_INIT;
static struct pl_conf conf;
static pthread_once_t real_once = PTHREAD_ONCE_INIT;
static struct pl_real real;

static void
conf_init(void)
{
	const char *s = getenv("CPCONNECT_SOCKET");
	const char *v = getenv(PL_ENV_VERBOSE);
	const char *t = getenv(PL_ENV_TIMEOUT);
	char *end;
	unsigned long ms;

	if (s == NULL || *s == '\0' || strlen(s) >= sizeof(conf.sock))
		s = CP_DEFAULT_SOCKET;
	snprintf(conf.sock, sizeof(conf.sock), "%s", s);
	conf.verbose = v != NULL && *v != '\0' && strcmp(v, "0") != 0;
	if (t != NULL && *t != '\0') {
		errno = 0;
		ms = strtoul(t, &end, 10);
		/* cpconnect-run writes it; a bad value is ignored, not
		 * guessed at. */
		if (errno == 0 && *end == '\0' && ms <= 3600 * 1000)
			conf.timeout_ms = (uint32_t)ms;
	}
}

const struct pl_conf *
pl_conf(void)
{
	pthread_once(&conf_once, conf_init);
	return &conf;
}

static void *
sym(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (p == NULL) {
		/* Nothing sensible can be done without libc's function:
		 * fail loudly rather than connect some other way. */
		pl_log("libc has no %s: %s", name, dlerror());
		abort();
	}
	return p;
}

static void
real_init(void)
{
	real.connect = sym("connect");
	real.socket = sym("socket");
	real.sendto = sym("sendto");
	real.sendmsg = sym("sendmsg");
	real.sendmmsg = sym("sendmmsg");
	real.getaddrinfo = sym("getaddrinfo");
	real.gethostbyname2 = sym("gethostbyname2");
	real.gethostbyname2_r = sym("gethostbyname2_r");
	real.gethostbyaddr = sym("gethostbyaddr");
	real.gethostbyaddr_r = sym("gethostbyaddr_r");
	real.getnameinfo = sym("getnameinfo");
}

const struct pl_real *
pl_real(void)
{
	pthread_once(&real_once, real_init);
	return &real;
}

/* A program that closed its stderr may have a connection there now: a
 * line written into it would corrupt the program's data, or raise SIGPIPE
 * before it is connected.  (A Unix socket is a log: journald's.) */
static int
stderr_is_ip(void)
{
	int dom;
	socklen_t len = sizeof(dom);

	if (getsockopt(STDERR_FILENO, SOL_SOCKET, SO_DOMAIN, &dom, &len) == -1)
		return 0;
	return dom == AF_INET || dom == AF_INET6;
}

static void
vlog(const char *fmt, va_list ap)
{
	char buf[1024];
	int e = errno, n;
	size_t len;

	if (stderr_is_ip())
		return;
	n = snprintf(buf, sizeof(buf),
	    "cpconnect-run: %s[%d]: ", program_invocation_short_name,
	    (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(buf))
		n = 0;
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	len = strlen(buf);
	if (len >= sizeof(buf) - 1)
		len = sizeof(buf) - 2;
	buf[len++] = '\n';
	/* One write: the line is not interleaved with the program's own
	 * output, and stdio buffers are not touched. */
	if (write(STDERR_FILENO, buf, len) == -1)
		(void)0;
	errno = e;
}

void
pl_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void
pl_vlog(const char *fmt, ...)
{
	va_list ap;

	if (!pl_conf()->verbose)
		return;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

/* Read the settings now, before the program runs. */
static void __attribute__((constructor)) pl_load(void)
{
	pl_conf();
	pl_real();
}
