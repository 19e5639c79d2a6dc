/* SPDX-License-Identifier: MIT */
/*
 * Chapter 06 — topics, part 7: the data path, Fetch and the offset APIs.
 *
 * Concept:
 *   Fetch finds the byte range that holds the asked offsets and hands the
 *   file to the socket (sendfile(2)); when there is not enough yet, the
 *   request waits in purgatory (chapter 05). ListOffsets,
 *   OffsetForLeaderEpoch and DeleteRecords read and move a log's bounds.
 *
 * Kafka:
 *   KafkaApis.handleFetchRequest, DelayedFetch, KIP-74. Fetch v4-12,
 *   ListOffsets v1-7, OffsetForLeaderEpoch v2-4, DeleteRecords v0-2.
 *
 * Interface:
 *   - Every API here reads its request with topic_data_decode
 *     (06_produce.c); Fetch answers a repeated partition once, ListOffsets
 *     each occurrence INVALID_REQUEST.
 *   - A fetch never allocates from a size the client sent. A replica id
 *     >= 0 is a follower: chapter 08's hook (topic_follower_fetch) says
 *     whether to serve it, then it reads up to the log end offset.
 *   - A partition another broker leads (chapter 07 sets leader_id) is
 *     NOT_LEADER_OR_FOLLOWER for every API here (topic_leader_check).
 *
 * Invariants:
 *   3. A consumer never sees an offset at or above the high watermark.
 *   4. A parked fetch holds no pointer into partition state.
 *   (1 and 2, on what a produce appends, are 06_produce.c's.)
 *
 * Simplifications (docs/06_fetch.md says more):
 *   - No fetch sessions (KIP-227) and no transactions (chapter 11).
 *
 * See also: docs/06_fetch.md, diagrams/06_fetch.dot,
 *   tests/06_topics_test.c.
 *   Uses chapters 00 (base), 03 (log), 04 (codec), 05 (server).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "00_base.h"
#include "03_log.h"
#include "04_codec.h"
#include "05_server.h"
#include "06_topics.h"
#include "06_data_internal.h"

/* KAFKA: IsolationLevel.READ_COMMITTED. */
#define READ_COMMITTED 1
/* KAFKA: ListOffsetsRequest special timestamps. */
#define LATEST_TIMESTAMP (-1)
#define EARLIEST_TIMESTAMP (-2)
#define MAX_TIMESTAMP (-3)

/* The answer for one fetched partition, from one pass over the logs. */
struct fetch_part {
	int16_t error;
	int64_t high_watermark;   /* -1 on error */
	int64_t log_start_offset; /* -1 on error */
	int32_t preferred;        /* KIP-392: read there instead; -1 here */
	struct log_read_result read; /* valid only in the turn that made it */
	const struct log *log;       /* borrowed: the key to watch */
};

/* A fetch, parked or not. INVARIANT 4: names and numbers only. */
struct fetch_op {
	struct topic_manager *tm; /* borrowed */
	struct data_req q;        /* owned arrays; views valid until answered */
	struct fetch_part *parts; /* owned: q.nparts, in request order */
	int status;               /* KB_OK, or why the response is broken */
	uint64_t used;            /* bytes found so far in this pass */
	bool min_one;             /* KIP-74: no partition has given data yet */
};

/* ---- Prototypes of the static helpers, in reading order ---- */

static bool fetch_try_complete(struct net_delayed *d,
			       struct net_response *resp, bool expired);
static bool fetch_try(struct fetch_op *op, struct net_response *resp,
		      bool expired);
static uint64_t fetch_gather(struct fetch_op *op, bool *any_error);
static int fetch_write(struct fetch_op *op, struct net_response *resp);
static void fetch_op_free(void *ctx);
static struct topic_partition *data_lookup(struct topic_manager *tm,
					   struct wire_str topic,
					   int32_t index, int16_t *error);
static int32_t epoch_of(const struct log *log, int64_t offset);
static void fetch_authorize_follower(const struct net_request *req,
				     struct data_req *q);
static bool fetch_from_follower(const struct data_req *q);
static int16_t fetch_leader_check(const struct fetch_op *op,
				  const struct topic_partition *tp,
				  const struct part_req *p);
static bool holds_replica(const struct topic_manager *tm,
			  const struct topic_partition *tp);
static int32_t preferred_replica(const struct fetch_op *op,
				 const struct topic_partition *tp);

/* ---- Fetch (api key 1, v4-12) ---- */

static void fetch_read_part(struct wire_reader *r, int16_t v,
			    struct part_req *p)
{
	p->index = wire_read_i32(r);
	p->current_leader_epoch = v >= 9 ? wire_read_i32(r) : -1;
	p->offset = wire_read_i64(r);
	if (v >= 12)
		wire_read_i32(r); /* last_fetched_epoch: followers, chapter 08 */
	if (v >= 5)
		wire_read_i64(r); /* log_start_offset: followers only */
	p->max_bytes = wire_read_i32(r);
}

/* The fields before and after the topics. forgotten_topics_data only
 * matters to fetch sessions, which samsa does not keep. */
static int fetch_decode(struct wire_reader *r, int16_t v, struct data_req *q)
{
	/* -1 for consumers. Up to v14 (samsa serves v4-12); from v15 it
	 * moves into ReplicaState, which must then set q->replica_id. */
	q->replica_id = wire_read_i32(r);
	q->max_wait_ms = wire_read_i32(r);
	q->min_bytes = wire_read_i32(r);
	q->max_bytes = wire_read_i32(r);
	q->isolation_level = wire_read_i8(r);
	if (v >= 7) {
		wire_read_i32(r); /* session_id */
		wire_read_i32(r); /* session_epoch */
	}
	int rc = topic_data_decode(r, 16, fetch_read_part, q);
	if (rc == KB_OK)
		rc = topic_data_drop_repeats(q);
	int32_t nforgotten = v >= 7 ? wire_read_array_len(r, r->flexible ? 3 : 6) : 0;
	for (int32_t i = 0; rc == KB_OK && i < nforgotten; i++) {
		wire_read_string(r);
		int32_t n = wire_read_array_len(r, 4);
		for (int32_t k = 0; k < n; k++)
			wire_read_i32(r);
		wire_read_tags(r);
	}
	if (v >= 11)
		q->rack_id = wire_read_string(r);
	wire_read_tags(r);
	return rc == KB_OK ? wire_reader_status(r) : rc;
}

/* Answer now when there is enough, or park until there is (KAFKA:
 * DelayedFetch), watching the log of every partition asked for. */
int handle_fetch(struct net_request *req, struct net_response *resp)
{
	struct fetch_op *op = calloc(1, sizeof *op);
	struct net_delayed *d;
	if (!op)
		return KB_ERR_NOMEM;
	op->tm = req->ctx;
	op->q.version = req->header.api_version;
	int rc = fetch_decode(&req->body, op->q.version, &op->q);
	if (rc == KB_OK && fetch_from_follower(&op->q))
		fetch_authorize_follower(req, &op->q);
	else if (rc == KB_OK) /* KAFKA: a consumer needs READ on each topic,
				 asked once, before the fetch may park */
		topic_data_authorize(req, &op->q, NET_OP_READ);
	if (rc == KB_OK && op->q.nparts > 0 &&
	    !(op->parts = calloc((size_t)op->q.nparts, sizeof *op->parts)))
		rc = KB_ERR_NOMEM;
	if (rc != KB_OK || fetch_try(op, resp, false)) {
		rc = rc == KB_OK ? op->status : rc;
		fetch_op_free(op);
		return rc;
	}
	int64_t deadline = kb_mono_ms() + op->q.max_wait_ms;
	struct net_wait wait = {deadline, fetch_try_complete, op,
				fetch_op_free};
	rc = net_park(req, resp, &wait, &d);
	if (rc != KB_OK)
		return rc; /* net_park freed op */
	/* A watch that cannot be added (no memory) leaves the deadline. */
	for (int32_t i = 0; i < op->q.nparts; i++)
		net_watch(d, op->parts[i].log);
	return NET_PARKED;
}

/* Called by the reactor when a watched log was appended to, or at the
 * deadline. INVARIANT 4: everything is looked up again. */
static bool fetch_try_complete(struct net_delayed *d, struct net_response *resp,
			       bool expired)
{
	return fetch_try(net_delayed_ctx(d), resp, expired);
}

/* KAFKA: DelayedFetch.tryComplete: answer when max_wait_ms <= 0, nothing
 * was asked, min_bytes are there, or a partition has an error. */
static bool fetch_try(struct fetch_op *op, struct net_response *resp,
		      bool expired)
{
	bool any_error = false;
	uint64_t bytes = fetch_gather(op, &any_error);
	if (!expired && !any_error && op->q.nparts > 0 && op->q.max_wait_ms > 0 &&
	    bytes < (uint64_t)KB_MAX(op->q.min_bytes, 0))
		return false;
	op->status = fetch_write(op, resp);
	return true;
}

/* KAFKA: a replica id >= 0 says "I am a follower": it may read past the
 * high watermark and moves the ISR (chapter 08's hook, topic_follower_fetch,
 * decides; without one, or for a broker that is not a replica of the
 * partition, NOT_LEADER_OR_FOLLOWER). With an authorizer it needs
 * CLUSTER_ACTION, so a client cannot claim it (CVE-2018-1288's shape). */
static bool fetch_from_follower(const struct data_req *q)
{
	return q->replica_id >= 0;
}

/* KAFKA: ReplicaManager.getPartitionOrException for a fetch: the leader
 * serves; so does another replica (KIP-392) for a consumer that asks at
 * v11+ with the replica's epoch, since a leader sent it there. */
static int16_t fetch_leader_check(const struct fetch_op *op,
				  const struct topic_partition *tp,
				  const struct part_req *p)
{
	int16_t err = topic_leader_check(op->tm, tp, p->current_leader_epoch);
	if (err != KAFKA_ERR_NOT_LEADER_OR_FOLLOWER || op->q.version < 11 ||
	    fetch_from_follower(&op->q) || !holds_replica(op->tm, tp))
		return err;
	if (p->current_leader_epoch == -1 ||
	    p->current_leader_epoch == tp->leader_epoch)
		return KAFKA_ERR_NONE;
	return p->current_leader_epoch > tp->leader_epoch
		       ? KAFKA_ERR_UNKNOWN_LEADER_EPOCH
		       : KAFKA_ERR_FENCED_LEADER_EPOCH;
}

/* Whether the metadata places a replica of tp on this node. */
static bool holds_replica(const struct topic_manager *tm,
			  const struct topic_partition *tp)
{
	struct topic_replicas rs;
	int32_t self;
	if (!topic_cluster_get(tm) ||
	    topic_cluster_replicas(tm, tp, &rs, &self) != KAFKA_ERR_NONE)
		return false;
	for (int32_t i = 0; i < rs.n_replicas; i++)
		if (rs.replicas[i] == topic_manager_config(tm)->node_id)
			return true;
	return false;
}

/* Broker id's rack into out (cap bytes); false when unknown or none. */
static bool rack_of(const struct topic_manager *tm, int32_t id, char *out,
		    size_t cap)
{
	struct topic_broker_info b;
	for (int32_t i = 0; topic_cluster_broker(tm, NULL, i, &b); i++)
		if (b.id == id) {
			if (!b.rack)
				return false;
			snprintf(out, cap, "%s", b.rack);
			return true;
		}
	return false;
}

/* KAFKA: RackAwareReplicaSelector.select (KIP-392), with
 * replica.selector.class set: for a consumer that sends its rack, an
 * in-sync replica in that rack, unless the leader is there itself;
 * -1: read here. */
static int32_t preferred_replica(const struct fetch_op *op,
				 const struct topic_partition *tp)
{
	const struct topic_broker_config *cfg = topic_manager_config(op->tm);
	struct wire_str want = op->q.rack_id;
	struct topic_replicas rs;
	int32_t self;
	char rack[TOPIC_RACK_MAX];
	if (!cfg->rack_aware_reads || op->q.version < 11 || want.len <= 0 ||
	    !topic_cluster_get(op->tm) ||
	    topic_cluster_replicas(op->tm, tp, &rs, &self) != KAFKA_ERR_NONE)
		return -1;
	if (wire_str_eq(want, cfg->rack))
		return -1;
	for (int32_t i = 0; i < rs.n_isr; i++)
		if (rs.isr[i] != cfg->node_id &&
		    rack_of(op->tm, rs.isr[i], rack, sizeof rack) &&
		    wire_str_eq(want, rack))
			return rs.isr[i];
	return -1;
}

/* KAFKA: KafkaApis.handleFetchRequest: a follower's fetch needs
 * CLUSTER_ACTION on the cluster, asked once; and samsa takes it on the
 * inter-broker listener only (the one brokers register and dial: the
 * client listener of chapter 15), not on an extra SSL or SASL one a
 * client was given. Else every partition is CLUSTER_AUTHORIZATION_FAILED. */
static void fetch_authorize_follower(const struct net_request *req,
				     struct data_req *q)
{
	const struct topic_broker_config *cfg = topic_manager_config(req->ctx);
	const char *host;
	int32_t port;
	bool other_listener = net_request_advertised(req, &host, &port) &&
			      port != cfg->advertised_port;
	bool denied = other_listener ||
		      !net_authorized_cluster(req, NET_OP_CLUSTER_ACTION);
	for (int32_t t = 0; t < q->ntopics; t++)
		for (int32_t i = 0; i < q->topics[t].n; i++)
			q->topics[t].parts[i].denied = denied;
}

/* One partition: the byte range to send, at most what is left of
 * max_bytes unless min_one (KIP-74: the first partition with data may
 * exceed its limits by one batch), never past the high watermark
 * (INVARIANT 3). */
static void fetch_partition(struct fetch_op *op, struct wire_str topic,
			    const struct part_req *p, struct fetch_part *f)
{
	*f = (struct fetch_part){KAFKA_ERR_NONE, -1, -1, -1, {0}, NULL};
	bool follower = fetch_from_follower(&op->q);
	if (p->denied) {
		f->error = follower ? KAFKA_ERR_CLUSTER_AUTHORIZATION_FAILED
				    : KAFKA_ERR_TOPIC_AUTHORIZATION_FAILED;
		return;
	}
	struct topic_partition *tp = data_lookup(op->tm, topic, p->index,
						 &f->error);
	if (!tp || (f->error = fetch_leader_check(op, tp, p)))
		return;
	if (!follower && tp->leader_id == topic_manager_config(op->tm)->node_id &&
	    (f->preferred = preferred_replica(op, tp)) >= 0) {
		f->high_watermark = tp->high_watermark; /* KAFKA: no records, */
		f->log_start_offset = tp->log->log_start_offset; /* go there */
		return;
	}
	if (follower && (f->error = topic_follower_fetch(op->tm, tp,
							 op->q.replica_id,
							 p->offset)))
		return;
	uint64_t budget = (uint64_t)KB_MAX(op->q.max_bytes, 0);
	uint64_t limit = KB_MIN((uint64_t)KB_MAX(p->max_bytes, 0),
				budget - KB_MIN(op->used, budget));
	/* A follower reads up to the log end: it must hold what is not yet
	 * committed for the high watermark to pass it. */
	int64_t upto = follower ? log_end_offset(tp->log) : tp->high_watermark;
	struct log_read_req req = {p->offset, limit, upto, op->min_one};
	f->log_start_offset = tp->log->log_start_offset; /* a follower behind
							    it starts over there */
	int rc = log_read(tp->log, &req, &f->read);
	if (rc != KB_OK) {
		f->error = rc == KB_ERR_RANGE ? KAFKA_ERR_OFFSET_OUT_OF_RANGE
					      : KAFKA_ERR_KAFKA_STORAGE_ERROR;
		f->read.length = 0;
		return;
	}
	f->log = tp->log;
	f->high_watermark = tp->high_watermark;
	f->log_start_offset = tp->log->log_start_offset;
	if (f->read.length > 0)
		op->min_one = false;
}

/* One pass over every partition asked for, within max_bytes overall.
 * Returns the bytes found. */
static uint64_t fetch_gather(struct fetch_op *op, bool *any_error)
{
	int32_t k = 0;
	op->used = 0;
	op->min_one = true;
	for (int32_t t = 0; t < op->q.ntopics; t++) {
		const struct topic_req *tr = &op->q.topics[t];
		for (int32_t i = 0; i < tr->n; i++, k++) {
			struct fetch_part *f = &op->parts[k];
			fetch_partition(op, tr->name, &tr->parts[i], f);
			op->used += f->read.length;
			*any_error |= f->error != KAFKA_ERR_NONE;
		}
	}
	return op->used;
}

/* One PartitionData. The records are spliced from the segment file
 * (sendfile, zero copy) after their length prefix. */
static int fetch_write_partition(const struct data_req *q,
				 struct net_response *resp,
				 const struct part_req *p,
				 const struct fetch_part *f)
{
	struct wire_writer *w = &resp->w;
	wire_write_i32(w, p->index);
	wire_write_i16(w, f->error);
	wire_write_i64(w, f->high_watermark);
	wire_write_i64(w, f->high_watermark); /* last_stable_offset (v4+) */
	if (q->version >= 5)
		wire_write_i64(w, f->log_start_offset);
	/* aborted_transactions: none; null unless read_committed asked */
	wire_write_array_len(w, q->isolation_level == READ_COMMITTED ? 0 : -1);
	if (q->version >= 11)
		wire_write_i32(w, f->preferred); /* preferred_read_replica */
	if (w->flexible)
		wire_write_uvarint(w, (uint32_t)f->read.length + 1);
	else
		wire_write_i32(w, (int32_t)f->read.length);
	int rc = wire_writer_status(w);
	if (rc == KB_OK && f->read.length > 0)
		rc = net_response_add_file(resp, f->read.seg->fd,
					   f->read.position, f->read.length);
	wire_write_tags(w);
	return rc;
}

/* KAFKA: FetchResponse: throttle, error 0, session_id 0, then every
 * topic and partition asked for, in request order. */
static int fetch_write(struct fetch_op *op, struct net_response *resp)
{
	struct wire_writer *w = &resp->w;
	int rc = KB_OK;
	int32_t k = 0;
	wire_write_i32(w, 0); /* throttle_time_ms */
	if (op->q.version >= 7) {
		wire_write_i16(w, KAFKA_ERR_NONE);
		wire_write_i32(w, 0); /* session_id: no fetch sessions */
	}
	wire_write_array_len(w, op->q.ntopics);
	for (int32_t t = 0; t < op->q.ntopics; t++) {
		const struct topic_req *tr = &op->q.topics[t];
		wire_write_string(w, tr->name);
		wire_write_array_len(w, tr->n);
		for (int32_t i = 0; i < tr->n; i++, k++)
			if (rc == KB_OK)
				rc = fetch_write_partition(&op->q, resp, &tr->parts[i],
							   &op->parts[k]);
		wire_write_tags(w);
	}
	wire_write_tags(w);
	return rc == KB_OK ? wire_writer_status(w) : rc;
}

static void fetch_op_free(void *ctx)
{
	struct fetch_op *op = ctx;
	topic_data_req_fini(&op->q);
	free(op->parts);
	free(op);
}

/* ---- ListOffsets (api key 2, v1-7) ---- */

static void list_offsets_read_part(struct wire_reader *r, int16_t v,
				   struct part_req *p)
{
	p->index = wire_read_i32(r);
	p->current_leader_epoch = v >= 4 ? wire_read_i32(r) : -1;
	p->offset = wire_read_i64(r); /* the timestamp asked for */
	if (v == 0)
		wire_read_i32(r); /* max_num_offsets */
}

/* KAFKA: UnifiedLog.fetchOffsetByTimestamp. An offset that does not
 * exist (no record that late, an empty log) is -1 with no error. */
static void list_offsets_find(const struct topic_partition *tp, int64_t ts,
			      int64_t *offset, int64_t *found_ts)
{
	*found_ts = -1;
	if (ts == EARLIEST_TIMESTAMP)
		*offset = tp->log->log_start_offset;
	else if (ts == LATEST_TIMESTAMP) /* = last stable offset, too */
		*offset = tp->high_watermark;
	else if ((ts == MAX_TIMESTAMP
		  ? log_max_timestamp(tp->log, offset, found_ts)
		  : log_offset_for_timestamp(tp->log, ts, offset, found_ts)) !=
		 KB_OK || *offset >= tp->high_watermark) /* INVARIANT 3 */
		*offset = *found_ts = -1;
}

static void list_offsets_answer(struct data_ctx *c, struct wire_writer *w,
				struct wire_str topic, const struct part_req *p)
{
	int16_t v = c->q->version, error;
	int64_t offset = -1, ts = -1;
	struct topic_partition *tp = NULL;
	/* KAFKA: KafkaApis answers every occurrence of a partition named
	 * twice INVALID_REQUEST (ListOffsetsRequest.duplicatePartitions),
	 * without looking at its log. */
	if (p->repeated != REPEAT_NONE)
		error = KAFKA_ERR_INVALID_REQUEST;
	else if (p->denied) /* KAFKA: DESCRIBE on the topic */
		error = KAFKA_ERR_TOPIC_AUTHORIZATION_FAILED;
	else if ((tp = data_lookup(c->tm, topic, p->index, &error)) &&
		 !(error = topic_leader_check(c->tm, tp,
					      p->current_leader_epoch)))
		list_offsets_find(tp, p->offset, &offset, &ts);
	wire_write_i32(w, p->index);
	wire_write_i16(w, error);
	if (v == 0) { /* old_style_offsets */
		wire_write_array_len(w, offset >= 0);
		if (offset >= 0)
			wire_write_i64(w, offset);
	} else {
		wire_write_i64(w, ts);
		wire_write_i64(w, offset);
	}
	if (v >= 4)
		wire_write_i32(w, tp && offset >= 0 ? epoch_of(tp->log, offset) : -1);
}

int handle_list_offsets(struct net_request *req, struct net_response *resp)
{
	struct data_req q = {.version = req->header.api_version};
	struct data_ctx c = {.tm = req->ctx, .q = &q};
	struct wire_reader *r = &req->body;
	wire_read_i32(r); /* replica_id */
	q.isolation_level = q.version >= 2 ? wire_read_i8(r) : 0;
	int rc = topic_data_decode(r, 12, list_offsets_read_part, &q);
	if (rc == KB_OK)
		rc = topic_data_find_repeats(&q);
	if (rc == KB_OK)
		topic_data_authorize(req, &q, NET_OP_DESCRIBE);
	if (q.version >= 10)
		wire_read_i32(r); /* timeout_ms */
	wire_read_tags(r);
	if (rc == KB_OK && (rc = wire_reader_status(r)) == KB_OK) {
		if (q.version >= 2)
			wire_write_i32(&resp->w, 0); /* throttle_time_ms */
		topic_data_write(&c, &resp->w, list_offsets_answer);
		wire_write_tags(&resp->w);
		rc = wire_writer_status(&resp->w);
	}
	topic_data_req_fini(&q);
	return rc;
}

/* ---- OffsetForLeaderEpoch (api key 23, v2-4) ---- */

static void leader_epoch_read_part(struct wire_reader *r, int16_t v,
				   struct part_req *p)
{
	p->index = wire_read_i32(r);
	p->current_leader_epoch = v >= 2 ? wire_read_i32(r) : -1;
	p->epoch = wire_read_i32(r);
}

/* KAFKA: an unknown epoch is (-1, -1) with no error. */
static void leader_epoch_answer(struct data_ctx *c, struct wire_writer *w,
				struct wire_str topic, const struct part_req *p)
{
	int16_t error;
	int32_t epoch = -1;
	int64_t end = -1;
	struct topic_partition *tp = p->denied ? NULL :
		data_lookup(c->tm, topic, p->index, &error);
	if (p->denied)
		error = c->q->replica_id >= 0 ? KAFKA_ERR_CLUSTER_AUTHORIZATION_FAILED
					      : KAFKA_ERR_TOPIC_AUTHORIZATION_FAILED;
	if (tp &&
	    !(error = topic_leader_check(c->tm, tp, p->current_leader_epoch)) &&
	    log_epoch_end_offset(tp->log, p->epoch, &epoch, &end) != KB_OK)
		epoch = -1, end = -1;
	wire_write_i16(w, error); /* error_code comes first here */
	wire_write_i32(w, p->index);
	if (c->q->version >= 1)
		wire_write_i32(w, epoch);
	wire_write_i64(w, end);
}

int handle_offset_for_leader_epoch(struct net_request *req,
				   struct net_response *resp)
{
	struct data_req q = {.version = req->header.api_version};
	struct data_ctx c = {.tm = req->ctx, .q = &q};
	struct wire_reader *r = &req->body;
	q.replica_id = q.version >= 3 ? wire_read_i32(r) : -1;
	int rc = topic_data_decode(r, 12, leader_epoch_read_part, &q);
	wire_read_tags(r);
	/* KAFKA: handleOffsetForLeaderEpochRequest: a follower (replica id
	 * >= 0) needs CLUSTER_ACTION, a client DESCRIBE on each topic. */
	if (rc == KB_OK && q.replica_id >= 0)
		fetch_authorize_follower(req, &q);
	else if (rc == KB_OK)
		topic_data_authorize(req, &q, NET_OP_DESCRIBE);
	if (rc == KB_OK && (rc = wire_reader_status(r)) == KB_OK) {
		if (q.version >= 2)
			wire_write_i32(&resp->w, 0); /* throttle_time_ms */
		topic_data_write(&c, &resp->w, leader_epoch_answer);
		wire_write_tags(&resp->w);
		rc = wire_writer_status(&resp->w);
	}
	topic_data_req_fini(&q);
	return rc;
}

/* ---- DeleteRecords (api key 21, v0-2) ---- */

static void delete_records_read_part(struct wire_reader *r, int16_t v,
				     struct part_req *p)
{
	(void)v;
	p->index = wire_read_i32(r);
	p->offset = wire_read_i64(r);
}

/* KAFKA: Partition.deleteRecordsOnLeader: -1 means the high watermark;
 * beyond it is OFFSET_OUT_OF_RANGE; a compact-only topic refuses. */
static void delete_records_answer(struct data_ctx *c, struct wire_writer *w,
				  struct wire_str topic, const struct part_req *p)
{
	int16_t error;
	int64_t low = -1;
	struct topic_partition *tp = p->denied ? NULL :
		data_lookup(c->tm, topic, p->index, &error);
	if (p->denied) /* KAFKA: DELETE on the topic */
		error = KAFKA_ERR_TOPIC_AUTHORIZATION_FAILED;
	int64_t want = tp && p->offset == -1 ? tp->high_watermark : p->offset;
	if (tp && (error = topic_leader_check(c->tm, tp, -1)))
		tp = NULL; /* KAFKA: only the leader deletes records */
	else if (tp && !tp->topic->cfg.cleanup_delete)
		error = KAFKA_ERR_POLICY_VIOLATION;
	else if (tp && (want < 0 || want > tp->high_watermark))
		error = KAFKA_ERR_OFFSET_OUT_OF_RANGE;
	else if (tp && want > tp->log->log_start_offset) {
		if (log_advance_start_offset(tp->log, want) != KB_OK)
			error = KAFKA_ERR_KAFKA_STORAGE_ERROR;
		c->changed = true;
	}
	if (tp && error == KAFKA_ERR_NONE)
		low = tp->log->log_start_offset;
	wire_write_i32(w, p->index);
	wire_write_i64(w, low);
	wire_write_i16(w, error);
}

int handle_delete_records(struct net_request *req, struct net_response *resp)
{
	struct data_req q = {.version = req->header.api_version};
	struct data_ctx c = {.tm = req->ctx, .q = &q};
	struct wire_reader *r = &req->body;
	int rc = topic_data_decode(r, 12, delete_records_read_part, &q);
	wire_read_i32(r); /* timeout_ms */
	wire_read_tags(r);
	if (rc == KB_OK)
		topic_data_authorize(req, &q, NET_OP_DELETE);
	if (rc == KB_OK && (rc = wire_reader_status(r)) == KB_OK) {
		wire_write_i32(&resp->w, 0); /* throttle_time_ms */
		topic_data_write(&c, &resp->w, delete_records_answer);
		wire_write_tags(&resp->w);
		rc = wire_writer_status(&resp->w);
	}
	/* KAFKA: the new log start offset must survive a crash. */
	if (c.changed)
		topic_manager_checkpoint(c.tm);
	topic_data_req_fini(&q);
	return rc;
}

/* ---- Lookups shared by the handlers above ---- */

/* KAFKA: an unknown topic, an invalid name and a partition out of range
 * are all UNKNOWN_TOPIC_OR_PARTITION for the data APIs. */
static struct topic_partition *data_lookup(struct topic_manager *tm,
					   struct wire_str topic,
					   int32_t index, int16_t *error)
{
	char name[TOPIC_NAME_MAX + 1];
	struct topic_partition *tp = NULL;
	if (topic_name_copy(topic, name))
		tp = topic_partition_find(tm, name, index);
	*error = tp ? KAFKA_ERR_NONE : KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
	return tp;
}

/* The leader epoch an offset was written in: the last epoch that starts
 * at or before it (KAFKA: LeaderEpochFileCache.epochForOffset). */
static int32_t epoch_of(const struct log *log, int64_t offset)
{
	int32_t epoch = -1;
	for (size_t i = 0; i < log->nepochs; i++)
		if (log->epochs[i].start_offset <= offset)
			epoch = log->epochs[i].epoch;
	return epoch;
}
