/* SPDX-License-Identifier: MIT */
/*
 * Chapter 07, fifth file — the KRaft RPCs as bytes on the wire.
 *
 * Concept:
 *   The Raft core (07_raft.c) speaks in struct raft_msg. Between nodes
 *   those messages travel as Kafka request and response bodies, and every
 *   one of them names the single partition the quorum replicates,
 *   __cluster_metadata-0. This file maps one to the other, field by field.
 *
 * Kafka:
 *   messages/VoteRequest.json (52), BeginQuorumEpochRequest.json (53),
 *   EndQuorumEpochRequest.json (54), DescribeQuorumRequest.json (55),
 *   FetchSnapshotRequest.json (59), EnvelopeRequest.json (58) and
 *   their responses, every version they list, and Vote v2;
 *   FetchRequest.json (1) v12-17
 *   as KafkaRaftClient sends it (section "Fetch (1)"); RaftUtil builds the
 *   single-partition bodies. INCONSISTENT_CLUSTER_ID is a top-level error
 *   with no topics; other errors sit in the partition.
 *
 * Interface:
 *   - raft_wire_encode / raft_wire_decode: the body only (chapter 04 owns
 *     the headers). Decode sets what the wire carries and keeps the rest
 *     of *m (the caller's from/to/correlation_id, vote_resp.pre_vote).
 *   - A request naming another topic or partition decodes to
 *     KB_ERR_NOTFOUND with m->error_code UNKNOWN_TOPIC_OR_PARTITION.
 *   - FetchSnapshot and Envelope are plain structs of their fields, coded
 *     both ways; their bytes fields stay views into the caller's buffer.
 *   - No handler is registered on a listener: the CONTROLLER listener
 *     comes later and will call these.
 *
 * Invariants:
 *   1. Every count and length is bounded by the bytes left before use.
 *   2. Damaged bytes give KB_ERR_PROTO, never an assert; a body is whole
 *      (no bytes left over).
 *   3. decode(encode(m)) keeps every field the version carries.
 *
 * Simplifications:
 *   Vote v2 (Kafka 4.0, KIP-996: PreVote after LastOffset; the response
 *   is v1's) is newer than the shared JSON (0-1); a pre-vote cannot be
 *   sent at v0-1 (KB_ERR_INVAL: it would read as a real vote). KIP-853
 *   fields (directory ids, endpoints) are written as defaults (zero uuid,
 *   empty arrays, or left out when tagged as in FetchSnapshot v1) and
 *   skipped on read. DescribeQuorum reports no observers
 *   and -1 for the fetch timestamps.
 *
 * See also: docs/07_quorum_wire.md, diagrams/07_quorum_wire.dot,
 *   tests/07_raft_test.c ("KRaft RPCs on the wire"); read before: 07_raft.c,
 *   04_codec.c. Uses chapters 00 (base) and 04 (codec).
 */
#include "07_quorum_wire.h"

#include <string.h>

#include "00_base.h"
#include "04_codec.h"

static int raft_fetch_encode(const struct raft_msg *m, int16_t version, struct kb_buf *out);
static int raft_fetch_decode(int16_t version, const void *p, size_t len, struct raft_msg *m);

/* Reads the fields of one partition after PartitionIndex into m. */
typedef void (*raft_part_fn)(struct wire_reader *r, int16_t v, struct raft_msg *m);

static bool raft_flexible(enum raft_msg_type t, int16_t v)
{
	return t <= RAFT_VOTE_RESPONSE || v >= 1; /* KAFKA: flexibleVersions */
}

static bool raft_is_request(enum raft_msg_type t) { return (t & 1) == 0; }

int16_t raft_wire_api_key(enum raft_msg_type type)
{
	if (type >= RAFT_FETCH_REQUEST)
		return -1;
	return (int16_t)(52 + type / 2);
}

/* KAFKA: Vote 0-2 (v2: PreVote, KIP-996; its response is v1's), Begin-
 * and EndQuorumEpoch 0-1. */
int16_t raft_wire_max_version(enum raft_msg_type type)
{
	if (type >= RAFT_FETCH_REQUEST)
		return RAFT_FETCH_VERSION_MAX;
	return type <= RAFT_VOTE_RESPONSE ? RAFT_VOTE_VERSION_MAX : 1;
}

/* ---- Encoding ---- */

/* Topics: [__cluster_metadata: [PartitionIndex 0 ...]]; the caller writes
 * the partition's fields, then raft_end_partition. */
static void raft_begin_partition(struct wire_writer *w)
{
	wire_write_array_len(w, 1);
	wire_write_string(w, wire_str_c(RAFT_TOPIC));
	wire_write_array_len(w, 1);
	wire_write_i32(w, 0);
}

static void raft_end_partition(struct wire_writer *w)
{
	wire_write_tags(w); /* partition */
	wire_write_tags(w); /* topic */
}

static void raft_write_cluster_id(struct wire_writer *w, const struct raft_msg *m)
{
	wire_write_string(w, wire_str_c(m->cluster_id[0] ? m->cluster_id : NULL));
}

static void raft_encode_vote_request(struct wire_writer *w, const struct raft_msg *m, int16_t v)
{
	const struct raft_vote_request *q = &m->u.vote_req;
	struct wire_uuid zero = {{0}};
	raft_write_cluster_id(w, m);
	if (v >= 1)
		wire_write_i32(w, m->to); /* VoterId */
	raft_begin_partition(w);
	wire_write_i32(w, q->candidate_epoch);
	wire_write_i32(w, q->candidate_id);
	if (v >= 1) {
		wire_write_uuid(w, zero); /* CandidateDirectoryId */
		wire_write_uuid(w, zero); /* VoterDirectoryId */
	}
	wire_write_i32(w, q->last_offset_epoch);
	wire_write_i64(w, q->last_offset);
	if (v >= 2)
		wire_write_bool(w, q->pre_vote); /* PreVote (KIP-996) */
	raft_end_partition(w);
}

/* KAFKA: PreferredSuccessors ([]int32, v0) became PreferredCandidates
 * ([]ReplicaInfo: CandidateId, CandidateDirectoryId, v1+). */
static void raft_write_successors(struct wire_writer *w,
				  const struct raft_end_quorum_epoch_request *e, int16_t v)
{
	struct wire_uuid zero = {{0}};
	wire_write_array_len(w, e->n_preferred_successors);
	for (int i = 0; i < e->n_preferred_successors; i++) {
		wire_write_i32(w, e->preferred_successors[i]);
		if (v >= 1) {
			wire_write_uuid(w, zero);
			wire_write_tags(w);
		}
	}
}

/* BeginQuorumEpoch and EndQuorumEpoch requests share their start. */
static void raft_encode_epoch_request(struct wire_writer *w, const struct raft_msg *m, int16_t v)
{
	struct wire_uuid zero = {{0}};
	bool begin = m->type == RAFT_BEGIN_QUORUM_EPOCH_REQUEST;
	raft_write_cluster_id(w, m);
	if (begin && v >= 1)
		wire_write_i32(w, m->to); /* VoterId */
	raft_begin_partition(w);
	if (begin && v >= 1)
		wire_write_uuid(w, zero); /* VoterDirectoryId */
	wire_write_i32(w, m->leader_id);
	wire_write_i32(w, m->leader_epoch);
	if (!begin)
		raft_write_successors(w, &m->u.end_req, v);
	raft_end_partition(w);
	if (v >= 1)
		wire_write_array_len(w, 0); /* LeaderEndpoints */
}

/* The three responses: ErrorCode, then the partition's error and leader. */
static void raft_encode_response(struct wire_writer *w, const struct raft_msg *m)
{
	if (m->error_code == KAFKA_ERR_INCONSISTENT_CLUSTER_ID) {
		wire_write_i16(w, m->error_code); /* KAFKA: top level, no topics */
		wire_write_array_len(w, 0);
		return;
	}
	wire_write_i16(w, KAFKA_ERR_NONE);
	raft_begin_partition(w);
	wire_write_i16(w, m->error_code);
	wire_write_i32(w, m->leader_id);
	wire_write_i32(w, m->leader_epoch);
	if (m->type == RAFT_VOTE_RESPONSE)
		wire_write_bool(w, m->u.vote_resp.vote_granted);
	raft_end_partition(w);
}

int raft_wire_encode(const struct raft_msg *m, int16_t version, struct kb_buf *out)
{
	if (m->type == RAFT_FETCH_REQUEST || m->type == RAFT_FETCH_RESPONSE)
		return raft_fetch_encode(m, version, out);
	if (raft_wire_api_key(m->type) < 0 || version < 0 ||
	    version > raft_wire_max_version(m->type))
		return KB_ERR_INVAL;
	if (m->type == RAFT_VOTE_REQUEST && m->u.vote_req.pre_vote && version < 2)
		return KB_ERR_INVAL; /* v0-1 have no PreVote: it would be a real vote */
	if (m->type == RAFT_END_QUORUM_EPOCH_REQUEST &&
	    (m->u.end_req.n_preferred_successors < 0 ||
	     m->u.end_req.n_preferred_successors > RAFT_MAX_VOTERS))
		return KB_ERR_INVAL;
	struct wire_writer w;
	wire_writer_init(&w, out, raft_flexible(m->type, version));
	if (m->type == RAFT_VOTE_REQUEST)
		raft_encode_vote_request(&w, m, version);
	else if (raft_is_request(m->type))
		raft_encode_epoch_request(&w, m, version);
	else
		raft_encode_response(&w, m);
	wire_write_tags(&w);
	return wire_writer_status(&w);
}

/* ---- Decoding ---- */

static void raft_read_vote_request(struct wire_reader *r, int16_t v, struct raft_msg *m)
{
	struct raft_vote_request *q = &m->u.vote_req;
	q->candidate_epoch = wire_read_i32(r);
	q->candidate_id = wire_read_i32(r);
	if (v >= 1) {
		(void)wire_read_uuid(r); /* CandidateDirectoryId */
		(void)wire_read_uuid(r); /* VoterDirectoryId */
	}
	q->last_offset_epoch = wire_read_i32(r);
	q->last_offset = wire_read_i64(r);
	q->pre_vote = v >= 2 && wire_read_bool(r);
	m->from = q->candidate_id;
	m->leader_id = RAFT_NO_ID;           /* a candidate follows no one */
	m->leader_epoch = q->candidate_epoch; /* its epoch */
}

static void raft_read_successors(struct wire_reader *r, int16_t v, struct raft_msg *m)
{
	struct raft_end_quorum_epoch_request *e = &m->u.end_req;
	int32_t n = wire_read_array_len(r, v >= 1 ? 21 : 4);
	if (n > RAFT_MAX_VOTERS)
		r->err = true; /* more successors than a quorum has voters */
	e->n_preferred_successors = 0;
	for (int32_t i = 0; !r->err && i < n; i++) {
		e->preferred_successors[e->n_preferred_successors++] = wire_read_i32(r);
		if (v >= 1) {
			(void)wire_read_uuid(r);
			wire_read_tags(r);
		}
	}
}

static void raft_read_epoch_request(struct wire_reader *r, int16_t v, struct raft_msg *m)
{
	bool begin = m->type == RAFT_BEGIN_QUORUM_EPOCH_REQUEST;
	if (begin && v >= 1)
		(void)wire_read_uuid(r); /* VoterDirectoryId */
	m->leader_id = wire_read_i32(r);
	m->leader_epoch = wire_read_i32(r);
	m->from = m->leader_id;
	if (!begin)
		raft_read_successors(r, v, m);
}

static void raft_read_response(struct wire_reader *r, int16_t v, struct raft_msg *m)
{
	(void)v;
	m->error_code = wire_read_i16(r);
	m->leader_id = wire_read_i32(r);
	m->leader_epoch = wire_read_i32(r);
	if (m->type == RAFT_VOTE_RESPONSE)
		m->u.vote_resp.vote_granted = wire_read_bool(r);
}

/* Topics: reads every partition (into scratch unless it is the one), and
 * returns true when the body names exactly __cluster_metadata-0. */
static bool raft_read_topics(struct wire_reader *r, int16_t v, raft_part_fn fn,
			     struct raft_msg *m)
{
	int32_t n_topics = wire_read_array_len(r, 3), n_parts_total = 0;
	bool found = false;
	for (int32_t t = 0; !r->err && t < n_topics; t++) {
		bool ours = wire_str_eq(wire_read_string(r), RAFT_TOPIC);
		int32_t n_parts = wire_read_array_len(r, 4);
		for (int32_t p = 0; !r->err && p < n_parts; p++, n_parts_total++) {
			int32_t index = wire_read_i32(r);
			bool hit = ours && index == 0 && !found;
			struct raft_msg scratch = *m;
			if (fn)
				fn(r, v, hit ? m : &scratch);
			found |= hit;
			wire_read_tags(r);
		}
		wire_read_tags(r);
	}
	return found && n_topics == 1 && n_parts_total == 1;
}

/* LeaderEndpoints (KIP-853): Name, Host, Port per entry; skipped. */
static void raft_skip_endpoints(struct wire_reader *r)
{
	int32_t n = wire_read_array_len(r, 5);
	for (int32_t i = 0; !r->err && i < n; i++) {
		(void)wire_read_string(r);
		(void)wire_read_string(r);
		(void)wire_read_u16(r);
		wire_read_tags(r);
	}
}

static void raft_read_cluster_id(struct wire_reader *r, struct raft_msg *m)
{
	struct wire_str s = wire_read_nullable_string(r);
	if (s.len > RAFT_CLUSTER_ID_MAX) {
		r->err = true; /* no cluster.id is this long */
		return;
	}
	memset(m->cluster_id, 0, sizeof m->cluster_id);
	if (s.len > 0)
		memcpy(m->cluster_id, s.p, (size_t)s.len);
}

/* The request/response prefix before Topics; returns the partition reader. */
static raft_part_fn raft_read_prefix(struct wire_reader *r, int16_t v, struct raft_msg *m)
{
	if (!raft_is_request(m->type)) {
		m->error_code = wire_read_i16(r);
		return raft_read_response;
	}
	raft_read_cluster_id(r, m);
	if (v >= 1 && m->type != RAFT_END_QUORUM_EPOCH_REQUEST)
		m->to = wire_read_i32(r); /* VoterId */
	return m->type == RAFT_VOTE_REQUEST ? raft_read_vote_request
					    : raft_read_epoch_request;
}

int raft_wire_decode(int16_t version, const void *p, size_t len, struct raft_msg *m)
{
	if (m->type == RAFT_FETCH_REQUEST || m->type == RAFT_FETCH_RESPONSE)
		return raft_fetch_decode(version, p, len, m);
	if (raft_wire_api_key(m->type) < 0 || version < 0 ||
	    version > raft_wire_max_version(m->type))
		return KB_ERR_INVAL;
	struct wire_reader r;
	wire_reader_init(&r, p, len, raft_flexible(m->type, version));
	raft_part_fn fn = raft_read_prefix(&r, version, m);
	int16_t top_error = raft_is_request(m->type) ? 0 : m->error_code;
	bool found = raft_read_topics(&r, version, fn, m);
	if (raft_is_request(m->type) && m->type != RAFT_VOTE_REQUEST && version >= 1)
		raft_skip_endpoints(&r);
	wire_read_tags(&r);
	if (wire_reader_status(&r) != KB_OK || wire_remaining(&r) != 0)
		return KB_ERR_PROTO;
	if (top_error != KAFKA_ERR_NONE) {
		m->error_code = top_error; /* KAFKA: a top-level error wins */
		if (!found) {
			m->leader_id = RAFT_NO_ID;
			m->leader_epoch = -1;
		}
		return KB_OK;
	}
	if (!found) {
		m->error_code = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
		return raft_is_request(m->type) ? KB_ERR_NOTFOUND : KB_ERR_PROTO;
	}
	return KB_OK;
}

/* ---- DescribeQuorum (55): any client may ask who leads ---- */

int raft_describe_quorum_request_encode(int16_t version, struct kb_buf *out)
{
	if (version < 0 || version > 2)
		return KB_ERR_INVAL;
	struct wire_writer w;
	wire_writer_init(&w, out, true);
	raft_begin_partition(&w);
	raft_end_partition(&w);
	wire_write_tags(&w);
	return wire_writer_status(&w);
}

int raft_describe_quorum_request_decode(int16_t version, const void *p, size_t len)
{
	if (version < 0 || version > 2)
		return KB_ERR_INVAL;
	struct wire_reader r;
	struct raft_msg scratch = {0};
	wire_reader_init(&r, p, len, true);
	bool found = raft_read_topics(&r, version, NULL, &scratch);
	wire_read_tags(&r);
	if (wire_reader_status(&r) != KB_OK || wire_remaining(&r) != 0)
		return KB_ERR_PROTO;
	return found ? KB_OK : KB_ERR_NOTFOUND;
}

/* KAFKA: ReplicaState; the timestamps are not tracked (-1, the default). */
static void raft_write_replica(struct wire_writer *w, int16_t v, int32_t id, int64_t leo)
{
	struct wire_uuid zero = {{0}};
	wire_write_i32(w, id);
	if (v >= 2)
		wire_write_uuid(w, zero);
	wire_write_i64(w, leo);
	if (v >= 1) {
		wire_write_i64(w, -1); /* LastFetchTimestamp */
		wire_write_i64(w, -1); /* LastCaughtUpTimestamp */
	}
	wire_write_tags(w);
}

int raft_describe_quorum_response_encode(const struct raft *r, int16_t error_code,
					 int16_t version, struct kb_buf *out)
{
	if (version < 0 || version > 2)
		return KB_ERR_INVAL;
	struct raft_quorum_state qs = raft_quorum(r);
	struct wire_writer w;
	wire_writer_init(&w, out, true);
	wire_write_i16(&w, KAFKA_ERR_NONE);
	if (version >= 2)
		wire_write_string(&w, wire_str_c(NULL)); /* ErrorMessage */
	raft_begin_partition(&w);
	wire_write_i16(&w, error_code);
	if (version >= 2)
		wire_write_string(&w, wire_str_c(NULL));
	wire_write_i32(&w, qs.leader_id);
	wire_write_i32(&w, qs.leader_epoch);
	wire_write_i64(&w, raft_high_watermark(r));
	int32_t id;
	int64_t leo;
	int n = 0;
	while (raft_voter_at(r, n, &id, &leo) == KB_OK)
		n++;
	wire_write_array_len(&w, n);
	for (int i = 0; i < n && raft_voter_at(r, i, &id, &leo) == KB_OK; i++)
		raft_write_replica(&w, version, id, leo);
	wire_write_array_len(&w, 0); /* Observers */
	raft_end_partition(&w);
	if (version >= 2)
		wire_write_array_len(&w, 0); /* Nodes */
	wire_write_tags(&w);
	return wire_writer_status(&w);
}

static void raft_read_replicas(struct wire_reader *r, int16_t v, struct raft_quorum_info *q,
			       bool keep)
{
	int32_t n = wire_read_array_len(r, 13);
	if (keep && n > RAFT_MAX_VOTERS)
		r->err = true; /* more voters than a quorum may have */
	for (int32_t i = 0; !r->err && i < n; i++) {
		int32_t id = wire_read_i32(r);
		if (v >= 2)
			(void)wire_read_uuid(r);
		int64_t leo = wire_read_i64(r);
		if (v >= 1)
			(void)wire_read_raw(r, 16); /* the two timestamps */
		wire_read_tags(r);
		if (keep) {
			q->voter_ids[i] = id;
			q->voter_end_offsets[i] = leo;
			q->n_voters = i + 1;
		}
	}
}

/* Nodes (v2): NodeId and its Listeners (Name, Host, Port); skipped. */
static void raft_skip_nodes(struct wire_reader *r)
{
	int32_t n = wire_read_array_len(r, 6);
	for (int32_t i = 0; !r->err && i < n; i++) {
		(void)wire_read_i32(r);
		raft_skip_endpoints(r);
		wire_read_tags(r);
	}
}

/* One DescribeQuorum partition; the caller checked it is ours. */
static void raft_read_quorum_partition(struct wire_reader *r, int16_t v,
				       struct raft_quorum_info *q)
{
	q->error_code = wire_read_i16(r);
	if (v >= 2)
		(void)wire_read_nullable_string(r);
	q->leader_id = wire_read_i32(r);
	q->leader_epoch = wire_read_i32(r);
	q->high_watermark = wire_read_i64(r);
	raft_read_replicas(r, v, q, true);
	raft_read_replicas(r, v, q, false); /* Observers */
	wire_read_tags(r);
}

int raft_describe_quorum_response_decode(int16_t version, const void *p, size_t len,
					 struct raft_quorum_info *q)
{
	if (version < 0 || version > 2)
		return KB_ERR_INVAL;
	struct wire_reader r;
	memset(q, 0, sizeof *q);
	wire_reader_init(&r, p, len, true);
	int16_t top = wire_read_i16(&r);
	if (version >= 2)
		(void)wire_read_nullable_string(&r);
	int32_t n_topics = wire_read_array_len(&r, 3);
	if (n_topics > 1 || (n_topics == 0 && top == KAFKA_ERR_NONE))
		return KB_ERR_PROTO;
	if (n_topics == 1 && !r.err) {
		bool ours = wire_str_eq(wire_read_string(&r), RAFT_TOPIC);
		if (!ours || wire_read_array_len(&r, 4) != 1 || wire_read_i32(&r) != 0)
			return KB_ERR_PROTO;
		raft_read_quorum_partition(&r, version, q);
		wire_read_tags(&r);
	}
	if (version >= 2)
		raft_skip_nodes(&r);
	wire_read_tags(&r);
	if (wire_reader_status(&r) != KB_OK || wire_remaining(&r) != 0)
		return KB_ERR_PROTO;
	if (top != KAFKA_ERR_NONE)
		q->error_code = top;
	return KB_OK;
}

/* ---- Fetch (1): KRaft's fields, versions 12-17 ---- */

/* KAFKA: Uuid.METADATA_TOPIC_ID, "AAAAAAAAAAAAAAAAAAAAAQ": the topic id
 * of __cluster_metadata from Fetch v13 on (topic names before). */
static const struct wire_uuid raft_metadata_topic_id = {{0, 0, 0, 0, 0, 0, 0, 0,
							  0, 0, 0, 0, 0, 0, 0, 1}};

/* Reads one tagged field's value (a sub-reader over exactly its bytes);
 * returns false for a tag it does not know (then skipped). */
typedef bool (*raft_tag_fn)(struct wire_reader *sub, uint32_t tag, struct raft_msg *m);

/* A tagged-field section, known tags read by fn: each must use exactly
 * its declared size (INVARIANT 1: sizes bounded by the bytes left). */
static void raft_read_tagged(struct wire_reader *r, raft_tag_fn fn, struct raft_msg *m)
{
	uint32_t n = wire_read_uvarint(r);
	if (n > wire_remaining(r) / 2) {
		r->err = true; /* every field takes a tag and a size byte */
		return;
	}
	for (uint32_t i = 0; i < n && !r->err; i++) {
		uint32_t tag = wire_read_uvarint(r);
		uint32_t size = wire_read_uvarint(r);
		const uint8_t *p = wire_read_raw(r, size);
		if (r->err)
			return;
		struct wire_reader sub;
		wire_reader_init(&sub, p, size, true);
		if (fn(&sub, tag, m) && (sub.err || wire_remaining(&sub) != 0))
			r->err = true;
	}
}

/* One tagged field: its tag, its size, then the bytes of body. */
static void raft_write_tag(struct wire_writer *w, uint32_t tag, const struct kb_buf *body)
{
	wire_write_uvarint(w, tag);
	wire_write_uvarint(w, (uint32_t)body->len);
	wire_write_raw(w, body->data, body->len);
}

/* Topics: [{Topic __cluster_metadata (v12) or TopicId (v13+),
 * Partitions: [{Partition 0 ...; the caller writes the rest. */
static void raft_begin_fetch_partition(struct wire_writer *w, int16_t v)
{
	wire_write_array_len(w, 1);
	if (v <= 12)
		wire_write_string(w, wire_str_c(RAFT_TOPIC));
	else
		wire_write_uuid(w, raft_metadata_topic_id);
	wire_write_array_len(w, 1);
	wire_write_i32(w, 0);
}

/* KAFKA: the request's tags: ClusterId (0) and, from v15,
 * ReplicaState (1) {ReplicaId, ReplicaEpoch -1}; defaults left out. */
static void raft_write_fetch_request_tags(struct wire_writer *w,
					  const struct raft_msg *m, int16_t v)
{
	struct kb_buf cid, rs;
	struct wire_writer cw, rw;
	kb_buf_init(&cid);
	kb_buf_init(&rs);
	wire_writer_init(&cw, &cid, true);
	wire_writer_init(&rw, &rs, true);
	raft_write_cluster_id(&cw, m);
	wire_write_i32(&rw, m->from); /* ReplicaId */
	wire_write_i64(&rw, -1);      /* ReplicaEpoch */
	wire_write_tags(&rw);
	bool has_cid = m->cluster_id[0] != '\0', has_rs = v >= 15 && m->from != -1;
	wire_write_uvarint(w, (uint32_t)(has_cid + has_rs));
	if (has_cid)
		raft_write_tag(w, 0, &cid);
	if (has_rs)
		raft_write_tag(w, 1, &rs);
	if (!w->err)
		w->err = cw.err ? cw.err : rw.err;
	kb_buf_fini(&cid);
	kb_buf_fini(&rs);
}

/* KAFKA: KafkaRaftClient.buildFetchRequest via RaftUtil.singletonFetchRequest.
 * SIMPLIFICATION: MaxWaitMs 0, the leader answers at once. */
static void raft_encode_fetch_request(struct wire_writer *w, const struct raft_msg *m,
				      int16_t v)
{
	const struct raft_fetch_request *f = &m->u.fetch_req;
	if (v <= 14)
		wire_write_i32(w, m->from); /* ReplicaId */
	wire_write_i32(w, 0);               /* MaxWaitMs */
	wire_write_i32(w, 0);               /* MinBytes */
	wire_write_i32(w, f->max_bytes);    /* MaxBytes */
	wire_write_i8(w, 0);                /* IsolationLevel */
	wire_write_i32(w, 0);               /* SessionId */
	wire_write_i32(w, -1);              /* SessionEpoch */
	raft_begin_fetch_partition(w, v);
	wire_write_i32(w, m->leader_epoch); /* CurrentLeaderEpoch */
	wire_write_i64(w, f->fetch_offset);
	wire_write_i32(w, f->last_fetched_epoch);
	wire_write_i64(w, -1);              /* LogStartOffset */
	wire_write_i32(w, f->max_bytes);    /* PartitionMaxBytes */
	raft_end_partition(w);
	wire_write_array_len(w, 0);         /* ForgottenTopicsData */
	wire_write_string(w, wire_str_c("")); /* RackId */
	raft_write_fetch_request_tags(w, m, v);
}

/* KAFKA: the partition's tags: DivergingEpoch (0), CurrentLeader (1),
 * SnapshotId (2), each only when it differs from its default (-1s). */
static void raft_write_fetch_partition_tags(struct wire_writer *w, const struct raft_msg *m)
{
	const struct raft_fetch_response *f = &m->u.fetch_resp;
	bool has[3] = {f->diverging_epoch.epoch != -1 || f->diverging_epoch.offset != -1,
		       m->leader_id != -1 || m->leader_epoch != -1,
		       f->snapshot_id.epoch != -1 || f->snapshot_id.offset != -1};
	wire_write_uvarint(w, (uint32_t)(has[0] + has[1] + has[2]));
	for (uint32_t tag = 0; tag < 3; tag++) {
		if (!has[tag])
			continue;
		struct kb_buf b;
		struct wire_writer tw;
		kb_buf_init(&b);
		wire_writer_init(&tw, &b, true);
		if (tag == 0) {
			wire_write_i32(&tw, f->diverging_epoch.epoch);
			wire_write_i64(&tw, f->diverging_epoch.offset);
		} else if (tag == 1) {
			wire_write_i32(&tw, m->leader_id);
			wire_write_i32(&tw, m->leader_epoch);
		} else {
			wire_write_i64(&tw, f->snapshot_id.offset);
			wire_write_i32(&tw, f->snapshot_id.epoch);
		}
		wire_write_tags(&tw);
		raft_write_tag(w, tag, &b);
		if (!w->err)
			w->err = tw.err;
		kb_buf_fini(&b);
	}
}

/* KAFKA: RaftUtil.singletonFetchResponse; INCONSISTENT_CLUSTER_ID is a
 * top-level error with no topics, as for the other KRaft RPCs. */
static void raft_encode_fetch_response(struct wire_writer *w, const struct raft_msg *m,
				       int16_t v)
{
	const struct raft_fetch_response *f = &m->u.fetch_resp;
	bool top = m->error_code == KAFKA_ERR_INCONSISTENT_CLUSTER_ID;
	wire_write_i32(w, 0); /* ThrottleTimeMs */
	wire_write_i16(w, top ? m->error_code : KAFKA_ERR_NONE);
	wire_write_i32(w, 0); /* SessionId */
	if (top) {
		wire_write_array_len(w, 0);
		wire_write_tags(w);
		return;
	}
	raft_begin_fetch_partition(w, v);
	wire_write_i16(w, m->error_code);
	wire_write_i64(w, f->high_watermark);
	wire_write_i64(w, -1);              /* LastStableOffset */
	wire_write_i64(w, f->log_start_offset);
	wire_write_array_len(w, 0);         /* AbortedTransactions */
	wire_write_i32(w, -1);              /* PreferredReadReplica */
	wire_write_bytes(w, f->records);
	raft_write_fetch_partition_tags(w, m);
	wire_write_tags(w);                 /* topic */
	wire_write_tags(w);                 /* NodeEndpoints (v16+): none */
}

/* The Fetch request's and response's Topics name: name or id. */
static bool raft_read_fetch_topic(struct wire_reader *r, int16_t v)
{
	if (v <= 12)
		return wire_str_eq(wire_read_string(r), RAFT_TOPIC);
	struct wire_uuid id = wire_read_uuid(r);
	return memcmp(&id, &raft_metadata_topic_id, sizeof id) == 0;
}

/* What a Fetch request's topics held: how many partitions, and whether
 * exactly one was __cluster_metadata-0 (read into m). */
struct raft_fetch_scan {
	int32_t partitions;
	bool found;
	int32_t partition_max_bytes;
};

/* One FetchPartition after Partition (into m when it is ours). */
static void raft_read_fetch_partition(struct wire_reader *r, struct raft_msg *m,
				      struct raft_fetch_scan *s)
{
	m->leader_epoch = wire_read_i32(r); /* CurrentLeaderEpoch */
	m->u.fetch_req.fetch_offset = wire_read_i64(r);
	m->u.fetch_req.last_fetched_epoch = wire_read_i32(r);
	(void)wire_read_i64(r);             /* LogStartOffset */
	s->partition_max_bytes = wire_read_i32(r);
	wire_read_tags(r);                  /* ReplicaDirectoryId (v17) */
}

static void raft_read_fetch_request_topics(struct wire_reader *r, int16_t v,
					   struct raft_msg *m, struct raft_fetch_scan *s)
{
	int32_t n_topics = wire_read_array_len(r, 2);
	for (int32_t t = 0; !r->err && t < n_topics; t++) {
		bool ours = raft_read_fetch_topic(r, v);
		int32_t n_parts = wire_read_array_len(r, 33);
		for (int32_t p = 0; !r->err && p < n_parts; p++, s->partitions++) {
			int32_t index = wire_read_i32(r);
			bool hit = ours && index == 0 && !s->found;
			struct raft_msg scratch = *m;
			struct raft_fetch_scan ss = *s;
			raft_read_fetch_partition(r, hit ? m : &scratch, hit ? s : &ss);
			s->found |= hit;
		}
		wire_read_tags(r);
	}
}

/* ForgottenTopicsData: [{Topic or TopicId, Partitions []int32}]; skipped. */
static void raft_skip_forgotten(struct wire_reader *r, int16_t v)
{
	int32_t n = wire_read_array_len(r, 3);
	for (int32_t i = 0; !r->err && i < n; i++) {
		(void)raft_read_fetch_topic(r, v);
		int32_t k = wire_read_array_len(r, 4);
		(void)wire_read_raw(r, 4 * (size_t)(k > 0 ? k : 0));
		wire_read_tags(r);
	}
}

/* The request's tags: ClusterId (0), ReplicaState (1). */
static bool raft_fetch_request_tag(struct wire_reader *sub, uint32_t tag, struct raft_msg *m)
{
	if (tag == 0) {
		raft_read_cluster_id(sub, m);
	} else if (tag == 1) {
		m->from = wire_read_i32(sub);
		(void)wire_read_i64(sub); /* ReplicaEpoch */
		wire_read_tags(sub);
	}
	return tag <= 1;
}

/* max_bytes: PartitionMaxBytes, or MaxBytes when it is 0 (KAFKA: a raft
 * follower leaves PartitionMaxBytes at its default, 0). */
static int raft_decode_fetch_request(struct wire_reader *r, int16_t v, struct raft_msg *m)
{
	struct raft_fetch_scan s = {0};
	memset(m->cluster_id, 0, sizeof m->cluster_id);
	m->from = v <= 14 ? wire_read_i32(r) : -1;
	(void)wire_read_raw(r, 8);          /* MaxWaitMs, MinBytes */
	int32_t max_bytes = wire_read_i32(r);
	(void)wire_read_raw(r, 9);          /* IsolationLevel, SessionId, -Epoch */
	raft_read_fetch_request_topics(r, v, m, &s);
	raft_skip_forgotten(r, v);
	(void)wire_read_string(r);          /* RackId */
	raft_read_tagged(r, raft_fetch_request_tag, m);
	if (wire_reader_status(r) != KB_OK || wire_remaining(r) != 0)
		return KB_ERR_PROTO;
	m->u.fetch_req.max_bytes = s.partition_max_bytes > 0 ? s.partition_max_bytes
							     : max_bytes;
	if (!s.found || s.partitions != 1) {
		m->error_code = v >= 13 ? KAFKA_ERR_UNKNOWN_TOPIC_ID
					: KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
		return KB_ERR_NOTFOUND;
	}
	return KB_OK;
}

/* The partition's tags: DivergingEpoch (0), CurrentLeader (1), SnapshotId (2). */
static bool raft_fetch_partition_tag(struct wire_reader *sub, uint32_t tag, struct raft_msg *m)
{
	struct raft_fetch_response *f = &m->u.fetch_resp;
	if (tag == 0) {
		f->diverging_epoch.epoch = wire_read_i32(sub);
		f->diverging_epoch.offset = wire_read_i64(sub);
	} else if (tag == 1) {
		m->leader_id = wire_read_i32(sub);
		m->leader_epoch = wire_read_i32(sub);
	} else if (tag == 2) {
		f->snapshot_id.offset = wire_read_i64(sub);
		f->snapshot_id.epoch = wire_read_i32(sub);
	}
	if (tag <= 2)
		wire_read_tags(sub);
	return tag <= 2;
}

/* One PartitionData after PartitionIndex; records stay a view of p. */
static void raft_read_fetch_response_partition(struct wire_reader *r, struct raft_msg *m)
{
	struct raft_fetch_response *f = &m->u.fetch_resp;
	m->error_code = wire_read_i16(r);
	f->high_watermark = wire_read_i64(r);
	(void)wire_read_i64(r);             /* LastStableOffset */
	f->log_start_offset = wire_read_i64(r);
	int32_t n = wire_read_nullable_array_len(r, 17); /* AbortedTransactions */
	for (int32_t i = 0; !r->err && i < n; i++) {
		(void)wire_read_raw(r, 16);
		wire_read_tags(r);
	}
	(void)wire_read_i32(r);             /* PreferredReadReplica */
	f->records = wire_read_nullable_bytes(r);
	raft_read_tagged(r, raft_fetch_partition_tag, m);
}

static int raft_decode_fetch_response(struct wire_reader *r, int16_t v, struct raft_msg *m)
{
	struct raft_fetch_response *f = &m->u.fetch_resp;
	*f = (struct raft_fetch_response){-1, -1, {-1, -1}, {-1, -1}, {NULL, 0}};
	m->leader_id = m->leader_epoch = -1;
	(void)wire_read_i32(r);             /* ThrottleTimeMs */
	int16_t top = wire_read_i16(r);
	(void)wire_read_i32(r);             /* SessionId */
	int32_t n_topics = wire_read_array_len(r, 2), n_parts = 0;
	bool found = false;
	for (int32_t t = 0; !r->err && t < n_topics; t++) {
		bool ours = raft_read_fetch_topic(r, v);
		int32_t k = wire_read_array_len(r, 40);
		for (int32_t p = 0; !r->err && p < k; p++, n_parts++) {
			int32_t index = wire_read_i32(r);
			bool hit = ours && index == 0 && !found;
			struct raft_msg scratch = *m;
			raft_read_fetch_response_partition(r, hit ? m : &scratch);
			found |= hit;
		}
		wire_read_tags(r);
	}
	wire_read_tags(r);                  /* NodeEndpoints (v16+) */
	if (wire_reader_status(r) != KB_OK || wire_remaining(r) != 0 ||
	    (top == KAFKA_ERR_NONE && (!found || n_parts != 1)))
		return KB_ERR_PROTO;
	if (top != KAFKA_ERR_NONE)
		m->error_code = top; /* KAFKA: a top-level error wins */
	return KB_OK;
}

/* The body of a Fetch request or response (raft_wire_encode routes here). */
static int raft_fetch_encode(const struct raft_msg *m, int16_t version, struct kb_buf *out)
{
	if (version < RAFT_FETCH_VERSION_MIN || version > RAFT_FETCH_VERSION_MAX ||
	    (m->type != RAFT_FETCH_REQUEST && m->type != RAFT_FETCH_RESPONSE))
		return KB_ERR_INVAL;
	struct wire_writer w;
	wire_writer_init(&w, out, true);
	if (m->type == RAFT_FETCH_REQUEST)
		raft_encode_fetch_request(&w, m, version);
	else
		raft_encode_fetch_response(&w, m, version);
	return wire_writer_status(&w);
}

/* Decode a Fetch body (raft_wire_decode routes here). */
static int raft_fetch_decode(int16_t version, const void *p, size_t len, struct raft_msg *m)
{
	if (version < RAFT_FETCH_VERSION_MIN || version > RAFT_FETCH_VERSION_MAX ||
	    (m->type != RAFT_FETCH_REQUEST && m->type != RAFT_FETCH_RESPONSE))
		return KB_ERR_INVAL;
	struct wire_reader r;
	wire_reader_init(&r, p, len, true);
	if (m->type == RAFT_FETCH_REQUEST)
		return raft_decode_fetch_request(&r, version, m);
	return raft_decode_fetch_response(&r, version, m);
}

/* ---- FetchSnapshot (59): a follower too far behind fetches a snapshot ---- */

/* SnapshotId {EndOffset, Epoch}: a nested struct, so it ends in its own
 * tag section in these flexible messages. */
static void raft_write_snapshot_id(struct wire_writer *w, struct raft_offset_epoch id)
{
	wire_write_i64(w, id.offset);
	wire_write_i32(w, id.epoch);
	wire_write_tags(w);
}

static struct raft_offset_epoch raft_read_snapshot_id(struct wire_reader *r)
{
	struct raft_offset_epoch id;
	id.offset = wire_read_i64(r);
	id.epoch = wire_read_i32(r);
	wire_read_tags(r);
	return id;
}

/* KAFKA: ClusterId is tag 0 of the body, written only when not null. */
static void raft_write_cluster_id_tag(struct wire_writer *w, const char *cluster_id)
{
	if (!cluster_id[0]) {
		wire_write_tags(w);
		return;
	}
	size_t n = strlen(cluster_id);
	wire_write_uvarint(w, 1);             /* one tagged field */
	wire_write_uvarint(w, 0);             /* tag 0 */
	wire_write_uvarint(w, (uint32_t)n + 1); /* size: a 1-byte length, n bytes */
	wire_write_string(w, wire_str_c(cluster_id));
}

/* KAFKA: FetchSnapshotRequest v0-1, for __cluster_metadata-0 only. A
 * cluster id fits RAFT_CLUSTER_ID_MAX, so its tag's size is one byte. */
int raft_fetch_snapshot_request_encode(const struct raft_fetch_snapshot_request *q,
				       int16_t version, struct kb_buf *out)
{
	if (version < 0 || version > 1 || strlen(q->cluster_id) > RAFT_CLUSTER_ID_MAX)
		return KB_ERR_INVAL;
	struct wire_writer w;
	wire_writer_init(&w, out, true); /* KAFKA: flexibleVersions 0+ */
	wire_write_i32(&w, q->replica_id);
	wire_write_i32(&w, q->max_bytes);
	raft_begin_partition(&w);
	wire_write_i32(&w, q->current_leader_epoch);
	raft_write_snapshot_id(&w, q->snapshot_id);
	wire_write_i64(&w, q->position);
	raft_end_partition(&w); /* v1 ReplicaDirectoryId: zero, left out */
	raft_write_cluster_id_tag(&w, q->cluster_id);
	return wire_writer_status(&w);
}

/* The body's tag section: ClusterId (tag 0) into q, the rest skipped. */
static void raft_read_request_tags(struct wire_reader *r, struct raft_fetch_snapshot_request *q)
{
	uint32_t n = wire_read_uvarint(r);
	if (n > wire_remaining(r) / 2) /* a tag takes >= 2 bytes */
		r->err = true;
	for (uint32_t i = 0; i < n && !r->err; i++) {
		uint32_t tag = wire_read_uvarint(r);
		uint32_t size = wire_read_uvarint(r);
		const uint8_t *val = wire_read_raw(r, size);
		if (!val || tag != 0)
			continue;
		struct wire_reader vr;
		struct raft_msg m = {0};
		wire_reader_init(&vr, val, size, true);
		raft_read_cluster_id(&vr, &m);
		if (vr.err || wire_remaining(&vr) != 0)
			r->err = true;
		memcpy(q->cluster_id, m.cluster_id, sizeof q->cluster_id);
	}
}

/* The fields of one PartitionSnapshot after its index. */
static void raft_read_fetch_snapshot_partition(struct wire_reader *r,
					       struct raft_fetch_snapshot_request *q)
{
	q->current_leader_epoch = wire_read_i32(r);
	q->snapshot_id = raft_read_snapshot_id(r);
	q->position = wire_read_i64(r);
	wire_read_tags(r); /* v1: ReplicaDirectoryId (tag 0) */
}

/* Topics: every partition is read; true when the body names exactly
 * __cluster_metadata-0 (its fields land in q, the others in scratch). */
static bool raft_read_snapshot_topics(struct wire_reader *r,
				      struct raft_fetch_snapshot_request *q)
{
	int32_t n_topics = wire_read_array_len(r, 3), total = 0;
	bool found = false;
	for (int32_t t = 0; !r->err && t < n_topics; t++) {
		bool ours = wire_str_eq(wire_read_string(r), RAFT_TOPIC);
		int32_t n_parts = wire_read_array_len(r, 4 + 4 + 13 + 8 + 1);
		for (int32_t p = 0; !r->err && p < n_parts; p++, total++) {
			int32_t index = wire_read_i32(r);
			bool hit = ours && index == 0 && !found;
			struct raft_fetch_snapshot_request scratch;
			raft_read_fetch_snapshot_partition(r, hit ? q : &scratch);
			found |= hit;
		}
		wire_read_tags(r);
	}
	return found && n_topics == 1 && total == 1;
}

/* KB_ERR_NOTFOUND: a well-formed body for another topic or partition
 * (the caller answers UNKNOWN_TOPIC_OR_PARTITION); KB_ERR_PROTO: damage. */
int raft_fetch_snapshot_request_decode(int16_t version, const void *p, size_t len,
				       struct raft_fetch_snapshot_request *q)
{
	if (version < 0 || version > 1)
		return KB_ERR_INVAL;
	struct wire_reader r;
	memset(q, 0, sizeof *q);
	wire_reader_init(&r, p, len, true);
	q->replica_id = wire_read_i32(&r);
	q->max_bytes = wire_read_i32(&r);
	bool found = raft_read_snapshot_topics(&r, q);
	raft_read_request_tags(&r, q);
	if (wire_reader_status(&r) != KB_OK || wire_remaining(&r) != 0)
		return KB_ERR_PROTO;
	return found ? KB_OK : KB_ERR_NOTFOUND;
}

/* KAFKA: CurrentLeader (tag 0) is written when it differs from its
 * default, LeaderIdAndEpoch(0, 0); NodeEndpoints (v1, tag 0 of the
 * body) are not sent. A top-level error goes alone, with no topics. */
int raft_fetch_snapshot_response_encode(const struct raft_fetch_snapshot_response *s,
					int16_t version, struct kb_buf *out)
{
	if (version < 0 || version > 1 || s->unaligned_records.len < 0)
		return KB_ERR_INVAL;
	struct wire_writer w;
	wire_writer_init(&w, out, true);
	wire_write_i32(&w, s->throttle_time_ms);
	wire_write_i16(&w, s->error_code);
	if (s->error_code != KAFKA_ERR_NONE) {
		wire_write_array_len(&w, 0);
		wire_write_tags(&w);
		return wire_writer_status(&w);
	}
	raft_begin_partition(&w);
	wire_write_i16(&w, s->partition_error_code);
	raft_write_snapshot_id(&w, s->snapshot_id);
	wire_write_i64(&w, s->size);
	wire_write_i64(&w, s->position);
	wire_write_bytes(&w, s->unaligned_records);
	bool leader = s->leader_id != 0 || s->leader_epoch != 0;
	wire_write_uvarint(&w, leader);
	if (leader) {
		wire_write_uvarint(&w, 0);     /* tag 0 */
		wire_write_uvarint(&w, 4 + 4 + 1);
		wire_write_i32(&w, s->leader_id);
		wire_write_i32(&w, s->leader_epoch);
		wire_write_tags(&w);
	}
	wire_write_tags(&w); /* topic */
	wire_write_tags(&w); /* body */
	return wire_writer_status(&w);
}

/* The partition's tag section: CurrentLeader (tag 0) into s. */
static void raft_read_current_leader(struct wire_reader *r,
				     struct raft_fetch_snapshot_response *s)
{
	uint32_t n = wire_read_uvarint(r);
	if (n > wire_remaining(r) / 2)
		r->err = true;
	for (uint32_t i = 0; i < n && !r->err; i++) {
		uint32_t tag = wire_read_uvarint(r);
		uint32_t size = wire_read_uvarint(r);
		const uint8_t *val = wire_read_raw(r, size);
		if (!val || tag != 0)
			continue;
		struct wire_reader vr;
		wire_reader_init(&vr, val, size, true);
		s->leader_id = wire_read_i32(&vr);
		s->leader_epoch = wire_read_i32(&vr);
		wire_read_tags(&vr);
		if (vr.err || wire_remaining(&vr) != 0)
			r->err = true;
	}
}

/* One PartitionSnapshot of a response; the caller checked it is ours. */
static void raft_read_snapshot_partition(struct wire_reader *r,
					 struct raft_fetch_snapshot_response *s)
{
	s->partition_error_code = wire_read_i16(r);
	s->snapshot_id = raft_read_snapshot_id(r);
	s->size = wire_read_i64(r);
	s->position = wire_read_i64(r);
	s->unaligned_records = wire_read_bytes(r);
	raft_read_current_leader(r, s);
}

/* UnalignedRecords stays a view into p (valid while p is). */
int raft_fetch_snapshot_response_decode(int16_t version, const void *p, size_t len,
					struct raft_fetch_snapshot_response *s)
{
	if (version < 0 || version > 1)
		return KB_ERR_INVAL;
	struct wire_reader r;
	memset(s, 0, sizeof *s);
	wire_reader_init(&r, p, len, true);
	s->throttle_time_ms = wire_read_i32(&r);
	s->error_code = wire_read_i16(&r);
	int32_t n_topics = wire_read_array_len(&r, 3);
	if (n_topics > 1 || (n_topics == 0 && s->error_code == KAFKA_ERR_NONE))
		return KB_ERR_PROTO;
	if (n_topics == 1 && !r.err) {
		bool ours = wire_str_eq(wire_read_string(&r), RAFT_TOPIC);
		if (!ours || wire_read_array_len(&r, 4) != 1 || wire_read_i32(&r) != 0)
			return KB_ERR_PROTO;
		raft_read_snapshot_partition(&r, s);
		wire_read_tags(&r);
	}
	wire_read_tags(&r); /* v1: NodeEndpoints (tag 0), skipped */
	if (wire_reader_status(&r) != KB_OK || wire_remaining(&r) != 0)
		return KB_ERR_PROTO;
	return KB_OK;
}

/* ---- Envelope (58): a broker forwards a client's request to the controller ---- */

/* KAFKA: EnvelopeRequest v0 — the whole inner request (header and body),
 * the client's principal (nullable) and address, as bytes. */
int raft_envelope_request_encode(const struct raft_envelope_request *e,
				 int16_t version, struct kb_buf *out)
{
	if (version != 0 || e->request_data.len < 0 || e->client_host_address.len < 0)
		return KB_ERR_INVAL;
	struct wire_writer w;
	wire_writer_init(&w, out, true);
	wire_write_bytes(&w, e->request_data);
	wire_write_bytes(&w, e->request_principal);
	wire_write_bytes(&w, e->client_host_address);
	wire_write_tags(&w);
	return wire_writer_status(&w);
}

/* The three fields stay views into p (valid while p is). */
int raft_envelope_request_decode(int16_t version, const void *p, size_t len,
				 struct raft_envelope_request *e)
{
	if (version != 0)
		return KB_ERR_INVAL;
	struct wire_reader r;
	wire_reader_init(&r, p, len, true);
	e->request_data = wire_read_bytes(&r);
	e->request_principal = wire_read_nullable_bytes(&r);
	e->client_host_address = wire_read_bytes(&r);
	wire_read_tags(&r);
	if (wire_reader_status(&r) != KB_OK || wire_remaining(&r) != 0)
		return KB_ERR_PROTO;
	return KB_OK;
}

/* KAFKA: EnvelopeResponse v0 — the inner response (null on an error of
 * the envelope itself), then the envelope's ErrorCode. */
int raft_envelope_response_encode(const struct raft_envelope_response *e,
				  int16_t version, struct kb_buf *out)
{
	if (version != 0)
		return KB_ERR_INVAL;
	struct wire_writer w;
	wire_writer_init(&w, out, true);
	wire_write_bytes(&w, e->response_data);
	wire_write_i16(&w, e->error_code);
	wire_write_tags(&w);
	return wire_writer_status(&w);
}

/* ResponseData stays a view into p (NULL view when null). */
int raft_envelope_response_decode(int16_t version, const void *p, size_t len,
				  struct raft_envelope_response *e)
{
	if (version != 0)
		return KB_ERR_INVAL;
	struct wire_reader r;
	wire_reader_init(&r, p, len, true);
	e->response_data = wire_read_nullable_bytes(&r);
	e->error_code = wire_read_i16(&r);
	wire_read_tags(&r);
	if (wire_reader_status(&r) != KB_OK || wire_remaining(&r) != 0)
		return KB_ERR_PROTO;
	return KB_OK;
}
