/* SPDX-License-Identifier: MIT */
/*
 * Chapter 05 — server: the network side of a broker. One epoll reactor,
 * size-prefixed frames, a dispatch table of handlers by api key and
 * version, and delayed operations (purgatory) with deadlines.
 * Outbound connections to other nodes (peers) reuse the same reactor.
 * The only surface later chapters may use; the lesson is in
 * 05_responses.c, 05_purgatory.c, 05_limits.c, 05_server.c and
 * 05_peers.c, read in that order.
 */
#ifndef SAMSA_SERVER_H
#define SAMSA_SERVER_H

#include <sys/types.h>
#include <sys/uio.h>

#include "00_base.h"
#include "04_codec.h"

/* KAFKA defaults: socket.request.max.bytes 100 MiB,
 * connections.max.idle.ms 10 minutes, max.connections and
 * max.connections.per.ip Int.MaxValue. */
#define NET_DEFAULT_REQUEST_MAX_BYTES (100 * 1024 * 1024)
#define NET_DEFAULT_IDLE_MS (10LL * 60 * 1000)
#define NET_DEFAULT_MAX_CONNECTIONS INT32_MAX
/* max.connections.per.ip.overrides: at most this many "host:count". */
#define NET_MAX_IP_OVERRIDES 16
#define NET_HOST_MAX 64
/* Room for a listener name ("PLAINTEXT", "INTERNAL"), NUL included. */
#define NET_LISTENER_NAME_MAX 32
/* A frame whose bytes stop arriving is dropped after this long. */
#define NET_DEFAULT_FRAME_TIMEOUT_MS (30LL * 1000)

/* What a handler returns besides KB_OK (response ready to send) and
 * KB_ERR_PROTO (malformed request: the connection is closed, as Kafka
 * does on an InvalidRequestException). */
#define NET_PARKED 1      /* net_park() took the response; it completes later */
#define NET_NO_RESPONSE 2 /* nothing is sent back (Produce with acks=0) */

struct net_server;
struct net_conn;
struct net_delayed;
struct net_authenticator;

/* KAFKA: a listener's role. The CONTROLLER listener serves only the
 * controller's APIs; the broker listener the clients' and brokers'. */
enum net_listener_kind { NET_LISTENER_BROKER = 0, NET_LISTENER_CONTROLLER = 1 };
#define NET_LISTENER_KINDS 2

/* How bytes move on a connection: the seam where chapter 13 puts TLS
 * (KAFKA: TransportLayer, PlaintextTransportLayer / SslTransportLayer).
 * read and writev behave as recv(2) and writev(2): -1 with errno EAGAIN
 * when they cannot move bytes now. can_sendfile is false when bytes must
 * pass through user space to be encrypted: file ranges are then copied
 * through a bounce buffer. The hooks below may be NULL (plaintext). */
struct net_transport {
	const char *name;
	ssize_t (*read)(struct net_conn *c, void *buf, size_t len);
	ssize_t (*writev)(struct net_conn *c, const struct iovec *iov, int n);
	bool can_sendfile;
	/* A connection accepted on a listener of this transport: set up its
	 * state (net_conn_set_transport_state); not KB_OK closes it. */
	int (*open)(struct net_conn *c, void *ctx);
	/* The connection is closing: free its state. */
	void (*close)(struct net_conn *c);
	/* The epoll event the next read (writing false) or write waits for,
	 * EPOLLIN or EPOLLOUT: a TLS read may need the socket writable. NULL:
	 * reads wait for EPOLLIN, writes for EPOLLOUT. */
	uint32_t (*waits_for)(const struct net_conn *c, bool writing);
	/* Bytes already read from the socket and waiting inside the
	 * transport, which no epoll event will announce. NULL: never. */
	bool (*pending)(const struct net_conn *c);
};

/* Where to listen, and for whom (KAFKA: one entry of `listeners`). */
struct net_endpoint {
	const char *host; /* numeric or a name; NULL or "": every address */
	int port;         /* 0: any free port */
	enum net_listener_kind kind;
	const struct net_transport *tp; /* borrowed, static; NULL: plaintext */
	void *tp_ctx;     /* borrowed: handed to tp->open; outlives the server */
	/* KAFKA: advertised.listeners' entry for this listener, what
	 * Metadata tells a client that came in here (copied); NULL: none. */
	const char *advertised_host;
	int advertised_port; /* 0: the port bound */
	/* KAFKA: SASL_PLAINTEXT / SASL_SSL: connections start
	 * unauthenticated (see "Authentication" below); NULL: none. */
	const struct net_authenticator *auth; /* borrowed, static */
	void *auth_ctx;   /* borrowed: net_request_auth_ctx; outlives the server */
	/* KAFKA: the listener's name ("SSL", "INTERNAL"; copied): Metadata
	 * answers with every broker's endpoint of that name. NULL: "". */
	const char *name;
};

/* One row of max.connections.per.ip.overrides: a numeric address. */
struct net_ip_limit {
	char host[NET_HOST_MAX]; /* "127.0.0.1", "::1" */
	int max;
};

/* Server settings (KAFKA: broker config keys in the comments). */
struct net_config {
	int64_t request_max_bytes;    /* socket.request.max.bytes */
	int64_t idle_ms;              /* connections.max.idle.ms */
	int max_connections;          /* max.connections: the acceptor waits */
	int max_connections_per_ip;   /* max.connections.per.ip: closed at once */
	struct net_ip_limit ip_overrides[NET_MAX_IP_OVERRIDES];
	int n_ip_overrides;           /* max.connections.per.ip.overrides */
	int64_t frame_timeout_ms;     /* a partial frame older than this is dropped */
};

/* Kafka's defaults for every field. */
void net_config_defaults(struct net_config *cfg);

/* One request, as the dispatcher hands it to a handler. The body reader
 * starts after the request header with r.flexible set for this version.
 * Everything here is valid until the response is sent (or the handler
 * returns, for NET_NO_RESPONSE and errors). */
struct net_request {
	struct net_server *srv;            /* borrowed */
	struct net_conn *conn;             /* borrowed */
	void *ctx;                         /* borrowed: from net_register */
	struct wire_request_header header; /* client_id views the frame */
	struct wire_reader body;           /* over the rest of the frame */
	int64_t received_ns;               /* kb_mono_ns() when it arrived */
	enum net_listener_kind listener;   /* the listener it arrived on */
};

/* The client's address as DescribeGroups' client_host prints it ("/127.0.0.1"; "/" if adopted). */
const char *net_conn_host(const struct net_conn *c);
/* The advertised address of the listener req came in on (KAFKA: Metadata answers with the endpoint of the request's listener); false if none. */
bool net_request_advertised(const struct net_request *req, const char **host,
			    int32_t *port);
/* The name of the listener req came in on ("" when unnamed or adopted). */
const char *net_request_listener_name(const struct net_request *req);
/* The advertised address of the broker listener named name (as bound
 * when its port was 0); false when there is none. */
bool net_server_advertised(const struct net_server *srv, const char *name,
			   const char **host, int32_t *port);
/* "address:port" of the client, for log lines. */
const char *net_conn_peer(const struct net_conn *c);
/* KAFKA: KafkaPrincipal, "User:ANONYMOUS" unless a transport set one (TLS: "User:" + the certificate's DN). valid until: the connection is freed. */
const char *net_request_principal(const struct net_request *req);
/* The connection's principal; copies p. KB_ERR_NOMEM. */
int net_conn_set_principal(struct net_conn *c, const char *p);
/* The socket under a transport (chapter 13 hands it to OpenSSL). */
int net_conn_fd(const struct net_conn *c);
/* The transport's per-connection state (borrowed by the caller; owned by the transport). */
void *net_conn_transport_state(const struct net_conn *c);
/* Set it in tp->open; tp->close frees it. */
void net_conn_set_transport_state(struct net_conn *c, void *state);
/* A transport's handshake began (on) or finished (off): while on, the connection gets frame_timeout_ms, as a partial frame does. */
void net_conn_set_handshaking(struct net_conn *c, bool on);
/* View b of req->body as writable memory (Produce stamps offsets in place); NULL if outside the frame. */
uint8_t *net_request_writable(struct net_request *req, struct wire_bytes b);

/* A response being built. The server has already written the size prefix
 * and the response header; the handler writes the body with w. To send a
 * byte range of a file without copying it (sendfile(2), KAFKA: zero-copy
 * fetch), call net_response_add_file between writes: the bytes go out in
 * the order they were added. */
struct net_response {
	struct wire_writer w;      /* writes into the response's memory */
	struct kb_buf mem;         /* owned: frame bytes held in memory */
	struct net_file_part *files; /* owned: file ranges spliced into mem */
	size_t nfiles, files_cap;
	uint64_t file_bytes;       /* sum of file range lengths */
};

/* A file range inside a response: sent after mem[0, at). */
struct net_file_part {
	size_t at;    /* position in mem where the range goes */
	int fd;       /* owned: a dup() of the caller's fd */
	uint64_t offset;
	uint64_t length;
};

/* Splice fd[offset, offset+length) in here, from a dup of fd (copied past a bound; docs/05_responses.md). */
int net_response_add_file(struct net_response *resp, int fd, uint64_t offset,
			  uint64_t length);

/* A handler for one api key. Returns KB_OK, NET_PARKED, NET_NO_RESPONSE
 * or KB_ERR_PROTO (see above). */
typedef int (*net_handler_fn)(struct net_request *req,
			      struct net_response *resp);

/* ---- Lifecycle ---- */

/* A server with ApiVersions registered; returns owned *out (net_server_free). */
int net_server_new(const struct net_config *cfg, struct net_server **out);
/* Close every peer (their calls fail), connection and listener, cancel delayed operations, free. */
void net_server_free(struct net_server *srv);
/* Listen on host:port (0: any; *bound_port may be NULL); KB_ERR_EXISTS, unlogged, if in use. */
int net_listen(struct net_server *srv, const char *host, int port,
	       int *bound_port);
/* Listen on ep for ep->kind's APIs (KB_ERR_EXISTS, unlogged, if in use); net_listen means a BROKER listener. */
int net_listen_at(struct net_server *srv, const struct net_endpoint *ep,
		  int *bound_port);
/* Serve a connected socket as if accepted (tests, fuzzer). takes: fd. */
int net_adopt(struct net_server *srv, int fd);
/* One reactor turn: events (waiting up to timeout_ms), timers, deadlines. */
int net_run_once(struct net_server *srv, int timeout_ms);
/* Run the reactor until net_stop. */
int net_run(struct net_server *srv);
/* Make net_run return after the current event. Async-signal-safe. */
void net_stop(struct net_server *srv);

/* ---- Dispatch table ---- */

/* One row of the dispatch table: an API, the versions served, its
 * handler, the listeners it is served on. A chapter keeps its rows in a
 * static table and fills in ctx when it registers them. Each listener
 * kind has its own table (KAFKA: ApiVersionManager per listener). */
struct net_api {
	int16_t api_key;
	int16_t min_version, max_version;
	net_handler_fn fn;
	void *ctx;         /* borrowed: handed to fn */
	uint8_t listeners; /* bitmask of (1u << kind); 0: BROKER only */
};

/* Serve api->api_key on each of its listeners (KB_ERR_EXISTS if one has it); ApiVersions advertises each table. */
int net_register(struct net_server *srv, const struct net_api *api);

/* ---- Delayed operations (KAFKA: purgatory) ---- */

/* Woken (expired false) or at the deadline (true, must answer): true once resp's body is written. */
typedef bool (*net_try_complete_fn)(struct net_delayed *op,
				    struct net_response *resp, bool expired);

/* What a parked request waits for (KAFKA: a DelayedOperation's delayMs,
 * tryComplete and the state it carries). */
struct net_wait {
	int64_t deadline_ms;              /* kb_mono_ms clock */
	net_try_complete_fn try_complete; /* not NULL */
	void *ctx;                        /* owned by the op from net_park on */
	void (*free_ctx)(void *ctx);      /* frees ctx, or NULL */
};

/* Park the request until w->try_complete answers or w->deadline_ms passes; its connection is muted. takes: w->ctx. */
int net_park(struct net_request *req, struct net_response *resp,
	     const struct net_wait *w, struct net_delayed **out);

/* Watch key (any stable pointer, e.g. a partition's log) for op. */
int net_watch(struct net_delayed *op, const void *key);
/* Ask every op watching key to try to complete (data appended, a group rebalanced...). */
void net_wake(struct net_server *srv, const void *key);
/* The ctx given to net_park. */
void *net_delayed_ctx(const struct net_delayed *op);

/* ---- Timers ---- */

/* What a timer calls, on the reactor thread: fn(ctx, now_ms). */
struct net_callback {
	void (*fn)(void *ctx, int64_t now_ms);
	void *ctx; /* borrowed */
};

/* Call cb every period_ms on the reactor thread. */
int net_every(struct net_server *srv, int64_t period_ms,
	      struct net_callback cb);

/* Call cb once, at at_ms (kb_mono_ms clock). Calling it again with the
 * same fn and ctx moves that one call; INT64_MAX cancels it (deadlines
 * that move: group sessions). */
int net_at(struct net_server *srv, int64_t at_ms, struct net_callback cb);

/* ---- Before a response leaves ---- */

/* The one hook run before a connection's answers leave (chapter 06 fsyncs); failing closes it. borrows: ctx. */
void net_set_before_send(struct net_server *srv, int (*fn)(void *ctx),
			 void *ctx);

/* ---- Who is asking (the authorizer hook; chapter 12 installs it) ---- */

/* KAFKA: the int8 codes of ResourceType and AclOperation, as chapter 12
 * names them (ACL_RESOURCE_*, ACL_OP_*): handlers of earlier chapters ask
 * with these, so they need not include chapter 12. */
#define NET_RESOURCE_TOPIC 2
#define NET_RESOURCE_GROUP 3
#define NET_RESOURCE_CLUSTER 4
#define NET_RESOURCE_TRANSACTIONAL_ID 5
#define NET_OP_READ 3
#define NET_OP_WRITE 4
#define NET_OP_CREATE 5
#define NET_OP_DELETE 6
#define NET_OP_ALTER 7
#define NET_OP_DESCRIBE 8
#define NET_OP_CLUSTER_ACTION 9
#define NET_OP_DESCRIBE_CONFIGS 10
#define NET_OP_ALTER_CONFIGS 11
#define NET_OP_IDEMPOTENT_WRITE 12
/* KAFKA: Resource.CLUSTER_NAME, the one name of the CLUSTER resource. */
#define NET_CLUSTER_NAME "kafka-cluster"
/* KAFKA: KafkaPrincipal.ANONYMOUS, the principal of an unauthenticated connection. */
#define NET_PRINCIPAL_ANONYMOUS "User:ANONYMOUS"

/* One question to the authorizer: may req's principal do operation on
 * the resource (type, name[0..len))? KAFKA: Authorizer.authorize. A NULL
 * name asks about any resource of the type (authorizeByResourceType). */
typedef bool (*net_authorize_fn)(void *ctx, const struct net_request *req,
				 int8_t operation, int8_t resource_type,
				 const char *name, size_t len);
/* Install the authorizer (NULL: every request is allowed, as before). borrows: ctx. */
void net_set_authorizer(struct net_server *srv, net_authorize_fn fn, void *ctx);
/* True when no authorizer is installed or it allows; the CONTROLLER listener is never checked. */
bool net_authorized(const struct net_request *req, int8_t operation,
		    int8_t resource_type, const char *name, size_t len);
/* net_authorized for operation on the cluster (NET_CLUSTER_NAME). */
bool net_authorized_cluster(const struct net_request *req, int8_t operation);
/* Whether an authorizer is installed (handlers skip filtering work without one). */
bool net_authorizer_on(const struct net_server *srv);

/* ---- Authentication (the SASL seam; chapter 13 fills it) ---- */

/* KAFKA: sasl.server.max.receive.size (524288), the largest frame read
 * from a connection before it is authenticated (CVE-2022-34917's fix). */
#define NET_UNAUTHENTICATED_MAX_BYTES (512 * 1024)

/* How a listener authenticates (KAFKA: SaslServerAuthenticator). A
 * connection accepted on a listener with one is unauthenticated until
 * net_conn_set_authenticated: it is served ApiVersions, SaslHandshake and
 * SaslAuthenticate only (any other key closes it), and a frame over
 * NET_UNAUTHENTICATED_MAX_BYTES closes it. */
struct net_authenticator {
	const char *name;
	/* A frame while net_conn_set_raw_frames is on: not a Kafka request
	 * but a bare token (KAFKA: SASL after SaslHandshake v0). Anything
	 * but KB_OK closes c. */
	int (*raw_frame)(struct net_conn *c, const uint8_t *frame, size_t len);
	/* c is closing: free what net_conn_set_auth_state gave it. */
	void (*close)(struct net_conn *c);
};

/* The auth_ctx of the listener req came in on; NULL when it has none. */
void *net_request_auth_ctx(const struct net_request *req);
/* False from accept on an authenticating listener until net_conn_set_authenticated. */
bool net_conn_authenticated(const struct net_conn *c);
/* Lift the limits above: every API, socket.request.max.bytes. */
void net_conn_set_authenticated(struct net_conn *c);
/* KAFKA: connections.max.reauth.ms (KIP-368): past at_ms (monotonic; 0:
 * never) an authenticated connection is served only SaslHandshake and
 * SaslAuthenticate (a re-authentication); any other request closes it. */
void net_conn_set_session_expiry(struct net_conn *c, int64_t at_ms);
/* The authenticator's per-connection state (owned by it; its close frees it). */
void *net_conn_auth_state(const struct net_conn *c);
void net_conn_set_auth_state(struct net_conn *c, void *state);
/* Hand c's next frames to auth->raw_frame (on) or parse them as requests (off). */
void net_conn_set_raw_frames(struct net_conn *c, bool on);
/* Queue a size-prefixed frame of p[0..len) with no response header (a raw token). */
int net_conn_send_frame(struct net_conn *c, const void *p, size_t len);
/* KAFKA: a delayed close (connection.failed.authentication.delay.ms):
 * from now c reads and sends nothing; at at_ms what it queued gets one
 * non-blocking send and c closes. A timer, not a sleep. */
int net_conn_close_at(struct net_conn *c, int64_t at_ms);

/* ---- Outbound connections to other nodes (05_peers.c) ---- */

/* An outbound connection to another node, reconnecting (KAFKA:
 * NetworkClient / NodeToControllerChannelManager's channel). */
struct net_peer;

/* Where and how to call (KAFKA: the client configs in the comments). */
struct net_peer_config {
	const char *host;             /* copied */
	int port;
	const char *client_id;        /* copied; sent in every request header */
	int64_t request_timeout_ms;   /* request.timeout.ms: unanswered this long fails */
	int64_t reconnect_backoff_ms; /* reconnect.backoff.ms: wait after a failure */
	/* Which kind of listener host:port is: false, a controller's (the
	 * quorum, registration, heartbeats, forwarding); true, a broker's
	 * inter-broker listener (chapter 08's fetchers). It picks the
	 * transport net_server_set_peer_transport gave that kind. */
	bool inter_broker;
};

/* How a peer's bytes move: the client side of struct net_transport,
 * where chapter 13 puts TLS (KAFKA: SslTransportLayer in client mode).
 * state is the transport's own, made by open and freed by close. read
 * and write behave as recv(2) and send(2): -1 with errno EAGAIN when
 * they cannot move bytes now, and waits_for then names the epoll event
 * (EPOLLIN or EPOLLOUT) the blocked call needs. */
struct net_peer_transport {
	const char *name;          /* "SSL", for logs */
	/* TCP is connected on fd to host (the name dialled: TLS checks the
	 * certificate against it). Not KB_OK: treated as a failed connect. */
	int (*open)(void *ctx, int fd, const char *host, void **state);
	/* 1: the handshake is done; -1 with errno EAGAIN: not yet
	 * (waits_for(state, false) says for what); -1 otherwise: failed,
	 * logged by the transport. */
	int (*handshake)(void *state);
	ssize_t (*read)(void *state, void *buf, size_t len);
	ssize_t (*write)(void *state, const void *buf, size_t len);
	uint32_t (*waits_for)(const void *state, bool writing);
	/* Bytes read from the socket and held inside: no epoll event comes. */
	bool (*pending)(const void *state);
	/* Why the last call failed, in words ("" if it did not), for the
	 * peer's log line (valid until the next call on state). */
	const char *(*why)(const void *state);
	void (*close)(void *state); /* before the socket closes */
};

/* status KB_OK: body reads the response after its header (flexible per
 * the api/version), valid until fn returns; else KB_ERR_IO (connect
 * failed / connection lost) or KB_ERR_AGAIN (timed out) and body is NULL.
 * Called once per call, on the reactor thread, never from inside
 * net_peer_send. */
typedef void (*net_reply_fn)(void *ctx, int status, struct wire_reader *body);

/* One request to send: its header is written by the peer. */
struct net_call {
	int16_t api_key, api_version;
	const void *body;   /* the request body (copied), after the header */
	size_t len;
	net_reply_fn fn;    /* not NULL */
	void *ctx;          /* borrowed until fn runs */
};

/* Peers dialling a listener of kind (struct net_peer_config's inter_broker) go through tp with ctx (borrowed: outlives srv); tp NULL: plaintext, the default. Set before the first send. */
void net_server_set_peer_transport(struct net_server *srv,
				   enum net_listener_kind kind,
				   const struct net_peer_transport *tp,
				   void *ctx);
/* A peer of srv (reactor thread); connects on the first send; returns owned *out (net_peer_close). */
int net_peer_open(struct net_server *srv, const struct net_peer_config *cfg,
		  struct net_peer **out);
/* Queue a call; connects (non-blocking) if needed. The peer writes the request header (correlation id, client id) and the size prefix. */
int net_peer_send(struct net_peer *p, const struct net_call *call);
/* Whether the connection is up now (for logs and tests). */
bool net_peer_connected(const struct net_peer *p);
/* Close; every call still pending gets fn(ctx, KB_ERR_IO, NULL) before it returns. */
void net_peer_close(struct net_peer *p);

/* ---- Introspection (tests, metrics) ---- */

/* Connections open now. */
int net_connection_count(const struct net_server *srv);
/* Assert every invariant of chapter 05 (reactor thread, or after it stopped). */
void net_check(const struct net_server *srv);
/* Close a connection from the broker side (tests drop clients mid-flight). */
void net_conn_close(struct net_conn *conn);

#endif
