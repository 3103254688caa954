/* SPDX-License-Identifier: ISC */
/*
 * Attribute lists: the payload of every cpconnect message.
 *
 * Each attribute is  u16 tag, u16 length, value  in host byte order (the
 * protocol never leaves the machine).  Parsing is table driven: a message
 * type names the attributes it accepts, their type, whether they are
 * required and the allowed range (numbers) or length (strings, bytes).
 * Unknown, duplicate, missing, badly sized or out-of-range attributes are
 * errors with a message that names the attribute; the one exception is an
 * unknown tag with ATTR_OPTIONAL set, which is skipped, so a later
 * version can add what older peers may safely ignore without a protocol
 * version of its own.  Anything a peer must understand keeps a tag below
 * ATTR_OPTIONAL, and a new such attribute means a new protocol version.
 */
#ifndef CP_ATTR_H
#define CP_ATTR_H

#include <stddef.h>
#include <stdint.h>

#define ATTR_HDR 4
#define ATTR_OPTIONAL 0x8000 /* unknown tags with this bit are skipped */

enum attr_type { AT_U8, AT_U16, AT_U32, AT_U64, AT_STR, AT_BYTES };

struct attr_rule {
	uint16_t tag;
	uint8_t type;
	uint8_t required;
	uint64_t min, max; /* value range for numbers, length for STR/BYTES */
	const char *name;
};

struct attr_val {
	int present;
	uint64_t num;
	const unsigned char *p; /* STR/BYTES: points into the message */
	size_t len;
};

/*
 * Parse buf against rules[0..n); vals[i] describes rules[i].  Returns 0, or
 * -1 with a message in err (errno EBADMSG).  STR values contain no NUL byte.
 */
int attr_parse(const void *buf, size_t len, const struct attr_rule *rules,
    size_t n, struct attr_val *vals, char *err, size_t errsz);

/* Copy a parsed STR into a NUL-terminated buffer of size sz (> len). */
void attr_str(const struct attr_val *, char *dst, size_t sz);

/* Growing output buffer.  Errors stick: check abuf_failed() once at the
 * end.  The buffer may hold secrets and is always wiped when freed. */
struct abuf {
	unsigned char *buf;
	size_t len, cap;
	int failed;
};

void abuf_init(struct abuf *);
void abuf_free(struct abuf *);
void abuf_u8(struct abuf *, uint16_t tag, uint8_t v);
void abuf_u16(struct abuf *, uint16_t tag, uint16_t v);
void abuf_u32(struct abuf *, uint16_t tag, uint32_t v);
void abuf_u64(struct abuf *, uint16_t tag, uint64_t v);
void abuf_bytes(struct abuf *, uint16_t tag, const void *p, size_t len);
void abuf_str(struct abuf *, uint16_t tag, const char *s); /* NULL: omitted */

static inline int
abuf_failed(const struct abuf *b)
{
	return b->failed;
}

#endif
