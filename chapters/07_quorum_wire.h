/* SPDX-License-Identifier: MIT */
/*
 * Chapter 07, fifth file — the KRaft RPCs as bytes: Vote, BeginQuorumEpoch,
 * EndQuorumEpoch, DescribeQuorum, FetchSnapshot and Envelope bodies. The
 * lesson is in 07_quorum_wire.c.
 */
#ifndef SAMSA_QUORUM_WIRE_H
#define SAMSA_QUORUM_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "00_base.h"
#include "04_codec.h"
#include "07_raft.h"

#define RAFT_TOPIC "__cluster_metadata" /* the one topic, partition 0 */
#define RAFT_FETCH_API_KEY 1          /* KAFKA: Fetch */
#define RAFT_FETCH_VERSION_MIN 12     /* the first with LastFetchedEpoch */
#define RAFT_FETCH_VERSION_MAX 17
#define RAFT_VOTE_VERSION_MAX 2       /* KAFKA 4.0: v2 adds PreVote (KIP-996) */

/* A decoded DescribeQuorum response (voters' log end offsets, -1 unknown). */
struct raft_quorum_info {
	int16_t error_code;
	int32_t leader_id, leader_epoch;
	int64_t high_watermark;
	int32_t voter_ids[RAFT_MAX_VOTERS];
	int64_t voter_end_offsets[RAFT_MAX_VOTERS];
	int n_voters;
};

/* Append m's body (Vote 0-2, BeginQuorumEpoch/EndQuorumEpoch 0-1, Fetch 12-17) at version to out; a pre-vote needs Vote v2. */
int raft_wire_encode(const struct raft_msg *m, int16_t version, struct kb_buf *out);
/* Decode a body of m->type at version into *m (Fetch records: a view of p); KB_ERR_NOTFOUND: not __cluster_metadata-0. */
int raft_wire_decode(int16_t version, const void *p, size_t len, struct raft_msg *m);
/* The API key (52..54) of a message type; -1 for Fetch (chapter 06's codec). */
int16_t raft_wire_api_key(enum raft_msg_type type);
/* The newest version of a message type's API this codec speaks. */
int16_t raft_wire_max_version(enum raft_msg_type type);
/* Append a DescribeQuorum request for __cluster_metadata-0 at version to out. */
int raft_describe_quorum_request_encode(int16_t version, struct kb_buf *out);
/* Check a DescribeQuorum request body; KB_ERR_NOTFOUND: not __cluster_metadata-0. */
int raft_describe_quorum_request_decode(int16_t version, const void *p, size_t len);
/* Append the DescribeQuorum response describing r (with error_code) to out. */
int raft_describe_quorum_response_encode(const struct raft *r, int16_t error_code, int16_t version, struct kb_buf *out);
/* Decode a DescribeQuorum response body into *q. */
int raft_describe_quorum_response_decode(int16_t version, const void *p, size_t len, struct raft_quorum_info *q);

/* ---- FetchSnapshot (59) and Envelope (58) ---- */

/* KAFKA: FetchSnapshotRequest for __cluster_metadata-0 (v0-1). */
struct raft_fetch_snapshot_request {
	char cluster_id[RAFT_CLUSTER_ID_MAX + 1]; /* ClusterId (tag 0); "" when null */
	int32_t replica_id;                       /* the follower's id (default -1) */
	int32_t max_bytes;                        /* default 0x7fffffff */
	int32_t current_leader_epoch;
	struct raft_offset_epoch snapshot_id;     /* SnapshotId: EndOffset, Epoch */
	int64_t position;                         /* byte position in the snapshot */
};

/* KAFKA: FetchSnapshotResponse (v0-1). A top-level error_code carries no partition. */
struct raft_fetch_snapshot_response {
	int32_t throttle_time_ms;
	int16_t error_code;           /* top level (INCONSISTENT_CLUSTER_ID...) */
	int16_t partition_error_code; /* SNAPSHOT_NOT_FOUND, POSITION_OUT_OF_RANGE... */
	struct raft_offset_epoch snapshot_id;
	int32_t leader_id, leader_epoch; /* CurrentLeader (tag 0); 0, 0 when absent */
	int64_t size;     /* the whole snapshot's bytes */
	int64_t position; /* where unaligned_records starts in it */
	struct wire_bytes unaligned_records; /* borrowed: the encoder's caller or the decoded buffer */
};

/* KAFKA: EnvelopeRequest (v0): a forwarded request. Views, borrowed. */
struct raft_envelope_request {
	struct wire_bytes request_data;        /* inner request header + body */
	struct wire_bytes request_principal;   /* nullable (len -1) */
	struct wire_bytes client_host_address; /* 4 or 16 bytes of the client's IP */
};

/* KAFKA: EnvelopeResponse (v0). response_data is a view, nullable. */
struct raft_envelope_response {
	struct wire_bytes response_data; /* inner response header + body; null on error */
	int16_t error_code;
};

/* Append a FetchSnapshot request body at version (0-1) to out. */
int raft_fetch_snapshot_request_encode(const struct raft_fetch_snapshot_request *q, int16_t version, struct kb_buf *out);
/* Decode a FetchSnapshot request body; KB_ERR_NOTFOUND: not __cluster_metadata-0; KB_ERR_PROTO. */
int raft_fetch_snapshot_request_decode(int16_t version, const void *p, size_t len, struct raft_fetch_snapshot_request *q);
/* Append a FetchSnapshot response body at version (0-1) to out. */
int raft_fetch_snapshot_response_encode(const struct raft_fetch_snapshot_response *s, int16_t version, struct kb_buf *out);
/* Decode a FetchSnapshot response body (records: a view into p); KB_ERR_PROTO. */
int raft_fetch_snapshot_response_decode(int16_t version, const void *p, size_t len, struct raft_fetch_snapshot_response *s);
/* Append an Envelope request body (version 0) to out. */
int raft_envelope_request_encode(const struct raft_envelope_request *e, int16_t version, struct kb_buf *out);
/* Decode an Envelope request body (views into p); KB_ERR_PROTO. */
int raft_envelope_request_decode(int16_t version, const void *p, size_t len, struct raft_envelope_request *e);
/* Append an Envelope response body (version 0) to out. */
int raft_envelope_response_encode(const struct raft_envelope_response *e, int16_t version, struct kb_buf *out);
/* Decode an Envelope response body (a view into p); KB_ERR_PROTO. */
int raft_envelope_response_decode(int16_t version, const void *p, size_t len, struct raft_envelope_response *e);

#endif
