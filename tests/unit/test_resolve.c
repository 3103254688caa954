/* SPDX-License-Identifier: ISC */
/*
 * Resolver tests against the in-process fake DNS server on 127.0.0.1.
 * Addresses in answers are documentation ranges, never connected to.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpproto.h"
#include "../cutest.h"
#include "../itest.h"
#include "ev.h"
#include "resolve.h"
#include "../fakedns.h"

#define NBULK 200

static struct fakedns *dns;
static struct ev *ev;

struct res {
	int done;
	int eclass, err;
	char text[256];
	struct addr_list al;
	unsigned order; /* completion rank */
	uint64_t at;    /* completion time */
};

static unsigned completions;

static void
on_res(void *arg, const struct addr_list *al, int eclass, int err,
    const char *text)
{
	struct res *r = arg;

	r->done++;
	r->eclass = eclass;
	r->err = err;
	snprintf(r->text, sizeof(r->text), "%s", text);
	r->al = *al;
	r->order = ++completions;
	r->at = ev_clock_ms();
}

/* Run the loop until *flag reaches want, at most max_ms. */
static void
run_until(const int *flag, int want, uint64_t max_ms)
{
	uint64_t end = ev_clock_ms() + max_ms;

	while (*flag < want && ev_clock_ms() < end)
		ev_run_once(ev, 50);
}

static void
run_for(uint64_t ms)
{
	uint64_t end = ev_clock_ms() + ms;

	while (ev_clock_ms() < end)
		ev_run_once(ev, 50);
}

static const char *
ntop(const struct addr_list *al, size_t i, char *buf, size_t len)
{
	const struct sockaddr *sa = (const struct sockaddr *)&al->a[i];

	if (sa->sa_family == AF_INET6)
		return inet_ntop(AF_INET6,
		    &((const struct sockaddr_in6 *)sa)->sin6_addr, buf,
		    (socklen_t)len);
	return inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
	    buf, (socklen_t)len);
}

static uint16_t
port_of(const struct addr_list *al, size_t i)
{
	const struct sockaddr *sa = (const struct sockaddr *)&al->a[i];

	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return ntohs(((const struct sockaddr_in *)sa)->sin_port);
}

static int
has_addr(const struct addr_list *al, size_t i, const char *want)
{
	char buf[INET6_ADDRSTRLEN];

	return i < al->n && ntop(al, i, buf, sizeof(buf)) != NULL &&
	       strcmp(buf, want) == 0;
}

static struct resolver *
new_resolver(void)
{
	char err[256];
	struct resolver *r;

	r = resolver_new(ev, fakedns_servers(dns), err, sizeof(err));
	if (r == NULL)
		fprintf(stderr, "resolver_new: %s\n", err);
	return r;
}

/* Suite set-up: one server, one loop. */

static char bulk_names[NBULK][32];
static char bulk_addrs[NBULK][32];

static int
suite_init(void)
{
	static struct fakedns_rec t[FAKEDNS_MAX_RECS];
	static const struct fakedns_rec fixed[] = {
	    {"v4only.test", FAKEDNS_A, "192.0.2.10", 0},
	    {"v6only.test", FAKEDNS_AAAA, "2001:db8::10", 0},
	    {"both.test", FAKEDNS_AAAA, "2001:db8::1", 0},
	    {"both.test", FAKEDNS_AAAA, "2001:db8::2", 0},
	    {"both.test", FAKEDNS_A, "192.0.2.1", 0},
	    {"both.test", FAKEDNS_A, "192.0.2.2", 0},
	    {"both.test", FAKEDNS_A, "192.0.2.3", 0},
	    {"never.test", FAKEDNS_A, NULL, FAKEDNS_NEVER},
	    {"never.test", FAKEDNS_AAAA, NULL, FAKEDNS_NEVER},
	    {"half.test", FAKEDNS_A, "192.0.2.20", 0},
	    {"half.test", FAKEDNS_AAAA, NULL, FAKEDNS_NEVER},
	    {"slow6.test", FAKEDNS_A, "192.0.2.30", 0},
	    {"slow6.test", FAKEDNS_AAAA, "2001:db8::30", 1500},
	    {"fail.test", FAKEDNS_SERVFAIL, NULL, 0},
	    {"fast.test", FAKEDNS_A, "192.0.2.40", 0},
	};
	size_t i, n = 0;
	char a[32];

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		t[n++] = fixed[i];
	/* More answers than an addr_list holds. */
	for (i = 0; i < 20; i++) {
		snprintf(bulk_addrs[i], sizeof(a), "192.0.2.%zu", 100 + i);
		t[n++] = (struct fakedns_rec){
		    "many.test", FAKEDNS_A, bulk_addrs[i], 0};
	}
	for (i = 0; i < NBULK && n < FAKEDNS_MAX_RECS; i++) {
		snprintf(
		    bulk_names[i], sizeof(bulk_names[i]), "n%zu.bulk.test", i);
		t[n++] = (struct fakedns_rec){bulk_names[i], FAKEDNS_A,
		    i < 20 ? bulk_addrs[i] : "198.51.100.7", 0};
	}
	if (fakedns_start(&dns, t, n, NULL) == -1 || (ev = ev_new()) == NULL)
		return -1;
	return 0;
}

static int
suite_clean(void)
{
	fakedns_stop(dns);
	ev_free(ev);
	return 0;
}

/* Literals. */

static void
test_literal(void)
{
	struct addr_list al;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&al.a[0];

	CU_ASSERT_EQUAL(
	    resolve_literal("192.0.2.1", 443, CP_FAMILY_ANY, &al), 1);
	CU_ASSERT_EQUAL(al.n, 1);
	CU_ASSERT(has_addr(&al, 0, "192.0.2.1"));
	CU_ASSERT_EQUAL(port_of(&al, 0), 443);
	CU_ASSERT_EQUAL(al.len[0], sizeof(struct sockaddr_in));

	CU_ASSERT_EQUAL(
	    resolve_literal("2001:db8::5", 80, CP_FAMILY_INET6, &al), 1);
	CU_ASSERT(has_addr(&al, 0, "2001:db8::5"));
	CU_ASSERT_EQUAL(port_of(&al, 0), 80);
	CU_ASSERT_EQUAL(al.len[0], sizeof(struct sockaddr_in6));

	CU_ASSERT_EQUAL(resolve_literal("[::1]", 7, CP_FAMILY_ANY, &al), 1);
	CU_ASSERT(has_addr(&al, 0, "::1"));
	CU_ASSERT_EQUAL(resolve_literal("fe80::1%1", 7, CP_FAMILY_ANY, &al), 1);
	CU_ASSERT_EQUAL(s6->sin6_scope_id, 1);

	errno = 0;
	CU_ASSERT_EQUAL(resolve_literal("::1", 1, CP_FAMILY_INET4, &al), -1);
	CU_ASSERT_EQUAL(errno, EAFNOSUPPORT);
	errno = 0;
	CU_ASSERT_EQUAL(
	    resolve_literal("127.0.0.1", 1, CP_FAMILY_INET6, &al), -1);
	CU_ASSERT_EQUAL(errno, EAFNOSUPPORT);

	CU_ASSERT_EQUAL(
	    resolve_literal("example.test", 1, CP_FAMILY_ANY, &al), 0);
	CU_ASSERT_EQUAL(resolve_literal("127.1", 1, CP_FAMILY_ANY, &al), 0);
	CU_ASSERT_EQUAL(resolve_literal("[::1", 1, CP_FAMILY_ANY, &al), 0);
	CU_ASSERT_EQUAL(resolve_literal("::1%", 1, CP_FAMILY_ANY, &al), 0);
	CU_ASSERT_EQUAL(resolve_literal("", 1, CP_FAMILY_ANY, &al), 0);
}

/* resolve_start on a literal: no query, callback only from the loop. */
static void
test_start_literal(void)
{
	struct resolver *r = new_resolver();
	struct res a = {0};
	unsigned q0 = fakedns_queries(dns);

	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT_FATAL(resolve_start(r, "::1", 9, CP_FAMILY_ANY, 1000, on_res,
	                    &a) != NULL);
	CU_ASSERT_EQUAL(a.done, 0);
	run_until(&a.done, 1, 5000);
	CU_ASSERT_EQUAL(a.done, 1);
	CU_ASSERT_EQUAL(a.eclass, CP_E_NONE);
	CU_ASSERT(has_addr(&a.al, 0, "::1"));
	CU_ASSERT_EQUAL(fakedns_queries(dns), q0);
	errno = 0;
	CU_ASSERT_PTR_NULL(
	    resolve_start(r, "::1", 9, CP_FAMILY_INET4, 1000, on_res, &a));
	CU_ASSERT_EQUAL(errno, EAFNOSUPPORT);
	resolver_free(r);
}

static void
test_bad_names(void)
{
	struct resolver *r = new_resolver();
	struct res a = {0};
	char longname[300];
	const char *bad[] = {
	    "", "a b", "x..y", ".x", "a\nb", "127.1", longname};
	size_t i;

	CU_ASSERT_FATAL(r != NULL);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		CU_ASSERT_PTR_NULL(resolve_start(
		    r, bad[i], 1, CP_FAMILY_ANY, 1000, on_res, &a));
		CU_ASSERT_EQUAL(errno, EINVAL);
	}
	run_for(100);
	CU_ASSERT_EQUAL(a.done, 0);
	resolver_free(r);
}

/* Resolve one name and wait for it. */
static void
resolve_one(const char *host, int family, uint32_t tmo, struct res *a)
{
	struct resolver *r = new_resolver();

	memset(a, 0, sizeof(*a));
	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT_FATAL(
	    resolve_start(r, host, 853, family, tmo, on_res, a) != NULL);
	CU_ASSERT_EQUAL(a->done, 0);
	run_until(&a->done, 1, tmo + 5000);
	CU_ASSERT_EQUAL(a->done, 1);
	resolver_free(r);
}

static void
test_a_only(void)
{
	struct res a;

	resolve_one("v4only.test", CP_FAMILY_ANY, 5000, &a);
	CU_ASSERT_EQUAL(a.eclass, CP_E_NONE);
	CU_ASSERT_EQUAL(a.al.n, 1);
	CU_ASSERT(has_addr(&a.al, 0, "192.0.2.10"));
	CU_ASSERT_EQUAL(port_of(&a.al, 0), 853);
}

static void
test_aaaa_only(void)
{
	struct res a;

	resolve_one("V6ONLY.test", CP_FAMILY_ANY, 5000, &a);
	CU_ASSERT_EQUAL(a.eclass, CP_E_NONE);
	CU_ASSERT_EQUAL(a.al.n, 1);
	CU_ASSERT(has_addr(&a.al, 0, "2001:db8::10"));
	CU_ASSERT_EQUAL(port_of(&a.al, 0), 853);
}

static void
test_both_interleaved(void)
{
	struct res a;

	resolve_one("both.test", CP_FAMILY_ANY, 5000, &a);
	CU_ASSERT_EQUAL(a.eclass, CP_E_NONE);
	CU_ASSERT_EQUAL_FATAL(a.al.n, 5);
	CU_ASSERT(has_addr(&a.al, 0, "2001:db8::1"));
	CU_ASSERT(has_addr(&a.al, 1, "192.0.2.1"));
	CU_ASSERT(has_addr(&a.al, 2, "2001:db8::2"));
	CU_ASSERT(has_addr(&a.al, 3, "192.0.2.2"));
	CU_ASSERT(has_addr(&a.al, 4, "192.0.2.3"));
}

static void
test_family_filter(void)
{
	struct res a;
	size_t i;

	resolve_one("both.test", CP_FAMILY_INET4, 5000, &a);
	CU_ASSERT_EQUAL(a.eclass, CP_E_NONE);
	CU_ASSERT_EQUAL(a.al.n, 3);
	for (i = 0; i < a.al.n; i++)
		CU_ASSERT_EQUAL(a.al.a[i].ss_family, AF_INET);
	resolve_one("both.test", CP_FAMILY_INET6, 5000, &a);
	CU_ASSERT_EQUAL(a.al.n, 2);
	for (i = 0; i < a.al.n; i++)
		CU_ASSERT_EQUAL(a.al.a[i].ss_family, AF_INET6);
	/* The name exists, without addresses of that family. */
	resolve_one("v4only.test", CP_FAMILY_INET6, 5000, &a);
	CU_ASSERT_EQUAL(a.eclass, CP_E_NONAME);
	CU_ASSERT_EQUAL(a.err, ENXIO);
	CU_ASSERT_EQUAL(a.al.n, 0);
}

static void
test_bounded(void)
{
	struct res a;
	size_t i;

	resolve_one("many.test", CP_FAMILY_ANY, 5000, &a);
	CU_ASSERT_EQUAL(a.eclass, CP_E_NONE);
	CU_ASSERT_EQUAL(a.al.n, CP_MAX_ADDRS);
	for (i = 0; i < a.al.n; i++)
		CU_ASSERT_EQUAL(port_of(&a.al, i), 853);
}

static void
test_nxdomain(void)
{
	struct res a;

	resolve_one("nosuch.test", CP_FAMILY_ANY, 5000, &a);
	CU_ASSERT_EQUAL(a.eclass, CP_E_NONAME);
	CU_ASSERT_EQUAL(a.err, ENXIO);
	CU_ASSERT_EQUAL(a.al.n, 0);
	CU_ASSERT(strlen(a.text) > 0);
}

static void
test_servfail(void)
{
	struct res a;

	resolve_one("fail.test", CP_FAMILY_INET4, 5000, &a);
	CU_ASSERT_EQUAL(a.eclass, CP_E_UNREACH);
	/* c-ares reports SERVFAIL from every server as a refusal. */
	CU_ASSERT(strstr(a.text, "DNS server") != NULL);
	CU_ASSERT_EQUAL(fakedns_queries_for(dns, "fail.test") >= 1, 1);
}

/* A name never answered times out on its own timer while a name asked
 * after it is answered at once. */
static void
test_timeout_not_blocking(void)
{
	struct resolver *r = new_resolver();
	struct res slow = {0}, fast = {0};
	int both = 0;
	uint64_t t0 = ev_clock_ms();

	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT_FATAL(resolve_start(r, "never.test", 1, CP_FAMILY_ANY, 1500,
	                    on_res, &slow) != NULL);
	CU_ASSERT_FATAL(resolve_start(r, "fast.test", 1, CP_FAMILY_ANY, 5000,
	                    on_res, &fast) != NULL);
	while (both < 2 && ev_clock_ms() < t0 + 15000) {
		ev_run_once(ev, 50);
		both = (slow.done > 0) + (fast.done > 0);
	}
	CU_ASSERT_EQUAL(fast.done, 1);
	CU_ASSERT_EQUAL(fast.eclass, CP_E_NONE);
	CU_ASSERT_EQUAL(slow.done, 1);
	CU_ASSERT_EQUAL(slow.eclass, CP_E_TIMEDOUT);
	CU_ASSERT_EQUAL(slow.err, ETIMEDOUT);
	CU_ASSERT(fast.order < slow.order);
	/* Not before its timeout; well within a generous bound after. */
	CU_ASSERT(slow.at - t0 >= 1500);
	CU_ASSERT(slow.at - t0 < 10000);
	resolver_free(r);
}

/* AAAA never answered, A answered: the deadline yields the A records. */
static void
test_half_answered(void)
{
	struct res a;

	resolve_one("half.test", CP_FAMILY_ANY, 1000, &a);
	CU_ASSERT_EQUAL(a.eclass, CP_E_NONE);
	CU_ASSERT_EQUAL(a.al.n, 1);
	CU_ASSERT(has_addr(&a.al, 0, "192.0.2.20"));
}

/* A slow AAAA (1.5 s) within the timeout is waited for. */
static void
test_slow_aaaa(void)
{
	struct resolver *r = new_resolver();
	struct res slow = {0}, fast = {0};

	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT_FATAL(resolve_start(r, "slow6.test", 1, CP_FAMILY_ANY, 20000,
	                    on_res, &slow) != NULL);
	CU_ASSERT_FATAL(resolve_start(r, "v4only.test", 1, CP_FAMILY_ANY, 20000,
	                    on_res, &fast) != NULL);
	run_until(&slow.done, 1, 25000);
	CU_ASSERT_EQUAL(fast.done, 1);
	CU_ASSERT_EQUAL(slow.done, 1);
	CU_ASSERT(fast.order < slow.order);
	CU_ASSERT_EQUAL(slow.eclass, CP_E_NONE);
	CU_ASSERT_EQUAL(slow.al.n, 2);
	CU_ASSERT(has_addr(&slow.al, 0, "2001:db8::30"));
	CU_ASSERT(has_addr(&slow.al, 1, "192.0.2.30"));
	resolver_free(r);
}

static void
test_cancel(void)
{
	struct resolver *r = new_resolver();
	struct res a = {0}, b = {0}, c = {0};
	struct resolve_req *ra, *rl;
	unsigned q0 = fakedns_queries_for(dns, "slow6.test");
	uint64_t end;

	CU_ASSERT_FATAL(r != NULL);
	ra = resolve_start(r, "slow6.test", 1, CP_FAMILY_ANY, 5000, on_res, &a);
	rl = resolve_start(r, "127.0.0.1", 1, CP_FAMILY_ANY, 5000, on_res, &c);
	CU_ASSERT_FATAL(ra != NULL && rl != NULL);
	CU_ASSERT_FATAL(resolve_start(r, "v4only.test", 1, CP_FAMILY_ANY, 5000,
	                    on_res, &b) != NULL);
	resolve_cancel(rl);
	/* Cancel once the server has the queries, before the slow answer. */
	end = ev_clock_ms() + 1000;
	while (fakedns_queries_for(dns, "slow6.test") < q0 + 2 &&
	       ev_clock_ms() < end)
		ev_run_once(ev, 10);
	resolve_cancel(ra);
	run_until(&b.done, 1, 5000);
	run_for(2000); /* past the slow answer */
	CU_ASSERT_EQUAL(b.done, 1);
	CU_ASSERT_EQUAL(b.eclass, CP_E_NONE);
	CU_ASSERT_EQUAL(a.done, 0);
	CU_ASSERT_EQUAL(c.done, 0);
	resolver_free(r);
}

static void
test_free_pending(void)
{
	struct resolver *r = new_resolver();
	struct res a[4];
	const char *names[] = {"never.test", "slow6.test", "::1", "both.test"};
	int fds = tfd_count(getpid());
	size_t i;

	memset(a, 0, sizeof(a));
	CU_ASSERT_FATAL(r != NULL);
	for (i = 0; i < 4; i++) {
		CU_ASSERT_FATAL(resolve_start(r, names[i], 1, CP_FAMILY_ANY,
		                    3000, on_res, &a[i]) != NULL);
		if (i == 1) /* queries sent; the literal's answer not due */
			ev_run_once(ev, 0);
	}
	resolver_free(r);
	run_for(2000);
	for (i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(a[i].done, 0);
	CU_ASSERT_EQUAL(tfd_count(getpid()), fds);
}

static void
test_many(void)
{
	static struct res a[NBULK];
	struct resolver *r = new_resolver();
	int fds = tfd_count(getpid()), ok = 0, done = 0;
	uint64_t end = ev_clock_ms() + 30000;
	size_t i;

	memset(a, 0, sizeof(a));
	CU_ASSERT_FATAL(r != NULL);
	for (i = 0; i < NBULK; i++)
		CU_ASSERT_FATAL(
		    resolve_start(r, bulk_names[i], 1, CP_FAMILY_ANY, 20000,
		        on_res, &a[i]) != NULL);
	while (done < NBULK && ev_clock_ms() < end) {
		ev_run_once(ev, 50);
		for (i = 0, done = 0; i < NBULK; i++)
			done += a[i].done;
	}
	for (i = 0; i < NBULK; i++) {
		const char *want = i < 20 ? bulk_addrs[i] : "198.51.100.7";

		ok += a[i].done == 1 && a[i].eclass == CP_E_NONE &&
		      a[i].al.n == 1 && has_addr(&a[i].al, 0, want);
	}
	CU_ASSERT_EQUAL(ok, NBULK);
	resolver_free(r);
	CU_ASSERT_EQUAL(tfd_count(getpid()), fds);
}

static void
test_bad_servers(void)
{
	char err[256] = "";

	CU_ASSERT_PTR_NULL(
	    resolver_new(ev, "not an address", err, sizeof(err)));
	CU_ASSERT(strlen(err) > 0);
	CU_ASSERT_PTR_NULL(resolver_new(ev, "", err, sizeof(err)));
}

static void
test_no_leak(void)
{
	int fds = tfd_count(getpid());
	struct res a;

	resolve_one("both.test", CP_FAMILY_ANY, 5000, &a);
	resolve_one("never.test", CP_FAMILY_ANY, 300, &a);
	CU_ASSERT_EQUAL(a.eclass, CP_E_TIMEDOUT);
	CU_ASSERT_EQUAL(tfd_count(getpid()), fds);
	CU_ASSERT_EQUAL(fakedns_malformed(dns), 0);
}

/* RFC 6761 localhost names are answered without DNS, v6 first. */
static void
test_localhost(void)
{
	static const char *const yes[] = {"localhost", "LocalHost.",
	    "a.localhost", "x.y.LOCALHOST"};
	static const char *const no[] = {"notlocalhost", "localhost.example",
	    "localhostx", "xlocalhost."};
	struct addr_list al;
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		CU_ASSERT_EQUAL(resolve_literal(yes[i], 80, CP_FAMILY_ANY, &al),
		    1);
		CU_ASSERT_EQUAL(al.n, 2);
		CU_ASSERT_EQUAL(al.a[0].ss_family, AF_INET6);
		CU_ASSERT_EQUAL(al.a[1].ss_family, AF_INET);
		CU_ASSERT_EQUAL(
		    ntohs(((struct sockaddr_in *)&al.a[1])->sin_port), 80);
	}
	CU_ASSERT_EQUAL(resolve_literal("localhost", 1, CP_FAMILY_INET4, &al),
	    1);
	CU_ASSERT_EQUAL(al.n, 1);
	CU_ASSERT_EQUAL(al.a[0].ss_family, AF_INET);
	CU_ASSERT_EQUAL(resolve_literal("localhost", 1, CP_FAMILY_INET6, &al),
	    1);
	CU_ASSERT_EQUAL(al.n, 1);
	CU_ASSERT_EQUAL(al.a[0].ss_family, AF_INET6);
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		CU_ASSERT_EQUAL(resolve_literal(no[i], 80, CP_FAMILY_ANY, &al),
		    0);
}

int
main(void)
{
	CU_pSuite s = cu_suite("resolve", suite_init, suite_clean);

	cu_test(s, "literals", test_literal);
	cu_test(s, "localhost names", test_localhost);
	cu_test(s, "literal via resolve_start", test_start_literal);
	cu_test(s, "malformed names", test_bad_names);
	cu_test(s, "A only", test_a_only);
	cu_test(s, "AAAA only", test_aaaa_only);
	cu_test(s, "both, interleaved v6 first", test_both_interleaved);
	cu_test(s, "family filter", test_family_filter);
	cu_test(s, "answers bounded", test_bounded);
	cu_test(s, "NXDOMAIN", test_nxdomain);
	cu_test(s, "SERVFAIL", test_servfail);
	cu_test(s, "timeout does not block others", test_timeout_not_blocking);
	cu_test(s, "half answered at deadline", test_half_answered);
	cu_test(s, "slow AAAA waited for", test_slow_aaaa);
	cu_test(s, "cancel", test_cancel);
	cu_test(s, "free with pending", test_free_pending);
	cu_test(s, "200 concurrent", test_many);
	cu_test(s, "bad server list", test_bad_servers);
	cu_test(s, "no descriptor leak", test_no_leak);
	return cu_finish();
}
