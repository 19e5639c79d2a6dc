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

/* Which index file: the .index or .timeindex of the segment at
 * base_offset in dir. */
struct idx_file {
	const char *dir;
	int64_t base_offset; /* >= 0 */
	enum idx_kind kind;
};

/* Open (creating) f, preallocated to max_bytes, mmap'd. returns owned *out. */
int idx_open(struct idx_file f, size_t max_bytes, struct idx **out);
/* Append (offset, position); offset > the last one. KB_ERR_TOO_LARGE: full. */
int idx_append_offset(struct idx *ix, int64_t offset, uint32_t position);
/* Append only if timestamp > the last (TimeIndex.maybeAppend). */
int idx_append_time(struct idx *ix, int64_t timestamp, int64_t offset);
/* The largest entry whose key is <= target, else the segment's start. */
struct idx_entry idx_lookup_floor(const struct idx *ix, int64_t target);
/* Entry i (0 <= i < entries), made absolute. */
struct idx_entry idx_entry_at(const struct idx *ix, size_t i);
/* Roll the segment now (the time index is full one entry early). */
bool idx_is_full(const struct idx *ix);
/* Drop every entry whose offset is >= offset (log truncation). */
int idx_truncate_to(struct idx *ix, int64_t offset);
/* Drop all entries. */
int idx_reset(struct idx *ix);
/* Shrink the file to its entries (trimToValidSize); appends grow it again. */
int idx_trim(struct idx *ix);
/* Judge a loaded file against the rules and seg; *why names a broken one. */
int idx_check(const struct idx *ix, const struct segment *seg,
	      const char **why);
/* Assert Invariant 4 of 02_index.c (O(1); compiled out with NDEBUG). */
void idx_assert(const struct idx *ix);
/* msync + fsync the entries and the file length. */
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

/* How big an index may grow and how often it gets an entry. */
struct idx_config {
	size_t max_bytes;        /* KAFKA: segment.index.bytes */
	uint32_t interval_bytes; /* KAFKA: index.interval.bytes */
};

/* Open both indexes of the segment at base_offset in dir. */
int idx_set_open(struct idx_set *s, const char *dir, int64_t base_offset,
		 const struct idx_config *cfg);
/* After seg_append put b at position: index it if interval_bytes passed. */
int idx_set_on_append(struct idx_set *s, const struct segment *seg,
		      const struct seg_batch *b, uint64_t position);
/* The segment stops being active: a last time entry, then trim. */
int idx_set_seal(struct idx_set *s, const struct segment *seg);
/* Rebuild both from seg's batches by the append rule (sealed: then seal). */
int idx_set_rebuild(struct idx_set *s, const struct segment *seg,
		    bool sealed);
/* Both indexes pass idx_check against seg. */
int idx_set_check(const struct idx_set *s, const struct segment *seg,
		  const char **why);
/* idx_flush both indexes. */
int idx_set_flush(struct idx_set *s);
/* idx_close both indexes. */
void idx_set_close(struct idx_set *s);
/* idx_delete both indexes. */
int idx_set_delete(struct idx_set *s);

#endif
