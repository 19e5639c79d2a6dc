/* SPDX-License-Identifier: MIT */
/*
 * Chapter 06 — topics, part 4: the data path.
 *
 * Concept:
 *   Produce checks each batch a client sends as Kafka does and appends it
 *   as it came (the broker writes only base offset and leader epoch, which
 *   the CRC does not cover). Fetch finds the byte range that holds the
 *   asked offsets and hands the file to the socket (sendfile(2)); when
 *   there is not enough yet, the request waits in purgatory (chapter 05).
 *
 * Kafka:
 *   KafkaApis.handleProduceRequest, ProduceRequest.validateRecords,
 *   UnifiedLog.analyzeAndValidateRecords, LogValidator; DelayedFetch,
 *   KIP-74. Produce v3-8 (v0-2: UNSUPPORTED_VERSION), Fetch v4-12,
 *   ListOffsets v1-7, OffsetForLeaderEpoch v2-4, DeleteRecords v0-2.
 *
 * Interface:
 *   - Every API here reads topics of partitions (data_decode) and answers
 *     them in request order; Produce and Fetch answer a repeated
 *     partition once, ListOffsets each occurrence INVALID_REQUEST.
 *   - A batch reaches a log only through topic_append_batch.
 *   - A fetch never allocates from a size the client sent, and a replica
 *     id >= 0 gets NOT_LEADER_OR_FOLLOWER (followers are chapter 08's).
 *
 * Invariants:
 *   1. A batch is appended only after it passed every check: one batch of
 *      magic 2, size, CRC, codec, counts, no control or transactional
 *      bits, records that fill it as recordsCount says (gzip inflated,
 *      bounded), keys on a compacted topic.
 *   2. The broker changes no byte the CRC covers, except on LogAppendTime
 *      topics (timestamp type, maxTimestamp, CRC again).
 *   3. A consumer never sees an offset at or above the high watermark.
 *   4. A parked fetch holds no pointer into partition state.
 *
 * Simplifications (docs/06_produce_fetch.md says more):
 *   - One broker: acks=-1 waits for nothing; min.insync.replicas > 1 fails.
 *   - No fetch sessions (KIP-227) and no transactions (chapter 11).
 *   - snappy, lz4 and zstd batches are not opened; gzip is inflated within
 *     PRODUCE_INFLATE_BUDGET per request.
 *
 * See also: docs/06_produce_fetch.md, diagrams/06_produce_fetch.dot,
 *   tests/06_topics_test.c.
 *   Uses chapters 00 (base), 01 (segment), 03 (log), 04 (codec), 05 (server).
 */
#include <stdlib.h>
#include <string.h>

#include "00_base.h"
#include "01_segment.h"
#include "03_log.h"
#include "04_codec.h"
#include "05_server.h"
#include "06_topics.h"

/* KAFKA: the only acks values (ProduceRequest.validate). */
#define ACKS_NONE 0
#define ACKS_LEADER 1
#define ACKS_ALL (-1)
/* The in-sync replicas of every partition: this node. Chapter 08. */
#define SINGLE_NODE_ISR 1
/* Lowest Produce version answered: v0-2 carry magic 0/1 message sets. */
#define PRODUCE_MIN_SERVED 3
/* KAFKA: ProduceRequest.validateRecords: zstd from Produce v7 (KIP-110). */
#define PRODUCE_ZSTD_MIN_VERSION 7
/* Bytes of gzip records one Produce request may inflate, over all its
 * partitions: a bomb guard (Kafka has none), 32 times a client's 1 MB
 * default max.request.size, a tenth of a second of the reactor here. */
#define PRODUCE_INFLATE_BUDGET ((size_t)32 << 20)
/* KAFKA: CompressionType ids (attributes bits 0-2). */
#define CODEC_ZSTD 4
/* KAFKA: IsolationLevel.READ_COMMITTED. */
#define READ_COMMITTED 1
/* KAFKA: ListOffsetsRequest special timestamps. */
#define LATEST_TIMESTAMP (-1)
#define EARLIEST_TIMESTAMP (-2)
#define MAX_TIMESTAMP (-3)

/* One partition of a data-API request. Each API reads the fields it has;
 * the others keep their defaults. Views point into the request. */
struct part_req {
	int32_t index;                /* partition index */
	int32_t current_leader_epoch; /* -1: not checked */
	int64_t offset;     /* Fetch: fetch_offset; ListOffsets: timestamp;
			       DeleteRecords: delete before this offset */
	int32_t epoch;      /* OffsetForLeaderEpoch: the epoch asked about */
	int32_t max_bytes;  /* Fetch: partition_max_bytes */
	struct wire_bytes records; /* Produce: the batch (exactly one) */
	int8_t repeated;    /* REPEAT_*: is (topic, index) named again? */
};

/* part_req.repeated: a partition named once, or the first or a later
 * occurrence of one named more than once in the same request. */
#define REPEAT_NONE 0
#define REPEAT_FIRST 1
#define REPEAT_LATER 2

/* One topic of a data-API request. */
struct topic_req {
	struct wire_str name;
	int32_t n;
	struct part_req *parts; /* owned */
};

/* A decoded data-API request: topics of partitions, plus the top-level
 * fields of whichever API it is. */
struct data_req {
	int16_t version;
	int32_t ntopics;
	struct topic_req *topics; /* owned */
	int32_t nparts;           /* partitions over all topics */
	int32_t replica_id;       /* Fetch: -1 for consumers */
	int16_t acks;             /* Produce */
	int32_t max_wait_ms;      /* Fetch */
	int32_t min_bytes;        /* Fetch */
	int32_t max_bytes;        /* Fetch */
	int8_t isolation_level;   /* Fetch, ListOffsets */
};

/* The answer for one produced partition. */
struct produce_result {
	int16_t error;
	int64_t base_offset;      /* -1 on error */
	int64_t log_append_time;  /* the broker's stamp, -1 for CreateTime */
	int64_t log_start_offset; /* -1 on error */
};

/* Reads one partition's fields for version v. */
typedef void (*part_read_fn)(struct wire_reader *r, int16_t v,
			     struct part_req *p);

/* What one handler needs while it answers partition after partition. */
struct data_ctx {
	struct topic_manager *tm; /* borrowed */
	struct data_req *q;       /* borrowed */
	bool any_error;           /* some partition failed (Produce acks=0) */
	bool changed;             /* DeleteRecords moved a log start offset */
	struct net_request *req;  /* borrowed: Produce appends from its frame */
	struct wire_str transactional_id; /* Produce: len -1 when null */
	int16_t request_error;    /* Produce: the answer of every partition */
	size_t inflate_left;      /* Produce: gzip bytes it may still inflate */
};

/* Answers one partition (its fields, not its tags). */
typedef void (*part_answer_fn)(struct data_ctx *c, struct wire_writer *w,
			       struct wire_str topic, const struct part_req *p);

/* The answer for one fetched partition, from one pass over the logs. */
struct fetch_part {
	int16_t error;
	int64_t high_watermark;   /* -1 on error */
	int64_t log_start_offset; /* -1 on error */
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

static void produce_partition(struct data_ctx *c, struct wire_str topic,
			      const struct part_req *p,
			      struct produce_result *res);
static int16_t produce_check_transactional(const struct data_ctx *c);
static int16_t produce_check_shape(int16_t v, struct wire_bytes records);
static int16_t produce_check_batch(struct data_ctx *c,
				   const struct topic_partition *tp,
				   struct wire_bytes records);
static int16_t produce_check_records(struct data_ctx *c,
				     const struct topic_partition *tp,
				     struct wire_bytes records);
static int16_t produce_append(struct data_ctx *c, struct topic_partition *tp,
			      struct wire_bytes records,
			      struct produce_result *res);
static void stamp_log_append_time(uint8_t *b, size_t len, int64_t now_ms);
static bool fetch_try_complete(struct net_delayed *d,
			       struct net_response *resp, bool expired);
static bool fetch_try(struct fetch_op *op, struct net_response *resp,
		      bool expired);
static uint64_t fetch_gather(struct fetch_op *op, bool *any_error);
static int fetch_write(struct fetch_op *op, struct net_response *resp);
static void fetch_op_free(void *ctx);
static int data_decode(struct wire_reader *r, size_t part_min,
		       part_read_fn read_part, struct data_req *q);
static int data_find_repeats(struct data_req *q);
static int data_drop_repeats(struct data_req *q);
static void data_write(struct data_ctx *c, struct wire_writer *w,
		       part_answer_fn answer);
static void data_req_fini(struct data_req *q);
static struct topic_partition *data_lookup(struct topic_manager *tm,
					   struct wire_str topic,
					   int32_t index, int16_t *error);
static int16_t epoch_check(const struct topic_partition *tp, int32_t current);
static int32_t epoch_of(const struct log *log, int64_t offset);

/* ---- Produce (api key 0, v0-8) ---- */

static void produce_read_part(struct wire_reader *r, int16_t v,
			      struct part_req *p)
{
	(void)v;
	p->index = wire_read_i32(r);
	p->records = wire_read_nullable_bytes(r);
}

/* One PartitionProduceResponse: offsets on success, -1 on error. */
static void produce_answer(struct data_ctx *c, struct wire_writer *w,
			   struct wire_str topic, const struct part_req *p)
{
	struct produce_result res = {KAFKA_ERR_NONE, -1, -1, -1};
	int16_t v = c->q->version;
	produce_partition(c, topic, p, &res);
	c->any_error |= res.error != KAFKA_ERR_NONE;
	wire_write_i32(w, p->index);
	wire_write_i16(w, res.error);
	wire_write_i64(w, res.base_offset);
	if (v >= 2)
		wire_write_i64(w, res.log_append_time);
	if (v >= 5)
		wire_write_i64(w, res.log_start_offset);
	if (v >= 8) {
		wire_write_array_len(w, 0);             /* record_errors */
		wire_write_string(w, wire_str_c(NULL)); /* error_message */
	}
}

/* KAFKA: acks=0 gets no response; when something failed the connection
 * is closed instead, the only way such a producer can notice. */
int handle_produce(struct net_request *req, struct net_response *resp)
{
	struct data_req q = {.version = req->header.api_version};
	struct data_ctx c = {.tm = req->ctx, .q = &q, .req = req,
			     .inflate_left = PRODUCE_INFLATE_BUDGET};
	struct wire_reader *r = &req->body;
	c.transactional_id = q.version >= 3 ? wire_read_nullable_string(r)
					    : wire_str_c(NULL);
	q.acks = wire_read_i16(r);
	wire_read_i32(r); /* timeout_ms: nothing waits on one node */
	int rc = data_decode(r, 8, produce_read_part, &q);
	if (rc == KB_OK)
		rc = data_drop_repeats(&q);
	if (rc == KB_OK) {
		c.request_error = produce_check_transactional(&c);
		data_write(&c, &resp->w, produce_answer);
		if (q.version >= 1)
			wire_write_i32(&resp->w, 0); /* throttle_time_ms, last */
		wire_write_tags(&resp->w);
		rc = wire_writer_status(&resp->w);
	}
	data_req_fini(&q);
	if (rc == KB_OK && q.acks == ACKS_NONE)
		rc = c.any_error ? KB_ERR_PROTO : NET_NO_RESPONSE;
	return rc;
}

/* KAFKA: KafkaApis.handleProduceRequest: a transactional batch needs the
 * request's transactional_id, or the whole request is answered
 * TRANSACTIONAL_ID_AUTHORIZATION_FAILED, every partition alike. */
static int16_t produce_check_transactional(const struct data_ctx *c)
{
	if (c->transactional_id.len >= 0)
		return KAFKA_ERR_NONE;
	for (int32_t t = 0; t < c->q->ntopics; t++) {
		const struct topic_req *tr = &c->q->topics[t];
		for (int32_t i = 0; i < tr->n; i++) {
			struct wire_bytes b = tr->parts[i].records;
			if (b.len >= SEG_OFF_ATTRIBUTES + 2 &&
			    b.p[SEG_OFF_MAGIC] == SEG_MAGIC_V2 &&
			    (kb_get_be16(b.p + SEG_OFF_ATTRIBUTES) &
			     SEG_ATTR_TRANSACTIONAL))
				return KAFKA_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
		}
	}
	return KAFKA_ERR_NONE;
}

/* The checks in Kafka's order (KafkaApis, ReplicaManager, Partition,
 * UnifiedLog, LogValidator), then the append; the first failure is the
 * answer. */
static void produce_partition(struct data_ctx *c, struct wire_str topic,
			      const struct part_req *p,
			      struct produce_result *res)
{
	char name[TOPIC_NAME_MAX + 1];
	struct topic_partition *tp;
	int16_t acks = c->q->acks;
	if (c->q->version < PRODUCE_MIN_SERVED)
		res->error = KAFKA_ERR_UNSUPPORTED_VERSION;
	else if (c->request_error != KAFKA_ERR_NONE)
		res->error = c->request_error;
	else if (acks != ACKS_NONE && acks != ACKS_LEADER && acks != ACKS_ALL)
		res->error = KAFKA_ERR_INVALID_REQUIRED_ACKS;
	else if (!topic_name_copy(topic, name))
		res->error = KAFKA_ERR_INVALID_TOPIC_EXCEPTION;
	else if (!(tp = topic_partition_find(c->tm, name, p->index)))
		res->error = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
	else if ((res->error = produce_check_shape(c->q->version, p->records)) !=
		 KAFKA_ERR_NONE)
		return; /* KAFKA: checked in KafkaApis, before ReplicaManager */
	else if (tp->topic->internal) /* KAFKA: "Cannot append to internal
					 topic": only the broker writes it */
		res->error = KAFKA_ERR_INVALID_TOPIC_EXCEPTION;
	else if (acks == ACKS_ALL &&
		 tp->topic->cfg.min_insync_replicas > SINGLE_NODE_ISR)
		res->error = KAFKA_ERR_NOT_ENOUGH_REPLICAS;
	else if ((res->error = produce_check_batch(c, tp, p->records)) ==
		 KAFKA_ERR_NONE)
		res->error = produce_append(c, tp, p->records, res);
}

/* KAFKA: ProduceRequest.validateRecords (v3 on): exactly one batch per
 * partition, of magic 2 (0 and 1 are INVALID_RECORD, not
 * UNSUPPORTED_FOR_MESSAGE_FORMAT), and no zstd before v7. Before magic
 * is known only its offset is: byte 16 in every message format. */
static int16_t produce_check_shape(int16_t v, struct wire_bytes records)
{
	const uint8_t *b = records.p;
	size_t left = records.len > 0 ? (size_t)records.len : 0;
	if (left == 0) /* KAFKA: "at least one record batch per partition" */
		return KAFKA_ERR_INVALID_RECORD;
	if (left <= SEG_OFF_MAGIC || b[SEG_OFF_MAGIC] > SEG_MAGIC_V2)
		return KAFKA_ERR_CORRUPT_MESSAGE;
	if (b[SEG_OFF_MAGIC] < SEG_MAGIC_V2)
		return KAFKA_ERR_INVALID_RECORD;
	int32_t blen = (int32_t)kb_get_be32(b + SEG_OFF_BATCH_LENGTH);
	if (blen < SEG_MIN_BATCH_LENGTH ||
	    (uint64_t)blen + SEG_LOG_OVERHEAD > left)
		return KAFKA_ERR_CORRUPT_MESSAGE;
	int codec = kb_get_be16(b + SEG_OFF_ATTRIBUTES) &
		    SEG_ATTR_COMPRESSION_MASK;
	if (codec == CODEC_ZSTD && v < PRODUCE_ZSTD_MIN_VERSION)
		return KAFKA_ERR_UNSUPPORTED_COMPRESSION_TYPE;
	if ((size_t)blen + SEG_LOG_OVERHEAD != left) /* a second batch */
		return KAFKA_ERR_INVALID_RECORD;
	return KAFKA_ERR_NONE;
}

/* INVARIANT 1: the one batch, whole (KAFKA: UnifiedLog.
 * analyzeAndValidateRecords: size, then CRC; LogValidator.validateBatch:
 * counts, control and transactional bits), then its records. */
static int16_t produce_check_batch(struct data_ctx *c,
				   const struct topic_partition *tp,
				   struct wire_bytes records)
{
	struct seg_batch h;
	size_t size = (size_t)records.len;
	if (size > (size_t)tp->topic->cfg.max_message_bytes)
		return KAFKA_ERR_MESSAGE_TOO_LARGE;
	if (seg_batch_validate(records.p, size, &h, NULL) != KB_OK)
		return KAFKA_ERR_CORRUPT_MESSAGE;
	/* KAFKA: CompressionType.forId knows ids 0-4 only. */
	if ((h.attributes & SEG_ATTR_COMPRESSION_MASK) > CODEC_ZSTD)
		return KAFKA_ERR_UNSUPPORTED_COMPRESSION_TYPE;
	if (h.records_count <= 0 ||
	    (int64_t)h.records_count != (int64_t)h.last_offset_delta + 1)
		return KAFKA_ERR_INVALID_RECORD;
	if (h.attributes & SEG_ATTR_CONTROL) /* markers come from the broker */
		return KAFKA_ERR_INVALID_RECORD;
	/* The request has a transactional_id (produce_check_transactional),
	 * but no transaction is ever open: chapter 11 has none yet, so a
	 * read_committed consumer is never served a transactional batch. */
	if (h.attributes & SEG_ATTR_TRANSACTIONAL)
		return KAFKA_ERR_INVALID_TXN_STATE;
	return produce_check_records(c, tp, records);
}

/* INVARIANT 1, inside the batch (KAFKA: LogValidator): the records
 * exactly fill it and number recordsCount, gzip inflated to see them
 * (at most max.message.bytes on a compacted topic, so the cleaner never
 * meets a bomb, and the request's inflate budget in any case); a
 * compacted topic takes no record without a key. */
static int16_t produce_check_records(struct data_ctx *c,
				     const struct topic_partition *tp,
				     struct wire_bytes records)
{
	const struct topic_config *cfg = &tp->topic->cfg;
	struct wire_records_summary s;
	size_t bound = c->inflate_left;
	if (cfg->cleanup_compact)
		bound = KB_MIN(bound, (size_t)cfg->max_message_bytes);
	int rc = wire_records_check(records.p, (size_t)records.len, bound, &s);
	c->inflate_left -= KB_MIN(s.inflated, c->inflate_left);
	switch (rc) {
	/* KAFKA: "Compacted topic cannot accept message without key".
	 * SIMPLIFICATION: snappy, lz4 and zstd are not opened (s.opened is
	 * false): their keys and counts go unchecked, and the cleaner keeps
	 * such batches whole, so it deletes nothing acknowledged either. */
	case KB_OK:
		return cfg->cleanup_compact && s.null_keys > 0
		       ? KAFKA_ERR_INVALID_RECORD : KAFKA_ERR_NONE;
	case KB_ERR_PROTO:     return KAFKA_ERR_INVALID_RECORD;
	case KB_ERR_CORRUPT:   return KAFKA_ERR_CORRUPT_MESSAGE;
	case KB_ERR_TOO_LARGE: return KAFKA_ERR_RECORD_LIST_TOO_LARGE;
	case KB_ERR_INVAL:     return KAFKA_ERR_UNSUPPORTED_COMPRESSION_TYPE;
	default:               return KAFKA_ERR_UNKNOWN_SERVER_ERROR;
	}
}

/* The produce check (chapter 11) sees the batch first; a duplicate
 * answers with the original offset and appends nothing. Then the batch
 * is stamped if LogAppendTime and appended where it lies, in the
 * request's own frame (net_request_writable: no copy). */
static int16_t produce_append(struct data_ctx *c, struct topic_partition *tp,
			      struct wire_bytes records,
			      struct produce_result *res)
{
	struct seg_batch h;
	struct topic_produce_verdict v;
	struct log_append_info info;
	size_t size = (size_t)records.len; /* one batch: produce_check_shape */
	int64_t now = kb_now_ms();
	seg_batch_decode(records.p, size, &h);
	topic_run_produce_check(c->tm, tp, &h, &v);
	if (v.error_code != KAFKA_ERR_NONE || v.duplicate) {
		res->base_offset = v.duplicate ? v.base_offset : -1;
		return v.error_code;
	}
	uint8_t *b = net_request_writable(c->req, records);
	if (!b)
		return KAFKA_ERR_UNKNOWN_SERVER_ERROR;
	if (tp->topic->cfg.log_append_time)
		stamp_log_append_time(b, size, now);
	int rc = topic_append_batch(tp, b, size, &info);
	if (rc != KB_OK) /* KAFKA: RecordBatchTooLargeException */
		return rc == KB_ERR_TOO_LARGE ? KAFKA_ERR_RECORD_LIST_TOO_LARGE
					      : KAFKA_ERR_KAFKA_STORAGE_ERROR;
	res->base_offset = info.base_offset;
	res->log_append_time = tp->topic->cfg.log_append_time ? now : -1;
	res->log_start_offset = tp->log->log_start_offset;
	return KAFKA_ERR_NONE;
}

/* INVARIANT 2: the one rewrite of CRC-covered bytes. */
static void stamp_log_append_time(uint8_t *b, size_t len, int64_t now_ms)
{
	uint16_t attributes = kb_get_be16(b + SEG_OFF_ATTRIBUTES);
	kb_put_be16(b + SEG_OFF_ATTRIBUTES,
		    (uint16_t)(attributes | SEG_ATTR_LOG_APPEND_TIME));
	kb_put_be64(b + SEG_OFF_MAX_TIMESTAMP, (uint64_t)now_ms);
	kb_put_be32(b + SEG_OFF_CRC, seg_crc32c(0, b + SEG_OFF_ATTRIBUTES,
						len - SEG_OFF_ATTRIBUTES));
}

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
	int rc = data_decode(r, 16, fetch_read_part, q);
	if (rc == KB_OK)
		rc = data_drop_repeats(q);
	int32_t nforgotten = v >= 7 ? wire_read_array_len(r, r->flexible ? 3 : 6) : 0;
	for (int32_t i = 0; rc == KB_OK && i < nforgotten; i++) {
		wire_read_string(r);
		int32_t n = wire_read_array_len(r, 4);
		for (int32_t k = 0; k < n; k++)
			wire_read_i32(r);
		wire_read_tags(r);
	}
	if (v >= 11)
		wire_read_string(r); /* rack_id */
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
 * high watermark and moves the ISR. A client claiming it (CVE-2018-1288's
 * shape) is answered NOT_LEADER_OR_FOLLOWER on every partition. This is
 * the branch point for chapter 08, which serves followers on the
 * inter-broker listener only (with a Fetch handler of its own there). */
static bool fetch_from_follower(const struct data_req *q)
{
	return q->replica_id >= 0;
}

/* One partition: the byte range to send, at most what is left of
 * max_bytes unless min_one (KIP-74: the first partition with data may
 * exceed its limits by one batch), never past the high watermark
 * (INVARIANT 3). */
static void fetch_partition(struct fetch_op *op, struct wire_str topic,
			    const struct part_req *p, struct fetch_part *f)
{
	*f = (struct fetch_part){KAFKA_ERR_NONE, -1, -1, {0}, NULL};
	if (fetch_from_follower(&op->q)) {
		f->error = KAFKA_ERR_NOT_LEADER_OR_FOLLOWER;
		return;
	}
	struct topic_partition *tp = data_lookup(op->tm, topic, p->index,
						 &f->error);
	if (!tp || (f->error = epoch_check(tp, p->current_leader_epoch)))
		return;
	uint64_t budget = (uint64_t)KB_MAX(op->q.max_bytes, 0);
	uint64_t limit = KB_MIN((uint64_t)KB_MAX(p->max_bytes, 0),
				budget - KB_MIN(op->used, budget));
	struct log_read_req req = {p->offset, limit, tp->high_watermark,
				   op->min_one};
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
		wire_write_i32(w, -1); /* preferred_read_replica */
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
	data_req_fini(&op->q);
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
	else if ((tp = data_lookup(c->tm, topic, p->index, &error)) &&
		 !(error = epoch_check(tp, p->current_leader_epoch)))
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
	int rc = data_decode(r, 12, list_offsets_read_part, &q);
	if (rc == KB_OK)
		rc = data_find_repeats(&q);
	if (q.version >= 10)
		wire_read_i32(r); /* timeout_ms */
	wire_read_tags(r);
	if (rc == KB_OK && (rc = wire_reader_status(r)) == KB_OK) {
		if (q.version >= 2)
			wire_write_i32(&resp->w, 0); /* throttle_time_ms */
		data_write(&c, &resp->w, list_offsets_answer);
		wire_write_tags(&resp->w);
		rc = wire_writer_status(&resp->w);
	}
	data_req_fini(&q);
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
	struct topic_partition *tp = data_lookup(c->tm, topic, p->index, &error);
	if (tp && !(error = epoch_check(tp, p->current_leader_epoch)) &&
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
	if (q.version >= 3)
		wire_read_i32(r); /* replica_id */
	int rc = data_decode(r, 12, leader_epoch_read_part, &q);
	wire_read_tags(r);
	if (rc == KB_OK && (rc = wire_reader_status(r)) == KB_OK) {
		if (q.version >= 2)
			wire_write_i32(&resp->w, 0); /* throttle_time_ms */
		data_write(&c, &resp->w, leader_epoch_answer);
		wire_write_tags(&resp->w);
		rc = wire_writer_status(&resp->w);
	}
	data_req_fini(&q);
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
	struct topic_partition *tp = data_lookup(c->tm, topic, p->index, &error);
	int64_t want = tp && p->offset == -1 ? tp->high_watermark : p->offset;
	if (tp && !tp->topic->cfg.cleanup_delete)
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
	int rc = data_decode(r, 12, delete_records_read_part, &q);
	wire_read_i32(r); /* timeout_ms */
	wire_read_tags(r);
	if (rc == KB_OK && (rc = wire_reader_status(r)) == KB_OK) {
		wire_write_i32(&resp->w, 0); /* throttle_time_ms */
		data_write(&c, &resp->w, delete_records_answer);
		wire_write_tags(&resp->w);
		rc = wire_writer_status(&resp->w);
	}
	/* KAFKA: the new log start offset must survive a crash. */
	if (c.changed)
		topic_manager_checkpoint(c.tm);
	data_req_fini(&q);
	return rc;
}

/* ---- The shared request shape ---- */

/* topics [name, partitions [read_part, tags], tags]: counts are checked
 * against the bytes left (part_min per partition) before any allocation. */
static int data_decode(struct wire_reader *r, size_t part_min,
		       part_read_fn read_part, struct data_req *q)
{
	q->ntopics = wire_read_array_len(r, r->flexible ? 3 : 6);
	if (q->ntopics > 0 &&
	    !(q->topics = calloc((size_t)q->ntopics, sizeof *q->topics)))
		return KB_ERR_NOMEM;
	for (int32_t t = 0; t < q->ntopics; t++) {
		struct topic_req *tr = &q->topics[t];
		tr->name = wire_read_string(r);
		tr->n = wire_read_array_len(r, part_min);
		if (tr->n > 0 && !(tr->parts = calloc((size_t)tr->n,
						      sizeof *tr->parts)))
			return KB_ERR_NOMEM;
		for (int32_t i = 0; i < tr->n; i++) {
			read_part(r, q->version, &tr->parts[i]);
			wire_read_tags(r);
		}
		q->nparts += tr->n;
		wire_read_tags(r);
	}
	return wire_reader_status(r);
}

/* One partition named in a request, while looking for repeats. */
struct part_ref {
	struct wire_str topic;
	struct part_req *p; /* borrowed: from the data_req */
	int32_t seq;        /* its place in the request */
};

/* Order by topic name, then partition index. */
static int part_key_cmp(const struct part_ref *x, const struct part_ref *y)
{
	if (x->topic.len != y->topic.len)
		return x->topic.len < y->topic.len ? -1 : 1;
	int c = x->topic.len > 0 ? memcmp(x->topic.p, y->topic.p,
					  (size_t)x->topic.len) : 0;
	if (c != 0)
		return c;
	return (x->p->index > y->p->index) - (x->p->index < y->p->index);
}

/* qsort order: the key, then the place in the request. */
static int part_ref_cmp(const void *a, const void *b)
{
	const struct part_ref *x = a, *y = b;
	int c = part_key_cmp(x, y);
	return c != 0 ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Mark each partition the request names more than once: sorted by key,
 * a repeat is a run of equal keys. Its first occurrence takes the fields
 * of its last, as a Java map's put does (KAFKA: FetchRequest.fetchData).
 * O(n log n) for n partitions, n bounded by the request's bytes. */
static int data_find_repeats(struct data_req *q)
{
	struct part_ref *refs;
	int32_t n = 0;
	if (q->nparts < 2)
		return KB_OK;
	if (!(refs = calloc((size_t)q->nparts, sizeof *refs)))
		return KB_ERR_NOMEM;
	for (int32_t t = 0; t < q->ntopics; t++)
		for (int32_t i = 0; i < q->topics[t].n; i++, n++)
			refs[n] = (struct part_ref){q->topics[t].name,
						    &q->topics[t].parts[i], n};
	qsort(refs, (size_t)n, sizeof *refs, part_ref_cmp);
	for (int32_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && part_key_cmp(&refs[i], &refs[j]) == 0; j++)
			refs[j].p->repeated = REPEAT_LATER;
		if (j - i > 1) {
			*refs[i].p = *refs[j - 1].p;
			refs[i].p->repeated = REPEAT_FIRST;
		}
	}
	free(refs);
	return KB_OK;
}

/* KAFKA: FetchRequest.fetchData and KafkaApis' produce map are maps, so a
 * partition named N times is answered once, where it was first named,
 * with what it was last given; a topic left with no partition is dropped.
 * Bounds the file ranges a fetch holds and the appends of a produce. */
static int data_drop_repeats(struct data_req *q)
{
	int rc = data_find_repeats(q);
	int32_t kept_topics = 0;
	if (rc != KB_OK)
		return rc;
	q->nparts = 0;
	for (int32_t t = 0; t < q->ntopics; t++) {
		struct topic_req tr = q->topics[t];
		int32_t n = 0;
		for (int32_t i = 0; i < tr.n; i++)
			if (tr.parts[i].repeated != REPEAT_LATER)
				tr.parts[n++] = tr.parts[i];
		tr.n = n;
		if (n == 0)
			free(tr.parts);
		else
			q->topics[kept_topics++] = tr;
		q->nparts += n;
	}
	q->ntopics = kept_topics;
	return KB_OK;
}

/* Answer every partition in request order: topics [name, partitions
 * [answer, tags], tags]. */
static void data_write(struct data_ctx *c, struct wire_writer *w,
		       part_answer_fn answer)
{
	wire_write_array_len(w, c->q->ntopics);
	for (int32_t t = 0; t < c->q->ntopics; t++) {
		const struct topic_req *tr = &c->q->topics[t];
		wire_write_string(w, tr->name);
		wire_write_array_len(w, tr->n);
		for (int32_t i = 0; i < tr->n; i++) {
			answer(c, w, tr->name, &tr->parts[i]);
			wire_write_tags(w);
		}
		wire_write_tags(w);
	}
}

static void data_req_fini(struct data_req *q)
{
	for (int32_t t = 0; q->topics && t < q->ntopics; t++)
		free(q->topics[t].parts);
	free(q->topics);
	q->topics = NULL;
}

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

/* KAFKA: Partition.checkCurrentLeaderEpoch: -1 skips the check; a client
 * ahead of us knows a leader we do not, one behind is fenced. */
static int16_t epoch_check(const struct topic_partition *tp, int32_t current)
{
	if (current == -1 || current == tp->leader_epoch)
		return KAFKA_ERR_NONE;
	return current > tp->leader_epoch ? KAFKA_ERR_UNKNOWN_LEADER_EPOCH
					  : KAFKA_ERR_FENCED_LEADER_EPOCH;
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
