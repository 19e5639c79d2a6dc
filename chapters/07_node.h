/* SPDX-License-Identifier: MIT */
/*
 * Chapter 07, the node files — the quorum on the network (07_node.c), the
 * active controller behind it (07_controller_node.c) and a broker kept in
 * step with the metadata log (07_broker_node.c). They put the pure parts
 * of this chapter (Raft core, records, image, controller) onto chapter 05's
 * reactor. The lesson is in those three files, read in that order.
 */
#ifndef SAMSA_NODE_H
#define SAMSA_NODE_H

#include "00_base.h"
#include "05_server.h"
#include "06_topics.h"
#include "07_controller.h"
#include "07_metadata.h"
#include "07_raft.h"

#define RAFT_NODE_HOST_MAX 256 /* a voter's host, NUL included */
#define RAFT_NODE_SUBSCRIBERS_MAX 4
/* KAFKA: the leader parks an empty Fetch of the metadata log up to
 * fetch.max.wait.ms (KafkaRaftClient uses 500 ms). */
#define RAFT_NODE_FETCH_MAX_WAIT_MS 500

/* One entry of controller.quorum.voters: id@host:port. */
struct raft_node_voter {
	int32_t id;
	char host[RAFT_NODE_HOST_MAX];
	int port;
};

/* What the quorum node needs: the core's config and where voters are. */
struct raft_node_config {
	struct raft_config raft;      /* node_id, voter ids, timeouts, cluster_id */
	struct raft_node_voter voters[RAFT_MAX_VOTERS]; /* raft.n_voters of them */
	char log_dir[4096];           /* __cluster_metadata-0 is made here */
	int64_t snapshot_bytes;       /* metadata.log.max.record.bytes.between.snapshots */
};

struct raft_node;

/* Called after committed records were applied or the quorum changed
 * (leader, epoch, state). Read the node through its getters. */
typedef void (*raft_node_changed_fn)(void *ctx, struct raft_node *n);

/* ---- The quorum node (07_node.c) ---- */

/* Open the metadata log, the quorum-state file and the RPC handlers on
 * srv's CONTROLLER listener (a voter) ; returns owned *out. borrows: srv. */
int raft_node_open(struct net_server *srv, const struct raft_node_config *cfg,
		   struct raft_node **out);
/* Stop: peers closed, log flushed. Before net_server_free. */
void raft_node_close(struct raft_node *n);
/* Call fn(ctx, n) after each change (at most RAFT_NODE_SUBSCRIBERS_MAX). */
int raft_node_subscribe(struct raft_node *n, raft_node_changed_fn fn, void *ctx);
/* Stop calling fn with ctx. */
void raft_node_unsubscribe(struct raft_node *n, raft_node_changed_fn fn,
			   void *ctx);
/* The image of every committed record applied so far. borrowed. */
const struct meta_image *raft_node_image(const struct raft_node *n);
/* Offsets below this are in the image. */
int64_t raft_node_applied(const struct raft_node *n);
/* The core's view: state, quorum state (epoch, leader). */
enum raft_state raft_node_state(const struct raft_node *n);
struct raft_quorum_state raft_node_quorum(const struct raft_node *n);
/* The log's end offset: what the next proposed record gets. */
int64_t raft_node_end_offset(const struct raft_node *n);
/* Leader: append recs as one batch; *last_offset its last. KB_ERR_AGAIN if not leader. */
int raft_node_propose(struct raft_node *n, const struct raft_record *recs,
		      int count, int64_t *last_offset);
/* The address of voter id, or NULL. */
const struct raft_node_voter *raft_node_voter(const struct raft_node *n,
					      int32_t id);
/* This node's config (node id, cluster id...). */
const struct raft_node_config *raft_node_config(const struct raft_node *n);
/* Resign leadership (controlled shutdown of a controller). */
void raft_node_resign(struct raft_node *n);
/* Assert the node's invariants (07_node.c header). */
void raft_node_check(const struct raft_node *n);

/* ---- The active controller (07_controller_node.c) ---- */

struct ctrl_node;

/* Serve the controller's APIs on srv's CONTROLLER listener; acts while n
 * leads. borrows: srv, n, cfg->tm, cfg->cluster_id. returns owned *out. */
int ctrl_node_open(struct net_server *srv, struct raft_node *n,
		   const struct ctrl_config *cfg, struct ctrl_node **out);
/* Decide e's api here and serve it on the CONTROLLER listener (chapter 12's ACL APIs). */
int ctrl_node_extend(struct ctrl_node *cn, const struct ctrl_extension *e);
/* Answer what waits with NOT_CONTROLLER, free. */
void ctrl_node_close(struct ctrl_node *cn);

/* ---- The broker side (07_broker_node.c) ---- */

/* KAFKA: the broker listeners a registration carries (controller ones never). */
#define BROKER_NODE_LISTENERS_MAX 8

/* One broker listener to register (KAFKA: BrokerRegistration's Listener). */
struct broker_node_listener {
	char name[32];             /* "PLAINTEXT", "SSL", "INTERNAL" */
	int16_t security_protocol; /* KAFKA: SecurityProtocol id: PLAINTEXT 0,
				    * SSL 1, SASL_PLAINTEXT 2, SASL_SSL 3 */
};

/* What a broker registers with (KAFKA: BrokerLifecycleManager's inputs). */
struct broker_node_config {
	int32_t node_id;
	char cluster_id[RAFT_CLUSTER_ID_MAX + 1];
	char rack[64];                 /* broker.rack; "" = none */
	char listener_name[32];        /* inter.broker.listener.name */
	char host[RAFT_NODE_HOST_MAX]; /* its advertised host and port */
	int port;
	/* Every broker listener, each registered at the advertised address
	 * the server has for its name (net_server_advertised); none: only
	 * listener_name at host:port, as PLAINTEXT. */
	struct broker_node_listener listeners[BROKER_NODE_LISTENERS_MAX];
	int n_listeners;
	int64_t heartbeat_interval_ms; /* broker.heartbeat.interval.ms, 2000 */
	int64_t request_timeout_ms;    /* controller.quorum.request.timeout.ms */
	int64_t shutdown_timeout_ms;   /* how long controlled shutdown may take */
	/* After partitions this node leads changed (chapter 09 moves group
	 * coordination with them); NULL: nobody to tell. */
	void (*leaders_changed)(void *ctx);
	/* After every applied batch was synced into chapter 06's topics
	 * (chapter 08 follows leaders, epochs and ISRs); NULL: nobody. */
	void (*synced)(void *ctx);
	void *hook_ctx;                /* borrowed: the hooks' ctx */
};

struct broker_node;

/* Register, heartbeat, and apply the metadata log to tm's topics; install
 * chapter 06's cluster hooks. borrows: srv, n, tm. returns owned *out. */
int broker_node_open(struct net_server *srv, struct raft_node *n,
		     struct topic_manager *tm,
		     const struct broker_node_config *cfg,
		     struct broker_node **out);
/* Controlled shutdown: ask the controller, then done(ctx) once it agreed
 * or the timeout passed. */
void broker_node_shutdown(struct broker_node *bn, void (*done)(void *ctx),
			  void *ctx);
/* What an AllocateProducerIds answer gives: error or the block. */
typedef void (*broker_node_ids_fn)(void *ctx, int16_t error, int64_t start,
				   int32_t len);
/* KAFKA: RPCProducerIdManager: ask the active controller for a block of
 * producer ids (AllocateProducerIds 67). KB_OK: done(ctx, ...) runs once,
 * later; else it never runs. */
int broker_node_allocate_producer_ids(struct broker_node *bn,
				      broker_node_ids_fn done, void *ctx);
/* Send body (api, version) to the active controller; fn(ctx, ...) runs
 * once, later (KB_ERR_IO when the node closes first). KB_ERR_AGAIN: no
 * controller known or not registered yet; fn never runs. */
int broker_node_call_controller(struct broker_node *bn, int16_t api,
				int16_t version, const struct kb_buf *body,
				net_reply_fn fn, void *ctx);
/* This broker's epoch from its registration (-1: not registered). */
int64_t broker_node_epoch(const struct broker_node *bn);
/* KAFKA: inter.broker.listener.name: broker id's endpoint of that name
 * (what a follower's fetcher and every broker-to-broker connection dial)
 * into host[cap] and *port; KB_ERR_NOTFOUND when the image has none. */
int broker_node_endpoint(const struct broker_node *bn, int32_t id,
			 char *host, size_t cap, int *port);
/* Whether the controller has unfenced us (caught up and registered). */
bool broker_node_unfenced(const struct broker_node *bn);
/* Remove the hooks and free. */
void broker_node_close(struct broker_node *bn);

#endif
