/* SPDX-License-Identifier: MIT */
/*
 * Chapter 05, inside only: what 05_server.c, 05_purgatory.c and
 * 05_responses.c share. The server's struct, a connection's and a queued
 * response's are defined here because more than one file touches them;
 * the few functions below cross between the files. Later chapters
 * include 05_server.h, never this file. A parked op (struct
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

#define NET_MAX_LISTENERS 4      /* KAFKA: one per name in `listeners` */
#define NET_PEER_LEN 64          /* "address:port" for logs */
/* KAFKA: DelayedOperationPurgatory shards its watcher lists 512 ways. */
#define NET_WATCH_BUCKETS 512
/* Unsent bytes above which a connection is not read (05_server.c,
 * Invariant 5; 05_responses.c resumes it below). */
#define NET_BACKPRESSURE_BYTES (16 * 1024 * 1024)

struct net_watch;
struct net_timer;

/* What an epoll event points at: the first member of a listener, of the
 * stop eventfd, and of every connection, so one cast finds the kind. */
enum net_source_kind { NET_SRC_LISTENER, NET_SRC_STOP, NET_SRC_CONN };
struct net_source {
	enum net_source_kind kind;
	int fd; /* owned */
};

/* How bytes move on a connection: the seam where chapter 13 puts TLS.
 * can_sendfile is false when bytes must pass through user space to be
 * encrypted, and file ranges are then copied through a bounce buffer. */
struct net_transport {
	const char *name;
	ssize_t (*read)(struct net_conn *c, void *buf, size_t len);
	ssize_t (*writev)(struct net_conn *c, const struct iovec *iov, int n);
	bool can_sendfile;
};

/* One row of the dispatch table; fn NULL means not registered. */
struct net_api {
	net_handler_fn fn;
	void *ctx; /* borrowed: from net_register */
	int16_t min_version, max_version;
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
	char peer[NET_PEER_LEN];
	char host[NET_PEER_LEN];         /* "/127.0.0.1", as Kafka prints it */
	struct kb_buf in;                /* owned: bytes read, not yet freed */
	size_t in_pos;                   /* next frame starts here */
	struct net_out *out_head, *out_tail; /* owned: responses in order */
	uint64_t out_bytes;              /* unsent bytes in the queue */
	struct net_delayed *parked;      /* borrowed: our request's op */
	struct net_out *dispatching;     /* owned by conn_dispatch meanwhile */
	int64_t last_active_ms;          /* last byte moved, kb_mono_ms */
	int64_t frame_start_ms;          /* partial frame waiting since; 0 none */
	uint32_t events;                 /* epoll mask registered */
	bool closing, ready;
	struct net_conn *prev, *next;    /* srv->conns, then srv->closed */
	struct net_conn *ready_next;     /* srv->ready */
};

/* The server: one epoll set, its listeners, connections, the dispatch
 * table, the purgatory and the timers. Touched by the reactor thread
 * only, except stop.fd, which net_stop writes from anywhere. */
struct net_server {
	struct net_config cfg;
	int epfd;                            /* owned */
	struct net_source stop;              /* eventfd written by net_stop */
	struct net_source listeners[NET_MAX_LISTENERS];
	int nlisteners;
	struct net_api apis[WIRE_API_COUNT]; /* the dispatch table */
	int napis;                           /* rows registered */
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
	int (*before_send)(void *ctx);       /* net_set_before_send, or NULL */
	void *before_send_ctx;               /* borrowed */
	bool stopping;
};

/* ---- 05_server.c, for the purgatory and the responses ---- */

/* Let c handle its buffered requests at the end of this reactor turn. */
void net_conn_mark_ready(struct net_conn *c);
/* Ask epoll for EPOLLIN while c reads, EPOLLOUT while output waits. */
void net_conn_update_events(struct net_conn *c);

/* ---- 05_responses.c, for the reactor and the purgatory ---- */

/* returns owned (net_out_free): a response with its size prefix
 * reserved and the response header for h written. */
struct net_out *net_out_new(const struct wire_request_header *h);
/* Patch the size prefix and queue out behind earlier responses.
 * takes: out (freed on failure). */
int net_conn_queue_response(struct net_conn *c, const struct net_request *req,
			    struct net_out *out);
/* Send what the socket takes now; the rest waits for EPOLLOUT. */
void net_conn_flush(struct net_conn *c);
/* Free the response at the head of c's queue (sent, or dropped). */
void net_conn_pop(struct net_conn *c);
/* Close a response's file fds and free it. */
void net_out_free(struct net_out *o);
/* The kafka.request.logger line (DEBUG) for a request that is done. */
void net_log_request(const struct net_request *req, uint64_t out_bytes);

/* ---- 05_purgatory.c, for the reactor ---- */

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

#endif
