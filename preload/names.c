/* SPDX-License-Identifier: ISC */
/*
 * libcpconnect-preload: name lookups answered with placeholder addresses.
 *
 * A program without a network cannot resolve names, and if it could, the
 * daemon's rules on names would not apply to the address it then connects
 * to.  So a host name is answered with a placeholder (phtable.h) that
 * stands for it, and connect.c asks the daemon for the name itself.
 *
 * Left to libc: address literals, "localhost" and the names below it
 * (RFC 6761: loopback, which libc answers from /etc/hosts), AI_NUMERICHOST,
 * AI_PASSIVE (addresses to bind, not to connect to), and families other
 * than IPv4 and IPv6.  Lists are built by libc's getaddrinfo from the
 * placeholder literals, so services, socket types and freeaddrinfo()
 * behave exactly as libc's.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hostname.h"
#include "phtable.h"
#include "pl.h"

/* An address as libc reads one: inet_aton() forms too ("127.1"). */
static int
is_literal(const char *name)
{
	struct in_addr a4;

	return inet_aton(name, &a4) || cp_addr_literal(name);
}

static int
is_localhost(const char *name)
{
	size_t n = strlen(name), k = sizeof("localhost") - 1;

	if (n > 0 && name[n - 1] == '.')
		n--;
	return n >= k && strncasecmp(name + n - k, "localhost", k) == 0 &&
	       (n == k || name[n - k - 1] == '.');
}

/* Ours to answer: a host name, not an address or loopback. */
static int
ours(const char *name)
{
	return name != NULL && !is_literal(name) && !is_localhost(name);
}

/* Lookups libc answers: the program's own flags, except AI_ADDRCONFIG:
 * the interfaces of the sandbox, which may have none, do not say what the
 * daemon can reach. */
static int
libc_gai(const char *node, const char *service, const struct addrinfo *hints,
    struct addrinfo **res)
{
	struct addrinfo h;

	if (hints == NULL || !(hints->ai_flags & AI_ADDRCONFIG))
		return pl_real()->getaddrinfo(node, service, hints, res);
	h = *hints;
	h.ai_flags &= ~AI_ADDRCONFIG;
	return pl_real()->getaddrinfo(node, service, &h, res);
}

/* The list for one placeholder literal, with the program's service, type
 * and protocol. */
static int
one_list(const char *literal, int family, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
	struct addrinfo h;

	memset(&h, 0, sizeof(h));
	if (hints != NULL) {
		h.ai_socktype = hints->ai_socktype;
		h.ai_protocol = hints->ai_protocol;
		h.ai_flags = hints->ai_flags & AI_NUMERICSERV;
	}
	h.ai_flags |= AI_NUMERICHOST;
	h.ai_family = family;
	return pl_real()->getaddrinfo(literal, service, &h, res);
}

static void
append(struct addrinfo **list, struct addrinfo *more)
{
	while (*list != NULL)
		list = &(*list)->ai_next;
	*list = more;
}

/*
 * IPv4 first: most names have an IPv4 address, and each placeholder the
 * program tries is one request to the daemon for that family only (the
 * program's socket keeps its family).  AF_INET6 with AI_V4MAPPED also
 * gets the IPv4 placeholder in mapped form.
 */
static int
placeholders(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
	int family = hints != NULL ? hints->ai_family : AF_UNSPEC;
	int flags = hints != NULL ? hints->ai_flags : AI_V4MAPPED;
	uint32_t code = ph_code(node);
	char lit4[INET_ADDRSTRLEN], lit6[INET6_ADDRSTRLEN];
	char mapped[sizeof("::ffff:") + INET_ADDRSTRLEN];
	struct in_addr a4;
	struct in6_addr a6;
	struct addrinfo *list = NULL, *more;
	int rv = 0;

	ph_addr4(code, &a4);
	ph_addr6(code, &a6);
	inet_ntop(AF_INET, &a4, lit4, sizeof(lit4));
	inet_ntop(AF_INET6, &a6, lit6, sizeof(lit6));
	snprintf(mapped, sizeof(mapped), "::ffff:%s", lit4);
	if (family != AF_INET6 &&
	    (rv = one_list(lit4, AF_INET, service, hints, &more)) == 0)
		append(&list, more);
	if (rv == 0 && family != AF_INET &&
	    (rv = one_list(lit6, AF_INET6, service, hints, &more)) == 0)
		append(&list, more);
	if (rv == 0 && family == AF_INET6 && (flags & AI_V4MAPPED) &&
	    (rv = one_list(mapped, AF_INET6, service, hints, &more)) == 0)
		append(&list, more);
	if (rv != 0) {
		if (list != NULL)
			freeaddrinfo(list);
		return rv;
	}
	if ((flags & AI_CANONNAME) && list != NULL) {
		/* libc frees ai_canonname with free(). */
		free(list->ai_canonname);
		if ((list->ai_canonname = strdup(node)) == NULL) {
			freeaddrinfo(list);
			return EAI_MEMORY;
		}
	}
	*res = list;
	return 0;
}

int
getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
    struct addrinfo **res)
{
	int family = hints != NULL ? hints->ai_family : AF_UNSPEC;
	int flags = hints != NULL ? hints->ai_flags : 0;

	if (node == NULL || (flags & (AI_NUMERICHOST | AI_PASSIVE)) ||
	    (family != AF_UNSPEC && family != AF_INET && family != AF_INET6))
		return pl_real()->getaddrinfo(node, service, hints, res);
	if (!ours(node))
		return libc_gai(node, service, hints, res);
	if (!cp_hostname_ok(node, strlen(node)))
		return EAI_NONAME;
	return placeholders(node, service, hints, res);
}

/* hostent results */

struct hbuf {
	char *p;
	size_t left;
};

static void *
hb_take(struct hbuf *b, size_t n, size_t align)
{
	uintptr_t at = ((uintptr_t)b->p + align - 1) & ~(uintptr_t)(align - 1);
	size_t pad = (size_t)(at - (uintptr_t)b->p);
	void *r;

	if (pad + n > b->left)
		return NULL;
	r = (void *)at;
	b->p += pad + n;
	b->left -= pad + n;
	return r;
}

/* A hostent for name with one address, in the caller's buffer: 0, or
 * ERANGE when it does not fit. */
static int
fill_hostent(struct hostent *he, char *buf, size_t buflen, const char *name,
    int af, const void *addr)
{
	struct hbuf b = {buf, buflen};
	size_t alen = af == AF_INET ? 4 : 16, nlen = strlen(name) + 1;
	char **aliases = hb_take(&b, sizeof(char *), sizeof(char *));
	char **addrs = hb_take(&b, 2 * sizeof(char *), sizeof(char *));
	char *a = hb_take(&b, alen, sizeof(uint32_t));
	char *n = hb_take(&b, nlen, 1);

	if (aliases == NULL || addrs == NULL || a == NULL || n == NULL)
		return ERANGE;
	memcpy(a, addr, alen);
	memcpy(n, name, nlen);
	aliases[0] = NULL;
	addrs[0] = a;
	addrs[1] = NULL;
	he->h_name = n;
	he->h_aliases = aliases;
	he->h_addrtype = af;
	he->h_length = (int)alen;
	he->h_addr_list = addrs;
	return 0;
}

/* The placeholder hostent for a name ours() accepted. */
static int
name_hostent(const char *name, int af, struct hostent *he, char *buf,
    size_t buflen, int *herr)
{
	struct in6_addr a6;
	struct in_addr a4;
	uint32_t code;
	int rv;

	if ((af != AF_INET && af != AF_INET6) ||
	    !cp_hostname_ok(name, strlen(name))) {
		*herr = HOST_NOT_FOUND;
		return ENOENT;
	}
	code = ph_code(name);
	ph_addr4(code, &a4);
	ph_addr6(code, &a6);
	rv = fill_hostent(he, buf, buflen, name, af,
	    af == AF_INET ? (void *)&a4 : (void *)&a6);
	*herr = rv == 0 ? 0 : NETDB_INTERNAL;
	return rv;
}

/* Thread-local storage for the non-reentrant forms. */
static __thread struct hostent tls_he;
static __thread char tls_buf[512];

int
gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf,
    size_t buflen, struct hostent **result, int *h_errnop)
{
	int rv;

	if (!ours(name))
		return pl_real()->gethostbyname2_r(
		    name, af, ret, buf, buflen, result, h_errnop);
	rv = name_hostent(name, af, ret, buf, buflen, h_errnop);
	*result = rv == 0 ? ret : NULL;
	return rv;
}

int
gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t buflen,
    struct hostent **result, int *h_errnop)
{
	return gethostbyname2_r(
	    name, AF_INET, ret, buf, buflen, result, h_errnop);
}

struct hostent *
gethostbyname2(const char *name, int af)
{
	struct hostent *r;
	int herr;

	if (!ours(name))
		return pl_real()->gethostbyname2(name, af);
	if (name_hostent(name, af, &tls_he, tls_buf, sizeof(tls_buf), &herr) !=
	    0) {
		h_errno = herr;
		return NULL;
	}
	r = &tls_he;
	return r;
}

struct hostent *
gethostbyname(const char *name)
{
	return gethostbyname2(name, AF_INET);
}

/* Reverse lookups of placeholders give the name back. */

static int
addr_code(const void *addr, socklen_t len, int type, uint32_t *code)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (addr == NULL)
		return 0;
	if (type == AF_INET && len == 4) {
		memcpy(&a4, addr, 4);
		return ph_is4(&a4, code);
	}
	if (type == AF_INET6 && len == 16) {
		memcpy(&a6, addr, 16);
		return ph_is6(&a6, code) != 0;
	}
	return 0;
}

int
gethostbyaddr_r(const void *addr, socklen_t len, int type, struct hostent *ret,
    char *buf, size_t buflen, struct hostent **result, int *h_errnop)
{
	char name[PH_NAME_MAX + 1];
	uint32_t code;
	int rv;

	if (!addr_code(addr, len, type, &code))
		return pl_real()->gethostbyaddr_r(
		    addr, len, type, ret, buf, buflen, result, h_errnop);
	*result = NULL;
	if (ph_name(code, name, sizeof(name)) == -1) {
		*h_errnop = HOST_NOT_FOUND;
		return ENOENT;
	}
	if ((rv = fill_hostent(ret, buf, buflen, name, type, addr)) != 0) {
		*h_errnop = NETDB_INTERNAL;
		return rv;
	}
	*h_errnop = 0;
	*result = ret;
	return 0;
}

struct hostent *
gethostbyaddr(const void *addr, socklen_t len, int type)
{
	struct hostent *r = NULL;
	uint32_t code;
	int herr;

	if (!addr_code(addr, len, type, &code))
		return pl_real()->gethostbyaddr(addr, len, type);
	if (gethostbyaddr_r(addr, len, type, &tls_he, tls_buf, sizeof(tls_buf),
	        &r, &herr) != 0)
		h_errno = herr;
	return r;
}

static int
sa_code(const struct sockaddr *sa, socklen_t len, uint32_t *code)
{
	if (sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in))
		return ph_is4(
		    &((const struct sockaddr_in *)sa)->sin_addr, code);
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))
		return ph_is6(&((const struct sockaddr_in6 *)sa)->sin6_addr,
		           code) != 0;
	return 0;
}

int
getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host,
    socklen_t hostlen, char *serv, socklen_t servlen, int flags)
{
	char name[PH_NAME_MAX + 1];
	uint32_t code;
	int rv;

	if (host == NULL || hostlen == 0 || (flags & NI_NUMERICHOST) ||
	    !sa_code(sa, salen, &code))
		return pl_real()->getnameinfo(
		    sa, salen, host, hostlen, serv, servlen, flags);
	if (ph_name(code, name, sizeof(name)) == -1) {
		/* Not known here: the number, unless a name is required. */
		if (flags & NI_NAMEREQD)
			return EAI_NONAME;
		return pl_real()->getnameinfo(sa, salen, host, hostlen, serv,
		    servlen, flags | NI_NUMERICHOST);
	}
	if (strlen(name) >= hostlen)
		return EAI_OVERFLOW;
	if (serv != NULL && servlen > 0 &&
	    (rv = pl_real()->getnameinfo(
	         sa, salen, NULL, 0, serv, servlen, flags)) != 0)
		return rv;
	memcpy(host, name, strlen(name) + 1);
	return 0;
}
