/* SPDX-License-Identifier: ISC */
/*
 * The administrator's control socket (cpconnectctl), owned by the parent.
 *
 * The parent never parses a client's bytes; this is the one exception,
 * kept tiny and strict: a connection from uid 0 (or from the daemon's own
 * uid, when it runs unprivileged) sends one request line of at most
 * CONTROL_MAX_LINE bytes ending in '\n', within CONTROL_TIMEOUT_MS; the
 * parent answers and closes.  The answer is lines of "name value", then
 * "ok" or "error: <message>" as the last line.
 *
 *	status | stats | reload | log verbose | log brief | cache list |
 *	cache flush
 */
#ifndef CP_CONTROL_H
#define CP_CONTROL_H

#include <stddef.h>

#define CONTROL_MAX_LINE 64
#define CONTROL_TIMEOUT_MS 500
#define CONTROL_MAX_ANSWER (1024 * 1024) /* cache list */

enum control_cmd {
	CONTROL_STATUS = 1,
	CONTROL_STATS,
	CONTROL_RELOAD,
	CONTROL_VERBOSE,
	CONTROL_BRIEF,
	CONTROL_CACHE_LIST,
	CONTROL_CACHE_FLUSH,
};

struct obuf {
	char buf[CONTROL_MAX_ANSWER];
	size_t len;
	int full; /* something did not fit */
};

void obuf_printf(struct obuf *, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * The parent's part: fills the answer's "name value" lines; returns 0, or
 * -1 with the reason in err ("error: " is added).
 */
typedef int control_fn(
    enum control_cmd, struct obuf *, char *err, size_t errsz, void *arg);

/* Bind path, mode 0600.  The listening descriptor (non-blocking), or -1
 * and err. */
int control_listen(const char *path, char *err, size_t errsz);
/* Serve one connection waiting on lfd. */
void control_accept(int lfd, control_fn *, void *arg);

#endif
