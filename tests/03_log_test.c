/* SPDX-License-Identifier: MIT */
/*
 * Tests for chapter 03, the partition log: one test per Interface rule and
 * per numbered invariant of chapters/03_log.c, plus the behaviours Kafka
 * users see (offsets, files on disk, recovery after a crash, checkpoints).
 * Batches come from tests/testutil.h's spec-derived encoder.
 */
#include "testutil.h"

#include <dirent.h>
#include <inttypes.h>

#include "01_segment.h"
#include "02_index.h"
#include "03_log.h"

/* A timestamp in 2023, so retention.ms arithmetic looks like real life. */
#define T0 1700000000000LL
/* segment.ms far away: these tests roll by size, index or offsets only. */
#define TL_FAR_MS (100LL * 365 * 24 * 3600 * 1000)

static uint8_t tl_buf[1 << 18];

/* Small segments so a handful of batches makes several files. */
static struct log_config tl_cfg(void)
{
	struct log_config c;
	log_config_defaults(&c);
	c.segment_bytes = 1024;
	c.segment_ms = TL_FAR_MS;
	c.segment_index_bytes = 1024;
	c.index_interval_bytes = 256;
	return c;
}

static struct log *tl_open(const char *dir, const struct log_config *c,
			   const struct log_recovery_hint *hint)
{
	struct log *log = NULL;
	assert_int_equal(log_open(dir, c, hint, &log), KB_OK);
	assert_non_null(log);
	return log;
}

/* Append n records with timestamps ts, ts+1, ... and value_len-byte values. */
static struct log_append_info tl_append(struct log *log, int n, int64_t ts,
					size_t value_len, int32_t epoch)
{
	size_t len = tu_batch_simple(tl_buf, sizeof tl_buf, n, ts, value_len);
	struct log_append_info info;
	assert_int_equal(log_append(log, TU_APPEND(tl_buf, len, epoch, ts), &info),
			 KB_OK);
	return info;
}

/* Append a batch built from explicit records. */
static struct log_append_info tl_append_recs(struct log *log,
					     const struct tu_record *r, int n)
{
	size_t len = tu_batch_build(tl_buf, sizeof tl_buf, 0, r, n);
	struct log_append_info info;
	assert_int_equal(log_append(log, TU_APPEND(tl_buf, len, -1, T0), &info),
			 KB_OK);
	return info;
}

static char *tl_path(const char *dir, const char *name)
{
	char *p = malloc(strlen(dir) + strlen(name) + 2);
	sprintf(p, "%s/%s", dir, name);
	return p;
}

static char *tl_seg_path(const char *dir, int64_t base, const char *suffix)
{
	char buf[4096];
	assert_int_equal(seg_file_name(buf, sizeof buf,
				       (struct seg_file){dir, base, suffix}),
			 KB_OK);
	return strdup(buf);
}

static bool tl_exists(const char *dir, int64_t base, const char *suffix)
{
	char *p = tl_seg_path(dir, base, suffix);
	bool ok = access(p, F_OK) == 0;
	free(p);
	return ok;
}

/* Names in dir ending in suffix, sorted, joined by ' '. */
static void tl_list(const char *dir, const char *suffix, char *out, size_t cap)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	assert_true(n >= 0);
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		size_t l = strlen(names[i]->d_name), sl = strlen(suffix);
		const char *name = names[i]->d_name;
		if (name[0] != '.' && l > sl &&
		    strcmp(name + l - sl, suffix) == 0) {
			strncat(out, name, cap - strlen(out) - 2);
			strcat(out, " ");
		}
		free(names[i]);
	}
	free(names);
}

/* What a restart after kill -9 sees: the files as the page cache holds
 * them (nothing trimmed, nothing closed), copied while the log is open. */
static char *tl_crash_copy(const char *src)
{
	char *dst = tu_tmpdir();
	DIR *d = opendir(src);
	struct dirent *de;
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char *from = tl_path(src, de->d_name), *to = tl_path(dst, de->d_name);
		size_t len = 0;
		uint8_t *data = tu_read_all(from, &len);
		assert_non_null(data);
		tu_write_all(to, data, len);
		free(data);
		free(from);
		free(to);
	}
	closedir(d);
	return dst;
}

static void tl_truncate_file(const char *path, long size)
{
	assert_int_equal(truncate(path, size), 0);
}

/* The base offset field of the batch at pos of the segment file. */
static int64_t tl_batch_base_at(const struct segment *seg, uint64_t pos)
{
	struct seg_batch b;
	assert_int_equal(seg_read_batch(seg, pos, &b), KB_OK);
	return b.base_offset;
}

/* ---- Lifecycle ---- */

static void test_log_config_defaults_match_kafka(void **state)
{
	(void)state;
	struct log_config c;
	log_config_defaults(&c);
	assert_int_equal(c.segment_bytes, 1024LL * 1024 * 1024);
	assert_int_equal(c.segment_ms, 7LL * 24 * 3600 * 1000);
	assert_int_equal(c.segment_index_bytes, 10 * 1024 * 1024);
	assert_int_equal(c.index_interval_bytes, 4096);
	assert_int_equal(c.retention_ms, 7LL * 24 * 3600 * 1000);
	assert_int_equal(c.retention_bytes, -1);
	assert_int_equal(c.flush_messages, INT64_MAX);
	assert_int_equal(c.flush_ms, INT64_MAX);
}

static void test_log_open_empty_dir_creates_first_segment(void **state)
{
	(void)state;
	char *root = tu_tmpdir(), *dir = tl_path(root, "my-topic-0");
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	assert_int_equal(log_end_offset(log), 0);
	assert_int_equal(log->log_start_offset, 0);
	assert_int_equal(log->nsegs, 1);
	assert_true(tl_exists(dir, 0, ".log"));
	assert_true(tl_exists(dir, 0, ".index"));
	assert_true(tl_exists(dir, 0, ".timeindex"));
	log_close(log);
	free(dir);
	tu_rmrf(root);
}

static void test_log_open_empty_dir_starts_at_hint_log_start_offset(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log_recovery_hint h = {.log_start_offset = 100};
	struct log *log = tl_open(dir, &c, &h);
	assert_int_equal(log_end_offset(log), 100);
	assert_int_equal(log->log_start_offset, 100);
	assert_true(tl_exists(dir, 100, ".log"));
	assert_int_equal(tl_append(log, 1, T0, 10, -1).base_offset, 100);
	log_close(log);
	tu_rmrf(dir);
}

static void test_log_open_rejects_bad_config(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = NULL;
	c.segment_bytes = 0;
	assert_int_equal(log_open(dir, &c, NULL, &log), KB_ERR_INVAL);
	assert_null(log);
	tu_rmrf(dir);
}

/* The log start offset survives a restart through the hint, and never
 * lies below the first segment (INVARIANT 3). */
static void test_log_open_applies_hint_log_start_offset(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	for (int i = 0; i < 10; i++)
		tl_append(log, 1, T0 + i, 10, -1);
	log_close(log);
	struct log_recovery_hint h = {.clean_shutdown = true,
				      .log_start_offset = 4};
	log = tl_open(dir, &c, &h);
	assert_int_equal(log->log_start_offset, 4);
	struct log_read_result r;
	assert_int_equal(log_read(log, TU_READ(3, 1 << 20, INT64_MAX, true), &r),
			 KB_ERR_RANGE);
	log_close(log);
	tu_rmrf(dir);
}

/* Kafka: a log end offset below the checkpointed log start offset means
 * segments were deleted from outside; start over at the log start. */
static void test_log_open_restarts_when_leo_below_log_start(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	tl_append(log, 3, T0, 10, -1);
	log_close(log);
	struct log_recovery_hint h = {.clean_shutdown = true,
				      .log_start_offset = 50};
	log = tl_open(dir, &c, &h);
	assert_int_equal(log_end_offset(log), 50);
	assert_int_equal(log->log_start_offset, 50);
	assert_false(tl_exists(dir, 0, ".log"));
	assert_true(tl_exists(dir, 50, ".log"));
	log_close(log);
	tu_rmrf(dir);
}

static void test_log_open_deletes_orphans_and_strays(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	tl_append(log, 1, T0, 10, -1);
	log_close(log);
	const char *junk[] = {"00000000000000000077.index",
			      "00000000000000000077.timeindex",
			      "00000000000000000000.log.deleted",
			      "00000000000000000005.log.cleaned",
			      "00000000000000000005.log.swap",
			      "leader-epoch-checkpoint.tmp"};
	for (size_t i = 0; i < KB_ARRAY_LEN(junk); i++) {
		char *p = tl_path(dir, junk[i]);
		tu_write_all(p, "x", 1);
		free(p);
	}
	struct log_recovery_hint h = {.clean_shutdown = true};
	log = tl_open(dir, &c, &h);
	char names[1024];
	tl_list(dir, "", names, sizeof names);
	assert_string_equal(names, "00000000000000000000.index "
				   "00000000000000000000.log "
				   "00000000000000000000.timeindex ");
	assert_int_equal(log_end_offset(log), 1);
	log_close(log);
	tu_rmrf(dir);
}

/* Interface: log_delete removes the directory and everything in it. */
static void test_log_delete_removes_directory(void **state)
{
	(void)state;
	char *root = tu_tmpdir(), *dir = tl_path(root, "t-1");
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	for (int i = 0; i < 12; i++)
		tl_append(log, 1, T0, 100, 3);
	assert_int_equal(log_delete(log), KB_OK);
	assert_int_equal(access(dir, F_OK), -1);
	free(dir);
	tu_rmrf(root);
}

/* ---- Appending and rolling ---- */

/* INVARIANT 2 and the interface rule: log_append rewrites baseOffset and
 * partitionLeaderEpoch in place; the CRC still holds. */
static void test_log_append_assigns_consecutive_offsets(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	c.segment_bytes = 64 * 1024;
	struct log *log = tl_open(dir, &c, NULL);
	int64_t expect = 0;
	for (int i = 0; i < 200; i++) {
		int n = 1 + i % 7;
		size_t len = tu_batch_simple(tl_buf, sizeof tl_buf, n, T0 + i, 20);
		struct log_append_info info;
		assert_int_equal(log_append(log, TU_APPEND(tl_buf, len, 9, T0), &info),
				 KB_OK);
		assert_int_equal(info.base_offset, expect);
		assert_int_equal(info.last_offset, expect + n - 1);
		assert_int_equal(kb_get_be64(tl_buf), (uint64_t)expect);
		assert_int_equal(kb_get_be32(tl_buf + 12), 9);
		assert_int_equal(kb_get_be32(tl_buf + 17),
				 tu_crc32c(tl_buf + 21, len - 21));
		assert_int_equal(tl_batch_base_at(log->segs[log->nsegs - 1].seg,
						  info.position), expect);
		expect += n;
	}
	assert_int_equal(log_end_offset(log), expect);
	log_close(log);
	tu_rmrf(dir);
}

/* INVARIANT 1: files named by base offset, sorted, the last one active. */
static void test_log_append_rolls_at_segment_bytes(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	char expect[1024] = "", got[1024];
	int64_t last_base = -1;
	for (int i = 0; i < 30; i++) {
		struct log_append_info info = tl_append(log, 2, T0 + i, 100, -1);
		if (info.segment_base != last_base) {
			char name[64];
			snprintf(name, sizeof name, "%020" PRId64 ".log ",
				 info.segment_base);
			strcat(expect, name);
			last_base = info.segment_base;
			/* a new segment starts with the batch just appended */
			assert_int_equal(info.segment_base, info.base_offset);
			assert_int_equal(info.position, 0);
		}
	}
	tl_list(dir, ".log", got, sizeof got);
	assert_string_equal(got, expect);
	assert_true(log->nsegs > 3);
	for (size_t i = 0; i + 1 < log->nsegs; i++) {
		assert_true(log->segs[i].seg->base_offset <
			    log->segs[i + 1].seg->base_offset);
		assert_true(log->segs[i].seg->size <= (uint64_t)c.segment_bytes);
		assert_int_equal(log->segs[i].seg->next_offset,
				 log->segs[i + 1].seg->base_offset);
	}
	log_close(log);
	tu_rmrf(dir);
}

static void test_log_append_rolls_when_index_full(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	c.segment_bytes = 1 << 20;
	c.segment_index_bytes = 36; /* 4 offset entries, 3 time entries */
	c.index_interval_bytes = 0; /* an entry for every batch after the first */
	struct log *log = tl_open(dir, &c, NULL);
	for (int i = 0; i < 40; i++)
		tl_append(log, 1, T0 + i, 10, -1);
	assert_true(log->nsegs > 1);
	for (size_t i = 0; i < log->nsegs; i++)
		assert_true(log->segs[i].idx.offsets->entries <= 4);
	assert_int_equal(log_end_offset(log), 40);
	log_close(log);
	tu_rmrf(dir);
}

/* A batch whose last offset would not fit the index's int32 relative
 * offset goes to a new segment. */
static void test_log_append_rolls_when_offset_exceeds_int32(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	c.segment_bytes = 1 << 20;
	struct log *log = tl_open(dir, &c, NULL);
	tl_append(log, 1, T0, 10, -1);
	size_t len = tu_batch_simple(tl_buf, sizeof tl_buf, 1, T0, 10);
	kb_put_be32(tl_buf + 23, INT32_MAX); /* lastOffsetDelta */
	kb_put_be32(tl_buf + 17, tu_crc32c(tl_buf + 21, len - 21));
	struct log_append_info info;
	assert_int_equal(log_append(log, TU_APPEND(tl_buf, len, -1, T0), &info),
			 KB_OK);
	assert_int_equal(info.base_offset, 1);
	assert_int_equal(info.segment_base, 1);
	assert_int_equal(log_end_offset(log), 1 + (int64_t)INT32_MAX + 1);
	info = tl_append(log, 1, T0, 10, -1);
	assert_int_equal(info.segment_base, 1 + (int64_t)INT32_MAX + 1);
	assert_int_equal(log->nsegs, 3);
	log_close(log);
	tu_rmrf(dir);
}

static void test_log_append_rejects_batch_larger_than_segment(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	size_t len = tu_batch_simple(tl_buf, sizeof tl_buf, 2, T0, 1000);
	assert_true(len > 1024);
	assert_int_equal(log_append(log, TU_APPEND(tl_buf, len, -1, T0), NULL),
			 KB_ERR_TOO_LARGE);
	assert_int_equal(log_append(log, TU_APPEND(tl_buf, 30, -1, T0), NULL),
			 KB_ERR_CORRUPT);
	assert_int_equal(log_end_offset(log), 0);
	log_close(log);
	tu_rmrf(dir);
}

/* INVARIANT 5: a rolled segment is sealed: indexes trimmed to their
 * entries, the time index ends with the segment's max timestamp. */
static void test_log_invariant_rolled_segments_are_sealed(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	c.index_interval_bytes = 100;
	struct log *log = tl_open(dir, &c, NULL);
	for (int i = 0; i < 20; i++)
		tl_append(log, 2, T0 + 10 * i, 100, -1);
	assert_true(log->nsegs > 2);
	for (size_t i = 0; i + 1 < log->nsegs; i++) {
		struct log_segment *ls = &log->segs[i];
		char *ip = tl_seg_path(dir, ls->seg->base_offset, ".index");
		char *tp = tl_seg_path(dir, ls->seg->base_offset, ".timeindex");
		assert_int_equal(tu_file_size(ip), ls->idx.offsets->entries * 8);
		assert_int_equal(tu_file_size(tp), ls->idx.times->entries * 12);
		struct idx_entry t = idx_entry_at(ls->idx.times,
						  ls->idx.times->entries - 1);
		assert_int_equal(t.timestamp, ls->seg->max_timestamp);
		assert_false(ls->seg->dirty); /* fsynced on roll */
		free(ip);
		free(tp);
	}
	log_close(log);
	tu_rmrf(dir);
}

/* ---- Reading ---- */

static void test_log_read_returns_whole_batch_containing_offset(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	c.segment_bytes = 1 << 20;
	struct log *log = tl_open(dir, &c, NULL);
	tl_append(log, 5, T0, 10, -1);                    /* 0..4 */
	struct log_append_info b = tl_append(log, 5, T0, 10, -1); /* 5..9 */
	tl_append(log, 5, T0, 10, -1);                    /* 10..14 */
	struct log_read_result r;
	assert_int_equal(log_read(log, TU_READ(7, 1 << 20, INT64_MAX, false), &r),
			 KB_OK);
	assert_int_equal(r.first_offset, 5);
	assert_int_equal(r.position, b.position);
	assert_int_equal(r.next_offset, 15);
	assert_int_equal(r.length, r.seg->size - b.position);
	/* the bytes are the batches as appended */
	uint8_t *bytes = malloc(r.length);
	size_t got = 0;
	assert_int_equal(seg_read(r.seg, r.position, bytes, r.length, &got), KB_OK);
	assert_int_equal(kb_get_be64(bytes), 5);
	free(bytes);
	log_close(log);
	tu_rmrf(dir);
}

static void test_log_read_respects_max_bytes_and_min_one(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	c.segment_bytes = 1 << 20;
	struct log *log = tl_open(dir, &c, NULL);
	for (int i = 0; i < 4; i++)
		tl_append(log, 1, T0, 200, -1);
	uint64_t one = log->segs[0].seg->size / 4;
	struct log_read_result r;
	assert_int_equal(log_read(log, TU_READ(0, 2 * one + 10, INT64_MAX, false), &r),
			 KB_OK);
	assert_int_equal(r.length, 2 * one);
	assert_int_equal(r.next_offset, 2);
	/* KIP-74: a first batch larger than max_bytes comes whole with min_one */
	assert_int_equal(log_read(log, TU_READ(1, 10, INT64_MAX, true), &r), KB_OK);
	assert_int_equal(r.length, one);
	assert_int_equal(r.first_offset, 1);
	assert_int_equal(r.next_offset, 2);
	assert_int_equal(log_read(log, TU_READ(1, 10, INT64_MAX, false), &r),
			 KB_OK);
	assert_int_equal(r.length, 0);
	assert_int_equal(r.next_offset, 1);
	log_close(log);
	tu_rmrf(dir);
}

static void test_log_read_never_past_max_offset(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	c.segment_bytes = 1 << 20;
	struct log *log = tl_open(dir, &c, NULL);
	tl_append(log, 3, T0, 10, -1); /* 0..2 */
	tl_append(log, 3, T0, 10, -1); /* 3..5 */
	tl_append(log, 3, T0, 10, -1); /* 6..8 */
	struct log_read_result r;
	assert_int_equal(log_read(log, TU_READ(0, 1 << 20, 6, true), &r), KB_OK);
	assert_int_equal(r.next_offset, 6);
	/* max_offset inside a batch: that batch is not returned */
	assert_int_equal(log_read(log, TU_READ(0, 1 << 20, 5, true), &r), KB_OK);
	assert_int_equal(r.next_offset, 3);
	assert_int_equal(log_read(log, TU_READ(3, 1 << 20, 3, true), &r), KB_OK);
	assert_int_equal(r.length, 0);
	log_close(log);
	tu_rmrf(dir);
}

/* Reading from every offset, and walking with next_offset, crosses
 * segment boundaries; each result stays inside one segment file. */
static void test_log_read_spans_segment_boundaries(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	for (int i = 0; i < 40; i++)
		tl_append(log, 3, T0, 60, -1);
	assert_true(log->nsegs > 3);
	struct log_read_result r;
	for (int64_t off = 0; off < 120; off++) {
		assert_int_equal(log_read(log, TU_READ(off, 300, INT64_MAX, true), &r),
				 KB_OK);
		assert_int_equal(r.first_offset, off - off % 3);
		assert_true(r.next_offset > off);
		assert_true(r.position + r.length <= r.seg->size);
		assert_true(r.first_offset >= r.seg->base_offset);
	}
	int64_t off = 0, reads = 0;
	while (off < log_end_offset(log)) {
		assert_int_equal(log_read(log, TU_READ(off, 1 << 20, INT64_MAX, true), &r),
				 KB_OK);
		assert_int_equal(r.first_offset, off);
		assert_int_equal(r.length, r.seg->size - r.position);
		off = r.next_offset;
		reads++;
	}
	assert_int_equal(reads, (int64_t)log->nsegs);
	log_close(log);
	tu_rmrf(dir);
}

static void test_log_read_out_of_range(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	tl_append(log, 3, T0, 10, -1);
	struct log_read_result r;
	assert_int_equal(log_read(log, TU_READ(4, 100, INT64_MAX, true), &r),
			 KB_ERR_RANGE);
	assert_int_equal(log_read(log, TU_READ(-1, 100, INT64_MAX, true), &r),
			 KB_ERR_RANGE);
	assert_int_equal(log_read(log, TU_READ(3, 100, INT64_MAX, true), &r),
			 KB_OK);
	assert_int_equal(r.length, 0);
	assert_int_equal(r.next_offset, 3);
	log_close(log);
	tu_rmrf(dir);
}

/* ---- Reading: the batch that holds each offset ---- */

/* One batch of the log, found by walking the segment files from position
 * 0 with seg_read_batch: the reference, with no index involved. */
struct tl_batch {
	const struct segment *seg;
	uint64_t pos, size;
	int64_t base, last;
};

/* Every batch of the log, oldest first; *per_seg[i] (if not NULL) counts
 * segment i's. returns owned (free). */
static struct tl_batch *tl_batches(const struct log *log, size_t *n,
				   size_t *per_seg)
{
	size_t cap = 64;
	struct tl_batch *all = malloc(cap * sizeof *all);
	*n = 0;
	for (size_t i = 0; i < log->nsegs; i++) {
		const struct segment *seg = log->segs[i].seg;
		struct seg_batch b;
		if (per_seg)
			per_seg[i] = 0;
		for (uint64_t pos = 0; pos < seg->size; pos += seg_batch_size(&b)) {
			assert_int_equal(seg_read_batch(seg, pos, &b), KB_OK);
			if (*n == cap)
				all = realloc(all, (cap *= 2) * sizeof *all);
			all[(*n)++] = (struct tl_batch){seg, pos, seg_batch_size(&b),
				b.base_offset, seg_batch_last_offset(&b)};
			if (per_seg)
				per_seg[i]++;
		}
	}
	return all;
}

/* For every offset from the log start to the log end, log_read starts at
 * the first batch whose last offset is >= it (the batch holding it, or
 * after a gap the next one), and takes exactly the batches that fit. */
static void tl_assert_reads_every_offset(const struct log *log)
{
	size_t n, k = 0;
	struct tl_batch *all = tl_batches(log, &n, NULL);
	struct log_read_result r;
	for (int64_t off = log->log_start_offset; off < log_end_offset(log);
	     off++) {
		while (all[k].last < off)
			k++;
		const struct tl_batch *b = &all[k];
		const struct tl_batch *next =
			k + 1 < n && all[k + 1].seg == b->seg ? &all[k + 1] : NULL;
		/* One byte with KIP-74's min_one: exactly that batch. */
		assert_int_equal(log_read(log, TU_READ(off, 1, INT64_MAX, true), &r),
				 KB_OK);
		assert_ptr_equal(r.seg, b->seg);
		assert_int_equal(r.position, b->pos);
		assert_int_equal(r.length, b->size);
		assert_int_equal(r.first_offset, b->base);
		assert_int_equal(r.next_offset, b->last + 1);
		/* Less than a header left after the batch: still one batch. */
		assert_int_equal(log_read(log,
					  TU_READ(off, b->size + SEG_BATCH_HEADER_LEN - 1,
						  INT64_MAX, false),
					  &r),
				 KB_OK);
		assert_int_equal(r.length, b->size);
		if (next) { /* two batches fit exactly; one byte less, one */
			uint64_t two = b->size + next->size;
			assert_int_equal(log_read(log, TU_READ(off, two, INT64_MAX, false), &r),
					 KB_OK);
			assert_int_equal(r.length, two);
			assert_int_equal(r.next_offset, next->last + 1);
			assert_int_equal(log_read(log, TU_READ(off, two - 1, INT64_MAX, false), &r),
					 KB_OK);
			assert_int_equal(r.length, b->size);
		}
		/* A budget larger than the segment: to its end, never past. */
		assert_int_equal(log_read(log, TU_READ(off, UINT32_MAX, INT64_MAX, false), &r),
				 KB_OK);
		assert_int_equal(r.position, b->pos);
		assert_int_equal(r.position + r.length, b->seg->size);
		assert_int_equal(r.next_offset, b->seg->next_offset);
	}
	free(all);
}

/* (i) Batches larger than a page, every one indexed but each segment's
 * first (index.interval.bytes 1): the index entry at or above an offset
 * names its own batch, and log_read finds it with one read. */
static void test_log_read_every_offset_large_batches_all_indexed(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	c.segment_bytes = 64 * 1024;
	c.index_interval_bytes = 1;
	struct log *log = tl_open(dir, &c, NULL);
	for (int i = 0; i < 40; i++)
		tl_append(log, 3, T0 + i, 1500, -1);
	assert_true(log->nsegs >= 3);
	size_t n, per_seg[16];
	assert_true(log->nsegs <= KB_ARRAY_LEN(per_seg));
	free(tl_batches(log, &n, per_seg));
	for (size_t i = 0; i < log->nsegs; i++)
		assert_int_equal(log->segs[i].idx.offsets->entries, per_seg[i] - 1);
	tl_assert_reads_every_offset(log);
	log_close(log);
	tu_rmrf(dir);
}

/* (ii) Tiny batches, dozens per index entry: most offsets' batches are
 * not indexed, so the walk from the entry below does the work. */
static void test_log_read_every_offset_tiny_batches(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	c.segment_bytes = 64 * 1024;
	c.index_interval_bytes = 4096;
	struct log *log = tl_open(dir, &c, NULL);
	for (int i = 0; i < 1500; i++)
		tl_append(log, 1, T0 + i, 10, -1);
	assert_true(log->nsegs >= 2);
	size_t n, per_seg[16];
	assert_true(log->nsegs <= KB_ARRAY_LEN(per_seg));
	free(tl_batches(log, &n, per_seg));
	assert_true(log->segs[0].idx.offsets->entries * 20 < per_seg[0]);
	tl_assert_reads_every_offset(log);
	log_close(log);
	tu_rmrf(dir);
}

/* (iii) Mixed: tiny, small, page-sized and 14 KiB batches in a random
 * order, some indexed and some not; then again from a log start offset
 * inside the first segment. */
static void test_log_read_every_offset_mixed_batches(void **state)
{
	(void)state;
	static const struct { int n; size_t value_len; } kinds[] = {
		{1, 5}, {2, 100}, {4, 900}, {8, 1800}};
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	c.segment_bytes = 64 * 1024;
	c.index_interval_bytes = 1024;
	struct log *log = tl_open(dir, &c, NULL);
	uint64_t seed = 42;
	for (int i = 0; i < 300; i++) {
		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		tl_append(log, kinds[seed % 4].n, T0 + i, kinds[seed % 4].value_len,
			  -1);
	}
	assert_true(log->nsegs >= 3);
	tl_assert_reads_every_offset(log);
	assert_int_equal(log_advance_start_offset(log, 7), KB_OK);
	tl_assert_reads_every_offset(log);
	log_close(log);
	tu_rmrf(dir);
}

/* Offsets in a gap (compacted Kafka logs have them) are read from the
 * next batch. The index entry above such an offset names a batch that
 * starts after it, so log_read must fall back to the walk. */
static void test_log_read_offset_in_gap_starts_at_next_batch(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct segment *seg;
	assert_int_equal(seg_open(dir, 0, true, &seg), KB_OK);
	for (int i = 0; i < 30; i++) { /* offsets 10i..10i+2, then a gap */
		size_t len = tu_batch_simple(tl_buf, sizeof tl_buf, 3, T0,
					     i % 3 ? 20 : 700);
		seg_batch_set_base_offset(tl_buf, 10 * i);
		assert_int_equal(seg_append(seg, tl_buf, len), KB_OK);
	}
	assert_int_equal(seg_flush(seg), KB_OK);
	seg_close(seg);
	struct log_config c = tl_cfg();
	c.segment_bytes = 1 << 20;
	c.index_interval_bytes = 512;
	struct log *log = tl_open(dir, &c, NULL); /* recovery indexes it */
	assert_int_equal(log_end_offset(log), 293);
	assert_true(log->segs[0].idx.offsets->entries >= 3);
	struct log_read_result r;
	assert_int_equal(log_read(log, TU_READ(45, 1, INT64_MAX, true), &r), KB_OK);
	assert_int_equal(r.first_offset, 50);
	tl_assert_reads_every_offset(log);
	log_close(log);
	tu_rmrf(dir);
}

static void test_log_offset_for_timestamp_exact_per_record(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	c.index_interval_bytes = 64;
	struct log *log = tl_open(dir, &c, NULL);
	/* offset o has timestamp T0 + 10 * o */
	for (int b = 0; b < 30; b++) {
		struct tu_record r[4];
		for (int k = 0; k < 4; k++)
			r[k] = (struct tu_record){NULL, "value",
						  T0 + 10 * (4 * b + k)};
		tl_append_recs(log, r, 4);
	}
	assert_true(log->nsegs > 2);
	int64_t off, ts;
	for (int64_t o = 0; o < 120; o++) {
		int64_t t = T0 + 10 * o;
		assert_int_equal(log_offset_for_timestamp(log, t, &off, &ts),
				 KB_OK);
		assert_int_equal(off, o);
		assert_int_equal(ts, T0 + 10 * o);
		assert_int_equal(log_offset_for_timestamp(log, t - 5, &off, &ts),
				 KB_OK);
		assert_int_equal(off, o);
	}
	assert_int_equal(log_offset_for_timestamp(log, 0, &off, &ts), KB_OK);
	assert_int_equal(off, 0);
	assert_int_equal(log_offset_for_timestamp(log, T0 + 1200, &off, &ts),
			 KB_ERR_NOTFOUND);
	log_close(log);
	tu_rmrf(dir);
}

static void test_log_offset_for_timestamp_skips_below_log_start(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	tl_append(log, 5, T0, 10, -1); /* offsets 0..4, T0..T0+4 */
	assert_int_equal(log_advance_start_offset(log, 3), KB_OK);
	int64_t off, ts;
	assert_int_equal(log_offset_for_timestamp(log, T0, &off, &ts), KB_OK);
	assert_int_equal(off, 3);
	assert_int_equal(ts, T0 + 3);
	log_close(log);
	tu_rmrf(dir);
}

/* SIMPLIFICATION: inside a compressed batch the base offset is returned. */
static void test_log_offset_for_timestamp_compressed_batch(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	tl_append(log, 2, T0, 10, -1);
	size_t len = tu_batch_simple(tl_buf, sizeof tl_buf, 4, T0 + 100, 10);
	kb_put_be16(tl_buf + 21, 1); /* gzip: the broker does not look inside */
	kb_put_be32(tl_buf + 17, tu_crc32c(tl_buf + 21, len - 21));
	assert_int_equal(log_append(log, TU_APPEND(tl_buf, len, -1, T0), NULL),
			 KB_OK);
	int64_t off, ts;
	assert_int_equal(log_offset_for_timestamp(log, T0 + 102, &off, &ts), KB_OK);
	assert_int_equal(off, 2);
	assert_int_equal(ts, T0 + 103);
	log_close(log);
	tu_rmrf(dir);
}

/* Records are walked inside the batch; damaged bytes (with a CRC that
 * matches them) are KB_ERR_CORRUPT, never a read past the batch. */
static void test_log_offset_for_timestamp_damaged_records_are_corrupt(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	size_t len = tu_batch_simple(tl_buf, sizeof tl_buf, 1, T0, 10);
	tl_buf[61] = 0x7e; /* first record's length: 63, past the batch end */
	kb_put_be32(tl_buf + 17, tu_crc32c(tl_buf + 21, len - 21));
	assert_int_equal(log_append(log, TU_APPEND(tl_buf, len, -1, T0), NULL),
			 KB_OK);
	int64_t off, ts;
	assert_int_equal(log_offset_for_timestamp(log, T0, &off, &ts),
			 KB_ERR_CORRUPT);
	log_close(log);
	tu_rmrf(dir);
}

static void test_log_max_timestamp_exact_record(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	int64_t off, ts;
	assert_int_equal(log_max_timestamp(log, &off, &ts), KB_ERR_NOTFOUND);
	tl_append(log, 3, T0, 10, -1);
	struct tu_record r[3] = {{NULL, "a", T0 + 5}, {NULL, "b", T0 + 50},
				 {NULL, "c", T0 + 7}};
	tl_append_recs(log, r, 3); /* offsets 3..5, the max at 4 */
	tl_append(log, 2, T0 + 8, 10, -1);
	assert_int_equal(log_max_timestamp(log, &off, &ts), KB_OK);
	assert_int_equal(off, 4);
	assert_int_equal(ts, T0 + 50);
	log_close(log);
	tu_rmrf(dir);
}

/* ---- Truncation, deletion, retention ---- */

/* log_drop_empty_segment refuses what it must never delete: the first
 * segment, the active one, and any segment that still holds a batch. */
static void test_log_drop_empty_segment_refuses_live_segments(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	for (int i = 0; i < 30; i++)
		tl_append(log, 2, T0 + i, 100, -1);
	size_t n = log->nsegs;
	assert_true(n > 3);
	assert_int_equal(log_drop_empty_segment(log, 0), KB_ERR_INVAL);
	assert_int_equal(log_drop_empty_segment(log, 1), KB_ERR_INVAL);
	assert_int_equal(log_drop_empty_segment(log, n - 1), KB_ERR_INVAL);
	assert_int_equal(log_drop_empty_segment(log, n), KB_ERR_INVAL);
	assert_int_equal(log->nsegs, n);
	log_close(log);
	tu_rmrf(dir);
}

static void test_log_truncate_to_middle_of_segment(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	c.segment_bytes = 1 << 20;
	struct log *log = tl_open(dir, &c, NULL);
	struct log_append_info cut = {0};
	for (int i = 0; i < 10; i++) {
		struct log_append_info info = tl_append(log, 2, T0 + i, 50, -1);
		if (i == 6) /* offsets 12 and 13 */
			cut = info;
	}
	assert_int_equal(log_truncate_to(log, 12), KB_OK);
	assert_int_equal(log_end_offset(log), 12);
	assert_int_equal(log->segs[0].seg->size, cut.position);
	char *p = tl_seg_path(dir, 0, ".log");
	assert_int_equal(tu_file_size(p), (long)cut.position);
	free(p);
	assert_int_equal(tl_append(log, 1, T0, 10, -1).base_offset, 12);
	/* the batch at 12 is the new one */
	struct log_read_result r;
	assert_int_equal(log_read(log, TU_READ(12, 1 << 20, INT64_MAX, true), &r),
			 KB_OK);
	assert_int_equal(r.next_offset, 13);
	assert_int_equal(log_truncate_to(log, 100), KB_OK); /* beyond: no-op */
	assert_int_equal(log_end_offset(log), 13);
	log_close(log);
	tu_rmrf(dir);
}

/* Kafka's LogSegment.truncateTo removes a batch containing the target
 * whole: the log ends at that batch's base offset. */
static void test_log_truncate_to_mid_batch_removes_whole_batch(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	tl_append(log, 5, T0, 10, -1); /* 0..4 */
	tl_append(log, 5, T0, 10, -1); /* 5..9 */
	assert_int_equal(log_truncate_to(log, 7), KB_OK);
	assert_int_equal(log_end_offset(log), 5);
	assert_int_equal(tl_append(log, 1, T0, 10, -1).base_offset, 5);
	log_close(log);
	tu_rmrf(dir);
}

static void test_log_truncate_to_across_segments(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	for (int i = 0; i < 40; i++)
		tl_append(log, 2, T0 + i, 60, -1);
	assert_true(log->nsegs >= 4);
	int64_t base1 = log->segs[1].seg->base_offset;
	int64_t base2 = log->segs[2].seg->base_offset;
	int64_t target = base1 + 2;
	assert_true(target < base2);
	assert_int_equal(log_truncate_to(log, target), KB_OK);
	assert_int_equal(log->nsegs, 2);
	assert_int_equal(log_end_offset(log), target);
	/* later files are gone, indexes included */
	char names[512], expect[512];
	tl_list(dir, ".log", names, sizeof names);
	snprintf(expect, sizeof expect, "%020d.log %020" PRId64 ".log ", 0, base1);
	assert_string_equal(names, expect);
	tl_list(dir, "index", names, sizeof names);
	snprintf(expect, sizeof expect, "%020d.index %020d.timeindex %020" PRId64
		 ".index %020" PRId64 ".timeindex ", 0, 0, base1, base1);
	assert_string_equal(names, expect);
	assert_int_equal(tl_append(log, 1, T0, 10, -1).base_offset, target);
	/* the truncated segment is the active one again and rolls normally */
	for (int i = 0; i < 20; i++)
		tl_append(log, 2, T0 + i, 60, -1);
	assert_true(log->nsegs > 2);
	log_close(log);
	tu_rmrf(dir);
}

static void test_log_truncate_to_below_first_segment_resets(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	for (int i = 0; i < 30; i++)
		tl_append(log, 2, T0 + i, 60, 1);
	assert_int_equal(log_truncate_to(log, 0), KB_OK);
	assert_int_equal(log->nsegs, 1);
	assert_int_equal(log_end_offset(log), 0);
	assert_int_equal(log->segs[0].seg->size, 0);
	assert_int_equal(log->nepochs, 0);
	char names[256];
	tl_list(dir, ".log", names, sizeof names);
	assert_string_equal(names, "00000000000000000000.log ");
	log_close(log);
	tu_rmrf(dir);
}

/* INVARIANT 6: whole segments from the left only. */
static void test_log_advance_start_offset_deletes_whole_segments_only(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	for (int i = 0; i < 40; i++)
		tl_append(log, 2, T0 + i, 60, -1);
	int64_t base1 = log->segs[1].seg->base_offset;
	int64_t base2 = log->segs[2].seg->base_offset;
	size_t n = log->nsegs;
	assert_int_equal(log_advance_start_offset(log, base1 + 1), KB_OK);
	assert_int_equal(log->log_start_offset, base1 + 1);
	assert_int_equal(log->nsegs, n - 1); /* segment 0 only */
	assert_false(tl_exists(dir, 0, ".log"));
	assert_true(tl_exists(dir, base1, ".log"));
	struct log_read_result r;
	assert_int_equal(log_read(log, TU_READ(base1, 100, INT64_MAX, true), &r),
			 KB_ERR_RANGE);
	assert_int_equal(log_advance_start_offset(log, base2), KB_OK);
	assert_int_equal(log->segs[0].seg->base_offset, base2);
	assert_int_equal(log_advance_start_offset(log, log_end_offset(log) + 1),
			 KB_ERR_RANGE);
	/* up to the log end: the active segment stays */
	assert_int_equal(log_advance_start_offset(log, log_end_offset(log)), KB_OK);
	assert_int_equal(log->nsegs, 1);
	assert_int_equal(log->log_start_offset, log_end_offset(log));
	log_close(log);
	tu_rmrf(dir);
}

static void test_log_apply_retention_by_bytes(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	c.retention_ms = -1;
	struct log *log = tl_open(dir, &c, NULL);
	for (int i = 0; i < 40; i++)
		tl_append(log, 2, T0 + i, 60, -1);
	size_t n = log->nsegs;
	uint64_t total = 0, s0 = log->segs[0].seg->size, s1 = log->segs[1].seg->size;
	for (size_t i = 0; i < n; i++)
		total += log->segs[i].seg->size;
	/* room for everything but the two oldest segments */
	log->cfg.retention_bytes = (int64_t)(total - s0 - s1);
	int deleted = -1;
	assert_int_equal(log_apply_retention(log, T0, &deleted), KB_OK);
	assert_int_equal(deleted, 2);
	assert_int_equal(log->nsegs, n - 2);
	assert_int_equal(log->log_start_offset, log->segs[0].seg->base_offset);
	assert_false(tl_exists(dir, 0, ".log"));
	/* cheap and idempotent when nothing is due */
	assert_int_equal(log_apply_retention(log, T0, &deleted), KB_OK);
	assert_int_equal(deleted, 0);
	/* retention.bytes 0 still keeps the active segment */
	log->cfg.retention_bytes = 0;
	assert_int_equal(log_apply_retention(log, T0, &deleted), KB_OK);
	assert_int_equal(log->nsegs, 1);
	assert_true(log->segs[0].seg->size > 0);
	log_close(log);
	tu_rmrf(dir);
}

static void test_log_apply_retention_by_ms(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	c.retention_ms = 1000;
	struct log *log = tl_open(dir, &c, NULL);
	/* batch i has max timestamp T0 + 100 * i */
	for (int i = 0; i < 40; i++)
		tl_append(log, 1, T0 + 100 * i, 200, -1);
	size_t n = log->nsegs;
	int64_t max0 = log->segs[0].seg->max_timestamp;
	int64_t max1 = log->segs[1].seg->max_timestamp;
	int deleted = -1;
	/* exactly retention.ms old is kept (Kafka: strictly older goes) */
	assert_int_equal(log_apply_retention(log, max0 + 1000, &deleted), KB_OK);
	assert_int_equal(deleted, 0);
	assert_int_equal(log_apply_retention(log, max1 + 1000, &deleted), KB_OK);
	assert_int_equal(deleted, 1);
	assert_int_equal(log->nsegs, n - 1);
	assert_int_equal(log->log_start_offset, log->segs[0].seg->base_offset);
	/* far in the future: all but the active segment */
	assert_int_equal(log_apply_retention(log, T0 + 1000000, &deleted), KB_OK);
	assert_int_equal(log->nsegs, 1);
	assert_int_equal(log_end_offset(log), 40);
	log_close(log);
	tu_rmrf(dir);
}

/* ---- Durability ---- */

static void test_log_flush_messages_one_advances_recovery_point(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	c.flush_messages = 1;
	struct log *log = tl_open(dir, &c, NULL);
	for (int i = 0; i < 5; i++) {
		tl_append(log, 3, T0, 10, -1);
		assert_true(log_flush_due(log, T0));
		assert_int_equal(log_maybe_flush(log, T0), KB_OK);
		assert_int_equal(log->recovery_point, log_end_offset(log));
		assert_false(log->segs[log->nsegs - 1].seg->dirty);
		assert_false(log_flush_due(log, T0));
	}
	log_close(log);
	tu_rmrf(dir);
}

/* Kafka's default: no fsync per append, only on roll and on close. */
static void test_log_default_flush_policy_fsyncs_on_roll(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	tl_append(log, 2, T0, 60, -1);
	assert_int_equal(log->recovery_point, 0);
	assert_true(log->segs[0].seg->dirty);
	assert_int_equal(log->unflushed_messages, 2);
	while (log->nsegs == 1)
		tl_append(log, 2, T0, 60, -1);
	assert_int_equal(log->recovery_point, log->segs[1].seg->base_offset);
	assert_false(log->segs[0].seg->dirty);
	assert_int_equal(log_flush(log), KB_OK);
	assert_int_equal(log->recovery_point, log_end_offset(log));
	log_close(log);
	tu_rmrf(dir);
}

static void test_log_maybe_flush_after_flush_ms(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	c.flush_ms = 1000;
	struct log *log = tl_open(dir, &c, NULL);
	int64_t now = log->last_flush_ms;
	tl_append(log, 2, T0, 10, -1);
	assert_int_equal(log_maybe_flush(log, now + 999), KB_OK);
	assert_int_equal(log->recovery_point, 0);
	assert_int_equal(log_maybe_flush(log, now + 1000), KB_OK);
	assert_int_equal(log->recovery_point, 2);
	assert_int_equal(log->last_flush_ms, now + 1000);
	log_close(log);
	tu_rmrf(dir);
}

/* INVARIANT 4 across a restart: the recovery point after a clean close is
 * the log end offset. */
static void test_log_clean_reopen_scans_little(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	c.segment_bytes = 4096;
	c.index_interval_bytes = 200;
	struct log *log = tl_open(dir, &c, NULL);
	for (int i = 0; i < 100; i++)
		tl_append(log, 2, T0 + i, 60, -1);
	int64_t leo = log_end_offset(log);
	size_t nsegs = log->nsegs;
	uint64_t active = log->segs[nsegs - 1].seg->size;
	int64_t max_ts = log->segs[0].seg->max_timestamp;
	assert_true(nsegs > 2 && active > 1000);
	log_close(log);
	struct log_recovery_hint h = {.clean_shutdown = true, .recovery_point = leo};
	log = tl_open(dir, &c, &h);
	assert_int_equal(log_end_offset(log), leo);
	assert_int_equal(log->nsegs, nsegs);
	assert_int_equal(log->recovery_point, leo);
	assert_true(log->recovered_bytes < active);
	assert_int_equal(log->segs[0].seg->max_timestamp, max_ts);
	assert_int_equal(tl_append(log, 1, T0, 10, -1).base_offset, leo);
	log_close(log);
	tu_rmrf(dir);
}

/* A crash leaves a torn batch at the end of the active segment: the
 * restart keeps every whole batch and appends continue right after. */
static void test_log_crash_torn_tail_keeps_whole_batches(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	struct log_append_info last = {0};
	for (int i = 0; i < 20; i++)
		last = tl_append(log, 2, T0 + i, 60, -1);
	char *copy = tl_crash_copy(dir);
	char *p = tl_seg_path(copy, last.segment_base, ".log");
	tl_truncate_file(p, (long)last.position + 30); /* half of the last batch */
	struct log_recovery_hint h = {.recovery_point = 0};
	struct log *again = tl_open(copy, &c, &h);
	assert_int_equal(log_end_offset(again), last.base_offset);
	assert_int_equal(tu_file_size(p), (long)last.position);
	assert_int_equal(tl_append(again, 1, T0, 10, -1).base_offset,
			 last.base_offset);
	struct log_read_result r;
	assert_int_equal(log_read(again, TU_READ(0, 1 << 20, INT64_MAX, true), &r),
			 KB_OK);
	assert_int_equal(r.first_offset, 0);
	log_close(again);
	log_close(log);
	free(p);
	tu_rmrf(copy);
	tu_rmrf(dir);
}

/* Only segments that may hold offsets >= the recovery point are scanned. */
static void test_log_crash_rescans_only_from_recovery_point(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	for (int i = 0; i < 40; i++)
		tl_append(log, 2, T0 + i, 60, -1);
	int64_t rp = log->recovery_point; /* the active segment's base */
	uint64_t active = log->segs[log->nsegs - 1].seg->size;
	assert_int_equal(rp, log->segs[log->nsegs - 1].seg->base_offset);
	char *copy = tl_crash_copy(dir);
	struct log_recovery_hint h = {.recovery_point = rp};
	struct log *again = tl_open(copy, &c, &h);
	assert_int_equal(again->recovered_bytes, active);
	assert_int_equal(log_end_offset(again), log_end_offset(log));
	assert_int_equal(again->recovery_point, rp);
	log_close(again);
	tu_rmrf(copy);
	/* with no recovery point everything is scanned */
	copy = tl_crash_copy(dir);
	again = tl_open(copy, &c, NULL);
	uint64_t total = 0;
	for (size_t i = 0; i < log->nsegs; i++)
		total += log->segs[i].seg->size;
	assert_int_equal(again->recovered_bytes, total);
	log_close(again);
	log_close(log);
	tu_rmrf(copy);
	tu_rmrf(dir);
}

/* Kafka's recoverLog: a segment cut by recovery ends the log; every
 * segment after it is deleted. */
static void test_log_crash_cut_segment_deletes_later_ones(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	for (int i = 0; i < 40; i++)
		tl_append(log, 2, T0 + i, 60, -1);
	int64_t base1 = log->segs[1].seg->base_offset;
	uint64_t size1 = log->segs[1].seg->size;
	log_close(log);
	char *p = tl_seg_path(dir, base1, ".log");
	size_t len = 0;
	uint8_t *data = tu_read_all(p, &len);
	data[size1 - 5] ^= 0xff; /* damage the last batch of segment 1 */
	tu_write_all(p, data, len);
	free(data);
	log = tl_open(dir, &c, NULL);
	assert_int_equal(log->nsegs, 2);
	assert_true(log_end_offset(log) < base1 + 10 && log_end_offset(log) > base1);
	assert_true(log->segs[1].seg->size < size1);
	char names[512], expect[512];
	tl_list(dir, ".log", names, sizeof names);
	snprintf(expect, sizeof expect, "%020d.log %020" PRId64 ".log ", 0, base1);
	assert_string_equal(names, expect);
	log_close(log);
	free(p);
	tu_rmrf(dir);
}

static void tl_index_rebuild_case(bool corrupt)
{
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	c.index_interval_bytes = 100;
	struct log *log = tl_open(dir, &c, NULL);
	for (int i = 0; i < 30; i++)
		tl_append(log, 2, T0 + 10 * i, 60, -1);
	int64_t base1 = log->segs[1].seg->base_offset;
	log_close(log);
	char *ip = tl_seg_path(dir, base1, ".index");
	char *tp = tl_seg_path(dir, base1, ".timeindex");
	size_t ilen = 0, tlen = 0;
	uint8_t *idx = tu_read_all(ip, &ilen), *tidx = tu_read_all(tp, &tlen);
	assert_true(ilen >= 16 && tlen >= 12);
	if (corrupt) { /* a position past the end of the log */
		uint8_t *bad = malloc(ilen);
		memcpy(bad, idx, ilen);
		kb_put_be32(bad + ilen - 4, 0x7fffffff);
		tu_write_all(ip, bad, ilen);
		free(bad);
	} else {
		unlink(ip);
		unlink(tp);
	}
	struct tu_log_capture cap;
	tu_log_capture_start(&cap);
	struct log_recovery_hint h = {.clean_shutdown = true};
	log = tl_open(dir, &c, &h);
	tu_log_capture_stop();
	assert_non_null(strstr(cap.text, "rebuilding its indexes"));
	log_close(log);
	size_t ilen2 = 0, tlen2 = 0;
	uint8_t *idx2 = tu_read_all(ip, &ilen2), *tidx2 = tu_read_all(tp, &tlen2);
	assert_int_equal(ilen2, ilen);
	assert_memory_equal(idx2, idx, ilen);
	assert_int_equal(tlen2, tlen);
	assert_memory_equal(tidx2, tidx, tlen);
	free(idx);
	free(tidx);
	free(idx2);
	free(tidx2);
	free(ip);
	free(tp);
	tu_rmrf(dir);
}

static void test_log_open_rebuilds_deleted_index_byte_identical(void **state)
{
	(void)state;
	tl_index_rebuild_case(false);
}

static void test_log_open_rebuilds_corrupt_index_byte_identical(void **state)
{
	(void)state;
	tl_index_rebuild_case(true);
}

/* The index.interval.bytes count resumes after a restart and after a
 * truncation, so the offset index appends write is the one a rebuild
 * writes (chapter 02's invariant, kept across log_open). */
static void test_log_index_interval_resumes_across_restart_and_truncation(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	c.segment_bytes = 1 << 20;
	c.index_interval_bytes = 500;
	struct log *log = tl_open(dir, &c, NULL);
	for (int i = 0; i < 7; i++)
		tl_append(log, 1, T0 + i, 130, -1);
	log_close(log);
	struct log_recovery_hint h = {.clean_shutdown = true};
	log = tl_open(dir, &c, &h);
	for (int i = 0; i < 7; i++)
		tl_append(log, 1, T0 + i, 130, -1);
	assert_int_equal(log_truncate_to(log, 11), KB_OK);
	for (int i = 0; i < 7; i++)
		tl_append(log, 1, T0 + i, 130, -1);
	log_close(log);
	char *ip = tl_seg_path(dir, 0, ".index");
	size_t len = 0, len2 = 0;
	uint8_t *written = tu_read_all(ip, &len);
	assert_true(len >= 4 * 8);
	unlink(ip);
	log = tl_open(dir, &c, &h); /* a missing index is rebuilt */
	log_close(log);
	uint8_t *rebuilt = tu_read_all(ip, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(rebuilt, written, len);
	free(written);
	free(rebuilt);
	free(ip);
	tu_rmrf(dir);
}

/* ---- log_check and log_replace_segment ---- */

/* log_check (Invariants 1-4, 7) holds after every kind of change to the
 * segment array, and each segment's seg_check_file (chapter 01) too. */
static void test_log_check_holds_after_each_change(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	log_check(log);
	for (int i = 0; i < 40; i++) { /* rolls many segments */
		tl_append(log, 3, T0 + i, 40, i / 10);
		log_check(log);
		seg_check_file(log->segs[log->nsegs - 1].seg);
	}
	assert_true(log->nsegs > 4);
	assert_int_equal(log_advance_start_offset(log,
			 log->segs[2].seg->base_offset + 1), KB_OK);
	log_check(log);
	assert_int_equal(log_truncate_to(log, log_end_offset(log) - 10), KB_OK);
	log_check(log);
	assert_int_equal(log_flush(log), KB_OK);
	for (size_t i = 0; i < log->nsegs; i++)
		seg_check_file(log->segs[i].seg);
	log_close(log);
	log = tl_open(dir, &c, NULL); /* recovery from scratch */
	log_check(log);
	log_close(log);
	tu_rmrf(dir);
}

/* The file of a sealed segment replaced on disk (here by a copy of
 * itself): log_replace_segment gives segs[i] a new struct segment and
 * indexes reading it, keeps its next offset, and refuses the active one. */
static void test_log_replace_segment_reopens_a_sealed_segment(void **state)
{
	(void)state;
	char *dir = tu_tmpdir();
	struct log_config c = tl_cfg();
	struct log *log = tl_open(dir, &c, NULL);
	for (int i = 0; i < 20; i++)
		tl_append(log, 3, T0 + i, 40, -1);
	assert_true(log->nsegs > 2);
	const struct segment *old = log->segs[1].seg;
	int64_t next = old->next_offset;
	uint64_t size = old->size;
	char *copy = tl_path(dir, "copy");
	char cmd[8192];
	snprintf(cmd, sizeof cmd, "cp '%s' '%s' && mv '%s' '%s'", old->path,
		 copy, copy, old->path);
	assert_int_equal(system(cmd), 0);
	free(copy);
	assert_int_equal(log_replace_segment(log, 1), KB_OK);
	assert_int_equal(log->segs[1].seg->next_offset, next);
	assert_int_equal(log->segs[1].seg->size, size);
	const char *why = NULL;
	assert_int_equal(idx_set_check(&log->segs[1].idx, log->segs[1].seg,
				       &why), KB_OK);
	struct log_read_result rr;
	assert_int_equal(log_read(log,
				  TU_READ(log->segs[1].seg->base_offset, 1 << 16,
					  INT64_MAX, true),
				  &rr),
			 KB_OK);
	assert_ptr_equal(rr.seg, log->segs[1].seg);
	assert_int_equal(log_replace_segment(log, log->nsegs - 1),
			 KB_ERR_INVAL);
	log_close(log);
	tu_rmrf(dir);
}

int main(void)
{
	tu_log_quiet(); /* a passing run prints no log lines */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_config_defaults_match_kafka),
		cmocka_unit_test(test_log_open_empty_dir_creates_first_segment),
		cmocka_unit_test(test_log_open_empty_dir_starts_at_hint_log_start_offset),
		cmocka_unit_test(test_log_open_rejects_bad_config),
		cmocka_unit_test(test_log_open_applies_hint_log_start_offset),
		cmocka_unit_test(test_log_open_restarts_when_leo_below_log_start),
		cmocka_unit_test(test_log_open_deletes_orphans_and_strays),
		cmocka_unit_test(test_log_delete_removes_directory),
		cmocka_unit_test(test_log_append_assigns_consecutive_offsets),
		cmocka_unit_test(test_log_append_rolls_at_segment_bytes),
		cmocka_unit_test(test_log_append_rolls_when_index_full),
		cmocka_unit_test(test_log_append_rolls_when_offset_exceeds_int32),
		cmocka_unit_test(test_log_append_rejects_batch_larger_than_segment),
		cmocka_unit_test(test_log_invariant_rolled_segments_are_sealed),
		cmocka_unit_test(test_log_read_returns_whole_batch_containing_offset),
		cmocka_unit_test(test_log_read_respects_max_bytes_and_min_one),
		cmocka_unit_test(test_log_read_never_past_max_offset),
		cmocka_unit_test(test_log_read_spans_segment_boundaries),
		cmocka_unit_test(test_log_read_out_of_range),
		cmocka_unit_test(test_log_read_every_offset_large_batches_all_indexed),
		cmocka_unit_test(test_log_read_every_offset_tiny_batches),
		cmocka_unit_test(test_log_read_every_offset_mixed_batches),
		cmocka_unit_test(test_log_read_offset_in_gap_starts_at_next_batch),
		cmocka_unit_test(test_log_offset_for_timestamp_exact_per_record),
		cmocka_unit_test(test_log_offset_for_timestamp_skips_below_log_start),
		cmocka_unit_test(test_log_offset_for_timestamp_compressed_batch),
		cmocka_unit_test(test_log_offset_for_timestamp_damaged_records_are_corrupt),
		cmocka_unit_test(test_log_max_timestamp_exact_record),
		cmocka_unit_test(test_log_drop_empty_segment_refuses_live_segments),
		cmocka_unit_test(test_log_truncate_to_middle_of_segment),
		cmocka_unit_test(test_log_truncate_to_mid_batch_removes_whole_batch),
		cmocka_unit_test(test_log_truncate_to_across_segments),
		cmocka_unit_test(test_log_truncate_to_below_first_segment_resets),
		cmocka_unit_test(test_log_advance_start_offset_deletes_whole_segments_only),
		cmocka_unit_test(test_log_apply_retention_by_bytes),
		cmocka_unit_test(test_log_apply_retention_by_ms),
		cmocka_unit_test(test_log_flush_messages_one_advances_recovery_point),
		cmocka_unit_test(test_log_default_flush_policy_fsyncs_on_roll),
		cmocka_unit_test(test_log_maybe_flush_after_flush_ms),
		cmocka_unit_test(test_log_clean_reopen_scans_little),
		cmocka_unit_test(test_log_crash_torn_tail_keeps_whole_batches),
		cmocka_unit_test(test_log_crash_rescans_only_from_recovery_point),
		cmocka_unit_test(test_log_crash_cut_segment_deletes_later_ones),
		cmocka_unit_test(test_log_open_rebuilds_deleted_index_byte_identical),
		cmocka_unit_test(test_log_open_rebuilds_corrupt_index_byte_identical),
		cmocka_unit_test(test_log_index_interval_resumes_across_restart_and_truncation),
		cmocka_unit_test(test_log_check_holds_after_each_change),
		cmocka_unit_test(test_log_replace_segment_reopens_a_sealed_segment),
	};
	kb_log_set_level(KB_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
