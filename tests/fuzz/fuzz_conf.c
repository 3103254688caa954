/* SPDX-License-Identifier: ISC */
/*
 * Fuzz target: the configuration parser, conf_parse(), on any bytes (see
 * README).  The input is the file's text.
 *
 * Properties checked besides the sanitizers:
 *   - an error reads "fuzz.conf:LINE: message", LINE within the file, the
 *     message one printable line; a smaller error buffer gets a prefix of
 *     the same message, and no buffer at all the same verdict;
 *   - the parser is line by line: the text up to the end of the failing
 *     line fails with the same message, and the text before that line
 *     fails at most with "destination block is not closed";
 *   - a parsed configuration is well formed (ranges, limits, normalised
 *     names and addresses, rules in file order);
 *   - round trip: printing a parsed configuration back as a file (the
 *     printer below) gives a file that parses, and prints the same;
 *   - bounded memory (under ASan): what a parsed configuration holds grows
 *     at most linearly with the text.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <nss.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "cpproto.h"
#include "hostname.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#endif
#ifdef HAVE_ASAN
/* The ASan runtime's (clang's and gcc's); gcc installs no header for it. */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

#define NAME "fuzz.conf"
#define NOT_CLOSED "destination block is not closed"
#define NO_PROXY_URL "no proxy URL in the same scope"
/* Bytes a parsed configuration may hold per byte of text, and a constant
 * for the structures every configuration has.  The largest ratio comes
 * from "destination a{\n}\n": one struct destination (two TLS policies of
 * 16 pins each) for 17 bytes, doubled by the array's growth. */
#define MEM_PER_BYTE 512
#define MEM_FIXED (64 * 1024)

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_at(int cond, const char *what, int line)
{
	if (!cond) {
		fprintf(
		    stderr, "fuzz_conf.c:%d: check failed: %s\n", line, what);
		abort();
	}
}
#define check(c) check_at((c) != 0, #c, __LINE__)

/* ---- the printer: a configuration back to the file format ---- */

struct out {
	char *buf;
	size_t len, cap;
};

static void put(struct out *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->buf == NULL) {
		o->cap = 4096;
		check((o->buf = malloc(o->cap)) != NULL);
	}
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		check(n >= 0);
		if ((size_t)n < o->cap - o->len)
			break;
		o->cap = (o->cap + (size_t)n + 1) * 2;
		check((o->buf = realloc(o->buf, o->cap)) != NULL);
	}
	o->len += (size_t)n;
}

/* A quoted string: \" and \\ are the only escapes. */
static void
put_str(struct out *o, const char *s)
{
	put(o, " \"");
	for (; *s != '\0'; s++)
		put(o, *s == '"' || *s == '\\' ? "\\%c" : "%c", *s);
	put(o, "\"");
}

static void
put_dest(struct out *o, const struct dest_match *d)
{
	char a[INET6_ADDRSTRLEN];

	switch (d->kind) {
	case DEST_ANY:
		put(o, " any");
		break;
	case DEST_NAME:
		put_str(o, d->name);
		break;
	case DEST_PATTERN:
		put(o, " \"*%s\"", d->name);
		break;
	case DEST_ADDR:
		check(inet_ntop(d->af, d->addr, a, sizeof(a)) != NULL);
		put(o, " %s/%d", a, d->prefix);
		break;
	}
}

static void
put_ports(struct out *o, const struct portset *ps)
{
	int i;

	if (ps->n == 0)
		return;
	put(o, " port ");
	for (i = 0; i < ps->n; i++) {
		if (ps->r[i].lo == ps->r[i].hi)
			put(o, "%s%u", i ? "," : "", ps->r[i].lo);
		else
			put(o, "%s%u:%u", i ? "," : "", ps->r[i].lo,
			    ps->r[i].hi);
	}
}

static void
put_b64(struct out *o, const uint8_t d[32])
{
	static const char al[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char s[45];
	uint32_t acc = 0;
	int i, bits = 0, n = 0;

	for (i = 0; i < 32; i++) {
		acc = (acc << 8) | d[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			s[n++] = al[(acc >> bits) & 63];
		}
	}
	s[n++] = al[(acc << (6 - bits)) & 63];
	s[n++] = '=';
	s[n] = '\0';
	put(o, " \"%s\"", s);
}

/* The settings a TLS policy (global or a block's own) names. */
static void
put_tls(struct out *o, const struct dest_tls *t, const char *ind)
{
	int i;

	if (t->set & TLSSET_VERIFY)
		put(o, "%sverify %s\n", ind,
		    t->verify == TLSV_REQUIRED ? "required" : "optional");
	if (t->set & TLSSET_CLIENT_CA)
		put(o, "%sclient-ca %s\n", ind,
		    t->client_ca == CLIENT_CA_FORBIDDEN ? "forbidden"
		                                        : "allowed");
	if (t->set & TLSSET_MIN)
		put(o, "%smin-tls %s\n", ind,
		    t->min_version == CONF_TLS13 ? "1.3" : "1.2");
	if (t->set & TLSSET_ALPN) {
		put(o, "%salpn", ind);
		if (t->nalpn == 0)
			put(o, " any");
		for (i = 0; i < t->nalpn; i++)
			put_str(o, t->alpn[i]);
		put(o, "\n");
	}
	if (t->set & TLSSET_PINS) {
		put(o, "%spin sha256", ind);
		for (i = 0; i < t->npins; i++)
			put_b64(o, t->pins[i]);
		put(o, "\n");
	}
	if (t->set & TLSSET_CN)
		put(o, "%scn-fallback %s\n", ind,
		    t->cn_fallback ? "yes" : "no");
	if (t->set & TLSSET_CERT) {
		put(o, "%sclient-certificate", ind);
		if (t->cert_file == NULL)
			put(o, " none");
		else {
			put_str(o, t->cert_file);
			put(o, " key");
			put_str(o, t->key_file);
		}
		put(o, "\n");
	}
}

static char *
print_conf(const struct cpconf *c)
{
	const struct conf_global *g = &c->g;
	struct out o = {NULL, 0, 0};
	size_t i;

	put(&o, "socket");
	put_str(&o, g->socket_path);
	put(&o, "\nsocket-mode %04o\n", (unsigned)g->socket_mode);
	if (g->socket_gid != (gid_t)-1)
		put(&o, "socket-group %u\n", (unsigned)g->socket_gid);
	put(&o, "engines %u\n", g->engines);
	if (g->user_resolved) {
		put(&o, "user");
		put_str(&o, g->user);
		put(&o, "\n");
	}
	if (g->ca_file != NULL) {
		put(&o, "ca-file");
		put_str(&o, g->ca_file);
		put(&o, "\n");
	}
	if (g->ca_path != NULL) {
		put(&o, "ca-path");
		put_str(&o, g->ca_path);
		put(&o, "\n");
	}
	put(&o, "connect-timeout %ums\nhandshake-timeout %ums\n", g->connect_ms,
	    g->handshake_ms);
	put(&o, "request-timeout %ums\nretry-max %u\nretry-delay %ums\n",
	    g->request_ms, g->retry_max, g->retry_delay_ms);
	put(&o, "max-requests-per-user %u\nmax-requests %u\n",
	    g->max_req_per_uid, g->max_req);
	put(&o, "session-idle-timeout %ums\nmax-sessions %u\n",
	    g->session_idle_ms, g->max_sessions);
	put(&o, "max-sessions-per-user %u\n", g->max_sessions_per_uid);
	put_tls(&o, &c->tls, "");
	for (i = 0; i < c->nrules; i++) {
		const struct rule *r = &c->rules[i];

		put(&o, "%s", r->action == V_DENY ? "deny" : "allow");
		if (r->who.kind == CL_UID)
			put(&o, " from uid %u", (unsigned)r->who.uid);
		else if (r->who.kind == CL_GID)
			put(&o, " from gid %u", (unsigned)r->who.gid);
		if (r->dst.kind != DEST_ANY) {
			put(&o, " to");
			put_dest(&o, &r->dst);
		}
		put_ports(&o, &r->ports);
		if (r->kinds == KIND_TCP)
			put(&o, " tcp");
		else if (r->kinds == KIND_TLS)
			put(&o, " tls");
		put(&o, "\n");
	}
	for (i = 0; i < c->ndests; i++) {
		put(&o, "destination");
		put_dest(&o, &c->dests[i].dst);
		put_ports(&o, &c->dests[i].ports);
		put(&o, " {\n");
		put_tls(&o, &c->dests[i].own, "\t");
		put(&o, "}\n");
	}
	return o.buf;
}

/* ---- well-formedness of a parsed configuration ---- */

static void
check_ports(const struct portset *ps)
{
	int i;

	check(ps->n >= 0 && ps->n <= CONF_MAX_PORTS);
	for (i = 0; i < ps->n; i++)
		check(ps->r[i].lo >= 1 && ps->r[i].lo <= ps->r[i].hi);
}

static void
check_dest(const struct dest_match *d)
{
	size_t i;
	int bits;

	switch (d->kind) {
	case DEST_ANY:
		break;
	case DEST_NAME:
	case DEST_PATTERN:
		check(d->name != NULL);
		for (i = 0; d->name[i] != '\0'; i++)
			check(!isupper((unsigned char)d->name[i]));
		if (d->kind == DEST_PATTERN) {
			check(d->name[0] == '.');
			check(cp_hostname_ok(d->name + 1, i - 1));
		} else
			check(cp_hostname_ok(d->name, i));
		check(d->name[i - 1] != '.');
		break;
	case DEST_ADDR:
		check(d->af == AF_INET || d->af == AF_INET6);
		bits = d->af == AF_INET ? 32 : 128;
		check(d->prefix >= 0 && d->prefix <= bits);
		/* host bits cleared */
		for (i = 0; i < (size_t)bits; i++)
			if ((int)i >= d->prefix)
				check(!(d->addr[i / 8] & (0x80 >> (i % 8))));
		break;
	default:
		check(0);
	}
}

static void
check_tls(const struct dest_tls *t)
{
	int i;

	check(t->verify == TLSV_OPTIONAL || t->verify == TLSV_REQUIRED);
	check(t->client_ca == CLIENT_CA_ALLOWED ||
	      t->client_ca == CLIENT_CA_FORBIDDEN);
	check(t->min_version == CONF_TLS12 || t->min_version == CONF_TLS13);
	check(t->cn_fallback == 0 || t->cn_fallback == 1);
	/* only a request's combined policy says "no protocol at all" */
	check(!t->alpn_none);
	check(t->npins >= 0 && t->npins <= CONF_MAX_PINS);
	check(t->nalpn >= 0 && t->nalpn <= CONF_MAX_ALPN);
	for (i = 0; i < t->nalpn; i++)
		check(strlen(t->alpn[i]) >= 1 && strlen(t->alpn[i]) <= 255);
	check((t->cert_file == NULL) == (t->key_file == NULL));
	check(t->cert_file == NULL ||
	      (t->cert_file[0] == '/' && t->key_file[0] == '/'));
	/* A pin or a key is only worth something if the peer is verified. */
	if ((t->npins > 0 || t->cert_file != NULL) && !(t->set & TLSSET_VERIFY))
		check(t->verify == TLSV_REQUIRED);
}

static void
check_conf(const struct cpconf *c, int nlines)
{
	const struct conf_global *g = &c->g;
	size_t i;
	int last = 0;

	check(c->file != NULL && strcmp(c->file, NAME) == 0);
	check(g->socket_path[0] == '/' &&
	      strlen(g->socket_path) <
	          sizeof(((struct sockaddr_un *)0)->sun_path));
	check(g->socket_mode <= 0777);
	check(g->engines <= 256);
	check(g->connect_ms >= 100 && g->connect_ms <= 300000);
	check(g->handshake_ms >= 100 && g->handshake_ms <= 300000);
	check(g->request_ms >= 100 && g->request_ms <= 3600000);
	check(g->retry_max <= 100 && g->retry_delay_ms <= 60000);
	check(g->max_req_per_uid >= 1 && g->max_req_per_uid <= 100000);
	check(g->max_req >= 1 && g->max_req <= 1000000);
	check(g->session_idle_ms >= 1000 && g->session_idle_ms <= 86400000);
	check(g->max_sessions >= 1 && g->max_sessions <= 1000000);
	check(
	    g->max_sessions_per_uid >= 1 && g->max_sessions_per_uid <= 1000000);
	check(g->user != NULL);
	check(g->ca_file == NULL || g->ca_file[0] == '/');
	check(g->ca_path == NULL || g->ca_path[0] == '/');
	check(c->tls.file == NULL);
	check_tls(&c->tls);
	check(c->nrules <= CONF_MAX_RULES && c->ndests <= CONF_MAX_DESTS);
	for (i = 0; i < c->nrules; i++) {
		const struct rule *r = &c->rules[i];

		check(r->action == V_ALLOW || r->action == V_DENY);
		check(r->who.kind == CL_ANY || r->who.kind == CL_UID ||
		      r->who.kind == CL_GID);
		check(r->kinds >= 1 && r->kinds <= (KIND_TCP | KIND_TLS));
		check(r->file == c->file);
		check(r->line >= last && r->line >= 1 && r->line <= nlines);
		last = r->line;
		check_dest(&r->dst);
		check_ports(&r->ports);
	}
	last = 0;
	for (i = 0; i < c->ndests; i++) {
		const struct destination *d = &c->dests[i];

		check(d->file == c->file && d->own.file == c->file &&
		      d->merged.file == c->file);
		check(d->line > last && d->line <= nlines);
		check(d->own.line == d->line && d->merged.line == d->line);
		last = d->line;
		check_dest(&d->dst);
		check_ports(&d->ports);
		check_tls(&d->merged);
		/* The block's own word wins; the rest is the global one. */
		check(d->merged.set == (d->own.set | c->tls.set));
		if (d->own.set & TLSSET_VERIFY)
			check(d->merged.verify == d->own.verify);
		if (d->own.set & TLSSET_MIN)
			check(d->merged.min_version == d->own.min_version);
		else
			check(d->merged.min_version == c->tls.min_version);
		if (d->own.set & TLSSET_CERT)
			check(d->merged.cert_file == d->own.cert_file);
		else
			check(d->merged.cert_file == c->tls.cert_file);
		check(d->merged.cn_fallback == ((d->own.set & TLSSET_CN)
		                                       ? d->own.cn_fallback
		                                       : c->tls.cn_fallback));
	}
}

/* ---- errors ---- */

static int
count_lines(const char *s, size_t len)
{
	int n = 0;
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] == '\n')
			n++;
	/* A last line without a newline is a line. */
	return n + (len > 0 && s[len - 1] != '\n');
}

/* Offset of the end of line `line` (after its newline), 1-based. */
static size_t
line_end(const char *s, size_t len, int line)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] == '\n' && --line == 0)
			return i + 1;
	return len;
}

/* "fuzz.conf:LINE: message"; returns LINE. */
static int
check_error(const char *err, int nlines)
{
	const char *p = err + strlen(NAME ":");
	char *end;
	long line;

	check(strncmp(err, NAME ":", strlen(NAME ":")) == 0);
	check(*p >= '1' && *p <= '9');
	line = strtol(p, &end, 10);
	check(end[0] == ':' && end[1] == ' ' && end[2] != '\0');
	/* An empty file cannot fail; a text ending in a newline has no
	 * line after it to fail on. */
	check(line >= 1 && line <= (nlines > 0 ? nlines : 1));
	/* One line: words may carry tabs and UTF-8, never a newline or
	 * another control character. */
	for (p = end + 2; *p != '\0'; p++) {
		unsigned char ch = (unsigned char)*p;

		check((ch >= 0x20 && ch != 0x7f) || ch == '\t');
	}
	return (int)line;
}

static void
check_failure(const char *text, size_t len, const char *err)
{
	struct cpconf *c = (struct cpconf *)1;
	char err2[512], small[16];
	int line = check_error(err, count_lines(text, len));
	size_t cut;

	/* No buffer, or a small one: the same verdict, a prefix. */
	check(conf_parse(&c, NAME, text, len, NULL, 0) == -1 && c == NULL);
	check(conf_parse(&c, NAME, text, len, small, sizeof(small)) == -1);
	check(strlen(small) < sizeof(small) &&
	      strncmp(small, err, strlen(small)) == 0);
	if (strstr(err, NOT_CLOSED) != NULL)
		return;
	/* Lines after the failing one play no part. */
	cut = line_end(text, len, line);
	if (cut < len) {
		check(
		    conf_parse(&c, NAME, text, cut, err2, sizeof(err2)) == -1);
		check(strcmp(err, err2) == 0);
	}
	/* The lines before it are fine, but for what can only be judged at
	 * the end of a scope: an open block, proxy settings without a proxy
	 * URL in their scope (one may still follow). */
	cut = line > 1 ? line_end(text, len, line - 1) : 0;
	if (conf_parse(&c, NAME, text, cut, err2, sizeof(err2)) == -1)
		check(strstr(err2, NOT_CLOSED) != NULL ||
		      strstr(err2, NO_PROXY_URL) != NULL);
	else
		conf_free(c);
}

/* ---- the round trip ---- */

static void
round_trip(const struct cpconf *c)
{
	struct cpconf *c2;
	char *t1, *t2, err[512];

	t1 = print_conf(c);
	if (conf_parse(&c2, NAME, t1, strlen(t1), err, sizeof(err)) == -1) {
		fprintf(stderr, "reprinted file:\n%s\nfails: %s\n", t1, err);
		check(0);
	}
	check_conf(c2, count_lines(t1, strlen(t1)));
	t2 = print_conf(c2);
	if (strcmp(t1, t2) != 0) {
		fprintf(stderr, "printed:\n%s\nreprinted:\n%s\n", t1, t2);
		check(0);
	}
	free(t1);
	free(t2);
	conf_free(c2);
}

/*
 * Users and groups from the files only: nss-systemd scans half a dozen
 * userdb directories for every name it does not know, which made this
 * target four times slower, and the parser's code is the same whatever
 * the source.  The first look-ups load NSS and its caches: do them now, so
 * that the memory bound sees the configuration only.
 */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char warm[] = "user root\nsocket-group root\n"
	                           "allow from user 0\nallow from group 0\n"
	                           "allow from user no-such-user\n";
	struct cpconf *c;
	char err[512];

	__nss_configure_lookup("passwd", "files");
	__nss_configure_lookup("group", "files");
	if (conf_parse(&c, NAME, warm, sizeof(warm) - 1, err, sizeof(err)) == 0)
		conf_free(c);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct cpconf *c;
	char err[512];
#ifdef HAVE_ASAN
	size_t before = __sanitizer_get_current_allocated_bytes(), held;
#endif

	if (conf_parse(&c, NAME, text, size, err, sizeof(err)) == -1) {
		check(c == NULL);
		check_failure(text, size, err);
		return 0;
	}
	check(c != NULL && err[0] == '\0');
#ifdef HAVE_ASAN
	held = __sanitizer_get_current_allocated_bytes() - before;
	if (held > MEM_PER_BYTE * size + MEM_FIXED) {
		fprintf(
		    stderr, "%zu bytes of text hold %zu bytes\n", size, held);
		check(0);
	}
#endif
	check_conf(c, count_lines(text, size));
	round_trip(c);
	conf_free(c);
	return 0;
}
