/* SPDX-License-Identifier: ISC */
/*
 * A record layer's shared error state (recerr.h).
 */
#include <stdio.h>
#include <string.h>

#include "recerr.h"

void
recerr_init(struct rec_err *e)
{
	pthread_mutex_init(&e->lock, NULL);
}

void
recerr_destroy(struct rec_err *e)
{
	pthread_mutex_destroy(&e->lock);
}

int
recerr_fatal(struct rec_err *e, int eno, const char *fmt, va_list ap)
{
	pthread_mutex_lock(&e->lock);
	if (!e->fatal) {
		if (!e->msgset) {
			vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
			__atomic_store_n(&e->msgset, 1, __ATOMIC_RELEASE);
		}
		e->fatal_errno = eno;
		__atomic_store_n(&e->fatal, 1, __ATOMIC_RELEASE);
	}
	/* A later failure (a reader going on after its answer to a
	 * KeyUpdate failed, say) reports the first one, as every later call
	 * does. */
	eno = e->fatal_errno;
	pthread_mutex_unlock(&e->lock);
	return eno;
}

int
recerr_write(struct rec_err *e, int eno)
{
	pthread_mutex_lock(&e->lock);
	if (!e->msgset) {
		snprintf(e->msg, sizeof(e->msg), "write: %s", strerror(eno));
		__atomic_store_n(&e->msgset, 1, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&e->wdead, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&e->lock);
	errno = eno;
	return -1;
}

const char *
recerr_str(const struct rec_err *e)
{
	return __atomic_load_n(&e->msgset, __ATOMIC_ACQUIRE) ? e->msg : "";
}
