/* SPDX-License-Identifier: MIT */
/*
 * Chapter 02 — index: the sparse offset index and time index of a segment.
 *
 * Concept:
 *   A segment can only be read by walking batch headers from a known
 *   boundary. So beside each one sits a small sorted table, "the batch
 *   ending at offset O starts at byte P", one entry per
 *   index.interval.bytes: a binary search, then a short scan. A second
 *   table maps timestamps to offsets. Both are derived data: the log
 *   rebuilds them, byte for byte, by the same rule.
 *
 * Kafka:
 *   OffsetIndex (.index: int32 relative offset, int32 position), TimeIndex
 *   (.timeindex: int64 timestamp, int32 relative offset), AbstractIndex
 *   (mmap'd, preallocated to segment.index.bytes, trimToValidSize);
 *   index.interval.bytes; onBecomeInactiveSegment.
 *
 * Interface:
 *   - idx_set_open / idx_set_close (trims) or idx_set_delete.
 *   - idx_set_on_append after every seg_append; roll first when idx_is_full.
 *   - idx_set_seal when the segment stops being active.
 *   - idx_lookup_floor, then seg_find_offset from its position.
 *   - After loading, idx_set_check; on failure recover and idx_set_rebuild.
 *   - idx_entry is a copy: no pointer into the mapping escapes.
 *
 * Invariants (idx_assert: 4 always, 1-3 at the tail after appends):
 *   1. Offset index: offsets and positions strictly increase.
 *   2. Time index: timestamps strictly increase, offsets never decrease.
 *   3. Offsets are base_offset + an int32 >= 0; positions fit an int32.
 *   4. The mapping is the file; entries * entry_size <= map_len.
 *   5. The time index keeps its last slot for the seal entry.
 *   8. The disk pages under every entry are allocated before it is
 *      stored (reserve_pages): a full disk is KB_ERR_IO, never SIGBUS.
 *   6. One rule (index_batch) adds entries on append and on rebuild.
 *   7. A checked index points inside its log (idx_check).
 *
 * Simplifications: plain binary search, every index opened writable, no
 *   .txnindex (docs/02_index.md). Single-threaded.
 *
 * See also: docs/02_index.md, diagrams/02_index.dot,
 *   tests/02_index_test.c.
 *   Uses chapters 00 (base), 01 (segment).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "00_base.h"
#include "01_segment.h"
#include "02_index.h"

/* KAFKA: LogFileUtils.INDEX_FILE_SUFFIX and TIME_INDEX_FILE_SUFFIX. */
#define IDX_OFFSET_SUFFIX ".index"
#define IDX_TIME_SUFFIX ".timeindex"
/* Bytes of one page of the mapping, the unit a disk block is found for
 * (4 KiB on every Linux port samsa runs on; a larger page only means a
 * fallocate more often than needed). */
#define IDX_PAGE_BYTES 4096
/* KAFKA: RecordBatch.NO_TIMESTAMP, the timestamp of "no entry". */
#define IDX_NO_TIMESTAMP (-1)
/* Byte offsets inside an entry (KAFKA: OffsetIndex, TimeIndex). */
#define IDX_OFF_REL 0      /* .index: int32 offset - base_offset */
#define IDX_OFF_POSITION 4 /* .index: int32 byte position in the .log */
#define IDX_TIME_TS 0      /* .timeindex: int64 timestamp (absolute) */
#define IDX_TIME_REL 8     /* .timeindex: int32 offset - base_offset */

/* ---- Prototypes of static helpers ---- */

static int open_file(struct idx *ix, const char *dir, size_t max_bytes);
static int resize_map(struct idx *ix, size_t bytes);
static int make_room(struct idx *ix);
static int reserve_pages(struct idx *ix);
static void idx_assert_tail(const struct idx *ix);
static bool offset_fits(const struct idx *ix, int64_t offset);
static struct idx_entry no_entry(const struct idx *ix);
static struct idx_entry last_entry(const struct idx *ix);
static int put_time(struct idx *ix, int64_t timestamp, int64_t offset,
		    bool skip_full_check);
static size_t count_at_or_below(const struct idx *ix, int64_t key,
				bool by_timestamp);
static bool is_trimmed(const struct idx *ix);
static int index_batch(struct idx_set *s, const struct seg_batch *b,
		       uint64_t position, struct idx_entry max);
static int finish(struct idx_set *s, int64_t max_ts, int64_t max_ts_offset);
static const char *check_entries(const struct idx *ix,
				 const struct segment *seg);
static const char *check_entry(const struct idx *ix,
			       const struct segment *seg, size_t i);
static const char *check_last_batch(const struct idx *ix,
				    const struct segment *seg);
static bool entry_is_zero(const struct idx *ix, size_t i);
static int io_error(const struct idx *ix, const char *what);
static void free_idx(struct idx *ix);

/* ---- Lifecycle ---- */

/* KAFKA: AbstractIndex's constructor: create or open the file, size it to
 * the preallocation, map it; an existing file holds length / entry size
 * entries. returns owned *out (idx_close). */
int idx_open(struct idx_file f, size_t max_bytes, struct idx **out)
{
	size_t entry_size = f.kind == IDX_OFFSET ? IDX_OFFSET_ENTRY_SIZE
						 : IDX_TIME_ENTRY_SIZE;
	if (max_bytes < entry_size || f.base_offset < 0)
		return KB_ERR_INVAL;
	struct idx *ix = calloc(1, sizeof *ix);
	if (!ix)
		return KB_ERR_NOMEM;
	ix->kind = f.kind;
	ix->dirty_all = true; /* unknown: the first flush syncs everything */
	ix->fd = -1;
	ix->base_offset = f.base_offset;
	ix->entry_size = entry_size;
	int rc = open_file(ix, f.dir, max_bytes);
	if (rc != KB_OK) {
		free_idx(ix);
		return rc;
	}
	*out = ix;
	return KB_OK;
}

/* Name, open and map the file of ix. A file whose length is not whole
 * entries keeps the whole ones and remembers the rest in torn_bytes. */
static int open_file(struct idx *ix, const char *dir, size_t max_bytes)
{
	char path[4096];
	const char *suffix = ix->kind == IDX_OFFSET ? IDX_OFFSET_SUFFIX
						    : IDX_TIME_SUFFIX;
	int rc = seg_file_name(path, sizeof path,
			       (struct seg_file){dir, ix->base_offset, suffix});
	if (rc != KB_OK)
		return rc;
	if (!(ix->path = strdup(path)))
		return KB_ERR_NOMEM;
	ix->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	struct stat st;
	if (ix->fd < 0 || fstat(ix->fd, &st) != 0)
		return io_error(ix, "open");
	ix->entries = (size_t)st.st_size / ix->entry_size;
	ix->torn_bytes = (size_t)st.st_size % ix->entry_size;
	/* An existing file longer than max_bytes keeps all its entries. */
	ix->max_entries = KB_MAX(ix->entries, max_bytes / ix->entry_size);
	return resize_map(ix, ix->max_entries * ix->entry_size);
}

/* ---- Appending entries ---- */

/* KAFKA: OffsetIndex.append: refuses when full, and an offset that is not
 * larger than the last one (InvalidOffsetException). INVARIANT 1, 3. */
int idx_append_offset(struct idx *ix, int64_t offset, uint32_t position)
{
	assert(ix->kind == IDX_OFFSET);
	if (idx_is_full(ix))
		return KB_ERR_TOO_LARGE;
	if (!offset_fits(ix, offset) || position > INT32_MAX)
		return KB_ERR_RANGE;
	if (ix->entries > 0 && offset <= last_entry(ix).offset)
		return KB_ERR_INVAL;
	int rc = make_room(ix);
	if (rc != KB_OK)
		return rc;
	uint8_t *p = ix->map + ix->entries * ix->entry_size;
	kb_put_be32(p + IDX_OFF_REL, (uint32_t)(offset - ix->base_offset));
	kb_put_be32(p + IDX_OFF_POSITION, position);
	ix->entries++;
	idx_assert_tail(ix);
	return KB_OK;
}

/* KAFKA: TimeIndex.maybeAppend(timestamp, offset). */
int idx_append_time(struct idx *ix, int64_t timestamp, int64_t offset)
{
	return put_time(ix, timestamp, offset, false);
}

/* KAFKA: TimeIndex.maybeAppend with skipFullCheck: only the seal may use
 * the reserved last slot (INVARIANT 5). An older or equal timestamp adds
 * nothing; an offset below the last entry's is refused. INVARIANT 2. */
static int put_time(struct idx *ix, int64_t timestamp, int64_t offset,
		    bool skip_full_check)
{
	assert(ix->kind == IDX_TIME);
	if (!skip_full_check && idx_is_full(ix))
		return KB_ERR_TOO_LARGE;
	struct idx_entry last = last_entry(ix);
	if (ix->entries > 0 && offset < last.offset)
		return KB_ERR_INVAL;
	if (timestamp <= last.timestamp)
		return KB_OK;
	if (!offset_fits(ix, offset))
		return KB_ERR_RANGE;
	if (ix->entries >= ix->max_entries)
		return KB_ERR_TOO_LARGE;
	int rc = make_room(ix);
	if (rc != KB_OK)
		return rc;
	uint8_t *p = ix->map + ix->entries * ix->entry_size;
	kb_put_be64(p + IDX_TIME_TS, (uint64_t)timestamp);
	kb_put_be32(p + IDX_TIME_REL, (uint32_t)(offset - ix->base_offset));
	ix->entries++;
	idx_assert_tail(ix);
	return KB_OK;
}

/* Full means "roll the segment now". The time index is full one entry
 * early: its last slot waits for idx_set_seal (INVARIANT 5). */
bool idx_is_full(const struct idx *ix)
{
	if (ix->kind == IDX_TIME)
		return ix->entries + 1 >= ix->max_entries;
	return ix->entries >= ix->max_entries;
}

/* ---- Lookup ---- */

/* KAFKA: OffsetIndex.lookup and TimeIndex.lookup (largestLowerBoundSlotFor).
 * Missing a floor, the segment's start: every batch is at or after it. */
struct idx_entry idx_lookup_floor(const struct idx *ix, int64_t target)
{
	size_t n = count_at_or_below(ix, target, ix->kind == IDX_TIME);
	return n == 0 ? no_entry(ix) : idx_entry_at(ix, n - 1);
}

/* Decode entry i from its big-endian bytes and make its offset absolute. */
struct idx_entry idx_entry_at(const struct idx *ix, size_t i)
{
	assert(i < ix->entries);
	const uint8_t *p = ix->map + i * ix->entry_size;
	if (ix->kind == IDX_OFFSET)
		return (struct idx_entry){
			ix->base_offset + (int32_t)kb_get_be32(p + IDX_OFF_REL),
			kb_get_be32(p + IDX_OFF_POSITION), IDX_NO_TIMESTAMP};
	return (struct idx_entry){
		ix->base_offset + (int32_t)kb_get_be32(p + IDX_TIME_REL), 0,
		(int64_t)kb_get_be64(p + IDX_TIME_TS)};
}

/* How many leading entries have a key (offset, or timestamp) <= key: a
 * binary search that relies on keys being sorted (INVARIANT 1, 2). On a
 * damaged file it still ends, with some answer, inside [0, entries]. */
static size_t count_at_or_below(const struct idx *ix, int64_t key,
				bool by_timestamp)
{
	size_t lo = 0, hi = ix->entries;
	while (lo < hi) { /* entries [0, lo) are <= key, [hi, end) are > */
		size_t mid = lo + (hi - lo) / 2;
		struct idx_entry e = idx_entry_at(ix, mid);
		if ((by_timestamp ? e.timestamp : e.offset) <= key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- The two indexes of one segment, and when to add entries ---- */

/* Open the .index, then the .timeindex; on failure neither stays open. */
int idx_set_open(struct idx_set *s, const char *dir, int64_t base_offset,
		 const struct idx_config *cfg)
{
	struct idx_file f = {dir, base_offset, IDX_OFFSET};
	*s = (struct idx_set){.interval_bytes = cfg->interval_bytes};
	int rc = idx_open(f, cfg->max_bytes, &s->offsets);
	if (rc != KB_OK)
		return rc;
	f.kind = IDX_TIME;
	rc = idx_open(f, cfg->max_bytes, &s->times);
	if (rc != KB_OK) {
		idx_close(s->offsets);
		s->offsets = NULL;
	}
	return rc;
}

/* After seg_append: the segment's own max timestamp already counts b. */
int idx_set_on_append(struct idx_set *s, const struct segment *seg,
		      const struct seg_batch *b, uint64_t position)
{
	struct idx_entry max = {seg->offset_of_max_timestamp, 0,
				seg->max_timestamp};
	return index_batch(s, b, position, max);
}

/* The rule, as LogSegment.append and LogSegment.recover both run it: if
 * MORE than interval_bytes of earlier batches went by since the last
 * entry, index this batch (its last offset -> its position) and the max
 * timestamp so far (max: its offset and timestamp, the time entry due);
 * then count this batch. INVARIANT 6: the only place entries are added
 * while writing or rebuilding. */
static int index_batch(struct idx_set *s, const struct seg_batch *b,
		       uint64_t position, struct idx_entry max)
{
	if (s->bytes_since_entry > s->interval_bytes) {
		/* Both or neither: a half-added pair would break the rule. */
		if (idx_is_full(s->offsets) || idx_is_full(s->times))
			return KB_ERR_TOO_LARGE;
		if (position > INT32_MAX)
			return KB_ERR_RANGE;
		int rc = idx_append_offset(s->offsets, seg_batch_last_offset(b),
					   (uint32_t)position);
		if (rc == KB_OK)
			rc = idx_append_time(s->times, max.timestamp, max.offset);
		if (rc != KB_OK)
			return rc;
		s->bytes_since_entry = 0;
	}
	s->bytes_since_entry += seg_batch_size(b);
	return KB_OK;
}

/* KAFKA: onBecomeInactiveSegment. */
int idx_set_seal(struct idx_set *s, const struct segment *seg)
{
	return finish(s, seg->max_timestamp, seg->offset_of_max_timestamp);
}

/* The time index gets a last entry for the segment's max timestamp, so
 * "newest record of this segment" needs no scan (retention.ms reads it),
 * then both files shrink to their entries (INVARIANT 4). */
static int finish(struct idx_set *s, int64_t max_ts, int64_t max_ts_offset)
{
	int rc = put_time(s->times, max_ts, max_ts_offset, true);
	if (rc == KB_OK)
		rc = idx_trim(s->offsets);
	if (rc == KB_OK)
		rc = idx_trim(s->times);
	return rc;
}

/* ---- Truncation, trimming and the size of the file ---- */

/* KAFKA: OffsetIndex.truncateTo / TimeIndex.truncateTo: keep the entries
 * whose offset is < offset. The dropped bytes are zeroed, so a crash
 * before the next trim leaves a zeroed tail that idx_check recognises. */
int idx_truncate_to(struct idx *ix, int64_t offset)
{
	size_t keep = offset <= ix->base_offset
		? 0 : count_at_or_below(ix, offset - 1, false);
	if (keep >= ix->entries)
		return KB_OK;
	bool trimmed = is_trimmed(ix);
	memset(ix->map + keep * ix->entry_size, 0,
	       (ix->entries - keep) * ix->entry_size);
	ix->entries = keep;
	ix->dirty_all = true;
	/* A sealed file stays exact (INVARIANT 4); an active one preallocated. */
	int rc = trimmed ? idx_trim(ix) : KB_OK;
	idx_assert(ix);
	return rc;
}

/* KAFKA: AbstractIndex.reset: no entries, preallocated again. Cutting the
 * file to 0 first makes every byte of the new preallocation a zero. */
int idx_reset(struct idx *ix)
{
	ix->entries = 0;
	ix->torn_bytes = 0;
	int rc = resize_map(ix, 0);
	if (rc == KB_OK)
		rc = resize_map(ix, ix->max_entries * ix->entry_size);
	idx_assert(ix);
	return rc;
}

/* KAFKA: AbstractIndex.trimToValidSize. */
int idx_trim(struct idx *ix)
{
	int rc = resize_map(ix, ix->entries * ix->entry_size);
	idx_assert(ix);
	return rc;
}

/* ---- Checking the invariants ---- */

/* INVARIANT 4, asserted: the mapping covers the entries. It holds for
 * any file, damaged or not, so it runs after every change; the entries'
 * order (1-3) of a loaded file is idx_check's (a damaged file is not a
 * bug), and appends assert it at the tail (idx_assert_tail). */
void idx_assert(const struct idx *ix)
{
	assert(ix->entry_size == (ix->kind == IDX_OFFSET ? IDX_OFFSET_ENTRY_SIZE
							 : IDX_TIME_ENTRY_SIZE));
	assert(ix->entries * ix->entry_size <= ix->map_len);
	(void)ix;
}

/* INVARIANTS 1-3 at the tail, after an append: the entry just written is
 * in range and after the one before it (the append checked both). */
static void idx_assert_tail(const struct idx *ix)
{
	idx_assert(ix);
	struct idx_entry last = idx_entry_at(ix, ix->entries - 1);
	assert(last.offset >= ix->base_offset);                    /* 3 */
	if (ix->entries < 2)
		return;
	struct idx_entry prev = idx_entry_at(ix, ix->entries - 2);
	assert(ix->kind == IDX_OFFSET                              /* 1 */
	       ? last.offset > prev.offset && last.position > prev.position
	       : last.timestamp > prev.timestamp &&               /* 2 */
		 last.offset >= prev.offset);
	(void)last;
	(void)prev;
}

/* Before writing entry number `entries`: a trimmed file grows back to its
 * preallocated size, and the disk pages under the entry exist. The caller
 * has checked entries < max_entries. */
static int make_room(struct idx *ix)
{
	assert(ix->entries < ix->max_entries);
	ix->dirty_from = KB_MIN(ix->dirty_from, ix->entries * ix->entry_size);
	if ((ix->entries + 1) * ix->entry_size > ix->map_len) {
		int rc = resize_map(ix, ix->max_entries * ix->entry_size);
		if (rc != KB_OK)
			return rc;
	}
	return reserve_pages(ix);
}

/* The preallocated file is sparse: the first store into a page of the
 * mapping that has no disk block behind it allocates one, and on a full
 * disk that store is a SIGBUS, not an error. So the entry's pages are
 * allocated first, with fallocate, whose ENOSPC is an ordinary
 * KB_ERR_IO (KAFKA preallocates with RandomAccessFile.setLength, sparse
 * too: a full disk there is an InternalError). Only an entry that begins
 * or crosses into a page asks; a file system without fallocate is
 * trusted as before. */
static int reserve_pages(struct idx *ix)
{
	size_t page = IDX_PAGE_BYTES;
	size_t from = ix->entries * ix->entry_size;
	size_t last = from + ix->entry_size - 1;
	if (from % page != 0 && from / page == last / page)
		return KB_OK;
	off_t start = (off_t)(from - from % page);
	if (fallocate(ix->fd, FALLOC_FL_KEEP_SIZE, start,
		      (off_t)(last / page * page + page) - start) == 0 ||
	    errno == EOPNOTSUPP)
		return KB_OK;
	return io_error(ix, "fallocate");
}

/* Make the file `bytes` long and map exactly that (INVARIANT 4). Growing:
 * lengthen the file, then map. Shrinking: map less, then cut the file.
 * Either way no byte of the mapping ever lies past the end of the file
 * (touching one would be SIGBUS), and a failure keeps the old mapping. */
static int resize_map(struct idx *ix, size_t bytes)
{
	ix->dirty_all = true; /* the file's length changes */
	size_t old = ix->map_len;
	if (bytes == old && (ix->map || bytes == 0))
		return KB_OK;
	if (bytes > old && ftruncate(ix->fd, (off_t)bytes) != 0)
		return io_error(ix, "ftruncate");
	uint8_t *map = NULL;
	if (bytes > 0) {
		map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
			   ix->fd, 0);
		if (map == MAP_FAILED)
			return io_error(ix, "mmap");
	}
	if (ix->map)
		munmap(ix->map, old);
	ix->map = map;
	ix->map_len = bytes;
	if (bytes < old && ftruncate(ix->fd, (off_t)bytes) != 0)
		return io_error(ix, "ftruncate");
	return KB_OK;
}

/* A trimmed file holds just its entries; a preallocated one, capacity. */
static bool is_trimmed(const struct idx *ix)
{
	return ix->map_len < ix->max_entries * ix->entry_size;
}

/* ---- Recovery: checking and rebuilding ---- */

/* KAFKA: OffsetIndex.sanityCheck and TimeIndex.sanityCheck, and more:
 * every entry is checked, not just the last. */
int idx_check(const struct idx *ix, const struct segment *seg,
	      const char **why)
{
	const char *bad = check_entries(ix, seg);
	if (why)
		*why = bad;
	return bad ? KB_ERR_CORRUPT : KB_OK;
}

/* The first broken rule, or NULL. */
static const char *check_entries(const struct idx *ix,
				 const struct segment *seg)
{
	if (ix->torn_bytes != 0)
		return "index file length is not a multiple of the entry size";
	for (size_t i = 0; i < ix->entries; i++) {
		const char *bad = check_entry(ix, seg, i);
		if (bad)
			return bad;
	}
	if (ix->kind == IDX_OFFSET && ix->entries > 0)
		return check_last_batch(ix, seg);
	return NULL;
}

/* Entry i against INVARIANTS 1, 2, 3 and 7. A zero entry after the first
 * can only be a preallocated file that a crash left untrimmed. */
static const char *check_entry(const struct idx *ix,
			       const struct segment *seg, size_t i)
{
	if (i > 0 && entry_is_zero(ix, i))
		return "zero entries after the first (untrimmed after a crash)";
	struct idx_entry e = idx_entry_at(ix, i);
	if (e.offset < ix->base_offset || e.offset >= seg->next_offset)
		return "index offset outside [base offset, next offset)";
	if (ix->kind == IDX_OFFSET && e.position >= seg->size)
		return "index position past the end of the log";
	if (ix->kind == IDX_OFFSET) {
		if (i == 0)
			return NULL;
		struct idx_entry p = idx_entry_at(ix, i - 1);
		if (e.offset <= p.offset || e.position <= p.position)
			return "offset index entries not increasing";
		return NULL;
	}
	/* Entry 0 must come after no_entry, as put_time demands. */
	struct idx_entry p = i > 0 ? idx_entry_at(ix, i - 1) : no_entry(ix);
	if (e.timestamp <= p.timestamp)
		return "time index timestamps not increasing";
	if (e.offset < p.offset)
		return "time index offsets decreasing";
	return NULL;
}

/* The last offset entry must name a batch that starts at its position and
 * holds its offset. One header read per index: it catches an index left
 * over from an older log whose positions still fall inside this one. */
static const char *check_last_batch(const struct idx *ix,
				    const struct segment *seg)
{
	struct idx_entry e = idx_entry_at(ix, ix->entries - 1);
	struct seg_batch b;
	if (seg_read_batch(seg, e.position, &b) != KB_OK ||
	    e.offset < b.base_offset || e.offset > seg_batch_last_offset(&b))
		return "last offset index entry is not at its batch";
	return NULL;
}

/* KAFKA: LogSegment.recover: reset both indexes, then walk the batches
 * from byte 0 through index_batch with a running max timestamp, exactly
 * as the appends did (INVARIANT 6). Run seg_recover first: a damaged
 * batch stops the walk with KB_ERR_CORRUPT. */
int idx_set_rebuild(struct idx_set *s, const struct segment *seg,
		    bool sealed)
{
	int64_t max_ts = IDX_NO_TIMESTAMP, max_ts_offset = -1;
	int rc = idx_reset(s->offsets);
	if (rc == KB_OK)
		rc = idx_reset(s->times);
	s->bytes_since_entry = 0;
	uint64_t pos = 0;
	struct seg_batch b;
	while (rc == KB_OK && (rc = seg_read_batch(seg, pos, &b)) == KB_OK) {
		if (b.max_timestamp > max_ts) { /* as seg_append counts it */
			max_ts = b.max_timestamp;
			max_ts_offset = seg_batch_last_offset(&b);
		}
		struct idx_entry max = {max_ts_offset, 0, max_ts};
		if ((rc = index_batch(s, &b, pos, max)) == KB_OK)
			pos += seg_batch_size(&b);
	}
	if (rc == KB_ERR_RANGE && pos == seg->size) /* walked to the end */
		rc = KB_OK;
	if (rc == KB_OK && sealed)
		rc = finish(s, max_ts, max_ts_offset);
	if (rc != KB_OK)
		KB_WARN("index %s: rebuild stopped at position %" PRIu64 ": %s",
			s->offsets->path, pos, kb_status_name(rc));
	return rc;
}

/* Check the offset index, then the time index; *why names the first
 * broken rule. */
int idx_set_check(const struct idx_set *s, const struct segment *seg,
		  const char **why)
{
	int rc = idx_check(s->offsets, seg, why);
	return rc == KB_OK ? idx_check(s->times, seg, why) : rc;
}

/* ---- Small helpers ---- */

/* INVARIANT 3: offset - base_offset must be an int32 >= 0
 * (KAFKA: AbstractIndex.relativeOffset / IndexOffsetOverflowException). */
static bool offset_fits(const struct idx *ix, int64_t offset)
{
	return offset >= ix->base_offset &&
	       offset - ix->base_offset <= INT32_MAX;
}

/* KAFKA: {baseOffset, NO_TIMESTAMP}, what lookups answer below the first
 * entry and what an empty index's "last entry" is: the segment's start. */
static struct idx_entry no_entry(const struct idx *ix)
{
	return (struct idx_entry){ix->base_offset, 0, IDX_NO_TIMESTAMP};
}

/* The last entry, or no_entry when there is none. */
static struct idx_entry last_entry(const struct idx *ix)
{
	return ix->entries == 0 ? no_entry(ix)
				: idx_entry_at(ix, ix->entries - 1);
}

/* Are all bytes of entry i zero? */
static bool entry_is_zero(const struct idx *ix, size_t i)
{
	const uint8_t *p = ix->map + i * ix->entry_size;
	for (size_t k = 0; k < ix->entry_size; k++)
		if (p[k] != 0)
			return false;
	return true;
}

/* Log a failed syscall once, here, with the file and errno. */
static int io_error(const struct idx *ix, const char *what)
{
	KB_ERROR("index %s: %s: %s", ix->path ? ix->path : "?", what,
		 strerror(errno));
	return KB_ERR_IO;
}

/* ---- Teardown ---- */

/* msync writes the dirty mapped pages, fsync the file length. */
/* Only what changed since the last flush is synced: with
 * flush.messages=1 most flushes add one entry or none (one per
 * index.interval.bytes), and an msync of the whole 10 MiB preallocated
 * map costs more than the fdatasync of the log itself. msync(MS_SYNC)
 * writes a range's data; a truncated or resized file gets the whole map
 * and an fsync for its length. */
int idx_flush(struct idx *ix)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), from = 0,
	       end = KB_MIN(ix->map_len, ix->entries * ix->entry_size);
	if (!ix->dirty_all) {
		if (ix->dirty_from >= end)
			return KB_OK; /* nothing appended since */
		from = ix->dirty_from - ix->dirty_from % page;
	} else {
		end = ix->map_len;
	}
	if (ix->map && from < end &&
	    msync(ix->map + from, end - from, MS_SYNC) != 0)
		return io_error(ix, "msync");
	if (ix->dirty_all && fsync(ix->fd) != 0)
		return io_error(ix, "fsync");
	ix->dirty_from = SIZE_MAX;
	ix->dirty_all = false;
	return KB_OK;
}

int idx_set_flush(struct idx_set *s)
{
	int rc = idx_flush(s->offsets);
	return rc == KB_OK ? idx_flush(s->times) : rc;
}

/* KAFKA: AbstractIndex.close trims first, so the file on disk holds
 * exactly its entries and the next open counts them right. */
void idx_close(struct idx *ix)
{
	if (!ix)
		return;
	idx_trim(ix); /* a failure is logged; the entries are still valid */
	free_idx(ix);
}

/* Unlink, then release like idx_close (without trimming). */
int idx_delete(struct idx *ix)
{
	int rc = KB_OK;
	if (unlink(ix->path) != 0 && errno != ENOENT)
		rc = io_error(ix, "unlink");
	free_idx(ix);
	return rc;
}

/* Close both; the set can be opened again. */
void idx_set_close(struct idx_set *s)
{
	idx_close(s->offsets);
	idx_close(s->times);
	s->offsets = s->times = NULL;
}

/* Delete both files; the first failure is returned. */
int idx_set_delete(struct idx_set *s)
{
	int r1 = s->offsets ? idx_delete(s->offsets) : KB_OK;
	int r2 = s->times ? idx_delete(s->times) : KB_OK;
	s->offsets = s->times = NULL;
	return r1 != KB_OK ? r1 : r2;
}

/* Unmap, close and free whatever of ix exists. */
static void free_idx(struct idx *ix)
{
	if (ix->map)
		munmap(ix->map, ix->map_len);
	if (ix->fd >= 0)
		close(ix->fd);
	free(ix->path);
	free(ix);
}
