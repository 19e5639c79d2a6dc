/* SPDX-License-Identifier: MIT */
/*
 * Chapter 06 — topics, part 6: the data path, Produce.
 *
 * Concept:
 *   Produce checks each batch a client sends as Kafka does and appends it
 *   as it came (the broker writes only base offset and leader epoch, which
 *   the CRC does not cover). Every data API, here and in 06_fetch.c, reads
 *   the same request shape, topics of partitions: this file holds it.
 *
 * Kafka:
 *   KafkaApis.handleProduceRequest, ProduceRequest.validateRecords,
 *   UnifiedLog.analyzeAndValidateRecords, LogValidator. Produce v3-8
 *   (v0-2: UNSUPPORTED_VERSION).
 *
 * Interface:
 *   - topic_data_decode reads topics of partitions for any data API,
 *     topic_data_write answers them in request order (06_data_internal.h).
 *   - Produce answers a repeated partition once (topic_data_drop_repeats).
 *   - A batch reaches a log only through topic_append_batch.
 *   - A partition another broker leads is NOT_LEADER_OR_FOLLOWER.
 *
 * Invariants:
 *   1. A batch is appended only after it passed every check: one batch of
 *      magic 2, size, CRC, codec, counts, no control or transactional
 *      bits, records that fill it as recordsCount says (gzip inflated,
 *      bounded), keys on a compacted topic.
 *   2. The broker changes no byte the CRC covers, except on LogAppendTime
 *      topics (timestamp type, maxTimestamp, CRC again).
 *
 * Simplifications (docs/06_produce.md says more):
 *   - acks=-1 waits in purgatory for the high watermark (on one node it
 *     is the log end at once); the ISR's size, chapter 07's metadata or
 *     this node alone, is checked against min.insync.replicas.
 *   - No transactions (chapter 11).
 *   - snappy, lz4 and zstd batches are not opened; gzip is inflated within
 *     PRODUCE_INFLATE_BUDGET per request.
 *
 * See also: docs/06_produce.md, diagrams/06_produce.dot,
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
#include "06_data_internal.h"

/* KAFKA: the only acks values (ProduceRequest.validate). */
#define ACKS_NONE 0
#define ACKS_LEADER 1
#define ACKS_ALL (-1)
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

/* The answer for one produced partition. */
struct produce_result {
	int16_t error;
	int64_t base_offset;      /* -1 on error */
	int64_t log_append_time;  /* the broker's stamp, -1 for CreateTime */
	int64_t log_start_offset; /* -1 on error */
	int64_t required_offset;  /* acks=-1 waits for a high watermark here */
};

/* A Produce request from decoding to its answer, parked or not (KAFKA:
 * DelayedProduce). INVARIANT 3: names and numbers, no partition pointer. */
struct produce_wait {
	struct topic_manager *tm;        /* borrowed */
	struct data_req q;               /* owned arrays; views live while parked */
	struct produce_result *results;  /* owned: q.nparts, in request order */
	int64_t *required;               /* owned: > 0 while still waiting */
	int32_t next_answer;             /* produce_answer's cursor */
	int status;                      /* KB_OK, or why the response broke */
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
static int produce_all(struct data_ctx *c);
static int produce_park(struct net_request *req, struct net_response *resp,
			struct produce_wait *pw, int32_t timeout_ms);
static bool produce_try_complete(struct net_delayed *d,
				 struct net_response *resp, bool expired);
static bool produce_try(struct produce_wait *pw, struct net_response *resp,
			bool expired);
static int16_t produce_replicated(struct topic_manager *tm,
				  struct topic_partition *tp, int64_t required);
static int32_t produce_isr_size(const struct topic_manager *tm,
				const struct topic_partition *tp);
static struct topic_partition *produce_lookup(struct topic_manager *tm,
					      struct wire_str topic,
					      int32_t index);
static void produce_wait_free(void *ctx);

/* ---- Produce (api key 0, v0-8) ---- */

static void produce_read_part(struct wire_reader *r, int16_t v,
			      struct part_req *p)
{
	(void)v;
	p->index = wire_read_i32(r);
	p->records = wire_read_nullable_bytes(r);
}

/* One PartitionProduceResponse: offsets on success, -1 on error. */
static void produce_write_result(struct wire_writer *w, int16_t v,
				 int32_t index, const struct produce_result *res)
{
	wire_write_i32(w, index);
	wire_write_i16(w, res->error);
	wire_write_i64(w, res->base_offset);
	if (v >= 2)
		wire_write_i64(w, res->log_append_time);
	if (v >= 5)
		wire_write_i64(w, res->log_start_offset);
	if (v >= 8) {
		wire_write_array_len(w, 0);             /* record_errors */
		wire_write_string(w, wire_str_c(NULL)); /* error_message */
	}
}

/* The answer of the k-th partition, decided by produce_all. */
static void produce_answer(struct data_ctx *c, struct wire_writer *w,
			   struct wire_str topic, const struct part_req *p)
{
	(void)topic;
	struct produce_wait *pw = c->wait;
	produce_write_result(w, c->q->version, p->index,
			     &pw->results[pw->next_answer++]);
}

/* KAFKA: AuthHelper.filterByAuthorized over the request's topics. */
void topic_data_authorize(const struct net_request *req, struct data_req *q,
			  int8_t operation)
{
	if (!net_authorizer_on(req->srv))
		return;
	for (int32_t t = 0; t < q->ntopics; t++) {
		bool denied = !topic_authorized(req, operation, q->topics[t].name);
		for (int32_t i = 0; i < q->topics[t].n; i++)
			q->topics[t].parts[i].denied = denied;
	}
}

/* KAFKA: acks=0 gets no response; when something failed the connection
 * is closed instead, the only way such a producer can notice. acks=-1
 * waits in purgatory until every appended batch is below the high
 * watermark (KAFKA: DelayedProduce), or timeout_ms passes. */
int handle_produce(struct net_request *req, struct net_response *resp)
{
	struct produce_wait *pw = calloc(1, sizeof *pw);
	if (!pw)
		return KB_ERR_NOMEM;
	pw->tm = req->ctx;
	pw->q.version = req->header.api_version;
	struct data_ctx c = {.tm = req->ctx, .q = &pw->q, .req = req,
			     .inflate_left = PRODUCE_INFLATE_BUDGET, .wait = pw};
	struct wire_reader *r = &req->body;
	c.transactional_id = pw->q.version >= 3 ? wire_read_nullable_string(r)
						: wire_str_c(NULL);
	pw->q.acks = wire_read_i16(r);
	int32_t timeout_ms = wire_read_i32(r);
	int rc = topic_data_decode(r, 8, produce_read_part, &pw->q);
	if (rc == KB_OK)
		rc = topic_data_drop_repeats(&pw->q);
	if (rc == KB_OK)
		rc = produce_all(&c);
	if (rc != KB_OK || produce_try(pw, resp, false)) {
		rc = rc == KB_OK ? pw->status : rc;
		if (rc == KB_OK && pw->q.acks == ACKS_NONE)
			rc = c.any_error ? KB_ERR_PROTO : NET_NO_RESPONSE;
		produce_wait_free(pw);
		return rc;
	}
	return produce_park(req, resp, pw, timeout_ms);
}

/* Every partition in request order: checked, appended, its result kept,
 * and what acks=-1 must wait for (the offset after the batch). */
static int produce_all(struct data_ctx *c)
{
	struct produce_wait *pw = c->wait;
	int32_t n = pw->q.nparts, k = 0;
	if (n > 0 && (!(pw->results = calloc((size_t)n, sizeof *pw->results)) ||
		      !(pw->required = calloc((size_t)n, sizeof *pw->required))))
		return KB_ERR_NOMEM;
	c->request_error = produce_check_transactional(c);
	for (int32_t t = 0; t < pw->q.ntopics; t++) {
		const struct topic_req *tr = &pw->q.topics[t];
		for (int32_t i = 0; i < tr->n; i++, k++) {
			struct produce_result *res = &pw->results[k];
			*res = (struct produce_result){KAFKA_ERR_NONE, -1, -1, -1};
			produce_partition(c, tr->name, &tr->parts[i], res);
			c->any_error |= res->error != KAFKA_ERR_NONE;
			if (res->error == KAFKA_ERR_NONE &&
			    pw->q.acks == ACKS_ALL)
				pw->required[k] = res->required_offset;
		}
	}
	return KB_OK;
}

/* Park until produce_try answers; every waiting partition's log is
 * watched (an append and a high watermark move both wake it). */
static int produce_park(struct net_request *req, struct net_response *resp,
			struct produce_wait *pw, int32_t timeout_ms)
{
	struct net_delayed *d;
	int64_t deadline = kb_mono_ms() + KB_MAX(timeout_ms, 0);
	struct net_wait wait = {deadline, produce_try_complete, pw,
				produce_wait_free};
	int rc = net_park(req, resp, &wait, &d);
	if (rc != KB_OK)
		return rc; /* net_park freed pw */
	int32_t k = 0;
	for (int32_t t = 0; t < pw->q.ntopics; t++) {
		const struct topic_req *tr = &pw->q.topics[t];
		for (int32_t i = 0; i < tr->n; i++, k++) {
			struct topic_partition *tp = pw->required[k] > 0
				? produce_lookup(pw->tm, tr->name, tr->parts[i].index)
				: NULL;
			if (tp)
				net_watch(d, tp->log);
		}
	}
	return NET_PARKED;
}

static bool produce_try_complete(struct net_delayed *d,
				 struct net_response *resp, bool expired)
{
	return produce_try(net_delayed_ctx(d), resp, expired);
}

/* KAFKA: DelayedProduce.tryComplete and Partition.
 * checkEnoughReplicasReachOffset: a partition is done when its high
 * watermark passed the batch (NOT_ENOUGH_REPLICAS_AFTER_APPEND if the
 * ISR shrank below min.insync.replicas meanwhile), or when this broker
 * no longer leads it; at the deadline the rest are REQUEST_TIMED_OUT.
 * INVARIANT 3: partitions are looked up again by name. */
static bool produce_try(struct produce_wait *pw, struct net_response *resp,
			bool expired)
{
	bool waiting = false;
	int32_t k = 0;
	for (int32_t t = 0; t < pw->q.ntopics; t++) {
		const struct topic_req *tr = &pw->q.topics[t];
		for (int32_t i = 0; i < tr->n; i++, k++) {
			if (pw->required[k] <= 0)
				continue;
			struct topic_partition *tp = produce_lookup(
				pw->tm, tr->name, tr->parts[i].index);
			int16_t e = produce_replicated(pw->tm, tp, pw->required[k]);
			if (e == KAFKA_ERR_REQUEST_TIMED_OUT && !expired) {
				waiting = true;
				continue;
			}
			pw->results[k].error = e;
			if (e != KAFKA_ERR_NONE)
				pw->results[k].base_offset = -1;
			pw->required[k] = 0;
		}
	}
	if (waiting)
		return false;
	struct data_ctx c = {.tm = pw->tm, .q = &pw->q, .wait = pw};
	pw->next_answer = 0;
	topic_data_write(&c, &resp->w, produce_answer);
	if (pw->q.version >= 1)
		wire_write_i32(&resp->w, 0); /* throttle_time_ms, last */
	wire_write_tags(&resp->w);
	pw->status = wire_writer_status(&resp->w);
	return true;
}

/* One waiting partition: NONE when replicated, REQUEST_TIMED_OUT while
 * it is not yet, another error when it never will be here. */
static int16_t produce_replicated(struct topic_manager *tm,
				  struct topic_partition *tp, int64_t required)
{
	if (!tp || topic_leader_check(tm, tp, -1) != KAFKA_ERR_NONE)
		return KAFKA_ERR_NOT_LEADER_OR_FOLLOWER;
	if (tp->high_watermark < required)
		return KAFKA_ERR_REQUEST_TIMED_OUT;
	return produce_isr_size(tm, tp) < tp->topic->cfg.min_insync_replicas
		? KAFKA_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND : KAFKA_ERR_NONE;
}

/* The committed ISR's size (KAFKA: Partition.inSyncReplicaIds). */
static int32_t produce_isr_size(const struct topic_manager *tm,
				const struct topic_partition *tp)
{
	struct topic_replicas rs;
	int32_t self;
	if (topic_cluster_replicas(tm, tp, &rs, &self) != KAFKA_ERR_NONE)
		return 0;
	return rs.n_isr;
}

static struct topic_partition *produce_lookup(struct topic_manager *tm,
					      struct wire_str topic,
					      int32_t index)
{
	char name[TOPIC_NAME_MAX + 1];
	return topic_name_copy(topic, name)
		? topic_partition_find(tm, name, index) : NULL;
}

static void produce_wait_free(void *ctx)
{
	struct produce_wait *pw = ctx;
	topic_data_req_fini(&pw->q);
	free(pw->results);
	free(pw->required);
	free(pw);
}

/* KAFKA: KafkaApis.handleProduceRequest: a transactional id needs WRITE
 * on it (with an authorizer); a transactional batch needs the
 * request's transactional_id, or the whole request is answered
 * TRANSACTIONAL_ID_AUTHORIZATION_FAILED, every partition alike. */
static int16_t produce_check_transactional(const struct data_ctx *c)
{
	struct wire_str x = c->transactional_id;
	if (x.len >= 0 && !net_authorized(c->req, NET_OP_WRITE,
					  NET_RESOURCE_TRANSACTIONAL_ID, x.p,
					  (size_t)x.len))
		return KAFKA_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
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
	else if (!topic_authorized(c->req, NET_OP_WRITE, topic))
		res->error = KAFKA_ERR_TOPIC_AUTHORIZATION_FAILED; /* KAFKA:
				  filterByAuthorized(WRITE, TOPIC), first */
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
	else if ((res->error = topic_leader_check(c->tm, tp, -1)))
		return; /* KAFKA: getPartitionOrException: NOT_LEADER_OR_FOLLOWER */
	else if (acks == ACKS_ALL && produce_isr_size(c->tm, tp) <
					tp->topic->cfg.min_insync_replicas)
		res->error = KAFKA_ERR_NOT_ENOUGH_REPLICAS; /* KAFKA: before
				  the append (Partition.appendRecordsToLeader) */
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
	/* KAFKA: an offline log dir's partition answers KAFKA_STORAGE_ERROR
	 * before any other check: the sequence check would otherwise see the
	 * gap a refused batch left and answer OUT_OF_ORDER_SEQUENCE_NUMBER,
	 * which the idempotent producer cannot retry past. */
	if (!topic_logdir_online(topic_manager_logdir(c->tm)))
		return KAFKA_ERR_KAFKA_STORAGE_ERROR;
	seg_batch_decode(records.p, size, &h);
	topic_run_produce_check(c->tm, tp, &h, &v);
	if (v.error_code != KAFKA_ERR_NONE || v.duplicate) {
		res->base_offset = v.duplicate ? v.base_offset : -1;
		res->required_offset = v.base_offset + 1; /* the whole batch
			   moves together, so past its first offset is enough */
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
	res->required_offset = info.last_offset + 1;
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

/* ---- The shared request shape (06_data_internal.h) ---- */

/* topics [name, partitions [read_part, tags], tags]: counts are checked
 * against the bytes left (part_min per partition) before any allocation. */
int topic_data_decode(struct wire_reader *r, size_t part_min,
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
int topic_data_find_repeats(struct data_req *q)
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
int topic_data_drop_repeats(struct data_req *q)
{
	int rc = topic_data_find_repeats(q);
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
void topic_data_write(struct data_ctx *c, struct wire_writer *w,
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

/* Frees what topic_data_decode allocated; q itself is the caller's. */
void topic_data_req_fini(struct data_req *q)
{
	for (int32_t t = 0; q->topics && t < q->ntopics; t++)
		free(q->topics[t].parts);
	free(q->topics);
	q->topics = NULL;
}
