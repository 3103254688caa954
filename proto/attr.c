/* SPDX-License-Identifier: ISC */
/*
 * Attribute list codec.  Peer data is checked for length before it is read,
 * and every rejection says which attribute and why.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attr.h"

static int
perr(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errsz > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errsz, fmt, ap);
		va_end(ap);
	}
	errno = EBADMSG;
	return -1;
}

static const size_t numsize[] = {
	[AT_U8] = 1, [AT_U16] = 2, [AT_U32] = 4, [AT_U64] = 8};

static uint64_t
getnum(const unsigned char *p, size_t len)
{
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;

	switch (len) {
	case 1:
		memcpy(&u8, p, 1);
		return u8;
	case 2:
		memcpy(&u16, p, 2);
		return u16;
	case 4:
		memcpy(&u32, p, 4);
		return u32;
	default:
		memcpy(&u64, p, 8);
		return u64;
	}
}

static int
check_value(const struct attr_rule *r, struct attr_val *v, char *err,
    size_t errsz)
{
	if (r->type <= AT_U64) {
		if (v->len != numsize[r->type])
			return perr(err, errsz, "attribute %s: length %zu, "
			    "expected %zu", r->name, v->len, numsize[r->type]);
		v->num = getnum(v->p, v->len);
		if (v->num < r->min || v->num > r->max)
			return perr(err, errsz, "attribute %s: value %llu out "
			    "of range %llu..%llu", r->name,
			    (unsigned long long)v->num,
			    (unsigned long long)r->min,
			    (unsigned long long)r->max);
		return 0;
	}
	if (v->len < r->min || v->len > r->max)
		return perr(err, errsz, "attribute %s: length %zu out of "
		    "range %llu..%llu", r->name, v->len,
		    (unsigned long long)r->min, (unsigned long long)r->max);
	if (r->type == AT_STR && memchr(v->p, '\0', v->len) != NULL)
		return perr(err, errsz, "attribute %s: NUL byte in string",
		    r->name);
	return 0;
}

int
attr_parse(const void *buf, size_t len, const struct attr_rule *rules,
    size_t n, struct attr_val *vals, char *err, size_t errsz)
{
	const unsigned char *p = buf;
	size_t i, off = 0;

	memset(vals, 0, n * sizeof(*vals));
	while (off < len) {
		uint16_t tag, alen;

		if (len - off < ATTR_HDR)
			return perr(err, errsz, "truncated attribute header "
			    "at offset %zu", off);
		memcpy(&tag, p + off, 2);
		memcpy(&alen, p + off + 2, 2);
		off += ATTR_HDR;
		for (i = 0; i < n && rules[i].tag != tag; i++)
			;
		if (alen > len - off && i < n)
			return perr(err, errsz, "attribute %s: length %u "
			    "exceeds message", rules[i].name, alen);
		if (alen > len - off)
			return perr(err, errsz, "attribute %u: length %u "
			    "exceeds message", tag, alen);
		if (i == n && (tag & ATTR_OPTIONAL)) {
			off += alen;
			continue;
		}
		if (i == n)
			return perr(err, errsz, "unknown attribute %u", tag);
		if (vals[i].present)
			return perr(err, errsz, "duplicate attribute %s",
			    rules[i].name);
		vals[i].present = 1;
		vals[i].p = p + off;
		vals[i].len = alen;
		if (check_value(&rules[i], &vals[i], err, errsz) == -1)
			return -1;
		off += alen;
	}
	for (i = 0; i < n; i++)
		if (rules[i].required && !vals[i].present)
			return perr(err, errsz, "missing attribute %s",
			    rules[i].name);
	return 0;
}

void
attr_str(const struct attr_val *v, char *dst, size_t sz)
{
	size_t n = v->len < sz - 1 ? v->len : sz - 1;

	if (v->present && n > 0)
		memcpy(dst, v->p, n);
	dst[v->present ? n : 0] = '\0';
}

void
abuf_init(struct abuf *b)
{
	memset(b, 0, sizeof(*b));
}

void
abuf_free(struct abuf *b)
{
	if (b->buf != NULL) {
		explicit_bzero(b->buf, b->cap);
		free(b->buf);
	}
	memset(b, 0, sizeof(*b));
}

static void
abuf_put(struct abuf *b, uint16_t tag, const void *p, size_t len)
{
	uint16_t l = (uint16_t)len;
	size_t need;

	if (b->failed)
		return;
	if (len > UINT16_MAX) {
		b->failed = EMSGSIZE;
		return;
	}
	need = b->len + ATTR_HDR + len;
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		unsigned char *nb;

		while (cap < need)
			cap *= 2;
		/* Not realloc: the old buffer may hold secrets to wipe. */
		if ((nb = malloc(cap)) == NULL) {
			b->failed = ENOMEM;
			return;
		}
		if (b->buf != NULL) {
			memcpy(nb, b->buf, b->len);
			explicit_bzero(b->buf, b->cap);
			free(b->buf);
		}
		b->buf = nb;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, &tag, 2);
	memcpy(b->buf + b->len + 2, &l, 2);
	if (len > 0)
		memcpy(b->buf + b->len + ATTR_HDR, p, len);
	b->len = need;
}

void
abuf_u8(struct abuf *b, uint16_t tag, uint8_t v)
{
	abuf_put(b, tag, &v, sizeof(v));
}

void
abuf_u16(struct abuf *b, uint16_t tag, uint16_t v)
{
	abuf_put(b, tag, &v, sizeof(v));
}

void
abuf_u32(struct abuf *b, uint16_t tag, uint32_t v)
{
	abuf_put(b, tag, &v, sizeof(v));
}

void
abuf_u64(struct abuf *b, uint16_t tag, uint64_t v)
{
	abuf_put(b, tag, &v, sizeof(v));
}

void
abuf_bytes(struct abuf *b, uint16_t tag, const void *p, size_t len)
{
	abuf_put(b, tag, p, len);
}

void
abuf_str(struct abuf *b, uint16_t tag, const char *s)
{
	if (s != NULL)
		abuf_put(b, tag, s, strlen(s));
}
