/* SPDX-License-Identifier: MIT */
/*
 * Chapter 07, fifth file — the KRaft RPCs as bytes: Vote, BeginQuorumEpoch,
 * EndQuorumEpoch and DescribeQuorum bodies. The lesson is in 07_quorum_wire.c.
 */
#ifndef SAMSA_QUORUM_WIRE_H
#define SAMSA_QUORUM_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "00_base.h"
#include "07_raft.h"

#define RAFT_TOPIC "__cluster_metadata" /* the one topic, partition 0 */
#define RAFT_FETCH_API_KEY 1          /* KAFKA: Fetch */
#define RAFT_FETCH_VERSION_MIN 12     /* the first with LastFetchedEpoch */
#define RAFT_FETCH_VERSION_MAX 17

/* A decoded DescribeQuorum response (voters' log end offsets, -1 unknown). */
struct raft_quorum_info {
	int16_t error_code;
	int32_t leader_id, leader_epoch;
	int64_t high_watermark;
	int32_t voter_ids[RAFT_MAX_VOTERS];
	int64_t voter_end_offsets[RAFT_MAX_VOTERS];
	int n_voters;
};

/* Append m's body (Vote/BeginQuorumEpoch/EndQuorumEpoch 0-1, Fetch 12-17) at version to out. */
int raft_wire_encode(const struct raft_msg *m, int16_t version, struct kb_buf *out);
/* Decode a body of m->type at version into *m (Fetch records: a view of p); KB_ERR_NOTFOUND: not __cluster_metadata-0. */
int raft_wire_decode(int16_t version, const void *p, size_t len, struct raft_msg *m);
/* The API key (52..54) of a message type; -1 for Fetch (chapter 06's codec). */
int16_t raft_wire_api_key(enum raft_msg_type type);
/* Append a DescribeQuorum request for __cluster_metadata-0 at version to out. */
int raft_describe_quorum_request_encode(int16_t version, struct kb_buf *out);
/* Check a DescribeQuorum request body; KB_ERR_NOTFOUND: not __cluster_metadata-0. */
int raft_describe_quorum_request_decode(int16_t version, const void *p, size_t len);
/* Append the DescribeQuorum response describing r (with error_code) to out. */
int raft_describe_quorum_response_encode(const struct raft *r, int16_t error_code, int16_t version, struct kb_buf *out);
/* Decode a DescribeQuorum response body into *q. */
int raft_describe_quorum_response_decode(int16_t version, const void *p, size_t len, struct raft_quorum_info *q);

#endif
