/* SPDX-License-Identifier: ISC */
/*
 * The audit line (audit.h): who asked, for what, and what became of it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "engine_int.h"
#include "log.h"
#include "tls.h"

/* A TLS request's line, waiting for the client's RECORD. */
struct audit_hold {
	struct ev_timer t;
	uint32_t id;
	int key; /* log_info_rl()'s kind: the line is rate-limited as any */
	char line[];
};

static void audit_expire(struct ev_timer *);

/* The verify result as the line says it: "-" when no chain was checked
 * (TCP, or a handshake that ended before the certificate). */
static const char *
verify_str(
    const struct request *r, const struct cp_result *res, char *buf, size_t sz)
{
	if (r->tls == NULL || !tlsc_verified(r->tls))
		return "-";
	snprintf(buf, sz, "%u%s", (unsigned)res->verify_result,
	    r->rt.pin_mismatch ? " (chain ok, pin mismatch)" : "");
	return buf;
}

/* The server name too: it is the name verified. */
static int
format(
    const struct request *r, const struct cp_result *res, char *buf, size_t sz)
{
	const struct session *s = r->s;
	int ok = res->status == CP_STATUS_OK;
	char vbuf[64];

	return snprintf(buf, sz,
	    "uid %u gid %u pid %d: %s %s port %u%s%s -> %s port %u%s%s%s%s: "
	    "%s%s%s, verify %s%s%s%s, %u attempts, %u ms",
	    (unsigned)s->peer.uid, (unsigned)s->peer.gid, (int)s->peer.pid,
	    r->upgrade ? "upgrade"
	    : r->c.tls ? "tls"
	               : "tcp",
	    r->c.host, r->c.port, r->c.sni[0] ? " server name " : "", r->c.sni,
	    res->peer_addr[0] ? res->peer_addr : "-", res->peer_port,
	    res->proxy[0] ? " via " : "", res->proxy,
	    ok && res->alpn[0] ? " alpn " : "", ok ? res->alpn : "",
	    ok ? "ok" : cp_eclass_str(res->eclass), res->errtext[0] ? ", " : "",
	    res->errtext, verify_str(r, res, vbuf, sizeof(vbuf)),
	    ok && res->resumed ? ", resumed" : "",
	    res->ocsp != CP_OCSP_OFF ? ", ocsp " : "",
	    res->ocsp != CP_OCSP_OFF ? cp_ocsp_str(res->ocsp) : "",
	    (unsigned)res->attempts, (unsigned)res->elapsed_ms);
}

static void
write_held(struct session *s, int record)
{
	struct audit_hold *h = s->held;

	s->held = NULL;
	ev_timer_stop(s->e->ev, &h->t);
	log_info_rl(s->peer.uid, h->key, "%s, record %s", h->line,
	    cp_record_str(record));
	free(h);
}

void
audit_request(const struct request *r, const struct cp_result *res)
{
	struct session *s = r->s;
	int key = res->status == CP_STATUS_OK ? LK_OK : 1 + res->eclass;
	struct audit_hold *h;
	char line[2048];
	size_t len;

	(void)format(r, res, line, sizeof(line));
	/* Only a connection handed over under TLS has a record layer. */
	if (res->status != CP_STATUS_OK || !(r->c.tls || r->upgrade)) {
		log_info_rl(s->peer.uid, key, "%s", line);
		return;
	}
	/* The library said in its request which one it will take. */
	if (r->c.record != CP_RECORD_UNKNOWN) {
		log_info_rl(s->peer.uid, key, "%s, record %s", line,
		    cp_record_str(r->c.record));
		return;
	}
	if (s->held != NULL)
		audit_flush(s);
	len = strlen(line) + 1;
	if ((h = calloc(1, sizeof(*h) + len)) == NULL) {
		log_info_rl(s->peer.uid, key, "%s, record -", line);
		return;
	}
	memcpy(h->line, line, len);
	h->id = r->id;
	h->key = key;
	ev_timer_init(&h->t, audit_expire, s);
	s->held = h;
	if (ev_timer_start(s->e->ev, &h->t, AUDIT_HOLD_MS) == -1)
		write_held(s, CP_RECORD_UNKNOWN);
}

void
audit_record(struct session *s, uint32_t id, int record)
{
	if (s->held == NULL || s->held->id != id) {
		log_debug("uid %u pid %d: RECORD for request %u, which "
		          "holds no line",
		    (unsigned)s->peer.uid, (int)s->peer.pid, (unsigned)id);
		return;
	}
	write_held(s, record);
}

void
audit_flush(struct session *s)
{
	if (s->held != NULL)
		write_held(s, CP_RECORD_UNKNOWN);
}

static void
audit_expire(struct ev_timer *t)
{
	audit_flush(t->arg);
}
