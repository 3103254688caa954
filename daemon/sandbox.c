/* SPDX-License-Identifier: ISC */
/*
 * The engines' sandbox: user drop, no_new_privs, Landlock, seccomp.
 * See sandbox.h for the order and the reasons.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <linux/capability.h>
#include <linux/landlock.h>
#include <linux/sockios.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sandbox.h"

/*
 * Debian 12's kernel headers stop at Landlock ABI 2; the later rights are
 * stable kernel ABI, so name them here rather than depend on newer headers.
 */
#define LL_FS_V1 ((1ULL << 13) - 1)  /* EXECUTE .. MAKE_SYM */
#define LL_FS_REFER (1ULL << 13)     /* ABI 2 */
#define LL_FS_TRUNCATE (1ULL << 14)  /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#define LL_FS_READ_FILE (1ULL << 2)
#define LL_NET_BIND_TCP (1ULL << 0)        /* ABI 4 */
#define LL_SCOPE_ABSTRACT_UNIX (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ULL << 1)        /* ABI 6 */

/* The kernel takes a prefix of this, sized by what the ABI knows. */
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

/*
 * What name resolution reads (c-ares reads the first four, /etc/gai.conf and
 * /etc/services are there for getaddrinfo-style helpers), plus the seed of
 * c-ares' query ids and the zone file that syslog timestamps need.
 */
static const char *const engine_files[] = {
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/dev/urandom",
    "/etc/localtime",
    NULL,
};

static int fail(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errsz > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errsz, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* After a drop nothing may be left: the kernel clears capabilities when
 * every uid leaves 0, unless someone set SECBIT_KEEP_CAPS. */
static int
caps_empty(void)
{
	struct __user_cap_header_struct hdr;
	struct __user_cap_data_struct data[2];

	memset(&hdr, 0, sizeof(hdr));
	memset(data, 0, sizeof(data));
	hdr.version = _LINUX_CAPABILITY_VERSION_3;
	if (syscall(SYS_capget, &hdr, data) == -1)
		return 0;
	return (data[0].effective | data[0].permitted | data[1].effective |
	           data[1].permitted) == 0;
}

static int
verify_drop(uid_t uid, gid_t gid, char *err, size_t errsz)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg, groups[2];
	int n;

	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1)
		return fail(err, errsz, "getres[ug]id: %s", strerror(errno));
	if (ru != uid || eu != uid || su != uid)
		return fail(err, errsz, "uid still %u/%u/%u after drop",
		    (unsigned)ru, (unsigned)eu, (unsigned)su);
	if (rg != gid || eg != gid || sg != gid)
		return fail(err, errsz, "gid still %u/%u/%u after drop",
		    (unsigned)rg, (unsigned)eg, (unsigned)sg);
	n = getgroups(2, groups);
	if (n != 1 || groups[0] != gid)
		return fail(err, errsz, "supplementary groups left after drop");
	if (setuid(0) != -1 || setgid(0) != -1)
		return fail(err, errsz, "root regained after drop");
	if (!caps_empty())
		return fail(err, errsz, "capabilities left after drop");
	return 0;
}

int
sandbox_drop_user(const char *user, char *err, size_t errsz)
{
	struct passwd *pw;
	uid_t uid;
	gid_t gid;

	if (geteuid() != 0)
		return 0;
	if (user == NULL || *user == '\0')
		return fail(err, errsz, "no user to drop to");
	errno = 0;
	if ((pw = getpwnam(user)) == NULL)
		return fail(err, errsz, "user %s: %s", user,
		    errno ? strerror(errno) : "no such user");
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (uid == 0 || gid == 0)
		return fail(err, errsz, "user %s has uid or gid 0", user);
	if (setgroups(1, &gid) == -1)
		return fail(err, errsz, "setgroups: %s", strerror(errno));
	if (setresgid(gid, gid, gid) == -1)
		return fail(err, errsz, "setresgid: %s", strerror(errno));
	if (setresuid(uid, uid, uid) == -1)
		return fail(err, errsz, "setresuid: %s", strerror(errno));
	return verify_drop(uid, gid, err, errsz);
}

/* Size of the ruleset attribute and the rights the running ABI knows. */
static size_t
ll_attr_for(int abi, struct ll_ruleset_attr *attr)
{
	memset(attr, 0, sizeof(*attr));
	attr->handled_access_fs = LL_FS_V1;
	if (abi >= 2)
		attr->handled_access_fs |= LL_FS_REFER;
	if (abi >= 3)
		attr->handled_access_fs |= LL_FS_TRUNCATE;
	if (abi >= 5)
		attr->handled_access_fs |= LL_FS_IOCTL_DEV;
	if (abi < 4)
		return sizeof(uint64_t);
	/* Handled with no rule: no TCP bind at all.  Connect not handled. */
	attr->handled_access_net = LL_NET_BIND_TCP;
	if (abi < 6)
		return 2 * sizeof(uint64_t);
	/* Nothing outside the engine to signal or reach by abstract name. */
	attr->scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
	return sizeof(*attr);
}

/* One read-only rule for path; 0 also when it does not exist. */
static int
ll_add_file(int rfd, const char *path, char *err, size_t errsz)
{
	struct landlock_path_beneath_attr pb;
	struct stat st;
	int fd, rc = 0;

	if ((fd = open(path, O_PATH | O_CLOEXEC)) == -1) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return fail(
		    err, errsz, "landlock: %s: %s", path, strerror(errno));
	}
	/* A directory rule would open everything beneath it. */
	if (fstat(fd, &st) == -1 || S_ISDIR(st.st_mode))
		rc = fail(err, errsz, "landlock: %s: not a file", path);
	else {
		memset(&pb, 0, sizeof(pb));
		pb.allowed_access = LL_FS_READ_FILE;
		pb.parent_fd = fd;
		if (syscall(SYS_landlock_add_rule, rfd,
		        LANDLOCK_RULE_PATH_BENEATH, &pb, 0) == -1)
			rc = fail(err, errsz, "landlock_add_rule %s: %s", path,
			    strerror(errno));
	}
	close(fd);
	return rc;
}

int
sandbox_landlock(const char *const *ro_files, char *err, size_t errsz)
{
	struct ll_ruleset_attr attr;
	size_t attrsz;
	int abi, rfd, i;

	abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	if (abi == -1 && (errno == ENOSYS || errno == EOPNOTSUPP)) {
		fail(err, errsz, "Landlock unavailable: %s",
		    errno == ENOSYS ? "not built into the kernel"
		                    : "disabled at boot (lsm=)");
		return 1;
	}
	if (abi < 1)
		return fail(err, errsz, "landlock ABI: %s", strerror(errno));
	attrsz = ll_attr_for(abi, &attr);
	rfd = syscall(SYS_landlock_create_ruleset, &attr, attrsz, 0);
	if (rfd == -1)
		return fail(err, errsz, "landlock_create_ruleset (ABI %d): %s",
		    abi, strerror(errno));
	for (i = 0; ro_files != NULL && ro_files[i] != NULL; i++)
		if (ll_add_file(rfd, ro_files[i], err, errsz) == -1)
			goto bad;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		fail(err, errsz, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		goto bad;
	}
	if (syscall(SYS_landlock_restrict_self, rfd, 0) == -1) {
		fail(err, errsz, "landlock_restrict_self: %s", strerror(errno));
		goto bad;
	}
	close(rfd);
	return 0;
bad:
	close(rfd);
	return -1;
}

/* Allowed without argument checks.  Names libseccomp does not know (an
 * older library) are skipped: their absence only means EPERM. */
/* clang-format off */
static const char *const sc_plain[] = {
	/* event loop, descriptors */
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
	"epoll_pwait2", "poll", "ppoll", "pipe2", "eventfd2",
	"timerfd_create", "timerfd_settime", "timerfd_gettime", "close",
	"dup", "dup3", "fcntl", "read", "write", "readv", "writev", "lseek",
	"pread64",
	/*
	 * sockets; domain checked for socket/socketpair below.  No listen:
	 * it autobinds an unbound TCP socket, which Landlock's bind rule
	 * does not see.  No accept: clients come from the parent (deal.h).
	 */
	"connect", "bind", "shutdown", "recvfrom",
	"sendto", "recvmsg", "sendmsg", "recvmmsg", "sendmmsg",
	"getsockopt", "setsockopt", "getsockname", "getpeername",
	/* files: Landlock decides which ones; flags checked for open below */
	"fstat", "newfstatat", "stat", "lstat", "statx",
	/* memory; protections checked for mmap/mprotect below */
	"brk", "munmap", "mremap", "madvise", "futex",
	/* time */
	"clock_gettime", "clock_getres", "gettimeofday", "time",
	"clock_nanosleep", "nanosleep",
	/* signals, process */
	"rt_sigreturn", "rt_sigprocmask", "rt_sigaction", "restart_syscall",
	/* Only the caller's own signal stack; sanitizer runtimes need it. */
	"sigaltstack",
	"exit", "exit_group", "getpid", "gettid", "getppid", "getuid",
	"geteuid", "getgid", "getegid", "getrlimit",
	/* randomness, system facts */
	"getrandom", "uname", "sysinfo", "sched_getaffinity", "sched_yield",
	NULL,
};
/* clang-format on */

static int
sc_allow(scmp_filter_ctx ctx, const char *name, unsigned n,
    struct scmp_arg_cmp *cmp, char *err, size_t errsz)
{
	int nr, rc;

	if ((nr = seccomp_syscall_resolve_name(name)) == __NR_SCMP_ERROR)
		return 0;
	rc = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, n, cmp);
	if (rc < 0)
		return fail(
		    err, errsz, "seccomp rule %s: %s", name, strerror(-rc));
	return 0;
}

static int
sc_allow1(scmp_filter_ctx ctx, const char *name, struct scmp_arg_cmp cmp,
    char *err, size_t errsz)
{
	return sc_allow(ctx, name, 1, &cmp, err, errsz);
}

static int
sc_sockets(scmp_filter_ctx ctx, char *err, size_t errsz)
{
	static const int domains[] = {AF_INET, AF_INET6, AF_UNIX};
	size_t i;

	for (i = 0; i < sizeof(domains) / sizeof(domains[0]); i++)
		if (sc_allow1(ctx, "socket", SCMP_A0(SCMP_CMP_EQ, domains[i], 0),
		        err, errsz) == -1)
			return -1;
	return sc_allow1(
	    ctx, "socketpair", SCMP_A0(SCMP_CMP_EQ, AF_UNIX, 0), err, errsz);
}

static int
sc_ioctl(scmp_filter_ctx ctx, char *err, size_t errsz)
{
	/* The kernel reads the request as 32 bits: compare only those. */
	/* SIOCOUTQ: has a client received the sockets sent to it
	 * (session.c)? */
	static const unsigned long reqs[] = {FIONREAD, FIONBIO, SIOCOUTQ};
	size_t i;

	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++)
		if (sc_allow1(ctx, "ioctl",
		        SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffU, reqs[i]), err,
		        errsz) == -1)
			return -1;
	return 0;
}

/* No executable page may appear after start-up. */
static int
sc_memory(scmp_filter_ctx ctx, char *err, size_t errsz)
{
	if (sc_allow1(ctx, "mmap", SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0),
	        err, errsz) == -1)
		return -1;
	return sc_allow1(ctx, "mprotect",
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0), err, errsz);
}

/*
 * Opens are read-only even where Landlock is missing, getrlimit-style
 * prlimit only, and tgkill only to this process so that abort() (stack
 * protector, assertions) still ends with a proper SIGABRT.
 */
static int
sc_misc(scmp_filter_ctx ctx, char *err, size_t errsz)
{
	const uint64_t wr = O_ACCMODE | O_CREAT | O_TRUNC;

	if (sc_allow1(ctx, "openat", SCMP_A2(SCMP_CMP_MASKED_EQ, wr, 0), err,
	        errsz) == -1 ||
	    sc_allow1(ctx, "open", SCMP_A1(SCMP_CMP_MASKED_EQ, wr, 0), err,
	        errsz) == -1 ||
	    sc_allow1(ctx, "prlimit64", SCMP_A2(SCMP_CMP_EQ, 0, 0), err, errsz) ==
	        -1 ||
	    sc_allow1(ctx, "tgkill", SCMP_A0(SCMP_CMP_EQ, (uint64_t)getpid(), 0),
	        err, errsz) == -1)
		return -1;
	return 0;
}

static int
sc_build(scmp_filter_ctx ctx, char *err, size_t errsz)
{
	int i, rc;

	rc = seccomp_attr_set(
	    ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (rc < 0)
		return fail(err, errsz, "seccomp badarch: %s", strerror(-rc));
	for (i = 0; sc_plain[i] != NULL; i++)
		if (sc_allow(ctx, sc_plain[i], 0, NULL, err, errsz) == -1)
			return -1;
	if (sc_sockets(ctx, err, errsz) == -1 ||
	    sc_ioctl(ctx, err, errsz) == -1 ||
	    sc_memory(ctx, err, errsz) == -1 || sc_misc(ctx, err, errsz) == -1)
		return -1;
	return 0;
}

int
sandbox_seccomp(int kill_on_violation, char *err, size_t errsz)
{
	scmp_filter_ctx ctx;
	int rc;

	ctx = seccomp_init(
	    kill_on_violation ? SCMP_ACT_KILL_PROCESS : SCMP_ACT_ERRNO(EPERM));
	if (ctx == NULL)
		return fail(err, errsz, "seccomp_init failed");
	if (sc_build(ctx, err, errsz) == -1) {
		seccomp_release(ctx);
		return -1;
	}
	rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0)
		return fail(err, errsz, "seccomp_load: %s", strerror(-rc));
	return 0;
}

int
sandbox_engine(const char *user, int kill_on_violation, char *err, size_t errsz)
{
	int ll;

	if (user != NULL && geteuid() == 0 &&
	    sandbox_drop_user(user, err, errsz) == -1)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return fail(
		    err, errsz, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		return fail(err, errsz, "PR_SET_DUMPABLE: %s", strerror(errno));
	if ((ll = sandbox_landlock(engine_files, err, errsz)) == -1)
		return -1;
	/* On success seccomp leaves err alone: a Landlock note survives. */
	if (sandbox_seccomp(kill_on_violation, err, errsz) == -1)
		return -1;
	return ll;
}
