/* SPDX-License-Identifier: ISC */
/*
 * What cpconnect-run checks about a program before running it with the
 * preload: that the dynamic loader will load the preload at all.  A
 * statically linked program (no PT_INTERP) or one for another
 * architecture would run with its connections not routed, silently.
 */
#ifndef PROGCHECK_H
#define PROGCHECK_H

#include <stddef.h>

enum pc_verdict {
	PC_OK,      /* dynamically linked for our architecture, or not ELF:
	             * exec decides */
	PC_STATIC,  /* no program interpreter */
	PC_FOREIGN, /* another ELF class or machine */
	PC_ERROR,   /* could not be read (errno) */
};

/*
 * Check path, following #! interpreters (at most 4, as the kernel).  On
 * anything but PC_OK, culprit names the file at fault (path or an
 * interpreter) and why says what is wrong with it.
 */
int pc_check(
    const char *path, char *culprit, size_t culpritsz, char *why, size_t whysz);

/*
 * Whether exec of path will run with other privileges (set-user-ID,
 * set-group-ID, file capabilities), in which case the loader ignores
 * LD_PRELOAD.  1 with a reason in why, else 0.
 */
int pc_privileged(const char *path, char *why, size_t whysz);

#endif
