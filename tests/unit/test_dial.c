/* SPDX-License-Identifier: ISC */
/*
 * Dialer tests.  Listeners on 127.0.0.1 and ::1; "refused" ports are bound
 * but not listening, so no other test can take them.  Cases needing a
 * silent address run in a forked child inside its own network namespace,
 * where 192.0.2.0/24 is routed into lo (packets vanish: connects time
 * out) and 198.51.100.0/24 is a reject route (EHOSTUNREACH).
 */
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <net/route.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpproto.h"
#include "../cutest.h"
#include "../itest.h"
#include "dial.h"
#include "ev.h"

static struct ev *ev;

struct res {
	int done, fd, eclass, err, family;
	uint32_t attempts;
	uint64_t at;
	char text[CP_MAX_ERRTEXT];
};

static void
on_dial(void *arg, int fd, const struct sockaddr *sa, socklen_t len, int eclass,
    int err, const char *text, uint32_t attempts)
{
	struct res *r = arg;

	r->done++;
	r->fd = fd;
	r->eclass = eclass;
	r->err = err;
	r->attempts = attempts;
	r->family = sa != NULL ? sa->sa_family : -1;
	r->at = ev_clock_ms();
	snprintf(r->text, sizeof(r->text), "%s", text);
}

static void
run_until(struct ev *e, const int *flag, uint64_t max_ms)
{
	uint64_t end = ev_clock_ms() + max_ms;

	while (*flag == 0 && ev_clock_ms() < end)
		ev_run_once(e, 50);
}

static void
run_for(struct ev *e, uint64_t ms)
{
	uint64_t end = ev_clock_ms() + ms;

	while (ev_clock_ms() < end)
		ev_run_once(e, 50);
}

/* Add host:port to al. */
static void
add_addr(struct addr_list *al, const char *host, uint16_t port)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&al->a[al->n];
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&al->a[al->n];

	memset(&al->a[al->n], 0, sizeof(al->a[al->n]));
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		al->len[al->n++] = sizeof(*s6);
	} else if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		al->len[al->n++] = sizeof(*s4);
	}
}

/* A TCP socket bound to host:0; listening if listen_now.  *port set. */
static int
bound(const char *host, int listen_now, uint16_t *port)
{
	struct addr_list al = {0};
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd;

	add_addr(&al, host, 0);
	if (al.n != 1)
		return -1;
	fd = socket(al.a[0].ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (bind(fd, (struct sockaddr *)&al.a[0], al.len[0]) == -1 ||
	    (listen_now && listen(fd, 16) == -1) ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) == -1) {
		close(fd);
		return -1;
	}
	*port = ntohs(ss.ss_family == AF_INET6
	                  ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                  : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

static struct dial_params
params(uint32_t retries, uint32_t delay, uint32_t ctmo, uint32_t tmo,
    uint32_t stagger)
{
	struct dial_params p = {retries, delay, ctmo, tmo, stagger};

	return p;
}

/* Dial and wait; the result's fd stays open for the caller. */
static void
dial_wait(struct ev *e, const struct addr_list *al, const struct dial_params *p,
    dial_filter *f, struct res *r)
{
	memset(r, 0, sizeof(*r));
	r->fd = -2;
	if (dial_start(e, al, p, f, on_dial, r) == NULL) {
		r->eclass = -1;
		return;
	}
	if (r->done != 0) /* called back too early */
		r->eclass = -2;
	run_until(e, &r->done, (uint64_t)p->timeout_ms + 10000);
}

static void
test_v6_first(void)
{
	uint16_t p4, p6;
	int l4 = bound("127.0.0.1", 1, &p4), l6 = bound("::1", 1, &p6);
	int fds, fl, c;
	struct addr_list al = {0};
	struct dial_params p = params(0, 0, 5000, 10000, 250);
	struct res r;

	CU_ASSERT_FATAL(l4 != -1 && l6 != -1);
	fds = tfd_count(getpid());
	add_addr(&al, "::1", p6);
	add_addr(&al, "127.0.0.1", p4);
	dial_wait(ev, &al, &p, NULL, &r);
	CU_ASSERT_EQUAL(r.done, 1);
	CU_ASSERT_EQUAL(r.eclass, CP_E_NONE);
	CU_ASSERT_EQUAL(r.family, AF_INET6);
	CU_ASSERT_EQUAL(r.attempts, 1);
	CU_ASSERT_FATAL(r.fd >= 0);
	fl = fcntl(r.fd, F_GETFL);
	CU_ASSERT(fl != -1 && (fl & O_NONBLOCK));
	CU_ASSERT(fcntl(r.fd, F_GETFD) & FD_CLOEXEC);
	c = accept4(l6, NULL, NULL, SOCK_CLOEXEC);
	CU_ASSERT(c >= 0);
	CU_ASSERT_EQUAL(write(r.fd, "x", 1), 1);
	if (c >= 0)
		close(c);
	close(r.fd);
	CU_ASSERT_EQUAL(tfd_count(getpid()), fds);
	close(l4);
	close(l6);
}

static void
test_refused(void)
{
	uint16_t p4, p6;
	int b4 = bound("127.0.0.1", 0, &p4), b6 = bound("::1", 0, &p6);
	int fds = tfd_count(getpid());
	struct addr_list al = {0};
	struct dial_params p = params(2, 20, 5000, 20000, 250);
	struct res r;

	CU_ASSERT_FATAL(b4 != -1 && b6 != -1);
	add_addr(&al, "::1", p6);
	add_addr(&al, "127.0.0.1", p4);
	dial_wait(ev, &al, &p, NULL, &r);
	CU_ASSERT_EQUAL(r.done, 1);
	CU_ASSERT_EQUAL(r.fd, -1);
	CU_ASSERT_EQUAL(r.eclass, CP_E_REFUSED);
	CU_ASSERT_EQUAL(r.err, ECONNREFUSED);
	CU_ASSERT_EQUAL(r.attempts, 6); /* 3 rounds x 2 addresses */
	CU_ASSERT(strstr(r.text, "Connection refused (6 attempts)") != NULL);
	CU_ASSERT(strstr(r.text, "connect to ") == r.text);
	CU_ASSERT_EQUAL(tfd_count(getpid()), fds);
	close(b4);
	close(b6);
}

struct late {
	struct ev_timer t;
	int fd, listened;
};

static void
late_listen(struct ev_timer *t)
{
	struct late *l = t->arg;

	l->listened = listen(l->fd, 16) == 0;
}

/* The port refuses until a listener appears after 1 s: a retry wins. */
static void
test_late_listener(void)
{
	struct late l = {0};
	uint16_t port;
	struct addr_list al = {0};
	struct dial_params p = params(8, 200, 5000, 30000, 250);
	struct res r;
	uint64_t t0 = ev_clock_ms();
	int fds = tfd_count(getpid());

	l.fd = bound("127.0.0.1", 0, &port);
	CU_ASSERT_FATAL(l.fd != -1);
	ev_timer_init(&l.t, late_listen, &l);
	ev_timer_start(ev, &l.t, 1000);
	add_addr(&al, "127.0.0.1", port);
	dial_wait(ev, &al, &p, NULL, &r);
	CU_ASSERT_EQUAL(l.listened, 1);
	CU_ASSERT_EQUAL(r.eclass, CP_E_NONE);
	CU_ASSERT(r.attempts >= 2);
	CU_ASSERT(r.at - t0 >= 1000);
	if (r.fd >= 0)
		close(r.fd);
	ev_timer_stop(ev, &l.t);
	close(l.fd);
	CU_ASSERT_EQUAL(tfd_count(getpid()), fds);
}

/* Backoff (300, 600, 1200 ms...) outgrows a 1 s deadline long before
 * 10 retries are used. */
static void
test_deadline_vs_retries(void)
{
	uint16_t port;
	int b = bound("127.0.0.1", 0, &port), fds = tfd_count(getpid());
	struct addr_list al = {0};
	struct dial_params p = params(10, 300, 5000, 1000, 250);
	struct res r;
	uint64_t t0 = ev_clock_ms();

	CU_ASSERT_FATAL(b != -1);
	add_addr(&al, "127.0.0.1", port);
	dial_wait(ev, &al, &p, NULL, &r);
	CU_ASSERT_EQUAL(r.done, 1);
	CU_ASSERT_EQUAL(r.eclass, CP_E_REFUSED);
	CU_ASSERT(r.attempts >= 1 && r.attempts <= 3);
	CU_ASSERT(r.at - t0 <= 1000 + 5000);
	CU_ASSERT_EQUAL(tfd_count(getpid()), fds);
	close(b);
}

static int filter_calls;

static int
deny_all(void *arg, const struct sockaddr *sa, socklen_t len, char *why,
    size_t whysz)
{
	filter_calls++;
	snprintf(why, whysz, "rule 7 denies %s",
	    sa->sa_family == AF_INET6 ? "IPv6" : "IPv4");
	return -1;
}

static int
deny_v6(void *arg, const struct sockaddr *sa, socklen_t len, char *why,
    size_t whysz)
{
	filter_calls++;
	if (sa->sa_family != AF_INET6)
		return 0;
	snprintf(why, whysz, "no IPv6 here");
	return -1;
}

static void
test_filter(void)
{
	uint16_t p4;
	int l4 = bound("127.0.0.1", 1, &p4), fds = tfd_count(getpid());
	struct addr_list al = {0};
	struct dial_params p = params(3, 10, 5000, 10000, 250);
	struct res r;

	CU_ASSERT_FATAL(l4 != -1);
	add_addr(&al, "::1", p4);
	add_addr(&al, "127.0.0.1", p4);
	filter_calls = 0;
	dial_wait(ev, &al, &p, deny_all, &r);
	CU_ASSERT_EQUAL(r.eclass, CP_E_DENIED);
	CU_ASSERT_EQUAL(r.err, EACCES);
	CU_ASSERT_EQUAL(r.attempts, 0);
	CU_ASSERT_EQUAL(filter_calls, 2); /* once per address, not per round */
	CU_ASSERT(strstr(r.text, "rule 7 denies IPv6") != NULL);

	filter_calls = 0;
	dial_wait(ev, &al, &p, deny_v6, &r);
	CU_ASSERT_EQUAL(r.eclass, CP_E_NONE);
	CU_ASSERT_EQUAL(r.family, AF_INET);
	CU_ASSERT_EQUAL(r.attempts, 1);
	CU_ASSERT_EQUAL(filter_calls, 2);
	if (r.fd >= 0)
		close(r.fd);
	CU_ASSERT_EQUAL(tfd_count(getpid()), fds);
	close(l4);
}

static void
test_bad_args(void)
{
	struct addr_list al = {0};
	struct dial_params p = params(0, 0, 0, 0, 0);
	struct res r = {0};

	errno = 0;
	CU_ASSERT_PTR_NULL(dial_start(ev, &al, &p, NULL, on_dial, &r));
	CU_ASSERT_EQUAL(errno, EINVAL);
	al.n = CP_MAX_ADDRS + 1;
	CU_ASSERT_PTR_NULL(dial_start(ev, &al, &p, NULL, on_dial, &r));
	al.n = 1;
	al.a[0].ss_family = AF_UNIX;
	al.len[0] = 2;
	CU_ASSERT_PTR_NULL(dial_start(ev, &al, &p, NULL, on_dial, &r));
	CU_ASSERT_EQUAL(r.done, 0);
}

/* Cancel while waiting to retry, and right after starting. */
static void
test_cancel_backoff(void)
{
	uint16_t port;
	int b = bound("127.0.0.1", 0, &port), fds = tfd_count(getpid());
	struct addr_list al = {0};
	struct dial_params p = params(3, 5000, 5000, 30000, 250);
	struct res r = {0};
	struct dial *d;

	CU_ASSERT_FATAL(b != -1);
	add_addr(&al, "127.0.0.1", port);
	d = dial_start(ev, &al, &p, NULL, on_dial, &r);
	CU_ASSERT_FATAL(d != NULL);
	run_for(ev, 300); /* first round refused, now in backoff */
	dial_cancel(d);
	d = dial_start(ev, &al, &p, NULL, on_dial, &r);
	CU_ASSERT_FATAL(d != NULL);
	dial_cancel(d);
	run_for(ev, 300);
	CU_ASSERT_EQUAL(r.done, 0);
	CU_ASSERT_EQUAL(tfd_count(getpid()), fds);
	close(b);
}

/*
 * In a private network namespace.
 */

enum { NS_HE, NS_CTMO, NS_DEADLINE, NS_UNREACH, NS_RANK, NS_CANCEL, NS_N };

struct ns_out {
	int setup; /* 0 ok, else errno of the namespace set-up */
	struct res r[NS_N];
	uint64_t elapsed[NS_N];
	int fds_before, fds_inflight, fds_after;
};

static int
route_add(int s, const char *net, int flags)
{
	struct rtentry rt;
	struct sockaddr_in *dst = (struct sockaddr_in *)&rt.rt_dst;
	struct sockaddr_in *mask = (struct sockaddr_in *)&rt.rt_genmask;
	char dev[] = "lo";

	memset(&rt, 0, sizeof(rt));
	dst->sin_family = mask->sin_family = AF_INET;
	inet_pton(AF_INET, net, &dst->sin_addr);
	inet_pton(AF_INET, "255.255.255.0", &mask->sin_addr);
	rt.rt_flags = RTF_UP | flags;
	rt.rt_dev = dev;
	return ioctl(s, SIOCADDRT, &rt);
}

/* lo up; 192.0.2.0/24 into lo (silent), 198.51.100.0/24 rejected. */
static int
ns_setup(void)
{
	struct ifreq ifr;
	int s, rc = 0;

	if (unshare(CLONE_NEWNET) == -1)
		return errno;
	if ((s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == -1 ||
	    (ifr.ifr_flags |= IFF_UP, ioctl(s, SIOCSIFFLAGS, &ifr)) == -1 ||
	    route_add(s, "192.0.2.0", 0) == -1 ||
	    route_add(s, "198.51.100.0", RTF_REJECT) == -1)
		rc = errno ? errno : EIO;
	close(s);
	return rc;
}

static void
ns_dial(struct ev *e, struct ns_out *o, int k, const struct addr_list *al,
    const struct dial_params *p)
{
	uint64_t t0 = ev_clock_ms();

	dial_wait(e, al, p, NULL, &o->r[k]);
	o->elapsed[k] = ev_clock_ms() - t0;
	if (o->r[k].fd >= 0)
		close(o->r[k].fd);
}

static void
ns_cases(struct ev *e, struct ns_out *o, uint16_t port, int refuse_port)
{
	struct addr_list al = {0};
	struct dial_params p;

	/* Blackhole first, working second: wins after the stagger. */
	add_addr(&al, "192.0.2.1", port);
	add_addr(&al, "127.0.0.1", port);
	p = params(0, 0, 10000, 20000, 300);
	ns_dial(e, o, NS_HE, &al, &p);
	/* One blackhole, short connect timeout, one retry. */
	al.n = 1;
	p = params(1, 100, 400, 20000, 250);
	ns_dial(e, o, NS_CTMO, &al, &p);
	/* The whole deadline ends a long connect. */
	p = params(5, 100, 10000, 700, 250);
	ns_dial(e, o, NS_DEADLINE, &al, &p);
	/* Reject route: unreachable at once. */
	al.n = 0;
	add_addr(&al, "198.51.100.1", port);
	p = params(1, 10, 5000, 20000, 250);
	ns_dial(e, o, NS_UNREACH, &al, &p);
	/* Unreachable then refused: the refusal is reported. */
	add_addr(&al, "127.0.0.1", (uint16_t)refuse_port);
	ns_dial(e, o, NS_RANK, &al, &p);
}

static void
ns_cancel(struct ev *e, struct ns_out *o)
{
	struct addr_list al = {0};
	struct dial_params p = params(0, 0, 10000, 20000, 100);
	struct dial *d;

	add_addr(&al, "192.0.2.1", 80);
	add_addr(&al, "192.0.2.2", 80);
	add_addr(&al, "192.0.2.3", 80);
	memset(&o->r[NS_CANCEL], 0, sizeof(o->r[NS_CANCEL]));
	o->fds_before = tfd_count(getpid());
	if ((d = dial_start(e, &al, &p, NULL, on_dial, &o->r[NS_CANCEL])) ==
	    NULL)
		return;
	run_for(e, 500); /* all three in flight */
	o->fds_inflight = tfd_count(getpid());
	dial_cancel(d);
	o->fds_after = tfd_count(getpid());
	run_for(e, 200);
}

static void
ns_child(int wfd)
{
	struct ns_out o;
	struct ev *e;
	uint16_t port, rport;
	int l, rb;

	memset(&o, 0, sizeof(o));
	alarm(60); /* whatever happens, the child ends */
	if ((o.setup = ns_setup()) == 0) {
		if ((e = ev_new()) == NULL ||
		    (l = bound("127.0.0.1", 1, &port)) == -1 ||
		    (rb = bound("127.0.0.1", 0, &rport)) == -1)
			o.setup = EIO;
		else {
			ns_cases(e, &o, port, rport);
			ns_cancel(e, &o);
		}
	}
	(void)!write(wfd, &o, sizeof(o));
	_exit(0);
}

static struct ns_out ns;
static int ns_ok;

/* Run the namespace cases once; every ns test reads the report. */
static int
ns_init(void)
{
	int p[2], st;
	pid_t pid;
	struct pollfd pfd;
	size_t got = 0;
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		close(p[0]);
		ns_child(p[1]);
	}
	close(p[1]);
	pfd = (struct pollfd){.fd = p[0], .events = POLLIN};
	while (got < sizeof(ns) && poll(&pfd, 1, 90000) == 1 &&
	       (n = read(p[0], (char *)&ns + got, sizeof(ns) - got)) > 0)
		got += (size_t)n;
	close(p[0]);
	if (got != sizeof(ns))
		kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	ns_ok = got == sizeof(ns) && ns.setup == 0;
	if (got == sizeof(ns) && ns.setup != 0)
		fprintf(stderr, "netns set-up: %s\n", strerror(ns.setup));
	return 0;
}

static void
test_ns_happy_eyeballs(void)
{
	struct res *r = &ns.r[NS_HE];

	CU_ASSERT_FATAL(ns_ok);
	CU_ASSERT_EQUAL(r->done, 1);
	CU_ASSERT_EQUAL(r->eclass, CP_E_NONE);
	CU_ASSERT_EQUAL(r->family, AF_INET);
	CU_ASSERT_EQUAL(r->attempts, 2);
	CU_ASSERT(ns.elapsed[NS_HE] >= 300);  /* waited the stagger */
	CU_ASSERT(ns.elapsed[NS_HE] < 10000); /* not the blackhole's timeout */
}

static void
test_ns_connect_timeout(void)
{
	struct res *r = &ns.r[NS_CTMO];

	CU_ASSERT_FATAL(ns_ok);
	CU_ASSERT_EQUAL(r->eclass, CP_E_TIMEDOUT);
	CU_ASSERT_EQUAL(r->err, ETIMEDOUT);
	CU_ASSERT_EQUAL(r->attempts, 2);
	CU_ASSERT(ns.elapsed[NS_CTMO] >= 800);
	CU_ASSERT(strstr(r->text, "192.0.2.1:") != NULL);
}

static void
test_ns_deadline(void)
{
	struct res *r = &ns.r[NS_DEADLINE];

	CU_ASSERT_FATAL(ns_ok);
	CU_ASSERT_EQUAL(r->eclass, CP_E_TIMEDOUT);
	CU_ASSERT_EQUAL(r->err, ETIMEDOUT);
	CU_ASSERT_EQUAL(r->attempts, 1);
	CU_ASSERT(ns.elapsed[NS_DEADLINE] >= 700);
	CU_ASSERT(ns.elapsed[NS_DEADLINE] < 8000);
	CU_ASSERT(strstr(r->text, "deadline") != NULL);
}

static void
test_ns_unreach(void)
{
	CU_ASSERT_FATAL(ns_ok);
	CU_ASSERT_EQUAL(ns.r[NS_UNREACH].eclass, CP_E_UNREACH);
	CU_ASSERT_EQUAL(ns.r[NS_UNREACH].err, EHOSTUNREACH);
	CU_ASSERT_EQUAL(ns.r[NS_UNREACH].attempts, 2);
	CU_ASSERT_EQUAL(ns.r[NS_RANK].eclass, CP_E_REFUSED);
	CU_ASSERT_EQUAL(ns.r[NS_RANK].attempts, 4);
	CU_ASSERT(strstr(ns.r[NS_RANK].text, "127.0.0.1:") != NULL);
}

static void
test_ns_cancel(void)
{
	CU_ASSERT_FATAL(ns_ok);
	CU_ASSERT_EQUAL(ns.r[NS_CANCEL].done, 0);
	CU_ASSERT_EQUAL(ns.fds_inflight, ns.fds_before + 3);
	CU_ASSERT_EQUAL(ns.fds_after, ns.fds_before);
}

/*
 * History: ::1 refuses, 127.0.0.1 listens.  The first dial pays for ::1,
 * the next one tries 127.0.0.1 first; once the outcome has expired, ::1
 * is first again.  A success on ::1 puts it back in front.
 */
static void
test_history(void)
{
	uint16_t p4, p6;
	int l4 = bound("127.0.0.1", 1, &p4), b6 = bound("::1", 0, &p6);
	struct addr_list al = {0};
	struct dial_params p = params(0, 0, 5000, 10000, 250);
	uint64_t n0 = dial_reordered();
	struct res r;
	int c;

	CU_ASSERT_FATAL(l4 != -1 && b6 != -1);
	dial_history_reset(300);
	add_addr(&al, "::1", p6);
	add_addr(&al, "127.0.0.1", p4);
	dial_wait(ev, &al, &p, NULL, &r);
	CU_ASSERT_EQUAL(r.eclass, CP_E_NONE);
	CU_ASSERT_EQUAL(r.family, AF_INET);
	CU_ASSERT_EQUAL(r.attempts, 2);
	CU_ASSERT_EQUAL(dial_reordered(), n0);
	if (r.fd >= 0)
		close(r.fd);
	dial_wait(ev, &al, &p, NULL, &r);
	CU_ASSERT_EQUAL(r.eclass, CP_E_NONE);
	CU_ASSERT_EQUAL(r.family, AF_INET);
	CU_ASSERT_EQUAL(r.attempts, 1);
	CU_ASSERT_EQUAL(dial_reordered(), n0 + 1);
	if (r.fd >= 0)
		close(r.fd);
	/* Expired: the resolver's order again. */
	run_for(ev, 400);
	dial_wait(ev, &al, &p, NULL, &r);
	CU_ASSERT_EQUAL(r.attempts, 2);
	if (r.fd >= 0)
		close(r.fd);
	/* ::1 listens now: its success clears the failure at once. */
	CU_ASSERT_FATAL(listen(b6, 16) == 0);
	dial_history_reset(60000);
	dial_wait(ev, &al, &p, NULL, &r); /* ::1 connects */
	CU_ASSERT_EQUAL(r.family, AF_INET6);
	if (r.fd >= 0)
		close(r.fd);
	if ((c = accept4(b6, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		close(c);
	dial_wait(ev, &al, &p, NULL, &r);
	CU_ASSERT_EQUAL(r.family, AF_INET6);
	CU_ASSERT_EQUAL(r.attempts, 1);
	if (r.fd >= 0)
		close(r.fd);
	dial_history_reset(DIAL_HIST_TTL_MS);
	close(l4);
	close(b6);
}

static int
suite_init(void)
{
	return (ev = ev_new()) == NULL ? -1 : 0;
}

static int
suite_clean(void)
{
	ev_free(ev);
	return 0;
}

int
main(void)
{
	CU_pSuite s = cu_suite("dial", suite_init, suite_clean);
	CU_pSuite n = cu_suite("dial in a network namespace", ns_init, NULL);

	cu_test(s, "IPv6 first", test_v6_first);
	cu_test(s, "refused after every round", test_refused);
	cu_test(s, "late listener, retry wins", test_late_listener);
	cu_test(s, "deadline before retries run out", test_deadline_vs_retries);
	cu_test(s, "policy filter", test_filter);
	cu_test(s, "bad arguments", test_bad_args);
	cu_test(s, "cancel", test_cancel_backoff);
	cu_test(s, "history orders the addresses", test_history);
	cu_test(n, "happy eyeballs past a blackhole", test_ns_happy_eyeballs);
	cu_test(n, "connect timeout", test_ns_connect_timeout);
	cu_test(n, "whole deadline", test_ns_deadline);
	cu_test(n, "unreachable, and refusal ranks first", test_ns_unreach);
	cu_test(n, "cancel closes sockets in flight", test_ns_cancel);
	return cu_finish();
}
