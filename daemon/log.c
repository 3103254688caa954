/* SPDX-License-Identifier: ISC */
/*
 * Logging.  Messages are one line each; the process name tells parent and
 * engines apart.
 */
#include <errno.h>
#include <stdint.h>
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

void
log_set_verbose(int v)
{
	log_verb = v;
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
		    (int)log_pid, msg, suffix ? ": " : "",
		    suffix ? suffix : "");
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

/* Rate limiting: token buckets in thousandths of a line. */

#define RL_SLOTS 256

struct rl_slot {
	unsigned uid;
	int kind;
	int used;
	uint64_t last; /* ms of the last refill */
	uint64_t tokens;
	uint32_t suppressed;
};

static struct rl_slot rl_tab[RL_SLOTS];

static uint64_t
coarse_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
rl_report(struct rl_slot *r)
{
	if (r->suppressed == 0)
		return;
	log_info("uid %u: %u similar lines suppressed", r->uid, r->suppressed);
	r->suppressed = 0;
}

static struct rl_slot *
rl_find(unsigned uid, int kind, uint64_t now)
{
	struct rl_slot *r, *oldest = &rl_tab[0];
	size_t i;

	for (i = 0; i < RL_SLOTS; i++) {
		r = &rl_tab[i];
		if (r->used && r->uid == uid && r->kind == kind)
			return r;
		if (!r->used || (oldest->used && r->last < oldest->last))
			oldest = r;
	}
	rl_report(oldest);
	oldest->used = 1;
	oldest->uid = uid;
	oldest->kind = kind;
	oldest->last = now;
	oldest->tokens = (uint64_t)LOG_RL_BURST * 1000;
	return oldest;
}

static int
rl_allow(unsigned uid, int kind)
{
	uint64_t now = coarse_ms();
	struct rl_slot *r = rl_find(uid, kind, now);

	r->tokens += (now - r->last) * LOG_RL_RATE;
	if (r->tokens > (uint64_t)LOG_RL_BURST * 1000)
		r->tokens = (uint64_t)LOG_RL_BURST * 1000;
	r->last = now;
	if (r->tokens < 1000) {
		r->suppressed++;
		return 0;
	}
	r->tokens -= 1000;
	return 1;
}

void
log_info_rl(unsigned uid, int kind, const char *fmt, ...)
{
	va_list ap;

	if (!rl_allow(uid, kind))
		return;
	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap, NULL);
	va_end(ap);
}

void
log_rl_flush(void)
{
	size_t i;

	for (i = 0; i < RL_SLOTS; i++)
		if (rl_tab[i].used)
			rl_report(&rl_tab[i]);
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
