/* SPDX-License-Identifier: ISC */
/*
 * libcpconnect: the cprops cp_client API, served by cpconnectd.
 *
 * A program written against cprops' <cprops/client.h> recompiles unchanged.
 * Name resolution, TCP connection, TLS handshake and certificate
 * verification happen in the cpconnectd daemon under its central policy;
 * the library receives the connected socket (and, for TLS, the negotiated
 * record-layer state, which it installs into the kernel's TLS where it
 * can, so the socket carries plaintext) and reads and writes on it
 * directly.
 *
 * All functions are safe to call on distinct clients from different
 * threads; one client may be used by one reading thread and one writing
 * thread at the same time.
 */
#ifndef CPROPS_CLIENT_H
#define CPROPS_CLIENT_H

#include <stddef.h>
#include <sys/time.h>
#include <sys/types.h>
#include <netinet/in.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CP_CONNECT_VERSION "0.1.0"

/*
 * cprops' defaults, with cprops' values.  A new client makes
 * DEFAULT_RETRIES retries after its first attempt.  DEFAULT_CLIENT_TIMEOUT
 * is cprops' suggested response timeout in seconds, for programs to pass
 * to cp_client_set_timeout; a client without a timeout of its own waits
 * as long as the daemon's request-timeout allows (cp_client_connect(3)).
 */
#define DEFAULT_CLIENT_TIMEOUT 300
#define DEFAULT_RETRIES 3

struct hostent;
struct cp_client_priv;

/*
 * The fields of cprops' cp_client, so that programs reading them recompile
 * unchanged.  Read-only for programs, except retry and timeout, which are
 * read again at each connect, and use_ssl, which a program may clear
 * before cp_client_connect to connect a TLS client in plaintext first
 * (cp_client_connect_ssl then starts TLS on that connection; close sets
 * it back).  hostspec, ctx and ssl are always NULL: name resolution and
 * the TLS handshake happen in the daemon.  For TLS, fd
 * carries plaintext when cp_client_ktls() says the kernel does the record
 * layer, encrypted records otherwise (cp_client_fd(3) tells what a program
 * may do with it on each path); cp_client_read and cp_client_write work
 * on both.  use_ssl is 1 for a TLS client (and for a plain one while
 * cp_client_connect_ssl made its connection TLS), except while it is
 * connected on the kernel path, where it reads 0: code written for
 * cprops that calls SSL_read(client->ssl) when use_ssl is set and
 * recv(client->fd) when not (cp_httpclient does) then takes recv, which
 * the kernel path supports.
 */
typedef struct _cp_client {
	int id;
	struct sockaddr_in *addr;     /* cp_client_create_addr's address */
	struct hostent *hostspec;     /* always NULL */
	char *host;		      /* host name or literal */
	char *found_host;	      /* numeric address connected, or NULL */
	int port;
	struct timeval timeout;	      /* per attempt and per read/write */
	struct timeval created;
	unsigned long bytes_read;
	unsigned long bytes_sent;
	int fd;			      /* -1 when not connected */
	int closing;
	int retry;		      /* retries after the first attempt */
	void *owner;
	int use_ssl;
	SSL_CTX *ctx;		      /* always NULL */
	SSL *ssl;		      /* always NULL */
	X509 *server_certificate;     /* leaf, valid until close, or NULL */
	struct cp_client_priv *priv;  /* libcpconnect's own state */
} cp_client;

/* Library set-up; optional, kept for cprops compatibility.  cp_client_init
 * returns 0, as cprops' did on success. */
int cp_client_init(void);
void cp_client_shutdown(void);
/*
 * Stop every client of the process; safe in a signal handler.  Calls in
 * progress that the signal interrupts, and every later read, write and
 * connect, fail with ECANCELED until cp_client_init is called again.
 */
void cp_client_stop_all(void);
void cp_client_ssl_init(void);
void cp_client_ssl_shutdown(void);

/* Creation.  host is a name or address literal (IPv4 or IPv6). */
cp_client *cp_client_create(const char *host, int port);
cp_client *cp_client_create_addr(struct sockaddr_in *addr);
/*
 * A TLS client.  CA_file and CA_path are read by the library and sent to the
 * daemon as the trust anchors for this client; both NULL selects the
 * daemon's trust store.  verification_mode is SSL_VERIFY_PEER (chain and
 * host name must verify) or SSL_VERIFY_NONE (the caller decides).
 */
cp_client *cp_client_create_ssl(const char *host, int port,
    const char *CA_file, const char *CA_path, int verification_mode);
cp_client *cp_client_create_ssl_addr(struct sockaddr *addr,
    const char *CA_file, const char *CA_path);

/* Settings.  retry_count: retries after the first attempt (0: one attempt).
 * The timeout bounds each connection attempt and each read and write, and
 * with the retries the whole connect (cp_client_connect(3), Time limits). */
void cp_client_set_retry(cp_client *client, int retry_count);
void cp_client_set_timeout(cp_client *client, int sec, int usec);
void cp_client_set_owner(cp_client *client, void *owner);
void *cp_client_get_owner(cp_client *client);

/*
 * Connect.  Returns 0, -1 with errno set, or for TLS under SSL_VERIFY_NONE a
 * positive X509_V_ERR_* code when the handshake succeeded but the
 * certificate did not verify (the connection stays open).  A server that
 * presented no certificate gives X509_V_ERR_APPLICATION_VERIFICATION.
 */
int cp_client_connect(cp_client *client);
/*
 * cprops' TLS half of cp_client_connect: the same call for a client made
 * with cp_client_create_ssl that is not connected; -1 with EINVAL for a
 * plain TCP client that is not connected.  On a client connected in
 * plaintext (STARTTLS, a CONNECT to the program's own proxy) it starts
 * TLS on that connection: the daemon runs the handshake on the socket
 * under its policy for host and the address really connected, the fd
 * stays the same, and the return values are cp_client_connect's.  On
 * failure the connection is closed, except for EPROTOTYPE (not TCP) and
 * ENOTCONN (not connected), found before anything was sent.
 */
int cp_client_connect_ssl(cp_client *client);
int cp_client_reopen(cp_client *client, const char *host, int port);
int cp_client_close(cp_client *client);
void cp_client_destroy(cp_client *client);

/* Like read(2)/write(2) (SSL_read/SSL_write for TLS): > 0 bytes, 0 end of
 * stream, -1 with errno (EAGAIN on a non-blocking descriptor). */
int cp_client_read(cp_client *client, char *buf, int len);
int cp_client_write(cp_client *client, const char *buf, int len);

/*
 * cprops' string I/O, for programs that also use cprops' cp_string
 * (<cprops/str.h>, linked from libcprops).  read_string appends up to len
 * bytes (0: until end of stream) to str; write_string writes all of str.
 * Both return the number of bytes moved, or -1 with errno when nothing
 * was; ENOSYS when the program has no cp_string implementation linked.
 */
typedef struct _cp_string cp_string;
int cp_client_read_string(cp_client *client, cp_string *str, int len);
int cp_client_write_string(cp_client *client, cp_string *str);

/* End our direction only: TCP shutdown(SHUT_WR); TLS sends close_notify
 * first.  Reading stays possible.  0 or -1 with errno. */
int cp_client_close_write(cp_client *client);

/* TLS results.  The certificate is borrowed: valid until close. */
X509 *cp_client_get_server_certificate(cp_client *client);
/* Non-zero when the server certificate matches the host name (or address)
 * used for the connection, 0 when it does not or there is none. */
int cp_client_verify_hostname(cp_client *client);
char *ssl_verification_error_str(int code);
/* The name of an SSL_get_error() code, such as "SSL_ERROR_WANT_READ", or
 * "unknown"; static. */
char *ssl_err_inf(int err);

/* Additions to the cprops API. */

/* The connected descriptor, or -1.  For TLS, data on it is plaintext on
 * the kernel TLS path (cp_client_ktls), encrypted records otherwise. */
int cp_client_fd(cp_client *client);

/*
 * Kernel TLS (cp_client_set_ktls(3)).  AUTO, the default: the kernel does
 * the record layer of TLS 1.2, and of TLS 1.3 where it can re-key;
 * REQUIRE: connect fails where the kernel has no TLS, and TLS 1.3 goes to
 * a kernel that cannot re-key anyway (a KeyUpdate then ends the
 * connection); OFF: always the library's record layer.  -1 gives the
 * choice back to the CPCONNECT_KTLS environment variable (off, auto,
 * require), read at each connect.
 */
#define CP_KTLS_OFF 0
#define CP_KTLS_AUTO 1
#define CP_KTLS_REQUIRE 2
int cp_client_set_ktls(cp_client *client, int mode);
/* TCP_NODELAY on the connection, from the next connect on: on (1) by
 * default, as most clients set it; 0 lets Nagle's algorithm coalesce
 * small writes (cp_client_set_nodelay(3)). */
int cp_client_set_nodelay(cp_client *client, int on);
/* 1 when the connected client's record layer is the kernel's, else 0. */
int cp_client_ktls(cp_client *client);
/* For a connected TLS client, which record layer and why, e.g. "kernel"
 * or "user space: this kernel has no TLS (...)"; else NULL. */
const char *cp_client_ktls_info(cp_client *client);
/* The last error on this client, or "" (never NULL). */
const char *cp_client_error(cp_client *client);
/* Path of the daemon socket for all clients created afterwards (NULL: the
 * CPCONNECT_SOCKET environment variable, else /run/cpconnect/...). */
int cp_client_set_socket_path(const char *path);
const char *cp_client_socket_path(void);

/* TLS parameters and results. */
int cp_client_set_server_name(cp_client *client, const char *name);
/* Comma-separated protocol names, e.g. "h2,http/1.1". */
int cp_client_set_alpn(cp_client *client, const char *protocols);
/* Restrict the address family: AF_UNSPEC (default), AF_INET or AF_INET6. */
int cp_client_set_family(cp_client *client, int family);
long cp_client_get_verify_result(cp_client *client);
/* The stapled OCSP response the daemon checked: "good", "revoked",
 * "unknown", "invalid" or "none"; NULL when none was asked for. */
const char *cp_client_get_ocsp_status(cp_client *client);
const char *cp_client_get_tls_version(cp_client *client); /* "TLSv1.3" */
/* 1 when the handshake resumed a session the daemon kept (from an earlier
 * connection of this or another process), 0 otherwise. */
int cp_client_session_resumed(cp_client *client);
const char *cp_client_get_cipher(cp_client *client);
const char *cp_client_get_alpn(cp_client *client);
/* The numeric address and port actually connected; through a proxy, the
 * destination's when the daemon resolved it, else NULL and 0. */
const char *cp_client_get_peer_address(cp_client *client);
int cp_client_get_peer_port(cp_client *client);
/* The upstream proxy the connection goes through, "http://HOST:PORT" or
 * "socks5://HOST:PORT", or NULL for a direct connection. */
const char *cp_client_get_proxy(cp_client *client);
/* Peer chain, leaf first; borrowed, valid until close. */
STACK_OF(X509) *cp_client_get_peer_chain(cp_client *client);

/*
 * Event-loop use: cp_client_connect_start() sends the request and returns
 * a descriptor to wait on for reading (or -1); call cp_client_connect_finish()
 * each time it is readable.  It returns what cp_client_connect() would, or
 * -2 with errno EAGAIN if the answer is not complete yet.  The descriptor
 * is the library's own: it is readable whenever connect_finish has work,
 * writing to the daemon and the request's deadline included, so waiting
 * for reading alone never stalls a connect.
 */
int cp_client_connect_start(cp_client *client);
int cp_client_connect_finish(cp_client *client);

#ifdef __cplusplus
}
#endif

#endif
