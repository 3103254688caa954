/*
 * cp_client_stop_all: a flag a signal handler may set.  Every place that
 * waits checks it when the wait is interrupted (EINTR), and every call
 * checks it on entry, so that the program's clients all stop.
 */
#ifndef CP_STOP_H
#define CP_STOP_H

int cp_stopped(void);

#define CP_STOPPED_MSG "stopped by cp_client_stop_all"

#endif
