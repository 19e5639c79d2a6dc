/* SPDX-License-Identifier: MIT */
/*
 * Chapter 10 — compaction, part 3: one cleaning pass, in bounded steps.
 *
 * Concept: a compacted topic is a table: only the last record of each key
 *   matters. A pass maps the dirty section (key -> latest offset,
 *   10_offset_map.c), then rewrites each older segment keeping a record
 *   only if no later record has its key, and swaps the copy in
 *   (10_swap.c). Offsets never change. A tombstone (null value) outlives
 *   the values it hides for delete.retention.ms, then goes too. The pass
 *   runs on the reactor, so it works in steps of at most CLEAN_STEP_WORK
 *   bytes read, inflated, copied or scanned: a gzip batch that inflates
 *   to 64 MiB is read over many steps, never in one (docs say why not a
 *   thread).
 * Kafka: Cleaner.doClean/cleanSegments, LogCleanerManager.cleanableOffsets,
 *   MemoryRecords.filterTo; cleanup.policy=compact, min.cleanable.dirty.
 *   ratio, min.compaction.lag.ms, delete.retention.ms.
 * Interface:
 *   - clean_pass_new if the log is dirty enough; clean_pass_step until
 *     *done; clean_pass_end is the next first dirty offset; free it.
 *   - Between steps the log may grow, roll or lose old segments; a log
 *     cut below the mapped end makes a step return KB_ERR_AGAIN.
 *   - Do not keep a segment pointer across a step: segments are replaced.
 * Invariants:
 *   1. The active segment, and segments at or above the first
 *      uncleanable offset, are never rewritten.
 *   2. A record survives if no later record in the mapped range has its
 *      key; it keeps its offset, its batch its base offset and producer.
 *   3. A tombstone goes only if it was in the clean section at the start
 *      and its segment is older than now - delete.retention.ms.
 *   4. A segment is never written in place (10_swap.c).
 *   5. A step does at most CLEAN_STEP_WORK work (plus one record's cost).
 * Simplifications: docs/10_compaction.md (no segment merging, no KIP-534
 *   horizon, gzip only, a rebuilt batch is uncompressed).
 * See also: docs/10_compaction.md, diagrams/10_compaction.dot,
 *   tests/10_compaction_test.c; read before: 10_offset_map.c, 10_swap.c.
 *   Uses chapters 00 (base), 01 (segment), 03 (log), 04 (codec).
 */
#include <assert.h>
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
 * a larger one is kept whole, and inflating stops as soon as it passes. */
#define CLEAN_MAX_INFLATED ((size_t)64 * 1024 * 1024)
/* Work charged for one record scanned, on top of its key's bytes (hashed):
 * so a batch of a million tiny records costs what its count says. */
#define CLEAN_RECORD_COST 64
/* A buffer of the walk above this many bytes is freed after its batch. */
#define CLEAN_KEEP_BUF_BYTES (4 * 1024 * 1024)
#define CLEAN_GZIP 1 /* compression type 1 in the batch attributes */
/* Where the walk over one batch is: each stage is resumed at the next
 * step when the budget ran out inside it. */
enum clean_stage {
	CLEAN_AT_HEADER, /* decode the next batch header (or segment end) */
	CLEAN_READING,   /* read the batch's bytes, CRC-32C as they come */
	CLEAN_INFLATING, /* gzip: inflate the records area, in chunks */
	CLEAN_SCANNING,  /* one record after another: map, or filter */
	CLEAN_EMITTING   /* rewrite only: copy the batch or its survivors */
};

/* A survivor of the batch being filtered: where its bytes are in the
 * records view, and what the rebuilt header needs from it. */
struct clean_kept {
	size_t at, len;
	int32_t offset_delta;
	int64_t timestamp;
};

/* KAFKA: the state Cleaner.cleanInto keeps between two reads, made
 * resumable: one segment, one batch in hand. Positions and offsets only;
 * the segment is found again by its base offset at every step. */
struct clean_walk {
	int64_t base;            /* the segment walked; -1: none */
	uint64_t pos;            /* file position of the batch in hand */
	enum clean_stage stage;
	struct seg_scan scan;    /* header buffer; seg re-pointed each step */
	struct seg_batch b;      /* header of the batch in hand */
	struct kb_buf raw;       /* owned: the batch as on disk, so far */
	uint32_t crc;            /* CRC-32C of raw[21, raw.len) */
	z_stream zs;             /* the inflater while CLEAN_INFLATING */
	bool zs_live;
	struct kb_buf plain;     /* owned: header + inflated records */
	const uint8_t *view;     /* borrowed: raw or plain, uncompressed */
	size_t view_len;
	struct wire_records it;  /* over view while CLEAN_SCANNING */
	int32_t read;            /* records scanned in this batch */
	bool whole;              /* emit the batch as it is on disk */
	struct kb_buf kept;      /* owned: struct clean_kept[] survivors */
	uint8_t hdr[SEG_BATCH_HEADER_LEN]; /* the rebuilt batch's header */
	size_t emit_i;           /* next piece to emit: 0 header, k survivor */
	size_t emit_off;         /* bytes of that piece already emitted */
	uint64_t hdr_at;         /* output position of the rebuilt header */
	uint32_t out_crc;        /* CRC-32C of the rebuilt batch so far */
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
	struct clean_walk walk; /* owned: the segment in hand */
	int fd;                /* owned: the .cleaned file being written, -1 */
	char cleaned[CLEAN_PATH_MAX]; /* its path */
	struct kb_buf out;     /* owned: output not yet written to fd */
	uint64_t out_flushed;  /* bytes of output already written to fd */
	uint64_t work;         /* work done in this step, against the budget */
	uint64_t record_cost;  /* charge of the last record scanned */
	bool codec_logged;     /* said once that a codec is unreadable */
	bool large_logged;     /* said once that a batch inflates too much */
	struct clean_hook hook; /* crash tests: after each durable step */
	struct clean_stats stats;
};

/* ---- Prototypes of the static helpers, in reading order ---- */

static int clean_map_some(struct clean_pass *p, const struct log *log);
static int clean_rewrite_some(struct clean_pass *p, struct log *log,
			      bool *done);
static int clean_rewrite_start(struct clean_pass *p, struct log *log, size_t i);
static int clean_rewrite_finish(struct clean_pass *p, struct log *log,
				size_t i);
static void clean_rewrite_abandon(struct clean_pass *p);
static const struct segment *clean_walk_segment(struct clean_pass *p,
						const struct log *log,
						size_t *i);
static int clean_walk_unit(struct clean_pass *p, const struct segment *seg);
static int clean_unit_header(struct clean_pass *p, const struct segment *seg);
static int clean_unit_read(struct clean_pass *p, const struct segment *seg);
static int clean_records_ready(struct clean_pass *p, const struct segment *seg);
static int clean_unit_inflate(struct clean_pass *p, const struct segment *seg);
static int clean_unit_scan(struct clean_pass *p, const struct segment *seg);
static int clean_batch_scanned(struct clean_pass *p);
static void clean_rebuilt_header(struct clean_pass *p);
static int clean_unit_emit(struct clean_pass *p);
static void clean_batch_done(struct clean_walk *w);
static bool clean_keep(struct clean_pass *p, const struct segment *seg,
		       const struct wire_record *rec);
static void clean_say_kept_whole(struct clean_pass *p,
				 const struct segment *seg, const char *why);
static int clean_out_flush(struct clean_pass *p, bool all);
static int clean_out_crc(struct clean_pass *p);
static void clean_walk_reset(struct clean_walk *w, int64_t base);
static size_t clean_first_segment(const struct log *log, int64_t offset);
static size_t clean_segment_at(const struct log *log, int64_t base);
static int clean_write_all(int fd, const void *p, size_t len, const char *path);

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
			 struct clean_at at, struct clean_sections *out)
{
	int64_t first_dirty = at.first_dirty, now_ms = at.now_ms;
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

/* ---- One pass, in steps ---- */

/* KAFKA: Cleaner.doClean, first half: pick the range. */
int clean_pass_new(const struct log *log, const struct clean_config *cfg,
		   struct clean_at at, struct clean_pass **out)
{
	struct clean_sections s;
	*out = NULL;
	clean_sections_find(log, cfg, at, &s);
	if (s.dirty_bytes == 0 ||
	    s.dirty_ratio < cfg->min_cleanable_dirty_ratio)
		return KB_ERR_NOTFOUND;
	struct clean_pass *p = calloc(1, sizeof *p);
	if (!p)
		return KB_ERR_NOMEM;
	p->cfg = *cfg;
	p->now_ms = at.now_ms;
	p->first_dirty = s.first_dirty;
	p->mapping = true;
	p->map_next = log->segs[clean_first_segment(log, s.first_dirty)]
			      .seg->base_offset;
	p->map_limit = s.first_uncleanable;
	p->map_end = -1;
	p->next_base = log->segs[0].seg->base_offset;
	p->fd = -1;
	clean_walk_reset(&p->walk, -1);
	kb_buf_init(&p->out);
	if (clean_map_init(&p->map) != KB_OK) {
		clean_pass_free(p);
		return KB_ERR_NOMEM;
	}
	*out = p;
	return KB_OK;
}

/* INVARIANT 5: work until the step's budget, CLEAN_STEP_WORK, is spent:
 * bytes read, inflated, copied, plus CLEAN_RECORD_COST per record. The
 * first steps build the map, the next ones rewrite. */
int clean_pass_step(struct clean_pass *p, struct log *log, bool *done)
{
	*done = false;
	int64_t mapped = p->mapping ? p->map_next : p->map_end;
	if (log_end_offset(log) < mapped)
		return KB_ERR_AGAIN; /* truncated under us */
	int rc = KB_OK;
	p->work = p->record_cost = 0;
	while (rc == KB_OK && !*done && p->work < CLEAN_STEP_WORK)
		rc = p->mapping ? clean_map_some(p, log)
				: clean_rewrite_some(p, log, done);
	p->stats.work_max_step = KB_MAX(p->stats.work_max_step, p->work);
	clean_pass_check(p);
	return rc;
}

/* Map some of the next dirty segment. The map ends before the first
 * uncleanable segment, or once it holds map_max_bytes (but after one
 * segment at least); map_end is then the base of the first segment not
 * mapped, and the pass moves on to rewriting. */
static int clean_map_some(struct clean_pass *p, const struct log *log)
{
	size_t i;
	const struct segment *seg = clean_walk_segment(p, log, &i);
	if (seg) {
		int rc = clean_walk_unit(p, seg);
		if (rc == KB_ERR_RANGE)
			clean_walk_reset(&p->walk, -1); /* segment mapped */
		return rc == KB_ERR_RANGE ? KB_OK : rc;
	}
	i = clean_segment_at(log, p->map_next);
	seg = log->segs[i].seg;
	bool full = p->stats.segments_mapped > 0 &&
		    clean_map_bytes(&p->map) >= p->cfg.map_max_bytes;
	if (i + 1 == log->nsegs || seg->base_offset >= p->map_limit || full) {
		p->mapping = false;
		p->map_end = KB_MIN(seg->base_offset, p->map_limit);
		return KB_OK;
	}
	p->map_next = seg->base_offset + 1;
	p->stats.segments_mapped++;
	clean_walk_reset(&p->walk, seg->base_offset);
	return KB_OK;
}

/* KAFKA: Cleaner.cleanSegments, some of one segment per call. A segment
 * is found again by its base offset: retention may have deleted segments
 * since the last step, appends may have rolled new ones. */
static int clean_rewrite_some(struct clean_pass *p, struct log *log,
			      bool *done)
{
	size_t i;
	const struct segment *seg = clean_walk_segment(p, log, &i);
	if (seg) {
		int rc = clean_walk_unit(p, seg);
		return rc == KB_ERR_RANGE ? clean_rewrite_finish(p, log, i)
					  : rc;
	}
	i = clean_segment_at(log, p->next_base);
	/* INVARIANT 1: the map ends at or before the active segment. */
	if (i + 1 >= log->nsegs ||
	    log->segs[i].seg->base_offset >= p->map_end) {
		*done = true;
		return KB_OK;
	}
	p->next_base = log->segs[i].seg->base_offset + 1;
	return clean_rewrite_start(p, log, i);
}

/* Open <base>.log.cleaned for segs[i] and start walking it. */
static int clean_rewrite_start(struct clean_pass *p, struct log *log,
			       size_t i)
{
	const struct segment *seg = log->segs[i].seg;
	struct seg_file cleaned = {log->dir, seg->base_offset,
				   SEG_LOG_SUFFIX ".cleaned"};
	if (seg_file_name(p->cleaned, sizeof p->cleaned, cleaned) != KB_OK)
		return KB_ERR_INVAL;
	p->fd = open(p->cleaned, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		     0644);
	if (p->fd < 0) {
		KB_ERROR("open %s: %s", p->cleaned, strerror(errno));
		return KB_ERR_IO;
	}
	p->out.len = 0;
	p->out_flushed = 0;
	clean_walk_reset(&p->walk, seg->base_offset);
	return KB_OK;
}

/* The walk reached the end of segs[i]: fsync the copy, swap it in
 * (INVARIANT 4), drop it if nothing survived. A swap ends the step: it
 * reopens the new file. */
static int clean_rewrite_finish(struct clean_pass *p, struct log *log,
				size_t i)
{
	int rc = clean_out_flush(p, true);
	uint64_t kept = p->out_flushed;
	if (rc == KB_OK && fsync(p->fd) != 0) {
		KB_ERROR("fsync %s: %s", p->cleaned, strerror(errno));
		rc = KB_ERR_IO;
	}
	close(p->fd);
	p->fd = -1;
	clean_walk_reset(&p->walk, -1);
	if (rc != KB_OK) {
		unlink(p->cleaned);
		return rc;
	}
	p->stats.segments++;
	p->stats.bytes_before += log->segs[i].seg->size;
	p->stats.bytes_after += kept;
	p->work = CLEAN_STEP_WORK;
	clean_hook_run(&p->hook, CLEAN_STEP_CLEANED_WRITTEN);
	if ((rc = clean_swap_in(log, i, p->cleaned, &p->hook)) != KB_OK)
		return rc;
	/* Nothing survived: an empty file would only pile up. */
	return kept == 0 && i > 0 ? log_drop_empty_segment(log, i) : KB_OK;
}

/* A segment deleted (retention) while it was rewritten: forget the copy. */
static void clean_rewrite_abandon(struct clean_pass *p)
{
	if (p->fd < 0)
		return;
	close(p->fd);
	p->fd = -1;
	unlink(p->cleaned);
}

/* ---- Walking one segment, one unit of work at a time ---- */

/* The segment the walk is in, found again by its base offset; NULL when
 * no walk is under way, or when its segment is gone (the walk is then
 * dropped, and a half-written copy with it). */
static const struct segment *clean_walk_segment(struct clean_pass *p,
						const struct log *log,
						size_t *i)
{
	struct clean_walk *w = &p->walk;
	if (w->base < 0)
		return NULL;
	*i = clean_segment_at(log, w->base);
	const struct segment *seg = log->segs[*i].seg;
	if (seg->base_offset == w->base && *i + 1 < log->nsegs) {
		/* INVARIANT: a sealed segment's bytes never change, so
		 * the header buffer stays true across steps. */
		w->scan.seg = seg;
		return seg;
	}
	clean_rewrite_abandon(p);
	clean_walk_reset(w, -1);
	return NULL;
}

/* One unit of work in the stage the walk is in; KB_ERR_RANGE once the
 * segment's last batch is done. */
static int clean_walk_unit(struct clean_pass *p, const struct segment *seg)
{
	switch (p->walk.stage) {
	case CLEAN_AT_HEADER:
		return clean_unit_header(p, seg);
	case CLEAN_READING:
		return clean_unit_read(p, seg);
	case CLEAN_INFLATING:
		return clean_unit_inflate(p, seg);
	case CLEAN_SCANNING:
		return clean_unit_scan(p, seg);
	case CLEAN_EMITTING:
		return clean_unit_emit(p);
	}
	return KB_ERR_INVAL;
}

/* The next batch's header, from the scan buffer; KB_ERR_RANGE at the end
 * of the segment. A header that breaks the rules is KB_ERR_CORRUPT. */
static int clean_unit_header(struct clean_pass *p, const struct segment *seg)
{
	struct clean_walk *w = &p->walk;
	int rc = seg_scan_batch(&w->scan, w->pos, &w->b);
	if (rc != KB_OK)
		return rc;
	p->work += SEG_BATCH_HEADER_LEN;
	if (w->b.last_offset_delta < 0) {
		KB_WARN("cleaner: %s: batch at position %" PRIu64
			" has a negative last offset delta", seg->path, w->pos);
		return KB_ERR_CORRUPT;
	}
	w->raw.len = 0;
	w->crc = 0;
	w->stage = CLEAN_READING;
	return KB_OK;
}

/* Read at most the budget's bytes of the batch, and fold them into its
 * CRC-32C; once whole, check the CRC and open its records. */
static int clean_unit_read(struct clean_pass *p, const struct segment *seg)
{
	struct clean_walk *w = &p->walk;
	size_t size = (size_t)seg_batch_size(&w->b), got = 0;
	size_t n = KB_MIN(size - w->raw.len, CLEAN_STEP_WORK - p->work);
	int rc = kb_buf_reserve(&w->raw, n);
	if (rc == KB_OK)
		rc = seg_read(seg, w->pos + w->raw.len,
			      w->raw.data + w->raw.len, n, &got);
	if (rc == KB_OK && got != n)
		rc = KB_ERR_CORRUPT;
	if (rc != KB_OK)
		return rc;
	size_t from = KB_MAX(w->raw.len, (size_t)SEG_OFF_ATTRIBUTES);
	w->raw.len += n;
	if (w->raw.len > from)
		w->crc = seg_crc32c(w->crc, w->raw.data + from,
				    w->raw.len - from);
	p->work += n;
	if (w->raw.len < size)
		return KB_OK;
	if (w->crc != w->b.crc) {
		KB_WARN("cleaner: %s: batch at position %" PRIu64
			" fails its CRC-32C", seg->path, w->pos);
		return KB_ERR_CORRUPT;
	}
	return clean_records_ready(p, seg);
}

/* The whole batch is in raw: decide how its records are read. Control
 * batches and codecs without a library here are kept whole; gzip is
 * inflated behind a copy of the header (compression bits cleared). */
static int clean_records_ready(struct clean_pass *p,
			       const struct segment *seg)
{
	struct clean_walk *w = &p->walk;
	int codec = w->b.attributes & SEG_ATTR_COMPRESSION_MASK;
	w->view = w->raw.data;
	w->view_len = w->raw.len;
	if ((w->b.attributes & SEG_ATTR_CONTROL) || codec > CLEAN_GZIP) {
		clean_say_kept_whole(p, seg, NULL);
		w->whole = true;
		return clean_batch_scanned(p);
	}
	if (codec == 0) {
		w->stage = CLEAN_SCANNING;
		return wire_records_init(&w->it, w->view, w->view_len);
	}
	memset(&w->zs, 0, sizeof w->zs);
	if (inflateInit2(&w->zs, 16 + MAX_WBITS) != Z_OK)
		return KB_ERR_NOMEM;
	w->zs_live = true;
	w->zs.next_in = w->raw.data + SEG_BATCH_HEADER_LEN;
	w->zs.avail_in = (uInt)(w->raw.len - SEG_BATCH_HEADER_LEN);
	w->plain.len = 0;
	w->stage = CLEAN_INFLATING;
	return kb_buf_append(&w->plain, w->raw.data, SEG_BATCH_HEADER_LEN);
}

/* KAFKA: GzipCompression, streamed: inflate at most the budget's bytes.
 * Past CLEAN_MAX_INFLATED the batch is kept whole, never inflated
 * further; a stream that ends early or is damaged is KB_ERR_CORRUPT. */
static int clean_unit_inflate(struct clean_pass *p, const struct segment *seg)
{
	struct clean_walk *w = &p->walk;
	size_t n = KB_MAX(CLEAN_STEP_WORK - p->work, 1);
	if (w->plain.len - SEG_BATCH_HEADER_LEN > CLEAN_MAX_INFLATED) {
		clean_say_kept_whole(p, seg, "inflates beyond 64 MiB");
		inflateEnd(&w->zs);
		w->zs_live = false;
		w->whole = true;
		return clean_batch_scanned(p);
	}
	int rc = kb_buf_reserve(&w->plain, n);
	if (rc != KB_OK)
		return rc;
	w->zs.next_out = w->plain.data + w->plain.len;
	w->zs.avail_out = (uInt)n;
	int zrc = inflate(&w->zs, Z_NO_FLUSH);
	size_t made = n - w->zs.avail_out;
	w->plain.len += made;
	p->work += made + 1;
	p->stats.bytes_inflated += made;
	if (zrc == Z_OK)
		return KB_OK;
	if (zrc != Z_STREAM_END) {
		KB_WARN("cleaner: %s: gzip batch at position %" PRIu64
			" does not inflate", seg->path, w->pos);
		return KB_ERR_CORRUPT;
	}
	inflateEnd(&w->zs);
	w->zs_live = false;
	uint8_t *h = w->plain.data;
	kb_put_be32(h + SEG_OFF_BATCH_LENGTH,
		    (uint32_t)(w->plain.len - SEG_LOG_OVERHEAD));
	kb_put_be16(h + SEG_OFF_ATTRIBUTES, (uint16_t)(w->b.attributes &
				~SEG_ATTR_COMPRESSION_MASK));
	w->view = w->plain.data;
	w->view_len = w->plain.len;
	w->stage = CLEAN_SCANNING;
	return wire_records_init(&w->it, w->view, w->view_len);
}

/* Records until the budget is spent: while mapping, each keyed record
 * goes in the map (later offsets overwrite earlier ones, the whole of
 * "latest per key"); while rewriting, clean_keep's survivors are noted. */
static int clean_unit_scan(struct clean_pass *p, const struct segment *seg)
{
	struct clean_walk *w = &p->walk;
	struct wire_record rec;
	int rc = KB_OK;
	while (rc == KB_OK && p->work < CLEAN_STEP_WORK) {
		size_t before = w->it.r.pos;
		if ((rc = wire_records_next(&w->it, &rec)) != KB_OK)
			break;
		w->read++;
		p->record_cost = CLEAN_RECORD_COST +
				 (uint64_t)KB_MAX(rec.key.len, 0);
		p->work += p->record_cost;
		if (p->mapping) {
			if (rec.key.len >= 0)
				rc = clean_map_put(&p->map, rec.key,
						   rec.offset);
			continue;
		}
		if (!clean_keep(p, seg, &rec))
			continue;
		struct clean_kept k = {
			(size_t)(w->it.r.p + before - w->view),
			w->it.r.pos - before, rec.offset_delta, rec.timestamp};
		rc = kb_buf_append(&w->kept, &k, sizeof k);
	}
	return rc == KB_ERR_NOTFOUND ? clean_batch_scanned(p) : rc;
}

/* Every record of the batch was seen. Mapping: next batch. Rewriting
 * (KAFKA: MemoryRecords.filterTo): a batch whose records all survive,
 * or that is kept whole, is copied byte for byte (still compressed,
 * same CRC); one that lost some is rebuilt from the survivors, behind
 * its old header; one that lost all is dropped. */
static int clean_batch_scanned(struct clean_pass *p)
{
	struct clean_walk *w = &p->walk;
	size_t n = w->kept.len / sizeof(struct clean_kept);
	if (!p->mapping && !w->whole) {
		p->stats.records_read += w->read;
		p->stats.records_kept += (int64_t)n;
		w->whole = n == (size_t)w->read &&
			   w->read == w->b.records_count;
	}
	if (p->mapping || (!w->whole && n == 0)) {
		clean_batch_done(w);
		return KB_OK;
	}
	w->stage = CLEAN_EMITTING;
	w->emit_i = w->whole ? 1 : 0;
	w->emit_off = 0;
	if (!w->whole)
		clean_rebuilt_header(p);
	return KB_OK;
}

/* The header of the batch rebuilt from the survivors. The old header
 * keeps the base offset, base timestamp and producer fields, so each
 * record's deltas stay right as they are; only length, count, last
 * delta, max timestamp, the compression bits and the CRC change. Its
 * CRC-32C is started here; the survivors are folded in as they go. */
static void clean_rebuilt_header(struct clean_pass *p)
{
	struct clean_walk *w = &p->walk;
	size_t n = w->kept.len / sizeof(struct clean_kept);
	const struct clean_kept *k = (const struct clean_kept *)w->kept.data;
	size_t len = SEG_BATCH_HEADER_LEN;
	int64_t max_ts = k[0].timestamp;
	for (size_t i = 0; i < n; i++) {
		len += k[i].len;
		max_ts = KB_MAX(max_ts, k[i].timestamp);
	}
	if (w->b.attributes & SEG_ATTR_LOG_APPEND_TIME)
		max_ts = w->b.max_timestamp;
	memcpy(w->hdr, w->view, SEG_BATCH_HEADER_LEN);
	kb_put_be32(w->hdr + SEG_OFF_BATCH_LENGTH,
		    (uint32_t)(len - SEG_LOG_OVERHEAD));
	kb_put_be16(w->hdr + SEG_OFF_ATTRIBUTES, (uint16_t)(w->b.attributes &
				~SEG_ATTR_COMPRESSION_MASK));
	kb_put_be32(w->hdr + SEG_OFF_LAST_OFFSET_DELTA,
		    (uint32_t)k[n - 1].offset_delta);
	kb_put_be64(w->hdr + SEG_OFF_MAX_TIMESTAMP, (uint64_t)max_ts);
	kb_put_be32(w->hdr + SEG_OFF_RECORDS_COUNT, (uint32_t)n);
	w->out_crc = seg_crc32c(0, w->hdr + SEG_OFF_ATTRIBUTES,
				SEG_BATCH_HEADER_LEN - SEG_OFF_ATTRIBUTES);
	w->hdr_at = p->out_flushed + p->out.len;
}

/* Copy at most the budget's bytes of the batch to the output: the batch
 * as on disk (whole), or the rebuilt header then the survivors, CRC-32C
 * folded in as they go and written into the header at the end. */
static int clean_unit_emit(struct clean_pass *p)
{
	struct clean_walk *w = &p->walk;
	const struct clean_kept *k = (const struct clean_kept *)w->kept.data;
	size_t n = w->kept.len / sizeof *k;
	const uint8_t *src = w->whole ? w->raw.data
			   : w->emit_i == 0 ? w->hdr : w->view + k[w->emit_i - 1].at;
	size_t len = w->whole ? w->raw.len
		   : w->emit_i == 0 ? SEG_BATCH_HEADER_LEN : k[w->emit_i - 1].len;
	size_t chunk = KB_MIN(len - w->emit_off, CLEAN_STEP_WORK - p->work);
	int rc = kb_buf_append(&p->out, src + w->emit_off, chunk);
	if (rc != KB_OK)
		return rc;
	if (!w->whole && w->emit_i > 0)
		w->out_crc = seg_crc32c(w->out_crc, src + w->emit_off, chunk);
	p->work += chunk + 1;
	w->emit_off += chunk;
	if (w->emit_off < len)
		return clean_out_flush(p, false);
	w->emit_i++;
	w->emit_off = 0;
	if (!w->whole && w->emit_i <= n)
		return clean_out_flush(p, false);
	if (!w->whole && (rc = clean_out_crc(p)) != KB_OK)
		return rc;
	clean_batch_done(w);
	return clean_out_flush(p, false);
}

/* The batch in hand is done: on to the next header. Buffers grown by a
 * large batch are given back rather than kept for the rest of the pass. */
static void clean_batch_done(struct clean_walk *w)
{
	if (w->zs_live)
		inflateEnd(&w->zs);
	w->zs_live = false;
	w->pos += seg_batch_size(&w->b);
	w->stage = CLEAN_AT_HEADER;
	w->read = 0;
	w->whole = false;
	w->raw.len = w->plain.len = w->kept.len = 0;
	if (w->raw.cap > CLEAN_KEEP_BUF_BYTES)
		kb_buf_fini(&w->raw);
	if (w->plain.cap > CLEAN_KEEP_BUF_BYTES)
		kb_buf_fini(&w->plain);
	if (w->kept.cap > CLEAN_KEEP_BUF_BYTES)
		kb_buf_fini(&w->kept);
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

/* A batch kept whole (maps nothing; its records can never hide a later
 * value): counted while rewriting, and said once per pass when it is
 * for a codec samsa has no library for (zlib only) or, with why, for a
 * gzip batch that inflates past CLEAN_MAX_INFLATED. */
static void clean_say_kept_whole(struct clean_pass *p,
				 const struct segment *seg, const char *why)
{
	const struct clean_walk *w = &p->walk;
	int codec = w->b.attributes & SEG_ATTR_COMPRESSION_MASK;
	bool *logged = why ? &p->large_logged : &p->codec_logged;
	if (!p->mapping)
		p->stats.batches_kept_whole++;
	if ((!why && (codec <= CLEAN_GZIP || (w->b.attributes &
					     SEG_ATTR_CONTROL))) || *logged)
		return;
	*logged = true;
	if (why)
		KB_WARN("cleaner: %s: the gzip batch at offset %" PRId64
			" %s: it and any like it are kept as they are",
			seg->path, w->b.base_offset, why);
	else
		KB_INFO("cleaner: %s: the batch at offset %" PRId64 " is "
			"compressed with codec %d (snappy, lz4 or zstd), which "
			"samsa cannot read: it and any like it are kept as "
			"they are", seg->path, w->b.base_offset, codec);
}

/* ---- The output file ---- */

/* Write the output once it holds CLEAN_WRITE_CHUNK bytes (all: whatever
 * it holds), and start its writeback at once, so the fsync at the end of
 * the segment finds little left to do. */
static int clean_out_flush(struct clean_pass *p, bool all)
{
	if (p->out.len == 0 || (!all && p->out.len < CLEAN_WRITE_CHUNK))
		return KB_OK;
	int rc = clean_write_all(p->fd, p->out.data, p->out.len, p->cleaned);
	if (rc != KB_OK)
		return rc;
	sync_file_range(p->fd, (off64_t)p->out_flushed, (off64_t)p->out.len,
			SYNC_FILE_RANGE_WRITE);
	p->out_flushed += p->out.len;
	p->out.len = 0;
	return KB_OK;
}

/* The rebuilt batch is all out: put its CRC-32C in its header, in the
 * buffer or, if the header was written already, in the file. */
static int clean_out_crc(struct clean_pass *p)
{
	uint8_t crc[4];
	uint64_t at = p->walk.hdr_at + SEG_OFF_CRC;
	kb_put_be32(crc, p->walk.out_crc);
	if (at >= p->out_flushed) {
		memcpy(p->out.data + (at - p->out_flushed), crc, sizeof crc);
		return KB_OK;
	}
	if (pwrite(p->fd, crc, sizeof crc, (off_t)at) == (ssize_t)sizeof crc)
		return KB_OK;
	KB_ERROR("write cleaned copy %s: %s", p->cleaned, strerror(errno));
	return KB_ERR_IO;
}

/* ---- A pass, whole ---- */

int64_t clean_pass_end(const struct clean_pass *p) { return p->map_end; }

const struct clean_stats *clean_pass_stats(const struct clean_pass *p)
{
	return &p->stats;
}

void clean_pass_set_swap_hook(struct clean_pass *p, clean_swap_hook_fn fn,
			      void *ctx)
{
	p->hook = (struct clean_hook){fn, ctx};
}

/* The pass's invariants (header, 5) and the walk's own rules. Cheap: a
 * few comparisons, run after every step. */
void clean_pass_check(const struct clean_pass *p)
{
	const struct clean_walk *w = &p->walk;
	(void)w;
	assert(p->mapping == (p->map_end < 0));
	assert(p->mapping || p->map_end <= p->map_limit);
	assert(2 * p->map.used <= p->map.nslots);
	/* INVARIANT 5: a step stays within its budget; the last unit
	 * may pass it by one header or one record's charge. */
	assert(p->work <= CLEAN_STEP_WORK + SEG_BATCH_HEADER_LEN +
	       p->record_cost);
	assert(w->base >= 0 || w->stage == CLEAN_AT_HEADER);
	assert((p->fd >= 0) == (!p->mapping && w->base >= 0));
	assert(w->stage < CLEAN_READING || w->raw.len <=
	       seg_batch_size(&w->b));
	assert(w->zs_live == (w->stage == CLEAN_INFLATING));
	assert(w->stage != CLEAN_EMITTING || w->whole ||
	       w->emit_i <= w->kept.len / sizeof(struct clean_kept) + 1);
}

void clean_pass_free(struct clean_pass *p)
{
	if (!p)
		return;
	clean_rewrite_abandon(p);
	clean_walk_reset(&p->walk, -1);
	kb_buf_fini(&p->walk.raw);
	kb_buf_fini(&p->walk.plain);
	kb_buf_fini(&p->walk.kept);
	kb_buf_fini(&p->out);
	clean_map_fini(&p->map);
	free(p);
}

int clean_log(struct log *log, const struct clean_config *cfg,
	      struct clean_at *at, struct clean_stats *st)
{
	struct clean_pass *p;
	bool done = false;
	int rc = clean_pass_new(log, cfg, *at, &p);
	while (rc == KB_OK && !done)
		rc = clean_pass_step(p, log, &done);
	if (rc == KB_OK)
		at->first_dirty = clean_pass_end(p);
	if (p && st)
		*st = p->stats;
	clean_pass_free(p);
	return rc;
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

/* Start a walk over the segment at base (-1: none), keeping the buffers'
 * memory; an inflater in use is ended. */
static void clean_walk_reset(struct clean_walk *w, int64_t base)
{
	if (w->zs_live)
		inflateEnd(&w->zs);
	w->zs_live = false;
	w->base = base;
	w->pos = 0;
	w->stage = CLEAN_AT_HEADER;
	w->read = 0;
	w->whole = false;
	w->raw.len = w->plain.len = w->kept.len = 0;
	seg_scan_init(&w->scan, NULL);
}
