/* SPDX-License-Identifier: MIT */
/*
 * Chapter 10 — compaction: the log cleaner for cleanup.policy=compact.
 * The only surface later chapters may use. The lesson is in four files,
 * a one-way stack: 10_offset_map.c (key -> latest offset), 10_swap.c
 * (putting a rewritten segment in place), 10_compaction.c (one pass, in
 * bounded steps) and 10_cleaner.c (which log, and when).
 *
 * Single-threaded: a pass runs on the reactor thread, one bounded step
 * per timer tick, and touches a log only between requests.
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
/* KAFKA: log.cleaner.dedupe.buffer.size default 128 MiB: the offset map's
 * memory. A pass maps whole dirty segments until it is used up. */
#define CLEAN_DEFAULT_MAP_BYTES (128ULL * 1024 * 1024)
/* KAFKA: log.cleaner.backoff.ms default 15 s: the sleep when no log is
 * dirty enough. */
#define CLEAN_DEFAULT_BACKOFF_MS 15000
/* Period of the cleaner's timer (ms): each tick is one step of a pass. */
#define CLEAN_TICK_MS 20
/* The work one step may do: bytes read, inflated or copied, plus 64 per
 * record scanned. About 2 ms of CPU, well under the 10 ms a reactor turn
 * may be held by background work. */
#define CLEAN_STEP_WORK (1024 * 1024)

/* How one log is cleaned: its topic's configs (chapter 06). */
struct clean_config {
	double min_cleanable_dirty_ratio; /* min.cleanable.dirty.ratio */
	int64_t min_compaction_lag_ms;    /* min.compaction.lag.ms */
	int64_t delete_retention_ms;      /* delete.retention.ms */
	uint64_t map_max_bytes;           /* log.cleaner.dedupe.buffer.size */
};

/* Kafka's defaults for every field above (lag 0). */
void clean_config_defaults(struct clean_config *cfg);

/* The three sections of a log as the cleaner sees it (KAFKA:
 * LogCleanerManager.cleanableOffsets and LogToClean): [log start,
 * first_dirty) was cleaned before, [first_dirty, first_uncleanable) is
 * dirty and cleanable, the rest (the active segment, and segments younger
 * than min.compaction.lag.ms) is left alone. Bytes count whole segments. */
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
	int64_t batches_kept_whole; /* control, a codec we cannot read, or
				     * inflating past 64 MiB */
	uint64_t bytes_before;
	uint64_t bytes_after;
	uint64_t bytes_inflated;    /* gzip output, summed over steps */
	uint64_t work_max_step;     /* most work one step did */
};

/* Where log's sections lie for first_dirty at now_ms. */
void clean_sections_find(const struct log *log, const struct clean_config *cfg,
			 int64_t first_dirty, int64_t now_ms,
			 struct clean_sections *out);

/* ---- The swap, step by step (crash tests) ---- */

/* The durable steps of replacing one segment, in order. */
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

/* ---- One cleaning pass, in steps ---- */

/* A pass: the offset map of the dirty section and how far the rewrite has
 * gone. It keeps offsets, never pointers into the log. Opaque. */
struct clean_pass;

/* Start a pass over log if its dirty ratio is at least
 * min.cleanable.dirty.ratio; the first steps build the offset map of the
 * dirty section (whole segments, up to map_max_bytes). KB_ERR_NOTFOUND
 * when nothing is due. returns owned *out (clean_pass_free). */
int clean_pass_new(const struct log *log, const struct clean_config *cfg,
		   int64_t first_dirty, int64_t now_ms, struct clean_pass **out);

/* One step of at most CLEAN_STEP_WORK work: map, or once the map is built
 * rewrite (crash-safe swap); *done when every segment below the mapped
 * end is clean. KB_ERR_AGAIN when the log was cut below what was mapped:
 * drop the pass. KB_ERR_CORRUPT: a batch is damaged. */
int clean_pass_step(struct clean_pass *p, struct log *log, bool *done);

/* Where the mapped range ends, the partition's first dirty offset once
 * the pass is done; -1 while the map is still being built. */
int64_t clean_pass_end(const struct clean_pass *p);
/* What the pass did so far. valid until clean_pass_free. */
const struct clean_stats *clean_pass_stats(const struct clean_pass *p);
void clean_pass_free(struct clean_pass *p);
/* Run fn after each durable step of this pass's swaps. borrows: ctx. */
void clean_pass_set_swap_hook(struct clean_pass *p, clean_swap_hook_fn fn,
			      void *ctx);
/* Assert the pass's invariants (10_compaction.c); run after each step. */
void clean_pass_check(const struct clean_pass *p);

/* A whole pass at once (tests, tools): new, steps until done, free.
 * *first_dirty moves to the pass's end. KB_ERR_NOTFOUND when nothing was
 * due. st may be NULL. */
int clean_log(struct log *log, const struct clean_config *cfg,
	      int64_t *first_dirty, int64_t now_ms, struct clean_stats *st);

/* ---- The cleaner of a broker ---- */

/* The broker-wide cleaner settings (server.properties). */
struct clean_broker_config {
	bool enable;            /* log.cleaner.enable, true */
	int64_t backoff_ms;     /* log.cleaner.backoff.ms, 15000 */
	uint64_t map_max_bytes; /* log.cleaner.dedupe.buffer.size */
};

void clean_broker_config_defaults(struct clean_broker_config *cfg);

/* The log cleaner: one pass at a time over the compacted topics. */
struct cleaner;

/* Register the cleaner's timer (net_every, CLEAN_TICK_MS) on srv; srv may
 * be NULL (tests call clean_tick). borrows: tm, srv (must outlive it).
 * returns owned *out (clean_close). */
int clean_open(struct topic_manager *tm, struct net_server *srv,
	       const struct clean_broker_config *cfg, struct cleaner **out);

/* One tick (now_ms: wall clock): one step of the pass in progress (map
 * or rewrite one segment), or, after the backoff, start a pass on the
 * dirtiest compacted partition. */
void clean_tick(struct cleaner *c, int64_t now_ms);

/* KAFKA: the metrics uncleanable-partitions-count and uncleanable-bytes. */
struct clean_uncleanable {
	int32_t partitions; /* marked after a pass failed on damaged data */
	uint64_t bytes;     /* their dirty sections, which stay uncleaned */
};
void clean_uncleanable(struct cleaner *c, int64_t now_ms,
		       struct clean_uncleanable *out);
/* Hand fn to every pass this cleaner starts (crash tests). borrows: ctx. */
void clean_set_swap_hook(struct cleaner *c, clean_swap_hook_fn fn, void *ctx);

/* Drop the pass in progress (files on disk stay consistent) and free. */
void clean_close(struct cleaner *c);

#endif
