/* SPDX-License-Identifier: ISC */
/*
 * cpconnectd: the parent process.
 *
 * It reads the configuration, takes the listening socket (from systemd or
 * by binding it), and starts one engine per CPU by fork + exec of itself
 * with -E.  It never reads a byte from a client.  It restarts engines that
 * die, reloads on SIGHUP by starting a new generation of engines and
 * letting the old one drain, and keeps systemd informed.
 *
 * It accepts the clients and deals them to the engines in turn (deal.h).
 *
 * Descriptor convention for an engine: 3 = its client channel (deal.h:
 * each client the parent accepted for it, nothing read), 4 = channel
 * to the parent (SOCK_SEQPACKET, one message per datagram, see ctl.h):
 * the parent first sends the client certificates, the engine sends
 * struct ctl_stats once a second and a signing request whenever a
 * handshake needs its client key, which only the parent holds; CTL_DRAIN
 * or the end of file tells the engine to drain and exit.  5 = the
 * configuration text the parent validated (a sealed memfd), when the
 * engine is started with -c NAME; without -c the built-in policy applies.
 * 6 = the trust store and CRLs the parent read (trust.h, a sealed memfd).
 * Engines never open the configuration file: an edited or broken file
 * changes nothing until a reload succeeds, and a restarted engine runs
 * what its generation started with.  stdin and stdout are /dev/null;
 * nothing else the parent inherited reaches an engine.
 */
#include <sys/mman.h>
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
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "conf.h"
#include "control.h"
#include "cpproto.h"
#include "deal.h"
#include "engine.h"
#include "ev.h"
#include "keydecode.h"
#include "keyring.h"
#include "keytab.h"
#include "log.h"
#include "notify.h"
#include "pcred.h"
#include "pcache.h"
#include "resolve.h"
#include "sandbox.h"
#include "tls.h"
#include "trust.h"

#define ENGINE_CLIENTFD 3
#define ENGINE_CTLFD 4
#define ENGINE_CONFFD 5
#define ENGINE_TRUSTFD 6
#define MAX_ENGINES 64
/* An engine that dies within EARLY_MS of its start never served: its
 * restarts back off (RESTART_MS doubling up to RESTART_MAX_MS), and after
 * MAX_EARLY such deaths in a row the daemon gives up with an error
 * systemd can see, rather than looping. */
#define EARLY_MS 2000
#define RESTART_MS 250
#define RESTART_MAX_MS 8000
#define MAX_EARLY 6
/* After accept ran out of descriptors or memory: a pause, not a spin. */
#define ACCEPT_PAUSE_MS 100

struct child {
	pid_t pid;
	int ctl;      /* stays open while draining: old keys still sign */
	int draining; /* told to drain */
	int badmsg;   /* malformed datagrams seen (logged once) */
	struct keytab *keys; /* its generation's keys */
	int gen;
	int id; /* engine number in its generation */
	struct engine_stats st;
	uint64_t started;
	struct deal_chan cc; /* its client channel */
	int ready;           /* sent its first statistics: its loop runs */
	int replaying;	   /* its session cache replica is being filled */
	unsigned replayed; /* sessions sent so far */
};

struct opts {
	int foreground, verbose, check, engine, nosandbox, nengines;
	const char *conffile, *sockpath, *resolvers;
	const char *confname; /* engine: -c, the text is on ENGINE_CONFFD */
	int engine_id;
	char *const *argv;
};

static struct child kids[2 * MAX_ENGINES];
static int nkids;
static int generation;
static int nengines_cur; /* engines in the current generation */
static struct keytab *cur_keys; /* the current generation's keys */
static struct pcred *cur_creds; /* ... and proxy credentials */
/* The current generation's validated configuration: a sealed memfd with
 * its text and the name it was parsed under, or -1 for the built-in
 * policy. */
static int cur_conffd = -1;
static char cur_confname[PATH_MAX];
/* The trust data of a generation (trust.h): the engines' sealed copy, and
 * the files it and the client keys came from, watched for changes every
 * reload_ms. */
struct trustgen {
	int fd;
	struct fwatch *watch;
	unsigned reload_ms;
};
static struct trustgen cur_trust = {.fd = -1};
/* Counts of engines that are gone, so STATUS= and cpconnectctl totals
 * never go back. */
static struct engine_stats retired;
static uint64_t restarts;   /* engines restarted after dying */
static uint64_t started_ms; /* for the uptime */
static int cur_verbose;     /* engines start with it: cpconnectctl log */
static int early_deaths; /* in a row; see MAX_EARLY */
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

/* A sealed, read-only copy of the text: engines cannot change what the
 * next engine of their generation will run. */
static int
conf_snapshot(const char *text, size_t len, char *err, size_t errsz)
{
	int fd;

	if ((fd = memfd_create("cpconnectd.conf", MFD_CLOEXEC |
			       MFD_ALLOW_SEALING)) == -1)
		goto fail;
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, text + off, len - off);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE |
		F_SEAL_SEAL) == -1)
		goto fail;
	return fd;
fail:
	snprintf(err, errsz, "configuration snapshot: %s", strerror(errno));
	if (fd != -1)
		close(fd);
	return -1;
}

/* As root the engines drop to the configured user: it must exist now,
 * not only when an engine first needs it. */
static int
check_user(const struct opts *o, const struct cpconf *cf, char *err,
    size_t errsz)
{
	if (geteuid() != 0 || o->nosandbox)
		return 0;
	errno = 0;
	if (getpwnam(cf->g.user) != NULL)
		return 0;
	snprintf(err, errsz, "engine user '%s' does not exist: create it "
	    "(systemd-sysusers) or set 'user'", cf->g.user);
	return -1;
}

/* -R is read by every engine at its start: a list they cannot use would
 * have them all fail there, so it is tried here first (and by -n). */
static int
check_resolvers(const struct opts *o, char *err, size_t errsz)
{
	struct resolver *r;

	if (o->resolvers == NULL)
		return 0;
	if ((r = resolver_new(NULL, o->resolvers, err, errsz)) == NULL)
		return -1;
	resolver_free(r);
	return 0;
}

/* Read the trust store and the CRLs into a sealed copy for the engines;
 * tg->watch was taken before any of the files was read. */
static int
trust_prepare(
    const struct cpconf *cf, struct trustgen *tg, char *err, size_t errsz)
{
	struct trust *t;

	tg->reload_ms = cf->g.reload_ms;
	if (trust_load(&t, cf, err, errsz) == -1)
		return -1;
	log_debug("trust store: %zu anchors, %zu CRLs", trust_nanchors(t),
	    trust_ncrls(t));
	tg->fd = trust_memfd(t, err, errsz);
	trust_free(t);
	return tg->fd == -1 ? -1 : 0;
}

static void
trustgen_clear(struct trustgen *tg)
{
	if (tg->fd != -1)
		close(tg->fd);
	tg->fd = -1;
	fwatch_free(tg->watch);
	tg->watch = NULL;
}

/*
 * Read, parse and check the configuration, load every client key it
 * names and the trust data (tg), and keep the text for the engines.  An
 * explicit -f must exist;
 * the default file may be absent, and then the built-in policy applies
 * (*conffd -1).
 */
static struct cpconf *
load_conf(const struct opts *o, struct keytab **keys, struct pcred **creds,
    int *conffd, struct trustgen *tg, char *err, size_t errsz)
{
	const char *name = o->conffile ? o->conffile : CONF_DEFAULT_PATH;
	struct cpconf *cf = NULL;
	char *text;
	size_t len;
	int r;

	*conffd = -1;
	tg->fd = -1;
	tg->watch = NULL;
	if ((r = conf_read(o->conffile, &text, &len, err, errsz)) == -1)
		return NULL;
	if (r == 0)
		r = conf_default(&cf, geteuid() != 0) == 0
		    ? 0
		    : (snprintf(err, errsz, "out of memory"), -1);
	else {
		r = conf_parse(&cf, name, text, len, err, errsz);
		if (r == 0 &&
		    (*conffd = conf_snapshot(text, len, err, errsz)) == -1)
			r = -1;
		free(text);
	}
	*creds = NULL;
	if (r == 0 && (tg->watch = fwatch_conf(cf)) == NULL)
		r = (snprintf(err, errsz, "out of memory"), -1);
	if (r == 0 && keytab_load(keys, cf, err, errsz) == -1)
		r = -1;
	if (r == 0 && (pcred_load(creds, cf, err, errsz) == -1 ||
	                  check_user(o, cf, err, errsz) == -1 ||
	                  check_resolvers(o, err, errsz) == -1 ||
	                  trust_prepare(cf, tg, err, errsz) == -1)) {
		keytab_free(*keys);
		*keys = NULL;
		pcred_free(*creds);
		*creds = NULL;
		r = -1;
	}
	if (r == -1) {
		trustgen_clear(tg);
		if (*conffd != -1)
			close(*conffd);
		*conffd = -1;
		conf_free(cf);
		return NULL;
	}
	return cf;
}

/* The engine's part: the text its parent validated, parsed again here
 * (the parsed form holds pointers: it cannot travel). */
static struct cpconf *
engine_conf(const struct opts *o, char *err, size_t errsz)
{
	struct cpconf *cf = NULL;
	struct stat st;
	char *text;
	ssize_t n;
	int r;

	if (o->confname == NULL) {
		if (conf_default(&cf, geteuid() != 0) == -1)
			snprintf(err, errsz, "out of memory");
		return cf;
	}
	if (fstat(ENGINE_CONFFD, &st) == -1 || st.st_size > CONF_MAX_FILE) {
		snprintf(err, errsz, "configuration from the parent: %s",
		    strerror(errno ? errno : EFBIG));
		return NULL;
	}
	if ((text = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	n = pread(ENGINE_CONFFD, text, (size_t)st.st_size, 0);
	close(ENGINE_CONFFD);
	if (n != st.st_size) {
		snprintf(err, errsz, "configuration from the parent: short "
		    "read");
		free(text);
		return NULL;
	}
	r = conf_parse(&cf, o->confname, text, (size_t)n, err, errsz);
	free(text);
	return r == 0 ? cf : NULL;
}

static void
parse_opts(struct opts *o, int argc, char *argv[])
{
	int ch;

	memset(o, 0, sizeof(*o));
	o->argv = argv;
	while ((ch = getopt(argc, argv, "c:dE:f:N:nR:s:Sv")) != -1) {
		switch (ch) {
		case 'c':
			o->confname = optarg;
			break;
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
engine_ssl(const struct cpconf *cf, const struct trust *trust)
{
	struct tls_settings ts;
	char err[256];
	SSL_CTX *ctx;

	memset(&ts, 0, sizeof(ts));
	ts.min_version = cf->tls.min_version;
	ts.ca_file = cf->g.ca_file;
	ts.ca_dir = cf->g.ca_path;
	ts.store = trust_store(trust);
	ts.no_vcache = !cf->g.verify_cache;
	if ((ctx = tls_ctx_new(&ts, err, sizeof(err))) == NULL)
		fatalx("trust store: %s", err);
	return ctx;
}

static int __attribute__((noreturn))
engine_main(const struct opts *o)
{
	struct engine_env env;
	struct cpconf *cf;
	struct trust *trust;
	char err[512], name[32];
	int rv;

	snprintf(name, sizeof(name), "engine %d", o->engine_id);
	log_procname(name);
	if (keydecode_init(err, sizeof(err)) == -1)
		log_warnx("%s: certificates decode more slowly", err);
	if ((cf = engine_conf(o, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	memset(&env, 0, sizeof(env));
	env.id = o->engine_id;
	env.nengines = o->nengines;
	env.clients = ENGINE_CLIENTFD;
	env.ctlfd = ENGINE_CTLFD;
	env.conf = cf;
	env.resolvers = o->resolvers;
	/* The client certificates come from the parent, which read them
	 * together with their keys: certificate and key always match, even
	 * when the files change under a reload.  The keys stay there. */
	if (keyring_recv(&env.keys, ENGINE_CTLFD, 10000, err, sizeof(err)) ==
	    -1)
		fatalx("client certificates: %s", err);
	/* The trust store and CRLs, read by the parent. */
	if (trust_recv(&trust, ENGINE_TRUSTFD, err, sizeof(err)) == -1)
		fatalx("%s", err);
	close(ENGINE_TRUSTFD);
	env.trust = trust;
	/* Proxy credentials too: the files are the parent's to read. */
	if (pcred_recv(&env.creds, ENGINE_CTLFD, 10000, err, sizeof(err)) ==
	    -1)
		fatalx("proxy credentials: %s", err);
	/* Everything that needs the file system happens before this. */
	env.ssl = engine_ssl(cf, trust);
	if (!o->nosandbox) {
		engine_sandboxed = 1;
		rv = sandbox_engine(geteuid() == 0 ? cf->g.user : NULL, 0, err,
		    sizeof(err));
		if (rv == -1)
			fatalx("sandbox: %s", err);
		if (rv == 1)
			log_warnx("sandbox: %s", err);
	}
	rv = engine_run(&env);
	SSL_CTX_free(env.ssl);
	trust_free(trust);
	keyring_free(env.keys);
	pcred_free(env.creds);
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

/*
 * In the child, before exec: /dev/null on 0 and 1, stderr kept for the
 * log, the client channel on 3, the channel on 4, the configuration on
 * 5, the trust data on 6, and nothing else, whatever the parent
 * inherited.  Sources first go above the targets so no dup2() overwrites
 * one still needed.
 */
static void
engine_fds(int clients, int ctl, int conffd, int trustfd)
{
	int null, src[4] = {clients, ctl, conffd, trustfd}, i;

	for (i = 0; i < 4; i++)
		if (src[i] != -1 &&
		    (src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 10)) == -1)
			_exit(127);
	if ((null = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1 ||
	    dup2(null, STDIN_FILENO) == -1 || dup2(null, STDOUT_FILENO) == -1)
		_exit(127);
	for (i = 0; i < 4; i++)
		if (src[i] != -1 && dup2(src[i], ENGINE_CLIENTFD + i) == -1)
			_exit(127);
	if ((conffd == -1 && close(ENGINE_CONFFD) == -1 && errno != EBADF) ||
	    close_range(ENGINE_TRUSTFD + 1, ~0U, 0) == -1)
		_exit(127);
}

static void
spawn(const struct opts *o, int id)
{
	const struct timeval sndtimeo = {.tv_sec = 5};
	char *argv[20], idbuf[16], nbuf[16];
	struct deal_chan cc;
	int sv[2], cend, i = 0, k;
	pid_t pid;

	if (nkids == (int)(sizeof(kids) / sizeof(kids[0])))
		fatalx("too many engines");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1 ||
	    deal_chan_open(&cc, &cend) == -1)
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
	for (k = 0; k < cur_verbose && k < 2; k++)
		argv[i++] = "-v";
	if (o->nosandbox)
		argv[i++] = "-S";
	if (cur_conffd != -1) {
		argv[i++] = "-c";
		argv[i++] = cur_confname;
	}
	if (o->resolvers) {
		argv[i++] = "-R";
		argv[i++] = (char *)o->resolvers;
	}
	argv[i] = NULL;

	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		engine_fds(cend, sv[1], cur_conffd, cur_trust.fd);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		execv(self_exe, argv);
		_exit(127);
	}
	close(sv[1]);
	close(cend);
	/* The engine reads these first; a dead engine is reaped and
	 * restarted as usual, one that does not read cannot hold us. */
	if (setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &sndtimeo,
		sizeof(sndtimeo)) == -1 ||
	    keytab_send(cur_keys, sv[0]) == -1 ||
	    pcred_send(cur_creds, sv[0]) == -1)
		log_warn("engine %d: sending the certificates", id);
	memset(&kids[nkids], 0, sizeof(kids[nkids]));
	kids[nkids].pid = pid;
	kids[nkids].ctl = sv[0];
	kids[nkids].cc = cc;
	kids[nkids].keys = keytab_ref(cur_keys);
	kids[nkids].gen = generation;
	kids[nkids].id = id;
	kids[nkids].started = ev_clock_ms();
	memset(&kids[nkids].st, 0, sizeof(kids[nkids].st));
	kids[nkids].replaying = !pcache_replay(sv[0], &kids[nkids].replayed);
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
/* The channels of the live engines but k's, for what one engine tells
 * the others; out has room for every child. */
static int
other_ctls(const struct child *k, int *out)
{
	int i, n = 0;

	for (i = 0; i < nkids; i++)
		if (&kids[i] != k && kids[i].ctl != -1 && !kids[i].draining)
			out[n++] = kids[i].ctl;
	return n;
}

/* A TLS 1.3 ticket for the engine that waits for it (resume.h). */
static void
relay_ticket(const void *msg, size_t n)
{
	struct ctl_ticket t;
	int i;

	if (n < sizeof(t))
		return;
	memcpy(&t, msg, sizeof(t));
	if (t.len == 0 || t.len > CTL_TICKET_MAX || t.len != n - sizeof(t))
		return;
	for (i = 0; i < nkids; i++)
		if (kids[i].pid == (pid_t)t.owner && kids[i].ctl != -1) {
			if (send(kids[i].ctl, msg, n,
			        MSG_DONTWAIT | MSG_NOSIGNAL) == -1)
				log_debug("engine pid %d: ticket: %s",
				    (int)kids[i].pid, strerror(errno));
			return;
		}
}

static void
ctl_read(struct child *k)
{
	static union {
		uint32_t type;
		struct ctl_stats cs;
		struct keys_sign_req rq;
		unsigned char raw[CTL_MAX_MSG];
	} m;
	int out[2 * MAX_ENGINES];
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
			k->ready = 1;
			continue;
		}
		if (m.type == CTL_SESS_PUT && (size_t)n <= sizeof(m)) {
			pcache_put(&m, (size_t)n, out, other_ctls(k, out));
			explicit_bzero(&m, (size_t)n);
			continue;
		}
		if (m.type == CTL_TICKET && (size_t)n <= sizeof(m)) {
			relay_ticket(&m, (size_t)n);
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

/* Every engine's counts, the gone ones' included; live engines of the
 * current generation counted. */
static int
stats_sum(struct engine_stats *t)
{
	int i, live = 0;

	stats_read();
	*t = retired;
	t->inflight = t->sessions = 0; /* gauges: the live engines only */
	for (i = 0; i < nkids; i++) {
		ctl_stats_add(t, &kids[i].st);
		if (kids[i].gen == generation)
			live++;
	}
	return live;
}

static void
report_status(void)
{
	struct engine_stats t;
	int live = stats_sum(&t);
	unsigned long long served = t.served, failed = t.failed;
	uint32_t inflight = t.inflight, sessions = t.sessions;
	if (keytab_count(cur_keys) > 0 || keys_signatures() > 0)
		notify_status("%d engines, %llu requests served (%llu failed), "
			      "%u in flight, %u sessions, %llu signatures",
		    live, served, failed, inflight, sessions,
		    (unsigned long long)keys_signatures());
	else
		notify_status("%d engines, %llu requests served (%llu failed), "
			      "%u in flight, %u sessions",
		    live, served, failed, inflight, sessions);
}

/* Restarts due, by engine number, and when the next may start. */
static int restart_ids[2 * MAX_ENGINES];
static int nrestart;
static uint64_t next_restart;

/*
 * A current engine died: restart it, at once if it had been serving, with
 * a growing delay if it died at start.  Persistent failure at start ends
 * the daemon (exit 1), so systemd sees it.
 */
static void
engine_died(const struct child *k, int status)
{
	uint64_t now = ev_clock_ms(), delay = 0;

	if (WIFSIGNALED(status))
		/* The format is what the tests read.  SIGSYS comes from the
		 * seccomp filter (a call of another architecture: the list's
		 * own misses fail with EPERM), so say where to look. */
		log_warnx("engine pid %d killed by signal %d (%s)", (int)k->pid,
		    WTERMSIG(status),
		    WTERMSIG(status) == SIGSYS
		        ? "the seccomp filter stopped a system call: the "
		          "kernel's audit log names it, -S runs without the "
		          "sandbox"
		        : strsignal(WTERMSIG(status)));
	else
		log_warnx("engine pid %d exited with status %d", (int)k->pid,
		    WEXITSTATUS(status));
	if (now - k->started < EARLY_MS) {
		if (++early_deaths >= MAX_EARLY) {
			log_warnx("engines failed %d times in a row within "
				  "%d ms of their start: giving up",
			    early_deaths, EARLY_MS);
			return;
		}
		delay = (uint64_t)RESTART_MS << (early_deaths - 1);
		if (delay > RESTART_MAX_MS)
			delay = RESTART_MAX_MS;
		log_warnx("restarting engine %d in %llu ms", k->id,
		    (unsigned long long)delay);
	} else
		early_deaths = 0;
	restarts++;
	if (nrestart < (int)(sizeof(restart_ids) / sizeof(restart_ids[0])))
		restart_ids[nrestart++] = k->id;
	if (next_restart < now + delay)
		next_restart = now + delay;
}

/* Reap engines; their last statistics join the retired totals. */
static void
reap(int stopping)
{
	int status, i;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < nkids && kids[i].pid != pid; i++)
			;
		if (i == nkids)
			continue;
		ctl_read(&kids[i]);
		ctl_stats_add(&retired, &kids[i].st);
		if (kids[i].ctl != -1)
			close(kids[i].ctl);
		deal_chan_close(&kids[i].cc);
		keytab_free(kids[i].keys);
		if (kids[i].gen == generation && !stopping)
			engine_died(&kids[i], status);
		else
			log_debug("engine pid %d finished", (int)pid);
		kids[i] = kids[--nkids];
	}
}

static void
restart_due(const struct opts *o)
{
	if (nrestart == 0 || ev_clock_ms() < next_restart)
		return;
	while (nrestart > 0)
		spawn(o, restart_ids[--nrestart]);
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
start_generation(const struct opts *o, int n)
{
	int i;

	generation++;
	nengines_cur = n;
	for (i = 0; i < n; i++)
		spawn(o, i);
}

/* The current generation's configuration becomes this one. */
static void
set_current(struct keytab *keys, struct pcred *creds, int conffd,
    struct trustgen *tg, const struct opts *o)
{
	keytab_free(cur_keys); /* old engines keep their own references */
	cur_keys = keys;
	if (creds != cur_creds) {
		pcred_free(cur_creds); /* wiped: the engines have their copies */
		cur_creds = creds;
	}
	if (cur_conffd != -1 && cur_conffd != conffd)
		close(cur_conffd);
	cur_conffd = conffd;
	trustgen_clear(&cur_trust);
	cur_trust = *tg;
	snprintf(cur_confname, sizeof(cur_confname), "%s",
	    o->conffile ? o->conffile : CONF_DEFAULT_PATH);
}

/* SIGHUP: a bad file keeps the old policy.  A good one gets a new
 * generation of engines; the old one finishes its requests and exits, so
 * requests in flight end under the policy they started with. */
static int
reload(const struct opts *o, char *err, size_t errsz)
{
	struct cpconf *cf;
	struct keytab *keys = NULL;
	struct trustgen tg;
	struct pcred *creds = NULL;
	int conffd, n;

	notify_reloading();
	if ((cf = load_conf(o, &keys, &creds, &conffd, &tg, err, errsz)) ==
	    NULL) {
		log_warnx("reload failed, keeping the running configuration: "
			  "%s",
		    err);
		notify_ready();
		return -1;
	}
	n = engine_count(cf);
	pcache_config(cf->g.session_cache, cf->g.session_cache_size);
	conf_free(cf);
	set_current(keys, creds, conffd, &tg, o);
	early_deaths = 0;
	nrestart = 0; /* the new generation replaces the dead engines */
	drain_generation(generation);
	start_generation(o, n);
	log_info("configuration reloaded");
	notify_ready();
	return 0;
}

/* The current generation's configuration, parsed again from its sealed
 * text: a file on disk edited since is not this generation's. */
static struct cpconf *
current_conf(char *err, size_t errsz)
{
	struct cpconf *cf = NULL;
	struct stat st;
	char *text;
	ssize_t n;
	int r;

	if (cur_conffd == -1) {
		if (conf_default(&cf, geteuid() != 0) == -1)
			snprintf(err, errsz, "out of memory");
		return cf;
	}
	if (fstat(cur_conffd, &st) == -1 || st.st_size > CONF_MAX_FILE ||
	    (text = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(err, errsz, "configuration snapshot: %s",
		    strerror(errno ? errno : EFBIG));
		return NULL;
	}
	n = pread(cur_conffd, text, (size_t)st.st_size, 0);
	r = n == st.st_size ? conf_parse(&cf, cur_confname, text, (size_t)n,
	                          err, errsz)
	                    : (snprintf(err, errsz, "configuration snapshot: "
	                                            "short read"),
	                          -1);
	free(text);
	return r == 0 ? cf : NULL;
}

/*
 * A trust store, CRL, client certificate or key file changed: the same as
 * a reload of that data alone, under the running configuration.  A file
 * that does not load keeps the data the engines have, with an error in
 * the log (once: the watch remembers the broken file's state).
 */
static void
refresh_if_changed(const struct opts *o)
{
	struct cpconf *cf;
	struct keytab *keys = NULL;
	struct trustgen tg = {.fd = -1};
	char which[PATH_MAX], err[1024];

	if (!fwatch_changed(cur_trust.watch, which, sizeof(which)))
		return;
	if ((cf = current_conf(err, sizeof(err))) == NULL ||
	    (tg.watch = fwatch_conf(cf)) == NULL ||
	    keytab_load(&keys, cf, err, sizeof(err)) == -1 ||
	    trust_prepare(cf, &tg, err, sizeof(err)) == -1) {
		if (cf != NULL && tg.watch == NULL)
			snprintf(err, sizeof(err), "out of memory");
		log_warnx("%s changed, but the new data does not load, "
		          "keeping what the engines have: %s",
		    which, err);
		keytab_free(keys);
		trustgen_clear(&tg);
		conf_free(cf);
		return;
	}
	conf_free(cf);
	set_current(keys, cur_creds, cur_conffd, &tg, o);
	early_deaths = 0;
	nrestart = 0;
	drain_generation(generation);
	start_generation(o, nengines_cur);
	log_info("%s changed: trust store, CRLs and client certificates "
	         "reloaded",
	    which);
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

/* The listening socket, and the state the main loop needs. */
struct parent {
	const struct opts *o;
	int lfd, sfd, bound, stopping;
	int cfd; /* control socket */
	char path[PATH_MAX]; /* a copy: the configuration goes before we do */
	char cpath[PATH_MAX];
	uint64_t wd_usec, next_wd, next_status;
	uint64_t next_watch; /* next look at the trust and key files */
	unsigned next_engine;  /* the next client goes to it (deal.h) */
	uint64_t accept_pause; /* no accept before, after EMFILE and such */
};

static void
parent_listen(struct parent *p, const struct cpconf *cf)
{
	const char *path = p->o->sockpath ? p->o->sockpath : cf->g.socket_path;
	mode_t mode = (mode_t)cf->g.socket_mode;

	if ((size_t)snprintf(p->path, sizeof(p->path), "%s", path) >=
	    sizeof(p->path))
		fatalx("socket path too long: %s", path);
	/* A user's own daemon under the built-in policy serves that user:
	 * another user's sandboxed service must not borrow its network. */
	if (geteuid() != 0 && p->o->conffile == NULL &&
	    access(CONF_DEFAULT_PATH, F_OK) == -1)
		mode = 0600;
	p->lfd = listen_socket(p->path, mode, cf->g.socket_gid, &p->bound);
}

static void
parent_stop(struct parent *p, const char *why)
{
	if (p->stopping)
		return;
	log_info("stopping%s%s", why ? ": " : "", why ? why : "");
	notify_stopping();
	p->stopping = 1;
	drain_generation(generation);
	for (int i = 0; i < nkids; i++)
		kill(kids[i].pid, SIGTERM);
}

/* New engines' session cache replicas, a channel's worth each turn. */
static void
replay_due(void)
{
	int i;

	for (i = 0; i < nkids; i++)
		if (kids[i].replaying && kids[i].ctl != -1)
			kids[i].replaying =
			    !pcache_replay(kids[i].ctl, &kids[i].replayed);
}

static void
parent_timers(struct parent *p)
{
	uint64_t now = ev_clock_ms();

	if (p->wd_usec && now >= p->next_wd) {
		notify_watchdog();
		p->next_wd = now + p->wd_usec / 2000;
	}
	if (now >= p->next_status) {
		report_status();
		p->next_status = now + 1000;
	}
	if (!p->stopping)
		restart_due(p->o);
	if (!p->stopping && cur_trust.reload_ms > 0 && now >= p->next_watch) {
		p->next_watch = now + cur_trust.reload_ms;
		refresh_if_changed(p->o);
	}
	replay_due();
}

/* ---- the control socket (control.h, cpconnectctl) ---- */

/* Short names of the outcomes, by CP_E_* error class. */
static const char *const outcome_name[CP_E_MAX] = {
    [CP_E_NONE] = "ok",
    [CP_E_NONAME] = "noname",
    [CP_E_REFUSED] = "refused",
    [CP_E_UNREACH] = "unreach",
    [CP_E_TIMEDOUT] = "timedout",
    [CP_E_PROTO] = "proto",
    [CP_E_LIMIT] = "limit",
    [CP_E_DENIED] = "denied",
    [CP_E_TLS] = "tls",
    [CP_E_VERIFY] = "verify",
    [CP_E_INTERNAL] = "internal",
    [CP_E_PROXY] = "proxy",
};

static void
control_status(struct obuf *b)
{
	struct engine_stats t;
	int live = stats_sum(&t);

	obuf_printf(b, "engines %d\n", live);
	obuf_printf(b, "generation %d\n", generation);
	obuf_printf(b, "uptime %llu\n",
	    (unsigned long long)((ev_clock_ms() - started_ms) / 1000));
	obuf_printf(b, "config %s\n",
	    cur_conffd != -1 ? cur_confname : "built-in");
	obuf_printf(b, "pid %d\n", (int)getpid());
	obuf_printf(b, "verbose %d\n", cur_verbose);
	obuf_printf(b, "sessions %u\n", t.sessions);
	obuf_printf(b, "inflight %u\n", t.inflight);
	obuf_printf(b, "served %llu\n", (unsigned long long)t.served);
	obuf_printf(b, "failed %llu\n", (unsigned long long)t.failed);
}

static void
control_stats(struct obuf *b)
{
	struct engine_stats t;
	uint32_t i;

	stats_sum(&t);
	obuf_printf(b, "requests %llu\n", (unsigned long long)t.served);
	for (i = 0; i < CP_E_MAX; i++)
		obuf_printf(b, "outcome.%s %llu\n", outcome_name[i],
		    (unsigned long long)t.outcome[i]);
	obuf_printf(b, "kind.tcp %llu\n", (unsigned long long)t.kind[0]);
	obuf_printf(b, "kind.tls %llu\n", (unsigned long long)t.kind[1]);
	obuf_printf(b, "handshakes %llu\n", (unsigned long long)t.handshakes);
	obuf_printf(b, "dial.reordered %llu\n",
	    (unsigned long long)t.dial_reordered);
	obuf_printf(
	    b, "verify.cached %llu\n", (unsigned long long)t.verify_cached);
	obuf_printf(b, "restarts %llu\n", (unsigned long long)restarts);
	obuf_printf(b, "signatures %llu\n",
	    (unsigned long long)keys_signatures());
	obuf_printf(b, "latency.p50 %u\n", ctl_stats_pct(&t, 50));
	obuf_printf(b, "latency.p90 %u\n", ctl_stats_pct(&t, 90));
	obuf_printf(b, "latency.p99 %u\n", ctl_stats_pct(&t, 99));
	obuf_printf(b, "latency.sum %llu\n", (unsigned long long)t.lat_sum_ms);
	for (i = 0; i < CTL_LAT_BUCKETS - 1; i++)
		obuf_printf(b, "bucket.%u %llu\n", ctl_lat_ms[i],
		    (unsigned long long)t.lat[i]);
	obuf_printf(b, "bucket.inf %llu\n",
	    (unsigned long long)t.lat[CTL_LAT_BUCKETS - 1]);
	/* What each uid did for sure; ctl.h says how the table is kept. */
	for (i = 0; i < t.nuids; i++)
		if (t.uids[i].n > t.uids[i].err)
			obuf_printf(b, "uid.%u %llu\n", t.uids[i].uid,
			    (unsigned long long)(t.uids[i].n - t.uids[i].err));
	obuf_printf(b, "uid.other %llu\n",
	    (unsigned long long)ctl_stats_uid_other(&t));
	pcache_stats(b, t.cache_hits, t.cache_misses);
}

/* Every engine's log level, and the one engines start with. */
static void
set_verbose(int level)
{
	struct ctl_verbose m = {.type = CTL_VERBOSE, .level = (uint32_t)level};

	cur_verbose = level;
	log_set_verbose(level);
	for (int i = 0; i < nkids; i++)
		if (kids[i].ctl != -1 &&
		    send(kids[i].ctl, &m, sizeof(m),
			MSG_DONTWAIT | MSG_NOSIGNAL) == -1)
			log_warn("engine pid %d: log level", (int)kids[i].pid);
	log_info("log level: %s", level ? "verbose" : "brief");
}

/* Every engine forgets its sessions, the draining ones too. */
static void
control_cache_flush(struct obuf *b)
{
	int out[2 * MAX_ENGINES], i, n = 0;
	unsigned dropped;

	for (i = 0; i < nkids; i++)
		if (kids[i].ctl != -1)
			out[n++] = kids[i].ctl;
	dropped = pcache_flush(out, n);
	log_info("session cache flushed: %u sessions", dropped);
	obuf_printf(b, "flushed %u\n", dropped);
}

static int
control_cmd(enum control_cmd cmd, struct obuf *b, char *err, size_t errsz,
    void *arg)
{
	struct parent *p = arg;

	switch (cmd) {
	case CONTROL_STATUS:
		control_status(b);
		return 0;
	case CONTROL_STATS:
		control_stats(b);
		return 0;
	case CONTROL_RELOAD:
		if (p->stopping) {
			snprintf(err, errsz, "the daemon is stopping");
			return -1;
		}
		if (reload(p->o, err, errsz) == -1)
			return -1;
		obuf_printf(b, "generation %d\n", generation);
		return 0;
	case CONTROL_VERBOSE:
	case CONTROL_BRIEF:
		set_verbose(cmd == CONTROL_VERBOSE ? 1 : 0);
		return 0;
	case CONTROL_CACHE_LIST:
		pcache_list(b);
		return 0;
	case CONTROL_CACHE_FLUSH:
		control_cache_flush(b);
		return 0;
	}
	snprintf(err, errsz, "unknown command");
	return -1;
}

/* control-socket, or <socket>.ctl next to the client socket. */
static void
parent_control(struct parent *p, const struct cpconf *cf)
{
	char err[512];
	int n;

	if (cf->g.control_path != NULL)
		n = snprintf(p->cpath, sizeof(p->cpath), "%s",
		    cf->g.control_path);
	else
		n = snprintf(p->cpath, sizeof(p->cpath), "%s.ctl", p->path);
	if (n < 0 || (size_t)n >= sizeof(p->cpath))
		fatalx("control socket path too long");
	/* The service matters more than its administration: without the
	 * control socket the daemon still serves (poll skips fd -1). */
	if ((p->cfd = control_listen(p->cpath, err, sizeof(err))) == -1) {
		log_warnx("%s: cpconnectctl will not reach this daemon", err);
		p->cpath[0] = '\0';
	}
}

/* Where clients go (deal.h): the current generation's engines that do
 * not drain, those whose loop already runs first (a restarted engine is
 * still starting). */
static int
deal_targets(struct deal_chan **out)
{
	int i, n = 0, pass;

	for (pass = 0; pass < 2 && n == 0; pass++)
		for (i = 0; i < nkids; i++)
			if (kids[i].gen == generation && !kids[i].draining &&
			    deal_chan_fd(&kids[i].cc) != -1 &&
			    (kids[i].ready || pass))
				out[n++] = &kids[i].cc;
	return n;
}

/* Whether one of the targets can take a client now: otherwise the
 * backlog waits, rather than the poll spinning on it. */
static int
deal_room(struct deal_chan *const *chans, int n)
{
	for (int i = 0; i < n; i++)
		if (!deal_chan_blocked(chans[i]))
			return 1;
	return 0;
}

/* The signals, the listening socket and every engine's channels:
 * clients are dealt and signing requests answered as they arrive. */
static void
parent_poll(struct parent *p)
{
	struct pollfd pfd[3 + 2 * (2 * MAX_ENGINES)];
	struct deal_chan *chans[2 * MAX_ENGINES];
	int kid[3 + 2 * (2 * MAX_ENGINES)];
	int npfd = 3, nchans = deal_targets(chans);

	pfd[0].fd = p->sfd;
	pfd[1].fd = p->cfd;
	pfd[2].fd = !p->stopping && deal_room(chans, nchans) &&
	                    ev_clock_ms() >= p->accept_pause
	                ? p->lfd
	                : -1;
	for (int i = 0; i < 3; i++)
		pfd[i].events = POLLIN;
	for (int i = 0; i < nkids; i++) {
		if (kids[i].ctl != -1) {
			kid[npfd] = i;
			pfd[npfd].fd = kids[i].ctl;
			pfd[npfd++].events = POLLIN;
		}
		if (deal_chan_blocked(&kids[i].cc)) {
			kid[npfd] = i;
			pfd[npfd].fd = deal_chan_fd(&kids[i].cc);
			pfd[npfd++].events = POLLOUT;
		}
	}
	if (poll(pfd, (nfds_t)npfd, 250) == -1 && errno != EINTR)
		fatal("poll");
	if (pfd[1].revents & POLLIN) {
		control_accept(p->cfd, control_cmd, p);
		nchans = deal_targets(chans); /* a reload: the new engines */
	}
	/* Room made by the flushes counts from the next turn. */
	if ((pfd[2].revents & POLLIN) &&
	    deal_clients(p->lfd, chans, nchans, &p->next_engine) == -1)
		p->accept_pause = ev_clock_ms() + ACCEPT_PAUSE_MS;
	for (int i = 3; i < npfd; i++) {
		struct child *k = &kids[kid[i]];

		if (pfd[i].fd == k->ctl &&
		    (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
			ctl_read(k);
		else if (pfd[i].fd == deal_chan_fd(&k->cc) &&
		         pfd[i].revents != 0 && deal_chan_flush(&k->cc) == -1)
			log_debug("engine pid %d: client channel: %s",
			    (int)k->pid, strerror(errno));
	}
}

static void
parent_signals(struct parent *p)
{
	struct signalfd_siginfo si;
	char err[512];

	while (read(p->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap(p->stopping);
			if (early_deaths >= MAX_EARLY)
				parent_stop(p, "engines keep failing");
			break;
		case SIGHUP:
			if (!p->stopping)
				reload(p->o, err, sizeof(err));
			break;
		default:
			parent_stop(p, NULL);
		}
	}
	if (p->stopping)
		reap(1);
}

static int
parent_main(const struct opts *o)
{
	struct parent p = {.o = o};
	struct cpconf *cf;
	struct keytab *keys = NULL;
	struct trustgen tg;
	struct pcred *creds = NULL;
	char err[512];
	int conffd, n;

	if ((cf = load_conf(o, &keys, &creds, &conffd, &tg, err,
	         sizeof(err))) == NULL)
		fatalx("%s", err);
	if (o->check) {
		printf("configuration OK\n");
		keytab_free(keys);
		trustgen_clear(&tg);
		pcred_free(creds);
		if (conffd != -1)
			close(conffd);
		conf_free(cf);
		return 0;
	}
	set_current(keys, creds, conffd, &tg, o);
	if (keytab_count(cur_keys) > 0)
		log_info("%d client keys loaded", keytab_count(cur_keys));
	raise_nofile();
	parent_listen(&p, cf);
	parent_control(&p, cf);
	cur_verbose = o->verbose;
	started_ms = ev_clock_ms();
	n = engine_count(cf);
	pcache_config(cf->g.session_cache, cf->g.session_cache_size);
	conf_free(cf);
	/* The OpenBSD habit: without -d, go to the background once the
	 * socket is ours, so errors before this point reach the terminal. */
	if (!o->foreground && daemon(0, 0) == -1)
		fatal("daemon");
	p.sfd = signals_fd();
	start_generation(o, n);
	if (p.bound)
		log_info("listening on %s", p.path);
	log_info("%d engines started", n);
	notify_ready();
	if (notify_watchdog_usec(&p.wd_usec) > 0)
		p.next_wd = ev_clock_ms();
	while (!p.stopping || nkids > 0) {
		parent_timers(&p);
		parent_poll(&p);
		parent_signals(&p);
	}
	if (p.bound)
		unlink(p.path);
	if (p.cpath[0] != '\0')
		unlink(p.cpath);
	keytab_free(cur_keys);
	trustgen_clear(&cur_trust);
	pcred_free(cur_creds);
	return early_deaths >= MAX_EARLY ? 1 : 0;
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
