/* SPDX-License-Identifier: MIT */
/*
 * Chapter 02 — index: the sparse offset index (.index) and time index
 * (.timeindex) that sit beside each segment. The lesson is in 02_index.c.
 */
#ifndef SAMSA_INDEX_H
#define SAMSA_INDEX_H

#include "00_base.h"
#include "01_segment.h"

#define IDX_OFFSET_ENTRY_SIZE 8  /* int32 relative offset, int32 position */
#define IDX_TIME_ENTRY_SIZE 12   /* int64 timestamp, int32 relative offset */
/* KAFKA: index.interval.bytes default 4096; segment.index.bytes 10 MiB. */
#define IDX_DEFAULT_INTERVAL_BYTES 4096
#define IDX_DEFAULT_MAX_BYTES (10 * 1024 * 1024)

enum idx_kind { IDX_OFFSET, IDX_TIME };

/* One index file, mmap'd. Entries are sorted by offset (and, for the time
 * index, by timestamp); the file holds exactly `entries` entries except
 * while open for appends, when it is preallocated to max_bytes. */
struct idx {
	enum idx_kind kind;
	int fd;              /* owned */
	char *path;          /* owned */
	int64_t base_offset; /* the segment's base offset */
	uint8_t *map;        /* owned: mmap of map_len bytes, or NULL */
	size_t map_len;      /* bytes mapped = file size while open */
	size_t max_entries;  /* capacity of the preallocated file */
	size_t entries;      /* entries in use */
	size_t entry_size;   /* 8 or 12 */
	size_t torn_bytes;   /* at idx_open: file length % entry_size; not 0
			      * means damaged (idx_check reports it) */
	size_t dirty_from;   /* first entry byte appended since the last
			      * idx_flush, SIZE_MAX when none was */
	bool dirty_all;      /* truncated or resized since then: sync all */
};

/* One entry, with the relative offset made absolute. For the offset index
 * timestamp is -1; for the time index position is 0. */
struct idx_entry {
	int64_t offset;
	uint32_t position;
	int64_t timestamp;
};

/* Open (creating if missing) <dir>/<base>.index or .timeindex, preallocate
 * it to max_bytes (rounded down to whole entries) and map it. An existing
 * file's entries = its length / entry size, as Kafka reads it.
 * returns owned *out (idx_close). */
int idx_open(const char *dir, int64_t base_offset, enum idx_kind kind,
	     size_t max_bytes, struct idx **out);

/* Append to the offset index. offset must be > the last entry's offset and
 * fit in int32 relative to base. KB_ERR_TOO_LARGE when full. */
int idx_append_offset(struct idx *ix, int64_t offset, uint32_t position);

/* Append to the time index only if timestamp > the last entry's timestamp
 * (KAFKA: TimeIndex.maybeAppend). KB_ERR_TOO_LARGE when full. */
int idx_append_time(struct idx *ix, int64_t timestamp, int64_t offset);

/* The largest entry whose key (offset, or timestamp for the time index) is
 * <= target, by binary search. With none, the start of the segment:
 * {base_offset, position 0, timestamp -1}. */
struct idx_entry idx_lookup_floor(const struct idx *ix, int64_t target);

/* Entry i (0 <= i < entries), made absolute. */
struct idx_entry idx_entry_at(const struct idx *ix, size_t i);

bool idx_is_full(const struct idx *ix);

/* Drop every entry whose offset is >= offset (log truncation). */
int idx_truncate_to(struct idx *ix, int64_t offset);

/* Drop all entries. */
int idx_reset(struct idx *ix);

/* Shrink the file to its entries (KAFKA: trimToValidSize, on roll/close)
 * and keep it open read-only-sized; appends after this grow it again. */
int idx_trim(struct idx *ix);

/* Check the entries against the rules and the log: sorted, offsets in
 * [base, next_offset), positions < log_size (offset index), timestamps
 * non-decreasing. KB_ERR_CORRUPT with *why naming the rule. */
int idx_check(const struct idx *ix, const struct segment *seg,
	      const char **why);

/* Assert Invariant 4 of 02_index.c (O(1); compiled out with NDEBUG). */
void idx_assert(const struct idx *ix);
/* Write the mapped entries and the file length to disk (msync + fsync;
 * KAFKA: LogSegment.flush flushes both indexes with the log). */
int idx_flush(struct idx *ix);

/* Trim, unmap, close and free. */
void idx_close(struct idx *ix);

/* Unlink the file, then free. */
int idx_delete(struct idx *ix);

/* ---- The two indexes of one segment, and when to add entries ---- */

/* A segment's two indexes and the counter that decides when to index.
 * The same rule runs on append and on rebuild, so a rebuilt index is
 * byte-identical to the one written by appends. */
struct idx_set {
	struct idx *offsets;        /* owned */
	struct idx *times;          /* owned */
	uint32_t interval_bytes;    /* KAFKA: index.interval.bytes */
	uint64_t bytes_since_entry; /* batch bytes appended since last entry */
};

/* Open both indexes of the segment at base_offset in dir. */
int idx_set_open(struct idx_set *s, const char *dir, int64_t base_offset,
		 size_t max_bytes, uint32_t interval_bytes);

/* Call after seg_append put batch b at position. If more than
 * interval_bytes of earlier batches were appended since the last entry,
 * add an offset entry (b's last offset -> position) and a time entry
 * (seg's max timestamp so far and its offset); then count b's bytes.
 * KAFKA: LogSegment.append and LogSegment.recover use this same rule. */
int idx_set_on_append(struct idx_set *s, const struct segment *seg,
		      const struct seg_batch *b, uint64_t position);

/* The segment stops being active: add a last time entry for the
 * segment's max timestamp (KAFKA: onBecomeInactiveSegment) and trim. */
int idx_set_seal(struct idx_set *s, const struct segment *seg);

/* Rebuild both indexes from the segment's batches with the append rule;
 * if sealed, finish as idx_set_seal does. */
int idx_set_rebuild(struct idx_set *s, const struct segment *seg,
		    bool sealed);

/* Both indexes pass idx_check against seg. */
int idx_set_check(const struct idx_set *s, const struct segment *seg,
		  const char **why);

/* idx_flush both indexes. */
int idx_set_flush(struct idx_set *s);

void idx_set_close(struct idx_set *s);
int idx_set_delete(struct idx_set *s);

#endif
