/* SPDX-License-Identifier: MIT */
/*
 * Chapter 10 — compaction, part 3: the cleaner of a broker.
 *
 * Concept:
 *   A pass (10_compaction.c) cleans one log when it is told to. A broker
 *   holds many partitions, so something must decide which one to clean
 *   and when, and remember where each one's dirty section starts. That
 *   is the log cleaner: a timer on the reactor. Every CLEAN_TICK_MS it
 *   either takes one step of the pass in progress, or, when none runs
 *   and log.cleaner.backoff.ms has passed since it last found nothing to
 *   do, starts a pass on the dirtiest compacted partition. Slices of one
 *   segment keep requests served between them, and keep chapter 03's
 *   rule that a log belongs to one thread.
 *
 * Kafka:
 *   LogCleaner with one CleanerThread; LogCleanerManager.
 *   grabFilthiestCompactedLog; the cleaner-offset-checkpoint file.
 *   Broker configs log.cleaner.enable, log.cleaner.backoff.ms,
 *   log.cleaner.dedupe.buffer.size; per topic (chapter 06)
 *   cleanup.policy, min.cleanable.dirty.ratio, min.compaction.lag.ms,
 *   delete.retention.ms.
 *
 * Interface:
 *   - The broker calls clean_open once (it registers the timer, unless
 *     log.cleaner.enable is false) and clean_close after net_server_free.
 *   - clean_tick is what the timer runs, with the wall clock; tests open
 *     the cleaner with no server and call clean_tick themselves.
 *   - A topic's configs are read when a pass starts: a change applies
 *     from the next pass.
 *   Single-threaded: everything runs on the reactor thread.
 *
 * States (struct cleaner), and the function of each transition:
 *   - idle -> passing: clean_start, from clean_tick once now_ms reaches
 *     next_scan_ms, on the dirtiest due partition (clean_dirtiest).
 *   - idle -> idle: clean_start finds no partition due and sleeps
 *     log.cleaner.backoff.ms (next_scan_ms).
 *   - passing -> passing: clean_continue, one step per tick, so a tick
 *     maps or rewrites at most one segment (10_compaction.c, Invariant 5).
 *   - passing -> idle: clean_continue at the end of the pass moves the
 *     partition's mark (its first dirty offset) to clean_pass_end and
 *     scans again at the next tick; a dropped pass (log cut, topic
 *     deleted or no longer compacted, corrupt batch) leaves the mark, so
 *     the section is cleaned again, and backs off.
 *   A pass names its partition by topic name and index (pass_of) and
 *   finds it again at every tick: it never holds a pointer to it.
 *
 * Simplifications:
 *   - One cleaner, run as a timer on the reactor (Kafka runs
 *     log.cleaner.threads threads).
 *   - The first dirty offsets live in memory, not in
 *     cleaner-offset-checkpoint: after a restart a log is cleaned again.
 *   - max.compaction.lag.ms is not enforced: a log is chosen only by its
 *     dirty ratio.
 *
 * See also: docs/10_cleaner.md, diagrams/10_cleaner.dot,
 *   tests/10_compaction_test.c (test_clean_tick_cleans_only_compacted_topics),
 *   10_compaction.c; chapters 03 (log), 05 (net_every), 06 (topics and
 *   their configs).
 */
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
};

/* ---- Prototypes of the static helpers, in reading order ---- */

static void clean_timer(void *ctx, int64_t mono_ms);
static void clean_continue(struct cleaner *c, int64_t now_ms);
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
		? net_every(srv, CLEAN_TICK_MS, clean_timer, c) : KB_OK;
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
	else {
		KB_WARN("cleaner: pass over %s-%d dropped: %s", m->topic,
			m->partition, kb_status_name(rc));
		c->next_scan_ms = now_ms + c->cfg.backoff_ms;
	}
	clean_pass_free(c->pass);
	c->pass = NULL;
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
		if (clean_pass_new(tp->log, &cc, c->pass_of.first_dirty, now_ms,
				   &c->pass) == KB_OK) {
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
			if (!m)
				continue;
			clean_sections_find(t->partitions[p]->log, &cc,
					    m->first_dirty, now_ms, &s);
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
