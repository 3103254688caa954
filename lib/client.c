/* SPDX-License-Identifier: ISC */
/*
 * The cp_client API on top of cpconnectd.
 *
 * A connect is one request to the daemon (session.c); the reply brings the
 * connected socket and, for TLS, the record-layer state that the kernel
 * (ktls.c) or the user-space record layer (record.c) continues.  The
 * library never connects to the network by itself: when the daemon cannot
 * be reached, connect fails (fail closed).
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "cprops/client.h"
#include "castore.h"
#include "certcache.h"
#include "cpproto.h"
#include "hostcheck.h"
#include "hostname.h"
#include "ktls.h"
#include "msg.h"
#include "record.h"
#include "session.h"
#include "stop.h"

struct cp_client_priv {
	int tls; /* a TLS client; use_ssl tells the program what fd carries */
	int verify_mode;
	char *ca_file, *ca_path;
	char sni[CP_MAX_HOST + 1];
	unsigned char alpn[CP_MAX_ALPN];
	size_t alpnlen;
	int family;
	int ktls_mode;	   /* CP_KTLS_*, or -1: CPCONNECT_KTLS decides */
	int ktls_eff;	   /* the mode of the connect in progress */
	int delay;	   /* cp_client_set_nodelay(c, 0): Nagle wanted */
	struct tls_rec *rec;	/* user-space record layer, or */
	struct ktls *ktls;	/* the kernel's */
	char ktls_info[256];	/* which one, and why */
	X509 *leaf;		/* parsed at connect: the cprops field needs it */
	STACK_OF(X509) *chain;	/* built on first request */
	unsigned char *der[CP_MAX_CHAIN];
	size_t derlen[CP_MAX_CHAIN];
	int nder;
	struct cp_result res;
	char err[CP_MAX_ERRTEXT + 128];
	struct dreq *pending;
	const struct ca_set *cas;
	char path[CP_SOCKET_PATH_MAX]; /* the daemon of the connection: tickets
	                                * go there */
	/* The connection (or the last connect) is TLS: a TLS client's, unless
	 * the program cleared use_ssl to connect in plaintext first, or any
	 * client's after cp_client_connect_ssl on its plain connection. */
	int conn_tls;
};

static pthread_mutex_t path_mtx = PTHREAD_MUTEX_INITIALIZER;
static char *sock_path;

static int
seterr(cp_client *c, int e, const char *fmt, ...)
{
	va_list ap;

	if (c != NULL && c->priv != NULL) {
		va_start(ap, fmt);
		vsnprintf(c->priv->err, sizeof(c->priv->err), fmt, ap);
		va_end(ap);
	}
	errno = e;
	return -1;
}

/* Set-up and tear-down: nothing is required any more; kept so that cprops
 * programs build and behave. */

int
cp_client_init(void)
{
	cp_stop_set(0); /* a program that stopped everything may start over */
	return 0;
}

void
cp_client_stop_all(void)
{
	cp_stop_set(1);
}

void
cp_client_shutdown(void)
{
	dsession_pool_clear();
	ca_cache_clear();
	cert_cache_clear();
}

void
cp_client_ssl_init(void)
{
	OPENSSL_init_ssl(0, NULL);
}

void
cp_client_ssl_shutdown(void)
{
	ca_cache_clear();
	cert_cache_clear();
}

int
cp_client_set_socket_path(const char *path)
{
	char *p = NULL;

	/* Cut short, it would name another socket: some other daemon. */
	if (path != NULL && strlen(path) >= CP_SOCKET_PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (path != NULL && (p = strdup(path)) == NULL)
		return -1;
	pthread_mutex_lock(&path_mtx);
	free(sock_path);
	sock_path = p;
	pthread_mutex_unlock(&path_mtx);
	return 0;
}

const char *
cp_client_socket_path(void)
{
	const char *p;

	pthread_mutex_lock(&path_mtx);
	p = sock_path;
	pthread_mutex_unlock(&path_mtx);
	/* An empty variable is as good as none. */
	if (p == NULL && (p = getenv("CPCONNECT_SOCKET")) != NULL && *p == '\0')
		p = NULL;
	return p != NULL ? p : CP_DEFAULT_SOCKET;
}

/* Creation */

static cp_client *
client_new(const char *host, int port)
{
	cp_client *c;

	if (host == NULL || *host == '\0' || strlen(host) > CP_MAX_HOST ||
	    port <= 0 || port > 65535) {
		errno = EINVAL;
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->priv = calloc(1, sizeof(*c->priv))) == NULL ||
	    (c->host = strdup(host)) == NULL) {
		free(c->priv);
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	c->port = port;
	c->fd = -1;
	c->retry = DEFAULT_RETRIES;
	c->priv->verify_mode = SSL_VERIFY_PEER;
	c->priv->ktls_mode = -1;
	gettimeofday(&c->created, NULL);
	return c;
}

cp_client *
cp_client_create(const char *host, int port)
{
	return client_new(host, port);
}

cp_client *
cp_client_create_addr(struct sockaddr_in *addr)
{
	char buf[INET_ADDRSTRLEN];
	cp_client *c;

	if (addr == NULL || addr->sin_family != AF_INET ||
	    inet_ntop(AF_INET, &addr->sin_addr, buf, sizeof(buf)) == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if ((c = client_new(buf, ntohs(addr->sin_port))) != NULL)
		c->addr = addr;
	return c;
}

cp_client *
cp_client_create_ssl(const char *host, int port, const char *CA_file,
    const char *CA_path, int verification_mode)
{
	cp_client *c;

	if (verification_mode != SSL_VERIFY_NONE &&
	    !(verification_mode & SSL_VERIFY_PEER)) {
		errno = EINVAL;
		return NULL;
	}
	if ((c = client_new(host, port)) == NULL)
		return NULL;
	c->use_ssl = c->priv->tls = 1;
	c->priv->verify_mode =
	    verification_mode == SSL_VERIFY_NONE ? SSL_VERIFY_NONE
						 : SSL_VERIFY_PEER;
	if ((CA_file != NULL &&
		(c->priv->ca_file = strdup(CA_file)) == NULL) ||
	    (CA_path != NULL &&
		(c->priv->ca_path = strdup(CA_path)) == NULL)) {
		cp_client_destroy(c);
		errno = ENOMEM;
		return NULL;
	}
	return c;
}

cp_client *
cp_client_create_ssl_addr(struct sockaddr *addr, const char *CA_file,
    const char *CA_path)
{
	char buf[INET6_ADDRSTRLEN];
	int port;

	if (addr == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if (addr->sa_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)addr;

		inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf));
		port = ntohs(in->sin_port);
	} else if (addr->sa_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;

		inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf));
		port = ntohs(in6->sin6_port);
	} else {
		errno = EAFNOSUPPORT;
		return NULL;
	}
	/* Secure by default: the address must be in the certificate. */
	return cp_client_create_ssl(buf, port, CA_file, CA_path,
	    SSL_VERIFY_PEER);
}

/* Settings */

void
cp_client_set_retry(cp_client *c, int retry_count)
{
	if (c != NULL)
		c->retry = retry_count < 0 ? 0 : retry_count;
}

void
cp_client_set_timeout(cp_client *c, int sec, int usec)
{
	if (c == NULL || sec < 0 || usec < 0)
		return;
	c->timeout.tv_sec = sec + usec / 1000000;
	c->timeout.tv_usec = usec % 1000000;
}

void
cp_client_set_owner(cp_client *c, void *owner)
{
	if (c != NULL)
		c->owner = owner;
}

void *
cp_client_get_owner(cp_client *c)
{
	return c != NULL ? c->owner : NULL;
}

int
cp_client_set_server_name(cp_client *c, const char *name)
{
	if (c == NULL)
		return seterr(c, EINVAL, "no client");
	/* A server name is a host name, never an address (RFC 6066). */
	if (name != NULL && *name != '\0' &&
	    !cp_hostname_ok(name, strnlen(name, CP_MAX_HOST + 2)))
		return seterr(c, EINVAL, "\"%.*s\" is not a host name",
		    CP_MAX_HOST, name);
	snprintf(c->priv->sni, sizeof(c->priv->sni), "%s",
	    name != NULL ? name : "");
	return 0;
}

int
cp_client_set_alpn(cp_client *c, const char *protocols)
{
	unsigned char wire[CP_MAX_ALPN];
	size_t n = 0, len;
	const char *p = protocols, *e;

	if (c == NULL)
		return seterr(c, EINVAL, "no client");
	while (p != NULL && *p != '\0') {
		e = strchr(p, ',');
		len = e != NULL ? (size_t)(e - p) : strlen(p);
		if (len == 0 || len > 255 || n + 1 + len > sizeof(wire))
			return seterr(c, EINVAL, "ALPN list: empty or too "
			    "long protocol name");
		wire[n++] = (unsigned char)len;
		memcpy(wire + n, p, len);
		n += len;
		p = e != NULL ? e + 1 : NULL;
	}
	memcpy(c->priv->alpn, wire, n);
	c->priv->alpnlen = n;
	return 0;
}

int
cp_client_set_family(cp_client *c, int family)
{
	if (c == NULL || (family != AF_UNSPEC && family != AF_INET &&
			     family != AF_INET6))
		return seterr(c, EINVAL, "address family must be AF_UNSPEC, "
		    "AF_INET or AF_INET6");
	c->priv->family = family;
	return 0;
}

int
cp_client_set_ktls(cp_client *c, int mode)
{
	if (c == NULL || (mode != -1 && mode != CP_KTLS_OFF &&
			     mode != CP_KTLS_AUTO && mode != CP_KTLS_REQUIRE))
		return seterr(c, EINVAL, "kernel TLS mode must be CP_KTLS_OFF, "
		    "CP_KTLS_AUTO or CP_KTLS_REQUIRE");
	c->priv->ktls_mode = mode;
	return 0;
}

int
cp_client_set_nodelay(cp_client *c, int on)
{
	if (c == NULL) {
		errno = EINVAL;
		return -1;
	}
	c->priv->delay = !on;
	return 0;
}

/* The mode of this connect: the client's own, else CPCONNECT_KTLS.  A
 * value that is none of the three is an error, not a silent "auto": it is
 * most likely a "require" mistyped. */
static int
ktls_mode(cp_client *c)
{
	const char *env = getenv("CPCONNECT_KTLS");
	int mode;

	if (c->priv->ktls_mode != -1) {
		c->priv->ktls_eff = c->priv->ktls_mode;
		return 0;
	}
	if (ktls_parse_mode(env, &mode) == -1)
		return seterr(c, EINVAL, "CPCONNECT_KTLS=%s: must be off, "
		    "auto or require", env);
	c->priv->ktls_eff = mode;
	return 0;
}

/* Connect */

static uint32_t
tv_ms(const struct timeval *tv)
{
	uint64_t ms = (uint64_t)tv->tv_sec * 1000 + (uint64_t)tv->tv_usec / 1000;

	if (ms == 0 && tv->tv_usec > 0)
		ms = 1;
	return ms > 3600 * 1000 ? 3600 * 1000 : (uint32_t)ms;
}

static void
build_request(const cp_client *c, struct cp_connect *r)
{
	const struct cp_client_priv *p = c->priv;

	memset(r, 0, sizeof(*r));
	snprintf(r->host, sizeof(r->host), "%s", c->host);
	r->port = (uint16_t)c->port;
	r->tls = (uint8_t)(c->priv->conn_tls != 0);
	r->verify = p->verify_mode == SSL_VERIFY_NONE ? CP_VERIFY_NONE
						      : CP_VERIFY_PEER;
	r->family = p->family == AF_INET    ? CP_FAMILY_INET4
		    : p->family == AF_INET6 ? CP_FAMILY_INET6
					    : CP_FAMILY_ANY;
	/* The daemon bounds retries far below this anyway. */
	r->retries = c->retry < 0		 ? 0
		     : c->retry > CP_MAX_RETRIES ? CP_MAX_RETRIES
						 : (uint32_t)c->retry;
	r->connect_timeout_ms = tv_ms(&c->timeout);
	if (c->priv->conn_tls) {
		snprintf(r->sni, sizeof(r->sni), "%s", p->sni);
		memcpy(r->alpn, p->alpn, p->alpnlen);
		r->alpnlen = p->alpnlen;
		if (p->cas != NULL) {
			r->has_ca_hash = 1;
			memcpy(r->ca_hash, p->cas->hash, CP_HASH_LEN);
		}
		/* Known now: the daemon needs no RECORD after the reply
		 * (take_tls() decides the same way).  Not under "require",
		 * where an absent kernel TLS fails the connect instead. */
		if (p->ktls_eff == CP_KTLS_OFF ||
		    (p->ktls_eff == CP_KTLS_AUTO && ktls_known_absent()))
			r->record = CP_RECORD_USER;
	}
}

static int
load_anchors(cp_client *c)
{
	struct cp_client_priv *p = c->priv;
	char err[256];

	if (!c->priv->conn_tls || (p->ca_file == NULL && p->ca_path == NULL) ||
	    p->cas != NULL)
		return 0;
	if ((p->cas = ca_set_get(p->ca_file, p->ca_path, err, sizeof(err))) ==
	    NULL)
		return seterr(c, errno ? errno : EINVAL, "%s", err);
	return 0;
}

static void
set_io_timeouts(cp_client *c, int fd)
{
	if (c->timeout.tv_sec == 0 && c->timeout.tv_usec == 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &c->timeout,
	    sizeof(c->timeout));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &c->timeout,
	    sizeof(c->timeout));
}

/* The peer chain: the leaf is parsed now, the rest when asked for. */
static int
take_chain(cp_client *c, struct dreply *rep)
{
	struct cp_client_priv *p = c->priv;
	int i;

	for (i = 0; i < rep->nder; i++) {
		p->der[i] = rep->der[i];
		p->derlen[i] = rep->derlen[i];
		rep->der[i] = NULL;
	}
	p->nder = rep->nder;
	rep->nder = 0;
	if (p->nder == 0)
		return 0;
	if ((p->leaf = cert_decode(p->der[0], p->derlen[0])) == NULL)
		return seterr(c, EPROTO, "peer certificate: bad DER");
	c->server_certificate = p->leaf;
	return 0;
}

static void
chain_free(struct cp_client_priv *p)
{
	if (p->chain != NULL)
		sk_X509_pop_free(p->chain, X509_free);
	p->chain = NULL;
	X509_free(p->leaf);
	p->leaf = NULL;
	while (p->nder > 0)
		free(p->der[--p->nder]);
}

/* A connection we give up on still ends cleanly for the server. */
static void
goodbye(int fd, const struct cp_tls_state *st)
{
	char err[64];
	struct tls_rec *r = tls_rec_new(fd, st, err, sizeof(err));

	if (r != NULL) {
		(void)tls_rec_close_notify(r);
		tls_rec_free(r);
	}
}

/* A TLS 1.3 ticket from the record stream goes back to the daemon that
 * asked for it (its cookie in the RESULT), for its session cache. */
static void
ticket_back(void *arg, const unsigned char *msg, size_t len)
{
	struct cp_client_priv *p = arg;

	if (p->res.has_cookie && len <= CP_MAX_TICKET)
		(void)dsession_send_ticket(p->path, p->res.cookie, msg, len);
}

/* The kernel was chosen: install the keys.  0, 1 to go on in user space
 * (nothing went into the socket), or -1. */
static int
take_ktls(cp_client *c, int fd, const struct cp_tls_state *st, int rekey)
{
	struct cp_client_priv *p = c->priv;
	char err[192];
	int installed;

	p->ktls =
	    ktls_new_fn(fd, st, rekey, p->res.has_cookie ? ticket_back : NULL,
	        p, &installed, err, sizeof(err));
	if (p->ktls != NULL)
		return 0;
	if (installed || p->ktls_eff == CP_KTLS_REQUIRE) {
		if (!installed)
			goodbye(fd, st);
		return seterr(c, errno ? errno : EPROTO, "kernel TLS: %s", err);
	}
	snprintf(p->ktls_info, sizeof(p->ktls_info), "user space: %s", err);
	return 1;
}

/*
 * The record layer: the kernel's where the policy of ktls_decide() says
 * so, else ours.  Attaching the kernel's TLS layer is also the test of
 * whether there is one; attached but not given keys, it passes bytes
 * through unchanged, so user space can still take over.
 */
static int
take_tls(cp_client *c, int fd, const struct cp_tls_state *st)
{
	struct cp_client_priv *p = c->priv;
	struct ktls_caps caps = {0, 0};
	char aerr[128] = "", err[192];
	const char *why;
	int rv;

	if (p->ktls_eff != CP_KTLS_OFF) {
		caps.avail = ktls_attach(fd, aerr, sizeof(aerr)) == 0;
		caps.rekey = caps.avail && ktls_kernel_rekeys();
	}
	switch (ktls_decide(p->ktls_eff, st->version, &caps, &why)) {
	case KTLS_FAIL:
		goodbye(fd, st);
		return seterr(c, EOPNOTSUPP, "kernel TLS required "
		    "(CPCONNECT_KTLS=require) but %s", caps.avail ? why : aerr);
	case KTLS_USE_KERNEL:
		snprintf(p->ktls_info, sizeof(p->ktls_info), "%s", why);
		if ((rv = take_ktls(c, fd, st, caps.rekey)) <= 0)
			return rv;
		break;
	case KTLS_USE_USER:
		/* Attaching failed: its message says what the kernel said. */
		if (aerr[0])
			snprintf(p->ktls_info, sizeof(p->ktls_info),
			    "user space: %s", aerr);
		else
			snprintf(p->ktls_info, sizeof(p->ktls_info), "%s", why);
		break;
	}
	if ((p->rec = tls_rec_new(fd, st, err, sizeof(err))) == NULL)
		return seterr(c, EPROTO, "TLS state: %s", err);
	if (p->res.has_cookie)
		tls_rec_set_ticket_fn(p->rec, ticket_back, p);
	return 0;
}

/* Take over the connection of a successful reply. */
static int
adopt(cp_client *c, struct dreply *rep)
{
	struct cp_client_priv *p = c->priv;
	static const int zero = 0;
	int fd = rep->fd, rv, e;

	if (c->priv->conn_tls && !rep->have_state)
		return seterr(c, EPROTO, "daemon sent no TLS state");
	/* cp_client_read/write are blocking calls: the daemon hands the
	 * descriptor over in blocking mode, with TCP_NODELAY on (the
	 * protocol says so, cpproto.h), so neither costs a call here. */
	if (p->delay && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &zero,
			    sizeof(zero)) == -1)
		return seterr(c, errno, "TCP_NODELAY: %s", strerror(errno));
	set_io_timeouts(c, fd);
	if (c->priv->conn_tls) {
		/* The chain first: on failure nothing holds the descriptor. */
		if (take_chain(c, rep) == -1) {
			chain_free(p);
			c->server_certificate = NULL;
			return -1;
		}
		rv = take_tls(c, fd, &rep->state);
		cp_tls_state_wipe(&rep->state);
		rep->have_state = 0;
		if (rv == -1) {
			e = errno;
			chain_free(p);
			c->server_certificate = NULL;
			errno = e;
			return -1;
		}
	}
	c->found_host = p->res.peer_addr[0] ? strdup(p->res.peer_addr) : NULL;
	c->fd = fd;
	rep->fd = -1;
	c->closing = 0;
	/* Code written for cprops picks SSL_read(client->ssl) or recv(fd) by
	 * use_ssl (cp_httpclient does).  There is no SSL object here; on the
	 * kernel path fd carries plaintext, so such code must take recv. */
	c->use_ssl = p->conn_tls && p->ktls == NULL;
	return 0;
}

static int
connect_done(cp_client *c, struct dreply *rep)
{
	struct cp_client_priv *p = c->priv;
	int rv;

	p->res = rep->res;
	if (rep->res.status != CP_STATUS_OK) {
		rv = seterr(c, cp_result_errno(&rep->res), "%s: %s",
		    cp_eclass_str(rep->res.eclass), rep->res.errtext);
		dreply_clear(rep);
		return rv;
	}
	rv = adopt(c, rep);
	dreply_clear(rep);
	if (rv == -1)
		return -1;
	p->err[0] = '\0';
	if (c->priv->conn_tls && p->verify_mode == SSL_VERIFY_NONE) {
		if (p->res.no_peer_cert || c->server_certificate == NULL)
			return X509_V_ERR_APPLICATION_VERIFICATION;
		if (p->res.verify_result != X509_V_OK)
			return (int)p->res.verify_result;
	}
	return 0;
}

/* Send the request; the session layer bounds the wait for its answer
 * by the request's budget. */
static int
start(cp_client *c)
{
	struct cp_connect req;
	char err[CP_MAX_ERRTEXT];
	const char *path;

	if (c == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (c->fd != -1 || c->priv->pending != NULL)
		return seterr(c, EISCONN, "already connected");
	if (cp_stopped())
		return seterr(c, ECANCELED, CP_STOPPED_MSG);
	/* A TLS client whose use_ssl the program cleared connects in
	 * plaintext first, as with cprops (cp_client_connect_ssl then starts
	 * TLS on the connection); close sets use_ssl back. */
	c->priv->conn_tls = c->priv->tls && c->use_ssl;
	if (c->host == NULL || !cp_host_ok(c->host))
		return seterr(c, EINVAL, "\"%.*s\" is not a host name or "
		    "address", CP_MAX_HOST, c->host ? c->host : "");
	memset(&c->priv->res, 0, sizeof(c->priv->res));
	if (c->priv->conn_tls && ktls_mode(c) == -1)
		return -1;
	if (load_anchors(c) == -1)
		return -1;
	build_request(c, &req);
	path = cp_client_socket_path();
	/* From the environment, unchecked: never cut it short. */
	if (strlen(path) >= sizeof(c->priv->path))
		return seterr(c, ENAMETOOLONG,
		    "daemon socket path too long (%zu bytes, at most %zu)",
		    strlen(path), sizeof(c->priv->path) - 1);
	memcpy(c->priv->path, path, strlen(path) + 1);
	c->priv->pending =
	    dreq_start(c->priv->path, &req, c->priv->cas, err, sizeof(err));
	if (c->priv->pending == NULL)
		return seterr(c, errno, "%s", err);
	return 0;
}

/*
 * Not the session socket but a descriptor of the request's own, readable
 * whenever connect_finish has work: the program waits for reading only,
 * and the library still gets to write the trust anchors the daemon asked
 * for, however many, and to give up at the deadline.
 */
int
cp_client_connect_start(cp_client *c)
{
	char err[CP_MAX_ERRTEXT];
	int fd, e;

	if (start(c) == -1)
		return -1;
	if ((fd = dreq_event_fd(c->priv->pending, err, sizeof(err))) == -1) {
		e = errno;
		dreq_free(c->priv->pending);
		c->priv->pending = NULL;
		return seterr(c, e, "%s", err);
	}
	return fd;
}

/* A TLS connection taken over: which record layer, for the daemon's
 * audit line; then the request ends. */
static void
end_request(cp_client *c, int rv)
{
	struct cp_client_priv *p = c->priv;
	int e = errno;

	if (rv != -1 && p->conn_tls && c->fd != -1)
		dreq_report_record(p->pending,
		    p->ktls != NULL ? CP_RECORD_KERNEL : CP_RECORD_USER);
	dreq_free(p->pending);
	p->pending = NULL;
	errno = e;
}

static int
finish(cp_client *c, int rv, struct dreply *rep, const char *err)
{
	int e = errno;

	if (rv == -1) {
		end_request(c, -1);
		dreply_clear(rep);
		return seterr(c, e, "%s", err);
	}
	rv = connect_done(c, rep);
	end_request(c, rv);
	return rv;
}

int
cp_client_connect_finish(cp_client *c)
{
	struct dreply rep;
	char err[CP_MAX_ERRTEXT];
	int rv;

	if (c == NULL || c->priv->pending == NULL)
		return seterr(c, EINVAL, "no connect in progress");
	memset(&rep, 0, sizeof(rep));
	rep.fd = -1;
	/* A partial answer stays with the request until it is complete. */
	if ((rv = dreq_step(c->priv->pending, &rep, err, sizeof(err))) == 0) {
		errno = EAGAIN;
		return -2;
	}
	return finish(c, rv, &rep, err);
}

int
cp_client_connect(cp_client *c)
{
	struct dreply rep;
	char err[CP_MAX_ERRTEXT];
	int rv;

	if (start(c) == -1)
		return -1;
	memset(&rep, 0, sizeof(rep));
	rep.fd = -1;
	rv = dreq_wait(c->priv->pending, &rep, err, sizeof(err));
	return finish(c, rv, &rep, err);
}

/*
 * TLS on the connection a plain connect made, as cprops' connect_ssl did
 * on the descriptor of its connect: the program has talked plaintext on
 * it (STARTTLS, its own proxy's CONNECT), now the daemon takes a
 * duplicate, runs the handshake under the policy for the client's host
 * name and the socket's real peer, and hands it back with the record
 * state.  What is checked here only gives a program a clear errno early;
 * the daemon checks the same on its own.
 */
static int
sockopt_int(int fd, int opt, int *v)
{
	socklen_t len = sizeof(*v);

	*v = -1;
	return getsockopt(fd, SOL_SOCKET, opt, v, &len);
}

/* What is wrong with the socket, with its errno in *e, or NULL. */
static const char *
upgrade_unfit(int fd, int *e)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int v;

	*e = EPROTOTYPE;
	if (sockopt_int(fd, SO_DOMAIN, &v) == -1) {
		*e = errno;
		return strerror(errno);
	}
	if (v != AF_INET && v != AF_INET6)
		return v == AF_UNIX ? "a Unix socket, not TCP"
		                    : "not an IP socket, not TCP";
	if (sockopt_int(fd, SO_TYPE, &v) == -1 || v != SOCK_STREAM)
		return v == SOCK_DGRAM ? "a datagram (UDP) socket, not TCP"
		                       : "not a stream socket, not TCP";
	if (sockopt_int(fd, SO_PROTOCOL, &v) == -1 || v != IPPROTO_TCP)
		return "a stream socket, but not TCP";
	*e = ENOTCONN;
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == -1)
		return "not connected";
	return NULL;
}

/* The socket back from the daemon under the program's number, then
 * adopted as a fresh connection's. */
static int
upgrade_done(cp_client *c, struct dreply *rep)
{
	int fd = c->fd, cloexec = fcntl(fd, F_GETFD);

	if (rep->res.status == CP_STATUS_OK) {
		cloexec =
		    cloexec != -1 && (cloexec & FD_CLOEXEC) ? O_CLOEXEC : 0;
		if (dup3(rep->fd, fd, cloexec) == -1) {
			dreply_clear(rep);
			return seterr(c, errno, "dup3: %s", strerror(errno));
		}
		close(rep->fd);
		rep->fd = fd;
		c->fd = -1; /* adopt() sets it again */
	}
	free(c->found_host);
	c->found_host = NULL;
	return connect_done(c, rep);
}

static int
upgrade(cp_client *c)
{
	struct cp_client_priv *p = c->priv;
	struct cp_connect req;
	struct dreply rep;
	char err[CP_MAX_ERRTEXT];
	const char *why;
	int rv, e;

	if (cp_stopped())
		return seterr(c, ECANCELED, CP_STOPPED_MSG);
	if ((why = upgrade_unfit(c->fd, &e)) != NULL)
		return seterr(c, e, "cp_client_connect_ssl: descriptor %d: %s",
		    c->fd, why);
	p->conn_tls = 1;
	if (ktls_mode(c) == -1 || load_anchors(c) == -1) {
		p->conn_tls = 0;
		return -1;
	}
	memset(&p->res, 0, sizeof(p->res));
	build_request(c, &req);
	memset(&rep, 0, sizeof(rep));
	rep.fd = -1;
	p->pending = dreq_start_handshake(
	    cp_client_socket_path(), &req, p->cas, c->fd, err, sizeof(err));
	if (p->pending == NULL)
		rv = -1;
	else {
		rv = dreq_wait(p->pending, &rep, err, sizeof(err));
	}
	if (rv != -1)
		rv = upgrade_done(c, &rep);
	else {
		dreply_clear(&rep);
		seterr(c, errno, "%s", err);
	}
	if (p->pending != NULL)
		end_request(c, rv);
	if (rv == -1 && c->fd != -1) {
		/* Whatever the daemon did on it, a connection meant for TLS
		 * does not go on in plaintext. */
		e = errno;
		close(c->fd);
		c->fd = -1;
		free(c->found_host);
		c->found_host = NULL;
		errno = e;
	}
	if (rv == -1)
		c->use_ssl = p->tls; /* as cp_client_close leaves it */
	return rv;
}

int
cp_client_connect_ssl(cp_client *c)
{
	if (c != NULL && c->fd != -1 && c->priv->rec == NULL &&
	    c->priv->ktls == NULL && c->priv->pending == NULL)
		return upgrade(c);
	if (c != NULL && (c->fd != -1 || c->priv->pending != NULL))
		return seterr(c, EISCONN, "already connected with TLS");
	if (c != NULL && !c->priv->tls)
		return seterr(c, EINVAL,
		    "cp_client_connect_ssl: not a TLS client and not "
		    "connected (use cp_client_create_ssl, or cp_client_connect "
		    "first)");
	return cp_client_connect(c);
}

int
cp_client_reopen(cp_client *c, const char *host, int port)
{
	char *h;

	if (c == NULL || host == NULL || *host == '\0' ||
	    strlen(host) > CP_MAX_HOST || port <= 0 || port > 65535)
		return seterr(c, EINVAL, "bad host or port");
	if ((h = strdup(host)) == NULL)
		return seterr(c, ENOMEM, "out of memory");
	cp_client_close(c);
	free(c->host);
	c->host = h;
	c->port = port;
	c->addr = NULL;
	return cp_client_connect(c);
}

/*
 * Bytes left unread when a TCP socket is closed make the kernel reset the
 * connection, and drop what it has not sent yet: the end of what the
 * program wrote.  TLS 1.3 tickets are such bytes for a client that only
 * writes.  After our close_notify nothing the peer sends matters.
 */
static void
discard_unread(int fd)
{
	char buf[4096];
	int i;

	for (i = 0; i < 256; i++)
		if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0)
			break;
	explicit_bzero(buf, sizeof(buf));
}

int
cp_client_close(cp_client *c)
{
	struct cp_client_priv *p;
	int rv = 0;

	if (c == NULL)
		return 0;
	p = c->priv;
	if (p->pending != NULL) {
		dreq_free(p->pending);
		p->pending = NULL;
	}
	c->closing = 1;
	/* close_notify is best effort: the peer may be gone. */
	if (p->rec != NULL) {
		tls_rec_close_notify(p->rec);
		tls_rec_free(p->rec);
		p->rec = NULL;
	}
	if (p->ktls != NULL) {
		ktls_close_notify(p->ktls);
		ktls_discard(p->ktls);
		ktls_free(p->ktls);
		p->ktls = NULL;
	} else if (c->priv->conn_tls && c->fd != -1)
		discard_unread(c->fd);
	p->ktls_info[0] = '\0';
	c->use_ssl = p->tls;
	if (c->fd != -1 && close(c->fd) == -1)
		rv = -1;
	c->fd = -1;
	chain_free(p);
	c->server_certificate = NULL;
	free(c->found_host);
	c->found_host = NULL;
	return rv;
}

int
cp_client_close_write(cp_client *c)
{
	if (c == NULL || c->fd == -1)
		return seterr(c, ENOTCONN, "not connected");
	if (c->priv->rec != NULL && tls_rec_close_notify(c->priv->rec) == -1)
		return seterr(c, errno, "%s", tls_rec_error(c->priv->rec));
	if (c->priv->ktls != NULL && ktls_close_notify(c->priv->ktls) == -1)
		return seterr(c, errno, "%s", ktls_error(c->priv->ktls));
	if (shutdown(c->fd, SHUT_WR) == -1)
		return seterr(c, errno, "shutdown: %s", strerror(errno));
	return 0;
}

void
cp_client_destroy(cp_client *c)
{
	if (c == NULL)
		return;
	cp_client_close(c);
	if (c->priv->cas != NULL)
		ca_set_put(c->priv->cas);
	free(c->priv->ca_file);
	free(c->priv->ca_path);
	explicit_bzero(c->priv, sizeof(*c->priv));
	free(c->priv);
	free(c->host);
	free(c);
}

/* I/O */

/* "1", "0.5", "2.25": seconds as a person wrote them. */
static void
secs_str(const struct timeval *tv, char *buf, size_t sz)
{
	int n = snprintf(buf, sz, "%ld.%06ld", (long)tv->tv_sec,
	    (long)tv->tv_usec);

	while (n > 0 && (size_t)n < sz && buf[n - 1] == '0')
		buf[--n] = '\0';
	if (n > 0 && (size_t)n < sz && buf[n - 1] == '.')
		buf[--n] = '\0';
}

/*
 * EAGAIN from a blocking descriptor is the timeout of
 * cp_client_set_timeout running out (SO_RCVTIMEO, SO_SNDTIMEO): say so,
 * errno stays EAGAIN as recv's.  From a descriptor the program made
 * non-blocking it only means "not now", and no message is set.
 */
static int
io_again(cp_client *c, int opt, const char *what)
{
	struct timeval tv;
	socklen_t len = sizeof(tv);
	char s[32];
	int fl = fcntl(c->fd, F_GETFL);

	if (fl != -1 && !(fl & O_NONBLOCK) &&
	    getsockopt(c->fd, SOL_SOCKET, opt, &tv, &len) == 0 &&
	    (tv.tv_sec != 0 || tv.tv_usec != 0)) {
		secs_str(&tv, s, sizeof(s));
		seterr(c, EAGAIN, "%s timed out after %s s", what, s);
	}
	errno = EAGAIN;
	return -1;
}

int
cp_client_read(cp_client *c, char *buf, int len)
{
	ssize_t n;

	if (c == NULL || buf == NULL || len < 0)
		return seterr(c, EINVAL, "bad argument");
	if (c->fd == -1)
		return seterr(c, ENOTCONN, "not connected");
	if (cp_stopped())
		return seterr(c, ECANCELED, CP_STOPPED_MSG);
	if (c->priv->rec != NULL) {
		n = tls_rec_read(c->priv->rec, buf, (size_t)len);
		if (n == -1 && errno != EAGAIN)
			seterr(c, errno, "%s", tls_rec_error(c->priv->rec));
	} else if (c->priv->ktls != NULL) {
		n = ktls_read(c->priv->ktls, buf, (size_t)len);
		if (n == -1 && errno != EAGAIN)
			seterr(c, errno, "%s", ktls_error(c->priv->ktls));
	} else {
		do {
			n = recv(c->fd, buf, (size_t)len, 0);
		} while (n == -1 && errno == EINTR && !cp_stopped());
		if (n == -1 && errno == EINTR)
			return seterr(c, ECANCELED, CP_STOPPED_MSG);
	}
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return io_again(c, SO_RCVTIMEO, "read");
	if (n > 0)
		c->bytes_read += (unsigned long)n;
	return (int)n;
}

int
cp_client_write(cp_client *c, const char *buf, int len)
{
	ssize_t n;
	size_t off = 0;

	if (c == NULL || buf == NULL || len < 0)
		return seterr(c, EINVAL, "bad argument");
	if (c->fd == -1)
		return seterr(c, ENOTCONN, "not connected");
	if (cp_stopped())
		return seterr(c, ECANCELED, CP_STOPPED_MSG);
	if (c->priv->rec != NULL) {
		n = tls_rec_write(c->priv->rec, buf, (size_t)len);
		if (n == -1 && errno == EAGAIN)
			return io_again(c, SO_SNDTIMEO, "write");
		if (n == -1)
			seterr(c, errno, "%s", tls_rec_error(c->priv->rec));
		if (n > 0)
			c->bytes_sent += (unsigned long)n;
		return (int)n;
	}
	if (c->priv->ktls != NULL) {
		n = ktls_write(c->priv->ktls, buf, (size_t)len);
		if (n == -1 && errno == EAGAIN)
			return io_again(c, SO_SNDTIMEO, "write");
		if (n == -1)
			seterr(c, errno, "%s", ktls_error(c->priv->ktls));
		if (n > 0)
			c->bytes_sent += (unsigned long)n;
		return (int)n;
	}
	/* All of it, like SSL_write; MSG_NOSIGNAL: no SIGPIPE, ever. */
	while (off < (size_t)len) {
		n = send(c->fd, buf + off, (size_t)len - off, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR && !cp_stopped())
			continue;
		if (n == -1 && errno == EINTR)
			return seterr(c, ECANCELED, CP_STOPPED_MSG);
		if (n == -1) {
			if (off > 0 && errno == EAGAIN)
				break;
			if (errno == EAGAIN)
				return io_again(c, SO_SNDTIMEO, "write");
			return seterr(c, errno, "write: %s", strerror(errno));
		}
		off += (size_t)n;
	}
	c->bytes_sent += off;
	return (int)off;
}

/*
 * cprops' cp_string comes from the program (libcprops, or its own): weak
 * references, so that programs without it still link and load.
 */
extern cp_string *cp_string_cat_bin(cp_string *, void *, int)
    __attribute__((weak));
extern char *cp_string_data(cp_string *) __attribute__((weak));
extern int cp_string_len(cp_string *) __attribute__((weak));

#define STRING_CHUNK 4096

static int
no_cp_string(cp_client *c, const char *fn)
{
	return seterr(c, ENOSYS,
	    "%s: this program has no cp_string (link with libcprops)", fn);
}

int
cp_client_read_string(cp_client *c, cp_string *str, int len)
{
	char buf[STRING_CHUNK];
	int n, want, total = 0;

	if (c == NULL || str == NULL || len < 0)
		return seterr(c, EINVAL, "bad argument");
	if (cp_string_cat_bin == NULL)
		return no_cp_string(c, "cp_client_read_string");
	/* len 0 reads to the end of the stream, but never past INT_MAX. */
	while ((len == 0 && total <= INT_MAX - STRING_CHUNK) || total < len) {
		want = len == 0 || len - total > STRING_CHUNK ? STRING_CHUNK
		                                              : len - total;
		if ((n = cp_client_read(c, buf, want)) <= 0) {
			if (n == -1 && total == 0)
				total = -1;
			break;
		}
		if (cp_string_cat_bin(str, buf, n) == NULL) {
			/* What was read is lost: say so, never silently. */
			seterr(c, ENOMEM, "cp_string_cat_bin: out of memory");
			total = total == 0 ? -1 : total;
			break;
		}
		total += n;
	}
	/* The plaintext may be a secret of the caller's. */
	explicit_bzero(buf, sizeof(buf));
	return total;
}

int
cp_client_write_string(cp_client *c, cp_string *str)
{
	int len;

	if (c == NULL || str == NULL)
		return seterr(c, EINVAL, "bad argument");
	if (cp_string_data == NULL || cp_string_len == NULL)
		return no_cp_string(c, "cp_client_write_string");
	if ((len = cp_string_len(str)) < 0)
		return seterr(c, EINVAL, "bad cp_string length");
	if (len == 0)
		return 0;
	return cp_client_write(c, cp_string_data(str), len);
}

/* Results */

int
cp_client_fd(cp_client *c)
{
	return c != NULL ? c->fd : -1;
}

int
cp_client_ktls(cp_client *c)
{
	return c != NULL && c->fd != -1 && c->priv->ktls != NULL;
}

const char *
cp_client_ktls_info(cp_client *c)
{
	if (c == NULL || c->fd == -1 || !c->priv->conn_tls)
		return NULL;
	return c->priv->ktls_info;
}

#ifdef CP_TEST_HOOKS
struct ktls *
client_ktls(cp_client *c)
{
	return c != NULL ? c->priv->ktls : NULL;
}
#endif

const char *
cp_client_error(cp_client *c)
{
	return c != NULL && c->priv != NULL ? c->priv->err : "";
}

X509 *
cp_client_get_server_certificate(cp_client *c)
{
	return c != NULL ? c->server_certificate : NULL;
}

int
cp_client_verify_hostname(cp_client *c)
{
	char err[256];

	if (c == NULL || c->server_certificate == NULL)
		return 0;
	return cp_hostcheck(c->server_certificate,
	    c->priv->sni[0] ? c->priv->sni : c->host, err, sizeof(err)) == 1;
}

long
cp_client_get_verify_result(cp_client *c)
{
	const struct cp_result *r;

	if (c == NULL || (!c->priv->tls && !c->priv->conn_tls))
		return X509_V_ERR_UNSPECIFIED;
	r = &c->priv->res;
	/* Only a handshake that reached the certificate has a result. */
	if (r->status != CP_STATUS_OK && r->eclass != CP_E_VERIFY)
		return X509_V_ERR_UNSPECIFIED;
	if (r->no_peer_cert)
		return X509_V_ERR_APPLICATION_VERIFICATION;
	return (long)r->verify_result;
}

const char *
cp_client_get_ocsp_status(cp_client *c)
{
	const struct cp_result *r;

	if (c == NULL || !c->priv->tls)
		return NULL;
	r = &c->priv->res;
	/* As for the verify result: a handshake that reached the
	 * certificate, connected or refused for it. */
	if (r->status != CP_STATUS_OK && r->eclass != CP_E_VERIFY)
		return NULL;
	return r->ocsp != CP_OCSP_OFF ? cp_ocsp_str(r->ocsp) : NULL;
}

const char *
cp_client_get_tls_version(cp_client *c)
{
	if (c == NULL || c->fd == -1 || !c->priv->conn_tls)
		return NULL;
	return c->priv->res.tls_version == 0x0304 ? "TLSv1.3" : "TLSv1.2";
}

int
cp_client_session_resumed(cp_client *c)
{
	if (c == NULL || c->fd == -1 || !c->use_ssl)
		return 0;
	return c->priv->res.resumed != 0;
}

const char *
cp_client_get_cipher(cp_client *c)
{
	if (c == NULL || c->fd == -1 || !c->priv->conn_tls)
		return NULL;
	return c->priv->res.cipher;
}

const char *
cp_client_get_alpn(cp_client *c)
{
	if (c == NULL || c->fd == -1 || c->priv->res.alpn[0] == '\0')
		return NULL;
	return c->priv->res.alpn;
}

const char *
cp_client_get_peer_address(cp_client *c)
{
	if (c == NULL || c->fd == -1 || c->priv->res.peer_addr[0] == '\0')
		return NULL;
	return c->priv->res.peer_addr;
}

int
cp_client_get_peer_port(cp_client *c)
{
	return c != NULL && c->fd != -1 ? c->priv->res.peer_port : -1;
}

const char *
cp_client_get_proxy(cp_client *c)
{
	if (c == NULL || c->fd == -1 || c->priv->res.proxy[0] == '\0')
		return NULL;
	return c->priv->res.proxy;
}

STACK_OF(X509) *
cp_client_get_peer_chain(cp_client *c)
{
	struct cp_client_priv *p;
	X509 *x;
	int i;

	if (c == NULL || (p = c->priv)->leaf == NULL)
		return NULL;
	if (p->chain != NULL)
		return p->chain;
	if ((p->chain = sk_X509_new_null()) == NULL)
		return NULL;
	X509_up_ref(p->leaf);
	if (!sk_X509_push(p->chain, p->leaf)) {
		X509_free(p->leaf);
		sk_X509_free(p->chain);
		p->chain = NULL;
		return NULL;
	}
	for (i = 1; i < p->nder; i++) {
		if ((x = cert_decode(p->der[i], p->derlen[i])) == NULL)
			break; /* the verified part stays usable */
		if (!sk_X509_push(p->chain, x)) {
			X509_free(x);
			break;
		}
	}
	return p->chain;
}
