/* SPDX-License-Identifier: ISC */
/*
 * cp_client_stop_all: a flag a signal handler may set.  Every place that
 * waits checks it when the wait is interrupted (EINTR), and every call
 * checks it on entry, so that the program's clients all stop.  A unit of
 * its own, so the record layer and the sessions need not reach into the
 * client API for it.
 */
#ifndef CP_STOP_H
#define CP_STOP_H

int cp_stopped(void);
/* Async-signal-safe: one lock-free store. */
void cp_stop_set(int on);

#define CP_STOPPED_MSG "stopped by cp_client_stop_all"

#endif
