/* SPDX-License-Identifier: MIT */
/*
 * Chapter 11 — producers, part 1: idempotence. The only surface later
 * chapters may use; the lesson is in 11_producers.c.
 *
 * Single-threaded: everything here is owned by the reactor of chapter 05.
 */
#ifndef SAMSA_PRODUCERS_H
#define SAMSA_PRODUCERS_H

#include "00_base.h"
#include "01_segment.h"
#include "05_server.h"
#include "06_topics.h"

/* ---- Kafka's numbers ---- */

/* KAFKA: ProducerStateEntry.NUM_BATCHES_TO_RETAIN: the last 5 batches of
 * each producer are remembered, as many as a producer may have in flight
 * (max.in.flight.requests.per.connection <= 5 with idempotence). */
#define PROD_BATCH_WINDOW 5
/* KAFKA: producer.id.expiration.ms default, 1 day. */
#define PROD_DEFAULT_EXPIRATION_MS 86400000LL
/* KAFKA: producer.id.expiration.check.interval.ms default, 10 minutes. */
#define PROD_DEFAULT_EXPIRATION_CHECK_MS 600000LL
/* KAFKA: ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE: ids reserved at a time. */
#define PROD_ID_BLOCK_SIZE 1000
/* The file in log.dirs holding the first id of the next block (text). */
#define PROD_ID_FILE "__samsa_producer_ids"
/* KAFKA: LogFileUtils.PRODUCER_SNAPSHOT_FILE_SUFFIX. */
#define PROD_SNAPSHOT_SUFFIX ".snapshot"
/* KAFKA: ProducerStateManager.ProducerSnapshotVersion. */
#define PROD_SNAPSHOT_VERSION 1
/* Snapshot layout: version int16 at 0, crc uint32 (CRC-32C of every byte
 * from PROD_SNAP_OFF_ENTRIES on) at 2, then the entries array: an int32
 * count and PROD_SNAP_ENTRY_BYTES per entry. */
#define PROD_SNAP_OFF_VERSION 0
#define PROD_SNAP_OFF_CRC 2
#define PROD_SNAP_OFF_ENTRIES 6
/* One entry: producer_id int64, epoch int16, last_sequence int32,
 * last_offset int64, offset_delta int32, timestamp int64,
 * coordinator_epoch int32, current_txn_first_offset int64. */
#define PROD_SNAP_ENTRY_BYTES 46
/* Snapshots kept per partition; older ones are deleted after a write. */
#define PROD_SNAPSHOTS_KEPT 2
/* KAFKA: RecordBatch.NO_PRODUCER_ID / NO_PRODUCER_EPOCH / NO_SEQUENCE. */
#define PROD_NO_PRODUCER_ID (-1LL)
#define PROD_NO_EPOCH (-1)
#define PROD_NO_SEQUENCE (-1)
/* InitProducerId versions served (v2+ flexible, v3+ carry id and epoch). */
#define PROD_INIT_MIN_VERSION 0
#define PROD_INIT_MAX_VERSION 4

/* ---- Configuration ---- */

/* The broker keys chapter 11 reads (KAFKA names in the comments). */
struct prod_config {
	int64_t expiration_ms;       /* producer.id.expiration.ms */
	int64_t expiration_check_ms; /* producer.id.expiration.check.interval.ms */
};

/* Kafka's defaults. */
void prod_config_defaults(struct prod_config *cfg);

/* ---- Producer state ---- */

/* One appended batch of a producer. KAFKA: BatchMetadata. */
struct prod_batch {
	int32_t first_seq;    /* base sequence */
	int32_t last_seq;     /* base sequence + last offset delta (wraps) */
	int64_t first_offset; /* where the log put its first record */
	int64_t last_offset;  /* and its last */
};

/* What one partition knows about one producer. KAFKA: ProducerStateEntry.
 * batches[0..nbatches) is oldest first; the last one holds the producer's
 * last sequence. */
struct prod_entry {
	int64_t producer_id;
	int16_t epoch;
	struct prod_batch batches[PROD_BATCH_WINDOW];
	int nbatches;
	int64_t last_timestamp; /* max timestamp of the last batch */
	/* Transactions (chapter 11, part 2) fill these two: the epoch of the
	 * coordinator that wrote the last marker, and the first offset of
	 * the open transaction. Here always -1: they are kept only so the
	 * snapshot has Kafka's layout. */
	int32_t coordinator_epoch;
	int64_t current_txn_first_offset;
};

/* The producer manager: InitProducerId, id blocks, the per-partition
 * producer states and their snapshots. Opaque. */
struct prod_manager;

/* ---- Lifecycle ---- */

/* Reserve ids, install chapter 06's hooks, register InitProducerId on
 * srv (may be NULL). borrows: tm, srv. returns owned *out (prod_close). */
int prod_open(struct topic_manager *tm, struct net_server *srv,
	      const struct prod_config *cfg, struct prod_manager **out);

/* Snapshot every loaded partition at its log end, then free; logs open. */
void prod_close(struct prod_manager *pm);

/* ---- Producer ids ---- */

/* An id never handed out before (KB_ERR_IO: the block file failed;
 * KB_ERR_AGAIN: with a source, the next block is asked for, not here). */
int prod_next_producer_id(struct prod_manager *pm, int64_t *out);

/* What a block source answers: error (KAFKA_ERR_*) or the block of len
 * ids from start. Called once per allocate that returned KB_OK. */
typedef void (*prod_id_block_fn)(void *done_ctx, int16_t error,
				 int64_t start, int32_t len);

/* Where blocks come from in a cluster (KAFKA: RPCProducerIdManager:
 * AllocateProducerIds to the active controller). allocate asks for one
 * block and returns KB_OK, then calls done (now or later, on the reactor
 * thread), or returns an error and never calls it. */
struct prod_id_source {
	int (*allocate)(void *ctx, prod_id_block_fn done, void *done_ctx);
	void *ctx; /* borrowed */
};

/* Take ids from src's blocks from now on (copied; NULL: the file again).
 * The block in hand is dropped: file ids are not the cluster's. */
void prod_set_id_source(struct prod_manager *pm,
			const struct prod_id_source *src);

/* ---- Producer state, per partition ---- */

/* tp's state for producer_id or NULL; valid until the next append. */
const struct prod_entry *prod_entry_find(struct prod_manager *pm,
					 struct topic_partition *tp,
					 int64_t producer_id);

/* Drop producers idle for producer.id.expiration.ms at now_ms (wall). */
int prod_expire(struct prod_manager *pm, int64_t now_ms);

/* Write tp's <log end>.snapshot; keep the PROD_SNAPSHOTS_KEPT newest. */
int prod_snapshot_write(struct prod_manager *pm, struct topic_partition *tp);

/* Assert 11_producers.c's invariants (aborts only on our own bug). */
void prod_check(const struct prod_manager *pm);

/* ---- Handler ---- */

/* InitProducerId (api key 22, v0-4); KB_ERR_PROTO for a bad body. */
int handle_init_producer_id(struct net_request *req,
			    struct net_response *resp);

#endif
