/* SPDX-License-Identifier: ISC */
/*
 * Proxy credentials (pcred.h): read by the parent, carried to the
 * engines over the channel, wiped wherever a copy ends.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "ctl.h"
#include "pcred.h"

#define PCRED_MAX (CONF_MAX_DESTS + 1) /* one per scope at most */
#define PCRED_MAX_MSG                                                          \
	(sizeof(struct pcred_msg) + PCRED_MAX_PATH + 2 * PROXY_MAX_CRED)

struct pcent {
	char *path;
	char user[PROXY_MAX_CRED + 1];
	char pass[PROXY_MAX_CRED + 1];
	struct proxy_cred c; /* points into user and pass */
};

/* Entries one by one: a copy is never moved, so never left unwiped. */
struct pcred {
	int n;
	struct pcent *e[PCRED_MAX];
};

static int
perr(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	return -1;
}

void
pcred_free(struct pcred *t)
{
	int i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++) {
		free(t->e[i]->path);
		explicit_bzero(t->e[i], sizeof(*t->e[i]));
		free(t->e[i]);
	}
	free(t);
}

static struct pcred *
pcred_new(void)
{
	return calloc(1, sizeof(struct pcred));
}

int
pcred_count(const struct pcred *t)
{
	return t != NULL ? t->n : 0;
}

const struct proxy_cred *
pcred_find(const struct pcred *t, const char *path)
{
	int i;

	for (i = 0; t != NULL && path != NULL && i < t->n; i++)
		if (strcmp(t->e[i]->path, path) == 0)
			return &t->e[i]->c;
	return NULL;
}

static int
part_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > PROXY_MAX_CRED)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

int
pcred_parse(
    const char *text, size_t len, struct proxy_cred *c, const char **why)
{
	const char *colon;

	if (len > 0 && text[len - 1] == '\n')
		len--;
	if (len > 0 && text[len - 1] == '\r')
		len--;
	if (memchr(text, '\n', len) != NULL) {
		*why = "more than one line";
		return -1;
	}
	if ((colon = memchr(text, ':', len)) == NULL) {
		*why = "not user:password";
		return -1;
	}
	c->user = text;
	c->ulen = (size_t)(colon - text);
	c->pass = colon + 1;
	c->plen = len - c->ulen - 1;
	if (!part_ok(c->user, c->ulen) || !part_ok(c->pass, c->plen)) {
		*why = "the user and the password must be 1..255 bytes "
		       "without control characters";
		return -1;
	}
	return 0;
}

static int
add(struct pcred *t, const char *path, const struct proxy_cred *c)
{
	struct pcent *e;

	if (t->n >= PCRED_MAX || c->ulen > PROXY_MAX_CRED ||
	    c->plen > PROXY_MAX_CRED)
		return -1;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -1;
	if ((e->path = strdup(path)) == NULL) {
		free(e);
		return -1;
	}
	t->e[t->n] = e;
	memcpy(e->user, c->user, c->ulen);
	memcpy(e->pass, c->pass, c->plen);
	e->c.user = e->user;
	e->c.ulen = c->ulen;
	e->c.pass = e->pass;
	e->c.plen = c->plen;
	t->n++;
	return 0;
}

/* ---- parent ---- */

static int
read_cred(int fd, char *buf, size_t *len, const char **why)
{
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) == -1) {
		*why = strerror(errno);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		*why = "not a regular file";
		return -1;
	}
	if (st.st_mode & (S_IROTH | S_IWOTH | S_IWGRP)) {
		*why = "readable by others or writable by others than its "
		       "owner (chmod 0600 or 0640)";
		return -1;
	}
	*len = 0;
	for (;;) {
		n = read(fd, buf + *len, PCRED_MAX_FILE + 1 - *len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			*why = strerror(errno);
			return -1;
		}
		if (n == 0)
			return 0;
		*len += (size_t)n;
		if (*len > PCRED_MAX_FILE) {
			*why = "file too large (limit 1 KiB)";
			return -1;
		}
	}
}

static int
load_one(struct pcred *t, const struct cpconf *cf, const struct proxy_conf *x,
    char *err, size_t errsz)
{
	char buf[PCRED_MAX_FILE + 1];
	struct proxy_cred c;
	const char *why = NULL;
	size_t len = 0;
	int fd, r = -1;

	if (x->cred_file == NULL || pcred_find(t, x->cred_file) != NULL)
		return 0;
	if (strlen(x->cred_file) > PCRED_MAX_PATH)
		why = "path too long";
	else if ((fd = open(x->cred_file,
	              O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) == -1)
		why = strerror(errno);
	else {
		if (read_cred(fd, buf, &len, &why) == 0 &&
		    pcred_parse(buf, len, &c, &why) == 0) {
			if (add(t, x->cred_file, &c) == 0)
				r = 0;
			else
				why = "out of memory";
		}
		close(fd);
	}
	explicit_bzero(buf, sizeof(buf));
	explicit_bzero(&c, sizeof(c));
	if (r == -1)
		perr(err, errsz, "%s:%d: proxy-credentials %s: %s",
		    x->file != NULL ? x->file : cf->file, x->cred_line,
		    x->cred_file, why);
	return r;
}

int
pcred_load(struct pcred **out, const struct cpconf *cf, char *err, size_t errsz)
{
	struct pcred *t;
	size_t i;

	*out = NULL;
	if ((t = pcred_new()) == NULL)
		return perr(err, errsz, "out of memory");
	if (load_one(t, cf, &cf->proxy, err, errsz) == -1)
		goto fail;
	for (i = 0; i < cf->ndests; i++)
		if (load_one(t, cf, &cf->dests[i].proxy, err, errsz) == -1)
			goto fail;
	if (t->n == 0) {
		pcred_free(t);
		return 0;
	}
	*out = t;
	return 0;
fail:
	pcred_free(t);
	return -1;
}

int
pcred_send(const struct pcred *t, int fd)
{
	unsigned char buf[PCRED_MAX_MSG];
	struct pcred_end end = {.type = CTL_PCRED_END};
	struct pcred_msg h;
	size_t len;
	int i, rv = 0;

	for (i = 0; i < pcred_count(t) && rv == 0; i++) {
		const struct pcent *e = t->e[i];

		h.type = CTL_PCRED;
		h.pathlen = (uint32_t)strlen(e->path);
		h.ulen = (uint32_t)e->c.ulen;
		h.plen = (uint32_t)e->c.plen;
		len = 0;
		memcpy(buf, &h, sizeof(h));
		len += sizeof(h);
		memcpy(buf + len, e->path, h.pathlen);
		len += h.pathlen;
		memcpy(buf + len, e->user, h.ulen);
		len += h.ulen;
		memcpy(buf + len, e->pass, h.plen);
		len += h.plen;
		if (send(fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len)
			rv = -1;
	}
	explicit_bzero(buf, sizeof(buf));
	end.n = (uint32_t)pcred_count(t);
	if (rv == 0 &&
	    send(fd, &end, sizeof(end), MSG_NOSIGNAL) != (ssize_t)sizeof(end))
		rv = -1;
	return rv;
}

/* ---- engine ---- */

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* One CTL_PCRED, checked as the parent would check ours. */
static int
take(struct pcred *t, const unsigned char *buf, size_t n)
{
	char path[PCRED_MAX_PATH + 1];
	struct pcred_msg h;
	struct proxy_cred c;

	if (n < sizeof(h))
		return -1;
	memcpy(&h, buf, sizeof(h));
	if (h.pathlen == 0 || h.pathlen > PCRED_MAX_PATH || h.ulen == 0 ||
	    h.ulen > PROXY_MAX_CRED || h.plen == 0 || h.plen > PROXY_MAX_CRED ||
	    n != sizeof(h) + h.pathlen + h.ulen + h.plen)
		return -1;
	memcpy(path, buf + sizeof(h), h.pathlen);
	path[h.pathlen] = '\0';
	c.user = (const char *)buf + sizeof(h) + h.pathlen;
	c.ulen = h.ulen;
	c.pass = c.user + h.ulen;
	c.plen = h.plen;
	if (strlen(path) != h.pathlen || pcred_find(t, path) != NULL)
		return -1;
	return add(t, path, &c);
}

int
pcred_recv(struct pcred **out, int fd, int timeout_ms, char *err, size_t errsz)
{
	unsigned char buf[PCRED_MAX_MSG + 1];
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	struct pcred_end end;
	struct pcred *t;
	struct pollfd pfd;
	uint32_t type;
	ssize_t n;
	int rv = -1;

	*out = NULL;
	if ((t = pcred_new()) == NULL)
		return perr(err, errsz, "out of memory");
	for (;;) {
		uint64_t now = now_ms();

		if (now >= deadline) {
			perr(
			    err, errsz, "no proxy credentials from the parent");
			break;
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)(deadline - now)) == -1 &&
		    errno != EINTR) {
			perr(err, errsz, "poll: %s", strerror(errno));
			break;
		}
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			perr(err, errsz, "channel to the parent: %s",
			    n == 0 ? "closed" : strerror(errno));
			break;
		}
		if ((size_t)n < sizeof(type)) {
			perr(err, errsz, "malformed message from the parent");
			break;
		}
		memcpy(&type, buf, sizeof(type));
		if (type == CTL_PCRED) {
			if (take(t, buf, (size_t)n) == -1) {
				perr(err, errsz,
				    "malformed proxy credentials from the "
				    "parent");
				break;
			}
			continue;
		}
		if (type == CTL_PCRED_END && n == (ssize_t)sizeof(end)) {
			memcpy(&end, buf, sizeof(end));
			if (end.n == (uint32_t)t->n)
				rv = 0;
			else
				perr(err, errsz,
				    "%u proxy credentials announced, %d "
				    "received",
				    end.n, t->n);
			break;
		}
		perr(err, errsz, "unexpected message from the parent");
		break;
	}
	explicit_bzero(buf, sizeof(buf));
	if (rv == -1 || t->n == 0) {
		pcred_free(t);
		return rv;
	}
	*out = t;
	return 0;
}
