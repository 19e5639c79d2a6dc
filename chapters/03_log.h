/* SPDX-License-Identifier: MIT */
/*
 * Chapter 03 — log: one partition's log, an ordered run of segments.
 * The only surface later chapters may use; the lesson is in 03_log.c
 * (with 03_checkpoints.c, 03_epochs.c, 03_recovery.c). One line per
 * function here; the full rules of each are in docs/03_*.md.
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

/* One append: a batch the caller validated, and the leader epoch and
 * wall clock it is appended under (KAFKA: UnifiedLog.appendAsLeader). */
struct log_append_req {
	uint8_t *batch;       /* borrowed; its baseOffset and epoch are set */
	size_t len;           /* exactly one whole batch */
	int32_t leader_epoch; /* stamped on it; -1: none */
	int64_t now_ms;       /* for segment.ms rolling */
};

/* What an append did. */
struct log_append_info {
	int64_t base_offset;    /* offset assigned to the first record */
	int64_t last_offset;    /* offset of the last record */
	uint64_t position;      /* byte position in the segment it went to */
	int64_t segment_base;   /* base offset of that segment */
};

/* One read and its limits (KAFKA: FetchParams, one partition's fetch). */
struct log_read_req {
	int64_t offset;     /* the first offset wanted */
	uint64_t max_bytes; /* stop before this many bytes... */
	int64_t max_offset; /* ...or a batch reaching this offset (exclusive) */
	bool min_one;       /* KIP-74: the first batch even past max_bytes */
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

/* ---- Lifecycle (03_recovery.c, 03_log.c) ---- */

/* Open (creating) dir's log, recovering per hint (NULL: crash). returns owned. */
int log_open(const char *dir, const struct log_config *cfg,
	     const struct log_recovery_hint *hint, struct log **out);
/* Flush everything, seal indexes, close and free. */
void log_close(struct log *log);
/* Close and remove the directory and every file in it (DeleteTopics). */
int log_delete(struct log *log);

/* ---- Core operations ---- */

/* The offset the next append will get (KAFKA: logEndOffset). */
int64_t log_end_offset(const struct log *log);
/* Give a validated batch its offset and epoch, roll if full, append, index. */
int log_append(struct log *log, const struct log_append_req *req,
	       struct log_append_info *info);
/* A leader's batch as it is: its offset (>= log end) and epoch kept. */
int log_append_as_follower(struct log *log, const uint8_t *batch, size_t len,
			   int64_t now_ms, struct log_append_info *info);
/* Whole batches from req's offset's batch, within its limits. */
int log_read(const struct log *log, const struct log_read_req *req,
	     struct log_read_result *out);
/* The first offset with timestamp >= ts; KB_ERR_NOTFOUND if all older. */
int log_offset_for_timestamp(const struct log *log, int64_t ts,
			     int64_t *offset, int64_t *found_ts);
/* The record with the largest timestamp (ListOffsets -3). */
int log_max_timestamp(const struct log *log, int64_t *offset, int64_t *ts);

/* ---- Truncation, deletion, retention, replacing ---- */

/* Remove every record at offset >= offset (a follower's truncation). */
int log_truncate_to(struct log *log, int64_t offset);
/* Empty the log and start it again at offset (a follower far behind). */
int log_reset_at(struct log *log, int64_t offset);
/* DeleteRecords: move log_start_offset up, delete segments wholly below. */
int log_advance_start_offset(struct log *log, int64_t offset);
/* Delete old segments by retention.ms/.bytes; *deleted counts them. */
int log_apply_retention(struct log *log, int64_t now_ms, int *deleted);
/* Delete segs[i], emptied by the cleaner (never the first or active one). */
int log_drop_empty_segment(struct log *log, size_t i);
/* Reopen sealed segs[i] after its file was replaced (chapter 10's swap). */
int log_replace_segment(struct log *log, size_t i);
/* Assert Invariants 1-4 and 7 of 03_log.c (compiled out with NDEBUG). */
void log_check(const struct log *log);

/* ---- Durability ---- */

/* fsync every unflushed segment; recovery_point = log end offset. */
int log_flush(struct log *log);
/* Flush if flush.messages or flush.ms asks for it. */
int log_maybe_flush(struct log *log, int64_t now_ms);
/* Whether log_maybe_flush would fsync now. */
bool log_flush_due(const struct log *log, int64_t now_ms);

/* ---- Leader epochs (03_epochs.c) ---- */

/* Epoch starts at start_offset (LeaderEpochFileCache.assign); file rewritten. */
int log_epoch_assign(struct log *log, int32_t epoch, int64_t start_offset);
/* OffsetForLeaderEpoch: the largest known epoch <= epoch and its end. */
int log_epoch_end_offset(const struct log *log, int32_t epoch,
			 int32_t *found_epoch, int64_t *end_offset);
/* Offsets >= offset are gone: drop the epochs starting there or later. */
int log_epoch_truncate_end(struct log *log, int64_t offset);
/* The log now starts at offset: fold the epochs at or before it. */
int log_epoch_truncate_start(struct log *log, int64_t offset);

#endif
