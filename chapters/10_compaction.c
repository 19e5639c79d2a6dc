/* SPDX-License-Identifier: MIT */
/*
 * Chapter 10 — compaction, part 1: one cleaning pass over one log.
 *
 * Concept:
 *   Some topics are not a history but a table: __consumer_offsets holds the
 *   committed offset of each (group, topic, partition), a changelog the
 *   latest value of each row. Only the last record of each key matters, so
 *   the cleaner rewrites old segments keeping just that record. A pass
 *   first reads the dirty section (written since the last pass) into an
 *   offset map, key -> latest offset; then it rewrites every segment from
 *   the log start to the end of that section, keeping a record only if no
 *   later record has its key. Offsets never change: a record keeps its
 *   offset, a batch its base offset, and the gaps left behind are legal.
 *   A record with a null value (a tombstone) says "delete this key"; it
 *   must outlive the values it hides long enough for every consumer to
 *   see it, then it goes too (delete.retention.ms).
 *   This file is the pass; 10_swap.c puts a rewritten segment in place of
 *   the old one, and 10_cleaner.c decides which log to clean and when.
 *
 * Kafka:
 *   Cleaner.doClean/cleanSegments, SkimpyOffsetMap,
 *   LogCleanerManager.cleanableOffsets, LogToClean, MemoryRecords.
 *   filterTo. Configs: cleanup.policy=compact (or compact,delete),
 *   min.cleanable.dirty.ratio, min.compaction.lag.ms, delete.retention.ms,
 *   log.cleaner.dedupe.buffer.size.
 *
 * Interface:
 *   - clean_pass_new starts a pass if the log is dirty enough; call
 *     clean_pass_step until *done (the first steps map the dirty section,
 *     the next ones rewrite), then clean_pass_end is the next first dirty
 *     offset; free the pass. clean_log does all of it at once.
 *   - Between steps the log may be appended to, rolled, or have segments
 *     deleted by retention; a pass that finds the log cut below its
 *     mapped end returns KB_ERR_AGAIN and must be dropped.
 *   - A struct segment of a rewritten segment is replaced: do not keep a
 *     segment pointer (a log_read_result) across a step.
 *   Single-threaded: a pass runs on the reactor in slices, one segment
 *   read or rewritten per step, and the cleaner (10_cleaner.c) takes one
 *   step per CLEAN_TICK_MS tick, so requests are served between two
 *   slices and the log keeps chapter 03's rule of one owning thread (a
 *   helper thread would have to share the segments).
 *
 * Invariants:
 *   1. The active segment, and every segment at or above the first
 *      uncleanable offset, is never rewritten.
 *   2. A record survives a pass if it is the latest of its key in the
 *      mapped range, or its key has no later record there; it keeps its
 *      offset, and its batch keeps its base offset and producer fields.
 *   3. A tombstone is removed only if it lay in the clean section when
 *      the pass started (so it survived a pass) and its segment's largest
 *      timestamp is older than now - delete.retention.ms.
 *   4. A segment is never written in place: its survivors go to a new,
 *      fsynced file that clean_swap_in (10_swap.c) renames over it, so
 *      the directory always holds the old segment or the new one, and an
 *      index that does not match its .log is missing, never stale.
 *   5. Each step (each tick) maps or rewrites at most one segment; a
 *      pass maps at most map_max_bytes (but always one whole segment).
 *
 * Simplifications:
 *   - Segments are not merged after cleaning (Kafka groups small ones);
 *     a segment left empty is deleted (log_drop_empty_segment), except
 *     the first, which keeps the log start offset.
 *   - Tombstones use segment timestamps, not the KIP-534 deleteHorizon
 *     batch attribute; transactions are not considered (aborted records
 *     are compacted like committed ones, control batches kept whole), and
 *     a batch left with no records is dropped, even an idempotent
 *     producer's (Kafka keeps its header for producer state).
 *   - A batch that loses records is rewritten uncompressed; gzip is read
 *     with zlib, snappy/lz4/zstd batches are kept whole (no library).
 *   - Records without a key are dropped, as Kafka's cleaner does.
 *   - A truncation refilled past the mapped end between two steps goes
 *     unnoticed (only replication, chapter 08, truncates a live log).
 *
 * See also: docs/10_compaction.md, diagrams/10_compaction.dot,
 *   tests/10_compaction_test.c, tests/clients/test_compaction.py;
 *   10_swap.c, 10_cleaner.c; chapters 01 (segment), 02 (index),
 *   03 (log), 04 (records).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "00_base.h"
#include "01_segment.h"
#include "03_log.h"
#include "04_codec.h"
#include "10_compaction.h"
#include "10_compaction_internal.h"

/* The rewrite writes its output file in chunks of this many bytes. */
#define CLEAN_WRITE_CHUNK (1024 * 1024)
/* Largest records area we inflate from one gzip batch (a bomb guard);
 * a larger one is kept whole. */
#define CLEAN_MAX_INFLATED ((size_t)64 * 1024 * 1024)
/* Offset map: first capacity (slots, a power of two) and bytes per slot. */
#define CLEAN_MAP_MIN_SLOTS 1024
#define CLEAN_GZIP 1 /* compression type 1 in the batch attributes */

/* One slot of the offset map: a key (bytes in the map's arena) and the
 * latest offset seen for it. hash 0 marks an empty slot. */
struct clean_slot {
	uint64_t hash;
	int64_t offset;
	size_t key_at;   /* position of the key in keys */
	uint32_t key_len;
};

/* KAFKA: SkimpyOffsetMap, but exact: it keeps whole keys, not MD5
 * hashes, so two keys never collide. Open addressing, linear probing,
 * grown at half full. */
struct clean_map {
	struct clean_slot *slots; /* owned */
	size_t nslots;            /* a power of two */
	size_t used;
	struct kb_buf keys;       /* owned: every key, back to back */
};

/* One cleaning pass over one log (KAFKA: LogToClean plus the state of
 * Cleaner.doClean). It names segments by base offset and never keeps a
 * pointer into the log, so the log may change between two steps. */
struct clean_pass {
	struct clean_config cfg;
	struct clean_map map;  /* owned: the dirty section's keys */
	int64_t now_ms;        /* wall clock when the pass started */
	int64_t first_dirty;   /* where the clean section ended at the start */
	bool mapping;          /* still building the map (the first steps) */
	int64_t map_next;      /* map the first segment with base >= this */
	int64_t map_limit;     /* the first uncleanable offset at the start */
	int64_t map_end;       /* first offset not mapped (a segment base),
				* -1 while mapping */
	int64_t next_base;     /* rewrite the first segment with base >= this */
	bool codec_logged;     /* said once that a codec is unreadable */
	struct clean_stats stats;
};

/* One record as the filter sees it: its raw bytes and what decides it. */
struct clean_record {
	const uint8_t *raw; /* borrowed: length varint through headers */
	size_t raw_len;
	struct wire_record rec;
};

/* The records of one batch, uncompressed, with the header they belong to:
 * a view of the batch itself, or of an inflated copy in owned. */
struct clean_records {
	struct seg_batch b;
	const uint8_t *batch; /* borrowed: header + uncompressed records */
	size_t len;
	struct kb_buf owned;  /* owned: the inflated copy, if any */
};

/* ---- Prototypes of the static helpers, in reading order ---- */

static int clean_map_step(struct clean_pass *p, const struct log *log);
static int clean_map_segment(struct clean_pass *p, const struct segment *seg);
static int clean_segment_rewrite(struct clean_pass *p, struct log *log,
				 size_t i);
static int clean_filter_segment(struct clean_pass *p,
				const struct segment *seg, int fd);
static int clean_filter_batch(struct clean_pass *p, const struct segment *seg,
			      const uint8_t *batch, struct kb_buf *out);
static int clean_filter_records(struct clean_pass *p,
				const struct segment *seg,
				const struct clean_records *rs,
				struct clean_record *kept, int32_t *n);
static void clean_say_kept_whole(struct clean_pass *p,
				 const struct segment *seg,
				 const uint8_t *batch);
static bool clean_keep(struct clean_pass *p, const struct segment *seg,
		       const struct wire_record *rec);
static int clean_batch_write(const struct clean_records *rs,
			     const struct clean_record *kept, int32_t n,
			     struct kb_buf *out);
static int clean_records_open(const uint8_t *batch, size_t len,
			      struct clean_records *rs);
static int clean_inflate(const uint8_t *src, size_t len, struct kb_buf *out);
static int clean_map_init(struct clean_map *m);
static int clean_map_put(struct clean_map *m, struct wire_bytes key,
			 int64_t offset);
static const struct clean_slot *clean_map_get(const struct clean_map *m,
					      struct wire_bytes key);
static size_t clean_map_bytes(const struct clean_map *m);
static void clean_map_fini(struct clean_map *m);
static size_t clean_first_segment(const struct log *log, int64_t offset);
static size_t clean_segment_at(const struct log *log, int64_t base);
static int clean_write_all(int fd, const void *p, size_t len,
			   const char *path);
static int clean_read_batch(const struct segment *seg, uint64_t pos,
			    const struct seg_batch *b, struct kb_buf *buf);

/* ---- Configuration and sections ---- */

void clean_config_defaults(struct clean_config *cfg)
{
	cfg->min_cleanable_dirty_ratio = CLEAN_DEFAULT_MIN_DIRTY_RATIO;
	cfg->min_compaction_lag_ms = 0;
	cfg->delete_retention_ms = CLEAN_DEFAULT_DELETE_RETENTION_MS;
	cfg->map_max_bytes = CLEAN_DEFAULT_MAP_BYTES;
}

/* KAFKA: LogCleanerManager.cleanableOffsets. The dirty section ends at the
 * active segment (INVARIANT 1), or earlier at the first segment whose
 * largest timestamp is younger than min.compaction.lag.ms. */
void clean_sections_find(const struct log *log, const struct clean_config *cfg,
			 int64_t first_dirty, int64_t now_ms,
			 struct clean_sections *out)
{
	int64_t leo = log_end_offset(log);
	if (first_dirty < log->log_start_offset || first_dirty > leo)
		first_dirty = log->log_start_offset;
	*out = (struct clean_sections){first_dirty, leo, 0, 0, 0.0};
	size_t i = 0;
	for (; i + 1 < log->nsegs; i++) {
		const struct segment *seg = log->segs[i].seg;
		bool dirty = log->segs[i + 1].seg->base_offset > first_dirty;
		if (dirty && cfg->min_compaction_lag_ms > 0 &&
		    now_ms - seg->max_timestamp < cfg->min_compaction_lag_ms)
			break;
		if (dirty)
			out->dirty_bytes += seg->size;
		else
			out->clean_bytes += seg->size;
	}
	out->first_uncleanable = log->segs[i].seg->base_offset;
	uint64_t total = out->clean_bytes + out->dirty_bytes;
	out->dirty_ratio = total ? (double)out->dirty_bytes / (double)total : 0;
}

/* ---- One pass: the offset map ---- */

/* KAFKA: Cleaner.doClean, first half: pick the range, build the map. */
int clean_pass_new(const struct log *log, const struct clean_config *cfg,
		   int64_t first_dirty, int64_t now_ms, struct clean_pass **out)
{
	struct clean_sections s;
	*out = NULL;
	clean_sections_find(log, cfg, first_dirty, now_ms, &s);
	if (s.dirty_bytes == 0 ||
	    s.dirty_ratio < cfg->min_cleanable_dirty_ratio)
		return KB_ERR_NOTFOUND;
	struct clean_pass *p = calloc(1, sizeof *p);
	if (!p)
		return KB_ERR_NOMEM;
	p->cfg = *cfg;
	p->now_ms = now_ms;
	p->first_dirty = s.first_dirty;
	p->mapping = true;
	p->map_next = log->segs[clean_first_segment(log, s.first_dirty)]
			      .seg->base_offset;
	p->map_limit = s.first_uncleanable;
	p->map_end = -1;
	p->next_base = log->segs[0].seg->base_offset;
	if (clean_map_init(&p->map) != KB_OK) {
		clean_pass_free(p);
		return KB_ERR_NOMEM;
	}
	*out = p;
	return KB_OK;
}

/* Map the next dirty segment (INVARIANT 5: one per step). The map ends
 * before the first uncleanable segment, or once it holds map_max_bytes
 * (but after one segment at least); map_end is then the base of the
 * first segment not mapped, and the pass moves on to rewriting. */
static int clean_map_step(struct clean_pass *p, const struct log *log)
{
	size_t i = clean_segment_at(log, p->map_next);
	const struct segment *seg = log->segs[i].seg;
	bool full = p->stats.segments_mapped > 0 &&
		    clean_map_bytes(&p->map) >= p->cfg.map_max_bytes;
	if (i + 1 == log->nsegs || seg->base_offset >= p->map_limit || full) {
		p->mapping = false;
		p->map_end = KB_MIN(seg->base_offset, p->map_limit);
		return KB_OK;
	}
	p->map_next = seg->base_offset + 1;
	p->stats.segments_mapped++;
	return clean_map_segment(p, seg);
}

/* Put every keyed record of seg in the map; later offsets overwrite
 * earlier ones, which is the whole of "latest per key". A batch we cannot
 * read (another codec, a control batch) adds nothing: its records are
 * kept, and keeping them can never hide a later value. */
static int clean_map_segment(struct clean_pass *p, const struct segment *seg)
{
	struct seg_scan scan;
	struct seg_batch b;
	struct kb_buf buf;
	uint64_t pos = 0;
	int rc;
	seg_scan_init(&scan, seg);
	kb_buf_init(&buf);
	while ((rc = seg_scan_batch(&scan, pos, &b)) == KB_OK) {
		struct clean_records rs;
		struct wire_records it;
		struct wire_record rec;
		if ((rc = clean_read_batch(seg, pos, &b, &buf)) != KB_OK)
			break;
		pos += seg_batch_size(&b);
		if ((rc = clean_records_open(buf.data, buf.len, &rs)) ==
		    KB_ERR_AGAIN)
			continue; /* kept whole, maps nothing */
		if (rc == KB_OK)
			rc = wire_records_init(&it, rs.batch, rs.len);
		while (rc == KB_OK &&
		       (rc = wire_records_next(&it, &rec)) == KB_OK)
			if (rec.key.len >= 0)
				rc = clean_map_put(&p->map, rec.key,
						   rec.offset);
		kb_buf_fini(&rs.owned);
		if (rc != KB_ERR_NOTFOUND)
			break;
	}
	kb_buf_fini(&buf);
	return rc == KB_ERR_RANGE ? KB_OK : rc;
}

/* ---- One pass: rewriting segments ---- */

/* KAFKA: Cleaner.cleanSegments, one segment per call (INVARIANT 5),
 * after the calls that built the map. A segment is found again by its
 * base offset: retention may have deleted segments since the last step,
 * appends may have rolled new ones. */
int clean_pass_step(struct clean_pass *p, struct log *log, bool *done)
{
	*done = false;
	int64_t mapped = p->mapping ? p->map_next : p->map_end;
	if (log_end_offset(log) < mapped)
		return KB_ERR_AGAIN; /* truncated under us */
	if (p->mapping) {
		int rc = clean_map_step(p, log);
		if (rc != KB_OK || p->mapping)
			return rc;
	}
	size_t i = clean_segment_at(log, p->next_base);
	/* INVARIANT 1: the map ends at or before the active segment. */
	if (i + 1 >= log->nsegs ||
	    log->segs[i].seg->base_offset >= p->map_end) {
		*done = true;
		return KB_OK;
	}
	p->next_base = log->segs[i].seg->base_offset + 1;
	return clean_segment_rewrite(p, log, i);
}

/* Filter segs[i] into <base>.log.cleaned, swap it in, and drop it if
 * nothing survived. */
static int clean_segment_rewrite(struct clean_pass *p, struct log *log,
				 size_t i)
{
	const struct segment *seg = log->segs[i].seg;
	char cleaned[CLEAN_PATH_MAX];
	if (seg_file_name(cleaned, sizeof cleaned, log->dir, seg->base_offset,
			  SEG_LOG_SUFFIX ".cleaned") != KB_OK)
		return KB_ERR_INVAL;
	int fd = open(cleaned, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		KB_ERROR("open %s: %s", cleaned, strerror(errno));
		return KB_ERR_IO;
	}
	uint64_t kept_before = p->stats.bytes_after;
	int rc = clean_filter_segment(p, seg, fd);
	if (rc == KB_OK && fsync(fd) != 0) {
		KB_ERROR("fsync %s: %s", cleaned, strerror(errno));
		rc = KB_ERR_IO;
	}
	close(fd);
	if (rc == KB_OK) {
		p->stats.segments++;
		p->stats.bytes_before += seg->size;
	}
	if (rc == KB_OK) {
		clean_swap_done(CLEAN_STEP_CLEANED_WRITTEN);
		rc = clean_swap_in(log, i, cleaned);
		/* Nothing survived: an empty file would only pile up. */
		if (rc == KB_OK && p->stats.bytes_after == kept_before &&
		    i > 0)
			rc = log_drop_empty_segment(log, i);
		return rc;
	}
	unlink(cleaned);
	return rc;
}

/* Every batch of seg through clean_filter_batch, written to fd in chunks
 * of about CLEAN_WRITE_CHUNK bytes. */
static int clean_filter_segment(struct clean_pass *p,
				const struct segment *seg, int fd)
{
	struct seg_scan scan;
	struct seg_batch b;
	struct kb_buf in, out;
	uint64_t pos = 0;
	int rc;
	seg_scan_init(&scan, seg);
	kb_buf_init(&in);
	kb_buf_init(&out);
	while ((rc = seg_scan_batch(&scan, pos, &b)) == KB_OK) {
		if ((rc = clean_read_batch(seg, pos, &b, &in)) != KB_OK ||
		    (rc = clean_filter_batch(p, seg, in.data, &out)) != KB_OK)
			break;
		pos += seg_batch_size(&b);
		if (out.len >= CLEAN_WRITE_CHUNK) {
			p->stats.bytes_after += out.len;
			if ((rc = clean_write_all(fd, out.data, out.len,
						  seg->path)) != KB_OK)
				break;
			out.len = 0;
		}
	}
	if (rc == KB_ERR_RANGE) {
		p->stats.bytes_after += out.len;
		rc = clean_write_all(fd, out.data, out.len, seg->path);
	}
	kb_buf_fini(&in);
	kb_buf_fini(&out);
	return rc;
}

/* KAFKA: MemoryRecords.filterTo. A batch whose records all survive is
 * copied byte for byte (still compressed, same CRC); one that loses some
 * is rebuilt from the survivors; one that loses all is dropped. Control
 * batches and codecs we cannot read are copied whole. */
static int clean_filter_batch(struct clean_pass *p, const struct segment *seg,
			      const uint8_t *batch, struct kb_buf *out)
{
	struct clean_records rs;
	struct clean_record *kept = NULL;
	size_t len = (size_t)kb_get_be32(batch + SEG_OFF_BATCH_LENGTH) +
		     SEG_LOG_OVERHEAD;
	int32_t n = 0;
	int rc = clean_records_open(batch, len, &rs);
	if (rc == KB_ERR_AGAIN) {
		clean_say_kept_whole(p, seg, batch);
		return kb_buf_append(out, batch, len);
	}
	if (rc == KB_OK && !(kept = calloc((size_t)rs.b.records_count + 1,
					   sizeof *kept)))
		rc = KB_ERR_NOMEM;
	if (rc == KB_OK)
		rc = clean_filter_records(p, seg, &rs, kept, &n);
	if (rc == KB_OK) {
		if (n == rs.b.records_count)
			rc = kb_buf_append(out, batch, len);
		else if (n > 0)
			rc = clean_batch_write(&rs, kept, n, out);
	}
	free(kept);
	kb_buf_fini(&rs.owned);
	return rc;
}

/* Decode every record of rs; the ones clean_keep keeps go to kept[0, *n)
 * with their raw bytes (the iterator's position before and after). */
static int clean_filter_records(struct clean_pass *p,
				const struct segment *seg,
				const struct clean_records *rs,
				struct clean_record *kept, int32_t *n)
{
	struct wire_records it;
	int32_t read = 0;
	int rc = wire_records_init(&it, rs->batch, rs->len);
	*n = 0;
	while (rc == KB_OK) {
		size_t before = it.r.pos;
		struct clean_record *cr = &kept[*n];
		if ((rc = wire_records_next(&it, &cr->rec)) != KB_OK)
			break;
		read++;
		cr->raw = it.r.p + before;
		cr->raw_len = it.r.pos - before;
		if (clean_keep(p, seg, &cr->rec))
			(*n)++;
	}
	if (rc != KB_ERR_NOTFOUND)
		return rc;
	p->stats.records_read += read;
	p->stats.records_kept += *n;
	return KB_OK;
}

/* Count a batch kept whole; say once per pass when it is for a codec
 * samsa has no library for (no snappy, lz4 or zstd: zlib only). */
static void clean_say_kept_whole(struct clean_pass *p,
				 const struct segment *seg,
				 const uint8_t *batch)
{
	int codec = kb_get_be16(batch + SEG_OFF_ATTRIBUTES) &
		    SEG_ATTR_COMPRESSION_MASK;
	p->stats.batches_kept_whole++;
	if (codec <= CLEAN_GZIP || p->codec_logged)
		return;
	p->codec_logged = true;
	KB_INFO("cleaner: %s: the batch at offset %" PRId64 " is compressed "
		"with codec %d (snappy, lz4 or zstd), which samsa cannot read: "
		"it and any like it are kept as they are", seg->path,
		(int64_t)kb_get_be64(batch + SEG_OFF_BASE_OFFSET), codec);
}

/* INVARIANTS 2 and 3: should this record survive? */
static bool clean_keep(struct clean_pass *p, const struct segment *seg,
		       const struct wire_record *rec)
{
	/* KAFKA: a record of a compacted topic needs a key. */
	if (rec->key.len < 0)
		return false;
	const struct clean_slot *s = clean_map_get(&p->map, rec->key);
	if (s && rec->offset < s->offset)
		return false; /* a later record has this key */
	if (rec->value.len >= 0)
		return true;
	/* A tombstone: gone once it survived a pass and aged enough. */
	bool was_clean = rec->offset < p->first_dirty;
	bool aged = seg->max_timestamp <
		    p->now_ms - p->cfg.delete_retention_ms;
	if (was_clean && aged) {
		p->stats.tombstones_removed++;
		return false;
	}
	return true;
}

/* A new batch of the kept records: the old header with the same base
 * offset, base timestamp, producer id, epoch and sequence, so each
 * record's raw bytes (offset and timestamp deltas) stay right as they
 * are. Only the length, the count, the last offset delta, the max
 * timestamp, the compression bits and the CRC change. */
static int clean_batch_write(const struct clean_records *rs,
			     const struct clean_record *kept, int32_t n,
			     struct kb_buf *out)
{
	size_t at = out->len, len = SEG_BATCH_HEADER_LEN;
	int64_t max_ts = kept[0].rec.timestamp;
	for (int32_t i = 0; i < n; i++) {
		len += kept[i].raw_len;
		max_ts = KB_MAX(max_ts, kept[i].rec.timestamp);
	}
	if (rs->b.attributes & SEG_ATTR_LOG_APPEND_TIME)
		max_ts = rs->b.max_timestamp;
	int rc = kb_buf_append(out, rs->batch, SEG_BATCH_HEADER_LEN);
	for (int32_t i = 0; rc == KB_OK && i < n; i++)
		rc = kb_buf_append(out, kept[i].raw, kept[i].raw_len);
	if (rc != KB_OK)
		return rc;
	uint8_t *h = out->data + at;
	uint16_t attrs =
		(uint16_t)(rs->b.attributes & ~SEG_ATTR_COMPRESSION_MASK);
	kb_put_be32(h + SEG_OFF_BATCH_LENGTH,
		    (uint32_t)(len - SEG_LOG_OVERHEAD));
	kb_put_be16(h + SEG_OFF_ATTRIBUTES, attrs);
	kb_put_be32(h + SEG_OFF_LAST_OFFSET_DELTA,
		    (uint32_t)kept[n - 1].rec.offset_delta);
	kb_put_be64(h + SEG_OFF_MAX_TIMESTAMP, (uint64_t)max_ts);
	kb_put_be32(h + SEG_OFF_RECORDS_COUNT, (uint32_t)n);
	kb_put_be32(h + SEG_OFF_CRC, seg_crc32c(0, h + SEG_OFF_ATTRIBUTES,
						len - SEG_OFF_ATTRIBUTES));
	return KB_OK;
}

/* A view of the batch's records, uncompressed: the batch itself, or a
 * copy with the gzip blob inflated behind the same header (compression
 * bits cleared). KB_ERR_AGAIN for a batch to keep whole: control, or a
 * codec without its library here, or an inflated size over the guard. */
static int clean_records_open(const uint8_t *batch, size_t len,
			      struct clean_records *rs)
{
	kb_buf_init(&rs->owned);
	int rc = seg_batch_validate(batch, len, &rs->b, NULL);
	if (rc != KB_OK)
		return rc;
	int codec = rs->b.attributes & SEG_ATTR_COMPRESSION_MASK;
	rs->batch = batch;
	rs->len = len;
	if (rs->b.attributes & SEG_ATTR_CONTROL)
		return KB_ERR_AGAIN;
	if (codec == 0)
		return KB_OK;
	if (codec != CLEAN_GZIP)
		return KB_ERR_AGAIN;
	rc = kb_buf_append(&rs->owned, batch, SEG_BATCH_HEADER_LEN);
	if (rc == KB_OK)
		rc = clean_inflate(batch + SEG_BATCH_HEADER_LEN,
				   len - SEG_BATCH_HEADER_LEN, &rs->owned);
	if (rc != KB_OK) {
		kb_buf_fini(&rs->owned);
		return rc == KB_ERR_TOO_LARGE ? KB_ERR_AGAIN : rc;
	}
	uint8_t *h = rs->owned.data;
	kb_put_be32(h + SEG_OFF_BATCH_LENGTH,
		    (uint32_t)(rs->owned.len - SEG_LOG_OVERHEAD));
	kb_put_be16(h + SEG_OFF_ATTRIBUTES, (uint16_t)(rs->b.attributes &
				~SEG_ATTR_COMPRESSION_MASK));
	rs->batch = rs->owned.data;
	rs->len = rs->owned.len;
	return KB_OK;
}

/* Inflate a gzip stream (KAFKA: GzipCompression) onto out, at most
 * CLEAN_MAX_INFLATED bytes. */
static int clean_inflate(const uint8_t *src, size_t len, struct kb_buf *out)
{
	z_stream zs;
	memset(&zs, 0, sizeof zs);
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
		return KB_ERR_NOMEM;
	zs.next_in = (Bytef *)(uintptr_t)src;
	zs.avail_in = (uInt)len;
	size_t start = out->len;
	int zrc = Z_OK, rc = KB_OK;
	while (rc == KB_OK && zrc == Z_OK) {
		if (out->len - start > CLEAN_MAX_INFLATED)
			rc = KB_ERR_TOO_LARGE;
		else if ((rc = kb_buf_reserve(out, 64 * 1024)) == KB_OK) {
			zs.next_out = out->data + out->len;
			zs.avail_out = (uInt)(out->cap - out->len);
			zrc = inflate(&zs, Z_NO_FLUSH);
			out->len = out->cap - zs.avail_out;
		}
	}
	inflateEnd(&zs);
	if (rc == KB_OK && zrc != Z_STREAM_END)
		rc = KB_ERR_CORRUPT;
	return rc;
}

/* ---- A pass, whole ---- */

int64_t clean_pass_end(const struct clean_pass *p) { return p->map_end; }

const struct clean_stats *clean_pass_stats(const struct clean_pass *p)
{
	return &p->stats;
}

void clean_pass_free(struct clean_pass *p)
{
	if (!p)
		return;
	clean_map_fini(&p->map);
	free(p);
}

int clean_log(struct log *log, const struct clean_config *cfg,
	      int64_t *first_dirty, int64_t now_ms, struct clean_stats *st)
{
	struct clean_pass *p;
	bool done = false;
	int rc = clean_pass_new(log, cfg, *first_dirty, now_ms, &p);
	while (rc == KB_OK && !done)
		rc = clean_pass_step(p, log, &done);
	if (rc == KB_OK)
		*first_dirty = clean_pass_end(p);
	if (p && st)
		*st = p->stats;
	clean_pass_free(p);
	return rc;
}

/* ---- The offset map ---- */

/* FNV-1a, 64 bits; never 0, which marks an empty slot. */
static uint64_t clean_hash(struct wire_bytes key)
{
	uint64_t h = 14695981039346656037ULL;
	for (int32_t i = 0; i < key.len; i++)
		h = (h ^ key.p[i]) * 1099511628211ULL;
	return h ? h : 1;
}

static int clean_map_init(struct clean_map *m)
{
	kb_buf_init(&m->keys);
	m->used = 0;
	m->nslots = CLEAN_MAP_MIN_SLOTS;
	m->slots = calloc(m->nslots, sizeof *m->slots);
	return m->slots ? KB_OK : KB_ERR_NOMEM;
}

/* The slot of key, or the empty slot where it would go. */
static struct clean_slot *clean_map_probe(const struct clean_map *m,
					  struct wire_bytes key, uint64_t h)
{
	size_t i = (size_t)h & (m->nslots - 1);
	for (;; i = (i + 1) & (m->nslots - 1)) {
		struct clean_slot *s = &m->slots[i];
		if (s->hash == 0)
			return s;
		if (s->hash == h && s->key_len == (uint32_t)key.len &&
		    !memcmp(m->keys.data + s->key_at, key.p, (size_t)key.len))
			return s;
	}
}

/* Double the slots and put every entry back. */
static int clean_map_grow(struct clean_map *m)
{
	struct clean_map bigger = *m;
	bigger.nslots = m->nslots * 2;
	if (!(bigger.slots = calloc(bigger.nslots, sizeof *bigger.slots)))
		return KB_ERR_NOMEM;
	for (size_t i = 0; i < m->nslots; i++) {
		const struct clean_slot *s = &m->slots[i];
		struct wire_bytes k = {m->keys.data + s->key_at,
				       (int32_t)s->key_len};
		if (s->hash)
			*clean_map_probe(&bigger, k, s->hash) = *s;
	}
	free(m->slots);
	*m = bigger;
	return KB_OK;
}

/* key -> offset; a later put of the same key wins. */
static int clean_map_put(struct clean_map *m, struct wire_bytes key,
			 int64_t offset)
{
	if (2 * (m->used + 1) > m->nslots && clean_map_grow(m) != KB_OK)
		return KB_ERR_NOMEM;
	uint64_t h = clean_hash(key);
	struct clean_slot *s = clean_map_probe(m, key, h);
	if (s->hash == 0) {
		size_t at = m->keys.len;
		if (kb_buf_append(&m->keys, key.p, (size_t)key.len) != KB_OK)
			return KB_ERR_NOMEM;
		*s = (struct clean_slot){h, offset, at, (uint32_t)key.len};
		m->used++;
		return KB_OK;
	}
	s->offset = KB_MAX(s->offset, offset);
	return KB_OK;
}

static const struct clean_slot *clean_map_get(const struct clean_map *m,
					      struct wire_bytes key)
{
	const struct clean_slot *s = clean_map_probe(m, key, clean_hash(key));
	return s->hash ? s : NULL;
}

/* Memory the map holds, against log.cleaner.dedupe.buffer.size. */
static size_t clean_map_bytes(const struct clean_map *m)
{
	return m->nslots * sizeof *m->slots + m->keys.len;
}

static void clean_map_fini(struct clean_map *m)
{
	free(m->slots);
	m->slots = NULL;
	kb_buf_fini(&m->keys);
}

/* ---- Small helpers ---- */

/* The segment holding offset: the last whose base is <= offset (the
 * first segment when offset is below them all). */
static size_t clean_first_segment(const struct log *log, int64_t offset)
{
	size_t i = 0;
	while (i + 1 < log->nsegs &&
	       log->segs[i + 1].seg->base_offset <= offset)
		i++;
	return i;
}

/* The first segment whose base is >= base; the active one if none. */
static size_t clean_segment_at(const struct log *log, int64_t base)
{
	size_t i = 0;
	while (i + 1 < log->nsegs && log->segs[i].seg->base_offset < base)
		i++;
	return i;
}

/* Write all of p to fd, retrying short writes. */
static int clean_write_all(int fd, const void *p, size_t len,
			   const char *path)
{
	const uint8_t *b = p;
	while (len > 0) {
		ssize_t n = write(fd, b, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			KB_ERROR("write cleaned copy of %s: %s", path,
				 strerror(errno));
			return KB_ERR_IO;
		}
		b += n;
		len -= (size_t)n;
	}
	return KB_OK;
}

/* Read the whole batch b at pos of seg into buf (replacing its bytes). */
static int clean_read_batch(const struct segment *seg, uint64_t pos,
			    const struct seg_batch *b, struct kb_buf *buf)
{
	size_t len = (size_t)seg_batch_size(b), got = 0;
	buf->len = 0;
	int rc = kb_buf_reserve(buf, len);
	if (rc == KB_OK)
		rc = seg_read(seg, pos, buf->data, len, &got);
	if (rc == KB_OK && got != len)
		rc = KB_ERR_CORRUPT;
	buf->len = rc == KB_OK ? len : 0;
	return rc;
}
