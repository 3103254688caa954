/* SPDX-License-Identifier: ISC */
/*
 * The engines' sandbox: an engine parses hostile bytes from clients, DNS
 * servers and TLS peers, so before it serves anything it gives up what it
 * does not need, for good and in this order:
 *
 *   1. the unprivileged user (only when started as root),
 *   2. no_new_privs and non-dumpable,
 *   3. Landlock: read-only access to the few files name resolution needs,
 *      no other file, no TCP bind,
 *   4. a seccomp allow-list of the system calls the event loop, c-ares and
 *      OpenSSL use once initialised.
 *
 * Everything that needs a file or a library load (OpenSSL providers and
 * configuration, the trust store, c-ares channel set-up, openlog()) must be
 * done before: afterwards no file opens outside the list and no page can be
 * made executable, so dlopen() fails.
 *
 * Every function returns 0 on success and -1 on failure with a message in
 * err; sandbox_landlock() and sandbox_engine() return 1 when the kernel has
 * no Landlock, and the caller logs it and goes on (the other layers stand).
 */
#ifndef CP_SANDBOX_H
#define CP_SANDBOX_H

#include <stddef.h>

/*
 * Switch to user (its uid, primary gid, no supplementary groups) when the
 * effective uid is 0; do nothing otherwise.  Verifies afterwards that real,
 * effective and saved ids all match, that no capability is left and that
 * setuid(0) fails.  Refuses a user whose uid or gid is 0.
 */
int sandbox_drop_user(const char *user, char *err, size_t errsz);

/*
 * Landlock: read-only access to exactly the files in ro_files (a NULL
 * terminated list; missing ones are skipped), nothing else on the file
 * system, and on ABI 4 and later no TCP bind (connect stays free: the engine
 * dials anywhere policy allows).  Sets no_new_privs, which Landlock needs.
 * Rules are bound to inodes: a file replaced by rename (resolv.conf rewritten
 * by a network manager) is not readable until the engine is restarted, which
 * a reload does.  Returns 1 when Landlock is not available.
 */
int sandbox_landlock(const char *const *ro_files, char *err, size_t errsz);

/*
 * Load the seccomp allow-list.  A call outside it fails with EPERM by
 * default rather than killing the process: an engine serves many requests at
 * once, and a system call missed in the list (a library update, a rare error
 * path) then shows as one cleanly logged failed request instead of a crash of
 * every request in flight.  kill_on_violation (SCMP_ACT_KILL_PROCESS,
 * SIGSYS) is for tests and for administrators who prefer a hard stop.
 */
int sandbox_seccomp(int kill_on_violation, char *err, size_t errsz);

/*
 * The whole sequence for an engine: drop to user (if root and user is not
 * NULL), no_new_privs, non-dumpable, Landlock over the name-resolution
 * files, seccomp.  Returns 1 when everything but Landlock is in place.
 */
int sandbox_engine(
    const char *user, int kill_on_violation, char *err, size_t errsz);

#endif
