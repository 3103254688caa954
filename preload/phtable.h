/* SPDX-License-Identifier: ISC */
/*
 * Placeholder addresses: the preload answers a name lookup with an address
 * from a reserved range that stands for the name, and a connect to that
 * address asks cpconnectd for the name.  This table maps one to the other.
 *
 * A placeholder carries a 28-bit code: a slot index (PH_SLOT_BITS) and the
 * slot's generation.  A slot reused for another name gets a new
 * generation, so an address handed out for an evicted name is no longer
 * known: it never silently stands for the new name.
 *
 *   IPv4: 240.0.0.0/4 (reserved, RFC 1112), 240.0.0.0 + code
 *   IPv6: 100::/64 (discard-only, RFC 6666), 100::f0:<code, 32 bits>
 *
 * Bounded (PH_SLOTS names, least recently used evicted), thread-safe,
 * fork-safe.  Pure: no interposed function is called from here.
 */
#ifndef PH_TABLE_H
#define PH_TABLE_H

#include <netinet/in.h>

#include <stddef.h>
#include <stdint.h>

#define PH_SLOT_BITS 10
#define PH_SLOTS (1u << PH_SLOT_BITS)
#define PH_GEN_BITS (28 - PH_SLOT_BITS)
#define PH_NAME_MAX 253

/* The code for name, created when needed.  name must be a host name
 * (cp_hostname_ok, proto/hostname.h), so at most PH_NAME_MAX long. */
uint32_t ph_code(const char *name);
/* The name a code stands for, copied into buf: 0, or -1 when the code was
 * never handed out or its slot has been reused since. */
int ph_name(uint32_t code, char *buf, size_t bufsz);

/*
 * Addresses of a code, and the code of an address.  ph_is4: 1 for a
 * placeholder, with *code set, else 0.  ph_is6: 1 for an IPv6 placeholder,
 * 2 for an IPv4 placeholder in IPv4-mapped form (::ffff:240.x.y.z), with
 * *code set; else 0.
 */
void ph_addr4(uint32_t code, struct in_addr *out);
void ph_addr6(uint32_t code, struct in6_addr *out);
int ph_is4(const struct in_addr *, uint32_t *code);
int ph_is6(const struct in6_addr *, uint32_t *code);

/* Forget every name (tests). */
void ph_reset(void);

#endif
