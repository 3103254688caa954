/* SPDX-License-Identifier: ISC */
/*
 * cpconnectd.conf parser.  The buffer parser is the primary entry point;
 * conf_load() only reads a bounded regular file and hands it over.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpproto.h"
#include "conf.h"
#include "hostname.h"

/* Words on one line: a rule with a full port list (CONF_MAX_PORTS entries
 * and their commas) and the rest of the rule. */
#define MAX_TOKENS (2 * CONF_MAX_PORTS + 32)
#define BUILTIN_NAME "(built-in)"

enum tok_type { TK_WORD, TK_STR, TK_LBRACE, TK_RBRACE, TK_COMMA };

struct tok {
	enum tok_type type;
	const char *s; /* NUL-terminated, in parser.buf */
	size_t len;
};

struct kwdef;

struct parser {
	struct cpconf *c;
	const char *name;
	int line;
	char *err;
	size_t errsz;
	struct tok tok[MAX_TOKENS];
	int ntok;
	char *buf;
	size_t bufsz;
	struct destination *blk; /* open destination block */
	int seen[64];            /* line of each setting, global scope */
	int blkseen[64];         /* the same inside the open block */
};

typedef int kw_fn(struct parser *, const struct kwdef *, struct tok *, int);

#define IN_GLOBAL 0x1
#define IN_BLOCK 0x2

struct kwdef {
	const char *name;
	kw_fn *fn;
	int where;
	int repeat; /* may appear more than once */
	int arg;    /* handler-specific */
};

static int perr(struct parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
perr(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->errsz == 0)
		return -1;
	n = snprintf(p->err, p->errsz, "%s:%d: ", p->name, p->line);
	if (n < 0 || (size_t)n >= p->errsz)
		return -1;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errsz - n, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- lexer ---- */

static int
is_ctrl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static int
is_wordch(unsigned char c)
{
	return !is_ctrl(c) && c != ' ' && c != '#' && c != '"' && c != '{' &&
	       c != '}' && c != ',';
}

static int
lex_string(struct parser *p, const char *s, size_t len, size_t *ip, char **op)
{
	size_t i = *ip + 1, n = 0;
	char *o = *op;
	unsigned char c;

	for (;;) {
		if (i >= len)
			return perr(p, "unterminated string");
		c = s[i];
		if (c == '"')
			break;
		if (c == '\\') {
			if (i + 1 >= len)
				return perr(p, "unterminated string");
			c = s[i + 1];
			if (c != '"' && c != '\\')
				return perr(p,
				    "invalid escape '\\%c' in string",
				    c > 0x20 && c < 0x7f ? c : '?');
			i++;
		} else if (is_ctrl(c) && c != '\t')
			return perr(p, "invalid character 0x%02x in string", c);
		if (++n > CONF_MAX_STR)
			return perr(p, "string too long (limit %d bytes)",
			    CONF_MAX_STR);
		*o++ = c;
		i++;
	}
	*ip = i + 1;
	*op = o;
	return 0;
}

static enum tok_type
punct_type(unsigned char c)
{
	if (c == '{')
		return TK_LBRACE;
	if (c == '}')
		return TK_RBRACE;
	return TK_COMMA;
}

static int
lex_line(struct parser *p, const char *s, size_t len)
{
	size_t i = 0, need = 2 * len + 2;
	struct tok *t;
	char *o, *nb;
	unsigned char c;

	if (need > p->bufsz) {
		if ((nb = realloc(p->buf, need)) == NULL)
			return perr(p, "out of memory");
		p->buf = nb;
		p->bufsz = need;
	}
	o = p->buf;
	p->ntok = 0;
	while (i < len) {
		c = s[i];
		if (c == ' ' || c == '\t' || c == '\r') {
			i++;
			continue;
		}
		if (c == '#')
			break;
		if (is_ctrl(c))
			return perr(p, "invalid character 0x%02x", c);
		if (p->ntok == MAX_TOKENS)
			return perr(p, "too many words on one line (limit %d)",
			    MAX_TOKENS);
		t = &p->tok[p->ntok++];
		t->s = o;
		if (c == '{' || c == '}' || c == ',') {
			t->type = punct_type(c);
			*o++ = c;
			i++;
		} else if (c == '"') {
			t->type = TK_STR;
			if (lex_string(p, s, len, &i, &o) == -1)
				return -1;
		} else {
			t->type = TK_WORD;
			while (i < len && is_wordch(s[i])) {
				if ((size_t)(o - t->s) >= CONF_MAX_STR)
					return perr(p,
					    "word too long (limit %d bytes)",
					    CONF_MAX_STR);
				*o++ = s[i++];
			}
		}
		t->len = o - t->s;
		*o++ = '\0';
	}
	return 0;
}

/* ---- values ---- */

static int
is_value(const struct tok *t)
{
	return t->type == TK_WORD || t->type == TK_STR;
}

static int
is_word(const struct tok *t, const char *w)
{
	return t->type == TK_WORD && strcmp(t->s, w) == 0;
}

/* Decimal digits only, no sign, no spaces; 0 or -1. */
static int
parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (max - (*s - '0')) / 10)
			return -1;
		v = v * 10 + (*s - '0');
	}
	*out = v;
	return 0;
}

/* "250ms", "5s", "2m", "1h"; a bare 0 needs no unit.  Milliseconds. */
static int
parse_duration(const char *s, unsigned *out)
{
	static const struct {
		const char *u;
		unsigned long mult;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
	char digits[16];
	size_t n = strspn(s, "0123456789");
	unsigned long v;
	size_t i;

	if (strcmp(s, "0") == 0) {
		*out = 0;
		return 0;
	}
	if (n == 0 || n >= sizeof(digits))
		return -1;
	memcpy(digits, s, n);
	digits[n] = '\0';
	if (parse_ulong(digits, UINT_MAX, &v) == -1)
		return -1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(s + n, units[i].u) != 0)
			continue;
		if (v > UINT_MAX / units[i].mult)
			return -1;
		*out = v * units[i].mult;
		return 0;
	}
	return -1;
}

static int
strset(struct parser *p, char **dst, const char *s)
{
	char *d;

	if ((d = strdup(s)) == NULL)
		return perr(p, "out of memory");
	free(*dst);
	*dst = d;
	return 0;
}

static int
one_value(struct parser *p, const struct kwdef *k, struct tok *a, int n)
{
	if (n == 0)
		return perr(p, "'%s' needs a value", k->name);
	if (n > 1 || !is_value(&a[0]))
		return perr(p, "'%s' takes one value", k->name);
	return 0;
}

/*
 * One value out of names (NULL-terminated): its index, or -1 with
 * "KEYWORD: 'VALUE' is not A, B or C", the list written from names so
 * that the message and the accepted words cannot disagree.
 */
static int
one_choice(struct parser *p, const struct kwdef *k, struct tok *a, int n,
    const char *const names[])
{
	const char *sep;
	char list[96];
	size_t len = 0;
	int i, m;

	if (one_value(p, k, a, n) == -1)
		return -1;
	for (m = 0; names[m] != NULL; m++)
		if (strcmp(a[0].s, names[m]) == 0)
			return m;
	list[0] = '\0';
	for (i = 0; i < m && len < sizeof(list); i++) {
		sep = i == 0 ? "" : (i == m - 1 ? " or " : ", ");
		len += (size_t)snprintf(
		    list + len, sizeof(list) - len, "%s%s", sep, names[i]);
	}
	return perr(p, "%s: '%.64s' is not %s", k->name, a[0].s, list);
}

static int
abs_path(struct parser *p, const struct kwdef *k, const struct tok *t)
{
	if (t->s[0] != '/')
		return perr(
		    p, "%s: '%.64s' is not an absolute path", k->name, t->s);
	return 0;
}

/* Scratch buffer for getpw*_r and getgr*_r: grown on ERANGE. */
static char *
pwbuf_grow(char *buf, size_t *sz)
{
	char *nb;

	if (*sz >= 1024 * 1024 || (nb = realloc(buf, *sz * 2)) == NULL) {
		free(buf);
		return NULL;
	}
	*sz *= 2;
	return nb;
}

static int
lookup_user(
    const char *name, uid_t uid, int byname, struct passwd *out, char **canon)
{
	struct passwd pw, *res = NULL;
	size_t sz = 4096;
	char *buf = malloc(sz);
	int e;

	for (;;) {
		if (buf == NULL)
			return -1;
		e = byname ? getpwnam_r(name, &pw, buf, sz, &res)
		           : getpwuid_r(uid, &pw, buf, sz, &res);
		if (e != ERANGE)
			break;
		buf = pwbuf_grow(buf, &sz);
	}
	if (res == NULL || (*canon = strdup(pw.pw_name)) == NULL) {
		free(buf);
		return -1;
	}
	out->pw_uid = pw.pw_uid;
	out->pw_gid = pw.pw_gid;
	free(buf);
	return 0;
}

static int
lookup_group(const char *name, gid_t *gid)
{
	struct group gr, *res = NULL;
	size_t sz = 4096;
	char *buf = malloc(sz);
	int e;

	for (;;) {
		if (buf == NULL)
			return -1;
		e = getgrnam_r(name, &gr, buf, sz, &res);
		if (e != ERANGE)
			break;
		buf = pwbuf_grow(buf, &sz);
	}
	if (res != NULL)
		*gid = gr.gr_gid;
	free(buf);
	return res != NULL ? 0 : -1;
}

/* A name or a number; numbers are taken as they are. */
static int
resolve_uid(struct parser *p, const char *s, uid_t *uid)
{
	struct passwd pw;
	unsigned long v;
	char *canon = NULL;

	if (parse_ulong(s, UINT_MAX - 1, &v) == 0) {
		*uid = v;
		return 0;
	}
	if (lookup_user(s, 0, 1, &pw, &canon) == -1)
		return perr(p, "unknown user '%.64s'", s);
	free(canon);
	*uid = pw.pw_uid;
	return 0;
}

static int
resolve_gid(struct parser *p, const char *s, gid_t *gid)
{
	unsigned long v;

	if (parse_ulong(s, UINT_MAX - 1, &v) == 0) {
		*gid = v;
		return 0;
	}
	if (lookup_group(s, gid) == -1)
		return perr(p, "unknown group '%.64s'", s);
	return 0;
}

static int
parse_cidr(const char *s, struct dest_match *d)
{
	char a[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t n = slash != NULL ? (size_t)(slash - s) : strlen(s);
	unsigned long pfx;
	int i, bits;

	if (n == 0 || n >= sizeof(a))
		return -1;
	memcpy(a, s, n);
	a[n] = '\0';
	if (inet_pton(AF_INET, a, d->addr) == 1) {
		d->af = AF_INET;
		bits = 32;
	} else if (inet_pton(AF_INET6, a, d->addr) == 1) {
		d->af = AF_INET6;
		bits = 128;
	} else
		return -1;
	pfx = bits;
	if (slash != NULL && parse_ulong(slash + 1, bits, &pfx) == -1)
		return -1;
	d->prefix = pfx;
	/* Keep only the network part: 127.0.0.1/8 means 127.0.0.0/8. */
	for (i = 0; i < bits / 8; i++) {
		if (i * 8 >= (int)pfx)
			d->addr[i] = 0;
		else if (i * 8 + 8 > (int)pfx)
			d->addr[i] &= 0xff << (8 - (pfx - i * 8));
	}
	d->kind = DEST_ADDR;
	return 0;
}

static int
parse_hostpat(const char *s, struct dest_match *d)
{
	size_t len = strlen(s), i;
	int pat = 0;

	if (len > 2 && s[0] == '*' && s[1] == '.') {
		pat = 1;
		s++;
		len--;
	}
	if (!cp_hostname_ok(pat ? s + 1 : s, pat ? len - 1 : len))
		return -1;
	if (s[len - 1] == '.')
		len--;
	if ((d->name = strndup(s, len)) == NULL)
		return -2;
	for (i = 0; i < len; i++)
		if (d->name[i] >= 'A' && d->name[i] <= 'Z')
			d->name[i] += 'a' - 'A';
	d->kind = pat ? DEST_PATTERN : DEST_NAME;
	return 0;
}

static int
parse_dest(struct parser *p, const struct tok *t, struct dest_match *d)
{
	int r;

	memset(d, 0, sizeof(*d));
	if (is_word(t, "any")) {
		d->kind = DEST_ANY;
		return 0;
	}
	if (!is_value(t))
		return perr(p, "expected a destination, found '%s'", t->s);
	if (strchr(t->s, ':') != NULL || strchr(t->s, '/') != NULL ||
	    strspn(t->s, "0123456789.") == t->len) {
		if (parse_cidr(t->s, d) == 0)
			return 0;
		return perr(p, "'%.64s' is not a valid address or range", t->s);
	}
	if ((r = parse_hostpat(t->s, d)) == -2)
		return perr(p, "out of memory");
	if (r == -1)
		return perr(
		    p, "'%.64s' is not a host name, pattern or address", t->s);
	return 0;
}

static int
parse_port1(struct parser *p, const struct tok *t, uint16_t *lo, uint16_t *hi)
{
	char a[8];
	const char *colon = strchr(t->s, ':');
	unsigned long l, h;

	if (!is_value(t))
		return perr(p, "port: expected a port, found '%s'", t->s);
	if (colon != NULL && (size_t)(colon - t->s) < sizeof(a)) {
		memcpy(a, t->s, colon - t->s);
		a[colon - t->s] = '\0';
		if (parse_ulong(a, 65535, &l) == -1 ||
		    parse_ulong(colon + 1, 65535, &h) == -1)
			return perr(p, "port: invalid range '%.64s'", t->s);
	} else if (colon != NULL || parse_ulong(t->s, 65535, &l) == -1)
		return perr(p, "port: invalid port '%.64s' (1..65535)", t->s);
	else
		h = l;
	if (l == 0 || h == 0)
		return perr(p, "port: 0 is out of range (1..65535)");
	if (l > h)
		return perr(p, "port: empty range '%.64s'", t->s);
	*lo = l;
	*hi = h;
	return 0;
}

/* "port" already consumed: P | P:Q, comma-separated, or any.  Returns the
 * number of tokens used, or -1. */
static int
parse_ports(struct parser *p, struct tok *a, int n, struct portset *ps)
{
	int i = 0;

	if (n == 0)
		return perr(p, "'port' needs a value");
	if (is_word(&a[0], "any")) {
		ps->n = 0;
		return 1;
	}
	for (;;) {
		if (i >= n)
			return perr(p, "port: list ends with ','");
		if (ps->n == CONF_MAX_PORTS)
			return perr(p, "port: too many ports (limit %d)",
			    CONF_MAX_PORTS);
		if (parse_port1(p, &a[i], &ps->r[ps->n].lo, &ps->r[ps->n].hi) ==
		    -1)
			return -1;
		ps->n++;
		i++;
		if (i >= n || a[i].type != TK_COMMA)
			return i;
		i++;
	}
}

/* ---- settings ---- */

static const struct numdef {
	size_t off;
	unsigned min, max;
	int dur;
	const char *range;
} numdefs[] = {
#define G(f) offsetof(struct conf_global, f)
    {G(engines), 0, 256, 0, "0..256"},
    {G(connect_ms), 100, 300000, 1, "100ms..5m"},
    {G(handshake_ms), 100, 300000, 1, "100ms..5m"},
    {G(request_ms), 100, 3600000, 1, "100ms..1h"},
    {G(retry_max), 0, 100, 0, "0..100"},
    {G(retry_delay_ms), 0, 60000, 1, "0..1m"},
    {G(max_req_per_uid), 1, 100000, 0, "1..100000"},
    {G(max_req), 1, 1000000, 0, "1..1000000"},
    {G(session_idle_ms), 1000, 86400000, 1, "1s..24h"},
    {G(max_sessions), 1, 1000000, 0, "1..1000000"},
    {G(max_sessions_per_uid), 1, 1000000, 0, "1..1000000"},
    {G(reload_ms), 0, 86400000, 1, "0 (off)..24h"},
    {G(session_cache_size), 1, 100000, 0, "1..100000"},
#undef G
};

static int
kw_number(struct parser *p, const struct kwdef *k, struct tok *a, int n)
{
	const struct numdef *d = &numdefs[k->arg];
	unsigned long v;
	unsigned u;

	if (one_value(p, k, a, n) == -1)
		return -1;
	if (d->dur) {
		if (parse_duration(a[0].s, &u) == -1)
			return perr(p,
			    "%s: invalid duration '%.64s' (a number with ms, "
			    "s, m or h)",
			    k->name, a[0].s);
		v = u;
	} else if (parse_ulong(a[0].s, UINT_MAX, &v) == -1)
		return perr(p, "%s: '%.64s' is not a number", k->name, a[0].s);
	if (v < d->min || v > d->max)
		return perr(p, "%s: %.64s is out of range (%s)", k->name,
		    a[0].s, d->range);
	*(unsigned *)((char *)&p->c->g + d->off) = v;
	return 0;
}

static int
kw_socket(struct parser *p, const struct kwdef *k, struct tok *a, int n)
{
	if (one_value(p, k, a, n) == -1 || abs_path(p, k, &a[0]) == -1)
		return -1;
	if (a[0].len >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return perr(p, "socket: path too long (limit %zu bytes)",
		    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	return strset(p, &p->c->g.socket_path, a[0].s);
}

/* The administrator's socket (cpconnectctl): a path, like socket. */
static int
kw_control_socket(
    struct parser *p, const struct kwdef *k, struct tok *a, int n)
{
	if (one_value(p, k, a, n) == -1 || abs_path(p, k, &a[0]) == -1)
		return -1;
	if (a[0].len >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return perr(p, "control-socket: path too long (limit %zu "
			       "bytes)",
		    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	return strset(p, &p->c->g.control_path, a[0].s);
}

static int
kw_socket_mode(struct parser *p, const struct kwdef *k, struct tok *a, int n)
{
	const char *s;
	mode_t m = 0;

	if (one_value(p, k, a, n) == -1)
		return -1;
	s = a[0].s;
	if (*s == '\0' || strspn(s, "01234567") != a[0].len || a[0].len > 4)
		return perr(p,
		    "socket-mode: '%.64s' is not an octal mode "
		    "(0000..0777)",
		    s);
	for (; *s != '\0'; s++)
		m = m * 8 + (*s - '0');
	if (m > 0777)
		return perr(p,
		    "socket-mode: '%s' is not an octal mode "
		    "(0000..0777)",
		    a[0].s);
	p->c->g.socket_mode = m;
	return 0;
}

static int
kw_socket_group(struct parser *p, const struct kwdef *k, struct tok *a, int n)
{
	if (one_value(p, k, a, n) == -1)
		return -1;
	return resolve_gid(p, a[0].s, &p->c->g.socket_gid);
}

static int
kw_user(struct parser *p, const struct kwdef *k, struct tok *a, int n)
{
	struct passwd pw;
	unsigned long v;
	char *canon = NULL;
	int r;

	if (one_value(p, k, a, n) == -1)
		return -1;
	if (parse_ulong(a[0].s, UINT_MAX - 1, &v) == 0)
		r = lookup_user(NULL, v, 0, &pw, &canon);
	else
		r = lookup_user(a[0].s, 0, 1, &pw, &canon);
	if (r == -1)
		return perr(p, "unknown user '%.64s'", a[0].s);
	/* Refused here, not in an engine: a reload must not start engines
	 * that all fail at once and take the daemon down. */
	if (pw.pw_uid == 0 || pw.pw_gid == 0) {
		free(canon);
		return perr(p,
		    "user '%.64s' has uid or gid 0: the engines must not run "
		    "as root",
		    a[0].s);
	}
	free(p->c->g.user);
	p->c->g.user = canon;
	p->c->g.user_uid = pw.pw_uid;
	p->c->g.user_gid = pw.pw_gid;
	p->c->g.user_resolved = 1;
	return 0;
}

static int
kw_path(struct parser *p, const struct kwdef *k, struct tok *a, int n)
{
	if (one_value(p, k, a, n) == -1 || abs_path(p, k, &a[0]) == -1)
		return -1;
	/* trust.c reads it, later: the line goes with it for its errors. */
	if (k->arg)
		p->c->g.ca_path_line = p->line;
	else
		p->c->g.ca_file_line = p->line;
	return strset(p, k->arg ? &p->c->g.ca_path : &p->c->g.ca_file, a[0].s);
}

static struct dest_tls *
scope_tls(struct parser *p)
{
	return p->blk != NULL ? &p->blk->own : &p->c->tls;
}

static int
kw_min_tls(struct parser *p, const struct kwdef *k, struct tok *a, int n)
{
	static const char *const names[] = {"1.2", "1.3", NULL};
	static const int v[] = {CONF_TLS12, CONF_TLS13};
	struct dest_tls *t = scope_tls(p);
	int i;

	if ((i = one_choice(p, k, a, n, names)) == -1)
		return -1;
	t->min_version = v[i];
	t->set |= TLSSET_MIN;
	return 0;
}

static int
kw_verify(struct parser *p, const struct kwdef *k, struct tok *a, int n)
{
	static const char *const names[] = {"optional", "required", NULL};
	static const enum tls_verify v[] = {TLSV_OPTIONAL, TLSV_REQUIRED};
	struct dest_tls *t = scope_tls(p);
	int i;

	if ((i = one_choice(p, k, a, n, names)) == -1)
		return -1;
	t->verify = v[i];
	t->set |= TLSSET_VERIFY;
	return 0;
}

static int
kw_client_ca(struct parser *p, const struct kwdef *k, struct tok *a, int n)
{
	static const char *const names[] = {"allowed", "forbidden", NULL};
	static const enum tls_client_ca v[] = {
	    CLIENT_CA_ALLOWED, CLIENT_CA_FORBIDDEN};
	struct dest_tls *t = scope_tls(p);
	int i;

	if ((i = one_choice(p, k, a, n, names)) == -1)
		return -1;
	t->client_ca = v[i];
	t->set |= TLSSET_CLIENT_CA;
	return 0;
}

static int
kw_cn_fallback(struct parser *p, const struct kwdef *k, struct tok *a, int n)
{
	static const char *const names[] = {"yes", "no", NULL};
	struct dest_tls *t = scope_tls(p);
	int i;

	if ((i = one_choice(p, k, a, n, names)) == -1)
		return -1;
	t->cn_fallback = i == 0;
	t->set |= TLSSET_CN;
	return 0;
}

/* Who may resume whose TLS sessions (sesscache.h). */
static int
kw_session_cache(struct parser *p, const struct kwdef *k, struct tok *a, int n)
{
	static const char *const names[] = {"per-user", "shared", "off", NULL};
	static const int v[] = {
	    SESSCACHE_PER_USER, SESSCACHE_SHARED, SESSCACHE_OFF};
	int i;

	if ((i = one_choice(p, k, a, n, names)) == -1)
		return -1;
	p->c->g.session_cache = v[i];
	return 0;
}

/* Whether engines remember the chains they verified (vcache.h). */
static int
kw_verify_cache(struct parser *p, const struct kwdef *k, struct tok *a, int n)
{
	static const char *const names[] = {"on", "off", NULL};
	int i;

	if ((i = one_choice(p, k, a, n, names)) == -1)
		return -1;
	p->c->g.verify_cache = i == 0;
	return 0;
}

static int
kw_alpn(struct parser *p, const struct kwdef *k, struct tok *a, int n)
{
	struct dest_tls *t = scope_tls(p);
	int i;

	if (n == 0)
		return perr(p, "'alpn' needs a value");
	t->set |= TLSSET_ALPN;
	if (n == 1 && is_word(&a[0], "any"))
		return 0;
	if (n > CONF_MAX_ALPN)
		return perr(
		    p, "alpn: too many protocols (limit %d)", CONF_MAX_ALPN);
	for (i = 0; i < n; i++) {
		if (!is_value(&a[i]))
			return perr(p, "alpn: unexpected '%s'", a[i].s);
		if (a[i].len == 0 || a[i].len > 255)
			return perr(p, "alpn: a protocol name is 1..255 bytes");
		if ((t->alpn[t->nalpn] = strdup(a[i].s)) == NULL)
			return perr(p, "out of memory");
		t->nalpn++;
	}
	return 0;
}

static int
b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict base64 of exactly 32 bytes: 43 symbols and one '='. */
static int
b64_sha256(const char *s, size_t len, uint8_t out[32])
{
	uint32_t acc = 0;
	size_t i, o = 0;
	int v, bits = 0;

	if (len != 44 || s[43] != '=')
		return -1;
	for (i = 0; i < 43; i++) {
		if ((v = b64val(s[i])) == -1)
			return -1;
		acc = (acc << 6) | v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = acc >> bits;
			acc &= (1u << bits) - 1;
		}
	}
	/* The two bits left over must be zero in canonical base64. */
	return o == 32 && acc == 0 ? 0 : -1;
}

static int
kw_pin(struct parser *p, const struct kwdef *k, struct tok *a, int n)
{
	struct dest_tls *t = scope_tls(p);
	int i;

	if (n < 2 || !is_word(&a[0], "sha256"))
		return perr(p, "pin: expected 'sha256' and a base64 digest");
	for (i = 1; i < n; i++) {
		if (!is_value(&a[i]))
			return perr(p, "pin: unexpected '%s'", a[i].s);
		if (t->npins == CONF_MAX_PINS)
			return perr(
			    p, "pin: too many pins (limit %d)", CONF_MAX_PINS);
		if (b64_sha256(a[i].s, a[i].len, t->pins[t->npins]) == -1)
			return perr(p,
			    "pin: '%.64s' is not a base64 SHA-256 digest",
			    a[i].s);
		t->npins++;
	}
	t->set |= TLSSET_PINS;
	return 0;
}

static int
kw_client_cert(struct parser *p, const struct kwdef *k, struct tok *a, int n)
{
	struct dest_tls *t = scope_tls(p);

	t->set |= TLSSET_CERT;
	t->cert_line = p->line;
	if (n == 1 && is_word(&a[0], "none"))
		return 0;
	if (n != 3 || !is_value(&a[0]) || !is_word(&a[1], "key") ||
	    !is_value(&a[2]))
		return perr(p, "client-certificate: expected \"cert-file\" "
		               "key \"key-file\", or none");
	if (abs_path(p, k, &a[0]) == -1 || abs_path(p, k, &a[2]) == -1)
		return -1;
	if (strset(p, &t->cert_file, a[0].s) == -1 ||
	    strset(p, &t->key_file, a[2].s) == -1)
		return -1;
	return 0;
}

/* ocsp off | if-stapled | require */
static int
kw_ocsp(struct parser *p, const struct kwdef *k, struct tok *a, int n)
{
	static const char *const names[] = {
	    "off", "if-stapled", "require", NULL};
	static const enum tls_ocsp v[] = {
	    OCSP_OFF, OCSP_IF_STAPLED, OCSP_REQUIRE};
	struct dest_tls *t = scope_tls(p);
	int i;

	if ((i = one_choice(p, k, a, n, names)) == -1)
		return -1;
	t->ocsp = v[i];
	t->set |= TLSSET_OCSP;
	return 0;
}

/* crl-file "PATH": read by the parent (trust.c), not here. */
static int
kw_crl_file(struct parser *p, const struct kwdef *k, struct tok *a, int n)
{
	struct dest_tls *t = scope_tls(p);

	if (one_value(p, k, a, n) == -1 || abs_path(p, k, &a[0]) == -1)
		return -1;
	t->set |= TLSSET_CRL;
	t->crl_line = p->line;
	return strset(p, &t->crl_file, a[0].s);
}

/* crl-check leaf | all */
static int
kw_crl_check(struct parser *p, const struct kwdef *k, struct tok *a, int n)
{
	static const char *const names[] = {"leaf", "all", NULL};
	struct dest_tls *t = scope_tls(p);
	int i;

	if ((i = one_choice(p, k, a, n, names)) == -1)
		return -1;
	t->crl_all = i == 1;
	t->set |= TLSSET_CRLCHECK;
	return 0;
}

/* ---- upstream proxies ---- */

static struct proxy_conf *
scope_proxy(struct parser *p)
{
	return p->blk != NULL ? &p->blk->proxy : &p->c->proxy;
}

/* "HOST:PORT" of a proxy URL: a name, a dotted quad or [IPv6]. */
static int
proxy_hostport(const char *s, char **host, uint16_t *port)
{
	const char *colon, *h = s;
	unsigned char a[16];
	char hb[CP_MAX_HOST + 1];
	unsigned long v;
	size_t hl;

	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			return -1;
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return -1;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(hb) ||
	    parse_ulong(colon + 1, 65535, &v) == -1 || v == 0)
		return -1;
	memcpy(hb, h, hl);
	hb[hl] = '\0';
	if (*s == '['
	        ? inet_pton(AF_INET6, hb, a) != 1
	        : inet_pton(AF_INET, hb, a) != 1 &&
	              (strchr(hb, ':') != NULL || !cp_hostname_ok(hb, hl)))
		return -1;
	if ((*host = strdup(hb)) == NULL)
		return -2;
	*port = (uint16_t)v;
	return 0;
}

static int
kw_proxy(struct parser *p, const struct kwdef *k, struct tok *a, int n)
{
	struct proxy_conf *x = scope_proxy(p);
	const char *u;
	int r;

	if (one_value(p, k, a, n) == -1)
		return -1;
	x->set |= PROXYSET_URL;
	x->file = p->c->file;
	x->line = p->line;
	if (is_word(&a[0], "none")) {
		x->kind = PROXY_NONE;
		return 0;
	}
	u = a[0].s;
	if (strncmp(u, "http://", 7) == 0) {
		x->kind = PROXY_HTTP;
		u += 7;
	} else if (strncmp(u, "socks5://", 9) == 0) {
		x->kind = PROXY_SOCKS5;
		u += 9;
	} else
		return perr(p,
		    "proxy: '%.64s' is not http://HOST:PORT, "
		    "socks5://HOST:PORT or none",
		    a[0].s);
	if (strchr(u, '@') != NULL)
		return perr(p, "proxy: credentials do not go in the URL: use "
		               "proxy-credentials");
	if ((r = proxy_hostport(u, &x->host, &x->port)) == -2)
		return perr(p, "out of memory");
	if (r == -1)
		return perr(p,
		    "proxy: '%.64s' is not HOST:PORT (a host name, an "
		    "IPv4 address or [an IPv6 address], and a port)",
		    u);
	return 0;
}

static int
kw_proxy_cred(struct parser *p, const struct kwdef *k, struct tok *a, int n)
{
	struct proxy_conf *x = scope_proxy(p);

	if (one_value(p, k, a, n) == -1 || abs_path(p, k, &a[0]) == -1)
		return -1;
	x->set |= PROXYSET_CRED;
	x->cred_line = p->line;
	return strset(p, &x->cred_file, a[0].s);
}

static int
kw_proxy_resolve(struct parser *p, const struct kwdef *k, struct tok *a, int n)
{
	static const char *const names[] = {"remote", "local", NULL};
	static const enum proxy_resolve v[] = {PROXY_REMOTE, PROXY_LOCAL};
	struct proxy_conf *x = scope_proxy(p);
	int i;

	if ((i = one_choice(p, k, a, n, names)) == -1)
		return -1;
	x->resolve = v[i];
	x->set |= PROXYSET_RESOLVE;
	x->resolve_line = p->line;
	return 0;
}

/* At the end of a scope: credentials and resolution belong to a proxy
 * named there (conf.h). */
static int
proxy_scope_ok(struct parser *p, const struct proxy_conf *x)
{
	int urlish = x->kind == PROXY_HTTP || x->kind == PROXY_SOCKS5;

	if ((x->set & PROXYSET_CRED) && !urlish) {
		p->line = x->cred_line;
		return perr(p, "proxy-credentials: no proxy URL in the same "
		               "scope");
	}
	if ((x->set & PROXYSET_RESOLVE) && !urlish) {
		p->line = x->resolve_line;
		return perr(p, "proxy-resolve: no proxy URL in the same "
		               "scope");
	}
	return 0;
}

/* ---- rules ---- */

static int
parse_client(struct parser *p, struct tok *a, int n, struct client_match *w)
{
	memset(w, 0, sizeof(*w));
	if (n >= 1 && is_word(&a[0], "any")) {
		w->kind = CL_ANY;
		return 1;
	}
	if (n < 2 || a[0].type != TK_WORD || !is_value(&a[1]))
		return perr(p, "from: expected any, user, group, uid or gid");
	if (strcmp(a[0].s, "user") == 0 || strcmp(a[0].s, "uid") == 0) {
		w->kind = CL_UID;
		if (a[0].s[1] == 'i' &&
		    strspn(a[1].s, "0123456789") != a[1].len)
			return perr(p, "uid: '%.64s' is not a number", a[1].s);
		return resolve_uid(p, a[1].s, &w->uid) == -1 ? -1 : 2;
	}
	if (strcmp(a[0].s, "group") == 0 || strcmp(a[0].s, "gid") == 0) {
		w->kind = CL_GID;
		if (a[0].s[1] == 'i' &&
		    strspn(a[1].s, "0123456789") != a[1].len)
			return perr(p, "gid: '%.64s' is not a number", a[1].s);
		return resolve_gid(p, a[1].s, &w->gid) == -1 ? -1 : 2;
	}
	return perr(p, "from: expected any, user, group, uid or gid");
}

static int
grow(struct parser *p, void **arr, size_t n, size_t limit, size_t elsz,
    const char *what)
{
	void *na;

	if (n >= limit)
		return perr(p, "too many %s (limit %zu)", what, limit);
	/* Grow at powers of two; n is below limit, so this cannot overflow. */
	if (n == 0 || (n & (n - 1)) == 0) {
		if ((na = realloc(*arr, (n == 0 ? 1 : 2 * n) * elsz)) == NULL)
			return perr(p, "out of memory");
		*arr = na;
	}
	return 0;
}

/* Options after the destination: port P, tcp, tls, in any order. */
static int
rule_options(struct parser *p, struct tok *a, int n, struct rule *r)
{
	int i = 0, m, gotport = 0;

	r->kinds = 0;
	while (i < n) {
		if (is_word(&a[i], "port") && !gotport) {
			if ((m = parse_ports(
			         p, a + i + 1, n - i - 1, &r->ports)) == -1)
				return -1;
			gotport = 1;
			i += 1 + m;
		} else if (is_word(&a[i], "tcp") && !(r->kinds & KIND_TCP)) {
			r->kinds |= KIND_TCP;
			i++;
		} else if (is_word(&a[i], "tls") && !(r->kinds & KIND_TLS)) {
			r->kinds |= KIND_TLS;
			i++;
		} else
			return perr(p, "unexpected '%.64s' in rule", a[i].s);
	}
	if (r->kinds == 0)
		r->kinds = KIND_TCP | KIND_TLS;
	return 0;
}

static int
kw_rule(struct parser *p, const struct kwdef *k, struct tok *a, int n)
{
	struct cpconf *c = p->c;
	struct rule r;
	int i = 0, m;

	memset(&r, 0, sizeof(r));
	r.action = k->arg ? V_DENY : V_ALLOW;
	r.file = c->file;
	r.line = p->line;
	r.who.kind = CL_ANY;
	r.dst.kind = DEST_ANY;
	if (i < n && is_word(&a[i], "from")) {
		if ((m = parse_client(p, a + i + 1, n - i - 1, &r.who)) == -1)
			return -1;
		i += 1 + m;
	}
	if (i < n && is_word(&a[i], "to")) {
		if (i + 1 >= n)
			return perr(p, "to: expected a destination");
		if (parse_dest(p, &a[i + 1], &r.dst) == -1)
			return -1;
		i += 2;
	}
	if (rule_options(p, a + i, n - i, &r) == -1 ||
	    grow(p, (void **)&c->rules, c->nrules, CONF_MAX_RULES, sizeof(r),
	        "rules") == -1) {
		free(r.dst.name);
		return -1;
	}
	c->rules[c->nrules++] = r;
	return 0;
}

/* ---- destination blocks ---- */

static int
kw_destination(struct parser *p, const struct kwdef *k, struct tok *a, int n)
{
	struct cpconf *c = p->c;
	struct destination d;
	int m;

	if (n < 2 || a[n - 1].type != TK_LBRACE)
		return perr(p, "destination: expected destination "
		               "\"host\" [port P] {");
	memset(&d, 0, sizeof(d));
	if (parse_dest(p, &a[0], &d.dst) == -1)
		return -1;
	n--;
	if (n > 1) {
		m = -2;
		if (is_word(&a[1], "port"))
			m = parse_ports(p, a + 2, n - 2, &d.ports);
		if (m != n - 2) {
			free(d.dst.name);
			if (m == -1)
				return -1;
			return perr(p, "destination: expected destination "
			               "\"host\" [port P] {");
		}
	}
	if (grow(p, (void **)&c->dests, c->ndests, CONF_MAX_DESTS, sizeof(d),
	        "destination blocks") == -1) {
		free(d.dst.name);
		return -1;
	}
	d.file = c->file;
	d.line = p->line;
	d.own.file = c->file;
	d.own.line = p->line;
	c->dests[c->ndests] = d;
	p->blk = &c->dests[c->ndests++];
	memset(p->blkseen, 0, sizeof(p->blkseen));
	return 0;
}

static const struct kwdef keywords[] = {
    {"allow", kw_rule, IN_GLOBAL, 1, 0},
    {"deny", kw_rule, IN_GLOBAL, 1, 1},
    {"destination", kw_destination, IN_GLOBAL, 1, 0},
    {"socket", kw_socket, IN_GLOBAL, 0, 0},
    {"control-socket", kw_control_socket, IN_GLOBAL, 0, 0},
    {"socket-mode", kw_socket_mode, IN_GLOBAL, 0, 0},
    {"socket-group", kw_socket_group, IN_GLOBAL, 0, 0},
    {"engines", kw_number, IN_GLOBAL, 0, 0},
    {"user", kw_user, IN_GLOBAL, 0, 0},
    {"ca-file", kw_path, IN_GLOBAL, 0, 0},
    {"ca-path", kw_path, IN_GLOBAL, 0, 1},
    {"connect-timeout", kw_number, IN_GLOBAL, 0, 1},
    {"handshake-timeout", kw_number, IN_GLOBAL, 0, 2},
    {"request-timeout", kw_number, IN_GLOBAL, 0, 3},
    {"retry-max", kw_number, IN_GLOBAL, 0, 4},
    {"retry-delay", kw_number, IN_GLOBAL, 0, 5},
    {"max-requests-per-user", kw_number, IN_GLOBAL, 0, 6},
    {"max-requests", kw_number, IN_GLOBAL, 0, 7},
    {"session-idle-timeout", kw_number, IN_GLOBAL, 0, 8},
    {"max-sessions", kw_number, IN_GLOBAL, 0, 9},
    {"max-sessions-per-user", kw_number, IN_GLOBAL, 0, 10},
    {"session-cache", kw_session_cache, IN_GLOBAL, 0, 0},
    {"session-cache-size", kw_number, IN_GLOBAL, 0, 12},
    {"verify-cache", kw_verify_cache, IN_GLOBAL, 0, 0},
    {"min-tls", kw_min_tls, IN_GLOBAL | IN_BLOCK, 0, 0},
    {"verify", kw_verify, IN_GLOBAL | IN_BLOCK, 0, 0},
    {"client-ca", kw_client_ca, IN_GLOBAL | IN_BLOCK, 0, 0},
    {"alpn", kw_alpn, IN_GLOBAL | IN_BLOCK, 0, 0},
    {"pin", kw_pin, IN_GLOBAL | IN_BLOCK, 1, 0},
    {"client-certificate", kw_client_cert, IN_GLOBAL | IN_BLOCK, 0, 0},
    {"cn-fallback", kw_cn_fallback, IN_GLOBAL | IN_BLOCK, 0, 0},
    {"ocsp", kw_ocsp, IN_GLOBAL | IN_BLOCK, 0, 0},
    {"crl-file", kw_crl_file, IN_GLOBAL | IN_BLOCK, 0, 0},
    {"crl-check", kw_crl_check, IN_GLOBAL | IN_BLOCK, 0, 0},
    {"reload-interval", kw_number, IN_GLOBAL, 0, 11},
    {"proxy", kw_proxy, IN_GLOBAL | IN_BLOCK, 0, 0},
    {"proxy-credentials", kw_proxy_cred, IN_GLOBAL | IN_BLOCK, 0, 0},
    {"proxy-resolve", kw_proxy_resolve, IN_GLOBAL | IN_BLOCK, 0, 0},
};

#define NKEYWORDS (int)(sizeof(keywords) / sizeof(keywords[0]))

static int
close_block(struct parser *p)
{
	if (p->blk == NULL)
		return perr(p, "'}' without a destination block");
	if (p->ntok > 1)
		return perr(p, "unexpected '%.64s' after '}'", p->tok[1].s);
	if (proxy_scope_ok(p, &p->blk->proxy) == -1)
		return -1;
	p->blk = NULL;
	return 0;
}

static int
statement(struct parser *p)
{
	const struct kwdef *k = NULL;
	struct tok *t = &p->tok[0];
	int i, *seen;

	if (t->type == TK_RBRACE)
		return close_block(p);
	if (t->type != TK_WORD)
		return perr(p, "expected a keyword, found '%.64s'", t->s);
	for (i = 0; i < NKEYWORDS; i++)
		if (strcmp(keywords[i].name, t->s) == 0) {
			k = &keywords[i];
			break;
		}
	if (k == NULL)
		return perr(p, "unknown keyword '%.64s'", t->s);
	if (p->blk != NULL && !(k->where & IN_BLOCK))
		return perr(
		    p, "'%s' is not allowed in a destination block", k->name);
	seen = p->blk != NULL ? p->blkseen : p->seen;
	if (!k->repeat && seen[i] != 0)
		return perr(
		    p, "duplicate '%s' (first at line %d)", k->name, seen[i]);
	seen[i] = p->line;
	/* Only "destination ... {" may open a block. */
	if (k->fn != kw_destination)
		for (i = 1; i < p->ntok; i++)
			if (p->tok[i].type == TK_LBRACE ||
			    p->tok[i].type == TK_RBRACE)
				return perr(p, "unexpected '%s'", p->tok[i].s);
	return k->fn(p, k, p->tok + 1, p->ntok - 1);
}

/* ---- whole configuration ---- */

static void
tls_free(struct dest_tls *t)
{
	int i;

	for (i = 0; i < t->nalpn; i++)
		free(t->alpn[i]);
	free(t->cert_file);
	free(t->key_file);
	free(t->crl_file);
}

void
conf_free(struct cpconf *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nrules; i++)
		free(c->rules[i].dst.name);
	for (i = 0; i < c->ndests; i++) {
		free(c->dests[i].dst.name);
		tls_free(&c->dests[i].own);
		free(c->dests[i].proxy.host);
		free(c->dests[i].proxy.cred_file);
	}
	free(c->proxy.host);
	free(c->proxy.cred_file);
	free(c->rules);
	free(c->dests);
	tls_free(&c->tls);
	free(c->g.socket_path);
	free(c->g.control_path);
	free(c->g.user);
	free(c->g.ca_file);
	free(c->g.ca_path);
	free(c->file);
	free(c);
}

static struct cpconf *
conf_new(const char *name)
{
	struct cpconf *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->file = strdup(name);
	c->g.socket_path = strdup(CP_DEFAULT_SOCKET);
	c->g.user = strdup(CONF_DEFAULT_USER);
	if (c->file == NULL || c->g.socket_path == NULL || c->g.user == NULL) {
		conf_free(c);
		return NULL;
	}
	c->g.socket_mode = 0666;
	c->g.socket_gid = (gid_t)-1;
	c->g.engines = 0;
	c->g.connect_ms = 10000;
	c->g.handshake_ms = 10000;
	c->g.request_ms = 30000;
	c->g.retry_max = 3;
	c->g.retry_delay_ms = 250;
	c->g.max_req_per_uid = 64;
	c->g.max_req = 1024;
	c->g.session_idle_ms = 300000;
	c->g.max_sessions = 1024;
	c->g.max_sessions_per_uid = 256;
	c->g.reload_ms = 60000;
	c->g.session_cache = SESSCACHE_PER_USER;
	c->g.session_cache_size = 1024;
	c->g.verify_cache = 1;
	c->tls.verify = TLSV_OPTIONAL;
	c->tls.client_ca = CLIENT_CA_ALLOWED;
	c->tls.min_version = CONF_TLS12;
	c->tls.ocsp = OCSP_IF_STAPLED;
	return c;
}

static int
needs_verify(const struct dest_tls *t)
{
	return t->npins > 0 || t->cert_file != NULL;
}

/* Destination blocks see the global policy wherever it is written. */
static void
merge(struct cpconf *c)
{
	struct dest_tls *g = &c->tls, *m, *o;
	size_t i;

	if (!(g->set & TLSSET_VERIFY) && needs_verify(g))
		g->verify = TLSV_REQUIRED;
	for (i = 0; i < c->ndests; i++) {
		o = &c->dests[i].own;
		m = &c->dests[i].merged;
		*m = *g;
		if (o->set & TLSSET_CLIENT_CA)
			m->client_ca = o->client_ca;
		if (o->set & TLSSET_MIN)
			m->min_version = o->min_version;
		if (o->set & TLSSET_PINS) {
			m->npins = o->npins;
			memcpy(m->pins, o->pins, sizeof(m->pins));
		}
		if (o->set & TLSSET_ALPN) {
			m->nalpn = o->nalpn;
			memcpy(m->alpn, o->alpn, sizeof(m->alpn));
		}
		if (o->set & TLSSET_CERT) {
			m->cert_file = o->cert_file;
			m->key_file = o->key_file;
			m->cert_line = o->cert_line;
		}
		if (o->set & TLSSET_CN)
			m->cn_fallback = o->cn_fallback;
		if (o->set & TLSSET_OCSP)
			m->ocsp = o->ocsp;
		if (o->set & TLSSET_CRL) {
			m->crl_file = o->crl_file;
			m->crl_line = o->crl_line;
		}
		if (o->set & TLSSET_CRLCHECK)
			m->crl_all = o->crl_all;
		if (o->set & TLSSET_VERIFY)
			m->verify = o->verify;
		else if (!(g->set & TLSSET_VERIFY))
			m->verify =
			    needs_verify(m) ? TLSV_REQUIRED : TLSV_OPTIONAL;
		m->file = o->file;
		m->line = o->line;
		m->set = o->set | g->set;
	}
}

static int
parse_all(struct parser *p, const char *text, size_t len)
{
	const char *s = text, *end = text + len, *eol, *nul;
	size_t n;

	while (s < end) {
		p->line++;
		eol = memchr(s, '\n', end - s);
		n = eol != NULL ? (size_t)(eol - s) : (size_t)(end - s);
		if ((nul = memchr(s, '\0', n)) != NULL)
			return perr(p, "NUL byte in file");
		if (lex_line(p, s, n) == -1)
			return -1;
		if (p->ntok > 0 && statement(p) == -1)
			return -1;
		s += n + 1;
	}
	if (p->blk != NULL) {
		p->line = p->blk->line;
		return perr(p, "destination block is not closed");
	}
	return proxy_scope_ok(p, &p->c->proxy);
}

int
conf_parse(struct cpconf **out, const char *name, const char *text, size_t len,
    char *err, size_t errsz)
{
	struct parser p;
	int r;

	*out = NULL;
	memset(&p, 0, sizeof(p));
	p.name = name;
	p.err = err;
	p.errsz = errsz;
	if (errsz > 0)
		err[0] = '\0';
	if ((p.c = conf_new(name)) == NULL)
		return perr(&p, "out of memory");
	r = parse_all(&p, text, len);
	free(p.buf);
	if (r == -1) {
		conf_free(p.c);
		return -1;
	}
	merge(p.c);
	*out = p.c;
	return 0;
}

/* ---- files and defaults ---- */

static int
ferr(char *err, size_t errsz, const char *path, const char *msg)
{
	if (errsz > 0)
		snprintf(err, errsz, "%s: %s", path, msg);
	return -1;
}

static int
read_file(int fd, const char *path, char **bufp, size_t *lenp, char *err,
    size_t errsz)
{
	struct stat st;
	char *buf;
	size_t len = 0;
	ssize_t r;

	if (fstat(fd, &st) == -1)
		return ferr(err, errsz, path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return ferr(err, errsz, path, "not a regular file");
	if (st.st_mode & S_IWOTH)
		return ferr(err, errsz, path, "refusing a world-writable file");
	if (st.st_size > CONF_MAX_FILE)
		return ferr(err, errsz, path, "file too large (limit 1 MiB)");
	/* One byte more than the limit tells a file that grew meanwhile. */
	if ((buf = malloc(CONF_MAX_FILE + 1)) == NULL)
		return ferr(err, errsz, path, "out of memory");
	for (;;) {
		r = read(fd, buf + len, CONF_MAX_FILE + 1 - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			free(buf);
			return ferr(err, errsz, path, strerror(errno));
		}
		if (r == 0)
			break;
		len += r;
		if (len > CONF_MAX_FILE) {
			free(buf);
			return ferr(
			    err, errsz, path, "file too large (limit 1 MiB)");
		}
	}
	*bufp = buf;
	*lenp = len;
	return 0;
}

int
conf_read(const char *path, char **text, size_t *len, char *err,
    size_t errsz)
{
	const char *p = path != NULL ? path : CONF_DEFAULT_PATH;
	int fd, r;

	*text = NULL;
	*len = 0;
	fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1 && errno == ENOENT && path == NULL)
		return 0;
	if (fd == -1)
		return ferr(err, errsz, p, strerror(errno));
	r = read_file(fd, p, text, len, err, errsz);
	close(fd);
	return r == -1 ? -1 : 1;
}

int
conf_load(struct cpconf **out, const char *path, int unprivileged, char *err,
    size_t errsz)
{
	char *buf;
	size_t len;
	int r;

	*out = NULL;
	if ((r = conf_read(path, &buf, &len, err, errsz)) == -1)
		return -1;
	if (r == 0)
		return conf_default(out, unprivileged) == 0
		           ? 0
		           : ferr(err, errsz, BUILTIN_NAME, "out of memory");
	r = conf_parse(out, path != NULL ? path : CONF_DEFAULT_PATH, buf, len,
	    err, errsz);
	free(buf);
	return r;
}

static int
add_builtin(struct cpconf *c, uid_t uid, int af, const char *addr, int prefix)
{
	struct rule *r;
	void *na;

	if ((na = realloc(c->rules, (c->nrules + 1) * sizeof(*r))) == NULL)
		return -1;
	c->rules = na;
	r = &c->rules[c->nrules++];
	memset(r, 0, sizeof(*r));
	r->action = V_ALLOW;
	r->kinds = KIND_TCP | KIND_TLS;
	r->file = c->file;
	r->line = c->nrules;
	if (af == AF_UNSPEC)
		return 0;
	r->who.kind = CL_UID;
	r->who.uid = uid;
	r->dst.kind = DEST_ADDR;
	r->dst.af = af;
	r->dst.prefix = prefix;
	return inet_pton(af, addr, r->dst.addr) == 1 ? 0 : -1;
}

int
conf_default(struct cpconf **out, int unprivileged)
{
	struct cpconf *c;
	uid_t me = getuid();

	*out = NULL;
	if ((c = conf_new(BUILTIN_NAME)) == NULL)
		return -1;
	if ((unprivileged &&
	        (add_builtin(c, me, AF_INET, "127.0.0.0", 8) == -1 ||
	            add_builtin(c, me, AF_INET6, "::1", 128) == -1)) ||
	    add_builtin(c, 0, AF_UNSPEC, NULL, 0) == -1) {
		conf_free(c);
		return -1;
	}
	merge(c);
	*out = c;
	return 0;
}

const char *
conf_rule_str(const struct rule *r, char *buf, size_t len)
{
	if (r == NULL)
		snprintf(buf, len, "no rule");
	else
		snprintf(buf, len, "rule at %s:%d", r->file, r->line);
	return buf;
}
