/* SPDX-License-Identifier: ISC */
/*
 * cpconnect-run: run an unmodified program with its TCP connections made
 * by cpconnectd.
 *
 *   cpconnect-run [-v] [-S socket] [-w timeout] program [args...]
 *
 * It checks that the preload can work for the program (dynamically
 * linked, our architecture; a set-ID program gets a warning), that the
 * daemon answers, then executes the program with libcpconnect-preload.so
 * in LD_PRELOAD and the settings in its environment.  It does not stay
 * around: the program's exit status is its own.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cprops/client.h"
#include "cpproto.h"
#include "progcheck.h"

#ifndef CP_LIBDIR
#define CP_LIBDIR "/usr/local/lib"
#endif
#define PRELOAD_NAME "libcpconnect-preload.so"
#define ENV_VERBOSE "CPCONNECT_RUN_VERBOSE"
#define ENV_TIMEOUT "CPCONNECT_RUN_TIMEOUT"

/* Exit statuses of our own, documented in cpconnect-run(1); like
 * cpconnect(1)'s and the shell's. */
enum {
	EXIT_FAIL = 1, /* the preload or memory missing */
	EXIT_USAGE = 2,
	EXIT_DAEMON = 3,   /* cpconnectd not reachable */
	EXIT_CANNOT = 126, /* found, but cannot run routed */
	EXIT_NOTFOUND = 127,
};

struct opts {
	const char *sock;
	int verbose;
	long timeout_ms;
	char **prog;
};

static void __attribute__((noreturn)) usage(int status)
{
	FILE *f = status ? stderr : stdout;

	fprintf(f,
	    "usage: cpconnect-run [options] program [args...]\n"
	    "  -S, --socket PATH   daemon socket (else $CPCONNECT_SOCKET)\n"
	    "  -v, --verbose       log each routed connection on stderr\n"
	    "  -w, --timeout SEC   bound on each connection, 0.1 to 3600\n"
	    "  -h, --help          this text\n"
	    "  -V, --version       the version\n"
	    "Runs program with its TCP connections made by cpconnectd, under "
	    "its policy.\nExit status: the program's; 1 set-up failure, 2 "
	    "usage, 3 daemon\nunreachable, 126 program cannot run routed, 127 "
	    "program not found.\n");
	exit(status);
}

static void
parse(struct opts *o, int argc, char *argv[])
{
	static const struct option lo[] = {
	    {"socket", required_argument, NULL, 'S'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"timeout", required_argument, NULL, 'w'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	char *end;
	double t;
	int ch;

	memset(o, 0, sizeof(*o));
	/* '+': options end at the program, whose own options follow. */
	while ((ch = getopt_long(argc, argv, "+hS:vVw:", lo, NULL)) != -1) {
		switch (ch) {
		case 'S':
			o->sock = optarg;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'w':
			t = strtod(optarg, &end);
			if (*end != '\0' || !(t >= 0.1 && t <= 3600)) {
				fprintf(stderr,
				    "cpconnect-run: bad timeout: "
				    "%s (0.1 to 3600 seconds)\n",
				    optarg);
				exit(EXIT_USAGE);
			}
			o->timeout_ms = (long)(t * 1000);
			break;
		case 'V':
			printf("cpconnect-run %s\n", CP_CONNECT_VERSION);
			exit(0);
		case 'h':
			usage(0);
		default:
			usage(EXIT_USAGE);
		}
	}
	if (optind >= argc)
		usage(EXIT_USAGE);
	o->prog = &argv[optind];
}

/* The preload: next to us (the build tree), in ../lib/cpconnect (an
 * installed tree, whatever its prefix), or where the build said it would
 * go. */
static int
find_preload(char *out, size_t sz)
{
	char exe[PATH_MAX], cand[3][PATH_MAX + 64], *slash;
	ssize_t n;
	int i;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	if ((slash = strrchr(exe, '/')) != NULL)
		*slash = '\0';
	snprintf(cand[0], sizeof(cand[0]), "%s/%s", exe, PRELOAD_NAME);
	snprintf(cand[1], sizeof(cand[1]), "%s/../lib/cpconnect/%s", exe,
	    PRELOAD_NAME);
	snprintf(cand[2], sizeof(cand[2]), "%s/%s", CP_LIBDIR, PRELOAD_NAME);
	for (i = exe[0] != '\0' ? 0 : 2; i < 3; i++)
		if (access(cand[i], R_OK) == 0 &&
		    realpath(cand[i], out) != NULL && strlen(out) < sz)
			return 0;
	fprintf(stderr,
	    "cpconnect-run: %s not found next to %s, in "
	    "%s/../lib/cpconnect or in %s\n",
	    PRELOAD_NAME, exe, exe, CP_LIBDIR);
	return -1;
}

/* PATH search as execvp(3) does it; the path found goes to out. */
static int
find_prog(const char *name, char *out, size_t sz)
{
	const char *path = getenv("PATH"), *p, *e;
	struct stat st;
	int saw_eacces = 0;

	if (strchr(name, '/') != NULL) {
		snprintf(out, sz, "%s", name);
		if (access(out, F_OK) == 0)
			return 0;
		fprintf(
		    stderr, "cpconnect-run: %s: %s\n", name, strerror(errno));
		return EXIT_NOTFOUND;
	}
	if (path == NULL || *path == '\0')
		path = "/usr/local/bin:/bin:/usr/bin";
	for (p = path; p != NULL; p = *e ? e + 1 : NULL) {
		e = strchr(p, ':');
		e = e != NULL ? e : p + strlen(p);
		snprintf(out, sz, "%.*s%s%s", (int)(e - p), p,
		    e == p ? "" : "/", name);
		/* execvp(3) goes on past directories and the like too. */
		if (access(out, X_OK) == 0 && stat(out, &st) == 0 &&
		    S_ISREG(st.st_mode))
			return 0;
		saw_eacces |= errno == EACCES;
	}
	fprintf(stderr, "cpconnect-run: %s: %s\n", name,
	    saw_eacces ? strerror(EACCES) : "command not found");
	return saw_eacces ? EXIT_CANNOT : EXIT_NOTFOUND;
}

static int
check_prog(const char *path, const char *name)
{
	char culprit[PATH_MAX], why[256];
	int v = pc_check(path, culprit, sizeof(culprit), why, sizeof(why));
	int same = strcmp(culprit, path) == 0;

	if (v == PC_STATIC || v == PC_FOREIGN) {
		fprintf(stderr,
		    "cpconnect-run: %s%s%s %s: its connections "
		    "cannot be routed through cpconnectd\n",
		    name, same ? "" : ": its interpreter ", same ? "" : culprit,
		    why);
		return EXIT_CANNOT;
	}
	if (v == PC_ERROR) {
		fprintf(stderr, "cpconnect-run: %s%s%s: %s\n", name,
		    same ? "" : ": ", same ? "" : culprit, why);
		return EXIT_CANNOT;
	}
	if (pc_privileged(path, why, sizeof(why)))
		fprintf(stderr,
		    "cpconnect-run: warning: %s %s: the loader "
		    "ignores LD_PRELOAD for it, its connections are not "
		    "routed through cpconnectd\n",
		    name, why);
	return 0;
}

/* Fail early and clearly when the daemon is not there, rather than let
 * every connect of the program fail with "connection refused". */
static int
check_daemon(const char *path)
{
	struct sockaddr_un sun;
	int fd, e;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr,
		    "cpconnect-run: daemon socket path too long: "
		    "%s\n",
		    path);
		return EXIT_USAGE;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		perror("cpconnect-run: socket");
		return EXIT_FAIL;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		e = errno;
		close(fd);
		fprintf(stderr,
		    "cpconnect-run: cpconnectd not reachable at "
		    "%s: %s\n",
		    path, strerror(e));
		return EXIT_DAEMON;
	}
	close(fd);
	return 0;
}

/* The socket path as the program's children will see it: absolute, as
 * they may change directory. */
static int
socket_path(const struct opts *o, char *out, size_t sz)
{
	const char *s = o->sock;
	char cwd[PATH_MAX];

	if (s == NULL && ((s = getenv("CPCONNECT_SOCKET")) == NULL || !*s))
		s = CP_DEFAULT_SOCKET;
	if (s[0] == '/' || o->sock == NULL) {
		snprintf(out, sz, "%s", s);
		return 0;
	}
	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		perror("cpconnect-run: getcwd");
		return -1;
	}
	if ((size_t)snprintf(out, sz, "%s/%s", cwd, s) >= sz) {
		fprintf(stderr,
		    "cpconnect-run: daemon socket path too long: "
		    "%s/%s\n",
		    cwd, s);
		return -1;
	}
	return 0;
}

/* LD_PRELOAD with ours first, once; the program's own entries kept. */
static int
set_preload(const char *preload)
{
	const char *old = getenv("LD_PRELOAD");
	char *v, *tok, *save, *copy;
	size_t n;

	if (strpbrk(preload, ": \t") != NULL) {
		fprintf(stderr,
		    "cpconnect-run: %s: a path with ':' or blanks "
		    "cannot go into LD_PRELOAD\n",
		    preload);
		return -1;
	}
	if (old != NULL && *old != '\0') {
		if ((copy = strdup(old)) == NULL)
			return -1;
		for (tok = strtok_r(copy, ": \t", &save); tok != NULL;
		     tok = strtok_r(NULL, ": \t", &save))
			if (strcmp(tok, preload) == 0)
				break;
		free(copy);
		if (tok != NULL)
			return 0; /* already there (cpconnect-run within) */
	}
	n = strlen(preload) + (old != NULL ? strlen(old) : 0) + 2;
	if ((v = malloc(n)) == NULL)
		return -1;
	snprintf(v, n, "%s%s%s", preload, old != NULL && *old ? ":" : "",
	    old != NULL ? old : "");
	n = setenv("LD_PRELOAD", v, 1) == 0;
	free(v);
	return n ? 0 : -1;
}

static int
set_env(const struct opts *o, const char *preload, const char *sock)
{
	char ms[32];

	if (set_preload(preload) == -1 ||
	    (o->sock != NULL && setenv("CPCONNECT_SOCKET", sock, 1) == -1))
		return -1;
	/* What we were told, not what a parent cpconnect-run was told. */
	if ((o->verbose ? setenv(ENV_VERBOSE, "1", 1)
	                : unsetenv(ENV_VERBOSE)) == -1)
		return -1;
	snprintf(ms, sizeof(ms), "%ld", o->timeout_ms);
	return (
	    o->timeout_ms ? setenv(ENV_TIMEOUT, ms, 1) : unsetenv(ENV_TIMEOUT));
}

static int
run(const char *path, char **prog)
{
	int e, n;
	char **sh;

	execv(path, prog);
	if ((e = errno) == ENOEXEC) {
		/* No #! line: a shell script, as execvp(3) runs it. */
		for (n = 0; prog[n] != NULL; n++)
			;
		if ((sh = calloc((size_t)n + 2, sizeof(*sh))) != NULL) {
			sh[0] = "sh";
			sh[1] = (char *)path;
			memcpy(sh + 2, prog + 1, (size_t)n * sizeof(*sh));
			execv("/bin/sh", sh);
			e = errno;
		}
	}
	fprintf(stderr, "cpconnect-run: %s: %s\n", prog[0], strerror(e));
	return e == ENOENT ? EXIT_NOTFOUND : EXIT_CANNOT;
}

int
main(int argc, char *argv[])
{
	char preload[PATH_MAX], path[PATH_MAX], sock[PATH_MAX];
	struct opts o;
	int rv;

	parse(&o, argc, argv);
	if (find_preload(preload, sizeof(preload)) == -1)
		return EXIT_FAIL;
	if ((rv = find_prog(o.prog[0], path, sizeof(path))) != 0 ||
	    (rv = check_prog(path, o.prog[0])) != 0)
		return rv;
	if (socket_path(&o, sock, sizeof(sock)) == -1)
		return EXIT_USAGE;
	if ((rv = check_daemon(sock)) != 0)
		return rv;
	if (set_env(&o, preload, sock) == -1) {
		fprintf(stderr, "cpconnect-run: environment: %s\n",
		    strerror(errno));
		return EXIT_FAIL;
	}
	if (o.verbose)
		fprintf(stderr,
		    "cpconnect-run: %s (%s) with %s, cpconnectd at "
		    "%s\n",
		    o.prog[0], path, preload, sock);
	return run(path, o.prog);
}
