/* SPDX-License-Identifier: ISC */
/*
 * What a program set on its socket before connect(2), carried over to the
 * socket the daemon connected: file status flags, FD_CLOEXEC, the owner
 * for O_ASYNC, and the socket options that differ from a fresh socket's.
 */
#ifndef PL_SOCKSTATE_H
#define PL_SOCKSTATE_H

#define SS_MAXOPT 24
#define SS_OPTLEN 16 /* the largest value carried: TCP_CONGESTION */

struct ss_opt {
	int def; /* which option: an index into sockstate.c's table */
	unsigned char val[SS_OPTLEN];
};

struct sockstate {
	int fl;      /* F_GETFL */
	int cloexec; /* FD_CLOEXEC was set */
	int owner, sig;
	struct ss_opt opt[SS_MAXOPT];
	int nopt;
	long sndtimeo_ms; /* SO_SNDTIMEO, 0 when unset */
};

/* Read the state of fd, a socket of family (AF_INET, AF_INET6).  0, or -1
 * with errno. */
int ss_save(int fd, int family, struct sockstate *);
/* Apply it to the socket nfd.  The options that could not be set are
 * named in what (for the verbose log); 0, or -1 with errno when the flags
 * themselves could not be set. */
int ss_apply(int nfd, const struct sockstate *, char *what, size_t whatsz);

#endif
