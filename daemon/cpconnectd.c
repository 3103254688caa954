/*
 * cpconnectd: the parent process.
 *
 * It reads the configuration, takes the listening socket (from systemd or
 * by binding it), and starts one engine per CPU by fork + exec of itself
 * with -E.  It never reads a byte from a client.  It restarts engines that
 * die, reloads on SIGHUP by starting a new generation of engines and
 * letting the old one drain, and keeps systemd informed.
 *
 * Descriptor convention for an engine: 3 = listening socket, 4 = channel
 * to the parent (SOCK_SEQPACKET, one message per datagram, see keys.h):
 * the parent first sends the client certificates, the engine sends
 * struct ctl_stats once a second and a signing request whenever a
 * handshake needs its client key, which only the parent holds; CTL_DRAIN
 * or the end of file tells the engine to drain and exit.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "conf.h"
#include "cpproto.h"
#include "engine.h"
#include "ev.h"
#include "keys.h"
#include "log.h"
#include "notify.h"
#include "sandbox.h"
#include "tls.h"

#define ENGINE_LFD 3
#define ENGINE_CTLFD 4
#define MAX_ENGINES 64

struct child {
	pid_t pid;
	int ctl;      /* stays open while draining: old keys still sign */
	int draining; /* told to drain */
	int badmsg;   /* malformed datagrams seen (logged once) */
	struct keytab *keys; /* its generation's keys */
	int gen;
	struct engine_stats st;
	uint64_t started;
};

struct opts {
	int foreground, verbose, check, engine, nosandbox, nengines;
	const char *conffile, *sockpath, *resolvers;
	int engine_id;
	char *const *argv;
};

static struct child kids[2 * MAX_ENGINES];
static int nkids;
static int generation;
static int nengines_cur; /* engines in the current generation */
static struct keytab *cur_keys; /* the current generation's keys */
/* Our own executable, resolved once: exec'ing "/proc/self/exe" would
 * start a tool such as valgrind's instead of the daemon under it. */
static char self_exe[PATH_MAX] = "/proc/self/exe";

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: cpconnectd [-dnSv] [-f file] [-s socket] "
			"[-R servers]\n");
	exit(2);
}

/* An explicit -f must exist; the default file may be absent, and then the
 * built-in default policy applies. */
static struct cpconf *
load_conf(const struct opts *o, char *err, size_t errsz)
{
	struct cpconf *cf = NULL;

	if (conf_load(&cf, o->conffile, geteuid() != 0, err, errsz) == -1)
		return NULL;
	return cf;
}

/* The parent's part: the configuration and every client key it names. */
static struct cpconf *
load_conf_keys(const struct opts *o, struct keytab **keys, char *err,
    size_t errsz)
{
	struct cpconf *cf;

	if ((cf = load_conf(o, err, errsz)) == NULL)
		return NULL;
	if (keytab_load(keys, cf, err, errsz) == -1) {
		conf_free(cf);
		return NULL;
	}
	return cf;
}

static void
parse_opts(struct opts *o, int argc, char *argv[])
{
	int ch;

	memset(o, 0, sizeof(*o));
	o->argv = argv;
	while ((ch = getopt(argc, argv, "dE:f:N:nR:s:Sv")) != -1) {
		switch (ch) {
		case 'd':
			o->foreground = 1;
			break;
		case 'E':
			o->engine = 1;
			o->engine_id = atoi(optarg);
			break;
		case 'f':
			o->conffile = optarg;
			break;
		case 'N':
			o->nengines = atoi(optarg);
			break;
		case 'n':
			o->check = 1;
			break;
		case 'R':
			o->resolvers = optarg;
			break;
		case 's':
			o->sockpath = optarg;
			break;
		case 'S':
			o->nosandbox = 1;
			break;
		case 'v':
			o->verbose++;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
}

/* Engine process */

/*
 * LeakSanitizer checks at exit by stopping the process with ptrace, which
 * a sandboxed engine may not do (non-dumpable, seccomp): all it could print
 * is its own fatal error, at every exit.  Sanitizer runtimes call this hook
 * by name and skip the check when it returns non-zero; other builds never
 * call it.  Engines run with -S are checked as usual, and the parent always.
 */
static int engine_sandboxed;
int __lsan_is_turned_off(void);

int
__lsan_is_turned_off(void)
{
	return engine_sandboxed;
}

static SSL_CTX *
engine_ssl(const struct cpconf *cf)
{
	struct tls_settings ts;
	char err[256];
	SSL_CTX *ctx;

	memset(&ts, 0, sizeof(ts));
	ts.min_version = cf->tls.min_version;
	ts.ca_file = cf->g.ca_file;
	ts.ca_dir = cf->g.ca_path;
	if ((ctx = tls_ctx_new(&ts, err, sizeof(err))) == NULL)
		fatalx("trust store: %s", err);
	return ctx;
}

static int __attribute__((noreturn))
engine_main(const struct opts *o)
{
	struct engine_env env;
	struct cpconf *cf;
	char err[512], name[32];
	int rv;

	snprintf(name, sizeof(name), "engine %d", o->engine_id);
	log_procname(name);
	if ((cf = load_conf(o, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	memset(&env, 0, sizeof(env));
	env.id = o->engine_id;
	env.nengines = o->nengines;
	env.lfd = ENGINE_LFD;
	env.ctlfd = ENGINE_CTLFD;
	env.conf = cf;
	env.resolvers = o->resolvers;
	/* The client certificates come from the parent, which read them
	 * together with their keys: certificate and key always match, even
	 * when the files change under a reload.  The keys stay there. */
	if (keyring_recv(&env.keys, ENGINE_CTLFD, 10000, err, sizeof(err)) ==
	    -1)
		fatalx("client certificates: %s", err);
	/* Everything that needs the file system happens before this. */
	env.ssl = engine_ssl(cf);
	if (!o->nosandbox) {
		engine_sandboxed = 1;
		rv = sandbox_engine(geteuid() == 0 ? cf->g.user : NULL, 0, err,
		    sizeof(err));
		if (rv == -1)
			fatalx("sandbox: %s", err);
		if (rv == 1)
			log_warnx("sandbox: %s", err);
	}
	env.test_hooks = getenv("CPCONNECTD_TEST_HOOKS") != NULL;
	rv = engine_run(&env);
	SSL_CTX_free(env.ssl);
	keyring_free(env.keys);
	conf_free(cf);
	exit(rv);
}

/* Parent process */

static int
bind_socket(const char *path, mode_t mode, gid_t gid)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		fatalx("socket path too long: %s", path);
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		 0)) == -1)
		fatal("socket");
	/* A stale socket from a previous run: remove it only if nobody is
	 * listening on it. */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		fatalx("%s: another daemon is listening", path);
	if (errno == ECONNREFUSED)
		unlink(path);
	close(fd);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		 0)) == -1)
		fatal("socket");
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal("bind %s", path);
	if (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) == -1)
		fatal("chown %s", path);
	if (chmod(path, mode) == -1)
		fatal("chmod %s", path);
	if (listen(fd, SOMAXCONN) == -1)
		fatal("listen %s", path);
	return fd;
}

static int
listen_socket(const char *path, mode_t mode, gid_t gid, int *bound)
{
	int n = sd_listen_fds(1);

	*bound = 0;
	if (n > 1)
		fatalx("socket activation: %d sockets passed, expected 1", n);
	if (n == 1) {
		int fd = SD_LISTEN_FDS_START;

		if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0)
			fatalx("socket activation: not a listening unix "
			       "stream socket");
		if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1 ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
			fatal("fcntl");
		log_info("listening on the socket from systemd");
		return fd;
	}
	*bound = 1;
	return bind_socket(path, mode, gid);
}

static int
engine_count(const struct cpconf *cf)
{
	long n = cf->g.engines;

	if (n <= 0)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	return n > MAX_ENGINES ? MAX_ENGINES : (int)n;
}

static void
spawn(const struct opts *o, int lfd, int id)
{
	const struct timeval sndtimeo = {.tv_sec = 5};
	char *argv[20], idbuf[16], nbuf[16];
	int sv[2], i = 0, k;
	pid_t pid;

	if (nkids == (int)(sizeof(kids) / sizeof(kids[0])))
		fatalx("too many engines");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1)
		fatal("socketpair");
	snprintf(idbuf, sizeof(idbuf), "%d", id);
	snprintf(nbuf, sizeof(nbuf), "%d", nengines_cur);
	argv[i++] = "cpconnectd";
	argv[i++] = "-E";
	argv[i++] = idbuf;
	argv[i++] = "-N";
	argv[i++] = nbuf;
	if (o->foreground)
		argv[i++] = "-d";
	for (k = 0; k < o->verbose && k < 2; k++)
		argv[i++] = "-v";
	if (o->nosandbox)
		argv[i++] = "-S";
	if (o->conffile) {
		argv[i++] = "-f";
		argv[i++] = (char *)o->conffile;
	}
	if (o->resolvers) {
		argv[i++] = "-R";
		argv[i++] = (char *)o->resolvers;
	}
	argv[i] = NULL;

	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		/* Exactly two descriptors survive the exec, at 3 and 4. */
		if (dup2(lfd, ENGINE_LFD) == -1 ||
		    dup2(sv[1], ENGINE_CTLFD) == -1)
			_exit(127);
		if (fcntl(ENGINE_LFD, F_SETFD, 0) == -1 ||
		    fcntl(ENGINE_CTLFD, F_SETFD, 0) == -1)
			_exit(127);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		execv(self_exe, argv);
		_exit(127);
	}
	close(sv[1]);
	/* The engine reads these first; a dead engine is reaped and
	 * restarted as usual, one that does not read cannot hold us. */
	if (setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &sndtimeo,
		sizeof(sndtimeo)) == -1 ||
	    keytab_send(cur_keys, sv[0]) == -1)
		log_warn("engine %d: sending the certificates", id);
	memset(&kids[nkids], 0, sizeof(kids[nkids]));
	kids[nkids].pid = pid;
	kids[nkids].ctl = sv[0];
	kids[nkids].keys = keytab_ref(cur_keys);
	kids[nkids].gen = generation;
	kids[nkids].started = ev_clock_ms();
	memset(&kids[nkids].st, 0, sizeof(kids[nkids].st));
	nkids++;
	log_debug("engine %d started, pid %d", id, (int)pid);
}

/* The channel stays open: a draining engine may still need signatures
 * for the handshakes it has in flight. */
static void
drain_generation(int gen)
{
	uint32_t msg = CTL_DRAIN;
	int i;

	for (i = 0; i < nkids; i++)
		if (kids[i].gen == gen && !kids[i].draining) {
			kids[i].draining = 1;
			if (kids[i].ctl != -1 && send(kids[i].ctl, &msg, sizeof(msg),
				MSG_DONTWAIT | MSG_NOSIGNAL) == -1)
				log_debug("engine pid %d: drain: %s",
				    (int)kids[i].pid, strerror(errno));
		}
}

/*
 * Datagrams from one engine: statistics and signing requests.  An engine
 * faces the network, so everything it sends is checked as hostile input
 * (keytab_sign); it can only ask for signatures with its own generation's
 * keys, and a bounded number per call so no engine starves the others.
 */
static void
ctl_read(struct child *k)
{
	union {
		uint32_t type;
		struct ctl_stats cs;
		struct keys_sign_req rq;
	} m;
	struct keys_sign_rep rep;
	ssize_t n;
	int budget = 64;

	if (k->ctl == -1)
		return;
	while (budget-- > 0) {
		n = recv(k->ctl, &m, sizeof(m), MSG_DONTWAIT | MSG_TRUNC);
		if (n == 0) {
			/* The engine is gone; reap() forgets it. */
			close(k->ctl);
			k->ctl = -1;
		}
		if (n <= 0)
			return;
		if (n == (ssize_t)sizeof(m.cs) && m.type == CTL_STATS) {
			k->st = m.cs.st;
			continue;
		}
		if (n == (ssize_t)sizeof(m.rq) && m.type == CTL_SIGN) {
			keytab_sign(k->keys, &m.rq, (size_t)n, &rep);
			if (rep.status == 0)
				log_debug("engine pid %d: signed with client "
					  "key %u", (int)k->pid, m.rq.key);
			else
				log_warnx("engine pid %d: signing request "
					  "for key %u refused: %s",
				    (int)k->pid, m.rq.key, strerror(rep.status));
			if (send(k->ctl, &rep, sizeof(rep),
				MSG_DONTWAIT | MSG_NOSIGNAL) == -1)
				log_warn("engine pid %d: signature",
				    (int)k->pid);
			explicit_bzero(&m, sizeof(m));
			explicit_bzero(&rep, sizeof(rep));
			continue;
		}
		if (k->badmsg++ == 0)
			log_warnx("engine pid %d: malformed message of %zd "
				  "bytes ignored",
			    (int)k->pid, n);
	}
}

static void
stats_read(void)
{
	int i;

	for (i = 0; i < nkids; i++)
		ctl_read(&kids[i]);
}

static void
report_status(void)
{
	uint64_t served = 0;
	uint32_t inflight = 0, sessions = 0;
	int i, live = 0;

	stats_read();
	for (i = 0; i < nkids; i++) {
		served += kids[i].st.served;
		inflight += kids[i].st.inflight;
		sessions += kids[i].st.sessions;
		if (kids[i].gen == generation)
			live++;
	}
	if (keytab_count(cur_keys) > 0 || keys_signatures() > 0)
		notify_status("%d engines, %llu requests served, %u in flight, "
			      "%u sessions, %llu signatures",
		    live, (unsigned long long)served, inflight, sessions,
		    (unsigned long long)keys_signatures());
	else
		notify_status("%d engines, %llu requests served, %u in flight, "
			      "%u sessions",
		    live, (unsigned long long)served, inflight, sessions);
}

/*
 * Reap engines.  One of the current generation that died is restarted; a
 * restart is delayed when the engine lived less than a second, so a crash
 * loop cannot spin.  Returns how many restarts are due now.
 */
static int
reap(int stopping, int *delayed)
{
	int status, i, due = 0;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < nkids && kids[i].pid != pid; i++)
			;
		if (i == nkids)
			continue;
		if (kids[i].ctl != -1)
			close(kids[i].ctl);
		keytab_free(kids[i].keys);
		if (kids[i].gen == generation && !stopping) {
			if (WIFSIGNALED(status))
				log_warnx("engine pid %d killed by signal %d; "
					  "restarting",
				    (int)pid, WTERMSIG(status));
			else
				log_warnx("engine pid %d exited with status "
					  "%d; restarting",
				    (int)pid, WEXITSTATUS(status));
			if (ev_clock_ms() - kids[i].started < 1000)
				(*delayed)++;
			else
				due++;
		} else
			log_debug("engine pid %d finished", (int)pid);
		kids[i] = kids[--nkids];
	}
	return due;
}

static int
signals_fd(void)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		fatal("sigprocmask");
	if ((fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) == -1)
		fatal("signalfd");
	return fd;
}

static void
start_generation(const struct opts *o, int lfd, int n)
{
	int i;

	generation++;
	nengines_cur = n;
	for (i = 0; i < n; i++)
		spawn(o, lfd, i);
}

/* SIGHUP: a bad file keeps the old policy.  A good one gets a new
 * generation of engines; the old one finishes its requests and exits, so
 * requests in flight end under the policy they started with. */
static int
reload(const struct opts *o, int lfd, int *nengines)
{
	struct cpconf *cf;
	struct keytab *keys = NULL;
	char err[512];

	notify_reloading();
	if ((cf = load_conf_keys(o, &keys, err, sizeof(err))) == NULL) {
		log_warnx("reload failed, keeping the running configuration: "
			  "%s",
		    err);
		notify_ready();
		return -1;
	}
	*nengines = engine_count(cf);
	conf_free(cf);
	/* The old engines keep their references to the old keys. */
	keytab_free(cur_keys);
	cur_keys = keys;
	drain_generation(generation);
	start_generation(o, lfd, *nengines);
	log_info("configuration reloaded");
	notify_ready();
	return 0;
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	/* One descriptor per session and per connection in flight. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int
parent_main(const struct opts *o)
{
	struct cpconf *cf;
	char err[512];
	const char *path;
	uint64_t wd_usec = 0, next_wd = 0, next_status = 0, next_restart = 0;
	int lfd, sfd, bound, nengines, delayed = 0, stopping = 0;
	mode_t mode;

	if ((cf = load_conf_keys(o, &cur_keys, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if (o->check) {
		printf("configuration OK\n");
		keytab_free(cur_keys);
		conf_free(cf);
		return 0;
	}
	if (keytab_count(cur_keys) > 0)
		log_info("%d client keys loaded", keytab_count(cur_keys));
	raise_nofile();
	path = o->sockpath ? o->sockpath : cf->g.socket_path;
	mode = (mode_t)cf->g.socket_mode;
	/* A user's own daemon under the built-in policy serves that user:
	 * another user's sandboxed service must not borrow its network. */
	if (geteuid() != 0 && o->conffile == NULL &&
	    access(CONF_DEFAULT_PATH, F_OK) == -1)
		mode = 0600;
	lfd = listen_socket(path, mode, cf->g.socket_gid, &bound);
	nengines = engine_count(cf);
	conf_free(cf);
	/* The OpenBSD habit: without -d, go to the background once the
	 * socket is ours, so errors before this point reach the terminal. */
	if (!o->foreground && daemon(0, 0) == -1)
		fatal("daemon");
	sfd = signals_fd();
	start_generation(o, lfd, nengines);
	if (bound)
		log_info("listening on %s", path);
	log_info("%d engines started", nengines);
	notify_ready();
	if (notify_watchdog_usec(&wd_usec) > 0)
		next_wd = ev_clock_ms();

	while (!stopping || nkids > 0) {
		struct pollfd pfd[1 + 2 * MAX_ENGINES];
		struct signalfd_siginfo si;
		uint64_t now = ev_clock_ms();
		int npfd = 1;

		if (wd_usec && now >= next_wd) {
			notify_watchdog();
			next_wd = now + wd_usec / 2000;
		}
		if (now >= next_status) {
			report_status();
			next_status = now + 1000;
		}
		/* An engine that died young is restarted at most once a
		 * second, so a crash loop cannot spin. */
		if (delayed > 0 && !stopping && now >= next_restart) {
			delayed--;
			spawn(o, lfd, nkids);
			next_restart = now + 1000;
		}
		/* The signals and every engine's channel: signing requests
		 * are answered as soon as they arrive. */
		pfd[0].fd = sfd;
		pfd[0].events = POLLIN;
		for (int i = 0; i < nkids; i++) {
			if (kids[i].ctl == -1)
				continue;
			pfd[npfd].fd = kids[i].ctl;
			pfd[npfd].events = POLLIN;
			npfd++;
		}
		if (poll(pfd, (nfds_t)npfd, 250) == -1 && errno != EINTR)
			fatal("poll");
		for (int i = 1; i < npfd; i++)
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				for (int j = 0; j < nkids; j++)
					if (kids[j].ctl == pfd[i].fd)
						ctl_read(&kids[j]);
		while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			switch (si.ssi_signo) {
			case SIGCHLD: {
				int due = reap(stopping, &delayed);

				while (due-- > 0)
					spawn(o, lfd, nkids);
				break;
			}
			case SIGHUP:
				if (!stopping)
					reload(o, lfd, &nengines);
				break;
			default:
				if (!stopping) {
					log_info("stopping");
					notify_stopping();
					stopping = 1;
					drain_generation(generation);
					for (int i = 0; i < nkids; i++)
						kill(kids[i].pid, SIGTERM);
				}
			}
		}
		if (stopping)
			reap(1, &delayed);
	}
	if (bound)
		unlink(path);
	keytab_free(cur_keys);
	return 0;
}

int
main(int argc, char *argv[])
{
	struct opts o;

	parse_opts(&o, argc, argv);
	{
		ssize_t n = readlink("/proc/self/exe", self_exe,
		    sizeof(self_exe) - 1);

		if (n > 0)
			self_exe[n] = '\0';
		else
			snprintf(self_exe, sizeof(self_exe), "/proc/self/exe");
	}
	/* Engines are started with -d when the parent runs in the
	 * foreground: both log to stderr. */
	log_init(o.foreground || o.check || isatty(STDERR_FILENO), o.verbose,
	    o.engine ? "engine" : "cpconnectd");
	signal(SIGPIPE, SIG_IGN);
	if (o.engine)
		engine_main(&o);
	return parent_main(&o);
}
