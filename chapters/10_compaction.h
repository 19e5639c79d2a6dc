/* SPDX-License-Identifier: MIT */
/*
 * Chapter 10 — compaction: the log cleaner for cleanup.policy=compact.
 * The only surface later chapters may use. The lesson is in four files,
 * a one-way stack: 10_offset_map.c, 10_swap.c, 10_compaction.c (one pass,
 * in bounded steps) and 10_cleaner.c (which log, and when); the rules of
 * each function are in its doc (docs/10_*.md). Single-threaded: a pass
 * runs on the reactor thread, one bounded step per timer tick.
 */
#ifndef SAMSA_COMPACTION_H
#define SAMSA_COMPACTION_H

#include "00_base.h"
#include "03_log.h"
#include "05_server.h"
#include "06_topics.h"

/* KAFKA: min.cleanable.dirty.ratio default 0.5. */
#define CLEAN_DEFAULT_MIN_DIRTY_RATIO 0.5
/* KAFKA: delete.retention.ms default 1 day. */
#define CLEAN_DEFAULT_DELETE_RETENTION_MS (24LL * 60 * 60 * 1000)
/* KAFKA: log.cleaner.dedupe.buffer.size default 128 MiB (the map). */
#define CLEAN_DEFAULT_MAP_BYTES (128ULL * 1024 * 1024)
/* KAFKA: log.cleaner.backoff.ms default 15 s (nothing dirty: sleep). */
#define CLEAN_DEFAULT_BACKOFF_MS 15000
/* Period of the cleaner's timer (ms): each tick is one step of a pass. */
#define CLEAN_TICK_MS 20
/* Work one step may do: bytes read, inflated or copied, plus 64 per
 * record scanned; about 2 ms of CPU, under the 10 ms background bound. */
#define CLEAN_STEP_WORK (1024 * 1024)

/* How one log is cleaned: its topic's configs (chapter 06). */
struct clean_config {
	double min_cleanable_dirty_ratio; /* min.cleanable.dirty.ratio */
	int64_t min_compaction_lag_ms;    /* min.compaction.lag.ms */
	int64_t delete_retention_ms;      /* delete.retention.ms */
	uint64_t map_max_bytes;           /* log.cleaner.dedupe.buffer.size */
};

/* Where a log's clean section ends, and the wall clock a pass judges by. */
struct clean_at {
	int64_t first_dirty; /* KAFKA: its cleaner-offset-checkpoint line */
	int64_t now_ms;
};

/* KAFKA: LogCleanerManager.cleanableOffsets: [log start, first_dirty)
 * clean, [first_dirty, first_uncleanable) dirty, the rest left alone.
 * Bytes count whole segments. */
struct clean_sections {
	int64_t first_dirty;       /* clamped to [log start, log end] */
	int64_t first_uncleanable; /* a segment base offset */
	uint64_t clean_bytes;
	uint64_t dirty_bytes;
	double dirty_ratio;        /* dirty / (clean + dirty); 0 when empty */
};

/* What a pass did (logged at its end, and read by tests). */
struct clean_stats {
	int32_t segments_mapped;    /* dirty segments read into the map */
	int32_t segments;           /* segments rewritten */
	int64_t records_read;
	int64_t records_kept;
	int64_t tombstones_removed;
	int64_t batches_kept_whole; /* control, another codec, > 64 MiB */
	uint64_t bytes_before;
	uint64_t bytes_after;
	uint64_t bytes_inflated;    /* gzip output, summed over steps */
	uint64_t work_max_step;     /* most work one step did */
};

/* The durable steps of replacing one segment, in order (10_swap.c). */
enum clean_swap_step {
	CLEAN_STEP_CLEANED_WRITTEN,  /* <base>.log.cleaned written, fsynced */
	CLEAN_STEP_SWAP_RENAMED,     /* renamed to <base>.log.swap, dir synced */
	CLEAN_STEP_INDEXES_UNLINKED, /* old .index and .timeindex unlinked */
	CLEAN_STEP_LOG_REPLACED,     /* .swap renamed over .log, dir synced */
	CLEAN_STEP_DONE              /* indexes rebuilt and fsynced */
};

/* Called after each step (tests end the process there to play a crash). */
typedef void (*clean_swap_hook_fn)(enum clean_swap_step step, void *ctx);
struct clean_hook {
	clean_swap_hook_fn fn; /* NULL: none */
	void *ctx;             /* borrowed */
};

/* ---- One cleaning pass, in steps (10_compaction.c) ---- */

/* A pass: its offset map and how far it has gone; offsets, never
 * pointers into the log. Opaque. */
struct clean_pass;

/* Kafka's defaults for every field of cfg (lag 0). */
void clean_config_defaults(struct clean_config *cfg);
/* Where log's sections lie for at. */
void clean_sections_find(const struct log *log, const struct clean_config *cfg,
			 struct clean_at at, struct clean_sections *out);
/* A pass if log is dirty enough, else KB_ERR_NOTFOUND. returns owned *out. */
int clean_pass_new(const struct log *log, const struct clean_config *cfg,
		   struct clean_at at, struct clean_pass **out);
/* At most CLEAN_STEP_WORK of mapping or rewriting; KB_ERR_AGAIN: drop it. */
int clean_pass_step(struct clean_pass *p, struct log *log, bool *done);
/* The mapped end (the next first dirty offset); -1 while mapping. */
int64_t clean_pass_end(const struct clean_pass *p);
/* What the pass did so far. valid until clean_pass_free. */
const struct clean_stats *clean_pass_stats(const struct clean_pass *p);
/* Run fn after each durable step of this pass's swaps. borrows: ctx. */
void clean_pass_set_swap_hook(struct clean_pass *p, clean_swap_hook_fn fn,
			      void *ctx);
/* Assert the pass's invariants; clean_pass_step runs it after each step. */
void clean_pass_check(const struct clean_pass *p);
/* Drop the pass (a half-written copy is removed) and free it. */
void clean_pass_free(struct clean_pass *p);
/* A whole pass at once (tests, tools); at->first_dirty moves to its end. */
int clean_log(struct log *log, const struct clean_config *cfg,
	      struct clean_at *at, struct clean_stats *st);

/* ---- The cleaner of a broker (10_cleaner.c) ---- */

/* The broker-wide cleaner settings (server.properties). */
struct clean_broker_config {
	bool enable;            /* log.cleaner.enable, true */
	int64_t backoff_ms;     /* log.cleaner.backoff.ms, 15000 */
	uint64_t map_max_bytes; /* log.cleaner.dedupe.buffer.size */
};

/* KAFKA: the metrics uncleanable-partitions-count and uncleanable-bytes. */
struct clean_uncleanable {
	int32_t partitions; /* marked after a pass failed on damaged data */
	uint64_t bytes;     /* their dirty sections, which stay uncleaned */
};

/* The log cleaner: one pass at a time over the compacted topics. */
struct cleaner;

/* Kafka's defaults for the log.cleaner.* settings. */
void clean_broker_config_defaults(struct clean_broker_config *cfg);
/* Timer on srv (NULL: tests tick). borrows: tm, srv. returns owned *out. */
int clean_open(struct topic_manager *tm, struct net_server *srv,
	       const struct clean_broker_config *cfg, struct cleaner **out);
/* One step of the pass in progress, or a scan for the dirtiest log. */
void clean_tick(struct cleaner *c, int64_t now_ms);
/* The partitions marked uncleanable that still exist, and their bytes. */
void clean_uncleanable(struct cleaner *c, int64_t now_ms,
		       struct clean_uncleanable *out);
/* Hand fn to every pass this cleaner starts (crash tests). borrows: ctx. */
void clean_set_swap_hook(struct cleaner *c, clean_swap_hook_fn fn, void *ctx);
/* Assert the cleaner's state rules; clean_tick runs it after each tick. */
void clean_check(const struct cleaner *c);
/* Drop the pass in progress (files stay consistent) and free. */
void clean_close(struct cleaner *c);

#endif
