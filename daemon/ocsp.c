/* SPDX-License-Identifier: ISC */
/*
 * Stapled OCSP responses (ocsp.h): decode, find the signer, verify it and
 * its signature, find the single response for the leaf, check the validity
 * window, read the status; and a small cache of verified outcomes.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "cpproto.h"
#include "log.h"
#include "ocsp.h"
#include "tls.h"

struct ocsp_entry {
	int used;
	unsigned char staple[32], leaf[32]; /* SHA-256 */
	int outcome;                        /* GOOD, REVOKED or UNKNOWN */
	time_t thisupd, nextupd;            /* nextupd 0: none */
};

static struct ocsp_entry cache[OCSP_CACHE_ENTRIES];

static int
bad(char *why, size_t whysz, const char *what)
{
	snprintf(why, whysz, "%s", what);
	ERR_clear_error();
	return CP_OCSP_INVALID;
}

static void
outcome_why(int outcome, char *why, size_t whysz)
{
	if (outcome == CP_OCSP_REVOKED)
		snprintf(why, whysz, "the responder says revoked");
	else if (outcome == CP_OCSP_UNKNOWN)
		snprintf(
		    why, whysz, "the responder does not know the certificate");
	else if (whysz > 0)
		why[0] = '\0';
}

/* The leaf's issuer: next in the verified chain, else a certificate the
 * server sent that issued it. */
static X509 *
leaf_issuer(SSL *ssl, X509 *leaf)
{
	STACK_OF(X509) *sk = SSL_get0_verified_chain(ssl);
	X509 *x;
	int i;

	if (sk != NULL && sk_X509_num(sk) > 1 &&
	    X509_check_issued(sk_X509_value(sk, 1), leaf) == X509_V_OK)
		return sk_X509_value(sk, 1);
	sk = SSL_get_peer_cert_chain(ssl);
	for (i = 0; sk != NULL && i < sk_X509_num(sk); i++) {
		x = sk_X509_value(sk, i);
		if (X509_cmp(x, leaf) != 0 &&
		    X509_check_issued(x, leaf) == X509_V_OK)
			return x;
	}
	return NULL;
}

/* The single response for the leaf, its certificate ID computed with the
 * hash the responder used.  A response may cover several certificates:
 * only the first few are looked at. */
static OCSP_SINGLERESP *
single_for(OCSP_BASICRESP *bs, X509 *leaf, X509 *issuer)
{
	int i, n = OCSP_resp_count(bs), same;
	OCSP_SINGLERESP *sr;
	OCSP_CERTID *cid, *mine;
	ASN1_OBJECT *alg = NULL;
	const EVP_MD *md;

	for (i = 0; i < n && i < 16; i++) {
		sr = OCSP_resp_get0(bs, i);
		cid = (OCSP_CERTID *)OCSP_SINGLERESP_get0_id(sr);
		if (cid == NULL ||
		    !OCSP_id_get0_info(NULL, &alg, NULL, NULL, cid) ||
		    (md = EVP_get_digestbyobj(alg)) == NULL ||
		    (mine = OCSP_cert_to_id(md, leaf, issuer)) == NULL)
			continue;
		same = OCSP_id_cmp(mine, cid) == 0;
		OCSP_CERTID_free(mine);
		if (same)
			return sr;
	}
	return NULL;
}

/*
 * The signer: the issuer, or a responder it certified for OCSP signing,
 * whose chain verifies against the anchors.  A response signed by the
 * issuer of a chain that verified needs only its signature checked with
 * the issuer's key: the issuer's own chain was verified in the handshake,
 * and checking it again costs as much as the signature.
 */
static int
signed_ok(
    SSL *ssl, X509_STORE *store, OCSP_BASICRESP *bs, X509 *issuer, int trusted)
{
	STACK_OF(X509) *iss;
	X509 *signer = NULL;
	int ok;

	if (trusted && (iss = sk_X509_new_null()) != NULL) {
		if (sk_X509_push(iss, issuer) &&
		    OCSP_resp_get0_signer(bs, &signer, iss) == 1 &&
		    signer == issuer) {
			ok = OCSP_basic_verify(bs, iss, store, OCSP_NOVERIFY);
			sk_X509_free(iss);
			return ok > 0;
		}
		sk_X509_free(iss);
	}
	return OCSP_basic_verify(bs, SSL_get_peer_cert_chain(ssl), store, 0) >
	       0;
}

static time_t
asn1_time(const ASN1_GENERALIZEDTIME *t)
{
	struct tm tm;

	if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
		return 0;
	return timegm(&tm);
}

/* OCSP_check_validity on the times kept. */
static int
window_ok(time_t thisupd, time_t nextupd, time_t now)
{
	if (thisupd > now + TLS_OCSP_SKEW)
		return 0;
	if (nextupd == 0)
		return thisupd >= now - TLS_OCSP_MAXAGE;
	return nextupd >= now - TLS_OCSP_SKEW && nextupd >= thisupd;
}

static int
single_status(
    OCSP_SINGLERESP *sr, struct ocsp_entry *e, char *why, size_t whysz)
{
	ASN1_GENERALIZEDTIME *thisupd = NULL, *nextupd = NULL;
	int st = OCSP_single_get0_status(sr, NULL, NULL, &thisupd, &nextupd);

	if (!OCSP_check_validity(thisupd, nextupd, TLS_OCSP_SKEW,
	        nextupd != NULL ? -1 : TLS_OCSP_MAXAGE))
		return bad(why, whysz, "response outside its validity period");
	e->thisupd = asn1_time(thisupd);
	e->nextupd = nextupd != NULL ? asn1_time(nextupd) : 0;
	if (st == V_OCSP_CERTSTATUS_GOOD)
		e->outcome = CP_OCSP_GOOD;
	else if (st == V_OCSP_CERTSTATUS_REVOKED)
		e->outcome = CP_OCSP_REVOKED;
	else
		e->outcome = CP_OCSP_UNKNOWN;
	outcome_why(e->outcome, why, whysz);
	return e->outcome;
}

/* A decoded, successful basic response. */
static int
basic_check(SSL *ssl, X509_STORE *store, OCSP_BASICRESP *bs, X509 *leaf,
    struct ocsp_entry *e, char *why, size_t whysz)
{
	X509 *issuer = leaf_issuer(ssl, leaf);
	STACK_OF(X509) *vc = SSL_get0_verified_chain(ssl);
	OCSP_SINGLERESP *sr;
	int trusted;

	if (issuer == NULL)
		return bad(why, whysz, "the certificate's issuer is unknown");
	trusted = SSL_get_verify_result(ssl) == X509_V_OK && vc != NULL &&
	          sk_X509_num(vc) > 1 && sk_X509_value(vc, 1) == issuer;
	if (!signed_ok(ssl, store, bs, issuer, trusted))
		return bad(why, whysz,
		    "response not signed by the issuer or its responder");
	if ((sr = single_for(bs, leaf, issuer)) == NULL)
		return bad(why, whysz, "response for another certificate");
	return single_status(sr, e, why, whysz);
}

static int
decode_check(SSL *ssl, X509_STORE *store, const unsigned char *p, long len,
    X509 *leaf, struct ocsp_entry *e, char *why, size_t whysz)
{
	const unsigned char *q = p;
	OCSP_RESPONSE *resp;
	OCSP_BASICRESP *bs;
	int rv;

	if ((resp = d2i_OCSP_RESPONSE(NULL, &q, len)) == NULL || q != p + len) {
		OCSP_RESPONSE_free(resp);
		return bad(why, whysz, "malformed stapled response");
	}
	if (OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		snprintf(why, whysz, "stapled response: %s",
		    OCSP_response_status_str(OCSP_response_status(resp)));
		OCSP_RESPONSE_free(resp);
		return CP_OCSP_INVALID;
	}
	if ((bs = OCSP_response_get1_basic(resp)) == NULL)
		rv = bad(why, whysz, "not a basic OCSP response");
	else
		rv = basic_check(ssl, store, bs, leaf, e, why, whysz);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	ERR_clear_error();
	return rv;
}

static struct ocsp_entry *
cache_slot(const unsigned char *staple)
{
	return &cache[staple[0] % OCSP_CACHE_ENTRIES];
}

int
ocsp_staple_check(
    SSL *ssl, X509_STORE *store, int cacheable, char *why, size_t whysz)
{
	const unsigned char *p = NULL;
	long len = SSL_get_tlsext_status_ocsp_resp(ssl, &p);
	X509 *leaf = SSL_get0_peer_certificate(ssl);
	struct ocsp_entry e, *slot = NULL;
	unsigned int mdlen;
	int rv;

	if (whysz > 0)
		why[0] = '\0';
	if (p == NULL || len <= 0)
		return CP_OCSP_NONE;
	if (leaf == NULL)
		return bad(why, whysz, "no certificate");
	if (len > TLS_OCSP_MAX_RESP)
		return bad(why, whysz, "stapled response too large");
	memset(&e, 0, sizeof(e));
	/* Only outcomes of a chain that verified under the daemon's own
	 * anchors are kept and reused. */
	if (cacheable && SSL_get_verify_result(ssl) == X509_V_OK &&
	    EVP_Digest(p, (size_t)len, e.staple, NULL, EVP_sha256(), NULL) &&
	    X509_digest(leaf, EVP_sha256(), e.leaf, &mdlen)) {
		slot = cache_slot(e.staple);
		if (slot->used && memcmp(slot->staple, e.staple, 32) == 0 &&
		    memcmp(slot->leaf, e.leaf, 32) == 0 &&
		    window_ok(slot->thisupd, slot->nextupd, time(NULL))) {
			outcome_why(slot->outcome, why, whysz);
			log_debug("OCSP outcome from the cache: %s",
			    cp_ocsp_str(slot->outcome));
			return slot->outcome;
		}
	}
	rv = decode_check(ssl, store, p, len, leaf, &e, why, whysz);
	if (slot != NULL && rv != CP_OCSP_INVALID) {
		e.used = 1;
		*slot = e;
	}
	return rv;
}

int
ocsp_must_staple(X509 *leaf)
{
	STACK_OF(ASN1_INTEGER) *f;
	int i, must = 0;

	if (X509_get_ext_by_NID(leaf, NID_tlsfeature, -1) < 0)
		return 0;
	if ((f = X509_get_ext_d2i(leaf, NID_tlsfeature, NULL, NULL)) == NULL)
		return 1;
	for (i = 0; i < sk_ASN1_INTEGER_num(f); i++)
		if (ASN1_INTEGER_get(sk_ASN1_INTEGER_value(f, i)) == 5)
			must = 1;
	sk_ASN1_INTEGER_pop_free(f, ASN1_INTEGER_free);
	return must;
}
