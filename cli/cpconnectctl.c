/* SPDX-License-Identifier: ISC */
/*
 * cpconnectctl: the administrator's tool.  It sends one request line to
 * the daemon's control socket (root only), reads the "name value" answer
 * and prints it as text, JSON (--json) or, for metrics, the Prometheus
 * text exposition format.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/run/cpconnect/cpconnect.sock"
#define MAX_ANSWER (1024 * 1024 + 1) /* the daemon's CONTROL_MAX_ANSWER */
#define MAX_LINES 16384

struct answer {
	char buf[MAX_ANSWER];
	char *name[MAX_LINES], *value[MAX_LINES];
	int n;
};

static const char *progname = "cpconnectctl";

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
	    "usage: %s [-j] [-s socket] status | stats | reload | "
	    "log verbose|brief | metrics | cache list|flush\n",
	    progname);
	exit(2);
}

/* -s, $CPCONNECT_CONTROL, or <client socket>.ctl as the daemon derives
 * it ($CPCONNECT_SOCKET or the default). */
static const char *
control_path(const char *opt)
{
	static char buf[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *s;

	if (opt != NULL)
		return opt;
	if ((s = getenv("CPCONNECT_CONTROL")) != NULL && *s != '\0')
		return s;
	if ((s = getenv("CPCONNECT_SOCKET")) == NULL || *s == '\0')
		s = DEFAULT_SOCKET;
	snprintf(buf, sizeof(buf), "%s.ctl", s);
	return buf;
}

static int
ctl_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "%s: %s: path too long\n", progname, path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(
		    stderr, "%s: %s: %s\n", progname, path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

/* Split the answer into lines; the last must be "ok" or "error: ...". */
static int
parse_answer(struct answer *a, size_t len, const char *cmd)
{
	char *p = a->buf, *nl, *last = NULL;

	a->buf[len] = '\0';
	a->n = 0;
	while ((nl = strchr(p, '\n')) != NULL) {
		*nl = '\0';
		if (last != NULL && a->n < MAX_LINES) {
			char *sp = strchr(last, ' ');

			a->name[a->n] = last;
			a->value[a->n] = sp ? (*sp = '\0', sp + 1) : "";
			a->n++;
		}
		last = p;
		p = nl + 1;
	}
	if (last != NULL && strcmp(last, "ok") == 0)
		return 0;
	if (last != NULL && strncmp(last, "error: ", 7) == 0)
		fprintf(stderr, "%s: %s: %s\n", progname, cmd, last + 7);
	else
		fprintf(stderr, "%s: %s: truncated answer from the daemon\n",
		    progname, cmd);
	return -1;
}

/* How long an answer may take: a reload starts a generation of engines,
 * the rest is read off the parent's memory.  Past it the socket is not
 * the control socket (the client socket waits for a whole frame). */
#define ANSWER_MS 5000
#define RELOAD_ANSWER_MS 60000

static int
request(const char *path, const char *cmd, struct answer *a)
{
	int ms = strcmp(cmd, "reload") == 0 ? RELOAD_ANSWER_MS : ANSWER_MS;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	size_t got = 0;
	ssize_t n;
	int fd;

	if ((fd = ctl_connect(path)) == -1)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1) {
		fprintf(
		    stderr, "%s: %s: %s\n", progname, path, strerror(errno));
		close(fd);
		return -1;
	}
	if (dprintf(fd, "%s\n", cmd) < 0) {
		fprintf(
		    stderr, "%s: %s: %s\n", progname, path, strerror(errno));
		close(fd);
		return -1;
	}
	while (got < sizeof(a->buf) - 1 &&
	       (n = read(fd, a->buf + got, sizeof(a->buf) - 1 - got)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			fprintf(stderr,
			    "%s: %s: no answer within %d s: not cpconnectd's "
			    "control socket (that is the client socket's path "
			    "with .ctl, or control-socket)?\n",
			    progname, path, ms / 1000);
			close(fd);
			return -1;
		}
		if (n == -1) {
			fprintf(stderr, "%s: %s: %s\n", progname, path,
			    strerror(errno));
			close(fd);
			return -1;
		}
		got += (size_t)n;
	}
	close(fd);
	/* The client socket answers a line in its own binary protocol: the
	 * easy mistake is -s with cpconnectd's -s path. */
	if (got == 0 || memchr(a->buf, '\0', got) != NULL) {
		fprintf(stderr,
		    "%s: %s: not cpconnectd's control socket (that is the "
		    "client socket's path with .ctl, or control-socket)\n",
		    progname, path);
		return -1;
	}
	return parse_answer(a, got, cmd);
}

static const char *
value_of(const struct answer *a, const char *name)
{
	for (int i = 0; i < a->n; i++)
		if (strcmp(a->name[i], name) == 0)
			return a->value[i];
	return "0";
}

static int
is_number(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

static void
json_str(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

/* "group.key value" lines, consecutive by group, become nested objects. */
static void
print_json(const struct answer *a)
{
	char group[64] = "";
	int first = 1, gfirst = 1;

	putchar('{');
	for (int i = 0; i < a->n; i++) {
		const char *dot = strchr(a->name[i], '.');
		size_t glen = dot ? (size_t)(dot - a->name[i]) : 0;

		if (group[0] != '\0' &&
		    (glen == 0 || strncmp(group, a->name[i], glen) != 0 ||
		        group[glen] != '\0')) {
			putchar('}');
			group[0] = '\0';
		}
		if (glen > 0 && group[0] == '\0' && glen < sizeof(group)) {
			memcpy(group, a->name[i], glen);
			group[glen] = '\0';
			printf("%s", first ? "" : ",");
			json_str(group);
			printf(":{");
			first = 0;
			gfirst = 1;
		}
		if (group[0] != '\0') {
			printf("%s", gfirst ? "" : ",");
			json_str(dot + 1);
			gfirst = 0;
		} else {
			printf("%s", first ? "" : ",");
			json_str(a->name[i]);
			first = 0;
		}
		putchar(':');
		if (is_number(a->value[i]))
			printf("%s", a->value[i]);
		else
			json_str(a->value[i]);
	}
	if (group[0] != '\0')
		putchar('}');
	printf("}\n");
}

/* "cache list": the counts, then "session" lines of
 * "id uid version age expires-in mode destination...", as an array. */
static void
print_cache_json(const struct answer *a)
{
	static const char *const f[] = {
	    "id", "uid", "version", "age", "expires_in", "mode"};
	int first = 1;

	putchar('{');
	for (int i = 0; i < a->n; i++)
		if (strcmp(a->name[i], "session") != 0) {
			json_str(a->name[i]);
			putchar(':');
			if (is_number(a->value[i]))
				printf("%s", a->value[i]);
			else
				json_str(a->value[i]);
			putchar(',');
		}
	printf("\"sessions\":[");
	for (int i = 0; i < a->n; i++) {
		char v[1024], *p = v, *sp;
		size_t k;

		if (strcmp(a->name[i], "session") != 0)
			continue;
		snprintf(v, sizeof(v), "%s", a->value[i]);
		printf("%s{", first ? "" : ",");
		first = 0;
		for (k = 0; k < sizeof(f) / sizeof(f[0]) && p != NULL; k++) {
			if ((sp = strchr(p, ' ')) != NULL)
				*sp = '\0';
			json_str(f[k]);
			putchar(':');
			if (is_number(p) || (p[0] == '-' && is_number(p + 1)))
				printf("%s", p);
			else
				json_str(p);
			putchar(',');
			p = sp != NULL ? sp + 1 : NULL;
		}
		printf("\"destination\":");
		json_str(p != NULL ? p : "");
		putchar('}');
	}
	printf("]}\n");
}

static void
print_text(const struct answer *a)
{
	for (int i = 0; i < a->n; i++)
		printf("%-20s %s\n", a->name[i], a->value[i]);
}

static void
metric_head(const char *name, const char *type, const char *help)
{
	printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The latency histogram: cumulative buckets in seconds. */
static void
metrics_latency(const struct answer *a)
{
	const char *n = "cpconnect_request_duration_seconds";
	unsigned long long cum = 0;

	metric_head(n, "histogram", "Time to answer a request.");
	for (int i = 0; i < a->n; i++) {
		unsigned long ms;

		if (strncmp(a->name[i], "bucket.", 7) != 0)
			continue;
		cum += strtoull(a->value[i], NULL, 10);
		ms = strtoul(a->name[i] + 7, NULL, 10);
		if (strcmp(a->name[i] + 7, "inf") == 0)
			printf("%s_bucket{le=\"+Inf\"} %llu\n", n, cum);
		else
			printf(
			    "%s_bucket{le=\"%g\"} %llu\n", n, ms / 1000.0, cum);
	}
	printf("%s_sum %g\n", n,
	    strtoull(value_of(a, "latency.sum"), NULL, 10) / 1000.0);
	printf("%s_count %llu\n", n, cum);
}

/* Lines of one group as one metric with a label. */
static void
metrics_group(const struct answer *a, const char *prefix, const char *name,
    const char *label)
{
	size_t plen = strlen(prefix);

	for (int i = 0; i < a->n; i++)
		if (strncmp(a->name[i], prefix, plen) == 0)
			printf("%s{%s=\"%s\"} %s\n", name, label,
			    a->name[i] + plen, a->value[i]);
}

static void
print_metrics(const struct answer *st, const struct answer *sx)
{
	metric_head("cpconnect_engines", "gauge", "Engines running.");
	printf("cpconnect_engines %s\n", value_of(st, "engines"));
	metric_head("cpconnect_generation", "gauge",
	    "Configuration generation (reloads + 1).");
	printf("cpconnect_generation %s\n", value_of(st, "generation"));
	metric_head("cpconnect_uptime_seconds", "gauge", "Daemon uptime.");
	printf("cpconnect_uptime_seconds %s\n", value_of(st, "uptime"));
	metric_head("cpconnect_sessions", "gauge", "Client sessions open.");
	printf("cpconnect_sessions %s\n", value_of(st, "sessions"));
	metric_head(
	    "cpconnect_requests_inflight", "gauge", "Requests in progress.");
	printf("cpconnect_requests_inflight %s\n", value_of(st, "inflight"));
	metric_head("cpconnect_requests_total", "counter",
	    "Requests answered, by outcome.");
	metrics_group(sx, "outcome.", "cpconnect_requests_total", "outcome");
	metric_head("cpconnect_requests_kind_total", "counter",
	    "Requests answered, by kind.");
	metrics_group(sx, "kind.", "cpconnect_requests_kind_total", "kind");
	metric_head("cpconnect_requests_uid_total", "counter",
	    "Requests answered, by client uid (bounded; other).");
	metrics_group(sx, "uid.", "cpconnect_requests_uid_total", "uid");
	metric_head("cpconnect_tls_handshakes_total", "counter",
	    "TLS handshakes completed.");
	printf(
	    "cpconnect_tls_handshakes_total %s\n", value_of(sx, "handshakes"));
	metric_head("cpconnect_dial_reordered_total", "counter",
	    "Connects whose address order recent outcomes changed.");
	printf("cpconnect_dial_reordered_total %s\n",
	    value_of(sx, "dial.reordered"));
	metric_head("cpconnect_verify_cached_total", "counter",
	    "Certificate chains found verified in the cache.");
	printf("cpconnect_verify_cached_total %s\n",
	    value_of(sx, "verify.cached"));
	metric_head("cpconnect_engine_restarts_total", "counter",
	    "Engines restarted after dying.");
	printf(
	    "cpconnect_engine_restarts_total %s\n", value_of(sx, "restarts"));
	metric_head("cpconnect_signatures_total", "counter",
	    "Client-key signatures made for engines.");
	printf("cpconnect_signatures_total %s\n", value_of(sx, "signatures"));
	metrics_latency(sx);
}

int
main(int argc, char *argv[])
{
	static const struct option lo[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"socket", required_argument, NULL, 's'},
	    {NULL, 0, NULL, 0},
	};
	static struct answer a, b;
	const char *sock = NULL, *path;
	char cmd[64];
	int ch, json = 0;

	while ((ch = getopt_long(argc, argv, "c:js:", lo, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 'c':
		case 's':
			sock = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	path = control_path(sock);
	if (strcmp(argv[0], "log") == 0) {
		if (argc != 2 || (strcmp(argv[1], "verbose") != 0 &&
		                     strcmp(argv[1], "brief") != 0))
			usage();
		snprintf(cmd, sizeof(cmd), "log %s", argv[1]);
	} else if (strcmp(argv[0], "cache") == 0) {
		if (argc != 2 || (strcmp(argv[1], "list") != 0 &&
		                     strcmp(argv[1], "flush") != 0))
			usage();
		snprintf(cmd, sizeof(cmd), "cache %s", argv[1]);
	} else if (argc == 1 && (strcmp(argv[0], "status") == 0 ||
	                            strcmp(argv[0], "stats") == 0 ||
	                            strcmp(argv[0], "reload") == 0 ||
	                            strcmp(argv[0], "metrics") == 0))
		snprintf(cmd, sizeof(cmd), "%s", argv[0]);
	else
		usage();
	if (strcmp(cmd, "metrics") == 0) {
		if (request(path, "status", &a) == -1 ||
		    request(path, "stats", &b) == -1)
			return 1;
		print_metrics(&a, &b);
		return 0;
	}
	if (request(path, cmd, &a) == -1)
		return 1;
	if (json && strcmp(cmd, "cache list") == 0)
		print_cache_json(&a);
	else if (json)
		print_json(&a);
	else if (a.n == 0)
		printf("%s: ok\n", cmd);
	else
		print_text(&a);
	return 0;
}
