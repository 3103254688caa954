/* SPDX-License-Identifier: ISC */
/*
 * sd_notify wrappers; see notify.h.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "notify.h"

/* Keep the environment: the parent notifies for its whole life. */
static int
send_state(const char *state)
{
	if (getenv("NOTIFY_SOCKET") == NULL)
		return 0;
	return sd_notify(0, state);
}

int
notify_ready(void)
{
	return send_state("READY=1");
}

int
notify_reloading(void)
{
	struct timespec ts;
	char buf[64];

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		return send_state("RELOADING=1");
	snprintf(buf, sizeof(buf), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	        (unsigned long long)ts.tv_nsec / 1000ULL);
	return send_state(buf);
}

int
notify_stopping(void)
{
	return send_state("STOPPING=1");
}

int
notify_status(const char *fmt, ...)
{
	char buf[512], *p;
	va_list ap;
	int n;

	if (getenv("NOTIFY_SOCKET") == NULL)
		return 0;
	n = snprintf(buf, sizeof(buf), "STATUS=");
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	va_end(ap);
	/* One line: a newline would start another assignment (READY=1...). */
	for (p = buf; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return send_state(buf);
}

int
notify_watchdog(void)
{
	return send_state("WATCHDOG=1");
}

int
notify_watchdog_usec(uint64_t *usec)
{
	uint64_t u = 0;
	int rc;

	rc = sd_watchdog_enabled(0, &u);
	if (usec != NULL)
		*usec = rc > 0 ? u : 0;
	return rc;
}
