/* SPDX-License-Identifier: ISC */
/*
 * The engine's loop: take the clients the parent deals (deal.h), tell the
 * parent how we are doing, drain when told to, and run the sessions
 * (session.c) and their requests (request.c) until done.
 */
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

#include "cacache.h"
#include "conf.h"
#include "ctl.h"
#include "deal.h"
#include "engine_int.h"
#include "keyring.h"
#include "log.h"
#include "resolve.h"
#include "vcache.h"

static volatile sig_atomic_t got_term;

#ifdef CP_TEST_HOOKS
/*
 * Test hook, only in the test build (CPCONNECTD_TEST_HOOKS in the
 * environment of build/tests/cpconnectd-hooks): prove the sandbox
 * from inside a real engine by trying what it must not do.  Harmless by
 * construction: with the sandbox up both attempts fail; without it the
 * engine is replaced by /bin/true, exits, and the test sees that.
 */
static void
sandbox_probe(void)
{
	char *const argv[] = {"true", NULL};
	int fd;

	if ((fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC)) == -1)
		log_info(
		    "test hook: open /etc/passwd refused: %s", strerror(errno));
	else {
		log_warnx("test hook: open /etc/passwd succeeded");
		close(fd);
	}
	execv("/bin/true", argv);
	log_info("test hook: exec /bin/true refused: %s", strerror(errno));
}
#endif

static uint32_t share(uint32_t, int);
static void engine_accept(struct ev_io *, uint32_t);
static void ctl_io(struct ev_io *, uint32_t);
static void on_term(int);
static void stats_tick(struct ev_timer *);
static void stats_send(struct engine *);
static void trim_after_burst(struct engine *);
static void engine_drain(struct engine *);
static int engine_drained(const struct engine *, uint64_t);
static int output_pending(const struct engine *);

static void
engine_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static void
engine_setup(struct engine *e, const struct engine_env *env)
{
	char err[256];

	memset(e, 0, sizeof(*e));
	e->env = env;
	e->conf = env->conf;
	e->pid = (uint32_t)getpid();
	e->uid_limit = share(e->conf->g.max_req_per_uid, env->nengines);
	e->uid_sessions = share(e->conf->g.max_sessions_per_uid, env->nengines);
	if ((e->ev = ev_new()) == NULL)
		fatal("event loop");
	if ((e->res = resolver_new(e->ev, env->resolvers, err, sizeof(err))) ==
	    NULL)
		fatalx("resolver: %s", err);
	if ((e->cas = ca_cache_new(64, 8 * 1024 * 1024)) == NULL)
		fatal("trust anchor cache");
	resume_init(e);
	deal_engine_init(&e->clients, env->clients);
	if (ev_io_start(
	        e->ev, &e->lio, env->clients, EPOLLIN, engine_accept, e) == -1)
		fatal("epoll");
	if (env->ctlfd != -1) {
		if (ev_io_start(
		        e->ev, &e->cio, env->ctlfd, EPOLLIN, ctl_io, e) == -1)
			fatal("epoll");
		ev_timer_init(&e->stats_timer, stats_tick, e);
		ev_timer_start(e->ev, &e->stats_timer, 0);
	}
}

/* What a signing wait read off the parent's channel for us. */
static void
stashed_ctl(void *arg, uint32_t type, const void *msg, size_t len)
{
	resume_ctl(arg, type, msg, len);
}

/* Serve until told to stop, then drain. */
static void
engine_loop(struct engine *e)
{
	uint64_t drain_start = 0;

	for (;;) {
		keyring_stashed(stashed_ctl, e);
		if (keyring_stop_seen())
			e->stopping = 1;
		/* Drain before judging whether draining is done. */
		if (e->stopping && drain_start == 0) {
			engine_drain(e);
			drain_start = ev_clock_ms();
		}
		if (got_term || engine_drained(e, drain_start))
			break;
		if (ev_run_once(e->ev, e->stopping ? 100 : 1000) == -1)
			fatal("epoll_wait");
	}
}

static void
engine_finish(struct engine *e)
{
	/* Even when told to stop at once, finished replies go out (bounded):
	 * a client must not lose a connection the daemon already made. */
	for (int i = 0; i < 10 && output_pending(e); i++)
		ev_run_once(e->ev, 100);
	while (!LIST_EMPTY(&e->sessions))
		session_free(LIST_FIRST(&e->sessions));
	/* The last counts, so the parent's totals lose nothing. */
	if (e->env->ctlfd != -1)
		stats_send(e);
	log_rl_flush();
	ev_timer_stop(e->ev, &e->stats_timer);
	resolver_free(e->res);
	ca_cache_free(e->cas);
	resume_finish(e);
	imsgbuf_clear(&e->clients);
	ev_free(e->ev);
}

int
engine_run(const struct engine_env *env)
{
	struct engine e;

	engine_signals();
#ifdef CP_TEST_HOOKS
	if (getenv("CPCONNECTD_TEST_HOOKS") != NULL)
		sandbox_probe();
	/* Test hook: engines started after this time (seconds since the
	 * epoch) die at once, for the parent's restart back-off. */
	if (getenv("CPCONNECTD_TEST_FAIL_AFTER") != NULL &&
	    time(NULL) >= atoll(getenv("CPCONNECTD_TEST_FAIL_AFTER"))) {
		log_warnx("test hook: failing at start");
		return 1;
	}
#endif
	engine_setup(&e, env);
	engine_loop(&e);
	engine_finish(&e);
	return 0;
}

/* Engines share nothing, so each takes an equal share of a per-user
 * limit: a user never has more than the limit says. */
static uint32_t
share(uint32_t limit, int nengines)
{
	uint32_t n = nengines > 0 ? limit / (uint32_t)nengines : limit;

	return n > 0 ? n : 1;
}

/* A client the parent accepted for us (deal.h). */
static void
engine_take(struct engine *e, int fd)
{
	struct cp_peer peer;
	gid_t groups[MAX_GROUPS];
	const char *why;

	session_peer(&peer, groups, fd);
	if ((why = session_limit(e, &peer)) != NULL)
		session_refuse(e, fd, &peer, why);
	else if (session_new(e, fd, &peer, groups) == NULL) {
		log_warn("session");
		session_refuse(e, fd, &peer, "out of memory");
	}
}

static void
engine_accept(struct ev_io *io, uint32_t revents)
{
	struct engine *e = io->arg;
	int fd, budget = 32;

	while (budget-- > 0) {
		if ((fd = deal_next(&e->clients)) != -1) {
			engine_take(e, fd);
			continue;
		}
		if (errno != EAGAIN && errno != EINTR) {
			if (errno != 0)
				log_warn("client channel");
			e->stopping = 1; /* the parent is gone */
			ev_io_stop(e->ev, io);
		}
		return;
	}
}

static void
ctl_io(struct ev_io *io, uint32_t revents)
{
	struct engine *e = io->arg;
	static union {
		struct keys_sign_rep rep;
		unsigned char raw[CTL_MAX_MSG];
	} buf;
	uint32_t type;
	ssize_t n;
	int budget = 16;

	/* CTL_DRAIN, or the end of file when the parent is gone: stop
	 * accepting and drain.  A signature that arrives here came after
	 * its wait timed out: dropped. */
	while (budget-- > 0) {
		n = recv(io->fd, &buf, sizeof(buf), MSG_DONTWAIT);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			e->stopping = 1;
			ev_io_stop(e->ev, io);
			return;
		}
		if ((size_t)n < sizeof(type))
			continue;
		memcpy(&type, &buf, sizeof(type));
		if (type == CTL_DRAIN)
			e->stopping = 1;
		if (type == CTL_SESS_PUT || type == CTL_SESS_FLUSH ||
		    type == CTL_TICKET)
			resume_ctl(e, type, &buf, (size_t)n);
		if (type == CTL_VERBOSE &&
		    n == (ssize_t)sizeof(struct ctl_verbose)) {
			log_set_verbose(
			    (int)((struct ctl_verbose *)&buf)->level);
			/* Seen only when it is on: the administrator's
			 * proof that this engine got it. */
			log_debug("verbose logging on");
		}
	}
}

static void
on_term(int sig)
{
	got_term = 1;
}

static void
stats_tick(struct ev_timer *t)
{
	struct engine *e = t->arg;

	stats_send(e);
	log_rl_flush();
	resume_tick(e);
	trim_after_burst(e);
	ev_timer_start(e->ev, t, 1000);
}

/* Tell the parent how we are doing, for systemd's STATUS=. */
static void
stats_send(struct engine *e)
{
	struct ctl_stats cs;

	memset(&cs, 0, sizeof(cs));
	cs.type = CTL_STATS;
	cs.st = e->st;
	cs.st.dial_reordered = dial_reordered();
	cs.st.verify_cached = vcache_hits();
	if (send(e->env->ctlfd, &cs, sizeof(cs), MSG_DONTWAIT | MSG_NOSIGNAL) ==
	        -1 &&
	    errno != EAGAIN)
		e->stopping = 1; /* parent gone */
}

/* Free heap above which a tick gives it back even without a burst of
 * sessions: a few large ones (trust anchor sets) leave as much. */
#define TRIM_FREE_BYTES (4 * 1024 * 1024)

/* After a burst (many sessions or requests that are gone, or much memory
 * freed), give the memory back: the allocator otherwise keeps it for the
 * next one. */
static void
trim_after_burst(struct engine *e)
{
	uint32_t now = e->st.sessions + e->st.inflight;
	struct mallinfo2 mi;

	engine_note_peak(e);
	if (e->peak - now >= 64 && now < e->peak / 2) {
		malloc_trim(0);
		e->peak = now;
		e->free_after_trim = mallinfo2().fordblks;
		return;
	}
	/* Measured against what the last trim left, which fragments may
	 * keep above the bound: not a trim on every tick. */
	mi = mallinfo2();
	if (mi.fordblks >= e->free_after_trim + TRIM_FREE_BYTES) {
		malloc_trim(0);
		e->free_after_trim = mallinfo2().fordblks;
	}
}

/*
 * Drain: no new sessions, and no new requests on the open ones.  Shutting
 * the read side makes a client's next request fail at its own write
 * (EPIPE, and the library replays it on a new session, served by the new
 * engines), while everything already sent is still read, answered and
 * flushed before the session closes.  No request is lost in between.
 */
static void
engine_drain(struct engine *e)
{
	struct session *s;
	int fd;

	/* Clients dealt before the drain order close unanswered: their
	 * library replays the request on the new engines. */
	ev_io_stop(e->ev, &e->lio);
	while ((fd = deal_next(&e->clients)) != -1)
		close(fd);
	LIST_FOREACH(s, &e->sessions, entry)
		if (shutdown(s->io.fd, SHUT_RD) == -1 && errno != ENOTCONN)
			log_warn("uid %u: shutdown", (unsigned)s->peer.uid);
}

/* Done draining: every session has closed, or nothing is in flight and
 * the clients that do not read their replies had DRAIN_MS. */
static int
engine_drained(const struct engine *e, uint64_t drain_start)
{
	if (!e->stopping)
		return 0;
	if (LIST_EMPTY(&e->sessions))
		return 1;
	return e->st.inflight == 0 && ev_clock_ms() - drain_start > DRAIN_MS;
}

/* Replies still queued: a draining engine sends them before it exits. */
static int
output_pending(const struct engine *e)
{
	const struct session *s;

	LIST_FOREACH(s, &e->sessions, entry)
		if (imsg_pending(&s->ib) && s->closing != 2)
			return 1;
	return 0;
}
