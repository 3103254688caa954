/* SPDX-License-Identifier: ISC */
/*
 * The error state a record layer's reader and writer share (record.c in
 * user space, ktls.c over the kernel's): the first fatal error sticks for
 * both directions and is what every later call reports; a failed send
 * ends the sending side only, so what the peer sent before it went away
 * can still be read.
 */
#ifndef CP_RECERR_H
#define CP_RECERR_H

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>

struct rec_err {
	pthread_mutex_t lock;
	int fatal; /* atomic; msg and fatal_errno are set before it */
	int fatal_errno;
	int wdead;  /* atomic: sending failed, reading goes on */
	int msgset; /* atomic: msg is final */
	char msg[256];
};

void recerr_init(struct rec_err *);
void recerr_destroy(struct rec_err *);
/* A fatal error, unless one came first: the errno to report, the first
 * error's. */
int recerr_fatal(struct rec_err *, int eno, const char *fmt, va_list ap);
/* A failed send, which ends the sending side only: -1 with errno eno. */
int recerr_write(struct rec_err *, int eno);
/* The message, or "" while there is none. */
const char *recerr_str(const struct rec_err *);

static inline int
recerr_is_fatal(const struct rec_err *e)
{
	return __atomic_load_n(&e->fatal, __ATOMIC_ACQUIRE);
}

/* Nothing may be sent: a fatal error, or a failed send. */
static inline int
recerr_no_send(const struct rec_err *e)
{
	return recerr_is_fatal(e) || __atomic_load_n(&e->wdead, __ATOMIC_ACQUIRE);
}

/* -1 with EPIPE: this side sends no more. */
static inline int
recerr_closed(void)
{
	errno = EPIPE;
	return -1;
}

/* -1 with the fatal error's errno. */
static inline int
recerr_fail(const struct rec_err *e)
{
	errno = e->fatal_errno;
	return -1;
}

#endif
