/* SPDX-License-Identifier: MIT */
/*
 * Chapter 11 — producers, part 1: idempotence.
 *
 * Concept:
 *   A producer that loses a connection cannot tell whether its last
 *   Produce was appended; retrying may duplicate, not retrying may lose.
 *   The broker gives each producer an id; the producer numbers its
 *   records per partition, and each partition remembers every producer's
 *   last five batches: a resent batch gets its first answer back, a gap
 *   is refused. The memory is rebuilt after a restart from a snapshot and
 *   the batch headers after it.
 *
 * Kafka:
 *   InitProducerId (api key 22, v0-4), ProducerIdManager (blocks of 1000),
 *   RPCProducerIdManager (blocks from the controller, prefetch at 90%),
 *   ProducerStateManager, ProducerAppendInfo, NUM_BATCHES_TO_RETAIN = 5,
 *   <offset>.snapshot files, producer.id.expiration.ms.
 *
 * Interface:
 *   - prod_open after topic_manager_open; prod_close before
 *     topic_manager_close (it writes snapshots into the open logs).
 *   - A batch with a producer id passes produce_check before the append;
 *     prod_appended records it after, with its offsets.
 *   - A partition's state loads when first needed; prod_entry_find
 *     results are views, not to be kept across an append.
 *   - Ids come from blocks: of PROD_ID_FILE on one node, of the source
 *     set by prod_set_id_source in a cluster (chapter 07: the
 *     controller's AllocateProducerIds); while the next block is out,
 *     InitProducerId answers COORDINATOR_LOAD_IN_PROGRESS.
 *
 * Invariants (prod_check asserts what memory can show):
 *   1. A batch equal to one of its producer's last PROD_BATCH_WINDOW
 *      batches is never appended again; the answer has its first offset.
 *   2. In one epoch a batch is appended only if its first sequence follows
 *      the last one (wrapping after INT32_MAX).
 *   3. An older epoch is refused; a newer one starts at sequence 0.
 *   4. An unknown producer may start only at sequence 0.
 *   5. A partition's state describes exactly the batches below its
 *      next_offset, the log end offset after every append.
 *   6. No producer id is handed out twice, across restarts.
 *   7. A snapshot named N holds the state of every batch below offset N.
 *
 * Simplifications: no transactions yet (a transactional id answers
 *   COORDINATOR_NOT_AVAILABLE); Kafka 2.x's UNKNOWN_PRODUCER_ID rule; ids
 *   from a file on one node, from prod_set_id_source's blocks (chapter
 *   07: the controller) in a cluster; two snapshots kept; linear search
 *   (docs/11_producers.md). Single-threaded: the reactor owns everything.
 *
 * See also: docs/11_producers.md, diagrams/11_producers.dot,
 *   tests/11_producers_test.c, tests/clients/test_idempotence.py;
 *   read before: 11_producer_ids.c (the id blocks).
 *   Uses chapters 00 (base), 01 (segment), 03 (log), 04 (codec), 05 (server),
 *   06 (topics).
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "00_base.h"
#include "01_segment.h"
#include "03_log.h"
#include "04_codec.h"
#include "05_server.h"
#include "06_topics.h"
#include "11_producers.h"
#include "11_producers_internal.h"

/* The int32 entry count before the entries of a snapshot. */
#define PROD_SNAP_COUNT_BYTES 4
/* A snapshot larger than this is damaged (a million producers). */
#define PROD_SNAP_MAX_BYTES (64u << 20)

/* ---- Data structures ---- */

/* What one partition knows about its producers. KAFKA: ProducerStateManager.
 * Found by topic id and partition number, not by pointer: a deleted
 * topic's memory may be reused by a new one, its id never is. */
struct prod_state {
	struct wire_uuid topic_id;
	int32_t partition;
	struct prod_entry *entries; /* owned: n of cap */
	size_t n, cap;
	int64_t next_offset;        /* INVARIANT 5: batches below it are in */
};

/* The manager: the id block and every loaded partition state. */
struct prod_manager {
	struct topic_manager *tm;   /* borrowed */
	struct prod_config cfg;
	struct prod_ids ids;        /* the id blocks (11_producer_ids.c) */
	struct prod_state **states; /* owned: nstates of cap, each owned */
	size_t nstates, cap;
};

/* An InitProducerId request, decoded: transactional id (len -1: null),
 * then v3+ the producer id and epoch the client already has (-1, -1). */
struct init_request {
	struct wire_str txn;   /* borrowed: views the request */
	int64_t producer_id;
	int16_t epoch;
};

/* ---- Prototypes of the static helpers, in reading order ---- */

static int16_t init_authorize(const struct net_request *req,
			      struct wire_str txn);
static int16_t init_producer_id(struct prod_manager *pm,
				const struct init_request *q, int64_t *out_pid);
static void produce_check(void *ctx, struct topic_partition *tp,
			  const struct seg_batch *b,
			  struct topic_produce_verdict *v);
static const struct prod_batch *batch_duplicate(const struct prod_entry *e,
						const struct seg_batch *b);
static int16_t sequence_check(const struct prod_entry *e,
			      const struct seg_batch *b);
static void prod_appended(void *ctx, struct topic_partition *tp,
			  const struct seg_batch *b,
			  const struct log_append_info *info);
static void prod_truncated(void *ctx, struct topic_partition *tp);
static int state_record(struct prod_state *st, const struct seg_batch *b);
static struct prod_state *state_find(struct prod_manager *pm,
				     const struct topic_partition *tp);
static struct prod_state *state_get(struct prod_manager *pm,
				    struct topic_partition *tp, int64_t upto);
static int state_load(struct prod_state *st, struct topic_partition *tp,
		      int64_t upto);
static int state_scan_log(struct prod_state *st, const struct log *log,
			  int64_t upto);
static int snapshot_encode(const struct prod_state *st, struct kb_buf *out);
static int snapshot_load(struct prod_state *st, const char *dir,
			 int64_t log_end, int64_t upto);
static int snapshot_read(struct prod_state *st, const char *path);
static int snapshot_check(const uint8_t *p, size_t len, uint32_t *count);
static int snapshot_entry_decode(struct prod_state *st, const uint8_t *p);
static bool entries_below(const struct prod_state *st, int64_t offset);
static int snapshot_list(const char *dir, int64_t **offsets, size_t *n);
static void snapshot_prune(const char *dir);
static void snapshot_unlink(const char *dir, int64_t offset);
static void expire_tick(void *ctx, int64_t now_ms);
static struct prod_entry *entry_lookup(struct prod_state *st, int64_t pid);
static struct prod_entry *entry_add(struct prod_state *st, int64_t pid);
static int32_t seq_add(int32_t seq, int32_t n);
static void state_check(const struct prod_state *st);

/* ---- Lifecycle ---- */

void prod_config_defaults(struct prod_config *cfg)
{
	cfg->expiration_ms = PROD_DEFAULT_EXPIRATION_MS;
	cfg->expiration_check_ms = PROD_DEFAULT_EXPIRATION_CHECK_MS;
}

/* KAFKA: BrokerServer starts the ProducerIdManager with the transaction
 * coordinator; the producer state managers come with each UnifiedLog. */
int prod_open(struct topic_manager *tm, struct net_server *srv,
	      const struct prod_config *cfg, struct prod_manager **out)
{
	struct prod_manager *pm = calloc(1, sizeof *pm);
	if (!pm)
		return KB_ERR_NOMEM;
	pm->tm = tm;
	pm->cfg = *cfg;
	snprintf(pm->ids.id_path, sizeof pm->ids.id_path, "%s/%s",
		 topic_manager_config(tm)->log_dir, PROD_ID_FILE);
	struct net_api init_pid = {WIRE_API_INIT_PRODUCER_ID,
				   PROD_INIT_MIN_VERSION, PROD_INIT_MAX_VERSION,
				   handle_init_producer_id, pm};
	int rc = prod_ids_open(&pm->ids);
	if (rc == KB_OK && srv)
		rc = net_register(srv, &init_pid);
	if (rc == KB_OK && srv)
		rc = net_every(srv, cfg->expiration_check_ms,
			       (struct net_callback){expire_tick, pm});
	if (rc == KB_OK)
		rc = topic_subscribe(tm, prod_appended, pm);
	if (rc != KB_OK) {
		free(pm);
		return rc;
	}
	topic_set_produce_check(tm, produce_check, pm);
	topic_set_truncate_hook(tm, prod_truncated, pm);
	*out = pm;
	return KB_OK;
}

/* ---- Producer ids (11_producer_ids.c) ---- */

int prod_next_producer_id(struct prod_manager *pm, int64_t *out)
{
	return prod_ids_next(&pm->ids, out);
}

void prod_set_id_source(struct prod_manager *pm,
			const struct prod_id_source *src)
{
	prod_ids_set_source(&pm->ids, src);
}

/* ---- InitProducerId (api key 22, v0-4) ---- */

/* Request: transactional_id, transaction_timeout_ms, then v3+
 * producer_id and producer_epoch. Response: throttle_time_ms,
 * error_code, producer_id, producer_epoch (v2+ flexible). */
int handle_init_producer_id(struct net_request *req,
			    struct net_response *resp)
{
	struct prod_manager *pm = req->ctx;
	struct wire_reader *r = &req->body;
	struct wire_writer *w = &resp->w;
	int64_t new_pid = PROD_NO_PRODUCER_ID;
	struct init_request q = {wire_read_nullable_string(r),
				 PROD_NO_PRODUCER_ID, PROD_NO_EPOCH};
	wire_read_i32(r); /* transaction_timeout_ms: transactions only */
	if (req->header.api_version >= 3) {
		q.producer_id = wire_read_i64(r);
		q.epoch = wire_read_i16(r);
	}
	wire_read_tags(r);
	if (wire_reader_status(r) != KB_OK)
		return KB_ERR_PROTO;
	int16_t err = init_authorize(req, q.txn);
	if (err == KAFKA_ERR_NONE)
		err = init_producer_id(pm, &q, &new_pid);
	wire_write_i32(w, 0); /* throttle_time_ms */
	wire_write_i16(w, err);
	wire_write_i64(w, new_pid);
	/* KAFKA: a new id starts at epoch 0; errors carry -1 and -1. */
	wire_write_i16(w, err == KAFKA_ERR_NONE ? 0 : PROD_NO_EPOCH);
	wire_write_tags(w);
	return wire_writer_status(w);
}

/* KAFKA: KafkaApis.handleInitProducerIdRequest's checks: WRITE on the
 * transactional id; without one IDEMPOTENT_WRITE on the cluster, or
 * (KIP-679) WRITE on any topic (a NULL name asks about any). */
static int16_t init_authorize(const struct net_request *req,
			      struct wire_str txn)
{
	if (txn.len >= 0)
		return net_authorized(req, NET_OP_WRITE,
				      NET_RESOURCE_TRANSACTIONAL_ID, txn.p,
				      (size_t)txn.len) ? KAFKA_ERR_NONE :
			       KAFKA_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
	if (net_authorized_cluster(req, NET_OP_IDEMPOTENT_WRITE) ||
	    net_authorized(req, NET_OP_WRITE, NET_RESOURCE_TOPIC, NULL, 0))
		return KAFKA_ERR_NONE;
	return KAFKA_ERR_CLUSTER_AUTHORIZATION_FAILED;
}

/* KAFKA: KafkaApis.handleInitProducerIdRequest, then
 * TransactionCoordinator.handleInitProducerId for a null transactional
 * id: "always blindly accept the request and return a new producerId". */
static int16_t init_producer_id(struct prod_manager *pm,
				const struct init_request *q, int64_t *out_pid)
{
	/* An id without an epoch, or an epoch without an id. */
	if ((q->producer_id == PROD_NO_PRODUCER_ID) !=
	    (q->epoch == PROD_NO_EPOCH))
		return KAFKA_ERR_INVALID_REQUEST;
	/* Transactions (part 2) plug in here: a transactional id finds its
	 * coordinator, which bumps the epoch of the id it remembers. */
	if (q->txn.len >= 0)
		return KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
	int rc = prod_next_producer_id(pm, out_pid);
	if (rc != KB_OK) {
		*out_pid = PROD_NO_PRODUCER_ID;
		/* KAFKA: "Producer ID block is full. Waiting for next block":
		 * COORDINATOR_LOAD_IN_PROGRESS, which every client retries. */
		return rc == KB_ERR_AGAIN ?
			       KAFKA_ERR_COORDINATOR_LOAD_IN_PROGRESS :
			       KAFKA_ERR_UNKNOWN_SERVER_ERROR;
	}
	return KAFKA_ERR_NONE;
}

/* ---- The produce check ---- */

/* KAFKA: UnifiedLog.analyzeAndValidateProducerState: the duplicate test
 * first, then ProducerAppendInfo's epoch and sequence checks. Batches
 * without a producer id pass untouched. (Kafka chains the batches of one
 * request; since Produce v3 a request holds one batch per partition, and
 * chapter 06 refuses a second, so there is nothing to chain.) */
static void produce_check(void *ctx, struct topic_partition *tp,
			  const struct seg_batch *b,
			  struct topic_produce_verdict *v)
{
	struct prod_manager *pm = ctx;
	if (b->producer_id < 0)
		return;
	struct prod_state *st = state_get(pm, tp, log_end_offset(tp->log));
	if (!st) {
		v->error_code = KAFKA_ERR_KAFKA_STORAGE_ERROR;
		return;
	}
	const struct prod_entry *e = entry_lookup(st, b->producer_id);
	const struct prod_batch *dup = e ? batch_duplicate(e, b) : NULL;
	if (dup) { /* INVARIANT 1 */
		KB_DEBUG("%s: duplicate batch of producer %" PRId64 " (sequence"
			 " %" PRId32 "), first appended at %" PRId64, tp->log->dir,
			 b->producer_id, b->base_sequence, dup->first_offset);
		v->duplicate = true;
		v->base_offset = dup->first_offset;
		return;
	}
	v->error_code = sequence_check(e, b);
}

/* KAFKA: ProducerStateEntry.findDuplicateBatch: same epoch, same first
 * and last sequence as one of the batches still remembered. */
static const struct prod_batch *batch_duplicate(const struct prod_entry *e,
						const struct seg_batch *b)
{
	if (b->producer_epoch != e->epoch)
		return NULL;
	int32_t last_seq = seq_add(b->base_sequence, b->last_offset_delta);
	for (int i = 0; i < e->nbatches; i++)
		if (e->batches[i].first_seq == b->base_sequence &&
		    e->batches[i].last_seq == last_seq)
			return &e->batches[i];
	return NULL;
}

/* KAFKA: ProducerAppendInfo.checkProducerEpoch and checkSequence (2.x
 * for the unknown producer). e is NULL for a producer never seen. */
static int16_t sequence_check(const struct prod_entry *e,
			      const struct seg_batch *b)
{
	if (!e) /* INVARIANT 4 */
		return b->base_sequence == 0 ? KAFKA_ERR_NONE
					     : KAFKA_ERR_UNKNOWN_PRODUCER_ID;
	/* INVARIANT 3. KAFKA 2.7+: INVALID_PRODUCER_EPOCH, not the fatal
	 * PRODUCER_FENCED, so the client can recover. */
	if (b->producer_epoch < e->epoch)
		return KAFKA_ERR_INVALID_PRODUCER_EPOCH;
	if (b->producer_epoch > e->epoch)
		return b->base_sequence == 0 ? KAFKA_ERR_NONE
					     : KAFKA_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
	/* INVARIANT 2: the batch must follow the last one exactly. */
	int32_t last = e->batches[e->nbatches - 1].last_seq;
	if (b->base_sequence != seq_add(last, 1))
		return KAFKA_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
	return KAFKA_ERR_NONE;
}

/* ---- After the append ---- */

/* A partition event: the batch is in the log with its offsets (chapter
 * 06 moved the high watermark). Take the roll snapshot, then remember
 * the batch. */
static void prod_appended(void *ctx, struct topic_partition *tp,
			  const struct seg_batch *b,
			  const struct log_append_info *info)
{
	struct prod_manager *pm = ctx;
	struct prod_state *st = state_find(pm, tp);
	if (!st && b->producer_id < 0)
		return; /* nothing to remember, nothing loaded */
	if (!st && !(st = state_get(pm, tp, info->base_offset)))
		return;
	if (b->base_offset < st->next_offset)
		return; /* already read from the log by the load */
	/* KAFKA: UnifiedLog.roll takes a snapshot at the new segment's base:
	 * the state of everything before this batch (INVARIANT 7). */
	if (info->segment_base == info->base_offset && info->base_offset > 0)
		prod_snapshot_write(pm, tp);
	/* INVARIANT 3: produce_check let no older epoch through, so a
	 * producer's epoch never goes back in memory. */
	const struct prod_entry *e = entry_lookup(st, b->producer_id);
	assert(!e || b->producer_epoch >= e->epoch);
	if (state_record(st, b) != KB_OK)
		KB_ERROR("%s: producer state lost for %" PRId64, tp->log->dir,
			 b->producer_id);
	st->next_offset = info->last_offset + 1;
	state_check(st);
}

/* KAFKA: UnifiedLog.truncateTo -> ProducerStateManager.truncateAndReload:
 * a follower cut its log (chapter 08), so batches it remembered may be
 * gone. The snapshots past the new end go, and the state is dropped, to
 * be loaded again from the newest snapshot left and the log (state_get):
 * a sequence the log no longer holds is never taken for a duplicate. */
static void prod_truncated(void *ctx, struct topic_partition *tp)
{
	struct prod_manager *pm = ctx;
	int64_t *offs, end = log_end_offset(tp->log);
	size_t n;
	if (snapshot_list(tp->log->dir, &offs, &n) == KB_OK) {
		for (size_t i = 0; i < n; i++)
			if (offs[i] > end || offs[i] < tp->log->log_start_offset)
				snapshot_unlink(tp->log->dir, offs[i]);
		free(offs);
	}
	for (size_t i = 0; i < pm->nstates; i++) {
		struct prod_state *st = pm->states[i];
		if (st->partition != tp->index ||
		    memcmp(st->topic_id.b, tp->topic->id.b, WIRE_UUID_LEN))
			continue;
		free(st->entries);
		free(st);
		pm->states[i] = pm->states[--pm->nstates];
		break;
	}
}

/* Remember one appended batch (b->base_offset is assigned). A new epoch
 * forgets the old one's batches; the window keeps the newest five.
 * KAFKA: ProducerAppendInfo.appendDataBatch, ProducerStateEntry.addBatch. */
static int state_record(struct prod_state *st, const struct seg_batch *b)
{
	/* Transactions (part 2) handle control batches (markers) here. */
	if (b->producer_id < 0 || (b->attributes & SEG_ATTR_CONTROL))
		return KB_OK;
	struct prod_entry *e = entry_lookup(st, b->producer_id);
	if (!e && !(e = entry_add(st, b->producer_id)))
		return KB_ERR_NOMEM;
	if (e->epoch != b->producer_epoch) { /* INVARIANT 3 */
		e->epoch = b->producer_epoch;
		e->nbatches = 0;
	}
	if (e->nbatches == PROD_BATCH_WINDOW) {
		memmove(e->batches, e->batches + 1,
			(PROD_BATCH_WINDOW - 1) * sizeof e->batches[0]);
		e->nbatches--;
	}
	e->batches[e->nbatches++] = (struct prod_batch){
		b->base_sequence, seq_add(b->base_sequence, b->last_offset_delta),
		b->base_offset, seg_batch_last_offset(b)};
	e->last_timestamp = b->max_timestamp;
	return KB_OK;
}

/* ---- Partition state: find, load ---- */

const struct prod_entry *prod_entry_find(struct prod_manager *pm,
					 struct topic_partition *tp,
					 int64_t producer_id)
{
	struct prod_state *st = state_get(pm, tp, log_end_offset(tp->log));
	return st ? entry_lookup(st, producer_id) : NULL;
}

static struct prod_state *state_find(struct prod_manager *pm,
				     const struct topic_partition *tp)
{
	for (size_t i = 0; i < pm->nstates; i++) {
		struct prod_state *st = pm->states[i];
		if (st->partition == tp->index &&
		    memcmp(st->topic_id.b, tp->topic->id.b, WIRE_UUID_LEN) == 0)
			return st;
	}
	return NULL;
}

/* tp's state, loaded with every batch below upto if it was not loaded
 * yet. NULL when memory or the log fails (logged). */
static struct prod_state *state_get(struct prod_manager *pm,
				    struct topic_partition *tp, int64_t upto)
{
	struct prod_state *st = state_find(pm, tp);
	if (st)
		return st;
	if (pm->nstates == pm->cap) {
		size_t cap = pm->cap ? pm->cap * 2 : 8;
		void *p = realloc(pm->states, cap * sizeof *pm->states);
		if (!p)
			return NULL;
		pm->states = p;
		pm->cap = cap;
	}
	if (!(st = calloc(1, sizeof *st)))
		return NULL;
	st->topic_id = tp->topic->id;
	st->partition = tp->index;
	if (state_load(st, tp, upto) != KB_OK) {
		free(st->entries);
		free(st);
		return NULL;
	}
	pm->states[pm->nstates++] = st;
	state_check(st);
	return st;
}

/* KAFKA: UnifiedLog.rebuildProducerState: the newest usable snapshot at
 * or below upto, then the batch headers after it, up to upto. */
static int state_load(struct prod_state *st, struct topic_partition *tp,
		      int64_t upto)
{
	st->next_offset = tp->log->log_start_offset;
	int rc = snapshot_load(st, tp->log->dir, log_end_offset(tp->log), upto);
	if (rc == KB_OK)
		rc = state_scan_log(st, tp->log, upto);
	return rc;
}

/* Record every batch in [st->next_offset, upto) from the headers alone:
 * producer id, epoch, base sequence and last offset delta are all in the
 * first 61 bytes of a v2 batch, nothing needs decompressing. */
static int state_scan_log(struct prod_state *st, const struct log *log,
			  int64_t upto)
{
	struct seg_scan scan;
	struct seg_batch b;
	uint64_t pos;
	for (size_t i = 0; i < log->nsegs; i++) {
		const struct segment *seg = log->segs[i].seg;
		if (seg->next_offset <= st->next_offset)
			continue;
		seg_scan_init(&scan, seg);
		pos = 0;
		int rc = seg_scan_find_offset(&scan, st->next_offset, &pos, &b);
		for (; rc == KB_OK && b.base_offset < upto;
		     rc = seg_scan_batch(&scan, pos, &b)) {
			if ((rc = state_record(st, &b)) != KB_OK)
				return rc;
			pos += seg_batch_size(&b);
		}
		if (rc != KB_OK && rc != KB_ERR_RANGE && rc != KB_ERR_NOTFOUND)
			return rc;
	}
	st->next_offset = KB_MAX(st->next_offset,
				 KB_MIN(upto, log_end_offset(log)));
	return KB_OK;
}

/* ---- Snapshots ---- */

int prod_snapshot_write(struct prod_manager *pm, struct topic_partition *tp)
{
	char path[PROD_PATH_MAX];
	struct kb_buf buf;
	struct prod_state *st = state_get(pm, tp, log_end_offset(tp->log));
	if (!st)
		return KB_ERR_NOMEM;
	int rc = seg_file_name(path, sizeof path,
			       (struct seg_file){tp->log->dir, st->next_offset,
						 PROD_SNAPSHOT_SUFFIX});
	if (rc != KB_OK)
		return rc;
	kb_buf_init(&buf);
	if ((rc = snapshot_encode(st, &buf)) == KB_OK)
		rc = kb_write_file_atomic(path, buf.data, buf.len);
	kb_buf_fini(&buf);
	if (rc == KB_OK)
		snapshot_prune(tp->log->dir);
	return rc;
}

/* KAFKA: ProducerStateManager.writeSnapshot: version, crc, then one entry
 * per producer describing its last batch only. */
static int snapshot_encode(const struct prod_state *st, struct kb_buf *out)
{
	size_t len = PROD_SNAP_OFF_ENTRIES + PROD_SNAP_COUNT_BYTES +
		     st->n * PROD_SNAP_ENTRY_BYTES;
	if (kb_buf_reserve(out, len) != KB_OK)
		return KB_ERR_NOMEM;
	uint8_t *p = out->data;
	kb_put_be16(p + PROD_SNAP_OFF_VERSION, PROD_SNAPSHOT_VERSION);
	kb_put_be32(p + PROD_SNAP_OFF_ENTRIES, (uint32_t)st->n);
	p += PROD_SNAP_OFF_ENTRIES + PROD_SNAP_COUNT_BYTES;
	for (size_t i = 0; i < st->n; i++, p += PROD_SNAP_ENTRY_BYTES) {
		const struct prod_entry *e = &st->entries[i];
		const struct prod_batch *last = &e->batches[e->nbatches - 1];
		kb_put_be64(p + 0, (uint64_t)e->producer_id);
		kb_put_be16(p + 8, (uint16_t)e->epoch);
		kb_put_be32(p + 10, (uint32_t)last->last_seq);
		kb_put_be64(p + 14, (uint64_t)last->last_offset);
		kb_put_be32(p + 22, (uint32_t)(last->last_offset -
					       last->first_offset));
		kb_put_be64(p + 26, (uint64_t)e->last_timestamp);
		kb_put_be32(p + 34, (uint32_t)e->coordinator_epoch);
		kb_put_be64(p + 38, (uint64_t)e->current_txn_first_offset);
	}
	uint32_t crc = seg_crc32c(0, out->data + PROD_SNAP_OFF_ENTRIES,
				  len - PROD_SNAP_OFF_ENTRIES);
	kb_put_be32(out->data + PROD_SNAP_OFF_CRC, crc);
	out->len = len;
	return KB_OK;
}

/* Load the newest snapshot at or below upto that reads back whole.
 * Snapshots past the log end describe records a crash took away: they go
 * (KAFKA: truncateFullyAndReloadSnapshots); damaged ones go too. */
static int snapshot_load(struct prod_state *st, const char *dir,
			 int64_t log_end, int64_t upto)
{
	char path[PROD_PATH_MAX];
	int64_t *offs;
	size_t n;
	int rc = snapshot_list(dir, &offs, &n);
	if (rc != KB_OK)
		return rc;
	for (size_t i = n; i-- > 0;) {
		if (offs[i] > log_end)
			snapshot_unlink(dir, offs[i]);
		if (offs[i] > upto || offs[i] < st->next_offset)
			continue;
		struct seg_file snap = {dir, offs[i], PROD_SNAPSHOT_SUFFIX};
		seg_file_name(path, sizeof path, snap);
		if (snapshot_read(st, path) == KB_OK &&
		    entries_below(st, offs[i])) {
			st->next_offset = offs[i];
			break;
		}
		st->n = 0;
		KB_WARN("%s: damaged producer snapshot, deleted", path);
		snapshot_unlink(dir, offs[i]);
	}
	free(offs);
	return KB_OK;
}

/* Decode one snapshot file into st (empty before). KB_ERR_CORRUPT for a
 * wrong version, crc or size. KAFKA: ProducerStateManager.readSnapshot. */
static int snapshot_read(struct prod_state *st, const char *path)
{
	char *data;
	size_t len;
	uint32_t count = 0;
	int rc = kb_read_file(path, &data, &len, PROD_SNAP_MAX_BYTES);
	if (rc != KB_OK)
		return rc;
	const uint8_t *p = (const uint8_t *)data;
	rc = snapshot_check(p, len, &count);
	p += PROD_SNAP_OFF_ENTRIES + PROD_SNAP_COUNT_BYTES;
	for (; rc == KB_OK && count > 0; count--, p += PROD_SNAP_ENTRY_BYTES)
		rc = snapshot_entry_decode(st, p);
	if (rc != KB_OK)
		st->n = 0;
	free(data);
	return rc;
}

/* Version, CRC and size agree with each other: *count entries follow. */
static int snapshot_check(const uint8_t *p, size_t len, uint32_t *count)
{
	size_t head = PROD_SNAP_OFF_ENTRIES + PROD_SNAP_COUNT_BYTES;
	if (len < head ||
	    kb_get_be16(p + PROD_SNAP_OFF_VERSION) != PROD_SNAPSHOT_VERSION)
		return KB_ERR_CORRUPT;
	uint32_t crc = seg_crc32c(0, p + PROD_SNAP_OFF_ENTRIES,
				  len - PROD_SNAP_OFF_ENTRIES);
	if (kb_get_be32(p + PROD_SNAP_OFF_CRC) != crc)
		return KB_ERR_CORRUPT;
	*count = kb_get_be32(p + PROD_SNAP_OFF_ENTRIES);
	if ((len - head) % PROD_SNAP_ENTRY_BYTES != 0 ||
	    (len - head) / PROD_SNAP_ENTRY_BYTES != *count)
		return KB_ERR_CORRUPT;
	return KB_OK;
}

/* One 46-byte entry: the producer with its last batch as the only one in
 * its window (first sequence and offset follow from offset_delta). */
static int snapshot_entry_decode(struct prod_state *st, const uint8_t *p)
{
	struct prod_entry *e = entry_add(st, (int64_t)kb_get_be64(p));
	if (!e)
		return KB_ERR_NOMEM;
	int32_t delta = (int32_t)kb_get_be32(p + 22);
	struct prod_batch *last = &e->batches[0];
	last->last_offset = (int64_t)kb_get_be64(p + 14);
	if (delta < 0 || last->last_offset < delta)
		return KB_ERR_CORRUPT; /* a CRC-valid file we did not write */
	e->epoch = (int16_t)kb_get_be16(p + 8);
	last->last_seq = (int32_t)kb_get_be32(p + 10);
	last->first_seq = seq_add(last->last_seq, -delta);
	last->first_offset = last->last_offset - delta;
	e->nbatches = 1;
	e->last_timestamp = (int64_t)kb_get_be64(p + 26);
	e->coordinator_epoch = (int32_t)kb_get_be32(p + 34);
	e->current_txn_first_offset = (int64_t)kb_get_be64(p + 38);
	return KB_OK;
}

/* INVARIANT 7: a snapshot named offset holds batches below it only;
 * a CRC-valid file that says otherwise was not written by us. */
static bool entries_below(const struct prod_state *st, int64_t offset)
{
	for (size_t i = 0; i < st->n; i++)
		if (st->entries[i].batches[0].last_offset >= offset)
			return false;
	return true;
}

/* The offsets of dir's snapshot files, ascending (20-digit names sort as
 * numbers). returns owned *offsets (free). */
static int snapshot_list(const char *dir, int64_t **offsets, size_t *n)
{
	struct dirent **names;
	struct kb_buf found;
	int64_t off;
	int count = scandir(dir, &names, NULL, alphasort), rc = KB_OK;
	if (count < 0) {
		KB_ERROR("scan directory %s: %s", dir, strerror(errno));
		return KB_ERR_IO;
	}
	kb_buf_init(&found);
	for (int i = 0; i < count; i++) {
		if (rc == KB_OK && seg_parse_file_name(names[i]->d_name,
				PROD_SNAPSHOT_SUFFIX, &off) == KB_OK)
			rc = kb_buf_append(&found, &off, sizeof off);
		free(names[i]);
	}
	free(names);
	*offsets = (int64_t *)found.data;
	*n = found.len / sizeof off;
	return rc;
}

/* Keep the PROD_SNAPSHOTS_KEPT newest snapshots of dir. */
static void snapshot_prune(const char *dir)
{
	int64_t *offs;
	size_t n;
	if (snapshot_list(dir, &offs, &n) != KB_OK)
		return;
	for (size_t i = 0; i + PROD_SNAPSHOTS_KEPT < n; i++)
		snapshot_unlink(dir, offs[i]);
	free(offs);
}

static void snapshot_unlink(const char *dir, int64_t offset)
{
	char path[PROD_PATH_MAX];
	struct seg_file snap = {dir, offset, PROD_SNAPSHOT_SUFFIX};
	if (seg_file_name(path, sizeof path, snap) == KB_OK &&
	    unlink(path) != 0 && errno != ENOENT)
		KB_ERROR("unlink %s: %s", path, strerror(errno));
}

/* ---- Expiration ---- */

/* KAFKA: ProducerStateManager.removeExpiredProducers, by the max
 * timestamp of each producer's last batch. */
int prod_expire(struct prod_manager *pm, int64_t now_ms)
{
	int gone = 0;
	for (size_t i = 0; i < pm->nstates; i++) {
		struct prod_state *st = pm->states[i];
		for (size_t k = 0; k < st->n;) {
			if (now_ms - st->entries[k].last_timestamp <
			    pm->cfg.expiration_ms) {
				k++;
				continue;
			}
			st->entries[k] = st->entries[--st->n];
			gone++;
		}
	}
	prod_check(pm);
	return gone;
}

/* The timer's now_ms is the reactor's monotonic clock; batch timestamps
 * are wall clock, so expiration reads the wall clock itself. */
static void expire_tick(void *ctx, int64_t now_ms)
{
	(void)now_ms;
	prod_expire(ctx, kb_now_ms());
}

/* ---- Small helpers ---- */

static struct prod_entry *entry_lookup(struct prod_state *st, int64_t pid)
{
	for (size_t i = 0; i < st->n; i++)
		if (st->entries[i].producer_id == pid)
			return &st->entries[i];
	return NULL;
}

/* A new entry with no batches yet; NULL when out of memory. */
static struct prod_entry *entry_add(struct prod_state *st, int64_t pid)
{
	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 4;
		void *p = realloc(st->entries, cap * sizeof *st->entries);
		if (!p)
			return NULL;
		st->entries = p;
		st->cap = cap;
	}
	struct prod_entry *e = &st->entries[st->n++];
	*e = (struct prod_entry){.producer_id = pid, .epoch = PROD_NO_EPOCH,
				 .coordinator_epoch = -1,
				 .current_txn_first_offset = -1};
	return e;
}

/* KAFKA: DefaultRecordBatch.incrementSequence: sequences wrap from
 * INT32_MAX to 0 (n may be negative to step back). */
static int32_t seq_add(int32_t seq, int32_t n)
{
	int64_t s = ((int64_t)seq + n) % ((int64_t)INT32_MAX + 1);
	return (int32_t)(s < 0 ? s + INT32_MAX + 1 : s);
}

/* ---- Invariants ---- */

/* INVARIANTS 5 and 6, and the shape the checks of 1-3 rely on: each
 * producer once per partition, its window of 1..PROD_BATCH_WINDOW
 * batches in offset order, all below next_offset. Sequences are not
 * asserted: a compacted log may have lost whole batches. A failure is
 * our bug, never a client's: disk data is validated before it is used. */
void prod_check(const struct prod_manager *pm)
{
	prod_ids_check(&pm->ids); /* INVARIANT 6 */
	for (size_t i = 0; i < pm->nstates; i++) {
		const struct prod_state *st = pm->states[i];
		state_check(st);
		for (size_t k = 0; k < i; k++)
			assert(pm->states[k]->partition != st->partition ||
			       memcmp(pm->states[k]->topic_id.b, st->topic_id.b,
				      WIRE_UUID_LEN) != 0);
	}
}

/* One partition's state: the part prod_check runs after each append. */
static void state_check(const struct prod_state *st)
{
	assert(st->n <= st->cap);
	for (size_t i = 0; i < st->n; i++) {
		const struct prod_entry *e = &st->entries[i];
		assert(e->producer_id >= 0);
		assert(e->nbatches >= 1 && e->nbatches <= PROD_BATCH_WINDOW);
		for (int k = 0; k < e->nbatches; k++) {
			const struct prod_batch *b = &e->batches[k];
			assert(b->first_offset <= b->last_offset);
			assert(b->last_offset < st->next_offset); /* INVARIANT 5 */
			assert(k == 0 || b->first_offset > b[-1].last_offset);
		}
		for (size_t k = 0; k < i; k++)
			assert(st->entries[k].producer_id != e->producer_id);
	}
}

/* ---- Teardown ---- */

/* Two passes: every snapshot first, while all states are loaded, then
 * the frees. (One pass freed a state that the next snapshot's lookup
 * still read: issue 9's use-after-free at shutdown.) */
void prod_close(struct prod_manager *pm)
{
	if (!pm)
		return;
	prod_ids_fini(&pm->ids);
	topic_set_produce_check(pm->tm, NULL, NULL);
	topic_set_truncate_hook(pm->tm, NULL, NULL);
	topic_unsubscribe(pm->tm, prod_appended, pm);
	for (size_t i = 0; i < pm->nstates; i++) {
		struct prod_state *st = pm->states[i];
		struct topic *t = topic_find_by_id(pm->tm, &st->topic_id);
		if (t && st->partition < t->npartitions &&
		    prod_snapshot_write(pm, t->partitions[st->partition]) != KB_OK)
			KB_WARN("%s: no producer snapshot at shutdown",
				t->partitions[st->partition]->log->dir);
	}
	for (size_t i = 0; i < pm->nstates; i++) {
		free(pm->states[i]->entries);
		free(pm->states[i]);
	}
	free(pm->states);
	free(pm);
}
