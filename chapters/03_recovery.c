/* SPDX-License-Identifier: MIT */
/*
 * Chapter 03, third file — recovery: opening a log after a clean stop or
 * a crash.
 *
 * Concept:
 *   At start a log directory holds whatever the last run left: segments,
 *   indexes, maybe a torn tail, maybe leftovers of an interrupted swap.
 *   log_open sorts the directory out, opens every segment and decides how
 *   much to distrust: after a clean shutdown nothing is rescanned but the
 *   active segment's tail; after a crash every segment that may hold
 *   offsets at or above the recovery point is validated batch by batch,
 *   its torn tail cut and its indexes rebuilt.
 *
 * Kafka:
 *   LogLoader.load, recoverLog, recoverSegment; LogSegment.sanityCheck and
 *   readNextOffset; removeTempFilesAndCollectSwapFiles.
 *
 * Interface:
 *   - log_open (declared in 03_log.h) with the log_recovery_hint the
 *     broker read from the checkpoint files (03_checkpoints.c).
 *
 * Invariants (on return from log_open, on top of 03_log.c's):
 *   1. No stray file (*.tmp, *.deleted, *.cleaned, *.swap) and no index
 *      without its .log is left in the directory.
 *   2. Every segment that may hold offsets >= the recovery point ends at
 *      its last whole valid batch; no later segment follows a cut one.
 *   3. Every index was checked (idx_set_check) or rebuilt.
 *
 * Simplifications:
 *   - *.swap files are deleted (rolled back), not completed: chapter 10
 *     swaps one segment for one file whose original is intact until the
 *     rename.
 *   Single-threaded: log_open runs on the reactor thread.
 *
 * See also: docs/03_recovery.md, diagrams/03_recovery.dot,
 *   tests/03_log_test.c (crash and recovery tests); read before: 03_log.c
 *   (what it opens), 03_checkpoints.c (the hint, the epoch file).
 *   Uses chapters 00 (base), 01 (segment), 02 (index).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "00_base.h"
#include "01_segment.h"
#include "02_index.h"
#include "03_log.h"
#include "03_log_internal.h"

/* ---- Prototypes of the static helpers, in reading order ---- */

static int log_scan_dir(const char *dir, int64_t **bases, size_t *n);
static int log_sort_out(const char *dir, const char *name,
			struct kb_buf *found);
static int log_load(struct log *log, const struct log_recovery_hint *hint,
		    const bool *missing);
static int log_recover_all(struct log *log,
			   const struct log_recovery_hint *hint,
			   const bool *missing);
static int log_recover_segment(struct log *log, size_t i, bool drop_after);
static int log_load_trusted(struct log *log, size_t i, bool missing);
static const char *log_distrust(struct log *log, size_t i, bool missing);
static int log_load_timestamps(struct log *log, size_t i);
static int log_scan_batches(struct segment *seg, uint64_t pos,
			    uint64_t *scanned);

/* ---- Opening a log ---- */

/* Sort out the directory, open every segment, recover what needs it and
 * load the leader epochs (KAFKA: LogLoader.load). */
int log_open(const char *dir, const struct log_config *cfg,
	     const struct log_recovery_hint *hint, struct log **out)
{
	if (cfg->segment_bytes <= 0 || cfg->index_interval_bytes < 0 ||
	    cfg->segment_index_bytes < IDX_TIME_ENTRY_SIZE)
		return KB_ERR_INVAL;
	struct log *log = calloc(1, sizeof *log);
	int64_t *bases = NULL;
	bool *missing = NULL;
	size_t n = 0;
	int rc = log && (log->dir = strdup(dir)) ? kb_mkdirs(dir) : KB_ERR_NOMEM;
	if (rc == KB_OK) {
		log->cfg = *cfg;
		log->last_flush_ms = kb_now_ms();
		rc = log_scan_dir(dir, &bases, &n);
	}
	if (rc == KB_OK && !(missing = calloc(n + 1, sizeof *missing)))
		rc = KB_ERR_NOMEM;
	for (size_t i = 0; rc == KB_OK && i < n; i++)
		rc = log_segment_open(log, bases[i], &missing[i]);
	if (rc == KB_OK)
		rc = log_load(log, hint, missing);
	free(missing);
	free(bases);
	if (rc != KB_OK && log)
		log_free(log);
	if (rc == KB_OK)
		log_check(log);
	*out = rc == KB_OK ? log : NULL;
	return rc;
}

/* After the segments are open: recover them (or create the first one),
 * load the epoch cache, place the log start offset and recovery point. */
static int log_load(struct log *log, const struct log_recovery_hint *hint,
		    const bool *missing)
{
	struct log_recovery_hint none = {0};
	hint = hint ? hint : &none;
	int64_t start = KB_MAX(hint->log_start_offset, 0);
	int rc = log->nsegs == 0 ? log_segment_open(log, start, NULL)
				 : log_recover_all(log, hint, missing);
	if (rc == KB_OK)
		rc = log_epoch_checkpoint_read(log->dir, &log->epochs,
					       &log->nepochs);
	/* KAFKA: LogLoader drops the epochs that start past the log end. */
	if (rc == KB_OK)
		rc = log_epoch_truncate_end(log, log_end_offset(log));
	if (rc != KB_OK)
		return rc;
	int64_t leo = log_end_offset(log);
	if (leo < start) { /* KAFKA: segments were deleted behind our back */
		KB_WARN("log %s: log end offset %" PRId64 " is below the log "
			"start offset %" PRId64 ", deleting all segments",
			log->dir, leo, start);
		return log_reset_at(log, start);
	}
	log->log_start_offset = KB_MAX(start, log->segs[0].seg->base_offset);
	log->recovery_point = hint->clean_shutdown
		? leo : KB_MIN(KB_MAX(hint->recovery_point, 0), leo);
	log->unflushed_messages = leo - log->recovery_point;
	return KB_OK;
}

/* Trust the segments below the recovery point (all of them after a clean
 * shutdown) and recover the rest (KAFKA: LogLoader.recoverLog scans only
 * logSegments(recoveryPoint, end)); then trim the sealed indexes, which
 * idx_open preallocated. */
static int log_recover_all(struct log *log,
			   const struct log_recovery_hint *hint,
			   const bool *missing)
{
	size_t first = hint->clean_shutdown
		? log->nsegs : log_segment_for(log, hint->recovery_point);
	int rc = KB_OK;
	for (size_t i = 0; rc == KB_OK && i < log->nsegs; i++)
		rc = i < first ? log_load_trusted(log, i, missing[i])
			       : log_recover_segment(log, i, true);
	for (size_t i = 0; rc == KB_OK && i + 1 < log->nsegs; i++)
		if ((rc = idx_trim(log->segs[i].idx.offsets)) == KB_OK)
			rc = idx_trim(log->segs[i].idx.times);
	return rc;
}

/* KAFKA: LogLoader deletes these leftovers of an interrupted write,
 * delete or clean before it loads the segments. */
static bool log_is_stray(const char *name)
{
	static const char *const stray[] = {".tmp", ".deleted", ".cleaned",
					    ".swap"};
	const char *dot = strrchr(name, '.');
	for (size_t k = 0; dot && k < KB_ARRAY_LEN(stray); k++)
		if (strcmp(dot, stray[k]) == 0)
			return true;
	return false;
}

/* Tidy the directory and collect the .log base offsets in order: names
 * are 20-digit offsets, so alphasort sorts them as numbers (KAFKA:
 * LogLoader.removeTempFilesAndCollectSwapFiles, loadSegmentFiles).
 * returns owned *bases (free). */
static int log_scan_dir(const char *dir, int64_t **bases, size_t *n)
{
	struct dirent **names;
	struct kb_buf found;
	int count = scandir(dir, &names, NULL, alphasort), rc = KB_OK;
	if (count < 0) {
		KB_ERROR("scan directory %s: %s", dir, strerror(errno));
		return KB_ERR_IO;
	}
	kb_buf_init(&found);
	for (int i = 0; i < count; i++) {
		if (rc == KB_OK)
			rc = log_sort_out(dir, names[i]->d_name, &found);
		free(names[i]);
	}
	free(names);
	*bases = (int64_t *)found.data;
	*n = found.len / sizeof **bases;
	return rc;
}

/* One directory entry: a .log gives its base offset to found; a stray
 * file, or an index without its .log, is deleted; the rest stays. */
static int log_sort_out(const char *dir, const char *name,
			struct kb_buf *found)
{
	char path[LOG_PATH_MAX];
	int64_t base;
	bool orphan = false;
	if (seg_parse_file_name(name, SEG_LOG_SUFFIX, &base) == KB_OK)
		return kb_buf_append(found, &base, sizeof base);
	if (seg_parse_file_name(name, ".index", &base) == KB_OK ||
	    seg_parse_file_name(name, ".timeindex", &base) == KB_OK) {
		struct seg_file log_file = {dir, base, SEG_LOG_SUFFIX};
		orphan = seg_file_name(path, sizeof path, log_file) == KB_OK &&
			 access(path, F_OK) != 0;
	}
	if (!orphan && !log_is_stray(name))
		return KB_OK;
	KB_INFO("log %s: deleting %s file %s", dir, orphan ? "orphan" : "stray",
		name);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (unlink(path) != 0) {
		KB_ERROR("unlink %s: %s", path, strerror(errno));
		return KB_ERR_IO;
	}
	return KB_OK;
}

/* ---- Recovering segments ---- */

/* Validate segment i from byte 0, cut its torn tail and rebuild its
 * indexes (KAFKA: LogLoader.recoverSegment). With drop_after, a cut tail
 * deletes every later segment, as Kafka's recoverLog does. */
static int log_recover_segment(struct log *log, size_t i, bool drop_after)
{
	struct log_segment *ls = &log->segs[i];
	struct seg_recovery rep;
	int rc = seg_recover(ls->seg, 0, &rep);
	if (rc != KB_OK)
		return rc;
	log->recovered_bytes += rep.valid_bytes + rep.truncated_bytes;
	if (rep.truncated_bytes > 0 && drop_after && i + 1 < log->nsegs) {
		KB_WARN("log %s: segment %" PRId64 " was cut, deleting the %zu "
			"segments after it", log->dir, ls->seg->base_offset,
			log->nsegs - i - 1);
		if ((rc = log_drop(log, i + 1, log->nsegs)) != KB_OK)
			return rc;
	}
	return idx_set_rebuild(&ls->idx, ls->seg, i + 1 < log->nsegs);
}

/* Load segment i without validating its batches (KAFKA: the clean path);
 * an index that cannot be trusted means recovering the segment. */
static int log_load_trusted(struct log *log, size_t i, bool missing)
{
	const char *why = log_distrust(log, i, missing);
	if (why) {
		KB_WARN("log %s: segment %" PRId64 ": %s; rebuilding its "
			"indexes", log->dir, log->segs[i].seg->base_offset, why);
		return log_recover_segment(log, i, false);
	}
	log_resume_index(&log->segs[i]);
	return log_load_timestamps(log, i);
}

/* Why segment i cannot be trusted, or NULL. On the way it sets the next
 * offset: a sealed segment ends where the next one begins, the active one
 * where a scan from its last offset-index entry stops (KAFKA:
 * LogSegment.readNextOffset). A missing index, or one failing
 * idx_set_check, is not trusted (KAFKA: LogSegment.sanityCheck). */
static const char *log_distrust(struct log *log, size_t i, bool missing)
{
	struct log_segment *ls = &log->segs[i];
	struct segment *seg = ls->seg;
	bool active = i + 1 == log->nsegs;
	const char *why = NULL;
	seg->next_offset = active ? seg->base_offset
				  : log->segs[i + 1].seg->base_offset;
	if (missing && seg->size > 0)
		return "index file missing";
	if (active) {
		struct idx_entry e = log_last_offset_entry(ls);
		if (e.position > seg->size ||
		    log_scan_batches(seg, e.position, &log->recovered_bytes))
			return "its offset index does not match the log";
	}
	if (idx_set_check(&ls->idx, seg, &why) != KB_OK)
		return why ? why : "index check failed";
	return NULL;
}

/* The max timestamp from the time index's last entry (a sealed segment's
 * is its max, INVARIANT 5), else by a scan; for the active segment also
 * the first batch's timestamp, which segment.ms counts from. */
static int log_load_timestamps(struct log *log, size_t i)
{
	struct segment *seg = log->segs[i].seg;
	const struct idx *tx = log->segs[i].idx.times;
	struct seg_batch first;
	bool active = i + 1 == log->nsegs;
	if (active && seg_read_batch(seg, 0, &first) == KB_OK)
		seg->first_batch_timestamp = first.max_timestamp;
	if (tx->entries == 0) /* the active one's tail scan saw it all */
		return active ? KB_OK
			      : log_scan_batches(seg, 0, &log->recovered_bytes);
	struct idx_entry t = idx_entry_at(tx, tx->entries - 1);
	if (t.timestamp > seg->max_timestamp ||
	    (t.timestamp == seg->max_timestamp &&
	     t.offset < seg->offset_of_max_timestamp)) {
		seg->max_timestamp = t.timestamp;
		seg->offset_of_max_timestamp = t.offset;
	}
	return KB_OK;
}

/* Walk batch headers from pos to the end of seg, folding them into its
 * next offset and max timestamp; adds the bytes walked to *scanned. */
static int log_scan_batches(struct segment *seg, uint64_t pos,
			    uint64_t *scanned)
{
	struct seg_scan scan;
	struct seg_batch b;
	int rc;
	seg_scan_init(&scan, seg);
	while ((rc = seg_scan_batch(&scan, pos, &b)) == KB_OK) {
		if (pos == 0)
			seg->first_batch_timestamp = b.max_timestamp;
		if (b.max_timestamp > seg->max_timestamp) {
			seg->max_timestamp = b.max_timestamp;
			seg->offset_of_max_timestamp = seg_batch_last_offset(&b);
		}
		seg->next_offset = seg_batch_last_offset(&b) + 1;
		pos += seg_batch_size(&b);
		*scanned += seg_batch_size(&b);
	}
	return rc == KB_ERR_RANGE ? KB_OK : rc;
}
