/* SPDX-License-Identifier: MIT */
/*
 * Chapter 01 — segment: one append-only file of Kafka record batches.
 * The only surface later chapters may use; the lesson is in 01_crc32c.c
 * and 01_segment.c, the rules of each function in docs/01_segment.md.
 */
#ifndef SAMSA_SEGMENT_H
#define SAMSA_SEGMENT_H

#include "00_base.h"

/* ---- Record batch v2 layout (DefaultRecordBatch.java; CLIENTS.md §6) ---- */

#define SEG_OFF_BASE_OFFSET 0        /* int64: assigned by the broker */
#define SEG_OFF_BATCH_LENGTH 8       /* int32: bytes after this field */
#define SEG_OFF_LEADER_EPOCH 12      /* int32: partitionLeaderEpoch */
#define SEG_OFF_MAGIC 16             /* int8: 2 */
#define SEG_OFF_CRC 17               /* uint32: CRC-32C of [21, end) */
#define SEG_OFF_ATTRIBUTES 21        /* int16 */
#define SEG_OFF_LAST_OFFSET_DELTA 23 /* int32 */
#define SEG_OFF_BASE_TIMESTAMP 27    /* int64 */
#define SEG_OFF_MAX_TIMESTAMP 35     /* int64 */
#define SEG_OFF_PRODUCER_ID 43       /* int64 */
#define SEG_OFF_PRODUCER_EPOCH 51    /* int16 */
#define SEG_OFF_BASE_SEQUENCE 53     /* int32 */
#define SEG_OFF_RECORDS_COUNT 57     /* int32 */
#define SEG_BATCH_HEADER_LEN 61      /* KAFKA: RECORD_BATCH_OVERHEAD */
#define SEG_LOG_OVERHEAD 12          /* KAFKA: LOG_OVERHEAD (offset + length) */
/* Smallest legal batchLength: a header with no records. */
#define SEG_MIN_BATCH_LENGTH (SEG_BATCH_HEADER_LEN - SEG_LOG_OVERHEAD)
#define SEG_MAGIC_V2 2

#define SEG_ATTR_COMPRESSION_MASK 0x07 /* 0 none 1 gzip 2 snappy 3 lz4 4 zstd */
#define SEG_ATTR_LOG_APPEND_TIME 0x08  /* timestampType = LogAppendTime */
#define SEG_ATTR_TRANSACTIONAL 0x10
#define SEG_ATTR_CONTROL 0x20
#define SEG_ATTR_DELETE_HORIZON 0x40

/* KAFKA: segment.bytes default 1 GiB, segment.ms default 7 days. */
#define SEG_DEFAULT_SEGMENT_BYTES (1024LL * 1024 * 1024)
#define SEG_DEFAULT_SEGMENT_MS (7LL * 24 * 60 * 60 * 1000)

/* The 61-byte header of one record batch, decoded. */
struct seg_batch {
	int64_t base_offset;
	int32_t batch_length; /* bytes after the batchLength field */
	int32_t partition_leader_epoch;
	int8_t magic;
	uint32_t crc;
	int16_t attributes;
	int32_t last_offset_delta;
	int64_t base_timestamp;
	int64_t max_timestamp;
	int64_t producer_id;
	int16_t producer_epoch;
	int32_t base_sequence;
	int32_t records_count;
};

/* Last offset in the batch: base_offset + last_offset_delta. Computed
 * unsigned so damaged header fields wrap instead of overflowing (undefined
 * behaviour); the range checks that follow then reject them. */
static inline int64_t seg_batch_last_offset(const struct seg_batch *b)
{
	return (int64_t)((uint64_t)b->base_offset +
			 (uint64_t)(int64_t)b->last_offset_delta);
}

/* Whole size of the batch on disk and on the wire. */
static inline uint64_t seg_batch_size(const struct seg_batch *b)
{
	return SEG_LOG_OVERHEAD + (uint64_t)b->batch_length;
}

/* CRC-32C of data, continuing from crc (start with 0) (01_crc32c.c). */
uint32_t seg_crc32c(uint32_t crc, const void *data, size_t len);
/* "sse4.2" or "table": which implementation seg_crc32c chose. */
const char *seg_crc32c_impl(void);
/* The portable table implementation, whatever the CPU (tests compare). */
uint32_t seg_crc32c_table(uint32_t crc, const void *data, size_t len);
/* Decode a header: len >= 61, magic 2, batchLength >= 49, else CORRUPT. */
int seg_batch_decode(const uint8_t *buf, size_t len, struct seg_batch *out);
/* A whole batch in buf[0, len): header, length, deltas, CRC; *why: rule. */
int seg_batch_validate(const uint8_t *buf, size_t len, struct seg_batch *out,
		       const char **why);
/* Set baseOffset (outside the CRC: the broker owns it). */
void seg_batch_set_base_offset(uint8_t *buf, int64_t base_offset);
/* Set partitionLeaderEpoch (outside the CRC too). */
void seg_batch_set_leader_epoch(uint8_t *buf, int32_t epoch);

/* ---- Segment files ---- */

#define SEG_LOG_SUFFIX ".log" /* KAFKA: LogFileUtils.LOG_FILE_SUFFIX */

/* When a segment is full (KAFKA: segment.bytes, segment.ms). */
struct seg_config {
	int64_t segment_bytes;
	int64_t segment_ms;
};

/* One open segment file: <dir>/<20-digit base offset>.log.
 * Single-threaded: owned by whoever opened it (the partition log). */
struct segment {
	int fd;               /* owned; O_RDWR, no O_APPEND: appends pwrite at size */
	char *path;           /* owned: full path of the .log file */
	int64_t base_offset;  /* offset of the first batch, from the name */
	uint64_t size;        /* bytes of whole, valid batches (= file size) */
	int64_t next_offset;  /* last offset + 1; base_offset when empty */
	int64_t max_timestamp;            /* largest batch max_timestamp, or -1 */
	int64_t offset_of_max_timestamp;  /* its batch's last offset, or -1 */
	int64_t first_batch_timestamp;    /* max_timestamp of batch 1, or -1 */
	int64_t created_ms;   /* wall clock when created or opened */
	bool dirty;           /* appended since the last seg_flush */
	bool dir_unsynced;    /* created by seg_open; directory not fsynced yet */
};

/* Can offset live in seg? Index entries hold offset - base_offset as an
 * int32 (KAFKA: LogSegment.canConvertToRelativeOffset); roll when not. */
static inline bool seg_offset_fits(const struct segment *seg, int64_t offset)
{
	return offset >= seg->base_offset &&
	       offset - seg->base_offset <= INT32_MAX;
}

/* What seg_recover found. */
struct seg_recovery {
	uint64_t valid_bytes;     /* bytes kept */
	uint64_t truncated_bytes; /* bytes cut from the tail */
	uint32_t batches;         /* whole valid batches scanned */
	const char *reason;       /* why the tail was cut, or NULL */
};

/* One file of a segment: the .log, or a sibling (.index, .timeindex,
 * .snapshot...) named by the same base offset and its own suffix. */
struct seg_file {
	const char *dir;     /* the partition directory */
	int64_t base_offset; /* the segment's first offset; >= 0 */
	const char *suffix;  /* SEG_LOG_SUFFIX, or a later chapter's */
};

/* "<dir>/<20-digit base offset><suffix>" into out; KB_ERR_INVAL: too long. */
int seg_file_name(char *out, size_t cap, struct seg_file f);
/* Parse "00000000000000000042.log" -> 42 when name ends in suffix. */
int seg_parse_file_name(const char *name, const char *suffix, int64_t *base);

/* Open (create) the file; no scan: next_offset = base. returns owned *out. */
int seg_open(const char *dir, int64_t base_offset, bool create,
	     struct segment **out);
/* Write a validated, offset-stamped batch at size; growing offsets only. */
int seg_append(struct segment *seg, const uint8_t *batch, size_t len);
/* Read up to len bytes at pos into buf; *got is short at EOF (pread(2)). */
int seg_read(const struct segment *seg, uint64_t pos, void *buf, size_t len,
	     size_t *got);
/* The header at pos (no CRC); KB_ERR_RANGE at size, CORRUPT past it. */
int seg_read_batch(const struct segment *seg, uint64_t pos,
		   struct seg_batch *out);
/* From *pos, the first batch whose last offset >= offset: *pos its place. */
int seg_find_offset(const struct segment *seg, int64_t offset, uint64_t *pos,
		    struct seg_batch *out);

/* Bytes one struct seg_scan reads at a time: a page. */
#define SEG_SCAN_BUF_BYTES 4096

/* A walk over batch headers through a one-page buffer. A refill is one
 * pread, and every header inside the bytes it brought is then decoded
 * from memory: walking 1 KiB batches costs one syscall per four batches
 * instead of one per batch. A refill reads a page while the batches seen
 * are smaller than one, else (and for the first header) just the header.
 * Caller's storage (usually the stack); do not keep one across a
 * seg_truncate of its segment. */
struct seg_scan {
	const struct segment *seg; /* borrowed: must outlive the scan */
	uint64_t start;            /* file position of buf[0] */
	size_t len;                /* bytes of buf that hold file data */
	uint64_t last_size;        /* size of the last batch decoded; 0: none */
	uint32_t reads;            /* preads so far (tests and benchmarks) */
	uint8_t buf[SEG_SCAN_BUF_BYTES];
};

/* Start a scan of seg with an empty buffer. */
void seg_scan_init(struct seg_scan *scan, const struct segment *seg);

/* seg_read_batch through the buffer: a pread only when not in it. */
int seg_scan_batch(struct seg_scan *scan, uint64_t pos, struct seg_batch *out);

/* seg_find_offset through the caller's scan (its buffer then serves on). */
int seg_scan_find_offset(struct seg_scan *scan, int64_t offset, uint64_t *pos,
			 struct seg_batch *out);

/* Validate from from_pos to the end; cut (and log) at the first bad byte. */
int seg_recover(struct segment *seg, uint64_t from_pos,
		struct seg_recovery *rep);

/* Cut the file to size (a batch boundary); recounts offsets, timestamps. */
int seg_truncate(struct segment *seg, uint64_t size);

/* fsync the file if anything was appended since the last flush. */
int seg_flush(struct segment *seg);

/* The batch about to be appended, as the roll decision sees it. */
struct seg_incoming {
	uint64_t bytes;        /* its whole size */
	int64_t max_timestamp; /* its maxTimestamp (-1: none) */
};

/* Roll before in? segment.bytes or segment.ms; never when empty. */
bool seg_should_roll(const struct segment *seg, const struct seg_config *cfg,
		     struct seg_incoming in, int64_t now_ms);

/* Assert Invariants 2 and 4 of 01_segment.c (NDEBUG: none). */
void seg_check(const struct segment *seg);
/* seg_check, and Invariant 1: the file is size bytes (one fstat). */
void seg_check_file(const struct segment *seg);
/* Close the file and free seg. Does not fsync: call seg_flush first. */
void seg_close(struct segment *seg);

/* Unlink the file and free seg. */
int seg_delete(struct segment *seg);

#endif
