/* SPDX-License-Identifier: ISC */
/*
 * The stop flag (stop.h).
 */
#include "stop.h"

static int stop_flag; /* atomic: set from signal handlers */

int
cp_stopped(void)
{
	return __atomic_load_n(&stop_flag, __ATOMIC_RELAXED);
}

void
cp_stop_set(int on)
{
	__atomic_store_n(&stop_flag, on, __ATOMIC_SEQ_CST);
}
