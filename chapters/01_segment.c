/* SPDX-License-Identifier: MIT */
/*
 * Chapter 01 — segment, part 2: one append-only file of record batches.
 *
 * Concept:
 *   The cheapest durable thing a disk does is append. A segment is one
 *   file that only grows: each batch is checked, given its offset and
 *   written after the last, byte for byte as the producer sent it. A crash
 *   can only damage the tail, so recovery walks the file, keeps every
 *   whole valid batch and cuts the rest. A full or old file is rolled.
 *
 * Kafka:
 *   LogSegment, FileRecords, <20-digit base offset>.log; record batch v2
 *   (DefaultRecordBatch); LogSegment.recover; segment.bytes, segment.ms.
 *
 * Interface:
 *   - seg_batch_validate each incoming batch, seg_batch_set_base_offset,
 *     then seg_append (which refuses offsets that do not grow).
 *   - seg_open does not scan: seg_recover (or chapter 03) sets next_offset.
 *   - Readers never see bytes past size, at batch-boundary positions; a
 *     struct seg_scan walks headers a page at a time.
 *   - seg_close does not fsync (seg_flush first); close what you open.
 *
 * Invariants (seg_check asserts 2 and 4, seg_check_file 1):
 *   1. Bytes [0, size) are whole batches end to end; the file is size
 *      bytes long (a failed write is cut back).
 *   2. Offsets only grow; next_offset is the last offset + 1.
 *   3. Every offset is in [base_offset, base_offset + INT32_MAX].
 *   4. max_timestamp, offset_of_max_timestamp, first_batch_timestamp
 *      describe the batches held.
 *   5. dirty is true exactly when bytes changed since the last seg_flush.
 *   6. Damaged bytes never trip an assert: KB_ERR_CORRUPT, or a cut.
 *
 * Simplifications: no segment.jitter.ms, no preallocation, records not
 *   checked one by one (docs/01_segment.md). Single-threaded.
 *
 * See also: docs/01_segment.md, diagrams/01_segment.dot,
 *   tests/01_segment_test.c; read before: 01_crc32c.c (seg_crc32c).
 *   Uses chapters 00 (base).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "00_base.h"
#include "01_segment.h"

/* Digits of the base offset in a file name (KAFKA: LogFileUtils). */
#define SEG_NAME_DIGITS 20
/* Bytes seg_recover reads per pread; a longer batch grows the buffer. */
#define SEG_RECOVER_CHUNK (1024 * 1024)

/* ---- Data structures ---- */

/* A window of file bytes for the recovery scan: buf holds the bytes at
 * [start, start + len) of the file. Reading 1 MiB at a time keeps a scan of
 * a 1 GiB segment to about a thousand syscalls instead of one per batch. */
struct scan_window {
	int fd;             /* borrowed: from the segment */
	const char *path;   /* borrowed: from the segment, for logs */
	uint64_t file_size; /* bytes in the file when the scan began */
	uint8_t *buf;       /* owned: cap bytes */
	size_t cap;
	uint64_t start;     /* file position of buf[0] */
	size_t len;         /* valid bytes in buf */
};

/* ---- Prototypes of static helpers ---- */

static const char *batch_decode(const uint8_t *buf, size_t len,
				struct seg_batch *out);
static int open_log_file(const char *path, bool create, bool *created);
static void reset_stats(struct segment *seg);
static void note_batch(struct segment *seg, const struct seg_batch *b,
		       uint64_t pos);
static int check_offsets(const struct segment *seg, const struct seg_batch *b,
			 const char **why);
static int recovery_start(struct segment *seg, uint64_t from_pos,
			  uint64_t *file_size);
static int scan_batches(struct segment *seg, struct scan_window *w,
			uint32_t *batches, const char **why);
static int scan_batch(struct scan_window *w, uint64_t pos,
		      struct seg_batch *b, const char **why);
static int window_at(struct scan_window *w, uint64_t pos, size_t need,
		     const uint8_t **out);
static int cut_tail(struct segment *seg, uint64_t file_size, const char *why);
static int walk_headers(struct segment *seg, uint64_t size);
static size_t scan_refill_bytes(const struct seg_scan *scan);
static int pread_full(int fd, void *buf, size_t len, uint64_t pos,
		      size_t *got);
static int pwrite_full(int fd, const void *buf, size_t len, uint64_t pos);

/* ---- Record batches ---- */

/* Decode the 61-byte header; the rules are those a header can check alone. */
int seg_batch_decode(const uint8_t *buf, size_t len, struct seg_batch *out)
{
	return batch_decode(buf, len, out) ? KB_ERR_CORRUPT : KB_OK;
}

/* A whole batch: header, length, offsets and the CRC the producer wrote. */
int seg_batch_validate(const uint8_t *buf, size_t len, struct seg_batch *out,
		       const char **why)
{
	const char *bad = batch_decode(buf, len, out);
	if (!bad && seg_batch_size(out) != len)
		bad = "batch length does not match the bytes";
	if (!bad && out->last_offset_delta < 0)
		bad = "negative last offset delta";
	/* KAFKA: DefaultRecordBatch.isValid: the CRC starts at attributes, so
	 * baseOffset and partitionLeaderEpoch may change without a new CRC. */
	if (!bad && seg_crc32c(0, buf + SEG_OFF_ATTRIBUTES,
			       len - SEG_OFF_ATTRIBUTES) != out->crc)
		bad = "bad CRC";
	if (why)
		*why = bad;
	return bad ? KB_ERR_CORRUPT : KB_OK;
}

/* The broker assigns offsets: bytes 0..8, outside the CRC. */
void seg_batch_set_base_offset(uint8_t *buf, int64_t base_offset)
{
	kb_put_be64(buf + SEG_OFF_BASE_OFFSET, (uint64_t)base_offset);
}

/* The leader stamps its epoch: bytes 12..16, also outside the CRC. */
void seg_batch_set_leader_epoch(uint8_t *buf, int32_t epoch)
{
	kb_put_be32(buf + SEG_OFF_LEADER_EPOCH, (uint32_t)epoch);
}

/* ---- File names ---- */

/* KAFKA: LogFileUtils.filenamePrefixFromOffset pads to 20 digits, so a
 * directory listing sorts segments by base offset. */
int seg_file_name(char *out, size_t cap, struct seg_file f)
{
	if (f.base_offset < 0)
		return KB_ERR_INVAL;
	int n = snprintf(out, cap, "%s/%0*" PRId64 "%s", f.dir, SEG_NAME_DIGITS,
			 f.base_offset, f.suffix);
	return n < 0 || (size_t)n >= cap ? KB_ERR_INVAL : KB_OK;
}

/* Exactly 20 digits, then suffix; the number must fit an int64. */
int seg_parse_file_name(const char *name, const char *suffix, int64_t *base)
{
	size_t slen = strlen(suffix);
	if (strlen(name) != SEG_NAME_DIGITS + slen ||
	    strcmp(name + SEG_NAME_DIGITS, suffix) != 0)
		return KB_ERR_INVAL;
	int64_t v = 0;
	for (int i = 0; i < SEG_NAME_DIGITS; i++) {
		int d = name[i] - '0';
		if (d < 0 || d > 9 || v > (INT64_MAX - d) / 10)
			return KB_ERR_INVAL;
		v = v * 10 + d;
	}
	*base = v;
	return KB_OK;
}

/* ---- Lifecycle ---- */

/* Open (or create) <dir>/<base>.log. The size is the file's; the offsets
 * stay at base_offset until seg_recover or the caller knows better. */
int seg_open(const char *dir, int64_t base_offset, bool create,
	     struct segment **out)
{
	char path[PATH_MAX];
	if (seg_file_name(path, sizeof path,
			  (struct seg_file){dir, base_offset,
					    SEG_LOG_SUFFIX}) != KB_OK)
		return KB_ERR_INVAL;
	bool created = false;
	int fd = open_log_file(path, create, &created);
	if (fd < 0)
		return fd;
	struct stat st;
	struct segment *seg = calloc(1, sizeof *seg);
	char *owned_path = strdup(path);
	if (!seg || !owned_path || fstat(fd, &st) != 0) {
		KB_ERROR("segment %s: open: %s", path, strerror(errno));
		free(owned_path);
		free(seg);
		close(fd);
		return seg && owned_path ? KB_ERR_IO : KB_ERR_NOMEM;
	}
	seg->fd = fd;
	seg->path = owned_path;
	seg->base_offset = base_offset;
	seg->size = (uint64_t)st.st_size;
	reset_stats(seg);
	/* KAFKA: LogSegment.created is set when the object is made. */
	seg->created_ms = kb_now_ms();
	seg->dir_unsynced = created;
	*out = seg;
	return KB_OK;
}

/* ---- Appending ---- */

/* The hot path: a few header checks, one pwrite, no allocation. */
int seg_append(struct segment *seg, const uint8_t *batch, size_t len)
{
	struct seg_batch b;
	if (seg_batch_decode(batch, len, &b) != KB_OK ||
	    seg_batch_size(&b) != len || b.last_offset_delta < 0)
		return KB_ERR_INVAL;
	/* INVARIANT: offsets only grow (2) and stay int32-relative (3). */
	if (b.base_offset < seg->next_offset ||
	    !seg_offset_fits(seg, seg_batch_last_offset(&b)))
		return KB_ERR_INVAL;
	if (pwrite_full(seg->fd, batch, len, seg->size) != KB_OK) {
		KB_ERROR("segment %s: write %zu bytes at position %" PRIu64
			 ": %s", seg->path, len, seg->size, strerror(errno));
		/* INVARIANT: never leave half a batch behind (1). */
		if (ftruncate(seg->fd, (off_t)seg->size) != 0)
			KB_ERROR("segment %s: cut back to %" PRIu64 ": %s",
				 seg->path, seg->size, strerror(errno));
		return KB_ERR_IO;
	}
	note_batch(seg, &b, seg->size);
	seg->size += len;
	seg->dirty = true;
	seg_check(seg);
	return KB_OK;
}

/* Fold one batch at pos into next_offset and the timestamps. */
static void note_batch(struct segment *seg, const struct seg_batch *b,
		       uint64_t pos)
{
	seg->next_offset = seg_batch_last_offset(b) + 1;
	/* KAFKA: LogSegment.append: only a strictly larger timestamp moves
	 * the maximum, so ties keep the earliest offset. */
	if (b->max_timestamp > seg->max_timestamp) {
		seg->max_timestamp = b->max_timestamp;
		seg->offset_of_max_timestamp = seg_batch_last_offset(b);
	}
	/* KAFKA: rollingBasedTimestamp is the first batch's maxTimestamp. */
	if (pos == 0)
		seg->first_batch_timestamp = b->max_timestamp;
}

/* ---- Reading ---- */

/* Bytes as they are on disk, for pread-style readers (and tests). Five
 * parameters, against STYLE §6: it is pread(2) on a segment, plus *got. */
int seg_read(const struct segment *seg, uint64_t pos, void *buf, size_t len,
	     size_t *got)
{
	if (pos > seg->size)
		return KB_ERR_RANGE;
	size_t want = (size_t)KB_MIN((uint64_t)len, seg->size - pos);
	int rc = pread_full(seg->fd, buf, want, pos, got);
	if (rc != KB_OK)
		KB_ERROR("segment %s: read at %" PRIu64 ": %s", seg->path,
			 pos, strerror(errno));
	return rc;
}

/* One pread of the 61-byte header; the batch must end inside size. */
int seg_read_batch(const struct segment *seg, uint64_t pos,
		   struct seg_batch *out)
{
	if (pos >= seg->size)
		return KB_ERR_RANGE;
	uint8_t hdr[SEG_BATCH_HEADER_LEN];
	size_t got;
	int rc = seg_read(seg, pos, hdr, sizeof hdr, &got);
	if (rc != KB_OK)
		return rc;
	if (seg_batch_decode(hdr, got, out) != KB_OK ||
	    seg_batch_size(out) > seg->size - pos)
		return KB_ERR_CORRUPT;
	return KB_OK;
}

/* Walk headers from a known boundary (chapter 02's index gives one close
 * to the target) until a batch reaches offset. */
int seg_find_offset(const struct segment *seg, int64_t offset, uint64_t *pos,
		    struct seg_batch *out)
{
	struct seg_scan scan;
	seg_scan_init(&scan, seg);
	return seg_scan_find_offset(&scan, offset, pos, out);
}

/* ---- Scanning headers through a buffer ---- */

/* An empty buffer: the first seg_scan_batch reads. */
void seg_scan_init(struct seg_scan *scan, const struct segment *seg)
{
	scan->seg = seg;
	scan->start = 0;
	scan->len = 0;
	scan->last_size = 0;
	scan->reads = 0;
}

/* KAFKA: FileRecords.searchForOffsetWithSize reads each batch header with
 * FileChannel reads of its own, at least one syscall per batch (its
 * FileLogInputStream has no buffer). samsa reads up to a page at the
 * header and decodes the headers that follow from memory while they lie
 * inside it. A pread costs about 1.5 us here (a VM); with 1 KiB batches a
 * walk makes a fifth of the system calls (docs/03_log.md, Performance). */
int seg_scan_batch(struct seg_scan *scan, uint64_t pos, struct seg_batch *out)
{
	const struct segment *seg = scan->seg;
	if (pos >= seg->size)
		return KB_ERR_RANGE;
	uint64_t rest = seg->size - pos;
	/* A header cut short by the end of the file is CORRUPT below, as in
	 * seg_read_batch; never a read past size. */
	size_t need = (size_t)KB_MIN(rest, (uint64_t)SEG_BATCH_HEADER_LEN);
	if (pos < scan->start || pos + need > scan->start + scan->len) {
		int rc = seg_read(seg, pos, scan->buf, scan_refill_bytes(scan),
				  &scan->len);
		scan->start = pos;
		scan->reads++;
		if (rc != KB_OK || scan->len < need) {
			scan->len = 0;
			return rc != KB_OK ? rc : KB_ERR_CORRUPT;
		}
	}
	const uint8_t *hdr = scan->buf + (pos - scan->start);
	if (seg_batch_decode(hdr, need, out) != KB_OK ||
	    seg_batch_size(out) > rest)
		return KB_ERR_CORRUPT;
	scan->last_size = seg_batch_size(out);
	return KB_OK;
}

/* How much a refill reads. Copying a page costs more than the syscall
 * saves when nothing else in it is used: a point lookup copying 4 KiB for
 * one 61-byte header took 2.5 us instead of 1.8 us (docs/03_log.md). So a
 * page only while the batches are smaller than one, as the last one seen
 * was; just the header for the first read and after a large batch, whose
 * neighbours are probably large too (a producer's batches are alike). */
static size_t scan_refill_bytes(const struct seg_scan *scan)
{
	if (scan->last_size == 0 || scan->last_size >= SEG_SCAN_BUF_BYTES)
		return SEG_BATCH_HEADER_LEN;
	return SEG_SCAN_BUF_BYTES;
}

/* The loop of seg_find_offset, on the caller's scan. *pos is a cursor:
 * where to start on entry, the batch found on KB_OK, untouched else. */
int seg_scan_find_offset(struct seg_scan *scan, int64_t offset, uint64_t *pos,
			 struct seg_batch *out)
{
	const struct segment *seg = scan->seg;
	uint64_t start_pos = *pos;
	if (start_pos > seg->size)
		return KB_ERR_RANGE;
	struct seg_batch b;
	for (uint64_t p = start_pos; p < seg->size; p += seg_batch_size(&b)) {
		int rc = seg_scan_batch(scan, p, &b);
		if (rc != KB_OK)
			return rc;
		if (seg_batch_last_offset(&b) >= offset) {
			*pos = p;
			*out = b;
			return KB_OK;
		}
	}
	return KB_ERR_NOTFOUND;
}

/* ---- Rolling ---- */

/* KAFKA: LogSegment.shouldRoll, less the index-full and offset-overflow
 * rules (chapter 02 and seg_offset_fits) and without jitter. */
bool seg_should_roll(const struct segment *seg, const struct seg_config *cfg,
		     struct seg_incoming in, int64_t now_ms)
{
	uint64_t incoming = in.bytes;
	if (seg->size == 0)
		return false;
	/* KAFKA: size > segmentSize - messagesSize, without the overflow. */
	uint64_t limit = cfg->segment_bytes > 0 ? (uint64_t)cfg->segment_bytes : 0;
	if (incoming > limit || seg->size > limit - incoming)
		return true;
	/* KAFKA: timeWaitedForRoll: by record time when the first batch has a
	 * timestamp, else by the wall clock since the segment was created.
	 * SIMPLIFICATION: no segment.jitter.ms is subtracted. */
	int64_t waited = now_ms - seg->created_ms;
	if (seg->first_batch_timestamp >= 0) /* an older batch waits 0 */
		waited = KB_MAX(in.max_timestamp, seg->first_batch_timestamp) -
			 seg->first_batch_timestamp;
	return waited > cfg->segment_ms;
}

/* ---- Recovery ---- */

/* KAFKA: LogSegment.recover: validate batch after batch; the first byte
 * that does not start a whole valid batch ends the segment, and it is cut
 * off together with everything after it. */
int seg_recover(struct segment *seg, uint64_t from_pos,
		struct seg_recovery *rep)
{
	uint64_t file_size;
	int rc = recovery_start(seg, from_pos, &file_size);
	if (rc != KB_OK)
		return rc;
	struct scan_window w = {.fd = seg->fd, .path = seg->path,
				.file_size = file_size};
	const char *why = NULL;
	uint32_t batches = 0;
	rc = scan_batches(seg, &w, &batches, &why);
	free(w.buf);
	/* Damaged bytes are cut; a failing disk (KB_ERR_IO) cuts nothing. */
	if (rc == KB_ERR_CORRUPT)
		rc = cut_tail(seg, file_size, why);
	if (rc != KB_OK)
		return rc;
	seg_check(seg);
	if (rep)
		*rep = (struct seg_recovery){.valid_bytes = seg->size,
					     .truncated_bytes = file_size - seg->size,
					     .batches = batches,
					     .reason = why};
	return KB_OK;
}

/* From 0, forget everything. From a later boundary, keep what the caller
 * set for the batches before it, but take batch 1's timestamp from disk. */
static int recovery_start(struct segment *seg, uint64_t from_pos,
			  uint64_t *file_size)
{
	struct stat st;
	if (fstat(seg->fd, &st) != 0) {
		KB_ERROR("segment %s: stat: %s", seg->path, strerror(errno));
		return KB_ERR_IO;
	}
	*file_size = (uint64_t)st.st_size;
	if (from_pos > *file_size)
		return KB_ERR_RANGE;
	uint64_t old_size = seg->size;
	seg->size = from_pos;
	if (from_pos == 0) {
		reset_stats(seg);
		return KB_OK;
	}
	struct seg_batch first;
	int rc = seg_read_batch(seg, 0, &first);
	if (rc != KB_OK) {
		seg->size = old_size;
		return rc;
	}
	seg->first_batch_timestamp = first.max_timestamp;
	return KB_OK;
}

/* Move seg->size over whole valid batches. KB_ERR_CORRUPT and *why at the
 * first one that is not. */
static int scan_batches(struct segment *seg, struct scan_window *w,
			uint32_t *batches, const char **why)
{
	struct seg_batch b;
	while (seg->size < w->file_size) {
		int rc = scan_batch(w, seg->size, &b, why);
		if (rc == KB_OK)
			rc = check_offsets(seg, &b, why);
		if (rc != KB_OK)
			return rc;
		note_batch(seg, &b, seg->size);
		seg->size += seg_batch_size(&b);
		(*batches)++;
	}
	return KB_OK;
}

/* Check the batch at pos. The length comes first (KAFKA: FileLogInputStream
 * reads it before the magic): it must be possible and inside the file, and
 * only then is the rest of the batch read and its CRC computed. */
static int scan_batch(struct scan_window *w, uint64_t pos,
		      struct seg_batch *b, const char **why)
{
	uint64_t rest = w->file_size - pos;
	const uint8_t *p;
	if (rest < SEG_LOG_OVERHEAD) {
		*why = "partial batch header";
		return KB_ERR_CORRUPT;
	}
	int rc = window_at(w, pos, SEG_LOG_OVERHEAD, &p);
	if (rc != KB_OK)
		return rc;
	int32_t length = (int32_t)kb_get_be32(p + SEG_OFF_BATCH_LENGTH);
	if (length < 0) {
		*why = "negative batch length";
	} else if (length < SEG_MIN_BATCH_LENGTH) {
		*why = "batch length below minimum";
	} else if (SEG_LOG_OVERHEAD + (uint64_t)length > rest) {
		*why = "batch runs past end of file";
	} else {
		size_t len = SEG_LOG_OVERHEAD + (size_t)length;
		rc = window_at(w, pos, len, &p);
		return rc != KB_OK ? rc : seg_batch_validate(p, len, b, why);
	}
	return KB_ERR_CORRUPT;
}

/* Make file bytes [pos, pos + need) readable at *out, which the caller
 * knows lie inside the file. Reads a fresh chunk starting at pos when they
 * are not in the window yet; a batch longer than the buffer grows it. */
static int window_at(struct scan_window *w, uint64_t pos, size_t need,
		     const uint8_t **out)
{
	if (pos < w->start || pos + need > w->start + w->len) {
		size_t cap = KB_MAX(need, (size_t)SEG_RECOVER_CHUNK);
		if (cap > w->cap) {
			uint8_t *grown = realloc(w->buf, cap);
			if (!grown)
				return KB_ERR_NOMEM;
			w->buf = grown;
			w->cap = cap;
		}
		size_t want = (size_t)KB_MIN((uint64_t)w->cap, w->file_size - pos);
		if (pread_full(w->fd, w->buf, want, pos, &w->len) != KB_OK ||
		    w->len < need) {
			KB_ERROR("segment %s: read at %" PRIu64 ": %s", w->path,
				 pos, w->len < need ? "file shrank" : strerror(errno));
			w->len = 0;
			return KB_ERR_IO;
		}
		w->start = pos;
	}
	*out = w->buf + (pos - w->start);
	return KB_OK;
}

/* INVARIANT: offsets grow (2) and fit (3), for a batch read back from
 * disk. The CRC does not cover baseOffset, so this is the only check a
 * damaged one meets. */
static int check_offsets(const struct segment *seg, const struct seg_batch *b,
			 const char **why)
{
	if (b->base_offset < seg->next_offset)
		*why = "base offset below next offset";
	else if (!seg_offset_fits(seg, seg_batch_last_offset(b)))
		*why = "offset too far from the segment's base offset";
	else
		return KB_OK;
	return KB_ERR_CORRUPT;
}

/* Cut everything from seg->size on, and say so once, with numbers. */
static int cut_tail(struct segment *seg, uint64_t file_size, const char *why)
{
	if (ftruncate(seg->fd, (off_t)seg->size) != 0) {
		KB_ERROR("segment %s: truncate to %" PRIu64 ": %s", seg->path,
			 seg->size, strerror(errno));
		return KB_ERR_IO;
	}
	seg->dirty = true;
	KB_WARN("segment %s: truncated %" PRIu64 " bytes at position %" PRIu64
		" (next offset %" PRId64 "): %s", seg->path,
		file_size - seg->size, seg->size, seg->next_offset, why);
	return KB_OK;
}

/* ---- Truncation ---- */

/* KAFKA: LogSegment.truncateTo. The headers of the bytes kept are walked
 * first, which proves size is a batch boundary and gives the new
 * next_offset and timestamps; only then is the file cut. */
int seg_truncate(struct segment *seg, uint64_t size)
{
	if (size > seg->size)
		return KB_ERR_RANGE;
	struct segment kept = *seg;
	int rc = walk_headers(&kept, size);
	if (rc != KB_OK)
		return rc;
	if (ftruncate(seg->fd, (off_t)size) != 0) {
		KB_ERROR("segment %s: truncate to %" PRIu64 ": %s", seg->path,
			 size, strerror(errno));
		return KB_ERR_IO;
	}
	kept.size = size;
	kept.dirty = true;
	/* KAFKA: an emptied segment starts its segment.ms clock again. */
	if (size == 0)
		kept.created_ms = kb_now_ms();
	*seg = kept;
	seg_check(seg);
	return KB_OK;
}

/* ---- Checking the invariants ---- */

/* INVARIANTS 2 and 4, asserted: a few comparisons, cheap enough for every
 * append. Only what the code itself maintains is asserted; what a damaged
 * file says, or an I/O error leaves, never is (INVARIANT 6). Invariant 5
 * is checked by the tests (seg->dirty after appends and flushes). */
void seg_check(const struct segment *seg)
{
	assert(seg->fd >= 0 && seg->path != NULL);
	assert(seg->next_offset >= seg->base_offset);             /* 2 */
	assert(seg->offset_of_max_timestamp == -1 ||              /* 4 */
	       (seg->offset_of_max_timestamp >= seg->base_offset &&
		seg->offset_of_max_timestamp < seg->next_offset));
	(void)seg;
}

/* INVARIANT 1, asserted: the file is exactly size bytes. A syscall, so
 * for tests and the debug checks of chapter 03, not every append. */
void seg_check_file(const struct segment *seg)
{
	struct stat st;
	seg_check(seg);
	assert(fstat(seg->fd, &st) == 0 && (uint64_t)st.st_size == seg->size);
	(void)st;
}

/* Recompute seg's offsets and timestamps from the headers in [0, size).
 * KB_ERR_INVAL when size falls inside a batch. */
static int walk_headers(struct segment *seg, uint64_t size)
{
	reset_stats(seg);
	struct seg_scan scan;
	struct seg_batch b;
	uint64_t pos = 0;
	seg_scan_init(&scan, seg);
	while (pos < size) {
		int rc = seg_scan_batch(&scan, pos, &b);
		if (rc != KB_OK)
			return rc;
		note_batch(seg, &b, pos);
		pos += seg_batch_size(&b);
	}
	return pos == size ? KB_OK : KB_ERR_INVAL;
}

/* ---- Small helpers ---- */

/* The header fields in the order the layout gives them. NULL when the
 * header is sound, else the rule it breaks. Never reads past buf + len. */
static const char *batch_decode(const uint8_t *buf, size_t len,
				struct seg_batch *out)
{
	if (len < SEG_BATCH_HEADER_LEN)
		return "shorter than a batch header";
	if (buf[SEG_OFF_MAGIC] != SEG_MAGIC_V2)
		return "wrong magic";
	*out = (struct seg_batch){
		.base_offset = (int64_t)kb_get_be64(buf + SEG_OFF_BASE_OFFSET),
		.batch_length = (int32_t)kb_get_be32(buf + SEG_OFF_BATCH_LENGTH),
		.partition_leader_epoch = (int32_t)kb_get_be32(buf + SEG_OFF_LEADER_EPOCH),
		.magic = (int8_t)buf[SEG_OFF_MAGIC],
		.crc = kb_get_be32(buf + SEG_OFF_CRC),
		.attributes = (int16_t)kb_get_be16(buf + SEG_OFF_ATTRIBUTES),
		.last_offset_delta = (int32_t)kb_get_be32(buf + SEG_OFF_LAST_OFFSET_DELTA),
		.base_timestamp = (int64_t)kb_get_be64(buf + SEG_OFF_BASE_TIMESTAMP),
		.max_timestamp = (int64_t)kb_get_be64(buf + SEG_OFF_MAX_TIMESTAMP),
		.producer_id = (int64_t)kb_get_be64(buf + SEG_OFF_PRODUCER_ID),
		.producer_epoch = (int16_t)kb_get_be16(buf + SEG_OFF_PRODUCER_EPOCH),
		.base_sequence = (int32_t)kb_get_be32(buf + SEG_OFF_BASE_SEQUENCE),
		.records_count = (int32_t)kb_get_be32(buf + SEG_OFF_RECORDS_COUNT),
	};
	if (out->batch_length < 0)
		return "negative batch length";
	if (out->batch_length < SEG_MIN_BATCH_LENGTH)
		return "batch length below minimum";
	return NULL;
}

/* Open an existing file, or create it when allowed. *created says which.
 * KB_ERR_NOTFOUND (not logged) when it is missing and create is false. */
static int open_log_file(const char *path, bool create, bool *created)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		*created = fd >= 0;
	}
	if (fd >= 0)
		return fd;
	if (errno == ENOENT)
		return KB_ERR_NOTFOUND;
	KB_ERROR("segment %s: open: %s", path, strerror(errno));
	return KB_ERR_IO;
}

/* What an empty segment knows: nothing yet. */
static void reset_stats(struct segment *seg)
{
	seg->next_offset = seg->base_offset;
	seg->max_timestamp = -1;
	seg->offset_of_max_timestamp = -1;
	seg->first_batch_timestamp = -1;
}

/* pread until len bytes or end of file, retrying EINTR and short reads.
 * Five parameters, against STYLE §6: pread(2)'s four, plus the count. */
static int pread_full(int fd, void *buf, size_t len, uint64_t pos,
		      size_t *got)
{
	uint8_t *p = buf;
	*got = 0;
	while (*got < len) {
		ssize_t n = pread(fd, p + *got, len - *got, (off_t)(pos + *got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return KB_ERR_IO;
		if (n == 0)
			break;
		*got += (size_t)n;
	}
	return KB_OK;
}

/* pwrite all len bytes at pos, retrying EINTR and short writes. */
static int pwrite_full(int fd, const void *buf, size_t len, uint64_t pos)
{
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)pos);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return KB_ERR_IO;
		p += n;
		pos += (uint64_t)n;
		len -= (size_t)n;
	}
	return KB_OK;
}

/* ---- Teardown ---- */

/* INVARIANT: fdatasync only when something changed (5); a new file's
 * directory entry is made durable once, on its first flush.
 * KAFKA: LogSegment.flush; LocalLog.flush fsyncs the directory. */
int seg_flush(struct segment *seg)
{
	if (seg->dirty && fdatasync(seg->fd) != 0) {
		KB_ERROR("segment %s: fdatasync: %s", seg->path, strerror(errno));
		return KB_ERR_IO;
	}
	seg->dirty = false;
	if (seg->dir_unsynced) {
		/* seg_file_name put a '/' between the directory and the name. */
		char dir[PATH_MAX];
		int dir_len = (int)(strrchr(seg->path, '/') - seg->path);
		snprintf(dir, sizeof dir, "%.*s", dir_len > 0 ? dir_len : 1,
			 seg->path);
		if (kb_fsync_dir(dir) != KB_OK)
			return KB_ERR_IO;
		seg->dir_unsynced = false;
	}
	return KB_OK;
}

/* Close the descriptor and free; what was not flushed stays in the page
 * cache, where the OS writes it out in its own time. */
void seg_close(struct segment *seg)
{
	if (!seg)
		return;
	if (close(seg->fd) != 0)
		KB_ERROR("segment %s: close: %s", seg->path, strerror(errno));
	free(seg->path);
	free(seg);
}

/* Remove the file, then close and free; a file already gone is fine.
 * SIMPLIFICATION: Kafka renames it to .deleted and unlinks it later
 * (file.delete.delay.ms) so readers can finish; our reactor has none. */
int seg_delete(struct segment *seg)
{
	int rc = KB_OK;
	if (unlink(seg->path) != 0 && errno != ENOENT) {
		KB_ERROR("segment %s: unlink: %s", seg->path, strerror(errno));
		rc = KB_ERR_IO;
	}
	seg_close(seg);
	return rc;
}
