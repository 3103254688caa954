/*
 * Logging in the OpenBSD daemon habit: to stderr in the foreground (-d),
 * to syslog otherwise.  fatal() logs and exits.
 */
#ifndef CP_LOG_H
#define CP_LOG_H

#include <stdarg.h>

void log_init(int foreground, int verbose, const char *procname);
void log_procname(const char *procname);
int log_verbose(void);

void log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
