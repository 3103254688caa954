/* SPDX-License-Identifier: ISC */
/*
 * Logging in the OpenBSD daemon habit: to stderr in the foreground (-d),
 * to syslog otherwise.  fatal() logs and exits.
 */
#ifndef CP_LOG_H
#define CP_LOG_H

#include <stdarg.h>

void log_init(int foreground, int verbose, const char *procname);
void log_procname(const char *procname);
/* At run time (cpconnectctl log): 0 brief, 1 or more verbose. */
void log_set_verbose(int);

void log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
/*
 * Lines a local user can cause at will, limited per (uid, kind): a burst
 * of LOG_RL_BURST lines, then LOG_RL_RATE a second.  What is held back is
 * counted and reported by log_rl_flush() (once a second from the engine
 * loop) as "uid U: N similar lines suppressed".  Bounded memory: a fixed
 * table; the least recently used entry is reported and reused.
 */
#define LOG_RL_BURST 200
#define LOG_RL_RATE 50
void log_info_rl(unsigned uid, int kind, const char *, ...)
    __attribute__((format(printf, 3, 4)));
void log_rl_flush(void);

void fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
