/* SPDX-License-Identifier: ISC */
/*
 * The audit line: one for every request, written after its RESULT went
 * out.  A TLS connection's line says which record layer took it, which
 * only the library knows after the hand-off: the line waits for its
 * RECORD on the session (AUDIT_HOLD_MS at most, and no longer than the
 * session's next message or its end), unless the request said it already
 * (CP_A_RECORD_KNOWN: kernel TLS off or absent in the program).
 */
#ifndef AUDIT_H
#define AUDIT_H

#include <stdint.h>

#include "cpproto.h"

#define AUDIT_HOLD_MS 1000

struct cp_result;
struct request;
struct session;

/* The request's line, now or held for its RECORD. */
void audit_request(const struct request *, const struct cp_result *);
/* The client's RECORD for request id on s: write the held line with it. */
void audit_record(struct session *, uint32_t id, int record);
/* Write what s holds without a record layer ("-"): the session moved on
 * or ends. */
void audit_flush(struct session *);

#endif
