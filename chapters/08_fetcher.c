/* SPDX-License-Identifier: MIT */
/*
 * Chapter 08, second file — the follower's fetcher: copying a leader.
 *
 * Concept:
 *   A follower is a consumer that writes what it reads: one connection
 *   per leader broker, one Fetch at a time for all the partitions that
 *   broker leads for us, each answered batch appended byte for byte
 *   (same offsets, same CRCs, so every replica's segments are the same
 *   file). Its fetch offset is its log end offset, which is how the
 *   leader learns where it is. Before the first fetch from a new leader
 *   it asks OffsetForLeaderEpoch where its latest epoch ends on the
 *   leader and cuts off anything past that: records a dead leader wrote
 *   and nobody else has, which were never committed.
 *
 * Kafka:
 *   ReplicaFetcherThread, AbstractFetcherThread (truncating, then
 *   fetching; processPartitionData, handleOutOfRangeError), KIP-101 and
 *   KIP-279 (truncation by leader epoch), Fetch v12 with replica_id,
 *   OffsetForLeaderEpoch v4; replica.fetch.wait.max.ms,
 *   replica.fetch.max.bytes, replica.fetch.response.max.bytes,
 *   replica.fetch.backoff.ms, replica.socket.timeout.ms.
 *
 * Interface:
 *   - repl_fetcher_add / _remove when a part's role or leader changes;
 *     repl_fetchers_kick after every sync and tick sends what can go.
 *   - A fetcher's partitions are the parts that follow its leader: no
 *     second list to keep in step.
 *
 * Invariants:
 *   1. At most one request per fetcher is in flight.
 *   2. An answer is applied to a part only if its leader, epoch and log
 *      end offset are still those the request was sent with.
 *   3. A batch is appended only whole, with a valid CRC, at or past the
 *      log end offset.
 *
 * Simplifications:
 *   - Truncation asks OffsetForLeaderEpoch each time a follower starts on
 *     a leader (Kafka 2.7+ uses the Fetch's diverging epoch instead).
 *   - No fetch sessions (KIP-227): every Fetch names every partition.
 *   - The answer is read whole into memory (the peer's reader), not
 *     spliced to disk.
 *
 * See also: docs/08_fetcher.md, diagrams/08_fetcher.dot; read before: 08_partition.c.
 *   Uses chapters 00, 01 (batch headers, CRC), 03 (log epochs), 04
 *   (codec), 05 (peers), 06 (appending and truncating), 07 (endpoints).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "00_base.h"
#include "01_segment.h"
#include "03_log.h"
#include "04_codec.h"
#include "05_server.h"
#include "06_topics.h"
#include "07_node.h"
#include "08_replication.h"

/* KAFKA: the versions ReplicaFetcherThread sends that samsa serves. */
#define FETCHER_FETCH_VERSION 12
#define FETCHER_EPOCH_VERSION 4

/* One connection to one leader broker (KAFKA: a ReplicaFetcherThread). */
struct repl_fetcher {
	struct repl *r;          /* borrowed */
	int32_t leader_id;
	struct net_peer *peer;   /* owned */
	bool in_flight;          /* INVARIANT 1 */
	int64_t retry_at_ms;     /* after a failed call: not before this */
};

/* What a request was sent for (INVARIANT 2). */
struct fetch_item {
	struct wire_uuid topic_id;
	int32_t index;
	int32_t leader_epoch;
	int64_t fetch_offset;
};

/* One request in flight. */
struct fetch_call {
	struct repl_fetcher *fe;
	struct fetch_item *items; /* owned */
	int32_t n;
};

static void fetch_reply(void *ctx, int status, struct wire_reader *body);
static void epoch_reply(void *ctx, int status, struct wire_reader *body);

/* ---- Fetchers, one per leader ---- */

static struct repl_fetcher *fetcher_find(struct repl *r, int32_t leader_id)
{
	for (size_t i = 0; i < r->nfetchers; i++)
		if (r->fetchers[i]->leader_id == leader_id)
			return r->fetchers[i];
	return NULL;
}

/* The leader's address from the image; a fetcher reconnects by itself. */
static struct repl_fetcher *fetcher_open(struct repl *r, int32_t leader_id)
{
	char host[256], client_id[64];
	int port;
	if (broker_node_endpoint(r->bn, leader_id, host, sizeof host, &port))
		return NULL;
	void *v = realloc(r->fetchers, (r->nfetchers + 1) * sizeof *r->fetchers);
	struct repl_fetcher *fe = calloc(1, sizeof *fe);
	if (v)
		r->fetchers = v;
	if (!v || !fe) {
		free(fe);
		return NULL;
	}
	snprintf(client_id, sizeof client_id, "samsa-replica-%" PRId32,
		 r->cfg.node_id);
	struct net_peer_config pc = {host, port, client_id,
				     r->cfg.socket_timeout_ms,
				     r->cfg.fetch_backoff_ms,
				     .inter_broker = true}; /* its transport */
	*fe = (struct repl_fetcher){r, leader_id, NULL, false, 0};
	if (net_peer_open(r->srv, &pc, &fe->peer) != KB_OK) {
		free(fe);
		return NULL;
	}
	r->fetchers[r->nfetchers++] = fe;
	KB_INFO("replication: fetching from broker %" PRId32 " at %s:%d",
		leader_id, host, port);
	return fe;
}

void repl_fetcher_add(struct repl *r, struct repl_part *p)
{
	if (!fetcher_find(r, p->leader_id) && !fetcher_open(r, p->leader_id))
		p->retry_at_ms = kb_mono_ms() + r->cfg.fetch_backoff_ms;
}

/* Nothing to undo: a fetcher's partitions are found anew for each call
 * and an answer for a part that moved on is dropped (INVARIANT 2). */
void repl_fetcher_remove(struct repl *r, struct repl_part *p)
{
	(void)r, (void)p;
}

void repl_fetchers_close(struct repl *r)
{
	for (size_t i = 0; i < r->nfetchers; i++) {
		net_peer_close(r->fetchers[i]->peer); /* replies run: closed */
		free(r->fetchers[i]);
	}
	free(r->fetchers);
	r->fetchers = NULL;
	r->nfetchers = 0;
}

/* ---- Choosing what to send ---- */

/* The parts following fe's leader that may be asked about now. */
static bool part_ready(const struct repl_fetcher *fe,
		       const struct repl_part *p, int64_t now)
{
	return p->role == REPL_FOLLOWER && p->leader_id == fe->leader_id &&
	       p->retry_at_ms <= now;
}

/* The call for every ready part that is (truncating) or is not. */
static struct fetch_call *call_make(struct repl_fetcher *fe, bool truncating,
				   int64_t now)
{
	struct repl *r = fe->r;
	struct fetch_call *c = calloc(1, sizeof *c);
	if (!c || !(c->items = calloc(r->nparts ? r->nparts : 1,
				      sizeof *c->items))) {
		free(c);
		return NULL;
	}
	c->fe = fe;
	for (size_t i = 0; i < r->nparts; i++) {
		const struct repl_part *p = r->parts[i];
		if (part_ready(fe, p, now) && p->truncating == truncating)
			c->items[c->n++] = (struct fetch_item){
				p->topic_id, p->index, p->leader_epoch,
				log_end_offset(p->tp->log)};
	}
	if (c->n == 0) {
		free(c->items);
		free(c);
		return NULL;
	}
	return c;
}

/* The latest epoch in a log, -1 if none (KAFKA: latestEpoch). */
static int32_t latest_epoch(const struct log *log)
{
	return log->nepochs ? log->epochs[log->nepochs - 1].epoch : -1;
}

/* topics [name, partitions [fields(w, item)]]: items sorted by topic
 * as they come from the table (one topic's parts are added together). */
static void write_topics(struct wire_writer *w, struct repl *r,
			 const struct fetch_call *c,
			 void (*fields)(struct wire_writer *, struct repl *,
					const struct fetch_item *))
{
	size_t at = wire_write_array_begin(w);
	int32_t ntopics = 0;
	for (int32_t i = 0; i < c->n;) {
		const struct topic *t = topic_find_by_id(r->tm, &c->items[i].topic_id);
		int32_t j = i;
		while (j < c->n && !memcmp(c->items[j].topic_id.b,
					   c->items[i].topic_id.b, WIRE_UUID_LEN))
			j++;
		wire_write_string(w, wire_str_c(t ? t->name : ""));
		wire_write_array_len(w, j - i);
		for (; i < j; i++)
			fields(w, r, &c->items[i]);
		wire_write_tags(w);
		ntopics++;
	}
	wire_write_array_end(w, at, ntopics);
}

static void epoch_fields(struct wire_writer *w, struct repl *r,
			 const struct fetch_item *it)
{
	struct topic *t = topic_find_by_id(r->tm, &it->topic_id);
	const struct log *log = t ? t->partitions[it->index]->log : NULL;
	wire_write_i32(w, it->index);
	wire_write_i32(w, it->leader_epoch);          /* current_leader_epoch */
	wire_write_i32(w, log ? latest_epoch(log) : -1); /* leader_epoch asked */
	wire_write_tags(w);
}

static void fetch_fields(struct wire_writer *w, struct repl *r,
			 const struct fetch_item *it)
{
	struct topic *t = topic_find_by_id(r->tm, &it->topic_id);
	const struct log *log = t ? t->partitions[it->index]->log : NULL;
	wire_write_i32(w, it->index);
	wire_write_i32(w, it->leader_epoch);       /* current_leader_epoch */
	wire_write_i64(w, it->fetch_offset);
	wire_write_i32(w, log ? latest_epoch(log) : -1); /* last_fetched_epoch */
	wire_write_i64(w, log ? log->log_start_offset : -1);
	wire_write_i32(w, r->cfg.fetch_max_bytes); /* partition_max_bytes */
	wire_write_tags(w);
}

/* KAFKA: OffsetForLeaderEpochRequest v4 (flexible). */
static void epoch_request(struct wire_writer *w, struct repl *r,
			  const struct fetch_call *c)
{
	wire_write_i32(w, r->cfg.node_id); /* replica_id */
	write_topics(w, r, c, epoch_fields);
	wire_write_tags(w);
}

/* KAFKA: FetchRequest v12 (flexible) as ReplicaFetcherThread sends it. */
static void fetch_request(struct wire_writer *w, struct repl *r,
			  const struct fetch_call *c)
{
	wire_write_i32(w, r->cfg.node_id);            /* replica_id */
	wire_write_i32(w, r->cfg.fetch_wait_max_ms);  /* max_wait_ms */
	wire_write_i32(w, 1);                         /* min_bytes */
	wire_write_i32(w, r->cfg.fetch_response_max_bytes);
	wire_write_i8(w, 0);                          /* isolation_level */
	wire_write_i32(w, 0);                         /* session_id */
	wire_write_i32(w, -1);                        /* session_epoch: none */
	write_topics(w, r, c, fetch_fields);
	wire_write_array_len(w, 0);                   /* forgotten_topics_data */
	wire_write_string(w, wire_str_c(""));         /* rack_id */
	wire_write_tags(w);
}

/* Send c (INVARIANT 1); on failure the fetcher backs off. */
static void call_send(struct repl_fetcher *fe, struct fetch_call *c,
		      bool truncating)
{
	struct kb_buf body;
	struct wire_writer w;
	kb_buf_init(&body);
	wire_writer_init(&w, &body, true);
	if (truncating)
		epoch_request(&w, fe->r, c);
	else
		fetch_request(&w, fe->r, c);
	struct net_call call = {
		truncating ? WIRE_API_OFFSET_FOR_LEADER_EPOCH : WIRE_API_FETCH,
		truncating ? FETCHER_EPOCH_VERSION : FETCHER_FETCH_VERSION,
		body.data, body.len, truncating ? epoch_reply : fetch_reply, c};
	int rc = wire_writer_status(&w);
	if (rc == KB_OK)
		rc = net_peer_send(fe->peer, &call);
	kb_buf_fini(&body);
	if (rc != KB_OK) {
		fe->retry_at_ms = kb_mono_ms() + fe->r->cfg.fetch_backoff_ms;
		free(c->items);
		free(c);
		return;
	}
	fe->in_flight = true;
}

/* Truncation first: a part fetches only once it knows where to start. */
static void fetcher_kick(struct repl_fetcher *fe, int64_t now)
{
	struct fetch_call *c;
	if (fe->in_flight || fe->retry_at_ms > now)
		return;
	if ((c = call_make(fe, true, now)))
		call_send(fe, c, true);
	else if ((c = call_make(fe, false, now)))
		call_send(fe, c, false);
}

void repl_fetchers_kick(struct repl *r)
{
	int64_t now = kb_mono_ms();
	for (size_t i = 0; i < r->nparts; i++) {
		struct repl_part *p = r->parts[i];
		if (p->role == REPL_FOLLOWER && !fetcher_find(r, p->leader_id))
			repl_fetcher_add(r, p); /* its address came later */
	}
	for (size_t i = 0; i < r->nfetchers; i++)
		fetcher_kick(r->fetchers[i], now);
}

/* ---- Answers ---- */

/* INVARIANT 2: the part item was sent for, if nothing moved since. */
static struct repl_part *item_part(struct repl *r,
				   const struct repl_fetcher *fe,
				   const struct fetch_item *it)
{
	for (size_t i = 0; i < r->nparts; i++) {
		struct repl_part *p = r->parts[i];
		if (p->index == it->index &&
		    !memcmp(p->topic_id.b, it->topic_id.b, WIRE_UUID_LEN))
			return p->role == REPL_FOLLOWER &&
			       p->leader_id == fe->leader_id &&
			       p->leader_epoch == it->leader_epoch &&
			       log_end_offset(p->tp->log) == it->fetch_offset
				       ? p : NULL;
	}
	return NULL;
}

/* The item of c for a topic name and partition from an answer. */
static const struct fetch_item *call_item(struct repl *r,
					  const struct fetch_call *c,
					  struct wire_str topic, int32_t index)
{
	const struct topic *t = topic.len > 0
		? topic_find_len(r->tm, topic.p, (size_t)topic.len) : NULL;
	for (int32_t i = 0; t && i < c->n; i++)
		if (c->items[i].index == index &&
		    !memcmp(c->items[i].topic_id.b, t->id.b, WIRE_UUID_LEN))
			return &c->items[i];
	return NULL;
}

/* An error for one partition: wait for the metadata to say more. */
static void part_backoff(struct repl *r, struct repl_part *p, int16_t error)
{
	bool quiet = error == KAFKA_ERR_KAFKA_STORAGE_ERROR &&
		     !topic_logdir_online(topic_manager_logdir(r->tm));
	if (quiet) /* our own disk, said once by chapter 06 */
		KB_DEBUG("replication: %s-%" PRId32 ": log dir offline, not "
			 "appending", p->tp->topic->name, p->index);
	else if (error == KAFKA_ERR_FENCED_LEADER_EPOCH ||
		 error == KAFKA_ERR_UNKNOWN_LEADER_EPOCH ||
		 error == KAFKA_ERR_NOT_LEADER_OR_FOLLOWER)
		KB_DEBUG("replication: %s-%" PRId32 ": %s from broker %" PRId32,
			 p->tp->topic->name, p->index, wire_error_name(error),
			 p->leader_id);
	else
		KB_WARN("replication: %s-%" PRId32 ": %s from broker %" PRId32,
			p->tp->topic->name, p->index, wire_error_name(error),
			p->leader_id);
	p->retry_at_ms = kb_mono_ms() + r->cfg.fetch_backoff_ms;
}

static void call_done(struct fetch_call *c, int status)
{
	struct repl_fetcher *fe = c->fe;
	fe->in_flight = false;
	if (status == KB_ERR_PROTO)
		KB_WARN("replication: an answer from broker %" PRId32
			" does not parse; backing off", fe->leader_id);
	if (status != KB_OK)
		fe->retry_at_ms = kb_mono_ms() + fe->r->cfg.fetch_backoff_ms;
	free(c->items);
	free(c);
}

/* KAFKA: AbstractFetcherThread.truncateToEpochEndOffsets and
 * getOffsetTruncationState: cut at the leader's end of our latest epoch
 * (or of the latest epoch it has that we have too), never past our own
 * log end; no epoch known on either side: at the high watermark. */
int64_t repl_truncation_offset(const struct log *log, int64_t hw,
			       int32_t found_epoch, int64_t end_offset)
{
	int64_t leo = log_end_offset(log);
	int32_t e;
	int64_t own_end;
	if (found_epoch < 0 || end_offset < 0)
		return KB_MIN(hw, leo);
	if (found_epoch == latest_epoch(log))
		return KB_MIN(end_offset, leo);
	if (log_epoch_end_offset(log, found_epoch, &e, &own_end) == KB_OK &&
	    e == found_epoch)
		return KB_MIN(end_offset, own_end);
	return KB_MIN(end_offset, leo);
}

static void part_truncate(struct repl *r, struct repl_part *p,
			  int32_t found_epoch, int64_t end_offset)
{
	int64_t leo = log_end_offset(p->tp->log);
	int64_t to = repl_truncation_offset(p->tp->log, p->tp->high_watermark,
					    found_epoch, end_offset);
	if (to < leo) {
		KB_INFO("replication: %s-%" PRId32 ": truncating to %" PRId64
			" (log end %" PRId64 ") for leader %" PRId32 " epoch %"
			PRId32, p->tp->topic->name, p->index, to, leo,
			p->leader_id, p->leader_epoch);
		if (topic_partition_truncate(r->tm, p->tp, to, false) != KB_OK) {
			part_backoff(r, p, KAFKA_ERR_KAFKA_STORAGE_ERROR);
			return;
		}
	}
	p->truncating = false;
}

/* KAFKA: OffsetForLeaderEpochResponse v4: throttle_time_ms, topics
 * [topic, partitions [error_code, partition, leader_epoch, end_offset]]. */
static void epoch_reply(void *ctx, int status, struct wire_reader *body)
{
	struct fetch_call *c = ctx;
	struct repl_fetcher *fe = c->fe;
	struct repl *r = fe->r;
	if (status == KB_OK && !r->closed) {
		wire_read_i32(body); /* throttle_time_ms */
		int32_t nt = wire_read_array_len(body, 3);
		for (int32_t t = 0; t < nt && wire_reader_status(body) == KB_OK; t++) {
			struct wire_str topic = wire_read_string(body);
			int32_t np = wire_read_array_len(body, 18);
			for (int32_t i = 0; i < np; i++) {
				int16_t err = wire_read_i16(body);
				int32_t index = wire_read_i32(body);
				int32_t epoch = wire_read_i32(body);
				int64_t end = wire_read_i64(body);
				wire_read_tags(body);
				const struct fetch_item *it = call_item(r, c, topic, index);
				struct repl_part *p = it ? item_part(r, fe, it) : NULL;
				if (!p || wire_reader_status(body) != KB_OK)
					continue;
				if (err != KAFKA_ERR_NONE)
					part_backoff(r, p, err);
				else
					part_truncate(r, p, epoch, end);
			}
			wire_read_tags(body);
		}
		status = wire_reader_status(body);
	}
	bool closed = r->closed;
	call_done(c, status);
	if (!closed)
		fetcher_kick(fe, kb_mono_ms());
}

/* INVARIANT 3: every whole batch of records, CRC checked, appended as
 * it is. A cut-off last batch (max bytes) is left for the next fetch. */
static int16_t append_records(struct repl *r, struct repl_part *p,
			      struct wire_bytes records)
{
	const uint8_t *b = records.p;
	size_t left = records.len > 0 ? (size_t)records.len : 0;
	struct seg_batch h;
	while (left >= SEG_LOG_OVERHEAD) {
		uint32_t blen = kb_get_be32(b + 8);
		if (blen < SEG_MIN_BATCH_LENGTH || blen > left - SEG_LOG_OVERHEAD)
			break;
		size_t size = SEG_LOG_OVERHEAD + blen;
		if (seg_batch_validate(b, size, &h, NULL) != KB_OK)
			return KAFKA_ERR_CORRUPT_MESSAGE;
		if (h.base_offset >= log_end_offset(p->tp->log) &&
		    topic_append_replica(p->tp, b, size, NULL) != KB_OK)
			return KAFKA_ERR_KAFKA_STORAGE_ERROR;
		b += size;
		left -= size;
	}
	(void)r;
	return KAFKA_ERR_NONE;
}

/* KAFKA: processPartitionData and handleOutOfRangeError: append, then
 * the leader's high watermark and log start offset, bounded by ours. */
static void part_fetched(struct repl *r, struct repl_part *p, int16_t err,
			 int64_t hw, int64_t log_start, struct wire_bytes records)
{
	struct topic_partition *tp = p->tp;
	if (err == KAFKA_ERR_OFFSET_OUT_OF_RANGE && log_start >= 0 &&
	    log_end_offset(tp->log) < log_start) {
		KB_INFO("replication: %s-%" PRId32 ": behind the leader's log "
			"start %" PRId64 "; starting over there", tp->topic->name,
			p->index, log_start);
		if (topic_partition_truncate(r->tm, tp, log_start, true) != KB_OK)
			part_backoff(r, p, KAFKA_ERR_KAFKA_STORAGE_ERROR);
		return;
	}
	if (err == KAFKA_ERR_OFFSET_OUT_OF_RANGE) {
		p->truncating = true; /* ahead of the leader: ask again */
		return;
	}
	if (err == KAFKA_ERR_NONE)
		err = append_records(r, p, records);
	if (err != KAFKA_ERR_NONE) {
		part_backoff(r, p, err);
		return;
	}
	if (log_start > tp->log->log_start_offset &&
	    log_start <= log_end_offset(tp->log))
		log_advance_start_offset(tp->log, log_start);
	if (hw > tp->high_watermark)
		topic_partition_set_high_watermark(r->tm, tp, hw);
}

/* One PartitionData of a FetchResponse v12. */
static void read_partition(struct repl *r, struct fetch_call *c,
			   struct wire_str topic, struct wire_reader *body)
{
	int32_t index = wire_read_i32(body);
	int16_t err = wire_read_i16(body);
	int64_t hw = wire_read_i64(body);
	wire_read_i64(body); /* last_stable_offset */
	int64_t log_start = wire_read_i64(body);
	int32_t naborted = wire_read_nullable_array_len(body, 17);
	for (int32_t k = 0; k < naborted; k++) {
		wire_read_i64(body);
		wire_read_i64(body);
		wire_read_tags(body);
	}
	wire_read_i32(body); /* preferred_read_replica */
	struct wire_bytes records = wire_read_nullable_bytes(body);
	wire_read_tags(body);
	const struct fetch_item *it = call_item(r, c, topic, index);
	struct repl_part *p = it ? item_part(r, c->fe, it) : NULL;
	if (p && wire_reader_status(body) == KB_OK)
		part_fetched(r, p, err, hw, log_start, records);
}

/* KAFKA: FetchResponse v12: throttle_time_ms, error_code, session_id,
 * responses [topic, partitions [PartitionData]]. */
static void fetch_reply(void *ctx, int status, struct wire_reader *body)
{
	struct fetch_call *c = ctx;
	struct repl_fetcher *fe = c->fe;
	struct repl *r = fe->r;
	if (status == KB_OK && !r->closed) {
		wire_read_i32(body); /* throttle_time_ms */
		int16_t err = wire_read_i16(body);
		wire_read_i32(body); /* session_id */
		int32_t nt = wire_read_array_len(body, 3);
		for (int32_t t = 0; t < nt && wire_reader_status(body) == KB_OK; t++) {
			struct wire_str topic = wire_read_string(body);
			/* the smallest PartitionData: no records, 37 bytes */
			int32_t np = wire_read_array_len(body, 37);
			for (int32_t i = 0; i < np &&
					    wire_reader_status(body) == KB_OK; i++)
				read_partition(r, c, topic, body);
			wire_read_tags(body);
		}
		status = wire_reader_status(body);
		if (status == KB_OK && err != KAFKA_ERR_NONE) {
			KB_WARN("replication: Fetch from broker %" PRId32 ": %s",
				fe->leader_id, wire_error_name(err));
			status = KB_ERR_AGAIN;
		}
	}
	bool closed = r->closed;
	call_done(c, status);
	if (!closed)
		fetcher_kick(fe, kb_mono_ms());
}
