/* SPDX-License-Identifier: MIT */
/*
 * Chapter 13 — security, part TLS, second file: the node as a TLS client
 * of its peers (controller and inter-broker traffic over SSL).
 *
 * Concept: in a managed cluster the nodes' own traffic crosses the same
 *   untrusted network as the clients' (MSK's in-cluster encryption), so
 *   when the controller or inter-broker listener is SSL, the node dials
 *   it in TLS: it checks the other node's certificate against its
 *   truststore and the host name it dialled, and presents its own
 *   keystore certificate, whose subject is then its principal on the
 *   other side. It is chapter 05's peer transport (struct
 *   net_peer_transport), as 13_tls.c is the listeners' one.
 * Kafka: SslTransportLayer and DefaultSslEngineFactory in client mode,
 *   built from the listener's ssl.* keys (KafkaConfig's controller and
 *   inter-broker channel builders use the listener's own keystore for
 *   client mode too); ssl.endpoint.identification.algorithm=https (the
 *   default: the certificate's SAN must name the host dialled; empty
 *   turns the check off).
 * Interface:
 *   - tls_client_new(cfg) once per kind of listener dialled (all checks
 *     happen there), then net_server_set_peer_transport(srv, kind,
 *     tls_peer_transport(), client) before the peers open. Free the
 *     tls_client after the net_server.
 * Invariants:
 *   1. No application byte moves before SSL_connect succeeded (the peer
 *      writes only when UP, and tls_peer_write refuses before).
 *   2. No SSL call blocks: WANT_READ/WANT_WRITE become EAGAIN and the
 *      event to wait for (tls_peer_waits_for).
 *   3. A tls_client verifies the other node's certificate
 *      (SSL_VERIFY_PEER) against trusted CAs (tls_client_check); with
 *      ssl.endpoint.identification.algorithm=https every connection
 *      also names the host it must match (expect_host).
 * States of a peer's TLS: tls_peer_open --> HANDSHAKING
 *   --tls_peer_handshake (SSL_connect = 1)--> ESTABLISHED
 *   --tls_peer_close--> freed (a close_notify is offered, never awaited).
 * Simplifications: the keystore is optional (no certificate is sent
 *   without one); without ssl.truststore.location the system's CAs are
 *   trusted, as a JVM's default truststore would be; no session
 *   resumption between reconnects; the same PEM-only stores as 13_tls.c.
 * See also: docs/13_tls_peer.md, diagrams/13_tls_peer.dot,
 *   tests/13_tls_test.c ("Peers over TLS"), tests/clients/test_tls.py;
 *   read before: 13_tls.c. Uses chapters 00 (base), 05 (server: struct
 *   net_peer_transport).
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "00_base.h"
#include "05_server.h"
#include "13_tls.h"
#include "13_tls_internal.h"

/* ---- Data structures ---- */

/* The context a node dials SSL listeners with (KAFKA: SslFactory,
 * client mode). Shared by every peer of one kind; reactor thread. */
struct tls_client {
	SSL_CTX *ctx;        /* owned */
	bool check_host;     /* ssl.endpoint.identification.algorithm=https */
};

/* One peer connection's TLS state, owned by the peer between
 * tls_peer_open and tls_peer_close. */
struct tls_peer {
	SSL *ssl;             /* owned */
	bool established;     /* SSL_connect succeeded (Invariant 1) */
	uint32_t read_waits;  /* EPOLLIN or EPOLLOUT: Invariant 2 */
	uint32_t write_waits;
	char why[256];        /* the last failure, in words; "" none */
};

static int load_trust(SSL_CTX *ctx, const struct tls_config *cfg,
		      struct tls_error *why);
static int tls_peer_open(void *ctx, int fd, const char *host, void **state);
static int expect_host(SSL *ssl, const char *host, bool check);
static int tls_peer_handshake(void *state);
static ssize_t tls_peer_read(void *state, void *buf, size_t len);
static ssize_t tls_peer_write(void *state, const void *buf, size_t len);
static uint32_t tls_peer_waits_for(const void *state, bool writing);
static bool tls_peer_pending(const void *state);
static const char *tls_peer_why(const void *state);
static void tls_peer_close(void *state);
static ssize_t io_failed(struct tls_peer *t, int rc, uint32_t *waits);
static void handshake_reason(struct tls_peer *t, int err);

/* The peers' TLS: chapter 05 calls these through net_peer_transport. */
static const struct net_peer_transport tls_peer_ops = {
	.name = "SSL", .open = tls_peer_open,
	.handshake = tls_peer_handshake, .read = tls_peer_read,
	.write = tls_peer_write, .waits_for = tls_peer_waits_for,
	.pending = tls_peer_pending, .why = tls_peer_why,
	.close = tls_peer_close};

/* ---- Lifecycle: one context per kind of listener dialled ---- */

/* KAFKA: the same keys as the listener, in client mode: versions, the
 * keystore (presented when the other side asks: ssl.client.auth), the
 * truststore, and the host name rule. Every refusal names key and file. */
int tls_client_new(const struct tls_config *cfg, struct tls_client **out,
		   struct tls_error *why)
{
	struct tls_client *tc = calloc(1, sizeof *tc);
	if (!tc) {
		tls_refuse(why, "no memory for a TLS context");
		return KB_ERR_NOMEM;
	}
	tc->ctx = SSL_CTX_new(TLS_client_method());
	tc->check_host = cfg->endpoint_identification[0] != '\0';
	int rc = tc->ctx ? tls_ctx_common(tc->ctx, cfg, why) : KB_ERR_NOMEM;
	bool keystore = cfg->keystore_location[0] || cfg->keystore_key[0] ||
			cfg->keystore_chain[0];
	if (rc == KB_OK && keystore)
		rc = tls_load_keystore(tc->ctx, cfg, why);
	if (rc == KB_OK)
		rc = load_trust(tc->ctx, cfg, why);
	ERR_clear_error();
	if (rc != KB_OK) {
		if (rc == KB_ERR_NOMEM)
			tls_refuse(why, "no memory for a TLS context");
		tls_client_free(tc);
		return rc;
	}
	SSL_CTX_set_verify(tc->ctx, SSL_VERIFY_PEER, NULL); /* INVARIANT 3 */
	tls_client_check(tc);
	*out = tc;
	return KB_OK;
}

/* KAFKA: ssl.truststore.location, the CAs the other node's certificate
 * must chain to. SIMPLIFICATION: without it, the system's CAs (the JVM
 * would use its cacerts). */
static int load_trust(SSL_CTX *ctx, const struct tls_config *cfg,
		      struct tls_error *why)
{
	const char *path = cfg->truststore_location;
	if (!path[0])
		return SSL_CTX_set_default_verify_paths(ctx) == 1
			       ? KB_OK
			       : tls_refuse(why, "no ssl.truststore.location "
					    "and no system CA certificates");
	if (access(path, R_OK) != 0)
		return tls_refuse(why, "ssl.truststore.location: cannot read "
				  "%s (%s)", path, strerror(errno));
	if (SSL_CTX_load_verify_locations(ctx, path, NULL) != 1) {
		char reason[256];
		tls_ssl_reason(reason, sizeof reason);
		return tls_refuse(why, "ssl.truststore.location %s: no PEM CA "
				  "certificate in it (%s)", path, reason);
	}
	return KB_OK;
}

void tls_client_free(struct tls_client *tc)
{
	if (!tc)
		return;
	SSL_CTX_free(tc->ctx); /* open SSL objects keep their reference */
	free(tc);
}

const struct net_peer_transport *tls_peer_transport(void)
{
	return &tls_peer_ops;
}

/* ---- The transport: a peer connection ---- */

/* -> HANDSHAKING: an SSL object on the connected socket, client side,
 * told which host it must find in the certificate. */
static int tls_peer_open(void *ctx, int fd, const char *host, void **state)
{
	struct tls_client *tc = ctx;
	struct tls_peer *t = calloc(1, sizeof *t);
	if (!t)
		return KB_ERR_NOMEM;
	t->ssl = SSL_new(tc->ctx);
	if (!t->ssl || SSL_set_fd(t->ssl, fd) != 1 ||
	    expect_host(t->ssl, host, tc->check_host) != KB_OK) {
		SSL_free(t->ssl);
		free(t);
		ERR_clear_error();
		return KB_ERR_NOMEM;
	}
	SSL_set_connect_state(t->ssl);
	t->read_waits = EPOLLOUT; /* the ClientHello goes first */
	t->write_waits = EPOLLOUT;
	*state = t;
	return KB_OK;
}

/* KAFKA: ssl.endpoint.identification.algorithm=https checks the host
 * dialled against the certificate's subjectAltName: an IP entry for an
 * address, a DNS entry (no partial wildcards) for a name, as Java's
 * HostnameChecker does. A name is sent as SNI as well. */
static int expect_host(SSL *ssl, const char *host, bool check)
{
	unsigned char addr[sizeof(struct in6_addr)];
	bool ip = inet_pton(AF_INET, host, addr) == 1 ||
		  inet_pton(AF_INET6, host, addr) == 1;
	if (!ip && SSL_set_tlsext_host_name(ssl, host) != 1)
		return KB_ERR_INVAL;
	if (!check)
		return KB_OK;
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
	if (ip)
		return X509_VERIFY_PARAM_set1_ip_asc(vp, host) == 1
			       ? KB_OK : KB_ERR_INVAL;
	X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	return X509_VERIFY_PARAM_set1_host(vp, host, 0) == 1 ? KB_OK
							     : KB_ERR_INVAL;
}

/* HANDSHAKING -> ESTABLISHED: 1; -1 with errno EAGAIN: not yet
 * (read_waits says for what); -1 with EPROTO: failed, why says how. */
static int tls_peer_handshake(void *state)
{
	struct tls_peer *t = state;
	ERR_clear_error();
	errno = 0; /* SSL_ERROR_SYSCALL reads it: no stale EAGAIN */
	int rc = SSL_connect(t->ssl);
	if (rc == 1) {
		t->established = true;
		t->read_waits = EPOLLIN;
		t->write_waits = EPOLLOUT;
		t->why[0] = '\0';
		return 1;
	}
	int err = SSL_get_error(t->ssl, rc);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
		t->read_waits = err == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT;
		errno = EAGAIN;
		return -1;
	}
	handshake_reason(t, err);
	errno = EPROTO;
	return -1;
}

/* Why SSL_connect failed: the verification result first (a wrong CA,
 * a host the certificate does not name), else OpenSSL's reason. */
static void handshake_reason(struct tls_peer *t, int err)
{
	long v = SSL_get_verify_result(t->ssl);
	int saved = errno;
	if (v != X509_V_OK)
		snprintf(t->why, sizeof t->why, "certificate verify failed: %s",
			 X509_verify_cert_error_string(v));
	else if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
		snprintf(t->why, sizeof t->why, "%s", saved ? strerror(saved)
			 : "the other side closed during the handshake "
			   "(is its listener SSL?)");
	else
		tls_ssl_reason(t->why, sizeof t->why);
	ERR_clear_error();
}

/* INVARIANT 1, then one SSL_read: at most one TLS record's bytes. */
static ssize_t tls_peer_read(void *state, void *buf, size_t len)
{
	struct tls_peer *t = state;
	if (!t->established) {
		errno = EAGAIN;
		return -1;
	}
	ERR_clear_error();
	errno = 0;
	int n = SSL_read(t->ssl, buf, (int)KB_MIN(len, (size_t)INT32_MAX));
	if (n > 0) {
		t->read_waits = EPOLLIN;
		return n;
	}
	return io_failed(t, n, &t->read_waits);
}

/* INVARIANT 1, then SSL_write. The peer retries a write that wanted
 * the socket with the same bytes (a frame stays put until written), as
 * OpenSSL requires; partial writes are on (tls_ctx_common). */
static ssize_t tls_peer_write(void *state, const void *buf, size_t len)
{
	struct tls_peer *t = state;
	if (!t->established) {
		t->write_waits = t->read_waits;
		errno = EAGAIN;
		return -1;
	}
	if (len == 0)
		return 0;
	ERR_clear_error();
	errno = 0;
	int w = SSL_write(t->ssl, buf, (int)KB_MIN(len, (size_t)INT32_MAX));
	if (w > 0) {
		t->write_waits = EPOLLOUT;
		return w;
	}
	ssize_t rc = io_failed(t, w, &t->write_waits);
	if (rc == 0) { /* close_notify while writing: the peer is gone */
		errno = EPIPE;
		rc = -1;
	}
	return rc;
}

/* INVARIANT 2: what the last blocked call waits for. */
static uint32_t tls_peer_waits_for(const void *state, bool writing)
{
	const struct tls_peer *t = state;
	return writing ? t->write_waits : t->read_waits;
}

/* Bytes OpenSSL already took off the socket: a record that did not fit
 * the last read, or read-ahead bytes of the next ones. */
static bool tls_peer_pending(const void *state)
{
	const struct tls_peer *t = state;
	return t->established && SSL_has_pending(t->ssl);
}

static const char *tls_peer_why(const void *state)
{
	const struct tls_peer *t = state;
	return t->why;
}

/* -> freed. KAFKA: SslTransportLayer.close sends close_notify; so does
 * this, once and without waiting (the socket is non-blocking and closes
 * right after, whatever the other side answers). */
static void tls_peer_close(void *state)
{
	struct tls_peer *t = state;
	if (t->established)
		SSL_shutdown(t->ssl);
	ERR_clear_error();
	SSL_free(t->ssl);
	free(t);
}

/* ---- Small helpers ---- */

/* An SSL_read/SSL_write that moved nothing: EAGAIN with the event to
 * wait for, 0 for the other side's close_notify or end of stream, or -1
 * (errno, why) to drop the connection. */
static ssize_t io_failed(struct tls_peer *t, int rc, uint32_t *waits)
{
	int err = SSL_get_error(t->ssl, rc);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
		*waits = err == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT;
		errno = EAGAIN;
		return -1;
	}
	if (err == SSL_ERROR_ZERO_RETURN)
		return 0;
	if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
		return errno ? -1 : 0;
	tls_ssl_reason(t->why, sizeof t->why); /* e.g. an alert: bad certificate */
	errno = EPROTO;
	return -1;
}

/* ---- Checks ---- */

/* INVARIANT 3. */
void tls_client_check(const struct tls_client *tc)
{
	assert(tc->ctx);
	assert(SSL_CTX_get_verify_mode(tc->ctx) & SSL_VERIFY_PEER);
	(void)tc;
}
