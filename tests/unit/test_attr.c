/* SPDX-License-Identifier: ISC */
/*
 * Attribute lists: the strict table-driven parser (sizes, ranges, strings,
 * unknown, duplicate, missing, truncated) and the growing output buffer.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cutest.h"
#include "attr.h"

enum { R_U8, R_U16, R_U32, R_U64, R_STR, R_BYTES, R_REQ, R_N };

static const struct attr_rule rules[R_N] = {
    [R_U8] = {1, AT_U8, 0, 3, 200, "small"},
    [R_U16] = {2, AT_U16, 0, 10, 60000, "medium"},
    [R_U32] = {3, AT_U32, 0, 5, 4000000000u, "large"},
    [R_U64] = {4, AT_U64, 0, 1, UINT64_MAX - 1, "huge"},
    [R_STR] = {5, AT_STR, 0, 1, 10, "label"},
    [R_BYTES] = {6, AT_BYTES, 0, 2, 4, "blob"},
    [R_REQ] = {7, AT_U8, 1, 0, UINT8_MAX, "needed"},
};

/* A hand-built attribute list. */
struct raw {
	unsigned char buf[512];
	size_t len;
};

static void
raw_put(struct raw *r, uint16_t tag, uint16_t len, const void *p, size_t plen)
{
	memcpy(r->buf + r->len, &tag, 2);
	memcpy(r->buf + r->len + 2, &len, 2);
	if (plen > 0)
		memcpy(r->buf + r->len + ATTR_HDR, p, plen);
	r->len += ATTR_HDR + plen;
}

static void
raw_req(struct raw *r)
{
	uint8_t v = 1;

	raw_put(r, 7, 1, &v, 1);
}

/* Parse; on failure check errno and that err names `name'. */
static int
parse(const struct raw *r, struct attr_val *v, const char *name)
{
	char err[256] = "";
	int rc;

	errno = 0;
	rc = attr_parse(r->buf, r->len, rules, R_N, v, err, sizeof(err));
	if (rc == -1) {
		CU_ASSERT(errno == EBADMSG);
		CU_ASSERT(err[0] != '\0');
		if (name != NULL && strstr(err, name) == NULL) {
			fprintf(stderr, "error \"%s\" does not name %s\n", err,
			    name);
			CU_FAIL("error message does not name the attribute");
		}
	}
	return rc;
}

static const size_t numsize[] = {1, 2, 4, 8};

/* Every numeric attribute refuses every length but its own. */
static void
t_num_sizes(void)
{
	unsigned char val[16];
	struct attr_val v[R_N];
	int i;
	size_t len;

	memset(val, 0x11, sizeof(val)); /* in range for every rule */
	for (i = R_U8; i <= R_U64; i++) {
		for (len = 0; len <= 9; len++) {
			struct raw r = {.len = 0};

			raw_req(&r);
			raw_put(&r, rules[i].tag, (uint16_t)len, val, len);
			if (len == numsize[i]) {
				CU_ASSERT(parse(&r, v, NULL) == 0);
				CU_ASSERT(v[i].present);
			} else
				CU_ASSERT(parse(&r, v, rules[i].name) == -1);
		}
	}
}

static void
put_num(struct raw *r, int i, uint64_t n)
{
	uint8_t u8 = (uint8_t)n;
	uint16_t u16 = (uint16_t)n;
	uint32_t u32 = (uint32_t)n;

	switch (rules[i].type) {
	case AT_U8:
		raw_put(r, rules[i].tag, 1, &u8, 1);
		break;
	case AT_U16:
		raw_put(r, rules[i].tag, 2, &u16, 2);
		break;
	case AT_U32:
		raw_put(r, rules[i].tag, 4, &u32, 4);
		break;
	default:
		raw_put(r, rules[i].tag, 8, &n, 8);
		break;
	}
}

static const struct {
	int rule;
	uint64_t val;
	int ok;
} range_cases[] = {
    {R_U8, 0, 0},
    {R_U8, 2, 0},
    {R_U8, 3, 1},
    {R_U8, 200, 1},
    {R_U8, 201, 0},
    {R_U8, 255, 0},
    {R_U16, 9, 0},
    {R_U16, 10, 1},
    {R_U16, 60000, 1},
    {R_U16, 60001, 0},
    {R_U16, 65535, 0},
    {R_U32, 4, 0},
    {R_U32, 5, 1},
    {R_U32, 4000000000u, 1},
    {R_U32, 4000000001u, 0},
    {R_U32, UINT32_MAX, 0},
    {R_U64, 0, 0},
    {R_U64, 1, 1},
    {R_U64, UINT64_MAX - 1, 1},
    {R_U64, UINT64_MAX, 0},
    {R_REQ, 0, 1},
    {R_REQ, 255, 1},
};

static void
t_num_ranges(void)
{
	struct attr_val v[R_N];
	size_t i;

	for (i = 0; i < sizeof(range_cases) / sizeof(range_cases[0]); i++) {
		struct raw r = {.len = 0};
		int k = range_cases[i].rule;

		if (k != R_REQ)
			raw_req(&r);
		put_num(&r, k, range_cases[i].val);
		if (range_cases[i].ok) {
			CU_ASSERT(parse(&r, v, NULL) == 0);
			CU_ASSERT(v[k].present);
			CU_ASSERT(v[k].num == range_cases[i].val);
		} else
			CU_ASSERT(parse(&r, v, rules[k].name) == -1);
	}
}

/* An unknown tag with ATTR_OPTIONAL is skipped; its length still has to
 * fit, and one without the bit is still an error. */
static void
t_optional_unknown(void)
{
	struct attr_val v[R_N];
	uint8_t x[3] = {1, 2, 3};
	struct raw r = {.len = 0};

	raw_req(&r);
	raw_put(&r, ATTR_OPTIONAL | 42, 3, x, 3);
	raw_put(&r, 1, 1, x + 2, 1);
	CU_ASSERT(parse(&r, v, NULL) == 0);
	CU_ASSERT(v[R_U8].present && v[R_U8].num == 3);
	r.len = 0;
	raw_req(&r);
	raw_put(&r, 42, 3, x, 3);
	CU_ASSERT(parse(&r, v, "42") == -1);
	r.len = 0;
	raw_req(&r);
	raw_put(&r, ATTR_OPTIONAL | 42, 200, x, 3);
	CU_ASSERT(parse(&r, v, "exceeds") == -1);
}

static void
t_str(void)
{
	struct attr_val v[R_N];
	char out[16];
	struct raw r;

	/* Good string, copied out NUL-terminated. */
	r.len = 0;
	raw_req(&r);
	raw_put(&r, 5, 5, "hello", 5);
	CU_ASSERT_FATAL(parse(&r, v, NULL) == 0);
	CU_ASSERT(v[R_STR].present && v[R_STR].len == 5);
	memset(out, 'x', sizeof(out));
	attr_str(&v[R_STR], out, sizeof(out));
	CU_ASSERT(strcmp(out, "hello") == 0);
	/* Truncated to the destination. */
	attr_str(&v[R_STR], out, 4);
	CU_ASSERT(strcmp(out, "hel") == 0);
	/* Absent: empty string. */
	memset(out, 'x', sizeof(out));
	attr_str(&v[R_BYTES], out, sizeof(out));
	CU_ASSERT(out[0] == '\0');

	/* NUL anywhere is refused. */
	r.len = 0;
	raw_req(&r);
	raw_put(&r, 5, 3, "a\0b", 3);
	CU_ASSERT(parse(&r, v, "label") == -1);
	r.len = 0;
	raw_req(&r);
	raw_put(&r, 5, 2, "a\0", 2);
	CU_ASSERT(parse(&r, v, "label") == -1);
	r.len = 0;
	raw_req(&r);
	raw_put(&r, 5, 1, "", 1);
	CU_ASSERT(parse(&r, v, "label") == -1);

	/* Length bounds 1..10. */
	r.len = 0;
	raw_req(&r);
	raw_put(&r, 5, 0, NULL, 0);
	CU_ASSERT(parse(&r, v, "label") == -1);
	r.len = 0;
	raw_req(&r);
	raw_put(&r, 5, 10, "0123456789", 10);
	CU_ASSERT(parse(&r, v, NULL) == 0);
	r.len = 0;
	raw_req(&r);
	raw_put(&r, 5, 11, "0123456789a", 11);
	CU_ASSERT(parse(&r, v, "label") == -1);
}

static void
t_bytes(void)
{
	static const unsigned char b[6] = {0, 1, 0, 0, 0xff, 0};
	struct attr_val v[R_N];
	size_t len;

	for (len = 0; len <= 6; len++) {
		struct raw r = {.len = 0};

		raw_req(&r);
		raw_put(&r, 6, (uint16_t)len, b, len);
		if (len >= 2 && len <= 4) {
			CU_ASSERT(parse(&r, v, NULL) == 0);
			CU_ASSERT(v[R_BYTES].len == len);
			/* NUL bytes are fine in BYTES; points into buf. */
			CU_ASSERT(v[R_BYTES].p == r.buf + 5 + ATTR_HDR);
			CU_ASSERT(memcmp(v[R_BYTES].p, b, len) == 0);
		} else
			CU_ASSERT(parse(&r, v, "blob") == -1);
	}
}

static void
t_unknown_dup_missing(void)
{
	struct attr_val v[R_N];
	struct raw r;
	uint8_t u = 5;

	r.len = 0;
	raw_req(&r);
	raw_put(&r, 99, 1, &u, 1);
	CU_ASSERT(parse(&r, v, "99") == -1);
	r.len = 0;
	raw_put(&r, 0, 0, NULL, 0);
	raw_req(&r);
	CU_ASSERT(parse(&r, v, "0") == -1);

	r.len = 0;
	raw_req(&r);
	raw_put(&r, 1, 1, &u, 1);
	raw_put(&r, 1, 1, &u, 1);
	CU_ASSERT(parse(&r, v, "small") == -1);
	r.len = 0;
	raw_req(&r);
	raw_req(&r);
	CU_ASSERT(parse(&r, v, "needed") == -1);

	r.len = 0;
	raw_put(&r, 1, 1, &u, 1);
	CU_ASSERT(parse(&r, v, "needed") == -1);
	r.len = 0;
	CU_ASSERT(parse(&r, v, "needed") == -1);
}

static void
t_truncated(void)
{
	struct attr_val v[R_N];
	struct raw r, t;
	size_t cut;
	uint32_t u = 77;

	r.len = 0;
	raw_req(&r);
	raw_put(&r, 3, 4, &u, 4);
	CU_ASSERT_FATAL(parse(&r, v, NULL) == 0);
	CU_ASSERT(v[R_U32].num == 77);
	/* Every cut but the one between attributes is refused. */
	for (cut = 1; cut < r.len; cut++) {
		if (cut == ATTR_HDR + 1)
			continue;
		t = r;
		t.len = cut;
		CU_ASSERT(parse(&t, v, NULL) == -1);
	}
	/* A header cut short. */
	t = r;
	t.len = 5 + 2;
	CU_ASSERT(parse(&t, v, NULL) == -1);
	/* A length that runs past the end. */
	r.len = 0;
	raw_req(&r);
	raw_put(&r, 5, 200, "abc", 3);
	CU_ASSERT(parse(&r, v, NULL) == -1);
	r.len = 0;
	raw_req(&r);
	raw_put(&r, 5, 0xffff, "abc", 3);
	CU_ASSERT(parse(&r, v, NULL) == -1);
}

/* The length overrun of a known attribute names it, as every other
 * rejection does (attr.h: "a message that names the attribute"). */
static void
t_overrun_named(void)
{
	struct attr_val v[R_N];
	struct raw r;

	r.len = 0;
	raw_req(&r);
	raw_put(&r, 5, 200, "abc", 3);
	CU_ASSERT(parse(&r, v, "label") == -1);
}

static const struct attr_rule opt_rules[] = {
    {1, AT_U8, 0, 0, 1, "a"},
    {2, AT_STR, 0, 0, 5, "b"},
};

static void
t_empty(void)
{
	struct attr_val v[2];
	char err[64];

	memset(v, 0xa5, sizeof(v));
	CU_ASSERT(attr_parse("", 0, opt_rules, 2, v, err, sizeof(err)) == 0);
	CU_ASSERT(!v[0].present && !v[1].present);
	CU_ASSERT(v[0].num == 0);
	/* No room for a message is fine too. */
	CU_ASSERT(
	    attr_parse("\x09\x00\x00\x00", 4, opt_rules, 2, v, NULL, 0) == -1);
	CU_ASSERT(errno == EBADMSG);
	/* Empty STR where the minimum is 0. */
	CU_ASSERT(attr_parse("\x02\x00\x00\x00", 4, opt_rules, 2, v, err,
	              sizeof(err)) == 0);
	CU_ASSERT(v[1].present && v[1].len == 0);
}

static void
t_abuf_roundtrip(void)
{
	struct abuf b;
	struct attr_val v[R_N];
	char err[128];

	abuf_init(&b);
	abuf_u8(&b, 1, 200);
	abuf_u16(&b, 2, 60000);
	abuf_u32(&b, 3, 4000000000u);
	abuf_u64(&b, 4, UINT64_MAX - 1);
	abuf_str(&b, 5, "word");
	abuf_str(&b, 5, NULL); /* omitted */
	abuf_bytes(&b, 6, "\0\1\2", 3);
	abuf_u8(&b, 7, 0);
	CU_ASSERT_FATAL(!abuf_failed(&b));
	CU_ASSERT(b.len == 7 * ATTR_HDR + 1 + 2 + 4 + 8 + 4 + 3 + 1);
	CU_ASSERT_FATAL(
	    attr_parse(b.buf, b.len, rules, R_N, v, err, sizeof(err)) == 0);
	CU_ASSERT(v[R_U8].num == 200);
	CU_ASSERT(v[R_U16].num == 60000);
	CU_ASSERT(v[R_U32].num == 4000000000u);
	CU_ASSERT(v[R_U64].num == UINT64_MAX - 1);
	CU_ASSERT(v[R_STR].len == 4 && memcmp(v[R_STR].p, "word", 4) == 0);
	CU_ASSERT(
	    v[R_BYTES].len == 3 && memcmp(v[R_BYTES].p, "\0\1\2", 3) == 0);
	CU_ASSERT(v[R_REQ].present && v[R_REQ].num == 0);
	abuf_free(&b);
	CU_ASSERT(b.buf == NULL && b.len == 0 && b.cap == 0);
}

/* Many attributes of growing sizes: every one intact after growth. */
static void
t_abuf_growth(void)
{
	struct abuf b;
	unsigned char val[700];
	size_t off = 0, i, n = 0;

	abuf_init(&b);
	for (i = 0; i < 700; i++) {
		memset(val, (int)(i & 0xff), i);
		abuf_bytes(&b, (uint16_t)i, val, i);
	}
	CU_ASSERT_FATAL(!abuf_failed(&b));
	CU_ASSERT(b.len == 700 * ATTR_HDR + 699 * 700 / 2);
	CU_ASSERT(b.cap >= b.len);
	while (off < b.len) {
		uint16_t tag, len;
		size_t k;

		memcpy(&tag, b.buf + off, 2);
		memcpy(&len, b.buf + off + 2, 2);
		CU_ASSERT_FATAL(tag == n && len == n);
		for (k = 0; k < len; k++)
			if (b.buf[off + ATTR_HDR + k] != (n & 0xff))
				break;
		CU_ASSERT(k == len);
		off += ATTR_HDR + len;
		n++;
	}
	CU_ASSERT(n == 700 && off == b.len);
	abuf_free(&b);
}

static void
t_abuf_failed(void)
{
	struct abuf b;
	unsigned char *big;
	size_t len;

	CU_ASSERT_FATAL((big = calloc(1, 70000)) != NULL);
	abuf_init(&b);
	abuf_bytes(&b, 1, big, UINT16_MAX);
	CU_ASSERT(!abuf_failed(&b));
	CU_ASSERT(b.len == ATTR_HDR + UINT16_MAX);
	len = b.len;
	abuf_bytes(&b, 2, big, UINT16_MAX + 1);
	CU_ASSERT(abuf_failed(&b));
	CU_ASSERT(abuf_failed(&b) == EMSGSIZE);
	/* The error sticks: later attributes are not appended. */
	abuf_u8(&b, 3, 1);
	CU_ASSERT(abuf_failed(&b));
	CU_ASSERT(b.len == len);
	abuf_free(&b);
	CU_ASSERT(!abuf_failed(&b));
	free(big);
}

int
main(void)
{
	CU_pSuite s;

	s = cu_suite("attr parse", NULL, NULL);
	cu_test(s, "numeric sizes", t_num_sizes);
	cu_test(s, "numeric ranges", t_num_ranges);
	cu_test(s, "strings", t_str);
	cu_test(s, "bytes", t_bytes);
	cu_test(s, "unknown, duplicate, missing", t_unknown_dup_missing);
	cu_test(s, "unknown optional tags are skipped", t_optional_unknown);
	cu_test(s, "truncated", t_truncated);
	cu_test(s, "overrun names the attribute", t_overrun_named);
	cu_test(s, "empty list", t_empty);
	s = cu_suite("abuf", NULL, NULL);
	cu_test(s, "round trip", t_abuf_roundtrip);
	cu_test(s, "growth", t_abuf_growth);
	cu_test(s, "failure", t_abuf_failed);
	return cu_finish();
}
