/* SPDX-License-Identifier: MIT */
/*
 * Chapter 07, first file — the Raft core of the KRaft quorum: a pure state
 * machine (no sockets, files or clock). The lesson is in 07_raft.c.
 */
#ifndef SAMSA_RAFT_H
#define SAMSA_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "00_base.h"
#include "04_codec.h"

#define RAFT_MAX_VOTERS 7      /* voters in controller.quorum.voters */
/* KAFKA: KafkaRaftClient.MAX_BATCH_SIZE_BYTES and MAX_FETCH_SIZE_BYTES. */
#define RAFT_BATCH_MAX_BYTES (8 * 1024 * 1024)
#define RAFT_FETCH_MAX_BYTES RAFT_BATCH_MAX_BYTES
#define RAFT_OUTBOX_MAX 32     /* outputs one raft_step/raft_tick may queue */
#define RAFT_NO_ID (-1)        /* no leader / no vote (KAFKA: -1) */
#define RAFT_CLUSTER_ID_MAX 22 /* a cluster.id: a base64 UUID, 22 chars */

/* The six states of KRaft's QuorumState (KIP-595, KIP-996). */
enum raft_state {
	RAFT_UNATTACHED, RAFT_PROSPECTIVE, RAFT_CANDIDATE,
	RAFT_LEADER, RAFT_FOLLOWER, RAFT_RESIGNED,
};

/* Kafka's configs (QuorumConfig), in milliseconds; see raft_config_defaults. */
struct raft_config {
	char cluster_id[RAFT_CLUSTER_ID_MAX + 1]; /* meta.properties */
	int32_t node_id;                 /* node.id */
	int32_t voters[RAFT_MAX_VOTERS]; /* ids in controller.quorum.voters */
	int n_voters;
	int64_t election_timeout_ms;     /* controller.quorum.election.timeout.ms */
	int64_t fetch_timeout_ms;        /* controller.quorum.fetch.timeout.ms */
	int64_t request_timeout_ms;      /* controller.quorum.request.timeout.ms */
	int64_t retry_backoff_ms;        /* controller.quorum.retry.backoff.ms */
	int32_t fetch_max_bytes;         /* PartitionMaxBytes of our Fetch */
	uint64_t seed;                   /* seeds the randomised timeouts */
	/* KIP-996 pre-vote before an election (Vote v2's PreVote). Default
	 * true, as Kafka 4.0; false is KRaft before it (tests compare). */
	bool pre_vote;
};

/* The quorum-state file's contents (KAFKA: ElectionState, quorum-state). */
struct raft_quorum_state {
	int32_t leader_epoch;
	int32_t leader_id; /* RAFT_NO_ID when unknown */
	int32_t voted_id;  /* RAFT_NO_ID when no vote was cast in leader_epoch */
};

/* An epoch and an offset: a position in a log (KAFKA: OffsetAndEpoch). */
struct raft_offset_epoch {
	int64_t offset;
	int32_t epoch;
};

/* The log the core replicates: __cluster_metadata-0, whole v2 record
 * batches whose partitionLeaderEpoch is the epoch they were written in.
 * The caller owns it; every call that changes it is durable on return.
 * Status results are KB_OK or a KB_ERR_* the core treats as "not done". */
struct raft_log_ops {
	/* The offset the next batch gets (KAFKA: logEndOffset). */
	int64_t (*end_offset)(void *log);
	/* KAFKA: endOffsetForEpoch: the largest epoch <= epoch on the log and
	 * the offset where it ends; {offset the log starts at, 0} if none. */
	struct raft_offset_epoch (*end_offset_for_epoch)(void *log, int32_t epoch);
	/* Copy whole batches from the one holding offset into out: the
	 * first always, then more while within max_bytes. */
	int (*read)(void *log, int64_t offset, int32_t max_bytes, struct kb_buf *out);
	/* Append one whole, valid batch as it is: its baseOffset is the end
	 * offset, its partitionLeaderEpoch no older than the last batch's. */
	int (*append)(void *log, const uint8_t *batch, size_t len);
	/* Remove every batch holding an offset >= end_offset; a cut inside
	 * a batch takes all of it (KAFKA: LogSegment.truncateTo). */
	int (*truncate)(void *log, int64_t end_offset);
	/* ---- Snapshots (KIP-630). Each may be NULL: a log without them. ---- */
	/* The first offset still on the log (KAFKA: logStartOffset); after
	 * a snapshot the prefix below it may be gone. NULL: 0. */
	int64_t (*start_offset)(void *log);
	/* The newest snapshot's id: it holds every offset < id.offset, and
	 * id.epoch is the epoch of the entry at id.offset - 1. KB_ERR_NOTFOUND
	 * when there is none. NULL: never any. */
	int (*latest_snapshot)(void *log, struct raft_offset_epoch *id);
	/* Drop the whole log; it starts empty at id.offset, the snapshot id
	 * (already on disk) its latest (KAFKA: truncateFullyAndStartAt). */
	int (*reset_to_snapshot)(void *log, struct raft_offset_epoch id);
	/* May drop whole batches (segments) wholly below offset: the log
	 * start moves to at most offset (KAFKA: deleteBeforeSnapshot). */
	int (*delete_before)(void *log, int64_t offset);
};

/* What a node finds at start: its log and its quorum-state file. */
struct raft_durable {
	const struct raft_log_ops *ops;
	void *log;                              /* the caller's */
	const struct raft_quorum_state *quorum; /* NULL: no file yet */
};

/* ---- Messages: the KRaft RPCs' fields, named as in messages/ ---- */

enum raft_msg_type {
	RAFT_VOTE_REQUEST, RAFT_VOTE_RESPONSE,
	RAFT_BEGIN_QUORUM_EPOCH_REQUEST, RAFT_BEGIN_QUORUM_EPOCH_RESPONSE,
	RAFT_END_QUORUM_EPOCH_REQUEST, RAFT_END_QUORUM_EPOCH_RESPONSE,
	RAFT_FETCH_REQUEST, RAFT_FETCH_RESPONSE,
};

struct raft_vote_request {          /* Vote (52); pre_vote: KIP-996, v2 */
	int32_t candidate_epoch;
	int32_t candidate_id;
	int32_t last_offset_epoch;
	int64_t last_offset;
	bool pre_vote;
};

struct raft_vote_response {
	bool vote_granted;
	bool pre_vote;
};

struct raft_end_quorum_epoch_request { /* EndQuorumEpoch (54) */
	int32_t preferred_successors[RAFT_MAX_VOTERS];
	int n_preferred_successors;
};

struct raft_fetch_request {   /* Fetch (1), KRaft's fields */
	int64_t fetch_offset;
	int32_t last_fetched_epoch;
	int32_t max_bytes;          /* PartitionMaxBytes */
};

struct raft_fetch_response {
	int64_t high_watermark;     /* -1: unknown */
	int64_t log_start_offset;
	struct raft_offset_epoch diverging_epoch; /* epoch -1: none */
	struct raft_offset_epoch snapshot_id;     /* epoch -1: none; else fetch it (KIP-630) */
	struct wire_bytes records;  /* whole v2 batches; a view valid while the
	                               raft_msg/raft_output holding it lives */
};

/* One RPC. leader_id/leader_epoch are the sender's view (requests of
 * BeginQuorumEpoch/EndQuorumEpoch carry them too; Fetch requests carry the
 * follower's current_leader_epoch in leader_epoch). */
struct raft_msg {
	enum raft_msg_type type;
	int32_t from, to;        /* replica ids (Fetch: ReplicaState.ReplicaId) */
	char cluster_id[RAFT_CLUSTER_ID_MAX + 1]; /* requests; "": null */
	int32_t correlation_id;  /* a response echoes its request's */
	int16_t error_code;      /* responses: KAFKA_ERR_* */
	int32_t leader_id;
	int32_t leader_epoch;
	union {
		struct raft_vote_request vote_req;
		struct raft_vote_response vote_resp;
		struct raft_end_quorum_epoch_request end_req;
		struct raft_fetch_request fetch_req;
		struct raft_fetch_response fetch_resp;
	} u;
};

/* What the caller must do, in outbox order: write quorum-state, send, or
 * download a snapshot with FetchSnapshot (59) from the leader, then call
 * raft_snapshot_loaded (or raft_snapshot_failed). */
enum raft_output_kind { RAFT_OUT_PERSIST, RAFT_OUT_SEND, RAFT_OUT_FETCH_SNAPSHOT };

/* An output owns the bytes its msg's records view points at: free them
 * with raft_output_fini once sent. */
struct raft_output {
	enum raft_output_kind kind;
	struct raft_quorum_state persist; /* RAFT_OUT_PERSIST */
	struct raft_msg msg;              /* RAFT_OUT_SEND */
	struct kb_buf records_buf;        /* owned: msg.u.fetch_resp.records */
	struct raft_offset_epoch snapshot_id; /* RAFT_OUT_FETCH_SNAPSHOT: which */
	int32_t snapshot_leader_id;           /* RAFT_OUT_FETCH_SNAPSHOT: from whom */
};

/* One framed metadata record to propose (a batch record's value; key null). */
struct raft_record { const void *value; size_t len; };

struct raft;

/* Kafka's defaults for cfg's timeouts; node_id and voters are left zero. */
void raft_config_defaults(struct raft_config *cfg);
/* A node (re)started from d. returns owned *out (raft_free); borrows d's log. */
int raft_new(const struct raft_config *cfg, const struct raft_durable *d,
	     int64_t now_ms, struct raft **out);
/* Free it; the log is the caller's. */
void raft_free(struct raft *r);
/* A message arrived; queue what follows. Drain the outbox after each call. */
void raft_step(struct raft *r, const struct raft_msg *m);
/* Time moved to now_ms (monotonic); fire what expired. Then drain. */
void raft_tick(struct raft *r, int64_t now_ms);
/* Leader: append recs as ONE batch in its epoch; *last_offset of the batch's last record; else KB_ERR_AGAIN. */
int raft_propose(struct raft *r, const struct raft_record *recs, int n, int64_t *last_offset);
/* Leader: resign gracefully (EndQuorumEpoch to every voter). */
int raft_resign(struct raft *r);
/* Take the oldest queued output into *out; false when the outbox is empty. */
bool raft_pop(struct raft *r, struct raft_output *out);
/* Free the records an output owns (after sending it); out is empty again. */
void raft_output_fini(struct raft_output *out);
/* The node's state, quorum state and high watermark; a state's name. */
enum raft_state raft_state(const struct raft *r);
struct raft_quorum_state raft_quorum(const struct raft *r);
int64_t raft_high_watermark(const struct raft *r);
const char *raft_state_name(enum raft_state s);
/* Voter i's id and log end offset (-1 unknown; a leader's own is its log's); KB_ERR_RANGE past the last. */
int raft_voter_at(const struct raft *r, int i, int32_t *id, int64_t *end_offset);
/* Follower: the snapshot id (the last RAFT_OUT_FETCH_SNAPSHOT) is whole on
 * disk: reset the log to it and fetch on from id.offset. KB_ERR_AGAIN when
 * we no longer fetch that snapshot (delete it), or the reset op's error. */
int raft_snapshot_loaded(struct raft *r, struct raft_offset_epoch id);
/* Follower: the download of id failed (KAFKA: SNAPSHOT_NOT_FOUND...):
 * Fetch again, for records or a newer snapshot id. KB_ERR_AGAIN if not ours. */
int raft_snapshot_failed(struct raft *r, struct raft_offset_epoch id);
/* Any node: the caller wrote a snapshot of the state at id (every offset
 * < id.offset). KB_OK if id is committed (id.offset <= HW) and id.epoch is
 * the epoch at id.offset - 1 on our log; then the log may drop what is
 * below it. Else KB_ERR_INVAL: delete that snapshot. */
int raft_snapshot_taken(struct raft *r, struct raft_offset_epoch id);
/* Follower: whether it is fetching a snapshot, and which. */
bool raft_fetching_snapshot(const struct raft *r, struct raft_offset_epoch *id);
/* Assert the numbered invariants of 07_raft.c on this node. */
void raft_check(const struct raft *r);

#endif
