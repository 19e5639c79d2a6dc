/* SPDX-License-Identifier: MIT */
/*
 * Chapter 13 — security, part SASL, second file: the node logs in to an
 * inter-broker listener with SASL PLAIN before its fetches go out.
 *
 * Concept: a SASL_PLAINTEXT or SASL_SSL inter-broker listener accepts
 *   only connections that authenticated, brokers' own included. A
 *   broker's replica fetchers therefore run the client side of the SASL
 *   exchange first: SaslHandshake names the mechanism, SaslAuthenticate
 *   carries the PLAIN token; the broker's user name is then its
 *   principal on the other side. It is a chapter 05 peer transport
 *   (struct net_peer_transport) wrapped around TLS (13_tls_peer.c) for
 *   SASL_SSL, or around the bare socket for SASL_PLAINTEXT: its
 *   handshake is TLS's, then the SASL frames.
 * Kafka: sasl.mechanism.inter.broker.protocol=PLAIN, the login
 *   username/password of listener.name.<name>.plain.sasl.jaas.config
 *   (PlainLoginModule), SaslClientAuthenticator (SaslHandshake v1, then
 *   SaslAuthenticate v1 frames).
 * Interface:
 *   - sasl_client_new(cfg, inner, inner_ctx) once (inner: the TLS peer
 *     transport for SASL_SSL, NULL for SASL_PLAINTEXT), then
 *     net_server_set_peer_transport(srv, NET_LISTENER_BROKER,
 *     sasl_peer_transport(), client) before the peers open; free it
 *     after the net_server.
 * Invariants:
 *   1. No call's bytes move before the server accepted the login
 *      (sasl_peer_read/_write refuse before SASL_PEER_DONE).
 *   2. A response frame's size is bounded (SASL_PEER_FRAME_MAX) before
 *      the buffer grows; a wrong correlation id or api fails the login.
 *   3. Nothing blocks: the inner transport's EAGAIN and its epoll event
 *      pass through (sasl_peer_waits_for).
 * States: INNER (TLS handshake, or none) --> SEND --> RECV --> SEND
 *   (SaslHandshake answered) --> RECV --> DONE (SaslAuthenticate
 *   answered 0) or FAILED (any error: the peer drops the connection).
 * Simplifications: PLAIN only (no SCRAM for peers, though
 *   13_scram_client.c could do it); inter-broker only: the controller
 *   listener stays PLAINTEXT or SSL, since its SASL APIs are not
 *   registered there; no re-authentication (KIP-368).
 * See also: docs/13_sasl_peer.md, diagrams/13_sasl_peer.dot,
 *   tests/13_sasl_test.c ("Peers"); read before: 13_sasl.c,
 *   13_tls_peer.c. Uses chapters 00 (base), 04 (codec), 05 (server),
 *   and OpenSSL's libcrypto (OPENSSL_cleanse).
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <openssl/crypto.h>

#include "00_base.h"
#include "04_codec.h"
#include "05_server.h"
#include "13_sasl.h"

/* ---- Constants ---- */

/* Largest SASL response we take: a handshake's list of mechanisms or an
 * error message are a few hundred bytes. */
#define SASL_PEER_FRAME_MAX (64 * 1024)
/* Bytes asked of one read. */
#define SASL_PEER_READ 4096
/* KAFKA: SaslClientAuthenticator's first correlation ids; ours are
 * negative so they never meet a peer call's. */
#define SASL_PEER_CORRELATION (-100)

/* ---- Data structures ---- */

/* The login a node dials an inter-broker SASL listener with. */
struct sasl_client {
	const struct net_peer_transport *inner; /* borrowed, static; NULL: bare socket */
	void *inner_ctx;                        /* borrowed */
	char user[SASL_PLAIN_FIELD_MAX + 1];
	char password[SASL_PLAIN_FIELD_MAX + 1];
};

enum sasl_peer_step { SASL_PEER_INNER, SASL_PEER_SEND, SASL_PEER_RECV,
		      SASL_PEER_DONE };

/* One connection's SASL state (and its inner transport's). */
struct sasl_peer {
	const struct sasl_client *sc; /* borrowed */
	void *inner;                  /* owned by sc->inner */
	int fd;
	enum sasl_peer_step step;
	int16_t api_key;              /* of the request in flight */
	struct kb_buf out, in;        /* owned: a request, a response */
	size_t sent;
	uint32_t waits;               /* EPOLLIN or EPOLLOUT */
	char why[256];                /* the failure, in words; "" none */
};

static int sasl_peer_open(void *ctx, int fd, const char *host, void **state);
static int sasl_peer_handshake(void *state);
static int step_send(struct sasl_peer *t);
static int step_recv(struct sasl_peer *t);
static int on_response(struct sasl_peer *t, const uint8_t *p, size_t len);
static int build_request(struct sasl_peer *t, int16_t key);
static ssize_t raw_read(struct sasl_peer *t, void *buf, size_t len);
static ssize_t raw_write(struct sasl_peer *t, const void *buf, size_t len);
static ssize_t sasl_peer_read(void *state, void *buf, size_t len);
static ssize_t sasl_peer_write(void *state, const void *buf, size_t len);
static uint32_t sasl_peer_waits_for(const void *state, bool writing);
static bool sasl_peer_pending(const void *state);
static const char *sasl_peer_why(const void *state);
static void sasl_peer_close(void *state);
static int fail(struct sasl_peer *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static const struct net_peer_transport sasl_peer_ops = {
	.name = "SASL", .open = sasl_peer_open,
	.handshake = sasl_peer_handshake, .read = sasl_peer_read,
	.write = sasl_peer_write, .waits_for = sasl_peer_waits_for,
	.pending = sasl_peer_pending, .why = sasl_peer_why,
	.close = sasl_peer_close};

/* ---- Lifecycle ---- */

/* KAFKA: the PlainLoginModule's username and password of the listener's
 * plain.sasl.jaas.config are what the broker logs in with. */
int sasl_client_new(const struct sasl_config *cfg,
		    const struct net_peer_transport *inner, void *inner_ctx,
		    struct sasl_client **out, struct sasl_error *why)
{
	struct sasl_client *sc = calloc(1, sizeof *sc);
	if (!sc) {
		snprintf(why->msg, sizeof why->msg, "no memory");
		return KB_ERR_NOMEM;
	}
	*sc = (struct sasl_client){.inner = inner, .inner_ctx = inner_ctx};
	int rc = sasl_config_login(cfg, sc->user, sc->password, why);
	if (rc != KB_OK) {
		free(sc);
		return rc;
	}
	*out = sc;
	return KB_OK;
}

void sasl_client_free(struct sasl_client *sc)
{
	if (sc)
		OPENSSL_cleanse(sc->password, sizeof sc->password);
	free(sc);
}

const struct net_peer_transport *sasl_peer_transport(void)
{
	return &sasl_peer_ops;
}

/* INNER: the inner transport's state first, if there is one. */
static int sasl_peer_open(void *ctx, int fd, const char *host, void **state)
{
	const struct sasl_client *sc = ctx;
	struct sasl_peer *t = calloc(1, sizeof *t);
	if (!t)
		return KB_ERR_NOMEM;
	*t = (struct sasl_peer){.sc = sc, .fd = fd, .step = SASL_PEER_INNER,
				.waits = EPOLLOUT};
	kb_buf_init(&t->out);
	kb_buf_init(&t->in);
	if (sc->inner &&
	    sc->inner->open(sc->inner_ctx, fd, host, &t->inner) != KB_OK) {
		free(t);
		return KB_ERR_NOMEM;
	}
	*state = t;
	return KB_OK;
}

/* ---- The exchange inside the reactor ---- */

/* Run the steps as far as the socket lets them: 1 when DONE, -1 with
 * EAGAIN to wait (waits says for what), -1 with EPROTO when it failed. */
static int sasl_peer_handshake(void *state)
{
	struct sasl_peer *t = state;
	int rc = 0;
	while (rc == 0 && t->step != SASL_PEER_DONE) {
		if (t->step == SASL_PEER_INNER) {
			int hs = t->sc->inner ? t->sc->inner->handshake(t->inner)
					      : 1;
			if (hs != 1)
				return -1; /* errno from the inner transport */
			rc = build_request(t, WIRE_API_SASL_HANDSHAKE);
		} else if (t->step == SASL_PEER_SEND) {
			rc = step_send(t);
		} else {
			rc = step_recv(t);
		}
	}
	if (rc == 0)
		return 1;
	errno = rc == KB_ERR_AGAIN ? EAGAIN : EPROTO;
	return -1;
}

/* SEND -> RECV once the whole request left. */
static int step_send(struct sasl_peer *t)
{
	ssize_t n = raw_write(t, t->out.data + t->sent, t->out.len - t->sent);
	if (n < 0 && errno == EAGAIN)
		return KB_ERR_AGAIN;
	if (n <= 0)
		return fail(t, "sending a SASL request: %s",
			    n < 0 ? strerror(errno) : "connection closed");
	t->sent += (size_t)n;
	if (t->sent == t->out.len)
		t->step = SASL_PEER_RECV;
	return KB_OK;
}

/* RECV: read until one whole frame is in (INVARIANT 2), then act on it. */
static int step_recv(struct sasl_peer *t)
{
	if (t->in.len >= WIRE_SIZE_PREFIX) {
		int32_t size = (int32_t)kb_get_be32(t->in.data);
		if (size < 4 || size > SASL_PEER_FRAME_MAX)
			return fail(t, "SASL response size %d", (int)size);
		if (t->in.len >= WIRE_SIZE_PREFIX + (size_t)size)
			return on_response(t, t->in.data + WIRE_SIZE_PREFIX,
					   (size_t)size);
	}
	if (kb_buf_reserve(&t->in, SASL_PEER_READ) != KB_OK)
		return fail(t, "no memory");
	ssize_t n = raw_read(t, t->in.data + t->in.len, SASL_PEER_READ);
	if (n < 0 && errno == EAGAIN)
		return KB_ERR_AGAIN;
	if (n <= 0)
		return fail(t, "the listener closed during SASL (%s)",
			    n < 0 ? strerror(errno) : "end of stream");
	t->in.len += (size_t)n;
	return KB_OK;
}

/* A SaslHandshake answer leads to SaslAuthenticate; an authenticate
 * answer with error 0 is DONE. KAFKA: SaslClientAuthenticator. */
static int on_response(struct sasl_peer *t, const uint8_t *p, size_t len)
{
	struct wire_reader r;
	struct wire_request_header h = {t->api_key, 1};
	int32_t corr = 0;
	wire_reader_init(&r, p, len, false);
	if (wire_read_response_header(&r, &h, &corr) != KB_OK ||
	    corr != SASL_PEER_CORRELATION - t->api_key)
		return fail(t, "a SASL response with correlation id %d", corr);
	int16_t err = wire_read_i16(&r);
	struct wire_str msg = {0};
	if (t->api_key == WIRE_API_SASL_AUTHENTICATE)
		msg = wire_read_nullable_string(&r);
	if (wire_reader_status(&r) != KB_OK)
		return fail(t, "a malformed SASL response");
	t->in.len = 0;
	if (err != 0)
		return fail(t, "%s: %s (%.*s)", t->api_key == WIRE_API_SASL_HANDSHAKE
			    ? "SaslHandshake PLAIN" : "SaslAuthenticate",
			    wire_error_name(err), msg.len > 0 ? (int)msg.len : 0,
			    msg.len > 0 ? msg.p : "");
	if (t->api_key == WIRE_API_SASL_AUTHENTICATE) {
		t->step = SASL_PEER_DONE;
		t->waits = EPOLLIN;
		return KB_OK;
	}
	return build_request(t, WIRE_API_SASL_AUTHENTICATE);
}

/* The next request into t->out, SEND. KAFKA: SaslHandshake v1 names the
 * mechanism; SaslAuthenticate v1 carries PLAIN's token, authzid empty:
 * "\0user\0password" (RFC 4616). */
static int build_request(struct sasl_peer *t, int16_t key)
{
	struct wire_writer w;
	struct wire_request_header h = {key, 1, SASL_PEER_CORRELATION - key,
					wire_str_c("samsa-sasl"), 0};
	t->out.len = t->sent = 0;
	t->api_key = key;
	wire_writer_init(&w, &t->out, false);
	size_t at = wire_reserve_i32(&w);
	wire_write_request_header(&w, &h);
	if (key == WIRE_API_SASL_HANDSHAKE) {
		wire_write_string(&w, wire_str_c("PLAIN"));
	} else {
		size_t u = strlen(t->sc->user), pw = strlen(t->sc->password);
		wire_write_i32(&w, (int32_t)(2 + u + pw));
		wire_write_i8(&w, 0);
		wire_write_raw(&w, t->sc->user, u);
		wire_write_i8(&w, 0);
		wire_write_raw(&w, t->sc->password, pw);
	}
	wire_patch_size(&w, at);
	if (wire_writer_status(&w) != KB_OK)
		return fail(t, "no memory for a SASL request");
	t->step = SASL_PEER_SEND;
	return KB_OK;
}

/* ---- Bytes, through the inner transport or the socket ---- */

static ssize_t raw_read(struct sasl_peer *t, void *buf, size_t len)
{
	if (t->sc->inner) {
		ssize_t n = t->sc->inner->read(t->inner, buf, len);
		if (n < 0 && errno == EAGAIN)
			t->waits = t->sc->inner->waits_for(t->inner, false);
		return n;
	}
	ssize_t n = recv(t->fd, buf, len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		errno = EAGAIN;
		t->waits = EPOLLIN;
	}
	return n;
}

static ssize_t raw_write(struct sasl_peer *t, const void *buf, size_t len)
{
	if (t->sc->inner) {
		ssize_t n = t->sc->inner->write(t->inner, buf, len);
		if (n < 0 && errno == EAGAIN)
			t->waits = t->sc->inner->waits_for(t->inner, true);
		return n;
	}
	ssize_t n = send(t->fd, buf, len, MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		errno = EAGAIN;
		t->waits = EPOLLOUT;
	}
	return n;
}

/* ---- The transport once logged in ---- */

/* INVARIANT 1. */
static ssize_t sasl_peer_read(void *state, void *buf, size_t len)
{
	struct sasl_peer *t = state;
	if (t->step != SASL_PEER_DONE) {
		errno = EAGAIN;
		return -1;
	}
	return raw_read(t, buf, len);
}

static ssize_t sasl_peer_write(void *state, const void *buf, size_t len)
{
	struct sasl_peer *t = state;
	if (t->step != SASL_PEER_DONE) {
		errno = EAGAIN;
		return -1;
	}
	return raw_write(t, buf, len);
}

/* INVARIANT 3: during the exchange, what its last step waits for; then
 * the inner transport's answer, or the socket's plain one. */
static uint32_t sasl_peer_waits_for(const void *state, bool writing)
{
	const struct sasl_peer *t = state;
	if (t->step == SASL_PEER_INNER && t->sc->inner)
		return t->sc->inner->waits_for(t->inner, writing);
	if (t->step != SASL_PEER_DONE)
		return t->waits;
	if (t->sc->inner)
		return t->sc->inner->waits_for(t->inner, writing);
	return writing ? EPOLLOUT : EPOLLIN;
}

static bool sasl_peer_pending(const void *state)
{
	const struct sasl_peer *t = state;
	return t->sc->inner && t->step == SASL_PEER_DONE &&
	       t->sc->inner->pending(t->inner);
}

static const char *sasl_peer_why(const void *state)
{
	const struct sasl_peer *t = state;
	if (!t->why[0] && t->sc->inner)
		return t->sc->inner->why(t->inner);
	return t->why;
}

static void sasl_peer_close(void *state)
{
	struct sasl_peer *t = state;
	if (t->sc->inner)
		t->sc->inner->close(t->inner);
	if (t->out.data) /* it held the password */
		OPENSSL_cleanse(t->out.data, t->out.cap);
	kb_buf_fini(&t->out);
	kb_buf_fini(&t->in);
	free(t);
}

/* Keep why the exchange failed (logged once by the peer); KB_ERR_PROTO. */
static int fail(struct sasl_peer *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->why, sizeof t->why, fmt, ap);
	va_end(ap);
	return KB_ERR_PROTO;
}
