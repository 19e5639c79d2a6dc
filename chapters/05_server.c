/* SPDX-License-Identifier: MIT */
/*
 * Chapter 05, fourth file — server: the reactor of the broker.
 *
 * Concept: a broker spends its life waiting on sockets. One thread asks
 *   the kernel (epoll) which connections can move bytes, reads whole
 *   size-prefixed frames, looks up a handler by api key and version, and
 *   hands its response to 05_responses.c; a request that must wait is
 *   parked in 05_purgatory.c, and its connection muted meanwhile; who may
 *   connect is 05_limits.c's call.
 * Kafka: SocketServer (Acceptor, Processors), KafkaApis' dispatch by
 *   ApiKeys, RequestChannel muting a channel while a request is in flight.
 *   Config: socket.request.max.bytes, connections.max.idle.ms (limits:
 *   05_limits.c). ApiVersions (key 18) is answered here. A listener
 *   has a role (BROKER, CONTROLLER: controller.listener.names) and its
 *   own APIs.
 * Interface:
 *   - net_server_new, net_register every api (on its listeners), then
 *     net_listen / net_listen_at, then net_run on one thread; net_stop
 *     (any thread, a signal handler) ends net_run.
 *   - Handlers, net_park, net_wake and timers run on the reactor thread.
 *   - A handler returns KB_OK, NET_PARKED, NET_NO_RESPONSE or KB_ERR_PROTO.
 *   - A listener's net_endpoint.tp chooses how its bytes move (NULL:
 *     plaintext; chapter 13: TLS); the reactor asks the transport which
 *     event a read or write waits for (conn_waits_for).
 * Invariants (net_check asserts them after every reactor turn):
 *   1. Responses leave in request order: a parked connection is muted.
 *   2. No buffer is sized from a peer's length before it is checked.
 *   3. A request is dispatched through the table of the listener it came
 *      in on (a key not there closes it); ApiVersions advertises that
 *      table exactly.
 *   4. Bad bytes from a peer close that connection only; no assert.
 *   5. A connection over the output cap (unsent bytes or descriptors,
 *      net_conn_output_full) is not read until it drains.
 *   6. A closed connection holds nothing: no descriptor, no response, no
 *      parked op; epoll watches exactly what an open one can use.
 *   7. A full descriptor table never makes the reactor spin: accept
 *      backs off and logs once per interval (05_limits.c).
 *   8. A connection of an authenticating listener (net_endpoint.auth,
 *      chapter 13's SASL) is served only ApiVersions, SaslHandshake and
 *      SaslAuthenticate, and frames of at most
 *      NET_UNAUTHENTICATED_MAX_BYTES, until net_conn_set_authenticated;
 *      past its session expiry (net_conn_set_session_expiry) only the
 *      two SASL requests; a delayed close (net_conn_close_at) mutes it
 *      both ways.
 * States of a connection: READING --net_park--> PARKED --op_complete-->
 *   READING; READING --output over the cap--> BACKPRESSURED --conn_send
 *   (drained)--> READING; any --conn_close--> CLOSED --reap_closed--> freed.
 * Simplifications: one reactor thread; only the plaintext transport
 *   (chapter 13 adds TLS through struct net_transport); no quotas
 *   (throttle_time_ms is 0).
 * See also: docs/05_server.md, diagrams/05_server.dot,
 *   tests/05_server_test.c; read before: 05_responses.c, 05_purgatory.c,
 *   05_limits.c; read next: 05_peers.c, outbound connections on this
 *   reactor (chapters/05_server_internal.h: what the five share).
 *   Uses chapters 00 (base), 04 (codec).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "00_base.h"
#include "04_codec.h"
#include "05_server.h"
#include "05_server_internal.h"

/* ---- Constants ---- */

#define NET_MAX_EVENTS 64        /* epoll events taken per wakeup */
#define NET_LISTEN_BACKLOG 50    /* KAFKA: socket.listen.backlog.size */
#define NET_READ_CHUNK (64 * 1024) /* bytes asked of one read(2) */
#define NET_SWEEP_MAX_MS 1000    /* idle/partial-frame sweep period cap, ms */

/* ---- Data structures: struct net_server, net_conn and net_out are in
 * 05_server_internal.h (the purgatory and the responses touch them too). */

/* ---- Prototypes of static helpers ---- */

static int listener_bind(const struct addrinfo *ai);
static int reactor_timeout_ms(const struct net_server *srv);
static void reactor_event(struct net_server *srv, struct epoll_event *ev);
static void accept_all(struct net_server *srv, struct net_listener *l);
static bool accept_transient(int err);
static struct net_conn *conn_new(struct net_server *srv, int fd,
				 const char *peer, const char *host);
static void conn_set_transport(struct net_conn *c,
			       const struct net_listener *l);
static uint32_t conn_waits_for(const struct net_conn *c, bool writing);
static bool conn_tls_on_plaintext(struct net_conn *c);
static void conn_on_readable(struct net_conn *c);
static void conn_process(struct net_conn *c);
static void conn_fail(struct net_conn *c);
static bool frame_size_ok(struct net_conn *c, int32_t size);
static void conn_compact(struct net_conn *c);
static size_t conn_read_len(const struct net_conn *c);
static bool conn_reading(const struct net_conn *c);
static uint32_t conn_wanted_events(const struct net_conn *c);
static int conn_dispatch(struct net_conn *c, const uint8_t *frame,
			 size_t size);
static const struct net_api *api_lookup(const struct net_server *srv,
					const struct net_request *req);
static int api_unserved(const struct net_conn *c,
			const struct wire_request_header *h);
static int conn_after_handler(struct net_conn *c,
			      const struct net_request *req,
			      struct net_out *out, int rc);
static int handle_api_versions(struct net_request *req,
			       struct net_response *resp);
static bool software_name_valid(struct wire_str s);
static int api_versions_unsupported(const struct net_api *self,
				    struct net_response *resp);
static void sweep_connections(void *ctx, int64_t now_ms);
static void conn_send(struct net_conn *c);
static void conn_update_events(struct net_conn *c);
static void process_ready(struct net_server *srv);
static void conn_close(struct net_conn *c);
static void reap_closed(struct net_server *srv);
static void api_tables_check(const struct net_server *srv);
static bool conn_admits(const struct net_conn *c,
			const struct wire_request_header *h);
static void close_due(void *ctx, int64_t now_ms);
static ssize_t plain_read(struct net_conn *c, void *buf, size_t len);
static ssize_t plain_writev(struct net_conn *c, const struct iovec *iov,
			    int n);

/* The default transport: the kernel's own socket calls, zero copy on. */
static const struct net_transport net_plaintext = {
	"PLAINTEXT", plain_read, plain_writev, true};

/* ---- Lifecycle ---- */

void net_config_defaults(struct net_config *cfg)
{
	cfg->request_max_bytes = NET_DEFAULT_REQUEST_MAX_BYTES;
	cfg->idle_ms = NET_DEFAULT_IDLE_MS;
	cfg->max_connections = NET_DEFAULT_MAX_CONNECTIONS;
	cfg->max_connections_per_ip = NET_DEFAULT_MAX_CONNECTIONS;
	cfg->n_ip_overrides = 0;
	cfg->frame_timeout_ms = NET_DEFAULT_FRAME_TIMEOUT_MS;
}

/* The server registers ApiVersions itself and one internal timer, the
 * sweep that closes idle connections and stalled frames. */
int net_server_new(const struct net_config *cfg, struct net_server **out)
{
	/* A frame size is an int32, so a larger limit would mean nothing. */
	if (cfg->request_max_bytes <= 0 || cfg->request_max_bytes > INT32_MAX ||
	    cfg->idle_ms <= 0 || cfg->max_connections < 0 ||
	    cfg->max_connections_per_ip < 0 || cfg->frame_timeout_ms <= 0 ||
	    cfg->n_ip_overrides < 0 || cfg->n_ip_overrides > NET_MAX_IP_OVERRIDES)
		return KB_ERR_INVAL;
	/* KAFKA: the JVM ignores SIGPIPE; sendfile(2) has no MSG_NOSIGNAL,
	 * so a peer that vanished would otherwise kill the broker. Once,
	 * here: not a system call on every turn of the reactor. */
	signal(SIGPIPE, SIG_IGN);
	struct net_server *srv = calloc(1, sizeof *srv);
	if (!srv)
		return KB_ERR_NOMEM;
	srv->cfg = *cfg;
	srv->stop = (struct net_source){NET_SRC_STOP, -1};
	srv->close_due_ms = INT64_MAX;
	net_limits_init(srv); /* before any listener: 05_limits.c */
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->epfd >= 0)
		srv->stop.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &srv->stop};
	if (srv->stop.fd < 0 ||
	    epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->stop.fd, &ev) != 0) {
		KB_ERROR("epoll/eventfd setup: %s", strerror(errno));
		net_server_free(srv);
		return KB_ERR_IO;
	}
	int64_t sweep = KB_MIN(cfg->idle_ms, cfg->frame_timeout_ms) / 2;
	sweep = KB_MAX(1, KB_MIN(sweep, NET_SWEEP_MAX_MS));
	/* KAFKA: every listener answers ApiVersions, with its own table. */
	struct net_api api_versions = {WIRE_API_API_VERSIONS, 0, 4,
				       handle_api_versions, srv,
				       (1u << NET_LISTENER_KINDS) - 1};
	int rc = net_register(srv, &api_versions);
	if (rc == KB_OK)
		rc = net_every(srv, sweep,
			       (struct net_callback){sweep_connections, srv});
	if (rc != KB_OK) {
		net_server_free(srv);
		return rc;
	}
	*out = srv;
	return KB_OK;
}

/* A BROKER listener: what a single-node broker serves its clients on. */
int net_listen(struct net_server *srv, const char *host, int port,
	       int *bound_port)
{
	struct net_endpoint ep = {host, port, NET_LISTENER_BROKER};
	return net_listen_at(srv, &ep, bound_port);
}

/* Listen on ep; several listeners, of either kind, share one reactor.
 * KAFKA: SocketServer starts one Acceptor per entry of `listeners`, the
 * controller.listener.names among them. */
int net_listen_at(struct net_server *srv, const struct net_endpoint *ep,
		  int *bound_port)
{
	const char *host = ep->host;
	int port = ep->port;
	if (srv->nlisteners == NET_MAX_LISTENERS || port < 0 || port > 65535 ||
	    (unsigned)ep->kind >= NET_LISTENER_KINDS)
		return KB_ERR_INVAL;
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	char service[8];
	snprintf(service, sizeof service, "%d", port);
	int gai = getaddrinfo(host && *host ? host : NULL, service, &hints, &res);
	if (gai != 0) {
		KB_ERROR("listen %s:%d: %s", host ? host : "*", port,
			 gai_strerror(gai));
		return KB_ERR_INVAL;
	}
	int fd = -1;
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
		fd = listener_bind(ai);
	freeaddrinfo(res);
	struct net_listener *l = &srv->listeners[srv->nlisteners];
	*l = (struct net_listener){{NET_SRC_LISTENER, fd}, ep->kind,
				   ep->tp ? ep->tp : &net_plaintext, ep->tp_ctx,
				   .auth = ep->auth, .auth_ctx = ep->auth_ctx};
	struct epoll_event ev = {.events = srv->accepting ? EPOLLIN : 0,
				 .data.ptr = l};
	if (fd < 0 || epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		int saved = errno;
		if (fd >= 0)
			close(fd);
		if (saved == EADDRINUSE)
			return KB_ERR_EXISTS; /* the caller says it, in words */
		KB_ERROR("listen %s:%d: %s", host ? host : "*", port,
			 strerror(saved));
		return KB_ERR_IO;
	}
	srv->nlisteners++;
	struct sockaddr_storage sa;
	socklen_t len = sizeof sa;
	int bound = port;
	if (getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		bound = ntohs(sa.ss_family == AF_INET6
			? ((struct sockaddr_in6 *)&sa)->sin6_port
			: ((struct sockaddr_in *)&sa)->sin_port);
	if (bound_port)
		*bound_port = bound;
	if (ep->advertised_host && ep->advertised_host[0]) {
		snprintf(l->advertised_host, sizeof l->advertised_host, "%s",
			 ep->advertised_host);
		l->advertised_port = ep->advertised_port ? ep->advertised_port
							 : bound;
	}
	snprintf(l->name, sizeof l->name, "%s", ep->name ? ep->name : "");
	return KB_OK;
}

/* A non-blocking listening socket for one address, or -1 (errno set). */
static int listener_bind(const struct addrinfo *ai)
{
	int fd = socket(ai->ai_family,
			ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    listen(fd, NET_LISTEN_BACKLOG) != 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* ---- The reactor loop ---- */

/* Level-triggered epoll: a connection we stop reading (muted, or backed
 * up) simply drops EPOLLIN from its mask, and one read per wakeup keeps a
 * busy client from starving the others. Edge-triggered would force us to
 * drain every socket to EAGAIN and remember what is left. */
int net_run(struct net_server *srv)
{
	srv->stopping = false;
	while (!srv->stopping) {
		int rc = net_run_once(srv, reactor_timeout_ms(srv));
		if (rc != KB_OK)
			return rc;
	}
	return KB_OK;
}

/* One turn: wait for events (at most timeout_ms), handle them, then the
 * timers, the expired delayed operations, the unparked connections and
 * the closed ones. net_run is this in a loop; tests and the fuzzer call
 * it directly to drive the broker without a thread. */
int net_run_once(struct net_server *srv, int timeout_ms)
{
	struct epoll_event evs[NET_MAX_EVENTS];
	int n = epoll_wait(srv->epfd, evs, NET_MAX_EVENTS, timeout_ms);
	if (n < 0 && errno != EINTR) {
		KB_ERROR("epoll_wait: %s", strerror(errno));
		return KB_ERR_IO;
	}
	for (int i = 0; i < n; i++)
		reactor_event(srv, &evs[i]);
	net_run_timers(srv, kb_mono_ms());
	net_expire_delayed(srv, kb_mono_ms());
	process_ready(srv);
	net_accept_maybe_resume(srv, kb_mono_ms());
#ifndef NDEBUG
	net_check(srv); /* every invariant, once per turn */
#endif
	reap_closed(srv);
	if (srv->peer_ops)
		srv->peer_ops->reap(srv); /* closed peers, as reap_closed */
	return KB_OK;
}

/* write(2) to an eventfd is async-signal-safe and thread-safe; the
 * reactor sees the fd readable and leaves its loop. */
void net_stop(struct net_server *srv)
{
	uint64_t one = 1;
	ssize_t rc = write(srv->stop.fd, &one, sizeof one);
	(void)rc; /* EAGAIN: a stop is already pending */
}

/* Sleep until the next timer or deadline: timers need no thread. */
static int reactor_timeout_ms(const struct net_server *srv)
{
	int64_t next = net_next_wakeup_ms(srv);
	if (!srv->accepting && srv->accept_resume_ms > 0)
		next = KB_MIN(next, srv->accept_resume_ms);
	if (next == INT64_MAX)
		return -1;
	int64_t wait = next - kb_mono_ms();
	return wait <= 0 ? 0 : (int)KB_MIN(wait, INT32_MAX);
}

static void reactor_event(struct net_server *srv, struct epoll_event *ev)
{
	struct net_source *s = ev->data.ptr;
	uint64_t v;
	switch (s->kind) {
	case NET_SRC_STOP:
		if (read(s->fd, &v, sizeof v) >= 0)
			srv->stopping = true;
		break;
	case NET_SRC_LISTENER:
		accept_all(srv, (struct net_listener *)s);
		break;
	case NET_SRC_PEER: /* an outbound connection: 05_peers.c */
		srv->peer_ops->event(s, ev->events);
		break;
	case NET_SRC_CONN: {
		struct net_conn *c = (struct net_conn *)s;
		if (c->closing)
			break; /* closed earlier in this batch */
		if (ev->events & (EPOLLERR | EPOLLHUP)) {
			KB_DEBUG("closing %s: socket hung up", c->peer);
			conn_close(c);
			break;
		}
		/* A transport may need the other direction (a TLS read that
		 * must first write a handshake message): conn_waits_for. */
		if (ev->events & conn_waits_for(c, true) &&
		    (c->out_head || ev->events & EPOLLOUT))
			conn_send(c);
		if (ev->events & conn_waits_for(c, false) && !c->closing)
			conn_on_readable(c);
		break;
	}
	}
}

/* Take every pending connection. KAFKA: at max.connections the acceptor
 * stops taking connections until one closes (they wait in the backlog);
 * over max.connections.per.ip a new connection is closed at once. */
static void accept_all(struct net_server *srv, struct net_listener *l)
{
	int lfd = l->src.fd;
	while (srv->accepting) {
		if (srv->nconns >= srv->cfg.max_connections) {
			net_listeners_arm(srv, false); /* until one closes */
			srv->accept_resume_ms = 0;
			return;
		}
		struct sockaddr_storage sa;
		socklen_t len = sizeof sa;
		int fd = accept4(lfd, (struct sockaddr *)&sa, &len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0 && accept_transient(errno))
			continue;
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				net_accept_failed(srv, lfd, errno);
			return;
		}
		char host[INET6_ADDRSTRLEN], serv[8], peer[NET_PEER_LEN];
		if (getnameinfo((struct sockaddr *)&sa, len, host, sizeof host,
				serv, sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV)) {
			snprintf(peer, sizeof peer, "fd %d", fd);
			host[0] = '\0';
		} else {
			snprintf(peer, sizeof peer, "%s:%s", host, serv);
		}
		struct net_conn *c = NULL;
		if (net_accept_admit(srv, host, peer))
			c = conn_new(srv, fd, peer, host);
		if (c) {
			c->listener = l->kind; /* INVARIANT 3: its table */
			conn_set_transport(c, l);
		} else {
			close(fd);
		}
	}
}

/* The listener's transport takes the new connection (chapter 13: an SSL
 * object per connection); one that cannot is closed at once. */
static void conn_set_transport(struct net_conn *c, const struct net_listener *l)
{
	c->tp = l->tp;
	c->from = l;
	c->authenticated = l->auth == NULL; /* INVARIANT 8 */
	if (c->tp->open && c->tp->open(c, l->tp_ctx) != KB_OK) {
		KB_WARN("closing %s: the %s transport could not set it up",
			c->peer, c->tp->name);
		conn_close(c);
	}
}

/* Linux's accept(2) rule: errors already pending on the new
 * connection are reported by accept itself; they concern that one
 * connection, so take the next (man 2 accept, "Error handling"). */
static bool accept_transient(int err)
{
	switch (err) {
	case EINTR: case ECONNABORTED: case EPROTO: case ENETDOWN:
	case ENOPROTOOPT: case EHOSTDOWN: case ENONET: case EHOSTUNREACH:
	case EOPNOTSUPP: case ENETUNREACH:
		return true;
	default:
		return false;
	}
}

/* Serve a socket someone else connected (a socketpair end in tests and
 * the fuzzer) exactly like one accepted on a BROKER listener. takes: fd. */
int net_adopt(struct net_server *srv, int fd)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
		close(fd);
		return KB_ERR_IO;
	}
	char peer[NET_PEER_LEN];
	snprintf(peer, sizeof peer, "adopted fd %d", fd);
	if (!conn_new(srv, fd, peer, "")) {
		close(fd);
		return KB_ERR_IO;
	}
	return KB_OK;
}

/* returns a connection owned by srv->conns (freed by reap_closed), on a
 * BROKER listener until the caller says otherwise; NULL if it could not
 * be set up. host: the numeric address, "" when unknown. */
static struct net_conn *conn_new(struct net_server *srv, int fd,
				 const char *peer, const char *host)
{
	struct net_conn *c = calloc(1, sizeof *c);
	if (!c) {
		KB_ERROR("no memory for connection %s", peer);
		return NULL;
	}
	*c = (struct net_conn){.src = {NET_SRC_CONN, fd}, .srv = srv,
			       .tp = &net_plaintext, .events = EPOLLIN,
			       .authenticated = true,
			       .last_active_ms = kb_mono_ms()};
	snprintf(c->peer, sizeof c->peer, "%s", peer);
	snprintf(c->host, sizeof c->host, "/%s", host);
	kb_buf_init(&c->in);
	int one = 1; /* KAFKA: SocketServer sets TCP_NODELAY on every socket */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct epoll_event ev = {.events = c->events, .data.ptr = c};
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		KB_ERROR("epoll_ctl add %s: %s", peer, strerror(errno));
		free(c);
		return NULL;
	}
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->nconns++;
	KB_DEBUG("accepted %s (%s)", peer, c->tp->name);
	return c;
}

/* ---- Framing ---- */

/* One read per readiness event, then parse whatever whole frames it
 * completed. */
static void conn_on_readable(struct net_conn *c)
{
	if (!conn_reading(c))
		return;
	if (kb_buf_reserve(&c->in, NET_READ_CHUNK) != KB_OK) {
		KB_ERROR("closing %s: out of memory for input", c->peer);
		conn_close(c);
		return;
	}
	ssize_t n = c->tp->read(c, c->in.data + c->in.len, conn_read_len(c));
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		conn_update_events(c); /* a TLS read may now wait for EPOLLOUT */
		return;
	}
	if (n <= 0) {
		KB_DEBUG("closing %s: %s", c->peer,
			 n == 0 ? "peer closed" : strerror(errno));
		conn_close(c);
		return;
	}
	c->in.len += (size_t)n;
	c->last_active_ms = kb_mono_ms();
	conn_process(c);
	/* Bytes the transport already took off the socket (decrypted TLS
	 * records) bring no epoll event: read them in process_ready. */
	if (!c->closing && c->tp->pending && c->tp->pending(c))
		net_conn_mark_ready(c);
}

/* What to ask of one read: the rest of the frame being read, and at
 * least NET_READ_CHUNK. Bytes read far past a frame's end would only be
 * moved back to the front by conn_compact (a TLS read drains every
 * record it can: asked for 2 MB, it could copy a 1 MB request twice). */
static size_t conn_read_len(const struct net_conn *c)
{
	size_t have = c->in.len - c->in_pos, want = NET_READ_CHUNK;
	if (have >= WIRE_SIZE_PREFIX) {
		int32_t size = (int32_t)kb_get_be32(c->in.data + c->in_pos);
		size_t frame = WIRE_SIZE_PREFIX + (size > 0 ? (size_t)size : 0);
		if (frame > have)
			want = KB_MAX(want, frame - have);
	}
	return KB_MIN(want, c->in.cap - c->in.len);
}

/* Handle the buffered frames in order until one parks, output backs up,
 * or the next frame is incomplete. A handled frame's bytes stay in
 * c->in until conn_compact, so a parked request's views stay valid. */
static void conn_process(struct net_conn *c)
{
	while (conn_reading(c) && c->in.len - c->in_pos >= WIRE_SIZE_PREFIX) {
		size_t avail = c->in.len - c->in_pos;
		int32_t size = (int32_t)kb_get_be32(c->in.data + c->in_pos);
		if (conn_tls_on_plaintext(c)) {
			conn_close(c);
			return;
		}
		if (!frame_size_ok(c, size)) {
			conn_fail(c);
			return;
		}
		size_t frame = WIRE_SIZE_PREFIX + (size_t)size;
		if (avail < frame) {
			/* INVARIANT 2: grow only once the size is checked. */
			if (kb_buf_reserve(&c->in, frame - avail) != KB_OK) {
				KB_ERROR("closing %s: no memory for a %d-byte request",
					 c->peer, size);
				conn_close(c);
				return;
			}
			break;
		}
		const uint8_t *body = c->in.data + c->in_pos + WIRE_SIZE_PREFIX;
		c->in_pos += frame;
		c->frame_start_ms = 0;
		if (conn_dispatch(c, body, (size_t)size) != KB_OK)
			conn_fail(c);
	}
	if (c->closing)
		return;
	conn_compact(c);
	/* A partial frame gets frame_timeout_ms, counted while we read (a
	 * handshake too: net_conn_set_handshaking). */
	if (!c->handshaking && (!conn_reading(c) || c->in.len == c->in_pos))
		c->frame_start_ms = 0;
	else if (!c->frame_start_ms)
		c->frame_start_ms = kb_mono_ms();
	conn_send(c);
}

/* A protocol error: answers already queued get one last non-blocking
 * send (the client sees why earlier requests worked), then close. */
static void conn_fail(struct net_conn *c)
{
	(void)net_conn_flush(c); /* closing either way */
	conn_close(c);
}

/* A TLS client on a PLAINTEXT listener: its ClientHello starts with a
 * handshake record, content type 0x16 and version 0x03 0x0N (a client
 * giving up may send an alert, 0x15, first). Read as a Kafka size that
 * is 0x1403.... = 335 MB and more, so no real request starts so; said in
 * words rather than as a size outside the limit. */
static bool conn_tls_on_plaintext(struct net_conn *c)
{
	const uint8_t *b = c->in.data + c->in_pos;
	if (c->tp != &net_plaintext || b[0] < 0x14 || b[0] > 0x17 ||
	    b[1] != 0x03)
		return false;
	KB_WARN("TLS handshake on a PLAINTEXT listener from %s: closed (the "
		"client has security.protocol=SSL: give it the SSL port)",
		c->peer);
	return true;
}

/* KAFKA: NetworkReceive throws InvalidReceiveException for a negative
 * size or one over socket.request.max.bytes; zero cannot hold a header.
 * INVARIANT 8: before authentication the cap is sasl.server.max.receive.
 * size (SaslServerAuthenticator, CVE-2022-34917). */
static bool frame_size_ok(struct net_conn *c, int32_t size)
{
	int64_t max = c->authenticated ? c->srv->cfg.request_max_bytes
				       : NET_UNAUTHENTICATED_MAX_BYTES;
	if (size > 0 && size <= max)
		return true;
	KB_WARN("closing %s: request size %d outside 1..%lld (%s)", c->peer,
		size, (long long)max,
		c->authenticated ? "socket.request.max.bytes"
				 : "before authentication: sasl.server.max.receive.size");
	return false;
}

/* Drop handled frames from the front of c->in. Not while parked: the
 * parked frame lies before in_pos and its views must stay put. */
static void conn_compact(struct net_conn *c)
{
	if (c->parked || c->in_pos == 0)
		return;
	size_t left = c->in.len - c->in_pos;
	/* A large buffer stays while requests keep coming (a producer sends
	 * 1 MB batch after batch: freeing it would fault 1 MB in again per
	 * request); sweep_connections frees it once the connection rests. */
	memmove(c->in.data, c->in.data + c->in_pos, left);
	c->in.len = left;
	c->in_pos = 0;
}

/* INVARIANT 1 and 5: muted while parked, paused while backed up, and
 * while a delayed close (net_conn_close_at) waits. */
static bool conn_reading(const struct net_conn *c)
{
	return !c->closing && !c->parked && !c->close_at_ms &&
	       !net_conn_output_full(c);
}

/* ---- Dispatch ---- */

/* Serve api_key in [min_version, max_version] on each listener kind in
 * api->listeners; one row per key and listener (a row whose fn is NULL
 * is not registered), so Fetch may have one handler per listener. */
int net_register(struct net_server *srv, const struct net_api *api)
{
	int16_t key = api->api_key;
	unsigned mask = api->listeners ? api->listeners
				       : 1u << NET_LISTENER_BROKER;
	if (key < 0 || key >= WIRE_API_COUNT || !wire_api_name(key) ||
	    !api->fn || api->min_version < 0 ||
	    api->min_version > api->max_version ||
	    mask >= 1u << NET_LISTENER_KINDS)
		return KB_ERR_INVAL;
	for (int kind = 0; kind < NET_LISTENER_KINDS; kind++)
		if (mask & (1u << kind) && srv->apis[kind][key].fn)
			return KB_ERR_EXISTS;
	for (int kind = 0; kind < NET_LISTENER_KINDS; kind++) {
		if (!(mask & (1u << kind)))
			continue;
		srv->apis[kind][key] = *api;
		srv->apis[kind][key].listeners = (uint8_t)mask;
		srv->napis[kind]++;
	}
	return KB_OK;
}

/* Decode the header, find the handler, run it with a response whose
 * size prefix and response header are already written. Returns KB_OK or
 * the status that closes the connection (logged here). */
static int conn_dispatch(struct net_conn *c, const uint8_t *frame, size_t size)
{
	struct net_request req = {.srv = c->srv, .conn = c,
				  .received_ns = kb_mono_ns(),
				  .listener = c->listener};
	if (c->raw_frames) /* a bare SASL token (SaslHandshake v0) */
		return c->from->auth->raw_frame(c, frame, size);
	wire_reader_init(&req.body, frame, size, false);
	if (wire_read_request_header(&req.body, &req.header) != KB_OK) {
		KB_WARN("closing %s: bad request header (api key %d, version %d, "
			"%zu bytes)", c->peer, req.header.api_key,
			req.header.api_version, size);
		return KB_ERR_PROTO;
	}
	if (!conn_admits(c, &req.header))
		return KB_ERR_PROTO;
	const struct net_api *api = api_lookup(c->srv, &req);
	if (!api)
		return api_unserved(c, &req.header);
	req.ctx = api->ctx;
	struct net_out *out = net_out_new(&req.header);
	if (!out) {
		KB_ERROR("closing %s: no memory for a response", c->peer);
		return KB_ERR_NOMEM;
	}
	c->dispatching = out;
	int rc = api->fn(&req, &out->resp);
	return conn_after_handler(c, &req, out, rc);
}

/* INVARIANT 8. KAFKA: SaslServerAuthenticator answers ApiVersions and
 * the SASL requests itself; anything else before authentication is
 * "Unexpected Kafka request of type ... during SASL handshake": closed.
 * The Processor closes an expired session's connection at its next
 * request unless that request re-authenticates (KIP-368). */
static bool conn_admits(const struct net_conn *c,
			const struct wire_request_header *h)
{
	bool sasl = h->api_key == WIRE_API_SASL_HANDSHAKE ||
		    h->api_key == WIRE_API_SASL_AUTHENTICATE;
	if (c->authenticated && c->session_expires_ms &&
	    kb_mono_ms() >= c->session_expires_ms && !sasl) {
		KB_INFO("closing %s: its SASL session expired "
			"(connections.max.reauth.ms) and it did not "
			"re-authenticate", c->peer);
		return false;
	}
	if (c->authenticated || sasl || h->api_key == WIRE_API_API_VERSIONS)
		return true;
	KB_WARN("closing %s: api key %d (%s) before SASL authentication",
		c->peer, h->api_key,
		wire_api_name(h->api_key) ? wire_api_name(h->api_key) : "unknown");
	return false;
}

/* INVARIANT 3: the row for this key in the table of the listener the
 * request arrived on, if it covers this version. */
static const struct net_api *api_lookup(const struct net_server *srv,
					const struct net_request *req)
{
	const struct wire_request_header *h = &req->header;
	if (h->api_key < 0 || h->api_key >= WIRE_API_COUNT ||
	    !srv->apis[req->listener][h->api_key].fn)
		return NULL;
	const struct net_api *a = &srv->apis[req->listener][h->api_key];
	/* KAFKA: ApiVersions is answered at any version (RequestContext). */
	if (h->api_key == WIRE_API_API_VERSIONS)
		return a;
	if (h->api_version < a->min_version || h->api_version > a->max_version)
		return NULL;
	return a;
}

/* KAFKA: a key or version the listener does not enable is an
 * InvalidRequestException in the Processor ("Received request api key
 * ... which is not enabled"): the connection is closed, nothing else. */
static int api_unserved(const struct net_conn *c,
			const struct wire_request_header *h)
{
	static const char *const kind_name[NET_LISTENER_KINDS] = {
		[NET_LISTENER_BROKER] = "broker",
		[NET_LISTENER_CONTROLLER] = "controller"};
	struct wire_str id = h->client_id;
	KB_WARN("closing %s: unsupported api key %d version %d (client id "
		"%.*s) on the %s listener", c->peer, h->api_key,
		h->api_version, id.len > 0 ? (int)id.len : 0,
		id.len > 0 ? id.p : "", kind_name[c->listener]);
	return KB_ERR_PROTO;
}

/* What the handler's return means. net_park cleared c->dispatching when
 * it took the response, so a parked out is never touched here. */
static int conn_after_handler(struct net_conn *c,
			      const struct net_request *req,
			      struct net_out *out, int rc)
{
	bool parked = c->dispatching != out;
	c->dispatching = NULL;
	if (parked)
		return rc < 0 ? rc : KB_OK;
	if (rc == KB_OK && !c->closing)
		return net_conn_queue_response(c, req, out);
	net_out_free(out);
	if (rc == NET_NO_RESPONSE || (rc == KB_OK && c->closing)) {
		net_log_request(req, 0);
		return KB_OK;
	}
	KB_WARN("closing %s: %s v%d handler returned %s", c->peer,
		wire_api_name(req->header.api_key), req->header.api_version,
		rc == NET_PARKED ? "NET_PARKED without net_park"
				 : kb_status_name(rc));
	return rc < 0 ? rc : KB_ERR_INVAL;
}

const char *net_conn_host(const struct net_conn *c) { return c->host; }

const char *net_conn_peer(const struct net_conn *c) { return c->peer; }

bool net_request_advertised(const struct net_request *req, const char **host,
			    int32_t *port)
{
	const struct net_listener *l = req->conn ? req->conn->from : NULL;
	if (!l || !l->advertised_host[0])
		return false;
	*host = l->advertised_host;
	*port = l->advertised_port;
	return true;
}

const char *net_request_listener_name(const struct net_request *req)
{
	const struct net_listener *l = req->conn ? req->conn->from : NULL;
	return l ? l->name : "";
}

bool net_server_advertised(const struct net_server *srv, const char *name,
			   const char **host, int32_t *port)
{
	for (int i = 0; i < srv->nlisteners; i++) {
		const struct net_listener *l = &srv->listeners[i];
		if (l->kind == NET_LISTENER_BROKER && l->advertised_host[0] &&
		    strcmp(l->name, name) == 0) {
			*host = l->advertised_host;
			*port = l->advertised_port;
			return true;
		}
	}
	return false;
}

/* KAFKA: DefaultKafkaPrincipalBuilder; ANONYMOUS on PLAINTEXT. */
const char *net_request_principal(const struct net_request *req)
{
	const struct net_conn *c = req->conn;
	return c && c->principal ? c->principal : NET_PRINCIPAL_ANONYMOUS;
}

int net_conn_set_principal(struct net_conn *c, const char *p)
{
	char *copy = strdup(p);
	if (!copy)
		return KB_ERR_NOMEM;
	free(c->principal);
	c->principal = copy;
	return KB_OK;
}

int net_conn_fd(const struct net_conn *c) { return c->src.fd; }

void *net_conn_transport_state(const struct net_conn *c)
{
	return c->tp_state;
}

void net_conn_set_transport_state(struct net_conn *c, void *state)
{
	c->tp_state = state;
}

/* A handshake is a frame the client owes us: the sweep closes a
 * connection whose handshake stalls after frame_timeout_ms (a TLS client
 * that connects and says nothing would otherwise hold its slot for
 * connections.max.idle.ms). */
void net_conn_set_handshaking(struct net_conn *c, bool on)
{
	c->handshaking = on;
	c->frame_start_ms = on ? kb_mono_ms() : 0;
}

/* Addresses compared as integers: b may point anywhere. The frame lies
 * in c->in (INVARIANT 2's buffer) until conn_compact, after the handler. */
uint8_t *net_request_writable(struct net_request *req, struct wire_bytes b)
{
	struct net_conn *c = req->conn;
	if (!c || !b.p || b.len < 0)
		return NULL;
	uintptr_t start = (uintptr_t)c->in.data, at = (uintptr_t)b.p;
	if (at < start || at - start > c->in.len ||
	    (size_t)b.len > c->in.len - (at - start))
		return NULL;
	return c->in.data + (at - start);
}

/* ---- Authentication (chapter 13's seam) ---- */

void *net_request_auth_ctx(const struct net_request *req)
{
	const struct net_conn *c = req->conn;
	return c && c->from && c->from->auth ? c->from->auth_ctx : NULL;
}

bool net_conn_authenticated(const struct net_conn *c)
{
	return c->authenticated;
}

void net_conn_set_authenticated(struct net_conn *c)
{
	c->authenticated = true;
	c->raw_frames = false;
}

void net_conn_set_session_expiry(struct net_conn *c, int64_t at_ms)
{
	c->session_expires_ms = at_ms;
}

void *net_conn_auth_state(const struct net_conn *c) { return c->auth_state; }

void net_conn_set_auth_state(struct net_conn *c, void *state)
{
	c->auth_state = state;
}

void net_conn_set_raw_frames(struct net_conn *c, bool on)
{
	c->raw_frames = on && c->from && c->from->auth;
}

/* A frame with a size prefix and no response header: KAFKA's answer to a
 * bare SASL token (an empty token is the four bytes 0 0 0 0). */
int net_conn_send_frame(struct net_conn *c, const void *p, size_t len)
{
	if (len > INT32_MAX)
		return KB_ERR_TOO_LARGE;
	struct net_out *o = calloc(1, sizeof *o);
	if (!o)
		return KB_ERR_NOMEM;
	kb_buf_init(&o->resp.mem);
	wire_writer_init(&o->resp.w, &o->resp.mem, false);
	wire_reserve_i32(&o->resp.w);
	if (len > 0 && kb_buf_append(&o->resp.mem, p, len) != KB_OK) {
		net_out_free(o);
		return KB_ERR_NOMEM;
	}
	return net_conn_queue_response(c, NULL, o);
}

/* One timer for every delayed close, armed at the earliest (so the
 * timer list does not grow with failed logins). */
int net_conn_close_at(struct net_conn *c, int64_t at_ms)
{
	struct net_server *srv = c->srv;
	c->close_at_ms = KB_MAX(at_ms, 1);
	if (c->close_at_ms >= srv->close_due_ms) {
		conn_update_events(c);
		return KB_OK;
	}
	srv->close_due_ms = c->close_at_ms;
	conn_update_events(c);
	return net_at(srv, srv->close_due_ms, (struct net_callback){close_due, srv});
}

/* The delayed closes that are due: one last send of what each queued
 * (KAFKA: the failed authentication's response), then close; re-arm for
 * the next. */
static void close_due(void *ctx, int64_t now_ms)
{
	struct net_server *srv = ctx;
	int64_t next = INT64_MAX;
	struct net_conn *n;
	for (struct net_conn *c = srv->conns; c; c = n) {
		n = c->next; /* conn_close moves c to srv->closed */
		if (c->close_at_ms && c->close_at_ms <= now_ms) {
			(void)net_conn_flush(c); /* closing either way */
			conn_close(c);
		} else if (c->close_at_ms) {
			next = KB_MIN(next, c->close_at_ms);
		}
	}
	srv->close_due_ms = next;
	if (next != INT64_MAX) /* moves the existing one-shot: cannot fail */
		(void)net_at(srv, next, (struct net_callback){close_due, srv});
}

/* ---- ApiVersions ---- */

/* KAFKA: ApiVersionsResponse.json, built from the dispatch table of the
 * listener asked, so each listener advertises exactly what it serves
 * (ApiVersionManager). v1+ add throttle_time_ms; v3+ are flexible
 * (compact array, a tag section per entry and at the end), with no
 * tagged fields at all (CLIENTS.md §5). */
static int handle_api_versions(struct net_request *req,
			       struct net_response *resp)
{
	const struct net_api *table = req->srv->apis[req->listener];
	const struct net_api *self = &table[WIRE_API_API_VERSIONS];
	int16_t version = req->header.api_version;
	if (version < self->min_version || version > self->max_version)
		return api_versions_unsupported(self, resp);
	bool valid = true;
	if (req->body.flexible) { /* ClientSoftwareName, ...Version, tags */
		valid = software_name_valid(wire_read_string(&req->body));
		valid &= software_name_valid(wire_read_string(&req->body));
		wire_read_tags(&req->body);
	}
	if (wire_reader_status(&req->body) != KB_OK)
		return KB_ERR_PROTO;
	struct wire_writer *w = &resp->w;
	wire_write_i16(w, valid ? KAFKA_ERR_NONE : KAFKA_ERR_INVALID_REQUEST);
	wire_write_array_len(w, valid ? req->srv->napis[req->listener] : 0);
	for (int16_t key = 0; valid && key < WIRE_API_COUNT; key++) {
		if (!table[key].fn)
			continue;
		wire_write_i16(w, key);
		wire_write_i16(w, table[key].min_version);
		wire_write_i16(w, table[key].max_version);
		wire_write_tags(w);
	}
	if (version >= 1)
		wire_write_i32(w, 0); /* throttle_time_ms: no quotas */
	wire_write_tags(w);
	return KB_OK;
}

/* KAFKA: ApiVersionsRequest.isValid: the client's software name and
 * version match [a-zA-Z0-9](?:[a-zA-Z0-9-.]*[a-zA-Z0-9])?; otherwise the
 * answer is INVALID_REQUEST with no api keys. */
static bool software_name_valid(struct wire_str s)
{
	if (s.len <= 0)
		return false;
	for (int32_t i = 0; i < s.len; i++) {
		char c = s.p[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9');
		bool inner = i > 0 && i < s.len - 1 && (c == '-' || c == '.');
		if (!alnum && !inner)
			return false;
	}
	return true;
}

/* KAFKA: a version we do not know gets the v0 body every client can read
 * (header v0 too): UNSUPPORTED_VERSION and our own ApiVersions range, so
 * the client retries at a version inside it (KIP-511). */
static int api_versions_unsupported(const struct net_api *self,
				    struct net_response *resp)
{
	struct wire_writer *w = &resp->w;
	w->flexible = false;
	wire_write_i16(w, KAFKA_ERR_UNSUPPORTED_VERSION);
	wire_write_array_len(w, 1);
	wire_write_i16(w, WIRE_API_API_VERSIONS);
	wire_write_i16(w, self->min_version);
	wire_write_i16(w, self->max_version);
	return KB_OK;
}

/* ---- Timers: the connection sweep ---- */

/* KAFKA: connections.max.idle.ms (Selector closes channels idle that
 * long; a parked request is not idle), plus frame_timeout_ms for a frame
 * whose bytes stopped coming. A connection quiet for a sweep period
 * gives back an input buffer grown for large frames. */
static void sweep_connections(void *ctx, int64_t now_ms)
{
	struct net_server *srv = ctx;
	struct net_conn *next;
	for (struct net_conn *c = srv->conns; c; c = next) {
		next = c->next; /* conn_close moves c to srv->closed */
		if (!c->parked && now_ms - c->last_active_ms >= srv->cfg.idle_ms) {
			KB_INFO("closing %s: idle for %lld ms "
				"(connections.max.idle.ms)", c->peer,
				(long long)(now_ms - c->last_active_ms));
			conn_close(c);
		} else if (c->frame_start_ms &&
			   now_ms - c->frame_start_ms >= srv->cfg.frame_timeout_ms) {
			KB_WARN("closing %s: %s for %lld ms", c->peer,
				c->handshaking ? "the handshake not finished"
					       : "partial request frame",
				(long long)(now_ms - c->frame_start_ms));
			conn_close(c);
		} else if (!c->parked && c->in.len == 0 &&
			   c->in.cap > 4 * NET_READ_CHUNK &&
			   now_ms - c->last_active_ms >= NET_SWEEP_MAX_MS) {
			kb_buf_fini(&c->in); /* a large frame's memory goes back */
		}
	}
}

/* ---- Connection state ---- */

/* Send what the socket takes (05_responses.c); close c if that failed.
 * INVARIANT 5: output that drained below the cap lets c's buffered
 * requests run again. */
static void conn_send(struct net_conn *c)
{
	if (c->close_at_ms) { /* held until close_due sends it */
		conn_update_events(c);
		return;
	}
	bool was_full = net_conn_output_full(c);
	if (net_conn_flush(c) != KB_OK) {
		conn_close(c);
		return;
	}
	if (was_full && !net_conn_output_full(c))
		net_conn_mark_ready(c);
	conn_update_events(c);
}

/* The epoll event the next read (writing false) or write of c waits for:
 * EPOLLIN and EPOLLOUT, unless the transport says otherwise. */
static uint32_t conn_waits_for(const struct net_conn *c, bool writing)
{
	if (c->tp->waits_for)
		return c->tp->waits_for(c, writing);
	return writing ? EPOLLOUT : EPOLLIN;
}

/* INVARIANT 1, 5: what epoll must watch for c now. */
static uint32_t conn_wanted_events(const struct net_conn *c)
{
	return (conn_reading(c) ? conn_waits_for(c, false) : 0) |
	       (c->out_head && !c->close_at_ms ? conn_waits_for(c, true) : 0);
}

/* Ask epoll for what the connection can use now: reads while reading,
 * writes while output waits (the events the transport waits for). */
static void conn_update_events(struct net_conn *c)
{
	if (c->closing)
		return;
	uint32_t want = conn_wanted_events(c);
	if (want == c->events)
		return;
	struct epoll_event ev = {.events = want, .data.ptr = c};
	if (epoll_ctl(c->srv->epfd, EPOLL_CTL_MOD, c->src.fd, &ev) != 0) {
		KB_ERROR("closing %s: epoll_ctl: %s", c->peer, strerror(errno));
		conn_close(c);
		return;
	}
	c->events = want;
}

/* The connections the purgatory or a drained queue made ready: close the
 * ones it found broken, run the rest (which sends their answers). */
static void process_ready(struct net_server *srv)
{
	while (srv->ready) {
		struct net_conn *c = srv->ready;
		srv->ready = c->ready_next;
		c->ready = false;
		if (c->failed)
			conn_close(c);
		else if (!c->closing && conn_reading(c) && c->tp->pending &&
			 c->tp->pending(c))
			conn_on_readable(c); /* bytes inside the transport */
		else if (!c->closing)
			conn_process(c);
	}
}

/* ---- Closing ---- */

void net_conn_close(struct net_conn *conn) { conn_close(conn); }

/* Close now, free later: handlers and net_wake may still hold c, so the
 * struct and its input bytes live until reap_closed. A parked op is
 * cancelled (its response has nowhere to go). */
static void conn_close(struct net_conn *c)
{
	struct net_server *srv = c->srv;
	if (c->closing)
		return;
	c->closing = true;
	if (c->parked)
		net_delayed_finish(c->parked);
	while (c->out_head)
		net_conn_pop(c); /* INVARIANT 6: its descriptors go too */
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->src.fd, NULL);
	if (c->from && c->from->auth && c->from->auth->close)
		c->from->auth->close(c); /* INVARIANT 6: SASL state too */
	c->auth_state = NULL;
	if (c->tp->close)
		c->tp->close(c); /* INVARIANT 6: its state goes too */
	c->tp_state = NULL;
	close(c->src.fd);
	c->src.fd = -1;
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->nconns--;
	c->next = srv->closed;
	srv->closed = c;
}

static void reap_closed(struct net_server *srv)
{
	while (srv->closed) {
		struct net_conn *c = srv->closed;
		srv->closed = c->next;
		kb_buf_fini(&c->in);
		free(c->principal);
		free(c);
	}
}

void net_server_free(struct net_server *srv)
{
	if (!srv)
		return;
	if (srv->peer_ops) { /* first: their reply fns still see a server */
		srv->peer_ops->close_all(srv);
		srv->peer_ops->reap(srv);
	}
	while (srv->conns)
		conn_close(srv->conns); /* cancels every parked op */
	reap_closed(srv);
	for (int i = 0; i < srv->nlisteners; i++)
		close(srv->listeners[i].src.fd);
	net_limits_fini(srv);
	if (srv->stop.fd >= 0)
		close(srv->stop.fd);
	if (srv->epfd >= 0)
		close(srv->epfd);
	net_purgatory_fini(srv);
	free(srv);
}

/* ---- Transport: plaintext ---- */

static ssize_t plain_read(struct net_conn *c, void *buf, size_t len)
{
	return recv(c->src.fd, buf, len, 0);
}

static ssize_t plain_writev(struct net_conn *c, const struct iovec *iov, int n)
{
	return writev(c->src.fd, iov, n);
}

/* ---- Introspection and checks ---- */

int net_connection_count(const struct net_server *srv) { return srv->nconns; }

/* INVARIANT 3: each listener's row count is what ApiVersions says, and
 * every listener answers ApiVersions. */
static void api_tables_check(const struct net_server *srv)
{
	for (int kind = 0; kind < NET_LISTENER_KINDS; kind++) {
		int rows = 0;
		for (int key = 0; key < WIRE_API_COUNT; key++) {
			const struct net_api *a = &srv->apis[kind][key];
			rows += a->fn != NULL;
			assert(!a->fn || (a->api_key == key &&
					  a->listeners & (1u << kind)));
		}
		assert(rows == srv->napis[kind]);
		assert(srv->apis[kind][WIRE_API_API_VERSIONS].fn);
		(void)rows;
	}
}

/* Every invariant of the chapter's files, asserted: once per reactor turn in
 * debug builds, and by the tests once the reactor has stopped. */
void net_check(const struct net_server *srv)
{
	int n = 0;
	for (const struct net_conn *c = srv->conns; c; c = c->next, n++) {
		assert(!c->closing && c->src.fd >= 0);
		assert(c->next == NULL || c->next->prev == c);
		net_conn_out_check(c);
		/* INVARIANT 1, 5: epoll watches what c can use now. */
		assert(c->events == conn_wanted_events(c) || c->ready);
		assert(c->in_pos <= c->in.len);
		assert((unsigned)c->listener < NET_LISTENER_KINDS);
		/* INVARIANT 8: only an authenticating listener's connections
		 * are ever unauthenticated, or read bare frames. */
		assert(c->authenticated || (c->from && c->from->auth));
		assert(!c->raw_frames || (c->from && c->from->auth));
		assert(!c->close_at_ms || srv->close_due_ms <= c->close_at_ms);
		kb_buf_check(&c->in);
	}
	assert(n == srv->nconns);
	api_tables_check(srv);
	for (const struct net_conn *c = srv->closed; c; c = c->next) {
		/* INVARIANT 6: a closed connection holds nothing. */
		assert(c->closing && c->src.fd < 0 && !c->parked &&
		       !c->tp_state && !c->auth_state);
		assert(!c->out_head && c->out_bytes == 0 && c->out_fds == 0);
	}
	net_limits_check(srv); /* INVARIANT 7 */
	net_purgatory_check(srv);
	if (srv->peer_ops)
		srv->peer_ops->check(srv); /* 05_peers.c's invariants */
	(void)n;
}
