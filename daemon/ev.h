/* SPDX-License-Identifier: ISC */
/*
 * A small epoll event loop with millisecond timers, one per engine.
 * Callbacks run on the loop's thread; nothing here blocks except
 * ev_run_once() waiting for events.
 */
#ifndef CP_EV_H
#define CP_EV_H

#include <stddef.h>
#include <stdint.h>

struct ev;
struct ev_io;
struct ev_timer;

typedef void ev_io_cb(struct ev_io *, uint32_t revents);
typedef void ev_timer_cb(struct ev_timer *);

struct ev_io {
	int fd;
	uint32_t events; /* EPOLLIN, EPOLLOUT */
	ev_io_cb *cb;
	void *arg;
	int active;
};

struct ev_timer {
	uint64_t when; /* monotonic milliseconds */
	ev_timer_cb *cb;
	void *arg;
	struct ev *ev; /* the loop whose heap holds it, while armed */
	size_t slot;   /* heap index + 1; 0 when not armed */
};

struct ev *ev_new(void);
void ev_free(struct ev *);

/* Watch fd for events; cb(io, revents) runs when ready. */
int ev_io_start(struct ev *, struct ev_io *, int fd, uint32_t events,
    ev_io_cb *cb, void *arg);
int ev_io_set(struct ev *, struct ev_io *, uint32_t events);
/* Stop watching; safe from any callback, also for an io whose event is
 * pending in the current batch. */
void ev_io_stop(struct ev *, struct ev_io *);

/*
 * Timers live in the caller's memory, which must be zeroed (or a stopped
 * timer) before the first ev_timer_init().  A timer knows the heap that
 * holds it, so no call can leave a stale entry behind: init and start
 * take an armed timer out of its heap before changing it, stop is a no-op
 * on an unarmed one.  A slot that does not point back at its timer is
 * memory corruption and aborts.
 */
void ev_timer_init(struct ev_timer *, ev_timer_cb *cb, void *arg);
/* Arm (or re-arm) to fire after ms milliseconds. */
int ev_timer_start(struct ev *, struct ev_timer *, uint64_t ms);
void ev_timer_stop(struct ev *, struct ev_timer *);
static inline int
ev_timer_armed(const struct ev_timer *t)
{
	return t->slot != 0;
}
#ifdef CP_TEST_HOOKS
/* Timers armed on the loop (for tests and the debug checks). */
size_t ev_timer_count(const struct ev *);
#endif

/* Monotonic milliseconds. */
uint64_t ev_clock_ms(void);

/* Wait at most max_ms (-1: until a timer or event), dispatch, return the
 * number of events handled or -1 with errno. */
int ev_run_once(struct ev *, int max_ms);

#endif
