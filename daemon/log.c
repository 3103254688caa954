/*
 * Logging.  Messages are one line each; the process name tells parent and
 * engines apart.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int log_fg = 1;
static int log_verb;
static char log_name[32] = "cpconnectd";
static pid_t log_pid; /* getpid() is a system call each time */

void
log_init(int foreground, int verbose, const char *procname)
{
	log_fg = foreground;
	log_verb = verbose;
	log_procname(procname);
	if (!log_fg)
		openlog("cpconnectd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_procname(const char *procname)
{
	if (procname != NULL)
		snprintf(log_name, sizeof(log_name), "%s", procname);
	log_pid = 0;
}

int
log_verbose(void)
{
	return log_verb;
}

static void
vlog(int pri, const char *fmt, va_list ap, const char *suffix)
{
	char msg[1024], line[1200];
	int n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_fg) {
		if (log_pid == 0)
			log_pid = getpid();
		/* One write per line so engines' lines do not interleave. */
		n = snprintf(line, sizeof(line), "%s[%d]: %s%s%s\n", log_name,
		    (int)log_pid, msg, suffix ? ": " : "", suffix ? suffix : "");
		if (n > (int)sizeof(line) - 1) {
			n = (int)sizeof(line) - 1;
			line[n - 1] = '\n';
		}
		if (write(STDERR_FILENO, line, (size_t)n) == -1)
			(void)0; /* nowhere left to report it */
	} else
		syslog(pri, "%s: %s%s%s", log_name, msg, suffix ? ": " : "",
		    suffix ? suffix : "");
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap, strerror(saved));
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap, NULL);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap, NULL);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_verb)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap, NULL);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, strerror(saved));
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
