/* SPDX-License-Identifier: MIT */
/*
 * Chapter 03 — log: one partition's log, an ordered run of segments.
 * The only surface later chapters may use; the lesson is in 03_log.c.
 */
#ifndef SAMSA_LOG_H
#define SAMSA_LOG_H

#include "00_base.h"
#include "01_segment.h"
#include "02_index.h"
#include "03_checkpoints.h"

/* KAFKA defaults: retention.ms 7 days, retention.bytes -1 (no limit),
 * flush.messages and flush.ms Long.MAX_VALUE (leave it to the OS). */
#define LOG_DEFAULT_RETENTION_MS (7LL * 24 * 60 * 60 * 1000)
#define LOG_NO_LIMIT INT64_MAX

/* Per-log configuration, with Kafka's topic-level names. */
struct log_config {
	int64_t segment_bytes;       /* segment.bytes */
	int64_t segment_ms;          /* segment.ms */
	int64_t segment_index_bytes; /* segment.index.bytes */
	int32_t index_interval_bytes;/* index.interval.bytes */
	int64_t retention_ms;        /* retention.ms; -1 = keep forever */
	int64_t retention_bytes;     /* retention.bytes; -1 = no limit */
	int64_t flush_messages;      /* flush.messages */
	int64_t flush_ms;            /* flush.ms */
};

/* Kafka's defaults for every field above. */
void log_config_defaults(struct log_config *cfg);

/* One segment of the log with its two indexes. */
struct log_segment {
	struct segment *seg; /* owned */
	struct idx_set idx;  /* owned */
};

/* How the log was closed last time, from the log directory's checkpoint
 * files (03_checkpoints.h: log_checkpoint_read, log_dir_take_clean_mark). */
struct log_recovery_hint {
	int64_t recovery_point; /* offsets below it were fsynced; 0 if unknown */
	bool clean_shutdown;    /* closed by log_close after a full flush */
	int64_t log_start_offset; /* log-start-offset-checkpoint; 0 if unknown */
};

/* One partition's log, in <log.dir>/<topic>-<partition>/.
 * Single-threaded: owned by the reactor, like everything in a broker. */
struct log {
	char *dir;                  /* owned */
	struct log_config cfg;
	struct log_segment *segs;   /* owned: sorted by base offset; last is active */
	size_t nsegs, cap;
	int64_t log_start_offset;   /* first offset a reader may ask for */
	int64_t recovery_point;     /* everything below is fsynced */
	int64_t unflushed_messages; /* appended since the last flush */
	int64_t last_flush_ms;      /* wall clock of the last flush */
	struct log_epoch *epochs;   /* owned: sorted, ascending epoch and offset */
	size_t nepochs;
	uint64_t recovered_bytes;   /* bytes scanned by recovery at open */
};

/* What an append did. */
struct log_append_info {
	int64_t base_offset;    /* offset assigned to the first record */
	int64_t last_offset;    /* offset of the last record */
	uint64_t position;      /* byte position in the segment it went to */
	int64_t segment_base;   /* base offset of that segment */
};

/* A read: a byte range of one segment file holding whole batches, ready
 * for sendfile(2) or pread. seg is borrowed: valid until the next append,
 * truncation or retention on this log. */
struct log_read_result {
	const struct segment *seg;
	uint64_t position;
	uint64_t length;        /* 0 when there is nothing to return */
	int64_t first_offset;   /* base offset of the first batch returned */
	int64_t next_offset;    /* offset after the last batch returned */
};

/* ---- Lifecycle ---- */

/* Open (creating if missing) the log in dir. Loads segments, drops
 * orphan files, recovers: with hint->clean_shutdown, nothing is rescanned
 * but the active segment's tail after its last index entry; otherwise
 * every segment that may hold offsets >= recovery_point is validated,
 * its torn tail cut, its indexes rebuilt. hint may be NULL (= crash,
 * recovery point 0). returns owned *out (log_close). */
int log_open(const char *dir, const struct log_config *cfg,
	     const struct log_recovery_hint *hint, struct log **out);

/* Flush everything, seal indexes, close and free. */
void log_close(struct log *log);

/* Close and remove the directory and every file in it (DeleteTopics). */
int log_delete(struct log *log);

/* ---- Core operations ---- */

/* The offset the next append will get (KAFKA: logEndOffset). */
int64_t log_end_offset(const struct log *log);

/* Append one batch that seg_batch_validate accepted. Assigns the base
 * offset (rewrites bytes 0..8 of batch in place, the CRC does not cover
 * them) and the partition leader epoch, rolls a new segment first if the
 * active one is full, and indexes. It does not fsync: call
 * log_maybe_flush after one append or after several (a broker groups the
 * appends of pipelined requests under one fsync). */
int log_append(struct log *log, uint8_t *batch, size_t len,
	       int32_t leader_epoch, int64_t now_ms,
	       struct log_append_info *info);

/* Read whole batches starting with the batch that contains offset, up to
 * max_bytes, never past max_offset (exclusive; INT64_MAX for the log end).
 * If the first batch alone is larger than max_bytes it is returned whole
 * when min_one (KAFKA: KIP-74), else nothing. KB_ERR_RANGE when offset is
 * below log_start_offset or above the log end offset. */
int log_read(const struct log *log, int64_t offset, uint64_t max_bytes,
	     int64_t max_offset, bool min_one, struct log_read_result *out);

/* The first offset whose record timestamp is >= ts (KAFKA: ListOffsets by
 * timestamp). KB_ERR_NOTFOUND when every record is older. */
int log_offset_for_timestamp(const struct log *log, int64_t ts,
			     int64_t *offset, int64_t *found_ts);

/* The offset and timestamp of the record with the largest timestamp
 * (KAFKA: ListOffsets MAX_TIMESTAMP, -3). KB_ERR_NOTFOUND when empty. */
int log_max_timestamp(const struct log *log, int64_t *offset, int64_t *ts);

/* ---- Truncation, deletion, retention ---- */

/* Remove every record at offset >= offset (a follower truncating to the
 * leader). Later segments are deleted, the one holding offset is cut at a
 * batch boundary, indexes and the epoch cache follow. */
int log_truncate_to(struct log *log, int64_t offset);

/* Move log_start_offset up to offset (DeleteRecords) and delete segments
 * that lie wholly below it. KB_ERR_RANGE if offset > log end offset. */
int log_advance_start_offset(struct log *log, int64_t offset);

/* Delete whole non-active segments past retention.ms (by their largest
 * timestamp) or beyond retention.bytes (oldest first). *deleted counts
 * them. Moves log_start_offset to the new first segment's base offset. */
int log_apply_retention(struct log *log, int64_t now_ms, int *deleted);

/* Delete segs[i], a segment that holds no batch (the cleaner of chapter
 * 10 emptied it), so compacted logs do not pile up empty files. Never the
 * first segment (it anchors the log start offset) nor the active one:
 * KB_ERR_INVAL, as for a segment that is not empty. Its offsets become a
 * gap, which reads step over. */
int log_drop_empty_segment(struct log *log, size_t i);

/* segs[i]'s file (never the active one's) was replaced on disk by one
 * holding some of its batches (chapter 10's swap): reopen it, rebuild
 * its indexes, keep its next offset. On error segs[i] is unchanged. */
int log_replace_segment(struct log *log, size_t i);
/* Assert Invariants 1-4 of 03_log.c (compiled out with NDEBUG). */
void log_check(const struct log *log);

/* ---- Durability ---- */

/* fsync every segment with unflushed appends; the recovery point becomes
 * the log end offset. */
int log_flush(struct log *log);

/* Flush if the flush policy asks for it: flush.messages appended since
 * the last flush, or flush.ms passed (a timer checks that one). */
int log_maybe_flush(struct log *log, int64_t now_ms);

/* Whether log_maybe_flush would fsync now. */
bool log_flush_due(const struct log *log, int64_t now_ms);

/* ---- Leader epochs (03_epochs.c) ---- */

/* Record that epoch starts at start_offset and rewrite
 * leader-epoch-checkpoint. A no-op when epoch is the latest and start_offset
 * is not earlier; otherwise entries that would break the ascending order
 * are dropped first (KAFKA: LeaderEpochFileCache.assign). */
int log_epoch_assign(struct log *log, int32_t epoch, int64_t start_offset);

/* KAFKA: OffsetForLeaderEpoch (LeaderEpochFileCache.endOffsetFor): the
 * largest epoch <= epoch we know, and the offset where it ended (the next
 * epoch's start, or the log end offset for the latest epoch). An epoch older
 * than any known gives (epoch, start of the first known epoch), as Kafka.
 * KB_ERR_NOTFOUND (epoch -1, offset -1) for epoch -1, an empty cache, or an
 * epoch newer than the latest. */
int log_epoch_end_offset(const struct log *log, int32_t epoch,
			 int32_t *found_epoch, int64_t *end_offset);

/* The log lost every offset >= offset: drop the epochs starting there or
 * later, and rewrite the file if any went (KAFKA: truncateFromEnd).
 * log_truncate_to and log_open call it. */
int log_epoch_truncate_end(struct log *log, int64_t offset);

/* The log now starts at offset: the epochs starting at or before it fold
 * into the latest of them, which then starts at offset (KAFKA:
 * truncateFromStart). Retention and log_advance_start_offset call it. */
int log_epoch_truncate_start(struct log *log, int64_t offset);

#endif
