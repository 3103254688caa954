/* SPDX-License-Identifier: ISC */
/*
 * libcpconnect-preload: what its modules share.  The settings come from
 * the environment cpconnect-run(1) prepares, read once when the preload
 * is loaded; the functions it interposes reach libc's own through the
 * pointers here.
 */
#ifndef PL_H
#define PL_H

#include <sys/socket.h>

#include <netdb.h>
#include <stdint.h>

/* Environment variables besides CPCONNECT_SOCKET. */
#define PL_ENV_VERBOSE "CPCONNECT_RUN_VERBOSE"
#define PL_ENV_TIMEOUT "CPCONNECT_RUN_TIMEOUT" /* milliseconds */

struct pl_conf {
	char sock[108];      /* daemon socket */
	int verbose;         /* log every routed connect */
	uint32_t timeout_ms; /* bound on one connect, 0: the daemon's */
};

const struct pl_conf *pl_conf(void);

/* One line on stderr, "cpconnect-run: prog[pid]: ...", written at once;
 * errno is kept.  pl_vlog only when verbose. */
void pl_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pl_vlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* libc's own functions, resolved on first use. */
struct pl_real {
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*socket)(int, int, int);
	ssize_t (*sendto)(
	    int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	int (*sendmmsg)(int, struct mmsghdr *, unsigned int, int);
	int (*getaddrinfo)(const char *, const char *, const struct addrinfo *,
	    struct addrinfo **);
	struct hostent *(*gethostbyname2)(const char *, int);
	int (*gethostbyname2_r)(const char *, int, struct hostent *, char *,
	    size_t, struct hostent **, int *);
	struct hostent *(*gethostbyaddr)(const void *, socklen_t, int);
	int (*gethostbyaddr_r)(const void *, socklen_t, int, struct hostent *,
	    char *, size_t, struct hostent **, int *);
	int (*getnameinfo)(const struct sockaddr *, socklen_t, char *,
	    socklen_t, char *, socklen_t, int);
};

const struct pl_real *pl_real(void);

/* connect.c: route a TCP connect on fd to the socket address through the
 * daemon (the sendto/sendmsg TCP Fast Open path uses it too). */
int pl_route(int fd, const struct sockaddr *sa, socklen_t len);

#endif
