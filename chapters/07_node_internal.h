/* SPDX-License-Identifier: MIT */
/*
 * Chapter 07, the quorum node's inside: struct raft_node and what its two
 * files share. 07_node.c drives the Raft core; 07_node_snapshot.c writes,
 * loads, serves and downloads the snapshots. Only those two include it.
 */
#ifndef SAMSA_NODE_INTERNAL_H
#define SAMSA_NODE_INTERNAL_H
#include "00_base.h"
#include "04_codec.h"
#include "05_server.h"
#include "07_metadata.h"
#include "07_node.h"
#include "07_quorum_log.h"
#include "07_raft.h"

struct node_subscriber {
	raft_node_changed_fn fn;
	void *ctx; /* borrowed */
};

/* The response a stepped request is waiting for (KAFKA: the request's
 * correlation in RaftRequest.Inbound). */
struct node_answer {
	enum raft_msg_type type; /* the response type expected */
	int32_t to;              /* the requester */
	int32_t correlation_id;
	int16_t version;
	struct kb_buf *out;      /* the response body goes here */
	bool answered;
};

/* The snapshot being fetched into a .part file, chunk by chunk. */
struct node_snapshot_fetch {
	bool active, in_flight;
	struct raft_offset_epoch id;
	int32_t leader;
	int64_t position;
	int fd;                 /* the .part file; -1 when none */
	char part[4096 + 16];
};

/* The high watermark a replica's last Fetch answer carried: a Fetch that
 * brings no records but would tell a newer HW is answered at once. */
#define NODE_SENT_HW_SLOTS 16
struct node_sent_hw {
	int32_t replica_id;
	bool used;
	int64_t hw;
};

/* One quorum node. Owned by chapter 15's broker; reactor thread only. */
struct raft_node {
	struct raft_node_config cfg;
	struct net_server *srv;          /* borrowed */
	struct raft_metadata_log *log;   /* owned */
	struct raft *raft;               /* owned */
	struct net_peer *peers[RAFT_MAX_VOTERS]; /* owned; NULL for us */
	struct meta_image img;           /* owned: the committed records */
	int64_t applied;                 /* INVARIANT 2 */
	int32_t applied_epoch;           /* epoch of the record at applied - 1 */
	int64_t bytes_since_snapshot;    /* batch bytes applied since the last */
	struct raft_offset_epoch snapshot_id; /* the newest written or loaded */
	struct node_snapshot_fetch sf;   /* a follower's download of one */
	struct node_answer *answer;      /* the request being stepped, or NULL */
	struct node_subscriber subs[RAFT_NODE_SUBSCRIBERS_MAX];
	int nsubs;
	struct raft_quorum_state seen_qs; /* what subscribers were last told */
	enum raft_state seen_state;
	int64_t seen_end, seen_hw;        /* what parked fetches last saw */
	int64_t last_end;                 /* the log end after the last step */
	bool refused_by[RAFT_MAX_VOTERS]; /* said INCONSISTENT_CLUSTER_ID (logged) */
	struct node_sent_hw sent[NODE_SENT_HW_SLOTS]; /* HW each fetcher was told */
	bool wake_pending;                /* a wake timer is set */
	bool persist_failed;              /* quorum-state could not be written */
	struct raft_quorum_state persist_pending; /* the newest unwritten one */
	int64_t persist_retry_ms;         /* node_tick's next try (kb_mono_ms) */
	bool closing;
};
/* 07_node.c: pop the core's outbox in order (INVARIANT 1), apply what is
 * committed, tell subscribers. */
void node_drain(struct raft_node *n);

/* 07_node_snapshot.c: */
/* At open: the newest snapshot into the image (leftover .part files go). */
int node_load_snapshot(struct raft_node *n);
/* After applying: a snapshot every cfg.snapshot_bytes of batches. */
void node_maybe_snapshot(struct raft_node *n);
/* FetchSnapshot (59) on the leader. */
int handle_fetch_snapshot(struct net_request *req, struct net_response *resp);
/* The core asked for snapshot id from leader: download it (once). */
void node_snapshot_start(struct raft_node *n, struct raft_offset_epoch id,
			 int32_t leader);
/* Stop a download: delete the .part, tell the core (it Fetches again). */
void node_snapshot_abort(struct raft_node *n);

#endif
