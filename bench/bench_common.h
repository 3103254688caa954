/* SPDX-License-Identifier: ISC */
/*
 * Benchmark helpers: timing, order statistics, a daemon of our own.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t
bench_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CPU time of the calling thread, user and system. */
static inline uint64_t
bench_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CPU time of process pid, ns (schedstat: time on a CPU). */
static inline uint64_t
bench_pid_cpu_ns(pid_t pid)
{
	char path[64];
	unsigned long long ns = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	if (fscanf(f, "%llu", &ns) != 1)
		ns = 0;
	fclose(f);
	return ns;
}

/* The children of pid (a daemon's engines): how many, at most max. */
static inline int
bench_children(pid_t pid, pid_t *out, int max)
{
	char path[64];
	FILE *f;
	int n = 0, child;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid,
	    (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	while (n < max && fscanf(f, "%d", &child) == 1)
		out[n++] = (pid_t)child;
	fclose(f);
	return n;
}

/* CPU time of pid's children (a daemon's engines), whose share of a
 * connect the wall clock mixes with everyone else's.  schedstat's first
 * field is the time on a CPU in ns, as CLOCK_THREAD_CPUTIME_ID counts it
 * for bench_cpu_ns(); /proc/PID/stat's utime and stime would be whole
 * clock ticks. */
static inline uint64_t
bench_children_cpu_ns(pid_t pid)
{
	pid_t kids[64];
	uint64_t sum = 0;
	int i, n = bench_children(pid, kids, 64);

	for (i = 0; i < n; i++)
		sum += bench_pid_cpu_ns(kids[i]);
	return sum;
}

/* The machine's idle and total CPU time so far, in clock ticks
 * (/proc/stat: idle and iowait against everything). */
static inline int
bench_idle_ticks(uint64_t *idle, uint64_t *total)
{
	unsigned long long v[8];
	FILE *f = fopen("/proc/stat", "re");
	int i, ok;

	ok = f != NULL &&
	     fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
	         &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8;
	if (f != NULL)
		fclose(f);
	if (!ok)
		return -1;
	*idle = v[3] + v[4];
	for (*total = 0, i = 0; i < 8; i++)
		*total += v[i];
	return 0;
}

static int
bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorts v in place; q in [0,1]. */
static inline uint64_t
bench_quantile(uint64_t *v, size_t n, double q)
{
	size_t i;

	qsort(v, n, sizeof(*v), bench_cmp_u64);
	i = (size_t)(q * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

#endif
