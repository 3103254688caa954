/* SPDX-License-Identifier: ISC */
/*
 * Talking to systemd (sd_notify): readiness, reloads, status, watchdog.
 * Every call does nothing and returns 0 when NOTIFY_SOCKET is unset, so the
 * daemon calls them unconditionally.  Returns > 0 when a message was sent,
 * < 0 (a negative errno) when sending failed.
 *
 * Only the parent should call these: with the unit's NotifyAccess=main,
 * systemd ignores messages from the engines anyway.
 */
#ifndef CP_NOTIFY_H
#define CP_NOTIFY_H

#include <stdint.h>

int notify_ready(void);
/* RELOADING=1 with MONOTONIC_USEC=<now>: systemd 253 and later match the
 * reload to the READY=1 that ends it; earlier versions ignore the field. */
int notify_reloading(void);
int notify_stopping(void);
int notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int notify_watchdog(void);
/*
 * 1 and the watchdog interval in *usec when systemd expects WATCHDOG=1 from
 * this process (ping at half of it), 0 when not, < 0 on a malformed
 * environment.
 */
int notify_watchdog_usec(uint64_t *usec);

#endif
