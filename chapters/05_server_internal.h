/* SPDX-License-Identifier: MIT */
/*
 * Chapter 05, inside only: what its five files share. They form a
 * one-way stack, read in this order: 05_responses.c (getting answers
 * out), 05_purgatory.c (requests that wait; uses responses), 05_limits.c
 * (connection limits, a full descriptor table), 05_server.c (the
 * reactor; uses all three), 05_peers.c (outbound connections; plugs
 * into the reactor through struct net_peer_ops). A file calls only the
 * files before it: the functions below are listed by the file that
 * defines them. Later
 * chapters include 05_server.h, never this file. A parked op (struct
 * net_delayed), its watches and the timers stay private to
 * 05_purgatory.c.
 */
#ifndef SAMSA_SERVER_INTERNAL_H
#define SAMSA_SERVER_INTERNAL_H

#include <sys/types.h>
#include <sys/uio.h>

#include "00_base.h"
#include "04_codec.h"
#include "05_server.h"

#define NET_MAX_LISTENERS 8      /* KAFKA: one per name in `listeners` */
#define NET_PEER_LEN 64          /* "address:port" for logs */
/* KAFKA: DelayedOperationPurgatory shards its watcher lists 512 ways. */
#define NET_WATCH_BUCKETS 512
/* The output cap: a connection holding this many unsent bytes, or this
 * many descriptors for unsent file ranges, is not read (05_server.c,
 * Invariant 5) until it drains below both. */
#define NET_BACKPRESSURE_BYTES (16 * 1024 * 1024)
#define NET_BACKPRESSURE_FDS 64
/* Descriptors one response may hold; further file ranges are copied into
 * memory (05_responses.c, Invariant 4). So a connection holds fewer than
 * NET_BACKPRESSURE_FDS + NET_RESPONSE_MAX_FILES descriptors. */
#define NET_RESPONSE_MAX_FILES 64

struct net_watch;
struct net_timer;
struct net_peer;

/* What an epoll event points at: the first member of a listener, of the
 * stop eventfd, and of every connection, so one cast finds the kind. */
enum net_source_kind { NET_SRC_LISTENER, NET_SRC_STOP, NET_SRC_CONN,
		       NET_SRC_PEER };
struct net_source {
	enum net_source_kind kind;
	int fd; /* owned */
};

/* A listening socket and the role of the connections it accepts. */
struct net_listener {
	struct net_source src; /* first: epoll data points here */
	enum net_listener_kind kind;
	const struct net_transport *tp; /* borrowed: its connections' transport */
	void *tp_ctx;                   /* borrowed: handed to tp->open */
	char advertised_host[NET_HOST_MAX]; /* "" none (net_request_advertised) */
	int32_t advertised_port;
	char name[NET_LISTENER_NAME_MAX];  /* "" unnamed (net_request_listener_name) */
	const struct net_authenticator *auth; /* borrowed: NULL, or SASL */
	void *auth_ctx;                       /* borrowed: net_request_auth_ctx */
};

/* A response on its way out. It is sent as pieces: even piece 2k is the
 * memory between file ranges k-1 and k, odd piece 2k+1 is file range k. */
struct net_out {
	struct net_response resp; /* owned: memory and dup'd file fds */
	struct net_out *next;     /* the connection's queue */
	size_t piece;             /* next piece to send */
	uint64_t piece_off;       /* bytes of that piece already sent */
};

/* One client connection. Owned by the server's list until reap_closed. */
struct net_conn {
	struct net_source src;           /* first: epoll data points here */
	struct net_server *srv;          /* borrowed */
	const struct net_transport *tp;  /* borrowed: a static ops table */
	void *tp_state;                  /* owned by tp: freed by tp->close */
	char *principal;                 /* owned: NULL is "User:ANONYMOUS" */
	char peer[NET_PEER_LEN];
	char host[NET_PEER_LEN];         /* "/127.0.0.1", as Kafka prints it */
	enum net_listener_kind listener; /* which table serves it */
	const struct net_listener *from; /* borrowed: NULL if adopted */
	struct kb_buf in;                /* owned: bytes read, not yet freed */
	size_t in_pos;                   /* next frame starts here */
	struct net_out *out_head, *out_tail; /* owned: responses in order */
	uint64_t out_bytes;              /* unsent bytes in the queue */
	uint64_t out_fds;                /* dup'd descriptors in the queue */
	struct net_delayed *parked;      /* borrowed: our request's op */
	struct net_out *dispatching;     /* owned by conn_dispatch meanwhile */
	int64_t last_active_ms;          /* last byte moved, kb_mono_ms */
	int64_t frame_start_ms;          /* partial frame waiting since; 0 none */
	uint32_t events;                 /* epoll mask registered */
	bool closing, ready;
	bool handshaking;                /* net_conn_set_handshaking: the
					  * transport's handshake is running */
	bool failed;                     /* the purgatory found it broken: the
					  * reactor closes it (process_ready) */
	bool authenticated;              /* false: only the SASL APIs, small
					  * frames (net_conn_set_authenticated) */
	bool raw_frames;                 /* frames go to from->auth->raw_frame */
	int64_t session_expires_ms;      /* net_conn_set_session_expiry; 0:
					  * the authentication never expires */
	void *auth_state;                /* owned by from->auth: freed by its close */
	int64_t close_at_ms;             /* net_conn_close_at; 0: none. Muted
					  * both ways until then */
	struct net_conn *prev, *next;    /* srv->conns, then srv->closed */
	struct net_conn *ready_next;     /* srv->ready */
};

/* What the reactor calls in 05_peers.c, which comes after it: a hook
 * table the first net_peer_open installs, so 05_server.c never names a
 * function of a later file. */
struct net_peer_ops {
	void (*event)(struct net_source *src, uint32_t events); /* NET_SRC_PEER */
	void (*close_all)(struct net_server *srv);    /* net_server_free */
	void (*reap)(struct net_server *srv);         /* free closed peers */
	void (*check)(const struct net_server *srv);  /* net_check */
};

/* The server: one epoll set, its listeners, connections, the dispatch
 * table, the purgatory and the timers. Touched by the reactor thread
 * only, except stop.fd, which net_stop writes from anywhere. */
struct net_server {
	struct net_config cfg;
	int epfd;                            /* owned */
	struct net_source stop;              /* eventfd written by net_stop */
	struct net_listener listeners[NET_MAX_LISTENERS];
	int nlisteners;
	bool accepting;                      /* listeners in the epoll set */
	int64_t accept_resume_ms;            /* paused by EMFILE until then */
	int reserve_fd;                      /* owned: /dev/null, given up to
					      * accept and close at EMFILE */
	struct kb_ratelimit accept_log;      /* accept failures, refusals */
	/* The dispatch tables, one per listener kind, and their rows. */
	struct net_api apis[NET_LISTENER_KINDS][WIRE_API_COUNT];
	int napis[NET_LISTENER_KINDS];
	struct net_conn *conns, *closed, *ready; /* owned lists */
	int nconns;
	/* The purgatory and the timers: 05_purgatory.c's alone. */
	struct net_delayed **heap;           /* owned: min-heap by deadline */
	size_t heap_len, heap_cap;
	struct net_watch *watch[NET_WATCH_BUCKETS]; /* the watch map */
	int wake_depth;                      /* nested net_wake calls */
	struct net_delayed *graveyard;       /* ops freed when depth is 0 */
	struct net_timer *timers;            /* owned */
	size_t ntimers;
	struct net_peer *peers;              /* owned: 05_peers.c's open peers */
	struct net_peer *peers_closed;       /* owned: freed after the turn */
	const struct net_peer_ops *peer_ops; /* NULL until a peer opens */
	/* net_server_set_peer_transport: per kind of listener dialled. */
	const struct net_peer_transport *peer_tp[NET_LISTENER_KINDS]; /* borrowed; NULL: plaintext */
	void *peer_tp_ctx[NET_LISTENER_KINDS];                       /* borrowed */
	int (*before_send)(void *ctx);       /* net_set_before_send, or NULL */
	void *before_send_ctx;               /* borrowed */
	int64_t close_due_ms;                /* the close timer's time; INT64_MAX: unarmed */
	net_authorize_fn authorize;          /* net_set_authorizer, or NULL */
	void *authorize_ctx;                 /* borrowed */
	bool stopping;
};

/* ---- 05_responses.c, for the purgatory and the reactor ---- */

/* A response with a zero size prefix and h's response header; returns owned (net_out_free). */
struct net_out *net_out_new(const struct wire_request_header *h);
/* Patch the size prefix, queue out behind earlier ones (req NULL: a bare frame, not logged). takes: out (freed on failure). */
int net_conn_queue_response(struct net_conn *c, const struct net_request *req,
			    struct net_out *out);
/* Send what the socket takes now; KB_ERR_IO: the caller must close c. */
int net_conn_flush(struct net_conn *c);
/* Over the output cap (bytes or descriptors): stop reading c. */
bool net_conn_output_full(const struct net_conn *c);
/* Free the response at the head of c's queue (sent, or dropped). */
void net_conn_pop(struct net_conn *c);
/* Close a response's file fds and free it. */
void net_out_free(struct net_out *o);
/* The kafka.request.logger line (DEBUG) for a request that is done. */
void net_log_request(const struct net_request *req, uint64_t out_bytes);
/* Assert 05_responses.c's Invariant 3 on c's queue. */
void net_conn_out_check(const struct net_conn *c);

/* ---- 05_purgatory.c, for the reactor ---- */

/* Let c handle its buffered requests at the end of this reactor turn. */
void net_conn_mark_ready(struct net_conn *c);
/* End op (completed or cancelled with its connection), exactly once. */
void net_delayed_finish(struct net_delayed *op);
/* Give every op whose deadline has passed its last try. */
void net_expire_delayed(struct net_server *srv, int64_t now_ms);
/* Run the net_every callbacks that are due. */
void net_run_timers(struct net_server *srv, int64_t now_ms);
/* The earliest timer or deadline (kb_mono_ms clock); INT64_MAX if none. */
int64_t net_next_wakeup_ms(const struct net_server *srv);
/* Free the heap and the timers (the ops are gone with their conns). */
void net_purgatory_fini(struct net_server *srv);
/* Assert 05_purgatory.c's invariants on the heap and the watch map. */
void net_purgatory_check(const struct net_server *srv);

/* ---- 05_limits.c, for the reactor ---- */

/* Open the reserve descriptor; listeners start armed. */
void net_limits_init(struct net_server *srv);
/* Should the socket from host (numeric, peer for logs) be served? */
bool net_accept_admit(struct net_server *srv, const char *host,
		      const char *peer);
/* accept(2) on lfd failed with err: shed, rest the listeners, log once. */
void net_accept_failed(struct net_server *srv, int lfd, int err);
/* Listeners in the epoll set's view (on) or paused (off). */
void net_listeners_arm(struct net_server *srv, bool on);
/* Arm the listeners again once the backoff is over and a slot is free. */
void net_accept_maybe_resume(struct net_server *srv, int64_t now_ms);
/* Assert 05_limits.c's invariants. */
void net_limits_check(const struct net_server *srv);
/* Close the reserve descriptor. */
void net_limits_fini(struct net_server *srv);

#endif
