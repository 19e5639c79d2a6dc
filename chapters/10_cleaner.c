/* SPDX-License-Identifier: MIT */
/*
 * Chapter 10 — compaction, part 4: the cleaner of a broker.
 *
 * Concept:
 *   A pass (10_compaction.c) cleans one log when told to. A broker must
 *   decide which compacted partition to clean and when, and remember
 *   where each one's dirty section starts: the log cleaner, a timer on
 *   the reactor. Each CLEAN_TICK_MS tick takes one bounded step of the
 *   pass in progress or, after the backoff, starts a pass on the dirtiest
 *   partition. A partition whose data is damaged is marked uncleanable,
 *   so it cannot stop the cleaning of every other one.
 *
 * Kafka:
 *   LogCleaner, CleanerThread, LogCleanerManager (grabFilthiestCompacted-
 *   Log, markPartitionUncleanable, uncleanable-partitions-count,
 *   uncleanable-bytes); log.cleaner.enable, log.cleaner.backoff.ms,
 *   log.cleaner.dedupe.buffer.size.
 *
 * Interface:
 *   - clean_open once (registers the timer unless log.cleaner.enable is
 *     false); clean_close after net_server_free.
 *   - clean_tick is what the timer runs, with the wall clock; tests open
 *     the cleaner with no server and call it themselves.
 *   - A topic's configs are read when a pass starts.
 *   Single-threaded: everything runs on the reactor thread.
 *
 * States (struct cleaner; clean_check asserts their rules each tick),
 * and the function of each transition:
 *   - idle -> passing: clean_start (after next_scan_ms, clean_dirtiest).
 *   - idle -> idle: clean_start finds nothing due; backs off.
 *   - passing -> passing: clean_continue, one step per tick.
 *   - passing -> idle: clean_pass_ended: done (mark moves to
 *     clean_pass_end), dropped (log cut or topic gone: back off), or
 *     damaged data (mark uncleanable, said once; scan at the next tick).
 *
 * Simplifications: one cleaner on the reactor, not log.cleaner.threads;
 *   first dirty offsets in memory, not cleaner-offset-checkpoint;
 *   max.compaction.lag.ms not enforced (docs/10_cleaner.md).
 *
 * See also: docs/10_cleaner.md, diagrams/10_cleaner.dot,
 *   tests/10_compaction_test.c; read before: 10_offset_map.c, 10_swap.c,
 *   10_compaction.c.
 *   Uses chapters 00 (base), 03 (log), 05 (server), 06 (topics).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "00_base.h"
#include "03_log.h"
#include "05_server.h"
#include "06_topics.h"
#include "10_compaction.h"

/* Where one partition's dirty section starts (KAFKA: one line of
 * cleaner-offset-checkpoint). */
struct clean_mark {
	char topic[TOPIC_NAME_MAX + 1];
	struct wire_uuid topic_id; /* a topic made again under the name is new */
	int32_t partition;
	int64_t first_dirty;
	bool uncleanable; /* a pass failed on damaged data: never picked */
};

/* KAFKA: LogCleaner with one CleanerThread, run as a timer. A pass names
 * its partition, never holds it: a topic deleted between two ticks is
 * simply not found at the next one. */
struct cleaner {
	struct topic_manager *tm;        /* borrowed: outlives the cleaner */
	struct clean_broker_config cfg;
	struct clean_mark *marks;        /* owned: nmarks of cap */
	size_t nmarks, cap;
	struct clean_pass *pass;         /* owned: in progress, or NULL */
	struct clean_mark pass_of;       /* the partition the pass cleans */
	int64_t next_scan_ms;            /* when to look for a dirty log */
	struct clean_hook hook;          /* handed to every pass (tests) */
};

/* ---- Prototypes of the static helpers, in reading order ---- */

static void clean_timer(void *ctx, int64_t mono_ms);
static void clean_continue(struct cleaner *c, int64_t now_ms);
static void clean_pass_ended(struct cleaner *c, struct topic_partition *tp,
			     int rc, int64_t now_ms);
static void clean_start(struct cleaner *c, int64_t now_ms);
static struct topic_partition *clean_dirtiest(struct cleaner *c,
					      int64_t now_ms, double *ratio);
static struct clean_mark *clean_mark_find(struct cleaner *c,
					  const struct topic *t,
					  int32_t partition);
static void clean_topic_config(const struct cleaner *c, const struct topic *t,
			       struct clean_config *out);

/* ---- Lifecycle ---- */

/* Kafka's defaults for the log.cleaner.* settings. */
void clean_broker_config_defaults(struct clean_broker_config *cfg)
{
	cfg->enable = true;
	cfg->backoff_ms = CLEAN_DEFAULT_BACKOFF_MS;
	cfg->map_max_bytes = CLEAN_DEFAULT_MAP_BYTES;
}

/* The timer is the cleaner's only link to the server: no timer, no
 * cleaning (log.cleaner.enable=false, or tests with srv NULL). */
int clean_open(struct topic_manager *tm, struct net_server *srv,
	       const struct clean_broker_config *cfg, struct cleaner **out)
{
	struct cleaner *c = calloc(1, sizeof *c);
	*out = NULL;
	if (!c)
		return KB_ERR_NOMEM;
	c->tm = tm;
	c->cfg = *cfg;
	int rc = srv && cfg->enable
		? net_every(srv, CLEAN_TICK_MS,
			    (struct net_callback){clean_timer, c})
		: KB_OK;
	if (rc != KB_OK) {
		free(c);
		return rc;
	}
	*out = c;
	return KB_OK;
}

/* ---- One tick ---- */

/* The timer's clock is monotonic; ages compare with record timestamps,
 * which are wall clock. */
static void clean_timer(void *ctx, int64_t mono_ms)
{
	(void)mono_ms;
	clean_tick(ctx, kb_now_ms());
}

/* One step of the pass in progress (10_compaction.c, INVARIANT 5), or
 * a scan for a log to clean. */
void clean_tick(struct cleaner *c, int64_t now_ms)
{
	if (c->pass)
		clean_continue(c, now_ms);
	else if (now_ms >= c->next_scan_ms)
		clean_start(c, now_ms);
	clean_check(c);
}

/* One step of the pass in progress; at its end the partition's mark moves
 * to the mapped end and the pass is logged. A dropped pass (the log was
 * cut, a batch is corrupt) waits log.cleaner.backoff.ms to be retried. */
static void clean_continue(struct cleaner *c, int64_t now_ms)
{
	struct clean_mark *m = &c->pass_of;
	struct topic_partition *tp =
		topic_partition_find(c->tm, m->topic, m->partition);
	if (tp && memcmp(&tp->topic->id, &m->topic_id, sizeof m->topic_id))
		tp = NULL; /* deleted and made again: not the log we mapped */
	bool done = false;
	int rc = tp && tp->topic->cfg.cleanup_compact
		? clean_pass_step(c->pass, tp->log, &done) : KB_ERR_AGAIN;
	if (rc == KB_OK && !done)
		return;
	clean_pass_ended(c, tp, rc, now_ms);
	clean_pass_free(c->pass);
	c->pass = NULL;
}

/* The pass is over: done (the mark moves to its end), dropped because
 * the log changed under it (back off, retry later), or failed on damaged
 * data. KAFKA: LogCleanerManager.markPartitionUncleanable: that partition
 * is never picked again, said once, and the others go on at the next
 * tick (uncleanable-partitions-count, uncleanable-bytes). */
static void clean_pass_ended(struct cleaner *c, struct topic_partition *tp,
			     int rc, int64_t now_ms)
{
	const struct clean_mark *m = &c->pass_of;
	const struct clean_stats *st = clean_pass_stats(c->pass);
	struct clean_mark *mark = tp ? clean_mark_find(c, tp->topic,
							m->partition) : NULL;
	if (rc == KB_OK && mark)
		mark->first_dirty = clean_pass_end(c->pass);
	if (rc == KB_OK)
		KB_INFO("cleaner: cleaned %s-%d below offset %" PRId64
			": %d segments, %" PRIu64 " -> %" PRIu64 " bytes, %"
			PRId64 " of %" PRId64 " records kept, %" PRId64
			" tombstones removed, %" PRId64 " batches kept whole",
			m->topic, m->partition, clean_pass_end(c->pass),
			st->segments, st->bytes_before, st->bytes_after,
			st->records_kept, st->records_read,
			st->tombstones_removed, st->batches_kept_whole);
	else if (mark && (rc == KB_ERR_CORRUPT || rc == KB_ERR_IO)) {
		KB_ERROR("cleaner: %s-%d marked uncleanable: %s; other "
			 "partitions are cleaned, this one no more until it "
			 "is deleted", m->topic, m->partition,
			 kb_status_name(rc));
		mark->uncleanable = true;
	} else {
		KB_WARN("cleaner: pass over %s-%d dropped: %s", m->topic,
			m->partition, kb_status_name(rc));
		c->next_scan_ms = now_ms + c->cfg.backoff_ms;
	}
}

/* Start a pass on the dirtiest partition; with none due, sleep
 * log.cleaner.backoff.ms. */
static void clean_start(struct cleaner *c, int64_t now_ms)
{
	double ratio;
	struct topic_partition *tp = clean_dirtiest(c, now_ms, &ratio);
	struct clean_config cc;
	if (tp) {
		clean_topic_config(c, tp->topic, &cc);
		struct clean_at at = {c->pass_of.first_dirty, now_ms};
		if (clean_pass_new(tp->log, &cc, at, &c->pass) == KB_OK) {
			clean_pass_set_swap_hook(c->pass, c->hook.fn,
						 c->hook.ctx);
			KB_INFO("cleaner: cleaning %s-%d from offset %"
				PRId64 ", dirty ratio %.2f", tp->topic->name,
				tp->index, c->pass_of.first_dirty, ratio);
			return;
		}
	}
	c->next_scan_ms = now_ms + c->cfg.backoff_ms;
}

/* ---- Choosing a log ---- */

/* KAFKA: LogCleanerManager.grabFilthiestCompactedLog: of every partition
 * of a compacted topic, the one with the highest dirty ratio that passes
 * its min.cleanable.dirty.ratio, named in c->pass_of; NULL if none. */
static struct topic_partition *clean_dirtiest(struct cleaner *c,
					      int64_t now_ms, double *ratio)
{
	struct topic_partition *best = NULL;
	*ratio = 0;
	for (size_t i = 0; i < topic_count(c->tm); i++) {
		struct topic *t = topic_at(c->tm, i);
		struct clean_config cc;
		clean_topic_config(c, t, &cc);
		for (int32_t p = 0; t->cfg.cleanup_compact &&
				    p < t->npartitions; p++) {
			struct clean_mark *m = clean_mark_find(c, t, p);
			struct clean_sections s;
			if (!m || m->uncleanable)
				continue;
			struct clean_at at = {m->first_dirty, now_ms};
			clean_sections_find(t->partitions[p]->log, &cc, at, &s);
			bool due = s.dirty_bytes > 0 &&
				s.dirty_ratio >= cc.min_cleanable_dirty_ratio;
			if (due && (!best || s.dirty_ratio > *ratio)) {
				best = t->partitions[p];
				*ratio = s.dirty_ratio;
				c->pass_of = *m;
			}
		}
	}
	return best;
}

/* The mark of a partition, made (first dirty offset 0) when missing or
 * when its topic was deleted and made again under the same name;
 * NULL only when out of memory. */
static struct clean_mark *clean_mark_find(struct cleaner *c,
					  const struct topic *t,
					  int32_t partition)
{
	for (size_t i = 0; i < c->nmarks; i++) {
		struct clean_mark *m = &c->marks[i];
		if (m->partition != partition || strcmp(m->topic, t->name))
			continue;
		if (memcmp(&m->topic_id, &t->id, sizeof t->id)) {
			m->topic_id = t->id; /* a new topic: all of it is dirty */
			m->first_dirty = 0;
			m->uncleanable = false;
		}
		return m;
	}
	if (c->nmarks == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct clean_mark *m = realloc(c->marks, cap * sizeof *m);
		if (!m)
			return NULL;
		c->marks = m;
		c->cap = cap;
	}
	struct clean_mark *m = &c->marks[c->nmarks++];
	snprintf(m->topic, sizeof m->topic, "%s", t->name);
	m->topic_id = t->id;
	m->partition = partition;
	m->first_dirty = 0;
	m->uncleanable = false;
	return m;
}

/* The topic's cleaning configs (chapter 06) and the broker's map size. */
static void clean_topic_config(const struct cleaner *c, const struct topic *t,
			       struct clean_config *out)
{
	out->min_cleanable_dirty_ratio = t->cfg.min_cleanable_dirty_ratio;
	out->min_compaction_lag_ms = t->cfg.min_compaction_lag_ms;
	out->delete_retention_ms = t->cfg.delete_retention_ms;
	out->map_max_bytes = c->cfg.map_max_bytes;
}

/* ---- What the cleaner reports ---- */

/* KAFKA: the uncleanable-partitions-count and uncleanable-bytes metrics:
 * the partitions marked uncleanable that still exist, and the bytes of
 * their dirty sections, which no pass will clean. */
void clean_uncleanable(struct cleaner *c, int64_t now_ms,
		       struct clean_uncleanable *out)
{
	*out = (struct clean_uncleanable){0, 0};
	for (size_t i = 0; i < c->nmarks; i++) {
		const struct clean_mark *m = &c->marks[i];
		struct topic_partition *tp =
			topic_partition_find(c->tm, m->topic, m->partition);
		if (!m->uncleanable || !tp ||
		    memcmp(&tp->topic->id, &m->topic_id, sizeof m->topic_id))
			continue;
		struct clean_config cc;
		struct clean_sections s;
		clean_topic_config(c, tp->topic, &cc);
		struct clean_at at = {m->first_dirty, now_ms};
		clean_sections_find(tp->log, &cc, at, &s);
		out->partitions++;
		out->bytes += s.dirty_bytes;
	}
}

/* Every pass this cleaner starts runs fn after each durable swap step. */
void clean_set_swap_hook(struct cleaner *c, clean_swap_hook_fn fn, void *ctx)
{
	c->hook = (struct clean_hook){fn, ctx};
}

/* ---- Checking the states ---- */

/* The states' rules, asserted after every tick: the marks array is
 * within its capacity and every first dirty offset is an offset; a pass
 * in progress names a partition. With -DSAMSA_CHECK_EXPENSIVE also: no
 * partition has two marks (O(marks^2)). */
void clean_check(const struct cleaner *c)
{
	assert(c->nmarks <= c->cap && (c->cap == 0 || c->marks));
	assert(!c->pass || (c->pass_of.topic[0] && c->pass_of.partition >= 0));
	for (size_t i = 0; i < c->nmarks; i++) {
		assert(c->marks[i].first_dirty >= 0);
#ifdef SAMSA_CHECK_EXPENSIVE
		for (size_t j = i + 1; j < c->nmarks; j++)
			assert(c->marks[i].partition != c->marks[j].partition ||
			       strcmp(c->marks[i].topic, c->marks[j].topic));
#endif
	}
	if (c->pass)
		clean_pass_check(c->pass);
}

/* ---- Teardown ---- */

/* A pass in progress is dropped between two steps: the files it left
 * are whole (10_swap.c). */
void clean_close(struct cleaner *c)
{
	if (!c)
		return;
	clean_pass_free(c->pass);
	free(c->marks);
	free(c);
}
