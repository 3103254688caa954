/* SPDX-License-Identifier: ISC */
/*
 * Integration test support: a cpconnectd of our own on a socket in a
 * temporary directory, loopback servers, descriptor counts.
 */
#ifndef ITEST_H
#define ITEST_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

struct tdaemon {
	pid_t pid;
	char dir[32];
	char sock[64];
	char conf[64];
	char log[64];
	/* Signals the test itself sends to engines (bit 1 << signo): an
	 * engine "killed by" one of them is not the daemon's fault. */
	unsigned long sigs_sent;
};

/*
 * Start build/cpconnectd -d -f <conf> -s <sock> [extra args] with conf_text
 * written to a file; netns_cmd, if not NULL, is a shell snippet run first
 * in a new network namespace (the daemon then lives in it).  Waits until
 * the socket answers.  0 or -1.
 */
int tdaemon_start(struct tdaemon *, const char *conf_text, const char *extra,
    const char *netns_cmd);
/* The daemon tdaemon_start() runs, relative to the build directory:
 * "cpconnectd", or "tests/cpconnectd-hooks" for the test hooks. */
extern const char *tdaemon_bin;
/*
 * Stop the daemon (SIGTERM, bounded wait), then read its whole log: a
 * sanitizer report or an engine killed by a signal the test did not send
 * (SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE, SIGSYS) counts as a failure of
 * the running test, or of the program when no test runs, whatever the
 * test asserted.  Such a log is kept in $TESTLOG (default $B/tests/log) as
 * <program>.daemon<N>.log.  Daemons a test left running (a fatal
 * assertion) are stopped and checked so from cu_finish().
 */
void tdaemon_stop(struct tdaemon *);
/* The daemon's parent process (the one that listens), or 0. */
pid_t tdaemon_parent(const struct tdaemon *);
/* VmRSS in KiB of the parent and every engine together, or -1. */
long tdaemon_rss_kb(const struct tdaemon *);
/* VmRSS of one process in KiB, or -1. */
long tproc_rss_kb(pid_t);
/* Engine pids (children of the parent), at most max; count returned. */
int tdaemon_engines(const struct tdaemon *, pid_t *pids, int max);
/* Open descriptors of all engines together. */
int tdaemon_fds(const struct tdaemon *);
/* The daemon's log so far contains s. */
int tdaemon_log_has(const struct tdaemon *, const char *s);
/* ... or will within ms: the audit line of a request is written after its
 * reply, so a client may look before it is there. */
int tdaemon_log_wait(const struct tdaemon *, const char *s, int ms);
/* A line of the log has a, and b after it, within ms. */
int tdaemon_log_line_wait(
    const struct tdaemon *, const char *a, const char *b, int ms);

/* GET / over a connected client; 1 when an HTTP status line comes back
 * (openssl s_server -www answers so). */
struct _cp_client;
int thttp_get(struct _cp_client *);

/* A loopback listener (AF_INET 127.0.0.1 or AF_INET6 ::1), port out. */
int tlisten(int family, uint16_t *port);
/* A free loopback port (bound and closed again). */
uint16_t tfree_port(int family);
/* Fork an echo server on lfd serving up to n connections; returns pid. */
pid_t techo_start(int lfd, int n);
void tkill(pid_t);

/* Open descriptors of a process. */
int tfd_count(pid_t pid);

/* A monotonic clock in milliseconds; sleep ms. */
uint64_t tnow_ms(void);
void tmsleep(int ms);
/* Something accepts TCP connections on 127.0.0.1 (or ::1) port. */
int tport_open(uint16_t port, int v6);
/*
 * Start a server program (stdio on /dev/null unless TEST_DEBUG is set) and
 * wait, bounded, until it accepts on the loopback port.  Its pid, or -1.
 * tservers_stop() kills every server started so.
 */
pid_t tserver_start(char *const argv[], uint16_t port, int v6);
void tservers_stop(void);

/* The test PKI (tests/pki/mkpki.sh) generated into dir/pki, whose path
 * goes to out.  0, or -1 with the script's output left on stderr. */
int tpki_make(char *out, size_t outsz, const char *dir);

/* "dir/name" in one of 8 rotating buffers, for argument lists. */
char *tpath(const char *dir, const char *name);
/* The first certificate in the PEM file dir/name, or NULL. */
X509 *tpki_cert(const char *dir, const char *name);
/*
 * openssl s_server -www on 127.0.0.1 (or [::1]) port (0: a free one) with
 * pki/<leaf>.pem and pki/<leaf>.key, pki/int.pem as the chain when
 * with_int, then the extra arguments up to a NULL.  The port, or 0.
 */
uint16_t ts_server(const char *pki, uint16_t port, int v6, const char *leaf,
    int with_int, ...);

#endif
