/* SPDX-License-Identifier: ISC */
/*
 * epoll loop and a binary heap of timers.
 *
 * Builds with CP_DEBUG check the heap's invariants (order, and every
 * slot pointing back at its timer) after each change.
 */
#include <sys/epoll.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ev.h"

#define EV_BATCH 64

struct ev {
	int epfd;
	uint64_t now;
	struct ev_timer **heap;
	size_t nheap, heapcap;
	struct epoll_event batch[EV_BATCH];
	int nbatch, ibatch; /* the batch being dispatched */
};

uint64_t
ev_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct ev *
ev_new(void)
{
	struct ev *ev;

	if ((ev = calloc(1, sizeof(*ev))) == NULL)
		return NULL;
	if ((ev->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		free(ev);
		return NULL;
	}
	ev->now = ev_clock_ms();
	return ev;
}

void
ev_free(struct ev *ev)
{
	size_t i;

	if (ev == NULL)
		return;
	/* Timers still armed outlive the loop: leave them unarmed. */
	for (i = 0; i < ev->nheap; i++) {
		ev->heap[i]->slot = 0;
		ev->heap[i]->ev = NULL;
	}
	close(ev->epfd);
	free(ev->heap);
	free(ev);
}

int
ev_io_start(struct ev *ev, struct ev_io *io, int fd, uint32_t events,
    ev_io_cb *cb, void *arg)
{
	struct epoll_event e = {.events = events, .data.ptr = io};

	io->fd = fd;
	io->events = events;
	io->cb = cb;
	io->arg = arg;
	if (epoll_ctl(ev->epfd, EPOLL_CTL_ADD, fd, &e) == -1)
		return -1;
	io->active = 1;
	return 0;
}

int
ev_io_set(struct ev *ev, struct ev_io *io, uint32_t events)
{
	struct epoll_event e = {.events = events, .data.ptr = io};

	if (!io->active)
		return -1;
	if (io->events == events)
		return 0;
	if (epoll_ctl(ev->epfd, EPOLL_CTL_MOD, io->fd, &e) == -1)
		return -1;
	io->events = events;
	return 0;
}

void
ev_io_stop(struct ev *ev, struct ev_io *io)
{
	int i;

	if (!io->active)
		return;
	epoll_ctl(ev->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->active = 0;
	/* The io may be freed after this: forget its pending event. */
	for (i = ev->ibatch; i < ev->nbatch; i++)
		if (ev->batch[i].data.ptr == io)
			ev->batch[i].data.ptr = NULL;
}

/* Timer heap, ordered by 'when'. slot is index + 1. */

static void
heap_place(struct ev *ev, size_t i, struct ev_timer *t)
{
	ev->heap[i] = t;
	t->slot = i + 1;
}

static void
heap_up(struct ev *ev, size_t i)
{
	struct ev_timer *t = ev->heap[i];

	while (i > 0 && ev->heap[(i - 1) / 2]->when > t->when) {
		heap_place(ev, i, ev->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_place(ev, i, t);
}

static void
heap_down(struct ev *ev, size_t i)
{
	struct ev_timer *t = ev->heap[i];
	size_t c;

	while ((c = 2 * i + 1) < ev->nheap) {
		if (c + 1 < ev->nheap &&
		    ev->heap[c + 1]->when < ev->heap[c]->when)
			c++;
		if (ev->heap[c]->when >= t->when)
			break;
		heap_place(ev, i, ev->heap[c]);
		i = c;
	}
	heap_place(ev, i, t);
}

static void __attribute__((noreturn)) heap_corrupt(const char *what)
{
	/* Going on would call a callback through freed or foreign memory. */
	fprintf(stderr, "ev: timer heap corrupt: %s\n", what);
	abort();
}

static void
heap_check(const struct ev *ev)
{
#ifdef CP_DEBUG
	size_t i;

	for (i = 0; i < ev->nheap; i++) {
		if (ev->heap[i]->slot != i + 1 || ev->heap[i]->ev != ev)
			heap_corrupt("slot does not match");
		if (i > 0 && ev->heap[(i - 1) / 2]->when > ev->heap[i]->when)
			heap_corrupt("order");
	}
#else
	(void)ev;
#endif
}

static void
heap_remove(struct ev *ev, struct ev_timer *t)
{
	struct ev_timer *moved;
	size_t i = t->slot - 1;

	if (i >= ev->nheap || ev->heap[i] != t)
		heap_corrupt("stopping a timer that is not in this heap");
	t->slot = 0;
	t->ev = NULL;
	if (--ev->nheap != i) {
		moved = ev->heap[ev->nheap];
		heap_place(ev, i, moved);
		heap_up(ev, i);
		heap_down(ev, moved->slot - 1);
	}
	heap_check(ev);
}

void
ev_timer_init(struct ev_timer *t, ev_timer_cb *cb, void *arg)
{
	if (t->slot != 0) {
		if (t->ev == NULL)
			heap_corrupt("armed timer without a loop");
		heap_remove(t->ev, t);
	}
	memset(t, 0, sizeof(*t));
	t->cb = cb;
	t->arg = arg;
}

void
ev_timer_stop(struct ev *ev, struct ev_timer *t)
{
	if (t->slot == 0)
		return;
	if (t->ev != ev)
		heap_corrupt("timer armed on another loop");
	heap_remove(ev, t);
}

int
ev_timer_start(struct ev *ev, struct ev_timer *t, uint64_t ms)
{
	ev_timer_stop(ev, t);
	if (ev->nheap == ev->heapcap) {
		size_t cap = ev->heapcap ? ev->heapcap * 2 : 64;
		struct ev_timer **h;

		if ((h = reallocarray(ev->heap, cap, sizeof(*h))) == NULL)
			return -1;
		ev->heap = h;
		ev->heapcap = cap;
	}
	t->when = ev_clock_ms() + ms;
	t->ev = ev;
	heap_place(ev, ev->nheap++, t);
	heap_up(ev, ev->nheap - 1);
	heap_check(ev);
	return 0;
}

#ifdef CP_TEST_HOOKS
size_t
ev_timer_count(const struct ev *ev)
{
	return ev->nheap;
}
#endif

static int
next_timeout(struct ev *ev, int max_ms)
{
	uint64_t d;

	if (ev->nheap == 0)
		return max_ms;
	d = ev->heap[0]->when > ev->now ? ev->heap[0]->when - ev->now : 0;
	if (max_ms >= 0 && d > (uint64_t)max_ms)
		return max_ms;
	return d > 1000000 ? 1000000 : (int)d;
}

static void
run_timers(struct ev *ev)
{
	struct ev_timer *t;

	ev->now = ev_clock_ms();
	/* A callback may re-arm its timer: re-arming puts it in the future,
	 * so the loop ends. */
	while (ev->nheap > 0 && (t = ev->heap[0])->when <= ev->now) {
		ev_timer_stop(ev, t);
		t->cb(t);
	}
}

int
ev_run_once(struct ev *ev, int max_ms)
{
	int n, i;

	ev->now = ev_clock_ms();
	n = epoll_wait(ev->epfd, ev->batch, EV_BATCH, next_timeout(ev, max_ms));
	if (n == -1) {
		if (errno != EINTR)
			return -1;
		n = 0;
	}
	ev->now = ev_clock_ms();
	ev->nbatch = n;
	for (i = 0; i < n; i++) {
		struct ev_io *io = ev->batch[i].data.ptr;

		ev->ibatch = i + 1;
		if (io != NULL)
			io->cb(io, ev->batch[i].events);
	}
	ev->nbatch = ev->ibatch = 0;
	run_timers(ev);
	return n;
}
