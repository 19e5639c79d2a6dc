/* SPDX-License-Identifier: MIT */
/*
 * Chapter 05, fifth file — peers: the broker as a client of other nodes.
 *
 * Concept: in a cluster a node also calls out: a voter asks the others
 *   for votes, a follower fetches the metadata log, a broker heartbeats to
 *   the controller. A peer is one outbound connection that the reactor
 *   (05_server.c) drives like any socket: a non-blocking connect, requests
 *   written in order, responses matched to their calls by correlation id,
 *   a timeout per call, and a reconnect after a backoff when it breaks.
 * Kafka: NetworkClient (request.timeout.ms, reconnect.backoff.ms, the
 *   correlation check in NetworkClient.correlate), the channel of
 *   NodeToControllerChannelManager and KafkaNetworkChannel (KRaft).
 * Interface:
 *   - net_peer_open, then net_peer_send calls; each call's fn runs exactly
 *     once, on the reactor thread, never inside net_peer_send: KB_OK with
 *     the response body, KB_ERR_IO or KB_ERR_AGAIN (timed out).
 *   - Everything on the reactor thread. net_peer_close (or
 *     net_server_free) fails what is still pending with KB_ERR_IO; a reply
 *     fn may send again or close its peer.
 *   - net_server_set_peer_transport, before net_peer_open, puts a
 *     transport (chapter 13's TLS) under the peers that dial one kind of
 *     listener (net_peer_config.inter_broker); without one, plaintext.
 * Invariants (peers_check, from net_check after every reactor turn):
 *   1. Calls are written in queue order: those before p->unsent whole,
 *      p->unsent perhaps partly, none after it; no call is written while
 *      the peer is not UP (a lost connection takes its calls with it).
 *   2. Deadlines do not decrease along the queue, so the peer's one timer
 *      (net_at) watches the head only; it is armed while a call waits.
 *   3. A response goes to the oldest written call, whose correlation id it
 *      must carry; any other response, or a size outside
 *      4..socket.request.max.bytes, closes the connection.
 *   4. fd >= 0 exactly when the peer is CONNECTING, HANDSHAKING or UP,
 *      and epoll watches what that state can use; a transport's state
 *      exists exactly in HANDSHAKING and UP.
 * States: DOWN --peer_connect--> CONNECTING --peer_connected--> UP
 *   (plaintext) or HANDSHAKING (a transport) --peer_handshake--> UP;
 *   CONNECTING, HANDSHAKING, UP --peer_disconnect--> DOWN (retry after
 *   the backoff); any --net_peer_close--> closed --peers_reap--> freed.
 * Simplifications: the backoff is fixed (Kafka's grows to
 *   reconnect.backoff.max.ms, with jitter); no connection setup timeout
 *   of its own: request.timeout.ms, counted from net_peer_send, covers
 *   connecting too; a host name is resolved on the reactor thread, as
 *   NetworkClient does on its own; TLS comes from a transport (chapter
 *   13), with no close_notify on close; SASL too, as a transport
 *   (13_sasl_peer.c), inter-broker only.
 * See also: docs/05_peers.md, diagrams/05_peers.dot,
 *   tests/05_server_test.c ("Peers"); read before: 05_server.c. Uses
 *   chapters 00 (base), 04 (codec).
 */
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "00_base.h"
#include "04_codec.h"
#include "05_server.h"
#include "05_server_internal.h"

/* ---- Constants ---- */

#define PEER_READ_CHUNK (64 * 1024) /* bytes asked of one recv(2) */
#define PEER_RESPONSE_MIN 4         /* a response holds its correlation id */

/* ---- Data structures ---- */

enum peer_state { PEER_DOWN, PEER_CONNECTING, PEER_HANDSHAKING, PEER_UP };

/* One call, from net_peer_send until its fn has run. */
struct peer_call {
	struct peer_call *next;     /* the peer's queue, in send order */
	int32_t correlation_id;
	int16_t api_key, api_version; /* to read the response header */
	int64_t deadline_ms;        /* kb_mono_ms clock */
	net_reply_fn fn;
	void *ctx;                  /* borrowed: the caller's */
	struct kb_buf frame;        /* owned: size prefix, header, body */
	size_t sent;                /* bytes of frame written */
};

/* An outbound connection and its queue of calls. Reactor thread only. */
struct net_peer {
	struct net_source src;       /* first: epoll data points here */
	struct net_server *srv;      /* borrowed */
	char *host, *client_id;      /* owned copies */
	int port;
	int64_t request_timeout_ms, reconnect_backoff_ms;
	char name[NET_PEER_LEN];     /* "host:port" for logs */
	enum peer_state state;
	int64_t retry_at_ms;         /* DOWN: no connect before this */
	unsigned attempt;            /* connects tried: picks the address */
	bool warned;                 /* a failure logged since the last UP */
	uint32_t events;             /* epoll mask registered */
	struct peer_call *head, *tail; /* owned: pending calls */
	struct peer_call *unsent;    /* first call not wholly written */
	struct kb_buf in;            /* owned: response bytes read */
	int32_t next_correlation_id;
	/* How bytes move: srv->peer_tp of the kind dialled, at open. */
	const struct net_peer_transport *tp; /* borrowed, static; NULL: plaintext */
	void *tp_ctx;                /* borrowed: handed to tp->open */
	void *tp_state;              /* owned by tp: HANDSHAKING and UP only */
	bool closed;                 /* net_peer_close: freed after the turn */
	struct net_peer *prev, *next; /* srv->peers, then srv->peers_closed */
};

/* ---- Prototypes of static helpers ---- */

static int call_new(struct net_peer *p, const struct net_call *call,
		    struct peer_call **out);
static void peer_tick(void *ctx, int64_t now_ms);
static void peer_event(struct net_source *src, uint32_t events);
static void peer_progress(struct net_peer *p, int64_t now_ms);
static void peer_expire(struct net_peer *p, int64_t now_ms);
static void peer_connect(struct net_peer *p);
static int peer_socket(struct net_peer *p, int *err);
static void peer_connected(struct net_peer *p);
static void peer_handshake(struct net_peer *p);
static void peer_up(struct net_peer *p);
static void peer_write(struct net_peer *p);
static void peer_read(struct net_peer *p);
static bool peer_read_once(struct net_peer *p);
static ssize_t peer_recv(struct net_peer *p, void *buf, size_t len);
static ssize_t peer_send_bytes(struct net_peer *p, const void *buf,
			       size_t len);
static uint32_t peer_waits(const struct net_peer *p, bool writing);
static void peer_responses(struct net_peer *p);
static int peer_response(struct net_peer *p, const uint8_t *frame,
			 size_t size);
static void peer_disconnect(struct net_peer *p, const char *why);
static struct peer_call *peer_drop(struct net_peer *p, const char *why);
static void peer_update_events(struct net_peer *p);
static void peer_arm(struct net_peer *p);
static void calls_fail(struct peer_call *list, int status);
static void call_free(struct peer_call *c);
static void peers_close_all(struct net_server *srv);
static void peers_reap(struct net_server *srv);
static void peers_check(const struct net_server *srv);

/* The reactor's way into this file (05_server_internal.h). */
static const struct net_peer_ops peer_ops = {peer_event, peers_close_all,
					     peers_reap, peers_check};

/* ---- Lifecycle ---- */

/* returns owned *out (net_peer_close). Creates the peer's one timer now,
 * so arming it later cannot fail. Nothing is connected until a send. */
int net_peer_open(struct net_server *srv, const struct net_peer_config *cfg,
		  struct net_peer **out)
{
	if (!cfg->host || !cfg->client_id || cfg->port <= 0 ||
	    cfg->port > 65535 || cfg->request_timeout_ms <= 0 ||
	    cfg->reconnect_backoff_ms < 0)
		return KB_ERR_INVAL;
	struct net_peer *p = calloc(1, sizeof *p);
	if (!p)
		return KB_ERR_NOMEM;
	*p = (struct net_peer){.src = {NET_SRC_PEER, -1}, .srv = srv,
			       .port = cfg->port, .state = PEER_DOWN,
			       .request_timeout_ms = cfg->request_timeout_ms,
			       .reconnect_backoff_ms = cfg->reconnect_backoff_ms};
	enum net_listener_kind kind = cfg->inter_broker
		? NET_LISTENER_BROKER : NET_LISTENER_CONTROLLER;
	p->tp = srv->peer_tp[kind];
	p->tp_ctx = srv->peer_tp_ctx[kind];
	p->host = strdup(cfg->host);
	p->client_id = strdup(cfg->client_id);
	kb_buf_init(&p->in);
	snprintf(p->name, sizeof p->name, "%s:%d", cfg->host, cfg->port);
	struct net_callback tick = {peer_tick, p};
	if (!p->host || !p->client_id ||
	    net_at(srv, INT64_MAX, tick) != KB_OK) {
		free(p->host);
		free(p->client_id);
		free(p);
		return KB_ERR_NOMEM;
	}
	p->next = srv->peers;
	if (srv->peers)
		srv->peers->prev = p;
	srv->peers = p;
	srv->peer_ops = &peer_ops;
	*out = p;
	return KB_OK;
}

bool net_peer_connected(const struct net_peer *p)
{
	return p->state == PEER_UP;
}

/* KAFKA: the controller listener's and the inter-broker listener's
 * security.protocol, each with its own channel builder. */
void net_server_set_peer_transport(struct net_server *srv,
				   enum net_listener_kind kind,
				   const struct net_peer_transport *tp,
				   void *ctx)
{
	srv->peer_tp[kind] = tp;
	srv->peer_tp_ctx[kind] = tp ? ctx : NULL;
}

/* ---- Sending a call ---- */

/* The frame is built now (call_new) and waits in the queue; the reactor
 * writes it (peer_tick, this turn or the next), so fn can never run in
 * here. */
int net_peer_send(struct net_peer *p, const struct net_call *call)
{
	if (p->closed)
		return KB_ERR_IO;
	if (!call->fn || (call->len && !call->body) ||
	    wire_request_header_version(call->api_key, call->api_version) < 0)
		return KB_ERR_INVAL;
	struct peer_call *c = NULL;
	int rc = call_new(p, call, &c);
	if (rc != KB_OK)
		return rc;
	if (p->tail)
		p->tail->next = c;
	else
		p->head = c;
	p->tail = c;
	if (!p->unsent)
		p->unsent = c;
	/* Cannot fail: the timer exists since net_peer_open. INVARIANT 2:
	 * the kick never postpones the timer past the head's deadline (one
	 * already due, in a turn whose timers run late, stays due). */
	int64_t at = KB_MIN(kb_mono_ms(), p->head->deadline_ms);
	net_at(p->srv, at, (struct net_callback){peer_tick, p});
	return KB_OK;
}

/* returns owned *out (call_free): the whole frame, size prefix and
 * request header (KAFKA: RequestHeader.json; correlation ids are a
 * per-client counter that wraps) before the caller's body. */
static int call_new(struct net_peer *p, const struct net_call *call,
		    struct peer_call **out)
{
	struct peer_call *c = calloc(1, sizeof *c);
	if (!c)
		return KB_ERR_NOMEM;
	*c = (struct peer_call){.correlation_id = p->next_correlation_id,
				.api_key = call->api_key,
				.api_version = call->api_version,
				.deadline_ms = kb_mono_ms() + p->request_timeout_ms,
				.fn = call->fn, .ctx = call->ctx};
	struct wire_request_header h = {call->api_key, call->api_version,
					c->correlation_id,
					wire_str_c(p->client_id), 0};
	struct wire_writer w;
	wire_writer_init(&w, &c->frame, false);
	size_t at = wire_reserve_i32(&w);
	wire_write_request_header(&w, &h);
	if (call->len)
		wire_write_raw(&w, call->body, call->len);
	wire_patch_size(&w, at);
	int rc = wire_writer_status(&w);
	if (rc == KB_OK && c->frame.len - WIRE_SIZE_PREFIX > INT32_MAX)
		rc = KB_ERR_TOO_LARGE;
	if (rc != KB_OK) {
		call_free(c);
		return rc;
	}
	p->next_correlation_id = p->next_correlation_id == INT32_MAX
					 ? 0 : p->next_correlation_id + 1;
	*out = c;
	return KB_OK;
}

/* ---- The reactor's side: timer and socket events ---- */

/* The peer's one timer: a call's deadline, the end of a backoff, or a
 * new call to write. */
static void peer_tick(void *ctx, int64_t now_ms)
{
	struct net_peer *p = ctx;
	peer_expire(p, now_ms);
	if (!p->closed)
		peer_progress(p, now_ms);
}

/* epoll says the socket can move bytes, finished connecting, or broke.
 * A peer closed earlier in this batch of events is skipped: it is freed
 * only after the turn (peers_reap), like a connection. */
static void peer_event(struct net_source *src, uint32_t events)
{
	struct net_peer *p = (struct net_peer *)src;
	if (p->closed || p->state == PEER_DOWN)
		return;
	if (p->state == PEER_CONNECTING)
		peer_connected(p);
	else if (p->state == PEER_HANDSHAKING)
		peer_handshake(p);
	else if (p->state == PEER_UP &&
		 events & (peer_waits(p, false) | EPOLLERR | EPOLLHUP))
		peer_read(p); /* a hang-up reads as end of stream */
	if (!p->closed)
		peer_progress(p, kb_mono_ms());
}

/* Whatever can move now: connect once the backoff is over, write what
 * is queued; then ask epoll and the timer for what comes next. */
static void peer_progress(struct net_peer *p, int64_t now_ms)
{
	if (p->state == PEER_DOWN && p->head && now_ms >= p->retry_at_ms)
		peer_connect(p);
	if (p->state == PEER_UP && p->unsent)
		peer_write(p);
	if (p->closed)
		return;
	peer_update_events(p);
	peer_arm(p);
}

/* KAFKA: NetworkClient.handleTimedOutRequests disconnects a node whose
 * request timed out: its answer could only come late. Calls past their
 * deadline get KB_ERR_AGAIN; while connected, the rest get KB_ERR_IO
 * with the connection. INVARIANT 2: the expired ones are a prefix. */
static void peer_expire(struct net_peer *p, int64_t now_ms)
{
	if (!p->head || p->head->deadline_ms > now_ms)
		return;
	bool connected = p->state != PEER_DOWN;
	errno = ETIMEDOUT;
	struct peer_call *expired = connected
		? peer_drop(p, "request timed out (request.timeout.ms)")
		: p->head;
	struct peer_call *last = expired, *rest;
	while (last->next && last->next->deadline_ms <= now_ms)
		last = last->next;
	rest = last->next;
	last->next = NULL;
	if (!connected) { /* nothing was written: the rest stay queued */
		p->head = p->unsent = rest;
		if (!rest)
			p->tail = NULL;
		rest = NULL;
	}
	calls_fail(expired, KB_ERR_AGAIN);
	calls_fail(rest, KB_ERR_IO); /* written on the dropped connection */
}

/* ---- Connecting ---- */

/* A non-blocking connect: done now (loopback may), in progress
 * (EINPROGRESS: epoll reports EPOLLOUT when it is decided), or failed. */
static void peer_connect(struct net_peer *p)
{
	int err = 0;
	int fd = peer_socket(p, &err);
	if (fd < 0) {
		errno = err;
		peer_disconnect(p, "connect failed");
		return;
	}
	p->src.fd = fd;
	p->events = EPOLLOUT;
	struct epoll_event ev = {.events = p->events, .data.ptr = &p->src};
	if (epoll_ctl(p->srv->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		p->state = PEER_CONNECTING; /* so that the fd is closed */
		peer_disconnect(p, "epoll_ctl");
		return;
	}
	p->state = PEER_CONNECTING;
	KB_DEBUG("peer %s: connecting", p->name);
	if (err == 0)
		peer_connected(p); /* connected at once */
}

/* A socket connecting to one of host's addresses (KAFKA:
 * client.dns.lookup=use_all_dns_ips, the next address on each try), or
 * -1. *err: 0 if connected already, EINPROGRESS, or why it failed. */
static int peer_socket(struct net_peer *p, int *err)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL, *ai;
	char service[8];
	snprintf(service, sizeof service, "%d", p->port);
	if (getaddrinfo(p->host, service, &hints, &res) != 0) {
		*err = EHOSTUNREACH;
		return -1;
	}
	unsigned n = 0;
	for (ai = res; ai; ai = ai->ai_next)
		n++; /* at least one when getaddrinfo succeeds */
	ai = res;
	for (unsigned i = p->attempt++ % n; i > 0; i--)
		ai = ai->ai_next;
	int fd = socket(ai->ai_family,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		*err = errno;
	else if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		*err = 0;
	else if (errno == EINPROGRESS)
		*err = EINPROGRESS;
	else {
		*err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* The connect was decided: SO_ERROR says how. Plaintext is UP at once;
 * a transport first opens its state and shakes hands. */
static void peer_connected(struct net_peer *p)
{
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(p->src.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err != 0) {
		errno = err;
		peer_disconnect(p, "connect failed");
		return;
	}
	int one = 1; /* KAFKA: NetworkClient sets TCP_NODELAY too */
	setsockopt(p->src.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (!p->tp) {
		peer_up(p);
		return;
	}
	if (p->tp->open(p->tp_ctx, p->src.fd, p->host, &p->tp_state) !=
	    KB_OK) {
		p->tp_state = NULL;
		errno = ENOMEM;
		peer_disconnect(p, "transport setup failed");
		return;
	}
	p->state = PEER_HANDSHAKING;
	peer_handshake(p);
}

/* HANDSHAKING -> UP once the transport says so; waiting is not failing
 * (peer_update_events asks epoll for what the handshake waits for). A
 * handshake never ends by itself: request.timeout.ms bounds it. */
static void peer_handshake(struct net_peer *p)
{
	if (p->tp->handshake(p->tp_state) == 1) {
		peer_up(p);
		return;
	}
	if (errno != EAGAIN)
		peer_disconnect(p, "handshake failed");
}

/* -> UP: the queued calls go out (peer_progress). */
static void peer_up(struct net_peer *p)
{
	p->state = PEER_UP;
	p->warned = false;
	KB_INFO("peer %s: connected%s%s", p->name, p->tp ? " over " : "",
		p->tp ? p->tp->name : "");
}

/* ---- Writing requests, reading responses ---- */

/* INVARIANT 1: frames leave whole and in queue order, as far as the
 * socket takes them now. */
static void peer_write(struct net_peer *p)
{
	while (p->unsent) {
		struct peer_call *c = p->unsent;
		ssize_t n = peer_send_bytes(p, c->frame.data + c->sent,
					    c->frame.len - c->sent);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
			      errno == EINTR))
			return;
		if (n <= 0) { /* 0: a transport's peer said goodbye */
			if (n == 0)
				errno = EPIPE;
			peer_disconnect(p, "send failed");
			return;
		}
		c->sent += (size_t)n;
		if (c->sent == c->frame.len)
			p->unsent = c->next;
	}
}

/* One read per readiness event, then every whole response in it; again
 * while the transport holds bytes no epoll event will announce (a TLS
 * record bigger than what one read took, or OpenSSL's read-ahead). */
static void peer_read(struct net_peer *p)
{
	while (peer_read_once(p) && p->state == PEER_UP && !p->closed &&
	       p->tp && p->tp->pending(p->tp_state))
		;
}

/* One read and the responses it completes; false if nothing was read
 * (EAGAIN) or the connection went down. */
static bool peer_read_once(struct net_peer *p)
{
	if (kb_buf_reserve(&p->in, PEER_READ_CHUNK) != KB_OK) {
		peer_disconnect(p, "no memory for a response");
		return false;
	}
	ssize_t n = peer_recv(p, p->in.data + p->in.len, p->in.cap - p->in.len);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		      errno == EINTR))
		return false;
	if (n <= 0) {
		if (n == 0)
			errno = ECONNRESET;
		peer_disconnect(p, n == 0 ? "closed by the other side"
					  : "recv failed");
		return false;
	}
	p->in.len += (size_t)n;
	peer_responses(p);
	return true;
}

/* Cut p->in into frames. INVARIANT 3: the size is checked before the
 * buffer grows to hold it. A reply fn may close p, or lose it the
 * connection (a send): then the rest is not ours to read. */
static void peer_responses(struct net_peer *p)
{
	size_t pos = 0;
	while (p->state == PEER_UP && !p->closed &&
	       p->in.len - pos >= WIRE_SIZE_PREFIX) {
		int32_t size = (int32_t)kb_get_be32(p->in.data + pos);
		if (size < PEER_RESPONSE_MIN ||
		    size > p->srv->cfg.request_max_bytes) {
			errno = EPROTO;
			KB_WARN("peer %s: response size %d outside %d..%lld",
				p->name, size, PEER_RESPONSE_MIN,
				(long long)p->srv->cfg.request_max_bytes);
			peer_disconnect(p, "bad response size");
			return;
		}
		size_t frame = WIRE_SIZE_PREFIX + (size_t)size;
		if (p->in.len - pos < frame) {
			if (kb_buf_reserve(&p->in, frame - (p->in.len - pos)) !=
			    KB_OK)
				peer_disconnect(p, "no memory for a response");
			break;
		}
		const uint8_t *body = p->in.data + pos + WIRE_SIZE_PREFIX;
		pos += frame;
		if (peer_response(p, body, (size_t)size) != KB_OK)
			return; /* disconnected: p->in is empty now */
	}
	if (p->state != PEER_UP || p->closed)
		return;
	memmove(p->in.data, p->in.data + pos, p->in.len - pos);
	p->in.len -= pos;
}

/* One response: the oldest written call's, or the connection is wrong.
 * KAFKA: NetworkClient.correlate throws on a correlation id mismatch. */
static int peer_response(struct net_peer *p, const uint8_t *frame,
			 size_t size)
{
	struct peer_call *c = p->head;
	struct wire_reader r;
	wire_reader_init(&r, frame, size, false);
	int32_t corr = -1;
	struct wire_request_header h = {.api_key = c ? c->api_key : -1,
					.api_version = c ? c->api_version : -1};
	if (!c || c == p->unsent ||
	    wire_read_response_header(&r, &h, &corr) != KB_OK ||
	    corr != c->correlation_id) {
		errno = EPROTO;
		KB_WARN("peer %s: response with correlation id %d, expected %d",
			p->name, corr, c && c != p->unsent ? c->correlation_id
							   : -1);
		peer_disconnect(p, "unexpected response");
		return KB_ERR_PROTO;
	}
	p->head = c->next;
	if (!p->head)
		p->tail = NULL;
	c->fn(c->ctx, KB_OK, &r);
	call_free(c);
	return KB_OK;
}

/* ---- Losing the connection ---- */

/* Close the socket, fail every pending call with KB_ERR_IO, and wait
 * reconnect.backoff.ms before the next connect. errno: why. */
static void peer_disconnect(struct net_peer *p, const char *why)
{
	calls_fail(peer_drop(p, why), KB_ERR_IO); /* may send again */
}

/* Close the socket, start the backoff, and return the pending calls
 * (owned: the caller fails them, once p is consistent again). The first
 * failure that costs calls after a success is a WARN; retries, and an
 * idle connection the other side closed, are DEBUG. */
static struct peer_call *peer_drop(struct net_peer *p, const char *why)
{
	int err = errno;
	const char *detail = p->tp_state ? p->tp->why(p->tp_state) : "";
	kb_log(p->warned || !p->head ? KB_LOG_DEBUG : KB_LOG_WARN,
	       "peer %s: %s: %s%s%s%s; retrying in %lld ms", p->name, why,
	       strerror(err), detail[0] ? " (" : "", detail,
	       detail[0] ? ")" : "", (long long)p->reconnect_backoff_ms);
	p->warned |= p->head != NULL;
	if (p->state != PEER_DOWN) {
		epoll_ctl(p->srv->epfd, EPOLL_CTL_DEL, p->src.fd, NULL);
		if (p->tp_state)
			p->tp->close(p->tp_state);
		close(p->src.fd);
	}
	p->tp_state = NULL;
	p->src.fd = -1;
	p->state = PEER_DOWN;
	p->events = 0;
	p->in.len = 0;
	p->retry_at_ms = kb_mono_ms() + p->reconnect_backoff_ms;
	struct peer_call *lost = p->head;
	p->head = p->tail = p->unsent = NULL;
	return lost;
}

/* ---- Small helpers ---- */

/* The bytes of a call through the transport, or send(2). */
static ssize_t peer_send_bytes(struct net_peer *p, const void *buf,
			       size_t len)
{
	if (p->tp)
		return p->tp->write(p->tp_state, buf, len);
	return send(p->src.fd, buf, len, MSG_NOSIGNAL);
}

/* Response bytes through the transport, or recv(2). */
static ssize_t peer_recv(struct net_peer *p, void *buf, size_t len)
{
	if (p->tp)
		return p->tp->read(p->tp_state, buf, len);
	return recv(p->src.fd, buf, len, 0);
}

/* The epoll event the next read (writing false) or write waits for: a
 * TLS read may need the socket writable, and the reverse. */
static uint32_t peer_waits(const struct net_peer *p, bool writing)
{
	if (p->tp && p->tp_state)
		return p->tp->waits_for(p->tp_state, writing);
	return writing ? EPOLLOUT : EPOLLIN;
}

/* INVARIANT 4: EPOLLOUT while connecting; what the handshake waits for
 * while HANDSHAKING; while UP, what a read waits for, and what a write
 * does while a frame waits. */
static void peer_update_events(struct net_peer *p)
{
	if (p->state == PEER_DOWN)
		return;
	uint32_t want = p->state == PEER_CONNECTING ? EPOLLOUT
			: p->state == PEER_HANDSHAKING
				? peer_waits(p, false)
				: peer_waits(p, false) |
					  (p->unsent ? peer_waits(p, true) : 0);
	if (want == p->events)
		return;
	struct epoll_event ev = {.events = want, .data.ptr = &p->src};
	if (epoll_ctl(p->srv->epfd, EPOLL_CTL_MOD, p->src.fd, &ev) != 0) {
		peer_disconnect(p, "epoll_ctl");
		return;
	}
	p->events = want;
}

/* INVARIANT 2: the timer at the head's deadline, or the backoff's end
 * if that comes first; disarmed with nothing to wait for. */
static void peer_arm(struct net_peer *p)
{
	int64_t at = INT64_MAX;
	if (p->head)
		at = p->head->deadline_ms;
	if (p->head && p->state == PEER_DOWN)
		at = KB_MIN(at, p->retry_at_ms);
	net_at(p->srv, at, (struct net_callback){peer_tick, p});
}

/* Run each call's fn with status (not KB_OK), then free it. */
static void calls_fail(struct peer_call *list, int status)
{
	while (list) {
		struct peer_call *c = list;
		list = c->next;
		c->fn(c->ctx, status, NULL);
		call_free(c);
	}
}

static void call_free(struct peer_call *c)
{
	kb_buf_fini(&c->frame);
	free(c);
}

/* ---- Closing ---- */

/* Unlink, disarm the timer, drop the socket, then fail what is pending
 * (a reply fn may call net_peer_send: it gets KB_ERR_IO). Close now,
 * free later: a reply fn or this turn's epoll events may still hold p,
 * so it waits on srv->peers_closed for peers_reap. */
void net_peer_close(struct net_peer *p)
{
	if (!p || p->closed)
		return;
	p->closed = true;
	struct net_server *srv = p->srv;
	if (p->prev)
		p->prev->next = p->next;
	else
		srv->peers = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->prev = NULL;
	p->next = srv->peers_closed;
	srv->peers_closed = p;
	net_at(srv, INT64_MAX, (struct net_callback){peer_tick, p});
	p->warned = true; /* closing on purpose: DEBUG, not WARN */
	errno = ECANCELED;
	peer_disconnect(p, "closed");
}

/* net_server_free: every peer still open, closed the same way. */
static void peers_close_all(struct net_server *srv)
{
	while (srv->peers)
		net_peer_close(srv->peers);
}

/* After each reactor turn, and in net_server_free: free closed peers. */
static void peers_reap(struct net_server *srv)
{
	while (srv->peers_closed) {
		struct net_peer *p = srv->peers_closed;
		srv->peers_closed = p->next;
		kb_buf_fini(&p->in);
		free(p->host);
		free(p->client_id);
		free(p);
	}
}

/* ---- Checks ---- */

/* Assert the invariants of every open peer (net_check calls this). */
static void peers_check(const struct net_server *srv)
{
	for (const struct net_peer *p = srv->peers; p; p = p->next) {
		assert(!p->closed && (!p->next || p->next->prev == p));
		/* INVARIANT 4 */
		assert((p->src.fd >= 0) == (p->state != PEER_DOWN));
		assert(p->state != PEER_DOWN || (p->events == 0 && !p->in.len));
		assert((p->tp_state != NULL) ==
		       (p->tp && (p->state == PEER_HANDSHAKING ||
				  p->state == PEER_UP)));
		bool written = true; /* INVARIANT 1: calls before unsent */
		for (const struct peer_call *c = p->head; c; c = c->next) {
			written &= c != p->unsent;
			assert(written ? c->sent == c->frame.len
				       : c->sent == 0 || c == p->unsent);
			assert(p->state == PEER_UP || c->sent == 0);
			/* INVARIANT 2 */
			assert(!c->next || c->deadline_ms <= c->next->deadline_ms);
			assert(c->next || c == p->tail);
		}
		assert(!p->head == !p->tail);
		assert(written == !p->unsent); /* unsent is in the queue */
		/* INVARIANT 2: a waiting call has the timer (or a kick). */
		assert(!p->head || net_next_wakeup_ms(srv) <= p->head->deadline_ms);
		kb_buf_check(&p->in);
		(void)written;
	}
	for (const struct net_peer *p = srv->peers_closed; p; p = p->next)
		assert(p->closed && p->src.fd < 0 && !p->head);
}
