/* SPDX-License-Identifier: MIT */
/*
 * Chapter 03, third file — log: one partition's log, a run of segments.
 *
 * Concept:
 *   A partition is an endless sequence of offsets, but a file cannot be
 *   endless. So the log is a sorted array of segments (chapter 01), each
 *   with its indexes (chapter 02), named by their first offset. Appends go
 *   to the last, active segment, rolled when full; old data leaves as
 *   whole files from the left, a follower's undo cuts from the right;
 *   readers find a segment by binary search, then the batch by its index.
 *
 * Kafka:
 *   UnifiedLog, LocalLog; segment.bytes, segment.ms, segment.index.bytes,
 *   index.interval.bytes, retention.ms, retention.bytes, flush.messages,
 *   flush.ms; <20-digit base>.log/.index/.timeindex; KIP-74.
 *
 * Interface:
 *   - log_open (03_recovery.c) once per directory; log_close or log_delete.
 *   - log_append takes a validated batch and rewrites its baseOffset and
 *     partitionLeaderEpoch in place; an error means nothing was appended
 *     (log_append_undo).
 *   - A log_read_result borrows a segment: use it before the next append,
 *     truncation, retention or log_replace_segment on this log.
 *   - Only this file writes segs: others ask log_drop_empty_segment and
 *     log_replace_segment (chapter 10's cleaner).
 *
 * Invariants (log_check asserts 1-4 and 7 after each array change):
 *   1. nsegs >= 1; base offsets strictly ascend; the last is active.
 *   2. Each batch's base offset is the log end offset; a segment holds
 *      offsets in [its base, the next base).
 *   3. segs[0].base <= log_start_offset <= log end offset.
 *   4. recovery_point <= log end offset; every offset below it fsynced.
 *   5. Every non-active segment is sealed (idx_set_seal) and fsynced.
 *   6. Segments leave from the left (retention), or empty (the cleaner).
 *   7. The leader epochs ascend (03_epochs.c).
 *
 * Simplifications: files unlinked at once, timestamp search by batch in
 *   compressed batches, retention blind to the high watermark
 *   (docs/03_log.md). Single-threaded: a log belongs to the reactor.
 *
 * See also: docs/03_log.md, diagrams/03_log.dot, tests/03_log_test.c;
 *   read before: 03_checkpoints.c, 03_epochs.c; read next: 03_recovery.c.
 *   Uses chapters 00 (base), 01 (segment), 02 (index).
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "00_base.h"
#include "01_segment.h"
#include "02_index.h"
#include "03_log.h"
#include "03_log_internal.h"

/* A batch log_find_batch found: where it starts, and its header. */
struct log_found {
	uint64_t pos;
	struct seg_batch batch;
};

/* One timestamp search: ts and min_offset in, offset and found_ts out. */
struct log_ts_query {
	int64_t ts;         /* wanted: the first record with timestamp >= ts */
	int64_t min_offset; /* and offset >= this (the log start offset) */
	int64_t offset;     /* found */
	int64_t found_ts;   /* its timestamp */
};

/* ---- Prototypes of the static helpers, in reading order ---- */

static bool log_should_roll_at(const struct log *log,
			       const struct seg_batch *b, size_t len,
			       int64_t now_ms, int64_t base);
static int log_roll(struct log *log, int64_t now_ms);
static int log_append_undo(struct log *log, struct log_segment *ls,
			   const struct seg_batch *b, uint64_t pos, int rc);
static int log_find_batch(const struct log_segment *ls, struct seg_scan *scan,
			  int64_t offset, struct log_found *found);
static size_t log_index_ceiling(const struct idx *ox, int64_t offset);
static int log_collect(struct seg_scan *scan, struct log_found found,
		       const struct log_read_req *lim,
		       struct log_read_result *out);
static int log_search_segment(const struct log_segment *ls,
			      struct log_ts_query *q);
static int log_cut_segment(struct log *log, int64_t offset);
static int log_drop_oldest(struct log *log, size_t n);
static int log_flush_at(struct log *log, int64_t now_ms, bool active_indexes);
static struct log_segment *log_active(const struct log *log);
static struct idx_config log_idx_config(const struct log *log);

/* ---- Lifecycle ---- */

void log_config_defaults(struct log_config *cfg)
{
	cfg->segment_bytes = SEG_DEFAULT_SEGMENT_BYTES;
	cfg->segment_ms = SEG_DEFAULT_SEGMENT_MS;
	cfg->segment_index_bytes = IDX_DEFAULT_MAX_BYTES;
	cfg->index_interval_bytes = IDX_DEFAULT_INTERVAL_BYTES;
	cfg->retention_ms = LOG_DEFAULT_RETENTION_MS;
	cfg->retention_bytes = -1;
	cfg->flush_messages = LOG_NO_LIMIT;
	cfg->flush_ms = LOG_NO_LIMIT;
}

/* Open the segment at base (creating it if missing) with its indexes, as
 * the new last entry of the array. *missing (if not NULL) is set when an
 * index file did not exist before (KAFKA: the segment is then recovered). */
int log_segment_open(struct log *log, int64_t base, bool *missing)
{
	static const char *const suffixes[] = {".index", ".timeindex"};
	char path[LOG_PATH_MAX];
	for (size_t k = 0; missing && k < KB_ARRAY_LEN(suffixes); k++) {
		if (seg_file_name(path, sizeof path,
				  (struct seg_file){log->dir, base,
						    suffixes[k]}) != KB_OK)
			return KB_ERR_INVAL;
		*missing |= access(path, F_OK) != 0;
	}
	if (log->nsegs == log->cap) {
		size_t cap = log->cap ? log->cap * 2 : 8;
		struct log_segment *s = realloc(log->segs, cap * sizeof *s);
		if (!s)
			return KB_ERR_NOMEM;
		log->segs = s;
		log->cap = cap;
	}
	struct log_segment *ls = &log->segs[log->nsegs];
	int rc = seg_open(log->dir, base, true, &ls->seg);
	if (rc != KB_OK)
		return rc;
	struct idx_config ic = log_idx_config(log);
	rc = idx_set_open(&ls->idx, log->dir, base, &ic);
	if (rc != KB_OK) {
		seg_close(ls->seg);
		return rc;
	}
	log->nsegs++;
	return KB_OK;
}

/* ---- Appending and rolling ---- */

int64_t log_end_offset(const struct log *log)
{
	return log_active(log)->seg->next_offset;
}

/* INVARIANT 2: the batch gets the log end offset as its base offset.
 * Roll first if the active segment cannot take it, then append, index,
 * note the epoch and count the messages flush.messages waits for
 * (KAFKA: UnifiedLog.append; the fsync itself is log_maybe_flush). */
int log_append(struct log *log, const struct log_append_req *req,
	       struct log_append_info *info)
{
	uint8_t *batch = req->batch;
	size_t len = req->len;
	int32_t epoch = req->leader_epoch;
	struct seg_batch b;
	int rc = seg_batch_decode(batch, len, &b);
	if (rc != KB_OK || seg_batch_size(&b) != len)
		return rc != KB_OK ? rc : KB_ERR_INVAL;
	/* KAFKA: RecordBatchTooLargeException: it could never fit. */
	if ((int64_t)len > log->cfg.segment_bytes)
		return KB_ERR_TOO_LARGE;
	if (log_should_roll_at(log, &b, len, req->now_ms, log_end_offset(log)) &&
	    (rc = log_roll(log, req->now_ms)) != KB_OK)
		return rc;
	struct log_segment *ls = log_active(log);
	uint64_t pos = ls->seg->size;
	b.base_offset = log_end_offset(log);
	b.partition_leader_epoch = epoch;
	seg_batch_set_base_offset(batch, b.base_offset);
	seg_batch_set_leader_epoch(batch, epoch);
	if ((rc = seg_append(ls->seg, batch, len)) != KB_OK)
		return rc; /* seg_append cut its own torn tail */
	/* KAFKA: maybeAssignEpochStartOffset, for every batch appended. */
	if ((rc = idx_set_on_append(&ls->idx, ls->seg, &b, pos)) != KB_OK ||
	    (epoch >= 0 &&
	     (rc = log_epoch_assign(log, epoch, b.base_offset)) != KB_OK))
		return log_append_undo(log, ls, &b, pos, rc);
	if (info)
		*info = (struct log_append_info){b.base_offset,
			seg_batch_last_offset(&b), pos, ls->seg->base_offset};
	log->unflushed_messages += (int64_t)b.last_offset_delta + 1;
	return KB_OK;
}

/* KAFKA: UnifiedLog.appendAsFollower — a leader's batch kept byte for
 * byte: its base offset (at or past the log end offset: a compacted
 * leader leaves gaps) and its partitionLeaderEpoch are the leader's, so
 * every replica's segments hold the same bytes. INVARIANT 2 for a
 * follower reads "at or past" instead of "at". */
int log_append_as_follower(struct log *log, const uint8_t *batch, size_t len,
			   int64_t now_ms, struct log_append_info *info)
{
	struct seg_batch b;
	int rc = seg_batch_decode(batch, len, &b);
	if (rc != KB_OK || seg_batch_size(&b) != len)
		return rc != KB_OK ? rc : KB_ERR_INVAL;
	if (b.base_offset < log_end_offset(log))
		return KB_ERR_INVAL; /* a batch we have: the fetcher's bug */
	if ((int64_t)len > log->cfg.segment_bytes)
		return KB_ERR_TOO_LARGE;
	if (log_should_roll_at(log, &b, len, now_ms, b.base_offset) &&
	    (rc = log_roll(log, now_ms)) != KB_OK)
		return rc;
	struct log_segment *ls = log_active(log);
	uint64_t pos = ls->seg->size;
	if ((rc = seg_append(ls->seg, batch, len)) != KB_OK)
		return rc;
	if ((rc = idx_set_on_append(&ls->idx, ls->seg, &b, pos)) != KB_OK ||
	    (b.partition_leader_epoch >= 0 &&
	     (rc = log_epoch_assign(log, b.partition_leader_epoch,
				    b.base_offset)) != KB_OK))
		return log_append_undo(log, ls, &b, pos, rc);
	if (info)
		*info = (struct log_append_info){b.base_offset,
			seg_batch_last_offset(&b), pos, ls->seg->base_offset};
	log->unflushed_messages += (int64_t)b.last_offset_delta + 1;
	return KB_OK;
}

/* A batch written whose index entry or epoch could not be (a full or
 * failing disk): cut it off again, so the caller's error is the whole
 * truth and a retry appends it once (INVARIANT 2; KAFKA has no undo: the
 * log dir goes offline and recovery cuts at restart). Returns rc, or the
 * undo's own error when even the cut fails. */
static int log_append_undo(struct log *log, struct log_segment *ls,
			   const struct seg_batch *b, uint64_t pos, int rc)
{
	int undo = seg_truncate(ls->seg, pos);
	if (undo == KB_OK)
		undo = idx_truncate_to(ls->idx.offsets, b->base_offset);
	if (undo == KB_OK)
		undo = idx_truncate_to(ls->idx.times, b->base_offset);
	log_resume_index(ls);
	if (undo == KB_OK)
		undo = log_epoch_truncate_end(log, b->base_offset);
	if (undo != KB_OK)
		KB_ERROR("log %s: could not undo the append at offset %" PRId64,
			 log->dir, b->base_offset);
	return undo != KB_OK ? undo : rc;
}

/* KAFKA: LogSegment.shouldRoll: segment.bytes or segment.ms (chapter 01),
 * a full offset or time index, or a last offset that would not fit the
 * index's int32 relative offset. An empty segment never rolls: the new
 * one would have the same base offset, hence the same file name. */
static bool log_should_roll_at(const struct log *log,
			       const struct seg_batch *b, size_t len,
			       int64_t now_ms, int64_t base)
{
	const struct log_segment *ls = log_active(log);
	struct seg_config sc = {log->cfg.segment_bytes, log->cfg.segment_ms};
	int64_t last = base + b->last_offset_delta;
	if (ls->seg->size == 0)
		return false;
	struct seg_incoming in = {len, b->max_timestamp};
	return seg_should_roll(ls->seg, &sc, in, now_ms) ||
	       idx_is_full(ls->idx.offsets) || idx_is_full(ls->idx.times) ||
	       !seg_offset_fits(ls->seg, last);
}

/* Seal and fsync the active segment, then start the next one, named by
 * the log end offset (KAFKA: UnifiedLog.roll; the fsync on roll is why
 * flush.messages can stay unlimited). INVARIANT 5. */
static int log_roll(struct log *log, int64_t now_ms)
{
	struct log_segment *old = log_active(log);
	int64_t base = old->seg->next_offset;
	int rc = idx_set_seal(&old->idx, old->seg);
	if (rc == KB_OK)
		rc = log_flush_at(log, now_ms, true);
	/* The new file's directory entry is fsynced by its first seg_flush. */
	if (rc == KB_OK)
		rc = log_segment_open(log, base, NULL);
	if (rc == KB_OK) {
		KB_INFO("log %s: rolled new segment at offset %" PRId64,
			log->dir, base);
		log_check(log);
	}
	return rc;
}

/* ---- Reading ---- */

/* Find the segment by binary search, then the batch holding offset in it
 * (log_find_batch); a gap or an exhausted segment moves on to the next
 * segment (KAFKA: LocalLog.read). One struct seg_scan serves the search
 * and the collection, so the headers after the first batch usually come
 * from the page the search already read. */
int log_read(const struct log *log, const struct log_read_req *req,
	     struct log_read_result *out)
{
	const struct segment *act = log_active(log)->seg;
	int64_t offset = req->offset;
	*out = (struct log_read_result){act, act->size, 0, offset, offset};
	if (offset < log->log_start_offset || offset > log_end_offset(log))
		return KB_ERR_RANGE;
	for (size_t i = log_segment_for(log, offset); i < log->nsegs; i++) {
		struct seg_scan scan;
		struct log_found found;
		seg_scan_init(&scan, log->segs[i].seg);
		int rc = log_find_batch(&log->segs[i], &scan, offset, &found);
		if (rc == KB_ERR_NOTFOUND)
			continue;
		if (rc != KB_OK)
			return rc;
		return log_collect(&scan, found, req, out);
	}
	return KB_OK;
}

/* The first batch of ls whose last offset is >= offset, in one read when
 * the index allows it. An offset-index entry is (a batch's last offset,
 * that batch's position), so the first entry at or above offset (the
 * ceiling) names a batch that ends at or after offset. If that batch also
 * starts at or before offset, it holds offset, and no earlier batch can:
 * their offsets are all below its base. Otherwise (offset in a gap, or
 * after the last entry) walk the headers from the floor entry, which is
 * all Kafka does (LogSegment.translateOffset). */
static int log_find_batch(const struct log_segment *ls, struct seg_scan *scan,
			  int64_t offset, struct log_found *found)
{
	const struct idx *ox = ls->idx.offsets;
	struct seg_batch *b = &found->batch;
	size_t i = log_index_ceiling(ox, offset);
	if (i < ox->entries) {
		struct idx_entry e = idx_entry_at(ox, i);
		if (seg_scan_batch(scan, e.position, b) == KB_OK &&
		    b->base_offset <= offset &&
		    seg_batch_last_offset(b) >= offset) {
			found->pos = e.position;
			return KB_OK;
		}
	}
	found->pos = idx_lookup_floor(ox, offset).position;
	return seg_scan_find_offset(scan, offset, &found->pos, b);
}

/* The first offset-index entry whose offset is >= offset (entries when
 * there is none), by binary search: the mirror of idx_lookup_floor. */
static size_t log_index_ceiling(const struct idx *ox, int64_t offset)
{
	size_t lo = 0, hi = ox->entries;
	while (lo < hi) { /* entries [0, lo) are < offset, [hi, end) >= */
		size_t mid = lo + (hi - lo) / 2;
		if (idx_entry_at(ox, mid).offset < offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* From the first batch found, take whole batches while they fit in
 * max_bytes and end below max_offset. KIP-74: with min_one the first batch
 * is taken even when it alone is larger than max_bytes. */
static int log_collect(struct seg_scan *scan, struct log_found found,
		       const struct log_read_req *lim,
		       struct log_read_result *out)
{
	const struct segment *seg = scan->seg;
	uint64_t pos = found.pos;
	struct seg_batch b = found.batch;
	uint64_t len = 0;
	out->seg = seg;
	out->position = pos;
	for (;;) {
		uint64_t size = seg_batch_size(&b);
		bool first = len == 0;
		if (seg_batch_last_offset(&b) >= lim->max_offset ||
		    (len + size > lim->max_bytes && !(first && lim->min_one)))
			break;
		if (first)
			out->first_offset = b.base_offset;
		len += size;
		out->next_offset = seg_batch_last_offset(&b) + 1;
		/* Read the next header only if its batch could be taken: not
		 * at the end of the segment, not at max_offset (the next batch
		 * ends at or after next_offset), and not with less budget left
		 * than the smallest batch, a bare header. */
		if (pos + len >= seg->size ||
		    out->next_offset >= lim->max_offset ||
		    len + SEG_BATCH_HEADER_LEN > lim->max_bytes)
			break;
		int rc = seg_scan_batch(scan, pos + len, &b);
		if (rc != KB_OK)
			return rc;
	}
	out->length = len;
	return KB_OK;
}

/* KAFKA: UnifiedLog.fetchOffsetByTimestamp: the first segment whose
 * largest timestamp is >= ts holds the answer, unless all its records
 * with such timestamps lie below the log start offset. */
int log_offset_for_timestamp(const struct log *log, int64_t ts,
			     int64_t *offset, int64_t *found_ts)
{
	struct log_ts_query q = {ts, log->log_start_offset, -1, -1};
	int rc = KB_ERR_NOTFOUND;
	for (size_t i = 0; rc == KB_ERR_NOTFOUND && i < log->nsegs; i++) {
		const struct segment *seg = log->segs[i].seg;
		if (seg->size > 0 && seg->max_timestamp >= ts)
			rc = log_search_segment(&log->segs[i], &q);
	}
	*offset = q.offset;
	*found_ts = q.found_ts;
	return rc;
}

/* KAFKA: ListOffsets MAX_TIMESTAMP: the segment with the largest
 * timestamp (the first on a tie), then the exact record inside it. */
int log_max_timestamp(const struct log *log, int64_t *offset, int64_t *ts)
{
	const struct log_segment *best = NULL;
	for (size_t i = 0; i < log->nsegs; i++) {
		const struct segment *seg = log->segs[i].seg;
		if (seg->size > 0 &&
		    (!best || seg->max_timestamp > best->seg->max_timestamp))
			best = &log->segs[i];
	}
	if (!best)
		return KB_ERR_NOTFOUND;
	struct log_ts_query q = {best->seg->max_timestamp,
				 log->log_start_offset, -1, -1};
	int rc = log_search_segment(best, &q);
	*offset = q.offset;
	*ts = q.found_ts;
	return rc;
}

/* Read a zigzag varint or varlong (KAFKA: ByteUtils.readVarlong); false
 * when it runs past end or is longer than 10 bytes. */
static bool log_read_varlong(const uint8_t **p, const uint8_t *end,
			     int64_t *out)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (*p >= end)
			return false;
		uint8_t byte = *(*p)++;
		v |= (uint64_t)(byte & 0x7f) << shift;
		if (!(byte & 0x80)) {
			*out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
			return true;
		}
	}
	return false;
}

/* Walk the records of one uncompressed batch held in buf. Each record is
 * length varint, attributes int8, timestampDelta varlong, offsetDelta
 * varint, then key, value, headers (skipped by length). Damaged bytes are
 * KB_ERR_CORRUPT, never a read past buf. */
static int log_search_records(const struct seg_batch *b, const uint8_t *buf,
			      size_t len, struct log_ts_query *q)
{
	const uint8_t *p = buf + SEG_BATCH_HEADER_LEN, *end = buf + len;
	for (int32_t i = 0; i < b->records_count; i++) {
		int64_t rlen, dts, doff;
		if (!log_read_varlong(&p, end, &rlen) || rlen < 1 ||
		    rlen > end - p)
			return KB_ERR_CORRUPT;
		const uint8_t *next = p + rlen;
		p++; /* attributes: unused in v2 */
		if (!log_read_varlong(&p, next, &dts) ||
		    !log_read_varlong(&p, next, &doff))
			return KB_ERR_CORRUPT;
		/* Sums of bytes from disk: wrap, never overflow (undefined). */
		int64_t ts = (int64_t)((uint64_t)b->base_timestamp + (uint64_t)dts);
		int64_t off = (int64_t)((uint64_t)b->base_offset + (uint64_t)doff);
		if (ts >= q->ts && off >= q->min_offset) {
			q->offset = off;
			q->found_ts = ts;
			return KB_OK;
		}
		p = next;
	}
	return KB_ERR_NOTFOUND;
}

/* The answer inside batch b at pos, whose max timestamp is >= q->ts. */
static int log_search_batch(const struct segment *seg, uint64_t pos,
			    const struct seg_batch *b, struct log_ts_query *q)
{
	/* With LogAppendTime every record has the batch's max timestamp.
	 * SIMPLIFICATION: a compressed batch answers with its base offset;
	 * Kafka decompresses it and returns the exact record. */
	if ((b->attributes & SEG_ATTR_LOG_APPEND_TIME) ||
	    (b->attributes & SEG_ATTR_COMPRESSION_MASK) != 0) {
		q->offset = KB_MAX(b->base_offset, q->min_offset);
		q->found_ts = b->max_timestamp;
		return KB_OK;
	}
	size_t len = (size_t)seg_batch_size(b), got = 0;
	uint8_t *buf = malloc(len);
	if (!buf)
		return KB_ERR_NOMEM;
	int rc = seg_read(seg, pos, buf, len, &got);
	if (rc == KB_OK)
		rc = got == len ? log_search_records(b, buf, len, q)
				: KB_ERR_CORRUPT;
	free(buf);
	return rc;
}

/* KAFKA: LogSegment.findOffsetByTimestamp: the time index gives an offset
 * to start from, the offset index its position; scan batches from there. */
static int log_search_segment(const struct log_segment *ls,
			      struct log_ts_query *q)
{
	int64_t from = KB_MAX(idx_lookup_floor(ls->idx.times, q->ts).offset,
			      q->min_offset);
	uint64_t pos = idx_lookup_floor(ls->idx.offsets, from).position;
	struct seg_scan scan;
	struct seg_batch b;
	seg_scan_init(&scan, ls->seg);
	int rc = seg_scan_find_offset(&scan, from, &pos, &b);
	while (rc == KB_OK) {
		if (b.max_timestamp >= q->ts &&
		    (rc = log_search_batch(ls->seg, pos, &b, q)) !=
			    KB_ERR_NOTFOUND)
			return rc;
		pos += seg_batch_size(&b);
		rc = seg_scan_batch(&scan, pos, &b);
	}
	return rc == KB_ERR_RANGE ? KB_ERR_NOTFOUND : rc;
}

/* ---- Truncation, deletion, retention ---- */

/* KAFKA: UnifiedLog.truncateTo. A batch holding offset is removed whole,
 * so the new log end offset is that batch's base offset (Kafka sets it to
 * offset itself, and reads the batch boundary back after a restart). */
int log_truncate_to(struct log *log, int64_t offset)
{
	if (offset < 0)
		return KB_ERR_INVAL;
	if (offset >= log_end_offset(log))
		return KB_OK;
	int rc = offset <= log->segs[0].seg->base_offset
		? log_reset_at(log, offset) : log_cut_segment(log, offset);
	if (rc != KB_OK)
		return rc;
	int64_t leo = log_end_offset(log);
	KB_INFO("log %s: truncated to offset %" PRId64 ", log end offset %"
		PRId64, log->dir, offset, leo);
	log->log_start_offset = KB_MIN(log->log_start_offset, leo);
	log->recovery_point = KB_MIN(log->recovery_point, leo);
	log->unflushed_messages = leo - log->recovery_point;
	log_check(log);
	return log_epoch_truncate_end(log, offset);
}

/* Delete the segments after the one holding offset, and cut that one at
 * the first batch whose last offset is >= offset (KAFKA:
 * LogSegment.truncateTo via translateOffset); seg_truncate recounts its
 * next offset and timestamps. */
static int log_cut_segment(struct log *log, int64_t offset)
{
	size_t i = log_segment_for(log, offset);
	int rc = log_drop(log, i + 1, log->nsegs);
	struct log_segment *ls = &log->segs[i];
	uint64_t pos = idx_lookup_floor(ls->idx.offsets, offset).position;
	struct seg_batch b;
	if (rc == KB_OK &&
	    (rc = seg_find_offset(ls->seg, offset, &pos, &b)) == KB_OK)
		rc = seg_truncate(ls->seg, pos);
	if (rc == KB_ERR_NOTFOUND) /* offset lies after the last batch */
		rc = KB_OK;
	if (rc == KB_OK)
		rc = idx_truncate_to(ls->idx.offsets, offset);
	if (rc == KB_OK)
		rc = idx_truncate_to(ls->idx.times, offset);
	log_resume_index(ls);
	return rc;
}

/* Delete every segment and start an empty one at offset (KAFKA:
 * truncateFullyAndStartAt); the epoch cache goes with them. */
int log_reset_at(struct log *log, int64_t offset)
{
	int rc = log_drop(log, 0, log->nsegs);
	if (rc == KB_OK)
		rc = log_segment_open(log, offset, NULL);
	if (rc != KB_OK)
		return rc;
	log->log_start_offset = log->recovery_point = offset;
	log->unflushed_messages = 0;
	/* KAFKA: clearAndFlush; every epoch starts at an offset >= 0. */
	return log_epoch_truncate_end(log, 0);
}

/* KAFKA: DeleteRecords (maybeIncrementLogStartOffset), then the segments
 * wholly below the new start go (deleteLogStartOffsetBreachedSegments). */
int log_advance_start_offset(struct log *log, int64_t offset)
{
	if (offset > log_end_offset(log))
		return KB_ERR_RANGE;
	if (offset <= log->log_start_offset)
		return KB_OK;
	log->log_start_offset = offset;
	size_t n = 0;
	while (n + 1 < log->nsegs && log->segs[n + 1].seg->base_offset <= offset)
		n++;
	return log_drop_oldest(log, n);
}

/* A segment's age for retention.ms (KAFKA: LogSegment.largestTimestamp:
 * its max timestamp, or the file's mtime when it has none). */
static int64_t log_segment_largest_ts(const struct segment *seg)
{
	struct stat st;
	if (seg->max_timestamp >= 0 || fstat(seg->fd, &st) != 0)
		return seg->max_timestamp;
	return (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
}

/* How many segments, oldest first, retention deletes: each non-active and
 * past retention.ms, past retention.bytes, or wholly below the log start
 * offset; the first segment kept ends the walk (KAFKA: deleteOldSegments). */
static size_t log_retention_count(const struct log *log, int64_t now_ms)
{
	const struct log_config *c = &log->cfg;
	uint64_t total = 0;
	size_t i;
	for (i = 0; c->retention_bytes >= 0 && i < log->nsegs; i++)
		total += log->segs[i].seg->size;
	for (i = 0; i + 1 < log->nsegs; i++) {
		const struct segment *seg = log->segs[i].seg;
		bool by_time = c->retention_ms >= 0 &&
			now_ms - log_segment_largest_ts(seg) > c->retention_ms;
		bool by_size = c->retention_bytes >= 0 &&
			total - seg->size >= (uint64_t)c->retention_bytes;
		int64_t next_base = log->segs[i + 1].seg->base_offset;
		bool by_start = next_base <= log->log_start_offset;
		if (!by_time && !by_size && !by_start)
			break;
		total -= seg->size;
	}
	return i;
}

int log_apply_retention(struct log *log, int64_t now_ms, int *deleted)
{
	size_t n = log_retention_count(log, now_ms);
	if (deleted)
		*deleted = (int)n;
	return n == 0 ? KB_OK : log_drop_oldest(log, n);
}

/* Delete the n oldest segments (INVARIANT 6: never the active one); the
 * log start offset moves up to the new first segment, and epochs that
 * ended before it collapse (KAFKA: truncateFromStart). */
static int log_drop_oldest(struct log *log, size_t n)
{
	int rc = log_drop(log, 0, KB_MIN(n, log->nsegs - 1));
	int64_t first = log->segs[0].seg->base_offset;
	log->log_start_offset = KB_MAX(log->log_start_offset, first);
	log->recovery_point = KB_MAX(log->recovery_point, first);
	log->unflushed_messages = log_end_offset(log) - log->recovery_point;
	if (rc == KB_OK)
		rc = log_epoch_truncate_start(log, log->log_start_offset);
	log_check(log);
	return rc;
}

/* KAFKA: the cleaner merges small cleaned segments into their
 * neighbours (Cleaner.groupSegmentsBySize); samsa drops the empty ones,
 * which is what keeps a committed-offsets partition small. */
int log_drop_empty_segment(struct log *log, size_t i)
{
	if (i == 0 || i + 1 >= log->nsegs || log->segs[i].seg->size != 0)
		return KB_ERR_INVAL;
	int rc = log_drop(log, i, i + 1);
	log_check(log);
	return rc;
}

/* KAFKA: UnifiedLog.replaceSegments, the in-memory half: the new file
 * holds a subset of the old one's batches (INVARIANT 2 keeps its offsets
 * in [base, next base)), so it keeps the old next offset and gets fresh,
 * sealed indexes (INVARIANT 5). The new structs are complete before the
 * old ones go: a failure leaves segs[i] as it was (reading the old
 * inode). A response still sending from the old ones holds its own fd. */
int log_replace_segment(struct log *log, size_t i)
{
	if (i + 1 >= log->nsegs)
		return KB_ERR_INVAL; /* never the active segment */
	struct log_segment *ls = &log->segs[i], fresh;
	int64_t base = ls->seg->base_offset, next = ls->seg->next_offset;
	int rc = seg_open(log->dir, base, false, &fresh.seg);
	if (rc != KB_OK)
		return rc;
	struct idx_config ic = log_idx_config(log);
	if ((rc = seg_recover(fresh.seg, 0, NULL)) == KB_OK)
		rc = idx_set_open(&fresh.idx, log->dir, base, &ic);
	if (rc != KB_OK) {
		seg_close(fresh.seg);
		return rc;
	}
	fresh.seg->next_offset = next;
	if ((rc = idx_set_rebuild(&fresh.idx, fresh.seg, true)) == KB_OK)
		rc = idx_set_flush(&fresh.idx);
	if (rc == KB_OK)
		rc = kb_fsync_dir(log->dir);
	if (rc != KB_OK) {
		idx_set_close(&fresh.idx);
		seg_close(fresh.seg);
		return rc;
	}
	idx_set_close(&ls->idx);
	seg_close(ls->seg);
	*ls = fresh;
	log_check(log);
	return KB_OK;
}

/* Delete segments [from, to) and their indexes, close the gap in the
 * array, and fsync the directory once so the unlinks are durable. */
int log_drop(struct log *log, size_t from, size_t to)
{
	int rc = KB_OK;
	for (size_t i = from; i < to; i++) {
		struct log_segment *ls = &log->segs[i];
		KB_INFO("log %s: deleting segment %" PRId64, log->dir,
			ls->seg->base_offset);
		int r1 = idx_set_delete(&ls->idx), r2 = seg_delete(ls->seg);
		rc = rc != KB_OK ? rc : r1 != KB_OK ? r1 : r2;
	}
	memmove(log->segs + from, log->segs + to,
		(log->nsegs - to) * sizeof *log->segs);
	log->nsegs -= to - from;
	return rc == KB_OK && to > from ? kb_fsync_dir(log->dir) : rc;
}

/* ---- Durability ---- */

int log_flush(struct log *log)
{
	return log_flush_at(log, kb_now_ms(), true);
}

/* KAFKA: flush.messages (UnifiedLog.append flushes when that many are
 * unflushed) and flush.ms (LogManager's flush scheduler). */
int log_maybe_flush(struct log *log, int64_t now_ms)
{
	if (!log_flush_due(log, now_ms))
		return KB_OK;
	return log_flush_at(log, now_ms, false);
}

bool log_flush_due(const struct log *log, int64_t now_ms)
{
	return log->recovery_point < log_end_offset(log) &&
	       (log->unflushed_messages >= log->cfg.flush_messages ||
		now_ms - log->last_flush_ms >= log->cfg.flush_ms);
}

/* fsync the segments from the one holding the recovery point on, with
 * their indexes (those before were fsynced already); then INVARIANT 4
 * holds up to the end. KAFKA: LogSegment.flush syncs both indexes with
 * the log. A flush of the policy (active_indexes false) leaves the active
 * segment's indexes to the kernel: after a crash the segment holding the
 * recovery point is recovered and its indexes rebuilt (log_recover_all),
 * so syncing them would buy nothing and cost two more disk syncs per
 * acknowledgement under flush.messages=1. A roll and a close sync them. */
static int log_flush_at(struct log *log, int64_t now_ms, bool active_indexes)
{
	for (size_t i = log_segment_for(log, log->recovery_point);
	     i < log->nsegs; i++) {
		struct log_segment *ls = &log->segs[i];
		int rc = seg_flush(ls->seg);
		if (rc == KB_OK && (active_indexes || i + 1 < log->nsegs))
			rc = idx_set_flush(&ls->idx); /* cheap when unchanged */
		if (rc != KB_OK)
			return rc;
	}
	log->recovery_point = log_end_offset(log);
	log->unflushed_messages = 0;
	log->last_flush_ms = now_ms;
	return KB_OK;
}

/* ---- Recovery ---- */

/* The last offset-index entry, or the start of the segment. */
struct idx_entry log_last_offset_entry(const struct log_segment *ls)
{
	const struct idx *ox = ls->idx.offsets;
	if (ox->entries == 0)
		return (struct idx_entry){ls->seg->base_offset, 0, -1};
	return idx_entry_at(ox, ox->entries - 1);
}

/* Resume the index.interval.bytes count where the last offset entry left
 * it, so later entries are the ones idx_set_rebuild would write (Kafka
 * restarts the count at 0 after a restart or a truncation). */
void log_resume_index(struct log_segment *ls)
{
	ls->idx.bytes_since_entry =
		ls->seg->size - log_last_offset_entry(ls).position;
}

/* ---- Checking the invariants ---- */

/* INVARIANTS 1-4 and 7, asserted, with seg_check and idx_assert of every
 * segment: O(nsegs), so run after each change to the segment array (open,
 * roll, truncation, retention, drop, replace), not after every append.
 * With -DSAMSA_CHECK_EXPENSIVE, also idx_set_check and seg_check_file of
 * every segment. Compiled out with NDEBUG. */
void log_check(const struct log *log)
{
	assert(log->nsegs >= 1 && log->nsegs <= log->cap);
	for (size_t i = 0; i < log->nsegs; i++) {
		const struct log_segment *ls = &log->segs[i];
		seg_check(ls->seg);
		idx_assert(ls->idx.offsets);
		idx_assert(ls->idx.times);
#ifdef SAMSA_CHECK_EXPENSIVE
		/* Every index against its log, and every file's size. */
		const char *why = NULL;
		assert(idx_set_check(&ls->idx, ls->seg, &why) == KB_OK);
		seg_check_file(ls->seg);
#endif
	}
	for (size_t i = 0; i + 1 < log->nsegs; i++) {
		const struct segment *a = log->segs[i].seg;
		const struct segment *b = log->segs[i + 1].seg;
		assert(a->base_offset < b->base_offset);  /* 1 */
		/* Not asserted: a->next_offset <= b->base_offset (2). A
		 * damaged directory (overlapping segments) can break it
		 * after a crash recovery, and damage never trips an assert. */
		(void)a;
		(void)b;
	}
	int64_t leo = log_end_offset(log);
	assert(log->segs[0].seg->base_offset <= log->log_start_offset); /* 3 */
	assert(log->log_start_offset <= leo);
	assert(log->recovery_point <= leo); /* 4 */
	for (size_t i = 0; i + 1 < log->nepochs; i++)       /* 7 */
		assert(log->epochs[i].epoch < log->epochs[i + 1].epoch &&
		       log->epochs[i].start_offset <
		       log->epochs[i + 1].start_offset);
	(void)leo;
}

/* ---- Small helpers ---- */

static struct log_segment *log_active(const struct log *log)
{
	return &log->segs[log->nsegs - 1];
}

/* The log's index settings, as chapter 02 takes them. */
static struct idx_config log_idx_config(const struct log *log)
{
	return (struct idx_config){(size_t)log->cfg.segment_index_bytes,
				   (uint32_t)log->cfg.index_interval_bytes};
}

/* The last segment whose base offset is <= offset (the first one when
 * offset is below them all), by binary search. */
size_t log_segment_for(const struct log *log, int64_t offset)
{
	size_t lo = 0, hi = log->nsegs;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (log->segs[mid].seg->base_offset <= offset)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* ---- Teardown ---- */

/* KAFKA: UnifiedLog.close: flush, give the active segment its last time
 * index entry, close. The broker then writes the clean-shutdown marker. */
void log_close(struct log *log)
{
	if (!log)
		return;
	/* nsegs is 0 only after a failed log_reset_at: nothing to flush. */
	if (log->nsegs > 0 && (log_flush(log) != KB_OK ||
			       idx_set_seal(&log_active(log)->idx,
					    log_active(log)->seg) != KB_OK))
		KB_ERROR("log %s: closed without a full flush", log->dir);
	log_free(log);
}

/* Close every file and free; no flush. */
void log_free(struct log *log)
{
	for (size_t i = 0; i < log->nsegs; i++) {
		idx_set_close(&log->segs[i].idx);
		seg_close(log->segs[i].seg);
	}
	free(log->segs);
	free(log->epochs);
	free(log->dir);
	free(log);
}

/* KAFKA: DeleteTopics removes the partition directory. */
int log_delete(struct log *log)
{
	char *dir = log->dir;
	log->dir = NULL;
	log_free(log);
	DIR *d = opendir(dir);
	struct dirent *de;
	int rc = d ? KB_OK : KB_ERR_IO;
	while (d && (de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    unlinkat(dirfd(d), de->d_name, 0) != 0)
			rc = KB_ERR_IO;
	if (d)
		closedir(d);
	if (rc == KB_OK && rmdir(dir) != 0)
		rc = KB_ERR_IO;
	if (rc != KB_OK)
		KB_ERROR("delete log %s: %s", dir, strerror(errno));
	free(dir);
	return rc;
}
