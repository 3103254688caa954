/* SPDX-License-Identifier: ISC */
/*
 * Event loop timers: the heap against a model under random arming,
 * re-arming, re-initialising and stopping; timers that fire in order; and
 * the misuse that once let a freed session's timer fire (an armed timer
 * re-initialised in place) now leaves no stale entry behind.
 */
#include <sys/wait.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../cutest.h"
#include "ev.h"

#define NT 200

static int fired[NT];

static void
count_fire(struct ev_timer *t)
{
	(*(int *)t->arg)++;
}

/* Random operations; the number of armed timers must always match. */
static void
test_model(void)
{
	struct ev *ev = ev_new();
	static struct ev_timer t[NT];
	int armed[NT], i, n, step, bad = 0;

	CU_ASSERT_FATAL(ev != NULL);
	memset(t, 0, sizeof(t));
	memset(armed, 0, sizeof(armed));
	srandom(12345);
	for (i = 0; i < NT; i++)
		ev_timer_init(&t[i], count_fire, &fired[i]);
	for (step = 0; step < 200000; step++) {
		i = (int)(random() % NT);
		switch (random() % 4) {
		case 0:
		case 1:
			CU_ASSERT(
			    ev_timer_start(ev, &t[i],
			        (uint64_t)(random() % 100000) + 100000) == 0);
			armed[i] = 1;
			break;
		case 2:
			ev_timer_stop(ev, &t[i]);
			armed[i] = 0;
			break;
		default:
			/* Re-initialising an armed timer disarms it. */
			ev_timer_init(&t[i], count_fire, &fired[i]);
			armed[i] = 0;
		}
		for (n = 0, i = 0; i < NT; i++)
			n += armed[i];
		if ((size_t)n != ev_timer_count(ev) ||
		    ev_timer_armed(&t[i % NT]) != armed[i % NT])
			bad++;
	}
	CU_ASSERT_EQUAL(bad, 0);
	ev_free(ev);
	/* The loop is gone: its timers are no longer armed anywhere. */
	for (i = 0, n = 0; i < NT; i++)
		n += ev_timer_armed(&t[i]);
	CU_ASSERT_EQUAL(n, 0);
}

/* Timers fire once each, in the order of their deadlines. */
static int order[8], norder;

static void
record_fire(struct ev_timer *t)
{
	order[norder++] = (int)(long)t->arg;
}

static void
test_order(void)
{
	struct ev *ev = ev_new();
	struct ev_timer t[4];
	static const int ms[4] = {30, 10, 40, 20};
	int i, spins;

	memset(t, 0, sizeof(t));
	norder = 0;
	for (i = 0; i < 4; i++) {
		ev_timer_init(&t[i], record_fire, (void *)(long)i);
		CU_ASSERT(ev_timer_start(ev, &t[i], (uint64_t)ms[i]) == 0);
	}
	/* Re-arming moves a timer: 2 now fires first. */
	CU_ASSERT(ev_timer_start(ev, &t[2], 0) == 0);
	for (spins = 0; spins < 200 && norder < 4; spins++)
		ev_run_once(ev, 10);
	CU_ASSERT_EQUAL(norder, 4);
	CU_ASSERT_EQUAL(order[0], 2);
	CU_ASSERT_EQUAL(order[1], 1);
	CU_ASSERT_EQUAL(order[2], 3);
	CU_ASSERT_EQUAL(order[3], 0);
	CU_ASSERT_EQUAL(ev_timer_count(ev), 0);
	ev_free(ev);
}

/*
 * The engine bug: a session's armed idle timer was re-initialised with a
 * new callback, the heap kept the old entry, the session was freed, and
 * the loop later called through freed memory.  Now the re-initialised
 * timer is out of the heap, so freeing its memory is safe.
 */
static void
test_reinit_armed(void)
{
	struct ev *ev = ev_new();
	struct ev_timer *victim, others[10];
	int hits = 0, i, spins;

	memset(others, 0, sizeof(others));
	for (i = 0; i < 10; i++) {
		ev_timer_init(&others[i], count_fire, &hits);
		ev_timer_start(ev, &others[i], 5);
	}
	victim = calloc(1, sizeof(*victim));
	ev_timer_init(victim, count_fire, &hits);
	CU_ASSERT(ev_timer_start(ev, victim, 1) == 0);
	ev_timer_init(victim, count_fire, &hits);
	CU_ASSERT(!ev_timer_armed(victim));
	CU_ASSERT_EQUAL(ev_timer_count(ev), 10);
	CU_ASSERT(ev_timer_start(ev, victim, 0) == 0);
	ev_timer_stop(ev, victim);
	free(victim); /* under ASan: any later use is reported */
	for (spins = 0; spins < 100 && hits < 10; spins++)
		ev_run_once(ev, 10);
	CU_ASSERT_EQUAL(hits, 10);
	ev_free(ev);
}

/* A timer stopped on a loop that does not hold it is corruption: abort
 * rather than move another loop's entries. */
static void
test_foreign_stop_aborts(void)
{
	int status;
	pid_t pid = fork();

	CU_ASSERT_FATAL(pid != -1);
	if (pid == 0) {
		struct ev *a = ev_new(), *b = ev_new();
		struct ev_timer t;
		int x = 0;

		memset(&t, 0, sizeof(t));
		ev_timer_init(&t, count_fire, &x);
		ev_timer_start(a, &t, 1000);
		close(STDERR_FILENO);
		signal(SIGABRT, SIG_DFL);
		ev_timer_stop(b, &t);
		_exit(0);
	}
	CU_ASSERT(waitpid(pid, &status, 0) == pid);
	CU_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}

int
main(void)
{
	CU_pSuite s;

	s = cu_suite("ev", NULL, NULL);
	cu_test(s, "heap against a model", test_model);
	cu_test(s, "deadline order, re-arm moves", test_order);
	cu_test(
	    s, "re-initialised armed timer leaves the heap", test_reinit_armed);
	cu_test(s, "stop on the wrong loop aborts", test_foreign_stop_aborts);
	return cu_finish();
}
