/* SPDX-License-Identifier: ISC */
/*
 * cpconnect: a connection through cpconnectd for scripts.
 *
 *   cpconnect [options] host port              stdin -> connection -> stdout
 *   cpconnect [options] host port prog args... prog reads fd 6, writes fd 7
 *
 * One thread copies the connection to its reader, the main thread copies
 * the writer to the connection: the library allows one reader and one
 * writer per client at the same time, and buffered TLS plaintext is never
 * stuck behind a poll() on the socket.  In exec mode, where the kernel
 * does the TLS record layer and nothing of ours has to go out between
 * the program's writes (TLS 1.2: no re-keying), fd 7 is the socket
 * itself; fd 6 is always relayed, because the kernel gives a plain read
 * EIO instead of end of file at close_notify.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "cprops/client.h"

/* Exit codes, documented in cpconnect(1). */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,	   /* I/O error after connecting */
	EXIT_USAGE = 2,
	EXIT_DAEMON = 3,   /* cpconnectd not reachable */
	EXIT_DENIED = 4,   /* refused by policy */
	EXIT_NETWORK = 5,  /* name, refused, unreachable, timeout */
	EXIT_TLS = 6,	   /* handshake failed */
	EXIT_VERIFY = 7,   /* certificate did not verify */
};

struct opts {
	int tls, verify, family, retries, info, json, quiet, verbose, delay;
	double timeout;
	const char *cafile, *cadir, *sni, *alpn, *sock;
	const char *starttls; /* smtp, imap, pop3 or NULL */
	const char *host;
	int port;
	char **prog;
};

static void __attribute__((noreturn))
usage(int status)
{
	FILE *f = status ? stderr : stdout;

	fprintf(f,
	    "usage: cpconnect [options] host port [program [args...]]\n"
	    "  -t, --tls             TLS (verified against the daemon's trust "
	    "store)\n"
	    "  -k, --no-verify       TLS: report a bad certificate, do not "
	    "fail\n"
	    "      --ca-file FILE    TLS: trust anchors from FILE (PEM)\n"
	    "      --ca-dir DIR      TLS: trust anchors from DIR\n"
	    "      --servername NAME TLS: server name to send and verify\n"
	    "      --alpn LIST       TLS: protocols, e.g. h2,http/1.1\n"
	    "      --starttls PROTO  connect in plaintext, then TLS after the "
	    "STARTTLS\n"
	    "                        dialogue of smtp, imap or pop3\n"
	    "  -r, --retries N       retries after the first attempt (3)\n"
	    "  -w, --timeout SEC     per attempt and per read/write\n"
	    "  -4, -6                IPv4 or IPv6 only\n"
	    "      --nagle           leave Nagle's algorithm on (no "
	    "TCP_NODELAY)\n"
	    "  -S, --socket PATH     daemon socket (else $CPCONNECT_SOCKET)\n"
	    "  -i, --info            print the verification result and chain "
	    "to stderr\n"
	    "  -j, --json            print that information as JSON to stdout "
	    "and exit\n"
	    "  -q, --quiet           no error messages\n"
	    "  -v, --verbose         say what happened on stderr\n"
	    "  -h, --help            this text\n"
	    "  -V, --version         the version\n"
	    "With a program, it runs with the connection readable on fd 6 "
	    "and\nwritable on fd 7 (plaintext) and PROTO, TCPREMOTEIP, "
	    "TCPREMOTEPORT\nand CPCONNECT_* describing it.\n"
	    "Exit status: 0 ok, 1 I/O error, 2 usage, 3 daemon unreachable, "
	    "4 denied\nby policy, 5 network failure, 6 TLS handshake failure, "
	    "7 certificate\nverification failure; with a program, its status.\n");
	exit(status);
}

/* A bad value: say which option (as it was written) and which value. */
static void __attribute__((noreturn, format(printf, 3, 4)))
bad_value(const char *opt, const char *val, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "cpconnect: %s: '%s'", opt, val);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_USAGE);
}

/* An unsigned decimal number in [lo, hi], digits only; -1 if not. */
static long
parse_uint(const char *s, long lo, long hi)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -1;
	return v;
}

static int
parse_port(const char *s)
{
	return (int)parse_uint(s, 1, 65535);
}

/* Microseconds, the unit of cp_client_set_timeout, rounded. */
static long long
usecs(double s)
{
	return (long long)(s * 1e6 + 0.5);
}

/* Seconds: a plain decimal number, digits with at most one point (no
 * sign, exponent, "nan", "inf" or hexadecimal, which strtod takes), from
 * a microsecond, the unit of cp_client_set_timeout, to an hour.  Less
 * than that would silently be 0, no timeout at all. */
static double
parse_seconds(const char *opt, const char *s)
{
	const char *p;
	int digits = 0, points = 0;
	double v;

	for (p = s; (*p >= '0' && *p <= '9') || (*p == '.' && !points); p++)
		if (*p == '.')
			points = 1;
		else
			digits++;
	if (*p != '\0' || digits == 0)
		bad_value(opt, s, " is not a number of seconds");
	v = strtod(s, NULL);
	if (v > 3600 || usecs(v) == 0)
		bad_value(
		    opt, s, " is not a number of seconds (0.000001 to 3600)");
	return v;
}

/* The daemon's socket: it has to fit a sockaddr_un. */
static void
check_socket(const char *opt, const char *s)
{
	struct sockaddr_un sun;

	if (*s == '\0')
		bad_value(opt, s, " is not a socket path");
	if (strlen(s) >= sizeof(sun.sun_path))
		bad_value(opt, s, " is longer than %zu bytes",
		    sizeof(sun.sun_path) - 1);
}

/* The library reads the anchors at connect time; a typo is better told
 * now, as a usage error, than as a failed connection. */
static void
check_path(const char *opt, const char *s, int want_dir)
{
	struct stat st;

	if (*s == '\0')
		bad_value(opt, s, " is not a path");
	if (stat(s, &st) == -1)
		bad_value(opt, s, ": %s", strerror(errno));
	if (want_dir && !S_ISDIR(st.st_mode))
		bad_value(opt, s, ": %s", strerror(ENOTDIR));
	if (!want_dir && S_ISDIR(st.st_mode))
		bad_value(opt, s, ": %s (--ca-dir takes a directory)",
		    strerror(EISDIR));
	if (access(s, R_OK | (want_dir ? X_OK : 0)) == -1)
		bad_value(opt, s, ": %s", strerror(errno));
}

/* The library reads CPCONNECT_KTLS at a TLS connect, for --starttls after
 * the dialogue: a typo is better told before connecting, as a bad value.
 * The values of cp_client_set_ktls(3): any case, empty is auto. */
static void
check_ktls_env(void)
{
	const char *v = getenv("CPCONNECT_KTLS");

	if (v != NULL && *v != '\0' && strcasecmp(v, "off") != 0 &&
	    strcasecmp(v, "auto") != 0 && strcasecmp(v, "require") != 0)
		bad_value("CPCONNECT_KTLS", v, " is not off, auto or require");
}

/* The option as the user wrote it: "--timeout" or "-w". */
static const char *
opt_name(const struct option *lo, int li, int ch, char *buf, size_t sz)
{
	if (li >= 0)
		snprintf(buf, sz, "--%s", lo[li].name);
	else
		snprintf(buf, sz, "-%c", ch);
	return buf;
}

static void
parse(struct opts *o, int argc, char *argv[])
{
	enum { O_CAFILE = 256, O_CADIR, O_SNI, O_ALPN, O_NAGLE, O_STARTTLS };
	static const struct option lo[] = {
		{"tls", no_argument, NULL, 't'},
		{"no-verify", no_argument, NULL, 'k'},
		{"ca-file", required_argument, NULL, O_CAFILE},
		{"ca-dir", required_argument, NULL, O_CADIR},
		{"servername", required_argument, NULL, O_SNI},
		{"alpn", required_argument, NULL, O_ALPN},
		{"nagle", no_argument, NULL, O_NAGLE},
		{"starttls", required_argument, NULL, O_STARTTLS},
		{"retries", required_argument, NULL, 'r'},
		{"timeout", required_argument, NULL, 'w'},
		{"socket", required_argument, NULL, 'S'},
		{"info", no_argument, NULL, 'i'},
		{"json", no_argument, NULL, 'j'},
		{"quiet", no_argument, NULL, 'q'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	char nb[32];
	const char *on;
	int ch, li;

	memset(o, 0, sizeof(*o));
	o->verify = 1;
	o->retries = -1;
	/* '+': options end at the first operand (the program's own args). */
	while ((li = -1, ch = getopt_long(argc, argv, "+46hijkqr:S:tvVw:", lo,
			 &li)) != -1) {
		on = opt_name(lo, li, ch, nb, sizeof(nb));
		switch (ch) {
		case '4':
			o->family = AF_INET;
			break;
		case '6':
			o->family = AF_INET6;
			break;
		case 't':
			o->tls = 1;
			break;
		case 'k':
			o->verify = 0;
			break;
		case O_CAFILE:
			check_path(on, optarg, 0);
			o->cafile = optarg;
			break;
		case O_CADIR:
			check_path(on, optarg, 1);
			o->cadir = optarg;
			break;
		case O_SNI:
			/* The library judges it (one host-name rule). */
			o->sni = optarg;
			break;
		case O_ALPN:
			o->alpn = optarg;
			break;
		case O_NAGLE:
			o->delay = 1;
			break;
		case O_STARTTLS:
			if (strcmp(optarg, "smtp") != 0 &&
			    strcmp(optarg, "imap") != 0 &&
			    strcmp(optarg, "pop3") != 0)
				bad_value(on, optarg, " is not smtp, imap or "
				    "pop3");
			o->starttls = optarg;
			o->tls = 1;
			break;
		case 'r':
			if ((o->retries = (int)parse_uint(optarg, 0, 1000)) ==
			    -1)
				bad_value(on, optarg, " is not a number of "
				    "retries (0 to 1000)");
			break;
		case 'w':
			o->timeout = parse_seconds(on, optarg);
			break;
		case 'S':
			check_socket(on, optarg);
			o->sock = optarg;
			break;
		case 'i':
			o->info = 1;
			break;
		case 'j':
			o->json = o->info = 1;
			break;
		case 'q':
			o->quiet = 1;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'V':
			printf("cpconnect %s\n", CP_CONNECT_VERSION);
			exit(0);
		case 'h':
			usage(0);
		default:
			usage(EXIT_USAGE);
		}
	}
	if (argc - optind < 2)
		usage(EXIT_USAGE);
	o->host = argv[optind];
	if ((o->port = parse_port(argv[optind + 1])) == -1)
		bad_value("port", argv[optind + 1],
		    " is not a port number (1 to 65535)");
	if (argc - optind > 2)
		o->prog = &argv[optind + 2];
	if ((o->cafile || o->cadir || o->sni || o->alpn || !o->verify) &&
	    !o->tls) {
		fprintf(stderr, "cpconnect: TLS options need --tls\n");
		exit(EXIT_USAGE);
	}
	if (o->tls)
		check_ktls_env();
}

/* The library judges the host, by its one rule: its length when the
 * client is made, the rest when it connects, before asking the daemon. */
static void __attribute__((noreturn))
bad_host(cp_client *c, const char *host)
{
	cp_client_destroy(c);
	bad_value("host", host, " is not a host name or address");
}

static int
host_refused(int e, const char *msg)
{
	return e == EINVAL &&
	       strstr(msg, "is not a host name or address") != NULL;
}

/* Bad values of ours never get here (bad_host, check_ktls_env): an
 * EINVAL left is the daemon's, such as a proxy that cannot carry the
 * name, a network failure. */
static int
exit_for_errno(int e, const char *msg)
{
	if (e == EACCES)
		return EXIT_DENIED;
	if (e == ECONNREFUSED && strncmp(msg, "cpconnectd not reachable", 24) == 0)
		return EXIT_DAEMON;
	if (e == EPROTO && strstr(msg, "verif") != NULL)
		return EXIT_VERIFY;
	if (e == EPROTO)
		return EXIT_TLS;
	return EXIT_NETWORK;
}

/*
 * STARTTLS: the plaintext dialogue before cp_client_connect_ssl.  Replies
 * are read a byte at a time, so nothing past the server's go-ahead is
 * ever taken in: what follows it belongs to TLS.  A server that sends
 * anything behind that reply before our ClientHello is refused, here
 * and again by the daemon: it is the command injection of CVE-2011-0411
 * (plaintext that a client would read as if it had come under TLS).
 * Lines are bounded, and the whole dialogue by the timeout.
 */
#define ST_LINE_MAX 1000   /* RFC 5321's 512 for a reply line, with room */
#define ST_LINES_MAX 100   /* lines of one reply, untagged IMAP lines */
#define ST_DEFAULT_MS 30000 /* the dialogue without --timeout */

struct st {
	cp_client *c;
	const char *proto;
	uint64_t deadline;
	int verbose;
	char err[ST_LINE_MAX + 128];
};

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int __attribute__((format(printf, 2, 3)))
st_fail(struct st *st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->err, sizeof(st->err), fmt, ap);
	va_end(ap);
	return -1;
}

/* A printable copy of what the server said, for messages. */
static const char *
st_show(const char *line, char *buf, size_t sz)
{
	size_t i, n = 0;

	for (i = 0; line[i] != '\0' && n + 1 < sz && i < 120; i++)
		buf[n++] = line[i] >= 0x20 && line[i] < 0x7f ? line[i] : '?';
	buf[n] = '\0';
	return buf;
}

/* One byte from the server, within the deadline. */
static int
st_byte(struct st *st, char *ch)
{
	struct pollfd p = {.fd = cp_client_fd(st->c), .events = POLLIN};
	uint64_t now = mono_ms();
	int n;

	for (;;) {
		if (now >= st->deadline)
			return st_fail(st, "no answer from the server in time");
		n = poll(&p, 1, (int)(st->deadline - now));
		if (n == 1)
			break;
		if (n == -1 && errno != EINTR)
			return st_fail(st, "poll: %s", strerror(errno));
		now = mono_ms();
	}
	if ((n = cp_client_read(st->c, ch, 1)) == 1)
		return 0;
	if (n == 0)
		return st_fail(st, "the server closed the connection");
	return st_fail(st, "read: %s", cp_client_error(st->c)[0]
	                                   ? cp_client_error(st->c)
	                                   : strerror(errno));
}

/* One line without its CR LF, at most ST_LINE_MAX bytes. */
static int
st_line(struct st *st, char *buf)
{
	char ch, shown[128];
	size_t n = 0;

	for (;;) {
		if (st_byte(st, &ch) == -1)
			return -1;
		if (ch == '\n')
			break;
		if (n == ST_LINE_MAX)
			return st_fail(st, "a line from the server is longer "
			    "than %d bytes", ST_LINE_MAX);
		buf[n++] = ch;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	if (strlen(buf) != n)
		return st_fail(st, "a NUL byte in a line from the server");
	if (st->verbose)
		fprintf(stderr, "cpconnect: S: %s\n",
		    st_show(buf, shown, sizeof(shown)));
	return 0;
}

static int
st_send(struct st *st, const char *cmd)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "%s\r\n", cmd);

	if (st->verbose)
		fprintf(stderr, "cpconnect: C: %s\n", cmd);
	if (cp_client_write(st->c, buf, n) != n)
		return st_fail(st, "write: %s", cp_client_error(st->c));
	return 0;
}

/*
 * An SMTP reply (RFC 5321 4.2.1): lines "NNN-text" then "NNN text" (or
 * "NNN"), the same code throughout.  The code, and whether a line of it
 * is the STARTTLS extension (for EHLO).  -1 when malformed.
 */
static int
smtp_reply(struct st *st, char *line, int *starttls)
{
	char code[4] = "", shown[128];
	int i;

	*starttls = 0;
	for (i = 0; i < ST_LINES_MAX; i++) {
		if (st_line(st, line) == -1)
			return -1;
		if (strlen(line) < 3 || line[0] < '2' || line[0] > '5' ||
		    line[1] < '0' || line[1] > '9' || line[2] < '0' ||
		    line[2] > '9' ||
		    (line[3] != '\0' && line[3] != ' ' && line[3] != '-') ||
		    (code[0] != '\0' && strncmp(code, line, 3) != 0))
			return st_fail(st, "not an SMTP reply: \"%s\"",
			    st_show(line, shown, sizeof(shown)));
		memcpy(code, line, 3);
		if (line[3] != '\0' && strncasecmp(line + 4, "STARTTLS", 8) == 0 &&
		    (line[12] == '\0' || line[12] == ' '))
			*starttls = 1;
		if (line[3] != '-')
			return atoi(code);
	}
	return st_fail(st, "an SMTP reply of more than %d lines",
	    ST_LINES_MAX);
}

static int
st_smtp(struct st *st)
{
	char line[ST_LINE_MAX + 1], shown[128];
	int code, tls;

	if ((code = smtp_reply(st, line, &tls)) == -1)
		return -1;
	if (code != 220)
		return st_fail(st, "greeting: \"%s\"",
		    st_show(line, shown, sizeof(shown)));
	if (st_send(st, "EHLO localhost") == -1 ||
	    (code = smtp_reply(st, line, &tls)) == -1)
		return -1;
	if (code != 250)
		return st_fail(st, "EHLO: \"%s\"",
		    st_show(line, shown, sizeof(shown)));
	if (!tls)
		return st_fail(st, "the server does not offer STARTTLS");
	if (st_send(st, "STARTTLS") == -1 ||
	    (code = smtp_reply(st, line, &tls)) == -1)
		return -1;
	if (code != 220)
		return st_fail(st, "the server refused STARTTLS: \"%s\"",
		    st_show(line, shown, sizeof(shown)));
	return 0;
}

/* IMAP (RFC 3501 6.2.1): "* OK" greeting, a001 STARTTLS, a001 OK. */
static int
st_imap(struct st *st)
{
	char line[ST_LINE_MAX + 1], shown[128];
	int i;

	if (st_line(st, line) == -1)
		return -1;
	if (strncasecmp(line, "* OK", 4) != 0)
		return st_fail(st, "greeting: \"%s\"%s",
		    st_show(line, shown, sizeof(shown)),
		    strncasecmp(line, "* PREAUTH", 9) == 0
		        ? " (no STARTTLS once authenticated)"
		        : "");
	if (st_send(st, "a001 STARTTLS") == -1)
		return -1;
	for (i = 0; i < ST_LINES_MAX; i++) {
		if (st_line(st, line) == -1)
			return -1;
		if (strncmp(line, "* ", 2) == 0)
			continue; /* untagged: not the answer */
		if (strncasecmp(line, "a001 OK", 7) == 0 &&
		    (line[7] == '\0' || line[7] == ' '))
			return 0;
		if (strncasecmp(line, "a001 ", 5) == 0)
			return st_fail(st, "the server refused STARTTLS: "
			    "\"%s\"", st_show(line, shown, sizeof(shown)));
		return st_fail(st, "not an IMAP response: \"%s\"",
		    st_show(line, shown, sizeof(shown)));
	}
	return st_fail(st, "more than %d untagged lines", ST_LINES_MAX);
}

/* POP3 (RFC 2595 4): +OK greeting, STLS, +OK. */
static int
st_pop3(struct st *st)
{
	char line[ST_LINE_MAX + 1], shown[128];

	if (st_line(st, line) == -1)
		return -1;
	if (strncmp(line, "+OK", 3) != 0)
		return st_fail(st, "greeting: \"%s\"",
		    st_show(line, shown, sizeof(shown)));
	if (st_send(st, "STLS") == -1 || st_line(st, line) == -1)
		return -1;
	if (strncmp(line, "+OK", 3) != 0)
		return st_fail(st, "the server refused STLS: \"%s\"",
		    st_show(line, shown, sizeof(shown)));
	return 0;
}

/* The dialogue, then nothing more may have arrived.  0, or -1 with the
 * reason in st->err. */
static int
starttls(struct st *st)
{
	char b;
	int rv;

	if (strcmp(st->proto, "smtp") == 0)
		rv = st_smtp(st);
	else if (strcmp(st->proto, "imap") == 0)
		rv = st_imap(st);
	else
		rv = st_pop3(st);
	if (rv == 0 &&
	    recv(cp_client_fd(st->c), &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
		return st_fail(st, "the server sent more behind its go-ahead: "
		    "refused (plaintext injected ahead of TLS, CVE-2011-0411)");
	return rv;
}

/* Certificate details, for --info and exec mode. */

static void
fingerprint(X509 *x, char *out, size_t sz)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;
	size_t off = 0;

	out[0] = '\0';
	if (!X509_digest(x, EVP_sha256(), md, &n))
		return;
	for (i = 0; i < n && off + 4 < sz; i++)
		off += (size_t)snprintf(out + off, sz - off, "%s%02X",
		    i ? ":" : "", md[i]);
}

static void
name_str(X509_NAME *n, char *out, size_t sz)
{
	BIO *b = BIO_new(BIO_s_mem());
	int len;

	out[0] = '\0';
	if (b == NULL)
		return;
	X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253);
	len = BIO_read(b, out, (int)sz - 1);
	out[len > 0 ? len : 0] = '\0';
	BIO_free(b);
}

static void
time_str(const ASN1_TIME *t, char *out, size_t sz)
{
	BIO *b = BIO_new(BIO_s_mem());
	int len;

	out[0] = '\0';
	if (b == NULL)
		return;
	ASN1_TIME_print(b, t);
	len = BIO_read(b, out, (int)sz - 1);
	out[len > 0 ? len : 0] = '\0';
	BIO_free(b);
}

static void
sans_str(X509 *x, char *out, size_t sz)
{
	GENERAL_NAMES *gn = X509_get_ext_d2i(x, NID_subject_alt_name, NULL,
	    NULL);
	size_t off = 0;
	int i;

	out[0] = '\0';
	for (i = 0; gn != NULL && i < sk_GENERAL_NAME_num(gn); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gn, i);
		char ip[64] = "";

		if (g->type == GEN_DNS)
			off += (size_t)snprintf(out + off, off < sz ? sz - off : 0,
			    "%sDNS:%.*s", off ? "," : "", g->d.dNSName->length,
			    (char *)g->d.dNSName->data);
		else if (g->type == GEN_IPADD) {
			int af = g->d.iPAddress->length == 4 ? AF_INET : AF_INET6;

			if (g->d.iPAddress->length == 4 ||
			    g->d.iPAddress->length == 16)
				inet_ntop(af, g->d.iPAddress->data, ip, sizeof(ip));
			off += (size_t)snprintf(out + off, off < sz ? sz - off : 0,
			    "%sIP:%s", off ? "," : "", ip);
		}
		if (off >= sz)
			break;
	}
	GENERAL_NAMES_free(gn);
}

static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void
print_info(cp_client *c, int json, const char *starttls)
{
	STACK_OF(X509) *chain = cp_client_get_peer_chain(c);
	FILE *f = json ? stdout : stderr;
	long vr = cp_client_get_verify_result(c);
	char subj[512], iss[512], nb[64], na[64], fp[128], sans[1024];
	int i, n = chain ? sk_X509_num(chain) : 0;
	/* not use_ssl: it is 0 on the kernel path (cp_client_fd(3)) */
	int tls = cp_client_get_tls_version(c) != NULL;

	if (json) {
		fprintf(f, "{\"host\":");
		json_str(f, c->host);
		fprintf(f, ",\"port\":%d,\"address\":", c->port);
		json_str(f, cp_client_get_peer_address(c) ?: "");
		fprintf(f, ",\"proxy\":");
		if (cp_client_get_proxy(c) != NULL)
			json_str(f, cp_client_get_proxy(c));
		else
			fprintf(f, "null");
		fprintf(f, ",\"tls\":%s", tls ? "true" : "false");
		if (starttls != NULL) {
			fprintf(f, ",\"starttls\":");
			json_str(f, starttls);
		}
		if (tls) {
			fprintf(f, ",\"version\":");
			json_str(f, cp_client_get_tls_version(c) ?: "");
			fprintf(f, ",\"cipher\":");
			json_str(f, cp_client_get_cipher(c) ?: "");
			fprintf(f, ",\"alpn\":");
			json_str(f, cp_client_get_alpn(c) ?: "");
			fprintf(f, ",\"resumed\":%s",
			    cp_client_session_resumed(c) ? "true" : "false");
			fprintf(f, ",\"ktls\":%s,\"record_layer\":",
			    cp_client_ktls(c) ? "true" : "false");
			json_str(f, cp_client_ktls_info(c) ?: "");
			fprintf(f, ",\"verify_result\":%ld,\"verify_text\":",
			    vr);
			json_str(f, ssl_verification_error_str((int)vr));
			fprintf(f, ",\"ocsp\":");
			json_str(f, cp_client_get_ocsp_status(c) ?: "off");
			fprintf(f, ",\"hostname_match\":%s,\"chain\":[",
			    cp_client_verify_hostname(c) ? "true" : "false");
		}
	} else if (tls)
		fprintf(f,
		    "connected to %s port %d (%s)%s%s, %s, %s%s%s%s\n"
		    "verify result: %ld (%s)\n"
		    "ocsp: %s\n"
		    "record layer: %s\n",
		    c->host, c->port, cp_client_get_peer_address(c) ?: "?",
		    starttls ? ", STARTTLS " : "", starttls ?: "",
		    cp_client_get_tls_version(c), cp_client_get_cipher(c),
		    cp_client_get_alpn(c) ? ", ALPN " : "",
		    cp_client_get_alpn(c) ?: "",
		    cp_client_session_resumed(c) ? ", resumed" : "", vr,
		    ssl_verification_error_str((int)vr),
		    cp_client_get_ocsp_status(c) ?: "off",
		    cp_client_ktls_info(c) ?: "?");
	else
		fprintf(f, "connected to %s port %d (%s)\n", c->host, c->port,
		    cp_client_get_peer_address(c) ?: "?");
	if (!json && cp_client_get_proxy(c) != NULL)
		fprintf(f, "proxy: %s\n", cp_client_get_proxy(c));
	for (i = 0; i < n; i++) {
		X509 *x = sk_X509_value(chain, i);

		name_str(X509_get_subject_name(x), subj, sizeof(subj));
		name_str(X509_get_issuer_name(x), iss, sizeof(iss));
		time_str(X509_get0_notBefore(x), nb, sizeof(nb));
		time_str(X509_get0_notAfter(x), na, sizeof(na));
		fingerprint(x, fp, sizeof(fp));
		sans_str(x, sans, sizeof(sans));
		if (json) {
			fprintf(f, "%s{\"subject\":", i ? "," : "");
			json_str(f, subj);
			fprintf(f, ",\"issuer\":");
			json_str(f, iss);
			fprintf(f, ",\"not_before\":");
			json_str(f, nb);
			fprintf(f, ",\"not_after\":");
			json_str(f, na);
			fprintf(f, ",\"san\":");
			json_str(f, sans);
			fprintf(f, ",\"sha256\":");
			json_str(f, fp);
			fprintf(f, "}");
		} else
			fprintf(f, "%2d s:%s\n   i:%s\n   v:%s -> %s\n"
				   "   san:%s\n   sha256:%s\n",
			    i, subj, iss, nb, na, sans[0] ? sans : "-", fp);
	}
	if (json)
		fprintf(f, "%s}\n", tls ? "]" : "");
}

/* Copying */

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * One relay: the main thread copies in to the connection, a thread the
 * connection to out.  The first failure is the one to report: a later
 * one may only follow from it.
 */
struct relay {
	cp_client *c;
	int in, out;
	int exec;     /* in and out are the program's */
	int stopping; /* we end the reader: its end is no failure (atomic) */
	int end[2];   /* pipe mode: readable once the reader has ended */
	pthread_mutex_t mtx;
	int err; /* the first failure's errno, or 0 */
	char msg[512];
};

static void
relay_init(struct relay *r, cp_client *c, int in, int out)
{
	memset(r, 0, sizeof(*r));
	r->c = c;
	r->in = in;
	r->out = out;
	r->end[0] = r->end[1] = -1;
	pthread_mutex_init(&r->mtx, NULL);
}

/* what: where it failed when not on the connection. */
static void
relay_fail(struct relay *r, int e, const char *what)
{
	const char *m = cp_client_error(r->c);

	pthread_mutex_lock(&r->mtx);
	if (r->err == 0) {
		r->err = e != 0 ? e : EIO;
		if (what != NULL)
			snprintf(r->msg, sizeof(r->msg), "%s: %s", what,
			    strerror(r->err));
		else
			snprintf(r->msg, sizeof(r->msg), "%s port %d: %s",
			    r->c->host, r->c->port,
			    m[0] != '\0' ? m : strerror(r->err));
	}
	pthread_mutex_unlock(&r->mtx);
}

/* After the threads: EXIT_OK, or EXIT_FAIL with the first failure said. */
static int
relay_done(struct relay *r)
{
	pthread_mutex_destroy(&r->mtx);
	if (r->end[0] != -1) {
		close(r->end[0]);
		close(r->end[1]);
	}
	if (r->err == 0)
		return EXIT_OK;
	fprintf(stderr, "cpconnect: %s\n", r->msg);
	return EXIT_FAIL;
}

/* Pipe mode: the end of the connection's read side is the relay's end.
 * After a failure the main thread may be blocked in a write that nothing
 * will take (the server echoes into a buffer nobody reads): with the
 * socket shut down, it fails at once. */
static void
reader_end(struct relay *r, int failed)
{
	if (failed)
		shutdown(cp_client_fd(r->c), SHUT_RDWR);
	while (write(r->end[1], "", 1) == -1 && errno == EINTR)
		;
}

static void *
conn_to_out(void *arg)
{
	struct relay *r = arg;
	char buf[16384];
	int n, failed = 0;

	while ((n = cp_client_read(r->c, buf, sizeof(buf))) > 0)
		if (write_all(r->out, buf, (size_t)n) == -1) {
			/* The program may close fd 6 when it is done. */
			if (!r->exec) {
				relay_fail(r, errno, "standard output");
				failed = 1;
			}
			break;
		}
	if (n < 0 && !__atomic_load_n(&r->stopping, __ATOMIC_ACQUIRE)) {
		relay_fail(r, errno, NULL);
		failed = 1;
	}
	close(r->out);
	if (r->end[1] != -1)
		reader_end(r, failed);
	return NULL;
}

/* Nothing more is wanted from the connection, but the reader may wait
 * for data that never comes: a read side shut down ends its read as the
 * end of the stream would. */
static void
reader_stop(struct relay *r)
{
	__atomic_store_n(&r->stopping, 1, __ATOMIC_RELEASE);
	shutdown(cp_client_fd(r->c), SHUT_RD);
}

enum { IN_DATA, IN_END, IN_STOP, IN_AGAIN, IN_FAIL };

/* One read of in onto the connection. */
static int
in_once(struct relay *r, char *buf, size_t sz)
{
	ssize_t n;

	while ((n = read(r->in, buf, sz)) == -1 && errno == EINTR)
		;
	if (n == 0)
		return IN_END;
	if (n == -1 && errno == EAGAIN)
		return IN_AGAIN;
	if (n == -1) {
		relay_fail(r, errno,
		    r->exec ? "the program's output" : "standard input");
		return IN_FAIL;
	}
	if (cp_client_write(r->c, buf, (int)n) != (int)n) {
		relay_fail(r, errno, NULL);
		return IN_FAIL;
	}
	return IN_DATA;
}

/* Copy in to the connection until it ends, the descriptor stop (if not
 * -1) is readable, or a failure. */
static int
in_to_conn(struct relay *r, int stop)
{
	struct pollfd p[2] = {
	    {.fd = r->in, .events = POLLIN},
	    {.fd = stop, .events = POLLIN},
	};
	char buf[16384];
	int rv;

	for (;;) {
		if (poll(p, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			relay_fail(r, errno, "poll");
			return IN_FAIL;
		}
		if (p[1].revents != 0)
			return IN_STOP;
		if (p[0].revents == 0)
			continue;
		if ((rv = in_once(r, buf, sizeof(buf))) != IN_DATA &&
		    rv != IN_AGAIN)
			return rv;
	}
}

/* Until the connection's read side ends, or standard output fails: then
 * what is left of standard input is not waited for (nc does the same). */
static int
pipe_mode(cp_client *c, int in, int out)
{
	struct relay r;
	pthread_t t;

	relay_init(&r, c, in, out);
	if (pipe2(r.end, O_CLOEXEC) == -1) {
		perror("cpconnect: pipe");
		return EXIT_FAIL;
	}
	if (pthread_create(&t, NULL, conn_to_out, &r) != 0) {
		relay_done(&r);
		return EXIT_FAIL;
	}
	/* The peer sees end of file (close_notify for TLS); replies can
	 * still arrive. */
	if (in_to_conn(&r, r.end[0]) == IN_END)
		cp_client_close_write(c);
	else
		reader_stop(&r);
	pthread_join(t, NULL);
	return relay_done(&r);
}

static void
export_env(cp_client *c)
{
	X509 *leaf = cp_client_get_server_certificate(c);
	char buf[1024];
	int tls = cp_client_get_tls_version(c) != NULL;

	setenv("PROTO", tls ? "TLS" : "TCP", 1);
	if (cp_client_get_peer_address(c))
		setenv("TCPREMOTEIP", cp_client_get_peer_address(c), 1);
	snprintf(buf, sizeof(buf), "%d", cp_client_get_peer_port(c));
	setenv("TCPREMOTEPORT", buf, 1);
	setenv("TCPREMOTEHOST", c->host, 1);
	if (!tls)
		return;
	setenv("CPCONNECT_TLS_VERSION", cp_client_get_tls_version(c), 1);
	setenv("CPCONNECT_TLS_CIPHER", cp_client_get_cipher(c), 1);
	setenv("CPCONNECT_TLS_ALPN", cp_client_get_alpn(c) ?: "", 1);
	setenv("CPCONNECT_TLS_RECORD_LAYER", cp_client_ktls(c) ? "kernel" : "user",
	    1);
	snprintf(buf, sizeof(buf), "%ld", cp_client_get_verify_result(c));
	setenv("CPCONNECT_VERIFY_RESULT", buf, 1);
	setenv("CPCONNECT_OCSP", cp_client_get_ocsp_status(c) ?: "off", 1);
	if (leaf != NULL) {
		name_str(X509_get_subject_name(leaf), buf, sizeof(buf));
		setenv("CPCONNECT_PEER_SUBJECT", buf, 1);
		fingerprint(leaf, buf, sizeof(buf));
		setenv("CPCONNECT_PEER_SHA256", buf, 1);
	}
}

/*
 * fd 7 may be the socket itself when the kernel seals the records and
 * nothing of ours must go out between two of the program's writes: TLS
 * 1.2 (a HelloRequest's answer is one whole record, which the kernel
 * never interleaves), not TLS 1.3, whose KeyUpdate answer needs our send
 * and the new key with no data of the program's between them.
 */
static int
direct_fd7(cp_client *c)
{
	const char *v = cp_client_get_tls_version(c);

	return cp_client_ktls(c) && v != NULL && strcmp(v, "TLSv1.2") == 0;
}

/* The program's end of things: 6 and 7 in place, then exec. */
static void __attribute__((noreturn))
child(char **prog, int rfd, int wfd)
{
	/* Out of the way first: either may already be 6 or 7, and dup2
	 * onto the same number would leave close-on-exec set. */
	if ((rfd = fcntl(rfd, F_DUPFD_CLOEXEC, 10)) == -1 ||
	    (wfd = fcntl(wfd, F_DUPFD_CLOEXEC, 10)) == -1 ||
	    dup2(rfd, 6) == -1 || dup2(wfd, 7) == -1) {
		fprintf(stderr, "cpconnect: dup2: %s\n", strerror(errno));
		_exit(127);
	}
	execvp(prog[0], prog);
	fprintf(stderr, "cpconnect: %s: %s\n", prog[0], strerror(errno));
	_exit(127);
}

static int
wait_prog(pid_t pid, int rv)
{
	int status = 0;

	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (WIFEXITED(status))
		return WEXITSTATUS(status) ? WEXITSTATUS(status) : rv;
	return 128 + WTERMSIG(status);
}

/* fd 7 is the socket: only the reading side is relayed; our half of
 * the stream ends (close_notify) when the program is done, and with it
 * the relay, whatever the server still does (as with tcpclient). */
static int
exec_direct(cp_client *c, char **prog, int to_prog[2])
{
	struct relay r;
	pthread_t t;
	pid_t pid;
	int rv, st;

	if ((pid = fork()) == -1) {
		perror("cpconnect: fork");
		return EXIT_FAIL;
	}
	if (pid == 0)
		child(prog, to_prog[0], cp_client_fd(c));
	close(to_prog[0]);
	relay_init(&r, c, -1, to_prog[1]);
	r.exec = 1;
	if (pthread_create(&t, NULL, conn_to_out, &r) != 0) {
		close(to_prog[1]);
		return wait_prog(pid, EXIT_FAIL);
	}
	st = wait_prog(pid, EXIT_OK);
	cp_client_close_write(c);
	reader_stop(&r);
	pthread_join(t, NULL);
	rv = relay_done(&r);
	return st != EXIT_OK ? st : rv;
}

/* Readable once the program has exited (Linux 5.3), else -1. */
static int
prog_fd(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	errno = ENOSYS;
	return -1;
#endif
}

/* The program has exited, but a process it left behind may still hold
 * fd 7: what is there now goes out, what it may write later is not
 * waited for. */
static int
drain(struct relay *r)
{
	char buf[16384];
	int rv;

	if (fcntl(r->in, F_SETFL, O_NONBLOCK) == -1)
		return IN_AGAIN;
	while ((rv = in_once(r, buf, sizeof(buf))) == IN_DATA)
		;
	return rv;
}

/*
 * Both directions relayed.  The program's exit is the end, as with
 * tcpclient, where the program holds the connection itself: what it
 * wrote before goes out, then our direction ends and the reader is
 * stopped.  The end of its output alone (fd 7 closed) only ends our
 * direction.  Without a pidfd that end is the program's end.
 */
static int
exec_relay(cp_client *c, pid_t pid, int in, int out)
{
	struct relay r;
	pthread_t t;
	int pfd, rv, st;

	relay_init(&r, c, in, out);
	r.exec = 1;
	if (pthread_create(&t, NULL, conn_to_out, &r) != 0) {
		close(in);
		close(out);
		return wait_prog(pid, EXIT_FAIL);
	}
	pfd = prog_fd(pid);
	if ((rv = in_to_conn(&r, pfd)) == IN_STOP)
		rv = drain(&r);
	if (rv != IN_FAIL)
		cp_client_close_write(c);
	/* After a failure the program's writes fail, instead of filling a
	 * pipe that nobody reads. */
	close(in);
	st = wait_prog(pid, EXIT_OK);
	if (pfd != -1)
		close(pfd);
	reader_stop(&r);
	pthread_join(t, NULL);
	rv = relay_done(&r);
	return st != EXIT_OK ? st : rv;
}

/* ucspi style: the program reads the connection on fd 6 and writes it on
 * fd 7.  The command relays where it must, so TLS reaches the program as
 * plaintext. */
static int
exec_mode(cp_client *c, char **prog)
{
	int to_prog[2], from_prog[2];
	pid_t pid;

	if (pipe2(to_prog, O_CLOEXEC) == -1) {
		perror("cpconnect: pipe");
		return EXIT_FAIL;
	}
	export_env(c);
	if (direct_fd7(c))
		return exec_direct(c, prog, to_prog);
	if (pipe2(from_prog, O_CLOEXEC) == -1) {
		perror("cpconnect: pipe");
		return EXIT_FAIL;
	}
	if ((pid = fork()) == -1) {
		perror("cpconnect: fork");
		return EXIT_FAIL;
	}
	if (pid == 0)
		child(prog, to_prog[0], from_prog[1]);
	close(to_prog[0]);
	close(from_prog[1]);
	return exec_relay(c, pid, from_prog[0], to_prog[1]);
}

/*
 * Plaintext first (a TLS client with use_ssl cleared, as a cprops
 * program does it), the dialogue, then TLS on the same connection.  What
 * cp_client_connect would return, or -2 when the dialogue failed (said).
 */
static int
connect_starttls(cp_client *c, const struct opts *o)
{
	struct st st;
	int rv;

	c->use_ssl = 0;
	if ((rv = cp_client_connect(c)) == -1)
		return -1;
	memset(&st, 0, sizeof(st));
	st.c = c;
	st.proto = o->starttls;
	st.verbose = o->verbose;
	st.deadline = mono_ms() +
	    (o->timeout > 0 ? (uint64_t)(o->timeout * 1000) : ST_DEFAULT_MS);
	if (starttls(&st) == -1) {
		if (!o->quiet)
			fprintf(stderr, "cpconnect: %s port %d: STARTTLS (%s): "
			    "%s\n", o->host, o->port, o->starttls, st.err);
		cp_client_close(c);
		return -2;
	}
	return cp_client_connect_ssl(c);
}

/* The options that go on the client.  A value the library refuses is a
 * usage error (exit 2), the client freed first. */
static void
client_options(cp_client *c, const struct opts *o)
{
	char why[256];
	long long us;

	if (o->retries >= 0)
		cp_client_set_retry(c, o->retries);
	if (o->timeout > 0) {
		us = usecs(o->timeout);
		cp_client_set_timeout(
		    c, (int)(us / 1000000), (int)(us % 1000000));
	}
	if (o->delay)
		cp_client_set_nodelay(c, 0);
	if (o->family && cp_client_set_family(c, o->family) == -1) {
		fprintf(stderr, "cpconnect: %s\n", cp_client_error(c));
		cp_client_destroy(c);
		exit(EXIT_USAGE);
	}
	if (o->sni &&
	    (*o->sni == '\0' || cp_client_set_server_name(c, o->sni) == -1)) {
		cp_client_destroy(c);
		bad_value("--servername", o->sni, " is not a host name");
	}
	if (o->alpn && cp_client_set_alpn(c, o->alpn) == -1) {
		snprintf(why, sizeof(why), "%s", cp_client_error(c));
		cp_client_destroy(c);
		bad_value("--alpn", o->alpn, ": %s", why);
	}
}

int
main(int argc, char *argv[])
{
	struct opts o;
	cp_client *c;
	int rv;

	parse(&o, argc, argv);
	signal(SIGPIPE, SIG_IGN);
	/* Empty is unset, as cp_client_socket_path(3) means it; it returns
	 * the empty path all the same, so the default has to come from
	 * the variable's absence. */
	if (o.sock == NULL && getenv("CPCONNECT_SOCKET") != NULL &&
	    *getenv("CPCONNECT_SOCKET") == '\0')
		unsetenv("CPCONNECT_SOCKET");
	if (o.sock != NULL)
		cp_client_set_socket_path(o.sock);
	c = o.tls ? cp_client_create_ssl(o.host, o.port, o.cafile, o.cadir,
			o.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE)
		  : cp_client_create(o.host, o.port);
	if (c == NULL && errno == EINVAL)
		bad_host(NULL, o.host);
	if (c == NULL) {
		if (!o.quiet)
			fprintf(stderr, "cpconnect: %s: %s\n", o.host,
			    strerror(errno));
		return EXIT_USAGE;
	}
	client_options(c, &o);
	if (o.starttls != NULL)
		rv = connect_starttls(c, &o);
	else
		rv = cp_client_connect(c);
	if (rv == -2) {
		cp_client_destroy(c);
		return EXIT_TLS;
	}
	if (rv == -1) {
		int e = errno;

		if (host_refused(e, cp_client_error(c)))
			bad_host(c, o.host);
		if (!o.quiet)
			fprintf(stderr, "cpconnect: %s port %d: %s\n", o.host,
			    o.port, cp_client_error(c));
		rv = exit_for_errno(e, cp_client_error(c));
		cp_client_destroy(c);
		return rv;
	}
	if (rv > 0 && o.verbose)
		fprintf(stderr, "cpconnect: certificate not verified: %s\n",
		    ssl_verification_error_str(rv));
	if (o.verbose && !o.info)
		fprintf(stderr, "cpconnect: connected to %s port %d\n",
		    cp_client_get_peer_address(c) ?: o.host, o.port);
	if (o.info)
		print_info(c, o.json, o.starttls);
	if (o.json)
		rv = EXIT_OK;
	else if (o.prog != NULL)
		rv = exec_mode(c, o.prog);
	else
		rv = pipe_mode(c, STDIN_FILENO, STDOUT_FILENO);
	cp_client_close(c);
	cp_client_destroy(c);
	return rv;
}
